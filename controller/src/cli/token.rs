//! `mast-controller token`: API tokens (printed once, stored hashed).

use super::actor;
use clap::Subcommand;
use mast_controller::{App, audit};

#[derive(Subcommand)]
pub enum TokenCmd {
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

pub async fn run(cmd: TokenCmd, app: &App) -> anyhow::Result<()> {
    let cli = actor();
    match cmd {
        TokenCmd::Create { role, name } => {
            let db = app.db.clone();
            let token = mast_controller::auth::create_token(&db, &name, &role).await?;
            audit::record(&db, &cli, "token.create", &name, &format!("role {role}")).await?;
            println!("{token}");
            Ok(())
        }
        TokenCmd::List => {
            for t in mast_controller::auth::list_tokens(&app.db).await? {
                let state = if t.revoked_ms.is_some() { "revoked" } else { "active" };
                println!("{:>5}  {:<24} {:<11} {state}", t.id, t.name, t.role.as_str());
            }
            Ok(())
        }
        TokenCmd::Revoke { id } => {
            let db = app.db.clone();
            anyhow::ensure!(mast_controller::auth::revoke_token(&db, id).await?, "no active token {id}");
            audit::record(&db, &cli, "token.revoke", &format!("token {id}"), "").await?;
            println!("token {id} revoked");
            Ok(())
        }
    }
}
