//! What every billing store shares: currencies, dates of the operator's
//! calendar (`YYYY-MM-DD` text), payment references, name checks, and
//! money sums that cannot overflow.

use super::money::Currency;
use super::period::iso_date;
use crate::db::{Db, StoreError};
use jiff::civil::Date;

/// The ISO 4217 currency for a code: three capitals; the minor-unit exponent
/// is 0 or 3 for the currencies that have one, 2 otherwise.
pub fn currency(code: &str) -> Result<Currency, StoreError> {
    let exponent = match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    };
    Currency::new(code, exponent)
        .map_err(|_| StoreError::invalid("currency", format!("{code:?} is not a three-letter ISO code")))
}

/// A currency code read from the database: a bad one is corrupt data.
pub(crate) fn stored_currency(code: &str) -> Result<Currency, StoreError> {
    currency(code).map_err(|_| StoreError::Corrupt(format!("stored currency {code:?}")))
}

/// Parses `YYYY-MM-DD` with the controller's one strict date parser
/// ([`mast_text_core::when::parse_date`]); the error names the field.
pub fn parse_date(field: &str, s: &str) -> Result<Date, StoreError> {
    mast_text_core::when::parse_date(s)
        .ok_or_else(|| StoreError::invalid(field, format!("{s:?} is not a date (YYYY-MM-DD)")))
}

/// A date read from the database: a bad one is corrupt data.
pub(crate) fn stored_date(what: &str, s: &str) -> Result<Date, StoreError> {
    iso_date::parse(s).ok_or_else(|| StoreError::Corrupt(format!("stored {what} {s:?} is not a date")))
}

pub(crate) fn fmt_date(d: Date) -> String {
    iso_date::format(d)
}

/// `a + b` for amounts (minor units) summed in Rust: an overflow is
/// corrupt stored data (no real ledger gets near `i64::MAX`), never a
/// wrapped or saturated total.
pub(crate) fn add_minor(a: i64, b: i64) -> Result<i64, StoreError> {
    a.checked_add(b).ok_or_else(|| StoreError::Corrupt(format!("amounts overflow: {a} + {b}")))
}

/// Ledger balances of the customers `in_subquery` selects (a constant SQL
/// subquery returning customer ids), summed here with 128-bit arithmetic
/// rather than by the database: a customer whose entries do not fit an
/// `i64` gets an error of its own (corrupt data), and every other customer
/// still gets its balance. (A database `CAST(SUM(..) AS BIGINT)` would fail
/// the whole query, and with it the batch, for everyone.)
pub(crate) async fn ledger_balances(
    db: &Db,
    in_subquery: &'static str,
) -> Result<std::collections::HashMap<i64, Result<i64, StoreError>>, StoreError> {
    let sql = format!("SELECT customer_id, amount_minor FROM ledger WHERE customer_id IN ({in_subquery})");
    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    let mut sums: std::collections::HashMap<i64, i128> = std::collections::HashMap::new();
    for (customer, amount) in rows {
        *sums.entry(customer).or_insert(0) += i128::from(amount);
    }
    Ok(sums
        .into_iter()
        .map(|(c, s)| {
            let v = i64::try_from(s)
                .map_err(|_| StoreError::Corrupt(format!("the ledger of customer {c} sums beyond 64 bits ({s})")));
            (c, v)
        })
        .collect())
}

/// The largest amount one payment, charge or discount may carry, in major
/// units of its currency (`[billing] max_payment`, `max_charge`): a typo or
/// an attack cannot book 92 quadrillion dollars, and no sum of real entries
/// can come near the 64-bit limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountLimits {
    pub max_payment_major: i64,
    pub max_charge_major: i64,
}

impl AmountLimits {
    /// For money a payment provider already received: only the store's own
    /// ceiling applies (refusing to record it would lose track of real money).
    pub const RECEIVED: AmountLimits = AmountLimits { max_payment_major: i64::MAX, max_charge_major: i64::MAX };
}

impl Default for AmountLimits {
    fn default() -> Self {
        AmountLimits { max_payment_major: 1_000_000, max_charge_major: 1_000_000 }
    }
}

/// Refuses an amount above `max_major` units of its currency (or above the
/// store's own ceiling of 10^12 minor units, whatever the configuration).
pub(crate) fn check_amount(field: &str, amount: super::money::Money, max_major: i64) -> Result<(), StoreError> {
    const CEILING_MINOR: i64 = 1_000_000_000_000;
    let scale = 10i64.pow(u32::from(amount.currency.exponent()));
    let max_minor = max_major.saturating_mul(scale).min(CEILING_MINOR);
    if amount.minor.unsigned_abs() > max_minor.unsigned_abs() {
        let max = super::money::Money::new(max_minor, amount.currency);
        return Err(StoreError::invalid(field, format!("at most {max} at a time")));
    }
    Ok(())
}

fn luhn_digit(payload: &str) -> u32 {
    // Double every second digit from the right, starting with the rightmost
    // payload digit (the check digit goes to its right).
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// The payment reference of a customer: `M`, the id zero-padded to 8 digits,
/// and a Luhn check digit (`M000001230` for customer 123), so one mistyped
/// digit or two swapped neighbours in a bank transfer are caught.
pub fn payment_reference(customer_id: i64) -> String {
    let digits = format!("{:08}", customer_id.max(0));
    format!("M{digits}{}", luhn_digit(&digits))
}

/// The customer id in a payment reference (any case, surrounding spaces
/// ignored), or `None` when it is not one or its check digit is wrong.
pub fn parse_payment_reference(s: &str) -> Option<i64> {
    let s = s.trim();
    let body = s.strip_prefix('M').or_else(|| s.strip_prefix('m'))?;
    if body.len() < 9 || body.len() > 19 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (digits, check) = body.split_at(body.len() - 1);
    if luhn_digit(digits) != u32::from(check.as_bytes()[0] - b'0') {
        return None;
    }
    digits.parse().ok()
}

/// The customer exists (a [`StoreError::NotFound`] otherwise).
pub(crate) async fn customer_exists(db: &Db, id: i64) -> Result<(), StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM customers WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
    found.map(|_| ()).ok_or_else(|| StoreError::NotFound(format!("customer {id}")))
}

/// A one-line name for `field`: trimmed, 1 to `max` characters, no control
/// characters (the one input rule, [`mast_text_core::input::line`]).
pub(crate) fn check_name(field: &str, s: &str, max: usize) -> Result<String, StoreError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(StoreError::invalid(field, format!("must not be empty (1-{max} characters)")));
    }
    mast_text_core::input::line(t, max).map_err(|p| StoreError::invalid(field, p.to_string()))?;
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_references() {
        assert_eq!(payment_reference(123), "M000001230");
        for id in [1, 7, 42, 123, 99_999_999, 123_456_789] {
            let r = payment_reference(id);
            assert_eq!(parse_payment_reference(&r), Some(id), "{r}");
            assert_eq!(parse_payment_reference(&r.to_lowercase()), Some(id));
            // Any single changed digit is caught.
            for i in 1..r.len() {
                let mut b = r.clone().into_bytes();
                b[i] = b'0' + (b[i] - b'0' + 3) % 10;
                assert_eq!(parse_payment_reference(std::str::from_utf8(&b).unwrap()), None);
            }
        }
        for bad in ["", "M", "X000001230", "M00000123", "M00000123x", "M-00001230"] {
            assert_eq!(parse_payment_reference(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_parse_through_the_shared_strict_parser() {
        assert_eq!(parse_date("start", " 2026-12-01 ").unwrap(), jiff::civil::date(2026, 12, 1));
        let e = parse_date("due_date", "2026-13-01").unwrap_err();
        assert_eq!(e.field(), Some("due_date"));
        assert!(e.to_string().contains("YYYY-MM-DD"), "{e}");
        for bad in ["", "2026-2-01", "12/01/2026", "2026-02-29", "99999-01-01", "+2026-01-01"] {
            assert!(parse_date("d", bad).is_err(), "{bad}");
        }
        assert!(matches!(stored_date("due date", "soon").unwrap_err(), StoreError::Corrupt(_)));
    }

    #[test]
    fn currencies_names_and_sums() {
        assert_eq!(currency("JPY").unwrap(), Currency::JPY);
        assert_eq!(currency("USD").unwrap(), Currency::USD);
        assert_eq!(currency("usd").unwrap_err().field(), Some("currency"));
        assert!(matches!(stored_currency("usd").unwrap_err(), StoreError::Corrupt(_)));
        assert_eq!(check_name("name", "  Home  ", 10).unwrap(), "Home");
        assert_eq!(check_name("name", " ", 10).unwrap_err().field(), Some("name"));
        assert_eq!(check_name("name", "a\0b", 10).unwrap_err().field(), Some("name"));
        assert_eq!(check_name("name", "elevenchars", 10).unwrap_err().field(), Some("name"));
        assert_eq!(add_minor(-99, 0).unwrap(), -99);
        assert!(matches!(add_minor(i64::MAX, 1).unwrap_err(), StoreError::Corrupt(_)));
    }
}

/// The conditions of a filtered list (` WHERE 1 = 1 AND …`) with their
/// values, placeholders numbered as conditions are added; one filter binds
/// both the page query and its totals query (whatever each one's `FROM`).
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    sql: String,
    args: Vec<FilterArg>,
}

#[derive(Debug, Clone)]
enum FilterArg {
    Int(i64),
    Text(String),
}

type AnyQueryAs<'q, O> = sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>;

impl Filter {
    /// No condition yet.
    pub(crate) fn new() -> Self {
        Filter { sql: " WHERE 1 = 1".into(), args: Vec::new() }
    }

    /// A condition without a value.
    pub(crate) fn raw(&mut self, cond: &str) {
        self.sql.push_str(cond);
    }

    /// A condition whose one `?` takes an integer.
    pub(crate) fn int(&mut self, cond: &str, v: i64) {
        self.push(cond, FilterArg::Int(v));
    }

    /// A condition whose one `?` takes a text.
    pub(crate) fn text(&mut self, cond: &str, v: impl Into<String>) {
        self.push(cond, FilterArg::Text(v.into()));
    }

    fn push(&mut self, cond: &str, v: FilterArg) {
        self.args.push(v);
        self.sql.push_str(&cond.replace('?', &format!("${}", self.args.len())));
    }

    /// The `WHERE` clause so far.
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The number of the next placeholder (`$n`) a query may add after it.
    pub(crate) fn next_placeholder(&self) -> usize {
        self.args.len() + 1
    }

    /// Binds the values, in order, to a query built on [`Filter::sql`].
    pub(crate) fn bind<'q, O>(&self, mut q: AnyQueryAs<'q, O>) -> AnyQueryAs<'q, O> {
        for a in &self.args {
            q = match a {
                FilterArg::Int(v) => q.bind(*v),
                FilterArg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }
}

#[cfg(test)]
mod filter_tests {
    use super::Filter;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut f = Filter::new();
        f.text(" AND a = ?", "x");
        f.raw(" AND b > 0");
        f.int(" AND c = ?", 7);
        assert_eq!(f.sql(), " WHERE 1 = 1 AND a = $1 AND b > 0 AND c = $2");
        assert_eq!(f.next_placeholder(), 3);
    }
}
