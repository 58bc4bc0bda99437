//! The three formats: a generic CSV (one customer per row, through a
//! [`Mapping`]), UISP CRM (clients + services) and Splynx (customers +
//! internet services + internet tariffs). Column names are the vendors' API
//! field names (`tests/fixtures/import/README.md`).

use super::cells::{Row, Table};
use super::mapping::{Field, Mapping};
use super::{Cpe, Customer, FileKind, Parsed, Plan, Problem, Service, Status};
use mast_billing_core::money::Currency;
use std::collections::{BTreeMap, HashMap};

/// Gathers customers and services while checking what spans lines:
/// duplicate ids, one price per plan name.
struct Builder {
    parsed: Parsed,
    by_id: HashMap<String, usize>,
    plans: HashMap<String, (Plan, FileKind, usize)>,
    service_ids: HashMap<String, usize>,
    /// MAC -> (file, line) where it first appeared: a CPE serves one customer.
    macs: HashMap<String, (FileKind, usize)>,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            parsed: Parsed::default(),
            by_id: HashMap::new(),
            plans: HashMap::new(),
            service_ids: HashMap::new(),
            macs: HashMap::new(),
        }
    }

    fn problem(&mut self, file: FileKind, line: usize, column: Option<&str>, reason: impl Into<String>) {
        self.parsed.problems.push(Problem { file, line, column: column.map(str::to_string), reason: reason.into() });
    }

    fn table(&mut self, text: &str, file: FileKind) -> Option<Table> {
        match Table::read(text, file) {
            Ok(t) => Some(t),
            Err(p) => {
                self.parsed.problems.push(p);
                None
            }
        }
    }

    /// Reports each required column the table lacks (on line 1); true if all are there.
    fn require(&mut self, t: &Table, cols: &[(&str, Option<usize>)]) -> bool {
        let mut ok = true;
        for (name, c) in cols {
            if c.is_none() {
                self.problem(t.file, 1, None, format!("the header has no {name} column"));
                ok = false;
            }
        }
        ok
    }

    /// The CPE's MAC is not another line's; reports it otherwise.
    fn mac_is_new(&mut self, cpe: &Cpe) -> bool {
        let Some(mac) = &cpe.mac else { return true };
        match self.macs.get(mac) {
            Some(&(f, l)) => {
                let why = format!("MAC {mac} is also on {} line {l} (a CPE serves one customer)", f.as_str());
                self.problem(cpe.file, cpe.line, None, why);
                false
            }
            None => {
                self.macs.insert(mac.clone(), (cpe.file, cpe.line));
                true
            }
        }
    }

    fn add_customer(&mut self, row: Row<'_>, c: Option<Customer>, id_col: Option<usize>) {
        let Row { problems, table, line, .. } = row;
        if !problems.is_empty() {
            self.parsed.problems.extend(problems);
            return;
        }
        let Some(c) = c else { return };
        if let Some(&first) = self.by_id.get(&c.external_id) {
            let first_line = self.parsed.customers[first].line;
            let column = id_col.and_then(|i| table.headers.get(i)).map(String::as_str);
            self.problem(table.file, line, column, format!("id {:?} is also on line {first_line}", c.external_id));
            return;
        }
        if !c.cpes.iter().all(|cpe| self.mac_is_new(cpe)) {
            return;
        }
        self.by_id.insert(c.external_id.clone(), self.parsed.customers.len());
        self.parsed.customers.push(c);
    }

    /// A plan name means one price and one pair of speeds in the whole import.
    fn check_plan(&mut self, plan: &Plan, file: FileKind, line: usize, col: Option<&str>) -> bool {
        match self.plans.get(&plan.name.to_lowercase()) {
            Some((p, f, l)) if p != plan => {
                let why = format!(
                    "plan {:?} differs from {} line {l} (price {} vs {}, speeds {}/{} vs {}/{} kbit/s)",
                    plan.name,
                    f.as_str(),
                    plan.price_minor,
                    p.price_minor,
                    plan.down_kbps,
                    plan.up_kbps,
                    p.down_kbps,
                    p.up_kbps
                );
                self.problem(file, line, col, why);
                false
            }
            Some(_) => true,
            None => {
                self.plans.insert(plan.name.to_lowercase(), (plan.clone(), file, line));
                true
            }
        }
    }

    fn attach(&mut self, file: FileKind, line: usize, customer: &str, svc: Option<Service>, cpe: Option<Cpe>) {
        let Some(&i) = self.by_id.get(customer) else {
            self.problem(file, line, None, format!("no customer with id {customer:?} in the customers file"));
            return;
        };
        if let Some(s) = svc {
            if let Some(&first) = self.service_ids.get(&s.external_id) {
                self.problem(file, line, None, format!("service id {:?} is also on line {first}", s.external_id));
                return;
            }
            self.service_ids.insert(s.external_id.clone(), line);
            self.parsed.customers[i].services.push(s);
        }
        if let Some(c) = cpe
            && self.mac_is_new(&c)
        {
            self.parsed.customers[i].cpes.push(c);
        }
    }
}

fn address(parts: [Option<String>; 4]) -> Option<String> {
    let [street, street2, city, zip] = parts;
    let mut out: Vec<String> = Vec::new();
    out.extend(street);
    out.extend(street2);
    let place = [city, zip].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if !place.is_empty() {
        out.push(place);
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// `lat` and `lon` cells: both or neither, each in range.
fn coords(row: &mut Row<'_>, lat_c: Option<usize>, lon_c: Option<usize>) -> Option<(f64, f64)> {
    let lat = row.number(lat_c);
    let lon = row.number(lon_c);
    check_coords(row, lat, lon, lat_c, lon_c)
}

fn check_coords(
    row: &mut Row<'_>,
    lat: Option<f64>,
    lon: Option<f64>,
    lat_c: Option<usize>,
    lon_c: Option<usize>,
) -> Option<(f64, f64)> {
    match (lat, lon) {
        (Some(a), _) if !(-90.0..=90.0).contains(&a) => {
            row.bad(lat_c, "latitude must be between -90 and 90");
            None
        }
        (_, Some(o)) if !(-180.0..=180.0).contains(&o) => {
            row.bad(lon_c, "longitude must be between -180 and 180");
            None
        }
        // 0,0 is what exports hold for "not located".
        (Some(a), Some(o)) if a == 0.0 && o == 0.0 => None,
        (Some(a), Some(o)) => Some((a, o)),
        _ => None,
    }
}

fn status_word(row: &mut Row<'_>, col: Option<usize>) -> Status {
    let Some(v) = row.raw(col) else { return Status::Active };
    match v.to_ascii_lowercase().as_str() {
        "active" | "new" | "online" | "1" => Status::Active,
        "lead" | "prospect" | "potential" => Status::Lead,
        "suspended" | "blocked" | "stopped" | "disabled" => Status::Suspended,
        "cancelled" | "canceled" | "terminated" | "inactive" | "archived" | "closed" => Status::Cancelled,
        other => {
            let other = other.chars().take(40).collect::<String>();
            row.bad(col, format!("{other:?} is not a status (active, suspended, cancelled, lead)"));
            Status::Active
        }
    }
}

/// One row of a generic CSV: a customer, and their plan and CPE if the row has them.
pub fn generic(text: &str, mapping: Option<&Mapping>, currency: Currency) -> Parsed {
    let mut b = Builder::new();
    let Some(t) = b.table(text, FileKind::Customers) else { return b.parsed };
    let guessed;
    let m = match mapping {
        Some(m) => m,
        None => {
            guessed = Mapping::guess(&t.headers);
            &guessed
        }
    };
    for (f, c) in &m.columns {
        if let Some(h) = t.headers.get(*c) {
            b.parsed.columns.insert(*f, h.clone());
        }
    }
    let col = |f: Field| m.get(f).filter(|&c| c < t.headers.len());
    let has_name = col(Field::Name).is_some()
        || col(Field::Company).is_some()
        || (col(Field::FirstName).is_some() || col(Field::LastName).is_some());
    let mut ok = b.require(&t, &[("customer id", col(Field::ExternalId))]);
    if !has_name {
        b.problem(t.file, 1, None, "no column is mapped to a name (name, first/last name or company)");
        ok = false;
    }
    if col(Field::Plan).is_some() {
        ok &= b.require(
            &t,
            &[
                ("price", col(Field::Price)),
                ("download speed", col(Field::DownMbps)),
                ("upload speed", col(Field::UpMbps)),
            ],
        );
    }
    if !ok {
        return b.parsed;
    }
    for (line, cells) in &t.rows {
        let mut row = Row::new(&t, *line, cells);
        let id = row.required(col(Field::ExternalId), "customer id");
        let name = person(&mut row, col(Field::Name), col(Field::FirstName), col(Field::LastName), col(Field::Company));
        let email = row.text(col(Field::Email));
        let phone = row.text(col(Field::Phone));
        let addr = address([row.text(col(Field::Street)), None, row.text(col(Field::City)), row.text(col(Field::Zip))]);
        let xy = coords(&mut row, col(Field::Lat), col(Field::Lon));
        let site = row.text(col(Field::Site));
        let status = status_word(&mut row, col(Field::Status));
        let balance = row.amount(col(Field::Balance), currency);
        let plan = match row.text(col(Field::Plan)) {
            None => None,
            Some(name) => {
                let price = row.amount(col(Field::Price), currency);
                if row.raw(col(Field::Price)).is_none() {
                    row.bad(col(Field::Price), "a plan needs its price");
                }
                let down = row.speed(col(Field::DownMbps), 1.0, "download");
                let up = row.speed(col(Field::UpMbps), 1.0, "upload");
                match (price, down, up) {
                    (Some(p), _, _) if p < 0 => {
                        row.bad(col(Field::Price), "the price must not be negative");
                        None
                    }
                    (Some(price_minor), Some(down_kbps), Some(up_kbps)) => {
                        Some(Plan { name, price_minor, down_kbps, up_kbps })
                    }
                    _ => None,
                }
            }
        };
        let mac = row.mac(col(Field::Mac));
        let ip = row.ip(col(Field::Ip));
        let plan_col = col(Field::Plan).and_then(|c| t.headers.get(c)).cloned();
        if let Some(p) = &plan
            && row.problems.is_empty()
            && !b.check_plan(p, t.file, *line, plan_col.as_deref())
        {
            continue;
        }
        let customer = match (id, name) {
            (Some(external_id), Some(name)) => Some(Customer {
                line: *line,
                services: plan
                    .map(|plan| Service { file: t.file, line: *line, external_id: external_id.clone(), plan })
                    .into_iter()
                    .collect(),
                cpes: (mac.is_some() || ip.is_some())
                    .then_some(Cpe { file: t.file, line: *line, mac, ip })
                    .into_iter()
                    .collect(),
                external_id,
                name,
                email,
                phone,
                address: addr,
                coords: xy,
                site,
                status,
                balance_minor: balance,
            }),
            _ => None,
        };
        b.add_customer(row, customer, col(Field::ExternalId));
    }
    b.parsed
}

/// The customer's name: the name column, else first + last, else company.
fn person(
    row: &mut Row<'_>,
    name: Option<usize>,
    first: Option<usize>,
    last: Option<usize>,
    company: Option<usize>,
) -> Option<String> {
    if let Some(n) = row.text(name) {
        return Some(n);
    }
    let person = [row.text(first), row.text(last)].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if !person.is_empty() {
        return Some(person);
    }
    if let Some(c) = row.text(company) {
        return Some(c);
    }
    row.bad(name.or(first).or(company), "the customer has no name");
    None
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v.map(str::to_ascii_lowercase).as_deref(), Some("1" | "true" | "yes"))
}

/// UISP CRM: a clients file and a services file (API field names).
pub fn uisp(clients: &str, services: &str, currency: Currency) -> Parsed {
    let mut b = Builder::new();
    let Some(t) = b.table(clients, FileKind::Customers) else { return b.parsed };
    let id_c = t.col(&["id"]);
    let c = |n: &str| t.col(&[n]);
    let (first_c, last_c, company_c) = (c("firstName"), c("lastName"), c("companyName"));
    if !b.require(&t, &[("id", id_c)]) {
        return b.parsed;
    }
    if first_c.is_none() && last_c.is_none() && company_c.is_none() {
        b.problem(t.file, 1, None, "the header has no firstName, lastName or companyName column");
        return b.parsed;
    }
    for (f, col) in [(Field::ExternalId, id_c), (Field::FirstName, first_c), (Field::LastName, last_c)]
        .into_iter()
        .chain([(Field::Company, company_c), (Field::Email, c("email")), (Field::Phone, c("phone"))])
    {
        if let Some(h) = col.and_then(|i| t.headers.get(i)) {
            b.parsed.columns.insert(f, h.clone());
        }
    }
    for (line, cells) in &t.rows {
        let mut row = Row::new(&t, *line, cells);
        let id = row.required(id_c, "id");
        // clientType 2 is a company: its name is the company's.
        let company_first = row.raw(c("clientType")) == Some("2");
        let name = if company_first {
            person(&mut row, company_c, first_c, last_c, None)
        } else {
            person(&mut row, None, first_c, last_c, company_c)
        };
        let email = row.text(c("email"));
        let phone = row.text(c("phone"));
        let addr =
            address([row.text(c("street1")), row.text(c("street2")), row.text(c("city")), row.text(c("zipCode"))]);
        let xy = coords(&mut row, c("clientLatitude"), c("clientLongitude"));
        let site = row.text(c("site"));
        let status = if truthy(row.raw(c("isArchived"))) {
            Status::Cancelled
        } else if truthy(row.raw(c("isLead"))) {
            Status::Lead
        } else {
            Status::Active
        };
        // accountBalance: negative = owes (UISP), the ledger's sign is the opposite.
        let balance = row.amount(c("accountBalance"), currency).and_then(i64::checked_neg);
        let customer = match (id, name) {
            (Some(external_id), Some(name)) => Some(Customer {
                line: *line,
                external_id,
                name,
                email,
                phone,
                address: addr,
                coords: xy,
                site,
                status,
                balance_minor: balance,
                services: Vec::new(),
                cpes: Vec::new(),
            }),
            _ => None,
        };
        b.add_customer(row, customer, id_c);
    }
    let Some(s) = b.table(services, FileKind::Services) else { return b.parsed };
    let sc = |n: &str| s.col(&[n]);
    let plan_c = s.col(&["servicePlanName", "name"]);
    let required = [
        ("id", sc("id")),
        ("clientId", sc("clientId")),
        ("servicePlanName (or name)", plan_c),
        ("price", sc("price")),
        ("downloadSpeed", sc("downloadSpeed")),
        ("uploadSpeed", sc("uploadSpeed")),
    ];
    if !b.require(&s, &required) {
        return b.parsed;
    }
    for (line, cells) in &s.rows {
        let mut row = Row::new(&s, *line, cells);
        // status: 2 ended, 5 obsolete, 7 quoted, 8 inactive: nothing to bill.
        if let Some(st @ ("2" | "5" | "7" | "8")) = row.raw(sc("status")) {
            let why = format!("service status {st} (ended, obsolete, quoted or inactive)");
            b.parsed.skipped.push((FileKind::Services, *line, why));
            continue;
        }
        let id = row.required(sc("id"), "id");
        let client = row.required(sc("clientId"), "clientId");
        let plan = service_plan(&mut row, plan_c, sc("price"), sc("downloadSpeed"), sc("uploadSpeed"), 1.0, currency);
        let mac = row.mac(sc("macAddress"));
        let ip = row.ip(sc("ipRange"));
        finish_service(&mut b, row, id, client, plan, mac, ip, plan_c);
    }
    b.parsed
}

#[allow(clippy::too_many_arguments)]
fn finish_service(
    b: &mut Builder,
    row: Row<'_>,
    id: Option<String>,
    customer: Option<String>,
    plan: Option<Plan>,
    mac: Option<String>,
    ip: Option<String>,
    plan_c: Option<usize>,
) {
    let (file, line) = (row.table.file, row.line);
    let plan_col = plan_c.and_then(|c| row.table.headers.get(c)).cloned();
    if !row.problems.is_empty() {
        b.parsed.problems.extend(row.problems);
        return;
    }
    let (Some(id), Some(customer), Some(plan)) = (id, customer, plan) else { return };
    if !b.check_plan(&plan, file, line, plan_col.as_deref()) {
        return;
    }
    let cpe = (mac.is_some() || ip.is_some()).then_some(Cpe { file, line, mac, ip });
    b.attach(file, line, &customer, Some(Service { file, line, external_id: id, plan }), cpe);
}

fn service_plan(
    row: &mut Row<'_>,
    name_c: Option<usize>,
    price_c: Option<usize>,
    down_c: Option<usize>,
    up_c: Option<usize>,
    scale: f64,
    currency: Currency,
) -> Option<Plan> {
    let name = row.required(name_c, "plan name");
    let price = row.amount(price_c, currency);
    if row.raw(price_c).is_none() {
        row.bad(price_c, "the price is empty");
    }
    if price.is_some_and(|p| p < 0) {
        row.bad(price_c, "the price must not be negative");
        return None;
    }
    let down = row.speed(down_c, scale, "download");
    let up = row.speed(up_c, scale, "upload");
    Some(Plan { name: name?, price_minor: price?, down_kbps: down?, up_kbps: up? })
}

/// Splynx: customers, internet services and internet tariffs (API field names).
pub fn splynx(customers: &str, services: &str, tariffs: &str, currency: Currency) -> Parsed {
    let mut b = Builder::new();
    // Tariffs first: services name them by id.
    let mut tariff_by_id: BTreeMap<String, Plan> = BTreeMap::new();
    if let Some(t) = b.table(tariffs, FileKind::Tariffs) {
        let c = |n: &str| t.col(&[n]);
        let req = [
            ("id", c("id")),
            ("title", c("title")),
            ("price", c("price")),
            ("speed_download", c("speed_download")),
            ("speed_upload", c("speed_upload")),
        ];
        if b.require(&t, &req) {
            for (line, cells) in &t.rows {
                let mut row = Row::new(&t, *line, cells);
                let id = row.required(c("id"), "id");
                // Splynx speeds are kbit/s.
                let plan = service_plan(
                    &mut row,
                    c("title"),
                    c("price"),
                    c("speed_download"),
                    c("speed_upload"),
                    0.001,
                    currency,
                );
                if !row.problems.is_empty() {
                    b.parsed.problems.extend(row.problems);
                    continue;
                }
                if let (Some(id), Some(plan)) = (id, plan) {
                    if tariff_by_id.contains_key(&id) {
                        b.problem(
                            t.file,
                            *line,
                            c("id").and_then(|i| t.headers.get(i)).map(String::as_str),
                            format!("tariff id {id:?} appears twice"),
                        );
                        continue;
                    }
                    tariff_by_id.insert(id, plan);
                }
            }
        }
    }
    let Some(t) = b.table(customers, FileKind::Customers) else { return b.parsed };
    let c = |n: &str| t.col(&[n]);
    if !b.require(&t, &[("id", c("id")), ("name", c("name"))]) {
        return b.parsed;
    }
    for (f, n) in [(Field::ExternalId, "id"), (Field::Name, "name"), (Field::Email, "email"), (Field::Phone, "phone")] {
        if let Some(h) = c(n).and_then(|i| t.headers.get(i)) {
            b.parsed.columns.insert(f, h.clone());
        }
    }
    for (line, cells) in &t.rows {
        let mut row = Row::new(&t, *line, cells);
        let id = row.required(c("id"), "id");
        let name = row.required(c("name"), "name");
        let email = row.text(c("email"));
        let phone = row.text(c("phone"));
        let addr =
            address([row.text(c("street_1")), row.text(c("street_2")), row.text(c("city")), row.text(c("zip_code"))]);
        // gps: "lat,lon".
        let xy = match row.raw(c("gps")) {
            None => None,
            Some(g) => match g.split_once(',').map(|(a, o)| (a.trim().parse::<f64>(), o.trim().parse::<f64>())) {
                Some((Ok(a), Ok(o))) if a.is_finite() && o.is_finite() => {
                    check_coords(&mut row, Some(a), Some(o), c("gps"), c("gps"))
                }
                _ => {
                    row.bad(c("gps"), "gps must be \"latitude,longitude\"");
                    None
                }
            },
        };
        let site = row.text(c("location"));
        let status = status_word(&mut row, c("status"));
        // Splynx shows a debt as a negative balance; the ledger's sign is the opposite.
        let balance = row.amount(c("balance"), currency).and_then(i64::checked_neg);
        let customer = match (id, name) {
            (Some(external_id), Some(name)) => Some(Customer {
                line: *line,
                external_id,
                name,
                email,
                phone,
                address: addr,
                coords: xy,
                site,
                status,
                balance_minor: balance,
                services: Vec::new(),
                cpes: Vec::new(),
            }),
            _ => None,
        };
        b.add_customer(row, customer, c("id"));
    }
    let Some(s) = b.table(services, FileKind::Services) else { return b.parsed };
    let sc = |n: &str| s.col(&[n]);
    if !b.require(&s, &[("id", sc("id")), ("customer_id", sc("customer_id")), ("tariff_id", sc("tariff_id"))]) {
        return b.parsed;
    }
    for (line, cells) in &s.rows {
        let mut row = Row::new(&s, *line, cells);
        if let Some(st) = row.raw(sc("status")).filter(|st| st.eq_ignore_ascii_case("disabled")) {
            b.parsed.skipped.push((FileKind::Services, *line, format!("service status {st}")));
            continue;
        }
        let id = row.required(sc("id"), "id");
        let customer = row.required(sc("customer_id"), "customer_id");
        let plan = match row.required(sc("tariff_id"), "tariff_id") {
            None => None,
            Some(t) => match tariff_by_id.get(&t) {
                Some(p) => {
                    // A service may be sold at its own price (unit_price).
                    let mut p = p.clone();
                    if let Some(unit) = row.amount(sc("unit_price"), currency) {
                        if unit < 0 {
                            row.bad(sc("unit_price"), "the price must not be negative");
                        } else if unit != p.price_minor {
                            p.name = format!("{} ({})", p.name, mast_billing_core::money::Money::new(unit, currency));
                            p.price_minor = unit;
                        }
                    }
                    Some(p)
                }
                None => {
                    row.bad(sc("tariff_id"), format!("no tariff with id {t:?} in the tariffs file"));
                    None
                }
            },
        };
        let mac = row.mac(sc("mac"));
        let ip = row.ip(sc("ipv4"));
        finish_service(&mut b, row, id, customer, plan, mac, ip, sc("tariff_id"));
    }
    b.parsed
}
