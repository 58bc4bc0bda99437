//! A customer's service from the browser's forms, on SQLite and
//! PostgreSQL: open the billing account, subscribe, preview a plan change
//! (the prorated amounts from the pure core) and make it, cancel on a date,
//! a seasonal hold, a one-time charge and a discount; each bad field answered next to
//! it in its own form; the customer page shows the plan, its speeds and the
//! next invoice date; every change audited.

use mast_tests::*;

on_both_backends!(service_from_the_browser);

async fn service_from_the_browser(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    c.cli_ok(&["billing", "plan", "add", "Home 25", "--price", "31.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    c.cli_ok(&["billing", "plan", "add", "Pro 100", "--price", "62.00", "--down-kbps", "100000", "--up-kbps", "20000"]);
    let id = c.cli_ok(&["customer", "add", "--name", "Sam Service", "--email", "sam@example.org"]).trim().to_string();
    let pw = c.add_user("books@wisp.test", "billing");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("books@wisp.test", &pw).await?.status, 303);
    let base = format!("/customers/{id}/service");
    let bad = async |s: &mut WebSession, path: &str, form: &[(&str, &str)], error_id: &str| -> anyhow::Result<()> {
        s.get(&base).await?;
        let r = s.post(path, form, None).await?;
        assert_eq!(r.status, 400, "{path} {form:?}");
        assert!(r.body.contains(error_id), "{error_id} next to its field: {}", r.body);
        Ok(())
    };
    let ok = async |s: &mut WebSession, path: &str, form: &[(&str, &str)]| -> anyhow::Result<()> {
        s.get(&base).await?;
        let r = s.post(path, form, None).await?;
        assert_eq!(r.status, 303, "{path} {form:?}: {}", r.body);
        Ok(())
    };

    // The billing account.
    assert!(s.get(&base).await?.body.contains("No billing account yet."));
    let account = format!("{base}/account");
    bad(&mut s, &account, &[("billing_day", "40"), ("currency", "USD")], "account-billing_day-error").await?;
    ok(&mut s, &account, &[("billing_day", "1"), ("currency", "USD")]).await?;

    // Subscribe.
    let page = s.get(&base).await?.body;
    let plan_id = |name: &str| -> String {
        page.split("<option value=\"")
            .skip(1)
            .find(|o| o.contains(&format!(">{name} ·")))
            .and_then(|o| o.split('"').next())
            .unwrap_or_else(|| panic!("{name} offered"))
            .to_string()
    };
    let (home, pro) = (plan_id("Home 25"), plan_id("Pro 100"));
    let subscribe = format!("{base}/subscribe");
    bad(&mut s, &subscribe, &[("plan", ""), ("start", "2026-11-01")], "subscribe-plan-error").await?;
    bad(&mut s, &subscribe, &[("plan", &home), ("start", "2026-11-31")], "subscribe-start-error").await?;
    ok(&mut s, &subscribe, &[("plan", &home), ("start", "2026-11-01")]).await?;
    let page = s.get(&base).await?.body;
    let sub = page
        .split(&format!("{base}/"))
        .skip(1)
        .filter_map(|r| r.split('/').next())
        .find(|s| s.parse::<i64>().is_ok())
        .expect("a subscription")
        .to_string();
    let customer = s.get(&format!("/customers/{id}")).await?.body;
    assert!(
        customer.contains("Home 25</strong> · 25 ↓ / 5 ↑ Mbit/s") && customer.contains("Next invoice: "),
        "{customer}"
    );

    // Change plan: previewed (January 2027, 31 days: 15 on Home, 16 on
    // Pro), nothing written until confirmed.
    let change = format!("{base}/{sub}/change");
    s.get(&change).await?;
    let preview = [("plan", pro.as_str()), ("on", "2027-01-16"), ("action", "preview")];
    let r = s.post(&change, &preview, None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    for shown in ["change-preview", "31.00 USD", "15 of 31", "16 of 31", "15.00 USD", "32.00 USD", "47.00 USD"] {
        assert!(r.body.contains(shown), "{shown}: {}", r.body);
    }
    assert!(!s.get(&base).await?.body.contains("then Pro 100"), "a preview writes nothing");
    s.get(&change).await?;
    let r = s.post(&change, &[("plan", pro.as_str()), ("on", "2026-10-01"), ("action", "preview")], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("change-on-error"), "{}", r.body);
    s.get(&change).await?;
    let save = [("plan", pro.as_str()), ("on", "2027-01-16"), ("action", "save")];
    assert_eq!(s.post(&change, &save, None).await?.status, 303);
    assert!(s.get(&base).await?.body.contains("then Pro 100 from 2027-01-16"));
    // A change already in effect is the plan the customer page shows.
    s.get(&change).await?;
    let earlier = [("plan", pro.as_str()), ("on", "2026-11-15"), ("action", "save")];
    assert_eq!(s.post(&change, &earlier, None).await?.status, 303);
    let customer = s.get(&format!("/customers/{id}")).await?.body;
    assert!(customer.contains("Pro 100</strong> · 100 ↓ / 20 ↑ Mbit/s"), "{customer}");

    // Cancel, hold, charge.
    let cancel = format!("{base}/{sub}/cancel");
    bad(&mut s, &cancel, &[("on", "")], &format!("cancel-{sub}-on-error")).await?;
    ok(&mut s, &cancel, &[("on", "2027-06-01")]).await?;
    let hold = format!("{base}/hold");
    let seasonal = |from: &'static str, to: &'static str| {
        vec![("subscription", ""), ("from", from), ("to", to), ("kind", "seasonal")]
    };
    bad(&mut s, &hold, &seasonal("2027-02-01", "2027-01-01"), "hold-to-error").await?;
    ok(&mut s, &hold, &seasonal("2027-02-01", "2027-03-01")).await?;
    let charge = format!("{base}/charge");
    let router = |amount: &'static str| {
        vec![("description", "Router"), ("amount", amount), ("date", "2026-12-05"), ("kind", "equipment")]
    };
    bad(&mut s, &charge, &router("lots"), "charge-amount-error").await?;
    ok(&mut s, &charge, &router("49.00")).await?;
    let page = s.get(&base).await?.body;
    assert!(page.contains("2027-06-01"), "cancelled on: {page}");

    let db = c.db().await?;
    let cid: i64 = id.parse()?;
    let holds: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT start_date, end_date, kind FROM holds WHERE customer_id = $1")
            .bind(cid)
            .fetch_all(&db.pool)
            .await?;
    assert_eq!(holds, vec![("2027-02-01".to_string(), Some("2027-03-01".to_string()), "seasonal".to_string())]);
    let charges: Vec<(String, i64)> =
        sqlx::query_as("SELECT description, amount_minor FROM charges WHERE customer_id = $1")
            .bind(cid)
            .fetch_all(&db.pool)
            .await?;
    assert_eq!(charges, vec![("Router".to_string(), 4900)]);

    // A discount: a bad percentage answered next to the value, then listed and stored.
    let discount = format!("{base}/discount");
    let loyalty = |value: &'static str| {
        vec![("description", "Loyalty"), ("kind", "percent"), ("value", value), ("from", "2027-01-01"), ("to", "")]
    };
    bad(&mut s, &discount, &loyalty("150"), "discount-value-error").await?;
    ok(&mut s, &discount, &loyalty("12.5")).await?;
    assert!(s.get(&base).await?.body.contains("Loyalty · 12.50 % · from 2027-01-01"));
    let stored: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT description, percent_bp FROM discounts WHERE customer_id = $1")
            .bind(cid)
            .fetch_all(&db.pool)
            .await?;
    assert_eq!(stored, vec![("Loyalty".to_string(), Some(1250))]);

    // Support sees the service, cannot change it.
    let spw = c.add_user("help@wisp.test", "support");
    let mut h = WebSession::new(&c);
    h.login("help@wisp.test", &spw).await?;
    let page = h.get(&base).await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Home 25") && !page.body.contains("subscribe-now"));
    assert_eq!(h.post(&charge, &router("1.00"), None).await?.status, 403);

    let (_, audit) = c.get("/api/v1/audit", &c.admin_token()).await?;
    let audit = audit.to_string();
    for action in [
        "billing.account",
        "billing.subscribe",
        "billing.change_plan",
        "billing.cancel",
        "billing.hold",
        "billing.charge",
        "billing.discount",
    ] {
        assert!(audit.contains(action), "{action} audited");
    }
    Ok(())
}

on_both_backends!(runs_and_bank_statements_from_the_browser);

/// The invoice run and a bank statement from the browser: a preview writes
/// nothing, the run issues, a second run issues nothing; a statement is
/// checked (nothing written), imported, and imported again without paying
/// twice; a statement with a bad line is refused whole, the line named.
async fn runs_and_bank_statements_from_the_browser(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    c.cli_ok(&["billing", "plan", "add", "Home 25", "--price", "45.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    let id = c.cli_ok(&["customer", "add", "--name", "Rae Run", "--email", "rae@example.org"]).trim().to_string();
    c.cli_ok(&["billing", "account", "set", &id, "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &id, "Home 25", "--start", "2026-11-01"]);
    let pw = c.add_user("books@wisp.test", "billing");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("books@wisp.test", &pw).await?.status, 303);
    let db = c.db().await?;
    let invoices = async || -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT CAST(COUNT(*) AS BIGINT) FROM invoices").fetch_one(&db.pool).await?)
    };

    s.get("/billing/runs").await?;
    let r = s.post("/billing/runs", &[("date", "2026-13-01"), ("action", "preview")], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("run-date-error"), "{}", r.body);
    s.get("/billing/runs").await?;
    let r = s.post("/billing/runs", &[("date", "2026-12-01"), ("action", "preview")], None).await?;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("nothing written") && r.body.contains(r#"<span id="run-issued">1</span>"#), "{}", r.body);
    assert!(r.body.contains("45.00 USD"), "{}", r.body);
    assert_eq!(invoices().await?, 0, "a preview writes nothing");
    // The run goes on in the background; its page follows it to the end.
    let run = async |s: &mut WebSession| -> anyhow::Result<String> {
        s.get("/billing/runs").await?;
        let r = s.post("/billing/runs", &[("date", "2026-12-01"), ("action", "run")], None).await?;
        assert_eq!(r.status, 303, "{}", r.body);
        let page = r.headers.get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_string();
        assert!(page.starts_with("/billing/runs/"), "{page}");
        for _ in 0..100 {
            let status = s.get(&format!("{page}/status")).await?;
            assert_eq!(status.status, 200);
            if !status.body.contains("hx-trigger") {
                assert!(s.get(&page).await?.body.contains("run-result"), "the page shows the result once done");
                return Ok(status.body);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("the run did not finish")
    };
    let body = run(&mut s).await?;
    assert!(body.contains(r#"<span id="run-issued">1</span>"#) && body.contains("INV-2026-000001"), "{body}");
    let body = run(&mut s).await?;
    assert!(body.contains(r#"<span id="run-issued">0</span>"#), "a second run issues nothing: {body}");
    assert_eq!(invoices().await?, 1);
    let list = s.get("/billing/runs").await?.body;
    assert_eq!(list.matches("/billing/runs/").count(), 2, "both runs listed: {list}");

    // The bank statement, matched by the payment reference.
    let reference: String = sqlx::query_scalar("SELECT payment_reference FROM billing_accounts WHERE customer_id = $1")
        .bind(id.parse::<i64>()?)
        .fetch_one(&db.pool)
        .await?;
    let good = format!(
        "Date,Amount,Reference,Payer\n2026-12-03,45.00,Invoice {reference},Rae Run\n2026-12-03,-9.99,Bank fee,\n2026-12-04,10.00,no reference,Someone\n"
    );
    let payments = async || -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT CAST(COUNT(*) AS BIGINT) FROM payments").fetch_one(&db.pool).await?)
    };
    s.get("/billing/bank").await?;
    let r = s
        .post_file("/billing/bank", &[("dry_run", "on")], ("statement", "s.csv", "text/csv", good.clone().into_bytes()))
        .await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("nothing written") && r.body.contains(r#"<span id="bank-imported">1</span>"#),
        "{}",
        r.body
    );
    assert!(r.body.contains("no reference"), "the unmatched line is listed: {}", r.body);
    assert_eq!(payments().await?, 0, "a check writes nothing");
    s.get("/billing/bank").await?;
    let r = s.post_file("/billing/bank", &[], ("statement", "s.csv", "text/csv", good.clone().into_bytes())).await?;
    assert!(r.body.contains(r#"<span id="bank-imported">1</span>"#), "{}", r.body);
    s.get("/billing/bank").await?;
    let r = s.post_file("/billing/bank", &[], ("statement", "s.csv", "text/csv", good.into_bytes())).await?;
    assert!(r.body.contains(r#"<span id="bank-imported">0</span>"#), "imported twice, paid once: {}", r.body);
    assert_eq!(payments().await?, 1);
    let bad = format!("Date,Amount,Reference\n2026-12-05,45.00,{reference}\n2026-12-05,forty,{reference}\n");
    s.get("/billing/bank").await?;
    let r = s.post_file("/billing/bank", &[], ("statement", "b.csv", "text/csv", bad.into_bytes())).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("forty") && r.body.contains("nothing was recorded"), "{}", r.body);
    assert_eq!(payments().await?, 1, "all or nothing");
    s.get("/billing/bank").await?;
    let r = s.post_file("/billing/bank", &[], ("statement", "e.csv", "text/csv", Vec::new())).await?;
    assert!(r.status == 400 && r.body.contains("bank-statement-error"), "{}", r.body);
    Ok(())
}

on_both_backends!(billing_day_and_currency_change_from_the_browser);

/// A billing-day change of an invoiced account from the browser: the
/// preview shows the prorated bridge invoice and writes nothing, saving
/// issues it, the run on the new day before it bills nothing, the next
/// invoice date follows; a currency change with a plan still billed in the
/// old currency is answered next to the field.
async fn billing_day_and_currency_change_from_the_browser(backend: Backend) -> anyhow::Result<()> {
    use jiff::ToSpan;
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    c.cli_ok(&["billing", "plan", "add", "Home 25", "--price", "31.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    let id = c.cli_ok(&["customer", "add", "--name", "Dee Day", "--email", "dee@example.org"]).trim().to_string();
    c.cli_ok(&["billing", "account", "set", &id, "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &id, "Home 25", "--start", "2026-01-01"]);
    // The pages count from today (UTC): bill this month, billed until the 1st of the next.
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let first = today.first_of_month();
    let next = first.checked_add(1.month())?;
    c.cli_ok(&["billing", "run", "--date", &first.to_string()]);
    let pw = c.add_user("books@wisp.test", "billing");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("books@wisp.test", &pw).await?.status, 303);
    let db = c.db().await?;
    let invoices = async || -> anyhow::Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as("SELECT period_start, period_end, total_minor FROM invoices ORDER BY period_start")
            .fetch_all(&db.pool)
            .await?)
    };
    let change = format!("/customers/{id}/service/account/change");
    assert!(s.get(&format!("/customers/{id}/service")).await?.body.contains(&change), "linked from the service page");

    s.get(&change).await?;
    let r = s.post(&change, &[("billing_day", "29"), ("currency", "USD"), ("action", "preview")], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("account-change-billing_day-error"), "{}", r.body);
    s.get(&change).await?;
    let r = s.post(&change, &[("billing_day", "15"), ("currency", "USD"), ("action", "preview")], None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    // 14 days (the 1st to the 14th of next month) of the month from the 15th of this one.
    let basis = (next.with().day(15).build()? - first.with().day(15).build()?).get_days();
    let exact = 3100.0 * 14.0 / f64::from(basis);
    let bridge_total = |minor: i64| format!("{}.{:02} USD", minor / 100, minor % 100);
    let shown = [exact.floor() as i64, exact.ceil() as i64];
    assert!(shown.iter().any(|m| r.body.contains(&bridge_total(*m))), "the bridge total ~{exact}: {}", r.body);
    assert!(r.body.contains(&next.with().day(15).build()?.to_string()), "the first run on the new day");
    assert_eq!(invoices().await?.len(), 1, "a preview writes nothing");

    s.get(&change).await?;
    let r = s.post(&change, &[("billing_day", "15"), ("currency", "USD"), ("action", "save")], None).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let all = invoices().await?;
    assert_eq!(all.len(), 2);
    let until = next.with().day(15).build()?;
    assert_eq!((all[1].0.as_str(), all[1].1.as_str()), (next.to_string().as_str(), until.to_string().as_str()));
    assert!(shown.contains(&all[1].2), "{all:?}");
    // The run on the new day this month bills nothing: those days are billed.
    let v: serde_json::Value = serde_json::from_str(&c.cli_ok(&[
        "billing",
        "run",
        "--date",
        &first.with().day(15).build()?.to_string(),
        "--json",
    ]))?;
    assert_eq!((v["invoices_issued"].as_u64(), v["already_issued"].as_u64()), (Some(0), Some(1)), "{v}");
    let page = s.get(&format!("/customers/{id}/service")).await?.body;
    assert!(page.contains(&until.to_string()), "next invoice on the first new billing day: {page}");

    // A currency change while the USD plan is still billed: next to the field.
    s.get(&change).await?;
    let r = s.post(&change, &[("billing_day", "15"), ("currency", "EUR"), ("action", "preview")], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("account-change-currency-error") && r.body.contains("Home 25"), "{}", r.body);
    let (_, audit) = c.get("/api/v1/audit", &c.admin_token()).await?;
    assert!(audit.to_string().contains("billing day 15, USD, bridge"), "audited: {audit}");
    assert_eq!(mast_store::billing::store::invoice_tallies_drift(&db).await?, Vec::<String>::new());
    Ok(())
}
