//! Credit notes: what a credit note takes back from an invoice, line by
//! line, with each line's own tax (the invoice computes tax per line, so a
//! credit note reverses exactly the tax of what it credits).
//!
//! # Rules
//! - An invoice line can be credited several times; what is credited of a
//!   line never exceeds the line (net and tax separately), so what is
//!   credited of an invoice never exceeds its total (property-tested).
//! - **Whole**: every line's remaining net and tax.
//! - **Per line**: a net amount per line; the tax credited with it is the
//!   line's remaining tax × amount / remaining net, rounded half-up, and the
//!   last part of a line takes exactly the remaining tax (so crediting a line
//!   in parts sums to its tax).
//! - A credit note of nothing is refused.

use super::error::BillingError;
use super::money::{Currency, Money};
use serde::{Deserialize, Serialize};

/// One invoice line as a credit note sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditableLine {
    pub position: u32,
    /// The line's net amount and tax on the invoice.
    pub net: Money,
    pub tax: Money,
    /// What earlier credit notes took of them.
    pub credited_net: Money,
    pub credited_tax: Money,
}

impl CreditableLine {
    /// Net still creditable.
    pub fn open_net(&self) -> i64 {
        (self.net.minor - self.credited_net.minor).max(0)
    }
    /// Tax still creditable.
    pub fn open_tax(&self) -> i64 {
        (self.tax.minor - self.credited_tax.minor).max(0)
    }
}

/// What to credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreditRequest {
    /// Everything still creditable on the invoice.
    Whole,
    /// These net amounts of these lines (by position).
    Lines(Vec<(u32, Money)>),
}

/// One line of a credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLine {
    pub position: u32,
    pub net: Money,
    pub tax: Money,
}

/// The lines and totals of a credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditDraft {
    pub lines: Vec<CreditLine>,
    pub net: Money,
    pub tax: Money,
    pub total: Money,
}

/// Why a credit note was refused (the person asking reads it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("{0}")]
    Billing(#[from] BillingError),
    #[error("nothing to credit: the invoice is fully credited already")]
    NothingLeft,
    #[error("choose at least one amount to credit")]
    Empty,
    #[error("line {0} is not on this invoice")]
    UnknownLine(u32),
    #[error("line {position}: at most {open} is left to credit")]
    Exceeds { position: u32, open: Money },
    #[error("line {0}: an amount to credit must be positive")]
    NotPositive(u32),
    #[error("line {0} is asked twice")]
    Duplicate(u32),
}

/// The credit note for `request` against `lines` (one currency).
pub fn credit(
    currency: Currency,
    lines: &[CreditableLine],
    request: &CreditRequest,
) -> Result<CreditDraft, CreditError> {
    for l in lines {
        for m in [l.net, l.tax, l.credited_net, l.credited_tax] {
            if m.currency != currency {
                return Err(BillingError::CurrencyMismatch { left: currency, right: m.currency }.into());
            }
            if m.is_negative() {
                return Err(BillingError::Negative { what: "an invoice line" }.into());
            }
        }
    }
    let mut out = Vec::new();
    match request {
        CreditRequest::Whole => {
            for l in lines {
                let (net, tax) = (l.open_net(), l.open_tax());
                if net > 0 || tax > 0 {
                    out.push(CreditLine {
                        position: l.position,
                        net: Money::new(net, currency),
                        tax: Money::new(tax, currency),
                    });
                }
            }
            if out.is_empty() {
                return Err(CreditError::NothingLeft);
            }
        }
        CreditRequest::Lines(asks) => {
            if asks.is_empty() {
                return Err(CreditError::Empty);
            }
            let mut seen = std::collections::BTreeSet::new();
            for &(position, amount) in asks {
                if !seen.insert(position) {
                    return Err(CreditError::Duplicate(position));
                }
                if amount.currency != currency {
                    return Err(BillingError::CurrencyMismatch { left: currency, right: amount.currency }.into());
                }
                let l = lines.iter().find(|l| l.position == position).ok_or(CreditError::UnknownLine(position))?;
                if amount.minor <= 0 {
                    return Err(CreditError::NotPositive(position));
                }
                let (open_net, open_tax) = (l.open_net(), l.open_tax());
                if amount.minor > open_net {
                    return Err(CreditError::Exceeds { position, open: Money::new(open_net, currency) });
                }
                let tax = if amount.minor == open_net {
                    open_tax
                } else {
                    // open_tax * amount / open_net, half-up, in 128 bits; < open_tax.
                    let num = i128::from(open_tax) * i128::from(amount.minor);
                    let den = i128::from(open_net);
                    ((2 * num + den) / (2 * den)) as i64
                };
                out.push(CreditLine { position, net: amount, tax: Money::new(tax, currency) });
            }
        }
    }
    let net = Money::sum(currency, out.iter().map(|l| l.net))?;
    let tax = Money::sum(currency, out.iter().map(|l| l.tax))?;
    let total = net.checked_add(tax)?;
    Ok(CreditDraft { lines: out, net, tax, total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(m: i64) -> Money {
        Money::new(m, Currency::USD)
    }
    fn line(position: u32, net: i64, tax: i64) -> CreditableLine {
        CreditableLine { position, net: usd(net), tax: usd(tax), credited_net: usd(0), credited_tax: usd(0) }
    }

    #[test]
    fn whole_and_per_line() {
        let lines = [line(0, 5000, 1000), line(1, 2500, 0)];
        let whole = credit(Currency::USD, &lines, &CreditRequest::Whole).unwrap();
        assert_eq!((whole.net, whole.tax, whole.total), (usd(7500), usd(1000), usd(8500)));
        let part = credit(Currency::USD, &lines, &CreditRequest::Lines(vec![(0, usd(2500))])).unwrap();
        assert_eq!(part.lines, vec![CreditLine { position: 0, net: usd(2500), tax: usd(500) }]);
        // The rest of line 0 takes exactly the tax left.
        let rest = [CreditableLine { credited_net: usd(2500), credited_tax: usd(500), ..lines[0] }, lines[1]];
        let last = credit(Currency::USD, &rest, &CreditRequest::Lines(vec![(0, usd(2500))])).unwrap();
        assert_eq!(last.tax, usd(500));
        let done = [CreditableLine { credited_net: usd(5000), credited_tax: usd(1000), ..lines[0] }];
        assert_eq!(credit(Currency::USD, &done, &CreditRequest::Whole), Err(CreditError::NothingLeft));
    }

    #[test]
    fn refusals() {
        let lines = [line(0, 5000, 1000)];
        let ask = |v: Vec<(u32, i64)>| {
            credit(Currency::USD, &lines, &CreditRequest::Lines(v.into_iter().map(|(p, m)| (p, usd(m))).collect()))
        };
        assert_eq!(ask(vec![]), Err(CreditError::Empty));
        assert_eq!(ask(vec![(3, 1)]), Err(CreditError::UnknownLine(3)));
        assert_eq!(ask(vec![(0, 0)]), Err(CreditError::NotPositive(0)));
        assert_eq!(ask(vec![(0, 5001)]), Err(CreditError::Exceeds { position: 0, open: usd(5000) }));
        assert_eq!(ask(vec![(0, 1), (0, 1)]), Err(CreditError::Duplicate(0)));
        assert!(ask(vec![(0, 5001)]).unwrap_err().to_string().contains("50.00 USD"));
    }

    proptest! {
        /// Crediting an invoice in any sequence of requests never takes more
        /// than its total, and crediting everything takes exactly its total.
        #[test]
        fn never_more_than_the_invoice(
            spec in prop::collection::vec((0i64..100_000, 0i64..25_000), 1..6),
            asks in prop::collection::vec(prop::collection::vec((0u32..7, 1i64..120_000), 0..4), 0..6),
        ) {
            let mut lines: Vec<CreditableLine> =
                spec.iter().enumerate().map(|(i, &(n, t))| line(i as u32, n, t)).collect();
            let total: i64 = spec.iter().map(|&(n, t)| n + t).sum();
            let mut credited = 0i64;
            for ask in asks {
                let req = CreditRequest::Lines(ask.into_iter().map(|(p, m)| (p, usd(m))).collect());
                if let Ok(d) = credit(Currency::USD, &lines, &req) {
                    prop_assert_eq!(d.total.minor, d.net.minor + d.tax.minor);
                    for cl in &d.lines {
                        let l = lines.iter_mut().find(|l| l.position == cl.position).unwrap();
                        l.credited_net = l.credited_net.checked_add(cl.net).unwrap();
                        l.credited_tax = l.credited_tax.checked_add(cl.tax).unwrap();
                        prop_assert!(l.credited_net.minor <= l.net.minor && l.credited_tax.minor <= l.tax.minor);
                    }
                    credited += d.total.minor;
                }
                prop_assert!(credited <= total);
            }
            match credit(Currency::USD, &lines, &CreditRequest::Whole) {
                Ok(d) => prop_assert_eq!(credited + d.total.minor, total),
                Err(e) => {
                    prop_assert_eq!(e, CreditError::NothingLeft);
                    prop_assert_eq!(credited, total);
                }
            }
        }
    }
}
