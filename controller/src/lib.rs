//! The Mast controller assembled: [`serve`] wires the typed stores
//! (`mast-store`), the services and workers (`mast-app`) and the web layer
//! (`mast-web`); the binary in `main.rs` is a CLI over it, and [`demo`] runs
//! it with local agents.

pub mod demo;

// The layers under their domain names, for the CLI, the benches and the tests.
pub use mast_app::dispatch as dispatch_service;
pub use mast_app::stock as stock_worker;
pub use mast_app::{billing, config, ingest, mail, metrics, notify, outages, pki, releases, rollouts};
pub use mast_store::{
    audit, auth, customers, db, dispatch, fleet, leases, monitoring, outbox, partitions, portal, rollup, staff, stock,
    tickets,
};
pub use mast_web as web;

pub use mast_app::{App, Settings, Shutdown};

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

/// Runs the controller until `signal` resolves (or the App's shutdown is
/// triggered), then shuts down gracefully: no new connections or passes; the
/// ingest batch in flight commits and is acknowledged, the outbox finishes
/// the message in hand, each worker stops at a safe point; then HTTP drains.
pub async fn serve(
    cfg: config::Config,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    ready: Option<tokio::sync::oneshot::Sender<Addresses>>,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut app = App::open(&cfg).await?;
    app.restartable = true;
    serve_app(app, signal, ready).await
}

/// [`serve`] with an [`App`] already built.
pub async fn serve_app(
    app: App,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    ready: Option<tokio::sync::oneshot::Sender<Addresses>>,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One controller per SQLite file: held until this returns.
    let _single = mast_app::single::hold(&app.config.database_url())?;
    first_run_admin(&app).await?;
    let s = app.settings.clone();
    let endpoint = quinn::Endpoint::server(ingest::server_config(&app.pki)?, s.agents.listen)
        .with_context(|| format!("binding QUIC on {}", s.agents.listen))?;
    let http = tokio::net::TcpListener::bind(s.http.listen)
        .await
        .with_context(|| format!("binding HTTP on {}", s.http.listen))?;
    let addrs = Addresses { http: http.local_addr()?, quic: endpoint.local_addr()? };
    let run_dir = s.data_dir.join("run");
    std::fs::create_dir_all(&run_dir)?;
    std::fs::write(run_dir.join("addresses.json"), serde_json::to_vec(&addrs)?)?;
    tracing::info!(http = %addrs.http, quic = %addrs.quic, ca_fingerprint = %app.pki.ca_fingerprint(), backend = ?app.db.backend, "controller listening");

    // systemd (Type=notify, WatchdogSec): ready once listening, then a ping
    // every 10 s (no-ops when not started by systemd).
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    app.shutdown.spawn({
        let stop = app.shutdown.clone();
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = tick.tick() => { let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]); }
                    _ = stop.cancelled() => return,
                }
            }
        }
    });
    // The run-once workers' leases: taken before the workers start (on a
    // single controller, all of them at once), renewed until shutdown.
    app.leases.renew(&app.db).await;
    app.shutdown.spawn(app.leases.clone().run(app.db.clone(), app.shutdown.clone()));
    let outages = mast_app::workers::start(&app);
    let (ctl_tx, ctl_rx) = watch::channel(Arc::new(fleet::control_snapshot(&app.db).await?));
    app.shutdown.spawn(ingest::watch_control(app.db.clone(), ctl_tx, app.shutdown.clone()));
    let ingest = ingest::Ingest {
        outages,
        db: app.db.clone(),
        pki: app.pki.clone(),
        metrics: app.metrics.clone(),
        control: ctl_rx,
        cert_validity: s.agents.cert_validity,
        shutdown: app.shutdown.clone(),
        links: Default::default(),
        releases: Arc::new(mast_app::releases::Distribution::new(
            s.agents.release_rate_per_agent,
            s.agents.release_rate_total,
        )),
        writer: ingest::Writer::spawn(app.db.clone()),
    };
    app.shutdown.spawn(ingest::run(endpoint.clone(), ingest));
    let router = web::router(web::AppState::new(app.clone(), addrs.http, addrs.quic.port()));
    let limits = web::server::Limits {
        max_connections: s.http.max_connections,
        max_connections_per_ip: s.http.max_connections_per_ip,
        header_timeout: s.http.header_timeout,
        request_timeout: s.http.request_timeout,
        trusted_proxies: s.http.trusted_proxies.clone(),
    };
    let (stop, metrics) = (app.shutdown.clone(), app.metrics.clone());
    let refused = move || metrics::Metrics::inc(&metrics.http_refused);
    let http_task = tokio::spawn(web::server::serve(
        http,
        router,
        limits,
        async move { stop.cancelled().await },
        Duration::from_secs(5),
        refused,
    ));
    if let Some(r) = ready {
        let _ = r.send(addrs);
    }
    tokio::select! {
        _ = signal => {}
        _ = app.shutdown.cancelled() => {}
    }
    tracing::info!("shutting down");
    if !app.shutdown.drain(Duration::from_secs(20)).await {
        tracing::warn!("some tasks did not stop within 20 s");
    }
    endpoint.close(quinn::VarInt::from_u32(ingest::close::SHUTDOWN), b"controller shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(6), http_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    app.db.pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// With no staff account yet, creates `admin@localhost` with a random
/// password written to `<data_dir>/initial-admin-password` (mode 0600); the
/// log names the file, never the password.
pub async fn first_run_admin(app: &App) -> anyhow::Result<()> {
    let db = &app.db;
    if staff::count_users(db).await? > 0 {
        return Ok(());
    }
    let password = fleet::random_secret("");
    staff::add_user(db, "admin@localhost", staff::Role::Admin, &password).await?;
    let path = app.settings.data_dir.join("initial-admin-password");
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

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: both shut down gracefully. The
/// handlers are installed when this is called (not when first polled), so a
/// signal during start-up is not lost to the default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait(term.take()) => {}
            _ = wait(int.take()) => {}
        }
    }
}
