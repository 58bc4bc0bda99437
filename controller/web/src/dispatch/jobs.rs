//! Work order pages: the list, the form (new on its own, from a ticket,
//! a customer or an incident, or edited), and a work order's page with its
//! status buttons, history, checklist, notes, photos, parts (reserved from
//! stock, used) and the customer's signature.

use super::{DISPATCHERS, FIELD_AND_DESK, duration, opt_f64, status_badge, subnav, window_text};
use crate::network::form_errors;
use crate::pages::page;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mast_dispatch_core::job::{JobKind, Priority, Status};
use mast_store::StoreError;
use mast_store::dispatch::jobs::{self as store, Change, Filter, JobInput, JobRow};
use mast_store::dispatch::{hhmm, parse_hhmm, technicians};
use mast_text_core::when::fmt_utc;
use serde::Deserialize;

const FIELDS: &[&str] = &[
    "kind",
    "priority",
    "title",
    "customer_id",
    "ticket_id",
    "site_id",
    "address",
    "lat",
    "lon",
    "window_start",
    "window_end",
    "duration_min",
    "skills",
    "notes",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JobForm {
    pub kind: String,
    pub priority: String,
    pub title: String,
    pub customer_id: String,
    pub ticket_id: String,
    pub incident_id: String,
    pub site_id: String,
    pub address: String,
    pub lat: String,
    pub lon: String,
    pub window_start: String,
    pub window_end: String,
    pub duration_min: String,
    pub skills: String,
    pub notes: String,
    pub close_ticket: Option<String>,
}

fn opt_i64(field: &str, v: &str) -> Result<Option<i64>, StoreError> {
    match v.trim() {
        "" => Ok(None),
        v => v.parse().map(Some).map_err(|_| StoreError::invalid(field, "a number")),
    }
}

impl JobForm {
    fn input(&self) -> Result<JobInput, StoreError> {
        let kind = JobKind::parse(self.kind.trim()).ok_or_else(|| StoreError::invalid("kind", "pick a kind"))?;
        let priority =
            Priority::parse(self.priority.trim()).ok_or_else(|| StoreError::invalid("priority", "pick a priority"))?;
        let window = |f: &str, v: &str| match v.trim() {
            "" => Ok(None),
            v => parse_hhmm(f, v).map(Some),
        };
        let duration_min = self
            .duration_min
            .trim()
            .parse::<i64>()
            .map_err(|_| StoreError::invalid("duration_min", "minutes, such as 60"))?;
        Ok(JobInput {
            kind,
            priority,
            title: self.title.clone(),
            customer_id: opt_i64("customer_id", &self.customer_id)?,
            ticket_id: opt_i64("ticket_id", &self.ticket_id)?,
            incident_id: opt_i64("incident_id", &self.incident_id)?,
            site_id: opt_i64("site_id", &self.site_id)?,
            address: self.address.clone(),
            lat: opt_f64("lat", &self.lat)?,
            lon: opt_f64("lon", &self.lon)?,
            window_start_min: window("window_start", &self.window_start)?,
            window_end_min: window("window_end", &self.window_end)?,
            duration_min,
            skills: self.skills.clone(),
            notes: self.notes.clone(),
            close_ticket: self.close_ticket.is_some(),
        })
    }

    fn of(j: &JobRow) -> JobForm {
        let n = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
        JobForm {
            kind: j.kind.clone(),
            priority: j.priority.clone(),
            title: j.title.clone(),
            customer_id: n(j.customer_id),
            ticket_id: n(j.ticket_id),
            incident_id: n(j.incident_id),
            site_id: n(j.site_id),
            address: j.address.clone(),
            lat: j.lat.map(|x| x.to_string()).unwrap_or_default(),
            lon: j.lon.map(|x| x.to_string()).unwrap_or_default(),
            window_start: j.window_start_min.map(hhmm).unwrap_or_default(),
            window_end: j.window_end_min.map(hhmm).unwrap_or_default(),
            duration_min: j.duration_min.to_string(),
            skills: j.skills.clone(),
            notes: j.notes.clone(),
            close_ticket: (j.close_ticket != 0).then(|| "on".into()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub show: Option<String>,
}

pub async fn list(c: Caller, State(st): State<AppState>, Query(q): Query<ListQuery>) -> Result<Markup, ApiError> {
    let show = q.show.as_deref().unwrap_or("open");
    let f = match show {
        "all" => Filter { limit: 500, ..Filter::default() },
        "unscheduled" => Filter { unscheduled: true, ..Filter::default() },
        _ => Filter { open: true, ..Filter::default() },
    };
    let rows = store::list(&st.db, &f).await?;
    let mut t = Table::new("No work orders.")
        .col("Work order")
        .col("Kind")
        .col("Status")
        .col("Priority")
        .col("Customer")
        .col("Day")
        .col("Technician");
    for j in &rows {
        t.push(vec![
            html! { a href={ "/dispatch/jobs/" (j.id) } { "#" (j.id) " " (j.title) } },
            html! { (j.kind) },
            status_badge(&j.status),
            html! { (j.priority) },
            html! { @if let (Some(id), Some(n)) = (j.customer_id, &j.customer) { a href={ "/customers/" (id) } { (n) } } },
            html! { @if let Some(d) = &j.day { a href={ "/dispatch?day=" (d) } { (d) } } },
            html! { (j.technician.as_deref().unwrap_or("")) },
        ]);
    }
    Ok(page(
        &c,
        "Work orders",
        html! {
            h1 { "Work orders" }
            (subnav(c.role))
            p {
                a href="/dispatch/jobs?show=open" { "Open" } " · "
                a href="/dispatch/jobs?show=unscheduled" { "Unscheduled" } " · "
                a href="/dispatch/jobs?show=all" { "All (latest 500)" }
            }
            (t)
        },
    ))
}

fn form_markup(c: &Caller, action: &str, f: &JobForm, errors: &FormErrors, submit: &str) -> Markup {
    let fl = Fields::new("job", errors);
    let kinds: Vec<(&str, &str)> = JobKind::ALL.iter().map(|k| (k.as_str(), k.as_str())).collect();
    let prios: Vec<(&str, &str)> = Priority::ALL.iter().map(|p| (p.as_str(), p.as_str())).collect();
    let csrf = c.csrf.as_deref().unwrap_or("");
    ui::form(
        action,
        Method::Post,
        csrf,
        html! {
            (fl.summary())
            (fl.select_field("kind", "Kind", &kinds, if f.kind.is_empty() { "repair" } else { &f.kind }, FieldOpts::new()))
            (fl.select_field("priority", "Priority", &prios, if f.priority.is_empty() { "normal" } else { &f.priority }, FieldOpts::new()))
            (fl.text_field("title", "Title", &f.title, FieldOpts::new().required().max_len(200)))
            (fl.text_field("customer_id", "Customer (number)", &f.customer_id, FieldOpts::new().hint("The customer's number, from their page; their address and place fill in when left empty")))
            (fl.text_field("ticket_id", "Ticket (number)", &f.ticket_id, FieldOpts::new()))
            (fl.text_field("site_id", "Tower site (number, for tower work)", &f.site_id, FieldOpts::new()))
            (fl.text_field("address", "Address", &f.address, FieldOpts::new().max_len(300)))
            (fl.number_field("lat", "Latitude", &f.lat, true, FieldOpts::new()))
            (fl.number_field("lon", "Longitude", &f.lon, true, FieldOpts::new()))
            (fl.text_field("window_start", "Customer's window from (HH:MM)", &f.window_start, FieldOpts::new().hint("Empty: any time of the day")))
            (fl.text_field("window_end", "to (HH:MM)", &f.window_end, FieldOpts::new()))
            (fl.number_field("duration_min", "Time on site (minutes)", if f.duration_min.is_empty() { "60" } else { &f.duration_min }, false, FieldOpts::new().required()))
            (fl.text_field("skills", "Skills needed", &f.skills, FieldOpts::new().hint("Comma-separated, e.g. climb, fiber")))
            (fl.textarea_field("notes", "Notes for the technician", &f.notes, FieldOpts::new()))
            (fl.checkbox_field("close_ticket", "Resolve the ticket when the job is done", f.close_ticket.is_some(), FieldOpts::new()))
            @if !f.incident_id.is_empty() { input type="hidden" name="incident_id" value=(f.incident_id); }
            button.primary type="submit" { (submit) }
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewQuery {
    pub ticket: Option<i64>,
    pub customer: Option<i64>,
    pub incident: Option<i64>,
}

/// A new work order, prefilled from a ticket, a customer or an incident.
pub async fn new_form(c: Caller, State(st): State<AppState>, Query(q): Query<NewQuery>) -> Result<Markup, ApiError> {
    let mut f = JobForm { close_ticket: Some("on".into()), ..JobForm::default() };
    let mut customer = q.customer;
    if let Some(t) = q.ticket
        && let Some(ticket) = mast_store::tickets::get(&st.db, t).await?
    {
        f.title = ticket.subject.clone();
        f.ticket_id = t.to_string();
        f.kind = "repair".into();
        f.priority = match ticket.priority.as_str() {
            "urgent" => "urgent",
            "high" => "high",
            "low" => "low",
            _ => "normal",
        }
        .into();
        customer = customer.or(ticket.customer_id);
    }
    if let Some(i) = q.incident {
        f.incident_id = i.to_string();
        f.kind = "tower-work".into();
        f.priority = "urgent".into();
        let inc = mast_store::monitoring::outages::get(&st.db, i).await?;
        if f.title.is_empty() {
            f.title = match &inc {
                Some(v) => format!("Outage #{i}: {}", v.title()),
                None => format!("Outage #{i}: on-site check"),
            };
        }
        // The tower it happened at, and where that stands.
        if let Some(site) = inc.and_then(|v| v.site_id) {
            let s = mast_store::monitoring::get_site(&st.db, site).await?;
            f.site_id = site.to_string();
            f.address = s.name.clone();
            f.lat = s.lat.map(|x| x.to_string()).unwrap_or_default();
            f.lon = s.lon.map(|x| x.to_string()).unwrap_or_default();
        }
    }
    if let Some(cid) = customer
        && let Some(cu) = mast_store::customers::get(&st.db, cid).await?
    {
        f.customer_id = cid.to_string();
        f.address = cu.address.clone().unwrap_or_default();
        f.lat = cu.lat.map(|x| x.to_string()).unwrap_or_default();
        f.lon = cu.lon.map(|x| x.to_string()).unwrap_or_default();
        if f.title.is_empty() {
            let install = cu.status.as_str() == "lead";
            f.kind = if install { "installation" } else { "repair" }.into();
            f.title = format!("{} for {}", if install { "Installation" } else { "Visit" }, cu.name);
        }
    }
    Ok(page(
        &c,
        "New work order",
        html! {
            h1 { "New work order" }
            (subnav(c.role))
            (form_markup(&c, "/dispatch/jobs", &f, &FormErrors::new(), "Create"))
        },
    ))
}

/// The customer's address and place fill a form that left them empty.
async fn fill_from_customer(st: &AppState, input: &mut JobInput) -> Result<(), ApiError> {
    if let Some(cid) = input.customer_id
        && let Some(cu) = mast_store::customers::get(&st.db, cid).await?
    {
        if input.address.trim().is_empty() {
            input.address = cu.address.clone().unwrap_or_default();
        }
        if input.lat.is_none() && input.lon.is_none() {
            input.lat = cu.lat;
            input.lon = cu.lon;
        }
    }
    Ok(())
}

pub async fn create(c: Caller, State(st): State<AppState>, Form(f): Form<JobForm>) -> Result<Response, ApiError> {
    let saved = match f.input() {
        Ok(mut input) => {
            fill_from_customer(&st, &mut input).await?;
            store::create(&st.db, &input, &c.name).await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(j) => {
            audit::record(&st.db, &c.actor(), "dispatch.job.create", &format!("work order {}", j.id), &j.title).await?;
            Ok(Redirect::to(&format!("/dispatch/jobs/{}?created=1", j.id)).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, FIELDS) else { return Err(e.into()) };
            let body = html! {
                h1 { "New work order" }
                (subnav(c.role))
                (form_markup(&c, "/dispatch/jobs", &f, &errors, "Create"))
            };
            Ok((StatusCode::BAD_REQUEST, page(&c, "New work order", body)).into_response())
        }
    }
}

pub async fn edit_form(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let j = store::get(&st.db, id).await?;
    Ok(page(
        &c,
        "Edit work order",
        html! {
            h1 { "Edit work order #" (id) }
            (subnav(c.role))
            (form_markup(&c, &format!("/dispatch/jobs/{id}"), &JobForm::of(&j), &FormErrors::new(), "Save"))
        },
    ))
}

pub async fn update(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<JobForm>,
) -> Result<Response, ApiError> {
    let saved = match f.input() {
        Ok(mut input) => {
            fill_from_customer(&st, &mut input).await?;
            store::update(&st.db, id, &input).await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(j) => {
            audit::record(&st.db, &c.actor(), "dispatch.job.update", &format!("work order {id}"), &j.title).await?;
            Ok(Redirect::to(&format!("/dispatch/jobs/{id}?saved=1")).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, FIELDS) else { return Err(e.into()) };
            let body = html! {
                h1 { "Edit work order #" (id) }
                (subnav(c.role))
                (form_markup(&c, &format!("/dispatch/jobs/{id}"), &f, &errors, "Save"))
            };
            Ok((StatusCode::BAD_REQUEST, page(&c, "Edit work order", body)).into_response())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowQuery {
    pub created: Option<String>,
    pub saved: Option<String>,
    pub stepped: Option<String>,
}

async fn show_page(
    c: &Caller,
    st: &AppState,
    id: i64,
    flash: Option<(ui::FlashKind, String)>,
    status_errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let j = store::get(&st.db, id).await?;
    let steps = store::steps(&st.db, id).await?;
    let checklist = store::checklist(&st.db, id).await?;
    let notes = store::notes(&st.db, id).await?;
    let photos = store::photos(&st.db, id).await?;
    let parts = store::parts(&st.db, id).await?;
    let techs = technicians::list(&st.db).await?;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let status = j.status();
    let next: Vec<Status> = Status::ALL.into_iter().filter(|s| status.allows(*s) && *s != Status::Scheduled).collect();
    let can_step = FIELD_AND_DESK.contains(&c.role);
    let dispatcher = DISPATCHERS.contains(&c.role);
    let fl = Fields::new("step", status_errors);
    let tech_opts: Vec<(String, String)> = techs.iter().map(|t| (t.user_id.to_string(), t.name.clone())).collect();
    let tech_opts: Vec<(&str, &str)> = tech_opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let day = j.day.clone().unwrap_or_else(|| super::today(st).to_string());
    let mut hist = Table::new("No steps.").col("When").col("Status").col("By").col("Note");
    for s in &steps {
        hist.push(vec![html! { (fmt_utc(s.at_ms)) }, status_badge(&s.status), html! { (s.actor) }, html! { (s.note) }]);
    }
    let mut models: Vec<(String, String)> = Vec::new();
    let mut stores: Vec<(String, String)> = Vec::new();
    if dispatcher {
        models = mast_store::stock::models::list(&st.db)
            .await?
            .into_iter()
            .map(|m| (m.id.to_string(), format!("{} {}", m.vendor, m.name)))
            .collect();
        stores = mast_store::stock::locations::stores(&st.db)
            .await?
            .into_iter()
            .map(|l| (l.id.to_string(), l.name))
            .collect();
    }
    let model_opts: Vec<(&str, &str)> = models.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let store_opts: Vec<(&str, &str)> = stores.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let no_errors = FormErrors::new();
    let pf = Fields::new("part", &no_errors);
    Ok(page(
        c,
        &format!("Work order #{id}"),
        html! {
            h1 { "Work order #" (id) ": " (j.title) " " span #job-status { (status_badge(&j.status)) } }
            (subnav(c.role))
            @if let Some((k, m)) = &flash { (ui::flash(*k, m)) }
            (ui::kv_list(&[
                ("Kind", html! { (j.kind) }),
                ("Priority", html! { (j.priority) }),
                ("Customer", html! { @if let (Some(cid), Some(n)) = (j.customer_id, &j.customer) {
                    a href={ "/customers/" (cid) } { (n) }
                    @if let Some(p) = &j.customer_phone { " · " a href={ "tel:" (p) } { (p) } }
                } }),
                ("Ticket", html! { @if let Some(t) = j.ticket_id { a href={ "/tickets/" (t) } { "#" (t) " " (j.ticket_subject.as_deref().unwrap_or("")) }
                    @if j.close_ticket != 0 { " (resolved when the job is done)" } } }),
                ("Address", html! { (j.address)
                    @if let (Some(la), Some(lo)) = (j.lat, j.lon) { " · " a href={ "geo:" (la) "," (lo) "?q=" (la) "," (lo) } { "navigate" } } }),
                ("Window", html! { (window_text(&j)) }),
                ("Time on site", html! { (j.duration_min) " min" }),
                ("Skills", html! { (j.skills) }),
                ("Scheduled", html! { @if let Some(d) = &j.day { a href={ "/dispatch?day=" (d) } { (d) } " · " (j.technician.as_deref().unwrap_or("")) }
                    @if let Some(s) = j.planned_start_min { " · starts " (hhmm(s)) }
                    @if let Some(d) = j.planned_drive_s { " · drive " (duration(d)) } }),
                ("Notes", html! { (j.notes) }),
            ]))
            @if dispatcher && status.is_open() { p { a href={ "/dispatch/jobs/" (id) "/edit" } { "Edit" } } }
            @if can_step && status.is_open() {
                h2 { "Status" }
                @if dispatcher && status.allows(Status::Scheduled) {
                    (ui::form_with_class("schedule-form", &format!("/dispatch/jobs/{id}/status"), Method::Post, csrf, html! {
                        (fl.summary())
                        input type="hidden" name="to" value="scheduled";
                        (fl.select_field("technician", "Technician", &tech_opts, &j.technician_id.map(|t| t.to_string()).unwrap_or_default(), FieldOpts::new()))
                        (fl.date_field("day", "Day", &day, FieldOpts::new()))
                        button type="submit" { "Schedule" }
                    }))
                }
                @for s in &next {
                    (ui::form_with_class("inline step-form", &format!("/dispatch/jobs/{id}/status"), Method::Post, csrf, html! {
                        input type="hidden" name="to" value=(s.as_str());
                        button type="submit" name="step" value=(s.as_str()) { (s.as_str()) }
                    }))
                }
            }
            h2 { "Checklist" }
            ul.checklist { @for i in &checklist { li { @if i.done != 0 { "☑ " } @else { "☐ " } (i.label)
                @if let Some(b) = &i.done_by { span.muted { " (" (b) ")" } } } } }
            h2 { "Notes" }
            @if notes.is_empty() { p.muted { "No notes." } }
            ul { @for n in &notes { li { (n.body) span.muted { " — " (n.actor) ", " (fmt_utc(n.at_ms)) } } } }
            h2 { "Parts" }
            @if parts.is_empty() { p.muted { "No parts reserved or used." } }
            ul { @for p in &parts { li {
                (p.model) " × " (p.quantity) " · " @if p.used != 0 { "used" } @else { "reserved" }
                @if let Some(u) = p.unit_id { " · " a href={ "/stock/units/" (u) } { (p.mac.as_deref().or(p.serial.as_deref()).unwrap_or("unit")) } }
            } } }
            @if dispatcher && status.is_open() && !model_opts.is_empty() && !store_opts.is_empty() {
                (ui::form_with_class("reserve-form", &format!("/dispatch/jobs/{id}/parts"), Method::Post, csrf, html! {
                    (pf.select_field("model", "Part to bring", &model_opts, "", FieldOpts::new()))
                    (pf.number_field("quantity", "How many", "1", false, FieldOpts::new()))
                    (pf.select_field("location", "From", &store_opts, "", FieldOpts::new()))
                    button type="submit" { "Reserve" }
                }))
            }
            h2 { "Photos" }
            @if photos.is_empty() { p.muted { "No photos." } }
            div.photos { @for p in &photos {
                a href={ "/dispatch/jobs/" (id) "/photos/" (p.id) } {
                    img src={ "/dispatch/jobs/" (id) "/photos/" (p.id) } alt={ "Photo by " (p.actor) } width="160";
                }
            } }
            @if let Some(by) = &j.signed_by {
                h2 { "Signature" }
                p { "Signed by " (by) }
                img.signature src={ "/dispatch/jobs/" (id) "/signature" } alt={ "Signature of " (by) } width="300";
            }
            h2 { "History" }
            (hist)
        },
    ))
}

pub async fn show(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> Result<Markup, ApiError> {
    let flash = if q.created.is_some() {
        Some((ui::FlashKind::Success, "Work order created.".to_string()))
    } else if q.saved.is_some() {
        Some((ui::FlashKind::Success, "Saved.".to_string()))
    } else {
        q.stepped.as_deref().and_then(Status::parse).map(|s| (ui::FlashKind::Success, format!("Now {}.", s.as_str())))
    };
    show_page(&c, &st, id, flash, &FormErrors::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    pub to: String,
    pub technician: String,
    pub day: String,
    pub note: String,
}

pub async fn status(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<StatusForm>,
) -> Result<Response, ApiError> {
    let Some(to) = Status::parse(f.to.trim()) else {
        let mut e = FormErrors::new();
        e.form("Pick a status.");
        return Ok((StatusCode::BAD_REQUEST, show_page(&c, &st, id, None, &e).await?).into_response());
    };
    // Scheduling is for dispatchers; a technician moves their own jobs on.
    if to == Status::Scheduled && !DISPATCHERS.contains(&c.role) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Only dispatchers schedule work orders."));
    }
    let schedule = if to == Status::Scheduled {
        match f.technician.trim().parse::<i64>() {
            Ok(t) => Some((t, f.day.clone())),
            Err(_) => None,
        }
    } else {
        None
    };
    let ch = Change {
        to,
        at_ms: mast_store::now_ms(),
        actor: c.name.clone(),
        note: f.note.clone(),
        schedule,
        revision: None,
    };
    match store::change(&st.db, id, &ch).await {
        Ok(_) => {
            audit::record(&st.db, &c.actor(), "dispatch.job.status", &format!("work order {id}"), to.as_str()).await?;
            let company = st.settings.billing.operator.name.clone();
            for line in mast_app::dispatch::after_step(
                &st.db,
                &st.settings.dispatch,
                st.channels(),
                &st.desk(),
                st.tz(),
                &company,
                id,
                to,
                &c.name,
            )
            .await?
            {
                tracing::info!(job = id, "{line}");
            }
            Ok(Redirect::to(&format!("/dispatch/jobs/{id}?stepped={}", to.as_str())).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, &["technician", "day", "note"]) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, show_page(&c, &st, id, None, &errors).await?).into_response())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReserveForm {
    pub model: String,
    pub quantity: String,
    pub location: String,
}

pub async fn reserve(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ReserveForm>,
) -> Result<Response, ApiError> {
    let parsed = (|| {
        let m = f.model.trim().parse::<i64>().map_err(|_| StoreError::invalid("model", "pick a part"))?;
        let q = f.quantity.trim().parse::<i64>().map_err(|_| StoreError::invalid("quantity", "a whole number"))?;
        let l = f.location.trim().parse::<i64>().map_err(|_| StoreError::invalid("location", "pick where from"))?;
        Ok::<_, StoreError>((m, q, l))
    })();
    let done = match parsed {
        Ok((m, q, l)) => store::reserve(&st.db, id, m, q, l).await.map(|_| (m, q, l)),
        Err(e) => Err(e),
    };
    match done {
        Ok((m, q, l)) => {
            let detail = format!("model {m} × {q} from location {l}");
            audit::record(&st.db, &c.actor(), "dispatch.job.reserve", &format!("work order {id}"), &detail).await?;
            Ok(Redirect::to(&format!("/dispatch/jobs/{id}?saved=1")).into_response())
        }
        Err(e @ (StoreError::Invalid { .. } | StoreError::Conflict(_) | StoreError::NotFound(_))) => Ok((
            StatusCode::BAD_REQUEST,
            show_page(&c, &st, id, Some((ui::FlashKind::Error, e.to_string())), &FormErrors::new()).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn photo(State(st): State<AppState>, Path((id, pid)): Path<(i64, i64)>) -> Result<Response, ApiError> {
    let (ct, bytes) = store::photo(&st.db, id, pid).await?;
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "private, max-age=86400".to_string())], bytes)
        .into_response())
}

pub async fn signature(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    use base64::Engine;
    let Some(url) = store::signature(&st.db, id).await? else {
        return Err(StoreError::NotFound(format!("no signature on work order {id}")).into());
    };
    let data = url.strip_prefix("data:image/png;base64,").unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| StoreError::Corrupt(format!("signature of work order {id}")))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], bytes).into_response())
}

/// The customer page's section: their work orders, and a button for a new one.
pub async fn customer_section(c: &Caller, st: &AppState, customer: i64) -> Result<Markup, ApiError> {
    let jobs = store::for_customer(&st.db, customer).await?;
    let dispatcher = DISPATCHERS.contains(&c.role);
    if jobs.is_empty() && !dispatcher {
        return Ok(Markup::default());
    }
    Ok(html! {
        h2 { "Work orders" }
        @if jobs.is_empty() { p.muted { "No visits yet." } }
        ul.work-orders { @for j in jobs.iter().take(20) {
            li { a href={ "/dispatch/jobs/" (j.id) } { "#" (j.id) " " (j.title) } " · " (j.kind) " · " (status_badge(&j.status))
                @if let Some(d) = &j.day { " · " (d) } @if let Some(t) = &j.technician { " · " (t) } }
        } }
        @if dispatcher { p { a.button href={ "/dispatch/jobs/new?customer=" (customer) } { "New work order" } } }
    })
}
