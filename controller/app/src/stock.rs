//! The inventory's reconciliation worker: every `stock.reconcile_every`, the
//! units with a MAC against what the agents see
//! ([`mast_store::stock::reconcile`]); a unit a technician carries that
//! shows up serving a customer is installed there (automatic, audited as
//! `reconcile`), one unit's failure never stopping the others; and once a
//! day, from `stock.summary_hour` local time, a summary to the admins by
//! email when there is something to tell (sent once per day, whichever
//! controller gets there first).

use crate::context::StockSettings;
use mast_stock_core::reconcile::Report;
use mast_store::audit::{self, Actor};
use mast_store::db::{Db, StoreError};
use mast_store::outbox::{self, Channel, Channels, Message};
use mast_store::staff::{self, Role};
use mast_store::stock::reconcile::{self, Installed};
use std::collections::BTreeMap;

/// What a pass did.
#[derive(Debug, Default)]
pub struct Pass {
    pub installed: Vec<Installed>,
    pub summary_sent: bool,
}

/// One pass at `now`.
pub async fn pass(
    db: &Db,
    s: &StockSettings,
    tz: &jiff::tz::TimeZone,
    channels: Channels,
    public_url: &str,
    now: i64,
) -> Result<Pass, StoreError> {
    let report = reconcile::report(db, now, s.stale_after_ms).await?;
    let installed = reconcile::auto_install(db, &report).await?;
    let actor = Actor { name: "reconcile".into(), ip: None };
    for i in &installed {
        match &i.result {
            Ok(batch) => {
                tracing::info!(unit = i.unit, customer = i.customer, "stock: unit seen on the air, installed");
                let detail = format!("seen serving customer {} (movement {batch})", i.customer);
                audit::record(db, &actor, "stock.auto-install", &format!("unit {}", i.unit), &detail).await?;
            }
            Err(e) => tracing::warn!(unit = i.unit, error = %e, "stock: automatic install refused"),
        }
    }
    let summary_sent = summary(db, s, tz, channels, public_url, now, &report, &installed).await?;
    Ok(Pass { installed, summary_sent })
}

/// The day's summary text, or `None` when there is nothing to tell.
pub fn summary_text(r: &Report, installed: usize, public_url: &str) -> Option<String> {
    let lines = [
        (installed, "unit(s) installed automatically (seen serving a customer)"),
        (r.unknown.len(), "MAC(s) on the network that no stock record knows"),
        (r.not_assigned.len(), "unit(s) on the network that the records keep in stock, at RMA, retired or lost"),
        (r.moved.len(), "unit(s) seen somewhere else than recorded"),
        (r.stale.len(), "customer unit(s) not seen recently"),
    ];
    let told: Vec<String> = lines.iter().filter(|(n, _)| *n > 0).map(|(n, t)| format!("- {n} {t}")).collect();
    if told.is_empty() {
        return None;
    }
    Some(format!(
        "The inventory compared with what the network sees:\n\n{}\n\nResolve them in Mast: {}/stock/reconcile\n",
        told.join("\n"),
        public_url.trim_end_matches('/')
    ))
}

#[allow(clippy::too_many_arguments)]
async fn summary(
    db: &Db,
    s: &StockSettings,
    tz: &jiff::tz::TimeZone,
    channels: Channels,
    public_url: &str,
    now: i64,
    r: &Report,
    installed: &[Installed],
) -> Result<bool, StoreError> {
    if !channels.has(Channel::Email) {
        return Ok(false);
    }
    let Ok(ts) = jiff::Timestamp::from_millisecond(now) else { return Ok(false) };
    let local = ts.to_zoned_datetime(tz.clone());
    if local.hour() < s.summary_hour {
        return Ok(false);
    }
    let day = local.date().to_string();
    if reconcile::summary_sent(db, &day).await? {
        return Ok(false);
    }
    let ok = installed.iter().filter(|i| i.result.is_ok()).count();
    let Some(body) = summary_text(r, ok, public_url) else { return Ok(false) };
    let admins: Vec<String> = staff::list_users(db)
        .await?
        .into_iter()
        .filter(|u| u.role == Role::Admin && !u.disabled)
        .map(|u| u.email)
        .collect();
    if admins.is_empty() {
        return Ok(false);
    }
    let mut tx = db.begin().await?;
    if !reconcile::claim_summary(&mut tx, &day).await? {
        return Ok(false);
    }
    for to in admins {
        let m = Message {
            dedup: format!("stock-summary:{day}:{to}"),
            channel: Channel::Email,
            recipient: to,
            subject: format!("Inventory check {day}"),
            body: body.clone(),
            headers: BTreeMap::new(),
            customer_id: None,
            ticket_id: None,
        };
        outbox::enqueue(&mut tx, &m).await?;
    }
    tx.commit().await?;
    Ok(true)
}
