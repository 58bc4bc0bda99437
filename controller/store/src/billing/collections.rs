//! Collections: the dunning shell around the pure [`dunning`](super::dunning)
//! core, and the list of suspended customers the network enforces. Owns
//! `dunning_state` and `dunning_log`.
//!
//! [`run`] (daily by the worker, or `billing dunning-run`) takes every
//! invoice with money still open (payments and credits cover the oldest
//! invoices first), asks the core what today calls for, and carries it out
//! in one transaction per invoice together with the new state: a reminder
//! email (outbox), a late fee or reconnection fee (ledger), suspension
//! (customer status `suspended`) or reactivation once paid (`active`). Each
//! step fires once per invoice, so running twice a day changes nothing.
//!
//! The policy comes from `dunning_steps` (`reminder@3, fee@10:5.00,
//! suspend@20`: business days after the due date; weekends and
//! `support_holidays` do not count) and `reconnection_fee`.

use super::balances::EntryKind;
use super::common::{add_minor, ledger_balances, stored_date};
use super::dunning::{self, BusinessCalendar, DunningAction, DunningPolicy, DunningState, DunningStep, LateFee};
use super::money::Money;
use super::store;
use crate::db::{Db, StoreError, Tx, now_ms};
use crate::outbox::{self as notify, Channel, Channels};
use jiff::civil::{Date, Weekday};
use mast_text_core::csv;
use serde::Serialize;

crate::text_enum! {
    /// The kind of a dunning step in `dunning_steps` (`reminder@3`,
    /// `fee@10:5.00`, `suspend@20`).
    pub enum StepKind (field "dunning_steps") {
        Reminder = "reminder",
        Fee = "fee",
        Suspend = "suspend",
    }
}

/// Parses `reminder@3, fee@10:5.00, fee@10:1.5%, suspend@20` (pure).
pub fn parse_steps(s: &str, currency: super::money::Currency) -> Result<Vec<DunningStep>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, rest) = part.split_once('@').ok_or_else(|| format!("{part:?}: write kind@days"))?;
        let (days, arg) = match rest.split_once(':') {
            Some((d, a)) => (d, Some(a.trim())),
            None => (rest, None),
        };
        let after_business_days: u32 =
            days.trim().parse().map_err(|_| format!("{part:?}: days must be a whole number"))?;
        out.push(match (StepKind::from_text(kind.trim()), arg) {
            (Some(StepKind::Reminder), None) => DunningStep::Reminder { after_business_days },
            (Some(StepKind::Suspend), None) => DunningStep::Suspend { after_business_days },
            (Some(StepKind::Fee), Some(a)) if a.ends_with('%') => {
                let pct: f64 = a.trim_end_matches('%').parse().map_err(|_| format!("{part:?}: bad percentage"))?;
                if !(0.0..=100.0).contains(&pct) {
                    return Err(format!("{part:?}: percentage 0-100"));
                }
                DunningStep::LateFee {
                    after_business_days,
                    fee: LateFee::PercentBp { bp: (pct * 100.0).round() as u32, rounding: Default::default() },
                }
            }
            (Some(StepKind::Fee), Some(a)) => DunningStep::LateFee {
                after_business_days,
                fee: LateFee::Fixed(Money::parse(a, currency).map_err(|e| format!("{part:?}: {e}"))?),
            },
            _ => return Err(format!("{part:?}: reminder@DAYS, fee@DAYS:AMOUNT or fee@DAYS:PCT%, suspend@DAYS")),
        });
    }
    Ok(out)
}

/// Dunning settings from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub steps: String,
    pub reconnection_fee: Option<String>,
    pub holidays: Vec<Date>,
}

fn policy(s: &Settings, currency: &str) -> Result<(DunningPolicy, BusinessCalendar), StoreError> {
    let cur = super::common::stored_currency(currency)?;
    let steps = parse_steps(&s.steps, cur).map_err(|e| StoreError::invalid("dunning_steps", e))?;
    let reconnection_fee = s
        .reconnection_fee
        .as_deref()
        .map(|f| Money::parse(f, cur))
        .transpose()
        .map_err(|e| StoreError::invalid("reconnection_fee", e.to_string()))?;
    let cal = BusinessCalendar::new(&[Weekday::Saturday, Weekday::Sunday], s.holidays.clone())
        .map_err(|e| StoreError::invalid("holidays", e.to_string()))?;
    Ok((DunningPolicy { steps, reconnection_fee }, cal))
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub invoices_checked: usize,
    pub reminders: usize,
    pub fees: usize,
    pub suspended: usize,
    pub reactivated: usize,
    /// (customer, reason) of what failed; the rest went ahead.
    pub errors: Vec<(i64, String)>,
}

struct OpenInvoice {
    id: i64,
    customer: i64,
    number: String,
    currency: String,
    due: Date,
    open: i64,
}

/// An invoice with money open.
#[derive(sqlx::FromRow)]
struct DueRow {
    id: i64,
    customer_id: i64,
    number: String,
    currency: String,
    due_date: String,
    open_minor: i64,
}

/// Which invoices [`open_invoices`] looks at.
const OPEN: &str =
    "status <> 'void' AND (open_minor > 0 OR id IN (SELECT invoice_id FROM dunning_state WHERE suspended <> 0))";

/// Invoices with money open: a customer's balance is what the newest
/// invoices still owe (payments cover the oldest first). A customer whose
/// data does not add up is skipped with its error in `errors`; the others
/// are unaffected.
async fn open_invoices(db: &Db, errors: &mut Vec<(i64, String)>) -> Result<Vec<OpenInvoice>, StoreError> {
    let rows: Vec<DueRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, customer_id, number, currency, due_date, open_minor FROM invoices WHERE {OPEN} \
         ORDER BY customer_id, due_date DESC, id DESC"
    )))
    .fetch_all(&db.pool)
    .await?;
    let balances = ledger_balances(
        db,
        "SELECT customer_id FROM invoices WHERE status <> 'void' AND open_minor > 0 \
         UNION SELECT customer_id FROM dunning_state",
    )
    .await?;
    let mut out = Vec::new();
    let mut newer: (i64, i64) = (-1, 0); // (customer, sum of newer invoices' amounts)
    let mut failed: Option<i64> = None;
    for r in rows {
        if failed == Some(r.customer_id) {
            continue;
        }
        if newer.0 != r.customer_id {
            newer = (r.customer_id, 0);
        }
        match open_one(&r, &balances, &mut newer.1) {
            Ok(inv) => out.push(inv),
            Err(e) => {
                tracing::warn!(customer = r.customer_id, error = %e, "dunning skips a customer");
                errors.push((r.customer_id, e.to_string()));
                failed = Some(r.customer_id);
            }
        }
    }
    Ok(out)
}

fn open_one(
    r: &DueRow,
    balances: &std::collections::HashMap<i64, Result<i64, StoreError>>,
    newer: &mut i64,
) -> Result<OpenInvoice, StoreError> {
    let balance = match balances.get(&r.customer_id) {
        Some(Ok(b)) => *b,
        Some(Err(e)) => return Err(StoreError::Corrupt(e.to_string())),
        None => 0,
    };
    let open = balance
        .checked_sub(*newer)
        .ok_or_else(|| StoreError::Corrupt(format!("ledger of customer {} overflows", r.customer_id)))?
        .clamp(0, r.open_minor.max(0));
    *newer = add_minor(*newer, r.open_minor.max(0))?;
    Ok(OpenInvoice {
        id: r.id,
        customer: r.customer_id,
        number: r.number.clone(),
        due: stored_date("invoice due date", &r.due_date)?,
        currency: r.currency.clone(),
        open,
    })
}

/// One dunning pass for `today`. An invoice whose step fails (bad data, a
/// failing write) is rolled back, logged and listed in `errors`; every
/// other invoice is still processed.
pub async fn run(db: &Db, settings: &Settings, channels: Channels, today: Date) -> Result<Summary, StoreError> {
    let mut sum = Summary::default();
    let today_s = super::period::iso_date::format(today);
    let mut errors = Vec::new();
    for inv in open_invoices(db, &mut errors).await? {
        if inv.due >= today && inv.open > 0 {
            continue;
        }
        sum.invoices_checked += 1;
        if let Err(e) = step(db, settings, channels, &inv, today, &today_s, &mut sum).await {
            tracing::warn!(invoice = inv.id, customer = inv.customer, error = %e, "dunning failed for one invoice");
            errors.push((inv.customer, e.to_string()));
        }
    }
    sum.errors = errors;
    Ok(sum)
}

/// The due dunning steps of one invoice, in one transaction.
async fn step(
    db: &Db,
    settings: &Settings,
    channels: Channels,
    inv: &OpenInvoice,
    today: Date,
    today_s: &str,
    sum: &mut Summary,
) -> Result<(), StoreError> {
    let (pol, cal) = policy(settings, &inv.currency)?;
    let st: Option<(i64, i64, Option<String>)> =
        sqlx::query_as("SELECT done, suspended, paused_until FROM dunning_state WHERE invoice_id = $1")
            .bind(inv.id)
            .fetch_optional(&db.pool)
            .await?;
    // Postponed by staff: nothing before that day (ISO dates compare as text).
    if st.as_ref().and_then(|s| s.2.as_deref()).is_some_and(|until| until > today_s) {
        return Ok(());
    }
    let state = match st {
        Some((done, suspended, _)) => DunningState { done: done.max(0) as u64, suspended: suspended != 0 },
        None => DunningState::default(),
    };
    let cur = super::common::stored_currency(&inv.currency)?;
    let acts = dunning::actions(&pol, &cal, inv.due, Money::new(inv.open, cur), &state, today)
        .map_err(|e| StoreError::invalid("dunning_steps", e.to_string()))?;
    if acts.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    for a in &acts {
        let what = match *a {
            DunningAction::Remind { step } => {
                sum.reminders += 1;
                remind(&mut tx, channels, inv, step, cur).await?;
                format!("reminder (step {step})")
            }
            DunningAction::ChargeLateFee { amount, .. } => {
                sum.fees += 1;
                fee(&mut tx, inv, EntryKind::LateFee, amount, today_s, &format!("Late fee, invoice {}", inv.number))
                    .await?;
                format!("late fee {amount}")
            }
            DunningAction::Suspend { .. } => {
                sum.suspended += 1;
                set_status(&mut tx, inv.customer, "suspended").await?;
                "suspended".to_string()
            }
            DunningAction::Reactivate => {
                sum.reactivated += 1;
                set_status(&mut tx, inv.customer, "active").await?;
                "reactivated".to_string()
            }
            DunningAction::ChargeReconnectionFee { amount } => {
                fee(&mut tx, inv, EntryKind::ReconnectionFee, amount, today_s, "Reconnection fee").await?;
                format!("reconnection fee {amount}")
            }
        };
        sqlx::query(
            "INSERT INTO dunning_log (invoice_id, customer_id, ts_ms, run_date, action) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(inv.id)
        .bind(inv.customer)
        .bind(now_ms())
        .bind(today_s)
        .bind(&what)
        .execute(&mut *tx)
        .await?;
    }
    let next = state.after(&acts);
    sqlx::query(
        "INSERT INTO dunning_state (invoice_id, done, suspended, updated_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (invoice_id) DO UPDATE SET done = excluded.done, suspended = excluded.suspended, updated_ms = excluded.updated_ms",
    )
    .bind(inv.id)
    .bind(next.done as i64)
    .bind(i64::from(next.suspended))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn set_status(tx: &mut Tx<'_>, customer: i64, status: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE customers SET status = $1, updated_ms = $2 WHERE id = $3 AND status IN ('active', 'suspended')",
    )
    .bind(status)
    .bind(now_ms())
    .bind(customer)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn fee(
    tx: &mut Tx<'_>,
    inv: &OpenInvoice,
    kind: EntryKind,
    amount: Money,
    date: &str,
    memo: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, invoice_id, payment_id, memo, \
         open_minor) VALUES ($1, $2, $3, $3, $4, $5, $6, NULL, NULL, $7, $8)",
    )
    .bind(inv.customer)
    .bind(now_ms())
    .bind(date)
    .bind(kind)
    .bind(amount.minor)
    .bind(&inv.currency)
    .bind(memo)
    .bind(amount.minor.abs())
    .execute(&mut **tx)
    .await?;
    super::allocations::lock_customer(tx, inv.customer).await?;
    super::allocations::settle(tx, inv.customer, &[], "", "dunning").await?;
    Ok(())
}

async fn remind(
    tx: &mut Tx<'_>,
    t: Channels,
    inv: &OpenInvoice,
    step: u32,
    cur: super::money::Currency,
) -> Result<(), StoreError> {
    if !t.has(Channel::Email) {
        return Ok(());
    }
    let (name, email): (String, Option<String>) = sqlx::query_as("SELECT name, email FROM customers WHERE id = $1")
        .bind(inv.customer)
        .fetch_one(&mut **tx)
        .await?;
    let Some(email) = email.filter(|e| !e.is_empty()) else { return Ok(()) };
    let m = notify::Message {
        dedup: format!("dunning:{}:{step}", inv.id),
        channel: Channel::Email,
        recipient: email,
        subject: format!("Payment reminder: invoice {}", inv.number),
        body: format!(
            "Hello {name},\n\nour records show {} still open on invoice {}, due {}. Please pay it, quoting {}, \
             or pay in your customer portal. If you already paid, thank you, and please ignore this message.\n",
            Money::new(inv.open, cur),
            inv.number,
            super::period::iso_date::format(inv.due),
            store::payment_reference(inv.customer),
        ),
        headers: [("event".to_string(), "dunning.reminder".to_string())].into(),
        customer_id: Some(inv.customer),
        ticket_id: None,
    };
    notify::enqueue(tx, &m).await?;
    Ok(())
}

/// An overdue invoice on the dunning desk.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeskRow {
    pub invoice_id: i64,
    pub number: String,
    pub customer_id: i64,
    pub name: String,
    pub customer_status: String,
    pub due_date: String,
    pub open_minor: i64,
    pub currency: String,
    /// Dunning steps taken (a bit per step of the policy).
    pub done: Option<i64>,
    pub suspended: Option<i64>,
    pub paused_until: Option<String>,
}

/// Unpaid invoices due before `today` or postponed, and every invoice whose
/// dunning suspended its customer, oldest due first (at most 2,000).
pub async fn desk(db: &Db, today: Date) -> Result<Vec<DeskRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT i.id AS invoice_id, i.number, i.customer_id, c.name, c.status AS customer_status, i.due_date, \
         i.open_minor, i.currency, s.done, s.suspended, s.paused_until FROM invoices i \
         JOIN customers c ON c.id = i.customer_id LEFT JOIN dunning_state s ON s.invoice_id = i.id \
         WHERE (i.status IN ('open', 'partly-paid') AND (i.due_date < $1 OR s.paused_until >= $1)) \
         OR s.suspended <> 0 \
         ORDER BY i.due_date, i.id LIMIT 2000",
    )
    .bind(super::common::fmt_date(today))
    .fetch_all(&db.pool)
    .await?)
}

/// A late or reconnection fee not yet paid or waived.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OpenFee {
    pub ledger_id: i64,
    pub customer_id: i64,
    pub name: String,
    pub kind: EntryKind,
    pub entry_date: String,
    pub amount_minor: i64,
    pub open_minor: i64,
    pub currency: String,
    pub memo: Option<String>,
}

/// Fees with something open, oldest first (at most 2,000).
pub async fn open_fees(db: &Db) -> Result<Vec<OpenFee>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT l.id AS ledger_id, l.customer_id, c.name, l.kind, l.entry_date, l.amount_minor, l.open_minor, \
         l.currency, l.memo FROM ledger l JOIN customers c ON c.id = l.customer_id \
         WHERE l.kind IN ('late-fee', 'reconnection-fee') AND l.open_minor > 0 ORDER BY l.entry_date, l.id LIMIT 2000",
    )
    .fetch_all(&db.pool)
    .await?)
}

async fn log(tx: &mut Tx<'_>, invoice: i64, customer: i64, today: Date, what: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO dunning_log (invoice_id, customer_id, ts_ms, run_date, action) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(invoice)
    .bind(customer)
    .bind(now_ms())
    .bind(super::common::fmt_date(today))
    .bind(what)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Postpones dunning of an unpaid invoice: no reminder, fee or suspension
/// before `until` (after today, at most 90 days ahead; field `until`).
pub async fn postpone(db: &Db, invoice_id: i64, until: Date, today: Date, by: &str) -> Result<(), StoreError> {
    if until <= today || super::period::days_between(today, until) > 90 {
        return Err(StoreError::invalid("until", "a day after today, at most 90 days ahead"));
    }
    let customer: Option<i64> =
        sqlx::query_scalar("SELECT customer_id FROM invoices WHERE id = $1 AND status IN ('open', 'partly-paid')")
            .bind(invoice_id)
            .fetch_optional(&db.pool)
            .await?;
    let Some(customer) = customer else {
        return Err(StoreError::Conflict(format!("invoice {invoice_id} has nothing open to chase")));
    };
    let until_s = super::common::fmt_date(until);
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO dunning_state (invoice_id, done, suspended, updated_ms, paused_until) VALUES ($1, 0, 0, $2, $3) \
         ON CONFLICT (invoice_id) DO UPDATE SET paused_until = excluded.paused_until, updated_ms = excluded.updated_ms",
    )
    .bind(invoice_id)
    .bind(now_ms())
    .bind(&until_s)
    .execute(&mut *tx)
    .await?;
    log(&mut tx, invoice_id, customer, today, &format!("postponed until {until_s} by {by}")).await?;
    tx.commit().await?;
    Ok(())
}

/// Waives what is open of a late or reconnection fee: a ledger credit
/// allocated to it. Returns the credit's ledger id.
pub async fn waive_fee(db: &Db, ledger_id: i64, today: Date, by: &str) -> Result<i64, StoreError> {
    let fee: Option<(i64, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT customer_id, open_minor, currency, memo FROM ledger WHERE id = $1 \
         AND kind IN ('late-fee', 'reconnection-fee')",
    )
    .bind(ledger_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some((customer, _, currency, memo)) = fee else {
        return Err(StoreError::NotFound(format!("fee {ledger_id}")));
    };
    let cur = super::common::stored_currency(&currency)?;
    let mut tx = db.begin().await?;
    super::allocations::lock_customer(&mut tx, customer).await?;
    // Read again under the lock: a payment may have paid it meanwhile.
    let open: i64 =
        sqlx::query_scalar("SELECT open_minor FROM ledger WHERE id = $1").bind(ledger_id).fetch_one(&mut *tx).await?;
    if open <= 0 {
        return Err(StoreError::Conflict("this fee is paid or waived already".into()));
    }
    let credit: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, invoice_id, \
         payment_id, memo, open_minor) VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL, NULL, $7, $8) RETURNING id",
    )
    .bind(customer)
    .bind(now_ms())
    .bind(super::common::fmt_date(today))
    .bind(EntryKind::Credit)
    .bind(-open)
    .bind(&currency)
    .bind(format!("Waived by {by}: {}", memo.unwrap_or_else(|| "fee".into())))
    .bind(open)
    .fetch_one(&mut *tx)
    .await?;
    let choice =
        super::allocation::Choice { credit: credit as u64, debit: ledger_id as u64, amount: Money::new(open, cur) };
    super::allocations::settle(&mut tx, customer, &[choice], "fee", by).await?;
    tx.commit().await?;
    Ok(credit)
}

/// Reactivates a customer dunning suspended, before they paid (a promise
/// to pay): status `active`, their invoices no longer marked as
/// suspending, and dunning paused until `until` so the next run does not
/// suspend them again at once (field `until`).
pub async fn reactivate(db: &Db, customer_id: i64, until: Date, today: Date, by: &str) -> Result<(), StoreError> {
    if until <= today || super::period::days_between(today, until) > 90 {
        return Err(StoreError::invalid("until", "a day after today, at most 90 days ahead"));
    }
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&db.pool)
        .await?;
    match status.as_deref() {
        None => return Err(StoreError::NotFound(format!("customer {customer_id}"))),
        Some("suspended") => {}
        Some(_) => return Err(StoreError::Conflict("the customer is not suspended".into())),
    }
    let until_s = super::common::fmt_date(until);
    let mut tx = db.begin().await?;
    set_status(&mut tx, customer_id, "active").await?;
    let invoices: Vec<i64> = sqlx::query_scalar(
        "SELECT i.id FROM invoices i WHERE i.customer_id = $1 AND (i.status IN ('open', 'partly-paid') \
         OR i.id IN (SELECT invoice_id FROM dunning_state WHERE suspended <> 0))",
    )
    .bind(customer_id)
    .fetch_all(&mut *tx)
    .await?;
    for inv in invoices {
        sqlx::query(
            "INSERT INTO dunning_state (invoice_id, done, suspended, updated_ms, paused_until) VALUES ($1, 0, 0, $2, $3) \
             ON CONFLICT (invoice_id) DO UPDATE SET suspended = 0, paused_until = excluded.paused_until, \
             updated_ms = excluded.updated_ms",
        )
        .bind(inv)
        .bind(now_ms())
        .bind(&until_s)
        .execute(&mut *tx)
        .await?;
        log(&mut tx, inv, customer_id, today, &format!("reactivated by {by}, dunning paused until {until_s}")).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A suspended customer and the addresses of their CPEs.
#[derive(Debug, Clone, Serialize)]
pub struct Suspended {
    pub customer_id: i64,
    pub name: String,
    pub site: Option<String>,
    pub macs: Vec<String>,
    pub addrs: Vec<String>,
}

/// A suspended customer's row, once per CPE.
#[derive(sqlx::FromRow)]
struct SuspendedRow {
    id: i64,
    name: String,
    site: Option<String>,
    mac: Option<String>,
    addr: Option<String>,
}

pub async fn suspended(db: &Db) -> Result<Vec<Suspended>, StoreError> {
    let rows: Vec<SuspendedRow> = sqlx::query_as(
        "SELECT c.id, c.name, s.name AS site, cd.mac, d.addr FROM customers c LEFT JOIN sites s ON s.id = c.site_id \
         LEFT JOIN customer_devices cd ON cd.customer_id = c.id LEFT JOIN devices d ON d.mac = cd.mac \
         WHERE c.status = 'suspended' ORDER BY c.id, cd.mac",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<Suspended> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|s| s.customer_id != r.id) {
            out.push(Suspended { customer_id: r.id, name: r.name, site: r.site, macs: vec![], addrs: vec![] });
        }
        let s = out.last_mut().expect("pushed");
        if let Some(m) = r.mac
            && !s.macs.contains(&m)
        {
            s.macs.push(m);
        }
        if let Some(a) = r.addr
            && !s.addrs.contains(&a)
        {
            s.addrs.push(a);
        }
    }
    Ok(out)
}

/// `customer_id,name,site,mac,address` rows, one per CPE, every cell through
/// the one CSV rule ([`mast_text_core::csv`]), CRLF line ends (pure).
pub fn suspended_csv(list: &[Suspended]) -> String {
    let mut out = csv::line(["customer_id", "name", "site", "mac", "address"]);
    for s in list {
        let n = s.macs.len().max(s.addrs.len()).max(1);
        for i in 0..n {
            let cells = [
                csv::number(&s.customer_id.to_string()),
                csv::field(&s.name),
                csv::field(s.site.as_deref().unwrap_or("")),
                csv::field(s.macs.get(i).map(String::as_str).unwrap_or("")),
                csv::field(s.addrs.get(i).map(String::as_str).unwrap_or("")),
            ];
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// A RouterOS script that replaces the `mast-suspended` address list (pure;
/// a firewall rule on the router drops or redirects that list).
pub fn suspended_mikrotik(list: &[Suspended]) -> String {
    let mut out = String::from(
        "# Mast: suspended customers. Import with /import file-name=mast-suspended.rsc\n\
         /ip firewall address-list remove [find list=mast-suspended]\n",
    );
    for s in list {
        for a in &s.addrs {
            if a.parse::<std::net::IpAddr>().is_ok() {
                let comment: String = format!("customer {} {}", s.customer_id, s.name)
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || " .-_#".contains(*c))
                    .collect();
                out.push_str(&format!(
                    "/ip firewall address-list add list=mast-suspended address={a} comment=\"{comment}\"\n"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_with_clear_errors() {
        let usd = super::super::money::Currency::USD;
        let s = parse_steps("reminder@3, fee@10:5.00, fee@12:1.5%, suspend@20", usd).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[3], DunningStep::Suspend { after_business_days: 20 });
        for bad in ["remind@3", "fee@10", "suspend@x", "fee@3:200%", "reminder"] {
            assert!(parse_steps(bad, usd).is_err(), "{bad}");
        }
    }

    #[test]
    fn exports_quote_and_filter() {
        let list = vec![Suspended {
            customer_id: 7,
            name: "O\"Neil, Pat".into(),
            site: Some("north".into()),
            macs: vec!["aa:bb:cc:dd:ee:ff".into()],
            addrs: vec!["10.0.0.7".into(), "not-an-ip; /system reset".into()],
        }];
        let csv = suspended_csv(&list);
        assert!(csv.contains("7,\"O\"\"Neil, Pat\",\"north\",\"aa:bb:cc:dd:ee:ff\",\"10.0.0.7\"\r\n"), "{csv}");
        let rsc = suspended_mikrotik(&list);
        assert!(rsc.contains("address=10.0.0.7 comment=\"customer 7 ONeil Pat\""), "{rsc}");
        assert!(!rsc.contains("reset"), "only addresses reach the router script");
    }

    #[test]
    fn suspended_csv_neutralises_every_cell() {
        let h = "=cmd|' /C calc'!A0";
        let list = vec![Suspended {
            customer_id: 8,
            name: h.into(),
            site: Some("+north".into()),
            macs: vec!["-aa".into()],
            addrs: vec!["@10.0.0.8".into()],
        }];
        let csv = suspended_csv(&list);
        assert!(csv.starts_with("\"customer_id\",\"name\""), "{csv}");
        let row = csv.lines().nth(1).unwrap();
        assert_eq!(row, "8,\"'=cmd|' /C calc'!A0\",\"'+north\",\"'-aa\",\"'@10.0.0.8\"", "{csv}");
    }
}
