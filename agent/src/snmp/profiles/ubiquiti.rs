//! Ubiquiti airMAX (airOS M/AC): UBNT-AirMAX-MIB (enterprise 41112; older
//! firmware reports 10002) plus the IEEE 802.11 MIB for model and firmware.
//!
//! - model: `dot11manufacturerProductName` 1.2.840.10036.3.1.2.1.3.<if>
//! - firmware: `dot11manufacturerProductVersion` 1.2.840.10036.3.1.2.1.4.<if>
//! - kind: `ubntRadioMode` 1.3.6.1.4.1.41112.1.4.1.1.2.<radio>: sta(1) → CPE,
//!   ap(2) / aprepeater(3) / apwds(4) → AP
//! - wireless MAC / uplink AP: `ubntWlStatApMac` 1.3.6.1.4.1.41112.1.4.5.1.4
//!   (an AP reports its own MAC there, a station the AP's)
//! - stations: `ubntStaTable` 1.3.6.1.4.1.41112.1.4.7.1, index
//!   `<ubntWlStatIndex>.<MAC as 6 arcs>` (ubntStaMac is not-accessible):
//!   2 name, 3 signal (dBm), 5 distance (m), 6 CCQ (%), 10 last IP,
//!   11/12 tx/rx rate (kbit/s). On a station the table lists its AP.

use super::{Decode, Field, IndexMac, Profile, Column, LinkTable, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const PRODUCT_NAME: &[u32] = &[1, 2, 840, 10036, 3, 1, 2, 1, 3];
const PRODUCT_VERSION: &[u32] = &[1, 2, 840, 10036, 3, 1, 2, 1, 4];
const RADIO_MODE: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 4, 1, 1, 2];
const WL_STAT_AP_MAC: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 4, 5, 1, 4];

macro_rules! sta {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, $c]
    };
}
const ONE: Decode = Decode::Int { mul: 1, div: 1 };

static STATIONS: LinkTable = LinkTable {
    columns: &[
        Column { oid: sta!(2), field: Field::Name, decode: Decode::Text },
        Column { oid: sta!(3), field: Field::SignalDbm, decode: ONE },
        Column { oid: sta!(5), field: Field::DistanceM, decode: ONE },
        Column { oid: sta!(6), field: Field::QualityPct, decode: ONE },
        Column { oid: sta!(10), field: Field::Ip, decode: Decode::Ip },
        Column { oid: sta!(11), field: Field::TxRateKbps, decode: ONE },
        Column { oid: sta!(12), field: Field::RxRateKbps, decode: ONE },
    ],
    index_mac: IndexMac::Last6,
};

pub static PROFILE: Profile = Profile {
    name: "ubiquiti-airmax",
    vendor: "Ubiquiti",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 41112]) || super::under(s, &[1, 3, 6, 1, 4, 1, 10002]),
    scalars: &[],
    columns: &[PRODUCT_NAME, PRODUCT_VERSION, RADIO_MODE, WL_STAT_AP_MAC],
    identify,
    stations: Some(&STATIONS),
    radios: None,
};

fn identify(_sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let kind =
        d.first(2).and_then(|v| v.as_i64()).map(|m| if m == 1 { DeviceKind::Cpe } else { DeviceKind::AccessPoint });
    let wl_mac = d.first(3).and_then(|v| v.as_mac()).filter(crate::snmp::value::usable_mac);
    let (wireless_mac, uplink_ap) = match kind {
        Some(DeviceKind::Cpe) => (None, wl_mac),
        _ => (wl_mac, None),
    };
    VendorInfo {
        model: d.first(0).and_then(|v| v.as_text()),
        firmware: d.first(1).and_then(|v| v.as_text()),
        serial: None,
        kind,
        wireless_mac,
        uplink_ap,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run_profile};
    use super::*;

    #[test]
    fn real_nanostation_m5_recording() {
        let m = fixture("ubiquiti-m5");
        assert_eq!(super::super::find(&super::super::tests::sys_of(&m)).name, "ubiquiti-airmax");
        let (info, st) = run_profile(&PROFILE, &m);
        assert_eq!(info.model.as_deref(), Some("NanoStation M5"));
        assert_eq!(info.firmware.as_deref(), Some("XW.ar934x.v5.6-beta4.22359.140521.1836"));
        assert_eq!(info.kind, Some(DeviceKind::AccessPoint), "ubntRadioMode 4 = apwds");
        assert_eq!(info.wireless_mac, Some([0x04, 0x18, 0xd6, 0x2a, 0x0a, 0x92]));
        assert_eq!(info.uplink_ap, None);
        assert_eq!(st.len(), 1);
        let s = &st[0];
        assert_eq!(s.mac, [0x68, 0x72, 0x51, 0x00, 0x34, 0x25]);
        assert_eq!(s.name.as_deref(), Some("patrikeevo_skl"));
        assert_eq!((s.link.signal_dbm, s.link.distance_m, s.link.quality_pct), (Some(-64), Some(630), Some(99)));
        assert_eq!((s.link.tx_rate_kbps, s.link.rx_rate_kbps), (Some(162_000), Some(108_000)));
        assert_eq!(s.ip, None, "last IP 0.0.0.0");
    }

    #[test]
    fn hand_written_ap_with_three_cpes() {
        let (info, st) = run_profile(&PROFILE, &fixture("ubiquiti-ap"));
        assert_eq!(info.model.as_deref(), Some("Rocket M5"));
        assert_eq!(info.kind, Some(DeviceKind::AccessPoint));
        let macs: Vec<String> = st.iter().map(|s| mast_shared::msg::format_mac(&s.mac)).collect();
        assert_eq!(macs, ["04:18:d6:a1:22:3b", "24:a4:3c:7e:01:9a", "78:8a:20:10:c4:e7"]);
        assert_eq!(st[0].link.signal_dbm, Some(-58));
        assert_eq!(st[0].ip, Some("10.20.1.11".parse().unwrap()));
        assert_eq!(st[2].name.as_deref(), Some("cpe-lindqvist"));
    }

    #[test]
    fn station_mode_names_its_ap() {
        let m = mib("
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.41112.1.4
            1.3.6.1.4.1.41112.1.4.1.1.2.1|2|1
            1.3.6.1.4.1.41112.1.4.5.1.4.1|4x|24a43c3e510c
            1.3.6.1.4.1.41112.1.4.7.1.3.1.36.164.60.62.81.12|2|-61
        ");
        let (info, st) = run_profile(&PROFILE, &m);
        assert_eq!(info.kind, Some(DeviceKind::Cpe));
        assert_eq!(info.uplink_ap, Some([0x24, 0xa4, 0x3c, 0x3e, 0x51, 0x0c]));
        assert_eq!(info.wireless_mac, None);
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].mac, [0x24, 0xa4, 0x3c, 0x3e, 0x51, 0x0c]);
        assert_eq!(st[0].link.signal_dbm, Some(-61));
    }
}
