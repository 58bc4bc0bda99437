//! Tower to tower, end to end with real processes: valley's backhaul lands
//! on a radio at hilltop (set in the browser by a technician). Valley's
//! agent polls an airMAX AP (snmpsim) with three CPEs; one of them serves a
//! customer. Each tower's agent runs in its own network namespace and
//! reaches the controller through a UDP relay the test can cut.
//!
//! 1. The hilltop radio dies and valley's agent loses its path with it:
//!    ONE incident, rooted at the radio, with valley's AP, CPEs and
//!    customer; valley never gets a site incident of its own.
//! 2. Hilltop loses power (both agents silent): ONE site incident for
//!    hilltop covering valley's devices and customer, no controller alert.
//!
//! On SQLite, then on PostgreSQL (one after the other: the timings are
//! short, and two pairs of towers at once on 2 cores would blur them).

use mast_tests::snmp::{SimDevice, SnmpSim, fixture};
use mast_tests::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const CPES: [(&str, &str); 3] =
    [("04:18:d6:a1:22:3b", "10.20.1.11"), ("24:a4:3c:7e:01:9a", "10.20.1.12"), ("78:8a:20:10:c4:e7", "10.20.1.13")];

async fn open_incidents(c: &Controller, tok: &str) -> Option<Vec<Value>> {
    let (_, v) = c.get("/api/v1/incidents?open=true", tok).await.ok()?;
    v["incidents"].as_array().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_is_one_incident_with_the_downstream_towers_customers() -> anyhow::Result<()> {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        upstream_failure(backend).await.map_err(|e| e.context(format!("{backend:?}")))?;
    }
    Ok(())
}

async fn upstream_failure(backend: Backend) -> anyhow::Result<()> {
    if !require_root("the tower-to-tower test (its agents run in network namespaces)")? {
        return Ok(());
    }
    let env = [
        ("MAST_OUTAGE_HOLD_DOWN_SECS", "3"),
        ("MAST_OUTAGE_RECOVERY_SECS", "3"),
        ("MAST_OUTAGE_AGENT_SILENCE_SECS", "8"),
        ("MAST_OUTAGE_CONTROLLER_WINDOW_SECS", "4"),
    ];
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    let tok = c.admin_token();

    // Hilltop: the backhaul radio whose far end is valley, pinged.
    let hill = NetNs::create()?;
    let radio = hill.spare_addr();
    let radio_up = |yes: bool| hill.set_local(&radio, yes);
    radio_up(true)?;
    c.cli_ok(&[
        "site",
        "add",
        "hilltop",
        "--targets",
        &format!("{radio}=bh-valley"),
        "--interval",
        "1",
        "--timeout-ms",
        "300",
    ]);

    // Valley: an airMAX AP with its CPEs, one of them Vera's.
    let valley = NetNs::create()?;
    for (_, ip) in CPES {
        valley.exec(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"])?;
    }
    let ap_addr = std::net::SocketAddr::new(valley.host_device_ip(0)?.into(), 1161);
    let sim = SimDevice::new("ubiquiti-ap", fixture("ubiquiti-ap"));
    let Some(_sim) = SnmpSim::start_at(std::slice::from_ref(&sim), &[ap_addr])? else { return Ok(()) };
    c.cli_ok(&["site", "add", "valley", "--interval", "1", "--timeout-ms", "500"]);
    let out = c.cli_stdin(
        &["site", "probing", "valley", "--snmp-credentials-stdin", "--snmp-targets", &format!("{ap_addr}@0")],
        &format!("v2c:{}\n", sim.community),
    );
    anyhow::ensure!(out.status.success(), "site probing: {}", String::from_utf8_lossy(&out.stderr));
    let vera: i64 = c
        .cli_ok(&["customer", "add", "--name", "Vera Valley", "--email", "vera@example.org", "--cpe", CPES[0].0])
        .trim()
        .parse()?;

    let (mut hill_agent, _, hill_relay) = Agent::start_in_netns(&c, "hilltop", &hill, &[]).await?;
    let (mut valley_agent, _, valley_relay) =
        Agent::start_in_netns(&c, "valley", &valley, &["--spool-flush-ms", "50"]).await?;
    let (radio_id, ap_id) = c
        .wait_for("the radio, the AP and its CPEs up", Duration::from_secs(60), async || {
            let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
            let all = devices(&v);
            let radio = all.iter().find(|d| d["addr"] == radio.as_str() && d["status"] == "up")?;
            let ap = all.iter().find(|d| d["addr"] == ap_addr.ip().to_string().as_str())?;
            let cpes_up = CPES.iter().all(|(mac, _)| all.iter().any(|d| d["mac"] == *mac && d["status"] == "up"));
            cpes_up.then(|| (radio["id"].as_i64().unwrap(), ap["id"].as_i64().unwrap()))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nvalley agent:\n{}", valley_agent.log()))?;
    let (_, sites) = c.get("/api/v1/sites", &tok).await?;
    let site_id = |name: &str| {
        sites["sites"].as_array().unwrap().iter().find(|s| s["name"] == name).and_then(|s| s["id"].as_i64()).unwrap()
    };
    let (hill_id, valley_id) = (site_id("hilltop"), site_id("valley"));

    // A technician says where valley's backhaul comes from. A device of
    // valley itself is refused next to the field.
    let pw = c.add_user("tech@wisp.test", "technician");
    let mut s = WebSession::new(&c);
    s.login("tech@wisp.test", &pw).await?;
    let form = s.get(&format!("/sites/{valley_id}/uplinks")).await?;
    assert!(form.body.contains("bh-valley"), "the radio is offered: {}", form.body);
    let bad = s.post(&format!("/sites/{valley_id}/uplinks"), &[("uplinks", &ap_id.to_string())], None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("an uplink is a device at another tower"), "{}", bad.body);
    s.get(&format!("/sites/{valley_id}/uplinks")).await?;
    let ok = s.post(&format!("/sites/{valley_id}/uplinks"), &[("uplinks", &radio_id.to_string())], None).await?;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let page = s.get(&format!("/sites/{valley_id}")).await?.body;
    assert!(page.contains("Reaches the controller through") && page.contains("bh-valley</a> at"), "{page}");
    assert!(s.get(&format!("/sites/{hill_id}")).await?.body.contains("Feeds"), "hilltop names what it feeds");
    let shown = c.cli_ok(&["site", "uplinks", "valley"]);
    assert!(shown.contains(&format!("through device {radio_id} (bh-valley) at hilltop")), "{shown}");
    assert!(open_incidents(&c, &tok).await.unwrap_or_default().is_empty(), "no incident while all answer");

    // 1. The radio dies; valley's path goes with it.
    let cut = Instant::now();
    radio_up(false)?;
    valley_relay.set(Impair { down: true, ..Default::default() });
    let one = c
        .wait_for("one incident at the radio covering valley", Duration::from_secs(60), async || {
            let list = open_incidents(&c, &tok).await?;
            (list.len() == 1 && list[0]["root_device_id"] == radio_id && list[0]["device_count"].as_i64() >= Some(5))
                .then(|| list[0].clone())
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\ncontroller log:\n{}", c.log()))?;
    assert_eq!(one["customer_count"], 1, "{one}");
    let iid = one["id"].as_i64().unwrap();
    let (_, detail) = c.get(&format!("/api/v1/incidents/{iid}"), &tok).await?;
    assert_eq!(detail["customers"], serde_json::json!([vera]), "{detail}");
    let ids: Vec<i64> = detail["devices"].as_array().unwrap().iter().filter_map(Value::as_i64).collect();
    assert!(ids.contains(&radio_id) && ids.contains(&ap_id), "{detail}");
    // Well past the time valley's silence would open a site incident of its
    // own (8 s + 4 s): still the one incident.
    tokio::time::sleep(Duration::from_secs(25).saturating_sub(cut.elapsed())).await;
    let list = open_incidents(&c, &tok).await.unwrap_or_default();
    assert_eq!(list.len(), 1, "still one incident: {list:?}");
    assert_eq!(list[0]["id"], iid);
    let (_, tickets) = c.get("/api/v1/tickets", &tok).await?;
    let outage_tickets = tickets["tickets"].as_array().unwrap().iter().filter(|t| t["source"] == "outage").count();
    assert_eq!(outage_tickets, 1, "{tickets}");

    // Back: the one incident resolves.
    radio_up(true)?;
    valley_relay.set(Impair::default());
    c.wait_for("the incident resolved", Duration::from_secs(60), async || {
        open_incidents(&c, &tok).await?.is_empty().then_some(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\ncontroller log:\n{}", c.log()))?;
    c.wait_for("valley's CPEs up again", Duration::from_secs(30), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        let all = devices(&v);
        CPES.iter().all(|(mac, _)| all.iter().any(|d| d["mac"] == *mac && d["status"] == "up")).then_some(())
    })
    .await?;

    // 2. Hilltop loses power: neither agent can send.
    hill_relay.set(Impair { down: true, ..Default::default() });
    valley_relay.set(Impair { down: true, ..Default::default() });
    let site = c
        .wait_for("one site incident for hilltop covering valley", Duration::from_secs(60), async || {
            let list = open_incidents(&c, &tok).await?;
            (list.len() == 1 && list[0]["root_kind"] == "site" && list[0]["device_count"].as_i64() >= Some(5))
                .then(|| list[0].clone())
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\ncontroller log:\n{}", c.log()))?;
    assert_eq!(site["site_id"], hill_id, "{site}");
    assert_eq!(site["customer_count"], 1, "{site}");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(open_incidents(&c, &tok).await.unwrap_or_default().len(), 1, "valley has no site incident");
    let (_, alerts) = c.get("/api/v1/incidents?open=true", &tok).await?;
    assert!(!alerts.to_string().contains("\"controller\""), "no controller alert: {alerts}");

    hill_agent.kill();
    valley_agent.kill();
    Ok(())
}
