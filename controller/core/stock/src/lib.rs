//! Equipment inventory rules, pure core: what a WISP owns, where each piece
//! is, what to order, and how the inventory compares with what the network
//! sees, decided without IO, without a clock (every instant is an argument)
//! and without a database. The store keeps the append-only movement log and
//! the purchase orders, and asks this crate what they mean.
//!
//! - [`amount`]: money and lengths as typed and printed (integer, exact).
//! - [`id`]: MAC addresses and serial numbers as typed or scanned, checked
//!   and normalised.
//! - [`catalog`]: models (trackable, consumable, cut-to-length), locations
//!   and their kinds. Money is integer minor units, lengths integer
//!   millimetres: no floats.
//! - [`movement`]: the log's entries (Receive, Move, AssignToTechnician,
//!   Install, Return, SendToRma, BackFromRma, Retire, MarkLost, Found) and
//!   the routes each may take.
//! - [`state`]: the state the log derives ([`State::replay`],
//!   [`State::apply`]) with its invariants: a unit is at exactly one
//!   location, MACs and serials are unique, quantities never go negative,
//!   cable lengths are conserved, a refused movement changes nothing; and
//!   its queries (where is a unit, what is at a location, counts).
//! - [`needs`]: stock against thresholds and targets, and the purchase
//!   list as CSV safe to open in a spreadsheet.
//! - [`order`]: the purchase order state machine.
//! - [`reconcile`]: inventory against network sightings: unknown MACs,
//!   units on the air that should be on a shelf, units that moved, silent
//!   installs, and the automatic Install of a unit seen at a customer.

pub mod amount;
pub mod catalog;
pub mod id;
pub mod movement;
pub mod needs;
pub mod order;
pub mod reconcile;
pub mod state;

pub use catalog::{ItemClass, Location, LocationKind, Model, ModelId, UnitId};
pub use id::{IdError, Mac, Serial};
pub use movement::{Item, Kind, MoveError, Movement, NewUnit};
pub use state::{State, may_delete};
