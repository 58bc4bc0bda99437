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

use crate::db::{Db, DbError, now_ms};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

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
pub async fn enqueue(tx: &mut Tx<'_>, m: &Message) -> Result<bool, DbError> {
    let headers = serde_json::to_string(&m.headers).map_err(|e| DbError::Invalid(e.to_string()))?;
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

fn row(r: &sqlx::any::AnyRow) -> Result<Queued, DbError> {
    let channel: String = r.try_get("channel")?;
    let headers: String = r.try_get("headers")?;
    Ok(Queued {
        id: r.try_get("id")?,
        dedup: r.try_get("dedup")?,
        channel: Channel::parse(&channel).ok_or_else(|| DbError::Invalid(format!("outbox channel {channel:?}")))?,
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
pub async fn for_customer(db: &Db, customer_id: i64, limit: i64) -> Result<Vec<Queued>, DbError> {
    let sql = format!("SELECT {COLS} FROM outbox WHERE customer_id = $1 ORDER BY id DESC LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(row).collect()
}

/// Recent messages (newest first), optionally only failed ones.
pub async fn recent(db: &Db, failed_only: bool, limit: i64) -> Result<Vec<Queued>, DbError> {
    let filter = if failed_only { "WHERE failed_ms IS NOT NULL" } else { "" };
    let sql = format!("SELECT {COLS} FROM outbox {filter} ORDER BY id DESC LIMIT $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&db.pool).await?;
    rows.iter().map(row).collect()
}

/// Messages waiting for delivery (not sent, not given up).
pub async fn pending_count(db: &Db) -> Result<i64, DbError> {
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

/// Delivers one message; `Err` carries a one-line reason (never a secret).
pub trait Transport: Send + Sync {
    fn deliver<'a>(&'a self, m: &'a Queued) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// The configured transports; a channel without one is not queued by the
/// deciders (see [`Transports::has`]).
#[derive(Clone, Default)]
pub struct Transports {
    pub email: Option<Arc<dyn Transport>>,
    pub webhook: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("email", &self.email.is_some())
            .field("webhook", &self.webhook.is_some())
            .finish()
    }
}

impl Transports {
    pub fn has(&self, c: Channel) -> bool {
        match c {
            Channel::Email => self.email.is_some(),
            Channel::Webhook => self.webhook.is_some(),
        }
    }
    fn get(&self, c: Channel) -> Option<&Arc<dyn Transport>> {
        match c {
            Channel::Email => self.email.as_ref(),
            Channel::Webhook => self.webhook.as_ref(),
        }
    }
}

/// Delivers due messages once; returns how many were sent.
pub async fn deliver_due(db: &Db, transports: &Transports) -> Result<usize, DbError> {
    let sql = format!(
        "SELECT {COLS} FROM outbox WHERE sent_ms IS NULL AND failed_ms IS NULL AND next_attempt_ms <= $1 \
         ORDER BY next_attempt_ms, id LIMIT 200"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms()).fetch_all(&db.pool).await?;
    let mut sent = 0;
    for r in &rows {
        let m = row(r)?;
        let result = match transports.get(m.channel) {
            Some(t) => t.deliver(&m).await,
            None => Err(format!("no {} transport is configured", m.channel.as_str())),
        };
        let now = now_ms();
        match result {
            Ok(()) => {
                sqlx::query("UPDATE outbox SET sent_ms = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
                    .bind(now)
                    .bind(m.id)
                    .execute(&db.pool)
                    .await?;
                sent += 1;
            }
            Err(e) => {
                let attempts = m.attempts + 1;
                let give_up = attempts >= MAX_ATTEMPTS;
                warn!(id = m.id, channel = m.channel.as_str(), attempts, give_up, error = %e, "notification not delivered");
                sqlx::query(
                    "UPDATE outbox SET attempts = $1, last_error = $2, next_attempt_ms = $3, failed_ms = $4 WHERE id = $5",
                )
                .bind(attempts)
                .bind(e.chars().take(500).collect::<String>())
                .bind(now + backoff(attempts).as_millis() as i64)
                .bind(give_up.then_some(now))
                .bind(m.id)
                .execute(&db.pool)
                .await?;
            }
        }
    }
    if sent > 0 {
        info!(sent, "notifications delivered");
    }
    Ok(sent)
}

/// Delivers due messages every `every` until the task is dropped.
pub async fn worker(db: Db, transports: Transports, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = deliver_due(&db, &transports).await {
            warn!(error = %e, "notification worker: database error");
        }
    }
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
pub(crate) async fn outage_notices(
    tx: &mut Tx<'_>,
    transports: &Transports,
    tz: &jiff::tz::TimeZone,
    incident_id: i64,
    ticket_id: Option<i64>,
    started_ms: i64,
    phase: OutagePhase,
) -> Result<usize, DbError> {
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
                crate::monitoring::outages::human_duration(duration_ms)
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
            && transports.has(Channel::Email)
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
            && transports.has(Channel::Webhook)
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

pub use mast_text_core::when::local_time;

/// The SMS-gateway webhook: each message is POSTed as JSON
/// `{"event", "to", "text", "customer_id", "ticket_id", "id"}`; with a secret,
/// `X-Mast-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` lets the
/// gateway check it came from us. Any 2xx is delivered; anything else retries.
pub struct WebhookTransport {
    client: reqwest::Client,
    url: String,
    secret: Option<crate::config::Secret>,
}

impl WebhookTransport {
    pub fn new(url: &str, secret: Option<crate::config::Secret>) -> Result<WebhookTransport, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(WebhookTransport { client, url: url.to_string(), secret })
    }

    /// The signature header for `body` at `t` (also used by tests).
    pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
        use hmac::{Mac, digest::KeyInit};
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }
}

impl Transport for WebhookTransport {
    fn deliver<'a>(&'a self, m: &'a Queued) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&serde_json::json!({
                "id": m.id,
                "event": m.headers.get("event").map(String::as_str).unwrap_or("notice"),
                "to": m.recipient,
                "text": m.body,
                "customer_id": m.customer_id,
                "ticket_id": m.ticket_id,
            }))
            .map_err(|e| e.to_string())?;
            let mut req = self.client.post(&self.url).header("content-type", "application/json");
            if let Some(s) = &self.secret {
                req = req.header("x-mast-signature", Self::signature(s.expose(), now_ms() / 1000, &body));
            }
            let resp = req.body(body).send().await.map_err(|e| format!("webhook: {}", e.without_url()))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("webhook answered HTTP {}", resp.status().as_u16()))
            }
        })
    }
}

/// Email over SMTP: threading headers (`Message-ID`, `In-Reply-To`,
/// `References`) and `Auto-Submitted` come from the message's headers; the
/// ticket id adds `X-Mast-Ticket`.
pub struct EmailTransport {
    pub mailer: crate::mail::smtp::Mailer,
    /// Renders invoice PDFs for messages with an `invoice_id` header.
    pub invoices: Option<(Db, crate::billing::documents::Operator)>,
}

impl Transport for EmailTransport {
    fn deliver<'a>(&'a self, m: &'a Queued) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let mut mail = crate::mail::smtp::OutgoingMail::new(m.recipient.clone(), m.subject.clone(), m.body.clone());
            mail.message_id = m.headers.get("Message-ID").cloned();
            mail.in_reply_to = m.headers.get("In-Reply-To").cloned();
            mail.references = m
                .headers
                .get("References")
                .map(|r| r.split_whitespace().map(String::from).collect())
                .unwrap_or_default();
            mail.ticket = m.ticket_id;
            mail.auto_submitted = m.headers.contains_key("Auto-Submitted");
            if let Some(e) = m.headers.get("event") {
                mail.headers.push(("X-Mast-Event".into(), e.clone()));
            }
            if let (Some(id), Some((db, op))) = (m.headers.get("invoice_id"), &self.invoices) {
                let id: i64 = id.parse().map_err(|_| "bad invoice id".to_string())?;
                let inv = crate::billing::documents::invoice(db, id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("invoice {id} is gone"))?;
                let pdf = crate::billing::documents::pdf(db, op, &inv).await.map_err(|e| e.to_string())?;
                mail.attachments.push(crate::mail::smtp::Attachment::new(
                    format!("{}.pdf", inv.number),
                    "application/pdf",
                    pdf,
                ));
            }
            self.mailer.send(&mail).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// A transport that accepts every message (unit tests of the deciders).
#[cfg(test)]
pub(crate) struct AcceptAll;

#[cfg(test)]
impl Transport for AcceptAll {
    fn deliver<'a>(&'a self, _m: &'a Queued) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30_s_up_to_an_hour() {
        let secs: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    struct Flaky(std::sync::atomic::AtomicUsize);
    impl Transport for Flaky {
        fn deliver<'a>(&'a self, _m: &'a Queued) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
            Box::pin(async move {
                if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    Err("421 try later".into())
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test]
    async fn enqueue_is_idempotent_and_failures_are_retried_later() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/n.db", dir.path().display())).await.unwrap();
        let m = Message {
            dedup: "test:1".into(),
            channel: Channel::Email,
            recipient: "ada@example.org".into(),
            subject: "Hi".into(),
            body: "Body".into(),
            headers: BTreeMap::new(),
            customer_id: None,
            ticket_id: None,
        };
        let mut tx = db.pool.begin().await.unwrap();
        assert!(enqueue(&mut tx, &m).await.unwrap());
        assert!(!enqueue(&mut tx, &m).await.unwrap(), "the same decision queues nothing new");
        tx.commit().await.unwrap();
        let t = Transports { email: Some(Arc::new(Flaky(0.into()))), webhook: None };
        assert_eq!(deliver_due(&db, &t).await.unwrap(), 0);
        let q = &recent(&db, false, 10).await.unwrap()[0];
        assert_eq!((q.attempts, q.last_error.as_deref(), q.sent_ms), (1, Some("421 try later"), None));
        assert_eq!(deliver_due(&db, &t).await.unwrap(), 0, "not due before its backoff");
        sqlx::query("UPDATE outbox SET next_attempt_ms = 0").execute(&db.pool).await.unwrap();
        assert_eq!(deliver_due(&db, &t).await.unwrap(), 1);
        assert_eq!(pending_count(&db).await.unwrap(), 0);
        // A channel without a transport fails over the attempts and is kept.
        let mut tx = db.pool.begin().await.unwrap();
        enqueue(&mut tx, &Message { dedup: "test:2".into(), channel: Channel::Webhook, ..m.clone() }).await.unwrap();
        tx.commit().await.unwrap();
        for _ in 0..MAX_ATTEMPTS {
            sqlx::query("UPDATE outbox SET next_attempt_ms = 0").execute(&db.pool).await.unwrap();
            deliver_due(&db, &t).await.unwrap();
        }
        let failed = recent(&db, true, 10).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert!(failed[0].last_error.as_deref().unwrap().contains("no webhook transport"));
    }
}
