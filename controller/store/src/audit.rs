//! The audit log: who changed what, when (UTC) and from where. Append-only:
//! this module has no update or delete. Owns table `audit_log`.

use crate::db::{Db, StoreError, now_ms};
use mast_text_core::csv;
use serde::Serialize;

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

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub ts_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

/// Entries newest first, `limit` from `offset`.
pub async fn list(db: &Db, limit: i64, offset: i64) -> Result<Vec<Entry>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, ts_ms, actor, action, target, detail, ip FROM audit_log ORDER BY id DESC LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?)
}

/// How many entries there are.
pub async fn count(db: &Db) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log").fetch_one(&db.pool).await?)
}

/// CSV (RFC 4180) of entries, oldest first, times in UTC; every cell through
/// the one CSV rule ([`mast_text_core::csv`]: quoted, formulas neutralised).
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out = csv::line(["id", "time_utc", "actor", "action", "target", "detail", "ip"]);
    for e in entries.iter().rev() {
        let cells = [
            csv::number(&e.id.to_string()),
            csv::field(&mast_text_core::when::fmt_utc(e.ts_ms)),
            csv::field(&e.actor),
            csv::field(&e.action),
            csv::field(e.target.as_deref().unwrap_or("")),
            csv::field(e.detail.as_deref().unwrap_or("")),
            csv::field(e.ip.as_deref().unwrap_or("")),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
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
        assert!(csv.starts_with("\"id\",\"time_utc\","), "{csv}");
        assert!(csv.contains("\r\n1,\""), "ids stay numbers: {csv}");
    }

    #[test]
    fn every_cell_is_neutralised() {
        let hostile = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"];
        for h in hostile {
            let e = Entry {
                id: 2,
                ts_ms: 0,
                actor: h.into(),
                action: h.into(),
                target: Some(h.into()),
                detail: Some(h.into()),
                ip: Some(h.into()),
            };
            let csv = to_csv(&[e]);
            let row = csv.lines().nth(1).unwrap();
            // Every text cell starts with a quote and the neutralising apostrophe.
            assert_eq!(row.matches("\"'").count(), 5, "{row:?}");
        }
    }
}
