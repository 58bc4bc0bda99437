//! Customers, the module tickets, billing and dispatch share: name, contacts,
//! service address with coordinates, status, site, notes, and the CPE(s) that
//! serve them, by MAC. Owns tables `customers` and `customer_devices`.
//!
//! A CPE is linked by MAC (what a technician reads off the radio's label), so
//! the link holds whether or not an agent has seen the radio yet; once it
//! has, the customer page shows the device's live state through the
//! inventory (`monitoring::inventory`), and outage correlation can name the
//! customers behind a failed AP.
//!
//! [`CustomerInput::validate`] is pure: every user-supplied field is checked
//! here, and an error names the form field / JSON key at fault (`name`,
//! `email`, `phone`, `address`, `lat`, `lon`, `status`, `site`, `notes`;
//! `cpe` for a MAC).

use crate::db::{Db, StoreError, Tx, now_ms};
use mast_shared::{format_mac, parse_mac};
use mast_text_core::input;
use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// Where a customer stands.
    pub enum CustomerStatus (field "status") {
        Lead = "lead",
        Active = "active",
        Suspended = "suspended",
        Cancelled = "cancelled",
    }
}

/// A 0/1 BIGINT column (the stores keep no booleans) read as a `bool`.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
struct Flag(i64);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0 != 0
    }
}

/// Checks a one-line text input; the error names `field`.
pub(crate) fn check_line(field: &str, s: &str, max: usize) -> Result<(), StoreError> {
    input::line(s, max).map_err(|p| StoreError::invalid(field, p.to_string()))
}

/// Checks a multi-line text input; the error names `field`.
pub(crate) fn check_text(field: &str, s: &str, max: usize) -> Result<(), StoreError> {
    input::text(s, max).map_err(|p| StoreError::invalid(field, p.to_string()))
}

/// What staff or the API submit to create or change a customer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    /// `lead`, `active` (default), `suspended` or `cancelled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Site name.
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Outage, maintenance and technician visit notices (default true;
    /// false = opted out).
    #[serde(default)]
    pub notify_outages: Option<bool>,
}

fn blank_to_none(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// A validated customer, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub coords: Option<(f64, f64)>,
    pub status: CustomerStatus,
    pub site: Option<String>,
    pub notes: Option<String>,
    pub notify_outages: bool,
}

/// The longest name, address, site name and notes.
const MAX_NAME: usize = 200;
const MAX_ADDRESS: usize = 500;
const MAX_NOTES: usize = 10_000;

impl CustomerInput {
    /// Pure validation; the error names the field.
    pub fn validate(&self) -> Result<Valid, StoreError> {
        check_line("name", &self.name, MAX_NAME)?;
        let name = self.name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("name", "give a name (1-200 characters)"));
        }
        let email = blank_to_none(&self.email);
        if let Some(e) = &email {
            check_line("email", e, input::MAX_EMAIL)?;
            let ok = e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
                && !e.chars().any(|c| c.is_whitespace() || c == ',' || c == ';');
            if !ok {
                return Err(StoreError::invalid("email", "not an email address"));
            }
        }
        let phone = blank_to_none(&self.phone);
        if let Some(p) = &phone {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            if !(5..=20).contains(&digits) || !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
                return Err(StoreError::invalid("phone", "5-20 digits, with + - ( ) . or spaces"));
            }
        }
        let address = blank_to_none(&self.address);
        if let Some(a) = &address {
            check_line("address", a, MAX_ADDRESS)?;
        }
        let coords = match (self.lat, self.lon) {
            (None, None) => None,
            (Some(lat), _) if !(-90.0..=90.0).contains(&lat) => {
                return Err(StoreError::invalid("lat", "latitude must be between -90 and 90"));
            }
            (_, Some(lon)) if !(-180.0..=180.0).contains(&lon) => {
                return Err(StoreError::invalid("lon", "longitude must be between -180 and 180"));
            }
            (Some(lat), Some(lon)) => Some((lat, lon)),
            (Some(_), None) => return Err(StoreError::invalid("lon", "give the longitude too")),
            (None, Some(_)) => return Err(StoreError::invalid("lat", "give the latitude too")),
        };
        let status = match blank_to_none(&self.status) {
            None => CustomerStatus::Active,
            Some(s) => CustomerStatus::parse(&s)?,
        };
        let site = blank_to_none(&self.site);
        if let Some(s) = &site {
            check_line("site", s, MAX_NAME)?;
        }
        let notes = blank_to_none(&self.notes);
        if let Some(n) = &notes {
            check_text("notes", n, MAX_NOTES)?;
        }
        Ok(Valid {
            name: name.to_string(),
            email,
            phone,
            address,
            coords,
            status,
            site,
            notes,
            notify_outages: self.notify_outages.unwrap_or(true),
        })
    }
}

/// A CPE's MAC in any notation, normalised (`aa:bb:cc:dd:ee:ff`); the error
/// names `field` (`cpe` on the customer form, `mac` on the link form and in
/// the API).
fn parse_cpe(field: &str, mac: &str) -> Result<String, StoreError> {
    check_line(field, mac, 64)?;
    parse_mac(mac)
        .map(|m| format_mac(&m))
        .ok_or_else(|| StoreError::invalid(field, format!("{mac:?} is not a MAC address")))
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub status: CustomerStatus,
    pub site_id: Option<i64>,
    pub site: Option<String>,
    pub notes: Option<String>,
    /// Gets outage and maintenance notices (false: opted out).
    #[sqlx(try_from = "Flag")]
    pub notify_outages: bool,
    /// MACs of the CPEs that serve this customer.
    #[sqlx(skip)]
    pub cpes: Vec<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

async fn site_id(db: &Db, site: &Option<String>) -> Result<Option<i64>, StoreError> {
    match site {
        None => Ok(None),
        Some(name) => match crate::monitoring::site_by_name(db, name).await? {
            Some(s) => Ok(Some(s.id)),
            None => Err(StoreError::invalid("site", format!("no site named {name:?}"))),
        },
    }
}

/// Creates a customer.
pub async fn create(db: &Db, input: &CustomerInput) -> Result<Customer, StoreError> {
    create_with_cpes(db, input, &[]).await
}

/// Creates a customer and links the CPEs (MACs in any notation) in one
/// transaction: a bad MAC (`cpe`) or field stores nothing.
pub async fn create_with_cpes(db: &Db, input: &CustomerInput, cpes: &[&str]) -> Result<Customer, StoreError> {
    let v = input.validate()?;
    let macs = cpes.iter().map(|m| parse_cpe("cpe", m)).collect::<Result<Vec<_>, _>>()?;
    let site_id = site_id(db, &v.site).await?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO customers (name, email, phone, address, lat, lon, status, site_id, notes, created_ms, updated_ms, \
         notify_outages) VALUES ($1, $2, $3, $4, CAST($5 AS DOUBLE PRECISION), CAST($6 AS DOUBLE PRECISION), $7, $8, $9, $10, $10, $11) \
         RETURNING id",
    )
    .bind(&v.name)
    .bind(&v.email)
    .bind(&v.phone)
    .bind(&v.address)
    .bind(crate::sql::real(v.coords.map(|c| c.0)))
    .bind(crate::sql::real(v.coords.map(|c| c.1)))
    .bind(v.status)
    .bind(site_id)
    .bind(&v.notes)
    .bind(now)
    .bind(i64::from(v.notify_outages))
    .fetch_one(&mut *tx)
    .await?;
    for m in &macs {
        link(&mut tx, id, m).await?;
    }
    tx.commit().await?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("customer vanished".into()))
}

pub async fn update(db: &Db, id: i64, input: &CustomerInput) -> Result<Customer, StoreError> {
    let mut v = input.validate()?;
    let Some(current) = get(db, id).await? else { return Err(StoreError::NotFound(format!("no customer {id}"))) };
    if input.notify_outages.is_none() {
        // Not given: keep the customer's choice.
        v.notify_outages = current.notify_outages;
    }
    let site_id = site_id(db, &v.site).await?;
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE customers SET name = $1, email = $2, phone = $3, address = $4, lat = CAST($5 AS DOUBLE PRECISION), \
         lon = CAST($6 AS DOUBLE PRECISION), status = $7, site_id = $8, notes = $9, updated_ms = $10, \
         notify_outages = $12 WHERE id = $11",
    )
    .bind(&v.name)
    .bind(&v.email)
    .bind(&v.phone)
    .bind(&v.address)
    .bind(crate::sql::real(v.coords.map(|c| c.0)))
    .bind(crate::sql::real(v.coords.map(|c| c.1)))
    .bind(v.status)
    .bind(site_id)
    .bind(&v.notes)
    .bind(now_ms())
    .bind(id)
    .bind(i64::from(v.notify_outages))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no customer {id}")));
    }
    if v.email != current.email {
        email_changed(&mut tx, id, &v.email).await?;
    }
    tx.commit().await?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("customer vanished".into()))
}

/// After a customer's email changed (in `tx`): the portal signs in with the
/// customer's address, so a changed address moves the login (the old one no
/// longer signs in), a removed one disables it, and open portal sessions end
/// either way. Also used by the import (`crate::import`).
pub(crate) async fn email_changed(tx: &mut Tx<'_>, id: i64, email: &Option<String>) -> Result<(), StoreError> {
    let now = now_ms();
    let moved = match email {
        Some(e) => sqlx::query(
            "UPDATE portal_logins SET email = $1, updated_ms = $2 WHERE customer_id = $3 \
             AND NOT EXISTS (SELECT 1 FROM portal_logins o WHERE o.email = $1 AND o.customer_id <> $3)",
        )
        .bind(e.to_ascii_lowercase())
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected(),
        None => 0,
    };
    if moved == 0 {
        sqlx::query("UPDATE portal_logins SET disabled_ms = $1, updated_ms = $1 WHERE customer_id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM portal_sessions WHERE customer_id = $1").bind(id).execute(&mut **tx).await?;
    Ok(())
}

/// Links a normalised MAC (a CPE serves one customer: linking it elsewhere
/// moves it).
pub(crate) async fn link(tx: &mut Tx<'_>, customer_id: i64, mac: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO customer_devices (mac, customer_id, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (mac) DO UPDATE SET customer_id = excluded.customer_id",
    )
    .bind(mac)
    .bind(customer_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Links a CPE (by MAC, any notation) to a customer; a CPE serves one
/// customer, so linking it elsewhere moves it. Returns the normalised MAC;
/// a bad one is `Invalid` naming `mac`.
pub async fn link_cpe(db: &Db, customer_id: i64, mac: &str) -> Result<String, StoreError> {
    let m = parse_cpe("mac", mac)?;
    if get(db, customer_id).await?.is_none() {
        return Err(StoreError::NotFound(format!("no customer {customer_id}")));
    }
    let mut tx = db.begin().await?;
    link(&mut tx, customer_id, &m).await?;
    tx.commit().await?;
    Ok(m)
}

/// Replaces the customer's CPEs with `macs` (any notation) in one
/// transaction: a bad MAC (`mac`) changes nothing; a MAC serving another
/// customer moves here. Returns the normalised MACs.
pub async fn set_cpes(db: &Db, customer_id: i64, macs: &[&str]) -> Result<Vec<String>, StoreError> {
    let macs = macs.iter().map(|m| parse_cpe("mac", m)).collect::<Result<Vec<_>, _>>()?;
    let mut tx = db.begin().await?;
    let n = sqlx::query("UPDATE customers SET updated_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(customer_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no customer {customer_id}")));
    }
    sqlx::query("DELETE FROM customer_devices WHERE customer_id = $1").bind(customer_id).execute(&mut *tx).await?;
    for m in &macs {
        link(&mut tx, customer_id, m).await?;
    }
    tx.commit().await?;
    Ok(macs)
}

const COLS: &str = "c.id, c.name, c.email, c.phone, c.address, c.lat, c.lon, c.status, c.site_id, s.name AS site, \
    c.notes, c.notify_outages, c.created_ms, c.updated_ms";

async fn with_cpes(db: &Db, mut list: Vec<Customer>) -> Result<Vec<Customer>, StoreError> {
    if list.is_empty() {
        return Ok(list);
    }
    let (lo, hi) = list.iter().fold((i64::MAX, i64::MIN), |(lo, hi), c| (lo.min(c.id), hi.max(c.id)));
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT customer_id, mac FROM customer_devices WHERE customer_id >= $1 AND customer_id <= $2 ORDER BY mac",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&db.pool)
    .await?;
    let mut by: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for (id, mac) in rows {
        by.entry(id).or_default().push(mac);
    }
    for c in &mut list {
        c.cpes = by.remove(&c.id).unwrap_or_default();
    }
    Ok(list)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Customer>, StoreError> {
    let sql = format!("SELECT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id WHERE c.id = $1");
    let Some(c) = sqlx::query_as::<_, Customer>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?
    else {
        return Ok(None);
    };
    Ok(with_cpes(db, vec![c]).await?.pop())
}

/// The longest search term.
const MAX_SEARCH: usize = 200;

/// What a search matches: name, email, phone or address (case-insensitive
/// substring) or a CPE MAC in any notation. `$1` and `$2` are the patterns
/// from [`patterns`].
const MATCHES: &str = "LOWER(c.name) LIKE $1 OR LOWER(COALESCE(c.email, '')) LIKE $1 OR COALESCE(c.phone, '') LIKE $1 \
    OR LOWER(COALESCE(c.address, '')) LIKE $1 \
    OR c.id IN (SELECT customer_id FROM customer_devices WHERE REPLACE(mac, ':', '') LIKE $2)";

/// The LIKE patterns of a search term (field `q`).
fn patterns(q: &str) -> Result<(String, String), StoreError> {
    check_line("q", q, MAX_SEARCH)?;
    let q = q.trim();
    let like = format!("%{}%", q.to_lowercase().replace(['%', '_'], ""));
    let mac_like = match crate::monitoring::inventory::mac_fragment(q) {
        Some(hex) => format!("%{hex}%"),
        None => "-".into(),
    };
    Ok((like, mac_like))
}

/// Customers by name, email, phone or address (case-insensitive substring)
/// or by a CPE MAC in any notation; all of them when `q` is empty. A term
/// with control characters is `Invalid` (field `q`).
pub async fn search(db: &Db, q: &str, limit: i64, offset: i64) -> Result<Vec<Customer>, StoreError> {
    let (like, mac_like) = patterns(q)?;
    let sql = format!(
        "SELECT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id WHERE {MATCHES} \
         ORDER BY c.name, c.id LIMIT $3 OFFSET $4"
    );
    let list = sqlx::query_as::<_, Customer>(sqlx::AssertSqlSafe(sql))
        .bind(like)
        .bind(mac_like)
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?;
    with_cpes(db, list).await
}

/// How many customers [`search`] finds for `q` (for the pager).
pub async fn count(db: &Db, q: &str) -> Result<i64, StoreError> {
    let (like, mac_like) = patterns(q)?;
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM customers c WHERE {MATCHES}");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(like).bind(mac_like).fetch_one(&db.pool).await?)
}

/// The customers of a site, oldest first (at most `limit`).
pub async fn at_site(db: &Db, site_id: i64, limit: i64) -> Result<Vec<Customer>, StoreError> {
    let sql = format!(
        "SELECT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id WHERE c.site_id = $1 \
         ORDER BY c.id LIMIT $2"
    );
    let list =
        sqlx::query_as::<_, Customer>(sqlx::AssertSqlSafe(sql)).bind(site_id).bind(limit).fetch_all(&db.pool).await?;
    with_cpes(db, list).await
}

/// Customers with coordinates, for the map: (id, lat, lon, name).
pub async fn located(db: &Db, limit: i64) -> Result<Vec<(i64, f64, f64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, lat, lon, name FROM customers WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// The customers a device serves (through the MACs of its inventory records).
pub async fn of_device(db: &Db, device_id: i64) -> Result<Vec<Customer>, StoreError> {
    let sql = format!(
        "SELECT DISTINCT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id \
         JOIN customer_devices cd ON cd.customer_id = c.id \
         WHERE cd.mac IN (SELECT mac FROM inventory WHERE device_id = $1 UNION SELECT mac FROM devices WHERE id = $1 AND mac IS NOT NULL) \
         ORDER BY c.name"
    );
    let list = sqlx::query_as::<_, Customer>(sqlx::AssertSqlSafe(sql)).bind(device_id).fetch_all(&db.pool).await?;
    with_cpes(db, list).await
}

/// Customers served by the devices an incident affects.
pub async fn of_incident(db: &Db, incident_id: i64) -> Result<Vec<Customer>, StoreError> {
    let sql = format!(
        "SELECT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id WHERE c.id IN \
         (SELECT cd.customer_id FROM incident_devices x JOIN devices d ON d.id = x.device_id \
          JOIN customer_devices cd ON cd.mac = d.mac WHERE x.incident_id = $1) ORDER BY c.name"
    );
    let list = sqlx::query_as::<_, Customer>(sqlx::AssertSqlSafe(sql)).bind(incident_id).fetch_all(&db.pool).await?;
    with_cpes(db, list).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> CustomerInput {
        CustomerInput { name: name.into(), ..Default::default() }
    }

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        (dir, db)
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(input(" Ada Okafor ").validate().unwrap().name, "Ada Okafor");
        assert_eq!(input("x").validate().unwrap().status, CustomerStatus::Active);
        let s = |v: &str| Some(v.to_string());
        let cases: Vec<(CustomerInput, &str)> = vec![
            (input("  "), "name"),
            (input(&"n".repeat(201)), "name"),
            (input("Ada\0"), "name"),
            (CustomerInput { email: s("nope"), ..input("a") }, "email"),
            (CustomerInput { email: s("a@b.c, d@e.f"), ..input("a") }, "email"),
            (CustomerInput { email: s("a\0@b.c"), ..input("a") }, "email"),
            (CustomerInput { phone: s("12"), ..input("a") }, "phone"),
            (CustomerInput { phone: s("555\0 0100"), ..input("a") }, "phone"),
            (CustomerInput { address: s("4 Ridge\0Rd"), ..input("a") }, "address"),
            (CustomerInput { address: s(&"a".repeat(501)), ..input("a") }, "address"),
            (CustomerInput { lat: Some(91.0), lon: Some(0.0), ..input("a") }, "lat"),
            (CustomerInput { lat: Some(1.0), lon: Some(-181.0), ..input("a") }, "lon"),
            (CustomerInput { lat: Some(1.0), ..input("a") }, "lon"),
            (CustomerInput { lon: Some(1.0), ..input("a") }, "lat"),
            (CustomerInput { status: s("gone"), ..input("a") }, "status"),
            (CustomerInput { site: s("north\0"), ..input("a") }, "site"),
            (CustomerInput { notes: s("bell\u{7}"), ..input("a") }, "notes"),
            (CustomerInput { notes: s(&"n".repeat(10_001)), ..input("a") }, "notes"),
        ];
        for (c, field) in cases {
            let e = c.validate().unwrap_err();
            assert!(matches!(e, StoreError::Invalid { .. }), "{e:?}");
            assert_eq!(e.field(), Some(field), "{c:?}: {e}");
        }
        let ok = CustomerInput {
            email: s("ada@example.org"),
            phone: s("+1 (555) 010-2030"),
            lat: Some(44.1),
            lon: Some(-93.2),
            status: s("lead"),
            notes: s("gate code 1234\r\n\tdog is friendly"),
            ..input("Ada")
        };
        assert_eq!(ok.validate().unwrap().status, CustomerStatus::Lead);
        let blank = CustomerInput { email: s("  "), ..input("a") };
        assert_eq!(blank.validate().unwrap().email, None, "blank fields are absent, not invalid");
        assert_eq!(parse_cpe("cpe", "24-A4-3C-7E-01-9A").unwrap(), "24:a4:3c:7e:01:9a");
        assert_eq!(parse_cpe("cpe", "nope").unwrap_err().field(), Some("cpe"));
        assert_eq!(parse_cpe("mac", "24:a4\0").unwrap_err().field(), Some("mac"));
    }

    #[test]
    fn statuses_are_a_closed_set() {
        let texts: Vec<&str> = CustomerStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(texts, ["lead", "active", "suspended", "cancelled"]);
        let e = CustomerStatus::parse("gone").unwrap_err();
        assert_eq!(e.to_string(), "status: \"gone\" is not one of lead, active, suspended, cancelled");
        assert_eq!(serde_json::to_value(CustomerStatus::Suspended).unwrap(), "suspended");
    }

    #[tokio::test]
    async fn customers_link_cpes_and_are_found_by_any_field() {
        let (_dir, db) = db().await;
        let c =
            create(&db, &CustomerInput { email: Some("ada@example.org".into()), ..input("Ada Okafor") }).await.unwrap();
        assert_eq!(link_cpe(&db, c.id, "24-A4-3C-7E-01-9A").await.unwrap(), "24:a4:3c:7e:01:9a");
        assert_eq!(link_cpe(&db, c.id, "not a mac").await.unwrap_err().field(), Some("mac"));
        assert!(matches!(link_cpe(&db, c.id + 100, "24:a4:3c:00:00:01").await, Err(StoreError::NotFound(_))));
        let other = create(&db, &input("Bo Lindqvist")).await.unwrap();
        for q in ["okafor", "ADA@", "24a4.3c7e.019a", "7e:01:9a"] {
            let found = search(&db, q, 10, 0).await.unwrap();
            assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c.id], "{q}");
            assert_eq!(found[0].cpes, vec!["24:a4:3c:7e:01:9a"]);
            assert_eq!(count(&db, q).await.unwrap(), 1, "{q}");
        }
        assert_eq!(search(&db, "", 10, 0).await.unwrap().len(), 2);
        assert_eq!(count(&db, "").await.unwrap(), 2);
        assert_eq!(search(&db, "a\0", 10, 0).await.unwrap_err().field(), Some("q"), "a NUL is a 400, not a 500");
        // A CPE serves one customer: linking it elsewhere moves it.
        link_cpe(&db, other.id, "24:a4:3c:7e:01:9a").await.unwrap();
        assert!(get(&db, c.id).await.unwrap().unwrap().cpes.is_empty());
        assert_eq!(get(&db, other.id).await.unwrap().unwrap().cpes, vec!["24:a4:3c:7e:01:9a"]);
        let moved =
            update(&db, c.id, &CustomerInput { status: Some("suspended".into()), ..input("Ada O.") }).await.unwrap();
        assert_eq!((moved.name.as_str(), moved.status), ("Ada O.", CustomerStatus::Suspended));
        assert!(moved.notify_outages, "kept when not given");
        assert!(matches!(update(&db, 9999, &input("x")).await, Err(StoreError::NotFound(_))));
        let site = CustomerInput { site: Some("nowhere".into()), ..input("x") };
        assert_eq!(create(&db, &site).await.unwrap_err().field(), Some("site"));
    }

    #[tokio::test]
    async fn a_bad_cpe_stores_nothing_and_opt_out_is_kept() {
        let (_dir, db) = db().await;
        let e = create_with_cpes(&db, &input("Ada"), &["04:18:d6:a1:22:3b", "nope"]).await.unwrap_err();
        assert_eq!(e.field(), Some("cpe"));
        assert_eq!(count(&db, "").await.unwrap(), 0, "nothing stored");
        let c =
            create_with_cpes(&db, &CustomerInput { notify_outages: Some(false), ..input("Ada") }, &["0418.d6a1.223b"])
                .await
                .unwrap();
        assert_eq!((c.cpes.as_slice(), c.notify_outages), (&["04:18:d6:a1:22:3b".to_string()][..], false));
        let c = update(&db, c.id, &input("Ada")).await.unwrap();
        assert!(!c.notify_outages, "an update that does not say keeps the opt-out");
        // Replacing the CPEs: a bad MAC changes nothing; otherwise exactly the new set.
        assert_eq!(set_cpes(&db, c.id, &["06:4d:41:01:01:01", "bad"]).await.unwrap_err().field(), Some("mac"));
        assert_eq!(get(&db, c.id).await.unwrap().unwrap().cpes, vec!["04:18:d6:a1:22:3b"]);
        set_cpes(&db, c.id, &["06-4D-41-01-01-01"]).await.unwrap();
        assert_eq!(get(&db, c.id).await.unwrap().unwrap().cpes, vec!["06:4d:41:01:01:01"]);
        assert!(matches!(set_cpes(&db, 9999, &[]).await, Err(StoreError::NotFound(_))));
        assert_eq!(at_site(&db, 1, 10).await.unwrap().len(), 0, "no customer at a site that does not exist");
    }

    #[tokio::test]
    async fn a_corrupt_stored_status_is_corrupt_not_invalid() {
        let (_dir, db) = db().await;
        let c = create(&db, &input("Ada")).await.unwrap();
        sqlx::query("UPDATE customers SET status = 'vip' WHERE id = $1").bind(c.id).execute(&db.pool).await.unwrap();
        let e = get(&db, c.id).await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        assert!(matches!(search(&db, "", 10, 0).await, Err(StoreError::Corrupt(_))));
    }
}
