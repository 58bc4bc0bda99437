use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::movement::NewUnit;
use LocationKind::*;

const WH: Location = Location { kind: Warehouse, id: 1 };
const WH2: Location = Location { kind: Warehouse, id: 2 };
const VAN: Location = Location { kind: Vehicle, id: 10 };
const VAN2: Location = Location { kind: Vehicle, id: 11 };
const SITE: Location = Location { kind: Site, id: 20 };
const CUST: Location = Location { kind: Customer, id: 30 };
const CUST2: Location = Location { kind: Customer, id: 31 };
const RMA: Location = Location { kind: Rma, id: 40 };
const RETIRED: Location = Location { kind: Retired, id: 50 };
const LOST: Location = Location { kind: Lost, id: 60 };
const LOCATIONS: [Location; 10] = [WH, WH2, VAN, VAN2, SITE, CUST, CUST2, RMA, RETIRED, LOST];

const RADIO: ModelId = ModelId(1);
const CONNECTOR: ModelId = ModelId(2);
const CABLE: ModelId = ModelId(3);

fn mv(seq: u64, kind: Kind, from: Option<Location>, to: Location, item: Item) -> Movement {
    Movement {
        seq,
        at_ms: seq as i64 * 1000,
        actor: "tech".into(),
        kind,
        from,
        to,
        item,
        note: String::new(),
        automatic: false,
    }
}

fn receive() -> Kind {
    Kind::Receive { purchase_order: Some(7), unit_cost_minor: 8_900 }
}

fn mac(n: u8) -> Mac {
    Mac::from_octets([2, 0, 0, 0, 0, n]).unwrap()
}

fn serial(n: u8) -> Serial {
    Serial::parse(&format!("SN{n:03}")).unwrap()
}

fn radio(id: i64, m: Option<u8>, s: Option<u8>) -> Item {
    Item::New(NewUnit { id: UnitId(id), model: RADIO, mac: m.map(mac), serial: s.map(serial), length_mm: None })
}

fn unit(id: i64) -> Item {
    Item::Unit { unit: UnitId(id) }
}

#[test]
fn a_radio_from_the_warehouse_to_a_customer_and_back_through_rma() {
    let mut s = State::new();
    s.apply(&mv(1, receive(), None, WH, radio(1, Some(1), Some(1)))).unwrap();
    assert_eq!(s.where_is(UnitId(1)), Some(WH));
    assert_eq!(s.unit(UnitId(1)).unwrap().purchase_order, Some(7));
    s.apply(&mv(2, Kind::AssignToTechnician, Some(WH), VAN, unit(1))).unwrap();
    assert_eq!(
        s.apply(&mv(3, Kind::Install, Some(WH), CUST, unit(1))),
        Err(MoveError::NotThere { unit: UnitId(1), at: VAN, from: WH })
    );
    s.apply(&mv(3, Kind::Install, Some(VAN), CUST, unit(1))).unwrap();
    assert_eq!(s.at(CUST).units, vec![UnitId(1)]);
    assert!(s.at(VAN).is_empty());
    assert!(!may_delete(&s, CUST) && may_delete(&s, VAN));
    assert!(
        matches!(
            s.apply(&mv(4, Kind::SendToRma { rma_number: "R-9".into() }, Some(CUST), RMA, unit(1))),
            Err(MoveError::Route { .. })
        ),
        "an RMA goes from stock"
    );
    s.apply(&mv(4, Kind::Return, Some(CUST), WH, unit(1))).unwrap();
    assert_eq!(
        s.apply(&mv(5, Kind::SendToRma { rma_number: " ".into() }, Some(WH), RMA, unit(1))),
        Err(MoveError::NoRmaNumber)
    );
    s.apply(&mv(5, Kind::SendToRma { rma_number: "R-9".into() }, Some(WH), RMA, unit(1))).unwrap();
    assert!(s.apply(&mv(6, Kind::BackFromRma, Some(RMA), VAN, unit(1))).is_err(), "back into a warehouse");
    s.apply(&mv(6, Kind::BackFromRma, Some(RMA), WH2, unit(1))).unwrap();
    s.apply(&mv(7, Kind::MarkLost, Some(WH2), LOST, unit(1))).unwrap();
    assert!(s.apply(&mv(8, Kind::Return, Some(LOST), WH, unit(1))).is_err(), "lost is left only by Found");
    s.apply(&mv(8, Kind::Found, Some(LOST), WH, unit(1))).unwrap();
    s.apply(&mv(9, Kind::Retire, Some(WH), RETIRED, unit(1))).unwrap();
    for (k, to) in [(Kind::Found, WH), (Kind::Return, WH), (Kind::MarkLost, LOST), (Kind::Move, RETIRED)] {
        assert!(s.apply(&mv(10, k, Some(RETIRED), to, unit(1))).is_err(), "retired is terminal");
    }
    assert_eq!(s.last_seq(), Some(9));
}

#[test]
fn identities_are_unique() {
    let mut s = State::new();
    s.apply(&mv(1, receive(), None, WH, radio(1, Some(1), Some(1)))).unwrap();
    s.apply(&mv(2, Kind::Retire, Some(WH), RETIRED, unit(1))).unwrap();
    assert_eq!(s.apply(&mv(3, receive(), None, WH, radio(1, None, None))), Err(MoveError::UnitExists(UnitId(1))));
    assert_eq!(
        s.apply(&mv(3, receive(), None, WH, radio(2, Some(1), None))),
        Err(MoveError::DuplicateMac { mac: mac(1), unit: UnitId(1) }),
        "a retired unit keeps its MAC"
    );
    assert_eq!(
        s.apply(&mv(3, receive(), None, WH, radio(2, Some(2), Some(1)))).unwrap_err().to_string(),
        "serial number SN001 is already unit 1's"
    );
    assert_eq!(
        s.apply(&mv(2, receive(), None, WH, radio(2, None, None))),
        Err(MoveError::Sequence { seq: 2, last: 2 })
    );
    s.apply(&mv(3, receive(), None, WH, radio(2, Some(2), Some(2)))).unwrap();
    assert_eq!(s.unit_by_mac(mac(2)).map(|u| u.id), Some(UnitId(2)));
    assert_eq!(s.unit_by_serial(&serial(1)).map(|u| u.id), Some(UnitId(1)));
    assert!(
        s.apply(&mv(4, Kind::Receive { purchase_order: None, unit_cost_minor: -1 }, None, WH, radio(3, None, None)))
            .is_err()
    );
    assert!(s.apply(&mv(4, receive(), None, VAN, radio(3, None, None))).is_err(), "receiving is into a warehouse");
    assert!(s.apply(&mv(4, Kind::Install, Some(WH), CUST, radio(3, None, None))).is_err(), "new units are received");
}

#[test]
fn quantities_never_go_negative() {
    let mut s = State::new();
    let q = |n| Item::Quantity { model: CONNECTOR, quantity: n };
    s.apply(&mv(1, receive(), None, WH, q(50))).unwrap();
    s.apply(&mv(2, Kind::AssignToTechnician, Some(WH), VAN, q(20))).unwrap();
    assert_eq!(
        s.apply(&mv(3, Kind::Install, Some(VAN), CUST, q(21))),
        Err(MoveError::Insufficient { model: CONNECTOR, at: VAN, have: 20, want: 21 })
    );
    assert!(s.apply(&mv(3, Kind::Install, Some(VAN), CUST, q(0))).is_err());
    assert!(s.apply(&mv(3, Kind::Install, Some(VAN), CUST, q(-1))).is_err());
    s.apply(&mv(3, Kind::Install, Some(VAN), CUST, q(20))).unwrap();
    assert_eq!((s.quantity(CONNECTOR, WH), s.quantity(CONNECTOR, VAN), s.quantity(CONNECTOR, CUST)), (30, 0, 20));
    assert!(may_delete(&s, VAN), "an emptied van holds nothing");
    assert!(s.apply(&mv(4, Kind::SendToRma { rma_number: "R".into() }, Some(WH), RMA, q(1))).is_err());
    assert_eq!(s.at(WH).quantities, vec![(CONNECTOR, 30)]);
    let c = s.counts();
    assert_eq!(c[&(CONNECTOR, Warehouse)].quantity, 30);
    assert_eq!(c[&(CONNECTOR, Customer)].quantity, 20);
}

#[test]
fn cable_is_cut_from_spools_and_adds_up() {
    let mut s = State::new();
    let spool = Item::New(NewUnit { id: UnitId(5), model: CABLE, mac: None, serial: None, length_mm: Some(305_000) });
    s.apply(&mv(1, receive(), None, WH, spool)).unwrap();
    s.apply(&mv(2, Kind::AssignToTechnician, Some(WH), VAN, unit(5))).unwrap();
    let cut = |n| Item::Cut { spool: UnitId(5), length_mm: n };
    assert!(s.apply(&mv(3, Kind::Install, Some(WH), CUST, cut(1000))).is_err(), "cut where the spool is");
    s.apply(&mv(3, Kind::Install, Some(VAN), CUST, cut(25_500))).unwrap();
    s.apply(&mv(4, Kind::Retire, Some(VAN), RETIRED, cut(500))).unwrap();
    assert_eq!(
        s.apply(&mv(5, Kind::Install, Some(VAN), SITE, cut(279_001))),
        Err(MoveError::SpoolShort { spool: UnitId(5), remaining_mm: 279_000, want_mm: 279_001 })
    );
    assert!(s.apply(&mv(5, Kind::Move, Some(VAN), VAN2, cut(1))).is_err(), "a cut is installed or scrapped");
    assert!(s.apply(&mv(5, Kind::Install, Some(VAN), SITE, cut(0))).is_err());
    s.apply(&mv(5, Kind::Install, Some(VAN), SITE, cut(279_000))).unwrap();
    assert_eq!(s.unit(UnitId(5)).unwrap().remaining_mm, Some(0));
    assert_eq!(
        s.cut_totals(CABLE),
        CutTotals { received_mm: 305_000, remaining_mm: 0, delivered_mm: 304_500, scrapped_mm: 500 }
    );
    assert_eq!(s.at(CUST).cut_mm, vec![(CABLE, 25_500)]);
    assert!(!may_delete(&s, CUST), "installed cable is held there");
    s.apply(&mv(1, receive(), None, WH, radio(1, None, None))).unwrap_err();
    s.apply(&mv(6, receive(), None, WH, radio(1, None, None))).unwrap();
    assert_eq!(
        s.apply(&mv(7, Kind::Install, Some(WH), CUST, Item::Cut { spool: UnitId(1), length_mm: 1 })),
        Err(MoveError::NotASpool(UnitId(1)))
    );
}

#[test]
fn replay_names_the_first_refused_movement() {
    let log = vec![
        mv(1, receive(), None, WH, radio(1, None, None)),
        mv(2, Kind::Install, Some(WH), CUST, unit(1)),
        mv(3, Kind::Install, Some(WH), CUST, unit(1)),
    ];
    assert_eq!(State::replay(&log[..2]).unwrap().where_is(UnitId(1)), Some(CUST));
    assert_eq!(State::replay(&log).unwrap_err().0, 2);
    let j = serde_json::to_string(&log).unwrap();
    assert_eq!(serde_json::from_str::<Vec<Movement>>(&j).unwrap(), log);
}

// ---- Property tests: random operations against a simple model ----

/// A random operation; turned into a movement against the current model so
/// most are valid (`exact` takes `from` from where things are).
#[derive(Debug, Clone)]
enum Op {
    Receive {
        unit: i64,
        mac: Option<u8>,
        serial: Option<u8>,
        spool_mm: Option<i64>,
        cost: i64,
        to: usize,
    },
    ReceiveQty {
        qty: i64,
        to: usize,
    },
    Unit {
        kind: usize,
        unit: i64,
        exact: bool,
        from: usize,
        to: usize,
    },
    Qty {
        kind: usize,
        exact: bool,
        from: usize,
        to: usize,
        qty: i64,
    },
    /// `to_end`: cut what is left plus this (−2..=1), to hit the boundary.
    Cut {
        kind: usize,
        spool: i64,
        exact: bool,
        from: usize,
        to: usize,
        mm: i64,
        to_end: Option<i64>,
    },
}

fn kinds(k: usize) -> Kind {
    match k % 11 {
        0 => Kind::Move,
        1 => Kind::AssignToTechnician,
        2 => Kind::Install,
        3 => Kind::Return,
        4 => Kind::SendToRma { rma_number: "R1".into() },
        5 => Kind::SendToRma { rma_number: String::new() },
        6 => Kind::BackFromRma,
        7 => Kind::Retire,
        8 => Kind::MarkLost,
        9 => Kind::Found,
        _ => Kind::Receive { purchase_order: None, unit_cost_minor: 1 },
    }
}

fn op() -> impl Strategy<Value = Op> {
    let loc = 0usize..LOCATIONS.len();
    prop_oneof![
        2 => (0i64..8, proptest::option::of(0u8..6), proptest::option::of(0u8..6), proptest::option::weighted(0.3, -10i64..3_000), -1i64..100, 0usize..3)
            .prop_map(|(unit, mac, serial, spool_mm, cost, to)| Op::Receive { unit, mac, serial, spool_mm, cost, to }),
        1 => (-2i64..30, 0usize..3).prop_map(|(qty, to)| Op::ReceiveQty { qty, to }),
        6 => (0usize..11, 0i64..9, proptest::bool::weighted(0.85), loc.clone(), loc.clone())
            .prop_map(|(kind, unit, exact, from, to)| Op::Unit { kind, unit, exact, from, to }),
        3 => (0usize..11, proptest::bool::weighted(0.85), loc.clone(), loc.clone(), -1i64..25)
            .prop_map(|(kind, exact, from, to, qty)| Op::Qty { kind, exact, from, to, qty }),
        3 => (0usize..11, 0i64..9, proptest::bool::weighted(0.85), loc.clone(), loc, -10i64..1_500, proptest::option::weighted(0.3, -2i64..=1))
            .prop_map(|(kind, spool, exact, from, to, mm, to_end)| Op::Cut { kind, spool, exact, from, to, mm, to_end }),
    ]
}

/// (location, mac, serial, remaining on a spool)
type OracleUnit = (Location, Option<Mac>, Option<Serial>, Option<i64>);

/// The oracle: plain maps, brute-force checks.
#[derive(Debug, Default, Clone)]
struct Oracle {
    /// unit → (location, mac, serial, remaining on a spool)
    units: BTreeMap<UnitId, OracleUnit>,
    qty: BTreeMap<Location, i64>,
    received_mm: i64,
    delivered_mm: i64,
    scrapped_mm: i64,
    last_seq: Option<u64>,
}

impl Oracle {
    fn movement(&self, op: &Op, seq: u64) -> Movement {
        let at = |u: i64, exact: bool, from: usize| {
            if exact { self.units.get(&UnitId(u)).map(|x| x.0).unwrap_or(LOCATIONS[from]) } else { LOCATIONS[from] }
        };
        // With `exact`, a destination the route table allows (if any).
        let dest = |kind: &Kind, from: Location, exact: bool, to: usize| {
            let ok: Vec<Location> =
                LOCATIONS.iter().copied().filter(|l| kind.allows(Some(from.kind), l.kind)).collect();
            if exact && !ok.is_empty() { ok[to % ok.len()] } else { LOCATIONS[to] }
        };
        // With `exact`, a kind that can leave `from` carrying `item`.
        let kind_for = |k: usize, from: Location, item: &Item, exact: bool| {
            let ok: Vec<Kind> = (0..11)
                .map(kinds)
                .filter(|kind| kind.carries(item) && LOCATIONS.iter().any(|l| kind.allows(Some(from.kind), l.kind)))
                .collect();
            if exact && !ok.is_empty() { ok[k % ok.len()].clone() } else { kinds(k) }
        };
        let stocked = |exact: bool, from: usize| {
            let held: Vec<Location> = self.qty.iter().filter(|(_, q)| **q > 0).map(|(l, _)| *l).collect();
            if exact && !held.is_empty() { held[from % held.len()] } else { LOCATIONS[from] }
        };
        match op.clone() {
            Op::Receive { unit, mac: m, serial: s, spool_mm, cost, to } => {
                let model = if spool_mm.is_some() { CABLE } else { RADIO };
                let item = Item::New(NewUnit {
                    id: UnitId(unit),
                    model,
                    mac: m.map(mac),
                    serial: s.map(serial),
                    length_mm: spool_mm,
                });
                let kind = Kind::Receive { purchase_order: None, unit_cost_minor: cost };
                mv(seq, kind, None, LOCATIONS[to], item)
            }
            Op::ReceiveQty { qty, to } => {
                mv(seq, receive(), None, LOCATIONS[to], Item::Quantity { model: CONNECTOR, quantity: qty })
            }
            Op::Unit { kind, unit: u, exact, from, to } => {
                let u = self.pick(u, exact, |_| true);
                let from = at(u, exact, from);
                let kind = kind_for(kind, from, &unit(u), exact);
                let to = dest(&kind, from, exact, to);
                mv(seq, kind, Some(from), to, unit(u))
            }
            Op::Qty { kind, exact, from, to, qty } => {
                let item = Item::Quantity { model: CONNECTOR, quantity: qty };
                let from = stocked(exact, from);
                let kind = kind_for(kind, from, &item, exact);
                let to = dest(&kind, from, exact, to);
                mv(seq, kind, Some(from), to, item)
            }
            Op::Cut { kind, spool, exact, from, to, mm, to_end } => {
                let spool = self.pick(spool, exact, |x| x.3.is_some());
                let left = self.units.get(&UnitId(spool)).and_then(|x| x.3);
                let mm = match (to_end, left) {
                    (Some(d), Some(l)) => l + d,
                    _ => mm,
                };
                let item = Item::Cut { spool: UnitId(spool), length_mm: mm };
                let from = at(spool, exact, from);
                let kind = kind_for(kind, from, &item, exact);
                let to = dest(&kind, from, exact, to);
                mv(seq, kind, Some(from), to, item)
            }
        }
    }

    /// With `exact`, the `n`th known unit that `fits` (if any), else `n`.
    fn pick(&self, n: i64, exact: bool, fits: impl Fn(&OracleUnit) -> bool) -> i64 {
        let ids: Vec<i64> = self.units.iter().filter(|(_, x)| fits(x)).map(|(id, _)| id.0).collect();
        if exact && !ids.is_empty() { ids[n as usize % ids.len()] } else { n }
    }

    /// Whether the movement is valid, decided independently of `State`
    /// (only the route table, `Kind::allows`/`carries`, is shared; it has
    /// its own unit test).
    fn accepts(&self, m: &Movement) -> bool {
        if self.last_seq.is_some_and(|l| m.seq <= l) {
            return false;
        }
        if !m.kind.allows(m.from.map(|f| f.kind), m.to.kind) || !m.kind.carries(&m.item) {
            return false;
        }
        match &m.kind {
            Kind::Receive { unit_cost_minor, .. } if *unit_cost_minor < 0 => return false,
            Kind::SendToRma { rma_number } if rma_number.is_empty() => return false,
            _ => {}
        }
        match &m.item {
            Item::New(u) => {
                !self.units.contains_key(&u.id)
                    && !self.units.values().any(|x| u.mac.is_some() && x.1 == u.mac)
                    && !self.units.values().any(|x| u.serial.is_some() && x.2 == u.serial)
                    && u.length_mm.is_none_or(|l| l > 0)
            }
            Item::Unit { unit } => self.units.get(unit).is_some_and(|x| Some(x.0) == m.from),
            Item::Quantity { quantity, .. } => {
                *quantity > 0 && m.from.is_none_or(|f| self.qty.get(&f).copied().unwrap_or(0) >= *quantity)
            }
            Item::Cut { spool, length_mm } => self
                .units
                .get(spool)
                .is_some_and(|x| Some(x.0) == m.from && x.3.is_some_and(|r| *length_mm > 0 && *length_mm <= r)),
        }
    }

    fn apply(&mut self, m: &Movement) {
        self.last_seq = Some(m.seq);
        match &m.item {
            Item::New(u) => {
                self.units.insert(u.id, (m.to, u.mac, u.serial.clone(), u.length_mm));
                self.received_mm += u.length_mm.unwrap_or(0);
            }
            Item::Unit { unit } => self.units.get_mut(unit).unwrap().0 = m.to,
            Item::Quantity { quantity, .. } => {
                if let Some(f) = m.from {
                    *self.qty.get_mut(&f).unwrap() -= quantity;
                }
                *self.qty.entry(m.to).or_default() += quantity;
            }
            Item::Cut { spool, length_mm } => {
                *self.units.get_mut(spool).unwrap().3.as_mut().unwrap() -= length_mm;
                if m.to.kind.is_terminal() {
                    self.scrapped_mm += length_mm;
                } else {
                    self.delivered_mm += length_mm;
                }
            }
        }
    }
}

/// The state says what the oracle says, and its invariants hold.
fn agree(s: &State, o: &Oracle) -> Result<(), TestCaseError> {
    // Each unit at exactly one location, the oracle's.
    for (id, (loc, ..)) in &o.units {
        prop_assert_eq!(s.where_is(*id), Some(*loc));
        let holding: Vec<Location> = LOCATIONS.iter().copied().filter(|l| s.at(*l).units.contains(id)).collect();
        prop_assert_eq!(holding, vec![*loc], "{} is in exactly one place", id);
    }
    let placed: usize = LOCATIONS.iter().map(|l| s.at(*l).units.len()).sum();
    prop_assert_eq!(placed, o.units.len());
    prop_assert_eq!(s.units().len(), o.units.len());
    for l in LOCATIONS {
        let q = s.quantity(CONNECTOR, l);
        prop_assert!(q >= 0, "negative quantity at {}", l);
        prop_assert_eq!(q, o.qty.get(&l).copied().unwrap_or(0));
    }
    let t = s.cut_totals(CABLE);
    prop_assert_eq!(t.received_mm, t.remaining_mm + t.delivered_mm + t.scrapped_mm, "metres conserved");
    prop_assert_eq!(t.received_mm, o.received_mm);
    prop_assert_eq!((t.delivered_mm, t.scrapped_mm), (o.delivered_mm, o.scrapped_mm));
    prop_assert!(s.units().iter().all(|u| u.remaining_mm.is_none_or(|r| r >= 0)), "no spool below zero");
    let oracle_remaining: i64 = o.units.values().filter_map(|x| x.3).sum();
    prop_assert_eq!(t.remaining_mm, oracle_remaining);
    // Counts add up to the same stock.
    let c = s.counts();
    let units: i64 = c.values().map(|x| x.units).sum();
    prop_assert_eq!(units, o.units.len() as i64);
    let qty: i64 = c.values().map(|x| x.quantity).sum();
    prop_assert_eq!(qty, o.qty.values().sum::<i64>());
    for l in LOCATIONS {
        prop_assert_eq!(may_delete(s, l), s.at(l).is_empty());
    }
    Ok(())
}

/// What a store loads to check `m`: the units it names, the units holding
/// the MAC or serial it receives, the quantity at its `from`. On that part
/// the movement must be decided as on the whole state, and change the
/// touched unit and quantities alike.
fn resumed_agrees(s: &State, m: &Movement) -> Result<(), TestCaseError> {
    let mut units = Vec::new();
    let mut quantities = Vec::new();
    match &m.item {
        Item::New(n) => {
            units.extend(n.mac.and_then(|x| s.unit_by_mac(x)).cloned());
            units.extend(n.serial.as_ref().and_then(|x| s.unit_by_serial(x)).cloned());
            units.extend(s.unit(n.id).cloned());
        }
        Item::Unit { unit } | Item::Cut { spool: unit, .. } => units.extend(s.unit(*unit).cloned()),
        Item::Quantity { model, .. } => {
            if let Some(f) = m.from {
                quantities.push(((f, *model), s.quantity(*model, f)));
            }
        }
    }
    let mut part = State::resume(s.last_seq(), units, quantities);
    let mut whole = s.clone();
    let (a, b) = (whole.apply(m), part.apply(m));
    prop_assert_eq!(&a, &b, "the resumed state decides {:?} otherwise", m);
    if a.is_ok() {
        let touched = match &m.item {
            Item::New(n) => Some(n.id),
            Item::Unit { unit } | Item::Cut { spool: unit, .. } => Some(*unit),
            Item::Quantity { .. } => None,
        };
        if let Some(id) = touched {
            prop_assert_eq!(whole.unit(id), part.unit(id));
        }
        if let (Item::Quantity { model, .. }, Some(f)) = (&m.item, m.from) {
            prop_assert_eq!(part.quantity(*model, f), whole.quantity(*model, f));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random operations: `apply` accepts exactly what the oracle accepts,
    /// the state then matches the oracle (one location per unit, quantities,
    /// metres), a refused movement changes nothing, and replaying the
    /// accepted log gives the same state as applying it step by step.
    #[test]
    fn state_matches_the_oracle(ops in proptest::collection::vec((op(), proptest::bool::weighted(0.05)), 1..80)) {
        let mut s = State::new();
        let mut o = Oracle::default();
        let mut log = Vec::new();
        let mut seq = 0u64;
        let mut accepted = 0;
        for (op, stale_seq) in &ops {
            seq += 1;
            let m = o.movement(op, if *stale_seq { seq / 2 } else { seq });
            let want = o.accepts(&m);
            resumed_agrees(&s, &m)?;
            let before = s.clone();
            match s.apply(&m) {
                Ok(()) => {
                    prop_assert!(want, "accepted {:?} the oracle refuses", m);
                    o.apply(&m);
                    log.push(m);
                    accepted += 1;
                }
                Err(e) => {
                    prop_assert!(!want, "refused {:?}: {}", m, e);
                    prop_assert_eq!(&s, &before, "a refused movement changed the state");
                }
            }
            agree(&s, &o)?;
        }
        prop_assert_eq!(State::replay(&log).unwrap(), s);
        // Some runs must get somewhere, or the test tests nothing.
        prop_assume!(accepted > 0);
    }
}
