//! Instants and dates as people read and type them. Instants are Unix
//! milliseconds (UTC) everywhere in Mast; the caller passes "now".

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// `YYYY-MM-DD HH:MM:SS` (UTC) for Unix milliseconds; instants outside
/// jiff's range (years -9999..=9999) print as `<ms> ms`, never panic.
pub fn fmt_utc(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => format!("{ms} ms"),
    }
}

/// "42 s ago", "5 min ago", "3 h ago"; "never" for `None`. A time in the
/// future counts as now.
pub fn ago(now: i64, ms: Option<i64>) -> String {
    match ms {
        None => "never".into(),
        Some(t) => {
            let s = now.saturating_sub(t).max(0) / 1000;
            if s < 120 {
                format!("{s} s ago")
            } else if s < 7200 {
                format!("{} min ago", s / 60)
            } else {
                format!("{} h ago", s / 3600)
            }
        }
    }
}

/// "3 min 20 s", "2 h 5 min" (negative durations count as 0).
pub fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// "Thu 26 Nov 14:05 CST" in the operator's zone.
pub fn local_time(ms: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned_datetime(tz.clone()).strftime("%a %-d %b %H:%M %Z").to_string(),
        Err(_) => format!("{ms} ms"),
    }
}

/// The one date parser: a strict `YYYY-MM-DD` (surrounding spaces allowed),
/// a real calendar date.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return None;
    }
    Date::new(s[0..4].parse().ok()?, s[5..7].parse().ok()?, s[8..10].parse().ok()?).ok()
}

/// `YYYY-MM-DD`, the form [`parse_date`] reads.
pub fn fmt_date(d: Date) -> String {
    d.strftime("%Y-%m-%d").to_string()
}

/// The local calendar date of an instant in `tz` (`None` outside jiff's range).
pub fn local_date(ms: i64, tz: &TimeZone) -> Option<Date> {
    Timestamp::from_millisecond(ms).ok().map(|t| t.to_zoned_datetime(tz.clone()).date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(fmt_utc(0), "1970-01-01 00:00:00");
        assert_eq!(fmt_utc(1_795_653_287_945), "2026-11-26 00:34:47");
        assert_eq!(fmt_utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(fmt_utc(i64::MAX), format!("{} ms", i64::MAX));
    }

    #[test]
    fn ago_and_durations() {
        assert_eq!(ago(10_000, None), "never");
        assert_eq!(ago(10_000, Some(5_000)), "5 s ago");
        assert_eq!(ago(10_000, Some(50_000)), "0 s ago");
        assert_eq!(ago(1_000_000, Some(0)), "16 min ago");
        assert_eq!(ago(i64::MAX, Some(i64::MIN)), format!("{} h ago", i64::MAX / 1000 / 3600));
        assert_eq!(human_duration(200_000), "3 min 20 s");
        assert_eq!(human_duration(7_500_000), "2 h 5 min");
        assert_eq!(human_duration(-5), "0 s");
    }

    #[test]
    fn local_time_uses_the_operator_zone() {
        let tz = TimeZone::get("America/Chicago").unwrap();
        // 2026-11-26 20:05 UTC = 14:05 CST.
        assert_eq!(local_time(1_795_723_500_000, &tz), "Thu 26 Nov 14:05 CST");
        assert_eq!(local_date(1_795_723_500_000, &tz), Some(jiff::civil::date(2026, 11, 26)));
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(parse_date(" 2026-02-28 "), Some(jiff::civil::date(2026, 2, 28)));
        for bad in ["2026-02-29", "2026-2-28", "26-02-28", "2026/02/28", "", "2026-02-28x", "２026-02-28"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn dates_round_trip(y in 1i16..=9999, m in 1i8..=12, d in 1i8..=28) {
            let date = jiff::civil::date(y, m, d);
            prop_assert_eq!(parse_date(&fmt_date(date)), Some(date));
        }

        #[test]
        fn formatting_never_panics(ms in any::<i64>(), now in any::<i64>()) {
            let _ = fmt_utc(ms);
            let _ = ago(now, Some(ms));
            let _ = human_duration(ms);
            let _ = local_time(ms, &TimeZone::UTC);
        }

        #[test]
        fn parse_date_never_panics(s in ".{0,12}") {
            let _ = parse_date(&s);
        }
    }
}
