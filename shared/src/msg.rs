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
    /// How an upgrade offered by [`ControllerMsg::Upgrade`] ended. Sent after
    /// each hello until the controller answers [`ControllerMsg::UpgradeAck`].
    Upgrade(UpgradeReport),
    /// First (and only) message on a download stream the agent opens beside
    /// the link stream: send the release's bytes from `from` on.
    Fetch(FetchRequest),
    /// The config the agent runs now (after each apply, confirmation or
    /// revert, and after each hello).
    ConfigApplied(ConfigReport),
    /// What the agent runs on (after each hello): rollouts pick canaries per
    /// hardware model.
    Facts(AgentFacts),
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
    /// SNMP, discovery and pacing settings of the site. Sent right after
    /// [`Welcome`] and whenever they change; carries the same revision as the
    /// site's [`SiteConfig`]. Holds credentials: never log it whole.
    Probing(ProbingConfig),
    /// Upgrade to this release (a rollout offers it). Sent after the welcome
    /// and again after each reconnect until the agent reports an outcome.
    Upgrade(UpgradeOffer),
    /// A piece of a release, on a download stream (see [`AgentMsg::Fetch`]);
    /// the stream ends after the last byte.
    Chunk(Chunk),
    /// The controller stored the [`UpgradeReport`] for this version.
    UpgradeAck(String),
    /// The release keys the controller trusts. On the enrollment stream after
    /// [`Enrolled`] (the agent pins them) and after every welcome: a key the
    /// agent does not pin yet is taken only if a pinned key endorses it.
    ReleaseKeys(Vec<ReleaseKey>),
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
    /// One SNMP poll of a device. Kept apart from ping: a radio whose SNMP
    /// agent hangs still forwards traffic.
    Snmp(SnmpPoll),
    /// Radio link of one station (CPE) in an AP's station table, as the AP
    /// reports it.
    Station(StationSample),
    /// Traffic of one interface over the last poll interval, after counter
    /// wrap handling (never negative).
    IfRate(IfRate),
    /// A device record appeared or changed (the agent sends changes only).
    Inventory(InventoryRecord),
    /// Link health of one radio link, polled on the SNMP interval: a row of
    /// an AP's station table (`station` set), or the polled device's own
    /// radio (a CPE's link to its AP, a backhaul end's link to its peer).
    /// Agents that send this send no `Station` samples; controllers must
    /// be upgraded before agents (they always are: agents upgrade from
    /// their controller).
    Link(LinkSample),
}

/// A MAC address (EUI-48), in transmission order.
pub type Mac = [u8; 6];

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`, the one form Mast shows and stores.
pub fn format_mac(mac: &Mac) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parses a MAC written with `:`, `-`, `.` or no separators, any case
/// (`AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`, `aabbccddeeff`).
pub fn parse_mac(s: &str) -> Option<Mac> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-' | '.' | ' ')).collect();
    if hex.len() != 12 || !hex.is_ascii() {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(mac)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnmpOutcome {
    Ok,
    /// No answer within the timeout, after the retries.
    Timeout,
    /// The device answered with an error status or an authentication report
    /// (wrong community or v3 user/keys).
    Refused,
    /// The reply could not be decoded.
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnmpPoll {
    pub target: IpAddr,
    pub outcome: SnmpOutcome,
    /// sysUpTime in seconds, when the poll succeeded.
    pub uptime_s: Option<u32>,
    /// The device restarted since the previous poll (sysUpTime went back
    /// without a 32-bit wrap).
    pub rebooted: bool,
    /// Poll duration in milliseconds.
    pub duration_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationSample {
    /// The AP whose station table listed it.
    pub ap: IpAddr,
    pub mac: Mac,
    pub signal_dbm: Option<i16>,
    /// Link quality in percent (airMAX CCQ, or the vendor's nearest figure).
    pub quality_pct: Option<u8>,
    pub tx_rate_kbps: Option<u32>,
    pub rx_rate_kbps: Option<u32>,
    pub distance_m: Option<u32>,
}

/// Radio link health as a device reports it. Every figure is optional:
/// vendors report different subsets. Signal and noise in dBm, ratios in dB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkMetrics {
    /// Received signal (dBm): at the AP for a station row, at the device for its own radio.
    pub signal_dbm: Option<i16>,
    /// Per receive chain (dBm); their difference is the chain imbalance.
    pub chain0_dbm: Option<i16>,
    pub chain1_dbm: Option<i16>,
    /// The signal the other end receives (dBm), when the device knows it.
    pub remote_signal_dbm: Option<i16>,
    pub noise_dbm: Option<i16>,
    /// SNR or CINR (dB).
    pub snr_db: Option<i16>,
    /// CCQ or the vendor's link quality (%).
    pub quality_pct: Option<u8>,
    /// Airtime in use (%).
    pub airtime_pct: Option<u8>,
    /// Current PHY rates (kbit/s).
    pub tx_rate_kbps: Option<u32>,
    pub rx_rate_kbps: Option<u32>,
    /// Estimated throughput the link could carry (kbit/s).
    pub tx_capacity_kbps: Option<u32>,
    pub rx_capacity_kbps: Option<u32>,
    /// Modulation as the vendor names it (`64QAM 3/4`, `MCS9`, `8x`).
    pub modulation: Option<String>,
    pub distance_m: Option<u32>,
    pub frequency_mhz: Option<u32>,
    pub width_mhz: Option<u16>,
    pub tx_power_dbm: Option<i16>,
    /// Stations associated (an AP's own radio).
    pub stations: Option<u16>,
}

impl LinkMetrics {
    /// Chain imbalance (dB), when both chains are known.
    pub fn chain_imbalance_db(&self) -> Option<i16> {
        Some((self.chain0_dbm? - self.chain1_dbm?).abs())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkSample {
    /// The polled device.
    pub device: IpAddr,
    /// A station of its station table; `None`: the device's own radio.
    pub station: Option<Mac>,
    /// For the device's own radio: the AP or far end it is linked to.
    pub peer: Option<Mac>,
    /// Radio index on the device (0 when it has one).
    pub radio: u32,
    pub metrics: LinkMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IfRate {
    pub target: IpAddr,
    pub if_index: u32,
    pub in_bps: u64,
    pub out_bps: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceKind {
    Unknown,
    /// Access point / base station: has a station table.
    AccessPoint,
    /// Customer radio (found in an AP's station table, or says so).
    Cpe,
    /// Backhaul radio (PtP).
    Backhaul,
    Router,
    Switch,
    /// Anything else answering on the LAN (ping-only, ARP only).
    Host,
}

/// Where the agent learned of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventorySource {
    /// The device's own SNMP agent.
    Snmp,
    /// An AP's station table.
    StationTable,
    /// An ARP/NDP table (the agent's own, or a router's over SNMP).
    Neighbour,
    /// A switch's bridge forwarding table.
    Bridge,
}

/// What the agent knows about one device, keyed by MAC. Sent when first seen
/// and whenever a field changes (not on every poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRecord {
    pub mac: Mac,
    pub ip: Option<IpAddr>,
    pub kind: DeviceKind,
    pub source: InventorySource,
    /// Vendor as the device identifies itself (profile), not the OUI.
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    /// sysName or the station table's remote name.
    pub name: Option<String>,
    /// MAC of the AP (or switch) it hangs off.
    pub parent: Option<Mac>,
}

/// SNMP, discovery and pacing settings of a site.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbingConfig {
    /// Same counter as [`SiteConfig::revision`].
    pub revision: u64,
    /// Credentials, tried in order on discovered devices; `SnmpTarget`s refer
    /// to them by index.
    pub credentials: Vec<SnmpCredential>,
    /// Devices to poll over SNMP.
    pub snmp_targets: Vec<SnmpTarget>,
    /// Subnets swept (ping, then SNMP identify) every `discovery_interval_ms`.
    pub subnets: Vec<Subnet>,
    pub snmp_interval_ms: u32,
    pub discovery_interval_ms: u32,
    /// ICMP echo requests per second at most (token bucket), so a round never
    /// floods a sector.
    pub ping_rate_pps: u32,
}

impl std::fmt::Debug for ProbingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbingConfig")
            .field("revision", &self.revision)
            .field("credentials", &self.credentials.len())
            .field("snmp_targets", &self.snmp_targets.len())
            .field("subnets", &self.subnets)
            .field("snmp_interval_ms", &self.snmp_interval_ms)
            .field("discovery_interval_ms", &self.discovery_interval_ms)
            .field("ping_rate_pps", &self.ping_rate_pps)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnmpTarget {
    pub addr: std::net::SocketAddr,
    /// Index into [`ProbingConfig::credentials`].
    pub credential: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subnet {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum V3Auth {
    Md5,
    Sha1,
    Sha256,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum V3Privacy {
    Des,
    Aes128,
}

/// An SNMP credential. `Debug` never prints secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnmpCredential {
    V2c { community: String },
    V3 { user: String, auth: V3Auth, auth_key: String, privacy: V3Privacy, priv_key: String },
}

impl std::fmt::Debug for SnmpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnmpCredential::V2c { .. } => f.write_str("V2c { community: <redacted> }"),
            SnmpCredential::V3 { user, auth, privacy, .. } => {
                write!(f, "V3 {{ user: {user:?}, auth: {auth:?}, privacy: {privacy:?}, keys: <redacted> }}")
            }
        }
    }
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

/// A release offered to an agent. The agent checks all of it (and the
/// minisign signature with a key it pins) before the file is ever executable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeOffer {
    pub release_id: u64,
    pub version: String,
    /// Rust target triple the file is built for.
    pub target: String,
    pub size: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// The minisign signature file's text.
    pub signature: String,
    /// How long the new binary has to become healthy (connected, probing,
    /// sending) before it is rolled back.
    pub trial_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub release_id: u64,
    /// Resume from this byte (what the agent holds already).
    pub from: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub offset: u64,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpgradeResult {
    /// The version is installed and running.
    Upgraded,
    /// The version was tried and discarded; the previous one runs. The reason
    /// (crash loop, no connection, probes failing, ...).
    RolledBack(String),
    /// The version was never executed: it failed a check (the reason says which).
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeReport {
    pub version: String,
    pub result: UpgradeResult,
}

/// A trusted release key: a minisign public key file's text, and for a key
/// added after others, the minisign signature of that text by an older key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseKey {
    pub key_file: String,
    pub endorsement: Option<String>,
}

/// What config an agent runs. A pushed config is confirmed once the link
/// stayed up for a while after it was applied; one that cut the agent off
/// is reverted to the last confirmed one and rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigReport {
    /// The revision in force.
    pub revision: u64,
    /// [`config_checksum`] of the site config and probing settings in force.
    pub checksum: String,
    pub confirmed: bool,
    /// A revision the agent reverted (and will not apply again).
    pub rejected: Option<u64>,
}

/// A checksum of a site config and its probing settings (FNV-1a 64 over
/// their postcard encoding, hex): the controller and the agent compute it
/// alike to check that what runs is what was pushed. Not a security check.
pub fn config_checksum(site: &SiteConfig, probing: Option<&ProbingConfig>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(&postcard::to_allocvec(site).unwrap_or_default());
    if let Some(p) = probing {
        feed(&postcard::to_allocvec(p).unwrap_or_default());
    }
    format!("{h:016x}")
}

/// The machine an agent runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFacts {
    /// Board or machine model (device tree `model`, else DMI product name).
    pub model: Option<String>,
}
