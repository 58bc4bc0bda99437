//! Signed agent releases through the real CLI, on SQLite and PostgreSQL:
//! keys and signatures made by Debian's `minisign` are accepted, and ours
//! verify with it; a release is refused (and nothing stored) before a key
//! is trusted, with a tampered file, an untrusted signer, the wrong target
//! or a bad version; the same version and target twice is refused.

use mast_tests::*;
use sha2::{Digest, Sha256};
use std::process::Command;

on_both_backends!(releases_are_stored_only_when_signed_by_a_trusted_key);

async fn releases_are_stored_only_when_signed_by_a_trusted_key(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let p = |name: &str| d.join(name).display().to_string();
    // The real agent binary, signed with a key from Debian's minisign.
    std::fs::copy(agent_bin(), d.join("mast-agent"))?;
    minisign(&["-G", "-W", "-p", "op.pub", "-s", "op.key"], d);
    minisign(&["-S", "-s", "op.key", "-m", "mast-agent"], d);
    let add = |file: &str, sig: &str, version: &str, target: &str| {
        c.cli(&["release", "add", "--file", &p(file), "--signature", &p(sig), "--version", version, "--target", target])
    };
    let refused = |out: std::process::Output, why: &str| {
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && err.contains(why), "expected {why:?}: {err}");
    };
    refused(add("mast-agent", "mast-agent.minisig", "9.9.9", host_target()), "no release key is trusted");
    let trusted = c.cli_ok(&["release", "trust", "--public-key", &p("op.pub")]);
    assert!(trusted.contains("trusted") && trusted.contains("minisign public key"), "{trusted}");
    refused(c.cli(&["release", "trust", "--public-key", &p("op.pub")]), "trusted already");
    refused(c.cli(&["release", "trust", "--public-key", &p("mast-agent")]), "public_key");

    let out = c.cli_ok(&[
        "release",
        "add",
        "--file",
        &p("mast-agent"),
        "--signature",
        &p("mast-agent.minisig"),
        "--version",
        "9.9.9",
        "--target",
        host_target(),
    ]);
    assert!(out.starts_with("release 1:"), "{out}");
    refused(add("mast-agent", "mast-agent.minisig", "9.9.9", host_target()), "exists already");
    refused(add("mast-agent", "mast-agent.minisig", "9.9.10", "armv7-unknown-linux-gnueabihf"), "not armv7");
    refused(add("mast-agent", "mast-agent.minisig", "9 9", host_target()), "version");
    let mut tampered = std::fs::read(d.join("mast-agent"))?;
    tampered.push(0);
    std::fs::write(d.join("tampered"), &tampered)?;
    refused(add("tampered", "mast-agent.minisig", "9.9.11", host_target()), "does not match");

    // Our own key pair, made and used on a machine with no controller (no
    // config, no data dir): its signatures verify with Debian's minisign,
    // and count only once the key is trusted.
    let offline = |args: &[&str]| {
        use std::io::Write;
        let mut child = Command::new(bin_dir().join("mast-controller"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MAST_DATA_DIR", d.join("no-controller-here"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("mast-controller runs");
        child.stdin.take().expect("stdin").write_all(b"a long release password\n").expect("password written");
        let out = child.wait_with_output().expect("mast-controller ends");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    offline(&["release", "keygen", "--out", &d.display().to_string()]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(d.join("mast-release.key"))?.permissions().mode() & 0o777, 0o600);
    std::fs::copy(agent_bin(), d.join("agent-v2"))?;
    offline(&["release", "sign", "--key", &p("mast-release.key"), "--file", &p("agent-v2")]);
    assert!(!d.join("no-controller-here").exists(), "no controller data was made");
    refused(c.cli_stdin(&["release", "keygen", "--out", &d.display().to_string()], "pw\n"), "must not exist yet");
    minisign(&["-V", "-p", "mast-release.pub", "-m", "agent-v2"], d);
    refused(add("agent-v2", "agent-v2.minisig", "10.0.0", host_target()), "any trusted release key");
    // Agents pin the first key: a second one needs its endorsement.
    refused(c.cli(&["release", "trust", "--public-key", &p("mast-release.pub")]), "endorsement");
    minisign(&["-S", "-s", "op.key", "-m", "mast-release.pub"], d);
    c.cli_ok(&[
        "release",
        "trust",
        "--public-key",
        &p("mast-release.pub"),
        "--endorsement",
        &p("mast-release.pub.minisig"),
    ]);
    assert!(add("agent-v2", "agent-v2.minisig", "10.0.0", host_target()).status.success());

    let list: serde_json::Value = serde_json::from_str(&c.cli_ok(&["release", "list", "--json"]))?;
    let releases = list["releases"].as_array().cloned().unwrap_or_default();
    assert_eq!(releases.len(), 2, "only the two good ones: {list}");
    let v9 = releases.iter().find(|r| r["version"] == "9.9.9").expect("9.9.9 listed");
    let sha = hex::encode(Sha256::digest(std::fs::read(d.join("mast-agent"))?));
    assert_eq!(v9["sha256"], sha.as_str());
    assert_eq!(v9["target"], host_target());
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(2));
    // The stored bytes are the file's.
    let db = c.db().await?;
    let (bytes,): (Vec<u8>,) =
        sqlx::query_as("SELECT data FROM releases WHERE version = '9.9.9'").fetch_one(&db.pool).await?;
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
    let (_, audit) = c.get("/api/v1/audit", &c.admin_token()).await?;
    let audit = audit.to_string();
    assert!(audit.contains("release.trust") && audit.contains("release.add"), "audited");
    Ok(())
}
