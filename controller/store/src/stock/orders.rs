//! Purchase orders (`stock_orders`, `stock_order_lines`): draft, ordered,
//! received in part or whole, cancelled. The state machine is
//! `mast_stock_core::order`'s; receiving happens through a Receive movement
//! naming the order ([`super::moves::record`]), which counts against the
//! order's lines in the same transaction.

use crate::db::{Db, Tx, now_ms};
use crate::error::StoreError;
use mast_stock_core::ModelId;
use mast_stock_core::order::{self, PoAction, PoLine, PoStatus, PurchaseOrder};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub supplier: String,
    pub status: String,
    pub note: String,
    pub created_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LineRow {
    pub line: i64,
    pub model_id: i64,
    pub model: String,
    pub quantity: i64,
    pub unit_cost_minor: i64,
    pub received: i64,
}

/// An order with its lines.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    #[serde(flatten)]
    pub order: OrderRow,
    pub lines: Vec<LineRow>,
}

impl Order {
    pub fn total_minor(&self) -> Option<i64> {
        self.core().ok()?.total_minor()
    }

    fn core(&self) -> Result<PurchaseOrder, StoreError> {
        Ok(PurchaseOrder {
            id: self.order.id,
            supplier: self.order.supplier.clone(),
            status: PoStatus::parse(&self.order.status)
                .ok_or_else(|| StoreError::Corrupt(format!("purchase order status {:?}", self.order.status)))?,
            lines: self
                .lines
                .iter()
                .map(|l| PoLine {
                    model: ModelId(l.model_id),
                    quantity: l.quantity,
                    unit_cost_minor: l.unit_cost_minor,
                    received: l.received,
                })
                .collect(),
        })
    }
}

pub async fn create(db: &Db, supplier: &str, note: &str, by: &str) -> Result<i64, StoreError> {
    let supplier = supplier.trim();
    if supplier.is_empty() {
        return Err(StoreError::invalid("supplier", "is required"));
    }
    super::line("supplier", supplier, 200)?;
    super::text("note", note, 2_000)?;
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "INSERT INTO stock_orders (supplier, status, note, created_by, created_ms, updated_ms) \
         VALUES ($1, 'draft', $2, $3, $4, $4) RETURNING id",
    )
    .bind(supplier)
    .bind(note.trim())
    .bind(by)
    .bind(now)
    .fetch_one(&db.pool)
    .await?)
}

async fn load(tx: &mut Tx<'_>, id: i64) -> Result<Order, StoreError> {
    let order: OrderRow = sqlx::query_as(
        "SELECT id, supplier, status, note, created_by, created_ms, updated_ms FROM stock_orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("purchase order {id}")))?;
    let lines = sqlx::query_as(
        "SELECT o.line, o.model_id, m.vendor || ' ' || m.name AS model, o.quantity, o.unit_cost_minor, o.received \
         FROM stock_order_lines o JOIN stock_models m ON m.id = o.model_id WHERE o.order_id = $1 ORDER BY o.line",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Order { order, lines })
}

pub async fn get(db: &Db, id: i64) -> Result<Order, StoreError> {
    let mut tx = db.begin().await?;
    let o = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(o)
}

/// A line with its order (for lists).
#[derive(sqlx::FromRow)]
struct LineOf {
    order_id: i64,
    #[sqlx(flatten)]
    line: LineRow,
}

/// Orders, newest first (the latest 500), with their lines: two queries.
pub async fn list(db: &Db) -> Result<Vec<Order>, StoreError> {
    let orders: Vec<OrderRow> = sqlx::query_as(
        "SELECT id, supplier, status, note, created_by, created_ms, updated_ms FROM stock_orders \
         ORDER BY id DESC LIMIT 500",
    )
    .fetch_all(&db.pool)
    .await?;
    let Some(oldest) = orders.last().map(|o| o.id) else { return Ok(Vec::new()) };
    let lines: Vec<LineOf> = sqlx::query_as(
        "SELECT o.order_id, o.line, o.model_id, m.vendor || ' ' || m.name AS model, o.quantity, o.unit_cost_minor, \
         o.received FROM stock_order_lines o JOIN stock_models m ON m.id = o.model_id WHERE o.order_id >= $1 \
         ORDER BY o.order_id, o.line",
    )
    .bind(oldest)
    .fetch_all(&db.pool)
    .await?;
    let mut by_order: std::collections::HashMap<i64, Vec<LineRow>> = std::collections::HashMap::new();
    for l in lines {
        by_order.entry(l.order_id).or_default().push(l.line);
    }
    Ok(orders
        .into_iter()
        .map(|order| {
            let lines = by_order.remove(&order.id).unwrap_or_default();
            Order { order, lines }
        })
        .collect())
}

/// Orders that can still be received against.
pub async fn open(db: &Db) -> Result<Vec<Order>, StoreError> {
    Ok(list(db)
        .await?
        .into_iter()
        .filter(|o| matches!(o.order.status.as_str(), "ordered" | "partly-received"))
        .collect())
}

async fn save(tx: &mut Tx<'_>, po: &PurchaseOrder) -> Result<(), StoreError> {
    sqlx::query("UPDATE stock_orders SET status = $1, updated_ms = $2 WHERE id = $3")
        .bind(po.status.as_str())
        .bind(now_ms())
        .bind(po.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM stock_order_lines WHERE order_id = $1").bind(po.id).execute(&mut **tx).await?;
    for (i, l) in po.lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO stock_order_lines (order_id, line, model_id, quantity, unit_cost_minor, received) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(po.id)
        .bind(i as i64)
        .bind(l.model.0)
        .bind(l.quantity)
        .bind(l.unit_cost_minor)
        .bind(l.received)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Applies an action (add or remove a line, order, cancel); receiving goes
/// through a Receive movement.
pub async fn act(db: &Db, id: i64, action: &PoAction) -> Result<Order, StoreError> {
    if matches!(action, PoAction::Receive { .. }) {
        return Err(StoreError::invalid("action", "receive the goods as a movement naming the order"));
    }
    let mut tx = db.begin().await?;
    if let PoAction::AddLine { model, .. } = action {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stock_models WHERE id = $1")
            .bind(model.0)
            .fetch_one(&mut *tx)
            .await?;
        if n == 0 {
            return Err(StoreError::invalid("model", format!("no stock model {}", model.0)));
        }
    }
    let o = load(&mut tx, id).await?;
    let next = order::apply(&o.core()?, action).map_err(|e| StoreError::invalid_msg(e.to_string()))?;
    save(&mut tx, &next).await?;
    let o = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(o)
}

/// Counts a receive against an order: `received` is units or pieces per
/// model; each goes to the order's first line of that model with some still
/// due.
pub(crate) async fn receive_tx(tx: &mut Tx<'_>, id: i64, received: &BTreeMap<i64, i64>) -> Result<(), StoreError> {
    let o = load(tx, id).await.map_err(|_| StoreError::invalid("purchase_order", format!("no purchase order {id}")))?;
    let mut po = o.core()?;
    for (model, n) in received {
        let mut left = *n;
        while left > 0 {
            let Some(line) = po.lines.iter().position(|l| l.model.0 == *model && l.received < l.quantity) else {
                return Err(StoreError::invalid(
                    "purchase_order",
                    format!("order {id} has nothing more of model {model} due ({left} too many)"),
                ));
            };
            let take = left.min(po.lines[line].quantity - po.lines[line].received);
            po = order::apply(&po, &PoAction::Receive { line, quantity: take })
                .map_err(|e| StoreError::invalid("purchase_order", e.to_string()))?;
            left -= take;
        }
    }
    save(tx, &po).await
}

/// The unit cost an order's first line of `model` was placed at (what a
/// receive against the order costs unless told otherwise).
pub async fn line_cost(db: &Db, order: i64, model: i64) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT unit_cost_minor FROM stock_order_lines WHERE order_id = $1 AND model_id = $2 ORDER BY line LIMIT 1",
    )
    .bind(order)
    .bind(model)
    .fetch_optional(&db.pool)
    .await?)
}
