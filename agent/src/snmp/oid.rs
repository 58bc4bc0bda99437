//! OIDs as plain `u32` arcs: parsing, formatting and BER content encoding
//! (pure). Agents send OIDs we decode ourselves so that an arc too large or a
//! truncated encoding is an error value, never a panic.

/// `"1.3.6.1"` or `".1.3.6.1"` to arcs; `None` on anything else.
pub fn parse(s: &str) -> Option<Vec<u32>> {
    let s = s.strip_prefix('.').unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    s.split('.').map(|p| p.parse::<u32>().ok()).collect()
}

/// Dotted form without a leading dot.
pub fn format(oid: &[u32]) -> String {
    let mut s = String::with_capacity(oid.len() * 4);
    for (i, a) in oid.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(&a.to_string());
    }
    s
}

fn push_base128(mut v: u64, out: &mut Vec<u8>) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    loop {
        tmp[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(tmp[i] | if i > 0 { 0x80 } else { 0 });
    }
}

/// BER content octets of an OID (without tag and length). OIDs with fewer
/// than two arcs are encoded as `0.0` followed by nothing: they never occur in
/// requests Mast builds.
pub fn encode(oid: &[u32], out: &mut Vec<u8>) {
    let (a, b) = match oid {
        [a, b, ..] => (*a, *b),
        _ => (0, 0),
    };
    push_base128(u64::from(a.min(2)) * 40 + u64::from(b), out);
    for arc in oid.iter().skip(2) {
        push_base128(u64::from(*arc), out);
    }
}

/// Decodes BER content octets; `None` when empty, truncated, or an arc does
/// not fit 32 bits.
pub fn decode(bytes: &[u8]) -> Option<Vec<u32>> {
    if bytes.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + 1);
    let mut cur: u64 = 0;
    let mut first = true;
    let mut in_arc = false;
    for &b in bytes {
        if !in_arc && b == 0x80 {
            // A leading 0x80 is a non-minimal encoding (X.690 8.19.2).
            return None;
        }
        cur = (cur << 7) | u64::from(b & 0x7f);
        if cur > u64::from(u32::MAX) * 40 + 80 {
            return None;
        }
        in_arc = b & 0x80 != 0;
        if !in_arc {
            if first {
                let (x, y) = match cur {
                    0..40 => (0, cur),
                    40..80 => (1, cur - 40),
                    _ => (2, cur - 80),
                };
                out.push(x as u32);
                out.push(u32::try_from(y).ok()?);
                first = false;
            } else {
                out.push(u32::try_from(cur).ok()?);
            }
            cur = 0;
        }
    }
    if in_arc { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encoding() {
        let mut v = Vec::new();
        encode(&[1, 3, 6, 1, 4, 1, 41112, 1, 4], &mut v);
        assert_eq!(v, [0x2b, 6, 1, 4, 1, 0x82, 0xc1, 0x18, 1, 4]);
        assert_eq!(decode(&v).unwrap(), [1, 3, 6, 1, 4, 1, 41112, 1, 4]);
        assert_eq!(parse(".1.3.6.1").unwrap(), [1, 3, 6, 1]);
        assert_eq!(format(&[1, 3, 6, 1]), "1.3.6.1");
        assert!(parse("1.3.x").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn bad_encodings_are_none() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[0x2b, 0x86]).is_none(), "truncated arc");
        assert!(decode(&[0x2b, 0x80, 0x01]).is_none(), "non-minimal");
        assert!(decode(&[0x2b, 0x9f, 0xff, 0xff, 0xff, 0x7f]).is_none(), "arc over 32 bits");
    }

    proptest! {
        #[test]
        fn roundtrip(a in 0u32..3, b in 0u32..40, rest in proptest::collection::vec(any::<u32>(), 0..20)) {
            let mut oid = vec![a, b];
            oid.extend(rest);
            let mut v = Vec::new();
            encode(&oid, &mut v);
            prop_assert_eq!(decode(&v), Some(oid.clone()));
            prop_assert_eq!(parse(&format(&oid)), Some(oid));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode(&bytes);
        }
    }
}
