//! Which credit pays which debit, kept in step with every ledger change
//! (the rules are the core's [`allocation`](super::allocation) module).
//! Owns `allocations`, `ledger.open_minor` and `invoices.open_minor` /
//! `status`.
//!
//! Every writer of a customer's ledger calls [`settle`] in its own
//! transaction after writing, so after each commit either no credit or no
//! debit of that customer is open, and each invoice's open amount and
//! status follow from its ledger debit. [`settle_everyone`] repairs any
//! customer for which that does not hold (run at start: the migration that
//! introduced allocations leaves everything open).

use super::allocation::{Allocation, Choice, Credit, Debit, InvoiceState, allocate, invoice_state};
use super::common::{stored_currency, stored_date};
use super::invoices::InvoiceStatus;
use super::money::{Currency, Money};
use crate::db::{Db, StoreError, Tx, now_ms};
use std::collections::BTreeMap;

/// An open `ledger` row.
#[derive(sqlx::FromRow)]
struct OpenRow {
    id: i64,
    entry_date: String,
    due_date: Option<String>,
    amount_minor: i64,
    open_minor: i64,
    currency: String,
}

impl From<InvoiceState> for InvoiceStatus {
    fn from(s: InvoiceState) -> InvoiceStatus {
        match s {
            InvoiceState::Open => InvoiceStatus::Open,
            InvoiceState::PartlyPaid => InvoiceStatus::PartlyPaid,
            InvoiceState::Paid => InvoiceStatus::Paid,
            InvoiceState::WrittenOff => InvoiceStatus::WrittenOff,
            InvoiceState::Void => InvoiceStatus::Void,
        }
    }
}

/// Takes the customer's billing row lock (PostgreSQL) or the write lock
/// (SQLite) before anything is read, so two settlements of one customer
/// run one after the other.
pub(crate) async fn lock_customer(tx: &mut Tx<'_>, customer_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE billing_accounts SET customer_id = customer_id WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Allocates `choices` and then everything open of `customer_id` oldest
/// first, writes the allocations, the ledger rows' open amounts and the
/// invoices' open amounts and statuses. Call with the customer locked
/// ([`lock_customer`]) in the transaction that changed the ledger. A
/// refused choice is [`StoreError::Invalid`] on `field`.
pub(crate) async fn settle(
    tx: &mut Tx<'_>,
    customer_id: i64,
    choices: &[Choice],
    field: &str,
    by: &str,
) -> Result<Vec<Allocation>, StoreError> {
    let rows: Vec<OpenRow> = sqlx::query_as(
        "SELECT id, entry_date, due_date, amount_minor, open_minor, currency FROM ledger \
         WHERE customer_id = $1 AND open_minor > 0",
    )
    .bind(customer_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut by_currency: BTreeMap<String, (Vec<Debit>, Vec<Credit>)> = BTreeMap::new();
    let mut open_of: BTreeMap<u64, i64> = BTreeMap::new();
    for r in &rows {
        let cur = stored_currency(&r.currency)?;
        let date = stored_date("ledger date", &r.entry_date)?;
        let id = r.id.max(0) as u64;
        open_of.insert(id, r.open_minor);
        let slot = by_currency.entry(r.currency.clone()).or_default();
        if r.amount_minor > 0 {
            let due = r.due_date.as_deref().map(|d| stored_date("ledger due date", d)).transpose()?.unwrap_or(date);
            slot.0.push(Debit { id, due, date, open: Money::new(r.open_minor, cur) });
        } else if r.amount_minor < 0 {
            slot.1.push(Credit { id, date, open: Money::new(r.open_minor, cur) });
        }
    }
    for ch in choices {
        if !by_currency.contains_key(ch.amount.currency.code()) {
            return Err(StoreError::invalid(field, "nothing open in that currency"));
        }
    }
    let mut all = Vec::new();
    for (code, (debits, credits)) in &by_currency {
        let cur: Currency = stored_currency(code)?;
        let mine: Vec<Choice> = choices.iter().filter(|c| c.amount.currency == cur).copied().collect();
        if mine.is_empty() && (debits.is_empty() || credits.is_empty()) {
            continue;
        }
        let out = allocate(cur, debits, credits, &mine).map_err(|e| StoreError::invalid(field, e.to_string()))?;
        let chosen = mine.len();
        for (i, a) in out.iter().enumerate() {
            sqlx::query(
                "INSERT INTO allocations (customer_id, credit_entry_id, debit_entry_id, amount_minor, currency, chosen, \
                 created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(customer_id)
            .bind(a.credit as i64)
            .bind(a.debit as i64)
            .bind(a.amount.minor)
            .bind(code)
            .bind(i64::from(i < chosen))
            .bind(by)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
            for id in [a.credit, a.debit] {
                let open =
                    open_of.get_mut(&id).ok_or_else(|| StoreError::Corrupt(format!("ledger row {id} vanished")))?;
                *open -= a.amount.minor;
            }
        }
        all.extend(out);
    }
    let touched: std::collections::BTreeSet<u64> = all.iter().flat_map(|a| [a.credit, a.debit]).collect();
    for id in touched {
        sqlx::query("UPDATE ledger SET open_minor = $1 WHERE id = $2")
            .bind(open_of[&id])
            .bind(id as i64)
            .execute(&mut **tx)
            .await?;
        sync_invoice(tx, id as i64).await?;
    }
    Ok(all)
}

/// The ledger debit of one of the customer's invoices.
pub(crate) async fn invoice_debit(
    tx: &mut Tx<'_>,
    customer_id: i64,
    invoice_id: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM ledger WHERE invoice_id = $1 AND customer_id = $2 AND kind = 'invoice'")
        .bind(invoice_id)
        .bind(customer_id)
        .fetch_optional(&mut **tx)
        .await?)
}

/// Copies a ledger debit's open amount to its invoice (if it is an
/// invoice's debit) and sets the invoice's status from it.
pub(crate) async fn sync_invoice(tx: &mut Tx<'_>, ledger_id: i64) -> Result<(), StoreError> {
    let row: Option<(i64, i64, i64, i64, String)> = sqlx::query_as(
        "SELECT i.id, l.open_minor, i.total_minor, i.written_off_minor, i.status FROM ledger l \
         JOIN invoices i ON i.id = l.invoice_id WHERE l.id = $1 AND l.kind = 'invoice'",
    )
    .bind(ledger_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((invoice, open, total, written_off, status)) = row else { return Ok(()) };
    let void = status == InvoiceStatus::Void.as_str();
    let cur = Currency::USD; // the state compares amounts of one invoice only
    let state = invoice_state(Money::new(total, cur), Money::new(open, cur), void, Money::new(written_off, cur));
    sqlx::query("UPDATE invoices SET open_minor = $1, status = $2 WHERE id = $3")
        .bind(if void { 0 } else { open })
        .bind(InvoiceStatus::from(state))
        .bind(invoice)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Undoes allocations (newest first) until `credit_entry_id` has `need`
/// open, or it has none left: the debits they paid open again. Used when a
/// refund needs money a payment already paid an invoice with. Returns what
/// was released.
pub(crate) async fn release_credit(tx: &mut Tx<'_>, credit_entry_id: i64, need: i64) -> Result<i64, StoreError> {
    let open: i64 = sqlx::query_scalar("SELECT open_minor FROM ledger WHERE id = $1")
        .bind(credit_entry_id)
        .fetch_one(&mut **tx)
        .await?;
    let mut missing = need - open;
    let mut released = 0;
    if missing <= 0 {
        return Ok(0);
    }
    let allocs: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT id, debit_entry_id, amount_minor FROM allocations WHERE credit_entry_id = $1 ORDER BY id DESC",
    )
    .bind(credit_entry_id)
    .fetch_all(&mut **tx)
    .await?;
    for (id, debit, amount) in allocs {
        if missing <= 0 {
            break;
        }
        let take = amount.min(missing);
        if take == amount {
            sqlx::query("DELETE FROM allocations WHERE id = $1").bind(id).execute(&mut **tx).await?;
        } else {
            sqlx::query("UPDATE allocations SET amount_minor = amount_minor - $1 WHERE id = $2")
                .bind(take)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        for entry in [credit_entry_id, debit] {
            sqlx::query("UPDATE ledger SET open_minor = open_minor + $1 WHERE id = $2")
                .bind(take)
                .bind(entry)
                .execute(&mut **tx)
                .await?;
        }
        sync_invoice(tx, debit).await?;
        missing -= take;
        released += take;
    }
    Ok(released)
}

/// Undoes every allocation into `debit_entry_id` that came from a payment
/// or an adjustment (voiding an invoice gives that money back to the
/// customer). Returns what was released.
pub(crate) async fn release_payments_of(tx: &mut Tx<'_>, debit_entry_id: i64) -> Result<i64, StoreError> {
    let allocs: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT a.id, a.credit_entry_id, a.amount_minor FROM allocations a JOIN ledger l ON l.id = a.credit_entry_id \
         WHERE a.debit_entry_id = $1 AND l.kind IN ('payment', 'adjustment')",
    )
    .bind(debit_entry_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut released = 0;
    for (id, credit, amount) in allocs {
        sqlx::query("DELETE FROM allocations WHERE id = $1").bind(id).execute(&mut **tx).await?;
        for entry in [credit, debit_entry_id] {
            sqlx::query("UPDATE ledger SET open_minor = open_minor + $1 WHERE id = $2")
                .bind(amount)
                .bind(entry)
                .execute(&mut **tx)
                .await?;
        }
        released += amount;
    }
    sync_invoice(tx, debit_entry_id).await?;
    Ok(released)
}

/// Settles every customer that has both an open credit and an open debit
/// (none after normal operation; all of them right after the migration
/// that introduced allocations). One customer per transaction; a customer
/// whose data does not add up is logged and skipped. Returns how many
/// were settled.
pub async fn settle_everyone(db: &Db) -> Result<usize, StoreError> {
    let customers: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT d.customer_id FROM ledger d WHERE d.open_minor > 0 AND d.amount_minor > 0 \
         AND EXISTS (SELECT 1 FROM ledger c WHERE c.customer_id = d.customer_id AND c.open_minor > 0 \
         AND c.amount_minor < 0 AND c.currency = d.currency) ORDER BY d.customer_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut done = 0;
    for c in customers {
        let r = async {
            let mut tx = db.begin().await?;
            lock_customer(&mut tx, c).await?;
            settle(&mut tx, c, &[], "", "system").await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await;
        match r {
            Ok(()) => done += 1,
            Err(e) => tracing::warn!(customer = c, error = %e, "could not settle a customer's ledger"),
        }
    }
    Ok(done)
}

/// One allocation as a payment or invoice page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AllocationLine {
    pub amount_minor: i64,
    pub currency: String,
    pub chosen: bool,
    /// The other side: its ledger kind, memo and invoice / payment.
    pub kind: super::balances::EntryKind,
    pub memo: String,
    pub invoice_id: Option<i64>,
    pub invoice_number: Option<String>,
    pub payment_id: Option<i64>,
    pub entry_date: String,
}

#[derive(sqlx::FromRow)]
struct StoredAllocationLine {
    amount_minor: i64,
    currency: String,
    chosen: i64,
    kind: super::balances::EntryKind,
    memo: Option<String>,
    invoice_id: Option<i64>,
    invoice_number: Option<String>,
    payment_id: Option<i64>,
    entry_date: String,
}

impl From<StoredAllocationLine> for AllocationLine {
    fn from(r: StoredAllocationLine) -> AllocationLine {
        AllocationLine {
            amount_minor: r.amount_minor,
            currency: r.currency,
            chosen: r.chosen != 0,
            kind: r.kind,
            memo: r.memo.unwrap_or_default(),
            invoice_id: r.invoice_id,
            invoice_number: r.invoice_number,
            payment_id: r.payment_id,
            entry_date: r.entry_date,
        }
    }
}

/// What paid an invoice (its debit's allocations, oldest first).
pub async fn paid_into_invoice(db: &Db, invoice_id: i64) -> Result<Vec<AllocationLine>, StoreError> {
    let rows: Vec<StoredAllocationLine> = sqlx::query_as(
        "SELECT a.amount_minor, a.currency, a.chosen, c.kind, c.memo, c.invoice_id, NULL AS invoice_number, \
         c.payment_id, c.entry_date FROM allocations a JOIN ledger d ON d.id = a.debit_entry_id \
         JOIN ledger c ON c.id = a.credit_entry_id WHERE d.invoice_id = $1 AND d.kind = 'invoice' ORDER BY a.id",
    )
    .bind(invoice_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// What a payment paid (its credit's allocations, oldest first).
pub async fn paid_by_payment(db: &Db, payment_id: i64) -> Result<Vec<AllocationLine>, StoreError> {
    let rows: Vec<StoredAllocationLine> = sqlx::query_as(
        "SELECT a.amount_minor, a.currency, a.chosen, d.kind, d.memo, d.invoice_id, i.number AS invoice_number, \
         d.payment_id, d.entry_date FROM allocations a JOIN ledger c ON c.id = a.credit_entry_id \
         JOIN ledger d ON d.id = a.debit_entry_id LEFT JOIN invoices i ON i.id = d.invoice_id \
         WHERE c.payment_id = $1 AND c.kind = 'payment' ORDER BY a.id",
    )
    .bind(payment_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}
