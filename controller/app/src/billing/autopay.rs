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
//!
//! The attempts are stored by `mast_store::billing::autopay`.

use super::provider::{ChargeOutcome, ChargeRequest, CustomerRef, PaymentProvider, ProviderCustomerId, WebhookEvent};
use super::store::{self, AttemptKey, AttemptOutcome, PaymentMethod};
use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;

/// Days after a failed attempt before the next one (then no more).
pub const RETRY_DAYS: [i64; 3] = [1, 3, 7];

/// When the attempt after `attempt` failures is due, if any (pure).
pub fn next_attempt(failed_attempt: i64, at_ms: i64) -> Option<i64> {
    let i = usize::try_from(failed_attempt - 1).ok()?;
    RETRY_DAYS.get(i).map(|d| at_ms + d * 86_400_000)
}

/// The payment provider refused or failed a request (not a field's fault).
fn provider_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::invalid("", format!("{what}: {e}"))
}

/// Saves a payment method (a provider token such as Stripe's `pm_...`) as
/// the customer's default; returns its label (`visa •••• 4242`).
pub async fn save_method(
    db: &Db,
    provider: &dyn PaymentProvider,
    customer_id: i64,
    token: &str,
) -> Result<String, StoreError> {
    let pc = provider_customer(db, provider, customer_id).await?;
    let pm = provider.attach_payment_method(&pc, token).await.map_err(|e| provider_error("payment method", e))?;
    let last4 = pm.last4.clone().unwrap_or_default();
    let label = match &pm.kind {
        super::provider::PaymentMethodKind::UsBankAccount => {
            format!("bank account {} •••• {last4}", pm.brand.clone().unwrap_or_default()).replace("  ", " ")
        }
        _ => format!("{} •••• {last4}", pm.brand.clone().unwrap_or_else(|| "card".into())),
    };
    store::save_payment_method(db, customer_id, &pc.0, &pm.id, &label).await?;
    Ok(label)
}

/// The provider's customer for a Mast customer (created or updated), stored
/// on the billing account.
async fn provider_customer(
    db: &Db,
    provider: &dyn PaymentProvider,
    customer_id: i64,
) -> Result<ProviderCustomerId, StoreError> {
    let acc = store::require_account(db, customer_id).await?;
    let c = crate::customers::get(db, customer_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("customer {customer_id}")))?;
    let pc = provider
        .ensure_customer(&CustomerRef {
            id: customer_id as u64,
            name: c.name.clone(),
            email: c.email.clone(),
            provider_id: acc.provider_customer_id.clone().map(ProviderCustomerId),
        })
        .await
        .map_err(|e| provider_error("payment provider", e))?;
    store::set_provider_customer(db, customer_id, &pc.0).await?;
    Ok(pc)
}

/// Starts the provider's hosted "save a card" page for a customer; returns
/// its URL. `success_url` gets `?session_id=...` (the provider fills it in).
pub async fn start_card_setup(
    db: &Db,
    provider: &dyn PaymentProvider,
    customer_id: i64,
    success_url: &str,
    cancel_url: &str,
) -> Result<String, StoreError> {
    let pc = provider_customer(db, provider, customer_id).await?;
    let sep = if success_url.contains('?') { '&' } else { '?' };
    let request = super::provider::SetupRequest {
        customer: pc,
        customer_id: customer_id.max(0) as u64,
        success_url: format!("{success_url}{sep}session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: cancel_url.to_owned(),
    };
    let s = provider.start_setup(&request).await.map_err(|e| provider_error("payment provider", e))?;
    Ok(s.url)
}

/// Saves the card a completed setup session holds as the customer's method
/// (idempotent: the return page and the webhook may both call it). With
/// `expected`, a session of another customer is refused as not found.
/// Returns the customer and the method's label.
pub async fn finish_card_setup(
    db: &Db,
    provider: &dyn PaymentProvider,
    session_id: &str,
    expected: Option<i64>,
) -> Result<(i64, String), StoreError> {
    let r = provider
        .setup_result(session_id)
        .await
        .map_err(|e| provider_error("payment provider", e))?
        .ok_or_else(|| StoreError::Conflict("the card was not saved: the page was not completed".into()))?;
    let customer = r
        .customer_id
        .and_then(|c| i64::try_from(c).ok())
        .ok_or_else(|| StoreError::NotFound("a setup session without a customer".into()))?;
    if expected.is_some_and(|e| e != customer) {
        return Err(StoreError::NotFound("no such setup session".into()));
    }
    let label = save_method(db, provider, customer, &r.payment_method_id).await?;
    Ok((customer, label))
}

/// Turns autopay on (needs a saved method) or off.
pub async fn set_autopay(db: &Db, customer_id: i64, on: bool) -> Result<(), StoreError> {
    store::set_autopay(db, customer_id, on).await
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
    let acc = store::require_account(db, customer_id).await?;
    let (Some(pc), Some(pm)) = (acc.provider_customer_id.clone(), acc.payment_method_id.clone()) else {
        return Err(StoreError::invalid("", "no saved card or bank account"));
    };
    let bal = store::balance(db, customer_id, today).await?;
    if bal.balance_minor <= 0 {
        return Ok(PayResult::NothingDue);
    }
    let mark = store::ledger_mark(db, customer_id).await?;
    let now = now_ms();
    let key = AttemptKey { customer_id, ledger_mark: mark, attempt };
    // Claim the attempt first: a concurrent or repeated submit stops here.
    if !store::claim_attempt(db, key, now, bal.balance_minor).await? {
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
            let method = if acc.payment_method_label.as_deref().is_some_and(|l| l.starts_with("bank")) {
                PaymentMethod::Ach
            } else {
                PaymentMethod::Card
            };
            let rec = store::record_payment(
                db,
                &store::PaymentInput {
                    customer_id,
                    date: today,
                    amount: super::money::Money::new(bal.balance_minor, store::currency(&acc.currency)?),
                    method,
                    reference: Some(format!("autopay attempt {attempt}")),
                    provider_payment_id: Some(provider_payment_id.clone()),
                    created_by: by.to_string(),
                },
                &store::AmountLimits::RECEIVED,
            )
            .await?;
            (PayResult::Paid { payment_id: rec.id, amount }, AttemptOutcome::Succeeded, None, Some(provider_payment_id))
        }
        Ok(ChargeOutcome::Processing { provider_payment_id }) => {
            (PayResult::Processing { amount }, AttemptOutcome::Processing, None, Some(provider_payment_id))
        }
        Ok(ChargeOutcome::Declined { provider_payment_id, code, decline_code, message }) => {
            let code = decline_code.unwrap_or(code);
            (
                PayResult::Declined { code: code.clone(), message: message.clone() },
                AttemptOutcome::Declined,
                Some(format!("{code}: {message}")),
                provider_payment_id,
            )
        }
        Err(e) => {
            // Not charged (or not known to be): the attempt is released so
            // the same key is retried, and the provider dedups it.
            store::release_attempt(db, key).await?;
            return Err(provider_error("payment provider", e));
        }
    };
    let next = if label == AttemptOutcome::Declined { next_attempt(attempt, now) } else { None };
    store::finish_attempt(db, key, label, detail.as_deref(), pid.as_deref(), next).await?;
    Ok(result)
}

/// One autopay pass for `today`: charges each autopay customer who owes
/// money and has an invoice due, as the first attempt for the current
/// ledger state or as the due retry after a decline. Returns the results.
pub async fn run(
    db: &Db,
    provider: &dyn PaymentProvider,
    today: jiff::civil::Date,
) -> Result<Vec<(i64, PayResult)>, StoreError> {
    let now = now_ms();
    let mut out = Vec::new();
    for customer in store::autopay_candidates(db, today).await? {
        let mark = store::ledger_mark(db, customer).await?;
        let attempt = match store::last_attempt(db, customer, mark).await? {
            None => 1,
            Some((n, AttemptOutcome::Declined, Some(t))) if t <= now => n + 1,
            Some(_) => continue,
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
                    method: PaymentMethod::Ach,
                    reference: Some("provider webhook".into()),
                    provider_payment_id: Some(payment_intent_id.clone()),
                    created_by: "stripe".into(),
                },
                &store::AmountLimits::RECEIVED,
            )
            .await?;
            store::confirm_by_provider_id(db, payment_intent_id).await?;
            Ok(Some(rec.id))
        }
        WebhookKind::PaymentFailed { payment_intent_id, code, message, .. } => {
            let detail = format!("{}: {}", code.clone().unwrap_or_default(), message.clone().unwrap_or_default());
            store::decline_by_provider_id(db, payment_intent_id, &detail, now_ms() + RETRY_DAYS[0] * 86_400_000)
                .await?;
            Ok(None)
        }
        // Handled by `apply_setup_webhook` (it needs the provider).
        WebhookKind::SetupCompleted { .. } | WebhookKind::Other(_) => Ok(None),
    }
}

/// Charge attempts for a customer since `since_ms` (portal "pay now" uses
/// it to give each try of the day its own idempotency key).
pub async fn attempts_since(db: &Db, customer_id: i64, since_ms: i64) -> Result<i64, StoreError> {
    store::attempts_since(db, customer_id, since_ms).await
}

/// Card and ACH payments came through the payment provider and go back
/// through it; the others (cash, check, bank) are recorded only.
pub fn refunds_through_provider(p: &store::PaymentRow) -> bool {
    matches!(p.method, store::PaymentMethod::Card | store::PaymentMethod::Ach) && p.provider_payment_id.is_some()
}

/// Refunds `amount` of a payment: card and ACH payments through the payment
/// provider first (an idempotency key per payment and refund count makes a
/// retry after a failure safe), others are recorded only. Returns the
/// refund id. Errors name the refund form's fields.
pub async fn refund(
    db: &Db,
    provider: Option<&dyn PaymentProvider>,
    input: &store::RefundInput,
) -> Result<i64, StoreError> {
    let p = store::payment(db, input.payment_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("payment {}", input.payment_id)))?;
    store::check_refund(&p, input.amount)?;
    let mut input = input.clone();
    if let Some(pi) = p.provider_payment_id.as_deref().filter(|_| refunds_through_provider(&p)) {
        let Some(provider) = provider else {
            return Err(StoreError::invalid(
                "",
                "this card payment can only be refunded through the payment provider, which is not configured",
            ));
        };
        let count = store::refunds_of_payment(db, p.id).await?.len();
        let request = super::provider::RefundRequest {
            provider_payment_id: pi.to_owned(),
            amount_minor: input.amount.minor,
            idempotency_key: format!("mast-refund-{}-{}-{}", p.id, count + 1, input.amount.minor),
            customer_id: p.customer_id.max(0) as u64,
        };
        let id = provider.refund(&request).await.map_err(|e| provider_error("payment provider", e))?;
        input.provider_refund_id = Some(id);
    }
    store::record_refund(db, &input).await
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
