//! Credit notes, voids and write-offs: what takes money back off an issued
//! invoice. Each is a ledger credit against the invoice, allocated to it
//! first ([`allocations`](super::allocations)); a credit larger than what
//! is still open on the invoice becomes the customer's credit. Owns
//! `credit_notes`, `credit_note_lines` and `invoices.credited_minor`,
//! `written_off_minor`, `void_reason`.
//!
//! Credit notes are numbered `CN-YYYY-NNNNNN`, gapless per year, by the same
//! counter table and contract as invoices (core `numbering.rs`): the number
//! is taken in the transaction that stores the note.

use super::allocation::Choice;
use super::allocations::{invoice_debit, lock_customer, settle};
use super::balances::EntryKind;
use super::common::{check_name, fmt_date, stored_currency};
use super::credit_note::{CreditError, CreditRequest, CreditableLine, credit};
use super::invoices::{InvoiceRow, InvoiceStatus};
use super::money::Money;
use super::numbering::SeriesCounter;
use crate::db::{Db, StoreError, Tx, now_ms};
use jiff::civil::Date;
use serde::Serialize;

/// The series of credit notes (invoices use `[billing]`'s).
pub const CREDIT_NOTE_SERIES: &str = "CN";

crate::text_enum! {
    /// Why a credit note exists (`credit_notes.kind`).
    pub enum CreditNoteKind (field "kind") {
        Credit = "credit",
        Void = "void",
    }
}

/// What staff ask for.
#[derive(Debug, Clone)]
pub struct CreditNoteInput {
    pub invoice_id: i64,
    /// `None`: everything still creditable; else (line position, net amount).
    pub lines: Option<Vec<(i64, Money)>>,
    pub reason: String,
    pub date: Date,
    pub by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreditNoteIssued {
    pub id: i64,
    pub number: String,
    pub total_minor: i64,
}

fn credit_error(e: CreditError) -> StoreError {
    match e {
        CreditError::Exceeds { position, .. } | CreditError::NotPositive(position) => {
            StoreError::invalid(format!("line_{position}"), e.to_string())
        }
        other => StoreError::invalid("lines", other.to_string()),
    }
}

async fn invoice_for_update(tx: &mut Tx<'_>, invoice_id: i64) -> Result<InvoiceRow, StoreError> {
    let sql = "SELECT id, number, series, year, seq, customer_id, period_start, period_end, issue_date, due_date, \
        currency, subtotal_minor, tax_minor, total_minor, credits_applied_minor, amount_due_minor, status, \
        payment_reference, content_hash, open_minor, credited_minor, written_off_minor, void_reason FROM invoices \
        WHERE id = $1";
    sqlx::query_as(sql)
        .bind(invoice_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("invoice {invoice_id}")))
}

/// Issues a credit note (whole or per line) in one transaction: the number,
/// the note and its lines, the ledger credit allocated to the invoice first.
/// Refused for a void invoice, for nothing left to credit, and per line for
/// more than is left of it (errors name `line_N`, `lines` or `reason`).
pub async fn issue_credit_note(db: &Db, input: &CreditNoteInput) -> Result<CreditNoteIssued, StoreError> {
    let reason = check_name("reason", &input.reason, 500)?;
    let mut tx = db.begin().await?;
    let inv = invoice_for_update(&mut tx, input.invoice_id).await?;
    if inv.status == InvoiceStatus::Void {
        return Err(StoreError::Conflict(format!("invoice {} is void", inv.number)));
    }
    lock_customer(&mut tx, inv.customer_id).await?;
    let request = match &input.lines {
        None => CreditRequest::Whole,
        Some(v) => CreditRequest::Lines(
            v.iter()
                .map(|&(p, m)| {
                    let p = u32::try_from(p).map_err(|_| StoreError::invalid("lines", format!("no line {p}")))?;
                    Ok((p, m))
                })
                .collect::<Result<_, StoreError>>()?,
        ),
    };
    let issued =
        write_credit_note(&mut tx, &inv, &request, CreditNoteKind::Credit, &reason, input.date, &input.by).await?;
    tx.commit().await?;
    Ok(issued)
}

#[allow(clippy::too_many_arguments)]
async fn write_credit_note(
    tx: &mut Tx<'_>,
    inv: &InvoiceRow,
    request: &CreditRequest,
    kind: CreditNoteKind,
    reason: &str,
    date: Date,
    by: &str,
) -> Result<CreditNoteIssued, StoreError> {
    let cur = stored_currency(&inv.currency)?;
    let lines = lines_with_credits(tx, inv.id).await?;
    let creditable: Vec<CreditableLine> = lines
        .iter()
        .map(|l| CreditableLine {
            position: l.position.clamp(0, i64::from(u32::MAX)) as u32,
            net: Money::new(l.net_minor, cur),
            tax: Money::new(l.tax_minor, cur),
            credited_net: Money::new(l.credited_net_minor, cur),
            credited_tax: Money::new(l.credited_tax_minor, cur),
        })
        .collect();
    let draft = credit(cur, &creditable, request).map_err(credit_error)?;
    // Never more than the invoice, whatever its lines say.
    if draft.total.minor > inv.total_minor - inv.credited_minor {
        return Err(StoreError::invalid("lines", "more than is left of the invoice to credit"));
    }

    let year = i64::from(date.year());
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO invoice_counters (series, year, last) VALUES ($1, $2, 0) \
         ON CONFLICT (series, year) DO UPDATE SET last = invoice_counters.last RETURNING last",
    )
    .bind(CREDIT_NOTE_SERIES)
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    let counter =
        SeriesCounter { series: CREDIT_NOTE_SERIES.into(), year: i32::from(date.year()), last: last.max(0) as u64 };
    let (number, counter) = counter.next().map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let number = number.to_string();
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credit_notes (number, series, year, seq, invoice_id, customer_id, issue_date, currency, net_minor, \
         tax_minor, total_minor, kind, reason, created_by, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(&number)
    .bind(CREDIT_NOTE_SERIES)
    .bind(year)
    .bind(counter.last as i64)
    .bind(inv.id)
    .bind(inv.customer_id)
    .bind(fmt_date(date))
    .bind(&inv.currency)
    .bind(draft.net.minor)
    .bind(draft.tax.minor)
    .bind(draft.total.minor)
    .bind(kind)
    .bind(reason)
    .bind(by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    for (i, l) in draft.lines.iter().enumerate() {
        let description = lines
            .iter()
            .find(|x| x.position == i64::from(l.position))
            .map(|x| x.description.clone())
            .unwrap_or_default();
        sqlx::query(
            "INSERT INTO credit_note_lines (credit_note_id, position, invoice_position, description, net_minor, tax_minor) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(i as i64)
        .bind(i64::from(l.position))
        .bind(description)
        .bind(l.net.minor)
        .bind(l.tax.minor)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE invoice_counters SET last = $1 WHERE series = $2 AND year = $3")
        .bind(counter.last as i64)
        .bind(CREDIT_NOTE_SERIES)
        .bind(year)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE invoices SET credited_minor = credited_minor + $1 WHERE id = $2")
        .bind(draft.total.minor)
        .bind(inv.id)
        .execute(&mut **tx)
        .await?;
    let entry = ledger_credit(
        tx,
        inv,
        EntryKind::Credit,
        draft.total,
        date,
        &format!("Credit note {number} for invoice {}", inv.number),
        Some(id),
    )
    .await?;
    pay_invoice_with(tx, inv, entry, draft.total, by).await?;
    Ok(CreditNoteIssued { id, number, total_minor: draft.total.minor })
}

/// Appends a ledger credit (`amount` > 0 is stored negative) against the
/// invoice; returns its id.
async fn ledger_credit(
    tx: &mut Tx<'_>,
    inv: &InvoiceRow,
    kind: EntryKind,
    amount: Money,
    date: Date,
    memo: &str,
    credit_note: Option<i64>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, invoice_id, \
         payment_id, memo, open_minor, credit_note_id) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, NULL, $8, $9, $10) \
         RETURNING id",
    )
    .bind(inv.customer_id)
    .bind(now_ms())
    .bind(fmt_date(date))
    .bind(kind)
    .bind(-amount.minor)
    .bind(&inv.currency)
    .bind(inv.id)
    .bind(memo)
    .bind(amount.minor)
    .bind(credit_note)
    .fetch_one(&mut **tx)
    .await?)
}

/// Allocates a new credit to its invoice (as much as is open on it), then
/// settles the rest of the customer oldest first.
async fn pay_invoice_with(
    tx: &mut Tx<'_>,
    inv: &InvoiceRow,
    entry: i64,
    amount: Money,
    by: &str,
) -> Result<(), StoreError> {
    let debit = invoice_debit(tx, inv.customer_id, inv.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("invoice {} has no ledger debit", inv.number)))?;
    let open: i64 =
        sqlx::query_scalar("SELECT open_minor FROM ledger WHERE id = $1").bind(debit).fetch_one(&mut **tx).await?;
    let take = open.min(amount.minor);
    let choices = if take > 0 {
        vec![Choice { credit: entry as u64, debit: debit as u64, amount: Money::new(take, amount.currency) }]
    } else {
        Vec::new()
    };
    settle(tx, inv.customer_id, &choices, "lines", by).await?;
    Ok(())
}

/// Voids an invoice issued by mistake: payments that paid it go back to the
/// customer (and pay their other invoices, oldest first), a credit note of
/// kind `void` takes back everything not yet credited, and the invoice is
/// `void` with its number still used. Refused for a void invoice and for one
/// with a write-off (credit the rest instead).
pub async fn void_invoice(
    db: &Db,
    invoice_id: i64,
    reason: &str,
    date: Date,
    by: &str,
) -> Result<CreditNoteIssued, StoreError> {
    let reason = check_name("reason", reason, 500)?;
    let mut tx = db.begin().await?;
    let inv = invoice_for_update(&mut tx, invoice_id).await?;
    if inv.status == InvoiceStatus::Void {
        return Err(StoreError::Conflict(format!("invoice {} is void already", inv.number)));
    }
    if inv.written_off_minor > 0 {
        return Err(StoreError::Conflict(format!(
            "invoice {} has a write-off; issue a credit note for the rest instead",
            inv.number
        )));
    }
    lock_customer(&mut tx, inv.customer_id).await?;
    let debit = invoice_debit(&mut tx, inv.customer_id, inv.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("invoice {} has no ledger debit", inv.number)))?;
    super::allocations::release_payments_of(&mut tx, debit).await?;
    sqlx::query("UPDATE invoices SET status = $1, void_reason = $2 WHERE id = $3")
        .bind(InvoiceStatus::Void)
        .bind(&reason)
        .bind(inv.id)
        .execute(&mut *tx)
        .await?;
    let issued = if inv.total_minor - inv.credited_minor > 0 {
        write_credit_note(&mut tx, &inv, &CreditRequest::Whole, CreditNoteKind::Void, &reason, date, by).await?
    } else {
        settle(&mut tx, inv.customer_id, &[], "", by).await?;
        CreditNoteIssued { id: 0, number: String::new(), total_minor: 0 }
    };
    super::allocations::sync_invoice(&mut tx, debit).await?;
    tx.commit().await?;
    Ok(issued)
}

/// Writes off what is left of an unpaid invoice (or `amount` of it): a
/// `write-off` ledger credit allocated to it. Refused for an invoice with
/// nothing open and for more than is open (`amount`).
pub async fn write_off(
    db: &Db,
    invoice_id: i64,
    amount: Option<Money>,
    reason: &str,
    date: Date,
    by: &str,
) -> Result<i64, StoreError> {
    let reason = check_name("reason", reason, 500)?;
    let mut tx = db.begin().await?;
    let inv = invoice_for_update(&mut tx, invoice_id).await?;
    if !inv.status.is_unpaid() {
        return Err(StoreError::Conflict(format!("invoice {} has nothing open to write off", inv.number)));
    }
    lock_customer(&mut tx, inv.customer_id).await?;
    let cur = stored_currency(&inv.currency)?;
    let amount = amount.unwrap_or(Money::new(inv.open_minor, cur));
    if amount.currency != cur {
        return Err(StoreError::invalid("amount", format!("the invoice is in {}", inv.currency)));
    }
    if amount.minor <= 0 || amount.minor > inv.open_minor {
        return Err(StoreError::invalid("amount", format!("between 0.01 and {}", Money::new(inv.open_minor, cur))));
    }
    sqlx::query("UPDATE invoices SET written_off_minor = written_off_minor + $1 WHERE id = $2")
        .bind(amount.minor)
        .bind(inv.id)
        .execute(&mut *tx)
        .await?;
    let entry = ledger_credit(
        &mut tx,
        &inv,
        EntryKind::WriteOff,
        amount,
        date,
        &format!("Write-off of invoice {}: {reason}", inv.number),
        None,
    )
    .await?;
    pay_invoice_with(&mut tx, &inv, entry, amount, by).await?;
    tx.commit().await?;
    Ok(entry)
}

/// A credit note as lists and pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CreditNoteRow {
    pub id: i64,
    pub number: String,
    pub invoice_id: i64,
    pub invoice_number: String,
    pub customer_id: i64,
    pub issue_date: String,
    pub currency: String,
    pub net_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub kind: CreditNoteKind,
    pub reason: String,
    pub created_by: String,
}

const NOTE_COLS: &str = "SELECT n.id, n.number, n.invoice_id, i.number AS invoice_number, n.customer_id, n.issue_date, \
    n.currency, n.net_minor, n.tax_minor, n.total_minor, n.kind, n.reason, n.created_by \
    FROM credit_notes n JOIN invoices i ON i.id = n.invoice_id";

/// The credit notes of an invoice, oldest first.
pub async fn credit_notes_of_invoice(db: &Db, invoice_id: i64) -> Result<Vec<CreditNoteRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{NOTE_COLS} WHERE n.invoice_id = $1 ORDER BY n.id")))
        .bind(invoice_id)
        .fetch_all(&db.pool)
        .await?)
}

/// The credit notes of a customer, newest first.
pub async fn credit_notes_of_customer(db: &Db, customer_id: i64) -> Result<Vec<CreditNoteRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{NOTE_COLS} WHERE n.customer_id = $1 ORDER BY n.id DESC")))
        .bind(customer_id)
        .fetch_all(&db.pool)
        .await?)
}

/// One credit note.
pub async fn credit_note(db: &Db, id: i64) -> Result<Option<CreditNoteRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{NOTE_COLS} WHERE n.id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

/// A credit note's line.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CreditNoteLineRow {
    pub invoice_position: i64,
    pub description: String,
    pub net_minor: i64,
    pub tax_minor: i64,
}

pub async fn credit_note_lines(db: &Db, id: i64) -> Result<Vec<CreditNoteLineRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT invoice_position, description, net_minor, tax_minor FROM credit_note_lines WHERE credit_note_id = $1 \
         ORDER BY position",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

/// One invoice line and what earlier credit notes took of it.
struct LineCredits {
    position: i64,
    description: String,
    net_minor: i64,
    tax_minor: i64,
    credited_net_minor: i64,
    credited_tax_minor: i64,
}

/// Each line of an invoice (in order) with what its credit notes took.
async fn lines_with_credits(conn: &mut sqlx::AnyConnection, invoice_id: i64) -> Result<Vec<LineCredits>, StoreError> {
    let lines: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT position, description, net_minor, tax_minor FROM invoice_lines WHERE invoice_id = $1 ORDER BY position",
    )
    .bind(invoice_id)
    .fetch_all(&mut *conn)
    .await?;
    let credited: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT l.invoice_position, CAST(SUM(l.net_minor) AS BIGINT), CAST(SUM(l.tax_minor) AS BIGINT) \
         FROM credit_note_lines l JOIN credit_notes n ON n.id = l.credit_note_id WHERE n.invoice_id = $1 \
         GROUP BY l.invoice_position",
    )
    .bind(invoice_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(lines
        .into_iter()
        .map(|(position, description, net_minor, tax_minor)| {
            let (cn, ct) = credited.iter().find(|c| c.0 == position).map(|c| (c.1, c.2)).unwrap_or((0, 0));
            LineCredits { position, description, net_minor, tax_minor, credited_net_minor: cn, credited_tax_minor: ct }
        })
        .collect())
}

/// What is still creditable of each line of an invoice: (position,
/// description, open net, open tax), for the credit-note form.
pub async fn creditable_lines(db: &Db, invoice_id: i64) -> Result<Vec<(i64, String, i64, i64)>, StoreError> {
    let mut conn = db.pool.acquire().await?;
    Ok(lines_with_credits(&mut conn, invoice_id)
        .await?
        .into_iter()
        .map(|l| {
            let open_net = (l.net_minor - l.credited_net_minor).max(0);
            (l.position, l.description, open_net, (l.tax_minor - l.credited_tax_minor).max(0))
        })
        .collect())
}
