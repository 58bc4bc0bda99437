//! A day on the board: who works, which jobs are to place, the problem the
//! planner solves, and the plan written back (each job's technician,
//! order, planned start and drive).

use super::jobs::{self, Change, JobRow};
use super::technicians::{self, TechnicianRow};
use crate::db::{Db, Tx, now_ms};
use crate::error::StoreError;
use mast_dispatch_core::geo::Point;
use mast_dispatch_core::job::Status;
use mast_dispatch_core::plan::{Job, Plan, Problem, Route, Technician};
use mast_dispatch_core::zone::Zone;
use std::collections::{BTreeMap, BTreeSet};

/// What a day's planning starts from.
#[derive(Debug, Clone)]
pub struct DayInput {
    pub day: String,
    /// Working that day (active, the weekday worked, not off) with a place
    /// to start from.
    pub technicians: Vec<TechnicianRow>,
    /// Technicians without a start place (left out, said on the board).
    pub homeless: Vec<TechnicianRow>,
    pub zones: BTreeMap<i64, Vec<Zone>>,
    /// Jobs to place: the day's scheduled jobs and every unscheduled one.
    pub jobs: Vec<JobRow>,
}

/// Loads the day `day` (its ISO weekday `weekday`, 1 = Monday).
pub async fn load(db: &Db, day: &str, weekday: i8) -> Result<DayInput, StoreError> {
    let off: BTreeSet<i64> = technicians::off_on(db, day).await?.into_iter().collect();
    let all_zones = technicians::zones(db).await?;
    let mut zone_of: BTreeMap<i64, Zone> = BTreeMap::new();
    for z in &all_zones {
        zone_of.insert(z.id, z.zone()?);
    }
    let mut zones: BTreeMap<i64, Vec<Zone>> = BTreeMap::new();
    for (u, z) in technicians::zone_links(db).await? {
        if let Some(z) = zone_of.get(&z) {
            zones.entry(u).or_default().push(z.clone());
        }
    }
    let (mut techs, mut homeless) = (Vec::new(), Vec::new());
    for t in technicians::list(db).await? {
        if t.active == 0 || off.contains(&t.user_id) || !t.days().contains(&weekday) {
            continue;
        }
        if t.start().is_some() { techs.push(t) } else { homeless.push(t) }
    }
    let mut js = jobs::list(db, &jobs::Filter { day: Some(day.to_string()), open: true, ..Default::default() })
        .await?
        .into_iter()
        .filter(|j| j.status() == Status::Scheduled)
        .collect::<Vec<_>>();
    js.extend(jobs::list(db, &jobs::Filter { unscheduled: true, ..Default::default() }).await?);
    js.sort_by_key(|j| j.id);
    Ok(DayInput { day: day.to_string(), technicians: techs, homeless, zones, jobs: js })
}

/// The core's problem for `d`: shifts in seconds since midnight; a job
/// pinned to a technician stays theirs.
pub fn problem(d: &DayInput) -> Problem {
    let technicians = d
        .technicians
        .iter()
        .filter_map(|t| {
            let start = t.start()?;
            Some(Technician {
                id: t.user_id,
                start,
                end: t.end().unwrap_or(start),
                shift: (t.shift_start_min * 60, t.shift_end_min * 60),
                skills: t.skill_set(),
                zones: d.zones.get(&t.user_id).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let jobs = d.jobs.iter().filter_map(core_job).collect();
    Problem { technicians, jobs }
}

/// A work order as the core's job (`None` without a place).
pub fn core_job(j: &JobRow) -> Option<Job> {
    let at = Point::new(j.lat?, j.lon?)?;
    Some(Job {
        id: j.id,
        at,
        duration_s: j.duration_min * 60,
        window: j.window_start_min.zip(j.window_end_min).map(|(a, b)| (a * 60, b * 60)),
        skills: super::parse_skills("skills", &j.skills).unwrap_or_default(),
        priority: j.priority(),
        technician: if j.pinned != 0 { j.technician_id } else { None },
    })
}

/// What writing a plan changed, for notices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Jobs newly scheduled or given to another technician: (job, technician).
    pub scheduled: Vec<(i64, i64)>,
    /// Jobs the plan could not place, taken off the day: (job, why).
    pub unscheduled: Vec<(i64, String)>,
    /// Technicians whose day changed.
    pub technicians: BTreeSet<i64>,
}

async fn write_route(tx: &mut Tx<'_>, day: &str, r: &Route, actor: &str, out: &mut Applied) -> Result<(), StoreError> {
    for (i, s) in r.stops.iter().enumerate() {
        let (status, tech, cur_day): (String, Option<i64>, Option<String>) =
            sqlx::query_as("SELECT status, technician_id, day FROM work_orders WHERE id = $1")
                .bind(s.job)
                .fetch_one(&mut **tx)
                .await?;
        let moved = tech != Some(r.technician) || cur_day.as_deref() != Some(day);
        if status != "scheduled" || moved {
            let c = Change {
                to: Status::Scheduled,
                at_ms: now_ms(),
                actor: actor.to_string(),
                note: String::new(),
                schedule: Some((r.technician, day.to_string())),
                revision: None,
            };
            jobs::change_tx(tx, s.job, &c).await?;
            out.scheduled.push((s.job, r.technician));
            out.technicians.insert(r.technician);
            if let Some(t) = tech.filter(|t| *t != r.technician) {
                out.technicians.insert(t);
            }
        }
        sqlx::query(
            "UPDATE work_orders SET seq = $1, planned_start_min = $2, planned_drive_s = $3, planned_drive_m = $4, \
             revision = revision + 1 WHERE id = $5",
        )
        .bind(i as i64 + 1)
        .bind(s.start_s / 60)
        .bind(s.drive_s)
        .bind(s.drive_m)
        .bind(s.job)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Writes `plan` for `day` in one transaction: each route's jobs
/// scheduled to its technician in order with their planned times; a job
/// of the day the plan left out goes back to the unscheduled list.
pub async fn apply(db: &Db, day: &str, plan: &Plan, actor: &str) -> Result<Applied, StoreError> {
    let mut out = Applied::default();
    let mut tx = db.begin().await?;
    for r in &plan.routes {
        write_route(&mut tx, day, r, actor, &mut out).await?;
    }
    for (job, why) in &plan.unassigned {
        let (status, cur_day): (String, Option<String>) =
            sqlx::query_as("SELECT status, day FROM work_orders WHERE id = $1").bind(job).fetch_one(&mut *tx).await?;
        if status == "scheduled" && cur_day.as_deref() == Some(day) {
            let c = Change {
                to: Status::New,
                at_ms: now_ms(),
                actor: actor.to_string(),
                note: format!("Taken off {day}: {}", why.as_str()),
                schedule: None,
                revision: None,
            };
            jobs::change_tx(&mut tx, *job, &c).await?;
            out.unscheduled.push((*job, why.as_str().to_string()));
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// Writes one technician's route after a hand change on the board (a job
/// dragged to them or reordered): the jobs in `r`'s order, the dragged
/// ones pinned so the next "plan the day" keeps them with this technician.
pub async fn apply_route(db: &Db, day: &str, r: &Route, pin: &[i64], actor: &str) -> Result<Applied, StoreError> {
    let mut out = Applied::default();
    let mut tx = db.begin().await?;
    write_route(&mut tx, day, r, actor, &mut out).await?;
    for j in pin {
        sqlx::query("UPDATE work_orders SET pinned = 1 WHERE id = $1").bind(j).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// Finished visits since `since_ms` for the outcome reports: (job row,
/// its steps as (status, at, technician)).
pub async fn visits(db: &Db, since_ms: i64) -> Result<Vec<VisitRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT w.id, w.kind, w.customer_id, \
         (SELECT s.technician_id FROM work_order_steps s WHERE s.work_order_id = w.id AND s.status = 'on-site' \
           ORDER BY s.id DESC LIMIT 1) AS technician_id, \
         (SELECT MAX(s.at_ms) FROM work_order_steps s WHERE s.work_order_id = w.id AND s.status = 'en-route') AS en_route_ms, \
         (SELECT MAX(s.at_ms) FROM work_order_steps s WHERE s.work_order_id = w.id AND s.status = 'on-site') AS on_site_ms, \
         (SELECT MAX(s.at_ms) FROM work_order_steps s WHERE s.work_order_id = w.id \
           AND s.status IN ('done', 'needs-revisit')) AS ended_ms, \
         w.status \
         FROM work_orders w WHERE w.id IN (SELECT work_order_id FROM work_order_steps \
           WHERE status IN ('done', 'needs-revisit') AND at_ms >= $1) ORDER BY w.id",
    )
    .bind(since_ms)
    .fetch_all(&db.pool)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VisitRow {
    pub id: i64,
    pub kind: String,
    pub customer_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub en_route_ms: Option<i64>,
    pub on_site_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub status: String,
}

/// Parts used per job since `since_ms`: (job, model, quantity).
pub async fn parts_used(db: &Db, since_ms: i64) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT work_order_id, model_id, CAST(SUM(quantity) AS BIGINT) FROM work_order_parts \
         WHERE used = 1 AND created_ms >= $1 GROUP BY work_order_id, model_id ORDER BY work_order_id, model_id",
    )
    .bind(since_ms)
    .fetch_all(&db.pool)
    .await?)
}
