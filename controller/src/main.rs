//! `mast-controller`: serve, demo, and the admin CLI.

use anyhow::Context;
use clap::{Parser, Subcommand};
use mast_controller::audit::{self, Actor};
use mast_controller::{config::Config, customers, db::Db, fleet, monitoring, staff};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "mast-controller",
    version,
    about = "Mast controller: monitoring, tickets and billing for a wireless ISP"
)]
struct Cli {
    /// Config file (TOML); `MAST_*` environment variables override it.
    #[arg(long, global = true, env = "MAST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the controller (QUIC ingest, web UI and API).
    Serve,
    /// Run a controller on SQLite plus local agents probing loopback addresses.
    Demo {
        /// Number of agents (one demo site each).
        #[arg(long, default_value_t = 1)]
        agents: u32,
        /// Loopback targets per site (127.0.0.1, 127.0.0.2, ...).
        #[arg(long, default_value_t = 8)]
        targets: u32,
        /// Probe interval in seconds.
        #[arg(long, default_value_t = 5)]
        interval: u64,
    },
    /// Agents: enrollment tokens, revocation, listing.
    Agent {
        #[command(subcommand)]
        cmd: AgentCmd,
    },
    /// Customers and the CPEs that serve them.
    Customer {
        #[command(subcommand)]
        cmd: CustomerCmd,
    },
    /// Planned maintenance windows (no incidents inside; customers told in advance).
    Maintenance {
        #[command(subcommand)]
        cmd: MaintenanceCmd,
    },
    /// Sites and their probe configuration.
    Site {
        #[command(subcommand)]
        cmd: SiteCmd,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a staff account. The password is read from standard input when it
    /// is not a terminal (for scripts), otherwise asked for twice.
    Add {
        #[arg(long)]
        email: String,
        /// admin, billing, support, technician or read-only
        #[arg(long)]
        role: String,
    },
    /// List staff accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role (ends their sessions).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Disable an account and end its sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Re-enable an account.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Set a new password (read like `user add`); ends the user's sessions.
    Passwd {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum MaintenanceCmd {
    /// Plan a window for a site or a device, in the operator's time zone.
    Add {
        #[arg(long, conflicts_with = "device", required_unless_present = "device")]
        site: Option<String>,
        #[arg(long)]
        device: Option<i64>,
        /// Local start, `YYYY-MM-DDTHH:MM`.
        #[arg(long)]
        start: String,
        /// Minutes.
        #[arg(long)]
        duration: u32,
        /// `once`, `daily`, `weekly:tue,thu` or `monthly:15`.
        #[arg(long, default_value = "once")]
        recurrence: String,
        /// Last day (inclusive), `YYYY-MM-DD`.
        #[arg(long)]
        until: Option<String>,
        /// Tell customers this many hours before (0: not at all).
        #[arg(long, default_value_t = 48)]
        notice_hours: u32,
        /// What customers are told.
        #[arg(long)]
        reason: String,
    },
    /// List planned windows.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Cancel a window.
    Cancel { id: i64 },
}

#[derive(Subcommand)]
enum AgentCmd {
    /// Create a pending agent for a site and print its one-time enrollment token.
    Add {
        #[arg(long)]
        site: String,
        /// Print a JSON object (`agent_id`, `token`, `ca_fingerprint`, `expires_in_secs`).
        #[arg(long)]
        json: bool,
    },
    /// Revoke an agent: its certificate is refused and a live link is closed.
    Revoke { id: u64 },
    /// List agents.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SiteCmd {
    /// Create a site.
    Add {
        name: String,
        /// Comma-separated IP addresses, optionally `IP=name`.
        #[arg(long, default_value = "")]
        targets: String,
        /// Probe interval in seconds.
        #[arg(long)]
        interval: Option<u64>,
        /// Ping timeout in milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Change a site's targets or timing (agents get it without restart),
    /// or where its tower stands.
    Set {
        name: String,
        #[arg(long)]
        targets: Option<String>,
        #[arg(long)]
        interval: Option<u64>,
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Latitude of the tower (with --lon), for the map.
        #[arg(long, requires = "lon", allow_hyphen_values = true)]
        lat: Option<f64>,
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lon: Option<f64>,
    },
    /// Change a site's SNMP, discovery and ping-pacing settings (agents get
    /// them without restart). Options left out keep their value.
    Probing {
        name: String,
        /// SNMP credential, repeatable, replacing the list: `v2c:COMMUNITY` or
        /// `v3:USER:md5|sha|sha256:AUTHKEY:des|aes:PRIVKEY`. A command line is
        /// visible to other local users: prefer --snmp-credentials-stdin.
        #[arg(long = "snmp-credential")]
        snmp_credentials: Vec<String>,
        /// Read the credentials (one per line, same syntax) from standard input.
        #[arg(long)]
        snmp_credentials_stdin: bool,
        /// Devices to poll: `IP[:PORT][@N],...` (N = credential position, default 0).
        #[arg(long)]
        snmp_targets: Option<String>,
        /// Subnets to sweep for devices: `CIDR,...` (at most /20 each).
        #[arg(long)]
        subnets: Option<String>,
        /// SNMP poll interval in seconds.
        #[arg(long)]
        snmp_interval: Option<u64>,
        /// Discovery sweep interval in seconds.
        #[arg(long)]
        discovery_interval: Option<u64>,
        /// Most ICMP echo requests per second the agent sends.
        #[arg(long)]
        ping_rate: Option<u64>,
    },
    /// List sites.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CustomerCmd {
    /// Create a customer; prints its id (or the customer as JSON).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// Service address.
        #[arg(long)]
        address: Option<String>,
        #[arg(long, requires = "lon", allow_hyphen_values = true)]
        lat: Option<f64>,
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lon: Option<f64>,
        /// lead, active (default), suspended or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Site name.
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        notes: Option<String>,
        /// MAC of a CPE that serves the customer (repeatable).
        #[arg(long)]
        cpe: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Link a CPE (by MAC) to a customer.
    Link { id: i64, mac: String },
    /// Give a customer a portal login (their email) with a password read
    /// from the terminal or one line of stdin.
    PortalPassword { id: i64 },
    /// List customers, optionally matching a search (name, email, phone, address, CPE MAC).
    List {
        #[arg(long, default_value = "")]
        search: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create an API token; prints only the token on standard output.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
    },
    /// List API tokens (never their values).
    List,
    /// Revoke an API token by id.
    Revoke { id: i64 },
}

fn init_tracing(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load_from_process(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mast-controller: bad configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(&cfg.log);
    match run(cli.cmd, cfg).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mast-controller: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn db(cfg: &Config) -> anyhow::Result<Db> {
    Db::connect(&cfg.database_url()).await.context("opening the database")
}

fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ")?;
        let b = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(a == b, "the passwords differ");
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

async fn user_id(db: &Db, email: &str) -> anyhow::Result<i64> {
    Ok(staff::user_by_email(db, email).await?.ok_or_else(|| anyhow::anyhow!("no user {email}"))?.id)
}

async fn run(cmd: Cmd, cfg: Config) -> anyhow::Result<()> {
    let cli = Actor::cli();
    match cmd {
        Cmd::Serve => mast_controller::serve(cfg, mast_controller::shutdown_signal(), None).await,
        Cmd::Demo { agents, targets, interval } => mast_controller::demo::run(cfg, agents, targets, interval).await,
        Cmd::Agent { cmd: AgentCmd::Add { site, json } } => {
            let (db, pki) = mast_controller::open(&cfg).await?;
            let (id, token) = fleet::add_agent(&db, &site, Duration::from_secs(cfg.enroll_token_ttl_secs)).await?;
            audit::record(&db, &cli, "agent.enroll", &format!("agent {id}"), &format!("site {site}")).await?;
            let fp = pki.ca_fingerprint();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"agent_id": id, "site": site, "token": token, "ca_fingerprint": fp, "expires_in_secs": cfg.enroll_token_ttl_secs})
                );
            } else {
                println!("agent {id} for site {site}: token valid for {} s, single use", cfg.enroll_token_ttl_secs);
                println!("token:          {token}");
                println!("ca fingerprint: {fp}");
                println!(
                    "on the tower:   mast-agent enroll --controller HOST:{} --token {token} --ca-fingerprint {fp} --state-dir /var/lib/mast-agent",
                    cfg.quic_listen.port()
                );
            }
            Ok(())
        }
        Cmd::Agent { cmd: AgentCmd::Revoke { id } } => {
            let db = db(&cfg).await?;
            anyhow::ensure!(fleet::revoke(&db, id).await?, "no active or pending agent {id}");
            audit::record(&db, &cli, "agent.revoke", &format!("agent {id}"), "").await?;
            println!("agent {id} revoked");
            Ok(())
        }
        Cmd::Agent { cmd: AgentCmd::List { json } } => {
            let agents = fleet::list_agents(&db(&cfg).await?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&agents)?);
            } else {
                for a in agents {
                    let state = if a.connected { "connected" } else { "offline" };
                    println!(
                        "{:>5}  {:<20} {:<8} {:<10} {}",
                        a.id,
                        a.site,
                        a.status,
                        state,
                        a.version.unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        Cmd::Customer {
            cmd: CustomerCmd::Add { name, email, phone, address, lat, lon, status, site, notes, cpe, json },
        } => {
            let db = db(&cfg).await?;
            let input = customers::CustomerInput {
                name,
                email,
                phone,
                address,
                lat,
                lon,
                status,
                site,
                notes,
                notify_outages: None,
            };
            input.validate()?;
            for m in &cpe {
                mast_shared::parse_mac(m).ok_or_else(|| anyhow::anyhow!("cpe: {m:?} is not a MAC address"))?;
            }
            let c = customers::create(&db, &input).await?;
            audit::record(&db, &cli, "customer.add", &format!("customer {}", c.id), &c.name).await?;
            for m in &cpe {
                let mac = customers::link_cpe(&db, c.id, m).await?;
                audit::record(&db, &cli, "customer.link-cpe", &format!("customer {}", c.id), &mac).await?;
            }
            let c = customers::get(&db, c.id).await?.ok_or_else(|| anyhow::anyhow!("customer vanished"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                println!("{}", c.id);
            }
            Ok(())
        }
        Cmd::Maintenance {
            cmd: MaintenanceCmd::Add { site, device, start, duration, recurrence, until, notice_hours, reason },
        } => {
            let db = db(&cfg).await?;
            let input = mast_controller::monitoring::windows::WindowInput {
                site,
                device,
                start_local: start,
                duration_minutes: duration,
                recurrence: Some(recurrence),
                until,
                notice_hours: Some(notice_hours),
                reason,
            };
            let w = mast_controller::monitoring::windows::create(&db, &input, &cfg.timezone, &cli.name).await?;
            audit::record(&db, &cli, "maintenance.plan", &format!("maintenance {}", w.window.id), &w.description)
                .await?;
            println!("maintenance {}: {} ({})", w.window.id, w.description, w.scope_name);
            Ok(())
        }
        Cmd::Maintenance { cmd: MaintenanceCmd::List { json } } => {
            let list = mast_controller::monitoring::windows::list(&db(&cfg).await?, false).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for w in &list {
                    println!("{:>4}  {:<20} {}  {}", w.window.id, w.scope_name, w.description, w.reason);
                }
            }
            Ok(())
        }
        Cmd::Maintenance { cmd: MaintenanceCmd::Cancel { id } } => {
            let db = db(&cfg).await?;
            if mast_controller::monitoring::windows::cancel(&db, id).await? {
                audit::record(&db, &cli, "maintenance.cancel", &format!("maintenance {id}"), "").await?;
                println!("maintenance {id} cancelled");
                Ok(())
            } else {
                anyhow::bail!("no planned maintenance {id}")
            }
        }
        Cmd::Customer { cmd: CustomerCmd::Link { id, mac } } => {
            let db = db(&cfg).await?;
            let mac = customers::link_cpe(&db, id, &mac).await?;
            audit::record(&db, &cli, "customer.link-cpe", &format!("customer {id}"), &mac).await?;
            println!("customer {id}: CPE {mac} linked");
            Ok(())
        }
        Cmd::Customer { cmd: CustomerCmd::PortalPassword { id } } => {
            let db = db(&cfg).await?;
            let email = mast_controller::portal::enable(&db, id).await?;
            mast_controller::portal::set_password(&db, id, &read_password()?).await?;
            audit::record(&db, &cli, "portal.password", &format!("customer {id}"), &email).await?;
            println!("customer {id} signs in to the portal as {email}");
            Ok(())
        }
        Cmd::Customer { cmd: CustomerCmd::List { search, json } } => {
            let list = customers::search(&db(&cfg).await?, &search, 10_000, 0).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for c in &list {
                    println!("{:>6}  {:<30} {:<10} {}", c.id, c.name, c.status, c.cpes.join(","));
                }
            }
            Ok(())
        }
        Cmd::Site { cmd: SiteCmd::Add { name, targets, interval, timeout_ms } } => {
            let db = db(&cfg).await?;
            let interval_ms = interval.unwrap_or(cfg.default_probe_interval_secs) as i64 * 1000;
            let timeout_ms =
                timeout_ms.map(|t| t as i64).unwrap_or((cfg.default_probe_timeout_ms as i64).min(interval_ms - 1));
            let s = monitoring::add_site(&db, &name, &monitoring::parse_targets(&targets)?, interval_ms, timeout_ms)
                .await?;
            audit::record(&db, &cli, "site.add", &s.name, &format!("{} targets", s.targets.len())).await?;
            println!("site {} created with {} targets", s.name, s.targets.len());
            Ok(())
        }
        Cmd::Site { cmd: SiteCmd::Set { name, targets, interval, timeout_ms, lat, lon } } => {
            let db = db(&cfg).await?;
            if let (Some(lat), Some(lon)) = (lat, lon) {
                let s = monitoring::site_by_name(&db, &name)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no site named {name:?}"))?;
                monitoring::set_site_location(&db, s.id, lat, lon).await?;
                audit::record(&db, &cli, "site.location", &name, &format!("{lat:.5}, {lon:.5}")).await?;
                if targets.is_none() && interval.is_none() && timeout_ms.is_none() {
                    println!("site {name} at {lat:.5}, {lon:.5}");
                    return Ok(());
                }
            }
            let targets = targets.map(|t| monitoring::parse_targets(&t)).transpose()?;
            let s = monitoring::set_site(
                &db,
                &name,
                targets.as_deref(),
                interval.map(|i| i as i64 * 1000),
                timeout_ms.map(|t| t as i64),
            )
            .await?;
            audit::record(&db, &cli, "site.set", &s.name, &format!("revision {}", s.revision)).await?;
            println!("site {} now at revision {} with {} targets", s.name, s.revision, s.targets.len());
            Ok(())
        }
        Cmd::Site {
            cmd:
                SiteCmd::Probing {
                    name,
                    snmp_credentials,
                    snmp_credentials_stdin,
                    snmp_targets,
                    subnets,
                    snmp_interval,
                    discovery_interval,
                    ping_rate,
                },
        } => {
            use monitoring::probing;
            let db = db(&cfg).await?;
            let site =
                monitoring::site_by_name(&db, &name).await?.ok_or_else(|| anyhow::anyhow!("no site named {name:?}"))?;
            let mut p = probing::get(&db, site.id).await?.ok_or_else(|| anyhow::anyhow!("no site named {name:?}"))?;
            let mut credentials = snmp_credentials;
            if snmp_credentials_stdin {
                credentials.extend(
                    std::io::stdin()
                        .lines()
                        .map_while(Result::ok)
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty()),
                );
            }
            p.apply(&probing::Change {
                credentials,
                snmp_targets,
                subnets,
                snmp_interval_secs: snmp_interval,
                discovery_interval_secs: discovery_interval,
                ping_rate_pps: ping_rate,
            })?;
            probing::set(&db, site.id, &p).await?;
            let detail = p.summary();
            audit::record(&db, &cli, "site.probing", &name, &detail).await?;
            println!("site {name}: {detail}");
            Ok(())
        }
        Cmd::Site { cmd: SiteCmd::List { json } } => {
            let sites = monitoring::list_sites(&db(&cfg).await?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sites)?);
            } else {
                for s in sites {
                    println!("{:<20} every {:>4} s  {} targets", s.name, s.interval_ms / 1000, s.targets.len());
                }
            }
            Ok(())
        }
        Cmd::Token { cmd: TokenCmd::Create { role, name } } => {
            let db = db(&cfg).await?;
            let token = mast_controller::auth::create_token(&db, &name, &role).await?;
            audit::record(&db, &cli, "token.create", &name, &format!("role {role}")).await?;
            println!("{token}");
            Ok(())
        }
        Cmd::Token { cmd: TokenCmd::List } => {
            for t in mast_controller::auth::list_tokens(&db(&cfg).await?).await? {
                let state = if t.revoked_ms.is_some() { "revoked" } else { "active" };
                println!("{:>5}  {:<24} {:<11} {state}", t.id, t.name, t.role);
            }
            Ok(())
        }
        Cmd::Token { cmd: TokenCmd::Revoke { id } } => {
            let db = db(&cfg).await?;
            anyhow::ensure!(mast_controller::auth::revoke_token(&db, id).await?, "no active token {id}");
            audit::record(&db, &cli, "token.revoke", &format!("token {id}"), "").await?;
            println!("token {id} revoked");
            Ok(())
        }
        Cmd::User { cmd } => {
            let db = db(&cfg).await?;
            match cmd {
                UserCmd::Add { email, role } => {
                    let role = staff::Role::parse(&role)?;
                    let password = read_password()?;
                    let u = staff::add_user(&db, &email, role, &password).await?;
                    audit::record(&db, &cli, "user.add", &u.email, &format!("role {}", role.as_str())).await?;
                    println!("user {} added with role {}", u.email, role.as_str());
                }
                UserCmd::List { json } => {
                    let users = staff::list_users(&db).await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&users)?);
                    } else {
                        for u in users {
                            let state = if u.disabled { "disabled" } else { "active" };
                            println!("{:<32} {:<11} {state}", u.email, u.role.as_str());
                        }
                    }
                }
                UserCmd::SetRole { email, role } => {
                    let role = staff::Role::parse(&role)?;
                    staff::set_role(&db, user_id(&db, &email).await?, role).await?;
                    audit::record(&db, &cli, "user.role", &email, role.as_str()).await?;
                    println!("{email} is now {}", role.as_str());
                }
                UserCmd::Disable { email } => {
                    staff::set_disabled(&db, user_id(&db, &email).await?, true).await?;
                    audit::record(&db, &cli, "user.disable", &email, "").await?;
                    println!("{email} disabled");
                }
                UserCmd::Enable { email } => {
                    staff::set_disabled(&db, user_id(&db, &email).await?, false).await?;
                    audit::record(&db, &cli, "user.enable", &email, "").await?;
                    println!("{email} enabled");
                }
                UserCmd::Passwd { email } => {
                    let password = read_password()?;
                    staff::set_password(&db, user_id(&db, &email).await?, &password).await?;
                    audit::record(&db, &cli, "user.passwd", &email, "").await?;
                    println!("password of {email} changed");
                }
            }
            Ok(())
        }
    }
}
