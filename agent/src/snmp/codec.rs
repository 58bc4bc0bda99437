//! SNMPv2c messages (pure): request encoding, the request id of a reply
//! (for demultiplexing on a shared socket), and reply decoding into owned
//! varbinds. Replies are parsed with `snmp2`'s decoder, which returns errors
//! on hostile bytes (property-tested below) rather than panicking.

use super::oid;
use super::value::Value;

const TAG_INT: u8 = 0x02;
const TAG_OCTETS: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQ: u8 = 0x30;
const TAG_GET: u8 = 0xa0;
const TAG_GETNEXT: u8 = 0xa1;
const TAG_RESPONSE: u8 = 0xa2;
const TAG_GETBULK: u8 = 0xa5;

/// SNMP error-status values Mast reacts to.
pub const ERR_TOO_BIG: u32 = 1;
pub const ERR_AUTHORIZATION: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Get,
    GetNext,
    GetBulk { max_repetitions: u32 },
}

/// An owned reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub req_id: i32,
    pub error_status: u32,
    pub error_index: u32,
    pub varbinds: Vec<(Vec<u32>, Value)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("undecodable reply: {0}")]
    Asn(String),
    #[error("reply is not a Response PDU")]
    NotResponse,
    #[error("reply carries another community")]
    Community,
}

fn push_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn push_tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    push_len(content.len(), out);
    out.extend_from_slice(content);
}

fn push_int(v: i64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    // Minimal two's complement: drop leading bytes that only repeat the sign.
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    push_tlv(TAG_INT, &bytes[start..], out);
}

/// Encodes a v2c request. `max_repetitions` is clamped to what an i32 holds.
pub fn encode_request(community: &[u8], req_id: i32, req: Request, oids: &[&[u32]]) -> Vec<u8> {
    let mut vbl = Vec::with_capacity(oids.len() * 16);
    let mut one = Vec::with_capacity(32);
    let mut oid_bytes = Vec::with_capacity(24);
    for o in oids {
        one.clear();
        oid_bytes.clear();
        oid::encode(o, &mut oid_bytes);
        push_tlv(TAG_OID, &oid_bytes, &mut one);
        one.extend_from_slice(&[TAG_NULL, 0]);
        push_tlv(TAG_SEQ, &one, &mut vbl);
    }
    let (tag, a, b) = match req {
        Request::Get => (TAG_GET, 0, 0),
        Request::GetNext => (TAG_GETNEXT, 0, 0),
        Request::GetBulk { max_repetitions } => (TAG_GETBULK, 0, i64::from(max_repetitions.min(i32::MAX as u32))),
    };
    let mut pdu = Vec::with_capacity(vbl.len() + 20);
    push_int(i64::from(req_id), &mut pdu);
    push_int(a, &mut pdu);
    push_int(b, &mut pdu);
    push_tlv(TAG_SEQ, &vbl, &mut pdu);
    let mut msg = Vec::with_capacity(pdu.len() + community.len() + 12);
    push_int(1, &mut msg); // version: v2c
    push_tlv(TAG_OCTETS, community, &mut msg);
    push_tlv(tag, &pdu, &mut msg);
    let mut out = Vec::with_capacity(msg.len() + 4);
    push_tlv(TAG_SEQ, &msg, &mut out);
    out
}

/// Reads one TLV header; returns (tag, content, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The request id of a v1/v2c message, reading no further than needed. Used
/// to route a reply to the request waiting for it.
pub fn peek_request_id(bytes: &[u8]) -> Option<i32> {
    let (tag, msg, _) = tlv(bytes)?;
    if tag != TAG_SEQ {
        return None;
    }
    let (tag, _version, rest) = tlv(msg)?;
    if tag != TAG_INT {
        return None;
    }
    let (tag, _community, rest) = tlv(rest)?;
    if tag != TAG_OCTETS {
        return None;
    }
    let (_pdu_tag, pdu, _) = tlv(rest)?;
    let (tag, id, _) = tlv(pdu)?;
    if tag != TAG_INT || id.is_empty() || id.len() > 4 {
        return None;
    }
    let mut v: i32 = if id[0] & 0x80 != 0 { -1 } else { 0 };
    for b in id {
        v = (v << 8) | i32::from(*b);
    }
    Some(v)
}

/// Copies a decoded `snmp2` PDU into an owned [`Response`].
pub fn from_pdu(pdu: snmp2::Pdu<'_>) -> Response {
    let mut varbinds = Vec::new();
    for (name, value) in pdu.varbinds {
        let Some(arcs) = oid::decode(name.as_bytes()) else { break };
        varbinds.push((arcs, Value::from_snmp2(&value)));
    }
    Response { req_id: pdu.req_id, error_status: pdu.error_status, error_index: pdu.error_index, varbinds }
}

/// Decodes a v1/v2c reply and checks that it is a Response for `community`.
pub fn decode_response(bytes: &[u8], community: &[u8]) -> Result<Response, DecodeError> {
    if bytes.get(..2).is_some_and(|h| h[0] == TAG_SEQ) {
        // Cheap pre-check of the PDU tag so a request echoed back is not taken as a reply.
        if let Some((_, msg, _)) = tlv(bytes)
            && let Some((_, _, rest)) = tlv(msg)
            && let Some((_, _, rest)) = tlv(rest)
            && let Some(&pdu_tag) = rest.first()
            && pdu_tag != TAG_RESPONSE
        {
            return Err(DecodeError::NotResponse);
        }
    }
    let pdu = snmp2::Pdu::from_bytes(bytes).map_err(|e| DecodeError::Asn(e.to_string()))?;
    if pdu.message_type != snmp2::MessageType::Response {
        return Err(DecodeError::NotResponse);
    }
    if pdu.community != community {
        return Err(DecodeError::Community);
    }
    Ok(from_pdu(pdu))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a v2c Response as an agent would (for tests of the layers above).
    pub fn encode_response(community: &[u8], req_id: i32, error_status: u32, vbs: &[(Vec<u32>, Value)]) -> Vec<u8> {
        let mut vbl = Vec::new();
        for (o, v) in vbs {
            let mut one = Vec::new();
            let mut ob = Vec::new();
            oid::encode(o, &mut ob);
            push_tlv(TAG_OID, &ob, &mut one);
            match v {
                Value::Int(i) => push_int(*i, &mut one),
                Value::Str(s) => push_tlv(TAG_OCTETS, s, &mut one),
                Value::Oid(o) => {
                    let mut b = Vec::new();
                    oid::encode(o, &mut b);
                    push_tlv(TAG_OID, &b, &mut one)
                }
                Value::Ip(a) => push_tlv(0x40, a, &mut one),
                Value::Counter32(c) | Value::Gauge32(c) | Value::Ticks(c) => {
                    let tag = match v {
                        Value::Counter32(_) => 0x41,
                        Value::Gauge32(_) => 0x42,
                        _ => 0x43,
                    };
                    let mut b = Vec::new();
                    push_int(i64::from(*c), &mut b);
                    one.push(tag);
                    one.extend_from_slice(&b[1..]);
                }
                Value::Counter64(c) => {
                    let mut b = c.to_be_bytes().to_vec();
                    while b.len() > 1 && b[0] == 0 && b[1] & 0x80 == 0 {
                        b.remove(0);
                    }
                    if b[0] & 0x80 != 0 {
                        b.insert(0, 0);
                    }
                    push_tlv(0x46, &b, &mut one);
                }
                Value::NoSuchObject => one.extend_from_slice(&[0x80, 0]),
                Value::NoSuchInstance => one.extend_from_slice(&[0x81, 0]),
                Value::EndOfMibView => one.extend_from_slice(&[0x82, 0]),
                _ => one.extend_from_slice(&[TAG_NULL, 0]),
            }
            push_tlv(TAG_SEQ, &one, &mut vbl);
        }
        let mut pdu = Vec::new();
        push_int(i64::from(req_id), &mut pdu);
        push_int(i64::from(error_status), &mut pdu);
        push_int(0, &mut pdu);
        push_tlv(TAG_SEQ, &vbl, &mut pdu);
        let mut msg = Vec::new();
        push_int(1, &mut msg);
        push_tlv(TAG_OCTETS, community, &mut msg);
        push_tlv(TAG_RESPONSE, &pdu, &mut msg);
        let mut out = Vec::new();
        push_tlv(TAG_SEQ, &msg, &mut out);
        out
    }

    #[test]
    fn request_is_what_snmp2_parses() {
        let bytes = encode_request(
            b"public",
            77_000,
            Request::GetBulk { max_repetitions: 25 },
            &[&[1, 3, 6, 1, 2, 1, 2, 2, 1, 2]],
        );
        let pdu = snmp2::Pdu::from_bytes(&bytes).unwrap();
        assert_eq!(pdu.message_type, snmp2::MessageType::GetBulkRequest);
        assert_eq!(pdu.req_id, 77_000);
        assert_eq!(pdu.error_index, 25, "max-repetitions travels in the error-index slot");
        assert_eq!(pdu.community, b"public");
        assert_eq!(peek_request_id(&bytes), Some(77_000));
        let get = encode_request(b"c", -5, Request::Get, &[&[1, 3, 6, 1, 2, 1, 1, 1, 0], &[1, 3, 6, 1, 2, 1, 1, 3, 0]]);
        let pdu = snmp2::Pdu::from_bytes(&get).unwrap();
        assert_eq!(pdu.message_type, snmp2::MessageType::GetRequest);
        assert_eq!(pdu.varbinds.count(), 2);
        assert_eq!(peek_request_id(&get), Some(-5));
    }

    #[test]
    fn response_roundtrip_and_checks() {
        let vbs = vec![
            (vec![1, 3, 6, 1, 2, 1, 1, 1, 0], Value::Str(b"Linux".to_vec())),
            (vec![1, 3, 6, 1, 2, 1, 1, 3, 0], Value::Ticks(843_153_800)),
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 2], Value::Counter32(u32::MAX)),
            (vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 2], Value::Counter64(u64::MAX)),
            (vec![1, 3, 6, 1, 2, 1, 1, 2, 0], Value::Oid(vec![1, 3, 6, 1, 4, 1, 41112, 1, 4])),
            (vec![1, 3, 6, 1, 2, 1, 1, 9, 0], Value::NoSuchObject),
            (vec![1, 3, 6, 1, 2, 1, 4, 22, 1, 3, 1], Value::Ip([10, 0, 0, 1])),
            (vec![1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, 3, 1], Value::Int(-64)),
            (vec![1, 3, 6, 1, 9], Value::EndOfMibView),
        ];
        let bytes = encode_response(b"public", 9, 0, &vbs);
        assert_eq!(peek_request_id(&bytes), Some(9));
        let r = decode_response(&bytes, b"public").unwrap();
        assert_eq!(r.req_id, 9);
        assert_eq!(r.varbinds, vbs);
        assert_eq!(decode_response(&bytes, b"other"), Err(DecodeError::Community));
        let req = encode_request(b"public", 9, Request::Get, &[&[1, 3, 6, 1]]);
        assert_eq!(decode_response(&req, b"public"), Err(DecodeError::NotResponse));
        assert!(matches!(decode_response(&bytes[..bytes.len() - 3], b"public"), Err(DecodeError::Asn(_))));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = peek_request_id(&bytes);
            let _ = decode_response(&bytes, b"public");
        }

        #[test]
        fn mutated_replies_never_panic(pos in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
            let vbs = vec![
                (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1], Value::Str(b"eth0".to_vec())),
                (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 6, 1], Value::Str(vec![4, 0x18, 0xd6, 0x2a, 0x0a, 0x92])),
                (vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1], Value::Counter64(1 << 40)),
            ];
            let mut bytes = encode_response(b"public", 1234, 0, &vbs);
            if pos < bytes.len() {
                bytes[pos] = byte;
            }
            bytes.truncate(cut.max(1));
            let _ = peek_request_id(&bytes);
            let _ = decode_response(&bytes, b"public");
        }
    }
}
