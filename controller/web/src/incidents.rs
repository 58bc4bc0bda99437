//! Outage incidents (from the correlator): the list (refreshed in place),
//! one incident with its root cause, affected devices and customers, the
//! controller's own alerts, and the JSON API.

use super::network::{customers_table, devices_table};
use super::pages;
use super::{ApiError, AppState, Caller, fmt_utc};
use crate::monitoring;
use crate::monitoring::outages::{self, IncidentView, RootKind};
use crate::ui::{self, Markup, Table, html};
use axum::Json;
use axum::extract::{Path, Query, State};
use mast_store::customers::{self, Customer};
use mast_store::monitoring::DeviceView;
use mast_store::outbox::Queued;
use maud::Render;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct ListQ {
    open: Option<bool>,
    limit: Option<i64>,
}

fn duration(i: &IncidentView, now: i64) -> String {
    outages::human_duration(i.ended_ms.unwrap_or(now) - i.started_ms)
}

fn root(i: &IncidentView) -> Markup {
    match (i.root_kind, i.root_device_id, i.site_id) {
        (RootKind::Device, Some(d), _) => {
            html! { a href={ "/devices/" (d) } { (i.root_name.as_deref().unwrap_or("device")) } }
        }
        (RootKind::Site, _, Some(s)) => html! {
            "site " a href={ "/sites/" (s) } { (i.site.as_deref().unwrap_or("?")) } " unreachable (backhaul)"
        },
        _ => html! { "controller: many agents silent at once (internal)" },
    }
}

fn state(i: &IncidentView) -> Markup {
    match (i.ended_ms, i.superseded_by) {
        (None, _) => ui::tone_badge(ui::Tone::Down, "open"),
        (Some(_), Some(by)) => html! { "merged into " a href={ "/incidents/" (by) } { "#" (by) } },
        (Some(_), None) => ui::tone_badge(ui::Tone::Up, "resolved"),
    }
}

/// Incidents as a table (the dashboard and the device page use it too).
pub(crate) fn incidents_table(list: &[IncidentView], now: i64) -> Markup {
    let mut t = Table::new("No incidents.")
        .col("Incident")
        .col("State")
        .col("Root cause")
        .num_col("Devices")
        .num_col("Customers")
        .col("Started (UTC)")
        .col("Duration");
    for i in list {
        t.push(vec![
            html! {
                a href={ "/incidents/" (i.id) } { "#" (i.id) }
                @if i.flapping { " " span.muted { "flapping" } }
            },
            state(i),
            root(i),
            html! { (i.device_count) },
            html! { (i.customer_count) },
            html! { (fmt_utc(i.started_ms)) },
            html! { (duration(i, now)) },
        ]);
    }
    t.render()
}

fn list_args(q: &ListQ) -> (bool, i64) {
    (q.open.unwrap_or(false), q.limit.unwrap_or(200).clamp(1, 1000))
}

pub async fn list_page(c: Caller, State(st): State<AppState>, Query(q): Query<ListQ>) -> Result<Markup, ApiError> {
    let (open, limit) = list_args(&q);
    let list = outages::list(&st.db, open, limit).await?;
    let live = format!("/live/incidents?open={open}&limit={limit}");
    Ok(pages::page(&c, "Incidents", render_list(&list, open, &live, crate::db::now_ms())))
}

/// `GET /live/incidents`: the incident table (htmx).
pub async fn list_live(State(st): State<AppState>, Query(q): Query<ListQ>) -> Result<Markup, ApiError> {
    let (open, limit) = list_args(&q);
    Ok(incidents_table(&outages::list(&st.db, open, limit).await?, crate::db::now_ms()))
}

pub(crate) fn render_list(list: &[IncidentView], open_only: bool, live: &str, now: i64) -> Markup {
    html! {
        h1 { "Incidents" }
        p.muted {
            "One incident per root cause: an AP that fails takes its CPEs into its incident; "
            "a silent tower is one backhaul incident."
        }
        p {
            @if open_only { strong { "Open only" } } @else { a href="/incidents?open=true" { "Open only" } }
            " · "
            @if open_only { a href="/incidents" { "All" } } @else { strong { "All" } }
        }
        div #incidents-live hx-get=(live) hx-trigger="every 30s" hx-swap="innerHTML" { (incidents_table(list, now)) }
    }
}

pub async fn page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let i = outages::get_incident(&st.db, id).await?;
    let devices = monitoring::incident_devices(&st.db, id).await?;
    let served = customers::of_incident(&st.db, id).await?;
    Ok(pages::page(&c, &format!("Incident #{id}"), render_incident(&i, &devices, &served, crate::db::now_ms())))
}

pub(crate) fn render_incident(i: &IncidentView, devices: &[DeviceView], served: &[Customer], now: i64) -> Markup {
    html! {
        h1 { "Incident #" (i.id) }
        (ui::kv_list(&[
            ("State", state(i)),
            ("Root cause", root(i)),
            ("Started", html! { (fmt_utc(i.started_ms)) " UTC" }),
            ("Duration", html! { (duration(i, now)) }),
            ("Flapping", html! { @if i.flapping { "yes" } @else { "no" } }),
        ]))
        h2 { "Affected customers (" (served.len()) ")" }
        (customers_table(served))
        h2 { "Affected devices (" (devices.len()) ")" }
        (devices_table(devices, now))
    }
}

pub async fn api_list(State(st): State<AppState>, Query(q): Query<ListQ>) -> Result<Json<Value>, ApiError> {
    let list = outages::list(&st.db, q.open.unwrap_or(false), q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(Json(json!({ "incidents": list })))
}

pub async fn api_get(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let i = outages::get_incident(&st.db, id).await?;
    let devices = outages::devices_of(&st.db, id).await?;
    let affected: Vec<i64> = customers::of_incident(&st.db, id).await?.into_iter().map(|c| c.id).collect();
    Ok(Json(json!({ "incident": i, "devices": devices, "customers": affected })))
}

/// The controller's own health: internal alerts (many agents silent at once:
/// the controller's network or uplink, not the towers; no customer tickets
/// are opened for them) and notifications that could not be delivered.
pub async fn alerts_page(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let internal = outages::controller_alerts(&st.db, 50).await?;
    let pending = crate::notify::pending_count(&st.db).await?;
    let failed = crate::notify::recent(&st.db, true, 50).await?;
    Ok(pages::page(&c, "Controller alerts", render_alerts(&internal, pending, &failed, crate::db::now_ms())))
}

pub(crate) fn render_alerts(internal: &[IncidentView], pending: i64, failed: &[Queued], now: i64) -> Markup {
    let open = internal.iter().any(|i| i.ended_ms.is_none());
    let mut notes = Table::new("No failed notification.")
        .col("Queued (UTC)")
        .col("Channel")
        .col("To")
        .col("Subject")
        .num_col("Attempts")
        .col("Last error");
    for m in failed {
        notes.push(vec![
            html! { (fmt_utc(m.created_ms)) },
            html! { (m.channel.as_str()) },
            html! { (m.recipient) },
            html! { (m.subject) },
            html! { (m.attempts) },
            html! { (m.last_error.as_deref().unwrap_or("")) },
        ]);
    }
    html! {
        h1 { "Controller alerts" }
        @if open {
            p.banner.down {
                "Many agents went silent at the same time. That points at the controller's side (its network, "
                "uplink, firewall or clock) rather than at the towers: check the controller's connectivity first. "
                "No customer tickets or notices are sent for this."
            }
        } @else {
            p { "No internal alert is open." }
        }
        h2 { "Internal alerts" }
        (incidents_table(internal, now))
        h2 { "Notifications" }
        p { (pending) " waiting for delivery; " (failed.len()) " failed." }
        (notes)
    }
}
