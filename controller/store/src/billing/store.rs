//! Billing shell, storage: the billing tables (migration `0009_billing`),
//! their CRUD with validation, the balance, and the bulk loading of an
//! invoice run's inputs (a handful of queries for every customer due on a
//! date, never one per customer).
//!
//! Dates of the operator's calendar are stored as `YYYY-MM-DD` text, money as
//! minor units plus a currency code (the exponent comes from [`currency`]).

use super::catalog::{BillingCycle, Catalog, Plan, TaxClass, TaxComponent};
use super::invoice::{ChargeKind, Discount, DiscountTarget, DiscountValue, InvoiceInput, OneTimeCharge};
use super::ledger::{Aging, EntryKind, LedgerEntry};
use super::money::{Currency, Money, RoundingMode};
use super::period::{BillingDay, DateRange, iso_date, period_starting};
use super::proration::{Hold, HoldKind, PlanChange, Subscription};
use crate::db::{Db, StoreError, now_ms};
use jiff::civil::Date;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::invalid_msg(msg.into())
}

/// The ISO 4217 currency for a code: three capitals; the minor-unit exponent
/// is 0 or 3 for the currencies that have one, 2 otherwise.
pub fn currency(code: &str) -> Result<Currency, StoreError> {
    let exponent = match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    };
    Currency::new(code, exponent).map_err(|_| invalid(format!("currency: {code:?} is not a three-letter ISO code")))
}

/// Parses `YYYY-MM-DD` with the controller's one strict date parser
/// ([`mast_text_core::when::parse_date`]); the error names the field.
pub fn parse_date(field: &str, s: &str) -> Result<Date, StoreError> {
    mast_text_core::when::parse_date(s).ok_or_else(|| invalid(format!("{field}: {s:?} is not a date (YYYY-MM-DD)")))
}

fn fmt_date(d: Date) -> String {
    iso_date::format(d)
}

pub fn rounding_name(r: RoundingMode) -> &'static str {
    match r {
        RoundingMode::HalfEven => "half-even",
        RoundingMode::HalfUp => "half-up",
        RoundingMode::TowardZero => "toward-zero",
        RoundingMode::AwayFromZero => "away-from-zero",
    }
}

pub fn parse_rounding(s: &str) -> Option<RoundingMode> {
    Some(match s {
        "half-even" => RoundingMode::HalfEven,
        "half-up" => RoundingMode::HalfUp,
        "toward-zero" => RoundingMode::TowardZero,
        "away-from-zero" => RoundingMode::AwayFromZero,
        _ => return None,
    })
}

pub fn hold_kind_name(k: HoldKind) -> &'static str {
    match k {
        HoldKind::Suspension => "suspension",
        HoldKind::Vacation => "vacation",
        HoldKind::Seasonal => "seasonal",
    }
}

pub fn parse_hold_kind(s: &str) -> Option<HoldKind> {
    Some(match s {
        "suspension" => HoldKind::Suspension,
        "vacation" => HoldKind::Vacation,
        "seasonal" => HoldKind::Seasonal,
        _ => return None,
    })
}

pub fn charge_kind_name(k: ChargeKind) -> &'static str {
    match k {
        ChargeKind::Installation => "installation",
        ChargeKind::Equipment => "equipment",
        ChargeKind::Fee => "fee",
        ChargeKind::Deposit => "deposit",
        ChargeKind::Other => "other",
    }
}

pub fn parse_charge_kind(s: &str) -> Option<ChargeKind> {
    Some(match s {
        "installation" => ChargeKind::Installation,
        "equipment" => ChargeKind::Equipment,
        "fee" => ChargeKind::Fee,
        "deposit" => ChargeKind::Deposit,
        "other" => ChargeKind::Other,
        _ => return None,
    })
}

pub fn entry_kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::Invoice => "invoice",
        EntryKind::Payment => "payment",
        EntryKind::Credit => "credit",
        EntryKind::LateFee => "late-fee",
        EntryKind::ReconnectionFee => "reconnection-fee",
        EntryKind::Refund => "refund",
        EntryKind::Adjustment => "adjustment",
    }
}

pub fn parse_entry_kind(s: &str) -> Option<EntryKind> {
    Some(match s {
        "invoice" => EntryKind::Invoice,
        "payment" => EntryKind::Payment,
        "credit" => EntryKind::Credit,
        "late-fee" => EntryKind::LateFee,
        "reconnection-fee" => EntryKind::ReconnectionFee,
        "refund" => EntryKind::Refund,
        "adjustment" => EntryKind::Adjustment,
        _ => return None,
    })
}

/// How a manual payment was made.
pub const PAYMENT_METHODS: [&str; 5] = ["cash", "check", "bank", "card", "ach"];

fn luhn_digit(payload: &str) -> u32 {
    // Double every second digit from the right, starting with the rightmost
    // payload digit (the check digit goes to its right).
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// The payment reference of a customer: `M`, the id zero-padded to 8 digits,
/// and a Luhn check digit (`M000001230` for customer 123), so one mistyped
/// digit or two swapped neighbours in a bank transfer are caught.
pub fn payment_reference(customer_id: i64) -> String {
    let digits = format!("{:08}", customer_id.max(0));
    format!("M{digits}{}", luhn_digit(&digits))
}

/// The customer id in a payment reference (any case, surrounding spaces
/// ignored), or `None` when it is not one or its check digit is wrong.
pub fn parse_payment_reference(s: &str) -> Option<i64> {
    let s = s.trim();
    let body = s.strip_prefix('M').or_else(|| s.strip_prefix('m'))?;
    if body.len() < 9 || body.len() > 19 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (digits, check) = body.split_at(body.len() - 1);
    if luhn_digit(digits) != u32::from(check.as_bytes()[0] - b'0') {
        return None;
    }
    digits.parse().ok()
}

async fn customer_exists(db: &Db, id: i64) -> Result<(), StoreError> {
    let r = sqlx::query("SELECT id FROM customers WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
    r.map(|_| ()).ok_or_else(|| invalid(format!("customer: no customer {id}")))
}

fn check_name(field: &str, s: &str, max: usize) -> Result<String, StoreError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(invalid(format!("{field}: 1-{max} characters, no control characters")));
    }
    Ok(t.to_string())
}

// ---------------------------------------------------------------- catalog

#[derive(Debug, Clone, Serialize)]
pub struct TaxClassRow {
    pub id: i64,
    pub name: String,
    pub rounding: String,
    pub components: Vec<TaxComponent>,
}

/// Adds a tax class; `components` are (name, rate in basis points).
pub async fn add_tax_class(
    db: &Db,
    name: &str,
    components: &[TaxComponent],
    rounding: RoundingMode,
) -> Result<i64, StoreError> {
    let name = check_name("name", name, 100)?;
    if components.len() > 8 {
        return Err(invalid("components: at most 8"));
    }
    for c in components {
        check_name("component name", &c.name, 100)?;
        if c.rate_bp > 10_000 {
            return Err(invalid(format!("component rate: {} bp is above 100 %", c.rate_bp)));
        }
    }
    if tax_class_by_name(db, &name).await?.is_some() {
        return Err(invalid(format!("name: a tax class {name:?} exists")));
    }
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query("INSERT INTO tax_classes (name, rounding, created_ms) VALUES ($1, $2, $3) RETURNING id")
        .bind(&name)
        .bind(rounding_name(rounding))
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    for (i, c) in components.iter().enumerate() {
        sqlx::query("INSERT INTO tax_components (tax_class_id, position, name, rate_bp) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(i as i64)
            .bind(c.name.trim())
            .bind(i64::from(c.rate_bp))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Parses `State tax:6.25` (a name and a percentage with up to 2 decimals).
pub fn parse_tax_component(s: &str) -> Result<TaxComponent, StoreError> {
    let bad = || invalid(format!("tax component: {s:?} is not NAME:PERCENT (e.g. \"State tax:6.25\")"));
    let (name, pct) = s.rsplit_once(':').ok_or_else(bad)?;
    let m = Money::parse(pct.trim().trim_end_matches('%').trim(), Currency::USD).map_err(|_| bad())?;
    let rate_bp = u32::try_from(m.minor).map_err(|_| bad())?;
    if rate_bp > 10_000 {
        return Err(bad());
    }
    Ok(TaxComponent { name: check_name("tax component name", name, 100)?, rate_bp })
}

pub async fn tax_classes(db: &Db) -> Result<Vec<TaxClassRow>, StoreError> {
    let mut comps: HashMap<i64, Vec<TaxComponent>> = HashMap::new();
    for r in sqlx::query("SELECT tax_class_id, name, rate_bp FROM tax_components ORDER BY tax_class_id, position")
        .fetch_all(&db.pool)
        .await?
    {
        let rate: i64 = r.try_get(2)?;
        comps
            .entry(r.try_get(0)?)
            .or_default()
            .push(TaxComponent { name: r.try_get(1)?, rate_bp: u32::try_from(rate).unwrap_or(u32::MAX) });
    }
    let rows = sqlx::query("SELECT id, name, rounding FROM tax_classes ORDER BY id").fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get(0)?;
            Ok(TaxClassRow {
                id,
                name: r.try_get(1)?,
                rounding: r.try_get(2)?,
                components: comps.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

pub async fn tax_class_by_name(db: &Db, name: &str) -> Result<Option<i64>, StoreError> {
    let r =
        sqlx::query("SELECT id FROM tax_classes WHERE name = $1").bind(name.trim()).fetch_optional(&db.pool).await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?)
}

/// The tax class named `name`, or by id if `name` is a number.
pub async fn find_tax_class(db: &Db, name_or_id: &str) -> Result<i64, StoreError> {
    if let Some(id) = tax_class_by_name(db, name_or_id).await? {
        return Ok(id);
    }
    if let Ok(id) = name_or_id.trim().parse::<i64>() {
        let r = sqlx::query("SELECT id FROM tax_classes WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
        if r.is_some() {
            return Ok(id);
        }
    }
    Err(invalid(format!("tax class: no tax class {name_or_id:?}")))
}

/// The untaxed class (created on first use) for plans and charges given none.
pub async fn untaxed_class(db: &Db) -> Result<i64, StoreError> {
    match tax_class_by_name(db, "Untaxed").await? {
        Some(id) => Ok(id),
        None => add_tax_class(db, "Untaxed", &[], RoundingMode::HalfEven).await,
    }
}

/// A plan as staff add it.
#[derive(Debug, Clone)]
pub struct NewPlan {
    pub name: String,
    pub price: Money,
    pub down_kbps: u32,
    pub up_kbps: u32,
    pub tax_class_id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    pub id: i64,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    /// `45.00 USD`.
    pub price: String,
    pub down_kbps: i64,
    pub up_kbps: i64,
    pub cycle: String,
    pub tax_class_id: i64,
    pub tax_class: String,
    pub active: bool,
    pub subscriptions: i64,
}

pub async fn add_plan(db: &Db, p: &NewPlan) -> Result<PlanRow, StoreError> {
    let name = check_name("name", &p.name, 100)?;
    if p.price.is_negative() {
        return Err(invalid("price: must not be negative"));
    }
    for (field, v) in [("down_kbps", p.down_kbps), ("up_kbps", p.up_kbps)] {
        if v == 0 || v > 100_000_000 {
            return Err(invalid(format!("{field}: 1-100,000,000 kbit/s")));
        }
    }
    let r =
        sqlx::query("SELECT id FROM tax_classes WHERE id = $1").bind(p.tax_class_id).fetch_optional(&db.pool).await?;
    if r.is_none() {
        return Err(invalid(format!("tax class: no tax class {}", p.tax_class_id)));
    }
    if plan_by_name(db, &name).await?.is_some() {
        return Err(invalid(format!("name: a plan {name:?} exists")));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO plans (name, price_minor, currency, down_kbps, up_kbps, cycle, tax_class_id, active, created_ms) \
         VALUES ($1, $2, $3, $4, $5, 'monthly', $6, 1, $7) RETURNING id",
    )
    .bind(&name)
    .bind(p.price.minor)
    .bind(p.price.currency.code())
    .bind(i64::from(p.down_kbps))
    .bind(i64::from(p.up_kbps))
    .bind(p.tax_class_id)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    plan(db, id).await?.ok_or_else(|| StoreError::Corrupt("plan vanished".into()))
}

const PLAN_COLS: &str = "p.id, p.name, p.price_minor, p.currency, p.down_kbps, p.up_kbps, p.cycle, p.tax_class_id, \
    t.name, p.active, (SELECT COUNT(*) FROM subscriptions s WHERE s.plan_id = p.id) \
    FROM plans p JOIN tax_classes t ON t.id = p.tax_class_id";

fn plan_row(r: &sqlx::any::AnyRow) -> Result<PlanRow, StoreError> {
    let price_minor: i64 = r.try_get(2)?;
    let code: String = r.try_get(3)?;
    let price = currency(&code).map(|c| Money::new(price_minor, c).to_string()).unwrap_or_else(|_| code.clone());
    let active: i64 = r.try_get(9)?;
    Ok(PlanRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        price_minor,
        currency: code,
        price,
        down_kbps: r.try_get(4)?,
        up_kbps: r.try_get(5)?,
        cycle: r.try_get(6)?,
        tax_class_id: r.try_get(7)?,
        tax_class: r.try_get(8)?,
        active: active != 0,
        subscriptions: r.try_get(10)?,
    })
}

pub async fn plans(db: &Db) -> Result<Vec<PlanRow>, StoreError> {
    let sql = format!("SELECT {PLAN_COLS} ORDER BY p.price_minor, p.name");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    rows.iter().map(plan_row).collect()
}

pub async fn plan(db: &Db, id: i64) -> Result<Option<PlanRow>, StoreError> {
    let sql = format!("SELECT {PLAN_COLS} WHERE p.id = $1");
    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    r.as_ref().map(plan_row).transpose()
}

pub async fn plan_by_name(db: &Db, name: &str) -> Result<Option<PlanRow>, StoreError> {
    let sql = format!("SELECT {PLAN_COLS} WHERE p.name = $1");
    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name.trim()).fetch_optional(&db.pool).await?;
    r.as_ref().map(plan_row).transpose()
}

/// A plan by name, or by id if `name_or_id` is a number.
pub async fn find_plan(db: &Db, name_or_id: &str) -> Result<PlanRow, StoreError> {
    if let Some(p) = plan_by_name(db, name_or_id).await? {
        return Ok(p);
    }
    if let Ok(id) = name_or_id.trim().parse::<i64>()
        && let Some(p) = plan(db, id).await?
    {
        return Ok(p);
    }
    Err(invalid(format!("plan: no plan {name_or_id:?}")))
}

/// Stops selling a plan (or sells it again); its subscriptions keep billing.
pub async fn set_plan_active(db: &Db, id: i64, active: bool) -> Result<(), StoreError> {
    let n = sqlx::query("UPDATE plans SET active = $1 WHERE id = $2")
        .bind(i64::from(active))
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(invalid(format!("plan: no plan {id}")));
    }
    Ok(())
}

// ---------------------------------------------------------------- accounts

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

/// Creates or updates a billing account. Changing the billing day of an
/// account that was already invoiced is refused (its periods would overlap
/// or leave a gap; that needs a prorated bridge invoice, not built yet).
pub async fn set_account(db: &Db, a: &AccountInput) -> Result<Account, StoreError> {
    BillingDay::new(a.billing_day).map_err(|_| invalid("billing day: 1-28"))?;
    customer_exists(db, a.customer_id).await?;
    let old = account(db, a.customer_id).await?;
    let code = match (&a.currency, &old) {
        (Some(c), _) => c.trim().to_ascii_uppercase(),
        (None, Some(o)) => o.currency.clone(),
        (None, None) => "USD".to_string(),
    };
    currency(&code)?;
    for (field, v) in [
        ("provider customer id", &a.provider_customer_id),
        ("payment method id", &a.payment_method_id),
        ("payment method label", &a.payment_method_label),
    ] {
        if let Some(v) = v {
            check_name(field, v, 200)?;
        }
    }
    if let Some(o) = &old
        && (o.billing_day != i64::from(a.billing_day) || o.currency != code)
    {
        let r = sqlx::query("SELECT id FROM invoices WHERE customer_id = $1 LIMIT 1")
            .bind(a.customer_id)
            .fetch_optional(&db.pool)
            .await?;
        if r.is_some() {
            return Err(invalid(
                "billing day and currency cannot change once the customer has been invoiced (not supported yet)",
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
    account(db, a.customer_id).await?.ok_or_else(|| StoreError::Corrupt("account vanished".into()))
}

pub async fn account(db: &Db, customer_id: i64) -> Result<Option<Account>, StoreError> {
    let r = sqlx::query(
        "SELECT customer_id, billing_day, tax_exempt, currency, payment_reference, autopay, provider_customer_id, \
         payment_method_id, payment_method_label FROM billing_accounts WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let tax_exempt: i64 = r.try_get(2)?;
    let autopay: i64 = r.try_get(5)?;
    Ok(Some(Account {
        customer_id: r.try_get(0)?,
        billing_day: r.try_get(1)?,
        tax_exempt: tax_exempt != 0,
        currency: r.try_get(3)?,
        payment_reference: r.try_get(4)?,
        autopay: autopay != 0,
        provider_customer_id: r.try_get(6)?,
        payment_method_id: r.try_get(7)?,
        payment_method_label: r.try_get(8)?,
    }))
}

async fn require_account(db: &Db, customer_id: i64) -> Result<Account, StoreError> {
    customer_exists(db, customer_id).await?;
    account(db, customer_id).await?.ok_or_else(|| {
        invalid(format!("customer {customer_id} has no billing account (set one with `billing account set`)"))
    })
}

// ---------------------------------------------------------- subscriptions

/// Subscribes a customer (who needs a billing account) to a plan sold in
/// the account's currency, billed from `start`.
pub async fn subscribe(db: &Db, customer_id: i64, plan_id: i64, start: Date) -> Result<i64, StoreError> {
    let acc = require_account(db, customer_id).await?;
    let p = plan(db, plan_id).await?.ok_or_else(|| invalid(format!("plan: no plan {plan_id}")))?;
    if !p.active {
        return Err(invalid(format!("plan: {} is no longer sold", p.name)));
    }
    if p.currency != acc.currency {
        return Err(invalid(format!(
            "plan: {} is priced in {}, the account bills in {}",
            p.name, p.currency, acc.currency
        )));
    }
    Ok(sqlx::query(
        "INSERT INTO subscriptions (customer_id, plan_id, start_date, end_date, created_ms) \
         VALUES ($1, $2, $3, NULL, $4) RETURNING id",
    )
    .bind(customer_id)
    .bind(plan_id)
    .bind(fmt_date(start))
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?)
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionRow {
    pub id: i64,
    pub customer_id: i64,
    pub plan_id: i64,
    pub plan: String,
    pub start_date: String,
    pub end_date: Option<String>,
}

pub async fn subscription(db: &Db, id: i64) -> Result<Option<SubscriptionRow>, StoreError> {
    let r = sqlx::query(
        "SELECT s.id, s.customer_id, s.plan_id, p.name, s.start_date, s.end_date FROM subscriptions s \
         JOIN plans p ON p.id = s.plan_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = r else { return Ok(None) };
    Ok(Some(SubscriptionRow {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        plan_id: r.try_get(2)?,
        plan: r.try_get(3)?,
        start_date: r.try_get(4)?,
        end_date: r.try_get(5)?,
    }))
}

async fn require_subscription(db: &Db, id: i64) -> Result<(SubscriptionRow, Date, Option<Date>), StoreError> {
    let s = subscription(db, id).await?.ok_or_else(|| invalid(format!("subscription: no subscription {id}")))?;
    let start = parse_date("start", &s.start_date)?;
    let end = s.end_date.as_deref().map(|e| parse_date("end", e)).transpose()?;
    Ok((s, start, end))
}

/// From `on` the subscription is billed on `plan_id` (the old plan up to the
/// day before).
pub async fn change_plan(db: &Db, subscription_id: i64, plan_id: i64, on: Date) -> Result<i64, StoreError> {
    let (s, start, end) = require_subscription(db, subscription_id).await?;
    if on <= start || end.is_some_and(|e| on >= e) {
        return Err(invalid("on: must be after the subscription's start and before its end"));
    }
    let acc = require_account(db, s.customer_id).await?;
    let p = plan(db, plan_id).await?.ok_or_else(|| invalid(format!("plan: no plan {plan_id}")))?;
    if !p.active {
        return Err(invalid(format!("plan: {} is no longer sold", p.name)));
    }
    if p.currency != acc.currency {
        return Err(invalid(format!(
            "plan: {} is priced in {}, the account bills in {}",
            p.name, p.currency, acc.currency
        )));
    }
    Ok(sqlx::query(
        "INSERT INTO plan_changes (subscription_id, on_date, plan_id, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(subscription_id)
    .bind(fmt_date(on))
    .bind(plan_id)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?)
}

/// Cancels a subscription: `end` is the first day no longer billed.
pub async fn cancel(db: &Db, subscription_id: i64, end: Date) -> Result<(), StoreError> {
    let (_, start, _) = require_subscription(db, subscription_id).await?;
    if end <= start {
        return Err(invalid("end: must be after the subscription's start"));
    }
    sqlx::query("UPDATE subscriptions SET end_date = $1 WHERE id = $2")
        .bind(fmt_date(end))
        .bind(subscription_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// A hold: days not billed, on one subscription or (None) all of the customer's.
#[derive(Debug, Clone)]
pub struct HoldInput {
    pub customer_id: i64,
    pub subscription_id: Option<i64>,
    pub start: Date,
    pub end: Option<Date>,
    pub kind: HoldKind,
}

pub async fn add_hold(db: &Db, h: &HoldInput) -> Result<i64, StoreError> {
    customer_exists(db, h.customer_id).await?;
    if h.end.is_some_and(|e| e <= h.start) {
        return Err(invalid("to: must be after from"));
    }
    if let Some(sid) = h.subscription_id {
        let (s, _, _) = require_subscription(db, sid).await?;
        if s.customer_id != h.customer_id {
            return Err(invalid(format!("subscription: {sid} is not customer {}'s", h.customer_id)));
        }
    }
    Ok(sqlx::query(
        "INSERT INTO holds (customer_id, subscription_id, start_date, end_date, kind, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(h.customer_id)
    .bind(h.subscription_id)
    .bind(fmt_date(h.start))
    .bind(h.end.map(fmt_date))
    .bind(hold_kind_name(h.kind))
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?)
}

/// Ends an open hold: `end` is the first day billed again.
pub async fn end_hold(db: &Db, hold_id: i64, end: Date) -> Result<(), StoreError> {
    let r = sqlx::query("SELECT start_date FROM holds WHERE id = $1").bind(hold_id).fetch_optional(&db.pool).await?;
    let start: String = r.ok_or_else(|| invalid(format!("hold: no hold {hold_id}")))?.try_get(0)?;
    if end <= parse_date("start", &start)? {
        return Err(invalid("to: must be after the hold's start"));
    }
    sqlx::query("UPDATE holds SET end_date = $1 WHERE id = $2")
        .bind(fmt_date(end))
        .bind(hold_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

// ------------------------------------------------- charges and discounts

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
pub async fn add_charge(db: &Db, c: &ChargeInput) -> Result<i64, StoreError> {
    let acc = require_account(db, c.customer_id).await?;
    let description = check_name("description", &c.description, 200)?;
    if c.amount.minor <= 0 {
        return Err(invalid("amount: must be positive (a refund or goodwill is a credit)"));
    }
    if c.amount.currency.code() != acc.currency {
        return Err(invalid(format!("amount: the account bills in {}", acc.currency)));
    }
    if let Some(t) = c.tax_class_id {
        let r = sqlx::query("SELECT id FROM tax_classes WHERE id = $1").bind(t).fetch_optional(&db.pool).await?;
        if r.is_none() {
            return Err(invalid(format!("tax class: no tax class {t}")));
        }
    }
    Ok(sqlx::query(
        "INSERT INTO charges (customer_id, charge_date, kind, description, amount_minor, currency, tax_class_id, \
         invoice_id, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) RETURNING id",
    )
    .bind(c.customer_id)
    .bind(fmt_date(c.date))
    .bind(charge_kind_name(c.kind))
    .bind(&description)
    .bind(c.amount.minor)
    .bind(c.amount.currency.code())
    .bind(c.tax_class_id)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?)
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

pub async fn add_discount(db: &Db, d: &DiscountInput) -> Result<i64, StoreError> {
    let acc = require_account(db, d.customer_id).await?;
    let description = check_name("description", &d.description, 200)?;
    if d.end.is_some_and(|e| e <= d.start) {
        return Err(invalid("to: must be after from"));
    }
    let (target, target_id) = match d.target {
        DiscountTarget::All => ("all", None),
        DiscountTarget::AllRecurring => ("recurring", None),
        DiscountTarget::Subscription(s) => {
            let sid = i64::try_from(s).map_err(|_| invalid("subscription: out of range"))?;
            let (row, _, _) = require_subscription(db, sid).await?;
            if row.customer_id != d.customer_id {
                return Err(invalid(format!("subscription: {sid} is not customer {}'s", d.customer_id)));
            }
            ("subscription", Some(sid))
        }
        DiscountTarget::Charge(c) => ("charge", Some(i64::try_from(c).map_err(|_| invalid("charge: out of range"))?)),
    };
    let (percent, amount, code) = match d.value {
        DiscountValue::PercentBp(bp) if (1..=10_000).contains(&bp) => (Some(i64::from(bp)), None, None),
        DiscountValue::PercentBp(_) => return Err(invalid("percent: above 0 and at most 100")),
        DiscountValue::Fixed(m) => {
            if m.minor <= 0 {
                return Err(invalid("amount: must be positive"));
            }
            if m.currency.code() != acc.currency {
                return Err(invalid(format!("amount: the account bills in {}", acc.currency)));
            }
            (None, Some(m.minor), Some(m.currency.code().to_string()))
        }
    };
    Ok(sqlx::query(
        "INSERT INTO discounts (customer_id, description, target, target_id, percent_bp, amount_minor, currency, \
         start_date, end_date, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(d.customer_id)
    .bind(&description)
    .bind(target)
    .bind(target_id)
    .bind(percent)
    .bind(amount)
    .bind(code)
    .bind(fmt_date(d.start))
    .bind(d.end.map(fmt_date))
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?)
}

// ------------------------------------------------------ payments, ledger

#[derive(Debug, Clone)]
pub struct PaymentInput {
    pub customer_id: i64,
    pub date: Date,
    /// Money received (positive).
    pub amount: Money,
    /// One of [`PAYMENT_METHODS`].
    pub method: String,
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

/// Records a payment: the `payments` row and its ledger credit, in one transaction.
pub async fn record_payment(db: &Db, p: &PaymentInput) -> Result<PaymentRecorded, StoreError> {
    let acc = require_account(db, p.customer_id).await?;
    if p.amount.minor <= 0 {
        return Err(invalid("amount: must be positive"));
    }
    if p.amount.currency.code() != acc.currency {
        return Err(invalid(format!("amount: the account bills in {}", acc.currency)));
    }
    if !PAYMENT_METHODS.contains(&p.method.as_str()) {
        return Err(invalid(format!("method: one of {}", PAYMENT_METHODS.join(", "))));
    }
    let reference = p.reference.as_deref().map(|r| check_name("reference", r, 200)).transpose()?;
    let provider = p.provider_payment_id.as_deref().map(|r| check_name("provider payment id", r, 200)).transpose()?;
    let amount = p.amount.minor.checked_neg().ok_or_else(|| invalid("amount: too large"))?;
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let row = sqlx::query(
        "INSERT INTO payments (customer_id, payment_date, amount_minor, currency, method, reference, \
         provider_payment_id, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (provider_payment_id) DO NOTHING RETURNING id",
    )
    .bind(p.customer_id)
    .bind(fmt_date(p.date))
    .bind(p.amount.minor)
    .bind(p.amount.currency.code())
    .bind(&p.method)
    .bind(&reference)
    .bind(&provider)
    .bind(&p.created_by)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let id: i64 = sqlx::query("SELECT id FROM payments WHERE provider_payment_id = $1")
            .bind(&provider)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        return Ok(PaymentRecorded { id, duplicate: true });
    };
    let id: i64 = row.try_get(0)?;
    let memo = match &reference {
        Some(r) => format!("Payment ({}, {r})", p.method),
        None => format!("Payment ({})", p.method),
    };
    sqlx::query(
        "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, invoice_id, \
         payment_id, memo) VALUES ($1, $2, $3, NULL, 'payment', $4, $5, NULL, $6, $7)",
    )
    .bind(p.customer_id)
    .bind(now)
    .bind(fmt_date(p.date))
    .bind(amount)
    .bind(p.amount.currency.code())
    .bind(id)
    .bind(memo)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(PaymentRecorded { id, duplicate: false })
}

/// A customer's ledger in the account currency, oldest first.
pub async fn ledger_entries(db: &Db, customer_id: i64, currency: Currency) -> Result<Vec<LedgerEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, entry_date, due_date, kind, amount_minor, COALESCE(invoice_id, payment_id) FROM ledger \
         WHERE customer_id = $1 AND currency = $2 ORDER BY entry_date, id",
    )
    .bind(customer_id)
    .bind(currency.code())
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get(0)?;
            let date: String = r.try_get(1)?;
            let due: Option<String> = r.try_get(2)?;
            let kind: String = r.try_get(3)?;
            let reference: Option<i64> = r.try_get(5)?;
            Ok(LedgerEntry {
                id: id as u64,
                date: parse_date("ledger date", &date)?,
                due: due.as_deref().map(|d| parse_date("ledger due date", d)).transpose()?,
                kind: parse_entry_kind(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("stored ledger kind {kind:?}")))?,
                amount: Money::new(r.try_get(4)?, currency),
                reference: reference.map(|x| x as u64),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    pub customer_id: i64,
    pub currency: String,
    /// Sum of the ledger: positive = owes, negative = in credit.
    pub balance_minor: i64,
    /// `12.34 USD`.
    pub balance: String,
    #[serde(with = "iso_date")]
    pub as_of: Date,
    /// What is owed by days past due (minor units), and unapplied credit.
    pub current_minor: i64,
    pub days_1_30_minor: i64,
    pub days_31_60_minor: i64,
    pub days_61_90_minor: i64,
    pub over_90_minor: i64,
    pub unapplied_credit_minor: i64,
    #[serde(skip)]
    pub aging: Aging,
}

/// The balance (sum of the ledger) and the AR aging as of `as_of`.
pub async fn balance(db: &Db, customer_id: i64, as_of: Date) -> Result<Balance, StoreError> {
    let acc = require_account(db, customer_id).await?;
    let cur = currency(&acc.currency)?;
    let entries = ledger_entries(db, customer_id, cur).await?;
    let total: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM ledger WHERE customer_id = $1 AND currency = $2",
    )
    .bind(customer_id)
    .bind(cur.code())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    let aging = super::ledger::aging(&entries, cur, as_of).map_err(|e| invalid(format!("ledger: {e}")))?;
    Ok(Balance {
        customer_id,
        currency: acc.currency,
        balance_minor: total,
        balance: Money::new(total, cur).to_string(),
        as_of,
        current_minor: aging.current.minor,
        days_1_30_minor: aging.days_1_30.minor,
        days_31_60_minor: aging.days_31_60.minor,
        days_61_90_minor: aging.days_61_90.minor,
        over_90_minor: aging.over_90.minor,
        unapplied_credit_minor: aging.unapplied_credit.minor,
        aging,
    })
}

// --------------------------------------------------------------- invoices

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceRow {
    pub id: i64,
    pub number: String,
    pub series: String,
    pub year: i64,
    pub seq: i64,
    pub customer_id: i64,
    pub period_start: String,
    pub period_end: String,
    pub issue_date: String,
    pub due_date: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub amount_due_minor: i64,
    pub status: String,
    pub payment_reference: Option<String>,
    pub content_hash: String,
}

/// Which invoices to list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub customer_id: Option<i64>,
    pub period_start: Option<Date>,
    pub limit: Option<i64>,
}

pub async fn invoices(db: &Db, f: &InvoiceFilter) -> Result<Vec<InvoiceRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, number, series, year, seq, customer_id, period_start, period_end, issue_date, due_date, currency, \
         subtotal_minor, tax_minor, total_minor, amount_due_minor, status, payment_reference, content_hash \
         FROM invoices WHERE ($1 = 0 OR customer_id = $2) AND ($3 = '' OR period_start = $3) \
         ORDER BY series, year, seq LIMIT $4",
    )
    .bind(i64::from(f.customer_id.is_some()))
    .bind(f.customer_id.unwrap_or(0))
    .bind(f.period_start.map(fmt_date).unwrap_or_default())
    .bind(f.limit.unwrap_or(i64::MAX))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InvoiceRow {
                id: r.try_get(0)?,
                number: r.try_get(1)?,
                series: r.try_get(2)?,
                year: r.try_get(3)?,
                seq: r.try_get(4)?,
                customer_id: r.try_get(5)?,
                period_start: r.try_get(6)?,
                period_end: r.try_get(7)?,
                issue_date: r.try_get(8)?,
                due_date: r.try_get(9)?,
                currency: r.try_get(10)?,
                subtotal_minor: r.try_get(11)?,
                tax_minor: r.try_get(12)?,
                total_minor: r.try_get(13)?,
                amount_due_minor: r.try_get(14)?,
                status: r.try_get(15)?,
                payment_reference: r.try_get(16)?,
                content_hash: r.try_get(17)?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct InvoiceLineRow {
    pub position: i64,
    pub kind: String,
    pub description: String,
    pub amount_minor: i64,
    pub discount_minor: i64,
    pub net_minor: i64,
    pub tax_minor: i64,
}

pub async fn invoice_lines(db: &Db, invoice_id: i64) -> Result<Vec<InvoiceLineRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, kind, description, amount_minor, discount_minor, net_minor, tax_minor FROM invoice_lines \
         WHERE invoice_id = $1 ORDER BY position",
    )
    .bind(invoice_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InvoiceLineRow {
                position: r.try_get(0)?,
                kind: r.try_get(1)?,
                description: r.try_get(2)?,
                amount_minor: r.try_get(3)?,
                discount_minor: r.try_get(4)?,
                net_minor: r.try_get(5)?,
                tax_minor: r.try_get(6)?,
            })
        })
        .collect()
}

// ------------------------------------------------------- run inputs (bulk)

/// A customer whose billing day is the run date's day, with the input of
/// their invoice for the period, or why it could not be built (bad data).
#[derive(Debug, Clone)]
pub struct DueCustomer {
    pub customer_id: i64,
    pub payment_reference: String,
    pub input: Result<InvoiceInput, String>,
}

/// Everything an invoice run on one date needs, loaded in bulk.
#[derive(Debug, Clone)]
pub struct RunInputs {
    /// The period every due customer is billed for (`None` on the 29th-31st:
    /// no billing day falls there, nobody is due).
    pub period: Option<DateRange>,
    pub catalog: Catalog,
    /// By customer id.
    pub due: Vec<DueCustomer>,
    /// Due customers that already have an invoice for the period.
    pub issued: BTreeSet<i64>,
    /// Catalog rows left out as invalid (their customers fail with "unknown plan").
    pub skipped: Vec<String>,
}

/// The catalog: every plan and tax class (inactive plans included: they
/// still bill their subscriptions). Invalid rows are left out and named.
pub async fn load_catalog(db: &Db) -> Result<(Catalog, Vec<String>), StoreError> {
    let mut skipped = Vec::new();
    let mut classes: Vec<TaxClass> = Vec::new();
    let mut bad_classes: Vec<u64> = Vec::new();
    for r in sqlx::query("SELECT id, name, rounding FROM tax_classes ORDER BY id").fetch_all(&db.pool).await? {
        let id: i64 = r.try_get(0)?;
        let rounding: String = r.try_get(2)?;
        match parse_rounding(&rounding) {
            Some(rounding) => {
                classes.push(TaxClass { id: id as u64, name: r.try_get(1)?, components: Vec::new(), rounding })
            }
            None => skipped.push(format!("tax class {id}: rounding {rounding:?}")),
        }
    }
    for r in sqlx::query("SELECT tax_class_id, name, rate_bp FROM tax_components ORDER BY tax_class_id, position")
        .fetch_all(&db.pool)
        .await?
    {
        let id: i64 = r.try_get(0)?;
        let rate: i64 = r.try_get(2)?;
        match (classes.iter_mut().find(|c| c.id == id as u64), u32::try_from(rate)) {
            (Some(c), Ok(rate_bp)) if rate_bp <= 10_000 => {
                c.components.push(TaxComponent { name: r.try_get(1)?, rate_bp })
            }
            _ => {
                skipped.push(format!("tax class {id}: rate {rate}"));
                bad_classes.push(id as u64);
            }
        }
    }
    // A class with a bad rate is left out: its lines fail as "unknown tax class".
    classes.retain(|c| !bad_classes.contains(&c.id));
    let mut plans = Vec::new();
    for r in sqlx::query("SELECT id, name, price_minor, currency, down_kbps, up_kbps, cycle, tax_class_id FROM plans")
        .fetch_all(&db.pool)
        .await?
    {
        let id: i64 = r.try_get(0)?;
        let code: String = r.try_get(3)?;
        let price: i64 = r.try_get(2)?;
        let down: i64 = r.try_get(4)?;
        let up: i64 = r.try_get(5)?;
        let cycle: String = r.try_get(6)?;
        let tax: i64 = r.try_get(7)?;
        let ok = currency(&code).ok().zip(u32::try_from(down).ok()).zip(u32::try_from(up).ok());
        match ok {
            Some(((cur, down_kbps), up_kbps))
                if price >= 0 && cycle == "monthly" && classes.iter().any(|c| c.id == tax as u64) =>
            {
                plans.push(Plan {
                    id: id as u64,
                    name: r.try_get(1)?,
                    price: Money::new(price, cur),
                    down_kbps,
                    up_kbps,
                    cycle: BillingCycle::Monthly,
                    tax_class: tax as u64,
                })
            }
            _ => skipped.push(format!("plan {id}")),
        }
    }
    let catalog = Catalog::new(plans, classes).map_err(|e| invalid(format!("catalog: {e}")))?;
    Ok((catalog, skipped))
}

struct Partial {
    customer_id: i64,
    payment_reference: String,
    currency: Option<Currency>,
    tax_exempt: bool,
    subs: Vec<Subscription>,
    charges: Vec<OneTimeCharge>,
    discounts: Vec<Discount>,
    balance: i64,
    error: Option<String>,
}

impl Partial {
    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }
}

fn id_u64(v: i64) -> u64 {
    // Ids come from AUTOINCREMENT/BIGSERIAL: positive.
    v.max(0) as u64
}

/// Loads the inputs of the invoice run on `date`: the customers whose
/// billing day is `date`'s day, and for them, in one query per table, the
/// subscriptions, plan changes and holds overlapping the period starting on
/// `date`, the uninvoiced charges dated before its end, the discounts active
/// on its start, their ledger balance (credit is applied) and whether they
/// were already invoiced for it.
pub async fn load_run_inputs(db: &Db, date: Date) -> Result<RunInputs, StoreError> {
    let (catalog, skipped) = load_catalog(db).await?;
    let Ok(day) = BillingDay::new(date.day().unsigned_abs()) else {
        return Ok(RunInputs { period: None, catalog, due: Vec::new(), issued: BTreeSet::new(), skipped });
    };
    let period = period_starting(day, date.year(), date.month()).map_err(|e| invalid(format!("date: {e}")))?;
    let bd = i64::from(day.get());
    let (ps, pe) = (fmt_date(period.start()), fmt_date(period.end()));

    let mut due: Vec<Partial> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for r in sqlx::query(
        "SELECT customer_id, tax_exempt, currency, payment_reference FROM billing_accounts WHERE billing_day = $1 \
         ORDER BY customer_id",
    )
    .bind(bd)
    .fetch_all(&db.pool)
    .await?
    {
        let customer_id: i64 = r.try_get(0)?;
        let tax_exempt: i64 = r.try_get(1)?;
        let code: String = r.try_get(2)?;
        let mut p = Partial {
            customer_id,
            payment_reference: r.try_get(3)?,
            currency: currency(&code).ok(),
            tax_exempt: tax_exempt != 0,
            subs: Vec::new(),
            charges: Vec::new(),
            discounts: Vec::new(),
            balance: 0,
            error: None,
        };
        if p.currency.is_none() {
            p.fail(format!("account currency {code:?} is invalid"));
        }
        index.insert(customer_id, due.len());
        due.push(p);
    }

    // Subscriptions overlapping the period.
    let mut subs: HashMap<i64, (usize, usize)> = HashMap::new();
    for r in sqlx::query(
        "SELECT s.id, s.customer_id, s.plan_id, s.start_date, s.end_date FROM subscriptions s \
         JOIN billing_accounts a ON a.customer_id = s.customer_id \
         WHERE a.billing_day = $1 AND s.start_date < $3 AND (s.end_date IS NULL OR s.end_date > $2) ORDER BY s.id",
    )
    .bind(bd)
    .bind(&ps)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?
    {
        let id: i64 = r.try_get(0)?;
        let Some(&ci) = index.get(&r.try_get::<i64, _>(1)?) else { continue };
        let start: String = r.try_get(3)?;
        let end: Option<String> = r.try_get(4)?;
        let p = &mut due[ci];
        match (iso_date::parse(&start), end.as_deref().map(iso_date::parse)) {
            (Some(start), None) | (Some(start), Some(Some(_))) => {
                let end = end.as_deref().and_then(iso_date::parse);
                subs.insert(id, (ci, p.subs.len()));
                p.subs.push(Subscription {
                    id: id_u64(id),
                    plan: id_u64(r.try_get(2)?),
                    start,
                    end,
                    changes: Vec::new(),
                    holds: Vec::new(),
                });
            }
            _ => p.fail(format!("subscription {id} has an invalid date")),
        }
    }

    for r in sqlx::query(
        "SELECT c.subscription_id, c.on_date, c.plan_id, c.id FROM plan_changes c \
         JOIN subscriptions s ON s.id = c.subscription_id JOIN billing_accounts a ON a.customer_id = s.customer_id \
         WHERE a.billing_day = $1 AND c.on_date < $3 AND s.start_date < $3 AND (s.end_date IS NULL OR s.end_date > $2) \
         ORDER BY c.id",
    )
    .bind(bd)
    .bind(&ps)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?
    {
        let Some(&(ci, si)) = subs.get(&r.try_get::<i64, _>(0)?) else { continue };
        let on: String = r.try_get(1)?;
        let p = &mut due[ci];
        match iso_date::parse(&on) {
            Some(on) => p.subs[si].changes.push(PlanChange { on, plan: id_u64(r.try_get(2)?) }),
            None => p.fail(format!("plan change {} has an invalid date", r.try_get::<i64, _>(3)?)),
        }
    }

    for r in sqlx::query(
        "SELECT h.customer_id, h.subscription_id, h.start_date, h.end_date, h.kind, h.id FROM holds h \
         JOIN billing_accounts a ON a.customer_id = h.customer_id \
         WHERE a.billing_day = $1 AND h.start_date < $3 AND (h.end_date IS NULL OR h.end_date > $2) ORDER BY h.id",
    )
    .bind(bd)
    .bind(&ps)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?
    {
        let Some(&ci) = index.get(&r.try_get::<i64, _>(0)?) else { continue };
        let sub: Option<i64> = r.try_get(1)?;
        let start: String = r.try_get(2)?;
        let end: Option<String> = r.try_get(3)?;
        let kind: String = r.try_get(4)?;
        let id: i64 = r.try_get(5)?;
        let p = &mut due[ci];
        let end_ok = end.as_deref().is_none_or(|e| iso_date::parse(e).is_some());
        let (Some(start), true, Some(kind)) = (iso_date::parse(&start), end_ok, parse_hold_kind(&kind)) else {
            p.fail(format!("hold {id} is invalid"));
            continue;
        };
        let hold = Hold { start, end: end.as_deref().and_then(iso_date::parse), kind };
        match sub {
            None => p.subs.iter_mut().for_each(|s| s.holds.push(hold.clone())),
            Some(sid) => {
                if let Some(&(c2, si)) = subs.get(&sid)
                    && c2 == ci
                {
                    p.subs[si].holds.push(hold);
                }
            }
        }
    }

    for r in sqlx::query(
        "SELECT ch.id, ch.customer_id, ch.charge_date, ch.kind, ch.description, ch.amount_minor, ch.currency, \
         ch.tax_class_id FROM charges ch JOIN billing_accounts a ON a.customer_id = ch.customer_id \
         WHERE a.billing_day = $1 AND ch.invoice_id IS NULL AND ch.charge_date < $2 ORDER BY ch.id",
    )
    .bind(bd)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?
    {
        let id: i64 = r.try_get(0)?;
        let Some(&ci) = index.get(&r.try_get::<i64, _>(1)?) else { continue };
        let date: String = r.try_get(2)?;
        let kind: String = r.try_get(3)?;
        let code: String = r.try_get(6)?;
        let tax: Option<i64> = r.try_get(7)?;
        let p = &mut due[ci];
        match (iso_date::parse(&date), parse_charge_kind(&kind), currency(&code)) {
            (Some(date), Some(kind), Ok(cur)) => p.charges.push(OneTimeCharge {
                id: id_u64(id),
                date,
                kind,
                description: r.try_get(4)?,
                amount: Money::new(r.try_get(5)?, cur),
                tax_class: tax.map(id_u64),
            }),
            _ => p.fail(format!("charge {id} is invalid")),
        }
    }

    for r in sqlx::query(
        "SELECT d.id, d.customer_id, d.description, d.target, d.target_id, d.percent_bp, d.amount_minor, d.currency \
         FROM discounts d JOIN billing_accounts a ON a.customer_id = d.customer_id \
         WHERE a.billing_day = $1 AND d.start_date <= $2 AND (d.end_date IS NULL OR d.end_date > $2) ORDER BY d.id",
    )
    .bind(bd)
    .bind(&ps)
    .fetch_all(&db.pool)
    .await?
    {
        let id: i64 = r.try_get(0)?;
        let Some(&ci) = index.get(&r.try_get::<i64, _>(1)?) else { continue };
        let target: String = r.try_get(3)?;
        let target_id: Option<i64> = r.try_get(4)?;
        let percent: Option<i64> = r.try_get(5)?;
        let amount: Option<i64> = r.try_get(6)?;
        let code: Option<String> = r.try_get(7)?;
        let target = match (target.as_str(), target_id) {
            ("all", _) => Some(DiscountTarget::All),
            ("recurring", _) => Some(DiscountTarget::AllRecurring),
            ("subscription", Some(s)) => Some(DiscountTarget::Subscription(id_u64(s))),
            ("charge", Some(c)) => Some(DiscountTarget::Charge(id_u64(c))),
            _ => None,
        };
        let value = match (percent, amount, code.as_deref().map(currency)) {
            (Some(bp), None, _) => u32::try_from(bp).ok().map(DiscountValue::PercentBp),
            (None, Some(m), Some(Ok(cur))) => Some(DiscountValue::Fixed(Money::new(m, cur))),
            _ => None,
        };
        let p = &mut due[ci];
        match (target, value) {
            (Some(target), Some(value)) => {
                p.discounts.push(Discount { id: id_u64(id), description: r.try_get(2)?, target, value })
            }
            _ => p.fail(format!("discount {id} is invalid")),
        }
    }

    for r in sqlx::query(
        "SELECT l.customer_id, CAST(SUM(l.amount_minor) AS BIGINT) FROM ledger l \
         JOIN billing_accounts a ON a.customer_id = l.customer_id AND a.currency = l.currency \
         WHERE a.billing_day = $1 GROUP BY l.customer_id",
    )
    .bind(bd)
    .fetch_all(&db.pool)
    .await?
    {
        if let Some(&ci) = index.get(&r.try_get::<i64, _>(0)?) {
            due[ci].balance = r.try_get::<Option<i64>, _>(1)?.unwrap_or(0);
        }
    }

    let mut issued = BTreeSet::new();
    for r in
        sqlx::query("SELECT customer_id FROM invoices WHERE period_start = $1").bind(&ps).fetch_all(&db.pool).await?
    {
        let id: i64 = r.try_get(0)?;
        if index.contains_key(&id) {
            issued.insert(id);
        }
    }

    let due = due
        .into_iter()
        .map(|p| {
            let input = match (p.error, p.currency) {
                (Some(e), _) => Err(e),
                (None, None) => Err("account currency is invalid".to_string()),
                (None, Some(cur)) => Ok(InvoiceInput {
                    customer_id: id_u64(p.customer_id),
                    currency: cur,
                    period,
                    tax_exempt: p.tax_exempt,
                    subscriptions: p.subs,
                    charges: p.charges,
                    discounts: p.discounts,
                    credit_available: Money::new(p.balance.checked_neg().unwrap_or(0).max(0), cur),
                }),
            };
            DueCustomer { customer_id: p.customer_id, payment_reference: p.payment_reference, input }
        })
        .collect();
    Ok(RunInputs { period: Some(period), catalog, due, issued, skipped })
}

/// A payment as the customer page lists it.
#[derive(Debug, Clone)]
pub struct PaymentLine {
    pub date: String,
    pub amount_minor: i64,
    pub currency: String,
    pub method: String,
    pub reference: String,
}

/// A customer's most recent payments, newest first.
pub async fn recent_payments(db: &Db, customer: i64, limit: i64) -> Result<Vec<PaymentLine>, StoreError> {
    let rows = sqlx::query(
        "SELECT payment_date, amount_minor, currency, method, COALESCE(reference, '') AS reference FROM payments \
         WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(customer)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PaymentLine {
                date: r.try_get("payment_date")?,
                amount_minor: r.try_get("amount_minor")?,
                currency: r.try_get("currency")?,
                method: r.try_get("method")?,
                reference: r.try_get("reference")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The currency most accounts bill in (the reports' default).
pub async fn main_currency(db: &Db) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query("SELECT currency FROM billing_accounts GROUP BY currency ORDER BY COUNT(*) DESC LIMIT 1")
        .fetch_optional(&db.pool)
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?)
}

/// Charge attempts for a customer since `since_ms`.
pub async fn autopay_attempts_since(db: &Db, customer_id: i64, since_ms: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM autopay_attempts WHERE customer_id = $1 AND ts_ms > $2")
        .bind(customer_id)
        .bind(since_ms)
        .fetch_one(&db.pool)
        .await?
        .try_get::<i64, _>(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_references() {
        assert_eq!(payment_reference(123), "M000001230");
        for id in [1, 7, 42, 123, 99_999_999, 123_456_789] {
            let r = payment_reference(id);
            assert_eq!(parse_payment_reference(&r), Some(id), "{r}");
            assert_eq!(parse_payment_reference(&r.to_lowercase()), Some(id));
            // Any single changed digit is caught.
            for i in 1..r.len() {
                let mut b = r.clone().into_bytes();
                b[i] = b'0' + (b[i] - b'0' + 3) % 10;
                assert_eq!(parse_payment_reference(std::str::from_utf8(&b).unwrap()), None);
            }
        }
        for bad in ["", "M", "X000001230", "M00000123", "M00000123x", "M-00001230"] {
            assert_eq!(parse_payment_reference(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn validation_payments_and_balance() {
        use jiff::civil::date;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let c =
            crate::customers::create(&db, &crate::customers::CustomerInput { name: "A".into(), ..Default::default() })
                .await
                .unwrap()
                .id;
        let t = untaxed_class(&db).await.unwrap();
        assert_eq!(untaxed_class(&db).await.unwrap(), t, "created once");
        let usd = |m| Money::new(m, Currency::USD);
        let np = NewPlan { name: "Home".into(), price: usd(4500), down_kbps: 25_000, up_kbps: 5_000, tax_class_id: t };
        let home = add_plan(&db, &np).await.unwrap();
        assert!(add_plan(&db, &np).await.is_err(), "names are unique");
        assert!(add_plan(&db, &NewPlan { name: " ".into(), ..np.clone() }).await.is_err());
        assert!(add_plan(&db, &NewPlan { name: "X".into(), price: usd(-1), ..np.clone() }).await.is_err());
        assert!(add_plan(&db, &NewPlan { name: "X".into(), down_kbps: 0, ..np.clone() }).await.is_err());
        assert!(add_plan(&db, &NewPlan { name: "X".into(), tax_class_id: 99, ..np.clone() }).await.is_err());
        let euro = add_plan(&db, &NewPlan { name: "Euro".into(), price: Money::new(100, Currency::EUR), ..np.clone() })
            .await
            .unwrap();
        assert_eq!(find_plan(&db, "Home").await.unwrap().id, home.id);
        assert_eq!(find_plan(&db, &home.id.to_string()).await.unwrap().id, home.id);
        assert!(find_plan(&db, "Nope").await.is_err());

        // No account yet: subscriptions, charges and payments are refused.
        let e = subscribe(&db, c, home.id, date(2026, 1, 1)).await.unwrap_err().to_string();
        assert!(e.contains("no billing account"), "{e}");
        assert!(
            set_account(&db, &AccountInput { customer_id: c, billing_day: 29, ..Default::default() }).await.is_err()
        );
        assert!(
            set_account(&db, &AccountInput { customer_id: 999, billing_day: 1, ..Default::default() }).await.is_err()
        );
        let a = set_account(&db, &AccountInput { customer_id: c, billing_day: 3, ..Default::default() }).await.unwrap();
        assert_eq!((a.currency.as_str(), a.payment_reference.clone()), ("USD", payment_reference(c)));
        assert!(subscribe(&db, c, euro.id, date(2026, 1, 1)).await.unwrap_err().to_string().contains("EUR"));
        let s = subscribe(&db, c, home.id, date(2026, 1, 1)).await.unwrap();
        assert!(change_plan(&db, s, home.id, date(2025, 12, 1)).await.is_err(), "before the start");
        assert!(cancel(&db, s, date(2026, 1, 1)).await.is_err());
        let hold = HoldInput {
            customer_id: c,
            subscription_id: Some(s),
            start: date(2026, 2, 1),
            end: Some(date(2026, 2, 1)),
            kind: HoldKind::Vacation,
        };
        assert!(add_hold(&db, &hold).await.is_err(), "empty hold");
        let h = add_hold(&db, &HoldInput { end: None, ..hold.clone() }).await.unwrap();
        end_hold(&db, h, date(2026, 2, 10)).await.unwrap();
        assert!(end_hold(&db, h, date(2026, 1, 10)).await.is_err());
        let charge = ChargeInput {
            customer_id: c,
            date: date(2026, 1, 1),
            kind: ChargeKind::Installation,
            description: "Installation".into(),
            amount: usd(0),
            tax_class_id: None,
        };
        assert!(add_charge(&db, &charge).await.is_err(), "zero amount");
        assert!(
            add_charge(&db, &ChargeInput { amount: Money::new(5, Currency::EUR), ..charge.clone() }).await.is_err()
        );
        add_charge(&db, &ChargeInput { amount: usd(9900), ..charge.clone() }).await.unwrap();
        let discount = DiscountInput {
            customer_id: c,
            description: "Half".into(),
            target: DiscountTarget::AllRecurring,
            value: DiscountValue::PercentBp(10_001),
            start: date(2026, 1, 1),
            end: None,
        };
        assert!(add_discount(&db, &discount).await.is_err());
        add_discount(&db, &DiscountInput { value: DiscountValue::PercentBp(5000), ..discount.clone() }).await.unwrap();

        // Payments: a payments row plus a ledger credit; a provider id is recorded once.
        let pay = PaymentInput {
            customer_id: c,
            date: date(2026, 1, 5),
            amount: usd(3000),
            method: "card".into(),
            reference: None,
            provider_payment_id: Some("pi_1".into()),
            created_by: "test".into(),
        };
        let first = record_payment(&db, &pay).await.unwrap();
        let again = record_payment(&db, &pay).await.unwrap();
        assert_eq!((again.id, again.duplicate, first.duplicate), (first.id, true, false));
        assert!(record_payment(&db, &PaymentInput { method: "wire".into(), ..pay.clone() }).await.is_err());
        assert!(record_payment(&db, &PaymentInput { amount: usd(-1), ..pay.clone() }).await.is_err());
        record_payment(&db, &PaymentInput { provider_payment_id: None, amount: usd(500), ..pay.clone() })
            .await
            .unwrap();
        let b = balance(&db, c, date(2026, 1, 31)).await.unwrap();
        assert_eq!((b.balance_minor, b.unapplied_credit_minor, b.balance.as_str()), (-3500, 3500, "-35.00 USD"));
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM payments").fetch_one(&db.pool).await.unwrap().try_get(0).unwrap();
        assert_eq!(n, 2);
        assert_eq!(ledger_entries(&db, c, Currency::USD).await.unwrap().len(), 2);
    }

    #[test]
    fn dates_parse_through_the_shared_strict_parser() {
        assert_eq!(parse_date("start", " 2026-12-01 ").unwrap(), jiff::civil::date(2026, 12, 1));
        let e = parse_date("due date", "2026-13-01").unwrap_err().to_string();
        assert!(e.contains("due date") && e.contains("YYYY-MM-DD"), "{e}");
        for bad in ["", "2026-2-01", "12/01/2026", "2026-02-29", "99999-01-01", "+2026-01-01"] {
            assert!(parse_date("d", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parsers() {
        assert_eq!(currency("JPY").unwrap(), Currency::JPY);
        assert_eq!(currency("USD").unwrap(), Currency::USD);
        assert!(currency("usd").is_err());
        let c = parse_tax_component("State tax:6.25").unwrap();
        assert_eq!((c.name.as_str(), c.rate_bp), ("State tax", 625));
        assert_eq!(parse_tax_component("County: 1.5%").unwrap().rate_bp, 150);
        assert!(parse_tax_component("x:101").is_err());
        assert!(parse_tax_component("x").is_err());
        assert!(parse_tax_component(":5").is_err());
        assert!(parse_date("d", "2026-02-30").is_err());
        for k in [HoldKind::Suspension, HoldKind::Vacation, HoldKind::Seasonal] {
            assert_eq!(parse_hold_kind(hold_kind_name(k)), Some(k));
        }
        for r in [RoundingMode::HalfEven, RoundingMode::HalfUp, RoundingMode::TowardZero, RoundingMode::AwayFromZero] {
            assert_eq!(parse_rounding(rounding_name(r)), Some(r));
        }
    }
}
