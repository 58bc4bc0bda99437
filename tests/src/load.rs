//! A load generator: simulated agents that speak the real protocol to a real
//! controller over QUIC with mutual TLS. Each is enrolled through the real
//! token flow (`POST /api/v1/agents`, then the agent's own enrollment code
//! over QUIC), keeps its unacknowledged samples in memory (the spool of a
//! real agent), sends them in batches of up to 1,000 with a window of 4
//! unacknowledged batches like the agent's link, and reconnects with
//! jittered backoff, resending from what the controller says it committed.
//!
//! Used by `benches/ingest.rs` (throughput, sustained fleets, reconnect
//! storms) and `tests/storm.rs`.

use crate::Controller;
use anyhow::{Context, bail};
use mast_shared::io::{read_frame, write_frame};
use mast_shared::{AgentMsg, ControllerMsg, Hello, PROTOCOL_VERSION, Sample, SampleBatch, SampleBody};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Samples per batch and batches in flight: as the agent's link.
pub const BATCH: usize = 1_000;
pub const WINDOW: usize = 4;

/// An enrolled simulated agent.
#[derive(Clone)]
pub struct SimAgent {
    pub id: u64,
    /// Its place in the fleet: its devices are `10.{index / 256}.{index % 256}.d`.
    pub index: u32,
    cfg: quinn::ClientConfig,
}

/// Enrolls `n` agents on `site` (which must exist), `parallel` at a time;
/// their state directories go under `dir`.
pub async fn enroll(c: &Controller, site: &str, n: u32, dir: &Path, parallel: usize) -> anyhow::Result<Vec<SimAgent>> {
    let token = c.admin_token();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for index in 0..n {
        let (st, v) = c.post_json("/api/v1/agents", &token, &serde_json::json!({"site": site})).await?;
        if st != 201 {
            bail!("adding agent {index}: {st} {v}");
        }
        let tok = v["token"].as_str().context("token")?.to_string();
        let fp = v["ca_fingerprint"].as_str().context("fingerprint")?.to_string();
        let state = dir.join(format!("agent-{index}"));
        let quic = c.quic.to_string();
        let permit = sem.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let id = mast_agent::enroll::enroll(&quic, &tok, &fp, &state).await?;
            let e = mast_agent::identity::load_enrollment(&state)?;
            let cfg = mast_agent::tls::link_config(&e.ca_der, &e.cert_der, &e.key_pem)?;
            anyhow::Ok(SimAgent { id: id.agent_id, index, cfg })
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// What each agent does.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Devices per agent (pinged once per round).
    pub devices: u32,
    /// Time between rounds.
    pub interval: Duration,
    /// Live rounds; 0 for none (only the backlog).
    pub rounds: u64,
    /// Samples waiting when the agent starts (a backhaul outage's spool).
    pub backlog: u64,
}

/// Figures shared by a fleet's agents.
#[derive(Default)]
pub struct Counters {
    /// Samples acknowledged by the controller.
    pub acked: AtomicU64,
    /// Links established (a welcome received).
    pub links: AtomicU64,
    /// Agents whose link is up now.
    pub up: AtomicU64,
    /// Links on which the agent caught up: everything it held when the
    /// link came up is acknowledged (at once, if it held nothing).
    pub streaming: AtomicU64,
    /// Batch send → ack, microseconds.
    pub latencies_us: Mutex<Vec<u32>>,
}

impl Counters {
    /// The `p`-th percentile of the ack latencies, ms.
    pub fn latency_ms(&self, p: f64) -> Option<f64> {
        let mut v = self.latencies_us.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let i = ((v.len() - 1) as f64 * p / 100.0).round() as usize;
        Some(f64::from(v[i]) / 1000.0)
    }
}

/// How an agent ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub id: u64,
    /// Samples it made (seq 1..=made of boot epoch 1).
    pub made: u64,
    /// Highest seq the controller acknowledged.
    pub acked: u64,
}

/// The `k`-th address of agent `index`'s devices.
pub fn device_addr(index: u32, k: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, (index / 256) as u8, (index % 256) as u8, (k % 250 + 1) as u8))
}

fn sample(a: &SimAgent, seq: u64, ts_ms: i64, k: u32) -> Sample {
    // One ping in 50 unanswered.
    let rtt_us = (!seq.is_multiple_of(50)).then_some(800 + (seq % 400) as u32);
    Sample { boot_epoch: 1, seq, ts_ms, body: SampleBody::Ping { target: device_addr(a.index, k), rtt_us } }
}

/// One probing round: a ping of each device, now.
fn round(a: &SimAgent, devices: u32, made: &mut u64, queue: &mut VecDeque<Sample>) {
    let ts = now_ms();
    for k in 0..devices {
        *made += 1;
        queue.push_back(sample(a, *made, ts, k));
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A small deterministic jitter from an agent's id.
fn jitter(id: u64, salt: u64, max: Duration) -> Duration {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    Duration::from_millis(x % (max.as_millis() as u64).max(1))
}

/// Runs one agent until its rounds are made and every sample is
/// acknowledged, or `stop` turns true. Reconnects on any link failure,
/// moving to the next of `controllers` (several controllers on one
/// database; agent `i` starts at address `i`), as the agent's link does.
pub async fn run(
    a: SimAgent,
    ep: quinn::Endpoint,
    controllers: watch::Receiver<Vec<SocketAddr>>,
    load: Load,
    mut stop: watch::Receiver<bool>,
    counters: Arc<Counters>,
) -> anyhow::Result<Ended> {
    let mut queue: VecDeque<Sample> = VecDeque::new();
    let mut made = 0u64;
    let start_ms = now_ms();
    // The backlog: the last hour, oldest first.
    for i in 0..load.backlog {
        made += 1;
        let ts = start_ms - 3_600_000 + (i * 3_600_000 / load.backlog.max(1)) as i64;
        queue.push_back(sample(&a, made, ts, (i % u64::from(load.devices.max(1))) as u32));
    }
    let mut rounds = 0u64;
    let mut next_round = tokio::time::Instant::now() + jitter(a.id, 1, load.interval);
    let mut acked = 0u64;
    let mut failures = 0u32;
    let mut next = a.index as usize;
    loop {
        if *stop.borrow() || (rounds >= load.rounds && queue.is_empty()) {
            return Ok(Ended { id: a.id, made, acked });
        }
        // Probing goes on while the link is down: rounds due are queued.
        while rounds < load.rounds && tokio::time::Instant::now() >= next_round {
            round(&a, load.devices, &mut made, &mut queue);
            rounds += 1;
            next_round += load.interval;
        }
        let addr = {
            let list = controllers.borrow();
            anyhow::ensure!(!list.is_empty(), "no controller address");
            list[next % list.len()]
        };
        let link = match connect(&a, &ep, addr).await {
            Ok(l) => l,
            Err(_) => {
                failures += 1;
                next += 1;
                let wait = Duration::from_millis(100 * 2u64.pow(failures.min(4)));
                tokio::select! {
                    _ = tokio::time::sleep(jitter(a.id, u64::from(failures), wait)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        failures = 0;
        counters.links.fetch_add(1, Relaxed);
        counters.up.fetch_add(1, Relaxed);
        let Link { conn, mut send, mut acks, last_committed } = link;
        // What the controller holds is not sent again.
        if let Some(c) = last_committed {
            acked = acked.max(c);
            while queue.front().is_some_and(|s| s.seq <= c) {
                queue.pop_front();
            }
        }
        let mut in_flight: VecDeque<(u64, usize, Instant)> = VecDeque::new();
        let mut sent = 0usize; // samples of `queue` sent on this link
        let mut streaming = queue.is_empty();
        if streaming {
            counters.streaming.fetch_add(1, Relaxed);
        }
        let lost = 'link: loop {
            while in_flight.len() < WINDOW && sent < queue.len() {
                let n = (queue.len() - sent).min(BATCH);
                let samples: Vec<Sample> = queue.range(sent..sent + n).cloned().collect();
                let last = samples[n - 1].seq;
                let msg = AgentMsg::Samples(SampleBatch { agent_id: a.id, samples });
                if write_frame(&mut send, &msg).await.is_err() {
                    break 'link true;
                }
                in_flight.push_back((last, n, Instant::now()));
                sent += n;
            }
            if *stop.borrow() || (rounds >= load.rounds && queue.is_empty()) {
                break false;
            }
            let live = rounds < load.rounds;
            tokio::select! {
                ack = acks.recv() => {
                    let Some(ack_seq) = ack else { break true };
                    while in_flight.front().is_some_and(|(last, _, _)| *last <= ack_seq) {
                        let (_, n, at) = in_flight.pop_front().expect("front");
                        counters.latencies_us.lock().unwrap_or_else(|e| e.into_inner())
                            .push(at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        sent -= n;
                    }
                    let before = queue.len();
                    while queue.front().is_some_and(|s| s.seq <= ack_seq) {
                        queue.pop_front();
                    }
                    counters.acked.fetch_add((before - queue.len()) as u64, Relaxed);
                    acked = acked.max(ack_seq);
                    if !streaming && queue.is_empty() {
                        streaming = true;
                        counters.streaming.fetch_add(1, Relaxed);
                    }
                }
                _ = tokio::time::sleep_until(next_round), if live => {
                    round(&a, load.devices, &mut made, &mut queue);
                    rounds += 1;
                    next_round += load.interval;
                }
                _ = stop.changed() => {}
            }
        };
        counters.up.fetch_sub(1, Relaxed);
        next += 1;
        if !lost {
            conn.close(0u32.into(), b"done");
            return Ok(Ended { id: a.id, made, acked });
        }
    }
}

struct Link {
    conn: quinn::Connection,
    send: quinn::SendStream,
    acks: mpsc::UnboundedReceiver<u64>,
    last_committed: Option<u64>,
}

async fn connect(a: &SimAgent, ep: &quinn::Endpoint, addr: SocketAddr) -> anyhow::Result<Link> {
    let conn = tokio::time::timeout(
        Duration::from_secs(10),
        ep.connect_with(a.cfg.clone(), addr, mast_shared::CONTROLLER_SERVER_NAME)?,
    )
    .await??;
    let (mut send, mut recv) = conn.open_bi().await?;
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_id: a.id,
        agent_version: "0.0.0-load".into(),
        boot_epoch: 1,
        target: crate::host_target().into(),
    };
    write_frame(&mut send, &AgentMsg::Hello(hello)).await?;
    let welcome =
        match tokio::time::timeout(Duration::from_secs(10), read_frame::<_, ControllerMsg>(&mut recv)).await?? {
            ControllerMsg::Welcome(w) => w,
            other => bail!("expected a welcome, got {other:?}"),
        };
    let last_committed = welcome.last_committed.filter(|c| c.boot_epoch == 1).map(|c| c.seq);
    let (tx, acks) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Acks forwarded; config pushes and the rest ignored; the channel
        // closes when the link does.
        while let Ok(m) = read_frame::<_, ControllerMsg>(&mut recv).await {
            if let ControllerMsg::Ack(a) = m
                && tx.send(a.seq).is_err()
            {
                return;
            }
        }
    });
    Ok(Link { conn, send, acks, last_committed })
}

/// Runs every agent of `fleet` (spread over `endpoints`) with `load`
/// until `stop`, each on its own task.
pub fn spawn(
    fleet: &[SimAgent],
    endpoints: &[quinn::Endpoint],
    controllers: &watch::Receiver<Vec<SocketAddr>>,
    load: Load,
    stop: &watch::Receiver<bool>,
    counters: &Arc<Counters>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<Ended>>> {
    fleet
        .iter()
        .cloned()
        .zip(endpoints.iter().cycle())
        .map(|(a, ep)| tokio::spawn(run(a, ep.clone(), controllers.clone(), load, stop.clone(), counters.clone())))
        .collect()
}

/// Client endpoints for a fleet: one UDP socket per `per` agents.
pub fn endpoints(n: usize, per: usize) -> anyhow::Result<Vec<quinn::Endpoint>> {
    (0..n.div_ceil(per.max(1)).max(1)).map(|_| Ok(quinn::Endpoint::client("127.0.0.1:0".parse()?)?)).collect()
}

/// CPU time (user + system) of a process, seconds, from `/proc`.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks as f64 / hz)
}
