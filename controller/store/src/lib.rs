//! Typed stores of the Mast controller: the database handle ([`db`]: one
//! sqlx `AnyPool` over SQLite or PostgreSQL, migrations in `migrations/`),
//! and one module per domain owning its tables and queries. Functions take
//! the pool or a transaction, so a cross-domain write (an incident with its
//! ticket and notices) still commits as one.
//!
//! Architecture invariant: this crate opens no socket but the database's,
//! sends no mail and serves no HTTP (`tests/tests/layers.rs` checks its
//! dependencies); the services in `mast-app` and the handlers in `mast-web`
//! sit above it. Domains import downward only: customers and sites are the
//! shared base; tickets, billing and monitoring build on them and never on
//! each other (cross-domain reactions live in `mast_app::reactions`).

pub mod audit;
pub mod auth;
pub mod billing;
pub mod customers;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod export;
pub mod fleet;
pub mod import;
pub mod monitoring;
pub mod outbox;
pub mod password;
pub mod portal;
pub mod releases;
pub mod rollouts;
pub mod rollup;
pub mod settings;
pub mod sql;
pub mod staff;
pub mod stock;
pub mod tickets;

pub use db::{Backend, Db, now_ms};
pub use error::StoreError;
