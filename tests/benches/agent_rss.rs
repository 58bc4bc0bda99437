//! Agent memory at tower scale: `cargo bench -p mast-tests --bench agent_rss`
//!
//! Starts a controller (SQLite) and a release-built agent probing 1,000 ping
//! targets (`127.1.x.y`, all answering on loopback) at a 5 s interval, plus
//! SNMP polls of `MAST_BENCH_SNMP_DEVICES` (default 200) simulated radios
//! (snmpsim, copies of the airMAX AP recording with 3 stations each) every
//! 10 s, for `MAST_BENCH_SECS` (default 60) seconds; then prints the agent's
//! peak and current resident set (VmHWM, VmRSS from /proc) and what it did
//! (probes, SNMP polls, inventory records). Goal: ≤ 30 MB. Needs root (ICMP).

use mast_tests::snmp::{SnmpSim, fixture, many_devices};
use mast_tests::*;
use std::time::Duration;

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if !require_root("the agent RSS benchmark")? {
        anyhow::bail!("run as root: the agent needs a raw ICMP socket");
    }
    let secs: u64 = std::env::var("MAST_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let n_snmp: usize = std::env::var("MAST_BENCH_SNMP_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let Some(c) = Controller::start(Backend::Sqlite, &[]).await? else { anyhow::bail!("controller did not start") };
    let dir = tempfile::tempdir()?;
    let sims = many_devices(n_snmp, &fixture("ubiquiti-ap"), dir.path())?;
    // The agent pings the CPE addresses it reads from station tables: move
    // them from the recording's 10.20.1.x onto loopback (127.3.i.x), so no
    // probe ever leaves this machine.
    for (i, d) in sims.iter().enumerate() {
        let text = std::fs::read_to_string(&d.recording)?;
        std::fs::write(&d.recording, text.replace("|64|10.20.1.", &format!("|64|127.3.{}.", i % 250)))?;
    }
    // One address per device (the agent keys devices by address).
    let addrs: Vec<std::net::SocketAddr> = (0..n_snmp)
        .map(|i| std::net::SocketAddr::from(([127, 2, (i / 250) as u8, (i % 250 + 1) as u8], 1161)))
        .collect();
    let Some(_sim) = SnmpSim::start_at(&sims, &addrs)? else {
        anyhow::bail!("snmpsim is not installed (tests/run.sh installs it)")
    };
    let targets: Vec<String> = (0..1000).map(|i| format!("127.1.{}.{}", i / 250, i % 250 + 1)).collect();
    c.cli_ok(&["site", "add", "rss", "--targets", &targets.join(","), "--interval", "5", "--timeout-ms", "1000"]);
    let creds: String = sims.iter().map(|d| format!("v2c:{}\n", d.community)).collect();
    let snmp_targets: Vec<String> = addrs.iter().enumerate().map(|(i, a)| format!("{a}@{i}")).collect();
    let out = c.cli_stdin(
        &[
            "site",
            "probing",
            "rss",
            "--snmp-credentials-stdin",
            "--snmp-targets",
            &snmp_targets.join(","),
            "--snmp-interval",
            "10",
        ],
        &creds,
    );
    anyhow::ensure!(out.status.success(), "site probing: {}", String::from_utf8_lossy(&out.stderr));
    let (mut agent, _) = Agent::enroll(&c, "rss")?;
    agent.start()?;
    let pid = agent.pid().expect("agent running");
    eprintln!("agent {pid}: 1,000 ping targets every 5 s, {n_snmp} SNMP devices every 10 s, for {secs} s");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (hwm, rss) = (status_kb(pid, "VmHWM:").unwrap_or(0), status_kb(pid, "VmRSS:").unwrap_or(0));
    let probes = agent.metric("mast_agent_probes_total").await.unwrap_or(0);
    let lost = agent.metric("mast_agent_probes_lost_total").await.unwrap_or(0);
    let polls = agent.metric("mast_agent_snmp_polls_total").await.unwrap_or(0);
    let errors = agent.metric("mast_agent_snmp_errors_total").await.unwrap_or(0);
    let inv = agent.metric("mast_agent_inventory_changes_total").await.unwrap_or(0);
    println!(
        "agent peak RSS (VmHWM) {:.1} MB, current {:.1} MB (goal <= 30 MB)",
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    println!("probes {probes} (lost {lost}), SNMP polls {polls} (errors {errors}), inventory records sent {inv}");
    anyhow::ensure!(lost == 0, "every target is on loopback: {lost} pings lost");
    anyhow::ensure!(probes >= 1000 && polls >= n_snmp as u64, "the agent did not probe: see {}", agent.log());
    Ok(())
}
