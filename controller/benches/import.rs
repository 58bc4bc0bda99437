//! Import speed: `cargo bench -p mast-controller --bench import`.
//!
//! Generates a UISP CRM export of 10,000 clients (`MAST_BENCH_CUSTOMERS`),
//! each with a service (one of 6 plans), a CPE MAC and IP at one of 20
//! sites, every 7th with a balance, and times, on a fresh SQLite database
//! (or `MAST_BENCH_DATABASE_URL`, e.g. an empty PostgreSQL database): the
//! pure parse, the dry run, the real run and an unchanged re-import. The
//! ceiling it is compared with is the raw insert rate of the same rows into
//! the same tables of the same database, in one transaction, with no
//! lookups and no checks.

use mast_controller::audit::Actor;
use mast_controller::db::Db;
use mast_store::import::{self, Files, Options, Source};
use std::time::Instant;

fn export(n: usize) -> (String, String) {
    let mut clients = String::from(
        "id,clientType,firstName,lastName,email,phone,street1,city,zipCode,clientLatitude,clientLongitude,accountBalance,site\n",
    );
    let mut services =
        String::from("id,clientId,status,servicePlanName,price,downloadSpeed,uploadSpeed,macAddress,ipRange\n");
    for i in 1..=n {
        let balance = if i % 7 == 0 { format!("-{}.25", i % 90) } else { String::new() };
        clients.push_str(&format!(
            "{i},1,First{i},Last{i},c{i}@example.org,555 {:04},{i} Main St,Hill City,57745,{:.5},{:.5},{balance},Tower {}\n",
            i % 10_000,
            43.0 + (i % 1000) as f64 / 10_000.0,
            -103.0 - (i % 1000) as f64 / 10_000.0,
            i % 20
        ));
        let plan = i % 6;
        services.push_str(&format!(
            "{},{i},1,Plan {plan},{}.00,{},{},02:00:{:02x}:{:02x}:{:02x}:{:02x},10.{}.{}.{}\n",
            100_000 + i,
            30 + plan * 10,
            10 * (plan + 1),
            2 * (plan + 1),
            (i >> 24) & 0xff,
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff,
            i / 65_536,
            (i / 256) % 256,
            i % 256
        ));
    }
    (clients, services)
}

/// The ceiling: the same rows inserted as plainly as the schema allows, in
/// one transaction (rolled back, so the database stays as the import left it).
async fn raw_inserts(db: &Db, n: usize) -> anyhow::Result<(usize, f64)> {
    let t = Instant::now();
    let mut tx = db.begin().await?;
    let site: i64 = sqlx::query_scalar(
        "INSERT INTO sites (name, interval_ms, timeout_ms, revision, created_ms) VALUES ('raw-bench', 60000, 1000, 1, 0) \
         RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await?;
    let plan: i64 = sqlx::query_scalar("SELECT id FROM plans ORDER BY id LIMIT 1").fetch_one(&mut *tx).await?;
    let mut rows = 1;
    for i in 1..=n {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (name, email, phone, address, lat, lon, status, site_id, notes, created_ms, updated_ms, \
             notify_outages) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, NULL, 0, 0, 1) RETURNING id",
        )
        .bind(format!("First{i} Last{i}"))
        .bind(format!("c{i}@example.org"))
        .bind("555 0000")
        .bind(format!("{i} Main St, Hill City 57745"))
        .bind(43.0)
        .bind(-103.0)
        .bind(site)
        .fetch_one(&mut *tx)
        .await?;
        for (kind, ext) in [("customer", i), ("service", 100_000 + i)] {
            sqlx::query(
                "INSERT INTO import_external_ids (source, kind, external_id, local_id, created_ms, updated_ms) \
                 VALUES ('raw', $1, $2, $3, 0, 0)",
            )
            .bind(kind)
            .bind(ext.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO billing_accounts (customer_id, billing_day, tax_exempt, currency, payment_reference, autopay, \
             created_ms, updated_ms) VALUES ($1, 1, 0, 'USD', $2, 0, 0, 0)",
        )
        .bind(id)
        .bind(format!("raw{id}"))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO subscriptions (customer_id, plan_id, start_date, end_date, created_ms) \
             VALUES ($1, $2, '2026-12-01', NULL, 0)",
        )
        .bind(id)
        .bind(plan)
        .execute(&mut *tx)
        .await?;
        let mac =
            format!("06:00:{:02x}:{:02x}:{:02x}:{:02x}", (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        sqlx::query("INSERT INTO customer_devices (mac, customer_id, created_ms) VALUES ($1, $2, 0)")
            .bind(&mac)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let ip = format!("10.{}.{}.{}", 200 + i / 65_536, (i / 256) % 256, i % 256);
        sqlx::query("INSERT INTO site_targets (site_id, addr, name) VALUES ($1, $2, 'x')")
            .bind(site)
            .bind(&ip)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO devices (site_id, addr, name, mac, created_ms) VALUES ($1, $2, 'x', $3, 0)")
            .bind(site)
            .bind(&ip)
            .bind(&mac)
            .execute(&mut *tx)
            .await?;
        rows += 8;
        if i % 7 == 0 {
            sqlx::query(
                "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, invoice_id, \
                 payment_id, memo, open_minor) VALUES ($1, 0, '2026-12-01', NULL, 'adjustment', 125, 'USD', NULL, NULL, 'raw', 125)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            rows += 1;
        }
    }
    tx.rollback().await?;
    Ok((rows, t.elapsed().as_secs_f64()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("MAST_BENCH_CUSTOMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("MAST_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.path().display()));
    let backend = if url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" };
    let db = Db::connect(&url).await?;
    let (clients, services) = export(n);
    let files = Files { customers: &clients, services: Some(&services), tariffs: None };
    let opts = Options {
        currency: "USD".into(),
        today: jiff::civil::date(2026, 12, 1),
        billing_day: 1,
        site_interval_ms: 60_000,
        site_timeout_ms: 1_000,
    };
    let actor = Actor { name: "bench".into(), ip: None };
    println!(
        "import on {backend}: UISP CRM export of {n} clients with a service, a CPE (MAC + IP) and 20 sites ({:.1} MB)",
        (clients.len() + services.len()) as f64 / 1e6
    );

    let t = Instant::now();
    let parsed = import::parse(Source::Uisp, files, None, mast_store::billing::money::Currency::USD)?;
    anyhow::ensure!(parsed.problems.is_empty(), "{:?}", &parsed.problems[..parsed.problems.len().min(3)]);
    println!("  parse (pure core): {:.2} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let dry = import::import(&db, Source::Uisp, files, None, &opts, true, &actor).await?;
    anyhow::ensure!(dry.problems.is_empty() && dry.customers.created == n, "dry run: {}", dry.summary());
    let dry_s = t.elapsed().as_secs_f64();
    println!("  dry run:  {dry_s:.2} s ({:.0} customers/s), nothing written", n as f64 / dry_s);

    let t = Instant::now();
    let real = import::import(&db, Source::Uisp, files, None, &opts, false, &actor).await?;
    anyhow::ensure!(real.committed && real.customers.created == n, "run: {}", real.summary());
    let real_s = t.elapsed().as_secs_f64();
    println!("  import:   {real_s:.2} s ({:.0} customers/s): {}", n as f64 / real_s, real.summary());

    let t = Instant::now();
    let again = import::import(&db, Source::Uisp, files, None, &opts, false, &actor).await?;
    anyhow::ensure!(again.customers.unchanged == n, "re-import: {}", again.summary());
    println!("  re-import, unchanged: {:.2} s", t.elapsed().as_secs_f64());

    let (rows, raw_s) = raw_inserts(&db, n).await?;
    println!(
        "  ceiling: the same {rows} rows inserted raw in one transaction: {raw_s:.2} s ({:.0} customers/s); \
         the import takes {:.1}x that",
        n as f64 / raw_s,
        real_s / raw_s
    );
    Ok(())
}
