//! Ubiquiti airFiber 60 (AF60, AF60-LR) and the Wave family that shares its
//! MIB: UI-AF60-MIB (revision 202110050000Z, `af60MIB`
//! 1.3.6.1.4.1.41112.1.11.1; `uiAF60` is `ubntMIB 11` in UBNT-MIB
//! 202109210000Z).
//!
//! Matching: sysObjectID under 1.3.6.1.4.1.41112.1.11; or exactly
//! 1.3.6.1.4.1.41112 with a `Linux ...` sysDescr, as the real Wave
//! Long-Range (firmware v3.4.0) reports (UniFi APs that report the bare
//! enterprise OID describe themselves by model, see [`super::unifi`]). The
//! real AF60 recording at hand reports 1.3.6.1.4.1.10002.1, which the
//! system group alone gives to airMAX; that OID (like the bare `41112`) is
//! [`super::ambiguous`], and the poller's probe finds
//! `af60FirmwareVersion.1` (this profile's `detect` OID) and picks this
//! profile.
//!
//! Scalars are instance `.1` on the real devices (not `.0`), so they are
//! walked as columns and the radio is row 1.
//!
//! - model: `af60DevModel` .2.2; firmware: `af60FirmwareVersion` .2.4
//! - wireless MAC: `af60Mac` .2.1 (the radio interface's MAC on the real
//!   Wave LR)
//! - kind: a model named `AF60...` is a Backhaul whatever its role; else
//!   `af60Role` .1.1 ap(0) → AP, cpe(1) → CPE, whose uplink AP is the first
//!   `af60StaMac`
//! - stations: `af60StationTable` .3.1, index `<af60StaMac as 6 arcs>.1` (as
//!   the real AF60 answers): 3 `af60StaRSSI` (the MIB gives no unit; its
//!   twin `af60StaRemoteRSSI` is dBm), 4 `af60StaSNR` (dB), 5 `af60StaTxMCS`
//!   (shown as `MCS9`), 7/8 tx/rx capacity (Kbps), 14 remote device name,
//!   15 `af60StaRemoteDistance` (m), 18 `af60StaRemoteRSSI` (dBm), 20 last
//!   IP. On a backhaul the table lists the far end.
//! - radio: `af60Frequency` .1.2 (MHz), `af60Bandwidth` .1.3 (MHz)

use super::ubiquiti::{ONE, role_identity};
use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};

macro_rules! af60 {
    ($($a:literal),+) => {
        &[1, 3, 6, 1, 4, 1, 41112, 1, 11, 1, $($a),+]
    };
}

const ROLE: &[u32] = af60!(1, 1);
const MAC: &[u32] = af60!(2, 1);
const MODEL: &[u32] = af60!(2, 2);
const FIRMWARE: &[u32] = af60!(2, 4);
/// `af60FirmwareVersion.1` (the real devices' instance): present on every
/// AF60 and Wave radio, whatever its sysObjectID.
const FIRMWARE_1: &[u32] = af60!(2, 4, 1);
const STA_MAC: &[u32] = af60!(3, 1, 1);

/// `af60StaTxMCS` (802.11ad MCS indexes 0–12).
static MCS: &[(i64, &str)] = &[
    (0, "MCS0"),
    (1, "MCS1"),
    (2, "MCS2"),
    (3, "MCS3"),
    (4, "MCS4"),
    (5, "MCS5"),
    (6, "MCS6"),
    (7, "MCS7"),
    (8, "MCS8"),
    (9, "MCS9"),
    (10, "MCS10"),
    (11, "MCS11"),
    (12, "MCS12"),
];

static STATIONS: LinkTable = LinkTable {
    columns: &[
        Column { oid: af60!(3, 1, 14), field: Field::Name, decode: Decode::Text },
        Column { oid: af60!(3, 1, 3), field: Field::SignalDbm, decode: ONE },
        Column { oid: af60!(3, 1, 4), field: Field::SnrDb, decode: ONE },
        Column { oid: af60!(3, 1, 5), field: Field::Modulation, decode: Decode::Names(MCS) },
        Column { oid: af60!(3, 1, 7), field: Field::TxCapacityKbps, decode: ONE },
        Column { oid: af60!(3, 1, 8), field: Field::RxCapacityKbps, decode: ONE },
        Column { oid: af60!(3, 1, 15), field: Field::DistanceM, decode: ONE },
        Column { oid: af60!(3, 1, 18), field: Field::RemoteSignalDbm, decode: ONE },
        Column { oid: af60!(3, 1, 20), field: Field::Ip, decode: Decode::Ip },
    ],
    index_mac: IndexMac::First6,
};

static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: af60!(1, 2), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: af60!(1, 3), field: Field::WidthMhz, decode: ONE },
    ],
    index_mac: IndexMac::None,
};

fn matches(s: &SysInfo) -> bool {
    super::under(s, &[1, 3, 6, 1, 4, 1, 41112, 1, 11])
        || (s.object_id == [1, 3, 6, 1, 4, 1, 41112] && s.descr.starts_with("Linux "))
}

pub static PROFILE: Profile = Profile {
    name: "ubiquiti-af60",
    vendor: "Ubiquiti",
    matches,
    detect: &[FIRMWARE_1],
    scalars: &[],
    columns: &[ROLE, MAC, MODEL, FIRMWARE, STA_MAC],
    identify,
    stations: &[&STATIONS],
    radios: Some(&RADIOS),
};

fn identify(_sys: &SysInfo, d: &VendorData) -> VendorInfo {
    role_identity(d, &["AF60"])
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run, sys_of};
    use super::*;
    use mast_shared::msg::DeviceKind;

    #[test]
    fn af60_lr_link_fixture() {
        let m = fixture("af60");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-af60");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(
            (id.vendor.as_deref(), id.model.as_deref(), id.firmware.as_deref()),
            (Some("Ubiquiti"), Some("AF60-LR"), Some("v2.6.2"))
        );
        assert_eq!((id.kind, id.base_mac), (DeviceKind::Backhaul, Some([0xf4, 0x92, 0xbf, 0xe2, 0x9e, 0xe0])));
        assert_eq!(r.info.uplink_ap, None);
        assert_eq!(r.stations.len(), 1, "the far end");
        let s = &r.stations[0];
        assert_eq!((s.mac, s.name.as_deref()), ([0xf4, 0x92, 0xbf, 0xe2, 0x9f, 0x10], Some("ridge-af60-b")));
        assert_eq!((s.link.signal_dbm, s.link.snr_db, s.link.remote_signal_dbm), (Some(-54), Some(22), Some(-55)));
        assert_eq!((s.link.tx_capacity_kbps, s.link.rx_capacity_kbps), (Some(1_810_000), Some(1_750_000)));
        assert_eq!((s.link.modulation.as_deref(), s.link.distance_m), (Some("MCS9"), Some(4200)));
        assert_eq!(s.ip, Some("10.40.0.2".parse().unwrap()));
        assert_eq!(r.radios.len(), 1);
        let radio = &r.radios[0];
        assert_eq!((radio.index, radio.link.frequency_mhz, radio.link.width_mhz), (1, Some(60480), Some(2160)));
    }

    #[test]
    fn wave_long_range_by_its_bare_enterprise_oid() {
        // The real Wave LR (v3.4.0): sysObjectID 1.3.6.1.4.1.41112, scalars at `.1`.
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|Linux 4.4.241 #1 SMP Tue Oct 1 11:03:45 UTC 2024 armv7l
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.41112
            1.3.6.1.4.1.41112.1.11.1.1.1.1|2|1
            1.3.6.1.4.1.41112.1.11.1.1.2.1|2|70560
            1.3.6.1.4.1.41112.1.11.1.2.1.1|4x|e438834f40db
            1.3.6.1.4.1.41112.1.11.1.2.2.1|4|Wave Long-Range
            1.3.6.1.4.1.41112.1.11.1.2.4.1|4|GMC.ipq5018.v3.4.0.cd580eac.241001.1122
        ");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-af60");
        let r = run(&PROFILE, &m);
        assert_eq!((r.info.model.as_deref(), r.info.kind), (Some("Wave Long-Range"), Some(DeviceKind::Cpe)));
        assert_eq!(r.info.wireless_mac, Some([0xe4, 0x38, 0x83, 0x4f, 0x40, 0xdb]));
        assert_eq!(r.radios[0].link.frequency_mhz, Some(70560));
    }
}
