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
/// Agents pin the keys they learn at enrollment, so once a key is trusted a
/// new one needs an `endorsement`: its file signed by a trusted key (the
/// agents check that signature before they take it).
pub async fn trust(db: &Db, public_key_file: &str, endorsement: Option<&str>) -> Result<KeyRow, StoreError> {
    let line = signature::public_key_line(public_key_file).map_err(|e| StoreError::invalid("public_key", e))?;
    let existing = store::keys(db).await?;
    if !existing.is_empty() && !existing.iter().any(|k| k.public_key == line) {
        let Some(e) = endorsement else {
            return Err(StoreError::invalid(
                "endorsement",
                "agents pin the trusted keys: sign this public key file with a trusted key \
                 (mast-controller release sign --key OLD.key --file NEW.pub) and pass --endorsement NEW.pub.minisig",
            ));
        };
        let trusted: Vec<signature::TrustedKey> =
            existing.iter().map(|k| signature::TrustedKey { public_key: k.public_key.clone() }).collect();
        signature::verify(&trusted, e, public_key_file.as_bytes())
            .map_err(|e| StoreError::invalid("endorsement", e))?;
    }
    let comment = public_key_file
        .lines()
        .find_map(|l| l.trim().strip_prefix("untrusted comment:"))
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    store::trust_key(db, &line, &comment, public_key_file, endorsement).await
}

/// The keys as agents receive them.
pub async fn wire_keys(db: &Db) -> Result<Vec<mast_shared::ReleaseKey>, StoreError> {
    Ok(store::keys(db)
        .await?
        .into_iter()
        .map(|k| mast_shared::ReleaseKey {
            key_file: k.key_file.unwrap_or_else(|| format!("untrusted comment: {}\n{}\n", k.comment, k.public_key)),
            endorsement: k.endorsement,
        })
        .collect())
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

/// Paces bytes to a rate (a token bucket that may go into debt: each caller
/// waits for its own bytes, so concurrent callers share the rate).
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    burst: f64,
    state: std::sync::Mutex<(f64, std::time::Instant)>,
}

impl Pacer {
    /// `rate` bytes per second; bursts of a quarter second (at least 64 KiB).
    pub fn new(rate: u64) -> Pacer {
        let rate = rate.max(1) as f64;
        let burst = (rate / 4.0).max(65_536.0);
        Pacer { rate, burst, state: std::sync::Mutex::new((burst, std::time::Instant::now())) }
    }

    /// Takes `n` bytes; how long the caller must wait before sending them.
    pub fn take(&self, n: usize) -> std::time::Duration {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        let (tokens, last) = *g;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst) - n as f64;
        *g = (tokens, now);
        if tokens >= 0.0 { std::time::Duration::ZERO } else { std::time::Duration::from_secs_f64(-tokens / self.rate) }
    }

    pub async fn pace(&self, n: usize) {
        let d = self.take(n);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

/// Serves release files to agents: cached in memory (a few at a time),
/// paced per download and for all of them together.
#[derive(Debug)]
pub struct Distribution {
    pub per_agent: u64,
    pub total: Pacer,
    cache: std::sync::Mutex<Vec<(i64, std::sync::Arc<Vec<u8>>)>>,
}

/// Bytes per chunk frame.
pub const CHUNK: usize = 64 * 1024;

impl Distribution {
    pub fn new(per_agent: u64, total: u64) -> Distribution {
        Distribution { per_agent, total: Pacer::new(total), cache: std::sync::Mutex::new(Vec::new()) }
    }

    /// The release's file, from the cache or the database.
    pub async fn file(&self, db: &Db, id: i64) -> Result<Option<std::sync::Arc<Vec<u8>>>, StoreError> {
        if let Some((_, d)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(i, _)| *i == id) {
            return Ok(Some(d.clone()));
        }
        let Some((data, _)) = store::release_file(db, id).await? else { return Ok(None) };
        let data = std::sync::Arc::new(data);
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.retain(|(i, _)| *i != id);
        c.push((id, data.clone()));
        if c.len() > 4 {
            c.remove(0);
        }
        Ok(Some(data))
    }
}

#[cfg(test)]
mod tests {
    use super::Pacer;

    #[test]
    fn the_pacer_holds_the_rate_after_its_burst() {
        let p = Pacer::new(1_000_000);
        // The burst (a quarter second of the rate) goes at once...
        assert!(p.take(250_000).is_zero());
        // ...then each caller waits for its own bytes, debts adding up.
        let w1 = p.take(500_000).as_secs_f64();
        let w2 = p.take(500_000).as_secs_f64();
        assert!((0.45..=0.51).contains(&w1), "{w1}");
        assert!((0.95..=1.01).contains(&w2), "{w2}");
    }
}
