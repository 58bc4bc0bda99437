//! The settings page (admin): what the controller runs with (company details
//! on invoices and mail, time zone, outgoing mail, the support mailbox, the
//! SMS webhook), secrets only as "set", with "send a test message" for the
//! outgoing mail; and the first-run checklist the dashboard shows a new
//! install. Settings come from the config file and `MAST_*` variables
//! (documented in `deploy/controller.toml`); the page says where each one
//! is set.

use super::{ApiError, AppState, Caller, audit, pages::page};
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, html};
use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::config::{Config, ConfigError};
use mast_store::StoreError;
use mast_store::outbox::{Channel, Queued};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

fn set_or_not(v: bool) -> Markup {
    if v { ui::tone_badge(ui::Tone::Up, "set") } else { ui::tone_badge(ui::Tone::Neutral, "not set") }
}

fn or_none(v: Option<&str>) -> Markup {
    html! { @match v { Some(s) if !s.is_empty() => { (s) } _ => { span.muted { "not set" } } } }
}

/// How a setting is typed on the page.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Email,
    /// One entry per line (stored `;`-joined).
    Lines,
    Number,
    Choice(&'static [(&'static str, &'static str)]),
    Secret,
}

/// One editable setting: its `MAST_*` name, label, kind and hint.
struct Item {
    key: &'static str,
    label: &'static str,
    kind: Kind,
    hint: &'static str,
}

const fn item(key: &'static str, label: &'static str, kind: Kind, hint: &'static str) -> Item {
    Item { key, label, kind, hint }
}

const SMTP_SECURITY: &[(&str, &str)] = &[("starttls", "STARTTLS"), ("tls", "TLS"), ("none", "None (local relay only)")];
const IMAP_SECURITY: &[(&str, &str)] = &[("tls", "TLS"), ("none", "None (local server only)")];

/// The page's sections: `(id, heading, items)`. Every key is one of
/// `mast_app::config::BROWSER_KEYS` (a test keeps them in step).
const SECTIONS: &[(&str, &str, &[Item])] = &[
    (
        "company",
        "Company",
        &[
            item("MAST_OPERATOR_NAME", "Name", Kind::Text, "On invoices, mail and the portal."),
            item("MAST_OPERATOR_ADDRESS", "Address", Kind::Lines, "One line each, as on an envelope."),
            item("MAST_OPERATOR_EMAIL", "Email", Kind::Email, ""),
            item("MAST_OPERATOR_PHONE", "Phone", Kind::Text, ""),
            item("MAST_OPERATOR_TAX_ID", "Tax number", Kind::Text, "Printed on invoices."),
            item(
                "MAST_TIMEZONE",
                "Time zone",
                Kind::Text,
                "IANA name such as America/Chicago: business hours, billing dates, times in notices.",
            ),
        ],
    ),
    (
        "mail",
        "Outgoing mail (SMTP)",
        &[
            item("MAST_MAIL_FROM", "From", Kind::Text, "Such as: Ridge Wireless <noc@ridge.example>"),
            item("MAST_SMTP_HOST", "Server", Kind::Text, "Empty: no mail goes out (notices wait in the outbox)."),
            item("MAST_SMTP_PORT", "Port", Kind::Number, "587 with STARTTLS, 465 with TLS."),
            item("MAST_SMTP_SECURITY", "Security", Kind::Choice(SMTP_SECURITY), ""),
            item("MAST_SMTP_USERNAME", "User", Kind::Text, ""),
            item("MAST_SMTP_PASSWORD", "Password", Kind::Secret, ""),
        ],
    ),
    (
        "imap",
        "Support mailbox (IMAP)",
        &[
            item("MAST_IMAP_HOST", "Server", Kind::Text, "Mail to this mailbox becomes tickets. Empty: no intake."),
            item("MAST_IMAP_PORT", "Port", Kind::Number, ""),
            item("MAST_IMAP_SECURITY", "Security", Kind::Choice(IMAP_SECURITY), ""),
            item("MAST_IMAP_USERNAME", "User", Kind::Text, ""),
            item("MAST_IMAP_PASSWORD", "Password", Kind::Secret, ""),
            item("MAST_IMAP_MAILBOX", "Mailbox", Kind::Text, ""),
        ],
    ),
    (
        "sms",
        "SMS webhook",
        &[
            item(
                "MAST_SMS_WEBHOOK_URL",
                "URL",
                Kind::Text,
                "Your SMS gateway's endpoint; each notice is a signed JSON POST.",
            ),
            item("MAST_SMS_WEBHOOK_SECRET", "Signing secret", Kind::Secret, ""),
        ],
    ),
    (
        "alerts",
        "Staff alerts",
        &[
            item(
                "MAST_ALERT_ON_CALL_GROUP",
                "On-call group",
                Kind::Text,
                "A staff group: hears when an incident opens, grows and recovers.",
            ),
            item(
                "MAST_ALERT_ESCALATION_GROUP",
                "Escalation group",
                Kind::Text,
                "Hears when nobody acknowledges an incident in time.",
            ),
            item("MAST_ALERT_ESCALATE_AFTER_MINS", "Escalate after (minutes)", Kind::Number, ""),
            item(
                "MAST_ALERT_WEBHOOK_URL",
                "Chat webhook URL",
                Kind::Text,
                "A chat tool's incoming webhook; alerts are signed JSON.",
            ),
            item("MAST_ALERT_WEBHOOK_SECRET", "Webhook signing secret", Kind::Secret, ""),
        ],
    ),
];

/// The form field of a `MAST_*` name: `MAST_SMTP_HOST` → `smtp_host`.
fn field_name(key: &str) -> String {
    key.trim_start_matches("MAST_").to_ascii_lowercase()
}

/// Set in the process environment: wins over anything saved here.
fn pinned(key: &str) -> bool {
    std::env::var_os(key).is_some()
}

/// What the controller will run with after a restart: the file, the saved
/// settings, the environment.
fn next_config(st: &AppState, saved: &BTreeMap<String, String>) -> Config {
    st.config.with_saved(saved, |k| std::env::var(k).ok()).unwrap_or_else(|_| (*st.config).clone())
}

fn render_item(fields: &Fields, it: &Item, cfg: &Config, form: Option<&BTreeMap<String, String>>) -> Markup {
    let name = field_name(it.key);
    let current = cfg.browser_value(it.key).unwrap_or_default();
    // What was typed (a refused save keeps it), else the current value.
    let value = form.and_then(|f| f.get(&name)).cloned().unwrap_or_else(|| match it.kind {
        Kind::Lines => current.split(';').collect::<Vec<_>>().join("\n"),
        _ => current.clone(),
    });
    let o = FieldOpts::new().hint(it.hint);
    if pinned(it.key) {
        let shown =
            if matches!(it.kind, Kind::Secret) { set_or_not(!current.is_empty()) } else { or_none(Some(&current)) };
        return html! {
            div.field.pinned {
                span.label { (it.label) } " " (shown)
                p.field-hint { "Fixed by " code { (it.key) } " in the controller's environment." }
            }
        };
    }
    match it.kind {
        Kind::Text => fields.text_field(&name, it.label, &value, o.max_len(200)),
        Kind::Email => fields.email_field(&name, it.label, &value, o),
        Kind::Number => fields.number_field(&name, it.label, &value, false, o),
        Kind::Lines => fields.textarea_field(&name, it.label, &value, o.max_len(1000)),
        Kind::Choice(options) => fields.select_field(&name, it.label, options, &value, o),
        Kind::Secret => html! {
            (fields.secret_field(&name, it.label, !current.is_empty(), o))
            @if !current.is_empty() {
                (fields.checkbox_field(&format!("clear_{name}"), "Remove it", false, FieldOpts::new()))
            }
        },
    }
}

/// What a settings page shows besides the settings.
#[derive(Default)]
struct Shown<'a> {
    test_to: &'a str,
    /// Errors of the settings form.
    errors: Option<&'a FormErrors>,
    /// Errors of the test message form.
    test_errors: Option<&'a FormErrors>,
    flash: Option<(ui::FlashKind, &'a str)>,
    /// What was typed, when a save was refused.
    form: Option<&'a BTreeMap<String, String>>,
    /// Errors of the logo upload.
    logo_errors: Option<&'a FormErrors>,
}

fn render(c: &Caller, st: &AppState, saved: &BTreeMap<String, String>, has_logo: bool, v: &Shown) -> Markup {
    let next = next_config(st, saved);
    let pending = *saved != *st.saved_at_start;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let none = FormErrors::new();
    let fields = Fields::new("settings", v.errors.unwrap_or(&none));
    let test = Fields::new("mail-test", v.test_errors.unwrap_or(&none));
    let logo = Fields::new("logo", v.logo_errors.unwrap_or(&none));
    html! {
        h1 { "Settings" }
        @if let Some((kind, text)) = v.flash { (ui::flash(kind, text)) }
        @if pending {
            section #restart .callout {
                p { (ui::tone_badge(ui::Tone::Degraded, "not applied yet")) " Saved settings take effect when the controller starts again." }
                @if st.restartable {
                    (ui::form_with_class("inline", "/settings/restart", Method::Post, csrf, html! {
                        button #restart-now type="submit" { "Restart the controller now" }
                    }))
                    p.muted { "Agents reconnect within seconds; nothing they measure is lost." }
                } @else {
                    p.muted { "Restart the controller (for the demo: stop it and start it again) to apply them." }
                }
            }
        }
        (ui::form_with_class("settings-form", "/settings", Method::Post, csrf, html! {
            (fields.summary())
            @for (id, heading, items) in SECTIONS {
                fieldset id=(id) {
                    legend { (heading) }
                    @for it in items.iter() { (render_item(&fields, it, &next, v.form)) }
                }
            }
            button #save-settings type="submit" { "Save settings" }
        }))
        p.muted {
            "Saved here, a setting overrides the config file; a " code { "MAST_*" } " environment variable of the same name wins over both. "
            "Every option is documented in " code { "deploy/controller.toml" } "."
        }
        section #logo {
            h2 { "Logo" }
            p.muted { "Printed at the top of every invoice. PNG or JPEG, at most 512 KB and 2000 pixels a side." }
            @if has_logo {
                p { img.logo-preview src="/brand/logo" alt="The company logo"; }
            }
            form.logo-form method="post" action="/settings/logo" enctype="multipart/form-data" {
                (ui::csrf_field(csrf))
                (logo.summary())
                div.field.has-error[v.logo_errors.and_then(|e| e.get("logo")).is_some()] {
                    label for="logo-logo" { (if has_logo { "Replace the logo" } else { "Upload a logo" }) }
                    input #logo-logo type="file" name="logo" accept="image/png,image/jpeg" required;
                    @if let Some(e) = v.logo_errors.and_then(|e| e.get("logo")) {
                        p.field-error #logo-logo-error role="alert" { (e) }
                    }
                }
                button #upload-logo type="submit" { "Upload" }
            }
            @if has_logo {
                (ui::form_with_class("inline", "/settings/logo/delete", Method::Post, csrf, html! {
                    button.danger #remove-logo type="submit" { "Remove the logo" }
                }))
            }
        }
        section #mail-test {
            h2 { "Send a test message" }
            @if st.transports.email.is_some() {
                (ui::form_with_class("mail-test", "/settings/mail-test", Method::Post, csrf, html! {
                    (test.summary())
                    (test.email_field("to", "Send a test message to", v.test_to, FieldOpts::new().required()))
                    button #send-test type="submit" { "Send a test message" }
                }))
            } @else {
                p { (ui::tone_badge(ui::Tone::Degraded, "not configured")) " No mail goes out: customers' notices wait in the "
                    a href="/outbox" { "outbox" } "." }
            }
        }
    }
}

async fn settings_page(c: &Caller, st: &AppState, status: StatusCode, v: Shown<'_>) -> Result<Response, ApiError> {
    let saved = mast_store::settings::all(&st.db).await?;
    let has_logo = mast_store::settings::logo(&st.db).await?.is_some();
    Ok((status, page(c, "Settings", render(c, st, &saved, has_logo, &v))).into_response())
}

/// `GET /settings`.
pub async fn page_get(c: Caller, State(st): State<AppState>) -> Result<Response, ApiError> {
    let none = FormErrors::new();
    settings_page(
        &c,
        &st,
        StatusCode::OK,
        Shown {
            test_to: "",
            errors: Some(&none),
            test_errors: Some(&none),
            flash: None,
            form: None,
            logo_errors: None,
        },
    )
    .await
}

/// The form as submitted, by field name (`csrf` and unknown names ignored).
fn form_map(pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    pairs.into_iter().filter(|(k, _)| k != "csrf").collect()
}

/// The saved settings `form` asks for, from `saved` now and `base` (the
/// file and the environment): a value equal to the base is not saved; an
/// empty secret keeps the saved one; "Remove it" unsets it; a field not
/// sent is left as it is.
fn wanted(
    form: &BTreeMap<String, String>,
    saved: &BTreeMap<String, String>,
    base: &Config,
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut out = saved.clone();
    for it in SECTIONS.iter().flat_map(|(_, _, items)| items.iter()) {
        if pinned(it.key) {
            continue;
        }
        let name = field_name(it.key);
        let typed = form.get(&name).map(|v| v.trim());
        if let Kind::Secret = it.kind {
            if form.contains_key(&format!("clear_{name}")) {
                out.insert(it.key.to_string(), String::new());
            } else if let Some(t) = typed.filter(|t| !t.is_empty()) {
                out.insert(it.key.to_string(), t.to_string());
            }
            continue;
        }
        // A field the form did not send stays as it is.
        let Some(typed) = typed else { continue };
        let value = match it.kind {
            Kind::Lines => {
                let lines: Vec<&str> = typed.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                if lines.iter().any(|l| l.contains(';')) {
                    return Err(StoreError::invalid(&name, "one line each, without ';'"));
                }
                lines.join(";")
            }
            _ => typed.to_string(),
        };
        mast_text_core::input::line(&value, 1000).map_err(|p| StoreError::invalid(&name, p.to_string()))?;
        if base.browser_value(it.key).as_deref() == Some(value.as_str()) {
            out.remove(it.key);
        } else {
            out.insert(it.key.to_string(), value);
        }
    }
    Ok(out)
}

/// The form field a configuration error is about, if it has one.
fn error_field(key: &str) -> Option<String> {
    let key = match key {
        "timezone" => "MAST_TIMEZONE",
        k => k,
    };
    mast_app::config::BROWSER_KEYS.contains(&key).then(|| field_name(key))
}

/// `POST /settings`: checks the whole configuration the change would give
/// (errors next to their field), saves it, and offers the restart that
/// applies it.
pub async fn save(
    c: Caller,
    State(st): State<AppState>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let form = form_map(pairs);
    let saved = mast_store::settings::all(&st.db).await?;
    let none = FormErrors::new();
    let refuse = async |errors: FormErrors| {
        settings_page(
            &c,
            &st,
            StatusCode::BAD_REQUEST,
            Shown {
                test_to: "",
                errors: Some(&errors),
                test_errors: Some(&none),
                flash: None,
                form: Some(&form),
                logo_errors: None,
            },
        )
        .await
    };
    let want = match wanted(&form, &saved, &st.config) {
        Ok(w) => w,
        Err(StoreError::Invalid { field, reason }) => {
            let mut errors = FormErrors::new();
            errors.field(&field, reason);
            return refuse(errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    let checked = st
        .config
        .with_saved(&want, |k| std::env::var(k).ok())
        .map_err(|e| match &e {
            ConfigError::Invalid { key, problem } => (error_field(key), problem.clone()),
            other => (None, other.to_string()),
        })
        .and_then(|cfg| {
            mast_app::context::check(&cfg).map_err(|e| match e.downcast_ref::<ConfigError>() {
                Some(ConfigError::Invalid { key, problem }) => (error_field(key), problem.clone()),
                _ => (None, format!("{e:#}")),
            })
        });
    if let Err((field, problem)) = checked {
        let mut errors = FormErrors::new();
        match field {
            Some(f) => errors.field(&f, problem),
            None => errors.form(format!("Not saved: {problem}")),
        };
        return refuse(errors).await;
    }
    let keys: BTreeSet<&String> = want.keys().chain(saved.keys()).collect();
    let changes: Vec<(&str, Option<String>)> = keys
        .into_iter()
        .filter(|k| want.get(*k) != saved.get(*k))
        .map(|k| (k.as_str(), want.get(k).cloned()))
        .collect();
    if changes.is_empty() {
        let flash = Some((ui::FlashKind::Info, "Nothing changed."));
        return settings_page(
            &c,
            &st,
            StatusCode::OK,
            Shown { test_to: "", errors: Some(&none), test_errors: Some(&none), flash, form: None, logo_errors: None },
        )
        .await;
    }
    mast_store::settings::save(&st.db, &changes, &c.name).await?;
    // Names only: a secret's value never reaches the audit log.
    let names: Vec<&str> = changes.iter().map(|(k, _)| *k).collect();
    audit::record(&st.db, &c.actor(), "settings.change", "settings", &names.join(", ")).await?;
    let flash = Some((ui::FlashKind::Success, "Saved."));
    settings_page(
        &c,
        &st,
        StatusCode::OK,
        Shown { test_to: "", errors: Some(&none), test_errors: Some(&none), flash, form: None, logo_errors: None },
    )
    .await
}

/// `POST /settings/restart`: the controller shuts down gracefully and
/// starts again in place with the saved settings (`serve` only).
pub async fn restart(c: Caller, State(st): State<AppState>) -> Result<Response, ApiError> {
    if !st.restartable {
        let none = FormErrors::new();
        let flash = Some((
            ui::FlashKind::Error,
            "This controller cannot restart itself (the demo): stop it and start it again.",
        ));
        return settings_page(
            &c,
            &st,
            StatusCode::CONFLICT,
            Shown { test_to: "", errors: Some(&none), test_errors: Some(&none), flash, form: None, logo_errors: None },
        )
        .await;
    }
    audit::record(&st.db, &c.actor(), "controller.restart", "controller", "to apply saved settings").await?;
    mast_app::context::request_restart();
    let stop = st.shutdown.clone();
    tokio::spawn(async move {
        // Let this answer reach the browser first.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        stop.trigger();
    });
    let body = html! {
        h1 { "Restarting" }
        p #restarting { "The controller is starting again with the saved settings; this takes a few seconds." }
        p { a href="/settings" { "Back to the settings" } }
    };
    Ok(page(&c, "Restarting", body).into_response())
}

/// `POST /settings/logo` (multipart: `logo`, `csrf`): checks the image
/// (PNG or JPEG that decodes, size limits) and stores it; a refused one is
/// explained next to the field.
pub async fn upload_logo(c: Caller, State(st): State<AppState>, mut form: Multipart) -> Result<Response, ApiError> {
    let mut file: Option<Vec<u8>> = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("logo") {
            match field.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(_) => file = Some(Vec::new()),
            }
        }
    }
    let checked = match file.as_deref() {
        None | Some([]) => Err("choose an image file".to_string()),
        Some(bytes) => mast_billing_core::pdf::check_logo(bytes).map_err(|e| e.to_string()),
    };
    let (content_type, w, h) = match checked {
        Ok(v) => v,
        Err(why) => {
            let mut errors = FormErrors::new();
            errors.field("logo", why);
            let shown = Shown { logo_errors: Some(&errors), ..Default::default() };
            return settings_page(&c, &st, StatusCode::BAD_REQUEST, shown).await;
        }
    };
    let bytes = file.unwrap_or_default();
    mast_store::settings::set_logo(&st.db, Some((content_type, &bytes)), &c.name).await?;
    let what = format!("{content_type}, {w}×{h}, {} bytes", bytes.len());
    audit::record(&st.db, &c.actor(), "settings.logo", "logo", &what).await?;
    Ok(Redirect::to("/settings#logo").into_response())
}

/// `POST /settings/logo/delete`.
pub async fn delete_logo(c: Caller, State(st): State<AppState>) -> Result<Response, ApiError> {
    mast_store::settings::set_logo(&st.db, None, &c.name).await?;
    audit::record(&st.db, &c.actor(), "settings.logo", "logo", "removed").await?;
    Ok(Redirect::to("/settings#logo").into_response())
}

/// `GET /brand/logo`: the company logo (public: invoices, mail and the
/// portal may show it), or 404.
pub async fn logo(State(st): State<AppState>) -> Result<Response, ApiError> {
    match mast_store::settings::logo(&st.db).await? {
        Some((content_type, bytes)) => Ok((
            [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300".to_string())],
            bytes,
        )
            .into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MailTest {
    to: String,
}

fn check_address(to: &str) -> Result<String, StoreError> {
    let to = to.trim();
    mast_text_core::input::line(to, mast_text_core::input::MAX_EMAIL)
        .map_err(|p| StoreError::invalid("to", p.to_string()))?;
    let ok = to.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !to.chars().any(char::is_whitespace);
    if ok { Ok(to.to_string()) } else { Err(StoreError::invalid("to", "is not an email address")) }
}

/// `POST /settings/mail-test`: sends one message now through the configured
/// SMTP server and says what happened (the server's answer on failure).
pub async fn mail_test(c: Caller, State(st): State<AppState>, Form(f): Form<MailTest>) -> Result<Response, ApiError> {
    let none = FormErrors::new();
    let Some(transport) = st.transports.email.clone() else {
        let flash = Some((ui::FlashKind::Error, "Outgoing mail is not configured."));
        return settings_page(
            &c,
            &st,
            StatusCode::CONFLICT,
            Shown {
                test_to: &f.to,
                errors: Some(&none),
                test_errors: Some(&none),
                flash,
                form: None,
                logo_errors: None,
            },
        )
        .await;
    };
    let to = match check_address(&f.to) {
        Ok(to) => to,
        Err(StoreError::Invalid { reason, .. }) => {
            let mut errors = FormErrors::new();
            errors.field("to", reason);
            return settings_page(
                &c,
                &st,
                StatusCode::BAD_REQUEST,
                Shown {
                    test_to: &f.to,
                    errors: Some(&none),
                    test_errors: Some(&errors),
                    flash: None,
                    form: None,
                    logo_errors: None,
                },
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let now = crate::db::now_ms();
    let m = Queued {
        id: 0,
        dedup: format!("settings:mail-test:{now}"),
        channel: Channel::Email,
        recipient: to.clone(),
        subject: "Mast test message".into(),
        body: format!("This is a test message from Mast, sent by {} from the settings page.\n", c.name),
        headers: Default::default(),
        customer_id: None,
        ticket_id: None,
        created_ms: now,
        attempts: 0,
        sent_ms: None,
        failed_ms: None,
        last_error: None,
    };
    let result = transport.deliver(&m).await;
    audit::record(&st.db, &c.actor(), "mail.test", &to, if result.is_ok() { "sent" } else { "failed" }).await?;
    match result {
        Ok(()) => {
            let text = format!("Sent to {to}. Check that it arrived.");
            settings_page(
                &c,
                &st,
                StatusCode::OK,
                Shown {
                    test_to: &to,
                    errors: Some(&none),
                    test_errors: Some(&none),
                    flash: Some((ui::FlashKind::Success, &text)),
                    form: None,
                    logo_errors: None,
                },
            )
            .await
        }
        Err(why) => {
            let mut errors = FormErrors::new();
            errors.field("to", format!("not sent: {why}"));
            settings_page(
                &c,
                &st,
                StatusCode::BAD_GATEWAY,
                Shown {
                    test_to: &to,
                    errors: Some(&none),
                    test_errors: Some(&errors),
                    flash: None,
                    form: None,
                    logo_errors: None,
                },
            )
            .await
        }
    }
}

/// One step of the first-run checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub label: &'static str,
    pub done: bool,
    /// Where it is done; `None`: the hint says how.
    pub href: Option<&'static str>,
    pub hint: &'static str,
}

/// The first-run checklist for an admin, or `None` once every step is done
/// (or for other roles).
pub async fn checklist(st: &AppState, role: Role) -> Result<Option<Vec<Step>>, StoreError> {
    if role != Role::Admin {
        return Ok(None);
    }
    let db = &st.db;
    let op = &st.settings.billing.operator;
    let company = op.name != mast_app::config::Operator::default().name && !op.address.is_empty();
    let steps = vec![
        Step {
            label: "Company details",
            done: company,
            href: Some("/settings#company"),
            hint: "name and address on invoices and mail",
        },
        Step {
            label: "Outgoing mail",
            done: st.transports.email.is_some(),
            href: Some("/settings#mail"),
            hint: "so customers get their notices",
        },
        Step {
            label: "First site",
            done: !crate::monitoring::list_sites(db).await?.is_empty(),
            href: Some("/sites/new"),
            hint: "a tower with what to probe",
        },
        Step {
            label: "First agent",
            done: crate::fleet::list_agents(db).await?.iter().any(|a| a.status == crate::fleet::AgentStatus::Active),
            href: Some("/agents"),
            hint: "enroll the tower's agent",
        },
        Step {
            label: "First plan",
            done: !mast_store::billing::plans::plans(db).await?.is_empty(),
            href: Some("/billing/plans#new-plan"),
            hint: "what you sell: price, speeds, tax",
        },
        Step {
            label: "First customer",
            done: mast_store::customers::count(db, "").await? > 0,
            href: Some("/customers"),
            hint: "with the CPE that serves them",
        },
    ];
    Ok((!steps.iter().all(|s| s.done)).then_some(steps))
}

/// The checklist as the dashboard shows it.
pub fn render_checklist(steps: &[Step]) -> Markup {
    let done = steps.iter().filter(|s| s.done).count();
    html! {
        section.checklist #first-run {
            h2 { "Getting started · " (done) " of " (steps.len()) " done" }
            ol {
                @for s in steps {
                    li class=(if s.done { "done" } else { "todo" }) {
                        @if s.done { span.badge.up { "done" } " " } @else { span.badge.neutral { "to do" } " " }
                        @match s.href {
                            Some(h) => { a href=(h) { (s.label) } }
                            None => { (s.label) }
                        }
                        span.muted { " · " (s.hint) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_offers_exactly_the_settings_the_controller_takes_from_the_browser() {
        let mut on_page: Vec<&str> = SECTIONS.iter().flat_map(|(_, _, items)| items.iter().map(|i| i.key)).collect();
        let mut secrets: Vec<&str> = SECTIONS
            .iter()
            .flat_map(|(_, _, items)| items.iter().filter(|i| matches!(i.kind, Kind::Secret)).map(|i| i.key))
            .collect();
        on_page.sort_unstable();
        secrets.sort_unstable();
        let mut keys = mast_app::config::BROWSER_KEYS.to_vec();
        let mut secret_keys = mast_app::config::BROWSER_SECRETS.to_vec();
        keys.sort_unstable();
        secret_keys.sort_unstable();
        assert_eq!(on_page, keys);
        assert_eq!(secrets, secret_keys, "secrets are write-only fields");
        assert_eq!(error_field("timezone").as_deref(), Some("timezone"));
        assert_eq!(error_field("MAST_SMTP_PORT").as_deref(), Some("smtp_port"));
        assert_eq!(error_field("MAST_DATA_DIR"), None);
    }

    #[test]
    fn a_change_saves_only_what_differs_from_the_file_and_keeps_secrets_unless_removed() {
        let base = Config::default();
        let saved: BTreeMap<String, String> =
            [("MAST_SMTP_PASSWORD".to_string(), "old".to_string()), ("MAST_SMTP_HOST".to_string(), "m".to_string())]
                .into_iter()
                .collect();
        let form = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let f = form(&[
            ("smtp_host", " mail.example "),
            ("smtp_port", &base.mail.smtp.port.to_string()),
            ("smtp_password", ""),
            ("operator_address", "1 Tower Rd\n\n Ridge "),
        ]);
        let w = wanted(&f, &saved, &base).unwrap();
        assert_eq!(w.get("MAST_SMTP_HOST").map(String::as_str), Some("mail.example"));
        assert_eq!(w.get("MAST_SMTP_PASSWORD").map(String::as_str), Some("old"), "empty keeps the secret");
        assert!(!w.contains_key("MAST_SMTP_PORT"), "the file's value is not saved");
        assert_eq!(w.get("MAST_OPERATOR_ADDRESS").map(String::as_str), Some("1 Tower Rd;Ridge"));
        assert!(!w.contains_key("MAST_IMAP_HOST"), "fields not sent stay as they are");
        let w = wanted(&form(&[("clear_smtp_password", "on"), ("smtp_host", "")]), &saved, &base).unwrap();
        assert_eq!(w.get("MAST_SMTP_PASSWORD").map(String::as_str), Some(""), "removed: unset over the file");
        assert!(!w.contains_key("MAST_SMTP_HOST"), "back to the file's (none)");
        let e = wanted(&form(&[("operator_address", "a;b")]), &saved, &base).unwrap_err();
        assert_eq!(e.field(), Some("operator_address"));
    }

    #[test]
    fn test_addresses_are_checked_and_the_checklist_escapes() {
        assert_eq!(check_address(" noc@wisp.example ").unwrap(), "noc@wisp.example");
        for bad in ["", "noc", "noc@", "a b@wisp.example", "x@localhost", "a@\u{7}.example"] {
            assert_eq!(check_address(bad).unwrap_err().field(), Some("to"), "{bad:?}");
        }
        let steps = [
            Step { label: "First site", done: true, href: Some("/sites/new"), hint: "<b>" },
            Step { label: "First plan", done: false, href: None, hint: "cli" },
        ];
        let s = render_checklist(&steps).into_string();
        assert!(s.contains("1 of 2 done") && s.contains(r#"href="/sites/new""#) && s.contains("&lt;b&gt;"), "{s}");
    }
}
