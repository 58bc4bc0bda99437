//! The technician's phone view (`/tech`): today's route as cards, a job's
//! page with everything needed on site, and the forms that record the work.
//!
//! Every form is a real form posting one operation to `/tech/jobs/{id}/op`,
//! so the page works without JavaScript. `tech.js` takes the same forms
//! over: it keeps each operation in a queue on the phone (`localStorage`)
//! and sends the queue to `/tech/sync` whenever there is a network, so a
//! day without coverage loses nothing; the service worker (`/tech/sw.js`)
//! keeps today's pages for offline use. Both endpoints go through
//! [`sync::apply`]: an operation carries an id the phone chose, is applied
//! once, and comes back applied, in conflict (the job changed meanwhile) or
//! refused (bad input).

use crate::pages::page;
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FlashKind, FormErrors, Markup, Method, Table, Tone, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mast_dispatch_core::job::Status;
use mast_store::dispatch::jobs::{self, Filter, JobRow};
use mast_store::dispatch::sync::{self, Answer, Op, Operation, Outcome};
use mast_store::dispatch::{hhmm, technicians};
use serde::Deserialize;
use serde_json::json;

/// The service worker, served at `/tech/sw.js` (its scope must be `/tech`).
const SERVICE_WORKER: &str = include_str!("../../assets/sw.js");

/// Most operations one `/tech/sync` request may carry.
pub const MAX_OPS: usize = 200;

/// Most scanned codes one parts operation may carry.
const MAX_CODES: usize = 200;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The status changes a technician makes from the phone, with their button
/// labels, in the order the buttons show. The others (new, cancelled) are
/// the dispatcher's.
const PHONE_TARGETS: [(Status, &str); 5] = [
    (Status::EnRoute, "On my way"),
    (Status::OnSite, "Arrived on site"),
    (Status::Done, "Job done"),
    (Status::NeedsRevisit, "Needs another visit"),
    (Status::Scheduled, "Turn back"),
];

/// The statuses a job is in while a technician works it.
const WORKING: [Status; 3] = [Status::Scheduled, Status::EnRoute, Status::OnSite];

/// Whether the phone may set a job to `to`.
pub(crate) fn phone_may_set(to: Status) -> bool {
    PHONE_TARGETS.iter().any(|(s, _)| *s == to)
}

/// The working statuses from which the phone may go to `to` (the core's
/// table, without staying put).
pub(crate) fn allowed_from(to: Status) -> Vec<Status> {
    if !phone_may_set(to) {
        return Vec::new();
    }
    WORKING.into_iter().filter(|&s| s != to && s.allows(to)).collect()
}

/// The statuses the phone offers for a job in status `from`.
pub(crate) fn next_statuses(from: Status) -> Vec<Status> {
    PHONE_TARGETS.iter().map(|(s, _)| *s).filter(|&to| allowed_from(to).contains(&from)).collect()
}

/// The colour of a job status badge.
fn status_tone(status: &str) -> Tone {
    match status {
        "done" => Tone::Up,
        "needs-revisit" | "cancelled" => Tone::Down,
        "en-route" | "on-site" => Tone::Degraded,
        "scheduled" => Tone::Unknown,
        _ => Tone::Neutral,
    }
}

// ------------------------------------------------------------------ links

/// A coordinate as a short decimal: at most 6 places, no trailing zeros.
fn coord(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// Where a phone's navigation apps open a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NavLinks {
    /// `geo:` (Android opens the chosen navigation app).
    pub geo: String,
    /// OpenStreetMap in the browser (works everywhere).
    pub osm: String,
}

/// The navigation links of a place, when it has valid coordinates.
pub(crate) fn nav_links(lat: Option<f64>, lon: Option<f64>) -> Option<NavLinks> {
    let (lat, lon) = (lat?, lon?);
    if !lat.is_finite() || !lon.is_finite() || !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let (a, b) = (coord(lat), coord(lon));
    Some(NavLinks {
        geo: format!("geo:{a},{b}?q={a},{b}"),
        osm: format!("https://www.openstreetmap.org/?mlat={a}&mlon={b}#map=17/{a}/{b}"),
    })
}

/// A `tel:` link for a phone number as typed ("+1 (555) 010-0100"): digits
/// and a leading `+` kept; `None` when it has no digits.
pub(crate) fn tel_href(phone: &str) -> Option<String> {
    let phone = phone.trim();
    let mut out = String::new();
    if phone.starts_with('+') {
        out.push('+');
    }
    out.extend(phone.chars().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | ',' | ';')));
    out.chars().any(|c| c.is_ascii_digit()).then(|| format!("tel:{out}"))
}

/// "25 min", "1 h 5 min" from seconds (rounded to the minute).
pub(crate) fn fmt_drive(secs: i64) -> String {
    let min = (secs.max(0) + 30) / 60;
    if min < 60 { format!("{min} min") } else { format!("{} h {} min", min / 60, min % 60) }
}

/// The job's time window, "08:00–10:00", if it has one.
fn window(j: &JobRow) -> Option<String> {
    Some(format!("{}–{}", hhmm(j.window_start_min?), hhmm(j.window_end_min?)))
}

/// When the job is planned to start: the plan's time, else its window's start.
fn planned_start(j: &JobRow) -> String {
    match (j.planned_start_min, j.window_start_min) {
        (Some(m), _) => hhmm(m),
        (None, Some(w)) => format!("from {}", hhmm(w)),
        _ => "—".to_string(),
    }
}

// ------------------------------------------------------------ operations

/// The fields of an operation form as posted (URL-encoded, or multipart
/// for the photo).
#[derive(Debug, Clone, Default)]
pub(crate) struct OpFields {
    pub op: String,
    /// status: the new status (the button pressed) and an optional note.
    pub to: String,
    pub note: String,
    /// note: its text.
    pub body: String,
    /// check: the item and whether it is ticked (the checkbox is sent only
    /// when ticked).
    pub position: String,
    pub done: bool,
    /// parts: MACs or serials, one per line.
    pub codes: String,
    /// signature: the PNG data URL drawn on the canvas, and who signed.
    pub png: String,
    pub signed_by: String,
    /// photo: the file's bytes.
    pub photo: Option<Vec<u8>>,
}

impl OpFields {
    fn set(&mut self, name: &str, value: String) {
        match name {
            "op" => self.op = value,
            "to" => self.to = value,
            "note" => self.note = value,
            "body" => self.body = value,
            "position" => self.position = value,
            "done" => self.done = !value.is_empty(),
            "codes" => self.codes = value,
            "png" => self.png = value,
            "signed_by" => self.signed_by = value,
            _ => {}
        }
    }
}

/// What is wrong with an operation form: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field_error(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into() }
}

/// The operation's name (`status`, `note`, ...), as in its JSON and the audit log.
pub(crate) fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Status { .. } => "status",
        Op::Note { .. } => "note",
        Op::Check { .. } => "check",
        Op::Parts { .. } => "parts",
        Op::Photo { .. } => "photo",
        Op::Signature { .. } => "signature",
    }
}

/// The one operation a form posts, or what is wrong with it. Pure: the
/// caller gives the operation id and the time.
pub(crate) fn build_op(job: i64, f: &OpFields, client_id: &str, at_ms: i64) -> Result<Operation, FieldError> {
    let op = match f.op.trim() {
        "status" => {
            let to = f.to.trim();
            let s = Status::parse(to).ok_or_else(|| field_error("to", "choose the new status"))?;
            if !phone_may_set(s) {
                return Err(field_error("to", format!("only the dispatcher sets a job to {to}")));
            }
            Op::Status { to: to.to_string(), at_ms, note: f.note.trim().to_string() }
        }
        "note" => {
            let body = f.body.trim();
            if body.is_empty() {
                return Err(field_error("body", "write a note"));
            }
            Op::Note { body: body.to_string(), at_ms }
        }
        "check" => {
            let position =
                f.position.trim().parse::<i64>().map_err(|_| field_error("position", "which checklist item"))?;
            Op::Check { position, done: f.done, at_ms }
        }
        "parts" => {
            let codes: Vec<String> = crate::stock::moves::codes(&f.codes).into_iter().map(str::to_string).collect();
            if codes.is_empty() {
                return Err(field_error("codes", "scan or type at least one MAC or serial"));
            }
            if codes.len() > MAX_CODES {
                return Err(field_error("codes", format!("at most {MAX_CODES} codes at once")));
            }
            Op::Parts { codes }
        }
        "photo" => match f.photo.as_deref() {
            None | Some([]) => return Err(field_error("photo", "choose or take a photo")),
            Some(bytes) => Op::Photo { data: base64(bytes), at_ms },
        },
        "signature" => {
            if !f.png.starts_with("data:image/png;base64,") {
                return Err(field_error("signature", "sign in the box (signing needs JavaScript)"));
            }
            let who = f.signed_by.trim();
            if who.is_empty() {
                return Err(field_error("signed_by", "the name of who signed"));
            }
            Op::Signature { png: f.png.clone(), signed_by: who.to_string() }
        }
        _ => return Err(field_error("op", "unknown operation")),
    };
    Ok(Operation { client_id: client_id.to_string(), job, op })
}

/// Standard base64 with padding (photos go to the store as base64).
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The refusal of a status change the phone may not make, or `None`.
fn phone_refusal(o: &Operation) -> Option<Answer> {
    let Op::Status { to, .. } = &o.op else { return None };
    let s = Status::parse(to.trim())?;
    (!phone_may_set(s)).then(|| Answer {
        client_id: o.client_id.clone(),
        job: o.job,
        outcome: Outcome::Refused,
        detail: format!("only the dispatcher sets a job to {}", s.as_str()),
        replayed: false,
    })
}

/// The operations of a `/tech/sync` request: each a valid operation, or the
/// answer refusing it (a malformed one that names its `client_id`, so the
/// phone can drop it from its queue). The request as a whole is refused
/// when it is not a JSON array of objects with a `client_id`, or too long.
pub(crate) fn parse_ops(text: &str) -> Result<Vec<Result<Operation, Answer>>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("ops is not valid JSON: {e}"))?;
    let list = v.as_array().ok_or("ops must be a JSON array of operations")?;
    if list.len() > MAX_OPS {
        return Err(format!("at most {MAX_OPS} operations per request (this one has {})", list.len()));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let Some(client_id) = item.get("client_id").and_then(|c| c.as_str()) else {
            return Err(format!("operation {} has no client_id", i + 1));
        };
        let job = item.get("job").and_then(|j| j.as_i64()).unwrap_or(0);
        let refused = |detail: String| Answer {
            client_id: client_id.to_string(),
            job,
            outcome: Outcome::Refused,
            detail,
            replayed: false,
        };
        out.push(match serde_json::from_value::<Operation>(item.clone()) {
            Ok(o) => match phone_refusal(&o) {
                Some(a) => Err(a),
                None => Ok(o),
            },
            Err(e) => Err(refused(format!("not a valid operation: {e}"))),
        });
    }
    Ok(out)
}

/// What an applied operation does next (once: a replayed answer did
/// nothing again): the audit record and, for a status change, its
/// reactions (the customer's "on the way" and "done" notices, the ticket
/// resolved).
async fn audit_applied(st: &AppState, c: &Caller, op: &Operation, a: &Answer) -> Result<(), ApiError> {
    if a.replayed {
        return Ok(());
    }
    let action = format!("dispatch.job.{}", op_name(&op.op));
    let detail = format!("{} (operation {})", a.detail, a.client_id);
    audit::record(&st.db, &c.actor(), &action, &format!("work order {}", op.job), &detail).await?;
    if let Op::Status { to, .. } = &op.op
        && let Some(to) = Status::parse(to.trim())
    {
        let company = st.settings.billing.operator.name.clone();
        let s = &st.settings.dispatch;
        let (ch, desk) = (st.channels(), st.desk());
        for line in mast_app::dispatch::after_step(&st.db, s, ch, &desk, st.tz(), &company, op.job, to, &c.name).await?
        {
            tracing::info!(job = op.job, "{line}");
        }
    }
    Ok(())
}

fn forbidden() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only a signed-in staff member records field work")
}

// ------------------------------------------------------------------ today

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TodayQuery {
    /// An admin looks at another technician's route (their user id).
    pub tech: String,
}

/// `GET /tech`: the caller's route for today (an admin may pass `?tech=`).
pub async fn today(c: Caller, State(st): State<AppState>, Query(q): Query<TodayQuery>) -> Result<Response, ApiError> {
    let me = c.user_id.ok_or_else(forbidden)?;
    let admin = c.role == Role::Admin;
    let tech = match q.tech.trim() {
        "" => me,
        t if admin => {
            t.parse::<i64>().map_err(|_| ApiError::bad_request(format!("tech: {t:?} is not a technician's id")))?
        }
        // A technician sees their own route.
        _ => me,
    };
    let now = mast_store::now_ms();
    let day = mast_text_core::when::local_date(now, st.tz()).map(mast_text_core::when::fmt_date).unwrap_or_default();
    let list =
        jobs::list(&st.db, &Filter { day: Some(day.clone()), technician: Some(tech), ..Default::default() }).await?;
    let techs: Vec<(String, String)> = if admin {
        technicians::list(&st.db).await?.into_iter().map(|t| (t.user_id.to_string(), t.name)).collect()
    } else {
        Vec::new()
    };
    let whose = if tech == me {
        None
    } else {
        Some(technicians::find(&st.db, tech).await?.map(|t| t.name).unwrap_or_else(|| format!("user {tech}")))
    };
    let csrf = c.csrf.as_deref().unwrap_or("");
    let body = today_body(csrf, &day, &list, &techs, tech, whose.as_deref());
    Ok(page(&c, "Today", body).into_response())
}

fn sync_status() -> Markup {
    html! {
        div #sync-status .sync-status role="status" {
            p.sync-line { }
            ul.sync-problems { }
        }
    }
}

fn today_body(
    csrf: &str,
    day: &str,
    list: &[JobRow],
    techs: &[(String, String)],
    tech: i64,
    whose: Option<&str>,
) -> Markup {
    let drive: i64 = list.iter().filter_map(|j| j.planned_drive_s).sum();
    let done = list.iter().filter(|j| j.status == "done").count();
    let options: Vec<(&str, &str)> = techs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let selected = tech.to_string();
    let none = FormErrors::new();
    html! {
        link rel="stylesheet" href="/assets/tech.css";
        div #tech-app .tech data-csrf=(csrf) data-page="today" {
            h1 { "Today " span.muted { (day) } }
            @if let Some(name) = whose {
                p.notice { "The route of " (name) ". Only they can record work on these jobs." }
            }
            @if !options.is_empty() {
                (ui::form_with_class("filters tech-picker", "/tech", Method::Get, "", html! {
                    (Fields::new("today", &none).select_field("tech", "Technician", &options, &selected, FieldOpts::new()))
                    button type="submit" { "Show" }
                }))
            }
            (sync_status())
            @if list.is_empty() {
                p.empty-day { "No jobs for today." }
            } @else {
                p.day-summary {
                    (list.len()) @if list.len() == 1 { " job" } @else { " jobs" }
                    " · " (done) " done · planned driving " (fmt_drive(drive))
                }
                ol.job-cards {
                    @for j in list { li { (card(j)) } }
                }
            }
        }
        script src="/assets/tech.js" defer {}
    }
}

fn card(j: &JobRow) -> Markup {
    let href = format!("/tech/jobs/{}", j.id);
    let nav = nav_links(j.lat, j.lon);
    let tel = j.customer_phone.as_deref().and_then(tel_href);
    html! {
        article.job-card data-job=(j.id) data-status=(j.status) {
            div.job-head {
                span.job-time { (planned_start(j)) }
                (ui::tone_badge(status_tone(&j.status), &j.status))
                span.card-pending { }
            }
            h2.job-title { a.job-link href=(href) { (j.title) } }
            @if let Some(name) = &j.customer { p.job-customer { (name) } }
            @if !j.address.is_empty() { p.job-address { (j.address) } }
            p.job-meta.muted {
                (j.kind) " · " (j.duration_min) " min"
                @if let Some(w) = window(j) { " · window " (w) }
                @if let Some(d) = j.planned_drive_s { " · " (fmt_drive(d)) " drive" }
            }
            p.job-actions {
                @if let Some(n) = &nav {
                    a.button.nav-geo href=(n.geo) { "Navigate" }
                    a.button.nav-osm href=(n.osm) rel="noopener" target="_blank" { "Map" }
                }
                @if let Some(t) = &tel { a.button.tel href=(t) { "Call" } }
                a.button.open href=(href) { "Open" }
            }
        }
    }
}

// -------------------------------------------------------------------- job

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JobQuery {
    /// The operation just saved (`?done=note`).
    pub done: String,
}

/// What a job page shows besides the job: a message at the top, and the
/// form that failed with its errors and what was typed.
#[derive(Debug, Default)]
struct Shown {
    flash: Option<(FlashKind, String)>,
    op: String,
    errors: FormErrors,
    fields: OpFields,
}

fn saved_message(op: &str) -> &'static str {
    match op {
        "status" => "Status saved.",
        "note" => "Note saved.",
        "check" => "Checklist saved.",
        "parts" => "Parts recorded.",
        "photo" => "Photo saved.",
        "signature" => "Signature saved.",
        _ => "Saved.",
    }
}

/// `GET /tech/jobs/{id}`.
pub async fn job(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<JobQuery>,
) -> Result<Response, ApiError> {
    let flash = (!q.done.is_empty()).then(|| (FlashKind::Success, saved_message(q.done.trim()).to_string()));
    job_response(&c, &st, id, StatusCode::OK, Shown { flash, ..Default::default() }).await
}

/// The customer's radio as the monitoring sees it.
struct RadioRow {
    id: i64,
    label: String,
    mac: Option<String>,
    status: String,
    signal_now: Option<i64>,
    /// Mean and worst daily mean over 7 days, dBm.
    week: Option<(f64, f64)>,
    loss_pct: Option<f64>,
}

struct Radio {
    rows: Vec<RadioRow>,
    more: usize,
    outages: Vec<crate::monitoring::outages::IncidentView>,
}

/// The mean signal (weighted by samples) and the worst bucket's mean.
pub(crate) fn signal_summary(points: &[crate::monitoring::SignalPoint]) -> Option<(f64, f64)> {
    let pts: Vec<_> = points.iter().filter(|p| p.samples > 0 && p.signal_dbm.is_finite()).collect();
    let n: i64 = pts.iter().map(|p| p.samples).sum();
    if n == 0 {
        return None;
    }
    let mean = pts.iter().map(|p| p.signal_dbm * p.samples as f64).sum::<f64>() / n as f64;
    let worst = pts.iter().map(|p| p.signal_dbm).fold(f64::INFINITY, f64::min);
    Some((mean, worst))
}

/// The customer's radios (up to 3) with their signal over a week, and the
/// open outages touching them.
async fn radio_history(st: &AppState, customer: i64) -> Result<Radio, ApiError> {
    let devices = crate::monitoring::customer_devices(&st.db, customer).await?;
    let live: Vec<_> = devices.iter().filter(|d| d.retired_ms.is_none()).collect();
    let now = mast_store::now_ms();
    let mut rows = Vec::new();
    for d in live.iter().take(3) {
        let pts = crate::monitoring::signal_series(&st.db, d.id, now - 7 * DAY_MS, now, 7).await?;
        rows.push(RadioRow {
            id: d.id,
            label: d.label().to_string(),
            mac: d.mac.clone(),
            status: d.status.as_str().to_string(),
            signal_now: d.signal_dbm,
            week: signal_summary(&pts),
            loss_pct: d.loss_pct,
        });
    }
    let outages = crate::monitoring::outages::open_for_customer(&st.db, customer).await?;
    Ok(Radio { rows, more: live.len().saturating_sub(3), outages })
}

async fn job_response(
    c: &Caller,
    st: &AppState,
    id: i64,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, ApiError> {
    let j = jobs::get(&st.db, id).await?;
    let data = JobData {
        steps: jobs::steps(&st.db, id).await?,
        checks: jobs::checklist(&st.db, id).await?,
        notes: jobs::notes(&st.db, id).await?,
        photos: jobs::photos(&st.db, id).await?,
        parts: jobs::parts(&st.db, id).await?,
        signature: jobs::signature(&st.db, id).await?,
        radio: match j.customer_id {
            Some(cid) => Some(radio_history(st, cid).await?),
            None => None,
        },
    };
    let mine = c.user_id.is_some() && j.technician_id == c.user_id;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let body = job_body(&JobView { j: &j, data: &data, mine, csrf, tz: st.tz(), shown: &shown });
    Ok((status, page(c, &format!("Job #{id}: {}", j.title), body)).into_response())
}

struct JobData {
    steps: Vec<jobs::StepRow>,
    checks: Vec<jobs::CheckRow>,
    notes: Vec<jobs::NoteRow>,
    photos: Vec<jobs::PhotoRow>,
    parts: Vec<jobs::PartRow>,
    signature: Option<String>,
    radio: Option<Radio>,
}

struct JobView<'a> {
    j: &'a JobRow,
    data: &'a JobData,
    /// The job is the caller's: the forms show.
    mine: bool,
    csrf: &'a str,
    tz: &'a jiff::tz::TimeZone,
    shown: &'a Shown,
}

impl JobView<'_> {
    fn action(&self) -> String {
        format!("/tech/jobs/{}/op", self.j.id)
    }
    /// The errors for form `op` (only the form that failed has any).
    fn errors(&self, op: &str) -> FormErrors {
        if self.shown.op == op { self.shown.errors.clone() } else { FormErrors::new() }
    }
    /// What was typed in form `op`'s field, kept when it failed.
    fn kept<'b>(&'b self, op: &str, v: &'b str) -> &'b str {
        if self.shown.op == op { v } else { "" }
    }
    fn when(&self, ms: i64) -> String {
        mast_text_core::when::local_time(ms, self.tz)
    }
}

fn job_body(v: &JobView<'_>) -> Markup {
    let j = v.j;
    html! {
        link rel="stylesheet" href="/assets/tech.css";
        div #tech-app .tech data-csrf=(v.csrf) data-page="job" data-job=(j.id) data-status=(j.status) {
            p.back { a href="/tech" { "← Today" } }
            h1 { "#" (j.id) " " (j.title) }
            p.job-state {
                span #job-status class={ "badge " (status_tone(&j.status).class()) } { (j.status) }
                " " span.muted { (j.kind) " · " (j.priority) " priority" }
            }
            @if let Some((kind, text)) = &v.shown.flash { (ui::flash(*kind, text)) }
            (sync_status())
            section #pending .pending hidden {
                h2 { "Waiting to be sent" }
                ul #pending-list { }
            }
            @if !v.mine {
                p.notice {
                    @match &j.technician {
                        Some(t) => { "This job is " (t) "'s: only they can record work on it here." }
                        None => { "This job has no technician yet: nothing can be recorded on it here." }
                    }
                }
            }
            @if v.mine { (status_form(v)) }
            (facts(j))
            @if !j.notes.is_empty() {
                section.job-notes-dispatch { h2 { "From the dispatcher" } p.pre { (j.notes) } }
            }
            (radio_section(v))
            (checklist_section(v))
            (notes_section(v))
            (parts_section(v))
            (photos_section(v))
            (signature_section(v))
            (history_section(v))
        }
        script src="/assets/tech.js" defer {}
    }
}

fn status_form(v: &JobView<'_>) -> Markup {
    let next = next_statuses(v.j.status());
    let errors = v.errors("status");
    let fl = Fields::new("status", &errors);
    html! {
        form.op-status.stack method="post" action=(v.action()) {
            (ui::csrf_field(v.csrf))
            (ui::hidden("op", "status"))
            (fl.summary())
            div.status-buttons {
                @for (to, label) in PHONE_TARGETS {
                    @let from: Vec<&str> = allowed_from(to).into_iter().map(Status::as_str).collect();
                    button.status-button type="submit" name="to" value=(to.as_str()) data-from=(from.join(" "))
                        hidden[!next.contains(&to)] { (label) }
                }
            }
            p.status-none.muted hidden[!next.is_empty()] { "No status change to make from here." }
            (fl.text_field("note", "Note with the change (optional)", v.kept("status", &v.shown.fields.note),
                FieldOpts::new().max_len(5000)))
        }
    }
}

fn facts(j: &JobRow) -> Markup {
    let nav = nav_links(j.lat, j.lon);
    let tel = j.customer_phone.as_deref().and_then(tel_href);
    html! {
        section.job-facts {
            dl.facts {
                @if let Some(name) = &j.customer {
                    dt { "Customer" }
                    dd {
                        @match j.customer_id {
                            Some(cid) => { a href={ "/customers/" (cid) } { (name) } }
                            None => { (name) }
                        }
                    }
                }
                @if let Some(p) = &j.customer_phone {
                    dt { "Phone" }
                    dd { @match &tel { Some(t) => { a.tel href=(t) { (p) } } None => { (p) } } }
                }
                @if let Some(e) = &j.customer_email {
                    dt { "Email" } dd { a href={ "mailto:" (e) } { (e) } }
                }
                dt { "Address" } dd { (j.address) }
                dt { "Window" } dd { (window(j).unwrap_or_else(|| "any time".to_string())) }
                dt { "Planned start" } dd { (planned_start(j)) }
                dt { "Duration" } dd { (j.duration_min) " min" }
                @if let Some(t) = j.ticket_id {
                    dt { "Ticket" }
                    dd { a href={ "/tickets/" (t) } { "#" (t) @if let Some(s) = &j.ticket_subject { " " (s) } } }
                }
            }
            @if let Some(n) = &nav {
                p.job-actions {
                    a.button.nav-geo href=(n.geo) { "Navigate" }
                    a.button.nav-osm href=(n.osm) rel="noopener" target="_blank" { "OpenStreetMap" }
                    @if let Some(t) = &tel { a.button.tel href=(t) { "Call" } }
                }
            } @else if let Some(t) = &tel {
                p.job-actions { a.button.tel href=(t) { "Call" } }
            }
        }
    }
}

fn radio_section(v: &JobView<'_>) -> Markup {
    let Some(r) = &v.data.radio else { return html! {} };
    let dbm = |x: f64| format!("{x:.0} dBm");
    let mut t = Table::new("No radio of this customer is monitored.")
        .col("Radio")
        .col("Status")
        .num_col("Signal now")
        .num_col("7-day average")
        .num_col("Worst day")
        .num_col("Loss (10 min)");
    for d in &r.rows {
        t.push(vec![
            html! {
                a href={ "/devices/" (d.id) } { (d.label) }
                @if let Some(m) = &d.mac { br; span.mono.muted { (m) } }
            },
            ui::badge(&d.status),
            html! { (d.signal_now.map(|s| format!("{s} dBm")).unwrap_or_else(|| "—".into())) },
            html! { (d.week.map(|w| dbm(w.0)).unwrap_or_else(|| "—".into())) },
            html! { (d.week.map(|w| dbm(w.1)).unwrap_or_else(|| "—".into())) },
            html! { (d.loss_pct.map(|l| format!("{l:.0} %")).unwrap_or_else(|| "—".into())) },
        ]);
    }
    html! {
        section #radio .radio-history {
            h2 { "The customer's radio" }
            (t)
            @if r.more > 0 { p.muted { "and " (r.more) " more on the customer's page" } }
            @if r.outages.is_empty() {
                p.muted.no-outage { "No open outage affects this customer." }
            } @else {
                ul.outages {
                    @for o in &r.outages {
                        li {
                            span.badge.down { "outage" } " "
                            a href={ "/incidents/" (o.id) } { (o.title()) }
                            " since " (v.when(o.started_ms))
                        }
                    }
                }
            }
        }
    }
}

fn checklist_section(v: &JobView<'_>) -> Markup {
    let errors = v.errors("check");
    let fl = Fields::new("check", &errors);
    html! {
        section.tech-checklist {
            h2 { "Checklist" }
            (fl.summary())
            @if v.data.checks.is_empty() {
                p.muted { "No checklist for this job." }
            } @else {
                ul.check-items {
                    @for ch in &v.data.checks {
                        li {
                            @if v.mine {
                                form.op-check method="post" action=(v.action()) {
                                    (ui::csrf_field(v.csrf))
                                    (ui::hidden("op", "check"))
                                    (ui::hidden("position", &ch.position.to_string()))
                                    label.check {
                                        input type="checkbox" name="done" value="1" data-position=(ch.position)
                                            checked[ch.done != 0];
                                        span.check-label { (ch.label) }
                                    }
                                    button.nojs-only type="submit" { "Save" }
                                }
                            } @else {
                                label.check {
                                    input type="checkbox" disabled checked[ch.done != 0];
                                    span.check-label { (ch.label) }
                                }
                            }
                            @if let (Some(by), Some(ms)) = (&ch.done_by, ch.done_ms) {
                                @if ch.done != 0 { p.muted.check-by { "ticked by " (by) ", " (v.when(ms)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn notes_section(v: &JobView<'_>) -> Markup {
    let errors = v.errors("note");
    let fl = Fields::new("note", &errors);
    html! {
        section.tech-notes {
            h2 { "Notes" }
            ul #job-notes .notes {
                @for n in &v.data.notes {
                    li {
                        p.pre { (n.body) }
                        p.muted { (n.actor) ", " (v.when(n.at_ms)) }
                    }
                }
            }
            @if v.data.notes.is_empty() { p.muted.no-notes { "No notes yet." } }
            @if v.mine {
                form.op-note.stack method="post" action=(v.action()) {
                    (ui::csrf_field(v.csrf))
                    (ui::hidden("op", "note"))
                    (fl.summary())
                    (fl.textarea_field("body", "Add a note", v.kept("note", &v.shown.fields.body),
                        FieldOpts::new().required().max_len(5000)))
                    button type="submit" { "Save note" }
                }
            }
        }
    }
}

fn parts_section(v: &JobView<'_>) -> Markup {
    let errors = v.errors("parts");
    let fl = Fields::new("parts", &errors);
    let mut t = Table::new("No parts yet.").col("Part").col("MAC / serial").col("");
    for p in &v.data.parts {
        let id = match (&p.mac, &p.serial) {
            (Some(m), Some(s)) => format!("{m} / {s}"),
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => String::new(),
        };
        t.push(vec![
            html! { (p.model) @if p.quantity > 1 { " × " (p.quantity) } },
            html! { span.mono { (id) } },
            html! { @if p.used != 0 { "installed" } @else { span.muted { "to bring" } } },
        ]);
    }
    html! {
        section.tech-parts {
            h2 { "Parts" }
            (t)
            @if v.mine {
                form.op-parts.stack method="post" action=(v.action()) {
                    (ui::csrf_field(v.csrf))
                    (ui::hidden("op", "parts"))
                    (fl.summary())
                    (fl.textarea_field("codes", "Parts installed: scan or type MACs or serials, one per line",
                        v.kept("parts", &v.shown.fields.codes),
                        FieldOpts::new().mono().scan().hint("Each unit is installed at the customer from where it is.")))
                    button type="submit" { "Record parts" }
                }
            }
        }
    }
}

fn photos_section(v: &JobView<'_>) -> Markup {
    let errors = v.errors("photo");
    let fl = Fields::new("photo", &errors);
    let j = v.j;
    html! {
        section.tech-photos {
            h2 { "Photos" }
            div #job-photos .photos {
                @for p in &v.data.photos {
                    @let src = format!("/dispatch/jobs/{}/photos/{}", j.id, p.id);
                    a.photo href=(src) {
                        img.thumb src=(src) alt={ "Photo " (p.id) " by " (p.actor) } loading="lazy";
                    }
                }
            }
            @if v.data.photos.is_empty() { p.muted.no-photos { "No photos yet." } }
            @if v.mine {
                form.op-photo.stack method="post" action=(v.action()) enctype="multipart/form-data" {
                    (ui::csrf_field(v.csrf))
                    (ui::hidden("op", "photo"))
                    (fl.summary())
                    div.field.has-error[errors.get("photo").is_some()] {
                        label for="photo-file" { "Add a photo" }
                        input #photo-file type="file" name="photo" accept="image/*" capture="environment" required
                            aria-invalid=[errors.get("photo").map(|_| "true")];
                        @if let Some(e) = errors.get("photo") { p.field-error { (e) } }
                        p.field-hint { "JPEG or PNG. The page shrinks photos before sending; without JavaScript a photo must be under 1 MB." }
                    }
                    button type="submit" { "Save photo" }
                }
            }
        }
    }
}

fn signature_section(v: &JobView<'_>) -> Markup {
    let errors = v.errors("signature");
    let fl = Fields::new("signature", &errors);
    let sig = v.data.signature.as_deref().filter(|s| s.starts_with("data:image/png;base64,"));
    html! {
        section.tech-signature {
            h2 { "Customer's signature" }
            div #job-signature {
                @if let Some(png) = sig {
                    figure.signature {
                        img.signature-img src=(png) alt="The customer's signature";
                        figcaption { "Signed by " (v.j.signed_by.as_deref().unwrap_or("?")) }
                    }
                } @else {
                    p.muted.no-signature { "Not signed yet." }
                }
            }
            @if v.mine {
                form.op-signature.stack method="post" action=(v.action()) {
                    (ui::csrf_field(v.csrf))
                    (ui::hidden("op", "signature"))
                    input type="hidden" name="png" value="";
                    (fl.summary())
                    div.sig-pad {
                        canvas #signature width="600" height="160" aria-label="Signature box: sign with a finger" { }
                    }
                    p.sig-tools { button.sig-clear type="button" { "Clear" } }
                    p.nojs-only.field-hint { "Signing needs JavaScript." }
                    (fl.text_field("signed_by", "Signed by", v.kept("signature", &v.shown.fields.signed_by),
                        FieldOpts::new().required().max_len(100).autocomplete("off")))
                    button type="submit" { "Save signature" }
                }
            }
        }
    }
}

fn history_section(v: &JobView<'_>) -> Markup {
    let mut t = Table::new("No history.").col("Status").col("When").col("By").col("Note");
    for s in &v.data.steps {
        t.push(vec![
            ui::tone_badge(status_tone(&s.status), &s.status),
            html! { (v.when(s.at_ms)) },
            html! { (s.actor) },
            html! { (s.note) },
        ]);
    }
    html! { section.tech-history { h2 { "History" } (t) } }
}

// --------------------------------------------------------------------- op

/// Reads an operation form: URL-encoded, or multipart (the photo).
async fn read_op_form(req: Request) -> Result<OpFields, String> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut f = OpFields::default();
    if multipart {
        let mut form =
            Multipart::from_request(req, &()).await.map_err(|e| format!("the form could not be read: {e}"))?;
        loop {
            match form.next_field().await {
                Ok(Some(field)) => {
                    let name = field.name().unwrap_or("").to_string();
                    if name == "photo" {
                        let bytes = field
                            .bytes()
                            .await
                            .map_err(|_| "the photo is too large or was cut off: at most 1 MB".to_string())?;
                        f.photo = Some(bytes.to_vec());
                    } else {
                        let text = field.text().await.map_err(|_| format!("the field {name} could not be read"))?;
                        f.set(&name, text);
                    }
                }
                Ok(None) => break,
                Err(_) => return Err("the form could not be read (too large? at most 1 MB)".to_string()),
            }
        }
    } else {
        let bytes = axum::body::to_bytes(req.into_body(), 256 * 1024)
            .await
            .map_err(|_| "the form is too large (at most 256 KB)".to_string())?;
        for (k, val) in form_urlencoded::parse(&bytes) {
            f.set(&k, val.into_owned());
        }
    }
    Ok(f)
}

/// `POST /tech/jobs/{id}/op`: one operation from a form (the page without
/// JavaScript). Saved: back to the job page with a message; refused or in
/// conflict: the page again with the reason next to the form.
pub async fn op(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    req: Request,
) -> Result<Response, ApiError> {
    let user = c.user_id.ok_or_else(forbidden)?;
    let fields = match read_op_form(req).await {
        Ok(f) => f,
        Err(why) => {
            let shown = Shown { flash: Some((FlashKind::Error, why)), ..Default::default() };
            return job_response(&c, &st, id, StatusCode::BAD_REQUEST, shown).await;
        }
    };
    let client_id = mast_store::fleet::random_secret("op-");
    let operation = match build_op(id, &fields, &client_id, mast_store::now_ms()) {
        Ok(o) => o,
        Err(e) => {
            let mut errors = FormErrors::new();
            errors.field(e.field, e.message.clone());
            let shown = Shown {
                flash: Some((FlashKind::Error, format!("Not saved: {}.", e.message))),
                op: fields.op.trim().to_string(),
                errors,
                fields,
            };
            return job_response(&c, &st, id, StatusCode::BAD_REQUEST, shown).await;
        }
    };
    let answers = sync::apply(&st.db, user, &c.name, std::slice::from_ref(&operation)).await?;
    let Some(a) = answers.into_iter().next() else { return Err(ApiError::internal()) };
    let name = op_name(&operation.op);
    match a.outcome {
        Outcome::Applied => {
            audit_applied(&st, &c, &operation, &a).await?;
            Ok(Redirect::to(&format!("/tech/jobs/{id}?done={name}")).into_response())
        }
        Outcome::Conflict | Outcome::Refused => {
            let status = if a.outcome == Outcome::Conflict { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
            let mut errors = FormErrors::new();
            errors.form(format!("Not saved: {}", a.detail));
            let shown = Shown {
                flash: Some((FlashKind::Error, format!("Not saved: {}", a.detail))),
                op: name.to_string(),
                errors,
                fields,
            };
            job_response(&c, &st, id, status, shown).await
        }
    }
}

// ------------------------------------------------------------------- sync

/// A JSON error for `/tech/sync` (built here rather than returned as an
/// [`ApiError`], which the page routes turn into HTML).
fn json_error(e: &ApiError) -> Response {
    (e.status, Json(json!({"error": {"code": e.code, "message": e.message}}))).into_response()
}

/// `POST /tech/sync` (multipart: `csrf`, `ops` = a JSON array of
/// operations): applies them and answers `{"answers": [...]}`, one per
/// operation in order. Always JSON, errors too.
pub async fn sync(c: Caller, State(st): State<AppState>, form: Result<Multipart, MultipartRejection>) -> Response {
    match sync_inner(&c, &st, form).await {
        Ok(r) => r,
        Err(e) => json_error(&e),
    }
}

async fn sync_inner(
    c: &Caller,
    st: &AppState,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let user = c.user_id.ok_or_else(forbidden)?;
    let mut form = form.map_err(|e| {
        ApiError::bad_request(format!("send a multipart form with the fields csrf and ops (JSON): {e}"))
    })?;
    let mut text = None;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                if field.name() == Some("ops") {
                    text =
                        Some(field.text().await.map_err(|_| ApiError::bad_request("the ops field could not be read"))?);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(ApiError::bad_request(format!("the form could not be read: {e}"))),
        }
    }
    let text = text.ok_or_else(|| ApiError::bad_request("the form has no ops field (a JSON array of operations)"))?;
    let parsed = parse_ops(&text).map_err(ApiError::bad_request)?;
    let valid: Vec<Operation> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut applied = sync::apply(&st.db, user, &c.name, &valid).await?.into_iter();
    let mut ops = valid.iter();
    let mut answers = Vec::with_capacity(parsed.len());
    for p in parsed {
        match p {
            Ok(_) => {
                let (Some(o), Some(a)) = (ops.next(), applied.next()) else { return Err(ApiError::internal()) };
                if a.outcome == Outcome::Applied {
                    audit_applied(st, c, o, &a).await?;
                }
                answers.push(a);
            }
            Err(a) => answers.push(a),
        }
    }
    Ok(Json(json!({ "answers": answers })).into_response())
}

// --------------------------------------------------------- service worker

/// `GET /tech/sw.js`: the service worker. `Service-Worker-Allowed: /tech`
/// lets it control `/tech` itself as well as the pages below it (the
/// default scope of a script at `/tech/sw.js` is `/tech/`, which does not
/// include `/tech`).
pub async fn service_worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (HeaderName::from_static("service-worker-allowed"), "/tech"),
        ],
        SERVICE_WORKER,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(op: &str) -> OpFields {
        OpFields { op: op.into(), ..Default::default() }
    }

    #[test]
    fn the_phone_offers_the_technicians_next_statuses() {
        assert_eq!(next_statuses(Status::Scheduled), vec![Status::EnRoute]);
        assert_eq!(next_statuses(Status::EnRoute), vec![Status::OnSite, Status::Scheduled]);
        assert_eq!(next_statuses(Status::OnSite), vec![Status::Done, Status::NeedsRevisit]);
        for s in [Status::New, Status::Done, Status::Cancelled, Status::NeedsRevisit] {
            assert!(next_statuses(s).is_empty(), "{s}");
        }
        assert!(!phone_may_set(Status::Cancelled) && !phone_may_set(Status::New));
        assert_eq!(allowed_from(Status::Scheduled), vec![Status::EnRoute]);
        assert!(allowed_from(Status::Cancelled).is_empty());
        // Every offer is one the core allows.
        for from in Status::ALL {
            for to in next_statuses(from) {
                assert!(from.allows(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn navigation_links() {
        let n = nav_links(Some(45.062), Some(-93.081)).expect("a place");
        assert_eq!(n.geo, "geo:45.062,-93.081?q=45.062,-93.081");
        assert_eq!(n.osm, "https://www.openstreetmap.org/?mlat=45.062&mlon=-93.081#map=17/45.062/-93.081");
        let n = nav_links(Some(10.0), Some(0.1234567)).expect("a place");
        assert_eq!(n.geo, "geo:10,0.123457?q=10,0.123457");
        assert_eq!(nav_links(None, Some(1.0)), None);
        assert_eq!(nav_links(Some(91.0), Some(1.0)), None);
        assert_eq!(nav_links(Some(f64::NAN), Some(1.0)), None);
        assert_eq!(coord(-0.0000001), "0");
    }

    #[test]
    fn phone_links() {
        assert_eq!(tel_href("+1 (555) 010-0100").as_deref(), Some("tel:+15550100100"));
        assert_eq!(tel_href(" 0612 34 56 78 ").as_deref(), Some("tel:0612345678"));
        assert_eq!(tel_href("none"), None);
        assert_eq!(tel_href(""), None);
        assert_eq!(tel_href("\"><script>1").as_deref(), Some("tel:1"));
    }

    #[test]
    fn drive_times() {
        assert_eq!(fmt_drive(0), "0 min");
        assert_eq!(fmt_drive(1490), "25 min");
        assert_eq!(fmt_drive(3900), "1 h 5 min");
        assert_eq!(fmt_drive(-5), "0 min");
    }

    #[test]
    fn base64_matches_the_standard_vectors() {
        for (plain, coded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
        assert_eq!(base64(&[0xFF, 0xD8, 0xFF]), "/9j/");
    }

    #[test]
    fn a_form_makes_one_operation() {
        let mut f = fields("status");
        f.set("to", "on-site".into());
        f.set("note", "  gate code 1234 ".into());
        let o = build_op(5, &f, "op-1", 1_000).expect("valid");
        assert_eq!(o.job, 5);
        assert_eq!(o.client_id, "op-1");
        let v = serde_json::to_value(&o).expect("json");
        assert_eq!(
            v,
            json!({"client_id": "op-1", "job": 5, "op": "status", "to": "on-site", "at_ms": 1000, "note": "gate code 1234"})
        );

        let mut f = fields("check");
        f.set("position", "2".into());
        assert!(matches!(build_op(1, &f, "x", 0).map(|o| o.op), Ok(Op::Check { position: 2, done: false, .. })));
        f.set("done", "1".into());
        assert!(matches!(build_op(1, &f, "x", 0).map(|o| o.op), Ok(Op::Check { position: 2, done: true, .. })));

        let mut f = fields("parts");
        f.set("codes", "aa:bb:cc:dd:ee:ff\r\n\nSN123 \n".into());
        match build_op(1, &f, "x", 0).map(|o| o.op) {
            Ok(Op::Parts { codes }) => assert_eq!(codes, vec!["aa:bb:cc:dd:ee:ff", "SN123"]),
            other => panic!("{other:?}"),
        }

        let mut f = fields("photo");
        f.photo = Some(vec![0xFF, 0xD8, 0xFF]);
        assert!(matches!(build_op(1, &f, "x", 7).map(|o| o.op), Ok(Op::Photo { data, at_ms: 7 }) if data == "/9j/"));

        let mut f = fields("signature");
        f.set("png", "data:image/png;base64,iVBORw0KGgo=".into());
        f.set("signed_by", " Ada ".into());
        assert!(
            matches!(build_op(1, &f, "x", 0).map(|o| o.op), Ok(Op::Signature { signed_by, .. }) if signed_by == "Ada")
        );
    }

    #[test]
    fn a_bad_form_names_its_field() {
        let err = |f: &OpFields| build_op(1, f, "x", 0).map(|_| ()).unwrap_err().field;
        assert_eq!(err(&fields("status")), "to");
        let mut f = fields("status");
        f.set("to", "cancelled".into());
        assert_eq!(err(&f), "to");
        assert_eq!(err(&fields("note")), "body");
        let mut f = fields("note");
        f.set("body", "   ".into());
        assert_eq!(err(&f), "body");
        let mut f = fields("check");
        f.set("position", "first".into());
        assert_eq!(err(&f), "position");
        assert_eq!(err(&fields("parts")), "codes");
        assert_eq!(err(&fields("photo")), "photo");
        let mut f = fields("photo");
        f.photo = Some(Vec::new());
        assert_eq!(err(&f), "photo");
        let mut f = fields("signature");
        f.set("signed_by", "Ada".into());
        assert_eq!(err(&f), "signature");
        f.set("png", "data:image/png;base64,AAAA".into());
        f.set("signed_by", " ".into());
        assert_eq!(err(&f), "signed_by");
        assert_eq!(err(&fields("delete-everything")), "op");
    }

    #[test]
    fn sync_requests_are_parsed_op_by_op() {
        let text = r#"[
            {"client_id":"a1","job":5,"op":"status","to":"en-route","at_ms":1,"note":""},
            {"client_id":"a2","job":5,"op":"note","body":"hi","at_ms":2},
            {"client_id":"a3","job":5,"op":"teleport"},
            {"client_id":"a4","job":6,"op":"status","to":"cancelled","at_ms":3}
        ]"#;
        let p = parse_ops(text).expect("an array");
        assert_eq!(p.len(), 4);
        assert!(matches!(&p[0], Ok(o) if o.client_id == "a1" && matches!(o.op, Op::Status { .. })));
        assert!(matches!(&p[1], Ok(o) if matches!(&o.op, Op::Note { body, .. } if body == "hi")));
        assert!(matches!(&p[2], Err(a) if a.client_id == "a3" && a.job == 5 && a.outcome == Outcome::Refused));
        assert!(matches!(&p[3], Err(a) if a.client_id == "a4" && a.detail.contains("dispatcher")));

        assert!(parse_ops("").unwrap_err().contains("not valid JSON"));
        assert!(parse_ops("{\"ops\":1}").unwrap_err().contains("array"));
        assert!(parse_ops("[{\"job\":1}]").unwrap_err().contains("client_id"));
        let many =
            format!("[{}]", vec![r#"{"client_id":"x","job":1,"op":"parts","codes":["a"]}"#; MAX_OPS + 1].join(","));
        assert!(parse_ops(&many).unwrap_err().contains("at most 200"));
        assert_eq!(parse_ops("[]").expect("empty").len(), 0);
    }

    #[test]
    fn signal_summaries() {
        use crate::monitoring::SignalPoint;
        let p = |s: f64, n: i64| SignalPoint { t_ms: 0, signal_dbm: s, samples: n };
        assert_eq!(signal_summary(&[]), None);
        assert_eq!(signal_summary(&[p(-60.0, 0)]), None);
        assert_eq!(signal_summary(&[p(-60.0, 3), p(-70.0, 1)]), Some((-62.5, -70.0)));
    }

    #[test]
    fn the_service_worker_is_served_for_the_tech_scope() {
        assert!(SERVICE_WORKER.contains("/tech"));
    }

    async fn body(res: Response) -> String {
        String::from_utf8(axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap()
    }

    fn post(uri: &str, content_type: &str, bytes: Vec<u8>) -> Request {
        Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(bytes))
            .unwrap()
    }

    /// A multipart body: (name, file name, bytes) parts.
    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
        let boundary = "tech-test-boundary";
        let mut b = Vec::new();
        for (name, file, bytes) in parts {
            b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(f) => b.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/jpeg\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            b.extend_from_slice(bytes);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), b)
    }

    async fn sync_with(c: &Caller, st: &AppState, ops: &str) -> (StatusCode, serde_json::Value) {
        let (ct, bytes) = multipart(&[("csrf", None, b"tok"), ("ops", None, ops.as_bytes())]);
        let form = Multipart::from_request(post("/tech/sync", &ct, bytes), &()).await;
        let res = sync(c.clone(), State(st.clone()), form).await;
        let status = res.status();
        let ct = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(ct.starts_with("application/json"), "{ct}");
        (status, serde_json::from_str(&body(res).await).unwrap())
    }

    /// The pages, the form fallback and the sync endpoint on a real database.
    #[tokio::test]
    async fn a_technicians_day_end_to_end() {
        use mast_dispatch_core::geo::Point;
        use mast_store::customers::{self, CustomerInput};
        use mast_store::dispatch::{JobInput, TechnicianInput};
        let dir = std::env::temp_dir().join(format!("mast-web-tech-{}-{}", std::process::id(), mast_store::now_ms()));
        let cfg = mast_app::config::Config { data_dir: dir.clone(), ..Default::default() };
        let st = AppState::new(mast_app::App::open(&cfg).await.unwrap(), "127.0.0.1:8080".parse().unwrap(), 4433);
        let u =
            crate::staff::add_user(&st.db, "tom@wisp.test", Role::Technician, "a long enough password").await.unwrap();
        let t = TechnicianInput {
            name: "Tom".into(),
            shift_start_min: 8 * 60,
            shift_end_min: 17 * 60,
            work_days: (1..=7).collect(),
            start: Point::new(44.9, -93.2),
            active: true,
            ..Default::default()
        };
        technicians::save(&st.db, u.id, &t).await.unwrap();
        let cust = customers::create(
            &st.db,
            &CustomerInput {
                name: "<b>Jo</b>".into(),
                phone: Some("+1 555 0100".into()),
                lat: Some(44.91),
                lon: Some(-93.21),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let input = JobInput {
            title: "Fix Jo's radio".into(),
            customer_id: Some(cust.id),
            address: "12 Ridge Rd".into(),
            lat: Some(44.91),
            lon: Some(-93.21),
            duration_min: 45,
            ..Default::default()
        };
        let j = jobs::create(&st.db, &input, "disp").await.unwrap();
        let day = mast_text_core::when::local_date(mast_store::now_ms(), st.tz())
            .map(mast_text_core::when::fmt_date)
            .unwrap();
        let change = jobs::Change {
            to: Status::Scheduled,
            at_ms: mast_store::now_ms(),
            actor: "disp".into(),
            note: String::new(),
            schedule: Some((u.id, day)),
            revision: None,
        };
        jobs::change(&st.db, j.id, &change).await.unwrap();
        let c = Caller {
            name: u.email.clone(),
            role: Role::Technician,
            user_id: Some(u.id),
            csrf: Some("tok".into()),
            ip: None,
            path: "/tech".into(),
            waiting: Default::default(),
        };

        // Today: the job as a card, links to call and navigate, the token for tech.js.
        let res = today(c.clone(), State(st.clone()), Query(TodayQuery::default())).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = body(res).await;
        for want in [
            format!(r#"class="job-link" href="/tech/jobs/{}""#, j.id),
            "tel:+15550100".into(),
            "geo:44.91,-93.21?q=44.91,-93.21".into(),
            r#"data-csrf="tok""#.into(),
            r#"id="sync-status" role="status""#.into(),
            r#"<script src="/assets/tech.js" defer"#.into(),
            r#"href="/assets/tech.css""#.into(),
            "&lt;b&gt;Jo&lt;/b&gt;".into(),
        ] {
            assert!(html.contains(&want), "{want} in {html}");
        }
        assert!(!html.contains("<b>Jo"));

        // The job page: the forms a browser test drives.
        let page_of =
            async |q: JobQuery| body(job(c.clone(), State(st.clone()), Path(j.id), Query(q)).await.unwrap()).await;
        let html = page_of(JobQuery::default()).await;
        for want in [
            r#"id="job-status""#,
            r#"<form class="op-status stack" method="post" action="/tech/jobs/"#,
            r#"name="to" value="en-route""#,
            r#"<form class="op-note stack" method="post""#,
            r#"<form class="op-parts stack" method="post""#,
            "data-scan",
            r#"capture="environment""#,
            r#"<canvas id="signature""#,
            r#"name="signed_by""#,
            r#"enctype="multipart/form-data""#,
        ] {
            assert!(html.contains(want), "{want} in {html}");
        }

        // The form fallback: a status change, then back to the page.
        let form = |b: &str| post("/op", "application/x-www-form-urlencoded", b.as_bytes().to_vec());
        let res = op(c.clone(), State(st.clone()), Path(j.id), form("csrf=tok&op=status&to=en-route")).await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = res.headers().get(header::LOCATION).unwrap().to_str().unwrap().to_string();
        assert_eq!(to, format!("/tech/jobs/{}?done=status", j.id));
        assert_eq!(jobs::get(&st.db, j.id).await.unwrap().status, "en-route");
        assert!(page_of(JobQuery { done: "status".into() }).await.contains("Status saved."));
        // A note without text: the reason next to the field.
        let res = op(c.clone(), State(st.clone()), Path(j.id), form("csrf=tok&op=note&body=+")).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(body(res).await.contains(r#"id="note-body-error""#));
        // Done straight from en route: the status machine says no.
        let res = op(c.clone(), State(st.clone()), Path(j.id), form("csrf=tok&op=status&to=done")).await.unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(body(res).await.contains("Not saved"));
        // A photo as multipart.
        let (ct, bytes) = multipart(&[
            ("csrf", None, b"tok"),
            ("op", None, b"photo"),
            ("photo", Some("p.jpg"), &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
        ]);
        let res = op(c.clone(), State(st.clone()), Path(j.id), post("/op", &ct, bytes)).await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(jobs::photos(&st.db, j.id).await.unwrap().len(), 1);

        // The sync endpoint: answers in order, a bad one refused alone.
        let ops = format!(
            r#"[{{"client_id":"a1","job":{id},"op":"note","body":"dog in the yard","at_ms":1}},
                {{"client_id":"a2","job":{id},"op":"status","to":"on-site","at_ms":2,"note":""}},
                {{"client_id":"a3","job":{id},"op":"fly"}},
                {{"client_id":"a4","job":{id},"op":"status","to":"cancelled","at_ms":3}}]"#,
            id = j.id
        );
        let (status, v) = sync_with(&c, &st, &ops).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let outcomes: Vec<&str> =
            v["answers"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["applied", "applied", "refused", "refused"], "{v}");
        assert_eq!(v["answers"][0]["client_id"], "a1");
        assert_eq!(jobs::get(&st.db, j.id).await.unwrap().status, "on-site");
        // Sent again (the answer was lost): the same answers, nothing twice.
        let (_, again) = sync_with(&c, &st, &ops).await;
        assert_eq!(again["answers"][1]["outcome"], "applied");
        assert_eq!(jobs::notes(&st.db, j.id).await.unwrap().len(), 1);
        // Bad JSON: a clear 400, in JSON.
        let (status, v) = sync_with(&c, &st, "not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(v["error"]["message"].as_str().unwrap().contains("not valid JSON"), "{v}");
        let res = sync(c.clone(), State(st.clone()), Multipart::from_request(form("ops=[]"), &()).await).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // Someone else's job: a conflict, never applied.
        let other = Caller { user_id: Some(u.id + 1000), ..c.clone() };
        let (_, v) = sync_with(
            &other,
            &st,
            &format!(r#"[{{"client_id":"b1","job":{},"op":"note","body":"x","at_ms":1}}]"#, j.id),
        )
        .await;
        assert_eq!(v["answers"][0]["outcome"], "conflict", "{v}");

        // Someone else's job page: read-only. An admin may look at a technician's route.
        let html =
            body(job(other.clone(), State(st.clone()), Path(j.id), Query(JobQuery::default())).await.unwrap()).await;
        assert!(html.contains("only they can record work") && !html.contains("op-status"), "{html}");
        let boss =
            crate::staff::add_user(&st.db, "boss@wisp.test", Role::Admin, "a long enough password").await.unwrap();
        let admin = Caller { name: boss.email.clone(), role: Role::Admin, user_id: Some(boss.id), ..c.clone() };
        let html = body(today(admin.clone(), State(st.clone()), Query(TodayQuery::default())).await.unwrap()).await;
        assert!(html.contains("No jobs for today."), "the admin's own (empty) route");
        let route =
            today(admin.clone(), State(st.clone()), Query(TodayQuery { tech: u.id.to_string() })).await.unwrap();
        let html = body(route).await;
        assert!(html.contains("The route of Tom") && html.contains(&format!("/tech/jobs/{}", j.id)), "{html}");
        let bad = today(admin, State(st.clone()), Query(TodayQuery { tech: "tom".into() })).await.unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        // A technician's ?tech= is ignored: their own route.
        let own = today(other.clone(), State(st.clone()), Query(TodayQuery { tech: u.id.to_string() })).await.unwrap();
        assert!(body(own).await.contains("No jobs for today."));

        let audit = crate::audit::list(&st.db, 50, 0).await.unwrap();
        assert!(audit.iter().any(|e| e.action == "dispatch.job.status"));
        assert!(audit.iter().any(|e| e.action == "dispatch.job.photo"));
        assert!(audit.iter().any(|e| e.action == "dispatch.job.note"));

        let res = service_worker().await;
        assert_eq!(res.headers().get("service-worker-allowed").unwrap(), "/tech");
        assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-cache");
        assert!(res.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/javascript"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
