//! Maintenance windows in the database: the shell around the pure
//! [`maintenance`](super::maintenance) schedule. Owns `maintenance_windows`
//! and `maintenance_notices`.
//!
//! - The outage worker expands the windows around "now" into concrete
//!   intervals for the correlator ([`correlator_windows`]): no incident (so no
//!   ticket and no notice) opens for a site or device inside one.
//! - [`send_notices`] tells the affected customers (not opted out) in
//!   advance, once per occurrence: `notice_hours` before it starts.
//! - The SLA clocks of a customer's tickets pause while a window covers
//!   their service ([`pauses_for_customer`]).
//!
//! A site window covers the site and all its devices; a device window the
//! device and the CPEs behind it. Windows are cancelled, never deleted (the
//! audit trail keeps what was planned).

use super::correlator::{Maintenance, Target};
use super::maintenance::{self, Recurrence, Scope, Window};
use crate::db::{Db, StoreError, now_ms};
use crate::outbox::{self as notify, Channel, Channels};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// What staff submit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowInput {
    /// A site name, or ...
    #[serde(default)]
    pub site: Option<String>,
    /// ... a device id.
    #[serde(default)]
    pub device: Option<i64>,
    /// `YYYY-MM-DDTHH:MM` in the operator's time zone.
    pub start_local: String,
    pub duration_minutes: u32,
    /// `once`, `daily`, `weekly:tue,thu`, `monthly:15`.
    #[serde(default)]
    pub recurrence: Option<String>,
    /// Last day (inclusive), `YYYY-MM-DD`.
    #[serde(default)]
    pub until: Option<String>,
    /// Tell customers this many hours before (0: do not).
    #[serde(default)]
    pub notice_hours: Option<u32>,
    pub reason: String,
}

/// A stored window.
#[derive(Debug, Clone, Serialize)]
pub struct StoredWindow {
    pub window: Window,
    /// Site or device name, for pages.
    pub scope_name: String,
    pub reason: String,
    pub created_by: String,
    pub created_ms: i64,
    pub cancelled_ms: Option<i64>,
    pub description: String,
}

fn scope_cols(s: Scope) -> (&'static str, i64) {
    match s {
        Scope::Site(id) => ("site", id),
        Scope::Device(id) => ("device", id),
    }
}

pub async fn create(db: &Db, input: &WindowInput, tz: &str, author: &str) -> Result<StoredWindow, StoreError> {
    let scope = match (&input.site, input.device) {
        (Some(name), None) if !name.trim().is_empty() => Scope::Site(
            super::site_by_name(db, name.trim())
                .await?
                .ok_or_else(|| StoreError::invalid_msg(format!("site: no site named {:?}", name.trim())))?
                .id,
        ),
        (None, Some(d)) | (Some(_), Some(d)) if input.site.as_deref().is_none_or(|s| s.trim().is_empty()) => {
            let exists = sqlx::query("SELECT id FROM devices WHERE id = $1").bind(d).fetch_optional(&db.pool).await?;
            if exists.is_none() {
                return Err(StoreError::invalid_msg(format!("device: no device {d}")));
            }
            Scope::Device(d)
        }
        _ => return Err(StoreError::invalid_msg("give a site or a device (one of them)")),
    };
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(StoreError::invalid_msg("reason: 1-500 characters (customers read it)"));
    }
    let recurrence = Recurrence::parse(input.recurrence.as_deref().unwrap_or("once"))
        .map_err(|e| StoreError::invalid_msg(e.to_string()))?;
    let until = input.until.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(String::from);
    let w = Window {
        id: 0,
        scope,
        tz: tz.to_string(),
        start_local: input.start_local.trim().to_string(),
        duration_minutes: input.duration_minutes,
        recurrence,
        until,
        notice_hours: input.notice_hours.unwrap_or(48),
    };
    w.validate().map_err(|e| StoreError::invalid_msg(e.to_string()))?;
    let (kind, sid) = scope_cols(scope);
    let id: i64 = sqlx::query(
        "INSERT INTO maintenance_windows (scope_kind, scope_id, tz, start_local, duration_minutes, recurrence, until_date, \
         notice_hours, reason, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(kind)
    .bind(sid)
    .bind(&w.tz)
    .bind(&w.start_local)
    .bind(i64::from(w.duration_minutes))
    .bind(w.recurrence.to_string())
    .bind(&w.until)
    .bind(i64::from(w.notice_hours))
    .bind(reason)
    .bind(author)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?
    .try_get("id")?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("window vanished".into()))
}

pub async fn cancel(db: &Db, id: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query("UPDATE maintenance_windows SET cancelled_ms = $1 WHERE id = $2 AND cancelled_ms IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

const COLS: &str = "w.id, w.scope_kind, w.scope_id, w.tz, w.start_local, w.duration_minutes, w.recurrence, w.until_date, \
    w.notice_hours, w.reason, w.created_by, w.created_ms, w.cancelled_ms, \
    COALESCE(s.name, d.name, d.addr, '?') AS scope_name \
    FROM maintenance_windows w LEFT JOIN sites s ON w.scope_kind = 'site' AND s.id = w.scope_id \
    LEFT JOIN devices d ON w.scope_kind = 'device' AND d.id = w.scope_id";

fn row(r: &sqlx::any::AnyRow) -> Result<StoredWindow, StoreError> {
    let kind: String = r.try_get("scope_kind")?;
    let sid: i64 = r.try_get("scope_id")?;
    let rec: String = r.try_get("recurrence")?;
    let window = Window {
        id: r.try_get("id")?,
        scope: if kind == "site" { Scope::Site(sid) } else { Scope::Device(sid) },
        tz: r.try_get("tz")?,
        start_local: r.try_get("start_local")?,
        duration_minutes: r.try_get::<i64, _>("duration_minutes")?.clamp(0, u32::MAX as i64) as u32,
        recurrence: Recurrence::parse(&rec).map_err(|e| StoreError::Corrupt(format!("stored window: {e}")))?,
        until: r.try_get("until_date")?,
        notice_hours: r.try_get::<i64, _>("notice_hours")?.clamp(0, u32::MAX as i64) as u32,
    };
    Ok(StoredWindow {
        description: maintenance::describe(&window),
        window,
        scope_name: r.try_get("scope_name")?,
        reason: r.try_get("reason")?,
        created_by: r.try_get("created_by")?,
        created_ms: r.try_get("created_ms")?,
        cancelled_ms: r.try_get("cancelled_ms")?,
    })
}

pub async fn get(db: &Db, id: i64) -> Result<Option<StoredWindow>, StoreError> {
    let sql = format!("SELECT {COLS} WHERE w.id = $1");
    let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    r.as_ref().map(row).transpose()
}

/// Windows not cancelled (newest first), or all.
pub async fn list(db: &Db, include_cancelled: bool) -> Result<Vec<StoredWindow>, StoreError> {
    let filter = if include_cancelled { "" } else { "WHERE w.cancelled_ms IS NULL" };
    let sql = format!("SELECT {COLS} {filter} ORDER BY w.id DESC LIMIT 500");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    rows.iter().map(row).collect()
}

async fn live(db: &Db) -> Result<Vec<Window>, StoreError> {
    Ok(list(db, false).await?.into_iter().map(|w| w.window).collect())
}

/// Concrete windows overlapping [now - 1 day, now + 1 day] for the correlator.
pub async fn correlator_windows(db: &Db, now: i64) -> Result<Vec<Maintenance>, StoreError> {
    let mut out = Vec::new();
    for w in live(db).await? {
        for (start, end) in maintenance::occurrences(&w, now - 86_400_000, now + 86_400_000).unwrap_or_default() {
            let target = match w.scope {
                Scope::Site(s) => Target::Site(s),
                Scope::Device(d) => Target::Device(d),
            };
            out.push(Maintenance { target, start, end });
        }
    }
    Ok(out)
}

/// Customers a scope covers who get notices: (id, name, email, phone).
async fn customers_in(db: &Db, scope: Scope) -> Result<Vec<(i64, String, Option<String>, Option<String>)>, StoreError> {
    let sql = match scope {
        Scope::Site(_) => {
            "SELECT c.id, c.name, c.email, c.phone FROM customers c WHERE c.notify_outages <> 0 AND (c.site_id = $1 \
             OR c.id IN (SELECT cd.customer_id FROM customer_devices cd JOIN devices d ON d.mac = cd.mac WHERE d.site_id = $1)) \
             ORDER BY c.id"
        }
        Scope::Device(_) => {
            "SELECT c.id, c.name, c.email, c.phone FROM customers c WHERE c.notify_outages <> 0 AND c.id IN \
             (SELECT cd.customer_id FROM customer_devices cd JOIN devices d ON d.mac = cd.mac \
              WHERE d.id = $1 OR d.parent_id = $1) ORDER BY c.id"
        }
    };
    let id = match scope {
        Scope::Site(s) | Scope::Device(s) => s,
    };
    let rows = sqlx::query(sql).bind(id).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("email")?, r.try_get("phone")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Queues the advance notices that are due (once per occurrence, in the
/// transaction that records it); returns how many customers were told.
pub async fn send_notices(db: &Db, channels: Channels, tz: &jiff::tz::TimeZone, now: i64) -> Result<usize, StoreError> {
    let stored = list(db, false).await?;
    let windows: Vec<Window> = stored.iter().map(|w| w.window.clone()).collect();
    let mut told = 0;
    for n in maintenance::due_notices(&windows, now) {
        let done =
            sqlx::query("SELECT 1 AS x FROM maintenance_notices WHERE window_id = $1 AND occurrence_start_ms = $2")
                .bind(n.window_id)
                .bind(n.occurrence_start)
                .fetch_optional(&db.pool)
                .await?;
        if done.is_some() {
            continue;
        }
        let reason = stored.iter().find(|w| w.window.id == n.window_id).map(|w| w.reason.clone()).unwrap_or_default();
        let customers = customers_in(db, n.scope).await?;
        let when = format!(
            "{} until {}",
            mast_text_core::when::local_time(n.occurrence_start, tz),
            mast_text_core::when::local_time(n.occurrence_end, tz)
        );
        let text = format!(
            "We have planned maintenance on the network that serves you: {when}. Your Internet service may be \
             interrupted during that time. Reason: {reason}"
        );
        let mut tx = db.pool.begin().await?;
        let mut queued = 0;
        for (id, name, email, phone) in &customers {
            let base = format!("maintenance:{}:{}:customer:{id}", n.window_id, n.occurrence_start);
            if let Some(e) = email.as_ref().filter(|e| !e.is_empty())
                && channels.has(Channel::Email)
            {
                let m = notify::Message {
                    dedup: format!("{base}:email"),
                    channel: Channel::Email,
                    recipient: e.clone(),
                    subject: "Planned maintenance".into(),
                    body: format!("Hello {name},\n\n{text}\n"),
                    headers: [("event".to_string(), "maintenance.notice".to_string())].into(),
                    customer_id: Some(*id),
                    ticket_id: None,
                };
                queued += usize::from(notify::enqueue(&mut tx, &m).await?);
            }
            if let Some(p) = phone.as_ref().filter(|p| !p.is_empty())
                && channels.has(Channel::Webhook)
            {
                let m = notify::Message {
                    dedup: format!("{base}:sms"),
                    channel: Channel::Webhook,
                    recipient: p.clone(),
                    subject: "Planned maintenance".into(),
                    body: text.clone(),
                    headers: [("event".to_string(), "maintenance.notice".to_string())].into(),
                    customer_id: Some(*id),
                    ticket_id: None,
                };
                queued += usize::from(notify::enqueue(&mut tx, &m).await?);
            }
        }
        sqlx::query(
            "INSERT INTO maintenance_notices (window_id, occurrence_start_ms, ts_ms, customers) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(n.window_id)
        .bind(n.occurrence_start)
        .bind(now)
        .bind(customers.len() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(window = n.window_id, customers = customers.len(), queued, "maintenance notice sent");
        told += customers.len();
    }
    Ok(told)
}

/// Maintenance intervals that cover a customer's service (their site, their
/// CPEs, or the AP in front of them), within [from, to).
pub async fn pauses_for_customer(db: &Db, customer_id: i64, from: i64, to: i64) -> Result<Vec<(i64, i64)>, StoreError> {
    let site: Option<i64> = sqlx::query("SELECT site_id FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| r.try_get::<Option<i64>, _>("site_id"))
        .transpose()?
        .flatten();
    let rows = sqlx::query(
        "SELECT d.id, d.site_id, d.parent_id FROM customer_devices cd JOIN devices d ON d.mac = cd.mac WHERE cd.customer_id = $1",
    )
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await?;
    let mut sites: Vec<i64> = site.into_iter().collect();
    let mut devices = Vec::new();
    for r in &rows {
        devices.push(r.try_get::<i64, _>("id")?);
        sites.push(r.try_get("site_id")?);
        if let Some(p) = r.try_get::<Option<i64>, _>("parent_id")? {
            devices.push(p);
        }
    }
    let mut out = Vec::new();
    for w in live(db).await? {
        let covers = match w.scope {
            Scope::Site(s) => sites.contains(&s),
            Scope::Device(d) => devices.contains(&d),
        };
        if covers {
            out.extend(maintenance::occurrences(&w, from, to).unwrap_or_default());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn windows_feed_the_correlator_notify_once_and_pause_sla_clocks() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/w.db", dir.path().display())).await.unwrap();
        let site = crate::monitoring::add_site(&db, "north", &[], 30_000, 1_000).await.unwrap();
        let other = crate::monitoring::add_site(&db, "south", &[], 30_000, 1_000).await.unwrap();
        // An AP with a CPE behind it; the CPE serves Ada; Bob opted out; Cy is elsewhere.
        for (addr, mac, parent) in
            [("10.0.0.2", "aa:00:00:00:00:01", None), ("10.0.0.3", "aa:00:00:00:00:02", Some(1i64))]
        {
            sqlx::query("INSERT INTO devices (site_id, addr, mac, parent_id, created_ms) VALUES ($1, $2, $3, $4, 0)")
                .bind(site.id)
                .bind(addr)
                .bind(mac)
                .bind(parent)
                .execute(&db.pool)
                .await
                .unwrap();
        }
        let mk = |name: &str, email: &str, site: &str, notify| crate::customers::CustomerInput {
            name: name.into(),
            email: Some(email.into()),
            site: Some(site.into()),
            notify_outages: Some(notify),
            ..Default::default()
        };
        let ada = crate::customers::create(&db, &mk("Ada", "ada@x.org", "south", true)).await.unwrap();
        crate::customers::link_cpe(&db, ada.id, "aa:00:00:00:00:02").await.unwrap();
        crate::customers::create(&db, &mk("Bob", "bob@x.org", "north", false)).await.unwrap();
        let cy = crate::customers::create(&db, &mk("Cy", "cy@x.org", "south", true)).await.unwrap();
        let _ = other;
        let input = WindowInput {
            device: Some(1),
            start_local: "2030-06-04T02:00".into(),
            duration_minutes: 120,
            recurrence: Some("weekly:tue".into()),
            notice_hours: Some(24),
            reason: "AP firmware upgrade".into(),
            ..Default::default()
        };
        assert!(create(&db, &WindowInput { device: Some(99), ..input.clone() }, "UTC", "x").await.is_err());
        assert!(create(&db, &WindowInput { reason: " ".into(), ..input.clone() }, "UTC", "x").await.is_err());
        assert!(create(&db, &WindowInput { duration_minutes: 0, ..input.clone() }, "UTC", "x").await.is_err());
        let w = create(&db, &input, "UTC", "noc@x").await.unwrap();
        // 2030-06-04 is a Tuesday; 02:00 UTC.
        let start = 1_906_768_800_000;
        let c = correlator_windows(&db, start + 3_600_000).await.unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].target, c[0].start, c[0].end), (Target::Device(1), start, start + 7_200_000));
        let t = Channels { email: true, webhook: false };
        let tz = jiff::tz::TimeZone::UTC;
        assert_eq!(send_notices(&db, t, &tz, start - 30 * 3_600_000).await.unwrap(), 0, "too early");
        assert_eq!(send_notices(&db, t, &tz, start - 20 * 3_600_000).await.unwrap(), 1, "Ada only: behind the AP");
        assert_eq!(send_notices(&db, t, &tz, start - 19 * 3_600_000).await.unwrap(), 0, "once per occurrence");
        let mails = notify::recent(&db, false, 10).await.unwrap();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].recipient, "ada@x.org");
        assert!(
            mails[0].body.contains("AP firmware upgrade") && mails[0].body.contains("Tue 4 Jun 02:00"),
            "{}",
            mails[0].body
        );
        // SLA pauses: Ada's service is covered, Cy's is not.
        let p = pauses_for_customer(&db, ada.id, start - 86_400_000, start + 8 * 86_400_000).await.unwrap();
        assert_eq!(p, vec![(start, start + 7_200_000), (start + 7 * 86_400_000, start + 7 * 86_400_000 + 7_200_000)]);
        assert!(pauses_for_customer(&db, cy.id, start - 86_400_000, start + 86_400_000).await.unwrap().is_empty());
        assert!(cancel(&db, w.window.id).await.unwrap());
        assert!(correlator_windows(&db, start + 3_600_000).await.unwrap().is_empty(), "cancelled");
    }
}
