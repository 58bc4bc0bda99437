//! Backup and restore on both backends (issue 20): a backup taken while the
//! controller runs, then changes (a customer added, one deleted, the CA
//! lost), then a restore: the data is the backup's again and the agents'
//! CA is the same; a restore is refused while a controller runs on SQLite,
//! without `--yes`, and from a damaged backup. `doctor` checks an install.

use mast_tests::*;

on_both_backends!(a_backup_restores_the_data_and_the_ca);

fn names(c: &Controller) -> Vec<String> {
    let out = c.cli_ok(&["customer", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("customer list --json");
    let mut n: Vec<String> = v
        .as_array()
        .or_else(|| v["customers"].as_array())
        .expect("a list")
        .iter()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    n.sort();
    n
}

async fn a_backup_restores_the_data_and_the_ca(backend: Backend) -> anyhow::Result<()> {
    let Some(mut c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    c.cli_ok(&["site", "add", "ridge", "--interval", "60"]);
    for n in ["Ann Hill", "Ben Ridge"] {
        c.cli_ok(&["customer", "add", "--name", n, "--site", "ridge"]);
    }
    let ca = std::fs::read(c.data_dir().join("pki/ca.cert.pem"))?;
    let dir = tempfile::tempdir()?;
    let to = dir.path().join("backup-1");
    let out = c.cli_ok(&["backup", "--to", to.to_str().unwrap()]);
    assert!(out.contains("backed up"), "{out}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(to.join("manifest.json"))?)?;
    assert_eq!(manifest["backend"], if backend == Backend::Sqlite { "sqlite" } else { "postgres" });
    assert!(manifest["files"]["pki/ca.cert.pem"].is_string(), "{manifest}");
    assert!(manifest["files"]["pki/ca.key.pem"].is_null(), "the CA key is in the database: {manifest}");
    use std::os::unix::fs::PermissionsExt;
    let db_file = to.join(if backend == Backend::Sqlite { "database.sqlite" } else { "database.pgdump" });
    let mode = std::fs::metadata(&db_file)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the database (with the CA key) is private in the backup");
    // Into a directory that holds something: refused.
    let again = c.cli(&["backup", "--to", to.to_str().unwrap()]);
    assert!(!again.status.success());

    // Changes after the backup.
    c.cli_ok(&["customer", "add", "--name", "Cy Late", "--site", "ridge"]);
    assert_eq!(names(&c), ["Ann Hill", "Ben Ridge", "Cy Late"]);
    let from = to.to_str().unwrap();
    if backend == Backend::Sqlite {
        // Not while the controller runs on the file.
        let busy = c.cli(&["restore", "--from", from, "--yes"]);
        let err = String::from_utf8_lossy(&busy.stderr);
        assert!(!busy.status.success() && err.contains("another controller"), "{err}");
    }
    c.terminate()?;
    std::fs::remove_dir_all(c.data_dir().join("pki"))?;
    let no = c.cli(&["restore", "--from", from]);
    assert!(!no.status.success() && String::from_utf8_lossy(&no.stderr).contains("--yes"));
    // A damaged backup is refused.
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged)?;
    for entry in walk(&to) {
        let rel = entry.strip_prefix(&to)?;
        let dest = damaged.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap())?;
        std::fs::copy(&entry, &dest)?;
    }
    let key = damaged.join("pki/ca.cert.pem");
    let mut bytes = std::fs::read(&key)?;
    bytes[40] ^= 1;
    std::fs::write(&key, bytes)?;
    let bad = c.cli(&["restore", "--from", damaged.to_str().unwrap(), "--yes"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("damaged"));

    let out = c.cli_ok(&["restore", "--from", from, "--yes"]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(std::fs::read(c.data_dir().join("pki/ca.cert.pem"))?, ca, "the same CA");
    c.start_again()?;
    assert_eq!(names(&c), ["Ann Hill", "Ben Ridge"]);
    assert_eq!(std::fs::read(c.data_dir().join("pki/ca.cert.pem"))?, ca, "the database's CA is the one backed up");
    let (st, _) = c.get("/api/v1/health", &c.admin_token()).await?;
    assert_eq!(st, 200);
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// `doctor` on a running controller: every check passes (a real SMTP
/// server takes the connection); with the mail server gone it fails, says
/// which and what happens meanwhile, and exits 1; with the controller
/// stopped it says so and that the ports are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_what_to_fix() -> anyhow::Result<()> {
    let sink = mast_tests::mail::SmtpSink::start();
    let port = sink.port.to_string();
    let env = mast_tests::mail::SmtpSink::controller_env(&port);
    let Some(mut c) = Controller::start(Backend::Sqlite, &env).await? else { return Ok(()) };
    let base_env = c.env.clone();
    let doctor = |extra: &[(&str, &str)]| {
        std::process::Command::new(controller_bin())
            .arg("doctor")
            .envs(base_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("doctor")
    };
    let out = doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "ok    database",
        "ok    controller",
        "ok    controller CA",
        "ok    mail",
        "ok    outbox",
        "ok    agent clocks",
        "ok    workers",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    // The mail server is gone.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port().to_string();
    let out = doctor(&[("MAST_SMTP_PORT", &closed)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("FAIL  mail") && text.contains("wait in the outbox"), "{text}");
    // The controller stopped: said, and its ports are free.
    c.terminate()?;
    let out = doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("warn  controller") && text.contains("not running"), "{text}");
    assert!(text.contains("ok    http port"), "{text}");
    assert!(text.contains("warn  workers") && text.contains("start one"), "a clean stop lets the leases go: {text}");
    Ok(())
}
