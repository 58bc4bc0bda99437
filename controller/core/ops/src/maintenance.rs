//! Scheduled maintenance windows (pure core: no IO besides the time-zone
//! lookup jiff does once per zone, no clock). Instants are `i64` Unix
//! milliseconds UTC, passed in; intervals are half-open `[start, end)`.
//!
//! Rules (this is the spec):
//! - A [`Window`] covers a site or a device. It starts at a local wall-clock
//!   time `start_local` (`YYYY-MM-DDTHH:MM`) in an IANA zone `tz` and lasts
//!   `duration_minutes` of real time (1 minute ..= 7 days), so a 2-hour window
//!   over a DST change still lasts 2 hours.
//! - Recurrence, each occurrence at the same local time of day:
//!   `once` (the start only); `daily` (every day from the start date);
//!   `weekly:tue,thu` (every listed weekday on or after the start date, which
//!   need not be one of them; at least one day; ranges like `mon-fri`);
//!   `monthly:15` (that day of every month on or after the start date, day
//!   1..=28 so every month has it). `until` (`YYYY-MM-DD`, inclusive, not
//!   before the start date) ends the series: no occurrence starts on a later
//!   local date.
//! - DST: a local start time that does not exist (spring forward) or exists
//!   twice (fall back) is resolved by jiff's *compatible* disambiguation:
//!   in a gap the time is moved forward by the gap's length (02:30 on
//!   America/Chicago's spring-forward day is 03:30 CDT), in a fold the first
//!   (daylight-time) instant is used (01:30 CDT). Two dates that resolve to
//!   the same instant (a skipped day, as Samoa's 2011-12-30) give one
//!   occurrence. Occurrences past jiff's range (year 9999) do not exist.
//! - [`occurrences`] lists the occurrences overlapping `[from, to)` sorted by
//!   start, each start once. It refuses to list more than [`MAX_OCCURRENCES`]
//!   (ask for a shorter range), so its work is bounded.
//! - [`active`]: the windows in progress at `now` (`start <= now < end`).
//!   [`due_notices`]: the occurrences starting in `[now, now + notice_hours)`,
//!   for customers to be told once per `(window_id, occurrence_start)`.
//!   Both skip a window that fails [`Window::validate`] (windows are checked
//!   when saved).
//! - [`describe`]: a one-line human summary, e.g.
//!   `Every Tue 02:00-04:00 America/Chicago until 2027-03-01`.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// The most occurrences one [`occurrences`] call lists.
pub const MAX_OCCURRENCES: usize = 10_000;
/// The longest window: 7 days.
pub const MAX_DURATION_MINUTES: u32 = 7 * 24 * 60;
/// The longest advance notice: 90 days.
pub const MAX_NOTICE_HOURS: u32 = 90 * 24;

/// Why a maintenance window is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintenanceError {
    #[error("unknown time zone {0:?} (use an IANA name such as America/Chicago)")]
    TimeZone(String),
    #[error("invalid start {0:?}: expected a local date and time as YYYY-MM-DDTHH:MM")]
    Start(String),
    #[error("invalid end date {0:?}: expected YYYY-MM-DD")]
    Until(String),
    #[error("the end date {until} is before the start date {start}")]
    UntilBeforeStart { start: String, until: String },
    #[error("duration must be 1 to {MAX_DURATION_MINUTES} minutes (7 days), got {0}")]
    Duration(u32),
    #[error("a weekly window needs at least one day")]
    NoDays,
    #[error("a monthly window needs a day from 1 to 28, got {0}")]
    MonthDay(u32),
    #[error("advance notice must be at most {MAX_NOTICE_HOURS} hours (90 days), got {0}")]
    Notice(u32),
    #[error("invalid recurrence {input:?}: {reason}")]
    Recurrence { input: String, reason: String },
    #[error("more than {MAX_OCCURRENCES} occurrences in the requested range; ask for a shorter range")]
    TooMany,
}

/// What a window covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Site(i64),
    Device(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun];
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const FULL: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

    pub fn as_str(self) -> &'static str {
        Day::NAMES[self as usize]
    }

    /// `tue` or `tuesday`, any case.
    pub fn parse(s: &str) -> Option<Day> {
        let s = s.trim().to_ascii_lowercase();
        let i = Day::NAMES.iter().position(|n| *n == s).or_else(|| Day::FULL.iter().position(|n| *n == s))?;
        Some(Day::ALL[i])
    }

    fn of(d: Date) -> Day {
        Day::ALL[d.weekday().to_monday_zero_offset() as usize]
    }

    /// `Tue`.
    fn title(self) -> &'static str {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][self as usize]
    }
}

/// How a window repeats. Serializes as its string form (`weekly:tue,thu`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Recurrence {
    Once,
    Daily,
    Weekly { days: BTreeSet<Day> },
    Monthly { day: u8 },
}

impl Recurrence {
    /// `once`, `daily`, `weekly:tue,thu` (ranges like `mon-fri` too) or `monthly:15`.
    pub fn parse(input: &str) -> Result<Recurrence, MaintenanceError> {
        let err = |reason: &str| MaintenanceError::Recurrence { input: input.to_string(), reason: reason.to_string() };
        let s = input.trim().to_ascii_lowercase();
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (s.as_str(), None),
        };
        match (kind, arg) {
            ("once", None) => Ok(Recurrence::Once),
            ("daily", None) => Ok(Recurrence::Daily),
            ("weekly", Some(list)) => {
                let mut days = BTreeSet::new();
                for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let day = |s: &str| Day::parse(s).ok_or_else(|| err(&format!("unknown day {s:?}")));
                    match item.split_once('-') {
                        Some((a, b)) => {
                            let (a, b) = (day(a)? as usize, day(b)? as usize);
                            let mut i = a;
                            loop {
                                days.insert(Day::ALL[i]);
                                if i == b {
                                    break;
                                }
                                i = (i + 1) % 7;
                            }
                        }
                        None => {
                            days.insert(day(item)?);
                        }
                    }
                }
                if days.is_empty() {
                    return Err(MaintenanceError::NoDays);
                }
                Ok(Recurrence::Weekly { days })
            }
            ("monthly", Some(n)) => {
                let day: u32 = n.parse().map_err(|_| err("expected monthly:DAY with DAY from 1 to 28"))?;
                if !(1..=28).contains(&day) {
                    return Err(MaintenanceError::MonthDay(day));
                }
                Ok(Recurrence::Monthly { day: day as u8 })
            }
            ("weekly", None) => Err(err("expected weekly:DAYS, e.g. weekly:tue,thu")),
            ("monthly", None) => Err(err("expected monthly:DAY, e.g. monthly:15")),
            _ => Err(err("expected once, daily, weekly:tue,thu or monthly:15")),
        }
    }

    fn check(&self) -> Result<(), MaintenanceError> {
        match self {
            Recurrence::Weekly { days } if days.is_empty() => Err(MaintenanceError::NoDays),
            Recurrence::Monthly { day } if !(1..=28).contains(day) => Err(MaintenanceError::MonthDay(*day as u32)),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recurrence::Once => f.write_str("once"),
            Recurrence::Daily => f.write_str("daily"),
            Recurrence::Weekly { days } => {
                let names: Vec<&str> = days.iter().map(|d| d.as_str()).collect();
                write!(f, "weekly:{}", names.join(","))
            }
            Recurrence::Monthly { day } => write!(f, "monthly:{day}"),
        }
    }
}

impl TryFrom<String> for Recurrence {
    type Error = MaintenanceError;
    fn try_from(s: String) -> Result<Self, MaintenanceError> {
        Recurrence::parse(&s)
    }
}

impl From<Recurrence> for String {
    fn from(r: Recurrence) -> String {
        r.to_string()
    }
}

/// A scheduled maintenance window (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub id: i64,
    pub scope: Scope,
    /// IANA zone of `start_local` and `until`.
    pub tz: String,
    /// `YYYY-MM-DDTHH:MM`, local wall-clock time.
    pub start_local: String,
    pub duration_minutes: u32,
    pub recurrence: Recurrence,
    /// `YYYY-MM-DD`, local, inclusive.
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub notice_hours: u32,
}

/// An occurrence customers should be told about in advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub window_id: i64,
    pub occurrence_start: i64,
    pub occurrence_end: i64,
    pub scope: Scope,
}

/// A validated window.
struct Plan {
    tz: TimeZone,
    start: DateTime,
    until: Option<Date>,
    duration_ms: i64,
}

/// A strict `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return None;
    }
    Date::new(s[0..4].parse().ok()?, s[5..7].parse().ok()?, s[8..10].parse().ok()?).ok()
}

/// A strict `YYYY-MM-DDTHH:MM`.
fn parse_start(s: &str) -> Option<DateTime> {
    let (date, time) = s.split_once('T')?;
    let b = time.as_bytes();
    if b.len() != 5 || b[2] != b':' || !b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit) {
        return None;
    }
    let time = Time::new(time[0..2].parse().ok()?, time[3..5].parse().ok()?, 0, 0).ok()?;
    Some(parse_date(date)?.to_datetime(time))
}

impl Window {
    /// Checks every field; the first problem found.
    pub fn validate(&self) -> Result<(), MaintenanceError> {
        self.plan().map(|_| ())
    }

    fn plan(&self) -> Result<Plan, MaintenanceError> {
        let tz = TimeZone::get(self.tz.trim()).map_err(|_| MaintenanceError::TimeZone(self.tz.clone()))?;
        let start =
            parse_start(self.start_local.trim()).ok_or_else(|| MaintenanceError::Start(self.start_local.clone()))?;
        if !(1..=MAX_DURATION_MINUTES).contains(&self.duration_minutes) {
            return Err(MaintenanceError::Duration(self.duration_minutes));
        }
        self.recurrence.check()?;
        let until = match &self.until {
            None => None,
            Some(u) => {
                let d = parse_date(u.trim()).ok_or_else(|| MaintenanceError::Until(u.clone()))?;
                if d < start.date() {
                    let (start, until) = (start.date().to_string(), d.to_string());
                    return Err(MaintenanceError::UntilBeforeStart { start, until });
                }
                Some(d)
            }
        };
        if self.notice_hours > MAX_NOTICE_HOURS {
            return Err(MaintenanceError::Notice(self.notice_hours));
        }
        Ok(Plan { tz, start, until, duration_ms: self.duration_minutes as i64 * MINUTE })
    }
}

fn timestamp(ms: i64) -> Timestamp {
    // Whole seconds: jiff's millisecond constructor stops at MAX's second.
    let (lo, hi) = (Timestamp::MIN.as_second() * 1000, Timestamp::MAX.as_second() * 1000);
    let fallback = if ms < 0 { Timestamp::MIN } else { Timestamp::MAX };
    Timestamp::from_millisecond(ms.clamp(lo, hi)).unwrap_or(fallback)
}

/// `d` moved by `n` days, stopping at the ends of the calendar.
fn shift(mut d: Date, n: i32) -> Date {
    for _ in 0..n.unsigned_abs() {
        d = if n < 0 { d.yesterday() } else { d.tomorrow() }.unwrap_or(d);
    }
    d
}

/// The occurrences of `w` overlapping `[from_ms, to_ms)`, sorted by start.
pub fn occurrences(w: &Window, from_ms: i64, to_ms: i64) -> Result<Vec<(i64, i64)>, MaintenanceError> {
    let p = w.plan()?;
    if to_ms <= from_ms {
        return Ok(vec![]);
    }
    // A candidate start s overlaps iff from - duration < s < to. Two days of
    // slack on each side cover any offset and DST shift.
    let local_date = |ms: i64| p.tz.to_datetime(timestamp(ms)).date();
    let first = shift(local_date(from_ms.saturating_sub(p.duration_ms)), -2).max(p.start.date());
    let mut last = shift(local_date(to_ms), 2);
    if let Some(u) = p.until {
        last = last.min(u);
    }
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut emit = |d: Date| -> Result<(), MaintenanceError> {
        let Ok(s) = p.tz.to_timestamp(d.to_datetime(p.start.time())) else { return Ok(()) };
        let s = s.as_millisecond();
        let e = s + p.duration_ms;
        if s < to_ms && e > from_ms {
            if out.len() >= MAX_OCCURRENCES {
                return Err(MaintenanceError::TooMany);
            }
            out.push((s, e));
        }
        Ok(())
    };
    match &w.recurrence {
        Recurrence::Once => {
            if p.until.is_none_or(|u| p.start.date() <= u) {
                emit(p.start.date())?;
            }
        }
        Recurrence::Daily | Recurrence::Weekly { .. } => {
            let mut d = first;
            while d <= last {
                let on = match &w.recurrence {
                    Recurrence::Weekly { days } => days.contains(&Day::of(d)),
                    _ => true,
                };
                if on {
                    emit(d)?;
                }
                match d.tomorrow() {
                    Ok(next) => d = next,
                    Err(_) => break,
                }
            }
        }
        Recurrence::Monthly { day } => {
            let (mut y, mut m) = (first.year(), first.month());
            while let Ok(d) = Date::new(y, m, *day as i8) {
                if d > last {
                    break;
                }
                if d >= first {
                    emit(d)?;
                }
                (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            }
        }
    }
    out.sort_unstable();
    out.dedup_by_key(|o| o.0);
    Ok(out)
}

/// What is under maintenance at `now`: the scope and when its window ends.
/// In the order of `windows`; invalid windows are skipped.
pub fn active(windows: &[Window], now: i64) -> Vec<(Scope, i64)> {
    let mut out = Vec::new();
    for w in windows {
        for (_, end) in occurrences(w, now, now.saturating_add(1)).unwrap_or_default() {
            out.push((w.scope, end));
        }
    }
    out
}

/// Occurrences starting within `notice_hours` from `now` (`now <= start <
/// now + notice_hours`), sorted by start then window id. Invalid windows are skipped.
pub fn due_notices(windows: &[Window], now: i64) -> Vec<Notice> {
    let mut out = Vec::new();
    for w in windows.iter().filter(|w| w.notice_hours > 0) {
        let horizon = now.saturating_add(w.notice_hours as i64 * HOUR);
        for (s, e) in occurrences(w, now, horizon).unwrap_or_default() {
            if s >= now && s < horizon {
                out.push(Notice { window_id: w.id, occurrence_start: s, occurrence_end: e, scope: w.scope });
            }
        }
    }
    out.sort_by_key(|n| (n.occurrence_start, n.window_id));
    out
}

fn ordinal(n: u8) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A one-line summary: `Every Tue 02:00-04:00 America/Chicago until 2027-03-01`.
pub fn describe(w: &Window) -> String {
    let p = match w.plan() {
        Ok(p) => p,
        Err(e) => return format!("Invalid maintenance window: {e}"),
    };
    let start = p.start;
    let end_minutes = start.hour() as i64 * 60 + start.minute() as i64 + w.duration_minutes as i64;
    let days_later = end_minutes / 1440;
    let mut span =
        format!("{:02}:{:02}-{:02}:{:02}", start.hour(), start.minute(), end_minutes % 1440 / 60, end_minutes % 60);
    match days_later {
        0 => {}
        1 => span.push_str(" (+1 day)"),
        n => span.push_str(&format!(" (+{n} days)")),
    }
    let when = match &w.recurrence {
        Recurrence::Once => format!("Once on {}", start.date()),
        Recurrence::Daily => "Every day".to_string(),
        Recurrence::Weekly { days } => {
            let names: Vec<&str> = days.iter().map(|d| d.title()).collect();
            format!("Every {}", names.join(", "))
        }
        Recurrence::Monthly { day } => format!("Every month on the {}", ordinal(*day)),
    };
    let mut text = format!("{when} {span} {}", w.tz.trim());
    if let (Some(u), false) = (p.until, w.recurrence == Recurrence::Once) {
        text.push_str(&format!(" until {u}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 24 * HOUR;

    fn at(tz: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        let zone = TimeZone::get(tz).unwrap();
        zone.to_timestamp(jiff::civil::date(y, mo, d).at(h, mi, 0, 0)).unwrap().as_millisecond()
    }

    fn utc(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn window(tz: &str, start: &str, minutes: u32, rec: &str, until: Option<&str>) -> Window {
        Window {
            id: 1,
            scope: Scope::Site(7),
            tz: tz.into(),
            start_local: start.into(),
            duration_minutes: minutes,
            recurrence: Recurrence::parse(rec).unwrap(),
            until: until.map(Into::into),
            notice_hours: 0,
        }
    }

    #[test]
    fn recurrence_parses_and_prints() {
        assert_eq!(Recurrence::parse("once").unwrap(), Recurrence::Once);
        assert_eq!(Recurrence::parse(" Daily ").unwrap(), Recurrence::Daily);
        let tue_thu = Recurrence::Weekly { days: [Day::Tue, Day::Thu].into() };
        assert_eq!(Recurrence::parse("weekly:thu, Tuesday").unwrap(), tue_thu);
        assert_eq!(tue_thu.to_string(), "weekly:tue,thu");
        assert_eq!(Recurrence::parse("weekly:sat-mon").unwrap().to_string(), "weekly:mon,sat,sun");
        assert_eq!(Recurrence::parse("monthly:15").unwrap(), Recurrence::Monthly { day: 15 });
        assert_eq!(Recurrence::parse("weekly:").unwrap_err(), MaintenanceError::NoDays);
        assert_eq!(Recurrence::parse("monthly:31").unwrap_err(), MaintenanceError::MonthDay(31));
        assert_eq!(Recurrence::parse("monthly:0").unwrap_err(), MaintenanceError::MonthDay(0));
        for bad in ["", "yearly", "weekly", "weekly:funday", "monthly", "monthly:x", "once:3", "daily:mon"] {
            let e = Recurrence::parse(bad).unwrap_err();
            assert!(matches!(e, MaintenanceError::Recurrence { .. }), "{bad:?}: {e:?}");
        }
        let json = serde_json::to_string(&tue_thu).unwrap();
        assert_eq!(json, r#""weekly:tue,thu""#);
        assert_eq!(serde_json::from_str::<Recurrence>(&json).unwrap(), tue_thu);
        assert!(serde_json::from_str::<Recurrence>(r#""monthly:30""#).is_err());
    }

    #[test]
    fn validate_reports_each_problem() {
        let ok = window("America/Chicago", "2026-03-03T02:00", 120, "weekly:tue", Some("2027-03-01"));
        assert_eq!(ok.validate(), Ok(()));
        let with = |f: &dyn Fn(&mut Window)| {
            let mut w = ok.clone();
            f(&mut w);
            w.validate().unwrap_err()
        };
        assert_eq!(with(&|w| w.tz = "Moon/Base".into()), MaintenanceError::TimeZone("Moon/Base".into()));
        for bad in
            ["2026-03-03 02:00", "2026-02-30T02:00", "2026-03-03T24:00", "2026-03-03T2:00", "2026-03-03T02:00:00", ""]
        {
            assert_eq!(with(&|w| w.start_local = bad.into()), MaintenanceError::Start(bad.into()), "{bad:?}");
        }
        assert_eq!(with(&|w| w.duration_minutes = 0), MaintenanceError::Duration(0));
        assert_eq!(with(&|w| w.duration_minutes = 10_081), MaintenanceError::Duration(10_081));
        assert_eq!(with(&|w| w.until = Some("2027-02-30".into())), MaintenanceError::Until("2027-02-30".into()));
        assert_eq!(
            with(&|w| w.until = Some("2026-03-02".into())),
            MaintenanceError::UntilBeforeStart { start: "2026-03-03".into(), until: "2026-03-02".into() }
        );
        assert_eq!(with(&|w| w.recurrence = Recurrence::Weekly { days: BTreeSet::new() }), MaintenanceError::NoDays);
        assert_eq!(with(&|w| w.recurrence = Recurrence::Monthly { day: 29 }), MaintenanceError::MonthDay(29));
        assert_eq!(with(&|w| w.notice_hours = 5000), MaintenanceError::Notice(5000));
        let msg = with(&|w| w.duration_minutes = 0).to_string();
        assert!(msg.contains("1 to 10080 minutes"), "{msg}");
        // A same-day until is fine, and so is the longest duration.
        let mut w = ok.clone();
        w.until = Some("2026-03-03".into());
        w.duration_minutes = MAX_DURATION_MINUTES;
        assert_eq!(w.validate(), Ok(()));
        assert!(occurrences(&with_tz("Nowhere"), 0, 1).is_err());
    }

    fn with_tz(tz: &str) -> Window {
        window(tz, "2026-01-01T00:00", 60, "daily", None)
    }

    #[test]
    fn weekly_across_dst_keeps_local_time_with_compatible_disambiguation() {
        let tz = "America/Chicago";
        // Sundays 02:30: 2026-03-08 has no 02:30 (02:00 CST jumps to 03:00 CDT).
        let w = window(tz, "2026-03-01T02:30", 60, "weekly:sun", None);
        let occ = occurrences(&w, utc("2026-02-28T00:00Z"), utc("2026-03-20T00:00Z")).unwrap();
        let starts: Vec<i64> = occ.iter().map(|o| o.0).collect();
        assert_eq!(
            starts,
            vec![
                utc("2026-03-01T08:30Z"), // 02:30 CST
                utc("2026-03-08T08:30Z"), // moved forward by the gap: 03:30 CDT
                utc("2026-03-15T07:30Z"), // 02:30 CDT
            ]
        );
        assert!(occ.iter().all(|(s, e)| e - s == HOUR), "duration is real time");
        // Sundays 01:30 on 2026-11-01 happen twice: the first (CDT) one is used.
        let w = window(tz, "2026-10-25T01:30", 120, "weekly:sun", None);
        let occ = occurrences(&w, utc("2026-10-24T00:00Z"), utc("2026-11-09T00:00Z")).unwrap();
        let starts: Vec<i64> = occ.iter().map(|o| o.0).collect();
        assert_eq!(starts, vec![utc("2026-10-25T06:30Z"), utc("2026-11-01T06:30Z"), utc("2026-11-08T07:30Z")]);
        assert_eq!(occ[1].1, utc("2026-11-01T08:30Z"), "two real hours: ends at 02:30 CST, not 03:30");
    }

    #[test]
    fn monthly_on_the_15th() {
        let tz = "America/Chicago";
        // Starts after January 15: the first occurrence is February 15; until is inclusive.
        let w = window(tz, "2026-01-20T03:00", 90, "monthly:15", Some("2026-05-15"));
        let occ = occurrences(&w, 0, utc("2030-01-01T00:00Z")).unwrap();
        let expected: Vec<(i64, i64)> = [(2, 15), (3, 15), (4, 15), (5, 15)]
            .iter()
            .map(|&(m, d)| at(tz, 2026, m, d, 3, 0))
            .map(|s| (s, s + 90 * MINUTE))
            .collect();
        assert_eq!(occ, expected);
        assert_eq!(occ[0].0, utc("2026-02-15T09:00Z"), "CST");
        assert_eq!(occ[1].0, utc("2026-03-15T08:00Z"), "CDT");
        assert_eq!(describe(&w), "Every month on the 15th 03:00-04:30 America/Chicago until 2026-05-15");
    }

    #[test]
    fn once_daily_and_ranges() {
        let w = window("UTC", "2026-05-01T22:00", 240, "once", None);
        let (s, e) = (utc("2026-05-01T22:00Z"), utc("2026-05-02T02:00Z"));
        assert_eq!(occurrences(&w, 0, i64::MAX).unwrap(), vec![(s, e)]);
        assert_eq!(occurrences(&w, e - 1, e).unwrap(), vec![(s, e)], "overlapping the range is enough");
        assert_eq!(occurrences(&w, e, i64::MAX).unwrap(), vec![], "the end is not inside");
        assert_eq!(occurrences(&w, 0, s).unwrap(), vec![], "nor is the start of the range's end");
        assert_eq!(occurrences(&w, s + 10, s).unwrap(), vec![], "an inverted range is empty");
        assert_eq!(describe(&w), "Once on 2026-05-01 22:00-02:00 (+1 day) UTC");

        let d = window("Europe/London", "2026-03-27T00:30", 30, "daily", Some("2026-03-31"));
        let occ = occurrences(&d, i64::MIN, i64::MAX).unwrap();
        let starts: Vec<i64> = occ.iter().map(|o| o.0).collect();
        // London springs forward on 2026-03-29 at 01:00 GMT.
        assert_eq!(
            starts,
            ["2026-03-27T00:30Z", "2026-03-28T00:30Z", "2026-03-29T00:30Z", "2026-03-29T23:30Z", "2026-03-30T23:30Z"]
                .map(utc)
                .to_vec()
        );
        assert_eq!(describe(&d), "Every day 00:30-01:00 Europe/London until 2026-03-31");

        let forever = window("UTC", "2000-01-01T00:00", 60, "daily", None);
        assert_eq!(occurrences(&forever, 0, i64::MAX), Err(MaintenanceError::TooMany));
        let n = occurrences(&forever, utc("2000-01-01T00:00Z"), utc("2027-01-01T00:00Z")).unwrap().len();
        assert_eq!(n, 9862, "27 years of days is within the cap");
    }

    #[test]
    fn active_and_due_notices() {
        let tz = "America/Chicago";
        let mut tue = window(tz, "2026-03-03T02:00", 120, "weekly:tue", Some("2027-03-01"));
        tue.notice_hours = 48;
        assert_eq!(describe(&tue), "Every Tue 02:00-04:00 America/Chicago until 2027-03-01");
        let mut dev = window(tz, "2026-03-09T03:00", 30, "daily", None);
        dev.id = 2;
        dev.scope = Scope::Device(42);
        dev.notice_hours = 2;
        let mut broken = dev.clone();
        broken.id = 3;
        broken.tz = "Nope/Nope".into();
        broken.notice_hours = 100;
        let all = [tue.clone(), dev.clone(), broken];

        let tue_start = at(tz, 2026, 3, 10, 2, 0);
        let tue_end = at(tz, 2026, 3, 10, 4, 0);
        assert_eq!(active(&all, tue_start - 1), vec![]);
        assert_eq!(active(&all, tue_start), vec![(Scope::Site(7), tue_end)]);
        let dev_start = at(tz, 2026, 3, 10, 3, 0);
        assert_eq!(
            active(&all, dev_start + 1),
            vec![(Scope::Site(7), tue_end), (Scope::Device(42), dev_start + 30 * MINUTE)]
        );
        assert_eq!(active(&all, tue_end), vec![], "the end is not inside");

        // 47 hours before Tuesday's start: the Tuesday window and the next daily device window are due.
        let now = tue_start - 47 * HOUR;
        let next_dev = at(tz, 2026, 3, 9, 3, 0); // the device window's first day
        let notes = due_notices(&all, now);
        assert_eq!(
            notes,
            vec![Notice { window_id: 1, occurrence_start: tue_start, occurrence_end: tue_end, scope: Scope::Site(7) },]
        );
        // An hour before the device window: it is due (2 h notice), and so is Tuesday (48 h), sorted by start.
        let notes = due_notices(&all, next_dev - HOUR);
        let got: Vec<(i64, i64)> = notes.iter().map(|n| (n.window_id, n.occurrence_start)).collect();
        assert_eq!(got, vec![(2, next_dev), (1, tue_start)]);
        assert_eq!(notes[0].occurrence_end, next_dev + 30 * MINUTE);
        assert_eq!(notes[0].scope, Scope::Device(42));
        // Started already: no longer a notice; exactly now: still one.
        assert_eq!(due_notices(&all, tue_start + 1).iter().filter(|n| n.window_id == 1).count(), 0);
        assert_eq!(due_notices(&all, tue_start).iter().filter(|n| n.window_id == 1).count(), 1);
        // No notice wanted.
        tue.notice_hours = 0;
        assert_eq!(due_notices(&[tue], tue_start - HOUR), vec![]);
    }

    #[test]
    fn a_skipped_day_does_not_repeat_an_occurrence() {
        // Samoa skipped 2011-12-30: its 02:00 resolves to the same instant as 12-31 02:00.
        let w = window("Pacific/Apia", "2011-12-28T02:00", 60, "daily", Some("2012-01-01"));
        let occ = occurrences(&w, i64::MIN, i64::MAX).unwrap();
        let starts: Vec<i64> = occ.iter().map(|o| o.0).collect();
        let local = |y, m, d| at("Pacific/Apia", y, m, d, 2, 0);
        assert_eq!(starts, vec![local(2011, 12, 28), local(2011, 12, 29), local(2011, 12, 31), local(2012, 1, 1)]);
        assert_eq!(local(2011, 12, 30), local(2011, 12, 31));
    }

    #[test]
    fn describe_forms() {
        let w = window("UTC", "2026-03-02T23:00", 3 * 24 * 60, "weekly:mon,fri", None);
        assert_eq!(describe(&w), "Every Mon, Fri 23:00-23:00 (+3 days) UTC");
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(22), "22nd");
        assert_eq!(ordinal(28), "28th");
        let mut bad = w.clone();
        bad.duration_minutes = 0;
        assert_eq!(describe(&bad), "Invalid maintenance window: duration must be 1 to 10080 minutes (7 days), got 0");
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["scope"], serde_json::json!({"site": 7}));
        assert_eq!(json["recurrence"], "weekly:mon,fri");
        assert_eq!(serde_json::from_value::<Window>(json).unwrap(), w);
    }

    // --- properties ------------------------------------------------------

    /// 2025-06-01 .. 2027-06-01.
    const LO: i64 = 1_748_736_000_000;
    const HI: i64 = 1_811_808_000_000;

    fn recurrence() -> impl Strategy<Value = Recurrence> {
        prop_oneof![
            Just(Recurrence::Once),
            Just(Recurrence::Daily),
            prop::collection::btree_set(prop::sample::select(Day::ALL.to_vec()), 1..8)
                .prop_map(|days| Recurrence::Weekly { days }),
            (1u8..=28).prop_map(|day| Recurrence::Monthly { day }),
        ]
    }

    /// The shortest time between two starts, nominally.
    fn period_minutes(r: &Recurrence) -> i64 {
        match r {
            Recurrence::Once => i64::MAX,
            Recurrence::Daily => 1440,
            Recurrence::Weekly { days } => {
                let v: Vec<i64> = days.iter().map(|d| *d as i64).collect();
                let gaps = v.windows(2).map(|w| w[1] - w[0]).chain([v[0] + 7 - v[v.len() - 1]]);
                gaps.min().unwrap_or(7) * 1440
            }
            Recurrence::Monthly { .. } => 28 * 1440,
        }
    }

    fn any_window() -> impl Strategy<Value = Window> {
        let zones = prop::sample::select(vec!["UTC", "America/Chicago", "Europe/London", "Australia/Lord_Howe"]);
        (zones, 0i64..730, 0i64..1440, 1u32..=MAX_DURATION_MINUTES, recurrence(), prop::option::of(0i64..800)).prop_map(
            |(tz, day, minute, duration, rec, until)| {
                let date = jiff::civil::date(2025, 6, 1).checked_add(jiff::Span::new().days(day)).unwrap();
                let until = until.map(|u| date.checked_add(jiff::Span::new().days(u)).unwrap().to_string());
                Window {
                    id: 9,
                    scope: Scope::Device(1),
                    tz: tz.into(),
                    start_local: format!("{}T{:02}:{:02}", date, minute / 60, minute % 60),
                    duration_minutes: duration,
                    recurrence: rec,
                    until,
                    notice_hours: 24,
                }
            },
        )
    }

    fn instant() -> impl Strategy<Value = i64> {
        LO..HI
    }

    /// Day by day, every scheduled start from the start date through `last`.
    fn brute_force(w: &Window, last: Date) -> Vec<i64> {
        let p = w.plan().unwrap();
        let mut out = Vec::new();
        let mut d = p.start.date();
        while d <= last && p.until.is_none_or(|u| d <= u) {
            let on = match &w.recurrence {
                Recurrence::Once => d == p.start.date(),
                Recurrence::Daily => true,
                Recurrence::Weekly { days } => days.contains(&Day::of(d)),
                Recurrence::Monthly { day } => d.day() == *day as i8,
            };
            if on {
                out.push(p.tz.to_timestamp(d.to_datetime(p.start.time())).unwrap().as_millisecond());
            }
            d = d.tomorrow().unwrap();
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn sorted_overlapping_and_disjoint_when_short(w in any_window(), a in instant(), b in instant()) {
            let (a, b) = (a.min(b), a.max(b));
            let occ = occurrences(&w, a, b).unwrap();
            prop_assert!(occ.windows(2).all(|x| x[0].0 < x[1].0), "sorted, each start once");
            prop_assert!(occ.iter().all(|&(s, e)| s < b && e > a && e - s == w.duration_minutes as i64 * MINUTE));
            if (w.duration_minutes as i64) <= period_minutes(&w.recurrence) - 60 {
                prop_assert!(occ.windows(2).all(|x| x[0].1 <= x[1].0), "no overlap");
            }
            if w.recurrence == Recurrence::Once {
                prop_assert!(occ.len() <= 1);
            }
        }

        #[test]
        fn split_ranges_give_the_same_set(w in any_window(), a in instant(), b in instant(), c in instant()) {
            let mut v = [a, b, c];
            v.sort_unstable();
            let [a, b, c] = v;
            let mut joined = occurrences(&w, a, b).unwrap();
            joined.extend(occurrences(&w, b, c).unwrap());
            joined.sort_unstable();
            joined.dedup_by_key(|o| o.0);
            prop_assert_eq!(joined, occurrences(&w, a, c).unwrap());
        }

        #[test]
        fn matches_a_day_by_day_schedule(w in any_window(), a in instant(), len in 0i64..(60 * DAY)) {
            let b = a + len;
            let p = w.plan().unwrap();
            let last = p.tz.to_datetime(timestamp(b)).date().tomorrow().unwrap();
            let dur = w.duration_minutes as i64 * MINUTE;
            let mut expected: Vec<i64> = brute_force(&w, last).into_iter().filter(|&s| s < b && s + dur > a).collect();
            expected.dedup();
            let got: Vec<i64> = occurrences(&w, a, b).unwrap().iter().map(|o| o.0).collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn until_is_respected(w in any_window(), extra in 0i64..400) {
            let p = w.plan().unwrap();
            let until = p.start.date().checked_add(jiff::Span::new().days(extra)).unwrap();
            let mut bounded = w.clone();
            bounded.until = Some(until.to_string());
            let mut open = w.clone();
            open.until = None;
            let all = occurrences(&open, LO, HI + 400 * DAY).unwrap();
            let some = occurrences(&bounded, LO, HI + 400 * DAY).unwrap();
            let scheduled_by = |s: i64| p.tz.to_datetime(timestamp(s)).date() <= until;
            prop_assert!(some.iter().all(|&(s, _)| scheduled_by(s)));
            let expected: Vec<(i64, i64)> = all.into_iter().filter(|&(s, _)| scheduled_by(s)).collect();
            prop_assert_eq!(some, expected);
        }

        #[test]
        fn notices_and_active_agree_with_occurrences(w in any_window(), now in instant()) {
            let horizon = now + w.notice_hours as i64 * HOUR;
            let occ = occurrences(&w, now, horizon).unwrap();
            let notes = due_notices(std::slice::from_ref(&w), now);
            let starts: Vec<i64> = occ.iter().map(|o| o.0).filter(|&s| s >= now).collect();
            prop_assert_eq!(notes.iter().map(|n| n.occurrence_start).collect::<Vec<_>>(), starts);
            let act = active(std::slice::from_ref(&w), now);
            let expected: Vec<(Scope, i64)> = occurrences(&w, LO - 8 * DAY, HI + 8 * DAY)
                .unwrap()
                .into_iter()
                .filter(|&(s, e)| s <= now && now < e)
                .map(|(_, e)| (w.scope, e))
                .collect();
            prop_assert_eq!(act, expected);
        }

        #[test]
        fn recurrence_round_trips(r in recurrence()) {
            prop_assert_eq!(Recurrence::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn never_panics_on_strange_input(start in ".{0,20}", tz in ".{0,20}", rec in ".{0,16}", a in any::<i64>(), b in any::<i64>()) {
            let mut w = window("UTC", "2026-01-01T00:00", 60, "daily", None);
            w.start_local = start;
            w.tz = tz;
            let _ = describe(&w);
            let _ = occurrences(&w, a, b);
            let _ = Recurrence::parse(&rec);
            let ok = window("Pacific/Apia", "2011-12-28T02:00", 60, "weekly:mon-sun", None);
            let occ = occurrences(&ok, a.min(b), a.max(b));
            prop_assert!(occ.is_ok() || occ == Err(MaintenanceError::TooMany));
        }
    }
}
