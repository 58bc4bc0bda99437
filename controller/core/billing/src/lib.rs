//! Billing, pure core: no IO, no clock, no database, no tokio (cargo keeps
//! it so: this crate's dependencies hold no IO crate, and
//! `tests/tests/layers.rs` fails if one appears). Every function takes its inputs (including "today") as
//! arguments, is deterministic, and answers bad input with a
//! [`BillingError`], never a panic. The shell (invoice-run worker, DB, email,
//! payments) is built around it.
//!
//! # Rules
//!
//! **Money** ([`money`]). Integer minor units (`i64`) with a [`Currency`]
//! (ISO code + exponent 0..=4). Every operation is checked: overflow and
//! mixing currencies are errors. Amounts print as `12.34 USD`; user input is
//! `12`, `12.3`, `12.34`, optionally `-` and the code; more decimals than the
//! currency has, separators, exponents are refused. Ratios and percentages
//! round with an explicit [`RoundingMode`]; the default is **half-even**
//! (bankers'): exact halves go to the even neighbour so rounding errors over a
//! whole run cancel out instead of drifting up. Splitting an amount into
//! parts uses the **largest-remainder** method, so the parts always sum to
//! the amount exactly.
//!
//! **Periods** ([`period`]). Each customer has a billing day 1..=28; a
//! period is `[billing day of month M, billing day of month M+1)` (28-31
//! days), in the operator's calendar (dates, no times: the shell converts
//! with the operator's time zone). The run on date R bills the period that
//! starts on R (billing in advance; the core computes any period it is given,
//! so arrears billing is a shell choice).
//!
//! **Proration** ([`proration`]). A subscription is billed from `start` to
//! `end` (exclusive), on its plan, and a plan change on day D bills the old
//! plan up to D-1 and the new plan from D. Holds (suspension, vacation,
//! seasonal) are not billed, open-ended or not, overlapping or not. The
//! period is cut into maximal runs of days with the same state; each plan's
//! price is **allocated over all the runs by their days** with largest
//! remainder and the runs billed on that plan keep their shares. So any
//! partition of a period sums to the price exactly, a full period costs
//! exactly the price, a fully held one 0, and each part is within one minor
//! unit of `price × days / period_days`.
//!
//! **Invoice** ([`invoice`]). One currency per invoice (anything else in the
//! input is an error). Lines: recurring lines by (subscription id, first
//! day), described `Home 25/5 Mbps, 1-14 Mar (14/31 days)`; then one-time
//! charges dated before the period's end, by (date, id). Discounts apply in
//! id order, each on what earlier ones left: a percentage per targeted line
//! (rounded with [`InvoiceRules::discount_rounding`]) or a fixed amount per
//! invoice taken from the targeted lines in order; a line never goes below
//! zero, and deposits are never discounted. **Tax is computed per line and
//! per component** of the line's tax class on the line's net amount,
//! rounded with the class's [`RoundingMode`] (set half-up where the
//! authority prescribes it), and the invoice's tax is the sum of the lines'
//! taxes: the printed lines always add up, and a credit note for one line
//! reverses exactly its tax. (Rounding once per invoice could differ by up
//! to half a minor unit per line.) Deposits and tax-exempt customers bear no
//! tax. `total = subtotal + tax`; customer credit is applied after tax, up
//! to the total; `amount_due = total - credits_applied`. The idempotency key
//! is **(customer id, period start)** ([`InvoiceKey`]); the draft also
//! carries a stable FNV-1a `content_hash`.
//!
//! **Numbering** ([`numbering`]). `SERIES-YYYY-NNNNNN`, gapless per series
//! and year, allocated by a pure state transition that the shell commits in
//! the invoice's own transaction (contract in the module doc).
//!
//! **Dunning** ([`dunning`]). Steps (reminder, late fee fixed or % of the
//! open amount, suspension) fire once each when the number of **business
//! days** after the due date (weekends and holidays excluded, the due date
//! itself not counted) reaches their threshold. A fully paid invoice fires
//! nothing, and if it had suspended the customer it yields `Reactivate` and
//! the reconnection fee.
//!
//! **Ledger** ([`ledger`]). Every balance change is an entry whose sign
//! follows its kind (debits: invoice, fees, refund; credits: payment,
//! credit; adjustments either). Balance = sum of entries. AR aging applies
//! all credits to debits oldest due first and buckets what is left by days
//! past due: current, 1-30, 31-60, 61-90, over 90.
//!
//! **Allocation** ([`allocation`]). The shell records which credit pays
//! which debit: chosen allocations first (a payment pointed at an invoice, a
//! credit note at its invoice, a refund at its payment), then everything
//! open oldest due first, the same order as the aging; an invoice is open,
//! partly paid, paid, written off or void from what is left of it.
//!
//! **Credit notes** ([`credit_note`]). Whole or per line, each line's tax
//! reversed with it; never more than the invoice.
//!
//! [`Currency`]: money::Currency
//! [`RoundingMode`]: money::RoundingMode
//! [`InvoiceRules::discount_rounding`]: invoice::InvoiceRules::discount_rounding
//! [`InvoiceKey`]: invoice::InvoiceKey

pub mod allocation;
pub mod bridge;
pub mod catalog;
pub mod credit_note;
pub mod dunning;
pub mod error;
pub mod invoice;
pub mod ledger;
pub mod money;
pub mod numbering;
pub mod pdf;
pub mod period;
pub mod proration;
pub mod provider;

pub use error::{BillingError, Result};
