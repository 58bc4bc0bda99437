//! `mast-controller release`: signed agent releases. Releases are signed
//! offline with minisign (Debian's `minisign -S`, or `release sign` here);
//! the controller only stores and distributes what verifies with a key
//! trusted by `release trust`.

use super::{actor, read_password};
use anyhow::Context;
use clap::Subcommand;
use mast_controller::{App, audit};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ReleaseCmd {
    /// Create a minisign key pair for signing releases (password from the
    /// terminal, or one line of standard input): DIR/mast-release.key
    /// (secret, mode 0600: keep it offline) and DIR/mast-release.pub.
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Sign a file with a minisign secret key (asks its password if it has
    /// one); writes FILE.minisig unless --out says where.
    Sign {
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Trust a minisign public key file for release signatures. Agents pin
    /// the keys they have; once a key is trusted, a new one (a rotation)
    /// needs --endorsement: its public key file signed by a trusted key
    /// (`release sign --key OLD.key --file NEW.pub`).
    Trust {
        #[arg(long = "public-key", value_name = "FILE")]
        public_key: PathBuf,
        #[arg(long, value_name = "SIG")]
        endorsement: Option<PathBuf>,
    },
    /// Store a release after checking its signature, target and version.
    Add {
        #[arg(long, value_name = "BIN")]
        file: PathBuf,
        #[arg(long, value_name = "SIG")]
        signature: PathBuf,
        #[arg(long)]
        version: String,
        /// Rust target triple, e.g. aarch64-unknown-linux-gnu.
        #[arg(long)]
        target: String,
    },
    /// The stored releases and the trusted keys.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// Writes `text` to a new file (never over an existing one) with `mode`.
fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("{} (it must not exist yet)", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// A small text file (a key or a signature): anything else is named as such.
fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    anyhow::ensure!(bytes.len() <= 64 * 1024, "{}: too large for a {what}", path.display());
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not a {what} (not text)", path.display()))
}

impl ReleaseCmd {
    /// Key generation and signing happen on the offline signing machine:
    /// they need no controller configuration or database.
    pub fn offline(&self) -> bool {
        matches!(self, ReleaseCmd::Keygen { .. } | ReleaseCmd::Sign { .. })
    }
}

/// `keygen` and `sign` (see [`ReleaseCmd::offline`]).
pub fn run_offline(cmd: ReleaseCmd) -> anyhow::Result<()> {
    match cmd {
        ReleaseCmd::Keygen { out } => {
            let password = read_password()?;
            anyhow::ensure!(!password.is_empty(), "a release key needs a password");
            let kp = minisign::KeyPair::generate_encrypted_keypair(Some(password))?;
            let (secret, public) = (out.join("mast-release.key"), out.join("mast-release.pub"));
            write_new(&secret, &kp.sk.to_box(Some("mast release secret key"))?.to_string(), 0o600)?;
            write_new(&public, &kp.pk.to_box()?.to_string(), 0o644)?;
            println!("{}\n{}", secret.display(), public.display());
            eprintln!(
                "Keep {} offline; trust the public key with: mast-controller release trust --public-key {}",
                secret.display(),
                public.display()
            );
            Ok(())
        }
        ReleaseCmd::Sign { key, file, out } => {
            let text = read_text(&key, "minisign secret key")?;
            let sk_box = minisign::SecretKeyBox::from_string(&text)?;
            let sk = match sk_box.clone().into_unencrypted_secret_key() {
                Ok(sk) => sk,
                Err(_) => sk_box.into_secret_key(Some(read_password()?)).context("the key's password")?,
            };
            let data = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let trusted = format!("file:{name}");
            let sig = minisign::sign(None, &sk, std::io::Cursor::new(&data), Some(trusted.as_str()), None)?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{}.minisig", file.display())));
            write_new(&out, &sig.to_string(), 0o644)?;
            println!("{}", out.display());
            Ok(())
        }
        other => anyhow::bail!("release {} needs the controller's database", other.name()),
    }
}

impl ReleaseCmd {
    fn name(&self) -> &'static str {
        match self {
            ReleaseCmd::Keygen { .. } => "keygen",
            ReleaseCmd::Sign { .. } => "sign",
            ReleaseCmd::Trust { .. } => "trust",
            ReleaseCmd::Add { .. } => "add",
            ReleaseCmd::List { .. } => "list",
        }
    }
}

pub async fn run(cmd: ReleaseCmd, app: &App) -> anyhow::Result<()> {
    let cli = actor();
    match cmd {
        ReleaseCmd::Keygen { .. } | ReleaseCmd::Sign { .. } => run_offline(cmd),
        ReleaseCmd::Trust { public_key, endorsement } => {
            let text = read_text(&public_key, "minisign public key (public_key)")?;
            let endorsement = endorsement.map(|p| read_text(&p, "minisign signature (endorsement)")).transpose()?;
            let k = mast_controller::releases::trust(&app.db, &text, endorsement.as_deref()).await?;
            audit::record(&app.db, &cli, "release.trust", &format!("release key {}", k.id), &k.comment).await?;
            println!("release key {} trusted: {} ({})", k.id, k.public_key, k.comment);
            Ok(())
        }
        ReleaseCmd::Add { file, signature, version, target } => {
            let data = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let sig = read_text(&signature, "minisign signature")?;
            let by = cli.name.clone();
            let r = mast_controller::releases::AddRelease {
                data: &data,
                signature: &sig,
                version: &version,
                target: &target,
                by: &by,
            };
            let row = mast_controller::releases::add(&app.db, &r).await?;
            let detail = format!("{} for {}, {} bytes, sha256 {}", row.version, row.target, row.size, row.sha256);
            audit::record(&app.db, &cli, "release.add", &format!("release {}", row.id), &detail).await?;
            println!("release {}: {detail}", row.id);
            Ok(())
        }
        ReleaseCmd::List { json } => {
            let releases = mast_controller::releases::list(&app.db).await?;
            let keys = mast_controller::releases::keys(&app.db).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "releases": releases, "keys": keys }))?
                );
            } else {
                for r in &releases {
                    println!(
                        "{:>4}  {:<16} {:<34} {:>10} bytes  sha256 {}",
                        r.id, r.version, r.target, r.size, r.sha256
                    );
                }
                for k in &keys {
                    println!("key {:>3}  {}  {}", k.id, k.public_key, k.comment);
                }
            }
            Ok(())
        }
    }
}
