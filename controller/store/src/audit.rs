//! The audit log: who changed what, when (UTC) and from where. Append-only:
//! this module has no update or delete. Owns table `audit_log`.

use crate::db::{Db, StoreError, now_ms};
use serde::Serialize;
use sqlx::Row;

/// Who did it: a staff member, an API token, or the local CLI.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Actor {
        let user = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".into());
        Actor { name: format!("cli:{user}"), ip: None }
    }
}

/// Appends one entry. Never carries secrets: callers pass names and ids.
pub async fn record(db: &Db, actor: &Actor, action: &str, target: &str, detail: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (ts_ms, actor, action, target, detail, ip) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(now_ms())
        .bind(&actor.name)
        .bind(action)
        .bind(target)
        .bind(detail)
        .bind(actor.ip.clone())
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub ts_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

pub async fn list(db: &Db, limit: i64, offset: i64) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, ts_ms, actor, action, target, detail, ip FROM audit_log ORDER BY id DESC LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get("id")?,
                ts_ms: r.try_get("ts_ms")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                detail: r.try_get("detail")?,
                ip: r.try_get("ip")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// CSV (RFC 4180) of entries, oldest first, times in UTC.
pub fn to_csv(entries: &[Entry]) -> String {
    fn field(s: &str) -> String {
        // Quote everything; neutralise spreadsheet formulas.
        let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
        format!("\"{}\"", s.replace('"', "\"\""))
    }
    let mut out = String::from("id,time_utc,actor,action,target,detail,ip\r\n");
    for e in entries.iter().rev() {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            e.id,
            field(&mast_text_core::when::fmt_utc(e.ts_ms)),
            field(&e.actor),
            field(&e.action),
            field(e.target.as_deref().unwrap_or("")),
            field(e.detail.as_deref().unwrap_or("")),
            field(e.ip.as_deref().unwrap_or(""))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let e = Entry {
            id: 1,
            ts_ms: 0,
            actor: "a\"b".into(),
            action: "=HYPERLINK()".into(),
            target: None,
            detail: Some("x,y".into()),
            ip: None,
        };
        let csv = to_csv(&[e]);
        assert!(csv.contains("\"a\"\"b\""));
        assert!(csv.contains("\"'=HYPERLINK()\""));
        assert!(csv.contains("\"x,y\""));
        assert!(csv.contains("\"1970-01-01 00:00:00\""));
    }
}
