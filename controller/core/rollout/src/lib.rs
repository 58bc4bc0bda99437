//! # Fleet rollouts (pure core: no IO, no clock)
//!
//! A rollout takes the agents to one version in **stages**: first a canary
//! stage (at least one agent of every hardware group, i.e. target triple and
//! model, so a build that breaks one kind of board is caught on one board),
//! then waves that reach cumulative shares of the rest (`10, 50, 100` %).
//!
//! [`plan`] splits the fleet once, at the start: every eligible agent lands
//! in exactly one stage; agents already on the version, outside the chosen
//! sites or without a release for their target are skipped with the reason.
//! [`next`] is asked on every change (an outcome, an agent connecting, the
//! clock entering the window): it offers the current stage's agents that
//! are connected and not yet offered, advances when every connected agent
//! of the stage has finished (offline ones are offered when they return,
//! whatever the stage by then), **halts** on any canary failure or when
//! the failure rate passes the threshold, and offers nothing while paused,
//! halted, aborted or outside the schedule window. Only `Pending` agents
//! are offered here; an `Offered` agent that reconnects is offered again by
//! the shell (persistent retry) until it reports an outcome.

use serde::{Deserialize, Serialize};

pub type AgentId = u64;

/// An agent as the rollout sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: AgentId,
    /// Rust target triple (from its hello).
    pub target: String,
    /// Hardware model, when known (e.g. from the board's DMI or device tree).
    pub model: Option<String>,
    pub site: String,
    pub version: String,
}

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub version: String,
    /// Targets with a release of `version`.
    pub targets: Vec<String>,
    /// Canaries per hardware group (at least 1).
    pub canaries_per_group: usize,
    /// Cumulative shares of the non-canary agents, in percent, rising, the
    /// last one 100 (e.g. `[10, 50, 100]`).
    pub waves: Vec<u8>,
    /// Only these sites (empty: all).
    pub sites: Vec<String>,
    /// Halt when more than this share of the finished agents failed.
    pub max_failure_pct: u8,
    /// Minutes of the operator's local day `[start, end)` in which offers go
    /// out; `start > end` wraps past midnight; `None`: any time.
    pub window: Option<(u16, u16)>,
}

/// Why an agent is not part of the rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    AlreadyOnVersion,
    OtherSite,
    NoReleaseForTarget,
}

/// The stages, fixed at the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// `stages[0]` is the canary stage, then the waves.
    pub stages: Vec<Vec<AgentId>>,
    pub skipped: Vec<(AgentId, Skip)>,
}

/// Where an agent is in the rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum AgentState {
    Pending,
    Offered,
    Upgraded,
    /// It tried the version and went back (the reason from the agent).
    RolledBack {
        reason: String,
    },
    /// It refused the release without running it (verification).
    Refused {
        reason: String,
    },
}

impl AgentState {
    pub fn finished(&self) -> bool {
        matches!(self, AgentState::Upgraded | AgentState::RolledBack { .. } | AgentState::Refused { .. })
    }
    pub fn failed(&self) -> bool {
        matches!(self, AgentState::RolledBack { .. } | AgentState::Refused { .. })
    }
}

/// The rollout's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// Working on `stage` (0 = canaries).
    Running {
        stage: usize,
    },
    Paused {
        stage: usize,
    },
    Halted {
        stage: usize,
        why: String,
    },
    Completed,
    Aborted,
}

/// Splits the fleet into stages (see the crate doc).
pub fn plan(agents: &[Agent], spec: &Spec) -> Plan {
    let mut skipped = Vec::new();
    let mut eligible: Vec<&Agent> = Vec::new();
    for a in agents {
        let skip = if a.version == spec.version {
            Some(Skip::AlreadyOnVersion)
        } else if !spec.sites.is_empty() && !spec.sites.contains(&a.site) {
            Some(Skip::OtherSite)
        } else if !spec.targets.contains(&a.target) {
            Some(Skip::NoReleaseForTarget)
        } else {
            None
        };
        match skip {
            Some(s) => skipped.push((a.id, s)),
            None => eligible.push(a),
        }
    }
    eligible.sort_by_key(|a| a.id);
    // Canaries: the lowest ids of each hardware group.
    let mut canaries: Vec<AgentId> = Vec::new();
    let mut groups: Vec<(&str, Option<&str>)> =
        eligible.iter().map(|a| (a.target.as_str(), a.model.as_deref())).collect();
    groups.sort();
    groups.dedup();
    for g in groups {
        canaries.extend(
            eligible
                .iter()
                .filter(|a| (a.target.as_str(), a.model.as_deref()) == g)
                .take(spec.canaries_per_group.max(1))
                .map(|a| a.id),
        );
    }
    canaries.sort_unstable();
    // Waves: the rest by site then id (a site's agents go together).
    let mut rest: Vec<&Agent> = eligible.into_iter().filter(|a| !canaries.contains(&a.id)).collect();
    rest.sort_by(|a, b| (a.site.as_str(), a.id).cmp(&(b.site.as_str(), b.id)));
    let mut stages = vec![canaries];
    let mut taken = 0usize;
    let mut shares: Vec<u8> = spec.waves.iter().map(|p| (*p).min(100)).collect();
    if shares.last() != Some(&100) {
        shares.push(100);
    }
    for pct in shares {
        let upto = (rest.len() * usize::from(pct)).div_ceil(100).max(taken);
        if upto > taken {
            stages.push(rest[taken..upto].iter().map(|a| a.id).collect());
            taken = upto;
        }
    }
    Plan { stages, skipped }
}

/// Whether `minute` (of the local day) is inside the window.
pub fn in_window(window: Option<(u16, u16)>, minute: u16) -> bool {
    match window {
        None => true,
        Some((start, end)) if start <= end => (start..end).contains(&minute),
        Some((start, end)) => minute >= start || minute < end,
    }
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub state: State,
    /// Agents to offer the release to now (mark them offered).
    pub offer: Vec<AgentId>,
}

/// The next step of a rollout (see the crate doc). `states` holds every
/// planned agent's state, `connected` the agents connected now, `minute`
/// the operator's local minute of the day.
pub fn next(
    state: &State,
    plan: &Plan,
    spec: &Spec,
    states: &dyn Fn(AgentId) -> AgentState,
    connected: &dyn Fn(AgentId) -> bool,
    minute: u16,
) -> Decision {
    let stage = match state {
        State::Running { stage } => *stage,
        other => return Decision { state: other.clone(), offer: Vec::new() },
    };
    // Halts: a canary failed, or too many failures overall.
    if let Some((id, s)) = plan.stages[0].iter().map(|id| (*id, states(*id))).find(|(_, s)| s.failed()) {
        let why = match s {
            AgentState::RolledBack { reason } => format!("canary agent {id} rolled back: {reason}"),
            AgentState::Refused { reason } => format!("canary agent {id} refused the release: {reason}"),
            _ => format!("canary agent {id} failed"),
        };
        return Decision { state: State::Halted { stage, why }, offer: Vec::new() };
    }
    let all: Vec<AgentId> = plan.stages.iter().flatten().copied().collect();
    let finished = all.iter().filter(|id| states(**id).finished()).count();
    let failed = all.iter().filter(|id| states(**id).failed()).count();
    if finished > 0 && failed * 100 > finished * usize::from(spec.max_failure_pct) {
        let why = format!("{failed} of {finished} finished agents failed (more than {} %)", spec.max_failure_pct);
        return Decision { state: State::Halted { stage, why }, offer: Vec::new() };
    }
    // A stage is done when each of its agents has finished or is offline,
    // and at least one finished (a stage nobody could try proves nothing).
    let done = |ids: &[AgentId]| {
        ids.iter().all(|id| states(*id).finished() || !connected(*id)) && ids.iter().any(|id| states(*id).finished())
    };
    let mut stage = stage.min(plan.stages.len().saturating_sub(1));
    while stage + 1 < plan.stages.len() && done(&plan.stages[stage]) {
        stage += 1;
    }
    if finished == all.len() {
        return Decision { state: State::Completed, offer: Vec::new() };
    }
    if !in_window(spec.window, minute) {
        return Decision { state: State::Running { stage }, offer: Vec::new() };
    }
    // Offer the current stage, and any earlier agent back from offline.
    let offer = plan.stages[..=stage]
        .iter()
        .flatten()
        .copied()
        .filter(|id| states(*id) == AgentState::Pending && connected(*id))
        .collect();
    Decision { state: State::Running { stage }, offer }
}

#[cfg(test)]
mod tests;
