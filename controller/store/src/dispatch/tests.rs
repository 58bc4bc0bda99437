//! The dispatch store on a real (SQLite) database; the same paths run on
//! PostgreSQL in `tests/tests/dispatch.rs`.

use super::jobs::{Change, Filter};
use super::sync::{Op, Operation, Outcome};
use super::*;
use crate::customers::{self, CustomerInput};
use crate::db::Db;
use crate::staff::{self, Role};
use crate::stock::moves::{Batch, ItemInput, Target};
use crate::stock::{locations, models, moves};
use mast_dispatch_core::geo::{Driving, Point};
use mast_dispatch_core::job::{JobKind, Status};
use mast_dispatch_core::plan::Matrix;
use mast_dispatch_core::solve;
use mast_stock_core::{Kind, LocationKind};

use crate::test_db as fresh;

/// The technician form saved twice (first without a start place, then
/// with one): the same statements with a NULL and then a number.
#[tokio::test]
async fn a_technician_saved_again_with_places() {
    let (_d, db) = fresh().await;
    let u = staff::add_user(&db, "x@example.net", Role::Technician, "a long enough password").await.unwrap();
    let mut input = TechnicianInput {
        name: "X".into(),
        shift_start_min: 480,
        shift_end_min: 1020,
        work_days: (1..=5).collect(),
        active: true,
        ..Default::default()
    };
    technicians::save(&db, u.id, &input).await.unwrap();
    input.start = Point::new(45.0, -93.0);
    let t = technicians::save(&db, u.id, &input).await.unwrap();
    assert_eq!(t.start_lat, Some(45.0));
}

async fn tech(db: &Db, email: &str, name: &str, at: (f64, f64)) -> i64 {
    let u = staff::add_user(db, email, Role::Technician, "a long enough password").await.unwrap();
    let input = TechnicianInput {
        name: name.into(),
        skills: "climb".into(),
        shift_start_min: 8 * 60,
        shift_end_min: 17 * 60,
        work_days: (1..=7).collect(),
        start: Point::new(at.0, at.1),
        active: true,
        ..Default::default()
    };
    technicians::save(db, u.id, &input).await.unwrap();
    u.id
}

fn job(title: &str, at: (f64, f64), customer: Option<i64>) -> JobInput {
    JobInput {
        kind: JobKind::Repair,
        title: title.into(),
        customer_id: customer,
        lat: Some(at.0),
        lon: Some(at.1),
        duration_min: 45,
        ..Default::default()
    }
}

/// Dates every job and step an hour earlier, as if created then.
async fn backdate(db: &Db) {
    sqlx::query("UPDATE work_orders SET created_ms = created_ms - 3600000").execute(&db.pool).await.unwrap();
    sqlx::query("UPDATE work_order_steps SET at_ms = at_ms - 3600000").execute(&db.pool).await.unwrap();
}

fn change(to: Status, schedule: Option<(i64, &str)>) -> Change {
    Change {
        to,
        // Ten minutes ago: a phone's change of a minute ago comes after.
        at_ms: crate::now_ms() - 600_000,
        actor: "disp".into(),
        note: String::new(),
        schedule: schedule.map(|(t, d)| (t, d.to_string())),
        revision: None,
    }
}

/// Bad input is refused with its field; the status machine holds; a
/// kind's checklist is copied; scheduling sets the technician and day.
#[tokio::test]
async fn work_orders_keep_their_rules() {
    let (_d, db) = fresh().await;
    let t = tech(&db, "ann@example.net", "Ann", (44.9, -93.2)).await;
    let e = jobs::create(&db, &JobInput { title: " ".into(), ..job("x", (44.9, -93.2), None) }, "d").await.unwrap_err();
    assert_eq!(e.field(), Some("title"));
    let e = jobs::create(&db, &JobInput { lat: None, ..job("x", (0.0, 0.0), None) }, "d").await.unwrap_err();
    assert_eq!(e.field(), Some("lat"));
    let e = jobs::create(&db, &JobInput { window_start_min: Some(600), ..job("x", (44.9, -93.2), None) }, "d")
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("window_end"));
    let e = jobs::create(&db, &JobInput { skills: "climb; rope".into(), ..job("x", (44.9, -93.2), None) }, "d")
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("skills"));

    let j = jobs::create(&db, &JobInput { kind: JobKind::Installation, ..job("Install", (44.9, -93.2), None) }, "d")
        .await
        .unwrap();
    assert_eq!(j.status, "new");
    backdate(&db).await;
    assert_eq!(jobs::checklist(&db, j.id).await.unwrap().len(), 5);
    // New → on site is refused; new → scheduled needs a technician.
    let e = jobs::change(&db, j.id, &change(Status::OnSite, None)).await.unwrap_err();
    assert_eq!(e.field(), Some("status"));
    let e = jobs::change(&db, j.id, &change(Status::Scheduled, None)).await.unwrap_err();
    assert_eq!(e.field(), Some("technician"));
    let j = jobs::change(&db, j.id, &change(Status::Scheduled, Some((t, "2026-12-07")))).await.unwrap();
    assert_eq!((j.technician_id, j.day.as_deref(), j.seq), (Some(t), Some("2026-12-07"), Some(1)));
    let steps = jobs::steps(&db, j.id).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(), ["new", "scheduled"]);
    // Cancelled takes it off the board; nothing follows.
    let j = jobs::change(&db, j.id, &change(Status::Cancelled, None)).await.unwrap();
    assert_eq!(j.day, None);
    assert!(jobs::change(&db, j.id, &change(Status::Scheduled, Some((t, "2026-12-07")))).await.is_err());
}

/// The planner's plan written back: every job scheduled once, in order,
/// with planned times; a pinned job stays with its technician; a job that
/// fits nobody goes back to the unscheduled list.
#[tokio::test]
async fn a_planned_day_is_written_back() {
    let (_d, db) = fresh().await;
    let a = tech(&db, "a@example.net", "A", (44.90, -93.20)).await;
    let b = tech(&db, "b@example.net", "B", (44.95, -93.10)).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let at = (44.90 + 0.01 * i as f64, -93.20 + 0.015 * i as f64);
        ids.push(jobs::create(&db, &job(&format!("job {i}"), at, None), "d").await.unwrap().id);
    }
    // Needs a skill nobody has.
    let odd = jobs::create(&db, &JobInput { skills: "welding".into(), ..job("weld", (44.9, -93.2), None) }, "d")
        .await
        .unwrap();
    backdate(&db).await;
    // Pinned to B by hand.
    jobs::change(&db, ids[0], &change(Status::Scheduled, Some((b, "2026-12-07")))).await.unwrap();
    sqlx::query("UPDATE work_orders SET pinned = 1 WHERE id = $1").bind(ids[0]).execute(&db.pool).await.unwrap();

    let d = day::load(&db, "2026-12-07", 1).await.unwrap();
    assert_eq!(d.technicians.len(), 2);
    assert_eq!(d.jobs.len(), 9);
    let p = day::problem(&d);
    let m = Matrix::estimate(&p, &Driving::default());
    let plan = solve::solve(&p, &m, &solve::Options { iterations: 200, seed: 1 });
    let applied = day::apply(&db, "2026-12-07", &plan, "disp").await.unwrap();
    assert_eq!(applied.scheduled.len(), 8 - 1, "the pinned one was already B's");
    let on_day = jobs::list(&db, &Filter { day: Some("2026-12-07".into()), ..Default::default() }).await.unwrap();
    assert_eq!(on_day.len(), 8);
    assert_eq!(on_day.iter().find(|j| j.id == ids[0]).unwrap().technician_id, Some(b));
    for t in [a, b] {
        let mine: Vec<_> = on_day.iter().filter(|j| j.technician_id == Some(t)).collect();
        let seqs: Vec<i64> = mine.iter().map(|j| j.seq.unwrap()).collect();
        assert_eq!(seqs, (1..=mine.len() as i64).collect::<Vec<_>>());
        let starts: Vec<i64> = mine.iter().map(|j| j.planned_start_min.unwrap()).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    }
    let odd = jobs::get(&db, odd.id).await.unwrap();
    assert_eq!((odd.status.as_str(), odd.day.as_deref()), ("new", None));
    // Planning again changes nothing.
    let d = day::load(&db, "2026-12-07", 1).await.unwrap();
    let p = day::problem(&d);
    let m = Matrix::estimate(&p, &Driving::default());
    let again = solve::solve(&p, &m, &solve::Options { iterations: 200, seed: 1 });
    assert_eq!(day::apply(&db, "2026-12-07", &again, "disp").await.unwrap().scheduled, vec![]);
}

/// A phone's operations: applied once (a resend gets the same answer),
/// a status change the job no longer allows is a conflict, notes merge,
/// bad input is refused without stopping the rest, parts scanned are
/// installed at the customer.
#[tokio::test]
async fn phone_operations_apply_once_and_report_conflicts() {
    let (_d, db) = fresh().await;
    let t = tech(&db, "t@example.net", "Tom", (44.9, -93.2)).await;
    let c = customers::create(
        &db,
        &CustomerInput { name: "Jo".into(), lat: Some(44.91), lon: Some(-93.21), ..Default::default() },
    )
    .await
    .unwrap();
    let j = jobs::create(&db, &job("Fix Jo", (44.91, -93.21), Some(c.id)), "d").await.unwrap();
    let k = jobs::create(&db, &job("Other", (44.92, -93.22), None), "d").await.unwrap();
    backdate(&db).await;
    for id in [j.id, k.id] {
        jobs::change(&db, id, &change(Status::Scheduled, Some((t, "2026-12-07")))).await.unwrap();
    }
    // A radio in Tom's van.
    let m = models::add(
        &db,
        &models::ModelInput {
            vendor: "Ubiquiti".into(),
            name: "LiteBeam".into(),
            kind: "radio".into(),
            class: "trackable".into(),
            needs_mac: true,
            unit_cost_minor: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let van = locations::add(&db, LocationKind::Vehicle, "Van", Some(t)).await.unwrap().id;
    let wh = locations::add(&db, LocationKind::Warehouse, "Main", None).await.unwrap().id;
    let batch = |kind, from, to, items| Batch {
        kind,
        from,
        to: Target::Location(to),
        items,
        note: String::new(),
        actor: "t".into(),
        automatic: false,
    };
    let r = moves::record(
        &db,
        &batch(
            Kind::Receive { purchase_order: None, unit_cost_minor: 100 },
            None,
            wh,
            vec![ItemInput::New { model: m, mac: Some("02:aa:00:00:00:01".into()), serial: None, length_mm: None }],
        ),
    )
    .await
    .unwrap();
    moves::record(&db, &batch(Kind::AssignToTechnician, Some(wh), van, vec![ItemInput::Unit { unit: r.new_units[0] }]))
        .await
        .unwrap();
    // The dispatcher cancels job k while the phone is offline.
    jobs::change(&db, k.id, &change(Status::Cancelled, None)).await.unwrap();
    let op = |id: &str, job: i64, op: Op| Operation { client_id: id.into(), job, op };
    let t0 = crate::now_ms() - 60_000;
    let ops = vec![
        op("a-1", j.id, Op::Status { to: "en-route".into(), at_ms: t0, note: String::new() }),
        op("a-2", j.id, Op::Status { to: "on-site".into(), at_ms: t0 + 1_000, note: String::new() }),
        op("a-3", j.id, Op::Note { body: "Cable chewed by a squirrel".into(), at_ms: t0 + 2_000 }),
        op("a-4", j.id, Op::Parts { codes: vec!["02AA.0000.0001".into()] }),
        op("a-5", j.id, Op::Check { position: 0, done: true, at_ms: t0 + 3_000 }),
        op("a-6", j.id, Op::Check { position: 99, done: true, at_ms: t0 + 3_000 }),
        op("a-7", k.id, Op::Status { to: "en-route".into(), at_ms: t0, note: String::new() }),
        op("a-8", j.id, Op::Status { to: "done".into(), at_ms: t0 + 4_000, note: String::new() }),
    ];
    let answers = sync::apply(&db, t, "t@example.net", &ops).await.unwrap();
    let outcomes: Vec<Outcome> = answers.iter().map(|a| a.outcome).collect();
    use Outcome::*;
    assert_eq!(outcomes, [Applied, Applied, Applied, Applied, Applied, Refused, Conflict, Applied], "{answers:?}");
    assert!(answers[6].detail.contains("cancelled"), "{}", answers[6].detail);
    // Sent again (the answer was lost): the same answers, nothing twice.
    let again = sync::apply(&db, t, "t@example.net", &ops).await.unwrap();
    assert_eq!(again.iter().map(|a| a.outcome).collect::<Vec<_>>(), outcomes);
    assert_eq!(jobs::notes(&db, j.id).await.unwrap().len(), 1);
    let j = jobs::get(&db, j.id).await.unwrap();
    assert_eq!(j.status, "done");
    let steps = jobs::steps(&db, j.id).await.unwrap();
    assert_eq!(steps.iter().find(|s| s.status == "on-site").unwrap().at_ms, t0 + 1_000, "the phone's time");
    // The radio is installed at the customer and linked to them.
    let u = moves::find_unit(&db, "02:aa:00:00:00:01").await.unwrap().unwrap();
    assert_eq!((u.location_kind.as_str(), u.customer_id), ("customer", Some(c.id)));
    let linked: i64 = sqlx::query_scalar("SELECT customer_id FROM customer_devices WHERE mac = '02:aa:00:00:00:01'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(linked, c.id);
    assert_eq!(jobs::parts(&db, j.id).await.unwrap().len(), 1);
    // Someone else's job is refused as a conflict.
    let other = tech(&db, "u@example.net", "Uma", (44.9, -93.2)).await;
    let a = sync::apply(&db, other, "u", &[op("b-1", j.id, Op::Note { body: "hi".into(), at_ms: t0 })]).await.unwrap();
    assert_eq!(a[0].outcome, Conflict);
    // The outcome rows for the reports.
    let v = day::visits(&db, 0).await.unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].technician_id, v[0].on_site_ms), (Some(t), Some(t0 + 1_000)));
}
