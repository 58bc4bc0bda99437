//! Calendar pieces: half-open date ranges, the customer's billing day and
//! the monthly billing periods it defines.

use super::error::{BillingError, Result};
use jiff::Span;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Serde for `jiff::civil::Date` as an ISO `YYYY-MM-DD` string (jiff's own
/// serde feature is not enabled for this crate; this keeps the serialized
/// form exactly as it always was, including years before 1).
pub mod iso_date {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// `YYYY-MM-DD` (years before 1 get a leading `-`).
    pub fn format(d: Date) -> String {
        let y = d.year();
        let sign = if y < 0 { "-" } else { "" };
        format!("{sign}{:04}-{:02}-{:02}", y.unsigned_abs(), d.month(), d.day())
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
        let y: i16 = y.parse().ok()?;
        Date::new(if neg { -y } else { y }, m.parse().ok()?, d.parse().ok()?).ok()
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
        use jiff::civil::Date;
        use serde::{Deserialize, Deserializer, Serializer, de::Error};

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
        use jiff::civil::Date;
        use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

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
    // A civil date difference is a whole number of 24-hour days (|days| < 2^23).
    b.duration_since(a).as_hours() / 24
}

/// `d` plus `n` days, or an error past the calendar's end.
pub fn add_days(d: Date, n: i64) -> Result<Date> {
    // A span of days only: plain day arithmetic, no month clamping.
    let span = Span::new().try_days(n).map_err(|_| BillingError::DateOutOfRange)?;
    d.checked_add(span).map_err(|_| BillingError::DateOutOfRange)
}

/// The Julian day number of `d` (2000-01-01 is 2451545), as the invoice
/// content hash has always used it.
pub(crate) fn julian_day(d: Date) -> i64 {
    const J2000: Date = jiff::civil::date(2000, 1, 1);
    2_451_545 + days_between(J2000, d)
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
        let last = self.end.yesterday().unwrap_or(self.end);
        let m = |d: Date| &MONTHS[usize::from(d.month().unsigned_abs()) - 1]; // month() is 1..=12
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

    /// This billing day in `year`/`month` (month 1..=12; any other month,
    /// or a year outside the calendar, is [`BillingError::DateOutOfRange`]).
    pub fn in_month(self, year: i16, month: i8) -> Result<Date> {
        Date::new(year, month, self.day()).map_err(|_| BillingError::DateOutOfRange)
    }

    /// The day as jiff's day-of-month type (1..=28 always fits).
    fn day(self) -> i8 {
        self.0 as i8
    }
}

/// `(year, month)` moved by `delta` months (month 1..=12, else an error).
fn shift_month(year: i16, month: i8, delta: i32) -> Result<(i16, i8)> {
    if !(1..=12).contains(&month) {
        return Err(BillingError::DateOutOfRange);
    }
    let idx = i64::from(year) * 12 + i64::from(month) - 1 + i64::from(delta);
    let y = i16::try_from(idx.div_euclid(12)).map_err(|_| BillingError::DateOutOfRange)?;
    let m = idx.rem_euclid(12) as i8 + 1; // 1..=12
    Ok((y, m))
}

/// The monthly billing period `[start, end)` that contains `date`: it starts
/// on the latest billing day on or before `date` and ends on the next one
/// (so it has 28 to 31 days).
pub fn period_containing(day: BillingDay, date: Date) -> Result<DateRange> {
    let (y, m) =
        if date.day() >= day.day() { (date.year(), date.month()) } else { shift_month(date.year(), date.month(), -1)? };
    period_starting(day, y, m)
}

/// The period that starts on the billing day of `year`/`month` (month
/// 1..=12, else [`BillingError::DateOutOfRange`]).
pub fn period_starting(day: BillingDay, year: i16, month: i8) -> Result<DateRange> {
    let start = day.in_month(year, month)?;
    let (ny, nm) = shift_month(year, month, 1)?;
    Ok(DateRange { start, end: day.in_month(ny, nm)? })
}

/// The period after `p` (for the same billing day; `p` must be a billing
/// period, i.e. start on a day 1..=28).
pub fn next_period(p: DateRange) -> Result<DateRange> {
    let day = BillingDay::new(p.start.day().unsigned_abs())?; // day() is 1..=31
    let (y, m) = shift_month(p.start.year(), p.start.month(), 1)?;
    period_starting(day, y, m)
}

/// The first billing day on or after `today`: the date of the customer's
/// next invoice run (the run on date R bills the period starting on R).
pub fn next_run_date(day: BillingDay, today: Date) -> Result<Date> {
    if today.day() <= day.day() {
        day.in_month(today.year(), today.month())
    } else {
        let (y, m) = shift_month(today.year(), today.month(), 1)?;
        day.in_month(y, m)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    pub fn any_date() -> impl Strategy<Value = Date> {
        (0..=days_between(Date::MIN, Date::MAX)).prop_map(|n| add_days(Date::MIN, n).unwrap())
    }

    #[test]
    fn periods() {
        let d5 = BillingDay::new(5).unwrap();
        let p = period_containing(d5, date(2026, 3, 4)).unwrap();
        assert_eq!((p.start(), p.end(), p.days()), (date(2026, 2, 5), date(2026, 3, 5), 28));
        let p = period_containing(d5, date(2026, 3, 5)).unwrap();
        assert_eq!((p.start(), p.end(), p.days()), (date(2026, 3, 5), date(2026, 4, 5), 31));
        let p = period_containing(BillingDay::new(1).unwrap(), date(2024, 2, 29)).unwrap();
        assert_eq!(p.days(), 29);
        let p = period_containing(BillingDay::new(28).unwrap(), date(2026, 1, 3)).unwrap();
        assert_eq!((p.start(), p.end()), (date(2025, 12, 28), date(2026, 1, 28)));
        assert_eq!(next_period(p).unwrap().start(), date(2026, 1, 28));
        assert_eq!(next_run_date(d5, date(2026, 3, 5)).unwrap(), date(2026, 3, 5));
        assert_eq!(next_run_date(d5, date(2026, 3, 6)).unwrap(), date(2026, 4, 5));
        assert_eq!(next_run_date(d5, date(2026, 12, 31)).unwrap(), date(2027, 1, 5));
        assert!(BillingDay::new(0).is_err());
        assert!(BillingDay::new(29).is_err());
        assert_eq!(period_containing(d5, Date::MAX), Err(BillingError::DateOutOfRange));
        assert_eq!(period_containing(d5, Date::MIN), Err(BillingError::DateOutOfRange));
    }

    #[test]
    fn labels_and_serde() {
        let r = DateRange::new(date(2026, 3, 1), date(2026, 3, 15)).unwrap();
        assert_eq!(r.label(), "1-14 Mar");
        let r = DateRange::new(date(2026, 3, 15), date(2026, 4, 15)).unwrap();
        assert_eq!(r.label(), "15 Mar-14 Apr");
        let r = DateRange::new(date(2026, 3, 15), date(2026, 3, 16)).unwrap();
        assert_eq!(r.label(), "15 Mar");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"start":"2026-03-15","end":"2026-03-16"}"#);
        assert_eq!(serde_json::from_str::<DateRange>(&json).unwrap(), r);
        assert!(serde_json::from_str::<DateRange>(r#"{"start":"2026-03-15","end":"2026-03-14"}"#).is_err());
        assert!(serde_json::from_str::<DateRange>(r#"{"start":"2026-02-30","end":"2026-03-14"}"#).is_err());
        assert!(serde_json::from_str::<BillingDay>("29").is_err());
        assert!(DateRange::new(date(2026, 3, 2), date(2026, 3, 1)).is_err());
        for bad in ["", "2026-3-01", "2026-03-01-", "+2026-03-01", "2026-03-0x", "20260301", "-"] {
            assert_eq!(iso_date::parse(bad), None, "{bad}");
        }
    }

    /// Values the content hash, the error messages and the range checks have
    /// always had (computed when the core still used the `time` crate).
    #[test]
    fn julian_days_edges_and_month_numbers() {
        assert_eq!(julian_day(Date::MIN), -1_930_999);
        assert_eq!(julian_day(date(-1, 12, 31)), 1_721_059);
        assert_eq!(julian_day(date(0, 1, 1)), 1_721_060);
        assert_eq!(julian_day(date(2000, 1, 1)), 2_451_545);
        assert_eq!(julian_day(date(2026, 3, 1)), 2_461_101);
        assert_eq!(julian_day(Date::MAX), 5_373_484);
        assert_eq!(iso_date::format(date(-1, 12, 31)), "-0001-12-31");
        assert_eq!(iso_date::parse("-0001-12-31"), Some(date(-1, 12, 31)));
        let e = BillingError::InvalidRange { start: Date::MIN, end: date(-1, 12, 31) };
        assert_eq!(e.to_string(), "invalid date range -9999-01-01..-0001-12-31");
        assert_eq!(add_days(Date::MAX, 1), Err(BillingError::DateOutOfRange));
        assert_eq!(add_days(Date::MIN, -1), Err(BillingError::DateOutOfRange));
        assert_eq!(add_days(Date::MIN, days_between(Date::MIN, Date::MAX)), Ok(Date::MAX));
        assert_eq!(add_days(Date::MAX, i64::MAX), Err(BillingError::DateOutOfRange));
        assert_eq!(add_days(Date::MAX, i64::MIN), Err(BillingError::DateOutOfRange));
        let d5 = BillingDay::new(5).unwrap();
        assert_eq!(d5.in_month(2026, 2), Ok(date(2026, 2, 5)));
        for m in [0, 13, -1, i8::MIN, i8::MAX] {
            assert_eq!(d5.in_month(2026, m), Err(BillingError::DateOutOfRange), "{m}");
            assert_eq!(period_starting(d5, 2026, m), Err(BillingError::DateOutOfRange), "{m}");
        }
        for y in [i16::MIN, -10_000, 10_000, i16::MAX] {
            assert_eq!(period_starting(d5, y, 12), Err(BillingError::DateOutOfRange), "{y}");
        }
        assert_eq!(period_starting(d5, 9999, 12), Err(BillingError::DateOutOfRange));
        assert_eq!(period_starting(d5, 9999, 11).map(|p| p.end()), Ok(date(9999, 12, 5)));
    }

    proptest! {
        #[test]
        fn period_contains_date(day in 1u8..=28, d in any_date()) {
            let day = BillingDay::new(day).unwrap();
            let dom = i8::try_from(day.get()).unwrap(); // jiff's day of month is an i8
            if let Ok(p) = period_containing(day, d) {
                prop_assert!(p.contains(d));
                prop_assert!((28..=31).contains(&p.days()));
                prop_assert_eq!(p.start().day(), dom);
                prop_assert_eq!(p.end().day(), dom);
                if let Ok(n) = next_period(p) {
                    prop_assert_eq!(n.start(), p.end());
                }
                let r = next_run_date(day, d);
                if let Ok(r) = r {
                    prop_assert!(r >= d && days_between(d, r) <= 31 && r.day() == dom);
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
