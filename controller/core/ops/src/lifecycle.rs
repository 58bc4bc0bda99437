//! The ticket lifecycle (pure core): Open → In progress → Waiting on customer
//! → Resolved → Closed, what each action may do from each state, and the
//! timestamps a transition sets (first response, resolution, closing) that
//! the KPIs read. Time is passed in.
//!
//! Rules:
//! - a public staff reply on an open ticket starts work (Open → In progress)
//!   and, the first time, stamps the first response;
//! - a customer reply reopens a Waiting or Resolved ticket (→ Open, the
//!   resolution stamp is cleared); a Closed ticket stays closed (a new one
//!   is opened instead);
//! - Resolve is possible from any open state and stamps the resolution;
//!   Close only from Resolved;
//! - internal notes never change state or the first-response stamp.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Open,
    InProgress,
    Waiting,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [Status::Open, Status::InProgress, Status::Waiting, Status::Resolved, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in-progress",
            Status::Waiting => "waiting",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Still needs work from staff or the customer.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::InProgress | Status::Waiting)
    }
}

/// What happens to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Staff take it (Open → In progress).
    Start,
    /// A public reply by staff.
    StaffReply,
    /// An internal note.
    Note,
    /// Staff wait for the customer.
    WaitForCustomer,
    /// The customer wrote (email, portal, phone).
    CustomerReply,
    Resolve,
    Close,
    /// Staff reopen a resolved ticket.
    Reopen,
}

/// The parts of a ticket the lifecycle owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub first_response_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub closed_ms: Option<i64>,
}

impl State {
    pub fn new() -> State {
        State { status: Status::Open, first_response_ms: None, resolved_ms: None, closed_ms: None }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {status} ticket cannot be {action}")]
pub struct Refused {
    pub status: &'static str,
    pub action: &'static str,
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Start => "started",
        Action::StaffReply => "answered",
        Action::Note => "noted",
        Action::WaitForCustomer => "set to wait for the customer",
        Action::CustomerReply => "replied to by the customer",
        Action::Resolve => "resolved",
        Action::Close => "closed",
        Action::Reopen => "reopened",
    }
}

/// Applies an action at `now`; the new state, or why it is refused.
pub fn apply(s: State, a: Action, now: i64) -> Result<State, Refused> {
    use Status::*;
    let refuse = || Refused { status: s.status.as_str(), action: verb(a) };
    let mut n = s;
    match (s.status, a) {
        (Closed, Action::Note) => {}
        (Closed, _) => return Err(refuse()),
        (_, Action::Note) => {}
        (Open, Action::Start) => n.status = InProgress,
        (InProgress | Waiting, Action::Start) => n.status = InProgress,
        (Open | InProgress | Waiting, Action::StaffReply) => {
            n.status = if s.status == Waiting { Waiting } else { InProgress };
            n.first_response_ms.get_or_insert(now);
        }
        (Resolved, Action::StaffReply) => {
            n.first_response_ms.get_or_insert(now);
        }
        (Open | InProgress | Waiting, Action::WaitForCustomer) => n.status = Waiting,
        (Open | InProgress, Action::CustomerReply) => {}
        (Waiting | Resolved, Action::CustomerReply) => {
            n.status = Open;
            n.resolved_ms = None;
        }
        (Open | InProgress | Waiting, Action::Resolve) => {
            n.status = Resolved;
            n.resolved_ms = Some(now);
        }
        (Resolved, Action::Close) => {
            n.status = Closed;
            n.closed_ms = Some(now);
        }
        (Resolved, Action::Reopen) => {
            n.status = Open;
            n.resolved_ms = None;
        }
        _ => return Err(refuse()),
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_usual_path_stamps_the_kpi_times() {
        let s = State::new();
        let s = apply(s, Action::Note, 5).unwrap();
        assert_eq!((s.status, s.first_response_ms), (Status::Open, None), "a note is not a response");
        let s = apply(s, Action::StaffReply, 10).unwrap();
        assert_eq!((s.status, s.first_response_ms), (Status::InProgress, Some(10)));
        let s = apply(s, Action::WaitForCustomer, 20).unwrap();
        let s = apply(s, Action::CustomerReply, 30).unwrap();
        assert_eq!(s.status, Status::Open, "a customer reply reopens");
        let s = apply(s, Action::StaffReply, 40).unwrap();
        assert_eq!(s.first_response_ms, Some(10), "only the first response counts");
        let s = apply(s, Action::Resolve, 50).unwrap();
        assert_eq!((s.status, s.resolved_ms), (Status::Resolved, Some(50)));
        let r = apply(s, Action::CustomerReply, 60).unwrap();
        assert_eq!((r.status, r.resolved_ms), (Status::Open, None));
        let s = apply(s, Action::Close, 70).unwrap();
        assert_eq!((s.status, s.closed_ms), (Status::Closed, Some(70)));
        assert!(apply(s, Action::CustomerReply, 80).is_err(), "closed stays closed");
        assert!(apply(State::new(), Action::Close, 1).is_err(), "close only after resolving");
        assert_eq!(apply(State::new(), Action::Close, 1).unwrap_err().to_string(), "a open ticket cannot be closed");
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Start),
            Just(Action::StaffReply),
            Just(Action::Note),
            Just(Action::WaitForCustomer),
            Just(Action::CustomerReply),
            Just(Action::Resolve),
            Just(Action::Close),
            Just(Action::Reopen),
        ]
    }

    proptest! {
        /// Whatever happens: resolved iff a resolution stamp, closed is
        /// terminal, the first response never moves once set, and a refused
        /// action changes nothing.
        #[test]
        fn invariants_hold(actions in proptest::collection::vec(action(), 0..40)) {
            let mut s = State::new();
            for (i, a) in actions.into_iter().enumerate() {
                let now = i as i64 * 10;
                if let Ok(n) = apply(s, a, now) {
                    prop_assert!(s.status != Status::Closed || n == s, "closed is terminal");
                    if let Some(f) = s.first_response_ms { prop_assert_eq!(n.first_response_ms, Some(f)); }
                    if a == Action::Note { prop_assert_eq!(n, s); }
                    s = n;
                }
                prop_assert_eq!(s.resolved_ms.is_some(), matches!(s.status, Status::Resolved | Status::Closed));
                prop_assert_eq!(s.closed_ms.is_some(), s.status == Status::Closed);
            }
        }
    }
}
