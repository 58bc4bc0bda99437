//! Customer pages and API: list and search, create and edit, link CPEs by
//! MAC, and the customer page with the live state of their radios. Every
//! change is audited. Forms re-render with the error next to the field and
//! what was typed kept (400); success redirects to the customer page.

use super::pages;
use super::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use super::{ApiError, AppState, Caller, fmt_utc};
use crate::audit;
use crate::staff::Role;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mast_store::StoreError;
use mast_store::customers::{self, Customer, CustomerInput, CustomerStatus};
use mast_store::monitoring::DeviceView;
use mast_store::tickets::Ticket;
use serde::Deserialize;
use serde_json::{Value, json};

/// Who may create and edit customers.
pub const EDITORS: &[Role] = &[Role::Admin, Role::Billing, Role::Support];

type PageResult = Result<Response, ApiError>;

/// Customers per page of the list.
const PAGE: i64 = 50;

fn may_edit(c: &Caller) -> bool {
    EDITORS.contains(&c.role)
}

/// A form POST's store error as what the form shows: an `Invalid` error
/// next to its field when the form has that field (`fields`), otherwise as
/// the form-level message; a `Conflict` as the form-level message (409).
/// Anything else (not found, corrupt data, the database) is not the form's
/// business and stays an error.
pub(crate) fn form_errors(e: StoreError, fields: &[&str]) -> Result<(StatusCode, FormErrors), ApiError> {
    let mut errors = FormErrors::new();
    match e {
        StoreError::Invalid { field, reason } if fields.contains(&field.as_str()) => {
            errors.field(&field, reason);
            Ok((StatusCode::BAD_REQUEST, errors))
        }
        e @ StoreError::Invalid { .. } => {
            errors.form(e.to_string());
            Ok((StatusCode::BAD_REQUEST, errors))
        }
        StoreError::Conflict(m) => {
            errors.form(m);
            Ok((StatusCode::CONFLICT, errors))
        }
        e => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ListQ {
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The customer form: every field a string (empty inputs arrive as ""), so
/// whatever was typed can be shown back.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerForm {
    #[serde(default)]
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
    /// A CPE MAC to link (new customers only).
    #[serde(default)]
    cpe: String,
    /// A checkbox: "on" when ticked, absent when not.
    #[serde(default)]
    notify_outages: Option<String>,
}

/// The fields of the customer form (store errors name them).
const CUSTOMER_FIELDS: &[&str] = &["name", "email", "phone", "address", "lat", "lon", "status", "site", "notes", "cpe"];

impl Default for CustomerForm {
    /// A new customer: active, with notices.
    fn default() -> Self {
        CustomerForm {
            name: String::new(),
            email: String::new(),
            phone: String::new(),
            address: String::new(),
            lat: String::new(),
            lon: String::new(),
            status: CustomerStatus::Active.as_str().into(),
            site: String::new(),
            notes: String::new(),
            cpe: String::new(),
            notify_outages: Some("on".into()),
        }
    }
}

impl CustomerForm {
    /// The form filled with a stored customer (to edit it).
    fn of(c: &Customer) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        CustomerForm {
            name: c.name.clone(),
            email: s(&c.email),
            phone: s(&c.phone),
            address: s(&c.address),
            lat: c.lat.map(|x| x.to_string()).unwrap_or_default(),
            lon: c.lon.map(|x| x.to_string()).unwrap_or_default(),
            status: c.status.as_str().into(),
            site: s(&c.site),
            notes: s(&c.notes),
            cpe: String::new(),
            notify_outages: c.notify_outages.then(|| "on".into()),
        }
    }

    fn input(&self) -> Result<CustomerInput, StoreError> {
        let num = |field: &str, s: &str| -> Result<Option<f64>, StoreError> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| StoreError::invalid(field, "not a number"))
        };
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
        Ok(CustomerInput {
            name: self.name.clone(),
            email: some(&self.email),
            phone: some(&self.phone),
            address: some(&self.address),
            lat: num("lat", &self.lat)?,
            lon: num("lon", &self.lon)?,
            status: some(&self.status),
            site: some(&self.site),
            notes: some(&self.notes),
            notify_outages: Some(self.notify_outages.is_some()),
        })
    }
}

/// The create (no customer yet: with a CPE field) or edit form.
fn customer_form(c: &Caller, action: &str, v: &CustomerForm, errors: &FormErrors, new: bool) -> Markup {
    let f = Fields::new(if new { "new-customer" } else { "customer" }, errors);
    let statuses: Vec<(&str, &str)> = CustomerStatus::ALL.iter().map(|s| (s.as_str(), s.as_str())).collect();
    let csrf = c.csrf.as_deref().unwrap_or("");
    ui::form(
        action,
        Method::Post,
        csrf,
        html! {
            (f.summary())
            (f.text_field("name", "Name", &v.name, FieldOpts::new().required().max_len(200).autocomplete("off")))
            (f.email_field("email", "Email", &v.email, FieldOpts::new().autocomplete("off")))
            (f.tel_field("phone", "Phone", &v.phone, FieldOpts::new().autocomplete("off")))
            (f.text_field("address", "Service address", &v.address, FieldOpts::new().max_len(500).autocomplete("off")))
            (f.number_field("lat", "Latitude", &v.lat, true, FieldOpts::new().placeholder("45.0621")))
            (f.number_field("lon", "Longitude", &v.lon, true, FieldOpts::new().placeholder("-93.0810")))
            (f.text_field("site", "Site", &v.site, FieldOpts::new().hint("The site's name, as on the Sites page.")))
            (f.select_field("status", "Status", &statuses, &v.status, FieldOpts::new()))
            (f.textarea_field("notes", "Notes", &v.notes, FieldOpts::new()))
            @if new {
                (f.text_field("cpe", "CPE MAC", &v.cpe, FieldOpts::new().mono().placeholder("aa:bb:cc:dd:ee:ff")))
            }
            (f.checkbox_field("notify_outages", "Notices: outages, maintenance and technician visits", v.notify_outages.is_some(), FieldOpts::new()))
            button type="submit" { (if new { "Create" } else { "Save" }) }
        },
    )
}

/// A table of customers (name, status, site, contacts, CPEs).
pub(crate) fn customer_table(list: &[Customer], empty: &str) -> Markup {
    let mut t = Table::new(empty).col("Name").col("Status").col("Site").col("Email").col("Phone").col("CPEs");
    for c in list {
        t.push(vec![
            html! { a href={ "/customers/" (c.id) } { (c.name) } },
            ui::badge(c.status.as_str()),
            html! { (c.site.as_deref().unwrap_or("-")) },
            html! { (c.email.as_deref().unwrap_or("-")) },
            html! { (c.phone.as_deref().unwrap_or("-")) },
            html! { span.mono { (c.cpes.join(", ")) } },
        ]);
    }
    html! { (t) }
}

/// What the customers list page shows.
struct ListView<'a> {
    term: &'a str,
    search_errors: &'a FormErrors,
    list: &'a [Customer],
    total: i64,
    offset: i64,
    limit: i64,
    /// The new-customer form (editors only): values and errors.
    new: Option<(&'a CustomerForm, &'a FormErrors)>,
}

fn list_body(c: &Caller, v: &ListView<'_>) -> Markup {
    let search = Fields::new("search", v.search_errors);
    let empty = if v.term.trim().is_empty() { "No customers yet." } else { "No customers match this search." };
    let limit = v.limit.to_string();
    let mut pairs = vec![("q", v.term)];
    if v.limit != PAGE {
        pairs.push(("limit", limit.as_str()));
    }
    html! {
        h1 { "Customers" }
        (ui::form_with_class("stack search-inline", "/customers", Method::Get, "", html! {
            (search.text_field("q", "Search customers", v.term,
                FieldOpts::new().placeholder("Name, email, phone, address or CPE MAC").autocomplete("off")))
            button type="submit" { "Search" }
        }))
        (customer_table(v.list, empty))
        (ui::pager("/customers", &pairs, v.offset, v.limit, v.list.len(), Some(v.total)))
        @if let Some((form, errors)) = v.new {
            h2 #new { "New customer" }
            (customer_form(c, "/customers", form, errors, true))
        }
    }
}

/// The list page with `new` in the new-customer form.
async fn list_response(
    c: &Caller,
    st: &AppState,
    q: &ListQ,
    status: StatusCode,
    new: Option<(&CustomerForm, &FormErrors)>,
) -> PageResult {
    let term = q.q.clone().unwrap_or_default();
    let limit = q.limit.unwrap_or(PAGE).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    let mut search_errors = FormErrors::new();
    let (list, total) = match customers::search(&st.db, &term, limit, offset).await {
        Ok(list) => (list, customers::count(&st.db, &term).await?),
        Err(e) => {
            let (_, errors) = form_errors(e, &["q"])?;
            search_errors = errors;
            (Vec::new(), 0)
        }
    };
    let status = if search_errors.is_empty() { status } else { StatusCode::BAD_REQUEST };
    let blank = CustomerForm::default();
    let no_errors = FormErrors::new();
    let new = may_edit(c).then(|| new.unwrap_or((&blank, &no_errors)));
    let view = ListView { term: &term, search_errors: &search_errors, list: &list, total, offset, limit, new };
    Ok((status, pages::page(c, "Customers", list_body(c, &view))).into_response())
}

pub async fn list_page(c: Caller, State(st): State<AppState>, Query(q): Query<ListQ>) -> PageResult {
    list_response(&c, &st, &q, StatusCode::OK, None).await
}

pub async fn create_page(c: Caller, State(st): State<AppState>, Form(f): Form<CustomerForm>) -> PageResult {
    let cpes: Vec<&str> = [f.cpe.trim()].into_iter().filter(|m| !m.is_empty()).collect();
    let created = match f.input() {
        Ok(input) => customers::create_with_cpes(&st.db, &input, &cpes).await,
        Err(e) => Err(e),
    };
    let created = match created {
        Ok(cu) => cu,
        Err(e) => {
            let (status, errors) = form_errors(e, CUSTOMER_FIELDS)?;
            let q = ListQ { q: None, limit: None, offset: None };
            return list_response(&c, &st, &q, status, Some((&f, &errors))).await;
        }
    };
    audit::record(&st.db, &c.actor(), "customer.add", &format!("customer {}", created.id), &created.name).await?;
    for mac in &created.cpes {
        audit::record(&st.db, &c.actor(), "customer.link-cpe", &format!("customer {}", created.id), mac).await?;
    }
    Ok(Redirect::to(&format!("/customers/{}", created.id)).into_response())
}

/// The worst state of a customer's radios: `up`, `down` or `unknown`.
fn service_state(devices: &[DeviceView]) -> &'static str {
    if devices.is_empty() {
        "unknown"
    } else if devices.iter().any(|d| d.status == "down") {
        "down"
    } else if devices.iter().all(|d| d.status == "up") {
        "up"
    } else {
        "unknown"
    }
}

/// What the customer page shows.
struct CustomerView<'a> {
    cu: &'a Customer,
    devices: &'a [DeviceView],
    /// The device table, from `network::device_rows`.
    device_rows: Markup,
    /// The last 30 days' availability line (radios seen only).
    availability: Markup,
    /// The radios' link health (from `links::customer_links`).
    radio_links: Markup,
    /// The billing section, from `billing::staff_section` (still a string).
    billing: maud::Markup,
    tickets: &'a [Ticket],
    /// The portal login's address, if any (editors only).
    portal_login: Option<Option<String>>,
    edit: (&'a CustomerForm, &'a FormErrors),
    link: (&'a str, &'a FormErrors),
    portal_errors: &'a FormErrors,
}

fn customer_body(c: &Caller, v: &CustomerView<'_>) -> Markup {
    let cu = v.cu;
    let id = cu.id;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let coords = match (cu.lat, cu.lon) {
        (Some(a), Some(o)) => format!("{a:.5}, {o:.5}"),
        _ => "-".into(),
    };
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let facts = ui::kv_list(&[
        ("Email", html! { (dash(&cu.email)) }),
        ("Phone", html! { (dash(&cu.phone)) }),
        ("Service address", html! { (dash(&cu.address)) }),
        ("Coordinates", html! { (coords) }),
        (
            "Site",
            match (cu.site_id, &cu.site) {
                (Some(sid), Some(s)) => html! { a href={ "/sites/" (sid) } { (s) } },
                _ => html! { "-" },
            },
        ),
        ("Notes", html! { (dash(&cu.notes)) }),
        ("Notices", html! { (if cu.notify_outages { "outages, maintenance and visits" } else { "opted out" }) }),
    ]);
    let link = Fields::new("link", v.link.1);
    let portal = Fields::new("portal", v.portal_errors);
    html! {
        h1 { (cu.name) }
        p { (ui::badge(cu.status.as_str())) " · service " (ui::badge(service_state(v.devices))) " · customer since " (fmt_utc(cu.created_ms)) " UTC" }
        (facts)
        h2 { "Radios" }
        @if cu.cpes.is_empty() {
            p.muted { "No CPE linked yet." }
        } @else {
            p.mono { (cu.cpes.join(", ")) }
            @if v.devices.is_empty() {
                p.muted { "No agent has seen these radios yet." }
            } @else {
                (v.availability)
                (v.device_rows)
                (v.radio_links)
            }
        }
        (v.billing)
        h2 { "Tickets and outages (" (v.tickets.len()) ")" }
        (super::tickets::ticket_table(v.tickets, "No tickets or outages."))
        @if super::tickets::AGENTS.contains(&c.role) {
            p { a href={ "/tickets?customer=" (id) "#new" } { "Open a ticket for this customer" } }
        }
        @if let Some(login) = &v.portal_login {
            h2 { "Portal" }
            p {
                @if let Some(e) = login { "Signs in as " (e) "." } @else { "No portal login yet." }
            }
            (ui::form_with_class("inline", &format!("/customers/{id}/portal"), Method::Post, csrf, html! {
                (portal.summary())
                button type="submit" { (if login.is_some() { "Email a new sign-in link" } else { "Invite to the portal" }) }
            }))
        }
        @if may_edit(c) {
            h2 { "Link a CPE" }
            (ui::form(&format!("/customers/{id}/cpes"), Method::Post, csrf, html! {
                (link.summary())
                (link.text_field("mac", "MAC", v.link.0, FieldOpts::new().required().mono().placeholder("aa:bb:cc:dd:ee:ff")))
                button type="submit" { "Link" }
            }))
            h2 #edit { "Edit" }
            (customer_form(c, &format!("/customers/{id}"), v.edit.0, v.edit.1, false))
        }
    }
}

/// What to show again in the customer page's forms after a refused POST.
#[derive(Default)]
struct Refused<'a> {
    edit: Option<(&'a CustomerForm, &'a FormErrors)>,
    link: Option<(&'a str, &'a FormErrors)>,
    portal: Option<&'a FormErrors>,
}

async fn customer_response(c: &Caller, st: &AppState, id: i64, status: StatusCode, refused: Refused<'_>) -> PageResult {
    let Some(cu) = customers::get(&st.db, id).await? else { return Err(ApiError::not_found("no such customer")) };
    let now = crate::db::now_ms();
    let devices = crate::monitoring::customer_devices(&st.db, id).await?;
    let device_rows = if devices.is_empty() { Markup::default() } else { super::network::device_rows(&devices, now) };
    let mut links = Vec::new();
    for d in &devices {
        for l in crate::monitoring::links::of_device(&st.db, d.id).await? {
            links.push((d.label().to_string(), l));
        }
    }
    let radio_links = if links.is_empty() { Markup::default() } else { super::links::customer_links(&links, now) };
    let equipment = super::stock::installed_section(st, Some(id), None).await?;
    let work = super::dispatch::jobs::customer_section(c, st, id).await?;
    let radio_links = html! { (radio_links) (equipment) (work) };
    let availability = if devices.is_empty() {
        Markup::default()
    } else {
        super::availability::customer_line(&super::availability::last_30_days(st, id).await?, id)
    };
    let billing = html! {
        (super::service::summary(c, st, id).await?)
        (super::billing::staff_section(c, st, id).await?)
    };
    let tickets = mast_store::tickets::for_customer(&st.db, id).await?;
    let portal_login = match may_edit(c) {
        true => Some(crate::portal_accounts::has_login(&st.db, id).await?),
        false => None,
    };
    let stored = CustomerForm::of(&cu);
    let none = FormErrors::new();
    let view = CustomerView {
        cu: &cu,
        devices: &devices,
        device_rows,
        availability,
        radio_links,
        billing,
        tickets: &tickets,
        portal_login,
        edit: refused.edit.unwrap_or((&stored, &none)),
        link: refused.link.unwrap_or(("", &none)),
        portal_errors: refused.portal.unwrap_or(&none),
    };
    Ok((status, pages::page(c, &cu.name, customer_body(c, &view))).into_response())
}

pub async fn page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    customer_response(&c, &st, id, StatusCode::OK, Refused::default()).await
}

pub async fn update_page(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<CustomerForm>,
) -> PageResult {
    let updated = match f.input() {
        Ok(input) => customers::update(&st.db, id, &input).await,
        Err(e) => Err(e),
    };
    match updated {
        Ok(cu) => {
            audit::record(&st.db, &c.actor(), "customer.update", &format!("customer {id}"), &cu.name).await?;
            Ok(Redirect::to(&format!("/customers/{id}")).into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(e, CUSTOMER_FIELDS)?;
            customer_response(&c, &st, id, status, Refused { edit: Some((&f, &errors)), ..Refused::default() }).await
        }
    }
}

#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    mac: String,
}

pub async fn link_page(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<LinkForm>,
) -> PageResult {
    match customers::link_cpe(&st.db, id, &f.mac).await {
        Ok(mac) => {
            audit::record(&st.db, &c.actor(), "customer.link-cpe", &format!("customer {id}"), &mac).await?;
            Ok(Redirect::to(&format!("/customers/{id}")).into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(e, &["mac"])?;
            customer_response(&c, &st, id, status, Refused { link: Some((&f.mac, &errors)), ..Refused::default() })
                .await
        }
    }
}

/// Gives the customer a portal login and emails them a sign-in link; a
/// customer without an email address, or no outgoing mail, is said in the
/// portal section (400).
pub async fn portal_invite(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let email = match crate::portal_accounts::enable(&st.db, id).await {
        Ok(email) => email,
        Err(e) => {
            let (status, errors) = form_errors(e, &[])?;
            return customer_response(&c, &st, id, status, Refused { portal: Some(&errors), ..Refused::default() })
                .await;
        }
    };
    let sent = super::portal::send_link(&st, &email).await?;
    audit::record(&st.db, &c.actor(), "portal.invite", &format!("customer {id}"), &email).await?;
    if !sent {
        let mut errors = FormErrors::new();
        errors.form(
            "The login exists, but outgoing mail is not configured (smtp_host): set a password with \
             `mast-controller customer portal-password ID` instead.",
        );
        let refused = Refused { portal: Some(&errors), ..Refused::default() };
        return customer_response(&c, &st, id, StatusCode::BAD_REQUEST, refused).await;
    }
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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cu = customers::create(&st.db, &input).await?;
    audit::record(&st.db, &c.actor(), "customer.add", &format!("customer {}", cu.id), &cu.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "customer": cu }))))
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;
    pub(crate) const ESCAPED: &str =
        "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;";

    /// The raw string never appears, nor any tag from it; its escaped form does.
    #[track_caller]
    pub(crate) fn safe(html: &Markup) -> String {
        let s = html.clone().into_string();
        assert!(!s.contains(HOSTILE), "raw hostile string in:\n{s}");
        assert!(!s.contains("<script>alert"), "script tag in:\n{s}");
        assert!(!s.contains("<img src=x"), "img tag in:\n{s}");
        assert!(s.contains(ESCAPED), "escaped form missing in:\n{s}");
        s
    }

    pub(crate) fn staff(role: Role) -> Caller {
        Caller {
            name: "noc@isp.example".into(),
            role,
            user_id: Some(1),
            csrf: Some("tok".into()),
            ip: None,
            path: "/customers".into(),
            waiting: Default::default(),
        }
    }

    pub(crate) fn hostile_customer() -> Customer {
        Customer {
            id: 7,
            name: HOSTILE.into(),
            email: Some(HOSTILE.into()),
            phone: Some(HOSTILE.into()),
            address: Some(HOSTILE.into()),
            lat: None,
            lon: None,
            status: CustomerStatus::Active,
            site_id: Some(3),
            site: Some(HOSTILE.into()),
            notes: Some(HOSTILE.into()),
            notify_outages: true,
            cpes: vec![HOSTILE.into()],
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn the_customer_page_escapes_a_hostile_customer() {
        let cu = hostile_customer();
        let c = staff(Role::Support);
        let none = FormErrors::new();
        let form = CustomerForm::of(&cu);
        let t = crate::tickets::tests::hostile_ticket();
        let view = CustomerView {
            cu: &cu,
            devices: &[],
            device_rows: Markup::default(),
            availability: Markup::default(),
            radio_links: Markup::default(),
            billing: maud::Markup::default(),
            tickets: std::slice::from_ref(&t),
            portal_login: Some(Some(HOSTILE.into())),
            edit: (&form, &none),
            link: (HOSTILE, &none),
            portal_errors: &none,
        };
        let page = pages::page(&c, &cu.name, customer_body(&c, &view));
        let s = safe(&page);
        assert!(s.contains(&format!("<h1>{ESCAPED}</h1>")), "{s}");
        assert!(s.contains(&format!(r#"value="{ESCAPED}""#)), "the edit form keeps the name");
        assert!(s.contains(&format!("<title>{ESCAPED} · Mast</title>")));
        assert!(s.contains(&format!("#7 {ESCAPED}")), "the ticket subject, escaped");
        assert!(s.contains(r#"action="/customers/7/portal""#) && s.contains(r#"action="/customers/7/cpes""#));
        assert_eq!(s.matches(r#"name="csrf" value="tok""#).count(), 4, "every POST form carries the token");
        // Read-only staff see no forms.
        let ro = staff(Role::ReadOnly);
        let view = CustomerView { portal_login: None, ..view };
        let s = safe(&customer_body(&ro, &view));
        assert!(!s.contains("<form"), "{s}");
    }

    #[test]
    fn the_list_escapes_names_and_the_search_and_pages() {
        let list = vec![hostile_customer()];
        let c = staff(Role::Admin);
        let none = FormErrors::new();
        let form = CustomerForm::default();
        let view = ListView {
            term: HOSTILE,
            search_errors: &none,
            list: &list,
            total: 120,
            offset: 50,
            limit: PAGE,
            new: Some((&form, &none)),
        };
        let s = safe(&list_body(&c, &view));
        assert!(s.contains(r#"<a href="/customers/7">"#), "{s}");
        assert!(s.contains("rows 51–51 of 120") && s.contains(r#"rel="prev""#), "the pager");
        assert!(s.contains(r#"<option value="active" selected>active</option>"#), "new customers are active");
        let view = ListView { list: &[], term: "", new: None, total: 0, offset: 0, ..view };
        let s = list_body(&staff(Role::ReadOnly), &view).into_string();
        assert!(s.contains("No customers yet.") && !s.contains("New customer"), "{s}");
    }

    #[test]
    fn a_refused_form_shows_the_error_by_its_field_and_keeps_the_input() {
        let f = CustomerForm { name: HOSTILE.into(), lat: "north".into(), ..CustomerForm::default() };
        let e = f.input().unwrap_err();
        let (status, errors) = form_errors(e, CUSTOMER_FIELDS).unwrap();
        assert_eq!((status, errors.get("lat")), (StatusCode::BAD_REQUEST, Some("not a number")));
        let s = safe(&customer_form(&staff(Role::Admin), "/customers", &f, &errors, true));
        assert!(s.contains(r#"value="north""#) && s.contains(r#"aria-invalid="true""#), "{s}");
        assert!(s.contains(r#"<p class="field-error" id="new-customer-lat-error">not a number</p>"#), "{s}");
        // Rules of the store land on their field too; one the form lacks is form-level.
        let e = CustomerInput { name: "Ada\0".into(), ..Default::default() }.validate().unwrap_err();
        let (_, errors) = form_errors(e, CUSTOMER_FIELDS).unwrap();
        assert!(errors.get("name").is_some());
        let (status, errors) = form_errors(StoreError::invalid("q", "x"), CUSTOMER_FIELDS).unwrap();
        assert_eq!((status, errors.form_message()), (StatusCode::BAD_REQUEST, Some("q: x")));
        let (status, _) = form_errors(StoreError::Conflict("taken".into()), CUSTOMER_FIELDS).unwrap();
        assert_eq!(status, StatusCode::CONFLICT);
        let e = form_errors(StoreError::NotFound("no customer 9".into()), CUSTOMER_FIELDS).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(form_errors(StoreError::Corrupt("x".into()), &[]).unwrap_err().status, 500);
    }
}
