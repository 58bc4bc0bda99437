//! Reconnect delays: exponential backoff with full jitter (a uniformly random
//! delay in `[0, min(cap, base * 2^attempt)]`), so a fleet that lost its
//! controller does not come back all at once. Pure: the random draw is passed in.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap, attempt: 0 }
    }

    /// The next delay; `unit` is a uniform random number in `[0, 1)`.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << self.attempt.min(20)).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn delays_stay_within_the_growing_ceiling(units in proptest::collection::vec(0.0f64..1.0, 1..40)) {
            let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
            for (i, u) in units.iter().enumerate() {
                let d = b.next_delay(*u);
                let ceiling = Duration::from_millis(500).saturating_mul(1 << i.min(20)).min(Duration::from_secs(60));
                prop_assert!(d <= ceiling);
            }
        }
    }

    #[test]
    fn reset_starts_small_again() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..10 {
            b.next_delay(0.999);
        }
        assert!(b.next_delay(0.999) > Duration::from_secs(50));
        b.reset();
        assert!(b.next_delay(0.999) < Duration::from_secs(1));
    }
}
