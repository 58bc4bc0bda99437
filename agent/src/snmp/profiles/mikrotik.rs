//! MikroTik RouterOS: MIKROTIK-MIB (enterprise 14988).
//!
//! - model: `mtxrBoardName` 1.3.6.1.4.1.14988.1.1.7.9.0, else sysDescr
//!   (`RouterOS <board>`)
//! - firmware: `mtxrLicVersion` 1.3.6.1.4.1.14988.1.1.4.4.0 (RouterOS
//!   version), else `mtxrFirmwareVersion` .1.1.7.4.0 (RouterBOOT)
//! - serial: `mtxrSerialNumber` 1.3.6.1.4.1.14988.1.1.7.3.0
//! - kind: rows in `mtxrWlApTable` (…1.1.1.3.1) → AP (its BSSID .5 is the
//!   wireless MAC); rows in `mtxrWlStatTable` (…1.1.1.1.1, station mode) →
//!   CPE, its BSSID .6 is the uplink AP; neither → router
//! - stations: `mtxrWlRtabTable` 1.3.6.1.4.1.14988.1.1.1.2.1, index
//!   `<MAC as 6 arcs>.<ifIndex>`: 3 strength (dBm), 8/9 tx/rx rate (bit/s),
//!   20 radio name

use super::{Decode, Field, IndexMac, Profile, Column, LinkTable, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const BOARD_NAME: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 7, 9, 0];
const LIC_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 4, 4, 0];
const FIRMWARE_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 7, 4, 0];
const SERIAL: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 7, 3, 0];
const WL_AP_BSSID: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 3, 1, 5];
const WL_STAT_BSSID: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 1, 1, 6];

macro_rules! rtab {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 2, 1, $c]
    };
}

static STATIONS: LinkTable = LinkTable {
    columns: &[
        Column { oid: rtab!(3), field: Field::SignalDbm, decode: Decode::Int { mul: 1, div: 1 } },
        Column { oid: rtab!(8), field: Field::TxRateKbps, decode: Decode::Int { mul: 1, div: 1000 } },
        Column { oid: rtab!(9), field: Field::RxRateKbps, decode: Decode::Int { mul: 1, div: 1000 } },
        Column { oid: rtab!(20), field: Field::Name, decode: Decode::Text },
    ],
    index_mac: IndexMac::First6,
};

pub static PROFILE: Profile = Profile {
    name: "mikrotik",
    vendor: "MikroTik",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 14988]) || s.descr.starts_with("RouterOS"),
    scalars: &[BOARD_NAME, LIC_VERSION, FIRMWARE_VERSION, SERIAL],
    columns: &[WL_AP_BSSID, WL_STAT_BSSID],
    identify,
    stations: Some(&STATIONS),
    radios: None,
};

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let usable = crate::snmp::value::usable_mac;
    let ap_bssid = d.first(0).and_then(|v| v.as_mac()).filter(usable);
    let sta_bssid = d.first(1).and_then(|v| v.as_mac()).filter(usable);
    let kind = if !d.column(0).is_empty() {
        DeviceKind::AccessPoint
    } else if !d.column(1).is_empty() {
        DeviceKind::Cpe
    } else {
        DeviceKind::Router
    };
    VendorInfo {
        model: d
            .text(BOARD_NAME)
            .or_else(|| sys.descr.strip_prefix("RouterOS").map(str::trim).filter(|s| !s.is_empty()).map(String::from)),
        firmware: d.text(LIC_VERSION).or_else(|| d.text(FIRMWARE_VERSION)),
        serial: d.text(SERIAL),
        kind: Some(kind),
        wireless_mac: ap_bssid,
        uplink_ap: if kind == DeviceKind::Cpe { sta_bssid } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run_profile};
    use super::*;

    #[test]
    fn registration_table_fixture() {
        let (info, st) = run_profile(&PROFILE, &fixture("mikrotik"));
        assert_eq!(info.model.as_deref(), Some("RB912UAG-5HPnD"));
        assert_eq!(info.firmware.as_deref(), Some("6.49.10"));
        assert_eq!(info.serial.as_deref(), Some("8F1207A3C5D2"));
        assert_eq!(info.kind, Some(DeviceKind::AccessPoint));
        assert_eq!(info.wireless_mac, Some([0xb8, 0x69, 0xf4, 0x2c, 0x7a, 0x11]));
        let got: Vec<(String, Option<i16>, Option<u32>)> =
            st.iter().map(|s| (mast_shared::msg::format_mac(&s.mac), s.link.signal_dbm, s.link.tx_rate_kbps)).collect();
        assert_eq!(
            got,
            [
                ("4c:5e:0c:81:12:a4".into(), Some(-61), Some(130_000)),
                ("64:d1:54:3a:e0:07".into(), Some(-69), Some(78_000)),
                ("cc:2d:e0:5b:9f:32".into(), Some(-74), Some(52_000)),
            ]
        );
        assert_eq!(st[1].name.as_deref(), Some("cpe-novak"));
        assert_eq!(st[2].link.rx_rate_kbps, Some(39_000));
    }

    #[test]
    fn station_mode_and_plain_router() {
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|RouterOS SXT 5nD r2
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.14988.1
            1.3.6.1.4.1.14988.1.1.1.1.1.6.2|4x|b869f42c7a11
        ");
        let (info, _) = run_profile(&PROFILE, &m);
        assert_eq!(info.kind, Some(DeviceKind::Cpe));
        assert_eq!(info.uplink_ap, Some([0xb8, 0x69, 0xf4, 0x2c, 0x7a, 0x11]));
        assert_eq!(info.model.as_deref(), Some("SXT 5nD r2"), "from sysDescr without mtxrBoardName");
        let m = mib("1.3.6.1.2.1.1.1.0|4|RouterOS CCR1009-7G-1C-1S+");
        assert_eq!(run_profile(&PROFILE, &m).0.kind, Some(DeviceKind::Router));
    }
}
