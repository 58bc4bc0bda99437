//! The catalogue: models of equipment (`stock_models`).

use crate::db::{Db, now_ms};
use crate::error::StoreError;
use mast_stock_core::{ItemClass, LocationKind, Model, ModelId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A model as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ModelRow {
    pub id: i64,
    pub vendor: String,
    pub name: String,
    pub kind: String,
    /// trackable, consumable or cut-to-length.
    pub class: String,
    pub needs_mac: i64,
    pub needs_serial: i64,
    pub reorder_threshold: Option<i64>,
    /// JSON: location kind → stock to hold there.
    pub targets: String,
    /// Per unit, piece or metre.
    pub unit_cost_minor: i64,
    pub supplier: Option<String>,
    pub warranty_months: Option<i64>,
    pub created_ms: i64,
}

impl ModelRow {
    /// "Ubiquiti LiteBeam 5AC".
    pub fn label(&self) -> String {
        format!("{} {}", self.vendor, self.name)
    }

    pub fn class(&self) -> Result<ItemClass, StoreError> {
        ItemClass::parse(&self.class).ok_or_else(|| StoreError::Corrupt(format!("stock model class {:?}", self.class)))
    }

    pub fn targets(&self) -> Result<BTreeMap<LocationKind, i64>, StoreError> {
        serde_json::from_str(&self.targets).map_err(|e| StoreError::Corrupt(format!("stock model targets: {e}")))
    }

    /// The core's model.
    pub fn core(&self) -> Result<Model, StoreError> {
        Ok(Model {
            id: ModelId(self.id),
            vendor: self.vendor.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            class: self.class()?,
            needs_mac: self.needs_mac != 0,
            needs_serial: self.needs_serial != 0,
            reorder_threshold: self.reorder_threshold,
            targets: self.targets()?,
            unit_cost_minor: self.unit_cost_minor,
        })
    }
}

/// A model as entered (UI, API, CLI, import).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ModelInput {
    pub vendor: String,
    pub name: String,
    /// Free text: radio, router, cable, connector.
    pub kind: String,
    /// trackable, consumable or cut-to-length.
    pub class: String,
    pub needs_mac: bool,
    pub needs_serial: bool,
    pub reorder_threshold: Option<i64>,
    pub targets: BTreeMap<LocationKind, i64>,
    pub unit_cost_minor: i64,
    pub supplier: Option<String>,
    pub warranty_months: Option<i64>,
}

impl ModelInput {
    /// Checks every field; the first error names its field.
    pub fn validate(&self) -> Result<ItemClass, StoreError> {
        let text = |field: &str, v: &str, max: usize| {
            if v.trim().is_empty() {
                return Err(StoreError::invalid(field, "is required"));
            }
            super::line(field, v, max)
        };
        text("vendor", &self.vendor, 100)?;
        text("name", &self.name, 200)?;
        text("kind", &self.kind, 60)?;
        let class = ItemClass::parse(self.class.trim())
            .ok_or_else(|| StoreError::invalid("class", "one of trackable, consumable, cut-to-length"))?;
        if class != ItemClass::Trackable && (self.needs_mac || self.needs_serial) {
            return Err(StoreError::invalid("needs_mac", "only trackable units carry a MAC or a serial number"));
        }
        if self.reorder_threshold.is_some_and(|t| t < 0) {
            return Err(StoreError::invalid("reorder_threshold", "must not be negative"));
        }
        if let Some((k, _)) = self.targets.iter().find(|(_, v)| **v < 0) {
            return Err(StoreError::invalid("targets", format!("the target for {k} must not be negative")));
        }
        if self.unit_cost_minor < 0 {
            return Err(StoreError::invalid("unit_cost", "must not be negative"));
        }
        if self.warranty_months.is_some_and(|m| !(0..=240).contains(&m)) {
            return Err(StoreError::invalid("warranty_months", "from 0 to 240 months"));
        }
        if let Some(s) = &self.supplier {
            super::line("supplier", s, 200)?;
        }
        Ok(class)
    }
}

const COLS: &str = "SELECT id, vendor, name, kind, class, needs_mac, needs_serial, reorder_threshold, targets, \
                    unit_cost_minor, supplier, warranty_months, created_ms FROM stock_models";

fn supplier(i: &ModelInput) -> Option<String> {
    i.supplier.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn clash(e: sqlx::Error, i: &ModelInput) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::invalid("name", format!("{} {} is already in the catalogue", i.vendor.trim(), i.name.trim()))
        }
        e => e.into(),
    }
}

/// Binds a model's fields as `$1`-`$11` in the order the statements name them.
macro_rules! bind_fields {
    ($q:expr, $i:expr, $class:expr, $targets:expr) => {
        $q.bind($i.vendor.trim())
            .bind($i.name.trim())
            .bind($i.kind.trim())
            .bind($class.as_str())
            .bind(i64::from($i.needs_mac))
            .bind(i64::from($i.needs_serial))
            .bind($i.reorder_threshold)
            .bind($targets)
            .bind($i.unit_cost_minor)
            .bind(supplier($i))
            .bind($i.warranty_months)
    };
}

pub async fn add(db: &Db, i: &ModelInput) -> Result<ModelRow, StoreError> {
    let class = i.validate()?;
    let targets = serde_json::to_string(&i.targets).map_err(|e| StoreError::invalid("targets", e.to_string()))?;
    let q = sqlx::query_scalar(
        "INSERT INTO stock_models (vendor, name, kind, class, needs_mac, needs_serial, reorder_threshold, targets, \
         unit_cost_minor, supplier, warranty_months, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    );
    let id: i64 =
        bind_fields!(q, i, class, targets).bind(now_ms()).fetch_one(&db.pool).await.map_err(|e| clash(e, i))?;
    get(db, id).await
}

/// Changes a model. Its class cannot change once units or quantities of it
/// exist (they were received under the old one).
pub async fn update(db: &Db, id: i64, i: &ModelInput) -> Result<ModelRow, StoreError> {
    let class = i.validate()?;
    let old = get(db, id).await?;
    if old.class != class.as_str() {
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stock_movements WHERE model_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await?;
        if used > 0 {
            return Err(StoreError::invalid("class", "cannot change: stock of this model was already recorded"));
        }
    }
    let targets = serde_json::to_string(&i.targets).map_err(|e| StoreError::invalid("targets", e.to_string()))?;
    let q = sqlx::query(
        "UPDATE stock_models SET vendor = $1, name = $2, kind = $3, class = $4, needs_mac = $5, needs_serial = $6, \
         reorder_threshold = $7, targets = $8, unit_cost_minor = $9, supplier = $10, warranty_months = $11 \
         WHERE id = $12",
    );
    bind_fields!(q, i, class, targets).bind(id).execute(&db.pool).await.map_err(|e| clash(e, i))?;
    get(db, id).await
}

pub async fn get(db: &Db, id: i64) -> Result<ModelRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("stock model {id}")))
}

/// Every model, by vendor and name.
pub async fn list(db: &Db) -> Result<Vec<ModelRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} ORDER BY vendor, name, id"))).fetch_all(&db.pool).await?)
}

/// A model by "vendor name" as written in a CSV or on the command line (case
/// does not matter), or by id.
pub async fn find(db: &Db, label: &str) -> Result<ModelRow, StoreError> {
    let label = label.trim();
    if let Ok(id) = label.parse::<i64>() {
        return get(db, id).await;
    }
    let want = label.to_lowercase();
    list(db)
        .await?
        .into_iter()
        .find(|m| m.label().to_lowercase() == want || m.name.to_lowercase() == want)
        .ok_or_else(|| StoreError::NotFound(format!("no stock model named {label:?}")))
}
