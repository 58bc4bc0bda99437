//! Delivery of the outbox (`mast_store::outbox`): the [`Transport`]s
//! (SMTP email, the HMAC-signed SMS webhook) and the worker that delivers due
//! messages with backoff. Deciders never see this module: they queue into
//! the outbox inside their own transaction, knowing only which
//! [`Channels`](outbox::Channels) exist.

use crate::shutdown::Shutdown;
use mast_store::db::{Db, StoreError, now_ms};
use mast_store::outbox::{self, Channel, Queued};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

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
    /// The staff alert webhook.
    pub staff_webhook: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("email", &self.email.is_some())
            .field("webhook", &self.webhook.is_some())
            .field("staff_webhook", &self.staff_webhook.is_some())
            .finish()
    }
}

impl Transports {
    /// The channels these transports can deliver.
    pub fn channels(&self) -> outbox::Channels {
        outbox::Channels {
            email: self.email.is_some(),
            webhook: self.webhook.is_some(),
            staff_webhook: self.staff_webhook.is_some(),
        }
    }
    fn get(&self, c: Channel) -> Option<&Arc<dyn Transport>> {
        match c {
            Channel::Email => self.email.as_ref(),
            Channel::Webhook => self.webhook.as_ref(),
            Channel::StaffWebhook => self.staff_webhook.as_ref(),
        }
    }
}

/// How many messages wait for a channel that has no transport, as of the
/// delivery worker's last pass (every staff page shows it, so pages read
/// this instead of counting the outbox).
#[derive(Debug, Default)]
pub struct Waiting {
    email: std::sync::atomic::AtomicI64,
    webhook: std::sync::atomic::AtomicI64,
}

impl Waiting {
    pub fn new() -> Waiting {
        Waiting::default()
    }
    pub fn get(&self) -> outbox::Waiting {
        use std::sync::atomic::Ordering::Relaxed;
        outbox::Waiting { email: self.email.load(Relaxed), webhook: self.webhook.load(Relaxed) }
    }
    /// Recounts from the outbox.
    pub async fn refresh(&self, db: &Db, configured: outbox::Channels) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        let w = outbox::waiting(db, configured).await?;
        self.email.store(w.email, Relaxed);
        self.webhook.store(w.webhook, Relaxed);
        Ok(())
    }
}

/// Delivers due messages once; returns how many were sent. One message's
/// failure is recorded against it and never stops the others; at shutdown
/// the message in hand is finished and the rest wait for the next start.
pub async fn deliver_due(db: &Db, transports: &Transports, shutdown: &Shutdown) -> Result<usize, StoreError> {
    let mut sent = 0;
    for m in outbox::due(db, now_ms(), 200, transports.channels()).await? {
        if shutdown.is_triggered() {
            break;
        }
        let result = match transports.get(m.channel) {
            Some(t) => t.deliver(&m).await,
            None => Err(format!("no {} transport is configured", m.channel.as_str())),
        };
        let now = now_ms();
        match result {
            Ok(()) => {
                outbox::mark_sent(db, m.id, now).await?;
                sent += 1;
            }
            Err(e) => {
                let attempts = m.attempts + 1;
                let give_up = outbox::mark_failed(db, m.id, attempts, &e, now).await?;
                warn!(id = m.id, channel = m.channel.as_str(), attempts, give_up, error = %e, "notification not delivered");
            }
        }
    }
    if sent > 0 {
        info!(sent, "notifications delivered");
    }
    Ok(sent)
}

/// The SMS-gateway webhook and the staff alert webhook: each message is
/// POSTed as JSON `{"event", "to", "text", "subject", "customer_id",
/// "ticket_id", "incident_id", "id"}` (`text` is what chat tools' incoming
/// webhooks show); with a secret,
/// `X-Mast-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` lets the
/// gateway check it came from us. Any 2xx is delivered; anything else retries.
pub struct WebhookTransport {
    client: reqwest::Client,
    url: String,
    secret: Option<mast_text_core::Secret>,
}

impl WebhookTransport {
    pub fn new(url: &str, secret: Option<mast_text_core::Secret>) -> Result<WebhookTransport, String> {
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
                "subject": m.subject,
                "incident_id": m.headers.get("incident_id").and_then(|v| v.parse::<i64>().ok()),
                "rule_id": m.headers.get("rule_id").and_then(|v| v.parse::<i64>().ok()),
                "alert_subject": m.headers.get("alert_subject"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use mast_store::outbox::{MAX_ATTEMPTS, Message, enqueue, pending_count, recent};
    use std::collections::BTreeMap;

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
        let mut tx = db.begin().await.unwrap();
        assert!(enqueue(&mut tx, &m).await.unwrap());
        assert!(!enqueue(&mut tx, &m).await.unwrap(), "the same decision queues nothing new");
        tx.commit().await.unwrap();
        let t = Transports { email: Some(Arc::new(Flaky(0.into()))), webhook: None, staff_webhook: None };
        assert_eq!(deliver_due(&db, &t, &Shutdown::new()).await.unwrap(), 0);
        let q = &recent(&db, false, 10).await.unwrap()[0];
        assert_eq!((q.attempts, q.last_error.as_deref(), q.sent_ms), (1, Some("421 try later"), None));
        assert_eq!(deliver_due(&db, &t, &Shutdown::new()).await.unwrap(), 0, "not due before its backoff");
        sqlx::query("UPDATE outbox SET next_attempt_ms = 0").execute(&db.pool).await.unwrap();
        assert_eq!(deliver_due(&db, &t, &Shutdown::new()).await.unwrap(), 1);
        assert_eq!(pending_count(&db).await.unwrap(), 0);
        // A channel without a transport is never tried: it waits, counted,
        // and goes out once a transport exists.
        let mut tx = db.begin().await.unwrap();
        enqueue(&mut tx, &Message { dedup: "test:2".into(), channel: Channel::Webhook, ..m.clone() }).await.unwrap();
        tx.commit().await.unwrap();
        for _ in 0..MAX_ATTEMPTS {
            sqlx::query("UPDATE outbox SET next_attempt_ms = 0").execute(&db.pool).await.unwrap();
            deliver_due(&db, &t, &Shutdown::new()).await.unwrap();
        }
        assert!(recent(&db, true, 10).await.unwrap().is_empty(), "never failed");
        let w = Waiting::new();
        w.refresh(&db, t.channels()).await.unwrap();
        assert_eq!(w.get(), mast_store::outbox::Waiting { email: 0, webhook: 1 });
        let t = Transports { webhook: Some(Arc::new(Flaky(1.into()))), ..t };
        assert_eq!(deliver_due(&db, &t, &Shutdown::new()).await.unwrap(), 1);
        w.refresh(&db, t.channels()).await.unwrap();
        assert_eq!(w.get(), mast_store::outbox::Waiting::default());
    }
}
