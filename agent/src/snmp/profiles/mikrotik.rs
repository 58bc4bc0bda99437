//! MikroTik RouterOS: MIKROTIK-MIB (enterprise 14988), objects and units as
//! in revision 202410170000Z (`mtxr…` names below; `…1.1` is
//! 1.3.6.1.4.1.14988.1.1, `mtXRouterOs`).
//!
//! - model: `mtxrBoardName` 1.3.6.1.4.1.14988.1.1.7.9.0, else sysDescr
//!   (`RouterOS <board>`)
//! - firmware: `mtxrLicVersion` 1.3.6.1.4.1.14988.1.1.4.4.0 (RouterOS
//!   version), else `mtxrFirmwareVersion` .1.1.7.4.0 (RouterBOOT)
//! - serial: `mtxrSerialNumber` 1.3.6.1.4.1.14988.1.1.7.3.0
//! - kind: rows in `mtxrWlApTable` (…1.1.1.3.1, legacy "wireless" package in
//!   AP mode) → AP (its BSSID .5 is the wireless MAC); rows in
//!   `mtxrWlStatTable` (…1.1.1.1.1, station mode) → CPE, its BSSID .6 is the
//!   uplink AP; rows in the RouterOS 7 "wifi" (wifiwave2) interface table
//!   `mtxrWifiInterfaces` (…1.1.21.5.1, name .2) → AP (that MIB gives no
//!   interface mode, so a wifi-package station is not told apart); none →
//!   router
//! - stations, two tables whose rows are merged, both indexed
//!   `<MAC as 6 arcs>.<interface>`:
//!   - legacy `mtxrWlRtabTable` 1.3.6.1.4.1.14988.1.1.1.2.1: 3 strength
//!     (dBm), 8/9 tx/rx rate (bit/s), 12 signal-to-noise (dB, 0 = not
//!     reported), 14/16 `mtxrWlRtabRxStrengthCh0/Ch1` (per receive chain),
//!     19 `mtxrWlRtabTxStrength` (what the station receives from us), 20
//!     radio name. The MIB has no per-station CCQ.
//!   - wifi `mtxrWifiRegistrationTable` 1.3.6.1.4.1.14988.1.1.21.4.1: 6
//!     `mtxrWifiRegistrationSignal` (the MIB states no unit; read as dBm like
//!     the legacy `mtxrWlRtabStrength`, implausible values are dropped).
//!     Its tx/rx rate columns (.9/.10, Gauge32) state no unit either and are
//!     not read.
//! - radios, one row per interface index from three tables:
//!   - `mtxrWlApTable` …1.1.1.3.1: 2/3 tx/rx rate (bit/s), 6 client count,
//!     7 frequency (MHz), 9 noise floor (dBm), 10 overall tx CCQ (%); its
//!     band (.8, e.g. `5ghz-a/n`) names no channel width
//!   - `mtxrWlStatTable` …1.1.1.1.1: 2/3 tx/rx rate (bit/s), 4 strength
//!     (dBm), 6 BSSID (the AP: peer), 7 frequency (MHz), 9 tx CCQ (%)
//!   - `mtxrWifiInterfaces` …1.1.21.5.1: 4 frequency (DisplayString; its
//!     leading number is read as MHz)

use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const BOARD_NAME: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 7, 9, 0];
const LIC_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 4, 4, 0];
const FIRMWARE_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 7, 4, 0];
const SERIAL: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 7, 3, 0];
const WL_AP_BSSID: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 3, 1, 5];
const WL_STAT_BSSID: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 1, 1, 6];
/// mtxrWifiInterfacesName.
const WIFI_IF_NAME: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 21, 5, 1, 2];

macro_rules! rtab {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 2, 1, $c]
    };
}
macro_rules! wifi_reg {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 21, 4, 1, $c]
    };
}
macro_rules! wl_ap {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 3, 1, $c]
    };
}
macro_rules! wl_stat {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 1, 1, 1, $c]
    };
}

const ONE: Decode = Decode::Int { mul: 1, div: 1 };
const BPS_TO_KBPS: Decode = Decode::Int { mul: 1, div: 1000 };
/// A 0 dB SNR or a 0 dBm receive level is MikroTik's "not reported".
const NONZERO: Decode = Decode::IntNonZero { mul: 1, div: 1 };

/// Legacy wireless package: `mtxrWlRtabTable`.
static RTAB: LinkTable = LinkTable {
    columns: &[
        Column { oid: rtab!(3), field: Field::SignalDbm, decode: ONE },
        Column { oid: rtab!(8), field: Field::TxRateKbps, decode: BPS_TO_KBPS },
        Column { oid: rtab!(9), field: Field::RxRateKbps, decode: BPS_TO_KBPS },
        Column { oid: rtab!(12), field: Field::SnrDb, decode: NONZERO },
        Column { oid: rtab!(14), field: Field::Chain0Dbm, decode: NONZERO },
        Column { oid: rtab!(16), field: Field::Chain1Dbm, decode: NONZERO },
        Column { oid: rtab!(19), field: Field::RemoteSignalDbm, decode: NONZERO },
        Column { oid: rtab!(20), field: Field::Name, decode: Decode::Text },
    ],
    index_mac: IndexMac::First6,
};

/// RouterOS 7 wifi package: `mtxrWifiRegistrationTable`.
static WIFI_REG: LinkTable = LinkTable {
    columns: &[Column { oid: wifi_reg!(6), field: Field::SignalDbm, decode: NONZERO }],
    index_mac: IndexMac::First6,
};

/// The device's radios: `mtxrWlApTable`, `mtxrWlStatTable` and
/// `mtxrWifiInterfaces`, all indexed by interface.
static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: wl_ap!(2), field: Field::TxRateKbps, decode: BPS_TO_KBPS },
        Column { oid: wl_ap!(3), field: Field::RxRateKbps, decode: BPS_TO_KBPS },
        Column { oid: wl_ap!(6), field: Field::Stations, decode: ONE },
        Column { oid: wl_ap!(7), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: wl_ap!(9), field: Field::NoiseDbm, decode: NONZERO },
        Column { oid: wl_ap!(10), field: Field::QualityPct, decode: ONE },
        Column { oid: wl_stat!(2), field: Field::TxRateKbps, decode: BPS_TO_KBPS },
        Column { oid: wl_stat!(3), field: Field::RxRateKbps, decode: BPS_TO_KBPS },
        Column { oid: wl_stat!(4), field: Field::SignalDbm, decode: NONZERO },
        Column { oid: wl_stat!(6), field: Field::Peer, decode: Decode::Mac },
        Column { oid: wl_stat!(7), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: wl_stat!(9), field: Field::QualityPct, decode: ONE },
        Column {
            oid: &[1, 3, 6, 1, 4, 1, 14988, 1, 1, 21, 5, 1, 4],
            field: Field::FrequencyMhz,
            decode: Decode::DecimalText { mul: 1 },
        },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "mikrotik",
    vendor: "MikroTik",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 14988]) || s.descr.starts_with("RouterOS"),
    detect: &[],
    scalars: &[BOARD_NAME, LIC_VERSION, FIRMWARE_VERSION, SERIAL],
    columns: &[WL_AP_BSSID, WL_STAT_BSSID, WIFI_IF_NAME],
    identify,
    stations: &[&RTAB, &WIFI_REG],
    radios: Some(&RADIOS),
};

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let usable = crate::snmp::value::usable_mac;
    let ap_bssid = d.first(0).and_then(|v| v.as_mac()).filter(usable);
    let sta_bssid = d.first(1).and_then(|v| v.as_mac()).filter(usable);
    let kind = if !d.column(0).is_empty() {
        DeviceKind::AccessPoint
    } else if !d.column(1).is_empty() {
        DeviceKind::Cpe
    } else if !d.column(2).is_empty() {
        DeviceKind::AccessPoint
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
    use super::super::tests::{fixture, mib, run, run_profile};
    use super::*;
    use mast_shared::msg::format_mac;

    #[test]
    fn registration_table_fixture() {
        let (info, st) = run_profile(&PROFILE, &fixture("mikrotik"));
        assert_eq!(info.model.as_deref(), Some("RB912UAG-5HPnD"));
        assert_eq!(info.firmware.as_deref(), Some("6.49.10"));
        assert_eq!(info.serial.as_deref(), Some("8F1207A3C5D2"));
        assert_eq!(info.kind, Some(DeviceKind::AccessPoint));
        assert_eq!(info.wireless_mac, Some([0xb8, 0x69, 0xf4, 0x2c, 0x7a, 0x11]));
        let got: Vec<(String, Option<i16>, Option<u32>)> =
            st.iter().map(|s| (format_mac(&s.mac), s.link.signal_dbm, s.link.tx_rate_kbps)).collect();
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
    fn registration_table_link_columns_and_ap_radio() {
        let r = run(&PROFILE, &fixture("mikrotik"));
        let l = &r.stations[0].link;
        assert_eq!(
            (l.snr_db, l.chain0_dbm, l.chain1_dbm, l.remote_signal_dbm),
            (Some(44), Some(-63), Some(-62), Some(-59))
        );
        assert_eq!(l.chain_imbalance_db(), Some(1));
        assert_eq!(r.stations[0].link.noise_dbm, Some(-106), "the AP radio's noise floor");
        assert_eq!(r.radios.len(), 1);
        let radio = &r.radios[0];
        assert_eq!((radio.index, radio.peer), (2, None));
        assert_eq!(
            (radio.link.frequency_mhz, radio.link.noise_dbm, radio.link.stations, radio.link.quality_pct),
            (Some(5580), Some(-106), Some(3), Some(84))
        );
        assert_eq!((radio.link.tx_rate_kbps, radio.link.rx_rate_kbps), (Some(130_000), Some(117_000)));
    }

    #[test]
    fn station_mode_fixture() {
        let r = run(&PROFILE, &fixture("mikrotik-station"));
        let ap = [0xb8, 0x69, 0xf4, 0x2c, 0x7a, 0x11];
        assert_eq!(r.info.kind, Some(DeviceKind::Cpe));
        assert_eq!(r.info.uplink_ap, Some(ap));
        assert_eq!(r.info.model.as_deref(), Some("RBLHG-5nD"));
        assert_eq!(r.identity.kind, DeviceKind::Cpe);
        assert_eq!(r.radios.len(), 1);
        let radio = &r.radios[0];
        assert_eq!(radio.peer, Some(ap), "mtxrWlStatBssid");
        assert_eq!(
            (radio.link.signal_dbm, radio.link.frequency_mhz, radio.link.quality_pct),
            (Some(-59), Some(5580), Some(91))
        );
        assert_eq!((radio.link.tx_rate_kbps, radio.link.rx_rate_kbps), (Some(104_000), Some(130_000)));
        assert_eq!(r.stations.len(), 1, "a station's registration table lists its AP");
        assert_eq!(r.stations[0].mac, ap);
        assert_eq!((r.stations[0].link.snr_db, r.stations[0].link.remote_signal_dbm), (Some(39), Some(-61)));
    }

    #[test]
    fn wifiwave2_fixture() {
        let r = run(&PROFILE, &fixture("mikrotik-wifiwave2"));
        assert_eq!(r.info.kind, Some(DeviceKind::AccessPoint), "mtxrWifiInterfaces rows");
        assert_eq!(r.info.model.as_deref(), Some("C53UiG+5HPaxD2HPaxD"));
        assert_eq!(r.info.firmware.as_deref(), Some("7.16.2"));
        assert_eq!(r.identity.base_mac, Some([0x48, 0xa9, 0x8a, 0x10, 0x20, 0x32]), "the first radio interface");
        let got: Vec<(String, Option<i16>)> =
            r.stations.iter().map(|s| (format_mac(&s.mac), s.link.signal_dbm)).collect();
        assert_eq!(
            got,
            [
                ("3c:22:fb:81:0a:5e".into(), Some(-58)),
                ("a4:83:e7:1f:6c:d0".into(), Some(-71)),
                ("f0:18:98:44:2b:91".into(), Some(-49)),
            ]
        );
        let radios: Vec<(u32, Option<u32>)> = r.radios.iter().map(|x| (x.index, x.link.frequency_mhz)).collect();
        assert_eq!(radios, [(2, Some(5500)), (3, Some(2437))]);
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

    #[test]
    fn zero_snr_and_chain_levels_are_not_reported() {
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|RouterOS RB912UAG-5HPnD
            1.3.6.1.4.1.14988.1.1.1.2.1.3.2.0.0.0.0.1.2|2|-70
            1.3.6.1.4.1.14988.1.1.1.2.1.12.2.0.0.0.0.1.2|2|0
            1.3.6.1.4.1.14988.1.1.1.2.1.16.2.0.0.0.0.1.2|2|0
        ");
        let (_, st) = run_profile(&PROFILE, &m);
        assert_eq!((st[0].link.signal_dbm, st[0].link.snr_db, st[0].link.chain1_dbm), (Some(-70), None, None));
    }
}
