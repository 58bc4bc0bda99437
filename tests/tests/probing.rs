//! Probing end to end with real processes: a tower agent in a network
//! namespace polls simulated radios (snmpsim serving an airMAX AP with three
//! CPEs, a MikroTik AP, a Cambium ePMP AP and a D-Link switch, each at its
//! own address), pings what it finds, and the controller shows the site's
//! devices with MACs, parents and metrics in its API and pages. The SNMP
//! settings travel from the controller's CLI to the running agent without a
//! restart, and the agent is never given the community on its command line.
//!
//! The CPE addresses from the AP's station table (10.20.1.11-13) exist only
//! inside the namespace (on its `lo`), so the agent's pings to them never
//! leave the machine; the namespace has no default route.
//!
//! When the AP fails, its customers are told: an email through a real SMTP
//! server (aiosmtpd) and a signed SMS-gateway webhook at the start and at
//! recovery; a customer who opted out gets nothing.

use mast_tests::mail::SmtpSink;
use mast_tests::snmp::{SimDevice, SnmpSim, Snmpd, fixture};
use mast_tests::*;
use serde_json::Value;
use std::time::Duration;

on_both_backends!(site_devices_with_macs_parents_and_metrics);
on_both_backends!(discovery_finds_ping_only_and_snmp_devices);

/// Addresses of the Cambium AP's stations: on the namespace's `lo` too, so
/// every radio of the site answers until the test takes one down.
const EPMP_STATIONS: [&str; 3] = ["10.40.0.21", "10.40.0.22", "10.40.0.23"];

const CPES: [(&str, &str, i64); 3] = [
    ("04:18:d6:a1:22:3b", "10.20.1.11", -58),
    ("24:a4:3c:7e:01:9a", "10.20.1.12", -66),
    ("78:8a:20:10:c4:e7", "10.20.1.13", -72),
];

fn find<'a>(list: &'a [Value], key: &str, value: &str) -> Option<&'a Value> {
    list.iter().find(|v| v[key].as_str() == Some(value))
}

async fn site_devices_with_macs_parents_and_metrics(backend: Backend) -> anyhow::Result<()> {
    if !require_root("probing end to end")? {
        return Ok(());
    }
    let sink = SmtpSink::start();
    let (hook_url, hooks) = webhook_sink("/sms").await?;
    let smtp_port = sink.port.to_string();
    let fast = [
        ("MAST_OUTAGE_HOLD_DOWN_SECS", "3"),
        ("MAST_OUTAGE_RECOVERY_SECS", "3"),
        ("MAST_SMTP_HOST", "127.0.0.1"),
        ("MAST_SMTP_PORT", smtp_port.as_str()),
        ("MAST_SMTP_SECURITY", "none"),
        ("MAST_SMS_WEBHOOK_URL", hook_url.as_str()),
        ("MAST_SMS_WEBHOOK_SECRET", "gateway-secret"),
        ("MAST_NOTIFY_INTERVAL_SECS", "1"),
    ];
    let Some(c) = Controller::start(backend, &fast).await? else { return Ok(()) };
    let ns = NetNs::create()?;
    for ip in CPES.iter().map(|c| c.1).chain(EPMP_STATIONS) {
        ns.exec(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"])?;
    }
    let names = ["ubiquiti-ap", "mikrotik", "cambium-epmp", "switch"];
    let mut addrs = Vec::new();
    for k in 0..names.len() {
        addrs.push(std::net::SocketAddr::new(ns.host_device_ip(k as u8)?.into(), 1161));
    }
    let sims: Vec<SimDevice> = names.iter().map(|n| SimDevice::new(*n, fixture(n))).collect();
    let Some(_sim) = SnmpSim::start_at(&sims, &addrs)? else { return Ok(()) };

    c.cli_ok(&["site", "add", "tower", "--interval", "1", "--timeout-ms", "500"]);
    // Credentials on standard input (not on a command line), one per device.
    let targets: Vec<String> = addrs.iter().enumerate().map(|(i, a)| format!("{a}@{i}")).collect();
    let out = c.cli_stdin(
        &[
            "site",
            "probing",
            "tower",
            "--snmp-credentials-stdin",
            "--snmp-targets",
            &targets.join(","),
            "--snmp-interval",
            "5",
        ],
        &sims.iter().map(|d| format!("v2c:{}\n", d.community)).collect::<String>(),
    );
    anyhow::ensure!(out.status.success(), "site probing failed: {}", String::from_utf8_lossy(&out.stderr));

    let (agent, _, _relay) = Agent::start_in_netns(&c, "tower", &ns, &["--spool-flush-ms", "50"]).await?;
    let tok = c.admin_token();
    let (_, sites) = c.get("/api/v1/sites", &tok).await?;
    let site_id = sites["sites"][0]["id"].as_i64().expect("site id");

    // Every CPE of the airMAX AP shows up as a device under the AP, up (pinged
    // inside the namespace), with its MAC and the signal the AP reports.
    let (ap, cpes) = c
        .wait_for("CPEs under their AP with MAC, signal and RTT", Duration::from_secs(60), async || {
            let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
            let all = devices(&v);
            let ap = find(&all, "addr", &addrs[0].ip().to_string())?.clone();
            let mut cpes = Vec::new();
            for (mac, ip, signal) in CPES {
                let d = find(&all, "addr", ip)?;
                let ok = d["mac"] == mac
                    && d["parent_id"] == ap["id"]
                    && d["signal_dbm"] == signal
                    && d["kind"] == "cpe"
                    && d["status"] == "up";
                if !ok {
                    return None;
                }
                cpes.push(d.clone());
            }
            Some((ap, cpes))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", agent.log()))?;
    assert_eq!(ap["kind"], "ap", "{ap}");
    assert_eq!(ap["snmp"], "ok", "{ap}");
    assert!(ap["vendor"].as_str().unwrap_or("").to_lowercase().contains("ubiquiti"), "{ap}");
    assert!(ap["model"].as_str().unwrap_or("").contains("Rocket"), "{ap}");
    assert!(ap["mac"].as_str().is_some(), "{ap}");

    // The site's inventory: every station of every AP by MAC with its OUI
    // vendor and parent, and the switch's forwarding table.
    let inv = c
        .wait_for("inventory of every AP's stations", Duration::from_secs(30), async || {
            let (_, v) = c.get(&format!("/api/v1/sites/{site_id}/inventory"), &tok).await.ok()?;
            let inv = v["inventory"].as_array()?.clone();
            let stations = inv.iter().filter(|i| i["source"] == "station-table").count();
            (stations >= 9 && inv.iter().any(|i| i["source"] == "bridge")).then_some(inv)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", agent.log()))?;
    for (mac, ip, signal) in CPES {
        let i = find(&inv, "mac", mac).unwrap_or_else(|| panic!("{mac} missing from {inv:?}"));
        assert_eq!(i["parent_mac"], ap["mac"], "{i}");
        assert_eq!(i["ip"], ip);
        assert_eq!(i["signal_dbm"], signal);
        assert!(i["oui_vendor"].as_str().unwrap_or("").to_lowercase().contains("ubiquiti"), "{i}");
    }
    let by_vendor = |v: &str| {
        inv.iter()
            .filter(|i| i["kind"] == "ap" && i["vendor"].as_str().unwrap_or("").to_lowercase().contains(v))
            .count()
    };
    assert_eq!(by_vendor("mikrotik"), 1, "{inv:?}");
    assert_eq!(by_vendor("cambium"), 1, "{inv:?}");

    // Metrics: the device API has the CPE's signal series and the AP's SNMP state.
    let cpe_id = cpes[0]["id"].as_i64().unwrap();
    let (_, one) = c.get(&format!("/api/v1/devices/{cpe_id}"), &tok).await?;
    assert_eq!(one["device"]["parent_id"], ap["id"]);
    assert!(one["history"].as_array().is_some_and(|h| !h.is_empty()), "{one}");
    let (_, series) = c.get(&format!("/api/v1/devices/{cpe_id}/series?range=hour"), &tok).await?;
    assert!(series["signal"].as_array().is_some_and(|s| s.iter().any(|p| p["signal_dbm"] == -58.0)), "{series}");

    // The pages: the site page lists the CPEs under the AP with their MACs;
    // a CPE's page links its parent and draws its signal.
    let pass = c.add_user("noc@example.org", "support");
    let mut s = WebSession::new(&c);
    s.login("noc@example.org", &pass).await?;
    let page = s.get(&format!("/sites/{site_id}")).await?;
    assert_eq!(page.status, 200);
    let inv_page = s.get(&format!("/sites/{site_id}/inventory")).await?;
    assert!(inv_page.body.contains("78:8a:20:10:c4:e7") && inv_page.body.contains("station-table"), "inventory page");
    assert!(!inv_page.body.contains("v2c:"), "no community on the inventory page");
    for (mac, ip, _) in CPES {
        assert!(page.body.contains(mac) && page.body.contains(ip), "site page lacks {mac}");
    }
    let ap_pos = page.body.find(&format!("/devices/{}\"", ap["id"])).expect("AP on the site page");
    let cpe_pos = page.body.find(&format!("/devices/{cpe_id}\"")).expect("CPE on the site page");
    assert!(ap_pos < cpe_pos, "the AP comes before its CPEs");
    let dev = s.get(&format!("/devices/{cpe_id}")).await?;
    assert!(dev.body.contains(&format!("href=\"/devices/{}\"", ap["id"])), "parent link");
    assert!(dev.body.contains("-58 dBm") && dev.body.contains("signal.svg"), "signal shown");
    let svg = s.get(&format!("/devices/{cpe_id}/signal.svg?range=hour")).await?;
    assert!(svg.body.contains("<path d=\"M"), "signal chart has a line");

    // A customer served by the first CPE (MAC typed as on the radio's label):
    // the customer page shows the radio's live state, the CPE's page names
    // the customer, and the search box finds them by name and by MAC.
    let cust_id = c.cli_ok(&[
        "customer",
        "add",
        "--name",
        "Ada Okafor",
        "--email",
        "ada@example.org",
        "--phone",
        "+1 555 0100",
        "--cpe",
        "04-18-D6-A1-22-3B",
    ]);
    let cust_id: i64 = cust_id.trim().parse()?;
    // A second customer behind the same AP who opted out of notices.
    let quiet: i64 = c
        .cli_ok(&["customer", "add", "--name", "Quiet Neighbour", "--email", "quiet@example.org", "--cpe", CPES[1].0])
        .trim()
        .parse()?;
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/customers/{quiet}", c.http))
        .bearer_auth(&tok)
        .json(&serde_json::json!({"name": "Quiet Neighbour", "email": "quiet@example.org", "notify_outages": false}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "opt-out: {}", r.status());
    let (_, cj) = c.get(&format!("/api/v1/customers/{cust_id}"), &tok).await?;
    assert_eq!(cj["devices"][0]["id"], cpes[0]["id"], "{cj}");
    assert_eq!(cj["devices"][0]["signal_dbm"], -58);
    let cp = s.get(&format!("/customers/{cust_id}")).await?;
    assert!(
        cp.body.contains("04:18:d6:a1:22:3b") && cp.body.contains(&format!("/devices/{cpe_id}\"")),
        "customer page"
    );
    let dev = s.get(&format!("/devices/{cpe_id}")).await?;
    assert!(
        dev.body.contains(&format!("/customers/{cust_id}\"")) && dev.body.contains("Ada Okafor"),
        "device page names the customer"
    );
    for q in ["okafor", "04:18:d6:a1:22:3b"] {
        let found = s.get(&format!("/search?q={q}")).await?;
        assert!(found.body.contains(&format!("/customers/{cust_id}\"")), "search {q}");
    }

    // No incident while everything answers.
    let (_, inc) = c.get("/api/v1/incidents?open=true", &tok).await?;
    assert_eq!(inc["incidents"].as_array().map(Vec::len), Some(0), "{inc}");

    // The airMAX AP fails (unreachable, and with it every CPE behind it): exactly one incident, rooted at the AP, with its three CPEs
    // and their customer; no incident for any CPE.
    let ap_ip = addrs[0].ip().to_string();
    let t_down = std::time::Instant::now();
    // A blackhole route inside the namespace: packets to the AP vanish there
    // (nothing leaves the namespace, whatever the host's forwarding).
    ns.exec(&["ip", "route", "replace", "blackhole", &format!("{ap_ip}/32")])?;
    for (_, ip, _) in CPES {
        ns.exec(&["ip", "addr", "del", &format!("{ip}/32"), "dev", "lo"])?;
    }
    let incident = c
        .wait_for("one incident rooted at the AP", Duration::from_secs(60), async || {
            let (_, v) = c.get("/api/v1/incidents?open=true", &tok).await.ok()?;
            let list = v["incidents"].as_array()?.clone();
            (list.len() == 1 && list[0]["root_device_id"] == ap["id"] && list[0]["device_count"] == 4)
                .then(|| list[0].clone())
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\ncontroller log:\n{}", c.log()))?;
    let detection = t_down.elapsed();
    assert_eq!(incident["root_kind"], "device");
    assert_eq!(incident["customer_count"], 2, "{incident}");
    let iid = incident["id"].as_i64().unwrap();
    let (_, one) = c.get(&format!("/api/v1/incidents/{iid}"), &tok).await?;
    assert_eq!(one["customers"], serde_json::json!([cust_id, quiet]), "{one}");
    for cpe in &cpes {
        assert!(one["devices"].as_array().unwrap().contains(&cpe["id"]), "{one}");
    }
    // Exactly one ticket, opened for the incident, listing the customer.
    let (_, tl) = c.get("/api/v1/tickets", &tok).await?;
    let tl = tl["tickets"].as_array().cloned().unwrap_or_default();
    assert_eq!(tl.len(), 1, "{tl:?}");
    assert_eq!((tl[0]["incident_id"].as_i64(), tl[0]["source"].as_str()), (Some(iid), Some("outage")));
    let tid = tl[0]["id"].as_i64().unwrap();
    let (_, tj) = c.get(&format!("/api/v1/tickets/{tid}"), &tok).await?;
    assert_eq!(tj["affected_customers"], serde_json::json!([cust_id, quiet]), "{tj}");
    // Ada is told by email and SMS; the neighbour who opted out is not.
    let mails = sink.wait_for(1, Duration::from_secs(20));
    let first = String::from_utf8_lossy(&mails[0].raw).to_string();
    assert_eq!(mails[0].to, vec!["ada@example.org".to_string()]);
    assert!(first.contains("Subject: Service interruption in your area"), "{first}");
    let notified = t_down.elapsed();
    let hook =
        c.wait_for("the SMS webhook", Duration::from_secs(20), async || hooks.lock().unwrap().first().cloned()).await?;
    let sms: Value = serde_json::from_slice(&hook.1)?;
    assert_eq!((sms["to"].as_str(), sms["event"].as_str()), (Some("+1 555 0100"), Some("outage.start")), "{sms}");
    let t: i64 = hook.0.split(',').next().and_then(|p| p.strip_prefix("t=")).and_then(|t| t.parse().ok()).unwrap();
    assert_eq!(
        hook.0,
        mast_controller::notify::WebhookTransport::signature("gateway-secret", t, &hook.1),
        "the webhook is signed with the shared secret"
    );
    let dash = s.get("/").await?;
    assert!(dash.body.contains(&format!("/incidents/{iid}\"")), "the dashboard lists the open incident");
    let ip = s.get(&format!("/incidents/{iid}")).await?;
    assert!(ip.body.contains("Ada Okafor") && ip.body.contains(&format!("/devices/{cpe_id}\"")), "incident page");
    // Still one incident a few seconds later (the CPEs never get their own).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, v) = c.get("/api/v1/incidents", &tok).await?;
    assert_eq!(v["incidents"].as_array().map(Vec::len), Some(1), "{v}");

    // Service returns: the incident resolves with its duration.
    ns.exec(&["ip", "route", "replace", &format!("{ap_ip}/32"), "via", &ns.host_ip])?;
    for (_, ip, _) in CPES {
        ns.exec(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"])?;
    }
    let resolved = c
        .wait_for("the incident resolved", Duration::from_secs(60), async || {
            let (_, v) = c.get(&format!("/api/v1/incidents/{iid}"), &tok).await.ok()?;
            v["incident"]["ended_ms"].as_i64().map(|e| e - v["incident"]["started_ms"].as_i64().unwrap_or(e))
        })
        .await?;
    let (_, tj) = c.get(&format!("/api/v1/tickets/{tid}"), &tok).await?;
    assert_eq!(tj["ticket"]["status"], "resolved", "{tj}");
    assert!(
        tj["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"].as_str().unwrap_or("").starts_with("Service restored after"))
    );
    let (_, all) = c.get("/api/v1/tickets?all=true", &tok).await?;
    assert_eq!(all["tickets"].as_array().map(Vec::len), Some(1), "still one ticket for the outage");
    let mails = sink.wait_for(2, Duration::from_secs(20));
    let second = String::from_utf8_lossy(&mails[1].raw).to_string();
    assert!(second.contains("Subject: Service restored") && second.contains("lasted"), "{second}");
    assert!(mails.iter().all(|m| m.to == vec!["ada@example.org".to_string()]), "nothing to the opted-out neighbour");
    c.wait_for("the recovery SMS", Duration::from_secs(20), async || (hooks.lock().unwrap().len() == 2).then_some(()))
        .await?;
    eprintln!(
        "AP down -> incident and ticket in {:.1} s, customer email received {:.1} s after the AP went down \
         (hold-down 3 s, 1 s probes); outage recorded as {:.1} s",
        detection.as_secs_f64(),
        notified.as_secs_f64(),
        resolved as f64 / 1000.0
    );
    assert!(resolved > 0);

    // Credentials never reach the agent's log or the controller's.
    for (who, log) in [("agent", agent.log()), ("controller", c.log())] {
        for d in &sims {
            assert!(!log.contains(&format!("v2c:{}", d.community)), "{who} log shows a credential");
        }
    }
    assert!(agent.metric("mast_agent_snmp_polls_total").await.unwrap_or(0) >= 4);
    Ok(())
}

/// A subnet sweep finds every live address (pinged from then on, shown as
/// devices) and identifies the one with an SNMP agent using the site's
/// credentials in order (the first one is wrong), with no SNMP target
/// configured by hand.
async fn discovery_finds_ping_only_and_snmp_devices(backend: Backend) -> anyhow::Result<()> {
    if !require_root("discovery end to end")? {
        return Ok(());
    }
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let ns = NetNs::create()?;
    let (subnet, [snmp_host, ping_host]) = ns.host_subnet()?;
    let Some(snmpd) = Snmpd::start_at(std::net::SocketAddr::new(snmp_host.into(), 161))? else { return Ok(()) };
    c.cli_ok(&["site", "add", "edge", "--interval", "1", "--timeout-ms", "500"]);
    let creds = format!("v2c:not-the-community\nv2c:{}\n", snmpd.community());
    let out = c.cli_stdin(
        &["site", "probing", "edge", "--snmp-credentials-stdin", "--subnets", &subnet, "--snmp-interval", "5"],
        &creds,
    );
    anyhow::ensure!(out.status.success(), "site probing failed: {}", String::from_utf8_lossy(&out.stderr));
    let (agent, _, _relay) = Agent::start_in_netns(&c, "edge", &ns, &[]).await?;
    let tok = c.admin_token();
    let (snmp_dev, ping_dev) = c
        .wait_for("swept hosts up, the SNMP one identified", Duration::from_secs(60), async || {
            let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
            let all = devices(&v);
            let s = find(&all, "addr", &snmp_host.to_string())?.clone();
            let p = find(&all, "addr", &ping_host.to_string())?.clone();
            (s["status"] == "up" && p["status"] == "up" && s["snmp"] == "ok" && s["mac"].is_string()).then_some((s, p))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", agent.log()))?;
    assert_eq!(ping_dev["snmp"], Value::Null, "the ping-only host is never polled: {ping_dev}");
    assert_eq!(snmp_dev["name"], "mast-snmpd", "sysName becomes the device name: {snmp_dev}");
    assert!(agent.metric("mast_agent_discovered_hosts").await.unwrap_or(0) >= 2);
    assert!(!agent.log().contains(snmpd.community()), "the community never reaches the agent's log");

    // A change on the controller reaches the running agent (no restart) and
    // is persisted there with owner-only permissions: it holds credentials.
    let applied = |log: &str| log.matches("probing config applied").count();
    let before = applied(&agent.log());
    let out = c.cli_stdin(&["site", "probing", "edge", "--snmp-interval", "7"], "");
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    c.wait_for("the agent applied the new probing config", Duration::from_secs(10), async || {
        (applied(&agent.log()) > before).then_some(())
    })
    .await?;
    let stored = std::fs::read_to_string(agent.state_dir().join("probing.json"))?;
    assert!(stored.contains("\"snmp_interval_ms\": 7000"), "{stored}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(agent.state_dir().join("probing.json"))?.permissions().mode() & 0o777, 0o600);
    Ok(())
}
