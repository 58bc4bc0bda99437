//! Fleet rollouts: start (plan once with `mast-rollout-core`), status,
//! pause, resume, abort, and the worker's [`tick`] that offers the release
//! stage by stage, halts on a failed canary or too many failures (alerting
//! the staff) and completes. Agents are offered a release through their
//! link (the control snapshot names the offered release; `ingest` sends
//! it, again after each reconnect, until the agent reports an outcome).

use crate::alerts::AlertSettings;
use mast_rollout_core::{self as core, AgentState, Spec};
use mast_store::audit::{self, Actor};
use mast_store::db::{Db, StoreError};
use mast_store::releases;
use mast_store::rollouts::{self as store, AgentRow, RolloutRow};
use serde::Serialize;
use std::collections::HashMap;

/// What the operator asks for (`rollout start`, the rollout form).
#[derive(Debug, Clone)]
pub struct StartArgs {
    pub version: String,
    /// Canaries per hardware group (target and model).
    pub canary: usize,
    /// Cumulative shares of the rest, percent, rising, ending at 100.
    pub waves: Vec<u8>,
    /// Only these sites (empty: all).
    pub sites: Vec<String>,
    /// `HH:MM-HH:MM` in the operator's time zone; may wrap past midnight.
    pub window: Option<String>,
    pub trial_secs: u32,
    pub max_failure_pct: u8,
}

/// `10,50,100` → shares, rising, each 1..=100 (100 is added if missing).
pub fn parse_waves(s: &str) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let pct: u8 = part
            .trim_end_matches('%')
            .parse()
            .ok()
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(|| StoreError::invalid("waves", format!("{part:?} is not a percentage from 1 to 100")))?;
        out.push(pct);
    }
    if out.last() != Some(&100) {
        out.push(100);
    }
    check_waves(&out)?;
    Ok(out)
}

/// Wave shares rise from at least 1 and end at 100.
fn check_waves(waves: &[u8]) -> Result<(), StoreError> {
    if waves.first() == Some(&0) || waves.windows(2).any(|w| w[0] >= w[1]) || waves.last() != Some(&100) {
        return Err(StoreError::invalid("waves", "the shares must rise and end at 100 (e.g. 10,50,100)"));
    }
    Ok(())
}

/// `02:00-05:00` → minutes of the day `[start, end)`.
pub fn parse_window(s: &str) -> Result<(u16, u16), StoreError> {
    let bad = || StoreError::invalid("window", format!("{s:?} is not HH:MM-HH:MM (e.g. 02:00-05:00)"));
    let minute = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
    if a == b {
        return Err(StoreError::invalid("window", "the window is empty (start equals end)"));
    }
    Ok((a, b))
}

fn fmt_window(w: (u16, u16)) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", w.0 / 60, w.0 % 60, w.1 / 60, w.1 % 60)
}

/// Plans and stores a rollout; it starts running at once (offers go out on
/// the worker's next tick, inside the window).
pub async fn start(db: &Db, args: &StartArgs, by: &Actor) -> Result<RolloutRow, StoreError> {
    mast_upgrade_core::binary::check_version(&args.version).map_err(|e| StoreError::invalid("version", e))?;
    let window = args.window.as_deref().filter(|w| !w.trim().is_empty()).map(parse_window).transpose()?;
    if !(10..=86_400).contains(&args.trial_secs) {
        return Err(StoreError::invalid("trial_secs", "the trial time must be 10 s to 24 h"));
    }
    check_waves(&args.waves)?;
    let rels: Vec<_> = releases::releases(db).await?.into_iter().filter(|r| r.version == args.version).collect();
    if rels.is_empty() {
        return Err(StoreError::invalid(
            "version",
            format!("no release of version {} is stored (mast-controller release add)", args.version),
        ));
    }
    let fleet = store::fleet(db).await?;
    for s in &args.sites {
        if !fleet.iter().any(|a| &a.site == s) {
            return Err(StoreError::invalid("sites", format!("no enrolled agent at a site named {s:?}")));
        }
    }
    let agents: Vec<core::Agent> = fleet
        .iter()
        .map(|a| core::Agent {
            id: a.id as u64,
            target: a.target.clone().unwrap_or_default(),
            model: a.model.clone(),
            site: a.site.clone(),
            version: a.version.clone().unwrap_or_default(),
        })
        .collect();
    let spec = Spec {
        version: args.version.clone(),
        targets: rels.iter().map(|r| r.target.clone()).collect(),
        canaries_per_group: args.canary.max(1),
        waves: args.waves.clone(),
        sites: args.sites.clone(),
        max_failure_pct: args.max_failure_pct.min(100),
        window,
    };
    let plan = core::plan(&agents, &spec);
    if plan.stages.iter().all(|s| s.is_empty()) {
        return Err(StoreError::invalid(
            "version",
            format!(
                "no agent to upgrade: every agent runs {} already, is outside the chosen sites, or has no release for its target",
                args.version
            ),
        ));
    }
    let release_of: HashMap<&str, i64> = rels.iter().map(|r| (r.target.as_str(), r.id)).collect();
    let target_of: HashMap<u64, &str> = agents.iter().map(|a| (a.id, a.target.as_str())).collect();
    let mut rows = Vec::new();
    for (stage, ids) in plan.stages.iter().enumerate() {
        for id in ids {
            let release = target_of.get(id).and_then(|t| release_of.get(t)).copied();
            rows.push(store::NewPart {
                agent: *id as i64,
                stage: stage as i64,
                release,
                state: "pending",
                reason: None,
            });
        }
    }
    for (id, skip) in &plan.skipped {
        let why = match skip {
            core::Skip::AlreadyOnVersion => "already on this version",
            core::Skip::OtherSite => "not at a chosen site",
            core::Skip::NoReleaseForTarget => "no release for its target",
        };
        rows.push(store::NewPart {
            agent: *id as i64,
            stage: -1,
            release: None,
            state: "skipped",
            reason: Some(why.to_string()),
        });
    }
    let spec_json = serde_json::to_string(&spec).expect("spec serializes");
    let plan_json = serde_json::to_string(&plan).expect("plan serializes");
    let id = store::create(
        db,
        &store::NewRollout {
            version: &args.version,
            spec: &spec_json,
            plan: &plan_json,
            trial_secs: i64::from(args.trial_secs),
            by: &by.name,
            agents: rows,
        },
    )
    .await?;
    let detail = format!(
        "version {}, {} canaries then waves {:?} % of {} agents{}{}",
        args.version,
        plan.stages[0].len(),
        args.waves,
        plan.stages.iter().map(Vec::len).sum::<usize>(),
        window.map(|w| format!(", window {}", fmt_window(w))).unwrap_or_default(),
        if args.sites.is_empty() { String::new() } else { format!(", sites {}", args.sites.join(" ")) },
    );
    audit::record(db, by, "rollout.start", &format!("rollout {id}"), &detail).await?;
    store::get(db, id).await?.ok_or_else(|| StoreError::Corrupt("a new rollout vanished".into()))
}

/// A rollout and its agents.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: i64,
    pub version: String,
    /// running, paused, halted, completed or aborted.
    pub state: String,
    pub stage: i64,
    pub stages: usize,
    pub why: Option<String>,
    pub window: Option<String>,
    pub trial_secs: i64,
    pub created_by: String,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    /// Agents per state (pending, offered, upgraded, rolled-back, refused, skipped).
    pub counts: std::collections::BTreeMap<String, usize>,
    pub agents: Vec<AgentRow>,
}

fn spec_of(r: &RolloutRow) -> Result<Spec, StoreError> {
    serde_json::from_str(&r.spec).map_err(|e| StoreError::Corrupt(format!("rollout {} spec: {e}", r.id)))
}

fn plan_of(r: &RolloutRow) -> Result<core::Plan, StoreError> {
    serde_json::from_str(&r.plan).map_err(|e| StoreError::Corrupt(format!("rollout {} plan: {e}", r.id)))
}

/// The rollout `id`, or the active one, or the latest.
pub async fn status(db: &Db, id: Option<i64>) -> Result<Option<Status>, StoreError> {
    let r = match id {
        Some(id) => store::get(db, id).await?,
        None => match store::active(db).await? {
            Some(r) => Some(r),
            None => store::list(db, 1).await?.into_iter().next(),
        },
    };
    let Some(r) = r else { return Ok(None) };
    let spec = spec_of(&r)?;
    let plan = plan_of(&r)?;
    let agents = store::agents(db, r.id).await?;
    let mut counts = std::collections::BTreeMap::new();
    for a in &agents {
        *counts.entry(a.state.clone()).or_insert(0) += 1;
    }
    Ok(Some(Status {
        id: r.id,
        version: r.version,
        state: r.state,
        stage: r.stage,
        stages: plan.stages.len(),
        why: r.why,
        window: spec.window.map(fmt_window),
        trial_secs: r.trial_secs,
        created_by: r.created_by,
        created_ms: r.created_ms,
        finished_ms: r.finished_ms,
        counts,
        agents,
    }))
}

/// What the operator can do to the active rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Abort,
}

impl Control {
    pub fn name(self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Abort => "abort",
        }
    }
}

/// Pauses (running → paused), resumes (paused or halted → running: the
/// operator has looked at why it halted and accepts those failures; new
/// ones halt it again) or aborts the active rollout.
/// Agents already offered keep their offer until they report; none is
/// offered while it is not running.
pub async fn control(db: &Db, what: Control, by: &Actor) -> Result<RolloutRow, StoreError> {
    let r = store::active(db).await?.ok_or_else(|| StoreError::NotFound("no rollout is active".into()))?;
    let (from, to): (&[&str], &str) = match what {
        Control::Pause => (&["running"], "paused"),
        Control::Resume => (&["paused", "halted"], "running"),
        Control::Abort => (&["running", "paused", "halted"], "aborted"),
    };
    if what == Control::Resume && r.state == "halted" {
        // Resuming after a halt accepts the failures that caused it.
        store::accept_failures(db, r.id).await?;
    }
    if !store::set_state(db, r.id, from, to, r.stage, None).await? {
        return Err(StoreError::Conflict(format!("rollout {} is {}: it cannot {}", r.id, r.state, what.name())));
    }
    audit::record(db, by, &format!("rollout.{}", what.name()), &format!("rollout {}", r.id), &r.version).await?;
    store::get(db, r.id).await?.ok_or_else(|| StoreError::NotFound(format!("rollout {}", r.id)))
}

fn agent_state(a: &AgentRow) -> AgentState {
    let reason = || a.reason.clone().unwrap_or_default();
    match a.state.as_str() {
        // An accepted failure counts as finished, not as failed.
        "rolled-back" | "refused" if a.accepted != 0 => AgentState::Upgraded,
        "offered" => AgentState::Offered,
        "upgraded" => AgentState::Upgraded,
        "rolled-back" => AgentState::RolledBack { reason: reason() },
        "refused" => AgentState::Refused { reason: reason() },
        _ => AgentState::Pending,
    }
}

/// One step of the running rollout: offers, stage changes, halts (with an
/// alert to the staff and an audit entry), completion.
pub async fn tick(db: &Db, tz: &jiff::tz::TimeZone, alerts: &AlertSettings) -> Result<(), StoreError> {
    let Some(r) = store::active(db).await? else { return Ok(()) };
    if r.state != "running" {
        return Ok(());
    }
    let spec = spec_of(&r)?;
    let plan = plan_of(&r)?;
    let rows = store::agents(db, r.id).await?;
    let states: HashMap<u64, AgentState> = rows.iter().map(|a| (a.agent_id as u64, agent_state(a))).collect();
    let connected: HashMap<u64, bool> = rows.iter().map(|a| (a.agent_id as u64, a.connected)).collect();
    let now = jiff::Timestamp::now().to_zoned_datetime(tz.clone());
    let minute = (now.hour() as u16) * 60 + now.minute() as u16;
    let state = core::State::Running { stage: r.stage.max(0) as usize };
    let d = core::next(
        &state,
        &plan,
        &spec,
        &|id| states.get(&id).cloned().unwrap_or(AgentState::Pending),
        &|id| connected.get(&id).copied().unwrap_or(false),
        minute,
    );
    if !d.offer.is_empty() {
        tracing::info!(rollout = r.id, agents = ?d.offer, version = %r.version, "offering the release");
        store::mark_offered(db, r.id, &d.offer).await?;
    }
    let system = Actor { name: "system".into(), ip: None };
    match d.state {
        core::State::Running { stage } if stage as i64 != r.stage => {
            store::set_state(db, r.id, &["running"], "running", stage as i64, None).await?;
            tracing::info!(rollout = r.id, stage, "rollout moves to the next stage");
        }
        core::State::Halted { stage, why }
            if store::set_state(db, r.id, &["running"], "halted", stage as i64, Some(&why)).await? =>
        {
            tracing::warn!(rollout = r.id, %why, "rollout halted");
            audit::record(db, &system, "rollout.halt", &format!("rollout {}", r.id), &why).await?;
            let route = alerts.route(db).await?;
            let mut tx = db.begin().await?;
            crate::alerts::rollout_halted(&mut tx, &route, r.id, &r.version, &why).await?;
            tx.commit().await?;
        }
        core::State::Completed if store::set_state(db, r.id, &["running"], "completed", r.stage, None).await? => {
            tracing::info!(rollout = r.id, version = %r.version, "rollout completed");
            audit::record(db, &system, "rollout.complete", &format!("rollout {}", r.id), &r.version).await?;
        }
        _ => {}
    }
    Ok(())
}

/// An agent's report: its rollout part is finished (upgraded, rolled back
/// or refused). Reports for other versions or after an abort are only
/// acknowledged.
pub async fn report(db: &Db, agent: u64, report: &mast_shared::UpgradeReport) -> Result<(), StoreError> {
    use mast_shared::UpgradeResult as R;
    let (state, reason) = match &report.result {
        R::Upgraded => ("upgraded", None),
        R::RolledBack(why) => ("rolled-back", Some(why.as_str())),
        R::Refused(why) => ("refused", Some(why.as_str())),
    };
    let reason: Option<String> = reason.map(|r| r.chars().take(500).collect());
    match store::record_outcome(db, agent, &report.version, state, reason.as_deref()).await? {
        Some(id) => {
            tracing::info!(agent, rollout = id, version = %report.version, state, reason = ?reason, "upgrade outcome")
        }
        None => tracing::info!(agent, version = %report.version, state, "upgrade outcome outside an active rollout"),
    }
    Ok(())
}

/// The offer for `agent` as its link sends it.
pub async fn wire_offer(db: &Db, agent: u64) -> Result<Option<mast_shared::UpgradeOffer>, StoreError> {
    Ok(store::offer_for(db, agent).await?.map(|o| mast_shared::UpgradeOffer {
        release_id: o.release_id as u64,
        version: o.version,
        target: o.target,
        size: o.size as u64,
        sha256: o.sha256,
        signature: o.signature,
        trial_secs: o.trial_secs.clamp(0, i64::from(u32::MAX)) as u32,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_store::outbox::{self, Channel, Channels};

    async fn setup() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/r.db", dir.path().display())).await.unwrap();
        mast_store::monitoring::add_site(&db, "ridge", &[], 30_000, 1_000).await.unwrap();
        // Three enrolled agents on 1.0.0, connected; one release of 2.0.0.
        for id in 1..=3 {
            sqlx::query(
                "INSERT INTO agents (id, site_id, status, version, target, connected_ms, created_ms) \
                 VALUES ($1, 1, 'active', '1.0.0', 'x86_64-unknown-linux-gnu', 10, 1)",
            )
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let k = releases::trust_key(&db, "RWSkey", "k", "file", None).await.unwrap();
        let r = releases::NewRelease {
            version: "2.0.0",
            target: "x86_64-unknown-linux-gnu",
            sha256: "ab",
            signature: "sig",
            key_id: k.id,
            data: &[0x7f, b'E', b'L', b'F'],
            by: "test",
        };
        releases::add_release(&db, &r).await.unwrap();
        (dir, db)
    }

    /// Version 2.0.0, one canary, then everyone.
    fn start_args(max_failure_pct: u8) -> StartArgs {
        StartArgs {
            version: "2.0.0".into(),
            canary: 1,
            waves: vec![100],
            sites: vec![],
            window: None,
            trial_secs: 60,
            max_failure_pct,
        }
    }

    fn states(st: &Status) -> Vec<(i64, String)> {
        st.agents.iter().map(|a| (a.agent_id, a.state.clone())).collect()
    }

    #[tokio::test]
    async fn a_failed_canary_halts_audits_and_alerts_and_resuming_accepts_it() {
        let (_dir, db) = setup().await;
        let by = Actor { name: "test".into(), ip: None };
        let args = start_args(50);
        let r = start(&db, &args, &by).await.unwrap();
        assert!(matches!(start(&db, &args, &by).await, Err(StoreError::Conflict(_))), "one active rollout");
        let channels = Channels { email: false, webhook: false, staff_webhook: true };
        let alerts = AlertSettings { channels, ..AlertSettings::default() };
        let tz = jiff::tz::TimeZone::UTC;
        tick(&db, &tz, &alerts).await.unwrap();
        let st = status(&db, None).await.unwrap().unwrap();
        assert_eq!(states(&st), [(1, "offered".into()), (2, "pending".into()), (3, "pending".into())], "canary first");
        assert_eq!(wire_offer(&db, 1).await.unwrap().map(|o| o.version), Some("2.0.0".into()));
        assert_eq!(wire_offer(&db, 2).await.unwrap(), None);

        let failed = mast_shared::UpgradeReport {
            version: "2.0.0".into(),
            result: mast_shared::UpgradeResult::RolledBack("crash loop".into()),
        };
        report(&db, 1, &failed).await.unwrap();
        tick(&db, &tz, &alerts).await.unwrap();
        tick(&db, &tz, &alerts).await.unwrap();
        let st = status(&db, Some(r.id)).await.unwrap().unwrap();
        assert_eq!(st.state, "halted");
        assert_eq!(st.why.as_deref(), Some("canary agent 1 rolled back: crash loop"));
        assert_eq!(wire_offer(&db, 1).await.unwrap(), None, "nothing is offered while halted");
        // One alert to the staff webhook (however many ticks saw it), one audit entry.
        let queued = outbox::recent(&db, false, 10).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].channel, Channel::StaffWebhook);
        assert!(queued[0].body.contains("crash loop") && queued[0].subject.contains("halted"), "{:?}", queued[0]);
        let halts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'rollout.halt'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(halts, 1);

        // Resume: the canary's failure is accepted, the wave is offered.
        control(&db, Control::Resume, &by).await.unwrap();
        tick(&db, &tz, &alerts).await.unwrap();
        let st = status(&db, Some(r.id)).await.unwrap().unwrap();
        assert_eq!(st.state, "running");
        assert_eq!(states(&st)[1..], [(2, "offered".into()), (3, "offered".into())]);
        // Pause: nothing more is offered; abort ends it.
        control(&db, Control::Pause, &by).await.unwrap();
        assert_eq!(wire_offer(&db, 2).await.unwrap(), None);
        assert!(matches!(control(&db, Control::Pause, &by).await, Err(StoreError::Conflict(_))));
        control(&db, Control::Abort, &by).await.unwrap();
        assert!(matches!(control(&db, Control::Resume, &by).await, Err(StoreError::NotFound(_))));
        assert_eq!(status(&db, None).await.unwrap().unwrap().state, "aborted");
    }

    #[tokio::test]
    async fn each_hardware_model_gets_a_canary() {
        let (_dir, db) = setup().await;
        mast_store::fleet::record_model(&db, 3, Some("Raspberry Pi 4 Model B")).await.unwrap();
        let args = start_args(10);
        start(&db, &args, &Actor { name: "test".into(), ip: None }).await.unwrap();
        tick(&db, &jiff::tz::TimeZone::UTC, &AlertSettings::default()).await.unwrap();
        let st = status(&db, None).await.unwrap().unwrap();
        assert_eq!(states(&st), [(1, "offered".into()), (3, "offered".into()), (2, "pending".into())]);
        assert_eq!(st.agents[1].model.as_deref(), Some("Raspberry Pi 4 Model B"));
    }

    #[test]
    fn waves_and_windows_parse_with_errors_naming_the_field() {
        assert_eq!(parse_waves("10,50").unwrap(), [10, 50, 100]);
        assert_eq!(parse_waves("25%, 100").unwrap(), [25, 100]);
        assert!(matches!(parse_waves("50,10"), Err(StoreError::Invalid { field, .. }) if field == "waves"));
        assert!(parse_waves("0").is_err() && parse_waves("x").is_err() && parse_waves("101").is_err());
        assert_eq!(parse_window("02:00-05:30").unwrap(), (120, 330));
        assert_eq!(parse_window("22:00-04:00").unwrap(), (1320, 240));
        for bad in ["2-5", "24:00-01:00", "02:00-02:00", "02:60-03:00", ""] {
            assert!(matches!(parse_window(bad), Err(StoreError::Invalid { field, .. }) if field == "window"), "{bad}");
        }
    }
}
