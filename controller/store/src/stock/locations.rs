//! Locations (`stock_locations`): warehouses and technicians' vehicles by
//! name, a site's and a customer's location made on first use, and the
//! fixed RMA, retired and lost ones.

use super::core_location;
use crate::db::{Db, Tx, now_ms};
use crate::error::StoreError;
use mast_stock_core::{Location, LocationKind};
use serde::Serialize;

/// A location with the name to show (a site's or a customer's own name).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LocationRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub customer_id: Option<i64>,
    pub site_id: Option<i64>,
    /// A vehicle's technician.
    pub user_id: Option<i64>,
    pub user_email: Option<String>,
    pub archived_ms: Option<i64>,
}

impl LocationRow {
    pub fn core(&self) -> Result<Location, StoreError> {
        core_location(&self.kind, self.id)
    }
}

pub(crate) const COLS: &str = "SELECT l.id, l.kind, \
     COALESCE(c.name, s.name, l.name) AS name, l.customer_id, l.site_id, l.user_id, u.email AS user_email, \
     l.archived_ms \
     FROM stock_locations l LEFT JOIN customers c ON c.id = l.customer_id LEFT JOIN sites s ON s.id = l.site_id \
     LEFT JOIN users u ON u.id = l.user_id";

/// Every location not archived, by kind then name.
pub async fn list(db: &Db) -> Result<Vec<LocationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE l.archived_ms IS NULL ORDER BY l.kind, name, l.id")))
        .fetch_all(&db.pool)
        .await?)
}

/// Where stock is kept: warehouses and vehicles.
pub async fn stores(db: &Db) -> Result<Vec<LocationRow>, StoreError> {
    Ok(list(db).await?.into_iter().filter(|l| matches!(l.kind.as_str(), "warehouse" | "vehicle")).collect())
}

pub async fn get(db: &Db, id: i64) -> Result<LocationRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE l.id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("stock location {id}")))
}

pub(crate) async fn get_tx(tx: &mut Tx<'_>, id: i64) -> Result<LocationRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE l.id = $1")))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("stock location {id}")))
}

/// A warehouse or a vehicle by name (case does not matter), or a location by id.
pub async fn find(db: &Db, name: &str) -> Result<LocationRow, StoreError> {
    let name = name.trim();
    if let Ok(id) = name.parse::<i64>() {
        return get(db, id).await;
    }
    let want = name.to_lowercase();
    list(db)
        .await?
        .into_iter()
        .find(|l| l.name.to_lowercase() == want && l.customer_id.is_none() && l.site_id.is_none())
        .ok_or_else(|| StoreError::NotFound(format!("no warehouse or vehicle named {name:?}")))
}

/// Adds a warehouse or a technician's vehicle (`user`: the technician).
pub async fn add(db: &Db, kind: LocationKind, name: &str, user: Option<i64>) -> Result<LocationRow, StoreError> {
    if !kind.is_stock() {
        return Err(StoreError::invalid("kind", "warehouse or vehicle (sites and customers have theirs already)"));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::invalid("name", "is required"));
    }
    super::line("name", name, 100)?;
    if find(db, name).await.is_ok() {
        return Err(StoreError::invalid("name", format!("a location named {name:?} exists")));
    }
    if let Some(u) = user {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1").bind(u).fetch_one(&db.pool).await?;
        if n == 0 {
            return Err(StoreError::invalid("user", format!("no staff member {u}")));
        }
    }
    let user = if kind == LocationKind::Vehicle { user } else { None };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO stock_locations (kind, name, user_id, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(name)
    .bind(user)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    get(db, id).await
}

/// What is at a location: units, pieces and cut lengths.
pub async fn holds(db: &Db, id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM stock_units WHERE location_id = $1) \
         + (SELECT COUNT(*) FROM stock_quantities WHERE location_id = $1 AND quantity > 0) \
         + (SELECT COUNT(*) FROM stock_cuts WHERE location_id = $1 AND length_mm > 0)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await?)
}

/// Deletes a warehouse or vehicle that holds nothing (refused otherwise);
/// one the log names is archived instead, so its history still reads.
pub async fn delete(db: &Db, id: i64) -> Result<(), StoreError> {
    let l = get(db, id).await?;
    if !matches!(l.kind.as_str(), "warehouse" | "vehicle") {
        return Err(StoreError::Conflict(format!("{} is not a warehouse or a vehicle", l.name)));
    }
    let n = holds(db, id).await?;
    if n > 0 {
        return Err(StoreError::Conflict(format!("{} still holds stock: move it elsewhere first", l.name)));
    }
    let named: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM stock_movements WHERE from_location_id = $1 OR to_location_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await?;
    if named > 0 {
        sqlx::query("UPDATE stock_locations SET archived_ms = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&db.pool)
            .await?;
    } else {
        sqlx::query("DELETE FROM stock_locations WHERE id = $1").bind(id).execute(&db.pool).await?;
    }
    Ok(())
}

async fn on_first_use(tx: &mut Tx<'_>, column: &str, kind: &str, id: i64) -> Result<i64, StoreError> {
    let sql = format!(
        "INSERT INTO stock_locations (kind, name, {column}, created_ms) VALUES ($1, '', $2, $3) \
         ON CONFLICT ({column}) DO NOTHING"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind).bind(id).bind(now_ms()).execute(&mut **tx).await?;
    let sql = format!("SELECT id FROM stock_locations WHERE {column} = $1");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&mut **tx).await?)
}

/// The location of a customer's premises, made on first use.
pub async fn of_customer(tx: &mut Tx<'_>, customer: i64) -> Result<i64, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id = $1").bind(customer).fetch_one(&mut **tx).await?;
    if n == 0 {
        return Err(StoreError::invalid("to", format!("no customer {customer}")));
    }
    on_first_use(tx, "customer_id", "customer", customer).await
}

/// The location of a tower site, made on first use.
pub async fn of_site(tx: &mut Tx<'_>, site: i64) -> Result<i64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sites WHERE id = $1").bind(site).fetch_one(&mut **tx).await?;
    if n == 0 {
        return Err(StoreError::invalid("to", format!("no site {site}")));
    }
    on_first_use(tx, "site_id", "site", site).await
}

/// The location of a customer or a site, if anything was ever installed there.
pub async fn existing(db: &Db, customer: Option<i64>, site: Option<i64>) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM stock_locations WHERE customer_id = $1 OR site_id = $2")
        .bind(customer)
        .bind(site)
        .fetch_optional(&db.pool)
        .await?)
}
