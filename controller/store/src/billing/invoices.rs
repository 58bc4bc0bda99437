//! Issued invoices, their lines and tax summaries (read side; the invoice
//! run writes them). Owns `invoices`, `invoice_lines`, `invoice_taxes`,
//! `invoice_counters`.

use crate::db::{Db, StoreError};
use serde::Serialize;

crate::text_enum! {
    /// Where an invoice stands (`invoices.status`).
    pub enum InvoiceStatus (field "status") {
        Open = "open",
        Paid = "paid",
        Void = "void",
    }
}

crate::text_enum! {
    /// What an invoice line bills (`invoice_lines.kind`).
    pub enum LineType (field "kind") {
        Recurring = "recurring",
        OneTime = "one-time",
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: i64,
    pub number: String,
    pub series: String,
    pub year: i64,
    pub seq: i64,
    pub customer_id: i64,
    pub period_start: String,
    pub period_end: String,
    pub issue_date: String,
    pub due_date: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub credits_applied_minor: i64,
    pub amount_due_minor: i64,
    pub status: InvoiceStatus,
    pub payment_reference: Option<String>,
    pub content_hash: String,
}

const INVOICE_COLS: &str = "SELECT id, number, series, year, seq, customer_id, period_start, period_end, issue_date, \
    due_date, currency, subtotal_minor, tax_minor, total_minor, credits_applied_minor, amount_due_minor, status, \
    payment_reference, content_hash FROM invoices";

/// Which invoices to list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub customer_id: Option<i64>,
    pub period_start: Option<jiff::civil::Date>,
    pub limit: Option<i64>,
}

/// Invoices in number order.
pub async fn invoices(db: &Db, f: &InvoiceFilter) -> Result<Vec<InvoiceRow>, StoreError> {
    let sql = format!(
        "{INVOICE_COLS} WHERE ($1 = 0 OR customer_id = $2) AND ($3 = '' OR period_start = $3) \
         ORDER BY series, year, seq LIMIT $4"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(i64::from(f.customer_id.is_some()))
        .bind(f.customer_id.unwrap_or(0))
        .bind(f.period_start.map(super::common::fmt_date).unwrap_or_default())
        .bind(f.limit.unwrap_or(i64::MAX))
        .fetch_all(&db.pool)
        .await?)
}

/// One invoice by id.
pub async fn invoice(db: &Db, id: i64) -> Result<Option<InvoiceRow>, StoreError> {
    let sql = format!("{INVOICE_COLS} WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InvoiceLineRow {
    pub position: i64,
    pub kind: LineType,
    pub description: String,
    pub amount_minor: i64,
    pub discount_minor: i64,
    pub net_minor: i64,
    pub tax_minor: i64,
}

pub async fn invoice_lines(db: &Db, invoice_id: i64) -> Result<Vec<InvoiceLineRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT position, kind, description, amount_minor, discount_minor, net_minor, tax_minor FROM invoice_lines \
         WHERE invoice_id = $1 ORDER BY position",
    )
    .bind(invoice_id)
    .fetch_all(&db.pool)
    .await?)
}

/// One line of an invoice's tax summary.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InvoiceTaxRow {
    pub name: String,
    pub rate_bp: i64,
    pub tax_minor: i64,
}

pub async fn invoice_taxes(db: &Db, invoice_id: i64) -> Result<Vec<InvoiceTaxRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT name, rate_bp, tax_minor FROM invoice_taxes WHERE invoice_id = $1 ORDER BY tax_class_id, component",
    )
    .bind(invoice_id)
    .fetch_all(&db.pool)
    .await?)
}

/// An invoice to email, with its customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceToMail {
    pub id: i64,
    pub number: String,
    pub amount_due_minor: i64,
    pub currency: String,
    pub due_date: String,
    pub payment_reference: Option<String>,
    pub customer_id: i64,
    pub name: String,
    pub email: String,
}

/// Invoices created after `since_ms` whose customer has an email address
/// and that have no queued email yet (at most 5,000, oldest first).
pub async fn invoices_to_mail(db: &Db, since_ms: i64) -> Result<Vec<InvoiceToMail>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT i.id, i.number, i.amount_due_minor, i.currency, i.due_date, i.payment_reference, \
         c.id AS customer_id, c.name, c.email \
         FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.created_ms > $1 AND c.email IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.dedup = 'invoice:' || i.id || ':email') ORDER BY i.id LIMIT 5000",
    )
    .bind(since_ms)
    .fetch_all(&db.pool)
    .await?)
}
