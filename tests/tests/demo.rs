//! The README's run command: `mast-controller demo` as a new user sees it.
//! Simulated radios answer real SNMP on loopback, real agents poll them
//! through a simulated backhaul, the demo customers sit on the CPEs the
//! agents see, a scripted backhaul outage becomes one incident with the
//! affected customers and their queued notices, the van's radios are
//! installed automatically when the agents see them, and a restart on the same
//! data directory reuses its agents, login and token.

use mast_tests::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the demo printed.
#[derive(Debug, Clone, PartialEq)]
struct Printed {
    url: String,
    email: String,
    password: String,
    portal_email: String,
    portal_password: String,
    token: String,
}

/// Where `start_demo` keeps the demo's standard error.
fn stderr_file(data: &Path) -> std::path::PathBuf {
    data.with_extension("stderr")
}

fn start_demo(data: &Path, args: &[&str]) -> anyhow::Result<(std::process::Child, Printed)> {
    let err = std::fs::OpenOptions::new().create(true).append(true).open(stderr_file(data))?;
    let mut demo = std::process::Command::new(controller_bin())
        .arg("demo")
        .args(args)
        .env("MAST_DATA_DIR", data)
        .env("MAST_HTTP_LISTEN", "127.0.0.1:0")
        .env("MAST_QUIC_LISTEN", "127.0.0.1:0")
        .env("MAST_AGENT_BIN", agent_bin())
        .env("MAST_BILLING_AUTO_RUN", "false")
        // A site incident within seconds of the agent going quiet.
        .env("MAST_OUTAGE_AGENT_SILENCE_SECS", "5")
        .env("MAST_OUTAGE_CONTROLLER_WINDOW_SECS", "5")
        .stdout(std::process::Stdio::piped())
        .stderr(err)
        .spawn()?;
    let stdout = demo.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !lines.iter().any(|l: &String| l.starts_with("Press Ctrl-C")) {
        anyhow::ensure!(Instant::now() < deadline, "the demo did not finish starting: {lines:?}");
        anyhow::ensure!(demo.try_wait()?.is_none(), "the demo exited: {lines:?}");
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            lines.push(l);
        }
    }
    let after = |label: &str| -> Vec<String> {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(label).map(|r| r.split_whitespace().map(String::from).collect()))
            .unwrap_or_default()
    };
    let staff = after("Log in as:");
    let portal = after("Customer portal:");
    let logins = lines.iter().filter(|l| l.contains("password:")).count();
    assert_eq!(logins, 2, "exactly one staff login and one portal login: {lines:?}");
    let printed = Printed {
        url: after("Web UI:").first().cloned().unwrap_or_default(),
        email: staff.first().cloned().unwrap_or_default(),
        password: staff.get(2).cloned().unwrap_or_default(),
        portal_email: portal.get(4).cloned().unwrap_or_default(),
        portal_password: portal.get(6).cloned().unwrap_or_default(),
        token: after("API token:").first().cloned().unwrap_or_default(),
    };
    assert!(printed.url.starts_with("http://127.0.0.1:") && printed.url.ends_with('/'), "{lines:?}");
    assert!(!printed.password.is_empty() && printed.portal_email.contains('@') && !printed.token.is_empty());
    // Every part of the demo was seeded (a part that fails says so on
    // standard error and the demo goes on without it).
    let err = std::fs::read_to_string(stderr_file(data))?;
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning: demo")).collect();
    assert!(warnings.is_empty(), "the demo seeded everything: {warnings:?}\n{lines:?}");
    Ok((demo, printed))
}

fn stop(mut demo: std::process::Child) -> anyhow::Result<()> {
    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(demo.id() as libc::pid_t, libc::SIGTERM) };
    let status = demo.wait()?;
    anyhow::ensure!(status.success(), "the demo stops cleanly on SIGTERM: {status}");
    Ok(())
}

async fn api(p: &Printed, path: &str) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new().get(format!("{}{path}", p.url)).bearer_auth(&p.token).send().await?.json().await?)
}

async fn wait_for<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f().await {
            return Ok(t);
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn session(p: &Printed) -> WebSession {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    WebSession { base: p.url.trim_end_matches('/').to_string(), http, cookie: None, csrf: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_radios_customers_an_outage_and_its_notices() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (demo, p) = start_demo(
        &data,
        &["--agents", "2", "--interval", "2", "--snmp-interval", "5", "--outage-after", "40", "--outage-for", "90"],
    )?;

    // APs of the three vendor families with their CPEs (signal from the
    // station tables), and the CPEs answering pings.
    let devs = wait_for("APs with their CPEs", 60, async || {
        let v = api(&p, "api/v1/devices").await.ok()?;
        let d = devices(&v);
        let aps: Vec<&Value> = d.iter().filter(|x| x["kind"] == "ap").collect();
        let full = aps.iter().all(|ap| {
            d.iter()
                .filter(|c| c["parent_id"] == ap["id"] && c["kind"] == "cpe")
                .filter(|c| c["signal_dbm"].as_i64().is_some_and(|s| (-100..-30).contains(&s)) && c["status"] == "up")
                .count()
                == 6
        });
        (aps.len() == 4 && full).then_some(d)
    })
    .await?;
    let vendors: BTreeSet<&str> =
        devs.iter().filter(|d| d["kind"] == "ap").filter_map(|d| d["vendor"].as_str()).collect();
    assert_eq!(vendors, BTreeSet::from(["Cambium Networks", "MikroTik", "Ubiquiti"]), "{devs:?}");

    // Link health: the airMAX AP's sector (frequency, noise, its six
    // stations) and its stations' figures, weakest first.
    let airmax = devs.iter().find(|d| d["kind"] == "ap" && d["vendor"] == "Ubiquiti").expect("an airMAX AP");
    let links = wait_for("the airMAX AP's link figures", 60, async || {
        let v = api(&p, &format!("api/v1/devices/{}/links", airmax["id"])).await.ok()?;
        let radio = v["links"].as_array()?.iter().find(|l| l["role"] == 1)?.clone();
        (radio["stations"] == 6 && v["stations"].as_array()?.len() == 6).then_some(v)
    })
    .await?;
    let radio = links["links"].as_array().unwrap().iter().find(|l| l["role"] == 1).unwrap();
    assert!(radio["frequency_mhz"].as_i64().is_some_and(|f| f > 5_000), "{links}");
    assert!(radio["noise_dbm"].as_i64().is_some_and(|n| (-100..-85).contains(&n)), "{links}");
    let signals: Vec<i64> =
        links["stations"].as_array().unwrap().iter().filter_map(|s| s["link"]["signal_dbm"].as_i64()).collect();
    assert!(signals.windows(2).all(|w| w[0] <= w[1]), "weakest first: {signals:?}");
    assert!(links["stations"][0]["link"]["snr_db"].as_i64().is_some(), "{links}");

    // Customers sit on CPEs the agents really see.
    let macs: HashMap<String, Value> =
        devs.iter().filter_map(|d| Some((d["mac"].as_str()?.to_string(), d.clone()))).collect();
    let v = api(&p, "api/v1/customers?q=06:4d:41&limit=100").await?;
    let attached = v["customers"].as_array().cloned().unwrap_or_default();
    assert!(attached.len() >= 8, "customers on demo CPEs: {}", attached.len());
    for c in &attached {
        let cpes = c["cpes"].as_array().expect("cpes");
        assert_eq!(cpes.len(), 1, "one radio each: {c}");
        assert!(macs.contains_key(cpes[0].as_str().unwrap()), "the agent sees {c}");
    }

    // The inventory: the van's two radios are seen on the air and
    // installed at their customers automatically; the one radio nobody
    // recorded is listed as unknown; the connectors need reordering.
    let installed = wait_for("the van's radios installed automatically", 120, async || {
        let v = api(&p, "api/v1/stock/movements?limit=1000").await.ok()?;
        let auto: Vec<Value> = v["movements"]
            .as_array()?
            .iter()
            .filter(|m| m["automatic"] == 1 && m["kind"] == "install")
            .cloned()
            .collect();
        (auto.len() >= 2).then_some(auto)
    })
    .await?;
    assert!(installed.iter().all(|m| m["actor"] == "reconcile" && m["from_name"] == "Van 1"), "{installed:?}");
    let r = api(&p, "api/v1/stock/reconcile").await?;
    let unknown: Vec<&str> =
        r["report"]["unknown"].as_array().unwrap().iter().filter_map(|u| u["mac"].as_str()).collect();
    assert!(unknown.iter().any(|m| macs.contains_key(*m)), "an unrecorded demo CPE is flagged: {r}");

    // The field team: today planned for both technicians (the tower job
    // for the climber), no job left out; yesterday's visits in the
    // outcomes (one needed a revisit: a miss).
    let day = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date().to_string();
    let jobs = api(&p, &format!("api/v1/dispatch/jobs?day={day}")).await?;
    let jobs = jobs.as_array().expect("jobs");
    let techs: std::collections::BTreeSet<&str> = jobs.iter().filter_map(|j| j["technician"].as_str()).collect();
    assert_eq!(techs.len(), 2, "both technicians have a day: {jobs:?}");
    assert!(jobs.iter().any(|j| j["kind"] == "tower-work" && j["technician"] == "Sam North"), "{jobs:?}");
    let waiting = api(&p, "api/v1/dispatch/jobs?unscheduled=true").await?;
    assert_eq!(waiting.as_array().map(Vec::len), Some(0), "every demo job placed: {waiting}");
    let o = api(&p, "api/v1/dispatch/outcomes").await?;
    assert_eq!((o["first_visit"]["visits"].as_i64(), o["first_visit"]["fixed"].as_i64()), (Some(3), Some(2)), "{o}");

    // The scripted backhaul outage: one site incident with its customers.
    let incident = wait_for("the outage's incident", 180, async || {
        let v = api(&p, "api/v1/incidents?open=true").await.ok()?;
        let list = v["incidents"].as_array()?.clone();
        list.into_iter().find(|i| i["root_kind"] == "site" && i["customer_count"].as_i64().unwrap_or(0) > 0)
    })
    .await?;
    let customers = incident["customer_count"].as_i64().unwrap();
    let v = api(&p, "api/v1/incidents?open=true").await?;
    assert_eq!(v["incidents"].as_array().map(Vec::len), Some(1), "one incident for one root cause: {v}");
    let tickets = api(&p, "api/v1/tickets").await?;
    assert!(
        tickets["tickets"].as_array().unwrap().iter().any(|t| t["incident_id"] == incident["id"]),
        "the incident opened its ticket: {tickets}"
    );

    // Staff see the customers told, queued in the outbox (no mail server is
    // configured), with a banner on every page.
    let mut s = session(&p);
    let r = s.login(&p.email, &p.password).await?;
    assert_eq!(r.status, 303, "the printed staff login works");
    let page = s.get(&format!("/incidents/{}", incident["id"])).await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("href=\"/customers/"), "affected customers listed");
    let outbox = s.get("/outbox?status=queued").await?;
    let queued = outbox.body.matches("@demo.mast.example").count() as i64;
    assert!(queued >= customers, "{queued} notices queued for {customers} customers");
    wait_for("the banner on every page", 60, async || {
        let dash = s.get("/").await.ok()?;
        (dash.body.contains("Mail is not configured:") && dash.body.contains("notices waiting")).then_some(())
    })
    .await?;

    // A customer's page shows the radio's 30-day availability.
    let cid = attached[0]["id"].as_i64().unwrap();
    let page = s.get(&format!("/customers/{cid}")).await?;
    assert!(page.body.contains("Availability, last 30 days") && page.body.contains("<meter"), "{}", page.body);

    // The printed portal login works.
    let mut portal = session(&p);
    let r = portal.login_at("/portal/login", &p.portal_email, &p.portal_password).await?;
    assert_eq!(r.status, 303, "the printed portal login works: {}", r.body);
    // The portal shows the customer's radio as the agents see it.
    let mut home = String::new();
    for _ in 0..60 {
        home = portal.get("/portal").await?.body;
        if home.contains("id=\"connection\"") && home.contains("Radio ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(home.contains("id=\"connection\""), "the connection state in the portal: {home}");

    // A restart on the same data directory: the same login and token, the
    // same agents back (no new enrollment, no leftovers), one admin.
    stop(demo)?;
    let agents_before = {
        let (demo, p2) = start_demo(&data, &["--agents", "2", "--outage-for", "0"])?;
        assert_eq!(
            (&p2.email, &p2.password, &p2.token, &p2.portal_email, &p2.portal_password),
            (&p.email, &p.password, &p.token, &p.portal_email, &p.portal_password),
            "a restart prints the same logins"
        );
        let agents = wait_for("both agents back", 60, async || {
            let v = api(&p2, "api/v1/agents").await.ok()?;
            let a = v["agents"].as_array()?.clone();
            a.iter().all(|a| a["connected"] == true && a["status"] == "active").then_some(a)
        })
        .await?;
        assert_eq!(agents.len(), 2, "no second enrollment: {agents:?}");
        let users = api(&p2, "api/v1/users").await?;
        let roles: Vec<&str> = users["users"].as_array().unwrap().iter().filter_map(|u| u["role"].as_str()).collect();
        assert_eq!(roles, ["admin", "technician", "technician"], "one admin and the two demo technicians: {users}");
        stop(demo)?;
        agents.len()
    };
    assert_eq!(agents_before, 2);
    Ok(())
}
