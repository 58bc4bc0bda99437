//! Moving an invoiced account to another billing day: the **bridge**.
//!
//! Billing is in advance, so an invoiced account is billed up to some date
//! (`billed_until`, the end of its latest invoice's period). Under the new
//! billing day the first full period starts on the first new billing day on
//! or after that date; the days in between are billed once, on a bridge
//! invoice issued with the change, as a share of the new-day period that
//! holds them (the same largest-remainder proration as any partial period).
//! Runs skip every period that starts before the first new period, so the
//! old periods, the bridge and the new periods bill each day exactly once.
//!
//! An account whose billed days ran out before the change (`billed_until`
//! before it: held, cancelled, or nothing to bill at its last run) needs no
//! bridge: the next run on the new day bills on. A change on the old
//! billing day before that day's run bridges from that day.

use super::error::Result;
use super::invoice::InvoiceInput;
use super::period::{BillingDay, DateRange, iso_date, next_run_date, period_containing};
use jiff::civil::Date;
use serde::Serialize;

/// The days a bridge invoice bills, and the period they are a share of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bridge {
    /// `[billed_until, first new billing day)`, never empty.
    pub range: DateRange,
    /// The new-day period that ends where the bridge ends (the proration
    /// basis: the bridge costs `range.days() / basis.days()` of a month).
    pub basis: DateRange,
}

/// What a billing-day change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayChange {
    /// The bridge to invoice now, if any days fall between.
    pub bridge: Option<Bridge>,
    /// Runs bill no period that starts before this date (those days are
    /// billed already); `None` when nothing is billed ahead.
    #[serde(with = "iso_date::option")]
    pub bill_from: Option<Date>,
    /// The first run under the new day that bills the account.
    #[serde(with = "iso_date")]
    pub first_run: Date,
}

/// The change to `new_day` made on `today` of an account billed up to
/// `billed_until` (exclusive; `None` if never invoiced).
pub fn day_change(billed_until: Option<Date>, today: Date, new_day: BillingDay) -> Result<DayChange> {
    match billed_until {
        Some(until) if until >= today => {
            let first = next_run_date(new_day, until)?;
            let bridge = if first > until {
                let basis = period_containing(new_day, until)?;
                Some(Bridge { range: DateRange::new(until, first)?, basis })
            } else {
                None
            };
            Ok(DayChange { bridge, bill_from: Some(first), first_run: first })
        }
        _ => Ok(DayChange { bridge: None, bill_from: None, first_run: next_run_date(new_day, today)? }),
    }
}

/// Whether the run for the period starting on `period_start` bills an
/// account whose runs start at `bill_from`.
pub fn run_bills(period_start: Date, bill_from: Option<Date>) -> bool {
    bill_from.is_none_or(|f| period_start >= f)
}

/// The invoice input of a bridge: `input` loaded for the bridge's basis
/// period, its subscriptions clipped to the bridge's days (so each is
/// billed its share of the basis for those days only) and its one-time
/// charges left for the next regular run.
pub fn bridge_input(input: &InvoiceInput, bridge: &Bridge) -> InvoiceInput {
    let (from, to) = (bridge.range.start(), bridge.range.end());
    let subscriptions = input
        .subscriptions
        .iter()
        .filter(|s| s.start < to && s.end.is_none_or(|e| e > from))
        .map(|s| {
            let mut s = s.clone();
            s.start = s.start.max(from);
            s.end = Some(s.end.map_or(to, |e| e.min(to)));
            s
        })
        .collect();
    InvoiceInput { period: bridge.basis, subscriptions, charges: Vec::new(), ..input.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{BillingCycle, Catalog, Plan, TaxClass};
    use crate::invoice::{InvoiceRules, draft};
    use crate::money::{Currency, Money, RoundingMode};
    use crate::period::{add_days, period_starting};
    use crate::proration::Subscription;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn day(d: u8) -> BillingDay {
        BillingDay::new(d).unwrap()
    }

    fn catalog(price: i64) -> Catalog {
        let plan = Plan {
            id: 1,
            name: "Home".into(),
            price: Money::new(price, Currency::USD),
            down_kbps: 25_000,
            up_kbps: 5_000,
            cycle: BillingCycle::Monthly,
            tax_class: 1,
        };
        let tax = TaxClass { id: 1, name: "none".into(), components: vec![], rounding: RoundingMode::HalfEven };
        Catalog::new(vec![plan], vec![tax]).unwrap()
    }

    fn input(start: Date, period: DateRange) -> InvoiceInput {
        InvoiceInput {
            customer_id: 1,
            currency: Currency::USD,
            period,
            tax_exempt: false,
            subscriptions: vec![Subscription { id: 1, plan: 1, start, end: None, changes: vec![], holds: vec![] }],
            charges: vec![],
            discounts: vec![],
            credit_available: Money::zero(Currency::USD),
        }
    }

    #[test]
    fn first_to_fifteenth_bills_fourteen_days_of_the_new_month() {
        // Billed on the 1st through 1 Jan; moved to the 15th on 4 Dec.
        let c = day_change(Some(date(2027, 1, 1)), date(2026, 12, 4), day(15)).unwrap();
        let b = c.bridge.unwrap();
        assert_eq!(b.range, DateRange::new(date(2027, 1, 1), date(2027, 1, 15)).unwrap());
        assert_eq!(b.basis, DateRange::new(date(2026, 12, 15), date(2027, 1, 15)).unwrap());
        assert_eq!((c.bill_from, c.first_run), (Some(date(2027, 1, 15)), date(2027, 1, 15)));
        let d = draft(&bridge_input(&input(date(2026, 1, 1), b.basis), &b), &catalog(3100), &InvoiceRules::default())
            .unwrap();
        assert_eq!(d.total.minor, 1400, "14 of 31 days of 31.00");
        // The run on 15 Dec (a period starting before 15 Jan) bills nothing.
        assert!(!run_bills(date(2026, 12, 15), c.bill_from));
        assert!(run_bills(date(2027, 1, 15), c.bill_from));
    }

    #[test]
    fn nothing_billed_ahead_needs_no_bridge() {
        let c = day_change(Some(date(2026, 12, 1)), date(2026, 12, 4), day(10)).unwrap();
        assert_eq!((c.bridge, c.bill_from, c.first_run), (None, None, date(2026, 12, 10)));
        // On the old billing day, before its run: bridged from that day.
        let c = day_change(Some(date(2026, 12, 1)), date(2026, 12, 1), day(10)).unwrap();
        assert_eq!(c.bridge.map(|b| b.range.days()), Some(9));
        let c = day_change(Some(date(2026, 12, 10)), date(2026, 12, 1), day(10)).unwrap();
        assert_eq!((c.bridge, c.bill_from), (None, Some(date(2026, 12, 10))), "billed up to a new billing day");
        let c = day_change(None, date(2026, 12, 24), day(10)).unwrap();
        assert_eq!((c.bridge, c.first_run), (None, date(2027, 1, 10)));
    }

    #[test]
    fn a_subscription_that_ends_or_starts_inside_the_bridge_is_billed_its_days() {
        let c = day_change(Some(date(2027, 1, 1)), date(2026, 12, 4), day(15)).unwrap();
        let b = c.bridge.unwrap();
        let mut i = input(date(2026, 1, 1), b.basis);
        i.subscriptions[0].end = Some(date(2027, 1, 8));
        i.subscriptions.push(Subscription {
            id: 2,
            plan: 1,
            start: date(2027, 1, 20),
            end: None,
            changes: vec![],
            holds: vec![],
        });
        let d = draft(&bridge_input(&i, &b), &catalog(3100), &InvoiceRules::default()).unwrap();
        assert_eq!(d.total.minor, 700, "7 days; the later subscription starts after the bridge");
    }

    proptest! {
        /// Old periods, the bridge and the runs under the new day bill
        /// every day exactly once, and the bridge costs its share.
        #[test]
        fn every_day_is_billed_exactly_once(
            old in 1u8..=28, new in 1u8..=28, month in 1i8..=12, back in -40i64..70, price in 0i64..1_000_000,
        ) {
            let until = period_starting(day(old), 2026, month).unwrap().end();
            let today = add_days(until, -back).unwrap();
            let c = day_change(Some(until), today, day(new)).unwrap();
            // What each day from `until` on is billed by.
            let mut covered: Vec<DateRange> = Vec::new();
            if back < 0 {
                prop_assert_eq!(c.bridge, None);
                prop_assert_eq!(c.bill_from, None);
            } else if let Some(b) = c.bridge {
                prop_assert_eq!(b.range.start(), until);
                prop_assert_eq!(b.basis.end(), b.range.end());
                prop_assert!(b.basis.start() <= b.range.start());
                covered.push(b.range);
                let d = draft(&bridge_input(&input(date(2020, 1, 1), b.basis), &b), &catalog(price), &InvoiceRules::default()).unwrap();
                let exact = price * i64::from(b.range.days());
                let basis = i64::from(b.basis.days());
                prop_assert!((d.total.minor * basis - exact).abs() < basis, "within a minor unit of the share");
                prop_assert!(d.total.minor <= price);
            } else {
                prop_assert_eq!(new, until.day().unsigned_abs());
            }
            // Runs every day for four months from the change.
            let mut d = today;
            while d < add_days(today, 120).unwrap() {
                if d.day().unsigned_abs() == new && run_bills(d, c.bill_from) {
                    covered.push(period_starting(day(new), d.year(), d.month()).unwrap());
                }
                d = add_days(d, 1).unwrap();
            }
            if back >= 0 {
                // From `until` on: contiguous, no day twice.
                prop_assert_eq!(covered[0].start(), until);
                for w in covered.windows(2) {
                    prop_assert_eq!(w[0].end(), w[1].start());
                }
                prop_assert_eq!(covered.get(usize::from(c.bridge.is_some())).map(|p| p.start()), Some(c.first_run));
            } else {
                // Nothing billed ahead: the runs take over from the first new day.
                prop_assert_eq!(covered[0].start(), c.first_run);
                prop_assert!(c.first_run >= today);
            }
        }
    }
}
