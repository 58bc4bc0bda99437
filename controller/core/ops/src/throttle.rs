//! Login throttling (pure; time passed in). Failures are counted per
//! (account, IP), per IP and per account in a sliding window. A real user on
//! their own address is only slowed by their own mistakes: an attacker
//! elsewhere has to fail far more often before the account itself is slowed.

use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub window_ms: u64,
    pub per_pair: usize,
    pub per_ip: usize,
    pub per_account: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { window_ms: 15 * 60_000, per_pair: 5, per_ip: 30, per_account: 100 }
    }
}

#[derive(Debug, Default)]
pub struct Throttle {
    limits: Limits,
    failures: HashMap<String, VecDeque<u64>>,
}

/// Picks one of the limits.
type LimitOf = fn(&Limits) -> usize;

fn keys(email: &str, ip: &str) -> [(String, LimitOf); 3] {
    let email = email.trim().to_ascii_lowercase();
    [
        (format!("pair:{email}|{ip}"), |l| l.per_pair),
        (format!("ip:{ip}"), |l| l.per_ip),
        (format!("acct:{email}"), |l| l.per_account),
    ]
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle { limits, failures: HashMap::new() }
    }

    fn prune(&mut self, now: u64) {
        let w = self.limits.window_ms;
        for q in self.failures.values_mut() {
            while q.front().is_some_and(|t| now.saturating_sub(*t) >= w) {
                q.pop_front();
            }
        }
        self.failures.retain(|_, q| !q.is_empty());
    }

    /// `Err(seconds)` when a login attempt must wait that long.
    pub fn check(&mut self, email: &str, ip: &str, now: u64) -> Result<(), u64> {
        self.prune(now);
        let mut wait = 0;
        for (k, limit) in keys(email, ip) {
            if let Some(q) = self.failures.get(&k)
                && q.len() >= limit(&self.limits)
            {
                let oldest = q[q.len() - limit(&self.limits)];
                wait = wait.max((oldest + self.limits.window_ms).saturating_sub(now).div_ceil(1000));
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn failed(&mut self, email: &str, ip: &str, now: u64) {
        for (k, _) in keys(email, ip) {
            self.failures.entry(k).or_default().push_back(now);
        }
        if self.failures.len() > 100_000 {
            self.prune(now);
        }
    }

    /// A successful login forgets that pair's failures.
    pub fn succeeded(&mut self, email: &str, ip: &str) {
        let [(pair, _), _, _] = keys(email, ip);
        self.failures.remove(&pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_slow_the_pair_but_not_the_real_user_elsewhere() {
        let mut t = Throttle::new(Limits::default());
        for i in 0..5 {
            assert!(t.check("noc@x", "10.0.0.9", i).is_ok());
            t.failed("noc@x", "10.0.0.9", i);
        }
        let wait = t.check("NOC@x", "10.0.0.9", 10).unwrap_err();
        assert!(wait > 800 && wait <= 900, "{wait}");
        assert!(t.check("noc@x", "192.0.2.1", 10).is_ok(), "the real user on another address still gets in");
        assert!(t.check("noc@x", "10.0.0.9", 15 * 60_000 + 10).is_ok(), "the window slides");
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
}
