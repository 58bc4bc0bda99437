//! Controller configuration: a TOML file, then the settings an admin saved
//! in the browser (the names in [`BROWSER_KEYS`], stored by their `MAST_*`
//! name and read at start: [`Config::with_saved`]), then `MAST_*`
//! environment overrides, validated as a whole before any port is bound.
//!
//! The configuration is a leaf: plain values in one section per domain,
//! knowing nothing of the domains. [`crate::context::Settings`] turns the
//! sections into the domains' own settings (SLA policy, dunning steps, the
//! operator on invoices, ...) once, also before any port is bound, with
//! errors naming the key; each domain then sees only its own settings.
//!
//! Every option, its default and its override (see also `deploy/controller.toml`):
//!
//! | key | env | default | meaning |
//! |---|---|---|---|
//! | `data_dir` | `MAST_DATA_DIR` | `./mast-data` | CA, SQLite file, runtime state (created 0700) |
//! | `database_url` | `MAST_DATABASE_URL` | `sqlite://<data_dir>/mast.db` | `sqlite://PATH` or `postgres://...` |
//! | `timezone` | `MAST_TIMEZONE` | `UTC` | the operator's IANA zone: business hours, maintenance windows, billing dates, times in notices |
//! | `log` | `MAST_LOG` | `info` | tracing filter, e.g. `info,mast_app=debug` |
//! | `[http] listen` | `MAST_HTTP_LISTEN` | `127.0.0.1:8080` | web UI and JSON API |
//! | `[http] public_url` | `MAST_PUBLIC_URL` | `http://<listen>` | where customers and staff reach the web UI (links in emails) |
//! | `[http] cookie_secure` | `MAST_COOKIE_SECURE` | `false` | mark cookies `Secure` (set behind a TLS proxy; `X-Forwarded-Proto: https` from a trusted proxy does it per request) |
//! | `[http] session_idle_secs` | `MAST_SESSION_IDLE_SECS` | `3600` | a staff session unused this long ends |
//! | `[http] session_absolute_secs` | `MAST_SESSION_ABSOLUTE_SECS` | `43200` | a staff session ends this long after login |
//! | `[http] max_connections` | `MAST_HTTP_MAX_CONNECTIONS` | `512` | open HTTP connections at most (keep it well under the open-file limit, `LimitNOFILE`); more are closed at once |
//! | `[http] max_connections_per_ip` | `MAST_HTTP_MAX_CONNECTIONS_PER_IP` | `64` | open connections from one address at most (trusted proxies are not counted) |
//! | `[http] header_timeout_secs` | `MAST_HTTP_HEADER_TIMEOUT_SECS` | `10` | a client must send a request's headers within this time |
//! | `[http] request_timeout_secs` | `MAST_HTTP_REQUEST_TIMEOUT_SECS` | `60` | a request (body included) and its answer must finish within this time (408) |
//! | `[http] trusted_proxies` | `MAST_TRUSTED_PROXIES` (comma-separated) | none | reverse proxies (IP addresses) whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed; nobody else's are |
//! | `[agents] listen` | `MAST_QUIC_LISTEN` | `0.0.0.0:4433` | agent link (QUIC, mutual TLS) |
//! | `[agents] enroll_token_ttl_secs` | `MAST_ENROLL_TOKEN_TTL_SECS` | `86400` | lifetime of a one-time enrollment token |
//! | `[agents] cert_validity_secs` | `MAST_AGENT_CERT_VALIDITY_SECS` | `157680000` (5 years) | lifetime of an agent certificate |
//! | `[agents] offline_after_secs` | `MAST_AGENT_OFFLINE_AFTER_SECS` | `90` | an agent silent this long shows as offline |
//! | `[agents] release_rate_kbps_per_agent` | `MAST_RELEASE_RATE_KBPS_PER_AGENT` | `2048` | a release download to one agent is paced to this many kilobytes per second |
//! | `[agents] release_rate_kbps_total` | `MAST_RELEASE_RATE_KBPS_TOTAL` | `16384` | all release downloads together are paced to this many kilobytes per second |
//! | `[agents] rollout_max_failure_pct` | `MAST_ROLLOUT_MAX_FAILURE_PCT` | `10` | a rollout halts when more than this share of the agents that finished failed |
//! | `[monitoring] default_probe_interval_secs` | `MAST_DEFAULT_PROBE_INTERVAL_SECS` | `30` | probe interval of a new site |
//! | `[monitoring] default_probe_timeout_ms` | `MAST_DEFAULT_PROBE_TIMEOUT_MS` | `1000` | ping timeout of a new site |
//! | `[monitoring] raw_retention_days` | `MAST_RAW_RETENTION_DAYS` | `30` | raw samples (ping, SNMP, signal, link health, interface rates) are kept this long (on PostgreSQL whole daily partitions are dropped: up to a day longer) |
//! | `[monitoring] rollup_5m_retention_days` | `MAST_ROLLUP_5M_RETENTION_DAYS` | `180` | 5-minute rollups are kept this long |
//! | `[monitoring] rollup_1h_retention_days` | `MAST_ROLLUP_1H_RETENTION_DAYS` | `1825` | hourly rollups are kept this long |
//! | `[monitoring] rollup_interval_secs` | `MAST_ROLLUP_INTERVAL_SECS` | `60` | how often rollups and retention run |
//! | `[monitoring] outage_hold_down_secs` | `MAST_OUTAGE_HOLD_DOWN_SECS` | `60` | a device is down after failing this long (and 3 probes in a row) |
//! | `[monitoring] outage_recovery_secs` | `MAST_OUTAGE_RECOVERY_SECS` | `60` | ... and up again after answering this long (and 2 probes) |
//! | `[monitoring] outage_agent_silence_secs` | `MAST_OUTAGE_AGENT_SILENCE_SECS` | `90` | a site whose agent sent no data this long is unreachable (one site incident) |
//! | `[monitoring] outage_controller_window_secs` | `MAST_OUTAGE_CONTROLLER_WINDOW_SECS` | `120` | ... after waiting this much longer, so that many agents going silent together shows as the controller's own problem instead |
//! | `[monitoring] map_tile_url` | `MAST_MAP_TILE_URL` | `https://tile.openstreetmap.org/{z}/{x}/{y}.png` | map tiles (`http(s)://host[:port]/...{z}...{x}...{y}...`, `{s}` allowed at the start of the host); the web pages' CSP allows images from its origin; empty: no tiles (markers only) |
//! | `[monitoring] map_attribution` | `MAST_MAP_ATTRIBUTION` | `© OpenStreetMap contributors` | credit shown on the map for the tiles (plain text) |
//! | `[support] hours` | `MAST_SUPPORT_HOURS` | `mon-fri 08:00-18:00` | business hours the SLA clocks count (`24/7` for always) |
//! | `[support] holidays` | `MAST_SUPPORT_HOLIDAYS` (comma-separated) | none | dates (`YYYY-MM-DD`) the SLA clocks and the dunning business days skip |
//! | `[support] sla_targets` | `MAST_SLA_TARGETS` | `urgent=1h/4h, high=2h/8h, normal=4h/24h, low=8h/3d` | first-response / resolution targets per priority, in business time |
//! | `[support] sla_at_risk` | `MAST_SLA_AT_RISK` | `0.25` | a running clock with less than this share of its target left is at risk and escalates |
//! | `[support] sla_escalation_group` | `MAST_SLA_ESCALATION_GROUP` | none | staff group an at-risk or breached ticket is reassigned to (its members are emailed) |
//! | `[support] sla_check_secs` | `MAST_SLA_CHECK_SECS` | `60` | how often SLA clocks are checked |
//! | `[mail] from` | `MAST_MAIL_FROM` | `Mast Support <support@localhost>` | sender of every mail |
//! | `[mail] notify_interval_secs` | `MAST_NOTIFY_INTERVAL_SECS` | `5` | how often queued notifications are delivered |
//! | `[mail.smtp] host` | `MAST_SMTP_HOST` | none (no outgoing mail) | SMTP server for notices, replies and invoices |
//! | `[mail.smtp] port` | `MAST_SMTP_PORT` | `587` | |
//! | `[mail.smtp] security` | `MAST_SMTP_SECURITY` | `starttls` | `none`, `starttls` or `tls` |
//! | `[mail.smtp] username` | `MAST_SMTP_USERNAME` | none | |
//! | `[mail.smtp] password` | `MAST_SMTP_PASSWORD` | none | never logged |
//! | `[mail.imap] host` | `MAST_IMAP_HOST` | none (no email intake) | IMAP mailbox polled for support mail |
//! | `[mail.imap] port` | `MAST_IMAP_PORT` | `993` | |
//! | `[mail.imap] security` | `MAST_IMAP_SECURITY` | `tls` | `none` or `tls` |
//! | `[mail.imap] username` | `MAST_IMAP_USERNAME` | none | |
//! | `[mail.imap] password` | `MAST_IMAP_PASSWORD` | none | never logged |
//! | `[mail.imap] mailbox` | `MAST_IMAP_MAILBOX` | `INBOX` | folder read; processed mail moves to `Processed` |
//! | `[mail.imap] poll_secs` | `MAST_IMAP_POLL_SECS` | `60` | how often the mailbox is read |
//! | `[sms] webhook_url` | `MAST_SMS_WEBHOOK_URL` | none | SMS gateway: customer notices are POSTed there as JSON |
//! | `[sms] webhook_secret` | `MAST_SMS_WEBHOOK_SECRET` | none | HMAC-SHA256 key; the body's signature goes in `X-Mast-Signature` |
//! | `[alerts] on_call_group` | `MAST_ALERT_ON_CALL_GROUP` | none | staff group emailed when an incident opens, grows or recovers |
//! | `[alerts] escalation_group` | `MAST_ALERT_ESCALATION_GROUP` | none | staff group emailed when an incident stays unacknowledged |
//! | `[alerts] escalate_after_mins` | `MAST_ALERT_ESCALATE_AFTER_MINS` | `15` | ... after this many minutes |
//! | `[alerts] rules_every_secs` | `MAST_ALERT_RULES_EVERY_SECS` | `30` | how often the alert rules (signal, loss, backlog: set on the Alerts page) are judged |
//! | `[alerts] webhook_url` | `MAST_ALERT_WEBHOOK_URL` | none | staff alerts POSTed as JSON (its `text` suits chat tools' incoming webhooks) |
//! | `[alerts] webhook_secret` | `MAST_ALERT_WEBHOOK_SECRET` | none | HMAC-SHA256 key; the signature goes in `X-Mast-Signature` |
//! | `[operator] name` | `MAST_OPERATOR_NAME` | `Mast WISP` | the operator's name on invoices and mail |
//! | `[operator] address` | `MAST_OPERATOR_ADDRESS` (lines separated by `;`) | none | address lines on invoices |
//! | `[operator] email` | `MAST_OPERATOR_EMAIL` | none | contact email on invoices |
//! | `[operator] phone` | `MAST_OPERATOR_PHONE` | none | contact phone on invoices |
//! | `[operator] tax_id` | `MAST_OPERATOR_TAX_ID` | none | tax/VAT id on invoices |
//! | `[operator] payment_instructions` | `MAST_PAYMENT_INSTRUCTIONS` (`;`-separated) | none | how to pay by bank transfer (printed on invoices) |
//! | `[billing] auto_run` | `MAST_BILLING_AUTO_RUN` | `true` | run invoices, autopay and dunning on schedule (`billing run` works either way) |
//! | `[billing] check_secs` | `MAST_BILLING_CHECK_SECS` | `3600` | how often the schedule looks (each step is idempotent) |
//! | `[billing] dunning_steps` | `MAST_DUNNING_STEPS` | `reminder@3, fee@10:5.00, suspend@20` | business days after the due date: reminder email, late fee (amount or `N%`), suspension |
//! | `[billing] reconnection_fee` | `MAST_RECONNECTION_FEE` | none | charged when a suspended customer pays and is reactivated |
//! | `[billing] max_payment` | `MAST_MAX_PAYMENT` | `1000000` | largest manual or imported payment, in major units of its currency (a typo cannot book a fortune) |
//! | `[billing] max_charge` | `MAST_MAX_CHARGE` | `1000000` | largest one-time charge or fixed discount, in major units |
//! | `[stripe] secret_key` | `MAST_STRIPE_SECRET_KEY` | none (no card/ACH autopay) | Stripe API key (`sk_...`/`rk_...`); never logged |
//! | `[stripe] api_base` | `MAST_STRIPE_API_BASE` | `https://api.stripe.com` | Stripe API base URL (a local Stripe-compatible server in tests) |
//! | `[stripe] webhook_secret` | `MAST_STRIPE_WEBHOOK_SECRET` | none | signing secret of Stripe webhooks to `/api/v1/billing/stripe/webhook` |
//! | `[stock] reconcile_secs` | `MAST_STOCK_RECONCILE_SECS` | `300` | how often the inventory is compared with the MACs the agents see (and units a technician put on the air are installed) |
//! | `[stock] stale_days` | `MAST_STOCK_STALE_DAYS` | `7` | a unit installed at a customer and not seen this long is listed as silent (lost, stolen or churned) |
//! | `[stock] summary_hour` | `MAST_STOCK_SUMMARY_HOUR` | `7` | local hour (0-23) the daily reconciliation summary is emailed to the admins (when there is something to tell) |
//! | `[dispatch] road_factor` | `MAST_DISPATCH_ROAD_FACTOR` | `1.3` | road length over straight-line length, for drive estimates without a road service (1 to 3) |
//! | `[dispatch] speed_kmh` | `MAST_DISPATCH_SPEED_KMH` | `50` | average driving speed for the estimates (5 to 150) |
//! | `[dispatch] osrm_url` | `MAST_DISPATCH_OSRM_URL` | none (estimates) | an OSRM-compatible road service (`http(s)://host:port`, its `/table/v1/driving` is asked for drive times and distances); estimates are used when it fails |
//! | `[dispatch] plan_iterations` | `MAST_DISPATCH_PLAN_ITERATIONS` | `30000` | search rounds of "plan the day" (about a second for 500 jobs; the same day plans the same way) |
//! | `[cluster] lease_secs` | `MAST_CLUSTER_LEASE_SECS` | `30` | several controllers on one PostgreSQL: how long a controller's hold on a worker that runs once (outbox, correlator, billing, rollups, ...) lasts without renewal; renewed every third of it, so a dead controller's workers move within about `lease_secs` plus a third (5 to 600) |
//! | `[dispatch] notify_customers` | `MAST_DISPATCH_NOTIFY_CUSTOMERS` | `true` | appointment confirmations, "technician on the way" and "done" notices to customers (email and SMS webhook; a customer's opt-out is respected) |

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use mast_text_core::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, problem: problem.into() }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub timezone: String,
    pub log: String,
    pub http: Http,
    pub agents: Agents,
    pub monitoring: Monitoring,
    pub support: Support,
    pub mail: Mail,
    pub sms: Sms,
    pub alerts: Alerts,
    pub operator: Operator,
    pub billing: Billing,
    pub stripe: Stripe,
    pub stock: Stock,
    pub dispatch: Dispatch,
    pub cluster: Cluster,
    /// The file this was read from (to layer saved settings on it again).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// What an admin may change on the settings page, by `MAST_*` name: the
/// company, time zone, mail, the SMS webhook and the staff alert routing.
/// Saved values override the config file; an environment variable of the
/// same name wins over them (the page shows those as fixed).
pub const BROWSER_KEYS: &[&str] = &[
    "MAST_OPERATOR_NAME",
    "MAST_OPERATOR_ADDRESS",
    "MAST_OPERATOR_EMAIL",
    "MAST_OPERATOR_PHONE",
    "MAST_OPERATOR_TAX_ID",
    "MAST_TIMEZONE",
    "MAST_MAIL_FROM",
    "MAST_SMTP_HOST",
    "MAST_SMTP_PORT",
    "MAST_SMTP_SECURITY",
    "MAST_SMTP_USERNAME",
    "MAST_SMTP_PASSWORD",
    "MAST_IMAP_HOST",
    "MAST_IMAP_PORT",
    "MAST_IMAP_SECURITY",
    "MAST_IMAP_USERNAME",
    "MAST_IMAP_PASSWORD",
    "MAST_IMAP_MAILBOX",
    "MAST_SMS_WEBHOOK_URL",
    "MAST_SMS_WEBHOOK_SECRET",
    "MAST_ALERT_ON_CALL_GROUP",
    "MAST_ALERT_ESCALATION_GROUP",
    "MAST_ALERT_ESCALATE_AFTER_MINS",
    "MAST_ALERT_WEBHOOK_URL",
    "MAST_ALERT_WEBHOOK_SECRET",
];

/// Of [`BROWSER_KEYS`], those whose values are secrets (write-only fields).
pub const BROWSER_SECRETS: &[&str] =
    &["MAST_SMTP_PASSWORD", "MAST_IMAP_PASSWORD", "MAST_SMS_WEBHOOK_SECRET", "MAST_ALERT_WEBHOOK_SECRET"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub cookie_secure: bool,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub header_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Agents {
    pub listen: SocketAddr,
    pub enroll_token_ttl_secs: u64,
    pub cert_validity_secs: u64,
    pub offline_after_secs: u64,
    pub release_rate_kbps_per_agent: u64,
    pub release_rate_kbps_total: u64,
    pub rollout_max_failure_pct: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    pub default_probe_interval_secs: u64,
    pub default_probe_timeout_ms: u64,
    pub raw_retention_days: u64,
    pub rollup_5m_retention_days: u64,
    pub rollup_1h_retention_days: u64,
    pub rollup_interval_secs: u64,
    pub outage_hold_down_secs: u64,
    pub outage_recovery_secs: u64,
    pub outage_agent_silence_secs: u64,
    pub outage_controller_window_secs: u64,
    pub map_tile_url: String,
    pub map_attribution: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Support {
    pub hours: String,
    pub holidays: Vec<String>,
    pub sla_targets: String,
    pub sla_at_risk: f64,
    pub sla_escalation_group: Option<String>,
    pub sla_check_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mail {
    pub from: String,
    pub notify_interval_secs: u64,
    pub smtp: Smtp,
    pub imap: Imap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    pub host: Option<String>,
    pub port: u16,
    pub security: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imap {
    pub host: Option<String>,
    pub port: u16,
    pub security: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub mailbox: String,
    pub poll_secs: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sms {
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    pub on_call_group: Option<String>,
    pub escalation_group: Option<String>,
    pub escalate_after_mins: u64,
    pub rules_every_secs: u64,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<Secret>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            on_call_group: None,
            escalation_group: None,
            escalate_after_mins: 15,
            rules_every_secs: 30,
            webhook_url: None,
            webhook_secret: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Operator {
    pub name: String,
    pub address: Vec<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    pub payment_instructions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Billing {
    pub auto_run: bool,
    pub check_secs: u64,
    pub dunning_steps: String,
    pub reconnection_fee: Option<String>,
    pub max_payment: i64,
    pub max_charge: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stock {
    pub reconcile_secs: u64,
    pub stale_days: u64,
    pub summary_hour: u64,
}

impl Default for Stock {
    fn default() -> Self {
        Stock { reconcile_secs: 300, stale_days: 7, summary_hour: 7 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dispatch {
    pub road_factor: f64,
    pub speed_kmh: f64,
    pub osrm_url: Option<String>,
    pub plan_iterations: u64,
    pub notify_customers: bool,
}

impl Default for Dispatch {
    fn default() -> Self {
        Dispatch { road_factor: 1.3, speed_kmh: 50.0, osrm_url: None, plan_iterations: 30_000, notify_customers: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    pub lease_secs: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster { lease_secs: 30 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stripe {
    pub secret_key: Option<Secret>,
    pub api_base: Option<String>,
    pub webhook_secret: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./mast-data"),
            database_url: None,
            timezone: "UTC".into(),
            log: "info".into(),
            http: Http::default(),
            agents: Agents::default(),
            monitoring: Monitoring::default(),
            support: Support::default(),
            mail: Mail::default(),
            sms: Sms::default(),
            alerts: Alerts::default(),
            operator: Operator::default(),
            billing: Billing::default(),
            stripe: Stripe::default(),
            stock: Stock::default(),
            dispatch: Dispatch::default(),
            cluster: Cluster::default(),
            source: None,
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            cookie_secure: false,
            session_idle_secs: 3_600,
            session_absolute_secs: 43_200,
            max_connections: 512,
            max_connections_per_ip: 64,
            header_timeout_secs: 10,
            request_timeout_secs: 60,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for Agents {
    fn default() -> Self {
        Agents {
            listen: SocketAddr::from(([0, 0, 0, 0], 4433)),
            enroll_token_ttl_secs: 86_400,
            cert_validity_secs: 5 * 365 * 86_400,
            offline_after_secs: 90,
            release_rate_kbps_per_agent: 2048,
            release_rate_kbps_total: 16_384,
            rollout_max_failure_pct: 10,
        }
    }
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            default_probe_interval_secs: 30,
            default_probe_timeout_ms: 1_000,
            raw_retention_days: 30,
            rollup_5m_retention_days: 180,
            rollup_1h_retention_days: 1825,
            rollup_interval_secs: 60,
            outage_hold_down_secs: 60,
            outage_recovery_secs: 60,
            outage_agent_silence_secs: 90,
            outage_controller_window_secs: 120,
            map_tile_url: DEFAULT_MAP_TILE_URL.into(),
            map_attribution: "© OpenStreetMap contributors".into(),
        }
    }
}

/// OpenStreetMap's standard tiles (mind their tile usage policy; a busy
/// operator runs or buys a tile server and sets `map_tile_url`).
pub const DEFAULT_MAP_TILE_URL: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

impl Default for Support {
    fn default() -> Self {
        Support {
            hours: "mon-fri 08:00-18:00".into(),
            holidays: Vec::new(),
            sla_targets: "urgent=1h/4h, high=2h/8h, normal=4h/24h, low=8h/3d".into(),
            sla_at_risk: 0.25,
            sla_escalation_group: None,
            sla_check_secs: 60,
        }
    }
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            from: "Mast Support <support@localhost>".into(),
            notify_interval_secs: 5,
            smtp: Smtp::default(),
            imap: Imap::default(),
        }
    }
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp { host: None, port: 587, security: "starttls".into(), username: None, password: None }
    }
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            host: None,
            port: 993,
            security: "tls".into(),
            username: None,
            password: None,
            mailbox: "INBOX".into(),
            poll_secs: 60,
        }
    }
}

impl Default for Operator {
    fn default() -> Self {
        Operator {
            name: "Mast WISP".into(),
            address: Vec::new(),
            email: None,
            phone: None,
            tax_id: None,
            payment_instructions: Vec::new(),
        }
    }
}

impl Default for Billing {
    fn default() -> Self {
        Billing {
            auto_run: true,
            check_secs: 3_600,
            dunning_steps: "reminder@3, fee@10:5.00, suspend@20".into(),
            reconnection_fee: None,
            max_payment: 1_000_000,
            max_charge: 1_000_000,
        }
    }
}

/// Reads `MAST_*` overrides into the fields they name; a value that does
/// not parse is an error naming the variable.
struct Env<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn parse<T: std::str::FromStr>(&self, key: &'static str, field: &mut T) -> Result<(), ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        if let Some(v) = (self.0)(key) {
            *field = v.parse().map_err(|e: T::Err| invalid(key, format!("{v:?}: {e}")))?;
        }
        Ok(())
    }
    fn string(&self, key: &str, field: &mut String) {
        if let Some(v) = (self.0)(key) {
            *field = v;
        }
    }
    /// An empty value unsets the option.
    fn opt(&self, key: &str, field: &mut Option<String>) {
        if let Some(v) = (self.0)(key) {
            *field = Some(v).filter(|v| !v.is_empty());
        }
    }
    fn secret(&self, key: &str, field: &mut Option<Secret>) {
        if let Some(v) = (self.0)(key) {
            *field = Some(Secret::new(v)).filter(|s| !s.is_empty());
        }
    }
    fn list(&self, key: &str, sep: char, field: &mut Vec<String>) {
        if let Some(v) = (self.0)(key) {
            *field = v.split(sep).map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        }
    }
}

impl Config {
    /// Reads `path` (if given), applies `MAST_*` overrides from `env`, validates.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.into(), source })?;
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                    path: p.into(),
                    message: e.to_string().trim_end().replace('\n', " "),
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(&Env(env))?;
        cfg.validate()?;
        cfg.source = path.map(Path::to_path_buf);
        Ok(cfg)
    }

    /// The value of a [`BROWSER_KEYS`] name as a `MAST_*` variable would
    /// give it (the address joined with `;`). Secrets: `"set"` or `""`,
    /// never the value. Other names: `None`.
    pub fn browser_value(&self, key: &str) -> Option<String> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        let set = |v: &Option<Secret>| if v.is_some() { "set".to_string() } else { String::new() };
        let (m, op, al) = (&self.mail, &self.operator, &self.alerts);
        Some(match key {
            "MAST_OPERATOR_NAME" => op.name.clone(),
            "MAST_OPERATOR_ADDRESS" => op.address.join(";"),
            "MAST_OPERATOR_EMAIL" => o(&op.email),
            "MAST_OPERATOR_PHONE" => o(&op.phone),
            "MAST_OPERATOR_TAX_ID" => o(&op.tax_id),
            "MAST_TIMEZONE" => self.timezone.clone(),
            "MAST_MAIL_FROM" => m.from.clone(),
            "MAST_SMTP_HOST" => o(&m.smtp.host),
            "MAST_SMTP_PORT" => m.smtp.port.to_string(),
            "MAST_SMTP_SECURITY" => m.smtp.security.clone(),
            "MAST_SMTP_USERNAME" => o(&m.smtp.username),
            "MAST_SMTP_PASSWORD" => set(&m.smtp.password),
            "MAST_IMAP_HOST" => o(&m.imap.host),
            "MAST_IMAP_PORT" => m.imap.port.to_string(),
            "MAST_IMAP_SECURITY" => m.imap.security.clone(),
            "MAST_IMAP_USERNAME" => o(&m.imap.username),
            "MAST_IMAP_PASSWORD" => set(&m.imap.password),
            "MAST_IMAP_MAILBOX" => m.imap.mailbox.clone(),
            "MAST_SMS_WEBHOOK_URL" => o(&self.sms.webhook_url),
            "MAST_SMS_WEBHOOK_SECRET" => set(&self.sms.webhook_secret),
            "MAST_ALERT_ON_CALL_GROUP" => o(&al.on_call_group),
            "MAST_ALERT_ESCALATION_GROUP" => o(&al.escalation_group),
            "MAST_ALERT_ESCALATE_AFTER_MINS" => al.escalate_after_mins.to_string(),
            "MAST_ALERT_WEBHOOK_URL" => o(&al.webhook_url),
            "MAST_ALERT_WEBHOOK_SECRET" => set(&al.webhook_secret),
            _ => return None,
        })
    }

    /// This configuration again with `saved` settings (by `MAST_*` name,
    /// only [`BROWSER_KEYS`]) between the file and the environment `env`.
    pub fn with_saved(
        &self,
        saved: &std::collections::BTreeMap<String, String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::load(self.source.as_deref(), |k| {
            env(k).or_else(|| saved.get(k).filter(|_| BROWSER_KEYS.contains(&k)).cloned())
        })
    }

    /// Loads with the process environment.
    pub fn load_from_process(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load(path, |k| std::env::var(k).ok())
    }

    fn apply_env<F: Fn(&str) -> Option<String>>(&mut self, e: &Env<F>) -> Result<(), ConfigError> {
        if let Some(v) = (e.0)("MAST_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        e.opt("MAST_DATABASE_URL", &mut self.database_url);
        e.string("MAST_TIMEZONE", &mut self.timezone);
        e.string("MAST_LOG", &mut self.log);
        let h = &mut self.http;
        e.parse("MAST_HTTP_LISTEN", &mut h.listen)?;
        e.opt("MAST_PUBLIC_URL", &mut h.public_url);
        e.parse("MAST_COOKIE_SECURE", &mut h.cookie_secure)?;
        e.parse("MAST_SESSION_IDLE_SECS", &mut h.session_idle_secs)?;
        e.parse("MAST_SESSION_ABSOLUTE_SECS", &mut h.session_absolute_secs)?;
        e.parse("MAST_HTTP_MAX_CONNECTIONS", &mut h.max_connections)?;
        e.parse("MAST_HTTP_MAX_CONNECTIONS_PER_IP", &mut h.max_connections_per_ip)?;
        e.parse("MAST_HTTP_HEADER_TIMEOUT_SECS", &mut h.header_timeout_secs)?;
        e.parse("MAST_HTTP_REQUEST_TIMEOUT_SECS", &mut h.request_timeout_secs)?;
        if let Some(v) = (e.0)("MAST_TRUSTED_PROXIES") {
            h.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().map_err(|_| invalid("MAST_TRUSTED_PROXIES", format!("{s:?} is not an IP address"))))
                .collect::<Result<_, _>>()?;
        }
        let a = &mut self.agents;
        e.parse("MAST_QUIC_LISTEN", &mut a.listen)?;
        e.parse("MAST_ENROLL_TOKEN_TTL_SECS", &mut a.enroll_token_ttl_secs)?;
        e.parse("MAST_AGENT_CERT_VALIDITY_SECS", &mut a.cert_validity_secs)?;
        e.parse("MAST_AGENT_OFFLINE_AFTER_SECS", &mut a.offline_after_secs)?;
        e.parse("MAST_RELEASE_RATE_KBPS_PER_AGENT", &mut a.release_rate_kbps_per_agent)?;
        e.parse("MAST_RELEASE_RATE_KBPS_TOTAL", &mut a.release_rate_kbps_total)?;
        e.parse("MAST_ROLLOUT_MAX_FAILURE_PCT", &mut a.rollout_max_failure_pct)?;
        let m = &mut self.monitoring;
        e.parse("MAST_DEFAULT_PROBE_INTERVAL_SECS", &mut m.default_probe_interval_secs)?;
        e.parse("MAST_DEFAULT_PROBE_TIMEOUT_MS", &mut m.default_probe_timeout_ms)?;
        e.parse("MAST_RAW_RETENTION_DAYS", &mut m.raw_retention_days)?;
        e.parse("MAST_ROLLUP_5M_RETENTION_DAYS", &mut m.rollup_5m_retention_days)?;
        e.parse("MAST_ROLLUP_1H_RETENTION_DAYS", &mut m.rollup_1h_retention_days)?;
        e.parse("MAST_ROLLUP_INTERVAL_SECS", &mut m.rollup_interval_secs)?;
        e.parse("MAST_OUTAGE_HOLD_DOWN_SECS", &mut m.outage_hold_down_secs)?;
        e.parse("MAST_OUTAGE_RECOVERY_SECS", &mut m.outage_recovery_secs)?;
        e.parse("MAST_OUTAGE_AGENT_SILENCE_SECS", &mut m.outage_agent_silence_secs)?;
        e.parse("MAST_OUTAGE_CONTROLLER_WINDOW_SECS", &mut m.outage_controller_window_secs)?;
        e.string("MAST_MAP_TILE_URL", &mut m.map_tile_url);
        e.string("MAST_MAP_ATTRIBUTION", &mut m.map_attribution);
        let s = &mut self.support;
        e.string("MAST_SUPPORT_HOURS", &mut s.hours);
        e.list("MAST_SUPPORT_HOLIDAYS", ',', &mut s.holidays);
        e.string("MAST_SLA_TARGETS", &mut s.sla_targets);
        e.parse("MAST_SLA_AT_RISK", &mut s.sla_at_risk)?;
        e.opt("MAST_SLA_ESCALATION_GROUP", &mut s.sla_escalation_group);
        e.parse("MAST_SLA_CHECK_SECS", &mut s.sla_check_secs)?;
        let mail = &mut self.mail;
        e.string("MAST_MAIL_FROM", &mut mail.from);
        e.parse("MAST_NOTIFY_INTERVAL_SECS", &mut mail.notify_interval_secs)?;
        e.opt("MAST_SMTP_HOST", &mut mail.smtp.host);
        e.parse("MAST_SMTP_PORT", &mut mail.smtp.port)?;
        e.string("MAST_SMTP_SECURITY", &mut mail.smtp.security);
        e.opt("MAST_SMTP_USERNAME", &mut mail.smtp.username);
        e.secret("MAST_SMTP_PASSWORD", &mut mail.smtp.password);
        e.opt("MAST_IMAP_HOST", &mut mail.imap.host);
        e.parse("MAST_IMAP_PORT", &mut mail.imap.port)?;
        e.string("MAST_IMAP_SECURITY", &mut mail.imap.security);
        e.opt("MAST_IMAP_USERNAME", &mut mail.imap.username);
        e.secret("MAST_IMAP_PASSWORD", &mut mail.imap.password);
        e.string("MAST_IMAP_MAILBOX", &mut mail.imap.mailbox);
        e.parse("MAST_IMAP_POLL_SECS", &mut mail.imap.poll_secs)?;
        e.opt("MAST_SMS_WEBHOOK_URL", &mut self.sms.webhook_url);
        e.secret("MAST_SMS_WEBHOOK_SECRET", &mut self.sms.webhook_secret);
        let a = &mut self.alerts;
        e.opt("MAST_ALERT_ON_CALL_GROUP", &mut a.on_call_group);
        e.opt("MAST_ALERT_ESCALATION_GROUP", &mut a.escalation_group);
        e.parse("MAST_ALERT_ESCALATE_AFTER_MINS", &mut a.escalate_after_mins)?;
        e.parse("MAST_ALERT_RULES_EVERY_SECS", &mut a.rules_every_secs)?;
        e.opt("MAST_ALERT_WEBHOOK_URL", &mut a.webhook_url);
        e.secret("MAST_ALERT_WEBHOOK_SECRET", &mut a.webhook_secret);
        let o = &mut self.operator;
        e.string("MAST_OPERATOR_NAME", &mut o.name);
        e.list("MAST_OPERATOR_ADDRESS", ';', &mut o.address);
        e.opt("MAST_OPERATOR_EMAIL", &mut o.email);
        e.opt("MAST_OPERATOR_PHONE", &mut o.phone);
        e.opt("MAST_OPERATOR_TAX_ID", &mut o.tax_id);
        e.list("MAST_PAYMENT_INSTRUCTIONS", ';', &mut o.payment_instructions);
        let b = &mut self.billing;
        e.parse("MAST_BILLING_AUTO_RUN", &mut b.auto_run)?;
        e.parse("MAST_BILLING_CHECK_SECS", &mut b.check_secs)?;
        e.string("MAST_DUNNING_STEPS", &mut b.dunning_steps);
        e.opt("MAST_RECONNECTION_FEE", &mut b.reconnection_fee);
        e.parse("MAST_MAX_PAYMENT", &mut b.max_payment)?;
        e.parse("MAST_MAX_CHARGE", &mut b.max_charge)?;
        e.secret("MAST_STRIPE_SECRET_KEY", &mut self.stripe.secret_key);
        e.opt("MAST_STRIPE_API_BASE", &mut self.stripe.api_base);
        e.secret("MAST_STRIPE_WEBHOOK_SECRET", &mut self.stripe.webhook_secret);
        e.parse("MAST_STOCK_RECONCILE_SECS", &mut self.stock.reconcile_secs)?;
        e.parse("MAST_STOCK_STALE_DAYS", &mut self.stock.stale_days)?;
        e.parse("MAST_STOCK_SUMMARY_HOUR", &mut self.stock.summary_hour)?;
        e.parse("MAST_DISPATCH_ROAD_FACTOR", &mut self.dispatch.road_factor)?;
        e.parse("MAST_DISPATCH_SPEED_KMH", &mut self.dispatch.speed_kmh)?;
        e.opt("MAST_DISPATCH_OSRM_URL", &mut self.dispatch.osrm_url);
        e.parse("MAST_DISPATCH_PLAN_ITERATIONS", &mut self.dispatch.plan_iterations)?;
        e.parse("MAST_DISPATCH_NOTIFY_CUSTOMERS", &mut self.dispatch.notify_customers)?;
        e.parse("MAST_CLUSTER_LEASE_SECS", &mut self.cluster.lease_secs)?;
        Ok(())
    }

    /// Ranges and formats of the plain values; what the domains parse
    /// (hours, SLA targets, dunning steps, ...) is checked when the
    /// [`Settings`](crate::context::Settings) are built.
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, problem: &str| Err(invalid(key, problem));
        let between = |key, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) { Ok(()) } else { Err(invalid(key, format!("must be between {lo} and {hi}"))) }
        };
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must not be empty");
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return bad("database_url", "must start with sqlite: or postgres://");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            return bad("log", "is not a valid tracing filter");
        }
        let h = &self.http;
        if h.session_idle_secs == 0 || h.session_idle_secs > h.session_absolute_secs {
            return bad("http.session_idle_secs", "must be at least 1 and at most http.session_absolute_secs");
        }
        check_url("http.public_url", h.public_url.as_deref())?;
        between("http.max_connections", h.max_connections as u64, 1, 1_000_000)?;
        between("http.max_connections_per_ip", h.max_connections_per_ip as u64, 1, 1_000_000)?;
        between("http.header_timeout_secs", h.header_timeout_secs, 1, 600)?;
        between("http.request_timeout_secs", h.request_timeout_secs, 1, 3600)?;
        let a = &self.agents;
        between("agents.enroll_token_ttl_secs", a.enroll_token_ttl_secs, 1, 365 * 86_400)?;
        between("agents.cert_validity_secs", a.cert_validity_secs, 1, 100 * 365 * 86_400)?;
        between("agents.offline_after_secs", a.offline_after_secs, 1, 86_400)?;
        between("agents.release_rate_kbps_per_agent", a.release_rate_kbps_per_agent, 1, 10_000_000)?;
        between("agents.release_rate_kbps_total", a.release_rate_kbps_total, 1, 100_000_000)?;
        between("agents.rollout_max_failure_pct", a.rollout_max_failure_pct, 0, 100)?;
        let m = &self.monitoring;
        between("monitoring.default_probe_interval_secs", m.default_probe_interval_secs, 1, 86_400)?;
        between("monitoring.default_probe_timeout_ms", m.default_probe_timeout_ms, 10, 60_000)?;
        between("monitoring.raw_retention_days", m.raw_retention_days, 1, 3650)?;
        if m.rollup_5m_retention_days < m.raw_retention_days || m.rollup_1h_retention_days < m.rollup_5m_retention_days
        {
            return bad("monitoring.rollup_5m_retention_days", "retention must grow: raw <= 5-minute <= hourly");
        }
        between("monitoring.rollup_1h_retention_days", m.rollup_1h_retention_days, 1, 36_500)?;
        between("monitoring.rollup_interval_secs", m.rollup_interval_secs, 1, 3600)?;
        between("monitoring.outage_hold_down_secs", m.outage_hold_down_secs, 1, 86_400)?;
        between("monitoring.outage_recovery_secs", m.outage_recovery_secs, 1, 86_400)?;
        between("monitoring.outage_agent_silence_secs", m.outage_agent_silence_secs, 1, 86_400)?;
        between("alerts.escalate_after_mins", self.alerts.escalate_after_mins, 1, 7 * 24 * 60)?;
        between("alerts.rules_every_secs", self.alerts.rules_every_secs, 1, 3600)?;
        between("stock.reconcile_secs", self.stock.reconcile_secs, 1, 86_400)?;
        between("stock.stale_days", self.stock.stale_days, 1, 365)?;
        between("stock.summary_hour", self.stock.summary_hour, 0, 23)?;
        between("dispatch.plan_iterations", self.dispatch.plan_iterations, 1, 10_000_000)?;
        between("cluster.lease_secs", self.cluster.lease_secs, 5, 600)?;
        let d = &self.dispatch;
        if !(1.0..=3.0).contains(&d.road_factor) {
            return bad("dispatch.road_factor", "must be between 1 and 3");
        }
        if !(5.0..=150.0).contains(&d.speed_kmh) {
            return bad("dispatch.speed_kmh", "must be between 5 and 150 km/h");
        }
        if let Some(u) = &d.osrm_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return bad("dispatch.osrm_url", "must be an http:// or https:// URL");
        }
        between("monitoring.outage_controller_window_secs", m.outage_controller_window_secs, 0, 86_400)?;
        tile_origin(&m.map_tile_url).map_err(|p| invalid("monitoring.map_tile_url", p))?;
        if mast_text_core::input::line(&m.map_attribution, 300).is_err() {
            return bad("monitoring.map_attribution", "must be one line of at most 300 characters");
        }
        let s = &self.support;
        if !(s.sla_at_risk > 0.0 && s.sla_at_risk < 1.0) {
            return bad("support.sla_at_risk", "must be between 0 and 1 (exclusive)");
        }
        between("support.sla_check_secs", s.sla_check_secs, 1, 86_400)?;
        let mail = &self.mail;
        between("mail.notify_interval_secs", mail.notify_interval_secs, 1, 86_400)?;
        between("mail.imap.poll_secs", mail.imap.poll_secs, 1, 86_400)?;
        if !["none", "starttls", "tls"].contains(&mail.smtp.security.as_str()) {
            return bad("mail.smtp.security", "must be none, starttls or tls");
        }
        if !["none", "tls"].contains(&mail.imap.security.as_str()) {
            return bad("mail.imap.security", "must be none or tls");
        }
        if mail.imap.host.is_some() && (mail.imap.username.is_none() || mail.imap.password.is_none()) {
            return bad(
                "mail.imap.username",
                "mail.imap.username and mail.imap.password are needed with mail.imap.host",
            );
        }
        check_url("sms.webhook_url", self.sms.webhook_url.as_deref())?;
        if self.operator.name.trim().is_empty() {
            return bad("operator.name", "must not be empty (it heads every invoice)");
        }
        between("billing.check_secs", self.billing.check_secs, 1, 86_400)?;
        between("billing.max_payment", self.billing.max_payment.max(0) as u64, 1, 100_000_000)?;
        between("billing.max_charge", self.billing.max_charge.max(0) as u64, 1, 100_000_000)?;
        if let Some(k) = &self.stripe.secret_key
            && !(k.expose().starts_with("sk_") || k.expose().starts_with("rk_"))
        {
            return bad("stripe.secret_key", "must be a secret (sk_...) or restricted (rk_...) key");
        }
        check_url("stripe.api_base", self.stripe.api_base.as_deref())?;
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data_dir.join("mast.db").display()),
        }
    }
}

/// The origin (`https://tile.example.net`, `https://*.tile.example.net` for
/// a `{s}` subdomain template, with the port if given) of a tile URL
/// template, for the Content-Security-Policy; `None` for "" (no tiles).
/// Refuses anything but `http(s)://host[:port]/path` with `{z}`, `{x}` and
/// `{y}` in the path, so the origin is safe to put in a header.
pub fn tile_origin(url: &str) -> Result<Option<String>, String> {
    if url.is_empty() {
        return Ok(None);
    }
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| *s == "https" || *s == "http")
        .ok_or("must be an http:// or https:// URL template (or empty for no tiles)")?;
    let (authority, path) = rest.split_once('/').ok_or("needs a path with {z}, {x} and {y}")?;
    if !["{z}", "{x}", "{y}"].iter().all(|p| path.contains(p)) {
        return Err("the path needs {z}, {x} and {y}".into());
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control() || "\"';,<>`".contains(c)) {
        return Err("the path has characters a URL template cannot have".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        Some(_) => return Err("the port must be a number".into()),
        None => (authority, None),
    };
    let host = match host.strip_prefix("{s}.") {
        Some(rest) => format!("*.{rest}"),
        None => host.to_string(),
    };
    let labels_ok = |h: &str| {
        !h.is_empty()
            && h.split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    if !labels_ok(host.trim_start_matches("*.")) {
        return Err("the host must be a DNS name or IPv4 address ({s}. allowed in front)".into());
    }
    Ok(Some(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }))
}

fn check_url(key: &'static str, url: Option<&str>) -> Result<(), ConfigError> {
    match url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            Err(invalid(key, "must be an http:// or https:// URL"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(Some(&p), |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/controller.toml");
        let c = Config::load(Some(&p), |_| None).unwrap();
        assert_eq!(c.agents.listen.port(), 4433);
        assert_eq!(c.timezone, "America/Chicago");
        crate::context::Settings::from_config(&c).unwrap();
    }

    #[test]
    fn saved_settings_sit_between_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "timezone = \"Europe/Paris\"\n[mail.smtp]\nhost = \"file-host\"\nport = 25\n").unwrap();
        let base = Config::load(Some(&p), |_| None).unwrap();
        assert_eq!(base.source.as_deref(), Some(p.as_path()));
        let saved: std::collections::BTreeMap<String, String> =
            [("MAST_SMTP_HOST", "saved-host"), ("MAST_TIMEZONE", "America/Chicago"), ("MAST_DATA_DIR", "/elsewhere")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let env = |k: &str| (k == "MAST_TIMEZONE").then(|| "Asia/Tokyo".to_string());
        let c = base.with_saved(&saved, env).unwrap();
        assert_eq!(c.mail.smtp.host.as_deref(), Some("saved-host"), "saved over the file");
        assert_eq!(c.mail.smtp.port, 25, "the file where nothing was saved");
        assert_eq!(c.timezone, "Asia/Tokyo", "the environment over saved");
        assert_eq!(c.data_dir, base.data_dir, "only the browser's keys are taken");
        for k in BROWSER_KEYS {
            assert!(c.browser_value(k).is_some(), "{k} shown on the settings page");
        }
        assert_eq!(c.browser_value("MAST_SMTP_PORT").as_deref(), Some("25"));
        assert_eq!(c.browser_value("MAST_DATA_DIR"), None);
        let bad = [("MAST_SMTP_PORT".to_string(), "seventy".to_string())].into_iter().collect();
        let e = base.with_saved(&bad, |_| None).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { key: "MAST_SMTP_PORT", .. }), "{e}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = load_str(
            "[mail.smtp]\nhost = \"mail\"\npassword = \"hunter2\"\n",
            &[("MAST_IMAP_HOST", "imap"), ("MAST_IMAP_USERNAME", "u"), ("MAST_IMAP_PASSWORD", "swordfish")],
        )
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("swordfish"), "{d}");
        assert_eq!(c.mail.smtp.password.as_ref().map(Secret::expose), Some("hunter2"));
        let e = load_str("[mail.smtp]\nsecurity = \"ssl3\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("mail.smtp.security"), "{e}");
    }

    #[test]
    fn env_overrides_file() {
        let c = load_str("[http]\nlisten = \"127.0.0.1:1\"\n", &[("MAST_HTTP_LISTEN", "127.0.0.1:2")]).unwrap();
        assert_eq!(c.http.listen.port(), 2);
        let c = load_str("", &[("MAST_SUPPORT_HOLIDAYS", "2026-12-25, 2027-01-01"), ("MAST_SMTP_HOST", "")]).unwrap();
        assert_eq!(c.support.holidays, ["2026-12-25", "2027-01-01"]);
        assert_eq!(c.mail.smtp.host, None, "an empty variable unsets");
    }

    #[test]
    fn map_tiles_are_configurable_and_checked() {
        let c = load_str("", &[]).unwrap();
        assert_eq!(c.monitoring.map_tile_url, DEFAULT_MAP_TILE_URL);
        assert_eq!(tile_origin(DEFAULT_MAP_TILE_URL).unwrap().as_deref(), Some("https://tile.openstreetmap.org"));
        let c = load_str(
            "[monitoring]\nmap_tile_url = \"https://{s}.tiles.example.net:8443/osm/{z}/{x}/{y}.png\"\n",
            &[("MAST_MAP_ATTRIBUTION", "© Example")],
        )
        .unwrap();
        assert_eq!(c.monitoring.map_attribution, "© Example");
        assert_eq!(
            tile_origin(&c.monitoring.map_tile_url).unwrap().as_deref(),
            Some("https://*.tiles.example.net:8443")
        );
        let c = load_str("", &[("MAST_MAP_TILE_URL", "http://10.0.0.5/{z}/{x}/{y}.png")]).unwrap();
        assert_eq!(tile_origin(&c.monitoring.map_tile_url).unwrap().as_deref(), Some("http://10.0.0.5"));
        assert_eq!(tile_origin("").unwrap(), None, "no tiles");
        for bad in [
            "ftp://tiles.example/{z}/{x}/{y}.png",
            "https://tiles.example/{z}/{x}.png",
            "https://tiles.example;script-src *//{z}/{x}/{y}",
            "https://tiles.example/{z}/{x}/{y}.png'; script-src *",
            "https://ti les.example/{z}/{x}/{y}.png",
            "https://tiles.example:http/{z}/{x}/{y}.png",
            "https://{z}.example/{z}/{x}/{y}.png",
        ] {
            assert!(tile_origin(bad).is_err(), "{bad}");
        }
        let e = load_str("", &[("MAST_MAP_TILE_URL", "tiles")]).unwrap_err().to_string();
        assert!(e.contains("monitoring.map_tile_url"), "{e}");
        let e = load_str("", &[("MAST_MAP_ATTRIBUTION", "a\nb")]).unwrap_err().to_string();
        assert!(e.contains("monitoring.map_attribution"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_str("[http]\nlisten = \"nonsense\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("listen"), "{e}");
        let e = load_str("no_such_key = 1\n", &[]).unwrap_err().to_string();
        assert!(e.contains("no_such_key"), "{e}");
        let e = load_str("http_listen = \"127.0.0.1:1\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("http_listen"), "an old flat key is named: {e}");
        let e = load_str("[monitoring]\ndefault_probe_interval_secs = 0\n", &[]).unwrap_err().to_string();
        assert!(e.contains("monitoring.default_probe_interval_secs"), "{e}");
        let e = load_str("", &[("MAST_QUIC_LISTEN", "x")]).unwrap_err().to_string();
        assert!(e.contains("MAST_QUIC_LISTEN"), "{e}");
        let e = load_str("database_url = \"mysql://x\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("database_url"), "{e}");
    }
}
