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
//!   18 host name, 20 TX quality (%), 28 DL rate (Mbit/s as text). Column 29
//!   (distance) is not decoded: the MIB does not state its unit.

use super::{Decode, Field, IndexMac, Profile, Column, LinkTable, SysInfo, VendorData, VendorInfo};
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
        Column { oid: sta!(10), field: Field::Ip, decode: Decode::Ip },
        Column { oid: sta!(18), field: Field::Name, decode: Decode::Text },
        Column { oid: sta!(20), field: Field::QualityPct, decode: Decode::Int { mul: 1, div: 1 } },
        Column { oid: sta!(28), field: Field::TxRateKbps, decode: Decode::DecimalText { mul: 1000 } },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "cambium-epmp",
    vendor: "Cambium Networks",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 17713, 21]),
    scalars: &[SW_INFO, HW_INFO, WIRELESS_MAC, UIMAGE_VERSION, ESN, MSN, CONNECTED_AP_MAC, INTERFACE_MODE],
    columns: &[],
    identify,
    stations: Some(&STATIONS),
    radios: None,
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
    use super::super::tests::{fixture, mib, run_profile};
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
