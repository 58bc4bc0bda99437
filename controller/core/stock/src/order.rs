//! Purchase orders: Draft → Ordered → PartlyReceived → Received, and
//! Cancelled from Draft or Ordered.
//!
//! Rules:
//! - lines (model, quantity > 0, unit cost ≥ 0) are added or removed only in
//!   Draft;
//! - Order needs at least one line;
//! - Receive takes a part or all of what is still due on one line (more
//!   than zero, never more than ordered) and only when Ordered or
//!   PartlyReceived; the order becomes Received when every line is
//!   complete, PartlyReceived before;
//! - Cancel from Draft or Ordered (once goods arrived, what came stays:
//!   the order is finished by receiving or stays partly received);
//! - Received and Cancelled are final.
//!
//! The goods themselves enter stock as Receive movements that name the
//! order; this module keeps the order's own counts.

use serde::{Deserialize, Serialize};

use crate::catalog::ModelId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PoStatus {
    Draft,
    Ordered,
    PartlyReceived,
    Received,
    Cancelled,
}

impl PoStatus {
    pub const ALL: [PoStatus; 5] =
        [PoStatus::Draft, PoStatus::Ordered, PoStatus::PartlyReceived, PoStatus::Received, PoStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            PoStatus::Draft => "draft",
            PoStatus::Ordered => "ordered",
            PoStatus::PartlyReceived => "partly-received",
            PoStatus::Received => "received",
            PoStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<PoStatus> {
        PoStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoLine {
    pub model: ModelId,
    pub quantity: i64,
    pub unit_cost_minor: i64,
    pub received: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrder {
    pub id: i64,
    pub supplier: String,
    pub status: PoStatus,
    pub lines: Vec<PoLine>,
}

impl PurchaseOrder {
    pub fn new(id: i64, supplier: &str) -> PurchaseOrder {
        PurchaseOrder { id, supplier: supplier.to_string(), status: PoStatus::Draft, lines: Vec::new() }
    }

    /// The order's value (minor units); `None` on overflow.
    pub fn total_minor(&self) -> Option<i64> {
        self.lines.iter().try_fold(0i64, |t, l| t.checked_add(l.quantity.checked_mul(l.unit_cost_minor)?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum PoAction {
    AddLine { model: ModelId, quantity: i64, unit_cost_minor: i64 },
    RemoveLine { line: usize },
    Order,
    Receive { line: usize, quantity: i64 },
    Cancel,
}

impl PoAction {
    fn verb(&self) -> &'static str {
        match self {
            PoAction::AddLine { .. } => "given a line",
            PoAction::RemoveLine { .. } => "changed",
            PoAction::Order => "ordered",
            PoAction::Receive { .. } => "received",
            PoAction::Cancel => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoError {
    #[error("a {status} purchase order cannot be {action}")]
    Status { status: &'static str, action: &'static str },
    #[error("an order needs at least one line")]
    Empty,
    #[error("the order has no line {0}")]
    NoLine(usize),
    #[error("{what} must be more than zero (got {value})")]
    NotPositive { what: &'static str, value: i64 },
    #[error("a unit cost must not be negative (got {0})")]
    NegativeCost(i64),
    #[error("line {line}: {due} still due, {got} received")]
    TooMany { line: usize, due: i64, got: i64 },
}

/// The order after an action, or why it is refused.
pub fn apply(po: &PurchaseOrder, action: &PoAction) -> Result<PurchaseOrder, PoError> {
    use PoStatus::*;
    let refuse = || PoError::Status { status: po.status.as_str(), action: action.verb() };
    let mut n = po.clone();
    match (po.status, action) {
        (Draft, PoAction::AddLine { model, quantity, unit_cost_minor }) => {
            if *quantity <= 0 {
                return Err(PoError::NotPositive { what: "a quantity", value: *quantity });
            }
            if *unit_cost_minor < 0 {
                return Err(PoError::NegativeCost(*unit_cost_minor));
            }
            n.lines.push(PoLine { model: *model, quantity: *quantity, unit_cost_minor: *unit_cost_minor, received: 0 });
        }
        (Draft, PoAction::RemoveLine { line }) => {
            if *line >= n.lines.len() {
                return Err(PoError::NoLine(*line));
            }
            n.lines.remove(*line);
        }
        (Draft, PoAction::Order) => {
            if po.lines.is_empty() {
                return Err(PoError::Empty);
            }
            n.status = Ordered;
        }
        (Ordered | PartlyReceived, PoAction::Receive { line, quantity }) => {
            let l = n.lines.get_mut(*line).ok_or(PoError::NoLine(*line))?;
            if *quantity <= 0 {
                return Err(PoError::NotPositive { what: "a received quantity", value: *quantity });
            }
            let due = l.quantity - l.received;
            if *quantity > due {
                return Err(PoError::TooMany { line: *line, due, got: *quantity });
            }
            l.received += quantity;
            n.status = if n.lines.iter().all(|l| l.received == l.quantity) { Received } else { PartlyReceived };
        }
        (Draft | Ordered, PoAction::Cancel) => n.status = Cancelled,
        _ => return Err(refuse()),
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn add(model: i64, quantity: i64) -> PoAction {
        PoAction::AddLine { model: ModelId(model), quantity, unit_cost_minor: 500 }
    }

    #[test]
    fn the_usual_path() {
        let po = PurchaseOrder::new(1, "Distributor");
        assert_eq!(apply(&po, &PoAction::Order), Err(PoError::Empty));
        let po = apply(&po, &add(1, 10)).unwrap();
        let po = apply(&po, &add(2, 2)).unwrap();
        assert_eq!(po.total_minor(), Some(6_000));
        assert!(apply(&po, &PoAction::Receive { line: 0, quantity: 1 }).is_err(), "not ordered yet");
        let po = apply(&po, &PoAction::Order).unwrap();
        assert_eq!(po.status, PoStatus::Ordered);
        assert_eq!(
            apply(&po, &add(3, 1)).unwrap_err().to_string(),
            "a ordered purchase order cannot be given a line",
            "lines are fixed once ordered"
        );
        let po = apply(&po, &PoAction::Receive { line: 0, quantity: 4 }).unwrap();
        assert_eq!(po.status, PoStatus::PartlyReceived);
        assert_eq!(
            apply(&po, &PoAction::Receive { line: 0, quantity: 7 }),
            Err(PoError::TooMany { line: 0, due: 6, got: 7 })
        );
        assert_eq!(apply(&po, &PoAction::Receive { line: 5, quantity: 1 }), Err(PoError::NoLine(5)));
        assert!(apply(&po, &PoAction::Receive { line: 0, quantity: 0 }).is_err());
        assert!(apply(&po, &PoAction::Cancel).is_err(), "goods arrived: no cancelling");
        let po = apply(&po, &PoAction::Receive { line: 0, quantity: 6 }).unwrap();
        assert_eq!(po.status, PoStatus::PartlyReceived, "line 1 still due");
        let po = apply(&po, &PoAction::Receive { line: 1, quantity: 2 }).unwrap();
        assert_eq!(po.status, PoStatus::Received);
        for a in [PoAction::Cancel, PoAction::Order, PoAction::Receive { line: 0, quantity: 1 }, add(1, 1)] {
            assert!(apply(&po, &a).is_err(), "received is final: {a:?}");
        }
    }

    #[test]
    fn drafts_are_edited_and_cancelled() {
        let po = apply(&PurchaseOrder::new(1, "D"), &add(1, 3)).unwrap();
        assert!(apply(&po, &add(1, 0)).is_err());
        assert!(apply(&po, &PoAction::AddLine { model: ModelId(1), quantity: 1, unit_cost_minor: -1 }).is_err());
        assert_eq!(apply(&po, &PoAction::RemoveLine { line: 1 }), Err(PoError::NoLine(1)));
        assert!(apply(&po, &PoAction::RemoveLine { line: 0 }).unwrap().lines.is_empty());
        let c = apply(&po, &PoAction::Cancel).unwrap();
        assert_eq!(c.status, PoStatus::Cancelled);
        assert!(apply(&c, &PoAction::Order).is_err() && apply(&c, &PoAction::Cancel).is_err());
        let o = apply(&po, &PoAction::Order).unwrap();
        assert_eq!(apply(&o, &PoAction::Cancel).unwrap().status, PoStatus::Cancelled);
        for s in PoStatus::ALL {
            assert_eq!(PoStatus::parse(s.as_str()), Some(s));
        }
    }

    fn action() -> impl Strategy<Value = PoAction> {
        prop_oneof![
            (0i64..3, -1i64..5).prop_map(|(m, q)| add(m, q)),
            (0usize..4).prop_map(|line| PoAction::RemoveLine { line }),
            Just(PoAction::Order),
            (0usize..4, -1i64..5).prop_map(|(line, quantity)| PoAction::Receive { line, quantity }),
            Just(PoAction::Cancel),
        ]
    }

    proptest! {
        /// Whatever happens: never more received than ordered, the status
        /// agrees with the counts, and a refused action changes nothing
        /// (apply takes the order by reference and returns a new one).
        #[test]
        fn counts_and_status_agree(actions in proptest::collection::vec(action(), 0..40)) {
            let mut po = PurchaseOrder::new(1, "S");
            for a in actions {
                let before = po.clone();
                if let Ok(n) = apply(&po, &a) {
                    if matches!(before.status, PoStatus::Received | PoStatus::Cancelled) {
                        prop_assert!(false, "final status left");
                    }
                    po = n;
                }
                for l in &po.lines {
                    prop_assert!(0 <= l.received && l.received <= l.quantity);
                }
                let got: i64 = po.lines.iter().map(|l| l.received).sum();
                let all = po.lines.iter().all(|l| l.received == l.quantity);
                match po.status {
                    PoStatus::Draft | PoStatus::Ordered => prop_assert_eq!(got, 0),
                    PoStatus::PartlyReceived => prop_assert!(got > 0 && !all),
                    PoStatus::Received => prop_assert!(all && !po.lines.is_empty()),
                    PoStatus::Cancelled => prop_assert_eq!(got, 0),
                }
            }
        }
    }
}
