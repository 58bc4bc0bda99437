//! The controller's architecture, checked: the crate graph read from
//! `cargo metadata` must keep its layers.
//!
//! - Every crate whose name ends in `-core` is pure: none of its normal
//!   dependencies, direct or transitive, is an IO crate (async runtime,
//!   database, HTTP, QUIC, TLS, mail), and among the workspace it depends
//!   only on other `-core` crates. Its source never reads the clock or
//!   touches files or sockets through `std` (which cargo cannot see).
//! - The layers above only point down: `mast-store` (typed stores) has no
//!   HTTP, QUIC or mail crate; `mast-web` holds no SQL (no `sqlx`); nothing
//!   below the binary depends on it.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that do IO: none may be reachable from a `-core` crate.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "async-std",
    "smol",
    "sqlx",
    "sqlx-core",
    "libsqlite3-sys",
    "axum",
    "axum-core",
    "hyper",
    "hyper-util",
    "reqwest",
    "quinn",
    "quinn-proto",
    "rustls",
    "tokio-rustls",
    "lettre",
    "async-imap",
    "tower",
    "rand",
    "getrandom",
];

/// Crates that the typed stores must not use (they belong to the service,
/// web and ingest layers).
const NOT_IN_STORE: &[&str] =
    &["axum", "axum-core", "hyper", "reqwest", "quinn", "lettre", "async-imap", "maud", "tower", "tower-http"];

/// Source patterns no `-core` crate may contain outside its tests: the clock
/// and `std`'s IO, which no dependency list reveals.
const IMPURE_SOURCE: &[&str] = &[
    "SystemTime::now",
    "Instant::now",
    "Utc::now",
    "Timestamp::now",
    "Zoned::now",
    "std::fs",
    "std::net",
    "std::io::stdin",
    "std::process",
    "std::env",
    "thread::sleep",
];

struct Meta {
    /// name -> (manifest dir, direct normal dependency names)
    packages: BTreeMap<String, (PathBuf, BTreeSet<String>)>,
    /// names of workspace members
    members: BTreeSet<String>,
    /// name -> transitive normal dependency names (resolved graph)
    closure: BTreeMap<String, BTreeSet<String>>,
}

fn metadata() -> Meta {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let id_name: BTreeMap<String, String> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string()))
        .collect();
    let members: BTreeSet<String> =
        v["workspace_members"].as_array().unwrap().iter().map(|id| id_name[id.as_str().unwrap()].clone()).collect();
    let mut packages = BTreeMap::new();
    for p in v["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_string();
        if !members.contains(&name) {
            continue;
        }
        let dir = Path::new(p["manifest_path"].as_str().unwrap()).parent().unwrap().to_path_buf();
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        packages.insert(name, (dir, deps));
    }
    // The resolved graph with dependency kinds: follow normal edges only.
    let mut normal: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in v["resolve"]["nodes"].as_array().unwrap() {
        let from = n["id"].as_str().unwrap().to_string();
        let tos = n["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect();
        normal.insert(from, tos);
    }
    let mut closure = BTreeMap::new();
    for (id, name) in &id_name {
        if !members.contains(name) {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![id.clone()];
        while let Some(cur) = stack.pop() {
            for next in normal.get(&cur).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        closure.insert(name.clone(), seen.iter().map(|id| id_name[id].clone()).collect());
    }
    Meta { packages, members, closure }
}

fn cores(m: &Meta) -> Vec<&String> {
    m.members.iter().filter(|n| n.ends_with("-core")).collect()
}

#[test]
fn the_pure_cores_exist() {
    let m = metadata();
    for expected in [
        "mast-billing-core",
        "mast-ops-core",
        "mast-mail-core",
        "mast-text-core",
        "mast-upgrade-core",
        "mast-rollout-core",
        "mast-stock-core",
        "mast-dispatch-core",
    ] {
        assert!(m.members.contains(expected), "{expected} is missing from the workspace");
    }
}

#[test]
fn core_crates_reach_no_io_crate() {
    let m = metadata();
    let mut bad = Vec::new();
    for core in cores(&m) {
        for dep in &m.closure[core] {
            if IO_CRATES.contains(&dep.as_str()) {
                bad.push(format!("{core} -> {dep}"));
            }
            if m.members.contains(dep) && !dep.ends_with("-core") {
                bad.push(format!("{core} -> workspace crate {dep} (cores depend only on cores)"));
            }
        }
    }
    assert!(bad.is_empty(), "IO in a pure core:\n{}", bad.join("\n"));
}

/// The rule is only worth something if it bites: the controller binary
/// itself reaches the IO crates, so the same check on it must fail.
#[test]
fn the_io_rule_would_catch_the_shell() {
    let m = metadata();
    let shell = &m.closure["mast-controller"];
    for io in ["tokio", "sqlx", "axum", "quinn", "reqwest", "lettre"] {
        assert!(shell.contains(io), "mast-controller should reach {io}; the IO list is stale");
    }
}

#[test]
fn core_sources_never_read_the_clock_or_touch_files() {
    let m = metadata();
    let mut bad = Vec::new();
    for core in cores(&m) {
        let src = m.packages[core].0.join("src");
        for file in rust_files(&src) {
            let text = std::fs::read_to_string(&file).unwrap();
            // Unit tests (a trailing `#[cfg(test)]` module or a `tests.rs`
            // file) may time themselves; the code under test may not.
            let code = match text.find("#[cfg(test)]") {
                Some(i) => &text[..i],
                None => &text[..],
            };
            if file.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            for (n, line) in code.lines().enumerate() {
                let l = line.trim_start();
                if l.starts_with("//") {
                    continue;
                }
                for p in IMPURE_SOURCE {
                    if l.contains(p) {
                        bad.push(format!("{}:{}: {p}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "impure code in a core crate:\n{}", bad.join("\n"));
}

#[test]
fn upper_layers_point_down() {
    let m = metadata();
    let direct = |name: &str| -> &BTreeSet<String> { &m.packages[name].1 };
    if m.members.contains("mast-store") {
        let bad: Vec<_> = m.closure["mast-store"].iter().filter(|d| NOT_IN_STORE.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "mast-store reaches {bad:?}");
        for up in ["mast-app", "mast-web", "mast-controller"] {
            assert!(!m.closure["mast-store"].contains(up), "mast-store depends on {up}");
        }
    }
    if m.members.contains("mast-web") {
        assert!(!direct("mast-web").contains("sqlx"), "mast-web holds SQL: it depends on sqlx directly");
        assert!(!m.closure["mast-web"].contains("mast-controller"), "mast-web depends on the binary crate");
    }
    if m.members.contains("mast-app") {
        for up in ["mast-web", "mast-controller"] {
            assert!(!m.closure["mast-app"].contains(up), "mast-app depends on {up}");
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The domains inside `mast-store` import each other in one direction only
/// (customers and sites are the base; tickets, billing and monitoring build
/// on them and not on each other in a circle): the graph of `crate::<domain>`
/// references in non-test code has no cycle.
#[test]
fn store_domains_import_without_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/store/src");
    let domains = [
        "audit",
        "auth",
        "billing",
        "customers",
        "fleet",
        "monitoring",
        "outbox",
        "portal",
        "rollup",
        "staff",
        "tickets",
    ];
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let Some(from) = domains.iter().find(|d| rel == format!("{d}.rs") || rel.starts_with(&format!("{d}/"))) else {
            continue;
        };
        if rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for to in domains.iter().filter(|d| *d != from) {
            if code.contains(&format!("crate::{to}::")) || code.contains(&format!("crate::{to};")) {
                edges.entry(from).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            return Some(path[i..].iter().copied().chain([n]).collect());
        }
        if done.contains(n) {
            return None;
        }
        path.push(n);
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for d in domains {
        if let Some(cycle) = visit(d, &edges, &mut Vec::new(), &mut done) {
            panic!("an import circle between store domains: {}\nall edges: {edges:?}", cycle.join(" -> "));
        }
    }
    assert!(edges.get("tickets").is_some_and(|e| e.contains("customers")), "the scan sees imports: {edges:?}");
}
