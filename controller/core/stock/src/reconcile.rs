//! Reconciliation: the inventory against what the network sees.
//!
//! Inputs: the units with a MAC (where the inventory says they are, with the
//! customer id for a Customer location and the site id for a Site one), the
//! sightings (a MAC seen at a site, with the customer its AP or link says it
//! serves when known, and when), `now_ms` and `stale_after_ms`.
//!
//! A sighting is **recent** when `now_ms − last_seen_ms ≤ stale_after_ms`,
//! and **current** for a unit when it is recent and not older than the
//! unit's arrival where it is recorded (`since_ms`: a unit returned to a van
//! an hour ago says nothing by having been seen at a customer two hours ago).
//! Several sightings of one MAC count as its latest one (ties: the lowest
//! site, then customer). Each seen MAC lands in exactly one list:
//! - `unknown`: no unit has the MAC (an unbilled or unrecorded CPE), however
//!   old the sighting;
//! - otherwise, a sighting that is not current tells nothing about where
//!   the unit is now: `ok`;
//! - `not_assigned`: the unit is recorded in a warehouse, at the vendor
//!   (RMA), retired or lost, yet is on the network;
//! - `auto_install`: the unit is in a technician's vehicle and is seen
//!   serving a customer: the Install to make (see [`AutoInstall::movement`]);
//! - `moved`: the unit is in a vehicle and seen at a site with no customer;
//!   or installed at a customer and seen at another site or for another
//!   customer (a value the record lacks is not compared); or installed at a
//!   site and seen at another site or serving a customer;
//! - `ok`: seen where it is recorded.
//!
//! Besides, `stale` lists every unit installed at a customer that has no
//! recent sighting (never seen, or last seen too long ago; a unit installed
//! less than `stale_after_ms` ago and not yet seen is stale too: it should
//! be on the air).
//!
//! If two units share a MAC (the state refuses it; the input may still
//! carry it), the lowest unit id is the MAC's. Every list is sorted (by MAC
//! for `unknown`, by unit id for the others). The work is linear: one hash
//! map of units by MAC, one of sightings by MAC.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Location, LocationKind, ModelId, UnitId};
use crate::id::Mac;
use crate::movement::{Item, Kind, Movement};

/// A unit as the inventory has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownUnit {
    pub unit: UnitId,
    pub mac: Mac,
    pub model: ModelId,
    pub location: Location,
    /// For a Customer location: whose.
    pub customer: Option<i64>,
    /// For a Site location: which.
    pub site: Option<i64>,
    /// When it arrived where it is (its last movement's time).
    pub since_ms: i64,
}

/// A MAC as the network last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    pub mac: Mac,
    pub site: i64,
    /// The customer the station's AP or link says it serves.
    pub customer: Option<i64>,
    pub last_seen_ms: i64,
}

/// A unit seen somewhere its record does not explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub unit: KnownUnit,
    pub seen: Sighting,
}

/// An installed unit the network has not seen recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stale {
    pub unit: KnownUnit,
    /// `None`: never seen.
    pub last_seen_ms: Option<i64>,
}

/// A unit in a vehicle seen serving a customer: it was installed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoInstall {
    pub unit: UnitId,
    pub from: Location,
    pub customer: i64,
    pub site: i64,
    pub seen_ms: i64,
}

impl AutoInstall {
    /// The Install movement to append: `to` is the customer's location (the
    /// store maps the customer id to it), `seq` and `at_ms` the log's next.
    pub fn movement(&self, to: Location, seq: u64, at_ms: i64) -> Movement {
        Movement {
            seq,
            at_ms,
            actor: "reconcile".into(),
            kind: Kind::Install,
            from: Some(self.from),
            to,
            item: Item::Unit { unit: self.unit },
            note: format!("seen serving customer {} at site {}", self.customer, self.site),
            automatic: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Report {
    /// Seen where recorded, or only seen long ago.
    pub ok: Vec<UnitId>,
    pub unknown: Vec<Sighting>,
    pub not_assigned: Vec<Finding>,
    pub moved: Vec<Finding>,
    pub auto_install: Vec<AutoInstall>,
    pub stale: Vec<Stale>,
}

/// Which list a recent sighting of a known unit puts it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    NotAssigned,
    Moved,
    AutoInstall,
}

/// The rule for one unit and its recent sighting (the module's list).
pub fn judge(u: &KnownUnit, s: &Sighting) -> Verdict {
    use LocationKind::*;
    let differs = |rec: Option<i64>, seen: Option<i64>| matches!((rec, seen), (Some(r), Some(s)) if r != s);
    match u.location.kind {
        Warehouse | Rma | Retired | Lost => Verdict::NotAssigned,
        Vehicle if s.customer.is_some() => Verdict::AutoInstall,
        Vehicle => Verdict::Moved,
        Customer if differs(u.site, Some(s.site)) || differs(u.customer, s.customer) => Verdict::Moved,
        Site if differs(u.site, Some(s.site)) || s.customer.is_some() => Verdict::Moved,
        Customer | Site => Verdict::Ok,
    }
}

pub fn reconcile(units: &[KnownUnit], sightings: &[Sighting], now_ms: i64, stale_after_ms: i64) -> Report {
    let mut by_mac: HashMap<Mac, &KnownUnit> = HashMap::with_capacity(units.len());
    for u in units {
        by_mac.entry(u.mac).and_modify(|k| *k = if u.unit < k.unit { u } else { *k }).or_insert(u);
    }
    let mut latest: HashMap<Mac, &Sighting> = HashMap::with_capacity(sightings.len());
    for s in sightings {
        let key = |s: &Sighting| (s.last_seen_ms, std::cmp::Reverse((s.site, s.customer)));
        latest.entry(s.mac).and_modify(|k| *k = if key(s) > key(k) { s } else { *k }).or_insert(s);
    }
    let recent = |s: &Sighting| now_ms.saturating_sub(s.last_seen_ms) <= stale_after_ms;
    let mut r = Report::default();
    for (mac, s) in &latest {
        let Some(u) = by_mac.get(mac) else {
            r.unknown.push(**s);
            continue;
        };
        if !recent(s) || s.last_seen_ms < u.since_ms {
            r.ok.push(u.unit);
            continue;
        }
        let f = Finding { unit: **u, seen: **s };
        match judge(u, s) {
            Verdict::Ok => r.ok.push(u.unit),
            Verdict::NotAssigned => r.not_assigned.push(f),
            Verdict::Moved => r.moved.push(f),
            Verdict::AutoInstall => r.auto_install.push(AutoInstall {
                unit: u.unit,
                from: u.location,
                customer: s.customer.unwrap_or_default(),
                site: s.site,
                seen_ms: s.last_seen_ms,
            }),
        }
    }
    for u in by_mac.values().filter(|u| u.location.kind == LocationKind::Customer) {
        let seen = latest.get(&u.mac);
        if !seen.is_some_and(|s| recent(s)) {
            r.stale.push(Stale { unit: **u, last_seen_ms: seen.map(|s| s.last_seen_ms) });
        }
    }
    r.ok.sort_unstable();
    r.unknown.sort_unstable_by_key(|s| s.mac);
    r.not_assigned.sort_unstable_by_key(|f| f.unit.unit);
    r.moved.sort_unstable_by_key(|f| f.unit.unit);
    r.auto_install.sort_unstable_by_key(|a| a.unit);
    r.stale.sort_unstable_by_key(|s| s.unit.unit);
    r
}

#[cfg(test)]
mod tests;
