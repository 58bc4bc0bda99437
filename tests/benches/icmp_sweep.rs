//! Placeholder; filled in by the icmp_sweep benchmark work.
fn main() {}
