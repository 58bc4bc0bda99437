//! Staff pages over a year of data on PostgreSQL:
//! `MAST_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mast_scale cargo bench -p mast-controller --bench scale`
//! (needs `wrk`: `apt-get install wrk`; the database is created if missing).
//!
//! Loads, server-side with `generate_series`, into the partitioned tables
//! (the dated partitions made by `partitions::maintain`, as the rollup
//! worker makes them):
//! - 500 sites of 100 devices: 50,000 devices;
//! - every device's pings at 30 s for the last `MAST_BENCH_RAW_HOURS` (2)
//!   hours: 12 million rows;
//! - for the first `MAST_BENCH_HISTORY_DEVICES` (5,000) devices, 8 days of
//!   5-minute rollups and a year of hourly rollups (what the week and year
//!   charts read): 11.5 and 43.8 million rows.
//!
//! A year of raw samples for 50,000 devices at 30 s would be 52 billion
//! rows, and the 30 days of raw retention alone 4.3 billion: more than this
//! machine's disk. Pages read raw samples only for the last hour (charts)
//! or ten minutes (lists), by index ranges per device, so the raw rows that
//! matter are the recent ones. A database that already holds the data is
//! reused (the load takes minutes): its devices are marked seen now.
//!
//! Then the real controller serves it, and wrk (2 threads, 4 connections,
//! 10 s each, on the same 2 cores) measures p50 and p99 of the pages staff
//! open most; a `{id}` in a path is a random site or device per request.

use mast_controller::db::{Backend, Db};
use mast_controller::{partitions, rollup};
use sqlx::Connection;
use std::time::Instant;

mod support;

const SITES: i64 = 500;
const PER_SITE: i64 = 100;
const HOUR: i64 = 3_600_000;
const FIVE_MIN: i64 = 300_000;

fn env_i64(name: &str, default: i64) -> anyhow::Result<i64> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
        Err(_) => Ok(default),
    }
}

/// Creates the database of `url` unless it exists.
async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let (server, name) = url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("{url}: no database name"))?;
    anyhow::ensure!(
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "{url}: the database name must be letters, digits and _"
    );
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    }
    Ok(())
}

/// Runs `sql` once per chunk `[lo, hi]` of `0..n` (the time steps, newest
/// first), binding `now`, `lo`, `hi`, `first` and `last` (device ids).
async fn generate(db: &Db, sql: &str, now: i64, n: i64, chunk: i64, devices: (i64, i64)) -> anyhow::Result<u64> {
    let mut rows = 0;
    let mut lo = 0;
    while lo < n {
        let hi = (lo + chunk).min(n) - 1;
        rows += sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(now)
            .bind(lo)
            .bind(hi)
            .bind(devices.0)
            .bind(devices.1)
            .execute(&db.pool)
            .await?
            .rows_affected();
        lo = hi + 1;
    }
    Ok(rows)
}

/// Pings at 30 s going back from `$1`, newest first; 1 in 97 lost.
const RAW: &str = "INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us, value) \
    SELECT d.site_id, 1, d.id * 1000000 + r, 0, d.id, $1 - r * 30000 - d.id % 30000, \
    CASE WHEN (d.id * 31 + r) % 97 = 0 THEN NULL ELSE 800 + (d.id * 7919 + r * 104729) % 40000 END, NULL \
    FROM generate_series(CAST($2 AS BIGINT), CAST($3 AS BIGINT)) AS r CROSS JOIN devices d \
    WHERE d.id BETWEEN $4 AND $5";

/// Rollups `width` ms wide of `n` pings each, going back from `$1`; 3 lost
/// in 1 of 53 buckets.
fn rollups(width: i64, n: i64) -> String {
    format!(
        "INSERT INTO sample_rollups (device_id, width_ms, t_ms, n, lost, rtt_sum_us, rtt_n) \
         SELECT d.id, {width}, $1 - b * {width}, {n}, x.lost, ({n} - x.lost) * (800 + (d.id * 7919 + b * 104729) % 40000), \
         {n} - x.lost \
         FROM generate_series(CAST($2 AS BIGINT), CAST($3 AS BIGINT)) AS b CROSS JOIN devices d \
         CROSS JOIN LATERAL (SELECT CASE WHEN (d.id + b) % 53 = 0 THEN 3 ELSE 0 END AS lost) AS x \
         WHERE d.id BETWEEN $4 AND $5"
    )
}

async fn load(db: &Db, now: i64, raw_hours: i64, history: i64) -> anyhow::Result<()> {
    let t = Instant::now();
    sqlx::query(
        "INSERT INTO sites (name, interval_ms, timeout_ms, revision, created_ms) \
         SELECT 'tower-' || LPAD(CAST(s AS TEXT), 3, '0'), 30000, 1000, 1, $1 FROM generate_series(0, $2 - 1) AS s",
    )
    .bind(now)
    .bind(SITES)
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "INSERT INTO devices (site_id, addr, name, last_sample_ms, last_rtt_us, last_ok_ms, created_ms) \
         SELECT s.id, '10.' || (g.n / 65536) || '.' || (g.n / 256 % 256) || '.' || (g.n % 256), 'cpe-' || g.n, \
         $1 - 10000, CASE WHEN g.n % 50 = 0 THEN NULL ELSE 1500 + g.n % 1000 * 10 END, $1 - 10000, $1 \
         FROM generate_series(0, $2 - 1) AS g(n) JOIN sites s ON s.name = 'tower-' || LPAD(CAST(g.n / $3 AS TEXT), 3, '0') \
         ORDER BY g.n",
    )
    .bind(now)
    .bind(SITES * PER_SITE)
    .bind(PER_SITE)
    .execute(&db.pool)
    .await?;
    let (first,): (i64,) = sqlx::query_as("SELECT MIN(id) FROM devices").fetch_one(&db.pool).await?;
    let last = first + SITES * PER_SITE - 1;
    let hour = now / HOUR * HOUR;
    let five = now / FIVE_MIN * FIVE_MIN;
    let raw_n = raw_hours * 120;
    let (five_n, hour_n) = (8 * 288, 365 * 24);
    let (five_minute, hourly) = (rollups(FIVE_MIN, 10), rollups(HOUR, 120));
    // The first device's rows first: the partition pass then makes every
    // dated partition they need, so the bulk goes straight into them.
    generate(db, RAW, now, raw_n, raw_n, (first, first)).await?;
    generate(db, &five_minute, five, five_n, five_n, (first, first)).await?;
    generate(db, &hourly, hour, hour_n, hour_n, (first, first)).await?;
    let keep = rollup::Retention { raw_days: 30, five_min_days: 180, hourly_days: 1825 };
    let made = partitions::maintain(db, now, keep).await?;
    eprintln!("{} partitions made", made.created.len());
    let raw = generate(db, RAW, now, raw_n, 60, (first + 1, last)).await?;
    eprintln!("{raw} raw samples ({:?})", t.elapsed());
    let h_last = first + history - 1;
    let f = generate(db, &five_minute, five, five_n, 288, (first + 1, h_last)).await?;
    eprintln!("{f} 5-minute rollups ({:?})", t.elapsed());
    let h = generate(db, &hourly, hour, hour_n, 720, (first + 1, h_last)).await?;
    eprintln!("{h} hourly rollups ({:?})", t.elapsed());
    // A live database has planner statistics and a visibility map
    // (autovacuum); a freshly bulk-loaded one not yet.
    sqlx::query("VACUUM ANALYZE").execute(&db.pool).await?;
    eprintln!("loaded in {:?}", t.elapsed());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("MAST_BENCH_DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("set MAST_BENCH_DATABASE_URL=postgres://user@host:port/database"))?;
    anyhow::ensure!(url.starts_with("postgres"), "this bench is for PostgreSQL");
    let raw_hours = env_i64("MAST_BENCH_RAW_HOURS", 2)?.clamp(1, 24 * 30);
    let history = env_i64("MAST_BENCH_HISTORY_DEVICES", 5_000)?.clamp(1, SITES * PER_SITE);
    ensure_database(&url).await?;
    let dir = tempfile::tempdir()?;
    let cfg = support::config(dir.path())?;
    let db = Db::connect(&cfg.database_url()).await?;
    anyhow::ensure!(db.backend == Backend::Postgres, "this bench is for PostgreSQL");
    let now = mast_controller::db::now_ms();
    let (devices,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM devices").fetch_one(&db.pool).await?;
    if devices == 0 {
        load(&db, now, raw_hours, history).await?;
    } else {
        anyhow::ensure!(devices == SITES * PER_SITE, "{url} holds {devices} devices, not this bench's data");
        let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(ts_ms) FROM samples").fetch_one(&db.pool).await?;
        eprintln!("reusing {url}: its newest sample is {} min old", (now - newest.unwrap_or(0)) / 60_000);
        sqlx::query("UPDATE devices SET last_sample_ms = $1 - 10000, last_ok_ms = $1 - 10000")
            .bind(now)
            .execute(&db.pool)
            .await?;
    }
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT 'samples', COUNT(*) FROM samples UNION ALL \
         SELECT 'rollups', COUNT(*) FROM sample_rollups UNION ALL \
         SELECT 'database MB', CAST(pg_database_size(current_database()) / 1048576 AS BIGINT)",
    )
    .fetch_all(&db.pool)
    .await?;
    eprintln!("{counts:?}");
    let (first,): (i64,) = sqlx::query_as("SELECT MIN(id) FROM devices").fetch_one(&db.pool).await?;
    anyhow::ensure!(first == 1, "device ids must start at 1 (a fresh database)");
    let server = support::Server::start(&db, cfg).await?;
    let all = SITES * PER_SITE;
    let cases: [(&str, &str, i64); 12] = [
        ("dashboard", "/", 0),
        ("dashboard, live part", "/live/dashboard", 0),
        ("sites (500)", "/sites", 0),
        ("site page (100 devices)", "/sites/{id}", SITES),
        ("devices, first page", "/devices", 0),
        ("device page", "/devices/{id}", all),
        ("RTT chart, hour (raw)", "/devices/{id}/chart.svg?range=hour", all),
        ("RTT chart, week (5 min)", "/devices/{id}/chart.svg?range=week", history),
        ("RTT chart, year (hourly)", "/devices/{id}/chart.svg?range=year", history),
        ("availability report", "/reports/availability", 0),
        ("weak links", "/network/links", 0),
        ("site map data", "/sites/map.json", 0),
    ];
    println!("{:<28} {:>5} {:>10} {:>10} {:>12}", "page", "conns", "p50", "p99", "requests/s");
    for (name, path, ids) in cases {
        let (base, cookie) = (server.base.clone(), server.cookie.clone());
        let (p50, p99, rps) = tokio::task::spawn_blocking(move || {
            if ids > 0 {
                support::wrk_ids(&base, path, ids, &cookie, 4)
            } else {
                support::wrk(&format!("{base}{path}"), &cookie, 4)
            }
        })
        .await??;
        println!("{name:<28} {:>5} {p50:>10} {p99:>10} {rps:>12}", 4);
    }
    server.stop().await;
    Ok(())
}
