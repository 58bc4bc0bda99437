//! Typed stores of the Mast controller: the database handle ([`db`]: one
//! sqlx `AnyPool` over SQLite or PostgreSQL, migrations in `migrations/`),
//! and one module per domain owning its tables and queries. Functions take
//! the pool or a transaction, so a cross-domain write (an incident with its
//! ticket and notices) still commits as one.
//!
//! Architecture invariant: this crate opens no socket but the database's,
//! sends no mail and serves no HTTP (`tests/tests/layers.rs` checks its
//! dependencies); the services in `mast-app` and the handlers in `mast-web`
//! sit above it. Domains import downward only: customers and sites are the
//! shared base; tickets, billing and monitoring build on them and never on
//! each other (cross-domain reactions live in `mast_app::reactions`).

pub mod audit;
pub mod auth;
pub mod billing;
pub mod customers;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod export;
pub mod fleet;
pub mod import;
pub mod leases;
pub mod monitoring;
pub mod outbox;
pub mod partitions;
pub mod password;
pub mod portal;
pub mod releases;
pub mod rollouts;
pub mod rollup;
pub mod settings;
pub mod sql;
pub mod staff;
pub mod stock;
pub mod tickets;

/// A fresh database for the store's tests: SQLite in a temporary directory,
/// or, with `MAST_STORE_TEST_PG=postgres://...`, a fresh PostgreSQL
/// database (the end-to-end tests cover PostgreSQL in CI).
#[cfg(test)]
pub(crate) async fn test_db() -> (tempfile::TempDir, db::Db) {
    let dir = tempfile::tempdir().unwrap();
    if let Ok(base) = std::env::var("MAST_STORE_TEST_PG") {
        return (dir, fresh_pg(&base).await);
    }
    let db = db::Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
    (dir, db)
}

/// A fresh PostgreSQL database, for a test of what only PostgreSQL can do
/// (several writers at once): on `MAST_STORE_TEST_PG` or the end-to-end
/// tests' `MAST_TEST_PG_URL`. Without either it is `None`, and under
/// `CI=true` a failure.
#[cfg(test)]
pub(crate) async fn test_pg() -> Option<db::Db> {
    let base = std::env::var("MAST_STORE_TEST_PG").or_else(|_| std::env::var("MAST_TEST_PG_URL"));
    let Ok(base) = base else {
        assert!(std::env::var("CI").is_err(), "CI=true needs MAST_TEST_PG_URL for the PostgreSQL store tests");
        eprintln!("no PostgreSQL (MAST_TEST_PG_URL): skipped");
        return None;
    };
    Some(fresh_pg(&base).await)
}

/// A new, empty database on the PostgreSQL server at `base`
/// (`postgres://user@host:port`).
#[cfg(test)]
async fn fresh_pg(base: &str) -> db::Db {
    let base = base.trim_end_matches('/');
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("mast_store_{}_{}_{n}", std::process::id(), now_ms());
    // A plain connection: `Db::connect` would migrate the maintenance database.
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
    db::Db::connect(&format!("{base}/{name}")).await.unwrap()
}

pub use db::{Backend, Db, now_ms};
pub use error::StoreError;
