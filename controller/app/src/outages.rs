//! The outage worker around the pure correlator (`mast_ops_core::correlator`):
//! ingest hands it what each committed batch showed (ping and SNMP
//! reachability, the newest sample time) and link up/down events through an
//! [`OutageFeed`]; the worker feeds the correlator, ticks it, re-reads the
//! topology and maintenance windows, and hands the actions to
//! [`crate::reactions::outage`], which stores them with their tickets and
//! customer notices in one transaction.

use crate::shutdown::Shutdown;
use mast_ops_core::correlator::{Config, Correlator, Probe, SiteId};
use mast_store::db::{Db, StoreError, now_ms};
use mast_store::monitoring::{outages as incidents, windows};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::warn;

/// What ingest reports to the outage worker.
#[derive(Debug)]
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
pub fn spawn(db: Db, settings: OutageSettings, shutdown: &Shutdown) -> OutageFeed {
    let (tx, rx) = mpsc::channel(4096);
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        if let Err(e) = run(db, settings, rx, stop).await {
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
) -> Result<(), StoreError> {
    let mut corr = incidents::load_correlator(&db, &settings.correlator).await?;
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
            _ = stop.cancelled() => return Ok(()),
            _ = settings.network_changed.notified() => { last_topology = None; continue; }
            _ = tick.tick() => {}
            e = rx.recv() => {
                match e {
                    None => return Ok(()),
                    Some(e) => { apply_event(&mut corr, e, &mut unknown); dirty = true; }
                }
                // Drain what else is queued before ticking.
                while let Ok(e) = rx.try_recv() {
                    apply_event(&mut corr, e, &mut unknown);
                }
                continue;
            }
        }
        if !unknown.is_empty() || last_topology.is_none_or(|t| t.elapsed() >= settings.topology_every) {
            match incidents::topology(&db).await {
                Ok(t) => corr.set_topology(t),
                Err(e) => warn!(error = %e, "cannot read the topology; keeping the last one"),
            }
            match windows::correlator_windows(&db, now_ms()).await {
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
                crate::reactions::outage(&db, &settings.channels, &settings.alerts, &settings.tz, &corr, &actions).await
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
