//! Ticket pages and API: the queue, opening a ticket (a phone call entered
//! by staff), a ticket's timeline with reply / internal note / status and
//! assignment forms. Every change is audited. A refused form re-renders the
//! page with the error next to the field and the text kept (400).

use super::customers::form_errors;
use super::pages;
use super::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use super::{ApiError, AppState, Caller, fmt_utc};
use crate::audit;
use crate::staff::Role;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mast_store::StoreError;
use mast_store::monitoring::DeviceView;
use mast_store::tickets::canned::Canned;
use mast_store::tickets::groups::Group;
use mast_store::tickets::lifecycle::{Action, Status};
use mast_store::tickets::sla::{Clock, ClockState, SlaStatus};
use mast_store::tickets::{self, Category, Event, NewTicket, Priority, Source, Ticket};
use mast_text_core::when::human_duration;
use serde::Deserialize;
use serde_json::{Value, json};

/// Who may open and work tickets (read-only staff may only look).
pub const AGENTS: &[Role] = &[Role::Admin, Role::Billing, Role::Support, Role::Technician];

type PageResult = Result<Response, ApiError>;

/// Tickets per page of the queue.
const PAGE: i64 = 50;

/// A ticket status as a coloured badge: open is red (someone must act),
/// in progress and waiting amber, resolved and closed green.
pub(crate) fn status_badge(s: Status) -> Markup {
    let tone = match s {
        Status::Open => Tone::Down,
        Status::InProgress | Status::Waiting => Tone::Degraded,
        Status::Resolved | Status::Closed => Tone::Up,
    };
    ui::tone_badge(tone, s.as_str())
}

/// A table of tickets (the queue, a customer's tickets).
pub(crate) fn ticket_table(list: &[Ticket], empty: &str) -> Markup {
    let mut t = Table::new(empty)
        .col("Ticket")
        .col("Status")
        .col("Priority")
        .col("Customer")
        .col("Assignee")
        .col("Opened (UTC)")
        .col("First response");
    for tk in list {
        let customer = match (tk.customer_id, &tk.customer) {
            (Some(id), Some(n)) => html! { a href={ "/customers/" (id) } { (n) } },
            _ if tk.affected_customers > 0 => html! { (tk.affected_customers) " affected" },
            _ => html! { "-" },
        };
        let first = tk.first_response_ms.map(|f| human_duration(f - tk.created_ms)).unwrap_or_else(|| "-".into());
        t.push(vec![
            html! { a href={ "/tickets/" (tk.id) } { "#" (tk.id) " " (tk.subject) } },
            status_badge(tk.status),
            html! { (tk.priority) },
            customer,
            html! { (tk.assignee.as_deref().unwrap_or("-")) },
            html! { (fmt_utc(tk.created_ms)) },
            html! { (first) },
        ]);
    }
    html! { (t) }
}

#[derive(Deserialize)]
pub struct ListQ {
    all: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
    customer: Option<i64>,
}

/// The new-ticket form as typed (every field a string).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    subject: String,
    /// The customer's number (id), or empty.
    #[serde(default)]
    customer: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    body: String,
}

/// The fields of the new-ticket form (store errors name them; the store's
/// `customer_id` is the form's `customer`).
const TICKET_FIELDS: &[&str] = &["subject", "customer", "priority", "category", "source", "body"];

impl NewForm {
    fn blank(customer: Option<i64>) -> Self {
        NewForm {
            customer: customer.map(|c| c.to_string()).unwrap_or_default(),
            priority: Priority::Normal.as_str().into(),
            category: Category::Connectivity.as_str().into(),
            source: Source::Phone.as_str().into(),
            ..NewForm::default()
        }
    }

    fn ticket(&self) -> Result<NewTicket, StoreError> {
        let customer_id = match self.customer.trim() {
            "" => None,
            s => Some(s.parse::<i64>().map_err(|_| StoreError::invalid("customer", "give the customer's number"))?),
        };
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
        Ok(NewTicket {
            subject: self.subject.clone(),
            customer_id,
            priority: some(&self.priority),
            category: some(&self.category),
            source: some(&self.source),
            body: self.body.clone(),
            requester_email: None,
        })
    }
}

/// The store names the customer by its JSON key; the form calls it `customer`.
fn customer_field(e: StoreError) -> StoreError {
    match e {
        StoreError::Invalid { field, reason } if field == "customer_id" => StoreError::invalid("customer", reason),
        e => e,
    }
}

fn options<T: Copy>(all: &[T], text: fn(T) -> &'static str) -> Vec<(&'static str, &'static str)> {
    all.iter().map(|v| (text(*v), text(*v))).collect()
}

fn new_ticket_form(c: &Caller, v: &NewForm, errors: &FormErrors) -> Markup {
    let f = Fields::new("ticket", errors);
    let sources: Vec<(&str, &str)> = [Source::Phone, Source::Staff, Source::Email, Source::Portal]
        .iter()
        .map(|s| (s.as_str(), s.as_str()))
        .collect();
    ui::form(
        "/tickets",
        Method::Post,
        c.csrf.as_deref().unwrap_or(""),
        html! {
            (f.summary())
            (f.text_field("subject", "Subject", &v.subject, FieldOpts::new().required().max_len(200).autocomplete("off")))
            (f.number_field("customer", "Customer number", &v.customer, false,
                FieldOpts::new().hint("The number in the customer page's address (/customers/N); empty for none.")))
            (f.select_field("priority", "Priority", &options(Priority::ALL, Priority::as_str), &v.priority, FieldOpts::new()))
            (f.select_field("category", "Category", &options(Category::ALL, Category::as_str), &v.category, FieldOpts::new()))
            (f.select_field("source", "Source", &sources, &v.source, FieldOpts::new()))
            (f.textarea_field("body", "What the customer reports", &v.body, FieldOpts::new()))
            button type="submit" { "Open ticket" }
        },
    )
}

/// What the queue page shows.
struct QueueView<'a> {
    all: bool,
    list: &'a [Ticket],
    total: i64,
    offset: i64,
    limit: i64,
    /// First response over the last 30 days: (answered, median, share within target, target).
    kpi: (usize, Option<i64>, f64, i64),
    new: (&'a NewForm, &'a FormErrors),
}

fn queue_body(c: &Caller, v: &QueueView<'_>) -> Markup {
    let (answered, median, share, target) = v.kpi;
    let limit = v.limit.to_string();
    let mut pairs = Vec::new();
    if v.all {
        pairs.push(("all", "true"));
    }
    if v.limit != PAGE {
        pairs.push(("limit", limit.as_str()));
    }
    html! {
        h1 { "Tickets" }
        p {
            (if v.all { "All tickets" } else { "Open, in progress and waiting" }) " · "
            a href=(if v.all { "/tickets" } else { "/tickets?all=true" }) { (if v.all { "Active only" } else { "All" }) }
            " · " a href="/canned" { "Canned replies" }
        }
        @if answered > 0 {
            p.kpi {
                "First response, last 30 days: median " (median.map(human_duration).unwrap_or_default())
                " business time; " (format!("{:.0}", share * 100.0)) " % within " (human_duration(target))
                " (" (answered) " tickets)."
            }
        }
        (ticket_table(v.list, if v.all { "No tickets." } else { "No active tickets." }))
        (ui::pager("/tickets", &pairs, v.offset, v.limit, v.list.len(), Some(v.total)))
        @if AGENTS.contains(&c.role) {
            h2 #new { "New ticket" }
            (new_ticket_form(c, v.new.0, v.new.1))
        }
    }
}

async fn queue_response(
    c: &Caller,
    st: &AppState,
    q: &ListQ,
    status: StatusCode,
    new: Option<(&NewForm, &FormErrors)>,
) -> PageResult {
    let all = q.all.unwrap_or(false);
    let limit = q.limit.unwrap_or(PAGE).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    let list = tickets::list(&st.db, !all, limit, offset).await?;
    let total = tickets::count(&st.db, !all).await?;
    let month_ago = crate::db::now_ms() - 30 * 86_400_000;
    let target = st.settings.support.sla.targets.get("normal").map(|t| t.first_response_ms).unwrap_or(4 * 3_600_000);
    let (answered, median, share) = tickets::escalation::first_response_kpi(&st.db, month_ago, target).await?;
    let blank = NewForm::blank(q.customer);
    let none = FormErrors::new();
    let view = QueueView {
        all,
        list: &list,
        total,
        offset,
        limit,
        kpi: (answered, median, share, target),
        new: new.unwrap_or((&blank, &none)),
    };
    Ok((status, pages::page(c, "Tickets", queue_body(c, &view))).into_response())
}

pub async fn list_page(c: Caller, State(st): State<AppState>, Query(q): Query<ListQ>) -> PageResult {
    queue_response(&c, &st, &q, StatusCode::OK, None).await
}

pub async fn create_page(c: Caller, State(st): State<AppState>, Form(f): Form<NewForm>) -> PageResult {
    let created = match f.ticket() {
        Ok(new) => tickets::create(&st.db, &new, &c.name).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(t) => {
            audit::record(&st.db, &c.actor(), "ticket.open", &format!("ticket {}", t.id), &t.subject).await?;
            Ok(Redirect::to(&format!("/tickets/{}", t.id)).into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(customer_field(e), TICKET_FIELDS)?;
            let q = ListQ { all: None, limit: None, offset: None, customer: None };
            queue_response(&c, &st, &q, status, Some((&f, &errors))).await
        }
    }
}

fn clock(c: &Clock) -> Markup {
    let (cls, word) = match c.state {
        ClockState::Met => ("met", "met"),
        ClockState::Breached => ("breached", "missed"),
        ClockState::AtRisk => ("at-risk", "at risk"),
        ClockState::Running => ("running", "running"),
        ClockState::Paused => ("paused", "paused"),
    };
    let when = match (c.state, c.due_ms) {
        (ClockState::Met, _) => format!("in {}", human_duration(c.elapsed_ms)),
        (_, Some(d)) => format!("due {} UTC", fmt_utc(d)),
        (_, None) => "waiting on the customer".into(),
    };
    html! { span class={ "sla " (cls) } { (word) } " " (when) " (target " (human_duration(c.target_ms)) ")" }
}

/// A timeline entry's text, its line breaks kept.
pub(crate) fn multiline(text: &str) -> Markup {
    html! {
        @for (i, line) in text.lines().enumerate() {
            @if i > 0 { br; }
            (line)
        }
    }
}

#[derive(Deserialize)]
pub struct PageQ {
    /// A canned reply to put in the reply box.
    canned: Option<i64>,
}

/// What the ticket page shows.
struct TicketView<'a> {
    t: &'a Ticket,
    sla: Option<SlaStatus>,
    affected: &'a [(i64, String)],
    devices: &'a [DeviceView],
    /// The customer's radios, from `network::device_rows`.
    device_rows: Markup,
    events: &'a [Event],
    /// For agents on a ticket that is not closed: the forms' choices.
    work: Option<Work<'a>>,
    /// Work orders made from the ticket.
    jobs: &'a [mast_store::dispatch::JobRow],
}

/// The forms of an open ticket, with what a refused POST sent.
struct Work<'a> {
    canned: &'a [Canned],
    groups: &'a [Group],
    /// Active staff: (id, email).
    users: &'a [(i64, String)],
    /// The reply box's text.
    body: &'a str,
    errors: &'a FormErrors,
}

fn ticket_body(c: &Caller, v: &TicketView<'_>) -> Markup {
    let t = v.t;
    let id = t.id;
    let first = t.first_response_ms.map(|f| human_duration(f - t.created_ms)).unwrap_or_else(|| "-".into());
    let mut facts: Vec<(&str, Markup)> = Vec::new();
    if let (Some(cid), Some(name)) = (t.customer_id, &t.customer) {
        facts.push(("Customer", html! { a href={ "/customers/" (cid) } { (name) } }));
    }
    if let Some(i) = t.incident_id {
        facts.push(("Incident", html! { a href={ "/incidents/" (i) } { "#" (i) } }));
    }
    if let Some(r) = &t.requester_email {
        facts.push(("From", html! { (r) }));
    }
    facts.push(("Assignee", html! { (t.assignee.as_deref().unwrap_or("nobody")) }));
    facts.push(("Group", html! { (t.group.as_deref().unwrap_or("-")) }));
    facts.push(("First response", html! { (first) }));
    facts.push(("Resolved", html! { (t.resolved_ms.map(fmt_utc).unwrap_or_else(|| "-".into())) }));
    html! {
        h1 { "#" (id) " " (t.subject) }
        p {
            (status_badge(t.status)) " · " (t.priority) " priority · " (t.category) " · from " (t.source)
            " · opened " (fmt_utc(t.created_ms)) " UTC"
        }
        (ui::kv_list(&facts))
        @if let Some(sla) = &v.sla {
            p { "SLA · first response " (clock(&sla.first_response)) " · resolution " (clock(&sla.resolution)) }
        }
        @if !v.jobs.is_empty() || crate::dispatch::DISPATCHERS.contains(&c.role) {
            h2 { "Work orders" }
            ul.work-orders {
                @for j in v.jobs { li { a href={ "/dispatch/jobs/" (j.id) } { "#" (j.id) " " (j.title) } " · " (j.status)
                    @if let Some(d) = &j.day { " · " (d) } @if let Some(t) = &j.technician { " · " (t) } } }
            }
            @if crate::dispatch::DISPATCHERS.contains(&c.role) && t.status.is_active() {
                p { a.button href={ "/dispatch/jobs/new?ticket=" (id) } { "Send a technician (new work order)" } }
            }
        }
        @if !v.affected.is_empty() {
            h2 { "Affected customers (" (v.affected.len()) ")" }
            ul {
                @for (cid, name) in v.affected { li { a href={ "/customers/" (cid) } { (name) } } }
            }
        }
        // The customer's radio now and over the last days, to triage before
        // sending a truck.
        @if !v.devices.is_empty() {
            h2 { "Customer's radios" }
            (v.device_rows)
            @for d in v.devices.iter().take(3) {
                h3 { (d.name.as_deref().unwrap_or(&d.addr)) " — last 7 days" }
                figure.chart {
                    figcaption { "Signal (dBm)" }
                    img alt="signal, 7 days" src={ "/devices/" (d.id) "/signal.svg?range=week" };
                }
                figure.chart {
                    figcaption { "Round-trip time and loss" }
                    img alt="RTT and loss, 7 days" src={ "/devices/" (d.id) "/chart.svg?range=week" };
                }
            }
        }
        h2 { "Timeline" }
        ol.timeline {
            @for e in v.events {
                li class={ "ev-" (e.kind) } {
                    span.muted { (fmt_utc(e.ts_ms)) " UTC · " (e.author) " · " (e.kind) }
                    div { (multiline(&e.body)) }
                }
            }
        }
        @if let Some(w) = &v.work {
            (work_forms(c, t, w))
        }
    }
}

fn work_forms(c: &Caller, t: &Ticket, w: &Work<'_>) -> Markup {
    let id = t.id;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let f = Fields::new("work", w.errors);
    let canned: Vec<(String, &str)> = w.canned.iter().map(|r| (r.id.to_string(), r.title.as_str())).collect();
    let canned: Vec<(&str, &str)> = canned.iter().map(|(i, t)| (i.as_str(), *t)).collect();
    let mut groups: Vec<(String, &str)> = vec![(String::new(), "none")];
    groups.extend(w.groups.iter().map(|g| (g.id.to_string(), g.name.as_str())));
    let groups: Vec<(&str, &str)> = groups.iter().map(|(i, n)| (i.as_str(), *n)).collect();
    let group = t.group_id.map(|g| g.to_string()).unwrap_or_default();
    let mut users: Vec<(String, &str)> = vec![(String::new(), "nobody")];
    users.extend(w.users.iter().map(|(i, e)| (i.to_string(), e.as_str())));
    let users: Vec<(&str, &str)> = users.iter().map(|(i, e)| (i.as_str(), *e)).collect();
    let user = t.assignee_id.map(|u| u.to_string()).unwrap_or_default();
    html! {
        h2 #work { "Work it" }
        @if !canned.is_empty() {
            (ui::form_with_class("inline", &format!("/tickets/{id}"), Method::Get, "", html! {
                (f.select_field("canned", "Canned reply", &canned, "", FieldOpts::new()))
                button type="submit" { "Insert" }
            }))
        }
        (ui::form(&format!("/tickets/{id}/act"), Method::Post, csrf, html! {
            (f.summary())
            (f.textarea_field("body", "Text", w.body, FieldOpts::new()))
            div.buttons {
                button type="submit" name="action" value="reply" { "Reply to customer" }
                button type="submit" name="action" value="note" { "Internal note" }
                button type="submit" name="action" value="customer" { "Log customer reply" }
                button type="submit" name="action" value="start" { "Start" }
                button type="submit" name="action" value="wait" { "Wait for customer" }
                button type="submit" name="action" value="resolve" { "Resolve" }
                button type="submit" name="action" value="close" { "Close" }
                button type="submit" name="action" value="reopen" { "Reopen" }
            }
        }))
        (ui::form_with_class("inline", &format!("/tickets/{id}/assign"), Method::Post, csrf, html! {
            (f.select_field("user", "Assign to", &users, &user, FieldOpts::new()))
            button type="submit" { "Assign" }
        }))
        (ui::form_with_class("inline", &format!("/tickets/{id}/group"), Method::Post, csrf, html! {
            (f.select_field("group", "Group", &groups, &group, FieldOpts::new()))
            button type="submit" { "Set group" }
        }))
    }
}

/// What a refused POST on the ticket page sent back: the reply box's text
/// and the errors.
struct Sent<'a> {
    body: &'a str,
    errors: &'a FormErrors,
}

async fn ticket_response(
    c: &Caller,
    st: &AppState,
    id: i64,
    canned_id: Option<i64>,
    status: StatusCode,
    sent: Option<Sent<'_>>,
) -> PageResult {
    let Some(t) = tickets::get(&st.db, id).await? else { return Err(ApiError::not_found("no such ticket")) };
    let sla = tickets::escalation::status(&st.db, &st.settings.support.sla, &t, crate::db::now_ms()).await?;
    let affected = tickets::affected(&st.db, id).await?;
    let devices = match t.customer_id {
        Some(cid) => crate::monitoring::customer_devices(&st.db, cid).await?,
        None => Vec::new(),
    };
    let device_rows =
        if devices.is_empty() { Markup::default() } else { super::network::device_rows(&devices, crate::db::now_ms()) };
    let events = tickets::events(&st.db, id).await?;
    let works = AGENTS.contains(&c.role) && t.status != Status::Closed;
    let (canned, groups, users) = if works {
        let users: Vec<(i64, String)> = crate::staff::list_users(&st.db)
            .await?
            .into_iter()
            .filter(|u| !u.disabled)
            .map(|u| (u.id, u.email))
            .collect();
        (tickets::canned::list(&st.db).await?, tickets::groups::list(&st.db).await?, users)
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let prefill = match canned_id.and_then(|k| canned.iter().find(|r| r.id == k)) {
        Some(r) => tickets::canned::render(&r.body, t.customer.as_deref(), id, &c.name),
        None => String::new(),
    };
    let none = FormErrors::new();
    let sent = sent.unwrap_or(Sent { body: &prefill, errors: &none });
    let work =
        works.then_some(Work { canned: &canned, groups: &groups, users: &users, body: sent.body, errors: sent.errors });
    let jobs = mast_store::dispatch::jobs::for_ticket(&st.db, id).await?;
    let view = TicketView {
        t: &t,
        sla,
        affected: &affected,
        devices: &devices,
        device_rows,
        events: &events,
        work,
        jobs: &jobs,
    };
    Ok((status, pages::page(c, &format!("Ticket #{id}"), ticket_body(c, &view))).into_response())
}

pub async fn page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Query(q): Query<PageQ>) -> PageResult {
    ticket_response(&c, &st, id, q.canned, StatusCode::OK, None).await
}

fn parse_action(s: &str) -> Result<Action, StoreError> {
    Ok(match s {
        "start" => Action::Start,
        "reply" => Action::StaffReply,
        "note" => Action::Note,
        "wait" => Action::WaitForCustomer,
        "customer" => Action::CustomerReply,
        "resolve" => Action::Resolve,
        "close" => Action::Close,
        "reopen" => Action::Reopen,
        other => {
            return Err(StoreError::invalid(
                "action",
                format!("{other:?} is not one of start, reply, note, wait, customer, resolve, close, reopen"),
            ));
        }
    })
}

/// A refused POST on the ticket page: the page again, the error next to
/// the field (`body`, `user`, `group`) or above the forms, the text kept.
async fn refused(c: &Caller, st: &AppState, id: i64, e: StoreError, body: &str) -> PageResult {
    let (status, errors) = form_errors(e, &["body", "user", "group"])?;
    ticket_response(c, st, id, None, status, Some(Sent { body, errors: &errors })).await
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    body: String,
}

pub async fn act_page(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ActForm>,
) -> PageResult {
    let done = match parse_action(&f.action) {
        Ok(a) => tickets::act(&st.db, &st.desk(), id, a, &f.body, &c.name).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(t) => {
            let what = format!("{} → {}", f.action, t.status.as_str());
            audit::record(&st.db, &c.actor(), "ticket.act", &format!("ticket {id}"), &what).await?;
            Ok(Redirect::to(&format!("/tickets/{id}")).into_response())
        }
        Err(e) => refused(&c, &st, id, e, &f.body).await,
    }
}

/// An optional id from a select (empty: none); the error names `field`.
fn optional_id(field: &str, s: &str) -> Result<Option<i64>, StoreError> {
    match s.trim() {
        "" => Ok(None),
        s => s.parse::<i64>().map(Some).map_err(|_| StoreError::invalid(field, "not a number")),
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    user: String,
}

pub async fn assign_page(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<AssignForm>,
) -> PageResult {
    let done = match optional_id("user", &f.user) {
        Ok(user) => tickets::assign(&st.db, id, user, &c.name).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(t) => {
            let who = t.assignee.as_deref().unwrap_or("nobody");
            audit::record(&st.db, &c.actor(), "ticket.assign", &format!("ticket {id}"), who).await?;
            Ok(Redirect::to(&format!("/tickets/{id}")).into_response())
        }
        Err(e) => refused(&c, &st, id, e, "").await,
    }
}

#[derive(Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    group: String,
}

pub async fn group_page(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<GroupForm>,
) -> PageResult {
    let done = match optional_id("group", &f.group) {
        Ok(group) => tickets::assign_group(&st.db, id, group, &c.name).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(t) => {
            let group = t.group.as_deref().unwrap_or("none");
            audit::record(&st.db, &c.actor(), "ticket.group", &format!("ticket {id}"), group).await?;
            Ok(Redirect::to(&format!("/tickets/{id}")).into_response())
        }
        Err(e) => refused(&c, &st, id, e, "").await,
    }
}

// --- JSON API ---------------------------------------------------------------

pub async fn api_list(State(st): State<AppState>, Query(q): Query<ListQ>) -> Result<Json<Value>, ApiError> {
    let p = super::api::Page { limit: q.limit, offset: q.offset };
    let (limit, offset) = p.clamp(100, 1000);
    let list = tickets::list(&st.db, !q.all.unwrap_or(false), limit, offset).await?;
    Ok(Json(json!({ "tickets": list, "limit": limit, "offset": offset })))
}

pub async fn api_create(
    c: Caller,
    State(st): State<AppState>,
    Json(new): Json<NewTicket>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = tickets::create(&st.db, &new, &c.name).await?;
    audit::record(&st.db, &c.actor(), "ticket.open", &format!("ticket {}", t.id), &t.subject).await?;
    Ok((StatusCode::CREATED, Json(json!({ "ticket": t }))))
}

pub async fn api_get(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let Some(t) = tickets::get(&st.db, id).await? else { return Err(ApiError::not_found("no such ticket")) };
    let events = tickets::events(&st.db, id).await?;
    let affected: Vec<i64> = tickets::affected(&st.db, id).await?.into_iter().map(|(i, _)| i).collect();
    Ok(Json(json!({ "ticket": t, "events": events, "affected_customers": affected })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActJson {
    action: String,
    #[serde(default)]
    body: String,
}

pub async fn api_act(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Json(a): Json<ActJson>,
) -> Result<Json<Value>, ApiError> {
    let action = parse_action(&a.action)?;
    let t = tickets::act(&st.db, &st.desk(), id, action, &a.body, &c.name).await?;
    audit::record(
        &st.db,
        &c.actor(),
        "ticket.act",
        &format!("ticket {id}"),
        &format!("{} → {}", a.action, t.status.as_str()),
    )
    .await?;
    Ok(Json(json!({ "ticket": t })))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::customers::tests::{ESCAPED, HOSTILE, safe, staff};

    pub(crate) fn hostile_ticket() -> Ticket {
        Ticket {
            id: 7,
            subject: HOSTILE.into(),
            customer_id: Some(3),
            customer: Some(HOSTILE.into()),
            status: Status::Open,
            priority: Priority::High,
            category: Category::Connectivity,
            source: Source::Phone,
            assignee_id: None,
            assignee: Some(HOSTILE.into()),
            group_id: None,
            group: Some(HOSTILE.into()),
            requester_email: Some(HOSTILE.into()),
            incident_id: None,
            created_ms: 0,
            updated_ms: 0,
            first_response_ms: None,
            resolved_ms: None,
            closed_ms: None,
            first_response_business_ms: None,
            resolution_business_ms: None,
            affected_customers: 0,
        }
    }

    fn event(kind: tickets::EventKind, body: &str) -> Event {
        Event { ts_ms: 0, author: HOSTILE.into(), kind, body: body.into() }
    }

    #[test]
    fn the_ticket_page_escapes_subject_body_and_names() {
        let t = hostile_ticket();
        let c = staff(Role::Support);
        let events = vec![
            event(tickets::EventKind::Customer, &format!("first line\n{HOSTILE}")),
            event(tickets::EventKind::Public, HOSTILE),
        ];
        let canned = vec![Canned { id: 1, title: HOSTILE.into(), body: "x".into() }];
        let users = vec![(2, HOSTILE.to_string())];
        let mut errors = FormErrors::new();
        errors.field("body", HOSTILE);
        let work = Work { canned: &canned, groups: &[], users: &users, body: HOSTILE, errors: &errors };
        let affected = vec![(3, HOSTILE.to_string())];
        let view = TicketView {
            t: &t,
            sla: None,
            affected: &affected,
            devices: &[],
            device_rows: Markup::default(),
            events: &events,
            work: Some(work),
            jobs: &[],
        };
        let page = pages::page(&c, &format!("Ticket #{}", t.id), ticket_body(&c, &view));
        let s = safe(&page);
        assert!(s.contains(&format!("<h1>#7 {ESCAPED}</h1>")), "{s}");
        assert!(s.contains(&format!("<div>first line<br>{ESCAPED}</div>")), "line breaks kept, text escaped: {s}");
        assert!(s.contains(r#"<li class="ev-public">"#) && s.contains(r#"<ol class="timeline">"#));
        assert!(s.contains(&format!(r#"aria-describedby="work-body-error">{ESCAPED}</textarea>"#)), "{s}");
        assert!(s.contains(r#"<button type="submit" name="action" value="reply">"#));
        assert!(s.contains(r#"<span class="badge down">open</span>"#));
        // Read-only staff, or a closed ticket: no forms.
        let view = TicketView { work: None, ..view };
        assert!(!safe(&ticket_body(&staff(Role::ReadOnly), &view)).contains("<form"));
    }

    #[test]
    fn the_queue_escapes_subjects_and_keeps_a_refused_ticket() {
        let list = vec![hostile_ticket()];
        let c = staff(Role::Technician);
        let f =
            NewForm { subject: HOSTILE.into(), customer: "abc".into(), body: HOSTILE.into(), ..NewForm::blank(None) };
        let e = f.ticket().unwrap_err();
        let (status, errors) = form_errors(customer_field(e), TICKET_FIELDS).unwrap();
        assert_eq!((status, errors.get("customer")), (StatusCode::BAD_REQUEST, Some("give the customer's number")));
        let view = QueueView {
            all: false,
            list: &list,
            total: 1,
            offset: 0,
            limit: PAGE,
            kpi: (0, None, 1.0, 0),
            new: (&f, &errors),
        };
        let s = safe(&queue_body(&c, &view));
        assert!(s.contains(r#"<a href="/tickets/7">#7 "#), "{s}");
        assert!(s.contains(r#"<form class="stack" method="post" action="/tickets">"#));
        assert!(s.contains(r#"id="ticket-customer-error""#) && s.contains(r#"value="abc""#), "{s}");
        // The store names the customer by its JSON key; the form by its own.
        let e = customer_field(StoreError::invalid("customer_id", "no customer 9"));
        assert_eq!(e.field(), Some("customer"));
        let s = queue_body(&staff(Role::ReadOnly), &QueueView { list: &[], ..view }).into_string();
        assert!(s.contains("No active tickets.") && !s.contains("New ticket"), "{s}");
    }

    #[test]
    fn actions_parse_or_name_the_field() {
        assert_eq!(parse_action("reply").unwrap(), Action::StaffReply);
        assert_eq!(parse_action("dance").unwrap_err().field(), Some("action"));
        assert_eq!(optional_id("user", "").unwrap(), None);
        assert_eq!(optional_id("user", "x").unwrap_err().field(), Some("user"));
    }
}
