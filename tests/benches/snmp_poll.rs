//! Placeholder; filled in by the snmp_poll benchmark work.
fn main() {}
