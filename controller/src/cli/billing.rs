//! `mast-controller billing`: plans, tax classes, accounts, subscriptions, holds, charges, discounts,
//! payments, bank imports, autopay, the invoice run, dunning and reports.

use super::{actor, date_or_today, today};
use anyhow::Context;
use clap::Subcommand;
use mast_controller::db::Db;
use mast_controller::{App, audit, billing};

#[derive(Subcommand)]
pub enum BillingCmd {
    /// Invoice every customer whose billing day is DATE for the period
    /// starting on DATE (billing in advance). Safe to re-run: customers
    /// already invoiced for the period are skipped. Exits 1 if some
    /// customers could not be invoiced (listed on standard error).
    Run {
        /// Compute and report, write nothing.
        #[arg(long)]
        preview: bool,
        /// YYYY-MM-DD (default: today in the configured `timezone`).
        #[arg(long)]
        date: Option<String>,
        /// Print a JSON object instead of the summary line.
        #[arg(long)]
        json: bool,
        /// Invoice number series.
        #[arg(long, default_value = billing::run::DEFAULT_SERIES)]
        series: String,
        /// Payment terms: days from issue to due date.
        #[arg(long, default_value_t = billing::run::DEFAULT_TERMS_DAYS)]
        terms_days: u32,
        /// Invoices per transaction (each transaction holds the number counter).
        #[arg(long, default_value_t = billing::run::DEFAULT_BATCH as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_size: u64,
    },
    /// Service plans.
    Plan {
        #[command(subcommand)]
        cmd: BillingPlanCmd,
    },
    /// Tax classes (plans and charges are taxed by class).
    TaxClass {
        #[command(subcommand)]
        cmd: BillingTaxCmd,
    },
    /// Customers' billing accounts (billing day, currency, tax exemption).
    Account {
        #[command(subcommand)]
        cmd: BillingAccountCmd,
    },
    /// Subscribe a customer to a plan (by name or id); prints the subscription id.
    Subscribe {
        customer_id: i64,
        plan: String,
        /// First billed day, YYYY-MM-DD.
        #[arg(long)]
        start: String,
    },
    /// Move a subscription to another plan from a date (prorated).
    ChangePlan {
        subscription_id: i64,
        plan: String,
        /// First day on the new plan, YYYY-MM-DD.
        #[arg(long)]
        on: String,
    },
    /// Cancel a subscription: ON is the first day no longer billed.
    Cancel {
        subscription_id: i64,
        #[arg(long)]
        on: String,
    },
    /// Stop billing a customer (all subscriptions, or one) for a while.
    Hold {
        customer_id: i64,
        /// First day not billed.
        #[arg(long)]
        from: String,
        /// First day billed again (default: until further notice).
        #[arg(long)]
        to: Option<String>,
        /// vacation, seasonal or suspension.
        #[arg(long, default_value = "vacation")]
        kind: String,
        /// Only this subscription.
        #[arg(long)]
        subscription: Option<i64>,
    },
    /// Add a one-time charge, billed on the next invoice.
    Charge {
        customer_id: i64,
        /// In the account's currency, e.g. 99.00.
        amount: String,
        description: String,
        /// YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
        /// installation, equipment, fee, deposit or other.
        #[arg(long, default_value = "other")]
        kind: String,
        /// Tax class name or id (default: untaxed).
        #[arg(long)]
        tax_class: Option<String>,
    },
    /// Give a customer a discount: --percent 10 or --amount 5.00 per invoice.
    Discount {
        customer_id: i64,
        #[arg(long)]
        description: String,
        #[arg(long, conflicts_with = "amount")]
        percent: Option<String>,
        #[arg(long)]
        amount: Option<String>,
        /// Only this subscription's lines (default: all recurring lines).
        #[arg(long)]
        subscription: Option<i64>,
        /// First period start it applies to (default: today).
        #[arg(long)]
        from: Option<String>,
        /// Periods starting on or after this date no longer get it.
        #[arg(long)]
        to: Option<String>,
    },
    /// Record a payment received (a payment row and a ledger credit).
    Payment {
        customer_id: i64,
        /// In the account's currency, e.g. 45.00.
        amount: String,
        /// cash, check, bank, card or ach.
        #[arg(long)]
        method: String,
        #[arg(long)]
        reference: Option<String>,
        /// YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
    },
    /// A customer's balance (sum of the ledger) and its aging.
    Balance {
        customer_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// List invoices.
    /// Save a card or bank account (a provider token such as Stripe's
    /// `pm_...`) for the customer, and/or turn autopay on or off.
    Autopay {
        customer_id: i64,
        #[arg(long)]
        payment_method: Option<String>,
        #[arg(long, conflicts_with = "off")]
        on: bool,
        #[arg(long)]
        off: bool,
    },
    /// Import a bank statement (CSV: date, amount, reference[, payer]) as
    /// payments matched by payment reference; nothing is imported if any
    /// row is malformed, and re-importing books nothing twice.
    ImportBank {
        file: std::path::PathBuf,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Dunning for DATE: reminders, late fees, suspension, reactivation
    /// once paid (each step once per invoice).
    DunningRun {
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Suspended customers for the network to enforce: `csv`, `mikrotik`
    /// (a RouterOS address-list script) or `json`.
    Suspended {
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Billing report for a month: MRR by plan and site, revenue, payments,
    /// receivables aging, churn.
    Report {
        /// `YYYY-MM`.
        #[arg(long)]
        month: String,
        /// MRR and aging as of this date (default: today).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// Charge every autopay customer with an invoice due on DATE (first
    /// attempts and due retries of declined ones).
    AutopayRun {
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Invoices {
        #[arg(long)]
        customer: Option<i64>,
        /// Only the period starting on this date.
        #[arg(long)]
        period_start: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum BillingPlanCmd {
    /// Add a plan (price per monthly period, tax excluded).
    Add {
        name: String,
        /// e.g. 45.00
        #[arg(long)]
        price: String,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long)]
        down_kbps: u32,
        #[arg(long)]
        up_kbps: u32,
        /// Tax class name or id (default: untaxed).
        #[arg(long)]
        tax_class: Option<String>,
        /// Monthly data cap in GB (default: unlimited).
        #[arg(long)]
        data_cap_gb: Option<u32>,
        /// Charged once at subscription, e.g. 99.00 (default: none).
        #[arg(long)]
        setup_fee: Option<String>,
    },
    /// List plans.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum BillingTaxCmd {
    /// Add a tax class; components stack, each on the line's net amount.
    Add {
        name: String,
        /// NAME:PERCENT, repeatable (e.g. --component "State tax:6.25").
        #[arg(long = "component")]
        components: Vec<String>,
        /// half-even, half-up, toward-zero or away-from-zero.
        #[arg(long, default_value = "half-even")]
        rounding: String,
    },
    /// List tax classes.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum BillingAccountCmd {
    /// Create or change a customer's billing account.
    Set {
        customer_id: i64,
        /// 1-28: periods run from this day of one month to the next.
        #[arg(long)]
        billing_day: u8,
        #[arg(long)]
        tax_exempt: bool,
        /// ISO code (default: keep; new accounts USD).
        #[arg(long)]
        currency: Option<String>,
    },
    /// Show a customer's billing account.
    Show {
        customer_id: i64,
        #[arg(long)]
        json: bool,
    },
}

/// A bar on standard error for long runs, only when it is a terminal.
fn progress_bar() -> Option<Box<dyn Fn(billing::run::Progress) + Send + Sync>> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Box::new(|p: billing::run::Progress| {
        if p.total < 2_000 {
            return;
        }
        const W: usize = 40;
        let filled = p.done * W / p.total.max(1);
        eprint!(
            "\r[{}{}] {}/{} invoices",
            "#".repeat(filled),
            ".".repeat(W - filled),
            billing::run::thousands(p.done as u64),
            billing::run::thousands(p.total as u64)
        );
        if p.done >= p.total {
            eprint!("\r{}\r", " ".repeat(W + 40));
        }
    }))
}

async fn account_currency(db: &Db, customer_id: i64) -> anyhow::Result<billing::money::Currency> {
    let acc = billing::store::account(db, customer_id).await?.ok_or_else(|| {
        anyhow::anyhow!("customer {customer_id} has no billing account (`billing account set` first)")
    })?;
    Ok(billing::store::currency(&acc.currency)?)
}

pub async fn run(cmd: BillingCmd, app: &App) -> anyhow::Result<()> {
    use billing::money::Money;
    use billing::run::{RunOptions, money_thousands, thousands};
    use billing::store;
    let cli = actor();
    let db = app.db.clone();
    match cmd {
        BillingCmd::Autopay { customer_id, payment_method, on, off } => {
            let provider = app.payments.clone();
            if let Some(pm) = payment_method {
                let p =
                    provider.as_deref().ok_or_else(|| anyhow::anyhow!("no payment provider: set stripe_secret_key"))?;
                let label = billing::autopay::save_method(&db, p, customer_id, &pm).await?;
                audit::record(&db, &cli, "billing.payment-method", &format!("customer {customer_id}"), &label).await?;
                println!("customer {customer_id}: {label} saved");
            }
            if on || off {
                billing::autopay::set_autopay(&db, customer_id, on).await?;
                let state = if on { "on" } else { "off" };
                audit::record(&db, &cli, "billing.autopay", &format!("customer {customer_id}"), state).await?;
                println!("customer {customer_id}: autopay {state}");
            }
        }
        BillingCmd::ImportBank { file, dry_run, json } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let rep = billing::bank::import(&db, &text, &cli.name, dry_run, &app.settings.billing.limits).await?;
            if !dry_run && rep.errors.is_empty() {
                let detail = format!(
                    "{} imported, {} duplicates, {} unmatched",
                    rep.imported,
                    rep.duplicates,
                    rep.unmatched.len()
                );
                audit::record(&db, &cli, "billing.import-bank", &file.display().to_string(), &detail).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                for e in &rep.errors {
                    eprintln!("line {}: {}", e.line, e.message);
                }
                for (line, r) in &rep.unmatched {
                    println!("line {line}: no customer's reference in {r:?}");
                }
                println!(
                    "{} payments imported, {} already imported, {} unmatched, {} outgoing ignored{}",
                    rep.imported,
                    rep.duplicates,
                    rep.unmatched.len(),
                    rep.ignored,
                    if dry_run { " (dry run)" } else { "" }
                );
            }
            anyhow::ensure!(rep.errors.is_empty(), "{} bad rows: nothing was imported", rep.errors.len());
        }
        BillingCmd::DunningRun { date, json } => {
            let date = date_or_today(app, "date", date.as_deref())?;
            let transports = app.transports.clone();
            let sum =
                billing::collections::run(&db, &app.settings.billing.dunning, transports.channels(), date).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sum)?);
            } else {
                println!(
                    "{} overdue invoices: {} reminders, {} late fees, {} suspended, {} reactivated",
                    sum.invoices_checked, sum.reminders, sum.fees, sum.suspended, sum.reactivated
                );
            }
        }
        BillingCmd::Suspended { format } => {
            let list = billing::collections::suspended(&db).await?;
            match format.as_str() {
                "csv" => print!("{}", billing::collections::suspended_csv(&list)),
                "mikrotik" => print!("{}", billing::collections::suspended_mikrotik(&list)),
                "json" => println!("{}", serde_json::to_string_pretty(&list)?),
                other => anyhow::bail!("format {other:?}: csv, mikrotik or json"),
            }
        }
        BillingCmd::Report { month, as_of, currency, json, csv } => {
            let as_of = date_or_today(app, "as-of", as_of.as_deref())?;
            let r = billing::reports::report(&db, &month, as_of, &currency.to_ascii_uppercase()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let text = billing::reports::csv(&r);
                if csv {
                    print!("{text}");
                } else {
                    for line in text.lines().skip(1) {
                        println!("{}", line.replacen(',', "  ", 2));
                    }
                }
            }
        }
        BillingCmd::AutopayRun { date, json } => {
            let date = date_or_today(app, "date", date.as_deref())?;
            let provider =
                app.payments.clone().ok_or_else(|| anyhow::anyhow!("no payment provider: set stripe_secret_key"))?;
            let results = billing::autopay::run(&db, provider.as_ref(), date).await?;
            if json {
                let list: Vec<_> =
                    results.iter().map(|(c, r)| serde_json::json!({"customer_id": c, "result": r})).collect();
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "results": list }))?);
            } else {
                for (c, r) in &results {
                    println!("customer {c}: {r:?}");
                }
                println!("{} autopay charges attempted", results.len());
            }
        }
        BillingCmd::Run { preview, date, json, series, terms_days, batch_size } => {
            let date = date_or_today(app, "date", date.as_deref())?;
            let started = std::time::Instant::now();
            let batch_size = batch_size as usize;
            // SIGTERM or Ctrl-C stops the run at the next batch boundary:
            // every stored batch is whole, and running again completes it.
            let shutdown = app.shutdown.clone();
            let on_signal = shutdown.clone();
            let watcher = tokio::spawn(async move {
                mast_controller::shutdown_signal().await;
                eprintln!("stopping at the next batch boundary...");
                on_signal.trigger();
            });
            let stop = Some(Box::new(move || shutdown.is_triggered()) as Box<dyn Fn() -> bool + Send + Sync>);
            let opts =
                RunOptions { preview, series, terms_days, batch_size, progress: progress_bar(), stop, on_start: None };
            let s = billing::run::run(&db, date, &opts).await?;
            watcher.abort();
            let elapsed = started.elapsed();
            let main = s.main_total();
            let date_s = billing::period::iso_date::format(date);
            if !preview {
                let detail = format!(
                    "{} invoices, {} already issued, {} errors",
                    s.invoices_issued,
                    s.already_issued,
                    s.errors.len()
                );
                audit::record(&db, &cli, "billing.run", &date_s, &detail).await?;
                // Email the new invoices (with their PDF) through the outbox
                // the running controller delivers.
                let transports = app.transports.clone();
                billing::documents::queue_new_invoices(&db, transports.channels()).await?;
            }
            if json {
                let v = serde_json::json!({
                    "date": date_s,
                    "period_start": s.period.map(|p| billing::period::iso_date::format(p.start())),
                    "period_end": s.period.map(|p| billing::period::iso_date::format(p.end())),
                    "preview": s.preview,
                    "run_id": s.run_id,
                    "customers_due": s.customers_due,
                    "invoices_issued": s.invoices_issued,
                    "already_issued": s.already_issued,
                    "empty": s.empty,
                    "total_minor": main.map_or(0, |m| m.minor),
                    "currency": main.map(|m| m.currency.code().to_string()),
                    "totals": s.totals,
                    "errors": s.errors,
                    "first_number": s.first_number,
                    "last_number": s.last_number,
                    "elapsed_ms": elapsed.as_millis() as u64,
                    "timings": s.timings,
                    "stopped": s.stopped,
                });
                println!("{v}");
            } else {
                for e in s.errors.iter().take(50) {
                    eprintln!("customer {}: {}", e.customer_id, e.message);
                }
                if s.errors.len() > 50 {
                    eprintln!("... and {} more", s.errors.len() - 50);
                }
                let totals: Vec<String> = s
                    .totals
                    .iter()
                    .filter_map(|(c, m)| Some(money_thousands(Money::new(*m, store::currency(c).ok()?))))
                    .collect();
                let totalling =
                    if totals.is_empty() { String::new() } else { format!(" totalling {}", totals.join(" + ")) };
                let (verb, tail) = if preview { ("Preview: would issue", ", nothing written") } else { ("Issued", "") };
                let plural = if s.invoices_issued == 1 { "" } else { "s" };
                println!(
                    "{verb} {} invoice{plural}{totalling} for {date_s} ({} already issued, {} errors{tail}) in {:.2} s",
                    thousands(s.invoices_issued),
                    thousands(s.already_issued),
                    thousands(s.errors.len() as u64),
                    elapsed.as_secs_f64()
                );
            }
            anyhow::ensure!(s.errors.is_empty(), "{} customers could not be invoiced", s.errors.len());
            anyhow::ensure!(!s.stopped, "stopped by a signal at a batch boundary; run it again to finish");
        }
        BillingCmd::Plan {
            cmd: BillingPlanCmd::Add { name, price, currency, down_kbps, up_kbps, tax_class, data_cap_gb, setup_fee },
        } => {
            let cur = store::currency(&currency.to_ascii_uppercase())?;
            let price = Money::parse(&price, cur).map_err(|e| anyhow::anyhow!("price: {e}"))?;
            let tax_class_id = match tax_class {
                Some(t) => store::find_tax_class(&db, &t).await?,
                None => store::untaxed_class(&db).await?,
            };
            let setup_fee_minor = match setup_fee {
                Some(f) => Money::parse(&f, cur).map_err(|e| anyhow::anyhow!("setup fee: {e}"))?.minor,
                None => 0,
            };
            let plan = store::NewPlan {
                data_cap_gb,
                setup_fee_minor,
                ..store::NewPlan::new(&name, price, down_kbps, up_kbps, tax_class_id)
            };
            let p = store::add_plan(&db, &plan).await?;
            audit::record(&db, &cli, "billing.plan.add", &p.name, &p.price).await?;
            println!("plan {} \"{}\" at {} ({} tax class)", p.id, p.name, p.price, p.tax_class);
        }
        BillingCmd::Plan { cmd: BillingPlanCmd::List { json } } => {
            let plans = store::plans(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plans)?);
            } else {
                for p in plans {
                    let speeds = format!("{}/{} kbit/s", p.down_kbps, p.up_kbps);
                    let state = if p.active { "" } else { " (not sold)" };
                    println!(
                        "{:>4}  {:<20} {:>14}  {:<22} {:<18} {:>6} subs{state}",
                        p.id, p.name, p.price, speeds, p.tax_class, p.subscriptions
                    );
                }
            }
        }
        BillingCmd::TaxClass { cmd: BillingTaxCmd::Add { name, components, rounding } } => {
            let rounding = store::Rounding::parse(&rounding)?.into();
            let comps = components.iter().map(|c| store::parse_tax_component(c)).collect::<Result<Vec<_>, _>>()?;
            let id = store::add_tax_class(&db, &name, &comps, rounding).await?;
            audit::record(&db, &cli, "billing.tax-class.add", &name, &format!("{} components", comps.len())).await?;
            println!("tax class {id} \"{name}\"");
        }
        BillingCmd::TaxClass { cmd: BillingTaxCmd::List { json } } => {
            let classes = store::tax_classes(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&classes)?);
            } else {
                for c in classes {
                    let comps: Vec<String> = c
                        .components
                        .iter()
                        .map(|x| format!("{} {}.{:02} %", x.name, x.rate_bp / 100, x.rate_bp % 100))
                        .collect();
                    println!("{:>4}  {:<20} {:<14} {}", c.id, c.name, c.rounding.as_str(), comps.join(" + "));
                }
            }
        }
        BillingCmd::Account { cmd: BillingAccountCmd::Set { customer_id, billing_day, tax_exempt, currency } } => {
            let input = store::AccountInput { customer_id, billing_day, tax_exempt, currency, ..Default::default() };
            let a = store::set_account(&db, &input).await?;
            let detail = format!("billing day {}, {}, tax exempt {}", a.billing_day, a.currency, a.tax_exempt);
            audit::record(&db, &cli, "billing.account.set", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}, payment reference {}", a.payment_reference);
        }
        BillingCmd::Account { cmd: BillingAccountCmd::Show { customer_id, json } } => {
            let a = store::account(&db, customer_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("customer {customer_id} has no billing account"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                println!(
                    "customer {}: billing day {}, {}, tax exempt {}, autopay {}, payment reference {}",
                    a.customer_id, a.billing_day, a.currency, a.tax_exempt, a.autopay, a.payment_reference
                );
            }
        }
        BillingCmd::Subscribe { customer_id, plan, start } => {
            let p = store::find_plan(&db, &plan).await?;
            let start = store::parse_date("start", &start)?;
            let id = store::subscribe(&db, customer_id, p.id, start).await?;
            let detail = format!("subscription {id}: {} from {}", p.name, billing::period::iso_date::format(start));
            audit::record(&db, &cli, "billing.subscribe", &format!("customer {customer_id}"), &detail).await?;
            println!("{id}");
        }
        BillingCmd::ChangePlan { subscription_id, plan, on } => {
            let p = store::find_plan(&db, &plan).await?;
            let on = store::parse_date("on", &on)?;
            store::change_plan(&db, subscription_id, p.id, on).await?;
            let detail = format!("to {} on {}", p.name, billing::period::iso_date::format(on));
            audit::record(&db, &cli, "billing.change-plan", &format!("subscription {subscription_id}"), &detail)
                .await?;
            println!("subscription {subscription_id}: {detail}");
        }
        BillingCmd::Cancel { subscription_id, on } => {
            let on = store::parse_date("on", &on)?;
            store::cancel(&db, subscription_id, on).await?;
            let detail = format!("billed until {}", billing::period::iso_date::format(on));
            audit::record(&db, &cli, "billing.cancel", &format!("subscription {subscription_id}"), &detail).await?;
            println!("subscription {subscription_id}: cancelled, {detail} (exclusive)");
        }
        BillingCmd::Hold { customer_id, from, to, kind, subscription } => {
            let kind = store::HoldKind::parse(&kind)?;
            let start = store::parse_date("from", &from)?;
            let end = to.as_deref().map(|t| store::parse_date("to", t)).transpose()?;
            let h = store::HoldInput { customer_id, subscription_id: subscription, start, end, kind };
            let id = store::add_hold(&db, &h).await?;
            let detail = format!("hold {id}: {kind} from {from} to {}", to.as_deref().unwrap_or("-"));
            audit::record(&db, &cli, "billing.hold", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}");
        }
        BillingCmd::Charge { customer_id, amount, description, date, kind, tax_class } => {
            let cur = account_currency(&db, customer_id).await?;
            let amount = Money::parse(&amount, cur).map_err(|e| anyhow::anyhow!("amount: {e}"))?;
            let kind = store::ChargeKind::parse(&kind)?;
            let tax_class_id = match tax_class {
                Some(t) => Some(store::find_tax_class(&db, &t).await?),
                None => None,
            };
            let date = date_or_today(app, "date", date.as_deref())?;
            let c = store::ChargeInput { customer_id, date, kind, description, amount, tax_class_id };
            let id = store::add_charge(&db, &c, &app.settings.billing.limits).await?;
            let detail = format!("charge {id}: {amount} {}", c.description.trim());
            audit::record(&db, &cli, "billing.charge", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}");
        }
        BillingCmd::Discount { customer_id, description, percent, amount, subscription, from, to } => {
            use billing::invoice::{DiscountTarget, DiscountValue};
            let value = match (percent, amount) {
                (Some(p), None) => {
                    let bp = Money::parse(p.trim().trim_end_matches('%'), billing::money::Currency::USD)
                        .map_err(|e| anyhow::anyhow!("percent: {e}"))?;
                    DiscountValue::PercentBp(u32::try_from(bp.minor).map_err(|_| anyhow::anyhow!("percent: 0-100"))?)
                }
                (None, Some(a)) => {
                    let cur = account_currency(&db, customer_id).await?;
                    DiscountValue::Fixed(Money::parse(&a, cur).map_err(|e| anyhow::anyhow!("amount: {e}"))?)
                }
                _ => anyhow::bail!("give --percent or --amount"),
            };
            let target = match subscription {
                Some(s) => DiscountTarget::Subscription(u64::try_from(s)?),
                None => DiscountTarget::AllRecurring,
            };
            let start = date_or_today(app, "from", from.as_deref())?;
            let end = to.as_deref().map(|t| store::parse_date("to", t)).transpose()?;
            let d = store::DiscountInput { customer_id, description, target, value, start, end };
            let id = store::add_discount(&db, &d, &app.settings.billing.limits).await?;
            let detail = format!("discount {id}: {}", d.description.trim());
            audit::record(&db, &cli, "billing.discount", &format!("customer {customer_id}"), &detail).await?;
            println!("customer {customer_id}: {detail}");
        }
        BillingCmd::Payment { customer_id, amount, method, reference, date } => {
            let cur = account_currency(&db, customer_id).await?;
            let amount = Money::parse(&amount, cur).map_err(|e| anyhow::anyhow!("amount: {e}"))?;
            let date = date_or_today(app, "date", date.as_deref())?;
            let method = store::PaymentMethod::parse(&method)?;
            let p = store::PaymentInput {
                customer_id,
                date,
                amount,
                method,
                reference,
                provider_payment_id: None,
                created_by: cli.name.clone(),
            };
            let r = store::record_payment(&db, &p, &app.settings.billing.limits).await?;
            let detail = format!("payment {}: {amount} by {}", r.id, p.method);
            audit::record(&db, &cli, "billing.payment", &format!("customer {customer_id}"), &detail).await?;
            let b = store::balance(&db, customer_id, date).await?;
            println!("customer {customer_id}: {detail}; balance {}", b.balance);
        }
        BillingCmd::Balance { customer_id, json } => {
            let b = store::balance(&db, customer_id, today(app)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                let a = &b.aging;
                let state = match b.balance_minor {
                    0 => "",
                    m if m > 0 => " owed",
                    _ => " in credit",
                };
                println!("customer {customer_id}: balance {}{state}", b.balance);
                println!(
                    "  current {}  1-30 {}  31-60 {}  61-90 {}  over 90 {}",
                    a.current.fmt_amount(),
                    a.days_1_30.fmt_amount(),
                    a.days_31_60.fmt_amount(),
                    a.days_61_90.fmt_amount(),
                    a.over_90.fmt_amount()
                );
            }
        }
        BillingCmd::Invoices { customer, period_start, limit, json } => {
            let period_start = period_start.as_deref().map(|p| store::parse_date("period_start", p)).transpose()?;
            let f = store::InvoiceFilter { customer_id: customer, period_start, limit: Some(limit) };
            let list = store::invoices(&db, &f).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for i in list {
                    let total = store::currency(&i.currency)
                        .map(|c| Money::new(i.total_minor, c).to_string())
                        .unwrap_or_else(|_| i.total_minor.to_string());
                    println!(
                        "{}  customer {:>6}  {}..{}  {:>14}  due {}  {}",
                        i.number, i.customer_id, i.period_start, i.period_end, total, i.due_date, i.status
                    );
                }
            }
        }
    }
    Ok(())
}
