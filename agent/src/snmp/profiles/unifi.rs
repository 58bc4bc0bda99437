//! Ubiquiti UniFi access points: UBNT-UniFi-MIB (revision 201606250000Z,
//! `ubntUniFi` 1.3.6.1.4.1.41112.1.6).
//!
//! Matching: sysObjectID under 1.3.6.1.4.1.41112.1.6; or, since many UniFi
//! firmwares report the bare enterprise OID 1.3.6.1.4.1.41112 or net-snmp's
//! generic 1.3.6.1.4.1.8072.3.2.10, one of those with a sysDescr that
//! starts with a UniFi model family (`UAP`, `U6`, `U7`, `UK`, `E7`,
//! `U-LTE`: the forms LibreNMS's UniFi detection keys on, e.g.
//! `UAP-AC-Pro 6.5.28.14491`). Those OIDs and the old
//! 1.3.6.1.4.1.10002.1 are [`super::ambiguous`]: a UniFi whose sysDescr
//! is a plain `Linux ...` is found by the poller's probe, which finds
//! `unifiApSystemModel.0` (this profile's `detect` OID). Old UniFi firmware
//! without UBNT-UniFi-MIB (the real UAP recording at hand shows only
//! `dot11manufacturerProductName` `UAP` on 10002.1) answers no probe and
//! still lands on airMAX.
//!
//! - kind: AccessPoint (the MIB has no station table: clients are not
//!   listed; the per-VAP station count is)
//! - model: `unifiApSystemModel` .3.3, else the sysDescr's first word
//! - firmware: `unifiApSystemVersion` .3.6, else the sysDescr's second word
//! - radios: `unifiVapTable` .1.2.1, one row per VAP (SSID on a radio):
//!   4 `unifiVapChannel` → frequency (IEEE 802.11 channel numbering:
//!   2.4 GHz channels 1–14, 5 GHz channels 32–177; 6 GHz channel numbers
//!   overlap and are left unknown), 8 `unifiVapNumStations`,
//!   21 `unifiVapTxPower` (dBm; the MIB states no unit).
//!   `unifiVapCcq` states no unit or scale: not decoded. Channel
//!   utilisation (`unifiRadioCuTotal`) is in `unifiRadioTable`, whose
//!   index is the radio's, not the VAP's, so it is not merged into these
//!   rows. The MIB has no noise figure. (`ObjectIndex` may be 0; a VAP 0
//!   would be read as scalars: every device seen numbers them from 1.)

use super::ubiquiti::{ONE, first_text};
use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const SYSTEM_MODEL: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 6, 3, 3];
const SYSTEM_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 6, 3, 6];
/// `unifiApSystemModel.0`: present wherever UBNT-UniFi-MIB is, whatever the
/// sysObjectID.
const SYSTEM_MODEL_0: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 6, 3, 3, 0];

/// sysDescr prefixes of UniFi AP families.
const FAMILIES: &[&str] = &["UAP", "U6", "U7", "UK", "E7", "U-LTE"];

const N_CHANNELS: usize = 14 + (177 - 32 + 1);
/// IEEE 802.11 channel number to centre frequency (MHz): 2.4 GHz channels
/// 1–13 are 2407 + 5n, channel 14 is 2484; 5 GHz channels are 5000 + 5n.
static CHANNELS: [(i64, i64); N_CHANNELS] = {
    let mut t = [(0i64, 0i64); N_CHANNELS];
    let mut n = 1;
    while n <= 13 {
        t[n - 1] = (n as i64, 2407 + 5 * n as i64);
        n += 1;
    }
    t[13] = (14, 2484);
    let mut c = 32;
    while c <= 177 {
        t[14 + c - 32] = (c as i64, 5000 + 5 * c as i64);
        c += 1;
    }
    t
};

macro_rules! vap {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 41112, 1, 6, 1, 2, 1, $c]
    };
}

static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: vap!(4), field: Field::FrequencyMhz, decode: Decode::Lookup(&CHANNELS) },
        Column { oid: vap!(8), field: Field::Stations, decode: ONE },
        Column { oid: vap!(21), field: Field::TxPowerDbm, decode: ONE },
    ],
    index_mac: IndexMac::None,
};

fn matches(s: &SysInfo) -> bool {
    let bare_or_generic = s.object_id == [1, 3, 6, 1, 4, 1, 41112] || super::identity::generic_object_id(&s.object_id);
    super::under(s, &[1, 3, 6, 1, 4, 1, 41112, 1, 6])
        || (bare_or_generic && FAMILIES.iter().any(|f| s.descr.starts_with(f)))
}

pub static PROFILE: Profile = Profile {
    name: "ubiquiti-unifi",
    vendor: "Ubiquiti",
    matches,
    detect: &[SYSTEM_MODEL_0],
    scalars: &[],
    columns: &[SYSTEM_MODEL, SYSTEM_VERSION],
    identify,
    stations: &[],
    radios: Some(&RADIOS),
};

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let mut words = sys.descr.split_whitespace();
    let (descr_model, descr_version) = match words.next() {
        Some(m) if FAMILIES.iter().any(|f| m.starts_with(f)) => (Some(m.to_string()), words.next().map(String::from)),
        _ => (None, None),
    };
    VendorInfo {
        model: first_text(d, 0).or(descr_model),
        firmware: first_text(d, 1).or(descr_version),
        kind: Some(DeviceKind::AccessPoint),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run, sys_of};
    use super::*;

    #[test]
    fn uap_ac_pro_fixture() {
        let m = fixture("unifi");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-unifi");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(
            (id.vendor.as_deref(), id.model.as_deref(), id.firmware.as_deref()),
            (Some("Ubiquiti"), Some("UAP-AC-Pro"), Some("6.5.28.14491"))
        );
        assert_eq!((id.kind, id.base_mac), (DeviceKind::AccessPoint, Some([0xf0, 0x9f, 0xc2, 0xaa, 0x00, 0x10])));
        assert!(r.stations.is_empty());
        let got: Vec<_> =
            r.radios.iter().map(|x| (x.index, x.link.frequency_mhz, x.link.stations, x.link.tx_power_dbm)).collect();
        assert_eq!(got, [(1, Some(2437), Some(7), Some(20)), (2, Some(5220), Some(12), Some(23))]);
    }

    #[test]
    fn generic_object_id_with_a_unifi_sysdescr() {
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|U6-Lite 6.6.55.15189
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
        ");
        let sys = sys_of(&m);
        assert_eq!(super::super::find(&sys).name, "ubiquiti-unifi");
        let info = identify(&sys, &VendorData::default());
        assert_eq!((info.model.as_deref(), info.firmware.as_deref()), (Some("U6-Lite"), Some("6.6.55.15189")));
        // A Linux box with net-snmp is not a UniFi.
        let linux = SysInfo {
            descr: "Linux host 6.1".into(),
            object_id: vec![1, 3, 6, 1, 4, 1, 8072, 3, 2, 10],
            ..Default::default()
        };
        assert_ne!(super::super::find(&linux).name, "ubiquiti-unifi");
        assert_eq!(CHANNELS.iter().find(|(c, _)| *c == 165), Some(&(165, 5825)));
        assert_eq!(CHANNELS[0], (1, 2412));
    }
}
