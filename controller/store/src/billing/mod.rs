//! Billing stores: plans, accounts, subscriptions, charges, invoices,
//! payments, the ledger, autopay attempts, the invoice run, bank imports and
//! dunning, around the pure rules of [`mast_billing_core`] (whose crate doc
//! is the spec). The core's modules are re-exported here so callers name one
//! place; [`store`] gathers the stores for callers that use many.

pub use mast_billing_core::{
    BillingError, Result, allocation, bridge, catalog, credit_note, dunning, error, invoice, ledger, money, numbering,
    pdf, period, proration, provider,
};

pub mod accounts;
pub mod allocations;
pub mod autopay;
pub mod balances;
pub mod bank;
pub mod charges;
pub mod collections;
pub mod common;
pub mod credit_notes;
pub mod inputs;
pub mod invoices;
pub mod payments;
pub mod plans;
pub mod refunds;
pub mod reports;
pub mod run;
pub mod store;
pub mod subscriptions;
