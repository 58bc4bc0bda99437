//! `mast-agent run`: probe the site's devices, append results to the spool,
//! and stream them to the controller. Four loops share the spool:
//!
//! - ping: every configured, SNMP-polled and discovered address each interval,
//!   paced by the site's packets-per-second budget;
//! - SNMP: every SNMP target (configured or discovered) each SNMP interval:
//!   poll results, station signals, interface rates, inventory changes;
//! - discovery: sweeps the site's subnets (ping + SNMP identify) and reads
//!   the agent's own ARP table, on the slow discovery interval;
//! - the link (see `link.rs`) and the spool flusher.
//!
//! Config changes (targets, intervals, credentials) apply without restart.

use crate::identity;
use crate::inventory::Tracker;
use crate::link::Link;
use crate::metrics::Metrics;
use crate::ping::Pinger;
use crate::spool::Spool;
use crate::spool::ledger::Limits;
use crate::upgrade;
use anyhow::Context;
use mast_shared::{ProbingConfig, SampleBody, SiteConfig, SnmpCredential};
use mast_upgrade_core::Action;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::now_ms;

/// Takes an exclusive lock on `state_dir/name`, waiting up to `wait` for a
/// process that is exiting to let go.
fn lock_file(state_dir: &Path, name: &str, wait: Duration) -> anyhow::Result<std::fs::File> {
    let path = state_dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let until = std::time::Instant::now() + wait;
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another mast-agent runs with the state directory {} ({} is locked)",
                state_dir.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

pub async fn run(
    state_dir: &Path,
    metrics_listen: Option<SocketAddr>,
    limits: Limits,
    guard_limits: crate::config_guard::Limits,
) -> anyhow::Result<()> {
    let trial = upgrade::in_trial();
    let mut upgrader = None;
    let _upgrade_lock = if trial {
        None
    } else {
        let lock = lock_file(state_dir, "upgrade.lock", Duration::ZERO)?;
        let mut up = upgrade::Upgrader::open(upgrade::Paths::current(state_dir).context("locating this binary")?);
        let actions = up.boot();
        if actions.contains(&Action::RunStaged) {
            // A release is staged: this process only supervises its trial.
            upgrade::supervise(&mut up, actions).await;
            return Err(upgrade::reexec(&up.paths.bin)).context("re-executing after the trial");
        }
        let mut rest = Vec::new();
        for a in actions {
            match a {
                // An install that a crash interrupted: finish it.
                Action::Install => up.install().context("finishing an interrupted install")?,
                Action::Restart => return Err(upgrade::reexec(&up.paths.bin)).context("re-executing after an install"),
                Action::Discard => up.discard(),
                other => rest.push(other),
            }
        }
        upgrader = Some((up, rest));
        Some(lock)
    };
    let _run_lock = lock_file(state_dir, "run.lock", if trial { Duration::from_secs(15) } else { Duration::ZERO })?;
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
    let configs = crate::configs::Configs::new(state_dir, guard_limits);
    let (config_rx, probing_rx) = (configs.config_tx.subscribe(), configs.probing_tx.subscribe());
    if !trial {
        // The binary on trial leaves confirmation and reverts to the known-good one.
        tokio::spawn(configs.clone().run_guard());
    }

    if let Some(addr) = metrics_listen {
        let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding metrics on {addr}"))?;
        info!(%addr, "metrics listening");
        tokio::spawn(crate::metrics::serve(l, metrics.clone()));
    }
    let (upgrade_link, upgrade_task) = match upgrader {
        Some((up, first)) => {
            let (inputs_tx, inputs_rx) = tokio::sync::mpsc::channel(8);
            let (report_tx, report_rx) = watch::channel(None);
            let (conn_tx, conn_rx) = watch::channel(None);
            let link = crate::link::LinkUpgrade {
                inputs: inputs_tx,
                report: report_rx,
                conn: conn_tx,
                keys: up.paths.keys.clone(),
            };
            let sp = spool.clone();
            let flush = move || {
                let mut g = sp.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = g.flush() {
                    warn!(error = %e, "spool flush before restart failed");
                }
            };
            (Some(link), Some(upgrade::drive(up, first, inputs_rx, conn_rx, report_tx, flush)))
        }
        None => (None, None),
    };
    if let Some(t) = upgrade_task {
        tokio::spawn(t);
    }
    // On trial, the supervisor closing our stdin (or dying) means stop.
    let stdin_closed = Arc::new(Notify::new());
    if trial {
        let n = stdin_closed.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 64];
            let mut stdin = std::io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // The pipe may come non-blocking from the supervisor's runtime.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(200))
                    }
                    Err(_) => break,
                }
            }
            n.notify_one();
        });
    }
    let link = Link {
        upgrade: upgrade_link,
        trial,
        last_rx_ms: std::sync::atomic::AtomicU64::new(0),
        agent_id: enrolled.identity.agent_id,
        boot_epoch,
        controller: enrolled.identity.controller.clone(),
        next_controller: Default::default(),
        client_config: crate::tls::link_config(&enrolled.ca_der, &enrolled.cert_der, &enrolled.key_pem)?,
        spool: spool.clone(),
        new_data: new_data.clone(),
        configs,
        state_dir: state_dir.to_owned(),
        metrics: metrics.clone(),
    };
    tokio::spawn(link.run());
    let flush_now = Arc::new(Notify::new());
    tokio::spawn(flusher(spool.clone(), flush_now.clone(), new_data.clone(), metrics.clone()));
    let pinger = Arc::new(tokio::sync::Mutex::new(Pinger::new()?));
    let shared = Shared {
        spool,
        flush_now,
        metrics,
        learned: Arc::new(Mutex::new(Learned::default())),
        tracker: Arc::new(Mutex::new(load_tracker(state_dir))),
        state_dir: state_dir.to_owned(),
    };
    tokio::spawn(snmp_loop(probing_rx.clone(), shared.clone()));
    tokio::spawn(discovery_loop(pinger.clone(), probing_rx.clone(), shared.clone()));
    if !trial {
        // systemd (Type=notify, WatchdogSec): ready now, then a ping every 10 s.
        upgrade::systemd(sd_notify::NotifyState::Ready);
        tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                upgrade::systemd(sd_notify::NotifyState::Watchdog);
            }
        });
    }
    tokio::select! {
        r = probe_loop(pinger, config_rx, probing_rx, shared) => r,
        _ = shutdown() => { info!("stopping"); Ok(()) }
        _ = stdin_closed.notified() => { info!("trial stopped by the supervisor"); Ok(()) }
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

/// What the agent learned at runtime, on top of the configured targets.
#[derive(Default)]
struct Learned {
    /// Hosts that answered a discovery sweep, and CPE addresses from station tables.
    ping: BTreeSet<IpAddr>,
    /// Devices that answered an SNMP identify in a sweep, with the credential.
    snmp: BTreeMap<SocketAddr, u16>,
}

#[derive(Clone)]
struct Shared {
    spool: Arc<Mutex<Spool>>,
    flush_now: Arc<Notify>,
    metrics: Arc<Metrics>,
    learned: Arc<Mutex<Learned>>,
    tracker: Arc<Mutex<Tracker>>,
    state_dir: std::path::PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn push(&self, ts: i64, bodies: impl IntoIterator<Item = SampleBody>) {
        let mut g = lock(&self.spool);
        let now = now_ms() as u64;
        for b in bodies {
            g.push(ts, b, now);
        }
        drop(g);
        self.flush_now.notify_one();
    }

    /// Passes records through the change tracker; spools the changed ones and
    /// persists the tracker when anything changed.
    fn inventory(&self, ts: i64, records: Vec<mast_shared::InventoryRecord>) {
        let (changed, json) = {
            let mut t = lock(&self.tracker);
            let changed: Vec<_> = records.into_iter().filter_map(|r| t.observe(r)).collect();
            (changed, t.take_dirty().then(|| t.to_json()))
        };
        if changed.is_empty() {
            return;
        }
        self.metrics.inventory_changes.fetch_add(changed.len() as u64, Relaxed);
        self.push(ts, changed.into_iter().map(SampleBody::Inventory));
        if let Some(json) = json
            && let Err(e) = identity::write_atomic(&self.state_dir.join("inventory.json"), &json, 0o644)
        {
            warn!(error = %e, "cannot save inventory state; unchanged records may be resent after a restart");
        }
    }
}

fn load_tracker(dir: &Path) -> Tracker {
    std::fs::read(dir.join("inventory.json")).map(|b| Tracker::from_json(&b)).unwrap_or_default()
}

const DEFAULT_PING_RATE: u32 = crate::ping::DEFAULT_RATE_PPS;

async fn probe_loop(
    pinger: Arc<tokio::sync::Mutex<Pinger>>,
    mut config_rx: watch::Receiver<Option<SiteConfig>>,
    probing_rx: watch::Receiver<Option<ProbingConfig>>,
    sh: Shared,
) -> anyhow::Result<()> {
    loop {
        let cfg = config_rx.borrow_and_update().clone();
        let Some(cfg) = cfg else {
            info!("no site config yet; waiting for the controller");
            let _ = config_rx.changed().await;
            continue;
        };
        let interval = Duration::from_millis(cfg.interval_ms.max(1000) as u64);
        let timeout = Duration::from_millis(cfg.timeout_ms.clamp(10, 60_000) as u64);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = config_rx.changed() => break,
            }
            // Configured targets first, then SNMP targets and what discovery
            // and station tables found; each address once.
            let (rate, mut targets) = {
                let p = probing_rx.borrow();
                let rate = p.as_ref().map_or(DEFAULT_PING_RATE, |p| p.ping_rate_pps.max(1));
                let snmp: Vec<IpAddr> = p.iter().flat_map(|p| p.snmp_targets.iter().map(|t| t.addr.ip())).collect();
                (rate, cfg.targets.iter().map(|t| t.addr).chain(snmp).collect::<Vec<_>>())
            };
            {
                let l = lock(&sh.learned);
                targets.extend(l.ping.iter().copied());
                targets.extend(l.snmp.keys().map(|a| a.ip()));
            }
            let mut seen = BTreeSet::new();
            targets.retain(|a| seen.insert(*a));
            let ts = now_ms();
            let results = {
                let mut p = pinger.lock().await;
                p.retain(&targets);
                p.round_paced(&targets, timeout, rate).await
            };
            let lost = results.iter().filter(|(_, r)| r.is_none()).count() as u64;
            sh.metrics.probes.fetch_add(results.len() as u64, Relaxed);
            sh.metrics.probes_lost.fetch_add(lost, Relaxed);
            sh.push(
                ts,
                results.into_iter().map(|(addr, rtt)| SampleBody::Ping {
                    target: addr,
                    rtt_us: rtt.map(|d| d.as_micros().min(u32::MAX as u128) as u32),
                }),
            );
        }
    }
}

/// Waits until a probing config is present; returns a copy.
async fn wait_probing(rx: &mut watch::Receiver<Option<ProbingConfig>>) -> ProbingConfig {
    loop {
        if let Some(p) = rx.borrow_and_update().clone() {
            return p;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn snmp_loop(mut probing_rx: watch::Receiver<Option<ProbingConfig>>, sh: Shared) {
    let mut poller = crate::snmp::Poller::new(crate::snmp::PollOptions::default());
    loop {
        let p = wait_probing(&mut probing_rx).await;
        let mut tick = tokio::time::interval(Duration::from_millis(u64::from(p.snmp_interval_ms.max(1000))));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = probing_rx.changed() => { if r.is_err() { return; } break; }
            }
            let targets = snmp_targets(&p, &lock(&sh.learned));
            if targets.is_empty() {
                continue;
            }
            let keep: Vec<SocketAddr> = targets.iter().map(|t| t.0).collect();
            poller.forget(&keep);
            let ts = now_ms();
            let polls = poller.poll_all(&targets).await;
            let mut bodies = Vec::new();
            let mut records = Vec::new();
            let mut station_ips = Vec::new();
            {
                let mut t = lock(&sh.tracker);
                for poll in &polls {
                    sh.metrics.snmp_polls.fetch_add(1, Relaxed);
                    if poll.outcome != mast_shared::SnmpOutcome::Ok {
                        sh.metrics.snmp_errors.fetch_add(1, Relaxed);
                    }
                    let obs = crate::inventory::observe_poll(poll);
                    for (iface, base) in &obs.aliases {
                        t.alias(*iface, *base);
                    }
                    bodies.extend(obs.samples);
                    records.extend(obs.records);
                    station_ips.extend(obs.station_ips);
                }
            }
            sh.push(ts, bodies);
            sh.inventory(ts, records);
            lock(&sh.learned).ping.extend(station_ips);
        }
    }
}

/// SNMP targets of a round: configured ones with their credential, then the
/// ones discovery found. A target whose credential index is out of range is
/// skipped (the controller validates, but the agent never trusts).
fn snmp_targets(p: &ProbingConfig, learned: &Learned) -> Vec<(SocketAddr, SnmpCredential)> {
    let mut out: Vec<(SocketAddr, SnmpCredential)> = Vec::new();
    let configured = p.snmp_targets.iter().map(|t| (t.addr, t.credential));
    for (addr, cred) in configured.chain(learned.snmp.iter().map(|(a, c)| (*a, *c))) {
        if out.iter().any(|(a, _)| *a == addr) {
            continue;
        }
        if let Some(c) = p.credentials.get(usize::from(cred)) {
            out.push((addr, c.clone()));
        }
    }
    out
}

async fn discovery_loop(
    pinger: Arc<tokio::sync::Mutex<Pinger>>,
    mut probing_rx: watch::Receiver<Option<ProbingConfig>>,
    sh: Shared,
) {
    loop {
        let p = wait_probing(&mut probing_rx).await;
        let period = Duration::from_millis(u64::from(p.discovery_interval_ms.max(60_000)));
        // First sweep soon after start or a config change, then on the slow schedule.
        let mut next = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                r = probing_rx.changed() => { if r.is_err() { return; } break; }
            }
            next += period;
            let ts = now_ms();
            let found = crate::discovery::sweep(&pinger, &p).await;
            sh.metrics.discovered_hosts.store(found.alive.len() as u64, Relaxed);
            info!(alive = found.alive.len(), snmp = found.snmp.len(), "discovery sweep done");
            {
                let mut l = lock(&sh.learned);
                l.ping.extend(found.alive.iter().copied());
                l.snmp.extend(found.snmp.iter().map(|(a, c)| (*a, *c)));
            }
            let arp = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
            let records = crate::inventory::parse_proc_arp(&arp)
                .into_iter()
                .map(|(ip, mac)| crate::inventory::neighbour_record(ip, mac));
            sh.inventory(ts, records.collect());
        }
    }
}
