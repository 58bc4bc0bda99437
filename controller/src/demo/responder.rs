//! An SNMPv2c responder for the demo's simulated radios ([`super::radios`]):
//! GET, GETNEXT and GETBULK over a device's [`Mib`], one UDP socket per
//! simulated device on its own loopback address. Requests are parsed with
//! `snmp2`'s decoder (errors, never panics, on hostile bytes); replies are
//! encoded here (BER, definite lengths), kept under one Ethernet MTU as a
//! radio's agent would. Demo only: `serve` never starts one.

use super::radios::{Mib, Val};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Largest reply, bytes (a GETBULK is cut short to fit, as real agents do).
const MAX_REPLY: usize = 1400;

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

/// Minimal two's-complement integer content.
fn int_content(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

fn oid_content(arcs: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arcs.len() + 2);
    let (a, b) = (arcs.first().copied().unwrap_or(0), arcs.get(1).copied().unwrap_or(0));
    let mut sub = |mut v: u64| {
        let mut tmp = [0u8; 10];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = (v & 0x7f) as u8 | if i == tmp.len() - 1 { 0 } else { 0x80 };
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        out.extend_from_slice(&tmp[i..]);
    };
    sub(u64::from(a) * 40 + u64::from(b));
    for &x in arcs.iter().skip(2) {
        sub(u64::from(x));
    }
    out
}

/// What a varbind carries in a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Value(Val),
    NoSuchObject,
    EndOfMibView,
}

fn push_varbind(oid: &[u32], v: &Reply, out: &mut Vec<u8>) {
    let mut one = Vec::with_capacity(32);
    push_tlv(0x06, &oid_content(oid), &mut one);
    match v {
        Reply::Value(Val::Int(i)) => push_tlv(0x02, &int_content(*i), &mut one),
        Reply::Value(Val::Str(s)) => push_tlv(0x04, s, &mut one),
        Reply::Value(Val::Oid(o)) => push_tlv(0x06, &oid_content(o), &mut one),
        Reply::Value(Val::Ip(a)) => push_tlv(0x40, a, &mut one),
        Reply::Value(Val::Counter32(c)) => push_tlv(0x41, &int_content(i64::from(*c)), &mut one),
        Reply::Value(Val::Gauge32(c)) => push_tlv(0x42, &int_content(i64::from(*c)), &mut one),
        Reply::Value(Val::Ticks(c)) => push_tlv(0x43, &int_content(i64::from(*c)), &mut one),
        Reply::NoSuchObject => one.extend_from_slice(&[0x80, 0]),
        Reply::EndOfMibView => one.extend_from_slice(&[0x82, 0]),
    }
    push_tlv(0x30, &one, out);
}

/// Encodes a v2c Response.
pub fn encode_response(community: &[u8], req_id: i32, varbinds: &[(Vec<u32>, Reply)]) -> Vec<u8> {
    let mut vbl = Vec::with_capacity(varbinds.len() * 24);
    for (o, v) in varbinds {
        push_varbind(o, v, &mut vbl);
    }
    let mut pdu = Vec::with_capacity(vbl.len() + 16);
    push_tlv(0x02, &int_content(i64::from(req_id)), &mut pdu);
    push_tlv(0x02, &[0], &mut pdu); // error-status
    push_tlv(0x02, &[0], &mut pdu); // error-index
    push_tlv(0x30, &vbl, &mut pdu);
    let mut msg = Vec::with_capacity(pdu.len() + community.len() + 8);
    push_tlv(0x02, &[1], &mut msg); // version: v2c
    push_tlv(0x04, community, &mut msg);
    push_tlv(0xa2, &pdu, &mut msg);
    let mut out = Vec::with_capacity(msg.len() + 4);
    push_tlv(0x30, &msg, &mut out);
    out
}

fn next_after(mib: &Mib, oid: &[u32]) -> (Vec<u32>, Reply) {
    use std::ops::Bound::{Excluded, Unbounded};
    match mib.range::<[u32], _>((Excluded(oid), Unbounded)).next() {
        Some((k, v)) => (k.clone(), Reply::Value(v.clone())),
        None => (oid.to_vec(), Reply::EndOfMibView),
    }
}

/// The reply to one request, or `None` for anything that is not a v2c
/// GET/GETNEXT/GETBULK for `community` (dropped silently, as agents do).
pub fn answer(mib: &Mib, community: &[u8], request: &[u8]) -> Option<Vec<u8>> {
    let pdu = snmp2::Pdu::from_bytes(request).ok()?;
    if pdu.community != community || pdu.version().ok()? != snmp2::Version::V2C {
        return None;
    }
    let oids: Vec<Vec<u32>> = pdu
        .varbinds
        .clone()
        .map(|(o, _)| o.iter().map(|it| it.filter_map(|a| u32::try_from(a).ok()).collect()).unwrap_or_default())
        .collect();
    let mut out: Vec<(Vec<u32>, Reply)> = Vec::new();
    match pdu.message_type {
        snmp2::MessageType::GetRequest => {
            for o in oids {
                let v = mib.get(&o).cloned().map_or(Reply::NoSuchObject, Reply::Value);
                out.push((o, v));
            }
        }
        snmp2::MessageType::GetNextRequest => out.extend(oids.iter().map(|o| next_after(mib, o))),
        snmp2::MessageType::GetBulkRequest => {
            let non_repeaters = (pdu.error_status as usize).min(oids.len());
            let max_reps = (pdu.error_index as usize).clamp(1, 100);
            for o in &oids[..non_repeaters] {
                out.push(next_after(mib, o));
            }
            let mut cursors: Vec<Vec<u32>> = oids[non_repeaters..].to_vec();
            let encoded = |o: &[u32], v: &Reply| {
                let mut b = Vec::new();
                push_varbind(o, v, &mut b);
                b.len()
            };
            let mut size = 32 + community.len() + out.iter().map(|(o, v)| encoded(o, v)).sum::<usize>();
            'reps: for _ in 0..max_reps {
                let mut all_ended = true;
                for c in cursors.iter_mut() {
                    let (k, v) = next_after(mib, c);
                    let ended = v == Reply::EndOfMibView;
                    all_ended &= ended;
                    size += encoded(&k, &v);
                    if size > MAX_REPLY && out.len() > non_repeaters {
                        break 'reps;
                    }
                    *c = k.clone();
                    out.push((k, v));
                }
                if all_ended {
                    break;
                }
            }
        }
        _ => return None,
    }
    Some(encode_response(community, pdu.req_id, &out))
}

/// Serves a device on `socket` until the task is dropped: each request gets
/// the objects `mib_at` gives for that moment.
pub async fn serve(socket: UdpSocket, community: Arc<[u8]>, mib_at: impl Fn(i64) -> Mib + Send + Sync + 'static) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer): (usize, SocketAddr) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "demo SNMP responder: receive failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let mib = mib_at(mast_store::db::now_ms());
        if let Some(reply) = answer(&mib, &community, &buf[..n]) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: u8, req_id: i32, a: i64, b: i64, oids: &[&[u32]], community: &[u8]) -> Vec<u8> {
        let mut vbl = Vec::new();
        for o in oids {
            let mut one = Vec::new();
            push_tlv(0x06, &oid_content(o), &mut one);
            one.extend_from_slice(&[0x05, 0]);
            push_tlv(0x30, &one, &mut vbl);
        }
        let mut pdu = Vec::new();
        push_tlv(0x02, &int_content(i64::from(req_id)), &mut pdu);
        push_tlv(0x02, &int_content(a), &mut pdu);
        push_tlv(0x02, &int_content(b), &mut pdu);
        push_tlv(0x30, &vbl, &mut pdu);
        let mut msg = Vec::new();
        push_tlv(0x02, &[1], &mut msg);
        push_tlv(0x04, community, &mut msg);
        push_tlv(kind, &pdu, &mut msg);
        let mut out = Vec::new();
        push_tlv(0x30, &msg, &mut out);
        out
    }

    fn decode(bytes: &[u8]) -> (i32, Vec<(Vec<u32>, String)>) {
        let pdu = snmp2::Pdu::from_bytes(bytes).expect("snmp2 parses the reply");
        assert_eq!(pdu.message_type, snmp2::MessageType::Response);
        let vbs =
            pdu.varbinds.map(|(o, v)| (o.iter().unwrap().map(|a| a as u32).collect(), format!("{v:?}"))).collect();
        (pdu.req_id, vbs)
    }

    fn mib() -> Mib {
        let mut m = Mib::new();
        m.insert(vec![1, 3, 6, 1, 2, 1, 1, 1, 0], Val::Str(b"demo".to_vec()));
        m.insert(vec![1, 3, 6, 1, 2, 1, 1, 3, 0], Val::Ticks(4_000_000_000));
        m.insert(vec![1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, 3, 1, 6, 77, 65, 1, 1, 1], Val::Int(-61));
        m.insert(vec![1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, 3, 1, 6, 77, 65, 1, 1, 2], Val::Int(-200_000));
        m.insert(vec![1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, 10, 1, 6, 77, 65, 1, 1, 1], Val::Ip([10, 1, 1, 20]));
        m
    }

    #[test]
    fn get_getnext_and_getbulk_follow_the_mib_order() {
        let m = mib();
        let r = answer(
            &m,
            b"c",
            &request(0xa0, 7, 0, 0, &[&[1, 3, 6, 1, 2, 1, 1, 1, 0], &[1, 3, 6, 1, 2, 1, 1, 2, 0]], b"c"),
        );
        let (id, vbs) = decode(&r.unwrap());
        assert_eq!(id, 7);
        assert!(vbs[0].1.contains("demo"), "{vbs:?}");
        assert!(vbs[1].1.contains("NO SUCH OBJECT"), "{vbs:?}");

        let r = answer(&m, b"c", &request(0xa1, -3, 0, 0, &[&[1, 3, 6, 1, 2, 1, 1, 1, 0]], b"c")).unwrap();
        let (id, vbs) = decode(&r);
        assert_eq!(id, -3);
        assert_eq!(vbs[0].0, vec![1, 3, 6, 1, 2, 1, 1, 3, 0]);
        assert!(vbs[0].1.contains("4000000000"), "unsigned ticks above 2^31: {vbs:?}");

        // GETBULK over the signal column walks its two rows, then past it.
        let col: &[u32] = &[1, 3, 6, 1, 4, 1, 41112, 1, 4, 7, 1, 3];
        let r = answer(&m, b"c", &request(0xa5, 9, 0, 4, &[col], b"c")).unwrap();
        let (_, vbs) = decode(&r);
        assert_eq!(vbs.len(), 4);
        assert!(vbs[0].0.starts_with(col) && vbs[1].0.starts_with(col) && !vbs[2].0.starts_with(col));
        assert!(vbs[0].1.contains("-61") && vbs[1].1.contains("-200000"), "{vbs:?}");
        assert!(vbs[3].1.contains("END OF MIB VIEW"), "{vbs:?}");
    }

    #[test]
    fn wrong_community_garbage_and_sets_get_no_reply() {
        let m = mib();
        assert!(answer(&m, b"c", &request(0xa0, 1, 0, 0, &[&[1, 3, 6, 1]], b"other")).is_none());
        assert!(answer(&m, b"c", &request(0xa3, 1, 0, 0, &[&[1, 3, 6, 1]], b"c")).is_none(), "SET");
        assert!(answer(&m, b"c", b"\x30\x03\x02\x01").is_none());
        assert!(answer(&m, b"c", &[]).is_none());
    }

    #[test]
    fn bulk_replies_stay_under_the_mtu() {
        let mut m = Mib::new();
        for i in 0..2000u32 {
            m.insert(vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i], Val::Str(vec![b'x'; 20]));
        }
        let r = answer(&m, b"c", &request(0xa5, 1, 0, 100, &[&[1, 3, 6, 1, 2, 1, 2, 2, 1, 2]], b"c")).unwrap();
        assert!(r.len() <= MAX_REPLY, "{} bytes", r.len());
        let (_, vbs) = decode(&r);
        assert!(vbs.len() >= 10, "still a useful batch: {}", vbs.len());
    }

    proptest::proptest! {
        #[test]
        fn hostile_requests_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = answer(&mib(), b"c", &bytes);
        }
    }
}
