//! Work orders (`work_orders`) with their history (`work_order_steps`),
//! checklist, notes, photos and parts. Status changes go through the
//! core's machine ([`mast_dispatch_core::job::advance`]); every change
//! bumps `revision`, which a phone's offline change names so a conflict
//! is found (see [`super::sync`]).

use super::{line, parse_skills, point, text};
use crate::db::{Db, Tx, now_ms};
use crate::error::StoreError;
use crate::stock::moves::{self, Batch, ItemInput, Target};
use mast_dispatch_core::job::{self, JobKind, Priority, Status, Step, Transition};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub priority: String,
    pub title: String,
    pub customer_id: Option<i64>,
    pub customer: Option<String>,
    pub customer_phone: Option<String>,
    pub customer_email: Option<String>,
    pub ticket_id: Option<i64>,
    pub ticket_subject: Option<String>,
    pub incident_id: Option<i64>,
    pub site_id: Option<i64>,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub day: Option<String>,
    pub technician_id: Option<i64>,
    pub technician: Option<String>,
    pub seq: Option<i64>,
    pub window_start_min: Option<i64>,
    pub window_end_min: Option<i64>,
    pub duration_min: i64,
    pub skills: String,
    pub planned_start_min: Option<i64>,
    pub planned_drive_s: Option<i64>,
    pub planned_drive_m: Option<i64>,
    pub notes: String,
    pub close_ticket: i64,
    /// Placed by hand on the board: "plan the day" keeps it with its
    /// technician.
    pub pinned: i64,
    pub signed_by: Option<String>,
    pub revision: i64,
    pub created_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl JobRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::New)
    }
    pub fn kind(&self) -> JobKind {
        JobKind::parse(&self.kind).unwrap_or(JobKind::Repair)
    }
    pub fn priority(&self) -> Priority {
        Priority::parse(&self.priority).unwrap_or(Priority::Normal)
    }
}

/// What the work order form sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobInput {
    pub kind: JobKind,
    pub priority: Priority,
    pub title: String,
    pub customer_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub site_id: Option<i64>,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub window_start_min: Option<i64>,
    pub window_end_min: Option<i64>,
    pub duration_min: i64,
    pub skills: String,
    pub notes: String,
    pub close_ticket: bool,
}

impl Default for JobInput {
    fn default() -> Self {
        JobInput {
            kind: JobKind::Repair,
            priority: Priority::Normal,
            title: String::new(),
            customer_id: None,
            ticket_id: None,
            incident_id: None,
            site_id: None,
            address: String::new(),
            lat: None,
            lon: None,
            window_start_min: None,
            window_end_min: None,
            duration_min: 60,
            skills: String::new(),
            notes: String::new(),
            close_ticket: true,
        }
    }
}

pub(crate) const COLS: &str = "SELECT w.id, w.kind, w.status, w.priority, w.title, w.customer_id, c.name AS customer, \
     c.phone AS customer_phone, c.email AS customer_email, w.ticket_id, t.subject AS ticket_subject, w.incident_id, \
     w.site_id, w.address, w.lat, w.lon, w.day, w.technician_id, dt.name AS technician, w.seq, w.window_start_min, \
     w.window_end_min, w.duration_min, w.skills, w.planned_start_min, w.planned_drive_s, w.planned_drive_m, w.notes, \
     w.close_ticket, w.pinned, w.signed_by, w.revision, w.created_by, w.created_ms, w.updated_ms \
     FROM work_orders w LEFT JOIN customers c ON c.id = w.customer_id LEFT JOIN tickets t ON t.id = w.ticket_id \
     LEFT JOIN dispatch_technicians dt ON dt.user_id = w.technician_id";

async fn check(db: &Db, j: &JobInput) -> Result<String, StoreError> {
    if j.title.trim().is_empty() {
        return Err(StoreError::invalid("title", "is required"));
    }
    line("title", &j.title, 200)?;
    line("address", &j.address, 300)?;
    text("notes", &j.notes, 5_000)?;
    point("lat", j.lat, j.lon)?;
    if j.lat.is_none() {
        return Err(StoreError::invalid("lat", "the job needs a place: give its latitude and longitude"));
    }
    if !(5..=720).contains(&j.duration_min) {
        return Err(StoreError::invalid("duration_min", "5 minutes to 12 hours"));
    }
    match (j.window_start_min, j.window_end_min) {
        (None, None) => {}
        (Some(a), Some(b)) if (0..1440).contains(&a) && a < b && b <= 1440 => {}
        (Some(_), Some(_)) => return Err(StoreError::invalid("window_end", "the window must end after it starts")),
        _ => return Err(StoreError::invalid("window_end", "give both ends of the window, or neither")),
    }
    let skills = parse_skills("skills", &j.skills)?;
    if let Some(c) = j.customer_id {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id = $1").bind(c).fetch_one(&db.pool).await?;
        if n == 0 {
            return Err(StoreError::invalid("customer_id", format!("no customer {c}")));
        }
    }
    if let Some(t) = j.ticket_id {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE id = $1").bind(t).fetch_one(&db.pool).await?;
        if n == 0 {
            return Err(StoreError::invalid("ticket_id", format!("no ticket {t}")));
        }
    }
    if let Some(s) = j.site_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sites WHERE id = $1").bind(s).fetch_one(&db.pool).await?;
        if n == 0 {
            return Err(StoreError::invalid("site_id", format!("no site {s}")));
        }
    }
    Ok(super::skills_text(&skills))
}

/// Creates a work order (status new) with its kind's checklist.
pub async fn create(db: &Db, j: &JobInput, actor: &str) -> Result<JobRow, StoreError> {
    let skills = check(db, j).await?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO work_orders (kind, status, priority, title, customer_id, ticket_id, incident_id, site_id, address, \
         lat, lon, window_start_min, window_end_min, duration_min, skills, notes, close_ticket, created_by, created_ms, \
         updated_ms) VALUES ($1, 'new', $2, $3, $4, $5, $6, $7, $8, CAST($9 AS DOUBLE PRECISION), \
         CAST($10 AS DOUBLE PRECISION), $11, $12, $13, $14, $15, $16, $17, $18, $18) RETURNING id",
    )
    .bind(j.kind.as_str())
    .bind(j.priority.as_str())
    .bind(j.title.trim())
    .bind(j.customer_id)
    .bind(j.ticket_id)
    .bind(j.incident_id)
    .bind(j.site_id)
    .bind(j.address.trim())
    .bind(crate::sql::real(j.lat))
    .bind(crate::sql::real(j.lon))
    .bind(j.window_start_min)
    .bind(j.window_end_min)
    .bind(j.duration_min)
    .bind(&skills)
    .bind(j.notes.trim())
    .bind(i64::from(j.close_ticket))
    .bind(actor)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO work_order_steps (work_order_id, status, at_ms, actor, note) VALUES ($1, 'new', $2, $3, '')",
    )
    .bind(id)
    .bind(now)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    let items: Option<String> = sqlx::query_scalar("SELECT items FROM dispatch_checklists WHERE kind = $1")
        .bind(j.kind.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    for (i, label) in items.unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        sqlx::query("INSERT INTO work_order_checklist (work_order_id, position, label) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(i as i64)
            .bind(label)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    get(db, id).await
}

/// Changes a work order's details (not its status or schedule).
pub async fn update(db: &Db, id: i64, j: &JobInput) -> Result<JobRow, StoreError> {
    let skills = check(db, j).await?;
    let cur = get(db, id).await?;
    if cur.status().is_final() {
        return Err(StoreError::Conflict(format!("work order {id} is {}: it cannot change", cur.status)));
    }
    sqlx::query(
        "UPDATE work_orders SET kind = $1, priority = $2, title = $3, customer_id = $4, ticket_id = $5, site_id = $6, \
         address = $7, lat = CAST($8 AS DOUBLE PRECISION), lon = CAST($9 AS DOUBLE PRECISION), window_start_min = $10, window_end_min = $11, duration_min = $12, \
         skills = $13, notes = $14, close_ticket = $15, revision = revision + 1, updated_ms = $16 WHERE id = $17",
    )
    .bind(j.kind.as_str())
    .bind(j.priority.as_str())
    .bind(j.title.trim())
    .bind(j.customer_id)
    .bind(j.ticket_id)
    .bind(j.site_id)
    .bind(j.address.trim())
    .bind(crate::sql::real(j.lat))
    .bind(crate::sql::real(j.lon))
    .bind(j.window_start_min)
    .bind(j.window_end_min)
    .bind(j.duration_min)
    .bind(&skills)
    .bind(j.notes.trim())
    .bind(i64::from(j.close_ticket))
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    get(db, id).await
}

pub async fn get(db: &Db, id: i64) -> Result<JobRow, StoreError> {
    find(db, id).await?.ok_or_else(|| StoreError::NotFound(format!("work order {id}")))
}

pub async fn find(db: &Db, id: i64) -> Result<Option<JobRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE w.id = $1"))).bind(id).fetch_optional(&db.pool).await?)
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub day: Option<String>,
    pub technician: Option<i64>,
    /// Only jobs not done or cancelled.
    pub open: bool,
    /// Only jobs without a day (new, or needing a revisit).
    pub unscheduled: bool,
    pub customer: Option<i64>,
    pub ticket: Option<i64>,
    pub limit: i64,
}

pub async fn list(db: &Db, f: &Filter) -> Result<Vec<JobRow>, StoreError> {
    let mut sql = format!("{COLS} WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    if let Some(d) = &f.day {
        binds.push(d.clone());
        sql.push_str(&format!(" AND w.day = ${}", binds.len()));
    }
    let base = binds.len();
    if let Some(t) = f.technician {
        ints.push(t);
        sql.push_str(&format!(" AND w.technician_id = ${}", base + ints.len()));
    }
    if let Some(c) = f.customer {
        ints.push(c);
        sql.push_str(&format!(" AND w.customer_id = ${}", base + ints.len()));
    }
    if let Some(t) = f.ticket {
        ints.push(t);
        sql.push_str(&format!(" AND w.ticket_id = ${}", base + ints.len()));
    }
    if f.open {
        sql.push_str(" AND w.status NOT IN ('done', 'cancelled')");
    }
    if f.unscheduled {
        sql.push_str(" AND w.day IS NULL AND w.status IN ('new', 'needs-revisit')");
    }
    sql.push_str(" ORDER BY w.day, w.technician_id, w.seq, w.id");
    if f.limit > 0 {
        sql.push_str(&format!(" LIMIT {}", f.limit));
    }
    let mut q = sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(sql));
    for b in &binds {
        q = q.bind(b.clone());
    }
    for i in &ints {
        q = q.bind(*i);
    }
    Ok(q.fetch_all(&db.pool).await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StepRow {
    pub status: String,
    pub at_ms: i64,
    pub actor: String,
    pub technician_id: Option<i64>,
    pub note: String,
}

pub async fn steps(db: &Db, id: i64) -> Result<Vec<StepRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT status, at_ms, actor, technician_id, note FROM work_order_steps WHERE work_order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

async fn history(tx: &mut Tx<'_>, id: i64) -> Result<Vec<Step>, StoreError> {
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT status, at_ms, actor FROM work_order_steps WHERE work_order_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
    rows.into_iter()
        .map(|(s, at_ms, by)| {
            Ok(Step {
                status: Status::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("work order status {s:?}")))?,
                at_ms,
                by,
            })
        })
        .collect()
}

/// A status change: who, when, and for scheduling the technician and day.
#[derive(Debug, Clone)]
pub struct Change {
    pub to: Status,
    pub at_ms: i64,
    pub actor: String,
    pub note: String,
    /// For `Scheduled`: the technician and the day.
    pub schedule: Option<(i64, String)>,
    /// The revision the change was made against (a phone's offline change);
    /// `None`: the current one.
    pub revision: Option<i64>,
}

/// Applies a status change in `tx`, or says why not. Scheduling sets the
/// technician and day (and puts the job last in their day until a plan
/// orders it); going back to new or cancelling clears them.
pub async fn change_tx(tx: &mut Tx<'_>, id: i64, c: &Change) -> Result<(), StoreError> {
    text("note", &c.note, 5_000)?;
    let (status, revision): (String, i64) = sqlx::query_as("SELECT status, revision FROM work_orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("work order {id}")))?;
    if let Some(r) = c.revision
        && r != revision
    {
        return Err(StoreError::Conflict(format!(
            "work order {id} changed since (revision {revision}, the change saw {r}); it is now {status}"
        )));
    }
    let h = history(tx, id).await?;
    let t = Transition { to: c.to, at_ms: c.at_ms, by: c.actor.clone() };
    job::advance(&h, &t).map_err(|e| StoreError::invalid("status", e.to_string()))?;
    let tech = match (c.to, &c.schedule) {
        (Status::Scheduled, Some((tech, day))) => {
            let d = super::parse_day("day", day)?.to_string();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dispatch_technicians WHERE user_id = $1")
                .bind(tech)
                .fetch_one(&mut **tx)
                .await?;
            if n == 0 {
                return Err(StoreError::invalid("technician", format!("no technician {tech}")));
            }
            let seq: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(seq) FROM work_orders WHERE day = $1 AND technician_id = $2 AND id <> $3",
            )
            .bind(&d)
            .bind(tech)
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE work_orders SET day = $1, technician_id = $2, seq = $3, planned_start_min = NULL, \
                 planned_drive_s = NULL, planned_drive_m = NULL WHERE id = $4",
            )
            .bind(&d)
            .bind(tech)
            .bind(seq.unwrap_or(0) + 1)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            Some(*tech)
        }
        (Status::Scheduled, None) => {
            // Turned back from en route: keeps its day.
            let cur: Option<String> =
                sqlx::query_scalar("SELECT day FROM work_orders WHERE id = $1").bind(id).fetch_one(&mut **tx).await?;
            if cur.is_none() {
                return Err(StoreError::invalid("technician", "pick a technician and a day"));
            }
            None
        }
        (Status::New | Status::Cancelled | Status::NeedsRevisit, _) => {
            // Off the board (a revisit is planned again; the visit's
            // technician stays in its steps).
            sqlx::query(
                "UPDATE work_orders SET day = NULL, seq = NULL, pinned = 0, planned_start_min = NULL, \
                 planned_drive_s = NULL, planned_drive_m = NULL WHERE id = $1",
            )
            .bind(id)
            .execute(&mut **tx)
            .await?;
            None
        }
        _ => None,
    };
    let tech_now: Option<i64> =
        sqlx::query_scalar("SELECT technician_id FROM work_orders WHERE id = $1").bind(id).fetch_one(&mut **tx).await?;
    sqlx::query("UPDATE work_orders SET status = $1, revision = revision + 1, updated_ms = $2 WHERE id = $3")
        .bind(c.to.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO work_order_steps (work_order_id, status, at_ms, actor, technician_id, note) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(c.to.as_str())
    .bind(c.at_ms)
    .bind(&c.actor)
    .bind(tech.or(tech_now))
    .bind(c.note.trim())
    .execute(&mut **tx)
    .await?;
    if c.to.is_final() {
        // Parts held back for the job go back to the shelf.
        sqlx::query("DELETE FROM stock_reservations WHERE reference = $1")
            .bind(format!("work-order:{id}"))
            .execute(&mut **tx)
            .await?;
    }
    if !c.note.trim().is_empty() {
        sqlx::query("INSERT INTO work_order_notes (work_order_id, body, actor, at_ms) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(c.note.trim())
            .bind(&c.actor)
            .bind(c.at_ms)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn change(db: &Db, id: i64, c: &Change) -> Result<JobRow, StoreError> {
    let mut tx = db.begin().await?;
    change_tx(&mut tx, id, c).await?;
    tx.commit().await?;
    get(db, id).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CheckRow {
    pub position: i64,
    pub label: String,
    pub done: i64,
    pub done_by: Option<String>,
    pub done_ms: Option<i64>,
}

pub async fn checklist(db: &Db, id: i64) -> Result<Vec<CheckRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT position, label, done, done_by, done_ms FROM work_order_checklist WHERE work_order_id = $1 \
         ORDER BY position",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn check_item_tx(
    tx: &mut Tx<'_>,
    id: i64,
    position: i64,
    done: bool,
    actor: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let n = sqlx::query(
        "UPDATE work_order_checklist SET done = $1, done_by = $2, done_ms = $3 WHERE work_order_id = $4 AND position = $5",
    )
    .bind(i64::from(done))
    .bind(done.then_some(actor))
    .bind(done.then_some(at_ms))
    .bind(id)
    .bind(position)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::invalid("position", format!("work order {id} has no checklist item {position}")));
    }
    sqlx::query("UPDATE work_orders SET revision = revision + 1, updated_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct NoteRow {
    pub id: i64,
    pub body: String,
    pub actor: String,
    pub at_ms: i64,
}

pub async fn notes(db: &Db, id: i64) -> Result<Vec<NoteRow>, StoreError> {
    Ok(sqlx::query_as("SELECT id, body, actor, at_ms FROM work_order_notes WHERE work_order_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn add_note_tx(tx: &mut Tx<'_>, id: i64, body: &str, actor: &str, at_ms: i64) -> Result<(), StoreError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(StoreError::invalid("body", "write a note"));
    }
    text("body", body, 5_000)?;
    sqlx::query("INSERT INTO work_order_notes (work_order_id, body, actor, at_ms) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(body)
        .bind(actor)
        .bind(at_ms)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE work_orders SET updated_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The largest photo kept (base64 of a resized JPEG is far smaller).
pub const MAX_PHOTO_BYTES: usize = 3 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PhotoRow {
    pub id: i64,
    pub content_type: String,
    pub actor: String,
    pub at_ms: i64,
}

pub async fn photos(db: &Db, id: i64) -> Result<Vec<PhotoRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, content_type, actor, at_ms FROM work_order_photos WHERE work_order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

/// A photo's bytes (base64 in the database).
pub async fn photo(db: &Db, job: i64, photo: i64) -> Result<(String, Vec<u8>), StoreError> {
    use base64::Engine;
    let (ct, data): (String, String) =
        sqlx::query_as("SELECT content_type, data FROM work_order_photos WHERE id = $1 AND work_order_id = $2")
            .bind(photo)
            .bind(job)
            .fetch_optional(&db.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("photo {photo}")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| StoreError::Corrupt(format!("photo {photo}: {e}")))?;
    Ok((ct, bytes))
}

/// Adds a JPEG or PNG photo (checked by its first bytes).
pub async fn add_photo_tx(tx: &mut Tx<'_>, id: i64, bytes: &[u8], actor: &str, at_ms: i64) -> Result<i64, StoreError> {
    use base64::Engine;
    if bytes.is_empty() {
        return Err(StoreError::invalid("photo", "choose a photo"));
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(StoreError::invalid("photo", "at most 3 MB (the phone view resizes photos)"));
    }
    let ct = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else {
        return Err(StoreError::invalid("photo", "a JPEG or PNG picture"));
    };
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let pid: i64 = sqlx::query_scalar(
        "INSERT INTO work_order_photos (work_order_id, content_type, data, actor, at_ms) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
    )
    .bind(id)
    .bind(ct)
    .bind(data)
    .bind(actor)
    .bind(at_ms)
    .fetch_one(&mut **tx)
    .await?;
    Ok(pid)
}

/// The customer's signature (a PNG data URL drawn on the phone).
pub async fn sign_tx(tx: &mut Tx<'_>, id: i64, png_data_url: &str, signed_by: &str) -> Result<(), StoreError> {
    line("signed_by", signed_by, 100)?;
    if signed_by.trim().is_empty() {
        return Err(StoreError::invalid("signed_by", "the name of who signed"));
    }
    if !png_data_url.starts_with("data:image/png;base64,") || png_data_url.len() > 500_000 {
        return Err(StoreError::invalid("signature", "sign in the box"));
    }
    sqlx::query(
        "UPDATE work_orders SET signature = $1, signed_by = $2, revision = revision + 1, updated_ms = $3 WHERE id = $4",
    )
    .bind(png_data_url)
    .bind(signed_by.trim())
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn signature(db: &Db, id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT signature FROM work_orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .flatten())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PartRow {
    pub id: i64,
    pub model_id: i64,
    pub model: String,
    pub quantity: i64,
    pub used: i64,
    pub unit_id: Option<i64>,
    pub mac: Option<String>,
    pub serial: Option<String>,
}

pub async fn parts(db: &Db, id: i64) -> Result<Vec<PartRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.id, p.model_id, m.vendor || ' ' || m.name AS model, p.quantity, p.used, p.unit_id, u.mac, u.serial \
         FROM work_order_parts p JOIN stock_models m ON m.id = p.model_id LEFT JOIN stock_units u ON u.id = p.unit_id \
         WHERE p.work_order_id = $1 ORDER BY p.used, p.id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

/// Parts to bring: reserved from `location` (a warehouse or the
/// technician's vehicle) until the job ends.
pub async fn reserve(db: &Db, id: i64, model: i64, quantity: i64, location: i64) -> Result<(), StoreError> {
    if !(1..=10_000).contains(&quantity) {
        return Err(StoreError::invalid("quantity", "1 to 10,000"));
    }
    let j = get(db, id).await?;
    if j.status().is_final() {
        return Err(StoreError::Conflict(format!("work order {id} is {}", j.status)));
    }
    crate::stock::models::get(db, model).await?;
    let loc = crate::stock::locations::get(db, location).await?;
    if !matches!(loc.kind.as_str(), "warehouse" | "vehicle") {
        return Err(StoreError::invalid("location", "reserve from a warehouse or a vehicle"));
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO work_order_parts (work_order_id, model_id, quantity, used, created_ms) VALUES ($1, $2, $3, 0, $4)",
    )
    .bind(id)
    .bind(model)
    .bind(quantity)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO stock_reservations (model_id, location_id, quantity, reference, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(model)
    .bind(location)
    .bind(quantity)
    .bind(format!("work-order:{id}"))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Parts used on the job, by scanned code (MAC, serial or `#id`): each
/// unit is installed at the job's customer (or site) from where it is, a
/// radio's MAC linked to the customer, all in `tx`. Returns the units.
pub async fn use_parts_tx(
    tx: &mut Tx<'_>,
    db: &Db,
    id: i64,
    codes: &[String],
    actor: &str,
) -> Result<Vec<i64>, StoreError> {
    let j = get(db, id).await?;
    let target = match (j.customer_id, j.site_id) {
        (Some(c), _) => Target::Customer(c),
        (None, Some(s)) => Target::Site(s),
        _ => return Err(StoreError::invalid("codes", "the job has no customer or site to install at")),
    };
    let mut units = Vec::new();
    for (i, code) in codes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).enumerate() {
        line("codes", code, 100)?;
        let u = moves::find_unit(db, code)
            .await?
            .ok_or_else(|| StoreError::invalid("codes", format!("line {}: no unit {code:?} in stock", i + 1)))?;
        units.push(u);
    }
    if units.is_empty() {
        return Err(StoreError::invalid("codes", "scan or type at least one unit"));
    }
    let mut done = Vec::new();
    // One batch per place the units come from (a van, a warehouse).
    let mut froms: Vec<i64> = units.iter().map(|u| u.location_id).collect();
    froms.sort_unstable();
    froms.dedup();
    for from in froms {
        let items: Vec<ItemInput> =
            units.iter().filter(|u| u.location_id == from).map(|u| ItemInput::Unit { unit: u.id }).collect();
        let b = Batch {
            kind: mast_stock_core::Kind::Install,
            from: Some(from),
            to: target,
            items,
            note: format!("work order #{id}"),
            actor: actor.to_string(),
            automatic: false,
        };
        moves::record_tx(tx, &b).await.map_err(|e| match e {
            StoreError::Invalid { reason, .. } => StoreError::invalid("codes", reason),
            e => e,
        })?;
    }
    let now = now_ms();
    for u in &units {
        sqlx::query(
            "INSERT INTO work_order_parts (work_order_id, model_id, quantity, used, unit_id, created_ms) \
             VALUES ($1, $2, 1, 1, $3, $4)",
        )
        .bind(id)
        .bind(u.model_id)
        .bind(u.id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if let (Some(mac), Some(c)) = (&u.mac, j.customer_id) {
            crate::customers::link(tx, c, mac).await?;
        }
        done.push(u.id);
    }
    // What was reserved for the job is used now.
    sqlx::query("DELETE FROM stock_reservations WHERE reference = $1")
        .bind(format!("work-order:{id}"))
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE work_orders SET revision = revision + 1, updated_ms = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done)
}

/// Jobs linked to a ticket.
pub async fn for_ticket(db: &Db, ticket: i64) -> Result<Vec<JobRow>, StoreError> {
    list(db, &Filter { ticket: Some(ticket), ..Filter::default() }).await
}

/// Jobs of a customer, newest first.
pub async fn for_customer(db: &Db, customer: i64) -> Result<Vec<JobRow>, StoreError> {
    let mut v = list(db, &Filter { customer: Some(customer), ..Filter::default() }).await?;
    v.sort_by_key(|j| std::cmp::Reverse(j.id));
    Ok(v)
}

/// Dates a new job's creation (and its first step) at `at_ms`: for jobs
/// recorded after the fact (an import, the demo's past visits).
pub async fn backdate(db: &Db, id: i64, at_ms: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let steps: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM work_order_steps WHERE work_order_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if steps != 1 {
        return Err(StoreError::Conflict(format!("work order {id} has moved on: its creation cannot be backdated")));
    }
    sqlx::query("UPDATE work_orders SET created_ms = $1 WHERE id = $2").bind(at_ms).bind(id).execute(&mut *tx).await?;
    sqlx::query("UPDATE work_order_steps SET at_ms = $1 WHERE work_order_id = $2")
        .bind(at_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The checklist each kind of job starts with: (kind, items one per line).
pub async fn checklists(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as("SELECT kind, items FROM dispatch_checklists ORDER BY kind").fetch_all(&db.pool).await?)
}

/// Sets the checklist new jobs of `kind` start with (one item per line;
/// jobs already made keep theirs).
pub async fn set_checklist(db: &Db, kind: JobKind, items: &str) -> Result<(), StoreError> {
    text("items", items, 5_000)?;
    let lines: Vec<&str> = items.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.len() > 50 {
        return Err(StoreError::invalid("items", "at most 50 items"));
    }
    if let Some(l) = lines.iter().find(|l| l.chars().count() > 200) {
        return Err(StoreError::invalid("items", format!("an item has at most 200 characters: {l:?}")));
    }
    sqlx::query(
        "INSERT INTO dispatch_checklists (kind, items) VALUES ($1, $2) ON CONFLICT (kind) DO UPDATE SET items = excluded.items",
    )
    .bind(kind.as_str())
    .bind(lines.join("\n"))
    .execute(&db.pool)
    .await?;
    Ok(())
}
