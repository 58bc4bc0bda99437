//! Exports for leaving Mast or feeding a spreadsheet: customers, services
//! (subscriptions with the plan in effect) and devices, as CSV through the
//! one cell rule ([`mast_text_core::csv`]: quoted, formulas neutralised).
//! The customers file's columns are names the generic CSV import guesses
//! (`id`, `name`, `email`, `phone`, `address`, `lat`, `lon`, `site`,
//! `status`, `balance`), so an export imports back as it is.

use crate::db::{Db, StoreError};
use mast_text_core::csv;

/// Which export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Customers,
    Services,
    Devices,
}

impl Export {
    pub const ALL: &'static [Export] = &[Export::Customers, Export::Services, Export::Devices];

    pub fn as_str(self) -> &'static str {
        match self {
            Export::Customers => "customers",
            Export::Services => "services",
            Export::Devices => "devices",
        }
    }

    pub fn parse(s: &str) -> Option<Export> {
        Export::ALL.iter().copied().find(|e| e.as_str() == s.trim())
    }
}

/// The CSV text of an export.
pub async fn csv_of(db: &Db, what: Export) -> Result<String, StoreError> {
    match what {
        Export::Customers => customers(db).await,
        Export::Services => services(db).await,
        Export::Devices => devices(db).await,
    }
}

fn opt(s: &Option<String>) -> String {
    csv::field(s.as_deref().unwrap_or(""))
}

fn row(out: &mut String, cells: &[String]) {
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// An amount in minor units as a plain decimal (`-12.50`), or a bare integer
/// for currencies without decimals.
fn decimal(minor: i128, exponent: u8) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10i128.pow(u32::from(exponent));
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!("{sign}{}.{:0w$}", m / scale, m % scale, w = usize::from(exponent))
}

fn exponent(code: &str) -> u8 {
    crate::billing::common::currency(code).map(|c| c.exponent()).unwrap_or(2)
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: i64,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    site: Option<String>,
    status: String,
    currency: Option<String>,
}

async fn customers(db: &Db) -> Result<String, StoreError> {
    let list: Vec<CustomerRow> = sqlx::query_as(
        "SELECT c.id, c.name, c.email, c.phone, c.address, c.lat, c.lon, s.name AS site, c.status, a.currency \
         FROM customers c LEFT JOIN sites s ON s.id = c.site_id LEFT JOIN billing_accounts a ON a.customer_id = c.id \
         ORDER BY c.id",
    )
    .fetch_all(&db.pool)
    .await?;
    // Balances summed here in 128 bits, in the account's currency.
    let ledger: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT customer_id, amount_minor, currency FROM ledger").fetch_all(&db.pool).await?;
    let mut sums: std::collections::HashMap<(i64, String), i128> = Default::default();
    for (c, a, cur) in ledger {
        *sums.entry((c, cur)).or_default() += i128::from(a);
    }
    let macs: Vec<(i64, String)> =
        sqlx::query_as("SELECT customer_id, mac FROM customer_devices ORDER BY mac").fetch_all(&db.pool).await?;
    let mut by: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for (c, m) in macs {
        by.entry(c).or_default().push(m);
    }
    let mut out = csv::line([
        "id", "name", "email", "phone", "address", "lat", "lon", "site", "status", "balance", "currency", "cpe_macs",
    ]);
    for c in &list {
        let balance = match &c.currency {
            Some(cur) => decimal(sums.get(&(c.id, cur.clone())).copied().unwrap_or(0), exponent(cur)),
            None => String::new(),
        };
        let cells = [
            csv::number(&c.id.to_string()),
            csv::field(&c.name),
            opt(&c.email),
            opt(&c.phone),
            opt(&c.address),
            csv::number(&c.lat.map(|x| x.to_string()).unwrap_or_default()),
            csv::number(&c.lon.map(|x| x.to_string()).unwrap_or_default()),
            opt(&c.site),
            csv::field(&c.status),
            csv::number(&balance),
            opt(&c.currency),
            csv::field(&by.remove(&c.id).unwrap_or_default().join(" ")),
        ];
        row(&mut out, &cells);
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    id: i64,
    customer_id: i64,
    customer: String,
    plan: String,
    price_minor: i64,
    currency: String,
    down_kbps: i64,
    up_kbps: i64,
    start_date: String,
    end_date: Option<String>,
}

fn mbps(kbps: i64) -> String {
    let k = kbps.unsigned_abs();
    if k.is_multiple_of(1000) { (k / 1000).to_string() } else { format!("{}.{:03}", k / 1000, k % 1000) }
}

async fn services(db: &Db) -> Result<String, StoreError> {
    // The plan in effect now: the latest plan change's, else the subscription's.
    let list: Vec<ServiceRow> = sqlx::query_as(
        "SELECT s.id, s.customer_id, c.name AS customer, p.name AS plan, p.price_minor, p.currency, p.down_kbps, \
         p.up_kbps, s.start_date, s.end_date FROM subscriptions s JOIN customers c ON c.id = s.customer_id \
         JOIN plans p ON p.id = COALESCE((SELECT x.plan_id FROM plan_changes x WHERE x.subscription_id = s.id \
         ORDER BY x.on_date DESC, x.id DESC LIMIT 1), s.plan_id) ORDER BY s.id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = csv::line([
        "subscription_id",
        "customer_id",
        "customer",
        "plan",
        "price",
        "currency",
        "down_mbps",
        "up_mbps",
        "start_date",
        "end_date",
    ]);
    for s in &list {
        let cells = [
            csv::number(&s.id.to_string()),
            csv::number(&s.customer_id.to_string()),
            csv::field(&s.customer),
            csv::field(&s.plan),
            csv::number(&decimal(i128::from(s.price_minor), exponent(&s.currency))),
            csv::field(&s.currency),
            csv::number(&mbps(s.down_kbps)),
            csv::number(&mbps(s.up_kbps)),
            csv::field(&s.start_date),
            opt(&s.end_date),
        ];
        row(&mut out, &cells);
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: i64,
    site: String,
    addr: String,
    name: Option<String>,
    mac: Option<String>,
    kind: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    customer_id: Option<i64>,
    last_ok_ms: Option<i64>,
    retired_ms: Option<i64>,
}

async fn devices(db: &Db) -> Result<String, StoreError> {
    let list: Vec<DeviceRow> = sqlx::query_as(
        "SELECT d.id, s.name AS site, d.addr, d.name, d.mac, COALESCE(d.kind_set, d.kind) AS kind, d.vendor, d.model, \
         cd.customer_id, d.last_ok_ms, d.retired_ms FROM devices d JOIN sites s ON s.id = d.site_id \
         LEFT JOIN customer_devices cd ON cd.mac = d.mac ORDER BY d.id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut out = csv::line([
        "id",
        "site",
        "ip",
        "name",
        "mac",
        "kind",
        "vendor",
        "model",
        "customer_id",
        "last_ok_utc",
        "retired_utc",
    ]);
    let when = |ms: Option<i64>| ms.map(mast_text_core::when::fmt_utc).unwrap_or_default();
    for d in &list {
        let cells = [
            csv::number(&d.id.to_string()),
            csv::field(&d.site),
            csv::field(&d.addr),
            opt(&d.name),
            opt(&d.mac),
            opt(&d.kind),
            opt(&d.vendor),
            opt(&d.model),
            csv::number(&d.customer_id.map(|c| c.to_string()).unwrap_or_default()),
            csv::field(&when(d.last_ok_ms)),
            csv::field(&when(d.retired_ms)),
        ];
        row(&mut out, &cells);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimals() {
        assert_eq!(super::decimal(-1250, 2), "-12.50");
        assert_eq!(super::decimal(5, 2), "0.05");
        assert_eq!(super::decimal(700, 0), "700");
        assert_eq!(super::mbps(50_000), "50");
        assert_eq!(super::mbps(1_500), "1.500");
    }
}
