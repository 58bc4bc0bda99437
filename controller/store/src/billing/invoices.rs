//! Issued invoices, their lines and tax summaries (read side; the invoice
//! run writes them). Owns `invoices`, `invoice_lines`, `invoice_taxes`,
//! `invoice_counters`.

use super::common::{Filter, fmt_date};
use crate::db::{Db, StoreError};
use serde::Serialize;

crate::text_enum! {
    /// Where an invoice stands (`invoices.status`).
    pub enum InvoiceStatus (field "status") {
        Open = "open",
        PartlyPaid = "partly-paid",
        Paid = "paid",
        WrittenOff = "written-off",
        Void = "void",
    }
}

impl InvoiceStatus {
    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "Open",
            InvoiceStatus::PartlyPaid => "Partly paid",
            InvoiceStatus::Paid => "Paid",
            InvoiceStatus::WrittenOff => "Written off",
            InvoiceStatus::Void => "Void",
        }
    }

    /// Money is still expected on it.
    pub fn is_unpaid(self) -> bool {
        matches!(self, InvoiceStatus::Open | InvoiceStatus::PartlyPaid)
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
    /// Still to pay (0 when paid, written off or void).
    pub open_minor: i64,
    /// Taken back by credit notes (a void included).
    pub credited_minor: i64,
    pub written_off_minor: i64,
    pub void_reason: Option<String>,
}

const INVOICE_COLS: &str = "SELECT id, number, series, year, seq, customer_id, period_start, period_end, issue_date, \
    due_date, currency, subtotal_minor, tax_minor, total_minor, credits_applied_minor, amount_due_minor, status, \
    payment_reference, content_hash, open_minor, credited_minor, written_off_minor, void_reason FROM invoices";

/// Which invoices to list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub customer_id: Option<i64>,
    pub period_start: Option<jiff::civil::Date>,
    pub limit: Option<i64>,
}

/// What the staff invoice list filters on (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct InvoiceQuery {
    pub status: Option<InvoiceStatus>,
    /// Open or partly paid, whatever the status filter says.
    pub unpaid: bool,
    /// Unpaid and due before this day.
    pub overdue_on: Option<jiff::civil::Date>,
    pub site_id: Option<i64>,
    /// Invoices with a line billing this plan.
    pub plan_id: Option<i64>,
    /// Issued on or after / before (exclusive) these days.
    pub issued_from: Option<jiff::civil::Date>,
    pub issued_until: Option<jiff::civil::Date>,
    pub customer_id: Option<i64>,
    /// Page size and offset (newest first).
    pub limit: i64,
    pub offset: i64,
}

/// A line of the staff invoice list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InvoiceListRow {
    pub id: i64,
    pub number: String,
    pub customer_id: i64,
    pub customer: String,
    pub issue_date: String,
    pub due_date: String,
    pub currency: String,
    pub total_minor: i64,
    pub open_minor: i64,
    pub status: InvoiceStatus,
}

/// Sums over every invoice the query matches, per currency.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InvoiceTotals {
    pub currency: String,
    pub count: i64,
    pub total_minor: i64,
    pub open_minor: i64,
}

fn query_where(q: &InvoiceQuery, page: bool) -> Filter {
    // Invoices only (the site and plan through subqueries). A `page` walks
    // the issue date index newest first and stops at its rows: conditions a
    // planner would rather answer from another index (then sort every
    // match) are written so it cannot (`status || ''`, `+customer_id`):
    // unpaid invoices are recent, and a site or a plan holds a good share of
    // them. A rare status (void, written off) and one customer keep their
    // indexes, and so do totals (they read every match anyway).
    let mut f = Filter::new();
    let status = if page { "i.status || ''" } else { "i.status" };
    if let Some(s) = q.status {
        match s {
            InvoiceStatus::Void | InvoiceStatus::WrittenOff => f.text(" AND i.status = ?", s.as_str()),
            _ => f.text(&format!(" AND {status} = ?"), s.as_str()),
        }
    }
    if q.unpaid || q.overdue_on.is_some() {
        f.raw(&format!(" AND {status} IN ('open', 'partly-paid')"));
    }
    if let Some(d) = q.overdue_on {
        f.text(" AND i.due_date < ?", fmt_date(d));
    }
    if let Some(site) = q.site_id {
        let customer = if page { "+i.customer_id" } else { "i.customer_id" };
        f.int(&format!(" AND {customer} IN (SELECT id FROM customers WHERE site_id = ?)"), site);
    }
    if let Some(plan) = q.plan_id {
        f.int(" AND EXISTS (SELECT 1 FROM invoice_lines l WHERE l.invoice_id = i.id AND l.plan_id = ?)", plan);
    }
    if let Some(d) = q.issued_from {
        f.text(" AND i.issue_date >= ?", fmt_date(d));
    }
    if let Some(d) = q.issued_until {
        f.text(" AND i.issue_date < ?", fmt_date(d));
    }
    if let Some(c) = q.customer_id {
        f.int(" AND i.customer_id = ?", c);
    }
    f
}

/// The conditions on `invoice_tallies t` (migration 0024: totals per
/// issue month, currency, status, site and plan, kept by triggers) that give
/// the totals of `q`, when it filters on nothing finer: `None` for one
/// customer, overdue on a day, or dates that are not the first of a month
/// (those read the invoices themselves).
fn tally_where(q: &InvoiceQuery) -> Option<Filter> {
    let month = |d: Option<jiff::civil::Date>| -> Option<Option<String>> {
        match d {
            None => Some(None),
            Some(d) if d.day() == 1 => Some(Some(format!("{:04}-{:02}", d.year(), d.month()))),
            Some(_) => None,
        }
    };
    if q.customer_id.is_some() || q.overdue_on.is_some() {
        return None;
    }
    let (from, until) = (month(q.issued_from)?, month(q.issued_until)?);
    let mut t = Filter::new();
    t.int(" AND t.plan_id = ?", q.plan_id.unwrap_or(0));
    if let Some(site) = q.site_id {
        t.int(" AND t.site_id = ?", site);
    }
    if let Some(s) = q.status {
        t.text(" AND t.status = ?", s.as_str());
    }
    if q.unpaid {
        t.raw(" AND t.status IN ('open', 'partly-paid')");
    }
    if let Some(m) = from {
        t.text(" AND t.issue_month >= ?", m);
    }
    if let Some(m) = until {
        t.text(" AND t.issue_month < ?", m);
    }
    Some(t)
}

/// Where `invoice_tallies` and the invoices disagree (empty: in step),
/// each as `month currency status site plan: tally vs invoices`.
pub async fn invoice_tallies_drift(db: &Db) -> Result<Vec<String>, StoreError> {
    /// (month, currency, status, site, plan) and (count, total, open).
    type Row = (String, String, String, i64, i64, i64, i64, i64);
    type Key = (String, String, String, i64, i64);
    let live: Vec<Row> = sqlx::query_as(
        "SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0), CAST(0 AS BIGINT), \
         CAST(COUNT(*) AS BIGINT), CAST(SUM(i.total_minor) AS BIGINT), CAST(SUM(i.open_minor) AS BIGINT) \
         FROM invoices i JOIN customers c ON c.id = i.customer_id \
         GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0) \
         UNION ALL \
         SELECT substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0), l.plan_id, \
         CAST(COUNT(*) AS BIGINT), CAST(SUM(i.total_minor) AS BIGINT), CAST(SUM(i.open_minor) AS BIGINT) \
         FROM invoices i JOIN customers c ON c.id = i.customer_id \
         JOIN (SELECT DISTINCT invoice_id, plan_id FROM invoice_lines WHERE plan_id IS NOT NULL) l ON l.invoice_id = i.id \
         GROUP BY substr(i.issue_date, 1, 7), i.currency, i.status, COALESCE(c.site_id, 0), l.plan_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let tallies: Vec<Row> = sqlx::query_as(
        "SELECT issue_month, currency, status, site_id, plan_id, n, total_minor, open_minor FROM invoice_tallies \
         WHERE n <> 0 OR total_minor <> 0 OR open_minor <> 0",
    )
    .fetch_all(&db.pool)
    .await?;
    let map = |rows: Vec<Row>| {
        rows.into_iter()
            .map(|(m, c, s, site, plan, n, t, o)| ((m, c, s, site, plan), (n, t, o)))
            .collect::<std::collections::BTreeMap<Key, (i64, i64, i64)>>()
    };
    let (live, tallies) = (map(live), map(tallies));
    let mut out = Vec::new();
    for k in live.keys().chain(tallies.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (a, b) = (tallies.get(k), live.get(k));
        if a != b {
            out.push(format!("{} {} {} site {} plan {}: tally {a:?} vs invoices {b:?}", k.0, k.1, k.2, k.3, k.4));
        }
    }
    Ok(out)
}

/// One page of the staff invoice list (newest first) and the totals over
/// everything the query matches.
pub async fn list_invoices(db: &Db, q: &InvoiceQuery) -> Result<(Vec<InvoiceListRow>, Vec<InvoiceTotals>), StoreError> {
    let f = query_where(q, true);
    let n = f.next_placeholder();
    let page = format!(
        "SELECT i.id, i.number, i.customer_id, '' AS customer, i.issue_date, i.due_date, i.currency, \
         i.total_minor, i.open_minor, i.status FROM invoices i{} ORDER BY i.issue_date DESC, i.id DESC LIMIT ${n} OFFSET ${}",
        f.sql(),
        n + 1
    );
    let mut rows: Vec<InvoiceListRow> = f
        .bind(sqlx::query_as(sqlx::AssertSqlSafe(page)))
        .bind(q.limit.clamp(1, 1000))
        .bind(q.offset.max(0))
        .fetch_all(&db.pool)
        .await?;
    // The page's customer names, in one query.
    let mut ids: Vec<i64> = rows.iter().map(|r| r.customer_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let names: std::collections::HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(
            format!("SELECT id, name FROM customers WHERE id IN ({list})"),
        ))
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .collect();
        for r in &mut rows {
            r.customer = names.get(&r.customer_id).cloned().unwrap_or_default();
        }
    }
    let totals: Vec<InvoiceTotals> = match tally_where(q) {
        Some(t) => {
            let sql = format!(
                "SELECT t.currency, CAST(SUM(t.n) AS BIGINT) AS count, CAST(SUM(t.total_minor) AS BIGINT) AS total_minor, \
                 CAST(SUM(t.open_minor) AS BIGINT) AS open_minor FROM invoice_tallies t{} GROUP BY t.currency \
                 HAVING SUM(t.n) <> 0 ORDER BY t.currency",
                t.sql()
            );
            t.bind(sqlx::query_as(sqlx::AssertSqlSafe(sql))).fetch_all(&db.pool).await?
        }
        None => {
            let f = query_where(q, false);
            let sql = format!(
                "SELECT i.currency, CAST(COUNT(*) AS BIGINT) AS count, CAST(COALESCE(SUM(i.total_minor), 0) AS BIGINT) AS total_minor, \
                 CAST(COALESCE(SUM(i.open_minor), 0) AS BIGINT) AS open_minor FROM invoices i{} GROUP BY i.currency ORDER BY i.currency",
                f.sql()
            );
            f.bind(sqlx::query_as(sqlx::AssertSqlSafe(sql))).fetch_all(&db.pool).await?
        }
    };
    Ok((rows, totals))
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
        .bind(f.period_start.map(fmt_date).unwrap_or_default())
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
