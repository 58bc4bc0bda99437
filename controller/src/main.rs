//! `mast-controller`: serve, demo, and the admin CLI.

mod cli;

use clap::{Parser, Subcommand};
use mast_controller::App;
use mast_controller::config::Config;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "mast-controller",
    version = env!("MAST_VERSION"),
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
    /// Run a controller on SQLite with simulated towers: radios answering
    /// SNMP on loopback, one local agent per tower, demo customers on their
    /// CPEs, and a scripted outage.
    Demo {
        /// Towers (one agent each), 1-6.
        #[arg(long, default_value_t = 3)]
        agents: u32,
        /// Ping interval in seconds.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// SNMP poll interval in seconds (at least 5).
        #[arg(long, default_value_t = 10)]
        snmp_interval: u64,
        /// Seconds from the start to the first scripted outage.
        #[arg(long, default_value_t = 120)]
        outage_after: u64,
        /// Seconds between scripted outages (each on the next access point).
        #[arg(long, default_value_t = 900)]
        outage_every: u64,
        /// Seconds an access point stays silent; 0 turns the outages off.
        #[arg(long, default_value_t = 180)]
        outage_for: u64,
    },
    /// Billing: plans, accounts, subscriptions, payments and the invoice run.
    Billing {
        #[command(subcommand)]
        cmd: cli::billing::BillingCmd,
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
        cmd: cli::agent::AgentCmd,
    },
    /// Import customers, services, balances, CPEs and sites from UISP CRM,
    /// Splynx or any CSV (try --dry-run first; all or nothing; importing
    /// again updates instead of duplicating).
    Import(cli::import::ImportArgs),
    /// Export customers, services or devices as CSV.
    Export(cli::import::ExportArgs),
    /// Customers and the CPEs that serve them.
    Customer {
        #[command(subcommand)]
        cmd: cli::customer::CustomerCmd,
    },
    /// Planned maintenance windows (no incidents inside; customers told in advance).
    Maintenance {
        #[command(subcommand)]
        cmd: cli::maintenance::MaintenanceCmd,
    },
    /// Sites and their probe configuration.
    Site {
        #[command(subcommand)]
        cmd: cli::site::SiteCmd,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: cli::token::TokenCmd,
    },
    /// Signed agent releases and the keys trusted to sign them.
    Release {
        #[command(subcommand)]
        cmd: cli::release::ReleaseCmd,
    },
    /// Fleet upgrades: canaries, waves, automatic halts.
    Rollout {
        #[command(subcommand)]
        cmd: cli::rollout::RolloutCmd,
    },
    /// Copies the database (consistent while the controller runs) and the
    /// controller CA into a new directory, with a manifest and checksums.
    Backup {
        /// A new (or empty) directory.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Puts a backup back: the database and the controller CA (refused on
    /// SQLite while a controller runs on it; stop the controllers first).
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
        /// Yes, replace the database.
        #[arg(long)]
        yes: bool,
    },
    /// Checks this install (database, controller, ports, certificates,
    /// mail, disk, outbox) and says what to fix; exit status 1 on a failure.
    Doctor,
    /// Dispatch: plan a day, list a day's work orders.
    Dispatch {
        #[command(subcommand)]
        cmd: cli::dispatch::DispatchCmd,
    },
    /// Equipment inventory: catalogue, warehouses and vehicles, receiving,
    /// movements, reconciliation with the network, CSV, purchase orders.
    Stock {
        #[command(subcommand)]
        cmd: cli::stock::StockCmd,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        cmd: cli::user::UserCmd,
    },
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
    // Everything the controller writes (the database and its WAL, the CA,
    // run files) is private to its user.
    // SAFETY: umask(2) cannot fail and only changes this process's mask.
    unsafe {
        libc::umask(0o077);
    }
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

/// Runs this program again in place (same PID, arguments and environment):
/// an admin saved settings and asked for a restart. Returns only on failure.
fn restart() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    tracing::info!("restarting to apply the saved settings");
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let err = std::process::Command::new("/proc/self/exe").args(args).exec();
    anyhow::anyhow!("cannot restart: {err}")
}

/// The admin commands work on the database `serve` uses; on SQLite it must
/// exist already, so a command pointed at the wrong directory says so
/// instead of quietly starting an empty database there.
fn existing_database(cfg: &Config) -> anyhow::Result<()> {
    let url = cfg.database_url();
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else { return Ok(()) };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" || std::path::Path::new(path).exists() {
        return Ok(());
    }
    anyhow::bail!(
        "there is no Mast database at {path}. Run the command against the controller's data: --config FILE \
         (the one `serve` uses), MAST_DATA_DIR=DIR (the demo prints its data dir) or MAST_DATABASE_URL; \
         or start `mast-controller serve` with this data dir first"
    )
}

async fn run(cmd: Cmd, cfg: Config) -> anyhow::Result<()> {
    match cmd {
        Cmd::Serve => {
            mast_controller::serve(cfg, mast_controller::shutdown_signal(), None).await?;
            if mast_app::context::restart_requested() {
                return Err(restart());
            }
            return Ok(());
        }
        Cmd::Demo { agents, interval, snmp_interval, outage_after, outage_every, outage_for } => {
            let opts = mast_controller::demo::DemoOptions {
                towers: agents,
                interval_secs: interval,
                snmp_interval_secs: snmp_interval,
                outage_after_secs: outage_after,
                outage_every_secs: outage_every,
                outage_for_secs: outage_for,
            };
            return mast_controller::demo::run(cfg, opts).await;
        }
        Cmd::Release { cmd } if cmd.offline() => return cli::release::run_offline(cmd),
        Cmd::Restore { from, yes } => return cli::backup::restore(&cfg, &from, yes),
        _ => {}
    }
    existing_database(&cfg)?;
    let app = App::open(&cfg).await?;
    let result = match cmd {
        Cmd::Serve | Cmd::Demo { .. } | Cmd::Restore { .. } => unreachable!("handled above"),
        Cmd::Backup { to } => cli::backup::backup(&cfg, &app.db, &to).await,
        Cmd::Doctor => match cli::doctor::run(&app).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow::anyhow!("doctor: some checks failed (FAIL above)")),
            Err(e) => Err(e),
        },
        Cmd::Billing { cmd } => cli::billing::run(cmd, &app).await,
        Cmd::DemoData { customers, seed, as_of, billing_day, force, json } => {
            cli::demo_data::run(&app, customers, seed, as_of, billing_day, force, json).await
        }
        Cmd::Agent { cmd } => cli::agent::run(cmd, &app).await,
        Cmd::Customer { cmd } => cli::customer::run(cmd, &app).await,
        Cmd::Import(a) => cli::import::run_import(a, &app).await,
        Cmd::Export(a) => cli::import::run_export(a, &app).await,
        Cmd::Maintenance { cmd } => cli::maintenance::run(cmd, &app).await,
        Cmd::Site { cmd } => cli::site::run(cmd, &app).await,
        Cmd::Token { cmd } => cli::token::run(cmd, &app).await,
        Cmd::Release { cmd } => cli::release::run(cmd, &app).await,
        Cmd::Rollout { cmd } => cli::rollout::run(cmd, &app).await,
        Cmd::Stock { cmd } => cli::stock::run(cmd, &app).await,
        Cmd::Dispatch { cmd } => cli::dispatch::run(cmd, &app).await,
        Cmd::User { cmd } => cli::user::run(cmd, &app).await,
    };
    app.db.pool.close().await;
    result
}
