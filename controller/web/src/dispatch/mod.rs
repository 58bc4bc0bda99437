//! Dispatch pages (`/dispatch`): the board (a day per technician, the
//! unscheduled jobs, drag to reassign or reorder, "plan the day"), the
//! week, work orders ([`jobs`]), technicians and zones ([`people`]), the
//! outcome reports ([`reports`]), the JSON API ([`api`]) and the
//! technician's phone view ([`tech`], `/tech`).
//!
//! Dragging a card on the board submits the card's own move form (a
//! technician and the card to go before), so the board works without
//! JavaScript too: each card has the form, `mast.js` only fills it on a
//! drop. A move re-times the technician's day (drive estimates, windows)
//! and pins the job to them, so the next "plan the day" keeps it there.

pub mod api;
pub mod jobs;
pub mod people;
pub mod reports;
pub mod tech;

use crate::pages::page;
use crate::staff::Role;
use crate::ui::{self, Markup, Method, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_dispatch_core::job::Status;
use mast_store::StoreError;
use mast_store::dispatch::jobs::{self as store, Change, Filter, JobRow};
use mast_store::dispatch::{TechnicianRow, hhmm, technicians};
use serde::Deserialize;

/// Who plans, assigns and creates work orders.
pub const DISPATCHERS: &[Role] = &[Role::Admin, Role::Support];
/// Who works jobs in the field (the phone view).
pub const FIELD: &[Role] = &[Role::Admin, Role::Technician];
/// Who may change a job's status from its staff page.
pub const FIELD_AND_DESK: &[Role] = &[Role::Admin, Role::Support, Role::Technician];

/// Route colours on the board and the map, by technician order.
pub const COLOURS: &[&str] =
    &["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];

/// Today in the operator's time zone.
pub fn today(st: &AppState) -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned_datetime(st.tz().clone()).date()
}

/// The day of a `?day=` query: `YYYY-MM-DD`, else today.
pub fn day_of(st: &AppState, q: Option<&str>) -> jiff::civil::Date {
    q.and_then(|d| d.trim().parse().ok()).unwrap_or_else(|| today(st))
}

pub(crate) fn subnav(role: Role) -> Markup {
    html! {
        nav.subnav aria-label="Dispatch" {
            a href="/dispatch" { "Board" } " · "
            a href="/dispatch/week" { "Week" } " · "
            a href="/dispatch/jobs" { "Work orders" } " · "
            @if DISPATCHERS.contains(&role) { a href="/dispatch/jobs/new" { "New work order" } " · " }
            a href="/dispatch/technicians" { "Technicians" } " · "
            a href="/dispatch/zones" { "Zones" } " · "
            a href="/dispatch/checklists" { "Checklists" } " · "
            a href="/dispatch/reports" { "Outcomes" }
            @if FIELD.contains(&role) { " · " a href="/tech" { "My day (phone)" } }
        }
    }
}

/// An optional decimal number typed in a form (`44.9312` or `44,9312`);
/// empty is `None`.
pub(crate) fn opt_f64(field: &str, v: &str) -> Result<Option<f64>, StoreError> {
    match v.trim() {
        "" => Ok(None),
        v => v
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| StoreError::invalid(field, "a number such as 44.9312")),
    }
}

/// "09:30-11:00" or "".
pub(crate) fn window_text(j: &JobRow) -> String {
    match (j.window_start_min, j.window_end_min) {
        (Some(a), Some(b)) => format!("{}-{}", hhmm(a), hhmm(b)),
        _ => String::new(),
    }
}

/// "1 h 05 min" from seconds.
pub(crate) fn duration(secs: i64) -> String {
    let m = (secs + 59) / 60;
    if m >= 60 { format!("{} h {:02} min", m / 60, m % 60) } else { format!("{m} min") }
}

pub(crate) fn status_badge(status: &str) -> Markup {
    let tone = match status {
        "done" => ui::Tone::Up,
        "cancelled" => ui::Tone::Neutral,
        "needs-revisit" => ui::Tone::Down,
        "en-route" | "on-site" => ui::Tone::Degraded,
        _ => ui::Tone::Unknown,
    };
    ui::tone_badge(tone, status)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DayQuery {
    pub day: Option<String>,
    /// After "plan the day": how many placed, left out, and milliseconds.
    pub planned: Option<i64>,
    pub left: Option<i64>,
    pub ms: Option<i64>,
    pub moved: Option<i64>,
}

struct Column<'a> {
    tech: &'a TechnicianRow,
    working: bool,
    jobs: Vec<&'a JobRow>,
}

fn card(j: &JobRow, csrf: &str, day: &str, techs: &[TechnicianRow], can_move: bool) -> Markup {
    let movable = matches!(j.status(), Status::New | Status::Scheduled | Status::NeedsRevisit);
    html! {
        li.job-card draggable=[(can_move && movable).then_some("true")] data-job=(j.id) id={ "job-" (j.id) } {
            div.job-head {
                @if let Some(s) = j.planned_start_min { strong.job-time { (hhmm(s)) } " " }
                a href={ "/dispatch/jobs/" (j.id) } { "#" (j.id) " " (j.title) }
                " " (status_badge(&j.status))
            }
            div.job-meta.muted {
                (j.kind) " · " (j.duration_min) " min"
                @let w = window_text(j);
                @if !w.is_empty() { " · window " (w) }
                @if let Some(c) = &j.customer { " · " (c) }
                @if let Some(d) = j.planned_drive_s { " · drive " (duration(d)) }
                @if j.pinned != 0 { " · pinned" }
            }
            @if can_move && movable {
                (ui::form_with_class("move-form inline", "/dispatch/move", Method::Post, csrf, html! {
                    input type="hidden" name="job" value=(j.id);
                    input type="hidden" name="day" value=(day);
                    input type="hidden" name="before" value="";
                    label.visually-hidden for={ "move-" (j.id) } { "Technician for #" (j.id) }
                    select name="technician" id={ "move-" (j.id) } {
                        option value="" selected[j.technician_id.is_none()] { "Unscheduled" }
                        @for t in techs {
                            option value=(t.user_id) selected[j.technician_id == Some(t.user_id)] { (t.name) }
                        }
                    }
                    button type="submit" { "Move" }
                }))
            }
        }
    }
}

async fn board_page(
    c: &Caller,
    st: &AppState,
    day: jiff::civil::Date,
    q: &DayQuery,
    flash: Option<(ui::FlashKind, String)>,
) -> Result<Markup, ApiError> {
    let day_s = day.to_string();
    let techs = technicians::list(&st.db).await?;
    let weekday = day.weekday().to_monday_one_offset();
    let off = technicians::off_on(&st.db, &day_s).await?;
    let on_day = store::list(&st.db, &Filter { day: Some(day_s.clone()), ..Filter::default() }).await?;
    let waiting = store::list(&st.db, &Filter { unscheduled: true, ..Filter::default() }).await?;
    let can_move = DISPATCHERS.contains(&c.role);
    let csrf = c.csrf.as_deref().unwrap_or("");
    let cols: Vec<Column> = techs
        .iter()
        .filter(|t| t.active != 0)
        .map(|t| Column {
            tech: t,
            working: t.days().contains(&weekday) && !off.contains(&t.user_id),
            jobs: on_day.iter().filter(|j| j.technician_id == Some(t.user_id) && j.status != "cancelled").collect(),
        })
        .collect();
    let prev = day.yesterday().map(|d| d.to_string()).unwrap_or_default();
    let next = day.tomorrow().map(|d| d.to_string()).unwrap_or_default();
    let m = &st.settings.monitoring;
    Ok(page(
        c,
        "Dispatch",
        html! {
            h1 { "Dispatch " span.muted { (day.strftime("%A %Y-%m-%d")) } }
            (subnav(c.role))
            @if let Some((k, text)) = &flash { (ui::flash(*k, text)) }
            @if let Some(n) = q.planned {
                (ui::flash(ui::FlashKind::Success, &format!(
                    "Planned {n} job(s) in {} ms{}.",
                    q.ms.unwrap_or(0),
                    match q.left { Some(l) if l > 0 => format!("; {l} could not be placed (see Unscheduled)"), _ => String::new() }
                )))
            }
            @if let Some(j) = q.moved { (ui::flash(ui::FlashKind::Success, &format!("Work order #{j} moved; the day is re-timed."))) }
            div.board-tools {
                a href={ "/dispatch?day=" (prev) } { "← " (prev) }
                form.inline method="get" action="/dispatch" {
                    label for="board-day" { "Day" }
                    input #board-day type="date" name="day" value=(day_s);
                    button type="submit" { "Show" }
                }
                a href={ "/dispatch?day=" (next) } { (next) " →" }
                a href={ "/dispatch/week?day=" (day_s) } { "Week" }
                @if can_move {
                    (ui::form_with_class("inline plan-form", "/dispatch/plan", Method::Post, csrf, html! {
                        input type="hidden" name="day" value=(day_s);
                        button.primary type="submit" { "Plan the day" }
                    }))
                }
            }
            @if techs.is_empty() {
                p { "No technicians yet: " a href="/dispatch/technicians" { "add the staff who work in the field" } "." }
            }
            div.board data-board {
                section.board-col.unscheduled data-tech="" aria-label="Unscheduled" {
                    h2 { "Unscheduled (" (waiting.len()) ")" }
                    ol.job-list {
                        @for j in &waiting { (card(j, csrf, &day_s, &techs, can_move)) }
                    }
                    @if waiting.is_empty() { p.muted { "Nothing waiting." } }
                }
                @for (i, col) in cols.iter().enumerate() {
                    @let drive: i64 = col.jobs.iter().filter_map(|j| j.planned_drive_s).sum();
                    @let work: i64 = col.jobs.iter().map(|j| j.duration_min).sum();
                    section.board-col data-tech=(col.tech.user_id) aria-label=(col.tech.name) {
                        h2 {
                            span.swatch data-colour=(COLOURS[i % COLOURS.len()]) {}
                            a href={ "/dispatch/technicians/" (col.tech.user_id) } { (col.tech.name) }
                        }
                        p.muted {
                            @if col.working {
                                (hhmm(col.tech.shift_start_min)) "-" (hhmm(col.tech.shift_end_min))
                                " · " (col.jobs.len()) " job(s) · work " (duration(work * 60)) " · drive " (duration(drive))
                            } @else { "Not working this day" }
                        }
                        ol.job-list {
                            @for j in &col.jobs { (card(j, csrf, &day_s, &techs, can_move)) }
                        }
                    }
                }
            }
            h2 { "Map" }
            (ui::map(&format!("/dispatch/map.json?day={day_s}"), &m.map_tile_url, &m.map_attribution, html! { p.muted { "The map needs JavaScript." } }))
        },
    ))
}

pub async fn board(c: Caller, State(st): State<AppState>, Query(q): Query<DayQuery>) -> Result<Markup, ApiError> {
    let day = day_of(&st, q.day.as_deref());
    board_page(&c, &st, day, &q, None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlanForm {
    pub day: String,
}

pub async fn plan(c: Caller, State(st): State<AppState>, Form(f): Form<PlanForm>) -> Result<Response, ApiError> {
    let day = match mast_store::dispatch::parse_day("day", &f.day) {
        Ok(d) => d,
        Err(e) => {
            let page =
                board_page(&c, &st, today(&st), &DayQuery::default(), Some((ui::FlashKind::Error, e.to_string())))
                    .await?;
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let company = st.settings.billing.operator.name.clone();
    let p =
        mast_app::dispatch::plan_day(&st.db, &st.settings.dispatch, st.channels(), &company, &day.to_string(), &c.name)
            .await?;
    let placed = p.plan.assigned();
    let detail = format!(
        "{placed} placed, {} left out, {} ms, drive {} s{}",
        p.plan.unassigned.len(),
        p.millis,
        p.plan.drive_s(),
        p.road_service.as_deref().map(|e| format!(" (road service failed: {e})")).unwrap_or_default()
    );
    audit::record(&st.db, &c.actor(), "dispatch.plan", &format!("day {day}"), &detail).await?;
    Ok(Redirect::to(&format!("/dispatch?day={day}&planned={placed}&left={}&ms={}", p.plan.unassigned.len(), p.millis))
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    pub job: String,
    /// A technician's user id; empty: back to unscheduled.
    pub technician: String,
    pub day: String,
    /// The job to go before; empty: last.
    pub before: String,
}

pub async fn move_job(c: Caller, State(st): State<AppState>, Form(f): Form<MoveForm>) -> Result<Response, ApiError> {
    let day = day_of(&st, Some(&f.day));
    let fail = |st: AppState, c: Caller, msg: String| async move {
        let page = board_page(&c, &st, day, &DayQuery::default(), Some((ui::FlashKind::Error, msg))).await?;
        Ok::<Response, ApiError>((StatusCode::BAD_REQUEST, page).into_response())
    };
    let Ok(job) = f.job.trim().parse::<i64>() else { return fail(st, c, "Pick a work order to move.".into()).await };
    let j = match store::get(&st.db, job).await {
        Ok(j) => j,
        Err(e) => return fail(st, c, e.to_string()).await,
    };
    let tech = f.technician.trim();
    if tech.is_empty() {
        // Back to the unscheduled list.
        if j.status() == Status::Scheduled {
            let ch = Change {
                to: Status::New,
                at_ms: mast_store::now_ms(),
                actor: c.name.clone(),
                note: String::new(),
                schedule: None,
                revision: None,
            };
            if let Err(e) = store::change(&st.db, job, &ch).await {
                return fail(st, c, e.to_string()).await;
            }
            // Re-time the day it left.
            if let (Some(t), Some(d)) = (j.technician_id, j.day.as_deref()) {
                retime_left(&st, &c, t, d).await?;
            }
        }
        audit::record(&st.db, &c.actor(), "dispatch.unschedule", &format!("work order {job}"), "").await?;
        return Ok(Redirect::to(&format!("/dispatch?day={day}&moved={job}")).into_response());
    }
    let Ok(tech) = tech.parse::<i64>() else { return fail(st, c, "Pick a technician.".into()).await };
    let before = f.before.trim().parse::<i64>().ok();
    let mut order: Vec<i64> =
        store::list(&st.db, &Filter { day: Some(day.to_string()), technician: Some(tech), ..Filter::default() })
            .await?
            .iter()
            .filter(|x| x.status() == Status::Scheduled && x.id != job)
            .map(|x| x.id)
            .collect();
    let at = before.and_then(|b| order.iter().position(|x| *x == b)).unwrap_or(order.len());
    order.insert(at, job);
    let company = st.settings.billing.operator.name.clone();
    let result = mast_app::dispatch::retime(
        &st.db,
        &st.settings.dispatch,
        st.channels(),
        &company,
        &day.to_string(),
        tech,
        &order,
        &[job],
        &c.name,
    )
    .await;
    match result {
        Ok((route, broken)) => {
            // The day it left is re-timed too.
            if let (Some(t), Some(d)) = (j.technician_id, j.day.as_deref())
                && (t != tech || d != day.to_string())
            {
                retime_left(&st, &c, t, d).await?;
            }
            let detail = format!("to technician {tech} on {day}, position {}", at + 1);
            audit::record(&st.db, &c.actor(), "dispatch.move", &format!("work order {job}"), &detail).await?;
            if broken.is_empty() {
                Ok(Redirect::to(&format!("/dispatch?day={day}&moved={job}")).into_response())
            } else {
                let why: Vec<String> = broken.iter().map(|v| v.to_string()).collect();
                let msg = format!(
                    "Work order #{job} moved, but the day breaks a rule: {} (drive {}).",
                    why.join("; "),
                    duration(route.drive_s)
                );
                Ok(board_page(&c, &st, day, &DayQuery::default(), Some((ui::FlashKind::Info, msg)))
                    .await?
                    .into_response())
            }
        }
        Err(e @ (StoreError::Invalid { .. } | StoreError::NotFound(_) | StoreError::Conflict(_))) => {
            fail(st, c, e.to_string()).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Re-times the day a job left (technician `tech` on `day`), its other
/// scheduled jobs in their order.
async fn retime_left(st: &AppState, c: &Caller, tech: i64, day: &str) -> Result<(), ApiError> {
    let f = Filter { day: Some(day.to_string()), technician: Some(tech), ..Filter::default() };
    let rest: Vec<i64> =
        store::list(&st.db, &f).await?.iter().filter(|x| x.status() == Status::Scheduled).map(|x| x.id).collect();
    if !rest.is_empty() {
        let company = st.settings.billing.operator.name.clone();
        let s = &st.settings.dispatch;
        mast_app::dispatch::retime(&st.db, s, st.channels(), &company, day, tech, &rest, &[], &c.name).await?;
    }
    Ok(())
}

pub async fn week(c: Caller, State(st): State<AppState>, Query(q): Query<DayQuery>) -> Result<Markup, ApiError> {
    let day = day_of(&st, q.day.as_deref());
    let monday =
        day.checked_sub(jiff::Span::new().days(i64::from(day.weekday().to_monday_zero_offset()))).unwrap_or(day);
    let days: Vec<jiff::civil::Date> =
        (0..7).filter_map(|i| monday.checked_add(jiff::Span::new().days(i)).ok()).collect();
    let techs = technicians::list(&st.db).await?;
    let mut by: std::collections::BTreeMap<(i64, String), (usize, i64)> = Default::default();
    for d in &days {
        for j in store::list(&st.db, &Filter { day: Some(d.to_string()), ..Filter::default() }).await? {
            if let Some(t) = j.technician_id
                && j.status != "cancelled"
            {
                let e = by.entry((t, d.to_string())).or_default();
                e.0 += 1;
                e.1 += j.duration_min;
            }
        }
    }
    let prev = monday.checked_sub(jiff::Span::new().days(7)).unwrap_or(monday);
    let next = monday.checked_add(jiff::Span::new().days(7)).unwrap_or(monday);
    Ok(page(
        &c,
        "Dispatch week",
        html! {
            h1 { "Week of " (monday) }
            (subnav(c.role))
            p { a href={ "/dispatch/week?day=" (prev) } { "← previous week" } " · " a href={ "/dispatch/week?day=" (next) } { "next week →" } }
            div.table-wrap {
                table {
                    thead { tr { th { "Technician" } @for d in &days { th { a href={ "/dispatch?day=" (d) } { (d.strftime("%a %d")) } } } } }
                    tbody {
                        @for t in techs.iter().filter(|t| t.active != 0) {
                            tr {
                                th scope="row" { (t.name) }
                                @for d in &days {
                                    @let wd = d.weekday().to_monday_one_offset();
                                    td {
                                        @match by.get(&(t.user_id, d.to_string())) {
                                            Some((n, mins)) => { a href={ "/dispatch?day=" (d) } { (n) " job(s)" } br; span.muted { (duration(mins * 60)) } }
                                            None => { span.muted { @if t.days().contains(&wd) { "free" } @else { "off" } } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The board's map: zones, each technician's route in order, the
/// unscheduled jobs.
pub async fn map_json(_c: Caller, State(st): State<AppState>, Query(q): Query<DayQuery>) -> Result<Response, ApiError> {
    let day = day_of(&st, q.day.as_deref()).to_string();
    let zones = technicians::zones(&st.db).await?;
    let techs = technicians::list(&st.db).await?;
    let on_day = store::list(&st.db, &Filter { day: Some(day), ..Filter::default() }).await?;
    let waiting = store::list(&st.db, &Filter { unscheduled: true, ..Filter::default() }).await?;
    let point = |j: &JobRow| {
        serde_json::json!({
            "id": j.id, "lat": j.lat, "lon": j.lon, "title": j.title, "status": j.status,
            "time": j.planned_start_min.map(hhmm), "href": format!("/dispatch/jobs/{}", j.id),
        })
    };
    let routes: Vec<serde_json::Value> = techs
        .iter()
        .filter(|t| t.active != 0)
        .enumerate()
        .map(|(i, t)| {
            let stops: Vec<serde_json::Value> = on_day
                .iter()
                .filter(|j| j.technician_id == Some(t.user_id) && j.status != "cancelled" && j.lat.is_some())
                .map(point)
                .collect();
            serde_json::json!({
                "technician": t.name, "colour": COLOURS[i % COLOURS.len()],
                "start": t.start().map(|p| [p.lat, p.lon]), "end": t.end().map(|p| [p.lat, p.lon]),
                "stops": stops,
            })
        })
        .collect();
    let zones: Vec<serde_json::Value> = zones
        .iter()
        .map(|z| {
            let corners: serde_json::Value = serde_json::from_str(&z.corners).unwrap_or_default();
            serde_json::json!({ "name": z.name, "colour": z.color, "corners": corners })
        })
        .collect();
    let waiting: Vec<serde_json::Value> = waiting.iter().filter(|j| j.lat.is_some()).map(point).collect();
    Ok(axum::Json(serde_json::json!({ "dispatch": true, "zones": zones, "routes": routes, "unscheduled": waiting }))
        .into_response())
}
