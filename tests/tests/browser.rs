//! The staff UI in a real browser (headless Chromium over WebDriver): log in,
//! see a site with a device down, the map, open a device chart and hover it
//! (uPlot's legend shows the values), revoke an agent, every page family at
//! desktop and phone width (the navigation folds into a menu), and a
//! technician kept out of the users page; inventory: receiving and moving
//! by typed scans (and the camera path, with a stand-in detector),
//! installing from a phone, the reconciliation page. Screenshots (desktop and phone
//! widths) land in `test-artifacts/`.

use fantoccini::Locator;
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use mast_tests::*;
use std::time::Duration;

async fn login(b: &Browser, base: &str, email: &str, password: &str) -> anyhow::Result<()> {
    b.client.goto(&format!("{base}/login")).await?;
    b.client.find(Locator::Css("#email")).await?.send_keys(email).await?;
    b.client.find(Locator::Css("#password")).await?.send_keys(password).await?;
    b.client.find(Locator::Css("form.login button")).await?.click().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_ui_in_chromium() -> anyhow::Result<()> {
    if !require_root("the browser test (its agent runs in a network namespace)")? {
        return Ok(());
    }
    let Some(b) = Browser::start().await? else { return Ok(()) };
    // A short hold-down, so the dead CPE becomes an incident within seconds.
    let c = Controller::start(Backend::Sqlite, &[("MAST_OUTAGE_HOLD_DOWN_SECS", "3")]).await?.expect("sqlite");
    // The agent lives in a namespace: 127.0.0.1 answers there; an address on
    // no link of that namespace has no route, so it is down (no packet leaves).
    let ns = NetNs::create()?;
    let dead = ns.spare_addr();
    c.cli_ok(&[
        "site",
        "add",
        "ridge",
        "--targets",
        &format!("127.0.0.1=ap-ridge,{dead}=cpe-smith"),
        "--interval",
        "1",
        "--timeout-ms",
        "300",
    ]);
    // The CPE answers first (its address on the namespace's loopback), then
    // dies: a device that never answered is never an outage's root.
    ns.set_local(&dead, true)?;
    let (mut agent, agent_id, relay) = Agent::start_in_netns(&c, "ridge", &ns, &[]).await?;
    let tok = c.admin_token();
    c.wait_for("both devices up", Duration::from_secs(30), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        let d = devices(&v);
        (d.len() == 2 && d.iter().all(|d| d["status"] == "up")).then_some(())
    })
    .await?;
    ns.set_local(&dead, false)?;
    c.wait_for("one device up, one down", Duration::from_secs(30), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        let d = devices(&v);
        (d.iter().any(|d| d["status"] == "up") && d.iter().any(|d| d["status"] == "down")).then_some(())
    })
    .await?;
    c.cli_ok(&["site", "set", "ridge", "--lat", "45.051", "--lon", "-93.102"]);
    let cust = c.cli_ok(&[
        "customer",
        "add",
        "--name",
        "Ada Okafor",
        "--email",
        "ada@example.org",
        "--phone",
        "+1 555 0100",
        "--address",
        "12 Ridge Rd",
        "--lat",
        "45.062",
        "--lon",
        "-93.081",
        "--site",
        "ridge",
        "--cpe",
        "04:18:d6:a1:22:3b",
    ]);
    let cust_id = cust.trim().to_string();
    let admin_pw = c.add_user("admin@wisp.test", "admin");
    let tech_pw = c.add_user("tech@wisp.test", "technician");
    let base = format!("http://{}", c.http);

    // Log in; the dashboard shows a degraded site.
    login(&b, &base, "admin@wisp.test", &admin_pw).await?;
    if let Err(e) = b.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(".tiles")).await {
        let _ = b.screenshot("00-login-failed").await;
        anyhow::bail!(
            "no dashboard after login ({e}); at {} with:\n{}",
            b.client.current_url().await?,
            b.client.source().await?
        );
    }
    let src = b.client.source().await?;
    assert!(src.contains("sites degraded") && src.contains("devices down"), "dashboard");
    b.screenshot("01-dashboard").await?;

    // The site page shows the device that is down.
    b.client.find(Locator::LinkText("Sites")).await?.click().await?;
    b.client.find(Locator::LinkText("ridge")).await?.click().await?;
    let row = b.client.find(Locator::Css("tr.st-down")).await?;
    assert!(row.text().await?.contains("cpe-smith"));
    b.screenshot("02-site-with-device-down").await?;
    let site_path = b.client.current_url().await?.path().to_string();
    // Tower to tower: ridge's backhaul lands on a radio at summit; set in
    // the browser, named on the site page, a line on the map.
    c.cli_ok(&["site", "add", "summit", "--targets", "10.99.0.1=bh-ridge"]);
    c.cli_ok(&["site", "set", "summit", "--lat", "45.071", "--lon", "-93.052"]);
    b.client.find(Locator::Id("edit-uplinks")).await?.click().await?;
    b.client.find(Locator::XPath("//label[contains(., 'bh-ridge')]/input")).await?.click().await?;
    b.screenshot("02a-site-backhaul").await?;
    b.client.find(Locator::Id("save-uplinks")).await?.click().await?;
    let up = b.client.wait().for_element(Locator::Id("site-uplinks")).await?;
    assert!(up.text().await?.contains("bh-ridge at summit"), "the site page names its uplink");
    b.client.goto(&format!("{base}/sites/map")).await?;
    let mut fills = Vec::new();
    for node in b.client.find_all(Locator::Css("svg.ring circle")).await? {
        fills.push(node.attr("fill").await?.unwrap_or_default());
    }
    assert!(fills.iter().any(|f| f == "#d68910"), "the site is degraded on the schematic: {fills:?}");
    // The map is Leaflet (mast.js replaces the SVG fallback); its markers are
    // vectors, so they draw whether or not the tiles load.
    let tower = b.client.wait().for_element(Locator::Css(".map.is-live path.mk-site.mk-degraded")).await?;
    let class = tower.attr("class").await?.unwrap_or_default();
    assert!(class.split(' ').any(|c| c == "mk-degraded"), "the tower is degraded on the map: {class}");
    b.client.find(Locator::Css(".map.is-live path.site-link")).await?;
    b.client.find(Locator::Css(".map.is-live path.mk-cust")).await?.click().await?;
    b.client.wait().for_element(Locator::Css(&format!(".map-popup a[href='/customers/{cust_id}']"))).await?;
    b.screenshot("02b-map").await?;
    b.client.goto(&format!("{base}/customers/{cust_id}")).await?;
    assert!(b.client.source().await?.contains("04:18:d6:a1:22:3b"), "the customer page lists the CPE");
    b.screenshot("02c-customer").await?;

    // A phone call: open a ticket for the customer, answer it, resolve it.
    b.client.goto(&format!("{base}/tickets?customer={cust_id}")).await?;
    b.client.find(Locator::Css("input[name=subject]")).await?.send_keys("No internet since the storm").await?;
    b.client.find(Locator::Css("textarea[name=body]")).await?.send_keys("Radio lights are off").await?;
    b.client.find(Locator::Css("form[action='/tickets'] button[type=submit]")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("ol.timeline")).await?;
    b.client.find(Locator::Css("textarea[name=body]")).await?.send_keys("A technician comes by at 2 pm").await?;
    b.client.find(Locator::Css("button[value=reply]")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("li.ev-public")).await?;
    b.client.find(Locator::Css("button[value=resolve]")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("li.ev-status")).await?;
    let src = b.client.source().await?;
    assert!(
        src.contains("resolved") && src.contains("A technician comes by at 2 pm") && src.contains("Ada Okafor"),
        "ticket worked"
    );
    b.screenshot("02d-ticket").await?;

    // Work the dead CPE's incident: acknowledge, a note, a close refused
    // without a reason (the error next to the field), then closed.
    let incident = c
        .wait_for("the dead CPE's incident", Duration::from_secs(30), async || {
            let (_, v) = c.get("/api/v1/incidents?open=true", &tok).await.ok()?;
            v["incidents"].as_array()?.first()?["id"].as_i64()
        })
        .await?;
    b.client.goto(&format!("{base}/incidents/{incident}")).await?;
    b.client.find(Locator::Id("ack")).await?.click().await?;
    b.client.wait().for_element(Locator::Css(".badge.degraded")).await?;
    assert!(b.client.source().await?.contains("admin@wisp.test at "), "who acknowledged, and when");
    b.client.find(Locator::Id("incident-body")).await?.send_keys("Tower crew called").await?;
    b.client.find(Locator::Css("form[action$='/notes'] button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("li.ev-note")).await?;
    b.client.find(Locator::Id("close-incident")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("incident-reason-error")).await?;
    b.screenshot("32-incident-close-refused").await?;
    b.client.find(Locator::Id("incident-reason")).await?.send_keys("Customer unplugged the radio").await?;
    b.client.find(Locator::Id("close-incident")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("p.banner")).await?;
    let src = b.client.source().await?;
    assert!(src.contains("Customer unplugged the radio") && src.contains("Tower crew called"), "closed with its log");
    b.screenshot("33-incident-closed").await?;
    let (_, v) = c.get("/api/v1/incidents?open=true", &tok).await?;
    assert!(v["incidents"].as_array().is_some_and(|a| a.iter().all(|i| i["id"] != incident)), "{v}");

    // Re-parent a device: the CPE goes under the AP (set by staff, shown as
    // such), the site's tree changes; a loop is refused next to the field.
    let (_, v) = c.get("/api/v1/devices", &tok).await?;
    let id_of = |label: &str| -> i64 {
        devices(&v).iter().find(|d| d["name"] == label).and_then(|d| d["id"].as_i64()).expect(label)
    };
    let (ap_id, cpe_id) = (id_of("ap-ridge"), id_of("cpe-smith"));
    b.client.goto(&format!("{base}/devices/{cpe_id}")).await?;
    b.client.find(Locator::Id("edit-device")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("form.device-form")).await?;
    b.client.find(Locator::Css(&format!("input[name=parents][value='{ap_id}']"))).await?.click().await?;
    b.client.find(Locator::Css("select[name=kind] option[value=cpe]")).await?.click().await?;
    type_in_id(&b, "device-notes", "Roof mount; ladder needed").await?;
    b.screenshot("34-device-edit").await?;
    b.client.find(Locator::Id("save-device")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("edit-device")).await?;
    let src = b.client.source().await?;
    assert!(src.contains("(set by staff)") && src.contains("Roof mount; ladder needed"), "saved");
    assert!(src.contains(&format!("href=\"/devices/{ap_id}\"")), "the parent is linked");
    b.client.goto(&format!("{base}{site_path}")).await?;
    let row = b.client.find(Locator::XPath("//tr[.//a[text()='cpe-smith']]")).await?;
    assert!(row.text().await?.contains('└'), "the CPE hangs under the AP in the site's tree");
    b.screenshot("34b-site-tree").await?;
    b.client.goto(&format!("{base}/devices/{ap_id}/edit")).await?;
    b.client.find(Locator::Css(&format!("input[name=parents][value='{cpe_id}']"))).await?.click().await?;
    b.client.find(Locator::Id("save-device")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("device-parents-error")).await?;
    assert!(b.client.source().await?.contains("would loop"), "a loop is refused next to the parents");
    b.screenshot("35-device-loop-refused").await?;

    // A new site from the browser: a bad subnet comes back next to its
    // field with the rest kept and the typed credential not shown again.
    b.client.goto(&format!("{base}/sites")).await?;
    b.client.find(Locator::Css("#new-site")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("form.site-form")).await?;
    let type_in = async |id: &str, text: &str| -> anyhow::Result<()> {
        let e = b.client.find(Locator::Id(id)).await?;
        e.clear().await?;
        e.send_keys(text).await?;
        Ok(())
    };
    type_in("site-name", "valley").await?;
    type_in("site-lat", "45.07").await?;
    type_in("site-lon", "-93.2").await?;
    type_in("site-targets", "10.77.0.1=ap-valley").await?;
    type_in("site-credentials", "v2c:valley-secret").await?;
    type_in("site-snmp_targets", "10.77.0.1").await?;
    type_in("site-subnets", "10.0.0.0/8").await?;
    b.client.find(Locator::Css("form.site-form button[type=submit]")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("site-subnets-error")).await?;
    let src = b.client.source().await?;
    assert!(src.contains("value=\"valley\"") && src.contains("ap-valley"), "the form keeps what was typed");
    assert!(!src.contains("valley-secret"), "a typed credential is never shown again");
    b.screenshot("29-site-form-error").await?;
    type_in("site-subnets", "10.77.0.0/24").await?;
    type_in("site-credentials", "v2c:valley-secret").await?;
    b.client.find(Locator::Css("form.site-form button[type=submit]")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("edit-site")).await?;
    let valley_path = b.client.current_url().await?.path().to_string();
    let (_, v) = c.get(&format!("/api/v1{valley_path}/probing"), &tok).await?;
    assert_eq!(v["probing"]["credentials"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["probing"]["subnets"][0], "10.77.0.0/24", "{v}");
    assert!(!v.to_string().contains("valley-secret"), "the API never shows a credential");
    b.screenshot("30-site-created").await?;
    // The edit form says a credential is stored without showing it.
    b.client.find(Locator::Id("edit-site")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("form.site-form")).await?;
    let src = b.client.source().await?;
    assert!(src.contains("1 stored (v2c)") && !src.contains("valley-secret"), "write-only credentials");
    b.screenshot("31-site-edit").await?;
    // Deleting asks first.
    b.client.find(Locator::Css("form[action$='/delete'] button")).await?.click().await?;
    // The click navigates to the confirmation page: wait for it.
    b.client.wait().for_element(Locator::Id("confirm-delete")).await?.click().await?;
    if let Err(e) = b.client.wait().for_element(Locator::Css("#new-site")).await {
        let _ = b.screenshot("31b-site-delete-failed").await;
        anyhow::bail!("no site list after deleting ({e}): {}", b.client.source().await?);
    }
    assert!(!b.client.source().await?.contains(">valley<"), "the site is gone");

    // Change the live site from the browser: a new ping target reaches its
    // agent (no restart) and is probed.
    b.client.goto(&format!("{base}{site_path}/edit")).await?;
    let targets = b.client.find(Locator::Id("site-targets")).await?;
    let current = targets.prop("value").await?.unwrap_or_default();
    targets.clear().await?;
    targets.send_keys(&format!("{current}\n127.0.0.2=ap-second")).await?;
    b.client.find(Locator::Css("form.site-form button[type=submit]")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("edit-site")).await?;
    c.wait_for("the agent to probe the target added in the browser", Duration::from_secs(30), async || {
        let (_, v) = c.get("/api/v1/devices", &tok).await.ok()?;
        devices(&v).iter().any(|d| d["name"] == "ap-second" && d["status"] == "up").then_some(())
    })
    .await?;
    b.client.goto(&format!("{base}/sites")).await?;
    b.client.find(Locator::LinkText("ridge")).await?.click().await?;

    // The chart of the device that is up.
    b.client.find(Locator::LinkText("ap-ridge")).await?.click().await?;
    // The chart is uPlot over the JSON series; the server's SVG chart, its
    // fallback image, loads too.
    b.client.wait().for_element(Locator::Css(".chart.is-live canvas")).await?;
    let device_path = b.client.current_url().await?.path().to_string();
    let loaded = b
        .client
        .execute(
            "return fetch(arguments[0]).then(r => r.ok && r.headers.get('content-type') === 'image/svg+xml')",
            vec![serde_json::Value::String(format!("{device_path}/chart.svg?range=hour"))],
        )
        .await?;
    assert_eq!(loaded, serde_json::Value::Bool(true), "the chart image loads");
    // Hovering the chart fills uPlot's legend with the values under the
    // cursor (a time and at least one number instead of "--").
    b.client.execute("document.querySelector('.chart.is-live').scrollIntoView({block: 'center'})", vec![]).await?;
    let over = b.client.find(Locator::Css(".chart.is-live .u-over")).await?;
    let hover = MouseActions::new("mouse".to_string()).then(PointerAction::MoveToElement {
        element: over,
        duration: Some(Duration::from_millis(50)),
        x: 40.0,
        y: 0.0,
    });
    b.client.perform_actions(hover).await?;
    let legend = b.client.find(Locator::Css(".chart.is-live .u-legend")).await?.text().await?;
    let values: Vec<String> = {
        let mut v = Vec::new();
        for e in b.client.find_all(Locator::Css(".chart.is-live .u-legend .u-value")).await? {
            v.push(e.text().await?);
        }
        v
    };
    assert!(
        values.len() >= 2 && values.iter().skip(1).any(|v| v.chars().any(|c| c.is_ascii_digit())),
        "the legend shows the hovered values: {legend:?} {values:?}"
    );
    b.screenshot("03a-device-chart-hour").await?;
    b.client.find(Locator::LinkText("day")).await?.click().await?;
    b.client.wait().for_element(Locator::Css(".chart.is-live, .chart.is-failed")).await?;
    b.screenshot("03-device-chart").await?;

    // Revoke the agent from its page.
    b.client.goto(&format!("{base}/agents/{agent_id}")).await?;
    b.client.find(Locator::Css("#revoke")).await?.click().await?;
    // Revoking asks first.
    b.client.wait().for_element(Locator::Css("#confirm-revoke")).await?;
    b.screenshot("04a-agent-revoke-confirm").await?;
    b.client.find(Locator::Css("#confirm-revoke")).await?.click().await?;
    b.client.wait().for_element(Locator::Css(".badge.down")).await?;
    assert!(b.client.source().await?.contains(">revoked<"));
    b.screenshot("04-agent-revoked").await?;
    c.wait_for("the agent's link to close", Duration::from_secs(10), async || {
        let (_, v) = c.get("/api/v1/agents", &tok).await.ok()?;
        (v["agents"][0]["connected"] == false).then_some(())
    })
    .await?;

    // Planning maintenance for a device that does not exist: the form comes
    // back with the error next to the device field, keeping what was typed.
    b.client.goto(&format!("{base}/maintenance")).await?;
    b.client.execute("document.getElementById('plan-start_local').value = '2030-06-04T02:00'", vec![]).await?;
    b.client.find(Locator::Css("#plan-device")).await?.send_keys("999999").await?;
    b.client.find(Locator::Css("#plan-reason")).await?.send_keys("Firmware upgrade").await?;
    b.client.find(Locator::Css("form[action='/maintenance'] button[type=submit]")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("#plan-device-error")).await?;
    let src = b.client.source().await?;
    assert!(src.contains("no device 999999") && src.contains("value=\"Firmware upgrade\""), "inline error");
    b.screenshot("04b-maintenance-error").await?;

    // Every page family, at desktop and at phone width (where the
    // navigation folds into a menu): each renders its heading, not an error.
    let families = [
        ("11-sites", "/sites".to_string()),
        ("12-devices", "/devices".to_string()),
        ("12b-weak-links", "/network/links".to_string()),
        ("13-agents", "/agents".to_string()),
        ("13b-upgrades", "/fleet/rollouts".to_string()),
        ("14-incidents", "/incidents".to_string()),
        ("15-tickets", "/tickets".to_string()),
        ("16-customers", "/customers".to_string()),
        ("17-maintenance", "/maintenance".to_string()),
        ("18-billing-reports", "/billing/reports".to_string()),
        ("18b-plans", "/billing/plans".to_string()),
        ("18c-tax-classes", "/billing/taxes".to_string()),
        ("18g-invoice-run", "/billing/runs".to_string()),
        ("18h-bank-statement", "/billing/bank".to_string()),
        ("19-users", "/users".to_string()),
        ("20-tokens", "/tokens".to_string()),
        ("21-audit", "/audit".to_string()),
        ("22-groups", "/groups".to_string()),
        ("23-canned", "/canned".to_string()),
        ("24-alerts", "/alerts".to_string()),
        ("24a-alert-rules", "/alerts/rules".to_string()),
        ("24aa-site-contacts", format!("{site_path}/contacts")),
        ("24ab-site-backhaul", format!("{site_path}/uplinks")),
        ("24b-outbox", "/outbox".to_string()),
        ("24c-settings", "/settings".to_string()),
        ("24d-availability", "/reports/availability".to_string()),
        ("25-site-inventory", format!("{site_path}/inventory")),
        ("27-search", "/search?q=ridge".to_string()),
        ("27b-device-edit", format!("/devices/{cpe_id}/edit")),
        ("28-map", "/sites/map".to_string()),
    ];
    for (width, suffix) in [(1280, "desktop"), (390, "phone")] {
        b.client.set_window_size(width, 844).await?;
        for (name, path) in &families {
            b.client.goto(&format!("{base}{path}")).await?;
            let h1 = b.client.find(Locator::Css("main h1")).await;
            let src = b.client.source().await?;
            assert!(
                h1.is_ok() && !src.contains("Not allowed") && !src.contains("Not found"),
                "{path} renders a page: {}",
                src.chars().take(600).collect::<String>()
            );
            let toggle = b.client.find(Locator::Css("label.nav-button")).await?;
            assert_eq!(toggle.is_displayed().await?, width < 700, "{path}: the menu button only at phone width");
            b.screenshot(&format!("{name}-{suffix}")).await?;
        }
    }
    // Settings in the browser: the company name saved, waiting for the
    // restart the page offers.
    b.client.set_window_size(1280, 900).await?;
    b.client.goto(&format!("{base}/settings")).await?;
    type_in_id(&b, "settings-operator_name", "Ridge Wireless").await?;
    b.client.find(Locator::Id("save-settings")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("restart-now")).await?;
    assert!(b.client.source().await?.contains("not applied yet"), "a saved setting waits for the restart");
    b.screenshot("24e-settings-saved").await?;
    // A plan added in the browser: a bad speed answered next to the field,
    // then listed with its speeds.
    b.client.goto(&format!("{base}/billing/plans")).await?;
    type_in_id(&b, "plan-name", "Rural 25").await?;
    type_in_id(&b, "plan-price", "55.00").await?;
    type_in_id(&b, "plan-down_mbps", "fast").await?;
    type_in_id(&b, "plan-up_mbps", "5").await?;
    b.client.find(Locator::Id("add-plan")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("plan-down_mbps-error")).await?;
    b.screenshot("18d-plan-error").await?;
    type_in_id(&b, "plan-down_mbps", "25").await?;
    b.client.find(Locator::Id("add-plan")).await?.click().await?;
    b.client.wait().for_element(Locator::LinkText("Rural 25")).await?;
    assert!(b.client.source().await?.contains("25 ↓ / 5 ↑ Mbit/s"), "the plan is listed with its speeds");
    b.screenshot("18e-plan-added").await?;
    // Ada's service: a billing account, then the plan.
    b.client.goto(&format!("{base}/customers/{cust_id}/service")).await?;
    b.client.find(Locator::Id("open-account")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("subscribe-now")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("table .badge.up")).await?;
    assert!(b.client.source().await?.contains("Rural 25"), "subscribed");
    b.screenshot("18f-customer-service").await?;
    b.client.goto(&format!("{base}/customers/{cust_id}")).await?;
    b.client.find(Locator::Id("customer-plan")).await?;
    // The billing office: the invoice run for Ada's next invoice date,
    // previewed with its totals per plan, then run; the invoice list; a
    // credit note for part of the line (with its PDF); a payment recorded
    // and refunded; a void; the dunning desk.
    let page = b.client.source().await?;
    let next = page.split("Next invoice: ").nth(1).map(|r| r[..10].to_string()).expect("the next invoice date");
    b.client.goto(&format!("{base}/billing/runs")).await?;
    b.client.execute("document.getElementById('run-date').value = arguments[0]", vec![next.clone().into()]).await?;
    b.client.find(Locator::Id("preview-run")).await?.click().await?;
    b.client.wait().for_element(Locator::Id("run-by-plan")).await?;
    assert!(b.client.source().await?.contains("Rural 25 (USD)"), "the preview's totals per plan");
    b.screenshot("18i-run-preview").await?;
    b.client.find(Locator::Id("run-now")).await?.click().await?;
    // The preview on this page has a `#run-issued` too: first wait for the
    // run's own page, then for its result (polled in by htmx).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !b
        .client
        .current_url()
        .await?
        .path()
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .ends_with("/billing/runs/")
    {
        assert!(std::time::Instant::now() < deadline, "the run's page never opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let issued = b.client.wait().for_element(Locator::Css("#run-issued")).await?.text().await?;
    assert_eq!(issued, "1");
    b.client.goto(&format!("{base}/billing/invoices")).await?;
    b.client.wait().for_element(Locator::Css("#invoice-totals")).await?;
    b.screenshot("18j-invoice-list").await?;
    let href =
        b.client.find(Locator::Css("table a[href^='/invoices/']")).await?.attr("href").await?.unwrap_or_default();
    let invoice_url = format!("{base}{href}");
    b.client.goto(&invoice_url).await?;
    b.screenshot("18j2-invoice").await?;
    b.client.wait().for_element(Locator::Css("form.credit-form")).await?;
    b.client.find(Locator::Css("#credit-mode option[value='lines']")).await?.click().await?;
    type_in_id(&b, "credit-line_0", "5.00").await?;
    type_in_id(&b, "credit-reason", "Outage credit").await?;
    b.client.find(Locator::Id("issue-credit")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("a[href^='/credit-notes/']")).await?;
    assert!(b.client.source().await?.contains("Partly paid"), "the credit note leaves it partly paid");
    b.screenshot("18k-credit-note").await?;
    b.client.find(Locator::Css("a[href^='/credit-notes/']")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("article.invoice")).await?;
    assert!(b.client.source().await?.contains("CREDIT NOTE"));
    b.screenshot("18l-credit-note-page").await?;
    b.client.goto(&format!("{base}/customers/{cust_id}")).await?;
    type_in_id(&b, "payment-amount", "10.00").await?;
    b.client.find(Locator::Css("#payment-method option[value='cash']")).await?.click().await?;
    b.client.find(Locator::Css("#record-payment + form button[type='submit']")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("ul.payments a")).await?;
    b.client.find(Locator::Css("ul.payments a")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("form.refund-form")).await?;
    type_in_id(&b, "refund-amount", "10.00").await?;
    type_in_id(&b, "refund-reason", "Paid twice").await?;
    b.client.find(Locator::Id("refund-now")).await?.click().await?;
    // The payment's page shows "0.00 USD" refunded until the refund's answer replaces it.
    assert_eq!(settled_text(&b, "payment-refunded", "10.00 USD").await?, "10.00 USD");
    b.screenshot("18m-payment-refunded").await?;
    b.client.goto(&invoice_url).await?;
    type_in_id(&b, "void-reason", "Issued by mistake").await?;
    b.client.find(Locator::Id("void-now")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("p.callout")).await?;
    assert!(b.client.find(Locator::Id("invoice-status")).await?.text().await?.contains("Void"));
    b.screenshot("18n-invoice-void").await?;
    b.client.goto(&format!("{base}/billing/dunning")).await?;
    b.screenshot("18o-dunning-desk").await?;
    b.client.goto(&format!("{base}/billing/payments")).await?;
    b.screenshot("18p-payments").await?;
    // Inventory: a model and two places, two radios received by typing
    // their MACs as a barcode scanner does (code, Enter), one assigned to
    // the van and one installed at Ada from the move form; a code no unit
    // has is refused next to the field; the reconciliation page lists Ada's
    // radio, which the network has not seen.
    b.client.goto(&format!("{base}/stock/models")).await?;
    type_in_id(&b, "model-vendor", "Ubiquiti").await?;
    type_in_id(&b, "model-name", "LiteBeam 5AC").await?;
    type_in_id(&b, "model-kind", "radio").await?;
    b.client.find(Locator::Id("model-needs_mac")).await?.click().await?;
    type_in_id(&b, "model-unit_cost", "89.00").await?;
    b.client.find(Locator::Css("form[action='/stock/models'] button[type='submit']")).await?.click().await?;
    b.client.wait().for_element(Locator::LinkText("Ubiquiti LiteBeam 5AC")).await?;
    for (kind, name) in [("warehouse", "Main store"), ("vehicle", "Van 1")] {
        b.client.goto(&format!("{base}/stock/locations")).await?;
        b.client.find(Locator::Css(&format!("#location-kind option[value='{kind}']"))).await?.click().await?;
        type_in_id(&b, "location-name", name).await?;
        b.client.find(Locator::Css("form[action='/stock/locations'] button[type='submit']")).await?.click().await?;
        b.client.wait().for_element(Locator::LinkText(name)).await?;
    }
    b.client.goto(&format!("{base}/stock/receive")).await?;
    b.client
        .find(Locator::XPath("//select[@id='receive-model']/option[contains(., 'LiteBeam')]"))
        .await?
        .click()
        .await?;
    b.client
        .find(Locator::XPath("//select[@id='receive-into']/option[contains(., 'Main store')]"))
        .await?
        .click()
        .await?;
    let codes = b.client.find(Locator::Id("receive-codes")).await?;
    codes.send_keys("04-18-D6-A1-22-3B\n").await?;
    codes.send_keys("02:11:22:33:44:55\n").await?;
    let counted = text_of(&b, Locator::Css(".scan-count")).await?;
    assert_eq!(counted, "2 lines", "the scan field counts the units");
    // The camera path: this Chromium has no BarcodeDetector and no camera,
    // so both are stood in for (a detector that reads two codes, the same
    // one twice, and a canvas as the camera); mast.js's own code then adds
    // the button, runs the camera and appends each new code once.
    b.client
        .execute(
            r#"window.__codes = ["02:11:22:33:44:99", "02:11:22:33:44:99"];
               window.BarcodeDetector = class { async detect() {
                 return window.__codes.splice(0, 1).map(function (v) { return { rawValue: v }; }); } };
               navigator.mediaDevices.getUserMedia = async function () {
                 const c = document.createElement("canvas"); c.width = 64; c.height = 48;
                 c.getContext("2d").fillRect(0, 0, 64, 48); return c.captureStream(5); };
               const t = document.getElementById("receive-codes");
               delete t.dataset.scanReady;
               document.querySelectorAll(".scan-count").forEach(function (e) { e.remove(); });
               document.dispatchEvent(new CustomEvent("htmx:load"));"#,
            vec![],
        )
        .await?;
    b.client.wait().for_element(Locator::Css("button.scan-camera")).await?.click().await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let value = b.client.find(Locator::Id("receive-codes")).await?.prop("value").await?.unwrap_or_default();
        if value.contains("02:11:22:33:44:99") && text_of(&b, Locator::Css(".scan-count")).await? == "3 lines" {
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the camera's code never reached the field: {value:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let value = b.client.find(Locator::Id("receive-codes")).await?.prop("value").await?.unwrap_or_default();
    assert_eq!(value.matches("02:11:22:33:44:99").count(), 1, "a code read twice is added once: {value:?}");
    b.screenshot("27-stock-receive").await?;
    b.client.find(Locator::XPath("//div[@class='scan-box']/button[.='Done']")).await?.click().await?;
    b.client.find(Locator::Css("form[action='/stock/receive'] button[type='submit']")).await?.click().await?;
    let flash = text_of(&b, Locator::Css(".flash-success")).await?;
    assert!(flash.contains("3 line(s) received"), "{flash}");
    b.client.goto(&format!("{base}/stock/move?kind=assign-to-technician")).await?;
    b.client.find(Locator::Id("move-codes")).await?.send_keys("02:11:22:33:44:55\n").await?;
    b.client.find(Locator::XPath("//select[@id='move-to']/option[contains(., 'Van 1')]")).await?.click().await?;
    b.client.find(Locator::Css("form[action='/stock/move'] button[type='submit']")).await?.click().await?;
    let flash = text_of(&b, Locator::Css(".flash-success")).await?;
    assert!(flash.contains("assign-to-technician of 1"), "{flash}");
    // The install from a phone, as a technician at the customer does it.
    b.client.set_window_size(390, 844).await?;
    b.client.goto(&format!("{base}/stock/move?kind=install")).await?;
    b.client.find(Locator::Id("move-codes")).await?.send_keys("02:99:99:99:99:99\n").await?;
    type_in_id(&b, "move-customer", &cust_id).await?;
    b.client.find(Locator::Css("form[action='/stock/move'] button[type='submit']")).await?.click().await?;
    let err = text_of_id(&b, "move-codes-error").await?;
    assert!(err.contains("no unit has"), "{err}");
    b.screenshot("28-stock-move-refused").await?;
    type_in_id(&b, "move-codes", "04:18:d6:a1:22:3b").await?;
    b.client.find(Locator::Css("form[action='/stock/move'] button[type='submit']")).await?.click().await?;
    let flash = text_of(&b, Locator::Css(".flash-success")).await?;
    assert!(flash.contains("install of 1"), "{flash}");
    b.screenshot("28b-stock-installed-phone").await?;
    b.client.set_window_size(1280, 900).await?;
    b.client.goto(&format!("{base}/stock/reconcile")).await?;
    let stale = text_of_id(&b, "stale").await?;
    assert!(stale.contains("04:18:d6:a1:22:3b") && stale.contains("Mark lost"), "{stale}");
    b.screenshot("29-stock-reconcile").await?;
    b.client.goto(&format!("{base}/stock")).await?;
    b.screenshot("30-stock").await?;
    b.client.set_window_size(390, 844).await?;
    b.screenshot("30b-stock-phone").await?;
    b.client.goto(&format!("{base}/stock/move?kind=install")).await?;
    b.screenshot("30c-stock-move-phone").await?;
    b.client.goto(&format!("{base}/stock/reconcile")).await?;
    b.screenshot("30d-stock-reconcile-phone").await?;
    b.client.set_window_size(1280, 900).await?;

    dispatch_steps(&b, &c, &base, &cust_id, &tech_pw).await?;

    b.client.set_window_size(390, 844).await?;
    // The menu opens at phone width.
    b.client.find(Locator::Css("label.nav-button")).await?.click().await?;
    assert!(b.client.find(Locator::LinkText("Sites")).await?.is_displayed().await?, "the menu shows the nav");
    b.screenshot("26-menu-open-phone").await?;

    // Phone width.
    b.client.set_window_size(390, 844).await?;
    b.client.goto(&format!("{base}/")).await?;
    b.screenshot("05-dashboard-phone").await?;
    b.client.goto(&format!("{base}/customers/{cust_id}")).await?;
    b.screenshot("05b-customer-phone").await?;
    b.client.goto(&format!("{base}/sites/map")).await?;
    b.client.wait().for_element(Locator::Css(".map.is-live path.mk-site")).await?;
    b.screenshot("05c-map-phone").await?;
    b.client.goto(&format!("{base}{device_path}")).await?;
    b.client.wait().for_element(Locator::Css(".chart.is-live canvas")).await?;
    b.screenshot("05d-device-phone").await?;
    b.client.goto(&format!("{base}/maintenance")).await?;
    b.screenshot("05e-maintenance-phone").await?;
    b.client.set_window_size(1280, 900).await?;

    // A technician cannot open the users page.
    b.client.find(Locator::Css("form.logout button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("form.login")).await?;
    login(&b, &base, "tech@wisp.test", &tech_pw).await?;
    b.client.wait().for_element(Locator::Css(".tiles")).await?;
    assert!(!b.client.source().await?.contains("href=\"/users\""), "no users link for technicians");
    b.client.goto(&format!("{base}/users")).await?;
    assert!(b.client.source().await?.contains("Not allowed"));
    b.screenshot("06-technician-refused").await?;
    agent.kill();
    drop(relay);
    Ok(())
}

/// Dispatch in the browser: two technicians set up, a work order made from
/// a ticket (the form prefilled from it), "plan the day", a job dragged to
/// the other technician, then the technician's phone view at phone width:
/// a checklist tick, on the way, on site, a part scanned (installed at the
/// customer from stock), a photo; offline (Chromium's network taken away
/// with the server still running) a note and "done" wait in the phone,
/// and reach the server once the network is back.
async fn dispatch_steps(b: &Browser, c: &Controller, base: &str, cust_id: &str, tech_pw: &str) -> anyhow::Result<()> {
    use serde_json::{Value, json};
    let tok = c.admin_token();
    let admin_pw = c.add_user("dispatcher@wisp.test", "admin");
    c.add_user("tech2@wisp.test", "technician");
    let mut ws = WebSession::new(c);
    ws.login("dispatcher@wisp.test", &admin_pw).await?;
    let page = ws.get("/dispatch/technicians").await?.body;
    let user_id = |email: &str| {
        let i = page.find(&format!(">{email}</option>")).expect(email);
        let v = page[..i].rfind("value=\"").unwrap() + 7;
        page[v..].chars().take_while(char::is_ascii_digit).collect::<String>()
    };
    let (t1, t2) = (user_id("tech@wisp.test"), user_id("tech2@wisp.test"));
    for (u, name) in [(&t1, "Tess Field"), (&t2, "Otto Pole")] {
        assert_eq!(ws.post("/dispatch/technicians", &[("user", u), ("name", name)], None).await?.status, 303);
        let mut f: Vec<(&str, &str)> = vec![
            ("name", name),
            ("shift_start", "00:00"),
            ("shift_end", "23:59"),
            ("start_lat", "45.05"),
            ("start_lon", "-93.10"),
            ("active", "on"),
        ];
        f.extend([("day", "1"), ("day", "2"), ("day", "3"), ("day", "4"), ("day", "5"), ("day", "6"), ("day", "7")]);
        let r = ws.post(&format!("/dispatch/technicians/{u}"), &f, None).await?;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let (st, t) = c
        .post_json(
            "/api/v1/tickets",
            &tok,
            &json!({"subject": "Slow after the storm", "customer_id": cust_id.parse::<i64>()?}),
        )
        .await?;
    assert_eq!(st, 201, "{t}");
    let ticket = t["ticket"]["id"].as_i64().unwrap();

    // The work order from the ticket, in the browser.
    b.client.goto(&format!("{base}/tickets/{ticket}")).await?;
    b.client.find(Locator::Css(&format!("a[href='/dispatch/jobs/new?ticket={ticket}']"))).await?.click().await?;
    let title = b.client.wait().for_element(Locator::Id("job-title")).await?;
    assert_eq!(title.prop("value").await?.as_deref(), Some("Slow after the storm"));
    b.screenshot("31-work-order-from-ticket").await?;
    b.client.find(Locator::Css("form[action='/dispatch/jobs'] button[type='submit']")).await?.click().await?;
    let flash = text_of(b, Locator::Css(".flash-success")).await?;
    assert!(flash.contains("Work order created"), "{flash}");
    let (_, v) = c.get("/api/v1/dispatch/jobs", &tok).await?;
    let first = v[0]["id"].as_i64().unwrap();
    let (st, v) = c
        .post_json(
            "/api/v1/dispatch/jobs",
            &tok,
            &json!({"kind": "installation", "priority": "normal", "title": "Install at the mill", "customer_id": null,
                    "address": "Mill Rd", "lat": 45.04, "lon": -93.12, "window_start_min": null, "window_end_min": null,
                    "duration_min": 60, "skills": "", "notes": "", "close_ticket": false, "ticket_id": null,
                    "incident_id": null, "site_id": null}),
        )
        .await?;
    assert_eq!(st, 200, "{v}");

    // Plan the day on the board.
    b.client.goto(&format!("{base}/dispatch")).await?;
    b.client.find(Locator::Css("form.plan-form button")).await?.click().await?;
    let flash = text_of(b, Locator::Css(".flash-success")).await?;
    assert!(flash.contains("Planned 2 job(s)"), "{flash}");
    b.client.wait().for_element(Locator::Css(".map.is-live")).await?;
    b.screenshot("32-dispatch-board").await?;
    let owner = |v: &Value, id: i64| {
        v.as_array().unwrap().iter().find(|j| j["id"] == id).and_then(|j| j["technician_id"].as_i64()).unwrap_or(0)
    };
    // Drag the ticket's job onto the other technician's column.
    let (_, v) = c.get("/api/v1/dispatch/jobs", &tok).await?;
    let target: i64 = if owner(&v, first).to_string() == t1 { t2.parse()? } else { t1.parse()? };
    let drag = |job: i64, tech: i64| {
        format!(
            r#"const card = document.getElementById("job-{job}");
               const col = document.querySelector(".board-col[data-tech='{tech}']");
               const dt = new DataTransfer();
               card.dispatchEvent(new DragEvent("dragstart", {{ bubbles: true, dataTransfer: dt }}));
               col.dispatchEvent(new DragEvent("dragover", {{ bubbles: true, cancelable: true, dataTransfer: dt }}));
               col.dispatchEvent(new DragEvent("drop", {{ bubbles: true, cancelable: true, dataTransfer: dt }}));"#
        )
    };
    b.client.execute(&drag(first, target), vec![]).await?;
    let flash = text_of(b, Locator::Css(".flash-success")).await?;
    assert!(flash.contains(&format!("#{first} moved")), "{flash}");
    let (_, v) = c.get("/api/v1/dispatch/jobs", &tok).await?;
    assert_eq!(owner(&v, first), target, "dragged to the other technician");
    // The phone part works the ticket's job as tech@: drag it there if it
    // went to the other one.
    if target.to_string() != t1 {
        b.client.execute(&drag(first, t1.parse()?), vec![]).await?;
        // The old page shows the same message: wait on the server instead.
        c.wait_for("dragged back", Duration::from_secs(20), async || {
            let (_, v) = c.get("/api/v1/dispatch/jobs", &tok).await.ok()?;
            (owner(&v, first).to_string() == t1).then_some(())
        })
        .await?;
        b.client.wait().for_element(Locator::Css(".board-col .job-card")).await?;
    }
    b.screenshot("33-dispatch-board-moved").await?;

    // The technician's phone.
    b.client.find(Locator::Css("form.logout button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("form.login")).await?;
    b.client.set_window_size(390, 844).await?;
    login(b, base, "tech@wisp.test", tech_pw).await?;
    b.client.wait().for_element(Locator::Css(".tiles")).await?;
    b.client.goto(&format!("{base}/tech")).await?;
    b.client.wait().for_element(Locator::Css(&format!("a.job-link[href='/tech/jobs/{first}']"))).await?;
    b.screenshot("34-tech-today-phone").await?;
    b.client.goto(&format!("{base}/tech/jobs/{first}")).await?;
    b.client.wait().for_element(Locator::Id("job-status")).await?;
    let step = |to: &'static str| async move {
        b.client.find(Locator::Css(&format!("form.op-status button[name='to'][value='{to}']"))).await?.click().await?;
        anyhow::Ok(())
    };
    b.client.find(Locator::Css("form.op-check input[name='done']")).await?.click().await?;
    step("en-route").await?;
    c.wait_for("en route on the server", Duration::from_secs(20), async || {
        (job_of(c, &tok, first).await?["status"] == "en-route").then_some(())
    })
    .await?;
    b.client.wait().for_element(Locator::Css("form.op-status button[name='to'][value='on-site']")).await?;
    step("on-site").await?;
    c.wait_for("on site on the server", Duration::from_secs(20), async || {
        (job_of(c, &tok, first).await?["status"] == "on-site").then_some(())
    })
    .await?;
    // A part scanned: the radio the camera step received.
    let codes = b.client.wait().for_element(Locator::Css("form.op-parts textarea[name='codes']")).await?;
    codes.send_keys("02:11:22:33:44:99\n").await?;
    b.client.find(Locator::Css("form.op-parts button[type='submit']")).await?.click().await?;
    c.wait_for("the part installed at the customer", Duration::from_secs(20), async || {
        let (_, u) = c.get("/api/v1/stock/units?q=02:11:22:33:44:99", &tok).await.ok()?;
        (u.to_string().contains("\"customer\"")).then_some(())
    })
    .await?;
    // A photo from the phone's camera (a file here).
    let dir = tempfile::tempdir()?;
    let photo = dir.path().join("mast.png");
    std::fs::write(&photo, PNG_1X1)?;
    b.client
        .wait()
        .for_element(Locator::Css("form.op-photo input[name='photo']"))
        .await?
        .send_keys(&photo.display().to_string())
        .await?;
    b.client.find(Locator::Css("form.op-photo button[type='submit']")).await?.click().await?;
    c.wait_for("the photo stored", Duration::from_secs(20), async || {
        let mut s = WebSession::new(c);
        s.login("dispatcher@wisp.test", &admin_pw).await.ok()?;
        let p = s.get(&format!("/dispatch/jobs/{first}")).await.ok()?.body;
        p.contains(&format!("/dispatch/jobs/{first}/photos/")).then_some(())
    })
    .await?;
    b.screenshot("35-tech-job-phone").await?;

    // Offline: a note and "done" wait in the phone.
    b.client.goto(&format!("{base}/tech/jobs/{first}")).await?;
    b.client.wait().for_element(Locator::Css("form.op-note textarea[name='body']")).await?;
    b.set_offline(true).await?;
    b.client.find(Locator::Css("form.op-note textarea[name='body']")).await?.send_keys("Wrote this offline").await?;
    b.client.find(Locator::Css("form.op-note button[type='submit']")).await?.click().await?;
    step("done").await?;
    let waiting = text_of(b, Locator::Id("sync-status")).await?;
    assert!(waiting.contains("waiting"), "the phone says what waits: {waiting}");
    b.screenshot("36-tech-offline-phone").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(job_of(c, &tok, first).await.unwrap()["status"], "on-site", "nothing reached the server while offline");
    b.set_offline(false).await?;
    c.wait_for("the offline changes synced", Duration::from_secs(45), async || {
        (job_of(c, &tok, first).await?["status"] == "done").then_some(())
    })
    .await?;
    let mut s = WebSession::new(c);
    s.login("dispatcher@wisp.test", &admin_pw).await?;
    let p = s.get(&format!("/dispatch/jobs/{first}")).await?.body;
    assert!(p.contains("Wrote this offline"), "{p}");
    let saved = text_of(b, Locator::Id("sync-status")).await?;
    assert!(!saved.contains("waiting"), "{saved}");
    b.screenshot("37-tech-synced-phone").await?;
    b.client.set_window_size(1280, 900).await?;
    b.client.find(Locator::Css("form.logout button")).await?.click().await?;
    b.client.wait().for_element(Locator::Css("form.login")).await?;
    // Back as an admin for the rest of the tour.
    let pw = c.add_user("admin2@wisp.test", "admin");
    login(b, base, "admin2@wisp.test", &pw).await?;
    b.client.wait().for_element(Locator::Css(".tiles")).await?;
    Ok(())
}

/// Work order `id` as the API shows it.
async fn job_of(c: &Controller, tok: &str, id: i64) -> Option<serde_json::Value> {
    let (_, v) = c.get("/api/v1/dispatch/jobs", tok).await.ok()?;
    v.as_array()?.iter().find(|j| j["id"] == id).cloned()
}

/// A 1×1 PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// The text of the element with this id, once the page holding it has
/// settled: a find that races the page's last reload (a stale element) is
/// tried again, for at most 10 s.
async fn text_of_id(b: &Browser, id: &str) -> anyhow::Result<String> {
    text_of(b, Locator::Id(id)).await
}

/// The text of the element with this id once it reads `want` (a click's
/// answer replacing the page), or what it reads after 10 s.
async fn settled_text(b: &Browser, id: &str, want: &str) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let t = text_of_id(b, id).await?;
        if t == want || std::time::Instant::now() >= deadline {
            return Ok(t);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// [`text_of_id`] for any locator.
async fn text_of(b: &Browser, at: Locator<'_>) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = match b.client.find(at).await {
            Ok(e) => e.text().await.map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        match found {
            Ok(t) => return Ok(t),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

/// Replaces the text of the field with this id (a find that races the
/// page's load is tried again, for at most 10 s).
async fn type_in_id(b: &Browser, id: &str, text: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let done = async {
            let e = b.client.find(Locator::Id(id)).await?;
            e.clear().await?;
            e.send_keys(text).await?;
            anyhow::Ok(())
        };
        match done.await {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}
