//! What is needed: stock against each model's threshold and targets, and
//! the purchase list as CSV.
//!
//! A (model, location) pair is looked at when the model has a target for
//! the location's kind, or has a reorder threshold and the location is a
//! warehouse. For it:
//! - on hand: [`State::on_hand`] (units, pieces, or millimetres on spools);
//! - reserved: what the caller holds back for planned jobs (0 if absent);
//! - available = on hand − reserved (may be negative: over-reserved);
//! - below threshold: at a warehouse, available < the model's reorder
//!   threshold (the threshold is a warehouse's; vans and sites have targets);
//! - to order = max(0, goal − available), the goal being the target, or
//!   (no target) at a warehouse below the threshold, the threshold itself.
//!
//! The locations are passed in (the store's list), so an empty van or
//! warehouse is looked at too. Needs are ordered by model id, then
//! location (kind, id).
//!
//! CSV (RFC 4180, CRLF line ends): a cell holding a comma, a quote, CR or
//! LF is quoted, its quotes doubled. A text cell starting with `=`, `+`,
//! `-`, `@`, a tab or CR is prefixed with `'` so a spreadsheet does not run
//! it as a formula; numbers are written as numbers.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::catalog::{ItemClass, Location, LocationKind, Model, ModelId};
use crate::state::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub model: ModelId,
    pub location: Location,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub threshold: Option<i64>,
    pub target: Option<i64>,
    pub below_threshold: bool,
    pub to_order: i64,
}

pub fn needs(
    state: &State,
    models: &[Model],
    locations: &[Location],
    reserved: &BTreeMap<(ModelId, Location), i64>,
) -> Vec<Need> {
    let on_hand = state.on_hand();
    let mut models: Vec<&Model> = models.iter().collect();
    models.sort_by_key(|m| m.id);
    let mut locations = locations.to_vec();
    locations.sort();
    locations.dedup();
    let mut out = Vec::new();
    for m in models {
        for &loc in &locations {
            let target = m.targets.get(&loc.kind).copied();
            let threshold = m.reorder_threshold.filter(|_| loc.kind == LocationKind::Warehouse);
            if target.is_none() && threshold.is_none() {
                continue;
            }
            let have = on_hand.get(&(loc, m.id)).copied().unwrap_or(0);
            let held = reserved.get(&(m.id, loc)).copied().unwrap_or(0);
            let available = have.saturating_sub(held);
            out.push(Need {
                model: m.id,
                location: loc,
                on_hand: have,
                reserved: held,
                available,
                threshold,
                target,
                below_threshold: threshold.is_some_and(|t| available < t),
                to_order: target
                    .or(threshold.filter(|t| available < *t))
                    .map_or(0, |goal| goal.saturating_sub(available).max(0)),
            });
        }
    }
    out
}

/// One CSV cell of text.
pub fn csv_cell(s: &str) -> String {
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The purchase list: the needs with something to order, one row each.
/// Cut-to-length quantities are rounded up to whole metres and costed per
/// metre. Needs whose model is not in `models` are left out.
pub fn purchase_csv(needs: &[Need], models: &[Model]) -> String {
    let by_id: HashMap<ModelId, &Model> = models.iter().map(|m| (m.id, m)).collect();
    let mut out = String::from(
        "vendor,model,kind,location_kind,location_id,on_hand,reserved,available,to_order,unit,unit_cost_minor,total_minor\r\n",
    );
    for n in needs.iter().filter(|n| n.to_order > 0) {
        let Some(m) = by_id.get(&n.model) else { continue };
        let (qty, unit) = match m.class {
            ItemClass::CutToLength => ((n.to_order + 999) / 1000, "m"),
            _ => (n.to_order, "pcs"),
        };
        let total = qty.checked_mul(m.unit_cost_minor).map_or(String::from("overflow"), |t| t.to_string());
        let cells = [
            csv_cell(&m.vendor),
            csv_cell(&m.name),
            csv_cell(&m.kind),
            n.location.kind.as_str().to_string(),
            n.location.id.to_string(),
            n.on_hand.to_string(),
            n.reserved.to_string(),
            n.available.to_string(),
            qty.to_string(),
            unit.to_string(),
            m.unit_cost_minor.to_string(),
            total,
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::UnitId;
    use crate::movement::{Item, Kind, Movement, NewUnit};

    fn model(id: i64, class: ItemClass, threshold: Option<i64>, targets: &[(LocationKind, i64)]) -> Model {
        Model {
            id: ModelId(id),
            vendor: "Ubiquiti, Inc.".into(),
            name: format!("=HYPERLINK(\"x\") {id}"),
            kind: "radio".into(),
            class,
            needs_mac: false,
            needs_serial: false,
            reorder_threshold: threshold,
            targets: targets.iter().copied().collect(),
            unit_cost_minor: 1_250,
        }
    }

    #[test]
    fn needs_compare_available_with_threshold_and_target() {
        let wh = Location::new(LocationKind::Warehouse, 1);
        let van = Location::new(LocationKind::Vehicle, 7);
        let site = Location::new(LocationKind::Site, 3);
        let mut s = State::new();
        let recv = |seq, item| Movement {
            seq,
            at_ms: 0,
            actor: "t".into(),
            kind: Kind::Receive { purchase_order: None, unit_cost_minor: 100 },
            from: None,
            to: wh,
            item,
            note: String::new(),
            automatic: false,
        };
        for i in 0..3 {
            let u = NewUnit { id: UnitId(i), model: ModelId(1), mac: None, serial: None, length_mm: None };
            s.apply(&recv(i as u64, Item::New(u))).unwrap();
        }
        s.apply(&recv(10, Item::Quantity { model: ModelId(2), quantity: 40 })).unwrap();
        let spool = NewUnit { id: UnitId(99), model: ModelId(3), mac: None, serial: None, length_mm: Some(120_500) };
        s.apply(&recv(11, Item::New(spool))).unwrap();
        let models = [
            model(2, ItemClass::Consumable, Some(50), &[(LocationKind::Warehouse, 100), (LocationKind::Vehicle, 10)]),
            model(1, ItemClass::Trackable, Some(5), &[(LocationKind::Warehouse, 10)]),
            model(3, ItemClass::CutToLength, None, &[(LocationKind::Warehouse, 305_000)]),
            model(4, ItemClass::Trackable, None, &[]),
            model(5, ItemClass::Trackable, Some(4), &[]),
        ];
        let reserved = BTreeMap::from([((ModelId(1), wh), 1), ((ModelId(2), van), 3)]);
        let n = needs(&s, &models, &[van, site, wh, wh], &reserved);
        let rows: Vec<(i64, Location, i64, i64, bool, i64)> =
            n.iter().map(|n| (n.model.0, n.location, n.on_hand, n.available, n.below_threshold, n.to_order)).collect();
        assert_eq!(
            rows,
            vec![
                (1, wh, 3, 2, true, 8),
                (2, wh, 40, 40, true, 60),
                (2, van, 0, -3, false, 13),
                (3, wh, 120_500, 120_500, false, 184_500),
                (5, wh, 0, 0, true, 4),
            ],
            "threshold alone only counts at warehouses (and, with no target, is the goal); \
             reserved beyond stock raises the order"
        );
        let csv = purchase_csv(&n, &models);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines.len(), 7, "{csv}");
        assert_eq!(
            lines[1],
            "\"Ubiquiti, Inc.\",\"'=HYPERLINK(\"\"x\"\") 1\",radio,warehouse,1,3,1,2,8,pcs,1250,10000"
        );
        assert!(lines[3].contains(",vehicle,7,0,3,-3,13,pcs,"), "{}", lines[3]);
        assert!(lines[4].ends_with(",185,m,1250,231250"), "cable rounded up to whole metres: {}", lines[4]);
    }

    #[test]
    fn csv_cells_are_escaped_and_guarded() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("=a,b"), "\"'=a,b\"");
        assert_eq!(csv_cell("a=b"), "a=b");
        assert_eq!(csv_cell(""), "");
    }
}
