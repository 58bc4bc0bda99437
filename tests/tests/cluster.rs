//! Two controller processes on one PostgreSQL database, as a cluster runs
//! them: one CA, agents split between them moving to the survivor when one
//! is killed (SIGKILL) with no sample lost or stored twice, the run-once
//! workers' leases moving with them (each invoice mailed once, before and
//! after), and a revocation made through one controller closing the link an
//! agent holds to the other (PostgreSQL notifications).

use mast_tests::load::{self, Counters, Load};
use mast_tests::mail::SmtpSink;
use mast_tests::*;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::watch;

async fn lease_holders(c: &Controller) -> anyhow::Result<Vec<(String, String)>> {
    let db = c.db().await?;
    Ok(sqlx::query_as("SELECT name, holder FROM leases ORDER BY name").fetch_all(&db.pool).await?)
}

fn mails_to(sink: &SmtpSink, who: &str) -> usize {
    sink.messages().iter().filter(|m| m.to.iter().any(|t| t == who)).count()
}

fn invoice_customer(c: &Controller, name: &str, email: &str) {
    let id = c.cli_ok(&["customer", "add", "--name", name, "--email", email]).trim().to_string();
    c.cli_ok(&["billing", "account", "set", &id, "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &id, "Home 25", "--start", "2026-12-01"]);
    c.cli_ok(&["billing", "run", "--date", "2026-12-01"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_share_one_postgres_and_fail_over() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let mut env = SmtpSink::controller_env(&port).to_vec();
    env.push(("MAST_CLUSTER_LEASE_SECS", "6"));
    let Some(mut a) = Controller::start(Backend::Postgres, &env).await? else { return Ok(()) };
    let b = Controller::start_beside(&a, &env)?;
    assert_eq!(controller_ca_der(&a), controller_ca_der(&b), "one CA for both");
    let (ida, idb) = (a.lease_holder(), b.lease_holder());
    assert!(!ida.is_empty() && ida != idb);

    // The first controller runs every run-once worker.
    a.wait_for("A holds every lease", Duration::from_secs(20), async || {
        let l = lease_holders(&a).await.ok()?;
        (l.len() == 12 && l.iter().all(|(_, h)| *h == ida)).then_some(())
    })
    .await?;

    // Agents: six simulated, split between the two, one more on A only
    // (to be revoked through B), and a real agent given both addresses.
    a.cli_ok(&["site", "add", "load", "--interval", "60"]);
    a.cli_ok(&["site", "add", "real", "--targets", "127.0.0.1", "--interval", "1"]);
    let dir = tempfile::tempdir()?;
    let mut fleet = load::enroll(&a, "load", 7, dir.path(), 4).await?;
    let doomed = fleet.pop().expect("seven");
    let (mut real, real_id) = Agent::enroll(&a, "real")?;
    real.set_controller(&format!("{},{}", a.quic, b.quic))?;
    real.start()?;

    let eps = load::endpoints(fleet.len(), 1)?;
    let counters = Arc::new(Counters::default());
    let (_addrs_tx, addrs) = watch::channel(vec![a.quic, b.quic]);
    let (_stop_tx, stop) = watch::channel(false);
    let work = Load { devices: 20, interval: Duration::from_secs(1), rounds: 30, backlog: 0 };
    let tasks = load::spawn(&fleet, &eps, &addrs, work, &stop, &counters);
    let doomed_counters = Arc::new(Counters::default());
    let (_only_a_tx, only_a) = watch::channel(vec![a.quic]);
    let (stop_doomed, doomed_stop) = watch::channel(false);
    let idle = Load { devices: 1, interval: Duration::from_secs(1), rounds: u64::MAX, backlog: 0 };
    let doomed_id = doomed.id;
    let doomed_task = tokio::spawn(load::run(
        doomed,
        load::endpoints(1, 1)?.remove(0),
        only_a,
        idle,
        doomed_stop,
        doomed_counters.clone(),
    ));
    until("every simulated agent connected", 30, || {
        counters.up.load(Relaxed) == 6 && doomed_counters.up.load(Relaxed) == 1
    })
    .await?;

    // Revoked through B: A closes the link at once (no polling on PostgreSQL).
    let (st, v) =
        b.post_json(&format!("/api/v1/agents/{doomed_id}/revoke"), &b.admin_token(), &serde_json::json!({})).await?;
    assert_eq!(st, 200, "{v}");
    until("the revoked agent's link to A closed", 10, || doomed_counters.up.load(Relaxed) == 0).await?;
    a.wait_for("A closed it as revoked", Duration::from_secs(10), async || {
        a.log().contains("agent revoked").then_some(())
    })
    .await?;
    stop_doomed.send(true)?;
    doomed_task.await??;

    // Each invoice is mailed once, by whoever runs the workers.
    a.cli_ok(&["billing", "plan", "add", "Home 25", "--price", "45.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    invoice_customer(&a, "Xena Before", "xena@example.org");
    until("Xena's invoice mailed", 30, || mails_to(&sink, "xena@example.org") >= 1).await?;

    // A dies mid-stream.
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.kill();
    b.wait_for("the real agent moved to B", Duration::from_secs(40), async || {
        b.log()
            .lines()
            .any(|l| l.contains("agent connected") && l.contains(&format!("agent_id={real_id}")))
            .then_some(())
    })
    .await?;
    b.wait_for("B took every lease", Duration::from_secs(40), async || {
        let l = lease_holders(&b).await.ok()?;
        (l.len() == 12 && l.iter().all(|(_, h)| *h == idb)).then_some(())
    })
    .await?;
    // An admin sees who runs the workers on the agents page.
    let pw = b.add_user("ops@wisp.test", "admin");
    let mut web = WebSession::new(&b);
    web.login("ops@wisp.test", &pw).await?;
    let page = web.get("/agents").await?;
    assert!(
        page.body.contains("Controllers") && page.body.contains(&format!("{idb} (this controller)")),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&ida), "A's leases all moved");
    invoice_customer(&b, "Yuri After", "yuri@example.org");
    until("Yuri's invoice mailed", 30, || mails_to(&sink, "yuri@example.org") >= 1).await?;

    // Every round of every simulated agent acknowledged, each sample stored once.
    let mut made = 0u64;
    let mut ids = Vec::new();
    for t in tasks {
        let e = tokio::time::timeout(Duration::from_secs(120), t).await???;
        assert_eq!(e.acked, e.made, "agent {} acknowledged up to {} of {}", e.id, e.acked, e.made);
        made += e.made;
        ids.push(e.id.to_string());
    }
    let db = b.db().await?;
    let list = ids.join(", ");
    let (rows,): (i64,) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM samples WHERE agent_id IN ({list})")))
            .fetch_one(&db.pool)
            .await?;
    let (counted,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(COALESCE(SUM(stored), 0) AS BIGINT) FROM delivery_counts WHERE agent_id IN ({list})"
    )))
    .fetch_one(&db.pool)
    .await?;
    assert_eq!((rows as u64, counted as u64), (made, made), "every sample stored once");
    assert!(counters.links.load(Relaxed) > 6, "the agents on A reconnected to B");

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mails_to(&sink, "xena@example.org"), 1, "mailed once");
    assert_eq!(mails_to(&sink, "yuri@example.org"), 1, "mailed once");
    real.kill();
    Ok(())
}
