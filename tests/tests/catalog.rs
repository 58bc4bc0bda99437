//! The catalog in the browser's forms, on SQLite and PostgreSQL: a tax
//! class with stacked components, a plan with speeds, data cap and setup
//! fee (bad fields answered next to them, a name in use refused), its
//! price changed, a customer subscribed (the setup fee charged once), the
//! sold plan refused deletion and archived instead (no longer sold), an
//! unused plan deleted; support reads the catalog but cannot change it;
//! every change in the audit log.

use mast_tests::*;

on_both_backends!(plans_and_tax_classes_from_the_browser);

async fn plans_and_tax_classes_from_the_browser(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let pw = c.add_user("books@wisp.test", "billing");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("books@wisp.test", &pw).await?.status, 303);

    // A tax class: a bad component is refused next to the field.
    s.get("/billing/taxes").await?;
    let tax = |components: &'static str| {
        vec![("name", "Internet service"), ("rounding", "half-up"), ("components", components)]
    };
    let r = s.post("/billing/taxes", &tax("State tax"), None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("tax-components-error") && r.body.contains("NAME:PERCENT"), "{}", r.body);
    assert_eq!(s.post("/billing/taxes", &tax("State tax: 6.25\nCounty: 1"), None).await?.status, 303);
    let page = s.get("/billing/taxes").await?.body;
    assert!(page.contains("State tax 6.25 % + County 1.00 %"), "{page}");

    // A plan: bad speeds and a duplicate name are refused next to their field.
    let page = s.get("/billing/plans").await?.body;
    let tax_id = page
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.contains(">Internet service<"))
        .and_then(|o| o.split('"').next())
        .expect("the tax class is offered")
        .to_string();
    let plan = |name: &'static str, down: &'static str, tax: &str| {
        vec![
            ("name", name.to_string()),
            ("price", "55.00".into()),
            ("currency", "USD".into()),
            ("down_mbps", down.into()),
            ("up_mbps", "5".into()),
            ("data_cap_gb", "500".into()),
            ("setup_fee", "99".into()),
            ("tax_class", tax.to_string()),
        ]
    };
    let post = async |s: &mut WebSession, path: &str, f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        s.post(path, &f, None).await
    };
    let r = post(&mut s, "/billing/plans", plan("Rural 25", "fast", &tax_id)).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("plan-down_mbps-error") && r.body.contains("value=\"Rural 25\""), "kept: {}", r.body);
    assert_eq!(post(&mut s, "/billing/plans", plan("Rural 25", "25", &tax_id)).await?.status, 303);
    s.get("/billing/plans").await?;
    let r = post(&mut s, "/billing/plans", plan("Rural 25", "50", &tax_id)).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("plan-name-error"), "{}", r.body);
    s.get("/billing/plans").await?;
    assert_eq!(post(&mut s, "/billing/plans", plan("Spare", "10", &tax_id)).await?.status, 303);
    let page = s.get("/billing/plans").await?.body;
    for shown in ["Rural 25", "55.00 USD", "25 ↓ / 5 ↑ Mbit/s", "500 GB", "99.00 USD", "Internet service"] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    let plan_id = |name: &str| {
        let marker = format!("\">{name}</a>");
        let at = page.find(&marker).expect("plan listed");
        page[..at].rsplit("/billing/plans/").next().unwrap().parse::<i64>().unwrap()
    };
    let (rural, spare) = (plan_id("Rural 25"), plan_id("Spare"));

    // A new price.
    s.get(&format!("/billing/plans/{rural}")).await?;
    let mut changed = plan("Rural 25", "25", &tax_id);
    changed[1].1 = "60.00".into();
    assert_eq!(post(&mut s, &format!("/billing/plans/{rural}"), changed).await?.status, 303);
    assert!(s.get(&format!("/billing/plans/{rural}")).await?.body.contains("value=\"60.00\""));

    // A customer subscribes: the setup fee is charged once.
    let id = c.cli_ok(&["customer", "add", "--name", "Rita Rural", "--email", "rita@example.org"]).trim().to_string();
    c.cli_ok(&["billing", "account", "set", &id, "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &id, "Rural 25", "--start", "2026-12-01"]);
    let db = c.db().await?;
    let fees: Vec<(String, i64)> =
        sqlx::query_as("SELECT description, amount_minor FROM charges WHERE customer_id = $1")
            .bind(id.parse::<i64>()?)
            .fetch_all(&db.pool)
            .await?;
    assert_eq!(fees, vec![("Setup fee: Rural 25".to_string(), 9900)]);

    // Sold: deleting it is refused with the way out; archived, it is no
    // longer sold. The spare one, never sold, is deleted.
    s.get(&format!("/billing/plans/{rural}")).await?;
    let r = s.post(&format!("/billing/plans/{rural}/delete"), &[("confirm", "yes")], None).await?;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("archive it instead"), "{}", r.body);
    s.get(&format!("/billing/plans/{rural}")).await?;
    assert_eq!(s.post(&format!("/billing/plans/{rural}/archive"), &[], None).await?.status, 303);
    assert!(s.get("/billing/plans").await?.body.contains("archived"));
    let other = c.cli_ok(&["customer", "add", "--name", "Late Larry"]).trim().to_string();
    c.cli_ok(&["billing", "account", "set", &other, "--billing-day", "1"]);
    let refused = c.cli(&["billing", "subscribe", &other, "Rural 25", "--start", "2026-12-01"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("no longer sold"));
    s.get(&format!("/billing/plans/{spare}")).await?;
    assert_eq!(s.post(&format!("/billing/plans/{spare}/delete"), &[("confirm", "yes")], None).await?.status, 303);
    assert!(!s.get("/billing/plans").await?.body.contains(">Spare<"));

    // Support reads the catalog, cannot change it.
    let spw = c.add_user("help@wisp.test", "support");
    let mut h = WebSession::new(&c);
    h.login("help@wisp.test", &spw).await?;
    let page = h.get(&format!("/billing/plans/{rural}")).await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("60.00 USD") && !page.body.contains("save-plan"), "{}", page.body);
    assert_eq!(h.post(&format!("/billing/plans/{rural}/restore"), &[], None).await?.status, 403);

    // The CLI takes the same terms.
    c.cli_ok(&[
        "billing",
        "plan",
        "add",
        "Cabin 10",
        "--price",
        "20.00",
        "--down-kbps",
        "10000",
        "--up-kbps",
        "2000",
        "--data-cap-gb",
        "200",
        "--setup-fee",
        "15.00",
    ]);
    let page = h.get("/billing/plans").await?.body;
    assert!(page.contains("Cabin 10") && page.contains("200 GB") && page.contains("15.00 USD"), "{page}");

    let (_, audit) = c.get("/api/v1/audit", &c.admin_token()).await?;
    let audit = audit.to_string();
    for action in ["tax.add", "plan.add", "plan.change", "plan.archive", "plan.delete"] {
        assert!(audit.contains(action), "{action} audited");
    }
    Ok(())
}
