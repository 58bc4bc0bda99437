//! `mast-controller import` and `mast-controller export`: bringing an
//! existing ISP over from UISP CRM, Splynx or a spreadsheet (a dry run first,
//! then all or nothing, idempotent), and exporting customers, services and
//! devices as CSV. The same store code as the `/import` page.

use super::{actor, today};
use clap::{Args, ValueEnum};
use mast_controller::App;
use mast_store::export::{self, Export};
use mast_store::import::{self, Files, Mapping, Options, Source};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// UISP CRM: FILES are the clients file, then the services file.
    Uisp,
    /// Splynx: FILES are the customers, internet services and internet tariffs files.
    Splynx,
    /// Any CSV, one customer per row: FILES is that file (see --map).
    Csv,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Which system the files come from.
    #[arg(long, value_enum)]
    format: Format,
    /// For --format csv: which column holds which field, as field=column
    /// (column by its header name), comma-separated; unnamed fields are
    /// guessed from the header. Fields: id, name, first_name, last_name,
    /// company, email, phone, street, city, zip, lat, lon, site, status,
    /// balance, plan, price, down_mbps, up_mbps, mac, ip.
    #[arg(long, value_delimiter = ',')]
    map: Vec<String>,
    /// Check and report what would be created or updated; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// ISO code of the amounts in the files (new accounts and plans bill in it).
    #[arg(long, default_value = "USD")]
    currency: String,
    /// Billing day (1-28) of the billing accounts the import creates.
    #[arg(long, default_value_t = 1)]
    billing_day: u8,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The exported files, in the order --format names them.
    #[arg(required = true, num_args = 1..=3)]
    files: Vec<PathBuf>,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8 text (export it as UTF-8 CSV)", path.display()))
}

pub async fn run_import(a: ImportArgs, app: &App) -> anyhow::Result<()> {
    let (source, want) = match a.format {
        Format::Uisp => (Source::Uisp, 2),
        Format::Splynx => (Source::Splynx, 3),
        Format::Csv => (Source::Csv, 1),
    };
    anyhow::ensure!(
        a.files.len() == want,
        "--format {} takes {want} file(s): {}",
        source.as_str(),
        match source {
            Source::Uisp => "CLIENTS.csv SERVICES.csv",
            Source::Splynx => "CUSTOMERS.csv SERVICES.csv TARIFFS.csv",
            Source::Csv => "FILE.csv",
        }
    );
    anyhow::ensure!(a.map.is_empty() || source == Source::Csv, "--map is for --format csv only");
    let texts = a.files.iter().map(read).collect::<anyhow::Result<Vec<_>>>()?;
    let files = Files {
        customers: &texts[0],
        services: texts.get(1).map(String::as_str),
        tariffs: texts.get(2).map(String::as_str),
    };
    let mapping = match source {
        Source::Csv => {
            let headers = import::headers(&texts[0]).unwrap_or_default();
            Some(Mapping::with_overrides(&headers, a.map.iter().map(String::as_str))?)
        }
        _ => None,
    };
    let opts = Options {
        currency: a.currency.trim().to_ascii_uppercase(),
        today: today(app)?,
        billing_day: a.billing_day,
        site_interval_ms: app.settings.monitoring.default_interval_ms,
        site_timeout_ms: app.settings.monitoring.default_timeout_ms,
    };
    let rep = import::import(&app.db, source, files, mapping.as_ref(), &opts, a.dry_run, &actor()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        let head = if rep.committed {
            "imported"
        } else if !rep.problems.is_empty() {
            "NOT imported (nothing was written)"
        } else {
            "dry run (nothing was written)"
        };
        println!("{} import, {head}", source.label());
        println!("{}", rep.summary());
        for (file, line, why) in &rep.skipped {
            println!("skipped: {} line {line}: {why}", file.as_str());
        }
        for p in &rep.problems {
            println!("bad line: {p}");
        }
    }
    anyhow::ensure!(rep.problems.is_empty(), "{} bad line(s): fix them and import again", rep.problems.len());
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
pub enum What {
    Customers,
    Services,
    Devices,
}

#[derive(Args)]
pub struct ExportArgs {
    /// What to export.
    #[arg(value_enum)]
    what: What,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub async fn run_export(a: ExportArgs, app: &App) -> anyhow::Result<()> {
    let what = match a.what {
        What::Customers => Export::Customers,
        What::Services => Export::Services,
        What::Devices => Export::Devices,
    };
    let text = export::csv_of(&app.db, what).await?;
    mast_controller::audit::record(&app.db, &actor(), "export", what.as_str(), "csv").await?;
    match a.output {
        Some(p) => std::fs::write(&p, text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
        }
    }
    Ok(())
}
