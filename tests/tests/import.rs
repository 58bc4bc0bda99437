//! Importing an existing ISP, on SQLite and PostgreSQL, through the CLI and
//! the `/import` page: a UISP CRM export of a few hundred customers
//! (generated here, deterministically) is checked by a dry run that writes
//! nothing, imported, imported again unchanged, and imported with changes
//! (updated, never duplicated, only the balance difference booked); files
//! with bad lines import nothing and report each line; Splynx and a generic
//! CSV (with its column mapping) go through the page; the exports list
//! what was imported, and the customers export imports back into a fresh
//! controller as the same customers.

use mast_tests::*;
use std::path::{Path, PathBuf};

on_both_backends!(import_an_isp);

const N: usize = 300;
const PLANS: [(&str, &str, u32, u32); 4] = [
    ("Residential 10", "30.00", 10, 2),
    ("Residential 25", "45.00", 25, 5),
    ("Pro 50", "70.00", 50, 10),
    ("Business 100", "120.00", 100, 20),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/import").join(name)
}

/// A UISP CRM export of `N` clients; `changed` renames every 30th client,
/// moves every 50th to another plan and changes every 7th balance.
fn uisp_export(changed: bool) -> (String, String) {
    let mut clients = String::from(
        "id,userIdent,clientType,firstName,lastName,companyName,email,phone,street1,street2,city,zipCode,\
         clientLatitude,clientLongitude,accountBalance,isLead,isArchived,site\n",
    );
    let mut services = String::from(
        "id,clientId,status,servicePlanName,price,downloadSpeed,uploadSpeed,activeFrom,macAddress,ipRange\n",
    );
    for i in 1..=N {
        let last = if changed && i % 30 == 0 { format!("Renamed{i}") } else { format!("Client{i}") };
        let balance = match (i % 7, changed) {
            (0, false) => format!("-{}.50", i % 40),
            (0, true) => format!("-{}.75", i % 40 + 1),
            _ => String::new(),
        };
        let (company_type, company) = if i % 11 == 0 { (2, format!("Farm {i} LLC")) } else { (1, String::new()) };
        clients.push_str(&format!(
            "{},C-{i},{company_type},First{i},{last},{company},c{i}@example.org,+1 555 {:04},{i} Ridge Rd,,Hill City,57745,\
             {:.4},{:.4},{balance},0,0,Tower {}\n",
            1000 + i,
            i,
            43.0 + i as f64 / 1000.0,
            -103.0 - i as f64 / 1000.0,
            i % 5 + 1
        ));
        let p = if changed && i % 50 == 0 { (i + 1) % 4 } else { i % 4 };
        let (name, price, down, up) = PLANS[p];
        services.push_str(&format!(
            "{},{},1,{name},{price},{down},{up},2024-01-01,02:00:00:00:{:02x}:{:02x},100.70.{}.{}/32\n",
            50_000 + i,
            1000 + i,
            i / 256,
            i % 256,
            i / 250,
            i % 250 + 1
        ));
        if i % 10 == 0 {
            // An ended service: listed as skipped, never billed.
            services.push_str(&format!("{},{},2,Old plan,9.00,1,1,2019-01-01,,\n", 90_000 + i, 1000 + i));
        }
    }
    (clients, services)
}

async fn count(db: &mast_store::db::Db, table: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&db.pool).await?)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn fx(name: &str) -> String {
    fixture(name).display().to_string()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// The value of the hidden `token` field of the import page.
fn token(body: &str) -> String {
    body.split("name=\"token\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("an upload token").to_string()
}

async fn import_an_isp(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let db = c.db().await?;
    let dir = c.dir.path().to_path_buf();
    let (clients, services) = uisp_export(false);
    let (clients_f, services_f) = (write(&dir, "clients.csv", &clients), write(&dir, "services.csv", &services));

    // A dry run reports what it would do and writes nothing.
    let out = c.cli_ok(&["import", "--format", "uisp", "--dry-run", &clients_f, &services_f]);
    assert!(out.contains("dry run (nothing was written)"), "{out}");
    assert!(out.contains(&format!("customers: {N} new, 0 updated, 0 unchanged")), "{out}");
    assert_eq!(out.matches("skipped: services line").count(), N / 10, "ended services listed: {out}");
    for t in ["customers", "subscriptions", "plans", "sites", "ledger", "customer_devices", "import_external_ids"] {
        assert_eq!(count(&db, t).await?, 0, "a dry run wrote to {t}");
    }

    // The real run.
    let out = c.cli_ok(&["import", "--format", "uisp", &clients_f, &services_f]);
    assert!(out.contains("imported"), "{out}");
    assert_eq!(count(&db, "customers").await?, N as i64);
    assert_eq!(count(&db, "subscriptions").await?, N as i64, "ended services are not imported");
    assert_eq!(count(&db, "plans").await?, 4);
    assert_eq!(count(&db, "sites").await?, 5);
    assert_eq!(count(&db, "customer_devices").await?, N as i64);
    assert_eq!(count(&db, "site_targets").await?, N as i64, "each CPE IP is pinged from its site");
    let with_balance = (1..=N).filter(|i| i % 7 == 0).count() as i64;
    assert_eq!(count(&db, "ledger").await?, with_balance);
    let farm: (String, Option<String>, String) = sqlx::query_as(
        "SELECT c.name, c.address, s.name FROM customers c JOIN sites s ON s.id = c.site_id WHERE c.email = 'c11@example.org'",
    )
    .fetch_one(&db.pool)
    .await?;
    assert_eq!(farm, ("Farm 11 LLC".into(), Some("11 Ridge Rd, Hill City 57745".into()), "Tower-2".into()));

    // Again, unchanged: nothing new.
    let out = c.cli_ok(&["import", "--format", "uisp", &clients_f, &services_f]);
    assert!(out.contains(&format!("customers: 0 new, 0 updated, {N} unchanged")), "{out}");
    assert!(out.contains(&format!("services: 0 new, 0 updated, {N} unchanged")), "{out}");
    assert_eq!(count(&db, "ledger").await?, with_balance, "no balance booked twice");

    // Changed: updated in place, only the difference of a balance booked.
    let (clients2, services2) = uisp_export(true);
    let (c2, s2) = (write(&dir, "clients2.csv", &clients2), write(&dir, "services2.csv", &services2));
    let out = c.cli_ok(&["import", "--format", "uisp", "--json", &c2, &s2]);
    let rep: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(rep["customers"]["created"], 0, "{out}");
    assert_eq!(rep["customers"]["updated"], N / 30);
    assert_eq!(rep["services"]["updated"], N / 50);
    assert_eq!(rep["balances"]["updated"], with_balance);
    assert_eq!(count(&db, "customers").await?, N as i64, "never duplicated");
    assert_eq!(count(&db, "subscriptions").await?, N as i64);
    let renamed: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE name LIKE '%Renamed%'")
        .fetch_one(&db.pool)
        .await?;
    assert_eq!(renamed, (N / 30) as i64);
    // Customer 1007 owed 7.50, now 8.75: the ledger sums to the new balance.
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM customers WHERE email = 'c7@example.org'").fetch_one(&db.pool).await?;
    let amounts: Vec<i64> = sqlx::query_scalar("SELECT amount_minor FROM ledger WHERE customer_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&db.pool)
        .await?;
    assert_eq!(amounts, [750, 125]);

    // One bad line: nothing of the file is written, every bad line reported.
    // (The unchanged export would undo the renames, were anything written.)
    let bad_clients = uisp_export(false).0.replace("c13@example.org", "c13@@");
    let mut bad_services = services2.clone();
    bad_services.push_str("99999,424242,1,Pro 50,70.00,50,10,2024-01-01,,\n");
    let (bc, bs) = (write(&dir, "bad-clients.csv", &bad_clients), write(&dir, "bad-services.csv", &bad_services));
    let out = c.cli(&["import", "--format", "uisp", &bc, &bs]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("NOT imported"), "{stdout}");
    assert!(stdout.contains("bad line: customers line 14"), "the bad email: {stdout}");
    let last = bad_services.lines().count();
    assert!(stdout.contains(&format!("bad line: services line {last}: no customer with id \"424242\"")), "{stdout}");
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE name LIKE '%Renamed%'")
            .fetch_one(&db.pool)
            .await?,
        (N / 30) as i64,
        "the good lines of a bad file changed nothing either"
    );
    let out = c.cli(&["import", "--format", "csv", &fx("generic-bad.csv")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    for line in [3, 4, 5, 6] {
        assert!(stdout.contains(&format!("customers line {line}")), "line {line}: {stdout}");
    }
    assert!(stdout.contains("\"E-mail\""), "the column is named: {stdout}");
    assert_eq!(count(&db, "customers").await?, N as i64, "all or nothing");

    // The page: Splynx (three files), checked then imported by its token.
    let pw = c.add_user("books@wisp.test", "billing");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("books@wisp.test", &pw).await?.status, 303);
    assert!(s.get("/").await?.body.contains("href=\"/import\""), "in the navigation");
    s.get("/import").await?;
    let r = s
        .post_files(
            "/import",
            &[("format", "splynx")],
            vec![("customers", "c.csv", "text/csv", read("splynx-customers.csv"))],
        )
        .await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("import-services-error"), "the missing file, next to its field: {}", r.body);
    s.get("/import").await?;
    let latin1 = b"id,name\n1,Jos\xe9\n".to_vec();
    let r = s.post_files("/import", &[("format", "csv")], vec![("customers", "l.csv", "text/csv", latin1)]).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("import-customers-error") && r.body.contains("UTF-8"), "{}", r.body);
    s.get("/import").await?;
    let nul = b"id,name\n1,A\0da\n".to_vec();
    let r = s.post_files("/import", &[("format", "csv")], vec![("customers", "n.csv", "text/csv", nul)]).await?;
    assert_eq!(r.status, 400, "a NUL byte is a form error, not a 500: {}", r.body);
    let files = vec![
        ("customers", "c.csv", "text/csv", read("splynx-customers.csv")),
        ("services", "s.csv", "text/csv", read("splynx-services.csv")),
        ("tariffs", "t.csv", "text/csv", read("splynx-tariffs.csv")),
    ];
    s.get("/import").await?;
    let r = s.post_files("/import", &[("format", "splynx"), ("currency", "USD")], files).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("nothing written") && r.body.contains("import-apply"), "{}", r.body);
    assert_eq!(count(&db, "customers").await?, N as i64, "the upload is a dry run");
    let r =
        s.post("/import/run", &[("token", &token(&r.body)), ("currency", "USD"), ("action", "import")], None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Imported"), "{}", r.body);
    assert_eq!(count(&db, "customers").await?, N as i64 + 3);
    let blocked: String = sqlx::query_scalar("SELECT status FROM customers WHERE name = 'Bo Li' AND email IS NULL")
        .fetch_one(&db.pool)
        .await?;
    assert_eq!(blocked, "suspended");

    // A generic CSV: the guessed mapping is shown; a corrected one is used.
    s.get("/import").await?;
    let files = vec![("customers", "g.csv", "text/csv", read("generic.csv"))];
    let r = s.post_files("/import", &[("format", "csv"), ("currency", "USD")], files).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("map-map_email"), "the mapping step: {}", r.body);
    let tok = token(&r.body);
    // Leave the phone column out: the customers get none.
    let mapping = [
        ("map_id", "0"),
        ("map_name", "1"),
        ("map_email", "2"),
        ("map_street", "4"),
        ("map_city", "5"),
        ("map_zip", "6"),
        ("map_lat", "7"),
        ("map_lon", "8"),
        ("map_site", "9"),
        ("map_plan", "10"),
        ("map_price", "11"),
        ("map_down_mbps", "12"),
        ("map_up_mbps", "13"),
        ("map_mac", "14"),
        ("map_ip", "15"),
        ("map_balance", "16"),
    ];
    let mut form: Vec<(&str, &str)> = vec![("token", &tok), ("currency", "USD"), ("action", "import")];
    form.extend(mapping);
    let r = s.post("/import/run", &form, None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(count(&db, "customers").await?, N as i64 + 6);
    let phones: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE name IN ('Ada Okafor', 'Bo Li', 'Parker, Cy') AND phone IS NOT NULL \
         AND id > (SELECT MAX(id) - 3 FROM customers)",
    )
    .fetch_one(&db.pool)
    .await?;
    assert_eq!(phones, 0, "the phone column was mapped out");
    let r = s.post("/import/run", &[("token", "0123"), ("action", "import")], None).await?;
    assert_eq!(r.status, 400, "an unknown token is a form error, not a 500");

    // Exports: everything imported, formulas neutralised.
    let r = s.get("/export/customers.csv").await?;
    assert_eq!(r.status, 200);
    let rows = csv_rows(&r.body);
    assert_eq!(rows.len(), N + 6 + 1, "a header and every customer");
    assert_eq!(rows[0][..4], ["id", "name", "email", "phone"]);
    let c7 = rows.iter().find(|r| r[2] == "c7@example.org").expect("customer c7");
    assert_eq!((c7[9].as_str(), c7[10].as_str()), ("8.75", "USD"), "{c7:?}");
    let services = csv_rows(&s.get("/export/services.csv").await?.body);
    assert_eq!(services.len(), N + 2 + 3 + 1);
    let devices = s.get("/export/devices.csv").await?.body;
    assert!(devices.contains("100.70.0.7") && devices.contains("02:00:00:00:00:07"), "{devices}");
    let support_pw = c.add_user("help@wisp.test", "support");
    let mut h = WebSession::new(&c);
    h.login("help@wisp.test", &support_pw).await?;
    assert_eq!(h.get("/export/customers.csv").await?.status, 403);
    assert_eq!(h.get("/import").await?.status, 403);

    // Round trip: the customers export imports into a fresh controller as
    // the same customers.
    let exported = c.cli_ok(&["export", "customers"]);
    assert_eq!(exported, r.body, "the CLI and the page export the same");
    let Some(fresh) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let file = write(&dir, "exported.csv", &exported);
    fresh.cli_ok(&["import", "--format", "csv", &file]);
    let again = csv_rows(&fresh.cli_ok(&["export", "customers"]));
    let strip = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter()
            .skip(1)
            .map(|r| r.iter().enumerate().filter(|(i, _)| *i != 0 && *i != 11).map(|(_, v)| v.clone()).collect())
            .collect()
    };
    assert_eq!(strip(&again), strip(&rows), "same customers, same fields");
    // Re-imports moved customers between sites: the invoice list's tallies follow.
    let drift = mast_store::billing::store::invoice_tallies_drift(&db).await?;
    assert_eq!(drift, Vec::<String>::new());
    Ok(())
}
