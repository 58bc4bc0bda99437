//! Inventory at 20,000 items: `cargo bench -p mast-controller --bench stock`
//! (needs `wrk`: `apt-get install wrk`).
//!
//! Builds a fresh SQLite database (or `MAST_BENCH_DATABASE_URL`) through the
//! real store: 20,000 radios received in batches of 1,000, 2,000 of them in
//! 4 vans, 6,000 installed one batch per customer, 1,000 at 10 sites; and
//! 20,000 MACs the agents saw (half of them units, half unknown). Then it
//! times the reconciliation as the worker runs it (load both sides from
//! the database + decide; goal under 1 s) and, with the real controller
//! in-process, the stock pages with wrk (2 threads, 4 then 16 connections,
//! 10 s each), p50 and p99, against `/api/v1/health` (the server's floor:
//! no database work) in the same run.

use mast_controller::stock::moves::{self, Batch, ItemInput, Target};
use mast_controller::stock::{locations, models, reconcile};
use mast_controller::{config::Config, db::Db};
use mast_stock_core::{Kind, LocationKind};
use std::time::Instant;

mod support;

const UNITS: i64 = 20_000;
const SEEN: i64 = 20_000;

fn mac(n: i64) -> String {
    let b = n.to_be_bytes();
    format!("02:10:{:02x}:{:02x}:{:02x}:{:02x}", b[4], b[5], b[6], b[7])
}

async fn load(db: &Db) -> anyhow::Result<()> {
    let now = mast_controller::db::now_ms();
    let m = models::add(
        db,
        &models::ModelInput {
            vendor: "Ubiquiti".into(),
            name: "LiteBeam 5AC".into(),
            kind: "radio".into(),
            class: "trackable".into(),
            needs_mac: true,
            reorder_threshold: Some(100),
            unit_cost_minor: 8_900,
            ..Default::default()
        },
    )
    .await?
    .id;
    let wh = locations::add(db, LocationKind::Warehouse, "Main", None).await?.id;
    let mut vans = Vec::new();
    for v in 0..4 {
        vans.push(locations::add(db, LocationKind::Vehicle, &format!("Van {v}"), None).await?.id);
    }
    let mut units = Vec::with_capacity(UNITS as usize);
    for chunk in 0..UNITS / 1000 {
        let items = (0..1000).map(|i| ItemInput::New {
            model: m,
            mac: Some(mac(chunk * 1000 + i)),
            serial: None,
            length_mm: None,
        });
        let b = Batch {
            kind: Kind::Receive { purchase_order: None, unit_cost_minor: 8_900 },
            from: None,
            to: Target::Location(wh),
            items: items.collect(),
            note: String::new(),
            actor: "bench".into(),
            automatic: false,
        };
        units.extend(moves::record(db, &b).await?.new_units);
    }
    let batch = |kind: Kind, to: Target, ids: &[i64]| Batch {
        kind,
        from: Some(wh),
        to,
        items: ids.iter().map(|u| ItemInput::Unit { unit: *u }).collect(),
        note: String::new(),
        actor: "bench".into(),
        automatic: false,
    };
    for (v, ids) in units[..2000].chunks(500).enumerate() {
        moves::record(db, &batch(Kind::AssignToTechnician, Target::Location(vans[v]), ids)).await?;
    }
    let mut tx = db.pool.begin().await?;
    for s in 0..10 {
        sqlx::query(
            "INSERT INTO sites (name, interval_ms, timeout_ms, revision, created_ms) VALUES ($1, 30000, 1000, 1, $2)",
        )
        .bind(format!("tower-{s}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for c in 0..6000 {
        sqlx::query(
            "INSERT INTO customers (name, status, site_id, created_ms, updated_ms) VALUES ($1, 'active', $2, $3, $3)",
        )
        .bind(format!("Customer {c}"))
        .bind(c % 10 + 1)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    for (c, u) in units[2000..8000].iter().enumerate() {
        moves::record(db, &batch(Kind::Install, Target::Customer(c as i64 + 1), &[*u])).await?;
    }
    for (s, ids) in units[8000..9000].chunks(100).enumerate() {
        moves::record(db, &batch(Kind::Install, Target::Site(s as i64 + 1), ids)).await?;
    }
    // What the agents saw (since the units arrived where they are): half of
    // it units (installed, in vans, on shelves), half unknown.
    let now = mast_controller::db::now_ms();
    let mut tx = db.pool.begin().await?;
    for i in 0..SEEN {
        let m = if i % 2 == 0 { mac(i) } else { mac(1_000_000 + i) };
        sqlx::query(
            "INSERT INTO inventory (site_id, mac, kind, source, first_seen_ms, last_seen_ms) VALUES ($1, $2, 'cpe', 'station', $3, $3)",
        )
        .bind(i % 10 + 1)
        .bind(m)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = support::config(dir.path())?;
    let db = Db::connect(&cfg.database_url()).await?;
    let t = Instant::now();
    load(&db).await?;
    sqlx::query("ANALYZE").execute(&db.pool).await?;
    eprintln!("loaded {UNITS} units and {SEEN} sightings through the store in {:?} ({:?})", t.elapsed(), db.backend);

    let now = mast_controller::db::now_ms();
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..5 {
        let t = Instant::now();
        report = Some(reconcile::report(&db, now, 7 * 86_400_000).await?);
        times.push(t.elapsed());
    }
    times.sort();
    let r = report.unwrap();
    println!(
        "reconciliation, {UNITS} units x {SEEN} sightings from the database: median {:?}, max {:?} (goal < 1 s); \
         unknown {}, not assigned {}, moved {}, stale {}, auto-install {}",
        times[2],
        times[4],
        r.unknown.len(),
        r.not_assigned.len(),
        r.moved.len(),
        r.stale.len(),
        r.auto_install.len()
    );

    let cfg = Config { stock: mast_controller::config::Stock { reconcile_secs: 86_400, ..Default::default() }, ..cfg };
    let server = support::Server::start(&db, cfg).await?;
    let cases = [
        ("health (floor)", "/api/v1/health".to_string()),
        ("/stock (first 100)", "/stock".to_string()),
        ("/stock search by MAC", format!("/stock?q={}", mac(12_345))),
        ("/stock customers, p. 50", "/stock?kind=customer&offset=5000".to_string()),
        ("/stock/reconcile", "/stock/reconcile".to_string()),
    ];
    println!("{:<26} {:>5} {:>10} {:>10} {:>12}", "page", "conns", "p50", "p99", "requests/s");
    for conns in [4, 16] {
        for (name, path) in &cases {
            let (p50, p99, rps) = server.wrk(path, conns).await?;
            println!("{name:<26} {conns:>5} {p50:>10} {p99:>10} {rps:>12}");
        }
    }
    server.stop().await;
    Ok(())
}
