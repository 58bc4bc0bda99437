use proptest::prelude::*;

use super::*;
use LocationKind::*;

const MIN: i64 = 60_000;
const DAY: i64 = 24 * 60 * MIN;

fn mac(n: u16) -> Mac {
    Mac::from_octets([2, 0, 0, 0, (n >> 8) as u8, n as u8]).unwrap()
}

fn known(id: i64, m: u16, kind: LocationKind, customer: Option<i64>, site: Option<i64>) -> KnownUnit {
    KnownUnit {
        unit: UnitId(id),
        mac: mac(m),
        model: ModelId(1),
        location: Location::new(kind, id * 10),
        customer,
        site,
        since_ms: 0,
    }
}

fn seen(m: u16, site: i64, customer: Option<i64>, last_seen_ms: i64) -> Sighting {
    Sighting { mac: mac(m), site, customer, last_seen_ms }
}

#[test]
fn each_case_lands_in_its_list() {
    let now = 100 * DAY;
    let units = [
        known(1, 1, Customer, Some(500), Some(7)), // seen right: ok
        known(2, 2, Customer, Some(501), Some(7)), // seen at another customer: moved
        known(3, 3, Customer, Some(502), Some(7)), // never seen: stale
        known(4, 4, Customer, Some(503), Some(7)), // seen 2 days ago: stale, and ok
        known(5, 5, Warehouse, None, None),        // on the air: not assigned
        known(6, 6, Vehicle, None, None),          // seen serving 600: auto-install
        known(7, 7, Vehicle, None, None),          // seen at a site, no customer: moved
        known(8, 8, Site, None, Some(9)),          // seen at site 8: moved
        known(9, 9, Site, None, Some(9)),          // seen at its site: ok
        known(10, 10, Retired, None, None),        // old sighting: ok
        KnownUnit { since_ms: now - MIN, ..known(11, 11, Vehicle, None, None) }, // seen before it came back: ok
    ];
    let sightings = [
        seen(1, 7, Some(500), now - MIN),
        seen(2, 7, Some(999), now - MIN),
        seen(4, 7, Some(503), now - 2 * DAY),
        seen(5, 7, None, now),
        seen(6, 7, Some(600), now - 5 * MIN),
        seen(6, 3, None, now - 10 * MIN), // older sighting of the same MAC: ignored
        seen(7, 3, None, now),
        seen(8, 8, None, now),
        seen(9, 9, None, now),
        seen(10, 9, None, now - 30 * DAY),
        seen(11, 7, Some(601), now - 2 * MIN),
        seen(77, 7, Some(700), now),
    ];
    let r = reconcile(&units, &sightings, now, DAY);
    assert_eq!(r.ok, vec![UnitId(1), UnitId(4), UnitId(9), UnitId(10), UnitId(11)]);
    assert_eq!(r.unknown.iter().map(|s| s.mac).collect::<Vec<_>>(), vec![mac(77)]);
    assert_eq!(r.not_assigned.iter().map(|f| f.unit.unit).collect::<Vec<_>>(), vec![UnitId(5)]);
    assert_eq!(r.moved.iter().map(|f| f.unit.unit).collect::<Vec<_>>(), vec![UnitId(2), UnitId(7), UnitId(8)]);
    assert_eq!(
        r.stale.iter().map(|s| (s.unit.unit, s.last_seen_ms)).collect::<Vec<_>>(),
        vec![(UnitId(3), None), (UnitId(4), Some(now - 2 * DAY))]
    );
    assert_eq!(
        r.auto_install,
        vec![AutoInstall {
            unit: UnitId(6),
            from: Location::new(Vehicle, 60),
            customer: 600,
            site: 7,
            seen_ms: now - 5 * MIN
        }]
    );
    let m = r.auto_install[0].movement(Location::new(Customer, 6000), 42, now);
    assert!(m.automatic && m.kind == Kind::Install && m.from == Some(Location::new(Vehicle, 60)));
    assert_eq!((m.seq, m.to, m.item.clone()), (42, Location::new(Customer, 6000), Item::Unit { unit: UnitId(6) }));
}

#[test]
fn the_automatic_install_is_a_valid_movement() {
    use crate::movement::NewUnit;
    use crate::state::State;
    let van = Location::new(Vehicle, 60);
    let wh = Location::new(Warehouse, 1);
    let mut s = State::new();
    let new = NewUnit { id: UnitId(6), model: ModelId(1), mac: Some(mac(6)), serial: None, length_mm: None };
    let base = AutoInstall { unit: UnitId(6), from: wh, customer: 0, site: 0, seen_ms: 0 }.movement(wh, 1, 0);
    s.apply(&Movement {
        kind: Kind::Receive { purchase_order: None, unit_cost_minor: 0 },
        from: None,
        item: Item::New(new),
        ..base.clone()
    })
    .unwrap();
    s.apply(&Movement { seq: 2, kind: Kind::AssignToTechnician, from: Some(wh), to: van, ..base }).unwrap();
    let u = KnownUnit {
        unit: UnitId(6),
        mac: mac(6),
        model: ModelId(1),
        location: van,
        customer: None,
        site: None,
        since_ms: 0,
    };
    let r = reconcile(&[u], &[seen(6, 7, Some(600), 0)], 0, DAY);
    s.apply(&r.auto_install[0].movement(Location::new(Customer, 6000), 3, 0)).unwrap();
    assert_eq!(s.where_is(UnitId(6)), Some(Location::new(Customer, 6000)));
}

/// Brute force: for each MAC, scan everything.
fn oracle(units: &[KnownUnit], sightings: &[Sighting], now: i64, stale_after: i64) -> Report {
    let mut r = Report::default();
    let mut macs: Vec<Mac> = sightings.iter().map(|s| s.mac).collect();
    macs.sort();
    macs.dedup();
    let owner = |m: Mac| units.iter().filter(|u| u.mac == m).min_by_key(|u| u.unit);
    let last = |m: Mac| {
        let mut v: Vec<&Sighting> = sightings.iter().filter(|s| s.mac == m).collect();
        v.sort_by_key(|s| (-s.last_seen_ms, s.site, s.customer));
        v.first().copied()
    };
    for m in macs {
        let s = last(m).unwrap();
        let Some(u) = owner(m) else {
            r.unknown.push(*s);
            continue;
        };
        if now - s.last_seen_ms > stale_after || s.last_seen_ms < u.since_ms {
            r.ok.push(u.unit);
            continue;
        }
        let f = Finding { unit: *u, seen: *s };
        match u.location.kind {
            Warehouse | Rma | Retired | Lost => r.not_assigned.push(f),
            Vehicle => match s.customer {
                Some(c) => r.auto_install.push(AutoInstall {
                    unit: u.unit,
                    from: u.location,
                    customer: c,
                    site: s.site,
                    seen_ms: s.last_seen_ms,
                }),
                None => r.moved.push(f),
            },
            Customer => {
                let site_ok = u.site.is_none() || u.site == Some(s.site);
                let cust_ok = u.customer.is_none() || s.customer.is_none() || u.customer == s.customer;
                if site_ok && cust_ok { r.ok.push(u.unit) } else { r.moved.push(f) }
            }
            Site => {
                if (u.site.is_none() || u.site == Some(s.site)) && s.customer.is_none() {
                    r.ok.push(u.unit)
                } else {
                    r.moved.push(f)
                }
            }
        }
    }
    for u in units {
        if u.location.kind == Customer && owner(u.mac).map(|o| o.unit) == Some(u.unit) {
            let s = last(u.mac);
            if s.is_none_or(|s| now - s.last_seen_ms > stale_after) {
                r.stale.push(Stale { unit: *u, last_seen_ms: s.map(|s| s.last_seen_ms) });
            }
        }
    }
    r.ok.sort();
    r.not_assigned.sort_by_key(|f| f.unit.unit);
    r.moved.sort_by_key(|f| f.unit.unit);
    r.auto_install.sort_by_key(|a| a.unit);
    r.stale.sort_by_key(|s| s.unit.unit);
    r
}

fn unit_strategy() -> impl Strategy<Value = KnownUnit> {
    (
        0i64..40,
        0u16..30,
        proptest::sample::select(LocationKind::ALL.to_vec()),
        proptest::option::of(0i64..4),
        proptest::option::of(0i64..4),
        800i64..1_000,
    )
        .prop_map(|(id, m, kind, c, s, since_ms)| KnownUnit { since_ms, ..known(id, m, kind, c, s) })
}

fn sighting_strategy() -> impl Strategy<Value = Sighting> {
    (0u16..40, 0i64..4, proptest::option::of(0i64..4), 0i64..20)
        .prop_map(|(m, site, c, ago)| seen(m, site, c, 1_000 - ago * 10))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The report equals the brute-force oracle's; every seen MAC is in
    /// exactly one of ok (through its unit), unknown, not_assigned, moved,
    /// auto_install; every unit installed at a customer without a recent
    /// sighting is stale.
    #[test]
    fn reconcile_matches_brute_force(
        units in proptest::collection::vec(unit_strategy(), 0..40),
        sightings in proptest::collection::vec(sighting_strategy(), 0..50),
        stale_after in 0i64..200,
    ) {
        // Unit ids unique (the store's primary key); MACs may repeat.
        let units: Vec<KnownUnit> =
            units.into_iter().enumerate().map(|(i, u)| KnownUnit { unit: UnitId(i as i64), ..u }).collect();
        let now = 1_000;
        let r = reconcile(&units, &sightings, now, stale_after);
        prop_assert_eq!(&r, &oracle(&units, &sightings, now, stale_after));
        // The partition of seen MACs.
        let mac_of = |id: UnitId| units[id.0 as usize].mac;
        let mut landed: Vec<Mac> = r.unknown.iter().map(|s| s.mac)
            .chain(r.not_assigned.iter().chain(&r.moved).map(|f| f.unit.mac))
            .chain(r.auto_install.iter().map(|a| mac_of(a.unit)))
            .chain(r.ok.iter().map(|id| mac_of(*id)))
            .collect();
        landed.sort();
        let mut seen_macs: Vec<Mac> = sightings.iter().map(|s| s.mac).collect();
        seen_macs.sort();
        seen_macs.dedup();
        prop_assert_eq!(landed, seen_macs, "each seen MAC in exactly one list");
        for s in &r.stale {
            prop_assert_eq!(s.unit.location.kind, Customer);
        }
    }
}
