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

use crate::db::{Db, StoreError, Tx, now_ms};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

crate::text_enum! {
    /// How a message travels.
    pub enum Channel (field "channel") {
        Email = "email",
        /// A JSON POST to the operator's SMS gateway (recipient: a phone number).
        Webhook = "webhook",
        /// A signed JSON POST to the staff alert webhook (a chat tool's
        /// incoming webhook; recipient: the group told).
        StaffWebhook = "staff-webhook",
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

/// The `headers` column: a JSON object of strings. One that does not parse
/// reads as no headers, so a single bad row never stops delivery of the
/// others (the message still goes out, unthreaded).
#[derive(sqlx::Type)]
#[sqlx(transparent)]
struct HeadersJson(String);

impl From<HeadersJson> for BTreeMap<String, String> {
    fn from(h: HeadersJson) -> Self {
        serde_json::from_str(&h.0).unwrap_or_default()
    }
}

/// A queued message as the worker and the pages see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Queued {
    pub id: i64,
    pub dedup: String,
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    #[sqlx(try_from = "HeadersJson")]
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
    // A map of strings always serializes.
    let headers = serde_json::to_string(&m.headers).unwrap_or_else(|_| "{}".into());
    let now = now_ms();
    let n = sqlx::query(
        "INSERT INTO outbox (dedup, channel, recipient, subject, body, headers, customer_id, ticket_id, created_ms, \
         next_attempt_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (dedup) DO NOTHING",
    )
    .bind(&m.dedup)
    .bind(m.channel)
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

/// Recent messages (newest first), optionally only failed ones.
pub async fn recent(db: &Db, failed_only: bool, limit: i64) -> Result<Vec<Queued>, StoreError> {
    let filter = if failed_only { "WHERE failed_ms IS NOT NULL" } else { "" };
    let sql = format!("SELECT {COLS} FROM outbox {filter} ORDER BY id DESC LIMIT $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&db.pool).await?)
}

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not sent yet and not given up (waiting or being retried).
    Queued,
    Sent,
    /// Given up after [`MAX_ATTEMPTS`].
    Failed,
}

impl Delivery {
    pub const ALL: [Delivery; 3] = [Delivery::Queued, Delivery::Sent, Delivery::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<Delivery, StoreError> {
        Delivery::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| StoreError::invalid("status", "must be queued, sent or failed"))
    }

    /// Of a stored message.
    pub fn of(m: &Queued) -> Delivery {
        match (m.sent_ms, m.failed_ms) {
            (Some(_), _) => Delivery::Sent,
            (None, Some(_)) => Delivery::Failed,
            (None, None) => Delivery::Queued,
        }
    }

    fn filter(self) -> &'static str {
        match self {
            Delivery::Queued => "sent_ms IS NULL AND failed_ms IS NULL",
            Delivery::Sent => "sent_ms IS NOT NULL",
            Delivery::Failed => "sent_ms IS NULL AND failed_ms IS NOT NULL",
        }
    }
}

/// One page of messages, newest first, optionally in one delivery state,
/// with the number of messages in that selection.
pub async fn page(db: &Db, state: Option<Delivery>, limit: i64, offset: i64) -> Result<(Vec<Queued>, i64), StoreError> {
    let filter = state.map(|d| format!("WHERE {}", d.filter())).unwrap_or_default();
    let sql = format!("SELECT {COLS} FROM outbox {filter} ORDER BY id DESC LIMIT $1 OFFSET $2");
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).bind(offset.max(0)).fetch_all(&db.pool).await?;
    let count = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox {filter}");
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count)).fetch_one(&db.pool).await?;
    Ok((rows, total))
}

/// Messages waiting for delivery (not sent, not given up).
pub async fn pending_count(db: &Db) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE sent_ms IS NULL AND failed_ms IS NULL")
        .fetch_one(&db.pool)
        .await?)
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
/// deciders queue nothing for a channel that cannot be delivered, except
/// what [`Channels::customer_notices`] says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Channels {
    pub email: bool,
    pub webhook: bool,
    pub staff_webhook: bool,
}

impl Channels {
    pub fn has(&self, c: Channel) -> bool {
        match c {
            Channel::Email => self.email,
            Channel::Webhook => self.webhook,
            Channel::StaffWebhook => self.staff_webhook,
        }
    }

    /// The channels outage notices to customers are queued on: email
    /// always (what customers were told is a record staff need, and the
    /// notices wait in the outbox, shown on every staff page, until mail is
    /// configured), SMS only through a configured webhook.
    pub fn customer_notices(self) -> Channels {
        Channels { email: true, ..self }
    }
}

/// Messages that wait because their channel has no transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub email: i64,
    pub webhook: i64,
}

/// Counts the queued messages on the channels `configured` lacks (a
/// configured channel counts 0: its messages are being delivered).
pub async fn waiting(db: &Db, configured: Channels) -> Result<Waiting, StoreError> {
    if configured.email && configured.webhook {
        return Ok(Waiting::default());
    }
    let rows: Vec<(Channel, i64)> = sqlx::query_as(
        "SELECT channel, CAST(COUNT(*) AS BIGINT) FROM outbox WHERE sent_ms IS NULL AND failed_ms IS NULL \
         GROUP BY channel",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut w = Waiting::default();
    for (c, n) in rows {
        match c {
            Channel::Email if !configured.email => w.email = n,
            Channel::Webhook if !configured.webhook => w.webhook = n,
            // Staff alerts are queued only while the webhook exists.
            _ => {}
        }
    }
    Ok(w)
}

/// Messages due for delivery at `now` on the `configured` channels (oldest
/// due first, at most `limit`). Messages on a channel without a transport
/// are not due: they wait, untried, until one is configured.
pub async fn due(db: &Db, now: i64, limit: i64, configured: Channels) -> Result<Vec<Queued>, StoreError> {
    let sql = format!(
        "SELECT {COLS} FROM outbox WHERE sent_ms IS NULL AND failed_ms IS NULL AND next_attempt_ms <= $1 \
         AND ((channel = 'email' AND $3 = 1) OR (channel = 'webhook' AND $4 = 1) OR (channel = 'staff-webhook' AND $5 = 1)) \
         ORDER BY next_attempt_ms, id LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .bind(i64::from(configured.email))
        .bind(i64::from(configured.webhook))
        .bind(i64::from(configured.staff_webhook))
        .fetch_all(&db.pool)
        .await?)
}

/// Records a delivered message; a body holding a secret is erased in the
/// same statement, so no reader ever sees a sent message with its link.
pub async fn mark_sent(db: &Db, id: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET sent_ms = $1, attempts = attempts + 1, last_error = NULL, body = {PURGE_BODY} WHERE id = $2"
    )))
    .bind(now)
    .bind(id)
    .bind(PURGED)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The header that marks a message whose body holds a secret (a sign-in
/// link): its body is erased once the message is sent or given up, so a
/// copy of the database holds no working link.
pub const SECRET_HEADER: &str = "x-mast-secret";

const PURGED: &str = "(removed once sent: it held a sign-in link)";

/// The new body of a message being sent or given up (`$3` is [`PURGED`]).
const PURGE_BODY: &str = "CASE WHEN headers LIKE '%\"x-mast-secret\"%' THEN $3 ELSE body END";

/// Records a failed attempt (the `attempts`-th): retried after [`backoff`],
/// or marked failed for good after [`MAX_ATTEMPTS`]. Returns true when it
/// gave up.
pub async fn mark_failed(db: &Db, id: i64, attempts: i64, error: &str, now: i64) -> Result<bool, StoreError> {
    let give_up = attempts >= MAX_ATTEMPTS;
    // The secret goes in the same statement that gives up.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET attempts = $1, last_error = $2, next_attempt_ms = $4, failed_ms = $5, \
         body = CASE WHEN $5 IS NULL THEN body ELSE {PURGE_BODY} END WHERE id = $6"
    )))
    .bind(attempts)
    .bind(error.chars().take(500).collect::<String>())
    .bind(PURGED)
    .bind(now + backoff(attempts).as_millis() as i64)
    .bind(give_up.then_some(now))
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(give_up)
}

/// What to tell customers about an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutagePhase<'a> {
    Start,
    Recovery {
        duration_ms: i64,
    },
    /// Staff's extra word ("ETA 14:00"); `seq` names it (the note's id), so
    /// each update is queued once.
    Update {
        seq: i64,
        text: &'a str,
    },
}

/// One outage notice: its dedup tag, subject and text (without the greeting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub tag: String,
    pub subject: String,
    pub text: String,
}

/// The notice for `phase` of an outage that began at `since` (local time as
/// customers read it). Pure: the incident page previews it.
pub fn outage_notice(phase: OutagePhase<'_>, since: &str) -> Notice {
    let (tag, subject, text) = match phase {
        OutagePhase::Start => (
            "start".to_string(),
            "Service interruption in your area".to_string(),
            format!(
                "We are aware of a service interruption affecting your connection since {since}. \
                 Our team is working on it; you will get another message when service is restored."
            ),
        ),
        OutagePhase::Recovery { duration_ms } => (
            "recovery".to_string(),
            "Service restored".to_string(),
            format!(
                "Service in your area is restored. The interruption began {since} and lasted {}. \
                 If your connection is still not working, please restart your router or reply to this message.",
                mast_text_core::when::human_duration(duration_ms)
            ),
        ),
        OutagePhase::Update { seq, text } => (
            format!("update:{seq}"),
            "Update on the service interruption in your area".to_string(),
            format!("An update on the service interruption affecting your connection since {since}:\n\n{text}"),
        ),
    };
    Notice { tag, subject, text }
}

/// The greeting and reference around a notice's text in an email.
pub fn notice_email_body(name: &str, text: &str, incident_id: i64) -> String {
    format!("Hello {name},\n\n{text}\n\nReference: incident #{incident_id}\n")
}

/// A customer an outage notice goes to.
#[derive(sqlx::FromRow)]
struct Affected {
    id: i64,
    name: String,
    email: Option<String>,
    phone: Option<String>,
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
    phase: OutagePhase<'_>,
) -> Result<usize, StoreError> {
    let rows: Vec<Affected> = sqlx::query_as(
        "SELECT DISTINCT c.id, c.name, c.email, c.phone FROM incident_devices x JOIN devices d ON d.id = x.device_id \
         JOIN customer_devices cd ON cd.mac = d.mac JOIN customers c ON c.id = cd.customer_id \
         WHERE x.incident_id = $1 AND c.notify_outages <> 0 ORDER BY c.id",
    )
    .bind(incident_id)
    .fetch_all(&mut **tx)
    .await?;
    let since = local_time(started_ms, tz);
    let Notice { tag, subject, text } = outage_notice(phase, &since);
    let event = tag.split(':').next().unwrap_or("update").to_string();
    let mut n = 0;
    for Affected { id, name, email, phone } in rows {
        let mut headers = BTreeMap::new();
        headers.insert("event".to_string(), format!("outage.{event}"));
        headers.insert("incident_id".to_string(), incident_id.to_string());
        if let Some(email) = email.filter(|e| !e.is_empty())
            && channels.has(Channel::Email)
        {
            let m = Message {
                dedup: format!("incident:{incident_id}:{tag}:customer:{id}:email"),
                channel: Channel::Email,
                recipient: email,
                subject: subject.clone(),
                body: notice_email_body(&name, &text, incident_id),
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

    #[tokio::test]
    async fn a_secret_body_goes_in_the_statement_that_sends_or_gives_up() {
        assert!(PURGE_BODY.contains(&format!("\"{SECRET_HEADER}\"")), "the header the purge looks for");
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/o.db", dir.path().display())).await.unwrap();
        let msg = |dedup: &str, secret: bool| Message {
            dedup: dedup.into(),
            channel: Channel::Email,
            recipient: "a@example.org".into(),
            subject: "s".into(),
            body: "link /portal/magic/abc".into(),
            headers: if secret {
                [(SECRET_HEADER.to_string(), "1".to_string())].into_iter().collect()
            } else {
                BTreeMap::new()
            },
            customer_id: None,
            ticket_id: None,
        };
        let mut tx = db.begin().await.unwrap();
        for (d, secret) in [("sent-secret", true), ("sent-plain", false), ("failed-secret", true)] {
            enqueue(&mut tx, &msg(d, secret)).await.unwrap();
        }
        tx.commit().await.unwrap();
        let id = |d: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT id FROM outbox WHERE dedup = $1")
                    .bind(d)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap()
            }
        };
        let body = |d: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query_scalar::<_, String>("SELECT body FROM outbox WHERE dedup = $1")
                    .bind(d)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap()
            }
        };
        mark_sent(&db, id("sent-secret").await, 1).await.unwrap();
        mark_sent(&db, id("sent-plain").await, 1).await.unwrap();
        assert_eq!(body("sent-secret").await, PURGED);
        assert_eq!(body("sent-plain").await, "link /portal/magic/abc", "a plain message keeps its body");
        let f = id("failed-secret").await;
        assert!(!mark_failed(&db, f, 1, "refused", 1).await.unwrap());
        assert_eq!(body("failed-secret").await, "link /portal/magic/abc", "kept while it may still be retried");
        assert!(mark_failed(&db, f, MAX_ATTEMPTS, "refused", 2).await.unwrap());
        assert_eq!(body("failed-secret").await, PURGED, "erased once given up");
    }

    #[tokio::test]
    async fn queued_once_channels_typed_and_a_corrupt_channel_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/o.db", dir.path().display())).await.unwrap();
        let mut headers = BTreeMap::new();
        headers.insert("In-Reply-To".to_string(), "<a@b>".to_string());
        let m = Message {
            dedup: "t:1".into(),
            channel: Channel::Webhook,
            recipient: "+15550100".into(),
            subject: "s".into(),
            body: "b".into(),
            headers,
            customer_id: None,
            ticket_id: None,
        };
        let mut tx = db.begin().await.unwrap();
        assert!(enqueue(&mut tx, &m).await.unwrap());
        assert!(!enqueue(&mut tx, &m).await.unwrap(), "the same decision queues nothing new");
        tx.commit().await.unwrap();
        let none = Channels { email: true, webhook: false, staff_webhook: false };
        assert!(due(&db, now_ms() + 1, 10, none).await.unwrap().is_empty(), "no transport: waits, untried");
        assert_eq!(waiting(&db, none).await.unwrap(), Waiting { email: 0, webhook: 1 });
        let all = Channels { email: true, webhook: true, staff_webhook: true };
        assert_eq!(waiting(&db, all).await.unwrap(), Waiting::default());
        let q = due(&db, now_ms() + 1, 10, all).await.unwrap();
        assert_eq!((q.len(), q[0].channel), (1, Channel::Webhook));
        assert_eq!(q[0].headers.get("In-Reply-To").map(String::as_str), Some("<a@b>"));
        assert_eq!(pending_count(&db).await.unwrap(), 1);
        let (rows, total) = page(&db, Some(Delivery::Queued), 10, 0).await.unwrap();
        assert_eq!((rows.len(), total, Delivery::of(&rows[0])), (1, 1, Delivery::Queued));
        assert_eq!(page(&db, Some(Delivery::Sent), 10, 0).await.unwrap().1, 0);
        mark_sent(&db, rows[0].id, now_ms()).await.unwrap();
        let (rows, total) = page(&db, None, 10, 0).await.unwrap();
        assert_eq!((total, Delivery::of(&rows[0])), (1, Delivery::Sent));
        assert_eq!(page(&db, Some(Delivery::Queued), 10, 0).await.unwrap().1, 0);
        assert!(Delivery::parse("lost").is_err());
        sqlx::query("UPDATE outbox SET sent_ms = NULL").execute(&db.pool).await.unwrap();
        sqlx::query("UPDATE outbox SET headers = 'not json'").execute(&db.pool).await.unwrap();
        assert!(recent(&db, false, 10).await.unwrap()[0].headers.is_empty(), "bad headers read as none");
        sqlx::query("UPDATE outbox SET channel = 'pigeon'").execute(&db.pool).await.unwrap();
        assert!(matches!(recent(&db, false, 10).await, Err(StoreError::Corrupt(_))));
        assert_eq!(Channel::parse("pigeon").unwrap_err().field(), Some("channel"));
        assert_eq!(serde_json::to_value(Channel::Email).unwrap(), "email");
    }
}
