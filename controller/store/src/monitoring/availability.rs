//! Availability reports: uptime per device, site and customer over a
//! period, from the stored probe results (the agent's backfilled ones too,
//! so an outage only the agent saw while its backhaul was down counts) and
//! the site incidents (a tower cut off from the controller: its devices
//! served nobody, so that time is down for them), with maintenance windows
//! excluded and listed. The arithmetic is the pure core's
//! (`mast_ops_core::availability`); this module loads its inputs.
//!
//! Raw samples are kept `raw_retention_days`, so a report reaches that far
//! back; probes are pings, or SNMP polls for a device that is not pinged.

use super::{KIND_PING, KIND_SNMP};
use crate::db::{Db, StoreError};
use mast_ops_core::availability::{self, Availability, Probe, Rules, Span};
use mast_ops_core::maintenance::Scope;
use serde::Serialize;
use std::collections::HashMap;

/// Failed probes in a row that make an outage (as the correlator's default).
const DOWN_AFTER: u32 = 3;

/// One device's availability.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAvailability {
    pub device_id: i64,
    pub label: String,
    pub kind: Option<super::DeviceKind>,
    pub site_id: i64,
    pub site: String,
    pub availability: Availability,
}

/// A site's availability: its devices together (device-time) and each one.
#[derive(Debug, Clone, Serialize)]
pub struct SiteAvailability {
    pub site_id: i64,
    pub site: String,
    pub total: Availability,
    pub devices: Vec<DeviceAvailability>,
    /// Maintenance windows on the site or its devices, merged.
    pub maintenance: Vec<Span>,
    /// When the site's agent could not reach the controller (site incidents).
    pub backhaul_outages: Vec<Span>,
}

/// Checks a period: not empty, not longer than `max_days`.
pub fn check_period(p: Span, max_days: i64) -> Result<(), StoreError> {
    if p.to <= p.from {
        return Err(StoreError::invalid("to", "must be after the start"));
    }
    if p.to - p.from > max_days.saturating_mul(86_400_000) {
        return Err(StoreError::invalid("from", format!("a report covers at most {max_days} days (raw samples)")));
    }
    Ok(())
}

/// Maintenance spans per site and per device overlapping `p`.
async fn maintenance(db: &Db, p: Span) -> Result<(HashMap<i64, Vec<Span>>, HashMap<i64, Vec<Span>>), StoreError> {
    let (mut sites, mut devices): (HashMap<i64, Vec<Span>>, HashMap<i64, Vec<Span>>) = Default::default();
    for w in super::windows::list(db, false).await? {
        let occ = mast_ops_core::maintenance::occurrences(&w.window, p.from, p.to).unwrap_or_default();
        let spans = occ.into_iter().map(|(from, to)| Span { from, to });
        match w.window.scope {
            Scope::Site(s) => sites.entry(s).or_default().extend(spans),
            Scope::Device(d) => devices.entry(d).or_default().extend(spans),
        }
    }
    Ok((sites, devices))
}

/// Site incidents (the backhaul down) of `site_id` overlapping `p`; an open
/// one lasts to the end of the period.
async fn backhaul(db: &Db, site_id: i64, p: Span) -> Result<Vec<Span>, StoreError> {
    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT started_ms, ended_ms FROM incidents WHERE root_kind = 'site' AND root_site_id = $1 \
         AND started_ms < $2 AND (ended_ms IS NULL OR ended_ms > $3) ORDER BY started_ms",
    )
    .bind(site_id)
    .bind(p.to)
    .bind(p.from)
    .fetch_all(&db.pool)
    .await?;
    Ok(availability::merge(rows.into_iter().map(|(from, to)| Span { from, to: to.unwrap_or(p.to) })))
}

/// Probe results of `device_id` around `p`: pings, else SNMP polls.
async fn probes(db: &Db, device_id: i64, p: Span, margin: i64) -> Result<(Vec<Probe>, bool), StoreError> {
    let ping: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT ts_ms, CAST(CASE WHEN rtt_us IS NULL THEN 0 ELSE 1 END AS BIGINT) FROM samples \
         WHERE device_id = $1 AND kind = $2 AND ts_ms >= $3 AND ts_ms < $4 ORDER BY ts_ms",
    )
    .bind(device_id)
    .bind(KIND_PING)
    .bind(p.from.saturating_sub(margin))
    .bind(p.to)
    .fetch_all(&db.pool)
    .await?;
    if !ping.is_empty() {
        return Ok((ping.into_iter().map(|(ts, ok)| Probe { ts, ok: ok != 0 }).collect(), true));
    }
    let snmp: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT ts_ms, value FROM samples WHERE device_id = $1 AND kind = $2 AND ts_ms >= $3 AND ts_ms < $4 \
         ORDER BY ts_ms",
    )
    .bind(device_id)
    .bind(KIND_SNMP)
    .bind(p.from.saturating_sub(margin))
    .bind(p.to)
    .fetch_all(&db.pool)
    .await?;
    Ok((snmp.into_iter().map(|(ts, v)| Probe { ts, ok: v == Some(0) }).collect(), false))
}

/// Intervals of a site: ping, SNMP.
async fn intervals(db: &Db, site_id: i64) -> Result<(i64, i64), StoreError> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT interval_ms, snmp_interval_ms FROM sites WHERE id = $1")
        .bind(site_id)
        .fetch_optional(&db.pool)
        .await?;
    row.ok_or_else(|| StoreError::NotFound(format!("no site {site_id}")))
}

async fn device_availability(
    db: &Db,
    d: &super::DeviceView,
    p: Span,
    (ping_ms, snmp_ms): (i64, i64),
    maintenance: &[Span],
    backhaul: &[Span],
) -> Result<DeviceAvailability, StoreError> {
    let margin = DOWN_AFTER as i64 * ping_ms.max(snmp_ms) * 2;
    let (list, pinged) = probes(db, d.id, p, margin).await?;
    let rules = Rules { interval_ms: if pinged { ping_ms } else { snmp_ms }, down_after: DOWN_AFTER };
    Ok(DeviceAvailability {
        device_id: d.id,
        label: d.label().to_string(),
        kind: d.kind,
        site_id: d.site_id,
        site: d.site.clone(),
        availability: availability::from_probes(p, &list, &rules, maintenance, backhaul),
    })
}

/// A site's report over `p`.
pub async fn site(db: &Db, site_id: i64, p: Span) -> Result<SiteAvailability, StoreError> {
    let site = super::get_site(db, site_id).await?;
    let iv = intervals(db, site_id).await?;
    let (m_sites, m_devices) = maintenance(db, p).await?;
    let site_maint = m_sites.get(&site_id).cloned().unwrap_or_default();
    let backhaul_outages = backhaul(db, site_id, p).await?;
    let mut devices = Vec::new();
    let mut all_maint = site_maint.clone();
    for d in super::site_devices(db, site_id).await? {
        let mut m = site_maint.clone();
        m.extend(m_devices.get(&d.id).into_iter().flatten().copied());
        all_maint.extend(m_devices.get(&d.id).into_iter().flatten().copied());
        devices.push(device_availability(db, &d, p, iv, &m, &backhaul_outages).await?);
    }
    let total = availability::combine(&devices.iter().map(|d| d.availability.clone()).collect::<Vec<_>>());
    Ok(SiteAvailability {
        site_id,
        site: site.name,
        total: if devices.is_empty() { availability::from_probes(p, &[], &default_rules(), &[], &[]) } else { total },
        devices,
        maintenance: availability::merge(all_maint.into_iter().filter_map(|s| s.clip(p))),
        backhaul_outages,
    })
}

fn default_rules() -> Rules {
    Rules { interval_ms: 60_000, down_after: DOWN_AFTER }
}

/// One device's report over `p` (its site's maintenance and backhaul
/// outages applied).
pub async fn device(db: &Db, device_id: i64, p: Span) -> Result<DeviceAvailability, StoreError> {
    let d = super::get_device(db, device_id).await?;
    let iv = intervals(db, d.site_id).await?;
    let (m_sites, m_devices) = maintenance(db, p).await?;
    let mut m = m_sites.get(&d.site_id).cloned().unwrap_or_default();
    m.extend(m_devices.get(&d.id).into_iter().flatten().copied());
    let b = backhaul(db, d.site_id, p).await?;
    device_availability(db, &d, p, iv, &m, &b).await
}

/// A customer's availability over `p`: their radios together (none: no data).
pub async fn customer(db: &Db, customer_id: i64, p: Span) -> Result<Availability, StoreError> {
    let devices = super::customer_devices(db, customer_id).await?;
    let mut parts = Vec::new();
    for d in devices {
        parts.push(device(db, d.id, p).await?.availability);
    }
    Ok(if parts.is_empty() {
        availability::from_probes(p, &[], &default_rules(), &[], &[])
    } else {
        availability::combine(&parts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::{SiteEdit, create_site, list_devices, parse_targets};

    const MIN: i64 = 60_000;

    #[tokio::test]
    async fn a_scripted_outage_a_cut_backhaul_and_maintenance_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        let s = create_site(
            &db,
            &SiteEdit {
                name: "hill".into(),
                targets: parse_targets("10.0.0.1=ap, 10.0.0.2=cpe").unwrap(),
                interval_ms: 10_000,
                timeout_ms: 1_000,
                location: None,
            },
        )
        .await
        .unwrap();
        let ids: HashMap<String, i64> =
            list_devices(&db, 10, 0).await.unwrap().into_iter().map(|d| (d.label().to_string(), d.id)).collect();
        let t0 = 1_800_000_000_000;
        // An hour of pings every 10 s; the CPE fails 20:00-27:00 (42 probes),
        // a 20 s blip at 40:00 is not an outage.
        let mut seq = 0;
        for (name, down) in [("ap", (0, 0)), ("cpe", (20 * MIN, 27 * MIN))] {
            for k in 0..360 {
                let ts = t0 + k * 10_000;
                let off = ts - t0;
                let failed =
                    (down.0..down.1).contains(&off) || (name == "cpe" && (40 * MIN..40 * MIN + 20_000).contains(&off));
                seq += 1;
                sqlx::query(
                    "INSERT INTO samples (agent_id, boot_epoch, seq, kind, device_id, ts_ms, rtt_us, value) \
                     VALUES (1, 1, $1, 0, $2, $3, $4, NULL)",
                )
                .bind(seq)
                .bind(ids[name])
                .bind(ts)
                .bind(if failed { None } else { Some(900i64) })
                .execute(&db.pool)
                .await
                .unwrap();
            }
        }
        let p = Span { from: t0, to: t0 + 60 * MIN };
        let cpe = device(&db, ids["cpe"], p).await.unwrap().availability;
        assert_eq!(cpe.down_ms, 7 * MIN, "the scripted outage, to the probe");
        assert_eq!(cpe.outages, vec![Span { from: t0 + 20 * MIN, to: t0 + 27 * MIN }]);
        assert_eq!(cpe.up_ms + cpe.down_ms + cpe.unknown_ms + cpe.excluded_ms, 60 * MIN);

        // A site incident (the backhaul cut 50:00-55:00) is down for every
        // device; maintenance 30:00-35:00 is neither up nor down.
        sqlx::query(
            "INSERT INTO incidents (id, root_kind, root_device_id, root_site_id, started_ms, opened_ms, ended_ms, \
             flapping, device_count, updated_ms) VALUES (1, 'site', NULL, $1, $2, $2, $3, 0, 2, 0)",
        )
        .bind(s.id)
        .bind(t0 + 50 * MIN)
        .bind(t0 + 55 * MIN)
        .execute(&db.pool)
        .await
        .unwrap();
        let w = crate::monitoring::windows::WindowInput {
            site: Some("hill".into()),
            device: None,
            start_local: "2027-01-15T08:30".into(),
            duration_minutes: 5,
            recurrence: None,
            until: None,
            notice_hours: Some(0),
            reason: "antenna swap".into(),
        };
        crate::monitoring::windows::create(&db, &w, "UTC", "test").await.unwrap();
        let r = site(&db, s.id, p).await.unwrap();
        assert_eq!(r.backhaul_outages, vec![Span { from: t0 + 50 * MIN, to: t0 + 55 * MIN }]);
        let by: HashMap<&str, &Availability> = r.devices.iter().map(|d| (d.label.as_str(), &d.availability)).collect();
        assert_eq!(by["ap"].down_ms, 5 * MIN, "the AP answered the agent, but served nobody");
        assert_eq!(by["cpe"].down_ms, 12 * MIN);
        assert_eq!(r.maintenance, vec![Span { from: t0 + 30 * MIN, to: t0 + 35 * MIN }]);
        assert_eq!((by["ap"].excluded_ms, r.total.excluded_ms), (5 * MIN, 10 * MIN));
        assert_eq!(r.total.down_ms, 17 * MIN, "device-time");
        let pct = r.total.pct.unwrap();
        assert!((pct - 100.0 * 93.0 / 110.0).abs() < 1e-9, "{pct}");
        assert!(check_period(Span { from: 5, to: 5 }, 30).is_err());
        assert_eq!(check_period(Span { from: 0, to: 31 * 86_400_000 }, 30).unwrap_err().field(), Some("from"));
        // A customer on the CPE gets its availability; one with no radio, no data.
        let c = crate::customers::create_with_cpes(
            &db,
            &crate::customers::CustomerInput { name: "Ada".into(), ..Default::default() },
            &[],
        )
        .await
        .unwrap();
        assert_eq!(customer(&db, c.id, p).await.unwrap().pct, None);
    }
}
