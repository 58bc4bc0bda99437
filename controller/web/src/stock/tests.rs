use super::*;
use crate::network::form_errors;
use crate::ui::FormErrors;
use mast_stock_core::reconcile::{Finding, KnownUnit, Report, Sighting, Stale};
use mast_stock_core::{Location, LocationKind, Mac, ModelId, UnitId};
use mast_store::StoreError;

const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;

fn clean(s: &str) {
    assert!(!s.contains(HOSTILE) && !s.contains("<script>alert") && !s.contains("<img src=x"), "{s}");
}

fn unit_row(id: i64) -> UnitRow {
    UnitRow {
        id,
        model_id: 1,
        model: HOSTILE.into(),
        class: "trackable".into(),
        mac: Some("02:00:00:00:00:01".into()),
        serial: Some(HOSTILE.into()),
        location_id: 5,
        location_kind: "customer".into(),
        location: HOSTILE.into(),
        customer_id: Some(9),
        site_id: None,
        since_ms: 0,
        remaining_mm: None,
        unit_cost_minor: 8_900,
        purchase_order_id: Some(3),
        received_ms: 0,
        warranty_months: Some(24),
    }
}

#[test]
fn costs_and_lengths_read_and_print() {
    assert_eq!(parse_cost("c", "89").unwrap(), 8_900);
    assert_eq!(parse_cost("c", "89.5").unwrap(), 8_950);
    assert_eq!(parse_cost("c", "1,089.05").unwrap(), 108_905);
    for bad in ["", "-1", "1.005", "abc", "99999999999999999999"] {
        assert_eq!(parse_cost("unit_cost", bad).unwrap_err().field(), Some("unit_cost"), "{bad}");
    }
    assert_eq!((cost(8_905), cost(5), cost(-150)), ("89.05".into(), "0.05".into(), "-1.50".into()));
    assert_eq!((metres(305_000), metres(25_500)), ("305 m".into(), "25.5 m".into()));
    assert_eq!(urlencode("#12 a/b"), "%2312+a%2Fb");
}

#[test]
fn scanned_codes_split_on_lines_and_separators() {
    let text = "02:00:00:00:00:01\r\n\n  SN-2 ,02-00-00-00-00-03\t#7\n";
    assert_eq!(moves::codes(text), ["02:00:00:00:00:01", "SN-2", "02-00-00-00-00-03", "#7"]);
    assert!(moves::codes(" \n \r\n").is_empty());
}

#[test]
fn the_move_form_keeps_input_escaped_and_errors_next_to_the_scan_field() {
    let ch = moves::Choices {
        stores: vec![("1".into(), HOSTILE.into())],
        all: vec![("1".into(), HOSTILE.into())],
        sites: vec![("2".into(), HOSTILE.into())],
        consumables: vec![],
    };
    let f =
        moves::MoveForm { kind: "install".into(), codes: HOSTILE.into(), note: HOSTILE.into(), ..Default::default() };
    let errors =
        form_errors(&StoreError::invalid("codes", format!("line 1: no unit has {HOSTILE}")), &["codes"]).unwrap();
    let s = moves::move_form("tok", &ch, &f, &errors).into_string();
    clean(&s);
    assert!(s.contains(r#"data-scan="lines""#) && s.contains(r#"name="csrf" value="tok""#), "{s}");
    assert!(s.contains(r#"id="move-codes-error">line 1: no unit has &quot;&gt;&lt;script&gt;"#), "{s}");
    assert!(s.contains(r#"<option value="install" selected>"#), "{s}");
}

#[test]
fn the_model_form_names_the_field_of_a_bad_number() {
    let f = catalog::ModelForm {
        vendor: "V".into(),
        name: "N".into(),
        kind: "radio".into(),
        class: "trackable".into(),
        reorder_threshold: "x".into(),
        ..Default::default()
    };
    assert_eq!(f.input().unwrap_err().field(), Some("reorder_threshold"));
    let f = catalog::ModelForm { reorder_threshold: "5".into(), target_vehicle: "-1".into(), ..f };
    assert_eq!(f.input().unwrap_err().field(), Some("target_vehicle"));
    let f = catalog::ModelForm { target_vehicle: "2".into(), unit_cost: "89.00".into(), ..f };
    let i = f.input().unwrap();
    assert_eq!((i.unit_cost_minor, i.targets.get(&LocationKind::Vehicle)), (8_900, Some(&2)));
    let s = catalog::model_form(
        "/stock/models",
        "tok",
        &catalog::ModelForm { vendor: HOSTILE.into(), ..Default::default() },
        &FormErrors::new(),
        "Add",
    )
    .into_string();
    clean(&s);
}

#[test]
fn pages_escape_what_people_and_devices_wrote() {
    let u = unit_row(4);
    let s = render_unit(Role::Admin, &u, &[], Some((8, HOSTILE.into()))).into_string();
    clean(&s);
    assert!(
        s.contains(r#"href="/customers/9""#) && s.contains(r#"href="/devices/8""#) && s.contains("Warranty until"),
        "{s}"
    );
    assert!(s.contains("/stock/move?kind=install&amp;from=5&amp;codes=02%3A00%3A00%3A00%3A00%3A01"), "{s}");
    let ro = render_unit(Role::ReadOnly, &u, &[], None).into_string();
    assert!(!ro.contains("/stock/move?"), "read-only staff get no movement buttons");
    let s = render_installed(std::slice::from_ref(&u), &[], 0).into_string();
    clean(&s);
    assert!(s.contains("Equipment installed"));
    let s = render_device_item(&u).into_string();
    clean(&s);
    assert!(s.contains("order #3"), "{s}");
    let q = OverviewQ { q: HOSTILE.into(), ..Default::default() };
    let s = render_overview(Role::Support, &q, &[u], 1, 0, &[], &[]).into_string();
    clean(&s);
    assert!(s.contains(r#"data-scan="one""#), "the search box takes a scan");
}

#[test]
fn the_reconciliation_page_offers_the_action_each_row_needs() {
    let mac = Mac::parse("02:00:00:00:00:01").unwrap();
    let van = Location::new(LocationKind::Vehicle, 5);
    let known =
        KnownUnit { unit: UnitId(4), mac, model: ModelId(1), location: van, customer: None, site: None, since_ms: 0 };
    let seen = Sighting { mac, site: 2, customer: None, last_seen_ms: 0 };
    let report = Report {
        unknown: vec![Sighting {
            mac: Mac::parse("02:00:00:00:00:99").unwrap(),
            site: 2,
            customer: Some(9),
            last_seen_ms: 0,
        }],
        moved: vec![Finding { unit: known, seen }],
        stale: vec![Stale {
            unit: KnownUnit { location: Location::new(LocationKind::Customer, 6), ..known },
            last_seen_ms: None,
        }],
        ..Default::default()
    };
    let mut names = mast_store::stock::reconcile::Names::default();
    names.sites.insert(2, HOSTILE.into());
    names.customers.insert(9, HOSTILE.into());
    names.units.insert(4, unit_row(4));
    let s = reconcile::render(Role::Technician, "tok", &report, &names, 0, 7).into_string();
    clean(&s);
    assert!(s.contains("/stock/receive?codes=02%3A00%3A00%3A00%3A00%3A99"), "unknown: receive it");
    assert!(s.contains(r#"action="/stock/reconcile/ignore""#), "unknown: not ours");
    assert!(
        s.contains("/stock/move?kind=install&amp;from=5&amp;site=2"),
        "a van's unit at a site: record it there: {s}"
    );
    assert!(s.contains("/stock/move?kind=mark-lost&amp;from=6"), "silent: mark lost");
    assert!(s.contains("not seen for 7 days (1)"), "{s}");
    let ro = reconcile::render(Role::ReadOnly, "tok", &report, &names, 0, 7).into_string();
    assert!(!ro.contains("/stock/move?") && !ro.contains("Run now"), "read-only: no actions");
}
