//! Device profiles: who made a device, what it is, and how to read its
//! station table. A profile is a static descriptor ([`Profile`]); adding a
//! vendor is one new file here plus one line in [`REGISTRY`]. Everything in
//! this module is pure: profiles see decoded varbinds, never a socket.

pub mod cambium;
pub mod mib2;
pub mod mikrotik;
pub mod ubiquiti;

use super::Station;
use super::value::Value;
use super::walk::Rows;
use mast_shared::msg::{DeviceKind, Mac};
use std::collections::HashMap;

/// Profiles in match order; the first whose `matches` says yes wins. MIB-II
/// is last and matches everything.
pub static REGISTRY: &[&Profile] = &[&ubiquiti::PROFILE, &mikrotik::PROFILE, &cambium::PROFILE, &mib2::PROFILE];

/// The system group as the device reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysInfo {
    pub descr: String,
    pub object_id: Vec<u32>,
    pub name: String,
    pub uptime_ticks: Option<u32>,
    /// sysServices bit mask (RFC 3418): 2 = datalink/bridge, 4 = internet/router.
    pub services: Option<u32>,
}

/// What a profile asked for beyond the system group: its scalars (one GET)
/// and the first rows of its identity columns (one small walk).
#[derive(Debug, Clone, Default)]
pub struct VendorData {
    pub scalars: HashMap<Vec<u32>, Value>,
    /// Per identity column (same order as [`Profile::columns`]): `(index, value)` rows.
    pub columns: Vec<Vec<(Vec<u32>, Value)>>,
}

impl VendorData {
    pub fn scalar(&self, oid: &[u32]) -> Option<&Value> {
        self.scalars.get(oid).filter(|v| !v.is_absent())
    }
    pub fn text(&self, oid: &[u32]) -> Option<String> {
        self.scalar(oid).and_then(Value::as_text)
    }
    /// First row of identity column `pos`.
    pub fn first(&self, pos: usize) -> Option<&Value> {
        self.columns.get(pos)?.first().map(|(_, v)| v)
    }
    pub fn column(&self, pos: usize) -> &[(Vec<u32>, Value)] {
        self.columns.get(pos).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Builds the per-column view from a walk over [`Profile::columns`].
    pub fn from_walk(scalars: HashMap<Vec<u32>, Value>, ncols: usize, rows: Rows) -> VendorData {
        let mut columns = vec![Vec::new(); ncols];
        for (index, vals) in rows {
            for (j, v) in vals.into_iter().enumerate() {
                if let (Some(v), Some(col)) = (v, columns.get_mut(j)) {
                    col.push((index.clone(), v));
                }
            }
        }
        VendorData { scalars, columns }
    }
}

/// What a profile learned about the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorInfo {
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    /// `None`: let the generic rules decide (station table present → AP, ...).
    pub kind: Option<DeviceKind>,
    /// The radio's own wireless MAC (what peers list in their station tables).
    pub wireless_mac: Option<Mac>,
    /// For a CPE: the AP it is associated to.
    pub uplink_ap: Option<Mac>,
}

/// Where a station's MAC is: inside the row index, or in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexMac {
    /// The index is `<prefix arcs>.<6 MAC arcs>` (airMAX: radio.mac).
    Last6,
    /// The index is `<6 MAC arcs>.<suffix arcs>` (MikroTik: mac.ifIndex).
    First6,
    /// The MAC comes from a [`Field::Mac`] column.
    None,
}

/// Station fields a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Mac,
    Ip,
    Name,
    SignalDbm,
    QualityPct,
    TxRateKbps,
    RxRateKbps,
    DistanceM,
}

/// How a column's value becomes a field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// 6 octets or text `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// IpAddress (0.0.0.0 means unknown).
    Ip,
    /// DisplayString, NUL padding trimmed.
    Text,
    /// An integer scaled by `mul / div` (e.g. bit/s to kbit/s: 1/1000).
    Int { mul: i64, div: i64 },
    /// A decimal number in text (e.g. `"130.0"` Mbit/s) scaled by `mul`.
    DecimalText { mul: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StationColumn {
    pub oid: &'static [u32],
    pub field: Field,
    pub decode: Decode,
}

/// A vendor's station (associated client) table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StationTable {
    pub columns: &'static [StationColumn],
    pub index_mac: IndexMac,
}

/// A device profile. See the module docs.
pub struct Profile {
    /// Stable short name (shown by `probe`, kept in logs).
    pub name: &'static str,
    /// Vendor as shown to staff.
    pub vendor: &'static str,
    /// Does this profile describe the device?
    pub matches: fn(&SysInfo) -> bool,
    /// Scalars fetched with one GET after the system group.
    pub scalars: &'static [&'static [u32]],
    /// Small columns walked once per poll for identity (radio mode, ...).
    pub columns: &'static [&'static [u32]],
    /// Model, firmware, serial, kind, radio MAC, uplink AP.
    pub identify: fn(&SysInfo, &VendorData) -> VendorInfo,
    pub stations: Option<&'static StationTable>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The profile for a device (MIB-II when no vendor profile matches).
pub fn find(sys: &SysInfo) -> &'static Profile {
    REGISTRY.iter().copied().find(|p| (p.matches)(sys)).unwrap_or(&mib2::PROFILE)
}

/// sysObjectID is under `prefix` (the enterprise subtree).
pub fn under(sys: &SysInfo, prefix: &[u32]) -> bool {
    sys.object_id.starts_with(prefix)
}

fn scaled(v: &Value, dec: Decode) -> Option<i64> {
    match dec {
        Decode::Int { mul, div } if div != 0 => v.as_i64()?.checked_mul(mul).map(|x| x / div),
        Decode::DecimalText { mul } => {
            let t = v.as_text()?;
            let f: f64 = t.split_whitespace().next()?.parse().ok()?;
            let x = f * mul as f64;
            (x.is_finite() && x.abs() < 9.0e15).then_some(x.round() as i64)
        }
        _ => None,
    }
}

/// Decodes a station table walk into stations (pure). Rows without a
/// usable MAC are skipped; a field that does not decode is `None`.
pub fn decode_stations(table: &StationTable, rows: &Rows) -> Vec<Station> {
    let mut out = Vec::with_capacity(rows.len());
    for (index, vals) in rows {
        let mut st = Station::default();
        let mut mac = match table.index_mac {
            IndexMac::Last6 if index.len() >= 6 => mac_from_arcs(&index[index.len() - 6..]),
            IndexMac::First6 if index.len() >= 6 => mac_from_arcs(&index[..6]),
            _ => None,
        };
        for (col, v) in table.columns.iter().zip(vals) {
            let Some(v) = v.as_ref().filter(|v| !v.is_absent()) else { continue };
            match col.field {
                Field::Mac => {
                    if mac.is_none() {
                        mac = v.as_mac();
                    }
                }
                Field::Ip => st.ip = v.as_ip().filter(|ip| !ip.is_unspecified()),
                Field::Name => st.name = v.as_text(),
                Field::SignalDbm => {
                    st.signal_dbm =
                        scaled(v, col.decode).and_then(|x| i16::try_from(x).ok()).filter(|x| (-150..=30).contains(x))
                }
                Field::QualityPct => {
                    st.quality_pct = scaled(v, col.decode).and_then(|x| u8::try_from(x).ok()).filter(|x| *x <= 100)
                }
                Field::TxRateKbps => st.tx_rate_kbps = scaled(v, col.decode).and_then(|x| u32::try_from(x).ok()),
                Field::RxRateKbps => st.rx_rate_kbps = scaled(v, col.decode).and_then(|x| u32::try_from(x).ok()),
                Field::DistanceM => st.distance_m = scaled(v, col.decode).and_then(|x| u32::try_from(x).ok()),
            }
        }
        let Some(mac) = mac.filter(super::value::usable_mac) else { continue };
        st.mac = mac;
        out.push(st);
    }
    out
}

/// Six OID arcs as a MAC (each arc must be a byte).
pub fn mac_from_arcs(arcs: &[u32]) -> Option<Mac> {
    let mut m = [0u8; 6];
    for (b, a) in m.iter_mut().zip(arcs.get(..6)?) {
        *b = u8::try_from(*a).ok()?;
    }
    Some(m)
}

/// The station table's OIDs, for the walk.
pub fn station_columns(table: &StationTable) -> Vec<&'static [u32]> {
    table.columns.iter().map(|c| c.oid).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `.snmprec`-style lines (`OID|tag|value`) to a sorted MIB, for feeding
    /// profiles recorded varbinds without a simulator.
    pub fn mib(lines: &str) -> std::collections::BTreeMap<Vec<u32>, Value> {
        let mut m = std::collections::BTreeMap::new();
        for l in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut p = l.splitn(3, '|');
            let (o, t, v) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or(""));
            let hex = |s: &str| {
                (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect::<Vec<u8>>()
            };
            let val = match t {
                "2" => Value::Int(v.parse().unwrap()),
                "4" => Value::Str(v.as_bytes().to_vec()),
                "4x" => Value::Str(hex(v)),
                "6" => Value::Oid(crate::snmp::oid::parse(v).unwrap()),
                "64" => Value::Ip(v.parse::<std::net::Ipv4Addr>().unwrap().octets()),
                "64x" => Value::Ip(hex(v).try_into().unwrap()),
                "65" => Value::Counter32(v.parse().unwrap()),
                "66" => Value::Gauge32(v.parse().unwrap()),
                "67" => Value::Ticks(v.parse().unwrap()),
                "70" => Value::Counter64(v.parse().unwrap()),
                _ => panic!("tag {t}"),
            };
            m.insert(crate::snmp::oid::parse(o).unwrap(), val);
        }
        m
    }

    /// Walks `cols` over a MIB the way an agent would answer GETNEXT.
    pub fn walk(m: &std::collections::BTreeMap<Vec<u32>, Value>, cols: &[&[u32]]) -> Rows {
        let mut rows = Rows::new();
        for (j, c) in cols.iter().enumerate() {
            for (o, v) in m.range(c.to_vec()..) {
                if !o.starts_with(c) {
                    break;
                }
                if o.len() > c.len() {
                    rows.entry(o[c.len()..].to_vec()).or_insert_with(|| vec![None; cols.len()])[j] = Some(v.clone());
                }
            }
        }
        rows
    }

    pub fn sys_of(m: &std::collections::BTreeMap<Vec<u32>, Value>) -> SysInfo {
        let get = |o: &[u32]| m.get(o);
        SysInfo {
            descr: get(&[1, 3, 6, 1, 2, 1, 1, 1, 0]).and_then(Value::as_text).unwrap_or_default(),
            object_id: match get(&[1, 3, 6, 1, 2, 1, 1, 2, 0]) {
                Some(Value::Oid(o)) => o.clone(),
                _ => vec![],
            },
            name: get(&[1, 3, 6, 1, 2, 1, 1, 5, 0]).and_then(Value::as_text).unwrap_or_default(),
            uptime_ticks: match get(&[1, 3, 6, 1, 2, 1, 1, 3, 0]) {
                Some(Value::Ticks(t)) => Some(*t),
                _ => None,
            },
            services: get(&[1, 3, 6, 1, 2, 1, 1, 7, 0]).and_then(Value::as_u64).map(|x| x as u32),
        }
    }

    /// Runs a profile over a MIB the way the poller does.
    pub fn run_profile(p: &Profile, m: &std::collections::BTreeMap<Vec<u32>, Value>) -> (VendorInfo, Vec<Station>) {
        let sys = sys_of(m);
        let scalars = p.scalars.iter().filter_map(|o| m.get(*o).map(|v| (o.to_vec(), v.clone()))).collect();
        let data = VendorData::from_walk(scalars, p.columns.len(), walk(m, p.columns));
        let info = (p.identify)(&sys, &data);
        let stations = p.stations.map(|t| decode_stations(t, &walk(m, &station_columns(t)))).unwrap_or_default();
        (info, stations)
    }

    pub fn fixture(name: &str) -> std::collections::BTreeMap<Vec<u32>, Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/snmp")
            .join(format!("{name}.snmprec"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Skip snmpsim variation lines (`66:numeric|...`): not needed here.
        let plain: String = text
            .lines()
            .filter(|l| l.split('|').nth(1).is_some_and(|t| !t.contains(':')))
            .map(|l| format!("{l}\n"))
            .collect();
        mib(&plain)
    }

    #[test]
    fn registry_picks_by_object_id_and_falls_back() {
        let sys =
            |oid: &[u32], descr: &str| SysInfo { descr: descr.into(), object_id: oid.to_vec(), ..Default::default() };
        assert_eq!(find(&sys(&[1, 3, 6, 1, 4, 1, 41112, 1, 4], "Linux")).name, "ubiquiti-airmax");
        assert_eq!(find(&sys(&[1, 3, 6, 1, 4, 1, 10002, 1], "Linux 2.6.15")).name, "ubiquiti-airmax");
        assert_eq!(find(&sys(&[1, 3, 6, 1, 4, 1, 14988, 1], "RouterOS RB912UAG-5HPnD")).name, "mikrotik");
        assert_eq!(find(&sys(&[1, 3, 6, 1, 4, 1, 17713, 21], "")).name, "cambium-epmp");
        assert_eq!(find(&sys(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10], "Linux host 6.1")).name, "mib2");
        assert_eq!(find(&sys(&[], "")).name, "mib2");
        // A MikroTik with an odd sysObjectID is still found by its sysDescr.
        assert_eq!(find(&sys(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10], "RouterOS CCR1009")).name, "mikrotik");
    }

    #[test]
    fn station_decoding_rules() {
        static COLS: &[StationColumn] = &[
            StationColumn { oid: &[1, 1], field: Field::Mac, decode: Decode::Mac },
            StationColumn { oid: &[1, 2], field: Field::SignalDbm, decode: Decode::Int { mul: 1, div: 1 } },
            StationColumn { oid: &[1, 3], field: Field::TxRateKbps, decode: Decode::DecimalText { mul: 1000 } },
            StationColumn { oid: &[1, 4], field: Field::QualityPct, decode: Decode::Int { mul: 1, div: 1 } },
            StationColumn { oid: &[1, 5], field: Field::Ip, decode: Decode::Ip },
        ];
        static T: StationTable = StationTable { columns: COLS, index_mac: IndexMac::None };
        let mut rows = Rows::new();
        rows.insert(
            vec![1],
            vec![
                Some(Value::Str(b"00:04:56:B2:10:0E".to_vec())),
                Some(Value::Int(-61)),
                Some(Value::Str(b"130.0".to_vec())),
                Some(Value::Int(250)),
                Some(Value::Ip([0, 0, 0, 0])),
            ],
        );
        rows.insert(vec![2], vec![Some(Value::Str(b"garbage".to_vec())), Some(Value::Int(-50)), None, None, None]);
        rows.insert(vec![3], vec![Some(Value::Str(vec![0; 6])), None, None, None, None]);
        let st = decode_stations(&T, &rows);
        assert_eq!(st.len(), 1, "rows without a usable MAC are dropped");
        assert_eq!(st[0].mac, [0x00, 0x04, 0x56, 0xb2, 0x10, 0x0e]);
        assert_eq!(st[0].signal_dbm, Some(-61));
        assert_eq!(st[0].tx_rate_kbps, Some(130_000));
        assert_eq!(st[0].quality_pct, None, "250 % is not a percentage");
        assert_eq!(st[0].ip, None, "0.0.0.0 is unknown");
        assert_eq!(mac_from_arcs(&[1, 2, 3, 4, 5, 256]), None);
    }
}
