//! A customer's service, in the browser (`/customers/{id}/service`): the
//! billing account (billing day, currency), subscriptions with their plan
//! and speeds, subscribe, change plan (the prorated effect previewed from
//! the pure core before saving), cancel on a date, holds (vacation,
//! seasonal) and one-time charges. Errors are shown next to their field in
//! the form they belong to; every change is audited.

use super::billing::{BILLING_READERS, CASHIERS, today};
use super::network::form_errors;
use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::money::Money;
use mast_app::billing::period::{BillingDay, next_period, period_containing};
use mast_store::StoreError;
use mast_store::billing::store::{self, Account, ChangePreview, PlanRow, SubscriptionRow};
use std::collections::BTreeMap;

type PageResult = Result<Response, ApiError>;
type Typed = BTreeMap<String, String>;

/// Which form failed, with its errors and what was typed.
struct Failed<'a> {
    form: &'a str,
    errors: FormErrors,
    typed: &'a Typed,
}

/// The date of the account's next invoice, counted from today: the next
/// billing day, or later if a billing-day change billed ahead up to
/// `bill_from`.
pub fn next_invoice(a: &Account) -> Option<String> {
    let day = BillingDay::new(u8::try_from(a.billing_day).ok()?).ok()?;
    let next = next_period(period_containing(day, today()).ok()?).ok()?.start().to_string();
    Some(match &a.bill_from {
        Some(from) if *from > next => from.clone(),
        _ => next,
    })
}

/// "25 ↓ / 5 ↑ Mbit/s".
pub fn speeds(p: &PlanRow) -> String {
    format!("{} ↓ / {} ↑ Mbit/s", mbps(p.down_kbps), mbps(p.up_kbps))
}

/// kbit/s as Mbit/s without trailing zeros: 25000 → `25`, 2500 → `2.5`, 1 → `0.001`.
pub fn mbps(k: i64) -> String {
    let s = format!("{}.{:03}", k / 1000, (k % 1000).abs());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Active on `today`: started, not ended.
fn active(s: &SubscriptionRow, today: &str) -> bool {
    s.start_date.as_str() <= today && s.end_date.as_deref().is_none_or(|e| e > today)
}

/// The plans a customer is on today: each active subscription's plan
/// after the plan changes that have taken effect (of `plans`, the catalog).
pub async fn current_plans(st: &AppState, customer: i64, plans: &[PlanRow]) -> Result<Vec<PlanRow>, ApiError> {
    let now = today().to_string();
    let changes = store::customer_plan_changes(&st.db, customer).await?;
    Ok(store::customer_subscriptions(&st.db, customer)
        .await?
        .iter()
        .filter(|s| active(s, &now))
        .filter_map(|s| {
            // Changes come in date order: the last one in effect wins.
            let changed = changes.iter().rev().find(|(sid, on, _)| *sid == s.id && on.as_str() <= now.as_str());
            let name = changed.map_or(s.plan.as_str(), |(_, _, n)| n.as_str());
            plans.iter().find(|p| p.name == name).cloned()
        })
        .collect())
}

/// The customer page's summary: current plans with speeds, the next
/// invoice date, and the link here.
pub async fn summary(c: &Caller, st: &AppState, customer: i64) -> Result<Markup, ApiError> {
    if !BILLING_READERS.contains(&c.role) {
        return Ok(Markup::default());
    }
    let acc = store::account(&st.db, customer).await?;
    let current = current_plans(st, customer, &store::plans(&st.db).await?).await?;
    Ok(html! {
        h2 { "Service" }
        @if current.is_empty() { p.muted { "No plan." } }
        ul {
            @for p in &current {
                li #customer-plan { strong { (p.name) } " · " (speeds(p)) " · " (p.price) " a month" }
            }
        }
        @if let Some(next) = acc.as_ref().and_then(next_invoice) {
            p { "Next invoice: " (next) }
        }
        p { a #manage-service href={ "/customers/" (customer) "/service" } { "Manage service" } }
    })
}

/// What the service page shows of one customer.
struct Service<'a> {
    name: &'a str,
    customer: i64,
    acc: Option<&'a Account>,
    subs: &'a [SubscriptionRow],
    plans: &'a [PlanRow],
    /// (subscription, from, new plan).
    changes: &'a [(i64, String, String)],
    discounts: &'a [store::DiscountRow],
}

fn render(c: &Caller, v: &Service, fail: Option<&Failed>) -> Markup {
    let Service { name, customer, acc, subs, plans, changes, discounts } = *v;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let cashier = CASHIERS.contains(&c.role);
    let none = FormErrors::new();
    let errors = |form: &str| fail.filter(|f| f.form == form).map_or(&none, |f| &f.errors);
    let typed = |form: &str, field: &str, default: &str| -> String {
        fail.filter(|f| f.form == form).and_then(|f| f.typed.get(field).cloned()).unwrap_or_else(|| default.to_string())
    };
    let now = today().to_string();
    let sold: Vec<(String, String)> = plans
        .iter()
        .filter(|p| p.active && acc.is_some_and(|a| a.currency == p.currency))
        .map(|p| (p.id.to_string(), format!("{} · {} · {}", p.name, p.price, speeds(p))))
        .collect();
    let sold: Vec<(&str, &str)> = sold.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut t =
        Table::new("No subscription yet.").col("Plan").col("Speeds").num_col("Price").col("From").col("Until").col("");
    for s in subs {
        let plan = plans.iter().find(|p| p.id == s.plan_id);
        t.push(vec![
            html! {
                a href={ "/billing/plans/" (s.plan_id) } { (s.plan) }
                @for (_, on, name) in changes.iter().filter(|(sid, _, _)| *sid == s.id) {
                    br; span.muted { "then " (name) " from " (on) }
                }
            },
            html! { (plan.map(speeds).unwrap_or_default()) },
            html! { (plan.map(|p| p.price.clone()).unwrap_or_default()) },
            html! { (s.start_date) },
            html! { (s.end_date.as_deref().unwrap_or("-")) },
            html! {
                @if active(s, &now) { (ui::tone_badge(Tone::Up, "active")) } @else if s.start_date.as_str() > now.as_str() {
                    (ui::tone_badge(Tone::Neutral, "starts later"))
                } @else { (ui::tone_badge(Tone::Neutral, "ended")) }
                @if cashier && s.end_date.is_none() {
                    " " a href={ "/customers/" (customer) "/service/" (s.id) "/change" } { "Change plan" }
                }
            },
        ]);
    }
    let base = format!("/customers/{customer}/service");
    html! {
        h1 { "Service: " (name) }
        p { a href={ "/customers/" (customer) } { "Back to the customer" } " · " a href="/billing/plans" { "Plans" } }
        @match acc {
            None => {
                p { "No billing account yet." }
                @if cashier {
                    @let f = Fields::new("account", errors("account"));
                    (ui::form_with_class("account-form", &format!("{base}/account"), Method::Post, csrf, html! {
                        (f.summary())
                        (f.number_field("billing_day", "Billing day (1-28)", &typed("account", "billing_day", "1"), false, FieldOpts::new().required()
                            .hint("Invoices are issued on this day each month, for the month ahead.")))
                        (f.text_field("currency", "Currency", &typed("account", "currency", "USD"), FieldOpts::new().max_len(3)))
                        button #open-account type="submit" { "Open the billing account" }
                    }))
                }
            }
            Some(a) => {
                (ui::kv_list(&[
                    ("Billing day", html! { (a.billing_day) }),
                    ("Currency", html! { (a.currency) }),
                    ("Next invoice", html! { (next_invoice(a).unwrap_or_default()) }),
                ]))
                @if cashier {
                    p { a #change-account href={ (base) "/account/change" } { "Change the billing day or currency" } }
                }
                h2 { "Subscriptions" }
                (t)
                @if cashier {
                    @for s in subs.iter().filter(|s| s.end_date.is_none()) {
                        @let form = format!("cancel-{}", s.id);
                        @let f = Fields::new(&form, errors(&form));
                        (ui::form_with_class("cancel-form", &format!("{base}/{}/cancel", s.id), Method::Post, csrf, html! {
                            (f.summary())
                            (f.date_field("on", &format!("Cancel {}: first day no longer billed", s.plan), &typed(&form, "on", ""), FieldOpts::new().required()))
                            button.danger type="submit" { "Cancel " (s.plan) }
                        }))
                    }
                    h2 #subscribe { "Subscribe" }
                    @let f = Fields::new("subscribe", errors("subscribe"));
                    (ui::form_with_class("subscribe-form", &format!("{base}/subscribe"), Method::Post, csrf, html! {
                        (f.summary())
                        (f.select_field("plan", "Plan", &sold, &typed("subscribe", "plan", ""), FieldOpts::new().required()))
                        (f.date_field("start", "First billed day", &typed("subscribe", "start", &now), FieldOpts::new().required()
                            .hint("A plan's setup fee is charged on the next invoice.")))
                        button #subscribe-now type="submit" { "Subscribe" }
                    }))
                    h2 { "Hold" }
                    @let f = Fields::new("hold", errors("hold"));
                    @let subs_opts: Vec<(String, String)> = std::iter::once((String::new(), "All subscriptions".to_string()))
                        .chain(subs.iter().filter(|s| s.end_date.is_none()).map(|s| (s.id.to_string(), s.plan.clone())))
                        .collect();
                    @let subs_opts: Vec<(&str, &str)> = subs_opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                    (ui::form_with_class("hold-form", &format!("{base}/hold"), Method::Post, csrf, html! {
                        (f.summary())
                        (f.select_field("subscription", "Which", &subs_opts, &typed("hold", "subscription", ""), FieldOpts::new()))
                        (f.date_field("from", "First day not billed", &typed("hold", "from", ""), FieldOpts::new().required()))
                        (f.date_field("to", "First day billed again", &typed("hold", "to", ""), FieldOpts::new().hint("Empty: until further notice.")))
                        (f.select_field("kind", "Why", &[("vacation", "Vacation"), ("seasonal", "Seasonal")], &typed("hold", "kind", "vacation"), FieldOpts::new()))
                        button #add-hold type="submit" { "Put on hold" }
                    }))
                    h2 { "One-time charge" }
                    @let f = Fields::new("charge", errors("charge"));
                    (ui::form_with_class("charge-form", &format!("{base}/charge"), Method::Post, csrf, html! {
                        (f.summary())
                        (f.text_field("description", "Description", &typed("charge", "description", ""), FieldOpts::new().required().max_len(200)))
                        (f.number_field("amount", &format!("Amount ({})", a.currency), &typed("charge", "amount", ""), true, FieldOpts::new().required()))
                        (f.date_field("date", "Date", &typed("charge", "date", &now), FieldOpts::new().required()
                            .hint("Billed on the next invoice whose period ends after it.")))
                        (f.select_field("kind", "Kind", &[("installation", "Installation"), ("equipment", "Equipment"), ("fee", "Fee"), ("other", "Other")], &typed("charge", "kind", "other"), FieldOpts::new()))
                        button #add-charge type="submit" { "Add the charge" }
                    }))
                    h2 { "Discounts" }
                    @if discounts.is_empty() { p.muted { "None." } } @else {
                        ul.discounts {
                            @for d in discounts {
                                li {
                                    (d.description) " · "
                                    @match (d.percent_bp, d.amount_minor, &d.currency) {
                                        (Some(bp), _, _) => { (bp / 100) "." (format!("{:02}", bp % 100)) " %" }
                                        (_, Some(m), Some(cur)) => { (super::billing::fmt(m, cur)) " per invoice" }
                                        _ => { "-" }
                                    }
                                    " · from " (d.start_date) @if let Some(e) = &d.end_date { " until " (e) }
                                }
                            }
                        }
                    }
                    @let f = Fields::new("discount", errors("discount"));
                    (ui::form_with_class("discount-form", &format!("{base}/discount"), Method::Post, csrf, html! {
                        (f.summary())
                        (f.text_field("description", "Description", &typed("discount", "description", ""), FieldOpts::new().required().max_len(200)
                            .hint("Printed on the invoice, e.g. \"Loyalty 10 %\".")))
                        (f.select_field("kind", "Kind", &[("percent", "Percent of the plan"), ("amount", "Amount off each invoice")], &typed("discount", "kind", "percent"), FieldOpts::new()))
                        (f.number_field("value", &format!("Percent, or amount ({})", a.currency), &typed("discount", "value", ""), true, FieldOpts::new().required()))
                        (f.date_field("from", "From", &typed("discount", "from", &now), FieldOpts::new().required()
                            .hint("Applies to invoices whose period starts on or after it.")))
                        (f.date_field("to", "Until", &typed("discount", "to", ""), FieldOpts::new().hint("Empty: no end.")))
                        button #add-discount type="submit" { "Add the discount" }
                    }))
                }
            }
        }
    }
}

async fn service_page(
    c: &Caller,
    st: &AppState,
    customer: i64,
    status: StatusCode,
    fail: Option<&Failed<'_>>,
) -> PageResult {
    let cust = mast_store::customers::get(&st.db, customer)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("customer {customer}")))?;
    let acc = store::account(&st.db, customer).await?;
    let subs = store::customer_subscriptions(&st.db, customer).await?;
    let plans = store::plans(&st.db).await?;
    let changes = store::customer_plan_changes(&st.db, customer).await?;
    let discounts = store::customer_discounts(&st.db, customer).await?;
    let v = Service {
        name: &cust.name,
        customer,
        acc: acc.as_ref(),
        subs: &subs,
        plans: &plans,
        changes: &changes,
        discounts: &discounts,
    };
    let body = render(c, &v, fail);
    Ok((status, page(c, &format!("Service: {}", cust.name), body)).into_response())
}

/// `GET /customers/{id}/service`.
pub async fn show(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    service_page(&c, &st, id, StatusCode::OK, None).await
}

/// Saves with `op`; on a field error shows the page again with it next to
/// the field of `form`, what was typed kept; on success audits and goes back.
/// A form and the audit action it records.
struct Op<'a> {
    form: &'a str,
    fields: &'a [&'a str],
    audit: &'a str,
}

async fn apply<F, Fut>(c: &Caller, st: &AppState, customer: i64, op: Op<'_>, typed: &Typed, save: F) -> PageResult
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, StoreError>>,
{
    match save().await {
        Ok(detail) => {
            audit::record(&st.db, &c.actor(), op.audit, &format!("customer {customer}"), &detail).await?;
            Ok(Redirect::to(&format!("/customers/{customer}/service")).into_response())
        }
        Err(e) => {
            let errors = service_errors(e, op.fields)?;
            let fail = Failed { form: op.form, errors, typed };
            service_page(c, st, customer, StatusCode::BAD_REQUEST, Some(&fail)).await
        }
    }
}

/// A store error as a service form shows it: a conflict at the top, a bad
/// field next to it; anything else is not the form's to show.
fn service_errors(e: StoreError, fields: &[&str]) -> Result<FormErrors, StoreError> {
    if let StoreError::Conflict(why) = &e {
        let mut f = FormErrors::new();
        f.form(why.clone());
        return Ok(f);
    }
    form_errors(&e, fields).ok_or(e)
}

fn field<'a>(t: &'a Typed, name: &str) -> &'a str {
    t.get(name).map(|s| s.trim()).unwrap_or("")
}

/// `POST /customers/{id}/service/account`.
pub async fn open_account(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(t): Form<Typed>,
) -> PageResult {
    apply(
        &c,
        &st,
        id,
        Op { form: "account", fields: &["billing_day", "currency"], audit: "billing.account" },
        &t,
        || async {
            let day = field(&t, "billing_day")
                .parse::<u8>()
                .map_err(|_| StoreError::invalid("billing_day", "a day from 1 to 28"))?;
            let currency = field(&t, "currency").to_ascii_uppercase();
            store::currency(&currency)?;
            let input = store::AccountInput {
                customer_id: id,
                billing_day: day,
                currency: Some(currency.clone()),
                ..Default::default()
            };
            store::set_account(&st.db, &input).await?;
            Ok(format!("billing day {day}, {currency}"))
        },
    )
    .await
}

/// `POST /customers/{id}/service/subscribe`.
pub async fn subscribe(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Form(t): Form<Typed>) -> PageResult {
    apply(&c, &st, id, Op { form: "subscribe", fields: &["plan", "start"], audit: "billing.subscribe" }, &t, || async {
        let plan = field(&t, "plan").parse::<i64>().map_err(|_| StoreError::invalid("plan", "choose a plan"))?;
        let start = store::parse_date("start", field(&t, "start"))?;
        let sid = store::subscribe(&st.db, id, plan, start).await?;
        Ok(format!("subscription {sid}: plan {plan} from {start}"))
    })
    .await
}

/// The subscription `sub`, which must be customer `id`'s.
async fn own_subscription(st: &AppState, id: i64, sub: i64) -> Result<SubscriptionRow, ApiError> {
    match store::subscription(&st.db, sub).await? {
        Some(s) if s.customer_id == id => Ok(s),
        _ => Err(StoreError::NotFound(format!("subscription {sub} of customer {id}")).into()),
    }
}

/// `POST /customers/{id}/service/{sub}/cancel`.
pub async fn cancel(
    c: Caller,
    State(st): State<AppState>,
    Path((id, sub)): Path<(i64, i64)>,
    Form(t): Form<Typed>,
) -> PageResult {
    own_subscription(&st, id, sub).await?;
    let form = format!("cancel-{sub}");
    apply(&c, &st, id, Op { form: &form, fields: &["on"], audit: "billing.cancel" }, &t, || async {
        let on = store::parse_date("on", field(&t, "on"))?;
        store::cancel(&st.db, sub, on).await?;
        Ok(format!("subscription {sub} ends {on}"))
    })
    .await
}

/// `POST /customers/{id}/service/hold`.
pub async fn hold(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Form(t): Form<Typed>) -> PageResult {
    apply(
        &c,
        &st,
        id,
        Op { form: "hold", fields: &["subscription", "from", "to", "kind"], audit: "billing.hold" },
        &t,
        || async {
            let subscription = match field(&t, "subscription") {
                "" => None,
                s => Some(s.parse::<i64>().map_err(|_| StoreError::invalid("subscription", "choose one"))?),
            };
            let start = store::parse_date("from", field(&t, "from"))?;
            let end = match field(&t, "to") {
                "" => None,
                s => Some(store::parse_date("to", s)?),
            };
            let kind = store::HoldKind::parse(field(&t, "kind"))?;
            let h = store::HoldInput { customer_id: id, subscription_id: subscription, start, end, kind };
            let hid = store::add_hold(&st.db, &h).await?;
            Ok(format!("hold {hid} from {start}"))
        },
    )
    .await
}

/// `POST /customers/{id}/service/charge`.
pub async fn charge(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Form(t): Form<Typed>) -> PageResult {
    let limits = st.settings.billing.limits;
    apply(
        &c,
        &st,
        id,
        Op { form: "charge", fields: &["description", "amount", "date", "kind"], audit: "billing.charge" },
        &t,
        || async {
            let acc = store::require_account(&st.db, id).await?;
            let cur = store::currency(&acc.currency)?;
            let amount = Money::parse(field(&t, "amount"), cur)
                .map_err(|_| StoreError::invalid("amount", format!("an amount such as 25.00 ({})", acc.currency)))?;
            let input = store::ChargeInput {
                customer_id: id,
                date: store::parse_date("date", field(&t, "date"))?,
                kind: store::ChargeKind::parse(field(&t, "kind"))?,
                description: field(&t, "description").to_string(),
                amount,
                tax_class_id: None,
            };
            let cid = store::add_charge(&st.db, &input, &limits).await?;
            Ok(format!("charge {cid}: {amount}"))
        },
    )
    .await
}

/// `POST /customers/{id}/service/discount`: a percentage of the recurring
/// lines, or an amount off each invoice, for the invoices whose period
/// starts in [from, until).
pub async fn discount(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Form(t): Form<Typed>) -> PageResult {
    let limits = st.settings.billing.limits;
    apply(
        &c,
        &st,
        id,
        Op { form: "discount", fields: &["description", "kind", "value", "from", "to"], audit: "billing.discount" },
        &t,
        || async {
            use mast_app::billing::invoice::{DiscountTarget, DiscountValue};
            let acc = store::require_account(&st.db, id).await?;
            let cur = store::currency(&acc.currency)?;
            let value = if field(&t, "kind") == "amount" {
                let m = Money::parse(field(&t, "value"), cur)
                    .map_err(|_| StoreError::invalid("value", format!("an amount such as 5.00 ({})", acc.currency)))?;
                DiscountValue::Fixed(m)
            } else {
                let p = Money::parse(
                    field(&t, "value").trim_end_matches('%').trim(),
                    mast_app::billing::money::Currency::USD,
                )
                .ok()
                .and_then(|p| u32::try_from(p.minor).ok())
                .filter(|bp| (1..=10_000).contains(bp))
                .ok_or_else(|| {
                    StoreError::invalid("value", "a percentage above 0 and at most 100, such as 10 or 12.5")
                })?;
                DiscountValue::PercentBp(p)
            };
            let start = store::parse_date("from", field(&t, "from"))?;
            let end = match field(&t, "to").trim() {
                "" => None,
                s => Some(store::parse_date("to", s)?),
            };
            let input = store::DiscountInput {
                customer_id: id,
                description: field(&t, "description").to_string(),
                target: DiscountTarget::AllRecurring,
                value,
                start,
                end,
            };
            // The store names the value's field `percent` or `amount`; the form has one.
            let did = store::add_discount(&st.db, &input, &limits).await.map_err(|e| match e {
                StoreError::Invalid { field, reason } if field == "percent" || field == "amount" => {
                    StoreError::invalid("value", reason)
                }
                e => e,
            })?;
            Ok(format!("discount {did}: {}", input.description.trim()))
        },
    )
    .await
}

/// The subscription being changed and what it may change to.
struct Changing<'a> {
    customer: i64,
    s: &'a SubscriptionRow,
    plans: &'a [PlanRow],
    currency: &'a str,
}

fn change_page(c: &Caller, ch: &Changing, t: &Typed, errors: &FormErrors, preview: Option<&ChangePreview>) -> Markup {
    let Changing { customer, s, plans, currency } = *ch;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let f = Fields::new("change", errors);
    let opts: Vec<(String, String)> = plans
        .iter()
        .filter(|p| p.active && p.currency == currency && p.id != s.plan_id)
        .map(|p| (p.id.to_string(), format!("{} · {} · {}", p.name, p.price, speeds(p))))
        .collect();
    let opts: Vec<(&str, &str)> = opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let parts = |title: &str, list: &[store::PreviewPart], total: &str| {
        let mut t = Table::new("Nothing billed.").col("Plan").num_col("Days").num_col("Amount");
        for p in list {
            t.push(vec![html! { (p.plan) }, html! { (p.days) " of " (p.period_days) }, html! { (p.amount) }]);
        }
        html! { h3 { (title) ": " (total) } (t) }
    };
    page(
        c,
        "Change plan",
        html! {
            h1 { "Change plan: " (s.plan) }
            p { a href={ "/customers/" (customer) "/service" } { "Back to the service" } }
            @if let Some(p) = preview {
                section #change-preview {
                    h2 { "Billing period " (p.period) }
                    (parts("Without the change", &p.before, &p.before_total))
                    (parts("With the change", &p.after, &p.after_total))
                    @if p.invoiced {
                        p.callout { (ui::tone_badge(Tone::Degraded, "already invoiced")) " This period is invoiced already: the change shows from the next invoice; the issued one stays as it is." }
                    } @else {
                        p { "The invoice for this period will bill " strong { (p.after_total) } " instead of " (p.before_total) "." }
                    }
                }
            }
            (ui::form_with_class("change-form", &format!("/customers/{customer}/service/{}/change", s.id), Method::Post, csrf, html! {
                (f.summary())
                (f.select_field("plan", "New plan", &opts, t.get("plan").map(String::as_str).unwrap_or(""), FieldOpts::new().required()))
                (f.date_field("on", "First day on the new plan", t.get("on").map(String::as_str).unwrap_or(""), FieldOpts::new().required()))
                button #preview-change type="submit" name="action" value="preview" { "Preview" }
                @if preview.is_some() {
                    " " button #save-change type="submit" name="action" value="save" { "Change the plan" }
                }
            }))
        },
    )
}

/// `GET /customers/{id}/service/{sub}/change`.
pub async fn change_form(c: Caller, State(st): State<AppState>, Path((id, sub)): Path<(i64, i64)>) -> PageResult {
    let s = own_subscription(&st, id, sub).await?;
    let acc = store::require_account(&st.db, id).await?;
    let plans = store::plans(&st.db).await?;
    Ok(change_page(
        &c,
        &Changing { customer: id, s: &s, plans: &plans, currency: &acc.currency },
        &Typed::new(),
        &FormErrors::new(),
        None,
    )
    .into_response())
}

/// `POST /customers/{id}/service/{sub}/change`: `action=preview` shows the
/// prorated effect (nothing written); `action=save` makes the change.
pub async fn change(
    c: Caller,
    State(st): State<AppState>,
    Path((id, sub)): Path<(i64, i64)>,
    Form(t): Form<Typed>,
) -> PageResult {
    let s = own_subscription(&st, id, sub).await?;
    let acc = store::require_account(&st.db, id).await?;
    let plans = store::plans(&st.db).await?;
    let parsed = field(&t, "plan")
        .parse::<i64>()
        .map_err(|_| StoreError::invalid("plan", "choose a plan"))
        .and_then(|p| Ok((p, store::parse_date("on", field(&t, "on"))?)));
    let result = match parsed {
        Ok((plan, on)) => match store::preview_change(&st.db, sub, plan, on).await {
            Ok(preview) if field(&t, "action") == "save" => {
                store::change_plan(&st.db, sub, plan, on).await?;
                let detail = format!(
                    "subscription {sub}: plan {plan} from {on} ({} for {})",
                    preview.after_total, preview.period
                );
                audit::record(&st.db, &c.actor(), "billing.change_plan", &format!("customer {id}"), &detail).await?;
                return Ok(Redirect::to(&format!("/customers/{id}/service")).into_response());
            }
            other => other,
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(preview) => Ok(change_page(
            &c,
            &Changing { customer: id, s: &s, plans: &plans, currency: &acc.currency },
            &t,
            &FormErrors::new(),
            Some(&preview),
        )
        .into_response()),
        Err(e) => {
            let errors = form_errors(&e, &["plan", "on"]).ok_or(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                change_page(
                    &c,
                    &Changing { customer: id, s: &s, plans: &plans, currency: &acc.currency },
                    &t,
                    &errors,
                    None,
                ),
            )
                .into_response())
        }
    }
}

/// What the account-change page shows after a preview.
struct AccountPreview {
    /// The bridge of a billing-day change (`None`: the day stays).
    day: Option<mast_app::billing::run::DayChangePreview>,
    /// The new currency, from the next invoice (`None`: it stays).
    currency: Option<String>,
}

fn account_change_page(
    c: &Caller,
    customer: i64,
    acc: &Account,
    t: &Typed,
    errors: &FormErrors,
    preview: Option<&AccountPreview>,
) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let f = Fields::new("account-change", errors);
    let day = acc.billing_day.to_string();
    let value = |name: &str, default: &str| t.get(name).map(String::as_str).unwrap_or(default).to_string();
    page(
        c,
        "Change the billing account",
        html! {
            h1 { "Billing day and currency" }
            p { a href={ "/customers/" (customer) "/service" } { "Back to the service" } }
            p.muted { "Billed on day " (acc.billing_day) " in " (acc.currency) ". A new billing day bills the days up to it on a prorated bridge invoice issued now; a new currency applies from the next invoice, and balances stay in the currency they are in." }
            @if let Some(p) = preview {
                section #account-preview {
                    @match &p.day {
                        Some(d) => {
                            @match d.change.bridge {
                                Some(b) => {
                                    h2 { "Bridge invoice: " (b.range.label()) }
                                    @let mut lines = Table::new("Nothing to bill in those days.").col("Line").num_col("Net");
                                    @for (desc, net) in &d.lines {
                                        @let _ = lines.push(vec![html! { (desc) }, html! { (money(*net, &d.currency)) }]);
                                    }
                                    (lines)
                                    p { "Total " strong #bridge-total { (money(d.total_minor, &d.currency)) } ", issued today with the change." }
                                }
                                None => { p { "No bridge invoice: nothing is billed ahead past the new day." } }
                            }
                            p { "Then invoiced on day " (value("billing_day", &day)) " each month, first on " strong #first-run { (d.change.first_run) } "." }
                        }
                        None => { p { "The billing day stays." } }
                    }
                    @if let Some(cur) = &p.currency { p { "Invoices from the next one on are in " strong { (cur) } "." } }
                }
            }
            (ui::form_with_class("account-change-form", &format!("/customers/{customer}/service/account/change"), Method::Post, csrf, html! {
                (f.summary())
                (f.number_field("billing_day", "Billing day (1-28)", &value("billing_day", &day), false, FieldOpts::new().required()))
                (f.text_field("currency", "Currency", &value("currency", &acc.currency), FieldOpts::new().max_len(3).required()))
                button #preview-account type="submit" name="action" value="preview" { "Preview" }
                @if preview.is_some() {
                    " " button #save-account type="submit" name="action" value="save" { "Save the change" }
                }
            }))
        },
    )
}

/// Minor units in `currency` as text (`14.00 USD`), or the bare number if
/// the code is not a currency.
fn money(minor: i64, currency: &str) -> String {
    store::currency(currency).map(|c| Money::new(minor, c).to_string()).unwrap_or_else(|_| minor.to_string())
}

/// `GET /customers/{id}/service/account/change`.
pub async fn account_change_form(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let acc = store::require_account(&st.db, id).await?;
    Ok(account_change_page(&c, id, &acc, &Typed::new(), &FormErrors::new(), None).into_response())
}

/// `POST /customers/{id}/service/account/change`: `action=preview` shows
/// the bridge invoice and what blocks a currency change (nothing written);
/// `action=save` makes the change.
pub async fn account_change(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(t): Form<Typed>,
) -> PageResult {
    let acc = store::require_account(&st.db, id).await?;
    let now = today();
    let result: Result<AccountPreview, StoreError> = async {
        let day = field(&t, "billing_day")
            .parse::<u8>()
            .map_err(|_| StoreError::invalid("billing_day", "a day from 1 to 28"))?;
        let currency = field(&t, "currency").to_ascii_uppercase();
        store::currency(&currency)?;
        let day_preview = if i64::from(day) != acc.billing_day {
            Some(mast_app::billing::run::preview_day_change(&st.db, id, day, now).await?)
        } else {
            None
        };
        let new_currency = (currency != acc.currency).then_some(currency.clone());
        if new_currency.is_some() {
            store::check_currency_change(&st.db, id, &acc.currency, &currency, now).await?;
        }
        if day_preview.is_none() && new_currency.is_none() {
            return Err(StoreError::invalid("billing_day", "nothing to change: pick another day or currency"));
        }
        if field(&t, "action") == "save" {
            let input = store::AccountInput {
                customer_id: id,
                billing_day: day,
                tax_exempt: acc.tax_exempt,
                currency: Some(currency.clone()),
                autopay: acc.autopay,
                provider_customer_id: acc.provider_customer_id.clone(),
                payment_method_id: acc.payment_method_id.clone(),
                payment_method_label: acc.payment_method_label.clone(),
                today: Some(now),
            };
            store::set_account(&st.db, &input).await?;
        }
        Ok(AccountPreview { day: day_preview, currency: new_currency })
    }
    .await;
    match result {
        Ok(p) if field(&t, "action") == "save" => {
            let bridge = p.day.as_ref().map_or(String::new(), |d| {
                format!(
                    ", bridge {} {}",
                    money(d.total_minor, &d.currency),
                    d.change.bridge.map(|b| b.range.label()).unwrap_or_default()
                )
            });
            let detail = format!(
                "billing day {}, {}{bridge}",
                field(&t, "billing_day"),
                field(&t, "currency").to_ascii_uppercase()
            );
            audit::record(&st.db, &c.actor(), "billing.account", &format!("customer {id}"), &detail).await?;
            Ok(Redirect::to(&format!("/customers/{id}/service")).into_response())
        }
        Ok(p) => Ok(account_change_page(&c, id, &acc, &t, &FormErrors::new(), Some(&p)).into_response()),
        Err(e) => {
            let errors = service_errors(e, &["billing_day", "currency"])?;
            Ok((StatusCode::BAD_REQUEST, account_change_page(&c, id, &acc, &t, &errors, None)).into_response())
        }
    }
}
