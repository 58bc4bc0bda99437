//! End-to-end: real controller and agent processes over real QUIC + mTLS,
//! on SQLite and on PostgreSQL.

use mast_tests::*;
use serde_json::Value;
use std::time::{Duration, Instant};

on_both_backends!(probe_results_reach_api_and_page);
on_both_backends!(controller_sigkill_loses_and_duplicates_nothing);

fn up_count(v: &Value) -> usize {
    devices(v).iter().filter(|d| d["status"] == "up" && d["last_rtt_ms"].as_f64().is_some()).count()
}

async fn probe_results_reach_api_and_page(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else {
        return Ok(());
    };
    c.cli_ok(&["site", "add", "north", "--targets", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4=ap-1", "--interval", "1"]);
    let t0 = Instant::now();
    let (mut agent, agent_id) = Agent::enroll(&c, "north")?;
    agent.start()?;
    let tok = c.admin_token();
    c.wait_for("4 devices up with an RTT", Duration::from_secs(20), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        (up_count(&v) == 4).then_some(())
    })
    .await?;
    eprintln!("enroll to 4 devices up: {:?}", t0.elapsed());

    let (s, v) = c.get("/api/v1/devices", &tok).await?;
    assert_eq!(s, 200);
    let ap = devices(&v).into_iter().find(|d| d["addr"] == "127.0.0.4").expect("device listed");
    assert_eq!(ap["name"], "ap-1");
    assert_eq!(ap["site"], "north");
    assert_eq!(ap["loss_pct"].as_f64(), Some(0.0));

    let (_, v) = c.get("/api/v1/agents", &tok).await?;
    let a = &v["agents"][0];
    assert_eq!(a["id"].as_u64(), Some(agent_id));
    assert_eq!(a["connected"], true);
    assert_eq!(a["version"], env!("CARGO_PKG_VERSION"));
    assert!(a["target"].as_str().unwrap_or("").contains("linux"), "{a}");

    // Config pushed without restart: a fifth target starts being probed.
    c.cli_ok(&["site", "set", "north", "--targets", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4=ap-1,127.0.0.5"]);
    c.wait_for("the new target up", Duration::from_secs(15), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        (up_count(&v) == 5).then_some(())
    })
    .await?;
    assert!(agent.log().contains("site config applied"));

    // The pages: log in as a staff member, see the site, its devices and the agent.
    let password = c.add_user("noc@wisp.example", "read-only");
    let mut web = WebSession::new(&c);
    let r = web.get("/").await?;
    assert_eq!(r.status, 303, "anonymous visitors go to the login page");
    let r = web.login("noc@wisp.example", &password).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r.headers.get("set-cookie").expect("session cookie").to_str()?.to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let page = web.get("/devices").await?.body;
    for needle in ["127.0.0.5", "ap-1", "up"] {
        assert!(page.contains(needle), "devices page lacks {needle}");
    }
    let (_, v) = c.get("/api/v1/sites", &tok).await?;
    let site_id = v["sites"][0]["id"].as_i64().expect("site id");
    let page = web.get(&format!("/sites/{site_id}")).await?.body;
    assert!(page.contains("north") && page.contains("connected") && page.contains("127.0.0.4"), "{page}");
    let agent_page = web.get(&format!("/agents/{agent_id}")).await?.body;
    assert!(agent_page.contains("Delivery") && agent_page.contains("complete"), "{agent_page}");
    let dev_id = ap["id"].as_i64().expect("device id");
    let chart = web.get(&format!("/devices/{dev_id}/chart.svg?range=hour")).await?;
    assert_eq!(chart.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("image/svg+xml"));
    assert!(chart.body.contains("<path d=\"M"), "the RTT line is drawn: {}", chart.body);

    // Metrics on both sides.
    let m = reqwest::get(format!("http://{}/metrics", c.http)).await?.text().await?;
    let stored: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("mast_ingest_samples_stored_total ")?.parse().ok())
        .expect("stored counter");
    assert!(stored >= 4, "{m}");
    assert!(agent.metric("mast_agent_spool_acked_total").await.unwrap_or(0) >= 4);
    Ok(())
}

/// SIGKILL the controller three times while samples flow; afterwards every
/// sample the agent numbered up to its last ack is stored exactly once.
async fn controller_sigkill_loses_and_duplicates_nothing(backend: Backend) -> anyhow::Result<()> {
    let Some(mut c) = Controller::start(backend, &[]).await? else {
        return Ok(());
    };
    let targets: Vec<String> = (1..=20).map(|i| format!("127.0.1.{i}")).collect();
    c.cli_ok(&["site", "add", "south", "--targets", &targets.join(","), "--interval", "1"]);
    let (mut agent, agent_id) = Agent::enroll(&c, "south")?;
    agent.start()?;
    let tok = c.admin_token();
    let delivery = format!("/api/v1/agents/{agent_id}/delivery");
    c.wait_for("first samples stored", Duration::from_secs(20), async || {
        let (_, v) = c.get(&delivery, &tok).await.ok()?;
        (v["epochs"][0]["stored"].as_i64()? > 0).then_some(())
    })
    .await?;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500 + rand::random::<u64>() % 2000)).await;
        c.restart()?; // SIGKILL, then start on the same QUIC port
    }
    // Let the agent reconnect and drain its backlog.
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
    assert!(!epochs.is_empty());
    for e in &epochs {
        assert_eq!(e["first_seq"].as_i64(), Some(0), "epoch starts at seq 0: {e}");
        assert_eq!(e["unexplained"].as_i64(), Some(0), "no gap: {e}");
        assert_eq!(e["stored"].as_i64().unwrap(), e["last_seq"].as_i64().unwrap() + 1, "each seq once: {e}");
    }
    let e = epochs.iter().find(|e| e["boot_epoch"].as_i64() == Some(ack_epoch)).expect("acked epoch stored");
    assert!(e["last_seq"].as_i64().unwrap() >= ack_seq, "everything acked ({ack_epoch},{ack_seq}) is stored: {e}");
    assert_eq!(v["data_loss"], false);
    eprintln!("after 3 controller SIGKILLs: {} samples stored, acked up to ({ack_epoch},{ack_seq})", e["stored"]);
    Ok(())
}

fn close_code(e: &quinn::ConnectionError) -> Option<(u64, String)> {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => {
            Some((c.error_code.into_inner(), String::from_utf8_lossy(&c.reason).into_owned()))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_checked() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Controller::start(Backend::Sqlite, &[]).await?.expect("sqlite");
    // B issues agent certificates valid for 2 s: its agents expire, and its CA is foreign to A.
    let b = Controller::start(Backend::Sqlite, &[("MAST_AGENT_CERT_VALIDITY_SECS", "2")]).await?.expect("sqlite");
    a.cli_ok(&["site", "add", "east", "--targets", "127.0.0.1", "--interval", "1"]);
    b.cli_ok(&["site", "add", "west", "--targets", "127.0.0.1", "--interval", "1"]);
    let ca_a = controller_ca_der(&a);

    // 1. No certificate at all.
    let (ep, cfg) = raw_client(&ca_a, None)?;
    let conn = ep.connect_with(cfg, a.quic, mast_shared::CONTROLLER_SERVER_NAME)?.await?;
    let why = conn.closed().await;
    assert_eq!(close_code(&why), Some((1, "client certificate required".into())), "{why}");

    // 2. A certificate from another controller's CA.
    let (b_agent, _) = Agent::enroll(&b, "west")?;
    let cert = std::fs::read(b_agent.state_dir().join("agent.cert.der"))?;
    let key = std::fs::read_to_string(b_agent.state_dir().join("agent.key.pem"))?;
    let (ep, cfg) = raw_client(&ca_a, Some((cert, key)))?;
    match ep.connect_with(cfg, a.quic, mast_shared::CONTROLLER_SERVER_NAME)?.await {
        Err(_) => {}
        Ok(conn) => {
            // TLS 1.3: the client may finish its side before the server rejects
            // the certificate; the connection must then die, not carry a link.
            let why = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await?;
            assert!(close_code(&why).is_none(), "closed by the TLS layer, not by the link: {why}");
        }
    }
    a.wait_for("foreign CA refusal logged", Duration::from_secs(5), async || {
        let log = a.log();
        (log.contains("refused during handshake") && log.contains("UnknownIssuer")).then_some(())
    })
    .await?;

    // 3. An expired certificate (B signs for 2 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut b_agent = b_agent;
    b_agent.start()?;
    b.wait_for("expired certificate refusal logged", Duration::from_secs(15), async || {
        b.log().to_lowercase().contains("expired").then_some(())
    })
    .await?;
    assert_eq!(b_agent.metric("mast_agent_connections_total").await, Some(0), "expired agent never links");

    // 4. Revocation closes a live link within 10 s, and the agent stays out.
    let (mut agent, id) = Agent::enroll(&a, "east")?;
    agent.start()?;
    a.wait_for("agent linked", Duration::from_secs(15), async || {
        (agent.metric("mast_agent_connected").await? == 1).then_some(())
    })
    .await?;
    let t0 = Instant::now();
    a.cli_ok(&["agent", "revoke", &id.to_string()]);
    a.wait_for("revoked link closed", Duration::from_secs(10), async || {
        (agent.metric("mast_agent_connected").await? == 0).then_some(())
    })
    .await?;
    eprintln!("revocation closed the live link in {:?}", t0.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(agent.metric("mast_agent_connected").await, Some(0));
    assert!(a.log().contains("agent revoked"));
    let tok = a.admin_token();
    let (_, v) = a.get("/api/v1/agents", &tok).await?;
    let row = v["agents"].as_array().unwrap().iter().find(|r| r["id"].as_u64() == Some(id)).cloned().unwrap();
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["connected"], false);

    // 5. Tokens are single use; the CA fingerprint is pinned.
    let (_, token, fp) = a.add_agent("east");
    Agent::enroll_with(&a.quic.to_string(), &token, &fp)?;
    let again = Agent::enroll_with(&a.quic.to_string(), &token, &fp).err().expect("second use refused").to_string();
    assert!(again.contains("already used") || again.contains("refused"), "{again}");
    let (_, token, _) = a.add_agent("east");
    let wrong_fp = "00".repeat(32);
    let err = Agent::enroll_with(&a.quic.to_string(), &token, &wrong_fp).err().expect("wrong pin refused").to_string();
    assert!(err.contains("fingerprint"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_without_harm() -> anyhow::Result<()> {
    use mast_shared::io::{read_frame, write_frame};
    use mast_shared::{AgentMsg, ControllerMsg, Hello, PROTOCOL_VERSION};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = Controller::start(Backend::Sqlite, &[]).await?.expect("sqlite");
    c.cli_ok(&["site", "add", "hill", "--targets", "127.0.0.1", "--interval", "1"]);
    let (agent, id) = Agent::enroll(&c, "hill")?;
    let cert = std::fs::read(agent.state_dir().join("agent.cert.der"))?;
    let key = std::fs::read_to_string(agent.state_dir().join("agent.key.pem"))?;
    let ca = controller_ca_der(&c);

    // Garbage instead of a hello, an absurd length prefix, garbage after a good hello.
    let hello = AgentMsg::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_id: id,
        agent_version: "test".into(),
        boot_epoch: 1,
        target: "test".into(),
    });
    for (i, payload) in [&b"\x00\x00\x00\x05hello"[..], &b"\xff\xff\xff\xff"[..], &b"\x00\x00\x00\x03\xff\xff\xff"[..]]
        .iter()
        .enumerate()
    {
        let (ep, cfg) = raw_client(&ca, Some((cert.clone(), key.clone())))?;
        let conn = ep.connect_with(cfg, c.quic, mast_shared::CONTROLLER_SERVER_NAME)?.await?;
        let (mut send, mut recv) = conn.open_bi().await?;
        if i == 2 {
            write_frame(&mut send, &hello).await?;
            let w: ControllerMsg = read_frame(&mut recv).await?;
            assert!(matches!(w, ControllerMsg::Welcome(_)));
        }
        send.write_all(payload).await?;
        let why = tokio::time::timeout(Duration::from_secs(15), conn.closed()).await?;
        let (code, reason) = close_code(&why).unwrap_or_else(|| panic!("payload {i}: {why}"));
        assert_eq!(code, 3, "payload {i} closes with the protocol code: {reason}");
    }
    // The controller is still fine and logged why.
    let tok = c.admin_token();
    let (s, _) = c.get("/api/v1/health", "").await?;
    assert_eq!(s, 200);
    assert!(c.log().contains("bad hello"));
    assert!(c.log().contains("bad frame"));

    // Bad credentials are 401 with a JSON error, never 500.
    for auth in ["", "Bearer", "Bearer nope", "Basic Zm9vOmJhcg==", "Bearer mast_'; DROP TABLE agents;--"] {
        let r = reqwest::Client::new()
            .get(format!("http://{}/api/v1/devices", c.http))
            .header("authorization", auth)
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 401, "{auth:?}");
        let v: Value = r.json().await?;
        assert_eq!(v["error"]["code"], "unauthorized");
    }
    assert_eq!(c.get("/api/v1/devices", &tok).await?.0, 200);

    // A bad config file exits non-zero and names the key, before binding anything.
    let bad = c.dir.path().join("bad.toml");
    for (text, key) in [
        ("[http]\nlisten = \"not-an-address\"\n", "listen"),
        ("[agents]\nlistne = \"127.0.0.1:1\"\n", "listne"),
        ("[monitoring]\ndefault_probe_timeout_ms = 5\n", "monitoring.default_probe_timeout_ms"),
        ("timezone = \"Mars/Olympus\"\n", "timezone"),
        ("[billing]\ndunning_steps = \"reminder@x\"\n", "billing.dunning_steps"),
    ] {
        std::fs::write(&bad, text)?;
        let out = std::process::Command::new(controller_bin()).args(["--config"]).arg(&bad).arg("serve").output()?;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "stderr names {key}: {err}");
    }

    // A CLI command pointed at a directory with no database says so and
    // creates nothing; pointed at the controller's data dir it finds its data.
    let empty = tempfile::tempdir()?;
    let out = std::process::Command::new(controller_bin())
        .args(["site", "list"])
        .env("MAST_DATA_DIR", empty.path())
        .env_remove("MAST_DATABASE_URL")
        .env_remove("MAST_CONFIG")
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no Mast database") && err.contains("MAST_DATA_DIR"), "{err}");
    assert_eq!(std::fs::read_dir(empty.path())?.count(), 0, "nothing created in the empty directory");
    assert!(c.cli_ok(&["site", "list"]).contains("hill"), "the CLI finds the controller's database");
    Ok(())
}

on_both_backends!(rollups_match_raw_samples);

fn series_total(v: &Value) -> (i64, f64) {
    let pts = v["points"].as_array().cloned().unwrap_or_default();
    let n: i64 = pts.iter().map(|p| p["samples"].as_i64().unwrap_or(0)).sum();
    let lost: f64 =
        pts.iter().map(|p| p["samples"].as_f64().unwrap_or(0.0) * p["loss_pct"].as_f64().unwrap_or(0.0) / 100.0).sum();
    (n, lost)
}

/// Day and week charts read the 5-minute rollups, month and year the hourly
/// ones; once the worker has run they hold exactly the samples the raw
/// (hour) chart shows.
async fn rollups_match_raw_samples(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[("MAST_ROLLUP_INTERVAL_SECS", "1")]).await? else { return Ok(()) };
    c.cli_ok(&["site", "add", "roll", "--targets", "127.0.0.1,127.0.0.2", "--interval", "1"]);
    let (mut agent, _) = Agent::enroll(&c, "roll")?;
    agent.start()?;
    let tok = c.admin_token();
    let dev = c
        .wait_for("a device with samples", Duration::from_secs(20), async || {
            let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
            devices(&v).into_iter().find(|d| d["samples_10m"].as_i64().unwrap_or(0) >= 5)?["id"].as_i64()
        })
        .await?;
    agent.kill();
    c.wait_for("rollups to match the raw samples", Duration::from_secs(20), async || {
        let (_, hour) = c.get(&format!("/api/v1/devices/{dev}/series?range=hour"), &tok).await.ok()?;
        let (_, day) = c.get(&format!("/api/v1/devices/{dev}/series?range=day"), &tok).await.ok()?;
        let (_, week) = c.get(&format!("/api/v1/devices/{dev}/series?range=week"), &tok).await.ok()?;
        let (_, year) = c.get(&format!("/api/v1/devices/{dev}/series?range=year"), &tok).await.ok()?;
        let (h, d, w, y) = (series_total(&hour), series_total(&day), series_total(&week), series_total(&year));
        (h.0 >= 5 && h.0 == d.0 && d.0 == w.0 && w.0 == y.0 && (h.1 - d.1).abs() < 1e-6 && (h.1 - y.1).abs() < 1e-6)
            .then_some(())
    })
    .await?;
    // An unknown range is a clear 400 that names the ranges there are.
    let (st, v) = c.get(&format!("/api/v1/devices/{dev}/series?range=decade"), &tok).await?;
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("hour, day, week, month, year"), "{v}");
    Ok(())
}
