//! What finished field work says: the seed article's "first-visit fix
//! rate > 80 %" and "4+ jobs per tech per day", and time on site, drive
//! time and parts per job kind.
//!
//! A **visit** is a job that reached the site and ended there (done, or
//! needing a revisit). A visit is a **first-visit fix** when it ended done
//! and no other visit for the same customer and the same kind arrived on
//! site after it ended and within the window (30 days by default); a visit
//! that needed a revisit is a miss. Visits without a customer (tower work)
//! count for jobs per day but not for the fix rate.
//!
//! **Jobs per technician per day**: visits over the (technician, day)
//! pairs that had at least one; the day is the shell's (the operator's
//! local date, as a number), so the core has no calendar.

use crate::job::JobKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub const FIX_WINDOW_MS: i64 = 30 * 86_400_000;

/// A job that reached the site and ended there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub job: i64,
    pub customer: Option<i64>,
    pub kind: JobKind,
    pub technician: i64,
    /// The local day the visit ended on (any increasing day number).
    pub day: i64,
    /// Set off towards the site (the last time, if several).
    pub en_route_ms: Option<i64>,
    /// Arrived on site.
    pub on_site_ms: i64,
    /// Ended (done or needing a revisit).
    pub ended_ms: i64,
    /// Ended done (false: needs a revisit).
    pub done: bool,
    /// Parts used: (model, quantity).
    pub parts: Vec<(i64, i64)>,
}

/// First-visit fixes among the visits that count (those with a customer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FirstVisit {
    pub visits: i64,
    pub fixed: i64,
}

impl FirstVisit {
    /// Per cent, one decimal (`None` without visits).
    pub fn rate_pct(&self) -> Option<f64> {
        (self.visits > 0).then(|| (self.fixed as f64 * 1000.0 / self.visits as f64).round() / 10.0)
    }
}

/// Which visits were misses: needed a revisit, or were followed by another
/// visit for the same customer and kind within `window_ms` of ending.
/// Sorted by job.
pub fn misses(visits: &[Visit], window_ms: i64) -> Vec<i64> {
    let mut by_key: HashMap<(i64, JobKind), Vec<&Visit>> = HashMap::new();
    for v in visits {
        if let Some(c) = v.customer {
            by_key.entry((c, v.kind)).or_default().push(v);
        }
    }
    let mut out = Vec::new();
    for list in by_key.values_mut() {
        list.sort_by_key(|v| (v.on_site_ms, v.job));
        let arrivals: Vec<i64> = list.iter().map(|v| v.on_site_ms).collect();
        for (i, v) in list.iter().enumerate() {
            // The first other arrival strictly after this visit ended.
            let later = arrivals.partition_point(|a| *a <= v.ended_ms);
            let repeat = (later..arrivals.len())
                .find(|j| *j != i)
                .is_some_and(|j| arrivals[j] <= v.ended_ms.saturating_add(window_ms));
            if !v.done || repeat {
                out.push(v.job);
            }
        }
    }
    out.sort_unstable();
    out
}

pub fn first_visit(visits: &[Visit], window_ms: i64) -> FirstVisit {
    let counted = visits.iter().filter(|v| v.customer.is_some()).count() as i64;
    FirstVisit { visits: counted, fixed: counted - misses(visits, window_ms).len() as i64 }
}

/// Jobs per technician per day, per technician and for the team.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobsPerDay {
    /// technician → (visits, days worked).
    pub by_technician: BTreeMap<i64, (i64, i64)>,
    pub visits: i64,
    pub tech_days: i64,
}

impl JobsPerDay {
    pub fn average(&self) -> Option<f64> {
        (self.tech_days > 0).then(|| self.visits as f64 / self.tech_days as f64)
    }
}

pub fn jobs_per_day(visits: &[Visit]) -> JobsPerDay {
    let mut days: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for v in visits {
        *days.entry((v.technician, v.day)).or_default() += 1;
    }
    let mut out = JobsPerDay::default();
    for ((tech, _), n) in days {
        let e = out.by_technician.entry(tech).or_default();
        e.0 += n;
        e.1 += 1;
        out.visits += n;
        out.tech_days += 1;
    }
    out
}

/// Totals per job kind: visits, time on site, drive time (of the visits
/// that recorded setting off), parts used.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KindTotals {
    pub visits: i64,
    pub on_site_ms: i64,
    pub driven: i64,
    pub drive_ms: i64,
    /// model → quantity.
    pub parts: BTreeMap<i64, i64>,
}

pub fn by_kind(visits: &[Visit]) -> BTreeMap<JobKind, KindTotals> {
    let mut out: BTreeMap<JobKind, KindTotals> = BTreeMap::new();
    for v in visits {
        let t = out.entry(v.kind).or_default();
        t.visits += 1;
        t.on_site_ms += (v.ended_ms - v.on_site_ms).max(0);
        if let Some(e) = v.en_route_ms.filter(|e| *e <= v.on_site_ms) {
            t.driven += 1;
            t.drive_ms += v.on_site_ms - e;
        }
        for (m, q) in &v.parts {
            *t.parts.entry(*m).or_default() += q;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;

    fn visit(job: i64, customer: Option<i64>, kind: JobKind, on_site: i64, done: bool) -> Visit {
        Visit {
            job,
            customer,
            kind,
            technician: job % 3,
            day: on_site / DAY,
            en_route_ms: Some(on_site - 1_800_000),
            on_site_ms: on_site,
            ended_ms: on_site + 3_600_000,
            done,
            parts: vec![(1, 1)],
        }
    }

    #[test]
    fn a_repeat_within_30_days_makes_the_first_a_miss() {
        let v = [
            visit(1, Some(7), JobKind::Repair, 0, true),
            visit(2, Some(7), JobKind::Repair, 10 * DAY, true),
            visit(3, Some(7), JobKind::Installation, 11 * DAY, true),
            visit(4, Some(8), JobKind::Repair, 0, false),
            visit(5, Some(9), JobKind::Repair, 0, true),
            visit(6, Some(9), JobKind::Repair, 40 * DAY, true),
            visit(7, None, JobKind::TowerWork, 0, true),
        ];
        assert_eq!(misses(&v, FIX_WINDOW_MS), [1, 4], "a repeat repair in 10 days; a revisit needed");
        let f = first_visit(&v, FIX_WINDOW_MS);
        assert_eq!((f.visits, f.fixed), (6, 4));
        assert_eq!(f.rate_pct(), Some(66.7));
        let j = jobs_per_day(&v);
        assert_eq!((j.visits, j.tech_days), (7, 5), "technician 1 did three on day 0");
        let k = by_kind(&v);
        assert_eq!(k[&JobKind::Repair].visits, 5);
        assert_eq!(k[&JobKind::Repair].drive_ms, 5 * 1_800_000);
        assert_eq!(k[&JobKind::Repair].on_site_ms, 5 * 3_600_000);
        assert_eq!(k[&JobKind::Repair].parts[&1], 5);
    }

    /// The definition, brute force.
    fn oracle(visits: &[Visit], window: i64) -> Vec<i64> {
        let mut out: Vec<i64> = visits
            .iter()
            .filter(|v| v.customer.is_some())
            .filter(|v| {
                !v.done
                    || visits.iter().any(|w| {
                        w.job != v.job
                            && w.customer == v.customer
                            && w.kind == v.kind
                            && w.on_site_ms > v.ended_ms
                            && w.on_site_ms <= v.ended_ms + window
                    })
            })
            .map(|v| v.job)
            .collect();
        out.sort_unstable();
        out
    }

    fn visits() -> impl Strategy<Value = Vec<Visit>> {
        proptest::collection::vec(
            (
                proptest::option::weighted(0.9, 0i64..4),
                0usize..3,
                0i64..4,
                0i64..80,
                0i64..48,
                proptest::bool::weighted(0.8),
            ),
            0..40,
        )
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (customer, kind, tech, day, hours, done))| {
                    let on_site = day * DAY + (i as i64 % 5) * 3_600_000;
                    Visit {
                        job: i as i64,
                        customer,
                        kind: JobKind::ALL[kind],
                        technician: tech,
                        day,
                        en_route_ms: (i % 4 != 0).then_some(on_site - 600_000),
                        on_site_ms: on_site,
                        ended_ms: on_site + hours * 3_600_000,
                        done,
                        parts: vec![(i as i64 % 3, 1 + i as i64 % 2)],
                    }
                })
                .collect()
        })
    }

    proptest! {
        /// Misses match the brute-force definition; the rate counts only
        /// visits with a customer; jobs per day add up to the visits.
        #[test]
        fn outcomes_match_the_definitions(v in visits(), window_days in 1i64..40) {
            let window = window_days * DAY;
            prop_assert_eq!(misses(&v, window), oracle(&v, window));
            let f = first_visit(&v, window);
            prop_assert_eq!(f.visits, v.iter().filter(|x| x.customer.is_some()).count() as i64);
            prop_assert!(f.fixed >= 0 && f.fixed <= f.visits);
            let j = jobs_per_day(&v);
            prop_assert_eq!(j.visits, v.len() as i64);
            prop_assert_eq!(j.by_technician.values().map(|x| x.0).sum::<i64>(), j.visits);
            let pairs: std::collections::BTreeSet<(i64, i64)> = v.iter().map(|x| (x.technician, x.day)).collect();
            prop_assert_eq!(j.tech_days, pairs.len() as i64);
            let k = by_kind(&v);
            prop_assert_eq!(k.values().map(|t| t.visits).sum::<i64>(), v.len() as i64);
        }
    }
}
