//! `mast-controller agent`: enrollment tokens, revocation, listing.

use super::actor;
use clap::Subcommand;
use mast_controller::{App, audit, fleet};

#[derive(Subcommand)]
pub enum AgentCmd {
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

pub async fn run(cmd: AgentCmd, app: &App) -> anyhow::Result<()> {
    let cli = actor();
    match cmd {
        AgentCmd::Add { site, json } => {
            let (db, pki) = (app.db.clone(), app.pki.clone());
            let (id, token) = fleet::add_agent(&db, &site, app.settings.agents.enroll_token_ttl).await?;
            audit::record(&db, &cli, "agent.enroll", &format!("agent {id}"), &format!("site {site}")).await?;
            let fp = pki.ca_fingerprint();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"agent_id": id, "site": site, "token": token, "ca_fingerprint": fp, "expires_in_secs": app.settings.agents.enroll_token_ttl.as_secs()})
                );
            } else {
                println!(
                    "agent {id} for site {site}: token valid for {} s, single use",
                    app.settings.agents.enroll_token_ttl.as_secs()
                );
                println!("token:          {token}");
                println!("ca fingerprint: {fp}");
                println!(
                    "on the tower:   mast-agent enroll --controller HOST:{} --token {token} --ca-fingerprint {fp} --state-dir /var/lib/mast-agent",
                    app.settings.agents.listen.port()
                );
            }
            Ok(())
        }
        AgentCmd::Revoke { id } => {
            let db = app.db.clone();
            anyhow::ensure!(fleet::revoke(&db, id).await?, "no active or pending agent {id}");
            audit::record(&db, &cli, "agent.revoke", &format!("agent {id}"), "").await?;
            println!("agent {id} revoked");
            Ok(())
        }
        AgentCmd::List { json } => {
            let agents = fleet::list_agents(&app.db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&agents)?);
            } else {
                for a in agents {
                    let state = if a.connected { "connected" } else { "offline" };
                    println!(
                        "{:>5}  {:<20} {:<8} {:<10} {}",
                        a.id,
                        a.site,
                        a.status.as_str(),
                        state,
                        a.version.unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
    }
}
