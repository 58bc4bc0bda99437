fn main() {
    // `MAST_BUILD_VERSION=V cargo build` sets the version the binary reports.
    println!("cargo:rerun-if-env-changed=MAST_BUILD_VERSION");
    let requested = std::env::var("MAST_BUILD_VERSION").ok();
    let crate_version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    match mast_upgrade_core::binary::build_version(requested.as_deref(), &crate_version) {
        Ok(v) => println!("cargo:rustc-env=MAST_VERSION={v}"),
        Err(e) => panic!("{e}"),
    }
}
