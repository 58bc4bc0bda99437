//! Outage incidents (from the correlator): the list, one incident with its
//! root cause, affected devices and customers, and the JSON API.

use super::network::device_rows;
use super::pages::{badge, layout};
use super::{ApiError, AppState, Caller, esc, fmt_utc};
use crate::monitoring;
use crate::monitoring::outages::{self, IncidentView};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use mast_store::customers;
use serde::Deserialize;
use serde_json::{Value, json};

type PageResult = Result<Response, ApiError>;

#[derive(Deserialize)]
pub struct ListQ {
    open: Option<bool>,
    limit: Option<i64>,
}

fn duration(i: &IncidentView, now: i64) -> String {
    outages::human_duration(i.ended_ms.unwrap_or(now) - i.started_ms)
}

fn root_html(i: &IncidentView) -> String {
    match (i.root_kind.as_str(), i.root_device_id, i.site_id) {
        ("device", Some(d), _) => {
            format!("<a href='/devices/{d}'>{}</a>", esc(i.root_name.as_deref().unwrap_or("device")))
        }
        ("site", _, Some(s)) => {
            format!("site <a href='/sites/{s}'>{}</a> unreachable (backhaul)", esc(i.site.as_deref().unwrap_or("?")))
        }
        _ => "controller: many agents silent at once (internal)".into(),
    }
}

pub fn incident_rows(list: &[IncidentView], now: i64) -> String {
    let mut b = String::from(
        "<div class=wrap><table><tr><th>Incident</th><th>State</th><th>Root cause</th><th>Devices</th><th>Customers</th>\
         <th>Started (UTC)</th><th>Duration</th></tr>",
    );
    for i in list {
        let state = match (i.ended_ms, i.superseded_by) {
            (None, _) => badge("down"),
            (Some(_), Some(by)) => format!("merged into <a href='/incidents/{by}'>#{by}</a>"),
            (Some(_), None) => badge("up"),
        };
        b.push_str(&format!(
            "<tr><td><a href='/incidents/{id}'>#{id}</a>{flap}</td><td>{state}</td><td>{root}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i.device_count,
            i.customer_count,
            fmt_utc(i.started_ms),
            duration(i, now),
            id = i.id,
            flap = if i.flapping { " <span class=muted>flapping</span>" } else { "" },
            root = root_html(i),
        ));
    }
    b.push_str("</table></div>");
    b
}

pub async fn list_page(c: Caller, State(st): State<AppState>, Query(q): Query<ListQ>) -> PageResult {
    let now = crate::db::now_ms();
    let list = outages::list(&st.db, q.open.unwrap_or(false), q.limit.unwrap_or(200).clamp(1, 1000)).await?;
    let mut b = String::from(
        "<meta http-equiv=refresh content=30><h1>Incidents</h1><p class=muted>One incident per root cause: an AP that \
         fails takes its CPEs into its incident; a silent tower is one backhaul incident.</p>\
         <p><a href='/incidents?open=true'>Open only</a> · <a href='/incidents'>All</a></p>",
    );
    if list.is_empty() {
        b.push_str("<p>No incidents.</p>");
    } else {
        b.push_str(&incident_rows(&list, now));
    }
    Ok(layout(&c, "Incidents", &b).into_response())
}

pub async fn page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let Some(i) = outages::get(&st.db, id).await? else { return Err(ApiError::not_found("no such incident")) };
    let now = crate::db::now_ms();
    let mut b = format!(
        "<h1>Incident #{id}</h1><dl class=facts><dt>State</dt><dd>{}</dd><dt>Root cause</dt><dd>{}</dd>\
         <dt>Started</dt><dd>{} UTC</dd><dt>Duration</dt><dd>{}</dd><dt>Flapping</dt><dd>{}</dd></dl>",
        if i.ended_ms.is_none() { badge("down") } else { badge("up") },
        root_html(&i),
        fmt_utc(i.started_ms),
        duration(&i, now),
        if i.flapping { "yes" } else { "no" },
    );
    let devices = monitoring::incident_devices(&st.db, id).await?;
    let served = customers::of_incident(&st.db, id).await?;
    b.push_str(&format!("<h2>Affected customers ({})</h2>", served.len()));
    b.push_str(&super::customers::customer_rows(&served));
    b.push_str(&format!("<h2>Affected devices ({})</h2>", devices.len()));
    b.push_str(&device_rows(&devices, now));
    Ok(layout(&c, &format!("Incident #{id}"), &b).into_response())
}

pub async fn api_list(State(st): State<AppState>, Query(q): Query<ListQ>) -> Result<Json<Value>, ApiError> {
    let list = outages::list(&st.db, q.open.unwrap_or(false), q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(json!({ "incidents": list })))
}

pub async fn api_get(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let Some(i) = outages::get(&st.db, id).await? else { return Err(ApiError::not_found("no such incident")) };
    let devices = outages::devices_of(&st.db, id).await?;
    let affected: Vec<i64> = customers::of_incident(&st.db, id).await?.into_iter().map(|c| c.id).collect();
    Ok(Json(json!({ "incident": i, "devices": devices, "customers": affected })))
}

/// The controller's own health: internal alerts (many agents silent at once:
/// the controller's network or uplink, not the towers; no customer tickets
/// are opened for them) and notifications that could not be delivered.
pub async fn alerts_page(c: super::Caller, State(st): State<AppState>) -> PageResult {
    let now = crate::db::now_ms();
    let all = outages::list(&st.db, false, 500).await?;
    let internal: Vec<IncidentView> = all.into_iter().filter(|i| i.root_kind == "controller").take(50).collect();
    let mut b = String::from("<h1>Controller alerts</h1>");
    let open = internal.iter().filter(|i| i.ended_ms.is_none()).count();
    if open > 0 {
        b.push_str(
            "<p class='banner down'>Many agents went silent at the same time. That points at the controller's side \
             (its network, uplink, firewall or clock) rather than at the towers: check the controller's connectivity \
             first. No customer tickets or notices are sent for this.</p>",
        );
    } else {
        b.push_str("<p>No internal alert is open.</p>");
    }
    b.push_str("<h2>Internal alerts</h2>");
    if internal.is_empty() {
        b.push_str("<p class=muted>None so far.</p>");
    } else {
        b.push_str(&incident_rows(&internal, now));
    }
    let pending = crate::notify::pending_count(&st.db).await?;
    let failed = crate::notify::recent(&st.db, true, 50).await?;
    b.push_str(&format!("<h2>Notifications</h2><p>{pending} waiting for delivery; {} failed.</p>", failed.len()));
    if !failed.is_empty() {
        b.push_str(
            "<div class=wrap><table><tr><th>Queued (UTC)</th><th>Channel</th><th>To</th><th>Subject</th><th>Attempts</th><th>Last error</th></tr>",
        );
        for m in &failed {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt_utc(m.created_ms),
                m.channel.as_str(),
                esc(&m.recipient),
                esc(&m.subject),
                m.attempts,
                esc(m.last_error.as_deref().unwrap_or("")),
            ));
        }
        b.push_str("</table></div>");
    }
    Ok(layout(&c, "Controller alerts", &b).into_response())
}
