//! The movement forms: receive (new units, pieces or spools into a
//! warehouse, against a purchase order or not) and move (any other kind:
//! assign to a technician, install at a customer or site, return, RMA,
//! retire, lost, found). Units are scanned or typed one per line; a batch
//! is recorded whole or not at all, each bad line named next to the field.

use super::{opt_i64, parse_cost, parse_length, subnav};
use crate::network::form_errors;
use crate::pages::page;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mast_stock_core::{ItemClass, Kind};
use mast_store::StoreError;
use mast_store::stock::moves::{self as store, Batch, ItemInput, Target};
use mast_store::stock::{LOST, RETIRED, RMA, locations, models, orders};
use serde::Deserialize;

/// The kinds of the move form, with their button labels (a unit's page
/// links each).
pub const ACTIONS: &[(&str, &str)] = &[
    ("assign-to-technician", "Assign to a technician"),
    ("install", "Install"),
    ("return", "Return"),
    ("move", "Move"),
    ("send-to-rma", "Send to RMA"),
    ("back-from-rma", "Back from RMA"),
    ("retire", "Retire"),
    ("mark-lost", "Mark lost"),
    ("found", "Found"),
];

const MOVE_FIELDS: &[&str] = &[
    "kind",
    "from",
    "to",
    "customer",
    "site",
    "rma_number",
    "codes",
    "model",
    "quantity",
    "spool",
    "length_m",
    "note",
];

/// The move form as typed (kept on an error).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    pub kind: String,
    /// Location id; empty: where the first unit is.
    pub from: String,
    /// Location id (warehouse, vehicle, RMA, retired, lost).
    pub to: String,
    /// Customer id (install at a customer).
    pub customer: String,
    /// Site id (install at a site).
    pub site: String,
    pub rma_number: String,
    /// MACs, serials or `#id`s, one per line.
    pub codes: String,
    /// A consumable model and how many.
    pub model: String,
    pub quantity: String,
    /// A spool (code) and the length cut off it.
    pub spool: String,
    pub length_m: String,
    pub note: String,
}

fn kind_of(s: &str) -> Result<Kind, StoreError> {
    Ok(match s.trim() {
        "move" => Kind::Move,
        "assign-to-technician" => Kind::AssignToTechnician,
        "install" => Kind::Install,
        "return" => Kind::Return,
        "send-to-rma" => Kind::SendToRma { rma_number: String::new() },
        "back-from-rma" => Kind::BackFromRma,
        "retire" => Kind::Retire,
        "mark-lost" => Kind::MarkLost,
        "found" => Kind::Found,
        _ => return Err(StoreError::invalid("kind", "choose what happens")),
    })
}

/// The codes typed or scanned: one per line (commas, tabs and spaces also
/// separate), blanks skipped, duplicates refused by the batch itself.
pub(crate) fn codes(text: &str) -> Vec<&str> {
    text.split(['\n', '\r', ',', '\t', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).collect()
}

impl MoveForm {
    /// The batch, resolving each code to its unit (an unknown code names its line).
    pub async fn batch(&self, st: &AppState, actor: &str) -> Result<Batch, StoreError> {
        let mut kind = kind_of(&self.kind)?;
        if let Kind::SendToRma { rma_number } = &mut kind {
            if self.rma_number.trim().is_empty() {
                return Err(StoreError::invalid("rma_number", "the vendor's RMA number"));
            }
            *rma_number = self.rma_number.trim().to_string();
        }
        let mut items = Vec::new();
        let mut unknown = Vec::new();
        let mut first_at = None;
        for (i, code) in codes(&self.codes).into_iter().enumerate() {
            match store::find_unit(&st.db, code).await? {
                Some(u) => {
                    first_at.get_or_insert(u.location_id);
                    items.push(ItemInput::Unit { unit: u.id });
                }
                None => unknown.push(format!("line {}: no unit has {code:?}", i + 1)),
            }
        }
        if !unknown.is_empty() {
            return Err(StoreError::invalid("codes", unknown.join("; ")));
        }
        if let Some(q) = opt_i64("quantity", &self.quantity)? {
            let model = opt_i64("model", &self.model)?.ok_or_else(|| StoreError::invalid("model", "which model"))?;
            items.push(ItemInput::Quantity { model, quantity: q });
        }
        if let Some(mm) = parse_length("length_m", &self.length_m)? {
            let spool = store::find_unit(&st.db, &self.spool)
                .await?
                .ok_or_else(|| StoreError::invalid("spool", "no spool has this code"))?;
            first_at.get_or_insert(spool.location_id);
            items.push(ItemInput::Cut { spool: spool.id, length_mm: mm });
        }
        let from = match opt_i64("from", &self.from)? {
            Some(f) => Some(f),
            None => first_at,
        };
        let from = from.ok_or_else(|| StoreError::invalid("from", "where the things are now"))?;
        let (customer, site, to) =
            (opt_i64("customer", &self.customer)?, opt_i64("site", &self.site)?, opt_i64("to", &self.to)?);
        let to = match (&kind, customer, site, to) {
            (Kind::Install, Some(c), None, _) => Target::Customer(c),
            (Kind::Install, None, Some(s), _) => Target::Site(s),
            (Kind::Install, Some(_), Some(_), _) => {
                return Err(StoreError::invalid("customer", "install at a customer or at a site, not both"));
            }
            (Kind::Install, None, None, _) => return Err(StoreError::invalid("customer", "which customer (or site)")),
            (Kind::SendToRma { .. }, _, _, None) => Target::Location(RMA),
            (Kind::Retire, _, _, None) => Target::Location(RETIRED),
            (Kind::MarkLost, _, _, None) => Target::Location(LOST),
            (Kind::Move, Some(c), None, None) => Target::Customer(c),
            (Kind::Move, None, Some(s), None) => Target::Site(s),
            (_, _, _, Some(t)) => Target::Location(t),
            (_, _, _, None) => return Err(StoreError::invalid("to", "where they go")),
        };
        Ok(Batch {
            kind,
            from: Some(from),
            to,
            items,
            note: self.note.clone(),
            actor: actor.to_string(),
            automatic: false,
        })
    }
}

/// What the selects offer.
pub(crate) struct Choices {
    pub stores: Vec<(String, String)>,
    pub all: Vec<(String, String)>,
    pub sites: Vec<(String, String)>,
    pub consumables: Vec<(String, String)>,
}

pub(crate) async fn choices(st: &AppState) -> Result<Choices, ApiError> {
    let locs = locations::list(&st.db).await?;
    let label = |l: &locations::LocationRow| match &l.user_email {
        Some(u) => format!("{} ({}, {u})", l.name, l.kind),
        None => format!("{} ({})", l.name, l.kind),
    };
    let stores = locs
        .iter()
        .filter(|l| l.customer_id.is_none() && l.site_id.is_none())
        .map(|l| (l.id.to_string(), label(l)))
        .collect();
    let all = locs.iter().map(|l| (l.id.to_string(), label(l))).collect();
    let sites = crate::monitoring::list_sites(&st.db).await?.into_iter().map(|s| (s.id.to_string(), s.name)).collect();
    let consumables = models::list(&st.db)
        .await?
        .into_iter()
        .filter(|m| m.class == ItemClass::Consumable.as_str())
        .map(|m| (m.id.to_string(), m.label()))
        .collect();
    Ok(Choices { stores, all, sites, consumables })
}

fn options<'a>(none: &'a str, v: &'a [(String, String)]) -> Vec<(&'a str, &'a str)> {
    std::iter::once(("", none)).chain(v.iter().map(|(a, b)| (a.as_str(), b.as_str()))).collect()
}

pub(crate) fn move_form(csrf: &str, ch: &Choices, f: &MoveForm, errors: &FormErrors) -> Markup {
    let fl = Fields::new("move", errors);
    let kinds: Vec<(&str, &str)> = std::iter::once(("", "— choose —")).chain(ACTIONS.iter().copied()).collect();
    html! {
        (ui::form("/stock/move", Method::Post, csrf, html! {
            (fl.summary())
            (fl.select_field("kind", "What happens", &kinds, &f.kind, FieldOpts::new().required()))
            (fl.textarea_field("codes", "Units: scan or type MACs, serials or #ids, one per line", &f.codes,
                FieldOpts::new().mono().scan().hint("A barcode scanner adds one line per scan; on a phone, Scan with camera.")))
            (fl.select_field("from", "From", &options("— where the first unit is —", &ch.all), &f.from, FieldOpts::new()))
            (fl.select_field("to", "To", &options("— customer or site below, or RMA, retired, lost —", &ch.stores), &f.to, FieldOpts::new()))
            (fl.number_field("customer", "Install at customer (id)", &f.customer, false, FieldOpts::new()
                .hint("The customer's number, shown on their page.")))
            (fl.select_field("site", "or at site", &options("—", &ch.sites), &f.site, FieldOpts::new()))
            (fl.text_field("rma_number", "RMA number (send to RMA)", &f.rma_number, FieldOpts::new().max_len(100)))
            details {
                summary { "Consumables and cable" }
                (fl.select_field("model", "Consumable", &options("—", &ch.consumables), &f.model, FieldOpts::new()))
                (fl.number_field("quantity", "How many", &f.quantity, false, FieldOpts::new()))
                (fl.text_field("spool", "Cable spool (code)", &f.spool, FieldOpts::new().mono().max_len(100)))
                (fl.number_field("length_m", "Length cut (m)", &f.length_m, true, FieldOpts::new()))
            }
            (fl.text_field("note", "Note", &f.note, FieldOpts::new().max_len(2000)))
            button type="submit" { "Record" }
        }))
    }
}

async fn move_page(
    c: &Caller,
    st: &AppState,
    f: &MoveForm,
    errors: &FormErrors,
    done: Option<String>,
) -> Result<Markup, ApiError> {
    let ch = choices(st).await?;
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(
        c,
        "Move stock",
        html! {
            h1 { "Move stock" }
            (super::subnav(c.role))
            @if let Some(d) = done { (ui::flash(ui::FlashKind::Success, &d)) }
            (move_form(csrf, &ch, f, errors))
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Done {
    pub done: Option<String>,
}

pub async fn move_get(c: Caller, State(st): State<AppState>, Query(f): Query<MoveForm>) -> Result<Markup, ApiError> {
    move_page(&c, &st, &f, &FormErrors::new(), None).await
}

pub async fn move_post(c: Caller, State(st): State<AppState>, Form(f): Form<MoveForm>) -> Result<Response, ApiError> {
    let recorded = match f.batch(&st, &c.name).await {
        Ok(b) => store::record(&st.db, &b).await.map(|r| (b, r)),
        Err(e) => Err(e),
    };
    match recorded {
        Ok((b, r)) => {
            let what = format!("{} of {} item(s), batch {}", b.kind.as_str(), b.items.len(), r.batch);
            audit::record(&st.db, &c.actor(), "stock.move", &format!("stock location {}", r.to), &what).await?;
            let msg = format!("Recorded: {what}.");
            let body = move_page(
                &c,
                &st,
                &MoveForm { kind: f.kind.clone(), from: f.from.clone(), ..Default::default() },
                &FormErrors::new(),
                Some(msg),
            )
            .await?;
            Ok(body.into_response())
        }
        Err(e) => {
            let e = match e {
                StoreError::Invalid { field, reason } if field == "items" => {
                    StoreError::Invalid { field: "codes".into(), reason }
                }
                e => e,
            };
            let Some(errors) = form_errors(&e, MOVE_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, move_page(&c, &st, &f, &errors, None).await?).into_response())
        }
    }
}

// ------------------------------------------------------------------ receive

const RECEIVE_FIELDS: &[&str] = &["model", "into", "order", "unit_cost", "codes", "quantity", "length_m", "note"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReceiveForm {
    pub model: String,
    pub into: String,
    pub order: String,
    /// Empty: the model's cost.
    pub unit_cost: String,
    /// One unit per line: a MAC, a serial, or both ("MAC serial").
    pub codes: String,
    /// A consumable's pieces.
    pub quantity: String,
    /// A spool's metres (one spool per code line, or one without a code).
    pub length_m: String,
    pub note: String,
}

impl ReceiveForm {
    pub async fn batch(&self, st: &AppState, actor: &str) -> Result<Batch, StoreError> {
        let model_id = opt_i64("model", &self.model)?.ok_or_else(|| StoreError::invalid("model", "which model"))?;
        let model = models::get(&st.db, model_id).await.map_err(|_| StoreError::invalid("model", "no such model"))?;
        let into = opt_i64("into", &self.into)?.ok_or_else(|| StoreError::invalid("into", "which warehouse"))?;
        let order = opt_i64("order", &self.order)?;
        let unit_cost_minor = match (self.unit_cost.trim(), order) {
            ("", Some(o)) => orders::line_cost(&st.db, o, model.id).await?.unwrap_or(model.unit_cost_minor),
            ("", None) => model.unit_cost_minor,
            (v, _) => parse_cost("unit_cost", v)?,
        };
        let kind = Kind::Receive { purchase_order: order, unit_cost_minor };
        let mut items = Vec::new();
        match model.class()? {
            ItemClass::Consumable => {
                let q = opt_i64("quantity", &self.quantity)?
                    .ok_or_else(|| StoreError::invalid("quantity", "how many pieces"))?;
                items.push(ItemInput::Quantity { model: model.id, quantity: q });
            }
            class => {
                let length = parse_length("length_m", &self.length_m)?;
                if class == ItemClass::CutToLength && length.is_none() {
                    return Err(StoreError::invalid("length_m", "each spool's length in metres"));
                }
                for line in self.codes.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    let parts = codes(line);
                    let (mac, serial) = match (parts.as_slice(), model.needs_mac != 0) {
                        ([a, b, ..], _) => (Some(a.to_string()), Some(b.to_string())),
                        ([a], true) => (Some(a.to_string()), None),
                        ([a], false) => match mast_stock_core::Mac::parse(a) {
                            Ok(_) if model.needs_serial == 0 => (Some(a.to_string()), None),
                            _ => (None, Some(a.to_string())),
                        },
                        ([], _) => continue,
                    };
                    items.push(ItemInput::New { model: model.id, mac, serial, length_mm: length });
                }
                if items.is_empty() && class == ItemClass::CutToLength {
                    items.push(ItemInput::New { model: model.id, mac: None, serial: None, length_mm: length });
                }
                if items.is_empty() {
                    return Err(StoreError::invalid("codes", "scan or type each unit's MAC or serial, one per line"));
                }
            }
        }
        Ok(Batch {
            kind,
            from: None,
            to: Target::Location(into),
            items,
            note: self.note.clone(),
            actor: actor.to_string(),
            automatic: false,
        })
    }
}

async fn receive_page(
    c: &Caller,
    st: &AppState,
    f: &ReceiveForm,
    errors: &FormErrors,
    done: Option<String>,
) -> Result<Markup, ApiError> {
    let models: Vec<(String, String)> = models::list(&st.db)
        .await?
        .into_iter()
        .map(|m| (m.id.to_string(), format!("{} ({})", m.label(), m.class)))
        .collect();
    let warehouses: Vec<(String, String)> = locations::stores(&st.db)
        .await?
        .into_iter()
        .filter(|l| l.kind == "warehouse")
        .map(|l| (l.id.to_string(), l.name))
        .collect();
    let open: Vec<(String, String)> = orders::open(&st.db)
        .await?
        .into_iter()
        .map(|o| (o.order.id.to_string(), format!("#{} {} ({})", o.order.id, o.order.supplier, o.order.status)))
        .collect();
    let fl = Fields::new("receive", errors);
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(
        c,
        "Receive stock",
        html! {
            h1 { "Receive stock" }
            (subnav(c.role))
            @if let Some(d) = done { (ui::flash(ui::FlashKind::Success, &d)) }
            @if warehouses.is_empty() { p { "Add a warehouse under " a href="/stock/locations" { "Locations" } " first." } }
            (ui::form("/stock/receive", Method::Post, csrf, html! {
                (fl.summary())
                (fl.select_field("model", "Model", &options("— choose —", &models), &f.model, FieldOpts::new().required()))
                (fl.select_field("into", "Into warehouse", &options("— choose —", &warehouses), &f.into, FieldOpts::new().required()))
                (fl.select_field("order", "Against purchase order", &options("— none —", &open), &f.order, FieldOpts::new()))
                (fl.text_field("unit_cost", "Unit cost (empty: the order line's, else the model's)", &f.unit_cost, FieldOpts::new().placeholder("89.00").max_len(20)))
                (fl.textarea_field("codes", "Units: scan or type each MAC or serial, one per line", &f.codes,
                    FieldOpts::new().mono().scan().hint("For a model with both, put \"MAC serial\" on a line. A barcode scanner adds one line per scan.")))
                (fl.number_field("quantity", "Pieces (consumables)", &f.quantity, false, FieldOpts::new()))
                (fl.number_field("length_m", "Metres per spool (cable)", &f.length_m, true, FieldOpts::new()))
                (fl.text_field("note", "Note", &f.note, FieldOpts::new().max_len(2000)))
                button type="submit" { "Receive" }
            }))
        },
    ))
}

pub async fn receive_get(
    c: Caller,
    State(st): State<AppState>,
    Query(f): Query<ReceiveForm>,
) -> Result<Markup, ApiError> {
    receive_page(&c, &st, &f, &FormErrors::new(), None).await
}

pub async fn receive_post(
    c: Caller,
    State(st): State<AppState>,
    Form(f): Form<ReceiveForm>,
) -> Result<Response, ApiError> {
    let recorded = match f.batch(&st, &c.name).await {
        Ok(b) => store::record(&st.db, &b).await.map(|r| (b, r)),
        Err(e) => Err(e),
    };
    match recorded {
        Ok((b, r)) => {
            let what = format!("{} line(s) received, batch {}", b.items.len(), r.batch);
            audit::record(&st.db, &c.actor(), "stock.receive", &format!("stock location {}", r.to), &what).await?;
            let keep = ReceiveForm {
                model: f.model.clone(),
                into: f.into.clone(),
                order: f.order.clone(),
                ..Default::default()
            };
            Ok(receive_page(&c, &st, &keep, &FormErrors::new(), Some(format!("Received: {what}.")))
                .await?
                .into_response())
        }
        Err(e) => {
            let e = match e {
                StoreError::Invalid { field, reason } if field == "items" => {
                    StoreError::Invalid { field: "codes".into(), reason }
                }
                StoreError::Invalid { field, reason } if field == "purchase_order" => {
                    StoreError::Invalid { field: "order".into(), reason }
                }
                e => e,
            };
            let Some(errors) = form_errors(&e, RECEIVE_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, receive_page(&c, &st, &f, &errors, None).await?).into_response())
        }
    }
}
