//! Staff UI latency under load: `cargo bench -p mast-controller --bench web`
//! (needs `wrk`: `apt-get install wrk`).
//!
//! Loads 10,000 devices (100 sites of 100) and 1,000,000 samples spread over
//! the past week into a fresh SQLite database (or `MAST_BENCH_DATABASE_URL`),
//! starts the real controller in-process, logs in, and measures the
//! dashboard, a site page and a week-long device chart with wrk
//! (2 threads, 4 and then 16 connections, 10 s each; wrk shares the 2 cores),
//! printing p50 and p99.

use mast_controller::db::Db;
use std::time::Instant;

mod support;

const SITES: i64 = 100;
const PER_SITE: i64 = 100;
const SAMPLES: i64 = 1_000_000;

async fn load(db: &Db) -> anyhow::Result<()> {
    let now = mast_controller::db::now_ms();
    let mut tx = db.pool.begin().await?;
    for s in 0..SITES {
        sqlx::query(
            "INSERT INTO sites (name, interval_ms, timeout_ms, revision, created_ms) VALUES ($1, 30000, 1000, 1, $2)",
        )
        .bind(format!("tower-{s:03}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for d in 0..PER_SITE {
            let up = (s * PER_SITE + d) % 50 != 0;
            sqlx::query(
                "INSERT INTO devices (site_id, addr, name, last_sample_ms, last_rtt_us, last_ok_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $4, $4)",
            )
            .bind(s + 1)
            .bind(format!("10.{}.{}.{}", s / 250, s % 250, d + 1))
            .bind(format!("cpe-{s:03}-{d:03}"))
            .bind(now - 10_000)
            .bind(up.then_some(1500 + d * 10))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    let devices = SITES * PER_SITE;
    let per_device = SAMPLES / devices;
    let step = 7 * 86_400_000 / per_device;
    let mut tx = db.pool.begin().await?;
    let batch = 400i64;
    let mut seq = 0i64;
    while seq < SAMPLES {
        let n = batch.min(SAMPLES - seq);
        let mut sql =
            String::from("INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us) VALUES ");
        for i in 0..n {
            let k = i * 4;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(1, 1, ${}, 0, ${}, ${}, ${})", k + 1, k + 2, k + 3, k + 4));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in 0..n {
            let s = seq + i;
            let device = s % devices + 1;
            let round = s / devices;
            let ts = now - 7 * 86_400_000 + round * step + (device % 1000);
            let rtt = if s % 37 == 0 { None } else { Some(800 + (s * 7919) % 40_000) };
            q = q.bind(s).bind(device).bind(ts).bind(rtt);
        }
        q.execute(&mut *tx).await?;
        seq += n;
    }
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = support::config(dir.path())?;
    let db = Db::connect(&cfg.database_url()).await?;
    let t = Instant::now();
    load(&db).await?;
    // A live database has planner statistics (autovacuum / `ANALYZE`); a
    // freshly bulk-loaded one does not yet.
    sqlx::query("ANALYZE").execute(&db.pool).await?;
    eprintln!("loaded {} devices and {SAMPLES} samples in {:?} ({:?})", SITES * PER_SITE, t.elapsed(), db.backend);
    let server = support::Server::start(&db, cfg).await?;
    let cases = [
        ("dashboard", "/"),
        ("site page (100 devices)", "/sites/42"),
        ("device chart, week", "/devices/4242/chart.svg?range=week"),
    ];
    println!("{:<26} {:>5} {:>10} {:>10} {:>12}", "page", "conns", "p50", "p99", "requests/s");
    for conns in [4, 16] {
        for (name, path) in &cases {
            let (p50, p99, rps) = server.wrk(path, conns).await?;
            println!("{name:<26} {conns:>5} {p50:>10} {p99:>10} {rps:>12}");
        }
    }
    server.stop().await;
    Ok(())
}
