//! The one error type of the billing core: every bad input is one of these,
//! never a panic.

use super::money::Currency;
use super::period::iso_date;

/// Why a billing computation refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// Two amounts in different currencies met in one operation.
    #[error("currency mismatch: {left} vs {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    /// A result does not fit in `i64` minor units (or a counter overflowed).
    #[error("amount overflow")]
    Overflow,
    /// Not an ISO-4217-shaped code (three ASCII capitals) or exponent above 4.
    #[error("invalid currency {code:?} with exponent {exponent}")]
    InvalidCurrency { code: String, exponent: u8 },
    /// User input that is not an amount; the reason is for the person typing.
    #[error("invalid amount {input:?}: {reason}")]
    Parse { input: String, reason: &'static str },
    /// A ratio with a zero denominator, or an allocation with no weight.
    #[error("division by zero")]
    DivisionByZero,
    /// An allocation whose weights and output slots differ in number.
    #[error("allocation over {weights} weights into {slots} slots")]
    AllocationShape { weights: usize, slots: usize },
    /// A billing day outside 1..=28.
    #[error("billing day {0} is outside 1..=28")]
    InvalidBillingDay(u8),
    /// A date computation left the supported calendar (years -9999..=9999).
    #[error("date out of range")]
    DateOutOfRange,
    /// A date range whose end is before its start, or an empty billing period.
    #[error("invalid date range {}..{}", iso_date::format(*start), iso_date::format(*end))]
    InvalidRange { start: jiff::civil::Date, end: jiff::civil::Date },
    /// A subscription or discount refers to a plan the catalog does not have.
    #[error("unknown plan {0}")]
    UnknownPlan(u64),
    /// A plan or charge refers to a tax class the catalog does not have.
    #[error("unknown tax class {0}")]
    UnknownTaxClass(u64),
    /// Two catalog entries (or two entries of one list) share an id.
    #[error("duplicate id {0}")]
    DuplicateId(u64),
    /// A rate in basis points above 10,000 (100 %).
    #[error("rate {0} bp is above 10000 (100 %)")]
    InvalidRate(u32),
    /// An amount that must not be negative (price, charge, fee, credit) is.
    #[error("{what} must not be negative")]
    Negative { what: &'static str },
    /// A ledger entry whose sign contradicts its kind (a positive payment...).
    #[error("ledger entry {id}: amount has the wrong sign for its kind")]
    WrongSign { id: u64 },
    /// An invoice-number series that is not 1-16 characters of A-Z and 0-9.
    #[error("invalid invoice series {0:?}")]
    InvalidSeries(String),
    /// An invoice-number year outside 1..=9999.
    #[error("invalid invoice year {0}")]
    InvalidYear(i32),
    /// A string that is not an invoice number `SERIES-YYYY-NNNNNN`.
    #[error("invalid invoice number {0:?}")]
    InvalidInvoiceNumber(String),
    /// A dunning policy that is not usable (more than 64 steps, threshold too large).
    #[error("invalid dunning policy: {0}")]
    InvalidPolicy(&'static str),
    /// A business calendar with no business day in the week.
    #[error("the calendar has no business day")]
    NoBusinessDays,
}

/// Result of every fallible billing function.
pub type Result<T, E = BillingError> = std::result::Result<T, E>;
