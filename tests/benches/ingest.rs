//! Ingest at scale: `cargo bench -p mast-tests --bench ingest`
//!
//! Three parts, each against a release-built controller on this machine
//! (`MAST_BENCH_PARTS`, default `ceiling,fleet`; `MAST_BENCH_BACKENDS`,
//! default `sqlite,postgres`):
//!
//! - **ceiling**: the raw ceiling and end-to-end ingest of the same rows.
//!   The ceiling writes `MAST_BENCH_AGENTS` (8) × `MAST_BENCH_BACKLOG`
//!   (250,000: 2 million, long enough for a steady state) ping rows straight into a freshly migrated `samples` table
//!   (its primary key and indexes): PostgreSQL `COPY ... FROM STDIN`, SQLite
//!   multi-row `INSERT`s of 1,000 rows in transactions of 100,000 (as fast
//!   as Python's `sqlite3.executemany` on the same table, measured). End to end, as many simulated agents
//!   (`mast_tests::load`: real QUIC, mutual TLS, enrolled by token) drain a
//!   backlog of that many samples each into a fresh controller; the rate is
//!   samples stored over the time until the last one is acknowledged, and
//!   the stored count is checked.
//! - **fleet**: `MAST_BENCH_FLEET` (1,000) agents × `MAST_BENCH_DEVICES`
//!   (200) devices pinged every `MAST_BENCH_INTERVAL` (30) s, on PostgreSQL
//!   (the backend for fleets that size): the controller's memory with no
//!   agent and with every agent connected and idle (per idle connection);
//!   then `MAST_BENCH_SECS` (90) s sustained: samples/s stored, ack latency
//!   p50/p99, controller CPU, what is left unacknowledged (backlog growth);
//!   then a **reconnect storm**: the controller stopped and started again,
//!   the time until every agent is connected and streaming again; then
//!   every sample is checked stored exactly once.
//!
//! The load generator runs in this process on the same two cores as the
//! controller and the database: the end-to-end figures include its cost.

use mast_tests::load::{self, Counters, Load};
use mast_tests::*;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn list(k: &str, d: &str) -> Vec<String> {
    std::env::var(k).unwrap_or_else(|_| d.into()).split(',').map(|s| s.trim().to_string()).collect()
}

fn name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let parts = list("MAST_BENCH_PARTS", "ceiling,fleet");
    let backends: Vec<Backend> = list("MAST_BENCH_BACKENDS", "sqlite,postgres")
        .iter()
        .map(|b| if b == "postgres" { Backend::Postgres } else { Backend::Sqlite })
        .collect();
    if parts.iter().any(|p| p == "ceiling") {
        for &b in &backends {
            ceiling_vs_end_to_end(b).await?;
        }
    }
    if parts.iter().any(|p| p == "fleet") {
        fleet(if backends.contains(&Backend::Postgres) { Backend::Postgres } else { Backend::Sqlite }).await?;
    }
    Ok(())
}

/// The ping rows agent `a` (1-based) sends: (seq, device, ts, rtt).
fn rows(agents: u64, per: u64) -> impl Iterator<Item = (i64, i64, i64, i64, Option<i64>)> {
    let now = 1_780_000_000_000i64;
    (1..=agents).flat_map(move |a| {
        (1..=per).map(move |s| {
            let rtt = (s % 50 != 0).then_some(800 + (s % 400) as i64);
            (a as i64, s as i64, (a * 1000 + s % 200) as i64, now - 3_600_000 + s as i64 * 10, rtt)
        })
    })
}

async fn ceiling(b: Backend, agents: u64, per: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let pg;
    let url = match b {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("ceiling.db").display()),
        Backend::Postgres => {
            pg = PgDb::create().await?.ok_or_else(|| anyhow::anyhow!("PostgreSQL unreachable"))?;
            pg.url.clone()
        }
    };
    let db = mast_store::db::Db::connect(&url).await?;
    let total = agents * per;
    let t = Instant::now();
    match b {
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            let mut copy = conn
                .copy_in_raw(
                    "COPY samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us, value) FROM STDIN",
                )
                .await?;
            let mut buf = String::with_capacity(8 << 20);
            for (a, s, d, ts, rtt) in rows(agents, per) {
                use std::fmt::Write;
                let rtt = rtt.map_or("\\N".to_string(), |r| r.to_string());
                let _ = writeln!(buf, "{a}\t1\t{s}\t0\t{d}\t{ts}\t{rtt}\t\\N");
                if buf.len() > (4 << 20) {
                    copy.send(buf.as_bytes()).await?;
                    buf.clear();
                }
            }
            copy.send(buf.as_bytes()).await?;
            copy.finish().await?;
        }
        Backend::Sqlite => {
            let all: Vec<_> = rows(agents, per).collect();
            for tx_rows in all.chunks(100_000) {
                let mut tx = db.begin().await?;
                for chunk in tx_rows.chunks(1000) {
                    let mut sql = String::from(
                        "INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us, value) VALUES ",
                    );
                    // `?` binds: the sqlx SQLite driver resolves `$n` binds in
                    // quadratic time (see the ingest's `values_list`).
                    for i in 0..chunk.len() {
                        sql.push_str(if i == 0 {
                            "(?, 1, ?, 0, ?, ?, ?, NULL)"
                        } else {
                            ", (?, 1, ?, 0, ?, ?, ?, NULL)"
                        });
                    }
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for &(a, s, d, ts, rtt) in chunk {
                        q = q.bind(a).bind(s).bind(d).bind(ts).bind(rtt);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM samples").fetch_one(&db.pool).await?;
    anyhow::ensure!(n as u64 == total, "ceiling stored {n} of {total}");
    Ok(total as f64 / secs)
}

async fn ceiling_vs_end_to_end(b: Backend) -> anyhow::Result<()> {
    let agents = env_u64("MAST_BENCH_AGENTS", 8);
    let per = env_u64("MAST_BENCH_BACKLOG", 250_000);
    let raw = ceiling(b, agents, per).await?;
    let Some(c) = Controller::start(b, &[]).await? else { anyhow::bail!("controller did not start") };
    c.cli_ok(&["site", "add", "load", "--interval", "60"]);
    let dir = tempfile::tempdir()?;
    let fleet = load::enroll(&c, "load", agents as u32, dir.path(), 8).await?;
    let eps = load::endpoints(fleet.len(), 1)?;
    let counters = Arc::new(Counters::default());
    let (_addr_tx, addr) = watch::channel(vec![c.quic]);
    let (_stop_tx, stop) = watch::channel(false);
    let work = Load { devices: 200, interval: Duration::from_secs(86_400), rounds: 0, backlog: per };
    let cpu0 = load::cpu_secs(c.pid().unwrap_or(0)).unwrap_or(0.0);
    let t = Instant::now();
    let gen0 = load::cpu_secs(std::process::id()).unwrap_or(0.0);
    for task in load::spawn(&fleet, &eps, &addr, work, &stop, &counters) {
        task.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = load::cpu_secs(c.pid().unwrap_or(0)).unwrap_or(0.0) - cpu0;
    let generator = load::cpu_secs(std::process::id()).unwrap_or(0.0) - gen0;
    let total = agents * per;
    let db = c.db().await?;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM samples WHERE kind = 0").fetch_one(&db.pool).await?;
    anyhow::ensure!(n as u64 == total, "end to end stored {n} of {total}");
    let e2e = total as f64 / secs;
    println!(
        "{}: {total} samples from {agents} agents: ceiling {raw:.0} rows/s; end to end through QUIC {e2e:.0} samples/s \
         ({:.2}x the ceiling; ack p50 {:.1} ms, p99 {:.1} ms; controller CPU {:.0} % of one core, \
         the simulated agents' {:.0} %)",
        name(b),
        e2e / raw,
        counters.latency_ms(50.0).unwrap_or(f64::NAN),
        counters.latency_ms(99.0).unwrap_or(f64::NAN),
        cpu / secs * 100.0,
        generator / secs * 100.0,
    );
    Ok(())
}

async fn wait(what: &str, secs: u64, mut ok: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    let t = Instant::now();
    while !ok() {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(secs), "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(t.elapsed())
}

async fn fleet(b: Backend) -> anyhow::Result<()> {
    let n = env_u64("MAST_BENCH_FLEET", 1000);
    let devices = env_u64("MAST_BENCH_DEVICES", 200) as u32;
    let interval = Duration::from_secs(env_u64("MAST_BENCH_INTERVAL", 30));
    let secs = env_u64("MAST_BENCH_SECS", 90);
    let Some(mut c) = Controller::start(b, &[]).await? else { anyhow::bail!("controller did not start") };
    c.cli_ok(&["site", "add", "load", "--interval", "60"]);
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    let fleet = load::enroll(&c, "load", n as u32, dir.path(), 16).await?;
    println!("{}: {n} agents enrolled in {:.1} s", name(b), t.elapsed().as_secs_f64());
    let eps = load::endpoints(fleet.len(), 50)?;
    let (addr_tx, addr) = watch::channel(vec![c.quic]);

    // Memory per idle connection.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss0 = c.rss_kb().unwrap_or(0);
    let idle = Arc::new(Counters::default());
    let (stop_idle, stop) = watch::channel(false);
    let never = Load { devices: 0, interval: Duration::from_secs(86_400), rounds: u64::MAX, backlog: 0 };
    let tasks = load::spawn(&fleet, &eps, &addr, never, &stop, &idle);
    let took = wait("idle fleet connected", 120, || idle.up.load(Relaxed) == n).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss1 = c.rss_kb().unwrap_or(0);
    println!(
        "{}: {n} idle agents connected in {:.1} s; controller RSS {} MB alone, {} MB with them: {:.1} KB per idle connection",
        name(b),
        took.as_secs_f64(),
        rss0 / 1024,
        rss1 / 1024,
        rss1.saturating_sub(rss0) as f64 / n as f64
    );
    stop_idle.send(true)?;
    for t in tasks {
        t.await??;
    }

    // Sustained.
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let rounds = secs / interval.as_secs().max(1) + 2;
    let work = Load { devices, interval, rounds, backlog: 0 };
    let pid = c.pid().unwrap_or(0);
    let tasks = load::spawn(&fleet, &eps, &addr, work, &stop, &counters);
    wait("fleet connected", 120, || counters.up.load(Relaxed) == n).await?;
    let (cpu0, acked0, t0) = (load::cpu_secs(pid).unwrap_or(0.0), counters.acked.load(Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = load::cpu_secs(pid).unwrap_or(0.0) - cpu0;
    let stored = counters.acked.load(Relaxed) - acked0;
    let offered = n as f64 * f64::from(devices) / interval.as_secs_f64();
    println!(
        "{}: {n} agents x {devices} devices every {} s for {secs} s: offered {offered:.0} samples/s, stored {:.0}/s; \
         ack p50 {:.1} ms, p99 {:.1} ms; controller CPU {:.0} % of one core, RSS {} MB",
        name(b),
        interval.as_secs(),
        stored as f64 / wall,
        counters.latency_ms(50.0).unwrap_or(f64::NAN),
        counters.latency_ms(99.0).unwrap_or(f64::NAN),
        cpu / wall * 100.0,
        c.rss_kb().unwrap_or(0) / 1024,
    );

    // Reconnect storm.
    let (links0, streaming0) = (counters.links.load(Relaxed), counters.streaming.load(Relaxed));
    let t = Instant::now();
    c.terminate()?;
    let down = t.elapsed();
    c.start_again()?;
    addr_tx.send(vec![c.quic])?;
    let back = wait("every agent connected again", 300, || counters.links.load(Relaxed) - links0 >= n).await?;
    let caught_up =
        back + wait("every agent caught up", 300, || counters.streaming.load(Relaxed) - streaming0 >= n).await?;
    println!(
        "{}: reconnect storm: the controller stopped in {:.1} s; {n} agents connected again {:.1} s and caught up \
         (everything held during the restart acknowledged) {:.1} s after it listened",
        name(b),
        down.as_secs_f64(),
        back.as_secs_f64(),
        caught_up.as_secs_f64()
    );

    // Every round made, every sample acknowledged; then stored once each.
    let mut made = 0;
    for t in tasks {
        let e = t.await??;
        anyhow::ensure!(e.acked == e.made, "agent {} has {} of {} acknowledged", e.id, e.acked, e.made);
        made += e.made;
    }
    drop(stop_tx);
    let db = c.db().await?;
    let (rows, keys): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(stored), 0) AS BIGINT) FROM delivery_counts WHERE agent_id > 0",
    )
    .fetch_optional(&db.pool)
    .await?
    .unwrap_or((0, 0));
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM samples WHERE kind = 0").fetch_one(&db.pool).await?;
    println!(
        "{}: {made} samples made, {stored} stored, {keys} counted stored once ({rows} epochs): {}",
        name(b),
        if stored as u64 == made && keys as u64 == made { "none lost or duplicated" } else { "MISMATCH" }
    );
    anyhow::ensure!(stored as u64 == made && keys as u64 == made, "samples lost or duplicated");
    Ok(())
}
