//! Staff alerting: the people on call hear of an incident when it opens,
//! when it grows, when it recovers, and (the next group up) when nobody has
//! acknowledged it after `escalate_after`. By email to a staff group (its
//! address and its members) and by a signed generic JSON webhook (its
//! `text` field is what chat tools' incoming webhooks show). Every alert is
//! queued in the outbox in the transaction that decided it, with a dedup key
//! naming the decision, so it goes out once however often it is decided.
//! Nothing is queued on a channel with no transport.

use mast_ops_core::rules::{self, Breach, Change, Metric, Pings};
use mast_store::db::{Db, StoreError, Tx};
use mast_store::monitoring::alert_rules::{self, Rule, Subject};
use mast_store::monitoring::links;
use mast_store::outbox::{self, Channel, Channels, Message};
use mast_store::tickets::groups::{self, Group};
use std::collections::{BTreeMap, HashMap, HashSet};
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
    let mut to: Vec<String> = group.map(recipients).unwrap_or_default();
    // The site's contacts who asked for alerts hear what the on-call group
    // hears (not the escalations, which are the staff's business).
    if !matches!(phase, Phase::Unacknowledged { .. }) && route.channels.has(Channel::Email) {
        let sites = alert_rules::incident_sites(tx, id).await?;
        to.extend(alert_rules::alert_emails(tx, &sites).await?);
    }
    let out = Outgoing {
        dedup: format!("staff:incident:{id}:{tag}"),
        to,
        group: group.map(|g| g.name.clone()),
        subject: subj,
        line,
        link: format!("/incidents/{id}"),
        headers,
    };
    out.queue(tx, route.channels).await
}

/// Queues the alert for a halted rollout to the on-call group (once per
/// rollout and reason).
pub async fn rollout_halted(
    tx: &mut Tx<'_>,
    route: &Route,
    rollout: i64,
    version: &str,
    why: &str,
) -> Result<usize, StoreError> {
    let group = route.on_call.as_ref();
    let mut headers = BTreeMap::new();
    headers.insert("event".to_string(), "rollout.halted".to_string());
    headers.insert("rollout_id".to_string(), rollout.to_string());
    let out = Outgoing {
        dedup: format!("staff:rollout:{rollout}:halted:{}", hex_tag(why)),
        to: group.map(recipients).unwrap_or_default(),
        group: group.map(|g| g.name.clone()),
        subject: format!("Rollout {rollout} of agent {version} halted"),
        line: format!("Rollout {rollout} of agent version {version} halted: {why}"),
        link: format!("/fleet/rollouts/{rollout}"),
        headers,
    };
    out.queue(tx, route.channels).await
}

/// A short stable tag of a text (for dedup keys).
fn hex_tag(s: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..8])
}

/// One alert on its way: to these addresses by email, and to the staff
/// webhook.
struct Outgoing {
    /// Names the decision; the channel and recipient are appended.
    dedup: String,
    to: Vec<String>,
    /// The group told (the webhook's `to`).
    group: Option<String>,
    subject: String,
    line: String,
    link: String,
    headers: BTreeMap<String, String>,
}

impl Outgoing {
    async fn queue(mut self, tx: &mut Tx<'_>, channels: Channels) -> Result<usize, StoreError> {
        self.to.sort();
        self.to.dedup();
        let mut n = 0;
        if channels.has(Channel::Email) {
            for to in &self.to {
                let m = Message {
                    dedup: format!("{}:email:{to}", self.dedup),
                    channel: Channel::Email,
                    recipient: to.clone(),
                    subject: self.subject.clone(),
                    body: format!("{}.\n\nOpen it in Mast: {}\n", self.line, self.link),
                    headers: self.headers.clone(),
                    customer_id: None,
                    ticket_id: None,
                };
                n += usize::from(outbox::enqueue(tx, &m).await?);
            }
        }
        if channels.has(Channel::StaffWebhook) {
            let m = Message {
                dedup: format!("{}:webhook", self.dedup),
                channel: Channel::StaffWebhook,
                recipient: self.group.unwrap_or_else(|| "on-call".into()),
                subject: self.subject,
                body: self.line,
                headers: self.headers,
                customer_id: None,
                ticket_id: None,
            };
            n += usize::from(outbox::enqueue(tx, &m).await?);
        }
        Ok(n)
    }
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

/// What one evaluation of the alert rules did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleRun {
    pub fired: usize,
    pub cleared: usize,
}

/// The alert's subject and text for a rule firing or clearing (pure).
pub fn rule_text(rule: &Rule, who: &str, site: &str, fired: Option<f64>) -> (String, String) {
    let what = match (fired, rule.metric) {
        (Some(v), Metric::Signal) => format!("{who} at {site}: signal {v:.0} dBm ({})", rule.describe()),
        (Some(v), Metric::Loss) => format!("{who} at {site}: {v:.0} % ping loss ({})", rule.describe()),
        (Some(v), Metric::Backlog) => {
            format!("{who} at {site}: {v:.0} min of samples not delivered yet ({})", rule.describe())
        }
        (Some(v), Metric::SignalDrop) => format!("{who} at {site}: signal {v:.0} dB weaker ({})", rule.describe()),
        (Some(v), Metric::StationsDrop) => {
            format!("{who} at {site}: {v:.0} % of its stations gone ({})", rule.describe())
        }
        (Some(v), Metric::Capacity) => {
            format!("{who} at {site}: capacity at {v:.0} % of usual ({})", rule.describe())
        }
        (None, _) => format!("{who} at {site}: back within the rule ({})", rule.describe()),
    };
    let verb = if fired.is_some() { "Alert" } else { "Cleared" };
    (format!("[Mast] {verb}: {}: {what}", rule.name), format!("{verb}: {}: {what}", rule.name))
}

/// Judges every enabled alert rule at `now`; a firing that starts or ends is
/// recorded and told (on-call group, the site's alert contacts, the staff
/// webhook) in one transaction, once (the firing's id is in the dedup key).
/// A subject that left the data (retired device, revoked agent) clears.
pub async fn evaluate_rules(db: &Db, settings: &AlertSettings, now: i64) -> Result<RuleRun, StoreError> {
    let rules: Vec<Rule> = alert_rules::rules(db).await?.into_iter().filter(|r| r.enabled).collect();
    let open = alert_rules::open_firings(db).await?;
    let mut run = RuleRun::default();
    if rules.is_empty() && open.is_empty() {
        return Ok(run);
    }
    // Load each kind of data once (signal back far enough to see a breach
    // begin before the longest window; ping counts per distinct window).
    let longest_signal = rules.iter().filter(|r| r.metric == Metric::Signal).map(Rule::window_ms).max();
    let signal = match longest_signal {
        Some(w) => alert_rules::signal_samples(db, now - w - 10 * 60_000).await?,
        None => Vec::new(),
    };
    let mut pings: HashMap<i64, Vec<(Subject, Pings)>> = HashMap::new();
    for r in rules.iter().filter(|r| r.metric == Metric::Loss) {
        if let std::collections::hash_map::Entry::Vacant(e) = pings.entry(r.window_ms()) {
            e.insert(alert_rules::ping_counts(db, r.window_ms(), now).await?);
        }
    }
    // Link trends: each figure's series back to the longest window using it.
    type Series = Vec<(Subject, Vec<(i64, i64)>)>;
    let mut trends: HashMap<Metric, Series> = HashMap::new();
    for (metric, figure) in [
        (Metric::SignalDrop, links::Figure::StationSignal),
        (Metric::StationsDrop, links::Figure::Stations),
        (Metric::Capacity, links::Figure::Capacity),
    ] {
        if let Some(w) = rules.iter().filter(|r| r.metric == metric).map(Rule::window_ms).max() {
            let series = links::figures(db, figure, now - w).await?;
            trends.insert(
                metric,
                series
                    .into_iter()
                    .map(|d| {
                        let key = format!("device:{}", d.device_id);
                        (Subject { key, site_id: d.site_id, label: d.label }, d.points)
                    })
                    .collect(),
            );
        }
    }
    let backlogs = if rules.iter().any(|r| r.metric == Metric::Backlog) {
        alert_rules::agent_backlogs(db).await?
    } else {
        Vec::new()
    };
    let sites: HashMap<i64, String> =
        mast_store::monitoring::list_sites(db).await?.into_iter().map(|s| (s.id, s.name)).collect();
    let route = settings.route(db).await?;

    let mut judged: HashSet<(i64, String)> = HashSet::new();
    for rule in &rules {
        let here = |s: &Subject| rule.site_id.is_none_or(|id| id == s.site_id);
        let verdicts: Vec<(&Subject, Option<Breach>)> = match rule.metric {
            Metric::Signal => signal
                .iter()
                .filter(|(s, _)| here(s))
                .map(|(s, pts)| (s, rules::signal(pts, rule.threshold, rule.window_ms(), now)))
                .collect(),
            Metric::Loss => pings
                .get(&rule.window_ms())
                .into_iter()
                .flatten()
                .filter(|(s, _)| here(s))
                .map(|(s, p)| (s, rules::loss(*p, rule.threshold)))
                .collect(),
            Metric::Backlog => backlogs
                .iter()
                .filter(|(s, _)| here(s))
                .map(|(s, oldest)| (s, rules::backlog(*oldest, rule.window_ms(), now)))
                .collect(),
            m @ (Metric::SignalDrop | Metric::StationsDrop | Metric::Capacity) => {
                let judge = match m {
                    Metric::SignalDrop => rules::signal_drop,
                    Metric::StationsDrop => rules::count_drop,
                    _ => rules::capacity,
                };
                trends
                    .get(&m)
                    .into_iter()
                    .flatten()
                    .filter(|(s, _)| here(s))
                    .map(|(s, pts)| (s, judge(pts, rule.threshold, rule.window_ms(), now)))
                    .collect()
            }
        };
        for (subject, breach) in verdicts {
            let key = (rule.id, subject.key.clone());
            let was = open.get(&key);
            judged.insert(key);
            let site = sites.get(&subject.site_id).map(String::as_str).unwrap_or("?");
            match rules::step(was.is_some(), breach) {
                Change::Fired(b) => {
                    let mut tx = db.begin().await?;
                    let id = alert_rules::fire(&mut tx, rule.id, subject, b.since_ms, b.value).await?;
                    let (subj, line) = rule_text(rule, &subject.label, site, Some(b.value));
                    rule_alert(&mut tx, &route, rule, subject, id, "fired", subj, line).await?;
                    tx.commit().await?;
                    tracing::info!(rule = rule.id, subject = %subject.key, value = b.value, "alert rule fired");
                    run.fired += 1;
                }
                Change::Cleared => {
                    let f = was.expect("cleared only when open");
                    let mut tx = db.begin().await?;
                    alert_rules::clear(&mut tx, f.id, now).await?;
                    let (subj, line) = rule_text(rule, &subject.label, site, None);
                    rule_alert(&mut tx, &route, rule, subject, f.id, "cleared", subj, line).await?;
                    tx.commit().await?;
                    tracing::info!(rule = rule.id, subject = %subject.key, "alert rule cleared");
                    run.cleared += 1;
                }
                Change::Still | Change::Quiet => {}
            }
        }
    }
    // Open firings whose subject has no data any more (or whose rule was
    // switched off meanwhile): they end quietly.
    let mut tx = db.begin().await?;
    for (key, f) in &open {
        if !judged.contains(key) {
            alert_rules::clear(&mut tx, f.id, now).await?;
            run.cleared += 1;
        }
    }
    tx.commit().await?;
    Ok(run)
}

#[allow(clippy::too_many_arguments)]
async fn rule_alert(
    tx: &mut Tx<'_>,
    route: &Route,
    rule: &Rule,
    subject: &Subject,
    firing: i64,
    what: &str,
    subject_line: String,
    line: String,
) -> Result<usize, StoreError> {
    let mut headers = BTreeMap::new();
    headers.insert("event".to_string(), format!("rule.{what}"));
    headers.insert("rule_id".to_string(), rule.id.to_string());
    headers.insert("alert_subject".to_string(), subject.key.clone());
    let mut to: Vec<String> = route.on_call.as_ref().map(recipients).unwrap_or_default();
    if route.channels.has(Channel::Email) {
        to.extend(alert_rules::alert_emails(tx, &[subject.site_id]).await?);
    }
    let link = match subject.key.split_once(':') {
        Some(("device", id)) => format!("/devices/{id}"),
        Some(("agent", id)) => format!("/agents/{id}"),
        _ => "/alerts/rules".to_string(),
    };
    Outgoing {
        dedup: format!("staff:rule:{firing}:{what}"),
        to,
        group: route.on_call.as_ref().map(|g| g.name.clone()),
        subject: subject_line,
        line,
        link,
        headers,
    }
    .queue(tx, route.channels)
    .await
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

    #[test]
    fn rule_texts_name_the_rule_the_device_and_the_value() {
        let r = Rule {
            id: 1,
            name: "Weak CPE".into(),
            metric: Metric::Signal,
            threshold: -75.0,
            window_mins: 10,
            site_id: None,
            site: None,
            enabled: true,
        };
        let (s, t) = rule_text(&r, "cpe-ann", "ridge", Some(-81.4));
        assert_eq!(s, "[Mast] Alert: Weak CPE: cpe-ann at ridge: signal -81 dBm (signal below -75 dBm for 10 min)");
        assert!(t.starts_with("Alert: Weak CPE"));
        let (s, _) = rule_text(&r, "cpe-ann", "ridge", None);
        assert!(s.starts_with("[Mast] Cleared: Weak CPE: cpe-ann at ridge"), "{s}");
    }
}
