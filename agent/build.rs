fn main() {
    // The hello carries the target triple so fleet upgrades can pick a build.
    println!("cargo:rustc-env=MAST_TARGET={}", std::env::var("TARGET").unwrap_or_default());
}
