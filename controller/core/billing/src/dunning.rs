//! Dunning: what to do about an overdue invoice today (remind, charge a late
//! fee, suspend; reactivate on payment), counting business days after the
//! due date on a calendar of weekends and holidays.

use super::error::{BillingError, Result};
use super::money::{Money, RoundingMode};
use super::period::{add_days, days_between, iso_date};
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};

/// Largest step threshold, in business days (ten years of weekdays is more
/// than any policy needs and keeps every computation bounded).
pub const MAX_STEP_DAYS: u32 = 3650;
/// Largest number of steps (the done-set is a 64-bit mask).
pub const MAX_STEPS: usize = 64;

/// Days from Monday, 0..=6 (an index into [`BusinessCalendar`]'s weekend mask).
fn monday_index(d: Weekday) -> usize {
    usize::from(d.to_monday_zero_offset().unsigned_abs())
}

/// Weekends and holidays: the days that do not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarRepr", into = "CalendarRepr")]
pub struct BusinessCalendar {
    /// Indexed by days from Monday.
    weekend: [bool; 7],
    /// Sorted, unique.
    holidays: Vec<Date>,
}

#[derive(Serialize, Deserialize)]
struct CalendarRepr {
    /// ISO weekday numbers, 1 = Monday ... 7 = Sunday.
    weekend: Vec<u8>,
    #[serde(with = "iso_date::vec")]
    holidays: Vec<Date>,
}

impl TryFrom<CalendarRepr> for BusinessCalendar {
    type Error = BillingError;
    fn try_from(r: CalendarRepr) -> Result<Self> {
        let mut weekend = [false; 7];
        for d in r.weekend {
            if !(1..=7).contains(&d) {
                return Err(BillingError::InvalidPolicy("weekday numbers are 1 (Monday) to 7 (Sunday)"));
            }
            weekend[usize::from(d - 1)] = true;
        }
        BusinessCalendar::with_weekend_mask(weekend, r.holidays)
    }
}

impl From<BusinessCalendar> for CalendarRepr {
    fn from(c: BusinessCalendar) -> Self {
        CalendarRepr { weekend: (1..=7).filter(|&d| c.weekend[usize::from(d - 1)]).collect(), holidays: c.holidays }
    }
}

impl Default for BusinessCalendar {
    /// Saturday and Sunday off, no holidays.
    fn default() -> Self {
        BusinessCalendar { weekend: [false, false, false, false, false, true, true], holidays: Vec::new() }
    }
}

impl BusinessCalendar {
    /// A calendar with these weekend days and holidays (any order,
    /// duplicates ignored); an error if no day of the week is a business day.
    pub fn new(weekend: &[Weekday], holidays: Vec<Date>) -> Result<BusinessCalendar> {
        let mut mask = [false; 7];
        for d in weekend {
            mask[monday_index(*d)] = true;
        }
        Self::with_weekend_mask(mask, holidays)
    }

    fn with_weekend_mask(weekend: [bool; 7], mut holidays: Vec<Date>) -> Result<BusinessCalendar> {
        if weekend.iter().all(|&w| w) {
            return Err(BillingError::NoBusinessDays);
        }
        holidays.sort_unstable();
        holidays.dedup();
        Ok(BusinessCalendar { weekend, holidays })
    }

    /// The holidays, sorted.
    pub fn holidays(&self) -> &[Date] {
        &self.holidays
    }

    /// Whether `d` counts (neither weekend nor holiday).
    pub fn is_business_day(&self, d: Date) -> bool {
        !self.weekend[monday_index(d.weekday())] && self.holidays.binary_search(&d).is_err()
    }

    /// Business days `d` with `due < d <= today` (0 when `today <= due`):
    /// the due date itself never counts, weekends and holidays never do.
    pub fn business_days_after(&self, due: Date, today: Date) -> u32 {
        let n = days_between(due, today);
        if n <= 0 {
            return 0;
        }
        let per_week = self.weekend.iter().filter(|&&w| !w).count() as i64;
        let first = monday_index(due.weekday()) as i64 + 1; // weekday index of due+1
        let mut count = n / 7 * per_week;
        for k in 0..n % 7 {
            count += i64::from(!self.weekend[((first + n / 7 * 7 + k) % 7) as usize]);
        }
        // Holidays in (due, today] that fell on a weekday were counted above.
        let lo = self.holidays.partition_point(|&h| h <= due);
        let hi = self.holidays.partition_point(|&h| h <= today);
        let on_weekdays =
            self.holidays[lo..hi].iter().filter(|h| !self.weekend[monday_index(h.weekday())]).count() as i64;
        u32::try_from(count - on_weekdays).unwrap_or(u32::MAX)
    }

    /// The day the count after `due` reaches `n` (the `n`-th business day
    /// after `due`; `due` itself for 0): when a step with that threshold
    /// will fire, for the customer's notice.
    pub fn nth_business_day_after(&self, due: Date, n: u32) -> Result<Date> {
        if n > MAX_STEP_DAYS {
            return Err(BillingError::InvalidPolicy("threshold above MAX_STEP_DAYS"));
        }
        let mut d = due;
        let mut count = 0;
        // At least one business day a week and finitely many holidays: this ends.
        while count < n {
            d = add_days(d, 1)?;
            count += u32::from(self.is_business_day(d));
        }
        Ok(d)
    }
}

/// How much a late fee is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LateFee {
    /// A fixed amount.
    Fixed(Money),
    /// A percentage of the amount still open, in basis points.
    PercentBp { bp: u32, rounding: RoundingMode },
}

/// One step of a dunning policy, each with its threshold in business days
/// after the due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DunningStep {
    /// Send a reminder.
    Reminder { after_business_days: u32 },
    /// Charge a late fee.
    LateFee { after_business_days: u32, fee: LateFee },
    /// Suspend service (the end of the grace period).
    Suspend { after_business_days: u32 },
}

impl DunningStep {
    /// The threshold.
    pub fn after_business_days(&self) -> u32 {
        match *self {
            DunningStep::Reminder { after_business_days }
            | DunningStep::LateFee { after_business_days, .. }
            | DunningStep::Suspend { after_business_days } => after_business_days,
        }
    }
}

/// The operator's dunning policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DunningPolicy {
    /// Steps, each fired at most once per invoice, in this order when
    /// several are due the same day (thresholds need not be sorted).
    pub steps: Vec<DunningStep>,
    /// Charged with the reactivation of a suspended customer.
    pub reconnection_fee: Option<Money>,
}

impl DunningPolicy {
    fn check(&self, open: Money) -> Result<()> {
        if self.steps.len() > MAX_STEPS {
            return Err(BillingError::InvalidPolicy("more than 64 steps"));
        }
        let check_money = |m: Money, what| {
            if m.currency != open.currency {
                return Err(BillingError::CurrencyMismatch { left: open.currency, right: m.currency });
            }
            if m.is_negative() {
                return Err(BillingError::Negative { what });
            }
            Ok(())
        };
        for s in &self.steps {
            if s.after_business_days() > MAX_STEP_DAYS {
                return Err(BillingError::InvalidPolicy("threshold above MAX_STEP_DAYS"));
            }
            match s {
                DunningStep::LateFee { fee: LateFee::Fixed(m), .. } => check_money(*m, "late fee")?,
                DunningStep::LateFee { fee: LateFee::PercentBp { bp, .. }, .. } if *bp > 10_000 => {
                    return Err(BillingError::InvalidRate(*bp));
                }
                _ => {}
            }
        }
        if let Some(f) = self.reconnection_fee {
            check_money(f, "reconnection fee")?;
        }
        Ok(())
    }
}

/// What the shell persists per dunned invoice between runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DunningState {
    /// Bit `i` set: step `i` has fired.
    pub done: u64,
    /// Service is suspended because of this invoice.
    pub suspended: bool,
}

impl DunningState {
    /// Whether step `i` has fired.
    pub fn is_done(&self, i: usize) -> bool {
        i < 64 && self.done & (1 << i) != 0
    }

    /// The state after the shell carried out `actions`.
    pub fn after(mut self, actions: &[DunningAction]) -> DunningState {
        for a in actions {
            match *a {
                DunningAction::Remind { step } | DunningAction::ChargeLateFee { step, .. } => {
                    self.done |= 1u64.checked_shl(step).unwrap_or(0)
                }
                DunningAction::Suspend { step } => {
                    self.done |= 1u64.checked_shl(step).unwrap_or(0);
                    self.suspended = true;
                }
                DunningAction::Reactivate => self.suspended = false,
                DunningAction::ChargeReconnectionFee { .. } => {}
            }
        }
        self
    }
}

/// Something the shell must do (and then record with [`DunningState::after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DunningAction {
    /// Send the reminder of step `step`.
    Remind { step: u32 },
    /// Post this late fee (a ledger entry / a one-time charge).
    ChargeLateFee { step: u32, amount: Money },
    /// Suspend the customer's service.
    Suspend { step: u32 },
    /// Paid in full after a suspension: restore service.
    Reactivate,
    /// Post the reconnection fee (always right after `Reactivate`).
    ChargeReconnectionFee { amount: Money },
}

/// What to do today about one invoice due on `due` with `amount_open` still
/// unpaid, given what was done before (`state`).
///
/// - Paid in full (`amount_open <= 0`): no step ever fires; if the invoice
///   had suspended the customer, `Reactivate` and then the reconnection fee
///   (when the policy has a non-zero one).
/// - Otherwise every step not yet done whose threshold is reached
///   (`business_days_after(due, today) >= after_business_days`) fires, in
///   policy order; a run that missed days catches up in one go.
pub fn actions(
    policy: &DunningPolicy,
    calendar: &BusinessCalendar,
    due: Date,
    amount_open: Money,
    state: &DunningState,
    today: Date,
) -> Result<Vec<DunningAction>> {
    policy.check(amount_open)?;
    let mut out = Vec::new();
    if amount_open.minor <= 0 {
        if state.suspended {
            out.push(DunningAction::Reactivate);
            if let Some(fee) = policy.reconnection_fee.filter(|f| !f.is_zero()) {
                out.push(DunningAction::ChargeReconnectionFee { amount: fee });
            }
        }
        return Ok(out);
    }
    let n = calendar.business_days_after(due, today);
    for (i, s) in policy.steps.iter().enumerate() {
        if state.is_done(i) || n < s.after_business_days() {
            continue;
        }
        let step = i as u32;
        out.push(match *s {
            DunningStep::Reminder { .. } => DunningAction::Remind { step },
            DunningStep::Suspend { .. } => DunningAction::Suspend { step },
            DunningStep::LateFee { fee, .. } => DunningAction::ChargeLateFee {
                step,
                amount: match fee {
                    LateFee::Fixed(m) => m,
                    LateFee::PercentBp { bp, rounding } => amount_open.percent_bp(i64::from(bp), rounding)?,
                },
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn usd(m: i64) -> Money {
        Money::new(m, Currency::USD)
    }

    fn policy() -> DunningPolicy {
        DunningPolicy {
            steps: vec![
                DunningStep::Reminder { after_business_days: 1 },
                DunningStep::LateFee { after_business_days: 5, fee: LateFee::Fixed(usd(500)) },
                DunningStep::Reminder { after_business_days: 8 },
                DunningStep::Suspend { after_business_days: 10 },
            ],
            reconnection_fee: Some(usd(2500)),
        }
    }

    #[test]
    fn counting_business_days() {
        // 2026-03-06 is a Friday; Monday 9 March a holiday.
        let cal = BusinessCalendar::new(&[Weekday::Saturday, Weekday::Sunday], vec![date(2026, 3, 9)]).unwrap();
        let due = date(2026, 3, 6);
        assert_eq!(cal.business_days_after(due, due), 0);
        assert_eq!(cal.business_days_after(due, date(2026, 3, 8)), 0);
        assert_eq!(cal.business_days_after(due, date(2026, 3, 9)), 0);
        assert_eq!(cal.business_days_after(due, date(2026, 3, 10)), 1);
        assert_eq!(cal.business_days_after(due, date(2026, 3, 20)), 9);
        assert_eq!(cal.business_days_after(due, date(2026, 3, 1)), 0);
        assert_eq!(cal.nth_business_day_after(due, 1).unwrap(), date(2026, 3, 10));
        assert_eq!(cal.nth_business_day_after(due, 0).unwrap(), due);
        assert!(cal.nth_business_day_after(due, MAX_STEP_DAYS + 1).is_err());
        assert_eq!(
            BusinessCalendar::new(
                &[
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                    Weekday::Saturday,
                    Weekday::Sunday
                ],
                vec![]
            ),
            Err(BillingError::NoBusinessDays)
        );
        let json = serde_json::to_string(&cal).unwrap();
        assert_eq!(json, r#"{"weekend":[6,7],"holidays":["2026-03-09"]}"#);
        assert_eq!(serde_json::from_str::<BusinessCalendar>(&json).unwrap(), cal);
        assert!(serde_json::from_str::<BusinessCalendar>(r#"{"weekend":[8],"holidays":[]}"#).is_err());
        assert!(serde_json::from_str::<BusinessCalendar>(r#"{"weekend":[1,2,3,4,5,6,7],"holidays":[]}"#).is_err());
        let all = days_between(Date::MIN, Date::MAX);
        let n = i64::from(BusinessCalendar::default().business_days_after(Date::MIN, Date::MAX));
        assert!((n - all * 5 / 7).abs() <= 5, "{n} of {all}");
    }

    #[test]
    fn a_dunning_cycle() {
        let cal = BusinessCalendar::new(&[Weekday::Saturday, Weekday::Sunday], vec![date(2026, 3, 9)]).unwrap();
        let (p, due, open) = (policy(), date(2026, 3, 6), usd(6000));
        let mut st = DunningState::default();
        let run = |today, open: Money, st: &mut DunningState| {
            let a = actions(&p, &cal, due, open, st, today).unwrap();
            *st = st.after(&a);
            a
        };
        assert_eq!(run(date(2026, 3, 9), open, &mut st), vec![]);
        assert_eq!(run(date(2026, 3, 10), open, &mut st), vec![DunningAction::Remind { step: 0 }]);
        assert_eq!(run(date(2026, 3, 10), open, &mut st), vec![]);
        // Missed a week: late fee and second reminder at once.
        assert_eq!(
            run(date(2026, 3, 19), open, &mut st),
            vec![DunningAction::ChargeLateFee { step: 1, amount: usd(500) }, DunningAction::Remind { step: 2 }]
        );
        assert_eq!(run(date(2026, 3, 20), open, &mut st), vec![]);
        assert_eq!(run(date(2026, 3, 23), open, &mut st), vec![DunningAction::Suspend { step: 3 }]);
        assert!(st.suspended);
        // A partial payment changes nothing; paying in full reactivates, once.
        assert_eq!(run(date(2026, 3, 24), usd(1), &mut st), vec![]);
        assert_eq!(
            run(date(2026, 3, 25), usd(0), &mut st),
            vec![DunningAction::Reactivate, DunningAction::ChargeReconnectionFee { amount: usd(2500) }]
        );
        assert_eq!(run(date(2026, 3, 26), usd(0), &mut st), vec![]);
        assert!(!st.suspended);
    }

    #[test]
    fn percent_fees_and_bad_policies() {
        let cal = BusinessCalendar::default();
        let due = date(2026, 3, 6);
        let mut p = DunningPolicy {
            steps: vec![DunningStep::LateFee {
                after_business_days: 0,
                fee: LateFee::PercentBp { bp: 150, rounding: RoundingMode::HalfUp },
            }],
            reconnection_fee: None,
        };
        // 1.5 % of 33.30 = 0.4995 -> 0.50.
        assert_eq!(
            actions(&p, &cal, due, usd(3330), &DunningState::default(), due).unwrap(),
            vec![DunningAction::ChargeLateFee { step: 0, amount: usd(50) }]
        );
        p.steps[0] = DunningStep::LateFee {
            after_business_days: 0,
            fee: LateFee::PercentBp { bp: 10_001, rounding: RoundingMode::HalfUp },
        };
        assert!(actions(&p, &cal, due, usd(1), &DunningState::default(), due).is_err());
        p.steps[0] = DunningStep::LateFee { after_business_days: 0, fee: LateFee::Fixed(Money::new(5, Currency::EUR)) };
        assert!(matches!(
            actions(&p, &cal, due, usd(1), &DunningState::default(), due),
            Err(BillingError::CurrencyMismatch { .. })
        ));
        p.steps[0] = DunningStep::LateFee { after_business_days: 0, fee: LateFee::Fixed(usd(-5)) };
        assert!(actions(&p, &cal, due, usd(1), &DunningState::default(), due).is_err());
        p.steps = vec![DunningStep::Reminder { after_business_days: MAX_STEP_DAYS + 1 }];
        assert!(actions(&p, &cal, due, usd(1), &DunningState::default(), due).is_err());
        p.steps = vec![DunningStep::Reminder { after_business_days: 1 }; 65];
        assert!(actions(&p, &cal, due, usd(1), &DunningState::default(), due).is_err());
        let json = serde_json::to_string(&policy()).unwrap();
        assert_eq!(serde_json::from_str::<DunningPolicy>(&json).unwrap(), policy());
    }

    fn calendar() -> impl Strategy<Value = BusinessCalendar> {
        (prop::collection::vec(any::<bool>(), 7), prop::collection::vec(0i64..120, 0..20)).prop_filter_map(
            "no business day",
            |(w, hs)| {
                let mask: [bool; 7] = w.try_into().ok()?;
                let hs = hs.into_iter().map(|o| add_days(date(2026, 1, 1), o).unwrap()).collect();
                BusinessCalendar::with_weekend_mask(mask, hs).ok()
            },
        )
    }

    fn step() -> impl Strategy<Value = DunningStep> {
        (0u8..3, 0u32..25, 0i64..1000).prop_map(|(k, after, fee)| match k {
            0 => DunningStep::Reminder { after_business_days: after },
            1 => DunningStep::LateFee { after_business_days: after, fee: LateFee::Fixed(usd(fee)) },
            _ => DunningStep::Suspend { after_business_days: after },
        })
    }

    proptest! {
        /// The count equals a day-by-day count, and a non-business day
        /// never advances it.
        #[test]
        fn counting_matches_brute_force(cal in calendar(), due_off in 0i64..100, len in 0i64..60) {
            let due = add_days(date(2026, 1, 1), due_off).unwrap();
            let mut brute = 0;
            for k in 1..=len {
                let d = add_days(due, k).unwrap();
                let before = cal.business_days_after(due, add_days(d, -1).unwrap());
                let now = cal.business_days_after(due, d);
                if cal.is_business_day(d) {
                    brute += 1;
                    prop_assert_eq!(now, before + 1);
                    prop_assert_eq!(cal.nth_business_day_after(due, now).unwrap(), d);
                } else {
                    prop_assert_eq!(now, before);
                }
                prop_assert_eq!(now, brute);
            }
        }

        /// Day by day from the due date, paying on a random day: no step
        /// fires before its threshold, none twice, none after payment, and
        /// reactivation happens exactly when a suspended invoice is paid.
        #[test]
        fn dunning_runs(cal in calendar(), steps in prop::collection::vec(step(), 0..8), pay_on in 0i64..60, skip in prop::collection::vec(any::<bool>(), 60)) {
            let p = DunningPolicy { steps, reconnection_fee: Some(usd(100)) };
            let due = date(2026, 1, 15);
            let mut st = DunningState::default();
            let mut fired = vec![0u32; p.steps.len()];
            let mut reactivated = 0;
            let mut was_suspended = false;
            for k in 0..60i64 {
                if skip[k as usize] && k != pay_on { continue; } // the job did not run that day
                let today = add_days(due, k).unwrap();
                let open = if k >= pay_on { usd(0) } else { usd(10_000) };
                let a = actions(&p, &cal, due, open, &st, today).unwrap();
                let n = cal.business_days_after(due, today);
                for act in &a {
                    match *act {
                        DunningAction::Remind { step } | DunningAction::ChargeLateFee { step, .. } | DunningAction::Suspend { step } => {
                            prop_assert!(k < pay_on, "a paid invoice triggered a step");
                            prop_assert!(n >= p.steps[step as usize].after_business_days());
                            fired[step as usize] += 1;
                        }
                        DunningAction::Reactivate => {
                            prop_assert!(k >= pay_on && st.suspended);
                            reactivated += 1;
                        }
                        DunningAction::ChargeReconnectionFee { .. } => prop_assert_eq!(reactivated, 1),
                    }
                }
                st = st.after(&a);
                was_suspended |= st.suspended;
            }
            prop_assert!(fired.iter().all(|&f| f <= 1));
            prop_assert_eq!(reactivated, u32::from(was_suspended));
            prop_assert!(!st.suspended);
        }

        #[test]
        fn never_panics(due in crate::period::tests::any_date(), today in crate::period::tests::any_date(), open in any::<i64>(), done in any::<u64>(), susp in any::<bool>(), bp in any::<u32>(), n in any::<u32>(), after in any::<u32>()) {
            let cal = BusinessCalendar::default();
            let p = DunningPolicy {
                steps: vec![DunningStep::LateFee { after_business_days: after % 4000, fee: LateFee::PercentBp { bp: bp % 10_001, rounding: RoundingMode::AwayFromZero } }],
                reconnection_fee: None,
            };
            let _ = actions(&p, &cal, due, usd(open), &DunningState { done, suspended: susp }, today);
            let _ = cal.nth_business_day_after(due, n % 4000);
            let _ = cal.business_days_after(due, today);
        }
    }
}
