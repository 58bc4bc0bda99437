//! Staff alerting: the people on call hear of an incident when it opens,
//! when it grows, when it recovers, and (the next group up) when nobody has
//! acknowledged it after `escalate_after`. By email to a staff group (its
//! address and its members) and by a signed generic JSON webhook (its
//! `text` field is what chat tools' incoming webhooks show). Every alert is
//! queued in the outbox in the transaction that decided it, with a dedup key
//! naming the decision, so it goes out once however often it is decided.
//! Nothing is queued on a channel with no transport.

use mast_store::db::{Db, StoreError, Tx};
use mast_store::outbox::{self, Channel, Channels, Message};
use mast_store::tickets::groups::{self, Group};
use std::collections::BTreeMap;
use std::time::Duration;

/// Who is on call (from the `[alerts]` settings).
#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    /// Staff group told first.
    pub on_call_group: Option<String>,
    /// Staff group told when an incident stays unacknowledged.
    pub escalation_group: Option<String>,
    pub escalate_after: Duration,
    /// The channels that have a transport (email, the staff webhook).
    pub channels: Channels,
}

/// The groups as they are now (membership changes apply at once).
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub on_call: Option<Group>,
    pub escalation: Option<Group>,
    pub channels: Channels,
}

impl AlertSettings {
    /// Looks the groups up; a group named but missing is reported once per
    /// call in the log and skipped (alerts still go to the webhook).
    pub async fn route(&self, db: &Db) -> Result<Route, StoreError> {
        let find = async |name: &Option<String>| -> Result<Option<Group>, StoreError> {
            match name {
                Some(n) => {
                    let g = groups::by_name(db, n).await?;
                    if g.is_none() {
                        tracing::warn!(group = %n, "alerts: no staff group of this name");
                    }
                    Ok(g)
                }
                None => Ok(None),
            }
        };
        Ok(Route {
            on_call: find(&self.on_call_group).await?,
            escalation: find(&self.escalation_group).await?,
            channels: self.channels,
        })
    }
}

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Opened,
    /// It now covers this many devices.
    Grew {
        devices: usize,
    },
    Recovered {
        duration_ms: i64,
    },
    /// Nobody acknowledged it for this long.
    Unacknowledged {
        minutes: i64,
    },
}

impl Phase {
    fn tag(self) -> String {
        match self {
            Phase::Opened => "open".into(),
            Phase::Grew { devices } => format!("grew:{devices}"),
            Phase::Recovered { .. } => "resolved".into(),
            Phase::Unacknowledged { .. } => "escalate".into(),
        }
    }
    fn event(self) -> &'static str {
        match self {
            Phase::Opened => "incident.opened",
            Phase::Grew { .. } => "incident.grew",
            Phase::Recovered { .. } => "incident.recovered",
            Phase::Unacknowledged { .. } => "incident.unacknowledged",
        }
    }
}

/// The alert's subject and text (pure).
pub fn text(incident_id: i64, subject: &str, devices: usize, phase: Phase) -> (String, String) {
    let what = match phase {
        Phase::Opened => format!("opened: {subject}, {devices} device(s) affected"),
        Phase::Grew { devices } => format!("grew: {subject}, now {devices} device(s) affected"),
        Phase::Recovered { duration_ms } => {
            format!("recovered after {}: {subject}", mast_text_core::when::human_duration(duration_ms))
        }
        Phase::Unacknowledged { minutes } => {
            format!("not acknowledged after {minutes} min, escalated: {subject}, {devices} device(s) affected")
        }
    };
    (format!("[Mast] Incident #{incident_id} {what}"), format!("Incident #{incident_id} {what}"))
}

fn recipients(g: &Group) -> Vec<String> {
    let mut to: Vec<String> = g.email.iter().cloned().collect();
    to.extend(g.members.iter().map(|(_, e)| e.clone()));
    to.sort();
    to.dedup();
    to
}

/// Queues the alerts for one decision about incident `id`; returns how many
/// messages were queued (0 when already queued for this decision).
pub async fn incident(
    tx: &mut Tx<'_>,
    route: &Route,
    id: i64,
    subject: &str,
    devices: usize,
    phase: Phase,
) -> Result<usize, StoreError> {
    let group = match phase {
        Phase::Unacknowledged { .. } => route.escalation.as_ref(),
        _ => route.on_call.as_ref(),
    };
    let (subj, line) = text(id, subject, devices, phase);
    let tag = phase.tag();
    let mut headers = BTreeMap::new();
    headers.insert("event".to_string(), phase.event().to_string());
    headers.insert("incident_id".to_string(), id.to_string());
    let mut n = 0;
    if route.channels.has(Channel::Email)
        && let Some(g) = group
    {
        for to in recipients(g) {
            let m = Message {
                dedup: format!("staff:incident:{id}:{tag}:email:{to}"),
                channel: Channel::Email,
                recipient: to,
                subject: subj.clone(),
                body: format!("{line}.\n\nOpen it in Mast: /incidents/{id}\n"),
                headers: headers.clone(),
                customer_id: None,
                ticket_id: None,
            };
            n += usize::from(outbox::enqueue(tx, &m).await?);
        }
    }
    if route.channels.has(Channel::StaffWebhook) {
        let m = Message {
            dedup: format!("staff:incident:{id}:{tag}:webhook"),
            channel: Channel::StaffWebhook,
            recipient: group.map(|g| g.name.clone()).unwrap_or_else(|| "on-call".into()),
            subject: subj,
            body: line,
            headers,
            customer_id: None,
            ticket_id: None,
        };
        n += usize::from(outbox::enqueue(tx, &m).await?);
    }
    Ok(n)
}

/// Escalates every open incident nobody acknowledged within
/// `escalate_after` to the escalation group (once per incident); returns
/// how many incidents were escalated now.
pub async fn escalate(db: &Db, settings: &AlertSettings, now: i64) -> Result<usize, StoreError> {
    if settings.escalation_group.is_none() && !settings.channels.has(Channel::StaffWebhook) {
        return Ok(0);
    }
    let after = settings.escalate_after.as_millis() as i64;
    let due = mast_store::monitoring::outages::unacknowledged_since(db, now - after).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let route = settings.route(db).await?;
    let mut escalated = 0;
    for i in due {
        let mut tx = db.begin().await?;
        let minutes = settings.escalate_after.as_secs() as i64 / 60;
        let n = incident(&mut tx, &route, i.id, &i.title(), i.device_count as usize, Phase::Unacknowledged { minutes })
            .await?;
        tx.commit().await?;
        if n > 0 {
            tracing::info!(incident = i.id, queued = n, "incident escalated: not acknowledged");
            escalated += 1;
        }
    }
    Ok(escalated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_say_what_happened() {
        let (s, t) = text(7, "Outage: ap-north (13 devices)", 13, Phase::Opened);
        assert_eq!(s, "[Mast] Incident #7 opened: Outage: ap-north (13 devices), 13 device(s) affected");
        assert!(t.starts_with("Incident #7 opened"));
        let (s, _) = text(7, "x", 2, Phase::Recovered { duration_ms: 3 * 60_000 });
        assert!(s.contains("recovered after 3 min") || s.contains("recovered after 3m"), "{s}");
        let (s, _) = text(7, "x", 2, Phase::Unacknowledged { minutes: 15 });
        assert!(s.contains("not acknowledged after 15 min"), "{s}");
        assert_eq!(Phase::Grew { devices: 4 }.tag(), "grew:4");
    }
}
