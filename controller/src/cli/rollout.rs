//! `mast-controller rollout`: take the agents to a stored release version,
//! canaries first (one or more per hardware group), then waves; halted
//! automatically when a canary rolls back or too many agents fail.

use super::actor;
use clap::Subcommand;
use mast_controller::App;
use mast_controller::rollouts::{self, Control, StartArgs};

#[derive(Subcommand)]
pub enum RolloutCmd {
    /// Start a rollout of a stored release version (`release add`).
    Start {
        #[arg(long)]
        version: String,
        /// Canary agents per hardware group (target), upgraded first.
        #[arg(long, default_value_t = 1)]
        canary: usize,
        /// Cumulative shares of the other agents per wave, percent.
        #[arg(long, default_value = "10,50,100")]
        waves: String,
        /// Only agents at these sites (repeat or comma-separate; default all).
        #[arg(long, value_delimiter = ',')]
        sites: Vec<String>,
        /// Offer upgrades only in this daily window, the operator's time zone
        /// (e.g. 02:00-05:00; may wrap past midnight).
        #[arg(long)]
        window: Option<String>,
        /// Seconds a new binary has to prove itself healthy before it is rolled back.
        #[arg(long, default_value_t = 300)]
        trial_secs: u32,
        /// Halt when more than this share of the finished agents failed
        /// (default: `[agents] rollout_max_failure_pct`).
        #[arg(long)]
        max_failure_pct: Option<u8>,
    },
    /// The active (or latest, or given) rollout with each agent's state.
    Status {
        #[arg(long)]
        id: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Stop offering the release (agents already offered finish).
    Pause,
    /// Continue a paused or halted rollout.
    Resume,
    /// End the rollout; agents not offered yet stay on their version.
    Abort,
}

pub async fn run(cmd: RolloutCmd, app: &App) -> anyhow::Result<()> {
    let by = actor();
    match cmd {
        RolloutCmd::Start { version, canary, waves, sites, window, trial_secs, max_failure_pct } => {
            let args = StartArgs {
                version,
                canary,
                waves: rollouts::parse_waves(&waves)?,
                sites,
                window,
                trial_secs,
                max_failure_pct: max_failure_pct.unwrap_or(app.settings.agents.rollout_max_failure_pct),
            };
            let r = rollouts::start(&app.db, &args, &by).await?;
            let st = rollouts::status(&app.db, Some(r.id)).await?.expect("just created");
            println!(
                "rollout {} of {} started: {} agents in {} stages ({} skipped)",
                r.id,
                r.version,
                st.agents.iter().filter(|a| a.stage >= 0).count(),
                st.stages,
                st.counts.get("skipped").copied().unwrap_or(0)
            );
            Ok(())
        }
        RolloutCmd::Status { id, json } => {
            let Some(st) = rollouts::status(&app.db, id).await? else {
                anyhow::bail!("no rollout yet (mast-controller rollout start --version V)");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
                return Ok(());
            }
            println!(
                "rollout {} of {}: {} (stage {} of {}){}",
                st.id,
                st.version,
                st.state,
                st.stage + 1,
                st.stages,
                st.why.as_deref().map(|w| format!(": {w}")).unwrap_or_default()
            );
            for a in &st.agents {
                let stage = if a.stage < 0 {
                    "-".to_string()
                } else if a.stage == 0 {
                    "canary".to_string()
                } else {
                    format!("wave {}", a.stage)
                };
                println!(
                    "  agent {:>5}  {:<8} {:<12} {:<14} {:<10} {}{}",
                    a.agent_id,
                    stage,
                    a.state,
                    a.site,
                    a.version.as_deref().unwrap_or("-"),
                    if a.connected { "connected" } else { "offline" },
                    a.reason.as_deref().map(|r| format!("  ({r})")).unwrap_or_default()
                );
            }
            Ok(())
        }
        RolloutCmd::Pause | RolloutCmd::Resume | RolloutCmd::Abort => {
            let what = match cmd {
                RolloutCmd::Pause => Control::Pause,
                RolloutCmd::Resume => Control::Resume,
                _ => Control::Abort,
            };
            let r = rollouts::control(&app.db, what, &by).await?;
            println!("rollout {} of {}: {}", r.id, r.version, r.state);
            Ok(())
        }
    }
}
