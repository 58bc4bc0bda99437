//! Billing pages: a customer's account on their staff page (balance,
//! invoices with PDFs, payments, autopay, recording a manual payment), the
//! portal's billing section (invoices, pay now, autopay on/off), invoice
//! PDFs for staff and for the customer, and the payment provider's webhook.

use super::pages::csrf_field;
use super::portal::Customer;
use super::{ApiError, AppState, Caller, esc};
use crate::audit;
use crate::staff::Role;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::{autopay, documents, money::Money, store};
use serde::Deserialize;

/// Who may record payments and change billing.
pub const CASHIERS: &[Role] = &[Role::Admin, Role::Billing];

type PageResult = Result<Response, ApiError>;

/// Today's date in UTC.
pub fn today() -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

fn fmt(minor: i64, cur: &str) -> String {
    store::currency(cur).map(|c| Money::new(minor, c).to_string()).unwrap_or_else(|_| format!("{minor} {cur}"))
}

/// (date, amount, method, reference) of a customer's recent payments.
async fn payments(st: &AppState, customer: i64) -> Result<Vec<(String, String, String, String)>, ApiError> {
    Ok(store::recent_payments(&st.db, customer, 24)
        .await?
        .into_iter()
        .map(|p| (p.date, fmt(p.amount_minor, &p.currency), p.method, p.reference))
        .collect())
}

fn invoice_table(list: &[store::InvoiceRow], base: &str) -> String {
    let mut b = String::from(
        "<div class=wrap><table><tr><th>Invoice</th><th>Period</th><th>Issued</th><th>Due</th><th>Total</th><th>Amount due</th><th></th></tr>",
    );
    for i in list.iter().rev() {
        b.push_str(&format!(
            "<tr><td><a href='{base}/{id}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href='{base}/{id}/pdf'>PDF</a></td></tr>",
            esc(&i.number),
            esc(&documents::period_label(&i.period_start, &i.period_end)),
            esc(&i.issue_date),
            esc(&i.due_date),
            fmt(i.total_minor, &i.currency),
            fmt(i.amount_due_minor, &i.currency),
            id = i.id,
        ));
    }
    b.push_str("</table></div>");
    b
}

/// The billing section of a customer's staff page.
pub async fn staff_section(c: &Caller, st: &AppState, customer: i64) -> Result<String, ApiError> {
    let Some(acc) = store::account(&st.db, customer).await? else {
        return Ok(
            "<h2>Billing</h2><p class=muted>No billing account (<code>mast-controller billing account set</code>).</p>"
                .into(),
        );
    };
    let bal = store::balance(&st.db, customer, today()).await?;
    let mut b = format!(
        "<h2>Billing</h2><dl class=facts><dt>Balance</dt><dd>{}</dd><dt>Overdue</dt><dd>{}</dd><dt>Billing day</dt><dd>{}</dd>\
         <dt>Payment reference</dt><dd class=mono>{}</dd><dt>Autopay</dt><dd>{}</dd></dl>",
        esc(&bal.balance),
        fmt(bal.days_1_30_minor + bal.days_31_60_minor + bal.days_61_90_minor + bal.over_90_minor, &acc.currency),
        acc.billing_day,
        esc(&acc.payment_reference),
        match (&acc.payment_method_label, acc.autopay) {
            (Some(l), true) => format!("on ({})", esc(l)),
            (Some(l), false) => format!("off ({} saved)", esc(l)),
            (None, _) => "off".into(),
        }
    );
    let invoices =
        store::invoices(&st.db, &store::InvoiceFilter { customer_id: Some(customer), ..Default::default() }).await?;
    b.push_str(&format!("<h3>Invoices ({})</h3>", invoices.len()));
    b.push_str(&invoice_table(&invoices, "/invoices"));
    let pays = payments(st, customer).await?;
    if !pays.is_empty() {
        b.push_str("<h3>Payments</h3><ul>");
        for (d, a, m, r) in &pays {
            b.push_str(&format!("<li>{} · {} · {} {}</li>", esc(d), esc(a), esc(m), esc(r)));
        }
        b.push_str("</ul>");
    }
    if CASHIERS.contains(&c.role) {
        b.push_str(&format!(
            "<h3>Record a payment</h3><form class=inline method=post action='/customers/{customer}/payments'>{}\
             <label>Amount <input name=amount required inputmode=decimal size=8></label>\
             <label>Method <select name=method><option>bank</option><option>cash</option><option>check</option></select></label>\
             <label>Reference <input name=reference></label><button>Record</button></form>",
            csrf_field(c)
        ));
    }
    Ok(b)
}

#[derive(Deserialize)]
pub struct PaymentForm {
    amount: String,
    method: String,
    #[serde(default)]
    reference: String,
}

pub async fn record_payment(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<PaymentForm>,
) -> PageResult {
    let acc = store::account(&st.db, id).await?.ok_or_else(|| ApiError::bad_request("no billing account"))?;
    let cur = store::currency(&acc.currency)?;
    let amount = Money::parse(&f.amount, cur).map_err(|e| ApiError::bad_request(format!("amount: {e}")))?;
    let p = store::record_payment(
        &st.db,
        &store::PaymentInput {
            customer_id: id,
            date: today(),
            amount,
            method: f.method.clone(),
            reference: Some(f.reference.trim().to_string()).filter(|r| !r.is_empty()),
            provider_payment_id: None,
            created_by: c.name.clone(),
        },
    )
    .await?;
    audit::record(
        &st.db,
        &c.actor(),
        "payment.record",
        &format!("customer {id}"),
        &format!("{amount} {} #{}", f.method, p.id),
    )
    .await?;
    Ok(Redirect::to(&format!("/customers/{id}")).into_response())
}

fn pdf_response(number: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{number}.pdf\"")),
        ],
        bytes,
    )
        .into_response()
}

pub async fn staff_pdf(State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let inv = documents::invoice(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such invoice"))?;
    Ok(pdf_response(&inv.number, documents::pdf(&st.db, &st.settings.billing.operator, &inv).await?))
}

pub async fn portal_pdf(c: Customer, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    match documents::invoice(&st.db, id).await? {
        Some(inv) if inv.customer_id == c.id => {
            Ok(pdf_response(&inv.number, documents::pdf(&st.db, &st.settings.billing.operator, &inv).await?))
        }
        _ => Err(ApiError::not_found("no such invoice")),
    }
}

/// The portal home's billing section.
pub async fn portal_section(st: &AppState, c: &Customer) -> Result<String, ApiError> {
    let Some(acc) = store::account(&st.db, c.id).await? else { return Ok(String::new()) };
    let bal = store::balance(&st.db, c.id, today()).await?;
    let csrf = format!("<input type=hidden name=csrf value='{}'>", esc(&c.csrf));
    let mut b = format!("<h2>Billing</h2><p class=balance>Balance: <strong>{}</strong></p>", esc(&bal.balance));
    if bal.balance_minor > 0 {
        if st.payments.is_some() && acc.payment_method_id.is_some() {
            b.push_str(&format!(
                "<form class=inline method=post action=/portal/pay>{csrf}<button>Pay {} now with {}</button></form>",
                esc(&bal.balance),
                esc(acc.payment_method_label.as_deref().unwrap_or("your saved card"))
            ));
        }
        b.push_str(&format!(
            "<p>Or pay by bank transfer quoting <strong class=mono>{}</strong>.</p>",
            esc(&acc.payment_reference)
        ));
    }
    if acc.payment_method_id.is_some() {
        b.push_str(&format!(
            "<form class=inline method=post action=/portal/autopay>{csrf}<input type=hidden name=on value='{}'>\
             <span>Autopay is {}.</span><button>{}</button></form>",
            if acc.autopay { "false" } else { "true" },
            if acc.autopay { "on" } else { "off" },
            if acc.autopay { "Turn autopay off" } else { "Turn autopay on" },
        ));
    }
    let invoices =
        store::invoices(&st.db, &store::InvoiceFilter { customer_id: Some(c.id), ..Default::default() }).await?;
    if !invoices.is_empty() {
        b.push_str("<h3>Invoices</h3>");
        b.push_str(&invoice_table(&invoices, "/portal/invoices"));
    }
    let pays = payments(st, c.id).await?;
    if !pays.is_empty() {
        b.push_str("<h3>Payments</h3><ul>");
        for (d, a, m, _) in &pays {
            b.push_str(&format!("<li>{} · {} · {}</li>", esc(d), esc(a), esc(m)));
        }
        b.push_str("</ul>");
    }
    Ok(b)
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
    let cls = if matches!(r, autopay::PayResult::Declined { .. }) { "down" } else { "up" };
    Ok(super::portal::frame(
        Some(&c),
        "Payment",
        &format!("<h1>Payment</h1><p class='banner {cls}'>{}</p><p><a href=/portal>Back</a></p>", esc(&msg)),
    )
    .into_response())
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
    match autopay::apply_webhook(&st.db, &ev, today()).await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, event = ev.id, "payment webhook not applied; the provider retries");
            (StatusCode::INTERNAL_SERVER_ERROR, "retry").into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct ReportQ {
    month: Option<String>,
    format: Option<String>,
}

/// `/billing/reports`: MRR, revenue, payments, aging and churn for a month
/// (`?month=YYYY-MM`, default this month); `&format=csv` downloads it.
pub async fn reports_page(
    c: Caller,
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ReportQ>,
) -> PageResult {
    let now = today();
    let month = q.month.unwrap_or_else(|| format!("{:04}-{:02}", now.year(), now.month()));
    let cur = store::main_currency(&st.db).await?.unwrap_or_else(|| "USD".into());
    let r = mast_app::billing::reports::report(&st.db, &month, now, &cur).await?;
    if q.format.as_deref() == Some("csv") {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"mast-billing-{month}.csv\"")),
            ],
            mast_app::billing::reports::csv(&r),
        )
            .into_response());
    }
    let table = |title: &str, m: &std::collections::BTreeMap<String, i64>| {
        let mut b = format!("<h3>{title}</h3><div class=wrap><table>");
        for (k, v) in m {
            b.push_str(&format!("<tr><td>{}</td><td>{}</td></tr>", esc(k), fmt(*v, &cur)));
        }
        b.push_str("</table></div>");
        b
    };
    let mut b = format!(
        "<h1>Billing report {}</h1><form class=inline method=get><label>Month <input name=month value='{}'></label><button>Show</button></form> \
         <a href='/billing/reports?month={}&format=csv'>CSV</a><div class=tiles>\
         <div class='tile up'><span class=n>{}</span><span>MRR</span></div>\
         <div class='tile up'><span class=n>{}</span><span>active subscriptions</span></div>\
         <div class='tile {}'><span class=n>{:.1} %</span><span>churn ({} of {})</span></div></div>",
        esc(&month),
        esc(&month),
        esc(&month),
        fmt(r.mrr_minor, &cur),
        r.active_subscriptions,
        if r.churn > 0.02 { "down" } else { "up" },
        r.churn * 100.0,
        r.customers_lost,
        r.customers_at_start,
    );
    b.push_str(&table("MRR by plan", &r.mrr_by_plan));
    b.push_str(&table("MRR by site", &r.mrr_by_site));
    b.push_str(&table("Invoiced by plan", &r.revenue_by_plan));
    b.push_str(&table("Invoiced by site", &r.revenue_by_site));
    b.push_str(&table("Payments received", &r.payments_by_method));
    let aging: std::collections::BTreeMap<String, i64> =
        ["1 current", "2 1-30 days", "3 31-60 days", "4 61-90 days", "5 over 90 days"]
            .iter()
            .zip(r.aging_minor)
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    b.push_str(&table("Receivables aging", &aging));
    Ok(super::pages::layout(&c, "Billing report", &b).into_response())
}

pub async fn staff_invoice(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let inv = documents::invoice(&st.db, id).await?.ok_or_else(|| ApiError::not_found("no such invoice"))?;
    let doc = documents::document(&st.db, &st.settings.billing.operator, &inv).await?;
    let b = format!(
        "<p><a href='/customers/{}'>Customer</a> · <a href='/invoices/{id}/pdf'>PDF</a></p>{}",
        inv.customer_id,
        invoice_html(&doc)
    );
    Ok(super::pages::layout(&c, &format!("Invoice {}", inv.number), &b).into_response())
}

pub async fn portal_invoice(c: Customer, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    match documents::invoice(&st.db, id).await? {
        Some(inv) if inv.customer_id == c.id => {
            let doc = documents::document(&st.db, &st.settings.billing.operator, &inv).await?;
            let b = format!("<p><a href='/portal/invoices/{id}/pdf'>Download PDF</a></p>{}", invoice_html(&doc));
            Ok(super::portal::frame(Some(&c), &format!("Invoice {}", inv.number), &b).into_response())
        }
        _ => Err(ApiError::not_found("no such invoice")),
    }
}
/// The invoice as an HTML fragment (the same content as the PDF).
pub fn invoice_html(doc: &mast_billing_core::pdf::InvoiceDocument) -> String {
    let e = crate::esc;
    let party = |p: &mast_billing_core::pdf::Party| {
        let mut s = format!("<strong>{}</strong><br>", e(&p.name));
        for l in &p.lines {
            s.push_str(&format!("{}<br>", e(l)));
        }
        for v in [&p.email, &p.phone, &p.tax_id].into_iter().flatten() {
            s.push_str(&format!("{}<br>", e(v)));
        }
        s
    };
    let mut b = format!(
        "<article class=invoice><div class=inv-head><div>{}</div><div><h1>Invoice {}</h1>Issued {}<br>Due <strong>{}</strong><br>Period {}</div></div>\
         <h3>Bill to</h3><p>{}</p><div class=wrap><table><tr><th>Description</th><th class=num>Amount</th></tr>",
        party(&doc.operator),
        e(&doc.number),
        e(&doc.issue_date),
        e(&doc.due_date),
        e(&doc.period),
        party(&doc.customer),
    );
    for l in &doc.lines {
        let detail = l.detail.as_deref().map(|d| format!("<br><span class=muted>{}</span>", e(d))).unwrap_or_default();
        b.push_str(&format!("<tr><td>{}{detail}</td><td class=num>{}</td></tr>", e(&l.description), e(&l.amount)));
    }
    let mut totals = vec![("Subtotal".to_string(), doc.subtotal.clone())];
    if let Some(d) = &doc.discounts {
        totals.push(("Discounts".into(), d.clone()));
    }
    totals.extend(doc.taxes.iter().cloned());
    totals.push(("Total".into(), doc.total.clone()));
    if let Some(c) = &doc.credits_applied {
        totals.push(("Credits applied".into(), c.clone()));
    }
    for (k, v) in &totals {
        b.push_str(&format!("<tr><td class=num>{}</td><td class=num>{}</td></tr>", e(k), e(v)));
    }
    b.push_str(&format!(
        "<tr><th class=num>Amount due</th><th class=num>{}</th></tr></table></div>\
         <p class='banner degraded'>Pay by {} quoting <strong class=mono>{}</strong>.</p>",
        e(&doc.amount_due),
        e(&doc.due_date),
        e(&doc.payment_reference)
    ));
    for p in doc.payment_instructions.iter().chain(&doc.notes) {
        b.push_str(&format!("<p>{}</p>", e(p)));
    }
    b.push_str("</article>");
    b
}
