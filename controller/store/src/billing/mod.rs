//! Billing stores: plans, accounts, subscriptions, invoices, payments, the
//! ledger, the invoice run, bank imports and dunning, around the pure rules of [`mast_billing_core`] (whose crate doc is the
//! spec). The core's modules are re-exported here so callers name one place.

pub use mast_billing_core::{
    BillingError, Result, catalog, dunning, error, invoice, ledger, money, numbering, pdf, period, proration, provider,
};

pub mod bank;
pub mod collections;
pub mod reports;
pub mod run;
pub mod store;
