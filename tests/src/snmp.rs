//! Real SNMP agents for tests: net-snmp `snmpd`, the `snmpsim` simulator
//! serving device recordings, and a deliberately broken UDP responder.
//!
//! * [`Snmpd`]: net-snmp's agent on `127.0.0.1:<free port>`, with a v2c
//!   community and an SNMPv3 authPriv user (SHA + AES).
//! * [`SnmpSim`]: one `snmpsim-command-responder` serving many devices, the
//!   community selecting the recording (`DATA/<community>.snmprec`), on one or
//!   more endpoints. It comes from the virtualenv at `MAST_SNMPSIM_VENV`
//!   (default `/opt/mast-snmpsim`, made by `tests/run.sh`).
//! * [`many_devices`]: n distinct copies of a recording for benchmarks.
//! * [`BadSnmpAgent`]: garbage, truncated, slow or no answers.
//!
//! The recordings live in `tests/fixtures/snmp/` (see its README). A missing
//! tool makes `start` fail under `CI=true` and return `Ok(None)` after a loud
//! `SKIPPED:` line otherwise, like the rest of this crate.

use anyhow::{Context, bail};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The recordings in `tests/fixtures/snmp/`, by file stem.
pub const FIXTURES: &[&str] = &[
    "ubiquiti-m5",
    "ubiquiti-ap",
    "ubiquiti-ac-sta",
    "airfiber",
    "airfiber-legacy-oid",
    "afltu-ap",
    "afltu-cpe",
    "afxhd-generic-oid",
    "af60",
    "unifi",
    "edgeswitch",
    "edgerouter",
    "mikrotik",
    "mikrotik-wifiwave2",
    "mikrotik-station",
    "cambium-epmp",
    "cambium-epmp-sm",
    "canopy-ap",
    "canopy-sm",
    "mimosa-b5c",
    "siklu-eh",
    "switch",
    "entity-switch",
];

/// Path of a recording under `tests/fixtures/snmp/`; `name` may omit `.snmprec`.
pub fn fixture(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("snmp");
    if Path::new(name).extension().is_some() { dir.join(name) } else { dir.join(format!("{name}.snmprec")) }
}

/// The snmpsim virtualenv: `MAST_SNMPSIM_VENV` or `/opt/mast-snmpsim`.
pub fn snmpsim_venv() -> PathBuf {
    std::env::var_os("MAST_SNMPSIM_VENV").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/opt/mast-snmpsim"))
}

/// A net-snmp command-line tool (`snmpget`, `snmpbulkwalk`, ...) with `MIBS=`
/// (Debian ships no MIB files) and a private persistent dir, ready for
/// numeric OIDs.
pub fn net_snmp(tool: &str) -> Command {
    let mut cmd = Command::new(find_program(tool).unwrap_or_else(|| PathBuf::from(tool)));
    cmd.env("MIBS", "").env("SNMP_PERSISTENT_DIR", std::env::temp_dir().join("mast-net-snmp")).stdin(Stdio::null());
    cmd
}

/// Whether net-snmp's client tools are installed; under `CI=true` their
/// absence is an error, elsewhere the caller skips.
pub fn require_net_snmp_tools() -> anyhow::Result<bool> {
    for tool in ["snmpget", "snmpbulkwalk"] {
        if find_program(tool).is_none() {
            return skip(&format!("{tool} is not installed (apt-get install snmp)")).map(|_: Option<()>| false);
        }
    }
    Ok(true)
}

/// Reports a missing tool: an error under CI, a loud skip elsewhere.
fn skip<T>(why: &str) -> anyhow::Result<Option<T>> {
    if super::in_ci() {
        bail!("{why}; required under CI=true (tests/run.sh installs it)");
    }
    eprintln!("SKIPPED: {why}; set CI=true to make this a failure");
    Ok(None)
}

/// Looks a program up on `PATH` and in the sbin directories (snmpd lives in
/// `/usr/sbin`, which is often not on a user's `PATH`).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A currently free UDP port on 127.0.0.1 (the kernel hands out ≥ 1024).
fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_hex(bytes: usize) -> String {
    (0..bytes).fold(String::new(), |mut s, _| {
        let _ = write!(s, "{:02x}", rand::random::<u8>());
        s
    })
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

fn kill_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// --- a minimal SNMP encoder, for readiness probes -------------------------------

fn ber_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn ber_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    ber_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

fn ber_int(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    ber_tlv(0x02, &bytes[start..])
}

/// BER for a numeric OID such as `1.3.6.1.2.1.1.3.0`.
fn ber_oid(oid: &str) -> anyhow::Result<Vec<u8>> {
    let arcs = parse_oid(oid)?;
    if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40) {
        bail!("not an encodable OID: {oid}");
    }
    let mut body = Vec::new();
    let first = arcs[0] * 40 + arcs[1];
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        body.extend(groups.iter().rev());
    }
    Ok(ber_tlv(0x06, &body))
}

/// An SNMPv2c GetRequest for one OID.
fn v2c_get_request(community: &str, request_id: i32, oid: &str) -> anyhow::Result<Vec<u8>> {
    let varbind = ber_tlv(0x30, &[ber_oid(oid)?, vec![0x05, 0x00]].concat());
    let pdu = ber_tlv(0xa0, &[ber_int(request_id.into()), ber_int(0), ber_int(0), ber_tlv(0x30, &varbind)].concat());
    Ok(ber_tlv(0x30, &[ber_int(1), ber_tlv(0x04, community.as_bytes()), pdu].concat()))
}

/// Whether an SNMP agent at `addr` answers a v2c get of sysUpTime.0 with
/// `community` within `timeout`.
pub fn answers(addr: SocketAddr, community: &str, timeout: Duration) -> bool {
    let probe = || -> anyhow::Result<bool> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.connect(addr)?;
        sock.set_read_timeout(Some(timeout))?;
        sock.send(&v2c_get_request(community, rand::random::<i32>() & 0x7fff_ffff, "1.3.6.1.2.1.1.3.0")?)?;
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf)?;
        Ok(n > 2 && buf[0] == 0x30)
    };
    probe().unwrap_or(false)
}

// --- net-snmp snmpd -----------------------------------------------------------

/// SNMPv3 credentials of a [`Snmpd`] user (authPriv).
#[derive(Debug, Clone)]
pub struct V3User {
    pub user: String,
    /// `SHA` (net-snmp's `-a` value).
    pub auth_protocol: &'static str,
    pub auth_password: String,
    /// `AES` (net-snmp's `-x` value).
    pub priv_protocol: &'static str,
    pub priv_password: String,
}

/// net-snmp's `snmpd` on loopback with its own config; killed on drop.
pub struct Snmpd {
    dir: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
    community: String,
    v3: V3User,
}

/// What [`Snmpd`] reports as sysDescr.0.
pub const SNMPD_SYS_DESCR: &str = "Mast test agent (net-snmp snmpd)";

impl Snmpd {
    /// Starts snmpd and waits until it answers; `Ok(None)` when snmpd is not
    /// installed outside CI.
    pub fn start() -> anyhow::Result<Option<Snmpd>> {
        Self::launch(None)
    }

    /// Like [`Snmpd::start`], on a given address (port 161 is fine: snmpd
    /// runs as root here), answering requests from any source.
    pub fn start_at(addr: SocketAddr) -> anyhow::Result<Option<Snmpd>> {
        Self::launch(Some(addr))
    }

    fn launch(fixed: Option<SocketAddr>) -> anyhow::Result<Option<Snmpd>> {
        let Some(bin) = find_program("snmpd") else {
            return skip("snmpd is not installed (apt-get install snmpd)");
        };
        let dir = tempfile::Builder::new().prefix("mast-snmpd-").tempdir()?;
        let persist = dir.path().join("persist");
        std::fs::create_dir(&persist)?;
        let community = format!("mast{}", random_hex(4));
        let v3 = V3User {
            user: "mastv3".into(),
            auth_protocol: "SHA",
            auth_password: format!("auth-{}", random_hex(8)),
            priv_protocol: "AES",
            priv_password: format!("priv-{}", random_hex(8)),
        };
        let mut last_err = String::new();
        // A port can be taken between choosing and binding it: retry.
        let source = if fixed.is_some() { "default" } else { "127.0.0.1" };
        for attempt in 1..=(if fixed.is_some() { 1 } else { 3 }) {
            let addr: SocketAddr = match fixed {
                Some(a) => a,
                None => format!("127.0.0.1:{}", free_udp_port()?).parse()?,
            };
            let conf = dir.path().join("snmpd.conf");
            std::fs::write(
                &conf,
                format!(
                    "[snmp] persistentDir {persist}\n\
                     agentAddress udp:{addr}\n\
                     rocommunity {community} {source}\n\
                     createUser {user} {ap} \"{apw}\" {pp} \"{ppw}\"\n\
                     rouser {user} priv\n\
                     sysDescr {SNMPD_SYS_DESCR}\n\
                     sysName mast-snmpd\n\
                     sysContact noc@example.net\n\
                     sysLocation loopback\n\
                     dontLogTCPWrappersConnects yes\n",
                    persist = persist.display(),
                    user = v3.user,
                    ap = v3.auth_protocol,
                    apw = v3.auth_password,
                    pp = v3.priv_protocol,
                    ppw = v3.priv_password,
                ),
            )?;
            let log_path = dir.path().join(format!("snmpd-{attempt}.log"));
            let log = std::fs::File::create(&log_path)?;
            let mut child = Command::new(&bin)
                .args(["-f", "-Lo", "-C", "-c"])
                .arg(&conf)
                .arg("-p")
                .arg(dir.path().join("snmpd.pid"))
                .env("MIBS", "")
                .env("SNMP_PERSISTENT_DIR", &persist)
                .env("SNMPCONFPATH", dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting snmpd")?;
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if answers(addr, &community, Duration::from_millis(200)) {
                    return Ok(Some(Snmpd { dir, child, addr, community, v3 }));
                }
                if let Ok(Some(st)) = child.try_wait() {
                    last_err = format!("snmpd exited with {st}: {}", std::fs::read_to_string(&log_path)?);
                    break;
                }
                if Instant::now() > deadline {
                    kill_child(&mut child);
                    last_err = format!("snmpd did not answer on {addr}: {}", std::fs::read_to_string(&log_path)?);
                    break;
                }
                // An unbound port fails the probe at once: do not spin.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        bail!("{last_err}")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The read-only v2c community.
    pub fn community(&self) -> &str {
        &self.community
    }

    /// The SNMPv3 authPriv user.
    pub fn v3(&self) -> &V3User {
        &self.v3
    }

    /// The agent's directory (config, logs, persistent state).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

// --- snmpsim --------------------------------------------------------------------

/// One simulated device: requests with `community` are answered from `recording`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDevice {
    pub community: String,
    pub recording: PathBuf,
}

impl SimDevice {
    pub fn new(community: impl Into<String>, recording: impl Into<PathBuf>) -> SimDevice {
        SimDevice { community: community.into(), recording: recording.into() }
    }
}

/// One `snmpsim-command-responder` process serving `devices` on one or more
/// `127.0.0.1` endpoints; killed on drop.
pub struct SnmpSim {
    dir: tempfile::TempDir,
    child: Child,
    endpoints: Vec<SocketAddr>,
    devices: Vec<SimDevice>,
    log_path: PathBuf,
}

impl SnmpSim {
    /// Starts the simulator with `devices` on `endpoints` UDP endpoints and
    /// waits until every endpoint answers; `Ok(None)` when snmpsim is not
    /// installed outside CI.
    pub fn start(devices: &[SimDevice], endpoints: usize) -> anyhow::Result<Option<SnmpSim>> {
        Self::launch(devices, endpoints, None)
    }

    /// Like [`SnmpSim::start`], on the given addresses (ports ≥ 1024: the
    /// simulator binds after dropping root). Tests that need devices at
    /// distinct IPs put extra addresses on a veth or on `lo` first.
    pub fn start_at(devices: &[SimDevice], addrs: &[SocketAddr]) -> anyhow::Result<Option<SnmpSim>> {
        Self::launch(devices, addrs.len(), Some(addrs))
    }

    fn launch(
        devices: &[SimDevice],
        endpoints: usize,
        fixed: Option<&[SocketAddr]>,
    ) -> anyhow::Result<Option<SnmpSim>> {
        if devices.is_empty() || endpoints == 0 {
            bail!("SnmpSim needs at least one device and one endpoint");
        }
        let mut seen = HashSet::new();
        for d in devices {
            let ok = !d.community.is_empty()
                && d.community.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                bail!("community {:?} must be non-empty [A-Za-z0-9_-] (it names a file)", d.community);
            }
            if !seen.insert(d.community.as_str()) {
                bail!("community {:?} is used twice", d.community);
            }
        }
        let bin = snmpsim_venv().join("bin").join("snmpsim-command-responder");
        if !bin.is_file() {
            return skip(&format!("{} is missing (tests/run.sh creates the snmpsim virtualenv)", bin.display()));
        }
        // The simulator drops root for nobody before reading anything: the
        // data must be readable and the cache writable by nobody.
        let dir = tempfile::Builder::new().prefix("mast-snmpsim-").tempdir()?;
        set_mode(dir.path(), 0o755)?;
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir(&data)?;
        std::fs::create_dir(&cache)?;
        set_mode(&data, 0o755)?;
        set_mode(&cache, 0o777)?;
        for d in devices {
            let target = data.join(format!("{}.snmprec", d.community));
            std::fs::copy(&d.recording, &target).with_context(|| format!("copying {}", d.recording.display()))?;
            set_mode(&target, 0o644)?;
        }
        // Indexing is done at start-up: allow time for big device sets.
        let wait = Duration::from_secs(30) + Duration::from_millis(60 * devices.len() as u64);
        let mut last_err = String::new();
        let attempts = if fixed.is_some() { 1 } else { 3 };
        for attempt in 1..=attempts {
            let addrs = match fixed {
                Some(a) => a.to_vec(),
                None => (0..endpoints)
                    .map(|_| Ok(SocketAddr::from(([127, 0, 0, 1], free_udp_port()?))))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            };
            let log_path = dir.path().join(format!("snmpsim-{attempt}.log"));
            let log = std::fs::File::create(&log_path)?;
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--data-dir={}", data.display()))
                .arg(format!("--cache-dir={}", cache.display()))
                .arg("--log-level=error");
            for a in &addrs {
                cmd.arg(format!("--agent-udpv4-endpoint={a}"));
            }
            if is_root() {
                cmd.args(["--process-user=nobody", "--process-group=nogroup"]);
            }
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting snmpsim-command-responder")?;
            let deadline = Instant::now() + wait;
            let mut pending = addrs.clone();
            loop {
                let community = &devices[0].community;
                pending.retain(|a| !answers(*a, community, Duration::from_millis(250)));
                if pending.is_empty() {
                    let devices = devices.to_vec();
                    return Ok(Some(SnmpSim { dir, child, endpoints: addrs, devices, log_path }));
                }
                if let Ok(Some(st)) = child.try_wait() {
                    last_err = format!("snmpsim exited with {st}: {}", std::fs::read_to_string(&log_path)?);
                    break;
                }
                if Instant::now() > deadline {
                    kill_child(&mut child);
                    last_err = format!(
                        "snmpsim did not answer on {pending:?} within {wait:?}: {}",
                        std::fs::read_to_string(&log_path)?
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        bail!("{last_err}")
    }

    /// Every endpoint the simulator listens on.
    pub fn endpoints(&self) -> &[SocketAddr] {
        &self.endpoints
    }

    /// The first endpoint.
    pub fn addr(&self) -> SocketAddr {
        self.endpoints[0]
    }

    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    /// The data dir (`<community>.snmprec` files).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// What the simulator has logged (errors only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for SnmpSim {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

// --- recordings -----------------------------------------------------------------

fn parse_oid(oid: &str) -> anyhow::Result<Vec<u64>> {
    oid.split('.')
        .map(|a| a.parse::<u64>().with_context(|| format!("bad OID {oid:?}")))
        .collect::<anyhow::Result<Vec<_>>>()
}

/// One `OID|tag|value` line of a `.snmprec` file.
#[derive(Debug, Clone)]
struct Record {
    oid: Vec<u64>,
    tag: String,
    value: String,
}

fn read_snmprec(path: &Path) -> anyhow::Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, '|');
        let (Some(oid), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("{}:{}: not OID|tag|value", path.display(), n + 1);
        };
        let oid = parse_oid(oid).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        out.push(Record { oid, tag: tag.to_string(), value: value.to_string() });
    }
    Ok(out)
}

fn write_snmprec(path: &Path, records: &[Record]) -> anyhow::Result<()> {
    let mut text = String::new();
    for r in records {
        let oid: Vec<String> = r.oid.iter().map(u64::to_string).collect();
        let _ = writeln!(text, "{}|{}|{}", oid.join("."), r.tag, r.value);
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Checks a `.snmprec` file: `OID|tag|value` lines (comments allowed) with
/// known tags, valid hex for `x` tags, OIDs strictly increasing in numeric
/// order (snmpsim's binary search relies on it). Returns the record count.
pub fn check_snmprec(path: &Path) -> anyhow::Result<usize> {
    const TAGS: &[&str] = &["2", "4", "5", "6", "64", "65", "66", "67", "68", "70", "128", "129", "130"];
    let records = read_snmprec(path)?;
    for (i, r) in records.iter().enumerate() {
        let base = r.tag.split(':').next().unwrap_or_default();
        let (num, hex) = base.strip_suffix(['x', 'e']).map_or((base, false), |b| (b, base.ends_with('x')));
        if !TAGS.contains(&num) {
            bail!("{}: unknown tag {:?} at {:?}", path.display(), r.tag, r.oid);
        }
        if hex
            && !r.tag.contains(':')
            && (!r.value.len().is_multiple_of(2) || !r.value.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            bail!("{}: bad hex value {:?} at {:?}", path.display(), r.value, r.oid);
        }
        if i > 0 && records[i - 1].oid >= r.oid {
            bail!(
                "{}: {:?} is not after {:?} (lines must be sorted by OID)",
                path.display(),
                r.oid,
                records[i - 1].oid
            );
        }
    }
    Ok(records.len())
}

/// Writes `n` distinct devices derived from the recording `base` into `dir`
/// as `dev0001.snmprec`, `dev0002.snmprec`, ... and returns them (the
/// community is the file stem). Each copy gets sysName = its community and
/// new MAC addresses (same OUI, device-specific NIC part) wherever the base
/// has one: 6-byte unicast hex values (ifPhysAddress, station, bridge and ARP
/// tables), MAC strings such as `00:04:56:B2:10:0E`, and MACs inside table
/// indexes. Records are re-sorted, as snmpsim requires.
pub fn many_devices(n: usize, base: &Path, dir: &Path) -> anyhow::Result<Vec<SimDevice>> {
    if n > 0xffff {
        bail!("many_devices supports up to 65535 devices");
    }
    let records = read_snmprec(base)?;
    std::fs::create_dir_all(dir)?;
    // Every MAC in the base, in order of first appearance.
    let mut macs: Vec<[u8; 6]> = Vec::new();
    for r in &records {
        if let Some(m) = mac_of_value(&r.tag, &r.value)
            && !macs.contains(&m)
        {
            macs.push(m);
        }
    }
    if macs.len() > 0xff {
        bail!("{} has {} MAC addresses; many_devices supports 255", base.display(), macs.len());
    }
    let mut devices = Vec::with_capacity(n);
    for i in 1..=n {
        let community = format!("dev{i:04}");
        let map: HashMap<[u8; 6], [u8; 6]> = macs
            .iter()
            .enumerate()
            .map(|(ordinal, m)| (*m, [m[0], m[1], m[2], (i >> 8) as u8, i as u8, ordinal as u8]))
            .collect();
        let mut out: Vec<Record> = records.iter().map(|r| rewrite_record(r, &map)).collect();
        const SYS_NAME: [u64; 9] = [1, 3, 6, 1, 2, 1, 1, 5, 0];
        out.retain(|r| r.oid != SYS_NAME);
        out.push(Record { oid: SYS_NAME.to_vec(), tag: "4".into(), value: community.clone() });
        out.sort_by(|a, b| a.oid.cmp(&b.oid));
        out.dedup_by(|a, b| a.oid == b.oid);
        let path = dir.join(format!("{community}.snmprec"));
        write_snmprec(&path, &out)?;
        devices.push(SimDevice { community, recording: path });
    }
    Ok(devices)
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A unicast, non-zero MAC address held by a record's value, if any.
fn mac_of_value(tag: &str, value: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = match tag {
        "4x" => hex_bytes(value)?,
        "4" => mac_text(value)?.0.to_vec(),
        _ => return None,
    };
    let mac: [u8; 6] = bytes.try_into().ok()?;
    let unicast = mac[0] & 1 == 0 && mac != [0; 6];
    unicast.then_some(mac)
}

/// Parses `aa:bb:cc:dd:ee:ff` / `AA-BB-...`: the bytes, separator, uppercase.
fn mac_text(s: &str) -> Option<([u8; 6], char, bool)> {
    let sep = s.chars().nth(2).filter(|c| *c == ':' || *c == '-')?;
    let parts: Vec<&str> = s.split(sep).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some((mac, sep, s.chars().any(|c| c.is_ascii_uppercase())))
}

fn rewrite_record(r: &Record, map: &HashMap<[u8; 6], [u8; 6]>) -> Record {
    let mut out = r.clone();
    if let Some(new) = mac_of_value(&r.tag, &r.value).and_then(|m| map.get(&m)) {
        out.value = if r.tag == "4x" {
            new.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        } else {
            let (_, sep, upper) = mac_text(&r.value).unwrap_or(([0; 6], ':', false));
            let parts: Vec<String> =
                new.iter().map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") }).collect();
            parts.join(&sep.to_string())
        };
    }
    // MACs inside table indexes (station tables, dot1dTpFdbTable, ...).
    let mut i = 0;
    while i + 6 <= out.oid.len() {
        let window = &out.oid[i..i + 6];
        let key: Option<[u8; 6]> =
            window.iter().map(|a| u8::try_from(*a).ok()).collect::<Option<Vec<u8>>>().and_then(|v| v.try_into().ok());
        if let Some(new) = key.and_then(|k| map.get(&k)) {
            for (slot, b) in out.oid[i..i + 6].iter_mut().zip(new) {
                *slot = u64::from(*b);
            }
            i += 6;
        } else {
            i += 1;
        }
    }
    out
}

// --- a misbehaving agent ----------------------------------------------------------

/// How a [`BadSnmpAgent`] answers.
#[derive(Debug, Clone, Copy)]
pub enum BadMode {
    /// Replies bytes that are not an SNMP message.
    Garbage,
    /// Relays to a real agent and replies its answer cut short.
    Truncated { upstream: SocketAddr },
    /// Relays to a real agent and replies its answer after `delay`.
    Slow { upstream: SocketAddr, delay: Duration },
    /// Never answers.
    Silent,
}

/// A UDP responder on `127.0.0.1:<random port>` for fault tests; stops on drop.
pub struct BadSnmpAgent {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl BadSnmpAgent {
    /// Binds and starts answering in `mode` (needs a tokio runtime).
    pub async fn start(mode: BadMode) -> anyhow::Result<BadSnmpAgent> {
        let sock = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await?);
        let addr = sock.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, client)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let request = buf[..n].to_vec();
                let sock = sock.clone();
                match mode {
                    BadMode::Silent => {}
                    BadMode::Garbage => {
                        let _ = sock.send_to(&garbage(), client).await;
                    }
                    BadMode::Truncated { upstream } => {
                        tokio::spawn(async move {
                            if let Some(reply) = relay(upstream, &request).await {
                                let cut = (reply.len() / 2).max(1).min(reply.len().saturating_sub(1));
                                let _ = sock.send_to(&reply[..cut], client).await;
                            }
                        });
                    }
                    BadMode::Slow { upstream, delay } => {
                        tokio::spawn(async move {
                            if let Some(reply) = relay(upstream, &request).await {
                                tokio::time::sleep(delay).await;
                                let _ = sock.send_to(&reply, client).await;
                            }
                        });
                    }
                }
            }
        });
        Ok(BadSnmpAgent { addr, requests, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Datagrams received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for BadSnmpAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends `request` to `upstream` from a fresh socket; its reply, if any within 5 s.
async fn relay(upstream: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    sock.connect(upstream).await.ok()?;
    sock.send(request).await.ok()?;
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf)).await.ok()?.ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Bytes that are never a valid SNMP message, in a few shapes: random
/// non-SEQUENCE bytes, a SEQUENCE claiming 4 GiB, a SEQUENCE holding junk.
fn garbage() -> Vec<u8> {
    let len = 1 + rand::random::<u8>() as usize % 200;
    let mut junk: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    match rand::random::<u8>() % 3 {
        0 => {
            if junk[0] == 0x30 {
                junk[0] = 0xff;
            }
            junk
        }
        1 => [vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff], junk].concat(),
        _ => {
            // A well-formed SEQUENCE whose content is not version/community/PDU.
            junk.insert(0, 0xff);
            ber_tlv(0x30, &junk)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_get_request_like_net_snmp() {
        // What `snmpget -v2c -c public 127.0.0.1 1.3.6.1.2.1.1.3.0` sends (captured),
        // with its 4-byte request-id replaced by 1.
        let want = [
            0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0, 0x19, 0x02, 0x01, 0x01,
            0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01,
            0x03, 0x00, 0x05, 0x00,
        ];
        assert_eq!(v2c_get_request("public", 1, "1.3.6.1.2.1.1.3.0").unwrap(), want);
        assert_eq!(ber_int(128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(ber_int(-1), [0x02, 0x01, 0xff]);
        assert_eq!(ber_oid("1.3.6.1.4.1.41112").unwrap(), [0x06, 0x08, 0x2b, 6, 1, 4, 1, 0x82, 0xc1, 0x18]);
        assert!(ber_oid("1.3.x").is_err());
        assert!(ber_oid("5.1").is_err());
    }

    #[test]
    fn garbage_is_never_an_snmp_message() {
        for _ in 0..1000 {
            let g = garbage();
            assert!(!g.is_empty());
            // A valid message is SEQUENCE { INTEGER version, ... }.
            let valid_start = g.len() > 2 && g[0] == 0x30 && g[1] < 0x80 && g[2] == 0x02;
            assert!(!valid_start, "{g:02x?}");
        }
    }

    #[test]
    fn mac_text_round_trip() {
        assert_eq!(mac_text("00:04:56:B2:10:0E"), Some(([0, 4, 0x56, 0xb2, 0x10, 0x0e], ':', true)));
        assert_eq!(mac_text("00-04-56-b2-10-0e"), Some(([0, 4, 0x56, 0xb2, 0x10, 0x0e], '-', false)));
        assert_eq!(mac_text("not a mac"), None);
        assert_eq!(mac_text("00:04:56:B2:10"), None);
        assert_eq!(mac_of_value("4x", "ffffffffffff"), None);
        assert_eq!(mac_of_value("4x", "000000000000"), None);
        assert_eq!(mac_of_value("4x", "0418d6"), None);
        assert_eq!(mac_of_value("2", "1"), None);
    }
}
