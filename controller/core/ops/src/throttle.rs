//! Login throttling (pure; time passed in): progressive delay, never a
//! lockout.
//!
//! Failures are counted per (account, address), per address and per
//! account. Each key allows some failures for free; every further failure
//! doubles the delay before the next attempt may be tried with that key, up
//! to a cap. The per-account cap is short (a minute by default): an attacker
//! spraying one account from many addresses slows it down but never locks
//! its owner out, while the owner on their own address is only slowed by
//! their own mistakes. Failures are forgotten after a quiet period.
//!
//! An attempt is counted **before** the password is verified
//! ([`Throttle::begin`]): concurrent attempts cannot all slip through while
//! the (slow, memory-hungry) verification runs; a success then takes its
//! count back ([`Throttle::succeeded`]). Memory is bounded: at most
//! [`Limits::max_tracked`] keys, the stalest evicted first.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Free failures per (account, address), per address, per account.
    pub free_pair: u32,
    pub free_ip: u32,
    pub free_account: u32,
    /// The delay after the first failure past the free ones; it doubles
    /// with each further failure.
    pub base_delay_ms: u64,
    /// Longest delay per (account, address) and per address.
    pub max_delay_ms: u64,
    /// Longest delay per account (short: slow an attack, never lock out).
    pub max_account_delay_ms: u64,
    /// A key with no failure for this long starts over.
    pub forget_after_ms: u64,
    /// Keys tracked at most.
    pub max_tracked: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            free_pair: 5,
            free_ip: 30,
            free_account: 20,
            base_delay_ms: 2_000,
            max_delay_ms: 15 * 60_000,
            max_account_delay_ms: 60_000,
            forget_after_ms: 15 * 60_000,
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Track {
    failures: u32,
    last_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pair,
    Ip,
    Account,
}

#[derive(Debug, Default)]
pub struct Throttle {
    limits: Limits,
    tracks: HashMap<String, Track>,
}

fn keys(account: &str, ip: &str) -> [(String, Kind); 3] {
    let account = account.trim().to_ascii_lowercase();
    [(format!("p:{account}|{ip}"), Kind::Pair), (format!("i:{ip}"), Kind::Ip), (format!("a:{account}"), Kind::Account)]
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle { limits, tracks: HashMap::new() }
    }

    fn free(&self, k: Kind) -> u32 {
        match k {
            Kind::Pair => self.limits.free_pair,
            Kind::Ip => self.limits.free_ip,
            Kind::Account => self.limits.free_account,
        }
    }

    fn cap(&self, k: Kind) -> u64 {
        match k {
            Kind::Account => self.limits.max_account_delay_ms,
            _ => self.limits.max_delay_ms,
        }
    }

    /// Milliseconds before `key` may try again at `now` (0: now).
    fn wait_ms(&self, key: &str, kind: Kind, now: u64) -> u64 {
        let Some(t) = self.tracks.get(key) else { return 0 };
        if now.saturating_sub(t.last_ms) >= self.limits.forget_after_ms {
            return 0;
        }
        let free = self.free(kind);
        if t.failures < free {
            return 0;
        }
        let doublings = (t.failures - free).min(40);
        let delay = self.limits.base_delay_ms.saturating_mul(1u64 << doublings).min(self.cap(kind));
        // Never longer than the delay itself, even if the clock stepped back.
        (t.last_ms + delay).saturating_sub(now).min(delay)
    }

    /// `Err(seconds)` when an attempt for `account` from `ip` must wait that
    /// long; nothing is recorded.
    pub fn check(&self, account: &str, ip: &str, now: u64) -> Result<(), u64> {
        let wait = keys(account, ip).iter().map(|(k, kind)| self.wait_ms(k, *kind, now)).max().unwrap_or(0);
        if wait > 0 { Err(wait.div_ceil(1000)) } else { Ok(()) }
    }

    /// Starts an attempt: `Err(seconds)` to wait, or the attempt is counted
    /// as a failure right away (before the password is verified);
    /// [`Throttle::succeeded`] takes it back.
    pub fn begin(&mut self, account: &str, ip: &str, now: u64) -> Result<(), u64> {
        self.check(account, ip, now)?;
        self.failed(account, ip, now);
        Ok(())
    }

    /// Counts a failure.
    pub fn failed(&mut self, account: &str, ip: &str, now: u64) {
        for (k, _) in keys(account, ip) {
            let forget = self.limits.forget_after_ms;
            let t = self.tracks.entry(k).or_insert(Track { failures: 0, last_ms: now });
            if now.saturating_sub(t.last_ms) >= forget {
                t.failures = 0;
            }
            t.failures = t.failures.saturating_add(1);
            t.last_ms = t.last_ms.max(now);
        }
        if self.tracks.len() > self.limits.max_tracked {
            self.evict(now);
        }
    }

    /// A successful login: that pair starts over, and the attempt counted
    /// by [`Throttle::begin`] is taken back from the address and the account.
    pub fn succeeded(&mut self, account: &str, ip: &str) {
        let [(pair, _), (ip_key, _), (acct, _)] = keys(account, ip);
        self.tracks.remove(&pair);
        for k in [ip_key, acct] {
            if let Some(t) = self.tracks.get_mut(&k) {
                t.failures = t.failures.saturating_sub(1);
                if t.failures == 0 {
                    self.tracks.remove(&k);
                }
            }
        }
    }

    /// Drops forgotten keys, then the stalest until under the bound.
    fn evict(&mut self, now: u64) {
        let forget = self.limits.forget_after_ms;
        self.tracks.retain(|_, t| now.saturating_sub(t.last_ms) < forget);
        if self.tracks.len() > self.limits.max_tracked {
            let mut by_age: Vec<(u64, String)> = self.tracks.iter().map(|(k, t)| (t.last_ms, k.clone())).collect();
            by_age.sort();
            let excess = self.tracks.len() - self.limits.max_tracked * 9 / 10;
            for (_, k) in by_age.into_iter().take(excess) {
                self.tracks.remove(&k);
            }
        }
    }

    /// Keys tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.tracks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn five_failures_slow_the_pair_but_not_the_real_user_elsewhere() {
        let mut t = Throttle::new(Limits::default());
        for i in 0..5 {
            assert!(t.begin("noc@x", "10.0.0.9", i).is_ok());
        }
        let wait = t.check("NOC@x", "10.0.0.9", 10).unwrap_err();
        assert_eq!(wait, 2, "the first delay");
        assert!(t.check("noc@x", "192.0.2.1", 10).is_ok(), "the real user on another address still gets in");
        assert!(t.check("noc@x", "10.0.0.9", 2_100).is_ok(), "a delay, not a lockout");
        assert!(t.begin("noc@x", "10.0.0.9", 2_100).is_ok());
        assert_eq!(t.check("noc@x", "10.0.0.9", 2_100), Err(4), "the delay doubles");
        assert!(t.check("noc@x", "10.0.0.9", 2_100 + 15 * 60_000).is_ok(), "quiet for the window: forgotten");
    }

    #[test]
    fn concurrent_attempts_are_counted_before_verification() {
        let mut t = Throttle::new(Limits::default());
        let admitted = (0..40).filter(|_| t.begin("admin@localhost", "10.0.0.9", 1_000).is_ok()).count();
        assert_eq!(admitted, 5, "40 attempts at once: only the free ones reach verification");
    }

    #[test]
    fn a_success_takes_its_attempt_back() {
        let mut t = Throttle::new(Limits::default());
        for i in 0..4 {
            t.begin("ada@x", "10.0.0.1", i).unwrap();
        }
        t.begin("ada@x", "10.0.0.1", 5).unwrap();
        t.succeeded("ada@x", "10.0.0.1");
        assert!(t.check("ada@x", "10.0.0.1", 6).is_ok());
        assert_eq!(t.tracked(), 2, "the pair is gone; address and account keep the 4 failures");
    }

    #[test]
    fn spraying_one_account_slows_it_for_at_most_a_minute() {
        let mut t = Throttle::new(Limits::default());
        for i in 0..200u64 {
            t.failed("boss@x", &format!("10.1.{}.{}", i / 250, i % 250), i);
        }
        let wait = t.check("boss@x", "192.0.2.7", 300).unwrap_err();
        assert!(wait <= 60, "the account is slowed, never locked out: {wait} s");
    }

    #[test]
    fn an_address_spraying_many_accounts_is_slowed() {
        let mut t = Throttle::new(Limits::default());
        for i in 0..30 {
            t.failed(&format!("user{i}@x"), "10.0.0.66", i);
        }
        assert!(t.check("fresh@x", "10.0.0.66", 100).is_err());
        assert!(t.check("fresh@x", "10.0.0.67", 100).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = Throttle::new(Limits { max_tracked: 1_000, ..Limits::default() });
        for i in 0..10_000u64 {
            t.failed(&format!("u{i}@x"), &format!("10.{}.{}.1", i / 256, i % 256), i);
        }
        assert!(t.tracked() <= 1_000, "{}", t.tracked());
    }

    proptest! {
        #[test]
        fn never_panics_and_waits_are_bounded(ops in proptest::collection::vec((0u8..3, 0u8..4, 0u8..4, 0u64..10_000_000), 0..200)) {
            let mut t = Throttle::new(Limits::default());
            for (op, a, ip, now) in ops {
                let (a, ip) = (format!("a{a}"), format!("10.0.0.{ip}"));
                match op {
                    0 => { let _ = t.begin(&a, &ip, now); }
                    1 => t.failed(&a, &ip, now),
                    _ => t.succeeded(&a, &ip),
                }
                if let Err(w) = t.check(&a, &ip, now) {
                    prop_assert!(w <= 15 * 60);
                }
            }
        }
    }
}
