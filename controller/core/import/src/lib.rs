//! Importing an existing ISP (pure core: no IO, no clock). The exports of
//! UISP CRM, Splynx and any spreadsheet (a generic CSV with a column
//! mapping) become one model: [`Customer`]s with their external id,
//! contacts, service address and coordinates, tower site, status, opening
//! balance and [`Service`]s (a plan with price and speeds, the CPE's MAC and
//! IP).
//!
//! # Rules
//! - Every line is checked, and every bad line is reported with its file,
//!   line number, column and reason ([`Problem`]); [`parse`] never stops at
//!   the first one and never panics, whatever the bytes (property-tested).
//! - External ids are unique per file; a service names a customer of the
//!   customers file; one plan name has one price and one pair of speeds in
//!   a file.
//! - Amounts are integer minor units of the import's currency (parsed by
//!   [`mast_billing_core::money::Money::parse`]); speeds are kbit/s.
//! - Balances follow the Mast ledger's sign: positive = the customer owes.
//!
//! The vendor column names are those of the vendors' APIs (see
//! `tests/fixtures/import/README.md` for where each comes from and what is
//! assumed); header names are matched without regard to case.

mod cells;
mod formats;
pub mod mapping;

pub use mapping::{Field, Mapping};

use mast_billing_core::money::Currency;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where the data comes from (also the namespace of its external ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Source {
    Uisp,
    Splynx,
    Csv,
}

impl Source {
    pub const ALL: &'static [Source] = &[Source::Uisp, Source::Splynx, Source::Csv];

    /// `uisp`, `splynx`, `csv`: the stored form and the CLI's `--format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Uisp => "uisp",
            Source::Splynx => "splynx",
            Source::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.iter().copied().find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            Source::Uisp => "UISP CRM",
            Source::Splynx => "Splynx",
            Source::Csv => "CSV (any columns)",
        }
    }
}

/// Which uploaded file a line is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum FileKind {
    /// UISP clients, Splynx customers, or the one generic CSV.
    Customers,
    /// UISP services, Splynx internet services.
    Services,
    /// Splynx internet tariffs.
    Tariffs,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Customers => "customers",
            FileKind::Services => "services",
            FileKind::Tariffs => "tariffs",
        }
    }
}

/// One bad line: where, which column, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: FileKind,
    /// Line in the file (1 = the header).
    pub line: usize,
    /// The column's header as the file spells it, when one column is at fault.
    pub column: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.file.as_str(), self.line)?;
        if let Some(c) = &self.column {
            write!(f, ", column {c:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A customer's standing, as Mast stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Lead,
    Active,
    Suspended,
    Cancelled,
}

impl Status {
    /// The text Mast's customer store uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Lead => "lead",
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Cancelled => "cancelled",
        }
    }
}

/// A plan as a service carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub name: String,
    /// Per month, minor units of the import's currency.
    pub price_minor: i64,
    pub down_kbps: u32,
    pub up_kbps: u32,
}

/// One service of a customer: the plan it bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub file: FileKind,
    pub line: usize,
    pub external_id: String,
    pub plan: Plan,
}

/// A customer's radio (CPE): its MAC, its IP, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cpe {
    pub file: FileKind,
    pub line: usize,
    /// Normalised `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    pub ip: Option<String>,
}

/// One customer with everything the files say about them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub line: usize,
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub coords: Option<(f64, f64)>,
    pub site: Option<String>,
    pub status: Status,
    /// Positive = owes (the Mast ledger's sign); `None`: the file has none.
    pub balance_minor: Option<i64>,
    pub services: Vec<Service>,
    pub cpes: Vec<Cpe>,
}

/// The uploaded files of one import (text, already decoded as UTF-8).
#[derive(Debug, Clone, Copy, Default)]
pub struct Files<'a> {
    pub customers: &'a str,
    pub services: Option<&'a str>,
    pub tariffs: Option<&'a str>,
}

/// What the files hold: the customers of every good line, every bad line,
/// and lines deliberately left out (ended services, ...).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Parsed {
    pub customers: Vec<Customer>,
    pub problems: Vec<Problem>,
    /// (file, line, why) of lines skipped on purpose.
    pub skipped: Vec<(FileKind, usize, String)>,
    /// The customers file's header name for each field (to name the column
    /// of a problem found later, by the store's own checks).
    pub columns: BTreeMap<Field, String>,
}

/// Why the files could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("{0} needs the {1} file")]
    MissingFile(&'static str, &'static str),
}

/// Parses the files of `source` into the model. `mapping` is used by the
/// generic CSV only (`None`: guessed from the header). Problems are
/// reported per line; an [`ImportError`] means a required file is missing.
pub fn parse(
    source: Source,
    files: Files<'_>,
    mapping: Option<&Mapping>,
    currency: Currency,
) -> Result<Parsed, ImportError> {
    match source {
        Source::Csv => Ok(formats::generic(files.customers, mapping, currency)),
        Source::Uisp => {
            let services = files.services.ok_or(ImportError::MissingFile("UISP CRM", "services"))?;
            Ok(formats::uisp(files.customers, services, currency))
        }
        Source::Splynx => {
            let services = files.services.ok_or(ImportError::MissingFile("Splynx", "internet services"))?;
            let tariffs = files.tariffs.ok_or(ImportError::MissingFile("Splynx", "tariffs"))?;
            Ok(formats::splynx(files.customers, services, tariffs, currency))
        }
    }
}

/// The header of a CSV text (for the mapping step), or `None` if unreadable.
pub fn headers(text: &str) -> Option<Vec<String>> {
    cells::Table::read(text, FileKind::Customers).ok().map(|t| t.headers)
}

#[cfg(test)]
mod tests;
