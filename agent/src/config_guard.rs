//! Versioned config pushes (pure core: time passed in). A pushed config
//! (a site config and its probing settings share one revision) is applied
//! at once but only **confirmed** once the link to the controller has stayed
//! up for `confirm_ms` after it was applied. If the link goes down before
//! that and stays down for `revert_ms`, the config is presumed to have cut
//! the agent off (a ping rate that floods the backhaul, a sweep of the
//! wrong subnet): the agent goes back to the last confirmed config and
//! rejects that revision until a newer one comes (OpenWISP's pattern).
//! The shell keeps copies of the confirmed config and reports to the
//! controller what it applied, confirmed or reverted.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub confirm_ms: i64,
    pub revert_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { confirm_ms: 60_000, revert_ms: 300_000 }
    }
}

/// The persisted part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revisions {
    /// The last confirmed revision (what a revert goes back to).
    pub confirmed: Option<u64>,
    /// A revision that was reverted: not applied again.
    pub rejected: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub revs: Revisions,
    /// A newer revision applied and not confirmed yet, and when.
    pending: Option<(u64, i64)>,
    /// Since when the link is up, or down.
    link: Link,
    limits: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Up(i64),
    Down(i64),
}

/// What the shell must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep copies of the current config as the confirmed one.
    Confirm(u64),
    /// Go back to the confirmed config; `from` is rejected.
    Revert { from: u64, to: u64 },
}

impl Guard {
    pub fn new(revs: Revisions, limits: Limits, now: i64) -> Guard {
        Guard { revs, pending: None, link: Link::Down(now), limits }
    }

    /// A config of `revision` arrived: whether to apply it.
    pub fn push(&mut self, revision: u64, now: i64) -> bool {
        if self.revs.rejected == Some(revision) {
            return false;
        }
        if self.revs.rejected.is_some_and(|r| revision > r) {
            self.revs.rejected = None;
        }
        if self.revs.confirmed != Some(revision) {
            self.pending = Some((revision, now));
        }
        true
    }

    pub fn link(&mut self, up: bool, now: i64) {
        self.link = match (self.link, up) {
            (Link::Up(t), true) => Link::Up(t),
            (Link::Down(t), false) => Link::Down(t),
            (_, true) => Link::Up(now),
            (_, false) => Link::Down(now),
        };
    }

    pub fn pending(&self) -> Option<u64> {
        self.pending.map(|(r, _)| r)
    }

    /// Time passes.
    pub fn tick(&mut self, now: i64) -> Option<Decision> {
        let (rev, applied) = self.pending?;
        match self.link {
            Link::Up(since) if now - since.max(applied) >= self.limits.confirm_ms => {
                self.pending = None;
                self.revs.confirmed = Some(rev);
                Some(Decision::Confirm(rev))
            }
            Link::Down(since) if now - since.max(applied) >= self.limits.revert_ms => {
                // With nothing confirmed before it there is nothing to go back to.
                let to = self.revs.confirmed?;
                self.pending = None;
                self.revs.rejected = Some(rev);
                Some(Decision::Revert { from: rev, to })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits { confirm_ms: 60, revert_ms: 300 };

    #[test]
    fn a_config_that_keeps_the_link_is_confirmed() {
        let mut g = Guard::new(Revisions::default(), L, 0);
        g.link(true, 0);
        assert!(g.push(1, 10));
        assert_eq!(g.tick(69), None);
        assert_eq!(g.tick(70), Some(Decision::Confirm(1)));
        assert_eq!((g.revs.confirmed, g.pending()), (Some(1), None));
    }

    #[test]
    fn a_config_that_loses_the_link_is_reverted_and_rejected_until_a_newer_one() {
        let mut g = Guard::new(Revisions { confirmed: Some(1), rejected: None }, L, 0);
        g.link(true, 0);
        assert!(g.push(2, 100));
        g.link(false, 130);
        assert_eq!(g.tick(429), None, "down, but not long enough");
        // A short cut that heals does not revert; the clock restarts.
        g.link(true, 200);
        g.link(false, 220);
        assert_eq!(g.tick(519), None);
        assert_eq!(g.tick(520), Some(Decision::Revert { from: 2, to: 1 }));
        assert_eq!(g.revs, Revisions { confirmed: Some(1), rejected: Some(2) });
        g.link(true, 600);
        assert!(!g.push(2, 600), "the rejected revision is not applied again");
        assert_eq!(g.tick(10_000), None);
        assert!(g.push(3, 700), "a newer one is");
        assert_eq!(g.revs.rejected, None);
        assert_eq!(g.tick(760), Some(Decision::Confirm(3)));
    }

    #[test]
    fn the_first_config_has_nothing_to_revert_to() {
        let mut g = Guard::new(Revisions::default(), L, 0);
        assert!(g.push(1, 0));
        assert_eq!(g.tick(10_000), None);
        g.link(true, 10_000);
        assert_eq!(g.tick(10_060), Some(Decision::Confirm(1)));
        // The confirmed revision pushed again (a reconnect) is nothing new.
        assert!(g.push(1, 20_000));
        assert_eq!(g.pending(), None);
    }
}
