//! One-time charges and discounts, billed by the next invoice run. Owns
//! `charges`, `discounts`.

use super::accounts::require_account;
use super::common::{AmountLimits, check_amount, check_name, fmt_date};
use super::invoice::{ChargeKind as CoreChargeKind, DiscountTarget, DiscountValue};
use super::money::Money;
use super::plans::require_tax_class;
use super::subscriptions::require_subscription;
use crate::db::{Db, StoreError, now_ms};
use jiff::civil::Date;
use serde::Serialize;

crate::text_enum! {
    /// What a one-time charge is for (`charges.kind`,
    /// `invoice_lines.charge_kind`), the stored form of the core's
    /// [`ChargeKind`](super::invoice::ChargeKind).
    pub enum ChargeKind (field "kind") {
        Installation = "installation",
        Equipment = "equipment",
        Fee = "fee",
        Deposit = "deposit",
        Other = "other",
    }
}

impl From<ChargeKind> for CoreChargeKind {
    fn from(k: ChargeKind) -> CoreChargeKind {
        match k {
            ChargeKind::Installation => CoreChargeKind::Installation,
            ChargeKind::Equipment => CoreChargeKind::Equipment,
            ChargeKind::Fee => CoreChargeKind::Fee,
            ChargeKind::Deposit => CoreChargeKind::Deposit,
            ChargeKind::Other => CoreChargeKind::Other,
        }
    }
}

impl From<CoreChargeKind> for ChargeKind {
    fn from(k: CoreChargeKind) -> ChargeKind {
        match k {
            CoreChargeKind::Installation => ChargeKind::Installation,
            CoreChargeKind::Equipment => ChargeKind::Equipment,
            CoreChargeKind::Fee => ChargeKind::Fee,
            CoreChargeKind::Deposit => ChargeKind::Deposit,
            CoreChargeKind::Other => ChargeKind::Other,
        }
    }
}

crate::text_enum! {
    /// Which lines a discount applies to (`discounts.target`; `subscription`
    /// and `charge` name one in `target_id`).
    pub enum DiscountScope (field "target") {
        All = "all",
        Recurring = "recurring",
        Subscription = "subscription",
        Charge = "charge",
    }
}

impl DiscountScope {
    /// The core's target, with the stored `target_id` where one is needed.
    pub(crate) fn target(self, target_id: Option<u64>) -> Option<DiscountTarget> {
        match (self, target_id) {
            (DiscountScope::All, _) => Some(DiscountTarget::All),
            (DiscountScope::Recurring, _) => Some(DiscountTarget::AllRecurring),
            (DiscountScope::Subscription, Some(s)) => Some(DiscountTarget::Subscription(s)),
            (DiscountScope::Charge, Some(c)) => Some(DiscountTarget::Charge(c)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChargeInput {
    pub customer_id: i64,
    pub date: Date,
    pub kind: ChargeKind,
    pub description: String,
    pub amount: Money,
    pub tax_class_id: Option<i64>,
}

/// A one-time charge, billed on the next invoice whose period ends after its date.
pub async fn add_charge(db: &Db, c: &ChargeInput, limits: &AmountLimits) -> Result<i64, StoreError> {
    let acc = require_account(db, c.customer_id).await?;
    let description = check_name("description", &c.description, 200)?;
    if c.amount.minor <= 0 {
        return Err(StoreError::invalid("amount", "must be positive (a refund or goodwill is a credit)"));
    }
    check_amount("amount", c.amount, limits.max_charge_major)?;
    if c.amount.currency.code() != acc.currency {
        return Err(StoreError::invalid("amount", format!("the account bills in {}", acc.currency)));
    }
    if let Some(t) = c.tax_class_id {
        require_tax_class(db, "tax_class", t).await?;
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO charges (customer_id, charge_date, kind, description, amount_minor, currency, tax_class_id, \
         invoice_id, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) RETURNING id",
    )
    .bind(c.customer_id)
    .bind(fmt_date(c.date))
    .bind(c.kind)
    .bind(&description)
    .bind(c.amount.minor)
    .bind(c.amount.currency.code())
    .bind(c.tax_class_id)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?)
}

#[derive(Debug, Clone)]
pub struct DiscountInput {
    pub customer_id: i64,
    pub description: String,
    pub target: DiscountTarget,
    pub value: DiscountValue,
    /// Applies to invoices whose period starts in `[start, end)`.
    pub start: Date,
    pub end: Option<Date>,
}

pub async fn add_discount(db: &Db, d: &DiscountInput, limits: &AmountLimits) -> Result<i64, StoreError> {
    let acc = require_account(db, d.customer_id).await?;
    let description = check_name("description", &d.description, 200)?;
    if d.end.is_some_and(|e| e <= d.start) {
        return Err(StoreError::invalid("to", "must be after from"));
    }
    let (scope, target_id) = match d.target {
        DiscountTarget::All => (DiscountScope::All, None),
        DiscountTarget::AllRecurring => (DiscountScope::Recurring, None),
        DiscountTarget::Subscription(s) => {
            let sid = i64::try_from(s).map_err(|_| StoreError::invalid("subscription", "out of range"))?;
            let (row, _, _) = require_subscription(db, sid).await?;
            if row.customer_id != d.customer_id {
                return Err(StoreError::invalid("subscription", format!("{sid} is not customer {}'s", d.customer_id)));
            }
            (DiscountScope::Subscription, Some(sid))
        }
        DiscountTarget::Charge(c) => {
            (DiscountScope::Charge, Some(i64::try_from(c).map_err(|_| StoreError::invalid("charge", "out of range"))?))
        }
    };
    let (percent, amount, code) = match d.value {
        DiscountValue::PercentBp(bp) if (1..=10_000).contains(&bp) => (Some(i64::from(bp)), None, None),
        DiscountValue::PercentBp(_) => return Err(StoreError::invalid("percent", "above 0 and at most 100")),
        DiscountValue::Fixed(m) => {
            if m.minor <= 0 {
                return Err(StoreError::invalid("amount", "must be positive"));
            }
            check_amount("amount", m, limits.max_charge_major)?;
            if m.currency.code() != acc.currency {
                return Err(StoreError::invalid("amount", format!("the account bills in {}", acc.currency)));
            }
            (None, Some(m.minor), Some(m.currency.code().to_string()))
        }
    };
    Ok(sqlx::query_scalar(
        "INSERT INTO discounts (customer_id, description, target, target_id, percent_bp, amount_minor, currency, \
         start_date, end_date, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(d.customer_id)
    .bind(&description)
    .bind(scope)
    .bind(target_id)
    .bind(percent)
    .bind(amount)
    .bind(code)
    .bind(fmt_date(d.start))
    .bind(d.end.map(fmt_date))
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?)
}

/// A discount as the service page lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DiscountRow {
    pub id: i64,
    pub description: String,
    pub percent_bp: Option<i64>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub start_date: String,
    pub end_date: Option<String>,
}

/// A customer's discounts, newest first.
pub async fn customer_discounts(db: &Db, customer_id: i64) -> Result<Vec<DiscountRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, description, percent_bp, amount_minor, currency, start_date, end_date FROM discounts \
         WHERE customer_id = $1 ORDER BY id DESC",
    )
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await?)
}
