use super::*;
use mast_billing_core::money::Currency;

const USD: Currency = Currency::USD;

fn lines(p: &Parsed) -> Vec<(FileKind, usize)> {
    p.problems.iter().map(|p| (p.file, p.line)).collect()
}

#[test]
fn generic_csv_guesses_the_mapping_and_reports_every_bad_line() {
    let csv = "Account,Full Name,E-mail,Phone,Street,City,Zip,Latitude,Longitude,Tower,Plan,Price,Download,Upload,CPE MAC,CPE IP,Balance\n\
        A1,Ada Okafor,ada@example.org,555 0100,4 Ridge Rd,Hill,12345,44.1,-93.2,north,Gold,45.00,50,10,24-A4-3C-7E-01-9A,10.0.0.5,12.50\n\
        A2,Bo,,,,,,,,,,,,,,,\n\
        A3,Cy,,,,,,91,0,,Gold,45,50,10,nope,10.0.0.300,ten\n\
        A1,Dup,,,,,,,,,,,,,,,\n\
        A4,Di,,,,,,,,,Gold,50.00,50,10,,,\n";
    let p = parse(Source::Csv, Files { customers: csv, ..Default::default() }, None, USD).unwrap();
    assert_eq!(p.customers.len(), 2, "{:#?}", p.problems);
    let ada = &p.customers[0];
    assert_eq!((ada.external_id.as_str(), ada.name.as_str()), ("A1", "Ada Okafor"));
    assert_eq!(ada.address.as_deref(), Some("4 Ridge Rd, Hill 12345"));
    assert_eq!(ada.coords, Some((44.1, -93.2)));
    assert_eq!(ada.site.as_deref(), Some("north"));
    assert_eq!(ada.balance_minor, Some(1250));
    assert_eq!(
        ada.services[0].plan,
        Plan { name: "Gold".into(), price_minor: 4500, down_kbps: 50_000, up_kbps: 10_000 }
    );
    assert_eq!(ada.cpes[0].mac.as_deref(), Some("24:a4:3c:7e:01:9a"));
    assert_eq!(ada.cpes[0].ip.as_deref(), Some("10.0.0.5"));
    assert!(p.customers[1].services.is_empty());
    // Line 4: latitude, MAC, IP and balance, each reported; line 5 a duplicate
    // id; line 6 the same plan at another price.
    let l4: Vec<&str> = p.problems.iter().filter(|x| x.line == 4).filter_map(|x| x.column.as_deref()).collect();
    assert_eq!(l4, ["Latitude", "Balance", "CPE MAC", "CPE IP"], "{:#?}", p.problems);
    assert!(p.problems.iter().any(|x| x.line == 5 && x.reason.contains("also on line 2")));
    assert!(p.problems.iter().any(|x| x.line == 6 && x.reason.contains("differs")), "{:#?}", p.problems);
    assert_eq!(p.columns.get(&Field::Email).map(String::as_str), Some("E-mail"));
}

#[test]
fn generic_csv_needs_an_id_and_a_name_column() {
    let p = parse(Source::Csv, Files { customers: "foo,bar\n1,2\n", ..Default::default() }, None, USD).unwrap();
    assert_eq!(lines(&p), [(FileKind::Customers, 1), (FileKind::Customers, 1)]);
    let headers = headers("Kunde,Nom\n1,2\n").unwrap();
    let m = Mapping::with_overrides(&headers, ["id=kunde", "name=NOM"]).unwrap();
    let p = parse(Source::Csv, Files { customers: "Kunde,Nom\n1,Ada\n", ..Default::default() }, Some(&m), USD).unwrap();
    assert_eq!(p.customers[0].name, "Ada");
    assert!(Mapping::with_overrides(&headers, ["nope=Kunde"]).is_err());
    assert!(Mapping::with_overrides(&headers, ["id=missing"]).is_err());
    assert!(Mapping::with_overrides(&headers, ["id"]).is_err());
}

const UISP_CLIENTS: &str = "id,userIdent,clientType,firstName,lastName,companyName,email,phone,street1,street2,city,zipCode,clientLatitude,clientLongitude,accountBalance,isLead,isArchived,site\n\
    7,C-7,1,Ada,Okafor,,ada@example.org,+1 555 0100,4 Ridge Rd,,Hill,12345,44.1,-93.2,-30.00,0,0,north\n\
    8,C-8,2,Bo,Li,Li Farms,,,,,,,,,15.5,0,0,\n\
    9,C-9,1,Cy,,,,,,,,,,,0,1,0,\n";

const UISP_SERVICES: &str = "id,clientId,status,servicePlanName,price,downloadSpeed,uploadSpeed,macAddress,ipRange\n\
    70,7,1,Gold 50,45.0000,50,10,24:a4:3c:7e:01:9a,10.0.0.5/32\n\
    71,7,2,Old,10,1,1,,\n\
    80,8,1,Farm 100,99.9,100,20,0418.d6a1.223b,\n";

#[test]
fn uisp_clients_and_services() {
    let files = Files { customers: UISP_CLIENTS, services: Some(UISP_SERVICES), tariffs: None };
    let p = parse(Source::Uisp, files, None, USD).unwrap();
    assert!(p.problems.is_empty(), "{:#?}", p.problems);
    assert_eq!(p.customers.len(), 3);
    let (ada, farm, cy) = (&p.customers[0], &p.customers[1], &p.customers[2]);
    assert_eq!(ada.name, "Ada Okafor");
    assert_eq!(ada.balance_minor, Some(3000), "UISP's -30 (owes) is +30 in the ledger");
    assert_eq!(ada.services.len(), 1, "the ended service is skipped");
    assert_eq!(ada.services[0].plan.price_minor, 4500);
    assert_eq!(ada.cpes[0].ip.as_deref(), Some("10.0.0.5"));
    assert_eq!(farm.name, "Li Farms", "clientType 2 is a company");
    assert_eq!(farm.balance_minor, Some(-1550));
    assert_eq!(farm.cpes[0].mac.as_deref(), Some("04:18:d6:a1:22:3b"));
    assert_eq!(cy.status, Status::Lead);
    assert_eq!(p.skipped.len(), 1);
    assert!(parse(Source::Uisp, Files { customers: UISP_CLIENTS, ..Default::default() }, None, USD).is_err());
    let bad = "id,clientId,servicePlanName,price,downloadSpeed,uploadSpeed\n1,99,X,1,1,1\n2,7,Y,-1,1,1\n3,7,Z,1,0,1\n";
    let p =
        parse(Source::Uisp, Files { customers: UISP_CLIENTS, services: Some(bad), tariffs: None }, None, USD).unwrap();
    assert_eq!(
        lines(&p),
        [(FileKind::Services, 2), (FileKind::Services, 3), (FileKind::Services, 4)],
        "{:#?}",
        p.problems
    );
}

#[test]
fn splynx_customers_services_and_tariffs() {
    let customers = "id,login,name,email,phone,street_1,city,zip_code,gps,status,location,balance\n\
        101,ada,Ada Okafor,ada@example.org,5550100,4 Ridge Rd,Hill,12345,\"44.1,-93.2\",active,north,-20\n\
        102,bo,Bo Li,,,,,,,blocked,,\n";
    let tariffs = "id,title,price,speed_download,speed_upload\n1,Home 25,30.00,25000,5000\n";
    let services = "id,customer_id,tariff_id,status,unit_price,mac,ipv4\n\
        501,101,1,active,30,24:A4:3C:7E:01:9A,10.1.0.5\n502,102,1,active,25,,\n503,102,1,disabled,,,\n";
    let files = Files { customers, services: Some(services), tariffs: Some(tariffs) };
    let p = parse(Source::Splynx, files, None, USD).unwrap();
    assert!(p.problems.is_empty(), "{:#?}", p.problems);
    assert_eq!(p.customers[0].coords, Some((44.1, -93.2)));
    assert_eq!(p.customers[0].balance_minor, Some(2000));
    assert_eq!(p.customers[0].services[0].plan.down_kbps, 25_000);
    assert_eq!(p.customers[1].status, Status::Suspended);
    assert_eq!(p.customers[1].services[0].plan.name, "Home 25 (25.00 USD)", "its own price: its own plan");
    assert_eq!(p.skipped.len(), 1);
    let services = "id,customer_id,tariff_id\n501,101,9\n";
    let p = parse(Source::Splynx, Files { customers, services: Some(services), tariffs: Some(tariffs) }, None, USD)
        .unwrap();
    assert_eq!(p.problems[0].column.as_deref(), Some("tariff_id"));
}

#[test]
fn cells() {
    use cells::{parse_amount, parse_mac};
    assert_eq!(parse_amount("$1234.5", USD), Some(123_450));
    assert_eq!(parse_amount("-12.00", USD), Some(-1200));
    assert_eq!(parse_amount("45.5000", USD), Some(4550));
    assert_eq!(parse_amount("1,234.00", USD), None);
    assert_eq!(parse_amount("12.345", USD), None);
    assert_eq!(parse_amount("--1", USD), None);
    assert_eq!(parse_amount("99999999999999999999", USD), None);
    assert_eq!(parse_mac("24A43C7E019A").as_deref(), Some("24:a4:3c:7e:01:9a"));
    assert_eq!(parse_mac("24:a4:3c:7e:01"), None);
    // What the export's formula guard wrote reads back as it was.
    let p =
        parse(Source::Csv, Files { customers: "id,name,phone\n1,Ada,'+1 555 0100\n", ..Default::default() }, None, USD)
            .unwrap();
    assert_eq!(p.customers[0].phone.as_deref(), Some("+1 555 0100"));
}

fn arb_cell() -> impl proptest::strategy::Strategy<Value = String> {
    proptest::prop_oneof!["[A-Za-z ]{1,12}", "[0-9.\\-]{1,8}", "\\PC{0,10}"]
}

proptest::proptest! {
    #[test]
    fn parsing_never_panics(a in "\\PC{0,300}", b in "\\PC{0,200}", c in "\\PC{0,200}") {
        for s in Source::ALL {
            let _ = parse(*s, Files { customers: &a, services: Some(&b), tariffs: Some(&c) }, None, USD);
        }
        let headers = vec!["id".to_string(), b.clone()];
        let _ = Mapping::with_overrides(&headers, b.split(','));
    }

    #[test]
    fn hostile_rows_under_a_good_header_never_panic(rows in proptest::collection::vec(proptest::collection::vec(arb_cell(), 0..20), 0..20)) {
        let mut csv = String::from("id,name,email,lat,lon,plan,price,down_mbps,up_mbps,mac,ip,balance,status\n");
        for r in &rows {
            csv.push_str(&r.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect::<Vec<_>>().join(","));
            csv.push('\n');
        }
        let p = parse(Source::Csv, Files { customers: &csv, ..Default::default() }, None, USD).unwrap();
        // Every row is either a customer or a problem (or blank).
        proptest::prop_assert!(p.customers.len() <= rows.len());
    }

    #[test]
    fn good_lines_round_trip(people in proptest::collection::vec(("[A-Z][a-z]{1,10} [A-Z][a-z]{1,10}", 0u32..100_000, 1u32..2000, any_mac(), -500_000i64..500_000), 1..30)) {
        let mut csv = String::from("id,name,plan,price,down_mbps,up_mbps,mac,balance\n");
        for (i, (name, price, speed, mac, bal)) in people.iter().enumerate() {
            let bal = format!("{}{}.{:02}", if *bal < 0 { "-" } else { "" }, bal.unsigned_abs() / 100, bal.unsigned_abs() % 100);
            csv.push_str(&format!("X{i},{name},P{speed}-{price},{}.{:02},{speed},{speed},{mac},{bal}\n", price / 100, price % 100));
        }
        let p = parse(Source::Csv, Files { customers: &csv, ..Default::default() }, None, USD).unwrap();
        proptest::prop_assert!(p.problems.is_empty(), "{:?}", p.problems);
        proptest::prop_assert_eq!(p.customers.len(), people.len());
        for (c, (name, price, speed, mac, bal)) in p.customers.iter().zip(&people) {
            proptest::prop_assert_eq!(&c.name, name);
            proptest::prop_assert_eq!(c.balance_minor, Some(*bal));
            proptest::prop_assert_eq!(c.services[0].plan.price_minor, i64::from(*price));
            proptest::prop_assert_eq!(c.services[0].plan.down_kbps, speed * 1000);
            let lower = mac.to_lowercase();
            proptest::prop_assert_eq!(c.cpes[0].mac.as_deref(), Some(lower.as_str()));
        }
    }
}

fn any_mac() -> impl proptest::strategy::Strategy<Value = String> {
    "[0-9A-F]{2}(:[0-9A-F]{2}){5}"
}
