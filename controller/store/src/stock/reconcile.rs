//! Reconciliation: the units with a MAC against what the agents saw (the
//! monitoring `inventory`: station tables, ARP, bridge tables, the devices'
//! own MACs, per site), decided by `mast_stock_core::reconcile`.
//!
//! The customer a sighting serves: the customer the MAC is linked to
//! (`customer_devices`); else, for a unit a technician carries, the one
//! customer of the AP's site that is a lead or active and has no CPE linked
//! yet (several such customers: none, the row waits for a person). An
//! automatic install links the MAC to that customer.

use super::moves::{self, Batch, ItemInput, Target};
use crate::db::{Db, Tx, now_ms};
use crate::error::StoreError;
use mast_stock_core::reconcile::{self as core, KnownUnit, Report, Sighting};
use mast_stock_core::{Kind, LocationKind, Mac, ModelId, UnitId};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// A unit with a MAC as stored: id, MAC, model, location kind and id,
/// customer, site, since.
type UnitRowTuple = (i64, String, i64, String, i64, Option<i64>, Option<i64>, i64);

/// The inputs, as stored.
pub async fn inputs(db: &Db) -> Result<(Vec<KnownUnit>, Vec<Sighting>), StoreError> {
    let rows: Vec<UnitRowTuple> = sqlx::query_as(
        "SELECT u.id, u.mac, u.model_id, l.kind, l.id, l.customer_id, l.site_id, u.since_ms FROM stock_units u \
         JOIN stock_locations l ON l.id = u.location_id WHERE u.mac IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut units = Vec::with_capacity(rows.len());
    for (id, mac, model, kind, loc, customer, site, since_ms) in rows {
        let Ok(mac) = Mac::parse(&mac) else { continue };
        units.push(KnownUnit {
            unit: UnitId(id),
            mac,
            model: ModelId(model),
            location: super::core_location(&kind, loc)?,
            customer,
            site,
            since_ms,
        });
    }
    let seen: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT i.mac, i.site_id, i.last_seen_ms, cd.customer_id FROM inventory i \
         LEFT JOIN customer_devices cd ON cd.mac = i.mac \
         LEFT JOIN stock_ignored_macs x ON x.mac = i.mac WHERE x.mac IS NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    let carried: HashSet<Mac> =
        units.iter().filter(|u| u.location.kind == LocationKind::Vehicle).map(|u| u.mac).collect();
    let waiting = waiting_customers(db).await?;
    let mut sightings = Vec::with_capacity(seen.len());
    for (mac, site, last, customer) in seen {
        let Ok(mac) = Mac::parse(&mac) else { continue };
        let customer = customer.or_else(|| {
            if !carried.contains(&mac) {
                return None;
            }
            match waiting.get(&site).map(Vec::as_slice) {
                Some([only]) => Some(*only),
                _ => None,
            }
        });
        sightings.push(Sighting { mac, site, customer, last_seen_ms: last });
    }
    Ok((units, sightings))
}

/// Per site, the leads and active customers with no CPE linked.
async fn waiting_customers(db: &Db) -> Result<HashMap<i64, Vec<i64>>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT c.site_id, c.id FROM customers c WHERE c.site_id IS NOT NULL AND c.status IN ('lead', 'active') \
         AND NOT EXISTS (SELECT 1 FROM customer_devices d WHERE d.customer_id = c.id) ORDER BY c.id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut m: HashMap<i64, Vec<i64>> = HashMap::new();
    for (site, c) in rows {
        m.entry(site).or_default().push(c);
    }
    Ok(m)
}

/// The report now.
pub async fn report(db: &Db, now: i64, stale_after_ms: i64) -> Result<Report, StoreError> {
    let (units, sightings) = inputs(db).await?;
    Ok(core::reconcile(&units, &sightings, now, stale_after_ms))
}

/// One automatic install made, or why it could not be.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub unit: i64,
    pub customer: i64,
    pub result: Result<i64, String>,
}

/// Makes the report's automatic installs, each in its own transaction (one
/// failing never stops the others), and links each MAC to its customer.
pub async fn auto_install(db: &Db, report: &Report) -> Result<Vec<Installed>, StoreError> {
    let mut out = Vec::new();
    for a in &report.auto_install {
        let batch = Batch {
            kind: Kind::Install,
            from: Some(a.from.id),
            to: Target::Customer(a.customer),
            items: vec![ItemInput::Unit { unit: a.unit.0 }],
            note: format!("seen serving this customer at site {}", a.site),
            actor: "reconcile".into(),
            automatic: true,
        };
        let mut tx = db.begin().await?;
        let result = match moves::record_tx(&mut tx, &batch).await {
            Ok(r) => {
                let mac: Option<String> = sqlx::query_scalar("SELECT mac FROM stock_units WHERE id = $1")
                    .bind(a.unit.0)
                    .fetch_one(&mut *tx)
                    .await?;
                if let Some(mac) = mac {
                    sqlx::query(
                        "INSERT INTO customer_devices (mac, customer_id, created_ms) VALUES ($1, $2, $3) \
                         ON CONFLICT (mac) DO NOTHING",
                    )
                    .bind(mac)
                    .bind(a.customer)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(r.batch)
            }
            Err(e) => Err(e.to_string()),
        };
        out.push(Installed { unit: a.unit.0, customer: a.customer, result });
    }
    Ok(out)
}

/// Leaves a MAC out of the unknown list from now on.
pub async fn ignore(db: &Db, mac: &str, note: &str, by: &str) -> Result<(), StoreError> {
    let mac = Mac::parse(mac).map_err(|e| StoreError::invalid("mac", e.to_string()))?;
    super::line("note", note, 500)?;
    sqlx::query(
        "INSERT INTO stock_ignored_macs (mac, note, created_by, created_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (mac) DO UPDATE SET note = $2, created_by = $3, created_ms = $4",
    )
    .bind(mac.to_string())
    .bind(note.trim())
    .bind(by)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Whether the day's summary was sent (a read: the worker asks every pass).
pub async fn summary_sent(db: &Db, day: &str) -> Result<bool, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM stock_summaries WHERE day = $1").bind(day).fetch_one(&db.pool).await?;
    Ok(n > 0)
}

/// Claims the day's summary in the transaction that queues it: true for
/// exactly one caller per day (several controllers may try).
pub async fn claim_summary(tx: &mut Tx<'_>, day: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("INSERT INTO stock_summaries (day, sent_ms) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING")
        .bind(day)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Names for a report's rows: units (model, location) and sites.
#[derive(Debug, Default, Serialize)]
pub struct Names {
    pub units: HashMap<i64, moves::UnitRow>,
    pub sites: HashMap<i64, String>,
    pub customers: HashMap<i64, String>,
}

/// ... of the first `shown` rows of each list.
pub async fn names(db: &Db, r: &Report, shown: usize) -> Result<Names, StoreError> {
    let mut ids: Vec<i64> = r.not_assigned.iter().take(shown).map(|f| f.unit.unit.0).collect();
    ids.extend(r.moved.iter().take(shown).map(|f| f.unit.unit.0));
    ids.extend(r.stale.iter().take(shown).map(|s| s.unit.unit.0));
    ids.extend(r.auto_install.iter().take(shown).map(|a| a.unit.0));
    let mut n = Names::default();
    ids.sort_unstable();
    ids.dedup();
    n.units = moves::units_by_id(db, &ids).await?.into_iter().map(|u| (u.id, u)).collect();
    n.sites = sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM sites")
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .collect();
    let mut cs: Vec<i64> = r.unknown.iter().take(shown).filter_map(|s| s.customer).collect();
    cs.extend(r.moved.iter().take(shown).filter_map(|f| f.seen.customer));
    cs.extend(r.auto_install.iter().take(shown).map(|a| a.customer));
    cs.sort_unstable();
    cs.dedup();
    for chunk in cs.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!("SELECT id, name FROM customers WHERE id IN ({list})");
        n.customers.extend(sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?);
    }
    Ok(n)
}
