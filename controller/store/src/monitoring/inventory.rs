//! Network inventory by MAC: what each agent learned about the devices at its
//! site (own SNMP identity, AP station tables, ARP and bridge tables), with
//! the history of every change. Owns tables `inventory`, `inventory_history`
//! and the identity/topology columns of `devices` (`mac`, `kind`, `vendor`,
//! `model`, `firmware`, `parent_id`, `signal_dbm`).
//!
//! Agents send a record when a device is first seen and whenever one of its
//! fields changes; station samples refresh `last_seen_ms` and the signal.
//! A record with an IP becomes (or updates) a `devices` row, so CPEs found in
//! a station table show up under their AP without being configured.
//! `parent_id` links a device to its AP; it is resolved whichever of the two
//! records arrives first.

use super::DeviceKind;
use crate::db::{Db, StoreError, Tx};
use mast_shared::{InventoryRecord, Mac, StationSample, format_mac};
use serde::Serialize;
use std::net::IpAddr;

crate::text_enum! {
    /// Where an inventory record came from (`inventory.source`).
    pub enum Source (field "source") {
        Snmp = "snmp",
        StationTable = "station-table",
        Neighbour = "neighbour",
        Bridge = "bridge",
    }
}

impl From<mast_shared::InventorySource> for Source {
    fn from(s: mast_shared::InventorySource) -> Source {
        use mast_shared::InventorySource as W;
        match s {
            W::Snmp => Source::Snmp,
            W::StationTable => Source::StationTable,
            W::Neighbour => Source::Neighbour,
            W::Bridge => Source::Bridge,
        }
    }
}

impl Source {
    /// A source may only overwrite what a less authoritative one said: a
    /// device's own SNMP answer beats an AP's station table, which beats ARP.
    fn authority(self) -> u8 {
        match self {
            Source::Snmp => 3,
            Source::StationTable => 2,
            Source::Bridge => 1,
            Source::Neighbour => 0,
        }
    }

    /// A device's own SNMP answer or an AP's station table makes a device; an
    /// ARP or bridge entry only names the MAC of a device already known.
    fn creates_devices(self) -> bool {
        matches!(self, Source::Snmp | Source::StationTable)
    }
}

/// Text an agent learned from the network (a sysName, a model): kept as
/// given when it is one clean line, otherwise control characters become
/// U+FFFD and it is cut at 255 characters, so a hostile or broken device
/// cannot stop ingest (PostgreSQL refuses NUL bytes).
fn network_text(s: &Option<String>) -> Option<String> {
    let s = s.as_deref()?;
    if mast_text_core::input::line(s, 255).is_ok() {
        return Some(s.to_string());
    }
    Some(s.chars().take(255).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect())
}

/// Vendor of a MAC from the IEEE registries (MA-L, MA-M, MA-S), or `None`
/// for unknown and locally administered addresses.
fn oui_vendor(mac: &Mac) -> Option<&'static str> {
    if mac[0] & 0x02 != 0 {
        return None;
    }
    oui_data::lookup(&format_mac(mac)).map(|r| r.organization())
}

/// The fields of a record as stored, in history order.
fn fields(rec: &InventoryRecord) -> [(&'static str, Option<String>); 8] {
    [
        ("ip", rec.ip.map(|i| i.to_string())),
        ("kind", Some(DeviceKind::from(rec.kind).as_str().to_string())),
        ("vendor", network_text(&rec.vendor)),
        ("model", network_text(&rec.model)),
        ("firmware", network_text(&rec.firmware)),
        ("serial", network_text(&rec.serial)),
        ("name", network_text(&rec.name)),
        ("parent_mac", rec.parent.as_ref().map(format_mac)),
    ]
}

/// The stored fields of an inventory record, in [`fields`] order.
#[derive(sqlx::FromRow)]
struct Stored {
    ip: Option<String>,
    kind: DeviceKind,
    vendor: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    serial: Option<String>,
    name: Option<String>,
    parent_mac: Option<String>,
    source: Source,
}

impl Stored {
    fn values(&self) -> [Option<String>; 8] {
        [
            self.ip.clone(),
            Some(self.kind.as_str().to_string()),
            self.vendor.clone(),
            self.model.clone(),
            self.firmware.clone(),
            self.serial.clone(),
            self.name.clone(),
            self.parent_mac.clone(),
        ]
    }
}

/// Applies one record inside the ingest transaction. Returns the device the
/// MAC belongs to, if any.
pub(crate) async fn apply_record(
    tx: &mut Tx<'_>,
    site_id: i64,
    rec: &InventoryRecord,
    ts_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let mac = format_mac(&rec.mac);
    let source = Source::from(rec.source);
    let existing: Option<Stored> = sqlx::query_as(
        "SELECT ip, kind, vendor, model, firmware, serial, name, parent_mac, source FROM inventory \
         WHERE site_id = $1 AND mac = $2",
    )
    .bind(site_id)
    .bind(&mac)
    .fetch_optional(&mut **tx)
    .await?;
    let new = fields(rec);
    match existing {
        None => {
            sqlx::query(
                "INSERT INTO inventory (site_id, mac, ip, kind, source, vendor, oui_vendor, model, firmware, serial, \
                 name, parent_mac, first_seen_ms, last_seen_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
            )
            .bind(site_id)
            .bind(&mac)
            .bind(new[0].1.clone())
            .bind(DeviceKind::from(rec.kind))
            .bind(source)
            .bind(new[2].1.clone())
            .bind(oui_vendor(&rec.mac))
            .bind(new[3].1.clone())
            .bind(new[4].1.clone())
            .bind(new[5].1.clone())
            .bind(new[6].1.clone())
            .bind(new[7].1.clone())
            .bind(ts_ms)
            .execute(&mut **tx)
            .await?;
            history(tx, site_id, &mac, ts_ms, "first-seen", None, Some(source.as_str().to_string())).await?;
        }
        Some(old_rec) => {
            let weaker = source.authority() < old_rec.source.authority();
            for ((field, value), old) in new.iter().zip(old_rec.values()) {
                // A weaker source fills gaps but never overwrites.
                let value = if weaker && old.is_some() { old.clone() } else { value.clone().or(old.clone()) };
                if value != old {
                    history(tx, site_id, &mac, ts_ms, field, old, value.clone()).await?;
                    // `field` is one of the fixed column names of `fields`.
                    let sql = format!("UPDATE inventory SET {field} = $1 WHERE site_id = $2 AND mac = $3");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(value)
                        .bind(site_id)
                        .bind(&mac)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            let source = if weaker { old_rec.source } else { source };
            sqlx::query(
                "UPDATE inventory SET source = $1, last_seen_ms = CASE WHEN last_seen_ms < $2 THEN $2 ELSE last_seen_ms END \
                 WHERE site_id = $3 AND mac = $4",
            )
            .bind(source)
            .bind(ts_ms)
            .bind(site_id)
            .bind(&mac)
            .execute(&mut **tx)
            .await?;
        }
    }
    link_device(tx, site_id, &mac).await
}

/// What [`link_device`] reads of an inventory record.
#[derive(sqlx::FromRow)]
struct Link {
    ip: Option<String>,
    device_id: Option<i64>,
    kind: DeviceKind,
    vendor: Option<String>,
    oui_vendor: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    name: Option<String>,
    parent_mac: Option<String>,
    source: Source,
}

/// Brings the `devices` row of a MAC in line with its inventory record:
/// creates it when the MAC has an IP, copies identity, and resolves the
/// parent link in both directions.
async fn link_device(tx: &mut Tx<'_>, site_id: i64, mac: &str) -> Result<Option<i64>, StoreError> {
    let row: Link = sqlx::query_as(
        "SELECT ip, device_id, kind, vendor, oui_vendor, model, firmware, name, parent_mac, source FROM inventory \
         WHERE site_id = $1 AND mac = $2",
    )
    .bind(site_id)
    .bind(mac)
    .fetch_one(&mut **tx)
    .await?;
    let mut device_id = row.device_id;
    let ip = row.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
    let id = match ip {
        Some(ip) if row.source.creates_devices() => Some(super::device_id(tx, site_id, ip).await?),
        Some(ip) => sqlx::query_as::<_, (i64,)>("SELECT id FROM devices WHERE site_id = $1 AND addr = $2")
            .bind(site_id)
            .bind(ip.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .map(|(id,)| id),
        None => None,
    };
    if let Some(id) = id
        && device_id != Some(id)
    {
        // The MAC moved to another address (DHCP): the old row keeps its
        // history but no longer claims the MAC.
        sqlx::query("UPDATE devices SET mac = NULL WHERE site_id = $1 AND mac = $2 AND id <> $3")
            .bind(site_id)
            .bind(mac)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE inventory SET device_id = $1 WHERE site_id = $2 AND mac = $3")
            .bind(id)
            .bind(site_id)
            .bind(mac)
            .execute(&mut **tx)
            .await?;
        device_id = Some(id);
    }
    let Some(id) = device_id else { return Ok(None) };
    sqlx::query(
        "UPDATE devices SET mac = $1, kind = $2, vendor = $3, model = $4, firmware = $5, \
         name = COALESCE(name, $6) WHERE id = $7",
    )
    .bind(mac)
    .bind(row.kind)
    .bind(row.vendor.or(row.oui_vendor))
    .bind(row.model)
    .bind(row.firmware)
    .bind(row.name)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    // Our parent, if its record is known.
    let parent: Option<i64> = match &row.parent_mac {
        Some(p) => {
            sqlx::query_as::<_, (Option<i64>,)>("SELECT device_id FROM inventory WHERE site_id = $1 AND mac = $2")
                .bind(site_id)
                .bind(p)
                .fetch_optional(&mut **tx)
                .await?
                .and_then(|(d,)| d)
        }
        None => None,
    };
    if parent != Some(id) {
        sqlx::query("UPDATE devices SET parent_id = $1 WHERE id = $2").bind(parent).bind(id).execute(&mut **tx).await?;
    }
    // Children that arrived before us.
    sqlx::query(
        "UPDATE devices SET parent_id = $1 WHERE id IN \
         (SELECT device_id FROM inventory WHERE site_id = $2 AND parent_mac = $3 AND device_id IS NOT NULL) AND id <> $1",
    )
    .bind(id)
    .bind(site_id)
    .bind(mac)
    .execute(&mut **tx)
    .await?;
    Ok(Some(id))
}

/// A device row was just created for `addr`: claim the inventory record that
/// already knew a MAC at that address (an ARP entry seen before the first ping).
pub(crate) async fn link_new_device(
    tx: &mut Tx<'_>,
    site_id: i64,
    addr: &str,
    device_id: i64,
) -> Result<(), StoreError> {
    #[derive(sqlx::FromRow)]
    struct Known {
        mac: String,
        kind: DeviceKind,
        vendor: Option<String>,
        model: Option<String>,
        firmware: Option<String>,
    }
    let Some(k): Option<Known> = sqlx::query_as(
        "SELECT mac, kind, COALESCE(vendor, oui_vendor) AS vendor, model, firmware FROM inventory \
         WHERE site_id = $1 AND ip = $2 AND device_id IS NULL ORDER BY last_seen_ms DESC LIMIT 1",
    )
    .bind(site_id)
    .bind(addr)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(());
    };
    sqlx::query("UPDATE inventory SET device_id = $1 WHERE site_id = $2 AND mac = $3")
        .bind(device_id)
        .bind(site_id)
        .bind(&k.mac)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE devices SET mac = $1, kind = $2, vendor = $3, model = $4, firmware = $5 WHERE id = $6")
        .bind(&k.mac)
        .bind(k.kind)
        .bind(k.vendor)
        .bind(k.model)
        .bind(k.firmware)
        .bind(device_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn history(
    tx: &mut Tx<'_>,
    site_id: i64,
    mac: &str,
    ts_ms: i64,
    field: &str,
    old: Option<String>,
    new: Option<String>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO inventory_history (site_id, mac, ts_ms, field, old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(site_id)
    .bind(mac)
    .bind(ts_ms)
    .bind(field)
    .bind(old)
    .bind(new)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A station sample: refreshes the station's signal and last-seen time.
/// Returns the station's device, if it has one.
pub(crate) async fn station_seen(
    tx: &mut Tx<'_>,
    site_id: i64,
    st: &StationSample,
    ts_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let mac = format_mac(&st.mac);
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "UPDATE inventory SET signal_dbm = $1, last_seen_ms = $2 \
         WHERE site_id = $3 AND mac = $4 AND last_seen_ms <= $2 RETURNING device_id",
    )
    .bind(st.signal_dbm.map(i64::from))
    .bind(ts_ms)
    .bind(site_id)
    .bind(&mac)
    .fetch_optional(&mut **tx)
    .await?;
    let device_id = match row {
        Some((d,)) => d,
        // An older sample (backlog replay): no current-state change, but the
        // series still belongs to the device.
        None => sqlx::query_as::<_, (Option<i64>,)>("SELECT device_id FROM inventory WHERE site_id = $1 AND mac = $2")
            .bind(site_id)
            .bind(&mac)
            .fetch_optional(&mut **tx)
            .await?
            .and_then(|(d,)| d),
    };
    Ok(device_id)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InventoryView {
    pub site_id: i64,
    pub site: String,
    pub mac: String,
    pub ip: Option<String>,
    pub device_id: Option<i64>,
    pub kind: DeviceKind,
    pub source: Source,
    pub vendor: Option<String>,
    /// Vendor of the MAC's OUI in the IEEE registry.
    pub oui_vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub name: Option<String>,
    pub parent_mac: Option<String>,
    pub signal_dbm: Option<i64>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

const VIEW_SQL: &str = "SELECT i.site_id, s.name AS site, i.mac, i.ip, i.device_id, i.kind, i.source, i.vendor, \
    i.oui_vendor, i.model, i.firmware, i.serial, i.name, i.parent_mac, i.signal_dbm, i.first_seen_ms, i.last_seen_ms \
    FROM inventory i JOIN sites s ON s.id = i.site_id";

const VIEW_ORDER: &str = "ORDER BY i.kind, i.mac LIMIT 1000";

/// Every MAC known at a site.
pub async fn site_inventory(db: &Db, site_id: i64) -> Result<Vec<InventoryView>, StoreError> {
    let sql = format!("{VIEW_SQL} WHERE i.site_id = $1 {VIEW_ORDER}");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(site_id).fetch_all(&db.pool).await?)
}

/// The inventory records of one device (normally one MAC).
pub async fn device_inventory(db: &Db, device_id: i64) -> Result<Vec<InventoryView>, StoreError> {
    let sql = format!("{VIEW_SQL} WHERE i.device_id = $1 {VIEW_ORDER}");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(device_id).fetch_all(&db.pool).await?)
}

/// MACs matching a search: any common MAC notation, whole or in part.
pub async fn search_mac(db: &Db, q: &str) -> Result<Vec<InventoryView>, StoreError> {
    let Some(hex) = mac_fragment(q) else { return Ok(Vec::new()) };
    // Stored as aa:bb:cc:dd:ee:ff; match the hex digits as one run.
    let sql = format!("{VIEW_SQL} WHERE REPLACE(i.mac, ':', '') LIKE $1 {VIEW_ORDER}");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(format!("%{hex}%")).fetch_all(&db.pool).await?)
}

/// A search that reads as (part of) a MAC in any notation: at least 4 hex
/// digits and nothing but `:`, `-`, `.` or spaces besides. Returns the
/// digits, lower case, to match against a stored MAC without its colons.
pub(crate) fn mac_fragment(q: &str) -> Option<String> {
    let q = q.trim();
    let hex: String = q.chars().filter(|c| c.is_ascii_hexdigit()).collect::<String>().to_ascii_lowercase();
    (hex.len() >= 4 && q.chars().all(|c| c.is_ascii_hexdigit() || ":-. ".contains(c))).then_some(hex)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HistoryEntry {
    pub mac: String,
    pub ts_ms: i64,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// Newest first.
pub async fn history_of(db: &Db, site_id: i64, mac: &str, limit: i64) -> Result<Vec<HistoryEntry>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT mac, ts_ms, field, old_value, new_value FROM inventory_history WHERE site_id = $1 AND mac = $2 \
         ORDER BY ts_ms DESC, id DESC LIMIT $3",
    )
    .bind(site_id)
    .bind(mac)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_shared::{DeviceKind as WireKind, InventorySource};

    #[test]
    fn oui_lookup_knows_wisp_vendors_and_skips_local_macs() {
        let ubnt = mast_shared::parse_mac("24:a4:3c:01:02:03").unwrap();
        assert!(oui_vendor(&ubnt).unwrap().to_lowercase().contains("ubiquiti"), "{:?}", oui_vendor(&ubnt));
        let mikrotik = mast_shared::parse_mac("4c:5e:0c:00:00:01").unwrap();
        assert!(oui_vendor(&mikrotik).unwrap().to_lowercase().contains("routerboard"), "{:?}", oui_vendor(&mikrotik));
        let local = mast_shared::parse_mac("02:00:00:00:00:01").unwrap();
        assert_eq!(oui_vendor(&local), None);
    }

    fn rec(
        mac: &str,
        ip: Option<&str>,
        kind: WireKind,
        source: InventorySource,
        parent: Option<&str>,
    ) -> InventoryRecord {
        InventoryRecord {
            mac: mast_shared::parse_mac(mac).unwrap(),
            ip: ip.map(|i| i.parse().unwrap()),
            kind,
            source,
            vendor: None,
            model: Some(format!("model of {mac}")),
            firmware: None,
            serial: None,
            name: None,
            parent: parent.map(|p| mast_shared::parse_mac(p).unwrap()),
        }
    }

    async fn apply(db: &Db, site: i64, r: &InventoryRecord, ts: i64) -> Option<i64> {
        let mut tx = db.begin().await.unwrap();
        let id = apply_record(&mut tx, site, r, ts).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// The SQL paths on a real (SQLite) database: parents resolve whichever
    /// record comes first, changes are kept as history, weaker sources fill
    /// gaps but never overwrite, ARP entries do not invent devices.
    #[tokio::test]
    async fn records_build_devices_topology_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let site = crate::monitoring::add_site(&db, "t", &[], 60_000, 1_000).await.unwrap().id;
        let (ap, cpe) = ("24:a4:3c:00:00:10", "24:a4:3c:00:00:01");
        // The CPE (from the AP's station table) arrives before the AP itself.
        let cpe_dev =
            apply(&db, site, &rec(cpe, Some("10.0.0.7"), WireKind::Cpe, InventorySource::StationTable, Some(ap)), 1)
                .await;
        let ap_dev =
            apply(&db, site, &rec(ap, Some("10.0.0.2"), WireKind::AccessPoint, InventorySource::Snmp, None), 2).await;
        let (cpe_dev, ap_dev) = (cpe_dev.unwrap(), ap_dev.unwrap());
        let d = crate::monitoring::device(&db, cpe_dev).await.unwrap().unwrap();
        assert_eq!(d.parent_id, Some(ap_dev));
        assert_eq!(d.mac.as_deref(), Some(cpe));
        assert_eq!(d.kind, Some(DeviceKind::Cpe));
        assert!(d.vendor.unwrap().to_lowercase().contains("ubiquiti"), "OUI vendor fills in");
        // The CPE's address changes: one history entry, same device row moves.
        let moved =
            apply(&db, site, &rec(cpe, Some("10.0.0.8"), WireKind::Cpe, InventorySource::StationTable, Some(ap)), 3)
                .await;
        assert_ne!(moved, Some(cpe_dev), "a new address is a new device row");
        let hist = history_of(&db, site, cpe, 10).await.unwrap();
        assert!(
            hist.iter().any(|h| h.field == "ip"
                && h.old_value.as_deref() == Some("10.0.0.7")
                && h.new_value.as_deref() == Some("10.0.0.8")),
            "{hist:?}"
        );
        assert_eq!(
            crate::monitoring::device(&db, cpe_dev).await.unwrap().unwrap().mac,
            None,
            "the old row gives up the MAC"
        );
        // A weaker source (ARP) does not overwrite the kind or the address.
        apply(&db, site, &rec(cpe, Some("10.0.0.99"), WireKind::Host, InventorySource::Neighbour, None), 4).await;
        let inv = site_inventory(&db, site).await.unwrap();
        let row = inv.iter().find(|i| i.mac == cpe).unwrap();
        assert_eq!(
            (row.kind.as_str(), row.ip.as_deref(), row.parent_mac.as_deref()),
            ("cpe", Some("10.0.0.8"), Some(ap))
        );
        // An ARP entry for an unknown address names no device and creates none.
        let n = crate::monitoring::site_devices(&db, site).await.unwrap().len();
        let none = apply(
            &db,
            site,
            &rec("00:11:22:33:44:55", Some("10.0.0.50"), WireKind::Host, InventorySource::Neighbour, None),
            5,
        )
        .await;
        assert_eq!(none, None);
        assert_eq!(crate::monitoring::site_devices(&db, site).await.unwrap().len(), n);
        // ... until that address is pinged: the new device claims the MAC.
        let mut tx = db.begin().await.unwrap();
        let dev = crate::monitoring::device_id(&mut tx, site, "10.0.0.50".parse().unwrap()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            crate::monitoring::device(&db, dev).await.unwrap().unwrap().mac.as_deref(),
            Some("00:11:22:33:44:55")
        );
        // MAC search in any notation.
        assert_eq!(search_mac(&db, "24A4.3C00.0001").await.unwrap().len(), 1);
        assert_eq!(search_mac(&db, "00-00-10").await.unwrap().len(), 1);
        assert!(search_mac(&db, "zz").await.unwrap().is_empty());
        assert!(search_mac(&db, "0010.0001").await.unwrap().is_empty(), "digits must be contiguous");
    }

    #[test]
    fn weaker_sources_never_overwrite() {
        assert!(Source::Neighbour.authority() < Source::StationTable.authority());
        assert!(Source::StationTable.authority() < Source::Snmp.authority());
        assert!(Source::Bridge.authority() < Source::Snmp.authority());
        assert!(Source::Snmp.creates_devices() && !Source::Neighbour.creates_devices());
    }

    #[test]
    fn network_text_is_one_clean_line() {
        assert_eq!(network_text(&Some("Rocket M5".into())).as_deref(), Some("Rocket M5"));
        assert_eq!(network_text(&None), None);
        assert_eq!(network_text(&Some("ap\0x\n".into())).as_deref(), Some("ap\u{fffd}x\u{fffd}"));
        assert_eq!(network_text(&Some("é".repeat(300))).map(|s| s.chars().count()), Some(255));
    }
}
