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
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mast_store::StoreError;
use mast_store::outbox::{Channel, Queued};
use serde::Deserialize;

fn set_or_not(v: bool) -> Markup {
    if v { ui::tone_badge(ui::Tone::Up, "set") } else { ui::tone_badge(ui::Tone::Neutral, "not set") }
}

fn or_none(v: Option<&str>) -> Markup {
    html! { @match v { Some(s) if !s.is_empty() => { (s) } _ => { span.muted { "not set" } } } }
}

fn where_set(keys: &str) -> Markup {
    html! { p.muted { "Set in the config file or with " code { (keys) } "; a restart applies a change." } }
}

fn render(
    c: &Caller,
    st: &AppState,
    test_to: &str,
    errors: &FormErrors,
    flash: Option<(ui::FlashKind, &str)>,
) -> Markup {
    let s = &st.settings;
    let op = &s.billing.operator;
    let smtp = s.notify.smtp.as_ref();
    let imap = s.support.imap.as_ref();
    let csrf = c.csrf.as_deref().unwrap_or("");
    let fields = Fields::new("mail-test", errors);
    html! {
        h1 { "Settings" }
        @if let Some((kind, text)) = flash { (ui::flash(kind, text)) }
        section #company {
            h2 { "Company" }
            (ui::kv_list(&[
                ("Name", html! { (op.name) }),
                ("Address", html! { @if op.address.is_empty() { span.muted { "not set" } } @else { (op.address.join(", ")) } }),
                ("Email", or_none(op.email.as_deref())),
                ("Phone", or_none(op.phone.as_deref())),
                ("Tax number", or_none(op.tax_id.as_deref())),
                ("Time zone", html! { (s.timezone) }),
            ]))
            (where_set("[operator] name, address, email, phone, tax_id; timezone (MAST_OPERATOR_*, MAST_TIMEZONE)"))
        }
        section #mail {
            h2 { "Outgoing mail (SMTP)" }
            @match smtp {
                Some(m) => {
                    (ui::kv_list(&[
                        ("Server", html! { (m.host) ":" (m.port.map(|p| p.to_string()).unwrap_or_else(|| "default".into())) }),
                        ("Security", html! { (format!("{:?}", m.security).to_lowercase()) }),
                        ("User", or_none(m.username.as_deref())),
                        ("Password", set_or_not(m.password.is_some())),
                        ("From", html! { (m.from) }),
                    ]))
                    (ui::form_with_class("mail-test", "/settings/mail-test", Method::Post, csrf, html! {
                        (fields.summary())
                        (fields.email_field("to", "Send a test message to", test_to, FieldOpts::new().required()))
                        button #send-test type="submit" { "Send a test message" }
                    }))
                }
                None => {
                    p { (ui::tone_badge(ui::Tone::Degraded, "not configured")) " No mail goes out: customers' notices wait in the "
                        a href="/outbox" { "outbox" } "." }
                }
            }
            (where_set("[mail.smtp] host, port, security, username, password; [mail] from (MAST_SMTP_*, MAST_MAIL_FROM)"))
        }
        section #imap {
            h2 { "Support mailbox (IMAP)" }
            @match imap {
                Some(m) => {
                    (ui::kv_list(&[
                        ("Server", html! { (m.host) }),
                        ("User", html! { (m.username) }),
                        ("Password", set_or_not(true)),
                    ]))
                }
                None => { p { (ui::tone_badge(ui::Tone::Neutral, "not configured")) " Mail to support does not become tickets." } }
            }
            (where_set("[mail.imap] host, port, security, username, password, mailbox (MAST_IMAP_*)"))
        }
        section #alerts {
            h2 { "Staff alerts" }
            (ui::kv_list(&[
                ("On-call group", or_none(s.alerts.on_call_group.as_deref())),
                ("Escalation group", or_none(s.alerts.escalation_group.as_deref())),
                ("Escalate after", html! { (s.alerts.escalate_after.as_secs() / 60) " min unacknowledged" }),
                ("Webhook", match &s.alerts.webhook {
                    Some((url, secret)) => html! { span.mono { (url) } " · signing secret " (set_or_not(secret.is_some())) },
                    None => or_none(None),
                }),
            ]))
            (where_set("[alerts] on_call_group, escalation_group, escalate_after_mins, webhook_url, webhook_secret (MAST_ALERT_*)"))
        }
        section #sms {
            h2 { "SMS webhook" }
            @match &s.notify.sms_webhook {
                Some((url, secret)) => {
                    (ui::kv_list(&[
                        ("URL", html! { span.mono { (url) } }),
                        ("Signing secret", set_or_not(secret.is_some())),
                    ]))
                }
                None => { p { (ui::tone_badge(ui::Tone::Neutral, "not configured")) " No SMS notices." } }
            }
            (where_set("[sms] webhook_url, webhook_secret (MAST_SMS_WEBHOOK_URL, MAST_SMS_WEBHOOK_SECRET)"))
        }
    }
}

/// `GET /settings`.
pub async fn page_get(c: Caller, State(st): State<AppState>) -> Markup {
    page(&c, "Settings", render(&c, &st, "", &FormErrors::new(), None))
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
    let Some(transport) = st.transports.email.clone() else {
        let body = render(
            &c,
            &st,
            &f.to,
            &FormErrors::new(),
            Some((ui::FlashKind::Error, "Outgoing mail is not configured.")),
        );
        return Ok((StatusCode::CONFLICT, page(&c, "Settings", body)).into_response());
    };
    let to = match check_address(&f.to) {
        Ok(to) => to,
        Err(StoreError::Invalid { reason, .. }) => {
            let mut errors = FormErrors::new();
            errors.field("to", reason);
            return Ok(
                (StatusCode::BAD_REQUEST, page(&c, "Settings", render(&c, &st, &f.to, &errors, None))).into_response()
            );
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
    let (status, body) = match result {
        Ok(()) => (
            StatusCode::OK,
            render(
                &c,
                &st,
                &to,
                &FormErrors::new(),
                Some((ui::FlashKind::Success, &format!("Sent to {to}. Check that it arrived."))),
            ),
        ),
        Err(why) => {
            let mut errors = FormErrors::new();
            errors.field("to", format!("not sent: {why}"));
            (StatusCode::BAD_GATEWAY, render(&c, &st, &to, &errors, None))
        }
    };
    Ok((status, page(&c, "Settings", body)).into_response())
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
            href: None,
            hint: "mast-controller billing plan add (the billing pages come next)",
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
