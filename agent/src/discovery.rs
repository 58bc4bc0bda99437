//! Discovery: the site's configured subnets are swept on a slow schedule
//! (ping every address, then an SNMP identify of those that answer, trying
//! the site's credentials in order), and the agent's own neighbour table
//! supplies MACs of ping-only devices on its LAN.
//!
//! [`hosts`] is the pure part: which addresses a subnet sweep covers.

use crate::ping::Pinger;
use mast_shared::{ProbingConfig, Subnet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long a swept address has to answer a ping.
pub const SWEEP_TIMEOUT: Duration = Duration::from_secs(1);
/// SNMP identifies in flight at once during a sweep.
const IDENTIFY_CONCURRENCY: usize = 32;

#[derive(Debug, Default)]
pub struct Found {
    /// Addresses that answered a ping.
    pub alive: Vec<IpAddr>,
    /// Alive addresses whose SNMP agent answered, with the position of the
    /// first credential that worked.
    pub snmp: Vec<(SocketAddr, u16)>,
}

/// One sweep of the config's subnets: ping every host address (paced by the
/// site's rate, sharing the probe loop's pinger so the two never exceed it
/// together), then try each credential in order on those that answered.
pub async fn sweep(pinger: &tokio::sync::Mutex<Pinger>, cfg: &ProbingConfig) -> Found {
    let mut addrs: Vec<IpAddr> = cfg.subnets.iter().flat_map(hosts).collect();
    addrs.sort();
    addrs.dedup();
    let mut found = Found::default();
    if addrs.is_empty() {
        return found;
    }
    let results = pinger.lock().await.round_paced(&addrs, SWEEP_TIMEOUT, cfg.ping_rate_pps.max(1)).await;
    found.alive = results.into_iter().filter_map(|(a, rtt)| rtt.map(|_| a)).collect();
    if cfg.credentials.is_empty() {
        return found;
    }
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(IDENTIFY_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for ip in found.alive.clone() {
        let creds = cfg.credentials.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.ok()?;
            let addr = SocketAddr::new(ip, 161);
            for (i, c) in creds.iter().enumerate() {
                if crate::snmp::identify(addr, c, SWEEP_TIMEOUT).await.is_ok() {
                    return Some((addr, i as u16));
                }
            }
            None
        });
    }
    while let Some(r) = set.join_next().await {
        if let Ok(Some(hit)) = r {
            found.snmp.push(hit);
        }
    }
    found.snmp.sort();
    found
}

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
