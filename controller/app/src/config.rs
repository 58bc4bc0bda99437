//! Controller configuration: a TOML file, then `MAST_*` environment overrides,
//! validated as a whole before any port is bound.
//!
//! Every option, its default and its override (see also `deploy/controller.toml`):
//!
//! | key | env | default | meaning |
//! |---|---|---|---|
//! | `data_dir` | `MAST_DATA_DIR` | `./mast-data` | CA, SQLite file, runtime state |
//! | `database_url` | `MAST_DATABASE_URL` | `sqlite://<data_dir>/mast.db` | `sqlite://PATH` or `postgres://...` |
//! | `http_listen` | `MAST_HTTP_LISTEN` | `127.0.0.1:8080` | web UI and JSON API |
//! | `quic_listen` | `MAST_QUIC_LISTEN` | `0.0.0.0:4433` | agent link (QUIC, mutual TLS) |
//! | `enroll_token_ttl_secs` | `MAST_ENROLL_TOKEN_TTL_SECS` | `86400` | lifetime of a one-time enrollment token |
//! | `agent_cert_validity_secs` | `MAST_AGENT_CERT_VALIDITY_SECS` | `157680000` (5 years) | lifetime of an agent certificate |
//! | `agent_offline_after_secs` | `MAST_AGENT_OFFLINE_AFTER_SECS` | `90` | an agent silent this long shows as offline |
//! | `default_probe_interval_secs` | `MAST_DEFAULT_PROBE_INTERVAL_SECS` | `30` | probe interval of a new site |
//! | `default_probe_timeout_ms` | `MAST_DEFAULT_PROBE_TIMEOUT_MS` | `1000` | ping timeout of a new site |
//! | `session_idle_secs` | `MAST_SESSION_IDLE_SECS` | `3600` | a staff session unused this long ends |
//! | `session_absolute_secs` | `MAST_SESSION_ABSOLUTE_SECS` | `43200` | a staff session ends this long after login |
//! | `cookie_secure` | `MAST_COOKIE_SECURE` | `false` | mark cookies `Secure` (set behind a TLS proxy; `X-Forwarded-Proto: https` does it per request) |
//! | `raw_retention_days` | `MAST_RAW_RETENTION_DAYS` | `30` | raw samples (ping, SNMP, signal, interface rates) are kept this long |
//! | `rollup_5m_retention_days` | `MAST_ROLLUP_5M_RETENTION_DAYS` | `180` | 5-minute rollups are kept this long |
//! | `rollup_1h_retention_days` | `MAST_ROLLUP_1H_RETENTION_DAYS` | `1825` | hourly rollups are kept this long |
//! | `rollup_interval_secs` | `MAST_ROLLUP_INTERVAL_SECS` | `60` | how often rollups and retention run |
//! | `outage_hold_down_secs` | `MAST_OUTAGE_HOLD_DOWN_SECS` | `60` | a device is down after failing this long (and 3 probes in a row) |
//! | `outage_recovery_secs` | `MAST_OUTAGE_RECOVERY_SECS` | `60` | ... and up again after answering this long (and 2 probes) |
//! | `outage_agent_silence_secs` | `MAST_OUTAGE_AGENT_SILENCE_SECS` | `90` | a site whose agent sent no data this long is unreachable (one site incident) |
//! | `timezone` | `MAST_TIMEZONE` | `UTC` | the operator's IANA zone: business hours, maintenance windows, times in notices |
//! | `support_hours` | `MAST_SUPPORT_HOURS` | `mon-fri 08:00-18:00` | business hours the SLA clocks count (`24/7` for always) |
//! | `support_holidays` | `MAST_SUPPORT_HOLIDAYS` (comma-separated) | none | dates (`YYYY-MM-DD`) the SLA clocks skip |
//! | `sla_targets` | `MAST_SLA_TARGETS` | `urgent=1h/4h, high=2h/8h, normal=4h/24h, low=8h/3d` | first-response / resolution targets per priority, in business time |
//! | `sla_at_risk` | `MAST_SLA_AT_RISK` | `0.25` | a running clock with less than this share of its target left is at risk and escalates |
//! | `sla_escalation_group` | `MAST_SLA_ESCALATION_GROUP` | none | staff group an at-risk or breached ticket is reassigned to (its members are emailed) |
//! | `sla_check_secs` | `MAST_SLA_CHECK_SECS` | `60` | how often SLA clocks are checked |
//! | `smtp_host` | `MAST_SMTP_HOST` | none (no outgoing mail) | SMTP server for notices and ticket replies |
//! | `smtp_port` | `MAST_SMTP_PORT` | `587` | |
//! | `smtp_security` | `MAST_SMTP_SECURITY` | `starttls` | `none`, `starttls` or `tls` |
//! | `smtp_username` | `MAST_SMTP_USERNAME` | none | |
//! | `smtp_password` | `MAST_SMTP_PASSWORD` | none | never logged |
//! | `mail_from` | `MAST_MAIL_FROM` | `Mast Support <support@localhost>` | sender of every mail |
//! | `imap_host` | `MAST_IMAP_HOST` | none (no email intake) | IMAP mailbox polled for support mail |
//! | `imap_port` | `MAST_IMAP_PORT` | `993` | |
//! | `imap_security` | `MAST_IMAP_SECURITY` | `tls` | `none` or `tls` |
//! | `imap_username` | `MAST_IMAP_USERNAME` | none | |
//! | `imap_password` | `MAST_IMAP_PASSWORD` | none | never logged |
//! | `imap_mailbox` | `MAST_IMAP_MAILBOX` | `INBOX` | folder read; processed mail moves to `Processed` |
//! | `imap_poll_secs` | `MAST_IMAP_POLL_SECS` | `60` | how often the mailbox is read |
//! | `sms_webhook_url` | `MAST_SMS_WEBHOOK_URL` | none | SMS gateway: customer notices are POSTed there as JSON |
//! | `sms_webhook_secret` | `MAST_SMS_WEBHOOK_SECRET` | none | HMAC-SHA256 key; the body's signature goes in `X-Mast-Signature` |
//! | `notify_interval_secs` | `MAST_NOTIFY_INTERVAL_SECS` | `5` | how often queued notifications are delivered |
//! | `public_url` | `MAST_PUBLIC_URL` | `http://<http_listen>` | where customers and staff reach the web UI (links in emails) |
//! | `operator_name` | `MAST_OPERATOR_NAME` | `Mast WISP` | the operator's name on invoices and mail |
//! | `operator_address` | `MAST_OPERATOR_ADDRESS` (lines separated by `;`) | none | address lines on invoices |
//! | `operator_email` | `MAST_OPERATOR_EMAIL` | none | contact email on invoices |
//! | `operator_phone` | `MAST_OPERATOR_PHONE` | none | contact phone on invoices |
//! | `operator_tax_id` | `MAST_OPERATOR_TAX_ID` | none | tax/VAT id on invoices |
//! | `payment_instructions` | `MAST_PAYMENT_INSTRUCTIONS` (`;`-separated) | none | how to pay by bank transfer (printed on invoices) |
//! | `stripe_secret_key` | `MAST_STRIPE_SECRET_KEY` | none (no card/ACH autopay) | Stripe API key (`sk_...`/`rk_...`); never logged |
//! | `stripe_api_base` | `MAST_STRIPE_API_BASE` | `https://api.stripe.com` | Stripe API base URL (a local Stripe-compatible server in tests) |
//! | `stripe_webhook_secret` | `MAST_STRIPE_WEBHOOK_SECRET` | none | signing secret of Stripe webhooks to `/api/v1/billing/stripe/webhook` |
//! | `billing_auto_run` | `MAST_BILLING_AUTO_RUN` | `true` | run invoices, autopay and dunning on schedule (`billing run` works either way) |
//! | `billing_check_secs` | `MAST_BILLING_CHECK_SECS` | `3600` | how often the schedule looks (each step is idempotent) |
//! | `dunning_steps` | `MAST_DUNNING_STEPS` | `reminder@3, fee@10:5.00, suspend@20` | business days after the due date: reminder email, late fee (amount or `N%`), suspension |
//! | `reconnection_fee` | `MAST_RECONNECTION_FEE` | none | charged when a suspended customer pays and is reactivated |
//! | `log` | `MAST_LOG` | `info` | tracing filter, e.g. `info,mast_controller=debug` |

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub http_listen: SocketAddr,
    pub quic_listen: SocketAddr,
    pub enroll_token_ttl_secs: u64,
    pub agent_cert_validity_secs: u64,
    pub agent_offline_after_secs: u64,
    pub default_probe_interval_secs: u64,
    pub default_probe_timeout_ms: u64,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub cookie_secure: bool,
    pub raw_retention_days: u64,
    pub rollup_5m_retention_days: u64,
    pub rollup_1h_retention_days: u64,
    pub rollup_interval_secs: u64,
    pub outage_hold_down_secs: u64,
    pub outage_recovery_secs: u64,
    pub outage_agent_silence_secs: u64,
    pub timezone: String,
    pub support_hours: String,
    pub support_holidays: Vec<String>,
    pub sla_targets: String,
    pub sla_at_risk: f64,
    pub sla_escalation_group: Option<String>,
    pub sla_check_secs: u64,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_security: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    pub mail_from: String,
    pub imap_host: Option<String>,
    pub imap_port: u16,
    pub imap_security: String,
    pub imap_username: Option<String>,
    pub imap_password: Option<Secret>,
    pub imap_mailbox: String,
    pub imap_poll_secs: u64,
    pub sms_webhook_url: Option<String>,
    pub sms_webhook_secret: Option<Secret>,
    pub notify_interval_secs: u64,
    pub public_url: Option<String>,
    pub operator_name: String,
    pub operator_address: Vec<String>,
    pub operator_email: Option<String>,
    pub operator_phone: Option<String>,
    pub operator_tax_id: Option<String>,
    pub payment_instructions: Vec<String>,
    pub stripe_secret_key: Option<Secret>,
    pub stripe_api_base: Option<String>,
    pub stripe_webhook_secret: Option<Secret>,
    pub billing_auto_run: bool,
    pub billing_check_secs: u64,
    pub dunning_steps: String,
    pub reconnection_fee: Option<String>,
    pub log: String,
}

pub use mast_text_core::Secret;

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./mast-data"),
            database_url: None,
            http_listen: "127.0.0.1:8080".parse().expect("literal"),
            quic_listen: "0.0.0.0:4433".parse().expect("literal"),
            enroll_token_ttl_secs: 86_400,
            agent_cert_validity_secs: 5 * 365 * 86_400,
            agent_offline_after_secs: 90,
            default_probe_interval_secs: 30,
            default_probe_timeout_ms: 1_000,
            session_idle_secs: 3_600,
            session_absolute_secs: 43_200,
            cookie_secure: false,
            raw_retention_days: 30,
            rollup_5m_retention_days: 180,
            rollup_1h_retention_days: 1825,
            rollup_interval_secs: 60,
            outage_hold_down_secs: 60,
            outage_recovery_secs: 60,
            outage_agent_silence_secs: 90,
            timezone: "UTC".into(),
            support_hours: "mon-fri 08:00-18:00".into(),
            support_holidays: Vec::new(),
            sla_targets: "urgent=1h/4h, high=2h/8h, normal=4h/24h, low=8h/3d".into(),
            sla_at_risk: 0.25,
            sla_escalation_group: None,
            sla_check_secs: 60,
            smtp_host: None,
            smtp_port: 587,
            smtp_security: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            mail_from: "Mast Support <support@localhost>".into(),
            imap_host: None,
            imap_port: 993,
            imap_security: "tls".into(),
            imap_username: None,
            imap_password: None,
            imap_mailbox: "INBOX".into(),
            imap_poll_secs: 60,
            sms_webhook_url: None,
            sms_webhook_secret: None,
            notify_interval_secs: 5,
            public_url: None,
            operator_name: "Mast WISP".into(),
            operator_address: Vec::new(),
            operator_email: None,
            operator_phone: None,
            operator_tax_id: None,
            payment_instructions: Vec::new(),
            stripe_secret_key: None,
            stripe_api_base: None,
            stripe_webhook_secret: None,
            billing_auto_run: true,
            billing_check_secs: 3600,
            dunning_steps: "reminder@3, fee@10:5.00, suspend@20".into(),
            reconnection_fee: None,
            log: "info".into(),
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
        cfg.apply_env(env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads with the process environment.
    pub fn load_from_process(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load(path, |k| std::env::var(k).ok())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(key: &'static str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.parse().map_err(|e: T::Err| ConfigError::Invalid { key, problem: format!("{v:?}: {e}") })
        }
        if let Some(v) = env("MAST_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("MAST_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = env("MAST_HTTP_LISTEN") {
            self.http_listen = parse("MAST_HTTP_LISTEN", &v)?;
        }
        if let Some(v) = env("MAST_QUIC_LISTEN") {
            self.quic_listen = parse("MAST_QUIC_LISTEN", &v)?;
        }
        if let Some(v) = env("MAST_ENROLL_TOKEN_TTL_SECS") {
            self.enroll_token_ttl_secs = parse("MAST_ENROLL_TOKEN_TTL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_AGENT_CERT_VALIDITY_SECS") {
            self.agent_cert_validity_secs = parse("MAST_AGENT_CERT_VALIDITY_SECS", &v)?;
        }
        if let Some(v) = env("MAST_AGENT_OFFLINE_AFTER_SECS") {
            self.agent_offline_after_secs = parse("MAST_AGENT_OFFLINE_AFTER_SECS", &v)?;
        }
        if let Some(v) = env("MAST_DEFAULT_PROBE_INTERVAL_SECS") {
            self.default_probe_interval_secs = parse("MAST_DEFAULT_PROBE_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_DEFAULT_PROBE_TIMEOUT_MS") {
            self.default_probe_timeout_ms = parse("MAST_DEFAULT_PROBE_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = env("MAST_SESSION_IDLE_SECS") {
            self.session_idle_secs = parse("MAST_SESSION_IDLE_SECS", &v)?;
        }
        if let Some(v) = env("MAST_SESSION_ABSOLUTE_SECS") {
            self.session_absolute_secs = parse("MAST_SESSION_ABSOLUTE_SECS", &v)?;
        }
        if let Some(v) = env("MAST_COOKIE_SECURE") {
            self.cookie_secure = parse("MAST_COOKIE_SECURE", &v)?;
        }
        if let Some(v) = env("MAST_RAW_RETENTION_DAYS") {
            self.raw_retention_days = parse("MAST_RAW_RETENTION_DAYS", &v)?;
        }
        if let Some(v) = env("MAST_ROLLUP_5M_RETENTION_DAYS") {
            self.rollup_5m_retention_days = parse("MAST_ROLLUP_5M_RETENTION_DAYS", &v)?;
        }
        if let Some(v) = env("MAST_ROLLUP_1H_RETENTION_DAYS") {
            self.rollup_1h_retention_days = parse("MAST_ROLLUP_1H_RETENTION_DAYS", &v)?;
        }
        if let Some(v) = env("MAST_ROLLUP_INTERVAL_SECS") {
            self.rollup_interval_secs = parse("MAST_ROLLUP_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_OUTAGE_HOLD_DOWN_SECS") {
            self.outage_hold_down_secs = parse("MAST_OUTAGE_HOLD_DOWN_SECS", &v)?;
        }
        if let Some(v) = env("MAST_OUTAGE_RECOVERY_SECS") {
            self.outage_recovery_secs = parse("MAST_OUTAGE_RECOVERY_SECS", &v)?;
        }
        if let Some(v) = env("MAST_OUTAGE_AGENT_SILENCE_SECS") {
            self.outage_agent_silence_secs = parse("MAST_OUTAGE_AGENT_SILENCE_SECS", &v)?;
        }
        if let Some(v) = env("MAST_TIMEZONE") {
            self.timezone = v;
        }
        if let Some(v) = env("MAST_SUPPORT_HOURS") {
            self.support_hours = v;
        }
        if let Some(v) = env("MAST_SUPPORT_HOLIDAYS") {
            self.support_holidays = v.split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect();
        }
        if let Some(v) = env("MAST_SLA_TARGETS") {
            self.sla_targets = v;
        }
        if let Some(v) = env("MAST_SLA_AT_RISK") {
            self.sla_at_risk = parse("MAST_SLA_AT_RISK", &v)?;
        }
        if let Some(v) = env("MAST_SLA_ESCALATION_GROUP") {
            self.sla_escalation_group = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_SLA_CHECK_SECS") {
            self.sla_check_secs = parse("MAST_SLA_CHECK_SECS", &v)?;
        }
        if let Some(v) = env("MAST_SMTP_HOST") {
            self.smtp_host = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_SMTP_PORT") {
            self.smtp_port = parse("MAST_SMTP_PORT", &v)?;
        }
        if let Some(v) = env("MAST_SMTP_SECURITY") {
            self.smtp_security = v;
        }
        if let Some(v) = env("MAST_SMTP_USERNAME") {
            self.smtp_username = Some(v);
        }
        if let Some(v) = env("MAST_SMTP_PASSWORD") {
            self.smtp_password = Some(Secret::new(v));
        }
        if let Some(v) = env("MAST_MAIL_FROM") {
            self.mail_from = v;
        }
        if let Some(v) = env("MAST_IMAP_HOST") {
            self.imap_host = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_IMAP_PORT") {
            self.imap_port = parse("MAST_IMAP_PORT", &v)?;
        }
        if let Some(v) = env("MAST_IMAP_SECURITY") {
            self.imap_security = v;
        }
        if let Some(v) = env("MAST_IMAP_USERNAME") {
            self.imap_username = Some(v);
        }
        if let Some(v) = env("MAST_IMAP_PASSWORD") {
            self.imap_password = Some(Secret::new(v));
        }
        if let Some(v) = env("MAST_IMAP_MAILBOX") {
            self.imap_mailbox = v;
        }
        if let Some(v) = env("MAST_IMAP_POLL_SECS") {
            self.imap_poll_secs = parse("MAST_IMAP_POLL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_SMS_WEBHOOK_URL") {
            self.sms_webhook_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_SMS_WEBHOOK_SECRET") {
            self.sms_webhook_secret = Some(Secret::new(v));
        }
        if let Some(v) = env("MAST_NOTIFY_INTERVAL_SECS") {
            self.notify_interval_secs = parse("MAST_NOTIFY_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_PUBLIC_URL") {
            self.public_url = Some(v).filter(|v| !v.is_empty());
        }
        let lines = |v: String| v.split(';').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        if let Some(v) = env("MAST_OPERATOR_NAME") {
            self.operator_name = v;
        }
        if let Some(v) = env("MAST_OPERATOR_ADDRESS") {
            self.operator_address = lines(v);
        }
        if let Some(v) = env("MAST_OPERATOR_EMAIL") {
            self.operator_email = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_OPERATOR_PHONE") {
            self.operator_phone = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_OPERATOR_TAX_ID") {
            self.operator_tax_id = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_PAYMENT_INSTRUCTIONS") {
            self.payment_instructions = lines(v);
        }
        if let Some(v) = env("MAST_STRIPE_SECRET_KEY") {
            self.stripe_secret_key = Some(Secret::new(v)).filter(|s| !s.is_empty());
        }
        if let Some(v) = env("MAST_STRIPE_API_BASE") {
            self.stripe_api_base = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_STRIPE_WEBHOOK_SECRET") {
            self.stripe_webhook_secret = Some(Secret::new(v)).filter(|s| !s.is_empty());
        }
        if let Some(v) = env("MAST_BILLING_AUTO_RUN") {
            self.billing_auto_run = parse("MAST_BILLING_AUTO_RUN", &v)?;
        }
        if let Some(v) = env("MAST_BILLING_CHECK_SECS") {
            self.billing_check_secs = parse("MAST_BILLING_CHECK_SECS", &v)?;
        }
        if let Some(v) = env("MAST_DUNNING_STEPS") {
            self.dunning_steps = v;
        }
        if let Some(v) = env("MAST_RECONNECTION_FEE") {
            self.reconnection_fee = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("MAST_LOG") {
            self.log = v;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, problem: &str| Err(ConfigError::Invalid { key, problem: problem.into() });
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must not be empty");
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return bad("database_url", "must start with sqlite: or postgres://");
        }
        if self.enroll_token_ttl_secs == 0 {
            return bad("enroll_token_ttl_secs", "must be at least 1");
        }
        if self.agent_cert_validity_secs == 0 {
            return bad("agent_cert_validity_secs", "must be at least 1");
        }
        if self.default_probe_interval_secs == 0 || self.default_probe_interval_secs > 86_400 {
            return bad("default_probe_interval_secs", "must be between 1 and 86400");
        }
        if !(10..=60_000).contains(&self.default_probe_timeout_ms) {
            return bad("default_probe_timeout_ms", "must be between 10 and 60000");
        }
        if self.agent_offline_after_secs == 0 {
            return bad("agent_offline_after_secs", "must be at least 1");
        }
        if self.session_idle_secs == 0 || self.session_idle_secs > self.session_absolute_secs {
            return bad("session_idle_secs", "must be at least 1 and at most session_absolute_secs");
        }
        if self.raw_retention_days == 0 || self.raw_retention_days > 3650 {
            return bad("raw_retention_days", "must be between 1 and 3650");
        }
        if self.rollup_5m_retention_days < self.raw_retention_days
            || self.rollup_1h_retention_days < self.rollup_5m_retention_days
        {
            return bad("rollup_5m_retention_days", "retention must grow: raw <= 5-minute <= hourly");
        }
        if self.rollup_interval_secs == 0 || self.rollup_interval_secs > 3600 {
            return bad("rollup_interval_secs", "must be between 1 and 3600");
        }
        for (key, v) in [
            ("outage_hold_down_secs", self.outage_hold_down_secs),
            ("outage_recovery_secs", self.outage_recovery_secs),
            ("outage_agent_silence_secs", self.outage_agent_silence_secs),
        ] {
            if v == 0 || v > 86_400 {
                return bad(key, "must be between 1 and 86400");
            }
        }
        if let Err(e) = jiff::tz::TimeZone::get(&self.timezone) {
            return bad("timezone", &format!("{:?} is not a known IANA time zone ({e})", self.timezone));
        }
        self.sla_policy()?;
        if !(self.sla_at_risk > 0.0 && self.sla_at_risk < 1.0) {
            return bad("sla_at_risk", "must be between 0 and 1 (exclusive)");
        }
        for (key, v) in [
            ("sla_check_secs", self.sla_check_secs),
            ("imap_poll_secs", self.imap_poll_secs),
            ("notify_interval_secs", self.notify_interval_secs),
        ] {
            if v == 0 || v > 86_400 {
                return bad(key, "must be between 1 and 86400");
            }
        }
        if !["none", "starttls", "tls"].contains(&self.smtp_security.as_str()) {
            return bad("smtp_security", "must be none, starttls or tls");
        }
        if !["none", "tls"].contains(&self.imap_security.as_str()) {
            return bad("imap_security", "must be none or tls");
        }
        if self.imap_host.is_some() && (self.imap_username.is_none() || self.imap_password.is_none()) {
            return bad("imap_username", "imap_username and imap_password are needed with imap_host");
        }
        if let Err(e) =
            crate::billing::collections::parse_steps(&self.dunning_steps, crate::billing::money::Currency::USD)
        {
            return bad("dunning_steps", &e);
        }
        if self.billing_check_secs == 0 || self.billing_check_secs > 86_400 {
            return bad("billing_check_secs", "must be between 1 and 86400");
        }
        if self.operator_name.trim().is_empty() {
            return bad("operator_name", "must not be empty (it heads every invoice)");
        }
        if let Some(k) = &self.stripe_secret_key
            && !(k.expose().starts_with("sk_") || k.expose().starts_with("rk_"))
        {
            return bad("stripe_secret_key", "must be a secret (sk_...) or restricted (rk_...) key");
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return bad("public_url", "must be an http:// or https:// URL");
        }
        if let Some(u) = &self.sms_webhook_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return bad("sms_webhook_url", "must be an http:// or https:// URL");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            return bad("log", "is not a valid tracing filter");
        }
        Ok(())
    }

    /// The SLA calendar, targets and escalation from `timezone`,
    /// `support_hours`, `support_holidays`, `sla_targets`, `sla_at_risk` and
    /// `sla_escalation_group`.
    pub fn sla_policy(&self) -> Result<crate::tickets::escalation::SlaPolicy, ConfigError> {
        use crate::tickets::sla::{BusinessCalendar, Targets};
        let holidays: Vec<&str> = self.support_holidays.iter().map(String::as_str).collect();
        let calendar = BusinessCalendar::parse(&self.timezone, &self.support_hours, &holidays)
            .map_err(|e| ConfigError::Invalid { key: "support_hours", problem: e.to_string() })?;
        let targets = Targets::parse(&self.sla_targets)
            .map_err(|e| ConfigError::Invalid { key: "sla_targets", problem: e.to_string() })?;
        Ok(crate::tickets::escalation::SlaPolicy {
            calendar,
            targets,
            at_risk: self.sla_at_risk,
            escalation_group: self.sla_escalation_group.clone(),
        })
    }

    /// Outgoing mail, if `smtp_host` is set.
    pub fn smtp_config(&self) -> Option<crate::mail::SmtpConfig> {
        Some(crate::mail::SmtpConfig {
            host: self.smtp_host.clone()?,
            port: Some(self.smtp_port),
            security: security(&self.smtp_security),
            username: self.smtp_username.clone(),
            password: self.smtp_password.clone(),
            from: self.mail_from.clone(),
            reply_to: None,
            helo_name: None,
            timeout_secs: 30,
            ca_file: None,
        })
    }

    /// Email intake, if `imap_host` is set (validation ensured the login).
    pub fn imap_config(&self) -> Option<crate::mail::ImapConfig> {
        Some(crate::mail::ImapConfig {
            host: self.imap_host.clone()?,
            port: Some(self.imap_port),
            security: security(&self.imap_security),
            username: self.imap_username.clone()?,
            password: self.imap_password.clone()?,
            mailbox: self.imap_mailbox.clone(),
            poll_secs: self.imap_poll_secs,
            processed_mailbox: Some("Processed".into()),
            timeout_secs: 30,
            ca_file: None,
        })
    }

    /// Dunning settings (`dunning_steps`, `reconnection_fee`, `support_holidays`).
    pub fn dunning(&self) -> crate::billing::collections::Settings {
        crate::billing::collections::Settings {
            steps: self.dunning_steps.clone(),
            reconnection_fee: self.reconnection_fee.clone(),
            holidays: self
                .support_holidays
                .iter()
                .filter_map(|d| crate::billing::store::parse_date("holiday", d).ok())
                .collect(),
        }
    }

    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data_dir.join("mast.db").display()),
        }
    }
}

fn security(s: &str) -> crate::mail::Security {
    match s {
        "none" => crate::mail::Security::None,
        "starttls" => crate::mail::Security::Starttls,
        _ => crate::mail::Security::Tls,
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
        assert_eq!(c.quic_listen.port(), 4433);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = load_str(
            "smtp_host = \"mail\"\nsmtp_password = \"hunter2\"\n",
            &[("MAST_IMAP_HOST", "imap"), ("MAST_IMAP_USERNAME", "u"), ("MAST_IMAP_PASSWORD", "swordfish")],
        )
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("swordfish"), "{d}");
        assert_eq!(c.smtp_password.as_ref().map(Secret::expose), Some("hunter2"));
        let e = load_str("timezone = \"Mars/Olympus\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("timezone"), "{e}");
        let e = load_str("smtp_security = \"ssl3\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("smtp_security"), "{e}");
    }

    #[test]
    fn env_overrides_file() {
        let c = load_str("http_listen = \"127.0.0.1:1\"\n", &[("MAST_HTTP_LISTEN", "127.0.0.1:2")]).unwrap();
        assert_eq!(c.http_listen.port(), 2);
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_str("http_listen = \"nonsense\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("http_listen"), "{e}");
        let e = load_str("no_such_key = 1\n", &[]).unwrap_err().to_string();
        assert!(e.contains("no_such_key"), "{e}");
        let e = load_str("default_probe_interval_secs = 0\n", &[]).unwrap_err().to_string();
        assert!(e.contains("default_probe_interval_secs"), "{e}");
        let e = load_str("", &[("MAST_QUIC_LISTEN", "x")]).unwrap_err().to_string();
        assert!(e.contains("MAST_QUIC_LISTEN"), "{e}");
        let e = load_str("database_url = \"mysql://x\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("database_url"), "{e}");
    }
}
