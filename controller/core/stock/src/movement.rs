//! The movement log's entries and the routes each kind may take.
//!
//! Routes (`from` kind → `to` kind; `–` is "no from"):
//!
//! | kind | from | to |
//! | --- | --- | --- |
//! | Receive | – | Warehouse |
//! | Move | Warehouse, Vehicle, Site, Customer | the same kind as `from` |
//! | AssignToTechnician | Warehouse | Vehicle |
//! | Install | Warehouse, Vehicle | Customer, Site |
//! | Return | Customer, Site, Vehicle | Warehouse, Vehicle (not Vehicle → Vehicle: that is a Move) |
//! | SendToRma | Warehouse, Vehicle | Rma |
//! | BackFromRma | Rma | Warehouse |
//! | Retire | any but Retired, Lost | Retired |
//! | MarkLost | any but Retired, Lost | Lost |
//! | Found | Lost | Warehouse, Vehicle |
//!
//! So Retired is terminal and Lost is left only by Found.
//!
//! What moves ([`Item`]), by kind:
//! - a **new unit** (trackable unit or spool, with its MAC, serial and, for
//!   a spool, its length): Receive only;
//! - an existing **unit** (a trackable unit or a whole spool): every kind but
//!   Receive;
//! - a **quantity** of a consumable model: every kind but SendToRma and
//!   BackFromRma (the RMA process is for units);
//! - a **cut** of a spool: Install (the length is delivered to the customer
//!   or site), Retire and MarkLost (the length is scrapped). `from` is where
//!   the spool is, which stays there.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::{ItemClass, Location, LocationKind, Model, ModelId, UnitId};
use crate::id::{Mac, Serial};

/// What kind of movement, with what only that kind carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Kind {
    /// Into a warehouse from a supplier, at a unit cost (per unit, piece or
    /// metre), against a purchase order or not.
    Receive {
        purchase_order: Option<i64>,
        unit_cost_minor: i64,
    },
    Move,
    AssignToTechnician,
    Install,
    Return,
    SendToRma {
        rma_number: String,
    },
    BackFromRma,
    Retire,
    MarkLost,
    /// Back from Lost.
    Found,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Receive { .. } => "receive",
            Kind::Move => "move",
            Kind::AssignToTechnician => "assign-to-technician",
            Kind::Install => "install",
            Kind::Return => "return",
            Kind::SendToRma { .. } => "send-to-rma",
            Kind::BackFromRma => "back-from-rma",
            Kind::Retire => "retire",
            Kind::MarkLost => "mark-lost",
            Kind::Found => "found",
        }
    }

    /// Whether this kind may go from `from` to `to` (the module's table).
    pub fn allows(&self, from: Option<LocationKind>, to: LocationKind) -> bool {
        use LocationKind::*;
        let Some(from) = from else {
            return matches!((self, to), (Kind::Receive { .. }, Warehouse));
        };
        match self {
            Kind::Receive { .. } => false,
            Kind::Move => from == to && matches!(from, Warehouse | Vehicle | Site | Customer),
            Kind::AssignToTechnician => from == Warehouse && to == Vehicle,
            Kind::Install => from.is_stock() && to.is_installed(),
            Kind::Return => {
                matches!(from, Customer | Site | Vehicle) && to.is_stock() && (from, to) != (Vehicle, Vehicle)
            }
            Kind::SendToRma { .. } => from.is_stock() && to == Rma,
            Kind::BackFromRma => from == Rma && to == Warehouse,
            Kind::Retire => !from.is_terminal() && to == Retired,
            Kind::MarkLost => !from.is_terminal() && to == Lost,
            Kind::Found => from == Lost && to.is_stock(),
        }
    }

    /// Whether this kind may carry `item` (the module's list).
    pub fn carries(&self, item: &Item) -> bool {
        match item {
            Item::New(_) => matches!(self, Kind::Receive { .. }),
            Item::Unit { .. } => !matches!(self, Kind::Receive { .. }),
            Item::Quantity { .. } => !matches!(self, Kind::SendToRma { .. } | Kind::BackFromRma),
            Item::Cut { .. } => matches!(self, Kind::Install | Kind::Retire | Kind::MarkLost),
        }
    }
}

/// A unit as received: a trackable unit, or a spool with its length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUnit {
    pub id: UnitId,
    pub model: ModelId,
    pub mac: Option<Mac>,
    pub serial: Option<Serial>,
    /// A spool's length; `None` for a trackable unit.
    pub length_mm: Option<i64>,
}

/// What moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Item {
    New(NewUnit),
    Unit { unit: UnitId },
    Quantity { model: ModelId, quantity: i64 },
    Cut { spool: UnitId, length_mm: i64 },
}

impl Item {
    pub fn as_str(&self) -> &'static str {
        match self {
            Item::New(_) => "new unit",
            Item::Unit { .. } => "unit",
            Item::Quantity { .. } => "quantity",
            Item::Cut { .. } => "cut",
        }
    }
}

/// One entry of the append-only log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Strictly increasing along the log.
    pub seq: u64,
    pub at_ms: i64,
    /// Who made it (a user's login; "reconcile" for automatic ones).
    pub actor: String,
    pub kind: Kind,
    /// `None` only for Receive.
    pub from: Option<Location>,
    pub to: Location,
    pub item: Item,
    pub note: String,
    /// Made by the system (reconciliation), not by a person.
    pub automatic: bool,
}

/// Why a movement is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("sequence number {seq} does not follow {last}")]
    Sequence { seq: u64, last: u64 },
    #[error("{kind} from {} to {to} is not allowed", from.map_or("outside", |k| k.as_str()))]
    Route { kind: &'static str, from: Option<LocationKind>, to: LocationKind },
    #[error("{kind} of a {item} is not allowed")]
    Carries { kind: &'static str, item: &'static str },
    #[error("{0} is not known")]
    UnknownUnit(UnitId),
    #[error("{0} was already received")]
    UnitExists(UnitId),
    #[error("MAC address {mac} is already {unit}'s")]
    DuplicateMac { mac: Mac, unit: UnitId },
    #[error("serial number {serial} is already {unit}'s")]
    DuplicateSerial { serial: Serial, unit: UnitId },
    #[error("{unit} is at {at}, not at {from}")]
    NotThere { unit: UnitId, at: Location, from: Location },
    #[error("{model} at {at}: {have} on hand, {want} asked")]
    Insufficient { model: ModelId, at: Location, have: i64, want: i64 },
    #[error("{what} must be more than zero (got {value})")]
    NotPositive { what: &'static str, value: i64 },
    #[error("unit cost must not be negative (got {0})")]
    NegativeCost(i64),
    #[error("{0} is not a spool")]
    NotASpool(UnitId),
    #[error("spool {spool}: {remaining_mm} mm left, {want_mm} mm asked")]
    SpoolShort { spool: UnitId, remaining_mm: i64, want_mm: i64 },
    #[error("an RMA needs the vendor's RMA number")]
    NoRmaNumber,
    #[error("{model} is {class}: {why}")]
    Class { model: ModelId, class: &'static str, why: &'static str },
    #[error("{model} needs a {field} for each unit")]
    Missing { model: ModelId, field: &'static str },
    #[error("the movement is for {got}, the model given is {model}")]
    WrongModel { model: ModelId, got: ModelId },
}

/// Checks a movement's item against its model's catalogue entry (what the
/// state cannot know, as it holds no catalogue): a new unit's MAC, serial
/// and length, and that quantities are of consumables. The shell calls this
/// before appending a Receive or a quantity; other items pass.
pub fn check_model(model: &Model, item: &Item) -> Result<(), MoveError> {
    let class = |why| MoveError::Class { model: model.id, class: model.class.as_str(), why };
    match item {
        Item::New(u) => {
            if u.model != model.id {
                return Err(MoveError::WrongModel { model: model.id, got: u.model });
            }
            match model.class {
                ItemClass::Consumable => Err(class("received as a quantity, not as units")),
                ItemClass::CutToLength if u.length_mm.is_none() => Err(class("a spool needs its length")),
                ItemClass::Trackable if u.length_mm.is_some() => Err(class("a unit has no length")),
                _ if model.needs_mac && u.mac.is_none() => Err(MoveError::Missing { model: model.id, field: "MAC" }),
                _ if model.needs_serial && u.serial.is_none() => {
                    Err(MoveError::Missing { model: model.id, field: "serial number" })
                }
                _ => Ok(()),
            }
        }
        Item::Quantity { model: m, .. } if *m != model.id => Err(MoveError::WrongModel { model: model.id, got: *m }),
        Item::Quantity { .. } if model.class != ItemClass::Consumable => Err(class("counted in units, not quantities")),
        _ => Ok(()),
    }
}

impl fmt::Display for Movement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} of a {}", self.seq, self.kind.as_str(), self.item.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LocationKind::*;

    #[test]
    fn routes_follow_the_table() {
        let rma = Kind::SendToRma { rma_number: "R1".into() };
        let recv = Kind::Receive { purchase_order: None, unit_cost_minor: 0 };
        assert!(recv.allows(None, Warehouse));
        assert!(!recv.allows(None, Vehicle) && !recv.allows(Some(Warehouse), Warehouse));
        assert!(!Kind::Move.allows(None, Warehouse), "only a receive comes from outside");
        assert!(Kind::Move.allows(Some(Site), Site) && !Kind::Move.allows(Some(Warehouse), Vehicle));
        assert!(!Kind::Move.allows(Some(Lost), Lost) && !Kind::Move.allows(Some(Rma), Rma));
        assert!(Kind::Install.allows(Some(Vehicle), Customer) && !Kind::Install.allows(Some(Rma), Customer));
        assert!(Kind::Return.allows(Some(Customer), Vehicle) && !Kind::Return.allows(Some(Vehicle), Vehicle));
        assert!(rma.allows(Some(Vehicle), Rma) && !rma.allows(Some(Customer), Rma));
        assert!(Kind::BackFromRma.allows(Some(Rma), Warehouse) && !Kind::BackFromRma.allows(Some(Rma), Vehicle));
        for k in LocationKind::ALL {
            // Retired is terminal, Lost only left by Found.
            let kinds = [&recv, &Kind::Move, &Kind::AssignToTechnician, &Kind::Install, &Kind::Return, &rma];
            for kind in kinds.into_iter().chain([&Kind::BackFromRma, &Kind::Retire, &Kind::MarkLost]) {
                assert!(!kind.allows(Some(Retired), k) && !kind.allows(Some(Lost), k), "{kind:?} {k}");
            }
            assert!(!Kind::Found.allows(Some(Retired), k));
        }
        assert!(Kind::Found.allows(Some(Lost), Warehouse) && !Kind::Found.allows(Some(Lost), Customer));
    }

    #[test]
    fn route_errors_read_well() {
        let e = MoveError::Route { kind: "install", from: Some(Rma), to: Customer };
        assert_eq!(e.to_string(), "install from rma to customer is not allowed");
        let e = MoveError::Route { kind: "move", from: None, to: Warehouse };
        assert_eq!(e.to_string(), "move from outside to warehouse is not allowed");
        let e = MoveError::Carries { kind: "send-to-rma", item: "quantity" };
        assert_eq!(e.to_string(), "send-to-rma of a quantity is not allowed");
    }

    #[test]
    fn models_decide_what_a_unit_must_carry() {
        let mut m = Model {
            id: ModelId(1),
            vendor: "V".into(),
            name: "N".into(),
            kind: "radio".into(),
            class: ItemClass::Trackable,
            needs_mac: true,
            needs_serial: true,
            reorder_threshold: None,
            targets: Default::default(),
            unit_cost_minor: 100,
        };
        let mut u = NewUnit { id: UnitId(1), model: ModelId(1), mac: None, serial: None, length_mm: None };
        assert_eq!(check_model(&m, &Item::New(u.clone())), Err(MoveError::Missing { model: ModelId(1), field: "MAC" }));
        u.mac = Some(Mac::parse("02:00:00:00:00:01").unwrap());
        assert!(check_model(&m, &Item::New(u.clone())).unwrap_err().to_string().contains("serial number"));
        u.serial = Some(Serial::parse("abc").unwrap());
        assert_eq!(check_model(&m, &Item::New(u.clone())), Ok(()));
        assert!(check_model(&m, &Item::Quantity { model: ModelId(1), quantity: 1 }).is_err());
        assert!(check_model(&m, &Item::Quantity { model: ModelId(2), quantity: 1 }).is_err());
        m.class = ItemClass::CutToLength;
        assert!(check_model(&m, &Item::New(u.clone())).is_err(), "a spool needs its length");
        u.length_mm = Some(305_000);
        assert_eq!(check_model(&m, &Item::New(u.clone())), Ok(()));
        m.class = ItemClass::Consumable;
        assert!(check_model(&m, &Item::New(u)).is_err());
        assert_eq!(check_model(&m, &Item::Quantity { model: ModelId(1), quantity: 1 }), Ok(()));
    }
}
