//! Outage incidents (from the correlator): the list (refreshed in place),
//! one incident with its root cause, affected devices and customers, the
//! controller's own alerts, and the JSON API.
//!
//! Staff work an incident from its page: acknowledge it (who, when), keep
//! notes, send the affected customers an update ("ETA 14:00") after a
//! preview of the exact message, and close it with a reason. Each action is
//! audited; an update's messages are queued in the outbox in the same
//! transaction as its log entry.

use super::network::{customers_table, devices_table};
use super::pages;
use super::{ApiError, AppState, Caller, fmt_utc};
use crate::audit;
use crate::monitoring;
use crate::monitoring::outages::{self, IncidentNote, IncidentView, NoteKind, RootKind};
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mast_store::StoreError;
use mast_store::customers::{self, Customer};
use mast_store::monitoring::DeviceView;
use mast_store::outbox::Queued;
use mast_store::outbox::{self as notify_store, OutagePhase};
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

/// Who may work an incident (acknowledge, note, update customers, close).
pub const RESPONDERS: &[Role] = &[Role::Admin, Role::Support, Role::Technician];

fn state(i: &IncidentView) -> Markup {
    if i.ended_ms.is_none() && i.closed_ms.is_some() {
        return ui::tone_badge(ui::Tone::Neutral, "closed");
    }
    match (i.ended_ms, i.superseded_by) {
        (None, _) if i.acked_ms.is_some() => ui::tone_badge(ui::Tone::Degraded, "acknowledged"),
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

/// What the incident page shows besides the incident itself.
pub(crate) struct Desk<'a> {
    /// The ticket the incident opened.
    pub ticket_id: Option<i64>,
    pub notes: &'a [IncidentNote],
    /// The notice the customers got when it started (greeting excluded).
    pub start_notice: String,
    /// The CSRF token when the viewer may work the incident.
    pub csrf: Option<&'a str>,
    pub errors: &'a FormErrors,
    /// What was typed into a refused form: (note, update, reason).
    pub typed: (&'a str, &'a str, &'a str),
}

async fn incident_page(
    c: &Caller,
    st: &AppState,
    id: i64,
    errors: &FormErrors,
    typed: (&str, &str, &str),
) -> Result<Markup, ApiError> {
    let i = outages::get_incident(&st.db, id).await?;
    let devices = monitoring::incident_devices(&st.db, id).await?;
    let served = customers::of_incident(&st.db, id).await?;
    let notes = outages::notes(&st.db, id).await?;
    let since = mast_text_core::when::local_time(i.started_ms, &st.settings.tz);
    let desk = Desk {
        ticket_id: mast_store::tickets::of_incident(&st.db, id).await?,
        notes: &notes,
        start_notice: notify_store::outage_notice(OutagePhase::Start, &since).text,
        csrf: RESPONDERS.contains(&c.role).then(|| c.csrf.as_deref().unwrap_or("")),
        errors,
        typed,
    };
    Ok(pages::page(c, &format!("Incident #{id}"), render_incident(&i, &devices, &served, &desk, crate::db::now_ms())))
}

pub async fn page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    incident_page(&c, &st, id, &FormErrors::new(), ("", "", "")).await
}

fn notes_list(notes: &[IncidentNote]) -> Markup {
    html! {
        @if notes.is_empty() { p.muted { "No notes or updates yet." } }
        ol.timeline {
            @for n in notes {
                li class={ "ev-" (n.kind.as_str()) } {
                    span.muted { (fmt_utc(n.created_ms)) " UTC · " (n.author) " · " }
                    @match n.kind {
                        NoteKind::Note => { "note" }
                        NoteKind::Update => { "update sent to customers (" (n.queued) " messages)" }
                    }
                    p.body { (n.body) }
                }
            }
        }
    }
}

pub(crate) fn render_incident(
    i: &IncidentView,
    devices: &[DeviceView],
    served: &[Customer],
    desk: &Desk<'_>,
    now: i64,
) -> Markup {
    let f = Fields::new("incident", desk.errors);
    let (note, update, reason) = desk.typed;
    html! {
        h1 { "Incident #" (i.id) }
        (f.summary())
        @if i.ended_ms.is_none() {
            p { a href={ "/dispatch/jobs/new?incident=" (i.id) } { "Send a technician (new work order)" } }
        }
        (ui::kv_list(&[
            ("State", state(i)),
            ("Root cause", root(i)),
            ("Started", html! { (fmt_utc(i.started_ms)) " UTC" }),
            ("Duration", html! { (duration(i, now)) }),
            ("Flapping", html! { @if i.flapping { "yes" } @else { "no" } }),
            ("Acknowledged", html! {
                @match (&i.acked_by, i.acked_ms) {
                    (Some(by), Some(at)) => { (by) " at " (fmt_utc(at)) " UTC" },
                    _ => { "not yet" },
                }
            }),
            ("Ticket", html! {
                @match desk.ticket_id {
                    Some(t) => { a #incident-ticket href={ "/tickets/" (t) } { "#" (t) } },
                    None => { "none (no customer affected)" },
                }
            }),
        ]))
        @if let (Some(by), Some(at)) = (&i.closed_by, i.closed_ms) {
            p.banner { "Closed by " (by) " at " (fmt_utc(at)) " UTC: " (i.close_reason.as_deref().unwrap_or("")) }
        }
        @if let Some(csrf) = desk.csrf.filter(|_| i.is_open() && i.acked_ms.is_none()) {
            (ui::form_with_class("inline", &format!("/incidents/{}/ack", i.id), Method::Post, csrf, html! {
                button #ack type="submit" { "Acknowledge" }
            }))
        }
        h2 { "Affected customers (" (served.len()) ")" }
        (customers_table(served))
        @if !served.is_empty() {
            details.notice-preview {
                summary { "What the customers were told when it started" }
                p.body { (desk.start_notice) }
            }
        }
        h2 { "Affected devices (" (devices.len()) ")" }
        (devices_table(devices, now))
        h2 { "Notes and updates" }
        (notes_list(desk.notes))
        @if let Some(csrf) = desk.csrf {
            (ui::form(&format!("/incidents/{}/notes", i.id), Method::Post, csrf, html! {
                (f.textarea_field("body", "Note for staff", note, FieldOpts::new().max_len(2000)))
                button type="submit" { "Add note" }
            }))
            @if i.is_open() && !served.is_empty() {
                (ui::form(&format!("/incidents/{}/update", i.id), Method::Post, csrf, html! {
                    (f.textarea_field("update", "Update for the affected customers", update, FieldOpts::new()
                        .max_len(2000).hint("Such as: a technician is on the way, service expected back by 14:00. \
                        You see the message before it is sent.")))
                    button #preview-update type="submit" { "Preview update" }
                }))
            }
            @if i.is_open() {
                (ui::form(&format!("/incidents/{}/close", i.id), Method::Post, csrf, html! {
                    (f.text_field("reason", "Close with a reason", reason, FieldOpts::new().max_len(2000)
                        .hint("A false alarm, a retired device... The incident leaves the open lists.")))
                    button.danger #close-incident type="submit" { "Close incident" }
                }))
            }
        }
    }
}

/// Answers a refused incident form: the page again with the error next to
/// its field and what was typed kept (409 for an incident no longer open).
async fn refused(
    c: &Caller,
    st: &AppState,
    id: i64,
    e: StoreError,
    typed: (&str, &str, &str),
) -> Result<Response, ApiError> {
    let (status, errors) = match &e {
        StoreError::Invalid { field, reason } => {
            let mut errors = FormErrors::new();
            errors.field(field, reason.clone());
            (StatusCode::BAD_REQUEST, errors)
        }
        StoreError::Conflict(why) => {
            let mut errors = FormErrors::new();
            errors.form(why.clone());
            (StatusCode::CONFLICT, errors)
        }
        _ => return Err(e.into()),
    };
    Ok((status, incident_page(c, st, id, &errors, typed).await?).into_response())
}

fn back(id: i64) -> Response {
    Redirect::to(&format!("/incidents/{id}")).into_response()
}

/// `POST /incidents/{id}/ack`.
pub async fn acknowledge(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    match outages::acknowledge(&st.db, id, &c.name, crate::db::now_ms()).await {
        Ok(true) => audit::record(&st.db, &c.actor(), "incident.ack", &format!("incident {id}"), "").await?,
        Ok(false) => {}
        Err(e) => return refused(&c, &st, id, e, ("", "", "")).await,
    }
    Ok(back(id))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    body: String,
}

/// `POST /incidents/{id}/notes`.
pub async fn add_note(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<NoteForm>,
) -> Result<Response, ApiError> {
    match outages::add_note(&st.db, id, &c.name, &f.body, crate::db::now_ms()).await {
        Ok(note) => {
            audit::record(&st.db, &c.actor(), "incident.note", &format!("incident {id}"), &format!("note {note}"))
                .await?
        }
        Err(e) => return refused(&c, &st, id, e, (&f.body, "", "")).await,
    }
    Ok(back(id))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CloseForm {
    reason: String,
}

/// `POST /incidents/{id}/close`.
pub async fn close(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> Result<Response, ApiError> {
    if let Err(e) = outages::close(&st.db, id, &c.name, &f.reason, crate::db::now_ms()).await {
        return refused(&c, &st, id, e, ("", "", &f.reason)).await;
    }
    audit::record(&st.db, &c.actor(), "incident.close", &format!("incident {id}"), f.reason.trim()).await?;
    Ok(back(id))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateForm {
    update: String,
    /// `yes` once the preview was seen.
    confirm: String,
}

/// `POST /incidents/{id}/update`: first a preview of the exact message and
/// who gets it, then (confirmed) the messages are queued.
pub async fn send_update(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<UpdateForm>,
) -> Result<Response, ApiError> {
    let i = outages::get_incident(&st.db, id).await?;
    let text = f.update.trim();
    if f.confirm != "yes" {
        // The store's own rule for an update's text, checked without sending.
        if let Err(e) = outages::check_update(text) {
            return refused(&c, &st, id, e, ("", &f.update, "")).await;
        }
        let served = customers::of_incident(&st.db, id).await?;
        let since = mast_text_core::when::local_time(i.started_ms, &st.settings.tz);
        let notice = notify_store::outage_notice(OutagePhase::Update { seq: 0, text }, &since);
        let first = served.first().map(|c| c.name.as_str()).unwrap_or("customer");
        let told = served.iter().filter(|c| c.notify_outages).count();
        let body = html! {
            h1 { "Update for incident #" (id) }
            p { "To " (told) " of " (served.len()) " affected customers (the others opted out of outage notices), "
                "by email and SMS where they have an address or a phone and the channel is configured." }
            h2 { "Subject: " (notice.subject) }
            pre.message #update-preview { (notify_store::notice_email_body(first, &notice.text, id)) }
            (ui::form_with_class("inline", &format!("/incidents/{id}/update"), Method::Post,
                c.csrf.as_deref().unwrap_or(""), html! {
                (ui::hidden("update", text))
                (ui::hidden("confirm", "yes"))
                button #send-update type="submit" { "Send to " (told) " customers" }
            }))
            " " a href={ "/incidents/" (id) } { "Back without sending" }
        };
        return Ok(pages::page(&c, &format!("Update for incident #{id}"), body).into_response());
    }
    let u = outages::Update {
        id,
        ticket_id: mast_store::tickets::of_incident(&st.db, id).await?,
        who: &c.name,
        text,
        now: crate::db::now_ms(),
    };
    let n = match outages::send_update(&st.db, st.channels().customer_notices(), &st.settings.tz, &u).await {
        Ok(n) => n,
        Err(e) => return refused(&c, &st, id, e, ("", &f.update, "")).await,
    };
    audit::record(&st.db, &c.actor(), "incident.update", &format!("incident {id}"), &format!("{n} messages queued"))
        .await?;
    Ok(back(id))
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
        p { a #alert-rules href="/alerts/rules" { "Alert rules" } ": weak signal, loss, data stuck at a tower, and what fired." }
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
