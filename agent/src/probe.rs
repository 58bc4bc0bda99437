//! The technician's `probe` command: for each target one ICMP echo and one
//! full SNMP pass (identity, interfaces, station table, ARP and bridge
//! tables) through the same [`crate::snmp::Poller`] the agent runs, all
//! targets at once. Output is text for people or JSON (`--json`, schema in
//! `docs/probe-json.md`, versioned by [`JSON_VERSION`]).

use crate::snmp::{DevicePoll, PollOptions, Poller};
use mast_shared::msg::{SnmpCredential, format_mac};
use serde::Serialize;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Version of the JSON document; bumped when a field changes meaning or goes.
pub const JSON_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0:?} is not an IP address or IP:PORT")]
    BadTarget(String),
    #[error("{0}")]
    BadCredential(String),
}

/// The SNMPv3 options of the command line (authPriv only).
#[derive(Clone)]
pub struct V3Args {
    pub user: String,
    pub v3_auth_pass: Option<String>,
    pub v3_priv_pass: Option<String>,
    /// `sha`, `sha256` or `md5`.
    pub v3_auth_proto: String,
    /// `aes` or `des`.
    pub v3_priv_proto: String,
}

/// The credential to probe with: v3 when a user is given, else v2c when a
/// community is, else none (ICMP only).
pub fn credential(community: Option<String>, v3: Option<V3Args>) -> Result<Option<SnmpCredential>, ProbeError> {
    use mast_shared::msg::{V3Auth, V3Privacy};
    let Some(v3) = v3 else { return Ok(community.map(|community| SnmpCredential::V2c { community })) };
    let bad = |m: String| Err(ProbeError::BadCredential(m));
    let auth = match v3.v3_auth_proto.to_ascii_lowercase().as_str() {
        "sha" | "sha1" => V3Auth::Sha1,
        "sha256" => V3Auth::Sha256,
        "md5" => V3Auth::Md5,
        other => return bad(format!("--v3-auth-proto {other:?}: expected sha, sha256 or md5")),
    };
    let privacy = match v3.v3_priv_proto.to_ascii_lowercase().as_str() {
        "aes" | "aes128" => V3Privacy::Aes128,
        "des" => V3Privacy::Des,
        other => return bad(format!("--v3-priv-proto {other:?}: expected aes or des")),
    };
    let (Some(auth_key), Some(priv_key)) = (v3.v3_auth_pass, v3.v3_priv_pass) else {
        return bad("--v3-user needs --v3-auth-pass and --v3-priv-pass (authPriv)".into());
    };
    Ok(Some(SnmpCredential::V3 { user: v3.user, auth, auth_key, privacy, priv_key }))
}

/// A `TARGET` of the probe command: `ip` or `ip:port` (port for SNMP,
/// default 161; IPv6 with a port as `[addr]:port`).
pub fn parse_target(s: &str) -> Result<SocketAddr, ProbeError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 161));
    }
    s.parse::<SocketAddr>().map_err(|_| ProbeError::BadTarget(s.to_string()))
}

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub targets: Vec<String>,
    /// Without one only ICMP is tried.
    pub credential: Option<SnmpCredential>,
    /// Per request (ICMP echo, SNMP request).
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub version: u32,
    pub targets: Vec<TargetReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// As given on the command line.
    pub target: String,
    pub ip: IpAddr,
    pub ping: PingReport,
    /// Absent when no SNMP credential was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snmp: Option<DevicePoll>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PingReport {
    pub alive: bool,
    pub rtt_ms: Option<f64>,
    /// Why no echo could be sent (e.g. no raw socket without root).
    pub error: Option<String>,
}

/// Probes every target once: ICMP round and SNMP polls run concurrently.
pub async fn probe(opts: &ProbeOptions) -> Result<ProbeReport, ProbeError> {
    let addrs: Vec<SocketAddr> = opts.targets.iter().map(|t| parse_target(t)).collect::<Result<_, _>>()?;
    let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    let ping = async {
        match crate::ping::Pinger::new() {
            Ok(mut p) => (p.round(&ips, opts.timeout).await, None),
            Err(e) => {
                tracing::warn!(error = %e, "ICMP unavailable; SNMP only");
                (ips.iter().map(|ip| (*ip, None)).collect(), Some(e.to_string()))
            }
        }
    };
    let snmp = async {
        let Some(cred) = &opts.credential else { return Vec::new() };
        let mut poller = Poller::new(PollOptions {
            timeout: opts.timeout,
            retries: 1,
            max_devices_in_flight: 64,
            device_budget: (opts.timeout * 20).max(Duration::from_secs(5)),
            ..PollOptions::default()
        });
        let targets: Vec<(SocketAddr, SnmpCredential)> = addrs.iter().map(|a| (*a, cred.clone())).collect();
        poller.poll_all(&targets).await
    };
    let ((pings, ping_error), polls) = tokio::join!(ping, snmp);
    let mut polls = polls.into_iter();
    let mut reports = Vec::with_capacity(addrs.len());
    for (i, addr) in addrs.iter().enumerate() {
        let rtt = pings.iter().find(|(ip, _)| *ip == addr.ip()).and_then(|(_, r)| *r);
        reports.push(TargetReport {
            target: opts.targets[i].clone(),
            ip: addr.ip(),
            ping: PingReport {
                alive: rtt.is_some(),
                rtt_ms: rtt.map(|d| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0),
                error: ping_error.clone(),
            },
            snmp: polls.next(),
        });
    }
    Ok(ProbeReport { version: JSON_VERSION, targets: reports })
}

pub fn render_json(r: &ProbeReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"version\":{JSON_VERSION},\"error\":\"{e}\"}}"))
}

fn or_dash(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

fn speed(bps: Option<u64>) -> String {
    match bps {
        None | Some(0) => "-".into(),
        Some(b) if b >= 1_000_000_000 && b % 1_000_000_000 == 0 => format!("{}G", b / 1_000_000_000),
        Some(b) if b >= 1_000_000 => format!("{}M", b / 1_000_000),
        Some(b) => format!("{}k", b / 1000),
    }
}

fn uptime(s: u32) -> String {
    format!("{}d {:02}:{:02}:{:02}", s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60)
}

/// The human-readable report.
pub fn render_text(r: &ProbeReport) -> String {
    let mut o = String::new();
    for t in &r.targets {
        let ping = match (&t.ping.rtt_ms, &t.ping.error) {
            (Some(ms), _) => format!("alive, {ms:.2} ms"),
            (None, Some(e)) => format!("not tried ({e})"),
            (None, None) => "no reply".into(),
        };
        let _ = writeln!(o, "{}  ping: {ping}", t.target);
        let Some(p) = &t.snmp else { continue };
        let _ = writeln!(
            o,
            "  snmp: {:?} in {} ms ({} requests, {} varbinds, max-repetitions {})",
            p.outcome,
            p.duration.as_millis(),
            p.requests,
            p.varbinds,
            p.max_repetitions
        );
        if let Some(e) = &p.error {
            let _ = writeln!(o, "  error: {e}");
        }
        if let Some(id) = &p.identity {
            let _ = writeln!(
                o,
                "  vendor: {}  model: {}  firmware: {}  serial: {}",
                or_dash(&id.vendor),
                or_dash(&id.model),
                or_dash(&id.firmware),
                or_dash(&id.serial)
            );
            let _ = writeln!(
                o,
                "  kind: {:?}  name: {}  uptime: {}{}  MAC: {}  profile: {}",
                id.kind,
                or_dash(&id.sys_name),
                id.uptime_s.map(uptime).unwrap_or_else(|| "-".into()),
                if id.rebooted { " (rebooted)" } else { "" },
                id.base_mac.map(|m| format_mac(&m)).unwrap_or_else(|| "-".into()),
                id.profile
            );
            let _ = writeln!(o, "  descr: {}", or_dash(&id.sys_descr));
            let _ = writeln!(o, "  object id: {}", or_dash(&id.sys_object_id));
        }
        if let Some(ap) = p.uplink_ap {
            let _ = writeln!(o, "  associated to AP {}", format_mac(&ap));
        }
        if !p.interfaces.is_empty() {
            let _ = writeln!(o, "  interfaces ({}):", p.interfaces.len());
            for i in &p.interfaces {
                let rate = match (i.in_bps, i.out_bps) {
                    (Some(a), Some(b)) => format!("  in {} out {}", speed(Some(a)), speed(Some(b))),
                    _ => String::new(),
                };
                let _ = writeln!(
                    o,
                    "    {:>4} {:<16} {:<17} {:>6} {}{rate}",
                    i.index,
                    or_dash(&i.name),
                    i.mac.map(|m| format_mac(&m)).unwrap_or_else(|| "-".into()),
                    speed(i.speed_bps),
                    match i.oper_up {
                        Some(true) => "up",
                        Some(false) => "down",
                        None => "?",
                    }
                );
            }
        }
        for r in &p.radios {
            let peer = r.peer.map(|m| format!("  linked to {}", format_mac(&m))).unwrap_or_default();
            let _ = writeln!(o, "  radio {}:{}{peer}", r.index, link_summary(&r.link));
        }
        if !p.stations.is_empty() {
            let _ = writeln!(o, "  stations ({}, weakest first):", p.stations.len());
            let mut by_signal: Vec<&crate::snmp::Station> = p.stations.iter().collect();
            by_signal.sort_by_key(|s| s.link.signal_dbm.unwrap_or(i16::MAX));
            for s in by_signal {
                let mut line = format!("    {}{}", format_mac(&s.mac), link_summary(&s.link));
                if let Some(ip) = s.ip {
                    let _ = write!(line, "  {ip}");
                }
                if let Some(n) = &s.name {
                    let _ = write!(line, "  {n}");
                }
                let _ = writeln!(o, "{line}");
            }
        }
        if !p.arp.is_empty() {
            let _ = writeln!(o, "  arp ({}):", p.arp.len());
            for (ip, mac) in &p.arp {
                let _ = writeln!(o, "    {ip:<39} {}", format_mac(mac));
            }
        }
        if !p.bridge.is_empty() {
            let _ = writeln!(o, "  bridge ({}):", p.bridge.len());
            for (mac, port) in &p.bridge {
                let _ = writeln!(o, "    {}  port {port}", format_mac(mac));
            }
        }
    }
    o
}

/// One line of link health a technician reads on a tower: signal first,
/// then what explains it. Only the figures the device gave.
pub fn link_summary(l: &mast_shared::LinkMetrics) -> String {
    let mut line = String::new();
    if let Some(d) = l.signal_dbm {
        let _ = write!(line, "  {d} dBm");
    }
    if let (Some(a), Some(b)) = (l.chain0_dbm, l.chain1_dbm) {
        let _ = write!(line, " (chains {a}/{b}, {} dB apart)", (a - b).abs());
    }
    if let Some(d) = l.remote_signal_dbm {
        let _ = write!(line, "  far end {d} dBm");
    }
    if let Some(n) = l.noise_dbm {
        let _ = write!(line, "  noise {n} dBm");
    }
    if let Some(n) = l.snr_db {
        let _ = write!(line, "  SNR {n} dB");
    }
    if let Some(q) = l.quality_pct {
        let _ = write!(line, "  quality {q}%");
    }
    if let Some(q) = l.airtime_pct {
        let _ = write!(line, "  airtime {q}%");
    }
    match (l.tx_rate_kbps, l.rx_rate_kbps) {
        (Some(tx), Some(rx)) => {
            let _ = write!(line, "  tx/rx {}/{} Mb/s", tx / 1000, rx / 1000);
        }
        (Some(tx), None) => {
            let _ = write!(line, "  tx {} Mb/s", tx / 1000);
        }
        (None, Some(rx)) => {
            let _ = write!(line, "  rx {} Mb/s", rx / 1000);
        }
        (None, None) => {}
    }
    if let (Some(tx), Some(rx)) = (l.tx_capacity_kbps, l.rx_capacity_kbps) {
        let _ = write!(line, "  capacity {}/{} Mb/s", tx / 1000, rx / 1000);
    }
    if let Some(m) = &l.modulation {
        let _ = write!(line, "  {m}");
    }
    match (l.frequency_mhz, l.width_mhz) {
        (Some(f), Some(w)) => {
            let _ = write!(line, "  {f} MHz/{w} MHz");
        }
        (Some(f), None) => {
            let _ = write!(line, "  {f} MHz");
        }
        _ => {}
    }
    if let Some(p) = l.tx_power_dbm {
        let _ = write!(line, "  tx power {p} dBm");
    }
    if let Some(m) = l.distance_m {
        let _ = write!(line, "  {m} m");
    }
    if let Some(n) = l.stations {
        let _ = write!(line, "  {n} stations");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder(addr: SocketAddr) -> DevicePoll {
        DevicePoll::failed(addr, &crate::snmp::SnmpError::Timeout, Duration::ZERO)
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("10.0.0.1").unwrap(), "10.0.0.1:161".parse().unwrap());
        assert_eq!(parse_target("10.0.0.1:1161").unwrap(), "10.0.0.1:1161".parse().unwrap());
        assert_eq!(parse_target("[::1]:1161").unwrap(), "[::1]:1161".parse().unwrap());
        assert_eq!(parse_target("::1").unwrap(), "[::1]:161".parse().unwrap());
        assert!(parse_target("tower-1").is_err());
    }

    #[test]
    fn text_shows_what_answered() {
        let mut poll = placeholder("10.0.0.1:161".parse().unwrap());
        poll.outcome = mast_shared::msg::SnmpOutcome::Ok;
        poll.stations.push(crate::snmp::Station {
            mac: [0x68, 0x72, 0x51, 0, 0x34, 0x25],
            link: mast_shared::LinkMetrics {
                signal_dbm: Some(-64),
                tx_rate_kbps: Some(162_000),
                rx_rate_kbps: Some(108_000),
                ..Default::default()
            },
            ..Default::default()
        });
        poll.interfaces.push(crate::snmp::Interface {
            index: 2,
            name: Some("eth0".into()),
            mac: Some([4, 0x18, 0xd6, 0x2b, 0x0a, 0x92]),
            speed_bps: Some(100_000_000),
            oper_up: Some(true),
            ..Default::default()
        });
        let r = ProbeReport {
            version: 1,
            targets: vec![TargetReport {
                target: "10.0.0.1".into(),
                ip: "10.0.0.1".parse().unwrap(),
                ping: PingReport { alive: false, rtt_ms: None, error: Some("no permission".into()) },
                snmp: Some(poll),
            }],
        };
        let text = render_text(&r);
        assert!(text.contains("68:72:51:00:34:25  -64 dBm  tx/rx 162/108 Mb/s"), "{text}");
        assert!(text.contains("eth0") && text.contains("04:18:d6:2b:0a:92") && text.contains("100M up"), "{text}");
        assert!(text.contains("not tried (no permission)"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["targets"][0]["snmp"]["stations"][0]["mac"], "68:72:51:00:34:25");
        assert_eq!(json["targets"][0]["snmp"]["stations"][0]["signal_dbm"], -64, "link figures are flat");
        assert_eq!(json["targets"][0]["snmp"]["interfaces"][0]["mac"], "04:18:d6:2b:0a:92");
    }
}
