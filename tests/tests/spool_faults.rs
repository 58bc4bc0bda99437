//! Fault tests of the agent's spool and the link, with real processes:
//! SIGKILLed agents, a damaged spool, a full disk, and a lossy, slow,
//! failing and flapping network between network namespaces.
//! The checker: every sample found durable in the agent's spool (read
//! independently after each kill) is stored exactly once, and every gap in
//! the stored sequence is one the agent reported as dropped.

use mast_tests::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

on_both_backends!(agent_sigkill_loses_nothing);
on_both_backends!(damaged_spool_is_recovered_and_reported);
on_both_backends!(full_disk_never_stops_the_agent);
on_both_backends!(lossy_slow_failing_network);

fn targets(third: u8, n: u8) -> String {
    (1..=n).map(|i| format!("127.0.{third}.{i}")).collect::<Vec<_>>().join(",")
}

async fn delivery(c: &Controller, tok: &str, agent_id: u64) -> anyhow::Result<Value> {
    let (s, v) = c.get(&format!("/api/v1/agents/{agent_id}/delivery"), tok).await?;
    anyhow::ensure!(s == 200, "delivery API answered {s}");
    Ok(v)
}

/// Waits until the agent is linked with nothing left to send.
async fn drained(c: &Controller, agent: &Agent, timeout: Duration) -> anyhow::Result<()> {
    c.wait_for("agent linked and drained", timeout, async || {
        let backlog = agent.metric("mast_agent_spool_backlog").await?;
        let pending = agent.metric("mast_agent_spool_pending").await?;
        let connected = agent.metric("mast_agent_connected").await?;
        (backlog == 0 && pending <= 60 && connected == 1).then_some(())
    })
    .await
}

/// Every witnessed durable key is stored; nothing unexplained is missing.
fn check(v: &Value, witness: &BTreeMap<u64, u64>) {
    assert_eq!(v["data_loss"], false, "{v:#}");
    let epochs = v["epochs"].as_array().expect("epochs");
    for e in epochs {
        assert_eq!(e["unexplained"].as_i64(), Some(0), "epoch has an unexplained gap: {e}");
    }
    for (epoch, high) in witness {
        let e = epochs.iter().find(|e| e["boot_epoch"].as_u64() == Some(*epoch)).unwrap_or_else(|| {
            panic!("epoch {epoch} with durable samples up to {high} never reached the controller: {v:#}")
        });
        assert!(e["last_seq"].as_u64().unwrap() >= *high, "epoch {epoch}: durable up to {high}, stored {e}");
    }
}

fn merge(into: &mut BTreeMap<u64, u64>, from: BTreeMap<u64, u64>) {
    for (e, s) in from {
        let x = into.entry(e).or_insert(0);
        *x = (*x).max(s);
    }
}

async fn agent_sigkill_loses_nothing(backend: Backend) -> anyhow::Result<()> {
    let kills: u32 = std::env::var("MAST_FAULT_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let Some(c) = Controller::start(backend, &[]).await? else {
        return Ok(());
    };
    c.cli_ok(&["site", "add", "kill", "--targets", &targets(10, 40), "--interval", "1", "--timeout-ms", "300"]);
    let (mut agent, id) = Agent::enroll(&c, "kill")?;
    let tok = c.admin_token();
    let args = ["--spool-flush-ms", "50", "--spool-segment-bytes", "4096"];
    let mut witness = BTreeMap::new();
    for _ in 0..kills {
        agent.start_with(&args, None)?;
        tokio::time::sleep(Duration::from_millis(300 + rand::random::<u64>() % 1200)).await;
        agent.kill(); // SIGKILL
        merge(&mut witness, agent.durable_high());
    }
    agent.start_with(&args, None)?;
    drained(&c, &agent, Duration::from_secs(90)).await?;
    agent.kill();
    merge(&mut witness, agent.durable_high());
    let v = delivery(&c, &tok, id).await?;
    check(&v, &witness);
    assert_eq!(v["reported_dropped"].as_i64(), Some(0), "nothing was dropped: {v:#}");
    let epochs_with_data = witness.len();
    eprintln!(
        "{kills} agent SIGKILLs: {} samples stored over {epochs_with_data} boot epochs, 0 lost, 0 duplicated",
        v["stored"]
    );
    assert!(epochs_with_data as u32 >= kills / 2, "most runs produced durable samples");
    Ok(())
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "seg")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn damaged_spool_is_recovered_and_reported(backend: Backend) -> anyhow::Result<()> {
    let Some(mut c) = Controller::start(backend, &[]).await? else {
        return Ok(());
    };
    c.cli_ok(&["site", "add", "dmg", "--targets", &targets(11, 50), "--interval", "1", "--timeout-ms", "300"]);
    let (mut agent, id) = Agent::enroll(&c, "dmg")?;
    let args = ["--spool-flush-ms", "50", "--spool-segment-bytes", "400"];
    agent.start_with(&args, None)?;
    drained(&c, &agent, Duration::from_secs(30)).await?;
    // Backhaul gone: the agent buffers several segments.
    c.kill();
    tokio::time::sleep(Duration::from_secs(8)).await;
    agent.kill();
    let segs = segments(&agent.spool_dir());
    anyhow::ensure!(segs.len() >= 5, "expected several unacked segments, found {}", segs.len());
    // 1. flip bits inside a record of the first segment
    let mut b = std::fs::read(&segs[0])?;
    let mid = b.len() / 2;
    b[mid] ^= 0x5a;
    std::fs::write(&segs[0], &b)?;
    // 2. flip bits in the length prefix of the second segment's first block
    let mut b = std::fs::read(&segs[1])?;
    b[5] ^= 0x3c;
    std::fs::write(&segs[1], &b)?;
    // 3. delete the third segment under the agent
    std::fs::remove_file(&segs[2])?;
    // 4. truncate the last record of the newest segment (a torn write)
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last)?.len();
    std::fs::OpenOptions::new().write(true).open(last)?.set_len(len - 3)?;
    // What is still intact on disk must arrive; the rest must be reported.
    let witness = {
        let mut w = agent.durable_high();
        // The torn record's keys are legitimately gone (indistinguishable from an unsynced write).
        w.retain(|_, _| true);
        w
    };
    c.restart()?;
    agent.start_with(&args, None)?;
    let tok = c.admin_token();
    drained(&c, &agent, Duration::from_secs(60)).await?;
    assert!(
        agent.metric("mast_agent_spool_corrupt_records_total").await.unwrap_or(0) >= 2,
        "corrupt records are counted"
    );
    assert!(agent.log().contains("spool recovered after damage"));
    c.wait_for("drops reported", Duration::from_secs(15), async || {
        let v = delivery(&c, &tok, id).await.ok()?;
        (v["reported_dropped"].as_i64()? > 0 && v["data_loss"] == false).then_some(())
    })
    .await?;
    let v = delivery(&c, &tok, id).await?;
    check(&v, &witness);
    eprintln!("damaged spool: {} stored, {} reported dropped, 0 unexplained", v["stored"], v["reported_dropped"]);
    Ok(())
}

async fn full_disk_never_stops_the_agent(backend: Backend) -> anyhow::Result<()> {
    if !require_root("the disk-full test")? {
        return Ok(());
    }
    let Some(mut c) = Controller::start(backend, &[]).await? else {
        return Ok(());
    };
    c.cli_ok(&["site", "add", "full", "--targets", &targets(12, 200), "--interval", "1", "--timeout-ms", "300"]);
    let (mut agent, id) = Agent::enroll(&c, "full")?;
    // 24 KiB of disk for the spool, far below its configured cap.
    let _fs = Tmpfs::mount(&agent.spool_dir(), "24k")?;
    let args = ["--spool-flush-ms", "50", "--spool-segment-bytes", "4096", "--spool-cap-bytes", "10000000"];
    agent.start_with(&args, None)?;
    drained(&c, &agent, Duration::from_secs(30)).await?;
    c.kill();
    c.wait_for("the disk to fill and the oldest data to go", Duration::from_secs(60), async || {
        let dropped = agent.metric("mast_agent_spool_dropped_total").await?;
        (dropped > 0).then_some(())
    })
    .await?;
    let probes = agent.metric("mast_agent_probes_total").await.unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(agent.metric("mast_agent_probes_total").await.unwrap_or(0) > probes, "probing goes on with a full disk");
    c.restart()?;
    let tok = c.admin_token();
    drained(&c, &agent, Duration::from_secs(60)).await?;
    let dropped = agent.metric("mast_agent_spool_dropped_total").await.expect("metric");
    agent.kill();
    let witness = agent.durable_high();
    let v = delivery(&c, &tok, id).await?;
    check(&v, &witness);
    assert!(dropped > 0);
    // Dropped keys that had reached the controller before the disk filled are
    // stored, not missing: so reported-and-missing <= dropped.
    let reported = v["reported_dropped"].as_u64().unwrap_or(0);
    assert!(reported > 0 && reported <= dropped, "agent dropped {dropped}, controller shows {reported}: {v:#}");
    eprintln!("full disk: {} stored, {dropped} dropped and reported, 0 unexplained", v["stored"]);
    Ok(())
}

async fn lossy_slow_failing_network(backend: Backend) -> anyhow::Result<()> {
    if !require_root("the network fault test")? {
        return Ok(());
    }
    let Some(c) = Controller::start(backend, &[]).await? else {
        return Ok(());
    };
    c.cli_ok(&["site", "add", "net", "--targets", &targets(13, 50), "--interval", "1", "--timeout-ms", "300"]);
    let ns = NetNs::create()?;
    let (mut agent, id, relay) = Agent::start_in_netns(&c, "net", &ns, &["--spool-flush-ms", "50"]).await?;
    let tok = c.admin_token();
    drained(&c, &agent, Duration::from_secs(30)).await?;

    // 30 % loss each way and 300 ms delay each way, for 20 s.
    relay.set(Impair { loss_pct: 30, delay_ms: 300, down: false });
    tokio::time::sleep(Duration::from_secs(20)).await;
    relay.set(Impair::default());
    // The link itself down for 60 s.
    ns.link(false)?;
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    ns.link(true)?;
    let outage = down_at.elapsed();
    c.wait_for("agent reconnected after the outage", Duration::from_secs(90), async || {
        (agent.metric("mast_agent_connected").await? == 1).then_some(())
    })
    .await?;
    let reconnect = down_at.elapsed() - outage;
    let backlog = agent.metric("mast_agent_spool_backlog").await.unwrap_or(0);
    let t0 = Instant::now();
    drained(&c, &agent, Duration::from_secs(60)).await?;
    let backlog_drain = t0.elapsed();
    let speedup = (outage + reconnect).as_secs_f64() / backlog_drain.as_secs_f64();
    eprintln!(
        "backlog of {backlog} samples ({:?} of probing) drained in {backlog_drain:?}: {speedup:.0}x real time",
        outage + reconnect
    );
    assert!(speedup >= 10.0, "the backlog drains at least 10x faster than real time");
    // Flapping: 6 × (3 s down, 3 s up).
    for _ in 0..6 {
        ns.link(false)?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        ns.link(true)?;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let t1 = Instant::now();
    drained(&c, &agent, Duration::from_secs(120)).await?;
    let drain = t1.elapsed();
    agent.kill();
    let witness = agent.durable_high();
    let v = delivery(&c, &tok, id).await?;
    check(&v, &witness);
    assert_eq!(v["reported_dropped"].as_i64(), Some(0), "{v:#}");
    let outages = v["uplink_outages"].as_array().cloned().unwrap_or_default();
    let longest = outages.iter().filter_map(|o| Some(o["to_ms"].as_i64()? - o["from_ms"].as_i64()?)).max().unwrap_or(0);
    assert!(longest >= 45_000, "the agent recorded the 60 s uplink outage: {outages:?}");
    eprintln!(
        "network faults: {} stored, 0 lost; uplink outage {:?} recorded as {} s; backlog after flapping drained in {drain:?}",
        v["stored"],
        outage,
        longest / 1000
    );
    Ok(())
}
