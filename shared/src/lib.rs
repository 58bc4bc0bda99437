//! The wire protocol between `mast-agent` and `mast-controller`.
//!
//! Messages are serde types encoded with postcard and sent as length-prefixed
//! frames on one bidirectional QUIC stream per connection (see [`frame`]).
//! Compatibility rules: enum variants are only ever appended, a shipped message
//! never changes meaning, and the encoded fixtures in `fixtures/` must keep
//! decoding (`tests/fixtures.rs`).

pub mod frame;
#[cfg(feature = "io")]
pub mod io;
pub mod msg;

pub use frame::{FrameError, MAX_FRAME_LEN, decode, encode_frame};
pub use msg::*;

/// Version of the protocol carried in the first message of every connection.
pub const PROTOCOL_VERSION: u16 = 1;
/// ALPN of the long-lived, mutually authenticated agent link.
pub const ALPN_LINK: &[u8] = b"mast/1";
/// ALPN of the enrollment exchange (the agent has no certificate yet).
pub const ALPN_ENROLL: &[u8] = b"mast-enroll/1";
/// Name the controller's certificate is issued for and the agent verifies,
/// whatever address it dials (towers often reach the controller by IP).
pub const CONTROLLER_SERVER_NAME: &str = "mast-controller";
