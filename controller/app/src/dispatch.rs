//! Dispatch services: drive times (estimates, or an OSRM-compatible road
//! service behind [`DriveTimes`]), "plan the day" (the store's day, the
//! core's planner on a blocking thread, the plan written back), a
//! technician's route re-timed after a hand change on the board, and the
//! notices a job's steps send: the customer's appointment confirmation,
//! "technician on the way" with a time window, "done" (email and the SMS
//! webhook through the outbox, the customer's opt-out respected), and the
//! technician's "your day changed".

use crate::context::DispatchSettings;
use mast_dispatch_core::geo::{Driving, Point};
use mast_dispatch_core::plan::{self, Matrix, Plan, Problem};
use mast_dispatch_core::solve;
use mast_store::db::{Db, StoreError, now_ms};
use mast_store::dispatch::day::{self, Applied};
use mast_store::dispatch::jobs::{self, JobRow};
use mast_store::outbox::{self, Channel, Channels, Message};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Drive seconds and metres between places (row-major), or why not.
pub type Tables = Result<(Vec<i64>, Vec<i64>), String>;

/// The future a [`DriveTimes`] answers with.
pub type TablesFuture<'a> = Pin<Box<dyn Future<Output = Tables> + Send + 'a>>;

/// Drive seconds and metres between places.
pub trait DriveTimes: Send + Sync {
    fn matrix<'a>(&'a self, places: &'a [Point]) -> TablesFuture<'a>;
}

/// Great-circle estimates with a road factor.
pub struct Estimate(pub Driving);

impl DriveTimes for Estimate {
    fn matrix<'a>(&'a self, places: &'a [Point]) -> TablesFuture<'a> {
        Box::pin(async move {
            let mut secs = Vec::with_capacity(places.len() * places.len());
            let mut metres = Vec::with_capacity(places.len() * places.len());
            for &a in places {
                for &b in places {
                    secs.push(self.0.drive_s(a, b));
                    metres.push(self.0.road_m(a, b));
                }
            }
            Ok((secs, metres))
        })
    }
}

/// An OSRM-compatible road service's table API:
/// `GET {base}/table/v1/driving/{lon,lat;...}?annotations=duration,distance`.
pub struct Osrm {
    pub base: String,
    pub client: reqwest::Client,
}

impl Osrm {
    pub fn new(base: &str) -> Osrm {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap_or_default();
        Osrm { base: base.trim_end_matches('/').to_string(), client }
    }

    /// The table's URL for `places`.
    pub fn url(&self, places: &[Point]) -> String {
        let coords: Vec<String> = places.iter().map(|p| format!("{:.6},{:.6}", p.lon, p.lat)).collect();
        format!("{}/table/v1/driving/{}?annotations=duration,distance", self.base, coords.join(";"))
    }

    /// The matrices from an OSRM table answer (`durations` in seconds,
    /// `distances` in metres; a `null` cell, an unreachable pair, is
    /// refused so the caller falls back to estimates).
    pub fn parse(body: &[u8], n: usize) -> Result<(Vec<i64>, Vec<i64>), String> {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        if v["code"] != "Ok" {
            return Err(format!("the road service said {}", v["code"]));
        }
        let grid = |key: &str| -> Result<Vec<i64>, String> {
            let rows = v[key].as_array().ok_or_else(|| format!("no {key} in the answer"))?;
            if rows.len() != n {
                return Err(format!("{key}: {} rows for {n} places", rows.len()));
            }
            let mut out = Vec::with_capacity(n * n);
            for r in rows {
                let cells = r.as_array().filter(|c| c.len() == n).ok_or_else(|| format!("{key}: a short row"))?;
                for c in cells {
                    let x = c.as_f64().filter(|x| x.is_finite() && *x >= 0.0).ok_or("an unreachable pair")?;
                    out.push(x.ceil() as i64);
                }
            }
            Ok(out)
        };
        Ok((grid("durations")?, grid("distances")?))
    }
}

impl DriveTimes for Osrm {
    fn matrix<'a>(&'a self, places: &'a [Point]) -> TablesFuture<'a> {
        Box::pin(async move {
            let resp = self.client.get(self.url(places)).send().await.map_err(|e| format!("road service: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("road service: HTTP {}", resp.status()));
            }
            let body = resp.bytes().await.map_err(|e| format!("road service: {e}"))?;
            Osrm::parse(&body, places.len())
        })
    }
}

/// The drive times of `p`'s places: the road service when configured and
/// answering, else the estimates (said in the result).
pub async fn matrix(s: &DispatchSettings, p: &Problem) -> (Matrix, Option<String>) {
    let places = Matrix::places(p);
    if let Some(url) = &s.osrm_url {
        match Osrm::new(url).matrix(&places).await {
            Ok((secs, metres)) => return (Matrix { size: places.len(), secs, metres }, None),
            Err(e) => {
                tracing::warn!(error = %e, "dispatch: road service failed, using estimates");
                return (Matrix::estimate(p, &s.driving), Some(e));
            }
        }
    }
    (Matrix::estimate(p, &s.driving), None)
}

/// What "plan the day" did.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: Plan,
    pub applied: Applied,
    pub millis: u128,
    /// Technicians left out for want of a start place.
    pub homeless: Vec<String>,
    /// The road service's failure, when estimates were used instead.
    pub road_service: Option<String>,
    pub notices: usize,
}

/// Plans `day` (YYYY-MM-DD): the day's scheduled jobs and every
/// unscheduled one, for the technicians working that day.
pub async fn plan_day(
    db: &Db,
    s: &DispatchSettings,
    channels: Channels,
    company: &str,
    day_s: &str,
    actor: &str,
) -> Result<Planned, StoreError> {
    let date = mast_store::dispatch::parse_day("day", day_s)?;
    let weekday = date.weekday().to_monday_one_offset();
    let input = day::load(db, &date.to_string(), weekday).await?;
    let problem = day::problem(&input);
    let (m, road_service) = matrix(s, &problem).await;
    let iterations = s.plan_iterations;
    let started = std::time::Instant::now();
    let plan = tokio::task::spawn_blocking(move || solve::solve(&problem, &m, &solve::Options { iterations, seed: 1 }))
        .await
        .map_err(|e| StoreError::Conflict(format!("the planner stopped: {e}")))?;
    let millis = started.elapsed().as_millis();
    let applied = day::apply(db, &date.to_string(), &plan, actor).await?;
    let notices = notify_changes(db, s, channels, company, &applied).await?;
    Ok(Planned {
        plan,
        applied,
        millis,
        homeless: input.homeless.iter().map(|t| t.name.clone()).collect(),
        road_service,
        notices,
    })
}

/// A technician's day after a hand change: `order` (job ids) re-timed
/// and written back, `pin` pinned to them. Returns the route and the rules
/// it breaks (a dispatcher may put a job where it does not fit; the board
/// shows it late).
#[allow(clippy::too_many_arguments)]
pub async fn retime(
    db: &Db,
    s: &DispatchSettings,
    channels: Channels,
    company: &str,
    day_s: &str,
    technician: i64,
    order: &[i64],
    pin: &[i64],
    actor: &str,
) -> Result<(plan::Route, Vec<plan::Violation>), StoreError> {
    let date = mast_store::dispatch::parse_day("day", day_s)?;
    let t = mast_store::dispatch::technicians::get(db, technician).await?;
    let start = t.start().ok_or_else(|| {
        StoreError::invalid("technician", format!("{} has no start place: set it on their page", t.name))
    })?;
    let mut rows: Vec<JobRow> = Vec::with_capacity(order.len());
    for id in order {
        let j = jobs::get(db, *id).await?;
        if !matches!(
            j.status(),
            mast_dispatch_core::Status::New
                | mast_dispatch_core::Status::Scheduled
                | mast_dispatch_core::Status::NeedsRevisit
        ) {
            return Err(StoreError::invalid("job", format!("work order #{id} is {}: it cannot move", j.status)));
        }
        rows.push(j);
    }
    let zones = mast_store::dispatch::technicians::zones_of(db, technician).await?;
    let mut zs = Vec::new();
    for z in zones {
        zs.push(mast_store::dispatch::technicians::zone(db, z).await?.zone()?);
    }
    let tech = plan::Technician {
        id: technician,
        start,
        end: t.end().unwrap_or(start),
        shift: (t.shift_start_min * 60, t.shift_end_min * 60),
        skills: t.skill_set(),
        zones: zs,
    };
    let mut problem = Problem { technicians: vec![tech], jobs: Vec::new() };
    for j in &rows {
        let mut cj =
            day::core_job(j).ok_or_else(|| StoreError::invalid("job", format!("work order #{} has no place", j.id)))?;
        cj.technician = None;
        if !plan::eligible(&cj, &problem.technicians[0]) {
            return Err(StoreError::invalid(
                "technician",
                format!("{} may not do work order #{} (skills or zone)", t.name, j.id),
            ));
        }
        problem.jobs.push(cj);
    }
    let (m, _) = matrix(s, &problem).await;
    let idx: Vec<usize> = (0..problem.jobs.len()).collect();
    let (route, broken) = plan::times(&problem, &m, 0, &idx);
    let applied = day::apply_route(db, &date.to_string(), &route, pin, actor).await?;
    notify_changes(db, s, channels, company, &applied).await?;
    Ok((route, broken))
}

fn hhmm(min: i64) -> String {
    mast_store::dispatch::hhmm(min.clamp(0, 1440))
}

/// The window a customer is told: their appointment window, else an hour
/// either side of the planned start.
pub fn told_window(j: &JobRow) -> Option<(i64, i64)> {
    match (j.window_start_min, j.window_end_min, j.planned_start_min) {
        (Some(a), Some(b), _) => Some((a, b)),
        (_, _, Some(p)) => Some(((p - 60).max(0), (p + 60).min(1440))),
        _ => None,
    }
}

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Booked for a day (and window).
    Confirmed,
    /// On the way, arriving within `(from, to)` local minutes.
    OnTheWay(i64, i64),
    Done,
}

/// The notice's dedup tag, subject and text.
pub fn notice_text(j: &JobRow, n: Notice, company: &str) -> (String, String, String) {
    let what = match j.kind() {
        mast_dispatch_core::JobKind::Installation => "installation",
        mast_dispatch_core::JobKind::Removal => "equipment pickup",
        mast_dispatch_core::JobKind::SiteSurvey => "site survey",
        _ => "technician visit",
    };
    match n {
        Notice::Confirmed => {
            let day = j.day.clone().unwrap_or_default();
            let when = told_window(j).map(|(a, b)| format!(" between {} and {}", hhmm(a), hhmm(b))).unwrap_or_default();
            (
                format!("confirm:{day}:{}", j.window_start_min.or(j.planned_start_min.map(|p| p / 30)).unwrap_or(0)),
                format!("{company}: your {what} on {day}"),
                format!("Your {what} is booked for {day}{when}. Reply to this message if that time does not suit you."),
            )
        }
        Notice::OnTheWay(a, b) => (
            "on-the-way".into(),
            format!("{company}: your technician is on the way"),
            format!(
                "{} is on the way for your {what} and should arrive between {} and {}.",
                j.technician.clone().unwrap_or_else(|| "Your technician".into()),
                hhmm(a),
                hhmm(b)
            ),
        ),
        Notice::Done => (
            "done".into(),
            format!("{company}: your {what} is done"),
            format!("Your {what} is done. Thank you! Reply to this message if anything is not right."),
        ),
    }
}

/// Queues notice `n` for job `j`'s customer (if any, and not opted out):
/// one email and one SMS webhook message per channel configured.
pub async fn notify_customer(
    db: &Db,
    s: &DispatchSettings,
    channels: Channels,
    j: &JobRow,
    n: Notice,
    company: &str,
) -> Result<usize, StoreError> {
    let Some(cid) = j.customer_id else { return Ok(0) };
    if !s.notify_customers {
        return Ok(0);
    }
    let Some(c) = mast_store::customers::get(db, cid).await? else { return Ok(0) };
    if !c.notify_outages {
        return Ok(0);
    }
    let (tag, subject, text) = notice_text(j, n, company);
    let mut headers = BTreeMap::new();
    headers.insert("event".to_string(), format!("visit.{}", tag.split(':').next().unwrap_or("update")));
    headers.insert("work_order_id".to_string(), j.id.to_string());
    let mut tx = db.begin().await?;
    let mut queued = 0;
    if let Some(email) = c.email.clone().filter(|e| !e.is_empty())
        && channels.customer_notices().has(Channel::Email)
    {
        let m = Message {
            dedup: format!("work-order:{}:{tag}:email", j.id),
            channel: Channel::Email,
            recipient: email,
            subject: subject.clone(),
            body: format!("Hello {},\n\n{text}\n\n{company}\n", c.name),
            headers: headers.clone(),
            customer_id: Some(cid),
            ticket_id: j.ticket_id,
        };
        queued += usize::from(outbox::enqueue(&mut tx, &m).await?);
    }
    if let Some(phone) = c.phone.clone().filter(|p| !p.is_empty())
        && channels.has(Channel::Webhook)
    {
        let m = Message {
            dedup: format!("work-order:{}:{tag}:sms", j.id),
            channel: Channel::Webhook,
            recipient: phone,
            subject,
            body: text,
            headers,
            customer_id: Some(cid),
            ticket_id: j.ticket_id,
        };
        queued += usize::from(outbox::enqueue(&mut tx, &m).await?);
    }
    tx.commit().await?;
    Ok(queued)
}

/// After a plan or a hand change: appointment confirmations for the jobs
/// newly scheduled, and an email to each technician whose day changed.
async fn notify_changes(
    db: &Db,
    s: &DispatchSettings,
    channels: Channels,
    company: &str,
    a: &Applied,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for (job, _) in &a.scheduled {
        let j = jobs::get(db, *job).await?;
        n += notify_customer(db, s, channels, &j, Notice::Confirmed, company).await?;
    }
    if channels.has(Channel::Email) {
        let stamp = now_ms() / 60_000;
        for t in &a.technicians {
            let Ok(tech) = mast_store::dispatch::technicians::get(db, *t).await else { continue };
            let mut tx = db.begin().await?;
            let m = Message {
                dedup: format!("dispatch:day-changed:{t}:{stamp}"),
                channel: Channel::Email,
                recipient: tech.email.clone(),
                subject: "Your jobs changed".into(),
                body: format!(
                    "Hello {},\n\nThe dispatcher changed your jobs. Open Mast on your phone (Today) to see your route.\n",
                    tech.name
                ),
                headers: BTreeMap::new(),
                customer_id: None,
                ticket_id: None,
            };
            n += usize::from(outbox::enqueue(&mut tx, &m).await?);
            tx.commit().await?;
        }
    }
    Ok(n)
}

/// What a step of a job does beyond itself, whoever made it (the staff
/// page, a phone online or offline): "on the way" and "done" notices to
/// the customer, and a repair's ticket resolved when the job is done and
/// the staff asked for it (`close_ticket`). `entered` is the status the
/// step entered (a phone's batch may have moved the job on since). Returns
/// lines for the log.
#[allow(clippy::too_many_arguments)]
pub async fn after_step(
    db: &Db,
    s: &DispatchSettings,
    channels: Channels,
    desk: &mast_store::tickets::Desk,
    tz: &jiff::tz::TimeZone,
    company: &str,
    job: i64,
    entered: mast_dispatch_core::Status,
    actor: &str,
) -> Result<Vec<String>, StoreError> {
    let j = jobs::get(db, job).await?;
    let mut done = Vec::new();
    match entered {
        mast_dispatch_core::Status::EnRoute => {
            // Arrival: now plus the planned drive, give or take 15 minutes.
            let now = jiff::Timestamp::now().to_zoned_datetime(tz.clone());
            let now_min = i64::from(now.hour()) * 60 + i64::from(now.minute());
            let eta = now_min + j.planned_drive_s.unwrap_or(1_800) / 60;
            let n = notify_customer(db, s, channels, &j, Notice::OnTheWay((eta - 15).max(now_min), eta + 15), company)
                .await?;
            if n > 0 {
                done.push(format!("customer told the technician is on the way ({n} message(s))"));
            }
        }
        mast_dispatch_core::Status::Done => {
            let n = notify_customer(db, s, channels, &j, Notice::Done, company).await?;
            if n > 0 {
                done.push(format!("customer told the job is done ({n} message(s))"));
            }
            if j.close_ticket != 0
                && let Some(t) = j.ticket_id
                && let Some(ticket) = mast_store::tickets::get(db, t).await?
                && !matches!(
                    ticket.status,
                    mast_ops_core::lifecycle::Status::Resolved | mast_ops_core::lifecycle::Status::Closed
                )
            {
                let body = format!("Work order #{} done by {actor}.", j.id);
                match mast_store::tickets::act(db, desk, t, mast_ops_core::lifecycle::Action::Resolve, &body, actor)
                    .await
                {
                    Ok(_) => done.push(format!("ticket #{t} resolved")),
                    Err(e) => tracing::warn!(ticket = t, error = %e, "dispatch: could not resolve the job's ticket"),
                }
            }
        }
        _ => {}
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn settings(osrm: Option<String>) -> DispatchSettings {
        DispatchSettings { driving: Driving::default(), osrm_url: osrm, plan_iterations: 100, notify_customers: true }
    }

    fn two() -> Problem {
        let p = |lat, lon| Point::new(lat, lon).unwrap();
        Problem {
            technicians: vec![plan::Technician {
                id: 1,
                start: p(45.0, -93.0),
                end: p(45.0, -93.0),
                shift: (0, 86_400),
                skills: Default::default(),
                zones: vec![],
            }],
            jobs: vec![plan::Job {
                id: 7,
                at: p(45.1, -93.0),
                duration_s: 600,
                window: None,
                skills: Default::default(),
                priority: mast_dispatch_core::Priority::Normal,
                technician: None,
            }],
        }
    }

    fn row() -> JobRow {
        JobRow {
            id: 5,
            kind: "installation".into(),
            status: "scheduled".into(),
            priority: "normal".into(),
            title: "Install".into(),
            customer_id: Some(1),
            customer: Some("Ann".into()),
            customer_phone: None,
            customer_email: None,
            ticket_id: None,
            ticket_subject: None,
            incident_id: None,
            site_id: None,
            address: String::new(),
            lat: None,
            lon: None,
            day: Some("2026-12-07".into()),
            technician_id: Some(2),
            technician: Some("Tess".into()),
            seq: Some(1),
            window_start_min: None,
            window_end_min: None,
            duration_min: 60,
            skills: String::new(),
            planned_start_min: Some(9 * 60 + 40),
            planned_drive_s: None,
            planned_drive_m: None,
            notes: String::new(),
            close_ticket: 0,
            pinned: 0,
            signed_by: None,
            revision: 1,
            created_by: "t".into(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    /// The customer is told their own window, else an hour either side of
    /// the planned start; a new day or window is a new confirmation (its
    /// dedup tag changes), the same one is not sent twice.
    #[test]
    fn notices_say_the_window_and_dedup_by_what_they_say() {
        let mut j = row();
        assert_eq!(told_window(&j), Some((8 * 60 + 40, 10 * 60 + 40)));
        let (tag, subject, text) = notice_text(&j, Notice::Confirmed, "Acme Net");
        assert!(subject.contains("installation on 2026-12-07"), "{subject}");
        assert!(text.contains("between 08:40 and 10:40"), "{text}");
        j.window_start_min = Some(13 * 60);
        j.window_end_min = Some(17 * 60);
        let (tag2, _, text2) = notice_text(&j, Notice::Confirmed, "Acme Net");
        assert!(text2.contains("between 13:00 and 17:00"), "{text2}");
        assert_ne!(tag, tag2);
        j.day = Some("2026-12-08".into());
        assert_ne!(notice_text(&j, Notice::Confirmed, "Acme Net").0, tag2);
        let (_, _, otw) = notice_text(&j, Notice::OnTheWay(600, 630), "Acme Net");
        assert!(otw.contains("Tess is on the way") && otw.contains("between 10:00 and 10:30"), "{otw}");
    }

    #[test]
    fn osrm_tables_parse_and_refuse_what_they_must() {
        let ok = br#"{"code":"Ok","durations":[[0,10.2],[11,0]],"distances":[[0,100.5],[120,0]]}"#;
        assert_eq!(Osrm::parse(ok, 2).unwrap(), (vec![0, 11, 11, 0], vec![0, 101, 120, 0]));
        let unreachable = br#"{"code":"Ok","durations":[[0,null],[11,0]],"distances":[[0,1],[1,0]]}"#;
        assert!(Osrm::parse(unreachable, 2).unwrap_err().contains("unreachable"));
        assert!(Osrm::parse(br#"{"code":"InvalidQuery"}"#, 2).unwrap_err().contains("InvalidQuery"));
        assert!(Osrm::parse(ok, 3).unwrap_err().contains("rows"));
        assert!(Osrm::parse(b"<html>", 2).is_err());
        let o = Osrm::new("http://127.0.0.1:5000/");
        let p = [Point::new(45.0, -93.25).unwrap(), Point::new(45.1, -93.0).unwrap()];
        assert_eq!(
            o.url(&p),
            "http://127.0.0.1:5000/table/v1/driving/-93.250000,45.000000;-93.000000,45.100000?annotations=duration,distance"
        );
    }

    /// A road service on loopback answering one canned table; a dead one
    /// falls back to the estimates and says why.
    #[tokio::test]
    async fn the_road_service_is_used_when_it_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = r#"{"code":"Ok","durations":[[0,300,0],[300,0,300],[0,300,0]],"distances":[[0,5000,0],[5000,0,5000],[0,5000,0]]}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).await.unwrap();
            req
        });
        let (m, failed) = matrix(&settings(Some(format!("http://{addr}"))), &two()).await;
        assert_eq!(failed, None);
        assert_eq!((m.secs(0, 1), m.metres(0, 1)), (300, 5000));
        let req = server.await.unwrap();
        assert!(req.starts_with("GET /table/v1/driving/-93.000000,45.100000;"), "{req}");
        // Nothing listens there now: estimates, and the reason.
        let (m, failed) = matrix(&settings(Some(format!("http://{addr}"))), &two()).await;
        assert!(failed.is_some());
        assert_eq!(m.secs(0, 1), Driving::default().drive_s(two().jobs[0].at, two().technicians[0].start));
    }
}
