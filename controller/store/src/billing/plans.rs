//! The catalog: tax classes (stacked components, a rounding rule) and the
//! plans sold. Owns `tax_classes`, `tax_components`, `plans`.
//!
//! A plan someone subscribed to is never deleted (its invoices and history
//! name it): it is archived, which stops it being sold. A tax class in use
//! by a plan or a charge is never deleted either.

use super::catalog::{BillingCycle, TaxComponent};
use super::common::{check_name, currency};
use super::money::{Currency, Money, RoundingMode};
use crate::db::{Db, StoreError, Tx, now_ms};
use serde::Serialize;
use std::collections::HashMap;

crate::text_enum! {
    /// How a tax class rounds (`tax_classes.rounding`), the stored form of
    /// the core's [`RoundingMode`].
    pub enum Rounding (field "rounding") {
        HalfEven = "half-even",
        HalfUp = "half-up",
        TowardZero = "toward-zero",
        AwayFromZero = "away-from-zero",
    }
}

impl From<Rounding> for RoundingMode {
    fn from(r: Rounding) -> RoundingMode {
        match r {
            Rounding::HalfEven => RoundingMode::HalfEven,
            Rounding::HalfUp => RoundingMode::HalfUp,
            Rounding::TowardZero => RoundingMode::TowardZero,
            Rounding::AwayFromZero => RoundingMode::AwayFromZero,
        }
    }
}

impl From<RoundingMode> for Rounding {
    fn from(r: RoundingMode) -> Rounding {
        match r {
            RoundingMode::HalfEven => Rounding::HalfEven,
            RoundingMode::HalfUp => Rounding::HalfUp,
            RoundingMode::TowardZero => Rounding::TowardZero,
            RoundingMode::AwayFromZero => Rounding::AwayFromZero,
        }
    }
}

crate::text_enum! {
    /// How often a plan bills (`plans.cycle`), the stored form of the
    /// core's [`BillingCycle`].
    pub enum Cycle (field "cycle") {
        Monthly = "monthly",
    }
}

impl From<Cycle> for BillingCycle {
    fn from(c: Cycle) -> BillingCycle {
        match c {
            Cycle::Monthly => BillingCycle::Monthly,
        }
    }
}

/// The most components a tax class may stack.
const MAX_COMPONENTS: usize = 8;

#[derive(Debug, Clone, Serialize)]
pub struct TaxClassRow {
    pub id: i64,
    pub name: String,
    pub rounding: Rounding,
    pub components: Vec<TaxComponent>,
}

/// Adds a tax class; `components` are (name, rate in basis points). A name
/// in use is a [`StoreError::Conflict`].
pub async fn add_tax_class(
    db: &Db,
    name: &str,
    components: &[TaxComponent],
    rounding: RoundingMode,
) -> Result<i64, StoreError> {
    let name = check_name("name", name, 100)?;
    check_components(components)?;
    if tax_class_by_name(db, &name).await?.is_some() {
        return Err(StoreError::Conflict(format!("a tax class {name:?} exists")));
    }
    let mut tx = db.begin().await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO tax_classes (name, rounding, created_ms) VALUES ($1, $2, $3) RETURNING id")
            .bind(&name)
            .bind(Rounding::from(rounding))
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
    insert_components(&mut tx, id, components).await?;
    tx.commit().await?;
    Ok(id)
}

fn check_components(components: &[TaxComponent]) -> Result<(), StoreError> {
    if components.len() > MAX_COMPONENTS {
        return Err(StoreError::invalid("components", format!("at most {MAX_COMPONENTS}")));
    }
    for c in components {
        check_name("components", &c.name, 100)?;
        if c.rate_bp > 10_000 {
            return Err(StoreError::invalid("components", format!("{} bp is above 100 %", c.rate_bp)));
        }
    }
    Ok(())
}

async fn insert_components(tx: &mut Tx<'_>, id: i64, components: &[TaxComponent]) -> Result<(), StoreError> {
    for (i, c) in components.iter().enumerate() {
        sqlx::query("INSERT INTO tax_components (tax_class_id, position, name, rate_bp) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(i as i64)
            .bind(c.name.trim())
            .bind(i64::from(c.rate_bp))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Parses `State tax:6.25` (a name and a percentage with up to 2 decimals).
pub fn parse_tax_component(s: &str) -> Result<TaxComponent, StoreError> {
    let bad = || StoreError::invalid("components", format!("{s:?} is not NAME:PERCENT (e.g. \"State tax:6.25\")"));
    let (name, pct) = s.rsplit_once(':').ok_or_else(bad)?;
    let m = Money::parse(pct.trim().trim_end_matches('%').trim(), Currency::USD).map_err(|_| bad())?;
    let rate_bp = u32::try_from(m.minor).map_err(|_| bad())?;
    if rate_bp > 10_000 {
        return Err(bad());
    }
    Ok(TaxComponent { name: check_name("components", name, 100)?, rate_bp })
}

/// A `tax_components` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ComponentRow {
    pub tax_class_id: i64,
    pub name: String,
    pub rate_bp: i64,
}

pub(crate) async fn component_rows(db: &Db) -> Result<Vec<ComponentRow>, StoreError> {
    Ok(sqlx::query_as("SELECT tax_class_id, name, rate_bp FROM tax_components ORDER BY tax_class_id, position")
        .fetch_all(&db.pool)
        .await?)
}

pub async fn tax_classes(db: &Db) -> Result<Vec<TaxClassRow>, StoreError> {
    let mut comps: HashMap<i64, Vec<TaxComponent>> = HashMap::new();
    for c in component_rows(db).await? {
        let rate_bp =
            u32::try_from(c.rate_bp).map_err(|_| StoreError::Corrupt(format!("stored tax rate {}", c.rate_bp)))?;
        comps.entry(c.tax_class_id).or_default().push(TaxComponent { name: c.name, rate_bp });
    }
    let rows: Vec<(i64, String, Rounding)> =
        sqlx::query_as("SELECT id, name, rounding FROM tax_classes ORDER BY id").fetch_all(&db.pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, rounding)| TaxClassRow {
            id,
            name,
            rounding,
            components: comps.remove(&id).unwrap_or_default(),
        })
        .collect())
}

pub async fn tax_class_by_name(db: &Db, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM tax_classes WHERE name = $1")
        .bind(name.trim())
        .fetch_optional(&db.pool)
        .await?)
}

async fn tax_class_exists(db: &Db, id: i64) -> Result<bool, StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM tax_classes WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
    Ok(found.is_some())
}

/// The tax class `id` exists (`field` names the input that chose it).
pub(crate) async fn require_tax_class(db: &Db, field: &str, id: i64) -> Result<(), StoreError> {
    if tax_class_exists(db, id).await? { Ok(()) } else { Err(StoreError::invalid(field, format!("no tax class {id}"))) }
}

/// The tax class named `name`, or by id if `name` is a number.
pub async fn find_tax_class(db: &Db, name_or_id: &str) -> Result<i64, StoreError> {
    if let Some(id) = tax_class_by_name(db, name_or_id).await? {
        return Ok(id);
    }
    if let Ok(id) = name_or_id.trim().parse::<i64>()
        && tax_class_exists(db, id).await?
    {
        return Ok(id);
    }
    Err(StoreError::NotFound(format!("tax class {name_or_id:?}")))
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
    /// Monthly data cap in GB; `None`: unlimited.
    pub data_cap_gb: Option<u32>,
    /// Charged once when a customer subscribes, in minor units of the
    /// plan's currency (zero: none).
    pub setup_fee_minor: i64,
}

impl NewPlan {
    /// A plan with no data cap and no setup fee.
    pub fn new(name: &str, price: Money, down_kbps: u32, up_kbps: u32, tax_class_id: i64) -> NewPlan {
        NewPlan { name: name.into(), price, down_kbps, up_kbps, tax_class_id, data_cap_gb: None, setup_fee_minor: 0 }
    }
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
    pub cycle: Cycle,
    pub tax_class_id: i64,
    pub tax_class: String,
    pub active: bool,
    pub subscriptions: i64,
    pub data_cap_gb: Option<i64>,
    pub setup_fee_minor: i64,
    /// `50.00 USD`, or empty when there is none.
    pub setup_fee: String,
}

/// A plan as stored, with its tax class's name and its subscription count.
#[derive(sqlx::FromRow)]
struct StoredPlan {
    id: i64,
    name: String,
    price_minor: i64,
    currency: String,
    down_kbps: i64,
    up_kbps: i64,
    cycle: Cycle,
    tax_class_id: i64,
    tax_class: String,
    active: i64,
    subscriptions: i64,
    data_cap_gb: Option<i64>,
    setup_fee_minor: i64,
}

impl From<StoredPlan> for PlanRow {
    fn from(p: StoredPlan) -> PlanRow {
        let show = |minor: i64| {
            currency(&p.currency).map(|c| Money::new(minor, c).to_string()).unwrap_or_else(|_| p.currency.clone())
        };
        let price = show(p.price_minor);
        let setup_fee = if p.setup_fee_minor > 0 { show(p.setup_fee_minor) } else { String::new() };
        PlanRow {
            id: p.id,
            name: p.name,
            price_minor: p.price_minor,
            currency: p.currency,
            price,
            down_kbps: p.down_kbps,
            up_kbps: p.up_kbps,
            cycle: p.cycle,
            tax_class_id: p.tax_class_id,
            tax_class: p.tax_class,
            active: p.active != 0,
            subscriptions: p.subscriptions,
            data_cap_gb: p.data_cap_gb,
            setup_fee_minor: p.setup_fee_minor,
            setup_fee,
        }
    }
}

/// Checks a plan's terms (what [`add_plan`] and [`edit_plan`] refuse before
/// the database, each naming its field).
fn check_plan(p: &NewPlan) -> Result<String, StoreError> {
    let name = check_name("name", &p.name, 100)?;
    if p.price.is_negative() {
        return Err(StoreError::invalid("price", "must not be negative"));
    }
    for (field, v) in [("down_kbps", p.down_kbps), ("up_kbps", p.up_kbps)] {
        if v == 0 || v > 100_000_000 {
            return Err(StoreError::invalid(field, "1-100,000,000 kbit/s"));
        }
    }
    if p.data_cap_gb.is_some_and(|c| c == 0 || c > 1_000_000) {
        return Err(StoreError::invalid("data_cap_gb", "1-1,000,000 GB, or empty for unlimited"));
    }
    if p.setup_fee_minor < 0 {
        return Err(StoreError::invalid("setup_fee", "must not be negative"));
    }
    Ok(name)
}

/// Adds a plan; a name in use is a [`StoreError::Conflict`].
pub async fn add_plan(db: &Db, p: &NewPlan) -> Result<PlanRow, StoreError> {
    let name = check_plan(p)?;
    require_tax_class(db, "tax_class", p.tax_class_id).await?;
    if plan_by_name(db, &name).await?.is_some() {
        return Err(StoreError::Conflict(format!("a plan {name:?} exists")));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO plans (name, price_minor, currency, down_kbps, up_kbps, cycle, tax_class_id, active, created_ms, \
         data_cap_gb, setup_fee_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10) RETURNING id",
    )
    .bind(&name)
    .bind(p.price.minor)
    .bind(p.price.currency.code())
    .bind(i64::from(p.down_kbps))
    .bind(i64::from(p.up_kbps))
    .bind(Cycle::Monthly)
    .bind(p.tax_class_id)
    .bind(now_ms())
    .bind(p.data_cap_gb.map(i64::from))
    .bind(p.setup_fee_minor)
    .fetch_one(&db.pool)
    .await?;
    plan(db, id).await?.ok_or_else(|| StoreError::Corrupt(format!("plan {id} vanished after insert")))
}

/// Changes a plan's terms. New prices apply from the next invoice; the
/// currency of a plan someone subscribed to cannot change.
pub async fn edit_plan(db: &Db, id: i64, p: &NewPlan) -> Result<PlanRow, StoreError> {
    let name = check_plan(p)?;
    let old = plan(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("plan {id}")))?;
    require_tax_class(db, "tax_class", p.tax_class_id).await?;
    if old.subscriptions > 0 && old.currency != p.price.currency.code() {
        return Err(StoreError::invalid("price", format!("customers pay this plan in {}", old.currency)));
    }
    if plan_by_name(db, &name).await?.is_some_and(|o| o.id != id) {
        return Err(StoreError::invalid("name", format!("another plan is called {name:?}")));
    }
    sqlx::query(
        "UPDATE plans SET name = $1, price_minor = $2, currency = $3, down_kbps = $4, up_kbps = $5, \
         tax_class_id = $6, data_cap_gb = $7, setup_fee_minor = $8 WHERE id = $9",
    )
    .bind(&name)
    .bind(p.price.minor)
    .bind(p.price.currency.code())
    .bind(i64::from(p.down_kbps))
    .bind(i64::from(p.up_kbps))
    .bind(p.tax_class_id)
    .bind(p.data_cap_gb.map(i64::from))
    .bind(p.setup_fee_minor)
    .bind(id)
    .execute(&db.pool)
    .await?;
    plan(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("plan {id}")))
}

/// Archives a plan (no longer sold; its subscriptions go on) or sells it again.
pub async fn set_plan_active(db: &Db, id: i64, active: bool) -> Result<(), StoreError> {
    let n = sqlx::query("UPDATE plans SET active = $1 WHERE id = $2")
        .bind(i64::from(active))
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("plan {id}")));
    }
    Ok(())
}

/// Deletes a plan nobody ever subscribed to; otherwise a
/// [`StoreError::Conflict`] saying to archive it.
pub async fn delete_plan(db: &Db, id: i64) -> Result<(), StoreError> {
    let p = plan(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("plan {id}")))?;
    if p.subscriptions > 0 {
        return Err(StoreError::Conflict(format!(
            "{} has {} subscription(s), past or present: archive it instead, so it is no longer sold",
            p.name, p.subscriptions
        )));
    }
    sqlx::query("DELETE FROM plans WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE plan_id = $1)")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Replaces a tax class's name, rounding and components (new invoices use
/// them; issued ones keep what they printed).
pub async fn edit_tax_class(
    db: &Db,
    id: i64,
    name: &str,
    components: &[TaxComponent],
    rounding: RoundingMode,
) -> Result<(), StoreError> {
    let name = check_name("name", name, 100)?;
    check_components(components)?;
    if !tax_class_exists(db, id).await? {
        return Err(StoreError::NotFound(format!("tax class {id}")));
    }
    if tax_class_by_name(db, &name).await?.is_some_and(|o| o != id) {
        return Err(StoreError::invalid("name", format!("another tax class is called {name:?}")));
    }
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE tax_classes SET name = $1, rounding = $2 WHERE id = $3")
        .bind(&name)
        .bind(Rounding::from(rounding))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM tax_components WHERE tax_class_id = $1").bind(id).execute(&mut *tx).await?;
    insert_components(&mut tx, id, components).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a tax class no plan or charge uses.
pub async fn delete_tax_class(db: &Db, id: i64) -> Result<(), StoreError> {
    if !tax_class_exists(db, id).await? {
        return Err(StoreError::NotFound(format!("tax class {id}")));
    }
    let used: i64 = sqlx::query_scalar(
        "SELECT CAST((SELECT COUNT(*) FROM plans WHERE tax_class_id = $1) + \
         (SELECT COUNT(*) FROM charges WHERE tax_class_id = $1) AS BIGINT)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await?;
    if used > 0 {
        return Err(StoreError::Conflict("plans or charges use this tax class".into()));
    }
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM tax_components WHERE tax_class_id = $1").bind(id).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM tax_classes WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

const PLAN_COLS: &str = "SELECT p.id, p.name, p.price_minor, p.currency, p.down_kbps, p.up_kbps, p.cycle, \
    p.tax_class_id, t.name AS tax_class, p.active, p.data_cap_gb, p.setup_fee_minor, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM subscriptions s WHERE s.plan_id = p.id) AS subscriptions \
    FROM plans p JOIN tax_classes t ON t.id = p.tax_class_id";

pub async fn plans(db: &Db) -> Result<Vec<PlanRow>, StoreError> {
    let sql = format!("{PLAN_COLS} ORDER BY p.price_minor, p.name");
    let rows: Vec<StoredPlan> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(PlanRow::from).collect())
}

pub async fn plan(db: &Db, id: i64) -> Result<Option<PlanRow>, StoreError> {
    let sql = format!("{PLAN_COLS} WHERE p.id = $1");
    let r: Option<StoredPlan> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    Ok(r.map(PlanRow::from))
}

pub async fn plan_by_name(db: &Db, name: &str) -> Result<Option<PlanRow>, StoreError> {
    let sql = format!("{PLAN_COLS} WHERE p.name = $1");
    let r: Option<StoredPlan> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name.trim()).fetch_optional(&db.pool).await?;
    Ok(r.map(PlanRow::from))
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
    Err(StoreError::NotFound(format!("plan {name_or_id:?}")))
}

/// A plan that can be sold to an account billing in `account_currency`
/// (`field` names the input that chose it).
pub(crate) async fn sellable_plan(
    db: &Db,
    field: &str,
    plan_id: i64,
    account_currency: &str,
) -> Result<PlanRow, StoreError> {
    let p = plan(db, plan_id).await?.ok_or_else(|| StoreError::NotFound(format!("plan {plan_id}")))?;
    if !p.active {
        return Err(StoreError::invalid(field, format!("{} is no longer sold", p.name)));
    }
    if p.currency != account_currency {
        return Err(StoreError::invalid(
            field,
            format!("{} is priced in {}, the account bills in {account_currency}", p.name, p.currency),
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_and_enums() {
        let c = parse_tax_component("State tax:6.25").unwrap();
        assert_eq!((c.name.as_str(), c.rate_bp), ("State tax", 625));
        assert_eq!(parse_tax_component("County: 1.5%").unwrap().rate_bp, 150);
        for bad in ["x:101", "x", ":5"] {
            assert_eq!(parse_tax_component(bad).unwrap_err().field(), Some("components"), "{bad}");
        }
        for &r in Rounding::ALL {
            assert_eq!(Rounding::from(RoundingMode::from(r)), r);
        }
        assert_eq!(Rounding::parse("half-up").unwrap(), Rounding::HalfUp);
        assert_eq!(Rounding::parse("up").unwrap_err().field(), Some("rounding"));
        assert_eq!(BillingCycle::from(Cycle::parse("monthly").unwrap()), BillingCycle::Monthly);
    }
}
