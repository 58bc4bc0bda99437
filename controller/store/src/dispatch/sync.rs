//! Changes a technician's phone made, online or offline, sent as a list
//! of operations each with an id the phone chose (`client_id`). Each is
//! applied once, in its own transaction (one bad operation stops none of
//! the others); its outcome is kept, so a phone that sends it again (the
//! answer was lost) gets the same answer.
//!
//! Conflicts: notes, photos and checklist ticks merge (they only add). A
//! status change made offline is applied when the job's current status
//! still allows it, at the time the phone recorded it; when it does not
//! (the dispatcher cancelled the job or gave it to someone else meanwhile)
//! it is not applied and comes back as a conflict naming what happened,
//! which the phone shows.

use super::jobs::{self, Change};
use crate::db::{Db, now_ms};
use crate::error::StoreError;
use mast_dispatch_core::job::Status;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    Status {
        to: String,
        at_ms: i64,
        #[serde(default)]
        note: String,
    },
    Note {
        body: String,
        at_ms: i64,
    },
    Check {
        position: i64,
        done: bool,
        at_ms: i64,
    },
    Parts {
        codes: Vec<String>,
    },
    /// Base64 of a JPEG or PNG.
    Photo {
        data: String,
        at_ms: i64,
    },
    Signature {
        png: String,
        signed_by: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub client_id: String,
    pub job: i64,
    #[serde(flatten)]
    pub op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Applied,
    /// Not applied: the job changed meanwhile.
    Conflict,
    /// Not applied: the input is wrong.
    Refused,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Conflict => "conflict",
            Outcome::Refused => "refused",
        }
    }
    fn parse(s: &str) -> Outcome {
        match s {
            "applied" => Outcome::Applied,
            "conflict" => Outcome::Conflict,
            _ => Outcome::Refused,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub client_id: String,
    pub job: i64,
    pub outcome: Outcome,
    pub detail: String,
    /// The stored answer to an operation sent before (nothing was done
    /// again).
    pub replayed: bool,
}

/// Applies `ops` for technician `user` (named `actor`): only to jobs on
/// their board (scheduled to them, or underway by them).
pub async fn apply(db: &Db, user: i64, actor: &str, ops: &[Operation]) -> Result<Vec<Answer>, StoreError> {
    let mut out = Vec::with_capacity(ops.len());
    for o in ops {
        out.push(apply_one(db, user, actor, o).await?);
    }
    Ok(out)
}

async fn apply_one(db: &Db, user: i64, actor: &str, o: &Operation) -> Result<Answer, StoreError> {
    let id = o.client_id.trim();
    let answer = |outcome: Outcome, detail: String| Answer {
        client_id: id.to_string(),
        job: o.job,
        outcome,
        detail,
        replayed: false,
    };
    if id.is_empty() || id.len() > 100 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Ok(answer(Outcome::Refused, "the operation has no valid id".into()));
    }
    let seen: Option<(i64, String, String)> =
        sqlx::query_as("SELECT work_order_id, outcome, detail FROM dispatch_sync WHERE client_id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    if let Some((job, outcome, detail)) = seen {
        return Ok(Answer {
            client_id: id.to_string(),
            job,
            outcome: Outcome::parse(&outcome),
            detail,
            replayed: true,
        });
    }
    let (outcome, detail) = match run(db, user, actor, o).await {
        Ok(detail) => (Outcome::Applied, detail),
        Err(StoreError::Conflict(why)) => (Outcome::Conflict, why),
        Err(StoreError::Invalid { field, reason }) if field == "status" => (Outcome::Conflict, reason),
        Err(e @ (StoreError::Invalid { .. } | StoreError::NotFound(_))) => (Outcome::Refused, e.to_string()),
        Err(e) => return Err(e),
    };
    // Kept even when refused, so a resend gets the same answer; a race
    // with a concurrent resend keeps the first.
    sqlx::query(
        "INSERT INTO dispatch_sync (client_id, user_id, work_order_id, outcome, detail, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) DO NOTHING",
    )
    .bind(id)
    .bind(user)
    .bind(o.job)
    .bind(outcome.as_str())
    .bind(&detail)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(answer(outcome, detail))
}

async fn run(db: &Db, user: i64, actor: &str, o: &Operation) -> Result<String, StoreError> {
    let j = jobs::get(db, o.job).await?;
    if j.technician_id != Some(user) {
        return Err(StoreError::Conflict(format!(
            "work order #{} is no longer yours{}",
            j.id,
            j.technician.as_deref().map(|t| format!(" (now {t}'s)")).unwrap_or_default()
        )));
    }
    let now = now_ms();
    // A time from the phone's clock: not in the future, not before the job.
    let at = |t: i64| t.clamp(j.created_ms, now);
    let mut tx = db.begin().await?;
    let detail = match &o.op {
        Op::Status { to, at_ms, note } => {
            let to = Status::parse(to).ok_or_else(|| StoreError::invalid("to", format!("{to:?} is not a status")))?;
            if j.status() == to {
                tx.rollback().await?;
                return Ok(format!("already {}", to.as_str()));
            }
            // After the job's last step even when the phone's clock is
            // behind (or the dispatcher changed the job meanwhile).
            let last = jobs::steps(db, j.id).await?.last().map_or(j.created_ms, |s| s.at_ms);
            let c = Change {
                to,
                at_ms: at(*at_ms).max(last),
                actor: actor.to_string(),
                note: note.clone(),
                schedule: None,
                revision: None,
            };
            jobs::change_tx(&mut tx, j.id, &c).await.map_err(|e| match e {
                StoreError::Invalid { field, reason } if field == "status" => StoreError::Conflict(format!(
                    "{reason}: the job is {} now (changed while you were offline)",
                    j.status
                )),
                e => e,
            })?;
            format!("now {}", to.as_str())
        }
        Op::Note { body, at_ms } => {
            jobs::add_note_tx(&mut tx, j.id, body, actor, at(*at_ms)).await?;
            "note added".to_string()
        }
        Op::Check { position, done, at_ms } => {
            jobs::check_item_tx(&mut tx, j.id, *position, *done, actor, at(*at_ms)).await?;
            if *done { "ticked".to_string() } else { "unticked".to_string() }
        }
        Op::Parts { codes } => {
            let units = jobs::use_parts_tx(&mut tx, db, j.id, codes, actor).await?;
            format!("{} installed", units.len())
        }
        Op::Photo { data, at_ms } => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|_| StoreError::invalid("photo", "not a picture"))?;
            let id = jobs::add_photo_tx(&mut tx, j.id, &bytes, actor, at(*at_ms)).await?;
            format!("photo {id} saved")
        }
        Op::Signature { png, signed_by } => {
            jobs::sign_tx(&mut tx, j.id, png, signed_by).await?;
            "signed".to_string()
        }
    };
    tx.commit().await?;
    Ok(detail)
}
