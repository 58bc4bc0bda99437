//! Device profiles: who made a device, what it is, and how to read its
//! station table. A profile is a static descriptor ([`Profile`]); adding a
//! vendor is one new file here plus one line in [`REGISTRY`]. Everything in
//! this module is pure: profiles see decoded varbinds, never a socket.
//!
//! How a profile is chosen (the poller does this once per device and
//! sysObjectID, not every poll):
//!
//! 1. The system group: [`find`] asks each profile in [`REGISTRY`] order
//!    whether its `matches` (sysObjectID subtree, sometimes sysDescr) says
//!    yes; MIB-II is last and takes everything else.
//! 2. When the system group is [`ambiguous`] (a generic sysObjectID such as
//!    net-snmp's, Ubiquiti's old `10002` subtree or the bare `41112`, or
//!    none), the poller also GETs [`detect_oids`]: every profile's
//!    [`Profile::detect`] scalars, in a few small GETs. [`find_detected`]
//!    then takes the first profile in [`REGISTRY`] order with one of its
//!    probe OIDs present (not noSuchObject / noSuchInstance / endOfMibView),
//!    else falls back to [`find`]. That is how a real airFiber AF11 or AF60
//!    on `1.3.6.1.4.1.10002.1` and an AF-5XHD or UniFi on net-snmp's OID
//!    reach their profiles; a plain net-snmp host answers none and stays
//!    MIB-II. A probe that fails (timeout) leaves [`find`]'s choice for
//!    that poll and is tried again on the next.

pub mod af60;
pub mod afltu;
pub mod airfiber;
pub mod cambium;
pub mod canopy;
pub mod edgemax;
pub mod identity;
pub mod mib2;
pub mod mikrotik;
pub mod mimosa;
pub mod siklu;
pub mod ubiquiti;
pub mod unifi;

use super::value::Value;
use super::walk::Rows;
use super::{Radio, Station};
use mast_shared::msg::{DeviceKind, LinkMetrics, Mac};
use std::collections::{HashMap, HashSet};

/// Profiles in match order; the first whose `matches` says yes wins. MIB-II
/// is last and matches everything.
pub static REGISTRY: &[&Profile] = &[
    &airfiber::PROFILE,
    &afltu::PROFILE,
    &unifi::PROFILE,
    &af60::PROFILE,
    &edgemax::PROFILE,
    &ubiquiti::PROFILE,
    &mikrotik::PROFILE,
    &cambium::PROFILE,
    &mimosa::PROFILE,
    &siklu::PROFILE,
    &canopy::PROFILE,
    &mib2::PROFILE,
];

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

/// What a column fills: a station's identity (`Mac`, `Ip`, `Name`), a
/// radio's far end (`Peer`), or one of the [`LinkMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Mac,
    Ip,
    Name,
    /// A radio's AP or far end (MAC).
    Peer,
    SignalDbm,
    Chain0Dbm,
    Chain1Dbm,
    RemoteSignalDbm,
    NoiseDbm,
    SnrDb,
    QualityPct,
    AirtimePct,
    TxRateKbps,
    RxRateKbps,
    TxCapacityKbps,
    RxCapacityKbps,
    Modulation,
    DistanceM,
    FrequencyMhz,
    WidthMhz,
    TxPowerDbm,
    Stations,
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
    /// An integer scaled by `mul / div` (e.g. bit/s to kbit/s: 1/1000;
    /// tenths of a dB: 1/10), rounded toward zero.
    Int { mul: i64, div: i64 },
    /// A decimal number in text (e.g. `"130.0"` Mbit/s) scaled by `mul`;
    /// a trailing unit (`"-61 dBm"`) is ignored.
    DecimalText { mul: i64 },
    /// Like [`Decode::Int`], but `0` means "not reported" (MikroTik's
    /// `mtxrWlRtabSignalToNoise`: "if value does not exist it is indicated
    /// with 0").
    IntNonZero { mul: i64, div: i64 },
    /// An enumerated integer mapped to a number (e.g. a channel-width code
    /// to MHz); codes not listed are unknown.
    Lookup(&'static [(i64, i64)]),
    /// An enumerated integer mapped to a name (e.g. a modulation code).
    Names(&'static [(i64, &'static str)]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub oid: &'static [u32],
    pub field: Field,
    pub decode: Decode,
}

/// A table of links: a vendor's station (associated client) table, or the
/// device's own radio(s). A radio "table" may mix real columns with scalars
/// (walked as their parent OID, row index `0`): scalar values apply to every
/// row, and alone they make one radio with index 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTable {
    pub columns: &'static [Column],
    pub index_mac: IndexMac,
}

/// A device profile. See the module docs.
pub struct Profile {
    /// Stable short name (shown by `probe`, kept in logs).
    pub name: &'static str,
    /// Vendor as shown to staff.
    pub vendor: &'static str,
    /// Does this profile describe the device? (The system group only.)
    pub matches: fn(&SysInfo) -> bool,
    /// Scalar OIDs (with their instance, e.g. `.0` or `.1`) whose presence
    /// claims a device with an [`ambiguous`] system group for this profile;
    /// see [`find_detected`]. Empty for most profiles.
    pub detect: &'static [&'static [u32]],
    /// Scalars fetched with one GET after the system group.
    pub scalars: &'static [&'static [u32]],
    /// Small columns walked once per poll for identity (radio mode, ...).
    pub columns: &'static [&'static [u32]],
    /// Model, firmware, serial, kind, radio MAC, uplink AP.
    pub identify: fn(&SysInfo, &VendorData) -> VendorInfo,
    /// Associated stations (an AP's CPEs; a CPE lists its AP): each table
    /// is walked and the rows of all of them are merged (a vendor with two
    /// wireless stacks lists one table per stack). Empty: no station table.
    pub stations: &'static [&'static LinkTable],
    /// The device's own radio(s) and their link health.
    pub radios: Option<&'static LinkTable>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The profile for a device by its system group alone (MIB-II when no
/// vendor profile matches).
pub fn find(sys: &SysInfo) -> &'static Profile {
    REGISTRY.iter().copied().find(|p| (p.matches)(sys)).unwrap_or(&mib2::PROFILE)
}

/// The most probe OIDs [`detect_oids`] returns (a probe is a few GETs, not a walk).
pub const MAX_DETECT_OIDS: usize = 40;

/// Does the system group leave the profile open, so the device must be
/// probed ([`detect_oids`], [`find_detected`])? Yes for a missing or
/// `0.0` sysObjectID, a generic one ([`identity::generic_object_id`]:
/// net-snmp's `1.3.6.1.4.1.8072.3.2.10`, ...), Ubiquiti's old `10002`
/// subtree (airMAX, airFiber classic, AF60 and old UniFi firmwares all
/// report `1.3.6.1.4.1.10002.1`) and the bare Ubiquiti enterprise
/// `1.3.6.1.4.1.41112` with nothing more specific.
pub fn ambiguous(sys: &SysInfo) -> bool {
    let oid = &sys.object_id[..];
    oid.is_empty()
        || oid == [0, 0]
        || identity::generic_object_id(oid)
        || oid.starts_with(&[1, 3, 6, 1, 4, 1, 10002])
        || oid == [1, 3, 6, 1, 4, 1, 41112]
}

/// Every profile's [`Profile::detect`] OIDs, in [`REGISTRY`] order, without
/// duplicates, at most [`MAX_DETECT_OIDS`].
pub fn detect_oids() -> Vec<&'static [u32]> {
    let mut out: Vec<&'static [u32]> = Vec::new();
    for oid in REGISTRY.iter().flat_map(|p| p.detect.iter().copied()) {
        if out.len() == MAX_DETECT_OIDS {
            break;
        }
        if !out.contains(&oid) {
            out.push(oid);
        }
    }
    out
}

/// The profile for a device given which [`detect_oids`] it answered with a
/// value (`present`): the first profile in [`REGISTRY`] order with a
/// present detect OID, else [`find`] by the system group.
pub fn find_detected(sys: &SysInfo, present: &HashSet<Vec<u32>>) -> &'static Profile {
    REGISTRY.iter().copied().find(|p| p.detect.iter().any(|o| present.contains(*o))).unwrap_or_else(|| find(sys))
}

/// sysObjectID is under `prefix` (the enterprise subtree).
pub fn under(sys: &SysInfo, prefix: &[u32]) -> bool {
    sys.object_id.starts_with(prefix)
}

fn scaled(v: &Value, dec: Decode) -> Option<i64> {
    match dec {
        Decode::Int { mul, div } if div != 0 => v.as_i64()?.checked_mul(mul).map(|x| x / div),
        Decode::IntNonZero { mul, div } if div != 0 => {
            v.as_i64().filter(|x| *x != 0)?.checked_mul(mul).map(|x| x / div)
        }
        Decode::DecimalText { mul } => {
            let t = v.as_text()?;
            let f: f64 = t.split_whitespace().next()?.parse().ok()?;
            let x = f * mul as f64;
            (x.is_finite() && x.abs() < 9.0e15).then_some(x.round() as i64)
        }
        Decode::Lookup(map) => {
            let code = v.as_i64()?;
            map.iter().find(|(c, _)| *c == code).map(|(_, x)| *x)
        }
        _ => None,
    }
}

fn in_range<T: TryFrom<i64>>(x: Option<i64>, lo: i64, hi: i64) -> Option<T> {
    x.filter(|x| (lo..=hi).contains(x)).and_then(|x| T::try_from(x).ok())
}

/// Puts one decoded value into `link`; `false` when the field is not a metric.
/// Values outside a plausible range (a signal of +90 dBm, 250 %) are unknown.
fn set_metric(link: &mut LinkMetrics, field: Field, v: &Value, dec: Decode) -> bool {
    let n = || scaled(v, dec);
    let dbm = || in_range::<i16>(n(), -150, 30);
    match field {
        Field::SignalDbm => link.signal_dbm = dbm(),
        Field::Chain0Dbm => link.chain0_dbm = dbm(),
        Field::Chain1Dbm => link.chain1_dbm = dbm(),
        Field::RemoteSignalDbm => link.remote_signal_dbm = dbm(),
        Field::NoiseDbm => link.noise_dbm = dbm(),
        Field::SnrDb => link.snr_db = in_range(n(), -20, 100),
        Field::QualityPct => link.quality_pct = in_range(n(), 0, 100),
        Field::AirtimePct => link.airtime_pct = in_range(n(), 0, 100),
        Field::TxRateKbps => link.tx_rate_kbps = in_range(n(), 0, i64::from(u32::MAX)),
        Field::RxRateKbps => link.rx_rate_kbps = in_range(n(), 0, i64::from(u32::MAX)),
        Field::TxCapacityKbps => link.tx_capacity_kbps = in_range(n(), 0, i64::from(u32::MAX)),
        Field::RxCapacityKbps => link.rx_capacity_kbps = in_range(n(), 0, i64::from(u32::MAX)),
        Field::DistanceM => link.distance_m = in_range(n(), 0, 1_000_000),
        Field::FrequencyMhz => link.frequency_mhz = in_range(n(), 1, 100_000),
        Field::WidthMhz => link.width_mhz = in_range(n(), 1, 10_000),
        Field::TxPowerDbm => link.tx_power_dbm = in_range(n(), -60, 60),
        Field::Stations => link.stations = in_range(n(), 0, i64::from(u16::MAX)),
        Field::Modulation => {
            link.modulation = match dec {
                Decode::Names(map) => {
                    let code = v.as_i64();
                    map.iter().find(|(c, _)| Some(*c) == code).map(|(_, t)| t.to_string())
                }
                Decode::Text => v.as_text().filter(|t| !t.is_empty()),
                _ => n().map(|x| x.to_string()),
            }
        }
        Field::Mac | Field::Ip | Field::Name | Field::Peer => return false,
    }
    true
}

/// Decodes a station table walk into stations (pure). Rows without a
/// usable MAC are skipped; a field that does not decode is `None`.
pub fn decode_stations(table: &LinkTable, rows: &Rows) -> Vec<Station> {
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
            if set_metric(&mut st.link, col.field, v, col.decode) {
                continue;
            }
            match col.field {
                Field::Mac if mac.is_none() => mac = v.as_mac(),
                Field::Ip => st.ip = v.as_ip().filter(|ip| !ip.is_unspecified()),
                Field::Name => st.name = v.as_text().filter(|t| !t.is_empty()),
                _ => {}
            }
        }
        let Some(mac) = mac.filter(super::value::usable_mac) else { continue };
        st.mac = mac;
        out.push(st);
    }
    out
}

/// Decodes the walks of a profile's station tables (`rows[i]` is the walk
/// of `tables[i]`) into one list, in table order (pure).
pub fn decode_station_tables(tables: &[&LinkTable], rows: &[Rows]) -> Vec<Station> {
    tables.iter().zip(rows).flat_map(|(t, r)| decode_stations(t, r)).collect()
}

/// Decodes the device's own radios (pure). Rows indexed `0` are scalars and
/// apply to every other row; alone they make radio 0. A radio with no
/// figure at all is left out.
pub fn decode_radios(table: &LinkTable, rows: &Rows) -> Vec<Radio> {
    let fill = |r: &mut Radio, vals: &[Option<Value>]| {
        for (col, v) in table.columns.iter().zip(vals) {
            let Some(v) = v.as_ref().filter(|v| !v.is_absent()) else { continue };
            if !set_metric(&mut r.link, col.field, v, col.decode) && col.field == Field::Peer {
                r.peer = v.as_mac().filter(super::value::usable_mac);
            }
        }
    };
    let scalars = rows.get(&vec![0]);
    let mut out = Vec::new();
    for (index, vals) in rows.iter().filter(|(i, _)| i[..] != [0]) {
        let mut r = Radio { index: index.last().copied().unwrap_or(0), ..Default::default() };
        if let Some(s) = scalars {
            fill(&mut r, s);
        }
        fill(&mut r, vals);
        out.push(r);
    }
    if out.is_empty()
        && let Some(s) = scalars
    {
        let mut r = Radio::default();
        fill(&mut r, s);
        out.push(r);
    }
    out.retain(|r| r.peer.is_some() || r.link != LinkMetrics::default());
    out
}

/// Figures derived where the device gives their parts (pure): SNR from
/// signal and noise (a station row takes its radio's noise floor when it
/// has none of its own); an AP radio's station count from its table (an AP
/// whose profile reads no radio figures gets radio 0 with just that count,
/// so a sector that lost its customers is seen).
pub fn complete_links(radios: &mut Vec<Radio>, stations: &mut [Station], kind: DeviceKind, has_table: bool) {
    if kind == DeviceKind::AccessPoint && has_table && radios.is_empty() {
        radios.push(Radio::default());
    }
    let noise = radios.iter().find_map(|r| r.link.noise_dbm);
    for st in stations.iter_mut() {
        if st.link.noise_dbm.is_none() && kind == DeviceKind::AccessPoint {
            st.link.noise_dbm = noise;
        }
        derive_snr(&mut st.link);
    }
    let one = radios.len() == 1;
    for r in radios.iter_mut() {
        derive_snr(&mut r.link);
        if one && kind == DeviceKind::AccessPoint && r.link.stations.is_none() {
            r.link.stations = u16::try_from(stations.len()).ok();
        }
    }
}

fn derive_snr(l: &mut LinkMetrics) {
    if l.snr_db.is_none()
        && let (Some(s), Some(n)) = (l.signal_dbm, l.noise_dbm)
        && s > n
    {
        l.snr_db = Some(s - n);
    }
}

/// Six OID arcs as a MAC (each arc must be a byte).
pub fn mac_from_arcs(arcs: &[u32]) -> Option<Mac> {
    let mut m = [0u8; 6];
    for (b, a) in m.iter_mut().zip(arcs.get(..6)?) {
        *b = u8::try_from(*a).ok()?;
    }
    Some(m)
}

/// A link table's OIDs, for the walk.
pub fn table_columns(table: &LinkTable) -> Vec<&'static [u32]> {
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
        let r = run(p, m);
        (r.info, r.stations)
    }

    /// Everything a poll of this MIB yields (no rates: one poll).
    pub struct Run {
        pub info: VendorInfo,
        pub identity: crate::snmp::Identity,
        pub stations: Vec<Station>,
        pub radios: Vec<Radio>,
    }

    /// Runs a profile over a MIB the way the poller does, through identity
    /// resolution and link completion.
    pub fn run(p: &Profile, m: &std::collections::BTreeMap<Vec<u32>, Value>) -> Run {
        let sys = sys_of(m);
        let scalars = p.scalars.iter().filter_map(|o| m.get(*o).map(|v| (o.to_vec(), v.clone()))).collect();
        let data = VendorData::from_walk(scalars, p.columns.len(), walk(m, p.columns));
        let info = (p.identify)(&sys, &data);
        let sta_rows: Vec<Rows> = p.stations.iter().map(|t| walk(m, &table_columns(t))).collect();
        let mut stations = decode_station_tables(p.stations, &sta_rows);
        let mut radios = p.radios.map(|t| decode_radios(t, &walk(m, &table_columns(t)))).unwrap_or_default();
        let ifs: Vec<crate::snmp::Interface> =
            mib2::interfaces(&walk(m, mib2::IF_TABLE), &walk(m, mib2::IFX_TABLE)).into_iter().map(|x| x.0).collect();
        let entity = identity::entity(&walk(m, identity::ENTITY));
        let bridging = !mib2::bridge(&walk(m, mib2::BRIDGE)).is_empty();
        let identity = identity::resolve(&identity::Seen {
            sys: &sys,
            profile: p,
            info: &info,
            entity: &entity,
            interfaces: &ifs,
            stations: (!p.stations.is_empty()).then_some(stations.len()),
            bridging,
        });
        complete_links(&mut radios, &mut stations, identity.kind, !p.stations.is_empty());
        Run { info, identity, stations, radios }
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

    /// Which [`detect_oids`] a MIB answers with a value (what the poller's
    /// probe GET returns).
    pub fn probe(m: &std::collections::BTreeMap<Vec<u32>, Value>) -> HashSet<Vec<u32>> {
        detect_oids().into_iter().filter(|o| m.get(*o).is_some_and(|v| !v.is_absent())).map(<[u32]>::to_vec).collect()
    }

    /// The profile the poller chooses for a MIB: probing only when the
    /// system group is ambiguous.
    pub fn chosen(m: &std::collections::BTreeMap<Vec<u32>, Value>) -> &'static Profile {
        let sys = sys_of(m);
        if ambiguous(&sys) { find_detected(&sys, &probe(m)) } else { find(&sys) }
    }

    #[test]
    fn ambiguous_system_groups() {
        let sys = |oid: &[u32]| SysInfo { descr: "Linux x 4.4".into(), object_id: oid.to_vec(), ..Default::default() };
        for oid in [
            &[][..],
            &[0, 0],
            &[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10],
            &[1, 3, 6, 1, 4, 1, 10002, 1],
            &[1, 3, 6, 1, 4, 1, 41112],
        ] {
            assert!(ambiguous(&sys(oid)), "{oid:?}");
        }
        for oid in [
            &[1, 3, 6, 1, 4, 1, 41112, 1, 4][..],
            &[1, 3, 6, 1, 4, 1, 41112, 1, 3],
            &[1, 3, 6, 1, 4, 1, 14988, 1],
            &[1, 3, 6, 1, 4, 1, 17713, 21],
            &[1, 3, 6, 1, 4, 1, 171, 10, 63, 6],
        ] {
            assert!(!ambiguous(&sys(oid)), "{oid:?}");
        }
    }

    #[test]
    fn detect_oids_are_every_profiles_deduplicated_and_bounded() {
        let oids = detect_oids();
        assert!(!oids.is_empty() && oids.len() <= MAX_DETECT_OIDS);
        let unique: HashSet<&[u32]> = oids.iter().copied().collect();
        assert_eq!(unique.len(), oids.len(), "no duplicates");
        for p in REGISTRY {
            for o in p.detect {
                assert!(oids.contains(o), "{}: {o:?} left out (raise MAX_DETECT_OIDS)", p.name);
                assert!(o.starts_with(&[1, 3, 6, 1]) && o.len() > 6, "{}: {o:?}", p.name);
            }
        }
        let only = |p: &Profile| {
            let present: HashSet<Vec<u32>> = p.detect.iter().map(|o| o.to_vec()).collect();
            find_detected(&SysInfo::default(), &present).name
        };
        for p in [&airfiber::PROFILE, &afltu::PROFILE, &unifi::PROFILE, &af60::PROFILE] {
            assert_eq!(only(p), p.name, "each probe OID claims its own profile");
        }
        // Several present: REGISTRY order decides.
        let both: HashSet<Vec<u32>> =
            af60::PROFILE.detect.iter().chain(airfiber::PROFILE.detect).map(|o| o.to_vec()).collect();
        assert_eq!(find_detected(&SysInfo::default(), &both).name, "ubiquiti-airfiber");
        assert_eq!(find_detected(&SysInfo::default(), &HashSet::new()).name, "mib2");
    }

    #[test]
    fn ambiguous_real_system_groups_are_told_apart_by_probe() {
        // The real AF11 (firmware v4.0.3): old Ubiquiti OID, plain Linux sysDescr.
        let af11 = mib("
            1.3.6.1.2.1.1.1.0|4|Linux 2.6.33 #1 Tue Aug 1 16:42:10 PDT 2017 armv5tejl
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.10002.1
            1.3.6.1.4.1.41112.1.3.1.1.5.1|2|11485000
            1.3.6.1.4.1.41112.1.3.2.1.40.1|4|v4.0.3
        ");
        assert_eq!(find(&sys_of(&af11)).name, "ubiquiti-airmax", "the system group alone");
        assert_eq!(chosen(&af11).name, "ubiquiti-airfiber");
        // The real AF-5XHD (v1.4.0): net-snmp's OID.
        let xhd = mib("
            1.3.6.1.2.1.1.1.0|4|Linux 3.14.79 #1 SMP PREEMPT RT armv7l
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
            1.3.6.1.4.1.41112.1.10.1.3.2.0|4|airFiber 5XHD
            1.3.6.1.4.1.41112.1.10.1.3.4.0|4|v1.4.0
        ");
        assert_eq!(find(&sys_of(&xhd)).name, "mib2");
        assert_eq!(chosen(&xhd).name, "ubiquiti-ltu");
        // A UniFi AP on net-snmp's OID whose sysDescr names no model.
        let uap = mib("
            1.3.6.1.2.1.1.1.0|4|Linux 4.4.153 #1 SMP armv7l
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
            1.3.6.1.4.1.41112.1.6.3.3.0|4|U6-Pro
            1.3.6.1.4.1.41112.1.6.3.6.0|4|6.6.77.15402
        ");
        assert_eq!(find(&sys_of(&uap)).name, "mib2");
        assert_eq!(chosen(&uap).name, "ubiquiti-unifi");
        // The real AF60: old Ubiquiti OID, scalars at `.1`.
        let af60 = mib("
            1.3.6.1.2.1.1.1.0|4|Linux 3.14.77 #1 SMP PREEMPT armv7l
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.10002.1
            1.3.6.1.4.1.41112.1.11.1.2.2.1|4|AF60-LR
            1.3.6.1.4.1.41112.1.11.1.2.4.1|4|v2.6.2
        ");
        assert_eq!(find(&sys_of(&af60)).name, "ubiquiti-airmax");
        assert_eq!(chosen(&af60).name, "ubiquiti-af60");
        // A plain net-snmp Linux host answers no probe OID: MIB-II.
        let host = mib("
            1.3.6.1.2.1.1.1.0|4|Linux host 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC x86_64
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
            1.3.6.1.4.1.2021.10.1.3.1|4|0.15
        ");
        assert_eq!(chosen(&host).name, "mib2");
        // An old airMAX on the old OID answers none either: airMAX still.
        let old_airmax = mib("
            1.3.6.1.2.1.1.1.0|4|Linux 2.6.15 mips
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.10002.1
            1.3.6.1.4.1.41112.1.4.1.1.2.1|2|2
        ");
        assert_eq!(chosen(&old_airmax).name, "ubiquiti-airmax");
    }

    #[test]
    fn recordings_land_on_their_profile_with_the_probe() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/snmp");
        let mut seen = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".snmprec")) else {
                continue;
            };
            let m = fixture(name);
            let sys = sys_of(&m);
            let want = match name {
                "airfiber-legacy-oid" => "ubiquiti-airfiber",
                "afxhd-generic-oid" => "ubiquiti-ltu",
                // Every other recording: the probe changes nothing.
                _ => find(&sys).name,
            };
            assert_eq!(chosen(&m).name, want, "{name}");
            seen += 1;
        }
        assert!(seen >= 20, "{seen} recordings");
        // The real NanoStation M5 names its subtree: no probe at all.
        assert!(!ambiguous(&sys_of(&fixture("ubiquiti-m5"))));
        assert_eq!(chosen(&fixture("ubiquiti-m5")).name, "ubiquiti-airmax");
        // entity-switch carries net-snmp's OID: probed, nothing found, MIB-II.
        assert!(ambiguous(&sys_of(&fixture("entity-switch"))));
        assert_eq!(chosen(&fixture("entity-switch")).name, "mib2");
    }

    #[test]
    fn station_decoding_rules() {
        static COLS: &[Column] = &[
            Column { oid: &[1, 1], field: Field::Mac, decode: Decode::Mac },
            Column { oid: &[1, 2], field: Field::SignalDbm, decode: Decode::Int { mul: 1, div: 1 } },
            Column { oid: &[1, 3], field: Field::TxRateKbps, decode: Decode::DecimalText { mul: 1000 } },
            Column { oid: &[1, 4], field: Field::QualityPct, decode: Decode::Int { mul: 1, div: 1 } },
            Column { oid: &[1, 5], field: Field::Ip, decode: Decode::Ip },
        ];
        static T: LinkTable = LinkTable { columns: COLS, index_mac: IndexMac::None };
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
        assert_eq!(st[0].link.signal_dbm, Some(-61));
        assert_eq!(st[0].link.tx_rate_kbps, Some(130_000));
        assert_eq!(st[0].link.quality_pct, None, "250 % is not a percentage");
        assert_eq!(st[0].ip, None, "0.0.0.0 is unknown");
        assert_eq!(mac_from_arcs(&[1, 2, 3, 4, 5, 256]), None);
    }

    #[test]
    fn radio_scalars_apply_to_every_row_and_alone_make_radio_zero() {
        static W: &[(i64, i64)] = &[(1, 20), (2, 40)];
        static M: &[(i64, &str)] = &[(7, "64QAM 3/4")];
        static COLS: &[Column] = &[
            Column { oid: &[2, 1], field: Field::NoiseDbm, decode: Decode::Int { mul: 1, div: 10 } },
            Column { oid: &[2, 2], field: Field::WidthMhz, decode: Decode::Lookup(W) },
            Column { oid: &[2, 3], field: Field::Modulation, decode: Decode::Names(M) },
            Column { oid: &[2, 4], field: Field::Peer, decode: Decode::Mac },
            Column { oid: &[2, 5], field: Field::SignalDbm, decode: Decode::DecimalText { mul: 1 } },
        ];
        static T: LinkTable = LinkTable { columns: COLS, index_mac: IndexMac::None };
        let m = mib("
            2.1.0|2|-955
            2.2.1|2|2
            2.2.2|2|9
            2.3.1|2|7
            2.4.2|4x|0418d6010203
            2.5.1|4|-61 dBm
        ");
        let r = decode_radios(&T, &walk(&m, &table_columns(&T)));
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].index, r[0].link.noise_dbm, r[0].link.width_mhz), (1, Some(-95), Some(40)));
        assert_eq!((r[0].link.modulation.as_deref(), r[0].link.signal_dbm), (Some("64QAM 3/4"), Some(-61)));
        assert_eq!(
            (r[1].link.noise_dbm, r[1].link.width_mhz, r[1].peer),
            (Some(-95), None, Some([4, 0x18, 0xd6, 1, 2, 3]))
        );
        let alone = mib("2.1.0|2|-900");
        let r = decode_radios(&T, &walk(&alone, &table_columns(&T)));
        assert_eq!((r.len(), r[0].index, r[0].link.noise_dbm), (1, 0, Some(-90)));
        assert!(decode_radios(&T, &walk(&mib(""), &table_columns(&T))).is_empty());
    }

    #[test]
    fn links_are_completed_from_their_parts() {
        let mut radios =
            vec![Radio { link: LinkMetrics { noise_dbm: Some(-92), ..Default::default() }, ..Default::default() }];
        let mut st = vec![Station {
            mac: [2, 0, 0, 0, 0, 1],
            link: LinkMetrics { signal_dbm: Some(-60), ..Default::default() },
            ..Default::default()
        }];
        complete_links(&mut radios, &mut st, DeviceKind::AccessPoint, true);
        assert_eq!((st[0].link.noise_dbm, st[0].link.snr_db), (Some(-92), Some(32)));
        assert_eq!(radios[0].link.stations, Some(1));
        assert_eq!(radios[0].link.snr_db, None, "no signal on the AP radio itself");
        let mut none = Vec::new();
        complete_links(&mut none, &mut [], DeviceKind::AccessPoint, true);
        assert_eq!(none.len(), 1, "an AP without radio figures still reports its station count");
        assert_eq!(none[0].link.stations, Some(0));
        let mut cpe = Vec::new();
        complete_links(&mut cpe, &mut [], DeviceKind::Cpe, true);
        assert!(cpe.is_empty());
    }
}
