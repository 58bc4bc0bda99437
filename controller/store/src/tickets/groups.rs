//! Staff groups ("NOC", "Field", "Billing") tickets are assigned to, and
//! their members (emailed on escalations). Owns `staff_groups` and
//! `staff_group_members`.

use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    /// Member accounts (their email addresses are their logins).
    pub members: Vec<(i64, String)>,
}

fn valid_name(name: &str) -> Result<&str, StoreError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 80 {
        return Err(StoreError::invalid_msg("group name: 1-80 characters"));
    }
    Ok(n)
}

pub async fn create(db: &Db, name: &str, email: Option<&str>) -> Result<Group, StoreError> {
    let name = valid_name(name)?;
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    if email.is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace)) {
        return Err(StoreError::invalid_msg("group email: not an email address"));
    }
    if by_name(db, name).await?.is_some() {
        return Err(StoreError::Conflict(format!("group {name:?} exists")));
    }
    let id: i64 = sqlx::query("INSERT INTO staff_groups (name, email, created_ms) VALUES ($1, $2, $3) RETURNING id")
        .bind(name)
        .bind(email)
        .bind(now_ms())
        .fetch_one(&db.pool)
        .await?
        .try_get("id")?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("group vanished".into()))
}

pub async fn add_member(db: &Db, group: i64, user: i64) -> Result<(), StoreError> {
    if get(db, group).await?.is_none() {
        return Err(StoreError::NotFound(format!("no group {group}")));
    }
    let exists = sqlx::query("SELECT id FROM users WHERE id = $1").bind(user).fetch_optional(&db.pool).await?;
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
    let rows = sqlx::query(
        "SELECT u.id, u.email FROM staff_group_members m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = $1 AND u.disabled_ms IS NULL ORDER BY u.email",
    )
    .bind(group)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("email")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

async fn from_row(db: &Db, r: &sqlx::any::AnyRow) -> Result<Group, StoreError> {
    let id: i64 = r.try_get("id")?;
    Ok(Group { id, name: r.try_get("name")?, email: r.try_get("email")?, members: members(db, id).await? })
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Group>, StoreError> {
    match sqlx::query("SELECT id, name, email FROM staff_groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
    {
        Some(r) => Ok(Some(from_row(db, &r).await?)),
        None => Ok(None),
    }
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<Group>, StoreError> {
    let r = sqlx::query("SELECT id, name, email FROM staff_groups WHERE name = $1")
        .bind(name.trim())
        .fetch_optional(&db.pool)
        .await?;
    match r {
        Some(r) => Ok(Some(from_row(db, &r).await?)),
        None => Ok(None),
    }
}

pub async fn list(db: &Db) -> Result<Vec<Group>, StoreError> {
    let rows = sqlx::query("SELECT id, name, email FROM staff_groups ORDER BY name").fetch_all(&db.pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(from_row(db, r).await?);
    }
    Ok(out)
}
