//! The billing schedule (shell): every `billing_check_secs` the controller
//! runs, for today in the operator's time zone, the invoice run (customers
//! whose billing day is today; idempotent, so an hourly pass issues each
//! invoice once), then autopay (if a payment provider is configured), then
//! dunning. Each step logs and carries on if another fails.

use super::collections::{self, Settings};
use crate::db::Db;
use mast_store::outbox::Channels;
use std::sync::Arc;
use tracing::{info, warn};

pub struct Schedule {
    pub tz: jiff::tz::TimeZone,
    pub invoice_runs: bool,
    pub dunning: Settings,
    pub provider: Option<Arc<dyn super::provider::PaymentProvider>>,
    pub channels: Channels,
    /// The invoice run stops at a batch boundary at shutdown.
    pub shutdown: crate::shutdown::Shutdown,
}

/// Today's date in `tz`.
pub fn today(tz: &jiff::tz::TimeZone) -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned_datetime(tz.clone()).date()
}

pub async fn pass(db: &Db, s: &Schedule) {
    let today = today(&s.tz);
    if s.invoice_runs {
        let stop = s.shutdown.clone();
        let opts = super::run::RunOptions { stop: Some(Box::new(move || stop.is_triggered())), ..Default::default() };
        match super::run::run(db, today, &opts).await {
            Ok(r) if r.invoices_issued > 0 => info!(issued = r.invoices_issued, "scheduled invoice run"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "scheduled invoice run failed"),
        }
    }
    if s.shutdown.is_triggered() {
        return;
    }
    if let Some(p) = &s.provider {
        match super::autopay::run(db, p.as_ref(), today).await {
            Ok(r) if !r.is_empty() => info!(charges = r.len(), "autopay"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "autopay failed"),
        }
    }
    match collections::run(db, &s.dunning, s.channels, today).await {
        Ok(r) if r.reminders + r.fees + r.suspended + r.reactivated > 0 => info!(?r, "dunning"),
        Ok(_) => {}
        Err(e) => warn!(error = %e, "dunning failed"),
    }
}
