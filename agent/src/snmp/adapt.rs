//! Adaptive GETBULK max-repetitions per device (pure): multiplicative
//! decrease on `tooBig`, a truncated reply, a timeout or a slow reply;
//! slow additive increase after a run of fast, full replies. Radios with
//! weak CPUs answer big bulk requests slowly or not at all, so the value a
//! device tolerates is learned and kept between polls.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxReps {
    value: u32,
    fast_streak: u32,
    ceiling: u32,
}

impl MaxReps {
    pub const START: u32 = 25;
    pub const MIN: u32 = 1;
    pub const CEILING: u32 = 64;
    /// Fast full replies needed before growing.
    pub const GROW_AFTER: u32 = 4;

    pub fn new(start: u32) -> MaxReps {
        MaxReps { value: start.clamp(Self::MIN, Self::CEILING), fast_streak: 0, ceiling: Self::CEILING }
    }

    pub fn get(&self) -> u32 {
        self.value
    }

    fn halve(&mut self) {
        self.value = (self.value / 2).max(Self::MIN);
        self.fast_streak = 0;
    }

    /// The agent answered `tooBig`, or the reply filled our receive buffer.
    /// Also lowers the ceiling so growth does not walk back into the limit.
    pub fn on_too_big(&mut self) {
        self.ceiling = self.value.saturating_sub(1).max(Self::MIN);
        self.halve();
    }

    /// No reply within the timeout.
    pub fn on_timeout(&mut self) {
        self.halve();
    }

    /// A reply came after `rtt`. `slow` is the round trip above which the
    /// device is considered struggling (e.g. a quarter of the timeout);
    /// `full` says the reply carried every repetition asked for (only then
    /// would a larger value have saved a round trip).
    pub fn on_reply(&mut self, rtt: Duration, slow: Duration, full: bool) {
        if rtt >= slow {
            self.halve();
            return;
        }
        if !full || rtt * 4 >= slow {
            self.fast_streak = 0;
            return;
        }
        self.fast_streak += 1;
        if self.fast_streak >= Self::GROW_AFTER {
            self.fast_streak = 0;
            self.value = (self.value + (self.value / 8).max(1)).min(self.ceiling);
        }
    }
}

impl Default for MaxReps {
    fn default() -> Self {
        MaxReps::new(Self::START)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SLOW: Duration = Duration::from_millis(250);
    const FAST: Duration = Duration::from_millis(5);

    #[test]
    fn halves_and_grows_back_slowly() {
        let mut m = MaxReps::default();
        assert_eq!(m.get(), 25);
        m.on_timeout();
        assert_eq!(m.get(), 12);
        m.on_reply(Duration::from_millis(300), SLOW, true);
        assert_eq!(m.get(), 6);
        for _ in 0..3 {
            m.on_reply(FAST, SLOW, true);
        }
        assert_eq!(m.get(), 6, "needs GROW_AFTER fast replies");
        m.on_reply(FAST, SLOW, true);
        assert_eq!(m.get(), 7);
        // Partial replies (end of table) do not count towards growth.
        for _ in 0..10 {
            m.on_reply(FAST, SLOW, false);
        }
        assert_eq!(m.get(), 7);
        // Replies that are neither slow nor fast reset the streak.
        for _ in 0..3 {
            m.on_reply(FAST, SLOW, true);
        }
        m.on_reply(Duration::from_millis(100), SLOW, true);
        m.on_reply(FAST, SLOW, true);
        assert_eq!(m.get(), 7);
    }

    #[test]
    fn too_big_caps_growth() {
        let mut m = MaxReps::new(40);
        m.on_too_big();
        assert_eq!(m.get(), 20);
        for _ in 0..400 {
            m.on_reply(FAST, SLOW, true);
        }
        assert_eq!(m.get(), 39, "never back to the size that was too big");
    }

    #[test]
    fn floor_is_one() {
        let mut m = MaxReps::new(3);
        for _ in 0..10 {
            m.on_timeout();
        }
        assert_eq!(m.get(), 1);
        m.on_too_big();
        assert_eq!(m.get(), 1);
    }

    proptest! {
        #[test]
        fn always_within_bounds(events in proptest::collection::vec((0u8..4, 0u64..600, any::<bool>()), 0..300)) {
            let mut m = MaxReps::default();
            for (kind, ms, full) in events {
                let before = m.get();
                match kind {
                    0 => { m.on_timeout(); prop_assert!(m.get() <= before); }
                    1 => { m.on_too_big(); prop_assert!(m.get() <= before); }
                    _ => m.on_reply(Duration::from_millis(ms), SLOW, full),
                }
                prop_assert!((MaxReps::MIN..=MaxReps::CEILING).contains(&m.get()));
                // Growth is slow: never more than 1/8 (at least 1) per reply.
                prop_assert!(m.get() <= before + (before / 8).max(1));
            }
        }
    }
}
