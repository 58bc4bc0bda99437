//! The state machine driven against a model of the install directory and
//! the processes, with kills injected before any action (and between the
//! two renames of an install): `BIN` is always a known-good binary, nothing
//! unverified ever runs, and every attempt ends in one consistent version
//! with its outcome reported.

use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quality {
    Good,
    CrashAtStart,
    NeverConnects,
    Unhealthy,
    /// Running it takes the machine down (a kernel panic, a watchdog reset).
    TakesMachineDown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bin {
    Old,
    New,
}

const OLD: &str = "1.0.0";
const NEW: &str = "2.0.0";

/// What the world does next: a core event, or a side effect the shell
/// performs before telling the core.
#[derive(Debug, Clone)]
enum Next {
    Core(Event),
    /// A chunk arrived: `BIN.part` grows to this length, then `Received`.
    Chunk(u64),
}

struct World {
    quality: Quality,
    verifies: bool,
    release: Release,
    limits: Limits,
    bin: Bin,
    prev: Option<Bin>,
    part: u64,
    staged: Option<Bin>,
    child: bool,
    state: State,
    now: i64,
    reports: Vec<Outcome>,
    queue: VecDeque<Next>,
    /// Actions run so far; a kill comes before each number listed.
    actions: usize,
    kills: Vec<usize>,
    killed: usize,
    killed_in_trial: usize,
    offers: usize,
    /// Times the staged binary was started.
    starts: u32,
}

impl World {
    fn new(quality: Quality, verifies: bool, kills: Vec<usize>) -> World {
        World {
            quality,
            verifies,
            release: Release { version: NEW.into(), size: 3000, ..Default::default() },
            limits: Limits { trial_ms: 300_000, max_starts: 3 },
            bin: Bin::Old,
            prev: None,
            part: 0,
            staged: None,
            child: false,
            state: State::new(OLD),
            now: 1_000,
            reports: Vec::new(),
            queue: VecDeque::new(),
            actions: 0,
            kills,
            killed: 0,
            killed_in_trial: 0,
            offers: 0,
            starts: 0,
        }
    }

    fn version(&self) -> &'static str {
        match self.bin {
            Bin::Old => OLD,
            Bin::New => NEW,
        }
    }

    fn boot(&mut self) {
        self.child = false;
        self.queue.clear();
        let files = Files { part_len: self.part, staged: self.staged.is_some() };
        self.queue.push_back(Next::Core(Event::Boot { running: self.version().into(), files, now_ms: self.now }));
    }

    /// A kill (SIGKILL or power loss) before the next action? Un-synced
    /// state does not exist in the model: the shell fsyncs before telling.
    fn kill_now(&mut self) -> bool {
        self.actions += 1;
        if self.kills.contains(&self.actions) {
            self.killed += 1;
            if matches!(self.state.phase, Phase::Trial { .. }) {
                self.killed_in_trial += 1;
            }
            self.boot();
            return true;
        }
        false
    }

    fn check(&self) {
        // `BIN` is the new binary only if it verified and proved healthy.
        if self.bin == Bin::New {
            assert!(self.verifies && self.quality == Quality::Good, "a bad binary was installed");
        }
    }

    fn run_actions(&mut self, actions: Vec<Action>) {
        for a in actions {
            if self.kill_now() {
                return;
            }
            match a {
                Action::Fetch { from } => {
                    self.part = from;
                    let mut have = from;
                    while have < self.release.size {
                        have = (have + 1000).min(self.release.size);
                        self.queue.push_back(Next::Chunk(have));
                    }
                }
                Action::Verify => {
                    let ok = self.verifies && self.part == self.release.size;
                    let r = if ok { Ok(()) } else { Err("bad signature".to_string()) };
                    self.queue.push_back(Next::Core(Event::Verified(r)));
                }
                Action::Stage => {
                    assert_eq!(self.part, self.release.size, "only a whole download is staged");
                    assert!(self.verifies, "only a verified download is staged");
                    self.staged = Some(Bin::New);
                    self.part = 0;
                }
                Action::Discard => {
                    self.part = 0;
                    self.staged = None;
                }
                Action::RunStaged => {
                    assert_eq!(self.staged, Some(Bin::New), "nothing unverified or missing is run");
                    self.starts += 1;
                    assert!(self.starts <= self.limits.max_starts, "started more than max_starts times");
                    self.child = true;
                    let now_ms = self.now;
                    match self.quality {
                        Quality::Good => {
                            self.queue.push_back(Next::Core(Event::ChildConnected));
                            self.queue.push_back(Next::Core(Event::ChildHealthy));
                        }
                        Quality::CrashAtStart => self.queue.push_back(Next::Core(Event::ChildExited { now_ms })),
                        Quality::NeverConnects => {}
                        Quality::Unhealthy => self.queue.push_back(Next::Core(Event::ChildConnected)),
                        Quality::TakesMachineDown => {
                            self.killed_in_trial += 1;
                            self.boot();
                            return;
                        }
                    }
                }
                Action::StopStaged => self.child = false,
                Action::ResumeOwn => {}
                Action::Install => {
                    assert_eq!(self.staged, Some(Bin::New), "install needs the staged binary");
                    self.prev = Some(self.bin);
                    // A kill between the link and the rename.
                    if self.kill_now() {
                        return;
                    }
                    self.bin = Bin::New;
                    self.staged = None;
                    self.check();
                }
                Action::Restart => {
                    self.boot();
                    return;
                }
                Action::Report(o) => {
                    self.reports.push(o);
                    self.queue.push_back(Next::Core(Event::ReportAcked));
                }
            }
        }
    }

    /// Runs until the attempt is over and acknowledged.
    fn drive(&mut self) {
        self.boot();
        self.queue.push_back(Next::Core(Event::Offer(self.release.clone())));
        self.offers = 1;
        for _ in 0..10_000 {
            let next = match self.queue.pop_front() {
                Some(n) => n,
                None => match &self.state.phase {
                    Phase::Trial { .. } => {
                        self.now += 60_000;
                        Next::Core(Event::Tick { now_ms: self.now })
                    }
                    Phase::Staged { .. } => Next::Core(Event::StartTrial { now_ms: self.now }),
                    Phase::Downloading { .. } | Phase::Installing { .. } => {
                        // A cut link: the shell starts again from a boot.
                        self.boot();
                        continue;
                    }
                    Phase::Idle if self.reports.is_empty() && self.offers < 10 => {
                        // The offer was lost to a kill: the controller offers again.
                        self.offers += 1;
                        Next::Core(Event::Offer(self.release.clone()))
                    }
                    Phase::Idle => return,
                },
            };
            let event = match next {
                Next::Chunk(have) => {
                    self.part = have;
                    Event::Received { have }
                }
                Next::Core(e) => e,
            };
            let (state, actions) = step(&self.state, event, &self.limits);
            // Persisted before any action runs.
            self.state = state;
            self.run_actions(actions);
            self.check();
        }
        panic!("the upgrade never ended: {:?}", self.state);
    }
}

fn quality() -> impl Strategy<Value = Quality> {
    prop_oneof![
        Just(Quality::Good),
        Just(Quality::CrashAtStart),
        Just(Quality::NeverConnects),
        Just(Quality::Unhealthy),
        Just(Quality::TakesMachineDown)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the release and wherever the kills fall: `BIN` is always
    /// known-good, nothing unverified runs (asserted inside), and the
    /// attempt ends with one installed version, matching the state, and its
    /// outcome reported and acknowledged.
    #[test]
    fn kills_anywhere_leave_one_working_version(
        quality in quality(),
        verifies in any::<bool>(),
        kills in proptest::collection::vec(1usize..40, 0..4),
    ) {
        let mut w = World::new(quality, verifies, kills);
        w.drive();
        prop_assert_eq!(&w.state.phase, &Phase::Idle);
        prop_assert_eq!(w.state.installed.as_str(), w.version());
        prop_assert_eq!(&w.state.report, &None, "acknowledged");
        prop_assert!(!w.child, "no trial child left running");
        prop_assert!(w.staged.is_none() || w.bin == Bin::Old, "nothing left staged after an install");
        let last = w.reports.last().cloned();
        match (verifies, quality) {
            (false, _) => {
                prop_assert_eq!(w.bin, Bin::Old);
                prop_assert!(matches!(last, Some(Outcome::Refused { .. })), "{:?}", last);
            }
            (true, Quality::Good) => match last {
                Some(Outcome::Upgraded { version }) => {
                    prop_assert_eq!(version.as_str(), NEW);
                    prop_assert_eq!(w.bin, Bin::New);
                    prop_assert_eq!(w.prev, Some(Bin::Old), "the previous binary is kept");
                }
                Some(Outcome::RolledBack { reason: Reason::Interrupted, .. }) => {
                    prop_assert!(w.killed_in_trial > 0, "only kills during the trial interrupt a good one");
                    prop_assert_eq!(w.bin, Bin::Old);
                }
                other => prop_assert!(false, "a good release ends in {:?}", other),
            },
            (true, q) => {
                prop_assert_eq!(w.bin, Bin::Old);
                let expected = match q {
                    Quality::CrashAtStart => Reason::CrashLoop,
                    Quality::NeverConnects => Reason::NoConnection,
                    Quality::TakesMachineDown => Reason::Interrupted,
                    _ => Reason::ProbesFailing,
                };
                match last {
                    Some(Outcome::RolledBack { reason, .. }) => {
                        prop_assert!(reason == expected || reason == Reason::Interrupted, "{:?}", reason);
                    }
                    other => prop_assert!(false, "a bad release ends in {:?}", other),
                }
            }
        }
    }
}

#[test]
fn a_good_release_without_kills_goes_offer_to_upgraded() {
    let mut w = World::new(Quality::Good, true, vec![]);
    w.drive();
    assert_eq!(w.reports, [Outcome::Upgraded { version: NEW.into() }]);
    assert_eq!((w.bin, w.prev), (Bin::New, Some(Bin::Old)));
}

#[test]
fn each_failure_is_named() {
    for (q, reason) in [
        (Quality::CrashAtStart, Reason::CrashLoop),
        (Quality::NeverConnects, Reason::NoConnection),
        (Quality::Unhealthy, Reason::ProbesFailing),
        (Quality::TakesMachineDown, Reason::Interrupted),
    ] {
        let mut w = World::new(q, true, vec![]);
        w.drive();
        assert_eq!(w.reports, [Outcome::RolledBack { version: NEW.into(), reason }], "{q:?}");
        assert_eq!(w.bin, Bin::Old);
    }
    let mut w = World::new(Quality::Good, false, vec![]);
    w.drive();
    assert_eq!(w.reports, [Outcome::Refused { version: NEW.into(), reason: "bad signature".into() }]);
}

#[test]
fn oversize_downloads_same_versions_and_busy_offers() {
    let limits = Limits::default();
    let r = Release { version: NEW.into(), size: 10, ..Default::default() };
    let s = State::new(OLD);
    assert_eq!(
        step(&s, Event::Offer(Release { version: OLD.into(), size: 10, ..Default::default() }), &limits),
        (s.clone(), vec![])
    );
    let (s, a) = step(&s, Event::Offer(r.clone()), &limits);
    assert_eq!(a, [Action::Discard, Action::Fetch { from: 0 }]);
    let (s2, a) = step(&s, Event::Received { have: 11 }, &limits);
    assert_eq!((&s2.phase, a.first()), (&Phase::Idle, Some(&Action::Discard)));
    assert!(matches!(s2.report, Some(Outcome::Refused { .. })));
    // The same version offered again before the failure was acknowledged
    // is not tried again; after the acknowledgement (a new rollout) it is.
    let r2 = Release { version: NEW.into(), size: 10, id: 2, ..Default::default() };
    assert_eq!(step(&s2, Event::Offer(r2.clone()), &limits), (s2.clone(), vec![]));
    let (acked, _) = step(&s2, Event::ReportAcked, &limits);
    assert_eq!(step(&acked, Event::Offer(r2), &limits).1, [Action::Discard, Action::Fetch { from: 0 }]);
    // A trial is not interrupted by another offer.
    let trial = State {
        installed: OLD.into(),
        phase: Phase::Trial { release: r, attempt: 1, deadline_ms: 5, connected: false },
        report: None,
    };
    let other = Release { version: "3.0.0".into(), size: 1, ..Default::default() };
    assert_eq!(step(&trial, Event::Offer(other), &limits), (trial.clone(), vec![]));
    // The persisted form round-trips.
    let json = serde_json::to_string(&trial).unwrap();
    assert_eq!(serde_json::from_str::<State>(&json).unwrap(), trial);
}
