//! What equipment is (models and their item class) and where it can be
//! (locations and their kinds).
//!
//! - A **trackable** model's units are counted one by one, each with its own
//!   record (and a MAC and/or serial when the model says so).
//! - A **consumable** model is counted as a quantity per location (connectors,
//!   PoE injectors, cable ties).
//! - A **cut-to-length** model (cable) is stocked as spools: each spool is a
//!   unit with a remaining length; installing cuts a length off it. Lengths
//!   are integer **millimetres** (`_mm`), so no floats: 25.5 m is 25 500.
//!
//! Money is integer minor units (`_minor`, cents), never floats.
//!
//! A model's stock level (its reorder threshold and its targets per
//! location kind) is in its own unit: units for trackables, pieces for
//! consumables, millimetres for cut-to-length.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelId(pub i64);

/// One trackable unit or one spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnitId(pub i64);

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model {}", self.0)
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unit {}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemClass {
    Trackable,
    Consumable,
    CutToLength,
}

impl ItemClass {
    pub const ALL: [ItemClass; 3] = [ItemClass::Trackable, ItemClass::Consumable, ItemClass::CutToLength];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemClass::Trackable => "trackable",
            ItemClass::Consumable => "consumable",
            ItemClass::CutToLength => "cut-to-length",
        }
    }

    pub fn parse(s: &str) -> Option<ItemClass> {
        ItemClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A model of equipment in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    pub id: ModelId,
    pub vendor: String,
    pub name: String,
    /// Free text: "radio", "router", "cable", "connector".
    pub kind: String,
    pub class: ItemClass,
    /// Units must carry a MAC (trackable only).
    pub needs_mac: bool,
    /// Units must carry a serial number (trackable only).
    pub needs_serial: bool,
    /// Available stock below this at a warehouse is flagged.
    pub reorder_threshold: Option<i64>,
    /// Stock to hold at each location of a kind.
    pub targets: BTreeMap<LocationKind, i64>,
    /// Per unit, piece or metre (cut-to-length: per metre, i.e. per 1,000 mm).
    pub unit_cost_minor: i64,
}

/// Where things can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocationKind {
    Warehouse,
    /// A technician's vehicle.
    Vehicle,
    /// Installed at a tower.
    Site,
    /// Installed at a customer's premises.
    Customer,
    /// At the vendor for repair or replacement.
    Rma,
    Retired,
    Lost,
}

impl LocationKind {
    pub const ALL: [LocationKind; 7] = [
        LocationKind::Warehouse,
        LocationKind::Vehicle,
        LocationKind::Site,
        LocationKind::Customer,
        LocationKind::Rma,
        LocationKind::Retired,
        LocationKind::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::Warehouse => "warehouse",
            LocationKind::Vehicle => "vehicle",
            LocationKind::Site => "site",
            LocationKind::Customer => "customer",
            LocationKind::Rma => "rma",
            LocationKind::Retired => "retired",
            LocationKind::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<LocationKind> {
        LocationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Stock that can be handed out: a warehouse's or a vehicle's.
    pub fn is_stock(self) -> bool {
        matches!(self, LocationKind::Warehouse | LocationKind::Vehicle)
    }

    /// Installed: at a site or a customer.
    pub fn is_installed(self) -> bool {
        matches!(self, LocationKind::Site | LocationKind::Customer)
    }

    /// Nothing leaves it but by an explicit movement back ([`crate::Kind::Found`]
    /// from Lost; nothing from Retired).
    pub fn is_terminal(self) -> bool {
        matches!(self, LocationKind::Retired | LocationKind::Lost)
    }
}

impl fmt::Display for LocationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A location: an opaque id (the store's) and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    pub kind: LocationKind,
    pub id: i64,
}

impl Location {
    pub fn new(kind: LocationKind, id: i64) -> Location {
        Location { kind, id }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in LocationKind::ALL {
            assert_eq!(LocationKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
        for c in ItemClass::ALL {
            assert_eq!(ItemClass::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
        }
    }

    #[test]
    fn a_model_serialises_with_targets_by_kind() {
        let m = Model {
            id: ModelId(1),
            vendor: "Ubiquiti".into(),
            name: "LiteBeam 5AC".into(),
            kind: "radio".into(),
            class: ItemClass::Trackable,
            needs_mac: true,
            needs_serial: false,
            reorder_threshold: Some(5),
            targets: BTreeMap::from([(LocationKind::Warehouse, 20), (LocationKind::Vehicle, 2)]),
            unit_cost_minor: 8_900,
        };
        let j = serde_json::to_string(&m).unwrap();
        assert!(j.contains("\"targets\":{\"warehouse\":20,\"vehicle\":2}"), "{j}");
        assert_eq!(serde_json::from_str::<Model>(&j).unwrap(), m);
    }
}
