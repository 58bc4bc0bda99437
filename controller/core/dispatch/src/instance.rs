//! Seeded random days to plan, for tests and benchmarks: the same seed
//! always gives the same day (a small SplitMix64 generator, so the pure
//! core needs no random crate).
//!
//! The shape of a rural WISP's day: an area about 40 km across, three
//! depots, technicians working 07:00-19:00 from a depot, each in one or
//! two of four overlapping zones (a few anywhere), a quarter of them
//! climbers (tower work needs the `climb` skill, splicing needs `fiber`),
//! jobs of 5 to 25 minutes, half of them with a customer's window of two
//! to four hours.

use crate::geo::Point;
use crate::job::Priority;
use crate::plan::{Job, Problem, Technician};
use crate::zone::Zone;
use std::collections::BTreeSet;

/// SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { lo + (self.next_u64() % (hi - lo) as u64) as i64 }
    }
}

const CENTER: (f64, f64) = (44.90, -93.20);
/// About 20 km in each direction.
const SPAN_LAT: f64 = 0.18;
const SPAN_LON: f64 = 0.25;

fn rect(lat0: f64, lon0: f64, lat1: f64, lon1: f64) -> Zone {
    let p = |a, b| Point::new(a, b).expect("in range");
    Zone::new(vec![p(lat0, lon0), p(lat0, lon1), p(lat1, lon1), p(lat1, lon0)]).expect("a rectangle")
}

/// The four zones: the area's quadrants, each reaching 10 % past the
/// middle so they overlap.
pub fn zones() -> Vec<Zone> {
    let (c_lat, c_lon) = CENTER;
    let (o_lat, o_lon) = (SPAN_LAT * 0.1, SPAN_LON * 0.1);
    let (s, n) = (c_lat - SPAN_LAT, c_lat + SPAN_LAT);
    let (w, e) = (c_lon - SPAN_LON, c_lon + SPAN_LON);
    vec![
        rect(s, w, c_lat + o_lat, c_lon + o_lon),
        rect(s, c_lon - o_lon, c_lat + o_lat, e),
        rect(c_lat - o_lat, w, n, c_lon + o_lon),
        rect(c_lat - o_lat, c_lon - o_lon, n, e),
    ]
}

/// A day of `jobs` jobs for `technicians` technicians.
pub fn day(seed: u64, jobs: usize, technicians: usize) -> Problem {
    let mut r = Rng::new(seed);
    let (c_lat, c_lon) = CENTER;
    let point = |r: &mut Rng| {
        Point::new(c_lat + (r.unit() * 2.0 - 1.0) * SPAN_LAT, c_lon + (r.unit() * 2.0 - 1.0) * SPAN_LON)
            .expect("in range")
    };
    let depots: Vec<Point> = (0..3).map(|_| point(&mut r)).collect();
    let all_zones = zones();
    let mut techs = Vec::with_capacity(technicians);
    for t in 0..technicians {
        let depot = depots[t % depots.len()];
        let mut skills = BTreeSet::new();
        if t % 4 == 0 {
            skills.insert("climb".to_string());
        }
        if t % 3 == 0 {
            skills.insert("fiber".to_string());
        }
        // Most work in their quadrant and, every other one, the next; one
        // in five anywhere (so every job has someone).
        let zones = if t % 5 == 4 {
            Vec::new()
        } else {
            let q = t % 4;
            let mut z = vec![all_zones[q].clone()];
            if t % 2 == 1 {
                z.push(all_zones[(q + 1) % 4].clone());
            }
            z
        };
        techs.push(Technician {
            id: t as i64 + 1,
            start: depot,
            end: depot,
            shift: (7 * 3600, 19 * 3600),
            skills,
            zones,
        });
    }
    let windows = [(8 * 3600, 12 * 3600), (12 * 3600, 16 * 3600), (9 * 3600, 11 * 3600), (13 * 3600, 17 * 3600)];
    let mut out = Vec::with_capacity(jobs);
    for j in 0..jobs {
        let mut skills = BTreeSet::new();
        let roll = r.range(0, 100);
        if roll < 5 {
            skills.insert("climb".to_string());
        } else if roll < 10 {
            skills.insert("fiber".to_string());
        }
        let window = (r.range(0, 2) == 0).then(|| windows[r.range(0, windows.len() as i64) as usize]);
        let priority = Priority::ALL[r.range(0, 4) as usize];
        out.push(Job {
            id: j as i64 + 1,
            at: point(&mut r),
            duration_s: r.range(5, 26) * 60,
            window,
            skills,
            priority,
            technician: None,
        });
    }
    Problem { technicians: techs, jobs: out }
}
