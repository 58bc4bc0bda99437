//! The agent's SNMP engine: polls APs, CPEs, routers and switches over
//! SNMPv2c and SNMPv3 and turns what they say into [`DevicePoll`]s.
//!
//! Shape (pure cores, thin shells):
//! - pure: [`oid`], [`value`], [`codec`] (v2c messages), [`walk`] (multi-column
//!   GETBULK table walks), [`adapt`] (per-device max-repetitions),
//!   [`counters`] (rates, wraps, reboots), [`profiles`] (vendor identity and
//!   station tables, MIB-II decoding);
//! - shells: [`transport`] (one shared UDP socket per address family with
//!   replies routed by request id; SNMPv3 through `snmp2::AsyncSession`) and
//!   [`poller`] ([`Poller::poll_all`], [`identify`]).
//!
//! Guarantees: every request has a timeout (snmp2 has none of its own); at
//! most 2 requests are in flight per device (radios have weak CPUs); devices
//! are polled concurrently (bounded), so a dead or slow device costs only its
//! own timeouts; a malformed reply is an error value, never a panic;
//! communities and v3 keys never appear in errors or logs.

pub mod adapt;
pub mod codec;
pub mod counters;
pub mod oid;
pub mod poller;
pub mod profiles;
pub mod transport;
pub mod value;
pub mod walk;

pub use poller::{Poller, identify};

use mast_shared::msg::{DeviceKind, LinkMetrics, Mac, SnmpOutcome};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Settings of a [`Poller`]. `Default` suits a tower site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOptions {
    /// Wait for one reply.
    pub timeout: Duration,
    /// Resends after a timeout (each with a new request id).
    pub retries: u32,
    /// Devices polled at once.
    pub max_devices_in_flight: usize,
    /// Requests in flight to one device at once (clamped to 1..=2).
    pub per_device_in_flight: usize,
    /// Upper bound for one device's whole poll; what is not done by then is
    /// given up (reported in `error`).
    pub device_budget: Duration,
    /// Rows read per table at most (a looping agent cannot hold a poll).
    pub max_rows: usize,
    /// GETBULK max-repetitions a new device starts with (then adapted).
    pub start_max_repetitions: u32,
    /// Walk the IP-MIB ARP table.
    pub walk_arp: bool,
    /// Walk the BRIDGE-MIB forwarding table.
    pub walk_bridge: bool,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            timeout: Duration::from_millis(1500),
            retries: 1,
            max_devices_in_flight: 128,
            per_device_in_flight: 2,
            device_budget: Duration::from_secs(30),
            max_rows: 4096,
            start_max_repetitions: adapt::MaxReps::START,
            walk_arp: true,
            walk_bridge: true,
        }
    }
}

/// Why a request or a poll failed. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    #[error("no SNMP reply within the timeout")]
    Timeout,
    #[error("refused: {0}")]
    Refused(String),
    #[error("malformed reply: {0}")]
    Malformed(String),
    #[error("SNMP error-status {0}")]
    ErrorStatus(u32),
    #[error("socket: {0}")]
    Io(String),
}

impl SnmpError {
    /// The wire outcome for a poll that failed this way.
    pub fn outcome(&self) -> SnmpOutcome {
        match self {
            SnmpError::Timeout | SnmpError::Io(_) => SnmpOutcome::Timeout,
            SnmpError::Refused(_) | SnmpError::ErrorStatus(_) => SnmpOutcome::Refused,
            SnmpError::Malformed(_) => SnmpOutcome::Malformed,
        }
    }
}

/// Failed requests of one poll, by class (a retried timeout counts twice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    pub timeout: u32,
    /// Authentication failures / reports (v3), authorizationError.
    pub refused: u32,
    pub malformed: u32,
    /// Replies with a non-zero error-status (tooBig, genErr, ...).
    pub error_status: u32,
}

impl ErrorCounts {
    pub fn add(&mut self, o: &ErrorCounts) {
        self.timeout += o.timeout;
        self.refused += o.refused;
        self.malformed += o.malformed;
        self.error_status += o.error_status;
    }
    pub fn total(&self) -> u32 {
        self.timeout + self.refused + self.malformed + self.error_status
    }
}

/// Who a device is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub sys_descr: Option<String>,
    /// Dotted, e.g. `1.3.6.1.4.1.41112.1.4`.
    pub sys_object_id: Option<String>,
    pub sys_name: Option<String>,
    /// sysUpTime in seconds (of the SNMP agent, which on most radios is the device).
    pub uptime_s: Option<u32>,
    /// sysUpTime went back since the previous poll without a 32-bit wrap.
    pub rebooted: bool,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub kind: DeviceKind,
    /// The MAC Mast files the device under: the radio's wireless MAC when the
    /// profile knows it (what peers' station tables list), else the first
    /// usable ifPhysAddress.
    #[serde(serialize_with = "ser::opt_mac")]
    pub base_mac: Option<Mac>,
    /// The profile that decoded it (`ubiquiti-airmax`, `mikrotik`, `cambium-epmp`, `mib2`).
    pub profile: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub index: u32,
    /// ifName, else ifDescr.
    pub name: Option<String>,
    pub descr: Option<String>,
    /// IANAifType (6 ethernetCsmacd, 71 ieee80211, 24 softwareLoopback, ...).
    pub if_type: Option<u32>,
    #[serde(serialize_with = "ser::opt_mac")]
    pub mac: Option<Mac>,
    pub speed_bps: Option<u64>,
    pub oper_up: Option<bool>,
    /// Rates since the previous poll (64-bit counters when the agent has
    /// them); `None` on the first poll, after a reboot or a discontinuity.
    pub in_bps: Option<u64>,
    pub out_bps: Option<u64>,
}

/// One row of a station (associated client) table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Station {
    #[serde(serialize_with = "ser::mac")]
    pub mac: Mac,
    pub ip: Option<IpAddr>,
    pub name: Option<String>,
    /// Link health of this station as the AP reports it.
    #[serde(flatten)]
    pub link: LinkMetrics,
}

/// One of the polled device's own radios and its link health: an AP's
/// sector (frequency, width, noise, station count, airtime), a CPE's link to
/// its AP, a backhaul end's link to its far end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Radio {
    /// The row index the vendor gives (0 for a device with scalars only).
    pub index: u32,
    /// The AP or far end this radio is linked to, when the device says.
    #[serde(serialize_with = "ser::opt_mac")]
    pub peer: Option<Mac>,
    #[serde(flatten)]
    pub link: LinkMetrics,
}

/// The result of polling one device once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicePoll {
    pub target: SocketAddr,
    pub outcome: SnmpOutcome,
    /// What went wrong, also when `outcome` is `Ok` but a table could not be read.
    pub error: Option<String>,
    #[serde(rename = "duration_ms", serialize_with = "ser::millis")]
    pub duration: Duration,
    pub identity: Option<Identity>,
    pub interfaces: Vec<Interface>,
    /// An AP's associated CPEs; on a CPE, its AP.
    pub stations: Vec<Station>,
    /// The device's own radios with their link health.
    pub radios: Vec<Radio>,
    /// For a CPE: the AP it is associated to, when the device says so.
    #[serde(serialize_with = "ser::opt_mac")]
    pub uplink_ap: Option<Mac>,
    #[serde(serialize_with = "ser::arp")]
    pub arp: Vec<(IpAddr, Mac)>,
    /// `(MAC, ifIndex)`, or the bridge port when the agent does not map ports.
    #[serde(serialize_with = "ser::bridge")]
    pub bridge: Vec<(Mac, u32)>,
    pub errors: ErrorCounts,
    /// Requests sent in this poll, and values received that Mast used (table
    /// cells and scalars; not the varbinds a GETBULK returns past a table's end).
    pub requests: u32,
    pub varbinds: u32,
    /// The device's learned GETBULK max-repetitions after this poll.
    pub max_repetitions: u32,
}

impl DevicePoll {
    pub(crate) fn failed(target: SocketAddr, e: &SnmpError, duration: Duration) -> DevicePoll {
        DevicePoll {
            target,
            outcome: e.outcome(),
            error: Some(e.to_string()),
            duration,
            identity: None,
            interfaces: Vec::new(),
            stations: Vec::new(),
            radios: Vec::new(),
            uplink_ap: None,
            arp: Vec::new(),
            bridge: Vec::new(),
            errors: ErrorCounts::default(),
            requests: 0,
            varbinds: 0,
            max_repetitions: 0,
        }
    }
}

/// JSON forms: MACs as `aa:bb:cc:dd:ee:ff`, durations in milliseconds,
/// ARP and bridge entries as objects.
mod ser {
    use mast_shared::msg::{Mac, format_mac};
    use serde::Serializer;
    use serde::ser::SerializeSeq;
    use std::net::IpAddr;
    use std::time::Duration;

    pub fn mac<S: Serializer>(m: &Mac, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_mac(m))
    }
    pub fn opt_mac<S: Serializer>(m: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
        match m {
            Some(m) => s.serialize_str(&format_mac(m)),
            None => s.serialize_none(),
        }
    }
    pub fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    #[derive(serde::Serialize)]
    struct Arp {
        ip: IpAddr,
        mac: String,
    }
    #[derive(serde::Serialize)]
    struct Fdb {
        mac: String,
        port: u32,
    }
    pub fn arp<S: Serializer>(v: &[(IpAddr, Mac)], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for (ip, m) in v {
            seq.serialize_element(&Arp { ip: *ip, mac: format_mac(m) })?;
        }
        seq.end()
    }
    pub fn bridge<S: Serializer>(v: &[(Mac, u32)], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for (m, port) in v {
            seq.serialize_element(&Fdb { mac: format_mac(m), port: *port })?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    /// The pure cores must not reach for sockets, clocks or the runtime.
    #[test]
    fn pure_cores_do_no_io() {
        let cores = [
            ("oid.rs", include_str!("oid.rs")),
            ("value.rs", include_str!("value.rs")),
            ("codec.rs", include_str!("codec.rs")),
            ("walk.rs", include_str!("walk.rs")),
            ("adapt.rs", include_str!("adapt.rs")),
            ("counters.rs", include_str!("counters.rs")),
            ("profiles/mod.rs", include_str!("profiles/mod.rs")),
            ("profiles/mib2.rs", include_str!("profiles/mib2.rs")),
            ("profiles/ubiquiti.rs", include_str!("profiles/ubiquiti.rs")),
            ("profiles/airfiber.rs", include_str!("profiles/airfiber.rs")),
            ("profiles/afltu.rs", include_str!("profiles/afltu.rs")),
            ("profiles/af60.rs", include_str!("profiles/af60.rs")),
            ("profiles/unifi.rs", include_str!("profiles/unifi.rs")),
            ("profiles/edgemax.rs", include_str!("profiles/edgemax.rs")),
            ("profiles/mikrotik.rs", include_str!("profiles/mikrotik.rs")),
            ("profiles/cambium.rs", include_str!("profiles/cambium.rs")),
            ("profiles/canopy.rs", include_str!("profiles/canopy.rs")),
            ("profiles/mimosa.rs", include_str!("profiles/mimosa.rs")),
            ("profiles/siklu.rs", include_str!("profiles/siklu.rs")),
        ];
        for (name, src) in cores {
            let code = src.split("#[cfg(test)]").next().unwrap();
            for banned in ["tokio", "UdpSocket", "Instant::now", "SystemTime", "std::fs"] {
                assert!(!code.contains(banned), "{name} uses {banned}");
            }
        }
    }
}
