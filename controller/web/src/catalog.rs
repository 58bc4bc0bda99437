//! What the ISP sells, in the browser: plans (`/billing/plans`: price,
//! speeds, data cap, setup fee, tax class; archived once sold, deleted
//! only if nobody ever subscribed) and tax classes (`/billing/taxes`:
//! stacked components and a rounding rule). Errors are shown next to their
//! field; every change is audited.

use super::network::form_errors;
use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::billing::money::{Money, RoundingMode};
use mast_store::StoreError;
use mast_store::billing::store::{self, NewPlan, PlanRow, Rounding, TaxClassRow};
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// Who changes the catalog.
pub const EDITORS: &[Role] = &[Role::Admin, Role::Billing];
/// Who sees it (support answers customers' questions about plans).
pub const READERS: &[Role] = &[Role::Admin, Role::Billing, Role::Support];

const PLAN_FIELDS: &[&str] =
    &["name", "price", "currency", "down_mbps", "up_mbps", "data_cap_gb", "setup_fee", "tax_class"];
const TAX_FIELDS: &[&str] = &["name", "rounding", "components"];

/// The plan form as typed: speeds in Mbit/s, money as decimals.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct PlanForm {
    pub name: String,
    pub price: String,
    pub currency: String,
    pub down_mbps: String,
    pub up_mbps: String,
    /// Empty: unlimited.
    pub data_cap_gb: String,
    /// Empty or 0: none.
    pub setup_fee: String,
    pub tax_class: String,
}

/// `25`, `2.5` or `0.512` Mbit/s as kbit/s.
fn kbps(field: &str, v: &str) -> Result<u32, StoreError> {
    let bad = || StoreError::invalid(field, "a speed in Mbit/s, such as 25 or 2.5");
    let v = v.trim();
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 3
        || !(whole.chars().chain(frac.chars())).all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    let k = whole.checked_mul(1000).and_then(|w| w.checked_add(frac)).ok_or_else(bad)?;
    u32::try_from(k).map_err(|_| bad())
}

impl PlanForm {
    fn of(p: &PlanRow) -> PlanForm {
        let amount = |minor: i64| {
            store::currency(&p.currency)
                .map(|c| Money::new(minor, c).to_string())
                .unwrap_or_default()
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string()
        };
        PlanForm {
            name: p.name.clone(),
            price: amount(p.price_minor),
            currency: p.currency.clone(),
            down_mbps: mbps(p.down_kbps),
            up_mbps: mbps(p.up_kbps),
            data_cap_gb: p.data_cap_gb.map(|c| c.to_string()).unwrap_or_default(),
            setup_fee: if p.setup_fee_minor > 0 { amount(p.setup_fee_minor) } else { String::new() },
            tax_class: p.tax_class_id.to_string(),
        }
    }

    fn parse(&self) -> Result<NewPlan, StoreError> {
        let code = self.currency.trim().to_ascii_uppercase();
        let cur = store::currency(if code.is_empty() { "USD" } else { &code })?;
        let money = |field: &str, v: &str| {
            Money::parse(v.trim(), cur)
                .map_err(|_| StoreError::invalid(field, format!("an amount such as 45.00 ({code})")))
        };
        let price = money("price", &self.price)?;
        let setup_fee_minor = match self.setup_fee.trim() {
            "" => 0,
            v => money("setup_fee", v)?.minor,
        };
        let data_cap_gb = match self.data_cap_gb.trim() {
            "" => None,
            v => Some(
                v.parse::<u32>().map_err(|_| StoreError::invalid("data_cap_gb", "whole GB, or empty for unlimited"))?,
            ),
        };
        let tax_class_id =
            self.tax_class.trim().parse::<i64>().map_err(|_| StoreError::invalid("tax_class", "choose a tax class"))?;
        Ok(NewPlan {
            name: self.name.clone(),
            price,
            down_kbps: kbps("down_mbps", &self.down_mbps)?,
            up_kbps: kbps("up_mbps", &self.up_mbps)?,
            tax_class_id,
            data_cap_gb,
            setup_fee_minor,
        })
    }
}

use super::service::{mbps, speeds};

fn plan_fields(fields: &Fields, f: &PlanForm, taxes: &[TaxClassRow]) -> Markup {
    let options: Vec<(String, String)> = taxes.iter().map(|t| (t.id.to_string(), t.name.clone())).collect();
    let options: Vec<(&str, &str)> = options.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    html! {
        (fields.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(100)))
        (fields.number_field("price", "Price per month", &f.price, true, FieldOpts::new().required()))
        (fields.text_field("currency", "Currency", &f.currency, FieldOpts::new().max_len(3).placeholder("USD")
            .hint("Three-letter code; a plan customers pay keeps its currency.")))
        (fields.number_field("down_mbps", "Download (Mbit/s)", &f.down_mbps, true, FieldOpts::new().required()))
        (fields.number_field("up_mbps", "Upload (Mbit/s)", &f.up_mbps, true, FieldOpts::new().required()))
        (fields.number_field("data_cap_gb", "Data cap (GB per month)", &f.data_cap_gb, false, FieldOpts::new()
            .hint("Empty: unlimited.")))
        (fields.number_field("setup_fee", "Setup fee", &f.setup_fee, true, FieldOpts::new()
            .hint("Charged once when a customer subscribes, on the next invoice. Empty: none.")))
        (fields.select_field("tax_class", "Tax class", &options, &f.tax_class, FieldOpts::new().required()))
        p.muted { "Billed monthly." }
    }
}

async fn plans_page(c: &Caller, st: &AppState, f: &PlanForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let plans = store::plans(&st.db).await?;
    let taxes = tax_classes_or_untaxed(st).await?;
    let editor = EDITORS.contains(&c.role);
    let mut t = Table::new("No plan yet.")
        .col("Plan")
        .num_col("Price")
        .col("Speeds")
        .col("Data cap")
        .num_col("Setup fee")
        .col("Tax class")
        .num_col("Subscriptions")
        .col("Status");
    for p in &plans {
        t.push(vec![
            html! { a href={ "/billing/plans/" (p.id) } { (p.name) } },
            html! { (p.price) },
            html! { (speeds(p)) },
            html! { @match p.data_cap_gb { Some(c) => { (c) " GB" } None => { "unlimited" } } },
            html! { @if p.setup_fee.is_empty() { "-" } @else { (p.setup_fee) } },
            html! { (p.tax_class) },
            html! { (p.subscriptions) },
            if p.active { ui::tone_badge(Tone::Up, "sold") } else { ui::tone_badge(Tone::Neutral, "archived") },
        ]);
    }
    let csrf = c.csrf.as_deref().unwrap_or("");
    let fields = Fields::new("plan", errors);
    Ok(page(
        c,
        "Plans",
        html! {
            h1 { "Plans" }
            p {
                a href="/billing/taxes" { "Tax classes" } " · " a href="/billing/runs" { "Invoice run" } " · "
                a href="/billing/bank" { "Bank statement" } " · " a href="/billing/reports" { "Billing report" }
            }
            (t)
            @if editor {
                h2 #new-plan { "New plan" }
                (ui::form_with_class("plan-form", "/billing/plans", Method::Post, csrf, html! {
                    (fields.summary())
                    (plan_fields(&fields, f, &taxes))
                    button #add-plan type="submit" { "Add plan" }
                }))
            }
        },
    ))
}

/// Tax classes to choose from; a fresh install gets the untaxed one.
async fn tax_classes_or_untaxed(st: &AppState) -> Result<Vec<TaxClassRow>, ApiError> {
    let mut taxes = store::tax_classes(&st.db).await?;
    if taxes.is_empty() {
        store::untaxed_class(&st.db).await?;
        taxes = store::tax_classes(&st.db).await?;
    }
    Ok(taxes)
}

/// `GET /billing/plans`.
pub async fn plans(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let f = PlanForm {
        currency: store::main_currency(&st.db).await?.unwrap_or_else(|| "USD".into()),
        ..Default::default()
    };
    plans_page(&c, &st, &f, &FormErrors::new()).await
}

/// `POST /billing/plans`.
pub async fn add_plan(c: Caller, State(st): State<AppState>, Form(f): Form<PlanForm>) -> PageResult {
    let saved = match f.parse() {
        Ok(np) => store::add_plan(&st.db, &np).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(p) => {
            audit::record(&st.db, &c.actor(), "plan.add", &p.name, &format!("{}, {}", p.price, speeds(&p))).await?;
            Ok(Redirect::to("/billing/plans").into_response())
        }
        Err(e) => {
            let errors = catalog_errors(e, PLAN_FIELDS)?;
            Ok((StatusCode::BAD_REQUEST, plans_page(&c, &st, &f, &errors).await?).into_response())
        }
    }
}

/// The form's errors: a name in use (the only conflict on adding or saving a
/// plan or a tax class) next to the name, the others next to their `fields`.
fn catalog_errors(e: StoreError, fields: &[&str]) -> Result<FormErrors, StoreError> {
    if let StoreError::Conflict(why) = &e {
        let mut errors = FormErrors::new();
        errors.field("name", why.clone());
        return Ok(errors);
    }
    form_errors(&e, fields).ok_or(e)
}

async fn plan_page(
    c: &Caller,
    st: &AppState,
    p: &PlanRow,
    f: &PlanForm,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let taxes = tax_classes_or_untaxed(st).await?;
    let editor = EDITORS.contains(&c.role);
    let csrf = c.csrf.as_deref().unwrap_or("");
    let fields = Fields::new("plan", errors);
    Ok(page(
        c,
        &p.name,
        html! {
            h1 { (p.name) " " @if !p.active { (ui::tone_badge(Tone::Neutral, "archived")) } }
            p { a href="/billing/plans" { "All plans" } " · " (p.subscriptions) " subscription(s), past and present" }
            @if editor {
                (ui::form_with_class("plan-form", &format!("/billing/plans/{}", p.id), Method::Post, csrf, html! {
                    (fields.summary())
                    (plan_fields(&fields, f, &taxes))
                    button #save-plan type="submit" { "Save plan" }
                }))
                p.muted { "A new price applies from each customer's next invoice." }
                h2 { "Selling it" }
                @if p.active {
                    (ui::form_with_class("inline", &format!("/billing/plans/{}/archive", p.id), Method::Post, csrf, html! {
                        button #archive-plan type="submit" { "Archive: stop selling it" }
                    }))
                    " "
                    span.muted { "Customers on it keep it." }
                } @else {
                    (ui::form_with_class("inline", &format!("/billing/plans/{}/restore", p.id), Method::Post, csrf, html! {
                        button #restore-plan type="submit" { "Sell it again" }
                    }))
                }
                @if p.subscriptions == 0 {
                    (ui::form_with_class("inline", &format!("/billing/plans/{}/delete", p.id), Method::Post, csrf, html! {
                        button.danger #delete-plan type="submit" { "Delete…" }
                    }))
                } @else {
                    p.muted { "A plan someone subscribed to is kept (their invoices name it): archive it instead of deleting it." }
                }
            } @else {
                (ui::kv_list(&[
                    ("Price", html! { (p.price) " per month" }),
                    ("Speeds", html! { (speeds(p)) }),
                    ("Data cap", html! { @match p.data_cap_gb { Some(c) => { (c) " GB" } None => { "unlimited" } } }),
                    ("Setup fee", html! { @if p.setup_fee.is_empty() { "none" } @else { (p.setup_fee) } }),
                    ("Tax class", html! { (p.tax_class) }),
                ]))
            }
        },
    ))
}

async fn get_plan(st: &AppState, id: i64) -> Result<PlanRow, ApiError> {
    Ok(store::plan(&st.db, id).await?.ok_or_else(|| StoreError::NotFound(format!("plan {id}")))?)
}

/// `GET /billing/plans/{id}`.
pub async fn plan(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let p = get_plan(&st, id).await?;
    plan_page(&c, &st, &p, &PlanForm::of(&p), &FormErrors::new()).await
}

/// `POST /billing/plans/{id}`.
pub async fn save_plan(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<PlanForm>,
) -> PageResult {
    let old = get_plan(&st, id).await?;
    let saved = match f.parse() {
        Ok(np) => store::edit_plan(&st.db, id, &np).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(p) => {
            let what = format!("{} → {}, {}", old.price, p.price, speeds(&p));
            audit::record(&st.db, &c.actor(), "plan.change", &p.name, &what).await?;
            Ok(Redirect::to(&format!("/billing/plans/{id}")).into_response())
        }
        Err(e) => {
            let errors = catalog_errors(e, PLAN_FIELDS)?;
            Ok((StatusCode::BAD_REQUEST, plan_page(&c, &st, &old, &f, &errors).await?).into_response())
        }
    }
}

/// `POST /billing/plans/{id}/archive`.
pub async fn archive_plan(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let p = get_plan(&st, id).await?;
    store::set_plan_active(&st.db, id, false).await?;
    audit::record(&st.db, &c.actor(), "plan.archive", &p.name, "").await?;
    Ok(Redirect::to(&format!("/billing/plans/{id}")).into_response())
}

/// `POST /billing/plans/{id}/restore`.
pub async fn restore_plan(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let p = get_plan(&st, id).await?;
    store::set_plan_active(&st.db, id, true).await?;
    audit::record(&st.db, &c.actor(), "plan.restore", &p.name, "").await?;
    Ok(Redirect::to(&format!("/billing/plans/{id}")).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Confirm {
    pub confirm: String,
}

/// `POST /billing/plans/{id}/delete`: asks first; a plan someone
/// subscribed to is refused with the reason.
pub async fn delete_plan(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<Confirm>,
) -> PageResult {
    let p = get_plan(&st, id).await?;
    let csrf = c.csrf.as_deref().unwrap_or("");
    if f.confirm != "yes" {
        let body = html! {
            h1 { "Delete " (p.name) "?" }
            (ui::form_with_class("inline", &format!("/billing/plans/{id}/delete"), Method::Post, csrf, html! {
                (ui::hidden("confirm", "yes"))
                button.danger #confirm-delete type="submit" { "Delete " (p.name) }
            }))
            " " a href={ "/billing/plans/" (id) } { "Keep it" }
        };
        return Ok(page(&c, "Delete plan", body).into_response());
    }
    match store::delete_plan(&st.db, id).await {
        Ok(()) => {}
        Err(StoreError::Conflict(why)) => {
            let body = html! {
                h1 { (p.name) " was not deleted" }
                (ui::flash(ui::FlashKind::Error, &why))
                p { a href={ "/billing/plans/" (id) } { "Back to the plan" } }
            };
            return Ok((StatusCode::CONFLICT, page(&c, "Not deleted", body)).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(&st.db, &c.actor(), "plan.delete", &p.name, "").await?;
    Ok(Redirect::to("/billing/plans").into_response())
}

// ---------------------------------------------------------------- taxes

/// The tax class form: components one per line, `Name: percent`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct TaxForm {
    pub name: String,
    pub rounding: String,
    pub components: String,
}

impl TaxForm {
    fn of(t: &TaxClassRow) -> TaxForm {
        let pct = |bp: u32| {
            let s = format!("{}.{:02}", bp / 100, bp % 100);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        TaxForm {
            name: t.name.clone(),
            rounding: t.rounding.as_str().to_string(),
            components: t
                .components
                .iter()
                .map(|c| format!("{}: {}", c.name, pct(c.rate_bp)))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn parse(&self) -> Result<(Vec<mast_app::billing::catalog::TaxComponent>, RoundingMode), StoreError> {
        let rounding = Rounding::parse(self.rounding.trim())?.into();
        let components = self
            .components
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(store::parse_tax_component)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((components, rounding))
    }
}

const ROUNDINGS: &[(&str, &str)] = &[
    ("half-up", "Half up (0.5 cent rounds up)"),
    ("half-even", "Half even (banker's rounding)"),
    ("toward-zero", "Toward zero (truncate)"),
    ("away-from-zero", "Away from zero"),
];

fn tax_fields(fields: &Fields, f: &TaxForm) -> Markup {
    html! {
        (fields.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(100)))
        (fields.select_field("rounding", "Rounding", ROUNDINGS, &f.rounding, FieldOpts::new()))
        (fields.textarea_field("components", "Components", &f.components, FieldOpts::new()
            .hint("One per line, name and percent: 'State tax: 6.25'. They stack (each on the net amount). None: untaxed.")))
    }
}

fn components_text(t: &TaxClassRow) -> String {
    if t.components.is_empty() {
        return "none".into();
    }
    t.components
        .iter()
        .map(|c| format!("{} {}.{:02} %", c.name, c.rate_bp / 100, c.rate_bp % 100))
        .collect::<Vec<_>>()
        .join(" + ")
}

async fn taxes_page(c: &Caller, st: &AppState, f: &TaxForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let taxes = store::tax_classes(&st.db).await?;
    let editor = EDITORS.contains(&c.role);
    let mut t = Table::new("No tax class yet.").col("Tax class").col("Components").col("Rounding");
    for x in &taxes {
        t.push(vec![
            html! { a href={ "/billing/taxes/" (x.id) } { (x.name) } },
            html! { (components_text(x)) },
            html! { (x.rounding.as_str()) },
        ]);
    }
    let csrf = c.csrf.as_deref().unwrap_or("");
    let fields = Fields::new("tax", errors);
    Ok(page(
        c,
        "Tax classes",
        html! {
            h1 { "Tax classes" }
            p { a href="/billing/plans" { "Plans" } }
            (t)
            @if editor {
                h2 { "New tax class" }
                (ui::form_with_class("tax-form", "/billing/taxes", Method::Post, csrf, html! {
                    (fields.summary())
                    (tax_fields(&fields, f))
                    button #add-tax type="submit" { "Add tax class" }
                }))
            }
        },
    ))
}

/// `GET /billing/taxes`.
pub async fn taxes(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let f = TaxForm { rounding: "half-up".into(), ..Default::default() };
    taxes_page(&c, &st, &f, &FormErrors::new()).await
}

/// `POST /billing/taxes`.
pub async fn add_tax(c: Caller, State(st): State<AppState>, Form(f): Form<TaxForm>) -> PageResult {
    let saved = match f.parse() {
        Ok((comps, rounding)) => store::add_tax_class(&st.db, &f.name, &comps, rounding).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => {
            audit::record(&st.db, &c.actor(), "tax.add", f.name.trim(), f.components.trim()).await?;
            Ok(Redirect::to("/billing/taxes").into_response())
        }
        Err(e) => {
            let errors = catalog_errors(e, TAX_FIELDS)?;
            Ok((StatusCode::BAD_REQUEST, taxes_page(&c, &st, &f, &errors).await?).into_response())
        }
    }
}

async fn get_tax(st: &AppState, id: i64) -> Result<TaxClassRow, ApiError> {
    Ok(store::tax_classes(&st.db)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| StoreError::NotFound(format!("tax class {id}")))?)
}

fn tax_page(c: &Caller, t: &TaxClassRow, f: &TaxForm, errors: &FormErrors) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let fields = Fields::new("tax", errors);
    let editor = EDITORS.contains(&c.role);
    page(
        c,
        &t.name,
        html! {
            h1 { (t.name) }
            p { a href="/billing/taxes" { "All tax classes" } " · " (components_text(t)) }
            @if editor {
                (ui::form_with_class("tax-form", &format!("/billing/taxes/{}", t.id), Method::Post, csrf, html! {
                    (fields.summary())
                    (tax_fields(&fields, f))
                    button #save-tax type="submit" { "Save tax class" }
                }))
                p.muted { "New invoices use the change; issued ones keep what they printed." }
                (ui::form_with_class("inline", &format!("/billing/taxes/{}/delete", t.id), Method::Post, csrf, html! {
                    button.danger #delete-tax type="submit" { "Delete (only if no plan or charge uses it)" }
                }))
            }
        },
    )
}

/// `GET /billing/taxes/{id}`.
pub async fn tax(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let t = get_tax(&st, id).await?;
    Ok(tax_page(&c, &t, &TaxForm::of(&t), &FormErrors::new()))
}

/// `POST /billing/taxes/{id}`.
pub async fn save_tax(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<TaxForm>,
) -> PageResult {
    let t = get_tax(&st, id).await?;
    let saved = match f.parse() {
        Ok((comps, rounding)) => store::edit_tax_class(&st.db, id, &f.name, &comps, rounding).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => {
            audit::record(&st.db, &c.actor(), "tax.change", f.name.trim(), f.components.trim()).await?;
            Ok(Redirect::to("/billing/taxes").into_response())
        }
        Err(e) => {
            let errors = catalog_errors(e, TAX_FIELDS)?;
            Ok((StatusCode::BAD_REQUEST, tax_page(&c, &t, &f, &errors)).into_response())
        }
    }
}

/// `POST /billing/taxes/{id}/delete`.
pub async fn delete_tax(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let t = get_tax(&st, id).await?;
    match store::delete_tax_class(&st.db, id).await {
        Ok(()) => {}
        Err(StoreError::Conflict(why)) => {
            let body = html! {
                h1 { (t.name) " was not deleted" }
                (ui::flash(ui::FlashKind::Error, &format!("{why}.")))
                p { a href={ "/billing/taxes/" (id) } { "Back to the tax class" } }
            };
            return Ok((StatusCode::CONFLICT, page(&c, "Not deleted", body)).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(&st.db, &c.actor(), "tax.delete", &t.name, "").await?;
    Ok(Redirect::to("/billing/taxes").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_and_amounts_parse_with_errors_named() {
        assert_eq!(kbps("f", "25").unwrap(), 25_000);
        assert_eq!(kbps("f", "2.5").unwrap(), 2_500);
        assert_eq!(kbps("f", " 0.512 ").unwrap(), 512);
        for bad in ["", ".", "1.2345", "-3", "ten", "9999999"] {
            assert_eq!(kbps("f", bad).unwrap_err().field(), Some("f"), "{bad:?}");
        }
        let f = PlanForm {
            name: "Rural 25".into(),
            price: "55.00".into(),
            currency: "usd".into(),
            down_mbps: "25".into(),
            up_mbps: "5".into(),
            data_cap_gb: "".into(),
            setup_fee: "99".into(),
            tax_class: "1".into(),
        };
        let p = f.parse().unwrap();
        assert_eq!((p.price.minor, p.down_kbps, p.data_cap_gb, p.setup_fee_minor), (5500, 25_000, None, 9900));
        for (bad, field) in [
            (PlanForm { price: "lots".into(), ..f.clone() }, "price"),
            (PlanForm { currency: "dollars".into(), ..f.clone() }, "currency"),
            (PlanForm { data_cap_gb: "1.5".into(), ..f.clone() }, "data_cap_gb"),
            (PlanForm { setup_fee: "x".into(), ..f.clone() }, "setup_fee"),
            (PlanForm { tax_class: "".into(), ..f.clone() }, "tax_class"),
            (PlanForm { up_mbps: "".into(), ..f.clone() }, "up_mbps"),
        ] {
            assert_eq!(bad.parse().unwrap_err().field(), Some(field), "{bad:?}");
        }
        let t = TaxForm {
            name: "Service".into(),
            rounding: "half-up".into(),
            components: "State: 6.25\n\nCounty: 1".into(),
        };
        let (c, r) = t.parse().unwrap();
        assert_eq!((c.len(), c[0].rate_bp, r), (2, 625, RoundingMode::HalfUp));
        let back = TaxForm::of(&TaxClassRow { id: 1, name: "S".into(), rounding: Rounding::HalfUp, components: c });
        assert_eq!(back.components, "State: 6.25\nCounty: 1");
        let bad = TaxForm { components: "State".into(), ..t.clone() };
        assert_eq!(bad.parse().unwrap_err().field(), Some("components"));
    }
}
