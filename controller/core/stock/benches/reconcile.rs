//! Reconciliation of 20,000 units with 20,000 sightings, and the replay of
//! ~100,000 movements, against a 1 s ceiling. Run with
//! `cargo bench --bench reconcile` (release profile).

use std::time::{Duration, Instant};

use mast_stock_core::reconcile::{KnownUnit, Sighting, reconcile};
use mast_stock_core::{Item, Kind, Location, LocationKind, Mac, ModelId, Movement, NewUnit, State, UnitId};

const CEILING: Duration = Duration::from_secs(1);
const N: usize = 20_000;
const DAY: i64 = 86_400_000;

fn mac(i: usize) -> Mac {
    Mac::from_octets([2, 0x4d, (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8, i as u8]).unwrap()
}

/// A cheap deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn verdict(d: Duration) -> &'static str {
    if d < CEILING { "under" } else { "OVER" }
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = 400 * DAY;
    let kinds = LocationKind::ALL;
    let units: Vec<KnownUnit> = (0..N)
        .map(|i| {
            // Mostly installed at customers, some elsewhere.
            let kind = if rng.below(10) < 7 { LocationKind::Customer } else { kinds[rng.below(7) as usize] };
            KnownUnit {
                unit: UnitId(i as i64),
                mac: mac(i),
                model: ModelId(rng.below(20) as i64),
                location: Location::new(kind, i as i64),
                customer: (kind == LocationKind::Customer).then_some(i as i64),
                site: matches!(kind, LocationKind::Customer | LocationKind::Site).then(|| rng.below(200) as i64),
                since_ms: now - rng.below(30 * DAY as u64) as i64,
            }
        })
        .collect();
    // 18,000 of the units seen (most where recorded), 2,000 unknown MACs.
    let sightings: Vec<Sighting> = (0..N)
        .map(|i| {
            let idx = if i < 18_000 { i } else { N + i };
            let u = units.get(idx);
            let right = rng.below(10) < 8;
            Sighting {
                mac: mac(idx),
                site: u.and_then(|u| u.site).filter(|_| right).unwrap_or(rng.below(200) as i64),
                customer: u.and_then(|u| u.customer).filter(|_| right).or(Some(rng.below(30_000) as i64)),
                last_seen_ms: now - rng.below(3 * DAY as u64) as i64,
            }
        })
        .collect();
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..5 {
        let t = Instant::now();
        let r = reconcile(&units, &sightings, now, DAY);
        times.push(t.elapsed());
        report = Some(r);
    }
    let r = report.unwrap();
    let med = median(times.clone());
    println!(
        "reconcile: {N} units, {N} sightings: median of 5 {med:?} (runs {times:?}), {} the 1 s ceiling",
        verdict(med)
    );
    println!(
        "  ok {}, unknown {}, not_assigned {}, moved {}, auto_install {}, stale {}",
        r.ok.len(),
        r.unknown.len(),
        r.not_assigned.len(),
        r.moved.len(),
        r.auto_install.len(),
        r.stale.len()
    );

    // ~100,000 movements: 20,000 receives, then each unit assigned to a van,
    // installed, and a quarter returned and re-installed elsewhere; plus
    // consumables and cable cuts.
    let wh = Location::new(LocationKind::Warehouse, 1);
    let mut log = Vec::new();
    let mut seq = 0u64;
    let mut push = |kind: Kind, from: Option<Location>, to: Location, item: Item| {
        seq += 1;
        log.push(Movement {
            seq,
            at_ms: seq as i64 * 1000,
            actor: "bench".into(),
            kind,
            from,
            to,
            item,
            note: String::new(),
            automatic: false,
        });
    };
    let recv = Kind::Receive { purchase_order: Some(1), unit_cost_minor: 5_000 };
    for i in 0..N {
        let new = NewUnit { id: UnitId(i as i64), model: ModelId(1), mac: Some(mac(i)), serial: None, length_mm: None };
        push(recv.clone(), None, wh, Item::New(new));
    }
    push(recv.clone(), None, wh, Item::Quantity { model: ModelId(2), quantity: 1_000_000 });
    let spool = NewUnit { id: UnitId(-1), model: ModelId(3), mac: None, serial: None, length_mm: Some(1_000_000_000) };
    push(recv, None, wh, Item::New(spool));
    for i in 0..N {
        let van = Location::new(LocationKind::Vehicle, (i % 50) as i64);
        let cust = Location::new(LocationKind::Customer, i as i64);
        let u = Item::Unit { unit: UnitId(i as i64) };
        push(Kind::AssignToTechnician, Some(wh), van, u.clone());
        push(Kind::Install, Some(van), cust, u.clone());
        push(Kind::Install, Some(wh), cust, Item::Quantity { model: ModelId(2), quantity: 2 });
        push(Kind::Install, Some(wh), cust, Item::Cut { spool: UnitId(-1), length_mm: 12_500 });
        if i % 4 == 0 {
            push(Kind::Return, Some(cust), van, u.clone());
            push(Kind::Install, Some(van), Location::new(LocationKind::Customer, (N + i) as i64), u);
        }
    }
    let n = log.len();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = State::replay(&log).expect("a valid log");
        times.push(t.elapsed());
        assert_eq!(s.last_seq(), Some(n as u64));
    }
    let med = median(times.clone());
    println!("State::replay: {n} movements: median of 5 {med:?} (runs {times:?}), {} the 1 s ceiling", verdict(med));
}
