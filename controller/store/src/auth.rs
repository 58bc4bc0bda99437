//! API bearer tokens scoped to a role. Owns table `api_tokens`.
//! Tokens are random, shown once, and stored only as their SHA-256.

use crate::db::{Db, StoreError, now_ms};
use crate::fleet::{hash_secret, random_secret};
use sqlx::Row;

pub async fn create_token(db: &Db, name: &str, role: &str) -> Result<String, StoreError> {
    let role = crate::staff::Role::parse(role)?.as_str();
    if name.trim().is_empty() {
        return Err(StoreError::invalid_msg("token name must not be empty"));
    }
    let token = random_secret("mast_");
    sqlx::query("INSERT INTO api_tokens (name, role, token_hash, created_ms) VALUES ($1, $2, $3, $4)")
        .bind(name)
        .bind(role)
        .bind(hash_secret(&token))
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(token)
}

/// Name and role of a valid, unrevoked token.
pub async fn token_caller(db: &Db, token: &str) -> Result<Option<(String, crate::staff::Role)>, StoreError> {
    let r = sqlx::query("SELECT name, role FROM api_tokens WHERE token_hash = $1 AND revoked_ms IS NULL")
        .bind(hash_secret(token))
        .fetch_optional(&db.pool)
        .await?;
    match r {
        Some(r) => {
            let role: String = r.try_get("role")?;
            Ok(Some((r.try_get("name")?, crate::staff::Role::parse(&role)?)))
        }
        None => Ok(None),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

pub async fn list_tokens(db: &Db) -> Result<Vec<TokenView>, StoreError> {
    let rows = sqlx::query("SELECT id, name, role, created_ms, revoked_ms FROM api_tokens ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenView {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                role: r.try_get("role")?,
                created_ms: r.try_get("created_ms")?,
                revoked_ms: r.try_get("revoked_ms")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn revoke_token(db: &Db, id: i64) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
        .bind(crate::db::now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(n.rows_affected() == 1)
}
