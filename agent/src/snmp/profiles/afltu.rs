//! Ubiquiti LTU (LTU Rocket AP; LTU LR / Pro / Lite CPEs) and the airFiber
//! AF-5XHD / AF-XHD family: UBNT-AFLTU-MIB (revision 201710300000Z,
//! `afLTUMIB` 1.3.6.1.4.1.41112.1.10.1).
//!
//! Matching: sysObjectID under 1.3.6.1.4.1.41112.1.10. The real AF-5XHD
//! recordings at hand (firmware v1.1.1 and v1.4.0) report net-snmp's
//! generic 1.3.6.1.4.1.8072.3.2.10 with a plain `Linux ... armv7l`
//! sysDescr ([`super::ambiguous`]): the poller's probe finds
//! `afLTUFirmwareVersion.0` (this profile's `detect` OID) and picks this
//! profile (`afxhd-generic-oid.snmprec`).
//!
//! - model: `afLTUDevModel` .3.2.0 (`airFiber 5XHD` on the real XHD)
//! - firmware: `afLTUFirmwareVersion` .3.4.0
//! - wireless MAC: `afLTUMac` .3.1.0 ("The MAC address of this device")
//! - kind: a model named `airFiber ...` (XHD) is a Backhaul; else
//!   `afLTURole` .2.1.0 ap(0) → AP, cpe(1) → CPE, whose uplink AP is the
//!   first row of `afLTUStaRemoteMac`
//! - stations: `afLTUStationTable` .4.1, index `afLTUStaRemoteMac` (6
//!   arcs): 1 `afLTUStaTxRate` (modulation, UNITS "x": shown as `8x`),
//!   3/4 tx/rx capacity (Kbps), 5/6 rx power chain 0/1 (dBm; chain 0 is
//!   also the signal, the MIB has no combined figure), 13 remote device
//!   name, 16 `afLTUStaRemoteRxPower0` (dBm at the remote), 23
//!   `afLTUStaRemoteDistance`, 25 last IP. On a CPE the table lists its AP;
//!   on an XHD the far end.
//! - distance: the MIB says UNITS "km", but the real AF-5XHD (v1.4.0)
//!   reports 3844 for its link, which only makes sense in metres (LibreNMS
//!   divides it by 1000 to show km): decoded as metres.
//! - radio (scalars, radio 0): `afLTUFrequency` .2.2.0 (MHz),
//!   `afLTUBandwidth` .2.4.0 (MHz: the enumeration's values are the
//!   widths). `afLTUTxEIRP` is an EIRP, not a transmit power: not decoded.

use super::ubiquiti::{ONE, role_identity};
use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};

macro_rules! ltu {
    ($($a:literal),+) => {
        &[1, 3, 6, 1, 4, 1, 41112, 1, 10, 1, $($a),+]
    };
}

const ROLE: &[u32] = ltu!(2, 1);
const MAC: &[u32] = ltu!(3, 1);
const MODEL: &[u32] = ltu!(3, 2);
const FIRMWARE: &[u32] = ltu!(3, 4);
/// `afLTUFirmwareVersion.0`: present on every LTU and AF-XHD, whatever its sysObjectID.
const FIRMWARE_0: &[u32] = ltu!(3, 4, 0);
const STA_REMOTE_MAC: &[u32] = ltu!(4, 1, 11);

/// `afLTUStaTxRate` (UNITS "x"): the multiplier as the web UI names it.
static RATES: &[(i64, &str)] = &[
    (1, "1x"),
    (2, "2x"),
    (3, "3x"),
    (4, "4x"),
    (5, "5x"),
    (6, "6x"),
    (7, "7x"),
    (8, "8x"),
    (9, "9x"),
    (10, "10x"),
    (11, "11x"),
    (12, "12x"),
];

static STATIONS: LinkTable = LinkTable {
    columns: &[
        Column { oid: ltu!(4, 1, 11), field: Field::Mac, decode: Decode::Mac },
        Column { oid: ltu!(4, 1, 13), field: Field::Name, decode: Decode::Text },
        Column { oid: ltu!(4, 1, 1), field: Field::Modulation, decode: Decode::Names(RATES) },
        Column { oid: ltu!(4, 1, 3), field: Field::TxCapacityKbps, decode: ONE },
        Column { oid: ltu!(4, 1, 4), field: Field::RxCapacityKbps, decode: ONE },
        Column { oid: ltu!(4, 1, 5), field: Field::SignalDbm, decode: ONE },
        Column { oid: ltu!(4, 1, 5), field: Field::Chain0Dbm, decode: ONE },
        Column { oid: ltu!(4, 1, 6), field: Field::Chain1Dbm, decode: ONE },
        Column { oid: ltu!(4, 1, 16), field: Field::RemoteSignalDbm, decode: ONE },
        Column { oid: ltu!(4, 1, 23), field: Field::DistanceM, decode: ONE },
        Column { oid: ltu!(4, 1, 25), field: Field::Ip, decode: Decode::Ip },
    ],
    index_mac: IndexMac::Last6,
};

static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: ltu!(2, 2), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: ltu!(2, 4), field: Field::WidthMhz, decode: ONE },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "ubiquiti-ltu",
    vendor: "Ubiquiti",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 41112, 1, 10]),
    detect: &[FIRMWARE_0],
    scalars: &[],
    // Walked rather than fetched: scalars are `.0` here, `.1` on sibling MIBs.
    columns: &[ROLE, MAC, MODEL, FIRMWARE, STA_REMOTE_MAC],
    identify,
    stations: &[&STATIONS],
    radios: Some(&RADIOS),
};

fn identify(_sys: &SysInfo, d: &VendorData) -> VendorInfo {
    role_identity(d, &["airFiber"])
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chosen, fixture, mib, run, sys_of};
    use super::*;
    use mast_shared::msg::DeviceKind;
    use mast_shared::msg::format_mac;

    #[test]
    fn ltu_rocket_ap_with_three_cpes() {
        let m = fixture("afltu-ap");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-ltu");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(
            (id.vendor.as_deref(), id.model.as_deref(), id.firmware.as_deref()),
            (Some("Ubiquiti"), Some("LTU-Rocket"), Some("v2.5.1"))
        );
        assert_eq!((id.kind, id.base_mac), (DeviceKind::AccessPoint, Some([0x24, 0x5a, 0x4c, 0x10, 0xa0, 0xb2])));
        assert_eq!(r.info.uplink_ap, None);
        let got: Vec<_> = r
            .stations
            .iter()
            .map(|s| (format_mac(&s.mac), s.name.as_deref(), s.link.signal_dbm, s.link.tx_capacity_kbps))
            .collect();
        assert_eq!(
            got,
            [
                ("24:5a:4c:21:b3:01".to_string(), Some("cpe-novak"), Some(-61), Some(180_000)),
                ("24:5a:4c:21:b7:c4".to_string(), Some("cpe-haddad"), Some(-66), Some(142_000)),
                ("70:a7:41:e0:0d:15".to_string(), Some("cpe-sato"), Some(-72), Some(96_000)),
            ]
        );
        let l = &r.stations[0].link;
        assert_eq!((l.chain0_dbm, l.chain1_dbm, l.remote_signal_dbm), (Some(-61), Some(-63), Some(-60)));
        assert_eq!((l.rx_capacity_kbps, l.modulation.as_deref(), l.distance_m), (Some(95_000), Some("8x"), Some(2480)));
        assert_eq!(r.stations[2].ip, Some("10.60.3.13".parse().unwrap()));
        assert_eq!(r.radios.len(), 1);
        let radio = &r.radios[0];
        assert_eq!((radio.index, radio.link.frequency_mhz, radio.link.width_mhz), (0, Some(5590), Some(40)));
        assert_eq!(radio.link.stations, Some(3), "counted from the station table");
    }

    #[test]
    fn ltu_lr_cpe_lists_its_ap() {
        let m = fixture("afltu-cpe");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-ltu");
        let r = run(&PROFILE, &m);
        let ap = [0x24, 0x5a, 0x4c, 0x10, 0xa0, 0xb2];
        assert_eq!((r.identity.model.as_deref(), r.identity.kind), (Some("LTU-LR"), DeviceKind::Cpe));
        assert_eq!(r.identity.base_mac, Some([0x24, 0x5a, 0x4c, 0x21, 0xb3, 0x01]), "what the AP lists");
        assert_eq!(r.info.uplink_ap, Some(ap));
        assert_eq!(r.stations.len(), 1);
        assert_eq!((r.stations[0].mac, r.stations[0].name.as_deref()), (ap, Some("tower3-east-ltu")));
        assert_eq!((r.stations[0].link.signal_dbm, r.stations[0].link.rx_capacity_kbps), (Some(-60), Some(180_000)));
        assert_eq!(r.radios[0].link.stations, None, "a CPE's radio has no station count");
    }

    #[test]
    fn af5xhd_on_net_snmps_object_id_is_found_by_probe() {
        let m = fixture("afxhd-generic-oid");
        let sys = sys_of(&m);
        assert_eq!(super::super::find(&sys).name, "mib2", "the system group alone");
        assert_eq!(chosen(&m).name, "ubiquiti-ltu");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(
            (id.vendor.as_deref(), id.model.as_deref(), id.firmware.as_deref()),
            (Some("Ubiquiti"), Some("airFiber 5XHD"), Some("v1.4.0"))
        );
        assert_eq!((id.kind, id.base_mac), (DeviceKind::Backhaul, Some([0x18, 0xe8, 0x29, 0x1e, 0x37, 0x10])));
        assert_eq!(r.info.uplink_ap, None);
        assert_eq!(r.stations.len(), 1, "the far end");
        let s = &r.stations[0];
        assert_eq!((format_mac(&s.mac), s.name.as_deref()), ("18:e8:29:1e:38:d6".to_string(), Some("ridge-af5xhd-b")));
        let l = &s.link;
        assert_eq!((l.signal_dbm, l.chain1_dbm, l.remote_signal_dbm), (Some(-57), Some(-55), Some(-56)));
        assert_eq!((l.tx_capacity_kbps, l.rx_capacity_kbps), (Some(412_800), Some(398_400)));
        assert_eq!((l.modulation.as_deref(), l.distance_m), (Some("10x"), Some(3844)));
        assert_eq!((r.radios[0].link.frequency_mhz, r.radios[0].link.width_mhz), (Some(5795), Some(40)));
    }

    #[test]
    fn af5xhd_is_a_backhaul() {
        // Shaped like the real AF-5XHD v1.4.0 recording (its OIDs and values).
        let m = mib("
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.41112.1.10.1
            1.3.6.1.4.1.41112.1.10.1.2.1.0|2|0
            1.3.6.1.4.1.41112.1.10.1.2.2.0|2|5795
            1.3.6.1.4.1.41112.1.10.1.3.2.0|4|airFiber 5XHD
            1.3.6.1.4.1.41112.1.10.1.3.4.0|4|v1.4.0
            1.3.6.1.4.1.41112.1.10.1.4.1.1.24.232.41.30.56.214|2|10
            1.3.6.1.4.1.41112.1.10.1.4.1.3.24.232.41.30.56.214|2|140800
            1.3.6.1.4.1.41112.1.10.1.4.1.4.24.232.41.30.56.214|2|444800
            1.3.6.1.4.1.41112.1.10.1.4.1.5.24.232.41.30.56.214|2|-57
            1.3.6.1.4.1.41112.1.10.1.4.1.6.24.232.41.30.56.214|2|-48
            1.3.6.1.4.1.41112.1.10.1.4.1.23.24.232.41.30.56.214|2|3844
        ");
        let r = run(&PROFILE, &m);
        assert_eq!((r.info.kind, r.info.uplink_ap), (Some(DeviceKind::Backhaul), None));
        assert_eq!(r.stations.len(), 1, "the far end");
        let l = &r.stations[0].link;
        assert_eq!(format_mac(&r.stations[0].mac), "18:e8:29:1e:38:d6");
        assert_eq!((l.chain_imbalance_db(), l.distance_m, l.modulation.as_deref()), (Some(9), Some(3844), Some("10x")));
        assert_eq!((l.tx_capacity_kbps, l.rx_capacity_kbps), (Some(140_800), Some(444_800)));
        assert_eq!(r.radios[0].link.frequency_mhz, Some(5795));
    }
}
