//! The column mapping of a generic CSV: which column holds which field,
//! guessed from the header names and corrected by the person importing
//! (`--map field=column` on the CLI, a select per field on the page).

use serde::Serialize;

/// A field of the model a generic CSV column can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Field {
    ExternalId,
    Name,
    FirstName,
    LastName,
    Company,
    Email,
    Phone,
    Street,
    City,
    Zip,
    Lat,
    Lon,
    Site,
    Status,
    Balance,
    Plan,
    Price,
    DownMbps,
    UpMbps,
    Mac,
    Ip,
}

impl Field {
    pub const ALL: &'static [Field] = &[
        Field::ExternalId,
        Field::Name,
        Field::FirstName,
        Field::LastName,
        Field::Company,
        Field::Email,
        Field::Phone,
        Field::Street,
        Field::City,
        Field::Zip,
        Field::Lat,
        Field::Lon,
        Field::Site,
        Field::Status,
        Field::Balance,
        Field::Plan,
        Field::Price,
        Field::DownMbps,
        Field::UpMbps,
        Field::Mac,
        Field::Ip,
    ];

    /// The name on the CLI (`--map email=E-mail`) and in forms (`map_email`).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::ExternalId => "id",
            Field::Name => "name",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Company => "company",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Street => "street",
            Field::City => "city",
            Field::Zip => "zip",
            Field::Lat => "lat",
            Field::Lon => "lon",
            Field::Site => "site",
            Field::Status => "status",
            Field::Balance => "balance",
            Field::Plan => "plan",
            Field::Price => "price",
            Field::DownMbps => "down_mbps",
            Field::UpMbps => "up_mbps",
            Field::Mac => "mac",
            Field::Ip => "ip",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// What the field means, for the mapping form.
    pub fn label(self) -> &'static str {
        match self {
            Field::ExternalId => "Customer id in the old system (required)",
            Field::Name => "Full name",
            Field::FirstName => "First name",
            Field::LastName => "Last name",
            Field::Company => "Company",
            Field::Email => "Email",
            Field::Phone => "Phone",
            Field::Street => "Street address",
            Field::City => "City",
            Field::Zip => "ZIP / postcode",
            Field::Lat => "Latitude",
            Field::Lon => "Longitude",
            Field::Site => "Tower site",
            Field::Status => "Status (active, suspended, cancelled, lead)",
            Field::Balance => "Balance owed (negative: in credit)",
            Field::Plan => "Plan name",
            Field::Price => "Monthly price",
            Field::DownMbps => "Download speed (Mbit/s)",
            Field::UpMbps => "Upload speed (Mbit/s)",
            Field::Mac => "CPE MAC",
            Field::Ip => "CPE IP",
        }
    }

    /// Header names (lower case, `_`/`-`/space-insensitive) that guess it.
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::ExternalId => {
                &["id", "customerid", "clientid", "externalid", "account", "accountnumber", "accountno", "custid"]
            }
            Field::Name => &["name", "fullname", "customer", "customername", "client", "clientname"],
            Field::FirstName => &["firstname", "givenname", "first"],
            Field::LastName => &["lastname", "surname", "familyname", "last"],
            Field::Company => &["company", "companyname", "business", "organisation", "organization"],
            Field::Email => &["email", "emailaddress", "mail"],
            Field::Phone => &["phone", "telephone", "tel", "mobile", "phonenumber", "cell"],
            Field::Street => &["street", "street1", "address", "address1", "streetaddress", "serviceaddress"],
            Field::City => &["city", "town"],
            Field::Zip => &["zip", "zipcode", "postcode", "postalcode"],
            Field::Lat => &["lat", "latitude", "gpslat"],
            Field::Lon => &["lon", "lng", "long", "longitude", "gpslon", "gpslng"],
            Field::Site => &["site", "tower", "sitename", "towersite", "pop"],
            Field::Status => &["status", "state", "accountstatus"],
            Field::Balance => &["balance", "owed", "amountowed", "outstanding"],
            Field::Plan => &["plan", "planname", "tariff", "package", "serviceplan", "service"],
            Field::Price => &["price", "monthlyprice", "rate", "monthlyrate", "amount", "fee"],
            Field::DownMbps => &["downmbps", "download", "downloadmbps", "down", "downloadspeed", "downspeed"],
            Field::UpMbps => &["upmbps", "upload", "uploadmbps", "up", "uploadspeed", "upspeed"],
            Field::Mac => &["mac", "cpemac", "macaddress", "radiomac"],
            Field::Ip => &["ip", "cpeip", "ipaddress", "ipv4", "radioip"],
        }
    }
}

fn squash(h: &str) -> String {
    h.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Which column (by index in the header) holds which field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub columns: Vec<(Field, usize)>,
}

/// Why a `field=column` mapping was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("{0:?} is not a field (one of: {1})")]
    UnknownField(String, String),
    #[error("{field}: the file has no column {column:?}")]
    UnknownColumn { field: &'static str, column: String },
    #[error("{0:?} is not field=column")]
    Shape(String),
}

impl Mapping {
    /// The column of `f`, if mapped.
    pub fn get(&self, f: Field) -> Option<usize> {
        self.columns.iter().find(|(g, _)| *g == f).map(|(_, c)| *c)
    }

    /// Maps `f` to `column` (replacing an earlier choice), or unmaps it.
    pub fn set(&mut self, f: Field, column: Option<usize>) {
        self.columns.retain(|(g, _)| *g != f);
        if let Some(c) = column {
            self.columns.push((f, c));
            self.columns.sort();
        }
    }

    /// The guess from header names: exact (case, space, `_` and `-`
    /// ignored) synonyms; each column serves at most one field.
    pub fn guess(headers: &[String]) -> Mapping {
        let mut m = Mapping::default();
        let mut used = vec![false; headers.len()];
        for &f in Field::ALL {
            let found = f
                .synonyms()
                .iter()
                .find_map(|syn| headers.iter().enumerate().position(|(i, h)| !used[i] && squash(h) == *syn));
            if let Some(i) = found {
                used[i] = true;
                m.set(f, Some(i));
            }
        }
        m
    }

    /// The guess corrected by `field=column` pairs (a column by its header
    /// name, case-insensitive; an empty column unmaps the field).
    pub fn with_overrides<'a>(
        headers: &[String],
        pairs: impl IntoIterator<Item = &'a str>,
    ) -> Result<Mapping, MappingError> {
        let mut m = Mapping::guess(headers);
        for pair in pairs {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (f, col) = pair.split_once('=').ok_or_else(|| MappingError::Shape(pair.to_string()))?;
            let field = Field::parse(f).ok_or_else(|| {
                let all: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
                MappingError::UnknownField(f.trim().to_string(), all.join(", "))
            })?;
            let col = col.trim();
            if col.is_empty() {
                m.set(field, None);
                continue;
            }
            let i = headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(col))
                .ok_or_else(|| MappingError::UnknownColumn { field: field.as_str(), column: col.to_string() })?;
            m.set(field, Some(i));
        }
        Ok(m)
    }
}
