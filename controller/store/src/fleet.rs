//! Fleet: the agents, their one-time enrollment tokens, certificates and
//! revocation, and the controller CA every controller signs with. Owns
//! tables `agents`, `controller_ca`.
//!
//! Lifecycle: `pending` (token issued) → `active` (CSR signed, token burnt) →
//! `revoked`. Invariants: a token is stored only as its SHA-256, works once and
//! only before it expires; only the certificate serial recorded at enrollment
//! is accepted for an agent.

use crate::db::{Db, StoreError, now_ms};
use mast_shared::Enrolled;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

crate::text_enum! {
    /// An agent's lifecycle (`agents.status`).
    pub enum AgentStatus (field "status") {
        /// Token issued, not enrolled yet.
        Pending = "pending",
        Active = "active",
        Revoked = "revoked",
    }
}

crate::text_enum! {
    /// What pages show of an agent: its link for an active one, else its
    /// lifecycle state (computed, never stored; the `?state=` filter).
    pub enum AgentState (field "state") {
        Connected = "connected",
        Offline = "offline",
        Pending = "pending",
        Revoked = "revoked",
    }
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn random_secret(prefix: &str) -> String {
    let b: [u8; 24] = rand::random();
    format!("{prefix}{}", hex::encode(b))
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("enrollment token is unknown, already used or expired")]
    BadToken,
    #[error("{0}")]
    Pki(String),
    #[error("{0}")]
    Db(#[from] StoreError),
}

impl From<sqlx::Error> for EnrollError {
    fn from(e: sqlx::Error) -> Self {
        EnrollError::Db(e.into())
    }
}

/// Creates a pending agent for `site` and returns `(agent_id, token)`.
pub async fn add_agent(db: &Db, site: &str, token_ttl: Duration) -> Result<(u64, String), StoreError> {
    crate::monitoring::check_line("site", site, 64)?;
    if site.trim().is_empty() {
        return Err(StoreError::invalid("site", "choose a site"));
    }
    let site = crate::monitoring::site_by_name(db, site).await?.ok_or_else(|| {
        StoreError::invalid("site", format!("no site named {site:?}; create it with `mast-controller site add`"))
    })?;
    let token = random_secret("mast-enroll-");
    let now = now_ms();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO agents (site_id, status, token_hash, token_expires_ms, created_ms) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(site.id)
    .bind(AgentStatus::Pending)
    .bind(hash_secret(&token))
    .bind(now + token_ttl.as_millis() as i64)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    Ok((id as u64, token))
}

/// Signs agent certificates (the controller's CA, `mast_app::pki`).
pub trait CertSigner: Send + Sync {
    /// Signs the CSR for `agent_id`; returns the certificate DER and its
    /// serial as hex.
    fn sign_agent_csr(&self, csr_der: &[u8], agent_id: u64, validity: Duration) -> Result<(Vec<u8>, String), String>;
    /// The CA certificate the agent will pin.
    fn ca_der(&self) -> Vec<u8>;
}

/// Burns the token and signs the agent's CSR, in one transaction: a CSR
/// that cannot be signed leaves the token unused.
pub async fn enroll(
    db: &Db,
    pki: &dyn CertSigner,
    token: &str,
    csr_der: &[u8],
    validity: Duration,
) -> Result<Enrolled, EnrollError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let (id, site_id): (i64, i64) = sqlx::query_as(
        "UPDATE agents SET status = $3, token_hash = NULL, enrolled_ms = $1 \
         WHERE token_hash = $2 AND status = $4 AND token_expires_ms > $1 RETURNING id, site_id",
    )
    .bind(now)
    .bind(hash_secret(token))
    .bind(AgentStatus::Active)
    .bind(AgentStatus::Pending)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(EnrollError::BadToken)?;
    let (cert_der, serial) = pki.sign_agent_csr(csr_der, id as u64, validity).map_err(EnrollError::Pki)?;
    sqlx::query("UPDATE agents SET cert_serial = $1, cert_expires_ms = $2 WHERE id = $3")
        .bind(serial)
        .bind(now + validity.as_millis().min(i64::MAX as u128 / 2) as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let (site,): (String,) =
        sqlx::query_as("SELECT name FROM sites WHERE id = $1").bind(site_id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Enrolled { agent_id: id as u64, site, cert_der, ca_der: pki.ca_der() })
}

pub async fn revoke(db: &Db, id: u64) -> Result<bool, StoreError> {
    let n =
        sqlx::query("UPDATE agents SET status = $3, token_hash = NULL, revoked_ms = $1 WHERE id = $2 AND status <> $3")
            .bind(now_ms())
            .bind(id as i64)
            .bind(AgentStatus::Revoked)
            .execute(&db.pool)
            .await?
            .rows_affected();
    Ok(n == 1)
}

/// What the link needs to know about each agent, refreshed every second.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentControl {
    pub status: AgentStatus,
    pub site_id: i64,
    #[sqlx(rename = "revision")]
    pub site_revision: i64,
    pub cert_serial: Option<String>,
    /// The release a running rollout offers this agent now.
    pub offer: Option<i64>,
}

pub async fn control_snapshot(db: &Db) -> Result<HashMap<u64, AgentControl>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        #[sqlx(flatten)]
        control: AgentControl,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT a.id, a.status, a.site_id, s.revision, a.cert_serial, ra.release_id AS offer \
         FROM agents a JOIN sites s ON s.id = a.site_id \
         LEFT JOIN rollout_agents ra ON ra.agent_id = a.id AND ra.state = 'offered' \
         AND ra.rollout_id IN (SELECT id FROM rollouts WHERE state = 'running')",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id as u64, r.control)).collect())
}

pub async fn mark_connected(
    db: &Db,
    id: u64,
    version: &str,
    target: &str,
    boot_epoch: u64,
    addr: &str,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "UPDATE agents SET version = $1, target = $2, boot_epoch = $3, last_addr = $4, connected_ms = $5, last_seen_ms = $5 WHERE id = $6",
    )
    .bind(version)
    .bind(target)
    .bind(boot_epoch as i64)
    .bind(addr)
    .bind(now)
    .bind(id as i64)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The hardware model the agent reports.
pub async fn record_model(db: &Db, id: u64, model: Option<&str>) -> Result<(), StoreError> {
    let model: Option<String> = model.map(|m| m.chars().filter(|c| !c.is_control()).take(100).collect());
    sqlx::query("UPDATE agents SET model = $1 WHERE id = $2").bind(model).bind(id as i64).execute(&db.pool).await?;
    Ok(())
}

/// What config the agent reports it runs (see [`AgentView`]).
pub async fn record_config(
    db: &Db,
    id: u64,
    r: &mast_shared::ConfigReport,
    checksum_ok: Option<bool>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE agents SET config_revision = $1, config_checksum = $2, config_confirmed = $3, config_rejected = $4, \
         config_checksum_ok = $5 WHERE id = $6",
    )
    .bind(r.revision.min(i64::MAX as u64) as i64)
    .bind(r.checksum.chars().take(64).collect::<String>())
    .bind(i64::from(r.confirmed))
    .bind(r.rejected.map(|v| v.min(i64::MAX as u64) as i64))
    .bind(checksum_ok.map(i64::from))
    .bind(id as i64)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn mark_disconnected(db: &Db, id: u64) -> Result<(), StoreError> {
    sqlx::query("UPDATE agents SET disconnected_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id as i64)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn record_status(db: &Db, id: u64, backlog: u64, dropped: u64) -> Result<(), StoreError> {
    sqlx::query("UPDATE agents SET backlog = $1, dropped = $2, last_seen_ms = $3 WHERE id = $4")
        .bind(backlog as i64)
        .bind(dropped as i64)
        .bind(now_ms())
        .bind(id as i64)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn last_committed(db: &Db, id: u64) -> Result<Option<mast_shared::Ack>, StoreError> {
    let (e, s): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT last_ack_epoch, last_ack_seq FROM agents WHERE id = $1")
            .bind(id as i64)
            .fetch_optional(&db.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no agent {id}")))?;
    Ok(e.zip(s).map(|(e, s)| mast_shared::Ack { boot_epoch: e as u64, seq: s as u64 }))
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub id: i64,
    pub site_id: i64,
    pub site: String,
    pub status: AgentStatus,
    pub connected: bool,
    pub version: Option<String>,
    pub target: Option<String>,
    pub boot_epoch: Option<i64>,
    pub last_seen_ms: Option<i64>,
    pub last_addr: Option<String>,
    pub backlog: Option<i64>,
    pub dropped: Option<i64>,
    /// The config revision the agent reports it runs, whether it is
    /// confirmed (the link stayed up after it), a revision it reverted, and
    /// whether its checksum matches what was pushed (`None`: other revision).
    pub config_revision: Option<i64>,
    pub config_confirmed: Option<bool>,
    pub config_rejected: Option<i64>,
    pub config_checksum_ok: Option<bool>,
}

impl AgentView {
    /// `connected` or `offline` for an active agent, else its status
    /// (`pending`, `revoked`).
    pub fn state(&self) -> AgentState {
        match (self.status, self.connected) {
            (AgentStatus::Active, true) => AgentState::Connected,
            (AgentStatus::Active, false) => AgentState::Offline,
            (AgentStatus::Pending, _) => AgentState::Pending,
            (AgentStatus::Revoked, _) => AgentState::Revoked,
        }
    }
}

pub async fn list_agents(db: &Db) -> Result<Vec<AgentView>, StoreError> {
    agents_where(db, "$1 = $1", 0).await
}

/// The agents of one site.
pub async fn site_agents(db: &Db, site_id: i64) -> Result<Vec<AgentView>, StoreError> {
    agents_where(db, "a.site_id = $1", site_id).await
}

/// The agent with id `id`, or [`StoreError::NotFound`].
pub async fn get_agent(db: &Db, id: i64) -> Result<AgentView, StoreError> {
    agents_where(db, "a.id = $1", id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("no agent {id}")))
}

/// Whether an agent's link is up: it connected after it last disconnected.
pub fn link_up(connected_ms: Option<i64>, disconnected_ms: Option<i64>) -> bool {
    connected_ms.is_some() && connected_ms > disconnected_ms
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: i64,
    site_id: i64,
    site: String,
    status: AgentStatus,
    version: Option<String>,
    target: Option<String>,
    boot_epoch: Option<i64>,
    last_seen_ms: Option<i64>,
    last_addr: Option<String>,
    backlog: Option<i64>,
    dropped: Option<i64>,
    connected_ms: Option<i64>,
    disconnected_ms: Option<i64>,
    config_revision: Option<i64>,
    config_confirmed: Option<i64>,
    config_rejected: Option<i64>,
    config_checksum_ok: Option<i64>,
}

async fn agents_where(db: &Db, filter: &'static str, arg: i64) -> Result<Vec<AgentView>, StoreError> {
    let sql = format!(
        "SELECT a.id, a.site_id, s.name AS site, a.status, a.version, a.target, a.boot_epoch, a.last_seen_ms, \
         a.last_addr, a.backlog, a.dropped, a.connected_ms, a.disconnected_ms, a.config_revision, \
         a.config_confirmed, a.config_rejected, a.config_checksum_ok FROM agents a \
         JOIN sites s ON s.id = a.site_id WHERE {filter} ORDER BY a.id"
    );
    let rows: Vec<AgentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(arg).fetch_all(&db.pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| AgentView {
            id: r.id,
            site_id: r.site_id,
            site: r.site,
            connected: r.status == AgentStatus::Active && link_up(r.connected_ms, r.disconnected_ms),
            status: r.status,
            version: r.version,
            target: r.target,
            boot_epoch: r.boot_epoch,
            last_seen_ms: r.last_seen_ms,
            last_addr: r.last_addr,
            backlog: r.backlog,
            dropped: r.dropped,
            config_revision: r.config_revision,
            config_confirmed: r.config_confirmed.map(|v| v != 0),
            config_rejected: r.config_rejected,
            config_checksum_ok: r.config_checksum_ok.map(|v| v != 0),
        })
        .collect())
}

/// The controller CA (key and certificate PEM), if one was made.
pub async fn ca(db: &Db) -> Result<Option<(String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT key_pem, cert_pem FROM controller_ca WHERE id = 1").fetch_optional(&db.pool).await?)
}

/// Stores a CA unless one is there already (two controllers starting at
/// once: the first wins); returns the one stored.
pub async fn init_ca(db: &Db, key_pem: &str, cert_pem: &str) -> Result<(String, String), StoreError> {
    sqlx::query(
        "INSERT INTO controller_ca (id, key_pem, cert_pem, created_ms) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(key_pem)
    .bind(cert_pem)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    ca(db).await?.ok_or_else(|| StoreError::Corrupt("controller_ca: no row after insert".into()))
}

/// How far each agent's clock seems off, ms (positive: ahead): the time on
/// its last acknowledged ping or SNMP poll against when the controller
/// stored it, for active agents heard from in the last hour with nothing
/// buffered (a backlog's samples are old by design). A clock behind looks
/// the same as a slow link, so only large negative values mean much.
pub async fn clock_skew(db: &Db, now: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT a.id, a.last_seen_ms, s.ts_ms FROM agents a JOIN samples s ON s.agent_id = a.id \
         AND s.boot_epoch = a.last_ack_epoch AND s.seq = a.last_ack_seq \
         WHERE a.status = 'active' AND a.last_seen_ms > $1 AND COALESCE(a.backlog, 0) = 0 AND s.kind IN (0, 2) \
         ORDER BY a.id",
    )
    .bind(now - 3_600_000)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|(id, seen, ts)| (id, ts - seen)).collect())
}

/// Samples stamped too far in the future to believe, per agent, since
/// `since` (kept for the delivery accounting, applied to nothing).
pub async fn future_samples(db: &Db, since: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT agent_id, COUNT(*) FROM samples WHERE kind = 6 AND ts_ms > $1 GROUP BY agent_id ORDER BY agent_id",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent whose last ping is stamped 30 s after it was stored runs
    /// 30 s ahead; one with samples set aside as future is named too.
    #[tokio::test]
    async fn clocks_off_are_found() {
        let (_d, db) = crate::test_db().await;
        let site = crate::monitoring::add_site(&db, "clock", &[], 30_000, 1_000).await.unwrap();
        let (id, _) = add_agent(&db, "clock", Duration::from_secs(60)).await.unwrap();
        sqlx::query("UPDATE agents SET status = 'active'").execute(&db.pool).await.unwrap();
        let now = now_ms();
        let ping = |seq, ts_ms| mast_shared::Sample {
            boot_epoch: 1,
            seq,
            ts_ms,
            body: mast_shared::SampleBody::Ping { target: "10.1.1.1".parse().unwrap(), rtt_us: Some(500) },
        };
        let mut ids = HashMap::new();
        crate::monitoring::store_samples(&db, id, site.id, &[ping(1, now - 1_000)], &mut ids).await.unwrap();
        assert!(clock_skew(&db, now).await.unwrap().iter().all(|(_, s)| s.abs() < 5_000), "in step");
        crate::monitoring::store_samples(&db, id, site.id, &[ping(2, now_ms() + 30_000)], &mut ids).await.unwrap();
        let skew = clock_skew(&db, now).await.unwrap();
        assert_eq!(skew.len(), 1);
        assert!((29_000..31_000).contains(&skew[0].1), "{skew:?}");
        assert!(future_samples(&db, now - 86_400_000).await.unwrap().is_empty());
        crate::monitoring::store_samples(&db, id, site.id, &[ping(3, now_ms() + 3_600_000)], &mut ids).await.unwrap();
        assert_eq!(future_samples(&db, now - 86_400_000).await.unwrap(), vec![(id as i64, 1)]);
    }

    #[tokio::test]
    async fn agents_have_typed_states_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/f.db", dir.path().display())).await.unwrap();
        let ttl = Duration::from_secs(60);
        let e = add_agent(&db, "nowhere", ttl).await.unwrap_err();
        assert_eq!(e.field(), Some("site"), "{e}");
        assert_eq!(add_agent(&db, "", ttl).await.unwrap_err().field(), Some("site"));
        assert_eq!(add_agent(&db, "a\0b", ttl).await.unwrap_err().field(), Some("site"));
        let site = crate::monitoring::add_site(&db, "north", &[], 30_000, 1_000).await.unwrap();
        let (id, token) = add_agent(&db, "north", ttl).await.unwrap();
        assert!(token.starts_with("mast-enroll-"));
        let a = get_agent(&db, id as i64).await.unwrap();
        assert_eq!(
            (a.status, a.state(), a.site_id, a.connected),
            (AgentStatus::Pending, AgentState::Pending, site.id, false)
        );
        assert_eq!(serde_json::to_value(&a).unwrap()["status"], "pending");
        assert!(matches!(get_agent(&db, 999).await, Err(StoreError::NotFound(_))));
        assert!(matches!(last_committed(&db, 999).await, Err(StoreError::NotFound(_))));
        assert_eq!(control_snapshot(&db).await.unwrap()[&id].status, AgentStatus::Pending);
        assert!(revoke(&db, id).await.unwrap());
        assert!(!revoke(&db, id).await.unwrap(), "once");
        assert_eq!(site_agents(&db, site.id).await.unwrap()[0].state(), AgentState::Revoked);
        sqlx::query("UPDATE agents SET status = 'zombie'").execute(&db.pool).await.unwrap();
        assert!(matches!(list_agents(&db).await, Err(StoreError::Corrupt(_))));
        assert!(matches!(control_snapshot(&db).await, Err(StoreError::Corrupt(_))));
    }
}
