//! Fleet rollouts: owns `rollouts` and `rollout_agents` (migration 0026).
//! The decisions are `mast-rollout-core`'s; this store keeps the plan, the
//! rollout's state and each agent's part, and answers which release is
//! offered to an agent now.

use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;

/// A rollout.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RolloutRow {
    pub id: i64,
    pub version: String,
    /// `mast_rollout_core::Spec` as JSON.
    #[serde(skip)]
    pub spec: String,
    /// `mast_rollout_core::Plan` as JSON.
    #[serde(skip)]
    pub plan: String,
    /// running, paused, halted, completed or aborted.
    pub state: String,
    pub stage: i64,
    /// Why it halted.
    pub why: Option<String>,
    pub trial_secs: i64,
    pub created_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
}

const COLS: &str = "SELECT id, version, spec, plan, state, stage, why, trial_secs, created_by, created_ms, \
                    updated_ms, finished_ms FROM rollouts";

/// One agent's part in a rollout, with what the fleet knows of it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AgentRow {
    pub agent_id: i64,
    /// Stage number (0: canaries); -1 when skipped.
    pub stage: i64,
    pub release_id: Option<i64>,
    /// pending, offered, upgraded, rolled-back, refused or skipped.
    pub state: String,
    pub reason: Option<String>,
    pub offered_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// A failure the operator accepted by resuming the halted rollout.
    #[serde(skip)]
    pub accepted: i64,
    pub site: String,
    pub target: Option<String>,
    /// The hardware model the agent reports.
    pub model: Option<String>,
    /// The version the agent runs now.
    pub version: Option<String>,
    /// Its link is up ([`crate::fleet::link_up`]).
    #[sqlx(skip)]
    pub connected: bool,
    #[serde(skip)]
    connected_ms: Option<i64>,
    #[serde(skip)]
    disconnected_ms: Option<i64>,
}

/// An agent as the planner sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FleetAgent {
    pub id: i64,
    pub site: String,
    pub target: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
}

/// The enrolled (active) agents.
pub async fn fleet(db: &Db) -> Result<Vec<FleetAgent>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.id, s.name AS site, a.target, a.model, a.version \
         FROM agents a JOIN sites s ON s.id = a.site_id WHERE a.status = 'active' ORDER BY a.id",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// One agent's part in a new rollout.
#[derive(Debug, Clone)]
pub struct NewPart {
    pub agent: i64,
    /// Stage number, or -1 when skipped.
    pub stage: i64,
    /// The release for its target.
    pub release: Option<i64>,
    /// `pending` or `skipped`.
    pub state: &'static str,
    pub reason: Option<String>,
}

/// What a new rollout holds.
pub struct NewRollout<'a> {
    pub version: &'a str,
    pub spec: &'a str,
    pub plan: &'a str,
    pub trial_secs: i64,
    pub by: &'a str,
    pub agents: Vec<NewPart>,
}

/// Stores a rollout, running at stage 0. Refused while another one is
/// active (running, paused or halted).
pub async fn create(db: &Db, r: &NewRollout<'_>) -> Result<i64, StoreError> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let id: Result<i64, sqlx::Error> = sqlx::query_scalar(
        "INSERT INTO rollouts (version, spec, plan, state, stage, trial_secs, active, created_by, created_ms, updated_ms) \
         VALUES ($1, $2, $3, 'running', 0, $4, 1, $5, $6, $6) RETURNING id",
    )
    .bind(r.version)
    .bind(r.spec)
    .bind(r.plan)
    .bind(r.trial_secs)
    .bind(r.by)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let id = match id {
        Ok(id) => id,
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(StoreError::Conflict(
                "another rollout is running, paused or halted: finish or abort it first".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    for NewPart { agent, stage, release, state, reason } in &r.agents {
        sqlx::query(
            "INSERT INTO rollout_agents (rollout_id, agent_id, stage, release_id, state, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(agent)
        .bind(stage)
        .bind(release)
        .bind(*state)
        .bind(reason.as_deref())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<RolloutRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE id = $1"))).bind(id).fetch_optional(&db.pool).await?)
}

/// The active rollout (running, paused or halted), if any.
pub async fn active(db: &Db) -> Result<Option<RolloutRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE active = 1"))).fetch_optional(&db.pool).await?)
}

/// The latest rollouts, newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<RolloutRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} ORDER BY id DESC LIMIT $1")))
        .bind(limit)
        .fetch_all(&db.pool)
        .await?)
}

/// Sets the rollout's state if it is still `from` (one of them); true if it
/// changed. Completed and aborted rollouts stop being active.
pub async fn set_state(
    db: &Db,
    id: i64,
    from: &[&str],
    state: &str,
    stage: i64,
    why: Option<&str>,
) -> Result<bool, StoreError> {
    let done = matches!(state, "completed" | "aborted");
    let now = now_ms();
    let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 7)).collect();
    let sql = format!(
        "UPDATE rollouts SET state = $1, stage = $2, why = $3, updated_ms = $4, active = $5, \
         finished_ms = CASE WHEN $5 IS NULL THEN $4 ELSE NULL END WHERE id = $6 AND state IN ({})",
        placeholders.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(state)
        .bind(stage)
        .bind(why)
        .bind(now)
        .bind(if done { None } else { Some(1i64) })
        .bind(id);
    for f in from {
        q = q.bind(*f);
    }
    Ok(q.execute(&db.pool).await?.rows_affected() > 0)
}

/// Every agent of a rollout, by stage then id.
pub async fn agents(db: &Db, rollout: i64) -> Result<Vec<AgentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ra.agent_id, ra.stage, ra.release_id, ra.state, ra.reason, ra.offered_ms, ra.finished_ms, \
         ra.accepted, s.name AS site, a.target, a.model, a.version, a.connected_ms, a.disconnected_ms \
         FROM rollout_agents ra JOIN agents a ON a.id = ra.agent_id JOIN sites s ON s.id = a.site_id \
         WHERE ra.rollout_id = $1 ORDER BY CASE WHEN ra.stage < 0 THEN 1 ELSE 0 END, ra.stage, ra.agent_id",
    )
    .bind(rollout)
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .map(|mut a: AgentRow| {
        a.connected = crate::fleet::link_up(a.connected_ms, a.disconnected_ms);
        a
    })
    .collect())
}

/// The operator resumed a halted rollout: its failures so far no longer halt it.
pub async fn accept_failures(db: &Db, rollout: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE rollout_agents SET accepted = 1 WHERE rollout_id = $1 AND state IN ('rolled-back', 'refused')",
    )
    .bind(rollout)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Marks agents as offered (only those still pending).
pub async fn mark_offered(db: &Db, rollout: i64, ids: &[u64]) -> Result<(), StoreError> {
    let now = now_ms();
    for id in ids {
        sqlx::query(
            "UPDATE rollout_agents SET state = 'offered', offered_ms = $1 \
             WHERE rollout_id = $2 AND agent_id = $3 AND state = 'pending'",
        )
        .bind(now)
        .bind(rollout)
        .bind(*id as i64)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

/// Records an agent's outcome for `version` in the active rollout (if it
/// is part of it and has not finished). `state` is upgraded, rolled-back or
/// refused. Returns the rollout it changed.
pub async fn record_outcome(
    db: &Db,
    agent: u64,
    version: &str,
    state: &str,
    reason: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let Some(r) = active(db).await? else { return Ok(None) };
    if r.version != version {
        return Ok(None);
    }
    let n = sqlx::query(
        "UPDATE rollout_agents SET state = $1, reason = $2, finished_ms = $3 \
         WHERE rollout_id = $4 AND agent_id = $5 AND state IN ('pending', 'offered')",
    )
    .bind(state)
    .bind(reason)
    .bind(now_ms())
    .bind(r.id)
    .bind(agent as i64)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok((n > 0).then_some(r.id))
}

/// A release offered to an agent.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Offer {
    pub release_id: i64,
    pub version: String,
    pub target: String,
    pub size: i64,
    pub sha256: String,
    pub signature: String,
    pub trial_secs: i64,
}

/// The release offered to `agent` now: it is `offered` in the running rollout.
pub async fn offer_for(db: &Db, agent: u64) -> Result<Option<Offer>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT r.id AS release_id, r.version, r.target, r.size, r.sha256, r.signature, ro.trial_secs \
         FROM rollout_agents ra JOIN rollouts ro ON ro.id = ra.rollout_id JOIN releases r ON r.id = ra.release_id \
         WHERE ra.agent_id = $1 AND ra.state = 'offered' AND ro.state = 'running'",
    )
    .bind(agent as i64)
    .fetch_optional(&db.pool)
    .await?)
}
