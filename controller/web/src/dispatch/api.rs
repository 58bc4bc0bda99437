//! The dispatch JSON API: work orders (list, create) and the field
//! outcomes (for the KPI dashboard and outside reports).

use crate::{ApiError, AppState, Caller, audit};
use axum::Json;
use axum::extract::{Query, State};
use mast_store::dispatch::jobs::{self as store, Filter, JobInput, JobRow};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JobsQuery {
    pub day: Option<String>,
    pub technician: Option<i64>,
    pub open: Option<bool>,
    pub unscheduled: Option<bool>,
}

pub async fn jobs(
    _c: Caller,
    State(st): State<AppState>,
    Query(q): Query<JobsQuery>,
) -> Result<Json<Vec<JobRow>>, ApiError> {
    if let Some(d) = &q.day {
        mast_store::dispatch::parse_day("day", d)?;
    }
    let f = Filter {
        day: q.day.clone(),
        technician: q.technician,
        open: q.open.unwrap_or(false),
        unscheduled: q.unscheduled.unwrap_or(false),
        limit: 5_000,
        ..Filter::default()
    };
    Ok(Json(store::list(&st.db, &f).await?))
}

pub async fn create(
    c: Caller,
    State(st): State<AppState>,
    Json(input): Json<JobInput>,
) -> Result<Json<JobRow>, ApiError> {
    let j = store::create(&st.db, &input, &c.name).await?;
    audit::record(&st.db, &c.actor(), "dispatch.job.create", &format!("work order {}", j.id), &j.title).await?;
    Ok(Json(j))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomesQuery {
    pub days: Option<i64>,
}

pub async fn outcomes(
    _c: Caller,
    State(st): State<AppState>,
    Query(q): Query<OutcomesQuery>,
) -> Result<Json<Value>, ApiError> {
    let o = super::reports::outcomes(&st, q.days.unwrap_or(30).clamp(1, 366)).await?;
    Ok(Json(json!(o)))
}
