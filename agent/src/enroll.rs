//! `mast-agent enroll`: make a key pair here, send a CSR with the one-time
//! token over a connection pinned to the controller CA's fingerprint, store
//! the signed certificate. The private key never leaves this machine.

use crate::identity::{self, Enrolled, Identity};
use anyhow::{Context, bail};
use mast_shared::io::{read_frame, write_frame};
use mast_shared::{AgentMsg, ControllerMsg, EnrollRequest, PROTOCOL_VERSION};
use std::path::Path;
use std::time::Duration;

pub async fn resolve(controller: &str) -> anyhow::Result<std::net::SocketAddr> {
    tokio::net::lookup_host(controller)
        .await
        .with_context(|| format!("resolving {controller}"))?
        .next()
        .with_context(|| format!("{controller} resolves to no address"))
}

/// The addresses in a controller setting: `host:port`, or several,
/// comma-separated.
pub fn controllers(setting: &str) -> Vec<&str> {
    setting.split(',').map(str::trim).filter(|a| !a.is_empty()).collect()
}

pub fn client_endpoint(remote: std::net::SocketAddr) -> anyhow::Result<quinn::Endpoint> {
    let bind: std::net::SocketAddr = if remote.is_ipv6() { "[::]:0".parse()? } else { "0.0.0.0:0".parse()? };
    Ok(quinn::Endpoint::client(bind)?)
}

pub async fn enroll(controller: &str, token: &str, ca_fingerprint: &str, state_dir: &Path) -> anyhow::Result<Identity> {
    if state_dir.join("identity.json").exists() {
        bail!("{} already holds an enrolled agent; use a fresh --state-dir", state_dir.display());
    }
    let cfg = crate::tls::enroll_config(ca_fingerprint)?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, "mast-agent");
    let csr = params.serialize_request(&key)?;

    // Several addresses: the first that answers enrolls the agent (every
    // controller of one database is the same CA).
    let mut tried = Vec::new();
    let mut found = None;
    for addr in controllers(controller) {
        let attempt = async {
            let remote = resolve(addr).await?;
            let endpoint = client_endpoint(remote)?;
            let conn = endpoint.connect_with(cfg.clone(), remote, mast_shared::CONTROLLER_SERVER_NAME)?.await?;
            anyhow::Ok((endpoint, conn))
        };
        match attempt.await {
            Ok(c) => {
                found = Some(c);
                break;
            }
            Err(e) => tried.push(format!("{addr}: {e:#}")),
        }
    }
    let Some((endpoint, conn)) = found else {
        bail!(
            "cannot reach the controller ({})",
            if tried.is_empty() { "no address given".into() } else { tried.join("; ") }
        );
    };
    let (mut send, mut recv) = conn.open_bi().await?;
    write_frame(
        &mut send,
        &AgentMsg::Enroll(EnrollRequest {
            protocol_version: PROTOCOL_VERSION,
            token: token.to_string(),
            csr_der: csr.der().to_vec(),
        }),
    )
    .await?;
    send.finish()?;
    let reply: ControllerMsg = tokio::time::timeout(Duration::from_secs(15), read_frame(&mut recv))
        .await
        .context("controller did not answer the enrollment request")??;
    let enrolled = match reply {
        ControllerMsg::Enrolled(e) => e,
        ControllerMsg::Refused(r) => bail!("controller refused enrollment: {}", r.reason),
        other => bail!("unexpected answer to enrollment: {other:?}"),
    };
    let identity = Identity { agent_id: enrolled.agent_id, site: enrolled.site, controller: controller.to_string() };
    identity::save_enrollment(
        state_dir,
        &Enrolled {
            identity: identity.clone(),
            key_pem: key.serialize_pem(),
            cert_der: enrolled.cert_der,
            ca_der: enrolled.ca_der,
        },
    )?;
    // The release keys follow; they are pinned from here on.
    if let Ok(Ok(ControllerMsg::ReleaseKeys(keys))) =
        tokio::time::timeout(Duration::from_secs(5), read_frame::<_, ControllerMsg>(&mut recv)).await
    {
        crate::upgrade::apply_keys(&state_dir.join("release-keys.json"), &keys);
    }
    conn.close(0u32.into(), b"enrolled");
    endpoint.wait_idle().await;
    Ok(identity)
}
