//! CSV import of existing stock (a file or pasted text; a dry run first
//! with every bad line named, then all or nothing) and the exports of
//! stock and movements.

use super::subnav;
use crate::pages::page;
use crate::ui::{self, Markup, Table, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mast_store::stock::{csv, locations};

/// The largest upload.
pub const MAX_UPLOAD: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Upload {
    into: String,
    text: String,
    apply: bool,
}

fn form(c: &Caller, warehouses: &[(String, String)], u: &Upload, error: Option<&str>) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    html! {
        form.stack method="post" action="/stock/import" enctype="multipart/form-data" {
            (ui::csrf_field(csrf))
            @if let Some(e) = error { p.field-error role="alert" { (e) } }
            div.field {
                label for="import-into" { "Receive into warehouse" }
                select id="import-into" name="into" {
                    @for (id, name) in warehouses { option value=(id) selected[*id == u.into] { (name) } }
                }
            }
            div.field {
                label for="import-file" { "CSV file" }
                input id="import-file" type="file" name="file" accept=".csv,text/csv";
            }
            div.field {
                label for="import-text" { "or paste it" }
                textarea id="import-text" name="text" rows="8" class="mono" spellcheck="false" { (u.text) }
                p.field-hint { "Columns: model (\"Vendor Model\" from the catalogue), location (a warehouse or vehicle name, customer:<id>, site:<name>; empty: the warehouse above), mac, serial, quantity, length_m, unit_cost (cents), note." }
            }
            div.actions {
                button type="submit" name="apply" value="0" { "Check (dry run)" } " "
                button type="submit" name="apply" value="1" { "Import" }
            }
        }
    }
}

async fn warehouses(st: &AppState) -> Result<Vec<(String, String)>, ApiError> {
    Ok(locations::stores(&st.db)
        .await?
        .into_iter()
        .filter(|l| l.kind == "warehouse")
        .map(|l| (l.id.to_string(), l.name))
        .collect())
}

pub async fn page_get(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let w = warehouses(&st).await?;
    Ok(page(
        &c,
        "Import stock",
        html! {
            h1 { "Import stock" }
            (subnav(c.role))
            @if w.is_empty() { p { "Add a warehouse under " a href="/stock/locations" { "Locations" } " first." } }
            (form(&c, &w, &Upload::default(), None))
        },
    ))
}

pub async fn upload(c: Caller, State(st): State<AppState>, mut mp: Multipart) -> Result<Response, ApiError> {
    let w = warehouses(&st).await?;
    let mut u = Upload::default();
    let mut file = String::new();
    let refuse = |u: &Upload, e: &str| -> Response {
        let body =
            page(&c, "Import stock", html! { h1 { "Import stock" } (subnav(c.role)) (form(&c, &w, u, Some(e))) });
        (StatusCode::BAD_REQUEST, body).into_response()
    };
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Ok(refuse(&u, &format!("the upload broke off: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return Ok(refuse(&u, &format!("the upload broke off: {e}"))),
        };
        if bytes.contains(&0) {
            return Ok(refuse(&u, "not a CSV file (it holds NUL bytes)"));
        }
        let Ok(text) = String::from_utf8(bytes.to_vec()) else {
            return Ok(refuse(&u, "not UTF-8 text (save it as UTF-8 CSV)"));
        };
        match name.as_str() {
            "into" => u.into = text,
            "text" => u.text = text,
            "file" => file = text,
            "apply" => u.apply = text == "1",
            _ => {}
        }
    }
    let text = if file.trim().is_empty() { u.text.clone() } else { file };
    if text.trim().is_empty() {
        return Ok(refuse(&u, "choose a CSV file or paste its text"));
    }
    let Ok(into) = u.into.trim().parse::<i64>() else { return Ok(refuse(&u, "choose the warehouse to receive into")) };
    let out = match csv::import(&st.db, &text, into, &c.name, u.apply).await {
        Ok(o) => o,
        Err(mast_store::StoreError::Invalid { reason, .. }) => return Ok(refuse(&u, &reason)),
        Err(e) => return Err(e.into()),
    };
    if out.applied {
        let what = format!("{} units, {} pieces from {} lines", out.units, out.pieces, out.lines);
        audit::record(&st.db, &c.actor(), "stock.import", &format!("stock location {into}"), &what).await?;
    }
    let mut t = Table::new("No problems.").num_col("Line").col("Problem");
    for e in out.errors.iter().take(1000) {
        t.push(vec![html! { (e.line) }, html! { (e.reason) }]);
    }
    let status = if out.errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let verdict = match (out.applied, out.errors.len()) {
        (true, _) => ui::flash(
            ui::FlashKind::Success,
            &format!("Imported {} units and {} pieces from {} lines.", out.units, out.pieces, out.lines),
        ),
        (false, 0) => ui::flash(
            ui::FlashKind::Info,
            &format!(
                "Dry run: all {} lines are fine ({} units, {} pieces). Nothing was stored yet.",
                out.lines, out.units, out.pieces
            ),
        ),
        (false, n) => ui::flash(
            ui::FlashKind::Error,
            &format!("{n} of {} lines have problems. Nothing was stored: fix them and try again.", out.lines),
        ),
    };
    let body = page(
        &c,
        "Import stock",
        html! {
            h1 { "Import stock" }
            (subnav(c.role))
            (verdict)
            @if !out.errors.is_empty() { (t) }
            @if !out.applied { (form(&c, &w, &Upload { text: u.text.clone(), ..u }, None)) }
            @else { p { a href="/stock" { "See the stock" } } }
        },
    );
    Ok((status, body).into_response())
}

fn csv_response(name: &str, text: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)], text)
        .into_response()
}

pub async fn export_stock(c: Caller, State(st): State<AppState>) -> Result<Response, ApiError> {
    let text = csv::export_stock(&st.db).await?;
    audit::record(&st.db, &c.actor(), "export", "stock", "csv").await?;
    Ok(csv_response("mast-stock.csv", text))
}

pub async fn export_movements(c: Caller, State(st): State<AppState>) -> Result<Response, ApiError> {
    let text = csv::export_movements(&st.db).await?;
    audit::record(&st.db, &c.actor(), "export", "stock-movements", "csv").await?;
    Ok(csv_response("mast-stock-movements.csv", text))
}
