//! Calendar pieces: half-open date ranges, the customer's billing day and
//! the monthly billing periods it defines.

use super::error::{BillingError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Date, Month};

/// Serde for `time::Date` as an ISO `YYYY-MM-DD` string (the crate's own
/// serde feature is not enabled in this workspace).
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::{Date, Month};

    /// `YYYY-MM-DD` (years before 1 get a leading `-`).
    pub fn format(d: Date) -> String {
        let y = d.year();
        let sign = if y < 0 { "-" } else { "" };
        format!("{sign}{:04}-{:02}-{:02}", y.unsigned_abs(), u8::from(d.month()), d.day())
    }

    /// The inverse of [`format`]; `None` for anything else.
    pub fn parse(s: &str) -> Option<Date> {
        let (neg, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let mut it = rest.split('-');
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if !(digits(y) && digits(m) && digits(d)) {
            return None;
        }
        let y: i32 = y.parse().ok()?;
        let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
        Date::from_calendar_date(if neg { -y } else { y }, month, d.parse().ok()?).ok()
    }

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| D::Error::custom(format!("invalid date {s:?} (want YYYY-MM-DD)")))
    }

    /// The same for `Option<Date>` (`null` for `None`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};
        use time::Date;

        pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&super::format(*d)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(s) => super::parse(&s)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(format!("invalid date {s:?} (want YYYY-MM-DD)"))),
            }
        }
    }

    /// The same for `Vec<Date>`.
    pub mod vec {
        use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};
        use time::Date;

        pub fn serialize<S: Serializer>(v: &[Date], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for d in v {
                seq.serialize_element(&super::format(*d))?;
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Date>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|s| super::parse(s).ok_or_else(|| D::Error::custom(format!("invalid date {s:?}"))))
                .collect()
        }
    }
}

/// Days from `a` to `b` (negative when `b` is earlier).
pub fn days_between(a: Date, b: Date) -> i64 {
    i64::from(b.to_julian_day()) - i64::from(a.to_julian_day())
}

/// `d` plus `n` days, or an error past the calendar's end.
pub fn add_days(d: Date, n: i64) -> Result<Date> {
    let j = i64::from(d.to_julian_day()).checked_add(n).ok_or(BillingError::DateOutOfRange)?;
    i32::try_from(j).ok().and_then(|j| Date::from_julian_day(j).ok()).ok_or(BillingError::DateOutOfRange)
}

/// `[start, end)`: the days from `start` up to but not including `end`.
/// `start <= end` always holds (an empty range has `start == end`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RangeRepr", into = "RangeRepr")]
pub struct DateRange {
    start: Date,
    end: Date,
}

#[derive(Serialize, Deserialize)]
struct RangeRepr {
    #[serde(with = "iso_date")]
    start: Date,
    #[serde(with = "iso_date")]
    end: Date,
}

impl TryFrom<RangeRepr> for DateRange {
    type Error = BillingError;
    fn try_from(r: RangeRepr) -> Result<Self> {
        DateRange::new(r.start, r.end)
    }
}

impl From<DateRange> for RangeRepr {
    fn from(r: DateRange) -> Self {
        RangeRepr { start: r.start, end: r.end }
    }
}

impl DateRange {
    /// `[start, end)`; an error when `end < start`.
    pub fn new(start: Date, end: Date) -> Result<DateRange> {
        if end < start {
            return Err(BillingError::InvalidRange { start, end });
        }
        Ok(DateRange { start, end })
    }

    /// First day.
    pub fn start(&self) -> Date {
        self.start
    }

    /// First day after the range.
    pub fn end(&self) -> Date {
        self.end
    }

    /// Number of days.
    pub fn days(&self) -> u32 {
        days_between(self.start, self.end) as u32 // start <= end, span < 2^23 days
    }

    /// Whether it has no day.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether `d` is one of its days.
    pub fn contains(&self, d: Date) -> bool {
        self.start <= d && d < self.end
    }

    /// The days in both, if any.
    pub fn intersect(&self, other: &DateRange) -> Option<DateRange> {
        let (s, e) = (self.start.max(other.start), self.end.min(other.end));
        (s < e).then_some(DateRange { start: s, end: e })
    }

    /// `1-14 Mar`, `15 Mar-14 Apr`, `3 Mar` (inclusive last day, as people
    /// read it; the year is the invoice's business). Empty: `-`.
    pub fn label(&self) -> String {
        if self.is_empty() {
            return "-".into();
        }
        let last = self.end.previous_day().unwrap_or(self.end);
        let m = |d: Date| &MONTHS[usize::from(u8::from(d.month())) - 1];
        if last == self.start {
            format!("{} {}", self.start.day(), m(last))
        } else if (self.start.year(), self.start.month()) == (last.year(), last.month()) {
            format!("{}-{} {}", self.start.day(), last.day(), m(last))
        } else {
            format!("{} {}-{} {}", self.start.day(), m(self.start), last.day(), m(last))
        }
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

impl fmt::Debug for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", iso_date::format(self.start), iso_date::format(self.end))
    }
}

/// The day of the month a customer's periods start on, 1..=28 (so that
/// every month has it: no "31st in February" rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct BillingDay(u8);

impl TryFrom<u8> for BillingDay {
    type Error = BillingError;
    fn try_from(d: u8) -> Result<Self> {
        BillingDay::new(d)
    }
}

impl From<BillingDay> for u8 {
    fn from(d: BillingDay) -> u8 {
        d.0
    }
}

impl BillingDay {
    /// A billing day; an error outside 1..=28.
    pub fn new(day: u8) -> Result<BillingDay> {
        if (1..=28).contains(&day) { Ok(BillingDay(day)) } else { Err(BillingError::InvalidBillingDay(day)) }
    }

    /// The day of the month.
    pub fn get(self) -> u8 {
        self.0
    }

    /// This billing day in `year`/`month`.
    pub fn in_month(self, year: i32, month: Month) -> Result<Date> {
        Date::from_calendar_date(year, month, self.0).map_err(|_| BillingError::DateOutOfRange)
    }
}

/// `(year, month)` moved by `delta` months.
fn shift_month(year: i32, month: Month, delta: i32) -> Result<(i32, Month)> {
    let idx = i64::from(year) * 12 + i64::from(u8::from(month)) - 1 + i64::from(delta);
    let y = i32::try_from(idx.div_euclid(12)).map_err(|_| BillingError::DateOutOfRange)?;
    let m = Month::try_from(idx.rem_euclid(12) as u8 + 1).map_err(|_| BillingError::DateOutOfRange)?;
    Ok((y, m))
}

/// The monthly billing period `[start, end)` that contains `date`: it starts
/// on the latest billing day on or before `date` and ends on the next one
/// (so it has 28 to 31 days).
pub fn period_containing(day: BillingDay, date: Date) -> Result<DateRange> {
    let (y, m) =
        if date.day() >= day.0 { (date.year(), date.month()) } else { shift_month(date.year(), date.month(), -1)? };
    period_starting(day, y, m)
}

/// The period that starts on the billing day of `year`/`month`.
pub fn period_starting(day: BillingDay, year: i32, month: Month) -> Result<DateRange> {
    let start = day.in_month(year, month)?;
    let (ny, nm) = shift_month(year, month, 1)?;
    Ok(DateRange { start, end: day.in_month(ny, nm)? })
}

/// The period after `p` (for the same billing day; `p` must be a billing
/// period, i.e. start on a day 1..=28).
pub fn next_period(p: DateRange) -> Result<DateRange> {
    let day = BillingDay::new(p.start.day())?;
    let (y, m) = shift_month(p.start.year(), p.start.month(), 1)?;
    period_starting(day, y, m)
}

/// The first billing day on or after `today`: the date of the customer's
/// next invoice run (the run on date R bills the period starting on R).
pub fn next_run_date(day: BillingDay, today: Date) -> Result<Date> {
    if today.day() <= day.0 {
        day.in_month(today.year(), today.month())
    } else {
        let (y, m) = shift_month(today.year(), today.month(), 1)?;
        day.in_month(y, m)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    pub fn any_date() -> impl Strategy<Value = Date> {
        (Date::MIN.to_julian_day()..=Date::MAX.to_julian_day()).prop_map(|j| Date::from_julian_day(j).unwrap())
    }

    #[test]
    fn periods() {
        let d5 = BillingDay::new(5).unwrap();
        let p = period_containing(d5, date!(2026 - 03 - 04)).unwrap();
        assert_eq!((p.start(), p.end(), p.days()), (date!(2026 - 02 - 05), date!(2026 - 03 - 05), 28));
        let p = period_containing(d5, date!(2026 - 03 - 05)).unwrap();
        assert_eq!((p.start(), p.end(), p.days()), (date!(2026 - 03 - 05), date!(2026 - 04 - 05), 31));
        let p = period_containing(BillingDay::new(1).unwrap(), date!(2024 - 02 - 29)).unwrap();
        assert_eq!(p.days(), 29);
        let p = period_containing(BillingDay::new(28).unwrap(), date!(2026 - 01 - 03)).unwrap();
        assert_eq!((p.start(), p.end()), (date!(2025 - 12 - 28), date!(2026 - 01 - 28)));
        assert_eq!(next_period(p).unwrap().start(), date!(2026 - 01 - 28));
        assert_eq!(next_run_date(d5, date!(2026 - 03 - 05)).unwrap(), date!(2026 - 03 - 05));
        assert_eq!(next_run_date(d5, date!(2026 - 03 - 06)).unwrap(), date!(2026 - 04 - 05));
        assert_eq!(next_run_date(d5, date!(2026 - 12 - 31)).unwrap(), date!(2027 - 01 - 05));
        assert!(BillingDay::new(0).is_err());
        assert!(BillingDay::new(29).is_err());
        assert_eq!(period_containing(d5, Date::MAX), Err(BillingError::DateOutOfRange));
        assert_eq!(period_containing(d5, Date::MIN), Err(BillingError::DateOutOfRange));
    }

    #[test]
    fn labels_and_serde() {
        let r = DateRange::new(date!(2026 - 03 - 01), date!(2026 - 03 - 15)).unwrap();
        assert_eq!(r.label(), "1-14 Mar");
        let r = DateRange::new(date!(2026 - 03 - 15), date!(2026 - 04 - 15)).unwrap();
        assert_eq!(r.label(), "15 Mar-14 Apr");
        let r = DateRange::new(date!(2026 - 03 - 15), date!(2026 - 03 - 16)).unwrap();
        assert_eq!(r.label(), "15 Mar");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"start":"2026-03-15","end":"2026-03-16"}"#);
        assert_eq!(serde_json::from_str::<DateRange>(&json).unwrap(), r);
        assert!(serde_json::from_str::<DateRange>(r#"{"start":"2026-03-15","end":"2026-03-14"}"#).is_err());
        assert!(serde_json::from_str::<DateRange>(r#"{"start":"2026-02-30","end":"2026-03-14"}"#).is_err());
        assert!(serde_json::from_str::<BillingDay>("29").is_err());
        assert!(DateRange::new(date!(2026 - 03 - 02), date!(2026 - 03 - 01)).is_err());
        for bad in ["", "2026-3-01", "2026-03-01-", "+2026-03-01", "2026-03-0x", "20260301", "-"] {
            assert_eq!(iso_date::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn period_contains_date(day in 1u8..=28, d in any_date()) {
            let day = BillingDay::new(day).unwrap();
            if let Ok(p) = period_containing(day, d) {
                prop_assert!(p.contains(d));
                prop_assert!((28..=31).contains(&p.days()));
                prop_assert_eq!(p.start().day(), day.get());
                prop_assert_eq!(p.end().day(), day.get());
                if let Ok(n) = next_period(p) {
                    prop_assert_eq!(n.start(), p.end());
                }
                let r = next_run_date(day, d);
                if let Ok(r) = r {
                    prop_assert!(r >= d && days_between(d, r) <= 31 && r.day() == day.get());
                }
            }
        }

        #[test]
        fn iso_dates_round_trip(d in any_date()) {
            prop_assert_eq!(iso_date::parse(&iso_date::format(d)), Some(d));
        }

        #[test]
        fn iso_parse_never_panics(s in ".{0,16}") {
            let _ = iso_date::parse(&s);
        }
    }
}
