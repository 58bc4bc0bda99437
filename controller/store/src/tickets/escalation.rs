//! The SLA shell around the pure [`sla`](super::sla) clocks: a worker that,
//! every `sla_check_secs`,
//! - evaluates the clocks of every active customer ticket (waiting-on-customer
//!   pauses from `ticket_pauses`, maintenance windows covering the customer's
//!   service from `monitoring::windows`);
//! - **escalates** each (ticket, clock, level) once, recorded in
//!   `ticket_escalations` in the same transaction: a timeline entry, the
//!   ticket reassigned to `sla_escalation_group` (if set; priority raised to
//!   at least high on a breach), and an email to the group's address and
//!   members and to the assignee;
//! - stamps `first_response_business_ms` / `resolution_business_ms` once
//!   those moments happened, for the KPIs.
//!
//! Outage tickets (source `outage`) are not on the SLA: nobody wrote in;
//! their duration is the incident's.

use super::sla::{self, BusinessCalendar, ClockKind, Escalation, Level, SlaStatus, SlaTicket, Targets};
use super::{Desk, EventKind, Source, Ticket};
use crate::db::{Db, StoreError};
use crate::outbox::{self as notify, Channel};

use tracing::info;

/// Everything the SLA needs from the configuration.
#[derive(Debug, Clone)]
pub struct SlaPolicy {
    pub calendar: BusinessCalendar,
    pub targets: Targets,
    /// Share of a target left at which a running clock is at risk.
    pub at_risk: f64,
    /// Staff group escalated tickets go to.
    pub escalation_group: Option<String>,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy {
            calendar: BusinessCalendar::always(),
            targets: Targets::default(),
            at_risk: 0.25,
            escalation_group: None,
        }
    }
}

/// The ticket's pauses: waiting on the customer, and maintenance covering
/// their service since the ticket was opened.
async fn pauses_of(db: &Db, t: &Ticket, now: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut p = super::pauses(db, t.id).await?;
    if let Some(c) = t.customer_id {
        let end = t.resolved_ms.unwrap_or(now);
        p.extend(
            crate::monitoring::windows::pauses_for_customer(db, c, t.created_ms, end.max(t.created_ms + 1)).await?,
        );
    }
    Ok(sla::merge(&p))
}

/// The SLA clocks of a ticket now (`None` for outage tickets).
pub async fn status(db: &Db, policy: &SlaPolicy, t: &Ticket, now: i64) -> Result<Option<SlaStatus>, StoreError> {
    if t.source == Source::Outage {
        return Ok(None);
    }
    let st = SlaTicket {
        created_ms: t.created_ms,
        priority: t.priority.as_str().to_string(),
        first_response_ms: t.first_response_ms,
        resolved_ms: t.resolved_ms,
        pauses: pauses_of(db, t, now).await?,
    };
    sla::evaluate(&st, &policy.calendar, &policy.targets, now, policy.at_risk)
        .map(Some)
        // The priority is a closed set and the at-risk share is checked at
        // start-up: a failure here is stored data the clocks cannot read.
        .map_err(|e| StoreError::Corrupt(format!("ticket {}: SLA: {e}", t.id)))
}

crate::text_enum! {
    /// Which SLA clock an escalation is about (`ticket_escalations.clock`).
    pub enum EscalationClock (field "clock") {
        FirstResponse = "first-response",
        Resolution = "resolution",
    }
}

crate::text_enum! {
    /// How far an escalation went (`ticket_escalations.level`).
    pub enum EscalationLevel (field "level") {
        AtRisk = "at-risk",
        Breached = "breached",
    }
}

impl From<ClockKind> for EscalationClock {
    fn from(c: ClockKind) -> Self {
        match c {
            ClockKind::FirstResponse => EscalationClock::FirstResponse,
            ClockKind::Resolution => EscalationClock::Resolution,
        }
    }
}

impl From<Level> for EscalationLevel {
    fn from(l: Level) -> Self {
        match l {
            Level::AtRisk => EscalationLevel::AtRisk,
            Level::Breached => EscalationLevel::Breached,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CheckSummary {
    pub checked: usize,
    pub escalated: usize,
    pub stamped: usize,
}

/// One pass over the tickets at `now` (the worker passes the clock; tests a
/// controlled one).
pub async fn check(db: &Db, desk: &Desk, policy: &SlaPolicy, now: i64) -> Result<CheckSummary, StoreError> {
    let mut sum = CheckSummary::default();
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM tickets WHERE source <> $1 AND (status IN ('open', 'in-progress', 'waiting') \
         OR (first_response_ms IS NOT NULL AND first_response_business_ms IS NULL) \
         OR (resolved_ms IS NOT NULL AND resolution_business_ms IS NULL)) ORDER BY id",
    )
    .bind(Source::Outage)
    .fetch_all(&db.pool)
    .await?;
    let group = match &policy.escalation_group {
        Some(name) => super::groups::by_name(db, name).await?,
        None => None,
    };
    for id in ids {
        let Some(t) = super::get(db, id).await? else { continue };
        let Some(status) = status(db, policy, &t, now).await? else { continue };
        sum.checked += 1;
        // KPI stamps, once the moments are known.
        let pauses = pauses_of(db, &t, now).await?;
        if let (Some(f), None) = (t.first_response_ms, t.first_response_business_ms) {
            let b = sla::business_ms(&policy.calendar, t.created_ms, f, &pauses);
            sqlx::query("UPDATE tickets SET first_response_business_ms = $1 WHERE id = $2")
                .bind(b)
                .bind(id)
                .execute(&db.pool)
                .await?;
            sum.stamped += 1;
        }
        if let (Some(r), None) = (t.resolved_ms, t.resolution_business_ms) {
            let b = sla::business_ms(&policy.calendar, t.created_ms, r, &pauses);
            sqlx::query("UPDATE tickets SET resolution_business_ms = $1 WHERE id = $2")
                .bind(b)
                .bind(id)
                .execute(&db.pool)
                .await?;
            sum.stamped += 1;
        }
        if !t.status.is_active() {
            continue;
        }
        if let Some(e) = sla::escalation(&status) {
            sum.escalated += usize::from(escalate(db, desk, &t, &status, e, group.as_ref(), now).await?);
        }
    }
    Ok(sum)
}

async fn escalate(
    db: &Db,
    desk: &Desk,
    t: &Ticket,
    status: &SlaStatus,
    e: Escalation,
    group: Option<&super::groups::Group>,
    now: i64,
) -> Result<bool, StoreError> {
    let (clock, level) = (EscalationClock::from(e.clock), EscalationLevel::from(e.level));
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "INSERT INTO ticket_escalations (ticket_id, clock, level, ts_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(t.id)
    .bind(clock)
    .bind(level)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(false); // escalated before
    }
    let c = match e.clock {
        ClockKind::FirstResponse => &status.first_response,
        ClockKind::Resolution => &status.resolution,
    };
    let due = c.due_ms.map(|d| format!("{} UTC", mast_text_core::when::fmt_utc(d))).unwrap_or_else(|| "-".into());
    let what = match e.level {
        Level::AtRisk => format!("SLA: the {clock} target is at risk (due {due})"),
        Level::Breached => format!("SLA: the {clock} target was missed (was due {due})"),
    };
    let mut text = what.clone();
    if let Some(g) = group {
        let raise = if e.level == Level::Breached {
            ", priority = CASE WHEN priority IN ('low', 'normal') THEN 'high' ELSE priority END"
        } else {
            ""
        };
        let sql = format!("UPDATE tickets SET group_id = $1, updated_ms = $2{raise} WHERE id = $3");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(g.id).bind(now).bind(t.id).execute(&mut *tx).await?;
        text.push_str(&format!("; escalated to {}", g.name));
    }
    super::event(&mut tx, t.id, "mast", EventKind::System, &format!("{text}.")).await?;
    if desk.notify.has(Channel::Email) {
        let mut to: Vec<String> = Vec::new();
        if let Some(g) = group {
            to.extend(g.email.iter().cloned());
            to.extend(g.members.iter().map(|(_, e)| e.clone()));
        }
        to.extend(t.assignee.iter().cloned());
        to.sort();
        to.dedup();
        for r in to {
            let m = notify::Message {
                dedup: format!("sla:{}:{clock}:{level}:{r}", t.id),
                channel: Channel::Email,
                recipient: r,
                subject: format!("[SLA {level}] #{} {}", t.id, t.subject),
                body: format!("{what}.\n\nTicket #{} ({} priority): {}\n", t.id, t.priority, t.subject),
                headers: Default::default(),
                customer_id: None,
                ticket_id: Some(t.id),
            };
            notify::enqueue(&mut tx, &m).await?;
        }
    }
    tx.commit().await?;
    info!(ticket = t.id, clock = clock.as_str(), level = level.as_str(), "SLA escalation");
    Ok(true)
}

/// First-response KPI over tickets opened since `since`: (tickets answered,
/// median business ms, share answered within `target_ms`).
pub async fn first_response_kpi(db: &Db, since: i64, target_ms: i64) -> Result<(usize, Option<i64>, f64), StoreError> {
    let mut v: Vec<i64> = sqlx::query_scalar(
        "SELECT first_response_business_ms FROM tickets WHERE source <> $1 AND created_ms >= $2 \
         AND first_response_business_ms IS NOT NULL",
    )
    .bind(Source::Outage)
    .bind(since)
    .fetch_all(&db.pool)
    .await?;
    v.sort_unstable();
    let within = v.iter().filter(|b| **b <= target_ms).count();
    let share = if v.is_empty() { 1.0 } else { within as f64 / v.len() as f64 };
    Ok((v.len(), v.get(v.len() / 2).copied(), share))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::{NewTicket, act, create, lifecycle::Action};

    const H: i64 = 3_600_000;

    #[tokio::test]
    async fn clocks_pause_escalate_once_and_stamp_business_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        // 24/7 so that the controlled clock maps 1:1 to business time.
        let policy = SlaPolicy { escalation_group: Some("NOC leads".into()), ..Default::default() };
        let g = super::super::groups::create(&db, "NOC leads", Some("leads@isp.example")).await.unwrap();
        let desk = Desk {
            notify: notify::Channels { email: true, webhook: false, staff_webhook: false },
            mail_domain: "isp.example".into(),
        };
        let t = create(&db, &NewTicket { subject: "Slow".into(), ..Default::default() }, "x").await.unwrap();
        let t0 = t.created_ms;
        // Normal priority: first response 4 h, resolution 24 h; at risk with < 1 h left.
        let s = check(&db, &desk, &policy, t0 + H).await.unwrap();
        assert_eq!((s.checked, s.escalated), (1, 0));
        let s = check(&db, &desk, &policy, t0 + 3 * H + H / 2).await.unwrap();
        assert_eq!(s.escalated, 1, "first response at risk with 30 min left");
        assert_eq!(check(&db, &desk, &policy, t0 + 3 * H + H * 3 / 4).await.unwrap().escalated, 0, "once per level");
        let s = check(&db, &desk, &policy, t0 + 5 * H).await.unwrap();
        assert_eq!(s.escalated, 1, "then breached");
        let t = super::super::get(&db, t.id).await.unwrap().unwrap();
        assert_eq!(
            (t.group_id, t.priority),
            (Some(g.id), super::super::Priority::High),
            "reassigned and raised on a breach"
        );
        let mails = notify::recent(&db, false, 10).await.unwrap();
        assert!(mails.iter().any(|m| m.recipient == "leads@isp.example" && m.subject.starts_with("[SLA breached]")));
        let ev = super::super::events(&db, t.id).await.unwrap();
        assert!(ev.iter().any(|e| e.body.contains("first-response target was missed")), "{ev:?}");

        // A ticket waiting on the customer does not run its clock.
        let u = create(&db, &NewTicket { subject: "Billing?".into(), ..Default::default() }, "x").await.unwrap();
        act(&db, &desk, u.id, Action::StaffReply, "Which invoice?", "noc").await.unwrap();
        act(&db, &desk, u.id, Action::WaitForCustomer, "", "noc").await.unwrap();
        let u = super::super::get(&db, u.id).await.unwrap().unwrap();
        let far = u.created_ms + 30 * H;
        let st = status(&db, &policy, &u, far).await.unwrap().unwrap();
        assert_eq!(st.resolution.state, sla::ClockState::Paused, "{st:?}");
        assert!(st.resolution.elapsed_ms < H, "paused time is not counted: {}", st.resolution.elapsed_ms);
        // The first response was stamped in business time.
        check(&db, &desk, &policy, far).await.unwrap();
        let u = super::super::get(&db, u.id).await.unwrap().unwrap();
        assert!(u.first_response_business_ms.is_some_and(|b| (0..60_000).contains(&b)), "{u:?}");
        let (n, median, share) = first_response_kpi(&db, 0, 4 * H).await.unwrap();
        assert_eq!(n, 1);
        assert!(median.is_some() && share == 1.0);
    }
}
