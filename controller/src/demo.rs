//! `mast-controller demo`: a controller on the configured database (SQLite by
//! default) plus local `mast-agent` child processes probing loopback
//! addresses, enrolled through the real token flow.

use crate::config::Config;
use crate::{auth, fleet, monitoring};
use anyhow::{Context, bail};
use std::path::PathBuf;
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

pub async fn run(cfg: Config, agents: u32, targets: u32, interval_secs: u64) -> anyhow::Result<()> {
    if agents == 0 || agents > 50 || targets == 0 || targets > 250 {
        bail!("--agents must be 1-50 and --targets 1-250");
    }
    let agent_bin = agent_binary()?;
    if let Some(h) = icmp_hint() {
        eprintln!("warning: {h}");
    }
    // Ctrl-C or SIGTERM at any moment, start-up included, stops everything.
    let signal = crate::shutdown_signal();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = crate::App::open(&cfg).await?;
    let on_signal = app.shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        on_signal.trigger();
    });
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    // The demo stops the controller through the App's shutdown signal.
    let server = tokio::spawn(crate::serve_app(app.clone(), std::future::pending(), Some(ready_tx)));
    let addrs = match ready_rx.await {
        Ok(a) => a,
        Err(_) => return server.await?.context("the controller did not start"),
    };
    let mut children: Vec<Child> = Vec::new();
    tokio::select! {
        r = setup(&app, &cfg, addrs, &agent_bin, agents, targets, interval_secs, &mut children) => r?,
        _ = app.shutdown.cancelled() => {}
    }
    app.shutdown.cancelled().await;
    println!("Stopping the agents and the controller...");
    stop_children(&mut children).await;
    app.shutdown.trigger();
    server.await??;
    Ok(())
}

/// Enrolls and starts the agents, loads the demo customers, prints how to
/// log in.
#[allow(clippy::too_many_arguments)]
async fn setup(
    app: &crate::App,
    cfg: &Config,
    addrs: crate::Addresses,
    agent_bin: &std::path::Path,
    agents: u32,
    targets: u32,
    interval_secs: u64,
    children: &mut Vec<Child>,
) -> anyhow::Result<()> {
    let db = app.db.clone();
    let fp = app.pki.ca_fingerprint();
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
        let out = Command::new(agent_bin)
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
        let mut cmd = Command::new(agent_bin);
        cmd.args(["run", "--state-dir"]).arg(&state).stdout(log.try_clone()?).stderr(log).kill_on_drop(true);
        // The agents die with the demo, also when it is killed outright.
        stop_with_parent(&mut cmd);
        let child = cmd.spawn().with_context(|| format!("starting {}", agent_bin.display()))?;
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
    Ok(())
}

/// Asks the kernel to kill the child when this process dies, so no agent
/// outlives the demo, even when the demo is killed outright (SIGKILL: the
/// agent's spool is built to survive that; a graceful stop is
/// [`stop_children`]'s SIGTERM).
fn stop_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // prctl(2), getppid(2) and raise(3), which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The demo may have died between fork and prctl (the orphan is
            // then re-parented, not always to pid 1: compare with the pid).
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

/// SIGTERM to every agent (they flush their spool and exit), then SIGKILL
/// to any still running after 5 s.
async fn stop_children(children: &mut [Child]) {
    for c in children.iter() {
        if let Some(pid) = c.id() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    for c in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(5), c.wait()).await.is_err() {
            let _ = c.kill().await;
        }
    }
}
