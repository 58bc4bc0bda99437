//! Fuzzes the wire decoder with hostile bytes: it must return errors, never
//! panic, and never allocate beyond the frame limit.
//! Run: `cargo fuzz run decode_frame` from `shared/` (needs cargo-fuzz and a
//! nightly toolchain, or `RUSTC_BOOTSTRAP=1` on stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mast_shared::{AgentMsg, ControllerMsg, decode, frame::decode_prefixed};

fuzz_target!(|data: &[u8]| {
    let _ = decode::<AgentMsg>(data);
    let _ = decode::<ControllerMsg>(data);
    let _ = decode_prefixed::<AgentMsg>(data);
    let _ = decode_prefixed::<ControllerMsg>(data);
});
