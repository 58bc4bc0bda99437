//! Bringing an existing ISP over (`/import`): upload the export of UISP CRM
//! (clients + services), Splynx (customers + internet services + tariffs) or
//! any CSV; the page checks it at once as a dry run (what would be created,
//! updated or left unchanged, and every bad line with its reason), shows the
//! column mapping of a generic CSV to correct, and imports on "Import" (the
//! upload is kept under a token, so nothing is uploaded twice). The import is
//! all or nothing and idempotent (`mast_store::import`). Also the exports
//! (`/export/{customers,services,devices}.csv`). Audited.

use super::billing::today;
use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mast_store::StoreError;
use mast_store::export::{self, Export};
use mast_store::import::{self, Change, Counts, Field, Mapping, Options, Report, Source};
use std::collections::HashMap;

type PageResult = Result<Response, ApiError>;

/// Who imports and exports (customer data and money in bulk).
pub const IMPORTERS: &[Role] = &[Role::Admin, Role::Billing];

/// Largest upload of the import page (all its files together).
pub const MAX_IMPORT_UPLOAD: usize = 32 * 1024 * 1024;

/// How many customers the report lists one by one.
const SHOWN: usize = 500;

/// What the upload form had (re-rendered with its errors).
#[derive(Default)]
struct UploadForm {
    format: String,
    currency: String,
}

/// The mapping step of a generic CSV.
struct MappingView {
    headers: Vec<String>,
    mapping: Mapping,
}

struct ResultView {
    token: String,
    source: Source,
    currency: String,
    mapping: Option<MappingView>,
    report: Report,
}

fn counts_row(t: &mut Table<'_>, what: &str, c: &Counts) {
    t.push(vec![html! { (what) }, html! { (c.created) }, html! { (c.updated) }, html! { (c.unchanged) }]);
}

fn report_view(r: &Report) -> Markup {
    let mut counts = Table::new("Nothing.").col("What").num_col("To create").num_col("To update").num_col("Unchanged");
    if !r.dry_run {
        counts = Table::new("Nothing.").col("What").num_col("Created").num_col("Updated").num_col("Unchanged");
    }
    counts_row(&mut counts, "Customers", &r.customers);
    counts_row(&mut counts, "Billing accounts", &r.accounts);
    counts_row(&mut counts, "Plans", &r.plans);
    counts_row(&mut counts, "Services (subscriptions)", &r.services);
    counts_row(&mut counts, "Sites", &r.sites);
    counts_row(&mut counts, "CPE links (by MAC)", &r.cpes);
    counts_row(&mut counts, "Opening balances", &r.balances);
    let mut problems = Table::new("None.").col("File").num_col("Line").col("Column").col("Why");
    for p in &r.problems {
        problems.push(vec![
            html! { (p.file.as_str()) },
            html! { (p.line) },
            html! { (p.column.as_deref().unwrap_or("")) },
            html! { (p.reason) },
        ]);
    }
    let mut skipped = Table::new("None.").col("File").num_col("Line").col("Why");
    for (f, line, why) in &r.skipped {
        skipped.push(vec![html! { (f.as_str()) }, html! { (line) }, html! { (why) }]);
    }
    let mut actions = Table::new("No customer.").num_col("Line").col("Id there").col("Name").col("Change");
    for a in r.actions.iter().take(SHOWN) {
        let tone = match a.change {
            Change::Created => Tone::Up,
            Change::Updated => Tone::Degraded,
            Change::Unchanged => Tone::Neutral,
        };
        actions.push(vec![
            html! { (a.line) },
            html! { (a.external_id) },
            html! { @if r.committed { a href={ "/customers/" (a.customer_id) } { (a.name) } } @else { (a.name) } },
            html! { (ui::tone_badge(tone, a.change.as_str())) },
        ]);
    }
    html! {
        section #import-report {
            h2 {
                @if r.committed { "Imported" }
                @else if !r.problems.is_empty() { "Not imported " (ui::tone_badge(Tone::Down, "fix the file")) }
                @else { "Checked " (ui::tone_badge(Tone::Neutral, "nothing written")) }
            }
            @if !r.problems.is_empty() {
                p #import-refused { "The files are imported whole or not at all: nothing was written. Fix these lines and upload again." }
            }
            (counts)
            @if r.targets > 0 { p { (r.targets) " CPE address(es) become ping targets of their site." } }
            h3 { "Bad lines (" span #import-problem-count { (r.problems.len()) } ")" }
            (problems)
            @if !r.skipped.is_empty() {
                h3 { "Left out on purpose (" (r.skipped.len()) ")" }
                (skipped)
            }
            h3 { "Customers (" (r.actions.len()) ")" }
            @if r.actions.len() > SHOWN { p.muted { "The first " (SHOWN) " are listed." } }
            (actions)
        }
    }
}

fn format_options() -> Vec<(&'static str, &'static str)> {
    Source::ALL.iter().map(|s| (s.as_str(), s.label())).collect()
}

fn import_page(c: &Caller, errors: &FormErrors, form: &UploadForm, result: Option<&ResultView>) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let f = Fields::new("import", errors);
    let file_field = |name: &str, label: &str, hint: &str| {
        let id = f.id(name);
        let err = errors.get(name);
        html! {
            div.field.has-error[err.is_some()] {
                label for=(id) { (label) }
                input id=(id) type="file" name=(name) accept=".csv,text/csv";
                p.field-hint { (hint) }
                @if let Some(e) = err { p.field-error id={ (id) "-error" } role="alert" { (e) } }
            }
        }
    };
    let format = if form.format.is_empty() { "uisp" } else { form.format.as_str() };
    let currency = if form.currency.is_empty() { "USD" } else { form.currency.as_str() };
    page(
        c,
        "Import",
        html! {
            h1 { "Import an existing ISP" }
            p.muted {
                "Upload the export of UISP CRM, Splynx or any spreadsheet (CSV). It is checked first and nothing is written "
                "until you press Import; then everything is imported or nothing is. Importing the same system again updates "
                "the customers it created instead of duplicating them."
            }
            form.import-form method="post" action="/import" enctype="multipart/form-data" {
                (ui::csrf_field(csrf))
                (f.summary())
                (f.select_field("format", "Exported from", &format_options(), format, FieldOpts::new().required()))
                (file_field("customers", "Customers file", "UISP: clients; Splynx: customers; CSV: the one file (one customer per row)."))
                (file_field("services", "Services file", "UISP: services; Splynx: internet services. Not for CSV."))
                (file_field("tariffs", "Tariffs file", "Splynx only: internet tariffs (plan names, prices, speeds)."))
                (f.text_field("currency", "Currency of the amounts", currency, FieldOpts::new().required()))
                button #import-upload type="submit" { "Upload and check" }
            }
            @if let Some(r) = result { (result_view(csrf, r)) }
            h2 { "Export" }
            p {
                a #export-customers href="/export/customers.csv" { "Customers (CSV)" } " · "
                a #export-services href="/export/services.csv" { "Services (CSV)" } " · "
                a #export-devices href="/export/devices.csv" { "Devices (CSV)" }
            }
        },
    )
}

/// The mapping step's choices: no column, or a column of the file by its index.
fn column_options(headers: &[String]) -> Vec<(String, String)> {
    let mut opts = vec![(String::new(), "(not in the file)".to_string())];
    opts.extend(headers.iter().enumerate().map(|(i, h)| (i.to_string(), h.clone())));
    opts
}

fn result_view(csrf: &str, r: &ResultView) -> Markup {
    let errors = FormErrors::new();
    let f = Fields::new("map", &errors);
    html! {
        (report_view(&r.report))
        @if !r.report.committed {
            (ui::form_with_class("import-run", "/import/run", Method::Post, csrf, html! {
                (ui::hidden("token", &r.token))
                (ui::hidden("currency", &r.currency))
                @if let Some(m) = &r.mapping {
                    h3 { "Columns" }
                    p.muted { "Which column of your file holds what (guessed from the header). Change it and check again." }
                    @let opts = column_options(&m.headers);
                    @let refs: Vec<(&str, &str)> = opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                    @for field in Field::ALL {
                        @let chosen = m.mapping.get(*field).map(|i| i.to_string()).unwrap_or_default();
                        (f.select_field(&format!("map_{}", field.as_str()), field.label(), &refs, &chosen, FieldOpts::new()))
                    }
                    button #import-check type="submit" name="action" value="check" { "Check again" }
                    " "
                }
                @if r.report.problems.is_empty() {
                    button #import-apply type="submit" name="action" value="import" { "Import " (r.source.label()) }
                }
            }))
        }
    }
}

/// `GET /import`.
pub async fn page_get(c: Caller) -> Markup {
    import_page(&c, &FormErrors::new(), &UploadForm::default(), None)
}

fn options(st: &AppState, currency: &str) -> Options {
    let currency = if currency.trim().is_empty() { "USD" } else { currency.trim() };
    Options {
        currency: currency.to_ascii_uppercase(),
        today: today(),
        billing_day: 1,
        site_interval_ms: st.settings.monitoring.default_interval_ms,
        site_timeout_ms: st.settings.monitoring.default_timeout_ms,
    }
}

fn refuse(c: &Caller, form: &UploadForm, field: &str, why: String) -> PageResult {
    let mut errors = FormErrors::new();
    errors.field(field, why);
    Ok((StatusCode::BAD_REQUEST, import_page(c, &errors, form, None)).into_response())
}

/// `POST /import` (multipart: `format`, `customers`, `services`, `tariffs`,
/// `currency`): keeps the files and checks them (a dry run).
pub async fn upload(c: Caller, State(st): State<AppState>, mut form: Multipart) -> PageResult {
    let mut files: HashMap<String, Result<String, String>> = HashMap::new();
    let mut f = UploadForm::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return refuse(&c, &f, "customers", format!("the upload broke off: {e}")),
        };
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "customers" | "services" | "tariffs" => {
                let text = match field.bytes().await {
                    // A NUL byte is no CSV, and PostgreSQL refuses it in text.
                    Ok(b) if b.contains(&0) => Err("not a CSV file (it holds NUL bytes)".to_string()),
                    Ok(b) => {
                        String::from_utf8(b.to_vec()).map_err(|_| "not UTF-8 text (export it as UTF-8 CSV)".into())
                    }
                    Err(e) => Err(format!("the upload broke off: {e}")),
                };
                files.insert(name, text);
            }
            "format" => f.format = field.text().await.unwrap_or_default(),
            "currency" => f.currency = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let Some(source) = Source::parse(&f.format) else {
        return refuse(&c, &f, "format", "choose UISP CRM, Splynx or CSV".into());
    };
    let opts = options(&st, &f.currency);
    if let Err(e) = mast_store::billing::common::currency(&opts.currency) {
        return refuse(&c, &f, "currency", e.to_string().trim_start_matches("currency: ").to_string());
    }
    let mut get = |name: &str| -> Result<Option<String>, (String, String)> {
        match files.remove(name) {
            Some(Ok(t)) if !t.trim().is_empty() => Ok(Some(t)),
            Some(Err(why)) => Err((name.to_string(), why)),
            _ => Ok(None),
        }
    };
    let (customers, services, tariffs) = match (get("customers"), get("services"), get("tariffs")) {
        (Ok(a), Ok(b), Ok(t)) => (a, b, t),
        (Err((n, why)), _, _) | (_, Err((n, why)), _) | (_, _, Err((n, why))) => return refuse(&c, &f, &n, why),
    };
    let Some(customers) = customers else {
        return refuse(&c, &f, "customers", "choose the customers file".into());
    };
    let need_services = matches!(source, Source::Uisp | Source::Splynx);
    if need_services && services.is_none() {
        return refuse(&c, &f, "services", format!("{} needs its services file", source.label()));
    }
    if source == Source::Splynx && tariffs.is_none() {
        return refuse(&c, &f, "tariffs", "Splynx needs its internet tariffs file".into());
    }
    let services = if need_services { services } else { None };
    let tariffs = if source == Source::Splynx { tariffs } else { None };
    let token =
        import::save_upload(&st.db, &c.name, source, &customers, services.as_deref(), tariffs.as_deref()).await?;
    let upload = import::load_upload(&st.db, &token, &c.name).await?;
    let mapping = (source == Source::Csv).then(|| {
        let headers = import::headers(&upload.customers).unwrap_or_default();
        MappingView { mapping: Mapping::guess(&headers), headers }
    });
    let report =
        import::import(&st.db, source, upload.files(), mapping.as_ref().map(|m| &m.mapping), &opts, true, &c.actor())
            .await?;
    let view = ResultView { token, source, currency: opts.currency.clone(), mapping, report };
    Ok(import_page(&c, &FormErrors::new(), &f, Some(&view)).into_response())
}

/// `POST /import/run` (`token`, `currency`, `action` = `check` or `import`,
/// `map_<field>` = column index for a generic CSV).
pub async fn run(c: Caller, State(st): State<AppState>, Form(form): Form<HashMap<String, String>>) -> PageResult {
    let token = form.get("token").map(String::as_str).unwrap_or("");
    let currency = form.get("currency").map(String::as_str).unwrap_or("USD");
    let f = UploadForm { format: String::new(), currency: currency.to_string() };
    let upload = match import::load_upload(&st.db, token, &c.name).await {
        Ok(u) => u,
        Err(StoreError::NotFound(why)) => return refuse(&c, &f, "customers", why),
        Err(e) => return Err(e.into()),
    };
    let f = UploadForm { format: upload.source.as_str().to_string(), currency: currency.to_string() };
    let opts = options(&st, currency);
    if let Err(e) = mast_store::billing::common::currency(&opts.currency) {
        return refuse(&c, &f, "currency", e.to_string().trim_start_matches("currency: ").to_string());
    }
    let mapping = if upload.source == Source::Csv {
        let headers = import::headers(&upload.customers).unwrap_or_default();
        let mut m = Mapping::default();
        for field in Field::ALL {
            let v = form.get(&format!("map_{}", field.as_str())).map(|s| s.trim()).unwrap_or("");
            if v.is_empty() {
                continue;
            }
            match v.parse::<usize>() {
                Ok(i) if i < headers.len() => m.set(*field, Some(i)),
                _ => return refuse(&c, &f, "customers", format!("{}: no such column; check again", field.as_str())),
            }
        }
        Some(MappingView { headers, mapping: m })
    } else {
        None
    };
    let dry_run = form.get("action").map(String::as_str) != Some("import");
    let report = import::import(
        &st.db,
        upload.source,
        upload.files(),
        mapping.as_ref().map(|m| &m.mapping),
        &opts,
        dry_run,
        &c.actor(),
    )
    .await?;
    let status = if report.problems.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let view = ResultView {
        token: upload.token.clone(),
        source: upload.source,
        currency: opts.currency.clone(),
        mapping,
        report,
    };
    Ok((status, import_page(&c, &FormErrors::new(), &f, Some(&view))).into_response())
}

async fn export_csv(st: &AppState, c: &Caller, what: Export) -> PageResult {
    let text = export::csv_of(&st.db, what).await?;
    crate::audit::record(&st.db, &c.actor(), "export", what.as_str(), "csv").await?;
    let name = format!("attachment; filename=\"mast-{}-{}.csv\"", what.as_str(), today());
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], text)
        .into_response())
}

/// `GET /export/customers.csv`.
pub async fn export_customers(c: Caller, State(st): State<AppState>) -> PageResult {
    export_csv(&st, &c, Export::Customers).await
}

/// `GET /export/services.csv`.
pub async fn export_services(c: Caller, State(st): State<AppState>) -> PageResult {
    export_csv(&st, &c, Export::Services).await
}

/// `GET /export/devices.csv`.
pub async fn export_devices(c: Caller, State(st): State<AppState>) -> PageResult {
    export_csv(&st, &c, Export::Devices).await
}
