//! TLS for the agent: the enrollment connection pinned to the CA fingerprint,
//! and the mutual-TLS link that trusts only the controller's CA.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trusts exactly the CA whose SHA-256 fingerprint the operator pinned: the
/// controller sends its CA in the chain, we check the hash, then verify the
/// server certificate against it as the only root.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| hex::encode(Sha256::digest(c.as_ref())) == self.fingerprint)
            .ok_or_else(|| rustls::Error::General("controller CA does not match the pinned fingerprint".into()))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn quic_client(tls: rustls::ClientConfig) -> anyhow::Result<quinn::ClientConfig> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(quinn::VarInt::from_u32(20_000).into()));
    transport.keep_alive_interval(Some(std::time::Duration::from_secs(5)));
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// Client config for enrollment: no client certificate, server pinned.
pub fn enroll_config(ca_fingerprint: &str) -> anyhow::Result<quinn::ClientConfig> {
    let fingerprint = ca_fingerprint.trim().to_ascii_lowercase().replace(':', "");
    if fingerprint.len() != 64 || !fingerprint.chars().all(|c| c.is_ascii_hexdigit()) {
        anyhow::bail!("--ca-fingerprint must be a SHA-256 hex digest (64 hex digits)");
    }
    let p = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa { fingerprint, provider: p }))
        .with_no_client_auth();
    tls.alpn_protocols = vec![mast_shared::ALPN_ENROLL.to_vec()];
    quic_client(tls)
}

/// Client config for the link: trusts only the controller CA, presents the
/// agent certificate. 0-RTT stays off (quinn only uses it when asked).
pub fn link_config(ca_der: &[u8], cert_der: &[u8], key_pem: &str) -> anyhow::Result<quinn::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![CertificateDer::from(cert_der.to_vec())], key)?;
    tls.alpn_protocols = vec![mast_shared::ALPN_LINK.to_vec()];
    tls.enable_early_data = false;
    quic_client(tls)
}
