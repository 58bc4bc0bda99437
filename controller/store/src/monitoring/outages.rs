//! Incidents (tables `incidents`, `incident_devices`, `correlator_state`,
//! `outage_feed`):
//! what the outage worker (`mast_app::outages`) stores of the pure
//! [`correlator`](super::correlator)'s actions, upserted by incident id so
//! applying twice is harmless, with the correlator's state saved in the same
//! transaction (a restart resumes mid-outage); and the incidents as pages and
//! the API show them.
//!
//! The topology comes from the database: sites with an agent that has
//! connected, and their devices with `parent_id` (learned from station tables)
//! as the single parent; a device nobody has probed yet is transparent.

use super::DeviceKind;
use super::correlator::{self, Config, Correlator, DeviceSpec, Incident, Root, SiteId, Topology};
use crate::db::{Db, StoreError, Tx, now_ms};
use serde::Serialize;
use std::collections::HashMap;
use tracing::warn;

crate::text_enum! {
    /// What an incident's root cause is (`incidents.root_kind`).
    pub enum RootKind (field "root_kind") {
        /// A device (and what hangs off it) stopped answering.
        Device = "device",
        /// A site's agent went silent: its backhaul.
        Site = "site",
        /// Many agents silent at once: the controller's side (internal).
        Controller = "controller",
    }
}

/// The correlator as last saved (a fresh one when none was, or the saved
/// state is unreadable).
/// Queues correlator events (as JSON) for the controller that runs the
/// correlator, from one that does not (several controllers on one
/// database).
pub async fn feed_push(db: &Db, events: &[String]) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    for e in events {
        sqlx::query("INSERT INTO outage_feed (event) VALUES ($1)").bind(e).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Takes (and deletes) every queued correlator event, oldest first. Rows
/// another transaction has not committed yet stay for the next call.
pub async fn feed_take(db: &Db) -> Result<Vec<String>, StoreError> {
    let mut rows: Vec<(i64, String)> =
        sqlx::query_as("DELETE FROM outage_feed RETURNING id, event").fetch_all(&db.pool).await?;
    rows.sort_by_key(|r| r.0);
    Ok(rows.into_iter().map(|r| r.1).collect())
}

pub async fn load_correlator(db: &Db, config: &Config) -> Result<Correlator, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT state FROM correlator_state WHERE name = 'outages'").fetch_optional(&db.pool).await?;
    let Some((state,)) = row else { return Ok(Correlator::new(config.clone())) };
    match serde_json::from_str::<Correlator>(&state) {
        Ok(c) => Ok(c),
        Err(e) => {
            warn!(error = %e, "correlator state unreadable; starting fresh (open incidents stay as stored)");
            Ok(Correlator::new(config.clone()))
        }
    }
}

/// Saves the correlator's state inside the transaction that applies its actions.
pub async fn save_correlator(tx: &mut Tx<'_>, corr: &Correlator) -> Result<(), StoreError> {
    let state = serde_json::to_string(corr).map_err(|e| StoreError::Corrupt(format!("correlator state: {e}")))?;
    sqlx::query(
        "INSERT INTO correlator_state (name, state, updated_ms) VALUES ('outages', $1, $2) \
         ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
    )
    .bind(state)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sites whose agent has connected at least once, and their devices.
pub async fn topology(db: &Db) -> Result<Topology, StoreError> {
    let sites: Vec<SiteId> = sqlx::query_as::<_, (i64,)>(
        "SELECT DISTINCT site_id FROM agents WHERE status = 'active' AND connected_ms IS NOT NULL ORDER BY site_id",
    )
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .map(|(s,)| s)
    .collect();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        site_id: i64,
        parent_id: Option<i64>,
        kind: Option<DeviceKind>,
        last_sample_ms: Option<i64>,
        snmp_ms: Option<i64>,
    }
    // Staff-set kinds and parents win over learned ones; retired devices
    // are out of the picture.
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, site_id, parent_id, COALESCE(kind_set, kind) AS kind, last_sample_ms, snmp_ms FROM devices \
         WHERE retired_ms IS NULL ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut set: HashMap<i64, Vec<i64>> = HashMap::new();
    for (d, p) in sqlx::query_as::<_, (i64, i64)>("SELECT device_id, parent_id FROM device_parents ORDER BY parent_id")
        .fetch_all(&db.pool)
        .await?
    {
        set.entry(d).or_default().push(p);
    }
    let devices = rows
        .into_iter()
        .filter(|r| sites.contains(&r.site_id))
        .map(|r| DeviceSpec {
            id: r.id,
            site: r.site_id,
            parents: set.remove(&r.id).unwrap_or_else(|| r.parent_id.into_iter().collect()),
            kind: match r.kind {
                Some(DeviceKind::Ap) => correlator::DeviceKind::Ap,
                Some(DeviceKind::Cpe) => correlator::DeviceKind::Cpe,
                Some(DeviceKind::Backhaul) => correlator::DeviceKind::Backhaul,
                Some(DeviceKind::Router) => correlator::DeviceKind::Router,
                Some(DeviceKind::Switch) => correlator::DeviceKind::Switch,
                Some(DeviceKind::Host | DeviceKind::Unknown) | None => correlator::DeviceKind::Other,
            },
            ping: r.last_sample_ms.is_some(),
            snmp: r.snmp_ms.is_some(),
        })
        .collect();
    let uplinks = super::uplinks::all(db).await?;
    Ok(Topology { sites, devices, uplinks })
}

fn root_cols(root: &Root) -> (RootKind, Option<i64>, Option<i64>) {
    match root {
        Root::Controller => (RootKind::Controller, None, None),
        Root::Site(s) => (RootKind::Site, None, Some(*s)),
        Root::Device(d) => (RootKind::Device, Some(*d), None),
    }
}

pub async fn upsert(
    tx: &mut Tx<'_>,
    i: &Incident,
    ended: Option<i64>,
    superseded_by: Option<i64>,
) -> Result<(), StoreError> {
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

/// "Outage: ap-north (4 devices)" or "Site north-ridge unreachable".
pub async fn subject(tx: &mut Tx<'_>, i: &Incident) -> Result<String, StoreError> {
    Ok(match i.root {
        Root::Device(d) => {
            let name: Option<(String,)> = sqlx::query_as("SELECT COALESCE(name, addr) AS n FROM devices WHERE id = $1")
                .bind(d)
                .fetch_optional(&mut **tx)
                .await?;
            let name = name.map(|(n,)| n);
            format!("Outage: {} ({} devices)", name.unwrap_or_else(|| format!("device {d}")), i.devices.len())
        }
        Root::Site(s) => {
            let name: Option<(String,)> =
                sqlx::query_as("SELECT name FROM sites WHERE id = $1").bind(s).fetch_optional(&mut **tx).await?;
            let name = name.map(|(n,)| n);
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
    pub root_kind: RootKind,
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
    /// Who acknowledged it, and when.
    pub acked_by: Option<String>,
    pub acked_ms: Option<i64>,
    /// Closed by staff (with the reason), whatever the correlator says.
    pub closed_by: Option<String>,
    pub closed_ms: Option<i64>,
    pub close_reason: Option<String>,
}

impl IncidentView {
    /// One line naming it, as alerts and tickets do.
    pub fn title(&self) -> String {
        let name = self.root_name.clone().unwrap_or_else(|| format!("#{}", self.id));
        match self.root_kind {
            RootKind::Device => format!("Outage: {name} ({} devices)", self.device_count),
            RootKind::Site => format!("Site {name} unreachable"),
            RootKind::Controller => "Many agents silent at once (controller side)".into(),
        }
    }

    /// Neither ended by the correlator nor closed by staff.
    pub fn is_open(&self) -> bool {
        self.ended_ms.is_none() && self.closed_ms.is_none()
    }
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: i64,
    root_kind: RootKind,
    root_device_id: Option<i64>,
    root_name: Option<String>,
    root_site_id: Option<i64>,
    site: Option<String>,
    started_ms: i64,
    ended_ms: Option<i64>,
    flapping: i64,
    superseded_by: Option<i64>,
    device_count: i64,
    customer_count: i64,
    acked_by: Option<String>,
    acked_ms: Option<i64>,
    closed_by: Option<String>,
    closed_ms: Option<i64>,
    close_reason: Option<String>,
}

impl From<IncidentRow> for IncidentView {
    fn from(r: IncidentRow) -> IncidentView {
        IncidentView {
            id: r.id,
            root_kind: r.root_kind,
            root_device_id: r.root_device_id,
            root_name: r.root_name,
            site_id: r.root_site_id,
            site: r.site,
            started_ms: r.started_ms,
            ended_ms: r.ended_ms,
            flapping: r.flapping != 0,
            superseded_by: r.superseded_by,
            device_count: r.device_count,
            customer_count: r.customer_count,
            acked_by: r.acked_by,
            acked_ms: r.acked_ms,
            closed_by: r.closed_by,
            closed_ms: r.closed_ms,
            close_reason: r.close_reason,
        }
    }
}

const VIEW_SQL: &str = "SELECT i.id, i.root_kind, i.root_device_id, COALESCE(d.name, d.addr, s.name) AS root_name, \
    i.root_site_id, s.name AS site, i.started_ms, i.ended_ms, i.flapping, i.superseded_by, i.device_count, \
    CAST((SELECT COUNT(DISTINCT cd.customer_id) FROM incident_devices x JOIN devices dd ON dd.id = x.device_id \
     JOIN customer_devices cd ON cd.mac = dd.mac WHERE x.incident_id = i.id) AS BIGINT) AS customer_count, \
    i.acked_by, i.acked_ms, i.closed_by, i.closed_ms, i.close_reason \
    FROM incidents i LEFT JOIN devices d ON d.id = i.root_device_id LEFT JOIN sites s ON s.id = i.root_site_id";

/// An incident still open: not ended by the correlator, not closed by staff.
const OPEN: &str = "(i.ended_ms IS NULL AND i.closed_ms IS NULL)";

async fn views(db: &Db, sql: String, arg: i64) -> Result<Vec<IncidentView>, StoreError> {
    let rows: Vec<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(arg).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(IncidentView::from).collect())
}

/// Open incidents first (newest first), then the latest closed ones.
pub async fn list(db: &Db, open_only: bool, limit: i64) -> Result<Vec<IncidentView>, StoreError> {
    let filter = if open_only { format!("WHERE {OPEN}") } else { String::new() };
    views(db, format!("{VIEW_SQL} {filter} ORDER BY ({OPEN}) DESC, i.started_ms DESC LIMIT $1"), limit).await
}

/// Internal alerts (many agents silent at once), newest first.
pub async fn controller_alerts(db: &Db, limit: i64) -> Result<Vec<IncidentView>, StoreError> {
    views(db, format!("{VIEW_SQL} WHERE i.root_kind = 'controller' ORDER BY i.started_ms DESC LIMIT $1"), limit).await
}

pub async fn get(db: &Db, id: i64) -> Result<Option<IncidentView>, StoreError> {
    Ok(views(db, format!("{VIEW_SQL} WHERE i.id = $1"), id).await?.into_iter().next())
}

/// The incident with id `id`, or [`StoreError::NotFound`].
pub async fn get_incident(db: &Db, id: i64) -> Result<IncidentView, StoreError> {
    get(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("no incident {id}")))
}

/// The affected devices of an incident.
pub async fn devices_of(db: &Db, id: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT device_id FROM incident_devices WHERE incident_id = $1 ORDER BY device_id")
            .bind(id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(|(d,)| d).collect())
}

/// Open incidents that include a device.
pub async fn open_for_device(db: &Db, device_id: i64) -> Result<Vec<IncidentView>, StoreError> {
    let sql = format!(
        "{VIEW_SQL} WHERE {OPEN} AND i.id IN (SELECT incident_id FROM incident_devices WHERE device_id = $1) \
         ORDER BY i.started_ms"
    );
    views(db, sql, device_id).await
}

/// Open incidents nobody acknowledged, opened at or before `before`.
pub async fn unacknowledged_since(db: &Db, before: i64) -> Result<Vec<IncidentView>, StoreError> {
    let sql = format!("{VIEW_SQL} WHERE {OPEN} AND i.acked_ms IS NULL AND i.opened_ms <= $1 ORDER BY i.id");
    views(db, sql, before).await
}

/// Open customer-facing incidents that touch one of the customer's radios.
pub async fn open_for_customer(db: &Db, customer_id: i64) -> Result<Vec<IncidentView>, StoreError> {
    let sql = format!(
        "{VIEW_SQL} WHERE {OPEN} AND i.root_kind <> 'controller' AND i.id IN \
         (SELECT x.incident_id FROM incident_devices x JOIN devices dd ON dd.id = x.device_id \
          JOIN customer_devices cd ON cd.mac = dd.mac WHERE cd.customer_id = $1) ORDER BY i.started_ms"
    );
    views(db, sql, customer_id).await
}

// --- staff work on an incident ------------------------------------------------

crate::text_enum! {
    /// An entry of an incident's log (`incident_notes.kind`).
    pub enum NoteKind (field "kind") {
        /// For staff only.
        Note = "note",
        /// Sent to the affected customers.
        Update = "update",
    }
}

/// An entry of an incident's log.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IncidentNote {
    pub id: i64,
    pub kind: NoteKind,
    pub author: String,
    pub body: String,
    /// Customer messages an update queued.
    pub queued: i64,
    pub created_ms: i64,
}

/// A staff note or update text: one to 2,000 characters, no control
/// characters but line breaks.
fn check_note(field: &str, body: &str) -> Result<String, StoreError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(StoreError::invalid(field, "write something"));
    }
    mast_text_core::input::text(body, 2_000).map_err(|p| StoreError::invalid(field, p.to_string()))?;
    Ok(body.to_string())
}

/// The text of an update to customers as [`send_update`] accepts it
/// (trimmed), or the error on field `update`: for a preview before sending.
pub fn check_update(text: &str) -> Result<String, StoreError> {
    check_note("update", text)
}

/// Acknowledges an open incident ("someone is on it"); false when it was
/// acknowledged already (the first acknowledgement stands).
pub async fn acknowledge(db: &Db, id: i64, who: &str, now: i64) -> Result<bool, StoreError> {
    let i = get_incident(db, id).await?;
    if !i.is_open() {
        return Err(StoreError::Conflict(format!("incident {id} is not open")));
    }
    let n = sqlx::query("UPDATE incidents SET acked_by = $1, acked_ms = $2 WHERE id = $3 AND acked_ms IS NULL")
        .bind(who)
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Closes an open incident by hand with a reason (a false alarm, a retired
/// device). It leaves the open lists; the correlator may still end it later.
pub async fn close(db: &Db, id: i64, who: &str, reason: &str, now: i64) -> Result<(), StoreError> {
    let reason = check_note("reason", reason)?;
    let n = sqlx::query(
        "UPDATE incidents SET closed_by = $1, closed_ms = $2, close_reason = $3 \
         WHERE id = $4 AND closed_ms IS NULL AND ended_ms IS NULL",
    )
    .bind(who)
    .bind(now)
    .bind(&reason)
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        get_incident(db, id).await?;
        return Err(StoreError::Conflict(format!("incident {id} is not open")));
    }
    Ok(())
}

/// Appends an entry to an incident's log inside `tx`; returns its id.
async fn insert_note(
    tx: &mut Tx<'_>,
    id: i64,
    kind: NoteKind,
    who: &str,
    body: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let (note,): (i64,) = sqlx::query_as(
        "INSERT INTO incident_notes (incident_id, kind, author, body, queued, created_ms) \
         VALUES ($1, $2, $3, $4, 0, $5) RETURNING id",
    )
    .bind(id)
    .bind(kind)
    .bind(who)
    .bind(body)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(note)
}

/// Adds a staff note to an incident's log.
pub async fn add_note(db: &Db, id: i64, who: &str, body: &str, now: i64) -> Result<i64, StoreError> {
    let body = check_note("body", body)?;
    get_incident(db, id).await?;
    let mut tx = db.begin().await?;
    let note = insert_note(&mut tx, id, NoteKind::Note, who, &body, now).await?;
    tx.commit().await?;
    Ok(note)
}

/// An update staff send to an incident's customers.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    pub id: i64,
    /// The incident's ticket, which the messages belong to.
    pub ticket_id: Option<i64>,
    pub who: &'a str,
    pub text: &'a str,
    pub now: i64,
}

/// Sends an update to the incident's affected customers (those who did not
/// opt out) through the outbox, and logs it, in one transaction: the
/// messages exist if and only if the log entry does. Returns how many
/// messages were queued.
pub async fn send_update(
    db: &Db,
    channels: crate::outbox::Channels,
    tz: &jiff::tz::TimeZone,
    u: &Update<'_>,
) -> Result<usize, StoreError> {
    let Update { id, ticket_id, who, text, now } = *u;
    let text = check_update(text)?;
    let i = get_incident(db, id).await?;
    if !i.is_open() {
        return Err(StoreError::Conflict(format!("incident {id} is not open; its customers were told it ended")));
    }
    let mut tx = db.begin().await?;
    let note = insert_note(&mut tx, id, NoteKind::Update, who, &text, now).await?;
    let phase = crate::outbox::OutagePhase::Update { seq: note, text: &text };
    let n = crate::outbox::outage_notices(&mut tx, channels, tz, id, ticket_id, i.started_ms, phase).await?;
    sqlx::query("UPDATE incident_notes SET queued = $1 WHERE id = $2")
        .bind(n as i64)
        .bind(note)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(n)
}

/// An incident's log, oldest first.
pub async fn notes(db: &Db, id: i64) -> Result<Vec<IncidentNote>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, author, body, queued, created_ms FROM incident_notes WHERE incident_id = $1 \
         ORDER BY created_ms, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn incidents_decode_their_root_kind() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/o.db", dir.path().display())).await.unwrap();
        let site = crate::monitoring::add_site(&db, "north", &[], 30_000, 1_000).await.unwrap();
        sqlx::query(
            "INSERT INTO incidents (id, root_kind, root_device_id, root_site_id, started_ms, opened_ms, ended_ms, \
             flapping, superseded_by, device_count, updated_ms) VALUES \
             (1, 'site', NULL, $1, 10, 10, NULL, 1, NULL, 3, 10), (2, 'controller', NULL, NULL, 20, 20, 30, 0, NULL, 0, 30)",
        )
        .bind(site.id)
        .execute(&db.pool)
        .await
        .unwrap();
        let i = get_incident(&db, 1).await.unwrap();
        assert_eq!(
            (i.root_kind, i.root_name.as_deref(), i.flapping, i.customer_count),
            (RootKind::Site, Some("north"), true, 0)
        );
        assert_eq!(serde_json::to_value(&i).unwrap()["root_kind"], "site");
        assert_eq!(list(&db, true, 10).await.unwrap().len(), 1);
        let alerts = controller_alerts(&db, 10).await.unwrap();
        assert_eq!((alerts.len(), alerts[0].id), (1, 2));
        assert!(matches!(get_incident(&db, 9).await, Err(StoreError::NotFound(_))));
        sqlx::query("UPDATE incidents SET root_kind = 'asteroid' WHERE id = 1").execute(&db.pool).await.unwrap();
        assert!(matches!(get_incident(&db, 1).await, Err(StoreError::Corrupt(_))));
        assert!(matches!(list(&db, false, 10).await, Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn staff_acknowledge_note_update_customers_once_and_close() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/o.db", dir.path().display())).await.unwrap();
        let target =
            |ip: &str, name: &str| mast_shared::ProbeTarget { addr: ip.parse().unwrap(), name: Some(name.into()) };
        let site = crate::monitoring::add_site(
            &db,
            "north",
            &[target("10.0.0.1", "ap"), target("10.0.0.2", "cpe")],
            30_000,
            1_000,
        )
        .await
        .unwrap();
        sqlx::query("UPDATE devices SET mac = '04:18:d6:00:00:02' WHERE addr = '10.0.0.2'")
            .execute(&db.pool)
            .await
            .unwrap();
        let cpe: (i64,) =
            sqlx::query_as("SELECT id FROM devices WHERE addr = '10.0.0.2'").fetch_one(&db.pool).await.unwrap();
        let customer = |name: &str, email: &str, notify: bool| crate::customers::CustomerInput {
            name: name.into(),
            email: Some(email.into()),
            phone: Some("+15550100".into()),
            notify_outages: Some(notify),
            ..Default::default()
        };
        crate::customers::create_with_cpes(&db, &customer("Ada", "ada@example.org", true), &["04:18:d6:00:00:02"])
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO incidents (id, root_kind, root_device_id, root_site_id, started_ms, opened_ms, ended_ms, \
             flapping, superseded_by, device_count, updated_ms) VALUES (7, 'device', $1, $2, 10, 10, NULL, 0, NULL, 1, 10)",
        )
        .bind(cpe.0)
        .bind(site.id)
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO incident_devices (incident_id, device_id) VALUES (7, $1)")
            .bind(cpe.0)
            .execute(&db.pool)
            .await
            .unwrap();

        // Acknowledged once: the first one stands.
        assert!(acknowledge(&db, 7, "noc@wisp.test", 100).await.unwrap());
        assert!(!acknowledge(&db, 7, "other@wisp.test", 200).await.unwrap());
        let i = get_incident(&db, 7).await.unwrap();
        assert_eq!((i.acked_by.as_deref(), i.acked_ms, i.is_open()), (Some("noc@wisp.test"), Some(100), true));

        // Notes are checked and kept in order.
        assert!(
            matches!(add_note(&db, 7, "noc", "  ", 1).await, Err(StoreError::Invalid { ref field, .. }) if field == "body")
        );
        assert!(matches!(add_note(&db, 7, "noc", "a\0b", 1).await, Err(StoreError::Invalid { .. })));
        add_note(&db, 7, "noc", "Tower climber called", 300).await.unwrap();

        // An update: one email and one SMS for the customer, logged with the count.
        let tz = jiff::tz::TimeZone::UTC;
        let channels = crate::outbox::Channels { email: true, webhook: true, staff_webhook: false };
        let u = Update { id: 7, ticket_id: None, who: "noc", text: "Back by 14:00", now: 400 };
        assert_eq!(send_update(&db, channels, &tz, &u).await.unwrap(), 2);
        let queued = crate::outbox::recent(&db, false, 10).await.unwrap();
        assert_eq!(queued.len(), 2);
        assert!(queued.iter().all(|m| m.body.contains("Back by 14:00") && m.customer_id.is_some()));
        assert!(queued.iter().any(|m| m.subject.starts_with("Update on the service interruption")));
        // A second update is a new decision: queued again, under its own key.
        let u2 = Update { text: "Now 15:00", now: 500, ..u };
        assert_eq!(send_update(&db, channels, &tz, &u2).await.unwrap(), 2);
        let log = notes(&db, 7).await.unwrap();
        assert_eq!(
            log.iter().map(|n| (n.kind, n.queued)).collect::<Vec<_>>(),
            [(NoteKind::Note, 0), (NoteKind::Update, 2), (NoteKind::Update, 2)]
        );

        // Closed with a reason: no longer open, and nothing more can be sent.
        assert!(
            matches!(close(&db, 7, "noc", "", 600).await, Err(StoreError::Invalid { ref field, .. }) if field == "reason")
        );
        close(&db, 7, "noc", "False alarm: the CPE was unplugged", 600).await.unwrap();
        let i = get_incident(&db, 7).await.unwrap();
        assert!(!i.is_open() && i.close_reason.as_deref() == Some("False alarm: the CPE was unplugged"));
        assert!(list(&db, true, 10).await.unwrap().is_empty(), "a closed incident leaves the open list");
        assert!(matches!(close(&db, 7, "noc", "again", 700).await, Err(StoreError::Conflict(_))));
        assert!(matches!(send_update(&db, channels, &tz, &u).await, Err(StoreError::Conflict(_))));
        assert!(matches!(acknowledge(&db, 7, "noc", 800).await, Err(StoreError::Conflict(_))));
        assert!(matches!(close(&db, 99, "noc", "gone", 1).await, Err(StoreError::NotFound(_))));
    }
}
