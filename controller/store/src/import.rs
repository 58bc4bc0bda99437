//! Importing an existing ISP: the model the pure [`mast_import_core`]
//! parsed from UISP CRM, Splynx or a spreadsheet becomes customers, billing
//! accounts, plans, subscriptions, sites, CPE links and opening balances.
//! Owns `import_external_ids` and `import_uploads`; writes the other
//! domains' tables inside its one transaction (their functions take the
//! pool, and an import must commit whole or not at all).
//!
//! # Guarantees
//! - **All or nothing**: [`run`] checks every customer with the stores' own
//!   rules ([`CustomerInput::validate`], plan names, site names), then
//!   writes everything in one transaction; any bad line, of the file or of
//!   the database's state (an account billing in another currency), rolls
//!   it all back, and the report lists every one of them.
//! - **Dry run = the real run, rolled back**: the same code runs and the
//!   transaction is rolled back, so the report of a dry run is exactly what
//!   the import would do.
//! - **Idempotent**: each external id is remembered per source and kind;
//!   importing again updates those rows (only what changed), never
//!   duplicates them. An opening balance is one ledger adjustment; a
//!   re-import books only the difference from what earlier imports booked.
//! - Plans are found by name (created when missing, their price and speeds
//!   updated when the file says otherwise); sites by name (created with the
//!   default probe settings; a name is made of letters, digits, `-`, `_` and
//!   `.`, other characters become `-`). A CPE's MAC is linked to its
//!   customer; with an IP and a site, the IP becomes a ping target of the
//!   site (a device named after the customer, with the MAC).
//! - Subscriptions start on the import date (the old system billed before);
//!   a changed plan on re-import is a plan change from the import date. No
//!   setup fee is charged for an imported service.

use crate::audit::{self, Actor};
use crate::billing::balances::EntryKind;
use crate::billing::common::{currency as parse_currency, payment_reference};
use crate::customers::{self, CustomerInput};
use crate::db::{Db, StoreError, Tx, now_ms};
use jiff::civil::Date;
pub use mast_import_core::{
    Field, FileKind, Files, Mapping, Parsed, Problem, Source, headers, mapping::MappingError, parse,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What an import needs besides the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// ISO code of the file's amounts (new accounts and plans bill in it).
    pub currency: String,
    /// The import date: subscriptions start on it, balances are dated it.
    pub today: Date,
    /// Billing day of new accounts (1-28).
    pub billing_day: u8,
    /// Probe settings of sites the import creates.
    pub site_interval_ms: i64,
    pub site_timeout_ms: i64,
}

/// How many rows of one kind were (or, in a dry run, would be) created,
/// updated or left unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// What happens to one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "create",
            Change::Updated => "update",
            Change::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub line: usize,
    pub external_id: String,
    pub name: String,
    pub change: Change,
    /// The Mast customer id (in a dry run: the one it would get).
    pub customer_id: i64,
}

/// What an import did, or (dry run) would do.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: Source,
    pub dry_run: bool,
    /// The import was written (false for a dry run and when any line is bad).
    pub committed: bool,
    pub customers: Counts,
    pub accounts: Counts,
    pub plans: Counts,
    pub services: Counts,
    pub sites: Counts,
    pub cpes: Counts,
    /// IPs added as ping targets of their site.
    pub targets: usize,
    pub balances: Counts,
    pub problems: Vec<Problem>,
    pub skipped: Vec<(FileKind, usize, String)>,
    pub actions: Vec<Action>,
}

impl Report {
    fn new(source: Source, dry_run: bool) -> Report {
        Report {
            source,
            dry_run,
            committed: false,
            customers: Counts::default(),
            accounts: Counts::default(),
            plans: Counts::default(),
            services: Counts::default(),
            sites: Counts::default(),
            cpes: Counts::default(),
            targets: 0,
            balances: Counts::default(),
            problems: Vec::new(),
            skipped: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// One line summary (CLI, audit log).
    pub fn summary(&self) -> String {
        let c = |n: &Counts| format!("{} new, {} updated, {} unchanged", n.created, n.updated, n.unchanged);
        format!(
            "customers: {}; services: {}; plans: {}; sites: {} new; CPE links: {}; balances: {} booked, {} adjusted; {} bad lines",
            c(&self.customers),
            c(&self.services),
            c(&self.plans),
            self.sites.created,
            c(&self.cpes),
            self.balances.created,
            self.balances.updated,
            self.problems.len()
        )
    }
}

/// The memo of the ledger adjustments an import books (also how a
/// re-import finds what earlier imports booked).
fn balance_memo(source: Source) -> String {
    format!("Opening balance imported from {}", source.label())
}

/// A site name as Mast allows it: letters, digits, `-`, `_`, `.` (others become `-`), at most 64.
pub fn site_name(s: &str) -> String {
    let mut out: String = s
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' })
        .take(64)
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

fn field_of(store_field: &str) -> Option<Field> {
    Some(match store_field {
        "name" => Field::Name,
        "email" => Field::Email,
        "phone" => Field::Phone,
        "address" => Field::Street,
        "lat" => Field::Lat,
        "lon" => Field::Lon,
        "status" => Field::Status,
        _ => return None,
    })
}

/// A customer as stored, for "unchanged" and "updated".
#[derive(sqlx::FromRow)]
struct Current {
    id: i64,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    status: String,
    site_id: Option<i64>,
}

struct PlanRow {
    id: i64,
    price_minor: i64,
    currency: String,
    down_kbps: i64,
    up_kbps: i64,
}

/// Parses the files and runs the import (see [`run`]).
#[allow(clippy::too_many_arguments)]
pub async fn import(
    db: &Db,
    source: Source,
    files: Files<'_>,
    mapping: Option<&Mapping>,
    opts: &Options,
    dry_run: bool,
    actor: &Actor,
) -> Result<Report, StoreError> {
    let cur = parse_currency(&opts.currency)?;
    let parsed = parse(source, files, mapping, cur).map_err(|e| StoreError::invalid("files", e.to_string()))?;
    run(db, source, parsed, opts, dry_run, actor).await
}

/// Checks `parsed` with the stores' rules, then writes it in one
/// transaction, rolled back for a dry run or when any line is bad. A real
/// run that commits is audited (`import.run`).
pub async fn run(
    db: &Db,
    source: Source,
    parsed: Parsed,
    opts: &Options,
    dry_run: bool,
    actor: &Actor,
) -> Result<Report, StoreError> {
    let cur = parse_currency(&opts.currency)?;
    if !(1..=28).contains(&opts.billing_day) {
        return Err(StoreError::invalid("billing_day", "1-28"));
    }
    let mut rep = Report::new(source, dry_run);
    rep.problems = parsed.problems;
    rep.skipped = parsed.skipped;
    // The stores' own rules, before the database.
    let mut valid = Vec::with_capacity(parsed.customers.len());
    for c in &parsed.customers {
        let input = CustomerInput {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            address: c.address.clone(),
            lat: c.coords.map(|x| x.0),
            lon: c.coords.map(|x| x.1),
            status: Some(c.status.as_str().to_string()),
            ..Default::default()
        };
        let mut ok = match input.validate() {
            Ok(v) => Some(v),
            Err(e) => {
                let field = e.field().and_then(field_of);
                let column = field.and_then(|f| parsed.columns.get(&f).cloned());
                let reason = match &e {
                    StoreError::Invalid { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                rep.problems.push(Problem { file: FileKind::Customers, line: c.line, column, reason });
                None
            }
        };
        if let Some(s) = &c.site
            && site_name(s).is_empty()
        {
            let why = format!("site {s:?} has no letter or digit");
            rep.problems.push(Problem { file: FileKind::Customers, line: c.line, column: None, reason: why });
            ok = None;
        }
        for s in &c.services {
            if s.plan.name.chars().count() > 100 {
                let why = "a plan name has at most 100 characters".to_string();
                rep.problems.push(Problem { file: s.file, line: s.line, column: None, reason: why });
                ok = None;
            }
        }
        valid.push(ok);
    }
    if !rep.problems.is_empty() {
        sort_problems(&mut rep.problems);
        return Ok(rep);
    }
    let mut tx = db.begin().await?;
    write(&mut tx, source, &parsed.customers, &valid, opts, cur.code(), &mut rep).await?;
    sort_problems(&mut rep.problems);
    if dry_run || !rep.problems.is_empty() {
        tx.rollback().await?;
        return Ok(rep);
    }
    tx.commit().await?;
    rep.committed = true;
    audit::record(db, actor, "import.run", source.as_str(), &rep.summary()).await?;
    Ok(rep)
}

fn sort_problems(p: &mut [Problem]) {
    p.sort_by_key(|a| (a.file, a.line));
}

async fn write(
    tx: &mut Tx<'_>,
    source: Source,
    list: &[mast_import_core::Customer],
    valid: &[Option<customers::Valid>],
    opts: &Options,
    currency: &str,
    rep: &mut Report,
) -> Result<(), StoreError> {
    let src = source.as_str();
    let now = now_ms();
    let today = crate::billing::period::iso_date::format(opts.today);
    // Everything the import compares against, read once.
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, external_id, local_id FROM import_external_ids WHERE source = $1")
            .bind(src)
            .fetch_all(&mut **tx)
            .await?;
    let mut ext: HashMap<(String, String), i64> = rows.into_iter().map(|(k, e, l)| ((k, e), l)).collect();
    let current: Vec<Current> = sqlx::query_as(
        "SELECT c.id, c.name, c.email, c.phone, c.address, c.lat, c.lon, c.status, c.site_id FROM customers c \
         JOIN import_external_ids x ON x.local_id = c.id WHERE x.source = $1 AND x.kind = 'customer'",
    )
    .bind(src)
    .fetch_all(&mut **tx)
    .await?;
    let current: HashMap<i64, Current> = current.into_iter().map(|c| (c.id, c)).collect();
    let sites: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM sites").fetch_all(&mut **tx).await?;
    let mut sites: HashMap<String, i64> = sites.into_iter().map(|(i, n)| (n, i)).collect();
    let plans: Vec<(i64, String, i64, String, i64, i64)> =
        sqlx::query_as("SELECT id, name, price_minor, currency, down_kbps, up_kbps FROM plans")
            .fetch_all(&mut **tx)
            .await?;
    let mut plans: HashMap<String, PlanRow> = plans
        .into_iter()
        .map(|(id, name, price_minor, currency, down_kbps, up_kbps)| {
            (name, PlanRow { id, price_minor, currency, down_kbps, up_kbps })
        })
        .collect();
    let accounts: Vec<(i64, String)> =
        sqlx::query_as("SELECT customer_id, currency FROM billing_accounts").fetch_all(&mut **tx).await?;
    let mut accounts: HashMap<i64, String> = accounts.into_iter().collect();
    // Imported subscriptions: id -> (start date, the plan in effect now).
    let subs: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT s.id, s.start_date, COALESCE((SELECT c.plan_id FROM plan_changes c WHERE c.subscription_id = s.id \
         ORDER BY c.on_date DESC, c.id DESC LIMIT 1), s.plan_id) FROM subscriptions s \
         JOIN import_external_ids x ON x.local_id = s.id WHERE x.source = $1 AND x.kind = 'service'",
    )
    .bind(src)
    .fetch_all(&mut **tx)
    .await?;
    let subs: HashMap<i64, (String, i64)> = subs.into_iter().map(|(id, d, p)| (id, (d, p))).collect();
    let memo = balance_memo(source);
    let booked: Vec<(i64, i64)> =
        sqlx::query_as("SELECT customer_id, amount_minor FROM ledger WHERE kind = $1 AND memo = $2")
            .bind(EntryKind::Adjustment)
            .bind(&memo)
            .fetch_all(&mut **tx)
            .await?;
    let mut booked_sum: HashMap<i64, i128> = HashMap::new();
    for (c, a) in booked {
        *booked_sum.entry(c).or_default() += i128::from(a);
    }
    let macs: Vec<(String, i64)> =
        sqlx::query_as("SELECT mac, customer_id FROM customer_devices").fetch_all(&mut **tx).await?;
    let mut macs: HashMap<String, i64> = macs.into_iter().collect();
    let targets: Vec<(i64, String)> =
        sqlx::query_as("SELECT site_id, addr FROM site_targets").fetch_all(&mut **tx).await?;
    let mut targets: HashSet<(i64, String)> = targets.into_iter().collect();
    let mut untaxed: Option<i64> = None;
    let mut sites_seen: HashSet<i64> = HashSet::new();
    let mut sites_touched: HashSet<i64> = HashSet::new();
    let mut plans_seen: HashSet<i64> = HashSet::new();

    for (c, v) in list.iter().zip(valid) {
        let Some(v) = v else { continue };
        let problem = |rep: &mut Report, reason: String| {
            rep.problems.push(Problem { file: FileKind::Customers, line: c.line, column: None, reason })
        };
        // The site, found by name or created.
        let site_id = match &c.site {
            None => None,
            Some(s) => {
                let name = site_name(s);
                let id = match sites.get(&name) {
                    Some(&id) => id,
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO sites (name, interval_ms, timeout_ms, revision, created_ms) \
                             VALUES ($1, $2, $3, 1, $4) RETURNING id",
                        )
                        .bind(&name)
                        .bind(opts.site_interval_ms)
                        .bind(opts.site_timeout_ms)
                        .bind(now)
                        .fetch_one(&mut **tx)
                        .await?;
                        sites.insert(name, id);
                        rep.sites.created += 1;
                        sites_seen.insert(id);
                        id
                    }
                };
                if sites_seen.insert(id) {
                    rep.sites.unchanged += 1;
                }
                Some(id)
            }
        };
        // The customer.
        let key = ("customer".to_string(), c.external_id.clone());
        let known = ext.get(&key).and_then(|id| current.get(id));
        let (customer_id, mut change) = match known {
            Some(cur) => {
                let same = cur.name == v.name
                    && cur.email == v.email
                    && cur.phone == v.phone
                    && cur.address == v.address
                    && cur.lat == v.coords.map(|x| x.0)
                    && cur.lon == v.coords.map(|x| x.1)
                    && cur.status == v.status.as_str()
                    && cur.site_id == site_id;
                if same {
                    rep.customers.unchanged += 1;
                    (cur.id, Change::Unchanged)
                } else {
                    sqlx::query(
                        "UPDATE customers SET name = $1, email = $2, phone = $3, address = $4, \
                         lat = CAST($5 AS DOUBLE PRECISION), lon = CAST($6 AS DOUBLE PRECISION), status = $7, site_id = $8, updated_ms = $9 WHERE id = $10",
                    )
                    .bind(&v.name)
                    .bind(&v.email)
                    .bind(&v.phone)
                    .bind(&v.address)
                    .bind(crate::sql::real(v.coords.map(|x| x.0)))
                    .bind(crate::sql::real(v.coords.map(|x| x.1)))
                    .bind(v.status)
                    .bind(site_id)
                    .bind(now)
                    .bind(cur.id)
                    .execute(&mut **tx)
                    .await?;
                    if cur.email != v.email {
                        customers::email_changed(tx, cur.id, &v.email).await?;
                    }
                    rep.customers.updated += 1;
                    (cur.id, Change::Updated)
                }
            }
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO customers (name, email, phone, address, lat, lon, status, site_id, notes, created_ms, \
                     updated_ms, notify_outages) VALUES ($1, $2, $3, $4, CAST($5 AS DOUBLE PRECISION), \
                     CAST($6 AS DOUBLE PRECISION), $7, $8, NULL, $9, $9, 1) RETURNING id",
                )
                .bind(&v.name)
                .bind(&v.email)
                .bind(&v.phone)
                .bind(&v.address)
                .bind(crate::sql::real(v.coords.map(|x| x.0)))
                .bind(crate::sql::real(v.coords.map(|x| x.1)))
                .bind(v.status)
                .bind(site_id)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                remember(tx, src, "customer", &c.external_id, id, now).await?;
                ext.insert(key, id);
                rep.customers.created += 1;
                (id, Change::Created)
            }
        };
        let mut touched = false;
        // The billing account, for a customer with services or a balance.
        if !c.services.is_empty() || c.balance_minor.is_some() {
            match accounts.get(&customer_id) {
                Some(code) if code != currency => {
                    problem(rep, format!("the customer's billing account bills in {code}, the import in {currency}"));
                    continue;
                }
                Some(_) => rep.accounts.unchanged += 1,
                None => {
                    sqlx::query(
                        "INSERT INTO billing_accounts (customer_id, billing_day, tax_exempt, currency, \
                         payment_reference, autopay, created_ms, updated_ms) VALUES ($1, $2, 0, $3, $4, 0, $5, $5)",
                    )
                    .bind(customer_id)
                    .bind(i64::from(opts.billing_day))
                    .bind(currency)
                    .bind(payment_reference(customer_id))
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    accounts.insert(customer_id, currency.to_string());
                    rep.accounts.created += 1;
                }
            }
        }
        // Plans and subscriptions.
        for s in &c.services {
            let p = &s.plan;
            let plan_id = match plans.get(&p.name) {
                Some(row) if row.currency != currency => {
                    let why = format!("plan {:?} exists in {}, the import is in {currency}", p.name, row.currency);
                    rep.problems.push(Problem { file: s.file, line: s.line, column: None, reason: why });
                    continue;
                }
                Some(row) => {
                    let id = row.id;
                    let same = row.price_minor == p.price_minor
                        && row.down_kbps == i64::from(p.down_kbps)
                        && row.up_kbps == i64::from(p.up_kbps);
                    if plans_seen.insert(id) {
                        if same {
                            rep.plans.unchanged += 1;
                        } else {
                            sqlx::query(
                                "UPDATE plans SET price_minor = $1, down_kbps = $2, up_kbps = $3 WHERE id = $4",
                            )
                            .bind(p.price_minor)
                            .bind(i64::from(p.down_kbps))
                            .bind(i64::from(p.up_kbps))
                            .bind(id)
                            .execute(&mut **tx)
                            .await?;
                            rep.plans.updated += 1;
                        }
                    }
                    id
                }
                None => {
                    let tax = match untaxed {
                        Some(t) => t,
                        None => {
                            let t = untaxed_class(tx, now).await?;
                            untaxed = Some(t);
                            t
                        }
                    };
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO plans (name, price_minor, currency, down_kbps, up_kbps, cycle, tax_class_id, \
                         active, created_ms, data_cap_gb, setup_fee_minor) \
                         VALUES ($1, $2, $3, $4, $5, 'monthly', $6, 1, $7, NULL, 0) RETURNING id",
                    )
                    .bind(&p.name)
                    .bind(p.price_minor)
                    .bind(currency)
                    .bind(i64::from(p.down_kbps))
                    .bind(i64::from(p.up_kbps))
                    .bind(tax)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    plans.insert(
                        p.name.clone(),
                        PlanRow {
                            id,
                            price_minor: p.price_minor,
                            currency: currency.to_string(),
                            down_kbps: i64::from(p.down_kbps),
                            up_kbps: i64::from(p.up_kbps),
                        },
                    );
                    plans_seen.insert(id);
                    rep.plans.created += 1;
                    id
                }
            };
            let key = ("service".to_string(), s.external_id.clone());
            match ext.get(&key).and_then(|id| subs.get(id).map(|x| (*id, x))) {
                Some((_, (_, effective))) if *effective == plan_id => rep.services.unchanged += 1,
                Some((sub_id, (start, _))) => {
                    if start.as_str() >= today.as_str() {
                        sqlx::query("UPDATE subscriptions SET plan_id = $1 WHERE id = $2")
                            .bind(plan_id)
                            .bind(sub_id)
                            .execute(&mut **tx)
                            .await?;
                    } else {
                        // A change already set for today is replaced, not stacked.
                        sqlx::query("DELETE FROM plan_changes WHERE subscription_id = $1 AND on_date = $2")
                            .bind(sub_id)
                            .bind(&today)
                            .execute(&mut **tx)
                            .await?;
                        sqlx::query(
                            "INSERT INTO plan_changes (subscription_id, on_date, plan_id, created_ms) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(sub_id)
                        .bind(&today)
                        .bind(plan_id)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                    }
                    rep.services.updated += 1;
                    touched = true;
                }
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO subscriptions (customer_id, plan_id, start_date, end_date, created_ms) \
                         VALUES ($1, $2, $3, NULL, $4) RETURNING id",
                    )
                    .bind(customer_id)
                    .bind(plan_id)
                    .bind(&today)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    remember(tx, src, "service", &s.external_id, id, now).await?;
                    ext.insert(key, id);
                    rep.services.created += 1;
                    touched = true;
                }
            }
        }
        // CPEs: the MAC serves this customer; the IP is pinged from the site.
        for cpe in &c.cpes {
            if let Some(mac) = &cpe.mac {
                match macs.get(mac) {
                    Some(&owner) if owner == customer_id => rep.cpes.unchanged += 1,
                    other => {
                        customers::link(tx, customer_id, mac).await?;
                        if other.is_some() {
                            rep.cpes.updated += 1;
                        } else {
                            rep.cpes.created += 1;
                        }
                        macs.insert(mac.clone(), customer_id);
                        touched = true;
                    }
                }
            }
            if let (Some(ip), Some(site)) = (&cpe.ip, site_id)
                && targets.insert((site, ip.clone()))
            {
                sqlx::query("INSERT INTO site_targets (site_id, addr, name) VALUES ($1, $2, $3)")
                    .bind(site)
                    .bind(ip)
                    .bind(&v.name)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO devices (site_id, addr, name, mac, created_ms) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (site_id, addr) DO UPDATE SET name = COALESCE(devices.name, excluded.name), \
                     mac = COALESCE(devices.mac, excluded.mac)",
                )
                .bind(site)
                .bind(ip)
                .bind(&v.name)
                .bind(&cpe.mac)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                sites_touched.insert(site);
                rep.targets += 1;
                touched = true;
            }
        }
        // The opening balance: only what earlier imports did not book.
        if let Some(b) = c.balance_minor {
            let before = booked_sum.get(&customer_id).copied().unwrap_or(0);
            let diff = i128::from(b) - before;
            if diff == 0 {
                rep.balances.unchanged += 1;
            } else {
                let Ok(diff) = i64::try_from(diff) else {
                    problem(rep, "the balance is out of range".into());
                    continue;
                };
                sqlx::query(
                    "INSERT INTO ledger (customer_id, ts_ms, entry_date, due_date, kind, amount_minor, currency, \
                     invoice_id, payment_id, memo, open_minor) VALUES ($1, $2, $3, NULL, $4, $5, $6, NULL, NULL, $7, $8)",
                )
                .bind(customer_id)
                .bind(now)
                .bind(&today)
                .bind(EntryKind::Adjustment)
                .bind(diff)
                .bind(currency)
                .bind(&memo)
                .bind(diff.unsigned_abs().min(i64::MAX as u64) as i64)
                .execute(&mut **tx)
                .await?;
                // A later import's correction pays (or is paid by) what is open.
                crate::billing::allocations::settle(tx, customer_id, &[], "", "import").await?;
                if booked_sum.contains_key(&customer_id) {
                    rep.balances.updated += 1;
                } else {
                    rep.balances.created += 1;
                }
                booked_sum.insert(customer_id, i128::from(b));
                touched = true;
            }
        }
        if touched && change == Change::Unchanged {
            change = Change::Updated;
        }
        rep.actions.push(Action {
            line: c.line,
            external_id: c.external_id.clone(),
            name: v.name.clone(),
            change,
            customer_id,
        });
    }
    // Agents of the sites that gained targets get their new config.
    for site in sites_touched {
        sqlx::query("UPDATE sites SET revision = revision + 1 WHERE id = $1").bind(site).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn remember(
    tx: &mut Tx<'_>,
    source: &str,
    kind: &str,
    external_id: &str,
    local_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO import_external_ids (source, kind, external_id, local_id, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (source, kind, external_id) \
         DO UPDATE SET local_id = excluded.local_id, updated_ms = excluded.updated_ms",
    )
    .bind(source)
    .bind(kind)
    .bind(external_id)
    .bind(local_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The `Untaxed` tax class (as `plans::untaxed_class`), inside the import's transaction.
async fn untaxed_class(tx: &mut Tx<'_>, now: i64) -> Result<i64, StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM tax_classes WHERE name = 'Untaxed'").fetch_optional(&mut **tx).await?;
    match found {
        Some(id) => Ok(id),
        None => Ok(sqlx::query_scalar(
            "INSERT INTO tax_classes (name, rounding, created_ms) VALUES ('Untaxed', 'half-even', $1) RETURNING id",
        )
        .bind(now)
        .fetch_one(&mut **tx)
        .await?),
    }
}

/// Files kept between the page's dry run and its import.
#[derive(Debug, Clone)]
pub struct Upload {
    pub token: String,
    pub source: Source,
    pub customers: String,
    pub services: Option<String>,
    pub tariffs: Option<String>,
}

impl Upload {
    pub fn files(&self) -> Files<'_> {
        Files { customers: &self.customers, services: self.services.as_deref(), tariffs: self.tariffs.as_deref() }
    }
}

/// How long an upload is kept.
const UPLOAD_TTL_MS: i64 = 24 * 3600 * 1000;

/// Keeps the files for `by` (older uploads are removed); returns the token.
pub async fn save_upload(
    db: &Db,
    by: &str,
    source: Source,
    customers: &str,
    services: Option<&str>,
    tariffs: Option<&str>,
) -> Result<String, StoreError> {
    let token = hex::encode(rand::random::<[u8; 16]>());
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM import_uploads WHERE created_ms < $1").bind(now - UPLOAD_TTL_MS).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO import_uploads (token, created_by, created_ms, source, customers, services, tariffs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&token)
    .bind(by)
    .bind(now)
    .bind(source.as_str())
    .bind(customers)
    .bind(services)
    .bind(tariffs)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The upload `token` of `by` (another user's token, an expired one or
/// garbage: `NotFound`).
pub async fn load_upload(db: &Db, token: &str, by: &str) -> Result<Upload, StoreError> {
    let gone = || StoreError::NotFound("that upload is gone (uploads are kept a day): upload the files again".into());
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(gone());
    }
    let row: Option<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT source, customers, services, tariffs FROM import_uploads \
         WHERE token = $1 AND created_by = $2 AND created_ms >= $3",
    )
    .bind(token)
    .bind(by)
    .bind(now_ms() - UPLOAD_TTL_MS)
    .fetch_optional(&db.pool)
    .await?;
    let (source, customers, services, tariffs) = row.ok_or_else(gone)?;
    let source =
        Source::parse(&source).ok_or_else(|| StoreError::Corrupt(format!("stored import source {source:?}")))?;
    Ok(Upload { token: token.to_string(), source, customers, services, tariffs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            currency: "USD".into(),
            today: jiff::civil::date(2026, 12, 1),
            billing_day: 1,
            site_interval_ms: 60_000,
            site_timeout_ms: 1_000,
        }
    }

    async fn count(db: &Db, table: &str) -> i64 {
        let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&db.pool).await.unwrap()
    }

    const CSV: &str = "id,name,email,site,plan,price,down_mbps,up_mbps,mac,ip,balance\n\
        A1,Ada Okafor,ada@example.org,North Tower,Gold,45.00,50,10,24:a4:3c:7e:01:9a,10.0.0.5,12.50\n\
        A2,Bo Li,,North Tower,Gold,45.00,50,10,,,\n";

    #[tokio::test]
    async fn dry_run_writes_nothing_real_run_creates_and_reimport_updates() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let actor = Actor { name: "test".into(), ip: None };
        let files = Files { customers: CSV, ..Default::default() };
        let r = import(&db, Source::Csv, files, None, &opts(), true, &actor).await.unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!((r.customers.created, r.services.created, r.plans.created, r.sites.created), (2, 2, 1, 1));
        assert!(!r.committed);
        for t in ["customers", "plans", "sites", "subscriptions", "ledger", "import_external_ids"] {
            assert_eq!(count(&db, t).await, 0, "{t}");
        }
        let r = import(&db, Source::Csv, files, None, &opts(), false, &actor).await.unwrap();
        assert!(r.committed);
        assert_eq!((r.customers.created, r.cpes.created, r.targets, r.balances.created), (2, 1, 1, 1));
        assert_eq!(count(&db, "customers").await, 2);
        let again = import(&db, Source::Csv, files, None, &opts(), false, &actor).await.unwrap();
        assert_eq!(again.customers, Counts { created: 0, updated: 0, unchanged: 2 });
        assert_eq!(again.services.unchanged, 2);
        assert_eq!(again.balances.unchanged, 1);
        assert_eq!(count(&db, "ledger").await, 1);
        let changed =
            CSV.replace("Bo Li,", "Bo Lindqvist,").replace("12.50", "20.00").replace("Gold,45.00", "Gold,50.00");
        let r =
            import(&db, Source::Csv, Files { customers: &changed, ..Default::default() }, None, &opts(), false, &actor)
                .await
                .unwrap();
        assert_eq!((r.customers.updated, r.plans.updated, r.balances.updated), (1, 1, 1));
        assert_eq!(count(&db, "customers").await, 2);
        let sum: Vec<i64> =
            sqlx::query_scalar("SELECT amount_minor FROM ledger ORDER BY id").fetch_all(&db.pool).await.unwrap();
        assert_eq!(sum, [1250, 750], "only the difference is booked");
        let bad = format!("{CSV}A3,,x@,,,,,,,,\n");
        let r = import(&db, Source::Csv, Files { customers: &bad, ..Default::default() }, None, &opts(), false, &actor)
            .await
            .unwrap();
        assert!(!r.committed);
        assert_eq!(r.problems.iter().map(|p| p.line).collect::<Vec<_>>(), [4]);
        assert_eq!(count(&db, "customers").await, 2);
    }

    #[test]
    fn site_names_become_valid() {
        assert_eq!(site_name(" North Tower #2 "), "North-Tower-2");
        assert_eq!(site_name("ridge.east_1"), "ridge.east_1");
        assert_eq!(site_name("***"), "");
    }
}
