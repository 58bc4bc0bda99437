//! Reactions between domains, one function per reaction, so the domains
//! themselves never import each other: monitoring does not know tickets, and
//! tickets do not know the correlator.
//!
//! - [`outage`]: the correlator's actions → incidents, their one ticket, and
//!   the affected customers' notices and the staff alerts (opened, grew,
//!   recovered), all in one transaction with the correlator's state.

use crate::alerts::{Phase, incident as alert};
use mast_ops_core::correlator::{Action, Correlator};
use mast_store::db::{Db, StoreError, now_ms};
use mast_store::monitoring::outages as incidents;
use mast_store::outbox::{Channels, OutagePhase, outage_notices};
use mast_store::tickets;
use mast_text_core::when::human_duration;
use tracing::info;

/// Applies the correlator's `actions`: each incident is upserted; a
/// customer-facing incident opens (or reopens) exactly one ticket and tells
/// its customers, an update adds the customers who joined (told once), a
/// resolution resolves the ticket with the duration and tells them service
/// is back, a superseded incident's ticket is resolved pointing at the new
/// one. Internal alerts get no ticket. The correlator's state is saved in
/// the same transaction, so a crash replays the actions or none of them.
pub async fn outage(
    db: &Db,
    channels: &Channels,
    alerts: &crate::alerts::AlertSettings,
    tz: &jiff::tz::TimeZone,
    corr: &Correlator,
    actions: &[Action],
) -> Result<(), StoreError> {
    let notify = channels.customer_notices();
    // Who is on call now (groups read before the transaction).
    let route = if actions.is_empty() { Default::default() } else { alerts.route(db).await? };
    let mut tx = db.begin().await?;
    // Customer-facing incidents carry exactly one ticket; internal alerts none.
    for a in actions {
        match a {
            Action::Open(i) | Action::Reopen(i) | Action::Update(i) | Action::InternalAlertOpen(i) => {
                if matches!(a, Action::Open(_) | Action::InternalAlertOpen(_)) {
                    info!(incident = i.id, root = ?i.root, devices = i.devices.len(), "incident opened");
                }
                incidents::upsert(&mut tx, i, i.end, None).await?;
                match a {
                    Action::Open(_) | Action::Reopen(_) => {
                        let subject = incidents::subject(&mut tx, i).await?;
                        let t = tickets::outage_opened(&mut tx, i.id as i64, &subject).await?;
                        outage_notices(&mut tx, notify, tz, i.id as i64, Some(t), i.start, OutagePhase::Start).await?;
                        let n = i.devices.len();
                        alert(&mut tx, &route, i.id as i64, &subject, n, Phase::Opened).await?;
                    }
                    Action::Update(_) => {
                        let t = tickets::outage_updated(&mut tx, i.id as i64).await?;
                        // Customers who joined the outage are told too (once).
                        outage_notices(&mut tx, notify, tz, i.id as i64, t, i.start, OutagePhase::Start).await?;
                        let subject = incidents::subject(&mut tx, i).await?;
                        let n = i.devices.len();
                        alert(&mut tx, &route, i.id as i64, &subject, n, Phase::Grew { devices: n }).await?;
                    }
                    Action::InternalAlertOpen(_) => {
                        let subject = incidents::subject(&mut tx, i).await?;
                        alert(&mut tx, &route, i.id as i64, &subject, i.devices.len(), Phase::Opened).await?;
                    }
                    _ => {}
                }
            }
            Action::Resolve { incident: i, duration_ms } | Action::InternalAlertResolve { alert: i, duration_ms } => {
                info!(incident = i.id, duration_s = duration_ms / 1000, "incident resolved");
                incidents::upsert(&mut tx, i, Some(i.end.unwrap_or(i.start + duration_ms)), None).await?;
                if matches!(a, Action::Resolve { .. }) {
                    let why = format!("Service restored after {}.", human_duration(*duration_ms));
                    let t = tickets::outage_resolved(&mut tx, i.id as i64, &why).await?;
                    let phase = OutagePhase::Recovery { duration_ms: *duration_ms };
                    outage_notices(&mut tx, notify, tz, i.id as i64, t, i.start, phase).await?;
                }
                let subject = incidents::subject(&mut tx, i).await?;
                let phase = Phase::Recovered { duration_ms: *duration_ms };
                alert(&mut tx, &route, i.id as i64, &subject, i.devices.len(), phase).await?;
            }
            Action::Supersede { incident: i, by } => {
                incidents::upsert(&mut tx, i, Some(i.end.unwrap_or_else(now_ms)), Some(*by as i64)).await?;
                let why = format!("Merged into incident #{by}: the cause is upstream; that ticket follows it.");
                tickets::outage_resolved(&mut tx, i.id as i64, &why).await?;
            }
        }
    }
    incidents::save_correlator(&mut tx, corr).await?;
    tx.commit().await?;
    Ok(())
}
