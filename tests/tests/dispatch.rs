//! Dispatch end to end: an admin sets up two technicians (hours, start
//! place, skills) and two zones in the browser's forms (a zone with too
//! few corners is refused next to its field); support creates a work
//! order from a ticket (prefilled from it; a window that ends before it
//! starts is refused next to its field) and more through the API; "plan
//! the day" gives each job to the technician whose zone holds it, in
//! order, with planned times; the customer gets the appointment on a real
//! SMTP server, the technician "your jobs changed"; the dispatcher moves a
//! job to the other technician (re-timed, pinned) and is refused moving
//! one outside that technician's zone; the technician works the day from
//! the phone endpoints (on the way, on site, a note, a photo, done) and
//! the customer is told, the ticket resolved; an offline change that the
//! dispatcher overtook comes back as a conflict; a repeat visit within 30
//! days makes the first a miss in the outcomes.

use mast_tests::mail::SmtpSink;
use mast_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(a_day_is_planned_and_worked_from_the_phone);

fn today() -> String {
    jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date().to_string()
}

async fn jobs(c: &Controller, tok: &str, q: &str) -> anyhow::Result<Vec<Value>> {
    let (st, v) = c.get(&format!("/api/v1/dispatch/jobs{q}"), tok).await?;
    assert_eq!(st, 200, "{v}");
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn job(list: &[Value], id: i64) -> &Value {
    list.iter().find(|j| j["id"] == id).unwrap_or_else(|| panic!("job {id} in {list:?}"))
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn sync(s: &mut WebSession, ops: &Value) -> anyhow::Result<Vec<Value>> {
    let body = ops.to_string();
    let r = s.post_files("/tech/sync", &[("ops", &body)], vec![]).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body)?;
    Ok(v["answers"].as_array().cloned().unwrap_or_default())
}

async fn a_day_is_planned_and_worked_from_the_phone(backend: Backend) -> anyhow::Result<()> {
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let mut env = SmtpSink::controller_env(&port).to_vec();
    env.extend([("MAST_DISPATCH_PLAN_ITERATIONS", "2000"), ("MAST_TIMEZONE", "UTC")]);
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    let admin_pw = c.add_user("boss@wisp.test", "admin");
    let desk_pw = c.add_user("desk@wisp.test", "support");
    let north_pw = c.add_user("north@wisp.test", "technician");
    let _south_pw = c.add_user("south@wisp.test", "technician");
    let tok = c.admin_token();
    let day = today();

    // Zones from the browser's form: too few corners is refused next to
    // the field.
    let mut a = WebSession::new(&c);
    a.login("boss@wisp.test", &admin_pw).await?;
    a.get("/dispatch/zones").await?;
    let zone =
        |name: &'static str, corners: &'static str| vec![("name", name), ("color", "#1f77b4"), ("corners", corners)];
    let bad = a.post("/dispatch/zones", &zone("North", "[[45.0,-93.0],[45.1,-93.0]]"), None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"id="zone-corners-error""#) && bad.body.contains("at least 3 corners"), "{}", bad.body);
    let north = "[[45.00,-93.40],[45.00,-93.00],[45.30,-93.00],[45.30,-93.40]]";
    let south = "[[44.70,-93.40],[44.70,-93.00],[45.00,-93.00],[45.00,-93.40]]";
    assert_eq!(a.post("/dispatch/zones", &zone("North", north), None).await?.status, 303);
    assert_eq!(a.post("/dispatch/zones", &zone("South", south), None).await?.status, 303);
    let zones = a.get("/dispatch/zones").await?.body;
    let zone_id = |name: &str| {
        let i = zones.find(&format!(">{name}</a>")).unwrap();
        let href = zones[..i].rfind("/dispatch/zones/").unwrap() + "/dispatch/zones/".len();
        zones[href..].chars().take_while(char::is_ascii_digit).collect::<String>()
    };
    let (zn, zs) = (zone_id("North"), zone_id("South"));

    // Technicians: added from the staff with the technician role, then
    // their day; a day that ends before it starts is refused next to the
    // field.
    let techs = a.get("/dispatch/technicians").await?.body;
    assert!(techs.contains("north@wisp.test") && techs.contains("south@wisp.test"), "{techs}");
    let user_id = |email: &str| {
        let i = techs.find(&format!(">{email}</option>")).unwrap();
        let v = techs[..i].rfind("value=\"").unwrap() + 7;
        techs[v..].chars().take_while(char::is_ascii_digit).collect::<String>()
    };
    let (tn, ts) = (user_id("north@wisp.test"), user_id("south@wisp.test"));
    for (u, name) in [(&tn, "Nora North"), (&ts, "Sid South")] {
        let r = a.post("/dispatch/technicians", &[("user", u), ("name", name)], None).await?;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let day_form = |zone: &str, end: &str| {
        vec![
            ("name".to_string(), "x".to_string()),
            ("skills".into(), "climb".into()),
            ("shift_start".into(), "08:00".into()),
            ("shift_end".into(), end.into()),
            ("start_lat".into(), "45.00".into()),
            ("start_lon".into(), "-93.20".into()),
            ("active".into(), "on".into()),
            ("zone".into(), zone.into()),
        ]
        .into_iter()
        .chain((1..=7).map(|d| ("day".to_string(), d.to_string())))
        .collect::<Vec<_>>()
    };
    let f = day_form(&zn, "07:00");
    let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let bad = a.post(&format!("/dispatch/technicians/{tn}"), &fr, None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"id="tech-shift_end-error""#), "{}", bad.body);
    for (u, z, name) in [(&tn, &zn, "Nora North"), (&ts, &zs, "Sid South")] {
        let mut f = day_form(z, "17:00");
        f[0].1 = name.to_string();
        let fr: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = a.post(&format!("/dispatch/technicians/{u}"), &fr, None).await?;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let page = a.get(&format!("/dispatch/technicians/{tn}")).await?.body;
    assert!(page.contains("Nora North") && page.contains(r#"value="17:00""#), "{page}");

    // Customers north and south (Cy opted out of notices), a ticket.
    let cust = |name: &str, lat: f64, email: &str| {
        json!({"name": name, "email": email, "phone": "+1 612 555 0101", "lat": lat, "lon": -93.2,
               "notify_outages": email != "cy@cust.test"})
    };
    let mut ids = Vec::new();
    for (name, lat, email) in [
        ("Ann Hill", 45.10, "ann@cust.test"),
        ("Ben Ridge", 45.20, "ben@cust.test"),
        ("Cy Vale", 44.85, "cy@cust.test"),
        ("Di Low", 44.80, "di@cust.test"),
    ] {
        let (st, v) = c.post_json("/api/v1/customers", &tok, &cust(name, lat, email)).await?;
        assert_eq!(st, 201, "{v}");
        ids.push(v["customer"]["id"].as_i64().unwrap());
    }
    let (st, t) = c
        .post_json(
            "/api/v1/tickets",
            &tok,
            &json!({"subject": "No internet since the storm", "customer_id": ids[0], "priority": "high"}),
        )
        .await?;
    assert_eq!(st, 201, "{t}");
    let ticket = t["ticket"]["id"].as_i64().unwrap();

    // Support makes a work order from the ticket: the form is prefilled.
    let mut d = WebSession::new(&c);
    d.login("desk@wisp.test", &desk_pw).await?;
    let tp = d.get(&format!("/tickets/{ticket}")).await?.body;
    assert!(tp.contains(&format!("/dispatch/jobs/new?ticket={ticket}")), "{tp}");
    let form = d.get(&format!("/dispatch/jobs/new?ticket={ticket}")).await?.body;
    assert!(form.contains("No internet since the storm") && form.contains(r#"value="45.1""#), "{form}");
    let fields = |ws: &'static str, we: &'static str| {
        vec![
            ("kind", "repair"),
            ("priority", "high"),
            ("title", "No internet since the storm"),
            ("customer_id", ""),
            ("ticket_id", ""),
            ("site_id", ""),
            ("address", ""),
            ("lat", ""),
            ("lon", ""),
            ("window_start", ws),
            ("window_end", we),
            ("duration_min", "45"),
            ("skills", ""),
            ("notes", "Check the cable"),
            ("close_ticket", "on"),
        ]
    };
    let (cid, tid) = (ids[0].to_string(), ticket.to_string());
    let with = |mut f: Vec<(&'static str, &'static str)>| {
        f.retain(|(k, _)| *k != "customer_id" && *k != "ticket_id");
        f
    };
    let mut bad_f: Vec<(&str, &str)> = with(fields("13:00", "09:00"));
    bad_f.extend([("customer_id", cid.as_str()), ("ticket_id", tid.as_str())]);
    let bad = d.post("/dispatch/jobs", &bad_f, None).await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"id="job-window_end-error""#), "{}", bad.body);
    let mut ok_f: Vec<(&str, &str)> = with(fields("09:00", "13:00"));
    ok_f.extend([("customer_id", cid.as_str()), ("ticket_id", tid.as_str())]);
    let created = d.post("/dispatch/jobs", &ok_f, None).await?;
    assert_eq!(created.status, 303, "{}", created.body);
    let all = jobs(&c, &tok, "").await?;
    let j_ann = all[0]["id"].as_i64().unwrap();
    assert_eq!((all[0]["lat"].as_f64(), all[0]["ticket_id"].as_i64()), (Some(45.1), Some(ticket)), "from the customer");
    // The rest through the API.
    let mut job_ids = vec![j_ann];
    for (i, cu) in ids.iter().enumerate().skip(1) {
        let lat = [45.10, 45.20, 44.85, 44.80][i];
        let (st, v) = c
            .post_json(
                "/api/v1/dispatch/jobs",
                &tok,
                &json!({"kind": "installation", "priority": "normal", "title": format!("Install {i}"), "customer_id": cu,
                        "address": "", "lat": lat, "lon": -93.2, "window_start_min": null, "window_end_min": null,
                        "duration_min": 60, "skills": "", "notes": "", "close_ticket": false, "ticket_id": null,
                        "incident_id": null, "site_id": null}),
            )
            .await?;
        assert_eq!(st, 200, "{v}");
        job_ids.push(v["id"].as_i64().unwrap());
    }

    // Plan the day: zones decide who goes where; times and order set.
    let r = d.post("/dispatch/plan", &[("day", &day)], None).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let board = d.get(&format!("/dispatch?day={day}&planned=4")).await?.body;
    assert!(board.contains("Planned 4 job(s)"), "{board}");
    let planned = jobs(&c, &tok, &format!("?day={day}")).await?;
    assert_eq!(planned.len(), 4);
    for (k, id) in job_ids.iter().enumerate() {
        let j = job(&planned, *id);
        let want = if k < 2 { &tn } else { &ts };
        assert_eq!(j["technician_id"].as_i64().unwrap().to_string(), *want, "{j}");
        assert_eq!(j["status"], "scheduled");
        assert!(j["planned_start_min"].as_i64().unwrap() >= 8 * 60);
    }
    // The CLI lists the same day.
    let listed = c.cli_ok(&["dispatch", "jobs", "--day", &day]);
    assert!(listed.contains("No internet since the storm") && listed.contains("Nora North"), "{listed}");
    // Ann's window is kept.
    let s = job(&planned, j_ann)["planned_start_min"].as_i64().unwrap();
    assert!((9 * 60..=13 * 60).contains(&s), "{s}");

    // The customers are told (not Cy), the technicians too.
    let mails = sink.wait_for(5, Duration::from_secs(30));
    let to = |who: &str, needle: &str| {
        mails
            .iter()
            .filter(|m| m.to.iter().any(|t| t == who) && String::from_utf8_lossy(&m.raw).contains(needle))
            .count()
    };
    assert_eq!(to("ann@cust.test", "is booked for"), 1, "{:?}", sink.log());
    assert_eq!(to("cy@cust.test", "is booked for"), 0, "opted out");
    assert!(to("north@wisp.test", "changed your jobs") >= 1);

    // Moving Ben's job to the south technician is refused (his zone);
    // moving Di's to the north one is too; moving Cy's before Di's works
    // and pins it.
    let ben = job_ids[1].to_string();
    let r =
        d.post("/dispatch/move", &[("job", &ben), ("technician", &ts), ("day", &day), ("before", "")], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("may not do work order"), "{}", r.body);
    let (cy, di) = (job_ids[2].to_string(), job_ids[3].to_string());
    let r =
        d.post("/dispatch/move", &[("job", &cy), ("technician", &ts), ("day", &day), ("before", &di)], None).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let now = jobs(&c, &tok, &format!("?day={day}")).await?;
    assert_eq!(job(&now, job_ids[2])["seq"], 1);
    assert_eq!(job(&now, job_ids[3])["seq"], 2);
    assert_eq!(job(&now, job_ids[2])["pinned"], 1);

    // The north technician works Ann's job from the phone.
    let mut t = WebSession::new(&c);
    t.login("north@wisp.test", &north_pw).await?;
    let today_page = t.get("/tech").await?.body;
    assert!(today_page.contains("No internet since the storm") && today_page.contains("tel:"), "{today_page}");
    let job_page = t.get(&format!("/tech/jobs/{j_ann}")).await?.body;
    assert!(job_page.contains("Check the cable"), "{job_page}");
    // Someone else's job is not theirs.
    let at = jiff::Timestamp::now().as_millisecond();
    use base64::Engine;
    let photo = base64::engine::general_purpose::STANDARD.encode(PNG);
    let answers = sync(
        &mut t,
        &json!([
            {"client_id": "n-1", "job": j_ann, "op": "status", "to": "en-route", "at_ms": at - 3_000, "note": ""},
            {"client_id": "n-2", "job": j_ann, "op": "status", "to": "on-site", "at_ms": at - 2_000, "note": ""},
            {"client_id": "n-3", "job": j_ann, "op": "note", "body": "Connector corroded, replaced", "at_ms": at - 1_500},
            {"client_id": "n-4", "job": j_ann, "op": "photo", "data": photo, "at_ms": at - 1_000},
            {"client_id": "n-5", "job": j_ann, "op": "status", "to": "done", "at_ms": at - 500, "note": ""},
            {"client_id": "n-6", "job": job_ids[3], "op": "status", "to": "en-route", "at_ms": at, "note": ""},
        ]),
    )
    .await?;
    let outcomes: Vec<&str> = answers.iter().map(|a| a["outcome"].as_str().unwrap_or("")).collect();
    assert_eq!(outcomes, ["applied", "applied", "applied", "applied", "applied", "conflict"], "{answers:?}");
    // Sent again: the same answers, nothing done twice.
    let again = sync(
        &mut t,
        &json!([{"client_id": "n-3", "job": j_ann, "op": "note", "body": "Connector corroded, replaced", "at_ms": at}]),
    )
    .await?;
    assert_eq!(again[0]["outcome"], "applied");
    let staff_view = d.get(&format!("/dispatch/jobs/{j_ann}")).await?.body;
    assert_eq!(staff_view.matches("Connector corroded, replaced").count(), 1, "{staff_view}");
    assert!(staff_view.contains(&format!("/dispatch/jobs/{j_ann}/photos/")), "{staff_view}");

    // The customer heard "on the way" and "done"; the ticket is resolved.
    let mails = sink.wait_for(mails.len() + 2, Duration::from_secs(30));
    let told = |needle: &str| {
        mails
            .iter()
            .filter(|m| m.to.iter().any(|t| t == "ann@cust.test") && String::from_utf8_lossy(&m.raw).contains(needle))
            .count()
    };
    assert_eq!(told("is on the way"), 1, "{:?}", sink.log());
    assert_eq!(told("is done"), 1);
    let (_, tv) = c.get(&format!("/api/v1/tickets/{ticket}"), &tok).await?;
    assert_eq!(tv["ticket"]["status"], "resolved", "{tv}");

    // An offline change the dispatcher overtook: Ben's job cancelled while
    // the phone recorded "en route".
    let ben_id = job_ids[1];
    let r = d.post(&format!("/dispatch/jobs/{ben_id}/status"), &[("to", "cancelled")], None).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let a2 = sync(
        &mut t,
        &json!([{"client_id": "n-7", "job": ben_id, "op": "status", "to": "en-route", "at_ms": at, "note": ""}]),
    )
    .await?;
    assert_eq!(a2[0]["outcome"], "conflict", "{a2:?}");

    // A repeat visit for Ann within 30 days: the first visit is a miss.
    let (_, o) = c.get("/api/v1/dispatch/outcomes", &tok).await?;
    assert_eq!(o["first_visit"]["visits"], 1, "{o}");
    assert_eq!(o["first_visit"]["fixed"], 1);
    let (st, v) = c
        .post_json(
            "/api/v1/dispatch/jobs",
            &tok,
            &json!({"kind": "repair", "priority": "high", "title": "Again no internet", "customer_id": ids[0],
                    "address": "", "lat": 45.1, "lon": -93.2, "window_start_min": null, "window_end_min": null,
                    "duration_min": 30, "skills": "", "notes": "", "close_ticket": false, "ticket_id": null,
                    "incident_id": null, "site_id": null}),
        )
        .await?;
    assert_eq!(st, 200, "{v}");
    let again_id = v["id"].as_i64().unwrap();
    let r = d
        .post(
            &format!("/dispatch/jobs/{again_id}/status"),
            &[("to", "scheduled"), ("technician", &tn), ("day", &day)],
            None,
        )
        .await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let a3 = sync(
        &mut t,
        &json!([
            {"client_id": "n-8", "job": again_id, "op": "status", "to": "en-route", "at_ms": at + 10, "note": ""},
            {"client_id": "n-9", "job": again_id, "op": "status", "to": "on-site", "at_ms": at + 20, "note": ""},
            {"client_id": "n-10", "job": again_id, "op": "status", "to": "done", "at_ms": at + 30, "note": ""},
        ]),
    )
    .await?;
    assert!(a3.iter().all(|a| a["outcome"] == "applied"), "{a3:?}");
    let (_, o) = c.get("/api/v1/dispatch/outcomes", &tok).await?;
    assert_eq!(o["first_visit"]["visits"], 2, "{o}");
    assert_eq!(o["first_visit"]["fixed"], 1, "{o}");
    assert_eq!(o["misses"], json!([j_ann]));
    let report = d.get("/dispatch/reports").await?.body;
    assert!(report.contains(r#"id="first-visit-fix">50.0 %"#), "{report}");

    // The checklist a kind starts with is the admin's to change; a
    // line over 200 characters is refused next to the field.
    let long = "x".repeat(201);
    let r = a.post("/dispatch/checklists", &[("kind", "repair"), ("items", &long)], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains(r#"id="repair-items-error""#), "{}", r.body);
    let r = a
        .post("/dispatch/checklists", &[("kind", "repair"), ("items", "Photo of the mount\nSpeed test")], None)
        .await?;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(d.post("/dispatch/checklists", &[("kind", "repair"), ("items", "x")], None).await?.status, 403);
    let (_, v) = c
        .post_json(
            "/api/v1/dispatch/jobs",
            &tok,
            &json!({"kind": "repair", "priority": "low", "title": "Checked", "customer_id": null, "address": "",
                    "lat": 45.1, "lon": -93.2, "window_start_min": null, "window_end_min": null, "duration_min": 30,
                    "skills": "", "notes": "", "close_ticket": false, "ticket_id": null, "incident_id": null, "site_id": null}),
        )
        .await?;
    let page = d.get(&format!("/dispatch/jobs/{}", v["id"])).await?.body;
    assert!(page.contains("Photo of the mount") && page.contains("Speed test"), "{page}");

    // Audit: the plan, the move and the phone's changes are recorded.
    let (_, audit) = c.get("/api/v1/audit?limit=200", &tok).await?;
    let text = audit.to_string();
    for action in ["dispatch.plan", "dispatch.move", "dispatch.job.create"] {
        assert!(text.contains(action), "{action} in {text}");
    }
    Ok(())
}
