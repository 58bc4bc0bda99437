//! Agent releases: a release is stored only once its version is well
//! formed, its file is an ELF executable for its target and its minisign
//! signature verifies with a trusted release key (`mast-upgrade-core`'s
//! checks, the same the agent runs before it executes anything).

use mast_store::StoreError;
use mast_store::db::Db;
use mast_store::releases::{self as store, NewRelease};
pub use mast_store::releases::{KeyRow, ReleaseRow, keys, releases as list};
use mast_upgrade_core::{binary, signature};
use sha2::{Digest, Sha256};

/// Trusts the key of a minisign public key file (`minisign -G` writes one).
pub async fn trust(db: &Db, public_key_file: &str) -> Result<KeyRow, StoreError> {
    let line = signature::public_key_line(public_key_file).map_err(|e| StoreError::invalid("public_key", e))?;
    let comment = public_key_file
        .lines()
        .find_map(|l| l.trim().strip_prefix("untrusted comment:"))
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    store::trust_key(db, &line, &comment).await
}

/// What `release add` brings.
#[derive(Debug, Clone)]
pub struct AddRelease<'a> {
    pub data: &'a [u8],
    /// The `.minisig` file's text.
    pub signature: &'a str,
    pub version: &'a str,
    pub target: &'a str,
    pub by: &'a str,
}

/// Checks and stores a release; each refusal names its field (`version`,
/// `file`, `signature`).
pub async fn add(db: &Db, r: &AddRelease<'_>) -> Result<ReleaseRow, StoreError> {
    binary::check_version(r.version).map_err(|e| StoreError::invalid("version", e))?;
    binary::check_binary(&r.data[..r.data.len().min(64)], r.target).map_err(|e| StoreError::invalid("file", e))?;
    let keys = store::keys(db).await?;
    let trusted: Vec<signature::TrustedKey> =
        keys.iter().map(|k| signature::TrustedKey { public_key: k.public_key.clone() }).collect();
    let signer = signature::verify(&trusted, r.signature, r.data).map_err(|e| StoreError::invalid("signature", e))?;
    let sha256 = hex::encode(Sha256::digest(r.data));
    store::add_release(
        db,
        &NewRelease {
            version: r.version,
            target: r.target,
            sha256: &sha256,
            signature: r.signature,
            key_id: keys[signer].id,
            data: r.data,
            by: r.by,
        },
    )
    .await
}
