//! A reconnect storm: a thousand agents (simulated, speaking the real
//! protocol over QUIC with mutual TLS, enrolled by token) stream to a
//! controller that is stopped and started again; every one comes back and
//! streams again, and every sample is stored exactly once. How fast is
//! measured by `benches/ingest.rs` (release build, PostgreSQL).

use mast_tests::load::{self, Counters, Load};
use mast_tests::*;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const AGENTS: u32 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_agents_come_back_after_a_restart_and_lose_nothing() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(mut c) = Controller::start(Backend::Sqlite, &[]).await? else { return Ok(()) };
    c.cli_ok(&["site", "add", "storm", "--interval", "60"]);
    let dir = tempfile::tempdir()?;
    let fleet = load::enroll(&c, "storm", AGENTS, dir.path(), 16).await?;
    let eps = load::endpoints(fleet.len(), 50)?;
    let counters = Arc::new(Counters::default());
    let (addrs_tx, addrs) = watch::channel(vec![c.quic]);
    let (_stop_tx, stop) = watch::channel(false);
    let work = Load { devices: 10, interval: Duration::from_secs(10), rounds: 9, backlog: 0 };
    let tasks = load::spawn(&fleet, &eps, &addrs, work, &stop, &counters);
    let n = u64::from(AGENTS);
    until("every agent streaming", 90, || counters.streaming.load(Relaxed) >= n).await?;

    let (links0, streaming0) = (counters.links.load(Relaxed), counters.streaming.load(Relaxed));
    c.terminate()?;
    c.start_again()?;
    addrs_tx.send(vec![c.quic])?;
    let t = Instant::now();
    until("every agent connected again", 120, || counters.links.load(Relaxed) - links0 >= n).await?;
    let back = t.elapsed();
    until("every agent caught up", 120, || counters.streaming.load(Relaxed) - streaming0 >= n).await?;
    eprintln!(
        "{AGENTS} agents connected {:.1} s and caught up {:.1} s after the restart (debug build)",
        back.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );

    let mut made = 0u64;
    for t in tasks {
        let e = tokio::time::timeout(Duration::from_secs(180), t).await???;
        assert_eq!(e.acked, e.made, "agent {} acknowledged up to {} of {}", e.id, e.acked, e.made);
        made += e.made;
    }
    assert_eq!(made, n * 9 * 10);
    let db = c.db().await?;
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM samples WHERE kind = 0").fetch_one(&db.pool).await?;
    let (counted,): (i64,) = sqlx::query_as("SELECT CAST(COALESCE(SUM(stored), 0) AS BIGINT) FROM delivery_counts")
        .fetch_one(&db.pool)
        .await?;
    assert_eq!((rows as u64, counted as u64), (made, made), "every sample stored once");
    Ok(())
}
