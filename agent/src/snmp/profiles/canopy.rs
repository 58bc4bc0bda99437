//! Cambium PMP 450 / Canopy (Motorola enterprise 161, `whispRoot`
//! 1.3.6.1.4.1.161.19): WHISP-BOX-MIBV2-MIB (`whispBox` …161.19.3.3),
//! WHISP-APS-MIB (`whispAps` …161.19.3.1) and WHISP-SM-MIB (`whispSm`
//! …161.19.3.2), all with the MODULE-IDENTITY LAST-UPDATED "200304150000Z"
//! Cambium never bumped (the copies read are the "Copyright 2005 - 2015"
//! files generated from `ui_db.xml`, in librenms/librenms `mibs/cambium/`,
//! with `productTypeName`, `linkSpatialFrequency` and the MU-MIMO columns).
//! Real PMP 450 APs report sysObjectID `1.3.6.1.4.1.161.19.250.256`
//! (`ucos`) and sysDescr `CANOPY 15.0.0.1 AP-DES` or
//! `CANOPY 21.1.0.1 (Build STA-1)  AP`; the profile matches the `whispRoot`
//! subtree or a sysDescr starting with `CANOPY`.
//!
//! - firmware: `whispBoxSoftwareVer` …3.3.1.1.0, else sysDescr; the first
//!   word after `CANOPY` that starts with a digit (`15.0.0.1`)
//! - model: `productTypeName` …3.3.1.266.0 ("Basic product type", a real
//!   450i answers `PMP 450i`), else `boxDeviceType` .6.0 up to its first
//!   ` - ` (`5.7GHz MU-MIMO OFDM - Multipoint - Access Point` →
//!   `5.7GHz MU-MIMO OFDM`)
//! - serial: none. The MIB's only serial is `whispBoxEsn` .3.0, "Electronic
//!   serial number (MAC address)", which is the wireless MAC below.
//! - wireless MAC: `whispBoxEsn` (text; what the AP's link table lists)
//! - kind: `boxDeviceTypeID` .7.0 (`AP` on a real AP), else the sysDescr's
//!   last word before any `-` (`AP-DES` → `AP`): `AP` → access point, `SM` →
//!   CPE, `BHM`/`BHS` (PTP 450 backhaul master/slave) → backhaul; else
//!   `boxDeviceType` naming an `Access Point`, `Subscriber Module` or
//!   `Backhaul`; else an SM is recognised by `registeredToAp`. Only the AP
//!   form was seen on real devices: the SM and backhaul words are assumed.
//! - uplink AP (SM): `registeredToAp` …3.2.2.9.0 ("AP MAC address that the
//!   SM registered to", text)
//! - stations (AP): `whispLinkTable` 1.3.6.1.4.1.161.19.3.1.4.1.<col>.<LUID>
//!   (LUID 2..239): 3 `linkPhysAddress` (MAC), 33 `linkSiteName`, 35
//!   `lastPowerLevel` (text dBm, "the combined receive power" → signal), 88 /
//!   87 `linkRadioDbmVertical` / `Horizontal` (text dBm → chain0 / chain1),
//!   74 `signalToNoiseRatioVertical` (dB → SNR; 84, the horizontal path's
//!   SNR, has no field of its own and is not decoded), 69
//!   `linkManagementIP`, 66 `linkAirDelayns` (round trip in ns → distance
//!   at c: ns × 0.15 m) and 91 `linkAdaptRateLowPri` (1X..8X → modulation).
//!   Rows are listed whatever their `linkSessState` (19).
//! - radio (AP, scalars): `regCount` …3.1.7.1.0 (registered SMs),
//!   `currentRadioFreqCarrier` .7.37.0 (the MIB says "OFDM: 10's of KHz",
//!   but real 450/450i/450m APs answer 5755000, 3565000, 5805000: kHz, read
//!   as such; an FSK radio's MHz value is then wrong), `bandwidth`
//!   …3.3.2.91.0 (codes 1..7: 5, 7, 10, 15, 20, 30, 40 MHz) and
//!   `transmitterOP` …3.3.2.23.0 (dBm; "not applicable for PMP 450m")
//! - radio (SM, scalars under `whispSmStatus` …3.2.2.<n>.0): 8 `radioDbm`
//!   (text dBm, combined), 118 / 117 `radioDbmVertical` / `Horizontal` →
//!   chain0 / chain1, 95 `signalToNoiseRatioSMVertical` (dB; 0 means the
//!   calculation is disabled), 9 `registeredToAp` (the peer), 122
//!   `currentBandwidth` (same codes), 64 `airDelayns` (round trip, ns) and
//!   128 `adaptRateLowPri` (1X..8X). Not decoded: `currentChanFreq` .67.0,
//!   whose MIB entry states no unit, and no real SM recording was available.
//!
//! The text values (`-57.9`) and the column numbers 35/74/84/86/87/88 were
//! checked against LibreNMS's real `pmp.snmprec` (450m), `pmp_450i.snmprec`
//! and `pmp_450m.snmprec`.

use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const SOFTWARE_VER: &[u32] = &[1, 3, 6, 1, 4, 1, 161, 19, 3, 3, 1, 1, 0];
const ESN: &[u32] = &[1, 3, 6, 1, 4, 1, 161, 19, 3, 3, 1, 3, 0];
const DEVICE_TYPE: &[u32] = &[1, 3, 6, 1, 4, 1, 161, 19, 3, 3, 1, 6, 0];
const DEVICE_TYPE_ID: &[u32] = &[1, 3, 6, 1, 4, 1, 161, 19, 3, 3, 1, 7, 0];
const PRODUCT_TYPE_NAME: &[u32] = &[1, 3, 6, 1, 4, 1, 161, 19, 3, 3, 1, 266, 0];
const REGISTERED_TO_AP: &[u32] = &[1, 3, 6, 1, 4, 1, 161, 19, 3, 2, 2, 9, 0];

macro_rules! link {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 161, 19, 3, 1, 4, 1, $c]
    };
}
macro_rules! aps {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 161, 19, 3, 1, 7, $c]
    };
}
macro_rules! boxcfg {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 161, 19, 3, 3, 2, $c]
    };
}
macro_rules! sm {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 161, 19, 3, 2, 2, $c]
    };
}

const ONE: Decode = Decode::Int { mul: 1, div: 1 };
const DBM_TEXT: Decode = Decode::DecimalText { mul: 1 };
/// Round-trip air delay (ns) to one-way distance (m): × c / 2 ≈ × 0.15.
const AIR_DELAY_NS: Decode = Decode::Int { mul: 3, div: 20 };
/// `bandwidth` / `currentBandwidth` codes (MHz).
static WIDTH: &[(i64, i64)] = &[(1, 5), (2, 7), (3, 10), (4, 15), (5, 20), (6, 30), (7, 40)];
/// `linkAdaptRateLowPri` / `adaptRateLowPri` codes (0 is "not in session").
static RATE: &[(i64, &str)] = &[(1, "1X"), (2, "2X"), (3, "3X"), (4, "4X"), (6, "6X"), (8, "8X")];

static STATIONS: LinkTable = LinkTable {
    columns: &[
        Column { oid: link!(3), field: Field::Mac, decode: Decode::Mac },
        Column { oid: link!(33), field: Field::Name, decode: Decode::Text },
        Column { oid: link!(35), field: Field::SignalDbm, decode: DBM_TEXT },
        Column { oid: link!(88), field: Field::Chain0Dbm, decode: DBM_TEXT },
        Column { oid: link!(87), field: Field::Chain1Dbm, decode: DBM_TEXT },
        Column { oid: link!(74), field: Field::SnrDb, decode: ONE },
        Column { oid: link!(69), field: Field::Ip, decode: Decode::Ip },
        Column { oid: link!(66), field: Field::DistanceM, decode: AIR_DELAY_NS },
        Column { oid: link!(91), field: Field::Modulation, decode: Decode::Names(RATE) },
    ],
    index_mac: IndexMac::None,
};

/// Scalars only (one radio): the AP's and the SM's; a device answers one set.
static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: aps!(1), field: Field::Stations, decode: ONE },
        Column { oid: aps!(37), field: Field::FrequencyMhz, decode: Decode::Int { mul: 1, div: 1000 } },
        Column { oid: boxcfg!(91), field: Field::WidthMhz, decode: Decode::Lookup(WIDTH) },
        Column { oid: boxcfg!(23), field: Field::TxPowerDbm, decode: ONE },
        Column { oid: sm!(8), field: Field::SignalDbm, decode: DBM_TEXT },
        Column { oid: sm!(118), field: Field::Chain0Dbm, decode: DBM_TEXT },
        Column { oid: sm!(117), field: Field::Chain1Dbm, decode: DBM_TEXT },
        Column { oid: sm!(95), field: Field::SnrDb, decode: Decode::IntNonZero { mul: 1, div: 1 } },
        Column { oid: sm!(9), field: Field::Peer, decode: Decode::Mac },
        Column { oid: sm!(122), field: Field::WidthMhz, decode: Decode::Lookup(WIDTH) },
        Column { oid: sm!(64), field: Field::DistanceM, decode: AIR_DELAY_NS },
        Column { oid: sm!(128), field: Field::Modulation, decode: Decode::Names(RATE) },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "canopy",
    vendor: "Cambium Networks",
    matches: |s: &SysInfo| {
        super::under(s, &[1, 3, 6, 1, 4, 1, 161, 19])
            || s.descr.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("CANOPY"))
    },
    detect: &[],
    scalars: &[SOFTWARE_VER, ESN, DEVICE_TYPE, DEVICE_TYPE_ID, PRODUCT_TYPE_NAME, REGISTERED_TO_AP],
    columns: &[],
    identify,
    stations: &[&STATIONS],
    radios: Some(&RADIOS),
};

/// The release in `CANOPY 15.0.0.1 AP-DES` (or a bare `15.0.0.1`).
fn version(text: &str) -> Option<String> {
    text.split_whitespace()
        .filter(|w| !w.eq_ignore_ascii_case("CANOPY"))
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(String::from)
}

/// The role word: `AP` from `AP-DES`, `SM` from `SM-AES`, `AP` from `... AP`.
fn role(word: &str) -> Option<DeviceKind> {
    match word.split('-').next()?.trim().to_ascii_uppercase().as_str() {
        "AP" => Some(DeviceKind::AccessPoint),
        "SM" => Some(DeviceKind::Cpe),
        "BHM" | "BHS" => Some(DeviceKind::Backhaul),
        _ => None,
    }
}

fn kind(sys: &SysInfo, d: &VendorData, registered: bool) -> Option<DeviceKind> {
    let by_type = |t: &str| {
        if t.contains("Access Point") {
            Some(DeviceKind::AccessPoint)
        } else if t.contains("Subscriber Module") {
            Some(DeviceKind::Cpe)
        } else if t.contains("Backhaul") {
            Some(DeviceKind::Backhaul)
        } else {
            None
        }
    };
    d.text(DEVICE_TYPE_ID)
        .and_then(|t| role(&t))
        .or_else(|| {
            let canopy = sys.descr.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("CANOPY"));
            canopy.then(|| sys.descr.split_whitespace().last().and_then(role)).flatten()
        })
        .or_else(|| d.text(DEVICE_TYPE).and_then(|t| by_type(&t)))
        .or(registered.then_some(DeviceKind::Cpe))
}

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let usable = crate::snmp::value::usable_mac;
    let text = |o: &[u32]| d.text(o).map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let ap = d.scalar(REGISTERED_TO_AP).and_then(|v| v.as_mac()).filter(usable);
    let kind = kind(sys, d, ap.is_some());
    let model = text(PRODUCT_TYPE_NAME).or_else(|| {
        let t = text(DEVICE_TYPE)?;
        let head = t.split(" - ").next().unwrap_or(&t).trim();
        (!head.is_empty()).then(|| head.to_string())
    });
    VendorInfo {
        model,
        firmware: text(SOFTWARE_VER).and_then(|t| version(&t)).or_else(|| version(&sys.descr)),
        serial: None,
        kind,
        wireless_mac: d.scalar(ESN).and_then(|v| v.as_mac()).filter(usable),
        uplink_ap: if kind == Some(DeviceKind::Cpe) { ap } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run, sys_of};
    use super::*;
    use mast_shared::msg::format_mac;

    #[test]
    fn access_point_fixture_lists_its_subscriber_modules() {
        let m = fixture("canopy-ap");
        assert_eq!(super::super::find(&sys_of(&m)).name, "canopy");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(id.vendor.as_deref(), Some("Cambium Networks"));
        assert_eq!(id.model.as_deref(), Some("PMP 450i"));
        assert_eq!(id.firmware.as_deref(), Some("16.2.3"));
        assert_eq!(id.serial, None);
        assert_eq!(id.kind, DeviceKind::AccessPoint);
        assert_eq!(id.base_mac, Some([0x0a, 0x00, 0x3e, 0xb1, 0x4c, 0x20]), "whispBoxEsn");
        assert_eq!(r.info.uplink_ap, None);

        let st = &r.stations;
        let macs: Vec<String> = st.iter().map(|s| format_mac(&s.mac)).collect();
        assert_eq!(macs, ["0a:00:3e:b2:71:05", "0a:00:3e:b2:8c:1a", "0a:00:3e:b3:02:c7"]);
        let l = &st[0].link;
        assert_eq!(st[0].name.as_deref(), Some("sm-oliveira"));
        assert_eq!(st[0].ip, Some("10.50.0.21".parse().unwrap()));
        assert_eq!(
            (l.signal_dbm, l.chain0_dbm, l.chain1_dbm),
            (Some(-58), Some(-59), Some(-62)),
            "-58.4, -59.1, -61.6"
        );
        assert_eq!((l.snr_db, l.modulation.as_deref()), (Some(34), Some("8X")));
        assert_eq!(l.distance_m, Some(3300), "22000 ns round trip");
        assert_eq!(st[1].ip, None, "0.0.0.0: not publicly addressable");
        assert_eq!(st.iter().map(|s| s.link.signal_dbm).collect::<Vec<_>>(), [Some(-58), Some(-66), Some(-74)]);
        assert_eq!(st.iter().map(|s| s.link.snr_db).collect::<Vec<_>>(), [Some(34), Some(27), Some(19)]);
        assert_eq!(st[2].link.modulation.as_deref(), Some("4X"));

        assert_eq!(r.radios.len(), 1);
        let (radio, l) = (&r.radios[0], &r.radios[0].link);
        assert_eq!((radio.index, radio.peer), (0, None));
        assert_eq!(l.stations, Some(3), "regCount");
        assert_eq!((l.frequency_mhz, l.width_mhz, l.tx_power_dbm), (Some(5745), Some(20), Some(22)));
        assert_eq!((l.signal_dbm, l.snr_db), (None, None));
    }

    #[test]
    fn subscriber_module_fixture_links_to_the_ap() {
        let m = fixture("canopy-sm");
        assert_eq!(super::super::find(&sys_of(&m)).name, "canopy");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(id.kind, DeviceKind::Cpe);
        assert_eq!(id.model.as_deref(), Some("PMP 450i"));
        assert_eq!(id.firmware.as_deref(), Some("16.2.3"));
        assert_eq!(id.base_mac, Some([0x0a, 0x00, 0x3e, 0xb2, 0x71, 0x05]), "the AP fixture's first station");
        assert_eq!(r.info.uplink_ap, Some([0x0a, 0x00, 0x3e, 0xb1, 0x4c, 0x20]), "registeredToAp");
        assert!(r.stations.is_empty(), "an SM has no link table");
        assert_eq!(r.radios.len(), 1);
        let (radio, l) = (&r.radios[0], &r.radios[0].link);
        assert_eq!(radio.peer, Some([0x0a, 0x00, 0x3e, 0xb1, 0x4c, 0x20]));
        assert_eq!((l.signal_dbm, l.chain0_dbm, l.chain1_dbm), (Some(-58), Some(-59), Some(-61)));
        assert_eq!((l.snr_db, l.width_mhz, l.modulation.as_deref()), (Some(35), Some(20), Some("8X")));
        assert_eq!(l.distance_m, Some(3300));
        assert_eq!((l.frequency_mhz, l.stations), (None, None), "no unit for currentChanFreq; not an AP");
    }

    #[test]
    fn kinds_versions_and_models() {
        let sys = |d: &str| SysInfo {
            descr: d.into(),
            object_id: vec![1, 3, 6, 1, 4, 1, 161, 19, 250, 256],
            ..Default::default()
        };
        let none = VendorData::default();
        let ap = identify(&sys("CANOPY 21.1.0.1 (Build STA-1)  AP"), &none);
        assert_eq!((ap.kind, ap.firmware.as_deref()), (Some(DeviceKind::AccessPoint), Some("21.1.0.1")));
        assert_eq!(identify(&sys("CANOPY 15.0.0.1 SM-DES"), &none).kind, Some(DeviceKind::Cpe));
        assert_eq!(identify(&sys("CANOPY 15.0.0.1 BHS-AES"), &none).kind, Some(DeviceKind::Backhaul));
        let m = mib("
            1.3.6.1.4.1.161.19.3.3.1.6.0|4|5.7GHz MU-MIMO OFDM - Multipoint - Access Point
        ");
        let d = VendorData::from_walk(m.iter().map(|(o, v)| (o.clone(), v.clone())).collect(), 0, Default::default());
        let mu = identify(&sys("CANOPY"), &d);
        assert_eq!((mu.kind, mu.model.as_deref()), (Some(DeviceKind::AccessPoint), Some("5.7GHz MU-MIMO OFDM")));
        assert_eq!(mu.firmware, None);
        let only_descr = SysInfo { descr: "CANOPY 15.0.0.1 AP-DES".into(), ..Default::default() };
        assert_eq!(super::super::find(&only_descr).name, "canopy");
        assert_eq!(version("CANOPY 15.0.0.1 AP-DES").as_deref(), Some("15.0.0.1"));
    }
}
