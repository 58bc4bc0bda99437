//! Reading a CSV into rows with line numbers, and the checks of one cell
//! (text, amounts, speeds, coordinates, MACs, IPs), each giving the reason
//! a person fixing the file needs.

use super::{FileKind, Problem};
use mast_billing_core::money::{Currency, Money};
use mast_text_core::input;

/// A CSV file: its header and its non-blank rows with their line numbers.
pub struct Table {
    pub file: FileKind,
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

/// The longest text cell kept (names, addresses, plan names are shorter).
const MAX_CELL: usize = 500;

impl Table {
    /// Reads `text` (a UTF-8 BOM and surrounding spaces are ignored); a row
    /// the CSV reader cannot read is a problem of its own.
    pub fn read(text: &str, file: FileKind) -> Result<Table, Problem> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rdr = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
        let headers: Vec<String> = match rdr.headers() {
            Ok(h) => h.iter().map(str::to_string).collect(),
            Err(e) => return Err(Problem { file, line: 1, column: None, reason: format!("unreadable header: {e}") }),
        };
        if headers.iter().all(String::is_empty) {
            return Err(Problem { file, line: 1, column: None, reason: "the file has no header row".into() });
        }
        Ok(Table { file, headers, rows: Vec::new() }.with_rows(rdr))
    }

    fn with_rows(mut self, mut rdr: csv::Reader<&[u8]>) -> Table {
        let mut rec = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {
                    let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
                    if rec.iter().all(str::is_empty) {
                        continue;
                    }
                    self.rows.push((line, rec.iter().map(unguard).collect()));
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                    // A row that is not UTF-8 or not CSV: a row of its own
                    // (empty), so the caller reports it.
                    self.rows.push((line, vec![format!("\u{0}unreadable row: {e}")]));
                    if line == 0 {
                        break;
                    }
                }
            }
        }
        self
    }

    /// The index of the first header matching one of `names` (case-insensitive).
    pub fn col(&self, names: &[&str]) -> Option<usize> {
        self.headers.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    }
}

/// One row being checked: its cells, and the problems found so far.
pub struct Row<'t> {
    pub table: &'t Table,
    pub line: usize,
    pub cells: &'t [String],
    pub problems: Vec<Problem>,
}

impl<'t> Row<'t> {
    pub fn new(table: &'t Table, line: usize, cells: &'t [String]) -> Row<'t> {
        let mut r = Row { table, line, cells, problems: Vec::new() };
        if let Some(why) = cells.first().and_then(|c| c.strip_prefix('\u{0}')) {
            r.problems.push(Problem { file: table.file, line, column: None, reason: why.to_string() });
        } else if cells.len() > table.headers.len() && cells[table.headers.len()..].iter().any(|c| !c.trim().is_empty())
        {
            // Usually an unquoted comma (`1,000.00`): the cells have shifted.
            let why = format!(
                "{} cells, the header has {}: quote values that hold a comma",
                cells.len(),
                table.headers.len()
            );
            r.problems.push(Problem { file: table.file, line, column: None, reason: why });
        }
        r
    }

    pub fn bad(&mut self, col: Option<usize>, reason: impl Into<String>) {
        let column = col.and_then(|c| self.table.headers.get(c).cloned());
        self.problems.push(Problem { file: self.table.file, line: self.line, column, reason: reason.into() });
    }

    /// The trimmed cell of column `col`, `None` when absent or blank.
    pub fn raw(&self, col: Option<usize>) -> Option<&'t str> {
        let c = col?;
        self.cells.get(c).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// A one-line text cell (no control characters, at most 500 characters).
    pub fn text(&mut self, col: Option<usize>) -> Option<String> {
        let v = self.raw(col)?;
        match input::line(v, MAX_CELL) {
            Ok(()) => Some(v.to_string()),
            Err(p) => {
                self.bad(col, p.to_string());
                None
            }
        }
    }

    /// A required text cell (a missing column is reported once, by the caller).
    pub fn required(&mut self, col: Option<usize>, what: &str) -> Option<String> {
        if col.is_some() && self.raw(col).is_none() {
            self.bad(col, format!("the {what} is empty"));
            return None;
        }
        self.text(col)
    }

    /// An amount in `currency` (`45`, `45.5`, `-12.00`; a leading `$`, `€`
    /// or `£` and trailing zeros beyond the currency's decimals are ignored).
    pub fn amount(&mut self, col: Option<usize>, currency: Currency) -> Option<i64> {
        let v = self.raw(col)?;
        match parse_amount(v, currency) {
            Some(m) => Some(m),
            None => {
                let why = format!(
                    "{v:?} is not an amount (digits with a decimal point, at most {} decimals, no thousands separator)",
                    currency.exponent()
                );
                self.bad(col, why);
                None
            }
        }
    }

    /// A decimal number (coordinates, speeds).
    pub fn number(&mut self, col: Option<usize>) -> Option<f64> {
        let v = self.raw(col)?;
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() && v.len() <= 32 => Some(x),
            _ => {
                self.bad(col, format!("{v:?} is not a number"));
                None
            }
        }
    }

    /// A speed in Mbit/s (`scale` converts the cell's unit to Mbit/s) as kbit/s.
    pub fn speed(&mut self, col: Option<usize>, scale: f64, what: &str) -> Option<u32> {
        if self.raw(col).is_none() {
            self.bad(col, format!("the {what} speed is empty"));
            return None;
        }
        let mbps = self.number(col)? * scale;
        if !(0.001..=100_000.0).contains(&mbps) {
            self.bad(col, format!("the {what} speed must be between 1 kbit/s and 100 Gbit/s"));
            return None;
        }
        Some((mbps * 1000.0).round() as u32)
    }

    /// A MAC in any usual notation, normalised.
    pub fn mac(&mut self, col: Option<usize>) -> Option<String> {
        let v = self.raw(col)?;
        match parse_mac(v) {
            Some(m) => Some(m),
            None => {
                self.bad(col, format!("{:?} is not a MAC address", truncate(v)));
                None
            }
        }
    }

    /// An IP address (a `/32` or `/128` prefix is accepted as the address).
    pub fn ip(&mut self, col: Option<usize>) -> Option<String> {
        let v = self.raw(col)?;
        let bare = match v.split_once('/') {
            Some((a, "32" | "128")) => a,
            Some(_) => {
                self.bad(col, format!("{:?} is a range; give the CPE's own address", truncate(v)));
                return None;
            }
            None => v,
        };
        match bare.parse::<core::net::IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) => {
                self.bad(col, format!("{:?} is not an IP address", truncate(v)));
                None
            }
        }
    }
}

/// A cell as it was before the formula-injection guard of a CSV export
/// (Mast's own, `mast_text_core::csv`, and spreadsheets'): `'+1 555` is `+1 555`.
fn unguard(s: &str) -> String {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_string(),
        _ => s.to_string(),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// An amount in minor units, or `None`.
pub fn parse_amount(v: &str, currency: Currency) -> Option<i64> {
    let v = v.trim();
    let (neg, v) = match v.strip_prefix('-') {
        Some(r) => (true, r.trim_start()),
        None => (false, v),
    };
    let v = v.trim_start_matches(['$', '€', '£']).trim();
    if v.starts_with('-') || v.starts_with('+') {
        return None;
    }
    // `45.5000` from a vendor's float: drop zeros beyond the currency's decimals.
    let exp = usize::from(currency.exponent());
    let v = match v.split_once('.') {
        Some((i, f)) if f.is_ascii() && f.len() > exp && f[exp..].bytes().all(|b| b == b'0') => {
            if exp == 0 {
                i.to_string()
            } else {
                format!("{i}.{}", &f[..exp])
            }
        }
        _ => v.to_string(),
    };
    let m = Money::parse(&v, currency).ok()?;
    if neg { m.minor.checked_neg() } else { Some(m.minor) }
}

/// A MAC address in `aa:bb:cc:dd:ee:ff`, `AA-BB-...`, `aabb.ccdd.eeff` or
/// bare hex, normalised to lower case with colons.
pub fn parse_mac(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-' | '.' | ' ')).collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) || s.len() > 20 {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let parts: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(parts.join(":"))
}
