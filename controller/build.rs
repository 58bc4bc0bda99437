fn main() {
    // `MAST_BUILD_VERSION=V cargo build` sets the version the binary reports; else the crate's.
    println!("cargo:rerun-if-env-changed=MAST_BUILD_VERSION");
    let version = std::env::var("MAST_BUILD_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    if let Err(e) = mast_upgrade_core::binary::check_version(&version) {
        panic!("MAST_BUILD_VERSION: {e}");
    }
    println!("cargo:rustc-env=MAST_VERSION={version}");
}
