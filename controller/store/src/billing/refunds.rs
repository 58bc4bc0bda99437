//! Refunds: money paid back to a customer out of one payment. A refund is
//! a ledger debit paid by that payment ([`allocations`](super::allocations));
//! if the payment had already paid invoices, the newest of those open
//! again for what the refund takes. Card and ACH payments are refunded
//! through the payment provider first (the app layer does that and passes
//! the provider's refund id); others are recorded. Owns `refunds` and
//! `payments.refunded_minor`.

use super::allocation::Choice;
use super::allocations::{lock_customer, release_credit, settle};
use super::balances::EntryKind;
use super::common::{Filter, check_name, fmt_date, stored_currency};
use super::money::Money;
use super::payments::PaymentMethod;
use crate::db::{Db, StoreError, now_ms};
use jiff::civil::Date;
use serde::Serialize;

/// A payment as the refund form needs it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: i64,
    pub customer_id: i64,
    pub customer: String,
    pub payment_date: String,
    pub amount_minor: i64,
    pub currency: String,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub provider_payment_id: Option<String>,
    pub refunded_minor: i64,
    pub created_by: String,
    /// Not yet allocated to anything (customer credit).
    pub unallocated_minor: i64,
}

const PAYMENT_COLS: &str = "SELECT p.id, p.customer_id, c.name AS customer, p.payment_date, p.amount_minor, p.currency, \
    p.method, p.reference, p.provider_payment_id, p.refunded_minor, p.created_by, \
    CAST(COALESCE(l.open_minor, 0) AS BIGINT) AS unallocated_minor \
    FROM payments p JOIN customers c ON c.id = p.customer_id \
    LEFT JOIN ledger l ON l.payment_id = p.id AND l.kind = 'payment'";

/// One payment.
pub async fn payment(db: &Db, id: i64) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{PAYMENT_COLS} WHERE p.id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

/// What the payment list filters on.
#[derive(Debug, Clone, Default)]
pub struct PaymentQuery {
    pub method: Option<PaymentMethod>,
    /// Received on or after / before (exclusive).
    pub from: Option<Date>,
    pub until: Option<Date>,
    /// Only payments with money not allocated to anything.
    pub unallocated: bool,
    pub customer_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// Sums over every payment the query matches, per currency.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaymentTotals {
    pub currency: String,
    pub count: i64,
    pub amount_minor: i64,
    pub refunded_minor: i64,
    pub unallocated_minor: i64,
}

fn payment_where(q: &PaymentQuery) -> Filter {
    let mut f = Filter::new();
    if let Some(m) = q.method {
        f.text(" AND p.method = ?", m.as_str());
    }
    if let Some(d) = q.from {
        f.text(" AND p.payment_date >= ?", fmt_date(d));
    }
    if let Some(d) = q.until {
        f.text(" AND p.payment_date < ?", fmt_date(d));
    }
    if q.unallocated {
        f.raw(" AND l.open_minor > 0");
    }
    if let Some(c) = q.customer_id {
        f.int(" AND p.customer_id = ?", c);
    }
    f
}

/// One page of payments (newest first) and the totals of all that match.
pub async fn list_payments(db: &Db, q: &PaymentQuery) -> Result<(Vec<PaymentRow>, Vec<PaymentTotals>), StoreError> {
    let f = payment_where(q);
    let n = f.next_placeholder();
    let sql = format!("{PAYMENT_COLS}{} ORDER BY p.payment_date DESC, p.id DESC LIMIT ${n} OFFSET ${}", f.sql(), n + 1);
    let rows = f
        .bind(sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(sql)))
        .bind(q.limit.clamp(1, 1000))
        .bind(q.offset.max(0))
        .fetch_all(&db.pool)
        .await?;
    let sql = format!(
        "SELECT p.currency, CAST(COUNT(*) AS BIGINT) AS count, CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) AS amount_minor, \
         CAST(COALESCE(SUM(p.refunded_minor), 0) AS BIGINT) AS refunded_minor, \
         CAST(COALESCE(SUM(l.open_minor), 0) AS BIGINT) AS unallocated_minor \
         FROM payments p LEFT JOIN ledger l ON l.payment_id = p.id AND l.kind = 'payment'{} \
         GROUP BY p.currency ORDER BY p.currency",
        f.sql()
    );
    Ok((rows, f.bind(sqlx::query_as::<_, PaymentTotals>(sqlx::AssertSqlSafe(sql))).fetch_all(&db.pool).await?))
}

/// A refund to record.
#[derive(Debug, Clone)]
pub struct RefundInput {
    pub payment_id: i64,
    pub amount: Money,
    pub reason: String,
    pub date: Date,
    /// The provider's refund id (card and ACH payments): recording the same
    /// one twice is a no-op.
    pub provider_refund_id: Option<String>,
    pub by: String,
}

/// How much of a payment can still be refunded, and whether it must go
/// through the payment provider. Errors name the refund form's fields.
pub fn check_refund(p: &PaymentRow, amount: Money) -> Result<(), StoreError> {
    if amount.currency.code() != p.currency {
        return Err(StoreError::invalid("amount", format!("the payment was in {}", p.currency)));
    }
    let left = p.amount_minor - p.refunded_minor;
    let cur = amount.currency;
    if left <= 0 {
        return Err(StoreError::Conflict("this payment is refunded in full already".into()));
    }
    if amount.minor <= 0 || amount.minor > left {
        return Err(StoreError::invalid("amount", format!("between 0.01 and {}", Money::new(left, cur))));
    }
    Ok(())
}

/// Records a refund: the `refunds` row, the ledger debit paid by the
/// payment (invoices the payment paid open again, newest first, for what
/// it needs), in one transaction. Returns the refund id.
pub async fn record_refund(db: &Db, r: &RefundInput) -> Result<i64, StoreError> {
    let reason = check_name("reason", &r.reason, 500)?;
    let provider = r.provider_refund_id.as_deref().map(|x| check_name("provider_refund_id", x, 200)).transpose()?;
    let p =
        payment(db, r.payment_id).await?.ok_or_else(|| StoreError::NotFound(format!("payment {}", r.payment_id)))?;
    stored_currency(&p.currency)?;
    let mut tx = db.begin().await?;
    lock_customer(&mut tx, p.customer_id).await?;
    // Read again under the lock: two refunds of one payment never exceed it.
    let refunded: i64 =
        sqlx::query_scalar("SELECT refunded_minor FROM payments WHERE id = $1").bind(p.id).fetch_one(&mut *tx).await?;
    check_refund(&PaymentRow { refunded_minor: refunded, ..p.clone() }, r.amount)?;
    let now = now_ms();
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO refunds (payment_id, customer_id, refund_date, amount_minor, currency, reason, provider_refund_id, \
         created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (provider_refund_id) DO NOTHING RETURNING id",
    )
    .bind(p.id)
    .bind(p.customer_id)
    .bind(fmt_date(r.date))
    .bind(r.amount.minor)
    .bind(&p.currency)
    .bind(&reason)
    .bind(&provider)
    .bind(&r.by)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(sqlx::query_scalar("SELECT id FROM refunds WHERE provider_refund_id = $1")
            .bind(&provider)
            .fetch_one(&mut *tx)
            .await?);
    };
    sqlx::query("UPDATE payments SET refunded_minor = refunded_minor + $1 WHERE id = $2")
        .bind(r.amount.minor)
        .bind(p.id)
        .execute(&mut *tx)
        .await?;
    let credit: i64 = sqlx::query_scalar("SELECT id FROM ledger WHERE payment_id = $1 AND kind = 'payment'")
        .bind(p.id)
        .fetch_one(&mut *tx)
        .await?;
    release_credit(&mut tx, credit, r.amount.minor).await?;
    let debit: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, invoice_id, \
         payment_id, memo, open_minor, refund_id) VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL, $7, $8, $9, $10) RETURNING id",
    )
    .bind(p.customer_id)
    .bind(now)
    .bind(fmt_date(r.date))
    .bind(EntryKind::Refund)
    .bind(r.amount.minor)
    .bind(&p.currency)
    .bind(p.id)
    .bind(format!("Refund of payment {}: {reason}", p.id))
    .bind(r.amount.minor)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let choice = Choice { credit: credit as u64, debit: debit as u64, amount: r.amount };
    settle(&mut tx, p.customer_id, &[choice], "amount", &r.by).await?;
    tx.commit().await?;
    Ok(id)
}

/// A refund as the payment page lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RefundRow {
    pub id: i64,
    pub refund_date: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub provider_refund_id: Option<String>,
    pub created_by: String,
}

pub async fn refunds_of_payment(db: &Db, payment_id: i64) -> Result<Vec<RefundRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, refund_date, amount_minor, currency, reason, provider_refund_id, created_by FROM refunds \
         WHERE payment_id = $1 ORDER BY id",
    )
    .bind(payment_id)
    .fetch_all(&db.pool)
    .await?)
}
