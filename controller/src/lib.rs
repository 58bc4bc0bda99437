//! The Mast controller assembled: [`serve`] wires the typed stores
//! (`mast-store`), the services and workers (`mast-app`) and the web layer
//! (`mast-web`); the binary in `main.rs` is a CLI over it, and [`demo`] runs
//! it with local agents.

pub mod demo;

// The layers under their domain names, for the CLI, the benches and the tests.
pub use mast_app::{billing, config, ingest, mail, metrics, notify, outages, pki};
pub use mast_store::{audit, auth, customers, db, fleet, monitoring, outbox, portal, rollup, staff, tickets};
pub use mast_web as web;

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Where a running controller listens (written to `<data_dir>/run/addresses.json`
/// so scripts and tests can bind port 0 and still find it).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Addresses {
    pub http: SocketAddr,
    pub quic: SocketAddr,
}

/// Opens the database and the CA for one-shot CLI commands.
pub async fn open(cfg: &config::Config) -> anyhow::Result<(db::Db, pki::Pki)> {
    let db = db::Db::connect(&cfg.database_url()).await.context("opening the database")?;
    let pki = pki::Pki::load_or_create(&cfg.data_dir).context("loading the controller CA")?;
    Ok((db, pki))
}

/// Runs the controller until `shutdown` resolves.
pub async fn serve(
    cfg: config::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: Option<tokio::sync::oneshot::Sender<Addresses>>,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (db, pki) = open(&cfg).await?;
    first_run_admin(&cfg, &db).await?;
    let pki = Arc::new(pki);
    let metrics = Arc::new(metrics::Metrics::default());

    let endpoint = quinn::Endpoint::server(ingest::server_config(&pki)?, cfg.quic_listen)
        .with_context(|| format!("binding QUIC on {}", cfg.quic_listen))?;
    let http = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .with_context(|| format!("binding HTTP on {}", cfg.http_listen))?;
    let addrs = Addresses { http: http.local_addr()?, quic: endpoint.local_addr()? };
    let run_dir = cfg.data_dir.join("run");
    std::fs::create_dir_all(&run_dir)?;
    std::fs::write(run_dir.join("addresses.json"), serde_json::to_vec(&addrs)?)?;
    tracing::info!(http = %addrs.http, quic = %addrs.quic, ca_fingerprint = %pki.ca_fingerprint(), backend = ?db.backend, "controller listening");

    let tz = jiff::tz::TimeZone::get(&cfg.timezone).with_context(|| format!("time zone {:?}", cfg.timezone))?;
    let transports = notify_transports(&cfg, &db)?;
    let channels = transports.channels();
    let desk = tickets::Desk { notify: channels, mail_domain: tickets::Desk::domain_of(&cfg.mail_from) };
    let notifier =
        tokio::spawn(notify::worker(db.clone(), transports.clone(), Duration::from_secs(cfg.notify_interval_secs)));
    let sla = tokio::spawn(mast_app::workers::sla(
        db.clone(),
        desk.clone(),
        cfg.sla_policy()?,
        Duration::from_secs(cfg.sla_check_secs),
    ));
    let intake = cfg.imap_config().map(|imap| tokio::spawn(mast_app::intake::worker(db.clone(), desk.clone(), imap)));
    let invoice_mail = tokio::spawn(billing::documents::mail_worker(db.clone(), channels, Duration::from_secs(60)));
    let schedule = billing::scheduler::Schedule {
        tz: tz.clone(),
        invoice_runs: cfg.billing_auto_run,
        dunning: cfg.dunning(),
        provider: billing::autopay::provider(&cfg)?,
        channels,
        every: Duration::from_secs(cfg.billing_check_secs),
    };
    let billing_schedule = cfg.billing_auto_run.then(|| tokio::spawn(billing::scheduler::worker(db.clone(), schedule)));
    let notices =
        tokio::spawn(mast_app::workers::maintenance_notices(db.clone(), channels, tz.clone(), Duration::from_secs(60)));
    let (ctl_tx, ctl_rx) = watch::channel(Arc::new(fleet::control_snapshot(&db).await?));
    let watcher = tokio::spawn(ingest::watch_control(db.clone(), ctl_tx));
    let outages = outages::spawn(
        db.clone(),
        outages::OutageSettings {
            correlator: mast_ops_core::correlator::Config {
                hold_down_ms: cfg.outage_hold_down_secs as i64 * 1000,
                recovery_hold_ms: cfg.outage_recovery_secs as i64 * 1000,
                agent_silence_ms: cfg.outage_agent_silence_secs as i64 * 1000,
                ..Default::default()
            },
            channels,
            tz: tz.clone(),
            ..Default::default()
        },
    );
    let ingest = ingest::Ingest {
        outages,
        db: db.clone(),
        pki: pki.clone(),
        metrics: metrics.clone(),
        control: ctl_rx,
        cert_validity: Duration::from_secs(cfg.agent_cert_validity_secs),
    };
    let quic_task = tokio::spawn(ingest::run(endpoint.clone(), ingest));
    let rollups = tokio::spawn(mast_app::workers::rollups(
        db.clone(),
        Duration::from_secs(cfg.rollup_interval_secs),
        rollup::Retention {
            raw_days: cfg.raw_retention_days as i64,
            five_min_days: cfg.rollup_5m_retention_days as i64,
            hourly_days: cfg.rollup_1h_retention_days as i64,
        },
    ));
    let app = web::router(web::AppState {
        db: db.clone(),
        metrics,
        default_interval_ms: cfg.default_probe_interval_secs as i64 * 1000,
        default_timeout_ms: cfg.default_probe_timeout_ms as i64,
        sessions: staff::SessionPolicy {
            idle_ms: cfg.session_idle_secs as i64 * 1000,
            absolute_ms: cfg.session_absolute_secs as i64 * 1000,
        },
        throttle: Arc::new(std::sync::Mutex::new(web::throttle::Throttle::new(Default::default()))),
        cookie_secure: cfg.cookie_secure,
        ca_fingerprint: pki.ca_fingerprint(),
        quic_port: addrs.quic.port(),
        enroll_token_ttl_secs: cfg.enroll_token_ttl_secs,
        desk,
        timezone: cfg.timezone.clone(),
        operator: billing::documents::Operator::from_config(&cfg),
        payments: billing::autopay::provider(&cfg)?,
        stripe_webhook_secret: cfg.stripe_webhook_secret.clone(),
        sla: cfg.sla_policy()?,
        public_url: cfg.public_url.clone().unwrap_or_else(|| format!("http://{}", addrs.http)),
    });
    if let Some(r) = ready {
        let _ = r.send(addrs);
    }
    let (stop_tx, mut stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(http, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
    });
    let _ = stop_rx.wait_for(|s| *s).await;
    tracing::info!("shutting down");
    endpoint.close(quinn::VarInt::from_u32(ingest::close::SHUTDOWN), b"controller shutting down");
    watcher.abort();
    quic_task.abort();
    rollups.abort();
    notifier.abort();
    sla.abort();
    notices.abort();
    invoice_mail.abort();
    if let Some(b) = billing_schedule {
        b.abort();
    }
    if let Some(i) = intake {
        i.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), http_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    db.pool.close().await;
    Ok(())
}

/// The outbox transports the configuration enables: SMTP email with
/// `smtp_host`, the SMS webhook with `sms_webhook_url`.
pub fn notify_transports(cfg: &config::Config, db: &db::Db) -> anyhow::Result<notify::Transports> {
    let mut t = notify::Transports::default();
    if let Some(smtp) = cfg.smtp_config() {
        let mailer = mail::smtp::Mailer::new(&smtp).context("outgoing mail (smtp_*)")?;
        let invoices = Some((db.clone(), billing::documents::Operator::from_config(cfg)));
        t.email = Some(Arc::new(notify::EmailTransport { mailer, invoices }));
    }
    if let Some(url) = &cfg.sms_webhook_url {
        let w = notify::WebhookTransport::new(url, cfg.sms_webhook_secret.clone()).map_err(anyhow::Error::msg)?;
        t.webhook = Some(Arc::new(w));
    }
    Ok(t)
}

/// With no staff account yet, creates `admin@localhost` with a random
/// password written to `<data_dir>/initial-admin-password` (mode 0600); the
/// log names the file, never the password.
pub async fn first_run_admin(cfg: &config::Config, db: &db::Db) -> anyhow::Result<()> {
    if staff::count_users(db).await? > 0 {
        return Ok(());
    }
    let password = fleet::random_secret("");
    staff::add_user(db, "admin@localhost", staff::Role::Admin, &password).await?;
    let path = cfg.data_dir.join("initial-admin-password");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        writeln!(f, "{password}")?;
    }
    audit::record(
        db,
        &audit::Actor { name: "system".into(), ip: None },
        "user.add",
        "admin@localhost",
        "first-run admin",
    )
    .await?;
    tracing::warn!(file = %path.display(), "first run: created admin@localhost; its password is in this file (change it, then delete the file)");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
