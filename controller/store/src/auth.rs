//! API bearer tokens scoped to a role. Owns table `api_tokens`.
//! Tokens are random, shown once, and stored only as their SHA-256.

use crate::db::{Db, StoreError, now_ms};
use crate::fleet::{hash_secret, random_secret};
use crate::staff::Role;

/// The longest token name.
const MAX_NAME: usize = 100;

/// Creates a token for `role` (a [`Role`] name: the form's `role` field)
/// named `name` (the `name` field); returns the secret, shown only now.
pub async fn create_token(db: &Db, name: &str, role: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::invalid("name", "must not be empty"));
    }
    mast_text_core::input::line(name, MAX_NAME).map_err(|p| StoreError::invalid("name", p.to_string()))?;
    let role = Role::parse(role)?;
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
pub async fn token_caller(db: &Db, token: &str) -> Result<Option<(String, Role)>, StoreError> {
    Ok(sqlx::query_as("SELECT name, role FROM api_tokens WHERE token_hash = $1 AND revoked_ms IS NULL")
        .bind(hash_secret(token))
        .fetch_optional(&db.pool)
        .await?)
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

pub async fn list_tokens(db: &Db) -> Result<Vec<TokenView>, StoreError> {
    Ok(sqlx::query_as("SELECT id, name, role, created_ms, revoked_ms FROM api_tokens ORDER BY id")
        .fetch_all(&db.pool)
        .await?)
}

/// Revokes an active token; false when there is no active token `id`.
pub async fn revoke_token(db: &Db, id: i64) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(n.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_name_their_fields_and_a_corrupt_role_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        assert_eq!(create_token(&db, " ", "admin").await.unwrap_err().field(), Some("name"));
        assert_eq!(create_token(&db, "a\0b", "admin").await.unwrap_err().field(), Some("name"));
        assert_eq!(create_token(&db, "ci", "root").await.unwrap_err().field(), Some("role"));
        let t = create_token(&db, "ci", "read-only").await.unwrap();
        assert_eq!(token_caller(&db, &t).await.unwrap(), Some(("ci".to_string(), Role::ReadOnly)));
        let list = list_tokens(&db).await.unwrap();
        assert_eq!((list.len(), list[0].role), (1, Role::ReadOnly));
        sqlx::query("UPDATE api_tokens SET role = 'superuser'").execute(&db.pool).await.unwrap();
        assert!(matches!(token_caller(&db, &t).await.unwrap_err(), StoreError::Corrupt(_)));
        assert!(matches!(list_tokens(&db).await.unwrap_err(), StoreError::Corrupt(_)));
        assert!(revoke_token(&db, list[0].id).await.unwrap());
        assert!(!revoke_token(&db, list[0].id).await.unwrap(), "once");
    }
}
