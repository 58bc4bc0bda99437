//! `mast-controller dispatch`: plan a day (from cron, the night before)
//! and list a day's work orders. The same code as the board's "plan the
//! day", audited the same way.

use super::{actor, date_or_today};
use clap::Subcommand;
use mast_controller::dispatch::jobs::{self, Filter};
use mast_controller::{App, audit};

#[derive(Subcommand)]
pub enum DispatchCmd {
    /// Plans a day: its scheduled jobs and every unscheduled one, for the
    /// technicians working that day (customers get their appointment).
    Plan {
        /// YYYY-MM-DD (default: today in the configured `timezone`).
        #[arg(long)]
        day: Option<String>,
    },
    /// A day's work orders by technician and order.
    Jobs {
        /// YYYY-MM-DD (default: today).
        #[arg(long)]
        day: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: DispatchCmd, app: &App) -> anyhow::Result<()> {
    match cmd {
        DispatchCmd::Plan { day } => {
            let day = date_or_today(app, "day", day.as_deref())?.to_string();
            let a = actor();
            let company = app.settings.billing.operator.name.clone();
            let p = mast_controller::dispatch_service::plan_day(
                &app.db,
                &app.settings.dispatch,
                app.channels(),
                &company,
                &day,
                &a.name,
            )
            .await?;
            let detail = format!("{} placed, {} left out, {} ms", p.plan.assigned(), p.plan.unassigned.len(), p.millis);
            audit::record(&app.db, &a, "dispatch.plan", &format!("day {day}"), &detail).await?;
            println!("{day}: {detail}; drive {} min in all", p.plan.drive_s() / 60);
            for (job, why) in &p.plan.unassigned {
                println!("  left out: work order #{job}: {}", why.as_str());
            }
            for name in &p.homeless {
                println!("  {name} has no start place: not planned");
            }
            if let Some(e) = &p.road_service {
                println!("  the road service failed ({e}): drive times are estimates");
            }
        }
        DispatchCmd::Jobs { day, json } => {
            let day = date_or_today(app, "day", day.as_deref())?.to_string();
            let list = jobs::list(&app.db, &Filter { day: Some(day), ..Filter::default() }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for j in &list {
                    println!(
                        "{:>6}  {:<14} {:<5} {:<12} {:<20} {}",
                        format!("#{}", j.id),
                        j.technician.as_deref().unwrap_or("-"),
                        j.planned_start_min.map(mast_controller::dispatch::hhmm).unwrap_or_default(),
                        j.status,
                        j.kind,
                        j.title
                    );
                }
            }
        }
    }
    Ok(())
}
