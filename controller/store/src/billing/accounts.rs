//! Billing accounts: how a customer is billed (billing day, currency, tax
//! exemption, payment reference, the saved payment method and autopay).
//! Owns `billing_accounts`.

use super::common::{check_name, currency, customer_exists, payment_reference};
use super::period::BillingDay;
use crate::db::{Db, StoreError, now_ms};
use jiff::civil::Date;
use serde::Serialize;

/// What staff set on a customer's billing account.
#[derive(Debug, Clone, Default)]
pub struct AccountInput {
    pub customer_id: i64,
    pub billing_day: u8,
    pub tax_exempt: bool,
    /// `None`: keep the account's (new accounts: USD).
    pub currency: Option<String>,
    pub autopay: bool,
    pub provider_customer_id: Option<String>,
    pub payment_method_id: Option<String>,
    pub payment_method_label: Option<String>,
    /// The day a change takes effect (a billing-day change of an invoiced
    /// account issues its bridge invoice on it); `None`: today (UTC).
    pub today: Option<Date>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub customer_id: i64,
    pub billing_day: i64,
    pub tax_exempt: bool,
    pub currency: String,
    pub payment_reference: String,
    pub autopay: bool,
    pub provider_customer_id: Option<String>,
    pub payment_method_id: Option<String>,
    pub payment_method_label: Option<String>,
    /// Runs bill no period starting before this `YYYY-MM-DD` (the days up
    /// to it were billed on a billing-day change's bridge invoice).
    pub bill_from: Option<String>,
}

/// A `billing_accounts` row (flags as 0/1).
#[derive(sqlx::FromRow)]
struct StoredAccount {
    customer_id: i64,
    billing_day: i64,
    tax_exempt: i64,
    currency: String,
    payment_reference: String,
    autopay: i64,
    provider_customer_id: Option<String>,
    payment_method_id: Option<String>,
    payment_method_label: Option<String>,
    bill_from: Option<String>,
}

impl From<StoredAccount> for Account {
    fn from(a: StoredAccount) -> Account {
        Account {
            customer_id: a.customer_id,
            billing_day: a.billing_day,
            tax_exempt: a.tax_exempt != 0,
            currency: a.currency,
            payment_reference: a.payment_reference,
            autopay: a.autopay != 0,
            provider_customer_id: a.provider_customer_id,
            payment_method_id: a.payment_method_id,
            payment_method_label: a.payment_method_label,
            bill_from: a.bill_from,
        }
    }
}

/// Creates or updates a billing account. A new billing day of an invoiced
/// account bills the days up to the first new billing day on a prorated
/// bridge invoice ([`change_billing_day`]); a new currency of an invoiced
/// account applies from its next invoice, once nothing left to bill is
/// priced in the old one (see [`currency_change_blockers`]).
pub async fn set_account(db: &Db, a: &AccountInput) -> Result<Account, StoreError> {
    BillingDay::new(a.billing_day).map_err(|_| StoreError::invalid("billing_day", "a day from 1 to 28"))?;
    customer_exists(db, a.customer_id).await?;
    let old = account(db, a.customer_id).await?;
    let code = match (&a.currency, &old) {
        (Some(c), _) => c.trim().to_ascii_uppercase(),
        (None, Some(o)) => o.currency.clone(),
        (None, None) => "USD".to_string(),
    };
    currency(&code)?;
    for (field, v) in [
        ("provider_customer_id", &a.provider_customer_id),
        ("payment_method_id", &a.payment_method_id),
        ("payment_method_label", &a.payment_method_label),
    ] {
        if let Some(v) = v {
            check_name(field, v, 200)?;
        }
    }
    let today = a.today.unwrap_or_else(|| jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date());
    if let Some(o) = &old
        && o.currency != code
    {
        check_currency_change(db, a.customer_id, &o.currency, &code, today).await?;
    }
    if let Some(o) = &old
        && o.billing_day != i64::from(a.billing_day)
    {
        super::run::change_billing_day(db, a.customer_id, a.billing_day, today).await?;
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO billing_accounts (customer_id, billing_day, tax_exempt, currency, payment_reference, autopay, \
         provider_customer_id, payment_method_id, payment_method_label, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (customer_id) DO UPDATE SET \
         billing_day = excluded.billing_day, tax_exempt = excluded.tax_exempt, currency = excluded.currency, \
         autopay = excluded.autopay, provider_customer_id = excluded.provider_customer_id, \
         payment_method_id = excluded.payment_method_id, payment_method_label = excluded.payment_method_label, \
         updated_ms = excluded.updated_ms",
    )
    .bind(a.customer_id)
    .bind(i64::from(a.billing_day))
    .bind(i64::from(a.tax_exempt))
    .bind(&code)
    .bind(payment_reference(a.customer_id))
    .bind(i64::from(a.autopay))
    .bind(&a.provider_customer_id)
    .bind(&a.payment_method_id)
    .bind(&a.payment_method_label)
    .bind(now)
    .execute(&db.pool)
    .await?;
    account(db, a.customer_id).await?.ok_or_else(|| StoreError::Corrupt("account vanished after upsert".into()))
}

pub async fn account(db: &Db, customer_id: i64) -> Result<Option<Account>, StoreError> {
    let r: Option<StoredAccount> = sqlx::query_as(
        "SELECT customer_id, billing_day, tax_exempt, currency, payment_reference, autopay, provider_customer_id, \
         payment_method_id, payment_method_label, bill_from FROM billing_accounts WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.map(Account::from))
}

/// The customer's account; a customer without one is a
/// [`StoreError::NotFound`] naming the way to set one up.
pub async fn require_account(db: &Db, customer_id: i64) -> Result<Account, StoreError> {
    customer_exists(db, customer_id).await?;
    account(db, customer_id).await?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "customer {customer_id} has no billing account (set one with `billing account set`)"
        ))
    })
}

/// Saves the provider's customer id and the default payment method.
/// Stores the payment provider's customer id of an account (before any
/// payment method is saved, e.g. when a hosted card page is started).
pub async fn set_provider_customer(db: &Db, customer_id: i64, provider_customer_id: &str) -> Result<(), StoreError> {
    check_name("provider_customer_id", provider_customer_id, 200)?;
    sqlx::query("UPDATE billing_accounts SET provider_customer_id = $1, updated_ms = $2 WHERE customer_id = $3")
        .bind(provider_customer_id)
        .bind(now_ms())
        .bind(customer_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn save_payment_method(
    db: &Db,
    customer_id: i64,
    provider_customer_id: &str,
    payment_method_id: &str,
    label: &str,
) -> Result<(), StoreError> {
    check_name("provider_customer_id", provider_customer_id, 200)?;
    check_name("payment_method_id", payment_method_id, 200)?;
    check_name("payment_method_label", label, 200)?;
    let n = sqlx::query(
        "UPDATE billing_accounts SET provider_customer_id = $1, payment_method_id = $2, payment_method_label = $3, \
         updated_ms = $4 WHERE customer_id = $5",
    )
    .bind(provider_customer_id)
    .bind(payment_method_id)
    .bind(label)
    .bind(now_ms())
    .bind(customer_id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("billing account of customer {customer_id}")));
    }
    Ok(())
}

/// Turns autopay on or off (on needs a saved payment method).
pub async fn set_autopay(db: &Db, customer_id: i64, on: bool) -> Result<(), StoreError> {
    let acc = require_account(db, customer_id).await?;
    if on && acc.payment_method_id.is_none() {
        return Err(StoreError::invalid("on", "save a card or bank account first"));
    }
    sqlx::query("UPDATE billing_accounts SET autopay = $1, updated_ms = $2 WHERE customer_id = $3")
        .bind(i64::from(on))
        .bind(now_ms())
        .bind(customer_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The currency most accounts bill in (the reports' default).
pub async fn main_currency(db: &Db) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT currency FROM billing_accounts GROUP BY currency ORDER BY COUNT(*) DESC, currency LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?)
}

/// The end of the latest invoiced period of a customer (void invoices do
/// not count): the account is billed up to this day.
pub(crate) async fn billed_until(conn: &mut sqlx::AnyConnection, customer_id: i64) -> Result<Option<Date>, StoreError> {
    let until: Option<String> =
        sqlx::query_scalar("SELECT MAX(period_end) FROM invoices WHERE customer_id = $1 AND status <> 'void'")
            .bind(customer_id)
            .fetch_one(&mut *conn)
            .await?;
    until.map(|d| super::common::stored_date("invoice period end", &d)).transpose()
}

/// Refuses (on the `currency` field, naming them) a move from `old` to
/// `new` while [`currency_change_blockers`] finds anything.
pub async fn check_currency_change(
    db: &Db,
    customer_id: i64,
    old: &str,
    new: &str,
    today: Date,
) -> Result<(), StoreError> {
    let blockers = currency_change_blockers(db, customer_id, new, today).await?;
    if blockers.is_empty() {
        return Ok(());
    }
    Err(StoreError::invalid(
        "currency",
        format!("still billed in {old}: {} (end or move them first)", blockers.join(", ")),
    ))
}

/// What keeps an invoiced account from moving to `new_currency` on
/// `today`: subscriptions still to be billed after the days already
/// invoiced, on plans priced in another currency, and uninvoiced charges in
/// another currency (each would fail the next invoice). Empty: the change
/// applies from the next invoice; balances stay in their own currency.
pub async fn currency_change_blockers(
    db: &Db,
    customer_id: i64,
    new_currency: &str,
    today: Date,
) -> Result<Vec<String>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    let until = billed_until(&mut conn, customer_id).await?;
    let from = super::common::fmt_date(until.filter(|u| *u > today).unwrap_or(today));
    let subs: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT s.id, p.name, p.currency FROM subscriptions s JOIN plans p ON p.id = s.plan_id \
         WHERE s.customer_id = $1 AND (s.end_date IS NULL OR s.end_date > $2) AND p.currency <> $3 \
         UNION SELECT s.id, p.name, p.currency FROM plan_changes c JOIN subscriptions s ON s.id = c.subscription_id \
         JOIN plans p ON p.id = c.plan_id \
         WHERE s.customer_id = $1 AND (s.end_date IS NULL OR s.end_date > $2) AND p.currency <> $3 ORDER BY 1",
    )
    .bind(customer_id)
    .bind(&from)
    .bind(new_currency)
    .fetch_all(&db.pool)
    .await?;
    let charges: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, description, currency FROM charges WHERE customer_id = $1 AND invoice_id IS NULL AND currency <> $2 \
         ORDER BY id",
    )
    .bind(customer_id)
    .bind(new_currency)
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<String> =
        subs.into_iter().map(|(id, name, cur)| format!("subscription {id} ({name}, {cur})")).collect();
    out.extend(charges.into_iter().map(|(id, d, cur)| format!("charge {id} ({d}, {cur})")));
    out.dedup();
    Ok(out)
}
