//! Subscriptions, their plan changes and holds (days not billed). Owns
//! `subscriptions`, `plan_changes`, `holds`.

use super::accounts::require_account;
use super::charges::{ChargeInput, ChargeKind, add_charge};
use super::common::{AmountLimits, currency, customer_exists, fmt_date, stored_date};
use super::money::Money;
use super::plans::sellable_plan;
use super::proration::HoldKind as CoreHoldKind;
use crate::db::{Db, StoreError, now_ms};
use jiff::civil::Date;
use serde::Serialize;

crate::text_enum! {
    /// Why service is not billed for a while (`holds.kind`), the stored form
    /// of the core's [`HoldKind`](super::proration::HoldKind).
    pub enum HoldKind (field "kind") {
        Suspension = "suspension",
        Vacation = "vacation",
        Seasonal = "seasonal",
    }
}

impl From<HoldKind> for CoreHoldKind {
    fn from(k: HoldKind) -> CoreHoldKind {
        match k {
            HoldKind::Suspension => CoreHoldKind::Suspension,
            HoldKind::Vacation => CoreHoldKind::Vacation,
            HoldKind::Seasonal => CoreHoldKind::Seasonal,
        }
    }
}

impl From<CoreHoldKind> for HoldKind {
    fn from(k: CoreHoldKind) -> HoldKind {
        match k {
            CoreHoldKind::Suspension => HoldKind::Suspension,
            CoreHoldKind::Vacation => HoldKind::Vacation,
            CoreHoldKind::Seasonal => HoldKind::Seasonal,
        }
    }
}

/// Subscribes a customer (who needs a billing account) to a plan sold in
/// the account's currency, billed from `start`.
/// Subscribes a customer from `start`; a plan with a setup fee adds it as
/// a one-time charge dated `start` (billed on the next invoice).
pub async fn subscribe(db: &Db, customer_id: i64, plan_id: i64, start: Date) -> Result<i64, StoreError> {
    let acc = require_account(db, customer_id).await?;
    let plan = sellable_plan(db, "plan", plan_id, &acc.currency).await?;
    let id = sqlx::query_scalar(
        "INSERT INTO subscriptions (customer_id, plan_id, start_date, end_date, created_ms) \
         VALUES ($1, $2, $3, NULL, $4) RETURNING id",
    )
    .bind(customer_id)
    .bind(plan_id)
    .bind(fmt_date(start))
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    if plan.setup_fee_minor > 0 {
        let fee = ChargeInput {
            customer_id,
            date: start,
            kind: ChargeKind::Installation,
            description: format!("Setup fee: {}", plan.name),
            amount: Money::new(plan.setup_fee_minor, currency(&plan.currency)?),
            tax_class_id: Some(plan.tax_class_id),
        };
        add_charge(db, &fee, &AmountLimits::RECEIVED).await?;
    }
    Ok(id)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: i64,
    pub customer_id: i64,
    pub plan_id: i64,
    pub plan: String,
    pub start_date: String,
    pub end_date: Option<String>,
}

pub async fn subscription(db: &Db, id: i64) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.customer_id, s.plan_id, p.name AS plan, s.start_date, s.end_date FROM subscriptions s \
         JOIN plans p ON p.id = s.plan_id WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?)
}

/// The subscription with its dates; an unknown id is a [`StoreError::NotFound`].
pub(crate) async fn require_subscription(
    db: &Db,
    id: i64,
) -> Result<(SubscriptionRow, Date, Option<Date>), StoreError> {
    let s = subscription(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("subscription {id}")))?;
    let start = stored_date("subscription start", &s.start_date)?;
    let end = s.end_date.as_deref().map(|e| stored_date("subscription end", e)).transpose()?;
    Ok((s, start, end))
}

/// From `on` the subscription is billed on `plan_id` (the old plan up to the
/// day before).
pub async fn change_plan(db: &Db, subscription_id: i64, plan_id: i64, on: Date) -> Result<i64, StoreError> {
    let (s, start, end) = require_subscription(db, subscription_id).await?;
    if on <= start || end.is_some_and(|e| on >= e) {
        return Err(StoreError::invalid("on", "must be after the subscription's start and before its end"));
    }
    let acc = require_account(db, s.customer_id).await?;
    sellable_plan(db, "plan", plan_id, &acc.currency).await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO plan_changes (subscription_id, on_date, plan_id, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(subscription_id)
    .bind(fmt_date(on))
    .bind(plan_id)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?)
}

/// One run of days on one plan in a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewPart {
    pub plan: String,
    pub days: u32,
    pub period_days: u32,
    /// `27.10 USD`.
    pub amount: String,
}

/// What a plan change does to the billing period it falls in, from the
/// pure core's proration: that period's recurring charge without the change
/// and with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangePreview {
    /// `1 Dec 2026 – 31 Dec 2026`.
    pub period: String,
    /// That period is invoiced already (billing in advance): the change
    /// shows from the next invoice, the issued one is not rebilled.
    pub invoiced: bool,
    pub before: Vec<PreviewPart>,
    pub after: Vec<PreviewPart>,
    pub before_total: String,
    pub after_total: String,
}

/// Previews [`change_plan`] (same checks, nothing written).
pub async fn preview_change(
    db: &Db,
    subscription_id: i64,
    plan_id: i64,
    on: Date,
) -> Result<ChangePreview, StoreError> {
    use super::period::{BillingDay, period_containing};
    use super::proration::{Hold, PlanChange, ProratedPart, Subscription, prorate};
    let (s, start, end) = require_subscription(db, subscription_id).await?;
    if on <= start || end.is_some_and(|e| on >= e) {
        return Err(StoreError::invalid("on", "must be after the subscription's start and before its end"));
    }
    let acc = require_account(db, s.customer_id).await?;
    sellable_plan(db, "plan", plan_id, &acc.currency).await?;
    let corrupt = |e: super::BillingError| StoreError::Corrupt(e.to_string());
    let day = BillingDay::new(u8::try_from(acc.billing_day).unwrap_or(0)).map_err(corrupt)?;
    let period = period_containing(day, on).map_err(corrupt)?;
    let (catalog, _) = super::inputs::load_catalog(db).await?;
    let id = |v: i64| u64::try_from(v).unwrap_or_default();
    let mut sub =
        Subscription { id: id(s.id), plan: id(s.plan_id), start, end, changes: Vec::new(), holds: Vec::new() };
    let changes: Vec<(String, i64)> =
        sqlx::query_as("SELECT on_date, plan_id FROM plan_changes WHERE subscription_id = $1 ORDER BY id")
            .bind(subscription_id)
            .fetch_all(&db.pool)
            .await?;
    for (d, p) in changes {
        sub.changes.push(PlanChange { on: stored_date("plan change", &d)?, plan: id(p) });
    }
    let holds: Vec<(String, Option<String>, HoldKind)> = sqlx::query_as(
        "SELECT start_date, end_date, kind FROM holds WHERE customer_id = $1 \
         AND (subscription_id IS NULL OR subscription_id = $2) ORDER BY id",
    )
    .bind(s.customer_id)
    .bind(subscription_id)
    .fetch_all(&db.pool)
    .await?;
    for (a, b, kind) in holds {
        let end = b.as_deref().map(|b| stored_date("hold end", b)).transpose()?;
        sub.holds.push(Hold { start: stored_date("hold start", &a)?, end, kind: kind.into() });
    }
    let cur = currency(&acc.currency)?;
    let show = |parts: &[ProratedPart]| -> Result<(Vec<PreviewPart>, String), StoreError> {
        let mut out = Vec::new();
        for p in parts {
            let plan = catalog.plan(p.plan).map(|x| x.name.clone()).unwrap_or_else(|_| format!("plan {}", p.plan));
            out.push(PreviewPart {
                plan,
                days: p.range.days(),
                period_days: p.period_days,
                amount: p.amount.to_string(),
            });
        }
        let total = Money::sum(cur, parts.iter().map(|p| p.amount)).map_err(corrupt)?;
        Ok((out, total.to_string()))
    };
    let mut parts = Vec::new();
    prorate(&sub, &catalog, period, &mut parts).map_err(corrupt)?;
    let (before, before_total) = show(&parts)?;
    sub.changes.push(PlanChange { on, plan: id(plan_id) });
    parts.clear();
    prorate(&sub, &catalog, period, &mut parts).map_err(corrupt)?;
    let (after, after_total) = show(&parts)?;
    let invoiced: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM invoices WHERE customer_id = $1 AND period_start = $2",
    )
    .bind(s.customer_id)
    .bind(fmt_date(period.start()))
    .fetch_one(&db.pool)
    .await?;
    Ok(ChangePreview { period: period.label(), invoiced: invoiced > 0, before, after, before_total, after_total })
}

/// A customer's plan changes: (subscription, first day on the new plan,
/// the new plan's name), in date order.
pub async fn customer_plan_changes(db: &Db, customer_id: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.subscription_id, c.on_date, p.name FROM plan_changes c JOIN subscriptions s ON s.id = c.subscription_id \
         JOIN plans p ON p.id = c.plan_id WHERE s.customer_id = $1 ORDER BY c.on_date, c.id",
    )
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await?)
}

/// A customer's subscriptions, oldest first.
pub async fn customer_subscriptions(db: &Db, customer_id: i64) -> Result<Vec<SubscriptionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.customer_id, s.plan_id, p.name AS plan, s.start_date, s.end_date FROM subscriptions s \
         JOIN plans p ON p.id = s.plan_id WHERE s.customer_id = $1 ORDER BY s.id",
    )
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await?)
}

/// Cancels a subscription: `end` is the first day no longer billed.
pub async fn cancel(db: &Db, subscription_id: i64, end: Date) -> Result<(), StoreError> {
    let (_, start, _) = require_subscription(db, subscription_id).await?;
    if end <= start {
        return Err(StoreError::invalid("on", "must be after the subscription's start"));
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
        return Err(StoreError::invalid("to", "must be after from"));
    }
    if let Some(sid) = h.subscription_id {
        let (s, _, _) = require_subscription(db, sid).await?;
        if s.customer_id != h.customer_id {
            return Err(StoreError::invalid("subscription", format!("{sid} is not customer {}'s", h.customer_id)));
        }
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO holds (customer_id, subscription_id, start_date, end_date, kind, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(h.customer_id)
    .bind(h.subscription_id)
    .bind(fmt_date(h.start))
    .bind(h.end.map(fmt_date))
    .bind(h.kind)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?)
}

/// Ends an open hold: `end` is the first day billed again.
pub async fn end_hold(db: &Db, hold_id: i64, end: Date) -> Result<(), StoreError> {
    let start: Option<String> =
        sqlx::query_scalar("SELECT start_date FROM holds WHERE id = $1").bind(hold_id).fetch_optional(&db.pool).await?;
    let start = start.ok_or_else(|| StoreError::NotFound(format!("hold {hold_id}")))?;
    if end <= stored_date("hold start", &start)? {
        return Err(StoreError::invalid("to", "must be after the hold's start"));
    }
    sqlx::query("UPDATE holds SET end_date = $1 WHERE id = $2")
        .bind(fmt_date(end))
        .bind(hold_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}
