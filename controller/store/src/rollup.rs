//! Rollups and retention of the monitoring samples (part of `monitoring`;
//! owns tables `sample_rollups`, `rollup_state`, `rollup_marks`).
//!
//! Ingest marks the oldest ping time it wrote, one row per agent
//! (`rollup_marks`: concurrent links never share a row); `rollup_state`
//! holds a mark that is nobody's (a fresh database: everything). A worker, apart from ingest, recomputes the 5-minute buckets from the raw
//! samples from that point and the hourly buckets from the 5-minute ones, then
//! applies retention. Recomputing (not adding) makes a pass idempotent and
//! lets backfilled data (an agent's spool after a backhaul outage) land in
//! the right buckets. Buckets older than the raw retention are never
//! recomputed, so their history survives the raw samples.

use crate::db::{Db, StoreError};

pub(crate) const FIVE_MIN: i64 = 300_000;
pub(crate) const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw_days: i64,
    pub five_min_days: i64,
    pub hourly_days: i64,
}

/// Pure: start of the bucket of `width` holding `t`.
fn bucket_start(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width
}

/// Pure: where a pass starts recomputing, given the dirty mark, the bucket
/// width and the raw retention cutoff.
fn recompute_from(dirty_from: i64, width: i64, raw_cutoff: i64) -> i64 {
    let first_whole_raw_bucket = bucket_start(raw_cutoff.saturating_add(width - 1), width);
    bucket_start(dirty_from, width).max(first_whole_raw_bucket)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassStats {
    pub recomputed_from: Option<i64>,
    /// Raw samples deleted past retention (on PostgreSQL: from the default
    /// partition only; whole partitions are in `partitions`).
    pub raw_deleted: u64,
    /// Partitions made and dropped (PostgreSQL).
    pub partitions: crate::partitions::Maintained,
}

/// Marks `from_ms` dirty for `agent_id` (the older of it and the agent's
/// mark), in the ingest's transaction.
pub(crate) async fn mark(tx: &mut crate::db::Tx<'_>, agent_id: i64, from_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rollup_marks (agent_id, dirty_from_ms) VALUES ($1, $2) ON CONFLICT (agent_id) DO UPDATE \
         SET dirty_from_ms = CASE WHEN excluded.dirty_from_ms < rollup_marks.dirty_from_ms \
         THEN excluded.dirty_from_ms ELSE rollup_marks.dirty_from_ms END",
    )
    .bind(agent_id)
    .bind(from_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The oldest dirty time of all marks, clearing each mark taken only if it
/// is unchanged: data marked during the pass marks again for the next one.
async fn take_marks(db: &Db) -> Result<Option<i64>, StoreError> {
    let marks: Vec<(i64, i64)> =
        sqlx::query_as("SELECT agent_id, dirty_from_ms FROM rollup_marks").fetch_all(&db.pool).await?;
    let state: Option<(Option<i64>,)> = sqlx::query_as("SELECT dirty_from_ms FROM rollup_state WHERE name = 'samples'")
        .fetch_optional(&db.pool)
        .await?;
    let state = state.and_then(|(d,)| d);
    let oldest = marks.iter().map(|(_, d)| *d).chain(state).min();
    if oldest.is_none() {
        return Ok(None);
    }
    let mut tx = db.begin().await?;
    for (agent, d) in &marks {
        sqlx::query("DELETE FROM rollup_marks WHERE agent_id = $1 AND dirty_from_ms = $2")
            .bind(agent)
            .bind(d)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(d) = state {
        sqlx::query("UPDATE rollup_state SET dirty_from_ms = NULL WHERE name = 'samples' AND dirty_from_ms = $1")
            .bind(d)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(oldest)
}

/// One rollup + retention pass at `now`.
pub async fn run_once(db: &Db, now: i64, keep: Retention) -> Result<PassStats, StoreError> {
    let mut stats = PassStats::default();
    let raw_cutoff = now - keep.raw_days * DAY;
    let dirty = take_marks(db).await?;
    if let Some(d) = dirty {
        let from5 = recompute_from(d, FIVE_MIN, raw_cutoff);
        let fromh = recompute_from(d, HOUR, raw_cutoff);
        let mut tx = db.begin().await?;
        sqlx::query("DELETE FROM sample_rollups WHERE width_ms = $1 AND t_ms >= $2")
            .bind(FIVE_MIN)
            .bind(from5)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sample_rollups (device_id, width_ms, t_ms, n, lost, rtt_sum_us, rtt_n) \
             SELECT device_id, $1, (ts_ms / $1) * $1, COUNT(*), \
             CAST(SUM(CASE WHEN rtt_us IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(COALESCE(SUM(rtt_us), 0) AS BIGINT), COUNT(rtt_us) \
             FROM samples WHERE kind = 0 AND device_id IS NOT NULL AND ts_ms >= $2 GROUP BY device_id, (ts_ms / $1)",
        )
        .bind(FIVE_MIN)
        .bind(from5)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sample_rollups WHERE width_ms = $1 AND t_ms >= $2")
            .bind(HOUR)
            .bind(fromh)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sample_rollups (device_id, width_ms, t_ms, n, lost, rtt_sum_us, rtt_n) \
             SELECT device_id, $1, (t_ms / $1) * $1, CAST(SUM(n) AS BIGINT), CAST(SUM(lost) AS BIGINT), \
             CAST(SUM(rtt_sum_us) AS BIGINT), CAST(SUM(rtt_n) AS BIGINT) \
             FROM sample_rollups WHERE width_ms = $2 AND t_ms >= $3 GROUP BY device_id, (t_ms / $1)",
        )
        .bind(HOUR)
        .bind(FIVE_MIN)
        .bind(fromh)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        stats.recomputed_from = Some(from5);
    }
    // Retention. Uplink events (kind 1) stay: they are the backhaul history.
    // Inventory changes live on in `inventory_history`. On PostgreSQL the
    // samples, link samples and rollups are partitioned by time: whole
    // partitions go (`partitions`); on SQLite rows are deleted by time.
    sqlx::query("DELETE FROM interface_rates WHERE ts_ms < $1").bind(raw_cutoff).execute(&db.pool).await?;
    if db.backend == crate::db::Backend::Postgres {
        let done = crate::partitions::maintain(db, now, keep).await?;
        stats.raw_deleted = done.deleted;
        stats.partitions = done;
        return Ok(stats);
    }
    stats.raw_deleted = sqlx::query("DELETE FROM samples WHERE kind <> 1 AND ts_ms < $1")
        .bind(raw_cutoff)
        .execute(&db.pool)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM link_samples WHERE ts_ms < $1").bind(raw_cutoff).execute(&db.pool).await?;
    for (width, days) in [(FIVE_MIN, keep.five_min_days), (HOUR, keep.hourly_days)] {
        sqlx::query("DELETE FROM sample_rollups WHERE width_ms = $1 AND t_ms < $2")
            .bind(width)
            .bind(now - days * DAY)
            .execute(&db.pool)
            .await?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align() {
        assert_eq!(bucket_start(299_999, FIVE_MIN), 0);
        assert_eq!(bucket_start(300_000, FIVE_MIN), 300_000);
        assert_eq!(bucket_start(-1, FIVE_MIN), -300_000);
    }

    #[test]
    fn never_recomputes_buckets_older_than_the_raw_data() {
        // Dirty inside the raw window: start at its bucket.
        assert_eq!(recompute_from(1_000_000, FIVE_MIN, 0), 900_000);
        // Dirty before the raw cutoff: start at the first whole bucket after it.
        assert_eq!(recompute_from(0, FIVE_MIN, 1_000_000), 1_200_000);
        assert_eq!(recompute_from(0, HOUR, 10 * HOUR + 5), 11 * HOUR);
    }
}
