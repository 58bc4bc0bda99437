//! Billing end to end with the real binary, on SQLite and PostgreSQL:
//! `demo-data`, `billing run --json` (idempotent), manual payments and the
//! balance; and `billing run` SIGKILLed at seeded random moments: after every
//! kill and after the final run, each customer has at most (finally: exactly)
//! one invoice for the period, numbers per series and year are exactly 1..N
//! (no gap, no duplicate) and agree with the counter, and ledger debits match
//! invoices one to one, amount for amount.
//!
//! `MAST_BILLING_CRASH_CUSTOMERS` (default 3,000) and `MAST_BILLING_KILLS`
//! (default 12) size the crash test.

use mast_controller::db::Db;
use mast_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sqlx::Row;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

on_both_backends!(demo_data_then_an_idempotent_run);
on_both_backends!(sigkilled_runs_leave_no_gap_and_no_duplicate);
on_both_backends!(sigterm_stops_a_run_at_a_batch_boundary);

const DATE: &str = "2026-12-01";

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn db_url(c: &Controller) -> String {
    c.env
        .iter()
        .find(|(k, _)| k == "MAST_DATABASE_URL")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| format!("sqlite://{}", c.data_dir().join("mast.db").display()))
}

async fn scalar(db: &Db, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(&db.pool).await?.try_get(0)?)
}

/// The invariants that must hold whenever no run is in progress; returns
/// the number of invoices for the period.
async fn check(db: &Db) -> anyhow::Result<i64> {
    let rows = sqlx::query("SELECT series, year, seq, number FROM invoices ORDER BY series, year, seq")
        .fetch_all(&db.pool)
        .await?;
    let mut per: std::collections::BTreeMap<(String, i64), Vec<i64>> = Default::default();
    for r in &rows {
        let (series, year, seq, number): (String, i64, i64, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        anyhow::ensure!(number == format!("{series}-{year:04}-{seq:06}"), "number {number} vs {series}/{year}/{seq}");
        per.entry((series, year)).or_default().push(seq);
    }
    for ((series, year), seqs) in &per {
        let want: Vec<i64> = (1..=seqs.len() as i64).collect();
        anyhow::ensure!(*seqs == want, "{series}-{year}: numbers are not 1..{} without gaps: {seqs:?}", seqs.len());
        let last: i64 = sqlx::query("SELECT last FROM invoice_counters WHERE series = $1 AND year = $2")
            .bind(series)
            .bind(year)
            .fetch_one(&db.pool)
            .await?
            .try_get(0)?;
        anyhow::ensure!(last == seqs.len() as i64, "{series}-{year}: counter {last}, {} invoices", seqs.len());
    }
    let dup = scalar(
        db,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT customer_id FROM invoices WHERE period_start = '2026-12-01' \
         GROUP BY customer_id HAVING COUNT(*) > 1) x",
    )
    .await?;
    anyhow::ensure!(dup == 0, "{dup} customers have two invoices for the period");
    let invoices = scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM invoices").await?;
    let debits = scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM ledger WHERE kind = 'invoice'").await?;
    let matched = scalar(
        db,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM invoices i JOIN ledger l ON l.invoice_id = i.id AND l.kind = 'invoice' \
         AND l.amount_minor = i.total_minor AND l.customer_id = i.customer_id",
    )
    .await?;
    anyhow::ensure!(
        invoices == debits && debits == matched,
        "{invoices} invoices, {debits} ledger debits, {matched} matching"
    );
    let lineless = scalar(
        db,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM invoices i WHERE NOT EXISTS \
         (SELECT 1 FROM invoice_lines l WHERE l.invoice_id = i.id)",
    )
    .await?;
    anyhow::ensure!(lineless == 0, "{lineless} invoices without lines");
    scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM invoices WHERE period_start = '2026-12-01'").await
}

async fn demo_data_then_an_idempotent_run(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let d = json(&c.cli_ok(&["demo-data", "--customers", "300", "--as-of", "2026-11-20", "--seed", "3", "--json"]));
    assert_eq!(d["customers"], 300);
    let again = c.cli(&["demo-data", "--customers", "300"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let preview = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--preview", "--json"]));
    let first = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--json"]));
    let issued = first["invoices_issued"].as_u64().unwrap();
    assert!(issued > 0, "{first}");
    assert_eq!(first["errors"], serde_json::json!([]));
    assert_eq!(first["currency"], "USD");
    assert!(first["elapsed_ms"].is_u64());
    for k in ["customers_due", "invoices_issued", "total_minor", "empty"] {
        assert_eq!(preview[k], first[k], "{k}: preview {preview} vs run {first}");
    }
    let second = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--json"]));
    assert_eq!((second["invoices_issued"].as_u64(), second["already_issued"].as_u64()), (Some(0), Some(issued)));
    assert_eq!(second["total_minor"], 0);
    let line = c.cli_ok(&["billing", "run", "--date", DATE]);
    assert!(line.starts_with("Issued 0 invoices for 2026-12-01 ("), "{line}");

    // The invoices are listed; paying one brings its customer's balance down by that much.
    let list = json(&c.cli_ok(&["billing", "invoices", "--period-start", DATE, "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len() as u64, issued);
    let inv = &list[0];
    assert_eq!(inv["number"], "INV-2026-000001");
    let customer = inv["customer_id"].as_i64().unwrap().to_string();
    let total = inv["total_minor"].as_i64().unwrap();
    let before = json(&c.cli_ok(&["billing", "balance", &customer, "--json"]))["balance_minor"].as_i64().unwrap();
    let amount = format!("{}.{:02}", total / 100, total % 100);
    c.cli_ok(&["billing", "payment", &customer, &amount, "--method", "check", "--reference", "1042"]);
    let after = json(&c.cli_ok(&["billing", "balance", &customer, "--json"]))["balance_minor"].as_i64().unwrap();
    assert_eq!(after, before - total);
    let bad = c.cli(&["billing", "payment", &customer, "1.234", "--method", "cash"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("too many decimals"));

    let db = Db::connect(&db_url(&c)).await?;
    assert_eq!(check(&db).await?, issued as i64);
    Ok(())
}

async fn sigkilled_runs_leave_no_gap_and_no_duplicate(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let customers: u32 =
        std::env::var("MAST_BILLING_CRASH_CUSTOMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let kills: usize = std::env::var("MAST_BILLING_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let n = customers.to_string();
    c.cli_ok(&["demo-data", "--customers", &n, "--billing-day", "1", "--as-of", "2026-11-20", "--seed", "11"]);
    let t = Instant::now();
    let preview = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--preview", "--json"]));
    // Process start, load and compute; storing takes about as long again.
    let span_ms = (t.elapsed().as_millis() as u64 * 3).max(300);
    let expected = preview["invoices_issued"].as_i64().unwrap();
    assert!(expected > customers as i64 * 8 / 10, "{preview}");

    let db = Db::connect(&db_url(&c)).await?;
    let mut rng = StdRng::seed_from_u64(0xB111_0007);
    let mut mid_run = 0;
    let mut issued = 0;
    for k in 0..kills {
        if issued == expected {
            break;
        }
        let mut child = Command::new(controller_bin())
            .args(["billing", "run", "--date", DATE, "--json", "--batch-size", "100"])
            .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // The first kills come very early (connecting, migrating, loading),
        // the last one at a random moment of a run, the others once the run
        // has stored a random number of invoices, plus a random delay (so
        // inside a batch).
        let when = match k {
            0 => format!("at {} ms", 0),
            1 => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                "at 5 ms".to_string()
            }
            2 => {
                tokio::time::sleep(Duration::from_millis(25)).await;
                "at 25 ms".to_string()
            }
            k if k + 1 == kills => {
                let ms = rng.random_range(0..span_ms);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                format!("at {ms} ms")
            }
            _ => {
                let target = issued + rng.random_range(1..=((expected - issued) / 3).max(1));
                let extra = rng.random_range(0..5);
                let deadline = Instant::now() + Duration::from_secs(60);
                while scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM invoices").await? < target
                    && child.try_wait()?.is_none()
                    && Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(Duration::from_millis(extra)).await;
                format!("{extra} ms after {target} invoices")
            }
        };
        let exited = child.try_wait()?.is_some();
        child.kill()?;
        child.wait()?;
        let before = issued;
        issued = check(&db).await.map_err(|e| anyhow::anyhow!("after the kill {when}: {e}"))?;
        assert!(issued >= before && issued <= expected);
        if !exited && issued > before && issued < expected {
            mid_run += 1;
        }
        eprintln!(
            "{backend:?} kill {k} {when}: {issued}/{expected} invoices{}",
            if exited { " (had exited)" } else { "" }
        );
    }
    assert!(mid_run >= 3, "only {mid_run} kills landed in the middle of a run");

    let last = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--json"]));
    assert_eq!(last["errors"], serde_json::json!([]));
    assert_eq!(last["invoices_issued"].as_i64().unwrap(), expected - issued);
    assert_eq!(last["already_issued"].as_i64().unwrap(), issued);
    assert_eq!(check(&db).await?, expected);
    // Every due customer with something to bill has exactly one invoice, and
    // the money is what the preview computed.
    let customers_invoiced = scalar(
        &db,
        "SELECT CAST(COUNT(DISTINCT customer_id) AS BIGINT) FROM invoices WHERE period_start = '2026-12-01'",
    )
    .await?;
    assert_eq!(customers_invoiced, expected);
    let total =
        scalar(&db, "SELECT CAST(SUM(total_minor) AS BIGINT) FROM invoices WHERE period_start = '2026-12-01'").await?;
    assert_eq!(total, preview["total_minor"].as_i64().unwrap());
    let again = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--json"]));
    assert_eq!(again["invoices_issued"], 0);
    Ok(())
}

/// SIGTERM (or Ctrl-C) during `billing run`: the run stops at the next batch
/// boundary with a clear message and a non-zero exit, every stored batch is
/// whole (the invariants hold), and running again completes the period.
async fn sigterm_stops_a_run_at_a_batch_boundary(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    c.cli_ok(&["demo-data", "--customers", "2000", "--as-of", "2026-11-20", "--seed", "11", "--billing-day", "1"]);
    let preview = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--preview", "--json"]));
    let expected = preview["invoices_issued"].as_i64().unwrap();
    let db = Db::connect(&db_url(&c)).await?;
    let mut stopped_mid_run = 0;
    let mut issued = 0;
    for attempt in 0..6 {
        if issued == expected {
            break;
        }
        let child = Command::new(controller_bin())
            .args(["billing", "run", "--date", DATE, "--json", "--batch-size", "10"])
            .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Signal once the run has stored some invoices (a few batches in).
        let target = issued + 30;
        let deadline = Instant::now() + Duration::from_secs(60);
        while scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM invoices").await? < target && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let out = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let before = issued;
        issued = check(&db).await.map_err(|e| anyhow::anyhow!("after SIGTERM {attempt}: {e}"))?;
        assert!(issued >= before && issued <= expected);
        if out.status.success() {
            assert_eq!(issued, expected, "a run that exits 0 has invoiced everyone: {stderr}");
        } else {
            assert!(stderr.contains("stopped by a signal at a batch boundary"), "{stderr}");
            let v = json(&String::from_utf8_lossy(&out.stdout));
            assert_eq!(v["stopped"], true, "{v}");
            assert_eq!((issued - before) % 10, 0, "whole batches of 10 only: {} invoices stored", issued - before);
            if issued < expected {
                stopped_mid_run += 1;
            }
        }
        eprintln!("{backend:?} SIGTERM {attempt}: {issued}/{expected} invoices, exit {}", out.status);
    }
    assert!(stopped_mid_run >= 2, "only {stopped_mid_run} SIGTERMs stopped a run in the middle");
    let last = json(&c.cli_ok(&["billing", "run", "--date", DATE, "--json"]));
    assert_eq!(last["invoices_issued"].as_i64().unwrap(), expected - issued);
    assert_eq!(check(&db).await?, expected);
    Ok(())
}
