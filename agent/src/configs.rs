//! The shell around [`crate::config_guard`]: the site config and probing
//! settings in force (watch channels the loops follow), their files, the
//! confirmed copies (`config.confirmed.json`, `probing.confirmed.json`),
//! the guard's revisions (`config-guard.json`) and the report the link
//! sends to the controller.

use crate::config_guard::{Decision, Guard, Limits, Revisions};
use crate::identity;
use mast_shared::{ConfigReport, ProbingConfig, SiteConfig, config_checksum};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::now_ms;

pub struct Configs {
    pub config_tx: watch::Sender<Option<SiteConfig>>,
    /// Holds credentials: never logged.
    pub probing_tx: watch::Sender<Option<ProbingConfig>>,
    /// What the link reports to the controller.
    pub report: watch::Sender<Option<ConfigReport>>,
    guard: Mutex<Guard>,
    dir: PathBuf,
}

fn lock(g: &Mutex<Guard>) -> std::sync::MutexGuard<'_, Guard> {
    g.lock().unwrap_or_else(|p| p.into_inner())
}

impl Configs {
    pub fn new(dir: &Path, limits: Limits) -> Arc<Configs> {
        let revs: Revisions = std::fs::read(dir.join("config-guard.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let c = Configs {
            config_tx: watch::Sender::new(identity::load_config(dir)),
            probing_tx: watch::Sender::new(identity::load_probing(dir)),
            report: watch::Sender::new(None),
            guard: Mutex::new(Guard::new(revs, limits, now_ms())),
            dir: dir.to_owned(),
        };
        c.refresh_report();
        Arc::new(c)
    }

    fn refresh_report(&self) {
        let cfg = self.config_tx.borrow().clone();
        let Some(cfg) = cfg else { return };
        let probing = self.probing_tx.borrow().clone();
        // A revision is reported once both of its parts are in.
        if probing.as_ref().is_some_and(|p| p.revision != cfg.revision) {
            return;
        }
        let g = lock(&self.guard);
        let r = ConfigReport {
            revision: cfg.revision,
            checksum: config_checksum(&cfg, probing.as_ref()),
            confirmed: g.revs.confirmed == Some(cfg.revision) && g.pending().is_none(),
            rejected: g.revs.rejected,
        };
        drop(g);
        self.report.send_if_modified(|cur| {
            let changed = cur.as_ref() != Some(&r);
            *cur = Some(r);
            changed
        });
    }

    fn save_revs(&self, revs: &Revisions) {
        let json = serde_json::to_vec_pretty(revs).expect("revisions serialize");
        if let Err(e) = identity::write_atomic(&self.dir.join("config-guard.json"), &json, 0o644) {
            warn!(error = %e, "cannot persist the config revisions");
        }
    }

    pub fn link(&self, up: bool) {
        lock(&self.guard).link(up, now_ms());
    }

    /// A pushed site config: applied if newer (and not rejected).
    pub fn apply_config(&self, cfg: SiteConfig) {
        let newer = self.config_tx.borrow().as_ref().is_none_or(|c| cfg.revision > c.revision || cfg.site != c.site);
        if !newer {
            return;
        }
        if !lock(&self.guard).push(cfg.revision, now_ms()) {
            warn!(revision = cfg.revision, "site config not applied: this revision cut the agent off before");
            return;
        }
        if let Err(e) = identity::save_config(&self.dir, &cfg) {
            warn!(error = %e, "cannot persist site config; using it in memory");
        }
        info!(
            revision = cfg.revision,
            targets = cfg.targets.len(),
            interval_ms = cfg.interval_ms,
            "site config applied"
        );
        self.config_tx.send_replace(Some(cfg));
        self.refresh_report();
    }

    /// Pushed probing settings (same revision counter as the site config).
    pub fn apply_probing(&self, p: ProbingConfig) {
        if self.probing_tx.borrow().as_ref() == Some(&p) {
            return;
        }
        if lock(&self.guard).revs.rejected == Some(p.revision) {
            warn!(revision = p.revision, "probing settings not applied: this revision cut the agent off before");
            return;
        }
        if let Err(e) = identity::save_probing(&self.dir, &p) {
            warn!(error = %e, "cannot persist probing config; using it in memory");
        }
        info!(
            revision = p.revision,
            snmp_targets = p.snmp_targets.len(),
            credentials = p.credentials.len(),
            subnets = p.subnets.len(),
            "probing config applied"
        );
        self.probing_tx.send_replace(Some(p));
        self.refresh_report();
    }

    /// Copies the files in force to the confirmed copies, or back (`restore`).
    fn copy_files(&self, restore: bool) {
        for (file, copy, mode) in
            [("config.json", "config.confirmed.json", 0o644), ("probing.json", "probing.confirmed.json", 0o600)]
        {
            let (from, to) = if restore { (copy, file) } else { (file, copy) };
            if let Ok(b) = std::fs::read(self.dir.join(from))
                && let Err(e) = identity::write_atomic(&self.dir.join(to), &b, mode)
            {
                warn!(error = %e, file = to, "cannot copy the config file");
            }
        }
    }

    /// Confirms or reverts as time passes (every second, whatever the link).
    pub async fn run_guard(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let decision = lock(&self.guard).tick(now_ms());
            match decision {
                None => {}
                Some(Decision::Confirm(rev)) => {
                    self.copy_files(false);
                    let revs = lock(&self.guard).revs.clone();
                    self.save_revs(&revs);
                    info!(revision = rev, "config confirmed (the link stayed up)");
                    self.refresh_report();
                }
                Some(Decision::Revert { from, to }) => {
                    warn!(
                        from,
                        to, "the new config cut the agent off from the controller: reverting to the last confirmed one"
                    );
                    self.copy_files(true);
                    if let Some(c) = identity::load_config(&self.dir) {
                        self.config_tx.send_replace(Some(c));
                    }
                    if let Some(p) = identity::load_probing(&self.dir) {
                        self.probing_tx.send_replace(Some(p));
                    }
                    let revs = lock(&self.guard).revs.clone();
                    self.save_revs(&revs);
                    self.refresh_report();
                }
            }
        }
    }
}
