//! `mast-controller`: serve, demo, and the admin CLI.

use anyhow::Context;
use clap::{Parser, Subcommand};
use mast_controller::audit::{self, Actor};
use mast_controller::{billing, config::Config, customers, db::Db, fleet, monitoring, staff};
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
    /// Billing: plans, accounts, subscriptions, payments and the invoice run.
    Billing {
        #[command(subcommand)]
        cmd: BillingCmd,
    },
    /// Load realistic demo customers (sites, CPEs, plans, subscriptions,
    /// charges, payments) into the configured database, in one transaction.
    DemoData {
        /// How many customers.
        #[arg(long)]
        customers: u32,
        /// Same seed and as-of date, same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// "Today" for the data, YYYY-MM-DD (default: today in the configured `timezone`).
        #[arg(long)]
        as_of: Option<String>,
        /// Put every billing account on this day (default: spread over 1-28).
        #[arg(long)]
        billing_day: Option<u8>,
        /// Add demo customers even if some exist.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
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
        Cmd::Billing { cmd } => billing_cmd(cmd, &cfg).await,
        Cmd::DemoData { customers, seed, as_of, billing_day, force, json } => {
            demo_data(&cfg, customers, seed, as_of, billing_day, force, json).await
        }
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

// ------------------------------------------------------------------ billing

#[derive(Subcommand)]
enum BillingCmd {
    /// Invoice every customer whose billing day is DATE for the period
    /// starting on DATE (billing in advance). Safe to re-run: customers
    /// already invoiced for the period are skipped. Exits 1 if some
    /// customers could not be invoiced (listed on standard error).
    Run {
        /// Compute and report, write nothing.
        #[arg(long)]
        preview: bool,
        /// YYYY-MM-DD (default: today in the configured `timezone`).
        #[arg(long)]
        date: Option<String>,
        /// Print a JSON object instead of the summary line.
        #[arg(long)]
        json: bool,
        /// Invoice number series.
        #[arg(long, default_value = billing::run::DEFAULT_SERIES)]
        series: String,
        /// Payment terms: days from issue to due date.
        #[arg(long, default_value_t = billing::run::DEFAULT_TERMS_DAYS)]
        terms_days: u32,
        /// Invoices per transaction (each transaction holds the number counter).
        #[arg(long, default_value_t = billing::run::DEFAULT_BATCH as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_size: u64,
    },
    /// Service plans.
    Plan {
        #[command(subcommand)]
        cmd: BillingPlanCmd,
    },
    /// Tax classes (plans and charges are taxed by class).
    TaxClass {
        #[command(subcommand)]
        cmd: BillingTaxCmd,
    },
    /// Customers' billing accounts (billing day, currency, tax exemption).
    Account {
        #[command(subcommand)]
        cmd: BillingAccountCmd,
    },
    /// Subscribe a customer to a plan (by name or id); prints the subscription id.
    Subscribe {
        customer_id: i64,
        plan: String,
        /// First billed day, YYYY-MM-DD.
        #[arg(long)]
        start: String,
    },
    /// Move a subscription to another plan from a date (prorated).
    ChangePlan {
        subscription_id: i64,
        plan: String,
        /// First day on the new plan, YYYY-MM-DD.
        #[arg(long)]
        on: String,
    },
    /// Cancel a subscription: ON is the first day no longer billed.
    Cancel {
        subscription_id: i64,
        #[arg(long)]
        on: String,
    },
    /// Stop billing a customer (all subscriptions, or one) for a while.
    Hold {
        customer_id: i64,
        /// First day not billed.
        #[arg(long)]
        from: String,
        /// First day billed again (default: until further notice).
        #[arg(long)]
        to: Option<String>,
        /// vacation, seasonal or suspension.
        #[arg(long, default_value = "vacation")]
        kind: String,
        /// Only this subscription.
        #[arg(long)]
        subscription: Option<i64>,
    },
    /// Add a one-time charge, billed on the next invoice.
    Charge {
        customer_id: i64,
        /// In the account's currency, e.g. 99.00.
        amount: String,
        description: String,
        /// YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
        /// installation, equipment, fee, deposit or other.
        #[arg(long, default_value = "other")]
        kind: String,
        /// Tax class name or id (default: untaxed).
        #[arg(long)]
        tax_class: Option<String>,
    },
    /// Give a customer a discount: --percent 10 or --amount 5.00 per invoice.
    Discount {
        customer_id: i64,
        #[arg(long)]
        description: String,
        #[arg(long, conflicts_with = "amount")]
        percent: Option<String>,
        #[arg(long)]
        amount: Option<String>,
        /// Only this subscription's lines (default: all recurring lines).
        #[arg(long)]
        subscription: Option<i64>,
        /// First period start it applies to (default: today).
        #[arg(long)]
        from: Option<String>,
        /// Periods starting on or after this date no longer get it.
        #[arg(long)]
        to: Option<String>,
    },
    /// Record a payment received (a payment row and a ledger credit).
    Payment {
        customer_id: i64,
        /// In the account's currency, e.g. 45.00.
        amount: String,
        /// cash, check, bank, card or ach.
        #[arg(long)]
        method: String,
        #[arg(long)]
        reference: Option<String>,
        /// YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
    },
    /// A customer's balance (sum of the ledger) and its aging.
    Balance {
        customer_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// List invoices.
    /// Save a card or bank account (a provider token such as Stripe's
    /// `pm_...`) for the customer, and/or turn autopay on or off.
    Autopay {
        customer_id: i64,
        #[arg(long)]
        payment_method: Option<String>,
        #[arg(long, conflicts_with = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
    },
    /// Import a bank statement (CSV: date, amount, reference[, payer]) as
    /// payments matched by payment reference; nothing is imported if any
    /// row is malformed, and re-importing books nothing twice.
    ImportBank {
        file: std::path::PathBuf,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Dunning for DATE: reminders, late fees, suspension, reactivation
    /// once paid (each step once per invoice).
    DunningRun {
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Suspended customers for the network to enforce: `csv`, `mikrotik`
    /// (a RouterOS address-list script) or `json`.
    Suspended {
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Billing report for a month: MRR by plan and site, revenue, payments,
    /// receivables aging, churn.
    Report {
        /// `YYYY-MM`.
        #[arg(long)]
        month: String,
        /// MRR and aging as of this date (default: today).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// Charge every autopay customer with an invoice due on DATE (first
    /// attempts and due retries of declined ones).
    AutopayRun {
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Invoices {
        #[arg(long)]
        customer: Option<i64>,
        /// Only the period starting on this date.
        #[arg(long)]
        period_start: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BillingPlanCmd {
    /// Add a plan (price per monthly period, tax excluded).
    Add {
        name: String,
        /// e.g. 45.00
        #[arg(long)]
        price: String,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long)]
        down_kbps: u32,
        #[arg(long)]
        up_kbps: u32,
        /// Tax class name or id (default: untaxed).
        #[arg(long)]
        tax_class: Option<String>,
    },
    /// List plans.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BillingTaxCmd {
    /// Add a tax class; components stack, each on the line's net amount.
    Add {
        name: String,
        /// NAME:PERCENT, repeatable (e.g. --component "State tax:6.25").
        #[arg(long = "component")]
        components: Vec<String>,
        /// half-even, half-up, toward-zero or away-from-zero.
        #[arg(long, default_value = "half-even")]
        rounding: String,
    },
    /// List tax classes.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BillingAccountCmd {
    /// Create or change a customer's billing account.
    Set {
        customer_id: i64,
        /// 1-28: periods run from this day of one month to the next.
        #[arg(long)]
        billing_day: u8,
        #[arg(long)]
        tax_exempt: bool,
        /// ISO code (default: keep; new accounts USD).
        #[arg(long)]
        currency: Option<String>,
    },
    /// Show a customer's billing account.
    Show {
        customer_id: i64,
        #[arg(long)]
        json: bool,
    },
}

/// Today in the operator's time zone (config `timezone`).
fn today(cfg: &Config) -> anyhow::Result<jiff::civil::Date> {
    let tz = jiff::tz::TimeZone::get(&cfg.timezone).with_context(|| format!("time zone {:?}", cfg.timezone))?;
    Ok(jiff::Timestamp::now().to_zoned_datetime(tz).date())
}

fn date_or_today(cfg: &Config, field: &str, v: Option<&str>) -> anyhow::Result<jiff::civil::Date> {
    match v {
        Some(s) => Ok(billing::store::parse_date(field, s)?),
        None => today(cfg),
    }
}

/// A bar on standard error for long runs, only when it is a terminal.
fn progress_bar() -> Option<Box<dyn Fn(billing::run::Progress) + Send + Sync>> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Box::new(|p: billing::run::Progress| {
        if p.total < 2_000 {
            return;
        }
        const W: usize = 40;
        let filled = p.done * W / p.total.max(1);
        eprint!(
            "\r[{}{}] {}/{} invoices",
            "#".repeat(filled),
            ".".repeat(W - filled),
            billing::run::thousands(p.done as u64),
            billing::run::thousands(p.total as u64)
        );
        if p.done >= p.total {
            eprint!("\r{}\r", " ".repeat(W + 40));
        }
    }))
}

async fn account_currency(db: &Db, customer_id: i64) -> anyhow::Result<billing::money::Currency> {
    let acc = billing::store::account(db, customer_id).await?.ok_or_else(|| {
        anyhow::anyhow!("customer {customer_id} has no billing account (`billing account set` first)")
    })?;
    Ok(billing::store::currency(&acc.currency)?)
}

async fn billing_cmd(cmd: BillingCmd, cfg: &Config) -> anyhow::Result<()> {
    use billing::money::Money;
    use billing::run::{RunOptions, money_thousands, thousands};
    use billing::store;
    let cli = Actor::cli();
    let db = db(cfg).await?;
    match cmd {
        BillingCmd::Autopay { customer_id, payment_method, on, off } => {
            let provider = billing::autopay::provider(cfg)?;
            if let Some(pm) = payment_method {
                let p =
                    provider.as_deref().ok_or_else(|| anyhow::anyhow!("no payment provider: set stripe_secret_key"))?;
                let label = billing::autopay::save_method(&db, p, customer_id, &pm).await?;
                audit::record(&db, &cli, "billing.payment-method", &format!("customer {customer_id}"), &label).await?;
                println!("customer {customer_id}: {label} saved");
            }
            if on || off {
                billing::autopay::set_autopay(&db, customer_id, on).await?;
                let state = if on { "on" } else { "off" };
                audit::record(&db, &cli, "billing.autopay", &format!("customer {customer_id}"), state).await?;
                println!("customer {customer_id}: autopay {state}");
            }
        }
        BillingCmd::ImportBank { file, dry_run, json } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let rep = billing::bank::import(&db, &text, &cli.name, dry_run).await?;
            if !dry_run && rep.errors.is_empty() {
                let detail = format!(
                    "{} imported, {} duplicates, {} unmatched",
                    rep.imported,
                    rep.duplicates,
                    rep.unmatched.len()
                );
                audit::record(&db, &cli, "billing.import-bank", &file.display().to_string(), &detail).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                for e in &rep.errors {
                    eprintln!("line {}: {}", e.line, e.message);
                }
                for (line, r) in &rep.unmatched {
                    println!("line {line}: no customer's reference in {r:?}");
                }
                println!(
                    "{} payments imported, {} already imported, {} unmatched, {} outgoing ignored{}",
                    rep.imported,
                    rep.duplicates,
                    rep.unmatched.len(),
                    rep.ignored,
                    if dry_run { " (dry run)" } else { "" }
                );
            }
            anyhow::ensure!(rep.errors.is_empty(), "{} bad rows: nothing was imported", rep.errors.len());
        }
        BillingCmd::DunningRun { date, json } => {
            let date = date_or_today(cfg, "date", date.as_deref())?;
            let transports = mast_controller::notify_transports(cfg, &db)?;
            let sum = billing::collections::run(&db, &cfg.dunning(), transports.channels(), date).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sum)?);
            } else {
                println!(
                    "{} overdue invoices: {} reminders, {} late fees, {} suspended, {} reactivated",
                    sum.invoices_checked, sum.reminders, sum.fees, sum.suspended, sum.reactivated
                );
            }
        }
        BillingCmd::Suspended { format } => {
            let list = billing::collections::suspended(&db).await?;
            match format.as_str() {
                "csv" => print!("{}", billing::collections::suspended_csv(&list)),
                "mikrotik" => print!("{}", billing::collections::suspended_mikrotik(&list)),
                "json" => println!("{}", serde_json::to_string_pretty(&list)?),
                other => anyhow::bail!("format {other:?}: csv, mikrotik or json"),
            }
        }
        BillingCmd::Report { month, as_of, currency, json, csv } => {
            let as_of = date_or_today(cfg, "as-of", as_of.as_deref())?;
            let r = billing::reports::report(&db, &month, as_of, &currency.to_ascii_uppercase()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let text = billing::reports::csv(&r);
                if csv {
                    print!("{text}");
                } else {
                    for line in text.lines().skip(1) {
                        println!("{}", line.replacen(',', "  ", 2));
                    }
                }
            }
        }
        BillingCmd::AutopayRun { date, json } => {
            let date = date_or_today(cfg, "date", date.as_deref())?;
            let provider = billing::autopay::provider(cfg)?
                .ok_or_else(|| anyhow::anyhow!("no payment provider: set stripe_secret_key"))?;
            let results = billing::autopay::run(&db, provider.as_ref(), date).await?;
            if json {
                let list: Vec<_> =
                    results.iter().map(|(c, r)| serde_json::json!({"customer_id": c, "result": r})).collect();
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "results": list }))?);
            } else {
                for (c, r) in &results {
                    println!("customer {c}: {r:?}");
                }
                println!("{} autopay charges attempted", results.len());
            }
        }
        BillingCmd::Run { preview, date, json, series, terms_days, batch_size } => {
            let date = date_or_today(cfg, "date", date.as_deref())?;
            let started = std::time::Instant::now();
            let batch_size = batch_size as usize;
            let opts = RunOptions { preview, series, terms_days, batch_size, progress: progress_bar() };
            let s = billing::run::run(&db, date, &opts).await?;
            let elapsed = started.elapsed();
            let main = s.main_total();
            let date_s = billing::period::iso_date::format(date);
            if !preview {
                let detail = format!(
                    "{} invoices, {} already issued, {} errors",
                    s.invoices_issued,
                    s.already_issued,
                    s.errors.len()
                );
                audit::record(&db, &cli, "billing.run", &date_s, &detail).await?;
                // Email the new invoices (with their PDF) through the outbox
                // the running controller delivers.
                let transports = mast_controller::notify_transports(cfg, &db)?;
                billing::documents::queue_new_invoices(&db, transports.channels()).await?;
            }
            if json {
                let v = serde_json::json!({
                    "date": date_s,
                    "period_start": s.period.map(|p| billing::period::iso_date::format(p.start())),
                    "period_end": s.period.map(|p| billing::period::iso_date::format(p.end())),
                    "preview": s.preview,
                    "run_id": s.run_id,
                    "customers_due": s.customers_due,
                    "invoices_issued": s.invoices_issued,
                    "already_issued": s.already_issued,
                    "empty": s.empty,
                    "total_minor": main.map_or(0, |m| m.minor),
                    "currency": main.map(|m| m.currency.code().to_string()),
                    "totals": s.totals,
                    "errors": s.errors,
                    "first_number": s.first_number,
                    "last_number": s.last_number,
                    "elapsed_ms": elapsed.as_millis() as u64,
                    "timings": s.timings,
                });
                println!("{v}");
            } else {
                for e in s.errors.iter().take(50) {
                    eprintln!("customer {}: {}", e.customer_id, e.message);
                }
                if s.errors.len() > 50 {
                    eprintln!("... and {} more", s.errors.len() - 50);
                }
                let totals: Vec<String> = s
                    .totals
                    .iter()
                    .filter_map(|(c, m)| Some(money_thousands(Money::new(*m, store::currency(c).ok()?))))
                    .collect();
                let totalling =
                    if totals.is_empty() { String::new() } else { format!(" totalling {}", totals.join(" + ")) };
                let (verb, tail) = if preview { ("Preview: would issue", ", nothing written") } else { ("Issued", "") };
                let plural = if s.invoices_issued == 1 { "" } else { "s" };
                println!(
                    "{verb} {} invoice{plural}{totalling} for {date_s} ({} already issued, {} errors{tail}) in {:.2} s",
                    thousands(s.invoices_issued),
                    thousands(s.already_issued),
                    thousands(s.errors.len() as u64),
                    elapsed.as_secs_f64()
                );
            }
            anyhow::ensure!(s.errors.is_empty(), "{} customers could not be invoiced", s.errors.len());
        }
        BillingCmd::Plan { cmd: BillingPlanCmd::Add { name, price, currency, down_kbps, up_kbps, tax_class } } => {
            let cur = store::currency(&currency.to_ascii_uppercase())?;
            let price = Money::parse(&price, cur).map_err(|e| anyhow::anyhow!("price: {e}"))?;
            let tax_class_id = match tax_class {
                Some(t) => store::find_tax_class(&db, &t).await?,
                None => store::untaxed_class(&db).await?,
            };
            let p = store::add_plan(&db, &store::NewPlan { name, price, down_kbps, up_kbps, tax_class_id }).await?;
            audit::record(&db, &cli, "billing.plan.add", &p.name, &p.price).await?;
            println!("plan {} \"{}\" at {} ({} tax class)", p.id, p.name, p.price, p.tax_class);
        }
        BillingCmd::Plan { cmd: BillingPlanCmd::List { json } } => {
            let plans = store::plans(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plans)?);
            } else {
                for p in plans {
                    let speeds = format!("{}/{} kbit/s", p.down_kbps, p.up_kbps);
                    let state = if p.active { "" } else { " (not sold)" };
                    println!(
                        "{:>4}  {:<20} {:>14}  {:<22} {:<18} {:>6} subs{state}",
                        p.id, p.name, p.price, speeds, p.tax_class, p.subscriptions
                    );
                }
            }
        }
        BillingCmd::TaxClass { cmd: BillingTaxCmd::Add { name, components, rounding } } => {
            let rounding = store::parse_rounding(&rounding)
                .ok_or_else(|| anyhow::anyhow!("rounding: half-even, half-up, toward-zero or away-from-zero"))?;
            let comps = components.iter().map(|c| store::parse_tax_component(c)).collect::<Result<Vec<_>, _>>()?;
            let id = store::add_tax_class(&db, &name, &comps, rounding).await?;
            audit::record(&db, &cli, "billing.tax-class.add", &name, &format!("{} components", comps.len())).await?;
            println!("tax class {id} \"{name}\"");
        }
        BillingCmd::TaxClass { cmd: BillingTaxCmd::List { json } } => {
            let classes = store::tax_classes(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&classes)?);
            } else {
                for c in classes {
                    let comps: Vec<String> = c
                        .components
                        .iter()
                        .map(|x| format!("{} {}.{:02} %", x.name, x.rate_bp / 100, x.rate_bp % 100))
                        .collect();
                    println!("{:>4}  {:<20} {:<14} {}", c.id, c.name, c.rounding, comps.join(" + "));
                }
            }
        }
        BillingCmd::Account { cmd: BillingAccountCmd::Set { customer_id, billing_day, tax_exempt, currency } } => {
            let input = store::AccountInput { customer_id, billing_day, tax_exempt, currency, ..Default::default() };
            let a = store::set_account(&db, &input).await?;
            let detail = format!("billing day {}, {}, tax exempt {}", a.billing_day, a.currency, a.tax_exempt);
            audit::record(&db, &cli, "billing.account.set", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}, payment reference {}", a.payment_reference);
        }
        BillingCmd::Account { cmd: BillingAccountCmd::Show { customer_id, json } } => {
            let a = store::account(&db, customer_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("customer {customer_id} has no billing account"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                println!(
                    "customer {}: billing day {}, {}, tax exempt {}, autopay {}, payment reference {}",
                    a.customer_id, a.billing_day, a.currency, a.tax_exempt, a.autopay, a.payment_reference
                );
            }
        }
        BillingCmd::Subscribe { customer_id, plan, start } => {
            let p = store::find_plan(&db, &plan).await?;
            let start = store::parse_date("start", &start)?;
            let id = store::subscribe(&db, customer_id, p.id, start).await?;
            let detail = format!("subscription {id}: {} from {}", p.name, billing::period::iso_date::format(start));
            audit::record(&db, &cli, "billing.subscribe", &format!("customer {customer_id}"), &detail).await?;
            println!("{id}");
        }
        BillingCmd::ChangePlan { subscription_id, plan, on } => {
            let p = store::find_plan(&db, &plan).await?;
            let on = store::parse_date("on", &on)?;
            store::change_plan(&db, subscription_id, p.id, on).await?;
            let detail = format!("to {} on {}", p.name, billing::period::iso_date::format(on));
            audit::record(&db, &cli, "billing.change-plan", &format!("subscription {subscription_id}"), &detail)
                .await?;
            println!("subscription {subscription_id}: {detail}");
        }
        BillingCmd::Cancel { subscription_id, on } => {
            let on = store::parse_date("on", &on)?;
            store::cancel(&db, subscription_id, on).await?;
            let detail = format!("billed until {}", billing::period::iso_date::format(on));
            audit::record(&db, &cli, "billing.cancel", &format!("subscription {subscription_id}"), &detail).await?;
            println!("subscription {subscription_id}: cancelled, {detail} (exclusive)");
        }
        BillingCmd::Hold { customer_id, from, to, kind, subscription } => {
            let kind = store::parse_hold_kind(&kind)
                .ok_or_else(|| anyhow::anyhow!("kind: vacation, seasonal or suspension"))?;
            let start = store::parse_date("from", &from)?;
            let end = to.as_deref().map(|t| store::parse_date("to", t)).transpose()?;
            let h = store::HoldInput { customer_id, subscription_id: subscription, start, end, kind };
            let id = store::add_hold(&db, &h).await?;
            let detail =
                format!("hold {id}: {} from {from} to {}", store::hold_kind_name(kind), to.as_deref().unwrap_or("-"));
            audit::record(&db, &cli, "billing.hold", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}");
        }
        BillingCmd::Charge { customer_id, amount, description, date, kind, tax_class } => {
            let cur = account_currency(&db, customer_id).await?;
            let amount = Money::parse(&amount, cur).map_err(|e| anyhow::anyhow!("amount: {e}"))?;
            let kind = store::parse_charge_kind(&kind)
                .ok_or_else(|| anyhow::anyhow!("kind: installation, equipment, fee, deposit or other"))?;
            let tax_class_id = match tax_class {
                Some(t) => Some(store::find_tax_class(&db, &t).await?),
                None => None,
            };
            let date = date_or_today(cfg, "date", date.as_deref())?;
            let c = store::ChargeInput { customer_id, date, kind, description, amount, tax_class_id };
            let id = store::add_charge(&db, &c).await?;
            let detail = format!("charge {id}: {amount} {}", c.description.trim());
            audit::record(&db, &cli, "billing.charge", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}");
        }
        BillingCmd::Discount { customer_id, description, percent, amount, subscription, from, to } => {
            use billing::invoice::{DiscountTarget, DiscountValue};
            let value = match (percent, amount) {
                (Some(p), None) => {
                    let bp = Money::parse(p.trim().trim_end_matches('%'), billing::money::Currency::USD)
                        .map_err(|e| anyhow::anyhow!("percent: {e}"))?;
                    DiscountValue::PercentBp(u32::try_from(bp.minor).map_err(|_| anyhow::anyhow!("percent: 0-100"))?)
                }
                (None, Some(a)) => {
                    let cur = account_currency(&db, customer_id).await?;
                    DiscountValue::Fixed(Money::parse(&a, cur).map_err(|e| anyhow::anyhow!("amount: {e}"))?)
                }
                _ => anyhow::bail!("give --percent or --amount"),
            };
            let target = match subscription {
                Some(s) => DiscountTarget::Subscription(u64::try_from(s)?),
                None => DiscountTarget::AllRecurring,
            };
            let start = date_or_today(cfg, "from", from.as_deref())?;
            let end = to.as_deref().map(|t| store::parse_date("to", t)).transpose()?;
            let d = store::DiscountInput { customer_id, description, target, value, start, end };
            let id = store::add_discount(&db, &d).await?;
            let detail = format!("discount {id}: {}", d.description.trim());
            audit::record(&db, &cli, "billing.discount", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}");
        }
        BillingCmd::Payment { customer_id, amount, method, reference, date } => {
            let cur = account_currency(&db, customer_id).await?;
            let amount = Money::parse(&amount, cur).map_err(|e| anyhow::anyhow!("amount: {e}"))?;
            let date = date_or_today(cfg, "date", date.as_deref())?;
            let p = store::PaymentInput {
                customer_id,
                date,
                amount,
                method,
                reference,
                provider_payment_id: None,
                created_by: cli.name.clone(),
            };
            let r = store::record_payment(&db, &p).await?;
            let detail = format!("payment {}: {amount} by {}", r.id, p.method);
            audit::record(&db, &cli, "billing.payment", &format!("customer {customer_id}"), &detail).await?;
            let b = store::balance(&db, customer_id, date).await?;
            println!("customer {customer_id}: {detail}; balance {}", b.balance);
        }
        BillingCmd::Balance { customer_id, json } => {
            let b = store::balance(&db, customer_id, today(cfg)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                let a = &b.aging;
                let state = match b.balance_minor {
                    0 => "",
                    m if m > 0 => " owed",
                    _ => " in credit",
                };
                println!("customer {customer_id}: balance {}{state}", b.balance);
                println!(
                    "  current {}  1-30 {}  31-60 {}  61-90 {}  over 90 {}",
                    a.current.fmt_amount(),
                    a.days_1_30.fmt_amount(),
                    a.days_31_60.fmt_amount(),
                    a.days_61_90.fmt_amount(),
                    a.over_90.fmt_amount()
                );
            }
        }
        BillingCmd::Invoices { customer, period_start, limit, json } => {
            let period_start = period_start.as_deref().map(|p| store::parse_date("period start", p)).transpose()?;
            let f = store::InvoiceFilter { customer_id: customer, period_start, limit: Some(limit) };
            let list = store::invoices(&db, &f).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for i in list {
                    let total = store::currency(&i.currency)
                        .map(|c| Money::new(i.total_minor, c).to_string())
                        .unwrap_or_else(|_| i.total_minor.to_string());
                    println!(
                        "{}  customer {:>6}  {}..{}  {:>14}  due {}  {}",
                        i.number, i.customer_id, i.period_start, i.period_end, total, i.due_date, i.status
                    );
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn demo_data(
    cfg: &Config,
    customers: u32,
    seed: u64,
    as_of: Option<String>,
    billing_day: Option<u8>,
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let db = db(cfg).await?;
    let as_of = date_or_today(cfg, "as-of", as_of.as_deref())?;
    let opts = billing::demo::DemoOptions { customers, seed, as_of, billing_day, force };
    let s = billing::demo::load(&db, &opts).await?;
    let detail = format!("{} customers, seed {seed}", s.customers);
    audit::record(&db, &Actor::cli(), "demo-data.load", "customers", &detail).await?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        use billing::run::thousands;
        println!(
            "Loaded {} demo customers on {} sites ({} plans; {} plan changes, {} holds, {} cancelled, {} one-time \
             charges, {} discounts, {} late payers) in {:.2} s",
            thousands(s.customers),
            s.sites,
            s.plans,
            thousands(s.plan_changes),
            thousands(s.holds),
            thousands(s.cancelled),
            thousands(s.charges),
            thousands(s.discounts),
            thousands(s.late_payers),
            s.elapsed_ms as f64 / 1000.0
        );
    }
    Ok(())
}
