//! Gapless invoice numbers per series and year (`INV-2026-000123`) as a pure
//! state transition.
//!
//! # Contract with the shell (what makes it gapless under crashes)
//! The allocator only computes `(number, new_state)` from `state`; it
//! persists nothing. The shell must, **in one database transaction**: read
//! the counter row of (series, year) (`invoice_counters(series, year, last)`,
//! absent = 0), call [`SeriesCounter::next`] (or [`next`] on the whole
//! state), insert the invoice with that number, write the new counter, and
//! commit. A crash or SIGKILL before the commit loses both the invoice and
//! the counter update, so the next attempt reuses the same number: no gap.
//! After the commit both exist: no reuse. Two concurrent runs computing from
//! the same state would get the same number; a `UNIQUE(series, year, seq)`
//! index on invoices (and SQLite's single writer / PostgreSQL `SELECT ... FOR
//! UPDATE` on the counter row) makes the second one fail and retry. Numbers
//! are allocated only when an invoice is stored, never for a preview, and a
//! stored invoice is never deleted (voiding is a credit note), so the
//! sequence stays gapless for the auditor.

use super::error::{BillingError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Digits of the sequence part (wider numbers print in full).
const SEQ_WIDTH: usize = 6;

fn check_series(series: &str) -> Result<()> {
    let ok = (1..=16).contains(&series.len()) && series.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok { Ok(()) } else { Err(BillingError::InvalidSeries(series.chars().take(32).collect())) }
}

fn check_year(year: i32) -> Result<()> {
    if (1..=9999).contains(&year) { Ok(()) } else { Err(BillingError::InvalidYear(year)) }
}

/// An invoice number: series (1-16 of A-Z, 0-9), year, sequence from 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InvoiceNumber {
    series: String,
    year: i32,
    seq: u64,
}

impl InvoiceNumber {
    /// The series.
    pub fn series(&self) -> &str {
        &self.series
    }
    /// The year.
    pub fn year(&self) -> i32 {
        self.year
    }
    /// The sequence number within series and year (1, 2, ...).
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for InvoiceNumber {
    /// `INV-2026-000123`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:04}-{:0w$}", self.series, self.year, self.seq, w = SEQ_WIDTH)
    }
}

impl FromStr for InvoiceNumber {
    type Err = BillingError;
    /// The inverse of `Display`, and only that (`INV-2026-123` is refused).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || BillingError::InvalidInvoiceNumber(s.chars().take(64).collect());
        let mut it = s.rsplitn(3, '-');
        let (seq, year, series) = (it.next().ok_or_else(bad)?, it.next().ok_or_else(bad)?, it.next().ok_or_else(bad)?);
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(seq) || !digits(year) || year.len() != 4 {
            return Err(bad());
        }
        let n = InvoiceNumber {
            series: series.to_owned(),
            year: year.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        };
        check_series(&n.series).map_err(|_| bad())?;
        check_year(n.year).map_err(|_| bad())?;
        if n.seq == 0 || n.to_string() != s {
            return Err(bad());
        }
        Ok(n)
    }
}

impl TryFrom<String> for InvoiceNumber {
    type Error = BillingError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<InvoiceNumber> for String {
    fn from(n: InvoiceNumber) -> String {
        n.to_string()
    }
}

/// The last number issued in one series and year (one row per pair).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeriesCounter {
    /// The series.
    pub series: String,
    /// The year.
    pub year: i32,
    /// The last sequence number issued (0 = none yet).
    pub last: u64,
}

impl SeriesCounter {
    /// A counter with nothing issued yet.
    pub fn new(series: &str, year: i32) -> Result<SeriesCounter> {
        check_series(series)?;
        check_year(year)?;
        Ok(SeriesCounter { series: series.to_owned(), year, last: 0 })
    }

    /// The next number and the counter to persist with it.
    pub fn next(&self) -> Result<(InvoiceNumber, SeriesCounter)> {
        check_series(&self.series)?;
        check_year(self.year)?;
        let seq = self.last.checked_add(1).ok_or(BillingError::Overflow)?;
        let n = InvoiceNumber { series: self.series.clone(), year: self.year, seq };
        Ok((n, SeriesCounter { last: seq, ..self.clone() }))
    }
}

/// Every counter, by (series, year).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberingState {
    counters: Vec<SeriesCounter>,
}

impl NumberingState {
    /// Rebuilds the state from stored counter rows (any order; a duplicate
    /// pair or an invalid series/year is an error).
    pub fn from_counters(mut counters: Vec<SeriesCounter>) -> Result<NumberingState> {
        for c in &counters {
            check_series(&c.series)?;
            check_year(c.year)?;
        }
        counters.sort_by(|a, b| (&a.series, a.year).cmp(&(&b.series, b.year)));
        if let Some(w) = counters.windows(2).find(|w| (&w[0].series, w[0].year) == (&w[1].series, w[1].year)) {
            return Err(BillingError::InvalidSeries(format!("{} {} twice", w[0].series, w[0].year)));
        }
        Ok(NumberingState { counters })
    }

    /// The counters, by (series, year).
    pub fn counters(&self) -> &[SeriesCounter] {
        &self.counters
    }

    /// The last number issued in `series`/`year` (0 = none).
    pub fn last(&self, series: &str, year: i32) -> u64 {
        self.find(series, year).map_or(0, |i| self.counters[i].last)
    }

    fn find(&self, series: &str, year: i32) -> std::result::Result<usize, usize> {
        self.counters.binary_search_by(|c| (c.series.as_str(), c.year).cmp(&(series, year)))
    }
}

/// The next number of `series`/`year` after `state`, and the state to
/// persist with it (see the module doc for the transaction contract).
pub fn next(state: &NumberingState, series: &str, year: i32) -> Result<(InvoiceNumber, NumberingState)> {
    let (n, counter) = match state.find(series, year) {
        Ok(i) => state.counters[i].next()?,
        Err(_) => SeriesCounter::new(series, year)?.next()?,
    };
    let mut new = state.clone();
    match new.find(series, year) {
        Ok(i) => new.counters[i] = counter,
        Err(i) => new.counters.insert(i, counter),
    }
    Ok((n, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn numbers() {
        let s = NumberingState::default();
        let (a, s) = next(&s, "INV", 2026).unwrap();
        assert_eq!(a.to_string(), "INV-2026-000001");
        let (b, s) = next(&s, "INV", 2026).unwrap();
        let (c, s) = next(&s, "INV", 2027).unwrap();
        let (d, s) = next(&s, "CN", 2026).unwrap();
        assert_eq!((b.seq(), c.seq(), d.seq()), (2, 1, 1));
        assert_eq!(s.last("INV", 2026), 2);
        assert_eq!(s.last("XX", 2026), 0);
        assert_eq!(s.counters().iter().map(|c| c.series.as_str()).collect::<Vec<_>>(), vec!["CN", "INV", "INV"]);
        let big = SeriesCounter { series: "INV".into(), year: 2026, last: 999_999 };
        assert_eq!(big.next().unwrap().0.to_string(), "INV-2026-1000000");
        assert_eq!("INV-2026-1000000".parse::<InvoiceNumber>().unwrap().seq(), 1_000_000);
        let max = SeriesCounter { last: u64::MAX, ..big };
        assert_eq!(max.next(), Err(BillingError::Overflow));
        for bad in [
            "",
            "INV",
            "INV-2026",
            "INV-2026-123",
            "INV-2026-000000",
            "inv-2026-000001",
            "INV-26-000001",
            "INV-2026-00000a",
            "-2026-000001",
            "I-NV-2026-000001",
            "INV-0000-000001",
            "ABCDEFGHIJKLMNOPQ-2026-000001",
        ] {
            assert!(bad.parse::<InvoiceNumber>().is_err(), "{bad}");
        }
        assert!(next(&NumberingState::default(), "inv", 2026).is_err());
        assert!(next(&NumberingState::default(), "", 2026).is_err());
        assert!(next(&NumberingState::default(), "INV", 0).is_err());
        assert!(next(&NumberingState::default(), "INV", 10_000).is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#""INV-2026-000001""#);
        assert_eq!(serde_json::from_str::<InvoiceNumber>(&json).unwrap(), a);
        assert!(serde_json::from_str::<InvoiceNumber>(r#""INV-2026-1""#).is_err());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<NumberingState>(&json).unwrap(), s);
        let dup = vec![SeriesCounter::new("A", 2026).unwrap(), SeriesCounter::new("A", 2026).unwrap()];
        assert!(NumberingState::from_counters(dup).is_err());
        let rebuilt = NumberingState::from_counters(s.counters().iter().rev().cloned().collect()).unwrap();
        assert_eq!(rebuilt, s);
    }

    proptest! {
        /// Allocations that commit or "crash" (their new state discarded,
        /// as a rolled-back transaction): per series and year the committed
        /// numbers are 1, 2, 3, ... with no gap and no duplicate.
        #[test]
        fn committed_numbers_are_gapless(ops in prop::collection::vec((0usize..3, 2025i32..2028, any::<bool>()), 0..200)) {
            const SERIES: [&str; 3] = ["INV", "CN", "PRO"];
            let mut committed = NumberingState::default();
            let mut issued: BTreeMap<(String, i32), Vec<u64>> = BTreeMap::new();
            for (s, y, commit) in ops {
                let (n, new) = next(&committed, SERIES[s], y).unwrap();
                prop_assert_eq!(n.to_string().parse::<InvoiceNumber>().unwrap(), n.clone());
                if commit {
                    committed = new;
                    issued.entry((SERIES[s].to_owned(), y)).or_default().push(n.seq());
                }
            }
            for ((s, y), seqs) in &issued {
                prop_assert_eq!(seqs.clone(), (1..=seqs.len() as u64).collect::<Vec<_>>());
                prop_assert_eq!(committed.last(s, *y), seqs.len() as u64);
            }
            prop_assert_eq!(committed.counters().len(), issued.len());
        }

        #[test]
        fn parsing_never_panics(s in ".{0,40}") {
            if let Ok(n) = s.parse::<InvoiceNumber>() {
                prop_assert_eq!(n.to_string(), s);
            }
        }

        #[test]
        fn allocation_never_panics(series in ".{0,20}", year in any::<i32>(), last in any::<u64>()) {
            let c = SeriesCounter { series: series.clone(), year, last };
            let _ = c.next();
            let _ = next(&NumberingState::default(), &series, year);
        }
    }
}
