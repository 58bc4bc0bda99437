//! Token-bucket pacing (pure core): when the next ICMP probe of a round may
//! leave, so a sweep never puts more than `rate` packets/s (plus one `burst`)
//! onto a sector. Time is an argument (a `Duration` since any fixed origin):
//! no clock, no IO, no tokio, and no input can make it panic.

use std::time::Duration;

/// One token expressed in the bucket's fixed-point unit (token × 10⁹), so a
/// refill of `elapsed_ns × rate` is exact integer arithmetic, never drifting.
const TOKEN: u128 = 1_000_000_000;

/// Burst used with a given rate by default: 10 ms worth of packets, at least
/// one. Large enough that a timer granularity of 1 ms does not lower the rate,
/// small enough that a sector never sees more than a few dozen echo requests
/// back to back.
pub fn default_burst(rate_per_sec: u32) -> u32 {
    (rate_per_sec / 100).max(1)
}

/// A token bucket: `burst` tokens of capacity, refilled at `rate` tokens per
/// second; one token per packet. Over any interval of length `w`, at most
/// `burst + rate × w` takes succeed.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u32,
    burst: u32,
    /// Tokens held, in units of 1/10⁹ token.
    level: u128,
    /// The latest time seen; earlier times passed later add nothing.
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at `now`. A rate or burst of 0 is raised to 1, so the
    /// bucket always grants eventually.
    pub fn new(rate_per_sec: u32, burst: u32, now: Duration) -> TokenBucket {
        let burst = burst.max(1);
        TokenBucket { rate: rate_per_sec.max(1), burst, level: burst as u128 * TOKEN, last: now }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    fn refill(&mut self, now: Duration) {
        // A clock stepping backwards adds nothing and is not remembered, so it
        // can never mint tokens twice for the same interval.
        if let Some(dt) = now.checked_sub(self.last) {
            let cap = self.burst as u128 * TOKEN;
            self.level = self.level.saturating_add(dt.as_nanos().saturating_mul(self.rate as u128)).min(cap);
            self.last = now;
        }
    }

    /// Takes one token at `now`, or says how long to wait until one is there
    /// (`take(now + wait)` then succeeds; the wait is at most `1 / rate`).
    pub fn take(&mut self, now: Duration) -> Result<(), Duration> {
        self.refill(now);
        if self.level >= TOKEN {
            self.level -= TOKEN;
            return Ok(());
        }
        let missing = TOKEN - self.level;
        let rate = self.rate as u128;
        Err(Duration::from_nanos(missing.div_ceil(rate) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn the_core_stays_pure() {
        let src = include_str!("pacing.rs");
        let core = &src[..src.find("#[cfg(test)]").unwrap()];
        for banned in ["tokio::", "Instant", "SystemTime", "std::net", "std::fs", "std::io", "std::thread"] {
            assert!(!core.contains(banned), "pacing.rs must not use {banned}");
        }
    }

    #[test]
    fn starts_full_then_paces_at_the_rate() {
        let mut b = TokenBucket::new(1000, 3, Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(b.take(Duration::ZERO), Ok(()));
        }
        assert_eq!(b.take(Duration::ZERO), Err(Duration::from_millis(1)));
        assert_eq!(b.take(Duration::from_micros(400)), Err(Duration::from_micros(600)));
        assert_eq!(b.take(Duration::from_millis(1)), Ok(()));
        // An idle second refills only up to the burst.
        let t = Duration::from_secs(1);
        let granted = (0..10).filter(|_| b.take(t).is_ok()).count();
        assert_eq!(granted, 3);
    }

    #[test]
    fn zero_rate_and_burst_still_grant() {
        let mut b = TokenBucket::new(0, 0, Duration::ZERO);
        assert_eq!((b.rate(), b.burst()), (1, 1));
        assert!(b.take(Duration::ZERO).is_ok());
        let wait = b.take(Duration::ZERO).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(b.take(wait).is_ok());
    }

    #[test]
    fn time_going_backwards_mints_nothing() {
        let mut b = TokenBucket::new(10, 1, Duration::from_secs(5));
        assert!(b.take(Duration::from_secs(5)).is_ok());
        assert!(b.take(Duration::from_secs(1)).is_err());
        // Back at the latest time seen, still nothing new.
        assert!(b.take(Duration::from_secs(5)).is_err());
        assert!(b.take(Duration::from_millis(5100)).is_ok());
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let mut b = TokenBucket::new(u32::MAX, u32::MAX, Duration::ZERO);
        assert!(b.take(Duration::MAX).is_ok());
        let mut b = TokenBucket::new(1, 1, Duration::MAX);
        assert!(b.take(Duration::ZERO).is_ok());
        assert!(b.take(Duration::MAX).is_err());
    }

    proptest! {
        /// Whatever times a sender tries at, the grants in any window
        /// `[t_i, t_j]` number at most `burst + rate × (t_j - t_i)`.
        #[test]
        fn never_exceeds_burst_plus_rate_times_window(
            rate in 1u32..200_000,
            burst in 1u32..200,
            steps in prop::collection::vec(0u64..3_000_000, 1..400),
        ) {
            let mut b = TokenBucket::new(rate, burst, Duration::ZERO);
            let mut t = 0u64;
            let mut grants = Vec::new();
            for s in steps {
                t += s;
                // Several attempts at the same instant, as a greedy sender would.
                for _ in 0..3 {
                    if b.take(ns(t)).is_ok() {
                        grants.push(t);
                    }
                }
            }
            for i in 0..grants.len() {
                for j in i..grants.len() {
                    let count = (j - i + 1) as u128;
                    let window = (grants[j] - grants[i]) as u128;
                    // count ≤ burst + rate × window, in exact integers (ns).
                    prop_assert!(
                        count * TOKEN <= burst as u128 * TOKEN + rate as u128 * window,
                        "{count} grants in {window} ns (rate {rate}, burst {burst})"
                    );
                }
            }
        }

        /// Never starves: after a refusal, asking again after the advised wait
        /// succeeds, and the wait is never more than one token's worth, however
        /// late the sender comes back between attempts.
        #[test]
        fn always_grants_after_the_advised_wait(
            rate in 1u32..1_000_000,
            burst in 1u32..100,
            late in prop::collection::vec(0u64..2_000_000, 1..300),
        ) {
            let mut b = TokenBucket::new(rate, burst, Duration::ZERO);
            let mut now = Duration::ZERO;
            for extra in late {
                if let Err(wait) = b.take(now) {
                    prop_assert!(wait > Duration::ZERO);
                    prop_assert!(wait.as_nanos() <= TOKEN.div_ceil(rate as u128));
                    now += wait;
                    prop_assert_eq!(b.take(now), Ok(()));
                }
                now += ns(extra);
            }
        }

        /// A sender that follows the advice exactly loses no throughput: `n`
        /// packets take (n - burst) / rate, give or take a nanosecond a send.
        #[test]
        fn following_the_advice_gets_the_full_rate(rate in 1u32..1_000_000, burst in 1u32..100, n in 1u64..2_000) {
            let mut b = TokenBucket::new(rate, burst, Duration::ZERO);
            let mut now = Duration::ZERO;
            let mut sent = 0;
            while sent < n {
                match b.take(now) {
                    Ok(()) => sent += 1,
                    Err(wait) => now += wait,
                }
            }
            let paced = n.saturating_sub(burst as u64) as u128 * TOKEN;
            prop_assert!(now.as_nanos() * rate as u128 >= paced.saturating_sub(rate as u128));
            prop_assert!(now.as_nanos() <= paced.div_ceil(rate as u128) + n as u128);
        }

        /// No sequence of times, however disordered, makes it panic.
        #[test]
        fn arbitrary_times_never_panic(
            rate in any::<u32>(),
            burst in any::<u32>(),
            times in prop::collection::vec(any::<u64>(), 0..100),
        ) {
            let mut b = TokenBucket::new(rate, burst, ns(times.first().copied().unwrap_or(0)));
            for t in times {
                let _ = b.take(ns(t));
            }
        }
    }

    #[test]
    fn a_sender_following_the_advice_gets_the_rate() {
        let (rate, burst) = (5000u32, 50u32);
        let mut b = TokenBucket::new(rate, burst, Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut sent = 0;
        while sent < 1000 {
            match b.take(now) {
                Ok(()) => sent += 1,
                Err(wait) => now += wait,
            }
        }
        // 50 at once, then 950 at 5,000/s: 190 ms.
        assert_eq!(now, Duration::from_millis(190));
    }
}
