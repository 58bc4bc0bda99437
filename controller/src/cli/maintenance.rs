//! `mast-controller maintenance`: planned maintenance windows.

use super::actor;
use clap::Subcommand;
use mast_controller::{App, audit};

#[derive(Subcommand)]
pub enum MaintenanceCmd {
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

pub async fn run(cmd: MaintenanceCmd, app: &App) -> anyhow::Result<()> {
    let cli = actor();
    match cmd {
        MaintenanceCmd::Add { site, device, start, duration, recurrence, until, notice_hours, reason } => {
            let db = app.db.clone();
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
            let w =
                mast_controller::monitoring::windows::create(&db, &input, &app.settings.timezone, &cli.name).await?;
            audit::record(&db, &cli, "maintenance.plan", &format!("maintenance {}", w.window.id), &w.description)
                .await?;
            println!("maintenance {}: {} ({})", w.window.id, w.description, w.scope_name);
            Ok(())
        }
        MaintenanceCmd::List { json } => {
            let list = mast_controller::monitoring::windows::list(&app.db, false).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for w in &list {
                    println!("{:>4}  {:<20} {}  {}", w.window.id, w.scope_name, w.description, w.reason);
                }
            }
            Ok(())
        }
        MaintenanceCmd::Cancel { id } => {
            let db = app.db.clone();
            if mast_controller::monitoring::windows::cancel(&db, id).await? {
                audit::record(&db, &cli, "maintenance.cancel", &format!("maintenance {id}"), "").await?;
                println!("maintenance {id} cancelled");
                Ok(())
            } else {
                anyhow::bail!("no planned maintenance {id}")
            }
        }
    }
}
