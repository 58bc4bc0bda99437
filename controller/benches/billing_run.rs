//! Invoice run speed: `cargo bench -p mast-controller --bench billing_run`.
//!
//! Loads 10,000 demo customers (`MAST_BENCH_CUSTOMERS`), all on billing day 1
//! with the demo's mix of plans, plan changes, holds, cancellations, charges
//! and discounts, into a fresh SQLite database (or `MAST_BENCH_DATABASE_URL`,
//! e.g. an empty PostgreSQL database), then times the preview, the real run
//! (computed and stored: load + compute + store) and a second run (which must
//! issue nothing), and compares with the manual baseline of the seed
//! article: 200 invoices in 5 minutes (0.667 invoices/s). On SQLite it also
//! runs the same load in a second database without the invoice list's tally
//! triggers (migration 0024), to show what they cost the run.

use mast_controller::billing::demo::{self, DemoOptions};
use mast_controller::billing::run::{RunOptions, RunSummary, run, thousands};
use mast_controller::db::Db;
use std::time::Instant;

const BASELINE_PER_S: f64 = 200.0 / 300.0;

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn parts(s: &RunSummary) -> String {
    let t = s.timings;
    format!("load {:.2} s, compute {:.2} s, store {:.2} s", secs(t.load_ms), secs(t.compute_ms), secs(t.store_ms))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let customers: u32 = std::env::var("MAST_BENCH_CUSTOMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("MAST_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.path().display()));
    let backend = if url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" };
    let db = Db::connect(&url).await?;
    let date = jiff::civil::date(2026, 12, 1);
    let opts =
        DemoOptions { customers, seed: 1, as_of: jiff::civil::date(2026, 11, 20), billing_day: Some(1), force: false };
    let loaded = demo::load(&db, &opts).await?;
    println!(
        "billing run on {backend}: {} demo customers due on 2026-12-01 ({} plan changes, {} holds, {} cancelled, \
         {} charges, {} discounts), loaded in {:.2} s",
        thousands(loaded.customers),
        loaded.plan_changes,
        loaded.holds,
        loaded.cancelled,
        loaded.charges,
        loaded.discounts,
        secs(loaded.elapsed_ms)
    );

    let t = Instant::now();
    let preview = run(&db, date, &RunOptions { preview: true, ..Default::default() }).await?;
    let preview_s = t.elapsed().as_secs_f64();
    println!(
        "  preview: {} invoices computed in {preview_s:.2} s ({}), nothing written",
        thousands(preview.invoices_issued),
        parts(&preview)
    );

    let t = Instant::now();
    let real = run(&db, date, &RunOptions::default()).await?;
    let run_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(real.errors.is_empty(), "errors: {:?}", real.errors);
    anyhow::ensure!(real.invoices_issued == preview.invoices_issued, "the run and its preview disagree");
    let per_s = real.invoices_issued as f64 / run_s;
    println!(
        "  run:     {} invoices computed and stored in {run_s:.2} s ({}), {} empty, {} .. {}",
        thousands(real.invoices_issued),
        parts(&real),
        real.empty,
        real.first_number.as_deref().unwrap_or("-"),
        real.last_number.as_deref().unwrap_or("-")
    );

    let t = Instant::now();
    let again = run(&db, date, &RunOptions::default()).await?;
    anyhow::ensure!(again.invoices_issued == 0, "the second run issued {} invoices", again.invoices_issued);
    println!(
        "  rerun:   0 new, {} already issued, in {:.2} s",
        thousands(again.already_issued),
        t.elapsed().as_secs_f64()
    );
    println!(
        "SUMMARY billing_run ({backend}): {} invoices computed+stored in {run_s:.2} s = {} invoices/s = {}x the manual \
         baseline (200 in 5 min = 0.667/s); preview {preview_s:.2} s",
        thousands(real.invoices_issued),
        thousands(per_s.round() as u64),
        thousands((per_s / BASELINE_PER_S).round() as u64)
    );
    if backend == "SQLite" {
        let db = Db::connect(&format!("sqlite://{}/peer.db", dir.path().display())).await?;
        for t in [
            "invoice_tallies_insert",
            "invoice_tallies_line",
            "invoice_tallies_update",
            "invoice_tallies_delete",
            "invoice_tallies_site",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER {t}"))).execute(&db.pool).await?;
        }
        demo::load(&db, &opts).await?;
        let t = Instant::now();
        let peer = run(&db, date, &RunOptions::default()).await?;
        anyhow::ensure!(peer.invoices_issued == real.invoices_issued, "the peer run issued another count");
        println!(
            "SUMMARY billing_run tally triggers (SQLite): store {:.2} s with them vs {:.2} s without \
             (whole run {run_s:.2} s vs {:.2} s)",
            secs(real.timings.store_ms),
            secs(peer.timings.store_ms),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
