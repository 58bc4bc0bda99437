//! The customer portal: sign in (password or emailed magic link), service
//! status (including an outage that affects them right now), their tickets
//! (open, follow, reply). Billing pages join it from `web::billing`.
//!
//! Portal routes are `Access::Customer`: [`authorize`] finds the portal
//! session (its own cookie, never a staff session), checks the CSRF token
//! and origin on every POST, and hands handlers a [`Customer`].

use super::client::Client;
use super::customers::form_errors;
use super::tickets::multiline;
use super::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use super::{ApiError, AppState, cookie, fmt_utc};
use crate::notify::{self, Channel};
use crate::portal_accounts as portal;
use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use mast_store::StoreError;
use mast_store::tickets::{self, Category, EventKind, NewTicket, Source, lifecycle::Action, lifecycle::Status};
use serde::Deserialize;

pub const PORTAL_COOKIE: &str = "mast_portal";

type PageResult = Result<Response, ApiError>;

/// The signed-in customer, set by [`authorize`].
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: i64,
    /// Their name, for the page header.
    pub name: String,
    pub csrf: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Customer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Customer>()
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "not signed in"))
    }
}

pub(super) async fn authorize(st: AppState, mut req: Request, next: Next) -> Response {
    let session = match cookie(req.headers(), PORTAL_COOKIE) {
        Some(c) => portal::session(&st.db, &c, st.settings.http.sessions).await,
        None => Ok(None),
    };
    let s = match session {
        Ok(Some(s)) => s,
        Ok(None) => return Redirect::to("/portal/login").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        if !super::same_origin(req.headers()) {
            return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
        }
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
        };
        let sent = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
        if !sent.is_some_and(|t| super::constant_time_eq(t.as_bytes(), s.csrf.as_bytes())) {
            return (StatusCode::FORBIDDEN, "missing or wrong CSRF token: reload the page and try again")
                .into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(Customer { id: s.customer_id, name: s.name, csrf: s.csrf });
    next.run(req).await
}

/// A portal page for the signed-in customer.
fn portal_page(c: &Customer, title: &str, body: Markup) -> Markup {
    ui::portal_layout(&c.name, &c.csrf, title, body)
}

/// What the sign-in page shows: a message (wrong password, expired link),
/// and each form's values and errors.
#[derive(Default)]
struct SignIn<'a> {
    message: Option<&'a str>,
    email: &'a str,
    errors: FormErrors,
    link_email: &'a str,
    link_errors: FormErrors,
}

fn login_page(v: &SignIn<'_>) -> Markup {
    let login = Fields::new("login", &v.errors);
    let magic = Fields::new("magic", &v.link_errors);
    ui::portal_bare_layout(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(m) = v.message { p.banner.degraded role="alert" { (m) } }
            // Public forms: no session, so no CSRF token (the origin is checked).
            form.stack method="post" action="/portal/login" {
                (login.summary())
                (login.email_field("email", "Email", v.email, FieldOpts::new().required().autocomplete("username")))
                (login.password_field("password", "Password", "current-password", FieldOpts::new().required()))
                button type="submit" { "Sign in" }
            }
            h2 { "No password?" }
            form.stack method="post" action="/portal/magic" {
                (magic.summary())
                (magic.email_field("email", "Email", v.link_email, FieldOpts::new().required()))
                button type="submit" { "Email me a sign-in link" }
            }
        },
    )
}

pub async fn login_form() -> Markup {
    login_page(&SignIn::default())
}

/// Both fields required, as on the staff login (a bare POST is a 422, not
/// a failed sign-in).
#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

fn session_cookie(st: &AppState, client: Client, sid: &str) -> String {
    let secure = st.settings.http.cookie_secure || client.https;
    format!(
        "{PORTAL_COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/portal; Max-Age={}{}",
        st.settings.http.sessions.absolute_ms / 1000,
        if secure { "; Secure" } else { "" }
    )
}

async fn sign_in(st: &AppState, headers: &HeaderMap, client: Client, customer: i64) -> PageResult {
    if let Some(old) = cookie(headers, PORTAL_COOKIE) {
        portal::end_session(&st.db, &old).await?;
    }
    let (sid, _) = portal::create_session(&st.db, customer).await?;
    Ok(([(header::SET_COOKIE, session_cookie(st, client, &sid))], Redirect::to("/portal")).into_response())
}

pub async fn login(
    State(st): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin sign-in refused").into_response());
    }
    let ip = client.ip.to_string();
    let key = f.email.trim().to_ascii_lowercase();
    let now = crate::db::now_ms() as u64;
    if mast_text_core::input::line(&key, mast_text_core::input::MAX_EMAIL).is_err() || f.password.len() > 1024 {
        let mut errors = FormErrors::new();
        errors.field("email", "Not an email address.");
        return Ok((StatusCode::BAD_REQUEST, login_page(&SignIn { email: &f.email, errors, ..SignIn::default() }))
            .into_response());
    }
    // Counted before the password is verified (see the staff login); the
    // portal has its own bucket, apart from the staff's.
    if let Err(wait) = st.web.portal_throttle.lock().unwrap_or_else(|p| p.into_inner()).begin(&key, &ip, now) {
        let message = format!("Too many failed attempts. Try again in {}.", super::login::wait_text(wait));
        let page = login_page(&SignIn { message: Some(&message), email: &f.email, ..SignIn::default() });
        return Ok((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, wait.to_string())], page).into_response());
    }
    match portal::authenticate(&st.db, &f.email, &f.password).await {
        Ok(Some(customer)) => {
            st.web.portal_throttle.lock().unwrap_or_else(|p| p.into_inner()).succeeded(&key, &ip);
            sign_in(&st, &headers, client, customer).await
        }
        Ok(None) => {
            let page =
                login_page(&SignIn { message: Some("Wrong email or password."), email: &f.email, ..SignIn::default() });
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(e, &["email"])?;
            Ok((status, login_page(&SignIn { email: &f.email, errors, ..SignIn::default() })).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

/// Emails a sign-in link to a known address; says the same either way,
/// after the same work: the link is issued and queued in the background, so
/// timing does not tell which addresses have accounts. Requests are limited
/// per address asked for and per client (each request counts).
pub async fn request_link(
    State(st): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<EmailForm>,
) -> PageResult {
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin request refused").into_response());
    }
    let email = f.email.trim().to_ascii_lowercase();
    if let Err(p) = mast_text_core::input::line(&email, mast_text_core::input::MAX_EMAIL) {
        let mut link_errors = FormErrors::new();
        link_errors.field("email", p.to_string());
        return Ok((
            StatusCode::BAD_REQUEST,
            login_page(&SignIn { link_email: &f.email, link_errors, ..SignIn::default() }),
        )
            .into_response());
    }
    let now = crate::db::now_ms() as u64;
    let ip = client.ip.to_string();
    if let Err(wait) = st.web.link_throttle.lock().unwrap_or_else(|p| p.into_inner()).begin(&email, &ip, now) {
        let message = format!("Too many sign-in links asked for. Try again in {}.", super::login::wait_text(wait));
        let page = login_page(&SignIn { message: Some(&message), link_email: &f.email, ..SignIn::default() });
        return Ok((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, wait.to_string())], page).into_response());
    }
    let bg = st.clone();
    tokio::spawn(async move {
        if let Err(e) = send_link(&bg, &email).await {
            tracing::warn!(error = %e, "sign-in link not sent");
        }
    });
    let body = html! {
        h1 { "Check your email" }
        p { "If that address has an account, a sign-in link is on its way. It works once, for 15 minutes." }
        p { a href="/portal/login" { "Back to sign in" } }
    };
    Ok(ui::portal_bare_layout("Check your email", body).into_response())
}

/// Queues a magic-link email for a known login; false if unknown or no mail.
/// An address with control characters is `Invalid` (field `email`).
pub(crate) async fn send_link(st: &AppState, email: &str) -> Result<bool, StoreError> {
    if !st.channels().has(Channel::Email) {
        return Ok(false);
    }
    let Some((customer, token)) = portal::issue_magic_link(&st.db, email).await? else { return Ok(false) };
    let link = format!("{}/portal/magic/{token}", st.web.public_url.trim_end_matches('/'));
    let m = notify::Message {
        dedup: format!("portal:link:{}", &crate::fleet::hash_secret(&token)[..16]),
        channel: Channel::Email,
        recipient: email.trim().to_ascii_lowercase(),
        subject: "Your sign-in link".into(),
        body: format!(
            "Sign in to your customer portal with this link (it works once, for 15 minutes):\n\n{link}\n\n\
             If you did not ask for it, ignore this message."
        ),
        // The body holds a working link: erased once sent.
        headers: [(notify::SECRET_HEADER.to_string(), "1".to_string())].into_iter().collect(),
        customer_id: Some(customer),
        ticket_id: None,
    };
    let mut tx = st.db.begin().await?;
    notify::enqueue(&mut tx, &m).await?;
    tx.commit().await?;
    Ok(true)
}

/// The link from the email: a confirmation page (prefetching scanners do not
/// use the link up; the button does).
pub async fn confirm_link(Path(token): Path<String>) -> Markup {
    ui::portal_bare_layout(
        "Sign in",
        html! {
            h1 { "Sign in" }
            form.stack method="post" action={ "/portal/magic/" (token) } {
                button type="submit" { "Continue to my account" }
            }
        },
    )
}

pub async fn use_link(
    State(st): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin request refused").into_response());
    }
    match portal::use_magic_link(&st.db, &token).await? {
        Some(customer) => sign_in(&st, &headers, client, customer).await,
        None => {
            let message = "That link was already used or has expired. Ask for a new one below.";
            Ok((StatusCode::BAD_REQUEST, login_page(&SignIn { message: Some(message), ..SignIn::default() }))
                .into_response())
        }
    }
}

pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> PageResult {
    if let Some(sid) = cookie(&headers, PORTAL_COOKIE) {
        portal::end_session(&st.db, &sid).await?;
    }
    let gone = format!("{PORTAL_COOKIE}=; HttpOnly; SameSite=Strict; Path=/portal; Max-Age=0");
    Ok(([(header::SET_COOKIE, gone)], Redirect::to("/portal/login")).into_response())
}

/// How the customer's service is, for the banner at the top of the home page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    /// An outage affects them, since (ms).
    Outage(i64),
    /// Their radio does not answer.
    RadioDown,
    Up,
    /// No radio we watch.
    Unknown,
}

/// What the home page shows.
struct Home<'a> {
    cu: &'a mast_store::customers::Customer,
    service: Service,
    /// The billing section, from `billing::portal_section` (still a string).
    billing: maud::Markup,
    /// Their own requests.
    tickets: &'a [&'a tickets::Ticket],
    /// Their radios as the agents see them.
    radios: &'a [crate::monitoring::DeviceView],
}

fn home_body(v: &Home<'_>) -> Markup {
    let mut t = Table::new("None yet.").col("Request").col("Status").col("Opened (UTC)");
    for tk in v.tickets {
        t.push(vec![
            html! { a href={ "/portal/tickets/" (tk.id) } { "#" (tk.id) " " (tk.subject) } },
            super::tickets::status_badge(tk.status),
            html! { (fmt_utc(tk.created_ms)) },
        ]);
    }
    html! {
        h1 { "Hello, " (v.cu.name) }
        @match v.service {
            Service::Outage(since) => {
                p.banner.down role="status" {
                    "We know about a service interruption in your area since " (fmt_utc(since))
                    " UTC and are working on it. You do not need to report it."
                }
            }
            Service::RadioDown => {
                p.banner.degraded role="status" {
                    "Your radio is not answering us right now. If your Internet is down, restart your router, then "
                    a href="/portal/tickets/new" { "tell us" } "."
                }
            }
            Service::Up => { p.banner.up role="status" { "Your service is up." } }
            Service::Unknown => {}
        }
        p { "Service: " (v.cu.status) @if let Some(a) = &v.cu.address { " · " (a) } }
        @if !v.radios.is_empty() {
            h2 { "Your connection" }
            ul.radios #connection {
                @for d in v.radios {
                    li {
                        "Radio " span.mono { (d.mac.as_deref().unwrap_or(&d.addr)) } ": "
                        (ui::badge(d.status.as_str()))
                        @if let Some(s) = d.signal_dbm { " · signal " (s) " dBm" }
                        @if let Some(r) = d.last_rtt_ms { " · " (format!("{r:.0}")) " ms" }
                    }
                }
            }
        }
        (v.billing)
        h2 { "My requests" }
        (t)
        p { a href="/portal/tickets/new" { "Ask for help" } }
    }
}

pub async fn home(c: Customer, State(st): State<AppState>) -> PageResult {
    let Some(cu) = mast_store::customers::get(&st.db, c.id).await? else {
        return Err(ApiError::not_found("no account"));
    };
    // Service status: an outage that affects them, then their radios.
    let outages = crate::monitoring::outages::open_for_customer(&st.db, c.id).await?;
    let devices = crate::monitoring::customer_devices(&st.db, c.id).await?;
    let service = match outages.first() {
        Some(o) => Service::Outage(o.started_ms),
        None if devices.iter().any(|d| d.status == "down") => Service::RadioDown,
        None if !devices.is_empty() => Service::Up,
        None => Service::Unknown,
    };
    let billing = super::billing_portal_section(&st, &c).await?;
    let list = tickets::for_customer(&st.db, c.id).await?;
    let own: Vec<&tickets::Ticket> = list.iter().filter(|t| t.customer_id == Some(c.id)).collect();
    let body = home_body(&Home { cu: &cu, service, billing, tickets: &own, radios: &devices });
    Ok(portal_page(&c, "My service", body).into_response())
}

fn password_page(c: &Customer, has_password: bool, errors: &FormErrors) -> Markup {
    let f = Fields::new("password", errors);
    let body = html! {
        h1 { @if has_password { "Change your password" } @else { "Set a password" } }
        (ui::form("/portal/password", Method::Post, &c.csrf, html! {
            (f.summary())
            @if has_password {
                (f.password_field("current_password", "Current password", "current-password", FieldOpts::new().required()))
            }
            (f.password_field("password", "New password", "new-password",
                FieldOpts::new().required().hint("At least 10 characters; a few words make a good one.")))
            button type="submit" { "Save" }
        }))
    };
    portal_page(c, "Password", body)
}

pub async fn password_form(c: Customer, State(st): State<AppState>) -> PageResult {
    let has = portal::has_password(&st.db, c.id).await?;
    Ok(password_page(&c, has, &FormErrors::new()).into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
}

pub async fn set_password(
    c: Customer,
    State(st): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    // Someone at an unlocked screen must not take the account over: the
    // current password is asked for whenever one is set.
    if let Err(e) = portal::change_password(&st.db, c.id, &f.current_password, &f.password).await {
        let has = portal::has_password(&st.db, c.id).await?;
        let (status, errors) = form_errors(e, &["current_password", "password"])?;
        return Ok((status, password_page(&c, has, &errors)).into_response());
    }
    // Setting a password ends every session; start a fresh one here.
    sign_in(&st, &headers, client, c.id).await
}

/// The categories a customer picks from, in their words.
const CATEGORIES: &[(Category, &str)] = &[
    (Category::Connectivity, "My connection"),
    (Category::Billing, "Billing"),
    (Category::Equipment, "Equipment"),
    (Category::Other, "Other"),
];

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TicketForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    body: String,
}

fn new_ticket_page(c: &Customer, v: &TicketForm, errors: &FormErrors) -> Markup {
    let f = Fields::new("help", errors);
    let categories: Vec<(&str, &str)> = CATEGORIES.iter().map(|(k, label)| (k.as_str(), *label)).collect();
    let body = html! {
        h1 { "Get help" }
        (ui::form("/portal/tickets", Method::Post, &c.csrf, html! {
            (f.summary())
            (f.text_field("subject", "Subject", &v.subject, FieldOpts::new().required().max_len(200)))
            (f.select_field("category", "Category", &categories, &v.category, FieldOpts::new()))
            (f.textarea_field("body", "What is happening?", &v.body, FieldOpts::new().required()))
            button type="submit" { "Send" }
        }))
    };
    portal_page(c, "Get help", body)
}

pub async fn new_ticket_form(c: Customer) -> Markup {
    new_ticket_page(&c, &TicketForm::default(), &FormErrors::new())
}

pub async fn create_ticket(c: Customer, State(st): State<AppState>, Form(f): Form<TicketForm>) -> PageResult {
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
    let new = NewTicket {
        subject: f.subject.clone(),
        customer_id: Some(c.id),
        priority: None,
        category: some(&f.category),
        source: Some(Source::Portal.as_str().into()),
        body: f.body.clone(),
        requester_email: None,
    };
    match tickets::create(&st.db, &new, &c.name).await {
        Ok(t) => Ok(Redirect::to(&format!("/portal/tickets/{}", t.id)).into_response()),
        Err(e) => {
            let (status, errors) = form_errors(e, &["subject", "category", "body"])?;
            Ok((status, new_ticket_page(&c, &f, &errors)).into_response())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlanRequest {
    pub plan: String,
    pub note: String,
}

/// `POST /portal/plan-request`: "ask for a different plan" opens a billing
/// request for the staff (nothing changes until they make the change).
pub async fn request_plan(c: Customer, State(st): State<AppState>, Form(f): Form<PlanRequest>) -> PageResult {
    use mast_store::billing::store;
    let acc = store::account(&st.db, c.id).await?;
    let wanted = match f.plan.trim().parse::<i64>() {
        Ok(id) => store::plan(&st.db, id).await?,
        Err(_) => None,
    };
    let Some(wanted) = wanted.filter(|p| p.active && acc.as_ref().is_some_and(|a| a.currency == p.currency)) else {
        return Ok(Redirect::to("/portal").into_response());
    };
    let note = f.note.trim();
    let body = format!(
        "Please move me to {} ({}, {} a month).{}",
        wanted.name,
        super::service::speeds(&wanted),
        wanted.price,
        if note.is_empty() { String::new() } else { format!("\n\n{note}") }
    );
    let new = NewTicket {
        subject: format!("Plan change request: {}", wanted.name),
        customer_id: Some(c.id),
        priority: None,
        category: Some(Category::Billing.as_str().into()),
        source: Some(Source::Portal.as_str().into()),
        body,
        requester_email: None,
    };
    match tickets::create(&st.db, &new, &c.name).await {
        Ok(t) => Ok(Redirect::to(&format!("/portal/tickets/{}", t.id)).into_response()),
        Err(e) => {
            // Only the note can be wrong (too long, control characters).
            let (status, errors) = form_errors(e, &["body"])?;
            let f = TicketForm { subject: new.subject, category: "billing".into(), body: note.to_string() };
            Ok((status, new_ticket_page(&c, &f, &errors)).into_response())
        }
    }
}

async fn own_ticket(st: &AppState, c: &Customer, id: i64) -> Result<tickets::Ticket, ApiError> {
    match tickets::get(&st.db, id).await? {
        Some(t) if t.customer_id == Some(c.id) => Ok(t),
        _ => Err(ApiError::not_found("no such request")),
    }
}

/// A request as its customer sees it: only what was said between them and
/// us (never internal notes), and a reply box while it is not closed.
fn ticket_page(
    c: &Customer,
    t: &tickets::Ticket,
    events: &[tickets::Event],
    body: &str,
    errors: &FormErrors,
) -> Markup {
    let f = Fields::new("reply", errors);
    let id = t.id;
    let said = events.iter().filter(|e| matches!(e.kind, EventKind::Customer | EventKind::Public));
    let page = html! {
        h1 { "#" (id) " " (t.subject) }
        p { "Status: " (super::tickets::status_badge(t.status)) }
        ol.timeline {
            @for e in said {
                li class={ "ev-" (e.kind) } {
                    span.muted { (fmt_utc(e.ts_ms)) " UTC · " (if e.kind == EventKind::Public { "Support" } else { "You" }) }
                    div { (multiline(&e.body)) }
                }
            }
        }
        @if t.status != Status::Closed {
            (ui::form(&format!("/portal/tickets/{id}/reply"), Method::Post, &c.csrf, html! {
                (f.summary())
                (f.textarea_field("body", "Add a message", body, FieldOpts::new().required()))
                button type="submit" { "Send" }
            }))
        } @else {
            p {
                "This request is closed. " a href="/portal/tickets/new" { "Open a new one" }
                " if you still need help."
            }
        }
    };
    portal_page(c, &format!("Request #{id}"), page)
}

pub async fn ticket(c: Customer, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let t = own_ticket(&st, &c, id).await?;
    let events = tickets::events(&st.db, id).await?;
    Ok(ticket_page(&c, &t, &events, "", &FormErrors::new()).into_response())
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
}

pub async fn reply(
    c: Customer,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ReplyForm>,
) -> PageResult {
    own_ticket(&st, &c, id).await?;
    match tickets::act(&st.db, &st.desk(), id, Action::CustomerReply, &f.body, &c.name).await {
        Ok(_) => Ok(Redirect::to(&format!("/portal/tickets/{id}")).into_response()),
        Err(e) => {
            let (status, errors) = form_errors(e, &["body"])?;
            let t = own_ticket(&st, &c, id).await?;
            let events = tickets::events(&st.db, id).await?;
            Ok((status, ticket_page(&c, &t, &events, &f.body, &errors)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::tests::{ESCAPED, HOSTILE, hostile_customer, safe};

    fn customer() -> Customer {
        Customer { id: 7, name: HOSTILE.into(), csrf: "tok".into() }
    }

    #[test]
    fn the_portal_escapes_names_subjects_and_messages() {
        let c = customer();
        let cu = hostile_customer();
        let t = crate::tickets::tests::hostile_ticket();
        let own = vec![&t];
        let home = portal_page(
            &c,
            "My service",
            home_body(&Home {
                cu: &cu,
                service: Service::Outage(0),
                billing: maud::Markup::default(),
                tickets: &own,
                radios: &[],
            }),
        );
        let s = safe(&home);
        assert!(s.contains(&format!("<h1>Hello, {ESCAPED}</h1>")), "{s}");
        assert!(s.contains(r#"<p class="banner down" role="status">"#), "{s}");
        assert!(s.contains(r#"action="/portal/logout""#), "the portal frame");

        let events = vec![
            tickets::Event { ts_ms: 0, author: HOSTILE.into(), kind: EventKind::Customer, body: HOSTILE.into() },
            tickets::Event { ts_ms: 0, author: "noc".into(), kind: EventKind::Internal, body: "internal only".into() },
        ];
        let mut errors = FormErrors::new();
        errors.field("body", HOSTILE);
        let s = safe(&ticket_page(&c, &t, &events, HOSTILE, &errors));
        assert!(!s.contains("internal only"), "no internal notes for customers");
        assert!(s.contains(&format!("<h1>#7 {ESCAPED}</h1>")));
        assert!(s.contains(&format!(r#"aria-describedby="reply-body-error">{ESCAPED}</textarea>"#)), "{s}");

        let f = TicketForm { subject: HOSTILE.into(), category: "billing".into(), body: HOSTILE.into() };
        let mut errors = FormErrors::new();
        errors.field("subject", "must not contain control characters");
        let s = safe(&new_ticket_page(&c, &f, &errors));
        assert!(s.contains(r#"<option value="billing" selected>Billing</option>"#), "{s}");
        assert!(s.contains(r#"<form class="stack" method="post" action="/portal/tickets">"#));

        let s = safe(&login_page(&SignIn { message: Some(HOSTILE), email: HOSTILE, ..SignIn::default() }));
        assert!(s.contains(r#"<form class="stack" method="post" action="/portal/login">"#), "{s}");
        assert!(s.contains(r#"<p class="banner degraded" role="alert">"#));
        safe(&confirm_link(Path(HOSTILE.to_string())).now_or_never().unwrap());
    }

    /// Runs a future that never waits.
    trait NowOrNever: std::future::Future + Sized {
        fn now_or_never(self) -> Option<Self::Output> {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match std::pin::pin!(self).poll(&mut cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            }
        }
    }
    impl<F: std::future::Future> NowOrNever for F {}
}
