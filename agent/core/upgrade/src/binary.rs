//! Checks on a release before anything runs it: the version string, and
//! that the file is an ELF executable for the agent's target triple (the
//! wrong architecture is refused, never started).

/// A version as binaries report it and releases name it: 1 to 64 of
/// `0-9 A-Z a-z . + - _`, starting with a letter or digit.
pub fn check_version(v: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_');
    if v.is_empty() || v.len() > 64 {
        return Err(format!("version {v:?} must be 1 to 64 characters"));
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) || !v.chars().all(ok_char) {
        return Err(format!(
            "version {v:?} may hold only letters, digits and . + - _ (starting with a letter or digit)"
        ));
    }
    Ok(())
}

/// The version a build reports: `MAST_BUILD_VERSION` when set (to build a
/// second version and try an upgrade), else the crate's; for the build
/// scripts of both binaries, which fail the build on a bad one.
pub fn build_version(requested: Option<&str>, crate_version: &str) -> Result<String, String> {
    let v = requested.filter(|v| !v.is_empty()).unwrap_or(crate_version);
    check_version(v).map_err(|e| format!("MAST_BUILD_VERSION: {e}"))?;
    Ok(v.to_string())
}

/// ELF `e_machine` values and word sizes of the targets the agent ships for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    pub e_machine: u16,
    pub bits: u8,
}

/// What an ELF file for `target` (a Rust target triple) must declare.
pub fn machine_of_target(target: &str) -> Option<Machine> {
    let arch = target.split('-').next()?;
    let (e_machine, bits) = match arch {
        "x86_64" => (62, 64),
        "aarch64" => (183, 64),
        "i686" | "i586" => (3, 32),
        "riscv64gc" | "riscv64" => (243, 64),
        a if a == "arm" || a.starts_with("armv") || a.starts_with("thumbv") => (40, 32),
        _ => return None,
    };
    Some(Machine { e_machine, bits })
}

/// The machine an ELF file's first bytes (at least 20) declare.
pub fn elf_machine(head: &[u8]) -> Result<Machine, String> {
    if head.len() < 20 || head[..4] != *b"\x7fELF" {
        return Err("not an ELF executable".into());
    }
    let bits = match head[4] {
        1 => 32,
        2 => 64,
        c => return Err(format!("ELF class {c} is neither 32 nor 64 bits")),
    };
    let e_machine = match head[5] {
        1 => u16::from_le_bytes([head[18], head[19]]),
        2 => u16::from_be_bytes([head[18], head[19]]),
        d => return Err(format!("ELF data encoding {d} is unknown")),
    };
    Ok(Machine { e_machine, bits })
}

/// Whether a file starting with `head` runs on `target`; the error says
/// what it is instead.
pub fn check_binary(head: &[u8], target: &str) -> Result<(), String> {
    let want = machine_of_target(target).ok_or_else(|| format!("unknown target {target:?}"))?;
    let got = elf_machine(head)?;
    if got != want {
        return Err(format!(
            "built for ELF machine {} ({}-bit), not {target} (machine {}, {}-bit)",
            got.e_machine, got.bits, want.e_machine, want.bits
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 20 bytes of an ELF header.
    fn header(bits: u8, little: bool, machine: u16) -> Vec<u8> {
        let mut h = b"\x7fELF".to_vec();
        h.push(if bits == 64 { 2 } else { 1 });
        h.push(if little { 1 } else { 2 });
        h.extend([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, ABI, padding
        h.extend([2, 0]); // e_type: executable
        h.extend(if little { machine.to_le_bytes() } else { machine.to_be_bytes() });
        h
    }

    #[test]
    fn the_test_binary_is_for_the_host() {
        let head = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let host = if cfg!(target_arch = "x86_64") {
            "x86_64-unknown-linux-gnu"
        } else if cfg!(target_arch = "aarch64") {
            "aarch64-unknown-linux-gnu"
        } else {
            "armv7-unknown-linux-gnueabihf"
        };
        check_binary(&head[..64], host).unwrap();
        assert!(check_binary(&head[..64], "riscv64gc-unknown-linux-gnu").is_err());
    }

    #[test]
    fn arm_builds_and_the_wrong_ones() {
        check_binary(&header(64, true, 183), "aarch64-unknown-linux-gnu").unwrap();
        check_binary(&header(32, true, 40), "armv7-unknown-linux-gnueabihf").unwrap();
        let e = check_binary(&header(64, true, 183), "armv7-unknown-linux-gnueabihf").unwrap_err();
        assert!(e.contains("machine 183 (64-bit)") && e.contains("armv7"), "{e}");
        assert!(check_binary(&header(32, true, 183), "aarch64-unknown-linux-gnu").is_err(), "word size counts");
        assert_eq!(elf_machine(&header(32, false, 40)).unwrap().e_machine, 40, "big-endian headers read");
        assert_eq!(
            check_binary(b"#!/bin/sh\necho hi\n.....", "x86_64-unknown-linux-gnu").unwrap_err(),
            "not an ELF executable"
        );
        assert!(check_binary(b"\x7fELF", "x86_64-unknown-linux-gnu").is_err(), "truncated");
        assert!(
            check_binary(&header(64, true, 62), "sparc64-unknown-linux-gnu").unwrap_err().contains("unknown target")
        );
    }

    #[test]
    fn build_versions() {
        assert_eq!(build_version(Some("2.0.0"), "0.1.0").unwrap(), "2.0.0");
        assert_eq!(build_version(Some(""), "0.1.0").unwrap(), "0.1.0");
        assert_eq!(build_version(None, "0.1.0").unwrap(), "0.1.0");
        assert!(build_version(Some("2 0"), "0.1.0").unwrap_err().starts_with("MAST_BUILD_VERSION"));
    }

    #[test]
    fn versions() {
        for ok in ["0.1.0", "2.0.0-rc.1", "1.2.3+build.7", "v2", "20261204_1"] {
            check_version(ok).unwrap();
        }
        for bad in ["", "-1", ".1", "1 2", "1/2", "ü", &"9".repeat(65)] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
    }
}
