//! Availability (uptime) of a device over a period, from its probe results,
//! for the availability report (pure core: no IO, no clock, no database).
//! Instants are `i64` Unix milliseconds ([`Ms`]), passed in; spans are
//! half-open `[from, to)`.
//!
//! # Model (this is the spec)
//! - A [`Probe`] is one ping or SNMP result. Probes come in any order and may
//!   lie before the period (context for a failure run already under way) or
//!   after it. They are sorted by time; two results at the same millisecond
//!   merge, success winning (as in the [`correlator`](crate::correlator)).
//! - Each probe *covers* `[ts, next probe's ts)`, but at most
//!   `2 * interval_ms` ([`Rules::interval_ms`]): past that the device went
//!   unprobed and the time is *unknown*, as is any time no probe covers
//!   (before the first probe, agent not installed, device not probed).
//! - A *failure run* (consecutive failed probes, in probe order; a coverage
//!   gap inside it does not break it) of at least [`Rules::down_after`]
//!   probes is *down* over the coverage of its probes: from the first
//!   failure to the next success, or to the end of the last failure's
//!   coverage when no success follows. A gap longer than `2 * interval_ms`
//!   inside the run stays unknown. A shorter run is a blip and counts *up*,
//!   as does the coverage of every success.
//! - `forced_down` spans are down whatever the probes say, unknown time
//!   included (a tower whose backhaul was cut: its customers had no service
//!   although the tower's agent still saw the radio).
//! - `maintenance` spans are *excluded*: neither up, down nor unknown. They
//!   win over `forced_down` and the probes.
//! - Everything is clipped to the period, so
//!   `up_ms + down_ms + unknown_ms + excluded_ms == period.to - period.from`.
//!   [`Availability::outages`] lists the down time as merged spans (touching
//!   spans joined), sorted. [`Availability::pct`] is `up / (up + down) * 100`,
//!   `None` when nothing was up or down.
//! - [`combine`] adds devices up (an AP and its CPEs, a site) in device-time.
//!
//! # Edge cases
//! - A period with `to <= from` is empty: every time is zero, no outage,
//!   `pct` `None` (the period itself is returned as given).
//! - Spans with `to <= from` are ignored; spans may overlap and come unsorted.
//! - `down_after == 0` behaves as 1 (every failure run is down);
//!   `interval_ms <= 0` makes probes cover nothing.
//! - No panic and no overflow on any input: a probe's coverage stops at
//!   `i64::MAX` and times saturate at `i64::MAX`, so the sum above is exact
//!   whenever `period.to - period.from` fits in an `i64` (any period shorter
//!   than 292 million years); past that, `unknown_ms` is the rest, never
//!   negative.

use serde::Serialize;

/// Unix milliseconds (UTC).
pub type Ms = i64;

/// A half-open time span [from, to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub from: Ms,
    pub to: Ms,
}

impl Span {
    /// Its length: 0 when `to <= from`, at most `i64::MAX`.
    pub fn len(self) -> Ms {
        if self.is_empty() { 0 } else { self.to.saturating_sub(self.from) }
    }

    /// True when it holds no instant (`to <= from`).
    pub fn is_empty(self) -> bool {
        self.to <= self.from
    }

    /// Its part inside `within`; `None` when that part is empty.
    pub fn clip(self, within: Span) -> Option<Span> {
        let s = Span { from: self.from.max(within.from), to: self.to.min(within.to) };
        (!s.is_empty()).then_some(s)
    }
}

/// One probe result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// When the probe was answered or timed out.
    pub ts: Ms,
    /// Answered.
    pub ok: bool,
}

/// How probes become up and down time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The probe interval; a probe covers at most twice this long.
    pub interval_ms: Ms,
    /// Failed probes in a row that make an outage (0 behaves as 1).
    pub down_after: u32,
}

/// A device's (or, from [`combine`], a group's) availability over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Availability {
    /// The period asked for.
    pub period: Span,
    /// Time covered by probes and not down.
    pub up_ms: Ms,
    /// Time in an outage or forced down.
    pub down_ms: Ms,
    /// No probe result covers it (no data: agent not installed yet, device not probed).
    pub unknown_ms: Ms,
    /// Inside maintenance windows: neither up nor down.
    pub excluded_ms: Ms,
    /// The down spans (clipped to the period, maintenance removed, merged, sorted).
    pub outages: Vec<Span>,
    /// up / (up + down) * 100; None when up + down == 0.
    pub pct: Option<f64>,
}

/// The union of `spans`: empty spans dropped, overlapping and touching spans
/// joined, sorted by start (so consecutive spans have a gap between them).
pub fn merge(spans: impl IntoIterator<Item = Span>) -> Vec<Span> {
    let mut v: Vec<Span> = spans.into_iter().filter(|s| !s.is_empty()).collect();
    v.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for s in v {
        match out.last_mut() {
            Some(last) if s.from <= last.to => last.to = last.to.max(s.to),
            _ => out.push(s),
        }
    }
    out
}

/// The total length of `spans` (disjoint), saturating.
fn total(spans: &[Span]) -> Ms {
    spans.iter().fold(0, |acc, s| acc.saturating_add(s.len()))
}

/// The union of `spans` inside `period`.
fn clipped(spans: &[Span], period: Span) -> Vec<Span> {
    merge(spans.iter().filter_map(|s| s.clip(period)))
}

/// `a` without `b`, both as [`merge`] returns them; the result is too.
fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(a.len());
    let mut first = 0;
    for s in a {
        while first < b.len() && b[first].to <= s.from {
            first += 1;
        }
        let mut from = s.from;
        for cut in b[first..].iter().take_while(|cut| cut.from < s.to) {
            if cut.from > from {
                out.push(Span { from, to: cut.from });
            }
            from = from.max(cut.to);
        }
        if from < s.to {
            out.push(Span { from, to: s.to });
        }
    }
    out
}

/// `up / (up + down) * 100`, `None` when both are 0.
fn percent(up: Ms, down: Ms) -> Option<f64> {
    let (up, down) = (up.max(0) as f64, down.max(0) as f64);
    let seen = up + down;
    (seen > 0.0).then(|| (up / seen * 100.0).clamp(0.0, 100.0))
}

/// The probes sorted by time, one per millisecond, success winning.
fn sorted_probes(probes: &[Probe]) -> Vec<Probe> {
    let mut v = probes.to_vec();
    v.sort_unstable_by_key(|p| (p.ts, !p.ok));
    v.dedup_by_key(|p| p.ts);
    v
}

/// What each probe covers: until the next probe, at most `reach` long.
fn coverage(probes: &[Probe], reach: Ms) -> Vec<Span> {
    let next = probes.iter().skip(1).map(|p| p.ts).map(Some).chain([None]);
    probes
        .iter()
        .zip(next)
        .map(|(p, next)| {
            let end = p.ts.saturating_add(reach);
            Span { from: p.ts, to: next.map_or(end, |n| n.min(end)) }
        })
        .collect()
}

/// What the probes alone say, unclipped: (up, down), each merged.
fn probe_states(probes: &[Probe], rules: &Rules) -> (Vec<Span>, Vec<Span>) {
    let probes = sorted_probes(probes);
    let cover = coverage(&probes, rules.interval_ms.saturating_mul(2).max(0));
    let down_after = rules.down_after.max(1) as usize;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < probes.len() {
        let ok = probes[start].ok;
        let len = probes[start..].iter().take_while(|p| p.ok == ok).count();
        let out = if !ok && len >= down_after { &mut down } else { &mut up };
        out.extend_from_slice(&cover[start..start + len]);
        start += len;
    }
    (merge(up), merge(down))
}

impl Availability {
    /// Nothing at all over `period`.
    fn empty(period: Span) -> Availability {
        Availability { period, up_ms: 0, down_ms: 0, unknown_ms: 0, excluded_ms: 0, outages: Vec::new(), pct: None }
    }
}

/// The availability of one device over `period` (see the module doc).
pub fn from_probes(
    period: Span,
    probes: &[Probe],
    rules: &Rules,
    maintenance: &[Span],
    forced_down: &[Span],
) -> Availability {
    if period.is_empty() {
        return Availability::empty(period);
    }
    let excluded = clipped(maintenance, period);
    let forced = subtract(&clipped(forced_down, period), &excluded);
    let (probe_up, probe_down) = probe_states(probes, rules);
    let up = subtract(&subtract(&clipped(&probe_up, period), &excluded), &forced);
    let outages = merge(subtract(&clipped(&probe_down, period), &excluded).into_iter().chain(forced));
    let (up_ms, down_ms, excluded_ms) = (total(&up), total(&outages), total(&excluded));
    let unknown_ms = period.len().saturating_sub(up_ms).saturating_sub(down_ms).saturating_sub(excluded_ms).max(0);
    Availability { period, up_ms, down_ms, unknown_ms, excluded_ms, outages, pct: percent(up_ms, down_ms) }
}

/// Aggregate (an AP and its CPEs, a site): sums the times of every part
/// (device-time, so `down_ms` may exceed the length of `outages`), outages =
/// union of the parts' outages merged, period = the first part's period (all
/// parts share it), pct from the sums. Empty input: all zero with period
/// `Span { 0, 0 }` and pct `None`.
pub fn combine(parts: &[Availability]) -> Availability {
    let Some(first) = parts.first() else { return Availability::empty(Span { from: 0, to: 0 }) };
    let sum = |time: fn(&Availability) -> Ms| parts.iter().fold(0, |acc: Ms, p| acc.saturating_add(time(p)));
    let (up_ms, down_ms) = (sum(|p| p.up_ms), sum(|p| p.down_ms));
    Availability {
        period: first.period,
        up_ms,
        down_ms,
        unknown_ms: sum(|p| p.unknown_ms),
        excluded_ms: sum(|p| p.excluded_ms),
        outages: merge(parts.iter().flat_map(|p| p.outages.iter().copied())),
        pct: percent(up_ms, down_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const SEC: Ms = 1000;
    /// The probe interval in the scenarios.
    const I: Ms = 10 * SEC;
    const HOUR: Ms = 3600 * SEC;
    const DAY: Ms = 24 * HOUR;
    /// 2026-01-01T00:00Z.
    const T0: Ms = 1_767_225_600_000;

    fn rules(down_after: u32) -> Rules {
        Rules { interval_ms: I, down_after }
    }

    fn span(from: Ms, to: Ms) -> Span {
        Span { from, to }
    }

    /// `n` probes every `I` from `from`, probe `k` failing when `fail(k)`.
    fn series(from: Ms, n: i64, fail: impl Fn(i64) -> bool) -> Vec<Probe> {
        (0..n).map(|k| Probe { ts: from + k * I, ok: !fail(k) }).collect()
    }

    fn check_sum(a: &Availability) {
        assert_eq!(a.up_ms + a.down_ms + a.unknown_ms + a.excluded_ms, a.period.len(), "{a:?}");
    }

    #[test]
    fn all_ok_over_a_day_is_100_percent() {
        let day = span(T0, T0 + DAY);
        let a = from_probes(day, &series(T0, DAY / I, |_| false), &rules(3), &[], &[]);
        check_sum(&a);
        assert_eq!((a.up_ms, a.down_ms, a.unknown_ms, a.excluded_ms), (DAY, 0, 0, 0));
        assert_eq!(a.pct, Some(100.0));
        assert!(a.outages.is_empty());
    }

    #[test]
    fn k_failures_in_a_row_are_one_outage_of_k_intervals() {
        let hour = span(T0, T0 + HOUR);
        for k in 3..=7 {
            let probes = series(T0, HOUR / I, |i| (100..100 + k).contains(&i));
            let a = from_probes(hour, &probes, &rules(3), &[], &[]);
            check_sum(&a);
            assert_eq!(a.down_ms, k * I, "k = {k}");
            assert_eq!(a.up_ms, HOUR - k * I);
            assert_eq!(a.outages, vec![span(T0 + 100 * I, T0 + (100 + k) * I)]);
            let pct = a.pct.unwrap();
            assert!((pct - 100.0 * (HOUR - k * I) as f64 / HOUR as f64).abs() < 1e-9);
        }
    }

    #[test]
    fn a_blip_shorter_than_down_after_is_up() {
        let hour = span(T0, T0 + HOUR);
        let probes = series(T0, HOUR / I, |i| i == 50 || i == 51 || i == 200);
        let a = from_probes(hour, &probes, &rules(3), &[], &[]);
        assert_eq!((a.up_ms, a.down_ms), (HOUR, 0));
        assert_eq!(a.pct, Some(100.0));
        assert!(a.outages.is_empty());
    }

    #[test]
    fn a_probe_gap_longer_than_two_intervals_is_unknown() {
        let hour = span(T0, T0 + HOUR);
        // Probes stop at 10:00 into the hour and resume at 20:00; none in the first minute.
        let mut probes = series(T0 + 60 * SEC, 55, |_| false);
        probes.extend(series(T0 + 20 * 60 * SEC, 240, |_| false));
        let a = from_probes(hour, &probes, &rules(3), &[], &[]);
        check_sum(&a);
        let last_before_gap = T0 + 60 * SEC + 54 * I;
        let gap = T0 + 20 * 60 * SEC - (last_before_gap + 2 * I);
        assert_eq!(a.unknown_ms, 60 * SEC + gap);
        assert_eq!(a.down_ms, 0);
        assert_eq!(a.pct, Some(100.0));
    }

    #[test]
    fn a_gap_of_exactly_two_intervals_is_covered() {
        let probes = vec![Probe { ts: T0, ok: true }, Probe { ts: T0 + 2 * I, ok: true }];
        let a = from_probes(span(T0, T0 + 2 * I), &probes, &rules(3), &[], &[]);
        assert_eq!((a.up_ms, a.unknown_ms), (2 * I, 0));
    }

    #[test]
    fn maintenance_covering_part_of_an_outage_shortens_it() {
        let hour = span(T0, T0 + HOUR);
        let probes = series(T0, HOUR / I, |i| (100..110).contains(&i));
        let window = span(T0 + 105 * I, T0 + 120 * I);
        let a = from_probes(hour, &probes, &rules(3), &[window], &[]);
        check_sum(&a);
        assert_eq!(a.outages, vec![span(T0 + 100 * I, T0 + 105 * I)]);
        assert_eq!(a.down_ms, 5 * I);
        assert_eq!(a.excluded_ms, 15 * I);
        assert_eq!(a.up_ms, HOUR - 20 * I);
    }

    #[test]
    fn forced_down_wins_over_ok_probes_and_unknown_time() {
        let hour = span(T0, T0 + HOUR);
        // Probes only in the first half hour; the backhaul was cut from 20:00 to 40:00.
        let probes = series(T0, HOUR / 2 / I, |_| false);
        let cut = span(T0 + 20 * 60 * SEC, T0 + 40 * 60 * SEC);
        let a = from_probes(hour, &probes, &rules(3), &[], &[cut]);
        check_sum(&a);
        assert_eq!(a.outages, vec![cut]);
        assert_eq!(a.down_ms, 20 * 60 * SEC);
        assert_eq!(a.up_ms, 20 * 60 * SEC);
        assert_eq!(a.unknown_ms, 20 * 60 * SEC);
        assert_eq!(a.pct, Some(50.0));
        // Maintenance wins over forced down.
        let b = from_probes(hour, &probes, &rules(3), &[span(T0 + 30 * 60 * SEC, T0 + 50 * 60 * SEC)], &[cut]);
        check_sum(&b);
        assert_eq!(b.outages, vec![span(cut.from, T0 + 30 * 60 * SEC)]);
        assert_eq!(b.excluded_ms, 20 * 60 * SEC);
    }

    #[test]
    fn forced_down_touching_a_probe_outage_merges() {
        let hour = span(T0, T0 + HOUR);
        let probes = series(T0, HOUR / I, |i| (100..110).contains(&i));
        let cut = span(T0 + 90 * I, T0 + 100 * I);
        let a = from_probes(hour, &probes, &rules(3), &[], &[cut, cut]);
        assert_eq!(a.outages, vec![span(T0 + 90 * I, T0 + 110 * I)]);
        assert_eq!(a.down_ms, 20 * I);
    }

    #[test]
    fn maintenance_over_the_whole_period_gives_no_percentage() {
        let hour = span(T0, T0 + HOUR);
        let probes = series(T0, HOUR / I, |i| i > 10);
        let a = from_probes(hour, &probes, &rules(3), &[span(T0 - DAY, T0 + DAY)], &[hour]);
        assert_eq!((a.up_ms, a.down_ms, a.unknown_ms, a.excluded_ms), (0, 0, 0, HOUR));
        assert_eq!(a.pct, None);
        assert!(a.outages.is_empty());
    }

    #[test]
    fn an_outage_without_recovery_lasts_to_the_end_of_the_last_coverage() {
        let hour = span(T0, T0 + HOUR);
        let probes = series(T0, 100, |i| i >= 90);
        let a = from_probes(hour, &probes, &rules(3), &[], &[]);
        check_sum(&a);
        assert_eq!(a.outages, vec![span(T0 + 90 * I, T0 + 99 * I + 2 * I)]);
        assert_eq!(a.unknown_ms, HOUR - 101 * I);
    }

    #[test]
    fn probes_before_the_period_give_context() {
        // A failure run that started before the period: two of its three failures are inside.
        let period = span(T0 + 10 * I, T0 + HOUR);
        let probes = series(T0, HOUR / I, |i| (9..12).contains(&i));
        let a = from_probes(period, &probes, &rules(3), &[], &[]);
        assert_eq!(a.outages, vec![span(T0 + 10 * I, T0 + 12 * I)]);
        assert_eq!(a.unknown_ms, 0, "the probe before the period covers its start");
    }

    #[test]
    fn same_millisecond_results_merge_success_winning() {
        let hour = span(T0, T0 + HOUR);
        let mut probes = series(T0, HOUR / I, |i| (100..105).contains(&i));
        probes.push(Probe { ts: T0 + 102 * I, ok: true });
        probes.reverse();
        let a = from_probes(hour, &probes, &rules(3), &[], &[]);
        assert_eq!(a.down_ms, 0, "two blips of two and two failures");
        assert_eq!(from_probes(hour, &probes, &rules(2), &[], &[]).down_ms, 4 * I);
    }

    #[test]
    fn edge_rules_and_periods() {
        let probes = series(T0, 10, |i| i == 3);
        // down_after 0 behaves as 1.
        assert_eq!(from_probes(span(T0, T0 + 10 * I), &probes, &rules(0), &[], &[]).down_ms, I);
        // No interval: probes cover nothing.
        let a = from_probes(span(T0, T0 + 10 * I), &probes, &Rules { interval_ms: 0, down_after: 1 }, &[], &[]);
        assert_eq!((a.unknown_ms, a.pct), (10 * I, None));
        // Inverted period: empty.
        let inverted = span(T0 + I, T0);
        assert_eq!(from_probes(inverted, &probes, &rules(1), &[inverted], &[]), Availability::empty(inverted));
        // Empty spans are ignored.
        let a = from_probes(span(T0, T0 + 10 * I), &probes, &rules(3), &[span(T0 + 5, T0 + 5)], &[span(T0 + 9, T0)]);
        assert_eq!((a.up_ms, a.excluded_ms, a.down_ms), (10 * I, 0, 0));
    }

    #[test]
    fn combine_two_devices() {
        let day = span(T0, T0 + DAY);
        let ap = from_probes(day, &series(T0, DAY / I, |i| (1000..1360).contains(&i)), &rules(3), &[], &[]);
        let cpe = from_probes(day, &series(T0, DAY / I, |i| (1300..1400).contains(&i)), &rules(3), &[], &[]);
        let both = combine(&[ap.clone(), cpe]);
        assert_eq!(both.period, day);
        assert_eq!(both.down_ms, 360 * I + 100 * I);
        assert_eq!(both.up_ms, 2 * DAY - 460 * I);
        assert_eq!(both.unknown_ms + both.excluded_ms, 0);
        assert_eq!(both.outages, vec![span(T0 + 1000 * I, T0 + 1400 * I)]);
        let pct = both.pct.unwrap();
        assert!((pct - 100.0 * (2 * DAY - 460 * I) as f64 / (2 * DAY) as f64).abs() < 1e-9);
        assert_eq!(combine(std::slice::from_ref(&ap)), ap);
        assert_eq!(combine(&[]), Availability::empty(span(0, 0)));
        let json = serde_json::to_value(&both).unwrap();
        assert_eq!(json["outages"][0], serde_json::json!({"from": T0 + 1000 * I, "to": T0 + 1400 * I}));
        assert_eq!(serde_json::to_value(combine(&[])).unwrap()["pct"], serde_json::Value::Null);
    }

    // --- properties ------------------------------------------------------

    fn any_span() -> impl Strategy<Value = Span> {
        (-500i64..2500, -100i64..800).prop_map(|(from, len)| span(from, from + len))
    }

    fn any_probes() -> impl Strategy<Value = Vec<Probe>> {
        let ts = prop_oneof![(-10i64..60).prop_map(|k| k * 40), -600i64..2600];
        prop::collection::vec((ts, any::<bool>()).prop_map(|(ts, ok)| Probe { ts, ok }), 0..120)
    }

    fn any_rules() -> impl Strategy<Value = Rules> {
        (-5i64..120, 0u32..5).prop_map(|(interval_ms, down_after)| Rules { interval_ms, down_after })
    }

    fn any_period() -> impl Strategy<Value = Span> {
        (-300i64..2300, -300i64..2300).prop_map(|(from, to)| span(from, to))
    }

    fn spans() -> impl Strategy<Value = Vec<Span>> {
        prop::collection::vec(any_span(), 0..5)
    }

    /// Millisecond by millisecond, written independently of the module:
    /// (up, down, unknown, excluded).
    fn oracle(period: Span, probes: &[Probe], rules: &Rules, maint: &[Span], forced: &[Span]) -> [Ms; 4] {
        let mut by_ts: BTreeMap<Ms, bool> = BTreeMap::new();
        for p in probes {
            *by_ts.entry(p.ts).or_insert(false) |= p.ok;
        }
        let v: Vec<(Ms, bool)> = by_ts.into_iter().collect();
        let reach = (2 * rules.interval_ms).max(0);
        let down_after = rules.down_after.max(1) as usize;
        let in_outage: Vec<bool> = (0..v.len())
            .map(|k| {
                let back = v[..=k].iter().rev().take_while(|p| !p.1).count();
                let fwd = v[k..].iter().take_while(|p| !p.1).count();
                !v[k].1 && back + fwd > down_after // the run is back + fwd - 1 long
            })
            .collect();
        let within = |spans: &[Span], t: Ms| spans.iter().any(|s| s.from <= t && t < s.to);
        let mut out = [0; 4];
        for t in period.from..period.to {
            let state = if within(maint, t) {
                3
            } else if within(forced, t) {
                1
            } else {
                let k = v.partition_point(|p| p.0 <= t);
                if k == 0 || t >= v[k - 1].0 + reach || v.get(k).is_some_and(|n| t >= n.0) {
                    2
                } else if in_outage[k - 1] {
                    1
                } else {
                    0
                }
            };
            out[state] += 1;
        }
        out
    }

    fn check_outages(a: &Availability) -> Result<(), TestCaseError> {
        prop_assert!(a.outages.windows(2).all(|w| w[0].to < w[1].from), "sorted, disjoint, merged");
        prop_assert!(a.outages.iter().all(|s| !s.is_empty() && a.period.from <= s.from && s.to <= a.period.to));
        prop_assert_eq!(total(&a.outages), a.down_ms);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn times_add_up_and_outages_are_clean(
            period in any_period(), probes in any_probes(), rules in any_rules(), maint in spans(), forced in spans(),
        ) {
            let a = from_probes(period, &probes, &rules, &maint, &forced);
            prop_assert!(a.up_ms >= 0 && a.down_ms >= 0 && a.unknown_ms >= 0 && a.excluded_ms >= 0);
            prop_assert_eq!(a.up_ms + a.down_ms + a.unknown_ms + a.excluded_ms, (period.to - period.from).max(0));
            check_outages(&a)?;
            prop_assert!(a.pct.is_none_or(|p| (0.0..=100.0).contains(&p)));
            prop_assert_eq!(a.pct.is_none(), a.up_ms + a.down_ms == 0);
        }

        #[test]
        fn matches_a_millisecond_by_millisecond_oracle(
            period in any_period(), probes in any_probes(), rules in any_rules(), maint in spans(), forced in spans(),
        ) {
            let a = from_probes(period, &probes, &rules, &maint, &forced);
            let expected = oracle(period, &probes, &rules, &maint, &forced);
            prop_assert_eq!([a.up_ms, a.down_ms, a.unknown_ms, a.excluded_ms], expected);
        }

        #[test]
        fn shuffled_and_duplicated_probes_give_the_same_result(
            (probes, shuffled) in any_probes().prop_flat_map(|v| {
                let mut w = v.clone();
                w.extend(v.iter().take(5).copied());
                (Just(v), Just(w).prop_shuffle())
            }),
            period in any_period(), rules in any_rules(), maint in spans(), forced in spans(),
        ) {
            let a = from_probes(period, &probes, &rules, &maint, &forced);
            let mut maint_shuffled = maint.clone();
            maint_shuffled.reverse();
            prop_assert_eq!(a, from_probes(period, &shuffled, &rules, &maint_shuffled, &forced));
        }

        #[test]
        fn combine_sums_the_parts(
            parts in prop::collection::vec((any_probes(), any_rules(), spans(), spans()), 0..4),
            period in any_period(),
        ) {
            let parts: Vec<Availability> =
                parts.iter().map(|(p, r, m, f)| from_probes(period, p, r, m, f)).collect();
            let all = combine(&parts);
            let n = parts.len() as i64;
            prop_assert_eq!(all.up_ms + all.down_ms + all.unknown_ms + all.excluded_ms, n * (period.to - period.from).max(0));
            prop_assert_eq!(all.down_ms, parts.iter().map(|p| p.down_ms).sum::<Ms>());
            prop_assert!(all.outages.windows(2).all(|w| w[0].to < w[1].from));
            prop_assert!(total(&all.outages) <= all.down_ms);
            prop_assert!(parts.iter().all(|p| subtract(&p.outages, &all.outages).is_empty()));
            prop_assert!(all.pct.is_none_or(|p| (0.0..=100.0).contains(&p)));
        }

        #[test]
        fn never_panics_or_overflows_on_extreme_input(
            period in (any::<i64>(), any::<i64>()).prop_map(|(from, to)| span(from, to)),
            probes in prop::collection::vec((any::<i64>(), any::<bool>()).prop_map(|(ts, ok)| Probe { ts, ok }), 0..20),
            rules in (any::<i64>(), any::<u32>()).prop_map(|(interval_ms, down_after)| Rules { interval_ms, down_after }),
            maint in prop::collection::vec((any::<i64>(), any::<i64>()).prop_map(|(a, b)| span(a, b)), 0..4),
            forced in prop::collection::vec((any::<i64>(), any::<i64>()).prop_map(|(a, b)| span(a, b)), 0..4),
        ) {
            let a = from_probes(period, &probes, &rules, &maint, &forced);
            prop_assert!(a.up_ms >= 0 && a.down_ms >= 0 && a.unknown_ms >= 0 && a.excluded_ms >= 0);
            let sum = a.up_ms as i128 + a.down_ms as i128 + a.unknown_ms as i128 + a.excluded_ms as i128;
            let len = (period.to as i128 - period.from as i128).max(0);
            if len <= i64::MAX as i128 {
                prop_assert_eq!(sum, len);
            }
            check_outages(&a)?;
            prop_assert!(a.pct.is_none_or(|p| (0.0..=100.0).contains(&p)));
            let _ = combine(&[a.clone(), a]);
        }
    }
}
