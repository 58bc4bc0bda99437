//! Database handle: one sqlx `AnyPool` over SQLite (embedded default) or
//! PostgreSQL, chosen by the URL.
//!
//! Queries are runtime-checked SQL written once in the dialect both accept
//! (`$1` placeholders, `ON CONFLICT`, `RETURNING`, BIGINT times, no booleans,
//! aggregates cast to BIGINT); the whole test suite runs on both backends.
//! Schema differences live only in `migrations/sqlite` vs `migrations/postgres`.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub use crate::error::StoreError;

/// A transaction: store functions that must commit together take one, so a
/// cross-domain write (an incident, its ticket, its notices) is atomic.
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// The URL it was opened with (a PostgreSQL listener opens its own
    /// connection); holds the password if the URL does: never printed.
    url: std::sync::Arc<str>,
}

impl Db {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let url = match backend {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                if let Some(parent) = std::path::Path::new(path).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent).map_err(|e| StoreError::Dir(parent.display().to_string(), e))?;
                }
                if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") }
            }
            Backend::Postgres => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the web UI read while ingest writes; FULL sync
                        // keeps "committed" meaning "on disk" (acks depend on it).
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // Ingest is bound by SQLite's I/O (measured: half its
                        // thread's time in the kernel): a 64 MiB page cache
                        // (the default is 2 MiB) and the database mapped into
                        // memory spare most reads; savepoints' journals in
                        // memory spare their writes.
                        conn.execute("PRAGMA cache_size = -65536").await?;
                        conn.execute("PRAGMA mmap_size = 1073741824").await?;
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(Db { pool, backend, url: url.into() })
    }
}

impl Db {
    /// A connection listening on PostgreSQL notification `channel`; `None`
    /// on SQLite (one controller: nothing to hear from others).
    pub async fn listen(&self, channel: &str) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut l = sqlx::postgres::PgListener::connect(&self.url).await?;
        l.listen(channel).await?;
        Ok(Some(l))
    }

    /// Starts a transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that reads and then writes would
    /// otherwise fail with "database is locked" whenever another connection
    /// (ingest, a worker) commits between its first read and its first
    /// write, since SQLite cannot wait for that (the busy timeout covers
    /// only waiting for the lock, not a snapshot that went stale).
    pub async fn begin(&self) -> Result<Tx<'static>, StoreError> {
        Ok(self.pool.begin_with(self.begin_sql()).await?)
    }

    /// Starts a transaction on a connection the caller keeps (as
    /// [`Db::begin`] does on a pooled one).
    pub async fn begin_on<'c>(&self, conn: &'c mut sqlx::AnyConnection) -> Result<Tx<'c>, StoreError> {
        use sqlx::Connection;
        Ok(conn.begin_with(self.begin_sql()).await?)
    }

    fn begin_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// A trivial query: is the database answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Current time as Unix milliseconds (the shells read the clock; cores take it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A transaction that reads, then writes after another connection
    /// committed, still commits (on SQLite a deferred transaction fails
    /// there with "database is locked").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_writes_after_another_connection_committed() {
        let (_dir, db) = crate::test_db().await;
        sqlx::query("CREATE TABLE tx_probe (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO tx_probe (id, v) VALUES (1, 0)").execute(&db.pool).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let (v,): (i64,) = sqlx::query_as("SELECT v FROM tx_probe WHERE id = 1").fetch_one(&mut *tx).await.unwrap();
        let other = {
            let db = db.clone();
            tokio::spawn(async move {
                sqlx::query("INSERT INTO tx_probe (id, v) VALUES (2, 0)").execute(&db.pool).await.map(|_| ())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlx::query("UPDATE tx_probe SET v = $1 WHERE id = 1").bind(v + 1).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        other.await.unwrap().unwrap();
        let (n,): (i64,) =
            sqlx::query_as("SELECT CAST(SUM(v) AS BIGINT) + COUNT(*) FROM tx_probe").fetch_one(&db.pool).await.unwrap();
        assert_eq!(n, 3, "both writes kept");
    }
}
