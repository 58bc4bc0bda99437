//! Billing services: card and ACH payments through the payment provider
//! (autopay, webhooks), the Stripe client, invoice documents and their mail,
//! the billing schedule and demo data, over the billing stores
//! (`mast_store::billing`) and the pure rules (`mast_billing_core`), which
//! are re-exported here so services name one place.

pub use mast_billing_core::{
    BillingError, Result, allocation, catalog, credit_note, dunning, error, invoice, ledger, money, numbering, pdf,
    period, proration, provider,
};
pub use mast_store::billing::{allocations, bank, collections, reports, run, store};

pub mod autopay;
pub mod demo;
pub mod documents;
pub mod scheduler;
pub mod stripe;
