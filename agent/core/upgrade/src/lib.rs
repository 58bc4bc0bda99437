//! # The agent's self-upgrade (pure core: no IO, no clock)
//!
//! An upgrade must never leave a tower without a working agent. The shell
//! (the agent) keeps these files in its install directory:
//!
//! - `BIN` (`mast-agent`): what systemd or the re-exec starts. It is only
//!   ever replaced by an atomic rename of a binary that **passed its trial**,
//!   so at every instant it is a complete, known-good binary.
//! - `BIN.prev`: the binary `BIN` held before the last install (kept for a
//!   manual rollback).
//! - `BIN.part`: a download in progress, appended and fsynced chunk by chunk
//!   (resumed from its length after a cut or a restart); never executable.
//! - `BIN.new`: a download that passed verification (signature, SHA-256,
//!   size, target, ELF machine, free space), made executable.
//! - the [`State`], written atomically (temporary file, fsync, rename, fsync
//!   of the directory) **before** the [`Action`]s of a [`step`] run: after a
//!   crash or a power loss at any point, [`Event::Boot`] resumes from the
//!   last state written, and every action is safe to run again.
//!
//! The new binary is tried as a **child of the known-good one**: the parent
//! stops its own work, runs `BIN.new` in trial mode and watches it. A child
//! that crashes [`Limits::max_starts`] times, or is not healthy (connected,
//! probing and sending) by the deadline, is stopped and discarded, the
//! parent resumes, and [`Outcome::RolledBack`] says why. A healthy child is
//! installed (`BIN` linked to `BIN.prev`, `BIN.new` renamed over `BIN`)
//! and the parent re-executes `BIN`; the new version then reports
//! [`Outcome::Upgraded`]. A binary that crashes at start, never connects, or
//! takes the machine down is therefore never `BIN`.
//!
//! Outcomes are kept in the state until the controller acknowledges them
//! ([`Event::ReportAcked`]), so none is lost to a restart.

use serde::{Deserialize, Serialize};

pub mod binary;
pub mod signature;

/// A release the controller offers. The core is driven by `version` and
/// `size`; the rest is what the shell fetches and verifies by.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    /// Bytes announced; a download longer than this is refused.
    pub size: u64,
    /// The controller's id of the file (what the shell asks for).
    #[serde(default)]
    pub id: u64,
    /// Target triple, SHA-256 (hex) and minisign signature the file must match.
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub signature: String,
    /// Seconds the trial may take (0: [`Limits::default`]).
    #[serde(default)]
    pub trial_secs: u32,
}

/// Why a trial failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The new binary exited [`Limits::max_starts`] times.
    CrashLoop,
    /// It never connected to the controller before the deadline.
    NoConnection,
    /// It connected but did not report healthy (probing and sending).
    ProbesFailing,
    /// The known-good parent was restarted during the trial that many times
    /// (power loss, a kill, a machine the new binary takes down).
    Interrupted,
    /// `BIN.new` vanished before it could be tried or installed.
    StagedBinaryMissing,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CrashLoop => "crash loop",
            Reason::NoConnection => "no connection",
            Reason::ProbesFailing => "probes failing",
            Reason::Interrupted => "trial interrupted",
            Reason::StagedBinaryMissing => "staged binary missing",
        }
    }
}

/// What an upgrade attempt ended in, reported to the controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// `version` is installed and running.
    Upgraded { version: String },
    /// `version` was tried and discarded; the previous one runs.
    RolledBack { version: String, reason: Reason },
    /// `version` was never executed: it failed verification or could not be
    /// taken (the reason says which).
    Refused { version: String, reason: String },
}

/// Where an upgrade is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    Idle,
    /// `BIN.part` holds `have` bytes of `release`.
    Downloading {
        release: Release,
        have: u64,
    },
    /// `BIN.new` holds the verified release; nothing runs it yet.
    Staged {
        release: Release,
    },
    /// `BIN.new` runs as a child (start number `attempt`) until `deadline_ms`.
    Trial {
        release: Release,
        attempt: u32,
        deadline_ms: i64,
        connected: bool,
    },
    /// The trial passed: `BIN.new` goes over `BIN`, then a re-exec.
    Installing {
        release: Release,
    },
}

/// The persisted state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The version `BIN` holds.
    pub installed: String,
    pub phase: Phase,
    /// The outcome not yet acknowledged by the controller.
    pub report: Option<Outcome>,
}

impl State {
    /// A fresh state for the running binary's version.
    pub fn new(installed: &str) -> State {
        State { installed: installed.to_string(), phase: Phase::Idle, report: None }
    }
}

/// The operator's limits for a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long the new binary has to become healthy (default 5 minutes).
    pub trial_ms: i64,
    /// Starts of the new binary (or restarts of its parent) before the
    /// trial fails (default 3).
    pub max_starts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { trial_ms: 5 * 60 * 1000, max_starts: 3 }
    }
}

/// What the shell found in the install directory at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Files {
    /// Length of `BIN.part` (0 if absent).
    pub part_len: u64,
    /// `BIN.new` exists.
    pub staged: bool,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The controller offers a release.
    Offer(Release),
    /// `BIN.part` now holds `have` bytes (fsynced).
    Received { have: u64 },
    /// The result of [`Action::Verify`].
    Verified(Result<(), String>),
    /// The shell is ready to try the staged binary (e.g. inside the
    /// rollout's window).
    StartTrial { now_ms: i64 },
    /// The trial child exited.
    ChildExited { now_ms: i64 },
    /// The trial child reached the controller.
    ChildConnected,
    /// The trial child probes and sends.
    ChildHealthy,
    /// Time passes.
    Tick { now_ms: i64 },
    /// The process started from `BIN`, which reports `running`.
    Boot { running: String, files: Files, now_ms: i64 },
    /// The controller has the pending report.
    ReportAcked,
}

/// What the shell must do, in order, after persisting the new state. Each
/// one is idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Download from byte `from` into `BIN.part` (truncated to `from`),
    /// fsyncing each chunk; answer with [`Event::Received`].
    Fetch { from: u64 },
    /// Verify `BIN.part`; answer with [`Event::Verified`].
    Verify,
    /// Rename `BIN.part` to `BIN.new`, make it executable, fsync the directory.
    Stage,
    /// Delete `BIN.part` and `BIN.new`.
    Discard,
    /// Stop this process's own work and start `BIN.new` in trial mode.
    RunStaged,
    /// Stop the trial child.
    StopStaged,
    /// Resume this process's own work.
    ResumeOwn,
    /// Link `BIN` to `BIN.prev` (replacing it), rename `BIN.new` over
    /// `BIN`, fsync the directory.
    Install,
    /// Re-execute `BIN`.
    Restart,
    /// Send the outcome to the controller (again after each start until acknowledged).
    Report(Outcome),
}

fn report(mut s: State, o: Outcome, mut actions: Vec<Action>) -> (State, Vec<Action>) {
    s.phase = Phase::Idle;
    s.report = Some(o.clone());
    actions.push(Action::Report(o));
    (s, actions)
}

fn roll_back(s: State, release: &Release, reason: Reason) -> (State, Vec<Action>) {
    let o = Outcome::RolledBack { version: release.version.clone(), reason };
    report(s, o, vec![Action::StopStaged, Action::Discard, Action::ResumeOwn])
}

/// Resumes a download from what `BIN.part` holds.
fn resume(release: &Release, part_len: u64) -> (Phase, Vec<Action>) {
    let have = part_len.min(release.size);
    let action = if have == release.size { Action::Verify } else { Action::Fetch { from: have } };
    (Phase::Downloading { release: release.clone(), have }, vec![action])
}

/// The next state and the actions that lead to it. Events that do not
/// apply to the current phase change nothing.
pub fn step(state: &State, event: Event, limits: &Limits) -> (State, Vec<Action>) {
    let mut s = state.clone();
    let unchanged = (state.clone(), Vec::new());
    match (&state.phase, event) {
        (_, Event::ReportAcked) => {
            s.report = None;
            (s, Vec::new())
        }
        (_, Event::Boot { running, files, now_ms }) => boot(s, running, files, now_ms, limits),

        (Phase::Idle, Event::Offer(r)) if r.version == state.installed => unchanged,
        // The controller re-offers until it has the outcome: a version that
        // just failed is not tried again before the failure is acknowledged.
        (Phase::Idle, Event::Offer(r)) if matches!(&state.report, Some(Outcome::RolledBack { version, .. } | Outcome::Refused { version, .. }) if *version == r.version) => {
            unchanged
        }
        (Phase::Idle, Event::Offer(r)) => {
            s.phase = Phase::Downloading { release: r, have: 0 };
            (s, vec![Action::Discard, Action::Fetch { from: 0 }])
        }
        (Phase::Downloading { release, .. } | Phase::Staged { release }, Event::Offer(r)) if *release != r => {
            s.phase = Phase::Downloading { release: r, have: 0 };
            (s, vec![Action::Discard, Action::Fetch { from: 0 }])
        }

        (Phase::Downloading { release, .. }, Event::Received { have }) if have > release.size => {
            let o = Outcome::Refused {
                version: release.version.clone(),
                reason: format!("download longer than the announced {} bytes", release.size),
            };
            report(s, o, vec![Action::Discard])
        }
        (Phase::Downloading { release, .. }, Event::Received { have }) => {
            let done = have == release.size;
            s.phase = Phase::Downloading { release: release.clone(), have };
            (s, if done { vec![Action::Verify] } else { Vec::new() })
        }
        (Phase::Downloading { release, have }, Event::Verified(Ok(()))) if *have == release.size => {
            s.phase = Phase::Staged { release: release.clone() };
            (s, vec![Action::Stage])
        }
        (Phase::Downloading { release, .. }, Event::Verified(Err(why))) => {
            let o = Outcome::Refused { version: release.version.clone(), reason: why };
            report(s, o, vec![Action::Discard])
        }

        (Phase::Staged { release }, Event::StartTrial { now_ms }) => {
            s.phase = Phase::Trial {
                release: release.clone(),
                attempt: 1,
                deadline_ms: now_ms.saturating_add(limits.trial_ms),
                connected: false,
            };
            (s, vec![Action::RunStaged])
        }

        (Phase::Trial { release, attempt, deadline_ms, connected }, Event::ChildExited { .. }) => {
            if *attempt >= limits.max_starts {
                return roll_back(s, release, Reason::CrashLoop);
            }
            s.phase = Phase::Trial {
                release: release.clone(),
                attempt: attempt + 1,
                deadline_ms: *deadline_ms,
                connected: *connected,
            };
            (s, vec![Action::RunStaged])
        }
        (Phase::Trial { release, attempt, deadline_ms, .. }, Event::ChildConnected) => {
            s.phase = Phase::Trial {
                release: release.clone(),
                attempt: *attempt,
                deadline_ms: *deadline_ms,
                connected: true,
            };
            (s, Vec::new())
        }
        (Phase::Trial { release, .. }, Event::ChildHealthy) => {
            s.phase = Phase::Installing { release: release.clone() };
            (s, vec![Action::StopStaged, Action::Install, Action::Restart])
        }
        (Phase::Trial { release, deadline_ms, connected, .. }, Event::Tick { now_ms }) if now_ms >= *deadline_ms => {
            let reason = if *connected { Reason::ProbesFailing } else { Reason::NoConnection };
            roll_back(s, release, reason)
        }

        _ => unchanged,
    }
}

/// The process started from `BIN` (after an install's re-exec, a crash, a
/// kill or a power loss): resume from the persisted state.
fn boot(mut s: State, running: String, files: Files, now_ms: i64, limits: &Limits) -> (State, Vec<Action>) {
    let pending: Vec<Action> = s.report.iter().cloned().map(Action::Report).collect();
    let with_pending = |mut a: Vec<Action>| {
        a.extend(pending.iter().cloned());
        a
    };
    match s.phase.clone() {
        Phase::Idle => {
            // `BIN` is what runs; a binary replaced by hand is believed.
            s.installed = running;
            (s, pending)
        }
        Phase::Downloading { release, .. } => {
            let (phase, a) = resume(&release, files.part_len);
            s.phase = phase;
            (s, with_pending(a))
        }
        Phase::Staged { release } if !files.staged => {
            let (phase, a) = resume(&release, files.part_len);
            s.phase = phase;
            (s, with_pending(a))
        }
        Phase::Staged { .. } => (s, pending),
        Phase::Trial { release, attempt, .. } => {
            // The known-good parent restarted mid-trial.
            if !files.staged {
                let o = Outcome::RolledBack { version: release.version.clone(), reason: Reason::StagedBinaryMissing };
                return report(s, o, vec![Action::Discard]);
            }
            if attempt >= limits.max_starts {
                let o = Outcome::RolledBack { version: release.version.clone(), reason: Reason::Interrupted };
                return report(s, o, vec![Action::Discard]);
            }
            s.phase = Phase::Trial {
                release,
                attempt: attempt + 1,
                deadline_ms: now_ms.saturating_add(limits.trial_ms),
                connected: false,
            };
            (s, with_pending(vec![Action::RunStaged]))
        }
        Phase::Installing { release } if running == release.version => {
            s.installed = running;
            report(s, Outcome::Upgraded { version: release.version }, Vec::new())
        }
        Phase::Installing { .. } if files.staged => (s, with_pending(vec![Action::Install, Action::Restart])),
        Phase::Installing { release } => {
            let o = Outcome::RolledBack { version: release.version, reason: Reason::StagedBinaryMissing };
            report(s, o, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests;
