//! HTTP: the JSON API under `/api/v1`, Prometheus `/metrics`, and the staff
//! pages (server-rendered, assets served from the binary).
//!
//! Invariants: every response carries the security headers; a missing or bad
//! credential is a 401 with a JSON error body, never a 500; internal errors are
//! logged and answered without their details.

use crate::auth;
use crate::db::Db;
use crate::fleet;
use crate::metrics::Metrics;
use crate::monitoring;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub default_interval_ms: i64,
    pub default_timeout_ms: i64,
}

/// API error: a stable `code`, a human message, and a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            e => {
                tracing::error!(error = %e, "database error in HTTP handler");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

/// A caller authenticated by an API bearer token.
pub struct ApiCaller {
    pub role: String,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| {
            Metrics::inc(&st.metrics.http_unauthorized);
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
        };
        let Some(h) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("missing bearer token"));
        };
        let token = h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if token.is_empty() {
            return Err(unauthorized("malformed Authorization header"));
        }
        match auth::token_role(&st.db, token).await? {
            Some(role) => Ok(ApiCaller { role }),
            None => Err(unauthorized("invalid or revoked token")),
        }
    }
}

impl ApiCaller {
    fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == "admin" {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "admin role required"))
        }
    }
}

/// A staff member's browser session (for the pages). The cookie holds an API
/// token; the staff-UI issue replaces this with user accounts.
pub struct PageCaller;

const COOKIE: &str = "mast_session";

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = Redirect;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Redirect> {
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix("mast_session="))
            .next()
            .map(str::to_string);
        match token {
            Some(t) if matches!(auth::token_role(&st.db, &t).await, Ok(Some(_))) => Ok(PageCaller),
            _ => Err(Redirect::to("/login")),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/agents", get(api_agents))
        .route("/api/v1/agents/{id}/delivery", get(api_delivery))
        .route("/api/v1/devices", get(api_devices))
        .route("/api/v1/sites", get(api_sites).post(api_add_site))
        .route("/metrics", get(metrics))
        .route("/", get(index))
        .route("/agents/{id}", get(agent_page))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/assets/mast.css", get(css))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn health(State(st): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&st.db.pool).await {
        Ok(_) => Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "database unavailable"})),
        )
            .into_response(),
    }
}

async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
}

#[derive(Deserialize)]
struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn api_agents(_c: ApiCaller, State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "agents": fleet::list_agents(&st.db).await? })))
}

/// Delivery integrity of one agent: per boot epoch, the sequence range
/// received, the count stored, the count reported dropped, and any gap not
/// explained by a reported drop (`data_loss`); plus its uplink outages.
pub async fn delivery_json(db: &Db, id: i64) -> Result<serde_json::Value, ApiError> {
    let agents = fleet::list_agents(db).await?;
    let Some(agent) = agents.into_iter().find(|a| a.id == id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no agent {id}"),
        ));
    };
    let epochs = monitoring::delivery(db, id).await?;
    let unexplained: i64 = epochs.iter().map(|e| e.unexplained).sum();
    let reported: i64 = epochs.iter().map(|e| e.reported_dropped).sum();
    let outages = monitoring::uplink_outages(db, id, 50).await?;
    Ok(json!({
        "agent_id": id,
        "epochs": epochs,
        "stored": epochs.iter().map(|e| e.stored).sum::<i64>(),
        "reported_dropped": reported,
        "unexplained": unexplained,
        "data_loss": unexplained > 0,
        "backlog": agent.backlog,
        "uplink_outages": outages,
    }))
}

async fn api_delivery(
    _c: ApiCaller,
    State(st): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(delivery_json(&st.db, id).await?))
}

async fn agent_page(
    _c: PageCaller,
    State(st): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Html<String>, ApiError> {
    let now = crate::db::now_ms();
    let d = delivery_json(&st.db, id).await?;
    let agents = fleet::list_agents(&st.db).await?;
    let a = agents
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such agent"))?;
    let mut b = format!(
        "<h2>Agent {} · site {}</h2><p>{} · version {} · {} · last seen {} · backlog {}</p>",
        a.id,
        esc(&a.site),
        esc(&a.status),
        esc(a.version.as_deref().unwrap_or("-")),
        if a.connected { "connected" } else { "offline" },
        ago(now, a.last_seen_ms),
        a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
    );
    let loss = d["data_loss"].as_bool().unwrap_or(false);
    b.push_str(&format!(
        "<h2>Delivery</h2><p><span class='badge {}'>{}</span> {} stored, {} reported dropped by the agent, {} unexplained</p>",
        if loss { "down" } else { "up" },
        if loss { "data loss" } else { "complete" },
        d["stored"],
        d["reported_dropped"],
        d["unexplained"]
    ));
    b.push_str("<div class=wrap><table><tr><th>Boot epoch</th><th>Seq range</th><th>Stored</th><th>Reported dropped</th><th>Unexplained</th></tr>");
    for e in d["epochs"].as_array().into_iter().flatten() {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}-{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e["boot_epoch"], e["first_seq"], e["last_seq"], e["stored"], e["reported_dropped"], e["unexplained"]
        ));
    }
    b.push_str(
        "</table></div><h2>Uplink outages</h2><div class=wrap><table><tr><th>From (UTC)</th><th>Duration</th></tr>",
    );
    for o in d["uplink_outages"].as_array().into_iter().flatten() {
        let from = o["from_ms"].as_i64().unwrap_or(0);
        let dur = match o["to_ms"].as_i64() {
            Some(t) => format!("{} s", (t - from) / 1000),
            None => "ongoing".into(),
        };
        b.push_str(&format!("<tr><td>{}</td><td>{dur}</td></tr>", fmt_utc(from)));
    }
    b.push_str("</table></div>");
    Ok(page(&format!("Agent {id}"), &b, true))
}

fn fmt_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn api_devices(
    _c: ApiCaller,
    State(st): State<AppState>,
    Query(p): Query<Page>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = p.limit.unwrap_or(500).clamp(1, 5000);
    let offset = p.offset.unwrap_or(0).max(0);
    let devices = monitoring::list_devices(&st.db, limit, offset).await?;
    Ok(Json(json!({ "devices": devices, "limit": limit, "offset": offset })))
}

async fn api_sites(_c: ApiCaller, State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "sites": monitoring::list_sites(&st.db).await? })))
}

#[derive(Deserialize)]
struct NewSite {
    name: String,
    #[serde(default)]
    targets: Vec<String>,
    interval_secs: Option<u32>,
}

async fn api_add_site(
    c: ApiCaller,
    State(st): State<AppState>,
    Json(n): Json<NewSite>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    c.require_admin()?;
    let targets = monitoring::parse_targets(&n.targets.join(","))?;
    let interval = n
        .interval_secs
        .map(|s| s as i64 * 1000)
        .unwrap_or(st.default_interval_ms);
    let site = monitoring::add_site(
        &st.db,
        &n.name,
        &targets,
        interval,
        st.default_timeout_ms.min(interval - 1),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "site": site }))))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str, logged_in: bool) -> Html<String> {
    let logout = if logged_in {
        r#"<form method="post" action="/logout"><button type="submit">Log out</button></form>"#
    } else {
        ""
    };
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · Mast</title><link rel="stylesheet" href="/assets/mast.css"></head>
<body><header><a href="/">Mast</a>{logout}</header><main>{body}</main></body></html>"#,
        esc(title)
    ))
}

fn ago(now: i64, ms: Option<i64>) -> String {
    match ms {
        None => "never".into(),
        Some(t) => {
            let s = (now - t).max(0) / 1000;
            if s < 120 {
                format!("{s} s ago")
            } else if s < 7200 {
                format!("{} min ago", s / 60)
            } else {
                format!("{} h ago", s / 3600)
            }
        }
    }
}

async fn index(_c: PageCaller, State(st): State<AppState>) -> Result<Html<String>, ApiError> {
    let now = crate::db::now_ms();
    let sites = monitoring::list_sites(&st.db).await?;
    let agents = fleet::list_agents(&st.db).await?;
    let devices = monitoring::list_devices(&st.db, 5000, 0).await?;
    let mut b = String::from(r#"<meta http-equiv="refresh" content="15">"#);
    b.push_str("<h2>Sites</h2><div class=wrap><table><tr><th>Site</th><th>Interval</th><th>Targets</th><th>Devices up</th></tr>");
    for s in &sites {
        let up = devices.iter().filter(|d| d.site == s.name && d.status == "up").count();
        let total = devices.iter().filter(|d| d.site == s.name).count();
        b.push_str(&format!(
            "<tr><td>{}</td><td>{} s</td><td>{}</td><td>{up} / {total}</td></tr>",
            esc(&s.name),
            s.interval_ms / 1000,
            s.targets.len()
        ));
    }
    b.push_str("</table></div><h2>Agents</h2><div class=wrap><table><tr><th>ID</th><th>Site</th><th>State</th><th>Version</th><th>Last seen</th><th>Backlog</th></tr>");
    for a in &agents {
        let (cls, label) = match (a.status.as_str(), a.connected) {
            ("active", true) => ("up", "connected"),
            ("active", false) => ("down", "offline"),
            ("pending", _) => ("unknown", "pending"),
            _ => ("unknown", "revoked"),
        };
        b.push_str(&format!(
            "<tr><td><a href='/agents/{0}'>{0}</a></td><td>{1}</td><td><span class='badge {cls}'>{label}</span></td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            a.id,
            esc(&a.site),
            esc(a.version.as_deref().unwrap_or("-")),
            ago(now, a.last_seen_ms),
            a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
        ));
    }
    b.push_str("</table></div><h2>Devices</h2><div class=wrap><table><tr><th>Site</th><th>Address</th><th>Name</th><th>Status</th><th>RTT</th><th>Loss (10 min)</th><th>Last sample</th></tr>");
    for d in &devices {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class='badge {}'>{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.site),
            esc(&d.addr),
            esc(d.name.as_deref().unwrap_or("")),
            d.status,
            d.status,
            d.last_rtt_ms.map(|r| format!("{r:.2} ms")).unwrap_or_else(|| "-".into()),
            d.loss_pct.map(|l| format!("{l:.0} %")).unwrap_or_else(|| "-".into()),
            ago(now, d.last_sample_ms)
        ));
    }
    b.push_str("</table></div>");
    Ok(page("Overview", &b, true))
}

async fn login_form() -> Html<String> {
    page(
        "Log in",
        r#"<form class="login" method="post" action="/login"><h2>Log in to Mast</h2>
<label for="token">Access token</label><input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button><p class="muted">Create one with <code>mast-controller token create --role admin --name you</code>.</p></form>"#,
        false,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(st): State<AppState>, Form(f): Form<LoginForm>) -> Result<Response, ApiError> {
    let token = f.token.trim();
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Ok((
            StatusCode::UNAUTHORIZED,
            page(
                "Log in",
                "<p class=error>Invalid token.</p><p><a href=/login>Try again</a></p>",
                false,
            ),
        )
            .into_response());
    }
    match auth::token_role(&st.db, token).await? {
        Some(_) => {
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200");
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
        }
        None => {
            Metrics::inc(&st.metrics.http_unauthorized);
            Ok((
                StatusCode::UNAUTHORIZED,
                page(
                    "Log in",
                    "<p class=error>Invalid token.</p><p><a href=/login>Try again</a></p>",
                    false,
                ),
            )
                .into_response())
        }
    }
}

async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/mast.css"),
    )
}
