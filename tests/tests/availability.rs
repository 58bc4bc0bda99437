//! Availability reports against scripted outages of known length: a radio
//! goes down while the controller watches, and again while the tower's
//! backhaul is cut (only the agent sees it, and backfills it later). The
//! report, its CSV and the customer page agree with the script to within a
//! probe interval. (The customer page's 30-day line is checked by the demo
//! test, whose customers sit on radios the agents identify by MAC.)

use mast_tests::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_of_known_length_including_one_seen_only_by_the_agent() -> anyhow::Result<()> {
    if !require_root("the availability test (its agent runs in a network namespace)")? {
        return Ok(());
    }
    let Some(c) = Controller::start(Backend::Sqlite, &[("MAST_OUTAGE_HOLD_DOWN_SECS", "3")]).await? else {
        return Ok(());
    };
    let ns = NetNs::create()?;
    let radio = ns.spare_addr();
    let up = |yes: bool| ns.set_local(&radio, yes);
    up(true)?;
    c.cli_ok(&[
        "site",
        "add",
        "ridge",
        "--targets",
        &format!("127.0.0.1=ap,{radio}=cpe-ada"),
        "--interval",
        "1",
        "--timeout-ms",
        "300",
    ]);
    let (mut agent, _, relay) = Agent::start_in_netns(&c, "ridge", &ns, &[]).await?;
    let tok = c.admin_token();
    let cpe = c
        .wait_for("both devices up", Duration::from_secs(30), async || {
            let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
            let d = devices(&v);
            (d.len() == 2 && d.iter().all(|d| d["status"] == "up"))
                .then(|| d.iter().find(|d| d["name"] == "cpe-ada").and_then(|d| d["id"].as_i64()))?
        })
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Outage 1: 10 s, watched live.
    let t1 = now_ms();
    up(false)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    up(true)?;
    let len1 = now_ms() - t1;
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Outage 2: 6 s while the backhaul is cut (20 s, too short for a site
    // incident): only the agent sees it, and sends it when the link is back.
    relay.set(Impair { down: true, ..Default::default() });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t2 = now_ms();
    up(false)?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    up(true)?;
    let len2 = now_ms() - t2;
    tokio::time::sleep(Duration::from_secs(9)).await;
    relay.set(Impair::default());

    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let (status, v) = c.get(&format!("/api/v1/availability?device={cpe}"), &tok).await?;
        assert_eq!(status, 200, "{v}");
        let outages = v["report"]["device"]["availability"]["outages"].as_array().cloned().unwrap_or_default();
        if outages.len() >= 2 {
            break v;
        }
        anyhow::ensure!(Instant::now() < deadline, "the backfilled outage never showed: {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let a = &report["report"]["device"]["availability"];
    let outages: Vec<(i64, i64)> = a["outages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["from"].as_i64().unwrap(), o["to"].as_i64().unwrap()))
        .collect();
    assert_eq!(outages.len(), 2, "{a}");
    // Within a probe interval (1 s) of the script, at both ends.
    for ((from, to), (t, len)) in outages.iter().zip([(t1, len1), (t2, len2)]) {
        assert!((from - t).abs() <= 1_500, "starts with the script: {from} vs {t}");
        assert!(((to - from) - len).abs() <= 1_500, "lasts as long as the script: {} vs {len}", to - from);
    }
    let down = a["down_ms"].as_i64().unwrap();
    assert!((down - len1 - len2).abs() <= 3_000, "{down} vs {}", len1 + len2);
    let pct = a["pct"].as_f64().unwrap();
    assert!(pct > 0.0 && pct < 100.0, "{pct}");

    // The site report lists the device, the CSV has its line, and no site
    // incident: the cut was too short.
    let (_, site) = c.get("/api/v1/sites", &tok).await?;
    let sid = site["sites"][0]["id"].as_i64().unwrap();
    let (_, v) = c.get(&format!("/api/v1/availability?site={sid}"), &tok).await?;
    assert_eq!(v["report"]["site"]["backhaul_outages"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["report"]["site"]["devices"].as_array().map(Vec::len), Some(2), "{v}");
    let pw = c.add_user("noc@wisp.test", "read-only");
    let mut s = WebSession::new(&c);
    s.login("noc@wisp.test", &pw).await?;
    let page = s.get(&format!("/reports/availability?site={sid}")).await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("cpe-ada") && page.body.contains("<meter"), "the page and its bars");
    let csv = s.get(&format!("/reports/availability.csv?site={sid}")).await?;
    assert!(csv.body.starts_with(r#""site","device_id","device","kind","availability_pct""#), "{}", csv.body);
    let line = csv.body.lines().find(|l| l.contains("cpe-ada")).expect("the CPE's line");
    assert_eq!(line.split(',').nth(6), Some(r#""2""#), "two outages: {line}");
    let (status, v) = c.get("/api/v1/availability?site=1&from=2026-01-01&to=2026-03-01", &tok).await?;
    assert_eq!(status, 400, "more than the raw samples cover: {v}");
    assert_eq!(v["error"]["field"], Value::from("from"), "{v}");
    agent.kill();
    Ok(())
}
