//! Radio link health (part of `monitoring`). Owns `link_samples` (every
//! link sample the agents send, raw; the rollup pass applies the samples'
//! retention to it) and
//! `link_latest` (the newest per device, role and radio, for pages and the
//! API). A link is either a row of an AP's station table (role
//! [`Role::Station`]: the station's device, seen `via` the AP) or a device's
//! own radio (role [`Role::Radio`]: a CPE's link to its AP, a backhaul end's
//! to its far end, an AP sector's noise and station count).

use crate::db::{Db, StoreError, Tx};
use mast_shared::{LinkMetrics, LinkSample, format_mac};
use serde::Serialize;

/// Which side reported a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    /// A row of an AP's station table.
    Station = 0,
    /// The device's own radio.
    Radio = 1,
}

const COLUMNS: &str = "signal_dbm, chain0_dbm, chain1_dbm, remote_signal_dbm, noise_dbm, snr_db, quality_pct, \
     airtime_pct, tx_rate_kbps, rx_rate_kbps, tx_capacity_kbps, rx_capacity_kbps, modulation, distance_m, \
     frequency_mhz, width_mhz, tx_power_dbm, stations";

/// Stores one link sample of `device_id` (the station's device for a
/// station row, else the polled device) and refreshes its latest figures.
pub(crate) async fn record(
    tx: &mut Tx<'_>,
    device_id: i64,
    via_device_id: Option<i64>,
    l: &LinkSample,
    ts_ms: i64,
) -> Result<(), StoreError> {
    let role = if l.station.is_some() { Role::Station } else { Role::Radio } as i64;
    let m = &l.metrics;
    for (table, tail) in [
        ("link_samples", "ON CONFLICT DO NOTHING"),
        (
            "link_latest",
            "ON CONFLICT (device_id, role, radio) DO UPDATE SET ts_ms = excluded.ts_ms, \
             via_device_id = excluded.via_device_id, peer_mac = excluded.peer_mac, \
             signal_dbm = excluded.signal_dbm, chain0_dbm = excluded.chain0_dbm, chain1_dbm = excluded.chain1_dbm, \
             remote_signal_dbm = excluded.remote_signal_dbm, noise_dbm = excluded.noise_dbm, \
             snr_db = excluded.snr_db, quality_pct = excluded.quality_pct, airtime_pct = excluded.airtime_pct, \
             tx_rate_kbps = excluded.tx_rate_kbps, rx_rate_kbps = excluded.rx_rate_kbps, \
             tx_capacity_kbps = excluded.tx_capacity_kbps, rx_capacity_kbps = excluded.rx_capacity_kbps, \
             modulation = excluded.modulation, distance_m = excluded.distance_m, \
             frequency_mhz = excluded.frequency_mhz, width_mhz = excluded.width_mhz, \
             tx_power_dbm = excluded.tx_power_dbm, stations = excluded.stations \
             WHERE link_latest.ts_ms <= excluded.ts_ms",
        ),
    ] {
        let sql = format!(
            "INSERT INTO {table} (device_id, role, radio, ts_ms, via_device_id, peer_mac, {COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
             $23, $24) {tail}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(device_id)
            .bind(role)
            .bind(i64::from(l.radio))
            .bind(ts_ms)
            .bind(via_device_id)
            .bind(l.peer.as_ref().map(format_mac))
            .bind(m.signal_dbm.map(i64::from))
            .bind(m.chain0_dbm.map(i64::from))
            .bind(m.chain1_dbm.map(i64::from))
            .bind(m.remote_signal_dbm.map(i64::from))
            .bind(m.noise_dbm.map(i64::from))
            .bind(m.snr_db.map(i64::from))
            .bind(m.quality_pct.map(i64::from))
            .bind(m.airtime_pct.map(i64::from))
            .bind(m.tx_rate_kbps.map(i64::from))
            .bind(m.rx_rate_kbps.map(i64::from))
            .bind(m.tx_capacity_kbps.map(i64::from))
            .bind(m.rx_capacity_kbps.map(i64::from))
            .bind(m.modulation.as_deref().map(|s| s.chars().take(32).collect::<String>()))
            .bind(m.distance_m.map(i64::from))
            .bind(m.frequency_mhz.map(i64::from))
            .bind(m.width_mhz.map(i64::from))
            .bind(m.tx_power_dbm.map(i64::from))
            .bind(m.stations.map(i64::from))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A link's newest figures.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Link {
    pub device_id: i64,
    /// 0: a row of the AP `via_device_id`'s station table; 1: the device's own radio.
    pub role: i64,
    pub radio: i64,
    pub ts_ms: i64,
    pub via_device_id: Option<i64>,
    pub peer_mac: Option<String>,
    pub signal_dbm: Option<i64>,
    pub chain0_dbm: Option<i64>,
    pub chain1_dbm: Option<i64>,
    pub remote_signal_dbm: Option<i64>,
    pub noise_dbm: Option<i64>,
    pub snr_db: Option<i64>,
    pub quality_pct: Option<i64>,
    pub airtime_pct: Option<i64>,
    pub tx_rate_kbps: Option<i64>,
    pub rx_rate_kbps: Option<i64>,
    pub tx_capacity_kbps: Option<i64>,
    pub rx_capacity_kbps: Option<i64>,
    pub modulation: Option<String>,
    pub distance_m: Option<i64>,
    pub frequency_mhz: Option<i64>,
    pub width_mhz: Option<i64>,
    pub tx_power_dbm: Option<i64>,
    pub stations: Option<i64>,
}

impl Link {
    /// Difference between the two receive chains (dB).
    pub fn chain_imbalance_db(&self) -> Option<i64> {
        Some((self.chain0_dbm? - self.chain1_dbm?).abs())
    }

    /// The smaller of the two directions' capacities (kbit/s).
    pub fn capacity_kbps(&self) -> Option<i64> {
        match (self.tx_capacity_kbps, self.rx_capacity_kbps) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn metrics(&self) -> LinkMetrics {
        let n = |v: Option<i64>| v.and_then(|x| i16::try_from(x).ok());
        let u = |v: Option<i64>| v.and_then(|x| u32::try_from(x).ok());
        LinkMetrics {
            signal_dbm: n(self.signal_dbm),
            chain0_dbm: n(self.chain0_dbm),
            chain1_dbm: n(self.chain1_dbm),
            remote_signal_dbm: n(self.remote_signal_dbm),
            noise_dbm: n(self.noise_dbm),
            snr_db: n(self.snr_db),
            quality_pct: self.quality_pct.and_then(|x| u8::try_from(x).ok()),
            airtime_pct: self.airtime_pct.and_then(|x| u8::try_from(x).ok()),
            tx_rate_kbps: u(self.tx_rate_kbps),
            rx_rate_kbps: u(self.rx_rate_kbps),
            tx_capacity_kbps: u(self.tx_capacity_kbps),
            rx_capacity_kbps: u(self.rx_capacity_kbps),
            modulation: self.modulation.clone(),
            distance_m: u(self.distance_m),
            frequency_mhz: u(self.frequency_mhz),
            width_mhz: self.width_mhz.and_then(|x| u16::try_from(x).ok()),
            tx_power_dbm: n(self.tx_power_dbm),
            stations: self.stations.and_then(|x| u16::try_from(x).ok()),
        }
    }
}

fn select(where_: &str) -> String {
    format!(
        "SELECT device_id, role, radio, ts_ms, via_device_id, peer_mac, {COLUMNS} FROM link_latest l {where_} \
         ORDER BY role, radio"
    )
}

/// A device's links: its own radios and its row in its AP's station table.
pub async fn of_device(db: &Db, device_id: i64) -> Result<Vec<Link>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(select("WHERE device_id = $1"))).bind(device_id).fetch_all(&db.pool).await?)
}

/// A station of an AP with its newest figures and trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationLink {
    pub link: Link,
    pub name: Option<String>,
    pub addr: String,
    pub mac: Option<String>,
    pub site_id: i64,
    /// Mean signal over the last hour minus the mean over the first day of
    /// the week before (dB; negative: weaker now). `None` without both.
    pub change_7d_db: Option<f64>,
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Mean signal per device in `[from, to)` for rows matching `cond` ($1..$3 bound by the caller).
async fn mean_signal(
    db: &Db,
    cond: &str,
    key: i64,
    from: i64,
    to: i64,
) -> Result<std::collections::HashMap<i64, f64>, StoreError> {
    let sql = format!(
        "SELECT device_id, CAST(AVG(signal_dbm) AS DOUBLE PRECISION) FROM link_samples \
         WHERE {cond} AND role = 0 AND ts_ms >= $2 AND ts_ms < $3 AND signal_dbm IS NOT NULL GROUP BY device_id"
    );
    let rows: Vec<(i64, Option<f64>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(key).bind(from).bind(to).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().filter_map(|(d, v)| Some((d, v?))).collect())
}

/// 7-day change per station: last hour's mean minus the mean of the first
/// day of the week before `now`.
async fn changes(db: &Db, cond: &str, key: i64, now: i64) -> Result<std::collections::HashMap<i64, f64>, StoreError> {
    let recent = mean_signal(db, cond, key, now - HOUR, now + 1).await?;
    let before = mean_signal(db, cond, key, now - 7 * DAY, now - 6 * DAY).await?;
    Ok(recent.into_iter().filter_map(|(d, r)| Some((d, r - before.get(&d)?))).collect())
}

#[derive(sqlx::FromRow)]
struct StationRow {
    #[sqlx(flatten)]
    link: Link,
    name: Option<String>,
    addr: String,
    mac: Option<String>,
    site_id: i64,
}

fn with_devices(where_: &str) -> String {
    format!(
        "SELECT l.device_id, l.role, l.radio, l.ts_ms, l.via_device_id, l.peer_mac, {}, d.name, d.addr, d.mac, \
         d.site_id FROM link_latest l JOIN devices d ON d.id = l.device_id {where_}",
        COLUMNS.split(", ").map(|c| format!("l.{c}")).collect::<Vec<_>>().join(", ")
    )
}

/// How long a station stays in its AP's list after the AP last listed it
/// (a CPE that moved to another AP, or went dark).
pub const STATION_STALE_MS: i64 = 10 * 60_000;

/// The stations an AP lists now (rows within [`STATION_STALE_MS`] of its
/// newest station-table row), weakest signal first, with their 7-day trend.
pub async fn stations_of(db: &Db, ap_id: i64, now: i64) -> Result<Vec<StationLink>, StoreError> {
    let rows: Vec<StationRow> = sqlx::query_as(sqlx::AssertSqlSafe(with_devices(
        "WHERE l.role = 0 AND l.via_device_id = $1 AND d.retired_ms IS NULL \
         AND l.ts_ms >= (SELECT MAX(ts_ms) FROM link_latest WHERE via_device_id = $1 AND role = 0) - $2 \
         ORDER BY COALESCE(l.signal_dbm, 0), d.addr",
    )))
    .bind(ap_id)
    .bind(STATION_STALE_MS)
    .fetch_all(&db.pool)
    .await?;
    let ch = changes(db, "via_device_id = $1", ap_id, now).await?;
    Ok(rows
        .into_iter()
        .map(|r| StationLink {
            change_7d_db: ch.get(&r.link.device_id).copied(),
            link: r.link,
            name: r.name,
            addr: r.addr,
            mac: r.mac,
            site_id: r.site_id,
        })
        .collect())
}

/// What makes a link weak on the weak-links page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weakness {
    /// Signal below this (dBm).
    pub signal_dbm: i64,
    /// SNR below this (dB).
    pub snr_db: i64,
    /// Chains further apart than this (dB): a cable, connector or alignment fault.
    pub imbalance_db: i64,
    /// Signal fell by more than this over the week (dB).
    pub drop_db: f64,
}

impl Default for Weakness {
    fn default() -> Self {
        Weakness { signal_dbm: -75, snr_db: 20, imbalance_db: 6, drop_db: 6.0 }
    }
}

/// Stations whose newest figures or trend cross one of `w`'s lines, with
/// the reasons; weakest first, at most `limit`.
pub async fn weak(
    db: &Db,
    w: Weakness,
    site_id: Option<i64>,
    now: i64,
    limit: usize,
) -> Result<Vec<(StationLink, Vec<String>)>, StoreError> {
    let rows: Vec<StationRow> = sqlx::query_as(sqlx::AssertSqlSafe(with_devices(
        "WHERE l.role = 0 AND d.retired_ms IS NULL AND ($1 = 0 OR d.site_id = $1) AND l.ts_ms >= $2 \
         ORDER BY COALESCE(l.signal_dbm, 0), d.addr",
    )))
    .bind(site_id.unwrap_or(0))
    .bind(now - HOUR)
    .fetch_all(&db.pool)
    .await?;
    let ch =
        changes(db, "($1 = 0 OR device_id IN (SELECT id FROM devices WHERE site_id = $1))", site_id.unwrap_or(0), now)
            .await?;
    let mut out = Vec::new();
    for r in rows {
        let change = ch.get(&r.link.device_id).copied();
        let mut why = Vec::new();
        if let Some(s) = r.link.signal_dbm.filter(|s| *s < w.signal_dbm) {
            why.push(format!("signal {s} dBm"));
        }
        if let Some(s) = r.link.snr_db.filter(|s| *s < w.snr_db) {
            why.push(format!("SNR {s} dB"));
        }
        if let Some(i) = r.link.chain_imbalance_db().filter(|i| *i > w.imbalance_db) {
            why.push(format!("chains {i} dB apart"));
        }
        if let Some(c) = change.filter(|c| -*c > w.drop_db) {
            why.push(format!("{:.0} dB weaker than a week ago", -c));
        }
        if why.is_empty() {
            continue;
        }
        out.push((
            StationLink {
                change_7d_db: change,
                link: r.link,
                name: r.name,
                addr: r.addr,
                mac: r.mac,
                site_id: r.site_id,
            },
            why,
        ));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// One bucket of a link's series: means of what the device reported.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LinkPoint {
    pub t_ms: i64,
    pub signal_dbm: Option<f64>,
    pub remote_signal_dbm: Option<f64>,
    pub snr_db: Option<f64>,
    pub noise_dbm: Option<f64>,
    pub capacity_mbps: Option<f64>,
}

/// A device's link figures in `buckets` means over `[from, to)`: its row in
/// its AP's station table when it has one, else its own radio 0..n.
pub async fn series(db: &Db, device_id: i64, from: i64, to: i64, buckets: i64) -> Result<Vec<LinkPoint>, StoreError> {
    let bucket = ((to - from) / buckets.max(1)).max(1000);
    let (role,): (Option<i64>,) = sqlx::query_as("SELECT MIN(role) FROM link_latest WHERE device_id = $1")
        .bind(device_id)
        .fetch_one(&db.pool)
        .await?;
    let Some(role) = role else { return Ok(Vec::new()) };
    type Row = (i64, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT (ts_ms - $2) / $3 AS b, CAST(AVG(signal_dbm) AS DOUBLE PRECISION), \
         CAST(AVG(remote_signal_dbm) AS DOUBLE PRECISION), CAST(AVG(snr_db) AS DOUBLE PRECISION), \
         CAST(AVG(noise_dbm) AS DOUBLE PRECISION), \
         CAST(AVG(CASE WHEN tx_capacity_kbps IS NULL THEN rx_capacity_kbps WHEN rx_capacity_kbps IS NULL \
              THEN tx_capacity_kbps WHEN tx_capacity_kbps < rx_capacity_kbps THEN tx_capacity_kbps \
              ELSE rx_capacity_kbps END) AS DOUBLE PRECISION) / 1000.0 \
         FROM link_samples WHERE device_id = $1 AND role = $5 AND ts_ms >= $2 AND ts_ms < $4 \
         GROUP BY b ORDER BY b",
    )
    .bind(device_id)
    .bind(from)
    .bind(bucket)
    .bind(to)
    .bind(role)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(b, s, r, snr, n, c)| LinkPoint {
            t_ms: from + b * bucket + bucket / 2,
            signal_dbm: s,
            remote_signal_dbm: r,
            snr_db: snr,
            noise_dbm: n,
            capacity_mbps: c,
        })
        .collect())
}

/// Per subject device, `(ts_ms, value)` since `from_ms`, oldest first, for
/// the link alert rules: `what` picks the figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Signal of station rows (the AP's view of each CPE).
    StationSignal,
    /// Stations associated, summed over a device's radios per poll.
    Stations,
    /// A backhaul or CPE radio's capacity (the smaller direction, kbit/s).
    Capacity,
}

/// One device's series of a [`Figure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSeries {
    pub device_id: i64,
    pub site_id: i64,
    /// Its name, else its address.
    pub label: String,
    /// `(ts_ms, value)`, oldest first.
    pub points: Vec<(i64, i64)>,
}

/// The series the link alert rules judge, per device (retired left out).
pub async fn figures(db: &Db, what: Figure, from_ms: i64) -> Result<Vec<DeviceSeries>, StoreError> {
    let (role, expr) = match what {
        Figure::StationSignal => (0, "CAST(SUM(l.signal_dbm) AS BIGINT)".to_string()),
        Figure::Stations => (1, "CAST(SUM(l.stations) AS BIGINT)".to_string()),
        Figure::Capacity => (
            1,
            "MIN(CASE WHEN l.tx_capacity_kbps IS NULL THEN l.rx_capacity_kbps WHEN l.rx_capacity_kbps IS NULL \
             THEN l.tx_capacity_kbps WHEN l.tx_capacity_kbps < l.rx_capacity_kbps THEN l.tx_capacity_kbps \
             ELSE l.rx_capacity_kbps END)"
                .to_string(),
        ),
    };
    let sql = format!(
        "SELECT d.id, d.site_id, COALESCE(d.name, d.addr), l.ts_ms, {expr} FROM devices d \
         JOIN link_samples l ON l.device_id = d.id \
         WHERE d.retired_ms IS NULL AND l.role = $1 AND l.ts_ms >= $2 \
         GROUP BY d.id, d.site_id, d.name, d.addr, l.ts_ms ORDER BY d.id, l.ts_ms"
    );
    let rows: Vec<(i64, i64, String, i64, Option<i64>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(role).bind(from_ms).fetch_all(&db.pool).await?;
    let mut out: Vec<DeviceSeries> = Vec::new();
    for (id, site, label, ts, v) in rows {
        let Some(v) = v else { continue };
        match out.last_mut() {
            Some(last) if last.device_id == id => last.points.push((ts, v)),
            _ => out.push(DeviceSeries { device_id: id, site_id: site, label, points: vec![(ts, v)] }),
        }
    }
    Ok(out)
}

/// A radio link between two towers: a device's own radio at one site names
/// (as its peer) a MAC that a device at another site has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RadioPair {
    pub device_id: i64,
    pub device_label: String,
    pub site_id: i64,
    pub site_name: String,
    pub peer_device_id: i64,
    pub peer_label: String,
    pub peer_site_id: i64,
    pub peer_site_name: String,
}

/// The tower-to-tower radio links the agents see with an end at `site_id`
/// (from either side), newest figures only: what a backhaul pair says about
/// where a site's backhaul may come from.
pub async fn cross_site_pairs(db: &Db, site_id: i64) -> Result<Vec<RadioPair>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT l.device_id, COALESCE(d.name, d.addr) AS device_label, d.site_id, s.name AS site_name, \
         p.id AS peer_device_id, COALESCE(p.name, p.addr) AS peer_label, p.site_id AS peer_site_id, \
         ps.name AS peer_site_name \
         FROM link_latest l JOIN devices d ON d.id = l.device_id JOIN sites s ON s.id = d.site_id \
         JOIN inventory i ON i.mac = l.peer_mac AND i.device_id IS NOT NULL \
         JOIN devices p ON p.id = i.device_id JOIN sites ps ON ps.id = p.site_id \
         WHERE l.role = 1 AND l.peer_mac IS NOT NULL AND p.site_id <> d.site_id \
         AND d.retired_ms IS NULL AND p.retired_ms IS NULL AND (d.site_id = $1 OR p.site_id = $1) \
         ORDER BY d.site_id, l.device_id, p.id",
    )
    .bind(site_id)
    .fetch_all(&db.pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::now_ms;
    use crate::monitoring::{add_site, store_samples};
    use mast_shared::{DeviceKind, InventoryRecord, InventorySource, Sample, SampleBody, parse_mac};
    use std::collections::HashMap;
    use std::net::IpAddr;

    fn inv(mac: &str, ip: &str, kind: DeviceKind, source: InventorySource, parent: Option<&str>) -> SampleBody {
        SampleBody::Inventory(InventoryRecord {
            mac: parse_mac(mac).unwrap(),
            ip: Some(ip.parse().unwrap()),
            kind,
            source,
            vendor: None,
            model: None,
            firmware: None,
            serial: None,
            name: None,
            parent: parent.map(|p| parse_mac(p).unwrap()),
        })
    }

    fn station(ap: IpAddr, mac: &str, signal: i16) -> SampleBody {
        SampleBody::Link(LinkSample {
            device: ap,
            station: Some(parse_mac(mac).unwrap()),
            peer: None,
            radio: 0,
            metrics: LinkMetrics {
                signal_dbm: Some(signal),
                chain0_dbm: Some(signal - 1),
                chain1_dbm: Some(signal - 9),
                snr_db: Some(signal + 95),
                tx_capacity_kbps: Some(150_000),
                ..Default::default()
            },
        })
    }

    /// Link samples through the real ingest path on SQLite: the station rows
    /// land on the stations' devices under their AP, the AP's own radio on
    /// the AP; the newest figures win; a replayed (duplicate) batch changes
    /// nothing; the weak list, the trend, the series and the alert loaders
    /// read them.
    #[tokio::test]
    async fn station_and_radio_links_are_stored_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/l.db", dir.path().display())).await.unwrap();
        let site = add_site(&db, "ridge", &[], 30_000, 1_000).await.unwrap().id;
        let ap_ip: IpAddr = "10.0.0.2".parse().unwrap();
        let (ap, a, b) = ("24:a4:3c:00:00:10", "24:a4:3c:00:00:01", "24:a4:3c:00:00:02");
        let now = now_ms();
        let week_ago = now - 7 * DAY + HOUR;
        let mut seq = 0;
        let mut batch = |ts: i64, bodies: Vec<SampleBody>| {
            bodies
                .into_iter()
                .map(|body| {
                    seq += 1;
                    Sample { boot_epoch: 1, seq, ts_ms: ts, body }
                })
                .collect::<Vec<_>>()
        };
        let first = batch(
            week_ago,
            vec![
                inv(ap, "10.0.0.2", DeviceKind::AccessPoint, InventorySource::Snmp, None),
                inv(a, "10.0.1.1", DeviceKind::Cpe, InventorySource::StationTable, Some(ap)),
                inv(b, "10.0.1.2", DeviceKind::Cpe, InventorySource::StationTable, Some(ap)),
                station(ap_ip, a, -60),
                station(ap_ip, b, -62),
            ],
        );
        let later = batch(
            now - 60_000,
            vec![
                station(ap_ip, a, -71),
                station(ap_ip, b, -62),
                SampleBody::Link(LinkSample {
                    device: ap_ip,
                    station: None,
                    peer: None,
                    radio: 1,
                    metrics: LinkMetrics {
                        noise_dbm: Some(-95),
                        stations: Some(2),
                        frequency_mhz: Some(5_660),
                        ..Default::default()
                    },
                }),
            ],
        );
        let mut ids = HashMap::new();
        store_samples(&db, 1, site, &first, &mut ids).await.unwrap();
        store_samples(&db, 1, site, &later, &mut ids).await.unwrap();
        let again = store_samples(&db, 1, site, &later, &mut ids).await.unwrap();
        assert_eq!((again.inserted, again.duplicates), (0, 3), "a replayed batch is stored once");

        let ap_id = ids[&ap_ip];
        let st = stations_of(&db, ap_id, now).await.unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].mac.as_deref(), Some(a), "weakest first");
        assert_eq!(st[0].link.signal_dbm, Some(-71), "the newest figures");
        assert_eq!(st[0].link.chain_imbalance_db(), Some(8));
        assert_eq!(st[0].change_7d_db, Some(-11.0), "-71 now against -60 a week ago");
        assert_eq!(st[1].change_7d_db, Some(0.0));
        let own = of_device(&db, ap_id).await.unwrap();
        assert_eq!(own.len(), 1);
        assert_eq!((own[0].role, own[0].radio, own[0].stations, own[0].frequency_mhz), (1, 1, Some(2), Some(5_660)));
        let a_links = of_device(&db, st[0].link.device_id).await.unwrap();
        assert_eq!((a_links.len(), a_links[0].via_device_id), (1, Some(ap_id)));

        let weak_now = weak(&db, Weakness::default(), None, now, 10).await.unwrap();
        assert_eq!(weak_now.len(), 2, "{weak_now:?}");
        let (first_weak, why) = &weak_now[0];
        assert_eq!(first_weak.mac.as_deref(), Some(a));
        assert!(why.iter().any(|w| w.contains("11 dB weaker")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("chains 8 dB apart")), "{why:?}");
        let strict = Weakness { signal_dbm: -100, snr_db: 0, imbalance_db: 20, drop_db: 20.0 };
        assert!(weak(&db, strict, None, now, 10).await.unwrap().is_empty());
        assert!(weak(&db, Weakness::default(), Some(site + 1), now, 10).await.unwrap().is_empty(), "other site");

        let pts = series(&db, st[0].link.device_id, now - 8 * DAY, now, 8).await.unwrap();
        assert_eq!(pts.iter().filter_map(|p| p.signal_dbm).collect::<Vec<_>>(), [-60.0, -71.0]);
        assert_eq!(pts[1].capacity_mbps, Some(150.0));

        let sig = figures(&db, Figure::StationSignal, 0).await.unwrap();
        assert_eq!(sig.len(), 2);
        assert_eq!(
            sig.iter().find(|s| s.device_id == st[0].link.device_id).unwrap().points,
            [(week_ago, -60), (now - 60_000, -71)]
        );
        let counts = figures(&db, Figure::Stations, 0).await.unwrap();
        assert_eq!(
            counts,
            [DeviceSeries {
                device_id: ap_id,
                site_id: site,
                label: "10.0.0.2".into(),
                points: vec![(now - 60_000, 2)]
            }]
        );
        // A backhaul at another tower whose radio names the AP's MAC as its
        // far end: a tower-to-tower pair, seen from both sites.
        let far = add_site(&db, "valley", &[], 30_000, 1_000).await.unwrap().id;
        let bh_ip: IpAddr = "10.1.0.2".parse().unwrap();
        let bh = batch(
            now - 30_000,
            vec![
                inv("24:a4:3c:00:00:20", "10.1.0.2", DeviceKind::Backhaul, InventorySource::Snmp, None),
                SampleBody::Link(LinkSample {
                    device: bh_ip,
                    station: None,
                    peer: Some(parse_mac(ap).unwrap()),
                    radio: 0,
                    metrics: LinkMetrics { signal_dbm: Some(-48), ..Default::default() },
                }),
            ],
        );
        let mut far_ids = HashMap::new();
        store_samples(&db, 2, far, &bh, &mut far_ids).await.unwrap();
        let pairs = cross_site_pairs(&db, site).await.unwrap();
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        assert_eq!((pairs[0].device_id, pairs[0].peer_device_id), (far_ids[&bh_ip], ap_id));
        assert_eq!((pairs[0].site_name.as_str(), pairs[0].peer_site_name.as_str()), ("valley", "ridge"));
        assert_eq!(cross_site_pairs(&db, far).await.unwrap(), pairs, "seen from either end");
        assert!(cross_site_pairs(&db, far + 1).await.unwrap().is_empty());
        // Retention (the rollup pass) drops old raw rows; the latest figures stay.
        sqlx::query("DELETE FROM link_samples WHERE ts_ms < $1").bind(now - DAY).execute(&db.pool).await.unwrap();
        assert_eq!(stations_of(&db, ap_id, now).await.unwrap().len(), 2, "the latest figures stay");
    }
}
