//! Mast controller services: the [`App`] context (built once from the
//! configuration, with the one [`Shutdown`] signal), and everything between the typed stores
//! (`mast-store`) and the web layer (`mast-web`) that does IO other than the
//! database or runs on its own: the configuration ([`config`]), the
//! controller's CA ([`pki`]), the QUIC ingest ([`ingest`]), the outbox
//! delivery ([`notify`]) and mail clients ([`mail`]), the workers
//! ([`outages`], [`intake`], [`workers`]), the reactions between domains
//! ([`reactions`]), staff alerting ([`alerts`]) and the billing services
//! ([`billing`]).
//!
//! Architecture invariant: no HTTP server and no HTML here (`mast-web` sits
//! above; `tests/tests/layers.rs` checks the crate graph).

// The stores under their domain names, for this crate's own paths.
use mast_store::{customers, db, fleet, monitoring};

pub mod alerts;
pub mod billing;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod ingest;
pub mod intake;
pub mod lease;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod outages;
pub mod pki;
pub mod reactions;
pub mod releases;
pub mod rollouts;
pub mod shutdown;
pub mod single;
pub mod stock;
pub mod workers;

pub use context::{App, Settings};
pub use shutdown::Shutdown;
