//! Canned replies: saved answers staff insert into a reply and edit before
//! sending. Placeholders `{customer}`, `{ticket}` and `{agent}` are filled
//! in by [`render`]. Owns `canned_replies`.

use crate::customers::{check_line, check_text};
use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Canned {
    pub id: i64,
    pub title: String,
    pub body: String,
}

const MAX_TITLE: usize = 120;

/// Errors name the form fields `title` and `body`.
fn check(title: &str, body: &str) -> Result<(), StoreError> {
    check_line("title", title, MAX_TITLE)?;
    if title.trim().is_empty() {
        return Err(StoreError::invalid("title", "give a title (1-120 characters)"));
    }
    check_text("body", body, super::MAX_BODY)?;
    if body.trim().is_empty() {
        return Err(StoreError::invalid("body", "write the reply"));
    }
    Ok(())
}

/// Creates a canned reply, or replaces the text of the one with that title.
pub async fn save(db: &Db, title: &str, body: &str) -> Result<Canned, StoreError> {
    check(title, body)?;
    let now = now_ms();
    Ok(sqlx::query_as::<_, Canned>(
        "INSERT INTO canned_replies (title, body, created_ms, updated_ms) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (title) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms \
         RETURNING id, title, body",
    )
    .bind(title.trim())
    .bind(body.trim())
    .bind(now)
    .fetch_one(&db.pool)
    .await?)
}

pub async fn delete(db: &Db, id: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM canned_replies WHERE id = $1").bind(id).execute(&db.pool).await?.rows_affected() > 0)
}

pub async fn list(db: &Db) -> Result<Vec<Canned>, StoreError> {
    Ok(sqlx::query_as::<_, Canned>("SELECT id, title, body FROM canned_replies ORDER BY title")
        .fetch_all(&db.pool)
        .await?)
}

/// Fills the placeholders (pure).
pub fn render(body: &str, customer: Option<&str>, ticket: i64, agent: &str) -> String {
    body.replace("{customer}", customer.unwrap_or("there"))
        .replace("{ticket}", &format!("#{ticket}"))
        .replace("{agent}", agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_braces_kept() {
        let s = super::render("Hi {customer}, re {ticket}: {agent} here. {other}", Some("Ada"), 7, "Sam");
        assert_eq!(s, "Hi Ada, re #7: Sam here. {other}");
        assert!(super::render("Hi {customer}", None, 1, "x").starts_with("Hi there"));
    }

    #[tokio::test]
    async fn saved_by_title_and_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/c.db", dir.path().display())).await.unwrap();
        let a = save(&db, " Reboot ", "Please restart the radio.").await.unwrap();
        assert_eq!(a.title, "Reboot");
        let b = save(&db, "Reboot", "Please restart the radio and the router.").await.unwrap();
        assert_eq!((b.id, list(&db).await.unwrap().len()), (a.id, 1), "same title: replaced");
        for (t, body, field) in [(" ", "x", "title"), ("t\0", "x", "title"), ("t", " ", "body"), ("t", "a\0", "body")] {
            assert_eq!(save(&db, t, body).await.unwrap_err().field(), Some(field), "{t:?} {body:?}");
        }
        assert!(delete(&db, a.id).await.unwrap());
        assert!(!delete(&db, a.id).await.unwrap());
    }
}
