//! Equipment inventory: owns the `stock_*` tables (migration 0029). The rules
//! are `mast-stock-core`'s: this store keeps the catalogue ([`models`]), the
//! locations ([`locations`]), the append-only movement log with the state it
//! derives, updated in the movement's own transaction ([`moves`]), the
//! purchase orders ([`orders`]), the reconciliation with what the agents see
//! ([`reconcile`]) and CSV import and export ([`csv`]).
//!
//! Builds on customers and sites (a customer's or a site's location) and
//! reads the monitoring inventory (the MACs the agents saw); nothing below
//! it imports it.

pub mod csv;
pub mod locations;
pub mod models;
pub mod moves;
pub mod orders;
pub mod reconcile;

pub use locations::LocationRow;
pub use models::{ModelInput, ModelRow};
pub use moves::{Batch, ItemInput, MovementRow, UnitRow};

use crate::StoreError;
use mast_stock_core::{Location, LocationKind};

/// A stored location kind as the core's.
pub(crate) fn kind_of(s: &str) -> Result<LocationKind, StoreError> {
    LocationKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("stock location kind {s:?}")))
}

/// A stored location as the core's.
pub(crate) fn core_location(kind: &str, id: i64) -> Result<Location, StoreError> {
    Ok(Location::new(kind_of(kind)?, id))
}

/// A one-line field: no control characters, at most `max` characters.
pub(crate) fn line(field: &str, v: &str, max: usize) -> Result<(), StoreError> {
    mast_text_core::input::line(v, max).map_err(|p| StoreError::invalid(field, p.to_string()))
}

/// A multi-line field (notes).
pub(crate) fn text(field: &str, v: &str, max: usize) -> Result<(), StoreError> {
    mast_text_core::input::text(v, max).map_err(|p| StoreError::invalid(field, p.to_string()))
}

/// The fixed locations (migration 0029).
pub const RMA: i64 = 1;
pub const RETIRED: i64 = 2;
pub const LOST: i64 = 3;

#[cfg(test)]
mod tests;
