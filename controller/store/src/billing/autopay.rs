//! Autopay attempts: every card or ACH charge tried through the payment
//! provider, its outcome, and when the next try is due after a decline
//! (the service around it is `mast_app::billing::autopay`). Owns
//! `autopay_attempts`.

use super::common::fmt_date;
use crate::db::{Db, StoreError};
use jiff::civil::Date;

crate::text_enum! {
    /// Where a charge attempt stands (`autopay_attempts.outcome`).
    pub enum AttemptOutcome (field "outcome") {
        /// Claimed, the provider not yet answered.
        Pending = "pending",
        Succeeded = "succeeded",
        /// A bank payment under way (confirmed by a webhook).
        Processing = "processing",
        Declined = "declined",
    }
}

/// The attempt `attempt` of charging `customer_id`'s ledger state `mark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptKey {
    pub customer_id: i64,
    pub ledger_mark: i64,
    pub attempt: i64,
}

/// Claims an attempt (outcome `pending`) before the provider is asked:
/// false when it was claimed before (a double submit, a concurrent pass).
pub async fn claim_attempt(db: &Db, k: AttemptKey, ts_ms: i64, amount_minor: i64) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "INSERT INTO autopay_attempts (customer_id, ledger_mark, attempt, ts_ms, amount_minor, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(k.customer_id)
    .bind(k.ledger_mark)
    .bind(k.attempt)
    .bind(ts_ms)
    .bind(amount_minor)
    .bind(AttemptOutcome::Pending)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Forgets a claimed attempt (the provider could not be reached: the same
/// key is tried again, and the provider dedups it).
pub async fn release_attempt(db: &Db, k: AttemptKey) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM autopay_attempts WHERE customer_id = $1 AND ledger_mark = $2 AND attempt = $3")
        .bind(k.customer_id)
        .bind(k.ledger_mark)
        .bind(k.attempt)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Records what the provider answered.
pub async fn finish_attempt(
    db: &Db,
    k: AttemptKey,
    outcome: AttemptOutcome,
    detail: Option<&str>,
    provider_payment_id: Option<&str>,
    next_ms: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE autopay_attempts SET outcome = $1, detail = $2, provider_payment_id = $3, next_ms = $4 \
         WHERE customer_id = $5 AND ledger_mark = $6 AND attempt = $7",
    )
    .bind(outcome)
    .bind(detail)
    .bind(provider_payment_id)
    .bind(next_ms)
    .bind(k.customer_id)
    .bind(k.ledger_mark)
    .bind(k.attempt)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A webhook confirmed the payment `provider_payment_id`.
pub async fn confirm_by_provider_id(db: &Db, provider_payment_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE autopay_attempts SET outcome = $1 WHERE provider_payment_id = $2")
        .bind(AttemptOutcome::Succeeded)
        .bind(provider_payment_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// A webhook reported the payment `provider_payment_id` failed; the next
/// try is due at `next_ms`.
pub async fn decline_by_provider_id(
    db: &Db,
    provider_payment_id: &str,
    detail: &str,
    next_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE autopay_attempts SET outcome = $1, detail = $2, next_ms = $3 WHERE provider_payment_id = $4")
        .bind(AttemptOutcome::Declined)
        .bind(detail)
        .bind(next_ms)
        .bind(provider_payment_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The latest attempt for a ledger state: (attempt, outcome, next_ms).
pub async fn last_attempt(
    db: &Db,
    customer_id: i64,
    ledger_mark: i64,
) -> Result<Option<(i64, AttemptOutcome, Option<i64>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT attempt, outcome, next_ms FROM autopay_attempts WHERE customer_id = $1 AND ledger_mark = $2 \
         ORDER BY attempt DESC LIMIT 1",
    )
    .bind(customer_id)
    .bind(ledger_mark)
    .fetch_optional(&db.pool)
    .await?)
}

/// Customers with autopay on and a saved method who owe money and have an
/// invoice due on or before `today`.
pub async fn autopay_candidates(db: &Db, today: Date) -> Result<Vec<i64>, StoreError> {
    let due: Vec<i64> = sqlx::query_scalar(
        "SELECT a.customer_id FROM billing_accounts a WHERE a.autopay <> 0 AND a.payment_method_id IS NOT NULL \
         AND EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = a.customer_id AND i.due_date <= $1 AND i.open_minor > 0) \
         ORDER BY a.customer_id",
    )
    .bind(fmt_date(today))
    .fetch_all(&db.pool)
    .await?;
    let balances = super::common::ledger_balances(
        db,
        "SELECT customer_id FROM billing_accounts WHERE autopay <> 0 AND payment_method_id IS NOT NULL",
    )
    .await?;
    Ok(due
        .into_iter()
        .filter(|c| match balances.get(c) {
            Some(Ok(b)) => *b > 0,
            Some(Err(e)) => {
                tracing::warn!(customer = c, error = %e, "autopay skips a customer whose ledger does not add up");
                false
            }
            None => false,
        })
        .collect())
}

/// Charge attempts for a customer since `since_ms`.
pub async fn attempts_since(db: &Db, customer_id: i64, since_ms: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM autopay_attempts WHERE customer_id = $1 AND ts_ms > $2",
    )
    .bind(customer_id)
    .bind(since_ms)
    .fetch_one(&db.pool)
    .await?)
}
