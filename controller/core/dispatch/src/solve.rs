//! The day planner: a day's jobs assigned to technicians and ordered into
//! routes that keep every rule of [`crate::plan`] and drive as little as
//! it can find.
//!
//! Ruin and recreate (the large-neighbourhood search of Christiaens and
//! Vanden Berghe's SISR, "Slack Induction by String Removals", 2020):
//! start from a greedy plan, then repeatedly remove strings of jobs near
//! a random job from a few routes and put them back one by one where they
//! add the least driving (skipping a few positions at random, the
//! "blinks"), keeping the result by simulated annealing; the best plan
//! seen wins, and each route ends with the core's 2-opt. Who may do what
//! is the core's [`eligible`]; a position is feasible when the job starts
//! in its window and every later stop still can (each route keeps, per
//! stop, its earliest start and its latest start, so the test is O(1)).
//!
//! Written here rather than taken from a solver crate: the one well-kept
//! Rust solver (`vrp-core`) does not give the same plan twice for the
//! same problem (its search adapts to measured timings and iterates std
//! hash maps), and a dispatcher must get the same plan when they press
//! "plan the day" twice. The benchmark (`controller/benches/dispatch.rs`)
//! compares this planner with VROOM on the same days.
//!
//! Deterministic: the same problem, matrix and [`Options`] give the same
//! plan (the randomness is [`crate::instance::Rng`] from the seed).

use crate::instance::Rng;
use crate::plan::{self, Left, Matrix, Plan, Problem, eligible};

/// How hard to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Ruin-and-recreate rounds.
    pub iterations: usize,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { iterations: 30_000, seed: 1 }
    }
}

/// Cost of leaving a job out, per unit of its priority weight, in drive
/// seconds: more than any day's driving, so a plan never drops a job to
/// drive less.
const LEFT_OUT: i64 = 10_000_000;

struct Ctx<'a> {
    p: &'a Problem,
    m: &'a Matrix,
    n: usize,
    techs: usize,
    open: Vec<i64>,
    close: Vec<i64>,
    dur: Vec<i64>,
    weight: Vec<i64>,
    /// Technicians who may do each job.
    who: Vec<Vec<usize>>,
    /// Other jobs by nearness.
    near: Vec<Vec<u32>>,
}

impl Ctx<'_> {
    fn d(&self, a: usize, b: usize) -> i64 {
        self.m.secs(a, b)
    }
    fn start_place(&self, t: usize) -> usize {
        self.n + t
    }
    fn end_place(&self, t: usize) -> usize {
        self.n + self.techs + t
    }
}

#[derive(Clone, Default)]
struct Route {
    jobs: Vec<usize>,
    /// Earliest start of work at each stop.
    start: Vec<i64>,
    /// Latest start at each stop that keeps the rest of the route on time.
    latest: Vec<i64>,
    cost: i64,
}

impl Route {
    fn update(&mut self, c: &Ctx, t: usize) {
        let tech = &c.p.technicians[t];
        let k = self.jobs.len();
        self.start.resize(k, 0);
        self.latest.resize(k, 0);
        let mut clock = tech.shift.0;
        let mut at = c.start_place(t);
        let mut cost = 0;
        for (i, &j) in self.jobs.iter().enumerate() {
            cost += c.d(at, j);
            let s = (clock + c.d(at, j)).max(c.open[j]);
            self.start[i] = s;
            clock = s + c.dur[j];
            at = j;
        }
        self.cost = cost + c.d(at, c.end_place(t));
        let mut lim = tech.shift.1;
        let mut next = c.end_place(t);
        for i in (0..k).rev() {
            let j = self.jobs[i];
            let l = c.close[j].min(lim - c.d(j, next) - c.dur[j]);
            self.latest[i] = l;
            lim = l;
            next = j;
        }
    }

    /// The cheapest feasible position for job `u`, as (added seconds,
    /// position), skipping each position with probability `blink`.
    fn best_insert(&self, c: &Ctx, t: usize, u: usize, rng: &mut Rng, blink: f64) -> Option<(i64, usize)> {
        let tech = &c.p.technicians[t];
        let mut best: Option<(i64, usize)> = None;
        for k in 0..=self.jobs.len() {
            let (prev, depart) = if k == 0 {
                (c.start_place(t), tech.shift.0)
            } else {
                let pj = self.jobs[k - 1];
                (pj, self.start[k - 1] + c.dur[pj])
            };
            if depart > c.close[u] {
                break;
            }
            let s = (depart + c.d(prev, u)).max(c.open[u]);
            if s > c.close[u] {
                continue;
            }
            let (next, latest) =
                if k == self.jobs.len() { (c.end_place(t), tech.shift.1) } else { (self.jobs[k], self.latest[k]) };
            if s + c.dur[u] + c.d(u, next) > latest {
                continue;
            }
            let delta = c.d(prev, u) + c.d(u, next) - c.d(prev, next);
            if best.is_some_and(|(b, _)| delta >= b) {
                continue;
            }
            if blink > 0.0 && rng.unit() < blink {
                continue;
            }
            best = Some((delta, k));
        }
        best
    }
}

#[derive(Clone)]
struct State {
    routes: Vec<Route>,
    /// Jobs out of the plan (plannable ones only).
    out: Vec<usize>,
    /// Which route each job is on.
    on: Vec<Option<usize>>,
}

impl State {
    fn cost(&self, c: &Ctx) -> i64 {
        self.routes.iter().map(|r| r.cost).sum::<i64>() + self.out.iter().map(|&j| c.weight[j] * LEFT_OUT).sum::<i64>()
    }

    fn insert_all(&mut self, c: &Ctx, mut jobs: Vec<usize>, rng: &mut Rng, blink: f64) {
        // Jobs that fit nowhere stay out; the rest go in one by one.
        for u in jobs.drain(..) {
            let mut best: Option<(i64, usize, usize)> = None;
            for &t in &c.who[u] {
                if let Some((d, k)) = self.routes[t].best_insert(c, t, u, rng, blink)
                    && best.is_none_or(|(b, _, _)| d < b)
                {
                    best = Some((d, t, k));
                }
            }
            match best {
                Some((_, t, k)) => {
                    self.routes[t].jobs.insert(k, u);
                    self.routes[t].update(c, t);
                    self.on[u] = Some(t);
                }
                None => self.out.push(u),
            }
        }
    }

    /// Removes strings of jobs near a random assigned job from at most a
    /// few routes; returns the removed jobs.
    fn ruin(&mut self, c: &Ctx, rng: &mut Rng, assigned: usize) -> Vec<usize> {
        let mut removed = Vec::new();
        if assigned == 0 {
            return removed;
        }
        // A random assigned job as the seed.
        let mut seed = rng.range(0, c.n as i64) as usize;
        while self.on[seed].is_none() {
            seed = (seed + 1) % c.n;
        }
        let avg_string = 10i64;
        let max_routes = 4usize;
        let mut touched: Vec<usize> = Vec::new();
        let target = rng.range(4, 2 * avg_string + 2) as usize;
        for v in std::iter::once(seed as u32).chain(c.near[seed].iter().copied()) {
            if removed.len() >= target || touched.len() >= max_routes {
                break;
            }
            let v = v as usize;
            let Some(t) = self.on[v] else { continue };
            if touched.contains(&t) {
                continue;
            }
            touched.push(t);
            let r = &mut self.routes[t];
            let len = r.jobs.len();
            let l = rng.range(1, (avg_string.min(len as i64)) + 1) as usize;
            let pos = r.jobs.iter().position(|&x| x == v).unwrap_or(0);
            // A string of `l` containing `v`.
            let lo = pos.saturating_sub(rng.range(0, l as i64) as usize).min(len - l);
            for j in r.jobs.drain(lo..lo + l) {
                self.on[j] = None;
                removed.push(j);
            }
            r.update(c, t);
        }
        removed
    }
}

/// Plans `p`'s day with drive times `m` (see [`crate::plan`] for the
/// numbering), searching for `o.iterations` rounds.
pub fn solve(p: &Problem, m: &Matrix, o: &Options) -> Plan {
    let n = p.jobs.len();
    let techs = p.technicians.len();
    let mut unassigned = Vec::new();
    let mut who = vec![Vec::new(); n];
    let mut plannable = Vec::new();
    for (j, job) in p.jobs.iter().enumerate() {
        who[j] = (0..techs).filter(|&t| eligible(job, &p.technicians[t])).collect();
        if who[j].is_empty() {
            unassigned.push((job.id, Left::NoTechnician));
        } else {
            plannable.push(j);
        }
    }
    let near = (0..n)
        .map(|a| {
            let mut v: Vec<u32> = plannable.iter().filter(|&&b| b != a).map(|&b| b as u32).collect();
            v.sort_by_key(|&b| (m.secs(a, b as usize).min(m.secs(b as usize, a)), b));
            v
        })
        .collect();
    let c = Ctx {
        p,
        m,
        n,
        techs,
        open: p.jobs.iter().map(|j| j.window.map_or(i64::MIN / 4, |w| w.0)).collect(),
        close: p.jobs.iter().map(|j| j.window.map_or(i64::MAX / 4, |w| w.1)).collect(),
        dur: p.jobs.iter().map(|j| j.duration_s).collect(),
        weight: p.jobs.iter().map(|j| 1i64 << (2 * j.priority as u32)).collect(),
        who,
        near,
    };
    let mut rng = Rng::new(o.seed);
    let mut cur = State { routes: vec![Route::default(); techs], out: Vec::new(), on: vec![None; n] };
    for (t, r) in cur.routes.iter_mut().enumerate() {
        r.update(&c, t);
    }
    // Greedy start: the most important and the tightest first.
    let mut first = plannable.clone();
    first.sort_by_key(|&j| (-c.weight[j], c.close[j].saturating_sub(c.open[j]), j));
    cur.insert_all(&c, first, &mut rng, 0.0);
    let mut cur_cost = cur.cost(&c);
    let mut best = cur.clone();
    let mut best_cost = cur_cost;

    // Simulated annealing from 100 s of slack down to 1 s.
    let (t0, tf) = (100.0f64, 1.0f64);
    let iters = o.iterations.max(1);
    for it in 0..o.iterations {
        let temp = t0 * (tf / t0).powf(it as f64 / iters as f64);
        let mut next = cur.clone();
        let assigned = plannable.len() - next.out.len();
        let mut removed = next.ruin(&c, &mut rng, assigned);
        removed.append(&mut next.out);
        // Order to put back: random, far from the seed first, or the
        // tightest window first.
        match rng.range(0, 10) {
            0..=3 => {
                for i in (1..removed.len()).rev() {
                    removed.swap(i, rng.range(0, i as i64 + 1) as usize);
                }
            }
            4..=6 => removed.sort_by_key(|&j| (-c.weight[j], c.close[j].saturating_sub(c.open[j]), j)),
            _ => removed.sort_by_key(|&j| (-c.weight[j], std::cmp::Reverse(c.dur[j]), j)),
        }
        next.insert_all(&c, removed, &mut rng, 0.01);
        let cost = next.cost(&c);
        if (cost as f64) < cur_cost as f64 - temp * rng.unit().max(1e-12).ln() {
            cur = next;
            cur_cost = cost;
            if cur_cost < best_cost {
                best = cur.clone();
                best_cost = cur_cost;
            }
        }
    }

    let mut orders: Vec<Vec<usize>> = best.routes.into_iter().map(|r| r.jobs).collect();
    plan::polish(p, m, &mut orders);
    unassigned.extend(best.out.iter().map(|&j| (p.jobs[j].id, plan::reason(p, j))));
    plan::assemble(p, m, &orders, unassigned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::Driving;
    use crate::instance;
    use crate::plan::check;
    use proptest::prelude::*;

    fn quick() -> Options {
        Options { iterations: 300, seed: 3 }
    }

    fn day(seed: u64, jobs: usize, techs: usize) -> (Problem, Matrix) {
        let p = instance::day(seed, jobs, techs);
        let m = Matrix::estimate(&p, &Driving::default());
        (p, m)
    }

    #[test]
    fn a_held_job_goes_to_its_technician_and_an_impossible_one_is_left_with_why() {
        let (mut p, _) = day(11, 12, 5);
        p.jobs[0].technician = Some(5);
        p.jobs[0].skills.clear();
        p.jobs[1].skills = ["welding".to_string()].into();
        p.jobs[2].window = Some((3 * 3600, 4 * 3600)); // before anyone starts
        let m = Matrix::estimate(&p, &Driving::default());
        let plan = solve(&p, &m, &quick());
        assert_eq!(check(&p, &m, &plan), vec![]);
        let holder = plan.routes.iter().find(|r| r.stops.iter().any(|s| s.job == p.jobs[0].id)).unwrap();
        assert_eq!(holder.technician, 5);
        assert!(plan.unassigned.contains(&(p.jobs[1].id, Left::NoTechnician)));
        assert!(plan.unassigned.contains(&(p.jobs[2].id, Left::NoTime)));
    }

    #[test]
    fn drives_less_than_first_come_first_served_and_leaves_no_more_out() {
        let (p, m) = day(5, 120, 6);
        let naive = plan::naive(&p, &m);
        let planned = solve(&p, &m, &Options { iterations: 2_000, seed: 1 });
        assert_eq!(check(&p, &m, &planned), vec![]);
        assert!(planned.assigned() >= naive.assigned());
        assert!(planned.drive_s() * 10 < naive.drive_s() * 8, "{} vs {}", planned.drive_s(), naive.drive_s());
    }

    #[test]
    fn an_overfull_day_keeps_the_urgent_jobs() {
        // One technician, far more work than a day holds.
        let (mut p, _) = day(9, 60, 1);
        p.technicians[0].zones.clear();
        p.technicians[0].skills = ["climb".to_string(), "fiber".to_string()].into();
        for (i, j) in p.jobs.iter_mut().enumerate() {
            j.duration_s = 3600;
            j.window = None;
            j.priority = if i % 10 == 0 { crate::job::Priority::Urgent } else { crate::job::Priority::Low };
        }
        let m = Matrix::estimate(&p, &Driving::default());
        let plan = solve(&p, &m, &quick());
        assert_eq!(check(&p, &m, &plan), vec![]);
        let done: Vec<i64> = plan.routes[0].stops.iter().map(|s| s.job).collect();
        for (i, j) in p.jobs.iter().enumerate() {
            if i % 10 == 0 {
                assert!(done.contains(&j.id), "urgent job {} left out", j.id);
            }
        }
    }

    #[test]
    fn empty_days() {
        let (p, m) = day(1, 0, 3);
        assert_eq!(solve(&p, &m, &quick()), Plan::default());
        let (mut p, _) = day(1, 4, 1);
        p.technicians.clear();
        let m = Matrix::estimate(&p, &Driving::default());
        let plan = solve(&p, &m, &quick());
        assert_eq!(plan.unassigned.len(), 4);
        assert!(plan.routes.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Every job planned once or left out with its reason; zones,
        /// skills, hours and windows kept (the core's check); a job left
        /// out fits no route of the plan; the same plan for the same seed.
        #[test]
        fn plans_keep_every_rule_and_repeat(seed in any::<u64>(), jobs in 1usize..50, techs in 1usize..6) {
            let (p, m) = day(seed, jobs, techs);
            let a = solve(&p, &m, &quick());
            prop_assert_eq!(check(&p, &m, &a), vec![]);
            prop_assert_eq!(&a, &solve(&p, &m, &quick()));
            for (id, why) in &a.unassigned {
                let j = p.jobs.iter().position(|x| x.id == *id).unwrap();
                prop_assert_eq!(*why, plan::reason(&p, j));
            }
        }
    }
}
