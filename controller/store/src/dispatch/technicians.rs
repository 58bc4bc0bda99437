//! Technicians (`dispatch_technicians`: a staff member with the
//! technician role and their usual day), their days off and the zones
//! they work in (`dispatch_zones`, `dispatch_technician_zones`).

use super::{line, parse_skills, point};
use crate::db::{Db, now_ms};
use crate::error::StoreError;
use mast_dispatch_core::geo::Point;
use mast_dispatch_core::zone::Zone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TechnicianRow {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub phone: String,
    pub skills: String,
    pub shift_start_min: i64,
    pub shift_end_min: i64,
    pub work_days: String,
    pub start_lat: Option<f64>,
    pub start_lon: Option<f64>,
    pub end_lat: Option<f64>,
    pub end_lon: Option<f64>,
    pub active: i64,
}

impl TechnicianRow {
    pub fn skill_set(&self) -> BTreeSet<String> {
        parse_skills("skills", &self.skills).unwrap_or_default()
    }
    pub fn start(&self) -> Option<Point> {
        point("start", self.start_lat, self.start_lon).ok().flatten()
    }
    /// Where the day ends: the end place, else the start.
    pub fn end(&self) -> Option<Point> {
        point("end", self.end_lat, self.end_lon).ok().flatten().or_else(|| self.start())
    }
    /// ISO weekdays (1 = Monday).
    pub fn days(&self) -> BTreeSet<i8> {
        self.work_days.split(',').filter_map(|d| d.trim().parse().ok()).collect()
    }
}

/// What the technician form sets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TechnicianInput {
    pub name: String,
    pub phone: String,
    pub skills: String,
    pub shift_start_min: i64,
    pub shift_end_min: i64,
    pub work_days: BTreeSet<i8>,
    pub start: Option<Point>,
    pub end: Option<Point>,
    pub active: bool,
    pub zones: Vec<i64>,
}

const COLS: &str = "SELECT t.user_id, u.email, t.name, t.phone, t.skills, t.shift_start_min, t.shift_end_min, \
     t.work_days, t.start_lat, t.start_lon, t.end_lat, t.end_lon, t.active \
     FROM dispatch_technicians t JOIN users u ON u.id = t.user_id";

pub async fn list(db: &Db) -> Result<Vec<TechnicianRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} ORDER BY t.name, t.user_id"))).fetch_all(&db.pool).await?)
}

pub async fn get(db: &Db, user_id: i64) -> Result<TechnicianRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE t.user_id = $1")))
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("technician {user_id}")))
}

pub async fn find(db: &Db, user_id: i64) -> Result<Option<TechnicianRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLS} WHERE t.user_id = $1")))
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?)
}

/// Staff with the technician role who have no technician record yet.
pub async fn candidates(db: &Db) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, email FROM users WHERE role = 'technician' AND disabled_ms IS NULL \
         AND id NOT IN (SELECT user_id FROM dispatch_technicians) ORDER BY email",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// Creates or updates a technician's record (and their zones).
pub async fn save(db: &Db, user_id: i64, t: &TechnicianInput) -> Result<TechnicianRow, StoreError> {
    let name = t.name.trim();
    if name.is_empty() {
        return Err(StoreError::invalid("name", "is required"));
    }
    line("name", name, 100)?;
    line("phone", &t.phone, 40)?;
    let skills = parse_skills("skills", &t.skills)?;
    if !(0..1440).contains(&t.shift_start_min) || t.shift_end_min <= t.shift_start_min || t.shift_end_min > 1440 {
        return Err(StoreError::invalid("shift_end", "the day must end after it starts, by midnight"));
    }
    if t.work_days.is_empty() || t.work_days.iter().any(|d| !(1..=7).contains(d)) {
        return Err(StoreError::invalid("work_days", "pick at least one weekday"));
    }
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM users WHERE id = $1").bind(user_id).fetch_optional(&db.pool).await?;
    match role.as_deref() {
        None => return Err(StoreError::invalid("user", format!("no staff member {user_id}"))),
        Some("technician" | "admin") => {}
        Some(r) => return Err(StoreError::invalid("user", format!("a {r} does not work in the field"))),
    }
    let zones = zones(db).await?;
    for z in &t.zones {
        if !zones.iter().any(|x| x.id == *z) {
            return Err(StoreError::invalid("zones", format!("no zone {z}")));
        }
    }
    let days = t.work_days.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",");
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO dispatch_technicians (user_id, name, phone, skills, shift_start_min, shift_end_min, work_days, \
         start_lat, start_lon, end_lat, end_lon, active, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, CAST($8 AS DOUBLE PRECISION), CAST($9 AS DOUBLE PRECISION), \
         CAST($10 AS DOUBLE PRECISION), CAST($11 AS DOUBLE PRECISION), $12, $13, $13) \
         ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, phone = excluded.phone, skills = excluded.skills, \
         shift_start_min = excluded.shift_start_min, shift_end_min = excluded.shift_end_min, \
         work_days = excluded.work_days, start_lat = excluded.start_lat, start_lon = excluded.start_lon, \
         end_lat = excluded.end_lat, end_lon = excluded.end_lon, active = excluded.active, \
         updated_ms = excluded.updated_ms",
    )
    .bind(user_id)
    .bind(name)
    .bind(t.phone.trim())
    .bind(super::skills_text(&skills))
    .bind(t.shift_start_min)
    .bind(t.shift_end_min)
    .bind(&days)
    .bind(crate::sql::real(t.start.map(|p| p.lat)))
    .bind(crate::sql::real(t.start.map(|p| p.lon)))
    .bind(crate::sql::real(t.end.map(|p| p.lat)))
    .bind(crate::sql::real(t.end.map(|p| p.lon)))
    .bind(i64::from(t.active))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM dispatch_technician_zones WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
    for z in &t.zones {
        sqlx::query("INSERT INTO dispatch_technician_zones (user_id, zone_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(z)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    get(db, user_id).await
}

/// The zones each technician works in: (user, zone).
pub async fn zone_links(db: &Db) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT user_id, zone_id FROM dispatch_technician_zones ORDER BY user_id, zone_id")
        .fetch_all(&db.pool)
        .await?)
}

pub async fn zones_of(db: &Db, user_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT zone_id FROM dispatch_technician_zones WHERE user_id = $1 ORDER BY zone_id")
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn days_off(db: &Db, user_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT day FROM dispatch_days_off WHERE user_id = $1 ORDER BY day")
        .bind(user_id)
        .fetch_all(&db.pool)
        .await?)
}

/// Who is off on `day`.
pub async fn off_on(db: &Db, day: &str) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT user_id FROM dispatch_days_off WHERE day = $1").bind(day).fetch_all(&db.pool).await?)
}

pub async fn add_day_off(db: &Db, user_id: i64, day: &str) -> Result<(), StoreError> {
    let d = super::parse_day("day", day)?.to_string();
    get(db, user_id).await?;
    sqlx::query("DELETE FROM dispatch_days_off WHERE user_id = $1 AND day = $2")
        .bind(user_id)
        .bind(&d)
        .execute(&db.pool)
        .await?;
    sqlx::query("INSERT INTO dispatch_days_off (user_id, day) VALUES ($1, $2)")
        .bind(user_id)
        .bind(&d)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn remove_day_off(db: &Db, user_id: i64, day: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM dispatch_days_off WHERE user_id = $1 AND day = $2")
        .bind(user_id)
        .bind(day)
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ZoneRow {
    pub id: i64,
    pub name: String,
    pub color: String,
    /// JSON `[[lat, lon], ...]`.
    pub corners: String,
}

impl ZoneRow {
    pub fn zone(&self) -> Result<Zone, StoreError> {
        parse_corners("corners", &self.corners).map_err(|e| StoreError::Corrupt(format!("zone {}: {e}", self.id)))
    }
}

/// Corners as JSON `[[lat, lon], ...]`, checked as a zone.
pub fn parse_corners(field: &str, s: &str) -> Result<Zone, StoreError> {
    let raw: Vec<(f64, f64)> = serde_json::from_str(s)
        .map_err(|_| StoreError::invalid(field, "draw the zone on the map (corners as [[lat, lon], ...])"))?;
    let mut pts = Vec::with_capacity(raw.len());
    for (lat, lon) in raw {
        pts.push(Point::new(lat, lon).ok_or_else(|| StoreError::invalid(field, "a corner is off the map"))?);
    }
    Zone::new(pts).map_err(|e| StoreError::invalid(field, e.to_string()))
}

pub async fn zones(db: &Db) -> Result<Vec<ZoneRow>, StoreError> {
    Ok(sqlx::query_as("SELECT id, name, color, corners FROM dispatch_zones ORDER BY name").fetch_all(&db.pool).await?)
}

pub async fn zone(db: &Db, id: i64) -> Result<ZoneRow, StoreError> {
    sqlx::query_as("SELECT id, name, color, corners FROM dispatch_zones WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("zone {id}")))
}

fn check_zone(name: &str, color: &str, corners: &str) -> Result<String, StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::invalid("name", "is required"));
    }
    line("name", name, 100)?;
    let ok = color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(StoreError::invalid("color", "a colour as #rrggbb"));
    }
    let z = parse_corners("corners", corners)?;
    let pts: Vec<(f64, f64)> = z.corners.iter().map(|p| (p.lat, p.lon)).collect();
    serde_json::to_string(&pts).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Creates a zone (`id` None) or redraws one.
pub async fn save_zone(
    db: &Db,
    id: Option<i64>,
    name: &str,
    color: &str,
    corners: &str,
) -> Result<ZoneRow, StoreError> {
    let corners = check_zone(name, color, corners)?;
    let name = name.trim();
    let clash: Option<i64> =
        sqlx::query_scalar("SELECT id FROM dispatch_zones WHERE name = $1").bind(name).fetch_optional(&db.pool).await?;
    if clash.is_some_and(|c| Some(c) != id) {
        return Err(StoreError::invalid("name", format!("a zone named {name:?} exists")));
    }
    let id =
        match id {
            Some(id) => {
                zone(db, id).await?;
                sqlx::query("UPDATE dispatch_zones SET name = $1, color = $2, corners = $3 WHERE id = $4")
                    .bind(name)
                    .bind(color)
                    .bind(&corners)
                    .bind(id)
                    .execute(&db.pool)
                    .await?;
                id
            }
            None => sqlx::query_scalar(
                "INSERT INTO dispatch_zones (name, color, corners, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(color)
            .bind(&corners)
            .bind(now_ms())
            .fetch_one(&db.pool)
            .await?,
        };
    zone(db, id).await
}

pub async fn delete_zone(db: &Db, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM dispatch_technician_zones WHERE zone_id = $1").bind(id).execute(&mut *tx).await?;
    let n = sqlx::query("DELETE FROM dispatch_zones WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("zone {id}")));
    }
    Ok(())
}
