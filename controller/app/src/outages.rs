//! The outage worker around the pure correlator (`mast_ops_core::correlator`):
//! ingest hands it what each committed batch showed (ping and SNMP
//! reachability, the newest sample time) and link up/down events through an
//! [`OutageFeed`]; the worker feeds the correlator, ticks it, re-reads the
//! topology and maintenance windows, and hands the actions to
//! [`crate::reactions::outage`], which stores them with their tickets and
//! customer notices in one transaction.
//!
//! The correlator runs on one controller, the holder of the `outages` lease
//! ([`crate::lease`]). A controller without it writes its links' events to
//! the `outage_feed` table (every second), which the holder takes each
//! tick; a controller that takes the lease loads the correlator's saved
//! state first. On one controller the events never leave memory.

use crate::lease::{Leases, name};
use crate::shutdown::Shutdown;
use mast_ops_core::correlator::{Config, Correlator, Probe, SiteId};
use mast_store::db::{Db, StoreError, now_ms};
use mast_store::monitoring::{outages as incidents, windows};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::warn;

/// What ingest reports to the outage worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Event {
    /// A committed batch of a site's agent: its fresh observations and the
    /// newest sample time (the agent's data is complete up to it).
    Batch { site: SiteId, observations: Vec<(i64, Probe, i64, bool)>, newest_ms: i64 },
    /// The agent's link came up or went down at `ts`.
    Link { site: SiteId, ts: i64, up: bool },
}

/// Cheap to clone; a full queue drops events (logged) rather than slowing ingest.
#[derive(Clone)]
pub struct OutageFeed {
    tx: mpsc::Sender<Event>,
}

impl OutageFeed {
    pub fn send(&self, e: Event) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(e) {
            warn!("outage worker is behind; an ingest event was dropped");
        }
    }
}

/// Settings of the worker (the correlator's own are in [`Config`]).
#[derive(Debug, Clone)]
pub struct OutageSettings {
    pub correlator: Config,
    /// How often the correlator is ticked.
    pub tick: Duration,
    /// How often the topology is re-read from the database.
    pub topology_every: Duration,
    /// Channels customer notices go out on (none configured: none queued).
    pub channels: mast_store::outbox::Channels,
    /// The operator's zone, for times in notices.
    pub tz: jiff::tz::TimeZone,
    /// Who on the staff hears of incidents.
    pub alerts: crate::alerts::AlertSettings,
    /// Notified when staff change the network: the topology is re-read at
    /// the next tick.
    pub network_changed: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for OutageSettings {
    fn default() -> Self {
        OutageSettings {
            correlator: Config::default(),
            tick: Duration::from_secs(2),
            topology_every: Duration::from_secs(15),
            channels: Default::default(),
            tz: jiff::tz::TimeZone::UTC,
            alerts: Default::default(),
            network_changed: Default::default(),
        }
    }
}

/// Starts the worker; returns the feed ingest writes to. The worker stops
/// at shutdown between ticks (actions already decided are stored first).
pub fn spawn(db: Db, settings: OutageSettings, shutdown: &Shutdown, leases: Arc<Leases>) -> OutageFeed {
    let (tx, rx) = mpsc::channel(4096);
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        if let Err(e) = run(db, settings, rx, stop, leases).await {
            warn!(error = %e, "outage worker stopped");
        }
    });
    OutageFeed { tx }
}

async fn run(
    db: Db,
    settings: OutageSettings,
    mut rx: mpsc::Receiver<Event>,
    stop: Shutdown,
    leases: Arc<Leases>,
) -> Result<(), StoreError> {
    loop {
        if !forward(&db, &mut rx, &stop, &leases).await || stop.is_triggered() {
            return Ok(());
        }
        let corr = loop {
            match incidents::load_correlator(&db, &settings.correlator).await {
                Ok(c) => break c,
                Err(e) => warn!(error = %e, "cannot load the correlator's state; retrying"),
            }
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        };
        if !correlate(&db, &settings, &mut rx, &stop, &leases, corr).await? || stop.is_triggered() {
            return Ok(());
        }
    }
}

/// While another controller runs the correlator: this controller's events
/// go to the `outage_feed` table, once a second. False when every event
/// sender is gone (nothing more will come).
async fn forward(db: &Db, rx: &mut mpsc::Receiver<Event>, stop: &Shutdown, leases: &Leases) -> bool {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut queued: Vec<String> = Vec::new();
    loop {
        let held = leases.held(name::OUTAGES);
        if !queued.is_empty() {
            if let Err(e) = incidents::feed_push(db, &queued).await {
                warn!(error = %e, "cannot hand correlator events to the controller running it; retrying");
            } else {
                queued.clear();
            }
        }
        if held || stop.is_triggered() {
            return true;
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tick.tick() => {}
            e = rx.recv() => {
                let Some(e) = e else {
                    if !queued.is_empty() && incidents::feed_push(db, &queued).await.is_err() {
                        warn!(events = queued.len(), "correlator events lost at shutdown");
                    }
                    return false;
                };
                queued.extend(serde_json::to_string(&e).ok());
                while let Ok(e) = rx.try_recv() {
                    queued.extend(serde_json::to_string(&e).ok());
                }
                if queued.len() > MAX_UNKNOWN {
                    warn!(events = queued.len(), "correlator events piling up; the oldest dropped");
                    queued.drain(..queued.len() - MAX_UNKNOWN);
                }
            }
        }
    }
}

/// While this controller holds the `outages` lease. False when every
/// event sender is gone.
async fn correlate(
    db: &Db,
    settings: &OutageSettings,
    rx: &mut mpsc::Receiver<Event>,
    stop: &Shutdown,
    leases: &Leases,
    mut corr: Correlator,
) -> Result<bool, StoreError> {
    let mut tick = tokio::time::interval(settings.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_topology: Option<tokio::time::Instant> = None;
    // Observations of devices the topology does not know yet (new devices):
    // kept, the topology re-read on the next tick, and then replayed.
    let mut unknown: Vec<(i64, Probe, i64, bool)> = Vec::new();
    let mut dirty = false;
    let mut last_saved = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(true),
            _ = settings.network_changed.notified() => { last_topology = None; continue; }
            _ = tick.tick() => {}
            e = rx.recv() => {
                match e {
                    None => return Ok(false),
                    Some(e) => { apply_event(&mut corr, e, &mut unknown); dirty = true; }
                }
                // Drain what else is queued before ticking.
                while let Ok(e) = rx.try_recv() {
                    apply_event(&mut corr, e, &mut unknown);
                }
                continue;
            }
        }
        if !leases.held(name::OUTAGES) {
            // Another controller took over (from our saved state).
            return Ok(true);
        }
        match incidents::feed_take(db).await {
            Ok(events) => {
                for e in events.iter().filter_map(|e| serde_json::from_str::<Event>(e).ok()) {
                    apply_event(&mut corr, e, &mut unknown);
                    dirty = true;
                }
            }
            Err(e) => warn!(error = %e, "cannot read the other controllers' correlator events"),
        }
        if !unknown.is_empty() || last_topology.is_none_or(|t| t.elapsed() >= settings.topology_every) {
            match incidents::topology(db).await {
                Ok(t) => corr.set_topology(t),
                Err(e) => warn!(error = %e, "cannot read the topology; keeping the last one"),
            }
            match windows::correlator_windows(db, now_ms()).await {
                Ok(w) => corr.set_maintenance(w),
                Err(e) => warn!(error = %e, "cannot read maintenance windows; keeping the last ones"),
            }
            last_topology = Some(tokio::time::Instant::now());
            let mut replay = std::mem::take(&mut unknown);
            replay.sort_by_key(|o| o.2);
            for (device, probe, ts, ok) in replay {
                // Still unknown after a fresh read: not a device of a site
                // with an agent; dropped.
                corr.observe(device, probe, ts, ok);
            }
        }
        let actions = corr.tick(now_ms());
        // Persist with the actions, or at least every 30 s while data flows.
        if !actions.is_empty() || (dirty && last_saved.elapsed() >= Duration::from_secs(30)) {
            if let Err(e) =
                crate::reactions::outage(db, &settings.channels, &settings.alerts, &settings.tz, &corr, &actions).await
            {
                warn!(error = %e, "cannot store incidents; retrying on the next tick");
                continue;
            }
            dirty = false;
            last_saved = tokio::time::Instant::now();
        }
    }
}

/// Most observations of not-yet-known devices kept for replay.
const MAX_UNKNOWN: usize = 100_000;

fn apply_event(corr: &mut Correlator, e: Event, unknown: &mut Vec<(i64, Probe, i64, bool)>) {
    match e {
        Event::Batch { site, observations, newest_ms } => {
            for (device, probe, ts, ok) in observations {
                if !corr.observe(device, probe, ts, ok) && unknown.len() < MAX_UNKNOWN {
                    unknown.push((device, probe, ts, ok));
                }
            }
            corr.agent_data(site, newest_ms);
        }
        Event::Link { site, ts, up } => corr.link_event(site, ts, up),
    }
}
