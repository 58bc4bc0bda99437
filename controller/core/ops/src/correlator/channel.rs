//! One probe channel (ping or SNMP) of one device: its observations put back
//! in time order and folded into the latched up/down state, the flap penalty
//! and the history of down intervals. Arrival order never matters: the fold
//! always runs over the observations sorted by timestamp.

use super::{Config, Interval, Ms};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A maximal sequence of equal results (all ok or all failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Run {
    pub ok: bool,
    pub start: Ms,
    pub last: Ms,
    pub count: u32,
}

/// The fold state after a prefix of the observations. `Copy`, so evaluating
/// it at `now` (which may pass a timer) never touches the stored state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Core {
    /// The run the newest observation belongs to.
    pub run: Option<Run>,
    /// Latched down since this time (first failure of the run that passed the
    /// hold-down); `None` = latched up.
    pub down_since: Option<Ms>,
    /// Start of the success run that latched up (or of the first success).
    pub up_since: Option<Ms>,
    /// Flapping since this time (start of the failure run that pushed the
    /// penalty over the threshold).
    pub flapping_since: Option<Ms>,
    /// Flap penalty as of `penalty_at` (integer, so a serde round trip is exact).
    pub penalty: i64,
    pub penalty_at: Ms,
    /// Start of the newest failure run that reached `down_after` failures.
    pub last_flap: Option<Ms>,
    pub last_success: Option<Ms>,
}

/// What a channel says about its device at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reach {
    /// No observation yet (or the device is not probed this way).
    NoData,
    /// Latched up, newest observation ok.
    Up { since: Ms },
    /// Latched up but failing: the hold-down has not passed yet.
    Pending { since: Ms },
    /// Latched down (hold-down passed), possibly already answering again
    /// while the recovery hold runs.
    Down { since: Ms },
}

fn decay(penalty: i64, dt: Ms, half_life: Ms) -> i64 {
    if half_life <= 0 {
        return 0;
    }
    let f = (penalty as f64) * 0.5f64.powf(dt.max(0) as f64 / half_life as f64);
    f.round() as i64
}

impl Core {
    /// Applies what the current run proves once time `t` is reached without
    /// a contrary observation. Returns the down interval this closes, if any.
    pub fn advance(&mut self, c: &Config, t: Ms) -> Option<Interval> {
        let r = self.run?;
        let span = t.saturating_sub(r.start);
        if !r.ok {
            // A device that never answered has not gone down: nothing
            // changed (a CPE whose station-table IP drops pings, a target
            // typed wrong). It stays pending, shown as "no reply yet".
            if self.down_since.is_none()
                && self.last_success.is_some()
                && r.count >= c.down_after.max(1)
                && span >= c.hold_down_ms
            {
                self.down_since = Some(r.start);
            }
            return None;
        }
        let mut closed = None;
        if let Some(since) = self.down_since
            && r.count >= c.up_after.max(1)
            && span >= c.recovery_hold_ms
        {
            self.down_since = None;
            self.up_since = Some(r.start);
            closed = Some(Interval { from: since, to: Some(r.start) });
        }
        if self.flapping_since.is_some() && span >= c.flap_stable_ms {
            self.flapping_since = None;
            self.penalty = 0;
        }
        closed
    }

    /// Adds one observation that is newer than every one folded so far.
    pub fn push(&mut self, c: &Config, ts: Ms, ok: bool) -> Option<Interval> {
        let mut closed = None;
        match &mut self.run {
            Some(r) if r.ok == ok => {
                r.count = r.count.saturating_add(1);
                r.last = ts;
            }
            _ => {
                // The previous run lasted until this observation.
                closed = self.advance(c, ts);
                self.run = Some(Run { ok, start: ts, last: ts, count: 1 });
            }
        }
        if ok {
            self.last_success = Some(ts);
            if self.down_since.is_none() && self.up_since.is_none() {
                self.up_since = Some(ts);
            }
        } else if let Some(r) = self.run
            && r.count == c.down_after.max(1)
        {
            // A failure run long enough to count as an outage is one flap.
            let p = decay(self.penalty, ts.saturating_sub(self.penalty_at), c.flap_half_life_ms);
            self.penalty = p.saturating_add(c.flap_penalty).min(c.flap_max_penalty);
            self.penalty_at = ts;
            self.last_flap = Some(r.start);
            if self.penalty >= c.flap_suppress && self.flapping_since.is_none() {
                self.flapping_since = Some(r.start);
            }
        }
        closed.or(self.advance(c, ts))
    }

    /// This state evaluated at `now` (timers applied, nothing stored).
    pub fn at(mut self, c: &Config, now: Ms) -> Core {
        self.advance(c, now);
        self
    }

    pub fn reach(&self) -> Reach {
        match (self.run, self.down_since) {
            (None, _) => Reach::NoData,
            (Some(_), Some(since)) => Reach::Down { since },
            (Some(r), None) if r.ok => Reach::Up { since: self.up_since.unwrap_or(r.start) },
            (Some(r), None) => Reach::Pending { since: r.start },
        }
    }

    /// Down for incident purposes: latched down or flapping.
    pub fn downish(&self) -> bool {
        self.down_since.is_some() || self.flapping_since.is_some()
    }

    /// Latched up, not flapping, and the newest observation is a success.
    pub fn solid_up(&self) -> bool {
        self.down_since.is_none() && self.flapping_since.is_none() && self.run.is_some_and(|r| r.ok)
    }
}

/// A core plus the closed down intervals it produced (bounded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Fold {
    pub core: Core,
    pub history: Vec<Interval>,
}

impl Fold {
    fn push(&mut self, c: &Config, ts: Ms, ok: bool) {
        if let Some(i) = self.core.push(c, ts, ok) {
            self.history.push(i);
            let excess = self.history.len().saturating_sub(c.history_len);
            self.history.drain(..excess);
        }
    }
}

/// Observations of one channel: a reorder window kept as raw samples, and
/// everything older folded into `base`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Channel {
    window: BTreeMap<Ms, bool>,
    base: Fold,
    /// Observations older than the window that could not be placed in order.
    pub late_dropped: u64,
    /// `base` with the window folded in; rebuilt when the window changes.
    #[serde(skip)]
    cache: Option<Fold>,
}

impl Channel {
    /// Records one result. Two results with the same timestamp merge (a
    /// success wins, whatever the arrival order). Returns false when the
    /// observation is older than everything kept and had to be dropped.
    pub fn observe(&mut self, c: &Config, ts: Ms, ok: bool) -> bool {
        if self.base.core.run.is_some_and(|r| ts <= r.last) {
            self.late_dropped = self.late_dropped.saturating_add(1);
            return false;
        }
        *self.window.entry(ts).or_insert(ok) |= ok;
        self.cache = None;
        let newest = self.window.last_key_value().map_or(ts, |(t, _)| *t);
        let cutoff = newest.saturating_sub(c.reorder_window_ms.max(0));
        while let Some((&t, &v)) = self.window.first_key_value() {
            if self.window.len() <= c.max_window_obs && t >= cutoff {
                break;
            }
            self.window.pop_first();
            self.base.push(c, t, v);
        }
        true
    }

    /// The fold over every observation kept (cached).
    pub fn fold(&mut self, c: &Config) -> &Fold {
        let (base, window) = (&self.base, &self.window);
        self.cache.get_or_insert_with(|| fold_window(c, base, window))
    }

    /// Like [`Channel::fold`] without filling the cache.
    pub fn fold_ref(&self, c: &Config) -> Cow<'_, Fold> {
        match &self.cache {
            Some(f) => Cow::Borrowed(f),
            None => Cow::Owned(fold_window(c, &self.base, &self.window)),
        }
    }

    /// Failures at or after `from`, for a channel whose newest run is a
    /// failure run that began before `from`: their count and the first one's
    /// time. Failures already folded away count whole, with `from` standing
    /// in for the first one's time.
    pub fn failures_from(&self, from: Ms) -> (u32, Option<Ms>) {
        let (mut n, mut first) = (0u32, None);
        if let Some(r) = self.base.core.run
            && !r.ok
            && r.last >= from
        {
            (n, first) = (r.count, Some(from.max(r.start)));
        }
        for (t, _) in self.window.range(from..).filter(|(_, ok)| !**ok) {
            n = n.saturating_add(1);
            first.get_or_insert(*t);
        }
        (n, first)
    }
}

fn fold_window(c: &Config, base: &Fold, window: &BTreeMap<Ms, bool>) -> Fold {
    let mut f = base.clone();
    for (t, ok) in window {
        f.push(c, *t, *ok);
    }
    f
}
