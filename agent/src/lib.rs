//! Mast tower agent: probes the site's devices, keeps every result in a
//! durable on-disk spool, and streams it to the controller over QUIC with
//! mutual TLS. `main.rs` is a thin CLI over these modules.
//!
//! Pure cores: [`backoff`], [`spool::ledger`]. Shells: [`spool`] (files),
//! [`link`] (QUIC), [`probe`] (ICMP/SNMP sockets), [`metrics`] (HTTP).

pub mod backoff;
pub mod config_guard;
pub mod configs;
pub mod discovery;
pub mod enroll;
pub mod identity;
pub mod inventory;
pub mod link;
pub mod metrics;
pub mod pacing;
pub mod ping;
pub mod probe;
pub mod run;
pub mod snmp;
pub mod spool;
pub mod tls;
pub mod upgrade;

/// Wall-clock Unix milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The target triple this binary was built for (sent in the hello).
pub const TARGET: &str = env!("MAST_TARGET");

/// The version this binary reports (`MAST_BUILD_VERSION` at build time, else
/// the crate's; sent in the hello).
pub const VERSION: &str = env!("MAST_VERSION");
