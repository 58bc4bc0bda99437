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

use super::check_line;
use super::correlator::{Maintenance, Target};
use super::maintenance::{self, MaintenanceError, Recurrence, Scope, Window};
use crate::db::{Db, StoreError, now_ms};
use crate::outbox::{self as notify, Channel, Channels};
use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// What a window covers (`maintenance_windows.scope_kind`).
    pub enum ScopeKind (field "scope") {
        Site = "site",
        Device = "device",
    }
}

crate::text_enum! {
    /// How a window repeats, without its days (`weekly:tue,thu` is
    /// `weekly`): the choice the planning form offers.
    pub enum RecurrenceKind (field "recurrence") {
        Once = "once",
        Daily = "daily",
        Weekly = "weekly",
        Monthly = "monthly",
    }
}

impl RecurrenceKind {
    /// The kind of a recurrence.
    pub fn of(r: &Recurrence) -> RecurrenceKind {
        match r {
            Recurrence::Once => RecurrenceKind::Once,
            Recurrence::Daily => RecurrenceKind::Daily,
            Recurrence::Weekly { .. } => RecurrenceKind::Weekly,
            Recurrence::Monthly { .. } => RecurrenceKind::Monthly,
        }
    }

    /// The recurrence text from a kind and its days (`tue,thu` for weekly,
    /// `15` for monthly; ignored otherwise), as [`WindowInput::recurrence`]
    /// takes it.
    pub fn spec(self, days: &str) -> String {
        match self {
            RecurrenceKind::Once | RecurrenceKind::Daily => self.as_str().to_string(),
            RecurrenceKind::Weekly | RecurrenceKind::Monthly => format!("{}:{}", self.as_str(), days.trim()),
        }
    }
}

/// The input field a schedule error is about (the keys of [`WindowInput`]).
fn schedule_error(e: MaintenanceError) -> StoreError {
    let field = match &e {
        MaintenanceError::Start(_) => "start_local",
        MaintenanceError::Until(_) | MaintenanceError::UntilBeforeStart { .. } => "until",
        MaintenanceError::Duration(_) => "duration_minutes",
        MaintenanceError::NoDays | MaintenanceError::MonthDay(_) | MaintenanceError::Recurrence { .. } => "recurrence",
        MaintenanceError::Notice(_) => "notice_hours",
        // The operator's zone (configuration) and range limits: no field.
        MaintenanceError::TimeZone(_) | MaintenanceError::TooMany => "",
    };
    StoreError::invalid(field, e.to_string())
}

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

fn scope_cols(s: Scope) -> (ScopeKind, i64) {
    match s {
        Scope::Site(id) => (ScopeKind::Site, id),
        Scope::Device(id) => (ScopeKind::Device, id),
    }
}

/// Plans a window. Errors name the [`WindowInput`] key at fault (`site`,
/// `device`, `start_local`, `duration_minutes`, `recurrence`, `until`,
/// `notice_hours`, `reason`); "neither a site nor a device" names none.
pub async fn create(db: &Db, input: &WindowInput, tz: &str, author: &str) -> Result<StoredWindow, StoreError> {
    let site = input.site.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let scope = match (site, input.device) {
        (Some(name), None) => {
            check_line("site", name, 64)?;
            Scope::Site(
                super::site_by_name(db, name)
                    .await?
                    .ok_or_else(|| StoreError::invalid("site", format!("no site named {name:?}")))?
                    .id,
            )
        }
        (None, Some(d)) => {
            let exists: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM devices WHERE id = $1").bind(d).fetch_optional(&db.pool).await?;
            if exists.is_none() {
                return Err(StoreError::invalid("device", format!("no device {d}")));
            }
            Scope::Device(d)
        }
        _ => return Err(StoreError::invalid("", "give a site or a device (one of them)")),
    };
    for (field, value) in [("start_local", Some(input.start_local.as_str())), ("until", input.until.as_deref())] {
        check_line(field, value.unwrap_or(""), 32)?;
    }
    check_line("recurrence", input.recurrence.as_deref().unwrap_or(""), 100)?;
    let reason = input.reason.trim();
    check_line("reason", reason, 500)?;
    if reason.is_empty() {
        return Err(StoreError::invalid("reason", "1-500 characters (customers read it)"));
    }
    let recurrence = Recurrence::parse(input.recurrence.as_deref().unwrap_or("once")).map_err(schedule_error)?;
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
    w.validate().map_err(schedule_error)?;
    let (kind, sid) = scope_cols(scope);
    let (id,): (i64,) = sqlx::query_as(
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
    .await?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("window vanished".into()))
}

/// Cancels a window; `false` when there is no such window or it was
/// cancelled already.
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

#[derive(sqlx::FromRow)]
struct WindowRow {
    id: i64,
    scope_kind: ScopeKind,
    scope_id: i64,
    tz: String,
    start_local: String,
    duration_minutes: i64,
    recurrence: String,
    until_date: Option<String>,
    notice_hours: i64,
    reason: String,
    created_by: String,
    created_ms: i64,
    cancelled_ms: Option<i64>,
    scope_name: String,
}

impl TryFrom<WindowRow> for StoredWindow {
    type Error = StoreError;
    fn try_from(r: WindowRow) -> Result<StoredWindow, StoreError> {
        let window = Window {
            id: r.id,
            scope: match r.scope_kind {
                ScopeKind::Site => Scope::Site(r.scope_id),
                ScopeKind::Device => Scope::Device(r.scope_id),
            },
            tz: r.tz,
            start_local: r.start_local,
            duration_minutes: r.duration_minutes.clamp(0, u32::MAX as i64) as u32,
            recurrence: Recurrence::parse(&r.recurrence)
                .map_err(|e| StoreError::Corrupt(format!("stored window {}: {e}", r.id)))?,
            until: r.until_date,
            notice_hours: r.notice_hours.clamp(0, u32::MAX as i64) as u32,
        };
        Ok(StoredWindow {
            description: maintenance::describe(&window),
            window,
            scope_name: r.scope_name,
            reason: r.reason,
            created_by: r.created_by,
            created_ms: r.created_ms,
            cancelled_ms: r.cancelled_ms,
        })
    }
}

async fn get(db: &Db, id: i64) -> Result<Option<StoredWindow>, StoreError> {
    let sql = format!("SELECT {COLS} WHERE w.id = $1");
    let r: Option<WindowRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    r.map(StoredWindow::try_from).transpose()
}

/// Windows not cancelled (newest first), or all.
pub async fn list(db: &Db, include_cancelled: bool) -> Result<Vec<StoredWindow>, StoreError> {
    let filter = if include_cancelled { "" } else { "WHERE w.cancelled_ms IS NULL" };
    let sql = format!("SELECT {COLS} {filter} ORDER BY w.id DESC LIMIT 500");
    let rows: Vec<WindowRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    rows.into_iter().map(StoredWindow::try_from).collect()
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
    Ok(sqlx::query_as(sql).bind(id).fetch_all(&db.pool).await?)
}

/// Queues the advance notices that are due (once per occurrence, in the
/// transaction that records it); returns how many customers were told.
pub async fn send_notices(db: &Db, channels: Channels, tz: &jiff::tz::TimeZone, now: i64) -> Result<usize, StoreError> {
    let stored = list(db, false).await?;
    let windows: Vec<Window> = stored.iter().map(|w| w.window.clone()).collect();
    let mut told = 0;
    for n in maintenance::due_notices(&windows, now) {
        let done: Option<(i64,)> = sqlx::query_as(
            "SELECT window_id FROM maintenance_notices WHERE window_id = $1 AND occurrence_start_ms = $2",
        )
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
        let mut tx = db.begin().await?;
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
pub(crate) async fn pauses_for_customer(
    db: &Db,
    customer_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let site: Option<(Option<i64>,)> = sqlx::query_as("SELECT site_id FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&db.pool)
        .await?;
    let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT d.id, d.site_id, d.parent_id FROM customer_devices cd JOIN devices d ON d.mac = cd.mac WHERE cd.customer_id = $1",
    )
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await?;
    let mut sites: Vec<i64> = site.and_then(|(s,)| s).into_iter().collect();
    let mut devices = Vec::new();
    for (id, site_id, parent) in rows {
        devices.push(id);
        sites.push(site_id);
        devices.extend(parent);
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
        // Each error names the field at fault.
        let field = async |w: WindowInput| create(&db, &w, "UTC", "x").await.unwrap_err().field().map(str::to_string);
        assert_eq!(field(WindowInput { device: Some(99), ..input.clone() }).await.as_deref(), Some("device"));
        let by_site = WindowInput { device: None, site: Some("atlantis".into()), ..input.clone() };
        assert_eq!(field(by_site).await.as_deref(), Some("site"));
        assert_eq!(field(WindowInput { site: Some("north".into()), ..input.clone() }).await, None, "both: no field");
        assert_eq!(field(WindowInput { device: None, ..input.clone() }).await, None, "neither: no field");
        assert_eq!(field(WindowInput { reason: " ".into(), ..input.clone() }).await.as_deref(), Some("reason"));
        assert_eq!(field(WindowInput { reason: "a\0b".into(), ..input.clone() }).await.as_deref(), Some("reason"));
        assert_eq!(
            field(WindowInput { duration_minutes: 0, ..input.clone() }).await.as_deref(),
            Some("duration_minutes")
        );
        assert_eq!(
            field(WindowInput { start_local: "soon".into(), ..input.clone() }).await.as_deref(),
            Some("start_local")
        );
        let weekly = WindowInput { recurrence: Some("weekly:".into()), ..input.clone() };
        assert_eq!(field(weekly).await.as_deref(), Some("recurrence"));
        let until = WindowInput { until: Some("2030-01-01".into()), ..input.clone() };
        assert_eq!(field(until).await.as_deref(), Some("until"));
        assert_eq!(
            field(WindowInput { notice_hours: Some(5000), ..input.clone() }).await.as_deref(),
            Some("notice_hours")
        );
        assert_eq!(RecurrenceKind::Weekly.spec(" tue,thu "), "weekly:tue,thu");
        assert_eq!(RecurrenceKind::Daily.spec("ignored"), "daily");
        assert_eq!(RecurrenceKind::of(&Recurrence::parse("monthly:15").unwrap()), RecurrenceKind::Monthly);
        let w = create(&db, &input, "UTC", "noc@x").await.unwrap();
        // 2030-06-04 is a Tuesday; 02:00 UTC.
        let start = 1_906_768_800_000;
        let c = correlator_windows(&db, start + 3_600_000).await.unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].target, c[0].start, c[0].end), (Target::Device(1), start, start + 7_200_000));
        let t = Channels { email: true, webhook: false, staff_webhook: false };
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
        assert!(!cancel(&db, w.window.id).await.unwrap(), "once");
        let all = list(&db, true).await.unwrap();
        assert_eq!((all.len(), all[0].window.scope), (1, Scope::Device(1)));
        // Stored texts no enum names are corrupt data, not bad input.
        sqlx::query("UPDATE maintenance_windows SET scope_kind = 'planet'").execute(&db.pool).await.unwrap();
        assert!(matches!(list(&db, true).await, Err(StoreError::Corrupt(_))));
        sqlx::query("UPDATE maintenance_windows SET scope_kind = 'device', recurrence = 'hourly'")
            .execute(&db.pool)
            .await
            .unwrap();
        assert!(matches!(get(&db, w.window.id).await, Err(StoreError::Corrupt(_))));
    }
}
