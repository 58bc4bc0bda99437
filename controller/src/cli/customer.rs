//! `mast-controller customer`: customers and the CPEs that serve them.

use super::{actor, read_password};
use clap::Subcommand;
use mast_controller::{App, audit, customers};

#[derive(Subcommand)]
pub enum CustomerCmd {
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

pub async fn run(cmd: CustomerCmd, app: &App) -> anyhow::Result<()> {
    let cli = actor();
    match cmd {
        CustomerCmd::Add { name, email, phone, address, lat, lon, status, site, notes, cpe, json } => {
            let db = app.db.clone();
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
        CustomerCmd::Link { id, mac } => {
            let db = app.db.clone();
            let mac = customers::link_cpe(&db, id, &mac).await?;
            audit::record(&db, &cli, "customer.link-cpe", &format!("customer {id}"), &mac).await?;
            println!("customer {id}: CPE {mac} linked");
            Ok(())
        }
        CustomerCmd::PortalPassword { id } => {
            let db = app.db.clone();
            let email = mast_controller::portal::enable(&db, id).await?;
            mast_controller::portal::set_password(&db, id, &read_password()?).await?;
            audit::record(&db, &cli, "portal.password", &format!("customer {id}"), &email).await?;
            println!("customer {id} signs in to the portal as {email}");
            Ok(())
        }
        CustomerCmd::List { search, json } => {
            let list = customers::search(&app.db, &search, 10_000, 0).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for c in &list {
                    println!("{:>6}  {:<30} {:<10} {}", c.id, c.name, c.status.as_str(), c.cpes.join(","));
                }
            }
            Ok(())
        }
    }
}
