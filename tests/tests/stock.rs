//! Equipment inventory end to end, with a real agent: staff set up the
//! catalogue and locations in the browser, receive three CPE radios by
//! typing their MACs as a scanner would, hand one to a technician's van and
//! install one at a customer by hand. A tower agent in a network namespace
//! then polls a simulated airMAX AP (snmpsim serving `ubiquiti-ap`) whose
//! station table holds the van's radio: the reconciliation moves it to
//! "installed" at the customer linked to its MAC, marked automatic; the
//! AP's other stations, which no record knows, are flagged; the radio
//! installed by hand that the network never saw is listed as silent; the
//! admins get the day's summary by email (once); the customer's page, the CPE's
//! device page and the API show the records. The import's dry run and the
//! purchase order flow run through the same pages.

use mast_tests::mail::SmtpSink;
use mast_tests::snmp::{SimDevice, SnmpSim, fixture};
use mast_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(a_radio_from_the_van_is_installed_when_the_network_sees_it);

/// In the AP's station table.
const VAN_CPE: &str = "04:18:d6:a1:22:3b";
/// Also in the station table, in no record.
const UNKNOWN_CPE: &str = "78:8a:20:10:c4:e7";
/// Installed by hand; the network never sees it.
const SILENT_CPE: &str = "02:11:22:33:44:55";
/// Stays in the warehouse.
const SHELF_CPE: &str = "02:11:22:33:44:66";

fn id_after(body: &str, prefix: &str) -> Option<i64> {
    let i = body.find(prefix)? + prefix.len();
    body[i..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

async fn a_radio_from_the_van_is_installed_when_the_network_sees_it(backend: Backend) -> anyhow::Result<()> {
    if !require_root("the stock test (its agent runs in a network namespace)")? {
        return Ok(());
    }
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let mut env = SmtpSink::controller_env(&port).to_vec();
    env.extend([
        ("MAST_STOCK_RECONCILE_SECS", "2"),
        ("MAST_STOCK_SUMMARY_HOUR", "0"),
        ("MAST_OUTAGE_HOLD_DOWN_SECS", "900"),
    ]);
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    let pw = c.add_user("boss@wisp.test", "admin");
    let tech_pw = c.add_user("tech@wisp.test", "technician");
    let tok = c.admin_token();
    c.cli_ok(&["site", "add", "tower", "--interval", "5", "--timeout-ms", "500"]);
    let mut s = WebSession::new(&c);
    s.login("boss@wisp.test", &pw).await?;

    // The catalogue and the places, from the browser; a bad number is
    // shown next to its field.
    s.get("/stock/models").await?;
    let model = |cost: &'static str| {
        vec![
            ("vendor", "Ubiquiti"),
            ("name", "LiteBeam 5AC Gen2"),
            ("kind", "radio"),
            ("class", "trackable"),
            ("needs_mac", "on"),
            ("reorder_threshold", "5"),
            ("unit_cost", cost),
            ("warranty_months", "12"),
        ]
    };
    let bad = s.post("/stock/models", &model("eighty"), None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"id="model-unit_cost-error""#), "{}", bad.body);
    assert_eq!(s.post("/stock/models", &model("89.00"), None).await?.status, 303);
    let models = s.get("/stock/models").await?.body;
    let model_id = id_after(&models, "href=\"/stock/models/").expect("the model's link");
    s.get("/stock/locations").await?;
    let loc = |kind: &'static str, name: &'static str| vec![("kind", kind), ("name", name), ("user", "")];
    assert_eq!(s.post("/stock/locations", &loc("warehouse", "Main store"), None).await?.status, 303);
    assert_eq!(s.post("/stock/locations", &loc("vehicle", "Van 1"), None).await?.status, 303);
    let (_, l) = c.get("/api/v1/stock/locations", &tok).await?;
    let loc_id = |name: &str| {
        l["locations"].as_array().unwrap().iter().find(|x| x["name"] == name).and_then(|x| x["id"].as_i64()).unwrap()
    };
    let (wh, van) = (loc_id("Main store"), loc_id("Van 1"));

    // Receive four radios typed one per line as a scanner would (dashes and
    // all); a duplicate line refuses the whole batch and names the line.
    s.get("/stock/receive").await?;
    let (model_s, wh_s, van_s) = (model_id.to_string(), wh.to_string(), van.to_string());
    let codes = format!("{}\n{SILENT_CPE}\n{SHELF_CPE}\n{}\n", VAN_CPE.replace(':', "-"), VAN_CPE.to_uppercase());
    let dup = s
        .post("/stock/receive", &[("model", &model_s), ("into", &wh_s), ("codes", &codes), ("unit_cost", "")], None)
        .await?;
    assert_eq!(dup.status, 400);
    assert!(dup.body.contains("line 4") && dup.body.contains("already"), "{}", dup.body);
    let codes = format!("{}\n{SILENT_CPE}\n{SHELF_CPE}\n", VAN_CPE.replace(':', "-"));
    let ok = s
        .post("/stock/receive", &[("model", &model_s), ("into", &wh_s), ("codes", &codes), ("unit_cost", "")], None)
        .await?;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("3 line(s) received"), "{}", ok.body);

    // A customer whose CPE MAC is known, and one installed by hand.
    let (st, ada) = c.post_json("/api/v1/customers", &tok, &json!({"name": "Ada Garcia", "site": "tower"})).await?;
    assert_eq!(st, 201, "{ada}");
    let ada = ada["customer"]["id"].as_i64().unwrap();
    let (st, _) = c.post_json(&format!("/api/v1/customers/{ada}/cpes"), &tok, &json!({"mac": VAN_CPE})).await?;
    assert!(st < 300);
    let (_, bo) = c.post_json("/api/v1/customers", &tok, &json!({"name": "Bo Chen", "site": "tower"})).await?;
    let bo = bo["customer"]["id"].as_i64().unwrap();

    // The technician takes the van's radio and installs the silent one at Bo.
    let mut t = WebSession::new(&c);
    t.login("tech@wisp.test", &tech_pw).await?;
    t.get("/stock/move").await?;
    let assign = t
        .post(
            "/stock/move",
            &[("kind", "assign-to-technician"), ("from", &wh_s), ("to", &van_s), ("codes", VAN_CPE)],
            None,
        )
        .await?;
    assert_eq!(assign.status, 200, "{}", assign.body);
    let bo_s = bo.to_string();
    let wrong = t
        .post("/stock/move", &[("kind", "install"), ("from", &van_s), ("customer", &bo_s), ("codes", SILENT_CPE)], None)
        .await?;
    assert_eq!(wrong.status, 400, "the radio is in the warehouse, not the van");
    assert!(wrong.body.contains(r#"id="move-codes-error""#) && wrong.body.contains("not at"), "{}", wrong.body);
    let install = t
        .post("/stock/move", &[("kind", "install"), ("from", ""), ("customer", &bo_s), ("codes", SILENT_CPE)], None)
        .await?;
    assert_eq!(install.status, 200, "{}", install.body);
    let ro = t.post("/stock/models", &model("1.00"), None).await?;
    assert_eq!(ro.status, 403, "technicians do not edit the catalogue");

    // The tower: an agent polling the AP whose station table holds the van's radio.
    let ns = NetNs::create()?;
    let addr = std::net::SocketAddr::new(ns.host_device_ip(0)?.into(), 1161);
    let sim = SnmpSim::start_at(&[SimDevice::new("ubiquiti-ap", fixture("ubiquiti-ap"))], &[addr])?;
    let Some(sim) = sim else { return Ok(()) };
    c.snmp_probing("tower", &format!("{addr}@0"), "ubiquiti-ap")?;
    let (mut agent, _, _relay) = Agent::start_in_netns(&c, "tower", &ns, &["--spool-flush-ms", "50"]).await?;

    let unit = c
        .wait_for("the van's radio installed at Ada automatically", Duration::from_secs(90), async || {
            let (_, u) = c.get(&format!("/api/v1/stock/units?q={VAN_CPE}"), &tok).await.ok()?;
            let u = u["units"].as_array()?.first()?.clone();
            (u["location_kind"] == "customer" && u["customer_id"] == ada).then_some(u)
        })
        .await?;
    let unit_id = unit["id"].as_i64().unwrap();
    let (_, detail) = c.get(&format!("/api/v1/stock/units/{unit_id}"), &tok).await?;
    let last = detail["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["automatic"].as_i64(), last["actor"].as_str()),
        (Some("install"), Some(1), Some("reconcile")),
        "{detail}"
    );

    // The report: the AP's unknown station flagged; Bo's radio silent; the
    // shelf radio is fine where it is.
    let (_, r) = c.get("/api/v1/stock/reconcile", &tok).await?;
    let unknown: Vec<&str> =
        r["report"]["unknown"].as_array().unwrap().iter().filter_map(|x| x["mac"].as_str()).collect();
    assert!(unknown.contains(&UNKNOWN_CPE), "{r}");
    assert!(!unknown.contains(&VAN_CPE), "{r}");
    let stale: Vec<&str> =
        r["report"]["stale"].as_array().unwrap().iter().filter_map(|x| x["unit"]["mac"].as_str()).collect();
    assert_eq!(stale, [SILENT_CPE], "{r}");
    let page = s.get("/stock/reconcile").await?.body;
    assert!(page.contains(UNKNOWN_CPE) && page.contains("Receive into stock") && page.contains("Mark lost"), "{page}");
    assert!(page.contains("Installed automatically this week") && page.contains("reconcile"), "{page}");

    // Resolving a row: the unknown station is marked as not ours.
    let ignored = s.post("/stock/reconcile/ignore", &[("mac", UNKNOWN_CPE), ("note", "neighbour's CPE")], None).await?;
    assert_eq!(ignored.status, 303);
    let (_, r) = c.get("/api/v1/stock/reconcile", &tok).await?;
    assert!(!r["report"]["unknown"].to_string().contains(UNKNOWN_CPE), "{r}");

    // The admins' summary of the day, once.
    until("the inventory summary email", 60, || sink.count_to("boss@wisp.test", "Inventory check") >= 1).await?;
    let mail = sink
        .messages()
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m.raw).to_string())
        .find(|m| m.contains("Inventory check"))
        .unwrap();
    assert!(mail.contains("customer unit(s) not seen recently") && mail.contains("/stock/reconcile"), "{mail}");

    // Where people look: the customer's page, the CPE's device page.
    let ada_page = s.get(&format!("/customers/{ada}")).await?.body;
    assert!(ada_page.contains("Equipment installed") && ada_page.contains(VAN_CPE), "{ada_page}");
    let (_, devs) = c.get("/api/v1/devices", &tok).await?;
    let cpe = devs["devices"].as_array().unwrap().iter().find(|d| d["mac"] == VAN_CPE).cloned();
    let cpe = cpe.expect("the CPE as a device");
    let dev_page = s.get(&format!("/devices/{}", cpe["id"])).await?.body;
    assert!(dev_page.contains("Stock record") && dev_page.contains("Warranty until"), "{dev_page}");

    // The purchase list: 1 on the shelf, reorder below 5.
    let needs = s.get("/stock/needs").await?.body;
    assert!(needs.contains("below threshold"), "{needs}");
    let csv = s.get("/stock/needs.csv").await?.body;
    assert!(csv.contains("LiteBeam 5AC Gen2"), "{csv}");

    // A purchase order: draft, a line, ordered, received in part by scanning.
    s.get("/stock/orders").await?;
    let po = s.post("/stock/orders", &[("supplier", "Streakwave"), ("note", "")], None).await?;
    assert_eq!(po.status, 303);
    let po_list = s.get("/stock/orders").await?.body;
    let po_id = id_after(&po_list, "href=\"/stock/orders/").expect("the order");
    let act = |a: &'static str| vec![("action", a)];
    s.get(&format!("/stock/orders/{po_id}")).await?;
    let line = s
        .post(
            &format!("/stock/orders/{po_id}/act"),
            &[("action", "add-line"), ("model", &model_s), ("quantity", "2"), ("unit_cost", "85.00")],
            None,
        )
        .await?;
    assert_eq!(line.status, 303);
    assert_eq!(s.post(&format!("/stock/orders/{po_id}/act"), &act("order"), None).await?.status, 303);
    let po_s = po_id.to_string();
    s.get(&format!("/stock/receive?order={po_id}")).await?;
    let got = s
        .post(
            "/stock/receive",
            &[
                ("model", &model_s),
                ("into", &wh_s),
                ("order", &po_s),
                ("codes", "02:11:22:33:44:77"),
                ("unit_cost", "85.00"),
            ],
            None,
        )
        .await?;
    assert_eq!(got.status, 200, "{}", got.body);
    let po_page = s.get(&format!("/stock/orders/{po_id}")).await?.body;
    assert!(po_page.contains("partly-received"), "{po_page}");
    let too_many = s
        .post(
            "/stock/receive",
            &[
                ("model", &model_s),
                ("into", &wh_s),
                ("order", &po_s),
                ("codes", "02:11:22:33:44:88\n02:11:22:33:44:99"),
                ("unit_cost", ""),
            ],
            None,
        )
        .await?;
    assert_eq!(too_many.status, 400, "one more than is due");
    assert!(too_many.body.contains(r#"id="receive-order-error""#), "{}", too_many.body);

    // Import: a dry run names each bad line and stores nothing.
    s.get("/stock/import").await?;
    let text = "model,location,mac\nUbiquiti LiteBeam 5AC Gen2,Van 1,02:11:22:33:55:01\nNobody Nothing,,\nUbiquiti LiteBeam 5AC Gen2,,nonsense\n";
    let dry = s.post_files("/stock/import", &[("into", &wh_s), ("text", text), ("apply", "1")], vec![]).await?;
    assert_eq!(dry.status, 400, "{}", dry.body);
    assert!(dry.body.contains("2 of 3 lines have problems") && dry.body.contains("Nobody Nothing"), "{}", dry.body);
    let (_, none) = c.get("/api/v1/stock/units?q=02:11:22:33:55:01", &tok).await?;
    assert_eq!(none["total"], 0, "all or nothing");
    let good = "model,location,mac\nUbiquiti LiteBeam 5AC Gen2,Van 1,02:11:22:33:55:01\n";
    let done = s.post_files("/stock/import", &[("into", &wh_s), ("text", good), ("apply", "1")], vec![]).await?;
    assert_eq!(done.status, 200, "{}", done.body);
    let (_, one) = c.get("/api/v1/stock/units?q=02:11:22:33:55:01", &tok).await?;
    assert_eq!(one["units"][0]["location_kind"], "vehicle", "{one}");
    let export = s.get("/stock/movements.csv").await?.body;
    assert!(export.lines().count() >= 8 && export.contains("assign-to-technician"), "{export}");

    // The API records a batch too, and refuses a bad one whole.
    let (st, bad) = c
        .post_json(
            "/api/v1/stock/movements",
            &tok,
            &json!({"kind": {"type": "retire"}, "from": wh, "to": {"type": "location", "id": 2},
                    "items": [{"type": "unit", "unit": 999999}]}),
        )
        .await?;
    assert_eq!(st, 400, "{bad}");
    let audit: Value = c.get("/api/v1/audit", &tok).await?.1;
    assert!(audit.to_string().contains("stock.auto-install"), "{audit}");
    drop(sim);
    agent.kill();
    Ok(())
}
