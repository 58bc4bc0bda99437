//! `/api/v1/stock`: the catalogue, locations, units, the movement log
//! (read and append: the same batches as the forms, all or nothing), and
//! the reconciliation report. Bearer tokens only; changes are audited.

use crate::{ApiError, AppState, Caller, audit};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use mast_stock_core::LocationKind;
use mast_store::StoreError;
use mast_store::stock::moves::{self as store, Batch, UnitFilter};
use mast_store::stock::reconcile;
use mast_store::stock::{ModelInput, locations, models};
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn models_list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "models": models::list(&st.db).await? })))
}

pub async fn models_add(
    c: Caller,
    State(st): State<AppState>,
    Json(i): Json<ModelInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let m = models::add(&st.db, &i).await?;
    audit::record(&st.db, &c.actor(), "stock.model.add", &format!("stock model {}", m.id), &m.label()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "model": m }))))
}

pub async fn locations_list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "locations": locations::list(&st.db).await? })))
}

#[derive(Debug, Deserialize)]
pub struct NewLocation {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub user_id: Option<i64>,
}

pub async fn locations_add(
    c: Caller,
    State(st): State<AppState>,
    Json(n): Json<NewLocation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kind = LocationKind::parse(n.kind.trim()).ok_or_else(|| StoreError::invalid("kind", "warehouse or vehicle"))?;
    let l = locations::add(&st.db, kind, &n.name, n.user_id).await?;
    audit::record(&st.db, &c.actor(), "stock.location.add", &format!("stock location {}", l.id), &l.name).await?;
    Ok((StatusCode::CREATED, Json(json!({ "location": l }))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UnitsQ {
    pub model: Option<i64>,
    pub location: Option<i64>,
    pub kind: Option<String>,
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn units(State(st): State<AppState>, Query(q): Query<UnitsQ>) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = crate::api::Page { limit: q.limit, offset: q.offset }.clamp(100, 1000);
    let filter = UnitFilter { model: q.model, location: q.location, kind: q.kind, q: q.q };
    let (units, total) = store::units(&st.db, &filter, limit, offset).await?;
    Ok(Json(json!({ "units": units, "total": total, "limit": limit, "offset": offset })))
}

pub async fn unit(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let u = store::unit(&st.db, id).await?;
    let history = store::history(&st.db, id).await?;
    Ok(Json(json!({ "unit": u, "warranty_end_ms": u.warranty_end_ms(), "history": history })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogQ {
    pub location: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn movements(State(st): State<AppState>, Query(q): Query<LogQ>) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = crate::api::Page { limit: q.limit, offset: q.offset }.clamp(100, 1000);
    let (rows, total) = store::movements(&st.db, q.location, limit, offset).await?;
    Ok(Json(json!({ "movements": rows, "total": total, "limit": limit, "offset": offset })))
}

/// `POST /api/v1/stock/movements`: a batch (`kind`, `from`, `to`, `items`,
/// `note`), recorded whole or refused with each bad line named.
pub async fn record(
    c: Caller,
    State(st): State<AppState>,
    Json(mut b): Json<Batch>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    b.actor = c.name.clone();
    b.automatic = false;
    let r = store::record(&st.db, &b).await?;
    let what = format!("{} of {} item(s), batch {}", b.kind.as_str(), b.items.len(), r.batch);
    audit::record(&st.db, &c.actor(), "stock.move", &format!("stock location {}", r.to), &what).await?;
    Ok((StatusCode::CREATED, Json(json!({ "recorded": r }))))
}

pub async fn reconcile_report(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let r = reconcile::report(&st.db, crate::db::now_ms(), st.settings.stock.stale_after_ms).await?;
    Ok(Json(json!({ "report": r })))
}
