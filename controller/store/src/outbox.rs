//! Customer and staff notifications through a transactional outbox. Owns
//! table `outbox`.
//!
//! Whoever decides that someone must be told (the outage worker when an
//! incident opens or ends, the maintenance scheduler, ticket replies, SLA
//! escalations) calls [`enqueue`] **inside its own transaction**, with a
//! `dedup` key naming the decision (`incident:7:start:customer:12:email`):
//! the message exists if and only if the decision committed, and deciding
//! twice (a retried transaction, a reopened flapping incident) queues
//! nothing new. The [`worker`] delivers due messages through the configured
//! [`Transport`]s (SMTP email, an HTTP webhook for SMS gateways) and retries
//! failures with [`backoff`]; after [`MAX_ATTEMPTS`] a message is marked
//! failed and stays visible with its last error.
//!
//! Customers who opted out (`customers.notify_outages = 0`) get no outage or
//! maintenance notices; replies to their own tickets still reach them.

use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    /// A JSON POST to the operator's SMS gateway (recipient: a phone number).
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
    fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Message {
    pub dedup: String,
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// Extra mail headers (`In-Reply-To`, `References`, `Message-ID`) or
    /// webhook fields (`event`, ids).
    pub headers: BTreeMap<String, String>,
    pub customer_id: Option<i64>,
    pub ticket_id: Option<i64>,
}

/// A queued message as the worker and the pages see it.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    pub id: i64,
    pub dedup: String,
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub headers: BTreeMap<String, String>,
    pub customer_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub created_ms: i64,
    pub attempts: i64,
    pub sent_ms: Option<i64>,
    pub failed_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// Queues `m` unless a message with its dedup key exists; true if queued.
pub async fn enqueue(tx: &mut Tx<'_>, m: &Message) -> Result<bool, StoreError> {
    let headers = serde_json::to_string(&m.headers).map_err(|e| StoreError::invalid_msg(e.to_string()))?;
    let now = now_ms();
    let n = sqlx::query(
        "INSERT INTO outbox (dedup, channel, recipient, subject, body, headers, customer_id, ticket_id, created_ms, \
         next_attempt_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (dedup) DO NOTHING",
    )
    .bind(&m.dedup)
    .bind(m.channel.as_str())
    .bind(&m.recipient)
    .bind(&m.subject)
    .bind(&m.body)
    .bind(headers)
    .bind(m.customer_id)
    .bind(m.ticket_id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

const COLS: &str = "id, dedup, channel, recipient, subject, body, headers, customer_id, ticket_id, created_ms, attempts, \
    sent_ms, failed_ms, last_error";

fn row(r: &sqlx::any::AnyRow) -> Result<Queued, StoreError> {
    let channel: String = r.try_get("channel")?;
    let headers: String = r.try_get("headers")?;
    Ok(Queued {
        id: r.try_get("id")?,
        dedup: r.try_get("dedup")?,
        channel: Channel::parse(&channel).ok_or_else(|| StoreError::Corrupt(format!("outbox channel {channel:?}")))?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        customer_id: r.try_get("customer_id")?,
        ticket_id: r.try_get("ticket_id")?,
        created_ms: r.try_get("created_ms")?,
        attempts: r.try_get("attempts")?,
        sent_ms: r.try_get("sent_ms")?,
        failed_ms: r.try_get("failed_ms")?,
        last_error: r.try_get("last_error")?,
    })
}

/// Messages to a customer (newest first), for the customer page.
pub async fn for_customer(db: &Db, customer_id: i64, limit: i64) -> Result<Vec<Queued>, StoreError> {
    let sql = format!("SELECT {COLS} FROM outbox WHERE customer_id = $1 ORDER BY id DESC LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(row).collect()
}

/// Recent messages (newest first), optionally only failed ones.
pub async fn recent(db: &Db, failed_only: bool, limit: i64) -> Result<Vec<Queued>, StoreError> {
    let filter = if failed_only { "WHERE failed_ms IS NOT NULL" } else { "" };
    let sql = format!("SELECT {COLS} FROM outbox {filter} ORDER BY id DESC LIMIT $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(row).collect()
}

/// Messages waiting for delivery (not sent, not given up).
pub async fn pending_count(db: &Db) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE sent_ms IS NULL AND failed_ms IS NULL")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?)
}

/// Attempts before a message is marked failed.
pub const MAX_ATTEMPTS: i64 = 8;

/// Wait before attempt `attempts + 1` (after `attempts` failures): 30 s,
/// 1 min, 2 min, ... doubling, at most 1 h.
pub fn backoff(attempts: i64) -> Duration {
    let shift = attempts.clamp(1, 8) as u32 - 1;
    Duration::from_secs((30u64 << shift).min(3_600))
}

/// Which channels the operator configured (a transport exists for them):
/// deciders queue nothing for a channel that cannot be delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Channels {
    pub email: bool,
    pub webhook: bool,
}

impl Channels {
    pub fn has(&self, c: Channel) -> bool {
        match c {
            Channel::Email => self.email,
            Channel::Webhook => self.webhook,
        }
    }
}

/// Messages due for delivery at `now` (oldest due first, at most `limit`).
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<Queued>, StoreError> {
    let sql = format!(
        "SELECT {COLS} FROM outbox WHERE sent_ms IS NULL AND failed_ms IS NULL AND next_attempt_ms <= $1 \
         ORDER BY next_attempt_ms, id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(row).collect()
}

/// Records a delivered message.
pub async fn mark_sent(db: &Db, id: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET sent_ms = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Records a failed attempt (the `attempts`-th): retried after [`backoff`],
/// or marked failed for good after [`MAX_ATTEMPTS`]. Returns true when it
/// gave up.
pub async fn mark_failed(db: &Db, id: i64, attempts: i64, error: &str, now: i64) -> Result<bool, StoreError> {
    let give_up = attempts >= MAX_ATTEMPTS;
    sqlx::query("UPDATE outbox SET attempts = $1, last_error = $2, next_attempt_ms = $3, failed_ms = $4 WHERE id = $5")
        .bind(attempts)
        .bind(error.chars().take(500).collect::<String>())
        .bind(now + backoff(attempts).as_millis() as i64)
        .bind(give_up.then_some(now))
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(give_up)
}

/// What to tell customers about an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutagePhase {
    Start,
    Recovery { duration_ms: i64 },
}

/// Queues the outage notices of an incident for its affected customers who
/// did not opt out: one email (if they have an address and email is
/// configured) and one SMS webhook message (if they have a phone and the
/// webhook is configured) per phase. Returns how many were queued.
pub async fn outage_notices(
    tx: &mut Tx<'_>,
    channels: Channels,
    tz: &jiff::tz::TimeZone,
    incident_id: i64,
    ticket_id: Option<i64>,
    started_ms: i64,
    phase: OutagePhase,
) -> Result<usize, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT c.id, c.name, c.email, c.phone FROM incident_devices x JOIN devices d ON d.id = x.device_id \
         JOIN customer_devices cd ON cd.mac = d.mac JOIN customers c ON c.id = cd.customer_id \
         WHERE x.incident_id = $1 AND c.notify_outages <> 0 ORDER BY c.id",
    )
    .bind(incident_id)
    .fetch_all(&mut **tx)
    .await?;
    let since = local_time(started_ms, tz);
    let (tag, subject, text) = match phase {
        OutagePhase::Start => (
            "start",
            "Service interruption in your area".to_string(),
            format!(
                "We are aware of a service interruption affecting your connection since {since}. \
                 Our team is working on it; you will get another message when service is restored."
            ),
        ),
        OutagePhase::Recovery { duration_ms } => (
            "recovery",
            "Service restored".to_string(),
            format!(
                "Service in your area is restored. The interruption began {since} and lasted {}. \
                 If your connection is still not working, please restart your router or reply to this message.",
                mast_text_core::when::human_duration(duration_ms)
            ),
        ),
    };
    let mut n = 0;
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let name: String = r.try_get("name")?;
        let mut headers = BTreeMap::new();
        headers.insert("event".to_string(), format!("outage.{tag}"));
        headers.insert("incident_id".to_string(), incident_id.to_string());
        let email: Option<String> = r.try_get("email")?;
        let phone: Option<String> = r.try_get("phone")?;
        if let Some(email) = email.filter(|e| !e.is_empty())
            && channels.has(Channel::Email)
        {
            let m = Message {
                dedup: format!("incident:{incident_id}:{tag}:customer:{id}:email"),
                channel: Channel::Email,
                recipient: email,
                subject: subject.clone(),
                body: format!("Hello {name},\n\n{text}\n\nReference: incident #{incident_id}\n"),
                headers: headers.clone(),
                customer_id: Some(id),
                ticket_id,
            };
            n += usize::from(enqueue(tx, &m).await?);
        }
        if let Some(phone) = phone.filter(|p| !p.is_empty())
            && channels.has(Channel::Webhook)
        {
            let m = Message {
                dedup: format!("incident:{incident_id}:{tag}:customer:{id}:sms"),
                channel: Channel::Webhook,
                recipient: phone,
                subject: subject.clone(),
                body: text.clone(),
                headers,
                customer_id: Some(id),
                ticket_id,
            };
            n += usize::from(enqueue(tx, &m).await?);
        }
    }
    Ok(n)
}

use mast_text_core::when::local_time;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30_s_up_to_an_hour() {
        let secs: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
