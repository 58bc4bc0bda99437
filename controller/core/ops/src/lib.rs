//! Operations rules, pure core: what the network's state means and what the
//! support desk owes, decided without IO, without a clock (every instant is
//! an argument) and without a database. Cargo keeps it so: this crate's
//! dependencies hold no IO crate, and `tests/tests/layers.rs` fails if one
//! appears. The shells in `mast-app` feed these state machines and store what
//! they decide.
//!
//! - [`availability`]: probe results → uptime over a period, for reports.
//! - [`correlator`]: device observations → one incident per root cause.
//! - [`maintenance`]: maintenance windows and their occurrences in the
//!   operator's time zone.
//! - [`rules`]: alert rules beyond reachability (signal, loss, an agent's
//!   backlog) and when a firing starts and ends.
//! - [`sla`]: business-time SLA clocks, deadlines and escalations.
//! - [`lifecycle`]: the ticket state machine and its KPI stamps.
//! - [`throttle`]: login throttling.

pub mod availability;
pub mod correlator;
pub mod lifecycle;
pub mod maintenance;
pub mod rules;
pub mod sla;
pub mod throttle;
