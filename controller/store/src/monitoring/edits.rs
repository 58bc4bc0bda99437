//! Staff edits of devices: name, notes, a kind set by staff, parents set by
//! staff, retirement. Owns the columns `notes`, `kind_set`, `retired_ms`,
//! `retired_reason` of `devices` and the table `device_parents`.
//!
//! What the agents learn is never overwritten: the learned kind stays in
//! `devices.kind` and the learned parent in `devices.parent_id`; a kind or
//! parents set here win while they are set (the views and the correlator's
//! topology read the effective ones), and clearing them brings the learned
//! ones back. Several parents model redundant links: a device is cut off
//! only when all of them are down.

use super::{DeviceKind, check_line};
use crate::db::{Db, StoreError, now_ms};
use std::collections::{HashMap, HashSet};

/// A device as the edit form changes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceEdit {
    /// `None` or empty: no staff name (the one the device reports, if any).
    pub name: Option<String>,
    pub notes: Option<String>,
    /// `None`: the kind the agents learned.
    pub kind: Option<DeviceKind>,
    /// Empty: the parent the agents learned.
    pub parents: Vec<i64>,
}

/// The staff-set part of a device, for the form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StaffFields {
    pub name: Option<String>,
    pub notes: Option<String>,
    pub kind_set: Option<DeviceKind>,
    pub kind_learned: Option<DeviceKind>,
    pub parent_learned: Option<i64>,
    pub parents: Vec<i64>,
    pub retired_ms: Option<i64>,
    pub retired_reason: Option<String>,
}

/// Checks an edit's text (what [`edit_device`] refuses before the database).
pub fn check_edit(e: &DeviceEdit) -> Result<(), StoreError> {
    if let Some(n) = &e.name {
        check_line("name", n, 64)?;
    }
    if let Some(n) = &e.notes {
        mast_text_core::input::text(n, 4_000).map_err(|p| StoreError::invalid("notes", p.to_string()))?;
    }
    Ok(())
}

fn blank_to_none(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// The staff-set fields of device `id`, or `NotFound`.
pub async fn staff_fields(db: &Db, id: i64) -> Result<StaffFields, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        name: Option<String>,
        notes: Option<String>,
        kind_set: Option<DeviceKind>,
        kind: Option<DeviceKind>,
        parent_id: Option<i64>,
        retired_ms: Option<i64>,
        retired_reason: Option<String>,
    }
    let r: Row = sqlx::query_as(
        "SELECT name, notes, kind_set, kind, parent_id, retired_ms, retired_reason FROM devices WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("no device {id}")))?;
    Ok(StaffFields {
        name: r.name,
        notes: r.notes,
        kind_set: r.kind_set,
        kind_learned: r.kind,
        parent_learned: r.parent_id,
        parents: parents(db, id).await?,
        retired_ms: r.retired_ms,
        retired_reason: r.retired_reason,
    })
}

/// The parents staff set for device `id` (empty: the learned one counts).
pub async fn parents(db: &Db, id: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT parent_id FROM device_parents WHERE device_id = $1 ORDER BY parent_id")
            .bind(id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(|(p,)| p).collect())
}

/// Every device's effective parents (staff-set ones, else the learned one),
/// for the correlator's topology and cycle checks.
pub async fn effective_parents(db: &Db) -> Result<HashMap<i64, Vec<i64>>, StoreError> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    let set: Vec<(i64, i64)> = sqlx::query_as("SELECT device_id, parent_id FROM device_parents ORDER BY parent_id")
        .fetch_all(&db.pool)
        .await?;
    for (d, p) in set {
        out.entry(d).or_default().push(p);
    }
    let learned: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, parent_id FROM devices WHERE parent_id IS NOT NULL").fetch_all(&db.pool).await?;
    for (d, p) in learned {
        out.entry(d).or_insert_with(|| vec![p]);
    }
    Ok(out)
}

/// Changes a device's staff fields. Parents must be other devices of the
/// same site that do not already hang below it (no loop); a bad field is
/// `Invalid` naming it and changes nothing.
pub async fn edit_device(db: &Db, id: i64, e: &DeviceEdit) -> Result<(), StoreError> {
    check_edit(e)?;
    let site: Option<(i64,)> =
        sqlx::query_as("SELECT site_id FROM devices WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
    let Some((site_id,)) = site else { return Err(StoreError::NotFound(format!("no device {id}"))) };
    let mut wanted: Vec<i64> = e.parents.clone();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.contains(&id) {
        return Err(StoreError::invalid("parents", "a device cannot be its own parent"));
    }
    for p in &wanted {
        let row: Option<(i64, Option<i64>)> = sqlx::query_as("SELECT site_id, retired_ms FROM devices WHERE id = $1")
            .bind(p)
            .fetch_optional(&db.pool)
            .await?;
        match row {
            None => return Err(StoreError::invalid("parents", format!("there is no device {p}"))),
            Some((s, _)) if s != site_id => {
                return Err(StoreError::invalid("parents", "a parent must stand at the same site"));
            }
            Some((_, Some(_))) => return Err(StoreError::invalid("parents", format!("device {p} is retired"))),
            Some(_) => {}
        }
    }
    // No loop: none of the new parents may hang (directly or not) below us.
    let mut graph = effective_parents(db).await?;
    graph.insert(id, wanted.clone());
    if reaches(&graph, &wanted, id) {
        return Err(StoreError::invalid("parents", "that parent hangs below this device (the links would loop)"));
    }
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE devices SET name = $1, notes = $2, kind_set = $3 WHERE id = $4")
        .bind(blank_to_none(&e.name))
        .bind(blank_to_none(&e.notes))
        .bind(e.kind)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM device_parents WHERE device_id = $1").bind(id).execute(&mut *tx).await?;
    for p in &wanted {
        sqlx::query("INSERT INTO device_parents (device_id, parent_id) VALUES ($1, $2)")
            .bind(id)
            .bind(p)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether walking up from `start` through `graph` reaches `target`.
fn reaches(graph: &HashMap<i64, Vec<i64>>, start: &[i64], target: i64) -> bool {
    let mut seen = HashSet::new();
    let mut stack: Vec<i64> = start.to_vec();
    while let Some(d) = stack.pop() {
        if d == target {
            return true;
        }
        if seen.insert(d) {
            stack.extend(graph.get(&d).into_iter().flatten().copied());
        }
    }
    false
}

/// Retires a device: it leaves the lists, the counts and the correlator,
/// and the open incidents rooted at it close with `reason`. Returns the
/// incidents closed. `reason` is required.
pub async fn retire(db: &Db, id: i64, who: &str, reason: &str) -> Result<Vec<i64>, StoreError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::invalid("reason", "say why the device is retired"));
    }
    check_line("reason", reason, 200)?;
    let now = now_ms();
    let n = sqlx::query("UPDATE devices SET retired_ms = $1, retired_reason = $2 WHERE id = $3 AND retired_ms IS NULL")
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        staff_fields(db, id).await?;
        return Err(StoreError::Conflict(format!("device {id} is already retired")));
    }
    // Staff-set links to it go; children fall back to their learned parent.
    sqlx::query("DELETE FROM device_parents WHERE parent_id = $1").bind(id).execute(&db.pool).await?;
    // Towers behind it reach the controller directly until staff say otherwise.
    sqlx::query("DELETE FROM site_uplinks WHERE device_id = $1").bind(id).execute(&db.pool).await?;
    let open: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM incidents WHERE root_kind = 'device' AND root_device_id = $1 \
         AND ended_ms IS NULL AND closed_ms IS NULL",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let why = format!("Device retired: {reason}");
    let mut closed = Vec::new();
    for (i,) in open {
        super::outages::close(db, i, who, &why, now).await?;
        closed.push(i);
    }
    Ok(closed)
}

/// Brings a retired device back.
pub async fn restore(db: &Db, id: i64) -> Result<(), StoreError> {
    let n = sqlx::query("UPDATE devices SET retired_ms = NULL, retired_reason = NULL WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no device {id}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{SiteEdit, create_site, list_devices, parse_targets};

    #[tokio::test]
    async fn staff_set_kind_and_parents_win_loops_are_refused_and_retiring_closes_incidents() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/e.db", dir.path().display())).await.unwrap();
        let site = |name: &str, targets: &str| SiteEdit {
            name: name.into(),
            targets: parse_targets(targets).unwrap(),
            interval_ms: 30_000,
            timeout_ms: 1_000,
            location: None,
        };
        create_site(&db, &site("hill", "10.0.0.1=ap-a, 10.0.0.2=ap-b, 10.0.0.3=cpe")).await.unwrap();
        create_site(&db, &site("lake", "10.9.0.1=far")).await.unwrap();
        let ids: HashMap<String, i64> =
            list_devices(&db, 100, 0).await.unwrap().into_iter().map(|d| (d.label().to_string(), d.id)).collect();
        let (a, b, cpe, far) = (ids["ap-a"], ids["ap-b"], ids["cpe"], ids["far"]);
        // Learned: the CPE hangs off ap-a and says it is a host.
        sqlx::query("UPDATE devices SET parent_id = $1, kind = 'host' WHERE id = $2")
            .bind(a)
            .bind(cpe)
            .execute(&db.pool)
            .await
            .unwrap();
        let e = DeviceEdit {
            name: Some(" cpe-smith ".into()),
            notes: Some("Roof mount, ladder needed.\nGate code 1234".into()),
            kind: Some(DeviceKind::Cpe),
            parents: vec![b, a],
        };
        edit_device(&db, cpe, &e).await.unwrap();
        let v = crate::monitoring::get_device(&db, cpe).await.unwrap();
        assert_eq!((v.name.as_deref(), v.kind, v.kind_set), (Some("cpe-smith"), Some(DeviceKind::Cpe), true));
        assert_eq!((v.parent_id, v.parent_set), (Some(a), true));
        let f = staff_fields(&db, cpe).await.unwrap();
        assert_eq!((f.parents, f.kind_learned, f.parent_learned), (vec![a, b], Some(DeviceKind::Host), Some(a)));
        let topo = crate::monitoring::outages::topology(&db).await.unwrap();
        assert!(topo.devices.is_empty(), "no agent connected yet: no site in the topology");
        assert_eq!(effective_parents(&db).await.unwrap()[&cpe], vec![a, b], "redundant links");

        // Bad parents change nothing.
        for (parents, why) in [(vec![cpe], "own parent"), (vec![far], "same site"), (vec![999], "no device")] {
            let err = edit_device(&db, cpe, &DeviceEdit { parents, ..e.clone() }).await.unwrap_err();
            assert_eq!(err.field(), Some("parents"), "{why}: {err}");
        }
        let looped = edit_device(&db, a, &DeviceEdit { parents: vec![cpe], ..Default::default() }).await.unwrap_err();
        assert_eq!(looped.field(), Some("parents"), "ap-a below its own CPE would loop");
        assert_eq!(
            edit_device(&db, cpe, &DeviceEdit { name: Some("a\u{7}".into()), ..e.clone() }).await.unwrap_err().field(),
            Some("name")
        );
        assert_eq!(staff_fields(&db, cpe).await.unwrap().parents, vec![a, b], "unchanged");

        // Clearing brings the learned ones back.
        edit_device(&db, cpe, &DeviceEdit::default()).await.unwrap();
        let v = crate::monitoring::get_device(&db, cpe).await.unwrap();
        assert_eq!((v.kind, v.kind_set, v.parent_id, v.parent_set), (Some(DeviceKind::Host), false, Some(a), false));
        assert_eq!(v.name, None);

        // Retiring: out of the list, its open incident closed with the reason.
        edit_device(&db, cpe, &DeviceEdit { parents: vec![b], ..Default::default() }).await.unwrap();
        sqlx::query(
            "INSERT INTO incidents (id, root_kind, root_device_id, root_site_id, started_ms, opened_ms, flapping, \
             device_count, updated_ms) VALUES (7, 'device', $1, NULL, 1, 1, 0, 1, 1)",
        )
        .bind(b)
        .execute(&db.pool)
        .await
        .unwrap();
        assert_eq!(retire(&db, b, "ops@wisp.test", " ").await.unwrap_err().field(), Some("reason"));
        assert_eq!(retire(&db, b, "ops@wisp.test", "replaced by ap-c").await.unwrap(), vec![7]);
        assert!(matches!(retire(&db, b, "ops@wisp.test", "again").await, Err(StoreError::Conflict(_))));
        assert!(matches!(retire(&db, 999, "ops@wisp.test", "x").await, Err(StoreError::NotFound(_))));
        let reason: (Option<String>,) =
            sqlx::query_as("SELECT close_reason FROM incidents WHERE id = 7").fetch_one(&db.pool).await.unwrap();
        assert_eq!(reason.0.as_deref(), Some("Device retired: replaced by ap-c"));
        assert!(list_devices(&db, 100, 0).await.unwrap().iter().all(|d| d.id != b));
        assert!(crate::monitoring::get_device(&db, b).await.unwrap().retired_ms.is_some(), "its page still loads");
        assert!(staff_fields(&db, cpe).await.unwrap().parents.is_empty(), "links to it went");
        restore(&db, b).await.unwrap();
        assert!(list_devices(&db, 100, 0).await.unwrap().iter().any(|d| d.id == b));
    }

    #[test]
    fn loops_are_found_through_any_path() {
        let g: HashMap<i64, Vec<i64>> = HashMap::from([(3, vec![2]), (2, vec![1, 5]), (5, vec![4])]);
        assert!(reaches(&g, &[3], 4), "3 → 2 → 5 → 4");
        assert!(!reaches(&g, &[1], 3));
        let cyclic: HashMap<i64, Vec<i64>> = HashMap::from([(1, vec![2]), (2, vec![1])]);
        assert!(!reaches(&cyclic, &[1], 9), "a stored loop never hangs");
    }
}
