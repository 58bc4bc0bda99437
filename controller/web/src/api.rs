//! The JSON API under `/api/v1` (bearer tokens; errors as
//! `{"error": {"code", "message"}}`), its OpenAPI document, and `/metrics`.

use super::{ApiError, AppState, Caller, ROUTES};
use crate::{audit, fleet, monitoring, staff};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn health(State(st): State<AppState>) -> Response {
    match st.db.ping().await {
        Ok(_) => Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "database unavailable"}))).into_response(),
    }
}

pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render())
}

#[derive(Deserialize)]
pub struct Page {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Page {
    pub(crate) fn clamp(&self, default: i64, max: i64) -> (i64, i64) {
        (self.limit.unwrap_or(default).clamp(1, max), self.offset.unwrap_or(0).max(0))
    }
}

pub async fn sites(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "sites": monitoring::list_sites(&st.db).await? })))
}

#[derive(Deserialize)]
pub struct NewSite {
    name: String,
    #[serde(default)]
    targets: Vec<String>,
    interval_secs: Option<u32>,
}

pub async fn add_site(
    c: Caller,
    State(st): State<AppState>,
    Json(n): Json<NewSite>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let targets = monitoring::parse_targets(&n.targets.join(","))?;
    let interval = n.interval_secs.map(|s| s as i64 * 1000).unwrap_or(st.settings.monitoring.default_interval_ms);
    let site = monitoring::add_site(
        &st.db,
        &n.name,
        &targets,
        interval,
        st.settings.monitoring.default_timeout_ms.min(interval - 1),
    )
    .await?;
    audit::record(&st.db, &c.actor(), "site.add", &site.name, &format!("{} targets", site.targets.len())).await?;
    Ok((StatusCode::CREATED, Json(json!({ "site": site }))))
}

pub async fn agents(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "agents": fleet::list_agents(&st.db).await? })))
}

#[derive(Deserialize)]
pub struct NewAgent {
    site: String,
}

pub async fn add_agent(
    c: Caller,
    State(st): State<AppState>,
    Json(n): Json<NewAgent>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ttl = std::time::Duration::from_secs(st.settings.agents.enroll_token_ttl.as_secs());
    let (id, token) = fleet::add_agent(&st.db, &n.site, ttl).await?;
    audit::record(&st.db, &c.actor(), "agent.enroll", &format!("agent {id}"), &format!("site {}", n.site)).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"agent_id": id, "site": n.site, "token": token, "ca_fingerprint": st.web.ca_fingerprint, "expires_in_secs": st.settings.agents.enroll_token_ttl.as_secs()}),
        ),
    ))
}

pub async fn revoke_agent(c: Caller, State(st): State<AppState>, Path(id): Path<u64>) -> Result<Json<Value>, ApiError> {
    if !fleet::revoke(&st.db, id).await? {
        return Err(ApiError::not_found(format!("no active or pending agent {id}")));
    }
    audit::record(&st.db, &c.actor(), "agent.revoke", &format!("agent {id}"), "").await?;
    Ok(Json(json!({"agent_id": id, "status": "revoked"})))
}

/// Delivery integrity of one agent: per boot epoch, the sequence range
/// received, the count stored, the count reported dropped, and any gap not
/// explained by a reported drop (`data_loss`); plus its uplink outages.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub agent_id: i64,
    pub epochs: Vec<monitoring::EpochDelivery>,
    pub stored: i64,
    pub reported_dropped: i64,
    pub unexplained: i64,
    pub data_loss: bool,
    pub backlog: Option<i64>,
    pub uplink_outages: Vec<monitoring::UplinkOutage>,
}

/// The [`Delivery`] of agent `id` (404 for an unknown agent).
pub async fn delivery_report(db: &crate::db::Db, id: i64) -> Result<Delivery, ApiError> {
    let agent = fleet::get_agent(db, id).await?;
    let epochs = monitoring::delivery(db, id).await?;
    let unexplained: i64 = epochs.iter().map(|e| e.unexplained).sum();
    Ok(Delivery {
        agent_id: id,
        stored: epochs.iter().map(|e| e.stored).sum(),
        reported_dropped: epochs.iter().map(|e| e.reported_dropped).sum(),
        unexplained,
        data_loss: unexplained > 0,
        backlog: agent.backlog,
        uplink_outages: monitoring::uplink_outages(db, id, 50).await?,
        epochs,
    })
}

pub async fn delivery(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Delivery>, ApiError> {
    Ok(Json(delivery_report(&st.db, id).await?))
}

pub async fn devices(State(st): State<AppState>, Query(p): Query<Page>) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = p.clamp(500, 5000);
    let devices = monitoring::list_devices(&st.db, limit, offset).await?;
    Ok(Json(json!({ "devices": devices, "limit": limit, "offset": offset })))
}

#[derive(Deserialize)]
pub struct RangeQ {
    pub range: Option<String>,
}

/// The ranges a chart offers, with their spans in milliseconds. Month and
/// year read the hourly rollups, so a year-long chart costs as much as a
/// week-long one.
pub const RANGES: [(&str, i64); 5] = [
    ("hour", 3_600_000),
    ("day", 86_400_000),
    ("week", 7 * 86_400_000),
    ("month", 30 * 86_400_000),
    ("year", 365 * 86_400_000),
];

/// Parses a range's name (default `hour`) into its span in milliseconds.
pub fn range_ms(r: Option<&str>) -> Result<(i64, &'static str), ApiError> {
    let r = r.unwrap_or("hour");
    RANGES.iter().find(|(name, _)| *name == r).map(|&(name, span)| (span, name)).ok_or_else(|| {
        ApiError::bad_request(format!("range {r:?} must be one of {}", RANGES.map(|(n, _)| n).join(", ")))
    })
}

/// Charts of raw samples (signal, link health) have no rollups: they show
/// at most the last week, whatever the range.
pub fn raw_range(range: &'static str) -> (i64, &'static str) {
    const WEEK: (i64, &str) = (7 * 86_400_000, "week");
    RANGES.iter().find(|(n, _)| *n == range).map(|&(n, span)| (span, n)).filter(|r| r.0 <= WEEK.0).unwrap_or(WEEK)
}

pub async fn series(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RangeQ>,
) -> Result<Json<Value>, ApiError> {
    let (span, name) = range_ms(q.range.as_deref())?;
    let now = crate::db::now_ms();
    let points = monitoring::device_series(&st.db, id, now - span, now, 240).await?;
    let (raw_span, _) = raw_range(name);
    let signal = monitoring::signal_series(&st.db, id, now - raw_span, now, 240).await?;
    Ok(Json(json!({ "device_id": id, "range": name, "points": points, "signal": signal })))
}

pub async fn users(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "users": staff::list_users(&st.db).await? })))
}

pub async fn audit(State(st): State<AppState>, Query(p): Query<Page>) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = p.clamp(100, 1000);
    Ok(Json(json!({ "entries": audit::list(&st.db, limit, offset).await?, "limit": limit, "offset": offset })))
}

pub async fn site_inventory(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    monitoring::get_site(&st.db, id).await?;
    Ok(Json(json!({ "site_id": id, "inventory": monitoring::inventory::site_inventory(&st.db, id).await? })))
}

pub async fn device(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let d = monitoring::get_device(&st.db, id).await?;
    let inventory = monitoring::inventory::device_inventory(&st.db, id).await?;
    let mut history = Vec::new();
    for i in &inventory {
        history.extend(monitoring::inventory::history_of(&st.db, i.site_id, &i.mac, 100).await?);
    }
    Ok(Json(json!({ "device": d, "inventory": inventory, "history": history })))
}

#[derive(Deserialize)]
pub struct MacQ {
    mac: String,
}

/// MACs matching `?mac=` in any notation, whole or in part (at least 4 hex digits).
pub async fn inventory_search(State(st): State<AppState>, Query(q): Query<MacQ>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "inventory": monitoring::inventory::search_mac(&st.db, &q.mac).await? })))
}

pub async fn probing(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let Some(p) = monitoring::probing::get(&st.db, id).await? else { return Err(ApiError::not_found("no such site")) };
    Ok(Json(json!({ "site_id": id, "probing": p.view() })))
}

/// Changes a site's SNMP/discovery settings; the answer never echoes secrets.
pub async fn set_probing(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Json(change): Json<monitoring::probing::Change>,
) -> Result<Json<Value>, ApiError> {
    let site = monitoring::get_site(&st.db, id).await?;
    let mut p = monitoring::probing::get(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such site"))?;
    p.apply(&change)?;
    monitoring::probing::set(&st.db, id, &p).await?;
    audit::record(&st.db, &c.actor(), "site.probing", &site.name, &p.summary()).await?;
    Ok(Json(json!({ "site_id": id, "probing": p.view() })))
}

/// The OpenAPI 3.1 document, generated from the route table so it cannot
/// drift from the real routes.
pub async fn openapi() -> Json<Value> {
    Json(openapi_doc())
}

pub fn openapi_doc() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES.iter().filter(|r| r.path.starts_with("/api/v1/")) {
        let mut op = json!({
            "operationId": format!("{}{}", r.method.as_str().to_lowercase(), r.path.replace(['/', '{', '}'], "_")),
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "Invalid input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "401": {"description": "Missing or bad token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "403": {"description": "Role not allowed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        match r.access {
            super::Access::Public => op["security"] = json!([]),
            super::Access::Customer => continue,
            super::Access::Roles(roles) => {
                op["x-roles"] = json!(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>());
            }
        }
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "integer"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        paths
            .entry(r.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(r.method.as_str().to_lowercase(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Mast controller API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}}}
        },
        "security": [{"bearer": []}]
    })
}
