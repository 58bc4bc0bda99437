//! Dispatch and field work: owns the `dispatch_*` and `work_order*` tables
//! (migration 0030). The rules are `mast-dispatch-core`'s (the status
//! machine, eligibility, the planner, the outcomes); this store keeps the
//! technicians and their zones ([`technicians`]), the work orders with
//! their steps, checklists, notes, photos and parts ([`jobs`]), a day's
//! plan ([`day`]) and the changes phones made offline ([`sync`]).
//!
//! Builds on customers, sites, tickets and stock (a job's customer, its
//! ticket, the parts it reserves and uses); nothing below imports it.

pub mod day;
pub mod jobs;
pub mod sync;
pub mod technicians;

pub use jobs::{JobInput, JobRow};
pub use technicians::{TechnicianInput, TechnicianRow, ZoneRow};

use crate::StoreError;
use mast_dispatch_core::geo::Point;
use std::collections::BTreeSet;

/// A one-line field: no control characters, at most `max` characters.
pub(crate) fn line(field: &str, v: &str, max: usize) -> Result<(), StoreError> {
    mast_text_core::input::line(v, max).map_err(|p| StoreError::invalid(field, p.to_string()))
}

/// A multi-line field (notes).
pub(crate) fn text(field: &str, v: &str, max: usize) -> Result<(), StoreError> {
    mast_text_core::input::text(v, max).map_err(|p| StoreError::invalid(field, p.to_string()))
}

/// Skills as typed ("climb, fiber"): lower case, unique, sorted.
pub fn parse_skills(field: &str, s: &str) -> Result<BTreeSet<String>, StoreError> {
    line(field, s, 500)?;
    let mut out = BTreeSet::new();
    for w in s.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty()) {
        if w.len() > 40 || !w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(StoreError::invalid(field, format!("{w:?} is not a skill (letters, digits, - and _)")));
        }
        out.insert(w.to_ascii_lowercase());
    }
    Ok(out)
}

pub fn skills_text(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// A place from two optional numbers: both or neither.
pub fn point(field: &str, lat: Option<f64>, lon: Option<f64>) -> Result<Option<Point>, StoreError> {
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(a), Some(b)) => Point::new(a, b)
            .map(Some)
            .ok_or_else(|| StoreError::invalid(field, "latitude -90 to 90 and longitude -180 to 180")),
        _ => Err(StoreError::invalid(field, "give both latitude and longitude, or neither")),
    }
}

/// "HH:MM" as minutes since midnight.
pub fn parse_hhmm(field: &str, s: &str) -> Result<i64, StoreError> {
    let bad = || StoreError::invalid(field, format!("{s:?} is not a time of day (HH:MM)"));
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || h * 60 + m > 1440 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub fn hhmm(min: i64) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

/// A calendar day, YYYY-MM-DD.
pub fn parse_day(field: &str, s: &str) -> Result<jiff::civil::Date, StoreError> {
    s.trim()
        .parse::<jiff::civil::Date>()
        .map_err(|_| StoreError::invalid(field, format!("{s:?} is not a date (YYYY-MM-DD)")))
}

#[cfg(test)]
mod tests;
