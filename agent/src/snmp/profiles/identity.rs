//! Who a device is, when several sources say (pure). Precedence, highest
//! first, field by field:
//!
//! 1. the **vendor profile** (its own MIB: board name, firmware, serial,
//!    radio mode);
//! 2. **ENTITY-MIB** (`entPhysicalTable`: the chassis row's manufacturer,
//!    model, serial, software revision);
//! 3. **sysDescr patterns** (`EdgeSwitch 24-Port 250W, 1.9.1...`,
//!    `RouterOS CCR1009`, a description that starts with the model);
//! 4. the **enterprise number** of sysObjectID, unless it is a generic one
//!    (net-snmp's, UCD's, Broadcom FASTPATH's: many vendors' firmware
//!    reports those), which names no vendor; an enterprise Mast does not
//!    know is shown as `enterprise N`.
//!
//! Kind: the profile's (radio mode OIDs) > a station table with rows (AP) >
//! a radio interface (ifType 71 IEEE 802.11, 188 radio MAC) with no station
//! table (CPE) > a bridge table on a non-router (switch) > sysServices.
//!
//! Base MAC (what Mast files the device under): the profile's wireless MAC >
//! for a radio, its radio interface's MAC (what its AP's station table or its
//! peer lists) > the first usable interface MAC.

use super::{Profile, SysInfo, VendorInfo, mib2};
use crate::snmp::value::{Value, usable_mac};
use crate::snmp::walk::Rows;
use crate::snmp::{Identity, Interface};
use mast_shared::msg::{DeviceKind, Mac};

/// entPhysicalTable columns walked: entPhysicalClass, entPhysicalSoftwareRev,
/// entPhysicalFirmwareRev, entPhysicalSerialNum, entPhysicalMfgName,
/// entPhysicalModelName (RFC 6933).
pub const ENTITY: &[&[u32]] = &[
    &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 5],
    &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 10],
    &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 9],
    &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11],
    &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 12],
    &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 13],
];
/// Rows of entPhysicalTable read at most (a chassis switch lists hundreds of
/// parts; the chassis comes first on every agent seen).
pub const ENTITY_MAX_ROWS: usize = 16;

/// What ENTITY-MIB says about the device's chassis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entity {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
}

/// The chassis row (entPhysicalClass 3) of an [`ENTITY`] walk, else the
/// first row that names a model or serial.
pub fn entity(rows: &Rows) -> Entity {
    let text = |v: &Option<Value>| v.as_ref().and_then(Value::as_text).map(|t| t.trim().to_string());
    let clean = |t: Option<String>| t.filter(|t| !t.is_empty() && !matches!(t.as_str(), "N/A" | "n/a" | "Unknown"));
    let pick = rows
        .values()
        .find(|r| r[0].as_ref().and_then(Value::as_i64) == Some(3))
        .or_else(|| rows.values().find(|r| clean(text(&r[5])).is_some() || clean(text(&r[3])).is_some()));
    let Some(r) = pick else { return Entity::default() };
    Entity {
        vendor: clean(text(&r[4])),
        model: clean(text(&r[5])),
        serial: clean(text(&r[3])),
        firmware: clean(text(&r[1])).or_else(|| clean(text(&r[2]))),
    }
}

/// Enterprise numbers whose sysObjectID many vendors' firmware reports: they
/// name a software stack, not a maker.
const GENERIC: &[u32] = &[8072, 2021, 4413];

/// Enterprise numbers (1.3.6.1.4.1.N) Mast names (IANA Private Enterprise Numbers).
const ENTERPRISES: &[(u32, &str)] = &[
    (9, "Cisco"),
    (11, "HP"),
    (161, "Cambium Networks"),
    (171, "D-Link"),
    (311, "Microsoft"),
    (890, "Zyxel"),
    (1916, "Extreme Networks"),
    (1991, "Brocade"),
    (2011, "Huawei"),
    (2636, "Juniper"),
    (3375, "F5"),
    (4526, "Netgear"),
    (5624, "Enterasys"),
    (6486, "Alcatel-Lucent"),
    (6527, "Nokia"),
    (10002, "Ubiquiti"),
    (11863, "TP-Link"),
    (12356, "Fortinet"),
    (14823, "Aruba"),
    (14988, "MikroTik"),
    (17713, "Cambium Networks"),
    (25053, "Ruckus"),
    (25506, "H3C"),
    (30065, "Arista"),
    (31926, "Siklu"),
    (41112, "Ubiquiti"),
    (43356, "Mimosa"),
];

/// The enterprise number of a sysObjectID.
pub fn enterprise(object_id: &[u32]) -> Option<u32> {
    object_id.strip_prefix(&[1, 3, 6, 1, 4, 1][..])?.first().copied()
}

/// Is the sysObjectID one many vendors share (see [`GENERIC`])?
pub fn generic_object_id(object_id: &[u32]) -> bool {
    enterprise(object_id).is_some_and(|e| GENERIC.contains(&e))
}

/// The vendor a sysObjectID names: `None` for a generic or missing one,
/// `enterprise N` for one Mast does not know.
pub fn enterprise_vendor(object_id: &[u32]) -> Option<String> {
    let n = enterprise(object_id)?;
    if GENERIC.contains(&n) {
        return None;
    }
    Some(ENTERPRISES.iter().find(|(e, _)| *e == n).map_or_else(|| format!("enterprise {n}"), |(_, v)| v.to_string()))
}

/// What a sysDescr says, by the patterns below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Described {
    pub vendor: Option<&'static str>,
    pub model: Option<String>,
    pub firmware: Option<String>,
}

/// Operating systems a generic sysDescr starts with (`Linux host 6.1.0 ...`):
/// the kernel's release is not the device's firmware.
const OS_WORDS: &[&str] = &["Linux", "FreeBSD", "NetBSD", "OpenBSD", "Darwin", "SunOS", "Windows", "VxWorks"];

fn word_is_model(w: &str) -> bool {
    let w = w.trim_end_matches([',', ';']);
    (3..=32).contains(&w.len())
        && w.chars().any(|c| c.is_ascii_digit())
        && w.chars().any(|c| c.is_ascii_alphabetic())
        && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_+./".contains(c))
        && !(w.starts_with(['v', 'V']) && w[1..].starts_with(|c: char| c.is_ascii_digit()))
}

fn comma_field(d: &str, n: usize) -> Option<String> {
    d.split(',').nth(n).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// Reads vendor, model and firmware from a sysDescr (pure, total).
pub fn describe(descr: &str) -> Described {
    let d = descr.trim();
    let words: Vec<&str> = d.split_whitespace().collect();
    let first = words.first().copied().unwrap_or("");
    let after = |w: &str| d.split_once(w).map(|(_, r)| r.trim().to_string()).filter(|r| !r.is_empty());
    if first == "EdgeSwitch" {
        // "EdgeSwitch 24-Port 250W, 1.9.1.5067353, Linux 3.6.5, 1.0.0.4857129"
        return Described { vendor: Some("Ubiquiti"), model: comma_field(d, 0), firmware: comma_field(d, 1) };
    }
    if first == "EdgeOS" {
        // "EdgeOS v2.0.9-hotfix.7.5622731.230615.0857"
        return Described { vendor: Some("Ubiquiti"), model: None, firmware: words.get(1).map(|s| s.to_string()) };
    }
    if first == "RouterOS" {
        return Described { vendor: Some("MikroTik"), model: after("RouterOS"), firmware: None };
    }
    if d.starts_with("Cisco") {
        let fw = d.split_once("Version ").and_then(|(_, r)| r.split([',', ' ']).next()).map(String::from);
        return Described { vendor: Some("Cisco"), model: None, firmware: fw };
    }
    if d.starts_with("Juniper Networks") {
        return Described { vendor: Some("Juniper"), model: None, firmware: None };
    }
    if OS_WORDS.contains(&first) {
        return Described::default();
    }
    // "D-Link DES-3028 Fast Ethernet Switch": a vendor name, then the model.
    for (_, v) in ENTERPRISES {
        if let Some(rest) = d.strip_prefix(v)
            && rest.starts_with(' ')
        {
            let model = rest.split_whitespace().next().filter(|w| word_is_model(w)).map(String::from);
            return Described { vendor: Some(v), model, firmware: None };
        }
    }
    // "AF60-LR ...", "DES-3028 Fast Ethernet Switch": the description starts with the model.
    Described {
        vendor: None,
        model: word_is_model(first).then(|| first.trim_end_matches([',', ';']).to_string()),
        firmware: None,
    }
}

/// IANAifType values of radio interfaces: ieee80211 (71), radioMAC (188).
pub fn radio_if_type(t: Option<u32>) -> bool {
    matches!(t, Some(71 | 188))
}

/// Everything a poll learned, for [`resolve`].
pub struct Seen<'a> {
    pub sys: &'a SysInfo,
    pub profile: &'a Profile,
    pub info: &'a VendorInfo,
    pub entity: &'a Entity,
    pub interfaces: &'a [Interface],
    /// Rows in the station table (`None`: the profile has none).
    pub stations: Option<usize>,
    /// The bridge table has entries.
    pub bridging: bool,
}

/// The device's identity by the module's precedence rules (pure).
pub fn resolve(s: &Seen<'_>) -> Identity {
    let described = describe(&s.sys.descr);
    let profile_vendor = (!s.profile.vendor.is_empty()).then(|| s.profile.vendor.to_string());
    let vendor = profile_vendor
        .or_else(|| s.entity.vendor.clone())
        .or_else(|| described.vendor.map(String::from))
        .or_else(|| enterprise_vendor(&s.sys.object_id));
    let radio_if = s.interfaces.iter().find(|i| radio_if_type(i.if_type) && i.mac.is_some_and(|m| usable_mac(&m)));
    let kind = s.info.kind.unwrap_or_else(|| match s.stations {
        Some(n) if n > 0 => DeviceKind::AccessPoint,
        _ if radio_if.is_some() => DeviceKind::Cpe,
        _ if s.bridging && mib2::kind_from_services(s.sys.services) != DeviceKind::Router => DeviceKind::Switch,
        _ => mib2::kind_from_services(s.sys.services),
    });
    let is_radio = matches!(kind, DeviceKind::AccessPoint | DeviceKind::Cpe | DeviceKind::Backhaul);
    let base_mac: Option<Mac> = s
        .info
        .wireless_mac
        .filter(usable_mac)
        .or_else(|| if is_radio { radio_if.and_then(|i| i.mac) } else { None })
        .or_else(|| s.interfaces.iter().filter(|i| i.if_type != Some(24)).filter_map(|i| i.mac).find(usable_mac));
    let nonempty = |t: &str| (!t.is_empty()).then(|| t.to_string());
    Identity {
        sys_descr: nonempty(&s.sys.descr),
        sys_object_id: (!s.sys.object_id.is_empty()).then(|| crate::snmp::oid::format(&s.sys.object_id)),
        sys_name: nonempty(&s.sys.name),
        uptime_s: s.sys.uptime_ticks.map(crate::snmp::counters::ticks_to_secs),
        rebooted: false,
        vendor,
        model: s.info.model.clone().or_else(|| s.entity.model.clone()).or(described.model),
        firmware: s.info.firmware.clone().or_else(|| s.entity.firmware.clone()).or(described.firmware),
        serial: s.info.serial.clone().or_else(|| s.entity.serial.clone()),
        kind,
        base_mac,
        profile: s.profile.name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::profiles::tests::{mib, walk};

    fn sys(oid: &[u32], descr: &str) -> SysInfo {
        SysInfo { descr: descr.into(), object_id: oid.to_vec(), ..Default::default() }
    }

    fn seen<'a>(sys: &'a SysInfo, info: &'a VendorInfo, entity: &'a Entity, ifs: &'a [Interface]) -> Identity {
        let profile = super::super::find(sys);
        resolve(&Seen { sys, profile, info, entity, interfaces: ifs, stations: None, bridging: false })
    }

    #[test]
    fn a_generic_object_id_loses_to_a_clear_sysdescr() {
        let s = sys(&[1, 3, 6, 1, 4, 1, 4413], "EdgeSwitch 24-Port 250W, 1.9.1.5067353, Linux 3.6.5, 1.0.0.4857129");
        let id = seen(&s, &VendorInfo::default(), &Entity::default(), &[]);
        assert_eq!(id.vendor.as_deref(), Some("Ubiquiti"), "not Broadcom");
        assert_eq!(id.model.as_deref(), Some("EdgeSwitch 24-Port 250W"));
        assert_eq!(id.firmware.as_deref(), Some("1.9.1.5067353"), "not the kernel");
    }

    #[test]
    fn net_snmp_on_linux_names_no_vendor_and_no_kernel_firmware() {
        let s = sys(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10], "Linux tower 6.1.0-13-amd64 #1 SMP x86_64");
        let id = seen(&s, &VendorInfo::default(), &Entity::default(), &[]);
        assert_eq!((id.vendor, id.model, id.firmware), (None, None, None));
        assert!(generic_object_id(&s.object_id));
    }

    #[test]
    fn entity_mib_beats_sysdescr_and_the_profile_beats_entity_mib() {
        let s = sys(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10], "DES-3028 Fast Ethernet Switch");
        let none = VendorInfo::default();
        let by_descr = seen(&s, &none, &Entity::default(), &[]);
        assert_eq!((by_descr.vendor, by_descr.model.as_deref()), (None, Some("DES-3028")));
        let ent = Entity {
            vendor: Some("D-Link".into()),
            model: Some("DES-3028P".into()),
            serial: Some("P1X3".into()),
            firmware: Some("2.60".into()),
        };
        let by_entity = seen(&s, &none, &ent, &[]);
        assert_eq!(by_entity.vendor.as_deref(), Some("D-Link"));
        assert_eq!(
            (by_entity.model.as_deref(), by_entity.serial.as_deref(), by_entity.firmware.as_deref()),
            (Some("DES-3028P"), Some("P1X3"), Some("2.60"))
        );
        let prof = VendorInfo { model: Some("Board".into()), serial: Some("S1".into()), ..Default::default() };
        let by_profile = seen(&s, &prof, &ent, &[]);
        assert_eq!((by_profile.model.as_deref(), by_profile.serial.as_deref()), (Some("Board"), Some("S1")));
        assert_eq!(by_profile.firmware.as_deref(), Some("2.60"), "a field the profile lacks falls through");
    }

    #[test]
    fn enterprise_numbers_known_unknown_and_generic() {
        assert_eq!(enterprise_vendor(&[1, 3, 6, 1, 4, 1, 171, 10, 63, 6]).as_deref(), Some("D-Link"));
        assert_eq!(enterprise_vendor(&[1, 3, 6, 1, 4, 1, 99999, 1]).as_deref(), Some("enterprise 99999"));
        assert_eq!(enterprise_vendor(&[1, 3, 6, 1, 4, 1, 4413]), None);
        assert_eq!(enterprise_vendor(&[1, 3, 6, 1, 2, 1]), None);
        let s = sys(&[1, 3, 6, 1, 4, 1, 99999, 1], "");
        assert_eq!(
            seen(&s, &VendorInfo::default(), &Entity::default(), &[]).vendor.as_deref(),
            Some("enterprise 99999")
        );
    }

    #[test]
    fn sysdescr_patterns() {
        assert_eq!(describe("RouterOS CCR1009-7G-1C-1S+").model.as_deref(), Some("CCR1009-7G-1C-1S+"));
        assert_eq!(describe("EdgeOS v2.0.9-hotfix.7").firmware.as_deref(), Some("v2.0.9-hotfix.7"));
        let c = describe("Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE");
        assert_eq!((c.vendor, c.firmware.as_deref()), (Some("Cisco"), Some("15.0(2)SE11")));
        assert_eq!(describe("D-Link DES-3028 Fast Ethernet Switch").model.as_deref(), Some("DES-3028"));
        assert_eq!(describe("Mast test agent (net-snmp snmpd)").model, None, "a custom sysDescr names no model");
        assert_eq!(describe("v5.6.2 firmware").model, None, "a version is not a model");
        assert_eq!(describe(""), Described::default());
    }

    #[test]
    fn the_radio_interface_is_the_base_mac_of_a_radio() {
        let eth =
            Interface { index: 2, if_type: Some(6), mac: Some([0x04, 0x18, 0xd6, 1, 1, 1]), ..Default::default() };
        let lo = Interface { index: 1, if_type: Some(24), mac: Some([0x02, 0, 0, 0, 0, 1]), ..Default::default() };
        let wl =
            Interface { index: 5, if_type: Some(71), mac: Some([0x04, 0x18, 0xd6, 2, 2, 2]), ..Default::default() };
        let ifs = [lo.clone(), eth.clone(), wl.clone()];
        let s = sys(&[1, 3, 6, 1, 4, 1, 99999], "x");
        let id = seen(&s, &VendorInfo::default(), &Entity::default(), &ifs);
        assert_eq!(id.kind, DeviceKind::Cpe, "a radio interface and no station table");
        assert_eq!(id.base_mac, wl.mac);
        // A router with a radio interface is still filed under the radio when the profile says radio.
        let sw = VendorInfo { kind: Some(DeviceKind::Switch), ..Default::default() };
        assert_eq!(seen(&s, &sw, &Entity::default(), &ifs).base_mac, eth.mac, "not a radio: first non-loopback MAC");
        let ap = VendorInfo { kind: Some(DeviceKind::AccessPoint), ..Default::default() };
        assert_eq!(seen(&s, &ap, &Entity::default(), &ifs).base_mac, wl.mac);
    }

    #[test]
    fn entity_table_chassis_row() {
        let m = mib("
            1.3.6.1.2.1.47.1.1.1.1.5.1|2|3
            1.3.6.1.2.1.47.1.1.1.1.5.2|2|9
            1.3.6.1.2.1.47.1.1.1.1.10.1|4|2.4.1
            1.3.6.1.2.1.47.1.1.1.1.11.1|4|FOC1234X0AB
            1.3.6.1.2.1.47.1.1.1.1.11.2|4|MODULE-SN
            1.3.6.1.2.1.47.1.1.1.1.12.1|4|Cisco
            1.3.6.1.2.1.47.1.1.1.1.13.1|4|WS-C2960-24TT-L
            1.3.6.1.2.1.47.1.1.1.1.13.2|4|
        ");
        let e = entity(&walk(&m, ENTITY));
        assert_eq!(e.model.as_deref(), Some("WS-C2960-24TT-L"));
        assert_eq!(e.serial.as_deref(), Some("FOC1234X0AB"));
        assert_eq!((e.vendor.as_deref(), e.firmware.as_deref()), (Some("Cisco"), Some("2.4.1")));
        assert_eq!(entity(&Rows::new()), Entity::default());
    }

    #[test]
    fn entity_switch_recording_is_identified_by_entity_mib() {
        use crate::snmp::profiles::tests::{fixture, run};
        let m = fixture("entity-switch");
        let r = run(&mib2::PROFILE, &m);
        assert!(
            generic_object_id(&super::super::tests::sys_of(&m).object_id),
            "net-snmp's sysObjectID names no vendor"
        );
        let id = &r.identity;
        assert_eq!(id.vendor.as_deref(), Some("Digital China Networks Limited"), "entPhysicalMfgName");
        assert_eq!(id.model.as_deref(), Some("DCRS-5980-28T-DC"), "entPhysicalModelName");
        assert_eq!(id.serial.as_deref(), Some("GOSWE120F327000001"), "entPhysicalSerialNum");
        assert_eq!(id.firmware.as_deref(), Some("7.0.3.1(B0232.0031)"), "entPhysicalSoftwareRev");
        assert!(matches!(id.kind, DeviceKind::Switch | DeviceKind::Router), "{:?}", id.kind);
        assert_eq!(id.kind, DeviceKind::Router, "sysServices 6 has the internet (routing) bit");
        assert_eq!(id.base_mac, Some([0x00, 0x03, 0x0f, 0x61, 0x8d, 0x6f]));
        assert_eq!(id.profile, "mib2");
    }
}
