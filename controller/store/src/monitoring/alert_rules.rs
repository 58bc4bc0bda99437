//! Site contacts and alert rules beyond reachability. Owns `site_contacts`,
//! `alert_rules` and `alert_firings`.
//!
//! Rules are judged by `mast_ops_core::rules` over what this module loads:
//! station signal samples, ping counts per device over a rule's window (in
//! SQL, so a long window costs one row per device), and each agent's oldest
//! unsent sample (estimated as the time of the last sample it delivered while
//! it still reports a backlog: agents deliver oldest first).

use super::check_line;
use crate::db::{Db, StoreError, Tx, now_ms};
use mast_ops_core::rules::{Metric, Pings};
use serde::Serialize;
use std::collections::HashMap;

/// Someone to call about a site.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Contact {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub role: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// 1: emailed about the site's incidents and alert rules.
    pub alerts: i64,
}

/// A contact as the form gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewContact {
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
    pub alerts: bool,
}

fn blank(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Checks a contact; errors name the field.
pub fn check_contact(c: &NewContact) -> Result<(), StoreError> {
    if c.name.trim().is_empty() {
        return Err(StoreError::invalid("name", "is required"));
    }
    check_line("name", c.name.trim(), 64)?;
    check_line("role", c.role.trim(), 64)?;
    let phone = c.phone.trim();
    check_line("phone", phone, 32)?;
    if !phone.chars().all(|ch| ch.is_ascii_digit() || " +-().".contains(ch)) {
        return Err(StoreError::invalid("phone", "digits, spaces and + - ( ) only"));
    }
    let email = c.email.trim();
    if !email.is_empty() {
        crate::error::check_email(email)?;
    }
    if c.alerts && email.is_empty() {
        return Err(StoreError::invalid("email", "needed to send this contact alerts"));
    }
    Ok(())
}

pub async fn add_contact(db: &Db, site_id: i64, c: &NewContact) -> Result<i64, StoreError> {
    check_contact(c)?;
    super::get_site(db, site_id).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO site_contacts (site_id, name, role, phone, email, alerts, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(site_id)
    .bind(c.name.trim())
    .bind(blank(&c.role))
    .bind(blank(&c.phone))
    .bind(blank(&c.email))
    .bind(c.alerts as i64)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    Ok(id)
}

pub async fn contacts(db: &Db, site_id: i64) -> Result<Vec<Contact>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, site_id, name, role, phone, email, alerts FROM site_contacts WHERE site_id = $1 ORDER BY name, id",
    )
    .bind(site_id)
    .fetch_all(&db.pool)
    .await?)
}

/// Removes contact `id` of site `site_id`; `NotFound` when it is not there.
pub async fn delete_contact(db: &Db, site_id: i64, id: i64) -> Result<Contact, StoreError> {
    let c: Contact = sqlx::query_as(
        "SELECT id, site_id, name, role, phone, email, alerts FROM site_contacts WHERE id = $1 AND site_id = $2",
    )
    .bind(id)
    .bind(site_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("no contact {id} at this site")))?;
    sqlx::query("DELETE FROM site_contacts WHERE id = $1").bind(id).execute(&db.pool).await?;
    Ok(c)
}

/// The addresses of the contacts of `sites` who get alerts.
pub async fn alert_emails(tx: &mut Tx<'_>, sites: &[i64]) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for s in sites {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT email FROM site_contacts WHERE site_id = $1 AND alerts = 1 AND email IS NOT NULL ORDER BY email",
        )
        .bind(*s)
        .fetch_all(&mut **tx)
        .await?;
        out.extend(rows.into_iter().map(|(e,)| e));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The sites an incident touches (its root site, its devices' sites).
pub async fn incident_sites(tx: &mut Tx<'_>, incident_id: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT d.site_id FROM incident_devices i JOIN devices d ON d.id = i.device_id \
         WHERE i.incident_id = $1 \
         UNION SELECT root_site_id FROM incidents WHERE id = $1 AND root_site_id IS NOT NULL",
    )
    .bind(incident_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut v: Vec<i64> = rows.into_iter().map(|(s,)| s).collect();
    v.sort();
    v.dedup();
    Ok(v)
}

/// An alert rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub metric: Metric,
    pub threshold: f64,
    pub window_mins: i64,
    /// `None`: every site.
    pub site_id: Option<i64>,
    pub site: Option<String>,
    pub enabled: bool,
}

impl Rule {
    pub fn window_ms(&self) -> i64 {
        self.window_mins * 60_000
    }

    /// "signal below -75 dBm for 10 min" and the like.
    pub fn describe(&self) -> String {
        match self.metric {
            Metric::Signal => format!("signal below {} dBm for {} min", self.threshold, self.window_mins),
            Metric::Loss => format!("ping loss above {} % over {} min", self.threshold, self.window_mins),
            Metric::Backlog => format!("an agent's unsent samples older than {} min", self.window_mins),
            Metric::SignalDrop => {
                format!("signal more than {} dB weaker than usual over {}", self.threshold, span(self.window_mins))
            }
            Metric::StationsDrop => {
                format!("stations more than {} % fewer than usual over {}", self.threshold, span(self.window_mins))
            }
            Metric::Capacity => {
                format!("capacity below {} % of usual over {}", self.threshold, span(self.window_mins))
            }
        }
    }
}

/// "90 min", "3 h", "7 days".
fn span(mins: i64) -> String {
    match mins {
        m if m % 1440 == 0 => format!("{} day{}", m / 1440, if m == 1440 { "" } else { "s" }),
        m if m % 60 == 0 && m > 60 => format!("{} h", m / 60),
        m => format!("{m} min"),
    }
}

/// A rule as the form gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRule {
    pub name: String,
    pub metric: String,
    pub threshold: String,
    pub window_mins: String,
    /// Empty: every site.
    pub site_id: String,
}

/// Checks a rule; errors name the field.
pub fn parse_rule(r: &NewRule) -> Result<(String, Metric, f64, i64, Option<i64>), StoreError> {
    let name = r.name.trim();
    if name.is_empty() {
        return Err(StoreError::invalid("name", "is required"));
    }
    check_line("name", name, 64)?;
    let metric = Metric::parse(r.metric.trim()).ok_or_else(|| StoreError::invalid("metric", "choose what to watch"))?;
    let threshold = match metric.threshold_range() {
        None => 0.0,
        Some((lo, hi)) => match r.threshold.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (lo..=hi).contains(&v) => v,
            _ => return Err(StoreError::invalid("threshold", format!("a number from {lo} to {hi}"))),
        },
    };
    let (lo, hi) = metric.window_range();
    let window = match r.window_mins.trim().parse::<i64>() {
        Ok(v) if (lo..=hi).contains(&v) => v,
        _ => return Err(StoreError::invalid("window_mins", format!("whole minutes from {lo} to {hi}"))),
    };
    let site = match r.site_id.trim() {
        "" => None,
        s => Some(s.parse::<i64>().map_err(|_| StoreError::invalid("site_id", "choose a site from the list"))?),
    };
    Ok((name.to_string(), metric, threshold, window, site))
}

pub async fn add_rule(db: &Db, r: &NewRule) -> Result<Rule, StoreError> {
    let (name, metric, threshold, window, site) = parse_rule(r)?;
    if let Some(s) = site {
        super::get_site(db, s).await.map_err(|_| StoreError::invalid("site_id", "no such site"))?;
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO alert_rules (name, metric, threshold, window_mins, site_id, enabled, created_ms) \
         VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
    )
    .bind(&name)
    .bind(metric.as_str())
    .bind(threshold)
    .bind(window)
    .bind(site)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    rules(db).await?.into_iter().find(|r| r.id == id).ok_or_else(|| StoreError::NotFound(format!("rule {id}")))
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: i64,
    name: String,
    metric: String,
    threshold: f64,
    window_mins: i64,
    site_id: Option<i64>,
    site: Option<String>,
    enabled: i64,
}

/// Every rule, by name. A row with an unknown metric (a newer version's) is
/// left out with a warning.
pub async fn rules(db: &Db) -> Result<Vec<Rule>, StoreError> {
    let rows: Vec<RuleRow> = sqlx::query_as(
        "SELECT r.id, r.name, r.metric, r.threshold, r.window_mins, r.site_id, s.name AS site, r.enabled \
         FROM alert_rules r LEFT JOIN sites s ON s.id = r.site_id ORDER BY r.name, r.id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let Some(metric) = Metric::parse(&r.metric) else {
                tracing::warn!(rule = r.id, metric = %r.metric, "alert rule with an unknown metric ignored");
                return None;
            };
            Some(Rule {
                id: r.id,
                name: r.name,
                metric,
                threshold: r.threshold,
                window_mins: r.window_mins,
                site_id: r.site_id,
                site: r.site,
                enabled: r.enabled != 0,
            })
        })
        .collect())
}

/// Turns a rule on or off; turning it off closes its open firings.
pub async fn set_enabled(db: &Db, id: i64, on: bool) -> Result<Rule, StoreError> {
    let mut tx = db.begin().await?;
    let n = sqlx::query("UPDATE alert_rules SET enabled = $1 WHERE id = $2")
        .bind(on as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no alert rule {id}")));
    }
    if !on {
        sqlx::query("UPDATE alert_firings SET cleared_ms = $1 WHERE rule_id = $2 AND cleared_ms IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    rules(db).await?.into_iter().find(|r| r.id == id).ok_or_else(|| StoreError::NotFound(format!("rule {id}")))
}

/// Deletes a rule and its firings.
pub async fn delete_rule(db: &Db, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM alert_firings WHERE rule_id = $1").bind(id).execute(&mut *tx).await?;
    let n = sqlx::query("DELETE FROM alert_rules WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no alert rule {id}")));
    }
    tx.commit().await?;
    Ok(())
}

/// What a rule is judged on, per subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// `device:ID` or `agent:ID`.
    pub key: String,
    pub site_id: i64,
    /// What staff read: the device's name or address, "agent 3".
    pub label: String,
}

/// Station signal samples `(ts_ms, dBm)` since `from_ms`, per station
/// device (retired ones left out), oldest first.
pub async fn signal_samples(db: &Db, from_ms: i64) -> Result<Vec<(Subject, Vec<(i64, i64)>)>, StoreError> {
    let rows: Vec<(i64, i64, String, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT d.id, d.site_id, d.addr, d.name, s.ts_ms, s.value FROM devices d \
         JOIN samples s ON s.device_id = d.id \
         WHERE d.retired_ms IS NULL AND s.kind = $1 AND s.ts_ms >= $2 AND s.value IS NOT NULL \
         ORDER BY d.id, s.ts_ms",
    )
    .bind(super::KIND_STATION)
    .bind(from_ms)
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<(Subject, Vec<(i64, i64)>)> = Vec::new();
    for (id, site, addr, name, ts, v) in rows {
        let key = format!("device:{id}");
        match out.last_mut() {
            Some((s, pts)) if s.key == key => pts.push((ts, v)),
            _ => out.push((Subject { key, site_id: site, label: name.unwrap_or(addr) }, vec![(ts, v)])),
        }
    }
    Ok(out)
}

/// Ping counts in `(now - window, now]` per device (retired ones left out).
pub async fn ping_counts(db: &Db, window_ms: i64, now: i64) -> Result<Vec<(Subject, Pings)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        site_id: i64,
        addr: String,
        name: Option<String>,
        total: i64,
        lost: i64,
        first_lost: Option<i64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.id, d.site_id, d.addr, d.name, COUNT(*) AS total, \
         SUM(CASE WHEN s.rtt_us IS NULL THEN 1 ELSE 0 END) AS lost, \
         MIN(CASE WHEN s.rtt_us IS NULL THEN s.ts_ms END) AS first_lost \
         FROM devices d JOIN samples s ON s.device_id = d.id \
         WHERE d.retired_ms IS NULL AND s.kind = $1 AND s.ts_ms > $2 AND s.ts_ms <= $3 \
         GROUP BY d.id, d.site_id, d.addr, d.name ORDER BY d.id",
    )
    .bind(super::KIND_PING)
    .bind(now - window_ms)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = Subject { key: format!("device:{}", r.id), site_id: r.site_id, label: r.name.unwrap_or(r.addr) };
            (s, Pings { total: r.total as u64, lost: r.lost as u64, first_lost_ms: r.first_lost })
        })
        .collect())
}

/// Every enrolled agent with the time of its oldest unsent sample (`None`
/// when it reports no backlog, or delivered nothing yet).
pub async fn agent_backlogs(db: &Db) -> Result<Vec<(Subject, Option<i64>)>, StoreError> {
    let rows: Vec<(i64, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT a.id, a.site_id, a.backlog, \
         (SELECT s.ts_ms FROM samples s WHERE s.agent_id = a.id AND s.boot_epoch = a.last_ack_epoch \
          AND s.seq = a.last_ack_seq) AS last_ts \
         FROM agents a WHERE a.status = 'enrolled' ORDER BY a.id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, site, backlog, last_ts)| {
            let s = Subject { key: format!("agent:{id}"), site_id: site, label: format!("agent {id}") };
            (s, if backlog.unwrap_or(0) > 0 { last_ts } else { None })
        })
        .collect())
}

/// An open firing (cleared_ms NULL).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Open {
    pub id: i64,
    pub rule_id: i64,
    pub subject: String,
    pub since_ms: i64,
}

/// The open firings by (rule, subject).
pub async fn open_firings(db: &Db) -> Result<HashMap<(i64, String), Open>, StoreError> {
    let rows: Vec<Open> =
        sqlx::query_as("SELECT id, rule_id, subject, since_ms FROM alert_firings WHERE cleared_ms IS NULL")
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(|o| ((o.rule_id, o.subject.clone()), o)).collect())
}

/// Records a firing; returns its id.
pub async fn fire(tx: &mut Tx<'_>, rule_id: i64, s: &Subject, since_ms: i64, value: f64) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO alert_firings (rule_id, subject, site_id, since_ms, value) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(rule_id)
    .bind(&s.key)
    .bind(s.site_id)
    .bind(since_ms)
    .bind(value)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn clear(tx: &mut Tx<'_>, firing_id: i64, at_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE alert_firings SET cleared_ms = $1 WHERE id = $2 AND cleared_ms IS NULL")
        .bind(at_ms)
        .bind(firing_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A firing as the alerts page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Firing {
    pub id: i64,
    pub rule_id: i64,
    pub rule: String,
    pub metric: String,
    pub subject: String,
    pub site_id: Option<i64>,
    pub site: Option<String>,
    pub since_ms: i64,
    pub value: f64,
    pub cleared_ms: Option<i64>,
}

/// The open firings and the last `limit` cleared ones, newest first.
pub async fn firings(db: &Db, limit: i64) -> Result<Vec<Firing>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT f.id, f.rule_id, r.name AS rule, r.metric, f.subject, f.site_id, s.name AS site, f.since_ms, \
         f.value, f.cleared_ms FROM alert_firings f JOIN alert_rules r ON r.id = f.rule_id \
         LEFT JOIN sites s ON s.id = f.site_id \
         ORDER BY CASE WHEN f.cleared_ms IS NULL THEN 0 ELSE 1 END, f.since_ms DESC, f.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{KIND_PING, KIND_STATION};

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/r.db", dir.path().display())).await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn contacts_are_checked_field_by_field() {
        let (_d, db) = db().await;
        let site = super::super::add_site(&db, "ridge", &[], 1000, 500).await.unwrap();
        let bad = |f: &dyn Fn(&mut NewContact)| {
            let mut c = NewContact { name: "Ann".into(), ..Default::default() };
            f(&mut c);
            c
        };
        for (c, field) in [
            (bad(&|c| c.name = " ".into()), "name"),
            (bad(&|c| c.phone = "call me".into()), "phone"),
            (bad(&|c| c.email = "nope".into()), "email"),
            (bad(&|c| c.alerts = true), "email"),
        ] {
            assert_eq!(add_contact(&db, site.id, &c).await.unwrap_err().field(), Some(field), "{c:?}");
        }
        let ok = NewContact {
            name: "Ann Landlord".into(),
            role: "landlord".into(),
            phone: "+1 (555) 010-0100".into(),
            email: "ann@example.test".into(),
            alerts: true,
        };
        let id = add_contact(&db, site.id, &ok).await.unwrap();
        add_contact(&db, site.id, &NewContact { name: "Power co".into(), ..Default::default() }).await.unwrap();
        assert!(matches!(add_contact(&db, 999, &ok).await, Err(StoreError::NotFound(_))));
        let list = contacts(&db, site.id).await.unwrap();
        assert_eq!(list.len(), 2);
        let mut tx = db.begin().await.unwrap();
        assert_eq!(alert_emails(&mut tx, &[site.id]).await.unwrap(), vec!["ann@example.test".to_string()]);
        drop(tx);
        assert!(matches!(delete_contact(&db, site.id + 1, id).await, Err(StoreError::NotFound(_))));
        delete_contact(&db, site.id, id).await.unwrap();
        assert_eq!(contacts(&db, site.id).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn rules_are_checked_and_disabling_closes_firings() {
        let (_d, db) = db().await;
        let r = |m: &str, t: &str, w: &str| NewRule {
            name: "weak".into(),
            metric: m.into(),
            threshold: t.into(),
            window_mins: w.into(),
            site_id: String::new(),
        };
        for (nr, field) in [
            (r("rssi", "-70", "5"), "metric"),
            (r("signal", "-200", "5"), "threshold"),
            (r("loss", "101", "5"), "threshold"),
            (r("loss", "x", "5"), "threshold"),
            (r("signal", "-70", "0"), "window_mins"),
            (NewRule { site_id: "7".into(), ..r("loss", "5", "5") }, "site_id"),
        ] {
            assert_eq!(add_rule(&db, &nr).await.unwrap_err().field(), Some(field), "{nr:?}");
        }
        let backlog = add_rule(&db, &r("backlog", "", "10")).await.unwrap();
        assert_eq!(backlog.describe(), "an agent's unsent samples older than 10 min");
        let rule = add_rule(&db, &r("signal", "-75", "10")).await.unwrap();
        assert_eq!(rule.describe(), "signal below -75 dBm for 10 min");
        let s = Subject { key: "device:1".into(), site_id: 1, label: "cpe".into() };
        let mut tx = db.begin().await.unwrap();
        fire(&mut tx, rule.id, &s, 5, -80.0).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(open_firings(&db).await.unwrap().len(), 1);
        assert!(!set_enabled(&db, rule.id, false).await.unwrap().enabled);
        assert!(open_firings(&db).await.unwrap().is_empty());
        assert_eq!(firings(&db, 10).await.unwrap()[0].rule, "weak");
        delete_rule(&db, rule.id).await.unwrap();
        assert!(matches!(delete_rule(&db, rule.id).await, Err(StoreError::NotFound(_))));
        assert_eq!(rules(&db).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn loaders_read_signal_pings_and_backlogs() {
        let (_d, db) = db().await;
        let site = super::super::add_site(&db, "ridge", &[], 1000, 500).await.unwrap();
        for (id, addr) in [(1, "10.0.0.1"), (2, "10.0.0.2")] {
            sqlx::query("INSERT INTO devices (id, site_id, addr, created_ms) VALUES ($1, $2, $3, 0)")
                .bind(id as i64)
                .bind(site.id)
                .bind(addr)
                .execute(&db.pool)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE devices SET name = 'cpe-ann' WHERE id = 1").execute(&db.pool).await.unwrap();
        // Agent 1 delivered up to seq 10 (at t = 10 s) and still holds more.
        sqlx::query(
            "INSERT INTO agents (id, site_id, status, created_ms, backlog, last_ack_epoch, last_ack_seq) \
             VALUES (1, $1, 'enrolled', 0, 40, 1, 10)",
        )
        .bind(site.id)
        .execute(&db.pool)
        .await
        .unwrap();
        let put = async |seq: i64, kind: i64, dev: i64, ts: i64, rtt: Option<i64>, v: Option<i64>| {
            sqlx::query(
                "INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us, value) \
                 VALUES (1, 1, $1, $2, $3, $4, $5, $6)",
            )
            .bind(seq)
            .bind(kind)
            .bind(dev)
            .bind(ts)
            .bind(rtt)
            .bind(v)
            .execute(&db.pool)
            .await
            .unwrap();
        };
        // Pings of device 1 at 1..=10 s, every third lost; device 2 none.
        for i in 1..=10 {
            put(i, KIND_PING, 1, i * 1000, (i % 3 != 0).then_some(900), None).await;
        }
        // Signal of device 2 at 11 and 12 s; a station sample of device 1 earlier.
        put(11, KIND_STATION, 2, 11_000, None, Some(-81)).await;
        put(12, KIND_STATION, 2, 12_000, None, Some(-83)).await;
        put(13, KIND_STATION, 1, 500, None, Some(-60)).await;

        let sig = signal_samples(&db, 1_000).await.unwrap();
        assert_eq!(sig.len(), 1, "device 1's only station sample is before the window");
        assert_eq!(sig[0].0.key, "device:2");
        assert_eq!(sig[0].1, vec![(11_000, -81), (12_000, -83)]);

        let p = ping_counts(&db, 6_000, 10_000).await.unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0.label, "cpe-ann");
        // (4 s, 10 s]: 5..=10, of which 6 and 9 lost.
        assert_eq!(p[0].1, Pings { total: 6, lost: 2, first_lost_ms: Some(6_000) });

        let b = agent_backlogs(&db).await.unwrap();
        assert_eq!(
            b,
            vec![(Subject { key: "agent:1".into(), site_id: site.id, label: "agent 1".into() }, Some(10_000))]
        );
        sqlx::query("UPDATE agents SET backlog = 0").execute(&db.pool).await.unwrap();
        assert_eq!(agent_backlogs(&db).await.unwrap()[0].1, None);
    }
}
