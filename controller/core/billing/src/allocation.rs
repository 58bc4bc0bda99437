//! Allocation: which credits (payments, credit notes, write-offs, negative
//! adjustments) pay which debits (invoices, fees, refunds) of one customer,
//! and the state of an invoice that follows from it.
//!
//! # Rules
//! - Every debit and credit has an **open** amount (≥ 0): what is not yet
//!   matched. An allocation moves a positive amount from one credit's open
//!   amount to one debit's; it never exceeds either.
//! - **Chosen** allocations come first (staff pointing a payment at an
//!   invoice, a credit note at its invoice, a refund at its payment): each
//!   is checked against both open amounts and refused whole if any part does
//!   not fit.
//! - Whatever stays open is then matched **oldest first**: debits by due
//!   date, then posting date, then id; credits by posting date, then id.
//!   Afterwards either no credit or no debit is left open (the same order
//!   the AR aging of [`ledger`](super::ledger) assumes, so aging and invoice
//!   states agree).
//! - So for every credit: its amount = what it allocated + what is left
//!   open, and for every debit: its amount = what it received + what is
//!   left open (property-tested below).

use super::error::{BillingError, Result};
use super::money::{Currency, Money};
use super::period::iso_date;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Something the customer owes, with what is still open of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debit {
    pub id: u64,
    /// When it falls due (its posting date when it has no due date).
    #[serde(with = "iso_date")]
    pub due: Date,
    /// When it was posted.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// Not yet paid (≥ 0).
    pub open: Money,
}

/// Something that reduces what the customer owes, with what is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    pub id: u64,
    /// When it was posted.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// Not yet allocated (≥ 0).
    pub open: Money,
}

/// `amount` (> 0) of credit `credit` pays debit `debit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub credit: u64,
    pub debit: u64,
    pub amount: Money,
}

/// A request to allocate `amount` of one credit to one debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub credit: u64,
    pub debit: u64,
    pub amount: Money,
}

/// Why a chosen allocation was refused (the person choosing reads it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("{0}")]
    Billing(#[from] BillingError),
    #[error("an allocation must be a positive amount")]
    NotPositive,
    #[error("{what} {id} is not open for this customer")]
    Unknown { what: &'static str, id: u64 },
    #[error("more than the {open} still open on {what} {id}")]
    Exceeds { what: &'static str, id: u64, open: Money },
}

fn check(currency: Currency, m: Money, what: &'static str) -> Result<(), AllocationError> {
    if m.currency != currency {
        return Err(BillingError::CurrencyMismatch { left: currency, right: m.currency }.into());
    }
    if m.is_negative() {
        return Err(BillingError::Negative { what }.into());
    }
    Ok(())
}

/// Allocates `choices` first, then everything left open oldest first.
/// `debits` and `credits` are the open items of one customer in `currency`
/// (ids unique within each list). Returns the allocations, chosen ones
/// first, each credit/debit pair at most once per step.
pub fn allocate(
    currency: Currency,
    debits: &[Debit],
    credits: &[Credit],
    choices: &[Choice],
) -> Result<Vec<Allocation>, AllocationError> {
    let mut debit_open: HashMap<u64, i64> = HashMap::with_capacity(debits.len());
    for d in debits {
        check(currency, d.open, "an open debit")?;
        if debit_open.insert(d.id, d.open.minor).is_some() {
            return Err(BillingError::DuplicateId(d.id).into());
        }
    }
    let mut credit_open: HashMap<u64, i64> = HashMap::with_capacity(credits.len());
    for c in credits {
        check(currency, c.open, "an open credit")?;
        if credit_open.insert(c.id, c.open.minor).is_some() {
            return Err(BillingError::DuplicateId(c.id).into());
        }
    }
    let mut out = Vec::new();
    for ch in choices {
        if ch.amount.currency != currency {
            return Err(BillingError::CurrencyMismatch { left: currency, right: ch.amount.currency }.into());
        }
        if ch.amount.minor <= 0 {
            return Err(AllocationError::NotPositive);
        }
        let c_open =
            credit_open.get_mut(&ch.credit).ok_or(AllocationError::Unknown { what: "credit", id: ch.credit })?;
        if ch.amount.minor > *c_open {
            return Err(AllocationError::Exceeds {
                what: "credit",
                id: ch.credit,
                open: Money::new(*c_open, currency),
            });
        }
        let d_open = debit_open.get_mut(&ch.debit).ok_or(AllocationError::Unknown { what: "debit", id: ch.debit })?;
        if ch.amount.minor > *d_open {
            return Err(AllocationError::Exceeds { what: "debit", id: ch.debit, open: Money::new(*d_open, currency) });
        }
        *c_open -= ch.amount.minor;
        *d_open -= ch.amount.minor;
        out.push(Allocation { credit: ch.credit, debit: ch.debit, amount: ch.amount });
    }
    let mut ds: Vec<&Debit> = debits.iter().collect();
    ds.sort_unstable_by_key(|d| (d.due, d.date, d.id));
    let mut cs: Vec<&Credit> = credits.iter().collect();
    cs.sort_unstable_by_key(|c| (c.date, c.id));
    let mut ci = 0;
    for d in ds {
        let mut want = debit_open[&d.id];
        while want > 0 && ci < cs.len() {
            let c = cs[ci];
            let have = credit_open.get_mut(&c.id).expect("every credit was inserted above");
            let take = want.min(*have);
            if take > 0 {
                *have -= take;
                want -= take;
                out.push(Allocation { credit: c.id, debit: d.id, amount: Money::new(take, currency) });
            }
            if *have == 0 {
                ci += 1;
            }
        }
    }
    Ok(out)
}

/// Where an invoice stands, as staff and customers read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvoiceState {
    /// Nothing received against it yet.
    Open,
    /// Part of it received; the rest is open.
    PartlyPaid,
    /// Nothing left open (paid, credited, or zero).
    Paid,
    /// Closed by a write-off: what was left will not be collected.
    WrittenOff,
    /// Issued by mistake and cancelled; its number stays used.
    Void,
}

/// The state of an invoice of `total` with `open` still unpaid, `void` if
/// it was voided, and `written_off` of it written off.
pub fn invoice_state(total: Money, open: Money, void: bool, written_off: Money) -> InvoiceState {
    if void {
        InvoiceState::Void
    } else if open.minor <= 0 {
        if written_off.minor > 0 { InvoiceState::WrittenOff } else { InvoiceState::Paid }
    } else if open.minor >= total.minor {
        InvoiceState::Open
    } else {
        InvoiceState::PartlyPaid
    }
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
    fn day(n: i64) -> Date {
        add_days(date(2026, 1, 1), n).unwrap()
    }
    fn debit(id: u64, due: i64, open: i64) -> Debit {
        Debit { id, due: day(due), date: day(due.min(0)), open: usd(open) }
    }
    fn credit(id: u64, d: i64, open: i64) -> Credit {
        Credit { id, date: day(d), open: usd(open) }
    }

    #[test]
    fn oldest_due_first_and_a_payment_spans_invoices() {
        let ds = [debit(1, 30, 5000), debit(2, 0, 5000), debit(3, 60, 5000)];
        let cs = [credit(10, 5, 6000), credit(11, 1, 1000)];
        let a = allocate(Currency::USD, &ds, &cs, &[]).unwrap();
        // Debit 2 is due first; credit 11 is older than 10.
        assert_eq!(
            a,
            vec![
                Allocation { credit: 11, debit: 2, amount: usd(1000) },
                Allocation { credit: 10, debit: 2, amount: usd(4000) },
                Allocation { credit: 10, debit: 1, amount: usd(2000) },
            ]
        );
    }

    #[test]
    fn chosen_first_then_the_rest_oldest_first() {
        let ds = [debit(1, 0, 5000), debit(2, 30, 5000)];
        let cs = [credit(10, 5, 7000)];
        let pick = [Choice { credit: 10, debit: 2, amount: usd(5000) }];
        let a = allocate(Currency::USD, &ds, &cs, &pick).unwrap();
        assert_eq!(
            a,
            vec![
                Allocation { credit: 10, debit: 2, amount: usd(5000) },
                Allocation { credit: 10, debit: 1, amount: usd(2000) },
            ]
        );
    }

    #[test]
    fn bad_choices_are_refused_with_the_reason() {
        let ds = [debit(1, 0, 5000)];
        let cs = [credit(10, 5, 7000)];
        let ch = |c, d, m| [Choice { credit: c, debit: d, amount: usd(m) }];
        assert_eq!(allocate(Currency::USD, &ds, &cs, &ch(10, 1, 0)), Err(AllocationError::NotPositive));
        assert_eq!(
            allocate(Currency::USD, &ds, &cs, &ch(10, 1, 5001)),
            Err(AllocationError::Exceeds { what: "debit", id: 1, open: usd(5000) })
        );
        assert_eq!(
            allocate(Currency::USD, &ds, &[credit(10, 5, 10)], &ch(10, 1, 11)),
            Err(AllocationError::Exceeds { what: "credit", id: 10, open: usd(10) })
        );
        assert_eq!(
            allocate(Currency::USD, &ds, &cs, &ch(10, 9, 1)),
            Err(AllocationError::Unknown { what: "debit", id: 9 })
        );
        assert_eq!(
            allocate(Currency::USD, &ds, &cs, &ch(99, 1, 1)),
            Err(AllocationError::Unknown { what: "credit", id: 99 })
        );
        let eur = [Debit { open: Money::new(1, Currency::EUR), ..ds[0] }];
        assert!(matches!(allocate(Currency::USD, &eur, &cs, &[]), Err(AllocationError::Billing(_))));
        assert!(matches!(
            allocate(Currency::USD, &[debit(1, 0, -1)], &cs, &[]),
            Err(AllocationError::Billing(BillingError::Negative { .. }))
        ));
        assert!(matches!(
            allocate(Currency::USD, &[ds[0], ds[0]], &cs, &[]),
            Err(AllocationError::Billing(BillingError::DuplicateId(1)))
        ));
        assert!(AllocationError::Exceeds { what: "debit", id: 1, open: usd(5000) }.to_string().contains("50.00 USD"));
    }

    #[test]
    fn states() {
        let s = |total, open, void, off| invoice_state(usd(total), usd(open), void, usd(off));
        assert_eq!(s(5000, 5000, false, 0), InvoiceState::Open);
        assert_eq!(s(5000, 1, false, 0), InvoiceState::PartlyPaid);
        assert_eq!(s(5000, 0, false, 0), InvoiceState::Paid);
        assert_eq!(s(0, 0, false, 0), InvoiceState::Paid);
        assert_eq!(s(5000, 0, false, 1), InvoiceState::WrittenOff);
        assert_eq!(s(5000, 5000, true, 0), InvoiceState::Void);
    }

    /// Open debits, open credits, and raw (credit index, debit index, amount) choices.
    type Items = (Vec<Debit>, Vec<Credit>, Vec<(usize, usize, i64)>);

    fn items() -> impl Strategy<Value = Items> {
        (
            prop::collection::vec((0i64..120, 0i64..50_000), 0..12),
            prop::collection::vec((0i64..120, 0i64..50_000), 0..12),
            prop::collection::vec((0usize..12, 0usize..12, -10i64..60_000), 0..4),
        )
            .prop_map(|(d, c, ch)| {
                let ds = d.into_iter().enumerate().map(|(i, (due, m))| debit(i as u64 + 1, due, m)).collect();
                let cs = c.into_iter().enumerate().map(|(i, (at, m))| credit(i as u64 + 100, at, m)).collect();
                (ds, cs, ch)
            })
    }

    proptest! {
        #[test]
        fn every_amount_is_allocated_or_open((ds, cs, raw) in items()) {
            let choices: Vec<Choice> = raw.iter().filter_map(|&(c, d, m)| {
                Some(Choice { credit: cs.get(c)?.id, debit: ds.get(d)?.id, amount: usd(m) })
            }).collect();
            let out = match allocate(Currency::USD, &ds, &cs, &choices) {
                Ok(out) => out,
                Err(_) => {
                    // A refused choice never hides a valid plain allocation.
                    allocate(Currency::USD, &ds, &cs, &[]).unwrap()
                }
            };
            let mut given: HashMap<u64, i64> = HashMap::new();
            let mut got: HashMap<u64, i64> = HashMap::new();
            for a in &out {
                prop_assert!(a.amount.minor > 0);
                *given.entry(a.credit).or_default() += a.amount.minor;
                *got.entry(a.debit).or_default() += a.amount.minor;
            }
            let mut credit_left = 0;
            for c in &cs {
                let g = given.get(&c.id).copied().unwrap_or(0);
                prop_assert!(g <= c.open.minor, "credit {} gave {} of {}", c.id, g, c.open.minor);
                // The credit's amount = allocated + still open.
                credit_left += c.open.minor - g;
            }
            let mut debit_left = 0;
            for d in &ds {
                let r = got.get(&d.id).copied().unwrap_or(0);
                prop_assert!(r <= d.open.minor);
                debit_left += d.open.minor - r;
            }
            prop_assert!(credit_left == 0 || debit_left == 0, "credit and debit both left open");
            let total_c: i64 = cs.iter().map(|c| c.open.minor).sum();
            let total_d: i64 = ds.iter().map(|d| d.open.minor).sum();
            let allocated: i64 = out.iter().map(|a| a.amount.minor).sum();
            prop_assert_eq!(allocated, total_c.min(total_d));
            prop_assert_eq!(total_c, allocated + credit_left);
        }

        #[test]
        fn without_choices_later_debits_wait_for_earlier_ones((ds, cs, _) in items()) {
            let out = allocate(Currency::USD, &ds, &cs, &[]).unwrap();
            let mut got: HashMap<u64, i64> = HashMap::new();
            for a in &out {
                *got.entry(a.debit).or_default() += a.amount.minor;
            }
            let mut sorted = ds.clone();
            sorted.sort_by_key(|d| (d.due, d.date, d.id));
            let mut seen_unpaid = false;
            for d in &sorted {
                let r = got.get(&d.id).copied().unwrap_or(0);
                if seen_unpaid {
                    prop_assert_eq!(r, 0, "debit {} was paid before an older one", d.id);
                }
                if r < d.open.minor {
                    seen_unpaid = true;
                }
            }
        }
    }
}
