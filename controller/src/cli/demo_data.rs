//! `mast-controller demo-data`: realistic demo customers, plans and billing history.

use super::{actor, date_or_today};
use mast_controller::{App, audit, billing};

#[allow(clippy::too_many_arguments)]
pub async fn run(
    app: &App,
    customers: u32,
    seed: u64,
    as_of: Option<String>,
    billing_day: Option<u8>,
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let db = app.db.clone();
    let as_of = date_or_today(app, "as-of", as_of.as_deref())?;
    let opts = billing::demo::DemoOptions { customers, seed, as_of, billing_day, force };
    let s = billing::demo::load(&db, &opts).await?;
    let detail = format!("{} customers, seed {seed}", s.customers);
    audit::record(&db, &actor(), "demo-data.load", "customers", &detail).await?;
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
