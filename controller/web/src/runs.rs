//! The billing office's batch work in the browser: the invoice run
//! (`/billing/runs`: preview what a date would invoice, then run it in the
//! background, its page following the progress batch by batch, then the
//! result and each customer's error) and bank statements
//! (`/billing/bank`: upload a CSV, check it as a dry run or import it, with
//! the report line by line). Both are the same code the CLI and the
//! scheduler use, idempotent, and audited.

use super::billing::{CASHIERS, fmt, today};
use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::bank::ImportReport;
use mast_app::billing::run::{RunOptions, RunStatus, RunSummary};
use mast_store::StoreError;
use mast_store::billing::store;
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// Who runs billing (the same people who record payments).
pub const RUNNERS: &[Role] = CASHIERS;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunForm {
    pub date: String,
    /// `preview` or `run`.
    pub action: String,
}

fn summary(s: &RunSummary) -> Markup {
    let mut errors = Table::new("No error.").col("Customer").col("Problem");
    for e in &s.errors {
        errors.push(vec![
            html! { a href={ "/customers/" (e.customer_id) } { "customer " (e.customer_id) } },
            html! { (e.message) },
        ]);
    }
    let totals: Vec<String> = s.totals.iter().map(|(code, minor)| fmt(*minor, code)).collect();
    let mut plans = Table::new("Nothing.").col("Plan").num_col("Lines").num_col("Net, before tax");
    for (name, t) in &s.by_plan {
        let code = name.rsplit('(').next().unwrap_or("").trim_end_matches(')');
        plans.push(vec![html! { (name) }, html! { (t.lines) }, html! { (fmt(t.net_minor, code)) }]);
    }
    html! {
        section #run-result {
            h2 {
                @if s.preview { "Preview for " } @else { "Run of " } (s.date.to_string())
                " " @if s.preview { (ui::tone_badge(Tone::Neutral, "nothing written")) }
            }
            @match &s.period {
                None => { p { "No billing day falls on the 29th to the 31st: nobody is invoiced on this date." } }
                Some(p) => {
                    (ui::kv_list(&[
                        ("Period", html! { (p.label()) }),
                        ("Customers due", html! { (s.customers_due) }),
                        (if s.preview { "Invoices it would issue" } else { "Invoices issued" }, html! { span #run-issued { (s.invoices_issued) } }),
                        ("Invoiced before", html! { (s.already_issued) }),
                        ("Nothing to bill", html! { (s.empty) }),
                        ("Total", html! { @if totals.is_empty() { "-" } @else { (totals.join(", ")) } }),
                        ("Numbers", html! {
                            @match (&s.first_number, &s.last_number) {
                                (Some(a), Some(b)) => { (a) " to " (b) }
                                _ => { "-" }
                            }
                        }),
                    ]))
                    h3 { "By plan" }
                    div #run-by-plan { (plans) }
                    h3 { "Errors (" (s.errors.len()) ")" }
                    (errors)
                    @if s.stopped { p.callout { "The run stopped early (shutdown): run it again to finish; nothing is issued twice." } }
                }
            }
        }
    }
}

fn runs_page(c: &Caller, date: &str, errors: &FormErrors, result: Option<&RunSummary>, recent: &[RunStatus]) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let f = Fields::new("run", errors);
    let mut past = Table::new("No run yet.").col("Run").col("Date").col("State").num_col("Invoices").num_col("Errors");
    for r in recent {
        past.push(vec![
            html! { a href={ "/billing/runs/" (r.id) } { "#" (r.id) } },
            html! { (r.run_date) },
            html! { (state_badge(r)) },
            html! { (r.invoices) },
            html! { (r.errors) },
        ]);
    }
    page(
        c,
        "Invoice run",
        html! {
            h1 { "Invoice run" }
            p.muted {
                "Customers whose billing day is the date are invoiced for the month that starts on it. "
                "Running a date twice issues nothing new. With automatic billing on, the controller runs today by itself."
            }
            (ui::form_with_class("run-form", "/billing/runs", Method::Post, csrf, html! {
                (f.summary())
                (f.date_field("date", "Date", date, FieldOpts::new().required()))
                button #preview-run type="submit" name="action" value="preview" { "Preview" }
                " "
                button #run-now type="submit" name="action" value="run" { "Run" }
            }))
            @if let Some(s) = result { (summary(s)) }
            h2 { "Recent runs" }
            (past)
            p { a href="/billing/bank" { "Import a bank statement" } " · " a href="/billing/plans" { "Plans" } " · " a href="/billing/reports" { "Billing report" } }
        },
    )
}

fn state_badge(r: &RunStatus) -> Markup {
    match (&r.failed, r.finished_ms) {
        (Some(_), _) => ui::tone_badge(Tone::Down, "failed"),
        (None, Some(_)) if r.summary.as_ref().is_some_and(|s| s.stopped) => ui::tone_badge(Tone::Degraded, "stopped"),
        (None, Some(_)) => ui::tone_badge(Tone::Up, "done"),
        (None, None) => ui::tone_badge(Tone::Neutral, "running"),
    }
}

/// A run's state: while it runs, its progress (polled every second until
/// it ends); then its summary, or why it failed.
fn run_state(r: &RunStatus) -> Markup {
    let status = format!("/billing/runs/{}/status", r.id);
    html! {
        @if r.finished_ms.is_none() {
            div #run-state hx-get=(status) hx-trigger="every 1s" hx-swap="outerHTML" {
                p { (state_badge(r)) " Invoicing: " span #run-done { (r.progress_done) } " of " (r.progress_total) }
                progress #run-progress max=(r.progress_total.max(1)) value=(r.progress_done) {}
                noscript { p { a href={ "/billing/runs/" (r.id) } { "Reload to follow the run" } } }
            }
        } @else {
            div #run-state {
                @if let Some(why) = &r.failed {
                    p.callout #run-failed { (state_badge(r)) " The run stopped: " (why) ". What it stored stays; running the date again completes it and issues nothing twice." }
                }
                @match &r.summary {
                    Some(s) => { (summary(s)) }
                    None => { p { (r.invoices) " invoices issued, " (r.errors) " errors." } }
                }
            }
        }
    }
}

/// `GET /billing/runs`.
pub async fn runs(c: Caller, State(st): State<AppState>) -> PageResult {
    let recent = mast_app::billing::run::recent_runs(&st.db, 10).await?;
    Ok(runs_page(&c, &today().to_string(), &FormErrors::new(), None, &recent).into_response())
}

/// Run `id`, or not found.
async fn stored_run(st: &AppState, id: i64) -> Result<RunStatus, StoreError> {
    mast_app::billing::run::run_by_id(&st.db, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("billing run {id}")))
}

/// `GET /billing/runs/{id}`.
pub async fn show_run(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let r = stored_run(&st, id).await?;
    let body = html! {
        h1 { "Invoice run #" (r.id) " of " (r.run_date) }
        p { a href="/billing/runs" { "All runs" } " · " a href="/billing/invoices" { "Invoices" } }
        (run_state(&r))
    };
    Ok(page(&c, "Invoice run", body).into_response())
}

/// `GET /billing/runs/{id}/status`: the state fragment the run page polls.
pub async fn run_status(State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let r = stored_run(&st, id).await?;
    Ok(run_state(&r).into_response())
}

/// `POST /billing/runs`: a preview (nothing written, shown here) or the
/// run, started in the background (stopped at a batch boundary on
/// shutdown) and followed on its own page.
pub async fn run(c: Caller, State(st): State<AppState>, Form(f): Form<RunForm>) -> PageResult {
    let recent = mast_app::billing::run::recent_runs(&st.db, 10).await?;
    let date = match store::parse_date("date", f.date.trim()) {
        Ok(d) => d,
        Err(e) => {
            let mut errors = FormErrors::new();
            errors.field("date", e.to_string().trim_start_matches("date: ").to_string());
            return Ok((StatusCode::BAD_REQUEST, runs_page(&c, &f.date, &errors, None, &recent)).into_response());
        }
    };
    if f.action != "run" {
        let opts = RunOptions { preview: true, ..Default::default() };
        let s =
            mast_app::billing::run::run(&st.db, date, &opts).await.map_err(|e| StoreError::Corrupt(e.to_string()))?;
        return Ok(runs_page(&c, &date.to_string(), &FormErrors::new(), Some(&s), &recent).into_response());
    }
    let (started_tx, started) = tokio::sync::oneshot::channel::<i64>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    let stop = st.shutdown.clone();
    let opts = RunOptions {
        stop: Some(Box::new(move || stop.is_triggered())),
        on_start: Some(Box::new(move |id| {
            if let Some(tx) = started_tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(id);
            }
        })),
        ..Default::default()
    };
    let (db, actor) = (st.db.clone(), c.actor());
    let job = tokio::spawn(async move {
        let result = mast_app::billing::run::run(&db, date, &opts).await;
        match &result {
            Ok(s) => {
                let what = format!("{} issued, {} errors", s.invoices_issued, s.errors.len());
                if let Err(e) = audit::record(&db, &actor, "billing.run", &date.to_string(), &what).await {
                    tracing::warn!(error = %e, "billing run: the audit record failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, %date, "billing run from the browser failed"),
        }
        result
    });
    match started.await {
        Ok(id) => {
            // A failure after the start is shown on the run's page.
            let db = st.db.clone();
            tokio::spawn(async move {
                if let Ok(Err(e)) = job.await
                    && let Err(e2) = mast_app::billing::run::mark_run_failed(&db, id, &e.to_string()).await
                {
                    tracing::warn!(error = %e2, run = id, "billing run: recording its failure failed");
                }
            });
            Ok(Redirect::to(&format!("/billing/runs/{id}")).into_response())
        }
        // Ended before its row existed: nobody due on that date, or an error.
        Err(_) => match job.await {
            Ok(Ok(s)) => Ok(runs_page(&c, &date.to_string(), &FormErrors::new(), Some(&s), &recent).into_response()),
            Ok(Err(e)) => Err(StoreError::Corrupt(e.to_string()).into()),
            Err(e) => Err(StoreError::Corrupt(format!("billing run task: {e}")).into()),
        },
    }
}

fn report(r: &ImportReport) -> Markup {
    let mut unmatched = Table::new("None.").num_col("Line").col("Reference text");
    for (line, text) in &r.unmatched {
        unmatched.push(vec![html! { (line) }, html! { (text) }]);
    }
    let mut errors = Table::new("None.").num_col("Line").col("Problem");
    for e in &r.errors {
        errors.push(vec![html! { (e.line) }, html! { (e.message) }]);
    }
    html! {
        section #bank-report {
            h2 {
                @if r.dry_run { "Checked " (ui::tone_badge(Tone::Neutral, "nothing written")) }
                @else if r.errors.is_empty() { "Imported" }
                @else { "Not imported " (ui::tone_badge(Tone::Down, "fix the file")) }
            }
            (ui::kv_list(&[
                (if r.dry_run { "Payments it would record" } else { "Payments recorded" }, html! { span #bank-imported { (r.imported) } }),
                ("Imported before", html! { (r.duplicates) }),
                ("Outgoing, skipped", html! { (r.ignored) }),
            ]))
            @if !r.errors.is_empty() { p { "A statement is imported whole or not at all: nothing was recorded." } }
            h3 { "Errors by line (" (r.errors.len()) ")" }
            (errors)
            h3 { "No customer's reference (" (r.unmatched.len()) ")" }
            p.muted { "Record these by hand on the customer's page." }
            (unmatched)
        }
    }
}

fn bank_page(c: &Caller, errors: &FormErrors, result: Option<&ImportReport>) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let file_error = errors.get("statement");
    page(
        c,
        "Bank statement",
        html! {
            h1 { "Bank statement" }
            p.muted { "A CSV export from the bank: payments are matched to customers by the payment reference printed on their invoices; a statement imported twice records nothing twice." }
            form.bank-form method="post" action="/billing/bank" enctype="multipart/form-data" {
                (ui::csrf_field(csrf))
                div.field.has-error[file_error.is_some()] {
                    label for="bank-statement" { "Statement (CSV)" }
                    input #bank-statement type="file" name="statement" accept=".csv,text/csv" required;
                    @if let Some(e) = file_error { p.field-error #bank-statement-error role="alert" { (e) } }
                }
                div.field.field-check {
                    label.check { input type="checkbox" name="dry_run" checked; " Check only (write nothing)" }
                }
                button #import-bank type="submit" { "Upload" }
            }
            @if let Some(r) = result { (report(r)) }
        },
    )
}

/// `GET /billing/bank`.
pub async fn bank(c: Caller) -> Markup {
    bank_page(&c, &FormErrors::new(), None)
}

/// `POST /billing/bank` (multipart: `statement`, `dry_run`).
pub async fn import_bank(c: Caller, State(st): State<AppState>, mut form: Multipart) -> PageResult {
    let mut text: Option<Result<String, String>> = None;
    let mut dry_run = false;
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("statement") => {
                text = Some(match field.bytes().await {
                    Ok(b) => String::from_utf8(b.to_vec())
                        .map_err(|_| "the file is not UTF-8 text (export it as CSV)".to_string()),
                    Err(e) => Err(format!("the upload broke off: {e}")),
                })
            }
            Some("dry_run") => dry_run = true,
            _ => {}
        }
    }
    let text = match text {
        Some(Ok(t)) if !t.trim().is_empty() => t,
        Some(Err(why)) => return refuse(&c, why),
        _ => return refuse(&c, "choose the statement file".into()),
    };
    let r = mast_app::billing::bank::import(&st.db, &text, &c.name, dry_run, &st.settings.billing.limits).await?;
    if !dry_run {
        let what = format!("{} recorded, {} unmatched, {} errors", r.imported, r.unmatched.len(), r.errors.len());
        audit::record(&st.db, &c.actor(), "billing.bank_import", "statement", &what).await?;
    }
    let status = if r.errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok((status, bank_page(&c, &FormErrors::new(), Some(&r))).into_response())
}

fn refuse(c: &Caller, why: String) -> PageResult {
    let mut errors = FormErrors::new();
    errors.field("statement", why);
    Ok((StatusCode::BAD_REQUEST, bank_page(c, &errors, None)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(finished: bool, failed: Option<&str>) -> RunStatus {
        RunStatus {
            id: 7,
            run_date: "2026-12-01".into(),
            started_ms: 1,
            finished_ms: finished.then_some(2),
            progress_done: 500,
            progress_total: 2000,
            invoices: 500,
            errors: 0,
            summary: None,
            failed: failed.map(str::to_string),
        }
    }

    #[test]
    fn a_running_run_polls_its_progress_and_an_ended_one_stops() {
        let running = run_state(&status(false, None)).into_string();
        assert!(running.contains(r#"hx-get="/billing/runs/7/status""#) && running.contains("hx-trigger=\"every 1s\""));
        assert!(running.contains(r#"<span id="run-done">500</span> of 2000"#), "{running}");
        assert!(running.contains(r#"<progress id="run-progress" max="2000" value="500">"#), "{running}");
        let done = run_state(&status(true, None)).into_string();
        assert!(!done.contains("hx-trigger") && done.contains("500 invoices issued"), "{done}");
        let failed = run_state(&status(true, Some("database <gone>"))).into_string();
        assert!(failed.contains("run-failed") && failed.contains("database &lt;gone&gt;"), "escaped: {failed}");
    }
}
