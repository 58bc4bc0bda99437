//! Staff groups ("NOC", "Field", "Billing") tickets are assigned to, and
//! their members (emailed on escalations). Owns `staff_groups` and
//! `staff_group_members`.

use crate::customers::check_line;
use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    /// Member accounts (their email addresses are their logins).
    pub members: Vec<(i64, String)>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i64,
    name: String,
    email: Option<String>,
}

/// Errors name the form fields `name` and `email`.
fn valid_name(name: &str) -> Result<&str, StoreError> {
    check_line("name", name, 80)?;
    let n = name.trim();
    if n.is_empty() {
        return Err(StoreError::invalid("name", "give a name (1-80 characters)"));
    }
    Ok(n)
}

pub async fn create(db: &Db, name: &str, email: Option<&str>) -> Result<Group, StoreError> {
    let name = valid_name(name)?;
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    if let Some(e) = email {
        check_line("email", e, mast_text_core::input::MAX_EMAIL)?;
        if !e.contains('@') || e.contains(char::is_whitespace) {
            return Err(StoreError::invalid("email", "not an email address"));
        }
    }
    if by_name(db, name).await?.is_some() {
        return Err(StoreError::Conflict(format!("group {name:?} exists")));
    }
    let id: i64 =
        sqlx::query_scalar("INSERT INTO staff_groups (name, email, created_ms) VALUES ($1, $2, $3) RETURNING id")
            .bind(name)
            .bind(email)
            .bind(now_ms())
            .fetch_one(&db.pool)
            .await?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("group vanished".into()))
}

pub async fn add_member(db: &Db, group: i64, user: i64) -> Result<(), StoreError> {
    if get(db, group).await?.is_none() {
        return Err(StoreError::NotFound(format!("no group {group}")));
    }
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE id = $1").bind(user).fetch_optional(&db.pool).await?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("no user {user}")));
    }
    sqlx::query("INSERT INTO staff_group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(group)
        .bind(user)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn remove_member(db: &Db, group: i64, user: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM staff_group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group)
        .bind(user)
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

async fn members(db: &Db, group: i64) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email FROM staff_group_members m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = $1 AND u.disabled_ms IS NULL ORDER BY u.email",
    )
    .bind(group)
    .fetch_all(&db.pool)
    .await?)
}

async fn with_members(db: &Db, r: GroupRow) -> Result<Group, StoreError> {
    Ok(Group { members: members(db, r.id).await?, id: r.id, name: r.name, email: r.email })
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Group>, StoreError> {
    let r = sqlx::query_as::<_, GroupRow>("SELECT id, name, email FROM staff_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    match r {
        Some(r) => Ok(Some(with_members(db, r).await?)),
        None => Ok(None),
    }
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<Group>, StoreError> {
    let r = sqlx::query_as::<_, GroupRow>("SELECT id, name, email FROM staff_groups WHERE name = $1")
        .bind(name.trim())
        .fetch_optional(&db.pool)
        .await?;
    match r {
        Some(r) => Ok(Some(with_members(db, r).await?)),
        None => Ok(None),
    }
}

pub async fn list(db: &Db) -> Result<Vec<Group>, StoreError> {
    let rows = sqlx::query_as::<_, GroupRow>("SELECT id, name, email FROM staff_groups ORDER BY name")
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(with_members(db, r).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_name_the_form_field() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/g.db", dir.path().display())).await.unwrap();
        for (name, email, field) in [(" ", None, "name"), ("N\0C", None, "name"), ("NOC", Some("nope"), "email")] {
            assert_eq!(create(&db, name, email).await.unwrap_err().field(), Some(field), "{name:?}");
        }
        let g = create(&db, "NOC", Some(" noc@isp.example ")).await.unwrap();
        assert_eq!(g.email.as_deref(), Some("noc@isp.example"));
        assert!(matches!(create(&db, "NOC", None).await, Err(StoreError::Conflict(_))));
        assert!(matches!(add_member(&db, g.id, 999).await, Err(StoreError::NotFound(_))));
        assert!(matches!(add_member(&db, 999, 1).await, Err(StoreError::NotFound(_))));
    }
}
