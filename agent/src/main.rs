//! `mast-agent`: enroll, run, and the technician's `probe`.

use clap::{Parser, Subcommand};
use mast_agent::probe;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "mast-agent", version = mast_agent::VERSION, about = "Mast tower agent")]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info` or `mast_agent=debug`.
    #[arg(long, global = true, env = "MAST_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Enroll with a controller using a one-time token.
    Enroll {
        /// Controller QUIC address, HOST:PORT; several controllers sharing one
        /// database as a comma-separated list (the agent moves to the next when
        /// one fails; kept as `controller` in `identity.json`).
        #[arg(long)]
        controller: String,
        #[arg(long)]
        token: String,
        /// SHA-256 fingerprint of the controller CA (printed by `mast-controller agent add`).
        #[arg(long)]
        ca_fingerprint: String,
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Probe the site's targets and stream results to the controller.
    Run {
        #[arg(long)]
        state_dir: PathBuf,
        /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9108.
        #[arg(long, env = "MAST_AGENT_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// Spool size cap in bytes; beyond it the oldest samples are dropped (and reported).
        #[arg(long, env = "MAST_SPOOL_CAP_BYTES", default_value_t = 1 << 30)]
        spool_cap_bytes: u64,
        /// Spool segment file size in bytes.
        #[arg(long, env = "MAST_SPOOL_SEGMENT_BYTES", default_value_t = 8 << 20)]
        spool_segment_bytes: u64,
        /// Group commit: fsync at least this often (ms) while samples are pending...
        #[arg(long, env = "MAST_SPOOL_FLUSH_MS", default_value_t = 100)]
        spool_flush_ms: u64,
        /// ...or as soon as this many encoded bytes are pending.
        #[arg(long, env = "MAST_SPOOL_FLUSH_BYTES", default_value_t = 64 << 10)]
        spool_flush_bytes: u64,
        /// A pushed config is confirmed once the link stayed up this long (s;
        /// at least 25: a lost link shows after the 20 s idle timeout)...
        #[arg(long, env = "MAST_CONFIG_CONFIRM_SECS", default_value_t = 60)]
        config_confirm_secs: u64,
        /// ...and reverted to the last confirmed one when the link is down
        /// this long (s) before that.
        #[arg(long, env = "MAST_CONFIG_REVERT_SECS", default_value_t = 300)]
        config_revert_secs: u64,
    },
    /// Probe targets once: ICMP, and with an SNMP credential a full SNMP pass
    /// (identity, interfaces, stations, ARP and bridge tables).
    Probe {
        /// Print JSON (schema: docs/probe-json.md).
        #[arg(long)]
        json: bool,
        /// SNMP v2c community; without it (or a v3 user) only ICMP is tried.
        #[arg(long, env = "MAST_SNMP_COMMUNITY", hide_env_values = true)]
        community: Option<String>,
        /// SNMPv3 user (authPriv); replaces --community.
        #[arg(long)]
        v3_user: Option<String>,
        /// SNMPv3 authentication passphrase.
        #[arg(long, env = "MAST_SNMP_V3_AUTH_PASS", hide_env_values = true)]
        v3_auth_pass: Option<String>,
        /// SNMPv3 privacy passphrase.
        #[arg(long, env = "MAST_SNMP_V3_PRIV_PASS", hide_env_values = true)]
        v3_priv_pass: Option<String>,
        /// SNMPv3 authentication protocol: sha, sha256 or md5.
        #[arg(long, default_value = "sha")]
        v3_auth_proto: String,
        /// SNMPv3 privacy protocol: aes or des.
        #[arg(long, default_value = "aes")]
        v3_priv_proto: String,
        /// Timeout per request (ICMP echo, SNMP request) in milliseconds.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// `IP` or `IP:PORT` (the port is for SNMP; default 161).
        #[arg(required = true)]
        targets: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let res = match cli.cmd {
        Cmd::Enroll { controller, token, ca_fingerprint, state_dir } => {
            mast_agent::enroll::enroll(&controller, &token, &ca_fingerprint, &state_dir).await.map(|id| {
                println!(
                    "enrolled as agent {} of site {}; start it with: mast-agent run --state-dir {}",
                    id.agent_id,
                    id.site,
                    state_dir.display()
                );
            })
        }
        Cmd::Run {
            state_dir,
            metrics_listen,
            spool_cap_bytes,
            spool_segment_bytes,
            spool_flush_ms,
            spool_flush_bytes,
            config_confirm_secs,
            config_revert_secs,
        } => {
            let limits = mast_agent::spool::ledger::Limits {
                segment_bytes: spool_segment_bytes.clamp(256, 1 << 30),
                cap_bytes: spool_cap_bytes.max(8192),
                flush_bytes: spool_flush_bytes.clamp(1, 16 << 20),
                flush_ms: spool_flush_ms.clamp(1, 10_000),
            };
            let guard = mast_agent::config_guard::Limits {
                confirm_ms: config_confirm_secs.clamp(25, 86_400) as i64 * 1000,
                revert_ms: config_revert_secs.clamp(1, 86_400) as i64 * 1000,
            };
            mast_agent::run::run(&state_dir, metrics_listen, limits, guard).await
        }
        Cmd::Probe {
            json,
            community,
            v3_user,
            v3_auth_pass,
            v3_priv_pass,
            v3_auth_proto,
            v3_priv_proto,
            timeout_ms,
            targets,
        } => {
            let v3 =
                v3_user.map(|user| probe::V3Args { user, v3_auth_pass, v3_priv_pass, v3_auth_proto, v3_priv_proto });
            probe_cmd(json, community, v3, Duration::from_millis(timeout_ms.clamp(10, 60_000)), targets).await
        }
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mast-agent: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `probe`: builds the credential and prints the report (logic in `probe.rs`).
async fn probe_cmd(
    json: bool,
    community: Option<String>,
    v3: Option<probe::V3Args>,
    timeout: Duration,
    targets: Vec<String>,
) -> anyhow::Result<()> {
    let credential = probe::credential(community, v3)?;
    let report = probe::probe(&probe::ProbeOptions { targets, credential, timeout }).await?;
    if json {
        println!("{}", probe::render_json(&report));
    } else {
        print!("{}", probe::render_text(&report));
    }
    Ok(())
}
