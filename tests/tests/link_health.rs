//! Link health end to end, before the customer calls: a tower agent in a
//! network namespace polls a simulated airMAX AP (snmpsim serving the
//! `ubiquiti-ap` recording) every 5 s; staff set two link rules in the
//! browser (a station's signal weaker than usual by more than 10 dB, an
//! AP losing more than 30 % of its stations); then the recording changes
//! under the running agent (one CPE's signal falls from -58 to -80 dBm,
//! another CPE leaves the AP) and the on-call group is emailed both, once;
//! the weak-links page, the AP's page and `/api/v1` show the new figures.

use mast_tests::mail::SmtpSink;
use mast_tests::snmp::{SimDevice, SnmpSim, fixture};
use mast_tests::*;
use serde_json::Value;
use std::time::Duration;

on_both_backends!(weakening_station_and_shrinking_sector_are_told);

const WEAKENING: &str = "04:18:d6:a1:22:3b";
/// The station table index of the CPE that leaves (`<radio>.<MAC arcs>`).
const LEAVING_INDEX: &str = ".1.120.138.32.16.196.231|";
const STA_TABLE: &str = "1.3.6.1.4.1.41112.1.4.7.1.";

/// ubntWlStatStaCount: the AP's own count of its stations, when recorded.
const STA_COUNT: &str = "1.3.6.1.4.1.41112.1.4.5.1.15.";

/// The AP recording after the change: CPE 04:18:d6:a1:22:3b at -80 dBm,
/// CPE 78:8a:20:10:c4:e7 gone from the station table (and from the AP's
/// station count).
fn changed_recording(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let text = std::fs::read_to_string(fixture("ubiquiti-ap"))?;
    let signal = format!("{STA_TABLE}3.1.4.24.214.161.34.59|2|");
    let mut out = String::new();
    let mut changed = 0;
    for line in text.lines() {
        if line.starts_with(STA_TABLE) && line.contains(LEAVING_INDEX) {
            changed += 1;
            continue;
        }
        if line.starts_with(STA_COUNT) {
            let (head, _) = line.rsplit_once('|').unwrap_or((line, ""));
            out.push_str(&format!("{head}|2\n"));
            continue;
        }
        if let Some(rest) = line.strip_prefix(&signal) {
            anyhow::ensure!(rest == "-58", "the recording's signal for {WEAKENING} is {rest}");
            out.push_str(&format!("{signal}-80\n"));
            changed += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    anyhow::ensure!(changed > 5, "the recording did not have the rows to change");
    let path = dir.join("ubiquiti-ap.snmprec");
    std::fs::write(&path, out)?;
    Ok(path)
}

async fn weakening_station_and_shrinking_sector_are_told(backend: Backend) -> anyhow::Result<()> {
    if !require_root("the link health test (its agent runs in a network namespace)")? {
        return Ok(());
    }
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let mut env = SmtpSink::controller_env(&port).to_vec();
    env.extend([
        ("MAST_OUTAGE_HOLD_DOWN_SECS", "900"),
        ("MAST_ALERT_ON_CALL_GROUP", "NOC"),
        ("MAST_ALERT_RULES_EVERY_SECS", "2"),
    ]);
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    let pw = c.add_user("boss@wisp.test", "admin");
    let mut s = WebSession::new(&c);
    s.login("boss@wisp.test", &pw).await?;
    s.get("/groups").await?;
    let r = s.post("/groups", &[("name", "NOC"), ("email", "noc@wisp.test")], None).await?;
    assert!(r.status == 303 || r.status == 200, "group: {}", r.status);

    // The rules, from the browser: a window beyond what a drop may span is
    // refused next to its field.
    s.get("/alerts/rules").await?;
    let rule = |name: &'static str, metric: &'static str, t: &'static str, w: &'static str| {
        vec![("name", name), ("metric", metric), ("threshold", t), ("window_mins", w), ("site_id", "")]
    };
    let bad = s.post("/alerts/rules", &rule("Weakening CPE", "signaldrop", "10", "30000"), None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("whole minutes from 1 to 20160"), "{}", bad.body);
    assert_eq!(s.post("/alerts/rules", &rule("Weakening CPE", "signaldrop", "10", "2"), None).await?.status, 303);
    assert_eq!(s.post("/alerts/rules", &rule("Sector emptied", "stationsdrop", "30", "2"), None).await?.status, 303);

    let ns = NetNs::create()?;
    let addr = std::net::SocketAddr::new(ns.host_device_ip(0)?.into(), 1161);
    let sim = SnmpSim::start_at(&[SimDevice::new("ubiquiti-ap", fixture("ubiquiti-ap"))], &[addr])?;
    let Some(sim) = sim else { return Ok(()) };
    c.cli_ok(&["site", "add", "tower", "--interval", "5", "--timeout-ms", "500"]);
    c.snmp_probing("tower", &format!("{addr}@0"), "ubiquiti-ap")?;
    let (mut agent, _, _relay) = Agent::start_in_netns(&c, "tower", &ns, &["--spool-flush-ms", "50"]).await?;
    let tok = c.admin_token();

    // The AP and its three stations with their link figures.
    let ap_id = c
        .wait_for("the AP's three stations with link figures", Duration::from_secs(60), async || {
            let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
            let ap = devices(&v).into_iter().find(|d| d["addr"] == addr.ip().to_string())?;
            let id = ap["id"].as_i64()?;
            let (_, l) = c.get(&format!("/api/v1/devices/{id}/links"), &tok).await.ok()?;
            (l["stations"].as_array()?.len() == 3).then_some(id)
        })
        .await?;
    let (_, l) = c.get(&format!("/api/v1/devices/{ap_id}/links"), &tok).await?;
    let first = &l["stations"][0];
    assert_eq!(first["mac"], "78:8a:20:10:c4:e7", "weakest first: {l}");
    assert_eq!(first["link"]["signal_dbm"], -72, "{l}");
    assert!(first["link"]["quality_pct"].as_i64().is_some(), "CCQ: {l}");
    assert!(l["links"].as_array().is_some_and(|a| a.iter().any(|x| x["stations"] == 3)), "station count: {l}");
    let page = s.get(&format!("/devices/{ap_id}")).await?.body;
    assert!(page.contains("Stations (3), weakest first") && page.contains("-72 dBm"), "{page}");

    // The usual half of the two-minute window, then the change.
    tokio::time::sleep(Duration::from_secs(62)).await;
    let dir = tempfile::tempdir()?;
    let changed = changed_recording(dir.path())?;
    drop(sim);
    let sim = SnmpSim::start_at(&[SimDevice::new("ubiquiti-ap", changed)], &[addr])?.expect("snmpsim again");

    until("the signal-drop email", 90, || sink.count_to("noc@wisp.test", "Alert: Weakening CPE") >= 1).await?;
    until("the stations-drop email", 60, || sink.count_to("noc@wisp.test", "Alert: Sector emptied") >= 1).await?;
    let mail = sink
        .messages()
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m.raw).to_string())
        .find(|m| m.contains("Alert: Weakening CPE"))
        .unwrap();
    assert!(mail.contains("dB weaker"), "{mail}");

    // What staff see: the CPE on the weak-links page with why, the AP's
    // table, the API.
    let weak = s.get("/network/links").await?.body;
    assert!(weak.contains("signal -80 dBm") && weak.contains("cpe-garcia"), "{weak}");
    let (_, api) = c.get("/api/v1/links/weak", &tok).await?;
    let listed: Vec<&Value> = api["links"].as_array().unwrap().iter().collect();
    assert!(
        listed.iter().any(|x| x["station"]["mac"] == WEAKENING && x["station"]["link"]["signal_dbm"] == -80),
        "{api}"
    );
    c.wait_for("the AP's radio counting two stations", Duration::from_secs(20), async || {
        let (_, l) = c.get(&format!("/api/v1/devices/{ap_id}/links"), &tok).await.ok()?;
        l["links"].as_array()?.iter().any(|x| x["stations"] == 2).then_some(())
    })
    .await?;
    // Told once each, however many evaluations ran since.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sink.count_to("noc@wisp.test", "Alert: Weakening CPE"), 1);
    assert_eq!(sink.count_to("noc@wisp.test", "Alert: Sector emptied"), 1);
    let rules_page = s.get("/alerts/rules").await?.body;
    assert!(rules_page.contains("dB weaker") && rules_page.contains("% of stations gone"), "{rules_page}");
    drop(sim);
    agent.kill();
    Ok(())
}
