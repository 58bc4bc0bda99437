//! A billing-day change of an invoiced account: the bridge invoice
//! ([`mast_billing_core::bridge`] decides its days and share) is stored like
//! a run's invoice, in the transaction that moves the account to its new
//! day and records `bill_from`, so runs never bill those days again.

use super::super::accounts::billed_until;
use super::super::bridge::{DayChange, bridge_input, day_change};
use super::super::inputs::{Scope, load_inputs};
use super::super::invoice::{InvoiceDraft, InvoiceRules, draft};
use super::super::period::BillingDay;
use super::{Ctx, DEFAULT_SERIES, DEFAULT_TERMS_DAYS, Pending, RunError, SqlCache, fmt_date, store_batch_in};
use crate::db::{Db, StoreError, Tx, now_ms};
use jiff::civil::Date;
use serde::Serialize;

/// What a billing-day change would do (nothing is written).
#[derive(Debug, Clone, Serialize)]
pub struct DayChangePreview {
    pub change: DayChange,
    /// The bridge invoice's lines (description, net minor) and total.
    pub lines: Vec<(String, i64)>,
    pub total_minor: i64,
    pub currency: String,
}

/// What a billing-day change did.
#[derive(Debug, Clone, Serialize)]
pub struct DayChanged {
    pub change: DayChange,
    /// The bridge invoice (id, number), if one was issued.
    pub invoice: Option<(i64, String)>,
    pub total_minor: i64,
}

/// The change and, if it has a bridge, its draft (with the account's
/// payment reference).
async fn plan(
    db: &Db,
    tx: &mut Tx<'_>,
    customer_id: i64,
    new_day: BillingDay,
    today: Date,
) -> Result<(DayChange, Option<(InvoiceDraft, String)>, String), RunError> {
    let until = billed_until(tx, customer_id).await?;
    let change = day_change(until, today, new_day)?;
    let Some(bridge) = change.bridge else {
        let code: Option<String> = sqlx::query_scalar("SELECT currency FROM billing_accounts WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_optional(&mut **tx)
            .await?;
        return Ok((change, None, code.unwrap_or_default()));
    };
    let inputs = load_inputs(db, Scope::Customer(customer_id), bridge.basis).await?;
    let due = inputs
        .due
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("account of customer {customer_id}")))?;
    let input = due
        .input
        .map_err(|e| StoreError::invalid("billing_day", format!("the bridge invoice cannot be computed: {e}")))?;
    let d = draft(&bridge_input(&input, &bridge), &inputs.catalog, &InvoiceRules::default())?;
    let code = d.currency.code().to_string();
    Ok((change, (!d.is_empty()).then_some((d, due.payment_reference)), code))
}

/// Previews moving `customer_id` to `new_day` on `today`.
pub async fn preview_day_change(
    db: &Db,
    customer_id: i64,
    new_day: u8,
    today: Date,
) -> Result<DayChangePreview, StoreError> {
    let day = BillingDay::new(new_day).map_err(|_| StoreError::invalid("billing_day", "a day from 1 to 28"))?;
    let mut tx = db.begin().await?;
    let (change, bridge, currency) = plan(db, &mut tx, customer_id, day, today).await.map_err(to_store)?;
    tx.rollback().await?;
    let (lines, total_minor) = match &bridge {
        Some((d, _)) => (d.lines.iter().map(|l| (l.description.clone(), l.net.minor)).collect(), d.total.minor),
        None => (Vec::new(), 0),
    };
    Ok(DayChangePreview { change, lines, total_minor, currency })
}

/// Moves `customer_id` (with a billing account) to `new_day` on `today`:
/// issues the bridge invoice, if any, and sets the day and `bill_from`, in
/// one transaction (the customer's billing row locked first).
pub async fn change_billing_day(db: &Db, customer_id: i64, new_day: u8, today: Date) -> Result<DayChanged, StoreError> {
    change(db, customer_id, new_day, today).await.map_err(to_store)
}

/// A run error as the store error a caller shows: bad data or a date out
/// of the calendar is the new day's problem.
fn to_store(e: RunError) -> StoreError {
    match e {
        RunError::Db(e) => e,
        RunError::Sqlx(e) => e.into(),
        RunError::Billing(e) => StoreError::invalid("billing_day", e.to_string()),
    }
}

async fn change(db: &Db, customer_id: i64, new_day: u8, today: Date) -> Result<DayChanged, RunError> {
    let day = BillingDay::new(new_day).map_err(|_| StoreError::invalid("billing_day", "a day from 1 to 28"))?;
    let mut tx = db.begin().await?;
    super::super::allocations::lock_customer(&mut tx, customer_id).await?;
    let (change, bridge, _) = plan(db, &mut tx, customer_id, day, today).await?;
    let mut invoice = None;
    let mut total_minor = 0;
    if let Some((d, payment_reference)) = bridge {
        let range = change
            .bridge
            .map(|b| b.range)
            .ok_or_else(|| StoreError::Corrupt("a bridge draft without a bridge".into()))?;
        let ctx = Ctx {
            series: DEFAULT_SERIES.into(),
            year: i64::from(today.year()),
            period_start: fmt_date(range.start()),
            period_end: fmt_date(range.end()),
            issue_date: fmt_date(today),
            due_date: fmt_date(super::add_days(today, i64::from(DEFAULT_TERMS_DAYS))?),
            run_id: None,
            created_ms: now_ms(),
        };
        total_minor = d.total.minor;
        let pending = [Pending { customer_id, payment_reference, draft: d }];
        let stored = store_batch_in(&mut tx, db.backend, &ctx, &mut SqlCache::default(), &pending).await?;
        let number = stored.numbers.into_iter().next().map(|(_, n)| n).ok_or_else(|| {
            StoreError::Conflict("an invoice for the bridge's first day exists already; reload and try again".into())
        })?;
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM invoices WHERE number = $1").bind(&number).fetch_one(&mut *tx).await?;
        invoice = Some((id, number));
    }
    sqlx::query("UPDATE billing_accounts SET billing_day = $1, bill_from = $2, updated_ms = $3 WHERE customer_id = $4")
        .bind(i64::from(new_day))
        .bind(change.bill_from.map(fmt_date))
        .bind(now_ms())
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(DayChanged { change, invoice, total_minor })
}
