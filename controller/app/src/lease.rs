//! Leases for the workers that must run once per installation (the outbox,
//! the correlator, billing, rollups, ...): several controllers may share one
//! PostgreSQL database, and each such worker runs only on the controller
//! holding its lease ([`mast_store::leases`]). On SQLite there is one
//! controller per database file ([`crate::single`]), which takes them all
//! whoever held them before (a leftover of a replaced data directory).
//!
//! Every `ttl / 3` the controller renews what it holds and takes what is
//! free or expired; a database error counts as holding nothing (a worker
//! pauses rather than risk running twice). A worker checks [`Leases::held`]
//! before each pass. A clean shutdown lets every lease go, so another
//! controller takes over at its next renewal; after a crash, within `ttl`
//! plus one renewal. The holder id is kept in the data directory, so a
//! restarted controller takes its own leases back at once.

use crate::shutdown::Shutdown;
use mast_store::db::{Db, now_ms};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{info, warn};

/// The workers that run once per installation, by lease name.
pub mod name {
    pub const OUTBOX: &str = "outbox";
    pub const OUTAGES: &str = "outages";
    pub const SLA: &str = "sla";
    pub const INTAKE: &str = "mail-intake";
    pub const MAINTENANCE_NOTICES: &str = "maintenance-notices";
    pub const ROLLOUTS: &str = "rollouts";
    pub const INCIDENT_ESCALATION: &str = "incident-escalation";
    pub const ALERT_RULES: &str = "alert-rules";
    pub const INVOICE_MAIL: &str = "invoice-mail";
    pub const BILLING: &str = "billing";
    pub const ROLLUPS: &str = "rollups";
    pub const STOCK: &str = "stock";
    pub const ALL: &[&str] = &[
        OUTBOX,
        OUTAGES,
        SLA,
        INTAKE,
        MAINTENANCE_NOTICES,
        ROLLOUTS,
        INCIDENT_ESCALATION,
        ALERT_RULES,
        INVOICE_MAIL,
        BILLING,
        ROLLUPS,
        STOCK,
    ];
}

/// This controller's leases.
pub struct Leases {
    holder: String,
    ttl: Duration,
    /// The database is this controller's alone (SQLite).
    exclusive: bool,
    held: HashMap<&'static str, AtomicBool>,
}

impl Leases {
    pub fn new(holder: String, ttl: Duration, exclusive: bool) -> Arc<Leases> {
        let held = name::ALL.iter().map(|n| (*n, AtomicBool::new(false))).collect();
        Arc::new(Leases { holder, ttl, exclusive, held })
    }

    /// This controller's id in the `leases` table.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this controller runs the worker `name` now.
    pub fn held(&self, name: &str) -> bool {
        self.held.get(name).is_some_and(|h| h.load(Ordering::Acquire))
    }

    /// One renewal of every lease.
    pub async fn renew(&self, db: &Db) {
        let ttl = self.ttl.as_millis() as i64;
        for (name, flag) in &self.held {
            let res = if self.exclusive {
                mast_store::leases::take(db, name, &self.holder, now_ms(), ttl).await.map(|()| true)
            } else {
                mast_store::leases::hold(db, name, &self.holder, now_ms(), ttl).await
            };
            let now = match res {
                Ok(h) => h,
                Err(e) => {
                    warn!(lease = name, error = %e, "cannot renew a lease; its worker pauses");
                    false
                }
            };
            let before = flag.swap(now, Ordering::AcqRel);
            if now != before {
                if now {
                    info!(lease = name, holder = %self.holder, "took the lease: this controller runs the worker");
                } else {
                    info!(lease = name, "lost the lease: another controller runs the worker");
                }
            }
        }
    }

    /// Renews until shutdown, then lets every lease go.
    pub async fn run(self: Arc<Self>, db: Db, shutdown: Shutdown) {
        let mut tick = tokio::time::interval((self.ttl / 3).max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.renew(&db).await,
                _ = shutdown.cancelled() => break,
            }
        }
        for flag in self.held.values() {
            flag.store(false, Ordering::Release);
        }
        if let Err(e) = mast_store::leases::release_all(&db, &self.holder).await {
            warn!(error = %e, "cannot let the leases go; another controller takes them when they expire");
        }
    }
}

/// This controller's lease holder id: `<host>-<random>`, made once and kept
/// in `<data_dir>/controller-id`.
pub fn holder_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("controller-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if !s.is_empty() && s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            return Ok(s.to_string());
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
    let id = format!("{}-{:08x}", if host.is_empty() { "controller" } else { &host }, rand::random::<u32>());
    std::fs::write(&path, format!("{id}\n"))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_controllers_split_nothing_and_the_survivor_takes_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/l.db", dir.path().display())).await.unwrap();
        let a = Leases::new("a".into(), Duration::from_millis(300), false);
        let b = Leases::new("b".into(), Duration::from_millis(300), false);
        a.renew(&db).await;
        b.renew(&db).await;
        assert!(name::ALL.iter().all(|n| a.held(n) && !b.held(n)), "the first takes every lease");
        // a stops renewing (it died): b takes over once they expire.
        tokio::time::sleep(Duration::from_millis(350)).await;
        b.renew(&db).await;
        assert!(name::ALL.iter().all(|n| b.held(n)));
        a.renew(&db).await;
        assert!(name::ALL.iter().all(|n| !a.held(n)), "never two holders");
        // A clean stop lets go at once.
        let sd = Shutdown::new();
        let run = tokio::spawn(b.clone().run(db.clone(), sd.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        sd.trigger();
        run.await.unwrap();
        assert!(!b.held(name::OUTBOX));
        a.renew(&db).await;
        assert!(a.held(name::OUTBOX));
        assert!(!a.held("no such worker"));
        // The only controller of its database takes over a leftover at once.
        let only = Leases::new("c".into(), Duration::from_secs(30), true);
        only.renew(&db).await;
        assert!(name::ALL.iter().all(|n| only.held(n)));
    }

    #[test]
    fn the_holder_id_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = holder_id(dir.path()).unwrap();
        assert_eq!(holder_id(dir.path()).unwrap(), first);
    }
}
