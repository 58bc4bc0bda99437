//! `mast-controller user`: staff accounts.

use super::{actor, read_password};
use clap::Subcommand;
use mast_controller::{App, audit, staff};

#[derive(Subcommand)]
pub enum UserCmd {
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

pub async fn run(cmd: UserCmd, app: &App) -> anyhow::Result<()> {
    let cli = actor();
    let db = app.db.clone();
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

async fn user_id(db: &mast_controller::db::Db, email: &str) -> anyhow::Result<i64> {
    Ok(staff::user_by_email(db, email).await?.ok_or_else(|| anyhow::anyhow!("no user {email}"))?.id)
}
