//! Alert rules beyond reachability, decided from samples (pure: the shell
//! loads the samples and stores the firings).
//!
//! - **Signal**: a station's signal below `threshold` dBm for at least
//!   `window`: every sample since the breach began is below, and the breach
//!   began at least `window` ago (the sample before it, if any, was at or
//!   above the threshold, or the breach runs back past what was loaded).
//! - **Loss**: ping loss above `threshold` % over the last `window`, with at
//!   least [`MIN_LOSS_SAMPLES`] pings in it (a device probed once says
//!   nothing about loss).
//! - **Backlog**: an agent's oldest unsent sample older than `window`.
//!
//! Link health (before the customer calls), each comparing the newest part
//! of the window (its last eighth, [`recent_ms`]) with the rest (its
//! first half, the "usual" value), with at least [`MIN_TREND_SAMPLES`] in each:
//! - **SignalDrop**: a station's median signal fell by more than `threshold`
//!   dB (e.g. 6 dB over a week: a tree grew, an antenna moved).
//! - **StationsDrop**: an AP's station count fell by more than `threshold` %
//!   of its usual (median) count (a sector that lost its customers at once).
//! - **Capacity**: a radio link's capacity fell below `threshold` % of its
//!   usual (median) value (a backhaul that dropped to a lower modulation).
//!
//! [`step`] turns "breached now" and "was firing" into the one decision the
//! shell acts on, so an alert is sent when a firing starts and when it ends,
//! never on every evaluation.

use serde::{Deserialize, Serialize};

/// Pings needed in the window before loss is judged.
pub const MIN_LOSS_SAMPLES: usize = 5;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Signal,
    Loss,
    Backlog,
    SignalDrop,
    StationsDrop,
    Capacity,
}

impl Metric {
    pub const ALL: [Metric; 6] =
        [Metric::Signal, Metric::Loss, Metric::Backlog, Metric::SignalDrop, Metric::StationsDrop, Metric::Capacity];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Signal => "signal",
            Metric::Loss => "loss",
            Metric::Backlog => "backlog",
            Metric::SignalDrop => "signaldrop",
            Metric::StationsDrop => "stationsdrop",
            Metric::Capacity => "capacity",
        }
    }

    /// The windows (minutes) a rule of this metric may have: trends are
    /// judged over up to two weeks, the rest over up to a day.
    pub fn window_range(self) -> (i64, i64) {
        match self {
            Metric::Signal | Metric::Loss | Metric::Backlog => (1, 1440),
            Metric::SignalDrop | Metric::StationsDrop | Metric::Capacity => (1, 20_160),
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether `threshold` means something for this metric, and its range.
    pub fn threshold_range(self) -> Option<(f64, f64)> {
        match self {
            Metric::Signal => Some((-120.0, 0.0)),
            Metric::Loss => Some((0.0, 100.0)),
            Metric::Backlog => None,
            Metric::SignalDrop => Some((1.0, 60.0)),
            Metric::StationsDrop | Metric::Capacity => Some((1.0, 100.0)),
        }
    }
}

/// A rule broken now: since when (the shell keeps the first one of a
/// firing) and the value that broke it (dBm, % lost, minutes behind).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breach {
    pub since_ms: i64,
    pub value: f64,
}

/// Signal samples `(ts_ms, dbm)` in time order, the oldest loaded first.
pub fn signal(samples: &[(i64, i64)], threshold_dbm: f64, window_ms: i64, now_ms: i64) -> Option<Breach> {
    let (&(_, latest), _) = samples.split_last()?;
    // The breach began at the first sample of the final run below threshold.
    let run = samples.iter().rev().take_while(|(_, v)| (*v as f64) < threshold_dbm).count();
    if run == 0 {
        return None;
    }
    let began = samples[samples.len() - run].0;
    (now_ms - began >= window_ms).then_some(Breach { since_ms: began, value: latest as f64 })
}

/// Pings in a rule's window: how many, how many lost, the first lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pings {
    pub total: u64,
    pub lost: u64,
    pub first_lost_ms: Option<i64>,
}

impl Pings {
    /// Counts results `(ts_ms, lost)` in `(now - window, now]` (what the
    /// store's query does in SQL).
    pub fn of(samples: &[(i64, bool)], window_ms: i64, now_ms: i64) -> Pings {
        let mut p = Pings::default();
        for (t, l) in samples.iter().filter(|(t, _)| *t > now_ms - window_ms && *t <= now_ms) {
            p.total += 1;
            if *l {
                p.lost += 1;
                p.first_lost_ms = Some(p.first_lost_ms.map_or(*t, |f| f.min(*t)));
            }
        }
        p
    }
}

/// Loss above `threshold_pct` with at least [`MIN_LOSS_SAMPLES`] pings.
pub fn loss(p: Pings, threshold_pct: f64) -> Option<Breach> {
    if p.total < MIN_LOSS_SAMPLES as u64 {
        return None;
    }
    let pct = p.lost as f64 * 100.0 / p.total as f64;
    (pct > threshold_pct).then(|| Breach { since_ms: p.first_lost_ms.unwrap_or_default(), value: pct })
}

/// An agent's backlog: `oldest_unsent_ms` is the time of the oldest sample
/// it holds and has not delivered (`None`: nothing waiting).
pub fn backlog(oldest_unsent_ms: Option<i64>, window_ms: i64, now_ms: i64) -> Option<Breach> {
    let oldest = oldest_unsent_ms?;
    let behind = now_ms - oldest;
    (behind > window_ms).then_some(Breach { since_ms: oldest + window_ms, value: behind as f64 / 60_000.0 })
}

/// Samples needed in each part of a trend rule's window.
pub const MIN_TREND_SAMPLES: usize = 2;

/// The newest part of a trend rule's window: its last eighth.
pub fn recent_ms(window_ms: i64) -> i64 {
    (window_ms / 8).max(1)
}

fn median(mut v: Vec<i64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 })
}

/// The usual value (median of the window's first half) and the recent one
/// (median of its last eighth), with when the recent part's first sample
/// was taken; `None` without [`MIN_TREND_SAMPLES`] in each.
pub fn trend(samples: &[(i64, i64)], window_ms: i64, now_ms: i64) -> Option<(f64, f64, i64)> {
    let start = now_ms - window_ms;
    let usual: Vec<i64> =
        samples.iter().filter(|(t, _)| *t > start && *t <= start + window_ms / 2).map(|(_, v)| *v).collect();
    let recent_from = now_ms - recent_ms(window_ms);
    let recent: Vec<(i64, i64)> = samples.iter().filter(|(t, _)| *t > recent_from && *t <= now_ms).copied().collect();
    if usual.len() < MIN_TREND_SAMPLES || recent.len() < MIN_TREND_SAMPLES {
        return None;
    }
    let since = recent.iter().map(|(t, _)| *t).min()?;
    Some((median(usual)?, median(recent.into_iter().map(|(_, v)| v).collect())?, since))
}

/// Signal fell by more than `threshold_db`: the breach's value is the drop (dB).
pub fn signal_drop(samples: &[(i64, i64)], threshold_db: f64, window_ms: i64, now_ms: i64) -> Option<Breach> {
    let (usual, recent, since) = trend(samples, window_ms, now_ms)?;
    let drop = usual - recent;
    (drop > threshold_db).then_some(Breach { since_ms: since, value: drop })
}

/// A count fell by more than `threshold_pct` % of its usual value: the
/// breach's value is the share lost (%). A usual count of zero never fires.
pub fn count_drop(samples: &[(i64, i64)], threshold_pct: f64, window_ms: i64, now_ms: i64) -> Option<Breach> {
    let (usual, recent, since) = trend(samples, window_ms, now_ms)?;
    if usual <= 0.0 {
        return None;
    }
    let lost = (usual - recent) * 100.0 / usual;
    (lost > threshold_pct).then_some(Breach { since_ms: since, value: lost })
}

/// Capacity below `threshold_pct` % of its usual value: the breach's value
/// is the recent capacity as a share of the usual one (%).
pub fn capacity(samples: &[(i64, i64)], threshold_pct: f64, window_ms: i64, now_ms: i64) -> Option<Breach> {
    let (usual, recent, since) = trend(samples, window_ms, now_ms)?;
    if usual <= 0.0 {
        return None;
    }
    let share = recent * 100.0 / usual;
    (share < threshold_pct).then_some(Breach { since_ms: since, value: share })
}

/// What to do about one rule and subject after an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Not firing, and it was not: nothing.
    Quiet,
    /// A firing starts: record it, alert.
    Fired(Breach),
    /// Still firing: nothing new to say.
    Still,
    /// The firing ends: close it, alert.
    Cleared,
}

pub fn step(was_firing: bool, now: Option<Breach>) -> Change {
    match (was_firing, now) {
        (false, None) => Change::Quiet,
        (false, Some(b)) => Change::Fired(b),
        (true, Some(_)) => Change::Still,
        (true, None) => Change::Cleared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;

    #[test]
    fn signal_needs_the_whole_window_below() {
        let s: Vec<(i64, i64)> = (0..10).map(|i| (i * MIN, if i < 4 { -60 } else { -80 })).collect();
        // Below since minute 4; now minute 9: five minutes.
        assert_eq!(signal(&s, -75.0, 5 * MIN, 9 * MIN), Some(Breach { since_ms: 4 * MIN, value: -80.0 }));
        assert_eq!(signal(&s, -75.0, 6 * MIN, 9 * MIN), None);
        // Back above at the last sample: cleared.
        let mut up = s.clone();
        up.push((10 * MIN, -70));
        assert_eq!(signal(&up, -75.0, MIN, 10 * MIN), None);
        assert_eq!(signal(&[], -75.0, MIN, 0), None);
    }

    #[test]
    fn loss_counts_only_the_window_and_needs_enough_pings() {
        let s: Vec<(i64, bool)> = (0..20).map(|i| (i * 1000, i % 2 == 0)).collect();
        let b = loss(Pings::of(&s, 20_000, 19_000), 40.0).unwrap();
        assert_eq!((b.value, b.since_ms), (50.0, 0));
        assert_eq!(loss(Pings::of(&s, 20_000, 19_000), 50.0), None, "at the threshold is not above it");
        assert_eq!(loss(Pings::of(&s[..4], 20_000, 19_000), 10.0), None, "too few pings");
        // The lost ones all before the window: nothing.
        let old: Vec<(i64, bool)> =
            (0..10).map(|i| (i * 1000, true)).chain((10..20).map(|i| (i * 1000, false))).collect();
        assert_eq!(loss(Pings::of(&old, 9_000, 19_000), 1.0), None);
    }

    #[test]
    fn backlog_older_than_the_window() {
        assert_eq!(backlog(None, MIN, 10 * MIN), None);
        assert_eq!(backlog(Some(9 * MIN), MIN, 10 * MIN), None);
        let b = backlog(Some(5 * MIN), MIN, 10 * MIN).unwrap();
        assert_eq!((b.since_ms, b.value), (6 * MIN, 5.0));
    }

    #[test]
    fn trends_compare_the_last_eighth_with_the_first_half() {
        const H: i64 = 60 * MIN;
        // A week of hourly samples at -60, the last 12 hours at -70.
        let week = 7 * 24 * H;
        let s: Vec<(i64, i64)> = (1..=168).map(|h| (h * H, if h > 156 { -70 } else { -60 })).collect();
        let b = signal_drop(&s, 6.0, week, 168 * H).unwrap();
        assert_eq!((b.value, b.since_ms), (10.0, 148 * H), "recent part: the last 21 hours, median -70");
        assert_eq!(signal_drop(&s, 10.0, week, 168 * H), None, "a drop of exactly the threshold is not more");
        assert_eq!(signal_drop(&s[..1], 1.0, week, 168 * H), None, "too few samples");
        // Stations: 20 usually, 12 now = 40 % lost.
        let st: Vec<(i64, i64)> = (1..=16).map(|i| (i * MIN, if i > 14 { 12 } else { 20 })).collect();
        assert_eq!(count_drop(&st, 30.0, 16 * MIN, 16 * MIN).map(|b| b.value), Some(40.0));
        assert_eq!(count_drop(&st, 40.0, 16 * MIN, 16 * MIN), None);
        let none: Vec<(i64, i64)> = (1..=16).map(|i| (i * MIN, 0)).collect();
        assert_eq!(count_drop(&none, 1.0, 16 * MIN, 16 * MIN), None, "an AP with no stations loses none");
        // Capacity: 1,000 Mbit/s usually, 100 now = 10 %.
        let cap: Vec<(i64, i64)> = (1..=16).map(|i| (i * MIN, if i > 14 { 100_000 } else { 1_000_000 })).collect();
        assert_eq!(capacity(&cap, 50.0, 16 * MIN, 16 * MIN).map(|b| b.value), Some(10.0));
        assert_eq!(capacity(&cap, 10.0, 16 * MIN, 16 * MIN), None, "at the share is not below it");
    }

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(m));
        }
        assert_eq!(Metric::parse("Loss"), None);
    }

    proptest! {
        /// A signal breach means every sample from its start is below the
        /// threshold, the one before it (if any) is not, and it is old enough.
        #[test]
        fn signal_breach_is_exactly_the_final_run(
            vals in proptest::collection::vec(-95i64..-40, 0..40),
            threshold in -90i64..-45,
            window in 0i64..40,
        ) {
            let s: Vec<(i64, i64)> = vals.iter().enumerate().map(|(i, v)| (i as i64 * MIN, *v)).collect();
            let now = s.len() as i64 * MIN;
            let got = signal(&s, threshold as f64, window * MIN, now);
            // Oracle: scan forward keeping the start of the current run below.
            let mut start = None;
            for (t, v) in &s {
                if *v < threshold { start.get_or_insert(*t); } else { start = None; }
            }
            let want = start.filter(|b| now - b >= window * MIN);
            prop_assert_eq!(got.map(|b| b.since_ms), want);
            if let Some(b) = got {
                prop_assert!(s.iter().filter(|(t, _)| *t >= b.since_ms).all(|(_, v)| *v < threshold));
                prop_assert_eq!(b.value, *vals.last().unwrap() as f64);
            }
        }

        /// Loss fires exactly when the share lost in the window is above the
        /// threshold with enough pings, and only reads the window.
        #[test]
        fn loss_matches_the_share_in_the_window(
            lost in proptest::collection::vec(any::<bool>(), 0..60),
            threshold in 0u32..100,
            window in 1i64..60,
        ) {
            let s: Vec<(i64, bool)> = lost.iter().enumerate().map(|(i, l)| (i as i64 * 1000, *l)).collect();
            let now = s.len() as i64 * 1000;
            let inside: Vec<bool> = s.iter().filter(|(t, _)| *t > now - window * 1000).map(|(_, l)| *l).collect();
            let pct = inside.iter().filter(|l| **l).count() as f64 * 100.0 / inside.len().max(1) as f64;
            let want = inside.len() >= MIN_LOSS_SAMPLES && pct > threshold as f64;
            let got = loss(Pings::of(&s, window * 1000, now), threshold as f64);
            prop_assert_eq!(got.is_some(), want);
            if let Some(b) = got {
                prop_assert!((b.value - pct).abs() < 1e-9);
            }
        }

        /// A signal-drop breach is exactly "the recent median is more than
        /// the threshold below the usual median", and only samples inside
        /// the window's two parts matter.
        #[test]
        fn signal_drop_matches_its_medians(
            vals in proptest::collection::vec(-95i64..-40, 0..64),
            noise in proptest::collection::vec(-200i64..200, 0..8),
            threshold in 1i64..30,
        ) {
            let window = 64 * MIN;
            let now = 64 * MIN;
            let s: Vec<(i64, i64)> = vals.iter().enumerate().map(|(i, v)| (i as i64 * MIN + 1, *v)).collect();
            // Samples between the two parts, or before the window, change nothing.
            let with_noise: Vec<(i64, i64)> = {
                let mut w = s.clone();
                for (k, n) in noise.iter().enumerate() {
                    w.push((33 * MIN + 1 + k as i64, *n));
                }
                w.push((-5 * MIN, 500));
                w.sort();
                w
            };
            let usual: Vec<i64> = s.iter().filter(|(t, _)| *t > 0 && *t <= 32 * MIN).map(|(_, v)| *v).collect();
            let recent: Vec<i64> = s.iter().filter(|(t, _)| *t > 56 * MIN).map(|(_, v)| *v).collect();
            let want = match (median(usual.clone()), median(recent.clone())) {
                (Some(u), Some(r)) if usual.len() >= MIN_TREND_SAMPLES && recent.len() >= MIN_TREND_SAMPLES => {
                    (u - r > threshold as f64).then_some(u - r)
                }
                _ => None,
            };
            prop_assert_eq!(signal_drop(&s, threshold as f64, window, now).map(|b| b.value), want);
            prop_assert_eq!(signal_drop(&with_noise, threshold as f64, window, now).map(|b| b.value), want);
        }

        /// Alerts go out once per firing: over any sequence of evaluations,
        /// Fired and Cleared alternate, starting with Fired.
        #[test]
        fn fired_and_cleared_alternate(breached in proptest::collection::vec(any::<bool>(), 0..50)) {
            let mut firing = false;
            let mut said = Vec::new();
            for b in breached {
                let now = b.then_some(Breach { since_ms: 0, value: 0.0 });
                match step(firing, now) {
                    Change::Fired(_) => { said.push(true); firing = true; }
                    Change::Cleared => { said.push(false); firing = false; }
                    Change::Still => prop_assert!(firing && b),
                    Change::Quiet => prop_assert!(!firing && !b),
                }
            }
            for (i, s) in said.iter().enumerate() {
                prop_assert_eq!(*s, i % 2 == 0);
            }
        }
    }
}
