//! Invoices in the billing office: the list with filters and totals
//! (`/billing/invoices`), an invoice's page with what paid it, its credit
//! notes and the actions that take money back off it (credit note, whole or
//! per line; void; write-off), and credit notes as HTML and PDF. Every
//! action is one store transaction (a ledger entry allocated to the
//! invoice), audited, and refused with the reason next to its field.

use super::billing::{BILLING_READERS, CASHIERS, fmt, invoice_html, today};
use super::pages::page;
use super::portal::Customer;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::{documents, money::Money, store};
use mast_store::StoreError;
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// Rows per page of the list.
const PAGE: i64 = 50;

/// The badge of an invoice status; unpaid ones past their due date read "overdue".
pub(crate) fn status_badge(status: store::InvoiceStatus, due_date: &str) -> Markup {
    let overdue = status.is_unpaid() && due_date < today().to_string().as_str();
    let tone = match status {
        _ if overdue => Tone::Down,
        store::InvoiceStatus::Paid => Tone::Up,
        store::InvoiceStatus::Open | store::InvoiceStatus::PartlyPaid => Tone::Degraded,
        store::InvoiceStatus::WrittenOff | store::InvoiceStatus::Void => Tone::Neutral,
    };
    let text = if overdue { format!("{} · overdue", status.label()) } else { status.label().to_string() };
    ui::tone_badge(tone, &text)
}

/// The list's filters as the query string carries them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQ {
    pub status: String,
    pub overdue: String,
    pub site: String,
    pub plan: String,
    pub from: String,
    pub until: String,
    pub customer: String,
    pub offset: i64,
}

impl ListQ {
    fn pairs(&self) -> Vec<(&str, &str)> {
        [
            ("status", self.status.as_str()),
            ("overdue", self.overdue.as_str()),
            ("site", self.site.as_str()),
            ("plan", self.plan.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
            ("customer", self.customer.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    /// The store query, or the filter errors (shown next to their fields).
    fn parse(&self) -> Result<store::InvoiceQuery, FormErrors> {
        let mut errors = FormErrors::new();
        let mut q = store::InvoiceQuery { limit: PAGE, offset: self.offset.max(0), ..Default::default() };
        match self.status.as_str() {
            "" => {}
            "unpaid" => q.unpaid = true,
            s => match store::InvoiceStatus::parse(s) {
                Ok(s) => q.status = Some(s),
                Err(_) => {
                    errors.field("status", "choose a status from the list");
                }
            },
        }
        if !self.overdue.is_empty() {
            q.overdue_on = Some(today());
        }
        let id = |name: &str, v: &str, errors: &mut FormErrors| -> Option<i64> {
            if v.is_empty() {
                return None;
            }
            let parsed = v.parse::<i64>().ok().filter(|n| *n > 0);
            if parsed.is_none() {
                errors.field(name, "choose one from the list");
            }
            parsed
        };
        q.site_id = id("site", &self.site, &mut errors);
        q.plan_id = id("plan", &self.plan, &mut errors);
        q.customer_id = id("customer", &self.customer, &mut errors);
        q.issued_from = super::billing::day_filter(&mut errors, "from", &self.from);
        q.issued_until = super::billing::day_filter(&mut errors, "until", &self.until);
        if errors.is_empty() { Ok(q) } else { Err(errors) }
    }
}

/// `GET /billing/invoices`: every invoice, filtered, newest first, with the
/// totals of everything the filters match.
pub async fn list(c: Caller, State(st): State<AppState>, Query(lq): Query<ListQ>) -> PageResult {
    let sites = mast_store::monitoring::list_sites(&st.db).await?;
    let plans = store::plans(&st.db).await?;
    let (query, errors) = match lq.parse() {
        Ok(q) => (Some(q), FormErrors::new()),
        Err(e) => (None, e),
    };
    let (rows, totals) = match &query {
        Some(q) => store::list_invoices(&st.db, q).await?,
        None => (Vec::new(), Vec::new()),
    };
    let f = Fields::new("inv", &errors);
    let mut statuses: Vec<(String, String)> =
        vec![(String::new(), "Any".into()), ("unpaid".into(), "Unpaid (open or partly paid)".into())];
    statuses.extend(store::InvoiceStatus::ALL.iter().map(|s| (s.as_str().to_string(), s.label().to_string())));
    let statuses: Vec<(&str, &str)> = statuses.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let site_opts: Vec<(String, String)> = std::iter::once((String::new(), "Any".to_string()))
        .chain(sites.iter().map(|s| (s.id.to_string(), s.name.clone())))
        .collect();
    let site_opts: Vec<(&str, &str)> = site_opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let plan_opts: Vec<(String, String)> = std::iter::once((String::new(), "Any".to_string()))
        .chain(plans.iter().map(|p| (p.id.to_string(), p.name.clone())))
        .collect();
    let plan_opts: Vec<(&str, &str)> = plan_opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut t = Table::new("No invoice matches.")
        .col("Invoice")
        .col("Customer")
        .col("Issued")
        .col("Due")
        .num_col("Total")
        .num_col("Open")
        .col("Status");
    for r in &rows {
        t.push(vec![
            html! { a href={ "/invoices/" (r.id) } { (r.number) } },
            html! { a href={ "/customers/" (r.customer_id) } { (r.customer) } },
            html! { (r.issue_date) },
            html! { (r.due_date) },
            html! { (fmt(r.total_minor, &r.currency)) },
            html! { (fmt(r.open_minor, &r.currency)) },
            html! { (status_badge(r.status, &r.due_date)) },
        ]);
    }
    let body = html! {
        h1 { "Invoices" }
        form.filters #invoice-filters method="get" action="/billing/invoices" {
            (f.summary())
            (f.select_field("status", "Status", &statuses, &lq.status, FieldOpts::new()))
            (f.checkbox_field("overdue", "Overdue only", !lq.overdue.is_empty(), FieldOpts::new()))
            (f.select_field("site", "Site", &site_opts, &lq.site, FieldOpts::new()))
            (f.select_field("plan", "Plan", &plan_opts, &lq.plan, FieldOpts::new()))
            (f.date_field("from", "Issued from", &lq.from, FieldOpts::new()))
            (f.date_field("until", "Issued before", &lq.until, FieldOpts::new()))
            @if !lq.customer.is_empty() { (ui::hidden("customer", &lq.customer)) }
            button type="submit" { "Filter" }
            " " a href="/billing/invoices" { "Clear" }
        }
        section #invoice-totals {
            @for tot in &totals {
                (ui::kv_list(&[
                    ("Invoices", html! { span.count { (tot.count) } }),
                    ("Total", html! { (fmt(tot.total_minor, &tot.currency)) }),
                    ("Open", html! { span.open-total { (fmt(tot.open_minor, &tot.currency)) } }),
                ]))
            }
        }
        (t)
        (ui::pager("/billing/invoices", &lq.pairs(), lq.offset, PAGE, rows.len(), totals.iter().map(|t| t.count).reduce(|a, b| a + b)))
        p { a href="/billing/payments" { "Payments" } " · " a href="/billing/dunning" { "Dunning" } " · " a href="/billing/runs" { "Invoice run" } " · " a href="/billing/reports" { "Billing report" } }
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok((status, page(&c, "Invoices", body)).into_response())
}

/// What an action form sent (kept when it is shown again).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    pub reason: String,
    pub amount: String,
    /// Credit note: `whole` or `lines`.
    pub mode: String,
    /// The form's other fields (`line_N` amounts).
    #[serde(flatten)]
    pub rest: std::collections::BTreeMap<String, String>,
}

/// Which form an error belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Credit,
    Void,
    WriteOff,
}

struct Shown<'a> {
    which: Which,
    input: &'a ActionForm,
    errors: &'a FormErrors,
}

async fn invoice_page(c: &Caller, st: &AppState, id: i64, shown: Option<Shown<'_>>) -> Result<Markup, ApiError> {
    let inv = store::invoice(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such invoice"))?;
    let doc = documents::document(&st.db, &st.settings.billing.operator, &inv).await?;
    let paid = store::paid_into_invoice(&st.db, id).await?;
    let notes = store::credit_notes_of_invoice(&st.db, id).await?;
    let cur = inv.currency.as_str();
    let mut paid_t = Table::new("Nothing received against it yet.").col("Date").col("From").num_col("Amount");
    for a in &paid {
        let from = match (a.kind, a.payment_id) {
            (store::EntryKind::Payment, Some(p)) => html! { a href={ "/payments/" (p) } { (a.memo) } },
            _ => html! { (a.memo) },
        };
        paid_t.push(vec![html! { (a.entry_date) }, from, html! { (fmt(a.amount_minor, &a.currency)) }]);
    }
    let mut notes_t = Table::new("None.").col("Credit note").col("Date").col("Reason").num_col("Total").col("");
    for n in &notes {
        notes_t.push(vec![
            html! { a href={ "/credit-notes/" (n.id) } { (n.number) } },
            html! { (n.issue_date) },
            html! { (n.reason) },
            html! { (fmt(n.total_minor, &n.currency)) },
            html! { a href={ "/credit-notes/" (n.id) "/pdf" } { "PDF" } },
        ]);
    }
    let empty = FormErrors::new();
    let blank = ActionForm::default();
    let shown_for = |w: Which| -> (&FormErrors, &ActionForm) {
        match &shown {
            Some(s) if s.which == w => (s.errors, s.input),
            _ => (&empty, &blank),
        }
    };
    let csrf = c.csrf.as_deref().unwrap_or("");
    let actions = if CASHIERS.contains(&c.role) && inv.status != store::InvoiceStatus::Void {
        let creditable = store::creditable_lines(&st.db, id).await?;
        let (ce, ci) = shown_for(Which::Credit);
        let cf = Fields::new("credit", ce);
        let (ve, vi) = shown_for(Which::Void);
        let vf = Fields::new("void", ve);
        let (we, wi) = shown_for(Which::WriteOff);
        let wf = Fields::new("writeoff", we);
        let mode = if ci.mode == "lines" { "lines" } else { "whole" };
        let open = Money::new(inv.open_minor, store::currency(cur)?).fmt_amount();
        html! {
            section #credit-note {
                h2 { "Credit note" }
                p.muted { "Takes money back off this invoice with its tax, numbered in the credit-note series. What the invoice has open goes down first; anything beyond becomes the customer's credit." }
                (ui::form_with_class("credit-form", &format!("/invoices/{id}/credit"), Method::Post, csrf, html! {
                    (cf.summary())
                    (cf.select_field("mode", "Credit", &[("whole", "The whole invoice (what is left of it)"), ("lines", "Amounts per line (below)")], mode, FieldOpts::new()))
                    @for (pos, desc, net, tax) in &creditable {
                        @let name = format!("line_{pos}");
                        (cf.number_field(&name, desc, ci.rest.get(&name).map(String::as_str).unwrap_or(""), true,
                            FieldOpts::new().max_len(20).hint(&format!("up to {} net (+ {} tax left)", fmt(*net, cur), fmt(*tax, cur)))))
                    }
                    (cf.text_field("reason", "Reason", &ci.reason, FieldOpts::new().required().max_len(500)))
                    button #issue-credit type="submit" { "Issue credit note" }
                }))
            }
            @if inv.status.is_unpaid() {
                section #write-off {
                    h2 { "Write off" }
                    (ui::form_with_class("write-off-form", &format!("/invoices/{id}/write-off"), Method::Post, csrf, html! {
                        (wf.summary())
                        (wf.number_field("amount", "Amount", if wi.amount.is_empty() { &open } else { &wi.amount }, true, FieldOpts::new().required().max_len(20)))
                        (wf.text_field("reason", "Reason", &wi.reason, FieldOpts::new().required().max_len(500).hint("e.g. customer moved away, not collectable")))
                        button #write-off-now type="submit" { "Write off" }
                    }))
                }
            }
            @if inv.written_off_minor == 0 {
                section #void {
                    h2 { "Void" }
                    p.muted { "For an invoice issued by mistake: its number stays used, a credit note takes back what is left of it, and payments that paid it go back to the customer." }
                    (ui::form_with_class("void-form", &format!("/invoices/{id}/void"), Method::Post, csrf, html! {
                        (vf.summary())
                        (vf.text_field("reason", "Reason", &vi.reason, FieldOpts::new().required().max_len(500)))
                        button.danger #void-now type="submit" { "Void invoice" }
                    }))
                }
            }
        }
    } else {
        html! {}
    };
    Ok(html! {
        p {
            a href={ "/customers/" (inv.customer_id) } { "Customer" } " · "
            a href={ "/invoices/" (id) "/pdf" } { "PDF" } " · "
            a href={ "/billing/invoices?customer=" (inv.customer_id) } { "Their invoices" }
        }
        (ui::kv_list(&[
            ("Status", html! { span #invoice-status { (status_badge(inv.status, &inv.due_date)) } }),
            ("Total", html! { (fmt(inv.total_minor, cur)) }),
            ("Open", html! { span #invoice-open { (fmt(inv.open_minor, cur)) } }),
            ("Credited", html! { (fmt(inv.credited_minor, cur)) }),
            ("Written off", html! { (fmt(inv.written_off_minor, cur)) }),
        ]))
        @if let Some(r) = &inv.void_reason { p.callout { "Void: " (r) } }
        h2 { "Paid by" }
        (paid_t)
        h2 { "Credit notes" }
        (notes_t)
        (actions)
        (invoice_html(&doc))
    })
}

/// `GET /invoices/{id}`.
pub async fn show(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let number = store::invoice(&st.db, id).await?.map(|i| i.number).unwrap_or_default();
    let body = invoice_page(&c, &st, id, None).await?;
    Ok(page(&c, &format!("Invoice {number}"), body).into_response())
}

/// A refused action: the invoice page again (400) with the errors next to
/// the action's fields and what was typed.
async fn refused(
    c: &Caller,
    st: &AppState,
    id: i64,
    which: Which,
    input: &ActionForm,
    errors: FormErrors,
) -> PageResult {
    let number = store::invoice(&st.db, id).await?.map(|i| i.number).unwrap_or_default();
    let body = invoice_page(c, st, id, Some(Shown { which, input, errors: &errors })).await?;
    Ok((StatusCode::BAD_REQUEST, page(c, &format!("Invoice {number}"), body)).into_response())
}

fn errors_of(e: StoreError) -> Result<FormErrors, ApiError> {
    match super::billing::form_errors(&e) {
        Some(errors) => Ok(errors),
        None => Err(e.into()),
    }
}

async fn currency_of(st: &AppState, id: i64) -> Result<mast_app::billing::money::Currency, ApiError> {
    let inv = store::invoice(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such invoice"))?;
    Ok(store::currency(&inv.currency)?)
}

/// `POST /invoices/{id}/credit`: a credit note, whole or per line.
pub async fn credit(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> PageResult {
    let cur = currency_of(&st, id).await?;
    let lines = if f.mode == "lines" {
        let mut errors = FormErrors::new();
        let mut v = Vec::new();
        for (k, val) in &f.rest {
            let Some(pos) = k.strip_prefix("line_").and_then(|p| p.parse::<i64>().ok()) else { continue };
            if val.trim().is_empty() {
                continue;
            }
            match Money::parse(val.trim(), cur) {
                Ok(m) => v.push((pos, m)),
                Err(e) => {
                    errors.field(k, e.to_string());
                }
            }
        }
        if v.is_empty() && errors.is_empty() {
            errors.form("type an amount for at least one line, or credit the whole invoice");
        }
        if !errors.is_empty() {
            return refused(&c, &st, id, Which::Credit, &f, errors).await;
        }
        Some(v)
    } else {
        None
    };
    let input =
        store::CreditNoteInput { invoice_id: id, lines, reason: f.reason.clone(), date: today(), by: c.name.clone() };
    match store::issue_credit_note(&st.db, &input).await {
        Ok(n) => {
            let detail = format!("{} for {}", n.number, fmt(n.total_minor, cur.code()));
            audit::record(&st.db, &c.actor(), "invoice.credit", &format!("invoice {id}"), &detail).await?;
            Ok(Redirect::to(&format!("/invoices/{id}")).into_response())
        }
        Err(e) => refused(&c, &st, id, Which::Credit, &f, errors_of(e)?).await,
    }
}

/// `POST /invoices/{id}/void`.
pub async fn void(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Form(f): Form<ActionForm>) -> PageResult {
    match store::void_invoice(&st.db, id, &f.reason, today(), &c.name).await {
        Ok(n) => {
            audit::record(&st.db, &c.actor(), "invoice.void", &format!("invoice {id}"), &n.number).await?;
            Ok(Redirect::to(&format!("/invoices/{id}")).into_response())
        }
        Err(e) => refused(&c, &st, id, Which::Void, &f, errors_of(e)?).await,
    }
}

/// `POST /invoices/{id}/write-off`.
pub async fn write_off(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> PageResult {
    let cur = currency_of(&st, id).await?;
    let amount = match Money::parse(f.amount.trim(), cur) {
        Ok(m) => m,
        Err(e) => {
            let mut errors = FormErrors::new();
            errors.field("amount", e.to_string());
            return refused(&c, &st, id, Which::WriteOff, &f, errors).await;
        }
    };
    match store::write_off(&st.db, id, Some(amount), &f.reason, today(), &c.name).await {
        Ok(_) => {
            audit::record(&st.db, &c.actor(), "invoice.write-off", &format!("invoice {id}"), &amount.to_string())
                .await?;
            Ok(Redirect::to(&format!("/invoices/{id}")).into_response())
        }
        Err(e) => refused(&c, &st, id, Which::WriteOff, &f, errors_of(e)?).await,
    }
}

/// `GET /credit-notes/{id}`.
pub async fn credit_note(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let n = store::credit_note(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such credit note"))?;
    let doc = documents::credit_note_document(&st.db, &st.settings.billing.operator, &n).await?;
    let body = html! {
        p {
            a href={ "/invoices/" (n.invoice_id) } { "Invoice " (n.invoice_number) } " · "
            a href={ "/credit-notes/" (id) "/pdf" } { "PDF" }
        }
        (invoice_html(&doc))
    };
    Ok(page(&c, &format!("Credit note {}", n.number), body).into_response())
}

/// `GET /credit-notes/{id}/pdf`.
pub async fn credit_note_pdf(State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let n = store::credit_note(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such credit note"))?;
    let bytes = documents::credit_note_pdf(&st.db, &st.settings.billing.operator, &n).await?;
    Ok(super::billing::pdf_response(&n.number, bytes))
}

/// `GET /portal/credit-notes/{id}/pdf`: the customer's own (another's is a 404).
pub async fn portal_credit_note_pdf(c: Customer, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let n = match store::credit_note(&st.db, id).await? {
        Some(n) if n.customer_id == c.id => n,
        _ => return Err(ApiError::not_found("no such credit note")),
    };
    let bytes = documents::credit_note_pdf(&st.db, &st.settings.billing.operator, &n).await?;
    Ok(super::billing::pdf_response(&n.number, bytes))
}

/// Who may see the lists.
pub const READERS: &[crate::staff::Role] = BILLING_READERS;
