//! Dispatch and field work, pure core: what a work order is and how it
//! moves through its states, how far and how long apart two places are,
//! and what the finished work says about the field team, decided without
//! IO and without a clock (every instant is an argument, in milliseconds
//! since the epoch).
//!
//! - [`job`]: work order kinds, priorities and the status machine
//!   (new → scheduled → en route → on site → done / needs revisit, and
//!   cancelled from any open state), each step stamped with who and when.
//! - [`geo`]: great-circle distances with a road factor, and drive times.
//! - [`zone`]: zones drawn on the map (polygons) and whether a job's place
//!   is in one.
//! - [`route`]: a route's length and 2-opt, the local improvement every
//!   plan ends with (never longer, deterministic).
//! - [`outcome`]: first-visit fix (a repeat visit for the same customer and
//!   kind within 30 days makes the first a miss), jobs per technician per
//!   day, time on site and drive time per job, parts per job kind.
//!
//! - [`plan`]: a day's problem and plan, the rules a plan keeps
//!   ([`plan::check`]), route timelines, the first-come baseline and the
//!   2-opt polish.
//! - [`solve`]: the planner (ruin and recreate with simulated annealing,
//!   deterministic for a seed).
//! - [`instance`]: seeded random days for tests and benchmarks.

pub mod geo;
pub mod instance;
pub mod job;
pub mod outcome;
pub mod plan;
pub mod route;
pub mod solve;
pub mod zone;

pub use geo::Point;
pub use job::{JobKind, Priority, Status, StatusError, Step, Transition};
