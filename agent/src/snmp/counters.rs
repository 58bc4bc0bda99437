//! Rates from two counter readings and reboot detection from sysUpTime
//! (pure: the caller passes the elapsed time; nothing here reads a clock).
//!
//! Rules:
//! - A Counter64 that goes back is a discontinuity (it cannot wrap in the
//!   life of a device): no rate.
//! - A Counter32 that goes back wrapped once if the implied rate is
//!   plausible: at most 1.5 × the interface speed when known, otherwise a
//!   delta under 2^31 (a reset to near zero from a low value would imply a
//!   delta of nearly 2^32). Anything else is a discontinuity: no rate.
//! - Any reading across a reboot or a counter discontinuity gives no rate.
//! - sysUpTime is TimeTicks (u32, 1/100 s) and wraps after ~497 days: going
//!   back by the amount the elapsed time explains is a wrap, not a reboot.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Width {
    C32,
    C64,
}

/// One reading of an octet counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub value: u64,
    pub width: Width,
}

/// Increase of a counter between two readings, with Counter32 wrap handling.
/// `max_delta` is the largest increase that is physically plausible (from the
/// interface speed), when known.
pub fn delta(prev: Reading, cur: Reading, max_delta: Option<u64>) -> Option<u64> {
    if prev.width != cur.width {
        return None;
    }
    let d = match cur.width {
        Width::C64 => cur.value.checked_sub(prev.value)?,
        Width::C32 => {
            let (p, c) = (prev.value, cur.value);
            if p > u64::from(u32::MAX) || c > u64::from(u32::MAX) {
                return None;
            }
            if c >= p {
                c - p
            } else {
                let wrapped = (1u64 << 32) - p + c;
                match max_delta {
                    Some(m) if wrapped <= m => wrapped,
                    Some(_) => return None,
                    None if wrapped < (1 << 31) => wrapped,
                    None => return None,
                }
            }
        }
    };
    if let Some(m) = max_delta
        && d > m.saturating_mul(2)
    {
        // More than twice line rate: the counter was reset and climbed past
        // its old value (or the device lies); no believable rate.
        return None;
    }
    Some(d)
}

/// Bits per second between two readings of an octet counter taken `elapsed`
/// apart. `speed_bps` (ifHighSpeed/ifSpeed) bounds what is plausible.
pub fn rate_bps(prev: Reading, cur: Reading, elapsed: Duration, speed_bps: Option<u64>) -> Option<u64> {
    let ms = u64::try_from(elapsed.as_millis()).ok()?;
    if ms < 100 {
        return None;
    }
    // Octets the link could carry in the interval, with 50 % slack for
    // clock jitter between the device and us.
    let max_delta = speed_bps.filter(|s| *s > 0).map(|s| (s / 8).saturating_mul(ms) / 1000 * 3 / 2 + 65_536);
    let octets = delta(prev, cur, max_delta)?;
    Some(u64::try_from(u128::from(octets) * 8000 / u128::from(ms)).unwrap_or(u64::MAX))
}

/// What sysUpTime says happened between two polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uptime {
    /// Advanced about as much as the wall clock (possibly through a 2^32 wrap).
    Continuous { wrapped: bool },
    /// Went back, or advanced far less than the time that passed.
    Rebooted,
}

const TICKS_WRAP: u64 = 1 << 32;

/// Compares two sysUpTime readings (TimeTicks, 1/100 s) taken `elapsed` apart.
pub fn uptime_change(prev_ticks: u32, cur_ticks: u32, elapsed: Duration) -> Uptime {
    let elapsed_ticks = u64::try_from(elapsed.as_millis() / 10).unwrap_or(u64::MAX);
    // Tolerance: devices update uptime coarsely and our timestamps include
    // the request round trip.
    let tol = (elapsed_ticks / 10).max(3_000);
    let (p, c) = (u64::from(prev_ticks), u64::from(cur_ticks));
    if c >= p {
        let advanced = c - p;
        if advanced + tol >= elapsed_ticks {
            Uptime::Continuous { wrapped: false }
        } else {
            // It restarted after the previous poll and has been up for less
            // than the time that passed.
            Uptime::Rebooted
        }
    } else {
        let advanced = TICKS_WRAP - p + c;
        if advanced.abs_diff(elapsed_ticks) <= tol { Uptime::Continuous { wrapped: true } } else { Uptime::Rebooted }
    }
}

/// sysUpTime in whole seconds.
pub fn ticks_to_secs(ticks: u32) -> u32 {
    ticks / 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r32(v: u64) -> Reading {
        Reading { value: v, width: Width::C32 }
    }
    fn r64(v: u64) -> Reading {
        Reading { value: v, width: Width::C64 }
    }
    const MIN5: Duration = Duration::from_secs(300);

    #[test]
    fn plain_and_wrapped_counter32() {
        assert_eq!(rate_bps(r32(1000), r32(1000 + 37_500_000), MIN5, None), Some(1_000_000));
        // 100 Mb/s link, counter wrapped: 2^32 - (2^32 - 1000) + 9000 = 10000 octets.
        let prev = r32((1 << 32) - 1000);
        assert_eq!(delta(prev, r32(9000), Some(1 << 30)), Some(10_000));
        assert_eq!(rate_bps(prev, r32(9000), Duration::from_secs(1), Some(100_000_000)), Some(80_000));
    }

    #[test]
    fn implausible_wrap_is_a_discontinuity() {
        // Counter reset from a low value: a "wrap" would mean ~4 GB in 5 min on a 10 Mb/s link.
        assert_eq!(rate_bps(r32(5_000_000), r32(100), MIN5, Some(10_000_000)), None);
        // Unknown speed: a wrap delta over 2^31 is not believed.
        assert_eq!(delta(r32(1_000_000), r32(100), None), None);
        // Unknown speed, a small wrap is.
        assert_eq!(delta(r32(u64::from(u32::MAX) - 10), r32(20), None), Some(31));
    }

    #[test]
    fn counter64_going_back_is_a_discontinuity() {
        assert_eq!(delta(r64(1 << 40), r64(5), None), None);
        assert_eq!(rate_bps(r64(0), r64(375_000_000), MIN5, Some(1_000_000_000)), Some(10_000_000));
        assert_eq!(delta(r32(5), r64(10), None), None, "width changed (ifHC appeared)");
    }

    #[test]
    fn faster_than_line_rate_is_refused() {
        // 10 Mb/s link, 1 s: 1.25 MB possible; 100 MB claimed.
        assert_eq!(rate_bps(r64(0), r64(100_000_000), Duration::from_secs(1), Some(10_000_000)), None);
        assert_eq!(rate_bps(r64(0), r64(10), Duration::from_millis(50), None), None, "interval too short");
    }

    #[test]
    fn uptime_cases() {
        // Normal: 300 s later, 30000 ticks more.
        assert_eq!(uptime_change(843_153_800, 843_183_800, MIN5), Uptime::Continuous { wrapped: false });
        // Wrap after 497 days: 100 ticks before the wrap, 300 s later.
        let before = u32::MAX - 99;
        assert_eq!(uptime_change(before, 29_900, MIN5), Uptime::Continuous { wrapped: true });
        // Reboot: uptime went back.
        assert_eq!(uptime_change(843_153_800, 5_000, MIN5), Uptime::Rebooted);
        // Reboot: was up 5 s, now up 100 s although 300 s passed.
        assert_eq!(uptime_change(500, 10_000, MIN5), Uptime::Rebooted);
        // Back by a little more than a wrap explains: reboot near the wrap point.
        assert_eq!(uptime_change(u32::MAX - 99, 2_000_000, MIN5), Uptime::Rebooted);
        assert_eq!(ticks_to_secs(843_153_800), 8_431_538);
    }

    proptest! {
        /// A counter that advanced by d (< 2^31, mod 2^32) always yields d, wrap or not.
        #[test]
        fn c32_recovers_any_small_advance(start in any::<u32>(), d in 0u64..(1 << 31)) {
            let cur = (u64::from(start) + d) % (1 << 32);
            prop_assert_eq!(delta(r32(u64::from(start)), r32(cur), None), Some(d));
        }

        /// Rates are never negative or absurd: with a known speed the result is at most 3 × line rate.
        #[test]
        fn rate_is_bounded(p in any::<u64>(), c in any::<u64>(), w64 in any::<bool>(), ms in 100u64..1_000_000,
                           speed in 1_000u64..100_000_000_000) {
            let w = if w64 { Width::C64 } else { Width::C32 };
            let (p, c) = if w64 { (p, c) } else { (p % (1 << 32), c % (1 << 32)) };
            if let Some(r) = rate_bps(Reading { value: p, width: w }, Reading { value: c, width: w },
                                      Duration::from_millis(ms), Some(speed)) {
                prop_assert!(r <= speed.saturating_mul(3) + 65_536 * 8 * 1000 * 2 / ms + 8, "rate {} speed {}", r, speed);
            }
        }

        /// Uptime that advanced with the clock (wrapping or not) is never a reboot.
        #[test]
        fn uptime_advancing_is_continuous(start in any::<u32>(), secs in 1u64..100_000) {
            let cur = ((u64::from(start) + secs * 100) % TICKS_WRAP) as u32;
            let v = uptime_change(start, cur, Duration::from_secs(secs));
            prop_assert!(matches!(v, Uptime::Continuous { .. }), "{:?}", v);
        }

        /// A restart (uptime now below the elapsed time, and below the old value) is a reboot.
        #[test]
        fn uptime_restart_is_reboot(start in 100_000u32..u32::MAX / 2, secs in 600u64..100_000, up_frac in 0u64..50) {
            let up_ticks = secs * 100 * up_frac / 100; // up for less than half the interval
            let cur = up_ticks as u32;
            prop_assume!(cur < start);
            prop_assert_eq!(uptime_change(start, cur, Duration::from_secs(secs)), Uptime::Rebooted);
        }
    }
}
