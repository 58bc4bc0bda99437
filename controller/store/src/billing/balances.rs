//! The ledger (every balance change is an entry, append-only) and the
//! balance and AR aging folded from it. Owns `ledger`; the invoice run,
//! payments and dunning append to it.

use super::accounts::require_account;
use super::common::{stored_currency, stored_date};
use super::ledger::{Aging, EntryKind as CoreEntryKind, LedgerEntry};
use super::money::{Currency, Money};
use super::period::iso_date;
use crate::db::{Db, StoreError};
use jiff::civil::Date;
use serde::Serialize;

crate::text_enum! {
    /// What moved a balance (`ledger.kind`), the stored form of the core's
    /// [`EntryKind`](super::ledger::EntryKind).
    pub enum EntryKind (field "kind") {
        Invoice = "invoice",
        Payment = "payment",
        Credit = "credit",
        LateFee = "late-fee",
        ReconnectionFee = "reconnection-fee",
        Refund = "refund",
        Adjustment = "adjustment",
        WriteOff = "write-off",
    }
}

impl From<EntryKind> for CoreEntryKind {
    fn from(k: EntryKind) -> CoreEntryKind {
        match k {
            EntryKind::Invoice => CoreEntryKind::Invoice,
            EntryKind::Payment => CoreEntryKind::Payment,
            EntryKind::Credit => CoreEntryKind::Credit,
            EntryKind::LateFee => CoreEntryKind::LateFee,
            EntryKind::ReconnectionFee => CoreEntryKind::ReconnectionFee,
            EntryKind::Refund => CoreEntryKind::Refund,
            EntryKind::Adjustment => CoreEntryKind::Adjustment,
            EntryKind::WriteOff => CoreEntryKind::WriteOff,
        }
    }
}

/// A `ledger` row as the aging needs it.
#[derive(sqlx::FromRow)]
struct StoredEntry {
    id: i64,
    entry_date: String,
    due_date: Option<String>,
    kind: EntryKind,
    amount_minor: i64,
    reference: Option<i64>,
}

/// A customer's ledger in the account currency, oldest first.
pub(crate) async fn ledger_entries(
    db: &Db,
    customer_id: i64,
    currency: Currency,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let rows: Vec<StoredEntry> = sqlx::query_as(
        "SELECT id, entry_date, due_date, kind, amount_minor, COALESCE(invoice_id, payment_id) AS reference \
         FROM ledger WHERE customer_id = $1 AND currency = $2 ORDER BY entry_date, id",
    )
    .bind(customer_id)
    .bind(currency.code())
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(LedgerEntry {
                id: r.id.max(0) as u64,
                date: stored_date("ledger date", &r.entry_date)?,
                due: r.due_date.as_deref().map(|d| stored_date("ledger due date", d)).transpose()?,
                kind: r.kind.into(),
                amount: Money::new(r.amount_minor, currency),
                reference: r.reference.map(|x| x.max(0) as u64),
            })
        })
        .collect()
}

/// The sum of a customer's ledger in one currency, summed here in 128 bits:
/// a ledger that does not fit an `i64` is corrupt data (an error for this
/// customer's page, never a database overflow that breaks every page).
async fn ledger_sum(db: &Db, customer_id: i64, currency: &str) -> Result<i64, StoreError> {
    let amounts: Vec<i64> =
        sqlx::query_scalar("SELECT amount_minor FROM ledger WHERE customer_id = $1 AND currency = $2")
            .bind(customer_id)
            .bind(currency)
            .fetch_all(&db.pool)
            .await?;
    let sum: i128 = amounts.iter().map(|&a| i128::from(a)).sum();
    i64::try_from(sum)
        .map_err(|_| StoreError::Corrupt(format!("the ledger of customer {customer_id} sums beyond 64 bits")))
}

/// The newest ledger entry id of a customer (0 when none): the "ledger
/// state" a card charge is for.
pub async fn ledger_mark(db: &Db, customer_id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM ledger WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(&db.pool)
        .await?)
}

#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    pub customer_id: i64,
    pub currency: String,
    /// Sum of the ledger: positive = owes, negative = in credit.
    pub balance_minor: i64,
    /// `12.34 USD`.
    pub balance: String,
    #[serde(with = "iso_date")]
    pub as_of: Date,
    /// What is owed by days past due (minor units), and unapplied credit.
    pub current_minor: i64,
    pub days_1_30_minor: i64,
    pub days_31_60_minor: i64,
    pub days_61_90_minor: i64,
    pub over_90_minor: i64,
    pub unapplied_credit_minor: i64,
    #[serde(skip)]
    pub aging: Aging,
}

impl Balance {
    /// What is past due (all the buckets after "current"), checked.
    pub fn overdue_minor(&self) -> Result<i64, StoreError> {
        [self.days_31_60_minor, self.days_61_90_minor, self.over_90_minor]
            .into_iter()
            .try_fold(self.days_1_30_minor, super::common::add_minor)
    }
}

/// The balance (sum of the ledger) and the AR aging as of `as_of`.
pub async fn balance(db: &Db, customer_id: i64, as_of: Date) -> Result<Balance, StoreError> {
    let acc = require_account(db, customer_id).await?;
    let cur = stored_currency(&acc.currency)?;
    let entries = ledger_entries(db, customer_id, cur).await?;
    let total = ledger_sum(db, customer_id, cur.code()).await?;
    let aging = super::ledger::aging(&entries, cur, as_of)
        .map_err(|e| StoreError::Corrupt(format!("ledger of customer {customer_id}: {e}")))?;
    Ok(Balance {
        customer_id,
        currency: acc.currency,
        balance_minor: total,
        balance: Money::new(total, cur).to_string(),
        as_of,
        current_minor: aging.current.minor,
        days_1_30_minor: aging.days_1_30.minor,
        days_31_60_minor: aging.days_31_60.minor,
        days_61_90_minor: aging.days_61_90.minor,
        over_90_minor: aging.over_90.minor,
        unapplied_credit_minor: aging.unapplied_credit.minor,
        aging,
    })
}
