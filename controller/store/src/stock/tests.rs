//! The stock store on a real (SQLite) database; the same paths run on
//! PostgreSQL in `tests/tests/stock.rs`.

use super::moves::{Batch, ItemInput, Target, UnitFilter};
use super::*;
use crate::customers::{self, CustomerInput};
use crate::db::Db;
use mast_stock_core::{Kind, LocationKind};

async fn fresh() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
    (dir, db)
}

fn radio() -> ModelInput {
    ModelInput {
        vendor: "Ubiquiti".into(),
        name: "LiteBeam 5AC".into(),
        kind: "radio".into(),
        class: "trackable".into(),
        needs_mac: true,
        reorder_threshold: Some(3),
        unit_cost_minor: 8_900,
        warranty_months: Some(12),
        ..Default::default()
    }
}

fn batch(kind: Kind, from: Option<i64>, to: Target, items: Vec<ItemInput>) -> Batch {
    Batch { kind, from, to, items, note: String::new(), actor: "t".into(), automatic: false }
}

fn receive() -> Kind {
    Kind::Receive { purchase_order: None, unit_cost_minor: 8_900 }
}

fn new(model: i64, mac: &str) -> ItemInput {
    ItemInput::New { model, mac: Some(mac.into()), serial: None, length_mm: None }
}

/// Receive → assign → install; a batch with one bad line changes nothing
/// and names the line; duplicates are refused; quantities never go
/// negative; cable is cut from its spool; a location holding stock cannot
/// be deleted.
#[tokio::test]
async fn movements_derive_locations_and_refuse_whole_batches() {
    let (_d, db) = fresh().await;
    let m = models::add(&db, &radio()).await.unwrap().id;
    let dup = models::add(&db, &radio()).await.unwrap_err();
    assert_eq!(dup.field(), Some("name"), "{dup}");
    let wh = locations::add(&db, LocationKind::Warehouse, "Main", None).await.unwrap().id;
    let van = locations::add(&db, LocationKind::Vehicle, "Van 1", None).await.unwrap().id;
    let r = moves::record(
        &db,
        &batch(receive(), None, Target::Location(wh), vec![new(m, "02:00:00:00:00:01"), new(m, "0200.0000.0002")]),
    )
    .await
    .unwrap();
    assert_eq!(r.new_units.len(), 2);
    let u = moves::find_unit(&db, "02-00-00-00-00-02").await.unwrap().unwrap();
    assert_eq!((u.mac.as_deref(), u.location_id), (Some("02:00:00:00:00:02"), wh));
    assert_eq!(u.warranty_end_ms().unwrap() - u.received_ms, 12 * 2_629_746_000);

    // One bad line (a MAC already received) refuses the whole batch.
    let e = moves::record(
        &db,
        &batch(receive(), None, Target::Location(wh), vec![new(m, "02:00:00:00:00:03"), new(m, "02:00:00:00:00:01")]),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("line 2") && e.to_string().contains("already"), "{e}");
    assert!(moves::find_unit(&db, "02:00:00:00:00:03").await.unwrap().is_none(), "nothing of the batch stayed");
    let e = moves::record(
        &db,
        &batch(
            receive(),
            None,
            Target::Location(wh),
            vec![ItemInput::New { model: m, mac: None, serial: None, length_mm: None }],
        ),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("needs a MAC"), "{e}");

    // Assign both to the van, install one at a customer.
    let units: Vec<ItemInput> = r.new_units.iter().map(|u| ItemInput::Unit { unit: *u }).collect();
    moves::record(&db, &batch(Kind::AssignToTechnician, Some(wh), Target::Location(van), units)).await.unwrap();
    let c = customers::create(&db, &CustomerInput { name: "Ada".into(), ..Default::default() }).await.unwrap();
    let unit = r.new_units[0];
    // Installing from the wrong place is refused.
    let e = moves::record(&db, &batch(Kind::Install, Some(wh), Target::Customer(c.id), vec![ItemInput::Unit { unit }]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not at"), "{e}");
    moves::record(&db, &batch(Kind::Install, Some(van), Target::Customer(c.id), vec![ItemInput::Unit { unit }]))
        .await
        .unwrap();
    let u = moves::unit(&db, unit).await.unwrap();
    assert_eq!((u.location_kind.as_str(), u.customer_id, u.location.as_str()), ("customer", Some(c.id), "Ada"));
    let h = moves::history(&db, unit).await.unwrap();
    let kinds: Vec<&str> = h.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["receive", "assign-to-technician", "install"]);

    // The van still holds the other unit: it cannot be deleted.
    assert!(locations::delete(&db, van).await.is_err());
    let (list, n) =
        moves::units(&db, &UnitFilter { kind: Some("vehicle".into()), ..Default::default() }, 50, 0).await.unwrap();
    assert_eq!((n, list[0].id), (1, r.new_units[1]));

    // Consumables: never below zero.
    let conn =
        models::add(&db, &ModelInput { name: "RJ45".into(), class: "consumable".into(), needs_mac: false, ..radio() })
            .await
            .unwrap()
            .id;
    moves::record(
        &db,
        &batch(receive(), None, Target::Location(wh), vec![ItemInput::Quantity { model: conn, quantity: 100 }]),
    )
    .await
    .unwrap();
    let e = moves::record(
        &db,
        &batch(
            Kind::AssignToTechnician,
            Some(wh),
            Target::Location(van),
            vec![ItemInput::Quantity { model: conn, quantity: 101 }],
        ),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("100 on hand"), "{e}");
    moves::record(
        &db,
        &batch(
            Kind::AssignToTechnician,
            Some(wh),
            Target::Location(van),
            vec![ItemInput::Quantity { model: conn, quantity: 100 }],
        ),
    )
    .await
    .unwrap();
    let at_wh = moves::amounts_at(&db, wh).await.unwrap();
    assert!(at_wh.iter().all(|a| a.model_id != conn), "no zero rows: {at_wh:?}");
    assert_eq!(moves::amounts_at(&db, van).await.unwrap()[0].quantity, 100);

    // Cable: cut from its spool, metres add up.
    let cable = models::add(
        &db,
        &ModelInput { name: "Cat6 outdoor".into(), class: "cut-to-length".into(), needs_mac: false, ..radio() },
    )
    .await
    .unwrap()
    .id;
    let spool = moves::record(
        &db,
        &batch(
            receive(),
            None,
            Target::Location(wh),
            vec![ItemInput::New { model: cable, mac: None, serial: Some("SPOOL-1".into()), length_mm: Some(305_000) }],
        ),
    )
    .await
    .unwrap()
    .new_units[0];
    moves::record(
        &db,
        &batch(Kind::Install, Some(wh), Target::Customer(c.id), vec![ItemInput::Cut { spool, length_mm: 25_500 }]),
    )
    .await
    .unwrap();
    assert_eq!(moves::unit(&db, spool).await.unwrap().remaining_mm, Some(279_500));
    let at_c = locations::existing(&db, Some(c.id), None).await.unwrap().unwrap();
    let cut = moves::amounts_at(&db, at_c).await.unwrap();
    assert_eq!(cut.iter().find(|a| a.model_id == cable).unwrap().length_mm, 25_500);

    // The log replays into the same state the tables hold.
    let (log, total) = moves::movements(&db, None, 1_000, 0).await.unwrap();
    assert_eq!(total as usize, log.len());
    let summary = moves::summary(&db).await.unwrap();
    let cust = summary.iter().find(|s| s.model_id == m && s.kind == "customer").unwrap();
    assert_eq!(cust.units, 1);
}

/// The sightings' rules on stored data: an unknown CPE, a unit in a van seen
/// serving its linked customer (installed automatically, marked automatic),
/// the only waiting customer of a site, a customer's CPE gone silent.
#[tokio::test]
async fn reconciliation_installs_what_a_van_put_on_the_air() {
    let (_d, db) = fresh().await;
    let site = crate::monitoring::add_site(&db, "north", &[], 60_000, 1_000).await.unwrap().id;
    let m = models::add(&db, &radio()).await.unwrap().id;
    let wh = locations::add(&db, LocationKind::Warehouse, "Main", None).await.unwrap().id;
    let van = locations::add(&db, LocationKind::Vehicle, "Van", None).await.unwrap().id;
    let macs = ["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"];
    let r = moves::record(&db, &batch(receive(), None, Target::Location(wh), macs.iter().map(|x| new(m, x)).collect()))
        .await
        .unwrap();
    let units: Vec<ItemInput> = r.new_units.iter().map(|u| ItemInput::Unit { unit: *u }).collect();
    moves::record(&db, &batch(Kind::AssignToTechnician, Some(wh), Target::Location(van), units)).await.unwrap();
    let ada = customers::create_with_cpes(
        &db,
        &CustomerInput { name: "Ada".into(), site: Some("north".into()), ..Default::default() },
        &[macs[0]],
    )
    .await
    .unwrap();
    let bo = customers::create(
        &db,
        &CustomerInput {
            name: "Bo".into(),
            site: Some("north".into()),
            status: Some("lead".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now = crate::db::now_ms();
    for (mac, seen) in [(macs[0], now), (macs[1], now), ("02:00:00:00:00:99", now)] {
        sqlx::query(
            "INSERT INTO inventory (site_id, mac, kind, source, first_seen_ms, last_seen_ms) \
             VALUES ($1, $2, 'cpe', 'station', $3, $3)",
        )
        .bind(site)
        .bind(mac)
        .bind(seen)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let rep = reconcile::report(&db, now, 86_400_000).await.unwrap();
    assert_eq!(rep.unknown.len(), 1, "{rep:?}");
    assert_eq!(rep.unknown[0].mac.to_string(), "02:00:00:00:00:99");
    let mut to: Vec<(i64, i64)> = rep.auto_install.iter().map(|a| (a.unit.0, a.customer)).collect();
    to.sort();
    assert_eq!(
        to,
        [(r.new_units[0], ada.id), (r.new_units[1], bo.id)],
        "linked MAC, then the site's only waiting lead"
    );
    let done = reconcile::auto_install(&db, &rep).await.unwrap();
    assert!(done.iter().all(|d| d.result.is_ok()), "{done:?}");
    let u = moves::unit(&db, r.new_units[1]).await.unwrap();
    assert_eq!((u.location_kind.as_str(), u.customer_id), ("customer", Some(bo.id)));
    let h = moves::history(&db, r.new_units[1]).await.unwrap();
    assert_eq!((h.last().unwrap().automatic, h.last().unwrap().actor.as_str()), (1, "reconcile"));
    let linked: i64 = sqlx::query_scalar("SELECT customer_id FROM customer_devices WHERE mac = $1")
        .bind(macs[1])
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(linked, bo.id, "the install links the CPE to the customer");
    // A second pass changes nothing; an installed CPE silent too long is stale.
    let rep = reconcile::report(&db, now, 86_400_000).await.unwrap();
    assert!(rep.auto_install.is_empty() && rep.stale.is_empty(), "{rep:?}");
    let later = now + 3 * 86_400_000;
    let rep = reconcile::report(&db, later, 86_400_000).await.unwrap();
    assert_eq!(rep.stale.len(), 2, "{rep:?}");
    // Ignoring the unknown MAC takes it off the list.
    reconcile::ignore(&db, "02:00:00:00:00:99", "neighbour's router", "t").await.unwrap();
    assert!(reconcile::report(&db, now, 86_400_000).await.unwrap().unknown.is_empty());
    assert!(!reconcile::summary_sent(&db, "2026-12-05").await.unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(reconcile::claim_summary(&mut tx, "2026-12-05").await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    assert!(!reconcile::claim_summary(&mut tx, "2026-12-05").await.unwrap(), "once a day");
    drop(tx);
    assert!(reconcile::summary_sent(&db, "2026-12-05").await.unwrap());
}

/// Import: a dry run reports each bad line and stores nothing; a good file
/// lands whole, at its locations; the export imports again.
#[tokio::test]
async fn import_is_all_or_nothing_and_export_round_trips() {
    let (_d, db) = fresh().await;
    crate::monitoring::add_site(&db, "north", &[], 60_000, 1_000).await.unwrap();
    models::add(&db, &radio()).await.unwrap();
    models::add(&db, &ModelInput { name: "RJ45".into(), class: "consumable".into(), needs_mac: false, ..radio() })
        .await
        .unwrap();
    let wh = locations::add(&db, LocationKind::Warehouse, "Main", None).await.unwrap().id;
    locations::add(&db, LocationKind::Vehicle, "Van", None).await.unwrap();
    let c = customers::create(&db, &CustomerInput { name: "Ada".into(), ..Default::default() }).await.unwrap();
    let bad = "model,location,mac,quantity\n\
               Ubiquiti LiteBeam 5AC,,02:00:00:00:00:01,\n\
               Ubiquiti LiteBeam 5AC,Van,not-a-mac,\n\
               Nobody Nothing,,,\n\
               Ubiquiti LiteBeam 5AC,,02:00:00:00:00:01,\n";
    let out = csv::import(&db, bad, wh, "t", true).await.unwrap();
    let lines: Vec<usize> = out.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5], "{:?}", out.errors);
    assert!(out.errors[2].reason.contains("already"), "{:?}", out.errors);
    assert!(!out.applied);
    assert_eq!(moves::units(&db, &UnitFilter::default(), 10, 0).await.unwrap().1, 0, "nothing stored");
    let good = format!(
        "Model,Location,MAC,Serial,Quantity\n\
         Ubiquiti LiteBeam 5AC,,02:00:00:00:00:01,,\n\
         Ubiquiti LiteBeam 5AC,Van,02:00:00:00:00:02,,\n\
         Ubiquiti LiteBeam 5AC,customer:{},02:00:00:00:00:03,,\n\
         Ubiquiti LiteBeam 5AC,site:north,02:00:00:00:00:04,,\n\
         Ubiquiti RJ45,Van,,,40\n",
        c.id
    );
    let dry = csv::import(&db, &good, wh, "t", false).await.unwrap();
    assert!(dry.errors.is_empty() && !dry.applied && dry.units == 4 && dry.pieces == 40, "{dry:?}");
    assert_eq!(moves::units(&db, &UnitFilter::default(), 10, 0).await.unwrap().1, 0, "a dry run stores nothing");
    let done = csv::import(&db, &good, wh, "t", true).await.unwrap();
    assert!(done.applied, "{done:?}");
    let kinds: Vec<String> = moves::units(&db, &UnitFilter::default(), 10, 0)
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|u| u.location_kind)
        .collect();
    assert_eq!(kinds, ["site", "customer", "vehicle", "warehouse"]);
    let exported = csv::export_stock(&db).await.unwrap();
    assert!(exported.contains(&format!("customer:{}", c.id)) && exported.contains("site:north"), "{exported}");
    // The export into a fresh database gives the same places.
    let (_d2, db2) = fresh().await;
    crate::monitoring::add_site(&db2, "north", &[], 60_000, 1_000).await.unwrap();
    models::add(&db2, &radio()).await.unwrap();
    models::add(&db2, &ModelInput { name: "RJ45".into(), class: "consumable".into(), needs_mac: false, ..radio() })
        .await
        .unwrap();
    let wh2 = locations::add(&db2, LocationKind::Warehouse, "Main", None).await.unwrap().id;
    locations::add(&db2, LocationKind::Vehicle, "Van", None).await.unwrap();
    customers::create(&db2, &CustomerInput { name: "Ada".into(), ..Default::default() }).await.unwrap();
    let again = csv::import(&db2, &exported, wh2, "t", true).await.unwrap();
    assert!(again.applied && again.units == 4 && again.pieces == 40, "{again:?}");
    let log = csv::export_movements(&db).await.unwrap();
    assert_eq!(log.lines().count(), 1 + 5 + 4, "header, 5 receives, 4 moves on: {log}");
}
