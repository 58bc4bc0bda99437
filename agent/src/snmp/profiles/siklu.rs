//! Siklu EtherHaul (millimetre-wave point-to-point): RADIO-BRIDGE-MIB
//! (enterprise 31926; the MIB carries no revision clause: the copies read
//! were LibreNMS `mibs/siklu/RADIO-BRIDGE-MIB` and the later
//! `mibs/siklu/mhtg/RADIO-BRIDGE-MIB`, which adds columns 46–51). Real
//! EtherHauls report the bare enterprise as sysObjectID
//! (`1.3.6.1.4.1.31926`) and the model as sysDescr (`EH-1200TL`).
//!
//! - kind: always a backhaul (the family is point-to-point only)
//! - firmware: the running bank's version: `rbSwBank1Version` /
//!   `rbSwBank2Version` 1.3.6.1.4.1.31926.1.5.0 / .1.6.0, picked by
//!   `rbSwBank1Running` / `rbSwBank2Running` (.1.7.0 / .1.8.0: running(2),
//!   running-wait-accept(3)); else bank 1
//! - model: `rbSystemEquipmentModel` (.1.30.0, later MIB), else the first
//!   row of ENTITY-MIB `entPhysicalModelName` (the chassis, row 1 on
//!   EtherHauls), else sysDescr; serial: first `entPhysicalSerialNum`. The
//!   poller skips ENTITY-MIB for vendor profiles, so this profile walks the
//!   two columns itself.
//! - base MAC: the radio interface's (ifType 188 radioMAC, `Eth 0`), by the
//!   generic identity rules
//! - radio: `rbRfTable` 1.3.6.1.4.1.31926.2.1.1.<col>.<rfIndex>:
//!   3 `rfChannelWidth` (rfWidth250(1) … rfWidth2000(6), MHz), 4
//!   `rfOperationalFrequency`, 7 `rfModulationType` (QPSK, QAM-16, QAM-64,
//!   QAM-32, BPSK), 46 `rfModulationName` (later MIB; wins when present),
//!   18 `rfAverageCinr` (CINR → SNR), 19 `rfAverageRssi`, 42 `rfTxPower`.
//!   The MIB gives no UNITS for 4/18/19/42: they are read as MHz, dB, dBm
//!   and dBm, which is what a real EH-1200TL returns (72375, 23, -38, 5).
//! - not decoded: `rfOperationalState` (17, the link up/down TruthValue:
//!   Mast's link metrics have no field for it), `rfAirCapacity` (50, no
//!   unit in the MIB). The MIB names no far-end MAC, so the radio has no
//!   peer.

use super::{Column, Decode, Field, IndexMac, LinkTable, Profile, SysInfo, VendorData, VendorInfo};
use mast_shared::msg::DeviceKind;

const BANK1_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 31926, 1, 5, 0];
const BANK2_VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 31926, 1, 6, 0];
const BANK1_RUNNING: &[u32] = &[1, 3, 6, 1, 4, 1, 31926, 1, 7, 0];
const BANK2_RUNNING: &[u32] = &[1, 3, 6, 1, 4, 1, 31926, 1, 8, 0];
const EQUIPMENT_MODEL: &[u32] = &[1, 3, 6, 1, 4, 1, 31926, 1, 30, 0];
/// ENTITY-MIB entPhysicalModelName / entPhysicalSerialNum (RFC 6933).
const ENT_MODEL: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 13];
const ENT_SERIAL: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11];

macro_rules! rf {
    ($c:literal) => {
        &[1, 3, 6, 1, 4, 1, 31926, 2, 1, 1, $c]
    };
}
const ONE: Decode = Decode::Int { mul: 1, div: 1 };
/// `rfChannelWidth` codes (MHz).
static WIDTH: &[(i64, i64)] = &[(1, 250), (2, 500), (3, 750), (4, 1250), (5, 125), (6, 2000)];
/// `rfModulationType`.
static MODULATION: &[(i64, &str)] = &[(1, "QPSK"), (2, "QAM-16"), (3, "QAM-64"), (4, "QAM-32"), (5, "BPSK")];
/// The `ModulationName` textual convention (`rfModulationName`).
static MODULATION_NAME: &[(i64, &str)] = &[
    (1, "QPSK1"),
    (2, "QPSK2"),
    (3, "QPSK3"),
    (4, "QAM16"),
    (5, "QAM64"),
    (6, "QAM32"),
    (7, "BPSK1"),
    (8, "BPSK2"),
    (9, "QAM128"),
    (10, "8PSK"),
];

static RADIOS: LinkTable = LinkTable {
    columns: &[
        Column { oid: rf!(3), field: Field::WidthMhz, decode: Decode::Lookup(WIDTH) },
        Column { oid: rf!(4), field: Field::FrequencyMhz, decode: ONE },
        Column { oid: rf!(7), field: Field::Modulation, decode: Decode::Names(MODULATION) },
        Column { oid: rf!(46), field: Field::Modulation, decode: Decode::Names(MODULATION_NAME) },
        Column { oid: rf!(18), field: Field::SnrDb, decode: ONE },
        Column { oid: rf!(19), field: Field::SignalDbm, decode: ONE },
        Column { oid: rf!(42), field: Field::TxPowerDbm, decode: ONE },
    ],
    index_mac: IndexMac::None,
};

pub static PROFILE: Profile = Profile {
    name: "siklu-etherhaul",
    vendor: "Siklu",
    matches: |s: &SysInfo| super::under(s, &[1, 3, 6, 1, 4, 1, 31926]),
    detect: &[],
    scalars: &[BANK1_VERSION, BANK2_VERSION, BANK1_RUNNING, BANK2_RUNNING, EQUIPMENT_MODEL],
    columns: &[ENT_MODEL, ENT_SERIAL],
    identify,
    stations: &[],
    radios: Some(&RADIOS),
};

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let running = |o: &[u32]| d.scalar(o).and_then(|v| v.as_i64()).is_some_and(|x| x == 2 || x == 3);
    let nonempty = |t: Option<String>| t.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let firmware = if running(BANK2_RUNNING) && !running(BANK1_RUNNING) {
        nonempty(d.text(BANK2_VERSION))
    } else {
        nonempty(d.text(BANK1_VERSION))
    };
    let descr = sys.descr.split_whitespace().next().map(String::from);
    VendorInfo {
        model: nonempty(d.text(EQUIPMENT_MODEL)).or_else(|| nonempty(d.first(0).and_then(|v| v.as_text()))).or(descr),
        firmware,
        serial: nonempty(d.first(1).and_then(|v| v.as_text())),
        kind: Some(DeviceKind::Backhaul),
        wireless_mac: None,
        uplink_ap: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run, sys_of};
    use super::*;

    #[test]
    fn etherhaul_fixture() {
        let m = fixture("siklu-eh");
        assert_eq!(super::super::find(&sys_of(&m)).name, "siklu-etherhaul");
        let r = run(&PROFILE, &m);
        assert_eq!(r.identity.vendor.as_deref(), Some("Siklu"));
        assert_eq!(r.identity.model.as_deref(), Some("EH-1200TL-ODU-1ft"));
        assert_eq!(r.identity.serial.as_deref(), Some("F412071934"));
        assert_eq!(r.identity.firmware.as_deref(), Some("3.7.6.24444 2018-07-19 15:13:12"), "bank 2 is not running");
        assert_eq!(r.identity.kind, DeviceKind::Backhaul);
        assert_eq!(r.identity.base_mac, Some([0x00, 0x24, 0xa4, 0x03, 0x5b, 0x11]), "the radioMAC interface");
        assert!(r.stations.is_empty());
        assert_eq!(r.radios.len(), 1);
        let (radio, l) = (&r.radios[0], &r.radios[0].link);
        assert_eq!((radio.index, radio.peer), (1, None));
        assert_eq!((l.signal_dbm, l.snr_db, l.tx_power_dbm), (Some(-41), Some(21), Some(5)));
        assert_eq!((l.frequency_mhz, l.width_mhz), (Some(74375), Some(500)));
        assert_eq!(l.modulation.as_deref(), Some("QAM64"), "rfModulationName wins over rfModulationType");
    }

    #[test]
    fn older_firmware_without_the_later_columns() {
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|EH-600TX
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.31926
            1.3.6.1.4.1.31926.1.5.0|4|2.0.1
            1.3.6.1.4.1.31926.1.6.0|4|2.1.0
            1.3.6.1.4.1.31926.1.7.0|2|1
            1.3.6.1.4.1.31926.1.8.0|2|2
            1.3.6.1.4.1.31926.2.1.1.3.1|2|1
            1.3.6.1.4.1.31926.2.1.1.7.1|2|2
            1.3.6.1.4.1.31926.2.1.1.19.1|2|-55
        ");
        let r = run(&PROFILE, &m);
        assert_eq!((r.info.model.as_deref(), r.info.firmware.as_deref()), (Some("EH-600TX"), Some("2.1.0")));
        assert_eq!(r.info.serial, None);
        let l = &r.radios[0].link;
        assert_eq!((l.width_mhz, l.modulation.as_deref(), l.signal_dbm), (Some(250), Some("QAM-16"), Some(-55)));
    }
}
