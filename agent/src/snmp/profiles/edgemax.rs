//! Ubiquiti EdgeMAX: EdgeRouter (EdgeOS) and EdgeSwitch.
//!
//! - EdgeOS: sysObjectID 1.3.6.1.4.1.41112.1.5 (`ubntEdgeMax`), sysDescr
//!   `EdgeOS v1.8.0.4853089.160219.1607` (a real EdgeRouter); kind Router.
//!   UBNT-EdgeMAX-MIB (revision 201801030000Z) `ubntProductIdent`
//!   1.3.6.1.4.1.41112.1.5.1: `ubntModel` .1, `ubntSerialNumber` .2,
//!   `ubntVersion` .3 (scalars, walked: firmware older than that MIB
//!   answers none of them, and the sysDescr's version is used).
//! - EdgeSwitch: sysDescr `EdgeSwitch 24-Port 250W, 1.0.1.4720839, Linux
//!   3.6.5-f4a26ed5` (a real EdgeSwitch) with Broadcom FASTPATH's generic
//!   sysObjectID 1.3.6.1.4.1.4413; kind Switch; model and firmware are the
//!   sysDescr's first two comma fields ([`super::identity::describe`]), the
//!   serial is ENTITY-MIB's `entPhysicalSerialNum` (1.3.6.1.2.1.47.1.1.1.1.11)
//!   of the chassis row (`entPhysicalClass` .5 = chassis(3)). The poller
//!   walks ENTITY-MIB only for profiles without a vendor, so this profile
//!   walks those two columns itself.

use super::ubiquiti::first_text;
use super::{Profile, SysInfo, VendorData, VendorInfo, identity};
use crate::snmp::value::Value;
use mast_shared::msg::DeviceKind;

const MODEL: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 5, 1, 1];
const SERIAL: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 5, 1, 2];
const VERSION: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 5, 1, 3];
const ENT_CLASS: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 5];
const ENT_SERIAL: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11];

fn is_switch(s: &SysInfo) -> bool {
    s.descr.starts_with("EdgeSwitch")
}

fn matches(s: &SysInfo) -> bool {
    is_switch(s) || s.descr.starts_with("EdgeOS") || super::under(s, &[1, 3, 6, 1, 4, 1, 41112, 1, 5])
}

pub static PROFILE: Profile = Profile {
    name: "ubiquiti-edgemax",
    vendor: "Ubiquiti",
    matches,
    detect: &[],
    scalars: &[],
    columns: &[MODEL, SERIAL, VERSION, ENT_CLASS, ENT_SERIAL],
    identify,
    stations: &[],
    radios: None,
};

/// `entPhysicalSerialNum` of the chassis row.
fn chassis_serial(d: &VendorData) -> Option<String> {
    let chassis = d.column(3).iter().find(|(_, v)| v.as_i64() == Some(3)).map(|(i, _)| i)?;
    d.column(4).iter().find(|(i, _)| i == chassis).and_then(|(_, v)| Value::as_text(v))
}

fn identify(sys: &SysInfo, d: &VendorData) -> VendorInfo {
    let described = identity::describe(&sys.descr);
    VendorInfo {
        model: first_text(d, 0).or(described.model),
        firmware: first_text(d, 2).or(described.firmware),
        serial: first_text(d, 1).or_else(|| chassis_serial(d)),
        kind: Some(if is_switch(sys) { DeviceKind::Switch } else { DeviceKind::Router }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, run, sys_of};
    use super::*;

    #[test]
    fn edgeswitch_fixture() {
        let m = fixture("edgeswitch");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-edgemax", "despite Broadcom's 4413");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!((id.vendor.as_deref(), id.model.as_deref()), (Some("Ubiquiti"), Some("EdgeSwitch 24-Port 250W")));
        assert_eq!((id.firmware.as_deref(), id.serial.as_deref()), (Some("1.9.1.5067353"), Some("F09FC2C0A1B0")));
        assert_eq!((id.kind, id.base_mac), (DeviceKind::Switch, Some([0x80, 0x2a, 0xa8, 0xc0, 0xa1, 0xb0])));
        assert!(r.stations.is_empty() && r.radios.is_empty());
    }

    #[test]
    fn edgerouter_fixture() {
        let m = fixture("edgerouter");
        assert_eq!(super::super::find(&sys_of(&m)).name, "ubiquiti-edgemax");
        let r = run(&PROFILE, &m);
        let id = &r.identity;
        assert_eq!(
            (id.model.as_deref(), id.firmware.as_deref()),
            (Some("EdgeRouter X 5-Port"), Some("v2.0.9-hotfix.7"))
        );
        assert_eq!((id.serial.as_deref(), id.kind), (Some("788A20C1D2E0"), DeviceKind::Router));
        assert_eq!(id.base_mac, Some([0x78, 0x8a, 0x20, 0xc1, 0xd2, 0xe0]));
    }

    #[test]
    fn old_edgeos_without_the_product_scalars() {
        // The real EdgeRouter recording (EdgeOS v1.8.0) answers no ubntProductIdent.
        let m = mib("
            1.3.6.1.2.1.1.1.0|4|EdgeOS v1.8.0.4853089.160219.1607
            1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.41112.1.5
        ");
        let r = run(&PROFILE, &m);
        assert_eq!((r.info.model, r.info.firmware.as_deref()), (None, Some("v1.8.0.4853089.160219.1607")));
        assert_eq!(r.identity.kind, DeviceKind::Router);
    }
}
