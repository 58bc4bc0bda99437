//! Customer pages and API: list and search, create and edit, link CPEs by
//! MAC, and the customer page with the live state of their radios. Every
//! change is audited.

use super::network::device_rows;
use super::pages::{badge, csrf_field, layout};
use super::{ApiError, AppState, Caller, esc, fmt_utc};
use crate::audit;
use crate::staff::Role;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mast_store::customers::{self, Customer, CustomerInput, STATUSES};
use serde::Deserialize;
use serde_json::{Value, json};

/// Who may create and edit customers.
pub const EDITORS: &[Role] = &[Role::Admin, Role::Billing, Role::Support];

type PageResult = Result<Response, ApiError>;

fn may_edit(c: &Caller) -> bool {
    EDITORS.contains(&c.role)
}

#[derive(Deserialize)]
pub struct ListQ {
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The HTML form: every field a string (empty inputs arrive as "").
#[derive(Deserialize, Default)]
pub struct CustomerForm {
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lon: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    cpe: String,
    /// A checkbox: "on" when ticked, absent when not.
    #[serde(default)]
    notify_outages: Option<String>,
}

impl CustomerForm {
    fn input(&self) -> Result<CustomerInput, ApiError> {
        let num = |field: &str, s: &str| -> Result<Option<f64>, ApiError> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{field}: not a number")))
        };
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
        Ok(CustomerInput {
            name: self.name.clone(),
            email: some(&self.email),
            phone: some(&self.phone),
            address: some(&self.address),
            lat: num("coordinates", &self.lat)?,
            lon: num("coordinates", &self.lon)?,
            status: some(&self.status),
            site: some(&self.site),
            notes: some(&self.notes),
            notify_outages: Some(self.notify_outages.is_some()),
        })
    }
}

fn form_html(c: &Caller, action: &str, cur: Option<&Customer>, submit: &str) -> String {
    let v = |f: fn(&Customer) -> Option<String>| esc(&cur.and_then(f).unwrap_or_default());
    let mut status = String::new();
    for s in STATUSES {
        let sel = if cur.map_or(s == "active", |c| c.status == s) { " selected" } else { "" };
        status.push_str(&format!("<option{sel}>{s}</option>"));
    }
    format!(
        "<form class=stack method=post action='{action}'>{csrf}\
         <label>Name <input name=name required maxlength=200 value='{name}'></label>\
         <label>Email <input name=email type=email value='{email}'></label>\
         <label>Phone <input name=phone type=tel value='{phone}'></label>\
         <label>Service address <input name=address value='{address}'></label>\
         <label>Latitude <input name=lat inputmode=decimal value='{lat}'></label>\
         <label>Longitude <input name=lon inputmode=decimal value='{lon}'></label>\
         <label>Site <input name=site value='{site}'></label>\
         <label>Status <select name=status>{status}</select></label>\
         <label>Notes <textarea name=notes>{notes}</textarea></label>{cpe}\
         <label class=check><input type=checkbox name=notify_outages{notify}> Outage and maintenance notices</label>\
         <button type=submit>{submit}</button></form>",
        csrf = csrf_field(c),
        name = v(|c| Some(c.name.clone())),
        email = v(|c| c.email.clone()),
        phone = v(|c| c.phone.clone()),
        address = v(|c| c.address.clone()),
        lat = v(|c| c.lat.map(|x| x.to_string())),
        lon = v(|c| c.lon.map(|x| x.to_string())),
        site = v(|c| c.site.clone()),
        notes = v(|c| c.notes.clone()),
        notify = if cur.is_none_or(|c| c.notify_outages) { " checked" } else { "" },
        cpe = if cur.is_none() {
            "<label>CPE MAC <input name=cpe class=mono placeholder='aa:bb:cc:dd:ee:ff'></label>"
        } else {
            ""
        },
    )
}

pub fn customer_rows(list: &[Customer]) -> String {
    let mut b = String::from(
        "<div class=wrap><table><tr><th>Name</th><th>Status</th><th>Site</th><th>Email</th><th>Phone</th><th>CPEs</th></tr>",
    );
    for c in list {
        b.push_str(&format!(
            "<tr><td><a href='/customers/{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=mono>{}</td></tr>",
            c.id,
            esc(&c.name),
            esc(&c.status),
            esc(c.site.as_deref().unwrap_or("-")),
            esc(c.email.as_deref().unwrap_or("-")),
            esc(c.phone.as_deref().unwrap_or("-")),
            esc(&c.cpes.join(", "))
        ));
    }
    b.push_str("</table></div>");
    b
}

pub async fn list_page(c: Caller, State(st): State<AppState>, Query(q): Query<ListQ>) -> PageResult {
    let term = q.q.unwrap_or_default();
    let list = customers::search(&st.db, &term, 200, q.offset.unwrap_or(0).max(0)).await?;
    let mut b = format!(
        "<h1>Customers</h1><form class=search-inline method=get action=/customers>\
         <input name=q type=search value='{}' placeholder='Name, email, phone, address or CPE MAC' aria-label='Search customers'>\
         <button type=submit>Search</button></form>",
        esc(&term)
    );
    b.push_str(&customer_rows(&list));
    if list.is_empty() {
        b.push_str("<p>No customers found.</p>");
    }
    if may_edit(&c) {
        b.push_str("<h2>New customer</h2>");
        b.push_str(&form_html(&c, "/customers", None, "Create"));
    }
    Ok(layout(&c, "Customers", &b).into_response())
}

pub async fn create_page(c: Caller, State(st): State<AppState>, Form(f): Form<CustomerForm>) -> PageResult {
    let created = customers::create(&st.db, &f.input()?).await?;
    audit::record(&st.db, &c.actor(), "customer.add", &format!("customer {}", created.id), &created.name).await?;
    if !f.cpe.trim().is_empty() {
        let mac = customers::link_cpe(&st.db, created.id, &f.cpe).await?;
        audit::record(&st.db, &c.actor(), "customer.link-cpe", &format!("customer {}", created.id), &mac).await?;
    }
    Ok(Redirect::to(&format!("/customers/{}", created.id)).into_response())
}

pub async fn page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let Some(cu) = customers::get(&st.db, id).await? else { return Err(ApiError::not_found("no such customer")) };
    let now = crate::db::now_ms();
    let devices = crate::monitoring::customer_devices(&st.db, id).await?;
    let worst = if devices.is_empty() {
        "unknown"
    } else if devices.iter().any(|d| d.status == "down") {
        "down"
    } else if devices.iter().all(|d| d.status == "up") {
        "up"
    } else {
        "unknown"
    };
    let mut b = format!(
        "<h1>{}</h1><p>{} · service {} · customer since {}</p><dl class=facts>\
         <dt>Email</dt><dd>{}</dd><dt>Phone</dt><dd>{}</dd><dt>Service address</dt><dd>{}</dd><dt>Coordinates</dt><dd>{}</dd>\
         <dt>Site</dt><dd>{}</dd><dt>Notes</dt><dd>{}</dd><dt>Notices</dt><dd>{}</dd></dl>",
        esc(&cu.name),
        esc(&cu.status),
        badge(worst),
        fmt_utc(cu.created_ms),
        esc(cu.email.as_deref().unwrap_or("-")),
        esc(cu.phone.as_deref().unwrap_or("-")),
        esc(cu.address.as_deref().unwrap_or("-")),
        match (cu.lat, cu.lon) {
            (Some(a), Some(o)) => format!("{a:.5}, {o:.5}"),
            _ => "-".into(),
        },
        match (cu.site_id, &cu.site) {
            (Some(sid), Some(s)) => format!("<a href='/sites/{sid}'>{}</a>", esc(s)),
            _ => "-".into(),
        },
        esc(cu.notes.as_deref().unwrap_or("-")),
        if cu.notify_outages { "outages and maintenance" } else { "opted out" },
    );
    b.push_str("<h2>Radios</h2>");
    if cu.cpes.is_empty() {
        b.push_str("<p>No CPE linked yet.</p>");
    } else {
        b.push_str(&format!("<p class=mono>{}</p>", esc(&cu.cpes.join(", "))));
        if devices.is_empty() {
            b.push_str("<p class=muted>No agent has seen these radios yet.</p>");
        } else {
            b.push_str(&device_rows(&devices, now));
        }
    }
    b.push_str(&super::billing::staff_section(&c, &st, id).await?.into_string());
    let tickets = mast_store::tickets::for_customer(&st.db, id).await?;
    b.push_str(&format!("<h2>Tickets and outages ({})</h2>", tickets.len()));
    b.push_str(&super::tickets::ticket_rows(&tickets));
    if super::tickets::AGENTS.contains(&c.role) {
        b.push_str(&format!("<p><a href='/tickets?customer={id}'>Open a ticket for this customer</a></p>"));
    }
    if may_edit(&c) {
        let login = crate::portal_accounts::has_login(&st.db, id).await?;
        b.push_str(&format!(
            "<h2>Portal</h2><p>{}</p><form class=inline method=post action='/customers/{id}/portal'>{}\
             <button>{}</button></form>",
            match &login {
                Some(e) => format!("Signs in as {}.", esc(e)),
                None => "No portal login yet.".into(),
            },
            csrf_field(&c),
            if login.is_some() { "Email a new sign-in link" } else { "Invite to the portal" },
        ));
        b.push_str(&format!(
            "<h2>Link a CPE</h2><form class=stack method=post action='/customers/{id}/cpes'>{}\
             <label>MAC <input name=mac class=mono required placeholder='aa:bb:cc:dd:ee:ff'></label><button type=submit>Link</button></form>",
            csrf_field(&c)
        ));
        b.push_str("<h2>Edit</h2>");
        b.push_str(&form_html(&c, &format!("/customers/{id}"), Some(&cu), "Save"));
    }
    Ok(layout(&c, &cu.name, &b).into_response())
}

pub async fn update_page(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<CustomerForm>,
) -> PageResult {
    let cu = customers::update(&st.db, id, &f.input()?).await?;
    audit::record(&st.db, &c.actor(), "customer.update", &format!("customer {id}"), &cu.name).await?;
    Ok(Redirect::to(&format!("/customers/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct LinkForm {
    mac: String,
}

pub async fn link_page(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<LinkForm>,
) -> PageResult {
    let mac = customers::link_cpe(&st.db, id, &f.mac).await?;
    audit::record(&st.db, &c.actor(), "customer.link-cpe", &format!("customer {id}"), &mac).await?;
    Ok(Redirect::to(&format!("/customers/{id}")).into_response())
}

// --- JSON API ---------------------------------------------------------------

pub async fn api_list(State(st): State<AppState>, Query(q): Query<ListQ>) -> Result<Json<Value>, ApiError> {
    let p = super::api::Page { limit: q.limit, offset: q.offset };
    let (limit, offset) = p.clamp(100, 1000);
    let list = customers::search(&st.db, q.q.as_deref().unwrap_or(""), limit, offset).await?;
    Ok(Json(json!({ "customers": list, "limit": limit, "offset": offset })))
}

pub async fn api_create(
    c: Caller,
    State(st): State<AppState>,
    Json(input): Json<CustomerInput>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let cu = customers::create(&st.db, &input).await?;
    audit::record(&st.db, &c.actor(), "customer.add", &format!("customer {}", cu.id), &cu.name).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({ "customer": cu }))))
}

pub async fn api_get(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let Some(cu) = customers::get(&st.db, id).await? else { return Err(ApiError::not_found("no such customer")) };
    let devices = crate::monitoring::customer_devices(&st.db, id).await?;
    Ok(Json(json!({ "customer": cu, "devices": devices })))
}

pub async fn api_update(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Json(input): Json<CustomerInput>,
) -> Result<Json<Value>, ApiError> {
    let cu = customers::update(&st.db, id, &input).await?;
    audit::record(&st.db, &c.actor(), "customer.update", &format!("customer {id}"), &cu.name).await?;
    Ok(Json(json!({ "customer": cu })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkJson {
    mac: String,
}

pub async fn api_link(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Json(l): Json<LinkJson>,
) -> Result<Json<Value>, ApiError> {
    let mac = customers::link_cpe(&st.db, id, &l.mac).await?;
    audit::record(&st.db, &c.actor(), "customer.link-cpe", &format!("customer {id}"), &mac).await?;
    Ok(Json(json!({ "customer_id": id, "mac": mac })))
}

/// Gives the customer a portal login and emails them a sign-in link.
pub async fn portal_invite(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let email = crate::portal_accounts::enable(&st.db, id).await?;
    let sent = super::portal::send_link(&st, &email).await?;
    audit::record(&st.db, &c.actor(), "portal.invite", &format!("customer {id}"), &email).await?;
    if !sent {
        return Err(ApiError::bad_request(
            "the login exists, but outgoing mail is not configured (smtp_host): set a password with \
             `mast-controller customer portal-password ID` instead",
        ));
    }
    Ok(Redirect::to(&format!("/customers/{id}")).into_response())
}
