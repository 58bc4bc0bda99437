//! Money: integer minor units with a currency, checked arithmetic, explicit
//! rounding, user-input parsing and exact allocation (largest remainder).

use super::error::{BillingError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency: its three-letter code and how many decimal digits
/// its minor unit has (USD 2, JPY 0, KWD 3; at most 4, as in ISO 4217).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "CurrencyRepr", into = "CurrencyRepr")]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

#[derive(Serialize, Deserialize)]
struct CurrencyRepr {
    code: String,
    exponent: u8,
}

impl TryFrom<CurrencyRepr> for Currency {
    type Error = BillingError;
    fn try_from(r: CurrencyRepr) -> Result<Self> {
        Currency::new(&r.code, r.exponent)
    }
}

impl From<Currency> for CurrencyRepr {
    fn from(c: Currency) -> Self {
        CurrencyRepr { code: c.code().to_owned(), exponent: c.exponent }
    }
}

impl Currency {
    /// US dollar (2 decimals).
    pub const USD: Currency = Currency { code: *b"USD", exponent: 2 };
    /// Euro (2 decimals).
    pub const EUR: Currency = Currency { code: *b"EUR", exponent: 2 };
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency { code: *b"JPY", exponent: 0 };
    /// Kuwaiti dinar (3 decimals).
    pub const KWD: Currency = Currency { code: *b"KWD", exponent: 3 };

    /// A currency from its code (three ASCII capitals) and minor-unit
    /// exponent (0..=4).
    pub fn new(code: &str, exponent: u8) -> Result<Currency> {
        let b = code.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_uppercase) || exponent > 4 {
            return Err(BillingError::InvalidCurrency { code: code.to_owned(), exponent });
        }
        Ok(Currency { code: [b[0], b[1], b[2]], exponent })
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // Only ASCII capitals get in (checked in `new`).
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Decimal digits of the minor unit.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Minor units per major unit (10^exponent).
    pub fn scale(&self) -> i64 {
        10i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.code(), self.exponent)
    }
}

/// How a quotient that falls between two minor units is rounded.
///
/// The default is [`RoundingMode::HalfEven`] (bankers' rounding): exact
/// halves go to the even neighbour, so over thousands of lines the rounding
/// errors cancel instead of all pushing the total up, which is what an
/// invoice run over a whole customer base wants. [`RoundingMode::HalfUp`]
/// (commercial rounding, halves away from zero) is there because many tax
/// authorities prescribe it: set it on the tax class that needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoundingMode {
    /// Nearest; exact halves to the even neighbour (bankers' rounding).
    #[default]
    HalfEven,
    /// Nearest; exact halves away from zero (commercial rounding).
    HalfUp,
    /// Truncate toward zero.
    TowardZero,
    /// Any fraction rounds away from zero.
    AwayFromZero,
}

/// `num / den` rounded with `mode`, in 128 bits (callers keep the inputs
/// small enough: i64 × i64 never overflows i128).
pub fn div_round(num: i128, den: i128, mode: RoundingMode) -> Result<i128> {
    if den == 0 {
        return Err(BillingError::DivisionByZero);
    }
    let (num, den) = if den < 0 { (num.checked_neg().ok_or(BillingError::Overflow)?, -den) } else { (num, den) };
    let q = num / den;
    let r = num % den;
    if r == 0 {
        return Ok(q);
    }
    let away = if num < 0 { q - 1 } else { q + 1 };
    let twice = r.unsigned_abs() * 2;
    let den_u = den.unsigned_abs();
    Ok(match mode {
        RoundingMode::TowardZero => q,
        RoundingMode::AwayFromZero => away,
        RoundingMode::HalfUp => {
            if twice >= den_u {
                away
            } else {
                q
            }
        }
        RoundingMode::HalfEven => {
            if twice > den_u || (twice == den_u && q % 2 != 0) {
                away
            } else {
                q
            }
        }
    })
}

fn to_i64(v: i128) -> Result<i64> {
    i64::try_from(v).map_err(|_| BillingError::Overflow)
}

/// Splits `total` over `weights` so that the parts sum to `total` exactly:
/// each part gets the floor of its exact share (of the magnitude), and the
/// minor units left over go one each to the parts with the largest
/// remainders, ties to the lower index (largest-remainder / Hamilton
/// method). Every part is within one minor unit of its exact share; a zero
/// weight gets zero. Negative totals are split by magnitude and negated.
pub fn allocate_minor(total: i64, weights: &[u64], out: &mut [i64]) -> Result<()> {
    if weights.len() != out.len() {
        return Err(BillingError::AllocationShape { weights: weights.len(), slots: out.len() });
    }
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return Err(BillingError::DivisionByZero);
    }
    let mag = u128::from(total.unsigned_abs());
    let neg = total < 0;
    let mut given: u128 = 0;
    for (o, &w) in out.iter_mut().zip(weights) {
        // mag < 2^64 and w < 2^64, so the product fits in u128.
        let share = mag * u128::from(w) / sum;
        given += share;
        *o = share as i64; // share <= mag <= 2^63; fixed below for 2^63
    }
    let mut left = mag - given; // < number of parts
    if left > 0 {
        // Rank by remainder (descending), then index (ascending).
        let mut order: Vec<(u128, usize)> =
            weights.iter().enumerate().map(|(i, &w)| (mag * u128::from(w) % sum, i)).collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in &order {
            if left == 0 {
                break;
            }
            out[i] = (out[i] as u64 + 1) as i64;
            left -= 1;
        }
    }
    if neg {
        for o in out.iter_mut() {
            // The magnitude 2^63 wrapped to i64::MIN above, which is already
            // the right negative value; everything else negates normally.
            *o = o.wrapping_neg();
        }
    }
    Ok(())
}

/// An amount: integer minor units (cents for USD) of one currency.
///
/// All arithmetic is checked: overflow and a currency mismatch are
/// [`BillingError`]s, never panics or silent wraps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (may be negative: credits, refunds).
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// `minor` units of `currency`.
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    fn same(&self, other: &Money) -> Result<()> {
        if self.currency != other.currency {
            return Err(BillingError::CurrencyMismatch { left: self.currency, right: other.currency });
        }
        Ok(())
    }

    /// `self + other`.
    pub fn checked_add(self, other: Money) -> Result<Money> {
        self.same(&other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(BillingError::Overflow)?;
        Ok(Money { minor, currency: self.currency })
    }

    /// `self - other`.
    pub fn checked_sub(self, other: Money) -> Result<Money> {
        self.same(&other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(BillingError::Overflow)?;
        Ok(Money { minor, currency: self.currency })
    }

    /// `-self`.
    pub fn checked_neg(self) -> Result<Money> {
        let minor = self.minor.checked_neg().ok_or(BillingError::Overflow)?;
        Ok(Money { minor, currency: self.currency })
    }

    /// `self × n` (a quantity).
    pub fn checked_mul(self, n: i64) -> Result<Money> {
        let minor = self.minor.checked_mul(n).ok_or(BillingError::Overflow)?;
        Ok(Money { minor, currency: self.currency })
    }

    /// The smaller of two amounts of the same currency.
    pub fn min(self, other: Money) -> Result<Money> {
        self.same(&other)?;
        Ok(if other.minor < self.minor { other } else { self })
    }

    /// `self × num / den`, rounded with `mode` (computed in 128 bits, so
    /// only the result can overflow).
    pub fn mul_ratio(self, num: i64, den: i64, mode: RoundingMode) -> Result<Money> {
        let v = div_round(i128::from(self.minor) * i128::from(num), i128::from(den), mode)?;
        Ok(Money { minor: to_i64(v)?, currency: self.currency })
    }

    /// `self × bp / 10,000` (a percentage in basis points: 825 = 8.25 %),
    /// rounded with `mode`.
    pub fn percent_bp(self, bp: i64, mode: RoundingMode) -> Result<Money> {
        self.mul_ratio(bp, 10_000, mode)
    }

    /// Splits the amount over `weights` so the parts sum to it exactly
    /// (largest remainder, see [`allocate_minor`]).
    pub fn allocate(self, weights: &[u64]) -> Result<Vec<Money>> {
        let mut out = vec![0i64; weights.len()];
        allocate_minor(self.minor, weights, &mut out)?;
        Ok(out.into_iter().map(|minor| Money { minor, currency: self.currency }).collect())
    }

    /// Sum of `items`, all of `currency` (an empty sum is zero).
    pub fn sum<I: IntoIterator<Item = Money>>(currency: Currency, items: I) -> Result<Money> {
        items.into_iter().try_fold(Money::zero(currency), Money::checked_add)
    }

    /// Parses what a person typed: `12`, `12.3`, `12.34`, `-5.00`,
    /// optionally followed by the currency code (`12.34 USD`, any case).
    /// Refuses more decimals than the currency has (`1.234` for USD, any
    /// decimal point for JPY), thousands separators, exponents, a bare or
    /// trailing point, a plus sign, and amounts that overflow.
    pub fn parse(input: &str, currency: Currency) -> Result<Money> {
        let err = |reason| BillingError::Parse { input: input.chars().take(64).collect(), reason };
        let mut s = input.trim();
        if let Some((num, code)) = s.rsplit_once(char::is_whitespace) {
            if !code.eq_ignore_ascii_case(currency.code()) {
                return Err(err("wrong currency"));
            }
            s = num.trim_end();
        }
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        if int.is_empty() {
            return Err(err("no digits before the decimal point"));
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("only digits and one decimal point are allowed"));
        }
        let exp = usize::from(currency.exponent);
        let frac = frac.unwrap_or("");
        if s.contains('.') {
            if exp == 0 {
                return Err(err("this currency has no decimals"));
            }
            if frac.is_empty() {
                return Err(err("no digits after the decimal point"));
            }
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("only digits and one decimal point are allowed"));
        }
        if frac.len() > exp {
            return Err(err("too many decimals for this currency"));
        }
        let mut v: u64 = 0;
        for b in int.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(b'0', exp - frac.len())) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or_else(|| err("amount too large"))?;
        }
        let signed = if neg { -i128::from(v) } else { i128::from(v) };
        let minor = i64::try_from(signed).map_err(|_| err("amount too large"))?;
        Ok(Money { minor, currency })
    }

    /// The amount without the code: `-12.34`, `1234` for JPY.
    pub fn fmt_amount(&self) -> String {
        let exp = u32::from(self.currency.exponent);
        let mag = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        if exp == 0 {
            return format!("{sign}{mag}");
        }
        let scale = 10u64.pow(exp);
        format!("{sign}{}.{:0w$}", mag / scale, mag % scale, w = exp as usize)
    }
}

impl fmt::Display for Money {
    /// `12.34 USD`, `-0.05 EUR`, `1234 JPY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.fmt_amount(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(m: i64) -> Money {
        Money::new(m, Currency::USD)
    }

    #[test]
    fn currencies() {
        assert_eq!(Currency::new("USD", 2).unwrap(), Currency::USD);
        assert!(Currency::new("usd", 2).is_err());
        assert!(Currency::new("US", 2).is_err());
        assert!(Currency::new("USDX", 2).is_err());
        assert!(Currency::new("ÜSD", 2).is_err());
        assert!(Currency::new("USD", 5).is_err());
        assert_eq!(Currency::KWD.scale(), 1000);
        let json = serde_json::to_string(&Currency::JPY).unwrap();
        assert_eq!(json, r#"{"code":"JPY","exponent":0}"#);
        assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), Currency::JPY);
        assert!(serde_json::from_str::<Currency>(r#"{"code":"jp","exponent":0}"#).is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(usd(1234).to_string(), "12.34 USD");
        assert_eq!(usd(-5).to_string(), "-0.05 USD");
        assert_eq!(usd(0).to_string(), "0.00 USD");
        assert_eq!(Money::new(1234, Currency::JPY).to_string(), "1234 JPY");
        assert_eq!(Money::new(-1, Currency::KWD).to_string(), "-0.001 KWD");
        assert_eq!(usd(i64::MIN).to_string(), "-92233720368547758.08 USD");
    }

    #[test]
    fn parsing() {
        let p = |s| Money::parse(s, Currency::USD).map(|m| m.minor);
        assert_eq!(p("12.34"), Ok(1234));
        assert_eq!(p("12"), Ok(1200));
        assert_eq!(p("12.3"), Ok(1230));
        assert_eq!(p(" -0.05 "), Ok(-5));
        assert_eq!(p("12.34 USD"), Ok(1234));
        assert_eq!(p("12.34 usd"), Ok(1234));
        assert_eq!(p("007"), Ok(700));
        for bad in [
            "",
            "-",
            "12.345",
            "12.",
            ".5",
            "1,000",
            "1e3",
            "+5",
            "12.34 EUR",
            "12..3",
            "1 2",
            "--1",
            "0x10",
            "٣",
            "92233720368547758.08",
            "99999999999999999999",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        assert_eq!(p("-92233720368547758.08"), Ok(i64::MIN));
        assert_eq!(Money::parse("1234", Currency::JPY).unwrap().minor, 1234);
        assert!(Money::parse("12.5", Currency::JPY).is_err());
        assert_eq!(Money::parse("1.234", Currency::KWD).unwrap().minor, 1234);
        assert!(Money::parse("1.2345", Currency::KWD).is_err());
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(usd(5).checked_add(usd(7)), Ok(usd(12)));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(BillingError::Overflow));
        assert_eq!(usd(i64::MIN).checked_neg(), Err(BillingError::Overflow));
        assert_eq!(usd(i64::MIN).checked_sub(usd(1)), Err(BillingError::Overflow));
        assert_eq!(usd(i64::MAX).checked_mul(2), Err(BillingError::Overflow));
        assert!(matches!(usd(1).checked_add(Money::new(1, Currency::EUR)), Err(BillingError::CurrencyMismatch { .. })));
        assert_eq!(Money::sum(Currency::USD, [usd(1), usd(2)]), Ok(usd(3)));
        assert!(Money::sum(Currency::EUR, [usd(1)]).is_err());
        assert_eq!(usd(1).mul_ratio(1, 0, RoundingMode::HalfEven), Err(BillingError::DivisionByZero));
        assert_eq!(usd(i64::MAX).mul_ratio(3, 2, RoundingMode::HalfEven), Err(BillingError::Overflow));
        assert_eq!(usd(i64::MAX).mul_ratio(i64::MAX, i64::MAX, RoundingMode::HalfEven), Ok(usd(i64::MAX)));
    }

    #[test]
    fn rounding_modes() {
        use RoundingMode::*;
        let r = |n, d, m| div_round(n, d, m).unwrap();
        // 2.5 -> HalfEven 2, HalfUp 3; 3.5 -> 4 and 4; -2.5 -> -2 and -3.
        assert_eq!((r(5, 2, HalfEven), r(5, 2, HalfUp)), (2, 3));
        assert_eq!((r(7, 2, HalfEven), r(7, 2, HalfUp)), (4, 4));
        assert_eq!((r(-5, 2, HalfEven), r(-5, 2, HalfUp)), (-2, -3));
        assert_eq!((r(5, -2, HalfEven), r(-5, -2, HalfUp)), (-2, 3));
        assert_eq!((r(7, 3, TowardZero), r(7, 3, AwayFromZero)), (2, 3));
        assert_eq!((r(-7, 3, TowardZero), r(-7, 3, AwayFromZero)), (-2, -3));
        assert_eq!((r(7, 3, HalfEven), r(8, 3, HalfEven)), (2, 3));
        assert_eq!(RoundingMode::default(), HalfEven);
        // 8.25 % of 10.10 = 0.83325 -> 0.83; of 0.06 = 0.00495 -> 0.00.
        assert_eq!(usd(1010).percent_bp(825, HalfUp), Ok(usd(83)));
        assert_eq!(usd(6).percent_bp(825, HalfUp), Ok(usd(0)));
        // 10 % of 0.25 = 0.025: the half case.
        assert_eq!(usd(25).percent_bp(1000, HalfUp), Ok(usd(3)));
        assert_eq!(usd(25).percent_bp(1000, HalfEven), Ok(usd(2)));
    }

    #[test]
    fn allocation_examples() {
        let a = |t: i64, w: &[u64]| usd(t).allocate(w).unwrap().iter().map(|m| m.minor).collect::<Vec<_>>();
        assert_eq!(a(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(a(-100, &[1, 1, 1]), vec![-34, -33, -33]);
        assert_eq!(a(5000, &[14, 17]), vec![2258, 2742]);
        assert_eq!(a(1, &[0, 3, 3]), vec![0, 1, 0]);
        assert_eq!(a(i64::MIN, &[1, 1]), vec![-(1 << 62), -(1 << 62)]);
        assert_eq!(a(i64::MIN, &[1, 0]), vec![i64::MIN, 0]);
        assert_eq!(a(i64::MAX, &[u64::MAX, u64::MAX]).iter().map(|&x| x as i128).sum::<i128>(), i64::MAX as i128);
        assert_eq!(usd(1).allocate(&[]), Err(BillingError::DivisionByZero));
        assert_eq!(usd(1).allocate(&[0, 0]), Err(BillingError::DivisionByZero));
        let mut out = [0i64; 1];
        assert!(allocate_minor(1, &[1, 2], &mut out).is_err());
    }

    proptest! {
        #[test]
        fn allocation_is_exact_and_fair(total in any::<i64>(), weights in prop::collection::vec(any::<u64>(), 1..12)) {
            let mut out = vec![0i64; weights.len()];
            match allocate_minor(total, &weights, &mut out) {
                Err(e) => prop_assert_eq!(e, BillingError::DivisionByZero),
                Ok(()) => {
                    let sum: i128 = out.iter().map(|&x| i128::from(x)).sum();
                    prop_assert_eq!(sum, i128::from(total));
                    let wsum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
                    let mag = u128::from(total.unsigned_abs());
                    for (&o, &w) in out.iter().zip(&weights) {
                        // The floor of the exact share, or one more when there is a remainder.
                        let (q, r) = (mag * u128::from(w) / wsum, mag * u128::from(w) % wsum);
                        let got = u128::from(o.unsigned_abs());
                        prop_assert!(got == q || (got == q + 1 && r != 0));
                        prop_assert!(o == 0 || (o < 0) == (total < 0));
                    }
                }
            }
        }

        #[test]
        fn format_parse_round_trip(minor in any::<i64>(), cur in prop::sample::select(vec![Currency::USD, Currency::JPY, Currency::KWD])) {
            let m = Money::new(minor, cur);
            prop_assert_eq!(Money::parse(&m.to_string(), cur), Ok(m));
            prop_assert_eq!(Money::parse(&m.fmt_amount(), cur), Ok(m));
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = Money::parse(&s, Currency::USD);
            let _ = Money::parse(&s, Currency::JPY);
        }

        #[test]
        fn arithmetic_never_panics(a in any::<i64>(), b in any::<i64>(), n in any::<i64>(), d in any::<i64>(), mode in prop::sample::select(vec![RoundingMode::HalfEven, RoundingMode::HalfUp, RoundingMode::TowardZero, RoundingMode::AwayFromZero])) {
            let (x, y) = (usd(a), usd(b));
            let _ = x.checked_add(y);
            let _ = x.checked_sub(y);
            let _ = x.checked_mul(b);
            let _ = x.checked_neg();
            if let Ok(r) = x.mul_ratio(n, d, mode) {
                // Within one minor unit of the exact quotient.
                let exact = i128::from(a) * i128::from(n);
                let diff = (i128::from(r.minor) * i128::from(d) - exact).abs();
                prop_assert!(diff < i128::from(d).abs());
            }
            let _ = x.percent_bp(n, mode);
        }

        #[test]
        fn half_even_and_half_up_differ_only_on_halves(n in -1_000_000i128..1_000_000, d in 1i128..1000) {
            let e = div_round(n, d, RoundingMode::HalfEven).unwrap();
            let u = div_round(n, d, RoundingMode::HalfUp).unwrap();
            if e != u {
                prop_assert_eq!((n % d).abs() * 2, d);
            }
            // Both are a nearest integer.
            prop_assert!((e * d - n).abs() * 2 <= d);
            prop_assert!((u * d - n).abs() * 2 <= d);
        }
    }
}
