//! Amounts as people type and read them: a decimal with a fixed number of
//! places held as an integer (money in minor units, `places` 2; lengths in
//! millimetres typed as metres, `places` 3), and their printing. Integer
//! arithmetic only, so `25.5` is exactly 25 500 and prints back the same.

/// Why a typed amount is refused (each reads after the value: `"1.001"
/// has more than 2 decimals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must not be negative")]
    Negative,
    #[error("is not a number")]
    NotANumber,
    #[error("has more than {0} decimals")]
    TooManyDecimals(u32),
    #[error("is too large")]
    TooLarge,
}

/// A non-negative decimal with at most `places` decimals, in units of
/// 10^-places: `parse_scaled("89.5", 2)` is 8 950. Digits and one point
/// only (a leading `+` and surrounding spaces allowed).
pub fn parse_scaled(v: &str, places: u32) -> Result<i64, AmountError> {
    let v = v.trim();
    if v.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let v = v.strip_prefix('+').unwrap_or(v);
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty() && frac.is_empty() || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(AmountError::NotANumber);
    }
    if frac.len() > places as usize {
        return Err(AmountError::TooManyDecimals(places));
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| AmountError::TooLarge)? };
    let frac: i64 = if places == 0 {
        0
    } else {
        format!("{frac:0<width$}", width = places as usize).parse().map_err(|_| AmountError::TooLarge)?
    };
    whole.checked_mul(10i64.pow(places)).and_then(|w| w.checked_add(frac)).ok_or(AmountError::TooLarge)
}

/// `89.00` from minor units (two places, a sign when negative).
pub fn fmt_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// Millimetres as metres without trailing zeros: `305`, `25.5`, `0.001`.
pub fn fmt_m(mm: i64) -> String {
    let sign = if mm < 0 { "-" } else { "" };
    let m = mm.unsigned_abs();
    match m % 1000 {
        0 => format!("{sign}{}", m / 1000),
        f => format!("{sign}{}.{}", m / 1000, format!("{f:03}").trim_end_matches('0')),
    }
}

/// `305 m`, `25.5 m`.
pub fn fmt_metres(mm: i64) -> String {
    format!("{} m", fmt_m(mm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typed_amounts() {
        assert_eq!(parse_scaled("89.00", 2), Ok(8_900));
        assert_eq!(parse_scaled(" +0.07 ", 2), Ok(7));
        assert_eq!(parse_scaled(".5", 2), Ok(50));
        assert_eq!(parse_scaled("25.5", 3), Ok(25_500));
        assert_eq!(parse_scaled("7", 0), Ok(7));
        assert_eq!(parse_scaled("89.001", 2), Err(AmountError::TooManyDecimals(2)));
        assert_eq!(parse_scaled("-1", 2), Err(AmountError::Negative));
        for bad in ["", ".", "1,50", "12a", "1.2.3", "1e3", "€5"] {
            assert_eq!(parse_scaled(bad, 2), Err(AmountError::NotANumber), "{bad:?}");
        }
        assert_eq!(parse_scaled("99999999999999999999", 2), Err(AmountError::TooLarge));
        assert_eq!(parse_scaled("92233720368547759", 2), Err(AmountError::TooLarge), "overflows when scaled");
        assert_eq!((fmt_minor(8_905), fmt_minor(5), fmt_minor(-150)), ("89.05".into(), "0.05".into(), "-1.50".into()));
        assert_eq!(
            (fmt_metres(305_000), fmt_metres(25_500), fmt_m(1)),
            ("305 m".into(), "25.5 m".into(), "0.001".into())
        );
        assert_eq!(fmt_m(-25_250), "-25.25");
    }

    proptest! {
        /// What is printed reads back as the same amount.
        #[test]
        fn printed_amounts_read_back(v in 0i64..i64::MAX / 10) {
            prop_assert_eq!(parse_scaled(&fmt_minor(v), 2), Ok(v));
            prop_assert_eq!(parse_scaled(&fmt_m(v), 3), Ok(v));
        }
    }
}
