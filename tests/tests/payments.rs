//! Payments end to end with real processes: a controller configured with the
//! real Stripe client pointed at the local Stripe-compatible server. Saving
//! a card, autopay charging what is due (once), a declined card retried on
//! schedule, an ACH payment settled by a signed webhook, and a forged
//! webhook refused. Both backends.

use mast_tests::mail::SmtpSink;
use mast_tests::stripe_server::StripeServer;
use mast_tests::*;
use serde_json::Value;

on_both_backends!(autopay_declines_and_webhooks);

fn customer(c: &Controller, name: &str, email: &str) -> anyhow::Result<i64> {
    let id: i64 = c.cli_ok(&["customer", "add", "--name", name, "--email", email]).trim().parse()?;
    c.cli_ok(&["billing", "account", "set", &id.to_string(), "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &id.to_string(), "Home 25", "--start", "2026-11-01"]);
    Ok(id)
}

fn balance(c: &Controller, id: i64) -> anyhow::Result<i64> {
    let v: Value = serde_json::from_str(&c.cli_ok(&["billing", "balance", &id.to_string(), "--json"]))?;
    v["balance_minor"].as_i64().ok_or_else(|| anyhow::anyhow!("no balance in {v}"))
}

async fn autopay_declines_and_webhooks(backend: Backend) -> anyhow::Result<()> {
    let stripe = StripeServer::start().await;
    let sink = SmtpSink::start();
    let smtp_port = sink.port.to_string();
    let env = [
        ("MAST_SMTP_HOST", "127.0.0.1"),
        ("MAST_SMTP_PORT", smtp_port.as_str()),
        ("MAST_SMTP_SECURITY", "none"),
        ("MAST_NOTIFY_INTERVAL_SECS", "1"),
        ("MAST_OPERATOR_NAME", "Ridge Wireless LLC"),
        ("MAST_STRIPE_SECRET_KEY", stripe.api_key.as_str()),
        ("MAST_STRIPE_API_BASE", stripe.base_url.as_str()),
        ("MAST_STRIPE_WEBHOOK_SECRET", stripe.webhook_secret.as_str()),
    ];
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    c.cli_ok(&["billing", "plan", "add", "Home 25", "--price", "45.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    let ada = customer(&c, "Ada Card", "ada@example.org")?;
    let bob = customer(&c, "Bob Declined", "bob@example.org")?;
    let cy = customer(&c, "Cy Bank", "cy@example.org")?;
    let run: Value = serde_json::from_str(&c.cli_ok(&["billing", "run", "--date", "2026-12-01", "--json"]))?;
    assert_eq!(run["invoices_issued"], 3, "{run}");
    // Each invoice is emailed with its PDF through the real SMTP server.
    let mails = sink.wait_for(3, std::time::Duration::from_secs(30));
    for m in &mails {
        let raw = String::from_utf8_lossy(&m.raw);
        assert!(raw.contains("Subject: Invoice INV-2026-00000"), "{raw}");
        assert!(raw.contains("application/pdf") && raw.contains(".pdf"), "the PDF is attached: {raw}");
    }
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["ada@example.org", "bob@example.org", "cy@example.org"]);
    for (id, pm) in [(ada, "pm_card_visa"), (bob, "pm_card_chargeCustomerFail"), (cy, "pm_usBankAccount")] {
        let out = c.cli_ok(&["billing", "autopay", &id.to_string(), "--payment-method", pm, "--on"]);
        assert!(out.contains("autopay on"), "{out}");
    }
    let owed = balance(&c, ada)?;
    assert_eq!(owed, 4500, "one month of Home 25");

    // Nothing is due before the due date; on it, each customer is charged once.
    let early: Value = serde_json::from_str(&c.cli_ok(&["billing", "autopay-run", "--date", "2026-12-02", "--json"]))?;
    assert_eq!(early["results"].as_array().map(Vec::len), Some(0), "{early}");
    let due: Value = serde_json::from_str(&c.cli_ok(&["billing", "autopay-run", "--date", "2026-12-20", "--json"]))?;
    let outcome = |id: i64| {
        due["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["customer_id"] == id)
            .map(|r| r["result"]["outcome"].clone())
    };
    assert_eq!(outcome(ada), Some("paid".into()), "{due}");
    assert_eq!(outcome(bob), Some("declined".into()), "{due}");
    assert_eq!(outcome(cy), Some("processing".into()), "{due}");
    assert_eq!(balance(&c, ada)?, 0, "the card payment is on the ledger");
    assert_eq!(balance(&c, bob)?, 4500);
    assert_eq!(balance(&c, cy)?, 4500, "ACH is not money until it settles");
    // Running again charges nobody twice (the decline waits for its retry day).
    let again: Value = serde_json::from_str(&c.cli_ok(&["billing", "autopay-run", "--date", "2026-12-20", "--json"]))?;
    assert_eq!(again["results"].as_array().map(Vec::len), Some(0), "{again}");
    assert_eq!(stripe.charges().len(), 3, "three charges in all");
    let ada_charge = stripe.charges().into_iter().find(|ch| ch.status == "succeeded").unwrap();
    assert_eq!((ada_charge.amount, ada_charge.currency.as_str()), (4500, "usd"));
    assert!(ada_charge.idempotency_key.as_deref().unwrap_or("").starts_with(&format!("mast-pay-{ada}-")));

    // The bank payment settles: Stripe's signed webhook reaches the controller.
    stripe.set_webhook_url(Some(format!("http://{}/api/v1/billing/stripe/webhook", c.http)));
    let pi = stripe.charges().into_iter().find(|ch| ch.status == "processing").unwrap().payment_intent_id;
    stripe.complete_processing(&pi);
    c.wait_for("the ACH payment recorded", std::time::Duration::from_secs(20), async || {
        (balance(&c, cy).ok()? == 0).then_some(())
    })
    .await?;
    // The same event again (Stripe retries) records nothing more; a forged one is refused.
    let url = format!("http://{}/api/v1/billing/stripe/webhook", c.http);
    let last = stripe.events().last().cloned().unwrap();
    assert_eq!(stripe.send_webhook(&url, &last).await.map_err(anyhow::Error::msg)?, 200);
    assert_eq!(balance(&c, cy)?, 0);
    let forged = serde_json::to_vec(&last)?;
    let status = stripe
        .post_webhook_raw(
            &url,
            forged,
            "t=1700000000,v1=0000000000000000000000000000000000000000000000000000000000000000",
        )
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(status, 400, "a bad signature is refused");
    let pays = c.cli_ok(&["billing", "balance", &cy.to_string(), "--json"]);
    assert!(pays.contains("\"balance_minor\": 0") || pays.contains("\"balance_minor\":0"), "{pays}");
    assert!(!c.log().contains(&stripe.api_key), "the API key never reaches the log");

    // Bob pays by bank transfer instead: the statement has a bad row, so
    // nothing is imported; fixed, his payment is matched by reference, and
    // importing the same statement again books nothing twice.
    let bob_ref = serde_json::from_str::<Value>(&c.cli_ok(&["billing", "balance", &bob.to_string(), "--json"]))?;
    assert_eq!(bob_ref["balance_minor"], 4500);
    let reference = mast_controller::billing::store::payment_reference(bob);
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("Date,Amount,Reference,Payer\n2026-12-21,45.00,{reference},Bob\n2026-12-22,4O.00,oops,Someone\n"),
    )?;
    let out = c.cli(&["billing", "import-bank", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3: amount"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(balance(&c, bob)?, 4500, "nothing half-imported");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!(
            "Date,Amount,Reference,Payer\n12/21/2026,45.00,Internet {reference},Bob\n12/22/2026,12.00,no reference,Zed\n\
             12/23/2026,-5.00,bank fee,\n"
        ),
    )?;
    let rep: Value = serde_json::from_str(&c.cli_ok(&["billing", "import-bank", good.to_str().unwrap(), "--json"]))?;
    assert_eq!((rep["imported"].as_i64(), rep["ignored"].as_i64()), (Some(1), Some(1)), "{rep}");
    assert_eq!(rep["unmatched"][0][0], 3, "{rep}");
    assert_eq!(balance(&c, bob)?, 0);
    let again: Value = serde_json::from_str(&c.cli_ok(&["billing", "import-bank", good.to_str().unwrap(), "--json"]))?;
    assert_eq!((again["imported"].as_i64(), again["duplicates"].as_i64()), (Some(0), Some(1)), "{again}");
    assert_eq!(balance(&c, bob)?, 0);
    Ok(())
}
