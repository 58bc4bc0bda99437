//! Bank statement import: a CSV export from the operator's bank becomes
//! manual payments, matched to customers by the payment reference printed
//! on their invoices (`M000001230`, Luhn-checked, so a mistyped digit does
//! not credit a neighbour).
//!
//! # Format
//! A header row naming the columns (any order, any case): `date`, `amount`
//! and one of `reference` / `description` / `memo` / `details` (required);
//! `payer` / `name` (optional). Dates `YYYY-MM-DD` or `MM/DD/YYYY`; amounts
//! `1234.56`, `1,234.56` or `-12.00` in the account's currency. Negative
//! amounts (money going out) are ignored. Each row is matched by the first
//! valid payment reference in its reference text.
//!
//! # Guarantees
//! [`parse`] is pure and checks every row first: **if any row is malformed,
//! nothing is imported** and every bad row is listed with its line number.
//! Rows whose reference matches nobody are reported, not imported. Each
//! imported row is a payment whose provider id is a hash of the row
//! (`bank:<hex>`), so importing the same statement again (or the rest of it
//! after a crash) never books a payment twice.

use super::store;
use crate::db::{Db, StoreError};
use jiff::civil::Date;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One statement row, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Line in the file (1 = header).
    pub line: usize,
    #[serde(with = "super::period::iso_date")]
    pub date: Date,
    /// Minor units (2 decimals); negative = outgoing.
    pub amount_minor: i64,
    pub reference: String,
    pub payer: Option<String>,
    /// The customer whose payment reference the text carries.
    pub customer_id: Option<i64>,
    /// Stable identity of the row (dedup across imports).
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub errors: Vec<RowError>,
}

fn parse_amount(s: &str) -> Option<i64> {
    let s = s.trim().replace([' ', '$'], "");
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, s),
    };
    let s = if s.contains('.') { s.replace(',', "") } else { s };
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = int.parse().ok()?;
    let cents: i64 = format!("{frac:0<2}").parse().ok()?;
    let v = whole.checked_mul(100)?.checked_add(cents)?;
    Some(if neg { -v } else { v })
}

/// `YYYY-MM-DD` (the controller's one strict parser) or a bank's `M/D/YYYY`.
fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if let Some(d) = mast_text_core::when::parse_date(s) {
        return Some(d);
    }
    let mut it = s.split('/');
    let (m, d, y) = (it.next()?.parse::<u8>().ok()?, it.next()?.parse::<u8>().ok()?, it.next()?.parse::<i32>().ok()?);
    if it.next().is_some() {
        return None;
    }
    Date::new(i16::try_from(y).ok()?, i8::try_from(m).ok()?, i8::try_from(d).ok()?).ok()
}

/// The first valid payment reference in a text.
pub fn find_reference(text: &str) -> Option<i64> {
    text.split(|c: char| !c.is_ascii_alphanumeric()).find_map(store::parse_payment_reference)
}

/// Parses a statement (pure). `errors` non-empty means: import nothing.
pub fn parse(csv_text: &str) -> Parsed {
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(csv_text.as_bytes());
    let headers: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        Err(e) => {
            errors.push(RowError { line: 1, message: format!("unreadable header: {e}") });
            return Parsed { rows, errors };
        }
    };
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(date_c), Some(amount_c), Some(ref_c)) = (
        col(&["date", "booking date", "value date"]),
        col(&["amount"]),
        col(&["reference", "description", "memo", "details"]),
    ) else {
        errors.push(RowError {
            line: 1,
            message: format!("the header needs date, amount and reference columns; found {headers:?}"),
        });
        return Parsed { rows, errors };
    };
    let payer_c = col(&["payer", "name", "counterparty"]);
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError { line, message: format!("unreadable row: {e}") });
                continue;
            }
        };
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let get = |c: usize| rec.get(c).unwrap_or("").to_string();
        let Some(date) = parse_date(&get(date_c)) else {
            errors.push(RowError { line, message: format!("date {:?}: use YYYY-MM-DD or MM/DD/YYYY", get(date_c)) });
            continue;
        };
        let Some(amount_minor) = parse_amount(&get(amount_c)) else {
            errors.push(RowError {
                line,
                message: format!("amount {:?}: a number with at most 2 decimals", get(amount_c)),
            });
            continue;
        };
        let reference = get(ref_c);
        let payer = payer_c.map(get).filter(|p| !p.is_empty());
        let fingerprint = hex::encode(
            &Sha256::digest(format!(
                "{}|{amount_minor}|{reference}|{}",
                super::period::iso_date::format(date),
                payer.clone().unwrap_or_default()
            ))[..12],
        );
        rows.push(Row {
            line,
            date,
            amount_minor,
            customer_id: find_reference(&reference),
            reference,
            payer,
            fingerprint,
        });
    }
    Parsed { rows, errors }
}

/// What an import did (or would do, with `dry_run`).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Payments recorded (with `dry_run`: that it would record).
    pub imported: usize,
    /// Rows already imported before (same fingerprint).
    pub duplicates: usize,
    /// Incoming rows with no customer's reference: (line, reference text).
    pub unmatched: Vec<(usize, String)>,
    /// Outgoing rows, skipped.
    pub ignored: usize,
    pub errors: Vec<RowError>,
    pub dry_run: bool,
}

/// Imports a statement: nothing at all if any row is malformed.
pub async fn import(
    db: &Db,
    csv_text: &str,
    by: &str,
    dry_run: bool,
    limits: &store::AmountLimits,
) -> Result<ImportReport, StoreError> {
    let parsed = parse(csv_text);
    let mut rep =
        ImportReport { imported: 0, duplicates: 0, unmatched: vec![], ignored: 0, errors: parsed.errors, dry_run };
    // Rows that name a customer without a billing account are errors too.
    let mut ready = Vec::new();
    for r in &parsed.rows {
        if r.amount_minor <= 0 {
            rep.ignored += 1;
            continue;
        }
        match r.customer_id {
            None => rep.unmatched.push((r.line, r.reference.clone())),
            Some(c) => match store::account(db, c).await? {
                Some(acc) => ready.push((r, acc)),
                None => {
                    rep.errors.push(RowError { line: r.line, message: format!("customer {c} has no billing account") })
                }
            },
        }
    }
    if !rep.errors.is_empty() {
        return Ok(rep);
    }
    if dry_run {
        // What the import would do: rows seen before are duplicates.
        for (r, _) in &ready {
            let seen: i64 =
                sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE provider_payment_id = $1")
                    .bind(format!("bank:{}", r.fingerprint))
                    .fetch_one(&db.pool)
                    .await?;
            if seen > 0 {
                rep.duplicates += 1;
            } else {
                rep.imported += 1;
            }
        }
        return Ok(rep);
    }
    for (r, acc) in ready {
        let p = store::record_payment(
            db,
            &store::PaymentInput {
                customer_id: acc.customer_id,
                date: r.date,
                amount: super::money::Money::new(r.amount_minor, store::currency(&acc.currency)?),
                method: store::PaymentMethod::Bank,
                reference: Some(r.reference.chars().take(200).collect::<String>()).filter(|s| !s.trim().is_empty()),
                provider_payment_id: Some(format!("bank:{}", r.fingerprint)),
                created_by: by.to_string(),
            },
            limits,
        )
        .await?;
        if p.duplicate {
            rep.duplicates += 1;
        } else {
            rep.imported += 1;
        }
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bank_dates_are_none_never_a_panic() {
        assert_eq!(parse_date(" 2/28/2026 "), Some(jiff::civil::date(2026, 2, 28)));
        for bad in
            ["2/29/2026", "13/01/2026", "0/1/2026", "1/0/2026", "1/1/99999", "1/1/-40000", "300/1/2026", "1/1", ""]
        {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn amounts_dates_and_references() {
        assert_eq!(parse_amount("1,234.56"), Some(123_456));
        assert_eq!(parse_amount("45"), Some(4500));
        assert_eq!(parse_amount("-12.5"), Some(-1250));
        assert_eq!(parse_amount("12.345"), None);
        assert_eq!(parse_amount("1,234"), None, "a comma without a decimal point is ambiguous");
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(parse_date("12/01/2026"), Some(jiff::civil::date(2026, 12, 1)));
        assert_eq!(parse_date("2026-12-01"), Some(jiff::civil::date(2026, 12, 1)));
        assert_eq!(parse_date("31/12/2026"), None);
        let r = store::payment_reference(123);
        assert_eq!(find_reference(&format!("INV 2026 / ref {r} thanks")), Some(123));
        let mut bad = r.clone().into_bytes();
        bad[5] = if bad[5] == b'9' { b'0' } else { bad[5] + 1 };
        assert_eq!(find_reference(&String::from_utf8(bad).unwrap()), None, "a mistyped digit matches nobody");
    }

    #[test]
    fn bad_rows_are_all_listed_and_good_ones_parsed() {
        let r7 = store::payment_reference(7);
        let csv = format!(
            "Date,Amount,Reference,Payer\n2026-12-02,45.00,{r7},Ada\n2026-13-01,10.00,x,Bob\n2026-12-03,ten,x,Cy\n\
             2026-12-04,-20.00,fee,\n,,,\n\"2026-12-05\",\"1,000.00\",\"Ref {r7}, Dec\",Ada\n"
        );
        let p = parse(&csv);
        assert_eq!(p.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(p.rows.len(), 3);
        assert_eq!((p.rows[0].customer_id, p.rows[0].amount_minor), (Some(7), 4500));
        assert_eq!((p.rows[2].customer_id, p.rows[2].amount_minor), (Some(7), 100_000));
        assert_ne!(p.rows[0].fingerprint, p.rows[2].fingerprint);
        assert_eq!(parse("when,how much\n1,2\n").errors[0].line, 1, "missing columns");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,400}") {
            let _ = parse(&s);
        }
    }
}
