//! Payments in the billing office: the list with filters and totals
//! (`/billing/payments`), a payment's page with what it paid and its
//! refunds, and refunding it (through the payment provider for card and
//! ACH payments, recorded for the others), audited.

use super::billing::{CASHIERS, fmt, today};
use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::{autopay, money::Money, store};
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQ {
    pub method: String,
    pub from: String,
    pub until: String,
    pub unallocated: String,
    pub customer: String,
    pub offset: i64,
}

impl ListQ {
    fn pairs(&self) -> Vec<(&str, &str)> {
        [
            ("method", self.method.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
            ("unallocated", self.unallocated.as_str()),
            ("customer", self.customer.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    fn parse(&self) -> Result<store::PaymentQuery, FormErrors> {
        let mut errors = FormErrors::new();
        let mut q = store::PaymentQuery { limit: PAGE, offset: self.offset.max(0), ..Default::default() };
        if !self.method.is_empty() {
            match store::PaymentMethod::parse(&self.method) {
                Ok(m) => q.method = Some(m),
                Err(_) => {
                    errors.field("method", "choose a method from the list");
                }
            }
        }
        q.from = super::billing::day_filter(&mut errors, "from", &self.from);
        q.until = super::billing::day_filter(&mut errors, "until", &self.until);
        q.unallocated = !self.unallocated.is_empty();
        if !self.customer.is_empty() {
            match self.customer.parse::<i64>() {
                Ok(c) if c > 0 => q.customer_id = Some(c),
                _ => {
                    errors.field("customer", "a customer number");
                }
            }
        }
        if errors.is_empty() { Ok(q) } else { Err(errors) }
    }
}

/// `GET /billing/payments`.
pub async fn list(c: Caller, State(st): State<AppState>, Query(lq): Query<ListQ>) -> PageResult {
    let (query, errors) = match lq.parse() {
        Ok(q) => (Some(q), FormErrors::new()),
        Err(e) => (None, e),
    };
    let (rows, totals) = match &query {
        Some(q) => store::list_payments(&st.db, q).await?,
        None => (Vec::new(), Vec::new()),
    };
    let f = Fields::new("pay", &errors);
    let methods: Vec<(&str, &str)> = std::iter::once(("", "Any"))
        .chain(
            [
                store::PaymentMethod::Bank,
                store::PaymentMethod::Cash,
                store::PaymentMethod::Check,
                store::PaymentMethod::Card,
                store::PaymentMethod::Ach,
            ]
            .iter()
            .map(|m| (m.as_str(), m.label())),
        )
        .collect();
    let mut t = Table::new("No payment matches.")
        .col("Date")
        .col("Customer")
        .col("Method")
        .col("Reference")
        .num_col("Amount")
        .num_col("Refunded")
        .num_col("Unallocated");
    for p in &rows {
        t.push(vec![
            html! { a href={ "/payments/" (p.id) } { (p.payment_date) } },
            html! { a href={ "/customers/" (p.customer_id) } { (p.customer) } },
            html! { (p.method.label()) },
            html! { span.mono { (p.reference.as_deref().unwrap_or("")) } },
            html! { (fmt(p.amount_minor, &p.currency)) },
            html! { (fmt(p.refunded_minor, &p.currency)) },
            html! { (fmt(p.unallocated_minor, &p.currency)) },
        ]);
    }
    let body = html! {
        h1 { "Payments" }
        form.filters #payment-filters method="get" action="/billing/payments" {
            (f.summary())
            (f.select_field("method", "Method", &methods, &lq.method, FieldOpts::new()))
            (f.date_field("from", "Received from", &lq.from, FieldOpts::new()))
            (f.date_field("until", "Received before", &lq.until, FieldOpts::new()))
            (f.checkbox_field("unallocated", "With unallocated money only", !lq.unallocated.is_empty(), FieldOpts::new()))
            @if !lq.customer.is_empty() { (ui::hidden("customer", &lq.customer)) }
            button type="submit" { "Filter" }
            " " a href="/billing/payments" { "Clear" }
        }
        section #payment-totals {
            @for tot in &totals {
                (ui::kv_list(&[
                    ("Payments", html! { (tot.count) }),
                    ("Received", html! { (fmt(tot.amount_minor, &tot.currency)) }),
                    ("Refunded", html! { (fmt(tot.refunded_minor, &tot.currency)) }),
                    ("Unallocated", html! { (fmt(tot.unallocated_minor, &tot.currency)) }),
                ]))
            }
        }
        (t)
        (ui::pager("/billing/payments", &lq.pairs(), lq.offset, PAGE, rows.len(), totals.iter().map(|t| t.count).reduce(|a, b| a + b)))
        p { a href="/billing/invoices" { "Invoices" } " · " a href="/billing/bank" { "Import a bank statement" } }
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok((status, page(&c, "Payments", body)).into_response())
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RefundForm {
    pub amount: String,
    pub reason: String,
}

async fn payment_page(
    c: &Caller,
    st: &AppState,
    id: i64,
    input: &RefundForm,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let p = store::payment(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such payment"))?;
    let paid = store::paid_by_payment(&st.db, id).await?;
    let refunds = store::refunds_of_payment(&st.db, id).await?;
    let cur = p.currency.as_str();
    let mut paid_t = Table::new("Not allocated to anything yet: it is the customer's credit.")
        .col("What")
        .col("Date")
        .num_col("Amount")
        .col("How");
    for a in &paid {
        let what = match (a.invoice_id, &a.invoice_number) {
            (Some(i), Some(n)) => html! { a href={ "/invoices/" (i) } { "Invoice " (n) } },
            _ => html! { (a.memo) },
        };
        paid_t.push(vec![
            what,
            html! { (a.entry_date) },
            html! { (fmt(a.amount_minor, &a.currency)) },
            html! { @if a.chosen { "chosen" } @else { "oldest first" } },
        ]);
    }
    let mut ref_t = Table::new("No refund.").col("Date").num_col("Amount").col("Reason").col("Provider").col("By");
    for r in &refunds {
        ref_t.push(vec![
            html! { (r.refund_date) },
            html! { (fmt(r.amount_minor, &r.currency)) },
            html! { (r.reason) },
            html! { span.mono { (r.provider_refund_id.as_deref().unwrap_or("recorded")) } },
            html! { (r.created_by) },
        ]);
    }
    let left = p.amount_minor - p.refunded_minor;
    let through_provider = autopay::refunds_through_provider(&p);
    let f = Fields::new("refund", errors);
    let csrf = c.csrf.as_deref().unwrap_or("");
    let amount = if input.amount.is_empty() {
        store::currency(cur).map(|c| Money::new(left.max(0), c).fmt_amount()).unwrap_or_default()
    } else {
        input.amount.clone()
    };
    Ok(html! {
        p { a href={ "/customers/" (p.customer_id) } { "← " (p.customer) } " · " a href="/billing/payments" { "Payments" } }
        (ui::kv_list(&[
            ("Received", html! { (p.payment_date) }),
            ("Amount", html! { (fmt(p.amount_minor, cur)) }),
            ("Method", html! { (p.method.label()) }),
            ("Reference", html! { span.mono { (p.reference.as_deref().unwrap_or("-")) } }),
            ("Refunded", html! { span #payment-refunded { (fmt(p.refunded_minor, cur)) } }),
            ("Unallocated", html! { span #payment-unallocated { (fmt(p.unallocated_minor, cur)) } }),
            ("Recorded by", html! { (p.created_by) }),
        ]))
        h2 { "What it paid" }
        (paid_t)
        h2 { "Refunds" }
        (ref_t)
        @if CASHIERS.contains(&c.role) && left > 0 {
            section #refund {
                h2 { "Refund" }
                p.muted {
                    @if through_provider { "Paid back to the card or account it came from, through the payment provider." }
                    @else { "Records money you paid back (cash, check, transfer)." }
                    " Invoices this payment paid open again for what the refund takes, newest first."
                }
                (ui::form_with_class("refund-form", &format!("/payments/{id}/refund"), Method::Post, csrf, html! {
                    (f.summary())
                    (f.number_field("amount", "Amount", &amount, true, FieldOpts::new().required().max_len(20)))
                    (f.text_field("reason", "Reason", &input.reason, FieldOpts::new().required().max_len(500)))
                    button #refund-now type="submit" { "Refund" }
                }))
            }
        }
    })
}

/// `GET /payments/{id}`.
pub async fn show(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let body = payment_page(&c, &st, id, &RefundForm::default(), &FormErrors::new()).await?;
    Ok(page(&c, "Payment", body).into_response())
}

/// `POST /payments/{id}/refund`.
pub async fn refund(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<RefundForm>,
) -> PageResult {
    let p = store::payment(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such payment"))?;
    let cur = store::currency(&p.currency)?;
    let mut errors = FormErrors::new();
    let result = match Money::parse(f.amount.trim(), cur) {
        Err(e) => {
            errors.field("amount", e.to_string());
            None
        }
        Ok(amount) => {
            let input = store::RefundInput {
                payment_id: id,
                amount,
                reason: f.reason.clone(),
                date: today(),
                provider_refund_id: None,
                by: c.name.clone(),
            };
            let r = autopay::refund(&st.db, st.payments.as_deref(), &input).await;
            match r {
                Ok(_) => Some(amount),
                Err(e) => {
                    errors = super::billing::form_errors(&e).ok_or(e)?;
                    None
                }
            }
        }
    };
    match result {
        Some(amount) => {
            audit::record(&st.db, &c.actor(), "payment.refund", &format!("payment {id}"), &amount.to_string()).await?;
            Ok(Redirect::to(&format!("/payments/{id}")).into_response())
        }
        None => {
            let body = payment_page(&c, &st, id, &f, &errors).await?;
            Ok((StatusCode::BAD_REQUEST, page(&c, "Payment", body)).into_response())
        }
    }
}
