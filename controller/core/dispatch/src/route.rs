//! One technician's route as an order of stops, its length, and the local
//! improvement every planner ends with: 2-opt (reverse the stops between
//! two positions when that shortens the route), first improvement, in a
//! fixed order, so the same input always gives the same route.
//!
//! A route starts at `start` and ends at `end` (a depot, the technician's
//! home), visiting `stops` in order; `d(a, b)` is the cost of going from
//! place `a` to place `b` (metres or seconds; asymmetric allowed: a
//! reversal is then re-costed whole).

/// The cost of `start → stops… → end`.
pub fn length(start: usize, stops: &[usize], end: usize, d: &impl Fn(usize, usize) -> i64) -> i64 {
    let mut at = start;
    let mut total = 0i64;
    for &s in stops {
        total = total.saturating_add(d(at, s));
        at = s;
    }
    total.saturating_add(d(at, end))
}

/// Improves `stops` by 2-opt moves until none shortens the route, or
/// `max_passes` passes were made. Never returns a longer route; the stops
/// are the same ones, each once.
pub fn two_opt(
    start: usize,
    stops: &[usize],
    end: usize,
    d: &impl Fn(usize, usize) -> i64,
    max_passes: usize,
) -> Vec<usize> {
    let mut best = stops.to_vec();
    let mut best_len = length(start, &best, end, d);
    for _ in 0..max_passes {
        let mut improved = false;
        for i in 0..best.len() {
            for j in i + 1..best.len() {
                let mut cand = best.clone();
                cand[i..=j].reverse();
                let l = length(start, &cand, end, d);
                if l < best_len {
                    best = cand;
                    best_len = l;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Points on a line: the best order is sorted.
    #[test]
    fn a_crossing_is_undone() {
        let x = [0i64, 10, 20, 30, 40, 0];
        let d = |a: usize, b: usize| (x[a] - x[b]).abs();
        let r = two_opt(0, &[3, 2, 1, 4], 5, &d, 10);
        assert_eq!(r, [1, 2, 3, 4]);
        assert_eq!(length(0, &r, 5, &d), 80);
    }

    proptest! {
        /// On random points (and a random asymmetric surcharge), 2-opt
        /// never lengthens a route, keeps the same stops once each, and is
        /// deterministic; a route it returns has no improving reversal
        /// left (when it stopped on its own).
        #[test]
        fn two_opt_never_makes_a_route_longer(
            pts in proptest::collection::vec((0i64..1000, 0i64..1000, 0i64..50), 2..14),
        ) {
            let n = pts.len();
            let d = |a: usize, b: usize| {
                let (ax, ay, _) = pts[a];
                let (bx, by, extra) = pts[b];
                (((ax - bx).pow(2) + (ay - by).pow(2)) as f64).sqrt().round() as i64 + extra
            };
            let stops: Vec<usize> = (1..n - 1).rev().collect();
            let before = length(0, &stops, n - 1, &d);
            let r = two_opt(0, &stops, n - 1, &d, 1000);
            prop_assert!(length(0, &r, n - 1, &d) <= before);
            let mut sorted = r.clone();
            sorted.sort_unstable();
            let mut want = stops.clone();
            want.sort_unstable();
            prop_assert_eq!(sorted, want);
            prop_assert_eq!(&two_opt(0, &stops, n - 1, &d, 1000), &r);
            let l = length(0, &r, n - 1, &d);
            for i in 0..r.len() {
                for j in i + 1..r.len() {
                    let mut c = r.clone();
                    c[i..=j].reverse();
                    prop_assert!(length(0, &c, n - 1, &d) >= l);
                }
            }
        }
    }
}
