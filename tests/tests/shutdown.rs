//! Graceful shutdown: SIGTERM stops the controller at safe points (the
//! ingest batch in flight committed and acknowledged, workers between
//! passes), nothing half-done, and the agent's unacknowledged samples
//! arrive after the restart, each exactly once. The demo's agents stop with
//! the demo, also when the demo is killed outright.

use mast_tests::*;
use std::time::Duration;

on_both_backends!(sigterm_during_ingest_loses_and_duplicates_nothing);

async fn sigterm_during_ingest_loses_and_duplicates_nothing(backend: Backend) -> anyhow::Result<()> {
    let Some(mut c) = Controller::start(backend, &[]).await? else {
        return Ok(());
    };
    let targets: Vec<String> = (1..=20).map(|i| format!("127.0.2.{i}")).collect();
    c.cli_ok(&["site", "add", "west", "--targets", &targets.join(","), "--interval", "1"]);
    let (mut agent, agent_id) = Agent::enroll(&c, "west")?;
    agent.start()?;
    let tok = c.admin_token();
    let delivery = format!("/api/v1/agents/{agent_id}/delivery");
    c.wait_for("first samples stored", Duration::from_secs(20), async || {
        let (_, v) = c.get(&delivery, &tok).await.ok()?;
        (v["epochs"][0]["stored"].as_i64()? > 0).then_some(())
    })
    .await?;
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(500 + rand::random::<u64>() % 2000)).await;
        let (status, took) = c.terminate()?;
        assert!(status.success(), "round {round}: SIGTERM exit {status}:\n{}", c.log());
        assert!(took < Duration::from_secs(25), "round {round}: shutdown took {took:?}");
        eprintln!("{backend:?} SIGTERM {round}: clean exit in {took:?}");
        c.start_again()?;
    }
    let log = c.log();
    assert_eq!(log.matches("mast_controller: shutting down").count(), 3, "{log}");
    assert_eq!(log.matches("mast_controller: stopped").count(), 3, "every shutdown finished: {log}");
    assert!(!log.contains("did not stop within"), "no task had to be abandoned: {log}");
    assert!(log.contains("controller shutting down"), "links are closed with the shutdown reason: {log}");

    let tok = c.admin_token();
    c.wait_for("agent reconnected and drained", Duration::from_secs(60), async || {
        let backlog = agent.metric("mast_agent_spool_backlog").await?;
        let connected = agent.metric("mast_agent_connected").await?;
        let acked = agent.metric("mast_agent_spool_acked_total").await?;
        (backlog == 0 && connected == 1 && acked >= 60).then_some(())
    })
    .await?;
    agent.kill();
    let acked = std::fs::read_to_string(agent.state_dir().join("spool").join("acked"))?;
    let mut it = acked.split_whitespace().map(|x| x.parse::<i64>().unwrap());
    let (ack_epoch, ack_seq) = (it.next().unwrap(), it.next().unwrap());
    let (s, v) = c.get(&delivery, &tok).await?;
    assert_eq!(s, 200);
    let epochs = v["epochs"].as_array().expect("epochs").clone();
    for e in &epochs {
        assert_eq!(e["first_seq"].as_i64(), Some(0), "epoch starts at seq 0: {e}");
        assert_eq!(e["unexplained"].as_i64(), Some(0), "no gap: {e}");
        assert_eq!(e["stored"].as_i64().unwrap(), e["last_seq"].as_i64().unwrap() + 1, "each seq once: {e}");
    }
    let e = epochs.iter().find(|e| e["boot_epoch"].as_i64() == Some(ack_epoch)).expect("acked epoch stored");
    assert!(e["last_seq"].as_i64().unwrap() >= ack_seq, "everything acked is stored: {e}");
    assert_eq!(v["data_loss"], false);
    Ok(())
}

/// The pids of `mast-agent` processes whose command line names `needle`.
fn agents_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("mast-agent") && cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

async fn demo_agents_stop_with(signal: i32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("demo-data");
    let mut demo = std::process::Command::new(controller_bin())
        .args(["demo", "--agents", "2", "--interval", "1", "--outage-for", "0"])
        .env("MAST_DATA_DIR", &data)
        .env("MAST_HTTP_LISTEN", "127.0.0.1:0")
        .env("MAST_QUIC_LISTEN", "127.0.0.1:0")
        .env("MAST_BILLING_AUTO_RUN", "false")
        .env("MAST_AGENT_BIN", agent_bin())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let needle = data.display().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while agents_with(&needle).len() < 2 {
        anyhow::ensure!(demo.try_wait()?.is_none(), "the demo exited early");
        anyhow::ensure!(std::time::Instant::now() < deadline, "the demo's agents did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(demo.id() as libc::pid_t, signal) };
    let status = demo.wait()?;
    if signal == libc::SIGTERM {
        assert!(status.success(), "the demo stops cleanly on SIGTERM: {status}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !agents_with(&needle).is_empty() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "agents outlived the demo (signal {signal}): {:?}",
            agents_with(&needle)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_agents_stop_with_the_demo_on_sigterm() -> anyhow::Result<()> {
    demo_agents_stop_with(libc::SIGTERM).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_agents_die_with_the_demo_on_sigkill() -> anyhow::Result<()> {
    demo_agents_stop_with(libc::SIGKILL).await
}

/// A second controller on the same SQLite file stops at once with a
/// message naming the first (SQLite cannot be shared between controllers;
/// PostgreSQL can); the CLI's one-off commands still run beside it, and a
/// controller starts again on the file once the first has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_controller_on_one_sqlite_file_is_refused() -> anyhow::Result<()> {
    let Some(mut c) = Controller::start(Backend::Sqlite, &[]).await? else { return Ok(()) };
    let second = |env: &[(String, String)]| {
        let mut cmd = std::process::Command::new(controller_bin());
        cmd.arg("serve")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("MAST_HTTP_LISTEN", "127.0.0.1:0")
            .env("MAST_QUIC_LISTEN", "127.0.0.1:0")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn()
    };
    let child = second(&c.env)?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {err}");
    assert!(err.contains("another controller (pid") && err.contains("one controller per SQLite file"), "{err}");
    c.cli_ok(&["site", "add", "beside", "--interval", "60"]);
    // The first stops: the file is free again.
    c.terminate()?;
    let mut child = second(&c.env)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(child.try_wait()?.is_none(), "a controller runs once the first has stopped");
    child.kill()?;
    child.wait()?;
    Ok(())
}
