//! The controller's own certificate authority: created on first start and
//! kept in the database (`controller_ca`), so every controller sharing the
//! database is the same CA to the agents; it signs each controller's server
//! certificate (fresh per run) and every agent's client certificate (from a
//! CSR; agents keep their private keys).
//!
//! Invariants: one CA per database (the first controller to store one wins a
//! race of two); a CA an older release kept in `<data_dir>/pki/` is moved
//! into the database at first start (its files are left as they were); only
//! the certificate is written out, to `<data_dir>/pki/ca.cert.pem`, for the
//! tools that read it. An agent certificate's subject CN is `agent-<id>` and
//! its serial is recorded on the agent's row, so a re-enrolled agent's old
//! certificate is refused.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate error: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("bad certificate signing request: {0}")]
    BadCsr(rcgen::Error),
    #[error("database: {0}")]
    Db(#[from] mast_store::db::StoreError),
}

pub struct Pki {
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_der: Vec<u8>,
}

/// SHA-256 of a certificate's DER, as lowercase hex: what operators pin.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_owned(), source }
}

fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    // A positive INTEGER with no leading zero byte, so DER keeps all 16 bytes
    // and the serial we record is byte for byte the one in the certificate.
    b[0] = b[0] % 0x7f + 1;
    SerialNumber::from_slice(&b)
}

/// A new CA: key and self-signed certificate, PEM.
fn new_ca() -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let tag: u32 = rand::random();
    dn.push(DnType::CommonName, format!("Mast controller CA {tag:08x}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365 * 30);
    let cert = params.self_signed(&key)?;
    Ok((key.serialize_pem(), cert.pem()))
}

impl Pki {
    /// The database's CA (made, or moved in from `<data_dir>/pki`, on first
    /// start), with a fresh server certificate for this run.
    pub async fn open(db: &mast_store::db::Db, data_dir: &Path) -> Result<Pki, PkiError> {
        let dir = data_dir.join("pki");
        let (key_pem, cert_pem) = match mast_store::fleet::ca(db).await? {
            Some(pair) => pair,
            None => {
                let (key_path, cert_path) = (dir.join("ca.key.pem"), dir.join("ca.cert.pem"));
                let (k, c) = if key_path.exists() && cert_path.exists() {
                    let k = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
                    (k, std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?)
                } else {
                    new_ca()?
                };
                mast_store::fleet::init_ca(db, &k, &c).await?
            }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let cert_path = dir.join("ca.cert.pem");
        if std::fs::read_to_string(&cert_path).ok().as_deref() != Some(cert_pem.as_str()) {
            write_private(&cert_path, &cert_pem)?;
        }
        Pki::from_pems(&key_pem, &cert_pem, &cert_path)
    }

    fn from_pems(key_pem: &str, cert_pem: &str, cert_path: &Path) -> Result<Pki, PkiError> {
        let ca_key = KeyPair::from_pem(key_pem)?;
        let ca_der = {
            use rustls::pki_types::pem::PemObject;
            CertificateDer::from_pem_slice(cert_pem.as_bytes())
                .map_err(|e| io(cert_path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())))?
        };
        let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key)?;

        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![mast_shared::CONTROLLER_SERVER_NAME.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, mast_shared::CONTROLLER_SERVER_NAME);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(random_serial());
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(397);
        let server_cert = params.signed_by(&server_key, &issuer)?;
        Ok(Pki {
            server_chain: vec![server_cert.der().clone(), ca_der.clone()],
            server_key_der: server_key.serialize_der(),
            ca_der,
            issuer,
        })
    }

    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    pub fn ca_fingerprint(&self) -> String {
        fingerprint(&self.ca_der)
    }

    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        self.server_chain.clone()
    }

    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()))
    }

    /// Signs an agent's CSR. Only the CSR's public key is used: subject,
    /// validity and usages are the controller's choice.
    /// Returns the certificate DER and its serial as hex.
    pub fn sign_agent_csr(
        &self,
        csr_der: &[u8],
        agent_id: u64,
        validity: Duration,
    ) -> Result<(Vec<u8>, String), PkiError> {
        let mut csr = CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
            .map_err(PkiError::BadCsr)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, agent_common_name(agent_id));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let serial = random_serial();
        let serial_text = serial_hex(&serial.to_bytes());
        params.serial_number = Some(serial);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::seconds(validity.as_secs().min(i64::MAX as u64) as i64);
        csr.params = params;
        let cert = csr.signed_by(&self.issuer)?;
        Ok((cert.der().to_vec(), serial_text))
    }
}

/// Hex of a serial without leading zero bytes (DER may drop them).
pub fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    hex::encode(&bytes[start..])
}

pub fn agent_common_name(agent_id: u64) -> String {
    format!("agent-{agent_id}")
}

/// Reads the agent id and serial out of a verified client certificate.
pub fn agent_identity(cert_der: &[u8]) -> Option<(u64, String)> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    let id = cn.strip_prefix("agent-")?.parse().ok()?;
    Some((id, serial_hex(cert.raw_serial())))
}

impl mast_store::fleet::CertSigner for Pki {
    fn sign_agent_csr(&self, csr_der: &[u8], agent_id: u64, validity: Duration) -> Result<(Vec<u8>, String), String> {
        Pki::sign_agent_csr(self, csr_der, agent_id, validity).map_err(|e| e.to_string())
    }
    fn ca_der(&self) -> Vec<u8> {
        Pki::ca_der(self).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_ca_per_database_and_it_signs_csrs_with_our_subject() {
        let dir = tempfile::tempdir().unwrap();
        let db = mast_store::db::Db::connect(&format!("sqlite://{}/p.db", dir.path().display())).await.unwrap();
        // Two controllers (two data dirs) on one database: one CA.
        let a = Pki::open(&db, &dir.path().join("a")).await.unwrap();
        let b = Pki::open(&db, &dir.path().join("b")).await.unwrap();
        assert_eq!(a.ca_fingerprint(), b.ca_fingerprint(), "CA is created once and shared");
        let cert = std::fs::read_to_string(dir.path().join("b/pki/ca.cert.pem")).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!dir.path().join("b/pki/ca.key.pem").exists(), "the key stays in the database");
        // A CA an older release kept in its data dir moves into a new database.
        let old = dir.path().join("old/pki");
        std::fs::create_dir_all(&old).unwrap();
        let (k, c) = new_ca().unwrap();
        std::fs::write(old.join("ca.key.pem"), &k).unwrap();
        std::fs::write(old.join("ca.cert.pem"), &c).unwrap();
        let db2 = mast_store::db::Db::connect(&format!("sqlite://{}/q.db", dir.path().display())).await.unwrap();
        let moved = Pki::open(&db2, &dir.path().join("old")).await.unwrap();
        assert_eq!(mast_store::fleet::ca(&db2).await.unwrap(), Some((k, c.clone())));
        assert_ne!(moved.ca_fingerprint(), a.ca_fingerprint());

        let key = KeyPair::generate().unwrap();
        let mut req = CertificateParams::default();
        req.distinguished_name.push(DnType::CommonName, "agent-999"); // ignored
        let csr = req.serialize_request(&key).unwrap();
        let (der, serial) = a.sign_agent_csr(csr.der(), 42, Duration::from_secs(3600)).unwrap();
        assert_eq!(agent_identity(&der), Some((42, serial)));
        assert!(matches!(a.sign_agent_csr(b"not a csr", 1, Duration::from_secs(1)), Err(PkiError::BadCsr(_))));
        // The recorded serial always matches the certificate's (no DER zero stripping).
        for i in 0..300 {
            let (der, serial) = a.sign_agent_csr(csr.der(), i, Duration::from_secs(3600)).unwrap();
            assert_eq!(agent_identity(&der), Some((i, serial)));
        }
        assert_eq!(serial_hex(&[0, 0, 0x12]), "12");
    }
}
