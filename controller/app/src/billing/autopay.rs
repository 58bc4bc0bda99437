//! Card and ACH payments through the [`PaymentProvider`] (Stripe), the
//! shell around it: saving a payment method, "pay now", autopay with
//! retries, and the provider's webhooks. Owns `autopay_attempts`.
//!
//! - The amount charged is the customer's ledger balance (what they owe).
//! - The idempotency key is `mast-pay-{customer}-{ledger mark}-{attempt}`,
//!   where the ledger mark is the newest ledger entry id: a double click or a
//!   retried request charges once; a new invoice makes a new key.
//! - A success is recorded as a payment (ledger credit) at once, keyed by
//!   the provider's payment id, so the webhook that confirms it later
//!   records nothing twice. ACH payments are "processing" until the
//!   `payment_intent.succeeded` webhook arrives.
//! - Autopay charges customers with autopay on, a saved method and an
//!   invoice due; a decline is retried after [`RETRY_DAYS`] (1, 3, 7 days),
//!   then left to dunning.

use super::provider::{ChargeOutcome, ChargeRequest, CustomerRef, PaymentProvider, ProviderCustomerId, WebhookEvent};
use super::store;
use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;

/// Days after a failed attempt before the next one (then no more).
pub const RETRY_DAYS: [i64; 3] = [1, 3, 7];

/// When the attempt after `attempt` failures is due, if any (pure).
pub fn next_attempt(failed_attempt: i64, at_ms: i64) -> Option<i64> {
    let i = usize::try_from(failed_attempt - 1).ok()?;
    RETRY_DAYS.get(i).map(|d| at_ms + d * 86_400_000)
}

fn invalid(m: impl Into<String>) -> StoreError {
    StoreError::invalid_msg(m.into())
}

/// Saves a payment method (a provider token such as Stripe's `pm_...`) as
/// the customer's default; returns its label (`visa •••• 4242`).
pub async fn save_method(
    db: &Db,
    provider: &dyn PaymentProvider,
    customer_id: i64,
    token: &str,
) -> Result<String, StoreError> {
    let acc = store::account(db, customer_id).await?.ok_or_else(|| invalid("the customer has no billing account"))?;
    let c = crate::customers::get(db, customer_id).await?.ok_or_else(|| invalid("no such customer"))?;
    let pc = provider
        .ensure_customer(&CustomerRef {
            id: customer_id as u64,
            name: c.name.clone(),
            email: c.email.clone(),
            provider_id: acc.provider_customer_id.clone().map(ProviderCustomerId),
        })
        .await
        .map_err(|e| invalid(format!("payment provider: {e}")))?;
    let pm = provider.attach_payment_method(&pc, token).await.map_err(|e| invalid(format!("payment method: {e}")))?;
    let last4 = pm.last4.clone().unwrap_or_default();
    let label = match &pm.kind {
        super::provider::PaymentMethodKind::UsBankAccount => {
            format!("bank account {} •••• {last4}", pm.brand.clone().unwrap_or_default()).replace("  ", " ")
        }
        _ => format!("{} •••• {last4}", pm.brand.clone().unwrap_or_else(|| "card".into())),
    };
    sqlx::query(
        "UPDATE billing_accounts SET provider_customer_id = $1, payment_method_id = $2, payment_method_label = $3, \
         updated_ms = $4 WHERE customer_id = $5",
    )
    .bind(&pc.0)
    .bind(&pm.id)
    .bind(&label)
    .bind(now_ms())
    .bind(customer_id)
    .execute(&db.pool)
    .await?;
    Ok(label)
}

pub async fn set_autopay(db: &Db, customer_id: i64, on: bool) -> Result<(), StoreError> {
    let acc = store::account(db, customer_id).await?.ok_or_else(|| invalid("the customer has no billing account"))?;
    if on && acc.payment_method_id.is_none() {
        return Err(invalid("save a card or bank account first"));
    }
    sqlx::query("UPDATE billing_accounts SET autopay = $1, updated_ms = $2 WHERE customer_id = $3")
        .bind(i64::from(on))
        .bind(now_ms())
        .bind(customer_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// What a charge attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PayResult {
    /// Nothing owed.
    NothingDue,
    Paid {
        payment_id: i64,
        amount: String,
    },
    /// Bank payment under way; recorded when the provider confirms it.
    Processing {
        amount: String,
    },
    Declined {
        code: String,
        message: String,
    },
    /// Already attempted for this balance (a double submit); no new charge.
    AlreadyAttempted,
}

async fn ledger_mark(db: &Db, customer_id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM ledger WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?)
}

/// Charges the customer's balance with their saved method, as attempt
/// `attempt` for the current ledger state.
pub async fn charge_balance(
    db: &Db,
    provider: &dyn PaymentProvider,
    customer_id: i64,
    today: jiff::civil::Date,
    attempt: i64,
    by: &str,
) -> Result<PayResult, StoreError> {
    let acc = store::account(db, customer_id).await?.ok_or_else(|| invalid("the customer has no billing account"))?;
    let (Some(pc), Some(pm)) = (acc.provider_customer_id.clone(), acc.payment_method_id.clone()) else {
        return Err(invalid("no saved card or bank account"));
    };
    let bal = store::balance(db, customer_id, today).await?;
    if bal.balance_minor <= 0 {
        return Ok(PayResult::NothingDue);
    }
    let mark = ledger_mark(db, customer_id).await?;
    let now = now_ms();
    // Claim the attempt first: a concurrent or repeated submit stops here.
    let claimed = sqlx::query(
        "INSERT INTO autopay_attempts (customer_id, ledger_mark, attempt, ts_ms, amount_minor, outcome) \
         VALUES ($1, $2, $3, $4, $5, 'pending') ON CONFLICT DO NOTHING",
    )
    .bind(customer_id)
    .bind(mark)
    .bind(attempt)
    .bind(now)
    .bind(bal.balance_minor)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(PayResult::AlreadyAttempted);
    }
    let req = ChargeRequest {
        customer: ProviderCustomerId(pc),
        payment_method: pm,
        amount_minor: bal.balance_minor,
        currency: acc.currency.to_ascii_lowercase(),
        idempotency_key: format!("mast-pay-{customer_id}-{mark}-{attempt}"),
        description: format!("Balance of customer #{customer_id}"),
        invoice_id: String::new(),
        customer_id: customer_id as u64,
    };
    let amount = bal.balance.clone();
    let outcome = provider.charge(&req).await;
    let (result, label, detail, pid) = match outcome {
        Ok(ChargeOutcome::Succeeded { provider_payment_id }) => {
            let method =
                if acc.payment_method_label.as_deref().is_some_and(|l| l.starts_with("bank")) { "ach" } else { "card" };
            let rec = store::record_payment(
                db,
                &store::PaymentInput {
                    customer_id,
                    date: today,
                    amount: super::money::Money::new(bal.balance_minor, store::currency(&acc.currency)?),
                    method: method.into(),
                    reference: Some(format!("autopay attempt {attempt}")),
                    provider_payment_id: Some(provider_payment_id.clone()),
                    created_by: by.to_string(),
                },
            )
            .await?;
            (PayResult::Paid { payment_id: rec.id, amount }, "succeeded", None, Some(provider_payment_id))
        }
        Ok(ChargeOutcome::Processing { provider_payment_id }) => {
            (PayResult::Processing { amount }, "processing", None, Some(provider_payment_id))
        }
        Ok(ChargeOutcome::Declined { provider_payment_id, code, decline_code, message }) => {
            let code = decline_code.unwrap_or(code);
            (
                PayResult::Declined { code: code.clone(), message: message.clone() },
                "declined",
                Some(format!("{code}: {message}")),
                provider_payment_id,
            )
        }
        Err(e) => {
            // Not charged (or not known to be): the attempt is released so
            // the same key is retried, and the provider dedups it.
            sqlx::query("DELETE FROM autopay_attempts WHERE customer_id = $1 AND ledger_mark = $2 AND attempt = $3")
                .bind(customer_id)
                .bind(mark)
                .bind(attempt)
                .execute(&db.pool)
                .await?;
            return Err(invalid(format!("payment provider: {e}")));
        }
    };
    let next = if label == "declined" { next_attempt(attempt, now) } else { None };
    sqlx::query(
        "UPDATE autopay_attempts SET outcome = $1, detail = $2, provider_payment_id = $3, next_ms = $4 \
         WHERE customer_id = $5 AND ledger_mark = $6 AND attempt = $7",
    )
    .bind(label)
    .bind(detail)
    .bind(pid)
    .bind(next)
    .bind(customer_id)
    .bind(mark)
    .bind(attempt)
    .execute(&db.pool)
    .await?;
    Ok(result)
}

/// Attempts of a customer, newest first: (ts, attempt, amount, outcome, detail).
pub async fn attempts(db: &Db, customer_id: i64) -> Result<Vec<(i64, i64, i64, String, Option<String>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT ts_ms, attempt, amount_minor, outcome, detail FROM autopay_attempts WHERE customer_id = $1 ORDER BY id DESC LIMIT 50",
    )
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// One autopay pass for `today`: charges each autopay customer who owes
/// money and has an invoice due, as the first attempt for the current
/// ledger state or as the due retry after a decline. Returns the results.
pub async fn run(
    db: &Db,
    provider: &dyn PaymentProvider,
    today: jiff::civil::Date,
) -> Result<Vec<(i64, PayResult)>, StoreError> {
    let today_s = super::period::iso_date::format(today);
    let rows = sqlx::query(
        "SELECT a.customer_id FROM billing_accounts a WHERE a.autopay <> 0 AND a.payment_method_id IS NOT NULL \
         AND EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = a.customer_id AND i.due_date <= $1 AND i.amount_due_minor > 0) \
         AND (SELECT COALESCE(SUM(l.amount_minor), 0) FROM ledger l WHERE l.customer_id = a.customer_id) > 0 \
         ORDER BY a.customer_id",
    )
    .bind(&today_s)
    .fetch_all(&db.pool)
    .await?;
    let now = now_ms();
    let mut out = Vec::new();
    for r in &rows {
        let customer: i64 = r.try_get(0)?;
        let mark = ledger_mark(db, customer).await?;
        let last = sqlx::query(
            "SELECT attempt, outcome, next_ms FROM autopay_attempts WHERE customer_id = $1 AND ledger_mark = $2 \
             ORDER BY attempt DESC LIMIT 1",
        )
        .bind(customer)
        .bind(mark)
        .fetch_optional(&db.pool)
        .await?;
        let attempt = match last {
            None => 1,
            Some(l) => {
                let (n, outcome, next): (i64, String, Option<i64>) = (l.try_get(0)?, l.try_get(1)?, l.try_get(2)?);
                match (outcome.as_str(), next) {
                    ("declined", Some(t)) if t <= now => n + 1,
                    _ => continue,
                }
            }
        };
        match charge_balance(db, provider, customer, today, attempt, "autopay").await {
            Ok(r) => out.push((customer, r)),
            Err(e) => tracing::warn!(customer, error = %e, "autopay charge failed; retried next pass"),
        }
    }
    Ok(out)
}

/// Applies a verified provider webhook: a succeeded payment is recorded
/// (once, by its provider id) for the customer in its metadata.
pub async fn apply_webhook(db: &Db, ev: &WebhookEvent, today: jiff::civil::Date) -> Result<Option<i64>, StoreError> {
    use super::provider::WebhookEventKind as WebhookKind;
    match &ev.kind {
        WebhookKind::PaymentSucceeded { payment_intent_id, amount, currency, metadata } => {
            let Some(customer) = metadata.get("mast_customer_id").and_then(|c| c.parse::<i64>().ok()) else {
                return Ok(None);
            };
            let cur = store::currency(&currency.to_ascii_uppercase())?;
            let rec = store::record_payment(
                db,
                &store::PaymentInput {
                    customer_id: customer,
                    date: today,
                    amount: super::money::Money::new(*amount, cur),
                    method: "ach".into(),
                    reference: Some("provider webhook".into()),
                    provider_payment_id: Some(payment_intent_id.clone()),
                    created_by: "stripe".into(),
                },
            )
            .await?;
            sqlx::query("UPDATE autopay_attempts SET outcome = 'succeeded' WHERE provider_payment_id = $1")
                .bind(payment_intent_id)
                .execute(&db.pool)
                .await?;
            Ok(Some(rec.id))
        }
        WebhookKind::PaymentFailed { payment_intent_id, code, message, .. } => {
            sqlx::query(
                "UPDATE autopay_attempts SET outcome = 'declined', detail = $1, next_ms = $2 WHERE provider_payment_id = $3",
            )
            .bind(format!("{}: {}", code.clone().unwrap_or_default(), message.clone().unwrap_or_default()))
            .bind(now_ms() + RETRY_DAYS[0] * 86_400_000)
            .bind(payment_intent_id)
            .execute(&db.pool)
            .await?;
            Ok(None)
        }
        WebhookKind::Other(_) => Ok(None),
    }
}

/// Charge attempts for a customer since `since_ms` (portal "pay now" uses
/// it to give each try of the day its own idempotency key).
pub async fn attempts_since(db: &Db, customer_id: i64, since_ms: i64) -> Result<i64, StoreError> {
    store::autopay_attempts_since(db, customer_id, since_ms).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let d = 86_400_000;
        assert_eq!(super::next_attempt(1, 0), Some(d));
        assert_eq!(super::next_attempt(2, 0), Some(3 * d));
        assert_eq!(super::next_attempt(3, 0), Some(7 * d));
        assert_eq!(super::next_attempt(4, 0), None);
        assert_eq!(super::next_attempt(0, 0), None);
    }
}
