//! Tests of the invoice draft: a worked example, each rule, property tests
//! over arbitrary inputs, and a 10,000-customer run.

use super::*;
use crate::catalog::{BillingCycle, Plan, TaxClass, TaxComponent};
use crate::period::{BillingDay, period_containing};
use crate::proration::{Hold, HoldKind, PlanChange};
use jiff::civil::date;
use proptest::prelude::*;

const USD: Currency = Currency::USD;

fn usd(m: i64) -> Money {
    Money::new(m, USD)
}

/// Plans 1 (Home 25/5, 50.00) and 2 (Pro 100/20, 80.00) in class 1
/// (8.25 % half-up); class 2 is equipment (6 % + 1 %, half-even); class 3 untaxed.
fn catalog() -> Catalog {
    let plan = |id, name: &str, price, down, up| Plan {
        id,
        name: name.into(),
        price: usd(price),
        down_kbps: down,
        up_kbps: up,
        cycle: BillingCycle::Monthly,
        tax_class: 1,
    };
    let comp = |name: &str, rate_bp| TaxComponent { name: name.into(), rate_bp };
    Catalog::new(
        vec![plan(1, "Home", 5000, 25_000, 5_000), plan(2, "Pro", 8000, 100_000, 20_000)],
        vec![
            TaxClass {
                id: 1,
                name: "Internet".into(),
                components: vec![comp("Service tax", 825)],
                rounding: RoundingMode::HalfUp,
            },
            TaxClass {
                id: 2,
                name: "Equipment".into(),
                components: vec![comp("State", 600), comp("County", 100)],
                rounding: RoundingMode::HalfEven,
            },
            TaxClass { id: 3, name: "Exempt".into(), components: vec![], rounding: RoundingMode::HalfEven },
        ],
    )
    .unwrap()
}

fn march() -> DateRange {
    period_containing(BillingDay::new(1).unwrap(), date(2026, 3, 10)).unwrap()
}

fn sub(id: u64, plan: u64, start: Date) -> Subscription {
    Subscription { id, plan, start, end: None, changes: vec![], holds: vec![] }
}

fn input() -> InvoiceInput {
    InvoiceInput {
        customer_id: 42,
        currency: USD,
        period: march(),
        tax_exempt: false,
        subscriptions: vec![],
        charges: vec![],
        discounts: vec![],
        credit_available: usd(0),
    }
}

fn charge(id: u64, date: Date, kind: ChargeKind, cents: i64, tax: Option<u64>) -> OneTimeCharge {
    OneTimeCharge { id, date, kind, description: format!("charge {id}"), amount: usd(cents), tax_class: tax }
}

#[test]
fn worked_example() {
    let mut i = input();
    // New on 15 Mar, upgraded on 25 Mar.
    let mut s = sub(1, 1, date(2026, 3, 15));
    s.changes.push(PlanChange { on: date(2026, 3, 25), plan: 2 });
    i.subscriptions.push(s);
    i.charges.push(charge(10, date(2026, 3, 15), ChargeKind::Installation, 10_000, Some(2)));
    i.charges.push(charge(11, date(2026, 3, 15), ChargeKind::Deposit, 5_000, Some(2)));
    i.charges.push(charge(12, date(2026, 4, 1), ChargeKind::Equipment, 9_999, Some(2))); // next period
    i.discounts.push(Discount {
        id: 2,
        description: "Install promo".into(),
        target: DiscountTarget::Charge(10),
        value: DiscountValue::Fixed(usd(2_000)),
    });
    i.discounts.push(Discount {
        id: 1,
        description: "Loyalty".into(),
        target: DiscountTarget::All,
        value: DiscountValue::PercentBp(1_000),
    });
    i.credit_available = usd(3_000);
    let d = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
    let desc: Vec<&str> = d.lines.iter().map(|l| l.description.as_str()).collect();
    assert_eq!(
        desc,
        vec![
            "Home 25/5 Mbps, 15-24 Mar (10/31 days)",
            "Pro 100/20 Mbps, 25-31 Mar (7/31 days)",
            "charge 10",
            "charge 11"
        ]
    );
    // Home: runs 14 (not billed), 10, 7 of 31 -> 5000: 2258.06, 1612.90, 1129.03 -> 2258, 1613, 1129.
    // Pro: 8000: 3612.90, 2580.64, 1806.45 -> 3613, 2581, 1806.
    let amounts: Vec<i64> = d.lines.iter().map(|l| l.amount.minor).collect();
    assert_eq!(amounts, vec![1613, 1806, 10_000, 5_000]);
    // 10 % first (id 1): 161.3 -> 161, 180.6 -> 181, 1000; deposit untouched.
    // Then 20.00 off the installation: 9000 - 2000 = 7000.
    let disc: Vec<i64> = d.lines.iter().map(|l| l.discount.minor).collect();
    assert_eq!(disc, vec![161, 181, 3_000, 0]);
    let net: Vec<i64> = d.lines.iter().map(|l| l.net.minor).collect();
    assert_eq!(net, vec![1452, 1625, 7_000, 5_000]);
    // 8.25 % half-up: 119.79 -> 120, 134.06 -> 134; equipment 6 % = 420, 1 % = 70; deposit none.
    let tax: Vec<i64> = d.lines.iter().map(|l| l.tax.minor).collect();
    assert_eq!(tax, vec![120, 134, 490, 0]);
    assert_eq!(d.lines[3].tax_class, None);
    assert_eq!(d.taxes.len(), 3);
    assert_eq!((d.taxes[0].class, d.taxes[0].base.minor, d.taxes[0].tax.minor), (1, 3077, 254));
    assert_eq!((d.taxes[1].name.as_str(), d.taxes[1].base.minor, d.taxes[1].tax.minor), ("State", 7000, 420));
    assert_eq!((d.taxes[2].name.as_str(), d.taxes[2].tax.minor), ("County", 70));
    assert_eq!(d.gross, usd(18_419));
    assert_eq!(d.discount_total, usd(3_342));
    assert_eq!(d.subtotal, usd(15_077));
    assert_eq!(d.tax_total, usd(744));
    assert_eq!(d.total, usd(15_821));
    assert_eq!(d.credits_applied, usd(3_000));
    assert_eq!(d.amount_due, usd(12_821));
    assert_eq!(d.key, InvoiceKey { customer_id: 42, period_start: date(2026, 3, 1) });
    assert_eq!(d.key.to_string(), "42/2026-03-01");
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<InvoiceDraft>(&json).unwrap(), d);
    let json = serde_json::to_string(&i).unwrap();
    assert_eq!(serde_json::from_str::<InvoiceInput>(&json).unwrap(), i);
}

/// Tax is rounded per line, per component; the invoice's tax is the sum of
/// the lines' taxes, so the printed lines always add up to the total.
#[test]
fn tax_is_rounded_per_line() {
    let mut i = input();
    for id in 0..3 {
        i.charges.push(charge(id, date(2026, 3, 2), ChargeKind::Fee, 6, Some(1)));
    }
    let d = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
    // Each line: 0.06 * 8.25 % = 0.00495 -> 0.00. On the invoice total it
    // would have been 0.18 * 8.25 % = 0.01485 -> 0.01: per line gives 0.
    assert_eq!(d.tax_total, usd(0));
    assert_eq!(d.taxes[0].base, usd(18));
    assert_eq!(d.taxes[0].tax, usd(0));
    // Half-up per line: 0.10 at 8.25 % 0.00825 -> 0.01 each.
    for c in &mut i.charges {
        c.amount = usd(10);
    }
    assert_eq!(draft(&i, &catalog(), &InvoiceRules::default()).unwrap().tax_total, usd(3));
}

#[test]
fn exempt_full_and_held_and_credit_larger_than_total() {
    let mut i = input();
    i.subscriptions.push(sub(1, 1, date(2025, 1, 1)));
    let mut held = sub(2, 2, date(2025, 1, 1));
    held.holds.push(Hold { start: date(2026, 2, 20), end: Some(date(2026, 4, 20)), kind: HoldKind::Seasonal });
    i.subscriptions.push(held);
    i.tax_exempt = true;
    i.credit_available = usd(100_000);
    let d = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
    assert_eq!(d.lines.len(), 1);
    assert_eq!(d.lines[0].description, "Home 25/5 Mbps, 1-31 Mar (31/31 days)");
    assert_eq!((d.total, d.tax_total, d.credits_applied, d.amount_due), (usd(5000), usd(0), usd(5000), usd(0)));
    // Empty invoice.
    let d = draft(&input(), &catalog(), &InvoiceRules::default()).unwrap();
    assert!(d.is_empty());
    assert_eq!(d.total, usd(0));
}

#[test]
fn discounts_never_go_below_zero() {
    let mut i = input();
    i.subscriptions.push(sub(1, 1, date(2025, 1, 1)));
    i.subscriptions.push(sub(2, 2, date(2025, 1, 1)));
    i.discounts.push(Discount {
        id: 1,
        description: "big".into(),
        target: DiscountTarget::Subscription(1),
        value: DiscountValue::Fixed(usd(9_000)),
    });
    i.discounts.push(Discount {
        id: 2,
        description: "all".into(),
        target: DiscountTarget::AllRecurring,
        value: DiscountValue::PercentBp(10_000),
    });
    let d = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
    assert_eq!(d.lines[0].net, usd(0));
    assert_eq!(d.lines[0].discount, usd(5000));
    assert_eq!(d.lines[1].net, usd(0));
    assert_eq!(d.total, usd(0));
    i.discounts[1].value = DiscountValue::PercentBp(10_001);
    assert_eq!(draft(&i, &catalog(), &InvoiceRules::default()), Err(BillingError::InvalidRate(10_001)));
}

#[test]
fn bad_inputs_are_errors() {
    let r = InvoiceRules::default();
    let eur = Money::new(100, Currency::EUR);
    let mut i = input();
    i.credit_available = eur;
    assert!(matches!(draft(&i, &catalog(), &r), Err(BillingError::CurrencyMismatch { .. })));
    let mut i = input();
    i.currency = Currency::EUR;
    i.credit_available = eur;
    i.subscriptions.push(sub(1, 1, date(2025, 1, 1)));
    assert!(matches!(draft(&i, &catalog(), &r), Err(BillingError::CurrencyMismatch { .. })));
    let mut i = input();
    i.charges.push(OneTimeCharge { amount: eur, ..charge(1, date(2026, 3, 2), ChargeKind::Fee, 0, None) });
    assert!(matches!(draft(&i, &catalog(), &r), Err(BillingError::CurrencyMismatch { .. })));
    let mut i = input();
    i.discounts.push(Discount {
        id: 1,
        description: "x".into(),
        target: DiscountTarget::All,
        value: DiscountValue::Fixed(eur),
    });
    assert!(matches!(draft(&i, &catalog(), &r), Err(BillingError::CurrencyMismatch { .. })));
    let mut i = input();
    i.charges.push(charge(1, date(2026, 3, 2), ChargeKind::Fee, -1, None));
    assert!(matches!(draft(&i, &catalog(), &r), Err(BillingError::Negative { .. })));
    let mut i = input();
    i.charges.push(charge(1, date(2026, 3, 2), ChargeKind::Fee, 1, Some(99)));
    assert_eq!(draft(&i, &catalog(), &r), Err(BillingError::UnknownTaxClass(99)));
    let mut i = input();
    i.subscriptions.push(sub(1, 1, date(2025, 1, 1)));
    i.subscriptions.push(sub(1, 2, date(2025, 1, 1)));
    assert_eq!(draft(&i, &catalog(), &r), Err(BillingError::DuplicateId(1)));
    let mut i = input();
    i.credit_available = usd(-1);
    assert!(matches!(draft(&i, &catalog(), &r), Err(BillingError::Negative { .. })));
    let mut i = input();
    i.charges.push(charge(1, date(2026, 3, 2), ChargeKind::Fee, i64::MAX, None));
    i.charges.push(charge(2, date(2026, 3, 2), ChargeKind::Fee, 1, None));
    assert_eq!(draft(&i, &catalog(), &r), Err(BillingError::Overflow));
}

fn arb_input() -> impl Strategy<Value = InvoiceInput> {
    let subs = (
        0u64..6,
        1u64..=2,
        -60i64..60,
        prop::option::of(-60i64..90),
        prop::collection::vec((-40i64..40, 1u64..=2), 0..3),
        prop::collection::vec((-40i64..40, 0i64..40, any::<bool>()), 0..3),
    );
    let chg = (0u64..6, -10i64..40, 0u8..5, 0i64..1_000_000, prop::option::of(1u64..=4));
    let disc = (0u64..6, 0u8..4, 0u64..6, prop::bool::ANY, 0u32..=10_000, 0i64..100_000);
    (
        prop::collection::vec(subs, 0..4),
        prop::collection::vec(chg, 0..4),
        prop::collection::vec(disc, 0..4),
        any::<bool>(),
        0i64..200_000,
    )
        .prop_map(|(subs, chgs, discs, exempt, credit)| {
            let day = |o: i64| crate::period::add_days(date(2026, 3, 1), o).unwrap();
            let mut i = input();
            let mut seen = std::collections::BTreeSet::new();
            for (id, plan, start, end, changes, holds) in subs {
                if !seen.insert(id) {
                    continue;
                }
                let mut s = sub(id, plan, day(start));
                s.end = end.map(|e| day(e.max(start)));
                s.changes = changes.into_iter().map(|(o, p)| PlanChange { on: day(o), plan: p }).collect();
                s.holds = holds
                    .into_iter()
                    .map(|(o, len, open)| Hold {
                        start: day(o),
                        end: (!open).then(|| day(o + len)),
                        kind: HoldKind::Vacation,
                    })
                    .collect();
                i.subscriptions.push(s);
            }
            let mut seen = std::collections::BTreeSet::new();
            for (id, o, kind, amount, tax) in chgs {
                if !seen.insert(id) {
                    continue;
                }
                let kind = [
                    ChargeKind::Installation,
                    ChargeKind::Equipment,
                    ChargeKind::Fee,
                    ChargeKind::Deposit,
                    ChargeKind::Other,
                ][kind as usize];
                i.charges.push(charge(id, day(o), kind, amount, tax.filter(|&t| t <= 3)));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (id, t, target_id, pct, bp, fixed) in discs {
                if !seen.insert(id) {
                    continue;
                }
                let target = match t {
                    0 => DiscountTarget::All,
                    1 => DiscountTarget::AllRecurring,
                    2 => DiscountTarget::Subscription(target_id),
                    _ => DiscountTarget::Charge(target_id),
                };
                let value = if pct { DiscountValue::PercentBp(bp) } else { DiscountValue::Fixed(usd(fixed)) };
                i.discounts.push(Discount { id, description: format!("d{id}"), target, value });
            }
            i.tax_exempt = exempt;
            i.credit_available = usd(credit);
            i
        })
}

proptest! {
    #[test]
    fn drafts_are_consistent_and_order_independent(i in arb_input(), seed in any::<u64>()) {
        let c = catalog();
        let d = draft(&i, &c, &InvoiceRules::default()).unwrap();
        let sum = |f: fn(&InvoiceLine) -> Money| Money::sum(USD, d.lines.iter().map(f)).unwrap();
        prop_assert_eq!(d.gross, sum(|l| l.amount));
        prop_assert_eq!(d.discount_total, sum(|l| l.discount));
        prop_assert_eq!(d.subtotal, sum(|l| l.net));
        prop_assert_eq!(d.tax_total, sum(|l| l.tax));
        prop_assert_eq!(d.total.minor, d.subtotal.minor + d.tax_total.minor);
        prop_assert_eq!(d.amount_due.minor, d.total.minor - d.credits_applied.minor);
        prop_assert!(d.credits_applied.minor <= i.credit_available.minor && d.amount_due.minor >= 0);
        prop_assert_eq!(d.tax_total.minor, d.taxes.iter().map(|t| t.tax.minor).sum::<i64>());
        for l in &d.lines {
            prop_assert!(l.net.minor >= 0 && l.discount.minor >= 0 && l.net.minor + l.discount.minor == l.amount.minor);
            prop_assert!(l.tax.minor >= 0 && l.tax.minor <= l.net.minor);
            if i.tax_exempt { prop_assert_eq!(l.tax.minor, 0); }
            if let LineKind::OneTime { kind: ChargeKind::Deposit, .. } = l.kind {
                prop_assert_eq!(l.discount.minor, 0);
                prop_assert_eq!(l.tax.minor, 0);
            }
        }
        // Any list order gives the same draft.
        let mut j = i.clone();
        let rot = |n: usize| if n == 0 { 0 } else { (seed as usize) % n };
        let n = j.subscriptions.len(); j.subscriptions.rotate_left(rot(n)); j.subscriptions.reverse();
        let n = j.charges.len(); j.charges.rotate_left(rot(n)); j.charges.reverse();
        let n = j.discounts.len(); j.discounts.rotate_left(rot(n)); j.discounts.reverse();
        let e = draft(&j, &c, &InvoiceRules::default()).unwrap();
        prop_assert_eq!(e.content_hash, d.content_hash);
        prop_assert_eq!(e, d);
    }

    /// A subscription billed in full costs exactly its plan price,
    /// whatever the period.
    #[test]
    fn full_period_costs_the_plan_price(day in 1u8..=28, offset in 0i64..4000) {
        let when = crate::period::add_days(date(2020, 1, 1), offset).unwrap();
        let mut i = input();
        i.period = period_containing(BillingDay::new(day).unwrap(), when).unwrap();
        i.subscriptions.push(sub(1, 2, date(2019, 1, 1)));
        let d = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
        prop_assert_eq!(d.subtotal, usd(8000));
    }

    /// Arbitrary plan and charge amounts (overflowing ones included) give
    /// an error or a draft, never a panic.
    #[test]
    fn never_panics(price in any::<i64>(), amount in any::<i64>(), fixed in any::<i64>(), bp in any::<u32>(), credit in any::<i64>()) {
        let plan = Plan { id: 1, name: "x".into(), price: usd(price), down_kbps: 0, up_kbps: u32::MAX, cycle: BillingCycle::Monthly, tax_class: 1 };
        let tax = TaxClass { id: 1, name: "t".into(), components: vec![TaxComponent { name: "a".into(), rate_bp: bp % 10_001 }; 3], rounding: RoundingMode::AwayFromZero };
        let Ok(c) = Catalog::new(vec![plan], vec![tax]) else { return Ok(()) };
        let mut i = input();
        i.subscriptions.push(sub(1, 1, date(2026, 3, 3)));
        i.charges.push(charge(1, date(2026, 3, 2), ChargeKind::Fee, amount, Some(1)));
        i.discounts.push(Discount { id: 1, description: "x".into(), target: DiscountTarget::All, value: DiscountValue::Fixed(usd(fixed)) });
        i.discounts.push(Discount { id: 2, description: "y".into(), target: DiscountTarget::All, value: DiscountValue::PercentBp(bp) });
        i.credit_available = usd(credit);
        let _ = draft(&i, &c, &InvoiceRules::default());
    }
}

#[test]
fn content_hash_tracks_changes() {
    let mut i = input();
    i.subscriptions.push(sub(1, 1, date(2026, 3, 10)));
    let a = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
    i.subscriptions[0].start = date(2026, 3, 11);
    let b = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
    assert_ne!(a.content_hash, b.content_hash);
    assert_eq!(a.content_hash, content_hash(&a));
    i.customer_id = 43;
    assert_ne!(draft(&i, &catalog(), &InvoiceRules::default()).unwrap().content_hash, b.content_hash);
}

/// The shape of a monthly run: 10,000 customers with a mix of new,
/// cancelled, upgraded and held subscriptions, charges and discounts.
/// (Speed is for a benchmark; this checks the results are sane.)
#[test]
fn ten_thousand_customers() {
    let c = catalog();
    let rules = InvoiceRules::default();
    let period = march();
    let mut totals = 0i64;
    for n in 0u64..10_000 {
        let mut i = input();
        i.customer_id = n;
        i.period = period;
        let d0 = crate::period::add_days(date(2026, 3, 1), (n % 45) as i64 - 14).unwrap();
        let mut s = sub(1, 1 + n % 2, if n % 7 == 0 { d0 } else { date(2024, 1, 1) });
        if n % 11 == 0 {
            s.end = Some(crate::period::add_days(d0, 10).unwrap());
        }
        if n % 13 == 0 {
            s.changes.push(PlanChange { on: d0, plan: 2 });
        }
        if n % 17 == 0 {
            s.holds.push(Hold {
                start: d0,
                end: Some(crate::period::add_days(d0, 9).unwrap()),
                kind: HoldKind::Vacation,
            });
        }
        i.subscriptions.push(s);
        if n % 5 == 0 {
            i.charges.push(charge(1, date(2026, 3, 5), ChargeKind::Fee, 1_500, Some(1)));
        }
        if n % 9 == 0 {
            i.discounts.push(Discount {
                id: 1,
                description: "10 %".into(),
                target: DiscountTarget::All,
                value: DiscountValue::PercentBp(1_000),
            });
        }
        let d = draft(&i, &c, &rules).unwrap();
        assert!(d.total.minor >= 0 && d.total.minor <= 8_000 + 1_500 + 900);
        assert_eq!(d.total.minor, d.subtotal.minor + d.tax_total.minor);
        assert_eq!(d.key.customer_id, n);
        totals += d.total.minor;
    }
    assert!(totals > 10_000 * 3_000);
}

/// The hash is stored with each invoice: it must not change when the code
/// does (this value was computed when the core still used the `time` crate).
#[test]
fn content_hash_is_stable() {
    let mut i = input();
    let mut s = sub(1, 1, date(2026, 3, 15));
    s.changes.push(PlanChange { on: date(2026, 3, 25), plan: 2 });
    s.holds.push(Hold { start: date(2026, 3, 27), end: Some(date(2026, 3, 29)), kind: HoldKind::Vacation });
    i.subscriptions.push(s);
    i.charges.push(charge(10, date(2026, 3, 15), ChargeKind::Installation, 10_000, Some(2)));
    let d = draft(&i, &catalog(), &InvoiceRules::default()).unwrap();
    assert_eq!(d.content_hash, 9_962_078_104_648_925_776);
}
