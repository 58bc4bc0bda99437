//! Regression tests of the outside security review (issue 13): each attack
//! that once broke the controller, run again against the real server.

use mast_tests::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// 1,100 half-sent requests from one address against a controller with the
/// default open-file limit of 1,024: the health check from another address
/// still answers at once, the slow clients are cut off after the header
/// timeout, and the controller keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_starve_the_server() -> anyhow::Result<()> {
    let env = [("MAST_TEST_NOFILE", "1024"), ("MAST_HTTP_HEADER_TIMEOUT_SECS", "3")];
    let Some(c) = Controller::start(Backend::Sqlite, &env).await? else { return Ok(()) };
    let mut slow = Vec::new();
    for _ in 0..1_100 {
        match std::net::TcpStream::connect_timeout(&c.http, Duration::from_secs(2)) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
                slow.push(s);
            }
            Err(_) => break,
        }
    }
    assert!(slow.len() >= 500, "only {} connections opened", slow.len());
    eprintln!("opened {} slow connections", slow.len());
    let probe = WebSession::new_from(&c, Some("127.0.0.2".parse()?));
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            probe.http.get(format!("http://{}/api/v1/health", c.http)).send(),
        )
        .await
        .map_err(|_| anyhow::anyhow!("the health check timed out during the flood"))??;
        assert_eq!(r.status(), 200);
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(worst < Duration::from_secs(1), "health check took {worst:?} under the flood");
    // The server cut the slow clients off (after the 3 s header timeout).
    let s = &mut slow[0];
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let t = Instant::now();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "slow client got {answer:?}");
    assert!(t.elapsed() < Duration::from_secs(9), "slow client kept for {:?}", t.elapsed());
    drop(slow);
    let tok = c.admin_token();
    let (status, _) = c.get("/api/v1/sites", &tok).await?;
    assert_eq!(status, 200, "the controller serves after the flood");
    let metrics = reqwest::get(format!("http://{}/metrics", c.http)).await?.text().await?;
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mast_http_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "connections over the per-address limit were refused: {metrics}");
    eprintln!("flood of {} slow connections: health check worst {worst:?}, {refused} refused", 1_100);
    Ok(())
}

async fn agent_connected(c: &Controller, tok: &str, id: u64) -> Option<bool> {
    let (_, v) = c.get("/api/v1/agents", tok).await.ok()?;
    v["agents"].as_array()?.iter().find(|a| a["id"].as_u64() == Some(id)).and_then(|a| a["connected"].as_bool())
}

/// A second link with the agent's own certificate (a cloned identity, a
/// stale process) closes the older link; when the duplicate goes away, the
/// agent is connected again through its real link, and stays so: a link
/// that is not the live one never marks the agent disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_link_never_leaves_the_agent_marked_disconnected() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(c) = Controller::start(Backend::Sqlite, &[]).await? else { return Ok(()) };
    c.cli_ok(&["site", "add", "dup", "--targets", "127.0.0.1", "--interval", "1"]);
    let (mut agent, id) = Agent::enroll(&c, "dup")?;
    agent.start()?;
    let tok = c.admin_token();
    c.wait_for("agent connected", Duration::from_secs(20), async || {
        agent_connected(&c, &tok, id).await.filter(|c| *c).map(|_| ())
    })
    .await?;
    let cert = std::fs::read(agent.state_dir().join("agent.cert.der"))?;
    let key = std::fs::read_to_string(agent.state_dir().join("agent.key.pem"))?;
    let (ep, cfg) = raw_client(&controller_ca_der(&c), Some((cert, key)))?;
    let dup = ep.connect_with(cfg, c.quic, mast_shared::CONTROLLER_SERVER_NAME)?.await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    dup.close(0u32.into(), b"bye");
    drop(ep);
    c.wait_for("the real agent connected again", Duration::from_secs(30), async || {
        agent_connected(&c, &tok, id).await.filter(|c| *c).map(|_| ())
    })
    .await?;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(agent_connected(&c, &tok, id).await, Some(true), "the agent stays connected");
    }
    assert!(c.log().contains("superseded") || c.log().contains("agent connected"), "{}", c.log());
    agent.kill();
    Ok(())
}
