//! The customer portal: sign in (password or emailed magic link), service
//! status (including an outage that affects them right now), their tickets
//! (open, follow, reply). Billing pages join it from `web::billing`.
//!
//! Portal routes are `Access::Customer`: [`authorize`] finds the portal
//! session (its own cookie, never a staff session), checks the CSRF token
//! and origin on every POST, and hands handlers a [`Customer`].

use super::{ApiError, AppState, cookie, esc, fmt_utc};
use crate::notify::{self, Channel};
use crate::portal_accounts as portal;
use axum::Form;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use mast_store::tickets::{self, NewTicket, lifecycle::Action};
use serde::Deserialize;
use std::net::SocketAddr;

pub const PORTAL_COOKIE: &str = "mast_portal";

type PageResult = Result<Response, ApiError>;

/// The signed-in customer, set by [`authorize`].
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: i64,
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
    req.extensions_mut().insert(Customer { id: s.customer_id, csrf: s.csrf });
    next.run(req).await
}

fn csrf(c: &Customer) -> String {
    format!("<input type=hidden name=csrf value='{}'>", esc(&c.csrf))
}

/// The portal's page frame (no staff navigation).
pub fn frame(c: Option<&Customer>, title: &str, body: &str) -> Html<String> {
    let nav = match c {
        Some(c) => format!(
            "<a href=/portal>My service</a><a href=/portal/tickets/new>Get help</a><a href=/portal/password>Password</a>\
             <form class=inline method=post action=/portal/logout>{}<button>Sign out</button></form>",
            csrf(c)
        ),
        None => String::new(),
    };
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Customer portal</title><link rel=stylesheet href=/assets/mast.css></head>
<body class=portal><header><a class=brand href="/portal">My Internet</a><nav>{nav}</nav></header><main>{body}</main></body></html>"#,
        title = esc(title),
    ))
}

fn login_page(msg: Option<&str>) -> Html<String> {
    let m = msg.map(|m| format!("<p class='banner degraded'>{}</p>", esc(m))).unwrap_or_default();
    frame(
        None,
        "Sign in",
        &format!(
            "<h1>Sign in</h1>{m}<form class=stack method=post action=/portal/login>\
             <label>Email <input name=email type=email autocomplete=username required></label>\
             <label>Password <input name=password type=password autocomplete=current-password required></label>\
             <button>Sign in</button></form>\
             <h2>No password?</h2><form class=stack method=post action=/portal/magic>\
             <label>Email <input name=email type=email required></label><button>Email me a sign-in link</button></form>"
        ),
    )
}

pub async fn login_form() -> Html<String> {
    login_page(None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

fn session_cookie(st: &AppState, headers: &HeaderMap, sid: &str) -> String {
    let secure = st.settings.http.cookie_secure
        || headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    format!(
        "{PORTAL_COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/portal; Max-Age={}{}",
        st.settings.http.sessions.absolute_ms / 1000,
        if secure { "; Secure" } else { "" }
    )
}

async fn sign_in(st: &AppState, headers: &HeaderMap, customer: i64) -> PageResult {
    if let Some(old) = cookie(headers, PORTAL_COOKIE) {
        portal::end_session(&st.db, &old).await?;
    }
    let (sid, _) = portal::create_session(&st.db, customer).await?;
    Ok(([(header::SET_COOKIE, session_cookie(st, headers, &sid))], Redirect::to("/portal")).into_response())
}

pub async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin sign-in refused").into_response());
    }
    let ip = peer.ip().to_string();
    let key = format!("portal:{}", f.email.trim().to_ascii_lowercase());
    let now = crate::db::now_ms() as u64;
    if let Err(wait) = st.web.throttle.lock().unwrap_or_else(|p| p.into_inner()).check(&key, &ip, now) {
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            login_page(Some(&format!("Too many failed attempts. Try again in {} min.", wait.div_ceil(60)))),
        )
            .into_response());
    }
    match portal::authenticate(&st.db, &f.email, &f.password).await? {
        Some(customer) => {
            st.web.throttle.lock().unwrap_or_else(|p| p.into_inner()).succeeded(&key, &ip);
            sign_in(&st, &headers, customer).await
        }
        None => {
            st.web.throttle.lock().unwrap_or_else(|p| p.into_inner()).failed(&key, &ip, now);
            Ok((StatusCode::UNAUTHORIZED, login_page(Some("Wrong email or password."))).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct EmailForm {
    email: String,
}

/// Emails a sign-in link to a known address; says the same either way.
pub async fn request_link(State(st): State<AppState>, headers: HeaderMap, Form(f): Form<EmailForm>) -> PageResult {
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin request refused").into_response());
    }
    send_link(&st, &f.email).await?;
    Ok(frame(
        None,
        "Check your email",
        "<h1>Check your email</h1><p>If that address has an account, a sign-in link is on its way. It works once, \
         for 15 minutes.</p><p><a href=/portal/login>Back to sign in</a></p>",
    )
    .into_response())
}

/// Queues a magic-link email for a known login; false if unknown or no mail.
pub async fn send_link(st: &AppState, email: &str) -> Result<bool, ApiError> {
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
        headers: Default::default(),
        customer_id: Some(customer),
        ticket_id: None,
    };
    let mut tx = st.db.pool.begin().await.map_err(crate::db::StoreError::from)?;
    notify::enqueue(&mut tx, &m).await?;
    tx.commit().await.map_err(crate::db::StoreError::from)?;
    Ok(true)
}

/// The link from the email: a confirmation page (prefetching scanners do not
/// use the link up; the button does).
pub async fn confirm_link(Path(token): Path<String>) -> Html<String> {
    frame(
        None,
        "Sign in",
        &format!(
            "<h1>Sign in</h1><form method=post action='/portal/magic/{}'><button>Continue to my account</button></form>",
            esc(&token)
        ),
    )
}

pub async fn use_link(State(st): State<AppState>, headers: HeaderMap, Path(token): Path<String>) -> PageResult {
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin request refused").into_response());
    }
    match portal::use_magic_link(&st.db, &token).await? {
        Some(customer) => sign_in(&st, &headers, customer).await,
        None => Ok((
            StatusCode::BAD_REQUEST,
            login_page(Some("That link was already used or has expired. Ask for a new one below.")),
        )
            .into_response()),
    }
}

pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> PageResult {
    if let Some(sid) = cookie(&headers, PORTAL_COOKIE) {
        portal::end_session(&st.db, &sid).await?;
    }
    let gone = format!("{PORTAL_COOKIE}=; HttpOnly; SameSite=Strict; Path=/portal; Max-Age=0");
    Ok(([(header::SET_COOKIE, gone)], Redirect::to("/portal/login")).into_response())
}

pub async fn home(c: Customer, State(st): State<AppState>) -> PageResult {
    let Some(cu) = mast_store::customers::get(&st.db, c.id).await? else {
        return Err(ApiError::not_found("no account"));
    };
    let mut b = format!("<h1>Hello, {}</h1>", esc(&cu.name));
    // Service status: an outage that affects them, then their radios.
    let outages = crate::monitoring::outages::open_for_customer(&st.db, c.id).await?;
    let devices = crate::monitoring::customer_devices(&st.db, c.id).await?;
    if let Some(o) = outages.first() {
        b.push_str(&format!(
            "<p class='banner down'>We know about a service interruption in your area since {} UTC and are working on it. \
             You do not need to report it.</p>",
            fmt_utc(o.started_ms)
        ));
    } else if devices.iter().any(|d| d.status == "down") {
        b.push_str(
            "<p class='banner degraded'>Your radio is not answering us right now. If your Internet is down, \
                    restart your router, then <a href=/portal/tickets/new>tell us</a>.</p>",
        );
    } else if !devices.is_empty() {
        b.push_str("<p class='banner up'>Your service is up.</p>");
    }
    b.push_str(&format!("<p>Service: {} · {}</p>", esc(&cu.status), esc(cu.address.as_deref().unwrap_or(""))));
    b.push_str(&super::billing_portal_section(&st, &c).await?.into_string());
    let list = tickets::for_customer(&st.db, c.id).await?;
    let own: Vec<_> = list.iter().filter(|t| t.customer_id == Some(c.id)).collect();
    b.push_str("<h2>My requests</h2>");
    if own.is_empty() {
        b.push_str("<p class=muted>None.</p>");
    } else {
        b.push_str("<ul>");
        for t in own {
            b.push_str(&format!(
                "<li><a href='/portal/tickets/{}'>#{} {}</a> · {} · {} UTC</li>",
                t.id,
                t.id,
                esc(&t.subject),
                t.status.as_str(),
                fmt_utc(t.created_ms)
            ));
        }
        b.push_str("</ul>");
    }
    b.push_str("<p><a href=/portal/tickets/new>Ask for help</a></p>");
    Ok(frame(Some(&c), "My service", &b).into_response())
}

pub async fn password_form(c: Customer) -> Html<String> {
    frame(
        Some(&c),
        "Password",
        &format!(
            "<h1>Set a password</h1><form class=stack method=post action=/portal/password>{}\
             <label>New password (at least 12 characters) <input name=password type=password autocomplete=new-password required minlength=12></label>\
             <button>Save</button></form>",
            csrf(&c)
        ),
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn set_password(
    c: Customer,
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    portal::set_password(&st.db, c.id, &f.password).await?;
    // Setting a password ends every session; start a fresh one here.
    sign_in(&st, &headers, c.id).await
}

pub async fn new_ticket_form(c: Customer) -> Html<String> {
    frame(
        Some(&c),
        "Get help",
        &format!(
            "<h1>Get help</h1><form class=stack method=post action=/portal/tickets>{}\
             <label>Subject <input name=subject required maxlength=200></label>\
             <label>Category <select name=category><option value=connectivity>My connection</option>\
             <option value=billing>Billing</option><option value=equipment>Equipment</option><option value=other>Other</option></select></label>\
             <label>What is happening? <textarea name=body required></textarea></label><button>Send</button></form>",
            csrf(&c)
        ),
    )
}

#[derive(Deserialize)]
pub struct TicketForm {
    subject: String,
    #[serde(default)]
    category: String,
    body: String,
}

async fn author(st: &AppState, c: &Customer) -> Result<String, ApiError> {
    Ok(mast_store::customers::get(&st.db, c.id).await?.map(|x| x.name).unwrap_or_else(|| format!("customer {}", c.id)))
}

pub async fn create_ticket(c: Customer, State(st): State<AppState>, Form(f): Form<TicketForm>) -> PageResult {
    let category = match f.category.as_str() {
        "connectivity" | "billing" | "equipment" | "other" => Some(f.category.clone()),
        _ => None,
    };
    let new = NewTicket {
        subject: f.subject,
        customer_id: Some(c.id),
        priority: None,
        category,
        source: Some("portal".into()),
        body: f.body,
        requester_email: None,
    };
    let t = tickets::create(&st.db, &new, &author(&st, &c).await?).await?;
    Ok(Redirect::to(&format!("/portal/tickets/{}", t.id)).into_response())
}

async fn own_ticket(st: &AppState, c: &Customer, id: i64) -> Result<tickets::Ticket, ApiError> {
    match tickets::get(&st.db, id).await? {
        Some(t) if t.customer_id == Some(c.id) => Ok(t),
        _ => Err(ApiError::not_found("no such request")),
    }
}

pub async fn ticket(c: Customer, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let t = own_ticket(&st, &c, id).await?;
    let mut b =
        format!("<h1>#{} {}</h1><p>Status: {}</p><ol class=timeline>", t.id, esc(&t.subject), t.status.as_str());
    // Only what was said between them and us: never internal notes.
    for e in tickets::events(&st.db, id).await?.iter().filter(|e| e.kind == "customer" || e.kind == "public") {
        let who = if e.kind == "public" { "Support" } else { "You" };
        b.push_str(&format!(
            "<li class='ev-{}'><span class=muted>{} UTC · {who}</span><div>{}</div></li>",
            esc(&e.kind),
            fmt_utc(e.ts_ms),
            esc(&e.body).replace('\n', "<br>")
        ));
    }
    b.push_str("</ol>");
    if t.status != tickets::lifecycle::Status::Closed {
        b.push_str(&format!(
            "<form class=stack method=post action='/portal/tickets/{id}/reply'>{}<label>Add a message \
             <textarea name=body required></textarea></label><button>Send</button></form>",
            csrf(&c)
        ));
    } else {
        b.push_str(
            "<p>This request is closed. <a href=/portal/tickets/new>Open a new one</a> if you still need help.</p>",
        );
    }
    Ok(frame(Some(&c), &format!("Request #{id}"), &b).into_response())
}

#[derive(Deserialize)]
pub struct ReplyForm {
    body: String,
}

pub async fn reply(
    c: Customer,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ReplyForm>,
) -> PageResult {
    own_ticket(&st, &c, id).await?;
    tickets::act(&st.db, &st.desk(), id, Action::CustomerReply, &f.body, &author(&st, &c).await?).await?;
    Ok(Redirect::to(&format!("/portal/tickets/{id}")).into_response())
}
