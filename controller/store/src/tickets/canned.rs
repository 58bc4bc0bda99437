//! Canned replies: saved answers staff insert into a reply and edit before
//! sending. Placeholders `{customer}`, `{ticket}` and `{agent}` are filled
//! in by [`render`]. Owns `canned_replies`.

use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Serialize)]
pub struct Canned {
    pub id: i64,
    pub title: String,
    pub body: String,
}

fn check(title: &str, body: &str) -> Result<(), StoreError> {
    if title.trim().is_empty() || title.chars().count() > 120 {
        return Err(StoreError::invalid_msg("title: 1-120 characters"));
    }
    if body.trim().is_empty() || body.len() > 20_000 {
        return Err(StoreError::invalid_msg("body: 1-20,000 characters"));
    }
    Ok(())
}

/// Creates a canned reply, or replaces the text of the one with that title.
pub async fn save(db: &Db, title: &str, body: &str) -> Result<Canned, StoreError> {
    check(title, body)?;
    let now = now_ms();
    let id: i64 = sqlx::query(
        "INSERT INTO canned_replies (title, body, created_ms, updated_ms) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (title) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms RETURNING id",
    )
    .bind(title.trim())
    .bind(body.trim())
    .bind(now)
    .fetch_one(&db.pool)
    .await?
    .try_get("id")?;
    Ok(Canned { id, title: title.trim().into(), body: body.trim().into() })
}

pub async fn delete(db: &Db, id: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM canned_replies WHERE id = $1").bind(id).execute(&db.pool).await?.rows_affected() > 0)
}

pub async fn list(db: &Db) -> Result<Vec<Canned>, StoreError> {
    let rows = sqlx::query("SELECT id, title, body FROM canned_replies ORDER BY title").fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| Ok(Canned { id: r.try_get("id")?, title: r.try_get("title")?, body: r.try_get("body")? }))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Canned>, StoreError> {
    Ok(list(db).await?.into_iter().find(|c| c.id == id))
}

/// Fills the placeholders (pure).
pub fn render(body: &str, customer: Option<&str>, ticket: i64, agent: &str) -> String {
    body.replace("{customer}", customer.unwrap_or("there"))
        .replace("{ticket}", &format!("#{ticket}"))
        .replace("{agent}", agent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_filled_and_unknown_braces_kept() {
        let s = super::render("Hi {customer}, re {ticket}: {agent} here. {other}", Some("Ada"), 7, "Sam");
        assert_eq!(s, "Hi Ada, re #7: Sam here. {other}");
        assert!(super::render("Hi {customer}", None, 1, "x").starts_with("Hi there"));
    }
}
