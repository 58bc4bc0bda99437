//! Inventory by MAC (pure core): turns what the agent saw (SNMP polls,
//! station tables, ARP and bridge tables) into [`InventoryRecord`]s and sends
//! only changes. One record per (MAC, source): the controller merges sources
//! by authority, so two sources disagreeing never make the agent resend on
//! every poll.
//!
//! An AP's station table and a CPE's own "associated AP" field name the AP by
//! its wireless MAC, while the AP's own record is keyed by its base MAC;
//! [`Tracker::alias`] maps every interface MAC of a polled device to its base
//! MAC so parents resolve to one device.

use crate::snmp::DevicePoll;
use mast_shared::{DeviceKind, IfRate, InventoryRecord, InventorySource, LinkSample, Mac, SampleBody, SnmpPoll};
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Default)]
pub struct Tracker {
    sent: HashMap<(Mac, InventorySource), InventoryRecord>,
    aliases: HashMap<Mac, Mac>,
    dirty: bool,
}

impl Tracker {
    /// Restores what was sent before a restart (so a restart resends nothing
    /// unchanged). Unreadable state starts empty: the cost is one resend.
    pub fn from_json(bytes: &[u8]) -> Tracker {
        let records: Vec<InventoryRecord> = serde_json::from_slice(bytes).unwrap_or_default();
        let sent = records.into_iter().map(|r| ((r.mac, r.source), r)).collect();
        Tracker { sent, aliases: HashMap::new(), dirty: false }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut records: Vec<&InventoryRecord> = self.sent.values().collect();
        records.sort_by_key(|r| (r.mac, r.source as u8));
        serde_json::to_vec(&records).unwrap_or_default()
    }

    /// Whether anything changed since the last [`Tracker::take_dirty`].
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// `iface` (any interface MAC of a device) belongs to the device `base`.
    pub fn alias(&mut self, iface: Mac, base: Mac) {
        if iface != base && iface != [0; 6] {
            self.aliases.insert(iface, base);
        }
    }

    pub fn resolve(&self, mac: Mac) -> Mac {
        self.aliases.get(&mac).copied().unwrap_or(mac)
    }

    /// Returns the record to send if it is new or differs from what was last
    /// sent for this MAC and source. Parents are resolved through aliases;
    /// a record never names itself as its parent.
    pub fn observe(&mut self, mut rec: InventoryRecord) -> Option<InventoryRecord> {
        if !usable_mac(&rec.mac) {
            return None;
        }
        rec.parent = rec.parent.map(|p| self.resolve(p)).filter(|p| *p != rec.mac && usable_mac(p));
        let key = (rec.mac, rec.source);
        if self.sent.get(&key) == Some(&rec) {
            return None;
        }
        self.sent.insert(key, rec.clone());
        self.dirty = true;
        Some(rec)
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

/// What one SNMP poll tells the rest of the agent.
#[derive(Debug, Default)]
pub struct Observation {
    /// Interface MAC → base MAC of the polled device.
    pub aliases: Vec<(Mac, Mac)>,
    /// Samples to spool: the poll itself, station signals, interface rates.
    pub samples: Vec<SampleBody>,
    /// Inventory records (the tracker decides which are changes).
    pub records: Vec<InventoryRecord>,
    /// CPE addresses from station tables, to be pinged.
    pub station_ips: Vec<IpAddr>,
}

/// Turns an SNMP poll into samples and inventory records (pure).
pub fn observe_poll(poll: &DevicePoll) -> Observation {
    let ip = poll.target.ip();
    let mut o = Observation::default();
    let id = poll.identity.as_ref();
    o.samples.push(SampleBody::Snmp(SnmpPoll {
        target: ip,
        outcome: poll.outcome,
        uptime_s: id.and_then(|i| i.uptime_s),
        rebooted: id.is_some_and(|i| i.rebooted),
        duration_ms: poll.duration.as_millis().min(u32::MAX as u128) as u32,
    }));
    let Some(id) = id else { return o };
    let base = id.base_mac.filter(usable_mac);
    if let Some(base) = base {
        for i in &poll.interfaces {
            if let Some(m) = i.mac.filter(usable_mac) {
                o.aliases.push((m, base));
            }
        }
        o.records.push(InventoryRecord {
            mac: base,
            ip: Some(ip),
            kind: id.kind,
            source: InventorySource::Snmp,
            vendor: id.vendor.clone(),
            model: id.model.clone(),
            firmware: id.firmware.clone(),
            serial: id.serial.clone(),
            name: id.sys_name.clone(),
            parent: poll.uplink_ap,
        });
    }
    for i in &poll.interfaces {
        if let (Some(in_bps), Some(out_bps)) = (i.in_bps, i.out_bps) {
            o.samples.push(SampleBody::IfRate(IfRate { target: ip, if_index: i.index, in_bps, out_bps }));
        }
    }
    // The device's own radios: a CPE's link to its AP, a backhaul end's to
    // its peer, an AP sector's noise, airtime and station count.
    for r in &poll.radios {
        o.samples.push(SampleBody::Link(LinkSample {
            device: ip,
            station: None,
            peer: r.peer,
            radio: r.index,
            metrics: r.link.clone(),
        }));
    }
    // A CPE's (or backhaul end's) station table lists only its AP or peer,
    // which `uplink_ap` already names; its link is in its own radio.
    let stations = if matches!(id.kind, DeviceKind::Cpe | DeviceKind::Backhaul) { &[][..] } else { &poll.stations[..] };
    for st in stations {
        if !usable_mac(&st.mac) {
            continue;
        }
        o.samples.push(SampleBody::Link(LinkSample {
            device: ip,
            station: Some(st.mac),
            peer: None,
            radio: 0,
            metrics: st.link.clone(),
        }));
        o.records.push(InventoryRecord {
            mac: st.mac,
            ip: st.ip,
            kind: DeviceKind::Cpe,
            source: InventorySource::StationTable,
            vendor: None,
            model: None,
            firmware: None,
            serial: None,
            name: st.name.clone(),
            parent: base,
        });
        if let Some(sip) = st.ip.filter(|a| !a.is_unspecified()) {
            o.station_ips.push(sip);
        }
    }
    for (nip, mac) in &poll.arp {
        if usable_mac(mac) {
            o.records.push(neighbour_record(*nip, *mac));
            // A station whose table row has no address (MikroTik's
            // registration table) is pinged at the one the AP's ARP table gives.
            if !nip.is_unspecified() && stations.iter().any(|st| st.mac == *mac && st.ip.is_none()) {
                o.station_ips.push(*nip);
            }
        }
    }
    for (mac, _port) in &poll.bridge {
        if usable_mac(mac) {
            o.records.push(InventoryRecord {
                mac: *mac,
                ip: None,
                kind: DeviceKind::Host,
                source: InventorySource::Bridge,
                vendor: None,
                model: None,
                firmware: None,
                serial: None,
                name: None,
                parent: base,
            });
        }
    }
    o
}

/// Zero, broadcast and multicast MACs identify no device.
pub fn usable_mac(mac: &Mac) -> bool {
    *mac != [0; 6] && mac[0] & 0x01 == 0
}

/// A neighbour-table entry: the agent's own `/proc/net/arp`, or a router's
/// ARP table read over SNMP.
pub fn neighbour_record(ip: IpAddr, mac: Mac) -> InventoryRecord {
    InventoryRecord {
        mac,
        ip: Some(ip),
        kind: DeviceKind::Host,
        source: InventorySource::Neighbour,
        vendor: None,
        model: None,
        firmware: None,
        serial: None,
        name: None,
        parent: None,
    }
}

/// Parses Linux's `/proc/net/arp`: complete entries only (flags 0x2 set).
pub fn parse_proc_arp(text: &str) -> Vec<(IpAddr, Mac)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [ip, _hw_type, flags, mac, ..] = cols[..] else { continue };
        let complete = u32::from_str_radix(flags.trim_start_matches("0x"), 16).is_ok_and(|f| f & 0x2 != 0);
        let (Ok(ip), Some(mac)) = (ip.parse::<IpAddr>(), mast_shared::parse_mac(mac)) else { continue };
        if complete && usable_mac(&mac) {
            out.push((ip, mac));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(mac: Mac, source: InventorySource, ip: u8, parent: Option<Mac>) -> InventoryRecord {
        InventoryRecord {
            mac,
            ip: Some(IpAddr::from([10, 0, 0, ip])),
            kind: DeviceKind::Cpe,
            source,
            vendor: None,
            model: Some("NanoStation".into()),
            firmware: None,
            serial: None,
            name: None,
            parent,
        }
    }

    #[test]
    fn only_changes_are_sent_and_sources_do_not_fight() {
        let mut t = Tracker::default();
        let cpe = [0x24, 0xa4, 0x3c, 0, 0, 1];
        assert!(t.observe(rec(cpe, InventorySource::StationTable, 7, None)).is_some());
        assert!(t.observe(rec(cpe, InventorySource::StationTable, 7, None)).is_none());
        // Another source with another view: sent once, then quiet, alternating forever.
        assert!(t.observe(rec(cpe, InventorySource::Neighbour, 8, None)).is_some());
        for _ in 0..3 {
            assert!(t.observe(rec(cpe, InventorySource::StationTable, 7, None)).is_none());
            assert!(t.observe(rec(cpe, InventorySource::Neighbour, 8, None)).is_none());
        }
        assert!(t.observe(rec(cpe, InventorySource::StationTable, 9, None)).is_some(), "IP change is sent");
        assert!(t.take_dirty());
        assert!(!t.take_dirty());
    }

    #[test]
    fn parents_resolve_through_aliases_and_never_self() {
        let mut t = Tracker::default();
        let ap_base = [0x24, 0xa4, 0x3c, 0, 0, 0x10];
        let ap_wlan = [0x26, 0xa4, 0x3c, 0, 0, 0x10];
        t.alias(ap_wlan, ap_base);
        let cpe = [0x24, 0xa4, 0x3c, 0, 0, 1];
        let sent = t.observe(rec(cpe, InventorySource::Snmp, 7, Some(ap_wlan))).unwrap();
        assert_eq!(sent.parent, Some(ap_base));
        let own = t.observe(rec(ap_base, InventorySource::Snmp, 2, Some(ap_wlan))).unwrap();
        assert_eq!(own.parent, None);
    }

    #[test]
    fn state_survives_a_restart() {
        let mut t = Tracker::default();
        let cpe = [0x24, 0xa4, 0x3c, 0, 0, 1];
        t.observe(rec(cpe, InventorySource::StationTable, 7, None));
        let mut back = Tracker::from_json(&t.to_json());
        assert_eq!(back.len(), 1);
        assert!(back.observe(rec(cpe, InventorySource::StationTable, 7, None)).is_none());
        assert!(Tracker::from_json(b"{garbage").is_empty());
    }

    #[test]
    fn stations_are_pinged_at_their_table_address_or_else_the_aps_arp_entry() {
        let (a, b, c) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 3]);
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        let poll = DevicePoll {
            identity: Some(crate::snmp::Identity {
                sys_descr: None,
                sys_object_id: None,
                sys_name: None,
                uptime_s: None,
                rebooted: false,
                vendor: None,
                model: None,
                firmware: None,
                serial: None,
                kind: DeviceKind::AccessPoint,
                base_mac: Some([2, 0, 0, 0, 0, 0x10]),
                profile: "mikrotik",
            }),
            outcome: mast_shared::msg::SnmpOutcome::Ok,
            error: None,
            stations: vec![
                crate::snmp::Station { mac: a, ip: Some(ip(1)), ..Default::default() },
                crate::snmp::Station { mac: b, ip: None, ..Default::default() },
            ],
            // b is a station without an address; c is not a station at all.
            arp: vec![(ip(9), a), (ip(2), b), (ip(3), c)],
            ..DevicePoll::failed("127.0.0.1:161".parse().unwrap(), &crate::snmp::SnmpError::Timeout, Default::default())
        };
        let o = observe_poll(&poll);
        assert_eq!(o.station_ips, vec![ip(1), ip(2)]);
    }

    #[test]
    fn proc_arp_parses_complete_entries_only() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    10.0.0.7         0x1         0x2         24:a4:3c:00:00:01     *        eth0\n\
                    10.0.0.8         0x1         0x0         00:00:00:00:00:00     *        eth0\n\
                    10.0.0.9         0x1         0x6         04:18:d6:00:00:02     *        eth0\n\
                    garbage line\n\
                    10.0.0.10        0x1         0x2         ff:ff:ff:ff:ff:ff     *        eth0\n";
        let got = parse_proc_arp(text);
        assert_eq!(
            got,
            vec![
                ("10.0.0.7".parse().unwrap(), [0x24, 0xa4, 0x3c, 0, 0, 1]),
                ("10.0.0.9".parse().unwrap(), [0x04, 0x18, 0xd6, 0, 0, 2])
            ]
        );
    }

    proptest! {
        /// Observing the same sequence twice sends nothing the second time,
        /// and what is sent last for a key is what the tracker holds.
        #[test]
        fn replaying_observations_sends_nothing(obs in proptest::collection::vec((0u8..6, 0u8..3, 0u8..4), 0..64)) {
            let sources = [InventorySource::Snmp, InventorySource::StationTable, InventorySource::Neighbour];
            let mk = |(m, s, ip): (u8, u8, u8)| rec([0x24, 0xa4, 0x3c, 0, 0, m + 1], sources[s as usize], ip, None);
            let mut t = Tracker::default();
            for o in &obs { t.observe(mk(*o)); }
            let mut last: HashMap<(Mac, InventorySource), InventoryRecord> = HashMap::new();
            for o in &obs { let r = mk(*o); last.insert((r.mac, r.source), r); }
            for r in last.values() {
                prop_assert!(t.observe(r.clone()).is_none());
            }
        }
    }
}
