//! The customer ledger: every balance change is an entry; the balance and
//! the accounts-receivable aging are pure folds over the entries.

use super::error::{BillingError, Result};
use super::money::{Currency, Money};
use super::period::{days_between, iso_date};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// What moved the balance. The sign of an entry's amount follows its kind:
/// positive = the customer owes more (a debit), negative = owes less.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// An invoice's total (≥ 0; its `due` is the invoice due date).
    Invoice,
    /// A payment received (≤ 0).
    Payment,
    /// A credit note or goodwill credit (≤ 0).
    Credit,
    /// A late fee from dunning (≥ 0).
    LateFee,
    /// A reconnection fee from dunning (≥ 0).
    ReconnectionFee,
    /// Money paid back to the customer (≥ 0: it undoes a payment).
    Refund,
    /// A manual correction, either sign.
    Adjustment,
    /// What was left of an invoice that will not be collected (≤ 0).
    WriteOff,
}

impl EntryKind {
    fn sign_ok(self, minor: i64) -> bool {
        match self {
            EntryKind::Invoice | EntryKind::LateFee | EntryKind::ReconnectionFee | EntryKind::Refund => minor >= 0,
            EntryKind::Payment | EntryKind::Credit | EntryKind::WriteOff => minor <= 0,
            EntryKind::Adjustment => true,
        }
    }
}

/// One ledger entry (append-only: a mistake is corrected by another entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unique; orders entries of the same date.
    pub id: u64,
    /// When it was posted.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// When a debit falls due (`None`: on `date`). Ignored for credits.
    #[serde(with = "iso_date::option")]
    pub due: Option<Date>,
    /// What it is.
    pub kind: EntryKind,
    /// Signed amount, see [`EntryKind`].
    pub amount: Money,
    /// The invoice (or payment) it refers to, for display.
    pub reference: Option<u64>,
}

/// Accounts receivable of one customer (or summed over many) as of a date,
/// by days past due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aging {
    /// Not yet due, or due today.
    pub current: Money,
    /// 1-30 days past due.
    pub days_1_30: Money,
    /// 31-60 days past due.
    pub days_31_60: Money,
    /// 61-90 days past due.
    pub days_61_90: Money,
    /// More than 90 days past due.
    pub over_90: Money,
    /// Sum of the buckets: what is owed (never negative).
    pub open: Money,
    /// Credits and payments not absorbed by any debit (never negative).
    pub unapplied_credit: Money,
    /// `open - unapplied_credit` = the sum of the entries.
    pub balance: Money,
}

impl Aging {
    /// All zero.
    pub fn zero(currency: Currency) -> Aging {
        let z = Money::zero(currency);
        Aging {
            current: z,
            days_1_30: z,
            days_31_60: z,
            days_61_90: z,
            over_90: z,
            open: z,
            unapplied_credit: z,
            balance: z,
        }
    }

    /// Field-wise sum (a whole customer base's AR from per-customer agings).
    pub fn checked_add(&self, o: &Aging) -> Result<Aging> {
        Ok(Aging {
            current: self.current.checked_add(o.current)?,
            days_1_30: self.days_1_30.checked_add(o.days_1_30)?,
            days_31_60: self.days_31_60.checked_add(o.days_31_60)?,
            days_61_90: self.days_61_90.checked_add(o.days_61_90)?,
            over_90: self.over_90.checked_add(o.over_90)?,
            open: self.open.checked_add(o.open)?,
            unapplied_credit: self.unapplied_credit.checked_add(o.unapplied_credit)?,
            balance: self.balance.checked_add(o.balance)?,
        })
    }
}

fn check(entries: &[LedgerEntry], currency: Currency) -> Result<()> {
    for e in entries {
        if e.amount.currency != currency {
            return Err(BillingError::CurrencyMismatch { left: currency, right: e.amount.currency });
        }
        if !e.kind.sign_ok(e.amount.minor) {
            return Err(BillingError::WrongSign { id: e.id });
        }
    }
    Ok(())
}

/// The balance as of the end of `as_of`: the sum of the entries posted on
/// or before it (positive = the customer owes, negative = in credit).
pub fn balance(entries: &[LedgerEntry], currency: Currency, as_of: Date) -> Result<Money> {
    check(entries, currency)?;
    Money::sum(currency, entries.iter().filter(|e| e.date <= as_of).map(|e| e.amount))
}

/// The AR aging as of `as_of` (entries posted after it are ignored).
///
/// Rule: payments, credits and negative adjustments are not tied to a
/// particular invoice; together they pay off the debits oldest due date
/// first (then by posting date, then id). What remains of each debit is
/// aged by `as_of - due` in days: 0 or less is current, then 1-30, 31-60,
/// 61-90 and over 90. So the buckets sum to the open amount, and
/// `open - unapplied_credit` is the balance.
pub fn aging(entries: &[LedgerEntry], currency: Currency, as_of: Date) -> Result<Aging> {
    check(entries, currency)?;
    let mut debits: Vec<&LedgerEntry> = entries.iter().filter(|e| e.date <= as_of && e.amount.minor > 0).collect();
    debits.sort_unstable_by_key(|e| (e.due.unwrap_or(e.date), e.date, e.id));
    // Credits as a positive pool, in i128 so no order of entries overflows midway.
    let mut pool: i128 =
        entries.iter().filter(|e| e.date <= as_of && e.amount.minor < 0).map(|e| -i128::from(e.amount.minor)).sum();
    let mut a = Aging::zero(currency);
    for e in debits {
        let take = pool.min(i128::from(e.amount.minor));
        pool -= take;
        let left = Money::new(e.amount.minor - take as i64, currency); // 0 <= take <= amount
        if left.is_zero() {
            continue;
        }
        let late = days_between(e.due.unwrap_or(e.date), as_of);
        let bucket = match late {
            i64::MIN..=0 => &mut a.current,
            1..=30 => &mut a.days_1_30,
            31..=60 => &mut a.days_31_60,
            61..=90 => &mut a.days_61_90,
            _ => &mut a.over_90,
        };
        *bucket = bucket.checked_add(left)?;
        a.open = a.open.checked_add(left)?;
    }
    a.unapplied_credit = Money::new(i64::try_from(pool).map_err(|_| BillingError::Overflow)?, currency);
    a.balance = a.open.checked_sub(a.unapplied_credit)?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::add_days;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn usd(m: i64) -> Money {
        Money::new(m, Currency::USD)
    }

    fn e(id: u64, date: Date, due: Option<Date>, kind: EntryKind, amount: i64) -> LedgerEntry {
        LedgerEntry { id, date, due, kind, amount: usd(amount), reference: None }
    }

    #[test]
    fn balance_and_aging() {
        let es = vec![
            e(1, date(2026, 1, 1), Some(date(2026, 1, 15)), EntryKind::Invoice, 5000),
            e(2, date(2026, 2, 1), Some(date(2026, 2, 15)), EntryKind::Invoice, 5000),
            e(3, date(2026, 2, 20), None, EntryKind::LateFee, 500),
            e(4, date(2026, 3, 1), Some(date(2026, 3, 15)), EntryKind::Invoice, 5000),
            e(5, date(2026, 3, 2), None, EntryKind::Payment, -6000),
            e(6, date(2026, 6, 1), None, EntryKind::Payment, -99_999), // after as_of
        ];
        let as_of = date(2026, 3, 20);
        assert_eq!(balance(&es, Currency::USD, as_of), Ok(usd(9500)));
        let a = aging(&es, Currency::USD, as_of).unwrap();
        // The payment clears January's invoice and 10.00 of February's.
        assert_eq!(a.current, usd(0));
        assert_eq!(a.days_1_30, usd(500 + 5000)); // late fee due 20 Feb (28 d), March invoice (5 d)
        assert_eq!(a.days_31_60, usd(4000)); // February, 33 days
        assert_eq!(a.days_61_90, usd(0));
        assert_eq!((a.open, a.unapplied_credit, a.balance), (usd(9500), usd(0), usd(9500)));
        let later = aging(&es, Currency::USD, date(2026, 6, 1)).unwrap();
        assert_eq!((later.open, later.unapplied_credit, later.balance), (usd(0), usd(90_499), usd(-90_499)));
        let sum = a.checked_add(&later).unwrap();
        assert_eq!(sum.balance, usd(9500 - 90_499));
        let json = serde_json::to_string(&es[0]).unwrap();
        assert_eq!(serde_json::from_str::<LedgerEntry>(&json).unwrap(), es[0]);
    }

    #[test]
    fn bad_entries() {
        let d = date(2026, 1, 1);
        assert_eq!(
            balance(&[e(7, d, None, EntryKind::Payment, 1)], Currency::USD, d),
            Err(BillingError::WrongSign { id: 7 })
        );
        assert_eq!(
            aging(&[e(8, d, None, EntryKind::Invoice, -1)], Currency::USD, d),
            Err(BillingError::WrongSign { id: 8 })
        );
        assert!(matches!(
            balance(&[e(1, d, None, EntryKind::Adjustment, 1)], Currency::EUR, d),
            Err(BillingError::CurrencyMismatch { .. })
        ));
        let big = [e(1, d, None, EntryKind::Invoice, i64::MAX), e(2, d, None, EntryKind::Invoice, 1)];
        assert_eq!(balance(&big, Currency::USD, d), Err(BillingError::Overflow));
        assert_eq!(aging(&big, Currency::USD, d), Err(BillingError::Overflow));
    }

    fn entries() -> impl Strategy<Value = Vec<LedgerEntry>> {
        prop::collection::vec((0u8..7, 0i64..200, prop::option::of(0i64..45), 0i64..100_000), 0..30).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (k, day, due, amt))| {
                    let kind = [
                        EntryKind::Invoice,
                        EntryKind::Payment,
                        EntryKind::Credit,
                        EntryKind::LateFee,
                        EntryKind::ReconnectionFee,
                        EntryKind::Refund,
                        EntryKind::Adjustment,
                    ][k as usize];
                    let date = add_days(date(2026, 1, 1), day).unwrap();
                    let amount = match kind {
                        EntryKind::Payment | EntryKind::Credit => -amt,
                        EntryKind::Adjustment => amt - 50_000,
                        _ => amt,
                    };
                    e(i as u64, date, due.map(|d| add_days(date, d).unwrap()), kind, amount)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn aging_adds_up(es in entries(), as_of in 0i64..260) {
            let as_of = add_days(date(2026, 1, 1), as_of).unwrap();
            let b = balance(&es, Currency::USD, as_of).unwrap();
            let expect: i64 = es.iter().filter(|e| e.date <= as_of).map(|e| e.amount.minor).sum();
            prop_assert_eq!(b.minor, expect);
            let a = aging(&es, Currency::USD, as_of).unwrap();
            let buckets = [a.current, a.days_1_30, a.days_31_60, a.days_61_90, a.over_90];
            prop_assert!(buckets.iter().all(|m| m.minor >= 0));
            prop_assert_eq!(buckets.iter().map(|m| m.minor).sum::<i64>(), a.open.minor);
            prop_assert!(a.open.minor >= 0 && a.unapplied_credit.minor >= 0);
            prop_assert!(a.open.is_zero() || a.unapplied_credit.is_zero());
            prop_assert_eq!(a.balance, b);
            prop_assert_eq!(a.open.minor, b.minor.max(0));
            // Any entry order gives the same answer.
            let mut rev = es.clone();
            rev.reverse();
            prop_assert_eq!(aging(&rev, Currency::USD, as_of).unwrap(), a);
        }

        #[test]
        fn never_panics(v in prop::collection::vec((any::<i64>(), any::<bool>()), 0..6)) {
            let d = date(2026, 1, 1);
            let es: Vec<_> = v.iter().enumerate().map(|(i, &(m, adj))| {
                let kind = if adj { EntryKind::Adjustment } else if m >= 0 { EntryKind::Invoice } else { EntryKind::Payment };
                e(i as u64, d, None, kind, m)
            }).collect();
            let _ = balance(&es, Currency::USD, d);
            if let Ok(a) = aging(&es, Currency::USD, d) {
                prop_assert_eq!(a.open.minor - a.unapplied_credit.minor, a.balance.minor);
            }
        }
    }
}
