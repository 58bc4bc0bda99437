//! Ubiquiti airFiber classic (AF24, AF5X, AF11, ...): UBNT-AirFIBER-MIB
//! (revision 201405090000Z, subtree `ubntAirFIBER` 1.3.6.1.4.1.41112.1.3).
//!
//! Matching: sysObjectID under 1.3.6.1.4.1.41112.1.3. The one real
//! recording at hand (an AF11, firmware v4.0.3) reports 1.3.6.1.4.1.10002.1
//! and a plain `Linux ... armv5tejl` sysDescr, which the system group alone
//! gives to airMAX; that OID is [`super::ambiguous`], so the poller probes
//! and `fwVersion.1` (this profile's `detect` OID) claims the device
//! (`airfiber-legacy-oid.snmprec`).
//!
//! - kind: Backhaul (a point-to-point link; `radioLinkMode` master/slave
//!   is not a role in the AP/CPE sense)
//! - model: the MIB has no model object (and the real AF11 leaves
//!   `dot11manufacturerProductName` empty): left to the generic rules
//! - firmware: `fwVersion` 1.3.6.1.4.1.41112.1.3.2.1.40.1
//! - radio (row `airFiberConfigIndex` = `airFiberStatusIndex` = 1):
//!   `airFiberConfig` .1.1: 5 `txFrequency` (MHz), 9 `txPower` (dBm),
//!   28 `txChannelWidth` (MHz); `airFiberStatus` .2.1: 2 `curTXModRate`
//!   (the MIB's names: QPSK SISO 1/4x ... 256QAM MIMO 8x), 4
//!   `radioLinkDistM` (m), 5/6 `rxCapacity`/`txCapacity` (bit/s),
//!   11/14 `rxPower0`/`rxPower1` (dBm: chain 0 is also the signal, the MIB
//!   has no combined figure), 19 `remoteRXPower0` (dBm, the far end's
//!   chain 0), 45 `remoteMAC` (text) as the peer. The real AF11 reports
//!   `txFrequency` 11485000 (kHz, not the MIB's MHz): the range check
//!   drops it rather than show a wrong figure; and `curTXModRate` 10, a
//!   code the MIB does not list (left unknown).

use super::ubiquiti::{ONE, first_text};
use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

macro_rules! af {
    ($t:literal, $c:literal) => {
        &[1, 3, 6, 1, 4, 1, 41112, 1, 3, $t, 1, $c]
    };
}

const FW_VERSION: &[u32] = af!(2, 40);
/// `fwVersion.1`: present on every airFiber classic, whatever its sysObjectID.
const FW_VERSION_1: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 3, 2, 1, 40, 1];

/// `curTXModRate` as UBNT-AirFIBER-MIB enumerates it.
static MOD_RATES: &[(i64, &str)] = &[
    (0, "QPSK SISO 1/4x"),
    (1, "QPSK SISO 1x"),
    (2, "QPSK MIMO 2x"),
    (4, "16QAM MIMO 4x"),
    (6, "64QAM MIMO 6x"),
    (8, "256QAM MIMO 8x"),
];

static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: af!(1, 5), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: af!(1, 9), field: Field::TxPowerDbm, decode: ONE },
        Column { oid: af!(1, 28), field: Field::WidthMhz, decode: ONE },
        Column { oid: af!(2, 2), field: Field::Modulation, decode: Decode::Names(MOD_RATES) },
        Column { oid: af!(2, 4), field: Field::DistanceM, decode: ONE },
        Column { oid: af!(2, 5), field: Field::RxCapacityKbps, decode: Decode::Int { mul: 1, div: 1000 } },
        Column { oid: af!(2, 6), field: Field::TxCapacityKbps, decode: Decode::Int { mul: 1, div: 1000 } },
        Column { oid: af!(2, 11), field: Field::SignalDbm, decode: ONE },
        Column { oid: af!(2, 11), field: Field::Chain0Dbm, decode: ONE },
        Column { oid: af!(2, 14), field: Field::Chain1Dbm, decode: ONE },
        Column { oid: af!(2, 19), field: Field::RemoteSignalDbm, decode: ONE },
        Column { oid: af!(2, 45), field: Field::Peer, decode: Decode::Mac },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "ubiquiti-airfiber",
    vendor: "Ubiquiti",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 41112, 1, 3]),
    detect: &[FW_VERSION_1],
    scalars: &[],
    columns: &[FW_VERSION],
    identify,
    stations: &[],
    radios: Some(&RADIOS),
};

fn identify(_sys: &SysInfo, d: &VendorData) -> VendorInfo {
    VendorInfo { firmware: first_text(d, 0), kind: Some(DeviceKind::Backhaul), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chosen, fixture, mib, run, sys_of};
    use super::*;

    #[test]
    fn af5x_link_fixture() {
        let m = fixture("airfiber");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-airfiber");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(
            (id.vendor.as_deref(), id.model.as_deref(), id.firmware.as_deref()),
            (Some("Ubiquiti"), None, Some("v4.1.0"))
        );
        assert_eq!((id.kind, id.serial.as_deref()), (DeviceKind::Backhaul, None));
        assert_eq!(id.base_mac, Some([0x78, 0x8a, 0x20, 0xaf, 0x67, 0x10]), "eth0: air0 has ifType 6");
        assert!(r.stations.is_empty());
        assert_eq!(r.radios.len(), 1);
        let (radio, l) = (&r.radios[0], &r.radios[0].link);
        assert_eq!((radio.index, radio.peer), (1, Some([0x78, 0x8a, 0x20, 0xaf, 0x71, 0x0c])));
        assert_eq!((l.signal_dbm, l.chain0_dbm, l.chain1_dbm), (Some(-58), Some(-58), Some(-60)));
        assert_eq!((l.chain_imbalance_db(), l.remote_signal_dbm), (Some(2), Some(-57)));
        assert_eq!((l.rx_capacity_kbps, l.tx_capacity_kbps), (Some(312_450), Some(298_760)), "bit/s to kbit/s");
        assert_eq!(l.modulation.as_deref(), Some("64QAM MIMO 6x"));
        assert_eq!(
            (l.frequency_mhz, l.width_mhz, l.distance_m, l.tx_power_dbm),
            (Some(5735), Some(40), Some(8360), Some(20))
        );
        assert_eq!((l.noise_dbm, l.snr_db, l.stations), (None, None, None));
    }

    #[test]
    fn af11_on_the_old_ubiquiti_object_id_is_found_by_probe() {
        let m = fixture("airfiber-legacy-oid");
        let sys = sys_of(&m);
        assert_eq!(super::super::find(&sys).name, "ubiquiti-airmax", "the system group alone");
        assert!(super::super::ambiguous(&sys));
        assert_eq!(chosen(&m).name, "ubiquiti-airfiber");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(
            (id.vendor.as_deref(), id.firmware.as_deref(), id.kind),
            (Some("Ubiquiti"), Some("v4.0.3"), DeviceKind::Backhaul)
        );
        assert_eq!(id.base_mac, Some([0x04, 0x18, 0xd6, 0xa4, 0x3c, 0x20]));
        assert_eq!(r.radios.len(), 1);
        let (radio, l) = (&r.radios[0], &r.radios[0].link);
        assert_eq!(radio.peer, Some([0x04, 0x18, 0xd6, 0xa4, 0x3d, 0x48]));
        assert_eq!((l.signal_dbm, l.chain1_dbm, l.remote_signal_dbm), (Some(-49), Some(-51), Some(-50)));
        assert_eq!((l.rx_capacity_kbps, l.tx_capacity_kbps), (Some(598_120), Some(587_340)));
        assert_eq!(l.modulation.as_deref(), Some("256QAM MIMO 8x"));
        assert_eq!((l.frequency_mhz, l.width_mhz, l.distance_m), (None, Some(50), Some(12_740)), "kHz: dropped");
    }

    #[test]
    fn kilohertz_and_unlisted_modulations_stay_unknown() {
        // As the real AF11 (firmware v4.0.3) reports them.
        let m = mib("
            1.3.6.1.4.1.41112.1.3.1.1.5.1|2|11485000
            1.3.6.1.4.1.41112.1.3.2.1.2.1|2|10
            1.3.6.1.4.1.41112.1.3.2.1.11.1|2|-42
        ");
        let r = run(&PROFILE, &m);
        let l = &r.radios[0].link;
        assert_eq!((l.frequency_mhz, l.modulation.as_deref(), l.signal_dbm), (None, None, Some(-42)));
    }
}
