//! Compact block encoding of samples (pure; no IO).
//!
//! A block is one group commit: samples of one boot epoch with consecutive
//! seqs. The seqs and the epoch are in the header, so each sample costs only
//! its own data. A ping sample is: a kind byte, the time delta to the previous
//! sample (zigzag varint; 1 byte within a round), the IPv4 address as a delta
//! to the previous ping's (1 byte for neighbouring addresses) and the RTT in
//! µs + 1 (0 = lost) as a varint: typically 5-6 bytes.
//!
//! Block payload: `varint epoch, varint first_seq, varint count,
//! zigzag ts_base`, then per sample `u8 kind, zigzag ts_delta, body`.
//! Kinds: 0 ping v4, 1 ping v6, 2 any other body as varint length + postcard.
//! Decoding checks every length against the bytes left and never panics.

use mast_shared::{Sample, SampleBody};
use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("block truncated")]
    Truncated,
    #[error("varint too long")]
    Varint,
    #[error("unknown sample kind {0}")]
    Kind(u8),
    #[error("bad sample body")]
    Body,
    #[error("block claims {0} samples")]
    Count(u64),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Varint)
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.buf.len() - self.pos < n {
            return Err(CodecError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
}

const PING_V4: u8 = 0;
const PING_V6: u8 = 1;
const OTHER: u8 = 2;

/// Encodes samples of one epoch with consecutive seqs starting at `first_seq`.
pub fn encode_block(epoch: u64, first_seq: u64, samples: &[(i64, SampleBody)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + samples.len() * 6);
    put_varint(&mut out, epoch);
    put_varint(&mut out, first_seq);
    put_varint(&mut out, samples.len() as u64);
    let base = samples.first().map_or(0, |s| s.0);
    put_varint(&mut out, zigzag(base));
    let mut prev_ts = base;
    let mut prev_v4: u32 = 0;
    for (ts, body) in samples {
        let delta = zigzag(ts.wrapping_sub(prev_ts));
        prev_ts = *ts;
        match body {
            SampleBody::Ping { target: IpAddr::V4(ip), rtt_us } => {
                out.push(PING_V4);
                put_varint(&mut out, delta);
                let v = u32::from(*ip);
                put_varint(&mut out, zigzag(v as i64 - prev_v4 as i64));
                prev_v4 = v;
                put_varint(&mut out, rtt_us.map_or(0, |r| r as u64 + 1));
            }
            SampleBody::Ping { target: IpAddr::V6(ip), rtt_us } => {
                out.push(PING_V6);
                put_varint(&mut out, delta);
                out.extend_from_slice(&ip.octets());
                put_varint(&mut out, rtt_us.map_or(0, |r| r as u64 + 1));
            }
            #[allow(unreachable_patterns)] // future SampleBody kinds land here
            other => {
                out.push(OTHER);
                put_varint(&mut out, delta);
                let enc = postcard::to_stdvec(other).expect("sample bodies serialize");
                put_varint(&mut out, enc.len() as u64);
                out.extend_from_slice(&enc);
            }
        }
    }
    out
}

/// Header of a block without decoding its samples: `(epoch, first_seq, count)`.
pub fn block_header(payload: &[u8]) -> Result<(u64, u64, u64), CodecError> {
    let mut r = Reader { buf: payload, pos: 0 };
    Ok((r.varint()?, r.varint()?, r.varint()?))
}

pub fn decode_block(payload: &[u8]) -> Result<Vec<Sample>, CodecError> {
    let mut r = Reader { buf: payload, pos: 0 };
    let epoch = r.varint()?;
    let first_seq = r.varint()?;
    let count = r.varint()?;
    // Every sample takes at least 3 bytes: refuse absurd counts before allocating.
    if count > (payload.len() as u64) / 3 + 1 || first_seq.checked_add(count).is_none() {
        return Err(CodecError::Count(count));
    }
    let mut ts = unzigzag(r.varint()?);
    let mut prev_v4: u32 = 0;
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let kind = r.byte()?;
        ts = ts.wrapping_add(unzigzag(r.varint()?));
        let body = match kind {
            PING_V4 => {
                let v = (prev_v4 as i64).wrapping_add(unzigzag(r.varint()?));
                let v = u32::try_from(v).map_err(|_| CodecError::Body)?;
                prev_v4 = v;
                SampleBody::Ping { target: IpAddr::from(v.to_be_bytes()), rtt_us: rtt(r.varint()?)? }
            }
            PING_V6 => {
                let b: [u8; 16] = r.bytes(16)?.try_into().map_err(|_| CodecError::Truncated)?;
                SampleBody::Ping { target: IpAddr::from(b), rtt_us: rtt(r.varint()?)? }
            }
            OTHER => {
                let n = r.varint()?;
                let n = usize::try_from(n).map_err(|_| CodecError::Truncated)?;
                postcard::from_bytes(r.bytes(n)?).map_err(|_| CodecError::Body)?
            }
            k => return Err(CodecError::Kind(k)),
        };
        out.push(Sample { boot_epoch: epoch, seq: first_seq + i, ts_ms: ts, body });
    }
    if r.pos != payload.len() {
        return Err(CodecError::Body);
    }
    Ok(out)
}

fn rtt(v: u64) -> Result<Option<u32>, CodecError> {
    match v {
        0 => Ok(None),
        v => u32::try_from(v - 1).map(Some).map_err(|_| CodecError::Body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body() -> impl Strategy<Value = SampleBody> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<Option<u32>>())
                .prop_map(|(ip, rtt_us)| SampleBody::Ping { target: IpAddr::from(ip), rtt_us }),
            (any::<[u8; 16]>(), any::<Option<u32>>())
                .prop_map(|(ip, rtt_us)| SampleBody::Ping { target: IpAddr::from(ip), rtt_us }),
        ]
    }

    proptest! {
        #[test]
        fn blocks_roundtrip(epoch in any::<u64>(), first in 0u64..u64::MAX / 2,
                            samples in proptest::collection::vec((any::<i64>(), body()), 0..200)) {
            let enc = encode_block(epoch, first, &samples);
            let dec = decode_block(&enc).unwrap();
            prop_assert_eq!(dec.len(), samples.len());
            for (i, (d, (ts, b))) in dec.iter().zip(&samples).enumerate() {
                prop_assert_eq!(d.boot_epoch, epoch);
                prop_assert_eq!(d.seq, first + i as u64);
                prop_assert_eq!(d.ts_ms, *ts);
                prop_assert_eq!(&d.body, b);
            }
            prop_assert_eq!(block_header(&enc).unwrap(), (epoch, first, samples.len() as u64));
        }

        #[test]
        fn hostile_blocks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_block(&bytes);
            let _ = block_header(&bytes);
        }
    }

    #[test]
    fn a_round_of_pings_costs_under_8_bytes_each() {
        let samples: Vec<(i64, SampleBody)> = (0..1000u32)
            .map(|i| {
                let ip = u32::from(std::net::Ipv4Addr::new(10, 20, 0, 0)) + i;
                (
                    1_795_000_000_000,
                    SampleBody::Ping { target: IpAddr::from(ip.to_be_bytes()), rtt_us: Some(800 + i * 7 % 20_000) },
                )
            })
            .collect();
        let enc = encode_block(3, 1_000_000, &samples);
        let per = enc.len() as f64 / 1000.0;
        assert!(per <= 8.0, "{per} bytes per ping sample");
    }
}
