//! The planner against the first-come baseline and VROOM on the same
//! seeded days: `cargo bench -p mast-dispatch-core --bench plan`.
//!
//! Each day: 500 jobs, 20 technicians in zones with skills and hours,
//! half the jobs with a window (`mast_dispatch_core::instance::day`). VROOM
//! (the reference open-source solver, through PyPI's `pyvroom`) gets the
//! same drive-time matrix; who may do what is passed as skills (one skill
//! per set of technicians that may do a job, as the planner sees it), and
//! its routes are re-timed and checked by the same rules as ours.
//!
//! Environment: `MAST_VROOM_PYTHON` (default `/opt/mast-vroom/bin/python`,
//! a venv with `pyvroom`), `MAST_BENCH_SEEDS` (default 5), `MAST_BENCH_JOBS`
//! (500), `MAST_BENCH_TECHS` (20), `MAST_BENCH_ITERATIONS` (the planner's
//! default), `MAST_VROOM_THREADS` (2).

use mast_dispatch_core::geo::Driving;
use mast_dispatch_core::instance;
use mast_dispatch_core::plan::{self, Matrix, Plan, Problem, check, eligible};
use mast_dispatch_core::solve::{self, Options};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// VROOM priorities (0-100) for low, normal, high, urgent.
const PRIORITY: [u32; 4] = [0, 10, 50, 100];

struct Row {
    millis: f64,
    plan: Plan,
    violations: usize,
}

fn vroom(p: &Problem, m: &Matrix, python: &str, threads: usize) -> Result<Row, String> {
    let n = p.jobs.len();
    let techs = p.technicians.len();
    let mut classes: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (j, job) in p.jobs.iter().enumerate() {
        let who: Vec<usize> = (0..techs).filter(|&t| eligible(job, &p.technicians[t])).collect();
        let next = classes.len() + 1;
        let skill = *classes.entry(who).or_insert(next);
        let mut o = json!({
            "id": job.id, "location_index": j, "service": job.duration_s, "skills": [skill],
            "priority": PRIORITY[job.priority as usize],
        });
        if let Some((a, b)) = job.window {
            o["time_windows"] = json!([[a, b]]);
        }
        jobs.push(o);
    }
    let vehicles: Vec<_> = p
        .technicians
        .iter()
        .enumerate()
        .map(|(t, tech)| {
            let skills: Vec<usize> = classes.iter().filter(|(w, _)| w.contains(&t)).map(|(_, s)| *s).collect();
            json!({
                "id": tech.id, "start_index": n + t, "end_index": n + techs + t,
                "time_window": [tech.shift.0, tech.shift.1], "skills": skills,
            })
        })
        .collect();
    let rows = |v: &[i64]| v.chunks(m.size).map(|r| r.to_vec()).collect::<Vec<_>>();
    let input = json!({
        "vehicles": vehicles, "jobs": jobs,
        "matrices": {"car": {"durations": rows(&m.secs), "distances": rows(&m.metres)}},
    });
    let path = std::env::temp_dir().join(format!("mast-vroom-{}.json", std::process::id()));
    std::fs::write(&path, input.to_string()).map_err(|e| e.to_string())?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/solve_vroom.py");
    let out = Command::new(python)
        .args([script, path.to_str().unwrap_or_default(), &threads.to_string()])
        .output()
        .map_err(|e| format!("{python}: {e} (set MAST_VROOM_PYTHON to a python with pyvroom)"))?;
    let _ = std::fs::remove_file(&path);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let job_ix: BTreeMap<i64, usize> = p.jobs.iter().enumerate().map(|(i, j)| (j.id, i)).collect();
    let tech_ix: BTreeMap<i64, usize> = p.technicians.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut orders = vec![Vec::new(); techs];
    for r in v["routes"].as_array().into_iter().flatten() {
        let t = tech_ix[&r["vehicle"].as_i64().unwrap_or(-1)];
        orders[t] = r["jobs"].as_array().into_iter().flatten().map(|j| job_ix[&j.as_i64().unwrap_or(-1)]).collect();
    }
    let unassigned = v["unassigned"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            let id = j.as_i64().unwrap_or(-1);
            (id, plan::reason(p, job_ix[&id]))
        })
        .collect();
    // Re-timed by our rules: an order ours finds infeasible would leave its
    // jobs out (counted as violations below).
    let mut violations = 0;
    for (t, o) in orders.iter().enumerate() {
        if !o.is_empty() && plan::timeline(p, m, t, o).is_err() {
            violations += o.len();
        }
    }
    let plan = plan::assemble(p, m, &orders, unassigned);
    violations += check(p, m, &plan).len();
    Ok(Row { millis: v["millis"].as_f64().unwrap_or(f64::NAN), plan, violations })
}

fn main() {
    let seeds: u64 = env_or("MAST_BENCH_SEEDS", 5);
    let n: usize = env_or("MAST_BENCH_JOBS", 500);
    let techs: usize = env_or("MAST_BENCH_TECHS", 20);
    let iterations: usize = env_or("MAST_BENCH_ITERATIONS", Options::default().iterations);
    let threads: usize = env_or("MAST_VROOM_THREADS", 2);
    let python = std::env::var("MAST_VROOM_PYTHON").unwrap_or_else(|_| "/opt/mast-vroom/bin/python".into());
    println!(
        "{n} jobs, {techs} technicians, {seeds} seeded days; planner {iterations} iterations, one thread; VROOM exploration 5, {threads} threads"
    );
    println!(
        "{:>4} | {:>22} | {:>30} | {:>30} | {:>15} | {:>15}",
        "seed",
        "first come: jobs h km",
        "Mast: jobs h km ms",
        "VROOM: jobs h km ms",
        "Mast/VROOM time",
        "Mast/naive time"
    );
    let (mut sum_ours, mut sum_vroom, mut sum_naive) = (0i64, 0i64, 0i64);
    let (mut m_ours, mut m_vroom, mut m_naive) = (0i64, 0i64, 0i64);
    let mut worst_ms = 0f64;
    let (mut placed_ours, mut placed_vroom, mut placed_naive) = (0usize, 0usize, 0usize);
    let mut all_ok = true;
    for seed in 1..=seeds {
        let p = instance::day(seed, n, techs);
        let m = Matrix::estimate(&p, &Driving::default());
        let naive = plan::naive(&p, &m);
        let t0 = Instant::now();
        let ours = solve::solve(&p, &m, &Options { iterations, seed: 1 });
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        worst_ms = worst_ms.max(ms);
        let ours_v = check(&p, &m, &ours).len();
        let v = match vroom(&p, &m, &python, threads) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("VROOM failed: {e}");
                std::process::exit(1);
            }
        };
        all_ok &= ours_v == 0 && v.violations == 0;
        let h = |s: i64| s as f64 / 3600.0;
        let km = |x: i64| x as f64 / 1000.0;
        println!(
            "{seed:>4} | {:>4} {:>7.1} {:>8.0} | {:>4} {:>7.1} {:>8.0} {:>6.0} | {:>4} {:>7.1} {:>8.0} {:>6.0} | {:>15.3} | {:>15.3}{}",
            naive.assigned(),
            h(naive.drive_s()),
            km(naive.drive_m()),
            ours.assigned(),
            h(ours.drive_s()),
            km(ours.drive_m()),
            ms,
            v.plan.assigned(),
            h(v.plan.drive_s()),
            km(v.plan.drive_m()),
            v.millis,
            ours.drive_s() as f64 / v.plan.drive_s() as f64,
            ours.drive_s() as f64 / naive.drive_s() as f64,
            if ours_v + v.violations > 0 {
                format!("  violations: Mast {ours_v}, VROOM {}", v.violations)
            } else {
                String::new()
            },
        );
        placed_ours += ours.assigned();
        placed_vroom += v.plan.assigned();
        placed_naive += naive.assigned();
        sum_ours += ours.drive_s();
        sum_vroom += v.plan.drive_s();
        sum_naive += naive.drive_s();
        m_ours += ours.drive_m();
        m_vroom += v.plan.drive_m();
        m_naive += naive.drive_m();
    }
    println!(
        "total drive time Mast/VROOM {:.3}, Mast/first-come {:.3}; distance Mast/VROOM {:.3}, Mast/first-come {:.3}; slowest plan {:.0} ms (goal < 2000); rules kept: {}",
        sum_ours as f64 / sum_vroom as f64,
        sum_ours as f64 / sum_naive as f64,
        m_ours as f64 / m_vroom as f64,
        m_ours as f64 / m_naive as f64,
        worst_ms,
        if all_ok { "all" } else { "NO" }
    );
    // First come places fewer jobs (it never reorders): per job placed.
    println!(
        "jobs placed: Mast {placed_ours}, VROOM {placed_vroom}, first come {placed_naive}; drive minutes per job placed: Mast {:.2}, VROOM {:.2}, first come {:.2}",
        sum_ours as f64 / 60.0 / placed_ours.max(1) as f64,
        sum_vroom as f64 / 60.0 / placed_vroom.max(1) as f64,
        sum_naive as f64 / 60.0 / placed_naive.max(1) as f64,
    );
}
