//! CSV import of existing stock (dry run with each line's errors; all or
//! nothing) and export of stock and movements.
//!
//! Import columns (header names, any order, case does not matter):
//! `model` (required: "Vendor Name" of a catalogue model), `location` (a
//! warehouse's or vehicle's name, `customer:<id>` or `site:<name>`; empty:
//! the warehouse the import receives into), `mac`, `serial`, `quantity`
//! (consumables), `length_m` (a spool's metres), `unit_cost` (minor units:
//! cents), `note`. Each line is received into the chosen warehouse and, if
//! its location is elsewhere, moved there by the movement the route table
//! allows (assigned to a vehicle, installed at a customer or site), so the
//! log explains every unit. The whole file runs in one transaction: a dry
//! run rolls it back, a real one commits only when no line failed.

use super::moves::{self, Batch, ItemInput, Target};
use super::{locations, models};
use crate::db::Db;
use crate::error::StoreError;
use mast_stock_core::amount::{fmt_m, parse_scaled};
use mast_stock_core::needs::csv_cell;
use mast_stock_core::{ItemClass, Kind, LocationKind};
use serde::Serialize;
use std::collections::HashMap;

/// The most lines one import takes.
pub const MAX_LINES: usize = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Outcome {
    pub lines: usize,
    pub units: usize,
    pub pieces: i64,
    pub errors: Vec<LineError>,
    /// Committed (not a dry run, no error).
    pub applied: bool,
}

enum Place {
    Here,
    Store(i64, LocationKind),
    Customer(i64),
    Site(i64),
}

/// Imports `text` into warehouse `into`; `apply` false is a dry run.
pub async fn import(db: &Db, text: &str, into: i64, actor: &str, apply: bool) -> Result<Outcome, StoreError> {
    let wh = locations::get(db, into).await.map_err(|_| StoreError::invalid("into", "choose a warehouse"))?;
    if wh.kind != "warehouse" {
        return Err(StoreError::invalid("into", "stock is received into a warehouse"));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| StoreError::invalid("file", format!("unreadable header: {e}")))?
        .iter()
        .map(|h| h.to_lowercase())
        .collect();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let Some(model_col) = col("model") else {
        return Err(StoreError::invalid("file", "the header needs a \"model\" column"));
    };
    let cols =
        (col("location"), col("mac"), col("serial"), col("quantity"), col("length_m"), col("unit_cost"), col("note"));
    let catalogue: HashMap<String, models::ModelRow> =
        models::list(db).await?.into_iter().map(|m| (m.label().to_lowercase(), m)).collect();
    let places = locations::list(db).await?;
    let sites: HashMap<String, i64> = sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM sites")
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(|(id, n)| (n.to_lowercase(), id))
        .collect();
    let mut out = Outcome::default();
    let mut tx = db.begin().await?;
    for rec in rdr.records() {
        let (line, rec) = match rec {
            Ok(r) => (r.position().map_or(0, |p| p.line() as usize), r),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.errors.push(LineError { line, reason: format!("unreadable row: {e}") });
                continue;
            }
        };
        if rec.iter().all(str::is_empty) {
            continue;
        }
        out.lines += 1;
        if out.lines > MAX_LINES {
            return Err(StoreError::invalid("file", format!("at most {MAX_LINES} lines in one import")));
        }
        let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").to_string();
        let mut fail = |reason: String| out.errors.push(LineError { line, reason });
        let label = cell(Some(model_col));
        let Some(model) = catalogue.get(&label.to_lowercase()) else {
            fail(format!("model: {label:?} is not in the catalogue (add it first)"));
            continue;
        };
        let Ok(class) = model.class() else {
            fail("model: unreadable class".into());
            continue;
        };
        let loc = cell(cols.0);
        let place = if loc.is_empty() {
            Place::Here
        } else if let Some(c) = loc.strip_prefix("customer:") {
            match c.trim().parse() {
                Ok(c) => Place::Customer(c),
                Err(_) => {
                    fail(format!("location: {loc:?}: customer:<id>"));
                    continue;
                }
            }
        } else if let Some(s) = loc.strip_prefix("site:") {
            match sites.get(&s.trim().to_lowercase()) {
                Some(id) => Place::Site(*id),
                None => {
                    fail(format!("location: no site named {:?}", s.trim()));
                    continue;
                }
            }
        } else {
            match places
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(&loc) && p.customer_id.is_none() && p.site_id.is_none())
            {
                Some(p) if p.kind == "warehouse" || p.kind == "vehicle" => Place::Store(
                    p.id,
                    if p.kind == "vehicle" { LocationKind::Vehicle } else { LocationKind::Warehouse },
                ),
                _ => {
                    fail(format!("location: no warehouse or vehicle named {loc:?}"));
                    continue;
                }
            }
        };
        let num = |name: &str, v: String| -> Result<Option<i64>, String> {
            match v.trim() {
                "" => Ok(None),
                v => v
                    .replace(',', "")
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("{name}: {v:?} is not a whole number")),
            }
        };
        let (quantity, cost) = match (num("quantity", cell(cols.3)), num("unit_cost", cell(cols.5))) {
            (Ok(q), Ok(c)) => (q, c.unwrap_or(model.unit_cost_minor)),
            (Err(e), _) | (_, Err(e)) => {
                fail(e);
                continue;
            }
        };
        let length_mm = match cell(cols.4).trim() {
            "" => None,
            v => match parse_scaled(v, 3) {
                Ok(mm) if mm > 0 && mm < 10_000_000_000 => Some(mm),
                _ => {
                    fail(format!("length_m: {v:?} is not a length in metres"));
                    continue;
                }
            },
        };
        let item = match class {
            ItemClass::Consumable => ItemInput::Quantity { model: model.id, quantity: quantity.unwrap_or(1) },
            _ => ItemInput::New {
                model: model.id,
                mac: Some(cell(cols.1)).filter(|s| !s.is_empty()),
                serial: Some(cell(cols.2)).filter(|s| !s.is_empty()),
                length_mm,
            },
        };
        let note = {
            let n = cell(cols.6);
            if n.is_empty() { "imported".to_string() } else { n }
        };
        let receive = Batch {
            kind: Kind::Receive { purchase_order: None, unit_cost_minor: cost },
            from: None,
            to: Target::Location(into),
            items: vec![item.clone()],
            note: note.clone(),
            actor: actor.to_string(),
            automatic: false,
        };
        let got = match moves::record_tx(&mut tx, &receive).await {
            Ok(r) => r,
            Err(e @ StoreError::Invalid { .. }) => {
                fail(strip(&e));
                continue;
            }
            Err(e) => return Err(e),
        };
        let moved = match &item {
            ItemInput::Quantity { quantity, .. } => ItemInput::Quantity { model: model.id, quantity: *quantity },
            _ => ItemInput::Unit { unit: got.new_units[0] },
        };
        let next = match place {
            Place::Here => None,
            Place::Store(id, LocationKind::Vehicle) => Some((Kind::AssignToTechnician, Target::Location(id))),
            Place::Store(id, _) if id == into => None,
            Place::Store(id, _) => Some((Kind::Move, Target::Location(id))),
            Place::Customer(c) => Some((Kind::Install, Target::Customer(c))),
            Place::Site(s) => Some((Kind::Install, Target::Site(s))),
        };
        if let Some((kind, to)) = next {
            let b = Batch {
                kind,
                from: Some(into),
                to,
                items: vec![moved],
                note,
                actor: actor.to_string(),
                automatic: false,
            };
            match moves::record_tx(&mut tx, &b).await {
                Ok(_) => {}
                Err(e @ StoreError::Invalid { .. }) => {
                    fail(strip(&e));
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        match class {
            ItemClass::Consumable => out.pieces += quantity.unwrap_or(1),
            _ => out.units += 1,
        }
    }
    if out.lines == 0 && out.errors.is_empty() {
        return Err(StoreError::invalid("file", "no lines under the header"));
    }
    if apply && out.errors.is_empty() {
        tx.commit().await?;
        out.applied = true;
    } else {
        tx.rollback().await?;
    }
    Ok(out)
}

/// A movement error without the form's "items: line 1:" prefix.
fn strip(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { field, reason } if field == "items" => {
            reason.strip_prefix("line 1: ").unwrap_or(reason).to_string()
        }
        StoreError::Invalid { field, reason } if !field.is_empty() => format!("{field}: {reason}"),
        e => e.to_string(),
    }
}

fn row(cells: &[String]) -> String {
    let mut line = cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Every unit and every quantity where it is now, in the import's columns
/// (so an export imports again), plus location kind and ids.
pub async fn export_stock(db: &Db) -> Result<String, StoreError> {
    let mut out = row(&[
        "model",
        "location",
        "location_kind",
        "mac",
        "serial",
        "quantity",
        "length_m",
        "unit_cost",
        "unit_id",
        "since",
    ]
    .map(String::from));
    let units: Vec<moves::UnitRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{} ORDER BY u.id", moves::UNIT_COLS))).fetch_all(&db.pool).await?;
    for u in units {
        out.push_str(&row(&[
            u.model.clone(),
            place_name(&u.location_kind, &u.location, u.customer_id),
            u.location_kind.clone(),
            u.mac.clone().unwrap_or_default(),
            u.serial.clone().unwrap_or_default(),
            String::new(),
            u.remaining_mm.map(fmt_m).unwrap_or_default(),
            u.unit_cost_minor.to_string(),
            u.id.to_string(),
            mast_text_core::when::fmt_utc(u.since_ms),
        ]));
    }
    let q: Vec<(String, String, String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT m.vendor || ' ' || m.name, l.kind, COALESCE(c.name, s.name, l.name), l.customer_id, q.quantity \
         FROM stock_quantities q JOIN stock_models m ON m.id = q.model_id JOIN stock_locations l ON l.id = q.location_id \
         LEFT JOIN customers c ON c.id = l.customer_id LEFT JOIN sites s ON s.id = l.site_id ORDER BY 1, 3",
    )
    .fetch_all(&db.pool)
    .await?;
    for (model, kind, name, customer, n) in q {
        out.push_str(&row(&[
            model,
            place_name(&kind, &name, customer),
            kind,
            String::new(),
            String::new(),
            n.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]));
    }
    Ok(out)
}

fn place_name(kind: &str, name: &str, customer: Option<i64>) -> String {
    match (kind, customer) {
        ("customer", Some(c)) => format!("customer:{c}"),
        ("site", _) => format!("site:{name}"),
        _ => name.to_string(),
    }
}

/// The whole movement log, oldest first.
pub async fn export_movements(db: &Db) -> Result<String, StoreError> {
    let mut out = row(&[
        "seq",
        "batch",
        "at",
        "actor",
        "kind",
        "from",
        "to",
        "unit_id",
        "mac",
        "serial",
        "model",
        "quantity",
        "length_m",
        "unit_cost",
        "purchase_order",
        "rma_number",
        "automatic",
        "note",
    ]
    .map(String::from));
    let rows: Vec<moves::MovementRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{} ORDER BY mv.seq", moves::MOVE_COLS)))
            .fetch_all(&db.pool)
            .await?;
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for m in rows {
        out.push_str(&row(&[
            m.seq.to_string(),
            m.batch.to_string(),
            mast_text_core::when::fmt_utc(m.at_ms),
            m.actor,
            m.kind,
            m.from_name.unwrap_or_default(),
            m.to_name,
            opt(m.unit_id),
            m.mac.unwrap_or_default(),
            m.serial.unwrap_or_default(),
            m.model,
            opt(m.quantity),
            m.length_mm.map(fmt_m).unwrap_or_default(),
            opt(m.unit_cost_minor),
            opt(m.purchase_order_id),
            m.rma_number.unwrap_or_default(),
            if m.automatic != 0 { "yes".into() } else { String::new() },
            m.note,
        ]));
    }
    Ok(out)
}
