//! The catalogue (models) and the locations (warehouses, vehicles), with
//! their forms; a location's page lists what it holds and its movements.

use super::{MANAGERS, cost, metres, opt_i64, parse_cost, subnav, unit_link};
use crate::network::form_errors;
use crate::pages::page;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_stock_core::{ItemClass, LocationKind};
use mast_store::StoreError;
use mast_store::stock::moves as store;
use mast_store::stock::{ModelInput, ModelRow, locations, models};
use serde::Deserialize;
use std::collections::BTreeMap;

const MODEL_FIELDS: &[&str] = &[
    "vendor",
    "name",
    "kind",
    "class",
    "needs_mac",
    "needs_serial",
    "reorder_threshold",
    "target_warehouse",
    "target_vehicle",
    "unit_cost",
    "supplier",
    "warranty_months",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ModelForm {
    pub vendor: String,
    pub name: String,
    pub kind: String,
    pub class: String,
    pub needs_mac: Option<String>,
    pub needs_serial: Option<String>,
    pub reorder_threshold: String,
    pub target_warehouse: String,
    pub target_vehicle: String,
    pub unit_cost: String,
    pub supplier: String,
    pub warranty_months: String,
}

impl ModelForm {
    pub fn input(&self) -> Result<ModelInput, StoreError> {
        let mut targets = BTreeMap::new();
        for (k, field, v) in [
            (LocationKind::Warehouse, "target_warehouse", &self.target_warehouse),
            (LocationKind::Vehicle, "target_vehicle", &self.target_vehicle),
        ] {
            if let Some(n) = opt_i64(field, v)? {
                if n < 0 {
                    return Err(StoreError::invalid(field, "must not be negative"));
                }
                targets.insert(k, n);
            }
        }
        Ok(ModelInput {
            vendor: self.vendor.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            class: self.class.clone(),
            needs_mac: self.needs_mac.is_some(),
            needs_serial: self.needs_serial.is_some(),
            reorder_threshold: opt_i64("reorder_threshold", &self.reorder_threshold)?,
            targets,
            unit_cost_minor: match self.unit_cost.trim() {
                "" => 0,
                v => parse_cost("unit_cost", v)?,
            },
            supplier: Some(self.supplier.clone()),
            warranty_months: opt_i64("warranty_months", &self.warranty_months)?,
        })
    }

    fn of(m: &ModelRow) -> ModelForm {
        let t = m.targets().unwrap_or_default();
        let s = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        ModelForm {
            vendor: m.vendor.clone(),
            name: m.name.clone(),
            kind: m.kind.clone(),
            class: m.class.clone(),
            needs_mac: (m.needs_mac != 0).then(|| "on".into()),
            needs_serial: (m.needs_serial != 0).then(|| "on".into()),
            reorder_threshold: s(m.reorder_threshold),
            target_warehouse: s(t.get(&LocationKind::Warehouse).copied()),
            target_vehicle: s(t.get(&LocationKind::Vehicle).copied()),
            unit_cost: cost(m.unit_cost_minor),
            supplier: m.supplier.clone().unwrap_or_default(),
            warranty_months: s(m.warranty_months),
        }
    }
}

pub(crate) fn model_form(action: &str, csrf: &str, f: &ModelForm, errors: &FormErrors, button: &str) -> Markup {
    let fl = Fields::new("model", errors);
    let classes: Vec<(&str, &str)> = vec![
        ("trackable", "Trackable: each unit by MAC and/or serial"),
        ("consumable", "Consumable: counted in pieces"),
        ("cut-to-length", "Cut to length: cable spools, in metres"),
    ];
    let class = if f.class.is_empty() { ItemClass::Trackable.as_str() } else { f.class.as_str() };
    ui::form(
        action,
        Method::Post,
        csrf,
        html! {
            (fl.summary())
            (fl.text_field("vendor", "Vendor", &f.vendor, FieldOpts::new().required().max_len(100)))
            (fl.text_field("name", "Model", &f.name, FieldOpts::new().required().max_len(200)))
            (fl.text_field("kind", "Kind", &f.kind, FieldOpts::new().required().max_len(60).placeholder("radio, router, cable, connector")))
            (fl.select_field("class", "Counted as", &classes, class, FieldOpts::new()))
            (fl.checkbox_field("needs_mac", "Each unit has a MAC", f.needs_mac.is_some(), FieldOpts::new()))
            (fl.checkbox_field("needs_serial", "Each unit has a serial number", f.needs_serial.is_some(), FieldOpts::new()))
            (fl.number_field("reorder_threshold", "Reorder below (in warehouses)", &f.reorder_threshold, false, FieldOpts::new()
                .hint("Units, pieces, or metres for cable.")))
            (fl.number_field("target_warehouse", "Keep per warehouse", &f.target_warehouse, false, FieldOpts::new()))
            (fl.number_field("target_vehicle", "Keep per vehicle", &f.target_vehicle, false, FieldOpts::new()))
            (fl.text_field("unit_cost", "Unit cost (per unit, piece or metre)", &f.unit_cost, FieldOpts::new().placeholder("89.00").max_len(20)))
            (fl.text_field("supplier", "Supplier", &f.supplier, FieldOpts::new().max_len(200)))
            (fl.number_field("warranty_months", "Warranty (months)", &f.warranty_months, false, FieldOpts::new()))
            button type="submit" { (button) }
        },
    )
}

async fn models_page(c: &Caller, st: &AppState, f: &ModelForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let list = models::list(&st.db).await?;
    let mut t = Table::new("No models yet.")
        .col("Model")
        .col("Kind")
        .col("Counted as")
        .col("Identified by")
        .num_col("Cost")
        .num_col("Reorder below");
    for m in &list {
        let ids = match (m.needs_mac != 0, m.needs_serial != 0) {
            (true, true) => "MAC and serial",
            (true, false) => "MAC",
            (false, true) => "serial",
            _ => "—",
        };
        t.push(vec![
            html! { a href={ "/stock/models/" (m.id) } { (m.label()) } },
            html! { (m.kind) },
            html! { (m.class) },
            html! { (ids) },
            html! { (cost(m.unit_cost_minor)) },
            html! { (m.reorder_threshold.map(|t| t.to_string()).unwrap_or_default()) },
        ]);
    }
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(
        c,
        "Stock models",
        html! {
            h1 { "Models" }
            (subnav(c.role))
            (t)
            @if MANAGERS.contains(&c.role) {
                h2 { "Add a model" }
                (model_form("/stock/models", csrf, f, errors, "Add"))
            }
        },
    ))
}

pub async fn models_get(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    models_page(&c, &st, &ModelForm::default(), &FormErrors::new()).await
}

pub async fn models_post(
    c: Caller,
    State(st): State<AppState>,
    Form(f): Form<ModelForm>,
) -> Result<Response, ApiError> {
    let saved = match f.input() {
        Ok(i) => models::add(&st.db, &i).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(m) => {
            audit::record(&st.db, &c.actor(), "stock.model.add", &format!("stock model {}", m.id), &m.label()).await?;
            Ok(Redirect::to("/stock/models").into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, MODEL_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, models_page(&c, &st, &f, &errors).await?).into_response())
        }
    }
}

async fn model_page(
    c: &Caller,
    st: &AppState,
    m: &ModelRow,
    f: &ModelForm,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let (units, total) =
        store::units(&st.db, &store::UnitFilter { model: Some(m.id), ..Default::default() }, 50, 0).await?;
    let mut t = Table::new("No units of this model.").col("Unit").col("Where");
    for u in &units {
        t.push(vec![
            unit_link(u),
            super::location_link(&u.location_kind, u.location_id, &u.location, u.customer_id, u.site_id),
        ]);
    }
    Ok(page(
        c,
        &m.label(),
        html! {
            h1 { (m.label()) }
            (subnav(c.role))
            @if MANAGERS.contains(&c.role) { (model_form(&format!("/stock/models/{}", m.id), csrf, f, errors, "Save")) }
            h2 { "Units (" (total) ")" }
            (t)
            @if total > 50 { p { a href={ "/stock?model=" (m.id) } { "All " (total) " units" } } }
        },
    ))
}

pub async fn model_get(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let m = models::get(&st.db, id).await?;
    model_page(&c, &st, &m, &ModelForm::of(&m), &FormErrors::new()).await
}

pub async fn model_post(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ModelForm>,
) -> Result<Response, ApiError> {
    let m = models::get(&st.db, id).await?;
    let saved = match f.input() {
        Ok(i) => models::update(&st.db, id, &i).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(m) => {
            audit::record(&st.db, &c.actor(), "stock.model.update", &format!("stock model {id}"), &m.label()).await?;
            Ok(Redirect::to(&format!("/stock/models/{id}")).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, MODEL_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, model_page(&c, &st, &m, &f, &errors).await?).into_response())
        }
    }
}

// ---------------------------------------------------------------- locations

const LOCATION_FIELDS: &[&str] = &["kind", "name", "user"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LocationForm {
    pub kind: String,
    pub name: String,
    /// The technician's user id (vehicles).
    pub user: String,
}

async fn locations_page(
    c: &Caller,
    st: &AppState,
    f: &LocationForm,
    errors: &FormErrors,
    flash: Option<&str>,
) -> Result<Markup, ApiError> {
    let list = locations::list(&st.db).await?;
    let manager = MANAGERS.contains(&c.role);
    let csrf = c.csrf.as_deref().unwrap_or("");
    let mut t = Table::new("No locations.").col("Location").col("Kind").col("Technician").num_col("Holds");
    if manager {
        t = t.col("");
    }
    for l in list.iter().filter(|l| l.customer_id.is_none() && l.site_id.is_none()) {
        let holds = locations::holds(&st.db, l.id).await?;
        let mut cells = vec![
            html! { a href={ "/stock/locations/" (l.id) } { (l.name) } },
            html! { (l.kind) },
            html! { (l.user_email.as_deref().unwrap_or("")) },
            html! { (holds) },
        ];
        if manager {
            cells.push(if matches!(l.kind.as_str(), "warehouse" | "vehicle") {
                ui::form_with_class(
                    "inline",
                    &format!("/stock/locations/{}/delete", l.id),
                    Method::Post,
                    csrf,
                    html! {
                        button type="submit" { "Delete" }
                    },
                )
            } else {
                html! {}
            });
        }
        t.push(cells);
    }
    let users: Vec<(String, String)> = crate::staff::list_users(&st.db)
        .await?
        .into_iter()
        .filter(|u| !u.disabled)
        .map(|u| (u.id.to_string(), u.email))
        .collect();
    let user_opts: Vec<(&str, &str)> =
        std::iter::once(("", "—")).chain(users.iter().map(|(a, b)| (a.as_str(), b.as_str()))).collect();
    let fl = Fields::new("location", errors);
    let kind = if f.kind.is_empty() { "warehouse" } else { f.kind.as_str() };
    Ok(page(
        c,
        "Stock locations",
        html! {
            h1 { "Locations" }
            (subnav(c.role))
            @if let Some(m) = flash { (ui::flash(ui::FlashKind::Error, m)) }
            p { "Sites and customers get their location the first time something is installed there." }
            (t)
            @if manager {
                h2 { "Add a warehouse or a vehicle" }
                (ui::form("/stock/locations", Method::Post, csrf, html! {
                    (fl.summary())
                    (fl.select_field("kind", "Kind", &[("warehouse", "Warehouse"), ("vehicle", "Technician's vehicle")], kind, FieldOpts::new()))
                    (fl.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(100)))
                    (fl.select_field("user", "Technician (vehicles)", &user_opts, &f.user, FieldOpts::new()))
                    button type="submit" { "Add" }
                }))
            }
        },
    ))
}

pub async fn locations_get(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    locations_page(&c, &st, &LocationForm::default(), &FormErrors::new(), None).await
}

pub async fn locations_post(
    c: Caller,
    State(st): State<AppState>,
    Form(f): Form<LocationForm>,
) -> Result<Response, ApiError> {
    let kind = LocationKind::parse(f.kind.trim()).ok_or_else(|| StoreError::invalid("kind", "warehouse or vehicle"));
    let user = opt_i64("user", &f.user);
    let saved = match (kind, user) {
        (Ok(k), Ok(u)) => locations::add(&st.db, k, &f.name, u).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match saved {
        Ok(l) => {
            audit::record(&st.db, &c.actor(), "stock.location.add", &format!("stock location {}", l.id), &l.name)
                .await?;
            Ok(Redirect::to("/stock/locations").into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, LOCATION_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, locations_page(&c, &st, &f, &errors, None).await?).into_response())
        }
    }
}

pub async fn location_delete(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    match locations::delete(&st.db, id).await {
        Ok(()) => {
            audit::record(&st.db, &c.actor(), "stock.location.delete", &format!("stock location {id}"), "").await?;
            Ok(Redirect::to("/stock/locations").into_response())
        }
        Err(StoreError::Conflict(m)) => Ok((
            StatusCode::CONFLICT,
            locations_page(&c, &st, &LocationForm::default(), &FormErrors::new(), Some(&m)).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn location_get(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let l = locations::get(&st.db, id).await?;
    let units = store::units_at(&st.db, id).await?;
    let amounts = store::amounts_at(&st.db, id).await?;
    let (log, _) = store::movements(&st.db, Some(id), 50, 0).await?;
    let mut t = Table::new("No units here.").col("Unit").col("Model").col("Since");
    for u in &units {
        t.push(vec![
            unit_link(u),
            html! { (u.model) @if let Some(r) = u.remaining_mm { " (" (metres(r)) " left)" } },
            html! { (mast_text_core::when::fmt_utc(u.since_ms)) },
        ]);
    }
    Ok(page(
        &c,
        &l.name,
        html! {
            h1 { (l.name) " " span.muted { (l.kind) } }
            (subnav(c.role))
            @if let Some(u) = &l.user_email { p { "Technician: " (u) } }
            h2 { "Units (" (units.len()) ")" }
            (t)
            @if !amounts.is_empty() {
                h2 { "Consumables and cable" }
                ul { @for a in &amounts { li { (a.model) ": " @if a.length_mm > 0 { (metres(a.length_mm)) } @else { (a.quantity) } } } }
            }
            h2 { "Latest movements" }
            (super::movement_table(&log, true))
            p { a href={ "/stock/movements?location=" (id) } { "All movements here" } }
        },
    ))
}
