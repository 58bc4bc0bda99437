//! Billing shell, the invoice run: on date R, every customer whose billing
//! day is R's day is invoiced for the period starting on R (billing in
//! advance), through the pure core's [`draft`](super::invoice::draft).
//!
//! Guarantees:
//! - **Idempotent**: (customer, period start) is unique on `invoices`; a
//!   customer already invoiced for the period is skipped, so running twice
//!   (or again after a crash) issues nothing new.
//! - **Gapless numbers under SIGKILL**: each batch of invoices is one
//!   transaction holding the counter row (taken first, with a write, so
//!   SQLite's writer lock or PostgreSQL's row lock serialises concurrent
//!   runs), the invoices, lines, taxes, ledger debits, the charges marked
//!   invoiced and the new counter (the numbering.rs contract). A kill before
//!   the commit loses all of it, numbers included.
//! - **One bad customer stops nobody**: a draft that fails (bad data) or a
//!   batch that the database refuses is retried invoice by invoice; what
//!   still fails is reported in [`RunSummary::errors`].
//! - **Preview writes nothing**, not even the `billing_runs` row.
//!
//! Speed: inputs are loaded in bulk ([`store::load_run_inputs`]), invoices
//! are stored in batches of [`DEFAULT_BATCH`] with multi-row INSERTs whose
//! SQL text is reused (sqlx caches the prepared statements per connection).

use super::charges::ChargeKind;
use super::error::BillingError;
use super::invoice::{InvoiceDraft, InvoiceRules, LineKind, draft};
use super::invoices::{InvoiceStatus, LineType};
use super::money::Money;
use super::numbering::SeriesCounter;
use super::period::{DateRange, add_days, iso_date};
use super::store;
use crate::db::{Backend, Db, StoreError, now_ms};
use jiff::civil::Date;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// Invoice number series unless told otherwise.
pub const DEFAULT_SERIES: &str = "INV";
/// Payment terms: due date = issue date + this many days.
pub const DEFAULT_TERMS_DAYS: u32 = 14;
/// Invoices per transaction.
pub const DEFAULT_BATCH: usize = 500;
/// After this many invoices in a row fail on their own, the database is
/// probably the problem, not the data: the run stops.
const MAX_CONSECUTIVE_FAILURES: usize = 10;

/// How far a run got (invoices stored or, in a preview, computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// How to run.
pub struct RunOptions {
    /// Compute everything, store nothing.
    pub preview: bool,
    /// Invoice number series (1-16 of A-Z, 0-9).
    pub series: String,
    /// Days from issue to due date.
    pub terms_days: u32,
    /// Invoices per transaction (at least 1).
    pub batch_size: usize,
    /// Called after each stored batch.
    pub progress: Option<Box<dyn Fn(Progress) + Send + Sync>>,
    /// Asked before each batch: true stops the run at that batch boundary
    /// (shutdown). Every stored batch is whole; running again completes it.
    pub stop: Option<Box<dyn Fn() -> bool + Send + Sync>>,
    /// Told the `billing_runs` id once the run's row exists (not for a
    /// preview): a caller running it in the background shows its progress.
    pub on_start: Option<Box<dyn Fn(i64) + Send + Sync>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            preview: false,
            series: DEFAULT_SERIES.into(),
            terms_days: DEFAULT_TERMS_DAYS,
            batch_size: DEFAULT_BATCH,
            progress: None,
            stop: None,
            on_start: None,
        }
    }
}

/// A customer that could not be invoiced, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CustomerError {
    pub customer_id: i64,
    pub message: String,
}

/// Where the time went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct Timings {
    /// Loading the inputs.
    pub load_ms: u64,
    /// Computing the drafts.
    pub compute_ms: u64,
    /// Storing (0 for a preview).
    pub store_ms: u64,
}

/// What a run did (or, for a preview, would do).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunSummary {
    #[serde(with = "iso_date")]
    pub date: Date,
    /// The period billed (`None` on the 29th-31st: no billing day).
    pub period: Option<DateRange>,
    pub preview: bool,
    /// The `billing_runs` row (not for a preview).
    pub run_id: Option<i64>,
    /// Customers whose billing day is the date.
    pub customers_due: u64,
    /// Invoices stored by this run (a preview: that it would store).
    pub invoices_issued: u64,
    /// Due customers invoiced for the period before this run.
    pub already_issued: u64,
    /// Due customers with nothing to bill (no active subscription, all held).
    pub empty: u64,
    /// Total of the invoices issued, minor units per currency code.
    pub totals: BTreeMap<String, i64>,
    /// Per plan (`Home 25 (USD)`; one-time charges as `One-time charges
    /// (USD)`): how many lines and their net amount, before tax.
    #[serde(default)]
    pub by_plan: BTreeMap<String, PlanTotal>,
    pub errors: Vec<CustomerError>,
    /// First and last number issued (numbers are consecutive in between,
    /// unless another run issued at the same time).
    pub first_number: Option<String>,
    pub last_number: Option<String>,
    pub timings: Timings,
    /// The run stopped early at a batch boundary (shutdown); run it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
}

/// One plan's share of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PlanTotal {
    pub lines: u64,
    pub net_minor: i64,
}

/// Adds a draft's lines to the per-plan totals.
fn add_by_plan(
    by_plan: &mut BTreeMap<String, PlanTotal>,
    catalog: &super::catalog::Catalog,
    d: &super::invoice::InvoiceDraft,
) -> Result<(), RunError> {
    for l in &d.lines {
        let name = match l.kind {
            LineKind::Recurring { plan, .. } => {
                catalog.plan(plan).map(|p| p.name.clone()).unwrap_or_else(|_| format!("plan {plan}"))
            }
            LineKind::OneTime { .. } => "One-time charges".to_string(),
        };
        let t = by_plan.entry(format!("{name} ({})", l.net.currency)).or_default();
        t.lines += 1;
        t.net_minor = t.net_minor.checked_add(l.net.minor).ok_or(BillingError::Overflow)?;
    }
    Ok(())
}

impl RunSummary {
    /// The currency most of the money is in (the one to print), and its total.
    pub fn main_total(&self) -> Option<Money> {
        let (code, minor) = self.totals.iter().max_by_key(|(_, v)| **v)?;
        Some(Money::new(*minor, store::currency(code).ok()?))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Db(#[from] StoreError),
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Billing(#[from] BillingError),
}

/// One invoice waiting to be stored.
struct Pending {
    customer_id: i64,
    payment_reference: String,
    draft: InvoiceDraft,
}

/// What is the same for every invoice of a run.
struct Ctx {
    series: String,
    year: i64,
    period_start: String,
    period_end: String,
    issue_date: String,
    due_date: String,
    run_id: Option<i64>,
    created_ms: i64,
}

/// Multi-row statement texts, built once per shape and reused so every
/// connection prepares each shape once.
#[derive(Default)]
struct SqlCache(HashMap<(&'static str, usize), Arc<str>>);

impl SqlCache {
    fn get(&mut self, key: &'static str, rows: usize, build: impl FnOnce() -> String) -> Arc<str> {
        self.0.entry((key, rows)).or_insert_with(|| Arc::from(build())).clone()
    }
}

/// `head VALUES (...), (...) tail`: each row is `row` with every `?`
/// replaced by a placeholder (other slots are copied as is: literals).
/// SQLite gets anonymous `?` placeholders: binding numbered ones costs a
/// linear search per parameter in SQLite (`sqlite3_bind_parameter_name`),
/// quadratic in a statement of thousands; PostgreSQL needs `$n`.
pub fn multi_values(backend: Backend, head: &str, row: &[&str], rows: usize, tail: &str) -> String {
    let mut s = String::with_capacity(head.len() + tail.len() + rows * row.len() * 7);
    s.push_str(head);
    s.push_str(" VALUES ");
    let mut n = 1;
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for (i, slot) in row.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            match (*slot, backend) {
                ("?", Backend::Sqlite) => s.push('?'),
                ("?", Backend::Postgres) => {
                    let _ = write!(s, "${n}");
                    n += 1;
                }
                (literal, _) => s.push_str(literal),
            }
        }
        s.push(')');
    }
    s.push_str(tail);
    s
}

const INVOICE_CHUNK: usize = 100;
const LINE_CHUNK: usize = 200;
const TAX_CHUNK: usize = 400;
const LEDGER_CHUNK: usize = 500;

const INVOICE_HEAD: &str = "INSERT INTO invoices (number, series, year, seq, customer_id, period_start, period_end, \
    issue_date, due_date, currency, gross_minor, discount_minor, subtotal_minor, tax_minor, total_minor, \
    credits_applied_minor, amount_due_minor, content_hash, status, payment_reference, run_id, created_ms, open_minor)";
const INVOICE_ROW: [&str; 23] = ["?"; 23];
const LINE_HEAD: &str = "INSERT INTO invoice_lines (invoice_id, position, kind, subscription_id, plan_id, charge_id, \
    charge_kind, description, range_start, range_end, amount_minor, discount_minor, net_minor, tax_class_id, tax_minor)";
const LINE_ROW: [&str; 15] = ["?"; 15];
const TAX_HEAD: &str =
    "INSERT INTO invoice_taxes (invoice_id, tax_class_id, component, name, rate_bp, base_minor, tax_minor)";
const TAX_ROW: [&str; 7] = ["?"; 7];
const LEDGER_HEAD: &str = "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, \
    invoice_id, payment_id, memo, open_minor)";
const LEDGER_ROW: [&str; 11] = ["?", "?", "?", "?", "'invoice'", "?", "?", "?", "NULL", "?", "?"];

fn fmt_date(d: Date) -> String {
    iso_date::format(d)
}

fn ms_since(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// Runs (or previews) the invoice run for `date`. See the module doc.
pub async fn run(db: &Db, date: Date, opts: &RunOptions) -> Result<RunSummary, RunError> {
    let year = i32::from(date.year());
    // Validates series and year before anything is loaded or written.
    SeriesCounter::new(&opts.series, year)?;
    let due_date = add_days(date, i64::from(opts.terms_days))?;
    let t0 = Instant::now();
    let inputs = store::load_run_inputs(db, date).await?;
    for s in &inputs.skipped {
        tracing::warn!(row = %s, "billing run: invalid catalog row left out");
    }
    let mut summary = RunSummary {
        date,
        period: inputs.period,
        preview: opts.preview,
        run_id: None,
        customers_due: inputs.due.len() as u64,
        invoices_issued: 0,
        already_issued: 0,
        empty: 0,
        totals: BTreeMap::new(),
        by_plan: BTreeMap::new(),
        errors: Vec::new(),
        first_number: None,
        last_number: None,
        timings: Timings { load_ms: ms_since(t0), ..Timings::default() },
        stopped: false,
    };
    let Some(period) = inputs.period else { return Ok(summary) };

    let t1 = Instant::now();
    let rules = InvoiceRules::default();
    let mut pending: Vec<Pending> = Vec::with_capacity(inputs.due.len());
    for c in inputs.due {
        if inputs.issued.contains(&c.customer_id) {
            summary.already_issued += 1;
            continue;
        }
        let d = match c.input {
            Ok(input) => draft(&input, &inputs.catalog, &rules).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match d {
            Ok(d) if d.is_empty() => summary.empty += 1,
            Ok(d) => {
                pending.push(Pending { customer_id: c.customer_id, payment_reference: c.payment_reference, draft: d })
            }
            Err(message) => summary.errors.push(CustomerError { customer_id: c.customer_id, message }),
        }
    }
    summary.timings.compute_ms = ms_since(t1);

    if opts.preview {
        for p in &pending {
            add_total(&mut summary.totals, p.draft.total)?;
            add_by_plan(&mut summary.by_plan, &inputs.catalog, &p.draft)?;
        }
        summary.invoices_issued = pending.len() as u64;
        if let Some(f) = &opts.progress {
            f(Progress { done: pending.len(), total: pending.len() });
        }
        return Ok(summary);
    }

    let t2 = Instant::now();
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO billing_runs (run_date, started_ms, customers_due, preview) VALUES ($1, $2, $3, 0) RETURNING id",
    )
    .bind(fmt_date(date))
    .bind(now_ms())
    .bind(summary.customers_due as i64)
    .fetch_one(&db.pool)
    .await?;
    summary.run_id = Some(run_id);
    if let Some(f) = &opts.on_start {
        f(run_id);
    }
    let ctx = Ctx {
        series: opts.series.clone(),
        year: i64::from(year),
        period_start: fmt_date(period.start()),
        period_end: fmt_date(period.end()),
        issue_date: fmt_date(date),
        due_date: fmt_date(due_date),
        run_id: Some(run_id),
        created_ms: now_ms(),
    };
    let mut cache = SqlCache::default();
    let batch_size = opts.batch_size.max(1);
    let total = pending.len();
    let mut done = 0;
    set_progress(db, run_id, 0, total).await?;
    for batch in pending.chunks(batch_size) {
        if opts.stop.as_ref().is_some_and(|stop| stop()) {
            tracing::info!(done, total, "billing run stopped at a batch boundary (shutdown); run it again to finish");
            summary.stopped = true;
            break;
        }
        match store_batch(db, &ctx, &mut cache, batch).await {
            Ok(out) => record(&mut summary, &inputs.catalog, batch, out)?,
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, "billing run: a batch failed; storing its invoices one by one");
                let mut failures = 0;
                for one in batch.chunks(1) {
                    match store_batch(db, &ctx, &mut cache, one).await {
                        Ok(out) => {
                            failures = 0;
                            record(&mut summary, &inputs.catalog, one, out)?;
                        }
                        Err(e) => {
                            failures += 1;
                            if failures >= MAX_CONSECUTIVE_FAILURES {
                                return Err(e);
                            }
                            summary
                                .errors
                                .push(CustomerError { customer_id: one[0].customer_id, message: e.to_string() });
                        }
                    }
                }
            }
            Err(e) => {
                summary.errors.push(CustomerError { customer_id: batch[0].customer_id, message: e.to_string() });
            }
        }
        done += batch.len();
        set_progress(db, run_id, done, total).await?;
        if let Some(f) = &opts.progress {
            f(Progress { done, total });
        }
    }
    summary.timings.store_ms = ms_since(t2);
    summary.errors.sort_by_key(|e| e.customer_id);
    let main = summary.main_total();
    let json = serde_json::to_string(&summary).map_err(|e| StoreError::Corrupt(format!("run summary: {e}")))?;
    sqlx::query(
        "UPDATE billing_runs SET finished_ms = $1, invoices = $2, already_issued = $3, errors = $4, total_minor = $5, \
         currency = $6, summary = $8 WHERE id = $7",
    )
    .bind(now_ms())
    .bind(summary.invoices_issued as i64)
    .bind(summary.already_issued as i64)
    .bind(summary.errors.len() as i64)
    .bind(main.map_or(0, |m| m.minor))
    .bind(main.map(|m| m.currency.code().to_string()))
    .bind(run_id)
    .bind(json)
    .execute(&db.pool)
    .await?;
    Ok(summary)
}

async fn set_progress(db: &Db, run_id: i64, done: usize, total: usize) -> Result<(), RunError> {
    sqlx::query("UPDATE billing_runs SET progress_done = $1, progress_total = $2 WHERE id = $3")
        .bind(done as i64)
        .bind(total as i64)
        .bind(run_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// A run as its page shows it: running (with its progress), finished (with
/// its summary) or failed.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub id: i64,
    pub run_date: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub progress_done: i64,
    pub progress_total: i64,
    pub invoices: i64,
    pub errors: i64,
    /// The summary of a finished run (`None` for runs stored before it was kept).
    pub summary: Option<RunSummary>,
    /// Why a run failed part way (its stored batches stay; running again completes it).
    pub failed: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StoredRun {
    id: i64,
    run_date: String,
    started_ms: i64,
    finished_ms: Option<i64>,
    progress_done: i64,
    progress_total: i64,
    invoices: i64,
    errors: i64,
    summary: Option<String>,
    failed: Option<String>,
}

const RUN_COLS: &str = "SELECT id, run_date, started_ms, finished_ms, progress_done, progress_total, invoices, errors, \
    summary, failed FROM billing_runs";

fn run_status(r: StoredRun) -> Result<RunStatus, StoreError> {
    let summary = r
        .summary
        .as_deref()
        .map(serde_json::from_str::<RunSummary>)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("billing run {} summary: {e}", r.id)))?;
    Ok(RunStatus {
        id: r.id,
        run_date: r.run_date,
        started_ms: r.started_ms,
        finished_ms: r.finished_ms,
        progress_done: r.progress_done,
        progress_total: r.progress_total,
        invoices: r.invoices,
        errors: r.errors,
        summary,
        failed: r.failed,
    })
}

/// One run (previews are never stored).
pub async fn run_by_id(db: &Db, id: i64) -> Result<Option<RunStatus>, StoreError> {
    let r: Option<StoredRun> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN_COLS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    r.map(run_status).transpose()
}

/// The latest runs, newest first.
pub async fn recent_runs(db: &Db, limit: i64) -> Result<Vec<RunStatus>, StoreError> {
    let rows: Vec<StoredRun> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{RUN_COLS} ORDER BY id DESC LIMIT $1")))
        .bind(limit.clamp(1, 100))
        .fetch_all(&db.pool)
        .await?;
    rows.into_iter().map(run_status).collect()
}

/// Records that run `id` failed part way with `why` (what it stored stays).
pub async fn mark_run_failed(db: &Db, id: i64, why: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE billing_runs SET finished_ms = $1, failed = $2 WHERE id = $3 AND finished_ms IS NULL")
        .bind(now_ms())
        .bind(why.chars().take(500).collect::<String>())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

fn add_total(totals: &mut BTreeMap<String, i64>, m: Money) -> Result<(), RunError> {
    let t = totals.entry(m.currency.code().to_string()).or_insert(0);
    *t = t.checked_add(m.minor).ok_or(BillingError::Overflow)?;
    Ok(())
}

/// What one stored batch did.
struct Stored {
    /// (index in the batch, number) of each invoice stored.
    numbers: Vec<(usize, String)>,
    /// Invoices of the batch found already issued (a concurrent run).
    already: u64,
}

fn record(
    summary: &mut RunSummary,
    catalog: &super::catalog::Catalog,
    batch: &[Pending],
    out: Stored,
) -> Result<(), RunError> {
    summary.already_issued += out.already;
    for (i, number) in out.numbers {
        add_total(&mut summary.totals, batch[i].draft.total)?;
        add_by_plan(&mut summary.by_plan, catalog, &batch[i].draft)?;
        summary.invoices_issued += 1;
        if summary.first_number.is_none() {
            summary.first_number = Some(number.clone());
        }
        summary.last_number = Some(number);
    }
    Ok(())
}

/// Stores `batch` (sorted by customer id) in one transaction: counter row
/// first (the lock), skip customers invoiced meanwhile, number, insert
/// invoices, lines, taxes and ledger debits, mark charges, write the counter.
async fn store_batch(db: &Db, ctx: &Ctx, cache: &mut SqlCache, batch: &[Pending]) -> Result<Stored, RunError> {
    let mut tx = db.begin().await?;
    let stored = store_batch_in(&mut tx, db.backend, ctx, cache, batch).await?;
    tx.commit().await?;
    Ok(stored)
}

/// [`store_batch`] inside the caller's transaction (left open; rolled back
/// by the caller on an error).
async fn store_batch_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    ctx: &Ctx,
    cache: &mut SqlCache,
    batch: &[Pending],
) -> Result<Stored, RunError> {
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO invoice_counters (series, year, last) VALUES ($1, $2, 0) \
         ON CONFLICT (series, year) DO UPDATE SET last = invoice_counters.last RETURNING last",
    )
    .bind(&ctx.series)
    .bind(ctx.year)
    .fetch_one(&mut **tx)
    .await?;
    let (lo, hi) = (batch[0].customer_id, batch[batch.len() - 1].customer_id);
    let issued: BTreeSet<i64> = sqlx::query_scalar::<_, i64>(
        "SELECT customer_id FROM invoices WHERE period_start = $1 AND customer_id >= $2 AND customer_id <= $3",
    )
    .bind(&ctx.period_start)
    .bind(lo.min(hi))
    .bind(lo.max(hi))
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let todo: Vec<usize> = (0..batch.len()).filter(|&i| !issued.contains(&batch[i].customer_id)).collect();
    let already = (batch.len() - todo.len()) as u64;
    if todo.is_empty() {
        return Ok(Stored { numbers: Vec::new(), already });
    }

    let mut counter = SeriesCounter { series: ctx.series.clone(), year: ctx.year as i32, last: last.max(0) as u64 };
    let mut numbered: Vec<(usize, String, i64)> = Vec::with_capacity(todo.len());
    for &i in &todo {
        let (n, c) = counter.next()?;
        counter = c;
        numbered.push((i, n.to_string(), n.seq() as i64));
    }

    // Invoices; RETURNING maps customer -> invoice id (row order is not promised).
    let mut invoice_ids: HashMap<i64, i64> = HashMap::with_capacity(todo.len());
    for chunk in numbered.chunks(INVOICE_CHUNK) {
        let sql = cache.get("invoices", chunk.len(), || {
            multi_values(backend, INVOICE_HEAD, &INVOICE_ROW, chunk.len(), " RETURNING id, customer_id")
        });
        let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
        for (i, number, seq) in chunk {
            let p = &batch[*i];
            let d = &p.draft;
            let status = if d.amount_due.is_zero() { InvoiceStatus::Paid } else { InvoiceStatus::Open };
            q = q
                .bind(number.as_str())
                .bind(ctx.series.as_str())
                .bind(ctx.year)
                .bind(*seq)
                .bind(p.customer_id)
                .bind(ctx.period_start.as_str())
                .bind(ctx.period_end.as_str())
                .bind(ctx.issue_date.as_str())
                .bind(ctx.due_date.as_str())
                .bind(d.currency.code())
                .bind(d.gross.minor)
                .bind(d.discount_total.minor)
                .bind(d.subtotal.minor)
                .bind(d.tax_total.minor)
                .bind(d.total.minor)
                .bind(d.credits_applied.minor)
                .bind(d.amount_due.minor)
                .bind(format!("{:016x}", d.content_hash))
                .bind(status)
                .bind(p.payment_reference.as_str())
                .bind(ctx.run_id)
                .bind(ctx.created_ms)
                .bind(d.total.minor);
        }
        for (id, customer_id) in q.fetch_all(&mut **tx).await? {
            invoice_ids.insert(customer_id, id);
        }
    }
    let id_of = |i: usize| -> Result<i64, RunError> {
        invoice_ids
            .get(&batch[i].customer_id)
            .copied()
            .ok_or_else(|| RunError::Db(StoreError::Corrupt("an inserted invoice was not returned".into())))
    };

    // Lines.
    let mut lines: Vec<(i64, i64, &super::invoice::InvoiceLine)> = Vec::new();
    let mut taxes: Vec<(i64, &super::invoice::TaxLine)> = Vec::new();
    let mut charges: Vec<(i64, u64)> = Vec::new();
    for &(i, _, _) in &numbered {
        let id = id_of(i)?;
        for (pos, l) in batch[i].draft.lines.iter().enumerate() {
            lines.push((id, pos as i64, l));
            if let LineKind::OneTime { charge, .. } = l.kind {
                charges.push((id, charge));
            }
        }
        for t in &batch[i].draft.taxes {
            taxes.push((id, t));
        }
    }
    for chunk in lines.chunks(LINE_CHUNK) {
        let sql = cache.get("lines", chunk.len(), || multi_values(backend, LINE_HEAD, &LINE_ROW, chunk.len(), ""));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, pos, l) in chunk {
            let (kind, sub, plan, charge, charge_kind) = match l.kind {
                LineKind::Recurring { subscription, plan } => {
                    (LineType::Recurring, Some(subscription as i64), Some(plan as i64), None, None)
                }
                LineKind::OneTime { charge, kind } => {
                    (LineType::OneTime, None, None, Some(charge as i64), Some(ChargeKind::from(kind)))
                }
            };
            q = q
                .bind(*id)
                .bind(*pos)
                .bind(kind)
                .bind(sub)
                .bind(plan)
                .bind(charge)
                .bind(charge_kind)
                .bind(l.description.as_str())
                .bind(l.range.map(|r| fmt_date(r.start())))
                .bind(l.range.map(|r| fmt_date(r.end())))
                .bind(l.amount.minor)
                .bind(l.discount.minor)
                .bind(l.net.minor)
                .bind(l.tax_class.map(|t| t as i64))
                .bind(l.tax.minor);
        }
        q.execute(&mut **tx).await?;
    }
    for chunk in taxes.chunks(TAX_CHUNK) {
        let sql = cache.get("taxes", chunk.len(), || multi_values(backend, TAX_HEAD, &TAX_ROW, chunk.len(), ""));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, t) in chunk {
            q = q
                .bind(*id)
                .bind(t.class as i64)
                .bind(i64::from(t.component))
                .bind(t.name.as_str())
                .bind(i64::from(t.rate_bp))
                .bind(t.base.minor)
                .bind(t.tax.minor);
        }
        q.execute(&mut **tx).await?;
    }
    // Ledger debits: one per invoice, its total.
    for chunk in numbered.chunks(LEDGER_CHUNK) {
        let sql = cache.get("ledger", chunk.len(), || multi_values(backend, LEDGER_HEAD, &LEDGER_ROW, chunk.len(), ""));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, number, _) in chunk {
            let d = &batch[*i].draft;
            q = q
                .bind(batch[*i].customer_id)
                .bind(ctx.created_ms)
                .bind(ctx.issue_date.as_str())
                .bind(ctx.due_date.as_str())
                .bind(d.total.minor)
                .bind(d.currency.code())
                .bind(id_of(*i)?)
                .bind(format!("Invoice {number}"))
                .bind(d.total.minor);
        }
        q.execute(&mut **tx).await?;
    }
    // Customer credit the drafts applied: allocate it to the new invoices.
    for &(i, _, _) in &numbered {
        if batch[i].draft.credits_applied.minor > 0 {
            super::allocations::lock_customer(tx, batch[i].customer_id).await?;
            super::allocations::settle(tx, batch[i].customer_id, &[], "", "invoice run").await?;
        }
    }
    for (invoice_id, charge) in charges {
        let n = sqlx::query("UPDATE charges SET invoice_id = $1 WHERE id = $2 AND invoice_id IS NULL")
            .bind(invoice_id)
            .bind(charge as i64)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Err(RunError::Db(StoreError::Conflict(format!("charge {charge} was invoiced meanwhile"))));
        }
    }
    sqlx::query("UPDATE invoice_counters SET last = $1 WHERE series = $2 AND year = $3")
        .bind(counter.last as i64)
        .bind(&ctx.series)
        .bind(ctx.year)
        .execute(&mut **tx)
        .await?;
    Ok(Stored { numbers: numbered.into_iter().map(|(i, n, _)| (i, n)).collect(), already })
}

/// `1,234,567` (for the CLI's summary line).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `612,345.00 USD`.
pub fn money_thousands(m: Money) -> String {
    let a = m.fmt_amount();
    let (sign, a) = match a.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", a.as_str()),
    };
    let (int, frac) = match a.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (a, None),
    };
    let int = int.parse::<u64>().map(thousands).unwrap_or_else(|_| int.to_string());
    match frac {
        Some(f) => format!("{sign}{int}.{f} {}", m.currency),
        None => format!("{sign}{int} {}", m.currency),
    }
}

mod bridge;
pub use bridge::{DayChangePreview, DayChanged, change_billing_day, preview_day_change};

#[cfg(test)]
mod tests;
