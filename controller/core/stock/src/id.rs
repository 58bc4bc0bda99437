//! Identifiers typed or scanned by people: MAC addresses and serial numbers.
//!
//! - **MAC**: accepted as `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`,
//!   `aabb.ccdd.eeff` or `aabbccddeeff`, in any case, with surrounding
//!   whitespace and an optional `MAC` prefix followed by `:`, `=`, `#` or
//!   spaces (what barcode scanners and labels add). The separators of one
//!   address must all be the same. All zeros, the broadcast address and
//!   multicast addresses (first octet odd) are refused: no device has them.
//!   Locally administered addresses are accepted (many CPEs use them). The
//!   normal form is lower-case with colons.
//! - **Serial number**: trimmed and upper-cased, then 3 to 64 characters of
//!   `A-Z 0-9 - _ . /`.
//!
//! Errors name the field and quote (a shortened copy of) the input.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shortest and longest serial number, in characters.
pub const SERIAL_LEN: (usize, usize) = (3, 64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("MAC address {input:?}: {problem}")]
    Mac { input: String, problem: MacProblem },
    #[error("serial number {input:?}: {problem}")]
    Serial { input: String, problem: SerialProblem },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MacProblem {
    #[error("expected 12 hex digits, as aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff")]
    Format,
    #[error("all zeros is not a device's address")]
    Zero,
    #[error("the broadcast address is not a device's address")]
    Broadcast,
    #[error("a multicast address (first octet odd) is not a device's address")]
    Multicast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SerialProblem {
    #[error("too short ({0} characters, at least 3)")]
    TooShort(usize),
    #[error("too long ({0} characters, at most 64)")]
    TooLong(usize),
    #[error("{0:?} is not allowed (only letters, digits and - _ . /)")]
    Char(char),
}

/// The input as quoted in an error: at most 40 characters.
fn quoted(s: &str) -> String {
    let mut q: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        q.push('…');
    }
    q
}

/// A device's MAC address (EUI-48), valid for a unit: not zero, broadcast
/// or multicast.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 6]);

impl Mac {
    /// Reads an address in any accepted form (see the module's rules).
    pub fn parse(input: &str) -> Result<Mac, IdError> {
        let err = |problem| IdError::Mac { input: quoted(input), problem };
        let mut s = input.trim();
        if s.len() >= 3 && s.as_bytes()[..3].eq_ignore_ascii_case(b"mac") {
            s = s[3..].trim_start_matches([':', '=', '#', ' ', '\t']);
        }
        let b = s.as_bytes();
        let hex: Vec<u8> = match b.len() {
            17 => {
                let sep = b[2];
                if !(sep == b':' || sep == b'-') || (2..17).step_by(3).any(|i| b[i] != sep) {
                    return Err(err(MacProblem::Format));
                }
                b.chunks(3).flat_map(|c| [c[0], c[1]]).collect()
            }
            14 => {
                if b[4] != b'.' || b[9] != b'.' {
                    return Err(err(MacProblem::Format));
                }
                b.chunks(5).flat_map(|c| [c[0], c[1], c[2], c[3]]).collect()
            }
            12 => b.to_vec(),
            _ => return Err(err(MacProblem::Format)),
        };
        let mut out = [0u8; 6];
        for (i, pair) in hex.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16).ok_or(err(MacProblem::Format))?;
            let lo = (pair[1] as char).to_digit(16).ok_or(err(MacProblem::Format))?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Mac::from_octets(out).map_err(err)
    }

    /// An address from its octets, with the same refusals as [`Mac::parse`].
    pub fn from_octets(o: [u8; 6]) -> Result<Mac, MacProblem> {
        if o == [0; 6] {
            Err(MacProblem::Zero)
        } else if o == [0xff; 6] {
            Err(MacProblem::Broadcast)
        } else if o[0] & 1 == 1 {
            Err(MacProblem::Multicast)
        } else {
            Ok(Mac(o))
        }
    }

    pub fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3], o[4], o[5])
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

impl FromStr for Mac {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Mac, IdError> {
        Mac::parse(s)
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let s = String::deserialize(d)?;
        Mac::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A serial number in normal form (trimmed, upper case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(String);

impl Serial {
    pub fn parse(input: &str) -> Result<Serial, IdError> {
        let err = |problem| IdError::Serial { input: quoted(input), problem };
        let s = input.trim().to_uppercase();
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || "-_./".contains(*c))) {
            return Err(err(SerialProblem::Char(c)));
        }
        let n = s.len();
        if n < SERIAL_LEN.0 {
            return Err(err(SerialProblem::TooShort(n)));
        }
        if n > SERIAL_LEN.1 {
            return Err(err(SerialProblem::TooLong(n)));
        }
        Ok(Serial(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Serial {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Serial, IdError> {
        Serial::parse(s)
    }
}

impl Serialize for Serial {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Serial, D::Error> {
        let s = String::deserialize(d)?;
        Serial::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mac_forms_normalise_to_lower_case_colons() {
        for s in [
            "aa:bb:cc:dd:ee:f0",
            "AA-BB-CC-DD-EE-F0",
            "aabb.ccdd.eef0",
            "AABBCCDDEEF0",
            "  aa:bb:cc:dd:ee:f0\n",
            "MAC:AABBCCDDEEF0",
            "mac: aa-bb-cc-dd-ee-f0",
            "MAC=aabb.ccdd.eef0",
            "Mac AA:BB:CC:DD:EE:F0\r\n",
        ] {
            assert_eq!(Mac::parse(s).unwrap().to_string(), "aa:bb:cc:dd:ee:f0", "{s:?}");
        }
        // Locally administered (second bit of the first octet) is fine.
        assert_eq!(Mac::parse("02:00:00:00:00:01").unwrap().to_string(), "02:00:00:00:00:01");
    }

    #[test]
    fn mac_refusals_say_why_and_name_the_field() {
        let problem = |s: &str| match Mac::parse(s) {
            Err(IdError::Mac { problem, .. }) => problem,
            other => panic!("{s:?}: {other:?}"),
        };
        assert_eq!(problem("00:00:00:00:00:00"), MacProblem::Zero);
        assert_eq!(problem("ff:ff:ff:ff:ff:ff"), MacProblem::Broadcast);
        assert_eq!(problem("01:00:5e:00:00:01"), MacProblem::Multicast);
        assert_eq!(problem("33:33:00:00:00:01"), MacProblem::Multicast);
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb-cc:dd:ee:ff",
            "aa:bb:cc:dd:ee:fg",
            "aabbccddeeff00",
            "aabb.ccdd-eeff",
            "aa bb cc dd ee ff",
            "aa:bb:cc:dd:ee:ff:",
            "+abbccddeeff",
            "MAC:",
            "aabbccddeéff",
        ] {
            assert_eq!(problem(bad), MacProblem::Format, "{bad:?}");
        }
        let e = Mac::parse(" zz:bb:cc:dd:ee:ff").unwrap_err().to_string();
        assert!(e.starts_with("MAC address \" zz:bb:cc:dd:ee:ff\": expected 12 hex digits"), "{e}");
        let long = "x".repeat(100);
        assert!(Mac::parse(&long).unwrap_err().to_string().len() < 200, "the input is shortened");
    }

    #[test]
    fn mac_serde_is_the_normal_form_and_validates() {
        let m = Mac::parse("AA-BB-CC-DD-EE-F0").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"aa:bb:cc:dd:ee:f0\"");
        assert_eq!(serde_json::from_str::<Mac>("\"aabbccddeef0\"").unwrap(), m);
        assert!(serde_json::from_str::<Mac>("\"ff:ff:ff:ff:ff:ff\"").is_err());
    }

    #[test]
    fn serials_are_trimmed_upper_cased_and_checked() {
        assert_eq!(Serial::parse("  abc-123_x./y \n").unwrap().as_str(), "ABC-123_X./Y");
        assert_eq!(Serial::parse("a1b").unwrap().as_str(), "A1B");
        assert_eq!(Serial::parse(&"9".repeat(64)).unwrap().as_str().len(), 64);
        let problem = |s: &str| match Serial::parse(s) {
            Err(IdError::Serial { problem, .. }) => problem,
            other => panic!("{s:?}: {other:?}"),
        };
        assert_eq!(problem("ab"), SerialProblem::TooShort(2));
        assert_eq!(problem("   "), SerialProblem::TooShort(0));
        assert_eq!(problem(&"9".repeat(65)), SerialProblem::TooLong(65));
        assert_eq!(problem("SN 123"), SerialProblem::Char(' '));
        assert_eq!(problem("S/N:123"), SerialProblem::Char(':'));
        assert_eq!(problem("ABCÉ1"), SerialProblem::Char('É'));
        assert_eq!(
            Serial::parse("x,y").unwrap_err().to_string(),
            "serial number \"x,y\": ',' is not allowed (only letters, digits and - _ . /)"
        );
        assert_eq!(serde_json::from_str::<Serial>("\" ab1 \"").unwrap().as_str(), "AB1");
        assert!(serde_json::from_str::<Serial>("\"a\"").is_err());
    }

    proptest! {
        /// Every valid address reads back from each written form, and its
        /// normal form is a fixed point.
        #[test]
        fn mac_forms_round_trip(o in any::<[u8; 6]>()) {
            match Mac::from_octets(o) {
                Ok(m) => {
                    let h: String = o.iter().map(|b| format!("{b:02X}")).collect();
                    let dots = format!("{}.{}.{}", &h[0..4], &h[4..8], &h[8..12]);
                    for s in [m.to_string(), m.to_string().replace(':', "-").to_uppercase(), h.clone(), dots] {
                        prop_assert_eq!(Mac::parse(&s).unwrap(), m);
                    }
                    prop_assert_eq!(Mac::parse(&m.to_string()).unwrap().to_string(), m.to_string());
                }
                Err(_) => prop_assert!(o == [0; 6] || o[0] & 1 == 1),
            }
        }

        /// Normalising a serial twice changes nothing.
        #[test]
        fn serial_normal_form_is_stable(s in "[ a-zA-Z0-9_./-]{0,70}") {
            if let Ok(n) = Serial::parse(&s) {
                prop_assert_eq!(Serial::parse(n.as_str()).unwrap(), n.clone());
                prop_assert!((3..=64).contains(&n.as_str().len()));
            }
        }
    }
}
