//! The messages. Append-only: new enum variants go at the end, fields are never
//! reordered or retyped; a change of meaning needs a new variant.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Everything an agent sends to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AgentMsg {
    /// First message on the link stream.
    Hello(Hello),
    /// Buffered samples, in the agent's (boot_epoch, seq) order.
    Samples(SampleBatch),
    /// First message on an enrollment stream.
    Enroll(EnrollRequest),
    /// Periodic health of the agent's buffer.
    Status(AgentStatus),
    /// Every range of sample keys the agent lost (sent after each hello and
    /// whenever it grows), so the controller can tell reported drops from
    /// data loss. Idempotent: the same range may be sent many times.
    Dropped(Vec<DroppedRange>),
}

/// Everything the controller sends to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControllerMsg {
    /// Answer to [`Hello`]: the link is up; carries the current site config.
    Welcome(Welcome),
    /// Every sample up to and including `(boot_epoch, seq)` is committed.
    Ack(Ack),
    /// The site's probe configuration changed.
    Config(SiteConfig),
    /// Answer to [`EnrollRequest`].
    Enrolled(Enrolled),
    /// The controller refuses the request; the connection closes after this.
    Refused(Refused),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u16,
    pub agent_id: u64,
    pub agent_version: String,
    /// Increments on every agent start; persisted so it is never reused.
    pub boot_epoch: u64,
    /// Rust target triple the agent was built for (fleet upgrades pick by it).
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u16,
    pub config: SiteConfig,
    /// The last sample the controller has committed for this agent, if any,
    /// so an agent that lost its ack ledger does not resend everything.
    pub last_committed: Option<Ack>,
}

/// Probe configuration of one site, pushed by the controller and persisted by
/// the agent so it keeps probing while the controller is unreachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteConfig {
    /// Monotonic; the agent ignores a config older than the one it holds.
    pub revision: u64,
    pub site: String,
    pub targets: Vec<ProbeTarget>,
    pub interval_ms: u32,
    pub timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProbeTarget {
    pub addr: IpAddr,
    pub name: Option<String>,
}

/// A sample's identity is `(agent_id, boot_epoch, seq)`: the batch's agent id
/// plus the sample's own key. The controller stores each identity once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleBatch {
    pub agent_id: u64,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub boot_epoch: u64,
    pub seq: u64,
    /// When the probe ran, Unix milliseconds UTC.
    pub ts_ms: i64,
    pub body: SampleBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SampleBody {
    /// One ICMP echo: `rtt_us` is `None` when no reply came within the timeout.
    Ping { target: IpAddr, rtt_us: Option<u32> },
    /// The agent's link to the controller went down (`up: false`, at the
    /// moment it noticed) or came back (`up: true`). Spooled like any sample,
    /// so the controller learns of backhaul outages even across agent restarts.
    Uplink { up: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ack {
    pub boot_epoch: u64,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Samples durably buffered and not yet acknowledged.
    pub backlog: u64,
    /// Samples the agent had to drop (buffer full), since it was installed.
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub protocol_version: u16,
    /// One-time token printed by `mast-controller agent add`.
    pub token: String,
    /// PKCS#10 certificate signing request (DER); the key stays on the agent.
    pub csr_der: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolled {
    pub agent_id: u64,
    pub site: String,
    /// The agent's client certificate (DER), signed by the controller's CA.
    pub cert_der: Vec<u8>,
    /// The controller's CA certificate (DER), the agent's only trust root.
    pub ca_der: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropReason {
    /// The spool reached its size cap and its oldest segment went.
    SpoolFull,
    /// The disk refused writes and the oldest segment was given up.
    DiskFull,
    /// Damaged or vanished spool data.
    Corrupt,
}

/// Keys `(boot_epoch, first_seq..=last_seq)` that will never be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedRange {
    pub boot_epoch: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub reason: DropReason,
}
