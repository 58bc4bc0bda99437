//! Signed agent releases and the keys trusted to sign them. Owns
//! `release_keys` and `releases` (migration 0025). The checks (signature,
//! target, version) are the caller's, through `mast-upgrade-core`; this
//! store keeps what passed them.

use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;

/// A trusted release key.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct KeyRow {
    pub id: i64,
    /// The base64 line of the minisign public key.
    pub public_key: String,
    /// Its file's untrusted comment (e.g. `minisign public key BA4DE6D6E1CD01AC`).
    pub comment: String,
    pub created_ms: i64,
    /// The public key file's text (what agents check endorsements over).
    #[serde(skip)]
    pub key_file: Option<String>,
    /// For a key trusted after others: the minisign signature of its file by
    /// an older key (agents that pin the older key take it because of this).
    #[serde(skip)]
    pub endorsement: Option<String>,
}

const KEY_COLS: &str = "id, public_key, comment, created_ms, key_file, endorsement";

/// Trusts a key; trusting it again is a conflict.
pub async fn trust_key(
    db: &Db,
    public_key: &str,
    comment: &str,
    key_file: &str,
    endorsement: Option<&str>,
) -> Result<KeyRow, StoreError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM release_keys WHERE public_key = $1")
        .bind(public_key)
        .fetch_optional(&db.pool)
        .await?;
    if let Some(id) = exists {
        return Err(StoreError::Conflict(format!("this key is trusted already (key {id})")));
    }
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO release_keys (public_key, comment, created_ms, key_file, endorsement) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLS}"
    )))
    .bind(public_key)
    .bind(comment.chars().take(200).collect::<String>())
    .bind(now_ms())
    .bind(key_file)
    .bind(endorsement)
    .fetch_one(&db.pool)
    .await?)
}

/// The trusted keys, oldest first.
pub async fn keys(db: &Db) -> Result<Vec<KeyRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {KEY_COLS} FROM release_keys ORDER BY id")))
        .fetch_all(&db.pool)
        .await?)
}

/// A release that passed its checks.
#[derive(Debug, Clone)]
pub struct NewRelease<'a> {
    pub version: &'a str,
    pub target: &'a str,
    pub sha256: &'a str,
    pub signature: &'a str,
    pub key_id: i64,
    pub data: &'a [u8],
    pub by: &'a str,
}

/// A stored release (without its file).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReleaseRow {
    pub id: i64,
    pub version: String,
    pub target: String,
    pub size: i64,
    pub sha256: String,
    pub key_id: i64,
    pub created_by: String,
    pub created_ms: i64,
}

const RELEASE_COLS: &str = "SELECT id, version, target, size, sha256, key_id, created_by, created_ms FROM releases";

/// Stores a release; the same version and target twice is a conflict.
pub async fn add_release(db: &Db, r: &NewRelease<'_>) -> Result<ReleaseRow, StoreError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM releases WHERE version = $1 AND target = $2")
        .bind(r.version)
        .bind(r.target)
        .fetch_optional(&db.pool)
        .await?;
    if let Some(id) = exists {
        return Err(StoreError::Conflict(format!(
            "release {} for {} exists already (release {id})",
            r.version, r.target
        )));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO releases (version, target, size, sha256, signature, key_id, data, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(r.version)
    .bind(r.target)
    .bind(r.data.len() as i64)
    .bind(r.sha256)
    .bind(r.signature)
    .bind(r.key_id)
    .bind(r.data.to_vec())
    .bind(r.by)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    release(db, id).await?.ok_or_else(|| StoreError::Corrupt("a stored release vanished".into()))
}

/// One release.
pub async fn release(db: &Db, id: i64) -> Result<Option<ReleaseRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{RELEASE_COLS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

/// Every release, newest first.
pub async fn releases(db: &Db) -> Result<Vec<ReleaseRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{RELEASE_COLS} ORDER BY id DESC"))).fetch_all(&db.pool).await?)
}

/// A release's file and signature (what an agent downloads and checks).
pub async fn release_file(db: &Db, id: i64) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT data, signature FROM releases WHERE id = $1").bind(id).fetch_optional(&db.pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_and_releases_are_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/r.db", dir.path().display())).await.unwrap();
        let k = trust_key(&db, "RWSkey", "minisign public key 1", "file", None).await.unwrap();
        assert!(matches!(trust_key(&db, "RWSkey", "again", "file", None).await, Err(StoreError::Conflict(_))));
        assert_eq!(keys(&db).await.unwrap().len(), 1);
        let data = vec![0x7f, b'E', b'L', b'F', 0, 255];
        let r = NewRelease {
            version: "2.0.0",
            target: "x86_64-unknown-linux-gnu",
            sha256: "ab",
            signature: "sig",
            key_id: k.id,
            data: &data,
            by: "test",
        };
        let row = add_release(&db, &r).await.unwrap();
        assert_eq!((row.size, row.version.as_str()), (6, "2.0.0"));
        assert!(matches!(add_release(&db, &r).await, Err(StoreError::Conflict(_))));
        assert_eq!(release_file(&db, row.id).await.unwrap(), Some((data, "sig".to_string())), "bytes round-trip");
        assert_eq!(releases(&db).await.unwrap().len(), 1);
    }
}
