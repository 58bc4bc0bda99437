//! Length-prefixed framing: a 4-byte big-endian length, then a postcard body.
//!
//! Invariant: the length is checked against [`MAX_FRAME_LEN`] before anything
//! is allocated, and a body must decode to exactly one message with no bytes
//! left over. Hostile bytes give a [`FrameError`], never a panic.

use serde::{Serialize, de::DeserializeOwned};

/// Largest frame body either side accepts (a sample batch is far smaller).
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN}")]
    TooLong { len: usize },
    #[error("malformed message: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    #[error("encoding failed: {0}")]
    Encode(postcard::Error),
}

/// Encodes `msg` as one frame (length prefix included).
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_stdvec(msg).map_err(FrameError::Encode)?;
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLong { len: body.len() });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks a received length prefix before the body is read or allocated.
pub fn check_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLong { len });
    }
    Ok(len)
}

/// Decodes one frame body (without its length prefix).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLong { len: body.len() });
    }
    let (msg, rest) = postcard::take_from_bytes(body)?;
    if !rest.is_empty() {
        return Err(FrameError::Trailing(rest.len()));
    }
    Ok(msg)
}

/// Splits a buffer holding whole frames (prefix included) and decodes the first.
/// Returns the message and the number of bytes consumed; `Ok(None)` when the
/// buffer does not yet hold a whole frame.
pub fn decode_prefixed<T: DeserializeOwned>(buf: &[u8]) -> Result<Option<(T, usize)>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = check_len([buf[0], buf[1], buf[2], buf[3]])?;
    if buf.len() < 4 + len {
        return Ok(None);
    }
    Ok(Some((decode(&buf[4..4 + len])?, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_with_prefix() {
        let m = ControllerMsg::Ack(Ack { boot_epoch: 3, seq: 99 });
        let f = encode_frame(&m).unwrap();
        let (back, used): (ControllerMsg, usize) = decode_prefixed(&f).unwrap().unwrap();
        assert_eq!(back, m);
        assert_eq!(used, f.len());
        assert!(decode_prefixed::<ControllerMsg>(&f[..f.len() - 1]).unwrap().is_none());
    }

    #[test]
    fn oversized_prefix_is_refused_before_allocation() {
        let buf = [0xff, 0xff, 0xff, 0xff, 0];
        assert!(matches!(decode_prefixed::<AgentMsg>(&buf), Err(FrameError::TooLong { .. })));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut f = encode_frame(&ControllerMsg::Ack(Ack { boot_epoch: 1, seq: 1 })).unwrap();
        f.push(0);
        let len = (f.len() - 4) as u32;
        f[..4].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(decode_prefixed::<ControllerMsg>(&f), Err(FrameError::Trailing(1))));
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<AgentMsg>(&bytes);
            let _ = decode::<ControllerMsg>(&bytes);
            let _ = decode_prefixed::<AgentMsg>(&bytes);
        }

        #[test]
        fn sample_batches_roundtrip(seqs in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<Option<u32>>(), any::<[u8;4]>()), 0..64)) {
            let batch = AgentMsg::Samples(SampleBatch {
                agent_id: 7,
                samples: seqs.iter().map(|(seq, ts, rtt, ip)| Sample {
                    boot_epoch: 1, seq: *seq, ts_ms: *ts,
                    body: SampleBody::Ping { target: std::net::IpAddr::from(*ip), rtt_us: *rtt },
                }).collect(),
            });
            let f = encode_frame(&batch).unwrap();
            let (back, _): (AgentMsg, usize) = decode_prefixed(&f).unwrap().unwrap();
            prop_assert_eq!(back, batch);
        }
    }
}
