//! Proration: which days of a billing period a subscription is billed for,
//! under which plan, and the exact share of each plan's price per run of days.

use super::catalog::{Catalog, PlanId};
use super::error::{BillingError, Result};
use super::money::{Money, allocate_minor};
use super::period::{DateRange, iso_date};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Id of a [`Subscription`].
pub type SubscriptionId = u64;

/// From `on` (inclusive) the subscription is on `plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChange {
    /// First day on the new plan (the old plan is billed up to the day before).
    #[serde(with = "iso_date")]
    pub on: Date,
    /// The new plan.
    pub plan: PlanId,
}

/// Why service was not billed for a while. All kinds are billed alike
/// (not at all); the kind is for the invoice and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HoldKind {
    /// Suspended (by dunning or by staff).
    Suspension,
    /// Customer vacation hold.
    Vacation,
    /// Seasonal hold (summer cabins).
    Seasonal,
}

/// `[start, end)` not billed; `end: None` = until further notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// First day not billed.
    #[serde(with = "iso_date")]
    pub start: Date,
    /// First day billed again (`None`: still on hold).
    #[serde(with = "iso_date::option")]
    pub end: Option<Date>,
    /// Why.
    pub kind: HoldKind,
}

/// A customer's subscription to a plan: billed from `start` (inclusive) to
/// `end` (exclusive; `None` = open-ended), on `plan` until the first change,
/// minus the holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Unique per customer; orders the invoice lines.
    pub id: SubscriptionId,
    /// The plan at `start`.
    pub plan: PlanId,
    /// First billed day.
    #[serde(with = "iso_date")]
    pub start: Date,
    /// First day no longer billed (cancellation effective date).
    #[serde(with = "iso_date::option")]
    pub end: Option<Date>,
    /// Plan changes, any order. On a day the plan is the one of the latest
    /// change on or before it (several on one day: the last listed wins);
    /// before any change it is `plan`.
    pub changes: Vec<PlanChange>,
    /// Intervals not billed; they may overlap.
    pub holds: Vec<Hold>,
}

/// A run of billed days of one subscription on one plan, and its amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProratedPart {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The plan of these days.
    pub plan: PlanId,
    /// The days.
    pub range: DateRange,
    /// Days in the billing period.
    pub period_days: u32,
    /// This run's share of the plan price.
    pub amount: Money,
}

impl Subscription {
    fn check(&self) -> Result<()> {
        if let Some(end) = self.end {
            DateRange::new(self.start, end)?;
        }
        for h in &self.holds {
            if let Some(end) = h.end {
                DateRange::new(h.start, end)?;
            }
        }
        Ok(())
    }

    /// The plan billed on `d`, or `None` if `d` is not billed.
    pub fn billed_plan(&self, d: Date) -> Option<PlanId> {
        if d < self.start || self.end.is_some_and(|e| d >= e) {
            return None;
        }
        if self.holds.iter().any(|h| h.start <= d && h.end.is_none_or(|e| d < e)) {
            return None;
        }
        let mut plan = self.plan;
        let mut since: Option<Date> = None;
        for c in &self.changes {
            if c.on <= d && since.is_none_or(|s| c.on >= s) {
                plan = c.plan;
                since = Some(c.on);
            }
        }
        Some(plan)
    }
}

/// The period split into maximal runs of days with the same billing state
/// (`Some(plan)` billed on that plan, `None` not billed), in date order.
/// Appends to `runs` (cleared first) so a caller can reuse the buffer.
pub fn runs(sub: &Subscription, period: DateRange, runs: &mut Vec<(DateRange, Option<PlanId>)>) -> Result<()> {
    sub.check()?;
    runs.clear();
    if period.is_empty() {
        return Ok(());
    }
    // Every day where the state can change, inside the period.
    let mut cuts: Vec<Date> = Vec::with_capacity(4 + sub.changes.len() + 2 * sub.holds.len());
    cuts.push(period.start());
    let mut cut = |d: Date| {
        if period.start() < d && d < period.end() {
            cuts.push(d);
        }
    };
    cut(sub.start);
    if let Some(e) = sub.end {
        cut(e);
    }
    for c in &sub.changes {
        cut(c.on);
    }
    for h in &sub.holds {
        cut(h.start);
        if let Some(e) = h.end {
            cut(e);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.push(period.end());
    for w in cuts.windows(2) {
        let state = sub.billed_plan(w[0]);
        match runs.last_mut() {
            Some((r, s)) if *s == state => *r = DateRange::new(r.start(), w[1])?,
            _ => runs.push((DateRange::new(w[0], w[1])?, state)),
        }
    }
    Ok(())
}

/// The billed parts of `sub` in `period`, in date order, appended to `out`.
///
/// For each plan billed in the period, its price is allocated over **all**
/// runs of the period (billed or not, on any plan) by their days with the
/// largest-remainder method ([`allocate_minor`]); the runs billed on that
/// plan keep their shares. Hence: the shares of any partition of the period
/// sum to the price exactly; a period billed in full on one plan costs its
/// price; a fully held period costs nothing; each part is within one minor
/// unit of `price × days / period_days` (ties to the earlier run).
pub fn prorate(sub: &Subscription, catalog: &Catalog, period: DateRange, out: &mut Vec<ProratedPart>) -> Result<()> {
    if period.is_empty() {
        return Err(BillingError::InvalidRange { start: period.start(), end: period.end() });
    }
    let mut rs = Vec::new();
    runs(sub, period, &mut rs)?;
    let weights: Vec<u64> = rs.iter().map(|(r, _)| u64::from(r.days())).collect();
    let mut shares = vec![0i64; rs.len()];
    let first = out.len();
    for (i, (_, state)) in rs.iter().enumerate() {
        let Some(plan_id) = *state else { continue };
        // Allocate each plan once, at its first run.
        if rs[..i].iter().any(|(_, s)| *s == Some(plan_id)) {
            continue;
        }
        let price = catalog.plan(plan_id)?.price;
        allocate_minor(price.minor, &weights, &mut shares)?;
        for (j, (range, s)) in rs.iter().enumerate() {
            if *s == Some(plan_id) {
                out.push(ProratedPart {
                    subscription: sub.id,
                    plan: plan_id,
                    range: *range,
                    period_days: period.days(),
                    amount: Money::new(shares[j], price.currency),
                });
            }
        }
    }
    out[first..].sort_unstable_by_key(|p| p.range.start());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{BillingCycle, Plan, TaxClass};
    use crate::money::{Currency, RoundingMode};
    use crate::period::{BillingDay, add_days, period_starting};
    use jiff::civil::date;
    use proptest::prelude::*;

    fn catalog(prices: &[i64]) -> Catalog {
        let plans = prices
            .iter()
            .enumerate()
            .map(|(i, &p)| Plan {
                id: i as u64 + 1,
                name: format!("P{}", i + 1),
                price: Money::new(p, Currency::USD),
                down_kbps: 25_000,
                up_kbps: 5_000,
                cycle: BillingCycle::Monthly,
                tax_class: 1,
            })
            .collect();
        let tax = TaxClass { id: 1, name: "none".into(), components: vec![], rounding: RoundingMode::HalfEven };
        Catalog::new(plans, vec![tax]).unwrap()
    }

    fn sub(start: Date) -> Subscription {
        Subscription { id: 7, plan: 1, start, end: None, changes: vec![], holds: vec![] }
    }

    fn march() -> DateRange {
        DateRange::new(date(2026, 3, 1), date(2026, 4, 1)).unwrap()
    }

    fn parts(s: &Subscription, c: &Catalog, p: DateRange) -> Vec<ProratedPart> {
        let mut out = vec![];
        prorate(s, c, p, &mut out).unwrap();
        out
    }

    fn total(ps: &[ProratedPart]) -> i64 {
        ps.iter().map(|p| p.amount.minor).sum()
    }

    #[test]
    fn full_new_cancelled_changed_held() {
        let c = catalog(&[5000, 8000]);
        // Whole period.
        let ps = parts(&sub(date(2026, 1, 10)), &c, march());
        assert_eq!(ps.len(), 1);
        assert_eq!((ps[0].amount.minor, ps[0].range, ps[0].period_days), (5000, march(), 31));
        // New on the 15th: 17 of 31 days; 5000 * 17 / 31 = 2741.9 -> 2742.
        let ps = parts(&sub(date(2026, 3, 15)), &c, march());
        assert_eq!((ps[0].amount.minor, ps[0].range.days()), (2742, 17));
        // Cancelled on the 15th: 14 days; 2258.06 -> 2258, and 2258 + 2742 = 5000.
        let mut s = sub(date(2026, 1, 1));
        s.end = Some(date(2026, 3, 15));
        let ps = parts(&s, &c, march());
        assert_eq!((ps[0].amount.minor, ps[0].range.label()), (2258, "1-14 Mar".to_string()));
        // Plan change on the 15th: 14 days of plan 1, 17 of plan 2.
        let mut s = sub(date(2026, 1, 1));
        s.changes.push(PlanChange { on: date(2026, 3, 15), plan: 2 });
        let ps = parts(&s, &c, march());
        assert_eq!(ps.len(), 2);
        assert_eq!((ps[0].plan, ps[0].amount.minor), (1, 2258));
        assert_eq!((ps[1].plan, ps[1].amount.minor), (2, 4387)); // 8000 * 17 / 31 = 4387.1
        // A change before the period applies to all of it; the latest wins.
        s.changes = vec![
            PlanChange { on: date(2026, 2, 1), plan: 2 },
            PlanChange { on: date(2026, 2, 10), plan: 1 },
            PlanChange { on: date(2026, 2, 10), plan: 2 },
        ];
        assert_eq!(parts(&s, &c, march())[0].amount.minor, 8000);
        // Vacation 10th-19th (10 days) and an open-ended suspension from the 25th.
        let mut s = sub(date(2026, 1, 1));
        s.holds.push(Hold { start: date(2026, 3, 10), end: Some(date(2026, 3, 20)), kind: HoldKind::Vacation });
        s.holds.push(Hold { start: date(2026, 3, 25), end: None, kind: HoldKind::Suspension });
        let ps = parts(&s, &c, march());
        let days: Vec<_> = ps.iter().map(|p| p.range.days()).collect();
        assert_eq!(days, vec![9, 5]);
        // Runs 9, 10, 5, 7 of 31: 1451.6, 1612.9, 806.5, 1129.0 -> floors 1451+1612+806+1129 = 4998,
        // the two extra cents to the largest remainders (0.9 and 0.6).
        assert_eq!(ps.iter().map(|p| p.amount.minor).collect::<Vec<_>>(), vec![1452, 806]);
        // Fully held: nothing.
        let mut s = sub(date(2026, 1, 1));
        s.holds.push(Hold { start: date(2026, 2, 1), end: None, kind: HoldKind::Seasonal });
        assert!(parts(&s, &c, march()).is_empty());
        // Not yet started / already ended.
        assert!(parts(&sub(date(2026, 4, 1)), &c, march()).is_empty());
        let mut s = sub(date(2026, 1, 1));
        s.end = Some(date(2026, 3, 1));
        assert!(parts(&s, &c, march()).is_empty());
    }

    #[test]
    fn errors() {
        let c = catalog(&[5000]);
        let mut out = vec![];
        let mut s = sub(date(2026, 3, 10));
        s.end = Some(date(2026, 3, 9));
        assert!(matches!(prorate(&s, &c, march(), &mut out), Err(BillingError::InvalidRange { .. })));
        let mut s = sub(date(2026, 3, 10));
        s.plan = 9;
        assert_eq!(prorate(&s, &c, march(), &mut out), Err(BillingError::UnknownPlan(9)));
        let empty = DateRange::new(date(2026, 3, 1), date(2026, 3, 1)).unwrap();
        assert!(prorate(&sub(date(2026, 3, 10)), &c, empty, &mut out).is_err());
        let mut s = sub(date(2026, 3, 10));
        s.holds.push(Hold { start: date(2026, 3, 12), end: Some(date(2026, 3, 11)), kind: HoldKind::Vacation });
        assert!(prorate(&s, &c, march(), &mut out).is_err());
    }

    /// A period of any billing day, and a date near it.
    fn period_and_offsets() -> impl Strategy<Value = (DateRange, Vec<i64>)> {
        (1u8..=28, 1990i16..2100, 1i8..=12, prop::collection::vec(-40i64..80, 0..12)).prop_map(|(d, y, m, offs)| {
            let p = period_starting(BillingDay::new(d).unwrap(), y, m).unwrap();
            (p, offs)
        })
    }

    proptest! {
        /// Cut the period anywhere, alternate two plans of the same price
        /// over the pieces: the parts sum to the price exactly.
        #[test]
        fn any_partition_sums_to_the_price((p, offs) in period_and_offsets(), price in 0i64..10_000_000) {
            let c = catalog(&[price, price]);
            let mut s = sub(add_days(p.start(), -100).unwrap());
            let mut cuts: Vec<i64> = offs.iter().map(|o| o.rem_euclid(i64::from(p.days()))).filter(|&o| o > 0).collect();
            cuts.sort_unstable();
            cuts.dedup();
            for (i, o) in cuts.iter().enumerate() {
                s.changes.push(PlanChange { on: add_days(p.start(), *o).unwrap(), plan: 1 + (i as u64 + 1) % 2 });
            }
            let ps = parts(&s, &c, p);
            prop_assert_eq!(ps.len(), cuts.len() + 1);
            prop_assert_eq!(total(&ps), price);
            prop_assert_eq!(ps.iter().map(|p| p.range.days()).sum::<u32>(), p.days());
        }

        /// Held on the odd pieces vs held on the even pieces: the two bills
        /// are complementary and sum to the price exactly.
        #[test]
        fn complementary_holds_sum_to_the_price((p, offs) in period_and_offsets(), price in 0i64..10_000_000) {
            let c = catalog(&[price]);
            let mut cuts: Vec<i64> = offs.iter().map(|o| o.rem_euclid(i64::from(p.days()))).filter(|&o| o > 0).collect();
            cuts.push(0);
            cuts.push(i64::from(p.days()));
            cuts.sort_unstable();
            cuts.dedup();
            let mut a = sub(add_days(p.start(), -5).unwrap());
            let mut b = a.clone();
            for (i, w) in cuts.windows(2).enumerate() {
                let h = Hold { start: add_days(p.start(), w[0]).unwrap(), end: Some(add_days(p.start(), w[1]).unwrap()), kind: HoldKind::Vacation };
                if i % 2 == 0 { a.holds.push(h) } else { b.holds.push(h) }
            }
            prop_assert_eq!(total(&parts(&a, &c, p)) + total(&parts(&b, &c, p)), price);
        }

        /// Any dates at all (reversed ranges, the ends of the calendar):
        /// an error or parts, never a panic; parts never exceed the price.
        #[test]
        fn arbitrary_dates_never_panic(
            d in prop::collection::vec(crate::period::tests::any_date(), 8),
            price in any::<i64>(),
        ) {
            let Ok(c) = Catalog::new(
                vec![Plan { id: 1, name: "x".into(), price: Money::new(price, Currency::USD), down_kbps: 1, up_kbps: 1, cycle: BillingCycle::Monthly, tax_class: 1 }],
                vec![TaxClass { id: 1, name: "t".into(), components: vec![], rounding: RoundingMode::HalfEven }],
            ) else { return Ok(()) };
            let s = Subscription {
                id: 1,
                plan: 1,
                start: d[0],
                end: Some(d[1]),
                changes: vec![PlanChange { on: d[2], plan: 1 }],
                holds: vec![Hold { start: d[3], end: Some(d[4]), kind: HoldKind::Vacation }, Hold { start: d[5], end: None, kind: HoldKind::Seasonal }],
            };
            if let Ok(p) = DateRange::new(d[6].min(d[7]), d[6].max(d[7])) {
                let mut out = vec![];
                if prorate(&s, &c, p, &mut out).is_ok() {
                    prop_assert!(total(&out) <= price);
                }
            }
        }

        /// Arbitrary subscriptions: parts are billed days only, in order,
        /// within one minor unit of the exact pro-rata amount each, never
        /// more than the plans' prices, and the whole-period and fully-held
        /// cases are exact.
        #[test]
        fn arbitrary_subscriptions(
            (p, offs) in period_and_offsets(),
            prices in prop::collection::vec(0i64..1_000_000, 3),
            plans in prop::collection::vec(1u64..=3, 12),
            kinds in prop::collection::vec(0u8..4, 12),
        ) {
            let c = catalog(&prices);
            let day = |o: i64| add_days(p.start(), o).unwrap();
            let mut s = sub(day(offs.first().copied().unwrap_or(-10)));
            s.plan = plans[0];
            for (i, w) in offs.chunks(2).enumerate() {
                let (a, b) = (w[0], w.get(1).copied().unwrap_or(w[0] + 3));
                match kinds[i] {
                    0 => s.changes.push(PlanChange { on: day(a), plan: plans[i + 1] }),
                    1 => s.holds.push(Hold { start: day(a.min(b)), end: Some(day(a.max(b))), kind: HoldKind::Vacation }),
                    2 => s.holds.push(Hold { start: day(a), end: None, kind: HoldKind::Suspension }),
                    _ => s.end = Some(day(a.max(offs[0]))),
                }
            }
            let ps = parts(&s, &c, p);
            let mut prev = p.start();
            for part in &ps {
                prop_assert!(part.range.start() >= prev && !part.range.is_empty());
                prev = part.range.end();
                prop_assert!(part.range.end() <= p.end());
                let mut d = part.range.start();
                while d < part.range.end() {
                    prop_assert_eq!(s.billed_plan(d), Some(part.plan));
                    d = d.tomorrow().unwrap();
                }
                let price = prices[part.plan as usize - 1];
                let exact = i128::from(price) * i128::from(part.range.days());
                let diff = (i128::from(part.amount.minor) * i128::from(p.days()) - exact).abs();
                prop_assert!(diff < i128::from(p.days()));
            }
            let billed: u32 = ps.iter().map(|p| p.range.days()).sum();
            let mut d = p.start();
            let mut expect = 0;
            while d < p.end() {
                expect += u32::from(s.billed_plan(d).is_some());
                d = d.tomorrow().unwrap();
            }
            prop_assert_eq!(billed, expect);
            if expect == 0 { prop_assert!(ps.is_empty()); }
            if expect == p.days() && ps.len() == 1 { prop_assert_eq!(ps[0].amount.minor, prices[ps[0].plan as usize - 1]); }
        }
    }
}
