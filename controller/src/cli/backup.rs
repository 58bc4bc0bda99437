//! `mast-controller backup --to DIR` and `restore --from DIR --yes`: the
//! database (which holds the controller's CA: without it the agents'
//! certificates no longer verify) and what `<data_dir>/pki` holds (the CA
//! certificate; an older release's CA key until it moved into the
//! database) in one directory, with a manifest of what each file is and
//! its SHA-256. Every file is written 0600.
//!
//! SQLite: `VACUUM INTO`, SQLite's consistent copy of a live database (the
//! controller keeps running). PostgreSQL: `pg_dump --format=custom`, and
//! back through `pg_restore` and `psql` in one transaction (the password
//! goes to them through
//! `PGPASSWORD`, never on a command line other users can read). A restore
//! on SQLite holds the one-controller lock, so it refuses while a
//! controller runs on the file; on PostgreSQL stop the controllers first.

use anyhow::{Context, bail, ensure};
use mast_controller::config::Config;
use mast_controller::db::Db;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const DB_SQLITE: &str = "database.sqlite";
const DB_PG: &str = "database.pgdump";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// `sqlite` or `postgres`.
    backend: String,
    created_ms: i64,
    version: String,
    /// The newest migration the database had.
    schema: i64,
    /// File (relative to the backup) → SHA-256, hex.
    files: BTreeMap<String, String>,
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// A private copy (0600).
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("writing {}", to.display()))?;
    std::io::Write::write_all(&mut f, &bytes)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// `pg_dump`/`pg_restore` for `url`, the password (if any) in the
/// environment instead of the arguments.
fn pg_command(program: &str, url: &str) -> anyhow::Result<Command> {
    let mut parsed = url::Url::parse(url).context("the database URL")?;
    let mut cmd = Command::new(program);
    if let Some(pw) = parsed.password().map(str::to_string) {
        let _ = parsed.set_password(None);
        cmd.env("PGPASSWORD", percent_encoding::percent_decode_str(&pw).decode_utf8_lossy().into_owned());
    }
    cmd.arg(format!("--dbname={parsed}"));
    Ok(cmd)
}

fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what} (is the PostgreSQL client installed?)"))?;
    ensure!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

/// Drops every table (partitions with their parents) and function of the
/// schema, ahead of the dump's own `CREATE`s.
const DROP_SCHEMA_OBJECTS: &str = "DO $$ DECLARE r record; BEGIN \
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition LOOP \
        EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', r.relname); \
    END LOOP; \
    FOR r IN SELECT CAST(CAST(p.oid AS regprocedure) AS text) AS f FROM pg_proc p \
        JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' LOOP \
        EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f || ' CASCADE'; \
    END LOOP; \
    END $$";

/// Restores a `pg_dump` into `url` in one transaction: what the database
/// holds is dropped and the dump applied (`pg_restore` writes it as SQL,
/// `psql` runs it after the drop), so a restore that fails changes
/// nothing. (`pg_restore --clean` cannot replace partitioned tables: it
/// drops each partition's inherited key, which PostgreSQL refuses.)
fn restore_pg(url: &str, dump: &Path) -> anyhow::Result<()> {
    use std::process::Stdio;
    let mut script = Command::new("pg_restore")
        .args(["--no-owner", "--file=-"])
        .arg(dump)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running pg_restore (is the PostgreSQL client installed?)")?;
    let sql = script.stdout.take().context("pg_restore's output")?;
    let mut psql = pg_command("psql", url)?;
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-c", DROP_SCHEMA_OBJECTS, "-f", "-"])
        .stdin(Stdio::from(sql));
    let applied = psql.output().context("running psql (is the PostgreSQL client installed?)");
    let written = script.wait_with_output()?;
    ensure!(written.status.success(), "pg_restore failed: {}", String::from_utf8_lossy(&written.stderr).trim());
    let applied = applied?;
    ensure!(applied.status.success(), "restoring failed: {}", String::from_utf8_lossy(&applied.stderr).trim());
    Ok(())
}

async fn schema(db: &Db) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&db.pool)
        .await?
        .unwrap_or(0))
}

pub async fn backup(cfg: &Config, db: &Db, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        ensure!(
            to.is_dir() && std::fs::read_dir(to)?.next().is_none(),
            "{} exists and is not empty: back up into a new directory",
            to.display()
        );
    } else {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(to)?;
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))?;
    let url = cfg.database_url();
    let sqlite = mast_app::single::sqlite_path(&url).is_some();
    let mut files = BTreeMap::new();
    if sqlite {
        let target = to.join(DB_SQLITE);
        let path = target.to_str().context("a backup path in UTF-8")?;
        // A consistent copy of the live database, taken by SQLite itself.
        let sql = format!("VACUUM INTO '{}'", path.replace('\'', "''"));
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&db.pool).await.context("VACUUM INTO")?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
        files.insert(DB_SQLITE.to_string(), sha256(&target)?);
    } else {
        let target = to.join(DB_PG);
        let mut cmd = pg_command("pg_dump", &url)?;
        cmd.args(["--format=custom", "--no-owner", "--file"]).arg(&target);
        run(cmd, "pg_dump")?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
        files.insert(DB_PG.to_string(), sha256(&target)?);
    }
    let pki = cfg.data_dir.join("pki");
    std::fs::DirBuilder::new().mode(0o700).create(to.join("pki"))?;
    for name in ["ca.cert.pem", "ca.key.pem"] {
        let from = pki.join(name);
        if from.exists() {
            let rel = format!("pki/{name}");
            copy_private(&from, &to.join(&rel))?;
            files.insert(rel.clone(), sha256(&to.join(&rel))?);
        }
    }
    let m = Manifest {
        format: 1,
        backend: if sqlite { "sqlite" } else { "postgres" }.into(),
        created_ms: mast_controller::db::now_ms(),
        version: env!("CARGO_PKG_VERSION").into(),
        schema: schema(db).await?,
        files,
    };
    let mf = to.join("manifest.json");
    std::fs::write(&mf, serde_json::to_vec_pretty(&m)?)?;
    std::fs::set_permissions(&mf, std::fs::Permissions::from_mode(0o600))?;
    println!("backed up the {} database (schema {}) and the controller CA to {}", m.backend, m.schema, to.display());
    Ok(())
}

pub fn restore(cfg: &Config, from: &Path, yes: bool) -> anyhow::Result<()> {
    let m: Manifest = serde_json::from_slice(
        &std::fs::read(from.join("manifest.json")).with_context(|| format!("no backup in {}", from.display()))?,
    )
    .context("the backup's manifest")?;
    ensure!(m.format == 1, "a backup of format {} (this controller reads format 1)", m.format);
    for (file, want) in &m.files {
        let got = sha256(&from.join(file))?;
        ensure!(&got == want, "{file} is not the file backed up (SHA-256 differs): the backup is damaged");
    }
    let url = cfg.database_url();
    let db_path = mast_app::single::sqlite_path(&url);
    let here = if db_path.is_some() { "sqlite" } else { "postgres" };
    ensure!(m.backend == here, "a {} backup cannot be restored into {here}", m.backend);
    if !yes {
        bail!("restore replaces the database at {url} and the controller CA in {}: add --yes", cfg.data_dir.display());
    }
    match &db_path {
        Some(path) => {
            // Refuses while a controller runs on the file.
            let _lock = mast_app::single::hold(&url)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = PathBuf::from(format!("{}.restoring", path.display()));
            copy_private(&from.join(DB_SQLITE), &tmp)?;
            for ext in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
            }
            std::fs::rename(&tmp, path)?;
        }
        None => restore_pg(&url, &from.join(DB_PG))?,
    }
    let pki = cfg.data_dir.join("pki");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&pki)?;
    for name in ["ca.cert.pem", "ca.key.pem"] {
        let rel = format!("pki/{name}");
        if m.files.contains_key(&rel) {
            copy_private(&from.join(&rel), &pki.join(name))?;
        }
    }
    println!("restored the {} database (schema {}) and the controller CA from {}", m.backend, m.schema, from.display());
    Ok(())
}
