//! The dunning desk (`/billing/dunning`): overdue invoices with where
//! dunning stands for each (steps taken, suspended, postponed), open late
//! and reconnection fees, and the staff's actions: postpone an invoice's
//! dunning, waive a fee, reactivate a suspended customer (a promise to pay:
//! dunning pauses until a date). Each action is audited and logged in the
//! invoice's dunning log.

use super::billing::{CASHIERS, fmt, today};
use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::collections;
use mast_store::StoreError;
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// Who works the desk.
pub const DESK: &[crate::staff::Role] = CASHIERS;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct UntilForm {
    pub until: String,
}

/// Which row's form a refusal belongs to.
enum Refused<'a> {
    None,
    Postpone(i64, &'a str, &'a FormErrors),
    Reactivate(i64, &'a str, &'a FormErrors),
    Page(&'a FormErrors),
}

async fn desk_page(c: &Caller, st: &AppState, refused: Refused<'_>) -> Result<Markup, ApiError> {
    let rows = collections::desk(&st.db, today()).await?;
    let fees = collections::open_fees(&st.db).await?;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let week = jiff::ToSpan::days(7);
    let default_until = today().checked_add(week).map(|d| d.to_string()).unwrap_or_default();
    let empty = FormErrors::new();
    let mut t = Table::new("Nobody is overdue.")
        .col("Invoice")
        .col("Customer")
        .col("Due")
        .num_col("Open")
        .col("Dunning")
        .col("Postpone");
    for r in &rows {
        let (value, errors) = match &refused {
            Refused::Postpone(id, v, e) if *id == r.invoice_id => (v.to_string(), *e),
            _ => (default_until.clone(), &empty),
        };
        let prefix = format!("postpone-{}", r.invoice_id);
        let f = Fields::new(&prefix, errors);
        let state = html! {
            @if r.suspended.unwrap_or(0) != 0 { (ui::tone_badge(ui::Tone::Down, "suspended")) " " }
            (r.done.unwrap_or(0).count_ones()) " step(s)"
            @if let Some(p) = &r.paused_until { " · paused until " (p) }
        };
        t.push(vec![
            html! { a href={ "/invoices/" (r.invoice_id) } { (r.number) } },
            html! { a href={ "/customers/" (r.customer_id) } { (r.name) } " (" (r.customer_status) ")" },
            html! { (r.due_date) },
            html! { (fmt(r.open_minor, &r.currency)) },
            state,
            ui::form_with_class(
                "inline",
                &format!("/billing/dunning/{}/postpone", r.invoice_id),
                Method::Post,
                csrf,
                html! {
                    (f.date_field("until", "Until", &value, FieldOpts::new().required()))
                    button type="submit" { "Postpone" }
                },
            ),
        ]);
    }
    let mut suspended: Vec<(i64, String)> =
        rows.iter().filter(|r| r.customer_status == "suspended").map(|r| (r.customer_id, r.name.clone())).collect();
    suspended.dedup();
    let mut sus = Table::new("Nobody is suspended.").col("Customer").col("Reactivate, pausing dunning until");
    for (id, name) in &suspended {
        let (value, errors) = match &refused {
            Refused::Reactivate(cid, v, e) if cid == id => (v.to_string(), *e),
            _ => (default_until.clone(), &empty),
        };
        let prefix = format!("reactivate-{id}");
        let f = Fields::new(&prefix, errors);
        sus.push(vec![
            html! { a href={ "/customers/" (id) } { (name) } },
            ui::form_with_class(
                "inline",
                &format!("/billing/dunning/customers/{id}/reactivate"),
                Method::Post,
                csrf,
                html! {
                    (f.date_field("until", "Until", &value, FieldOpts::new().required()))
                    button type="submit" { "Reactivate" }
                },
            ),
        ]);
    }
    let mut fee_t = Table::new("No open fee.").col("Customer").col("Fee").col("Date").num_col("Open").col("");
    for fee in &fees {
        fee_t.push(vec![
            html! { a href={ "/customers/" (fee.customer_id) } { (fee.name) } },
            html! { (fee.memo.as_deref().unwrap_or(fee.kind.as_str())) },
            html! { (fee.entry_date) },
            html! { (fmt(fee.open_minor, &fee.currency)) },
            ui::form_with_class(
                "inline",
                &format!("/billing/dunning/fees/{}/waive", fee.ledger_id),
                Method::Post,
                csrf,
                html! {
                    button type="submit" { "Waive" }
                },
            ),
        ]);
    }
    let page_errors = match &refused {
        Refused::Page(e) => Some(Fields::new("desk", e).summary()),
        _ => None,
    };
    Ok(html! {
        h1 { "Dunning" }
        p.muted { "Reminders, late fees and suspensions follow the dunning steps in the settings. Postponing an invoice, or reactivating a customer on a promise to pay, pauses them until the date." }
        @if let Some(e) = page_errors { (e) }
        h2 { "Overdue invoices (" (rows.len()) ")" }
        div #dunning-overdue { (t) }
        h2 { "Suspended customers (" (suspended.len()) ")" }
        div #dunning-suspended { (sus) }
        h2 { "Open fees (" (fees.len()) ")" }
        div #dunning-fees { (fee_t) }
    })
}

/// `GET /billing/dunning`.
pub async fn show(c: Caller, State(st): State<AppState>) -> PageResult {
    let body = desk_page(&c, &st, Refused::None).await?;
    Ok(page(&c, "Dunning", body).into_response())
}

fn form_error(e: StoreError) -> Result<FormErrors, ApiError> {
    match super::billing::form_errors(&e) {
        Some(errors) => Ok(errors),
        None => Err(e.into()),
    }
}

fn parse_until(v: &str) -> Result<jiff::civil::Date, StoreError> {
    mast_app::billing::store::parse_date("until", v.trim())
        .map_err(|_| StoreError::invalid("until", "a date as YYYY-MM-DD"))
}

/// Which dated action a form asked for.
#[derive(Clone, Copy)]
enum Dated {
    Postpone,
    Reactivate,
}

/// Postpone or reactivate until a date: done and audited, or the desk again
/// (400) with the reason next to that row's date.
async fn dated(c: Caller, st: AppState, id: i64, f: UntilForm, what: Dated) -> PageResult {
    let r = match parse_until(&f.until) {
        Ok(until) => match what {
            Dated::Postpone => collections::postpone(&st.db, id, until, today(), &c.name).await,
            Dated::Reactivate => collections::reactivate(&st.db, id, until, today(), &c.name).await,
        },
        Err(e) => Err(e),
    };
    let (action, target) = match what {
        Dated::Postpone => ("dunning.postpone", format!("invoice {id}")),
        Dated::Reactivate => ("dunning.reactivate", format!("customer {id}")),
    };
    match r {
        Ok(()) => {
            audit::record(&st.db, &c.actor(), action, &target, &f.until).await?;
            Ok(Redirect::to("/billing/dunning").into_response())
        }
        Err(StoreError::NotFound(m)) => Err(ApiError::not_found(m)),
        Err(e) => {
            let errors = form_error(e)?;
            let refused = match what {
                Dated::Postpone => Refused::Postpone(id, &f.until, &errors),
                Dated::Reactivate => Refused::Reactivate(id, &f.until, &errors),
            };
            let body = desk_page(&c, &st, refused).await?;
            Ok((StatusCode::BAD_REQUEST, page(&c, "Dunning", body)).into_response())
        }
    }
}

/// `POST /billing/dunning/{invoice}/postpone`.
pub async fn postpone(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<UntilForm>,
) -> PageResult {
    dated(c, st, id, f, Dated::Postpone).await
}

/// `POST /billing/dunning/customers/{id}/reactivate`.
pub async fn reactivate(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<UntilForm>,
) -> PageResult {
    dated(c, st, id, f, Dated::Reactivate).await
}

/// `POST /billing/dunning/fees/{ledger id}/waive`.
pub async fn waive(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    match collections::waive_fee(&st.db, id, today(), &c.name).await {
        Ok(_) => {
            audit::record(&st.db, &c.actor(), "dunning.waive-fee", &format!("ledger {id}"), "").await?;
            Ok(Redirect::to("/billing/dunning").into_response())
        }
        Err(StoreError::NotFound(m)) => Err(ApiError::not_found(m)),
        Err(e) => {
            let errors = form_error(e)?;
            let body = desk_page(&c, &st, Refused::Page(&errors)).await?;
            Ok((StatusCode::BAD_REQUEST, page(&c, "Dunning", body)).into_response())
        }
    }
}
