//! Tower-to-tower links: which devices of other sites a site's backhaul
//! runs through (its *uplinks*; several = redundant paths). Owns the table
//! `site_uplinks`. The correlator reads them ([`all`]) so that a failure at
//! the upstream tower is one incident covering every site behind it.
//!
//! Staff set them on the site's backhaul page; a site's uplink is a device
//! of another site that is not retired, and the links never loop (a site
//! cannot end up behind itself through any chain of towers).

use crate::db::{Db, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// One uplink of a site, as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Uplink {
    /// The site that hangs behind the device.
    pub site_id: i64,
    pub site_name: String,
    pub device_id: i64,
    /// The device's name, or its address.
    pub device_label: String,
    /// The upstream site (the device's).
    pub upstream_site_id: i64,
    pub upstream_site_name: String,
}

const COLS: &str = "SELECT u.site_id, s.name AS site_name, u.device_id, COALESCE(d.name, d.addr) AS device_label, \
     d.site_id AS upstream_site_id, us.name AS upstream_site_name \
     FROM site_uplinks u JOIN sites s ON s.id = u.site_id JOIN devices d ON d.id = u.device_id \
     JOIN sites us ON us.id = d.site_id";

/// The uplinks of `site_id` (where its backhaul comes from).
pub async fn of_site(db: &Db, site_id: i64) -> Result<Vec<Uplink>, StoreError> {
    let sql = format!("{COLS} WHERE u.site_id = $1 ORDER BY us.name, device_label");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(site_id).fetch_all(&db.pool).await?)
}

/// The sites that hang behind a device of `site_id` (what it feeds).
pub async fn fed_by(db: &Db, site_id: i64) -> Result<Vec<Uplink>, StoreError> {
    let sql = format!("{COLS} WHERE d.site_id = $1 ORDER BY s.name, device_label");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(site_id).fetch_all(&db.pool).await?)
}

/// Every link between sites (for the map).
pub async fn list(db: &Db) -> Result<Vec<Uplink>, StoreError> {
    let sql = format!("{COLS} ORDER BY s.name, device_label");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?)
}

/// Site → its uplink devices, retired devices left out (the correlator's
/// view).
pub async fn all(db: &Db) -> Result<BTreeMap<i64, Vec<i64>>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT u.site_id, u.device_id FROM site_uplinks u JOIN devices d ON d.id = u.device_id \
         WHERE d.retired_ms IS NULL ORDER BY u.site_id, u.device_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (s, d) in rows {
        out.entry(s).or_default().push(d);
    }
    Ok(out)
}

/// Sets the uplinks of `site_id` (empty: it reaches the controller
/// directly). Refused, changing nothing, when a device does not exist, is
/// retired, stands at the same site, or would make the towers loop.
pub async fn set(db: &Db, site_id: i64, devices: &[i64]) -> Result<(), StoreError> {
    super::get_site(db, site_id).await?;
    let wanted: BTreeSet<i64> = devices.iter().copied().collect();
    let mut upstream_sites = BTreeSet::new();
    for d in &wanted {
        let row: Option<(i64, Option<i64>)> = sqlx::query_as("SELECT site_id, retired_ms FROM devices WHERE id = $1")
            .bind(d)
            .fetch_optional(&db.pool)
            .await?;
        match row {
            None => return Err(StoreError::invalid("uplinks", format!("there is no device {d}"))),
            Some((s, _)) if s == site_id => {
                return Err(StoreError::invalid("uplinks", "an uplink is a device at another tower"));
            }
            Some((_, Some(_))) => return Err(StoreError::invalid("uplinks", format!("device {d} is retired"))),
            Some((s, None)) => {
                upstream_sites.insert(s);
            }
        }
    }
    // No loop: none of the upstream sites may already hang behind this one.
    let mut graph: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    let edges: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT u.site_id, d.site_id FROM site_uplinks u JOIN devices d ON d.id = u.device_id WHERE u.site_id <> $1",
    )
    .bind(site_id)
    .fetch_all(&db.pool)
    .await?;
    for (s, up) in edges {
        graph.entry(s).or_default().insert(up);
    }
    if let Some(s) = upstream_sites.iter().find(|s| behind(&graph, **s, site_id)) {
        let name: Option<(String,)> =
            sqlx::query_as("SELECT name FROM sites WHERE id = $1").bind(s).fetch_optional(&db.pool).await?;
        let name = name.map_or_else(|| s.to_string(), |(n,)| n);
        return Err(StoreError::invalid(
            "uplinks",
            format!("{name} already reaches the controller through this site (the links would loop)"),
        ));
    }
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM site_uplinks WHERE site_id = $1").bind(site_id).execute(&mut *tx).await?;
    for d in &wanted {
        sqlx::query("INSERT INTO site_uplinks (site_id, device_id) VALUES ($1, $2)")
            .bind(site_id)
            .bind(d)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Site `from`, following uplinks (site → upstream sites), reaches `target`.
fn behind(graph: &BTreeMap<i64, BTreeSet<i64>>, from: i64, target: i64) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from];
    while let Some(s) = stack.pop() {
        if s == target {
            return true;
        }
        if seen.insert(s) {
            stack.extend(graph.get(&s).into_iter().flatten().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{SiteEdit, create_site, list_devices, parse_targets};
    use std::collections::HashMap;

    #[tokio::test]
    async fn uplinks_cross_sites_never_loop_and_follow_retirement_and_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/u.db", dir.path().display())).await.unwrap();
        let site = |name: &str, targets: &str| SiteEdit {
            name: name.into(),
            targets: parse_targets(targets).unwrap(),
            interval_ms: 30_000,
            timeout_ms: 1_000,
            location: None,
        };
        let hill = create_site(&db, &site("hill", "10.0.0.1=bh-valley, 10.0.0.2=bh-spare")).await.unwrap().id;
        let valley = create_site(&db, &site("valley", "10.1.0.1=ap-valley, 10.1.0.2=bh-ridge")).await.unwrap().id;
        let ridge = create_site(&db, &site("ridge", "10.2.0.1=ap-ridge")).await.unwrap().id;
        let ids: HashMap<String, i64> =
            list_devices(&db, 100, 0).await.unwrap().into_iter().map(|d| (d.label().to_string(), d.id)).collect();

        set(&db, valley, &[ids["bh-valley"], ids["bh-spare"]]).await.unwrap();
        set(&db, ridge, &[ids["bh-ridge"]]).await.unwrap();
        let up = of_site(&db, valley).await.unwrap();
        assert_eq!(up.iter().map(|u| u.device_label.as_str()).collect::<Vec<_>>(), ["bh-spare", "bh-valley"]);
        assert!(up.iter().all(|u| u.upstream_site_name == "hill" && u.site_name == "valley"));
        let feeds = fed_by(&db, valley).await.unwrap();
        assert_eq!((feeds.len(), feeds[0].site_id), (1, ridge));
        assert_eq!(
            all(&db).await.unwrap(),
            BTreeMap::from([(valley, vec![ids["bh-valley"], ids["bh-spare"]]), (ridge, vec![ids["bh-ridge"]])])
        );

        // Refused, each naming the field, changing nothing.
        for (site, devices, why) in [
            (valley, vec![ids["ap-valley"]], "same site"),
            (valley, vec![999], "no device"),
            (hill, vec![ids["ap-ridge"]], "loop through two towers"),
            (hill, vec![ids["ap-valley"]], "loop"),
        ] {
            let e = set(&db, site, &devices).await.unwrap_err();
            assert_eq!(e.field(), Some("uplinks"), "{why}: {e}");
        }
        assert!(of_site(&db, hill).await.unwrap().is_empty());
        assert!(matches!(set(&db, 999, &[]).await, Err(StoreError::NotFound(_))));

        // A retired uplink leaves the correlator's view and the pages.
        crate::monitoring::edits::retire(&db, ids["bh-spare"], "ops@x", "replaced by a licensed link").await.unwrap();
        assert_eq!(all(&db).await.unwrap()[&valley], vec![ids["bh-valley"]]);
        assert_eq!(of_site(&db, valley).await.unwrap().len(), 1);
        let e = set(&db, ridge, &[ids["bh-spare"]]).await.unwrap_err();
        assert_eq!(e.field(), Some("uplinks"));

        // Clearing: valley reaches the controller directly.
        set(&db, valley, &[]).await.unwrap();
        assert!(of_site(&db, valley).await.unwrap().is_empty());
        assert_eq!(list(&db).await.unwrap().len(), 1);
    }
}
