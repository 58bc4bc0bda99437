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
//! here, with a message naming the field.

use crate::db::{Db, StoreError, now_ms};
use mast_shared::{format_mac, parse_mac};
use serde::{Deserialize, Serialize};
use sqlx::Row;

pub const STATUSES: [&str; 4] = ["lead", "active", "suspended", "cancelled"];

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
    /// Outage and maintenance notices (default true; false = opted out).
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
    pub status: &'static str,
    pub site: Option<String>,
    pub notes: Option<String>,
    pub notify_outages: bool,
}

impl CustomerInput {
    /// Pure validation; the error names the field.
    pub fn validate(&self) -> Result<Valid, StoreError> {
        let bad = |m: &str| Err(StoreError::invalid_msg(m.to_string()));
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return bad("name: 1-200 characters");
        }
        let email = blank_to_none(&self.email);
        if let Some(e) = &email {
            let ok = e.len() <= 254
                && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
                && !e.chars().any(|c| c.is_whitespace() || c == ',' || c == ';');
            if !ok {
                return bad("email: not an email address");
            }
        }
        let phone = blank_to_none(&self.phone);
        if let Some(p) = &phone {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            if !(5..=20).contains(&digits) || !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
                return bad("phone: 5-20 digits, with + - ( ) . or spaces");
            }
        }
        let address = blank_to_none(&self.address);
        if address.as_ref().is_some_and(|a| a.chars().count() > 500) {
            return bad("address: at most 500 characters");
        }
        let coords = match (self.lat, self.lon) {
            (None, None) => None,
            (Some(lat), Some(lon)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => {
                Some((lat, lon))
            }
            (Some(_), Some(_)) => return bad("coordinates: latitude -90..90, longitude -180..180"),
            _ => return bad("coordinates: give both latitude and longitude"),
        };
        let status = match blank_to_none(&self.status) {
            None => "active",
            Some(s) => match STATUSES.iter().find(|x| **x == s.as_str()) {
                Some(x) => x,
                None => return bad("status: lead, active, suspended or cancelled"),
            },
        };
        let notes = blank_to_none(&self.notes);
        if notes.as_ref().is_some_and(|n| n.len() > 10_000) {
            return bad("notes: at most 10,000 characters");
        }
        Ok(Valid {
            name: name.to_string(),
            email,
            phone,
            address,
            coords,
            status,
            site: blank_to_none(&self.site),
            notes,
            notify_outages: self.notify_outages.unwrap_or(true),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub status: String,
    pub site_id: Option<i64>,
    pub site: Option<String>,
    pub notes: Option<String>,
    /// Gets outage and maintenance notices (false: opted out).
    pub notify_outages: bool,
    /// MACs of the CPEs that serve this customer.
    pub cpes: Vec<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

async fn site_id(db: &Db, site: &Option<String>) -> Result<Option<i64>, StoreError> {
    match site {
        None => Ok(None),
        Some(name) => match crate::monitoring::site_by_name(db, name).await? {
            Some(s) => Ok(Some(s.id)),
            None => Err(StoreError::invalid_msg(format!("site: no site named {name:?}"))),
        },
    }
}

pub async fn create(db: &Db, input: &CustomerInput) -> Result<Customer, StoreError> {
    let v = input.validate()?;
    let site_id = site_id(db, &v.site).await?;
    let now = now_ms();
    let id: i64 = sqlx::query(
        "INSERT INTO customers (name, email, phone, address, lat, lon, status, site_id, notes, created_ms, updated_ms, \
         notify_outages) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING id",
    )
    .bind(&v.name)
    .bind(&v.email)
    .bind(&v.phone)
    .bind(&v.address)
    .bind(v.coords.map(|c| c.0))
    .bind(v.coords.map(|c| c.1))
    .bind(v.status)
    .bind(site_id)
    .bind(&v.notes)
    .bind(now)
    .bind(i64::from(v.notify_outages))
    .fetch_one(&db.pool)
    .await?
    .try_get("id")?;
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("customer vanished".into()))
}

pub async fn update(db: &Db, id: i64, input: &CustomerInput) -> Result<Customer, StoreError> {
    let mut v = input.validate()?;
    if input.notify_outages.is_none() {
        // Not given: keep the customer's choice.
        v.notify_outages = get(db, id).await?.is_none_or(|c| c.notify_outages);
    }
    let site_id = site_id(db, &v.site).await?;
    let n = sqlx::query(
        "UPDATE customers SET name = $1, email = $2, phone = $3, address = $4, lat = $5, lon = $6, status = $7, \
         site_id = $8, notes = $9, updated_ms = $10, notify_outages = $12 WHERE id = $11",
    )
    .bind(&v.name)
    .bind(&v.email)
    .bind(&v.phone)
    .bind(&v.address)
    .bind(v.coords.map(|c| c.0))
    .bind(v.coords.map(|c| c.1))
    .bind(v.status)
    .bind(site_id)
    .bind(&v.notes)
    .bind(now_ms())
    .bind(id)
    .bind(i64::from(v.notify_outages))
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::invalid_msg(format!("no customer {id}")));
    }
    get(db, id).await?.ok_or_else(|| StoreError::Corrupt("customer vanished".into()))
}

/// Links a CPE (by MAC, any notation) to a customer; a CPE serves one
/// customer, so linking it elsewhere moves it. Returns the normalised MAC.
pub async fn link_cpe(db: &Db, customer_id: i64, mac: &str) -> Result<String, StoreError> {
    let m = parse_mac(mac).ok_or_else(|| StoreError::invalid_msg(format!("cpe: {mac:?} is not a MAC address")))?;
    let m = format_mac(&m);
    if get(db, customer_id).await?.is_none() {
        return Err(StoreError::NotFound(format!("no customer {customer_id}")));
    }
    sqlx::query(
        "INSERT INTO customer_devices (mac, customer_id, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (mac) DO UPDATE SET customer_id = excluded.customer_id",
    )
    .bind(&m)
    .bind(customer_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(m)
}

pub async fn unlink_cpe(db: &Db, customer_id: i64, mac: &str) -> Result<bool, StoreError> {
    let Some(m) = parse_mac(mac) else { return Ok(false) };
    Ok(sqlx::query("DELETE FROM customer_devices WHERE mac = $1 AND customer_id = $2")
        .bind(format_mac(&m))
        .bind(customer_id)
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

const COLS: &str = "c.id, c.name, c.email, c.phone, c.address, c.lat, c.lon, c.status, c.site_id, s.name AS site, \
    c.notes, c.notify_outages, c.created_ms, c.updated_ms";

fn row(r: &sqlx::any::AnyRow) -> Result<Customer, sqlx::Error> {
    Ok(Customer {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        phone: r.try_get("phone")?,
        address: r.try_get("address")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
        status: r.try_get("status")?,
        site_id: r.try_get("site_id")?,
        site: r.try_get("site")?,
        notes: r.try_get("notes")?,
        notify_outages: r.try_get::<i64, _>("notify_outages")? != 0,
        cpes: Vec::new(),
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

async fn with_cpes(db: &Db, mut list: Vec<Customer>) -> Result<Vec<Customer>, StoreError> {
    if list.is_empty() {
        return Ok(list);
    }
    let (lo, hi) = list.iter().fold((i64::MAX, i64::MIN), |(lo, hi), c| (lo.min(c.id), hi.max(c.id)));
    let rows = sqlx::query(
        "SELECT customer_id, mac FROM customer_devices WHERE customer_id >= $1 AND customer_id <= $2 ORDER BY mac",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&db.pool)
    .await?;
    let mut by: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for r in rows {
        by.entry(r.try_get("customer_id")?).or_default().push(r.try_get("mac")?);
    }
    for c in &mut list {
        c.cpes = by.remove(&c.id).unwrap_or_default();
    }
    Ok(list)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Customer>, StoreError> {
    let sql = format!("SELECT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id WHERE c.id = $1");
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await? else {
        return Ok(None);
    };
    Ok(with_cpes(db, vec![row(&r)?]).await?.pop())
}

/// Customers by name, email, phone or address (case-insensitive substring)
/// or by a CPE MAC in any notation; all of them when `q` is empty.
pub async fn search(db: &Db, q: &str, limit: i64, offset: i64) -> Result<Vec<Customer>, StoreError> {
    let q = q.trim();
    let like = format!("%{}%", q.to_lowercase().replace(['%', '_'], ""));
    let mac_like = match crate::monitoring::inventory::mac_fragment(q) {
        Some(hex) => format!("%{hex}%"),
        None => "-".into(),
    };
    let sql = format!(
        "SELECT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id WHERE \
         LOWER(c.name) LIKE $1 OR LOWER(COALESCE(c.email, '')) LIKE $1 OR COALESCE(c.phone, '') LIKE $1 \
         OR LOWER(COALESCE(c.address, '')) LIKE $1 \
         OR c.id IN (SELECT customer_id FROM customer_devices WHERE REPLACE(mac, ':', '') LIKE $2) \
         ORDER BY c.name, c.id LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(like)
        .bind(mac_like)
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await?;
    let list = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
    with_cpes(db, list).await
}

/// Customers with coordinates, for the map: (id, lat, lon, name).
pub async fn located(db: &Db, limit: i64) -> Result<Vec<(i64, f64, f64, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, lat, lon, name FROM customers WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("lat")?, r.try_get("lon")?, r.try_get("name")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The customers a device serves (through the MACs of its inventory records).
pub async fn of_device(db: &Db, device_id: i64) -> Result<Vec<Customer>, StoreError> {
    let sql = format!(
        "SELECT DISTINCT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id \
         JOIN customer_devices cd ON cd.customer_id = c.id \
         WHERE cd.mac IN (SELECT mac FROM inventory WHERE device_id = $1 UNION SELECT mac FROM devices WHERE id = $1 AND mac IS NOT NULL) \
         ORDER BY c.name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(device_id).fetch_all(&db.pool).await?;
    let list = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
    with_cpes(db, list).await
}

/// Customers served by the devices an incident affects.
pub async fn of_incident(db: &Db, incident_id: i64) -> Result<Vec<Customer>, StoreError> {
    let sql = format!(
        "SELECT {COLS} FROM customers c LEFT JOIN sites s ON s.id = c.site_id WHERE c.id IN \
         (SELECT cd.customer_id FROM incident_devices x JOIN devices d ON d.id = x.device_id \
          JOIN customer_devices cd ON cd.mac = d.mac WHERE x.incident_id = $1) ORDER BY c.name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(incident_id).fetch_all(&db.pool).await?;
    let list = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
    with_cpes(db, list).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> CustomerInput {
        CustomerInput { name: name.into(), ..Default::default() }
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(input(" Ada Okafor ").validate().unwrap().name, "Ada Okafor");
        assert_eq!(input("x").validate().unwrap().status, "active");
        let cases: [(CustomerInput, &str); 7] = [
            (input("  "), "name"),
            (CustomerInput { email: Some("nope".into()), ..input("a") }, "email"),
            (CustomerInput { email: Some("a@b.c, d@e.f".into()), ..input("a") }, "email"),
            (CustomerInput { phone: Some("12".into()), ..input("a") }, "phone"),
            (CustomerInput { lat: Some(91.0), lon: Some(0.0), ..input("a") }, "coordinates"),
            (CustomerInput { lat: Some(1.0), ..input("a") }, "coordinates"),
            (CustomerInput { status: Some("gone".into()), ..input("a") }, "status"),
        ];
        for (c, field) in cases {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        }
        let ok = CustomerInput {
            email: Some("ada@example.org".into()),
            phone: Some("+1 (555) 010-2030".into()),
            lat: Some(44.1),
            lon: Some(-93.2),
            status: Some("lead".into()),
            ..input("Ada")
        };
        assert!(ok.validate().is_ok());
        let blank = CustomerInput { email: Some("  ".into()), ..input("a") };
        assert_eq!(blank.validate().unwrap().email, None, "blank fields are absent, not invalid");
    }

    #[tokio::test]
    async fn customers_link_cpes_and_are_found_by_any_field() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let c =
            create(&db, &CustomerInput { email: Some("ada@example.org".into()), ..input("Ada Okafor") }).await.unwrap();
        assert_eq!(link_cpe(&db, c.id, "24-A4-3C-7E-01-9A").await.unwrap(), "24:a4:3c:7e:01:9a");
        assert!(link_cpe(&db, c.id, "not a mac").await.is_err());
        assert!(link_cpe(&db, c.id + 100, "24:a4:3c:00:00:01").await.is_err());
        let other = create(&db, &input("Bo Lindqvist")).await.unwrap();
        for q in ["okafor", "ADA@", "24a4.3c7e.019a", "7e:01:9a"] {
            let found = search(&db, q, 10, 0).await.unwrap();
            assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c.id], "{q}");
            assert_eq!(found[0].cpes, vec!["24:a4:3c:7e:01:9a"]);
        }
        assert_eq!(search(&db, "", 10, 0).await.unwrap().len(), 2);
        // A CPE serves one customer: linking it elsewhere moves it.
        link_cpe(&db, other.id, "24:a4:3c:7e:01:9a").await.unwrap();
        assert!(get(&db, c.id).await.unwrap().unwrap().cpes.is_empty());
        assert!(unlink_cpe(&db, other.id, "24a43c7e019a").await.unwrap());
        let moved =
            update(&db, c.id, &CustomerInput { status: Some("suspended".into()), ..input("Ada O.") }).await.unwrap();
        assert_eq!((moved.name.as_str(), moved.status.as_str()), ("Ada O.", "suspended"));
        assert!(update(&db, 9999, &input("x")).await.is_err());
    }
}
