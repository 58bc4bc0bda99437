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

use super::correlator::{Config, Correlator, DeviceKind, DeviceSpec, Incident, Root, SiteId, Topology};
use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;
use tracing::warn;

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// The correlator as last saved (a fresh one when none was, or the saved
/// state is unreadable).
pub async fn load_correlator(db: &Db, config: &Config) -> Result<Correlator, StoreError> {
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
pub async fn list(db: &Db, open_only: bool, limit: i64) -> Result<Vec<IncidentView>, StoreError> {
    let filter = if open_only { "WHERE i.ended_ms IS NULL" } else { "" };
    let sql = format!("{VIEW_SQL} {filter} ORDER BY (i.ended_ms IS NULL) DESC, i.started_ms DESC LIMIT $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(view).collect::<Result<_, _>>().map_err(Into::into)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<IncidentView>, StoreError> {
    let sql = format!("{VIEW_SQL} WHERE i.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(view).transpose().map_err(Into::into)
}

/// The affected devices of an incident.
pub async fn devices_of(db: &Db, id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query("SELECT device_id FROM incident_devices WHERE incident_id = $1 ORDER BY device_id")
        .bind(id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get("device_id"))
        .collect::<Result<_, _>>()?)
}

/// Open incidents that include a device.
pub async fn open_for_device(db: &Db, device_id: i64) -> Result<Vec<IncidentView>, StoreError> {
    let sql = format!(
        "{VIEW_SQL} WHERE i.ended_ms IS NULL AND i.id IN (SELECT incident_id FROM incident_devices WHERE device_id = $1) \
         ORDER BY i.started_ms"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).fetch_all(&db.pool).await?;
    rows.iter().map(view).collect::<Result<_, _>>().map_err(Into::into)
}

/// Open customer-facing incidents that touch one of the customer's radios.
pub async fn open_for_customer(db: &Db, customer_id: i64) -> Result<Vec<IncidentView>, StoreError> {
    let sql = format!(
        "{VIEW_SQL} WHERE i.ended_ms IS NULL AND i.root_kind <> 'controller' AND i.id IN \
         (SELECT x.incident_id FROM incident_devices x JOIN devices dd ON dd.id = x.device_id \
          JOIN customer_devices cd ON cd.mac = dd.mac WHERE cd.customer_id = $1) ORDER BY i.started_ms"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id).fetch_all(&db.pool).await?;
    rows.iter().map(view).collect::<Result<_, _>>().map_err(Into::into)
}
