//! The movement log (`stock_movements`, append-only) and the state it
//! derives (`stock_units`, `stock_quantities`, `stock_cuts`).
//!
//! [`record`] appends a batch (one form, several scanned units) in one
//! transaction: it takes the batch's sequence numbers from `stock_log_head`
//! first (which also orders concurrent batches: the row stays locked until
//! commit), loads the part of the state the batch touches (the units it
//! names, those holding the MACs and serials it receives, the quantities at
//! its `from`), lets `mast_stock_core::State` check and apply every
//! movement on that part, and writes back what changed. Any refused
//! movement refuses the whole batch, naming each line that failed.

use super::{core_location, locations};
use crate::db::{Db, Tx, now_ms};
use crate::error::StoreError;
use mast_stock_core::movement::check_model;
use mast_stock_core::state::Unit;
use mast_stock_core::{Item, Kind, Location, Mac, Model, ModelId, Movement, NewUnit, Serial, State, UnitId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What one line of a batch moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum ItemInput {
    /// A unit or spool being received.
    New {
        model: i64,
        mac: Option<String>,
        serial: Option<String>,
        length_mm: Option<i64>,
    },
    /// An existing unit or a whole spool, by id.
    Unit {
        unit: i64,
    },
    Quantity {
        model: i64,
        quantity: i64,
    },
    /// A length cut off a spool.
    Cut {
        spool: i64,
        length_mm: i64,
    },
}

/// Where a batch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "id")]
pub enum Target {
    Location(i64),
    /// Installed at a customer's premises.
    Customer(i64),
    /// Installed at a tower site.
    Site(i64),
}

/// Movements of one kind from one place to another, recorded together.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub kind: Kind,
    /// A location id; `None` only for a receive.
    pub from: Option<i64>,
    pub to: Target,
    pub items: Vec<ItemInput>,
    #[serde(default)]
    pub note: String,
    #[serde(skip)]
    pub actor: String,
    #[serde(skip)]
    pub automatic: bool,
}

/// What a recorded batch made.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// The batch's first sequence number.
    pub batch: i64,
    pub seqs: Vec<i64>,
    /// The units received (a unit's id is its receive's sequence number).
    pub new_units: Vec<i64>,
    pub to: i64,
}

/// A unit as the pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UnitRow {
    pub id: i64,
    pub model_id: i64,
    pub model: String,
    pub class: String,
    pub mac: Option<String>,
    pub serial: Option<String>,
    pub location_id: i64,
    pub location_kind: String,
    pub location: String,
    pub customer_id: Option<i64>,
    pub site_id: Option<i64>,
    pub since_ms: i64,
    pub remaining_mm: Option<i64>,
    pub unit_cost_minor: i64,
    pub purchase_order_id: Option<i64>,
    pub received_ms: i64,
    pub warranty_months: Option<i64>,
}

impl UnitRow {
    /// The warranty's end: received + the model's warranty months (of
    /// 30.44 days).
    pub fn warranty_end_ms(&self) -> Option<i64> {
        self.warranty_months.map(|m| self.received_ms + m * 2_629_746_000)
    }

    fn core(&self) -> Result<Unit, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("stock unit {}: {what}", self.id));
        Ok(Unit {
            id: UnitId(self.id),
            model: ModelId(self.model_id),
            mac: self.mac.as_deref().map(Mac::parse).transpose().map_err(|_| corrupt("MAC"))?,
            serial: self.serial.as_deref().map(Serial::parse).transpose().map_err(|_| corrupt("serial"))?,
            at: core_location(&self.location_kind, self.location_id)?,
            remaining_mm: self.remaining_mm,
            unit_cost_minor: self.unit_cost_minor,
            purchase_order: self.purchase_order_id,
        })
    }
}

pub(crate) const UNIT_COLS: &str = "SELECT u.id, u.model_id, m.vendor || ' ' || m.name AS model, m.class, u.mac, \
     u.serial, u.location_id, l.kind AS location_kind, COALESCE(c.name, s.name, l.name) AS location, \
     l.customer_id, l.site_id, u.since_ms, u.remaining_mm, u.unit_cost_minor, u.purchase_order_id, u.received_ms, \
     m.warranty_months \
     FROM stock_units u JOIN stock_models m ON m.id = u.model_id JOIN stock_locations l ON l.id = u.location_id \
     LEFT JOIN customers c ON c.id = l.customer_id LEFT JOIN sites s ON s.id = l.site_id";

/// A movement as the pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MovementRow {
    pub seq: i64,
    pub batch: i64,
    pub at_ms: i64,
    pub actor: String,
    pub kind: String,
    pub from_location_id: Option<i64>,
    pub from_name: Option<String>,
    pub to_location_id: i64,
    pub to_name: String,
    pub unit_id: Option<i64>,
    pub mac: Option<String>,
    pub serial: Option<String>,
    pub model_id: i64,
    pub model: String,
    pub quantity: Option<i64>,
    pub length_mm: Option<i64>,
    pub unit_cost_minor: Option<i64>,
    pub purchase_order_id: Option<i64>,
    pub rma_number: Option<String>,
    pub note: String,
    pub automatic: i64,
}

pub(crate) const MOVE_COLS: &str = "SELECT mv.seq, mv.batch, mv.at_ms, mv.actor, mv.kind, mv.from_location_id, \
     COALESCE(fc.name, fs.name, f.name) AS from_name, mv.to_location_id, COALESCE(tc.name, ts.name, t.name) AS to_name, \
     mv.unit_id, u.mac, u.serial, mv.model_id, m.vendor || ' ' || m.name AS model, mv.quantity, mv.length_mm, \
     mv.unit_cost_minor, mv.purchase_order_id, mv.rma_number, mv.note, mv.automatic \
     FROM stock_movements mv JOIN stock_models m ON m.id = mv.model_id \
     JOIN stock_locations t ON t.id = mv.to_location_id LEFT JOIN customers tc ON tc.id = t.customer_id \
     LEFT JOIN sites ts ON ts.id = t.site_id \
     LEFT JOIN stock_locations f ON f.id = mv.from_location_id LEFT JOIN customers fc ON fc.id = f.customer_id \
     LEFT JOIN sites fs ON fs.id = f.site_id LEFT JOIN stock_units u ON u.id = mv.unit_id";

fn line_error(errors: &[(usize, String)]) -> StoreError {
    let text: Vec<String> = errors.iter().map(|(i, e)| format!("line {}: {e}", i + 1)).collect();
    StoreError::invalid("items", text.join("; "))
}

/// Appends a batch; all of it or nothing (see the module doc).
pub async fn record(db: &Db, b: &Batch) -> Result<Recorded, StoreError> {
    let mut tx = db.begin().await?;
    let r = record_tx(&mut tx, b).await?;
    tx.commit().await?;
    Ok(r)
}

pub async fn record_tx(tx: &mut Tx<'_>, b: &Batch) -> Result<Recorded, StoreError> {
    if b.items.is_empty() {
        return Err(StoreError::invalid("items", "nothing to move: scan or type at least one unit"));
    }
    if b.items.len() > 10_000 {
        return Err(StoreError::invalid("items", "at most 10,000 lines in one movement"));
    }
    super::text("note", &b.note, 2_000)?;
    if let Kind::SendToRma { rma_number } = &b.kind {
        super::line("rma_number", rma_number, 100)?;
    }
    let n = b.items.len() as i64;
    let last: i64 = sqlx::query_scalar("UPDATE stock_log_head SET seq = seq + $1 WHERE id = 1 RETURNING seq")
        .bind(n)
        .fetch_one(&mut **tx)
        .await?;
    let first = last - n + 1;
    let from = match b.from {
        Some(id) => Some(locations::get_tx(tx, id).await.map_err(|_| StoreError::invalid("from", "no such location"))?),
        None => None,
    };
    let to_id = match b.to {
        Target::Location(id) => id,
        Target::Customer(c) => locations::of_customer(tx, c).await?,
        Target::Site(s) => locations::of_site(tx, s).await?,
    };
    let to = locations::get_tx(tx, to_id).await.map_err(|_| StoreError::invalid("to", "no such location"))?;
    if to.archived_ms.is_some() || from.as_ref().is_some_and(|f| f.archived_ms.is_some()) {
        return Err(StoreError::invalid("to", "that location was deleted"));
    }
    let (from_loc, to_loc) = (from.as_ref().map(|f| f.core()).transpose()?, to.core()?);

    // The part of the state the batch touches.
    let mut models: HashMap<i64, Model> = HashMap::new();
    let mut units: HashMap<i64, Unit> = HashMap::new();
    let mut quantities: Vec<((Location, ModelId), i64)> = Vec::new();
    let mut errors: Vec<(usize, String)> = Vec::new();
    let mut parsed: Vec<Option<Item>> = Vec::with_capacity(b.items.len());
    for (i, item) in b.items.iter().enumerate() {
        let item = match item {
            ItemInput::New { model, mac, serial, length_mm } => {
                let mac = match mac.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(Mac::parse).transpose() {
                    Ok(m) => m,
                    Err(e) => {
                        errors.push((i, e.to_string()));
                        parsed.push(None);
                        continue;
                    }
                };
                let serial =
                    match serial.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(Serial::parse).transpose() {
                        Ok(s) => s,
                        Err(e) => {
                            errors.push((i, e.to_string()));
                            parsed.push(None);
                            continue;
                        }
                    };
                for u in units_holding(tx, mac, serial.as_ref()).await? {
                    units.insert(u.id, u.core()?);
                }
                load_model(tx, &mut models, *model).await?;
                Item::New(NewUnit {
                    id: UnitId(first + i as i64),
                    model: ModelId(*model),
                    mac,
                    serial,
                    length_mm: *length_mm,
                })
            }
            ItemInput::Unit { unit } | ItemInput::Cut { spool: unit, .. } => {
                if let Some(u) = unit_tx(tx, *unit).await? {
                    units.insert(u.id, u.core()?);
                }
                match item {
                    ItemInput::Cut { length_mm, .. } => Item::Cut { spool: UnitId(*unit), length_mm: *length_mm },
                    _ => Item::Unit { unit: UnitId(*unit) },
                }
            }
            ItemInput::Quantity { model, quantity } => {
                load_model(tx, &mut models, *model).await?;
                if let Some(f) = from_loc {
                    let have: Option<i64> = sqlx::query_scalar(
                        "SELECT quantity FROM stock_quantities WHERE location_id = $1 AND model_id = $2",
                    )
                    .bind(f.id)
                    .bind(model)
                    .fetch_optional(&mut **tx)
                    .await?;
                    quantities.push(((f, ModelId(*model)), have.unwrap_or(0)));
                }
                Item::Quantity { model: ModelId(*model), quantity: *quantity }
            }
        };
        parsed.push(Some(item));
    }
    let last_seq = (first > 1).then(|| (first - 1) as u64);
    let mut state = State::resume(last_seq, units.into_values().collect(), quantities);
    let now = now_ms();
    let mut movements = Vec::with_capacity(b.items.len());
    for (i, item) in parsed.into_iter().enumerate() {
        let Some(item) = item else { continue };
        let model_of = |item: &Item| match item {
            Item::New(n) => Some(n.model),
            Item::Quantity { model, .. } => Some(*model),
            _ => None,
        };
        if let Some(m) = model_of(&item) {
            match models.get(&m.0) {
                None => {
                    errors.push((i, format!("no stock model {}", m.0)));
                    continue;
                }
                Some(model) => {
                    if let Err(e) = check_model(model, &item) {
                        errors.push((i, e.to_string()));
                        continue;
                    }
                }
            }
        }
        let m = Movement {
            seq: (first + i as i64) as u64,
            at_ms: now,
            actor: b.actor.clone(),
            kind: b.kind.clone(),
            from: from_loc,
            to: to_loc,
            item,
            note: b.note.trim().to_string(),
            automatic: b.automatic,
        };
        match state.apply(&m) {
            Ok(()) => movements.push(m),
            Err(e) => errors.push((i, e.to_string())),
        }
    }
    if !errors.is_empty() {
        return Err(line_error(&errors));
    }
    let mut received: BTreeMap<i64, i64> = BTreeMap::new();
    let mut new_units = Vec::new();
    for m in &movements {
        let (unit, model, quantity, length) = match &m.item {
            Item::New(n) => (Some(n.id.0), n.model.0, None, n.length_mm),
            Item::Unit { unit } => (Some(unit.0), state.unit(*unit).map_or(0, |u| u.model.0), None, None),
            Item::Quantity { model, quantity } => (None, model.0, Some(*quantity), None),
            Item::Cut { spool, length_mm } => {
                (Some(spool.0), state.unit(*spool).map_or(0, |u| u.model.0), None, Some(*length_mm))
            }
        };
        let (cost, po, rma) = match &m.kind {
            Kind::Receive { purchase_order, unit_cost_minor } => (Some(*unit_cost_minor), *purchase_order, None),
            Kind::SendToRma { rma_number } => (None, None, Some(rma_number.trim().to_string())),
            _ => (None, None, None),
        };
        sqlx::query(
            "INSERT INTO stock_movements (seq, batch, at_ms, actor, kind, from_location_id, to_location_id, unit_id, \
             model_id, quantity, length_mm, unit_cost_minor, purchase_order_id, rma_number, note, automatic) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(m.seq as i64)
        .bind(first)
        .bind(m.at_ms)
        .bind(&m.actor)
        .bind(m.kind.as_str())
        .bind(m.from.map(|f| f.id))
        .bind(m.to.id)
        .bind(unit)
        .bind(model)
        .bind(quantity)
        .bind(length)
        .bind(cost)
        .bind(po)
        .bind(rma)
        .bind(&m.note)
        .bind(i64::from(m.automatic))
        .execute(&mut **tx)
        .await?;
        match &m.item {
            Item::New(n) => {
                let u = state.unit(n.id).expect("applied");
                sqlx::query(
                    "INSERT INTO stock_units (id, model_id, mac, serial, location_id, since_ms, remaining_mm, \
                     unit_cost_minor, purchase_order_id, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $6)",
                )
                .bind(u.id.0)
                .bind(u.model.0)
                .bind(u.mac.map(|m| m.to_string()))
                .bind(u.serial.as_ref().map(|s| s.to_string()))
                .bind(u.at.id)
                .bind(m.at_ms)
                .bind(u.remaining_mm)
                .bind(u.unit_cost_minor)
                .bind(u.purchase_order)
                .execute(&mut **tx)
                .await?;
                new_units.push(u.id.0);
                *received.entry(u.model.0).or_default() += 1;
            }
            Item::Unit { unit } => {
                sqlx::query("UPDATE stock_units SET location_id = $1, since_ms = $2 WHERE id = $3")
                    .bind(m.to.id)
                    .bind(m.at_ms)
                    .bind(unit.0)
                    .execute(&mut **tx)
                    .await?;
            }
            Item::Quantity { model, quantity } => {
                if let Some(f) = m.from {
                    sqlx::query(
                        "UPDATE stock_quantities SET quantity = quantity - $1 WHERE location_id = $2 AND model_id = $3",
                    )
                    .bind(quantity)
                    .bind(f.id)
                    .bind(model.0)
                    .execute(&mut **tx)
                    .await?;
                    // No zero rows (the state keeps none either).
                    sqlx::query(
                        "DELETE FROM stock_quantities WHERE location_id = $1 AND model_id = $2 AND quantity <= 0",
                    )
                    .bind(f.id)
                    .bind(model.0)
                    .execute(&mut **tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO stock_quantities (location_id, model_id, quantity) VALUES ($1, $2, $3) \
                     ON CONFLICT (location_id, model_id) DO UPDATE SET quantity = stock_quantities.quantity + $3",
                )
                .bind(m.to.id)
                .bind(model.0)
                .bind(quantity)
                .execute(&mut **tx)
                .await?;
                if m.from.is_none() {
                    *received.entry(model.0).or_default() += quantity;
                }
            }
            Item::Cut { spool, length_mm } => {
                let u = state.unit(*spool).expect("applied");
                sqlx::query("UPDATE stock_units SET remaining_mm = $1 WHERE id = $2")
                    .bind(u.remaining_mm)
                    .bind(spool.0)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO stock_cuts (location_id, model_id, length_mm) VALUES ($1, $2, $3) \
                     ON CONFLICT (location_id, model_id) DO UPDATE SET length_mm = stock_cuts.length_mm + $3",
                )
                .bind(m.to.id)
                .bind(u.model.0)
                .bind(length_mm)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    if let Kind::Receive { purchase_order: Some(po), .. } = &b.kind {
        super::orders::receive_tx(tx, *po, &received).await?;
    }
    Ok(Recorded { batch: first, seqs: movements.iter().map(|m| m.seq as i64).collect(), new_units, to: to_id })
}

async fn load_model(tx: &mut Tx<'_>, models: &mut HashMap<i64, Model>, id: i64) -> Result<(), StoreError> {
    if models.contains_key(&id) {
        return Ok(());
    }
    let row: Option<super::ModelRow> = sqlx::query_as(
        "SELECT id, vendor, name, kind, class, needs_mac, needs_serial, reorder_threshold, targets, unit_cost_minor, \
         supplier, warranty_months, created_ms FROM stock_models WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(r) = row {
        models.insert(id, r.core()?);
    }
    Ok(())
}

async fn units_holding(tx: &mut Tx<'_>, mac: Option<Mac>, serial: Option<&Serial>) -> Result<Vec<UnitRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNIT_COLS} WHERE u.mac = $1 OR u.serial = $2")))
        .bind(mac.map(|m| m.to_string()))
        .bind(serial.map(|s| s.to_string()))
        .fetch_all(&mut **tx)
        .await?)
}

async fn unit_tx(tx: &mut Tx<'_>, id: i64) -> Result<Option<UnitRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNIT_COLS} WHERE u.id = $1")))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?)
}

pub async fn unit(db: &Db, id: i64) -> Result<UnitRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNIT_COLS} WHERE u.id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("stock unit {id}")))
}

/// A unit by what a scanner or a person gives: a MAC (any usual format), a
/// serial number, or `#id`.
pub async fn find_unit(db: &Db, code: &str) -> Result<Option<UnitRow>, StoreError> {
    let code = code.trim();
    if let Some(id) = code.strip_prefix('#').and_then(|s| s.parse::<i64>().ok()) {
        return Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNIT_COLS} WHERE u.id = $1")))
            .bind(id)
            .fetch_optional(&db.pool)
            .await?);
    }
    if let Ok(mac) = Mac::parse(code) {
        let found: Option<UnitRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNIT_COLS} WHERE u.mac = $1")))
            .bind(mac.to_string())
            .fetch_optional(&db.pool)
            .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match Serial::parse(code) {
        Ok(s) => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNIT_COLS} WHERE u.serial = $1")))
            .bind(s.to_string())
            .fetch_optional(&db.pool)
            .await?),
        Err(_) => Ok(None),
    }
}

/// The unit behind a MAC, if the inventory has one.
pub async fn unit_by_mac(db: &Db, mac: &str) -> Result<Option<UnitRow>, StoreError> {
    let Ok(mac) = Mac::parse(mac) else { return Ok(None) };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{UNIT_COLS} WHERE u.mac = $1")))
        .bind(mac.to_string())
        .fetch_optional(&db.pool)
        .await?)
}

/// Which units a list shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UnitFilter {
    pub model: Option<i64>,
    pub location: Option<i64>,
    /// warehouse, vehicle, site, customer, rma, retired, lost.
    pub kind: Option<String>,
    /// A MAC, serial or model name fragment.
    pub q: Option<String>,
}

fn unit_where(f: &UnitFilter) -> (String, Vec<String>) {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut binds = Vec::new();
    if let Some(m) = f.model {
        clauses.push(format!("u.model_id = {m}"));
    }
    if let Some(l) = f.location {
        clauses.push(format!("u.location_id = {l}"));
    }
    if let Some(k) = f.kind.as_deref().and_then(mast_stock_core::LocationKind::parse) {
        clauses.push(format!("l.kind = '{}'", k.as_str()));
    }
    let q: Option<String> = f.q.as_deref().map(|q| q.chars().filter(|c| !c.is_control()).take(200).collect());
    if let Some(q) = q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        match Mac::parse(q) {
            // A whole MAC (as a scanner gives it): the index, not a scan.
            Ok(m) => {
                binds.push(m.to_string());
                binds.push(q.to_string());
                clauses.push("(u.mac = $1 OR u.serial = $2)".to_string());
            }
            Err(_) => {
                binds.push(format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
                clauses.push(
                    "(LOWER(COALESCE(u.mac, '')) LIKE $1 OR LOWER(COALESCE(u.serial, '')) LIKE $1 \
                     OR LOWER(m.vendor || ' ' || m.name) LIKE $1)"
                        .to_string(),
                );
            }
        }
    }
    (clauses.join(" AND "), binds)
}

/// A page of units, newest first, and how many match.
pub async fn units(db: &Db, f: &UnitFilter, limit: i64, offset: i64) -> Result<(Vec<UnitRow>, i64), StoreError> {
    let (w, binds) = unit_where(f);
    let sql = format!("{UNIT_COLS} WHERE {w} ORDER BY u.id DESC LIMIT {limit} OFFSET {offset}");
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for b in &binds {
        q = q.bind(b.clone());
    }
    let rows = q.fetch_all(&db.pool).await?;
    let sql = format!(
        "SELECT COUNT(*) FROM stock_units u JOIN stock_models m ON m.id = u.model_id \
         JOIN stock_locations l ON l.id = u.location_id WHERE {w}"
    );
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for b in &binds {
        q = q.bind(b.clone());
    }
    Ok((rows, q.fetch_one(&db.pool).await?))
}

/// Units at a location.
pub async fn units_at(db: &Db, location: i64) -> Result<Vec<UnitRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{UNIT_COLS} WHERE u.location_id = $1 ORDER BY m.vendor, m.name, u.id"
    )))
    .bind(location)
    .fetch_all(&db.pool)
    .await?)
}

/// Consumables and cut lengths at a location: (model label, pieces, mm).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Amount {
    pub model_id: i64,
    pub model: String,
    pub quantity: i64,
    pub length_mm: i64,
}

pub async fn amounts_at(db: &Db, location: i64) -> Result<Vec<Amount>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT q.model_id, m.vendor || ' ' || m.name AS model, q.quantity, CAST(0 AS BIGINT) AS length_mm \
         FROM stock_quantities q JOIN stock_models m ON m.id = q.model_id WHERE q.location_id = $1 \
         UNION ALL SELECT k.model_id, m.vendor || ' ' || m.name AS model, CAST(0 AS BIGINT) AS quantity, k.length_mm \
         FROM stock_cuts k JOIN stock_models m ON m.id = k.model_id WHERE k.location_id = $1 ORDER BY model",
    )
    .bind(location)
    .fetch_all(&db.pool)
    .await?)
}

/// A unit's history, oldest first.
pub async fn history(db: &Db, unit: i64) -> Result<Vec<MovementRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{MOVE_COLS} WHERE mv.unit_id = $1 ORDER BY mv.seq")))
        .bind(unit)
        .fetch_all(&db.pool)
        .await?)
}

/// A page of the log, newest first (`location`: to or from it).
pub async fn movements(
    db: &Db,
    location: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<MovementRow>, i64), StoreError> {
    let w = match location {
        Some(l) => format!("mv.from_location_id = {l} OR mv.to_location_id = {l}"),
        None => "1 = 1".into(),
    };
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{MOVE_COLS} WHERE {w} ORDER BY mv.seq DESC LIMIT {limit} OFFSET {offset}"
    )))
    .fetch_all(&db.pool)
    .await?;
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM stock_movements mv WHERE {w}")))
        .fetch_one(&db.pool)
        .await?;
    Ok((rows, n))
}

/// Stock of one model in locations of one kind.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SummaryRow {
    pub model_id: i64,
    pub kind: String,
    pub units: i64,
    pub quantity: i64,
    pub length_mm: i64,
}

/// Units, pieces and lengths per model and location kind.
pub async fn summary(db: &Db) -> Result<Vec<SummaryRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT model_id, kind, CAST(SUM(units) AS BIGINT) AS units, CAST(SUM(quantity) AS BIGINT) AS quantity, \
         CAST(SUM(length_mm) AS BIGINT) AS length_mm FROM ( \
           SELECT u.model_id, l.kind, COUNT(*) AS units, CAST(0 AS BIGINT) AS quantity, \
                  CAST(COALESCE(SUM(u.remaining_mm), 0) AS BIGINT) AS length_mm \
           FROM stock_units u JOIN stock_locations l ON l.id = u.location_id GROUP BY u.model_id, l.kind \
           UNION ALL SELECT q.model_id, l.kind, 0, CAST(SUM(q.quantity) AS BIGINT), 0 \
           FROM stock_quantities q JOIN stock_locations l ON l.id = q.location_id GROUP BY q.model_id, l.kind \
           UNION ALL SELECT k.model_id, l.kind, 0, 0, CAST(SUM(k.length_mm) AS BIGINT) \
           FROM stock_cuts k JOIN stock_locations l ON l.id = k.location_id GROUP BY k.model_id, l.kind \
         ) x GROUP BY model_id, kind ORDER BY model_id, kind",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// The whole on-hand picture as the core's state (units and quantities; no
/// log replay): for the purchase list.
pub async fn on_hand(db: &Db) -> Result<State, StoreError> {
    let units: Vec<UnitRow> = sqlx::query_as(UNIT_COLS).fetch_all(&db.pool).await?;
    let q: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT q.location_id, l.kind, q.model_id, q.quantity FROM stock_quantities q \
         JOIN stock_locations l ON l.id = q.location_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut quantities = Vec::with_capacity(q.len());
    for (loc, kind, model, n) in q {
        quantities.push(((core_location(&kind, loc)?, ModelId(model)), n));
    }
    let units = units.iter().map(UnitRow::core).collect::<Result<Vec<_>, _>>()?;
    Ok(State::resume(None, units, quantities))
}

/// Parts reserved for scheduled jobs, per model and location.
pub async fn reserved(db: &Db) -> Result<BTreeMap<(ModelId, Location), i64>, StoreError> {
    let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT r.model_id, r.location_id, l.kind, CAST(SUM(r.quantity) AS BIGINT) FROM stock_reservations r \
         JOIN stock_locations l ON l.id = r.location_id GROUP BY r.model_id, r.location_id, l.kind",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = BTreeMap::new();
    for (m, l, k, q) in rows {
        out.insert((ModelId(m), core_location(&k, l)?), q);
    }
    Ok(out)
}

/// Units by id, in one query.
pub async fn units_by_id(db: &Db, ids: &[i64]) -> Result<Vec<UnitRow>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!("{UNIT_COLS} WHERE u.id IN ({list})");
        out.extend(sqlx::query_as::<_, UnitRow>(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?);
    }
    Ok(out)
}
