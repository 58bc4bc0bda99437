//! The invoice run on a real SQLite database: one invoice per due customer
//! equal to the core's draft, idempotence, preview, gapless numbers, bad
//! customers reported while the others proceed.

use super::*;
use crate::billing::catalog::{BillingCycle, Catalog, Plan, TaxClass, TaxComponent};
use crate::billing::invoice::{ChargeKind, Discount, DiscountTarget, DiscountValue, InvoiceInput, OneTimeCharge};
use crate::billing::money::{Currency, RoundingMode};
use crate::billing::proration::{Hold, HoldKind, PlanChange, Subscription};
use crate::billing::store::{
    AccountInput, ChargeInput, DiscountInput, HoldInput, NewPlan, PaymentInput, PlanRow, add_charge, add_discount,
    add_hold, add_plan, add_tax_class, change_plan, record_payment, set_account, subscribe,
};
use crate::customers::{self, CustomerInput};
use jiff::civil::date;
use sqlx::Row;

const USD: Currency = Currency::USD;

fn usd(m: i64) -> Money {
    Money::new(m, USD)
}

async fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
    (dir, db)
}

async fn customer(db: &Db, name: &str, billing_day: u8) -> i64 {
    let id = customers::create(db, &CustomerInput { name: name.into(), ..Default::default() }).await.unwrap().id;
    set_account(db, &AccountInput { customer_id: id, billing_day, ..Default::default() }).await.unwrap();
    id
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query(sql).fetch_one(&db.pool).await.unwrap().try_get(0).unwrap()
}

/// Rows in every table a run writes.
async fn footprint(db: &Db) -> Vec<i64> {
    vec![
        count(db, "SELECT COUNT(*) FROM invoices").await,
        count(db, "SELECT COUNT(*) FROM invoice_lines").await,
        count(db, "SELECT COUNT(*) FROM invoice_taxes").await,
        count(db, "SELECT COUNT(*) FROM ledger").await,
        count(db, "SELECT COUNT(*) FROM billing_runs").await,
        count(db, "SELECT COUNT(*) FROM invoice_counters").await,
        count(db, "SELECT COUNT(*) FROM charges WHERE invoice_id IS NOT NULL").await,
    ]
}

async fn seqs(db: &Db, year: i64) -> Vec<i64> {
    sqlx::query("SELECT seq FROM invoices WHERE series = 'INV' AND year = $1 ORDER BY seq")
        .bind(year)
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get(0).unwrap())
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    catalog: Catalog,
    /// (customer, the input the core should see) of every customer due on 2026-03-01 with something to bill.
    expected: Vec<(i64, InvoiceInput)>,
    due: u64,
    empty: u64,
    later_charge: i64,
}

fn march() -> DateRange {
    DateRange::new(date(2026, 3, 1), date(2026, 4, 1)).unwrap()
}

/// Customers due on 2026-03-01: A (plain), B (starts mid-period, installation
/// charge, and a charge for later), C (plan change, vacation, 10 % discount),
/// D (no subscription), F (tax exempt, in credit), G (cancelled before the
/// period); E is due on the 2nd.
async fn fixture() -> Fixture {
    let (dir, db) = open().await;
    let service = vec![TaxComponent { name: "Service tax".into(), rate_bp: 825 }];
    let equipment =
        vec![TaxComponent { name: "State".into(), rate_bp: 600 }, TaxComponent { name: "County".into(), rate_bp: 100 }];
    let t_service = add_tax_class(&db, "Internet service", &service, RoundingMode::HalfUp).await.unwrap();
    let t_equip = add_tax_class(&db, "Equipment", &equipment, RoundingMode::HalfEven).await.unwrap();
    let plan = |name: &str, price, down, up| NewPlan::new(name, usd(price), down, up, t_service);
    let home: PlanRow = add_plan(&db, &plan("Home", 5000, 25_000, 5_000)).await.unwrap();
    let pro: PlanRow = add_plan(&db, &plan("Pro", 8000, 100_000, 20_000)).await.unwrap();
    let core_plan = |p: &PlanRow| Plan {
        id: p.id as u64,
        name: p.name.clone(),
        price: usd(p.price_minor),
        down_kbps: p.down_kbps as u32,
        up_kbps: p.up_kbps as u32,
        cycle: BillingCycle::Monthly,
        tax_class: t_service as u64,
    };
    let catalog = Catalog::new(
        vec![core_plan(&home), core_plan(&pro)],
        vec![
            TaxClass {
                id: t_service as u64,
                name: "Internet service".into(),
                components: service,
                rounding: RoundingMode::HalfUp,
            },
            TaxClass {
                id: t_equip as u64,
                name: "Equipment".into(),
                components: equipment,
                rounding: RoundingMode::HalfEven,
            },
        ],
    )
    .unwrap();
    let input = |c: i64, subs: Vec<Subscription>| InvoiceInput {
        customer_id: c as u64,
        currency: USD,
        period: march(),
        tax_exempt: false,
        subscriptions: subs,
        charges: vec![],
        discounts: vec![],
        credit_available: usd(0),
    };
    let sub = |id: i64, plan: &PlanRow, start| Subscription {
        id: id as u64,
        plan: plan.id as u64,
        start,
        end: None,
        changes: vec![],
        holds: vec![],
    };
    let mut expected = Vec::new();

    let a = customer(&db, "A", 1).await;
    let sa = subscribe(&db, a, home.id, date(2025, 1, 1)).await.unwrap();
    expected.push((a, input(a, vec![sub(sa, &home, date(2025, 1, 1))])));

    let b = customer(&db, "B", 1).await;
    let sb = subscribe(&db, b, home.id, date(2026, 3, 15)).await.unwrap();
    let install = ChargeInput {
        customer_id: b,
        date: date(2026, 3, 15),
        kind: ChargeKind::Installation.into(),
        description: "Installation".into(),
        amount: usd(9900),
        tax_class_id: Some(t_equip),
    };
    let cb = add_charge(&db, &install, &Default::default()).await.unwrap();
    let later_charge = add_charge(
        &db,
        &ChargeInput { date: date(2026, 4, 2), description: "Router".into(), ..install.clone() },
        &Default::default(),
    )
    .await
    .unwrap();
    let mut ib = input(b, vec![sub(sb, &home, date(2026, 3, 15))]);
    ib.charges.push(OneTimeCharge {
        id: cb as u64,
        date: date(2026, 3, 15),
        kind: ChargeKind::Installation,
        description: "Installation".into(),
        amount: usd(9900),
        tax_class: Some(t_equip as u64),
    });
    expected.push((b, ib));

    let c = customer(&db, "C", 1).await;
    let sc = subscribe(&db, c, home.id, date(2025, 6, 1)).await.unwrap();
    change_plan(&db, sc, pro.id, date(2026, 3, 10)).await.unwrap();
    let vacation = HoldInput {
        customer_id: c,
        subscription_id: None,
        start: date(2026, 3, 20),
        end: Some(date(2026, 3, 25)),
        kind: HoldKind::Vacation.into(),
    };
    add_hold(&db, &vacation).await.unwrap();
    // An old hold, over before the period: not loaded, no effect.
    add_hold(&db, &HoldInput { start: date(2025, 7, 1), end: Some(date(2025, 8, 1)), ..vacation.clone() })
        .await
        .unwrap();
    let dc = add_discount(
        &db,
        &DiscountInput {
            customer_id: c,
            description: "Loyalty 10 %".into(),
            target: DiscountTarget::AllRecurring,
            value: DiscountValue::PercentBp(1000),
            start: date(2026, 1, 1),
            end: None,
        },
        &Default::default(),
    )
    .await
    .unwrap();
    // A discount that ended: not applied.
    add_discount(
        &db,
        &DiscountInput {
            customer_id: c,
            description: "Welcome".into(),
            target: DiscountTarget::All,
            value: DiscountValue::Fixed(usd(1000)),
            start: date(2025, 6, 1),
            end: Some(date(2025, 9, 1)),
        },
        &Default::default(),
    )
    .await
    .unwrap();
    let mut s = sub(sc, &home, date(2025, 6, 1));
    s.changes.push(PlanChange { on: date(2026, 3, 10), plan: pro.id as u64 });
    s.holds.push(Hold { start: date(2026, 3, 20), end: Some(date(2026, 3, 25)), kind: HoldKind::Vacation });
    let mut ic = input(c, vec![s]);
    ic.discounts.push(Discount {
        id: dc as u64,
        description: "Loyalty 10 %".into(),
        target: DiscountTarget::AllRecurring,
        value: DiscountValue::PercentBp(1000),
    });
    expected.push((c, ic));

    let _d = customer(&db, "D", 1).await;

    let e = customer(&db, "E", 2).await;
    subscribe(&db, e, home.id, date(2025, 1, 1)).await.unwrap();

    let f = customers::create(&db, &CustomerInput { name: "F".into(), ..Default::default() }).await.unwrap().id;
    set_account(&db, &AccountInput { customer_id: f, billing_day: 1, tax_exempt: true, ..Default::default() })
        .await
        .unwrap();
    let sf = subscribe(&db, f, home.id, date(2025, 1, 1)).await.unwrap();
    record_payment(
        &db,
        &PaymentInput {
            customer_id: f,
            date: date(2026, 2, 20),
            amount: usd(2000),
            method: store::PaymentMethod::Cash,
            reference: None,
            provider_payment_id: None,
            created_by: "test".into(),
        },
        &Default::default(),
    )
    .await
    .unwrap();
    let mut i_f = input(f, vec![sub(sf, &home, date(2025, 1, 1))]);
    i_f.tax_exempt = true;
    i_f.credit_available = usd(2000);
    expected.push((f, i_f));

    let g = customer(&db, "G", 1).await;
    let sg = subscribe(&db, g, home.id, date(2025, 1, 1)).await.unwrap();
    store::cancel(&db, sg, date(2026, 2, 15)).await.unwrap();

    Fixture { _dir: dir, db, catalog, expected, due: 6, empty: 2, later_charge }
}

#[tokio::test]
async fn issues_one_invoice_per_due_customer_equal_to_the_core_draft() {
    let fx = fixture().await;
    let db = &fx.db;
    let s = run(db, date(2026, 3, 1), &RunOptions::default()).await.unwrap();
    assert_eq!(s.errors, vec![]);
    assert_eq!((s.customers_due, s.invoices_issued, s.already_issued, s.empty), (fx.due, 4, 0, fx.empty));
    assert_eq!(s.period, Some(march()));
    assert_eq!(
        (s.first_number.as_deref(), s.last_number.as_deref()),
        (Some("INV-2026-000001"), Some("INV-2026-000004"))
    );

    let stored = store::invoices(db, &store::InvoiceFilter::default()).await.unwrap();
    assert_eq!(stored.len(), 4);
    let mut total = 0;
    for ((customer, input), inv) in fx.expected.iter().zip(&stored) {
        let d = draft(input, &fx.catalog, &InvoiceRules::default()).unwrap();
        assert_eq!(inv.customer_id, *customer);
        assert_eq!(inv.period_start, "2026-03-01");
        assert_eq!(inv.period_end, "2026-04-01");
        assert_eq!((inv.issue_date.as_str(), inv.due_date.as_str()), ("2026-03-01", "2026-03-15"));
        assert_eq!(
            (inv.subtotal_minor, inv.tax_minor, inv.total_minor, inv.amount_due_minor),
            (d.subtotal.minor, d.tax_total.minor, d.total.minor, d.amount_due.minor),
            "customer {customer}"
        );
        // The hash covers every line, description, amount, tax and total.
        assert_eq!(inv.content_hash, format!("{:016x}", d.content_hash), "customer {customer}");
        let lines = store::invoice_lines(db, inv.id).await.unwrap();
        assert_eq!(lines.len(), d.lines.len());
        for (l, dl) in lines.iter().zip(&d.lines) {
            assert_eq!((&l.description, l.net_minor, l.tax_minor), (&dl.description, dl.net.minor, dl.tax.minor));
        }
        let debit: i64 = sqlx::query("SELECT amount_minor FROM ledger WHERE invoice_id = $1 AND kind = 'invoice'")
            .bind(inv.id)
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(debit, d.total.minor);
        total += d.total.minor;
    }
    assert_eq!(s.totals, BTreeMap::from([("USD".to_string(), total)]));
    // Worked numbers: B = 17/31 of 50.00 + installation 99.00 with 6 % + 1 %.
    let b = &stored[1];
    assert_eq!(b.subtotal_minor, 2742 + 9900);
    assert_eq!(b.tax_minor, 226 + 594 + 99);
    // F is tax exempt and had 20.00 of credit.
    let f = &stored[3];
    assert_eq!((f.tax_minor, f.total_minor, f.amount_due_minor), (0, 5000, 3000));
    assert_eq!(store::balance(db, f.customer_id, date(2026, 3, 1)).await.unwrap().balance_minor, 3000);
    // The installation charge is now invoiced; the later one waits.
    assert_eq!(count(db, "SELECT COUNT(*) FROM charges WHERE invoice_id IS NOT NULL").await, 1);
    let later: Option<i64> = sqlx::query("SELECT invoice_id FROM charges WHERE id = $1")
        .bind(fx.later_charge)
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(later, None);
    assert_eq!(count(db, "SELECT last FROM invoice_counters WHERE series = 'INV' AND year = 2026").await, 4);
    let finished: Option<i64> = sqlx::query("SELECT finished_ms FROM billing_runs WHERE id = $1")
        .bind(s.run_id.unwrap())
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert!(finished.is_some());
}

#[tokio::test]
async fn running_twice_issues_nothing_new() {
    let fx = fixture().await;
    let first = run(&fx.db, date(2026, 3, 1), &RunOptions::default()).await.unwrap();
    let after_first = footprint(&fx.db).await;
    let second = run(&fx.db, date(2026, 3, 1), &RunOptions::default()).await.unwrap();
    assert_eq!(first.invoices_issued, 4);
    assert_eq!((second.invoices_issued, second.already_issued, second.empty), (0, 4, fx.empty));
    assert!(second.totals.is_empty());
    let mut after_second = footprint(&fx.db).await;
    after_second[4] -= 1; // its own billing_runs row
    assert_eq!(after_second, after_first);
    // The next month is a new period.
    let april = run(&fx.db, date(2026, 4, 1), &RunOptions::default()).await.unwrap();
    assert_eq!(april.invoices_issued, 4); // A, B (and the router), C, F
    assert_eq!(seqs(&fx.db, 2026).await, (1..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn preview_writes_nothing_and_matches_the_run() {
    let fx = fixture().await;
    let before = footprint(&fx.db).await;
    let preview = run(&fx.db, date(2026, 3, 1), &RunOptions { preview: true, ..Default::default() }).await.unwrap();
    assert_eq!(footprint(&fx.db).await, before);
    assert!(preview.preview && preview.run_id.is_none() && preview.first_number.is_none());
    let real = run(&fx.db, date(2026, 3, 1), &RunOptions::default()).await.unwrap();
    assert_eq!(
        (preview.customers_due, preview.invoices_issued, preview.empty, &preview.totals),
        (real.customers_due, real.invoices_issued, real.empty, &real.totals)
    );
}

/// A billing-day change of an invoiced account: the bridge bills the days
/// up to the new day, runs skip what it billed, every day is billed once;
/// a currency change waits until nothing left to bill is priced in the old
/// currency.
#[tokio::test]
async fn a_billing_day_change_bills_a_bridge_and_every_day_once() {
    let (_dir, db) = open().await;
    let t = add_tax_class(&db, "None", &[], RoundingMode::HalfEven).await.unwrap();
    let p = add_plan(&db, &NewPlan::new("P", usd(3100), 1, 1, t)).await.unwrap();
    let c = customer(&db, "moving", 1).await;
    let s = subscribe(&db, c, p.id, date(2026, 1, 1)).await.unwrap();
    run(&db, date(2026, 12, 1), &RunOptions::default()).await.unwrap();
    let set_day =
        |day: u8, today| AccountInput { customer_id: c, billing_day: day, today: Some(today), ..Default::default() };
    // Preview writes nothing.
    let before = footprint(&db).await;
    let pv = preview_day_change(&db, c, 15, date(2026, 12, 4)).await.unwrap();
    assert_eq!((pv.total_minor, pv.lines.len()), (1400, 1), "1-14 Jan: 14 of 31 days of 31.00");
    assert_eq!(footprint(&db).await, before);
    set_account(&db, &set_day(15, date(2026, 12, 4))).await.unwrap();
    let periods = |db: Db| async move {
        sqlx::query_as::<_, (String, String, i64)>(
            "SELECT period_start, period_end, total_minor FROM invoices ORDER BY period_start",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
    };
    let bridge = ("2027-01-01".to_string(), "2027-01-15".to_string(), 1400);
    assert_eq!(periods(db.clone()).await[1], bridge);
    // The run on 15 Dec bills nothing (those days are billed); 15 Jan bills on.
    let dec = run(&db, date(2026, 12, 15), &RunOptions::default()).await.unwrap();
    assert_eq!((dec.invoices_issued, dec.already_issued), (0, 1));
    let jan = run(&db, date(2027, 1, 15), &RunOptions::default()).await.unwrap();
    assert_eq!(jan.invoices_issued, 1);
    // Back to the 1st on 20 Jan: billed until 15 Feb, bridged to 1 Mar (14 of 28 days).
    set_account(&db, &set_day(1, date(2027, 1, 20))).await.unwrap();
    assert!(run(&db, date(2027, 2, 1), &RunOptions::default()).await.unwrap().invoices_issued == 0);
    run(&db, date(2027, 3, 1), &RunOptions::default()).await.unwrap();
    let all = periods(db.clone()).await;
    let got: Vec<(&str, &str, i64)> = all.iter().map(|(a, b, t)| (a.as_str(), b.as_str(), *t)).collect();
    assert_eq!(
        got,
        [
            ("2026-12-01", "2027-01-01", 3100),
            ("2027-01-01", "2027-01-15", 1400),
            ("2027-01-15", "2027-02-15", 3100),
            ("2027-02-15", "2027-03-01", 1550),
            ("2027-03-01", "2027-04-01", 3100),
        ],
        "contiguous: every day billed once"
    );
    // Another currency: refused while the USD plan is still to be billed.
    let eur = AccountInput { currency: Some("EUR".into()), ..set_day(1, date(2027, 3, 5)) };
    let e = set_account(&db, &eur).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid { field, reason } if field == "currency" && reason.contains("subscription")),
        "{e}"
    );
    // Ended with the billed days: the change applies from the next invoice.
    crate::billing::store::cancel(&db, s, date(2027, 4, 1)).await.unwrap();
    assert_eq!(set_account(&db, &eur).await.unwrap().currency, "EUR");
    assert_eq!(crate::billing::store::invoice_tallies_drift(&db).await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn numbers_are_gapless_across_batches_runs_and_years() {
    let (_dir, db) = open().await;
    let t = add_tax_class(&db, "None", &[], RoundingMode::HalfEven).await.unwrap();
    let p = add_plan(&db, &NewPlan::new("P", usd(4500), 1, 1, t)).await.unwrap();
    let n = 230;
    for i in 0..n {
        let c = customer(&db, &format!("c{i}"), 1).await;
        subscribe(&db, c, p.id, date(2025, 1, 1)).await.unwrap();
    }
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let opts = RunOptions {
        batch_size: 17,
        progress: Some(Box::new(move |p: Progress| {
            assert!(p.done <= p.total);
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })),
        ..Default::default()
    };
    let s = run(&db, date(2026, 11, 1), &opts).await.unwrap();
    assert_eq!(s.invoices_issued, n);
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), (n as usize).div_ceil(17));
    // The run's row: its progress to the end and its summary, for its page.
    let st = run_by_id(&db, s.run_id.unwrap()).await.unwrap().unwrap();
    assert_eq!((st.progress_done, st.progress_total, st.invoices), (n as i64, n as i64, n as i64));
    assert!(st.finished_ms.is_some() && st.failed.is_none());
    assert_eq!(st.summary.map(|x| (x.invoices_issued, x.last_number)), Some((n, s.last_number.clone())));
    mark_run_failed(&db, st.id, "too late").await.unwrap();
    assert_eq!(run_by_id(&db, st.id).await.unwrap().unwrap().failed, None, "a finished run stays finished");
    assert_eq!(recent_runs(&db, 5).await.unwrap()[0].id, st.id);
    run(&db, date(2026, 12, 1), &opts).await.unwrap();
    assert_eq!(seqs(&db, 2026).await, (1..=2 * n as i64).collect::<Vec<_>>());
    // A new year starts at 1.
    let s = run(&db, date(2027, 1, 1), &opts).await.unwrap();
    assert_eq!(s.first_number.as_deref(), Some("INV-2027-000001"));
    assert_eq!(seqs(&db, 2027).await, (1..=n as i64).collect::<Vec<_>>());
    // Numbers are unique across everything.
    assert_eq!(count(&db, "SELECT COUNT(DISTINCT number) FROM invoices").await, 3 * n as i64);
}

/// Two runs at once (a cron job and an impatient operator): each customer
/// is invoiced once, by one of them, and the numbers stay 1..N.
#[tokio::test]
async fn concurrent_runs_share_the_work_without_gaps_or_duplicates() {
    let (_dir, db) = open().await;
    let t = add_tax_class(&db, "None", &[], RoundingMode::HalfEven).await.unwrap();
    let p = add_plan(&db, &NewPlan::new("P", usd(4500), 1, 1, t)).await.unwrap();
    let n = 150;
    for i in 0..n {
        let c = customer(&db, &format!("c{i}"), 1).await;
        subscribe(&db, c, p.id, date(2025, 1, 1)).await.unwrap();
    }
    let opts = RunOptions { batch_size: 7, ..Default::default() };
    let (a, b) = tokio::join!(run(&db, date(2026, 11, 1), &opts), run(&db, date(2026, 11, 1), &opts));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.errors.len(), b.errors.len()), (0, 0));
    assert_eq!(a.invoices_issued + b.invoices_issued, n);
    assert_eq!(a.already_issued + b.already_issued, n);
    assert_eq!(seqs(&db, 2026).await, (1..=n as i64).collect::<Vec<_>>());
    assert_eq!(count(&db, "SELECT COUNT(DISTINCT customer_id) FROM invoices").await, n as i64);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM ledger WHERE kind = 'invoice'").await, n as i64);
}

#[tokio::test]
async fn a_bad_customer_is_reported_and_the_others_proceed() {
    let (_dir, db) = open().await;
    let t = add_tax_class(&db, "None", &[], RoundingMode::HalfEven).await.unwrap();
    let plan = |name: &str, price: Money| NewPlan::new(name, price, 1, 1, t);
    let home = add_plan(&db, &plan("Home", usd(4500))).await.unwrap();
    let euro = add_plan(&db, &plan("Euro", Money::new(4000, Currency::EUR))).await.unwrap();
    let poison = add_plan(&db, &plan("Poison", usd(100))).await.unwrap();
    // The database refuses lines of the Poison plan: its whole batch fails,
    // then only its own invoice does.
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON invoice_lines WHEN NEW.description LIKE 'Poison%' \
         BEGIN SELECT RAISE(ABORT, 'poisoned line'); END",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for i in 0..12 {
        let c = customer(&db, &format!("c{i}"), 1).await;
        match i {
            3 => {
                // A plan in another currency than the account's.
                set_account(
                    &db,
                    &AccountInput {
                        customer_id: c,
                        billing_day: 1,
                        currency: Some("EUR".into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
                subscribe(&db, c, euro.id, date(2025, 1, 1)).await.unwrap();
                // set_account refuses this (the plan is priced in EUR): bad data.
                sqlx::query("UPDATE billing_accounts SET currency = 'USD' WHERE customer_id = $1")
                    .bind(c)
                    .execute(&db.pool)
                    .await
                    .unwrap();
                bad.push(c);
            }
            6 => {
                let s = subscribe(&db, c, home.id, date(2025, 1, 1)).await.unwrap();
                sqlx::query("UPDATE subscriptions SET start_date = '2025-13-01' WHERE id = $1")
                    .bind(s)
                    .execute(&db.pool)
                    .await
                    .unwrap();
                bad.push(c);
            }
            9 => {
                subscribe(&db, c, poison.id, date(2025, 1, 1)).await.unwrap();
                bad.push(c);
            }
            _ => {
                subscribe(&db, c, home.id, date(2025, 1, 1)).await.unwrap();
                good.push(c);
            }
        }
    }
    let s = run(&db, date(2026, 3, 1), &RunOptions { batch_size: 5, ..Default::default() }).await.unwrap();
    assert_eq!(s.errors.iter().map(|e| e.customer_id).collect::<Vec<_>>(), bad);
    assert!(s.errors[0].message.contains("currency mismatch"), "{:?}", s.errors);
    assert!(s.errors[1].message.contains("invalid date"), "{:?}", s.errors);
    assert!(s.errors[2].message.contains("poisoned line"), "{:?}", s.errors);
    assert_eq!(s.invoices_issued, good.len() as u64);
    let invoiced: Vec<i64> =
        store::invoices(&db, &store::InvoiceFilter::default()).await.unwrap().iter().map(|i| i.customer_id).collect();
    let mut sorted = invoiced.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, good);
    // The failed attempts left no gap and no debit behind.
    assert_eq!(seqs(&db, 2026).await, (1..=good.len() as i64).collect::<Vec<_>>());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM ledger WHERE kind = 'invoice'").await, good.len() as i64);
    // A second run retries only the bad ones (and fails them again).
    let again = run(&db, date(2026, 3, 1), &RunOptions::default()).await.unwrap();
    assert_eq!((again.invoices_issued, again.already_issued, again.errors.len()), (0, good.len() as u64, 3));
    // Rolled-back batches left nothing in the invoice list's tallies either.
    assert_eq!(store::invoice_tallies_drift(&db).await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn nobody_is_due_on_the_29th_and_bad_options_are_refused() {
    let fx = fixture().await;
    let s = run(&fx.db, date(2026, 3, 29), &RunOptions::default()).await.unwrap();
    assert_eq!((s.customers_due, s.invoices_issued, s.period), (0, 0, None));
    let bad = RunOptions { series: "inv".into(), ..Default::default() };
    assert!(run(&fx.db, date(2026, 3, 1), &bad).await.is_err());
    assert_eq!(footprint(&fx.db).await[0], 0);
}

#[test]
fn statement_shapes_and_formatting() {
    assert_eq!(
        multi_values(Backend::Postgres, "INSERT INTO t (a, b, c)", &["?", "NULL", "?"], 2, " RETURNING a"),
        "INSERT INTO t (a, b, c) VALUES ($1, NULL, $2), ($3, NULL, $4) RETURNING a"
    );
    assert_eq!(
        multi_values(Backend::Sqlite, "INSERT INTO t (a, b)", &["?", "?"], 2, ""),
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
    );
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(9_412), "9,412");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(money_thousands(usd(61_234_500)), "612,345.00 USD");
    assert_eq!(money_thousands(usd(-5)), "-0.05 USD");
    assert_eq!(money_thousands(Money::new(1_234_567, Currency::JPY)), "1,234,567 JPY");
}
