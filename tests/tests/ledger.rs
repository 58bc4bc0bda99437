//! Invoices and payments in the billing office, from the browser's forms,
//! on SQLite and PostgreSQL: payments allocated oldest first or to a chosen
//! invoice (partly paid / paid), the lists with filters and totals, a
//! credit note per line with its tax and its PDF in its own series, a
//! write-off, a void that gives the payment back as credit, a recorded
//! refund, a card refund through the payment provider (the local
//! Stripe-compatible server), every refusal next to its field, the report
//! and the portal showing it all, and the audit log.

use mast_tests::mail::SmtpSink;
use mast_tests::stripe_server::StripeServer;
use mast_tests::*;
use serde_json::Value;

on_both_backends!(invoices_payments_credit_notes_refunds);

fn balance(c: &Controller, id: &str) -> anyhow::Result<i64> {
    let v: Value = serde_json::from_str(&c.cli_ok(&["billing", "balance", id, "--json"]))?;
    v["balance_minor"].as_i64().ok_or_else(|| anyhow::anyhow!("no balance in {v}"))
}

async fn invoices_payments_credit_notes_refunds(backend: Backend) -> anyhow::Result<()> {
    let stripe = StripeServer::start().await;
    let sink = SmtpSink::start();
    let smtp_port = sink.port.to_string();
    let env = [
        ("MAST_SMTP_HOST", "127.0.0.1"),
        ("MAST_SMTP_PORT", smtp_port.as_str()),
        ("MAST_SMTP_SECURITY", "none"),
        ("MAST_NOTIFY_INTERVAL_SECS", "1"),
        ("MAST_STRIPE_SECRET_KEY", stripe.api_key.as_str()),
        ("MAST_STRIPE_API_BASE", stripe.base_url.as_str()),
        ("MAST_STRIPE_WEBHOOK_SECRET", stripe.webhook_secret.as_str()),
    ];
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    c.cli_ok(&["billing", "tax-class", "add", "Service", "--component", "State:10"]);
    c.cli_ok(&[
        "billing",
        "plan",
        "add",
        "Home 25",
        "--price",
        "45.00",
        "--down-kbps",
        "25000",
        "--up-kbps",
        "5000",
        "--tax-class",
        "Service",
    ]);
    let new_customer = |name: &str| -> anyhow::Result<String> {
        let id = c.cli_ok(&["customer", "add", "--name", name, "--email", &format!("{name}@example.org")]);
        let id = id.trim().to_string();
        c.cli_ok(&["billing", "account", "set", &id, "--billing-day", "1"]);
        c.cli_ok(&["billing", "subscribe", &id, "Home 25", "--start", "2026-11-01"]);
        Ok(id)
    };
    let ann = new_customer("ann")?;
    let bob = new_customer("bob")?;
    for d in ["2026-11-01", "2026-12-01"] {
        c.cli_ok(&["billing", "run", "--date", d]);
    }
    let db = c.db().await?;
    let invoice_of = async |customer: &str, start: &str| -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT id FROM invoices WHERE customer_id = $1 AND period_start = $2")
            .bind(customer.parse::<i64>()?)
            .bind(start)
            .fetch_one(&db.pool)
            .await?)
    };
    let (nov, dec) = (invoice_of(&ann, "2026-11-01").await?, invoice_of(&ann, "2026-12-01").await?);
    let pw = c.add_user("books@wisp.test", "billing");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("books@wisp.test", &pw).await?.status, 303);
    let status_of = async |s: &mut WebSession, id: i64| -> anyhow::Result<String> {
        let body = s.get(&format!("/invoices/{id}")).await?.body;
        let status =
            body.split("id=\"invoice-status\"").nth(1).unwrap_or("").split("</span></span>").next().unwrap_or("");
        let open = body.split("id=\"invoice-open\">").nth(1).unwrap_or("").split('<').next().unwrap_or("");
        let label = status.rsplit('>').next().unwrap_or("");
        Ok(format!("{label} / {open}"))
    };
    assert!(
        status_of(&mut s, nov).await?.starts_with("Open · overdue / 49.50 USD"),
        "{}",
        status_of(&mut s, nov).await?
    );

    // A payment pays the oldest invoice first: partly paid.
    let pay = |amount: &'static str, apply_to: String| {
        move || {
            vec![
                ("amount".to_string(), amount.to_string()),
                ("method".into(), "cash".into()),
                ("date".into(), "2026-12-02".into()),
                ("apply_to".into(), apply_to.clone()),
            ]
        }
    };
    let post = async |s: &mut WebSession, get: &str, path: &str, form: Vec<(String, String)>| {
        s.get(get).await?;
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s.post(path, &form, None).await
    };
    let customer_page = format!("/customers/{ann}");
    let payments = format!("/customers/{ann}/payments");
    let r = post(&mut s, &customer_page, &payments, pay("20.00", String::new())()).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(status_of(&mut s, nov).await?.contains("Partly paid"), "{}", status_of(&mut s, nov).await?);
    assert!(status_of(&mut s, nov).await?.ends_with("/ 29.50 USD"));
    // The customer page offers the open invoices to pay first.
    let page = s.get(&customer_page).await?.body;
    assert!(page.contains(&format!("<option value=\"{dec}\">")), "{page}");
    // Chosen: December first, the rest to November.
    let r = post(&mut s, &customer_page, &payments, pay("60.00", dec.to_string())()).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status_of(&mut s, dec).await?, "Paid / 0.00 USD");
    assert!(status_of(&mut s, nov).await?.ends_with("/ 19.00 USD"), "{}", status_of(&mut s, nov).await?);
    let p2: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE amount_minor = 6000").fetch_one(&db.pool).await?;
    let paid = s.get(&format!("/payments/{p2}")).await?.body;
    assert!(paid.contains("chosen") && paid.contains("oldest first"), "{paid}");

    // The list: filters and totals.
    let list = s.get("/billing/invoices?status=partly-paid").await?.body;
    assert!(list.contains(&format!("/invoices/{nov}\"")) && !list.contains(&format!("/invoices/{dec}\"")), "{list}");
    assert!(list.contains("<span class=\"count\">1</span>") && list.contains("19.00 USD"), "{list}");
    let list = s.get("/billing/invoices?status=unpaid&overdue=on").await?.body;
    assert!(list.contains("<span class=\"count\">2</span>"), "Ann's and Bob's November (due 15 Nov): {list}");
    let list = s.get(&format!("/billing/invoices?customer={bob}&from=2026-12-01")).await?.body;
    assert!(list.contains("<span class=\"count\">1</span>") && list.contains("bob"), "{list}");
    let r = s.get("/billing/invoices?status=bogus&from=yesterday").await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("inv-status-error") && r.body.contains("inv-from-error"), "{}", r.body);
    let pays = s.get("/billing/payments?method=cash").await?.body;
    assert!(pays.contains("80.00 USD"), "both cash payments summed: {pays}");

    // A credit note for part of November's line, with its tax; too much is refused next to the line.
    let inv_page = format!("/invoices/{nov}");
    let credit = format!("/invoices/{nov}/credit");
    let lines = |amount: &str, reason: &str| {
        vec![
            ("mode".to_string(), "lines".to_string()),
            ("line_0".into(), amount.into()),
            ("reason".into(), reason.into()),
        ]
    };
    let r = post(&mut s, &inv_page, &credit, lines("999.00", "Outage credit")).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("credit-line_0-error") && r.body.contains("999.00"), "kept and explained: {}", r.body);
    let r = post(&mut s, &inv_page, &credit, lines("10.00", "")).await?;
    assert!(r.status == 400 && r.body.contains("credit-reason-error"), "{}", r.body);
    let r = post(&mut s, &inv_page, &credit, lines("10.00", "Outage credit, 6 days")).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(status_of(&mut s, nov).await?.ends_with("/ 8.00 USD"), "11.00 credited: {}", status_of(&mut s, nov).await?);
    let cn: (i64, String, i64) =
        sqlx::query_as("SELECT id, number, total_minor FROM credit_notes WHERE invoice_id = $1")
            .bind(nov)
            .fetch_one(&db.pool)
            .await?;
    let year = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date().year();
    assert_eq!((cn.1.as_str(), cn.2), (format!("CN-{year}-000001").as_str(), 1100));
    let pdf = reqwest::Client::new()
        .get(format!("http://{}/credit-notes/{}/pdf", c.http, cn.0))
        .header("cookie", s_cookie(&mut s).await?)
        .send()
        .await?;
    assert_eq!(pdf.status().as_u16(), 200);
    let text = pdf_text(&pdf.bytes().await?)?;
    for shown in ["CREDIT NOTE", cn.1.as_str(), "Outage credit, 6 days", "11.00 USD"] {
        assert!(text.contains(shown), "{shown} in the PDF: {text}");
    }

    // Write off the rest: more than is open is refused.
    let wo = format!("/invoices/{nov}/write-off");
    let off = |amount: &str| vec![("amount".to_string(), amount.to_string()), ("reason".into(), "Moved away".into())];
    let r = post(&mut s, &inv_page, &wo, off("9.00")).await?;
    assert!(r.status == 400 && r.body.contains("writeoff-amount-error"), "{}", r.body);
    assert_eq!(post(&mut s, &inv_page, &wo, off("8.00")).await?.status, 303);
    assert_eq!(status_of(&mut s, nov).await?, "Written off / 0.00 USD");

    // Void December: its payment goes back to Ann as credit, its number stays used.
    let void = format!("/invoices/{dec}/void");
    let dec_page = format!("/invoices/{dec}");
    let r = post(&mut s, &dec_page, &void, vec![("reason".into(), String::new())]).await?;
    assert!(r.status == 400 && r.body.contains("void-reason-error"), "{}", r.body);
    let r = post(&mut s, &dec_page, &void, vec![("reason".into(), "Billed twice by mistake".into())]).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status_of(&mut s, dec).await?, "Void / 0.00 USD");
    let number: String =
        sqlx::query_scalar("SELECT number FROM invoices WHERE id = $1").bind(dec).fetch_one(&db.pool).await?;
    assert!(s.get(&dec_page).await?.body.contains(&number), "the number stays");
    let paid = s.get(&format!("/payments/{p2}")).await?.body;
    assert!(paid.contains("id=\"payment-unallocated\">49.50 USD"), "{paid}");
    assert_eq!(balance(&c, &ann)?, -4950, "Ann is 49.50 in credit");

    // Refund the credit (cash): too much is refused next to the amount.
    let refund = format!("/payments/{p2}/refund");
    let pay_page = format!("/payments/{p2}");
    let money_back =
        |amount: &str| vec![("amount".to_string(), amount.to_string()), ("reason".into(), "Overpaid".into())];
    let r = post(&mut s, &pay_page, &refund, money_back("60.01")).await?;
    assert!(r.status == 400 && r.body.contains("refund-amount-error"), "{}", r.body);
    assert_eq!(post(&mut s, &pay_page, &refund, money_back("49.50")).await?.status, 303);
    assert_eq!(balance(&c, &ann)?, 0);
    assert!(s.get(&pay_page).await?.body.contains("id=\"payment-refunded\">49.50 USD"));

    // Bob pays by card (autopay), and part of it goes back through the provider.
    c.cli_ok(&["billing", "autopay", &bob, "--payment-method", "pm_card_visa", "--on"]);
    c.cli_ok(&["billing", "autopay-run", "--date", "2026-12-20", "--json"]);
    assert_eq!(balance(&c, &bob)?, 0, "both invoices paid by card");
    let card: i64 = sqlx::query_scalar("SELECT id FROM payments WHERE customer_id = $1 AND method = 'card'")
        .bind(bob.parse::<i64>()?)
        .fetch_one(&db.pool)
        .await?;
    let page = format!("/payments/{card}");
    assert!(s.get(&page).await?.body.contains("through the payment provider"));
    let r = post(&mut s, &page, &format!("/payments/{card}/refund"), money_back("10.00")).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount"], 1000);
    let provider_id: Option<String> =
        sqlx::query_scalar("SELECT provider_refund_id FROM refunds WHERE payment_id = $1")
            .bind(card)
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(provider_id.as_deref(), refunds[0]["id"].as_str());
    assert_eq!(balance(&c, &bob)?, 1000, "the refunded part is owed again");
    let bob_dec = invoice_of(&bob, "2026-12-01").await?;
    assert!(status_of(&mut s, bob_dec).await?.contains("Partly paid"), "{}", status_of(&mut s, bob_dec).await?);

    // The month's report and the portal show it; the audit log has each action.
    let month = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date().strftime("%Y-%m").to_string();
    let report = s.get(&format!("/billing/reports?month={month}")).await?.body;
    for shown in
        ["Credit notes, write-offs and refunds", "credit notes", "60.50 USD", "write-offs", "8.00 USD", "59.50 USD"]
    {
        assert!(report.contains(shown), "{shown}: {report}");
    }
    c.cli_stdin(&["customer", "portal-password", &ann], "correct horse battery staple\n");
    let mut portal = WebSession::new(&c);
    let r = portal.login_at("/portal/login", "ann@example.org", "correct horse battery staple").await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let home = portal.get("/portal").await?.body;
    for shown in ["Written off", "Void", &cn.1, "refunded 49.50 USD"] {
        assert!(home.contains(shown), "{shown} in the portal: {home}");
    }
    assert_eq!(portal.get(&format!("/portal/credit-notes/{}/pdf", cn.0)).await?.status, 200);
    // Ann saves a card on the provider's hosted page (Checkout, setup mode):
    // out, complete, back; the signed completion webhook saves it too (once).
    stripe.set_webhook_url(Some(format!("http://{}/api/v1/billing/stripe/webhook", c.http)));
    portal.get("/portal").await?;
    let r = portal.post("/portal/card", &[], None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let hosted = r
        .body
        .split("id=\"continue-to-provider\" href=\"")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .ok_or_else(|| anyhow::anyhow!("no link to the provider: {}", r.body))?
        .replace("&amp;", "&");
    assert!(hosted.starts_with(&stripe.base_url), "{hosted}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    assert!(http.get(&hosted).send().await?.text().await?.contains("pm_card_amex"));
    let back = http.post(&hosted).form(&[("card", "pm_card_amex")]).send().await?;
    let back = back.headers()["location"].to_str()?.to_string();
    let path = back.trim_start_matches(&format!("http://{}", c.http));
    assert!(path.starts_with("/portal/card/done?session_id=cs_test_"), "{back}");
    let done = portal.get(path).await?;
    assert!(done.status == 200 && done.body.contains("amex •••• 8431"), "{}", done.body);
    stripe.wait_for_deliveries(1).await;
    let label: Option<String> =
        sqlx::query_scalar("SELECT payment_method_label FROM billing_accounts WHERE customer_id = $1")
            .bind(ann.parse::<i64>()?)
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(label.as_deref(), Some("amex •••• 8431"));
    // Another customer's session is not Ann's to finish.
    let mut other = WebSession::new(&c);
    c.cli_stdin(&["customer", "portal-password", &bob], "correct horse battery staple\n");
    other.login_at("/portal/login", "bob@example.org", "correct horse battery staple").await?;
    assert_eq!(other.get(path).await?.status, 404);
    // Staff send Bob a card link by email; he saves a card from it.
    let page = format!("/customers/{bob}");
    s.get(&page).await?;
    let r = s.post(&format!("/customers/{bob}/card-link"), &[], None).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let raw = c
        .wait_for("the card link email", std::time::Duration::from_secs(30), async || {
            sink.messages()
                .iter()
                .map(|m| String::from_utf8_lossy(&m.raw).replace("=\r\n", ""))
                .find(|m| m.contains("Subject: Save a card"))
        })
        .await?;
    let link = raw
        .split(&format!("{}/checkout/", stripe.base_url))
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|id| format!("{}/checkout/{id}", stripe.base_url))
        .ok_or_else(|| anyhow::anyhow!("no link in {raw}"))?;
    let back = http.post(&link).form(&[("card", "pm_card_visa")]).send().await?;
    let back = back.headers()["location"].to_str()?.to_string();
    let thanks = reqwest::get(&back).await?.text().await?;
    assert!(thanks.contains("visa •••• 4242"), "{thanks}");

    // Bob cannot open Ann's credit note.
    assert_eq!(other.get(&format!("/portal/credit-notes/{}/pdf", cn.0)).await?.status, 404);
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log").fetch_all(&db.pool).await?;
    for action in ["invoice.credit", "invoice.write-off", "invoice.void", "payment.refund", "payment.record"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited: {actions:?}");
    }

    // The invoice list's totals come from tallies kept by triggers: after all
    // of the above, and after a customer moves to a site, they agree with
    // the invoices, and the list shows the same totals either way.
    use mast_store::billing::store::{InvoiceQuery, invoice_tallies_drift, list_invoices};
    assert_eq!(invoice_tallies_drift(&db).await?, Vec::<String>::new());
    c.cli_ok(&["site", "add", "ridge", "--targets", "10.99.0.1=bh-ridge"]);
    let site: i64 = sqlx::query_scalar("SELECT id FROM sites WHERE name = 'ridge'").fetch_one(&db.pool).await?;
    sqlx::query("UPDATE customers SET site_id = $1 WHERE id = $2")
        .bind(site)
        .bind(ann.parse::<i64>()?)
        .execute(&db.pool)
        .await?;
    assert_eq!(invoice_tallies_drift(&db).await?, Vec::<String>::new(), "after a site move");
    let month = |m: u8| jiff::civil::date(2026, m as i8, 1);
    for q in [
        InvoiceQuery { limit: 10, ..Default::default() },
        InvoiceQuery { site_id: Some(site), limit: 10, ..Default::default() },
        InvoiceQuery { unpaid: true, issued_from: Some(month(12)), limit: 10, ..Default::default() },
    ] {
        let (_, tallied) = list_invoices(&db, &q).await?;
        // The same query from the invoices themselves (a date that is not the 1st).
        let live_q = InvoiceQuery { issued_until: Some(jiff::civil::date(2099, 12, 31)), ..q.clone() };
        let (_, live) = list_invoices(&db, &live_q).await?;
        let t = |v: &[mast_store::billing::store::InvoiceTotals]| {
            v.iter().map(|x| (x.currency.clone(), x.count, x.total_minor, x.open_minor)).collect::<Vec<_>>()
        };
        assert_eq!(t(&tallied), t(&live), "{q:?}");
        assert!(!t(&live).is_empty(), "{q:?} matches something");
    }
    Ok(())
}

async fn s_cookie(s: &mut WebSession) -> anyhow::Result<String> {
    s.get("/billing/invoices").await?;
    s.cookie().ok_or_else(|| anyhow::anyhow!("no session cookie"))
}

fn pdf_text(bytes: &[u8]) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, bytes)?;
    let out = std::process::Command::new("pdftotext").arg(&path).arg("-").output()?;
    anyhow::ensure!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
