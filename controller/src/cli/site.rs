//! `mast-controller site`: sites, their ping targets and probing (SNMP, discovery).

use super::actor;
use clap::Subcommand;
use mast_controller::{App, audit, monitoring};

#[derive(Subcommand)]
pub enum SiteCmd {
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
    /// Where a tower's backhaul comes from: the devices of other sites its
    /// link lands on (tower-to-tower links; several = redundant paths). A
    /// failure there is then one incident covering this site. Without
    /// options, prints them.
    Uplinks {
        name: String,
        /// Device ids (as on the device pages), comma-separated.
        #[arg(long, value_delimiter = ',', conflicts_with = "direct")]
        devices: Vec<i64>,
        /// The site reaches the controller directly (clears the uplinks).
        #[arg(long)]
        direct: bool,
    },
    /// List sites.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: SiteCmd, app: &App) -> anyhow::Result<()> {
    let cli = actor();
    match cmd {
        SiteCmd::Add { name, targets, interval, timeout_ms } => {
            let db = app.db.clone();
            let interval_ms = interval.map(|i| i as i64 * 1000).unwrap_or(app.settings.monitoring.default_interval_ms);
            let timeout_ms =
                timeout_ms.map(|t| t as i64).unwrap_or(app.settings.monitoring.default_timeout_ms.min(interval_ms - 1));
            let s = monitoring::add_site(&db, &name, &monitoring::parse_targets(&targets)?, interval_ms, timeout_ms)
                .await?;
            audit::record(&db, &cli, "site.add", &s.name, &format!("{} targets", s.targets.len())).await?;
            println!("site {} created with {} targets", s.name, s.targets.len());
            Ok(())
        }
        SiteCmd::Set { name, targets, interval, timeout_ms, lat, lon } => {
            let db = app.db.clone();
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
        SiteCmd::Probing {
            name,
            snmp_credentials,
            snmp_credentials_stdin,
            snmp_targets,
            subnets,
            snmp_interval,
            discovery_interval,
            ping_rate,
        } => {
            use monitoring::probing;
            let db = app.db.clone();
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
        SiteCmd::Uplinks { name, devices, direct } => {
            use monitoring::uplinks;
            let db = app.db.clone();
            let site =
                monitoring::site_by_name(&db, &name).await?.ok_or_else(|| anyhow::anyhow!("no site named {name:?}"))?;
            if direct || !devices.is_empty() {
                uplinks::set(&db, site.id, &devices).await?;
                let what = if direct {
                    "direct".to_string()
                } else {
                    devices.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                };
                audit::record(&db, &cli, "site.uplinks", &format!("site {}", site.id), &what).await?;
            }
            let up = uplinks::of_site(&db, site.id).await?;
            if up.is_empty() {
                println!("site {name} reaches the controller directly");
            }
            for u in up {
                println!("site {name} through device {} ({}) at {}", u.device_id, u.device_label, u.upstream_site_name);
            }
            Ok(())
        }
        SiteCmd::List { json } => {
            let sites = monitoring::list_sites(&app.db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sites)?);
            } else {
                for s in sites {
                    println!("{:<20} every {:>4} s  {} targets", s.name, s.interval_ms / 1000, s.targets.len());
                }
            }
            Ok(())
        }
    }
}
