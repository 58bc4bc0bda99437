//! A day's plan: which technician does which jobs, in which order, and
//! when. This module holds the problem, the plan, the rules a plan must
//! keep ([`check`]), the timeline of a route ([`timeline`]), the baseline
//! a solver is measured against ([`naive`]) and the final polish every
//! plan gets ([`polish`]: 2-opt per route, kept only when the route stays
//! feasible and gets no longer). The solver itself lives outside the pure
//! core (it needs randomness and threads).
//!
//! Times are seconds since the day's midnight (local time); places are
//! indexes into a [`Matrix`]: the jobs first (`0..jobs`), then each
//! technician's start (`jobs + t`), then each technician's end
//! (`jobs + technicians + t`).

use crate::geo::{Driving, Point};
use crate::job::Priority;
use crate::route;
use crate::zone::Zone;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A technician's working day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Technician {
    pub id: i64,
    pub start: Point,
    pub end: Point,
    /// Working hours: leaves `start` no earlier than `.0`, back at `end` no
    /// later than `.1`.
    pub shift: (i64, i64),
    pub skills: BTreeSet<String>,
    /// Where the technician works; none means anywhere.
    pub zones: Vec<Zone>,
}

/// A job to place in the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub at: Point,
    /// Time on site, seconds.
    pub duration_s: i64,
    /// When work may start (the customer's appointment window).
    pub window: Option<(i64, i64)>,
    pub skills: BTreeSet<String>,
    pub priority: Priority,
    /// A job the dispatcher gave to one technician stays with them.
    pub technician: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Problem {
    pub technicians: Vec<Technician>,
    pub jobs: Vec<Job>,
}

/// Drive seconds and road metres between places (see the module's
/// numbering), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub size: usize,
    pub secs: Vec<i64>,
    pub metres: Vec<i64>,
}

impl Matrix {
    /// The places of `p` in the module's order.
    pub fn places(p: &Problem) -> Vec<Point> {
        let mut v: Vec<Point> = p.jobs.iter().map(|j| j.at).collect();
        v.extend(p.technicians.iter().map(|t| t.start));
        v.extend(p.technicians.iter().map(|t| t.end));
        v
    }

    /// Straight-line estimates (see [`Driving`]).
    pub fn estimate(p: &Problem, driving: &Driving) -> Matrix {
        let places = Matrix::places(p);
        let n = places.len();
        let mut secs = Vec::with_capacity(n * n);
        let mut metres = Vec::with_capacity(n * n);
        for &a in &places {
            for &b in &places {
                secs.push(driving.drive_s(a, b));
                metres.push(driving.road_m(a, b));
            }
        }
        Matrix { size: n, secs, metres }
    }

    pub fn secs(&self, a: usize, b: usize) -> i64 {
        self.secs[a * self.size + b]
    }

    pub fn metres(&self, a: usize, b: usize) -> i64 {
        self.metres[a * self.size + b]
    }
}

/// Whether `t` may do `j`: the technician has every skill the job needs,
/// the job is in one of their zones (or they have none), and the job is
/// not held for someone else.
pub fn eligible(j: &Job, t: &Technician) -> bool {
    j.technician.is_none_or(|id| id == t.id)
        && j.skills.is_subset(&t.skills)
        && (t.zones.is_empty() || t.zones.iter().any(|z| z.contains(j.at)))
}

/// One stop of a route, with its times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub job: i64,
    pub arrive_s: i64,
    /// Work starts (after waiting for the window to open).
    pub start_s: i64,
    pub leave_s: i64,
    /// Driving to get here.
    pub drive_s: i64,
    pub drive_m: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub technician: i64,
    pub depart_s: i64,
    pub stops: Vec<Stop>,
    /// Back at the end place.
    pub back_s: i64,
    pub drive_s: i64,
    pub drive_m: i64,
}

/// Why a job is left out of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Left {
    /// No technician has its skills and zone (or the one it is held for
    /// is not working).
    NoTechnician,
    /// It does not fit in anyone's day.
    NoTime,
}

impl Left {
    pub fn as_str(self) -> &'static str {
        match self {
            Left::NoTechnician => "no technician has the skills and the zone",
            Left::NoTime => "does not fit in any technician's hours and its time window",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub routes: Vec<Route>,
    pub unassigned: Vec<(i64, Left)>,
}

impl Plan {
    pub fn drive_s(&self) -> i64 {
        self.routes.iter().map(|r| r.drive_s).sum()
    }
    pub fn drive_m(&self) -> i64 {
        self.routes.iter().map(|r| r.drive_m).sum()
    }
    pub fn assigned(&self) -> usize {
        self.routes.iter().map(|r| r.stops.len()).sum()
    }
}

/// A rule a plan breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("job {0} is not in the problem")]
    UnknownJob(i64),
    #[error("technician {0} is not in the problem")]
    UnknownTechnician(i64),
    #[error("technician {0} has two routes")]
    TwoRoutes(i64),
    #[error("job {0} is planned more than once")]
    Twice(i64),
    #[error("job {0} is neither planned nor left out")]
    Missing(i64),
    #[error("technician {tech} may not do job {job} (skills, zone or held for another)")]
    NotEligible { job: i64, tech: i64 },
    #[error("job {job} starts at {start_s} s, outside its window")]
    Window { job: i64, start_s: i64 },
    #[error("technician {tech}'s route leaves before or ends after their hours")]
    Hours { tech: i64 },
    #[error("technician {tech}'s route times are not those of its order")]
    Times { tech: i64 },
}

/// The route `t` drives through `jobs` (indexes into `p.jobs`) leaving as
/// early as the shift allows (no earlier than needed: the departure is
/// pushed back so the first job's window is not waited for), or the first
/// rule it breaks.
pub fn timeline(p: &Problem, m: &Matrix, t: usize, jobs: &[usize]) -> Result<Route, Violation> {
    let (route, broken) = times(p, m, t, jobs);
    match broken.into_iter().next() {
        Some(v) => Err(v),
        None => Ok(route),
    }
}

/// The route `t` drives through `jobs` as [`timeline`] times it, whatever
/// rules it breaks, with those it breaks (a dispatcher may put a job where
/// it does not fit: the board shows it late).
pub fn times(p: &Problem, m: &Matrix, t: usize, jobs: &[usize]) -> (Route, Vec<Violation>) {
    let mut broken = Vec::new();
    let tech = &p.technicians[t];
    let (n_jobs, n_tech) = (p.jobs.len(), p.technicians.len());
    let (start, end) = (n_jobs + t, n_jobs + n_tech + t);
    // Leave so as to reach the first job when its window opens, not before
    // the shift starts.
    let mut depart = tech.shift.0;
    if let Some(&first) = jobs.first()
        && let Some((open, _)) = p.jobs[first].window
    {
        depart = depart.max(open - m.secs(start, first));
    }
    let mut at = start;
    let mut clock = depart;
    let mut stops = Vec::with_capacity(jobs.len());
    let (mut drive_s, mut drive_m) = (0, 0);
    for &j in jobs {
        let job = &p.jobs[j];
        let (ds, dm) = (m.secs(at, j), m.metres(at, j));
        let arrive = clock + ds;
        let start_s = match job.window {
            Some((open, close)) => {
                let s = arrive.max(open);
                if s > close {
                    broken.push(Violation::Window { job: job.id, start_s: s });
                }
                s
            }
            None => arrive,
        };
        clock = start_s + job.duration_s;
        stops.push(Stop { job: job.id, arrive_s: arrive, start_s, leave_s: clock, drive_s: ds, drive_m: dm });
        drive_s += ds;
        drive_m += dm;
        at = j;
    }
    drive_s += m.secs(at, end);
    drive_m += m.metres(at, end);
    let back = clock + m.secs(at, end);
    if back > tech.shift.1 {
        broken.push(Violation::Hours { tech: tech.id });
    }
    (Route { technician: tech.id, depart_s: depart, stops, back_s: back, drive_s, drive_m }, broken)
}

/// Every rule `plan` breaks for `p` (none: a valid plan). Each job is
/// planned once or left out, each route belongs to a known technician who
/// may do its jobs, starts within their hours and each job's window, and
/// its times are those [`timeline`] gives for its order.
pub fn check(p: &Problem, m: &Matrix, plan: &Plan) -> Vec<Violation> {
    let mut out = Vec::new();
    let job_ix: BTreeMap<i64, usize> = p.jobs.iter().enumerate().map(|(i, j)| (j.id, i)).collect();
    let tech_ix: BTreeMap<i64, usize> = p.technicians.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut seen = BTreeSet::new();
    let mut techs = BTreeSet::new();
    for r in &plan.routes {
        let Some(&t) = tech_ix.get(&r.technician) else {
            out.push(Violation::UnknownTechnician(r.technician));
            continue;
        };
        if !techs.insert(t) {
            out.push(Violation::TwoRoutes(r.technician));
        }
        let mut order = Vec::new();
        for s in &r.stops {
            match job_ix.get(&s.job) {
                None => out.push(Violation::UnknownJob(s.job)),
                Some(&j) => {
                    if !seen.insert(s.job) {
                        out.push(Violation::Twice(s.job));
                    }
                    if !eligible(&p.jobs[j], &p.technicians[t]) {
                        out.push(Violation::NotEligible { job: s.job, tech: r.technician });
                    }
                    if let Some((open, close)) = p.jobs[j].window
                        && (s.start_s < open || s.start_s > close)
                    {
                        out.push(Violation::Window { job: s.job, start_s: s.start_s });
                    }
                    order.push(j);
                }
            }
        }
        let tech = &p.technicians[t];
        if r.depart_s < tech.shift.0 || r.back_s > tech.shift.1 {
            out.push(Violation::Hours { tech: r.technician });
        }
        if order.len() == r.stops.len() {
            match timeline(p, m, t, &order) {
                Ok(expected) if expected == *r => {}
                Ok(_) => out.push(Violation::Times { tech: r.technician }),
                Err(v) => out.push(v),
            }
        }
    }
    for (id, _) in &plan.unassigned {
        if !job_ix.contains_key(id) {
            out.push(Violation::UnknownJob(*id));
        } else if !seen.insert(*id) {
            out.push(Violation::Twice(*id));
        }
    }
    for j in &p.jobs {
        if !seen.contains(&j.id) {
            out.push(Violation::Missing(j.id));
        }
    }
    out
}

/// Why job `j` fits nobody: no eligible technician, or no time.
pub fn reason(p: &Problem, j: usize) -> Left {
    if p.technicians.iter().any(|t| eligible(&p.jobs[j], t)) { Left::NoTime } else { Left::NoTechnician }
}

/// The baseline: jobs in the order given (their creation order), each
/// appended to the route of the eligible technician it keeps feasible who
/// finishes it earliest. No reordering: what a dispatcher handing out
/// tickets first come, first served would do.
pub fn naive(p: &Problem, m: &Matrix) -> Plan {
    let mut orders: Vec<Vec<usize>> = vec![Vec::new(); p.technicians.len()];
    let mut unassigned = Vec::new();
    for j in 0..p.jobs.len() {
        let mut best: Option<(i64, usize)> = None;
        for (t, tech) in p.technicians.iter().enumerate() {
            if !eligible(&p.jobs[j], tech) {
                continue;
            }
            let mut cand = orders[t].clone();
            cand.push(j);
            if let Ok(r) = timeline(p, m, t, &cand) {
                let done = r.stops.last().map_or(r.back_s, |s| s.leave_s);
                if best.is_none_or(|(b, _)| done < b) {
                    best = Some((done, t));
                }
            }
        }
        match best {
            Some((_, t)) => orders[t].push(j),
            None => unassigned.push((p.jobs[j].id, reason(p, j))),
        }
    }
    assemble(p, m, &orders, unassigned)
}

/// The plan from each technician's job order (indexes into `p.jobs`),
/// routes without jobs left out. Every order must be feasible
/// ([`timeline`]); an infeasible one leaves its jobs unassigned.
pub fn assemble(p: &Problem, m: &Matrix, orders: &[Vec<usize>], mut unassigned: Vec<(i64, Left)>) -> Plan {
    let mut routes = Vec::new();
    for (t, order) in orders.iter().enumerate() {
        if order.is_empty() {
            continue;
        }
        match timeline(p, m, t, order) {
            Ok(r) => routes.push(r),
            Err(_) => unassigned.extend(order.iter().map(|&j| (p.jobs[j].id, Left::NoTime))),
        }
    }
    unassigned.sort_unstable();
    Plan { routes, unassigned }
}

/// 2-opt on each technician's order by drive time, each reversal kept
/// only when the route stays feasible: never a longer route, never a
/// broken rule.
pub fn polish(p: &Problem, m: &Matrix, orders: &mut [Vec<usize>]) {
    let n_jobs = p.jobs.len();
    let n_tech = p.technicians.len();
    for (t, order) in orders.iter_mut().enumerate() {
        if order.len() < 3 {
            continue;
        }
        let (start, end) = (n_jobs + t, n_jobs + n_tech + t);
        let d = |a: usize, b: usize| m.secs(a, b);
        let before = route::length(start, order, end, &d);
        let cand = route::two_opt(start, order, end, &d, 20);
        if route::length(start, &cand, end, &d) < before && timeline(p, m, t, &cand).is_ok() {
            *order = cand;
        }
    }
}

#[cfg(test)]
mod tests;
