//! The XSS canary, end to end on SQLite and PostgreSQL: a hostile string
//! goes in everywhere text can enter (a device's SNMP sysName and sysDescr
//! served by snmpsim, a ping target's name, a customer, a ticket, a
//! maintenance window, a plan and so its invoice lines), then every staff and
//! portal page reachable by following links is fetched, and the raw string
//! must appear in none of them (it must appear escaped where it is shown).
//! The CSV exports must neutralise formulas: no cell starts with `=`, `+`,
//! `-`, `@`, a tab or a carriage return.

use mast_tests::snmp::{SimDevice, SnmpSim, fixture};
use mast_tests::*;
use serde_json::json;
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

const CANARY: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;
/// What must never reach a page unescaped (any part that would be markup).
const RAW: &[&str] = &["<script>alert(1)", "<img src=x onerror", "\"><script>alert"];
/// Spreadsheet formulas for the CSV exports.
const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"x\")";

on_both_backends!(hostile_text_is_escaped_everywhere);

/// Every same-origin link and form action target (GET) on a page.
fn links(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "href='", "href=", "data-src=\""] {
        for part in body.split(attr).skip(1) {
            let end = part.find(['"', '\'', ' ', '>']).unwrap_or(part.len());
            let l = part[..end].replace("&amp;", "&");
            if l.starts_with('/') && !l.starts_with("//") {
                out.push(l);
            }
        }
    }
    out
}

/// Fetches every page reachable from `start` (GET only, at most `max`),
/// checks each for the raw canary, and returns the pages that showed it
/// escaped.
async fn crawl(s: &mut WebSession, start: &[String], skip: &[&str], max: usize) -> anyhow::Result<BTreeSet<String>> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = start.iter().cloned().collect();
    let mut shown = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        let key = path.split('#').next().unwrap_or(&path).to_string();
        if seen.len() >= max || !seen.insert(key.clone()) || skip.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        let r = s.get(&key).await?;
        let html = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/html");
        // HTML is where markup runs; JSON and CSV carry the text as data
        // (served with their own types and `nosniff`; CSV is checked below).
        if html {
            for raw in RAW {
                assert!(!r.body.contains(raw), "{key} shows the canary unescaped ({raw}):\n{}", r.body);
            }
            if r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") {
                shown.insert(key.clone());
            }
        }
        if html {
            for l in links(&r.body) {
                if !seen.contains(&l) {
                    queue.push_back(l);
                }
            }
        }
    }
    eprintln!("crawled {} pages; the canary shown escaped on {}", seen.len(), shown.len());
    Ok(shown)
}

/// Every cell of a CSV document (RFC 4180 quoting).
fn csv_cells(text: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let (mut cur, mut quoted, mut chars) = (String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',' | '\n', false) => cells.push(std::mem::take(&mut cur)),
            ('\r', false) => {}
            (c, _) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        cells.push(cur);
    }
    cells
}

fn assert_csv_safe(name: &str, text: &str) {
    let cells = csv_cells(text);
    assert!(!cells.is_empty(), "{name} is empty");
    for cell in &cells {
        let risky = matches!(cell.chars().next(), Some('=' | '+' | '@' | '\t' | '\r'))
            || (cell.starts_with('-') && cell.parse::<f64>().is_err());
        assert!(!risky, "{name}: a cell starts a formula: {cell:?}");
    }
}

async fn hostile_text_is_escaped_everywhere(backend: Backend) -> anyhow::Result<()> {
    // A radio whose SNMP identity is the canary.
    let dir = tempfile::tempdir()?;
    let rec = dir.path().join("canary.snmprec");
    let base = std::fs::read_to_string(fixture("mikrotik"))?;
    let hostile: String = base
        .lines()
        .map(|l| {
            if l.starts_with("1.3.6.1.2.1.1.1.0|") || l.starts_with("1.3.6.1.2.1.1.5.0|") {
                format!("{}|4|{CANARY}", &l[..l.find('|').unwrap()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&rec, hostile + "\n")?;
    let Some(sim) = SnmpSim::start(&[SimDevice::new("canary", &rec)], 1)? else { return Ok(()) };
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };

    // A site with a hostile ping-target name, SNMP polling of the radio, an agent.
    c.cli_ok(&["site", "add", "ridge", "--targets", &format!("127.0.0.1={CANARY}"), "--interval", "2"]);
    let out = c.cli_stdin(
        &[
            "site",
            "probing",
            "ridge",
            "--snmp-credentials-stdin",
            "--snmp-targets",
            &sim.addr().to_string(),
            "--snmp-interval",
            "5",
        ],
        "v2c:canary\n",
    );
    anyhow::ensure!(out.status.success(), "site probing: {}", String::from_utf8_lossy(&out.stderr));
    let (mut agent, _) = Agent::enroll(&c, "ridge")?;
    agent.start()?;
    let tok = c.admin_token();
    let device = c
        .wait_for("the radio with the hostile sysName", Duration::from_secs(60), async || {
            let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
            devices(&v).into_iter().find(|d| d["name"] == CANARY)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", agent.log()))?;
    assert_eq!(device["name"], CANARY, "the API returns the text as it is (JSON-escaped)");

    // A customer, a ticket, a maintenance window, a plan and an invoice.
    let cust: i64 = c
        .cli_ok(&[
            "customer",
            "add",
            "--name",
            CANARY,
            "--email",
            "canary@example.org",
            "--address",
            CANARY,
            "--notes",
            CANARY,
        ])
        .trim()
        .parse()?;
    let formula: i64 = c.cli_ok(&["customer", "add", "--name", FORMULA, "--email", "f@example.org"]).trim().parse()?;
    let (s, t) = c
        .post_json(
            "/api/v1/tickets",
            &tok,
            &json!({"subject": CANARY, "body": CANARY, "customer_id": cust, "priority": "normal", "category": "other"}),
        )
        .await?;
    assert_eq!(s, 201, "{t}");
    // Inventory: a model, a warehouse and a unit's note carry the canary
    // (and a formula, for the stock exports); the unit is installed at the
    // hostile customer, so their page shows it too.
    let (s, m) = c
        .post_json(
            "/api/v1/stock/models",
            &tok,
            &json!({"vendor": CANARY, "name": FORMULA, "kind": CANARY, "class": "trackable", "needs_mac": true}),
        )
        .await?;
    assert_eq!(s, 201, "{m}");
    let (s, w) = c.post_json("/api/v1/stock/locations", &tok, &json!({"kind": "warehouse", "name": CANARY})).await?;
    assert_eq!(s, 201, "{w}");
    let (model, wh) = (m["model"]["id"].as_i64().unwrap(), w["location"]["id"].as_i64().unwrap());
    let (s, r) = c
        .post_json(
            "/api/v1/stock/movements",
            &tok,
            &json!({"kind": {"type": "receive", "purchase_order": null, "unit_cost_minor": 100}, "from": null,
                    "to": {"type": "location", "id": wh}, "note": CANARY,
                    "items": [{"type": "new", "model": model, "mac": "02:aa:bb:cc:dd:01", "serial": null, "length_mm": null}]}),
        )
        .await?;
    assert_eq!(s, 201, "{r}");
    let unit = r["recorded"]["new_units"][0].as_i64().unwrap();
    let (s, r) = c
        .post_json(
            "/api/v1/stock/movements",
            &tok,
            &json!({"kind": {"type": "install"}, "from": wh, "to": {"type": "customer", "id": cust}, "note": FORMULA,
                    "items": [{"type": "unit", "unit": unit}]}),
        )
        .await?;
    assert_eq!(s, 201, "{r}");
    // Dispatch: a work order for the hostile customer with the canary as
    // its title and notes (the board, the list, its page, the customer's).
    let (s, j) = c
        .post_json(
            "/api/v1/dispatch/jobs",
            &tok,
            &json!({"kind": "repair", "priority": "normal", "title": CANARY, "customer_id": cust,
                    "address": CANARY, "lat": 45.0, "lon": -93.0, "window_start_min": null, "window_end_min": null,
                    "duration_min": 30, "skills": "", "notes": CANARY, "close_ticket": false, "ticket_id": null,
                    "incident_id": null, "site_id": null}),
        )
        .await?;
    assert_eq!(s, 200, "{j}");
    c.cli_ok(&[
        "maintenance",
        "add",
        "--site",
        "ridge",
        "--start",
        "2030-01-08T02:00",
        "--duration",
        "60",
        "--reason",
        CANARY,
    ]);
    c.cli_ok(&["billing", "plan", "add", CANARY, "--price", "45.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    c.cli_ok(&["billing", "plan", "add", FORMULA, "--price", "5.00", "--down-kbps", "1000", "--up-kbps", "1000"]);
    for (id, plan) in [(cust, CANARY), (formula, FORMULA)] {
        c.cli_ok(&["billing", "account", "set", &id.to_string(), "--billing-day", "1"]);
        c.cli_ok(&["billing", "subscribe", &id.to_string(), plan, "--start", "2026-12-01"]);
    }
    c.cli_ok(&["billing", "run", "--date", "2026-12-01"]);
    c.cli_ok(&["billing", "payment", &cust.to_string(), "10.00", "--method", "check", "--reference", CANARY]);
    let out = c.cli_stdin(&["customer", "portal-password", &cust.to_string()], "correct horse battery staple\n");
    anyhow::ensure!(out.status.success(), "portal password: {}", String::from_utf8_lossy(&out.stderr));

    // Every staff page reachable from the dashboard, as an admin.
    let pw = c.add_user("boss@wisp.test", "admin");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("boss@wisp.test", &pw).await?.status, 303);
    let starts: Vec<String> = [
        "/",
        "/search?q=script",
        "/billing/reports?month=2026-12",
        "/customers?q=%22%3E",
        "/stock",
        "/stock/movements",
        "/dispatch",
        "/dispatch/jobs",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let shown = crawl(&mut s, &starts, &["/logout", "/portal", "/assets/"], 400).await?;
    for must in ["/devices/", "/customers/", "/tickets/", "/maintenance", "/invoices/", "/stock", "/dispatch"] {
        assert!(shown.iter().any(|p| p.starts_with(must)), "the canary is shown (escaped) on a {must} page: {shown:?}");
    }

    // Every portal page reachable from the customer's home.
    let mut p = WebSession::new(&c);
    assert_eq!(p.login_at("/portal/login", "canary@example.org", "correct horse battery staple").await?.status, 303);
    let shown = crawl(&mut p, &["/portal".to_string()], &["/portal/logout", "/portal/magic"], 100).await?;
    assert!(shown.iter().any(|p| p.starts_with("/portal")), "the portal shows the canary escaped: {shown:?}");

    // CSV exports: formulas neutralised, the canary kept as text.
    for path in [
        "/audit.csv",
        "/billing/reports?month=2026-12&format=csv",
        "/export/customers.csv",
        "/export/services.csv",
        "/stock/export.csv",
        "/stock/movements.csv",
    ] {
        let r = s.get(path).await?;
        assert_eq!(r.status, 200, "{path}");
        assert_csv_safe(path, &r.body);
        assert!(r.body.contains("HYPERLINK"), "{path} holds the formula customer or plan as text");
    }
    let suspended = c.cli_ok(&["billing", "suspended", "--format", "csv"]);
    assert_csv_safe("billing suspended", &suspended);
    agent.kill();
    drop(sim);
    Ok(())
}
