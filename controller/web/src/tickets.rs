//! Ticket pages and API: the queue, opening a ticket (a phone call entered
//! by staff), a ticket's timeline with reply / internal note / status and
//! assignment forms. Every change is audited.

use super::pages::{csrf_field, layout};
use super::{ApiError, AppState, Caller, esc, fmt_utc};
use crate::audit;
use crate::staff::Role;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mast_store::tickets::lifecycle::{Action, Status};
use mast_store::tickets::{self, CATEGORIES, NewTicket, PRIORITIES, Ticket};
use serde::Deserialize;
use serde_json::{Value, json};

/// Who may open and work tickets (read-only staff may only look).
pub const AGENTS: &[Role] = &[Role::Admin, Role::Billing, Role::Support, Role::Technician];

type PageResult = Result<Response, ApiError>;

fn status_badge(s: Status) -> String {
    let cls = match s {
        Status::Open => "down",
        Status::InProgress | Status::Waiting => "degraded",
        Status::Resolved | Status::Closed => "up",
    };
    format!("<span class='badge {cls}'>{}</span>", s.as_str())
}

pub fn ticket_rows(list: &[Ticket]) -> String {
    let mut b = String::from(
        "<div class=wrap><table><tr><th>Ticket</th><th>Status</th><th>Priority</th><th>Customer</th><th>Assignee</th>\
         <th>Opened (UTC)</th><th>First response</th></tr>",
    );
    for t in list {
        let customer = match (t.customer_id, &t.customer) {
            (Some(id), Some(n)) => format!("<a href='/customers/{id}'>{}</a>", esc(n)),
            _ if t.affected_customers > 0 => format!("{} affected", t.affected_customers),
            _ => "-".into(),
        };
        let first = match t.first_response_ms {
            Some(f) => crate::monitoring::outages::human_duration(f - t.created_ms),
            None => "-".into(),
        };
        b.push_str(&format!(
            "<tr><td><a href='/tickets/{id}'>#{id} {subject}</a></td><td>{}</td><td>{}</td><td>{customer}</td><td>{}</td><td>{}</td><td>{first}</td></tr>",
            status_badge(t.status),
            esc(&t.priority),
            esc(t.assignee.as_deref().unwrap_or("-")),
            fmt_utc(t.created_ms),
            id = t.id,
            subject = esc(&t.subject),
        ));
    }
    b.push_str("</table></div>");
    b
}

#[derive(Deserialize)]
pub struct ListQ {
    all: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
    customer: Option<i64>,
}

fn options(list: &[&str], selected: &str) -> String {
    list.iter().map(|o| format!("<option{}>{o}</option>", if *o == selected { " selected" } else { "" })).collect()
}

pub async fn list_page(c: Caller, State(st): State<AppState>, Query(q): Query<ListQ>) -> PageResult {
    let all = q.all.unwrap_or(false);
    let list = tickets::list(&st.db, !all, 200, q.offset.unwrap_or(0).max(0)).await?;
    let mut b = format!(
        "<h1>Tickets</h1><p>{} · <a href='/tickets{}'>{}</a></p>",
        if all { "All tickets" } else { "Open, in progress and waiting" },
        if all { "" } else { "?all=true" },
        if all { "Active only" } else { "All" }
    );
    let month_ago = crate::db::now_ms() - 30 * 86_400_000;
    let target = st.settings.support.sla.targets.get("normal").map(|t| t.first_response_ms).unwrap_or(4 * 3_600_000);
    let (answered, median, share) =
        mast_store::tickets::escalation::first_response_kpi(&st.db, month_ago, target).await?;
    if answered > 0 {
        b.push_str(&format!(
            "<p class=kpi>First response, last 30 days: median {} business time; {:.0} % within {} ({answered} tickets).              <a href=/canned>Canned replies</a></p>",
            median.map(crate::monitoring::outages::human_duration).unwrap_or_default(),
            share * 100.0,
            crate::monitoring::outages::human_duration(target),
        ));
    } else {
        b.push_str("<p><a href=/canned>Canned replies</a></p>");
    }
    b.push_str(&ticket_rows(&list));
    if list.is_empty() {
        b.push_str("<p>No tickets.</p>");
    }
    if AGENTS.contains(&c.role) {
        b.push_str(&format!(
            "<h2>New ticket</h2><form class=stack method=post action=/tickets>{}\
             <label>Subject <input name=subject required maxlength=200></label>\
             <label>Customer id <input name=customer_id inputmode=numeric value='{}'></label>\
             <label>Priority <select name=priority>{}</select></label>\
             <label>Category <select name=category>{}</select></label>\
             <label>Source <select name=source>{}</select></label>\
             <label>What the customer reports <textarea name=body></textarea></label>\
             <button type=submit>Open ticket</button></form>",
            csrf_field(&c),
            q.customer.map(|c| c.to_string()).unwrap_or_default(),
            options(&PRIORITIES, "normal"),
            options(&CATEGORIES, "connectivity"),
            options(&["phone", "staff", "email", "portal"], "phone"),
        ));
    }
    Ok(layout(&c, "Tickets", &b).into_response())
}

#[derive(Deserialize)]
pub struct NewForm {
    subject: String,
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    body: String,
}

pub async fn create_page(c: Caller, State(st): State<AppState>, Form(f): Form<NewForm>) -> PageResult {
    let customer_id = match f.customer_id.trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| ApiError::bad_request("customer: not a customer id"))?),
    };
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
    let new = NewTicket {
        subject: f.subject,
        customer_id,
        priority: some(&f.priority),
        category: some(&f.category),
        source: some(&f.source),
        body: f.body,
        requester_email: None,
    };
    let t = tickets::create(&st.db, &new, &c.name).await?;
    audit::record(&st.db, &c.actor(), "ticket.open", &format!("ticket {}", t.id), &t.subject).await?;
    Ok(Redirect::to(&format!("/tickets/{}", t.id)).into_response())
}

fn clock_html(c: &mast_store::tickets::sla::Clock) -> String {
    use mast_store::tickets::sla::ClockState::*;
    let (cls, word) = match c.state {
        Met => ("met", "met"),
        Breached => ("breached", "missed"),
        AtRisk => ("at-risk", "at risk"),
        Running => ("running", "running"),
        Paused => ("paused", "paused"),
    };
    let when = match (c.state, c.due_ms) {
        (Met, _) => format!("in {}", crate::monitoring::outages::human_duration(c.elapsed_ms)),
        (_, Some(d)) => format!("due {} UTC", fmt_utc(d)),
        (_, None) => "waiting on the customer".into(),
    };
    format!(
        "<span class='sla {cls}'>{word}</span> {when} (target {})",
        crate::monitoring::outages::human_duration(c.target_ms)
    )
}

#[derive(Deserialize)]
pub struct PageQ {
    /// A canned reply to put in the reply box.
    canned: Option<i64>,
}

pub async fn page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Query(q): Query<PageQ>) -> PageResult {
    let Some(t) = tickets::get(&st.db, id).await? else { return Err(ApiError::not_found("no such ticket")) };
    let mut b = format!(
        "<h1>#{id} {}</h1><p>{} · {} priority · {} · from {} · opened {} UTC</p><dl class=facts>",
        esc(&t.subject),
        status_badge(t.status),
        esc(&t.priority),
        esc(&t.category),
        esc(&t.source),
        fmt_utc(t.created_ms),
    );
    if let (Some(cid), Some(name)) = (t.customer_id, &t.customer) {
        b.push_str(&format!("<dt>Customer</dt><dd><a href='/customers/{cid}'>{}</a></dd>", esc(name)));
    }
    if let Some(i) = t.incident_id {
        b.push_str(&format!("<dt>Incident</dt><dd><a href='/incidents/{i}'>#{i}</a></dd>"));
    }
    if let Some(r) = &t.requester_email {
        b.push_str(&format!("<dt>From</dt><dd>{}</dd>", esc(r)));
    }
    b.push_str(&format!(
        "<dt>Assignee</dt><dd>{}</dd><dt>Group</dt><dd>{}</dd><dt>First response</dt><dd>{}</dd><dt>Resolved</dt><dd>{}</dd></dl>",
        esc(t.assignee.as_deref().unwrap_or("nobody")),
        esc(t.group.as_deref().unwrap_or("-")),
        t.first_response_ms
            .map(|f| crate::monitoring::outages::human_duration(f - t.created_ms))
            .unwrap_or_else(|| "-".into()),
        t.resolved_ms.map(fmt_utc).unwrap_or_else(|| "-".into()),
    ));
    if let Some(sla) =
        mast_store::tickets::escalation::status(&st.db, &st.settings.support.sla, &t, crate::db::now_ms()).await?
    {
        b.push_str(&format!(
            "<p>SLA · first response {} · resolution {}</p>",
            clock_html(&sla.first_response),
            clock_html(&sla.resolution)
        ));
    }
    let affected = tickets::affected(&st.db, id).await?;
    if !affected.is_empty() {
        b.push_str(&format!("<h2>Affected customers ({})</h2><ul>", affected.len()));
        for (cid, name) in &affected {
            b.push_str(&format!("<li><a href='/customers/{cid}'>{}</a></li>", esc(name)));
        }
        b.push_str("</ul>");
    }
    // The customer's radio now and over the last days, to triage before
    // sending a truck.
    if let Some(cid) = t.customer_id {
        let devices = crate::monitoring::customer_devices(&st.db, cid).await?;
        if !devices.is_empty() {
            b.push_str("<h2>Customer's radios</h2>");
            b.push_str(&super::network::device_rows(&devices, crate::db::now_ms()));
            for d in devices.iter().take(3) {
                b.push_str(&format!(
                    "<h3>{} — last 7 days</h3><figure class=chart><figcaption>Signal (dBm)</figcaption>                     <img alt='signal, 7 days' src='/devices/{id}/signal.svg?range=week'></figure>                     <figure class=chart><figcaption>Round-trip time and loss</figcaption>                     <img alt='RTT and loss, 7 days' src='/devices/{id}/chart.svg?range=week'></figure>",
                    esc(d.name.as_deref().unwrap_or(&d.addr)),
                    id = d.id
                ));
            }
        }
    }
    b.push_str("<h2>Timeline</h2><ol class=timeline>");
    for e in tickets::events(&st.db, id).await? {
        b.push_str(&format!(
            "<li class='ev-{}'><span class=muted>{} UTC · {} · {}</span><div>{}</div></li>",
            esc(&e.kind),
            fmt_utc(e.ts_ms),
            esc(&e.author),
            esc(&e.kind),
            esc(&e.body).replace('\n', "<br>")
        ));
    }
    b.push_str("</ol>");
    if AGENTS.contains(&c.role) && t.status != Status::Closed {
        let csrf = csrf_field(&c);
        let replies = mast_store::tickets::canned::list(&st.db).await?;
        let prefill = match q.canned.and_then(|k| replies.iter().find(|r| r.id == k)) {
            Some(r) => mast_store::tickets::canned::render(&r.body, t.customer.as_deref(), id, &c.name),
            None => String::new(),
        };
        if !replies.is_empty() {
            let opts: String =
                replies.iter().map(|r| format!("<option value='{}'>{}</option>", r.id, esc(&r.title))).collect();
            b.push_str(&format!(
                "<form class=inline method=get action='/tickets/{id}'><label>Canned reply <select name=canned>{opts}\
                 </select></label><button>Insert</button></form>"
            ));
        }
        let group_opts: String = {
            let mut o = String::from("<option value=''>none</option>");
            for g in mast_store::tickets::groups::list(&st.db).await? {
                let sel = if Some(g.id) == t.group_id { " selected" } else { "" };
                o.push_str(&format!("<option value='{}'{sel}>{}</option>", g.id, esc(&g.name)));
            }
            o
        };
        b.push_str(&format!(
            "<form class=inline method=post action='/tickets/{id}/group'>{csrf}<label>Group <select name=group>\
             {group_opts}</select></label><button>Set group</button></form>"
        ));
        b.push_str(&format!(
            "<h2>Work it</h2><form class=stack method=post action='/tickets/{id}/act'>{csrf}\
             <label>Text <textarea name=body>{prefill}</textarea></label>\
             <div class=buttons><button name=action value=reply>Reply to customer</button>\
             <button name=action value=note>Internal note</button><button name=action value=customer>Log customer reply</button>\
             <button name=action value=start>Start</button><button name=action value=wait>Wait for customer</button>\
             <button name=action value=resolve>Resolve</button><button name=action value=close>Close</button>\
             <button name=action value=reopen>Reopen</button></div></form>\
             <form class=stack method=post action='/tickets/{id}/assign'>{csrf}<label>Assign to \
             <select name=user>{users}</select></label><button type=submit>Assign</button></form>",
            prefill = esc(&prefill),
            users = {
                let mut o = String::from("<option value=''>nobody</option>");
                for u in crate::staff::list_users(&st.db).await? {
                    if !u.disabled {
                        let sel = if Some(u.id) == t.assignee_id { " selected" } else { "" };
                        o.push_str(&format!("<option value='{}'{sel}>{}</option>", u.id, esc(&u.email)));
                    }
                }
                o
            },
        ));
    }
    Ok(layout(&c, &format!("Ticket #{id}"), &b).into_response())
}

fn parse_action(s: &str) -> Result<Action, ApiError> {
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
            return Err(ApiError::bad_request(format!(
                "action {other:?}: start, reply, note, wait, customer, resolve, close or reopen"
            )));
        }
    })
}

#[derive(Deserialize)]
pub struct ActForm {
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
    let a = parse_action(&f.action)?;
    let t = tickets::act(&st.db, &st.desk(), id, a, &f.body, &c.name).await?;
    audit::record(
        &st.db,
        &c.actor(),
        "ticket.act",
        &format!("ticket {id}"),
        &format!("{} → {}", f.action, t.status.as_str()),
    )
    .await?;
    Ok(Redirect::to(&format!("/tickets/{id}")).into_response())
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
    let user = match f.user.trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| ApiError::bad_request("user: not a user id"))?),
    };
    let t = tickets::assign(&st.db, id, user, &c.name).await?;
    audit::record(
        &st.db,
        &c.actor(),
        "ticket.assign",
        &format!("ticket {id}"),
        t.assignee.as_deref().unwrap_or("nobody"),
    )
    .await?;
    Ok(Redirect::to(&format!("/tickets/{id}")).into_response())
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
    let group = match f.group.trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| ApiError::bad_request("group: not a group id"))?),
    };
    let t = tickets::assign_group(&st.db, id, group, &c.name).await?;
    audit::record(&st.db, &c.actor(), "ticket.group", &format!("ticket {id}"), t.group.as_deref().unwrap_or("none"))
        .await?;
    Ok(Redirect::to(&format!("/tickets/{id}")).into_response())
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
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let t = tickets::create(&st.db, &new, &c.name).await?;
    audit::record(&st.db, &c.actor(), "ticket.open", &format!("ticket {}", t.id), &t.subject).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({ "ticket": t }))))
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
