//! The outage shell around the pure [`correlator`](super::correlator): ingest
//! hands it what each committed batch showed (ping and SNMP reachability,
//! the newest sample time) and link up/down events; a worker feeds the
//! correlator, ticks it, and applies its actions to `incidents` and
//! `incident_devices` (upserts by incident id: applying twice is harmless),
//! persisting the correlator's state in `correlator_state` in the same
//! transaction, so a restart resumes mid-outage. Owns those three tables.
//!
//! The topology comes from the database: sites with an agent that has
//! connected, and their devices with `parent_id` (learned from station tables)
//! as the single parent; a device nobody has probed yet is transparent.
//! Tickets and notifications build on the incidents (tickets issue).

use super::correlator::{Action, Config, Correlator, DeviceKind, DeviceSpec, Incident, Probe, Root, SiteId, Topology};
use crate::db::{Db, DbError, now_ms};
use serde::Serialize;
use sqlx::Row;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

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
    pub notify: crate::notify::Transports,
    /// The operator's zone, for times in notices.
    pub tz: jiff::tz::TimeZone,
}

impl Default for OutageSettings {
    fn default() -> Self {
        OutageSettings {
            correlator: Config::default(),
            tick: Duration::from_secs(2),
            topology_every: Duration::from_secs(15),
            notify: Default::default(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }
}

/// Starts the worker; returns the feed ingest writes to.
pub fn spawn(db: Db, settings: OutageSettings) -> OutageFeed {
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(async move {
        if let Err(e) = run(db, settings, rx).await {
            warn!(error = %e, "outage worker stopped");
        }
    });
    OutageFeed { tx }
}

async fn load(db: &Db, config: &Config) -> Result<Correlator, DbError> {
    let row = sqlx::query("SELECT state FROM correlator_state WHERE name = 'outages'").fetch_optional(&db.pool).await?;
    let Some(row) = row else { return Ok(Correlator::new(config.clone())) };
    match serde_json::from_str::<Correlator>(&row.try_get::<String, _>("state")?) {
        Ok(c) => Ok(c),
        Err(e) => {
            warn!(error = %e, "correlator state unreadable; starting fresh (open incidents stay as stored)");
            Ok(Correlator::new(config.clone()))
        }
    }
}

async fn run(db: Db, settings: OutageSettings, mut rx: mpsc::Receiver<Event>) -> Result<(), DbError> {
    let mut corr = load(&db, &settings.correlator).await?;
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
            match topology(&db).await {
                Ok(t) => corr.set_topology(t),
                Err(e) => warn!(error = %e, "cannot read the topology; keeping the last one"),
            }
            match super::windows::correlator_windows(&db, now_ms()).await {
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
            if let Err(e) = apply(&db, &settings, &corr, &actions).await {
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

/// Sites whose agent has connected at least once, and their devices.
async fn topology(db: &Db) -> Result<Topology, DbError> {
    let sites: Vec<SiteId> = sqlx::query(
        "SELECT DISTINCT site_id FROM agents WHERE status = 'active' AND connected_ms IS NOT NULL ORDER BY site_id",
    )
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.try_get("site_id"))
    .collect::<Result<_, _>>()?;
    let rows = sqlx::query("SELECT id, site_id, parent_id, kind, last_sample_ms, snmp_ms FROM devices ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    let mut devices = Vec::with_capacity(rows.len());
    for r in rows {
        let site: SiteId = r.try_get("site_id")?;
        if !sites.contains(&site) {
            continue;
        }
        let kind = match r.try_get::<Option<String>, _>("kind")?.as_deref() {
            Some("ap") => DeviceKind::Ap,
            Some("cpe") => DeviceKind::Cpe,
            Some("backhaul") => DeviceKind::Backhaul,
            Some("router") => DeviceKind::Router,
            Some("switch") => DeviceKind::Switch,
            _ => DeviceKind::Other,
        };
        devices.push(DeviceSpec {
            id: r.try_get("id")?,
            site,
            parents: r.try_get::<Option<i64>, _>("parent_id")?.into_iter().collect(),
            kind,
            ping: r.try_get::<Option<i64>, _>("last_sample_ms")?.is_some(),
            snmp: r.try_get::<Option<i64>, _>("snmp_ms")?.is_some(),
        });
    }
    Ok(Topology { sites, devices })
}

fn root_cols(root: &Root) -> (&'static str, Option<i64>, Option<i64>) {
    match root {
        Root::Controller => ("controller", None, None),
        Root::Site(s) => ("site", None, Some(*s)),
        Root::Device(d) => ("device", Some(*d), None),
    }
}

async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    i: &Incident,
    ended: Option<i64>,
    superseded_by: Option<i64>,
) -> Result<(), DbError> {
    let (kind, dev, site) = root_cols(&i.root);
    let site = site.or_else(|| i.sites.iter().next().copied());
    sqlx::query(
        "INSERT INTO incidents (id, root_kind, root_device_id, root_site_id, started_ms, opened_ms, ended_ms, flapping, \
         superseded_by, device_count, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET ended_ms = excluded.ended_ms, flapping = excluded.flapping, \
         superseded_by = excluded.superseded_by, device_count = excluded.device_count, updated_ms = excluded.updated_ms, \
         started_ms = excluded.started_ms",
    )
    .bind(i.id as i64)
    .bind(kind)
    .bind(dev)
    .bind(site)
    .bind(i.start)
    .bind(i.opened_at)
    .bind(ended)
    .bind(i64::from(i.flapping))
    .bind(superseded_by)
    .bind(i.devices.len() as i64)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM incident_devices WHERE incident_id = $1").bind(i.id as i64).execute(&mut **tx).await?;
    for d in &i.devices {
        sqlx::query("INSERT INTO incident_devices (incident_id, device_id) VALUES ($1, $2)")
            .bind(i.id as i64)
            .bind(d)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn apply(db: &Db, settings: &OutageSettings, corr: &Correlator, actions: &[Action]) -> Result<(), DbError> {
    use crate::notify::{OutagePhase, outage_notices};
    let (notify, tz) = (&settings.notify, &settings.tz);
    let mut tx = db.pool.begin().await?;
    // Customer-facing incidents carry exactly one ticket; internal alerts none.
    for a in actions {
        match a {
            Action::Open(i) | Action::Reopen(i) | Action::Update(i) | Action::InternalAlertOpen(i) => {
                if matches!(a, Action::Open(_) | Action::InternalAlertOpen(_)) {
                    info!(incident = i.id, root = ?i.root, devices = i.devices.len(), "incident opened");
                }
                upsert(&mut tx, i, i.end, None).await?;
                match a {
                    Action::Open(_) | Action::Reopen(_) => {
                        let subject = subject(&mut tx, i).await?;
                        let t = crate::tickets::outage_opened(&mut tx, i.id as i64, &subject).await?;
                        outage_notices(&mut tx, notify, tz, i.id as i64, Some(t), i.start, OutagePhase::Start).await?;
                    }
                    Action::Update(_) => {
                        let t = crate::tickets::outage_updated(&mut tx, i.id as i64).await?;
                        // Customers who joined the outage are told too (once).
                        outage_notices(&mut tx, notify, tz, i.id as i64, t, i.start, OutagePhase::Start).await?;
                    }
                    _ => {}
                }
            }
            Action::Resolve { incident: i, duration_ms } | Action::InternalAlertResolve { alert: i, duration_ms } => {
                info!(incident = i.id, duration_s = duration_ms / 1000, "incident resolved");
                upsert(&mut tx, i, Some(i.end.unwrap_or(i.start + duration_ms)), None).await?;
                if matches!(a, Action::Resolve { .. }) {
                    let why = format!("Service restored after {}.", human_duration(*duration_ms));
                    let t = crate::tickets::outage_resolved(&mut tx, i.id as i64, &why).await?;
                    let phase = OutagePhase::Recovery { duration_ms: *duration_ms };
                    outage_notices(&mut tx, notify, tz, i.id as i64, t, i.start, phase).await?;
                }
            }
            Action::Supersede { incident: i, by } => {
                upsert(&mut tx, i, Some(i.end.unwrap_or_else(now_ms)), Some(*by as i64)).await?;
                let why = format!("Merged into incident #{by}: the cause is upstream; that ticket follows it.");
                crate::tickets::outage_resolved(&mut tx, i.id as i64, &why).await?;
            }
        }
    }
    let state = serde_json::to_string(corr).map_err(|e| DbError::Invalid(format!("correlator state: {e}")))?;
    sqlx::query(
        "INSERT INTO correlator_state (name, state, updated_ms) VALUES ('outages', $1, $2) \
         ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
    )
    .bind(state)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// "Outage: ap-north (4 devices)" or "Site north-ridge unreachable".
async fn subject(tx: &mut sqlx::Transaction<'_, sqlx::Any>, i: &Incident) -> Result<String, DbError> {
    Ok(match i.root {
        Root::Device(d) => {
            let name: Option<String> = sqlx::query("SELECT COALESCE(name, addr) AS n FROM devices WHERE id = $1")
                .bind(d)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("n"))
                .transpose()?;
            format!("Outage: {} ({} devices)", name.unwrap_or_else(|| format!("device {d}")), i.devices.len())
        }
        Root::Site(s) => {
            let name: Option<String> = sqlx::query("SELECT name FROM sites WHERE id = $1")
                .bind(s)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("name"))
                .transpose()?;
            format!("Site {} unreachable", name.unwrap_or_else(|| format!("#{s}")))
        }
        Root::Controller => "Many agents silent at once (controller side)".into(),
    })
}

pub use mast_text_core::when::human_duration;

/// An incident as pages and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    pub id: i64,
    /// `device`, `site` or `controller`.
    pub root_kind: String,
    pub root_device_id: Option<i64>,
    /// Name or address of the root device, or the site name.
    pub root_name: Option<String>,
    pub site_id: Option<i64>,
    pub site: Option<String>,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub flapping: bool,
    pub superseded_by: Option<i64>,
    pub device_count: i64,
    /// Customers served by the affected devices.
    pub customer_count: i64,
}

fn view(r: &sqlx::any::AnyRow) -> Result<IncidentView, sqlx::Error> {
    Ok(IncidentView {
        id: r.try_get("id")?,
        root_kind: r.try_get("root_kind")?,
        root_device_id: r.try_get("root_device_id")?,
        root_name: r.try_get("root_name")?,
        site_id: r.try_get("root_site_id")?,
        site: r.try_get("site")?,
        started_ms: r.try_get("started_ms")?,
        ended_ms: r.try_get("ended_ms")?,
        flapping: r.try_get::<i64, _>("flapping")? != 0,
        superseded_by: r.try_get("superseded_by")?,
        device_count: r.try_get("device_count")?,
        customer_count: r.try_get("customer_count")?,
    })
}

const VIEW_SQL: &str = "SELECT i.id, i.root_kind, i.root_device_id, COALESCE(d.name, d.addr, s.name) AS root_name, \
    i.root_site_id, s.name AS site, i.started_ms, i.ended_ms, i.flapping, i.superseded_by, i.device_count, \
    (SELECT COUNT(DISTINCT cd.customer_id) FROM incident_devices x JOIN devices dd ON dd.id = x.device_id \
     JOIN customer_devices cd ON cd.mac = dd.mac WHERE x.incident_id = i.id) AS customer_count \
    FROM incidents i LEFT JOIN devices d ON d.id = i.root_device_id LEFT JOIN sites s ON s.id = i.root_site_id";

/// Open incidents first (newest first), then the latest closed ones.
pub async fn list(db: &Db, open_only: bool, limit: i64) -> Result<Vec<IncidentView>, DbError> {
    let filter = if open_only { "WHERE i.ended_ms IS NULL" } else { "" };
    let sql = format!("{VIEW_SQL} {filter} ORDER BY (i.ended_ms IS NULL) DESC, i.started_ms DESC LIMIT $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(view).collect::<Result<_, _>>().map_err(Into::into)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<IncidentView>, DbError> {
    let sql = format!("{VIEW_SQL} WHERE i.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(view).transpose().map_err(Into::into)
}

/// The affected devices of an incident.
pub async fn devices_of(db: &Db, id: i64) -> Result<Vec<i64>, DbError> {
    Ok(sqlx::query("SELECT device_id FROM incident_devices WHERE incident_id = $1 ORDER BY device_id")
        .bind(id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get("device_id"))
        .collect::<Result<_, _>>()?)
}

/// Open incidents that include a device.
pub async fn open_for_device(db: &Db, device_id: i64) -> Result<Vec<IncidentView>, DbError> {
    let sql = format!(
        "{VIEW_SQL} WHERE i.ended_ms IS NULL AND i.id IN (SELECT incident_id FROM incident_devices WHERE device_id = $1) \
         ORDER BY i.started_ms"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).fetch_all(&db.pool).await?;
    rows.iter().map(view).collect::<Result<_, _>>().map_err(Into::into)
}

/// Open customer-facing incidents that touch one of the customer's radios.
pub async fn open_for_customer(db: &Db, customer_id: i64) -> Result<Vec<IncidentView>, DbError> {
    let sql = format!(
        "{VIEW_SQL} WHERE i.ended_ms IS NULL AND i.root_kind <> 'controller' AND i.id IN \
         (SELECT x.incident_id FROM incident_devices x JOIN devices dd ON dd.id = x.device_id \
          JOIN customer_devices cd ON cd.mac = dd.mac WHERE cd.customer_id = $1) ORDER BY i.started_ms"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id).fetch_all(&db.pool).await?;
    rows.iter().map(view).collect::<Result<_, _>>().map_err(Into::into)
}
