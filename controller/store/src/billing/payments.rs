//! Payments received (manual, bank imports, the payment provider): each is a
//! `payments` row and its ledger credit, written together. Owns `payments`.

use super::accounts::require_account;
use super::balances::EntryKind;
use super::common::{AmountLimits, check_amount, check_name, fmt_date};
use super::money::Money;
use crate::db::{Db, StoreError, now_ms};
use jiff::civil::Date;
use serde::Serialize;

crate::text_enum! {
    /// How a payment was made (`payments.method`).
    pub enum PaymentMethod (field "method") {
        Cash = "cash",
        Check = "check",
        Bank = "bank",
        Card = "card",
        Ach = "ach",
    }
}

impl PaymentMethod {
    /// What staff record by hand (card and ACH payments come from the
    /// payment provider).
    pub const MANUAL: &'static [PaymentMethod] = &[PaymentMethod::Bank, PaymentMethod::Cash, PaymentMethod::Check];

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "Cash",
            PaymentMethod::Check => "Check",
            PaymentMethod::Bank => "Bank transfer",
            PaymentMethod::Card => "Card",
            PaymentMethod::Ach => "ACH",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PaymentInput {
    pub customer_id: i64,
    pub date: Date,
    /// Money received (positive).
    pub amount: Money,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    /// The payment provider's id: recording the same one twice is a no-op.
    pub provider_payment_id: Option<String>,
    pub created_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PaymentRecorded {
    pub id: i64,
    /// The provider payment id was already recorded: nothing changed.
    pub duplicate: bool,
}

/// Records a payment: the `payments` row and its ledger credit, in one
/// transaction. Errors name the payment form's fields (`amount`, `method`,
/// `reference`, `date`); a customer without a billing account is a
/// [`StoreError::NotFound`].
pub async fn record_payment(db: &Db, p: &PaymentInput, limits: &AmountLimits) -> Result<PaymentRecorded, StoreError> {
    record_payment_to(db, p, limits, &[]).await
}

/// [`record_payment`], paying the `chosen` invoices (id, amount) first and
/// the rest oldest first. A choice that does not fit (more than the invoice
/// has open, more than the payment) is [`StoreError::Invalid`] on
/// `allocation` and nothing is recorded.
pub async fn record_payment_to(
    db: &Db,
    p: &PaymentInput,
    limits: &AmountLimits,
    chosen: &[(i64, Money)],
) -> Result<PaymentRecorded, StoreError> {
    let acc = require_account(db, p.customer_id).await?;
    if p.amount.minor <= 0 {
        return Err(StoreError::invalid("amount", "must be positive"));
    }
    check_amount("amount", p.amount, limits.max_payment_major)?;
    if p.amount.currency.code() != acc.currency {
        return Err(StoreError::invalid("amount", format!("the account bills in {}", acc.currency)));
    }
    let reference = p.reference.as_deref().map(|r| check_name("reference", r, 200)).transpose()?;
    let provider = p.provider_payment_id.as_deref().map(|r| check_name("provider_payment_id", r, 200)).transpose()?;
    let amount = p.amount.minor.checked_neg().ok_or_else(|| StoreError::invalid("amount", "too large"))?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO payments (customer_id, payment_date, amount_minor, currency, method, reference, \
         provider_payment_id, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (provider_payment_id) DO NOTHING RETURNING id",
    )
    .bind(p.customer_id)
    .bind(fmt_date(p.date))
    .bind(p.amount.minor)
    .bind(p.amount.currency.code())
    .bind(p.method)
    .bind(&reference)
    .bind(&provider)
    .bind(&p.created_by)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        let id: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE provider_payment_id = $1")
            .bind(&provider)
            .fetch_one(&mut *tx)
            .await?;
        return Ok(PaymentRecorded { id, duplicate: true });
    };
    let memo = match &reference {
        Some(r) => format!("Payment ({}, {r})", p.method),
        None => format!("Payment ({})", p.method),
    };
    let entry: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, invoice_id, \
         payment_id, memo, open_minor) VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL, $7, $8, $9) RETURNING id",
    )
    .bind(p.customer_id)
    .bind(now)
    .bind(fmt_date(p.date))
    .bind(EntryKind::Payment)
    .bind(amount)
    .bind(p.amount.currency.code())
    .bind(id)
    .bind(memo)
    .bind(p.amount.minor)
    .fetch_one(&mut *tx)
    .await?;
    super::allocations::lock_customer(&mut tx, p.customer_id).await?;
    let mut choices = Vec::with_capacity(chosen.len());
    for &(invoice, amount) in chosen {
        let debit = super::allocations::invoice_debit(&mut tx, p.customer_id, invoice)
            .await?
            .ok_or_else(|| StoreError::invalid("allocation", format!("invoice {invoice} is not this customer's")))?;
        choices.push(super::allocation::Choice { credit: entry as u64, debit: debit as u64, amount });
    }
    super::allocations::settle(&mut tx, p.customer_id, &choices, "allocation", &p.created_by).await?;
    tx.commit().await?;
    Ok(PaymentRecorded { id, duplicate: false })
}

/// A payment as the customer page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentLine {
    pub id: i64,
    pub refunded_minor: i64,
    #[sqlx(rename = "payment_date")]
    pub date: String,
    pub amount_minor: i64,
    pub currency: String,
    pub method: PaymentMethod,
    pub reference: String,
}

/// A customer's most recent payments, newest first.
pub async fn recent_payments(db: &Db, customer: i64, limit: i64) -> Result<Vec<PaymentLine>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, refunded_minor, payment_date, amount_minor, currency, method, COALESCE(reference, '') AS reference FROM payments \
         WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(customer)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}
