//! The periodic workers: each runs a pass every interval until it is dropped.

use mast_store::db::{Db, now_ms};
use mast_store::monitoring::windows::send_notices;
use mast_store::rollup::{Retention, run_once};
use mast_store::tickets::Desk;
use mast_store::tickets::escalation::{SlaPolicy, check};
use std::time::Duration;
use tracing::warn;

/// The worker: a pass every `every`, apart from ingest.
pub async fn rollups(db: Db, every: Duration, keep: Retention) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match run_once(&db, now_ms(), keep).await {
            Ok(s) if s.raw_deleted > 0 => tracing::info!(deleted = s.raw_deleted, "raw samples past retention deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "rollup pass failed; retrying next time"),
        }
    }
}

/// Sends due advance notices every `every` until dropped.
pub async fn maintenance_notices(
    db: Db,
    channels: mast_store::outbox::Channels,
    tz: jiff::tz::TimeZone,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = send_notices(&db, channels, &tz, now_ms()).await {
            tracing::warn!(error = %e, "maintenance notices failed");
        }
    }
}

/// Runs the SLA check every `every` until the task is dropped.
pub async fn sla(db: Db, desk: Desk, policy: SlaPolicy, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = check(&db, &desk, &policy, now_ms()).await {
            warn!(error = %e, "SLA check failed");
        }
    }
}
