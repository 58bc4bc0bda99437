//! The [`App`] context, built once from the configuration and shared by
//! `serve`, every CLI command, the demo and the tests (the shape of
//! realworld-axum-sqlx's `ApiContext`): the database, the controller CA, the
//! per-domain [`Settings`], the outbox transports, the payment provider, the
//! metrics and the one [`Shutdown`] signal.
//!
//! [`Settings::from_config`] is where the configuration's plain values become
//! the domains' own settings (the SLA policy, the dunning steps, the operator
//! printed on invoices, the mail servers, ...): once, before any port is
//! bound, with errors naming the key. Each domain is then handed only its
//! section.

use crate::billing::documents::Operator;
use crate::config::{Config, ConfigError, Secret};
use crate::mail::{ImapConfig, Security, SmtpConfig};
use crate::metrics::Metrics;
use crate::notify::{self, Transports};
use crate::pki::Pki;
use crate::shutdown::Shutdown;
use anyhow::Context as _;
use mast_billing_core::provider::PaymentProvider;
use mast_ops_core::correlator;
use mast_ops_core::sla::{BusinessCalendar, Targets};
use mast_store::billing::collections;
use mast_store::db::Db;
use mast_store::outbox::Channels;
use mast_store::rollup::Retention;
use mast_store::staff::SessionPolicy;
use mast_store::tickets::Desk;
use mast_store::tickets::escalation::SlaPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The configuration turned into what each domain needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    /// The operator's time zone, and its IANA name.
    pub tz: jiff::tz::TimeZone,
    pub timezone: String,
    pub http: HttpSettings,
    pub agents: AgentSettings,
    pub monitoring: MonitoringSettings,
    pub support: SupportSettings,
    pub notify: NotifySettings,
    pub billing: BillingSettings,
    pub alerts: AlertConfig,
    pub stock: StockSettings,
    pub dispatch: DispatchSettings,
    /// `[cluster] lease_secs`: how long a run-once worker's lease lasts.
    pub lease_ttl: Duration,
}

/// Dispatch (`[dispatch]`).
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub driving: mast_dispatch_core::geo::Driving,
    pub osrm_url: Option<String>,
    pub plan_iterations: usize,
    pub notify_customers: bool,
}

/// Inventory reconciliation (`[stock]`).
#[derive(Debug, Clone)]
pub struct StockSettings {
    pub reconcile_every: Duration,
    /// An installed unit unseen this long is silent.
    pub stale_after_ms: i64,
    /// Local hour of the admins' daily summary.
    pub summary_hour: i8,
}

/// Staff alerting (`[alerts]`).
#[derive(Debug, Clone)]
pub struct AlertConfig {
    pub on_call_group: Option<String>,
    pub escalation_group: Option<String>,
    pub escalate_after: Duration,
    pub rules_every: Duration,
    pub webhook: Option<(String, Option<Secret>)>,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Base URL for links in emails; `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    pub cookie_secure: bool,
    pub sessions: SessionPolicy,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// Reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub listen: SocketAddr,
    pub enroll_token_ttl: Duration,
    pub cert_validity: Duration,
    pub offline_after: Duration,
    /// Release download pacing, bytes per second: per agent and in total.
    pub release_rate_per_agent: u64,
    pub release_rate_total: u64,
    pub rollout_max_failure_pct: u8,
}

#[derive(Debug, Clone)]
pub struct MonitoringSettings {
    /// Probe interval and ping timeout of a new site, ms.
    pub default_interval_ms: i64,
    pub default_timeout_ms: i64,
    pub retention: Retention,
    pub rollup_every: Duration,
    pub correlator: correlator::Config,
    /// Map tile URL template (`""`: no tiles) and its origin (for the CSP).
    pub map_tile_url: String,
    pub map_tile_origin: Option<String>,
    /// Credit for the tiles, shown on the map.
    pub map_attribution: String,
}

#[derive(Debug, Clone)]
pub struct SupportSettings {
    pub sla: SlaPolicy,
    pub sla_check_every: Duration,
    /// The domain of the sender address (for Message-IDs).
    pub mail_domain: String,
    /// Email intake, if configured.
    pub imap: Option<ImapConfig>,
}

#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub every: Duration,
    pub smtp: Option<SmtpConfig>,
    pub sms_webhook: Option<(String, Option<Secret>)>,
}

#[derive(Debug, Clone)]
pub struct BillingSettings {
    pub auto_run: bool,
    pub check_every: Duration,
    pub dunning: collections::Settings,
    /// Largest payment and charge accepted at input.
    pub limits: mast_store::billing::store::AmountLimits,
    pub operator: Operator,
    pub stripe_key: Option<Secret>,
    pub stripe_api_base: Option<String>,
    pub stripe_webhook_secret: Option<Secret>,
}

fn invalid(key: &'static str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid { key, problem: problem.to_string() }
}

fn security(s: &str) -> Security {
    match s {
        "none" => Security::None,
        "starttls" => Security::Starttls,
        _ => Security::Tls,
    }
}

impl Settings {
    /// Parses and checks everything the domains read from the configuration.
    pub fn from_config(cfg: &Config) -> Result<Settings, ConfigError> {
        let tz = jiff::tz::TimeZone::get(&cfg.timezone)
            .map_err(|e| invalid("timezone", format!("{:?} is not a known IANA time zone ({e})", cfg.timezone)))?;
        let s = &cfg.support;
        let mut holidays = Vec::with_capacity(s.holidays.len());
        for h in &s.holidays {
            holidays.push(
                mast_store::billing::store::parse_date("holiday", h)
                    .map_err(|_| invalid("support.holidays", format!("{h:?} is not a date (YYYY-MM-DD)")))?,
            );
        }
        let holiday_refs: Vec<&str> = s.holidays.iter().map(String::as_str).collect();
        let calendar =
            BusinessCalendar::parse(&cfg.timezone, &s.hours, &holiday_refs).map_err(|e| invalid("support.hours", e))?;
        let targets = Targets::parse(&s.sla_targets).map_err(|e| invalid("support.sla_targets", e))?;
        let b = &cfg.billing;
        collections::parse_steps(&b.dunning_steps, mast_billing_core::money::Currency::USD)
            .map_err(|e| invalid("billing.dunning_steps", e))?;
        let m = &cfg.monitoring;
        let mail = &cfg.mail;
        let smtp = mail.smtp.host.clone().map(|host| SmtpConfig {
            host,
            port: Some(mail.smtp.port),
            security: security(&mail.smtp.security),
            username: mail.smtp.username.clone(),
            password: mail.smtp.password.clone(),
            from: mail.from.clone(),
            reply_to: None,
            helo_name: None,
            timeout_secs: 30,
            ca_file: None,
        });
        let imap = match (&mail.imap.host, &mail.imap.username, &mail.imap.password) {
            (Some(host), Some(username), Some(password)) => Some(ImapConfig {
                host: host.clone(),
                port: Some(mail.imap.port),
                security: security(&mail.imap.security),
                username: username.clone(),
                password: password.clone(),
                mailbox: mail.imap.mailbox.clone(),
                poll_secs: mail.imap.poll_secs,
                processed_mailbox: Some("Processed".into()),
                timeout_secs: 30,
                ca_file: None,
            }),
            _ => None,
        };
        let o = &cfg.operator;
        Ok(Settings {
            data_dir: cfg.data_dir.clone(),
            database_url: cfg.database_url(),
            tz,
            timezone: cfg.timezone.clone(),
            http: HttpSettings {
                listen: cfg.http.listen,
                public_url: cfg.http.public_url.clone(),
                cookie_secure: cfg.http.cookie_secure,
                sessions: SessionPolicy {
                    idle_ms: cfg.http.session_idle_secs as i64 * 1000,
                    absolute_ms: cfg.http.session_absolute_secs as i64 * 1000,
                },
                max_connections: cfg.http.max_connections,
                max_connections_per_ip: cfg.http.max_connections_per_ip,
                header_timeout: Duration::from_secs(cfg.http.header_timeout_secs),
                request_timeout: Duration::from_secs(cfg.http.request_timeout_secs),
                trusted_proxies: cfg.http.trusted_proxies.clone(),
            },
            agents: AgentSettings {
                listen: cfg.agents.listen,
                enroll_token_ttl: Duration::from_secs(cfg.agents.enroll_token_ttl_secs),
                cert_validity: Duration::from_secs(cfg.agents.cert_validity_secs),
                offline_after: Duration::from_secs(cfg.agents.offline_after_secs),
                release_rate_per_agent: cfg.agents.release_rate_kbps_per_agent * 1024,
                release_rate_total: cfg.agents.release_rate_kbps_total * 1024,
                rollout_max_failure_pct: cfg.agents.rollout_max_failure_pct.min(100) as u8,
            },
            monitoring: MonitoringSettings {
                default_interval_ms: m.default_probe_interval_secs as i64 * 1000,
                default_timeout_ms: m.default_probe_timeout_ms as i64,
                retention: Retention {
                    raw_days: m.raw_retention_days as i64,
                    five_min_days: m.rollup_5m_retention_days as i64,
                    hourly_days: m.rollup_1h_retention_days as i64,
                },
                rollup_every: Duration::from_secs(m.rollup_interval_secs),
                correlator: correlator::Config {
                    hold_down_ms: m.outage_hold_down_secs as i64 * 1000,
                    recovery_hold_ms: m.outage_recovery_secs as i64 * 1000,
                    agent_silence_ms: m.outage_agent_silence_secs as i64 * 1000,
                    controller_window_ms: m.outage_controller_window_secs as i64 * 1000,
                    ..Default::default()
                },
                map_tile_url: m.map_tile_url.clone(),
                map_tile_origin: crate::config::tile_origin(&m.map_tile_url)
                    .map_err(|p| invalid("monitoring.map_tile_url", p))?,
                map_attribution: m.map_attribution.clone(),
            },
            support: SupportSettings {
                sla: SlaPolicy {
                    calendar,
                    targets,
                    at_risk: s.sla_at_risk,
                    escalation_group: s.sla_escalation_group.clone(),
                },
                sla_check_every: Duration::from_secs(s.sla_check_secs),
                mail_domain: Desk::domain_of(&mail.from),
                imap,
            },
            notify: NotifySettings {
                every: Duration::from_secs(mail.notify_interval_secs),
                smtp,
                sms_webhook: cfg.sms.webhook_url.clone().map(|u| (u, cfg.sms.webhook_secret.clone())),
            },
            dispatch: DispatchSettings {
                driving: mast_dispatch_core::geo::Driving::new(cfg.dispatch.road_factor, cfg.dispatch.speed_kmh)
                    .unwrap_or_default(),
                osrm_url: cfg.dispatch.osrm_url.clone(),
                plan_iterations: cfg.dispatch.plan_iterations as usize,
                notify_customers: cfg.dispatch.notify_customers,
            },
            lease_ttl: Duration::from_secs(cfg.cluster.lease_secs),
            stock: StockSettings {
                reconcile_every: Duration::from_secs(cfg.stock.reconcile_secs),
                stale_after_ms: cfg.stock.stale_days as i64 * 86_400_000,
                summary_hour: cfg.stock.summary_hour as i8,
            },
            alerts: AlertConfig {
                on_call_group: cfg.alerts.on_call_group.clone(),
                escalation_group: cfg.alerts.escalation_group.clone(),
                escalate_after: Duration::from_secs(cfg.alerts.escalate_after_mins * 60),
                rules_every: Duration::from_secs(cfg.alerts.rules_every_secs),
                webhook: cfg.alerts.webhook_url.clone().map(|u| (u, cfg.alerts.webhook_secret.clone())),
            },
            billing: BillingSettings {
                auto_run: b.auto_run,
                check_every: Duration::from_secs(b.check_secs),
                dunning: collections::Settings {
                    steps: b.dunning_steps.clone(),
                    reconnection_fee: b.reconnection_fee.clone(),
                    holidays,
                },
                limits: mast_store::billing::store::AmountLimits {
                    max_payment_major: b.max_payment,
                    max_charge_major: b.max_charge,
                },
                operator: Operator {
                    name: o.name.clone(),
                    address: o.address.clone(),
                    email: o.email.clone(),
                    phone: o.phone.clone(),
                    tax_id: o.tax_id.clone(),
                    payment_instructions: o.payment_instructions.clone(),
                    logo: Default::default(),
                },
                stripe_key: cfg.stripe.secret_key.clone(),
                stripe_api_base: cfg.stripe.api_base.clone(),
                stripe_webhook_secret: cfg.stripe.webhook_secret.clone(),
            },
        })
    }
}

/// Everything a request, a worker or a CLI command needs, wired once.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub pki: Arc<Pki>,
    pub settings: Arc<Settings>,
    /// The outbox's delivery transports (email, SMS webhook).
    pub transports: Transports,
    /// Card/ACH payments (Stripe), if configured.
    pub payments: Option<Arc<dyn PaymentProvider>>,
    pub metrics: Arc<Metrics>,
    pub shutdown: Shutdown,
    /// Messages waiting for a channel with no transport (the staff banner).
    pub waiting: Arc<crate::notify::Waiting>,
    /// Staff changed the network (devices, parents, uplinks, sites): the
    /// outage worker re-reads the topology at its next tick instead of
    /// within `topology_every`. Call [`App::network_changed`].
    pub network: Arc<tokio::sync::Notify>,
    /// The configuration from the file and the environment, before the
    /// settings saved in the browser (the settings page checks a change
    /// against it).
    pub config: Arc<Config>,
    /// The browser-saved settings read at start (what runs; the settings
    /// page compares them with what is saved now).
    pub saved_at_start: Arc<std::collections::BTreeMap<String, String>>,
    /// `serve` can restart itself to apply saved settings (not the demo).
    pub restartable: bool,
    /// Which run-once workers this controller runs ([`crate::lease`]).
    pub leases: Arc<crate::lease::Leases>,
}

static RESTART: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks the process to start again once it has shut down (`serve` runs the
/// same command again in place: same PID, same arguments and environment).
pub fn request_restart() {
    RESTART.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`request_restart`] was called.
pub fn restart_requested() -> bool {
    RESTART.load(std::sync::atomic::Ordering::SeqCst)
}

impl App {
    /// Tells the outage worker that staff changed the network.
    pub fn network_changed(&self) {
        self.network.notify_one();
    }

    /// Builds the context: settings (every domain setting checked), the data
    /// directory (0700), the database (migrated), the CA, the transports and
    /// the payment provider.
    pub async fn open(cfg: &Config) -> anyhow::Result<App> {
        let settings = Settings::from_config(cfg)?;
        create_private_dir(&settings.data_dir)?;
        let db = Db::connect(&settings.database_url).await.context("opening the database")?;
        let saved_at_start = mast_store::settings::all(&db).await?;
        // Payments and invoices left unmatched (right after the migration
        // that introduced allocations; none in normal operation).
        let settled = mast_store::billing::allocations::settle_everyone(&db).await?;
        if settled > 0 {
            tracing::info!(customers = settled, "allocated open payments and credits to open invoices");
        }
        let settings = with_saved(cfg, &saved_at_start, settings);
        let pki = Pki::open(&db, &settings.data_dir).await.context("loading the controller CA")?;
        let exclusive = db.backend == mast_store::db::Backend::Sqlite;
        let leases =
            crate::lease::Leases::new(crate::lease::holder_id(&settings.data_dir)?, settings.lease_ttl, exclusive);
        let transports = transports(&settings, &db)?;
        let payments = payment_provider(&settings.billing)?;
        Ok(App {
            db,
            pki: Arc::new(pki),
            settings: Arc::new(settings),
            transports,
            payments,
            metrics: Arc::new(Metrics::default()),
            shutdown: Shutdown::new(),
            waiting: Arc::new(crate::notify::Waiting::new()),
            network: Arc::new(tokio::sync::Notify::new()),
            config: Arc::new(cfg.clone()),
            saved_at_start: Arc::new(saved_at_start),
            restartable: false,
            leases,
        })
    }

    /// Which channels the deciders may queue on.
    pub fn channels(&self) -> Channels {
        self.transports.channels()
    }

    /// Who hears of incidents, and how.
    pub fn alert_settings(&self) -> crate::alerts::AlertSettings {
        let a = &self.settings.alerts;
        crate::alerts::AlertSettings {
            on_call_group: a.on_call_group.clone(),
            escalation_group: a.escalation_group.clone(),
            escalate_after: a.escalate_after,
            channels: self.channels(),
        }
    }

    /// What the ticket domain needs to mail replies.
    pub fn desk(&self) -> Desk {
        Desk { notify: self.channels(), mail_domain: self.settings.support.mail_domain.clone() }
    }

    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.settings.tz
    }
}

/// The data directory, created if missing and kept private (0700): it holds
/// the CA key, the SQLite database and the first admin's password.
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// The outbox transports the configuration enables: SMTP email with
/// `mail.smtp.host`, the SMS webhook with `sms.webhook_url`.
/// The settings with those saved in the browser applied. Saved values that
/// no longer load (a config file changed under them) are logged and left
/// out: the controller still starts, on the file and the environment.
fn with_saved(cfg: &Config, saved: &std::collections::BTreeMap<String, String>, plain: Settings) -> Settings {
    if saved.is_empty() {
        return plain;
    }
    let merged = cfg.with_saved(saved, |k| std::env::var(k).ok()).map_err(anyhow::Error::from).and_then(|c| {
        let s = Settings::from_config(&c)?;
        // The mail server and webhooks must build too.
        check_transports(&s)?;
        Ok(s)
    });
    match merged {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "settings saved in the browser do not load; starting without them");
            plain
        }
    }
}

/// Checks a configuration as [`App::open`] would use it (settings and
/// transports), without opening anything.
pub fn check(cfg: &Config) -> anyhow::Result<()> {
    check_transports(&Settings::from_config(cfg)?)
}

fn check_transports(s: &Settings) -> anyhow::Result<()> {
    if let Some(smtp) = &s.notify.smtp {
        crate::mail::smtp::Mailer::new(smtp).context("outgoing mail ([mail.smtp])")?;
    }
    for (what, hook) in [("the SMS webhook", &s.notify.sms_webhook), ("the staff alert webhook", &s.alerts.webhook)] {
        if let Some((url, secret)) = hook {
            notify::WebhookTransport::new(url, secret.clone()).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        }
    }
    Ok(())
}

fn transports(s: &Settings, db: &Db) -> anyhow::Result<Transports> {
    let mut t = Transports::default();
    if let Some(smtp) = &s.notify.smtp {
        let mailer = crate::mail::smtp::Mailer::new(smtp).context("outgoing mail ([mail.smtp])")?;
        let invoices = Some((db.clone(), s.billing.operator.clone()));
        t.email = Some(Arc::new(notify::EmailTransport { mailer, invoices }));
    }
    if let Some((url, secret)) = &s.notify.sms_webhook {
        let w = notify::WebhookTransport::new(url, secret.clone()).map_err(anyhow::Error::msg)?;
        t.webhook = Some(Arc::new(w));
    }
    if let Some((url, secret)) = &s.alerts.webhook {
        let w = notify::WebhookTransport::new(url, secret.clone()).map_err(anyhow::Error::msg)?;
        t.staff_webhook = Some(Arc::new(w));
    }
    Ok(t)
}

/// The payment provider: Stripe with `stripe.secret_key`.
fn payment_provider(b: &BillingSettings) -> anyhow::Result<Option<Arc<dyn PaymentProvider>>> {
    let Some(key) = &b.stripe_key else { return Ok(None) };
    let client = crate::billing::stripe::StripeClient::new(key.expose(), b.stripe_api_base.as_deref())
        .map_err(|e| anyhow::anyhow!("stripe.secret_key / stripe.api_base: {e}"))?;
    Ok(Some(Arc::new(client)))
}
