//! Billing pages: a customer's account on their staff page (balance,
//! invoices with PDFs, payments, autopay, recording a manual payment), the
//! portal's billing section (invoices, pay now, autopay on/off), invoices as
//! HTML and PDF for staff and for the customer, the billing report (with its
//! CSV), and the payment provider's webhook. Every page is maud markup
//! through [`crate::ui`]: stored text (plan names, line descriptions,
//! references) is always escaped.

use super::portal::Customer;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::{autopay, documents, money::Money, pdf::InvoiceDocument, reports, store};
use mast_store::StoreError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Who may record payments and change billing.
pub const CASHIERS: &[Role] = &[Role::Admin, Role::Billing];

type PageResult = Result<Response, ApiError>;

/// Today's date in UTC.
pub fn today() -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

/// A `YYYY-MM-DD` filter of a list's query: `None` when empty; a bad one
/// is an error next to its field.
pub(crate) fn day_filter(errors: &mut FormErrors, name: &str, value: &str) -> Option<jiff::civil::Date> {
    if value.trim().is_empty() {
        return None;
    }
    let d = store::parse_date(name, value.trim()).ok();
    if d.is_none() {
        errors.field(name, "a date as YYYY-MM-DD");
    }
    d
}

/// `12.34 USD`; a stored currency code that is not one prints as is.
pub(crate) fn fmt(minor: i64, cur: &str) -> String {
    store::currency(cur).map(|c| Money::new(minor, c).to_string()).unwrap_or_else(|_| format!("{minor} {cur}"))
}

/// A customer's invoices, newest first, linking to `{base}/{id}` and its PDF.
fn invoice_table(list: &[store::InvoiceRow], base: &str) -> Markup {
    let mut t = Table::new("No invoices yet.")
        .col("Invoice")
        .col("Period")
        .col("Issued")
        .col("Due")
        .num_col("Total")
        .num_col("Open")
        .col("Status")
        .col("");
    for i in list.iter().rev() {
        t.push(vec![
            html! { a href={ (base) "/" (i.id) } { (i.number) } },
            html! { (documents::period_label(&i.period_start, &i.period_end)) },
            html! { (i.issue_date) },
            html! { (i.due_date) },
            html! { (fmt(i.total_minor, &i.currency)) },
            html! { (fmt(i.open_minor, &i.currency)) },
            html! { (super::invoices::status_badge(i.status, &i.due_date)) },
            html! { a href={ (base) "/" (i.id) "/pdf" } { "PDF" } },
        ]);
    }
    html! { (t) }
}

/// A customer's credit notes with their PDFs (`base`: `/credit-notes` or
/// `/portal/credit-notes`); nothing when there are none.
async fn credit_notes_list(st: &AppState, customer: i64, base: &str, staff: bool) -> Result<Markup, ApiError> {
    let notes = store::credit_notes_of_customer(&st.db, customer).await?;
    Ok(html! {
        @if !notes.is_empty() {
            h3 { "Credit notes" }
            ul.credit-notes {
                @for n in &notes {
                    li {
                        @if staff { a href={ (base) "/" (n.id) } { (n.number) } } @else { (n.number) }
                        " · " (n.issue_date) " · " (fmt(n.total_minor, &n.currency)) " for invoice " (n.invoice_number)
                        " · " a href={ (base) "/" (n.id) "/pdf" } { "PDF" }
                    }
                }
            }
        }
    })
}

/// A customer's recent payments (the reference only for staff).
async fn payments_list(st: &AppState, customer: i64, with_reference: bool) -> Result<Markup, ApiError> {
    let pays = store::recent_payments(&st.db, customer, 24).await?;
    Ok(html! {
        @if !pays.is_empty() {
            h3 { "Payments" }
            ul.payments {
                @for p in &pays {
                    li {
                        @if with_reference { a href={ "/payments/" (p.id) } { (p.date) } } @else { (p.date) }
                        " · " (fmt(p.amount_minor, &p.currency)) " · " (p.method.label())
                        @if p.refunded_minor > 0 { " · refunded " (fmt(p.refunded_minor, &p.currency)) }
                        @if with_reference && !p.reference.is_empty() { " · " span.mono { (p.reference) } }
                    }
                }
            }
        }
    })
}

/// What the manual payment form sent (kept when it is shown again).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PaymentForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    date: String,
    /// An open invoice's id to pay first; empty: oldest first.
    #[serde(default)]
    apply_to: String,
    /// One key per rendered form: submitting the same form twice (a double
    /// click, a retried POST) books the payment once.
    #[serde(default)]
    idempotency_key: String,
}

/// The manual payment form, with what was typed and the errors.
fn payment_form(
    csrf: &str,
    customer: i64,
    open: &[store::InvoiceRow],
    input: &PaymentForm,
    errors: &FormErrors,
) -> Markup {
    let f = Fields::new("payment", errors);
    let apply: Vec<(String, String)> = std::iter::once((String::new(), "Oldest invoices first".to_string()))
        .chain(open.iter().map(|i| {
            (i.id.to_string(), format!("{} (open {}, due {})", i.number, fmt(i.open_minor, &i.currency), i.due_date))
        }))
        .collect();
    let apply: Vec<(&str, &str)> = apply.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let methods: Vec<(&str, &str)> = store::PaymentMethod::MANUAL.iter().map(|m| (m.as_str(), m.label())).collect();
    let date = if input.date.is_empty() { today().to_string() } else { input.date.clone() };
    // A re-rendered form keeps its key: the payment it describes is the same.
    let key =
        if input.idempotency_key.is_empty() { crate::fleet::random_secret("") } else { input.idempotency_key.clone() };
    ui::form(
        &format!("/customers/{customer}/payments"),
        Method::Post,
        csrf,
        html! {
            (f.summary())
            (ui::hidden("idempotency_key", &key))
            (f.number_field("amount", "Amount", &input.amount, true, FieldOpts::new().required().max_len(20)))
            (f.select_field("method", "Method", &methods, &input.method, FieldOpts::new().required()))
            (f.text_field("reference", "Reference", &input.reference,
                FieldOpts::new().max_len(200).hint("Check number, bank reference (optional).")))
            (f.text_field("date", "Date", &date, FieldOpts::new().required().max_len(10).placeholder("YYYY-MM-DD")))
            (f.select_field("apply_to", "Apply to", &apply, &input.apply_to,
                FieldOpts::new().hint("The chosen invoice is paid first; the rest pays the oldest open invoices, then stays as credit.")))
            button type="submit" { "Record payment" }
        },
    )
}

/// The billing section of a customer's staff page.
/// Who sees a customer's billing (balance, payment reference, saved card):
/// the roles that may open invoices. Technicians and read-only staff see
/// the customer without it.
pub const BILLING_READERS: &[Role] = &[Role::Admin, Role::Billing, Role::Support];

pub async fn staff_section(c: &Caller, st: &AppState, customer: i64) -> Result<Markup, ApiError> {
    if !BILLING_READERS.contains(&c.role) {
        return Ok(Markup::default());
    }
    section_with_form(c, st, customer, &PaymentForm::default(), &FormErrors::new()).await
}

async fn section_with_form(
    c: &Caller,
    st: &AppState,
    customer: i64,
    input: &PaymentForm,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let Some(acc) = store::account(&st.db, customer).await? else {
        return Ok(html! {
            h2 { "Billing" }
            p.muted { "No billing account (" code { "mast-controller billing account set" } ")." }
        });
    };
    let bal = store::balance(&st.db, customer, today()).await?;
    let overdue = bal.overdue_minor()?;
    let autopay_state = match (&acc.payment_method_label, acc.autopay) {
        (Some(l), true) => format!("on ({l})"),
        (Some(l), false) => format!("off ({l} saved)"),
        (None, _) => "off".into(),
    };
    let invoices =
        store::invoices(&st.db, &store::InvoiceFilter { customer_id: Some(customer), ..Default::default() }).await?;
    let payments = payments_list(st, customer, true).await?;
    let notes = credit_notes_list(st, customer, "/credit-notes", true).await?;
    let open: Vec<store::InvoiceRow> = invoices.iter().filter(|i| i.status.is_unpaid()).cloned().collect();
    Ok(html! {
        h2 { "Billing" }
        (ui::kv_list(&[
            ("Balance", html! { (bal.balance) }),
            ("Overdue", html! { (fmt(overdue, &acc.currency)) }),
            ("Billing day", html! { (acc.billing_day) }),
            ("Payment reference", html! { span.mono { (acc.payment_reference) } }),
            ("Autopay", html! { (autopay_state) }),
        ]))
        h3 { "Invoices (" (invoices.len()) ")" }
        (invoice_table(&invoices, "/invoices"))
        p {
            a href={ "/billing/invoices?customer=" (customer) } { "All their invoices" } " · "
            a href={ "/billing/payments?customer=" (customer) } { "All their payments" }
        }
        (notes)
        (payments)
        @if CASHIERS.contains(&c.role) && st.payments.is_some() {
            (ui::form_with_class("inline", &format!("/customers/{customer}/card-link"), Method::Post, c.csrf.as_deref().unwrap_or(""), html! {
                button #send-card-link type="submit" { "Send a card link" }
                " " span.muted { "Emails the customer a link to save a card on the payment provider's page." }
            }))
        }
        @if CASHIERS.contains(&c.role) {
            h3 #record-payment { "Record a payment" }
            (payment_form(c.csrf.as_deref().unwrap_or(""), customer, &open, input, errors))
        }
    })
}

/// The form's values, checked: every field's problem at once.
fn parse_payment(
    f: &PaymentForm,
    currency: &str,
) -> Result<(Money, store::PaymentMethod, jiff::civil::Date), FormErrors> {
    let mut errors = FormErrors::new();
    let amount = store::currency(currency)
        .map_err(|e| e.to_string())
        .and_then(|cur| Money::parse(f.amount.trim(), cur).map_err(|e| e.to_string()));
    if let Err(e) = &amount {
        errors.field("amount", e.clone());
    }
    let method = store::PaymentMethod::parse(&f.method)
        .ok()
        .filter(|m| store::PaymentMethod::MANUAL.contains(m))
        .ok_or("choose bank transfer, cash or check");
    if let Err(e) = method {
        errors.field("method", e);
    }
    let date = if f.date.trim().is_empty() { Ok(today()) } else { store::parse_date("date", &f.date) };
    if let Err(e) = &date {
        errors.field("date", reason(e));
    }
    match (amount, method, date) {
        (Ok(a), Ok(m), Ok(d)) => Ok((a, m, d)),
        _ => Err(errors),
    }
}

/// An `Invalid` error's reason without the field prefix.
fn reason(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { reason, .. } => reason.clone(),
        e => e.to_string(),
    }
}

/// A store error on a form: a field's rule next to that field, anything
/// else that is the user's input as the form's message; `None` for errors
/// that are not about the input (answered as such).
pub(crate) fn form_errors(e: &StoreError) -> Option<FormErrors> {
    let mut errors = FormErrors::new();
    match e {
        StoreError::Invalid { field, reason } if !field.is_empty() => {
            errors.field(field, reason.clone());
        }
        StoreError::Invalid { reason, .. } => {
            errors.form(reason.clone());
        }
        StoreError::Conflict(m) => {
            errors.form(m.clone());
        }
        _ => return None,
    }
    Some(errors)
}

/// The stored idempotency id of a form key (64 hex characters at most).
fn idempotency(key: &str) -> Option<String> {
    let key = key.trim();
    (!key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("form:{key}"))
}

/// `POST /customers/{id}/payments`: records a manual payment; a bad entry
/// shows the form again (400) with the error next to its field.
pub async fn record_payment(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<PaymentForm>,
) -> PageResult {
    let acc = store::require_account(&st.db, id).await?;
    let parsed = parse_payment(&f, &acc.currency);
    let result = match parsed {
        Ok((amount, method, date)) => {
            let input = store::PaymentInput {
                customer_id: id,
                date,
                amount,
                method,
                reference: Some(f.reference.trim().to_string()).filter(|r| !r.is_empty()),
                // The form's key makes a resubmission a no-op (the store
                // records a provider/payment id once).
                provider_payment_id: idempotency(&f.idempotency_key),
                created_by: c.name.clone(),
            };
            let chosen = match f.apply_to.trim() {
                "" => Vec::new(),
                s => match s.parse::<i64>().ok() {
                    Some(inv) => match store::invoice(&st.db, inv).await? {
                        Some(i) if i.customer_id == id && i.open_minor > 0 => {
                            vec![(inv, Money::new(i.open_minor.min(amount.minor), amount.currency))]
                        }
                        _ => Vec::new(),
                    },
                    None => Vec::new(),
                },
            };
            match store::record_payment_to(&st.db, &input, &st.settings.billing.limits, &chosen).await {
                Ok(p) => Ok((p, amount, method)),
                Err(e) => Err(form_errors(&e).ok_or(e)?),
            }
        }
        Err(errors) => Err(errors),
    };
    match result {
        Ok((p, _, _)) if p.duplicate => Ok(Redirect::to(&format!("/customers/{id}")).into_response()),
        Ok((p, amount, method)) => {
            audit::record(
                &st.db,
                &c.actor(),
                "payment.record",
                &format!("customer {id}"),
                &format!("{amount} {method} #{}", p.id),
            )
            .await?;
            Ok(Redirect::to(&format!("/customers/{id}")).into_response())
        }
        Err(errors) => {
            let name = mast_store::customers::get(&st.db, id).await?.map(|c| c.name).unwrap_or_default();
            let section = section_with_form(&c, &st, id, &f, &errors).await?;
            let body = html! {
                p { a href={ "/customers/" (id) } { "← " (name) } }
                (section)
            };
            Ok((StatusCode::BAD_REQUEST, super::pages::page(&c, "Record a payment", body)).into_response())
        }
    }
}

pub(crate) fn pdf_response(number: &str, bytes: Vec<u8>) -> Response {
    // Invoice numbers are `SERIES-YYYY-NNNNNN`; keep the header value plain anyway.
    let file: String = number.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{file}.pdf\"")),
        ],
        bytes,
    )
        .into_response()
}

pub async fn staff_pdf(State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let inv = documents::invoice(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such invoice"))?;
    Ok(pdf_response(&inv.number, documents::pdf(&st.db, &st.settings.billing.operator, &inv).await?))
}

/// The customer's own invoice (another customer's is a 404, like a missing one).
async fn own_invoice(st: &AppState, c: &Customer, id: i64) -> Result<store::InvoiceRow, ApiError> {
    match documents::invoice(&st.db, id).await? {
        Some(inv) if inv.customer_id == c.id => Ok(inv),
        _ => Err(ApiError::not_found("no such invoice")),
    }
}

pub async fn portal_pdf(c: Customer, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let inv = own_invoice(&st, &c, id).await?;
    Ok(pdf_response(&inv.number, documents::pdf(&st.db, &st.settings.billing.operator, &inv).await?))
}

/// A portal page for the signed-in customer.
async fn portal_page(st: &AppState, c: &Customer, title: &str, body: Markup) -> Result<Markup, ApiError> {
    let name = mast_store::customers::get(&st.db, c.id).await?.map(|x| x.name).unwrap_or_default();
    Ok(ui::portal_layout(&name, &c.csrf, title, body))
}

/// The portal home's billing section (empty without a billing account).
pub async fn portal_section(st: &AppState, c: &Customer) -> Result<Markup, ApiError> {
    let Some(acc) = store::account(&st.db, c.id).await? else { return Ok(html! {}) };
    let bal = store::balance(&st.db, c.id, today()).await?;
    let can_pay = st.payments.is_some() && acc.payment_method_id.is_some();
    let invoices =
        store::invoices(&st.db, &store::InvoiceFilter { customer_id: Some(c.id), ..Default::default() }).await?;
    let payments = payments_list(st, c.id, false).await?;
    let notes = credit_notes_list(st, c.id, "/portal/credit-notes", false).await?;
    let plans = store::plans(&st.db).await?;
    let current = super::service::current_plans(st, c.id, &plans).await?;
    Ok(html! {
        @if !current.is_empty() {
            h2 { "Your plan" }
            ul {
                @for p in &current {
                    li.plan { strong { (p.name) } " · " (super::service::speeds(p)) " · " (p.price) " a month"
                        @if let Some(cap) = p.data_cap_gb { " · " (cap) " GB a month" } }
                }
            }
            @if let Some(next) = super::service::next_invoice(&acc) { p { "Next invoice: " (next) } }
            @let others: Vec<&store::PlanRow> = plans
                .iter()
                .filter(|p| p.active && p.currency == acc.currency && !current.iter().any(|x| x.id == p.id))
                .collect();
            @if !others.is_empty() {
                @let opts: Vec<(String, String)> = others.iter().map(|p| (p.id.to_string(), format!("{} · {} · {}", p.name, super::service::speeds(p), p.price))).collect();
                @let opts: Vec<(&str, &str)> = opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                @let no_errors = FormErrors::new();
                @let f = Fields::new("plan-request", &no_errors);
                details.plan-request {
                    summary { "Ask for a different plan" }
                    (ui::form_with_class("plan-request", "/portal/plan-request", Method::Post, &c.csrf, html! {
                        (f.select_field("plan", "Plan", &opts, "", FieldOpts::new().required()))
                        (f.textarea_field("note", "Anything we should know", "", FieldOpts::new().max_len(2000)))
                        button #ask-plan type="submit" { "Send the request" }
                    }))
                }
            }
        }
        h2 { "Billing" }
        p.balance { "Balance: " strong { (bal.balance) } }
        @if bal.balance_minor > 0 {
            @if can_pay {
                (ui::form_with_class("inline", "/portal/pay", Method::Post, &c.csrf, html! {
                    button type="submit" {
                        "Pay " (bal.balance) " now with "
                        (acc.payment_method_label.as_deref().unwrap_or("your saved card"))
                    }
                }))
            }
            p { "Or pay by bank transfer quoting " strong.mono { (acc.payment_reference) } "." }
        }
        @if st.payments.is_some() {
            p.card {
                @if let Some(l) = &acc.payment_method_label { "Saved card: " strong #saved-card { (l) } " " }
                (ui::form_with_class("inline", "/portal/card", Method::Post, &c.csrf, html! {
                    button #save-card type="submit" { @if acc.payment_method_id.is_some() { "Replace the card" } @else { "Save a card" } }
                }))
            }
        }
        @if acc.payment_method_id.is_some() {
            (ui::form_with_class("inline", "/portal/autopay", Method::Post, &c.csrf, html! {
                (ui::hidden("on", if acc.autopay { "false" } else { "true" }))
                span { "Autopay is " (if acc.autopay { "on" } else { "off" }) "." }
                button type="submit" { (if acc.autopay { "Turn autopay off" } else { "Turn autopay on" }) }
            }))
        }
        @if !invoices.is_empty() {
            h3 { "Invoices" }
            (invoice_table(&invoices, "/portal/invoices"))
        }
        (notes)
        (payments)
    })
}

pub async fn portal_pay(c: Customer, State(st): State<AppState>) -> PageResult {
    let Some(p) = st.payments.clone() else { return Err(ApiError::bad_request("card payments are not set up")) };
    let attempt = 1 + autopay::attempts_since(&st.db, c.id, crate::db::now_ms() - 86_400_000).await?;
    let r = autopay::charge_balance(&st.db, p.as_ref(), c.id, today(), 100 + attempt, "portal").await?;
    let msg = match &r {
        autopay::PayResult::Paid { amount, .. } => format!("Thank you: {amount} paid."),
        autopay::PayResult::Processing { amount } => format!("Your bank payment of {amount} is on its way."),
        autopay::PayResult::Declined { code, message } => format!("Your payment was declined ({code}): {message}"),
        autopay::PayResult::NothingDue => "Nothing to pay.".into(),
        autopay::PayResult::AlreadyAttempted => "That payment is already under way.".into(),
    };
    let (class, role) = if matches!(r, autopay::PayResult::Declined { .. }) {
        ("banner flash flash-error", "alert")
    } else {
        ("banner flash flash-success", "status")
    };
    let body = html! {
        h1 { "Payment" }
        p class=(class) role=(role) { (msg) }
        p { a href="/portal" { "Back" } }
    };
    Ok(portal_page(&st, &c, "Payment", body).await?.into_response())
}

#[derive(Deserialize)]
pub struct AutopayForm {
    on: String,
}

pub async fn portal_autopay(c: Customer, State(st): State<AppState>, Form(f): Form<AutopayForm>) -> PageResult {
    autopay::set_autopay(&st.db, c.id, f.on == "true").await?;
    Ok(Redirect::to("/portal").into_response())
}

/// `POST /api/v1/billing/stripe/webhook`: verified with the signing secret
/// (raw body, `Stripe-Signature`), then applied; 400 on a bad signature.
pub async fn stripe_webhook(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &st.settings.billing.stripe_webhook_secret else {
        return (StatusCode::NOT_FOUND, "webhooks are not configured").into_response();
    };
    let sig = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = crate::db::now_ms() / 1000;
    let ev = match mast_app::billing::provider::verify_webhook(&body, sig, secret.expose(), now, 300) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::warn!(error = %e, "refused a payment webhook");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let applied = match &ev.kind {
        mast_app::billing::provider::WebhookEventKind::SetupCompleted { session_id, .. } => {
            super::cards::apply_setup_webhook(&st, session_id).await.map(|_| None)
        }
        _ => autopay::apply_webhook(&st.db, &ev, today()).await,
    };
    match applied {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        // The database is down or busy: worth the provider's retry.
        Err(e @ (StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Dir(..))) => {
            tracing::warn!(error = %e, event = ev.id, "payment webhook not applied; the provider retries");
            (StatusCode::SERVICE_UNAVAILABLE, "retry later").into_response()
        }
        // An event that can never apply (an unknown customer, an amount or a
        // currency we cannot book): acknowledged, so the provider stops
        // retrying for days, and logged for the staff.
        Err(e) => {
            tracing::error!(error = %e, event = ev.id, "payment webhook cannot be applied; acknowledged and dropped");
            (StatusCode::OK, format!("not applied: {e}")).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct ReportQ {
    month: Option<String>,
    format: Option<String>,
}

/// One of the report's tables: a key and an amount per row.
fn amounts_table<'a>(
    title: &'a str,
    key: &'a str,
    rows: impl IntoIterator<Item = (&'a str, i64)>,
    cur: &str,
) -> Markup {
    let mut t = Table::new("Nothing this month.").caption(title).col(key).num_col("Amount");
    for (k, v) in rows {
        t.push(vec![html! { (k) }, html! { (fmt(v, cur)) }]);
    }
    html! { (t) }
}

fn map_rows(m: &BTreeMap<String, i64>) -> Vec<(&str, i64)> {
    m.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

/// The report's body (pure: the page and its tests).
fn report_body(r: &reports::Report, month_form: Markup) -> Markup {
    let cur = r.currency.as_str();
    let csv_href = format!(
        "/billing/reports?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("month", &r.month)
            .append_pair("format", "csv")
            .finish()
    );
    let churn_tone = if r.churn > 0.02 { "down" } else { "up" };
    let aging = ["Current", "1-30 days", "31-60 days", "61-90 days", "Over 90 days"];
    html! {
        h1 { "Billing report " (r.month) }
        (month_form)
        p { a href=(csv_href) download { "Download CSV" } }
        div.tiles {
            div.tile.up { span.n { (fmt(r.mrr_minor, cur)) } span.label { "MRR" } }
            div.tile.up { span.n { (r.active_subscriptions) } span.label { "active subscriptions" } }
            div class={ "tile " (churn_tone) } {
                span.n { (format!("{:.1} %", r.churn * 100.0)) }
                span.label { "churn (" (r.customers_lost) " of " (r.customers_at_start) ")" }
            }
        }
        (amounts_table("MRR by plan", "Plan", map_rows(&r.mrr_by_plan), cur))
        (amounts_table("MRR by site", "Site", map_rows(&r.mrr_by_site), cur))
        (amounts_table("Invoiced by plan", "Plan", map_rows(&r.revenue_by_plan), cur))
        (amounts_table("Invoiced by site", "Site", map_rows(&r.revenue_by_site), cur))
        (amounts_table("Payments received", "Method", map_rows(&r.payments_by_method), cur))
        (amounts_table("Credit notes, write-offs and refunds", "Kind", map_rows(&r.reductions), cur))
        (amounts_table("Receivables aging", "Past due", aging.iter().copied().zip(r.aging_minor), cur))
    }
}

fn month_form(month: &str, errors: &FormErrors) -> Markup {
    let f = Fields::new("report", errors);
    ui::form_with_class(
        "inline",
        "/billing/reports",
        Method::Get,
        "",
        html! {
            (f.text_field("month", "Month", month, FieldOpts::new().placeholder("YYYY-MM").max_len(7)))
            button type="submit" { "Show" }
        },
    )
}

/// `/billing/reports`: MRR, revenue, payments, aging and churn for a month
/// (`?month=YYYY-MM`, default this month); `&format=csv` downloads it.
pub async fn reports_page(c: Caller, State(st): State<AppState>, Query(q): Query<ReportQ>) -> PageResult {
    let now = today();
    let month = q.month.unwrap_or_else(|| format!("{:04}-{:02}", now.year(), now.month()));
    let cur = store::main_currency(&st.db).await?.unwrap_or_else(|| "USD".into());
    let r = match reports::report(&st.db, &month, now, &cur).await {
        Ok(r) => r,
        Err(StoreError::Invalid { field, reason }) if field == "month" => {
            let mut errors = FormErrors::new();
            errors.field("month", reason);
            let body = html! { h1 { "Billing report" } (month_form(&month, &errors)) };
            return Ok((StatusCode::BAD_REQUEST, super::pages::page(&c, "Billing report", body)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    if q.format.as_deref() == Some("csv") {
        let file: String = r.month.chars().filter(|c| c.is_ascii_digit() || *c == '-').collect();
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"mast-billing-{file}.csv\"")),
            ],
            reports::csv(&r),
        )
            .into_response());
    }
    let body = report_body(&r, month_form(&r.month, &FormErrors::new()));
    Ok(super::pages::page(&c, "Billing report", body).into_response())
}

pub async fn portal_invoice(c: Customer, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let inv = own_invoice(&st, &c, id).await?;
    let doc = documents::document(&st.db, &st.settings.billing.operator, &inv).await?;
    let body = html! {
        p { a href={ "/portal/invoices/" (id) "/pdf" } { "Download PDF" } }
        (ui::kv_list(&[
            ("Status", html! { span #invoice-status { (super::invoices::status_badge(inv.status, &inv.due_date)) } }),
            ("Still to pay", html! { (fmt(inv.open_minor, &inv.currency)) }),
        ]))
        (invoice_html(&doc))
    };
    Ok(portal_page(&st, &c, &format!("Invoice {}", inv.number), body).await?.into_response())
}

/// A party's block on the invoice: name, address lines, contact, tax id.
fn party(p: &mast_app::billing::pdf::Party) -> Markup {
    html! {
        strong { (p.name) } br;
        @for l in &p.lines { (l) br; }
        @for v in [&p.email, &p.phone, &p.tax_id].into_iter().flatten() { (v) br; }
    }
}

/// The invoice as HTML (the same content as the PDF).
pub fn invoice_html(doc: &InvoiceDocument) -> Markup {
    let mut totals: Vec<(&str, &str)> = vec![("Subtotal", doc.subtotal.as_str())];
    if let Some(d) = &doc.discounts {
        totals.push(("Discounts", d.as_str()));
    }
    totals.extend(doc.taxes.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    totals.push(("Total", doc.total.as_str()));
    if let Some(c) = &doc.credits_applied {
        totals.push(("Credits applied", c.as_str()));
    }
    // A credit note is drawn by the same code with its own labels.
    let is_invoice = doc.labels.invoice == "INVOICE";
    let title = if is_invoice { "Invoice".to_string() } else { doc.labels.invoice.clone() };
    let due_label = if is_invoice { "Due".to_string() } else { doc.labels.due_date.clone() };
    html! {
        article.invoice {
            div.inv-head {
                div { (party(&doc.operator)) }
                div {
                    h1 { (title) " " (doc.number) }
                    "Issued " (doc.issue_date) br;
                    (due_label) " " strong { (doc.due_date) } br;
                    "Period " (doc.period)
                }
            }
            h3 { "Bill to" }
            p { (party(&doc.customer)) }
            div.wrap.table-wrap {
                table {
                    thead { tr { th scope="col" { "Description" } th.num scope="col" { "Amount" } } }
                    tbody {
                        @for l in &doc.lines {
                            tr {
                                td {
                                    (l.description)
                                    @if let Some(d) = &l.detail { br; span.muted { (d) } }
                                }
                                td.num { (l.amount) }
                            }
                        }
                        @for (k, v) in &totals { tr { td.num { (k) } td.num { (v) } } }
                        tr { th.num scope="row" { (if is_invoice { "Amount due" } else { doc.labels.amount_due.as_str() }) } th.num { (doc.amount_due) } }
                    }
                }
            }
            @if is_invoice {
                p.banner.degraded { "Pay by " (doc.due_date) " quoting " strong.mono { (doc.payment_reference) } "." }
            }
            @for p in doc.payment_instructions.iter().chain(&doc.notes) { p { (p) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_app::billing::pdf::{DocLine, Party};

    const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;

    /// No markup from the hostile text survives: no tag, no attribute.
    fn assert_escaped(html: &str) {
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"), "{html}");
    }

    #[test]
    fn the_invoice_escapes_stored_text() {
        let party = |n: &str| Party {
            name: n.into(),
            lines: vec![HOSTILE.into()],
            email: Some(HOSTILE.into()),
            ..Default::default()
        };
        let doc = InvoiceDocument {
            logo: None,
            operator: party("Ridge WISP"),
            customer: party(HOSTILE),
            number: "INV-2026-000001".into(),
            lines: vec![DocLine {
                description: HOSTILE.into(),
                detail: Some(HOSTILE.into()),
                amount: "45.00 USD".into(),
            }],
            taxes: vec![(HOSTILE.into(), "1.00 USD".into())],
            payment_reference: "M000001230".into(),
            amount_due: "46.00 USD".into(),
            notes: vec![HOSTILE.into()],
            ..Default::default()
        };
        let html = invoice_html(&doc).into_string();
        assert_escaped(&html);
        assert!(
            html.contains(r#"<article class="invoice">"#) && html.contains("Amount due") && html.contains("M000001230")
        );
    }

    #[test]
    fn the_report_escapes_names_and_links_its_csv() {
        let mut r = reports::Report { month: "2026-03".into(), currency: "USD".into(), ..Default::default() };
        r.mrr_by_plan.insert(HOSTILE.into(), 4500);
        r.payments_by_method.insert("cash".into(), -99);
        let html = report_body(&r, month_form("2026-03", &FormErrors::new())).into_string();
        assert_escaped(&html);
        assert!(html.contains(r#"href="/billing/reports?month=2026-03&amp;format=csv""#), "{html}");
        assert!(html.contains("-0.99 USD"), "negative amounts keep their sign: {html}");
        assert!(html.contains("Nothing this month."), "empty tables say so");
    }

    #[test]
    fn the_payment_form_keeps_input_and_shows_errors() {
        let input = PaymentForm {
            amount: "12.345".into(),
            method: "cash".into(),
            reference: HOSTILE.into(),
            date: "2026-13-01".into(),
            idempotency_key: String::new(),
            apply_to: String::new(),
        };
        let Err(errors) = parse_payment(&input, "USD") else { panic!("bad input accepted") };
        assert!(errors.get("amount").is_some() && errors.get("date").is_some() && errors.get("method").is_none());
        let html = payment_form("tok", 7, &[], &input, &errors).into_string();
        assert_escaped(&html);
        assert!(html.contains(r#"action="/customers/7/payments""#) && html.contains(r#"name="csrf" value="tok""#));
        assert!(html.contains(r#"value="12.345""#) && html.contains(r#"id="payment-amount-error""#), "{html}");
        assert!(html.contains(r#"<option value="cash" selected>"#), "{html}");
        let card = PaymentForm { method: "card".into(), amount: "1".into(), ..Default::default() };
        assert!(
            parse_payment(&card, "USD").unwrap_err().get("method").is_some(),
            "card payments come from the provider"
        );
        let ok = PaymentForm { amount: "0".into(), method: "bank".into(), ..Default::default() };
        assert!(parse_payment(&ok, "USD").is_ok(), "the store refuses a zero amount, naming the field");
    }

    #[test]
    fn store_errors_become_form_errors() {
        let e = form_errors(&StoreError::invalid("reference", "too long")).unwrap();
        assert_eq!(e.get("reference"), Some("too long"));
        let e = form_errors(&StoreError::Conflict("taken".into())).unwrap();
        assert_eq!(e.form_message(), Some("taken"));
        assert!(form_errors(&StoreError::Corrupt("x".into())).is_none(), "not the user's fault: a 500");
        assert!(form_errors(&StoreError::NotFound("x".into())).is_none());
    }

    /// A real (SQLite) controller context in a fresh directory.
    async fn state() -> (std::path::PathBuf, AppState) {
        let dir = std::env::temp_dir().join(format!("mast-web-billing-{}-{}", std::process::id(), crate::db::now_ms()));
        let cfg = mast_app::config::Config { data_dir: dir.clone(), ..Default::default() };
        let app = mast_app::App::open(&cfg).await.unwrap();
        (dir, AppState::new(app, "127.0.0.1:8080".parse().unwrap(), 4433))
    }

    #[tokio::test]
    async fn sections_report_and_invoice_escape_stored_text() {
        use jiff::civil::date;
        let (dir, st) = state().await;
        let db = &st.db;
        let customer = mast_store::customers::CustomerInput { name: HOSTILE.into(), ..Default::default() };
        let id = mast_store::customers::create(db, &customer).await.unwrap().id;
        let account = store::AccountInput {
            customer_id: id,
            billing_day: 1,
            autopay: true,
            provider_customer_id: Some("cus_1".into()),
            payment_method_id: Some("pm_1".into()),
            payment_method_label: Some(HOSTILE.into()),
            ..Default::default()
        };
        store::set_account(db, &account).await.unwrap();
        let t = store::untaxed_class(db).await.unwrap();
        let usd = mast_app::billing::money::Currency::USD;
        let plan = store::NewPlan::new(HOSTILE, Money::new(4500, usd), 1, 1, t);
        let plan = store::add_plan(db, &plan).await.unwrap();
        store::subscribe(db, id, plan.id, date(2026, 3, 1)).await.unwrap();
        let run = mast_app::billing::run::run(db, date(2026, 3, 1), &Default::default()).await.unwrap();
        assert_eq!(run.invoices_issued, 1);
        let pay = store::PaymentInput {
            customer_id: id,
            date: date(2026, 3, 2),
            amount: Money::new(100, usd),
            method: store::PaymentMethod::Check,
            reference: Some(HOSTILE.into()),
            provider_payment_id: None,
            created_by: "test".into(),
        };
        store::record_payment(db, &pay, &Default::default()).await.unwrap();

        let staff = Caller {
            name: "cashier@wisp.test".into(),
            role: Role::Billing,
            user_id: Some(1),
            csrf: Some("tok".into()),
            ip: None,
            path: format!("/customers/{id}"),
            waiting: Default::default(),
        };
        let section = staff_section(&staff, &st, id).await.unwrap().into_string();
        assert_escaped(&section);
        assert!(section.contains("44.00 USD") && section.contains("INV-2026-000001"), "{section}");
        assert!(section.contains(r#"name="csrf" value="tok""#), "the payment form: {section}");
        let reader = Caller { role: Role::ReadOnly, ..staff.clone() };
        assert!(!staff_section(&reader, &st, id).await.unwrap().into_string().contains("Record a payment"));

        let portal = Customer { id, name: "Test customer".into(), csrf: "ptok".into() };
        let home = portal_section(&st, &portal).await.unwrap().into_string();
        // The plan (named with the hostile text) shows, escaped; the
        // payment's reference (the same text) does not.
        assert_escaped(&home);
        assert_eq!(home.matches("&lt;script&gt;").count(), 1, "no payment reference in the portal: {home}");
        assert!(home.contains(r#"<p class="balance">Balance: <strong>44.00 USD</strong></p>"#), "{home}");
        assert!(home.contains(r#"action="/portal/autopay""#) && home.contains(r#"value="ptok""#), "{home}");

        let inv = store::invoices(db, &store::InvoiceFilter::default()).await.unwrap().remove(0);
        let doc = documents::document(db, &st.settings.billing.operator, &inv).await.unwrap();
        let html = invoice_html(&doc).into_string();
        assert_escaped(&html);
        // The logo uploaded on the settings page goes on the invoice PDF.
        assert!(doc.logo.is_none());
        let mut logo = Vec::new();
        {
            let mut e = png::Encoder::new(&mut logo, 2, 1);
            e.set_color(png::ColorType::Rgb);
            let mut w = e.write_header().unwrap();
            w.write_image_data(&[10, 20, 30, 40, 50, 60]).unwrap();
        }
        mast_store::settings::set_logo(db, Some(("image/png", &logo)), "t").await.unwrap();
        let with = documents::document(db, &st.settings.billing.operator, &inv).await.unwrap();
        let decoded = mast_billing_core::pdf::Logo::decode(&logo).unwrap();
        assert_eq!(with.logo.as_deref(), Some(&decoded));
        // Decoded once: the next invoice shares it.
        let again = documents::document(db, &st.settings.billing.operator, &inv).await.unwrap();
        assert!(std::sync::Arc::ptr_eq(with.logo.as_ref().unwrap(), again.logo.as_ref().unwrap()));
        let pdf = String::from_utf8_lossy(&mast_billing_core::pdf::render(&with).unwrap()).to_string();
        assert!(pdf.contains("/Im1 Do") && pdf.contains("/Width 2"), "the logo is drawn");

        let r = reports::report(db, "2026-03", date(2026, 3, 15), "USD").await.unwrap();
        let page = report_body(&r, month_form(&r.month, &FormErrors::new())).into_string();
        assert_escaped(&page);

        // A bad manual payment shows the form again: 400, the error next to
        // its field, what was typed kept; nothing is recorded.
        let bad = PaymentForm {
            amount: "12.345".into(),
            method: "check".into(),
            reference: HOSTILE.into(),
            date: String::new(),
            idempotency_key: String::new(),
            apply_to: String::new(),
        };
        let res = record_payment(staff.clone(), State(st.clone()), Path(id), Form(bad)).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let page =
            String::from_utf8(axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
        assert!(page.contains(r#"id="payment-amount-error""#) && page.contains(r#"value="12.345""#), "{page}");
        assert_escaped(&page);
        let long = PaymentForm {
            amount: "1".into(),
            method: "cash".into(),
            reference: "x".repeat(201),
            date: "2026-03-03".into(),
            idempotency_key: String::new(),
            apply_to: String::new(),
        };
        let res = record_payment(staff.clone(), State(st.clone()), Path(id), Form(long)).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "the store's rule, next to its field");
        let page =
            String::from_utf8(axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
        assert!(page.contains(r#"id="payment-reference-error""#), "{page}");
        assert_eq!(store::recent_payments(db, id, 10).await.unwrap().len(), 1, "nothing recorded");
        let good = PaymentForm {
            amount: "2.50".into(),
            method: "cash".into(),
            reference: String::new(),
            date: "2026-03-03".into(),
            idempotency_key: String::new(),
            apply_to: String::new(),
        };
        let res = record_payment(staff.clone(), State(st.clone()), Path(id), Form(good)).await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(store::balance(db, id, date(2026, 3, 31)).await.unwrap().balance_minor, 4150);
        // The same rendered form posted twice (a double click): booked once.
        let twice = PaymentForm {
            amount: "1.00".into(),
            method: "cash".into(),
            reference: String::new(),
            date: "2026-03-03".into(),
            idempotency_key: "0123456789abcdef0123456789abcdef".into(),
            apply_to: String::new(),
        };
        for _ in 0..2 {
            let res = record_payment(staff.clone(), State(st.clone()), Path(id), Form(twice.clone())).await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
        assert_eq!(store::balance(db, id, date(2026, 3, 31)).await.unwrap().balance_minor, 4050, "one payment of 1.00");
        let err = record_payment(staff, State(st.clone()), Path(9999), Form(PaymentForm::default())).await.unwrap_err();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn invoice_tables_escape_and_link() {
        let row = store::InvoiceRow {
            id: 4,
            number: HOSTILE.into(),
            series: "INV".into(),
            year: 2026,
            seq: 1,
            customer_id: 1,
            period_start: "2026-03-01".into(),
            period_end: "2026-04-01".into(),
            issue_date: "2026-03-01".into(),
            due_date: "2026-03-15".into(),
            currency: "USD".into(),
            subtotal_minor: 0,
            tax_minor: 0,
            total_minor: -99,
            credits_applied_minor: 0,
            amount_due_minor: 0,
            status: store::InvoiceStatus::Open,
            payment_reference: None,
            content_hash: String::new(),
            open_minor: -99,
            credited_minor: 0,
            written_off_minor: 0,
            void_reason: None,
        };
        let html = invoice_table(&[row], "/portal/invoices").into_string();
        assert_escaped(&html);
        assert!(html.contains(r#"href="/portal/invoices/4/pdf""#) && html.contains("-0.99 USD"), "{html}");
        assert!(invoice_table(&[], "/invoices").into_string().contains("No invoices yet."));
    }
}
