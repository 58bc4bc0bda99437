//! Equipment inventory pages (`/stock`): the overview with search and the
//! stock per model and location kind, a unit's page with its history, the
//! movement and receive forms with scanning ([`moves`]), the catalogue and
//! locations ([`catalog`]), the reconciliation with the network
//! ([`reconcile`]), the purchase list and orders ([`orders`]), CSV import
//! and export ([`transfer`]), the JSON API ([`api`]), and the equipment
//! sections of the customer, site and device pages. Every change is
//! audited.
//!
//! Scanning: every field that takes MACs or serials is a `textarea` marked
//! `data-scan`: a barcode scanner (a keyboard that types the code and
//! Enter) fills one line per unit; on a phone whose browser has
//! `BarcodeDetector`, `mast.js` adds a "Scan with camera" button that
//! appends each code read; typing works everywhere.

pub mod api;
pub mod catalog;
pub mod moves;
pub mod orders;
pub mod reconcile;
pub mod transfer;

use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::staff::Role;
use crate::ui::{self, Markup, Table, html};
use axum::extract::{Path, Query, State};
use mast_store::stock::moves::{self as store, MovementRow, UnitFilter, UnitRow};
use mast_store::stock::{locations, models};
use mast_text_core::when::{ago, fmt_utc};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Who may record movements, receive and reconcile.
pub const KEEPERS: &[Role] = &[Role::Admin, Role::Support, Role::Technician];
/// Who may change the catalogue, locations, orders and import.
pub const MANAGERS: &[Role] = &[Role::Admin];

/// Units per page on the overview.
const PAGE: i64 = 100;

// `89.00` from minor units; `305 m` or `25.5 m` from millimetres.
pub(crate) use mast_stock_core::amount::{fmt_metres as metres, fmt_minor as cost};

/// An amount typed as `89`, `89.5`, `89.00` or `1,089.00` → minor units.
pub(crate) fn parse_cost(field: &str, v: &str) -> Result<i64, mast_store::StoreError> {
    mast_stock_core::amount::parse_scaled(&v.replace(',', ""), 2)
        .ok()
        .filter(|v| *v <= 100_000_000_000)
        .ok_or_else(|| mast_store::StoreError::invalid(field, "an amount such as 89.00 (not negative)"))
}

/// A length typed in metres (`25`, `25.5`, `25,5`) → millimetres; `None`
/// when empty.
pub(crate) fn parse_length(field: &str, v: &str) -> Result<Option<i64>, mast_store::StoreError> {
    match v.trim() {
        "" => Ok(None),
        v => mast_stock_core::amount::parse_scaled(&v.replace(',', "."), 3)
            .ok()
            .filter(|mm| *mm > 0 && *mm < 10_000_000_000)
            .map(Some)
            .ok_or_else(|| mast_store::StoreError::invalid(field, "a length in metres, such as 25 or 25.5")),
    }
}

/// An optional whole number (an empty field is `None`).
pub(crate) fn opt_i64(field: &str, v: &str) -> Result<Option<i64>, mast_store::StoreError> {
    match v.trim() {
        "" => Ok(None),
        v => v.parse::<i64>().map(Some).map_err(|_| mast_store::StoreError::invalid(field, "a whole number")),
    }
}

/// The link to a location: a customer's or site's own page, else the
/// location's.
pub(crate) fn location_link(kind: &str, id: i64, name: &str, customer: Option<i64>, site: Option<i64>) -> Markup {
    let href = match (customer, site) {
        (Some(c), _) => format!("/customers/{c}"),
        (_, Some(s)) => format!("/sites/{s}"),
        _ => format!("/stock/locations/{id}"),
    };
    html! { span.muted { (kind) } " " a href=(href) { (name) } }
}

pub(crate) fn unit_link(u: &UnitRow) -> Markup {
    let label = u.mac.clone().or_else(|| u.serial.clone()).unwrap_or_else(|| format!("#{}", u.id));
    html! { a.mono href={ "/stock/units/" (u.id) } { (label) } }
}

/// The section links every stock page starts with.
pub(crate) fn subnav(role: Role) -> Markup {
    let keeper = KEEPERS.contains(&role);
    let manager = MANAGERS.contains(&role);
    html! {
        nav.subnav aria-label="Inventory" {
            a href="/stock" { "Stock" } " · "
            @if keeper {
                a href="/stock/receive" { "Receive" } " · "
                a href="/stock/move" { "Move" } " · "
            }
            a href="/stock/reconcile" { "Reconcile" } " · "
            a href="/stock/needs" { "Purchase list" } " · "
            a href="/stock/orders" { "Orders" } " · "
            a href="/stock/models" { "Models" } " · "
            a href="/stock/locations" { "Locations" } " · "
            a href="/stock/movements" { "Movements" }
            @if manager { " · " a href="/stock/import" { "Import" } }
            " · " a href="/stock/export.csv" { "Export CSV" }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OverviewQ {
    pub q: String,
    pub kind: String,
    pub model: String,
    pub location: String,
    pub offset: i64,
}

pub async fn overview(c: Caller, State(st): State<AppState>, Query(q): Query<OverviewQ>) -> Result<Markup, ApiError> {
    let filter = UnitFilter {
        model: q.model.trim().parse().ok(),
        location: q.location.trim().parse().ok(),
        kind: Some(q.kind.trim().to_string()).filter(|k| !k.is_empty()),
        q: Some(q.q.trim().to_string()).filter(|k| !k.is_empty()),
    };
    let offset = q.offset.max(0);
    let (units, total) = store::units(&st.db, &filter, PAGE, offset).await?;
    let summary = store::summary(&st.db).await?;
    let models = models::list(&st.db).await?;
    Ok(page(&c, "Stock", render_overview(c.role, &q, &units, total, offset, &summary, &models)))
}

pub(crate) fn render_overview(
    role: Role,
    q: &OverviewQ,
    units: &[UnitRow],
    total: i64,
    offset: i64,
    summary: &[store::SummaryRow],
    models: &[models::ModelRow],
) -> Markup {
    // Per model: units or pieces (metres for cable) per location kind.
    const KINDS: [&str; 6] = ["warehouse", "vehicle", "site", "customer", "rma", "lost"];
    let mut by_model: BTreeMap<i64, BTreeMap<&str, String>> = BTreeMap::new();
    for s in summary {
        let Some(m) = models.iter().find(|m| m.id == s.model_id) else { continue };
        let v = match m.class.as_str() {
            "consumable" => s.quantity.to_string(),
            "cut-to-length" => metres(s.length_mm),
            _ => s.units.to_string(),
        };
        if let Some(k) = KINDS.iter().find(|k| **k == s.kind) {
            by_model.entry(s.model_id).or_default().insert(k, v);
        }
    }
    let mut t = Table::new("No models in the catalogue yet: add one under Models.").col("Model").col("Class");
    for k in ["In warehouses", "In vehicles", "At sites", "At customers", "At RMA", "Lost"] {
        t = t.num_col(k);
    }
    for m in models {
        let row = by_model.get(&m.id);
        let cell = |k: &str| row.and_then(|r| r.get(k)).cloned().unwrap_or_else(|| "0".into());
        let stocked: i64 = summary
            .iter()
            .filter(|s| s.model_id == m.id && s.kind == "warehouse")
            .map(|s| s.units + s.quantity + s.length_mm / 1000)
            .sum();
        let low = m.reorder_threshold.is_some_and(|t| stocked < t);
        let mut cells = vec![
            html! { a href={ "/stock/models/" (m.id) } { (m.label()) } @if low { " " (ui::tone_badge(ui::Tone::Degraded, "below threshold")) } },
            html! { (m.class) },
        ];
        cells.extend(KINDS.iter().map(|k| html! { (cell(k)) }));
        t.push(cells);
    }
    let mut list =
        Table::new("No units match.").col("Unit").col("Model").col("Serial").col("Where").col("Since").num_col("Cost");
    for u in units {
        list.push(vec![
            unit_link(u),
            html! { (u.model) },
            html! { span.mono { (u.serial.as_deref().unwrap_or("")) } },
            location_link(&u.location_kind, u.location_id, &u.location, u.customer_id, u.site_id),
            html! { (fmt_utc(u.since_ms)) },
            html! { (cost(u.unit_cost_minor)) @if let Some(r) = u.remaining_mm { br; span.muted { (metres(r)) " left" } } },
        ]);
    }
    let kinds: Vec<(&str, &str)> = std::iter::once(("", "anywhere"))
        .chain(mast_stock_core::LocationKind::ALL.iter().map(|k| (k.as_str(), k.as_str())))
        .collect();
    let pairs = [
        ("q", q.q.as_str()),
        ("kind", q.kind.as_str()),
        ("model", q.model.as_str()),
        ("location", q.location.as_str()),
    ];
    html! {
        h1 { "Stock" }
        (subnav(role))
        h2 { "By model" }
        (t)
        h2 { "Units" }
        form.inline.search method="get" action="/stock" role="search" {
            label for="stock-q" { "MAC, serial or model" }
            input id="stock-q" type="search" name="q" value=(q.q) data-scan="one" autocomplete="off" spellcheck="false"
                placeholder="scan or type";
            label for="stock-kind" { "where" }
            select id="stock-kind" name="kind" {
                @for (v, l) in &kinds { option value=(v) selected[*v == q.kind] { (l) } }
            }
            @if !q.model.is_empty() { input type="hidden" name="model" value=(q.model); }
            @if !q.location.is_empty() { input type="hidden" name="location" value=(q.location); }
            button type="submit" { "Find" }
        }
        (list)
        (ui::pager("/stock", &pairs, offset, PAGE, units.len(), Some(total)))
    }
}

pub async fn unit_page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let u = store::unit(&st.db, id).await?;
    let history = store::history(&st.db, id).await?;
    let device = match &u.mac {
        Some(mac) => crate::monitoring::device_by_mac(&st.db, mac).await?,
        None => None,
    };
    let title = format!("{} {}", u.model, u.mac.as_deref().or(u.serial.as_deref()).unwrap_or(""));
    Ok(page(&c, &title, render_unit(c.role, &u, &history, device.map(|d| (d.id, d.label().to_string())))))
}

pub(crate) fn render_unit(role: Role, u: &UnitRow, history: &[MovementRow], device: Option<(i64, String)>) -> Markup {
    let code = u.mac.clone().or_else(|| u.serial.clone()).unwrap_or_else(|| format!("#{}", u.id));
    let mut facts = vec![
        ("Model", html! { a href={ "/stock/models/" (u.model_id) } { (u.model) } }),
        ("MAC", html! { span.mono { (u.mac.as_deref().unwrap_or("—")) } }),
        ("Serial", html! { span.mono { (u.serial.as_deref().unwrap_or("—")) } }),
        ("Where", location_link(&u.location_kind, u.location_id, &u.location, u.customer_id, u.site_id)),
        ("Since", html! { (fmt_utc(u.since_ms)) }),
        ("Received", html! { (fmt_utc(u.received_ms)) }),
        ("Unit cost", html! { (cost(u.unit_cost_minor)) }),
    ];
    if let Some(po) = u.purchase_order_id {
        facts.push(("Purchase order", html! { a href={ "/stock/orders/" (po) } { "#" (po) } }));
    }
    if let Some(end) = u.warranty_end_ms() {
        facts.push(("Warranty until", html! { (fmt_utc(end)) }));
    }
    if let Some(r) = u.remaining_mm {
        facts.push(("Left on the spool", html! { (metres(r)) }));
    }
    if let Some((id, label)) = &device {
        facts.push(("On the network", html! { a href={ "/devices/" (id) } { (label) } }));
    }
    html! {
        h1 { (u.model) " " span.mono { (code) } }
        (subnav(role))
        (ui::kv_list(&facts))
        @if KEEPERS.contains(&role) {
            p.actions {
                @for (kind, label) in moves::ACTIONS {
                    a.button href={ "/stock/move?kind=" (kind) "&from=" (u.location_id) "&codes=" (urlencode(&code)) } { (label) } " "
                }
            }
        }
        h2 { "History" }
        (movement_table(history, false))
    }
}

/// A query-string value (a scanned code in a link).
pub(crate) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The log as a table (`with_item`: a column naming what moved).
pub(crate) fn movement_table(rows: &[MovementRow], with_item: bool) -> Markup {
    let mut t = Table::new("No movements.").num_col("#").col("When").col("What").col("From").col("To");
    if with_item {
        t = t.col("Item");
    }
    t = t.col("By").col("Note");
    for m in rows {
        let what = html! {
            (m.kind)
            @if m.automatic != 0 { " " (ui::tone_badge(ui::Tone::Neutral, "automatic")) }
            @if let Some(r) = &m.rma_number { br; span.muted { "RMA " (r) } }
            @if let Some(c) = m.unit_cost_minor { br; span.muted { "at " (cost(c)) } }
        };
        let mut cells = vec![
            html! { (m.seq) },
            html! { (fmt_utc(m.at_ms)) },
            what,
            html! { (m.from_name.as_deref().unwrap_or("—")) },
            html! { (m.to_name) },
        ];
        if with_item {
            cells.push(html! {
                @if let Some(u) = m.unit_id {
                    a href={ "/stock/units/" (u) } { (m.mac.as_deref().or(m.serial.as_deref()).unwrap_or("unit")) }
                    " " span.muted { (m.model) }
                    @if let Some(l) = m.length_mm { " " (metres(l)) }
                } @else {
                    (m.quantity.unwrap_or(0)) " × " (m.model)
                }
            });
        }
        cells.push(html! { (m.actor) });
        cells.push(html! { (m.note) });
        t.push(cells);
    }
    html! { (t) }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogQ {
    pub location: Option<i64>,
    pub offset: i64,
}

pub async fn movements_page(c: Caller, State(st): State<AppState>, Query(q): Query<LogQ>) -> Result<Markup, ApiError> {
    let offset = q.offset.max(0);
    let (rows, total) = store::movements(&st.db, q.location, PAGE, offset).await?;
    let loc = q.location.map(|l| l.to_string()).unwrap_or_default();
    Ok(page(
        &c,
        "Movements",
        html! {
            h1 { "Movements" }
            (subnav(c.role))
            p { "The append-only log: every receive, move, install, return, RMA, retirement and loss, with who made it. "
                a href="/stock/movements.csv" { "Download it as CSV" } "." }
            (movement_table(&rows, true))
            (ui::pager("/stock/movements", &[("location", loc.as_str())], offset, PAGE, rows.len(), Some(total)))
        },
    ))
}

/// The equipment installed at a customer or a site (their pages' section).
pub async fn installed_section(st: &AppState, customer: Option<i64>, site: Option<i64>) -> Result<Markup, ApiError> {
    let Some(loc) = locations::existing(&st.db, customer, site).await? else { return Ok(Markup::default()) };
    let units = store::units_at(&st.db, loc).await?;
    let amounts = store::amounts_at(&st.db, loc).await?;
    Ok(render_installed(&units, &amounts, crate::db::now_ms()))
}

pub(crate) fn render_installed(units: &[UnitRow], amounts: &[store::Amount], now: i64) -> Markup {
    if units.is_empty() && amounts.is_empty() {
        return Markup::default();
    }
    let mut t = Table::new("Nothing installed.").col("Unit").col("Model").col("Installed").col("Warranty until");
    for u in units {
        t.push(vec![
            unit_link(u),
            html! { (u.model) },
            html! { (ago(now, Some(u.since_ms))) },
            html! { (u.warranty_end_ms().map(fmt_utc).unwrap_or_else(|| "—".into())) },
        ]);
    }
    html! {
        h2 { "Equipment installed" }
        (t)
        @if !amounts.is_empty() {
            ul {
                @for a in amounts {
                    li { (a.model) ": " @if a.length_mm > 0 { (metres(a.length_mm)) } @else { (a.quantity) } }
                }
            }
        }
    }
}

/// The item record behind a device's MAC (the device page's section).
pub async fn device_section(st: &AppState, mac: Option<&str>) -> Result<Markup, ApiError> {
    let Some(mac) = mac else { return Ok(Markup::default()) };
    let Some(u) = store::unit_by_mac(&st.db, mac).await? else { return Ok(Markup::default()) };
    Ok(render_device_item(&u))
}

pub(crate) fn render_device_item(u: &UnitRow) -> Markup {
    html! {
        h2 { "Stock record" }
        (ui::kv_list(&[
            ("Unit", unit_link(u)),
            ("Model", html! { (u.model) }),
            ("Serial", html! { span.mono { (u.serial.as_deref().unwrap_or("—")) } }),
            ("Recorded at", location_link(&u.location_kind, u.location_id, &u.location, u.customer_id, u.site_id)),
            ("Purchased", html! { (fmt_utc(u.received_ms)) @if let Some(po) = u.purchase_order_id { " (order #" (po) ")" } }),
            ("Cost", html! { (cost(u.unit_cost_minor)) }),
            ("Warranty until", html! { (u.warranty_end_ms().map(fmt_utc).unwrap_or_else(|| "—".into())) }),
        ]))
    }
}

#[cfg(test)]
mod tests;
