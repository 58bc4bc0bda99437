//! Time partitions of the sample tables on PostgreSQL (part of
//! `monitoring`'s retention; manages the partitions of `samples`,
//! `link_samples` and `sample_rollups`, which migration 0033 made
//! partitioned). SQLite has no partitions and deletes by time instead.
//!
//! Each series (a partitioned table and its time column) holds one
//! partition per day (raw samples) or per month (rollups), named
//! `<table>_<YYYYMMDD>` or `<table>_<YYYYMM>` after its UTC start, and a
//! DEFAULT partition for rows no dated partition holds. A pass, run by the
//! rollup worker under its lease:
//! - drops the dated partitions that end at or before the retention cutoff
//!   (the partition holding the cutoff stays whole: data lives up to one
//!   partition longer than its retention, never shorter);
//! - creates the dated partitions from the current one to [`AHEAD_MS`] past
//!   now, and a past one within retention only when the default partition
//!   holds rows of its time (after the migration, or a late spool): those
//!   move in with it, in one transaction that detaches and re-attaches the
//!   default (so a fresh install does not make a month of empty tables);
//! - deletes the default partition's rows past retention.
//!
//! Invariants: only dated partitions wholly older than the cutoff are
//! dropped; a row never stays in the default partition when a dated one
//! covers its time after a pass; a pass that changes nothing is a no-op.

use crate::db::{Backend, Db, StoreError};
use crate::rollup::{FIVE_MIN, HOUR, Retention};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use sqlx::AssertSqlSafe;

const DAY: i64 = 86_400_000;

/// Dated partitions are made this far past now, so live rows never land
/// in a default partition.
pub const AHEAD_MS: i64 = 3 * DAY;

/// How long a series' partitions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Day,
    Month,
}

/// A partitioned table, its time column, its partitions' length and its
/// retention.
struct Series {
    table: &'static str,
    column: &'static str,
    span: Span,
    keep_days: fn(&Retention) -> i64,
}

const SERIES: [Series; 4] = [
    Series { table: "samples_timed", column: "ts_ms", span: Span::Day, keep_days: |k| k.raw_days },
    Series { table: "link_samples", column: "ts_ms", span: Span::Day, keep_days: |k| k.raw_days },
    Series { table: "sample_rollups_5m", column: "t_ms", span: Span::Month, keep_days: |k| k.five_min_days },
    Series { table: "sample_rollups_1h", column: "t_ms", span: Span::Month, keep_days: |k| k.hourly_days },
];

// The rollup widths the migration partitions by.
const _: () = assert!(FIVE_MIN == 300_000 && HOUR == 3_600_000);

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Maintained {
    pub created: Vec<String>,
    pub dropped: Vec<String>,
    /// Rows moved from a default partition into a new dated one.
    pub moved: u64,
    /// Rows past retention deleted from default partitions.
    pub deleted: u64,
}

/// Pure: the UTC date of `ms` (clamped to the calendar jiff knows).
fn date_of(ms: i64) -> Date {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    ts.to_zoned_datetime(TimeZone::UTC).date()
}

/// Pure: Unix milliseconds of a UTC date's midnight.
fn ms_of(d: Date) -> Option<i64> {
    Some(TimeZone::UTC.to_timestamp(d.at(0, 0, 0, 0)).ok()?.as_millisecond())
}

/// Pure: the partition starting on `d`, its name and bounds `[start, end)`.
fn partition(table: &str, span: Span, d: Date) -> Option<(String, i64, i64)> {
    let (start, next, name) = match span {
        Span::Day => (d, d.tomorrow().ok()?, format!("{table}_{:04}{:02}{:02}", d.year(), d.month(), d.day())),
        Span::Month => {
            let first = d.first_of_month();
            (
                first,
                first.checked_add(jiff::Span::new().months(1)).ok()?,
                format!("{table}_{:04}{:02}", d.year(), d.month()),
            )
        }
    };
    Some((name, ms_of(start)?, ms_of(next)?))
}

/// Pure: a dated partition's start, read back from its name (`None` for the
/// default partition or a name this module did not make).
fn start_of(table: &str, span: Span, name: &str) -> Option<Date> {
    let digits = name.strip_prefix(table)?.strip_prefix('_')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r)?.parse::<i16>().ok();
    match (span, digits.len()) {
        (Span::Day, 8) => Date::new(n(0..4)?, n(4..6)? as i8, n(6..8)? as i8).ok(),
        (Span::Month, 6) => Date::new(n(0..4)?, n(4..6)? as i8, 1).ok(),
        _ => None,
    }
}

/// Pure: the partitions (name, start, end) a series should have at `now`
/// with `keep_days` of retention: from the one holding the cutoff to the
/// one holding `now + AHEAD_MS`.
fn wanted(table: &str, span: Span, now: i64, keep_days: i64) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    let last = now.saturating_add(AHEAD_MS);
    let mut d = date_of(now.saturating_sub(keep_days.saturating_mul(DAY)));
    while let Some((name, start, end)) = partition(table, span, d) {
        if start > last {
            break;
        }
        out.push((name, start, end));
        d = date_of(end);
    }
    out
}

/// One pass over every series (PostgreSQL only; nothing on SQLite).
pub async fn maintain(db: &Db, now: i64, keep: Retention) -> Result<Maintained, StoreError> {
    let mut done = Maintained::default();
    if db.backend != Backend::Postgres {
        return Ok(done);
    }
    for s in &SERIES {
        let keep_days = (s.keep_days)(&keep);
        let cutoff = now.saturating_sub(keep_days.saturating_mul(DAY));
        let have: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(c.relname AS TEXT) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = CAST(CAST($1 AS TEXT) AS regclass)",
        )
        .bind(s.table)
        .fetch_all(&db.pool)
        .await?;
        for name in &have {
            let Some(start) = start_of(s.table, s.span, name) else { continue };
            let Some((_, _, end)) = partition(s.table, s.span, start) else { continue };
            if end <= cutoff {
                sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}"))).execute(&db.pool).await?;
                done.dropped.push(name.clone());
            }
        }
        for (name, start, end) in wanted(s.table, s.span, now, keep_days) {
            if have.contains(&name) || (end <= now && !in_default(db, s, start, end).await?) {
                // A past period with nothing in it needs no partition (and
                // creating one would lock the table for nothing); rows that
                // come late land in the default one and bring it next time.
                continue;
            }
            done.moved += create(db, s, &name, start, end, now).await?;
            done.created.push(name);
        }
        done.deleted += sqlx::query(AssertSqlSafe(format!("DELETE FROM {}_default WHERE {} < $1", s.table, s.column)))
            .bind(cutoff)
            .execute(&db.pool)
            .await?
            .rows_affected();
    }
    Ok(done)
}

/// Whether the default partition of `s` holds a row in `[start, end)`.
async fn in_default(db: &Db, s: &Series, start: i64, end: i64) -> Result<bool, StoreError> {
    let (table, col) = (s.table, s.column);
    let sql =
        format!("SELECT COUNT(*) FROM (SELECT 1 FROM {table}_default WHERE {col} >= $1 AND {col} < $2 LIMIT 1) AS x");
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql)).bind(start).bind(end).fetch_one(&db.pool).await?;
    Ok(n > 0)
}

/// Creates partition `name` for `[start, end)`. One that starts in the
/// future cannot have rows yet (ingest takes nothing stamped more than a
/// few minutes ahead) and is created directly; an earlier one takes its
/// rows out of the default partition, which is detached meanwhile (in one
/// transaction: writers wait for it, nothing is lost). Returns the rows
/// moved.
async fn create(db: &Db, s: &Series, name: &str, start: i64, end: i64, now: i64) -> Result<u64, StoreError> {
    let table = s.table;
    let bounds = format!("FOR VALUES FROM ({start}) TO ({end})");
    if start > now.saturating_add(crate::monitoring::MAX_CLOCK_SKEW_MS) {
        sqlx::query(AssertSqlSafe(format!("CREATE TABLE {name} PARTITION OF {table} {bounds}")))
            .execute(&db.pool)
            .await?;
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let default = format!("{table}_default");
    sqlx::query(AssertSqlSafe(format!("ALTER TABLE {table} DETACH PARTITION {default}"))).execute(&mut *tx).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE TABLE {name} PARTITION OF {table} {bounds}"))).execute(&mut *tx).await?;
    let range = format!("{} >= {start} AND {} < {end}", s.column, s.column);
    let moved = sqlx::query(AssertSqlSafe(format!("INSERT INTO {name} SELECT * FROM {default} WHERE {range}")))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(AssertSqlSafe(format!("DELETE FROM {default} WHERE {range}"))).execute(&mut *tx).await?;
    sqlx::query(AssertSqlSafe(format!("ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT")))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i16, m: i8, d: i8) -> i64 {
        ms_of(Date::new(y, m, d).unwrap()).unwrap()
    }

    #[test]
    fn partitions_are_named_after_their_utc_start_and_read_back() {
        let (name, start, end) = partition("samples_timed", Span::Day, Date::new(2026, 12, 31).unwrap()).unwrap();
        assert_eq!((name.as_str(), start, end), ("samples_timed_20261231", ms(2026, 12, 31), ms(2027, 1, 1)));
        let (name, start, end) = partition("sample_rollups_5m", Span::Month, Date::new(2026, 2, 14).unwrap()).unwrap();
        assert_eq!((name.as_str(), start, end), ("sample_rollups_5m_202602", ms(2026, 2, 1), ms(2026, 3, 1)));
        assert_eq!(start_of("samples_timed", Span::Day, "samples_timed_20261231"), Date::new(2026, 12, 31).ok());
        assert_eq!(start_of("sample_rollups_5m", Span::Month, "sample_rollups_5m_202602"), Date::new(2026, 2, 1).ok());
        for other in
            ["samples_timed_default", "samples_timed_2026123", "samples_timed_20261332", "link_samples_20261231"]
        {
            assert_eq!(start_of("samples_timed", Span::Day, other), None, "{other}");
        }
    }

    #[test]
    fn the_wanted_partitions_run_from_the_cutoff_to_a_few_days_ahead() {
        let now = ms(2026, 12, 5) + 13 * 3_600_000;
        let days = wanted("t", Span::Day, now, 2);
        let names: Vec<&str> = days.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(names, ["t_20261203", "t_20261204", "t_20261205", "t_20261206", "t_20261207", "t_20261208"]);
        assert!(days.windows(2).all(|w| w[0].2 == w[1].1), "no gaps");
        let months = wanted("m", Span::Month, now, 40);
        let names: Vec<&str> = months.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(names, ["m_202610", "m_202611", "m_202612"]);
    }

    async fn n(db: &Db, sql: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(sql.to_string())).fetch_one(&db.pool).await.unwrap()
    }

    async fn exec(db: &Db, sql: String) {
        sqlx::query(AssertSqlSafe(sql)).execute(&db.pool).await.unwrap();
    }

    /// Partition retention drops old data only: rows stored before any
    /// pass (as right after the migration) move into dated partitions or,
    /// past retention, go; uplink events stay; a later pass drops whole
    /// partitions past the cutoff and nothing newer; a pass with nothing
    /// to do does nothing.
    #[tokio::test]
    async fn partition_retention_drops_old_data_only() {
        let Some(db) = crate::test_pg().await else { return };
        let now = crate::now_ms();
        let keep = Retention { raw_days: 30, five_min_days: 180, hourly_days: 1800 };
        let ago = |days: i64| now - days * DAY;
        // seq, kind (1: an uplink event), age in days
        for (seq, kind, days) in [(1, 0, 45), (2, 0, 31), (3, 0, 29), (4, 0, 0), (5, 1, 400)] {
            exec(
                &db,
                format!(
                    "INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us) \
                     VALUES (1, 1, {seq}, {kind}, 7, {}, 900)",
                    ago(days)
                ),
            )
            .await;
        }
        for days in [40, 1] {
            exec(
                &db,
                format!("INSERT INTO link_samples (device_id, ts_ms, role, radio) VALUES (7, {}, 0, 0)", ago(days)),
            )
            .await;
        }
        for (width, days) in [(FIVE_MIN, 200), (FIVE_MIN, 100), (HOUR, 2000), (HOUR, 100)] {
            exec(
                &db,
                format!(
                    "INSERT INTO sample_rollups (device_id, width_ms, t_ms, n, lost, rtt_sum_us, rtt_n) \
                     VALUES (7, {width}, {}, 1, 0, 900, 1)",
                    ago(days) / width * width
                ),
            )
            .await;
        }
        assert_eq!(n(&db, "SELECT COUNT(*) FROM samples_timed_default").await, 4, "all in the default partition");

        let pass = crate::rollup::run_once(&db, now, keep).await.unwrap();
        let p = &pass.partitions;
        assert!(p.dropped.is_empty(), "nothing dated to drop yet: {p:?}");
        assert!(p.created.iter().any(|c| c.starts_with("samples_timed_")), "{p:?}");
        assert!(p.moved >= 4, "the kept rows moved out of the defaults: {p:?}");
        let day = |ms: i64| partition("samples_timed", Span::Day, date_of(ms)).unwrap().0;
        for made in [day(ago(29)), day(now), day(now + AHEAD_MS)] {
            assert!(p.created.contains(&made), "{made} made: {p:?}");
        }
        assert!(!p.created.contains(&day(ago(10))), "no partition for a past day without rows: {p:?}");
        assert_eq!(
            n(&db, "SELECT COUNT(*) FROM samples WHERE seq IN (3, 4, 5)").await,
            3,
            "kept: 29 days, today, the uplink event"
        );
        assert_eq!(n(&db, "SELECT COUNT(*) FROM samples WHERE seq IN (1, 2)").await, 0, "past 30 days: gone");
        assert_eq!(n(&db, &format!("SELECT COUNT(*) FROM link_samples WHERE ts_ms = {}", ago(1))).await, 1);
        assert_eq!(n(&db, "SELECT COUNT(*) FROM link_samples").await, 1, "the 40-day link sample gone");
        let old_rollups = format!("SELECT COUNT(*) FROM sample_rollups WHERE t_ms < {}", ago(30));
        assert_eq!(n(&db, &old_rollups).await, 2, "5-minute and hourly buckets of 100 days kept, 200 and 2000 gone");
        for default in
            ["samples_timed_default", "link_samples_default", "sample_rollups_5m_default", "sample_rollups_1h_default"]
        {
            assert_eq!(n(&db, &format!("SELECT COUNT(*) FROM {default}")).await, 0, "{default} emptied");
        }
        // A new sample lands in its day's partition.
        exec(&db, format!("INSERT INTO samples (agent_id, boot_epoch, seq, kind, ts_ms) VALUES (1, 1, 6, 0, {now})"))
            .await;
        let today = partition("samples_timed", Span::Day, date_of(now)).unwrap().0;
        let holder: String =
            sqlx::query_scalar("SELECT CAST(CAST(tableoid AS regclass) AS TEXT) FROM samples WHERE seq = 6")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(holder, today);

        // Two days later the 29-day-old sample is past retention: its whole
        // partition goes, and only partitions older than the cutoff.
        let later = now + 2 * DAY;
        let pass = crate::rollup::run_once(&db, later, keep).await.unwrap();
        let p = &pass.partitions;
        assert!(!p.dropped.is_empty(), "{p:?}");
        let cutoff = later - 30 * DAY;
        for name in &p.dropped {
            let series = SERIES.iter().find(|s| start_of(s.table, s.span, name).is_some()).unwrap();
            let (_, _, end) =
                partition(series.table, series.span, start_of(series.table, series.span, name).unwrap()).unwrap();
            assert!(end <= later - (series.keep_days)(&keep) * DAY, "{name} ends after its cutoff");
        }
        assert_eq!(n(&db, &old_rollups).await, 2, "the 100-day buckets kept");
        assert_eq!(n(&db, "SELECT COUNT(*) FROM samples WHERE seq = 3").await, 0);
        assert_eq!(n(&db, "SELECT COUNT(*) FROM samples WHERE seq IN (4, 5, 6)").await, 3);
        assert_eq!(n(&db, &format!("SELECT COUNT(*) FROM samples_timed WHERE ts_ms >= {cutoff}")).await, 2);
        assert_eq!(n(&db, "SELECT COUNT(*) FROM link_samples").await, 1);

        let again = crate::rollup::run_once(&db, later, keep).await.unwrap();
        assert_eq!(again.partitions, Maintained::default(), "nothing left to do");
    }
}
