//! Standard MIBs every agent may have (pure decoding): the system group,
//! IF-MIB (ifTable + ifXTable), IP-MIB neighbour tables (ipNetToMediaTable,
//! ipNetToPhysicalTable), BRIDGE-MIB / Q-BRIDGE-MIB forwarding tables; and
//! the fallback profile for devices no vendor profile claims (vendor from
//! the sysObjectID enterprise number, kind from sysServices).

use super::{Profile, SysInfo, VendorData, VendorInfo};
use crate::snmp::Interface;
use crate::snmp::counters::{Reading, Width};
use crate::snmp::value::{Value, usable_mac};
use crate::snmp::walk::Rows;
use mast_shared::msg::{DeviceKind, Mac};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
pub const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
pub const SYS_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];
pub const SYS_SERVICES: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 7, 0];
/// The one GET of every poll and of `identify`.
pub const SYSTEM: &[&[u32]] = &[SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME, SYS_SERVICES];

/// ifTable columns walked: ifDescr, ifType, ifSpeed, ifPhysAddress,
/// ifOperStatus, ifInOctets, ifOutOctets.
pub const IF_TABLE: &[&[u32]] = &[
    &[1, 3, 6, 1, 2, 1, 2, 2, 1, 2],
    &[1, 3, 6, 1, 2, 1, 2, 2, 1, 3],
    &[1, 3, 6, 1, 2, 1, 2, 2, 1, 5],
    &[1, 3, 6, 1, 2, 1, 2, 2, 1, 6],
    &[1, 3, 6, 1, 2, 1, 2, 2, 1, 8],
    &[1, 3, 6, 1, 2, 1, 2, 2, 1, 10],
    &[1, 3, 6, 1, 2, 1, 2, 2, 1, 16],
];
/// ifXTable columns walked: ifName, ifHCInOctets, ifHCOutOctets, ifHighSpeed.
pub const IFX_TABLE: &[&[u32]] = &[
    &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1],
    &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6],
    &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10],
    &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15],
];
/// ipNetToMediaPhysAddress (index ifIndex.a.b.c.d).
pub const ARP_MEDIA: &[&[u32]] = &[&[1, 3, 6, 1, 2, 1, 4, 22, 1, 2]];
/// ipNetToPhysicalPhysAddress (index ifIndex.addrType.len.addr...).
pub const ARP_PHYSICAL: &[&[u32]] = &[&[1, 3, 6, 1, 2, 1, 4, 35, 1, 4]];
/// dot1dTpFdbPort, dot1dTpFdbStatus (index MAC), dot1dBasePortIfIndex
/// (index port), dot1qTpFdbPort (index fdbId.MAC).
pub const BRIDGE: &[&[u32]] = &[
    &[1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 2],
    &[1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 3],
    &[1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2],
    &[1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 2],
];

pub static PROFILE: Profile = Profile {
    name: "mib2",
    vendor: "",
    matches: |_| true,
    detect: &[],
    scalars: &[],
    columns: &[],
    identify,
    stations: &[],
    radios: None,
};

/// The fallback profile learns nothing of its own: identity comes from
/// ENTITY-MIB, sysDescr and the enterprise number (`identity::resolve`).
fn identify(_sys: &SysInfo, _d: &VendorData) -> VendorInfo {
    VendorInfo::default()
}

/// sysServices: layer 3 (4) → router, layer 2 only (2) → switch, else host.
pub fn kind_from_services(services: Option<u32>) -> DeviceKind {
    match services {
        Some(s) if s & 4 != 0 => DeviceKind::Router,
        Some(s) if s & 2 != 0 => DeviceKind::Switch,
        _ => DeviceKind::Host,
    }
}

fn text(v: &Option<Value>) -> Option<String> {
    v.as_ref().and_then(Value::as_text)
}

fn counter(v: &Option<Value>) -> Option<Reading> {
    match v.as_ref()? {
        Value::Counter32(c) => Some(Reading { value: u64::from(*c), width: Width::C32 }),
        Value::Counter64(c) => Some(Reading { value: *c, width: Width::C64 }),
        _ => None,
    }
}

/// Interfaces from ifTable and ifXTable walks (columns as in [`IF_TABLE`] and
/// [`IFX_TABLE`]), with their octet counters (64-bit when the agent has
/// them). Rates are filled in by the poller.
pub fn interfaces(if_rows: &Rows, ifx_rows: &Rows) -> Vec<(Interface, Option<Reading>, Option<Reading>)> {
    let mut out = Vec::with_capacity(if_rows.len());
    for (index, v) in if_rows {
        let [idx] = index[..] else { continue };
        let x = ifx_rows.get(index);
        let xcol = |j: usize| x.and_then(|r| r.get(j)).cloned().flatten();
        let descr = text(&v[0]);
        let name = text(&xcol(0)).or_else(|| descr.clone());
        let speed = v[2].as_ref().and_then(Value::as_u64);
        let high = xcol(3).as_ref().and_then(Value::as_u64).filter(|h| *h > 0);
        // ifSpeed saturates at 4294967295; ifHighSpeed (Mb/s) is then the truth.
        let speed_bps = match (speed, high) {
            (Some(s), Some(h)) if s >= u64::from(u32::MAX) || h * 1_000_000 > s => Some(h * 1_000_000),
            (Some(s), _) => Some(s),
            (None, Some(h)) => Some(h * 1_000_000),
            (None, None) => None,
        };
        let in_c = counter(&xcol(1)).or_else(|| counter(&v[5]));
        let out_c = counter(&xcol(2)).or_else(|| counter(&v[6]));
        out.push((
            Interface {
                index: idx,
                name,
                descr,
                if_type: v[1].as_ref().and_then(Value::as_i64).and_then(|t| u32::try_from(t).ok()),
                mac: v[3].as_ref().and_then(Value::as_mac).filter(usable_mac),
                speed_bps,
                oper_up: v[4].as_ref().and_then(Value::as_i64).map(|s| s == 1),
                in_bps: None,
                out_bps: None,
            },
            in_c,
            out_c,
        ));
    }
    out
}

/// ARP entries from ipNetToMediaTable ([`ARP_MEDIA`]) or ipNetToPhysicalTable
/// ([`ARP_PHYSICAL`]); unusable MACs skipped, duplicates removed.
pub fn arp(rows: &Rows) -> Vec<(IpAddr, Mac)> {
    let mut out: Vec<(IpAddr, Mac)> = Vec::new();
    for (index, v) in rows {
        let Some(mac) = v[0].as_ref().and_then(Value::as_mac).filter(usable_mac) else { continue };
        let ip = match index[..] {
            // ipNetToMediaTable: ifIndex.a.b.c.d
            [_, a, b, c, d] => octets4(&[a, b, c, d]).map(IpAddr::V4),
            // ipNetToPhysicalTable: ifIndex.1.4.a.b.c.d / ifIndex.2.16.<16 octets>
            [_, 1, 4, ref rest @ ..] if rest.len() == 4 => octets4(rest).map(IpAddr::V4),
            [_, 2, 16, ref rest @ ..] if rest.len() == 16 => {
                let mut o = [0u8; 16];
                rest.iter()
                    .zip(o.iter_mut())
                    .try_for_each(|(a, b)| u8::try_from(*a).map(|x| *b = x).ok())
                    .map(|_| IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => None,
        };
        if let Some(ip) = ip
            && !out.contains(&(ip, mac))
        {
            out.push((ip, mac));
        }
    }
    out
}

fn octets4(a: &[u32]) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::new(
        u8::try_from(a[0]).ok()?,
        u8::try_from(a[1]).ok()?,
        u8::try_from(a[2]).ok()?,
        u8::try_from(a[3]).ok()?,
    ))
}

/// Forwarding-table entries from a [`BRIDGE`] walk: `(MAC, ifIndex)` when
/// dot1dBasePortIfIndex maps the bridge port, else `(MAC, bridge port)`.
/// Entries the switch marks `self` (its own MACs) and port 0 are skipped.
pub fn bridge(rows: &Rows) -> Vec<(Mac, u32)> {
    let port_if = |port: u32| -> u32 {
        rows.get(&vec![port])
            .and_then(|v| v[2].as_ref())
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())
            .filter(|i| *i > 0)
            .unwrap_or(port)
    };
    let mut out: Vec<(Mac, u32)> = Vec::new();
    for (index, v) in rows {
        let (mac_arcs, port) = match (&v[0], &v[3]) {
            (Some(p), _) if index.len() == 6 => (&index[..], p),
            (_, Some(p)) if index.len() == 7 => (&index[1..], p),
            _ => continue,
        };
        if v[1].as_ref().and_then(Value::as_i64) == Some(4) {
            continue; // self
        }
        let (Some(mac), Some(port)) =
            (super::mac_from_arcs(mac_arcs), port.as_u64().and_then(|p| u32::try_from(p).ok()))
        else {
            continue;
        };
        if port == 0 || !usable_mac(&mac) || out.iter().any(|(m, _)| *m == mac) {
            continue;
        }
        out.push((mac, port_if(port)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, mib, walk};
    use super::*;

    #[test]
    fn m5_interfaces_from_the_real_recording() {
        let m = fixture("ubiquiti-m5");
        let ifs = interfaces(&walk(&m, IF_TABLE), &walk(&m, IFX_TABLE));
        let names: Vec<&str> = ifs.iter().map(|(i, _, _)| i.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["lo", "eth0", "eth1", "wifi0", "ath0", "eth0.40", "ath0.40", "br0", "br1"]);
        let eth0 = &ifs[1].0;
        assert_eq!(
            (eth0.index, eth0.if_type, eth0.speed_bps, eth0.oper_up),
            (2, Some(6), Some(100_000_000), Some(true))
        );
        assert_eq!(eth0.mac, Some([0x04, 0x18, 0xd6, 0x2b, 0x0a, 0x92]));
        assert_eq!(ifs[0].0.mac, None, "lo has an empty ifPhysAddress");
        assert_eq!(ifs[2].0.oper_up, Some(false));
        assert_eq!(ifs[1].1, Some(Reading { value: 1_694_564_523, width: Width::C32 }), "no ifXTable: 32-bit");
    }

    #[test]
    fn hc_counters_and_high_speed_win() {
        let m = mib("
            1.3.6.1.2.1.2.2.1.2.1|4|sfp1
            1.3.6.1.2.1.2.2.1.5.1|66|4294967295
            1.3.6.1.2.1.2.2.1.10.1|65|5
            1.3.6.1.2.1.31.1.1.1.1.1|4|xe-0/0/1
            1.3.6.1.2.1.31.1.1.1.6.1|70|12345678901234
            1.3.6.1.2.1.31.1.1.1.15.1|66|10000
        ");
        let ifs = interfaces(&walk(&m, IF_TABLE), &walk(&m, IFX_TABLE));
        assert_eq!(ifs[0].0.name.as_deref(), Some("xe-0/0/1"));
        assert_eq!(ifs[0].0.descr.as_deref(), Some("sfp1"));
        assert_eq!(ifs[0].0.speed_bps, Some(10_000_000_000));
        assert_eq!(ifs[0].1, Some(Reading { value: 12_345_678_901_234, width: Width::C64 }));
        assert_eq!(ifs[0].2, None);
    }

    #[test]
    fn switch_recording_bridge_and_arp() {
        let m = fixture("switch");
        let fdb = bridge(&walk(&m, BRIDGE));
        // 27 entries in dot1dTpFdbTable; dot1qTpFdbTable has one MAC more (29 rows, 2 duplicates).
        assert_eq!(fdb.len(), 28);
        assert_eq!(fdb.iter().filter(|(m, _)| m[0] == 0x00 && m[1] == 0x25).count(), 2);
        assert!(fdb.contains(&([0x00, 0x23, 0x24, 0x93, 0xc4, 0xc7], fdb[0].1)));
        let a = arp(&walk(&m, ARP_MEDIA));
        assert_eq!(a.len(), 2, "two of the four entries are broadcast");
        let id = super::super::tests::run(&PROFILE, &m).identity;
        assert_eq!(id.vendor.as_deref(), Some("D-Link"));
        assert_eq!(id.model.as_deref(), Some("DES-3028"));
        assert_eq!(id.kind, DeviceKind::Switch, "a bridge table and sysServices 3");
    }

    #[test]
    fn bridge_port_maps_to_ifindex_and_self_is_skipped() {
        let m = mib("
            1.3.6.1.2.1.17.1.4.1.2.1|2|101
            1.3.6.1.2.1.17.4.3.1.2.0.35.36.147.196.199|2|1
            1.3.6.1.2.1.17.4.3.1.2.0.35.36.147.196.200|2|7
            1.3.6.1.2.1.17.4.3.1.2.0.35.36.147.196.201|2|0
            1.3.6.1.2.1.17.4.3.1.3.0.35.36.147.196.200|2|4
            1.3.6.1.2.1.17.7.1.2.2.1.2.10.120.138.32.16.196.231|2|3
        ");
        let fdb = bridge(&walk(&m, BRIDGE));
        assert_eq!(fdb, [([0x00, 0x23, 0x24, 0x93, 0xc4, 0xc7], 101), ([0x78, 0x8a, 0x20, 0x10, 0xc4, 0xe7], 3)]);
    }

    #[test]
    fn arp_physical_table() {
        let m = mib("
            1.3.6.1.2.1.4.35.1.4.2.1.4.192.168.1.1|4x|0418d62a0a92
            1.3.6.1.2.1.4.35.1.4.2.2.16.254.128.0.0.0.0.0.0.6.24.214.255.254.42.10.146|4x|0418d62a0a92
            1.3.6.1.2.1.4.35.1.4.2.1.4.192.168.1.300|4x|0418d62a0a93
        ");
        let a = arp(&walk(&m, ARP_PHYSICAL));
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, "192.168.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(a[1].0, "fe80::618:d6ff:fe2a:a92".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn services_give_the_kind() {
        assert_eq!(kind_from_services(Some(78)), DeviceKind::Router);
        assert_eq!(kind_from_services(Some(72)), DeviceKind::Host);
        assert_eq!(kind_from_services(Some(2)), DeviceKind::Switch);
        assert_eq!(kind_from_services(None), DeviceKind::Host);
    }
}
