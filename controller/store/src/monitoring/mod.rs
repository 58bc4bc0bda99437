//! Monitoring: sites with their probe config, the devices probed there, and
//! the stored samples. Owns tables `sites`, `site_targets`, `devices`, `samples`.
//!
//! Invariants: a sample is stored at most once per `(agent_id, boot_epoch, seq)`
//! (primary key + `ON CONFLICT DO NOTHING`); a device's "last" columns only
//! move forward in time, so a resent or late batch never rolls them back.

use crate::db::{Db, StoreError, Tx, now_ms};
use mast_shared::{ProbeTarget, SiteConfig, SnmpOutcome};

pub use mast_ops_core::{correlator, maintenance};
pub mod alert_rules;
pub mod availability;
pub mod edits;
mod ingest;
pub mod inventory;
pub mod links;
pub mod outages;
pub mod probing;
pub mod uplinks;
pub mod windows;
pub use ingest::{Batch, MAX_CLOCK_SKEW_MS, Stored, store_batches, store_batches_in, store_samples};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

crate::text_enum! {
    /// What a device is (`devices.kind`, `inventory.kind`), as its agent
    /// learned it.
    pub enum DeviceKind (field "kind") {
        Unknown = "unknown",
        Ap = "ap",
        Cpe = "cpe",
        Backhaul = "backhaul",
        Router = "router",
        Switch = "switch",
        Host = "host",
    }
}

impl From<mast_shared::DeviceKind> for DeviceKind {
    fn from(k: mast_shared::DeviceKind) -> DeviceKind {
        use mast_shared::DeviceKind as W;
        match k {
            W::Unknown => DeviceKind::Unknown,
            W::AccessPoint => DeviceKind::Ap,
            W::Cpe => DeviceKind::Cpe,
            W::Backhaul => DeviceKind::Backhaul,
            W::Router => DeviceKind::Router,
            W::Switch => DeviceKind::Switch,
            W::Host => DeviceKind::Host,
        }
    }
}

crate::text_enum! {
    /// The last SNMP poll of a device (`devices.snmp_outcome`).
    pub enum SnmpStatus (field "snmp") {
        Ok = "ok",
        Timeout = "timeout",
        Refused = "refused",
        Malformed = "malformed",
    }
}

impl From<SnmpOutcome> for SnmpStatus {
    fn from(o: SnmpOutcome) -> SnmpStatus {
        match o {
            SnmpOutcome::Ok => SnmpStatus::Ok,
            SnmpOutcome::Timeout => SnmpStatus::Timeout,
            SnmpOutcome::Refused => SnmpStatus::Refused,
            SnmpOutcome::Malformed => SnmpStatus::Malformed,
        }
    }
}

crate::text_enum! {
    /// A device's reachability from its last ping (computed, never stored;
    /// the `?status=` filter of the device list).
    pub enum DeviceStatus (field "status") {
        Up = "up",
        Down = "down",
        /// Pinged, but it has never answered (a CPE whose station-table
        /// address drops pings, a mistyped target): nothing went down, so
        /// it is neither counted down nor the root of an incident.
        NoReply = "no-reply",
        /// No sample yet, or none for 3 intervals.
        Unknown = "unknown",
    }
}

/// Compares with the status text (`d.status == "down"`).
impl PartialEq<&str> for DeviceStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Checks one line of text input for `field` (no control characters, at
/// most `max` characters).
pub(crate) fn check_line(field: &str, s: &str, max: usize) -> Result<(), StoreError> {
    mast_text_core::input::line(s, max).map_err(|p| StoreError::invalid(field, p.to_string()))
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Site {
    pub id: i64,
    pub name: String,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub revision: i64,
    #[sqlx(skip)]
    pub targets: Vec<String>,
    /// Where the tower stands, if known.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

const SITE_COLS: &str = "SELECT id, name, interval_ms, timeout_ms, revision, lat, lon FROM sites";

/// Parses `IP,IP,...` (names optional as `IP=name`); errors name `targets`.
pub fn parse_targets(list: &str) -> Result<Vec<ProbeTarget>, StoreError> {
    check_line("targets", list, 100_000)?;
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (ip, name) = match item.split_once('=') {
            Some((ip, name)) => (ip.trim(), Some(name.trim().to_string()).filter(|n| !n.is_empty())),
            None => (item, None),
        };
        let addr: IpAddr =
            ip.parse().map_err(|_| StoreError::invalid("targets", format!("{ip:?} is not an IP address")))?;
        if let Some(n) = &name {
            check_line("targets", n, 64)?;
        }
        if out.iter().any(|t: &ProbeTarget| t.addr == addr) {
            continue;
        }
        out.push(ProbeTarget { addr, name });
    }
    Ok(out)
}

pub async fn site_by_name(db: &Db, name: &str) -> Result<Option<Site>, StoreError> {
    let sql = format!("{SITE_COLS} WHERE name = $1");
    let site: Option<Site> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&db.pool).await?;
    match site {
        Some(s) => with_targets(db, s).await.map(Some),
        None => Ok(None),
    }
}

pub async fn site(db: &Db, id: i64) -> Result<Option<Site>, StoreError> {
    let sql = format!("{SITE_COLS} WHERE id = $1");
    let site: Option<Site> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    match site {
        Some(s) => with_targets(db, s).await.map(Some),
        None => Ok(None),
    }
}

/// The site with id `id`, or [`StoreError::NotFound`].
pub async fn get_site(db: &Db, id: i64) -> Result<Site, StoreError> {
    site(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("no site {id}")))
}

async fn with_targets(db: &Db, mut s: Site) -> Result<Site, StoreError> {
    s.targets = sqlx::query_as::<_, (String,)>("SELECT addr FROM site_targets WHERE site_id = $1 ORDER BY addr")
        .bind(s.id)
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(|(a,)| a)
        .collect();
    Ok(s)
}

pub async fn list_sites(db: &Db) -> Result<Vec<Site>, StoreError> {
    let mut targets: HashMap<i64, Vec<String>> = HashMap::new();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT site_id, addr FROM site_targets ORDER BY addr").fetch_all(&db.pool).await?;
    for (site_id, addr) in rows {
        targets.entry(site_id).or_default().push(addr);
    }
    let sql = format!("{SITE_COLS} ORDER BY name");
    let mut sites: Vec<Site> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    for s in &mut sites {
        s.targets = targets.remove(&s.id).unwrap_or_default();
    }
    Ok(sites)
}

fn check_site_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(StoreError::invalid(
            "name",
            format!("{name:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(())
}

fn check_probe(interval_ms: i64, timeout_ms: i64) -> Result<(), StoreError> {
    if !(1_000..=86_400_000).contains(&interval_ms) {
        return Err(StoreError::invalid("interval_secs", "must be between 1 s and 1 day"));
    }
    if !(10..=60_000).contains(&timeout_ms) || timeout_ms >= interval_ms {
        return Err(StoreError::invalid("timeout_ms", "must be 10 ms to 60 s and shorter than the interval"));
    }
    Ok(())
}

pub async fn add_site(
    db: &Db,
    name: &str,
    targets: &[ProbeTarget],
    interval_ms: i64,
    timeout_ms: i64,
) -> Result<Site, StoreError> {
    check_site_name(name)?;
    check_probe(interval_ms, timeout_ms)?;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO sites (name, interval_ms, timeout_ms, revision, created_ms) VALUES ($1, $2, $3, 1, $4) RETURNING id",
    )
    .bind(name)
    .bind(interval_ms)
    .bind(timeout_ms)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!("site {name:?} already exists")),
        e => e.into(),
    })?;
    replace_targets(&mut tx, id, targets).await?;
    tx.commit().await?;
    get_site(db, id).await
}

/// Sets where a site's tower stands (for the map); not part of the agents' config.
pub async fn set_site_location(db: &Db, id: i64, lat: f64, lon: f64) -> Result<(), StoreError> {
    if !(-90.0..=90.0).contains(&lat) {
        return Err(StoreError::invalid("lat", "latitude must be between -90 and 90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(StoreError::invalid("lon", "longitude must be between -180 and 180"));
    }
    let n = sqlx::query("UPDATE sites SET lat = $1, lon = $2 WHERE id = $3")
        .bind(lat)
        .bind(lon)
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no site {id}")));
    }
    Ok(())
}

/// Changes a site's probe config; bumps its revision so connected agents get it.
pub async fn set_site(
    db: &Db,
    name: &str,
    targets: Option<&[ProbeTarget]>,
    interval_ms: Option<i64>,
    timeout_ms: Option<i64>,
) -> Result<Site, StoreError> {
    let cur = site_by_name(db, name).await?.ok_or_else(|| StoreError::NotFound(format!("no site named {name:?}")))?;
    let interval_ms = interval_ms.unwrap_or(cur.interval_ms);
    let timeout_ms = timeout_ms.unwrap_or(cur.timeout_ms.min(interval_ms - 1));
    check_probe(interval_ms, timeout_ms)?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE sites SET interval_ms = $1, timeout_ms = $2, revision = revision + 1 WHERE id = $3")
        .bind(interval_ms)
        .bind(timeout_ms)
        .bind(cur.id)
        .execute(&mut *tx)
        .await?;
    if let Some(t) = targets {
        replace_targets(&mut tx, cur.id, t).await?;
    }
    tx.commit().await?;
    get_site(db, cur.id).await
}

/// A site as the edit form changes it: name, where it stands, what it pings.
#[derive(Debug, Clone)]
pub struct SiteEdit {
    pub name: String,
    pub targets: Vec<ProbeTarget>,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    /// `(lat, lon)`; `None` clears the location.
    pub location: Option<(f64, f64)>,
}

fn check_location(location: Option<(f64, f64)>) -> Result<(), StoreError> {
    if let Some((lat, lon)) = location {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(StoreError::invalid("lat", "latitude must be between -90 and 90"));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(StoreError::invalid("lon", "longitude must be between -180 and 180"));
        }
    }
    Ok(())
}

/// Checks a site edit before anything is written (what create and edit refuse).
pub fn check_site_edit(e: &SiteEdit) -> Result<(), StoreError> {
    check_site_name(&e.name)?;
    check_probe(e.interval_ms, e.timeout_ms)?;
    check_location(e.location)
}

fn name_taken(name: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::invalid("name", format!("a site named {name:?} already exists"))
        }
        e => e.into(),
    }
}

/// Creates a site from the edit form (name clashes are an error on `name`).
pub async fn create_site(db: &Db, e: &SiteEdit) -> Result<Site, StoreError> {
    check_site_edit(e)?;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO sites (name, interval_ms, timeout_ms, revision, created_ms, lat, lon) \
         VALUES ($1, $2, $3, 1, $4, $5, $6) RETURNING id",
    )
    .bind(&e.name)
    .bind(e.interval_ms)
    .bind(e.timeout_ms)
    .bind(now_ms())
    .bind(e.location.map(|l| l.0))
    .bind(e.location.map(|l| l.1))
    .fetch_one(&mut *tx)
    .await
    .map_err(name_taken(&e.name))?;
    replace_targets(&mut tx, id, &e.targets).await?;
    tx.commit().await?;
    get_site(db, id).await
}

/// Changes a site from the edit form (rename included); bumps its revision
/// so connected agents get the new targets within a second.
pub async fn edit_site(db: &Db, id: i64, e: &SiteEdit) -> Result<Site, StoreError> {
    check_site_edit(e)?;
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE sites SET name = $1, interval_ms = $2, timeout_ms = $3, lat = $4, lon = $5, \
         revision = revision + 1 WHERE id = $6",
    )
    .bind(&e.name)
    .bind(e.interval_ms)
    .bind(e.timeout_ms)
    .bind(e.location.map(|l| l.0))
    .bind(e.location.map(|l| l.1))
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(name_taken(&e.name))?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no site {id}")));
    }
    replace_targets(&mut tx, id, &e.targets).await?;
    tx.commit().await?;
    get_site(db, id).await
}

/// A site's ping targets with their names, in address order.
pub async fn site_targets(db: &Db, site_id: i64) -> Result<Vec<ProbeTarget>, StoreError> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT addr, name FROM site_targets WHERE site_id = $1 ORDER BY addr")
            .bind(site_id)
            .fetch_all(&db.pool)
            .await?;
    rows.into_iter()
        .map(|(addr, name)| {
            let addr = addr.parse().map_err(|_| StoreError::Corrupt(format!("site_targets.addr {addr:?}")))?;
            Ok(ProbeTarget { addr, name })
        })
        .collect()
}

/// Deletes a site that holds nothing yet: no agent ever enrolled (pending
/// enrollment tokens go with it), no customer and no maintenance window.
/// A site with history is refused with the reason (its data stays).
pub async fn delete_site(db: &Db, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    // Write first: the transaction holds the write lock before it reads, so
    // on SQLite a concurrent ingest commit cannot invalidate its snapshot
    // (a read-then-write transaction would fail with SQLITE_BUSY instead of
    // waiting).
    let n = sqlx::query("UPDATE sites SET revision = revision + 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no site {id}")));
    }
    let count = async |tx: &mut Tx<'_>, sql: &'static str| -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(sql).bind(id).fetch_one(&mut **tx).await?;
        Ok(n)
    };
    let refuse = |why: &str| Err(StoreError::Conflict(why.to_string()));
    if count(&mut tx, "SELECT COUNT(*) FROM agents WHERE site_id = $1 AND status <> 'pending'").await? > 0 {
        return refuse("an agent has enrolled for this site, so it has history; revoke the agent instead");
    }
    if count(&mut tx, "SELECT COUNT(*) FROM customers WHERE site_id = $1").await? > 0 {
        return refuse("customers are served from this site; move them to another site first");
    }
    let windows = "SELECT COUNT(*) FROM maintenance_windows WHERE (scope_kind = 'site' AND scope_id = $1) \
                   OR (scope_kind = 'device' AND scope_id IN (SELECT id FROM devices WHERE site_id = $1))";
    if count(&mut tx, windows).await? > 0 {
        return refuse("maintenance is planned for this site or its devices; cancel it first");
    }
    for sql in [
        "DELETE FROM agents WHERE site_id = $1",
        "DELETE FROM site_snmp_targets WHERE site_id = $1",
        "DELETE FROM site_snmp_credentials WHERE site_id = $1",
        "DELETE FROM site_targets WHERE site_id = $1",
        "UPDATE devices SET parent_id = NULL WHERE site_id = $1",
        "DELETE FROM device_parents WHERE device_id IN (SELECT id FROM devices WHERE site_id = $1) \
         OR parent_id IN (SELECT id FROM devices WHERE site_id = $1)",
        "DELETE FROM site_uplinks WHERE site_id = $1 OR device_id IN (SELECT id FROM devices WHERE site_id = $1)",
        "DELETE FROM devices WHERE site_id = $1",
        "DELETE FROM sites WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn replace_targets(tx: &mut Tx<'_>, site_id: i64, targets: &[ProbeTarget]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM site_targets WHERE site_id = $1").bind(site_id).execute(&mut **tx).await?;
    for t in targets {
        let addr = t.addr.to_string();
        sqlx::query("INSERT INTO site_targets (site_id, addr, name) VALUES ($1, $2, $3)")
            .bind(site_id)
            .bind(&addr)
            .bind(t.name.clone())
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO devices (site_id, addr, name, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (site_id, addr) DO UPDATE SET name = COALESCE(excluded.name, devices.name)",
        )
        .bind(site_id)
        .bind(&addr)
        .bind(t.name.clone())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The config pushed to a site's agents.
pub async fn site_config(db: &Db, site_id: i64) -> Result<Option<SiteConfig>, StoreError> {
    let Some(s) = site(db, site_id).await? else {
        return Ok(None);
    };
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT addr, name FROM site_targets WHERE site_id = $1 ORDER BY addr")
            .bind(site_id)
            .fetch_all(&db.pool)
            .await?;
    let targets = rows
        .into_iter()
        .map(|(addr, name)| {
            let addr = addr.parse().map_err(|_| StoreError::Corrupt(format!("site target {addr:?} is not an IP")))?;
            Ok(ProbeTarget { addr, name })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(SiteConfig {
        revision: s.revision as u64,
        site: s.name,
        targets,
        interval_ms: s.interval_ms as u32,
        timeout_ms: s.timeout_ms as u32,
    }))
}

// Sample kinds in the `samples` table.
const KIND_PING: i64 = 0;
const KIND_UPLINK: i64 = 1;
/// SNMP poll: `value` = outcome code, `rtt_us` = poll duration.
const KIND_SNMP: i64 = 2;
/// Station (CPE) seen by its AP: `device_id` = the station's device, `value` = signal dBm.
const KIND_STATION: i64 = 3;
/// Interface rate (the figures live in `interface_rates`): `value` = ifIndex.
const KIND_IFRATE: i64 = 4;
/// A sample stamped in the future beyond the allowed clock skew: kept for
/// the delivery accounting only (`ts_ms` clamped), read by nothing else.
const KIND_DISCARDED: i64 = 6;
/// Inventory record (applied to `inventory`).
const KIND_INVENTORY: i64 = 5;
/// A device's own radio link (figures in `link_samples`): `value` = signal
/// dBm. Station-table rows of link samples are stored as [`KIND_STATION`].
const KIND_LINK: i64 = 7;

fn snmp_outcome_code(o: SnmpOutcome) -> i64 {
    match o {
        SnmpOutcome::Ok => 0,
        SnmpOutcome::Timeout => 1,
        SnmpOutcome::Refused => 2,
        SnmpOutcome::Malformed => 3,
    }
}

/// The device at `addr` on a site, created if new.
pub(crate) async fn device_id(tx: &mut Tx<'_>, site_id: i64, addr: IpAddr) -> Result<i64, StoreError> {
    let addr = addr.to_string();
    let created = sqlx::query(
        "INSERT INTO devices (site_id, addr, created_ms) VALUES ($1, $2, $3) ON CONFLICT (site_id, addr) DO NOTHING",
    )
    .bind(site_id)
    .bind(&addr)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM devices WHERE site_id = $1 AND addr = $2")
        .bind(site_id)
        .bind(&addr)
        .fetch_one(&mut **tx)
        .await?;
    if created {
        inventory::link_new_device(tx, site_id, &addr, id).await?;
    }
    Ok(id)
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub id: i64,
    pub site_id: i64,
    pub site: String,
    pub addr: String,
    pub name: Option<String>,
    pub status: DeviceStatus,
    pub last_rtt_ms: Option<f64>,
    /// Share of pings lost in the last 10 minutes, 0-100.
    pub loss_pct: Option<f64>,
    pub samples_10m: i64,
    pub last_sample_ms: Option<i64>,
    /// Base MAC, `aa:bb:cc:dd:ee:ff`, once an agent learned it.
    pub mac: Option<String>,
    pub kind: Option<DeviceKind>,
    /// As the device names itself over SNMP, else the MAC's OUI vendor.
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// The AP (or switch) it hangs off.
    pub parent_id: Option<i64>,
    /// Signal at the AP, dBm, from the last station-table poll.
    pub signal_dbm: Option<i64>,
    /// Last SNMP poll; `None` if never polled.
    pub snmp: Option<SnmpStatus>,
    /// Staff notes.
    pub notes: Option<String>,
    /// `kind` was set by staff (else learned by the agents).
    pub kind_set: bool,
    /// `parent_id` was set by staff (else learned from a station table).
    pub parent_set: bool,
    /// When the device was retired (it then shows only on its own page).
    pub retired_ms: Option<i64>,
}

impl DeviceView {
    /// The name, or the address of an unnamed device.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.addr)
    }
}

/// Pure: a device's status from its last sample.
pub fn device_status(
    now: i64,
    interval_ms: i64,
    last_sample_ms: Option<i64>,
    last_rtt_us: Option<i64>,
    last_ok_ms: Option<i64>,
) -> DeviceStatus {
    match last_sample_ms {
        None => DeviceStatus::Unknown,
        Some(ts) if now - ts > 3 * interval_ms + 10_000 => DeviceStatus::Unknown,
        Some(_) if last_rtt_us.is_some() => DeviceStatus::Up,
        Some(_) if last_ok_ms.is_none() => DeviceStatus::NoReply,
        Some(_) => DeviceStatus::Down,
    }
}

pub async fn list_devices(db: &Db, limit: i64, offset: i64) -> Result<Vec<DeviceView>, StoreError> {
    list_devices_where(db, "d.retired_ms IS NULL", 0, now_ms(), limit, offset).await
}

/// Pure: [`device_status`] `== status` in SQL over `devices d JOIN sites s`,
/// with the time now at placeholder `now`.
fn status_sql(status: DeviceStatus, now: &str) -> String {
    let fresh = format!("(d.last_sample_ms IS NOT NULL AND {now} - d.last_sample_ms <= 3 * s.interval_ms + 10000)");
    match status {
        DeviceStatus::Up => format!("{fresh} AND d.last_rtt_us IS NOT NULL"),
        DeviceStatus::Down => format!("{fresh} AND d.last_rtt_us IS NULL AND d.last_ok_ms IS NOT NULL"),
        DeviceStatus::NoReply => format!("{fresh} AND d.last_rtt_us IS NULL AND d.last_ok_ms IS NULL"),
        DeviceStatus::Unknown => format!("NOT {fresh}"),
    }
}

/// One page of the devices in service (of one status, if given, filtered
/// in the database), in site and address order, and how many match in all.
pub async fn devices_page(
    db: &Db,
    status: Option<DeviceStatus>,
    now: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DeviceView>, i64), StoreError> {
    let Some(status) = status else {
        let rows = list_devices_where(db, "d.retired_ms IS NULL", 0, now, limit, offset).await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE retired_ms IS NULL").fetch_one(&db.pool);
        return Ok((rows, total.await?));
    };
    let filter = format!("d.retired_ms IS NULL AND {}", status_sql(status, "$3"));
    let rows = list_devices_where(db, &filter, now, now, limit, offset).await?;
    let sql = format!(
        "SELECT COUNT(*) FROM devices d JOIN sites s ON s.id = d.site_id WHERE d.retired_ms IS NULL AND {}",
        status_sql(status, "$1")
    );
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(now).fetch_one(&db.pool).await?;
    Ok((rows, total))
}

/// A `devices` row with its site, as the views read it.
#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: i64,
    site_id: i64,
    site: String,
    interval_ms: i64,
    addr: String,
    name: Option<String>,
    last_sample_ms: Option<i64>,
    last_rtt_us: Option<i64>,
    last_ok_ms: Option<i64>,
    mac: Option<String>,
    kind: Option<DeviceKind>,
    vendor: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    parent_id: Option<i64>,
    signal_dbm: Option<i64>,
    snmp_outcome: Option<SnmpStatus>,
    notes: Option<String>,
    kind_set: i64,
    parent_set: i64,
    retired_ms: Option<i64>,
}

/// The devices matching `filter` (SQL over `devices d JOIN sites s`, its
/// argument at `$3`), with their status at `now`.
async fn list_devices_where(
    db: &Db,
    filter: &str,
    arg: i64,
    now: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<DeviceView>, StoreError> {
    let sql = format!(
        "SELECT d.id, d.site_id, s.name AS site, s.interval_ms, d.addr, d.name, d.last_sample_ms, d.last_rtt_us, \
         d.last_ok_ms, d.mac, COALESCE(d.kind_set, d.kind) AS kind, d.vendor, d.model, d.firmware, \
         COALESCE((SELECT MIN(p.parent_id) FROM device_parents p WHERE p.device_id = d.id), d.parent_id) AS parent_id, \
         d.signal_dbm, d.snmp_outcome, d.notes, \
         CAST(CASE WHEN d.kind_set IS NULL THEN 0 ELSE 1 END AS BIGINT) AS kind_set, \
         CAST((SELECT COUNT(*) FROM device_parents p WHERE p.device_id = d.id) AS BIGINT) AS parent_set, d.retired_ms \
         FROM devices d JOIN sites s ON s.id = d.site_id WHERE {filter} ORDER BY s.name, d.addr LIMIT $1 OFFSET $2"
    );
    let rows: Vec<DeviceRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).bind(offset).bind(arg).fetch_all(&db.pool).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let stats = recent_stats(db, &ids, now - 600_000).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (n, lost) = stats.get(&r.id).copied().unwrap_or((0, 0));
            DeviceView {
                id: r.id,
                site_id: r.site_id,
                site: r.site,
                addr: r.addr,
                name: r.name,
                status: device_status(now, r.interval_ms, r.last_sample_ms, r.last_rtt_us, r.last_ok_ms),
                last_rtt_ms: r.last_rtt_us.map(|us| us as f64 / 1000.0),
                loss_pct: (n > 0).then(|| lost as f64 * 100.0 / n as f64),
                samples_10m: n,
                last_sample_ms: r.last_sample_ms,
                mac: r.mac,
                kind: r.kind,
                vendor: r.vendor,
                model: r.model,
                firmware: r.firmware,
                parent_id: r.parent_id,
                signal_dbm: r.signal_dbm,
                snmp: r.snmp_outcome,
                notes: r.notes,
                kind_set: r.kind_set != 0,
                parent_set: r.parent_set != 0,
                retired_ms: r.retired_ms,
            }
        })
        .collect())
}

/// Pings and lost pings since `since`, per device of `ids` only: one index
/// range of `(device_id, ts_ms)` per device, so a page of 100 devices reads
/// their recent samples and not every device's (1 million rows in ten
/// minutes for 50,000 devices at 30 s).
async fn recent_stats(db: &Db, ids: &[i64], since: i64) -> Result<HashMap<i64, (i64, i64)>, StoreError> {
    let mut stats = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let list = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT device_id, COUNT(*) AS n, CAST(SUM(CASE WHEN rtt_us IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS lost \
             FROM samples WHERE device_id IN ({list}) AND ts_ms > $1 AND kind = 0 GROUP BY device_id"
        );
        let mut q = sqlx::query_as::<_, (i64, i64, i64)>(sqlx::AssertSqlSafe(sql)).bind(since);
        for id in chunk {
            q = q.bind(id);
        }
        stats.extend(q.fetch_all(&db.pool).await?.into_iter().map(|(id, n, lost)| (id, (n, lost))));
    }
    Ok(stats)
}

/// Records key ranges an agent reported lost. Idempotent; a range the
/// agent extended since (same start) grows.
pub async fn record_drops(db: &Db, agent_id: u64, drops: &[mast_shared::DroppedRange]) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    for d in drops.iter().filter(|d| d.first_seq <= d.last_seq && d.last_seq < i64::MAX as u64) {
        sqlx::query(
            "INSERT INTO agent_drops (agent_id, boot_epoch, first_seq, last_seq, reason, reported_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, boot_epoch, first_seq) DO UPDATE SET \
             last_seq = CASE WHEN excluded.last_seq > agent_drops.last_seq THEN excluded.last_seq ELSE agent_drops.last_seq END",
        )
        .bind(agent_id as i64)
        .bind(d.boot_epoch as i64)
        .bind(d.first_seq as i64)
        .bind(d.last_seq as i64)
        .bind(format!("{:?}", d.reason))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Delivery integrity of one boot epoch of one agent.
#[derive(Debug, Clone, Serialize)]
pub struct EpochDelivery {
    pub boot_epoch: i64,
    pub first_seq: i64,
    /// Highest seq stored (or reported dropped) in this epoch.
    pub last_seq: i64,
    pub stored: i64,
    /// Keys the agent reported lost (and that never arrived).
    pub reported_dropped: i64,
    /// Keys in `[0, last_seq]` neither stored nor reported dropped: data loss.
    pub unexplained: i64,
}

/// Pure: integrity of one epoch from its stored count and highest seq, and
/// the reported drop ranges (with how many of their keys were stored anyway).
fn epoch_integrity(
    boot_epoch: i64,
    first_seq: i64,
    stored_last: i64,
    stored: i64,
    drops: &[(i64, i64)],
    dropped_but_stored: i64,
) -> EpochDelivery {
    let dropped: i64 = drops.iter().map(|(a, b)| b - a + 1).sum();
    let last_seq = drops.iter().map(|(_, b)| *b).fold(stored_last, i64::max);
    let reported_dropped = dropped - dropped_but_stored;
    EpochDelivery {
        boot_epoch,
        first_seq,
        last_seq,
        stored,
        reported_dropped,
        unexplained: (last_seq + 1 - stored - reported_dropped).max(0),
    }
}

pub async fn delivery(db: &Db, agent_id: i64) -> Result<Vec<EpochDelivery>, StoreError> {
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT boot_epoch, first_seq, last_seq, stored FROM delivery_counts WHERE agent_id = $1 ORDER BY boot_epoch",
    )
    .bind(agent_id)
    .fetch_all(&db.pool)
    .await?;
    let drops: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT boot_epoch, first_seq, last_seq FROM agent_drops WHERE agent_id = $1")
            .bind(agent_id)
            .fetch_all(&db.pool)
            .await?;
    let overlap: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT d.boot_epoch, COUNT(*) AS n FROM agent_drops d JOIN samples s ON s.agent_id = d.agent_id \
         AND s.boot_epoch = d.boot_epoch AND s.seq BETWEEN d.first_seq AND d.last_seq \
         WHERE d.agent_id = $1 GROUP BY d.boot_epoch",
    )
    .bind(agent_id)
    .fetch_all(&db.pool)
    .await?;
    let mut drops_by: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for (e, a, b) in drops {
        drops_by.entry(e).or_default().push((a, b));
    }
    let overlap_by: HashMap<i64, i64> = overlap.into_iter().collect();
    let mut out = Vec::new();
    for (e, first, last, stored) in rows {
        let d = drops_by.remove(&e).unwrap_or_default();
        out.push(epoch_integrity(e, first, last, stored, &d, overlap_by.get(&e).copied().unwrap_or(0)));
    }
    // Epochs whose every key was dropped.
    for (e, d) in drops_by {
        out.push(epoch_integrity(e, 0, -1, 0, &d, 0));
    }
    out.sort_by_key(|e| e.boot_epoch);
    Ok(out)
}

/// One point of a device chart: a time bucket's mean RTT and loss.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub t_ms: i64,
    pub rtt_ms: Option<f64>,
    pub loss_pct: f64,
    pub samples: i64,
}

/// Mean signal (dBm) per bucket from a radio's station samples.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SignalPoint {
    pub t_ms: i64,
    pub signal_dbm: f64,
    pub samples: i64,
}

/// Mean signal of a radio over `[from, to)`, in at most `buckets` points.
pub async fn signal_series(
    db: &Db,
    device_id: i64,
    from: i64,
    to: i64,
    buckets: i64,
) -> Result<Vec<SignalPoint>, StoreError> {
    let bucket = ((to - from) / buckets.max(1)).max(1000);
    let rows: Vec<(i64, i64, Option<f64>)> = sqlx::query_as(
        "SELECT (ts_ms - $2) / $3 AS b, COUNT(value) AS n, CAST(AVG(value) AS DOUBLE PRECISION) AS sig \
         FROM samples WHERE device_id = $1 AND kind = 3 AND ts_ms >= $2 AND ts_ms < $4 AND value IS NOT NULL \
         GROUP BY b ORDER BY b",
    )
    .bind(device_id)
    .bind(from)
    .bind(bucket)
    .bind(to)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(b, n, sig)| SignalPoint {
            t_ms: from + b * bucket + bucket / 2,
            signal_dbm: sig.unwrap_or(0.0),
            samples: n,
        })
        .collect())
}

/// One bucket of the RTT/loss series, summed.
#[derive(sqlx::FromRow)]
struct Bucket {
    b: i64,
    n: i64,
    lost: i64,
}

/// RTT and loss of a device over `[from, to)`, downsampled in the database
/// into at most `buckets` points, so a week-long chart stays cheap.
pub async fn device_series(
    db: &Db,
    device_id: i64,
    from: i64,
    to: i64,
    buckets: i64,
) -> Result<Vec<Point>, StoreError> {
    let bucket = ((to - from) / buckets.max(1)).max(1000);
    let point = |r: &Bucket, bucket: i64, rtt_ms: Option<f64>| Point {
        t_ms: from + r.b * bucket + bucket / 2,
        rtt_ms,
        loss_pct: if r.n > 0 { r.lost as f64 * 100.0 / r.n as f64 } else { 0.0 },
        samples: r.n,
    };
    if to - from > 6 * crate::rollup::HOUR {
        // Long ranges come from the rollups (5-minute up to 8 days, then hourly).
        let width =
            if to - from <= 8 * 24 * crate::rollup::HOUR { crate::rollup::FIVE_MIN } else { crate::rollup::HOUR };
        let bucket = bucket.max(width);
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            bucket: Bucket,
            rs: i64,
            rn: i64,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT (t_ms - $2) / $3 AS b, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(lost) AS BIGINT) AS lost, \
             CAST(SUM(rtt_sum_us) AS BIGINT) AS rs, CAST(SUM(rtt_n) AS BIGINT) AS rn \
             FROM sample_rollups WHERE device_id = $1 AND width_ms = $5 AND t_ms >= $2 AND t_ms < $4 GROUP BY b ORDER BY b",
        )
        .bind(device_id)
        .bind(from)
        .bind(bucket)
        .bind(to)
        .bind(width)
        .fetch_all(&db.pool)
        .await?;
        return Ok(rows
            .iter()
            .map(|r| point(&r.bucket, bucket, (r.rn > 0).then(|| r.rs as f64 / r.rn as f64 / 1000.0)))
            .collect());
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        bucket: Bucket,
        rtt: Option<f64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT (ts_ms - $2) / $3 AS b, COUNT(*) AS n, \
         CAST(SUM(CASE WHEN rtt_us IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS lost, \
         CAST(AVG(rtt_us) AS DOUBLE PRECISION) AS rtt \
         FROM samples WHERE device_id = $1 AND kind = 0 AND ts_ms >= $2 AND ts_ms < $4 GROUP BY b ORDER BY b",
    )
    .bind(device_id)
    .bind(from)
    .bind(bucket)
    .bind(to)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(|r| point(&r.bucket, bucket, r.rtt.map(|us| us / 1000.0))).collect())
}

/// Device counts of one site by status.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct SiteCounts {
    #[sqlx(rename = "n")]
    pub total: i64,
    pub up: i64,
    pub down: i64,
}

/// Per-site device counts by status, aggregated in the database (what the
/// dashboard, site list and schematic need, without loading every device).
/// The statuses are [`device_status`] in SQL ([`status_sql`]).
pub async fn site_counts(db: &Db, now: i64) -> Result<HashMap<i64, SiteCounts>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        site_id: i64,
        #[sqlx(flatten)]
        counts: SiteCounts,
    }
    let sql = format!(
        "SELECT d.site_id, COUNT(*) AS n, CAST(SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS BIGINT) AS up, \
         CAST(SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS BIGINT) AS down \
         FROM devices d JOIN sites s ON s.id = d.site_id WHERE d.retired_ms IS NULL GROUP BY d.site_id",
        status_sql(DeviceStatus::Up, "$1"),
        status_sql(DeviceStatus::Down, "$1")
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(|r| (r.site_id, r.counts)).collect())
}

/// One device with its site, for the device page.
pub async fn device(db: &Db, id: i64) -> Result<Option<DeviceView>, StoreError> {
    Ok(list_devices_where(db, "d.id = $3", id, now_ms(), 1, 0).await?.into_iter().next())
}

/// The (newest) device holding `mac`, if any.
pub async fn device_by_mac(db: &Db, mac: &str) -> Result<Option<DeviceView>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM devices WHERE mac = $1 ORDER BY id DESC LIMIT 1")
        .bind(mac)
        .fetch_optional(&db.pool)
        .await?;
    match id {
        Some(id) => device(db, id).await,
        None => Ok(None),
    }
}

/// The device with id `id`, or [`StoreError::NotFound`].
pub async fn get_device(db: &Db, id: i64) -> Result<DeviceView, StoreError> {
    device(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("no device {id}")))
}

/// [`StoreError::NotFound`] unless device `id` exists: one primary-key
/// lookup (the chart routes ask it when a chart has no points, to tell an
/// unknown device from a quiet one; [`get_device`] also computes the
/// device's live state).
pub async fn check_device(db: &Db, id: i64) -> Result<(), StoreError> {
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM devices WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
    found.map(|_| ()).ok_or_else(|| StoreError::NotFound(format!("no device {id}")))
}

/// The devices behind a customer's CPE MACs (their own MAC, or any MAC
/// their inventory records hold).
pub async fn customer_devices(db: &Db, customer_id: i64) -> Result<Vec<DeviceView>, StoreError> {
    list_devices_where(
        db,
        "(d.mac IN (SELECT mac FROM customer_devices WHERE customer_id = $3) OR d.id IN \
         (SELECT i.device_id FROM inventory i JOIN customer_devices cd ON cd.mac = i.mac WHERE cd.customer_id = $3))",
        customer_id,
        now_ms(),
        1_000,
        0,
    )
    .await
}

/// The devices an incident affects.
pub async fn incident_devices(db: &Db, incident_id: i64) -> Result<Vec<DeviceView>, StoreError> {
    list_devices_where(
        db,
        "d.id IN (SELECT device_id FROM incident_devices WHERE incident_id = $3)",
        incident_id,
        now_ms(),
        100_000,
        0,
    )
    .await
}

/// Devices of one site.
pub async fn site_devices(db: &Db, site_id: i64) -> Result<Vec<DeviceView>, StoreError> {
    list_devices_where(db, "d.site_id = $3 AND d.retired_ms IS NULL", site_id, now_ms(), 100_000, 0).await
}

/// Devices whose address, name or MAC (any notation) contains `q`.
pub async fn search_devices(db: &Db, q: &str) -> Result<Vec<DeviceView>, StoreError> {
    let all = list_devices(db, 100_000, 0).await?;
    let mac = inventory::mac_fragment(q);
    let q = q.to_lowercase();
    Ok(all
        .into_iter()
        .filter(|d| {
            d.addr.contains(&q)
                || d.name.as_deref().is_some_and(|n| n.to_lowercase().contains(&q))
                || d.mac.as_deref().zip(mac.as_deref()).is_some_and(|(m, h)| m.replace(':', "").contains(h))
        })
        .take(50)
        .collect())
}

/// A customer with coordinates, for the map.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LocatedCustomer {
    pub id: i64,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    /// The customer's service status (`active`, `suspended`, ...).
    pub status: String,
}

/// Customers with coordinates (at most `limit`), for the map.
pub async fn located_customers(db: &Db, limit: i64) -> Result<Vec<LocatedCustomer>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, lat, lon, status FROM customers WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// A period the agent's uplink was down, from its own spooled events.
#[derive(Debug, Clone, Serialize)]
pub struct UplinkOutage {
    pub from_ms: i64,
    /// `None` while the agent has not reported the link back.
    pub to_ms: Option<i64>,
}

pub async fn uplink_outages(db: &Db, agent_id: i64, limit: i64) -> Result<Vec<UplinkOutage>, StoreError> {
    let rows: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT ts_ms, value FROM samples WHERE agent_id = $1 AND kind = $2 ORDER BY boot_epoch, seq")
            .bind(agent_id)
            .bind(KIND_UPLINK)
            .fetch_all(&db.pool)
            .await?;
    let mut out: Vec<UplinkOutage> = Vec::new();
    for (ts, up) in rows {
        match (up, out.last_mut()) {
            (Some(0), Some(o)) if o.to_ms.is_none() => {}
            (Some(0), _) => out.push(UplinkOutage { from_ms: ts, to_ms: None }),
            (_, Some(o)) if o.to_ms.is_none() => o.to_ms = Some(ts),
            _ => {}
        }
    }
    let skip = out.len().saturating_sub(limit as usize);
    Ok(out.split_off(skip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_shared::{Sample, SampleBody};

    #[tokio::test]
    async fn sites_are_edited_whole_and_deleted_only_while_nothing_depends_on_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        let edit = |name: &str| SiteEdit {
            name: name.into(),
            targets: parse_targets("10.0.0.1=ap, 10.0.0.2").unwrap(),
            interval_ms: 30_000,
            timeout_ms: 1_000,
            location: Some((45.0, -93.0)),
        };
        let a = create_site(&db, &edit("alpha")).await.unwrap();
        let b = create_site(&db, &edit("beta")).await.unwrap();
        let taken = create_site(&db, &edit("alpha")).await.unwrap_err();
        assert!(matches!(taken, StoreError::Invalid { ref field, .. } if field == "name"), "{taken}");
        let renamed =
            edit_site(&db, a.id, &SiteEdit { name: "alpha-2".into(), location: None, ..edit("x") }).await.unwrap();
        assert_eq!((renamed.name.as_str(), renamed.lat, renamed.revision), ("alpha-2", None, 2));
        assert!(matches!(edit_site(&db, b.id, &edit("alpha-2")).await, Err(StoreError::Invalid { .. })));
        let named: Vec<_> = site_targets(&db, a.id).await.unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(named, [Some("ap".to_string()), None]);

        // A pending enrollment token goes with the site; an enrolled agent keeps it.
        crate::fleet::add_agent(&db, "alpha-2", std::time::Duration::from_secs(60)).await.unwrap();
        delete_site(&db, a.id).await.unwrap();
        assert!(site(&db, a.id).await.unwrap().is_none());
        let (agent, _) = crate::fleet::add_agent(&db, "beta", std::time::Duration::from_secs(60)).await.unwrap();
        sqlx::query("UPDATE agents SET status = 'active' WHERE id = $1")
            .bind(agent as i64)
            .execute(&db.pool)
            .await
            .unwrap();
        assert!(matches!(delete_site(&db, b.id).await, Err(StoreError::Conflict(_))));
        assert!(site(&db, b.id).await.unwrap().is_some(), "refused: nothing removed");
        assert!(matches!(delete_site(&db, 999).await, Err(StoreError::NotFound(_))));
    }

    #[tokio::test]
    async fn device_pages_filter_by_status_in_the_database_as_device_status_does() {
        let (_dir, db) = crate::test_db().await;
        let site = add_site(&db, "paged", &[], 30_000, 1_000).await.unwrap();
        let now = now_ms();
        // 12 devices in every state device_status knows, and one retired.
        let states: [(Option<i64>, Option<i64>, Option<i64>); 6] = [
            (Some(now - 5_000), Some(900), Some(now - 5_000)),     // up
            (Some(now - 5_000), None, Some(now - 60_000)),         // down
            (Some(now - 5_000), None, None),                       // no reply
            (Some(now - 200_000), Some(900), Some(now - 200_000)), // unknown: silent 3 intervals
            (None, None, None),                                    // unknown: never sampled
            (Some(now - 100_000), Some(900), Some(now - 100_000)), // up: within 3 intervals + 10 s
        ];
        for i in 0..12i64 {
            let (last, rtt, ok) = states[i as usize % states.len()];
            sqlx::query(
                "INSERT INTO devices (site_id, addr, last_sample_ms, last_rtt_us, last_ok_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(site.id)
            .bind(format!("10.0.0.{:02}", i + 10))
            .bind(last)
            .bind(rtt)
            .bind(ok)
            .bind(now)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        sqlx::query("UPDATE devices SET retired_ms = $1 WHERE addr = '10.0.0.10'")
            .bind(now)
            .execute(&db.pool)
            .await
            .unwrap();
        let (all, total) = devices_page(&db, None, now, 100, 0).await.unwrap();
        assert_eq!((all.len(), total), (11, 11), "the retired device is out");
        for status in [DeviceStatus::Up, DeviceStatus::Down, DeviceStatus::NoReply, DeviceStatus::Unknown] {
            let want: Vec<i64> = all.iter().filter(|d| d.status == status).map(|d| d.id).collect();
            let (got, n) = devices_page(&db, Some(status), now, 100, 0).await.unwrap();
            assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), want, "{status:?}");
            assert_eq!(n, want.len() as i64, "{status:?}");
            assert!(!want.is_empty(), "{status:?} has devices in this test");
        }
        // Pages follow the address order and add up to the whole.
        let (p1, _) = devices_page(&db, None, now, 4, 0).await.unwrap();
        let (p3, n) = devices_page(&db, None, now, 4, 8).await.unwrap();
        assert_eq!((p1.len(), p3.len(), n), (4, 3, 11));
        assert_eq!(p1[0].addr, "10.0.0.11");
        assert_eq!(p3.last().unwrap().addr, "10.0.0.21");
    }

    #[tokio::test]
    async fn samples_stamped_in_the_future_are_kept_but_never_applied() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/f.db", dir.path().display())).await.unwrap();
        let site = add_site(&db, "clock", &[], 30_000, 1_000).await.unwrap();
        let target: IpAddr = "10.9.9.9".parse().unwrap();
        let now = now_ms();
        let sample =
            |seq, ts_ms| Sample { boot_epoch: 1, seq, ts_ms, body: SampleBody::Ping { target, rtt_us: Some(900) } };
        let mut ids = HashMap::new();
        let s = store_samples(&db, 7, site.id, &[sample(0, now - 1_000), sample(1, i64::MAX), sample(2, -5)], &mut ids)
            .await
            .unwrap();
        assert_eq!((s.inserted, s.future), (3, 2), "all three keys stored, two of them not believed");
        let last: Option<i64> = sqlx::query_scalar("SELECT last_sample_ms FROM devices WHERE addr = '10.9.9.9'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(last, Some(now - 1_000), "the device's last sample is the real one, not i64::MAX");
        assert_eq!(s.newest_ms, Some(now - 1_000));
        assert!(s.observations.iter().all(|o| o.2 == now - 1_000));
    }

    #[test]
    fn targets_parse_and_dedupe() {
        let t = parse_targets("127.0.0.1, 127.0.0.2=ap-1,127.0.0.1,").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].name.as_deref(), Some("ap-1"));
        assert!(parse_targets("127.0.0.1,nonsense").is_err());
    }

    #[test]
    fn integrity_explains_reported_drops_only() {
        // 100 keys, 90 stored, 10 reported dropped: no loss.
        let e = epoch_integrity(1, 0, 99, 90, &[(40, 49)], 0);
        assert_eq!((e.reported_dropped, e.unexplained), (10, 0));
        // A dropped tail extends the expected range.
        let e = epoch_integrity(1, 0, 49, 50, &[(50, 59)], 0);
        assert_eq!((e.last_seq, e.unexplained), (59, 0));
        // A gap nobody reported is data loss.
        let e = epoch_integrity(1, 0, 99, 95, &[], 0);
        assert_eq!(e.unexplained, 5);
        // Keys reported dropped that arrived anyway are not double counted.
        let e = epoch_integrity(1, 0, 99, 100, &[(0, 9)], 10);
        assert_eq!((e.reported_dropped, e.unexplained), (0, 0));
    }

    #[test]
    fn status_rules() {
        assert_eq!(device_status(100_000, 30_000, None, None, None), "unknown");
        assert_eq!(device_status(100_000, 30_000, Some(90_000), Some(5), Some(90_000)), "up");
        assert_eq!(device_status(100_000, 30_000, Some(90_000), None, Some(60_000)), "down");
        assert_eq!(device_status(1_000_000, 30_000, Some(90_000), Some(5), Some(90_000)), "unknown");
        assert_eq!(device_status(100_000, 30_000, Some(90_000), None, Some(1)), DeviceStatus::Down);
        assert_eq!(device_status(100_000, 30_000, Some(90_000), None, None), DeviceStatus::NoReply, "never answered");
        assert_eq!(serde_json::to_string(&DeviceStatus::Up).unwrap(), "\"up\"");
    }

    #[test]
    fn enums_keep_the_stored_texts() {
        let kinds: Vec<&str> = DeviceKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(kinds, ["unknown", "ap", "cpe", "backhaul", "router", "switch", "host"]);
        assert_eq!(DeviceKind::from(mast_shared::DeviceKind::AccessPoint), DeviceKind::Ap);
        assert_eq!(SnmpStatus::from(SnmpOutcome::Malformed).as_str(), "malformed");
        let e = DeviceStatus::parse("sideways").unwrap_err();
        assert_eq!(e.field(), Some("status"));
        assert_eq!(DeviceKind::parse("toaster").unwrap_err().field(), Some("kind"));
    }

    #[test]
    fn target_lists_name_their_field() {
        let e = parse_targets("10.0.0.1,nonsense").unwrap_err();
        assert_eq!(e.field(), Some("targets"), "{e}");
        let e = parse_targets("10.0.0.1=ap\0one").unwrap_err();
        assert_eq!(
            (e.field(), e.to_string()),
            (Some("targets"), "targets: must not contain control characters".into())
        );
    }

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/m.db", dir.path().display())).await.unwrap();
        (dir, db)
    }

    /// Typed errors: a rule names its field, a duplicate is a conflict, an
    /// unknown record is not found, and a stored text no enum names is
    /// corrupt (a 500), never a 400.
    #[tokio::test]
    async fn site_and_device_errors_are_typed() {
        let (_dir, db) = db().await;
        let e = add_site(&db, "bad name!", &[], 30_000, 1_000).await.unwrap_err();
        assert_eq!(e.field(), Some("name"), "{e}");
        let e = add_site(&db, "n", &[], 500, 100).await.unwrap_err();
        assert_eq!(e.field(), Some("interval_secs"), "{e}");
        let e = add_site(&db, "n", &[], 30_000, 30_000).await.unwrap_err();
        assert_eq!(e.field(), Some("timeout_ms"), "{e}");
        let s = add_site(&db, "north", &parse_targets("10.0.0.1=ap-1").unwrap(), 30_000, 1_000).await.unwrap();
        assert_eq!(s.targets, ["10.0.0.1"]);
        assert!(matches!(add_site(&db, "north", &[], 30_000, 1_000).await, Err(StoreError::Conflict(_))));
        assert!(matches!(set_site(&db, "nowhere", None, None, None).await, Err(StoreError::NotFound(_))));
        assert!(matches!(get_site(&db, 999).await, Err(StoreError::NotFound(_))));
        assert_eq!(set_site_location(&db, s.id, 91.0, 0.0).await.unwrap_err().field(), Some("lat"));
        assert_eq!(set_site_location(&db, s.id, 0.0, 181.0).await.unwrap_err().field(), Some("lon"));
        assert!(matches!(set_site_location(&db, 999, 1.0, 1.0).await, Err(StoreError::NotFound(_))));
        set_site_location(&db, s.id, 45.0, -93.0).await.unwrap();
        assert_eq!(site_by_name(&db, "north").await.unwrap().unwrap().lat, Some(45.0));

        let devices = site_devices(&db, s.id).await.unwrap();
        assert_eq!((devices.len(), devices[0].label(), devices[0].status), (1, "ap-1", DeviceStatus::Unknown));
        assert!(matches!(get_device(&db, 999).await, Err(StoreError::NotFound(_))));
        sqlx::query("UPDATE devices SET kind = 'ap', snmp_outcome = 'timeout'").execute(&db.pool).await.unwrap();
        let d = get_device(&db, devices[0].id).await.unwrap();
        assert_eq!((d.kind, d.snmp), (Some(DeviceKind::Ap), Some(SnmpStatus::Timeout)));
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            (json["kind"].as_str(), json["snmp"].as_str(), json["status"].as_str()),
            (Some("ap"), Some("timeout"), Some("unknown"))
        );
        sqlx::query("UPDATE devices SET kind = 'toaster'").execute(&db.pool).await.unwrap();
        assert!(matches!(get_device(&db, d.id).await, Err(StoreError::Corrupt(_))));
        assert!(matches!(list_devices(&db, 10, 0).await, Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn map_customers_and_series() {
        let (_dir, db) = db().await;
        let s = add_site(&db, "north", &parse_targets("10.0.0.1").unwrap(), 30_000, 1_000).await.unwrap();
        sqlx::query(
            "INSERT INTO customers (name, status, lat, lon, notify_outages, created_ms, updated_ms) \
             VALUES ('Ada', 'active', 45.1, -93.1, 1, 0, 0), ('Bob', 'active', NULL, NULL, 1, 0, 0)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let c = located_customers(&db, 10).await.unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].name.as_str(), c[0].status.as_str(), c[0].lat), ("Ada", "active", 45.1));
        let d = site_devices(&db, s.id).await.unwrap()[0].id;
        for (seq, (ts, rtt)) in [(1_000, Some(2_000)), (2_000, None), (61_000, Some(4_000))].into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us, value) \
                 VALUES (1, 1, $1, 0, $2, $3, $4, NULL)",
            )
            .bind(seq as i64)
            .bind(d)
            .bind(ts)
            .bind(rtt)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let p = device_series(&db, d, 0, 120_000, 2).await.unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].rtt_ms, p[0].loss_pct, p[0].samples), (Some(2.0), 50.0, 2));
        assert_eq!((p[1].rtt_ms, p[1].loss_pct), (Some(4.0), 0.0));
        assert!(signal_series(&db, d, 0, 120_000, 2).await.unwrap().is_empty());
    }
}
