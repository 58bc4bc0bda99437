//! The bulk loading of an invoice run's inputs: a handful of queries for
//! every customer due on a date, never one per customer.
//!
//! Unlike the other stores, a row that does not decode here (a bad date, an
//! unknown kind) does not fail the whole load: it fails only its customer
//! (reported in the run's errors) or, for the catalog, is left out and named,
//! so one bad row stops nobody else's invoice. Kind columns are therefore
//! read as text and decoded with the enums' `from_text`.

use super::catalog::{Catalog, Plan, TaxClass, TaxComponent};
use super::charges::{ChargeKind, DiscountScope};
use super::common::{currency, fmt_date};
use super::invoice::{Discount, DiscountValue, InvoiceInput, OneTimeCharge};
use super::money::{Currency, Money};
use super::period::{BillingDay, DateRange, iso_date, period_starting};
use super::plans::{Cycle, Rounding, component_rows};
use super::proration::{Hold, PlanChange, Subscription};
use super::subscriptions::HoldKind;
use crate::db::{Db, StoreError};
use jiff::civil::Date;
use std::collections::{BTreeSet, HashMap};

/// A customer whose billing day is the run date's day, with the input of
/// their invoice for the period, or why it could not be built (bad data).
#[derive(Debug, Clone)]
pub(crate) struct DueCustomer {
    pub customer_id: i64,
    pub payment_reference: String,
    pub input: Result<InvoiceInput, String>,
}

/// Everything an invoice run on one date needs, loaded in bulk.
#[derive(Debug, Clone)]
pub(crate) struct RunInputs {
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

fn id_u64(v: i64) -> u64 {
    // Ids come from AUTOINCREMENT/BIGSERIAL: positive.
    v.max(0) as u64
}

#[derive(sqlx::FromRow)]
struct ClassRow {
    id: i64,
    name: String,
    rounding: String,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    id: i64,
    name: String,
    price_minor: i64,
    currency: String,
    down_kbps: i64,
    up_kbps: i64,
    cycle: String,
    tax_class_id: i64,
}

/// The catalog: every plan and tax class (inactive plans included: they
/// still bill their subscriptions). Invalid rows are left out and named.
pub(crate) async fn load_catalog(db: &Db) -> Result<(Catalog, Vec<String>), StoreError> {
    let mut skipped = Vec::new();
    let mut classes: Vec<TaxClass> = Vec::new();
    let mut bad_classes: Vec<u64> = Vec::new();
    let rows: Vec<ClassRow> =
        sqlx::query_as("SELECT id, name, rounding FROM tax_classes ORDER BY id").fetch_all(&db.pool).await?;
    for r in rows {
        match Rounding::from_text(&r.rounding) {
            Some(rounding) => classes.push(TaxClass {
                id: id_u64(r.id),
                name: r.name,
                components: Vec::new(),
                rounding: rounding.into(),
            }),
            None => skipped.push(format!("tax class {}: rounding {:?}", r.id, r.rounding)),
        }
    }
    for c in component_rows(db).await? {
        let id = id_u64(c.tax_class_id);
        match (classes.iter_mut().find(|k| k.id == id), u32::try_from(c.rate_bp)) {
            (Some(k), Ok(rate_bp)) if rate_bp <= 10_000 => k.components.push(TaxComponent { name: c.name, rate_bp }),
            _ => {
                skipped.push(format!("tax class {}: rate {}", c.tax_class_id, c.rate_bp));
                bad_classes.push(id);
            }
        }
    }
    // A class with a bad rate is left out: its lines fail as "unknown tax class".
    classes.retain(|c| !bad_classes.contains(&c.id));
    let mut plans = Vec::new();
    let rows: Vec<PlanRow> =
        sqlx::query_as("SELECT id, name, price_minor, currency, down_kbps, up_kbps, cycle, tax_class_id FROM plans")
            .fetch_all(&db.pool)
            .await?;
    for r in rows {
        let ok = currency(&r.currency)
            .ok()
            .zip(u32::try_from(r.down_kbps).ok())
            .zip(u32::try_from(r.up_kbps).ok())
            .zip(Cycle::from_text(&r.cycle));
        match ok {
            Some((((cur, down_kbps), up_kbps), cycle))
                if r.price_minor >= 0 && classes.iter().any(|c| c.id == id_u64(r.tax_class_id)) =>
            {
                plans.push(Plan {
                    id: id_u64(r.id),
                    name: r.name,
                    price: Money::new(r.price_minor, cur),
                    down_kbps,
                    up_kbps,
                    cycle: cycle.into(),
                    tax_class: id_u64(r.tax_class_id),
                })
            }
            _ => skipped.push(format!("plan {}", r.id)),
        }
    }
    let catalog = Catalog::new(plans, classes).map_err(|e| StoreError::Corrupt(format!("the stored catalog: {e}")))?;
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

#[derive(sqlx::FromRow)]
struct AccountRow {
    customer_id: i64,
    tax_exempt: i64,
    currency: String,
    payment_reference: String,
}

#[derive(sqlx::FromRow)]
struct SubRow {
    id: i64,
    customer_id: i64,
    plan_id: i64,
    start_date: String,
    end_date: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    subscription_id: i64,
    on_date: String,
    plan_id: i64,
}

#[derive(sqlx::FromRow)]
struct HoldRow {
    id: i64,
    customer_id: i64,
    subscription_id: Option<i64>,
    start_date: String,
    end_date: Option<String>,
    kind: String,
}

#[derive(sqlx::FromRow)]
struct ChargeRow {
    id: i64,
    customer_id: i64,
    charge_date: String,
    kind: String,
    description: String,
    amount_minor: i64,
    currency: String,
    tax_class_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DiscountRow {
    id: i64,
    customer_id: i64,
    description: String,
    target: String,
    target_id: Option<i64>,
    percent_bp: Option<i64>,
    amount_minor: Option<i64>,
    currency: Option<String>,
}

/// Loads the inputs of the invoice run on `date`: the customers whose
/// billing day is `date`'s day, and for them, in one query per table, the
/// subscriptions, plan changes and holds overlapping the period starting on
/// `date`, the uninvoiced charges dated before its end, the discounts active
/// on its start, their ledger balance (credit is applied) and whether they
/// were already invoiced for it.
pub(crate) async fn load_run_inputs(db: &Db, date: Date) -> Result<RunInputs, StoreError> {
    let Ok(day) = BillingDay::new(date.day().unsigned_abs()) else {
        let (catalog, skipped) = load_catalog(db).await?;
        return Ok(RunInputs { period: None, catalog, due: Vec::new(), issued: BTreeSet::new(), skipped });
    };
    let period =
        period_starting(day, date.year(), date.month()).map_err(|e| StoreError::invalid("date", e.to_string()))?;
    load_inputs(db, Scope::BillingDay(day), period).await
}

/// Whose inputs to load.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    /// Every account with this billing day (a run).
    BillingDay(BillingDay),
    /// One customer (a bridge invoice).
    Customer(i64),
}

impl Scope {
    /// The condition on `billing_accounts a` (its value is `$1`).
    fn cond(self) -> (&'static str, i64) {
        match self {
            Scope::BillingDay(d) => ("a.billing_day = $1", i64::from(d.get())),
            Scope::Customer(id) => ("a.customer_id = $1", id),
        }
    }
}

/// The inputs of the accounts in `scope` for `period` (see
/// [`load_run_inputs`]). `issued` holds the customers already invoiced for
/// a period starting on `period`'s start, and those whose runs start later
/// (a billing-day change billed those days on a bridge invoice).
pub(crate) async fn load_inputs(db: &Db, scope: Scope, period: DateRange) -> Result<RunInputs, StoreError> {
    let (catalog, skipped) = load_catalog(db).await?;
    let (who, bd) = scope.cond();
    let (ps, pe) = (fmt_date(period.start()), fmt_date(period.end()));

    let mut due: Vec<Partial> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    let accounts: Vec<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.customer_id, a.tax_exempt, a.currency, a.payment_reference FROM billing_accounts a WHERE {who} \
         ORDER BY a.customer_id"
    )))
    .bind(bd)
    .fetch_all(&db.pool)
    .await?;
    for a in accounts {
        let mut p = Partial {
            customer_id: a.customer_id,
            payment_reference: a.payment_reference,
            currency: currency(&a.currency).ok(),
            tax_exempt: a.tax_exempt != 0,
            subs: Vec::new(),
            charges: Vec::new(),
            discounts: Vec::new(),
            balance: 0,
            error: None,
        };
        if p.currency.is_none() {
            p.fail(format!("account currency {:?} is invalid", a.currency));
        }
        index.insert(a.customer_id, due.len());
        due.push(p);
    }

    // Subscriptions overlapping the period.
    let mut subs: HashMap<i64, (usize, usize)> = HashMap::new();
    let rows: Vec<SubRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT s.id, s.customer_id, s.plan_id, s.start_date, s.end_date FROM subscriptions s \
         JOIN billing_accounts a ON a.customer_id = s.customer_id \
         WHERE {who} AND s.start_date < $3 AND (s.end_date IS NULL OR s.end_date > $2) ORDER BY s.id"
    )))
    .bind(bd)
    .bind(&ps)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let Some(&ci) = index.get(&r.customer_id) else { continue };
        let p = &mut due[ci];
        let start = iso_date::parse(&r.start_date);
        let end = r.end_date.as_deref().map(iso_date::parse);
        match (start, end) {
            (Some(start), None) | (Some(start), Some(Some(_))) => {
                subs.insert(r.id, (ci, p.subs.len()));
                p.subs.push(Subscription {
                    id: id_u64(r.id),
                    plan: id_u64(r.plan_id),
                    start,
                    end: end.flatten(),
                    changes: Vec::new(),
                    holds: Vec::new(),
                });
            }
            _ => p.fail(format!("subscription {} has an invalid date", r.id)),
        }
    }

    let rows: Vec<ChangeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT c.id, c.subscription_id, c.on_date, c.plan_id FROM plan_changes c \
         JOIN subscriptions s ON s.id = c.subscription_id JOIN billing_accounts a ON a.customer_id = s.customer_id \
         WHERE {who} AND c.on_date < $3 AND s.start_date < $3 AND (s.end_date IS NULL OR s.end_date > $2) \
         ORDER BY c.id"
    )))
    .bind(bd)
    .bind(&ps)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let Some(&(ci, si)) = subs.get(&r.subscription_id) else { continue };
        let p = &mut due[ci];
        match iso_date::parse(&r.on_date) {
            Some(on) => p.subs[si].changes.push(PlanChange { on, plan: id_u64(r.plan_id) }),
            None => p.fail(format!("plan change {} has an invalid date", r.id)),
        }
    }

    let rows: Vec<HoldRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT h.id, h.customer_id, h.subscription_id, h.start_date, h.end_date, h.kind FROM holds h \
         JOIN billing_accounts a ON a.customer_id = h.customer_id \
         WHERE {who} AND h.start_date < $3 AND (h.end_date IS NULL OR h.end_date > $2) ORDER BY h.id"
    )))
    .bind(bd)
    .bind(&ps)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let Some(&ci) = index.get(&r.customer_id) else { continue };
        let p = &mut due[ci];
        let end = r.end_date.as_deref().map(iso_date::parse);
        let (Some(start), Some(kind), false) =
            (iso_date::parse(&r.start_date), HoldKind::from_text(&r.kind), matches!(end, Some(None)))
        else {
            p.fail(format!("hold {} is invalid", r.id));
            continue;
        };
        let hold = Hold { start, end: end.flatten(), kind: kind.into() };
        match r.subscription_id {
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

    let rows: Vec<ChargeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT ch.id, ch.customer_id, ch.charge_date, ch.kind, ch.description, ch.amount_minor, ch.currency, \
         ch.tax_class_id FROM charges ch JOIN billing_accounts a ON a.customer_id = ch.customer_id \
         WHERE {who} AND ch.invoice_id IS NULL AND ch.charge_date < $2 ORDER BY ch.id"
    )))
    .bind(bd)
    .bind(&pe)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let Some(&ci) = index.get(&r.customer_id) else { continue };
        let p = &mut due[ci];
        match (iso_date::parse(&r.charge_date), ChargeKind::from_text(&r.kind), currency(&r.currency)) {
            (Some(date), Some(kind), Ok(cur)) => p.charges.push(OneTimeCharge {
                id: id_u64(r.id),
                date,
                kind: kind.into(),
                description: r.description,
                amount: Money::new(r.amount_minor, cur),
                tax_class: r.tax_class_id.map(id_u64),
            }),
            _ => p.fail(format!("charge {} is invalid", r.id)),
        }
    }

    let rows: Vec<DiscountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT d.id, d.customer_id, d.description, d.target, d.target_id, d.percent_bp, d.amount_minor, d.currency \
         FROM discounts d JOIN billing_accounts a ON a.customer_id = d.customer_id \
         WHERE {who} AND d.start_date <= $2 AND (d.end_date IS NULL OR d.end_date > $2) ORDER BY d.id"
    )))
    .bind(bd)
    .bind(&ps)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let Some(&ci) = index.get(&r.customer_id) else { continue };
        let target = DiscountScope::from_text(&r.target).and_then(|s| s.target(r.target_id.map(id_u64)));
        let value = match (r.percent_bp, r.amount_minor, r.currency.as_deref().map(currency)) {
            (Some(bp), None, _) => u32::try_from(bp).ok().map(DiscountValue::PercentBp),
            (None, Some(m), Some(Ok(cur))) => Some(DiscountValue::Fixed(Money::new(m, cur))),
            _ => None,
        };
        let p = &mut due[ci];
        match (target, value) {
            (Some(target), Some(value)) => {
                p.discounts.push(Discount { id: id_u64(r.id), description: r.description, target, value })
            }
            _ => p.fail(format!("discount {} is invalid", r.id)),
        }
    }

    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT l.customer_id, CAST(SUM(l.amount_minor) AS BIGINT) FROM ledger l \
         JOIN billing_accounts a ON a.customer_id = l.customer_id AND a.currency = l.currency \
         WHERE {who} GROUP BY l.customer_id"
    )))
    .bind(bd)
    .fetch_all(&db.pool)
    .await?;
    for (customer, sum) in rows {
        if let Some(&ci) = index.get(&customer) {
            due[ci].balance = sum.unwrap_or(0);
        }
    }

    let invoiced: Vec<i64> = sqlx::query_scalar(
        "SELECT customer_id FROM invoices WHERE period_start = $1 \
         UNION SELECT customer_id FROM billing_accounts WHERE bill_from > $1",
    )
    .bind(&ps)
    .fetch_all(&db.pool)
    .await?;
    let issued = invoiced.into_iter().filter(|id| index.contains_key(id)).collect();

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
