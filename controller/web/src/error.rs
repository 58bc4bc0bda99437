//! Errors to HTTP, in one place. Every handler answers `Result<_, ApiError>`;
//! a store error becomes a status here: not found → 404, a broken rule →
//! 400 naming the field, a clash with stored state → 409, corrupt stored
//! data or a database failure → a logged 500 with no details.
//!
//! The body is JSON (`{"error": {"code", "message", "field"}}`) for the API;
//! on page routes the route layer swaps it for an HTML error page (see
//! [`html_errors`]), so browsers never see JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mast_store::StoreError;
use serde_json::json;

/// Error for pages and API alike: a stable `code`, a message, a status, and
/// the field at fault when there is one.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(f) = &self.field {
            body["error"]["field"] = json!(f);
        }
        let mut res = (self.status, Json(body)).into_response();
        // The page layer renders this as HTML for browsers.
        res.extensions_mut().insert(self);
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Invalid { ref field, .. } => {
                let field = (!field.is_empty()).then(|| field.clone());
                ApiError { field, ..ApiError::bad_request(e.to_string()) }
            }
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable in an HTTP handler");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is busy; try again")
            }
            e => {
                tracing::error!(error = %e, "store error in HTTP handler");
                ApiError::internal()
            }
        }
    }
}

/// Route layer for page routes: an error answered as JSON (an [`ApiError`])
/// becomes an HTML page with the same status, for people.
pub async fn html_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let res = next.run(req).await;
    match res.extensions().get::<ApiError>() {
        Some(e) => {
            let e = e.clone();
            (e.status, crate::pages::error_page(e.status, &e.message)).into_response()
        }
        None => res,
    }
}
