//! Discovery: the site's configured subnets are swept on a slow schedule
//! (ping every address, then an SNMP identify of those that answer, trying
//! the site's credentials in order), and the agent's own neighbour table
//! supplies MACs of ping-only devices on its LAN.
//!
//! [`hosts`] is the pure part: which addresses a subnet sweep covers.

use mast_shared::Subnet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most addresses one subnet sweep covers (a /20).
pub const MAX_HOSTS: u32 = 4096;

/// The host addresses of a subnet: for IPv4 without the network and
/// broadcast addresses (except /31 and /32), capped at [`MAX_HOSTS`].
pub fn hosts(s: &Subnet) -> Vec<IpAddr> {
    match s.addr {
        IpAddr::V4(a) => {
            let prefix = u32::from(s.prefix.min(32));
            let size: u64 = 1u64 << (32 - prefix);
            let base = u32::from(a) & u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            let (first, count) = if size <= 2 { (0, size) } else { (1, size - 2) };
            (0..count.min(u64::from(MAX_HOSTS)))
                .map(|i| IpAddr::V4(Ipv4Addr::from(base.wrapping_add((first + i) as u32))))
                .collect()
        }
        IpAddr::V6(a) => {
            let prefix = u32::from(s.prefix.min(128));
            let bits = 128 - prefix;
            let size: u128 = if bits >= 128 { u128::MAX } else { 1u128 << bits };
            let base = u128::from(a) & u128::MAX.checked_shl(bits).unwrap_or(0);
            (0..size.min(u128::from(MAX_HOSTS))).map(|i| IpAddr::V6(Ipv6Addr::from(base.wrapping_add(i)))).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(a: &str, p: u8) -> Subnet {
        Subnet { addr: a.parse().unwrap(), prefix: p }
    }

    #[test]
    fn ipv4_sweeps_skip_network_and_broadcast() {
        let h = hosts(&sub("10.0.0.77", 24));
        assert_eq!(h.len(), 254);
        assert_eq!(h[0], "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(h[253], "10.0.0.254".parse::<IpAddr>().unwrap());
        assert_eq!(hosts(&sub("10.0.0.5", 32)), vec!["10.0.0.5".parse::<IpAddr>().unwrap()]);
        assert_eq!(hosts(&sub("10.0.0.4", 31)).len(), 2);
        assert_eq!(hosts(&sub("10.0.0.0", 8)).len(), MAX_HOSTS as usize, "capped");
    }

    #[test]
    fn ipv6_sweeps_are_capped() {
        assert_eq!(hosts(&sub("fd00::", 120)).len(), 256);
        assert_eq!(hosts(&sub("fd00::", 64)).len(), MAX_HOSTS as usize);
        assert_eq!(hosts(&sub("fd00::", 0)).len(), MAX_HOSTS as usize);
    }
}
