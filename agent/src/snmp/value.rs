//! Owned SNMP values, detached from the reply buffer (pure).

use mast_shared::msg::Mac;
use std::net::{IpAddr, Ipv4Addr};

/// One varbind value as Mast uses it. Exceptions (`NoSuchObject`,
/// `NoSuchInstance`, `EndOfMibView`) are values too, as in SNMPv2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Str(Vec<u8>),
    Oid(Vec<u32>),
    Ip([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    Ticks(u32),
    Counter64(u64),
    Opaque(Vec<u8>),
    Null,
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
    /// A type Mast has no use for (e.g. a nested sequence).
    Other,
}

impl Value {
    pub fn from_snmp2(v: &snmp2::Value<'_>) -> Value {
        use snmp2::Value as V;
        match v {
            V::Integer(i) => Value::Int(*i),
            V::OctetString(b) => Value::Str(b.to_vec()),
            V::ObjectIdentifier(o) => match super::oid::decode(o.as_bytes()) {
                Some(arcs) => Value::Oid(arcs),
                None => Value::Other,
            },
            V::IpAddress(a) => Value::Ip(*a),
            V::Counter32(c) => Value::Counter32(*c),
            V::Unsigned32(c) => Value::Gauge32(*c),
            V::Timeticks(t) => Value::Ticks(*t),
            V::Counter64(c) => Value::Counter64(*c),
            V::Opaque(b) => Value::Opaque(b.to_vec()),
            V::Null => Value::Null,
            V::NoSuchObject => Value::NoSuchObject,
            V::NoSuchInstance => Value::NoSuchInstance,
            V::EndOfMibView => Value::EndOfMibView,
            _ => Value::Other,
        }
    }

    /// `NoSuchObject`, `NoSuchInstance`, `EndOfMibView` or `Null` (what v1-ish
    /// agents return for a missing object).
    pub fn is_absent(&self) -> bool {
        matches!(self, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView | Value::Null)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Counter32(c) | Value::Gauge32(c) | Value::Ticks(c) => Some(i64::from(*c)),
            Value::Counter64(c) => i64::try_from(*c).ok(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Counter32(c) | Value::Gauge32(c) | Value::Ticks(c) => Some(u64::from(*c)),
            Value::Counter64(c) => Some(*c),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(b) | Value::Opaque(b) => Some(b),
            _ => None,
        }
    }

    /// Display text: lossy UTF-8, trailing NULs and surrounding whitespace
    /// removed (airOS pads names with NULs). `None` for non-strings and for
    /// empty text.
    pub fn as_text(&self) -> Option<String> {
        let b = self.as_bytes()?;
        let s = String::from_utf8_lossy(b);
        let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        (!s.is_empty()).then(|| s.to_string())
    }

    /// A MAC from 6 raw octets, or from text such as `aa:bb:cc:dd:ee:ff`
    /// (Cambium and some firmwares send MACs as DisplayString).
    pub fn as_mac(&self) -> Option<Mac> {
        let b = self.as_bytes()?;
        if let Ok(mac) = <[u8; 6]>::try_from(b) {
            return Some(mac);
        }
        mast_shared::msg::parse_mac(std::str::from_utf8(b).ok()?.trim_matches(|c: char| c == '\0' || c == ' '))
    }

    /// IpAddress, or a 4-octet string.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        match self {
            Value::Ip(a) => Some(Ipv4Addr::from(*a)),
            Value::Str(b) if b.len() == 4 => Some(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            _ => None,
        }
    }

    pub fn as_ip(&self) -> Option<IpAddr> {
        self.as_ipv4().map(IpAddr::V4)
    }
}

/// A MAC is worth reporting: not all zeros, not broadcast.
pub fn usable_mac(mac: &Mac) -> bool {
    mac != &[0; 6] && mac != &[0xff; 6]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_mac_decoding() {
        assert_eq!(Value::Str(b"patrikeevo_skl\0\0".to_vec()).as_text().as_deref(), Some("patrikeevo_skl"));
        assert_eq!(Value::Str(b"  ".to_vec()).as_text(), None);
        assert_eq!(Value::Int(3).as_text(), None);
        let mac = [0x68, 0x72, 0x51, 0, 0x34, 0x25];
        assert_eq!(Value::Str(mac.to_vec()).as_mac(), Some(mac));
        assert_eq!(Value::Str(b"68:72:51:00:34:25".to_vec()).as_mac(), Some(mac));
        assert_eq!(Value::Str(b"68-72-51-00-34-2".to_vec()).as_mac(), None);
        assert_eq!(Value::Str(vec![1, 2, 3]).as_mac(), None);
        assert!(!usable_mac(&[0; 6]));
        assert!(usable_mac(&mac));
        assert_eq!(Value::Counter64(u64::MAX).as_i64(), None);
        assert_eq!(Value::Int(-1).as_u64(), None);
        assert_eq!(Value::Ip([10, 0, 0, 1]).as_ip(), Some("10.0.0.1".parse().unwrap()));
    }
}
