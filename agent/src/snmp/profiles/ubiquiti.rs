//! Ubiquiti airMAX (airOS M/AC, AP and station modes): UBNT-AirMAX-MIB
//! (revision 201710030000Z; enterprise 41112, subtree `ubntAirMAX`
//! 1.3.6.1.4.1.41112.1.4; older firmware reports sysObjectID
//! 1.3.6.1.4.1.10002.1) plus the IEEE 802.11 MIB for model and firmware.
//! Also the helpers shared by the other Ubiquiti profiles ([`super::airfiber`],
//! [`super::afltu`], [`super::af60`], [`super::unifi`], [`super::edgemax`]).
//!
//! Matching: sysObjectID under 1.3.6.1.4.1.41112.1.4 or 1.3.6.1.4.1.10002.
//! Real airFiber classic, AF60 and old UniFi firmwares also report
//! 1.3.6.1.4.1.10002.1 with a `Linux ...` sysDescr, so that OID is
//! [`super::ambiguous`]: the poller probes the other Ubiquiti profiles'
//! `detect` OIDs (airFiber `fwVersion.1`, AF60 `af60FirmwareVersion.1`,
//! UniFi `unifiApSystemModel.0`, LTU `afLTUFirmwareVersion.0`) and this
//! profile keeps the device only when none answers. No detect OID of its
//! own: it is the system group's choice for `10002`. An old UniFi whose
//! firmware has no UBNT-UniFi-MIB (LibreNMS's real UAP recording shows only
//! `dot11manufacturerProductName` `UAP`, a value, not a probe OID) still
//! lands here (identity works, the airMAX tables are empty).
//!
//! - model: `dot11manufacturerProductName` 1.2.840.10036.3.1.2.1.3.<if>
//! - firmware: `dot11manufacturerProductVersion` 1.2.840.10036.3.1.2.1.4.<if>
//! - kind: `ubntRadioMode` 1.3.6.1.4.1.41112.1.4.1.1.2.<radio>: sta(1) → CPE,
//!   ap(2) / aprepeater(3) / apwds(4) → AP
//! - wireless MAC: `dot11StationID` 1.2.840.10036.1.1.1.1.<if> (the radio's
//!   own MAC, what the AP's station table lists), else on an AP
//!   `ubntWlStatApMac` 1.3.6.1.4.1.41112.1.4.5.1.4 (an AP reports its own
//!   MAC there); on a station `ubntWlStatApMac` is the uplink AP
//! - stations: `ubntStaTable` 1.3.6.1.4.1.41112.1.4.7.1, index
//!   `<ubntWlStatIndex>.<MAC as 6 arcs>` (ubntStaMac is not-accessible):
//!   2 name, 3 signal (dBm), 4 noise floor, 5 distance (m), 8 airMAX quality
//!   (`ubntStaAmq`) then 6 CCQ (%; CCQ wins where both are given), 10 last
//!   IP, 11/12 tx/rx rate (kbit/s), 16 local CINR (dB), 17/18 tx/rx
//!   capacity ("Uplink/Downlink Capacity in Kbps"; airOS 8 / AC only). The
//!   per-direction airtimes (19/20) are not summed into one figure. On a
//!   station the table lists its AP.
//! - radios (rows by radio index; the three tables share index 1 on every
//!   device seen): `ubntRadioTable` .1.1: 4 `ubntRadioFreq` (MHz) and
//!   6 `ubntRadioTxPower` (dBm) — the MIB states no unit, the real
//!   NanoStation M5 reports 5860 and 27; `ubntWlStatTable` .5.1: 5 signal
//!   (dBm), 7 CCQ (%), 8 noise floor (dBm), 9/10 tx/rx rate (kbit/s, as the
//!   station table), 14 channel width (MHz; 40 on the real M5), 15 station
//!   count; `ubntAirMaxTable` .6.1: 3 airMAX quality (%; before CCQ, which
//!   wins where given), 7 airtime ("% multiplied by 10"). `ubntWlStatRssi`
//!   (.5.1.6: 32 on the real M5, not a dBm figure) and `ubntAirMaxCapacity`
//!   (a percentage, not a rate) are not decoded; `ubntWlStatApMac` is not a
//!   radio `Peer` because on an AP it is the AP itself (a station's AP is
//!   its uplink AP and its station-table row).

use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use crate::snmp::value::{Value, usable_mac};
use mast_shared::msg::{DeviceKind, Mac};

/// A plain integer (no scale), for the Ubiquiti profiles.
pub(super) const ONE: Decode = Decode::Int { mul: 1, div: 1 };

/// First row of identity column `pos` as trimmed, non-empty text.
pub(super) fn first_text(d: &VendorData, pos: usize) -> Option<String> {
    d.first(pos).and_then(Value::as_text)
}

/// First row of identity column `pos` as a usable MAC (octets or text).
pub(super) fn first_mac(d: &VendorData, pos: usize) -> Option<Mac> {
    d.first(pos).and_then(Value::as_mac).filter(usable_mac)
}

/// Kind of a Ubiquiti radio whose MIB has an ap(0)/cpe(1) role (UBNT-AFLTU-MIB,
/// UI-AF60-MIB): a model named by one of `ptp` is a backhaul whatever its
/// role; otherwise ap → AP, cpe → CPE.
pub(super) fn role_kind(model: Option<&str>, role: Option<i64>, ptp: &[&str]) -> Option<DeviceKind> {
    if model.is_some_and(|m| ptp.iter().any(|p| m.starts_with(p))) {
        return Some(DeviceKind::Backhaul);
    }
    match role? {
        0 => Some(DeviceKind::AccessPoint),
        1 => Some(DeviceKind::Cpe),
        _ => None,
    }
}

/// Identity from the identity columns the role-based Ubiquiti MIBs share
/// (UBNT-AFLTU-MIB, UI-AF60-MIB), walked in this order: role, wireless MAC,
/// model, firmware, the far end's MAC (a CPE's AP). `ptp`: see [`role_kind`].
pub(super) fn role_identity(d: &VendorData, ptp: &[&str]) -> VendorInfo {
    let model = first_text(d, 2);
    let kind = role_kind(model.as_deref(), d.first(0).and_then(|v| v.as_i64()), ptp);
    VendorInfo {
        firmware: first_text(d, 3),
        serial: None,
        kind,
        wireless_mac: first_mac(d, 1),
        uplink_ap: if kind == Some(DeviceKind::Cpe) { first_mac(d, 4) } else { None },
        model,
    }
}

const PRODUCT_NAME: &[u32] = &[1, 2, 840, 10036, 3, 1, 2, 1, 3];
const PRODUCT_VERSION: &[u32] = &[1, 2, 840, 10036, 3, 1, 2, 1, 4];
const RADIO_MODE: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 4, 1, 1, 2];
const WL_STAT_AP_MAC: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 4, 5, 1, 4];
const STATION_ID: &[u32] = &[1, 2, 840, 10036, 1, 1, 1, 1];

macro_rules! sta {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, $c]
    };
}
macro_rules! am {
    ($t:literal, $c:literal) => {
        &[1, 3, 6, 1, 4, 1, 41112, 1, 4, $t, 1, $c]
    };
}

static STATIONS: LinkTable = LinkTable {
    columns: &[
        Column { oid: sta!(2), field: Field::Name, decode: Decode::Text },
        Column { oid: sta!(3), field: Field::SignalDbm, decode: ONE },
        Column { oid: sta!(4), field: Field::NoiseDbm, decode: ONE },
        Column { oid: sta!(5), field: Field::DistanceM, decode: ONE },
        Column { oid: sta!(8), field: Field::QualityPct, decode: ONE },
        Column { oid: sta!(6), field: Field::QualityPct, decode: ONE },
        Column { oid: sta!(10), field: Field::Ip, decode: Decode::Ip },
        Column { oid: sta!(11), field: Field::TxRateKbps, decode: ONE },
        Column { oid: sta!(12), field: Field::RxRateKbps, decode: ONE },
        Column { oid: sta!(16), field: Field::SnrDb, decode: ONE },
        Column { oid: sta!(17), field: Field::TxCapacityKbps, decode: ONE },
        Column { oid: sta!(18), field: Field::RxCapacityKbps, decode: ONE },
    ],
    index_mac: IndexMac::Last6,
};

static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: am!(1, 4), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: am!(1, 6), field: Field::TxPowerDbm, decode: ONE },
        Column { oid: am!(5, 5), field: Field::SignalDbm, decode: ONE },
        Column { oid: am!(6, 3), field: Field::QualityPct, decode: ONE },
        Column { oid: am!(5, 7), field: Field::QualityPct, decode: ONE },
        Column { oid: am!(5, 8), field: Field::NoiseDbm, decode: ONE },
        Column { oid: am!(5, 9), field: Field::TxRateKbps, decode: ONE },
        Column { oid: am!(5, 10), field: Field::RxRateKbps, decode: ONE },
        Column { oid: am!(5, 14), field: Field::WidthMhz, decode: ONE },
        Column { oid: am!(5, 15), field: Field::Stations, decode: ONE },
        Column { oid: am!(6, 7), field: Field::AirtimePct, decode: Decode::Int { mul: 1, div: 10 } },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "ubiquiti-airmax",
    vendor: "Ubiquiti",
    matches: |s: &SysInfo| {
        super::under(s, &[1, 3, 6, 1, 4, 1, 41112, 1, 4]) || super::under(s, &[1, 3, 6, 1, 4, 1, 10002])
    },
    detect: &[],
    scalars: &[],
    columns: &[PRODUCT_NAME, PRODUCT_VERSION, RADIO_MODE, WL_STAT_AP_MAC, STATION_ID],
    identify,
    stations: &[&STATIONS],
    radios: Some(&RADIOS),
};

fn identify(_sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let kind =
        d.first(2).and_then(|v| v.as_i64()).map(|m| if m == 1 { DeviceKind::Cpe } else { DeviceKind::AccessPoint });
    let wl_mac = first_mac(d, 3);
    let own = first_mac(d, 4);
    let (wireless_mac, uplink_ap) = match kind {
        Some(DeviceKind::Cpe) => (own, wl_mac),
        _ => (own.or(wl_mac), None),
    };
    VendorInfo { model: first_text(d, 0), firmware: first_text(d, 1), serial: None, kind, wireless_mac, uplink_ap }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chosen, fixture, mib, run, run_profile, sys_of};
    use super::*;
    use mast_shared::msg::format_mac;

    #[test]
    fn real_nanostation_m5_recording() {
        let m = fixture("ubiquiti-m5");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-airmax");
        let r = run(&PROFILE, &m);
        let info = &r.info;
        assert_eq!(info.model.as_deref(), Some("NanoStation M5"));
        assert_eq!(info.firmware.as_deref(), Some("XW.ar934x.v5.6-beta4.22359.140521.1836"));
        assert_eq!(info.kind, Some(DeviceKind::AccessPoint), "ubntRadioMode 4 = apwds");
        assert_eq!(info.wireless_mac, Some([0x04, 0x18, 0xd6, 0x2a, 0x0a, 0x92]));
        assert_eq!(info.uplink_ap, None);
        assert_eq!((r.identity.vendor.as_deref(), r.identity.kind), (Some("Ubiquiti"), DeviceKind::AccessPoint));
        assert_eq!(r.identity.base_mac, Some([0x04, 0x18, 0xd6, 0x2a, 0x0a, 0x92]));
        assert_eq!(r.stations.len(), 1);
        let s = &r.stations[0];
        assert_eq!(s.mac, [0x68, 0x72, 0x51, 0x00, 0x34, 0x25]);
        assert_eq!(s.name.as_deref(), Some("patrikeevo_skl"));
        assert_eq!((s.link.signal_dbm, s.link.distance_m, s.link.quality_pct), (Some(-64), Some(630), Some(99)));
        assert_eq!((s.link.tx_rate_kbps, s.link.rx_rate_kbps), (Some(162_000), Some(108_000)));
        assert_eq!((s.link.noise_dbm, s.link.snr_db), (Some(-101), Some(37)), "ubntStaNoiseFloor, SNR derived");
        assert_eq!((s.link.tx_capacity_kbps, s.link.rx_capacity_kbps), (None, None), "airOS 5: no capacity columns");
        assert_eq!(s.ip, None, "last IP 0.0.0.0");
        // The radio: ubntRadioTable, ubntWlStatTable and ubntAirMaxTable, all index 1.
        assert_eq!(r.radios.len(), 1);
        let l = &r.radios[0].link;
        assert_eq!(r.radios[0].index, 1);
        assert_eq!((l.frequency_mhz, l.tx_power_dbm, l.width_mhz), (Some(5860), Some(27), Some(40)));
        assert_eq!((l.signal_dbm, l.noise_dbm, l.snr_db), (Some(-64), Some(-101), Some(37)));
        assert_eq!(l.quality_pct, Some(99), "CCQ 99 wins over airMAX quality 71");
        assert_eq!((l.tx_rate_kbps, l.rx_rate_kbps, l.stations), (Some(162_000), Some(120_000), Some(1)));
        assert_eq!(l.airtime_pct, None, "airOS 5 has no ubntAirMaxAirtime");
        assert_eq!(r.radios[0].peer, None);
    }

    #[test]
    fn hand_written_ap_with_three_cpes() {
        let r = run(&PROFILE, &fixture("ubiquiti-ap"));
        assert_eq!(r.info.model.as_deref(), Some("Rocket M5"));
        assert_eq!(r.info.kind, Some(DeviceKind::AccessPoint));
        let st = &r.stations;
        let macs: Vec<String> = st.iter().map(|s| format_mac(&s.mac)).collect();
        assert_eq!(macs, ["04:18:d6:a1:22:3b", "24:a4:3c:7e:01:9a", "78:8a:20:10:c4:e7"]);
        assert_eq!((st[0].link.signal_dbm, st[0].link.noise_dbm, st[0].link.snr_db), (Some(-58), Some(-96), Some(38)));
        assert_eq!(st[0].ip, Some("10.20.1.11".parse().unwrap()));
        assert_eq!(st[2].name.as_deref(), Some("cpe-lindqvist"));
        assert_eq!(r.radios.len(), 1);
        let l = &r.radios[0].link;
        assert_eq!((l.frequency_mhz, l.width_mhz, l.stations, l.noise_dbm), (Some(5745), Some(20), Some(3), Some(-96)));
    }

    #[test]
    fn airmax_ac_station_fixture() {
        let m = fixture("ubiquiti-ac-sta");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-airmax");
        let r = run(&PROFILE, &m);
        let ap = [0xf0, 0x9f, 0xc2, 0xa0, 0x5e, 0x11];
        let own = [0x74, 0x83, 0xc2, 0x5a, 0x1c, 0x40];
        assert_eq!(r.info.model.as_deref(), Some("LiteBeam 5AC Gen2"));
        assert_eq!(r.info.firmware.as_deref(), Some("WA.qca956x.v8.7.11.46972.220614.0420"));
        assert_eq!((r.info.kind, r.info.uplink_ap, r.info.wireless_mac), (Some(DeviceKind::Cpe), Some(ap), Some(own)));
        assert_eq!((r.identity.kind, r.identity.base_mac), (DeviceKind::Cpe, Some(own)), "dot11StationID, not eth0");
        assert_eq!(r.identity.serial, None);
        assert_eq!(r.stations.len(), 1, "a station lists its AP");
        let s = &r.stations[0];
        assert_eq!((s.mac, s.name.as_deref()), (ap, Some("tower2-west-ap")));
        assert_eq!((s.link.signal_dbm, s.link.noise_dbm, s.link.snr_db), (Some(-61), Some(-96), Some(31)), "CINR");
        assert_eq!(s.link.quality_pct, Some(92), "CCQ over airMAX quality 85");
        assert_eq!((s.link.tx_capacity_kbps, s.link.rx_capacity_kbps), (Some(168_000), Some(201_000)));
        assert_eq!((s.link.distance_m, s.link.tx_rate_kbps), (Some(3450), Some(300_000)));
        let l = &r.radios[0].link;
        assert_eq!((l.frequency_mhz, l.width_mhz, l.tx_power_dbm), (Some(5520), Some(40), Some(14)));
        assert_eq!((l.signal_dbm, l.noise_dbm, l.snr_db, l.quality_pct), (Some(-63), Some(-96), Some(33), Some(92)));
        assert_eq!((l.airtime_pct, l.stations), (Some(23), Some(1)), "ubntAirMaxAirtime 234 = 23.4 %");
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

    #[test]
    fn ptp_models_are_backhauls_whatever_their_role() {
        assert_eq!(role_kind(Some("airFiber 5XHD"), Some(0), &["airFiber"]), Some(DeviceKind::Backhaul));
        assert_eq!(role_kind(Some("LTU-Rocket"), Some(0), &["airFiber"]), Some(DeviceKind::AccessPoint));
        assert_eq!(role_kind(Some("LTU-LR"), Some(1), &["airFiber"]), Some(DeviceKind::Cpe));
        assert_eq!(role_kind(None, Some(7), &["airFiber"]), None);
    }
    #[test]
    fn registry_picks_each_ubiquiti_profile_for_its_recordings_only() {
        let ours = [
            ("ubiquiti-m5", "ubiquiti-airmax"),
            ("ubiquiti-ap", "ubiquiti-airmax"),
            ("ubiquiti-ac-sta", "ubiquiti-airmax"),
            ("airfiber", "ubiquiti-airfiber"),
            ("afltu-ap", "ubiquiti-ltu"),
            ("afltu-cpe", "ubiquiti-ltu"),
            ("af60", "ubiquiti-af60"),
            ("unifi", "ubiquiti-unifi"),
            ("edgeswitch", "ubiquiti-edgemax"),
            ("edgerouter", "ubiquiti-edgemax"),
        ];
        for (name, profile) in ours {
            assert_eq!(super::super::find(&sys_of(&fixture(name))).name, profile, "{name}");
            assert_eq!(chosen(&fixture(name)).name, profile, "{name} with the probe");
        }
        // Real system groups the system group alone gets wrong; the probe does not.
        for (name, by_sys, probed) in [
            ("airfiber-legacy-oid", "ubiquiti-airmax", "ubiquiti-airfiber"),
            ("afxhd-generic-oid", "mib2", "ubiquiti-ltu"),
        ] {
            assert_eq!(super::super::find(&sys_of(&fixture(name))).name, by_sys, "{name}");
            assert_eq!(chosen(&fixture(name)).name, probed, "{name} with the probe");
        }
        for name in ["mikrotik", "cambium-epmp", "switch"] {
            let p = super::super::find(&sys_of(&fixture(name))).name;
            assert!(!p.starts_with("ubiquiti"), "{name} taken by {p}");
        }
        let sys =
            |oid: &[u32], descr: &str| SysInfo { descr: descr.into(), object_id: oid.to_vec(), ..Default::default() };
        // What real firmwares report, and where the system group alone lands
        // (see the module docs). Ambiguous ones are probed by the poller.
        let af11 = sys(&[1, 3, 6, 1, 4, 1, 10002, 1], "Linux 2.6.33 #1 armv5tejl");
        assert_eq!(super::super::find(&af11).name, "ubiquiti-airmax");
        assert!(super::super::ambiguous(&af11), "probed: airFiber, AF60 and old UniFi report it too");
        let xhd = sys(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10], "Linux x 3.14.65 armv7l");
        assert_eq!(super::super::find(&xhd).name, "mib2");
        assert!(super::super::ambiguous(&xhd), "probed: AF-5XHD and UniFi report it");
        // What the probe finds on each (each profile's `detect`).
        let probed = |s: &SysInfo, oid: &[u32]| super::super::find_detected(s, &[oid.to_vec()].into()).name;
        assert_eq!(probed(&af11, &[1, 3, 6, 1, 4, 1, 41112, 1, 3, 2, 1, 40, 1]), "ubiquiti-airfiber");
        assert_eq!(probed(&af11, &[1, 3, 6, 1, 4, 1, 41112, 1, 11, 1, 2, 4, 1]), "ubiquiti-af60");
        assert_eq!(probed(&af11, &[1, 3, 6, 1, 4, 1, 41112, 1, 6, 3, 3, 0]), "ubiquiti-unifi");
        assert_eq!(probed(&af11, &[1, 2, 840, 10036, 3, 1, 2, 1, 3, 6]), "ubiquiti-airmax", "not a probe OID");
        assert_eq!(probed(&xhd, &[1, 3, 6, 1, 4, 1, 41112, 1, 10, 1, 3, 4, 0]), "ubiquiti-ltu");
        assert_eq!(probed(&xhd, &[1, 3, 6, 1, 4, 1, 41112, 1, 6, 3, 3, 0]), "ubiquiti-unifi");
        assert_eq!(
            super::super::find(&sys(&[1, 3, 6, 1, 4, 1, 41112], "UAP-AC-Lite 6.5.28.14491")).name,
            "ubiquiti-unifi"
        );
        assert_eq!(super::super::find(&sys(&[1, 3, 6, 1, 4, 1, 41112], "Linux 4.4.241 armv7l")).name, "ubiquiti-af60");
        assert_eq!(
            super::super::find(&sys(&[1, 3, 6, 1, 4, 1, 4413], "EdgeSwitch 8-Port, 1.9.1, Linux")).name,
            "ubiquiti-edgemax"
        );
        assert_eq!(super::super::find(&sys(&[1, 3, 6, 1, 4, 1, 4413], "Broadcom FASTPATH Switching")).name, "mib2");
    }
}
