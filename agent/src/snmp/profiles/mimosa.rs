//! Mimosa: MIMOSA-NETWORKS-BASE-MIB (enterprise 43356, revision
//! 201506030000Z), MIMOSA-NETWORKS-BFIVE-MIB (B-series backhauls, revision
//! 201704280000Z "Compatible with Firmware 1.4.5", `mimosaWireless`
//! 1.3.6.1.4.1.43356.2.1.2) and MIMOSA-NETWORKS-PTMP-MIB (A5 access points,
//! revision 201704050000Z, `mimosaPtmp` …43356.2.1.2.9).
//!
//! - model: sysDescr `Mimosa B5c Firmware v92329ce` → `B5c`; else the
//!   sysObjectID under `mimosaHardware` (…43356.1.1.<n>: 1 B5, 2 B5Lite,
//!   3 A5, 4 C5). A real B5c reports `…43356.1.1.1` (B5), so sysDescr wins.
//! - kind: A5 → access point, C5 → CPE, every other model (B5, B5c, B5-Lite,
//!   B11, B24) → backhaul
//! - serial: `mimosaSerialNumber` …43356.2.1.2.1.2.0; firmware:
//!   `mimosaFirmwareVersion` .1.3.0
//! - wireless MAC: `mimosaWanMac` .3.2.0 ("the MAC address used for the
//!   wireless link"; PhysAddress)
//! - radio (one, from scalars): `mimosaTotalRxPower` .6.6.0 (DecimalOne dBm →
//!   signal), `mimosaTotalTxPower` .6.5.0 (DecimalOne dBm), `mimosaPhyTxRate` /
//!   `mimosaPhyRxRate` .7.1.0 / .7.2.0 (DecimalTwo kbit/s "at the physical
//!   level over a 5 second interval" → tx/rx rate)
//! - stations (A5): `mimosaPtmpClientStatsTable` …9.6.1.1.<col>.<n>: 2 MAC,
//!   11 `mimosaPtmpClientRssiAvg` (DecimalOne; RSSI, read as dBm), joined on
//!   the same index with `mimosaPtmpClientInfoTable` …9.5.1.1: 3 name, 5 IP.
//!   The client rx/tx PHY rates (stats 8/9) carry no unit in the MIB and are
//!   not decoded.
//!
//! Not decoded: per-chain receive power, noise and SNR (`mimosaChainTable`
//! .6.1.1, one row per RF chain), per-stream PHY rate and MCS
//! (`mimosaStreamTable` .6.2.1) and channel centre frequency and width
//! (`mimosaChannelTable` .6.3.1, one row per channel): they are rows of
//! tables indexed by chain, stream or channel, and a profile's radio table
//! makes one radio per row, so folding chain 1/2 into chain0/chain1 of the
//! one radio needs a "value of row N" column kind the profile model does not
//! have yet. The BFIVE-MIB names no far-end MAC, so the radio has no peer.

use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const SERIAL: &[u32] = &[1, 3, 6, 1, 4, 1, 43356, 2, 1, 2, 1, 2, 0];
const FIRMWARE: &[u32] = &[1, 3, 6, 1, 4, 1, 43356, 2, 1, 2, 1, 3, 0];
const WAN_MAC: &[u32] = &[1, 3, 6, 1, 4, 1, 43356, 2, 1, 2, 3, 2, 0];
const HARDWARE: &[u32] = &[1, 3, 6, 1, 4, 1, 43356, 1, 1];

macro_rules! w {
    ($($c:literal),+) => {
        &[1, 3, 6, 1, 4, 1, 43356, 2, 1, 2, $($c),+]
    };
}

static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: w!(6, 6), field: Field::SignalDbm, decode: Decode::Int { mul: 1, div: 10 } },
        Column { oid: w!(6, 5), field: Field::TxPowerDbm, decode: Decode::Int { mul: 1, div: 10 } },
        Column { oid: w!(7, 1), field: Field::TxRateKbps, decode: Decode::Int { mul: 1, div: 100 } },
        Column { oid: w!(7, 2), field: Field::RxRateKbps, decode: Decode::Int { mul: 1, div: 100 } },
    ],
    index_mac: IndexMac::None,
};

static CLIENTS: LinkTable = LinkTable {
    columns: &[
        Column { oid: w!(9, 6, 1, 1, 2), field: Field::Mac, decode: Decode::Mac },
        Column { oid: w!(9, 6, 1, 1, 11), field: Field::SignalDbm, decode: Decode::Int { mul: 1, div: 10 } },
        Column { oid: w!(9, 5, 1, 1, 3), field: Field::Name, decode: Decode::Text },
        Column { oid: w!(9, 5, 1, 1, 5), field: Field::Ip, decode: Decode::Ip },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "mimosa",
    vendor: "Mimosa",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 43356]),
    detect: &[],
    scalars: &[SERIAL, FIRMWARE, WAN_MAC],
    columns: &[],
    identify,
    stations: &[&CLIENTS],
    radios: Some(&RADIOS),
};

/// The model from sysDescr (`Mimosa B5c Firmware v92329ce`), else from the
/// sysObjectID under `mimosaHardware`.
fn model(sys: &SysInfo) -> Option<String> {
    let d = sys.descr.trim();
    let named = d.strip_prefix("Mimosa ").map(|r| r.split(" Firmware").next().unwrap_or(r).trim().to_string());
    named.filter(|m| !m.is_empty()).or_else(|| {
        let n = sys.object_id.strip_prefix(HARDWARE)?.first()?;
        let name = match n {
            1 => "B5",
            2 => "B5-Lite",
            3 => "A5",
            4 => "C5",
            _ => return None,
        };
        Some(name.to_string())
    })
}

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let model = model(sys);
    let kind = match model.as_deref() {
        Some(m) if m.starts_with("A5") => DeviceKind::AccessPoint,
        Some(m) if m.starts_with("C5") => DeviceKind::Cpe,
        _ => DeviceKind::Backhaul,
    };
    let text = |o: &[u32]| d.text(o).map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    VendorInfo {
        model,
        firmware: text(FIRMWARE),
        serial: text(SERIAL),
        kind: Some(kind),
        wireless_mac: d.scalar(WAN_MAC).and_then(|v| v.as_mac()).filter(crate::snmp::value::usable_mac),
        uplink_ap: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run, sys_of};
    use super::*;

    #[test]
    fn b5c_backhaul_fixture() {
        let m = fixture("mimosa-b5c");
        assert_eq!(super::super::find(&sys_of(&m)).name, "mimosa");
        let r = run(&PROFILE, &m);
        assert_eq!(r.identity.vendor.as_deref(), Some("Mimosa"));
        assert_eq!(r.identity.model.as_deref(), Some("B5c"));
        assert_eq!(r.identity.firmware.as_deref(), Some("2.3.3"));
        assert_eq!(r.identity.serial.as_deref(), Some("2119632471"));
        assert_eq!(r.identity.kind, DeviceKind::Backhaul);
        assert_eq!(r.identity.base_mac, Some([0x20, 0xb5, 0xc6, 0x06, 0xdd, 0x05]), "mimosaWanMac");
        assert!(r.stations.is_empty());
        assert_eq!(r.radios.len(), 1);
        let (radio, l) = (&r.radios[0], &r.radios[0].link);
        assert_eq!((radio.index, radio.peer), (0, None));
        assert_eq!((l.signal_dbm, l.tx_power_dbm), (Some(-52), Some(24)), "-52.4 and 24.0 dBm");
        assert_eq!((l.tx_rate_kbps, l.rx_rate_kbps), (Some(433_330), Some(390_000)));
    }

    #[test]
    fn models_and_kinds() {
        let sys = |oid: &[u32], d: &str| SysInfo { descr: d.into(), object_id: oid.to_vec(), ..Default::default() };
        let d = VendorData::default();
        assert_eq!(identify(&sys(&[1, 3, 6, 1, 4, 1, 43356, 1, 1, 3], ""), &d).kind, Some(DeviceKind::AccessPoint));
        assert_eq!(identify(&sys(&[1, 3, 6, 1, 4, 1, 43356, 1, 1, 4], ""), &d).model.as_deref(), Some("C5"));
        assert_eq!(identify(&sys(&[1, 3, 6, 1, 4, 1, 43356, 1, 1, 4], ""), &d).kind, Some(DeviceKind::Cpe));
        let b11 = identify(&sys(&[1, 3, 6, 1, 4, 1, 43356, 1, 1, 1], "Mimosa B11 Firmware v1"), &d);
        assert_eq!((b11.model.as_deref(), b11.kind), (Some("B11"), Some(DeviceKind::Backhaul)));
    }

    #[test]
    fn a5_access_point_lists_its_clients() {
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|Mimosa A5-14 Firmware v2.5.4
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.43356.1.1.3
            1.3.6.1.4.1.43356.2.1.2.9.5.1.1.3.1|4|c5-mendes
            1.3.6.1.4.1.43356.2.1.2.9.5.1.1.5.1|64|10.60.0.31
            1.3.6.1.4.1.43356.2.1.2.9.6.1.1.2.1|4x|20b5c6f01122
            1.3.6.1.4.1.43356.2.1.2.9.6.1.1.2.2|4x|20b5c6f03344
            1.3.6.1.4.1.43356.2.1.2.9.6.1.1.11.1|2|-583
            1.3.6.1.4.1.43356.2.1.2.9.6.1.1.11.2|2|-671
        ");
        let r = run(&PROFILE, &m);
        assert_eq!((r.identity.kind, r.identity.model.as_deref()), (DeviceKind::AccessPoint, Some("A5-14")));
        assert_eq!(r.stations.len(), 2);
        assert_eq!(r.stations[0].mac, [0x20, 0xb5, 0xc6, 0xf0, 0x11, 0x22]);
        assert_eq!((r.stations[0].link.signal_dbm, r.stations[0].name.as_deref()), (Some(-58), Some("c5-mendes")));
        assert_eq!(r.stations[0].ip, Some("10.60.0.31".parse().unwrap()));
        assert_eq!(r.stations[1].link.signal_dbm, Some(-67));
    }
}
