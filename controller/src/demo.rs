//! `mast-controller demo`: a controller on the configured database (SQLite by
//! default) plus local `mast-agent` child processes probing loopback
//! addresses, enrolled through the real token flow.

use crate::config::Config;
use crate::{auth, fleet, monitoring};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::{Child, Command};

fn agent_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("MAST_AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name("mast-agent");
    if sibling.exists() {
        return Ok(sibling);
    }
    bail!(
        "mast-agent not found next to {} (build the workspace: `cargo build --release`, or set MAST_AGENT_BIN)",
        exe.display()
    )
}

/// Explains how to allow unprivileged ICMP when it is not allowed.
pub fn icmp_hint() -> Option<String> {
    // SAFETY-free check: root may always open raw sockets.
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
    });
    if uid == Some(0) {
        return None;
    }
    let gid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Gid:")).and_then(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
    })?;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").ok()?;
    let mut it = range.split_whitespace().filter_map(|v| v.parse::<u32>().ok());
    let (lo, hi) = (it.next()?, it.next()?);
    if lo <= gid && gid <= hi {
        return None;
    }
    Some(format!(
        "ICMP is not permitted for group {gid} (net.ipv4.ping_group_range = {lo} {hi}). Allow it with:\n  \
         sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"\nor give the agent the capability:\n  \
         sudo setcap cap_net_raw+ep target/release/mast-agent"
    ))
}

async fn wait_for_addresses(data_dir: &Path) -> anyhow::Result<crate::Addresses> {
    let path = data_dir.join("run").join("addresses.json");
    for _ in 0..100 {
        if let Ok(b) = std::fs::read(&path)
            && let Ok(a) = serde_json::from_slice(&b)
        {
            return Ok(a);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("controller did not start (no {})", path.display())
}

pub async fn run(cfg: Config, agents: u32, targets: u32, interval_secs: u64) -> anyhow::Result<()> {
    if agents == 0 || agents > 50 || targets == 0 || targets > 250 {
        bail!("--agents must be 1-50 and --targets 1-250");
    }
    let agent_bin = agent_binary()?;
    if let Some(h) = icmp_hint() {
        eprintln!("warning: {h}");
    }
    let (db, pki) = crate::open(&cfg).await?;
    // A fresh run file, so we never read a previous run's ports.
    let _ = std::fs::remove_file(cfg.data_dir.join("run").join("addresses.json"));
    let server_cfg = cfg.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(
        server_cfg,
        async move {
            let _ = stop_rx.await;
        },
        None,
    ));
    let addrs = wait_for_addresses(&cfg.data_dir).await?;
    let fp = pki.ca_fingerprint();
    let mut children: Vec<Child> = Vec::new();
    for i in 1..=agents {
        let site = format!("demo-tower-{i}");
        if monitoring::site_by_name(&db, &site).await?.is_none() {
            let list: Vec<String> = (1..=targets).map(|t| format!("127.0.{i}.{t}")).collect();
            monitoring::add_site(
                &db,
                &site,
                &monitoring::parse_targets(&list.join(","))?,
                interval_secs as i64 * 1000,
                1000.min(interval_secs as i64 * 1000 - 1),
            )
            .await?;
        }
        let state = cfg.data_dir.join("demo-agents").join(format!("agent-{i}"));
        // Re-enroll every run: the demo database may be new.
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state)?;
        let (_, token) = fleet::add_agent(&db, &site, Duration::from_secs(600)).await?;
        let quic = format!("127.0.0.1:{}", addrs.quic.port());
        let out = Command::new(&agent_bin)
            .args(["enroll", "--controller", &quic, "--token", &token, "--ca-fingerprint", &fp, "--state-dir"])
            .arg(&state)
            .output()
            .await
            .with_context(|| format!("running {}", agent_bin.display()))?;
        if !out.status.success() {
            bail!("agent {i} failed to enroll: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let log_path = cfg.data_dir.join("demo-agents").join(format!("agent-{i}.log"));
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(&agent_bin)
            .args(["run", "--state-dir"])
            .arg(&state)
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", agent_bin.display()))?;
        children.push(child);
    }
    // Demo customers with plans, subscriptions, holds and late payers, and
    // their invoices for the periods that started in the last month (once:
    // a second demo start finds them and moves on).
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let opts =
        crate::billing::demo::DemoOptions { customers: 60, seed: 7, as_of: today, billing_day: None, force: false };
    if crate::billing::demo::load(&db, &opts).await.is_ok() {
        let mut d = crate::billing::period::add_days(today, -27)?;
        while d <= today {
            if let Err(e) = crate::billing::run::run(&db, d, &Default::default()).await {
                eprintln!("warning: demo invoice run for {d}: {e}");
            }
            d = d.tomorrow()?;
        }
    }
    let token = auth::create_token(&db, &format!("demo-{}", crate::db::now_ms()), "admin").await?;
    // A fresh demo login each run.
    let password = crate::fleet::random_secret("");
    let email = "admin@demo.local";
    match crate::staff::user_by_email(&db, email).await? {
        Some(u) => {
            crate::staff::set_password(&db, u.id, &password).await?;
            crate::staff::set_disabled(&db, u.id, false).await?;
        }
        None => {
            crate::staff::add_user(&db, email, crate::staff::Role::Admin, &password).await?;
        }
    }
    let http = if addrs.http.ip().is_unspecified() {
        format!("http://127.0.0.1:{}/", addrs.http.port())
    } else {
        format!("http://{}/", addrs.http)
    };
    println!();
    println!("Mast demo is running: {agents} agent(s), {targets} loopback target(s) each, every {interval_secs} s.");
    println!("  Web UI:    {http}");
    println!("  Log in as: {email}  password: {password}");
    println!("  API token: {token}");
    println!("  API:       curl -H 'Authorization: Bearer {token}' {http}api/v1/devices");
    println!("  Data dir:  {} (agent logs in demo-agents/)", cfg.data_dir.display());
    println!("Press Ctrl-C to stop.");
    crate::shutdown_signal().await;
    for c in &mut children {
        let _ = c.start_kill();
    }
    for c in &mut children {
        let _ = c.wait().await;
    }
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}
