//! Leases (owns table `leases`): which controller runs each worker that
//! must run once per installation when several controllers share one
//! PostgreSQL database.
//!
//! A lease is a row `(name, holder, expires_ms)`. [`hold`] takes a lease
//! that is free, expired or already ours, and extends it; it never takes
//! one another holder still has. Holders renew well inside the time to
//! live, so a lease changes hands only when its holder stopped renewing
//! (it died, or lost the database) or let it go ([`release_all`], at
//! shutdown). Expiry compares the taker's clock with the time the holder
//! wrote: controllers' clocks should agree within a few seconds (NTP),
//! far below the time to live.

use crate::db::{Db, StoreError};

/// One lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub expires_ms: i64,
}

/// Takes or renews `name` for `holder` until `now + ttl_ms`; true if
/// `holder` holds it now.
pub async fn hold(db: &Db, name: &str, holder: &str, now: i64, ttl_ms: i64) -> Result<bool, StoreError> {
    let taken = sqlx::query(
        "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
         WHERE leases.holder = excluded.holder OR leases.expires_ms < $4",
    )
    .bind(name)
    .bind(holder)
    .bind(now.saturating_add(ttl_ms))
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Takes `name` for `holder` whoever had it: only for a database one
/// controller owns alone (SQLite's lock), where another holder's row is a
/// leftover (a data directory replaced, a restored backup).
pub async fn take(db: &Db, name: &str, holder: &str, now: i64, ttl_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms",
    )
    .bind(name)
    .bind(holder)
    .bind(now.saturating_add(ttl_ms))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Lets go of every lease `holder` has (a clean shutdown: another
/// controller takes them at its next renewal instead of after expiry).
pub async fn release_all(db: &Db, holder: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM leases WHERE holder = $1").bind(holder).execute(&db.pool).await?.rows_affected())
}

/// Every lease, by name.
pub async fn list(db: &Db) -> Result<Vec<Lease>, StoreError> {
    Ok(sqlx::query_as("SELECT name, holder, expires_ms FROM leases ORDER BY name").fetch_all(&db.pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires_or_is_let_go() {
        let (_d, db) = crate::test_db().await;
        assert!(hold(&db, "billing", "a", 1_000, 30_000).await.unwrap());
        assert!(!hold(&db, "billing", "b", 2_000, 30_000).await.unwrap(), "a holds it");
        assert!(hold(&db, "billing", "a", 20_000, 30_000).await.unwrap(), "a renews");
        assert!(!hold(&db, "billing", "b", 40_000, 30_000).await.unwrap(), "renewed until 50 s");
        assert!(hold(&db, "outbox", "b", 40_000, 30_000).await.unwrap(), "leases are independent");
        assert!(hold(&db, "billing", "b", 50_001, 30_000).await.unwrap(), "expired: b takes it");
        assert!(!hold(&db, "billing", "a", 50_002, 30_000).await.unwrap(), "a lost it");
        assert_eq!(release_all(&db, "b").await.unwrap(), 2);
        assert!(hold(&db, "billing", "a", 50_003, 30_000).await.unwrap(), "let go: a takes it at once");
        let all = list(&db).await.unwrap();
        assert_eq!(all, vec![Lease { name: "billing".into(), holder: "a".into(), expires_ms: 80_003 }]);
        take(&db, "billing", "c", 50_004, 30_000).await.unwrap();
        assert!(!hold(&db, "billing", "a", 50_005, 30_000).await.unwrap(), "taken over");
    }
}
