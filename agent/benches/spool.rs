//! Spool benchmark: `cargo bench -p mast-agent --bench spool`
//!
//! Appends with group commit vs a naive fsync-per-sample baseline in the same
//! run (same disk, same encoding), replay throughput, and bytes per sample on
//! disk for a realistic tower (1,000 targets, RTTs 0.5-50 ms, 5 % lost).

use mast_agent::spool::Spool;
use mast_agent::spool::ledger::Limits;
use mast_shared::SampleBody;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

fn sample(i: u64) -> SampleBody {
    let target = IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 20, 0, 0)) + (i % 1000) as u32));
    // Deterministic pseudo-random RTTs and 5 % loss.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
    let rtt_us = (h % 100 >= 5).then_some(500 + (h % 49_500) as u32);
    SampleBody::Ping { target, rtt_us }
}

fn main() {
    let limits = Limits { segment_bytes: 8 << 20, cap_bytes: 1 << 30, flush_bytes: 64 << 10, flush_ms: 100 };
    let n: u64 = std::env::var("SPOOL_BENCH_SAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let naive_n: u64 = 2_000;

    // Group commit: the policy decides when to fsync (64 KiB or 100 ms).
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = Spool::open(dir.path(), 1, limits).expect("open");
    let t = Instant::now();
    let ts0 = 1_795_000_000_000i64;
    for i in 0..n {
        // 1,000 targets per 30 s round.
        let ts = ts0 + (i / 1000) as i64 * 30_000;
        spool.push(ts, sample(i), t.elapsed().as_millis() as u64);
        if spool.flush_due(t.elapsed().as_millis() as u64) {
            spool.flush().expect("flush");
        }
    }
    spool.flush().expect("flush");
    let group = t.elapsed();
    let group_rate = n as f64 / group.as_secs_f64();
    let bytes = spool.disk_bytes();

    // Replay: read everything back as the link would, in batches of 1,000.
    let t = Instant::now();
    let mut after = None;
    let mut replayed = 0u64;
    loop {
        let batch = spool.read_after(after, 1000).expect("read");
        let Some(last) = batch.last() else { break };
        after = Some((last.boot_epoch, last.seq));
        replayed += batch.len() as u64;
    }
    let replay = t.elapsed();
    assert_eq!(replayed, n);

    // Naive baseline: one fsync per sample.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let (mut naive, _) = Spool::open(dir2.path(), 1, limits).expect("open");
    let t = Instant::now();
    for i in 0..naive_n {
        naive.push(ts0, sample(i), 0);
        naive.flush().expect("flush");
    }
    let naive_rate = naive_n as f64 / t.elapsed().as_secs_f64();

    let per = bytes as f64 / n as f64;
    println!("spool append, group commit:   {n} samples in {group:?} = {group_rate:.0} samples/s");
    println!("spool append, fsync/sample:   {naive_n} samples = {naive_rate:.0} samples/s");
    println!("ratio group commit / naive:   {:.0}x", group_rate / naive_rate);
    println!(
        "replay:                       {replayed} samples in {replay:?} = {:.0} samples/s",
        replayed as f64 / replay.as_secs_f64()
    );
    println!("bytes per ping sample on disk: {per:.2} (block headers included)");
    println!("24 h outage, 1,000 targets every 30 s: {} samples = {:.1} MB", 2_880_000, 2_880_000.0 * per / 1e6);
}
