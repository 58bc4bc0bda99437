//! Alert rules beyond reachability (`/alerts/rules`) and the people to call
//! about a site (its contacts page).
//!
//! Everyone on staff sees the rules and what fired; admins add, switch off
//! and delete rules and contacts. Who hears an alert: the on-call group of
//! `[alerts]`, the site's contacts marked for alerts, and the staff webhook.

use super::network::form_errors;
use super::pages::page;
use super::{ApiError, AppState, Caller, ago, fmt_utc};
use crate::audit;
use crate::monitoring::alert_rules::{self as store, Contact, NewContact, NewRule, Rule};
use crate::monitoring::{self, Site};
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_ops_core::rules::Metric;
use maud::Render;
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

const RULE_FIELDS: &[&str] = &["name", "metric", "threshold", "window_mins", "site_id"];
const CONTACT_FIELDS: &[&str] = &["name", "role", "phone", "email", "alerts"];

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    pub name: String,
    pub metric: String,
    pub threshold: String,
    pub window_mins: String,
    pub site_id: String,
}

impl RuleForm {
    fn to_new(&self) -> NewRule {
        NewRule {
            name: self.name.clone(),
            metric: self.metric.clone(),
            threshold: self.threshold.clone(),
            window_mins: self.window_mins.clone(),
            site_id: self.site_id.clone(),
        }
    }
}

fn metric_label(m: Metric) -> &'static str {
    match m {
        Metric::Signal => "Signal below (dBm) for the window",
        Metric::Loss => "Ping loss above (%) over the window",
        Metric::Backlog => "Agent's unsent samples older than the window",
        Metric::SignalDrop => "Station signal weaker than usual by more than (dB)",
        Metric::StationsDrop => "AP stations fewer than usual by more than (%)",
        Metric::Capacity => "Radio link capacity below (%) of usual",
    }
}

fn subject_link(key: &str, site: Option<&str>) -> Markup {
    let (href, text) = match key.split_once(':') {
        Some(("device", id)) => (format!("/devices/{id}"), format!("device {id}")),
        Some(("agent", id)) => (format!("/agents/{id}"), format!("agent {id}")),
        _ => ("/alerts/rules".to_string(), key.to_string()),
    };
    html! { a href=(href) { (text) } @if let Some(s) = site { " · " (s) } }
}

fn value_text(metric: &str, v: f64) -> String {
    match Metric::parse(metric) {
        Some(Metric::Signal) => format!("{v:.0} dBm"),
        Some(Metric::Loss) => format!("{v:.0} % lost"),
        Some(Metric::Backlog) => format!("{v:.0} min behind"),
        Some(Metric::SignalDrop) => format!("{v:.0} dB weaker"),
        Some(Metric::StationsDrop) => format!("{v:.0} % of stations gone"),
        Some(Metric::Capacity) => format!("{v:.0} % of usual capacity"),
        None => format!("{v}"),
    }
}

pub(crate) fn render_alerts(
    csrf: Option<&str>,
    rules: &[Rule],
    firings: &[store::Firing],
    sites: &[Site],
    f: &RuleForm,
    errors: &FormErrors,
    now: i64,
) -> Markup {
    let mut firing = Table::new("Nothing is firing.").col("Rule").col("What").col("Since").col("Value").col("State");
    for x in firings {
        firing.push(vec![
            html! { (x.rule) },
            subject_link(&x.subject, x.site.as_deref()),
            html! { (fmt_utc(x.since_ms)) " (" (ago(now, Some(x.since_ms))) ")" },
            html! { (value_text(&x.metric, x.value)) },
            match x.cleared_ms {
                None => ui::tone_badge(Tone::Down, "firing"),
                Some(c) => html! { (ui::tone_badge(Tone::Neutral, "cleared")) " " (fmt_utc(c)) },
            },
        ]);
    }
    let mut table = Table::new("No alert rules yet: incidents (reachability) alert on their own.")
        .col("Name")
        .col("Rule")
        .col("Sites")
        .col("State");
    if csrf.is_some() {
        table = table.col("");
    }
    for r in rules {
        let mut row = vec![
            html! { (r.name) },
            html! { (r.describe()) },
            html! { (r.site.as_deref().unwrap_or("every site")) },
            if r.enabled { ui::tone_badge(Tone::Up, "on") } else { ui::tone_badge(Tone::Neutral, "off") },
        ];
        if let Some(t) = csrf {
            let toggle = if r.enabled { "disable" } else { "enable" };
            row.push(html! {
                (ui::form_with_class("inline", &format!("/alerts/rules/{}/{toggle}", r.id), Method::Post, t, html! {
                    button.secondary type="submit" { @if r.enabled { "Switch off" } @else { "Switch on" } }
                }))
                " "
                (ui::form_with_class("inline", &format!("/alerts/rules/{}/delete", r.id), Method::Post, t, html! {
                    button.danger type="submit" { "Delete" }
                }))
            });
        }
        table.push(row);
    }
    let mut metrics: Vec<(&str, &str)> = vec![("", "Choose…")];
    metrics.extend(Metric::ALL.iter().map(|m| (m.as_str(), metric_label(*m))));
    let ids: Vec<String> = sites.iter().map(|s| s.id.to_string()).collect();
    let mut site_opts: Vec<(&str, &str)> = vec![("", "Every site")];
    site_opts.extend(sites.iter().zip(&ids).map(|(s, id)| (id.as_str(), s.name.as_str())));
    let fields = Fields::new("rule", errors);
    html! {
        h1 { "Alert rules" }
        p { a href="/alerts" { "Controller alerts and failed notifications" } }
        p.muted {
            "Incidents alert the on-call group on their own when devices stop answering. "
            "These rules watch what reachability does not: weak signal, loss, data stuck at a tower, "
            "and links getting worse before the customer calls. "
            a href="/network/links" { "Weak links" } " lists them now."
        }
        h2 { "Firing and recent" }
        (firing)
        h2 { "Rules" }
        (table)
        @if let Some(t) = csrf {
            h2 { "Add a rule" }
            (ui::form_with_class("rule-form", "/alerts/rules", Method::Post, t, html! {
                (fields.summary())
                (fields.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(64)
                    .hint("What the alert says, such as: Weak CPE signal.")))
                (fields.select_field("metric", "Watch", &metrics, &f.metric, FieldOpts::new().required()))
                (fields.number_field("threshold", "Threshold", &f.threshold, true, FieldOpts::new()
                    .hint("dBm for signal (such as -75), % for loss (such as 10), dB for a signal drop (such as 6), \
                           % for stations lost (such as 30) or capacity left (such as 50); not used for the backlog.")))
                (fields.number_field("window_mins", "Window (minutes)", &f.window_mins, false, FieldOpts::new().required()
                    .hint("How long the signal must stay low, the loss window, or how old unsent data may get; \
                           for drops and capacity, the span compared (10080 = a week: its first half is the usual \
                           value, its last eighth the value now).")))
                (fields.select_field("site_id", "Sites", &site_opts, &f.site_id, FieldOpts::new()))
                button #add-rule type="submit" { "Add rule" }
            }))
        }
    }
}

async fn alerts_page(c: &Caller, st: &AppState, f: &RuleForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let rules = store::rules(&st.db).await?;
    let firings = store::firings(&st.db, 50).await?;
    let sites = monitoring::list_sites(&st.db).await?;
    let csrf = (c.role == Role::Admin).then(|| c.csrf.as_deref().unwrap_or(""));
    Ok(page(c, "Alert rules", render_alerts(csrf, &rules, &firings, &sites, f, errors, crate::db::now_ms())))
}

/// `GET /alerts`.
pub async fn alerts(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let f = RuleForm { window_mins: "10".into(), ..Default::default() };
    alerts_page(&c, &st, &f, &FormErrors::new()).await
}

/// `POST /alerts/rules`.
pub async fn add_rule(c: Caller, State(st): State<AppState>, Form(f): Form<RuleForm>) -> PageResult {
    match store::add_rule(&st.db, &f.to_new()).await {
        Ok(r) => {
            audit::record(&st.db, &c.actor(), "alert_rule.add", &format!("rule {}", r.id), &r.describe()).await?;
            Ok(Redirect::to("/alerts/rules").into_response())
        }
        Err(e) => {
            let errors = form_errors(&e, RULE_FIELDS).ok_or(e)?;
            Ok((StatusCode::BAD_REQUEST, alerts_page(&c, &st, &f, &errors).await?).into_response())
        }
    }
}

async fn set_rule(c: &Caller, st: &AppState, id: i64, on: bool) -> PageResult {
    let r = store::set_enabled(&st.db, id, on).await?;
    let what = if on { "alert_rule.enable" } else { "alert_rule.disable" };
    audit::record(&st.db, &c.actor(), what, &format!("rule {id}"), &r.name).await?;
    Ok(Redirect::to("/alerts/rules").into_response())
}

/// `POST /alerts/rules/{id}/enable`.
pub async fn enable_rule(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    set_rule(&c, &st, id, true).await
}

/// `POST /alerts/rules/{id}/disable`.
pub async fn disable_rule(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    set_rule(&c, &st, id, false).await
}

/// `POST /alerts/rules/{id}/delete`.
pub async fn delete_rule(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    store::delete_rule(&st.db, id).await?;
    audit::record(&st.db, &c.actor(), "alert_rule.delete", &format!("rule {id}"), "").await?;
    Ok(Redirect::to("/alerts/rules").into_response())
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ContactForm {
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
    /// `on` when ticked.
    pub alerts: Option<String>,
}

impl ContactForm {
    fn to_new(&self) -> NewContact {
        NewContact {
            name: self.name.clone(),
            role: self.role.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            alerts: self.alerts.is_some(),
        }
    }
}

/// The contacts list (on the site page and the contacts page).
pub(crate) fn contacts_table(site_id: i64, contacts: &[Contact], csrf: Option<&str>) -> Markup {
    let mut t = Table::new("No contacts yet.").col("Name").col("Role").col("Phone").col("Email").col("Alerts");
    if csrf.is_some() {
        t = t.col("");
    }
    for c in contacts {
        let mut row = vec![
            html! { (c.name) },
            html! { (c.role.as_deref().unwrap_or("-")) },
            match &c.phone {
                Some(p) => html! { a href={ "tel:" (p.replace(' ', "")) } { (p) } },
                None => html! { "-" },
            },
            match &c.email {
                Some(e) => html! { a href={ "mailto:" (e) } { (e) } },
                None => html! { "-" },
            },
            html! { @if c.alerts != 0 { "yes" } @else { "no" } },
        ];
        if let Some(tok) = csrf {
            row.push(ui::form_with_class(
                "inline",
                &format!("/sites/{site_id}/contacts/{}/delete", c.id),
                Method::Post,
                tok,
                html! { button.danger type="submit" { "Remove" } },
            ));
        }
        t.push(row);
    }
    t.render()
}

pub(crate) fn render_contacts(
    site: &Site,
    contacts: &[Contact],
    csrf: &str,
    f: &ContactForm,
    errors: &FormErrors,
) -> Markup {
    let fields = Fields::new("contact", errors);
    html! {
        h1 { "Contacts of " (site.name) }
        p { a href={ "/sites/" (site.id) } { "Back to the site" } }
        (contacts_table(site.id, contacts, Some(csrf)))
        h2 { "Add a contact" }
        (ui::form_with_class("contact-form", &format!("/sites/{}/contacts", site.id), Method::Post, csrf, html! {
            (fields.summary())
            (fields.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(64)))
            (fields.text_field("role", "Role", &f.role, FieldOpts::new().max_len(64)
                .hint("Such as: landlord, tower owner, power company, climber.")))
            (fields.tel_field("phone", "Phone", &f.phone, FieldOpts::new().max_len(32)))
            (fields.email_field("email", "Email", &f.email, FieldOpts::new()))
            (fields.checkbox_field("alerts", "Email this contact the site's alerts (incidents and alert rules)",
                f.alerts.is_some(), FieldOpts::new()))
            button #add-contact type="submit" { "Add contact" }
        }))
    }
}

async fn contacts_page(
    c: &Caller,
    st: &AppState,
    id: i64,
    f: &ContactForm,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let site = monitoring::get_site(&st.db, id).await?;
    let list = store::contacts(&st.db, id).await?;
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(c, &format!("Contacts of {}", site.name), render_contacts(&site, &list, csrf, f, errors)))
}

/// `GET /sites/{id}/contacts`.
pub async fn contacts(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    contacts_page(&c, &st, id, &ContactForm::default(), &FormErrors::new()).await
}

/// `POST /sites/{id}/contacts`.
pub async fn add_contact(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ContactForm>,
) -> PageResult {
    match store::add_contact(&st.db, id, &f.to_new()).await {
        Ok(cid) => {
            let what = format!("{} (alerts: {})", f.name.trim(), f.alerts.is_some());
            audit::record(&st.db, &c.actor(), "site.contact.add", &format!("site {id} contact {cid}"), &what).await?;
            Ok(Redirect::to(&format!("/sites/{id}/contacts")).into_response())
        }
        Err(e) => {
            let errors = form_errors(&e, CONTACT_FIELDS).ok_or(e)?;
            Ok((StatusCode::BAD_REQUEST, contacts_page(&c, &st, id, &f, &errors).await?).into_response())
        }
    }
}

/// `POST /sites/{id}/contacts/{contact}/delete`.
pub async fn delete_contact(
    c: Caller,
    State(st): State<AppState>,
    Path((id, contact)): Path<(i64, i64)>,
) -> PageResult {
    let gone = store::delete_contact(&st.db, id, contact).await?;
    audit::record(&st.db, &c.actor(), "site.contact.remove", &format!("site {id} contact {contact}"), &gone.name)
        .await?;
    Ok(Redirect::to(&format!("/sites/{id}/contacts")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_page_escapes_and_offers_actions_to_admins_only() {
        let rule = Rule {
            id: 3,
            name: "<b>weak</b>".into(),
            metric: Metric::Signal,
            threshold: -75.0,
            window_mins: 10,
            site_id: None,
            site: None,
            enabled: true,
        };
        let f = RuleForm::default();
        let admin =
            render_alerts(Some("tok"), std::slice::from_ref(&rule), &[], &[], &f, &FormErrors::new(), 0).into_string();
        assert!(admin.contains("&lt;b&gt;weak&lt;/b&gt;") && !admin.contains("<b>weak"));
        assert!(admin.contains("/alerts/rules/3/disable") && admin.contains("signal below -75 dBm for 10 min"));
        let viewer = render_alerts(None, &[rule], &[], &[], &f, &FormErrors::new(), 0).into_string();
        assert!(!viewer.contains("/alerts/rules/3/disable") && !viewer.contains("rule-form"));
        let mut errors = FormErrors::new();
        errors.field("threshold", "a number from -120 to 0");
        let bad = render_alerts(Some("t"), &[], &[], &[], &f, &errors, 0).into_string();
        assert!(bad.contains("a number from -120 to 0"));
    }
}
