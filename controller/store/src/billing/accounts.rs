//! Billing accounts: how a customer is billed (billing day, currency, tax
//! exemption, payment reference, the saved payment method and autopay).
//! Owns `billing_accounts`.

use super::common::{check_name, currency, customer_exists, payment_reference};
use super::period::BillingDay;
use crate::db::{Db, StoreError, now_ms};
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
        }
    }
}

/// Creates or updates a billing account. Changing the billing day of an
/// account that was already invoiced is refused (its periods would overlap
/// or leave a gap; that needs a prorated bridge invoice, not built yet).
pub async fn set_account(db: &Db, a: &AccountInput) -> Result<Account, StoreError> {
    BillingDay::new(a.billing_day).map_err(|_| StoreError::invalid("billing_day", "1-28"))?;
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
    if let Some(o) = &old
        && (o.billing_day != i64::from(a.billing_day) || o.currency != code)
    {
        let invoiced: Option<i64> = sqlx::query_scalar("SELECT id FROM invoices WHERE customer_id = $1 LIMIT 1")
            .bind(a.customer_id)
            .fetch_optional(&db.pool)
            .await?;
        if invoiced.is_some() {
            return Err(StoreError::Conflict(
                "billing day and currency cannot change once the customer has been invoiced (not supported yet)".into(),
            ));
        }
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
         payment_method_id, payment_method_label FROM billing_accounts WHERE customer_id = $1",
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
