//! Cambium ePMP: CAMBIUM-PMP80211-MIB (sysObjectID 1.3.6.1.4.1.17713.21).
//!
//! - firmware: `cambiumCurrentuImageVersion` 1.3.6.1.4.1.17713.21.1.1.17.0,
//!   else `cambiumCurrentSWInfo` .1.1.1.0
//! - serial: `cambiumEPMPMSN` .1.1.31.0, else `cambiumESN` .1.1.30.0
//! - model: sysDescr without the `Cambium [Networks]` prefix and the role
//!   suffix (`ePMP 1000`), else the `cambiumHWInfo` SKU (.1.1.2.0)
//! - wireless MAC: `cambiumWirelessMACAddress` .1.1.5.0 (text)
//! - kind: `wirelessInterfaceMode` 1.3.6.1.4.1.17713.21.3.8.2.1.0 (1 AP,
//!   2 SM); else an SM is recognised by `cambiumConnectedAPMACAddress`
//!   .1.2.19.0, which is also its uplink AP
//! - stations: `cambiumAPConnectedSTATable` 1.3.6.1.4.1.17713.21.1.2.30.1,
//!   index 1..n: 1 MAC (text), 4 UL RSSI (dBm, what the AP hears), 10 IP,
//!   18 host name, 20 TX quality (%), 28 DL rate (Mbit/s as text), and 6
//!   `connectedSTAULSNR` (dB, what the AP hears). Not decoded: 29 distance
//!   (the MIB states no unit), 19 `connectedSTATXCapacity` (a 0..100 figure,
//!   not a rate), 8/9 UL/DL MCS (the same code means different things on
//!   802.11n and 802.11ac hardware and the row does not say which).
//! - radio (one, from scalars; CAMBIUM-PMP80211-MIB revision 202002131900Z):
//!   on an AP the configured `centerFrequency` (MHz, `wirelessInterface` 18,
//!   1.3.6.1.4.1.17713.21.3.8.2.18.0), `wirelessInterfaceHTMode` (.5.0:
//!   1 20, 2 40, 3 10, 4 5, 5 80, 6 160 MHz), `wirelessInterfaceTXPower`
//!   (.6.0, dBm) and `cambiumAPNumberOfConnectedSTA` (…21.1.2.10.0); on an SM
//!   its link from `cambiumRFStatus` (1.3.6.1.4.1.17713.21.1.2.<n>.0):
//!   1 `cambiumSTAConnectedRFFrequency` (MHz), 2 `cambiumSTAConnectedRFBandwidth`
//!   (same codes as HTMode), 3 `cambiumSTADLRSSI` (dBm), 5
//!   `cambiumSTAConductedTXPower` (dBm), 7 `cambiumSTADownlinkMCSMode` (MCS
//!   codes: 1..15 802.11n, 20..39 802.11ac single/dual stream; 802.11ax codes
//!   are left out), 12 `cambiumSTADistanceKm` (km as text), 18
//!   `cambiumSTADLSNR` (dB), 19 `cambiumConnectedAPMACAddress` (the peer),
//!   24/25 `cambiumRSSICh0`/`Ch1` (dBm per chain). The MIB has no noise floor
//!   or interference figure for the AP's own radio.

use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const SW_INFO: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 1, 1, 0];
const HW_INFO: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 1, 2, 0];
const WIRELESS_MAC: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 1, 5, 0];
const UIMAGE_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 1, 17, 0];
const ESN: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 1, 30, 0];
const MSN: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 1, 31, 0];
const CONNECTED_AP_MAC: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 2, 19, 0];
const INTERFACE_MODE: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21, 3, 8, 2, 1, 0];

macro_rules! sta {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 2, 30, 1, $c]
    };
}

static STATIONS: LinkTable = LinkTable {
    columns: &[
        Column { oid: sta!(1), field: Field::Mac, decode: Decode::Mac },
        Column { oid: sta!(4), field: Field::SignalDbm, decode: Decode::Int { mul: 1, div: 1 } },
        Column { oid: sta!(6), field: Field::SnrDb, decode: Decode::Int { mul: 1, div: 1 } },
        Column { oid: sta!(10), field: Field::Ip, decode: Decode::Ip },
        Column { oid: sta!(18), field: Field::Name, decode: Decode::Text },
        Column { oid: sta!(20), field: Field::QualityPct, decode: Decode::Int { mul: 1, div: 1 } },
        Column { oid: sta!(28), field: Field::TxRateKbps, decode: Decode::DecimalText { mul: 1000 } },
    ],
    index_mac: IndexMac::None,
};

macro_rules! rf {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 17713, 21, 1, 2, $c]
    };
}
macro_rules! wif {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 17713, 21, 3, 8, 2, $c]
    };
}
const ONE: Decode = Decode::Int { mul: 1, div: 1 };
/// `wirelessInterfaceHTMode` / `cambiumSTAConnectedRFBandwidth` codes (MHz).
static WIDTH: &[(i64, i64)] = &[(1, 20), (2, 40), (3, 10), (4, 5), (5, 80), (6, 160)];
/// `cambiumSTADownlinkMCSMode` codes for 802.11n and 802.11ac hardware.
static MCS: &[(i64, &str)] = &[
    (1, "MCS1"),
    (2, "MCS2"),
    (3, "MCS3"),
    (4, "MCS4"),
    (5, "MCS5"),
    (6, "MCS6"),
    (7, "MCS7"),
    (9, "MCS9"),
    (10, "MCS10"),
    (11, "MCS11"),
    (12, "MCS12"),
    (13, "MCS13"),
    (14, "MCS14"),
    (15, "MCS15"),
    (20, "1x MCS0 BPSK 1/2"),
    (21, "1x MCS1 QPSK 1/2"),
    (22, "1x MCS2 QPSK 3/4"),
    (23, "1x MCS3 16QAM 1/2"),
    (24, "1x MCS4 16QAM 3/4"),
    (25, "1x MCS5 64QAM 2/3"),
    (26, "1x MCS6 64QAM 3/4"),
    (27, "1x MCS7 64QAM 5/6"),
    (28, "1x MCS8 256QAM 3/4"),
    (29, "1x MCS9 256QAM 5/6"),
    (30, "2x MCS0 BPSK 1/2"),
    (31, "2x MCS1 QPSK 1/2"),
    (32, "2x MCS2 QPSK 3/4"),
    (33, "2x MCS3 16QAM 1/2"),
    (34, "2x MCS4 16QAM 3/4"),
    (35, "2x MCS5 64QAM 2/3"),
    (36, "2x MCS6 64QAM 3/4"),
    (37, "2x MCS7 64QAM 5/6"),
    (38, "2x MCS8 256QAM 3/4"),
    (39, "2x MCS9 256QAM 5/6"),
];

/// Scalars only (one radio). Configured values come before the SM's
/// measured ones, which win where both are present.
static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: wif!(18), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: wif!(5), field: Field::WidthMhz, decode: Decode::Lookup(WIDTH) },
        Column { oid: wif!(6), field: Field::TxPowerDbm, decode: ONE },
        Column { oid: rf!(10), field: Field::Stations, decode: ONE },
        Column { oid: rf!(1), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: rf!(2), field: Field::WidthMhz, decode: Decode::Lookup(WIDTH) },
        Column { oid: rf!(3), field: Field::SignalDbm, decode: ONE },
        Column { oid: rf!(5), field: Field::TxPowerDbm, decode: ONE },
        Column { oid: rf!(7), field: Field::Modulation, decode: Decode::Names(MCS) },
        Column { oid: rf!(12), field: Field::DistanceM, decode: Decode::DecimalText { mul: 1000 } },
        Column { oid: rf!(18), field: Field::SnrDb, decode: ONE },
        Column { oid: rf!(19), field: Field::Peer, decode: Decode::Mac },
        Column { oid: rf!(24), field: Field::Chain0Dbm, decode: ONE },
        Column { oid: rf!(25), field: Field::Chain1Dbm, decode: ONE },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "cambium-epmp",
    vendor: "Cambium Networks",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 17713, 21]),
    detect: &[],
    scalars: &[SW_INFO, HW_INFO, WIRELESS_MAC, UIMAGE_VERSION, ESN, MSN, CONNECTED_AP_MAC, INTERFACE_MODE],
    columns: &[],
    identify,
    stations: &[&STATIONS],
    radios: Some(&RADIOS),
};

/// `cambiumHWInfo` SKUs as the MIB lists them.
fn sku(n: i64) -> Option<&'static str> {
    Some(match n {
        0 => "5 GHz Connectorized Radio with Sync",
        1 => "5 GHz Connectorized Radio",
        2 => "5 GHz Integrated Radio",
        3 => "2.4 GHz Connectorized Radio with Sync",
        4 => "2.4 GHz Connectorized Radio",
        5 => "2.4 GHz Integrated Radio",
        6 => "Force 200 ROW",
        8 => "Force 200",
        9 => "Force 200 FCC",
        11 => "Force 180 ROW",
        12 => "Force 180 FCC",
        _ => return None,
    })
}

fn model_from_descr(descr: &str) -> Option<String> {
    let d = descr.trim();
    let d = d.strip_prefix("Cambium Networks").or_else(|| d.strip_prefix("Cambium")).unwrap_or(d).trim();
    if !d.contains("ePMP") && !d.contains("Force") {
        return None;
    }
    let d = d.strip_suffix(" AP").or_else(|| d.strip_suffix(" SM")).unwrap_or(d).trim();
    (!d.is_empty()).then(|| d.to_string())
}

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let usable = crate::snmp::value::usable_mac;
    let ap_mac = d.scalar(CONNECTED_AP_MAC).and_then(|v| v.as_mac()).filter(usable);
    let kind = match d.scalar(INTERFACE_MODE).and_then(|v| v.as_i64()) {
        Some(1) => Some(DeviceKind::AccessPoint),
        Some(2) => Some(DeviceKind::Cpe),
        _ if ap_mac.is_some() => Some(DeviceKind::Cpe),
        _ => None,
    };
    VendorInfo {
        model: model_from_descr(&sys.descr)
            .or_else(|| d.scalar(HW_INFO).and_then(|v| v.as_i64()).and_then(sku).map(String::from)),
        firmware: d.text(UIMAGE_VERSION).or_else(|| d.text(SW_INFO)),
        serial: d.text(MSN).or_else(|| d.text(ESN)),
        kind,
        wireless_mac: d.scalar(WIRELESS_MAC).and_then(|v| v.as_mac()).filter(usable),
        uplink_ap: if kind == Some(DeviceKind::Cpe) { ap_mac } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run, run_profile};
    use super::*;

    #[test]
    fn connected_station_table_fixture() {
        let (info, st) = run_profile(&PROFILE, &fixture("cambium-epmp"));
        assert_eq!(info.model.as_deref(), Some("ePMP 1000"));
        assert_eq!(info.firmware.as_deref(), Some("4.7.0.1"));
        assert_eq!(info.serial.as_deref(), Some("M7K3D2X8P1Q9Z"));
        assert_eq!(info.wireless_mac, Some([0x00, 0x04, 0x56, 0x8a, 0x41, 0x21]));
        assert_eq!(info.kind, None, "no interface mode in the recording: decided from the station table");
        let got: Vec<(String, Option<i16>)> =
            st.iter().map(|s| (mast_shared::msg::format_mac(&s.mac), s.link.signal_dbm)).collect();
        assert_eq!(
            got,
            [
                ("00:04:56:b2:10:0e".to_string(), Some(-58)),
                ("00:04:56:b2:27:f1".to_string(), Some(-65)),
                ("58:c1:7a:04:3d:90".to_string(), Some(-71)),
            ]
        );
        assert_eq!(st[0].ip, Some("10.40.0.21".parse().unwrap()));
        assert_eq!(st[0].name.as_deref(), Some("sm-ferreira"));
        assert_eq!(st[0].link.quality_pct, Some(91));
        assert_eq!(st[0].link.tx_rate_kbps, Some(300_000));
        assert_eq!(st.iter().map(|s| s.link.snr_db).collect::<Vec<_>>(), [Some(36), Some(29), Some(23)]);
    }

    #[test]
    fn access_point_radio_from_its_configuration() {
        let r = run(&PROFILE, &fixture("cambium-epmp"));
        assert_eq!(r.identity.kind, DeviceKind::AccessPoint);
        assert_eq!(r.identity.base_mac, Some([0x00, 0x04, 0x56, 0x8a, 0x41, 0x21]));
        assert_eq!(r.radios.len(), 1);
        let l = &r.radios[0].link;
        assert_eq!((r.radios[0].index, r.radios[0].peer), (0, None));
        assert_eq!((l.frequency_mhz, l.width_mhz, l.tx_power_dbm), (Some(5745), Some(20), Some(20)));
        assert_eq!(l.stations, Some(3), "cambiumAPNumberOfConnectedSTA");
        assert_eq!((l.signal_dbm, l.snr_db), (None, None));
    }

    #[test]
    fn subscriber_module_fixture_link_to_its_ap() {
        let m = fixture("cambium-epmp-sm");
        assert_eq!(super::super::find(&super::super::tests::sys_of(&m)).name, "cambium-epmp");
        let r = run(&PROFILE, &m);
        assert_eq!(r.identity.kind, DeviceKind::Cpe, "wirelessInterfaceMode 2");
        assert_eq!(r.identity.model.as_deref(), Some("ePMP 1000"));
        assert_eq!(r.identity.serial.as_deref(), Some("M7K3D2X8Q2R4W"));
        assert_eq!(r.identity.base_mac, Some([0x00, 0x04, 0x56, 0xb2, 0x10, 0x0e]));
        assert_eq!(r.info.uplink_ap, Some([0x00, 0x04, 0x56, 0x8a, 0x41, 0x21]));
        assert!(r.stations.is_empty());
        assert_eq!(r.radios.len(), 1);
        let (radio, l) = (&r.radios[0], &r.radios[0].link);
        assert_eq!(radio.peer, Some([0x00, 0x04, 0x56, 0x8a, 0x41, 0x21]));
        assert_eq!((l.signal_dbm, l.chain0_dbm, l.chain1_dbm), (Some(-60), Some(-62), Some(-63)));
        assert_eq!((l.snr_db, l.modulation.as_deref()), (Some(34), Some("MCS15")));
        assert_eq!((l.frequency_mhz, l.width_mhz), (Some(5745), Some(20)));
        assert_eq!(l.tx_power_dbm, Some(18), "measured cambiumSTAConductedTXPower");
        assert_eq!(l.distance_m, Some(3200), "cambiumSTADistanceKm 3.2");
        assert_eq!(l.stations, None, "not an AP");
    }

    #[test]
    fn subscriber_module_names_its_ap() {
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|Cambium Networks Force 180
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.17713.21
            1.3.6.1.4.1.17713.21.1.1.2.0|2|12
            1.3.6.1.4.1.17713.21.1.2.19.0|4|00:04:56:8A:41:21
        ");
        let (info, st) = run_profile(&PROFILE, &m);
        assert_eq!(info.kind, Some(DeviceKind::Cpe));
        assert_eq!(info.uplink_ap, Some([0x00, 0x04, 0x56, 0x8a, 0x41, 0x21]));
        assert_eq!(info.model.as_deref(), Some("Force 180"));
        assert!(st.is_empty());
        assert_eq!(sku(12), Some("Force 180 FCC"));
        assert_eq!(model_from_descr("Linux 4.1"), None);
    }
}
