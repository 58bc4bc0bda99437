//! `mast-agent`: enroll, run, and the technician's `probe`.

use clap::{Parser, Subcommand};
use mast_agent::probe;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "mast-agent", version, about = "Mast tower agent")]
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
        /// Controller QUIC address, HOST:PORT.
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
    },
    /// Probe targets once (ICMP, and SNMP with --community) and print what answered.
    Probe {
        /// Print JSON (schema documented in README.md).
        #[arg(long)]
        json: bool,
        /// SNMP v2c community; without it only ICMP is tried.
        #[arg(long)]
        community: Option<String>,
        /// Timeout per request in milliseconds.
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
        } => {
            let limits = mast_agent::spool::ledger::Limits {
                segment_bytes: spool_segment_bytes.clamp(256, 1 << 30),
                cap_bytes: spool_cap_bytes.max(8192),
                flush_bytes: spool_flush_bytes.clamp(1, 16 << 20),
                flush_ms: spool_flush_ms.clamp(1, 10_000),
            };
            mast_agent::run::run(&state_dir, metrics_listen, limits).await
        }
        Cmd::Probe { json, community, timeout_ms, targets } => {
            probe_cmd(json, community, Duration::from_millis(timeout_ms.clamp(10, 60_000)), targets).await
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

#[derive(serde::Serialize)]
struct ProbeReport {
    target: String,
    ip: String,
    ping: PingReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    snmp: Option<SnmpReport>,
}

#[derive(serde::Serialize)]
struct PingReport {
    alive: bool,
    rtt_ms: Option<f64>,
}

#[derive(serde::Serialize)]
struct SnmpReport {
    ok: bool,
    error: Option<String>,
    #[serde(flatten)]
    identity: probe::SnmpIdentity,
}

async fn probe_cmd(
    json: bool,
    community: Option<String>,
    timeout: Duration,
    targets: Vec<String>,
) -> anyhow::Result<()> {
    let addrs: Vec<SocketAddr> =
        targets.iter().map(|t| probe::parse_target(t)).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?;
    let ips: Vec<std::net::IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    let pings = match mast_agent::ping::Pinger::new() {
        Ok(mut p) => p.round(&ips, timeout).await,
        Err(e) => {
            eprintln!("warning: {e}");
            ips.iter().map(|ip| (*ip, None)).collect()
        }
    };
    let mut reports = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let snmp = match &community {
            None => None,
            Some(c) => Some(match probe::snmp_identify(*addr, c, timeout).await {
                Ok(identity) => SnmpReport { ok: true, error: None, identity },
                Err(e) => SnmpReport { ok: false, error: Some(e), identity: Default::default() },
            }),
        };
        let rtt = pings[i].1;
        reports.push(ProbeReport {
            target: targets[i].clone(),
            ip: addr.ip().to_string(),
            ping: PingReport { alive: rtt.is_some(), rtt_ms: rtt.map(|d| d.as_secs_f64() * 1000.0) },
            snmp,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "version": 1, "targets": reports }))?);
    } else {
        for r in &reports {
            let ping = match r.ping.rtt_ms {
                Some(ms) => format!("alive {ms:.2} ms"),
                None => "no reply".into(),
            };
            println!("{:<22} ping: {ping}", r.target);
            if let Some(s) = &r.snmp {
                match &s.error {
                    Some(e) => println!("{:<22} snmp: {e}", ""),
                    None => {
                        println!("{:<22} snmp: {}", "", s.identity.sys_name.as_deref().unwrap_or("(no sysName)"));
                        println!("{:<22}   descr: {}", "", s.identity.sys_descr.as_deref().unwrap_or("-"));
                        println!("{:<22}   object id: {}", "", s.identity.sys_object_id.as_deref().unwrap_or("-"));
                    }
                }
            }
        }
    }
    Ok(())
}
