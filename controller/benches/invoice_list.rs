//! The staff invoice list at scale:
//! `cargo bench -p mast-controller --bench invoice_list`.
//!
//! Loads 10,000 demo customers (`MAST_BENCH_CUSTOMERS`) with 24 monthly
//! invoices each (240,000 invoices with their lines and ledger debits; a mix
//! of paid, partly paid, open, written off and void) into a fresh SQLite
//! database (or `MAST_BENCH_DATABASE_URL`, e.g. an empty PostgreSQL
//! database), starts the real controller in-process, signs in, and times
//! `/billing/invoices` with each filter: 4 clients, 50 warm-up requests, then
//! 400 timed requests per case, printing p50 and p99 (HTTP round trip on
//! loopback, page rendered). The goal is p99 ≤ 50 ms on this machine.

use mast_controller::billing::demo::{self, DemoOptions};
use mast_controller::db::{Backend, Db};
use std::time::{Duration, Instant};

mod support;

const MONTHS: i64 = 24;

async fn load_invoices(db: &Db) -> anyhow::Result<u64> {
    let customers: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, site_id FROM customers ORDER BY id").fetch_all(&db.pool).await?;
    let plan: i64 = sqlx::query_scalar("SELECT MIN(id) FROM plans").fetch_one(&db.pool).await?;
    let now = mast_controller::db::now_ms();
    let mut seq = 0i64;
    let chunk = 500usize;
    for m in 0..MONTHS {
        let (y, mo) = (2025 + (m / 12), 1 + (m % 12));
        let start = format!("{y:04}-{mo:02}-01");
        let (ny, nm) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
        let end = format!("{ny:04}-{nm:02}-01");
        let due = format!("{y:04}-{mo:02}-15");
        let mut tx = db.pool.begin().await?;
        for part in customers.chunks(chunk) {
            let mut sql = String::from(
                "INSERT INTO invoices (number, series, year, seq, customer_id, period_start, period_end, issue_date, \
                 due_date, currency, gross_minor, discount_minor, subtotal_minor, tax_minor, total_minor, \
                 credits_applied_minor, amount_due_minor, content_hash, status, payment_reference, run_id, created_ms, \
                 open_minor) VALUES ",
            );
            let mut rows = Vec::with_capacity(part.len());
            for (i, (c, _)) in part.iter().enumerate() {
                seq += 1;
                // Most are paid; the last months hold the open ones.
                let (status, open) = match (c + m) % 50 {
                    _ if m < MONTHS - 3 && c % 97 != 0 => ("paid", 0),
                    0 => ("void", 0),
                    1..=3 => ("written-off", 0),
                    4..=10 => ("partly-paid", 2000),
                    11..=30 => ("open", 4950),
                    _ => ("paid", 0),
                };
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('INV-{y:04}-{seq:06}', 'INV', {y}, {seq}, {c}, '{start}', '{end}', '{start}', '{due}', 'USD', \
                     4500, 0, 4500, 450, 4950, 0, 4950, '0', '{status}', 'MAST-{c}', NULL, {now}, {open})"
                ));
                rows.push((*c, open));
            }
            sql.push_str(" RETURNING id, customer_id");
            let ids: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
            let mut lines = String::from(
                "INSERT INTO invoice_lines (invoice_id, position, kind, subscription_id, plan_id, description, \
                 amount_minor, discount_minor, net_minor, tax_minor) VALUES ",
            );
            let mut ledger = String::from(
                "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, \
                 invoice_id, memo, open_minor) VALUES ",
            );
            for (i, (id, c)) in ids.iter().enumerate() {
                if i > 0 {
                    lines.push(',');
                    ledger.push(',');
                }
                let p = plan + (c % 3);
                lines.push_str(&format!("({id}, 0, 'recurring', NULL, {p}, 'Home', 4500, 0, 4500, 450)"));
                let open = rows.iter().find(|r| r.0 == *c).map(|r| r.1).unwrap_or(0);
                ledger.push_str(&format!(
                    "({c}, {now}, '{start}', '{due}', 'invoice', 4950, 'USD', {id}, 'Invoice', {open})"
                ));
            }
            sqlx::query(sqlx::AssertSqlSafe(lines)).execute(&mut *tx).await?;
            sqlx::query(sqlx::AssertSqlSafe(ledger)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(seq as u64)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

async fn time(url: &str, cookie: &str) -> anyhow::Result<(f64, f64, usize)> {
    let http = reqwest::Client::new();
    let get = |http: reqwest::Client, url: String, cookie: String| async move {
        let t = Instant::now();
        let r = http.get(&url).header("cookie", &cookie).send().await?;
        let status = r.status();
        let body = r.text().await?;
        anyhow::ensure!(status.is_success(), "{url}: HTTP {status}");
        Ok::<_, anyhow::Error>((t.elapsed(), body.len()))
    };
    for _ in 0..50 {
        get(http.clone(), url.to_string(), cookie.to_string()).await?;
    }
    let mut all = Vec::new();
    let mut size = 0;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (http, url, cookie) = (http.clone(), url.to_string(), cookie.to_string());
        tasks.spawn(async move {
            let mut v = Vec::new();
            for _ in 0..100 {
                v.push(get(http.clone(), url.clone(), cookie.clone()).await?);
            }
            Ok::<_, anyhow::Error>(v)
        });
    }
    while let Some(r) = tasks.join_next().await {
        for (d, n) in r?? {
            all.push(d);
            size = n;
        }
    }
    all.sort();
    Ok((pct(&all, 0.50), pct(&all, 0.99), size))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let customers: u32 = std::env::var("MAST_BENCH_CUSTOMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let cfg = support::config(dir.path())?;
    let db = Db::connect(&cfg.database_url()).await?;
    let t = Instant::now();
    let opts =
        DemoOptions { customers, seed: 1, as_of: jiff::civil::date(2026, 11, 20), billing_day: Some(1), force: false };
    demo::load(&db, &opts).await?;
    let invoices = load_invoices(&db).await?;
    sqlx::query("ANALYZE").execute(&db.pool).await?;
    let backend = if db.backend == Backend::Sqlite { "SQLite" } else { "PostgreSQL" };
    eprintln!("loaded {customers} customers and {invoices} invoices in {:.1} s ({backend})", t.elapsed().as_secs_f64());
    let server = support::Server::start(&db, cfg).await?;
    let (base, cookie) = (server.base.clone(), server.cookie.clone());
    let cases = [
        ("all, first page", "/billing/invoices".to_string()),
        ("all, page 100", "/billing/invoices?offset=5000".to_string()),
        ("unpaid", "/billing/invoices?status=unpaid".to_string()),
        ("overdue", "/billing/invoices?status=unpaid&overdue=on".to_string()),
        ("partly paid", "/billing/invoices?status=partly-paid".to_string()),
        ("one site", "/billing/invoices?site=1".to_string()),
        ("one plan", "/billing/invoices?plan=2".to_string()),
        ("one month", "/billing/invoices?from=2026-06-01&until=2026-07-01".to_string()),
        ("one customer", "/billing/invoices?customer=4242".to_string()),
        ("dashboard (peer page)", "/".to_string()),
    ];
    println!("invoice list, {backend}, {invoices} invoices, 4 clients, 400 requests each (goal: p99 <= 50 ms)");
    println!("{:<24} {:>9} {:>9} {:>9}", "case", "p50 ms", "p99 ms", "KiB");
    for (name, path) in &cases {
        let (p50, p99, size) = time(&format!("{base}{path}"), &cookie).await?;
        println!("{name:<24} {p50:>9.1} {p99:>9.1} {:>9}", size / 1024);
    }
    server.stop().await;
    Ok(())
}
