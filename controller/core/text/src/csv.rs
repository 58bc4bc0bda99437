//! The one CSV cell rule for every export (audit log, billing reports,
//! suspended lists, ...): RFC 4180 quoting, and spreadsheet formula
//! injection neutralised.

/// One CSV cell: always quoted (inner quotes doubled), and a value starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` so
/// spreadsheets show it as text instead of running it as a formula. Numbers
/// that must stay numbers (negative amounts) go through [`number`].
pub fn field(s: &str) -> String {
    let risky = matches!(s.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'));
    let mut out = String::with_capacity(s.len() + 3);
    out.push('"');
    if risky {
        out.push('\'');
    }
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A numeric cell (an amount like `-12.50`, a count): written bare when it
/// is a plain decimal number, so spreadsheets sum it; anything else goes
/// through [`field`].
pub fn number(s: &str) -> String {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let plain = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|&c| c == '.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    if plain { s.to_string() } else { field(s) }
}

/// A CSV line (cells joined by `,`, ended by CRLF as RFC 4180 says).
pub fn line<I, S>(cells: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = cells.into_iter().map(|c| field(c.as_ref())).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_are_neutralised() {
        for risky in ["=HYPERLINK(\"x\")", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            let f = field(risky);
            assert!(f.starts_with("\"'"), "{risky:?} -> {f:?}");
        }
        assert_eq!(field("a\"b"), "\"a\"\"b\"");
        assert_eq!(field("x,y"), "\"x,y\"");
        assert_eq!(field(""), "\"\"");
    }

    #[test]
    fn numbers_stay_numbers_only_when_plain() {
        assert_eq!(number("-0.99"), "-0.99");
        assert_eq!(number("12"), "12");
        assert_eq!(number("-"), "\"'-\"");
        assert_eq!(number("-1+2"), "\"'-1+2\"");
        assert_eq!(number("1.2.3"), "\"1.2.3\"");
        assert_eq!(line(["a", "=b"]), "\"a\",\"'=b\"\r\n");
    }

    proptest! {
        /// A cell never starts (inside its quotes) with a formula trigger and
        /// always reads back to the original text (minus the added `'`).
        #[test]
        fn cells_are_safe_and_lossless(s in ".{0,40}") {
            let f = field(&s);
            prop_assert!(f.starts_with('"') && f.ends_with('"'));
            let inner = &f[1..f.len() - 1];
            prop_assert!(!matches!(inner.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')));
            let unquoted = inner.replace("\"\"", "\"");
            let back = if unquoted.len() > s.len() { unquoted[1..].to_string() } else { unquoted };
            prop_assert_eq!(back, s);
        }
    }
}
