//! Staff alerting end to end: a radio dies, the on-call group gets an email
//! (real SMTP server) and the chat webhook a signed JSON alert, once; nobody
//! acknowledges, so the escalation group hears after a minute; the radio
//! comes back and the on-call group hears that too.

use mast_tests::mail::SmtpSink;
use mast_tests::*;
use serde_json::Value;
use std::time::Duration;

/// The webhook bodies whose signature checks, as JSON.
fn signed(hooks: &Hooks) -> Vec<Value> {
    hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|(sig, body)| {
            let t: i64 =
                sig.strip_prefix("t=").and_then(|s| s.split(',').next()).and_then(|t| t.parse().ok()).unwrap_or(0);
            *sig == mast_controller::notify::WebhookTransport::signature("chat-secret", t, body)
        })
        .filter_map(|(_, b)| serde_json::from_slice(b).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_call_hears_first_escalation_follows_and_recovery_is_told() -> anyhow::Result<()> {
    if !require_root("the alerting test (its agent runs in a network namespace)")? {
        return Ok(());
    }
    let sink = SmtpSink::start();
    let (hook_url, hooks) = webhook_sink("/noc").await?;
    let port = sink.port.to_string();
    let env = [
        ("MAST_OUTAGE_HOLD_DOWN_SECS", "3"),
        ("MAST_OUTAGE_RECOVERY_SECS", "3"),
        ("MAST_SMTP_HOST", "127.0.0.1"),
        ("MAST_SMTP_PORT", port.as_str()),
        ("MAST_SMTP_SECURITY", "none"),
        ("MAST_NOTIFY_INTERVAL_SECS", "1"),
        ("MAST_ALERT_ON_CALL_GROUP", "NOC"),
        ("MAST_ALERT_ESCALATION_GROUP", "NOC leads"),
        ("MAST_ALERT_ESCALATE_AFTER_MINS", "1"),
        ("MAST_ALERT_WEBHOOK_URL", hook_url.as_str()),
        ("MAST_ALERT_WEBHOOK_SECRET", "chat-secret"),
    ];
    let Some(c) = Controller::start(Backend::Sqlite, &env).await? else { return Ok(()) };
    let pw = c.add_user("boss@wisp.test", "admin");
    let mut s = WebSession::new(&c);
    s.login("boss@wisp.test", &pw).await?;
    s.get("/groups").await?;
    for (name, email) in [("NOC", "noc@wisp.test"), ("NOC leads", "leads@wisp.test")] {
        let r = s.post("/groups", &[("name", name), ("email", email)], None).await?;
        assert!(r.status == 303 || r.status == 200, "group {name}: {}", r.status);
    }

    let ns = NetNs::create()?;
    let radio = ns.spare_addr();
    let up = |yes: bool| ns.set_local(&radio, yes);
    up(true)?;
    c.cli_ok(&[
        "site",
        "add",
        "ridge",
        "--targets",
        &format!("{radio}=ap-ridge"),
        "--interval",
        "1",
        "--timeout-ms",
        "300",
    ]);
    let (mut agent, _, _relay) = Agent::start_in_netns(&c, "ridge", &ns, &[]).await?;
    let tok = c.admin_token();
    c.wait_for("the AP up", Duration::from_secs(30), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        devices(&v).iter().any(|d| d["status"] == "up").then_some(())
    })
    .await?;

    // The AP dies: the on-call group's address gets one email, the chat one
    // signed alert.
    up(false)?;
    until("the on-call email", 60, || sink.count_to("noc@wisp.test", "opened") >= 1).await?;
    until("the signed opened alert", 30, || signed(&hooks).iter().any(|h| h["event"] == "incident.opened")).await?;
    let opened = signed(&hooks).into_iter().find(|h| h["event"] == "incident.opened").unwrap();
    assert!(opened["text"].as_str().unwrap().contains("ap-ridge"), "{opened}");
    assert_eq!(opened["to"], "NOC", "{opened}");
    let incident = opened["incident_id"].as_i64().expect("incident id");
    assert_eq!(sink.count_to("leads@wisp.test", "Incident"), 0, "the leads only hear on escalation");

    // Nobody acknowledges it: a minute later the leads hear, once.
    until("the escalation email", 120, || sink.count_to("leads@wisp.test", "not acknowledged") >= 1).await?;
    until("the escalation alert", 30, || signed(&hooks).iter().any(|h| h["event"] == "incident.unacknowledged"))
        .await?;

    // Back up: the recovery goes to the on-call group.
    up(true)?;
    until("the recovery email", 60, || sink.count_to("noc@wisp.test", "recovered") >= 1).await?;
    until("the recovery alert", 30, || signed(&hooks).iter().any(|h| h["event"] == "incident.recovered")).await?;
    tokio::time::sleep(Duration::from_secs(25)).await;
    // Each decision once (the outbox's dedup keys), however often re-decided.
    assert_eq!(sink.count_to("noc@wisp.test", "opened"), 1);
    assert_eq!(sink.count_to("leads@wisp.test", "not acknowledged"), 1);
    let events: Vec<String> =
        signed(&hooks).iter().filter(|h| h["incident_id"] == incident).map(|h| h["event"].to_string()).collect();
    assert_eq!(events.iter().filter(|e| e.contains("incident.opened")).count(), 1, "{events:?}");
    assert_eq!(events.iter().filter(|e| e.contains("unacknowledged")).count(), 1, "{events:?}");
    let received = hooks.lock().unwrap().len();
    assert_eq!(received, signed(&hooks).len(), "every alert is signed");
    agent.kill();
    Ok(())
}

/// A loss rule made in the browser (bad fields answered next to them), a
/// site contact who asked for alerts, a radio that drops half its pings:
/// the on-call group, the contact and the chat hear once that the rule
/// fired and once that it cleared. No incident opens (the hold-down is long),
/// so these are the rule's alerts alone. On PostgreSQL (the incident test
/// above runs on SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_rule_tells_on_call_and_site_contact_once() -> anyhow::Result<()> {
    if !require_root("the alert rule test (its agent runs in a network namespace)")? {
        return Ok(());
    }
    let sink = SmtpSink::start();
    let (hook_url, hooks) = webhook_sink("/noc").await?;
    let port = sink.port.to_string();
    let env = [
        ("MAST_OUTAGE_HOLD_DOWN_SECS", "900"),
        ("MAST_SMTP_HOST", "127.0.0.1"),
        ("MAST_SMTP_PORT", port.as_str()),
        ("MAST_SMTP_SECURITY", "none"),
        ("MAST_NOTIFY_INTERVAL_SECS", "1"),
        ("MAST_ALERT_ON_CALL_GROUP", "NOC"),
        ("MAST_ALERT_RULES_EVERY_SECS", "2"),
        ("MAST_ALERT_WEBHOOK_URL", hook_url.as_str()),
        ("MAST_ALERT_WEBHOOK_SECRET", "chat-secret"),
    ];
    let Some(c) = Controller::start(Backend::Postgres, &env).await? else { return Ok(()) };
    let pw = c.add_user("boss@wisp.test", "admin");
    let mut s = WebSession::new(&c);
    s.login("boss@wisp.test", &pw).await?;
    s.get("/groups").await?;
    let r = s.post("/groups", &[("name", "NOC"), ("email", "noc@wisp.test")], None).await?;
    assert!(r.status == 303 || r.status == 200, "group: {}", r.status);

    let ns = NetNs::create()?;
    let radio = ns.spare_addr();
    let up = |yes: bool| ns.set_local(&radio, yes);
    up(true)?;
    c.cli_ok(&[
        "site",
        "add",
        "ridge",
        "--targets",
        &format!("{radio}=cpe-ann"),
        "--interval",
        "1",
        "--timeout-ms",
        "300",
    ]);
    let tok = c.admin_token();
    let (_, sites) = c.get("/api/v1/sites", &tok).await?;
    let sid = sites["sites"][0]["id"].as_i64().unwrap();

    // The site's contact: asking for alerts without an address is refused
    // next to the field; with one it is saved.
    s.get(&format!("/sites/{sid}/contacts")).await?;
    let bad = s.post(&format!("/sites/{sid}/contacts"), &[("name", "Ann Landlord"), ("alerts", "on")], None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("needed to send this contact alerts"), "{}", bad.body);
    let ok = s
        .post(
            &format!("/sites/{sid}/contacts"),
            &[("name", "Ann Landlord"), ("role", "landlord"), ("email", "ann@wisp.test"), ("alerts", "on")],
            None,
        )
        .await?;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(s.get(&format!("/sites/{sid}")).await?.body.contains("Ann Landlord"));

    // The rule: a threshold out of range is refused next to its field.
    s.get("/alerts/rules").await?;
    let rule = |t: &'static str| {
        vec![("name", "Lossy link"), ("metric", "loss"), ("threshold", t), ("window_mins", "1"), ("site_id", "")]
    };
    let bad = s.post("/alerts/rules", &rule("150"), None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("a number from 0 to 100"), "{}", bad.body);
    assert_eq!(s.post("/alerts/rules", &rule("30"), None).await?.status, 303);

    let (mut agent, _, _relay) = Agent::start_in_netns(&c, "ridge", &ns, &[]).await?;
    c.wait_for("the radio up", Duration::from_secs(30), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        devices(&v).iter().any(|d| d["status"] == "up").then_some(())
    })
    .await?;
    // Half a minute of answered pings, then half a minute of lost ones.
    tokio::time::sleep(Duration::from_secs(25)).await;
    up(false)?;
    until("the on-call email", 90, || sink.count_to("noc@wisp.test", "Lossy link") >= 1).await?;
    until("the contact's email", 30, || sink.count_to("ann@wisp.test", "Lossy link") >= 1).await?;
    until("the signed fired alert", 30, || signed(&hooks).iter().any(|h| h["event"] == "rule.fired")).await?;
    let fired = signed(&hooks).into_iter().find(|h| h["event"] == "rule.fired").unwrap();
    assert!(fired["text"].as_str().unwrap().contains("cpe-ann at ridge"), "{fired}");
    assert!(fired["rule_id"].as_i64().is_some(), "{fired}");
    let page = s.get("/alerts/rules").await?.body;
    assert!(page.contains("firing") && page.contains("% lost"), "{page}");
    assert_eq!(sink.count_to("noc@wisp.test", "Incident"), 0, "no incident: the hold-down is long");

    // Back: once a minute of answered pings has pushed the loss under the
    // threshold, everyone hears it cleared, once.
    up(true)?;
    until("the cleared email", 120, || sink.count_to("noc@wisp.test", "Cleared: Lossy link") >= 1).await?;
    until("the cleared alert", 30, || signed(&hooks).iter().any(|h| h["event"] == "rule.cleared")).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    for to in ["noc@wisp.test", "ann@wisp.test"] {
        assert_eq!(sink.count_to(to, "Alert: Lossy link"), 1, "{to}");
        assert_eq!(sink.count_to(to, "Cleared: Lossy link"), 1, "{to}");
    }
    let events: Vec<Value> = signed(&hooks);
    assert_eq!(events.iter().filter(|h| h["event"] == "rule.fired").count(), 1);
    assert_eq!(events.iter().filter(|h| h["event"] == "rule.cleared").count(), 1);
    assert!(s.get("/alerts/rules").await?.body.contains("cleared"));
    agent.kill();
    Ok(())
}
