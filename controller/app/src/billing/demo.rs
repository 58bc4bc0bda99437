//! `mast-controller demo-data`: realistic demo customers (sites, CPEs,
//! billing accounts, subscriptions with plan changes, holds, cancellations,
//! charges, discounts, opening balances and payments), loaded in bulk in one
//! transaction and deterministic for a seed and an as-of date.

use super::catalog::TaxComponent;
use super::invoice::ChargeKind;
use super::money::{Currency, Money, RoundingMode};
use super::period::{add_days, iso_date};
use super::run::multi_values;
use super::store::{self, NewPlan};
use crate::db::{Backend, Db, StoreError, now_ms};
use jiff::civil::Date;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use std::time::Instant;

/// Demo customers' email domain (how existing demo data is recognised).
pub const DEMO_DOMAIN: &str = "demo.mast.example";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub customers: u32,
    pub seed: u64,
    /// "Today" for the data: subscriptions started up to 2 years before it.
    pub as_of: Date,
    /// Put every account on this billing day (benchmarks, tests); default spread over 1..=28.
    pub billing_day: Option<u8>,
    /// Load even if demo customers exist (adds more).
    pub force: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoSummary {
    pub customers: u64,
    pub sites: u64,
    pub plans: u64,
    pub subscriptions: u64,
    pub plan_changes: u64,
    pub holds: u64,
    pub cancelled: u64,
    pub charges: u64,
    pub discounts: u64,
    pub late_payers: u64,
    pub payments: u64,
    pub elapsed_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo data already exists ({0} demo customers); use --force to add more")]
    Exists(i64),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] StoreError),
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Billing(#[from] super::BillingError),
}

const PLANS: [(&str, i64, u32, u32, u32); 5] = [
    // name, price (cents), down, up (kbit/s), weight %
    ("Lite", 3500, 10_000, 2_000, 10),
    ("Home", 4500, 25_000, 5_000, 40),
    ("Home Plus", 6500, 50_000, 10_000, 25),
    ("Pro", 9500, 100_000, 20_000, 18),
    ("Business", 14900, 200_000, 50_000, 7),
];

/// The demo's towers (sites): name, latitude, longitude. `mast-controller
/// demo` runs its simulated radios on them.
pub const SITES: [(&str, f64, f64); 6] = [
    ("demo-north-ridge", 44.512, -89.574),
    ("demo-cedar-hill", 44.431, -89.701),
    ("demo-lake-road", 44.389, -89.492),
    ("demo-grain-elevator", 44.602, -89.655),
    ("demo-water-tower", 44.475, -89.412),
    ("demo-quarry", 44.338, -89.622),
];

const FIRST: &str = "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard \
    Susan Joseph Jessica Thomas Karen Carlos Sarah Daniel Lisa Matthew Nancy Anthony Sandra Mark Ashley \
    Steven Emily Paul Donna Andrew Michelle Joshua Carol Kevin Amanda Brian Melissa";

const LAST: &str = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez \
    Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark \
    Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores";

const STREETS: &str = "County Road K, Oak St, Maple Ave, Pine Ln, Elm St, Lakeview Dr, Mill Rd, Church St, Prairie Ln, \
    Birch Ct, Hillcrest Rd, River Rd, Orchard Way, Cedar St, Fox Run, Township Line Rd";

const TOWNS: [&str; 6] = ["Plover", "Amherst", "Almond", "Rosholt", "Custer", "Bancroft"];

/// A bindable value for the bulk inserts.
enum V {
    I(i64),
    NI(Option<i64>),
    S(String),
    NS(Option<String>),
    F(f64),
}

/// Inserts `rows` (each `cols` values) with multi-row statements; returns
/// the rows `tail` (a RETURNING clause) produced.
async fn insert_rows(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    head: &str,
    cols: usize,
    rows: &[Vec<V>],
    tail: &str,
) -> Result<Vec<sqlx::any::AnyRow>, DemoError> {
    let per = (2_000 / cols).max(1);
    let template = vec!["?"; cols];
    let mut out = Vec::new();
    for chunk in rows.chunks(per) {
        let sql = multi_values(backend, head, &template, chunk.len(), tail);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    V::I(x) => q.bind(*x),
                    V::NI(x) => q.bind(*x),
                    V::S(x) => q.bind(x.as_str()),
                    V::NS(x) => q.bind(x.as_deref()),
                    V::F(x) => q.bind(*x),
                };
            }
        }
        if tail.is_empty() {
            q.execute(&mut **tx).await?;
        } else {
            out.extend(q.fetch_all(&mut **tx).await?);
        }
    }
    Ok(out)
}

fn d(x: Date) -> String {
    iso_date::format(x)
}

async fn tax_class(db: &Db, name: &str, comps: &[(&str, u32)], rounding: RoundingMode) -> Result<i64, DemoError> {
    if let Some(id) = store::tax_class_by_name(db, name).await? {
        return Ok(id);
    }
    let comps: Vec<TaxComponent> = comps.iter().map(|(n, r)| TaxComponent { name: (*n).into(), rate_bp: *r }).collect();
    Ok(store::add_tax_class(db, name, &comps, rounding).await?)
}

/// What one demo customer gets (decided before any id exists).
struct Gen {
    email: String,
    billing_day: i64,
    tax_exempt: bool,
    autopay: bool,
    plan: usize,
    start: Date,
    end: Option<Date>,
    change: Option<(Date, usize)>,
    hold: Option<(Date, Option<Date>, &'static str)>,
    charges: Vec<(Date, ChargeKind, &'static str, i64, bool)>,
    discount: Option<u8>,
    late: bool,
    opening: bool,
    method: &'static str,
    row: Vec<V>,
}

/// Loads the demo data (see the module doc) into `db`.
pub async fn load(db: &Db, o: &DemoOptions) -> Result<DemoSummary, DemoError> {
    let t0 = Instant::now();
    if !(1..=1_000_000).contains(&o.customers) {
        return Err(DemoError::Invalid("customers: 1-1,000,000".into()));
    }
    if o.billing_day.is_some_and(|b| !(1..=28).contains(&b)) {
        return Err(DemoError::Invalid("billing day: 1-28".into()));
    }
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM customers WHERE email LIKE $1")
        .bind(format!("%@{DEMO_DOMAIN}"))
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    if existing > 0 && !o.force {
        return Err(DemoError::Exists(existing));
    }
    let mut sum = DemoSummary::default();

    // Catalog and sites (few rows: through the validating APIs).
    let service =
        tax_class(db, "Internet service", &[("State telecom tax", 500), ("County 911 fee", 150)], RoundingMode::HalfUp)
            .await?;
    let equipment = tax_class(db, "Equipment", &[("State sales tax", 625)], RoundingMode::HalfEven).await?;
    let mut plans = Vec::new();
    for (name, price, down, up, _) in PLANS {
        let p = match store::plan_by_name(db, name).await? {
            Some(p) => p,
            None => {
                let np = NewPlan::new(name, Money::new(price, Currency::USD), down, up, service);
                store::add_plan(db, &np).await?
            }
        };
        plans.push(p);
    }
    sum.plans = plans.len() as u64;
    let mut sites = Vec::new();
    for (name, lat, lon) in SITES {
        let s = match crate::monitoring::site_by_name(db, name).await? {
            Some(s) => s,
            None => crate::monitoring::add_site(db, name, &[], 60_000, 1_000).await?,
        };
        crate::monitoring::set_site_location(db, s.id, lat, lon).await?;
        sites.push(s.id);
    }
    sum.sites = sites.len() as u64;

    // Decide everything first, from one seeded generator, in a fixed order.
    let mut rng = StdRng::seed_from_u64(o.seed);
    let now = now_ms();
    let weights: Vec<u32> = PLANS.iter().map(|p| p.4).collect();
    let pick_plan = |rng: &mut StdRng| {
        let mut x = rng.random_range(0..weights.iter().sum::<u32>());
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    };
    let day = |n: i64| add_days(o.as_of, n);
    let (firsts, lasts): (Vec<&str>, Vec<&str>) = (FIRST.split(' ').collect(), LAST.split(' ').collect());
    let streets: Vec<&str> = STREETS.split(", ").collect();
    let mut gens: Vec<Gen> = Vec::with_capacity(o.customers as usize);
    for i in 0..o.customers {
        let (first, last) = (firsts[rng.random_range(0..firsts.len())], lasts[rng.random_range(0..lasts.len())]);
        let site = rng.random_range(0..SITES.len());
        let email = format!("{}.{}.{i}@{DEMO_DOMAIN}", first.to_lowercase(), last.to_lowercase());
        let address =
            format!("{} {}, {}", rng.random_range(100..9999), streets[rng.random_range(0..streets.len())], TOWNS[site]);
        let lat = SITES[site].1 + rng.random_range(-0.06..0.06);
        let lon = SITES[site].2 + rng.random_range(-0.08..0.08);
        let phone = format!("+1 715-555-{:04}", rng.random_range(0..10_000));
        let plan = pick_plan(&mut rng);
        // 3 % are new installs scheduled in the coming weeks.
        let start = if rng.random_bool(0.03) { day(rng.random_range(1..21))? } else { day(-rng.random_range(0..730))? };
        let mut end = None;
        if rng.random_bool(0.05) {
            let e = day(rng.random_range(-180..30))?;
            if e > add_days(start, 30)? {
                end = Some(e);
            }
        }
        let mut change = None;
        if rng.random_bool(0.10) {
            let lo = add_days(start, 1)?.max(day(-60)?);
            let hi = day(28)?;
            if lo < hi {
                let on = add_days(lo, rng.random_range(0..super::period::days_between(lo, hi)))?;
                let mut to = pick_plan(&mut rng);
                if to == plan {
                    to = (plan + 1) % PLANS.len();
                }
                if end.is_none_or(|e| on < e) {
                    change = Some((on, to));
                }
            }
        }
        let mut hold = None;
        if rng.random_bool(0.05) {
            if rng.random_bool(0.6) {
                let s = day(rng.random_range(-15..25))?;
                hold = Some((s, Some(add_days(s, rng.random_range(7..40))?), "vacation"));
            } else {
                let s = day(rng.random_range(-40..20))?;
                let e = if rng.random_bool(0.4) { None } else { Some(add_days(s, rng.random_range(90..180))?) };
                hold = Some((s, e, "seasonal"));
            }
        }
        let mut charges = Vec::new();
        if start >= day(-40)? {
            charges.push((start, ChargeKind::Installation, "Installation", 9900, false));
            if rng.random_bool(0.3) {
                charges.push((start, ChargeKind::Equipment, "Outdoor CPE (LiteBeam 5AC)", 8900, true));
            }
        }
        let discount = if rng.random_bool(0.03) { Some(rng.random_range(0..3u8)) } else { None };
        let cancelled = end.is_some_and(|e| e <= o.as_of);
        let established = start < day(-30)? && !cancelled;
        let late = established && rng.random_bool(0.08);
        let autopay = rng.random_bool(0.35);
        let method = if autopay { "card" } else { ["bank", "bank", "check", "cash"][rng.random_range(0..4)] };
        let billing_day = match o.billing_day {
            Some(b) => i64::from(b),
            None => rng.random_range(1..=28),
        };
        let tax_exempt = rng.random_bool(0.01);
        let status = if cancelled { "cancelled" } else { "active" };
        let row = vec![
            V::S(format!("{first} {last}")),
            V::S(email.clone()),
            V::S(phone),
            V::S(address),
            V::F(lat),
            V::F(lon),
            V::S(status.into()),
            V::I(sites[site]),
            V::S("Demo customer (mast-controller demo-data)".into()),
            V::I(now),
            V::I(now),
        ];
        gens.push(Gen {
            email,
            billing_day,
            tax_exempt,
            autopay,
            plan,
            start,
            end,
            change,
            hold,
            charges,
            discount,
            late,
            opening: established,
            method,
            row,
        });
    }

    // One transaction: the demo loads completely or not at all.
    let mut tx = db.begin().await?;
    let rows: Vec<Vec<V>> = gens.iter_mut().map(|g| std::mem::take(&mut g.row)).collect();
    let ids = insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO customers (name, email, phone, address, lat, lon, status, site_id, notes, created_ms, updated_ms)",
        11,
        &rows,
        " RETURNING id, email",
    )
    .await?;
    let mut by_email: HashMap<String, i64> = HashMap::with_capacity(ids.len());
    for r in &ids {
        by_email.insert(r.try_get(1)?, r.try_get(0)?);
    }
    let cid: Vec<i64> = gens
        .iter()
        .map(|g| {
            by_email.get(&g.email).copied().ok_or_else(|| DemoError::Invalid("a customer was not returned".into()))
        })
        .collect::<Result<_, _>>()?;
    sum.customers = cid.len() as u64;

    let devices: Vec<Vec<V>> = cid
        .iter()
        .map(|&id| {
            let mac = format!("02:4d:53:{:02x}:{:02x}:{:02x}", (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff);
            vec![V::S(mac), V::I(id), V::I(now)]
        })
        .collect();
    insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO customer_devices (mac, customer_id, created_ms)",
        3,
        &devices,
        " ON CONFLICT (mac) DO NOTHING",
    )
    .await?;

    let accounts: Vec<Vec<V>> = gens
        .iter()
        .zip(&cid)
        .map(|(g, &id)| {
            let (p, m, l) = if g.autopay {
                let brand = ["Visa", "Mastercard", "Visa", "Amex"][(id % 4) as usize];
                (
                    Some(format!("cus_demo{id}")),
                    Some(format!("pm_demo{id}")),
                    Some(format!("{brand} ending {:04}", (id * 7919) % 10_000)),
                )
            } else {
                (None, None, None)
            };
            vec![
                V::I(id),
                V::I(g.billing_day),
                V::I(i64::from(g.tax_exempt)),
                V::S("USD".into()),
                V::S(store::payment_reference(id)),
                V::I(i64::from(g.autopay)),
                V::NS(p),
                V::NS(m),
                V::NS(l),
                V::I(now),
                V::I(now),
            ]
        })
        .collect();
    insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO billing_accounts (customer_id, billing_day, tax_exempt, currency, payment_reference, autopay, \
         provider_customer_id, payment_method_id, payment_method_label, created_ms, updated_ms)",
        11,
        &accounts,
        "",
    )
    .await?;

    let subs: Vec<Vec<V>> = gens
        .iter()
        .zip(&cid)
        .map(|(g, &id)| vec![V::I(id), V::I(plans[g.plan].id), V::S(d(g.start)), V::NS(g.end.map(d)), V::I(now)])
        .collect();
    let sub_rows = insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO subscriptions (customer_id, plan_id, start_date, end_date, created_ms)",
        5,
        &subs,
        " RETURNING id, customer_id",
    )
    .await?;
    let mut sub_of: HashMap<i64, i64> = HashMap::with_capacity(sub_rows.len());
    for r in &sub_rows {
        sub_of.insert(r.try_get(1)?, r.try_get(0)?);
    }
    sum.subscriptions = sub_rows.len() as u64;

    let mut changes = Vec::new();
    let mut holds = Vec::new();
    let mut charges = Vec::new();
    let mut discounts = Vec::new();
    let mut payments = Vec::new();
    let mut payment_amount: HashMap<i64, i64> = HashMap::new();
    let mut ledger = Vec::new();
    for (g, &id) in gens.iter().zip(&cid) {
        let sid =
            sub_of.get(&id).copied().ok_or_else(|| DemoError::Invalid("a subscription was not returned".into()))?;
        if g.end.is_some_and(|e| e <= o.as_of) {
            sum.cancelled += 1;
        }
        if let Some((on, to)) = g.change {
            changes.push(vec![V::I(sid), V::S(d(on)), V::I(plans[to].id), V::I(now)]);
        }
        if let Some((s, e, kind)) = g.hold {
            holds.push(vec![V::I(id), V::NI(None), V::S(d(s)), V::NS(e.map(d)), V::S(kind.into()), V::I(now)]);
        }
        for (date, kind, desc, amount, taxed) in &g.charges {
            charges.push(vec![
                V::I(id),
                V::S(d(*date)),
                V::S(store::ChargeKind::from(*kind).as_str().into()),
                V::S((*desc).into()),
                V::I(*amount),
                V::S("USD".into()),
                V::NI(taxed.then_some(equipment)),
                V::I(now),
            ]);
        }
        match g.discount {
            Some(0 | 1) => discounts.push(vec![
                V::I(id),
                V::S("Loyalty 10 %".into()),
                V::S("recurring".into()),
                V::NI(None),
                V::NI(Some(1000)),
                V::NI(None),
                V::NS(None),
                V::S(d(day(-90)?)),
                V::NS(None),
                V::I(now),
            ]),
            Some(_) => discounts.push(vec![
                V::I(id),
                V::S("Neighbour referral".into()),
                V::S("all".into()),
                V::NI(None),
                V::NI(None),
                V::NI(Some(1000)),
                V::NS(Some("USD".into())),
                V::S(d(day(-30)?)),
                V::NS(Some(d(day(60)?))),
                V::I(now),
            ]),
            None => {}
        }
        if g.opening {
            // A balance carried over from the previous billing system;
            // everyone but the late payers has paid it.
            let price = PLANS[g.plan].1;
            ledger.push(vec![
                V::I(id),
                V::I(now),
                V::S(d(day(-25)?)),
                V::NS(Some(d(day(-11)?))),
                V::S("adjustment".into()),
                V::I(price),
                V::NI(None),
                V::S("Opening balance (previous system)".into()),
            ]);
            if g.late {
                sum.late_payers += 1;
            } else {
                payment_amount.insert(id, price);
                payments.push(vec![
                    V::I(id),
                    V::S(d(day(-rng.random_range(12..20))?)),
                    V::I(price),
                    V::S("USD".into()),
                    V::S(g.method.into()),
                    V::NS((g.method == "check").then(|| format!("Check #{}", rng.random_range(1000..9999)))),
                    V::NS(g.autopay.then(|| format!("pi_demo{id}_{}", o.seed))),
                    V::S("demo-data".into()),
                    V::I(now),
                ]);
            }
        }
    }
    insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO plan_changes (subscription_id, on_date, plan_id, created_ms)",
        4,
        &changes,
        "",
    )
    .await?;
    insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO holds (customer_id, subscription_id, start_date, end_date, kind, created_ms)",
        6,
        &holds,
        "",
    )
    .await?;
    insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO charges (customer_id, charge_date, kind, description, amount_minor, currency, tax_class_id, \
         created_ms)",
        8,
        &charges,
        "",
    )
    .await?;
    insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO discounts (customer_id, description, target, target_id, percent_bp, amount_minor, currency, \
         start_date, end_date, created_ms)",
        10,
        &discounts,
        "",
    )
    .await?;
    let paid = insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO payments (customer_id, payment_date, amount_minor, currency, method, reference, \
         provider_payment_id, created_by, created_ms)",
        9,
        &payments,
        " ON CONFLICT (provider_payment_id) DO NOTHING RETURNING id, customer_id, payment_date, method",
    )
    .await?;
    for r in &paid {
        let customer: i64 = r.try_get(1)?;
        let date: String = r.try_get(2)?;
        let method: String = r.try_get(3)?;
        let amount = payment_amount.get(&customer).copied().unwrap_or(0);
        ledger.push(vec![
            V::I(customer),
            V::I(now),
            V::S(date),
            V::NS(None),
            V::S("payment".into()),
            V::I(-amount),
            V::NI(Some(r.try_get(0)?)),
            V::S(format!("Payment ({method})")),
        ]);
    }
    // Ledger: the currency is the same for all; payment_id links payments.
    let ledger: Vec<Vec<V>> = ledger
        .into_iter()
        .map(|mut row| {
            row.insert(6, V::S("USD".into()));
            let open = match row[5] {
                V::I(amount) => amount.abs(),
                _ => 0,
            };
            row.push(V::I(open));
            row
        })
        .collect();
    insert_rows(
        db.backend,
        &mut tx,
        "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, payment_id, memo, \
         open_minor)",
        10,
        &ledger,
        "",
    )
    .await?;
    tx.commit().await?;
    // Opening balances and payments pay each other (and later invoices).
    super::allocations::settle_everyone(db).await?;
    sum.plan_changes = changes.len() as u64;
    sum.holds = holds.len() as u64;
    sum.charges = charges.len() as u64;
    sum.discounts = discounts.len() as u64;
    sum.payments = paid.len() as u64;
    sum.elapsed_ms = t0.elapsed().as_millis() as u64;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    async fn open() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        (dir, db)
    }

    async fn snapshot(db: &Db) -> Vec<String> {
        let rows = sqlx::query(
            "SELECT c.name || '|' || c.address || '|' || a.billing_day || '|' || s.start_date || '|' || \
             COALESCE(s.end_date, '-') || '|' || p.name FROM customers c JOIN billing_accounts a ON a.customer_id = c.id \
             JOIN subscriptions s ON s.customer_id = c.id JOIN plans p ON p.id = s.plan_id ORDER BY c.id",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        rows.iter().map(|r| r.try_get(0).unwrap()).collect()
    }

    #[tokio::test]
    async fn deterministic_realistic_and_refuses_twice() {
        let opts = DemoOptions { customers: 1000, seed: 7, as_of: date(2026, 11, 20), billing_day: None, force: false };
        let (_d1, a) = open().await;
        let (_d2, b) = open().await;
        let s = load(&a, &opts).await.unwrap();
        load(&b, &opts).await.unwrap();
        assert_eq!(snapshot(&a).await, snapshot(&b).await);
        assert_eq!((s.customers, s.sites, s.plans, s.subscriptions), (1000, 6, 5, 1000));
        assert!((50..=160).contains(&s.plan_changes), "{s:?}");
        assert!((20..=90).contains(&s.holds), "{s:?}");
        assert!(s.cancelled > 5 && s.charges > 10 && s.discounts > 5, "{s:?}");
        assert!((30..=130).contains(&s.late_payers), "{s:?}");
        // Refused a second time, unless forced.
        assert!(matches!(load(&a, &opts).await, Err(DemoError::Exists(1000))));
        let more = load(&a, &DemoOptions { force: true, customers: 10, ..opts.clone() }).await.unwrap();
        assert_eq!(more.customers, 10);
        // Every customer has one CPE; balances are the late payers' opening balances.
        let n: i64 = sqlx::query("SELECT COUNT(DISTINCT customer_id) FROM customer_devices")
            .fetch_one(&a.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(n, 1010);
        let owing: i64 = sqlx::query(
            "SELECT COUNT(*) FROM (SELECT customer_id FROM ledger GROUP BY customer_id HAVING SUM(amount_minor) > 0) x",
        )
        .fetch_one(&b.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
        assert_eq!(owing as u64, s.late_payers);
        // A different seed gives different data.
        let (_d3, c) = open().await;
        load(&c, &DemoOptions { seed: 8, ..opts.clone() }).await.unwrap();
        assert_ne!(snapshot(&a).await[..1000], snapshot(&c).await[..]);
        // And the invoice run bills it without errors.
        let r = crate::billing::run::run(&b, date(2026, 12, 1), &Default::default()).await.unwrap();
        assert_eq!(r.errors, vec![]);
        assert!(r.invoices_issued > 0 && r.invoices_issued <= r.customers_due);
    }
}
