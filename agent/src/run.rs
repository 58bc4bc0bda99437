//! `mast-agent run`: probe the site's targets on its interval, append results
//! to the spool, and stream them to the controller.

use crate::identity;
use crate::link::Link;
use crate::metrics::Metrics;
use crate::ping::Pinger;
use crate::spool::Spool;
use crate::spool::ledger::Limits;
use anyhow::Context;
use mast_shared::{SampleBody, SiteConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub async fn run(state_dir: &Path, metrics_listen: Option<SocketAddr>, limits: Limits) -> anyhow::Result<()> {
    let enrolled = identity::load_enrollment(state_dir)?;
    let boot_epoch = identity::next_boot_epoch(state_dir)?;
    let (spool, rec) = Spool::open(&state_dir.join("spool"), boot_epoch, limits)?;
    let metrics = Arc::new(Metrics::default());
    metrics.sync_spool(&spool);
    if rec.truncated_bytes > 0 || rec.corrupt_blocks > 0 || rec.lost_keys > 0 {
        warn!(
            truncated_bytes = rec.truncated_bytes,
            corrupt_blocks = rec.corrupt_blocks,
            lost_samples = rec.lost_keys,
            "spool recovered after damage"
        );
    }
    info!(agent_id = enrolled.identity.agent_id, site = %enrolled.identity.site, boot_epoch, backlog = spool.backlog(), "agent starting");
    let spool = Arc::new(Mutex::new(spool));
    let new_data = Arc::new(Notify::new());
    let (config_tx, config_rx) = watch::channel(identity::load_config(state_dir));

    if let Some(addr) = metrics_listen {
        let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding metrics on {addr}"))?;
        info!(%addr, "metrics listening");
        tokio::spawn(crate::metrics::serve(l, metrics.clone()));
    }
    let link = Link {
        last_rx_ms: std::sync::atomic::AtomicU64::new(0),
        agent_id: enrolled.identity.agent_id,
        boot_epoch,
        controller: enrolled.identity.controller.clone(),
        client_config: crate::tls::link_config(&enrolled.ca_der, &enrolled.cert_der, &enrolled.key_pem)?,
        spool: spool.clone(),
        new_data: new_data.clone(),
        config_tx,
        state_dir: state_dir.to_owned(),
        metrics: metrics.clone(),
    };
    tokio::spawn(link.run());
    let flush_now = Arc::new(Notify::new());
    tokio::spawn(flusher(spool.clone(), flush_now.clone(), new_data.clone(), metrics.clone()));
    let pinger = Pinger::new()?;
    tokio::select! {
        r = probe_loop(pinger, config_rx, spool, flush_now, metrics) => r,
        _ = shutdown() => { info!("stopping"); Ok(()) }
    }
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// Group commit: flushes the spool when its policy says so (pending bytes or
/// age), off the async threads. A failing disk is retried, never fatal.
async fn flusher(spool: Arc<Mutex<Spool>>, wake: Arc<Notify>, new_data: Arc<Notify>, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut last_error_log = std::time::Instant::now() - Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => {}
        }
        let due = {
            let g = spool.lock().unwrap_or_else(|p| p.into_inner());
            g.flush_due(now_ms() as u64)
        };
        if !due {
            continue;
        }
        let sp = spool.clone();
        let m = metrics.clone();
        let res = tokio::task::spawn_blocking(move || {
            let mut g = sp.lock().unwrap_or_else(|p| p.into_inner());
            let r = g.flush();
            m.sync_spool(&g);
            r
        })
        .await;
        match res {
            Ok(Ok(n)) if n > 0 => new_data.notify_one(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                metrics.errors_spool.fetch_add(1, Relaxed);
                if last_error_log.elapsed() > Duration::from_secs(10) {
                    warn!(error = %e, "spool write failed; samples stay in memory and are retried");
                    last_error_log = std::time::Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => warn!(error = %e, "spool flush task failed"),
        }
    }
}

async fn probe_loop(
    mut pinger: Pinger,
    mut config_rx: watch::Receiver<Option<SiteConfig>>,
    spool: Arc<Mutex<Spool>>,
    flush_now: Arc<Notify>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    loop {
        let cfg = config_rx.borrow_and_update().clone();
        let Some(cfg) = cfg else {
            info!("no site config yet; waiting for the controller");
            let _ = config_rx.changed().await;
            continue;
        };
        let targets: Vec<IpAddr> = cfg.targets.iter().map(|t| t.addr).collect();
        pinger.retain(&targets);
        let interval = Duration::from_millis(cfg.interval_ms.max(1000) as u64);
        let timeout = Duration::from_millis(cfg.timeout_ms.clamp(10, 60_000) as u64);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = config_rx.changed() => break,
            }
            let ts = now_ms();
            let results = pinger.round(&targets, timeout).await;
            let lost = results.iter().filter(|(_, r)| r.is_none()).count() as u64;
            metrics.probes.fetch_add(results.len() as u64, Relaxed);
            metrics.probes_lost.fetch_add(lost, Relaxed);
            {
                let mut g = spool.lock().unwrap_or_else(|p| p.into_inner());
                let now = now_ms() as u64;
                for (addr, rtt) in results {
                    let rtt_us = rtt.map(|d| d.as_micros().min(u32::MAX as u128) as u32);
                    g.push(ts, SampleBody::Ping { target: addr, rtt_us }, now);
                }
            }
            flush_now.notify_one();
        }
    }
}
