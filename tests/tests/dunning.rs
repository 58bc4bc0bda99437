//! Dunning end to end with real processes, both backends: an unpaid invoice
//! gets its reminder, late fee and suspension on the configured business
//! days (weekends and a holiday not counted), each once; the suspended
//! customer appears in the network's lists; paying reactivates them with
//! the reconnection fee. Then the dunning desk in the browser's forms:
//! waive a fee, reactivate on a promise to pay, postpone an invoice.

use mast_tests::*;
use serde_json::Value;

on_both_backends!(reminder_fee_suspension_reactivation);

async fn reminder_fee_suspension_reactivation(backend: Backend) -> anyhow::Result<()> {
    let env = [
        ("MAST_DUNNING_STEPS", "reminder@3, fee@10:5.00, suspend@20"),
        ("MAST_RECONNECTION_FEE", "25.00"),
        ("MAST_SUPPORT_HOLIDAYS", "2026-12-25"),
    ];
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    c.cli_ok(&["billing", "plan", "add", "Home 25", "--price", "45.00", "--down-kbps", "25000", "--up-kbps", "5000"]);
    let id: i64 = c
        .cli_ok(&[
            "customer",
            "add",
            "--name",
            "Late Larry",
            "--email",
            "larry@example.org",
            "--cpe",
            "aa:bb:cc:00:11:22",
        ])
        .trim()
        .parse()?;
    let ids = id.to_string();
    c.cli_ok(&["billing", "account", "set", &ids, "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &ids, "Home 25", "--start", "2026-12-01"]);
    c.cli_ok(&["billing", "run", "--date", "2026-12-01"]); // due 2026-12-15 (a Tuesday)
    let run = |date: &str| -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&c.cli_ok(&["billing", "dunning-run", "--date", date, "--json"]))?)
    };
    let balance = || -> anyhow::Result<i64> {
        let v: Value = serde_json::from_str(&c.cli_ok(&["billing", "balance", &ids, "--json"]))?;
        Ok(v["balance_minor"].as_i64().unwrap_or(-1))
    };
    let status = || -> anyhow::Result<String> {
        let v: Value = serde_json::from_str(&c.cli_ok(&["customer", "list", "--json"]))?;
        Ok(v[0]["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(run("2026-12-17")?["reminders"], 0, "2 business days late: nothing yet");
    assert_eq!(run("2026-12-18")?["reminders"], 1, "3 business days late: the reminder");
    assert_eq!(run("2026-12-18")?["reminders"], 0, "once");
    // 10 business days: 12-29 without the holiday on the 25th, 12-30 with it.
    assert_eq!(run("2026-12-29")?["fees"], 0, "the holiday does not count");
    assert_eq!(run("2026-12-30")?["fees"], 1);
    assert_eq!(balance()?, 5000, "invoice + late fee");
    assert_eq!(run("2027-01-12")?["suspended"], 0);
    assert_eq!(run("2027-01-13")?["suspended"], 1, "20 business days late");
    assert_eq!(status()?, "suspended");
    let csv = c.cli_ok(&["billing", "suspended", "--format", "csv"]);
    let larry = [id.to_string(), "Late Larry".into(), String::new(), "aa:bb:cc:00:11:22".into()];
    assert!(mast_tests::csv_rows(&csv).iter().any(|r| r.len() == 5 && r[..4] == larry), "{csv}");
    let rsc = c.cli_ok(&["billing", "suspended", "--format", "mikrotik"]);
    assert!(rsc.contains("/ip firewall address-list remove [find list=mast-suspended]"), "{rsc}");
    // He pays everything he owes: reactivated, with the reconnection fee.
    c.cli_ok(&["billing", "payment", &ids, "50.00", "--method", "cash", "--date", "2027-01-14"]);
    assert_eq!(run("2027-01-14")?["reactivated"], 1);
    assert_eq!(status()?, "active");
    assert_eq!(balance()?, 2500, "the reconnection fee is owed");
    assert!(!c.cli_ok(&["billing", "suspended", "--format", "csv"]).contains("Late Larry"));
    assert_eq!(run("2027-01-15")?["reactivated"], 0, "once");

    // Reports: December's MRR and revenue, January's payments; no churn.
    let dec: Value = serde_json::from_str(&c.cli_ok(&[
        "billing",
        "report",
        "--month",
        "2026-12",
        "--as-of",
        "2026-12-31",
        "--json",
    ]))?;
    assert_eq!((dec["mrr_minor"].as_i64(), dec["active_subscriptions"].as_i64()), (Some(4500), Some(1)), "{dec}");
    assert_eq!(dec["revenue_by_plan"]["Home 25"], 4500, "{dec}");
    assert_eq!(dec["customers_lost"], 0);
    let jan: Value = serde_json::from_str(&c.cli_ok(&[
        "billing",
        "report",
        "--month",
        "2027-01",
        "--as-of",
        "2027-01-14",
        "--json",
    ]))?;
    assert_eq!(jan["payments_by_method"]["cash"], 5000, "{jan}");
    assert_eq!(jan["aging_minor"][0].as_i64().unwrap() + jan["aging_minor"][1].as_i64().unwrap(), 2500, "{jan}");
    let csv = c.cli_ok(&["billing", "report", "--month", "2026-12", "--as-of", "2026-12-31", "--csv"]);
    let rows = mast_tests::csv_rows(&csv);
    assert!(rows[0] == ["section", "key", "value"] && rows.iter().any(|r| r == &["summary", "mrr", "45.00"]), "{csv}");
    // The dunning desk in the browser's forms: Pat is suspended with a late
    // fee; staff waive the fee, reactivate him on a promise to pay (dunning
    // paused), and postpone his invoice; bad dates are refused next to the field.
    let pat: i64 = c.cli_ok(&["customer", "add", "--name", "Promise Pat"]).trim().parse()?;
    let pats = pat.to_string();
    c.cli_ok(&["billing", "account", "set", &pats, "--billing-day", "1"]);
    c.cli_ok(&["billing", "subscribe", &pats, "Home 25", "--start", "2026-12-01"]);
    c.cli_ok(&["billing", "run", "--date", "2026-12-01"]);
    let pat_run = run("2027-04-01")?;
    assert_eq!((pat_run["fees"].as_i64(), pat_run["suspended"].as_i64()), (Some(1), Some(1)), "{pat_run}");
    let pat_balance = || -> anyhow::Result<i64> {
        let v: Value = serde_json::from_str(&c.cli_ok(&["billing", "balance", &pats, "--json"]))?;
        Ok(v["balance_minor"].as_i64().unwrap_or(-1))
    };
    assert_eq!(pat_balance()?, 5000, "invoice + late fee");
    let pw = c.add_user("books@wisp.test", "billing");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("books@wisp.test", &pw).await?.status, 303);
    let desk = s.get("/billing/dunning").await?.body;
    assert!(desk.contains("Promise Pat") && desk.contains("suspended") && desk.contains("5.00 USD"), "{desk}");
    let db = c.db().await?;
    let fee: i64 = sqlx::query_scalar("SELECT id FROM ledger WHERE customer_id = $1 AND kind = 'late-fee'")
        .bind(pat)
        .fetch_one(&db.pool)
        .await?;
    assert_eq!(s.post(&format!("/billing/dunning/fees/{fee}/waive"), &[], None).await?.status, 303);
    assert_eq!(pat_balance()?, 4500, "the fee is waived");
    s.get("/billing/dunning").await?;
    let r = s.post(&format!("/billing/dunning/fees/{fee}/waive"), &[], None).await?;
    assert!(r.status == 400 && r.body.contains("waived already"), "{}", r.body);
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let later = |days: i64| today.checked_add(jiff::ToSpan::days(days)).unwrap().to_string();
    let reactivate = format!("/billing/dunning/customers/{pat}/reactivate");
    s.get("/billing/dunning").await?;
    let r = s.post(&reactivate, &[("until", "2020-01-01")], None).await?;
    assert!(r.status == 400 && r.body.contains(&format!("reactivate-{pat}-until-error")), "{}", r.body);
    assert_eq!(s.post(&reactivate, &[("until", &later(7))], None).await?.status, 303);
    let pat_status: String =
        sqlx::query_scalar("SELECT status FROM customers WHERE id = $1").bind(pat).fetch_one(&db.pool).await?;
    assert_eq!(pat_status, "active");
    let inv: i64 =
        sqlx::query_scalar("SELECT id FROM invoices WHERE customer_id = $1").bind(pat).fetch_one(&db.pool).await?;
    s.get("/billing/dunning").await?;
    assert_eq!(s.post(&format!("/billing/dunning/{inv}/postpone"), &[("until", &later(10))], None).await?.status, 303);
    let desk = s.get("/billing/dunning").await?.body;
    assert!(desk.contains(&format!("paused until {}", later(10))), "{desk}");
    let log: Vec<String> = sqlx::query_scalar("SELECT action FROM dunning_log WHERE customer_id = $1")
        .bind(pat)
        .fetch_all(&db.pool)
        .await?;
    assert!(log.iter().any(|a| a.starts_with("reactivated by books@wisp.test")), "{log:?}");
    assert!(log.iter().any(|a| a.starts_with("postponed until")), "{log:?}");

    Ok(())
}
