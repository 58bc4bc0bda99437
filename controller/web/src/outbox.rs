//! The outbox page: every message the controller queued for customers and
//! staff (outage notices and updates, ticket replies, invoices, sign-in
//! links, escalations), queued, sent or failed, newest first. Subjects,
//! recipients, attempts and the last error are shown; bodies never are (a
//! queued sign-in link is a working secret until it is sent).

use super::{ApiError, AppState, Caller, fmt_utc};
use crate::pages;
use crate::staff::Role;
use crate::ui::{self, Markup, Table, Tone, html};
use axum::extract::{Query, State};
use mast_store::outbox::{self as store, Delivery, Queued};
use serde::Deserialize;

/// Who may see the outbox (recipients are customers' addresses).
pub const READERS: &[Role] = &[Role::Admin, Role::Support];

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutboxQ {
    status: String,
    offset: i64,
}

/// `GET /outbox?status=queued|sent|failed&offset=N`.
pub async fn page(c: Caller, State(st): State<AppState>, Query(q): Query<OutboxQ>) -> Result<Markup, ApiError> {
    let state = match q.status.as_str() {
        "" => None,
        s => Some(Delivery::parse(s)?),
    };
    let (rows, total) = store::page(&st.db, state, PAGE, q.offset).await?;
    let channels = st.channels();
    Ok(pages::page(&c, "Outbox", render(&rows, state, total, q.offset.max(0), channels.email, channels.webhook)))
}

fn tone(d: Delivery) -> Tone {
    match d {
        Delivery::Queued => Tone::Degraded,
        Delivery::Sent => Tone::Up,
        Delivery::Failed => Tone::Down,
    }
}

pub(crate) fn render(
    rows: &[Queued],
    state: Option<Delivery>,
    total: i64,
    offset: i64,
    email: bool,
    sms: bool,
) -> Markup {
    let mut t = Table::new(if state.is_some() { "No message in this state." } else { "Nothing queued yet." })
        .col("Queued (UTC)")
        .col("State")
        .col("Channel")
        .col("To")
        .col("Subject")
        .num_col("Attempts")
        .col("Last error");
    for m in rows {
        let d = Delivery::of(m);
        t.push(vec![
            html! { (fmt_utc(m.created_ms)) },
            ui::tone_badge(tone(d), d.as_str()),
            html! { (m.channel.as_str()) },
            html! {
                @match m.customer_id {
                    Some(cid) => { a href={ "/customers/" (cid) } { (m.recipient) } },
                    None => { (m.recipient) },
                }
            },
            html! {
                @match m.ticket_id {
                    Some(tid) => { a href={ "/tickets/" (tid) } { (m.subject) } },
                    None => { (m.subject) },
                }
            },
            html! { (m.attempts) },
            html! { (m.last_error.as_deref().unwrap_or("")) },
        ]);
    }
    let status = state.map(Delivery::as_str).unwrap_or("");
    let pairs: Vec<(&str, &str)> = if status.is_empty() { vec![] } else { vec![("status", status)] };
    html! {
        h1 { "Outbox" }
        @if !email || !sms {
            p.banner {
                @if !email { "Email is not configured ([mail.smtp] host): nothing is queued for email. " }
                @if !sms { "The SMS webhook is not configured ([sms] webhook_url): nothing is queued for SMS." }
            }
        }
        p {
            @if state.is_none() { strong { "All" } } @else { a href="/outbox" { "All" } }
            @for d in Delivery::ALL {
                " · "
                @if state == Some(d) { strong { (d.as_str()) } }
                @else { a href={ "/outbox?status=" (d.as_str()) } { (d.as_str()) } }
            }
        }
        (t)
        (ui::pager("/outbox", &pairs, offset, PAGE, rows.len(), Some(total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_store::outbox::Channel;
    use std::collections::BTreeMap;

    const HOSTILE: &str = "\"><script>alert(1)</script>";

    fn msg(sent: Option<i64>, failed: Option<i64>) -> Queued {
        Queued {
            id: 1,
            dedup: "d".into(),
            channel: Channel::Email,
            recipient: HOSTILE.into(),
            subject: HOSTILE.into(),
            body: "secret-link-body".into(),
            headers: BTreeMap::new(),
            customer_id: Some(3),
            ticket_id: Some(4),
            created_ms: 0,
            attempts: 2,
            sent_ms: sent,
            failed_ms: failed,
            last_error: Some(HOSTILE.into()),
        }
    }

    #[test]
    fn states_escaping_links_and_no_bodies() {
        let rows = [msg(None, None), msg(Some(1), None), msg(None, Some(1))];
        let s = render(&rows, None, 3, 0, true, false).into_string();
        assert!(!s.contains("<script>") && s.contains("&lt;script&gt;"));
        assert!(!s.contains("secret-link-body"), "bodies are never shown");
        for state in ["queued", "sent", "failed"] {
            assert!(s.contains(&format!(">{state}</span>")), "{state}");
        }
        assert!(s.contains(r#"href="/customers/3""#) && s.contains(r#"href="/tickets/4""#));
        assert!(s.contains("SMS webhook is not configured") && !s.contains("Email is not configured"));
        let s = render(&[], Some(Delivery::Failed), 0, 0, true, true).into_string();
        assert!(s.contains("No message in this state.") && !s.contains("banner"));
    }
}
