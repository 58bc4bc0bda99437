//! Support-ticket SLA clocks (pure core: no IO besides the time-zone lookup
//! jiff does once per zone, no clock). Instants are `i64` Unix milliseconds
//! UTC, passed in; intervals are half-open `[start, end)`.
//!
//! Rules (this is the spec):
//! - **Business time.** A [`BusinessCalendar`] has an IANA time zone, weekly
//!   opening hours (several intervals per weekday, minute resolution, `24:00`
//!   allowed as a closing time) and holidays (local dates, closed all day).
//!   It is open at instant `t` iff the local wall-clock time of `t` in that
//!   zone lies inside an interval of its weekday and its local date is not a
//!   holiday. DST follows from that wall-clock rule: on a spring-forward day
//!   the skipped hour is never open (a 24/7 calendar counts 23 h that day),
//!   on a fall-back day the repeated hour counts twice (25 h), and hours that
//!   open at 02:30 on a day whose 02:00–03:00 does not exist open at 03:00.
//!   A calendar must have some opening hours.
//! - **Hours syntax**: `"mon-fri 08:00-18:00; sat 09:00-13:00"` — groups
//!   separated by `;`, each `DAYS RANGES`; days are `mon`..`sun` (or full
//!   names), lists with `,`, ranges with `-` (wrapping: `fri-mon`), or
//!   `daily`; ranges `HH:MM-HH:MM` separated by `,`, closing after opening
//!   (split overnight hours at midnight). `"24/7"` means always open.
//!   Case-insensitive; overlapping ranges are merged. Holidays are `YYYY-MM-DD`.
//! - [`business_ms`]`(from, to, pauses)` is the open time in `[from, to)`
//!   outside every pause. Pauses may overlap, be unsorted and reach outside
//!   the range; a pause with `end <= start` is empty; `to <= from` gives 0.
//! - [`deadline`]`(start, target, pauses)` is the earliest `t >= start` with
//!   `business_ms(start, t, pauses) >= target` (it is then equal, to the ms).
//!   A target `<= 0` is reached at `start`. `None` when it is never reached:
//!   an open pause (end `i64::MAX`) starts before the target is reached.
//!   Work grows with DST transitions, holidays and pauses crossed, never
//!   with the length of the range in minutes or days.
//! - **Targets** per priority (`low`, `normal`, `high`, `urgent`): first
//!   response and resolution, in business time. Default: urgent 1h/4h, high
//!   2h/8h, normal 4h/24h, low 8h/72h. Config: `"urgent=1h/4h, low=8h/3d"`
//!   with units `m`, `h`, `d` (= 24 h of business time; combine as `1h30m`);
//!   priorities not named keep their default. Each target is > 0 and at most
//!   1000 d, and the first response may not exceed the resolution.
//! - **Clocks** both start at `created_ms`. The first-response clock stops at
//!   the first response, or at the resolution if the ticket was resolved
//!   without one (whichever is earlier); the resolution clock stops at the
//!   resolution. A running clock runs to `now`. `elapsed_ms` is business time
//!   from creation to the stop (or `now`) outside pauses; `due_ms` is the
//!   [`deadline`] of the target (pauses after a stop are ignored).
//! - **State**, first match wins: `Breached` if the clock stopped after its
//!   due time or is running past it; `Met` if it stopped; `Paused` if `now` is
//!   inside a pause; `AtRisk` if the remaining business time is below
//!   `at_risk_fraction` (0..=1) of the target; `Running` otherwise. So a clock
//!   never says `Met` before its stop event happened.
//! - **Escalation**: only running clocks escalate; a breach wins over a risk,
//!   the first-response clock over the resolution clock.
//! - **Pauses** come from status history: waiting on the customer pauses
//!   the clocks; an open pause ends at `i64::MAX`.
//! - Instants outside jiff's range (years -9999..=9999) use the zone's offset
//!   at the edge of that range; sums beyond `i64` saturate.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// Upper bound of one configured target.
const MAX_TARGET_MS: i64 = 1000 * DAY;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_FULL_NAMES: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// Why an SLA input is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SlaError {
    #[error("unknown time zone {0:?} (use an IANA name such as America/Chicago)")]
    TimeZone(String),
    #[error("invalid opening hours {input:?}: {reason}")]
    Hours { input: String, reason: String },
    #[error("invalid holiday {0:?}: expected a date as YYYY-MM-DD")]
    Holiday(String),
    #[error("invalid SLA targets {input:?}: {reason}")]
    Targets { input: String, reason: String },
    #[error("unknown priority {0:?} (expected low, normal, high or urgent)")]
    Priority(String),
    #[error("at-risk fraction must be between 0 and 1, got {0}")]
    AtRiskFraction(f64),
}

/// The serialized form of a [`BusinessCalendar`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    pub tz: String,
    pub hours: String,
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// When the support desk works: a time zone, weekly hours and holidays.
/// Serializes as its [`CalendarSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct BusinessCalendar {
    tz: TimeZone,
    tz_name: String,
    hours: String,
    /// Open intervals of the week in ms from Monday 00:00 local; sorted, disjoint.
    week: Vec<(i64, i64)>,
    week_total: i64,
    /// Holidays as local days since 1970-01-01; sorted, unique.
    holidays: Vec<i64>,
    /// `holiday_prefix[i]`: the weekly hours the holidays `..i` take away.
    holiday_prefix: Vec<i128>,
}

impl PartialEq for BusinessCalendar {
    fn eq(&self, o: &Self) -> bool {
        self.tz_name == o.tz_name && self.week == o.week && self.holidays == o.holidays
    }
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = SlaError;
    fn try_from(s: CalendarSpec) -> Result<Self, SlaError> {
        let holidays: Vec<&str> = s.holidays.iter().map(String::as_str).collect();
        BusinessCalendar::parse(&s.tz, &s.hours, &holidays)
    }
}

impl From<BusinessCalendar> for CalendarSpec {
    fn from(c: BusinessCalendar) -> Self {
        let holidays = c.holidays().into_iter().map(|d| d.to_string()).collect();
        CalendarSpec { tz: c.tz_name, hours: c.hours, holidays }
    }
}

impl BusinessCalendar {
    /// Open 24/7 in UTC, no holidays: business time is wall-clock time.
    pub fn always() -> BusinessCalendar {
        BusinessCalendar::build(TimeZone::UTC, "UTC".into(), "24/7".into(), std::array::from_fn(|_| vec![(0, 1440)]))
    }

    /// A calendar from a zone name, an hours string (see the module doc) and holidays.
    pub fn parse(tz: &str, hours: &str, holidays: &[&str]) -> Result<BusinessCalendar, SlaError> {
        let tz_name = tz.trim();
        let zone = TimeZone::get(tz_name).map_err(|_| SlaError::TimeZone(tz.to_string()))?;
        let days = parse_hours(hours).map_err(|reason| SlaError::Hours { input: hours.to_string(), reason })?;
        let mut c = BusinessCalendar::build(zone, tz_name.to_string(), hours.trim().to_string(), days);
        let mut list = Vec::with_capacity(holidays.len());
        for h in holidays {
            list.push(day_number(parse_date(h.trim()).ok_or_else(|| SlaError::Holiday(h.to_string()))?));
        }
        list.sort_unstable();
        list.dedup();
        let mut prefix = Vec::with_capacity(list.len() + 1);
        prefix.push(0i128);
        for &d in &list {
            let lost = c.pattern_cum(d as i128 * DAY as i128 + DAY as i128) - c.pattern_cum(d as i128 * DAY as i128);
            prefix.push(prefix.last().copied().unwrap_or(0) + lost);
        }
        c.holidays = list;
        c.holiday_prefix = prefix;
        Ok(c)
    }

    fn build(tz: TimeZone, tz_name: String, hours: String, days: [Vec<(i64, i64)>; 7]) -> BusinessCalendar {
        let mut week: Vec<(i64, i64)> = Vec::new();
        for (i, ranges) in days.iter().enumerate() {
            for &(a, b) in ranges {
                let (s, e) = (i as i64 * DAY + a * MINUTE, i as i64 * DAY + b * MINUTE);
                match week.last_mut() {
                    Some(last) if last.1 >= s => last.1 = last.1.max(e),
                    _ => week.push((s, e)),
                }
            }
        }
        let week_total = week.iter().map(|(s, e)| e - s).sum();
        BusinessCalendar { tz, tz_name, hours, week, week_total, holidays: vec![], holiday_prefix: vec![0] }
    }

    /// The zone name as given.
    pub fn tz_name(&self) -> &str {
        &self.tz_name
    }

    /// The hours string as given (trimmed).
    pub fn hours(&self) -> &str {
        &self.hours
    }

    /// The holidays, sorted.
    pub fn holidays(&self) -> Vec<Date> {
        self.holidays.iter().filter_map(|&d| date_from_day(d)).collect()
    }

    /// Business time in a normal week (no holidays, no DST change).
    pub fn weekly_ms(&self) -> i64 {
        self.week_total
    }

    /// Whether the desk is open at instant `t`.
    pub fn is_open(&self, t: i64) -> bool {
        let (off, _) = self.offset_at(t);
        let local = t as i128 + off;
        let day = local.div_euclid(DAY as i128);
        if self.holidays.binary_search(&(day as i64)).is_ok() {
            return false;
        }
        let pos = (local + 3 * DAY as i128).rem_euclid(WEEK as i128) as i64;
        self.week.iter().any(|&(s, e)| s <= pos && pos < e)
    }

    /// The zone's offset (ms) at `t`, and the next transition after `t`.
    fn offset_at(&self, t: i64) -> (i128, Option<i64>) {
        // Whole seconds: jiff's millisecond constructor stops at MAX's second.
        let (lo, hi) = (Timestamp::MIN.as_second() * 1000, Timestamp::MAX.as_second() * 1000);
        let fallback = if t < 0 { Timestamp::MIN } else { Timestamp::MAX };
        let ts = Timestamp::from_millisecond(t.clamp(lo, hi)).unwrap_or(fallback);
        let off = self.tz.to_offset(ts).seconds() as i128 * 1000;
        let next = self.tz.following(ts).next().map(|tr| tr.timestamp().as_millisecond()).filter(|&n| n > t);
        (off, next)
    }

    /// Open time of the weekly hours in local time `(-inf, l)`, relative to a
    /// fixed origin (only differences mean anything).
    fn pattern_cum(&self, l: i128) -> i128 {
        // 1970-01-01 was a Thursday: the week origin is Monday 1969-12-29.
        let shifted = l + 3 * DAY as i128;
        let week = shifted.div_euclid(WEEK as i128);
        let pos = shifted.rem_euclid(WEEK as i128) as i64;
        let part: i64 = self.week.iter().map(|&(s, e)| (pos.min(e) - s).max(0)).sum();
        week * self.week_total as i128 + part as i128
    }

    /// Like [`Self::pattern_cum`] with the holidays taken out.
    fn cum(&self, l: i128) -> i128 {
        let day = l.div_euclid(DAY as i128);
        let k = self.holidays.partition_point(|&h| (h as i128) < day);
        let mut lost = self.holiday_prefix[k];
        let p = self.pattern_cum(l);
        if self.holidays.get(k).is_some_and(|&h| h as i128 == day) {
            lost += p - self.pattern_cum(day * DAY as i128);
        }
        p - lost
    }

    /// Open time in `[a, b)`, no pauses.
    fn open(&self, a: i64, b: i64) -> i128 {
        let mut total = 0;
        let mut t = a;
        while t < b {
            let (off, next) = self.offset_at(t);
            let end = next.map_or(b, |n| n.min(b));
            total += self.cum(end as i128 + off) - self.cum(t as i128 + off);
            t = end;
        }
        total
    }

    /// The earliest `t` in `(from, limit]` with `open(from, t) == need`
    /// (`need >= 1`), or the open time of the whole `[from, limit)`.
    fn advance(&self, from: i64, limit: i64, need: i128) -> Result<i64, i128> {
        let mut got = 0;
        let mut t = from;
        while t < limit {
            let (off, next) = self.offset_at(t);
            let end = next.map_or(limit, |n| n.min(limit));
            let base = self.cum(t as i128 + off);
            let seg = self.cum(end as i128 + off) - base;
            if got + seg >= need {
                let want = need - got;
                let (mut lo, mut hi) = (t, end);
                while lo < hi {
                    let mid = (lo as i128 + hi as i128).div_euclid(2) as i64;
                    if self.cum(mid as i128 + off) - base >= want {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                return Ok(lo);
            }
            got += seg;
            t = end;
        }
        Err(got)
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Days since 1970-01-01 of a civil date.
fn day_number(d: Date) -> i64 {
    let (y, m, dd) = (d.year() as i64, d.month() as i64, d.day() as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date_from_day(z: i64) -> Option<Date> {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
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

fn parse_day(s: &str) -> Result<usize, String> {
    DAY_NAMES
        .iter()
        .position(|d| *d == s)
        .or_else(|| DAY_FULL_NAMES.iter().position(|d| *d == s))
        .ok_or_else(|| format!("unknown day {s:?} (use mon, tue, wed, thu, fri, sat, sun)"))
}

fn parse_days(s: &str) -> Result<[bool; 7], String> {
    if s.is_empty() {
        return Err("days are missing before the hours (e.g. \"mon-fri 08:00-18:00\")".into());
    }
    let mut set = [false; 7];
    for item in s.split(',').map(str::trim) {
        if item == "daily" {
            set = [true; 7];
            continue;
        }
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse_day(a.trim())?, parse_day(b.trim())?);
                let mut i = a;
                loop {
                    set[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => set[parse_day(item)?] = true,
        }
    }
    Ok(set)
}

/// `H:MM` or `HH:MM`, 00:00..=24:00, as minutes.
fn parse_hm(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    let ok = |x: &str, max: usize| !x.is_empty() && x.len() <= max && x.bytes().all(|c| c.is_ascii_digit());
    if !ok(h, 2) || !ok(m, 2) || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// Per weekday (Monday first), the merged open ranges in minutes.
fn parse_hours(input: &str) -> Result<[Vec<(i64, i64)>; 7], String> {
    let text = input.trim().to_ascii_lowercase();
    let mut days: [Vec<(i64, i64)>; 7] = Default::default();
    if text == "24/7" {
        return Ok(days.map(|_| vec![(0, 1440)]));
    }
    for group in text.split(';').map(str::trim).filter(|g| !g.is_empty()) {
        let Some(split) = group.find(|c: char| c.is_ascii_digit()) else {
            return Err(format!("{group:?} has no hours (expected e.g. \"mon-fri 08:00-18:00\")"));
        };
        let (names, times) = group.split_at(split);
        let set = parse_days(names.trim())?;
        let mut ranges = Vec::new();
        for r in times.split(',').map(str::trim) {
            let bad = || format!("invalid time range {r:?} (expected HH:MM-HH:MM; separate day groups with ';')");
            let (a, b) = r.split_once('-').ok_or_else(bad)?;
            let (a, b) = (parse_hm(a.trim()).ok_or_else(bad)?, parse_hm(b.trim()).ok_or_else(bad)?);
            if b <= a {
                return Err(format!("{r:?} closes before it opens (split overnight hours at midnight)"));
            }
            ranges.push((a, b));
        }
        for (i, on) in set.iter().enumerate() {
            if *on {
                days[i].extend_from_slice(&ranges);
            }
        }
    }
    for d in &mut days {
        *d = merge(d);
    }
    if days.iter().all(Vec::is_empty) {
        return Err("no opening hours (e.g. \"mon-fri 08:00-18:00\" or \"24/7\")".into());
    }
    Ok(days)
}

/// Sorted, disjoint, non-adjacent intervals covering the same instants;
/// empty ones (`end <= start`) are dropped.
pub fn merge(intervals: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = intervals.iter().copied().filter(|(s, e)| s < e).collect();
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if last.1 >= s => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Business time in `[from, to)` outside the pauses (see the module doc).
pub fn business_ms(cal: &BusinessCalendar, from: i64, to: i64, pauses: &[(i64, i64)]) -> i64 {
    if to <= from {
        return 0;
    }
    let mut total = cal.open(from, to);
    for (s, e) in merge(pauses) {
        let (s, e) = (s.max(from), e.min(to));
        if s < e {
            total -= cal.open(s, e);
        }
    }
    saturate(total)
}

/// The earliest instant at which `business_ms(start, t, pauses)` reaches
/// `target_ms`, or `None` if it never does (see the module doc).
pub fn deadline(cal: &BusinessCalendar, start: i64, target_ms: i64, pauses: &[(i64, i64)]) -> Option<i64> {
    if target_ms <= 0 {
        return Some(start);
    }
    let mut need = target_ms as i128;
    let mut t = start;
    for (s, e) in merge(pauses) {
        if e <= t {
            continue;
        }
        if s > t {
            match cal.advance(t, s, need) {
                Ok(x) => return Some(x),
                Err(got) => need -= got,
            }
        }
        if e == i64::MAX {
            return None;
        }
        t = e;
    }
    cal.advance(t, i64::MAX, need).ok()
}

/// First-response and resolution targets of one priority, in business ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub first_response_ms: i64,
    pub resolution_ms: i64,
}

/// Targets per priority (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub urgent: Target,
    pub high: Target,
    pub normal: Target,
    pub low: Target,
}

impl Default for Targets {
    fn default() -> Self {
        let t = |fr, res| Target { first_response_ms: fr * HOUR, resolution_ms: res * HOUR };
        Targets { urgent: t(1, 4), high: t(2, 8), normal: t(4, 24), low: t(8, 72) }
    }
}

impl Targets {
    /// The target of a priority (`low`, `normal`, `high`, `urgent`).
    pub fn get(&self, priority: &str) -> Result<Target, SlaError> {
        match priority {
            "urgent" => Ok(self.urgent),
            "high" => Ok(self.high),
            "normal" => Ok(self.normal),
            "low" => Ok(self.low),
            _ => Err(SlaError::Priority(priority.to_string())),
        }
    }

    fn slot(&mut self, priority: &str) -> Option<&mut Target> {
        match priority {
            "urgent" => Some(&mut self.urgent),
            "high" => Some(&mut self.high),
            "normal" => Some(&mut self.normal),
            "low" => Some(&mut self.low),
            _ => None,
        }
    }

    /// Parses `"urgent=1h/4h, high=2h/8h, normal=4h/24h, low=8h/3d"`;
    /// priorities not named keep their default.
    pub fn parse(input: &str) -> Result<Targets, SlaError> {
        let err = |reason: String| SlaError::Targets { input: input.to_string(), reason };
        let mut out = Targets::default();
        let mut seen: Vec<String> = Vec::new();
        for item in input.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
            let form = || format!("{item:?} is not priority=first-response/resolution (e.g. urgent=1h/4h)");
            let (prio, rest) = item.split_once('=').ok_or_else(|| err(form()))?;
            let prio = prio.trim().to_ascii_lowercase();
            if !PRIORITIES.contains(&prio.as_str()) {
                return Err(err(format!("unknown priority {prio:?} (expected low, normal, high or urgent)")));
            }
            if seen.contains(&prio) {
                return Err(err(format!("{prio} is given twice")));
            }
            let (fr, res) = rest.split_once('/').ok_or_else(|| err(form()))?;
            let fr = parse_duration(fr.trim()).map_err(&err)?;
            let res = parse_duration(res.trim()).map_err(&err)?;
            if fr > res {
                return Err(err(format!("{prio}: the first-response target is longer than the resolution target")));
            }
            if let Some(slot) = out.slot(&prio) {
                *slot = Target { first_response_ms: fr, resolution_ms: res };
            }
            seen.push(prio);
        }
        Ok(out)
    }
}

/// `1h`, `90m`, `3d`, `1h30m`: business ms, > 0 and at most 1000 days.
fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("duration {s:?} {why} (use m, h or d, e.g. 4h or 1h30m)");
    let mut total: i64 = 0;
    let mut num: Option<i64> = None;
    for c in s.chars().filter(|c| !c.is_whitespace()) {
        if let Some(d) = c.to_digit(10) {
            let n = num.unwrap_or(0).checked_mul(10).and_then(|n| n.checked_add(d as i64));
            num = Some(n.filter(|&n| n <= MAX_TARGET_MS).ok_or_else(|| bad("is too long"))?);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            'm' => MINUTE,
            'h' => HOUR,
            'd' => DAY,
            _ => return Err(bad("has an unknown unit")),
        };
        let n = num.take().ok_or_else(|| bad("has a unit without a number"))?;
        total = n.checked_mul(unit).and_then(|v| v.checked_add(total)).ok_or_else(|| bad("is too long"))?;
        if total > MAX_TARGET_MS {
            return Err(bad("is longer than 1000d"));
        }
    }
    if num.is_some() {
        return Err(bad("lacks a unit"));
    }
    if total == 0 {
        return Err(bad("must be more than zero"));
    }
    Ok(total)
}

/// What the SLA needs to know about a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTicket {
    pub created_ms: i64,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    pub first_response_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    /// Waiting-on-customer intervals; an open one ends at `i64::MAX`.
    #[serde(default)]
    pub pauses: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockState {
    Met,
    Breached,
    AtRisk,
    Running,
    Paused,
}

/// One SLA clock of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub target_ms: i64,
    /// Business time used, pauses excluded, up to the stop or `now`.
    pub elapsed_ms: i64,
    /// When the target is reached; `None` while an open pause holds it.
    pub due_ms: Option<i64>,
    pub state: ClockState,
    /// When the clock stopped (response or resolution); `None` while running.
    pub stopped_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaStatus {
    pub first_response: Clock,
    pub resolution: Clock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockKind {
    FirstResponse,
    Resolution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    AtRisk,
    Breached,
}

/// A clock that needs escalating, and how urgently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Escalation {
    pub clock: ClockKind,
    pub level: Level,
}

/// Both SLA clocks of a ticket at `now` (see the module doc).
pub fn evaluate(
    ticket: &SlaTicket,
    cal: &BusinessCalendar,
    targets: &Targets,
    now: i64,
    at_risk_fraction: f64,
) -> Result<SlaStatus, SlaError> {
    if !(0.0..=1.0).contains(&at_risk_fraction) {
        return Err(SlaError::AtRiskFraction(at_risk_fraction));
    }
    let target = targets.get(&ticket.priority)?;
    let pauses = merge(&ticket.pauses);
    let fr_stop = match (ticket.first_response_ms, ticket.resolved_ms) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let clock = |target_ms: i64, stop: Option<i64>| {
        let end = stop.unwrap_or(now);
        let relevant: Vec<(i64, i64)> = match stop {
            Some(s) => pauses.iter().filter(|p| p.0 < s).map(|&(a, b)| (a, b.min(s))).collect(),
            None => pauses.clone(),
        };
        let elapsed_ms = business_ms(cal, ticket.created_ms, end, &relevant);
        let due_ms = deadline(cal, ticket.created_ms, target_ms, &relevant);
        let remaining = target_ms as f64 - elapsed_ms as f64;
        let state = if due_ms.is_some_and(|d| end > d) {
            ClockState::Breached
        } else if stop.is_some() {
            ClockState::Met
        } else if pauses.iter().any(|&(s, e)| s <= now && now < e) {
            ClockState::Paused
        } else if remaining < at_risk_fraction * target_ms as f64 {
            ClockState::AtRisk
        } else {
            ClockState::Running
        };
        Clock { target_ms, elapsed_ms, due_ms, state, stopped_ms: stop }
    };
    Ok(SlaStatus {
        first_response: clock(target.first_response_ms, fr_stop),
        resolution: clock(target.resolution_ms, ticket.resolved_ms),
    })
}

/// The clock to escalate now, if any: running clocks only; breached before
/// at risk, first response before resolution.
pub fn escalation(status: &SlaStatus) -> Option<Escalation> {
    let clocks = [(ClockKind::FirstResponse, &status.first_response), (ClockKind::Resolution, &status.resolution)];
    for (level, state) in [(Level::Breached, ClockState::Breached), (Level::AtRisk, ClockState::AtRisk)] {
        for (kind, c) in clocks {
            if c.stopped_ms.is_none() && c.state == state {
                return Some(Escalation { clock: kind, level });
            }
        }
    }
    None
}

/// Pauses from `(timestamp, waiting_on_customer)` status changes: a pause
/// runs from a change to waiting until the next change away from it; one
/// still open ends at `i64::MAX`. Repeated states are ignored, events after
/// `now` are not yet known and ignored, and events are taken in time order
/// (a stable sort, so equal timestamps keep their given order).
pub fn pauses_from_status_history(events: &[(i64, bool)], now: i64) -> Vec<(i64, i64)> {
    let mut events: Vec<(i64, bool)> = events.iter().copied().filter(|e| e.0 <= now).collect();
    events.sort_by_key(|e| e.0);
    let mut out = Vec::new();
    let mut open: Option<i64> = None;
    for (t, waiting) in events {
        match (open, waiting) {
            (None, true) => open = Some(t),
            (Some(s), false) => {
                out.push((s, t));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(s) = open {
        out.push((s, i64::MAX));
    }
    merge(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An instant from a local wall-clock time (compatible disambiguation).
    fn at(tz: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        let zone = TimeZone::get(tz).unwrap();
        zone.to_timestamp(jiff::civil::date(y, mo, d).at(h, mi, 0, 0)).unwrap().as_millisecond()
    }

    fn chi(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> i64 {
        at("America/Chicago", y, mo, d, h, mi)
    }

    fn office() -> BusinessCalendar {
        BusinessCalendar::parse("America/Chicago", "mon-fri 08:00-18:00", &["2026-12-25"]).unwrap()
    }

    #[test]
    fn parses_hours_and_rejects_bad_input() {
        let c = BusinessCalendar::parse("America/Chicago", "Mon-Fri 08:00-18:00; sat 9:00-13:00", &[]).unwrap();
        assert_eq!(c.weekly_ms(), 5 * 10 * HOUR + 4 * HOUR);
        let c = BusinessCalendar::parse("UTC", "mon-fri 08:00-12:00, 13:00-17:00; sat,sun 10:00-11:00", &[]).unwrap();
        assert_eq!(c.weekly_ms(), 5 * 8 * HOUR + 2 * HOUR);
        let c = BusinessCalendar::parse("UTC", "fri-mon 00:00-24:00", &[]).unwrap();
        assert_eq!(c.weekly_ms(), 4 * DAY, "a range of days wraps around the week");
        let c = BusinessCalendar::parse("UTC", "daily 08:00-10:00, 09:00-11:00", &[]).unwrap();
        assert_eq!(c.weekly_ms(), 7 * 3 * HOUR, "overlapping ranges merge");
        assert_eq!(BusinessCalendar::parse("Europe/Paris", " 24/7 ", &[]).unwrap().weekly_ms(), WEEK);
        assert_eq!(BusinessCalendar::always().weekly_ms(), WEEK);

        let err = |tz: &str, hours: &str, hol: &[&str]| BusinessCalendar::parse(tz, hours, hol).unwrap_err();
        assert_eq!(err("Mars/Olympus", "24/7", &[]), SlaError::TimeZone("Mars/Olympus".into()));
        assert!(err("Mars/Olympus", "24/7", &[]).to_string().contains("IANA"));
        for bad in ["", "  ;  ", "mon-fri", "08:00-18:00", "funday 08:00-18:00", "mon 18:00-08:00", "mon 8-18"] {
            assert!(matches!(err("UTC", bad, &[]), SlaError::Hours { .. }), "{bad:?} must be refused");
        }
        for bad in ["mon 24:30-25:00", "mon 08:60-09:00", "mon 08:00-18:00, sat 09:00-13:00", "mon 09:00-09:00"] {
            assert!(matches!(err("UTC", bad, &[]), SlaError::Hours { .. }), "{bad:?} must be refused");
        }
        let msg = err("UTC", "mon 18:00-08:00", &[]).to_string();
        assert!(msg.contains("closes before it opens"), "{msg}");
        let msg = err("UTC", "mon 08:00-18:00, sat 09:00-13:00", &[]).to_string();
        assert!(msg.contains("separate day groups with ';'"), "{msg}");
        for bad in ["2026-13-01", "2026-02-30", "26-12-25", "2026/12/25", "20261225", ""] {
            assert_eq!(err("UTC", "24/7", &[bad]), SlaError::Holiday(bad.into()));
        }
    }

    #[test]
    fn calendar_round_trips_through_serde() {
        let c =
            BusinessCalendar::parse("America/Chicago", "mon-fri 08:00-18:00", &["2026-12-25", "2026-01-01"]).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"tz":"America/Chicago","hours":"mon-fri 08:00-18:00","holidays":["2026-01-01","2026-12-25"]}"#
        );
        let back: BusinessCalendar = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let bad = r#"{"tz":"America/Chicago","hours":"nope","holidays":[]}"#;
        assert!(serde_json::from_str::<BusinessCalendar>(bad).is_err());
    }

    #[test]
    fn friday_evening_ticket_is_due_monday_morning() {
        let cal = BusinessCalendar::parse("America/Chicago", "mon-fri 08:00-18:00", &[]).unwrap();
        // Fri 2026-03-13 17:00: one hour on Friday, three on Monday.
        let created = chi(2026, 3, 13, 17, 0);
        assert_eq!(deadline(&cal, created, 4 * HOUR, &[]), Some(chi(2026, 3, 16, 11, 0)));
        // Opened after hours: the whole target falls on Monday.
        let created = chi(2026, 3, 13, 19, 30);
        assert_eq!(deadline(&cal, created, 4 * HOUR, &[]), Some(chi(2026, 3, 16, 12, 0)));
        assert_eq!(business_ms(&cal, created, chi(2026, 3, 16, 9, 15), &[]), 75 * MINUTE);
        // The exact end of a business day is the deadline, not the next morning.
        assert_eq!(deadline(&cal, chi(2026, 3, 13, 8, 0), 10 * HOUR, &[]), Some(chi(2026, 3, 13, 18, 0)));
    }

    #[test]
    fn dst_change_in_chicago() {
        // Sun 2026-03-08: 02:00 CST jumps to 03:00 CDT. Sun 2026-11-01: 02:00 CDT back to 01:00 CST.
        let all = BusinessCalendar::parse("America/Chicago", "24/7", &[]).unwrap();
        let (mar8, mar9) = (chi(2026, 3, 8, 0, 0), chi(2026, 3, 9, 0, 0));
        assert_eq!(business_ms(&all, mar8, mar9, &[]), 23 * HOUR);
        assert_eq!(business_ms(&all, chi(2026, 11, 1, 0, 0), chi(2026, 11, 2, 0, 0), &[]), 25 * HOUR);

        // Hours across the skipped hour count only the wall-clock time that exists.
        let night = BusinessCalendar::parse("America/Chicago", "sun 01:00-04:00", &[]).unwrap();
        assert_eq!(business_ms(&night, mar8, mar9, &[]), 2 * HOUR);
        assert!(night.is_open(mar8 + HOUR + 59 * MINUTE)); // 01:59 CST
        assert_eq!(chi(2026, 3, 8, 3, 0) - mar8, 2 * HOUR, "03:00 CDT is two real hours after midnight");
        assert!(night.is_open(chi(2026, 3, 8, 3, 0)));
        // ...and the repeated hour twice: 01:00 CDT to 04:00 CST is four real hours.
        assert_eq!(business_ms(&night, chi(2026, 11, 1, 0, 0), chi(2026, 11, 2, 0, 0), &[]), 4 * HOUR);
        // Opening inside the gap opens when the clock jumps (03:00 CDT).
        let gap = BusinessCalendar::parse("America/Chicago", "sun 02:30-04:00", &[]).unwrap();
        assert_eq!(business_ms(&gap, mar8, mar9, &[]), HOUR);
        assert_eq!(deadline(&gap, mar8, 30 * MINUTE, &[]), Some(chi(2026, 3, 8, 3, 30)));

        // A Friday-evening ticket over the DST weekend is due at Monday 11:00 CDT: 65 real hours later.
        let office = BusinessCalendar::parse("America/Chicago", "mon-fri 08:00-18:00", &[]).unwrap();
        let created = chi(2026, 3, 6, 17, 0);
        let due = deadline(&office, created, 4 * HOUR, &[]).unwrap();
        assert_eq!(due, chi(2026, 3, 9, 11, 0));
        assert_eq!(due - created, 65 * HOUR);
    }

    #[test]
    fn holidays_are_closed() {
        let cal = office();
        // Thu 2026-12-24 16:00: two hours on Thursday; Friday is Christmas; due Monday 10:00.
        let created = chi(2026, 12, 24, 16, 0);
        assert_eq!(deadline(&cal, created, 4 * HOUR, &[]), Some(chi(2026, 12, 28, 10, 0)));
        assert_eq!(business_ms(&cal, chi(2026, 12, 25, 0, 0), chi(2026, 12, 26, 0, 0), &[]), 0);
        assert!(!cal.is_open(chi(2026, 12, 25, 12, 0)));
        assert!(cal.is_open(chi(2026, 12, 24, 12, 0)));
        assert_eq!(cal.holidays(), vec![jiff::civil::date(2026, 12, 25)]);
    }

    #[test]
    fn pauses_are_excluded_and_can_hold_the_deadline() {
        let cal = office();
        let mon8 = chi(2026, 3, 16, 8, 0);
        // Overlapping, unsorted, reaching outside the range and empty pauses.
        let pauses = [
            (mon8 + 2 * HOUR, mon8 + 3 * HOUR),
            (mon8 - DAY, mon8 + HOUR),
            (mon8 + 5, mon8),
            (mon8 + 150 * MINUTE, mon8 + 4 * HOUR),
        ];
        assert_eq!(business_ms(&cal, mon8, mon8 + 10 * HOUR, &pauses), 10 * HOUR - HOUR - 2 * HOUR);
        assert_eq!(deadline(&cal, mon8, 2 * HOUR, &pauses), Some(mon8 + 5 * HOUR));
        // An open pause before the target is reached: no deadline.
        assert_eq!(deadline(&cal, mon8, 4 * HOUR, &[(mon8 + HOUR, i64::MAX)]), None);
        // ...but one after it does not matter.
        assert_eq!(deadline(&cal, mon8, HOUR, &[(mon8 + HOUR, i64::MAX)]), Some(mon8 + HOUR));
        assert_eq!(deadline(&cal, mon8, 0, &[]), Some(mon8));
        assert_eq!(deadline(&cal, mon8, -5, &[]), Some(mon8));
        assert_eq!(business_ms(&cal, mon8 + HOUR, mon8, &[]), 0, "an inverted range is empty");
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let cal = office();
        let all = BusinessCalendar::always();
        assert_eq!(business_ms(&all, i64::MIN, i64::MAX, &[]), i64::MAX, "saturates");
        assert_eq!(business_ms(&all, -5, i64::MAX - 5, &[]), i64::MAX);
        assert!(business_ms(&cal, i64::MIN, i64::MAX, &[]) > 0);
        assert_eq!(deadline(&all, i64::MAX - 10, 20, &[]), None);
        assert_eq!(deadline(&all, i64::MIN, 20, &[]), Some(i64::MIN + 20));
        assert_eq!(deadline(&cal, 0, i64::MAX, &[]), None);
        // Beyond jiff's range the offset at its edge applies (Apia was -11 in 1970, is +13 now).
        let apia = BusinessCalendar::parse("Pacific/Apia", "24/7", &[]).unwrap();
        assert_eq!(apia.offset_at(i64::MAX).0, 13 * HOUR as i128);
        assert_eq!(apia.offset_at(i64::MIN).0, apia.offset_at(-377_705_023_201_000).0);
        let far = deadline(&cal, 0, 1000 * DAY, &[]).unwrap();
        assert_eq!(business_ms(&cal, 0, far, &[]), 1000 * DAY);
    }

    #[test]
    fn month_out_deadline_over_holidays_is_fast() {
        let hol = ["2026-11-26", "2026-11-27", "2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"];
        let cal = BusinessCalendar::parse("America/Chicago", "mon-fri 08:00-18:00; sat 09:00-13:00", &hol).unwrap();
        let start = chi(2026, 11, 20, 10, 0);
        let started = std::time::Instant::now();
        let mut due = None;
        for _ in 0..1000 {
            due = deadline(&cal, start, 200 * HOUR, &[]);
        }
        let per_call = started.elapsed() / 1000;
        let due = due.unwrap();
        assert_eq!(business_ms(&cal, start, due, &[]), 200 * HOUR);
        assert!(due > chi(2026, 12, 18, 0, 0) && due < chi(2027, 1, 10, 0, 0), "about a month out");
        assert!(per_call < std::time::Duration::from_millis(1), "{per_call:?} per deadline");
    }

    #[test]
    fn targets_parse_and_default() {
        let d = Targets::default();
        assert_eq!(d.get("urgent").unwrap(), Target { first_response_ms: HOUR, resolution_ms: 4 * HOUR });
        assert_eq!(d.get("normal").unwrap().first_response_ms, 4 * HOUR, "seed KPI: first response < 4 h");
        assert_eq!(d.get("low").unwrap().resolution_ms, 72 * HOUR);
        let t = Targets::parse("urgent=1h/4h, high=2h/8h, normal=4h/24h, low=8h/3d").unwrap();
        assert_eq!(t, d);
        let t = Targets::parse(" Urgent = 30m / 1h30m ; low=1d/10d").unwrap();
        assert_eq!(t.urgent, Target { first_response_ms: 30 * MINUTE, resolution_ms: 90 * MINUTE });
        assert_eq!(t.low, Target { first_response_ms: DAY, resolution_ms: 10 * DAY });
        assert_eq!(t.high, d.high, "unnamed priorities keep their default");
        assert_eq!(Targets::parse("").unwrap(), d);
        for (bad, why) in [
            ("critical=1h/2h", "unknown priority"),
            ("urgent=1h", "is not priority="),
            ("urgent 1h/4h", "is not priority="),
            ("urgent=1x/4h", "unknown unit"),
            ("urgent=1/4h", "lacks a unit"),
            ("urgent=h/4h", "unit without a number"),
            ("urgent=0h/4h", "more than zero"),
            ("urgent=/4h", "more than zero"),
            ("urgent=4h/1h", "longer than the resolution"),
            ("urgent=1h/1001d", "longer than 1000d"),
            ("urgent=1h/99999999999999999999d", "too long"),
            ("urgent=1h/4h, urgent=2h/4h", "given twice"),
        ] {
            let msg = Targets::parse(bad).unwrap_err().to_string();
            assert!(msg.contains(why), "{bad:?}: {msg}");
        }
        assert_eq!(d.get("URGENT").unwrap_err(), SlaError::Priority("URGENT".into()));
    }

    fn ticket(created: i64, priority: &str) -> SlaTicket {
        SlaTicket {
            created_ms: created,
            priority: priority.into(),
            first_response_ms: None,
            resolved_ms: None,
            pauses: vec![],
        }
    }

    #[test]
    fn evaluate_states() {
        let cal = office();
        let tg = Targets::default();
        let mon8 = chi(2026, 3, 16, 8, 0);
        let t = ticket(mon8, "normal"); // 4h / 24h
        let ev = |t: &SlaTicket, now| evaluate(t, &cal, &tg, now, 0.25).unwrap();

        let s = ev(&t, mon8 + HOUR);
        assert_eq!(s.first_response.state, ClockState::Running);
        assert_eq!(s.first_response.elapsed_ms, HOUR);
        assert_eq!(s.first_response.due_ms, Some(mon8 + 4 * HOUR));
        assert_eq!(s.resolution.due_ms, Some(chi(2026, 3, 18, 12, 0)), "24 business hours: Wed 12:00");
        assert_eq!(escalation(&s), None);
        // 30 minutes left of 4 hours is below a quarter.
        let s = ev(&t, mon8 + 210 * MINUTE);
        assert_eq!(s.first_response.state, ClockState::AtRisk);
        assert_eq!(escalation(&s), Some(Escalation { clock: ClockKind::FirstResponse, level: Level::AtRisk }));
        assert_eq!(ev(&t, mon8 + 4 * HOUR).first_response.state, ClockState::AtRisk, "due, not yet past it");
        let s = ev(&t, mon8 + 4 * HOUR + 1);
        assert_eq!(s.first_response.state, ClockState::Breached);
        assert_eq!(escalation(&s), Some(Escalation { clock: ClockKind::FirstResponse, level: Level::Breached }));

        // Answered in time: Met, elapsed stops at the answer.
        let mut answered = t.clone();
        answered.first_response_ms = Some(mon8 + 2 * HOUR);
        let s = ev(&answered, mon8 + 9 * HOUR);
        assert_eq!(s.first_response.state, ClockState::Met);
        assert_eq!(s.first_response.elapsed_ms, 2 * HOUR);
        assert_eq!(s.first_response.stopped_ms, Some(mon8 + 2 * HOUR));
        assert_eq!(s.resolution.state, ClockState::Running);
        // Answered late: Breached, but a stopped clock does not escalate.
        answered.first_response_ms = Some(mon8 + 5 * HOUR);
        let s = ev(&answered, chi(2026, 3, 18, 10, 0));
        assert_eq!(s.first_response.state, ClockState::Breached);
        assert_eq!(s.resolution.state, ClockState::AtRisk);
        assert_eq!(escalation(&s), Some(Escalation { clock: ClockKind::Resolution, level: Level::AtRisk }));
        // Answered Saturday, after a Friday 18:00 deadline, is late though no business time passed.
        let fri = ticket(chi(2026, 3, 20, 14, 0), "normal");
        let mut late = fri.clone();
        late.first_response_ms = Some(chi(2026, 3, 21, 10, 0));
        let s = ev(&late, chi(2026, 3, 21, 11, 0));
        assert_eq!(s.first_response.elapsed_ms, 4 * HOUR);
        assert_eq!(s.first_response.state, ClockState::Breached);

        // Waiting on the customer: Paused, the deadline is unknown.
        let mut waiting = t.clone();
        waiting.pauses = vec![(mon8 + HOUR, i64::MAX)];
        let s = ev(&waiting, mon8 + 6 * HOUR);
        assert_eq!(s.first_response.state, ClockState::Paused);
        assert_eq!(s.first_response.elapsed_ms, HOUR);
        assert_eq!(s.first_response.due_ms, None);
        assert_eq!(escalation(&s), None);
        // The pause ended: the deadline moves by the paused business time.
        waiting.pauses = vec![(mon8 + HOUR, mon8 + 3 * HOUR)];
        let s = ev(&waiting, mon8 + 4 * HOUR);
        assert_eq!(s.first_response.state, ClockState::Running);
        assert_eq!(s.first_response.due_ms, Some(mon8 + 6 * HOUR));
        // Breached wins over Paused.
        let mut held = t.clone();
        held.pauses = vec![(mon8 + 5 * HOUR, i64::MAX)];
        assert_eq!(ev(&held, mon8 + 6 * HOUR).first_response.state, ClockState::Breached);

        // Resolved without a response: the resolution stops the first-response clock too.
        let mut resolved = t.clone();
        resolved.resolved_ms = Some(mon8 + 3 * HOUR);
        let s = ev(&resolved, mon8 + 50 * HOUR);
        assert_eq!((s.first_response.state, s.resolution.state), (ClockState::Met, ClockState::Met));
        assert_eq!(s.first_response.stopped_ms, Some(mon8 + 3 * HOUR));
        assert_eq!(escalation(&s), None);

        // Both breached: the first response escalates first.
        let s = ev(&t, chi(2026, 3, 20, 8, 0));
        assert_eq!((s.first_response.state, s.resolution.state), (ClockState::Breached, ClockState::Breached));
        assert_eq!(escalation(&s), Some(Escalation { clock: ClockKind::FirstResponse, level: Level::Breached }));

        assert_eq!(evaluate(&ticket(0, "asap"), &cal, &tg, 0, 0.2).unwrap_err(), SlaError::Priority("asap".into()));
        for f in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(evaluate(&t, &cal, &tg, 0, f), Err(SlaError::AtRiskFraction(_))));
        }
        let json = serde_json::to_value(ev(&t, mon8)).unwrap();
        assert_eq!(json["first_response"]["state"], "running");
    }

    #[test]
    fn pauses_from_history() {
        let ev = [(10, true), (20, false), (25, false), (30, true), (35, true), (40, false), (50, true)];
        assert_eq!(pauses_from_status_history(&ev, 100), vec![(10, 20), (30, 40), (50, i64::MAX)]);
        assert_eq!(pauses_from_status_history(&ev, 45), vec![(10, 20), (30, 40)], "later events are not known yet");
        assert_eq!(pauses_from_status_history(&ev, 35), vec![(10, 20), (30, i64::MAX)]);
        let unsorted = [(30, true), (10, true), (20, false)];
        assert_eq!(pauses_from_status_history(&unsorted, 100), vec![(10, 20), (30, i64::MAX)]);
        assert_eq!(pauses_from_status_history(&[(5, false)], 100), vec![]);
        assert_eq!(pauses_from_status_history(&[(10, true), (10, false)], 100), vec![], "an empty pause vanishes");
        assert_eq!(merge(&[(5, 8), (1, 3), (3, 4), (7, 10), (20, 20), (30, 25)]), vec![(1, 4), (5, 10)]);
    }

    // --- properties ------------------------------------------------------

    /// 2025-06-01 .. 2027-06-01: both DST changes of two years.
    const LO: i64 = 1_748_736_000_000;
    const HI: i64 = 1_811_808_000_000;

    fn calendar() -> impl Strategy<Value = BusinessCalendar> {
        let zones = prop::sample::select(vec!["UTC", "America/Chicago", "Europe/London", "Australia/Lord_Howe"]);
        // Per day up to two ranges on a quarter-hour grid; "a" for 24/7.
        let range = (0i64..96, 1i64..96).prop_map(|(a, len)| (a * 15, (a * 15 + len * 15).min(1440)));
        let day = prop::collection::vec(range, 0..3);
        let week = prop::collection::vec(day, 7);
        let holidays = prop::collection::vec(0i64..730, 0..12);
        (zones, week, holidays, any::<bool>()).prop_filter_map("no hours", |(tz, week, holidays, always)| {
            let hours = if always {
                "24/7".to_string()
            } else {
                let groups: Vec<String> = week
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| !r.is_empty())
                    .map(|(i, r)| {
                        let hm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
                        let list: Vec<String> = r.iter().map(|&(a, b)| format!("{}-{}", hm(a), hm(b))).collect();
                        format!("{} {}", DAY_NAMES[i], list.join(", "))
                    })
                    .collect();
                groups.join("; ")
            };
            let holidays: Vec<String> =
                holidays.iter().filter_map(|&d| date_from_day(LO / DAY + d)).map(|d| d.to_string()).collect();
            let refs: Vec<&str> = holidays.iter().map(String::as_str).collect();
            BusinessCalendar::parse(tz, &hours, &refs).ok()
        })
    }

    fn instant() -> impl Strategy<Value = i64> {
        LO..HI
    }

    fn pauses() -> impl Strategy<Value = Vec<(i64, i64)>> {
        prop::collection::vec((instant(), 0i64..5 * DAY).prop_map(|(s, len)| (s, s + len)), 0..5)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn additive_over_split_points(cal in calendar(), a in instant(), b in instant(), c in instant(), p in pauses()) {
            let mut v = [a, b, c];
            v.sort_unstable();
            let [a, b, c] = v;
            prop_assert_eq!(business_ms(&cal, a, c, &p), business_ms(&cal, a, b, &p) + business_ms(&cal, b, c, &p));
        }

        #[test]
        fn monotonic_in_to_and_bounded_by_wall_clock(cal in calendar(), a in instant(), b in instant(), d in 0i64..DAY, p in pauses()) {
            let x = business_ms(&cal, a, b, &p);
            let y = business_ms(&cal, a, b + d, &p);
            prop_assert!(x <= y);
            prop_assert!(y - x <= d);
            prop_assert!(x >= 0 && x <= (b - a).max(0));
        }

        #[test]
        fn always_open_is_wall_clock(a in any::<i64>(), b in any::<i64>(), tz in prop::sample::select(vec!["UTC", "America/Chicago", "Asia/Kathmandu"])) {
            let (a, b) = (a.min(b), a.max(b));
            let expected = b.checked_sub(a).unwrap_or(i64::MAX);
            prop_assert_eq!(business_ms(&BusinessCalendar::always(), a, b, &[]), expected);
            let local = BusinessCalendar::parse(tz, "24/7", &[]).unwrap();
            let (a, b) = (a / 4, b / 4); // keep the zone walk short
            prop_assert_eq!(business_ms(&local, a, b, &[]), b - a);
        }

        #[test]
        fn pauses_never_add_time(cal in calendar(), a in instant(), b in instant(), p in pauses(), q in pauses()) {
            let mut pq = p.clone();
            pq.extend_from_slice(&q);
            let none = business_ms(&cal, a, b, &[]);
            let some = business_ms(&cal, a, b, &p);
            prop_assert!(some <= none);
            prop_assert!(business_ms(&cal, a, b, &pq) <= some);
        }

        #[test]
        fn holidays_contribute_nothing(cal in calendar(), d in 0i64..730) {
            let date = date_from_day(LO / DAY + d).unwrap();
            let text = date.to_string();
            let mut hol: Vec<String> = cal.holidays().iter().map(|d| d.to_string()).collect();
            hol.push(text.clone());
            let refs: Vec<&str> = hol.iter().map(String::as_str).collect();
            let with = BusinessCalendar::parse(cal.tz_name(), cal.hours(), &refs).unwrap();
            let y = date.year();
            let (m, dd) = (date.month(), date.day());
            let start = at(cal.tz_name(), y, m, dd, 0, 0);
            let next = date.tomorrow().unwrap();
            let end = at(cal.tz_name(), next.year(), next.month(), next.day(), 0, 0);
            prop_assert_eq!(business_ms(&with, start, end, &[]), 0);
            // Outside that day nothing changes.
            prop_assert_eq!(business_ms(&with, LO, start, &[]), business_ms(&cal, LO, start, &[]));
            prop_assert_eq!(business_ms(&with, end, HI, &[]), business_ms(&cal, end, HI, &[]));
        }

        #[test]
        fn deadline_inverts_business_ms(cal in calendar(), start in instant(), minutes in 1i64..20_000, p in pauses()) {
            let target = minutes * MINUTE;
            let due = deadline(&cal, start, target, &p).expect("closed pauses never hold a deadline");
            prop_assert_eq!(business_ms(&cal, start, due, &p), target);
            prop_assert!(business_ms(&cal, start, due - 1, &p) < target, "no earlier instant reaches it");
            prop_assert!(business_ms(&cal, start, due - MINUTE, &p) < target);
            prop_assert!(cal.is_open(due - 1));
        }

        #[test]
        fn deadline_with_an_open_pause(cal in calendar(), start in instant(), minutes in 1i64..20_000, pause in 0i64..30 * DAY) {
            let target = minutes * MINUTE;
            let p = [(start + pause, i64::MAX)];
            let before = business_ms(&cal, start, start + pause, &[]);
            match deadline(&cal, start, target, &p) {
                Some(due) => {
                    prop_assert!(before >= target);
                    prop_assert_eq!(Some(due), deadline(&cal, start, target, &[]));
                }
                None => prop_assert!(before < target),
            }
        }

        /// A brute-force count of open minutes agrees with `business_ms`.
        #[test]
        fn agrees_with_minute_by_minute_count(cal in calendar(), a in 0i64..((HI - LO) / MINUTE), len in 0i64..(4 * 24 * 60), p in pauses()) {
            let from = LO + a * MINUTE;
            let to = from + len * MINUTE;
            let p: Vec<(i64, i64)> = p.iter().map(|&(s, e)| (s / MINUTE * MINUTE, e / MINUTE * MINUTE)).collect();
            let count = (0..len)
                .map(|i| from + i * MINUTE)
                .filter(|&t| cal.is_open(t) && !p.iter().any(|&(s, e)| s <= t && t < e))
                .count() as i64;
            prop_assert_eq!(business_ms(&cal, from, to, &p), count * MINUTE);
        }

        #[test]
        fn unanswered_is_never_met(
            cal in calendar(),
            created in instant(),
            now in instant(),
            prio in prop::sample::select(PRIORITIES.to_vec()),
            p in pauses(),
            frac in 0.0f64..=1.0,
            resolved in proptest::option::of(instant()),
        ) {
            let t = SlaTicket { created_ms: created, priority: prio.into(), first_response_ms: None, resolved_ms: resolved, pauses: p };
            let s = evaluate(&t, &cal, &Targets::default(), now, frac).unwrap();
            if resolved.is_none() {
                prop_assert_ne!(s.first_response.state, ClockState::Met);
                prop_assert_ne!(s.resolution.state, ClockState::Met);
                prop_assert_eq!(s.first_response.stopped_ms, None);
            }
            for c in [s.first_response, s.resolution] {
                prop_assert!(c.elapsed_ms >= 0);
                if c.elapsed_ms > c.target_ms {
                    prop_assert_eq!(c.state, ClockState::Breached);
                }
            }
        }

        #[test]
        fn strange_input_is_an_error_not_a_panic(tz in ".{0,12}", hours in ".{0,40}", hol in ".{0,12}", targets in ".{0,40}") {
            let _ = BusinessCalendar::parse(&tz, &hours, &[&hol]);
            let _ = BusinessCalendar::parse("UTC", &hours, &[]);
            let _ = Targets::parse(&targets);
            let _ = Targets::default().get(&tz);
            if hours.trim().is_empty() {
                prop_assert!(BusinessCalendar::parse("UTC", &hours, &[]).is_err(), "no hours is refused");
            }
        }

        #[test]
        fn hours_syntax_fuzz(parts in prop::collection::vec(prop::sample::select(vec!["mon", "-", "fri", ",", " ", "08:00", "18:00", "24:00", ";", "sat", "daily", "9:30", "0:00"]), 0..12)) {
            let text = parts.concat();
            if let Ok(c) = BusinessCalendar::parse("UTC", &text, &[]) {
                prop_assert!(c.weekly_ms() > 0 && c.weekly_ms() <= WEEK);
            }
        }

        #[test]
        fn merged_pauses_cover_the_same_instants(v in prop::collection::vec((-50i64..50, -50i64..50), 0..8), t in -60i64..60) {
            let m = merge(&v);
            let inside = |set: &[(i64, i64)]| set.iter().any(|&(s, e)| s <= t && t < e);
            prop_assert_eq!(inside(&m), inside(&v));
            prop_assert!(m.windows(2).all(|w| w[0].1 < w[1].0));
        }
    }
}
