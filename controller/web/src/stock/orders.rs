//! What is needed (stock against thresholds and targets, less what
//! scheduled jobs reserve) as a page and a purchase list CSV, and the
//! purchase orders: draft, lines, ordered, received in part or whole
//! (through the receive form), cancelled.

use super::{MANAGERS, cost, metres, subnav};
use crate::network::form_errors;
use crate::pages::page;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mast_stock_core::needs::{Need, needs, purchase_csv};
use mast_stock_core::order::PoAction;
use mast_stock_core::{Location, Model, ModelId};
use mast_store::StoreError;
use mast_store::stock::orders::{self, Order};
use mast_store::stock::{locations, models, moves as store};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The needs now, with the catalogue and the location names.
async fn current(st: &AppState) -> Result<(Vec<Need>, Vec<Model>, BTreeMap<i64, String>), ApiError> {
    let rows = models::list(&st.db).await?;
    let catalogue: Vec<Model> = rows.iter().map(|m| m.core()).collect::<Result<_, _>>()?;
    let locs = locations::stores(&st.db).await?;
    let places: Vec<Location> = locs.iter().map(|l| l.core()).collect::<Result<_, _>>()?;
    let names = locs.iter().map(|l| (l.id, l.name.clone())).collect();
    let reserved = store::reserved(&st.db).await?;
    let state = store::on_hand(&st.db).await?;
    Ok((needs(&state, &catalogue, &places, &reserved), catalogue, names))
}

pub async fn needs_page(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let (needs, catalogue, names) = current(&st).await?;
    let mut t = Table::new("Nothing is below its threshold or target.")
        .col("Model")
        .col("Where")
        .num_col("On hand")
        .num_col("Reserved")
        .num_col("Target")
        .num_col("Order");
    for n in needs.iter().filter(|n| n.to_order > 0 || n.below_threshold) {
        let m = catalogue.iter().find(|m| m.id == n.model);
        let is_cable = m.is_some_and(|m| m.class == mast_stock_core::ItemClass::CutToLength);
        let amount = |v: i64| if is_cable { metres(v) } else { v.to_string() };
        t.push(vec![
            html! { (m.map(|m| format!("{} {}", m.vendor, m.name)).unwrap_or_default())
            @if n.below_threshold { " " (ui::tone_badge(ui::Tone::Degraded, "below threshold")) } },
            html! { (names.get(&n.location.id).map(String::as_str).unwrap_or("")) },
            html! { (amount(n.on_hand)) },
            html! { (amount(n.reserved)) },
            html! { (n.target.map(amount).unwrap_or_default()) },
            html! { strong { (amount(n.to_order)) } },
        ]);
    }
    Ok(page(
        &c,
        "Purchase list",
        html! {
            h1 { "What is needed" }
            (subnav(c.role))
            p { "Stock below each model's reorder threshold or its target per warehouse and vehicle, counting parts reserved for scheduled jobs. "
                a href="/stock/needs.csv" { "Download the purchase list (CSV)" } "." }
            (t)
        },
    ))
}

pub async fn needs_csv(State(st): State<AppState>) -> Result<Response, ApiError> {
    let (needs, catalogue, _) = current(&st).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"purchase-list.csv\""),
        ],
        purchase_csv(&needs, &catalogue),
    )
        .into_response())
}

// -------------------------------------------------------------------- orders

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OrderForm {
    pub supplier: String,
    pub note: String,
}

fn total(o: &Order) -> String {
    o.total_minor().map(cost).unwrap_or_else(|| "—".into())
}

async fn orders_page(c: &Caller, st: &AppState, f: &OrderForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let list = orders::list(&st.db).await?;
    let mut t = Table::new("No purchase orders yet.")
        .num_col("#")
        .col("Supplier")
        .col("Status")
        .num_col("Lines")
        .num_col("Total")
        .col("By");
    for o in &list {
        t.push(vec![
            html! { a href={ "/stock/orders/" (o.order.id) } { (o.order.id) } },
            html! { (o.order.supplier) },
            ui::badge(&o.order.status),
            html! { (o.lines.len()) },
            html! { (total(o)) },
            html! { (o.order.created_by) },
        ]);
    }
    let fl = Fields::new("order", errors);
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(
        c,
        "Purchase orders",
        html! {
            h1 { "Purchase orders" }
            (subnav(c.role))
            (t)
            @if MANAGERS.contains(&c.role) {
                h2 { "New order" }
                (ui::form("/stock/orders", Method::Post, csrf, html! {
                    (fl.summary())
                    (fl.text_field("supplier", "Supplier", &f.supplier, FieldOpts::new().required().max_len(200)))
                    (fl.text_field("note", "Note", &f.note, FieldOpts::new().max_len(2000)))
                    button type="submit" { "Create draft" }
                }))
            }
        },
    ))
}

pub async fn orders_get(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    orders_page(&c, &st, &OrderForm::default(), &FormErrors::new()).await
}

pub async fn orders_post(
    c: Caller,
    State(st): State<AppState>,
    Form(f): Form<OrderForm>,
) -> Result<Response, ApiError> {
    match orders::create(&st.db, &f.supplier, &f.note, &c.name).await {
        Ok(id) => {
            audit::record(&st.db, &c.actor(), "stock.order.create", &format!("purchase order {id}"), &f.supplier)
                .await?;
            Ok(Redirect::to(&format!("/stock/orders/{id}")).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, &["supplier", "note"]) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, orders_page(&c, &st, &f, &errors).await?).into_response())
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ActForm {
    /// add-line, remove-line, order, cancel.
    pub action: String,
    pub model: String,
    pub quantity: String,
    pub unit_cost: String,
    pub line: String,
}

impl ActForm {
    fn action(&self) -> Result<PoAction, StoreError> {
        let n =
            |field: &str, v: &str| v.trim().parse::<i64>().map_err(|_| StoreError::invalid(field, "a whole number"));
        Ok(match self.action.as_str() {
            "add-line" => PoAction::AddLine {
                model: ModelId(n("model", &self.model)?),
                quantity: n("quantity", &self.quantity)?,
                unit_cost_minor: super::parse_cost("unit_cost", &self.unit_cost)?,
            },
            "remove-line" => PoAction::RemoveLine { line: n("line", &self.line)?.max(0) as usize },
            "order" => PoAction::Order,
            "cancel" => PoAction::Cancel,
            _ => return Err(StoreError::invalid("action", "unknown action")),
        })
    }
}

async fn order_page(c: &Caller, st: &AppState, id: i64, f: &ActForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let o = orders::get(&st.db, id).await?;
    let manager = MANAGERS.contains(&c.role);
    let csrf = c.csrf.as_deref().unwrap_or("");
    let draft = o.order.status == "draft";
    let mut t = Table::new("No lines yet.").col("Model").num_col("Ordered").num_col("Received").num_col("Unit cost");
    if manager && draft {
        t = t.col("");
    }
    for l in &o.lines {
        let mut cells = vec![
            html! { (l.model) },
            html! { (l.quantity) },
            html! { (l.received) },
            html! { (cost(l.unit_cost_minor)) },
        ];
        if manager && draft {
            cells.push(ui::form_with_class(
                "inline",
                &format!("/stock/orders/{id}/act"),
                Method::Post,
                csrf,
                html! {
                    input type="hidden" name="action" value="remove-line";
                    input type="hidden" name="line" value=(l.line);
                    button type="submit" { "Remove" }
                },
            ));
        }
        t.push(cells);
    }
    let models: Vec<(String, String)> =
        models::list(&st.db).await?.into_iter().map(|m| (m.id.to_string(), m.label())).collect();
    let model_opts: Vec<(&str, &str)> = models.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let fl = Fields::new("line", errors);
    let button = |action: &str, label: &str| {
        ui::form_with_class(
            "inline",
            &format!("/stock/orders/{id}/act"),
            Method::Post,
            csrf,
            html! {
                input type="hidden" name="action" value=(action);
                button type="submit" { (label) }
            },
        )
    };
    Ok(page(
        c,
        &format!("Purchase order {id}"),
        html! {
            h1 { "Purchase order #" (id) " " (ui::badge(&o.order.status)) }
            (subnav(c.role))
            (ui::kv_list(&[
                ("Supplier", html! { (o.order.supplier) }),
                ("Total", html! { (total(&o)) }),
                ("Created by", html! { (o.order.created_by) " " (mast_text_core::when::fmt_utc(o.order.created_ms)) }),
                ("Note", html! { (o.order.note) }),
            ]))
            (t)
            @if manager && draft {
                h2 { "Add a line" }
                (ui::form(&format!("/stock/orders/{id}/act"), Method::Post, csrf, html! {
                    (fl.summary())
                    input type="hidden" name="action" value="add-line";
                    (fl.select_field("model", "Model", &model_opts, &f.model, FieldOpts::new()))
                    (fl.number_field("quantity", "Quantity", &f.quantity, false, FieldOpts::new().required()))
                    (fl.text_field("unit_cost", "Unit cost", &f.unit_cost, FieldOpts::new().required().placeholder("89.00")))
                    button type="submit" { "Add line" }
                }))
            }
            p.actions {
                @if manager && draft { (button("order", "Mark as ordered")) " " }
                @if matches!(o.order.status.as_str(), "ordered" | "partly-received") {
                    a.button href={ "/stock/receive?order=" (id) } { "Receive goods" } " "
                }
                @if manager && matches!(o.order.status.as_str(), "draft" | "ordered") { (button("cancel", "Cancel order")) }
            }
        },
    ))
}

pub async fn order_get(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    order_page(&c, &st, id, &ActForm::default(), &FormErrors::new()).await
}

pub async fn order_act(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ActForm>,
) -> Result<Response, ApiError> {
    let done = match f.action() {
        Ok(a) => orders::act(&st.db, id, &a).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(o) => {
            audit::record(
                &st.db,
                &c.actor(),
                "stock.order",
                &format!("purchase order {id}"),
                &format!("{} → {}", f.action, o.order.status),
            )
            .await?;
            Ok(Redirect::to(&format!("/stock/orders/{id}")).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, &["model", "quantity", "unit_cost"]) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, order_page(&c, &st, id, &f, &errors).await?).into_response())
        }
    }
}
