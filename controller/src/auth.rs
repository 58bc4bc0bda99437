//! API bearer tokens scoped to a role. Owns table `api_tokens`.
//! Tokens are random, shown once, and stored only as their SHA-256.

use crate::db::{Db, DbError, now_ms};
use crate::fleet::{hash_secret, random_secret};
use sqlx::Row;

pub const ROLES: &[&str] = &["admin", "billing", "support", "technician", "read-only"];

pub async fn create_token(db: &Db, name: &str, role: &str) -> Result<String, DbError> {
    if !ROLES.contains(&role) {
        return Err(DbError::Invalid(format!(
            "unknown role {role:?}; one of {}",
            ROLES.join(", ")
        )));
    }
    if name.trim().is_empty() {
        return Err(DbError::Invalid("token name must not be empty".into()));
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

/// The role of a valid, unrevoked token.
pub async fn token_role(db: &Db, token: &str) -> Result<Option<String>, DbError> {
    let r = sqlx::query("SELECT role FROM api_tokens WHERE token_hash = $1 AND revoked_ms IS NULL")
        .bind(hash_secret(token))
        .fetch_optional(&db.pool)
        .await?;
    Ok(r.map(|r| r.try_get("role")).transpose()?)
}
