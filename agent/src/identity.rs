//! The agent's state directory: identity from enrollment, TLS material, boot
//! epoch and the last site config.
//!
//! Layout: `identity.json` (agent id, site, controller address),
//! `agent.key.pem` (0600, never leaves the tower), `agent.cert.der`,
//! `ca.cert.der`, `boot_epoch`, `config.json`, `spool/`.

use mast_shared::{ProbingConfig, SiteConfig};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("this agent is not enrolled ({0} missing): run `mast-agent enroll` first")]
    NotEnrolled(PathBuf),
}

pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_owned(), source }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub agent_id: u64,
    pub site: String,
    pub controller: String,
}

pub struct Enrolled {
    pub identity: Identity,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub ca_der: Vec<u8>,
}

/// Writes a file atomically: temp file, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    }
    Ok(())
}

pub fn save_enrollment(dir: &Path, e: &Enrolled) -> Result<(), StateError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    write_atomic(&dir.join("agent.key.pem"), e.key_pem.as_bytes(), 0o600)?;
    write_atomic(&dir.join("agent.cert.der"), &e.cert_der, 0o644)?;
    write_atomic(&dir.join("ca.cert.der"), &e.ca_der, 0o644)?;
    let json = serde_json::to_vec_pretty(&e.identity).expect("identity serializes");
    write_atomic(&dir.join("identity.json"), &json, 0o644)
}

pub fn load_enrollment(dir: &Path) -> Result<Enrolled, StateError> {
    let read = |name: &str| {
        let p = dir.join(name);
        if !p.exists() {
            return Err(StateError::NotEnrolled(p));
        }
        std::fs::read(&p).map_err(io_err(&p))
    };
    let id_bytes = read("identity.json")?;
    let identity = serde_json::from_slice(&id_bytes)
        .map_err(|e| StateError::Corrupt { path: dir.join("identity.json"), message: e.to_string() })?;
    let key_pem = String::from_utf8(read("agent.key.pem")?)
        .map_err(|e| StateError::Corrupt { path: dir.join("agent.key.pem"), message: e.to_string() })?;
    Ok(Enrolled { identity, key_pem, cert_der: read("agent.cert.der")?, ca_der: read("ca.cert.der")? })
}

/// Increments and persists the boot epoch before it is used, so no restart
/// can reuse an epoch (and hence a `(boot_epoch, seq)` pair).
pub fn next_boot_epoch(dir: &Path) -> Result<u64, StateError> {
    let p = dir.join("boot_epoch");
    let cur = match std::fs::read_to_string(&p).map(|s| s.trim().parse::<u64>()) {
        Ok(Ok(n)) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        // A damaged counter must not stop the agent, nor reuse an epoch: jump
        // to the clock (Unix seconds), far above any counted epoch.
        other => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(u32::MAX as u64);
            tracing::warn!(path = %p.display(), problem = ?other, "boot epoch file damaged; continuing from the clock");
            now
        }
    };
    let next = cur + 1;
    write_atomic(&p, format!("{next}\n").as_bytes(), 0o644)?;
    Ok(next)
}

/// The last site config received; `None` if none yet or unreadable (the
/// agent then waits for the controller rather than failing).
pub fn load_config(dir: &Path) -> Option<SiteConfig> {
    let bytes = std::fs::read(dir.join("config.json")).ok()?;
    match serde_json::from_slice::<StoredConfig>(&bytes) {
        Ok(c) => Some(c.into()),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring unreadable config.json");
            None
        }
    }
}

pub fn save_config(dir: &Path, cfg: &SiteConfig) -> Result<(), StateError> {
    let json = serde_json::to_vec_pretty(&StoredConfig::from(cfg.clone())).expect("config serializes");
    write_atomic(&dir.join("config.json"), &json, 0o644)
}

/// The last SNMP/discovery settings received (`probing.json`, mode 0600: it
/// holds SNMP credentials). `None` if none yet or unreadable.
pub fn load_probing(dir: &Path) -> Option<ProbingConfig> {
    let bytes = std::fs::read(dir.join("probing.json")).ok()?;
    match serde_json::from_slice::<ProbingConfig>(&bytes) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring unreadable probing.json");
            None
        }
    }
}

pub fn save_probing(dir: &Path, cfg: &ProbingConfig) -> Result<(), StateError> {
    let json = serde_json::to_vec_pretty(cfg).expect("probing config serializes");
    write_atomic(&dir.join("probing.json"), &json, 0o600)
}

/// On-disk form of [`SiteConfig`] (JSON, readable by a technician).
#[derive(Serialize, Deserialize)]
struct StoredConfig {
    revision: u64,
    site: String,
    targets: Vec<StoredTarget>,
    interval_ms: u32,
    timeout_ms: u32,
}

#[derive(Serialize, Deserialize)]
struct StoredTarget {
    addr: std::net::IpAddr,
    name: Option<String>,
}

impl From<SiteConfig> for StoredConfig {
    fn from(c: SiteConfig) -> Self {
        StoredConfig {
            revision: c.revision,
            site: c.site,
            targets: c.targets.into_iter().map(|t| StoredTarget { addr: t.addr, name: t.name }).collect(),
            interval_ms: c.interval_ms,
            timeout_ms: c.timeout_ms,
        }
    }
}

impl From<StoredConfig> for SiteConfig {
    fn from(c: StoredConfig) -> Self {
        SiteConfig {
            revision: c.revision,
            site: c.site,
            targets: c.targets.into_iter().map(|t| mast_shared::ProbeTarget { addr: t.addr, name: t.name }).collect(),
            interval_ms: c.interval_ms,
            timeout_ms: c.timeout_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_epoch_increases_and_persists() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(next_boot_epoch(d.path()).unwrap(), 1);
        assert_eq!(next_boot_epoch(d.path()).unwrap(), 2);
        std::fs::write(d.path().join("boot_epoch"), "garbage").unwrap();
        let e = next_boot_epoch(d.path()).unwrap();
        assert!(e > 1_000_000_000, "a damaged counter jumps ahead (to the clock), never back to 1: {e}");
        assert_eq!(next_boot_epoch(d.path()).unwrap(), e + 1);
    }
}
