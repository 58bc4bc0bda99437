//! Text rules, pure core and the leaf of the controller's crate graph: every
//! layer (cores, stores, services, web, CLI) may use it and it uses none of
//! them. No IO, no clock: "now" is always an argument.
//!
//! - [`when`]: instants and dates as people read and type them (`fmt_utc`,
//!   `ago`, `human_duration`, `local_time`, the one strict `parse_date`).
//! - [`csv`]: the one CSV cell rule for every export (quoted, formulas
//!   neutralised).
//! - [`input`]: the one rule for what text input may hold (no control
//!   characters, bounded length).
//! - [`Secret`]: a password or key that never shows in `Debug` output, logs
//!   or serialized output.

pub mod csv;
pub mod input;
mod secret;
pub mod when;

pub use secret::Secret;
