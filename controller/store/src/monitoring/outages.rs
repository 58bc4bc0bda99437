//! Incidents (tables `incidents`, `incident_devices`, `correlator_state`):
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
    let rows: Vec<Row> =
        sqlx::query_as("SELECT id, site_id, parent_id, kind, last_sample_ms, snmp_ms FROM devices ORDER BY id")
            .fetch_all(&db.pool)
            .await?;
    let devices = rows
        .into_iter()
        .filter(|r| sites.contains(&r.site_id))
        .map(|r| DeviceSpec {
            id: r.id,
            site: r.site_id,
            parents: r.parent_id.into_iter().collect(),
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
    Ok(Topology { sites, devices })
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
        }
    }
}

const VIEW_SQL: &str = "SELECT i.id, i.root_kind, i.root_device_id, COALESCE(d.name, d.addr, s.name) AS root_name, \
    i.root_site_id, s.name AS site, i.started_ms, i.ended_ms, i.flapping, i.superseded_by, i.device_count, \
    CAST((SELECT COUNT(DISTINCT cd.customer_id) FROM incident_devices x JOIN devices dd ON dd.id = x.device_id \
     JOIN customer_devices cd ON cd.mac = dd.mac WHERE x.incident_id = i.id) AS BIGINT) AS customer_count \
    FROM incidents i LEFT JOIN devices d ON d.id = i.root_device_id LEFT JOIN sites s ON s.id = i.root_site_id";

async fn views(db: &Db, sql: String, arg: i64) -> Result<Vec<IncidentView>, StoreError> {
    let rows: Vec<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(arg).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(IncidentView::from).collect())
}

/// Open incidents first (newest first), then the latest closed ones.
pub async fn list(db: &Db, open_only: bool, limit: i64) -> Result<Vec<IncidentView>, StoreError> {
    let filter = if open_only { "WHERE i.ended_ms IS NULL" } else { "" };
    views(db, format!("{VIEW_SQL} {filter} ORDER BY (i.ended_ms IS NULL) DESC, i.started_ms DESC LIMIT $1"), limit)
        .await
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
        "{VIEW_SQL} WHERE i.ended_ms IS NULL AND i.id IN (SELECT incident_id FROM incident_devices WHERE device_id = $1) \
         ORDER BY i.started_ms"
    );
    views(db, sql, device_id).await
}

/// Open customer-facing incidents that touch one of the customer's radios.
pub async fn open_for_customer(db: &Db, customer_id: i64) -> Result<Vec<IncidentView>, StoreError> {
    let sql = format!(
        "{VIEW_SQL} WHERE i.ended_ms IS NULL AND i.root_kind <> 'controller' AND i.id IN \
         (SELECT x.incident_id FROM incident_devices x JOIN devices dd ON dd.id = x.device_id \
          JOIN customer_devices cd ON cd.mac = dd.mac WHERE cd.customer_id = $1) ORDER BY i.started_ms"
    );
    views(db, sql, customer_id).await
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
}
