//! Maintenance windows: the list with each window's next occurrence, the
//! planning form (a site or a device, local start, duration, recurrence,
//! notice), cancelling, and the JSON API. Audited.

use super::pages::{csrf_field, layout};
use super::{ApiError, AppState, Caller, esc};
use crate::audit;
use crate::monitoring::maintenance;
use crate::monitoring::windows::{self, StoredWindow, WindowInput};
use crate::staff::Role;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{Value, json};

/// Who may plan and cancel maintenance.
pub const PLANNERS: &[Role] = &[Role::Admin, Role::Support, Role::Technician];

type PageResult = Result<Response, ApiError>;

fn next_occurrence(w: &StoredWindow, now: i64) -> Option<(i64, i64)> {
    maintenance::occurrences(&w.window, now, now + 400 * 86_400_000).ok()?.into_iter().next()
}

pub async fn page(c: Caller, State(st): State<AppState>) -> PageResult {
    let now = crate::db::now_ms();
    let tz = jiff::tz::TimeZone::get(&st.settings.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let list = windows::list(&st.db, false).await?;
    let mut b = format!(
        "<h1>Maintenance</h1><p>No incident, ticket or outage notice is raised for a site or device inside its window; \
         customers behind it are told in advance, and their tickets' SLA clocks pause. Times are in {}.</p>",
        esc(&st.settings.timezone)
    );
    b.push_str("<div class=wrap><table><tr><th>#</th><th>Covers</th><th>Schedule</th><th>Next</th><th>Reason</th><th>By</th><th></th></tr>");
    for w in &list {
        let scope = match w.window.scope {
            maintenance::Scope::Site(s) => format!("site <a href='/sites/{s}'>{}</a>", esc(&w.scope_name)),
            maintenance::Scope::Device(d) => format!("device <a href='/devices/{d}'>{}</a>", esc(&w.scope_name)),
        };
        let next = match next_occurrence(w, now) {
            Some((s, e)) if s <= now => {
                format!("<span class='badge degraded'>now, until {}</span>", mast_text_core::when::local_time(e, &tz))
            }
            Some((s, _)) => mast_text_core::when::local_time(s, &tz),
            None => "over".into(),
        };
        let cancel = if PLANNERS.contains(&c.role) {
            format!(
                "<form class=inline method=post action='/maintenance/{}/cancel'>{}<button>Cancel</button></form>",
                w.window.id,
                csrf_field(&c)
            )
        } else {
            String::new()
        };
        b.push_str(&format!(
            "<tr><td>{}</td><td>{scope}</td><td>{}</td><td>{next}</td><td>{}</td><td>{}</td><td>{cancel}</td></tr>",
            w.window.id,
            esc(&w.description),
            esc(&w.reason),
            esc(&w.created_by),
        ));
    }
    b.push_str("</table></div>");
    if list.is_empty() {
        b.push_str("<p class=muted>No maintenance planned.</p>");
    }
    if PLANNERS.contains(&c.role) {
        b.push_str(&format!(
            "<h2>Plan maintenance</h2><form class=stack method=post action=/maintenance>{}\
             <label>Site name <input name=site></label><label>or device id <input name=device inputmode=numeric></label>\
             <label>Starts (local) <input name=start_local type=datetime-local required></label>\
             <label>Duration (minutes) <input name=duration_minutes inputmode=numeric required value=120></label>\
             <label>Repeats <input name=recurrence value=once placeholder='once, daily, weekly:tue,thu, monthly:15'></label>\
             <label>Until (date, optional) <input name=until type=date></label>\
             <label>Tell customers (hours before) <input name=notice_hours inputmode=numeric value=48></label>\
             <label>Reason (customers read it) <input name=reason required maxlength=500></label>\
             <button>Plan</button></form>",
            csrf_field(&c)
        ));
    }
    Ok(layout(&c, "Maintenance", &b).into_response())
}

#[derive(Deserialize)]
pub struct WindowForm {
    #[serde(default)]
    site: String,
    #[serde(default)]
    device: String,
    start_local: String,
    duration_minutes: String,
    #[serde(default)]
    recurrence: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    notice_hours: String,
    reason: String,
}

impl WindowForm {
    fn input(&self) -> Result<WindowInput, ApiError> {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let num = |field: &str, s: &str| -> Result<Option<u32>, ApiError> {
            match s.trim() {
                "" => Ok(None),
                v => v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("{field}: a whole number"))),
            }
        };
        Ok(WindowInput {
            site: some(&self.site),
            device: match self.device.trim() {
                "" => None,
                d => Some(d.parse().map_err(|_| ApiError::bad_request("device: a device id"))?),
            },
            start_local: self.start_local.clone(),
            duration_minutes: num("duration", &self.duration_minutes)?
                .ok_or_else(|| ApiError::bad_request("duration: minutes"))?,
            recurrence: some(&self.recurrence),
            until: some(&self.until),
            notice_hours: num("notice", &self.notice_hours)?,
            reason: self.reason.clone(),
        })
    }
}

async fn record(st: &AppState, c: &Caller, w: &StoredWindow) -> Result<(), ApiError> {
    audit::record(
        &st.db,
        &c.actor(),
        "maintenance.plan",
        &format!("maintenance {}", w.window.id),
        &format!("{}: {}", w.description, w.reason),
    )
    .await?;
    Ok(())
}

pub async fn create_page(c: Caller, State(st): State<AppState>, Form(f): Form<WindowForm>) -> PageResult {
    let w = windows::create(&st.db, &f.input()?, &st.settings.timezone, &c.name).await?;
    record(&st, &c, &w).await?;
    Ok(Redirect::to("/maintenance").into_response())
}

pub async fn cancel_page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    if windows::cancel(&st.db, id).await? {
        audit::record(&st.db, &c.actor(), "maintenance.cancel", &format!("maintenance {id}"), "").await?;
    }
    Ok(Redirect::to("/maintenance").into_response())
}

pub async fn api_list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = crate::db::now_ms();
    let list: Vec<Value> = windows::list(&st.db, false)
        .await?
        .iter()
        .map(|w| json!({ "window": w, "next": next_occurrence(w, now) }))
        .collect();
    Ok(Json(json!({ "maintenance": list })))
}

pub async fn api_create(
    c: Caller,
    State(st): State<AppState>,
    Json(input): Json<WindowInput>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let w = windows::create(&st.db, &input, &st.settings.timezone, &c.name).await?;
    record(&st, &c, &w).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({ "window": w }))))
}

pub async fn api_cancel(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let done = windows::cancel(&st.db, id).await?;
    if done {
        audit::record(&st.db, &c.actor(), "maintenance.cancel", &format!("maintenance {id}"), "").await?;
    }
    Ok(Json(json!({ "cancelled": done })))
}
