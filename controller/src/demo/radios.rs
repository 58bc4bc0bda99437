//! The demo's simulated radios (pure: no socket, no clock; time is an
//! argument). **A demo device source only**: `mast-controller demo` serves
//! these over real SNMP on loopback so its real agents have something to
//! poll; `serve` never uses them.
//!
//! Each tower has access points of the three vendor families Mast's agent
//! has profiles for (Ubiquiti airMAX, MikroTik, Cambium ePMP), each with
//! customer radios (CPEs) in its station table whose signal drifts slowly.
//! Every object served is one the agent's profile reads, at the OID, type
//! and unit its vendor's MIB gives (see `agent/src/snmp/profiles/`):
//! - airMAX: UBNT-AirMAX-MIB `ubntRadioMode`, `ubntRadioFreq`,
//!   `ubntRadioTxPower`, `ubntWlStatApMac`, noise floor, channel width and
//!   station count, `ubntAirMaxAirtime`, `ubntStaTable` (name, signal dBm,
//!   noise dBm, distance m, CCQ %, last IP, rates kbit/s, CINR dB, capacity
//!   kbit/s) and IEEE 802.11 MIB product name/version;
//! - MikroTik: MIKROTIK-MIB `mtxrBoardName`, `mtxrLicVersion`,
//!   `mtxrSerialNumber`, `mtxrWlApBssid`, `mtxrWlRtabTable` (strength dBm,
//!   rates bit/s, radio name), plus the AP's IP-MIB ARP table (its
//!   registration table has no IP column);
//! - Cambium ePMP: CAMBIUM-PMP80211-MIB software/serial/MAC scalars,
//!   `wirelessInterfaceMode`, `cambiumAPConnectedSTATable` (MAC text, RSSI
//!   dBm, IP, host name, quality %, rate Mbit/s as text);
//! - every AP: the MIB-II system group and ifTable (octet counters that grow
//!   with a plausible load).
//!
//! MACs are locally administered (`02:…` / `06:…`, never a vendor's OUI), so
//! demo data can never be mistaken for a real device.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// An SNMP value as the responder encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Int(i64),
    Str(Vec<u8>),
    Oid(Vec<u32>),
    Ip([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    Ticks(u32),
}

/// A device's objects, in OID order (what GETNEXT walks).
pub type Mib = BTreeMap<Vec<u32>, Val>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    AirMax,
    MikroTik,
    Cambium,
}

/// A simulated customer radio.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpe {
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub name: String,
    /// Signal around which the reading drifts, dBm.
    pub base_signal: i16,
    pub distance_m: u32,
}

/// A simulated access point.
#[derive(Debug, Clone, PartialEq)]
pub struct Ap {
    pub vendor: Vendor,
    pub name: String,
    /// Where its SNMP responder listens (one loopback address per AP).
    pub addr: Ipv4Addr,
    pub eth_mac: [u8; 6],
    pub wl_mac: [u8; 6],
    pub cpes: Vec<Cpe>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tower {
    /// The site it stands on.
    pub site: String,
    /// How people call it ("North Ridge" for `demo-north-ridge`).
    pub label: String,
    pub lat: f64,
    pub lon: f64,
    /// The tower's router, pinged by the agent.
    pub router: Ipv4Addr,
    pub aps: Vec<Ap>,
}

const CPE_NAMES: &[&str] = &[
    "johnson",
    "garcia",
    "okafor",
    "lindqvist",
    "novak",
    "tanaka",
    "moreau",
    "schmidt",
    "rossi",
    "kowalski",
    "nguyen",
    "fischer",
    "haddad",
    "murphy",
    "silva",
    "jensen",
];
/// CPEs under each AP.
pub const CPES_PER_AP: usize = 6;
/// APs on each tower.
pub const APS_PER_TOWER: usize = 2;

/// The demo network on `sites` (name, latitude, longitude), deterministic:
/// the same MACs and addresses every run, so a restarted demo finds its
/// devices again. At most 250 towers.
pub fn network(sites: &[(&str, f64, f64)]) -> Vec<Tower> {
    let vendors = [Vendor::AirMax, Vendor::MikroTik, Vendor::Cambium];
    sites
        .iter()
        .take(250)
        .enumerate()
        .map(|(t, (site, lat, lon))| {
            let slug = site.strip_prefix("demo-").unwrap_or(site);
            let label = slug
                .split('-')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" ");
            let tn = (t + 1) as u8;
            let aps = (0..APS_PER_TOWER)
                .map(|a| {
                    let vendor = vendors[(t * APS_PER_TOWER + a) % vendors.len()];
                    let an = (a + 1) as u8;
                    let sector = ["north", "south", "east", "west"][a % 4];
                    let cpes = (0..CPES_PER_AP)
                        .map(|c| {
                            let k = t * APS_PER_TOWER * CPES_PER_AP + a * CPES_PER_AP + c;
                            Cpe {
                                mac: [0x06, 0x4d, 0x41, tn, an, (c + 1) as u8],
                                // Loopback, so the agent's pings of station-table
                                // addresses are answered (and never leave the machine).
                                ip: Ipv4Addr::new(127, 78, tn, an * 16 + c as u8 + 1),
                                name: format!("cpe-{}", CPE_NAMES[k % CPE_NAMES.len()]),
                                base_signal: -52 - ((k * 7) % 22) as i16,
                                distance_m: 400 + ((k * 613) % 6000) as u32,
                            }
                        })
                        .collect();
                    Ap {
                        vendor,
                        name: format!("{slug}-ap-{sector}"),
                        addr: Ipv4Addr::new(127, 77, tn, an),
                        eth_mac: [0x02, 0x4d, 0x41, tn, an, 0x01],
                        wl_mac: [0x02, 0x4d, 0x41, tn, an, 0x02],
                        cpes,
                    }
                })
                .collect();
            Tower { site: site.to_string(), label, lat: *lat, lon: *lon, router: Ipv4Addr::new(127, 77, tn, 254), aps }
        })
        .collect()
}

/// When a tower loses its backhaul: the first outage `after_ms` after the
/// demo started, lasting `for_ms`, then one every `every_ms`, each on the
/// next tower in turn (a different root each time, so every outage is a
/// fresh incident).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub start_ms: i64,
    pub after_ms: i64,
    pub every_ms: i64,
    pub for_ms: i64,
}

impl Schedule {
    /// The index of the tower cut off at `now` (of `towers`), if any.
    pub fn silent(&self, now_ms: i64, towers: usize) -> Option<usize> {
        let t = now_ms - self.start_ms - self.after_ms;
        if t < 0 || towers == 0 || self.every_ms <= 0 || self.for_ms <= 0 {
            return None;
        }
        let cycle = t / self.every_ms;
        (t % self.every_ms < self.for_ms).then_some((cycle as usize) % towers)
    }
}

/// A smooth, deterministic wobble in [-1, 1] for `seed` at `t_ms` (period
/// `period_ms`), plus a small step every poll so charts are not too clean.
fn wobble(seed: u32, t_ms: i64, period_ms: i64) -> f64 {
    let phase = f64::from(seed % 360).to_radians();
    let x = (t_ms as f64 / period_ms as f64) * std::f64::consts::TAU + phase;
    let step = ((t_ms / 10_000) as u64).wrapping_mul(0x9e37_79b9).wrapping_add(u64::from(seed)) % 7;
    0.8 * x.sin() + 0.2 * (step as f64 / 3.0 - 1.0)
}

fn seed_of(mac: &[u8; 6]) -> u32 {
    mac.iter().fold(17u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)))
}

impl Cpe {
    /// The signal the AP reports at `t_ms`, dBm (drifts ±4 dB over 10 minutes).
    pub fn signal_at(&self, t_ms: i64) -> i16 {
        self.base_signal + (4.0 * wobble(seed_of(&self.mac), t_ms, 600_000)).round() as i16
    }
    /// Link quality (CCQ-like), percent.
    pub fn quality_at(&self, t_ms: i64) -> u8 {
        let s = i32::from(self.signal_at(t_ms));
        (100 - (-(s + 50)).max(0) * 2).clamp(40, 99) as u8
    }
    /// PHY rate, kbit/s: better signal, faster link.
    pub fn rate_kbps(&self, t_ms: i64) -> u32 {
        let s = i32::from(self.signal_at(t_ms));
        (450 - (-(s + 50)).max(0) * 15).clamp(39, 450) as u32 * 1000
    }
}

fn arcs(prefix: &[u32], rest: &[u32]) -> Vec<u32> {
    let mut v = Vec::with_capacity(prefix.len() + rest.len());
    v.extend_from_slice(prefix);
    v.extend_from_slice(rest);
    v
}

fn mac_arcs(m: &[u8; 6]) -> [u32; 6] {
    m.map(u32::from)
}

fn mac_text(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn text(s: &str) -> Val {
    Val::Str(s.as_bytes().to_vec())
}

const SYSTEM: &[u32] = &[1, 3, 6, 1, 2, 1, 1];
const IF_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1];
const ARP_PHYS: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 22, 1, 2];
/// ifIndex of the wireless interface.
const WLAN_IF: u32 = 5;

impl Ap {
    /// Everything the AP serves at `now_ms`, having booted at `boot_ms`.
    pub fn mib(&self, now_ms: i64, boot_ms: i64) -> Mib {
        let mut m = Mib::new();
        let (descr, object_id): (String, &[u32]) = match self.vendor {
            Vendor::AirMax => ("Linux 4.14.0 #1 SMP airOS 8.7.11 (demo)".into(), &[1, 3, 6, 1, 4, 1, 41112, 1, 4]),
            Vendor::MikroTik => ("RouterOS RB921GS-5HPacD".into(), &[1, 3, 6, 1, 4, 1, 14988, 1]),
            Vendor::Cambium => ("Cambium Networks ePMP 3000 AP".into(), &[1, 3, 6, 1, 4, 1, 17713, 21]),
        };
        let uptime = ((now_ms - boot_ms).max(0) / 10) as u32;
        m.insert(arcs(SYSTEM, &[1, 0]), text(&descr));
        m.insert(arcs(SYSTEM, &[2, 0]), Val::Oid(object_id.to_vec()));
        m.insert(arcs(SYSTEM, &[3, 0]), Val::Ticks(uptime));
        m.insert(arcs(SYSTEM, &[5, 0]), text(&self.name));
        m.insert(arcs(SYSTEM, &[7, 0]), Val::Int(2));
        // ifTable: eth0 (1) and the radio (5), counters growing with the load.
        let secs = (now_ms - boot_ms).max(0) as f64 / 1000.0;
        let load = |mbps: f64, seed: u32| -> u32 {
            let bytes = mbps * 125_000.0 * secs + 40_000_000.0 * wobble(seed, now_ms, 900_000);
            (bytes.max(0.0) as u64 & 0xffff_ffff) as u32
        };
        let ifs: [(u32, &str, i64, u32, [u8; 6]); 2] =
            [(1, "eth0", 6, 1_000_000_000, self.eth_mac), (WLAN_IF, "wlan0", 71, 300_000_000, self.wl_mac)];
        for (idx, name, ty, speed, mac) in ifs {
            let seed = seed_of(&mac);
            m.insert(arcs(IF_ENTRY, &[2, idx]), text(name));
            m.insert(arcs(IF_ENTRY, &[3, idx]), Val::Int(ty));
            m.insert(arcs(IF_ENTRY, &[5, idx]), Val::Gauge32(speed));
            m.insert(arcs(IF_ENTRY, &[6, idx]), Val::Str(mac.to_vec()));
            m.insert(arcs(IF_ENTRY, &[8, idx]), Val::Int(1));
            m.insert(arcs(IF_ENTRY, &[10, idx]), Val::Counter32(load(38.0, seed)));
            m.insert(arcs(IF_ENTRY, &[16, idx]), Val::Counter32(load(9.0, seed ^ 0x55)));
        }
        match self.vendor {
            Vendor::AirMax => self.airmax(&mut m, now_ms),
            Vendor::MikroTik => self.mikrotik(&mut m, now_ms),
            Vendor::Cambium => self.cambium(&mut m, now_ms),
        }
        m
    }

    fn airmax(&self, m: &mut Mib, t: i64) {
        const UBNT: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 4];
        m.insert(arcs(&[1, 2, 840, 10036, 3, 1, 2, 1, 3], &[WLAN_IF]), text("Rocket 5AC Prism"));
        m.insert(arcs(&[1, 2, 840, 10036, 3, 1, 2, 1, 4], &[WLAN_IF]), text("XC.qca955x.v8.7.11.46972.220614.0420"));
        m.insert(arcs(UBNT, &[1, 1, 2, 1]), Val::Int(2)); // ubntRadioMode: ap(2)
        // The sector's radio: ubntRadioFreq (MHz), ubntRadioTxPower (dBm);
        // ubntWlStatNoiseFloor (dBm), ChanWidth (MHz), StaCount; airtime
        // (ubntAirMaxAirtime, % x 10).
        let noise = -95 + (2.0 * wobble(seed_of(&self.wl_mac), t, 1_800_000)).round() as i64;
        m.insert(arcs(UBNT, &[1, 1, 4, 1]), Val::Int(5_660 + 20 * i64::from(self.wl_mac[4])));
        m.insert(arcs(UBNT, &[1, 1, 6, 1]), Val::Int(24));
        m.insert(arcs(UBNT, &[5, 1, 4, 1]), Val::Str(self.wl_mac.to_vec())); // ubntWlStatApMac
        m.insert(arcs(UBNT, &[5, 1, 8, 1]), Val::Int(noise));
        m.insert(arcs(UBNT, &[5, 1, 14, 1]), Val::Int(40));
        m.insert(arcs(UBNT, &[5, 1, 15, 1]), Val::Int(self.cpes.len() as i64));
        m.insert(
            arcs(UBNT, &[6, 1, 7, 1]),
            Val::Int(300 + (120.0 * wobble(seed_of(&self.eth_mac), t, 900_000)) as i64),
        );
        for c in &self.cpes {
            let idx = |col: u32| {
                let mut v = arcs(UBNT, &[7, 1, col, 1]);
                v.extend_from_slice(&mac_arcs(&c.mac));
                v
            };
            m.insert(idx(2), text(&c.name));
            m.insert(idx(3), Val::Int(c.signal_at(t).into()));
            m.insert(idx(5), Val::Int(c.distance_m.into()));
            m.insert(idx(6), Val::Int(c.quality_at(t).into()));
            m.insert(idx(10), Val::Ip(c.ip.octets()));
            m.insert(idx(11), Val::Int(c.rate_kbps(t).into()));
            m.insert(idx(12), Val::Int((c.rate_kbps(t) * 4 / 5).into()));
            // ubntStaNoiseFloor, ubntStaLocalCINR (dB), tx/rx capacity (kbit/s).
            m.insert(idx(4), Val::Int(noise));
            m.insert(idx(16), Val::Int(i64::from(c.signal_at(t)) - noise));
            m.insert(idx(17), Val::Int((c.rate_kbps(t) * 7 / 10).into()));
            m.insert(idx(18), Val::Int((c.rate_kbps(t) * 6 / 10).into()));
        }
    }

    fn mikrotik(&self, m: &mut Mib, t: i64) {
        const MT: &[u32] = &[1, 3, 6, 1, 4, 1, 14988, 1, 1];
        m.insert(arcs(MT, &[7, 9, 0]), text("RB921GS-5HPacD r2"));
        m.insert(arcs(MT, &[4, 4, 0]), text("7.14.3"));
        m.insert(arcs(MT, &[7, 4, 0]), text("7.14.3"));
        m.insert(arcs(MT, &[7, 3, 0]), text(&format!("HD{:02X}{:02X}DEMO", self.wl_mac[3], self.wl_mac[4])));
        m.insert(arcs(MT, &[1, 3, 1, 5, WLAN_IF]), Val::Str(self.wl_mac.to_vec())); // mtxrWlApBssid
        for c in &self.cpes {
            let idx = |col: u32| {
                let mut v = arcs(MT, &[1, 2, 1, col]);
                v.extend_from_slice(&mac_arcs(&c.mac));
                v.push(WLAN_IF);
                v
            };
            m.insert(idx(3), Val::Int(c.signal_at(t).into()));
            m.insert(idx(8), Val::Gauge32(c.rate_kbps(t) * 1000));
            m.insert(idx(9), Val::Gauge32(c.rate_kbps(t) * 800));
            m.insert(idx(20), text(&c.name));
            // ipNetToMediaPhysAddress.<ifIndex>.<ip>
            let mut arp = arcs(ARP_PHYS, &[WLAN_IF]);
            arp.extend(c.ip.octets().map(u32::from));
            m.insert(arp, Val::Str(c.mac.to_vec()));
        }
    }

    fn cambium(&self, m: &mut Mib, t: i64) {
        const CN: &[u32] = &[1, 3, 6, 1, 4, 1, 17713, 21];
        m.insert(arcs(CN, &[1, 1, 1, 0]), text("4.7.0.1"));
        m.insert(arcs(CN, &[1, 1, 5, 0]), text(&mac_text(&self.wl_mac)));
        m.insert(arcs(CN, &[1, 1, 17, 0]), text("4.7.0.1"));
        m.insert(arcs(CN, &[1, 1, 31, 0]), text(&format!("E3K{:02X}{:02X}DEMO", self.wl_mac[3], self.wl_mac[4])));
        m.insert(arcs(CN, &[3, 8, 2, 1, 0]), Val::Int(1)); // wirelessInterfaceMode: ap(1)
        for (i, c) in self.cpes.iter().enumerate() {
            let idx = |col: u32| arcs(CN, &[1, 2, 30, 1, col, i as u32 + 1]);
            m.insert(idx(1), text(&mac_text(&c.mac)));
            m.insert(idx(4), Val::Int(c.signal_at(t).into()));
            m.insert(idx(10), Val::Ip(c.ip.octets()));
            m.insert(idx(18), text(&c.name));
            m.insert(idx(20), Val::Int(c.quality_at(t).into()));
            m.insert(idx(28), text(&format!("{:.1}", f64::from(c.rate_kbps(t)) / 1000.0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITES: &[(&str, f64, f64)] =
        &[("demo-north-ridge", 44.5, -89.5), ("demo-lake-road", 44.4, -89.4), ("c", 0.0, 0.0), ("d", 1.0, 1.0)];

    #[test]
    fn network_is_deterministic_with_distinct_addresses_and_macs() {
        let a = network(SITES);
        assert_eq!(a, network(SITES));
        assert_eq!((a[0].site.as_str(), a[0].label.as_str()), ("demo-north-ridge", "North Ridge"));
        assert_eq!(a[0].aps[0].name, "north-ridge-ap-north");
        let aps: Vec<&Ap> = a.iter().flat_map(|t| &t.aps).collect();
        assert_eq!(aps.len(), 4 * APS_PER_TOWER);
        let mut addrs: Vec<Ipv4Addr> = aps.iter().map(|a| a.addr).collect();
        addrs.extend(a.iter().map(|t| t.router));
        let n = addrs.len();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), n, "one loopback address per AP and router");
        let mut macs: Vec<[u8; 6]> = aps.iter().flat_map(|a| a.cpes.iter().map(|c| c.mac)).collect();
        macs.extend(aps.iter().flat_map(|a| [a.eth_mac, a.wl_mac]));
        let n = macs.len();
        macs.sort();
        macs.dedup();
        assert_eq!(macs.len(), n);
        assert!(macs.iter().all(|m| m[0] & 0x02 != 0 && m[0] & 0x01 == 0), "locally administered unicast");
        let cpe_ips: std::collections::HashSet<Ipv4Addr> =
            aps.iter().flat_map(|a| a.cpes.iter().map(|c| c.ip)).collect();
        assert_eq!(cpe_ips.len(), aps.len() * CPES_PER_AP);
        assert!(cpe_ips.iter().all(|ip| ip.is_loopback()), "pings of CPEs stay on the machine");
        let vendors: std::collections::HashSet<_> = aps.iter().map(|a| format!("{:?}", a.vendor)).collect();
        assert_eq!(vendors.len(), 3, "every vendor family appears");
    }

    #[test]
    fn signal_drifts_within_bounds() {
        let cpe = &network(SITES)[0].aps[0].cpes[0];
        let readings: Vec<i16> = (0..120).map(|i| cpe.signal_at(i * 10_000)).collect();
        assert!(readings.iter().all(|s| (cpe.base_signal - 5..=cpe.base_signal + 5).contains(s)));
        let (lo, hi) = (readings.iter().min().unwrap(), readings.iter().max().unwrap());
        assert!(hi - lo >= 3, "the signal moves: {lo}..{hi}");
        assert!((40..=99).contains(&cpe.quality_at(0)));
    }

    #[test]
    fn schedule_cuts_one_tower_at_a_time_in_turn() {
        let s = Schedule { start_ms: 1_000, after_ms: 60_000, every_ms: 900_000, for_ms: 180_000 };
        assert_eq!(s.silent(1_000 + 59_999, 4), None);
        assert_eq!(s.silent(1_000 + 60_000, 4), Some(0));
        assert_eq!(s.silent(1_000 + 60_000 + 179_999, 4), Some(0));
        assert_eq!(s.silent(1_000 + 60_000 + 180_000, 4), None);
        assert_eq!(s.silent(1_000 + 60_000 + 900_000, 4), Some(1));
        assert_eq!(s.silent(1_000 + 60_000 + 4 * 900_000, 4), Some(0));
        assert_eq!(s.silent(1_000 + 60_000, 0), None);
        assert_eq!(Schedule { every_ms: 0, ..s }.silent(1_000 + 60_000, 4), None);
    }

    #[test]
    fn each_vendor_serves_what_its_profile_reads() {
        let towers = network(&SITES[..2]);
        let aps: Vec<&Ap> = towers.iter().flat_map(|t| &t.aps).collect();
        for ap in aps {
            let m = ap.mib(1_000_000, 0);
            assert_eq!(m.get(&[1, 3, 6, 1, 2, 1, 1, 5, 0][..]), Some(&text(&ap.name)));
            assert_eq!(m.get(&[1, 3, 6, 1, 2, 1, 1, 3, 0][..]), Some(&Val::Ticks(100_000)));
            let macs_listed = ap
                .cpes
                .iter()
                .filter(|c| {
                    m.iter().any(|(k, v)| {
                        k.ends_with(&mac_arcs(&c.mac))
                            || k.windows(7).any(|w| w[..6] == mac_arcs(&c.mac) && w[6] == WLAN_IF)
                            || *v == text(&mac_text(&c.mac))
                    })
                })
                .count();
            assert_eq!(macs_listed, CPES_PER_AP, "{:?} lists its CPEs", ap.vendor);
        }
    }
}
