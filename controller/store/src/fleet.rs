//! Fleet: the agents, their one-time enrollment tokens, certificates and
//! revocation. Owns table `agents`.
//!
//! Lifecycle: `pending` (token issued) → `active` (CSR signed, token burnt) →
//! `revoked`. Invariants: a token is stored only as its SHA-256, works once and
//! only before it expires; only the certificate serial recorded at enrollment
//! is accepted for an agent.

use crate::db::{Db, StoreError, now_ms};
use mast_shared::Enrolled;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;

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
    let site = crate::monitoring::site_by_name(db, site).await?.ok_or_else(|| {
        StoreError::invalid_msg(format!("no site named {site:?}; create it with `mast-controller site add`"))
    })?;
    let token = random_secret("mast-enroll-");
    let now = now_ms();
    let id: i64 = sqlx::query(
        "INSERT INTO agents (site_id, status, token_hash, token_expires_ms, created_ms) \
         VALUES ($1, 'pending', $2, $3, $4) RETURNING id",
    )
    .bind(site.id)
    .bind(hash_secret(&token))
    .bind(now + token_ttl.as_millis() as i64)
    .bind(now)
    .fetch_one(&db.pool)
    .await?
    .try_get("id")?;
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
    let mut tx = db.pool.begin().await?;
    let row = sqlx::query(
        "UPDATE agents SET status = 'active', token_hash = NULL, enrolled_ms = $1 \
         WHERE token_hash = $2 AND status = 'pending' AND token_expires_ms > $1 RETURNING id, site_id",
    )
    .bind(now)
    .bind(hash_secret(token))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(EnrollError::BadToken)?;
    let id: i64 = row.try_get("id")?;
    let site_id: i64 = row.try_get("site_id")?;
    let (cert_der, serial) = pki.sign_agent_csr(csr_der, id as u64, validity).map_err(EnrollError::Pki)?;
    sqlx::query("UPDATE agents SET cert_serial = $1, cert_expires_ms = $2 WHERE id = $3")
        .bind(serial)
        .bind(now + validity.as_millis().min(i64::MAX as u128 / 2) as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let site: String =
        sqlx::query("SELECT name FROM sites WHERE id = $1").bind(site_id).fetch_one(&mut *tx).await?.try_get("name")?;
    tx.commit().await?;
    Ok(Enrolled { agent_id: id as u64, site, cert_der, ca_der: pki.ca_der() })
}

pub async fn revoke(db: &Db, id: u64) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE agents SET status = 'revoked', token_hash = NULL, revoked_ms = $1 WHERE id = $2 AND status <> 'revoked'")
        .bind(now_ms())
        .bind(id as i64)
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// What the link needs to know about each agent, refreshed every second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentControl {
    pub status: String,
    pub site_id: i64,
    pub site_revision: i64,
    pub cert_serial: Option<String>,
}

pub async fn control_snapshot(db: &Db) -> Result<HashMap<u64, AgentControl>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.id, a.status, a.site_id, s.revision, a.cert_serial FROM agents a JOIN sites s ON s.id = a.site_id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("id")? as u64,
                AgentControl {
                    status: r.try_get("status")?,
                    site_id: r.try_get("site_id")?,
                    site_revision: r.try_get("revision")?,
                    cert_serial: r.try_get("cert_serial")?,
                },
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
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
    let r = sqlx::query("SELECT last_ack_epoch, last_ack_seq FROM agents WHERE id = $1")
        .bind(id as i64)
        .fetch_one(&db.pool)
        .await?;
    let e: Option<i64> = r.try_get("last_ack_epoch")?;
    let s: Option<i64> = r.try_get("last_ack_seq")?;
    Ok(e.zip(s).map(|(e, s)| mast_shared::Ack { boot_epoch: e as u64, seq: s as u64 }))
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub id: i64,
    pub site: String,
    pub status: String,
    pub connected: bool,
    pub version: Option<String>,
    pub target: Option<String>,
    pub boot_epoch: Option<i64>,
    pub last_seen_ms: Option<i64>,
    pub last_addr: Option<String>,
    pub backlog: Option<i64>,
    pub dropped: Option<i64>,
}

impl AgentView {
    /// `connected` or `offline` for an active agent, else its status
    /// (`pending`, `revoked`).
    pub fn state(&self) -> &str {
        match (self.status.as_str(), self.connected) {
            ("active", true) => "connected",
            ("active", false) => "offline",
            (other, _) => other,
        }
    }
}

pub async fn list_agents(db: &Db) -> Result<Vec<AgentView>, StoreError> {
    agents_where(db, None).await
}

/// The agents of one site.
pub async fn site_agents(db: &Db, site_id: i64) -> Result<Vec<AgentView>, StoreError> {
    agents_where(db, Some(site_id)).await
}

async fn agents_where(db: &Db, site_id: Option<i64>) -> Result<Vec<AgentView>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.id, s.name AS site, a.status, a.version, a.target, a.boot_epoch, a.last_seen_ms, a.last_addr, \
         a.backlog, a.dropped, a.connected_ms, a.disconnected_ms FROM agents a JOIN sites s ON s.id = a.site_id \
         WHERE ($1 IS NULL OR a.site_id = $1) ORDER BY a.id",
    )
    .bind(site_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let c: Option<i64> = r.try_get("connected_ms")?;
            let d: Option<i64> = r.try_get("disconnected_ms")?;
            let status: String = r.try_get("status")?;
            Ok(AgentView {
                id: r.try_get("id")?,
                site: r.try_get("site")?,
                connected: status == "active" && c.is_some() && c > d,
                status,
                version: r.try_get("version")?,
                target: r.try_get("target")?,
                boot_epoch: r.try_get("boot_epoch")?,
                last_seen_ms: r.try_get("last_seen_ms")?,
                last_addr: r.try_get("last_addr")?,
                backlog: r.try_get("backlog")?,
                dropped: r.try_get("dropped")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
