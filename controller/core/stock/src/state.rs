//! The state the movement log derives, and the checks each movement must pass.
//!
//! A movement is applied whole or not at all (a refused one changes nothing):
//! - sequence numbers strictly increase;
//! - the route and the item are allowed for the kind ([`crate::movement`]);
//! - a unit is at exactly one location: a movement's `from` must be where it
//!   is; receiving a unit id already known is refused, and so is a MAC or a
//!   serial number another unit (in any location, retired ones included)
//!   already has;
//! - a consumable's quantity per (model, location) never goes below zero,
//!   and moved quantities are more than zero;
//! - a spool's remaining length never goes below zero: a cut is more than
//!   zero and at most what is left, taken where the spool is. Metres are
//!   conserved per model: received = remaining on spools + delivered (cut to
//!   a customer or a site) + scrapped (cut to Retired or Lost);
//! - an RMA carries the vendor's RMA number; receive costs are not negative.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::catalog::{Location, LocationKind, ModelId, UnitId};
use crate::id::{Mac, Serial};
use crate::movement::{Item, Kind, MoveError, Movement};

/// A unit's record as derived from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub id: UnitId,
    pub model: ModelId,
    pub mac: Option<Mac>,
    pub serial: Option<Serial>,
    pub at: Location,
    /// What is left on a spool; `None` for a trackable unit.
    pub remaining_mm: Option<i64>,
    pub unit_cost_minor: i64,
    pub purchase_order: Option<i64>,
}

/// What is at a location.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contents {
    /// Units and spools, by id.
    pub units: Vec<UnitId>,
    /// Consumables, by model.
    pub quantities: Vec<(ModelId, i64)>,
    /// Lengths cut to here (installed cable, or scrap), by model.
    pub cut_mm: Vec<(ModelId, i64)>,
}

impl Contents {
    pub fn is_empty(&self) -> bool {
        self.units.is_empty() && self.quantities.is_empty() && self.cut_mm.is_empty()
    }
}

/// Stock of one model in locations of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stock {
    /// Trackable units and spools.
    pub units: i64,
    /// Consumable pieces.
    pub quantity: i64,
    /// Remaining on spools there plus cut to there.
    pub length_mm: i64,
}

/// A cut-to-length model's metres, which always add up:
/// `received_mm == remaining_mm + delivered_mm + scrapped_mm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CutTotals {
    pub received_mm: i64,
    pub remaining_mm: i64,
    pub delivered_mm: i64,
    pub scrapped_mm: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    units: HashMap<UnitId, Unit>,
    by_mac: HashMap<Mac, UnitId>,
    by_serial: HashMap<Serial, UnitId>,
    placed: BTreeMap<Location, BTreeSet<UnitId>>,
    /// Consumables on hand, never zero or below (a zero entry is removed).
    quantities: BTreeMap<(Location, ModelId), i64>,
    /// Lengths cut to a location, by model.
    cut: BTreeMap<(Location, ModelId), i64>,
    /// Lengths received on spools, by model.
    spooled: BTreeMap<ModelId, i64>,
    last_seq: Option<u64>,
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    /// A part of the state, as a store holds it between movements: the
    /// units (with where each is) and the consumable quantities a batch of
    /// movements touches, after the log's movement `last_seq`. Checking and
    /// applying the batch on it decides exactly as on the whole state
    /// provided it holds every unit the batch names, every unit that has a
    /// MAC or serial number the batch receives, and the quantities at the
    /// batch's `from` locations (property-tested). Cut totals are not
    /// resumed: ask the whole state for them.
    pub fn resume(last_seq: Option<u64>, units: Vec<Unit>, quantities: Vec<((Location, ModelId), i64)>) -> State {
        let mut s = State { last_seq, ..State::default() };
        for u in units {
            if let Some(mac) = u.mac {
                s.by_mac.insert(mac, u.id);
            }
            if let Some(serial) = &u.serial {
                s.by_serial.insert(serial.clone(), u.id);
            }
            s.placed.entry(u.at).or_default().insert(u.id);
            s.units.insert(u.id, u);
        }
        for (k, q) in quantities.into_iter().filter(|(_, q)| *q > 0) {
            s.quantities.insert(k, q);
        }
        s
    }

    /// The state after a whole log, or the index of the first movement
    /// refused and why.
    pub fn replay(log: &[Movement]) -> Result<State, (usize, MoveError)> {
        let mut s = State::new();
        for (i, m) in log.iter().enumerate() {
            s.apply(m).map_err(|e| (i, e))?;
        }
        Ok(s)
    }

    /// Applies one movement, or refuses it and changes nothing.
    pub fn apply(&mut self, m: &Movement) -> Result<(), MoveError> {
        self.check(m)?;
        self.commit(m);
        Ok(())
    }

    /// Every check, no change.
    pub fn check(&self, m: &Movement) -> Result<(), MoveError> {
        if let Some(last) = self.last_seq.filter(|l| m.seq <= *l) {
            return Err(MoveError::Sequence { seq: m.seq, last });
        }
        let kind = m.kind.as_str();
        if !m.kind.allows(m.from.map(|f| f.kind), m.to.kind) {
            return Err(MoveError::Route { kind, from: m.from.map(|f| f.kind), to: m.to.kind });
        }
        if !m.kind.carries(&m.item) {
            return Err(MoveError::Carries { kind, item: m.item.as_str() });
        }
        match &m.kind {
            Kind::Receive { unit_cost_minor, .. } if *unit_cost_minor < 0 => {
                return Err(MoveError::NegativeCost(*unit_cost_minor));
            }
            Kind::SendToRma { rma_number } if rma_number.trim().is_empty() => return Err(MoveError::NoRmaNumber),
            _ => {}
        }
        // Past the route check, only a Receive has no `from`, and it carries
        // a new unit or a quantity.
        match &m.item {
            Item::New(u) => {
                if self.units.contains_key(&u.id) {
                    return Err(MoveError::UnitExists(u.id));
                }
                if let Some(mac) = u.mac
                    && let Some(unit) = self.by_mac.get(&mac)
                {
                    return Err(MoveError::DuplicateMac { mac, unit: *unit });
                }
                if let Some(serial) = &u.serial
                    && let Some(unit) = self.by_serial.get(serial)
                {
                    return Err(MoveError::DuplicateSerial { serial: serial.clone(), unit: *unit });
                }
                if let Some(l) = u.length_mm.filter(|l| *l <= 0) {
                    return Err(MoveError::NotPositive { what: "a spool's length", value: l });
                }
            }
            Item::Unit { unit } => {
                self.at_from(*unit, m.from)?;
            }
            Item::Quantity { model, quantity } => {
                if *quantity <= 0 {
                    return Err(MoveError::NotPositive { what: "a quantity", value: *quantity });
                }
                if let Some(from) = m.from {
                    let have = self.quantity(*model, from);
                    if have < *quantity {
                        return Err(MoveError::Insufficient { model: *model, at: from, have, want: *quantity });
                    }
                }
            }
            Item::Cut { spool, length_mm } => {
                let u = self.at_from(*spool, m.from)?;
                let remaining = u.remaining_mm.ok_or(MoveError::NotASpool(*spool))?;
                if *length_mm <= 0 {
                    return Err(MoveError::NotPositive { what: "a cut length", value: *length_mm });
                }
                if *length_mm > remaining {
                    return Err(MoveError::SpoolShort { spool: *spool, remaining_mm: remaining, want_mm: *length_mm });
                }
            }
        }
        Ok(())
    }

    /// The unit, if it is at `from`.
    fn at_from(&self, id: UnitId, from: Option<Location>) -> Result<&Unit, MoveError> {
        let u = self.units.get(&id).ok_or(MoveError::UnknownUnit(id))?;
        match from {
            Some(f) if f == u.at => Ok(u),
            Some(f) => Err(MoveError::NotThere { unit: id, at: u.at, from: f }),
            None => Err(MoveError::Route { kind: "movement", from: None, to: u.at.kind }),
        }
    }

    /// Applies a checked movement.
    fn commit(&mut self, m: &Movement) {
        self.last_seq = Some(m.seq);
        match &m.item {
            Item::New(n) => {
                let (purchase_order, unit_cost_minor) = match m.kind {
                    Kind::Receive { purchase_order, unit_cost_minor } => (purchase_order, unit_cost_minor),
                    _ => (None, 0),
                };
                if let Some(mac) = n.mac {
                    self.by_mac.insert(mac, n.id);
                }
                if let Some(s) = &n.serial {
                    self.by_serial.insert(s.clone(), n.id);
                }
                if let Some(l) = n.length_mm {
                    *self.spooled.entry(n.model).or_default() += l;
                }
                self.placed.entry(m.to).or_default().insert(n.id);
                let unit = Unit {
                    id: n.id,
                    model: n.model,
                    mac: n.mac,
                    serial: n.serial.clone(),
                    at: m.to,
                    remaining_mm: n.length_mm,
                    unit_cost_minor,
                    purchase_order,
                };
                self.units.insert(n.id, unit);
            }
            Item::Unit { unit } => {
                let u = self.units.get_mut(unit).expect("checked");
                let was = std::mem::replace(&mut u.at, m.to);
                if let Some(set) = self.placed.get_mut(&was) {
                    set.remove(unit);
                    if set.is_empty() {
                        self.placed.remove(&was);
                    }
                }
                self.placed.entry(m.to).or_default().insert(*unit);
            }
            Item::Quantity { model, quantity } => {
                if let Some(from) = m.from {
                    let q = self.quantities.get_mut(&(from, *model)).expect("checked");
                    *q -= quantity;
                    if *q == 0 {
                        self.quantities.remove(&(from, *model));
                    }
                }
                *self.quantities.entry((m.to, *model)).or_default() += quantity;
            }
            Item::Cut { spool, length_mm } => {
                let u = self.units.get_mut(spool).expect("checked");
                *u.remaining_mm.as_mut().expect("checked") -= length_mm;
                *self.cut.entry((m.to, u.model)).or_default() += length_mm;
            }
        }
    }

    /// Where a unit is.
    pub fn where_is(&self, unit: UnitId) -> Option<Location> {
        self.units.get(&unit).map(|u| u.at)
    }

    pub fn unit(&self, unit: UnitId) -> Option<&Unit> {
        self.units.get(&unit)
    }

    pub fn unit_by_mac(&self, mac: Mac) -> Option<&Unit> {
        self.by_mac.get(&mac).and_then(|id| self.units.get(id))
    }

    pub fn unit_by_serial(&self, serial: &Serial) -> Option<&Unit> {
        self.by_serial.get(serial).and_then(|id| self.units.get(id))
    }

    /// Every unit, by id.
    pub fn units(&self) -> Vec<&Unit> {
        let mut v: Vec<&Unit> = self.units.values().collect();
        v.sort_by_key(|u| u.id);
        v
    }

    /// A consumable's quantity at a location.
    pub fn quantity(&self, model: ModelId, at: Location) -> i64 {
        self.quantities.get(&(at, model)).copied().unwrap_or(0)
    }

    /// The last sequence number applied.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// What is at a location.
    pub fn at(&self, loc: Location) -> Contents {
        let range = (loc, ModelId(i64::MIN))..=(loc, ModelId(i64::MAX));
        Contents {
            units: self.placed.get(&loc).map(|s| s.iter().copied().collect()).unwrap_or_default(),
            quantities: self.quantities.range(range.clone()).map(|((_, m), q)| (*m, *q)).collect(),
            cut_mm: self.cut.range(range).map(|((_, m), l)| (*m, *l)).collect(),
        }
    }

    /// Stock per (model, location kind).
    pub fn counts(&self) -> BTreeMap<(ModelId, LocationKind), Stock> {
        let mut c: BTreeMap<(ModelId, LocationKind), Stock> = BTreeMap::new();
        for u in self.units.values() {
            let s = c.entry((u.model, u.at.kind)).or_default();
            s.units += 1;
            s.length_mm += u.remaining_mm.unwrap_or(0);
        }
        for ((loc, model), q) in &self.quantities {
            c.entry((*model, loc.kind)).or_default().quantity += q;
        }
        for ((loc, model), l) in &self.cut {
            c.entry((*model, loc.kind)).or_default().length_mm += l;
        }
        c
    }

    /// What can be handed out per (location, model): units for trackables,
    /// pieces for consumables, millimetres left on spools for cut-to-length
    /// (lengths already cut are not on hand).
    pub fn on_hand(&self) -> HashMap<(Location, ModelId), i64> {
        let mut h: HashMap<(Location, ModelId), i64> = HashMap::new();
        for u in self.units.values() {
            *h.entry((u.at, u.model)).or_default() += u.remaining_mm.unwrap_or(1);
        }
        for (k, q) in &self.quantities {
            *h.entry(*k).or_default() += q;
        }
        h
    }

    /// A cut-to-length model's metres.
    pub fn cut_totals(&self, model: ModelId) -> CutTotals {
        let mut t = CutTotals { received_mm: self.spooled.get(&model).copied().unwrap_or(0), ..CutTotals::default() };
        t.remaining_mm = self.units.values().filter(|u| u.model == model).filter_map(|u| u.remaining_mm).sum();
        for ((loc, m), l) in &self.cut {
            if *m == model {
                if loc.kind.is_terminal() {
                    t.scrapped_mm += l;
                } else {
                    t.delivered_mm += l;
                }
            }
        }
        t
    }
}

/// Whether a location may be deleted: only when it holds nothing (no unit,
/// no quantity, no length cut to it).
pub fn may_delete(state: &State, loc: Location) -> bool {
    state.at(loc).is_empty()
}

#[cfg(test)]
mod tests;
