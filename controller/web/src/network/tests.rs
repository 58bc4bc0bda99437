//! The network pages' renderers: statuses, charts, the map, and escaping of
//! hostile text that reaches them from the network (a device's sysName or
//! sysDescr, an inventory record) or from staff (site and customer names).

use super::*;
use crate::monitoring::inventory::Source;
use crate::monitoring::links::{Link, StationLink};
use crate::monitoring::{DeviceKind, SnmpStatus};

const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;
const ESCAPED: &str = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;";

/// The raw string never appears, nor any tag from it; its escaped form does.
#[track_caller]
fn safe(html: &Markup) -> String {
    let s = html.clone().into_string();
    assert!(!s.contains(HOSTILE), "raw hostile string in:\n{s}");
    assert!(!s.contains("<script>alert"), "script tag in:\n{s}");
    assert!(!s.contains("<img src=x"), "img tag in:\n{s}");
    assert!(s.contains(ESCAPED), "escaped form missing in:\n{s}");
    s
}

fn device(id: i64, status: DeviceStatus) -> DeviceView {
    DeviceView {
        id,
        site_id: 3,
        site: HOSTILE.into(),
        addr: "10.0.0.7".into(),
        name: Some(HOSTILE.into()),
        status,
        last_rtt_ms: Some(1.5),
        loss_pct: Some(0.0),
        samples_10m: 20,
        last_sample_ms: Some(1_000),
        mac: Some("24:a4:3c:00:00:01".into()),
        kind: Some(DeviceKind::Cpe),
        vendor: Some(HOSTILE.into()),
        model: Some(HOSTILE.into()),
        firmware: Some(HOSTILE.into()),
        parent_id: None,
        signal_dbm: Some(-58),
        snmp: Some(SnmpStatus::Ok),
        notes: Some(HOSTILE.into()),
        kind_set: false,
        parent_set: false,
        retired_ms: None,
    }
}

fn customer() -> Customer {
    Customer {
        id: 9,
        name: HOSTILE.into(),
        email: Some(HOSTILE.into()),
        phone: None,
        address: None,
        lat: None,
        lon: None,
        status: mast_store::customers::CustomerStatus::Active,
        site_id: Some(3),
        site: Some(HOSTILE.into()),
        notes: None,
        notify_outages: true,
        cpes: vec![HOSTILE.into()],
        created_ms: 0,
        updated_ms: 0,
    }
}

fn site(id: i64, name: &str, at: Option<(f64, f64)>) -> Site {
    Site {
        id,
        name: name.into(),
        interval_ms: 30_000,
        timeout_ms: 1_000,
        revision: 1,
        targets: vec![],
        lat: at.map(|a| a.0),
        lon: at.map(|a| a.1),
    }
}

fn line(id: i64, name: &str, at: Option<(f64, f64)>, status: SiteStatus, agent: AgentPresence) -> SiteLine {
    SiteLine { site: site(id, name, at), status, agent, counts: SiteCounts { total: 2, up: 1, down: 1 } }
}

fn incident() -> IncidentView {
    IncidentView {
        id: 5,
        root_kind: RootKind::Device,
        root_device_id: Some(7),
        root_name: Some(HOSTILE.into()),
        site_id: Some(3),
        site: Some(HOSTILE.into()),
        started_ms: 0,
        ended_ms: None,
        flapping: true,
        superseded_by: None,
        device_count: 4,
        customer_count: 1,
        acked_by: None,
        acked_ms: None,
        closed_by: None,
        closed_ms: None,
        close_reason: None,
    }
}

fn inventory() -> InventoryView {
    InventoryView {
        site_id: 3,
        site: HOSTILE.into(),
        mac: "24:a4:3c:00:00:01".into(),
        ip: Some("10.0.0.7".into()),
        device_id: Some(7),
        kind: DeviceKind::Cpe,
        source: Source::StationTable,
        vendor: Some(HOSTILE.into()),
        oui_vendor: Some(HOSTILE.into()),
        model: Some(HOSTILE.into()),
        firmware: None,
        serial: None,
        name: Some(HOSTILE.into()),
        parent_mac: None,
        signal_dbm: Some(-58),
        first_seen_ms: 0,
        last_seen_ms: 0,
    }
}

#[test]
fn map_projection_fits_the_box_with_north_up() {
    // Two towers 20 km apart north-south at 45°N and a customer east.
    let pts = [(45.0, -93.0), (45.18, -93.0), (45.09, -92.9)];
    let p = Projection::fit(&pts, 900.0, 560.0, 40.0);
    for (la, lo) in pts {
        let (x, y) = p.xy(la, lo);
        assert!((40.0 - 1e-6..=860.0 + 1e-6).contains(&x) && (40.0 - 1e-6..=520.0 + 1e-6).contains(&y), "{x},{y}");
    }
    let (_, y_south) = p.xy(45.0, -93.0);
    let (_, y_north) = p.xy(45.18, -93.0);
    assert!(y_north < y_south, "north is up");
    // A degree of longitude at 45° is cos(45°) of a degree of latitude.
    let (x0, y0) = p.xy(45.09, -93.0);
    let (x1, _) = p.xy(45.09, -92.9);
    let (_, y1) = p.xy(45.19, -93.0);
    assert!(((x1 - x0) / (y0 - y1) - 45f64.to_radians().cos()).abs() < 0.01);
    // One point or none: no division by zero, the point in the middle.
    let one = Projection::fit(&[(10.0, 10.0)], 900.0, 560.0, 40.0);
    assert_eq!(one.xy(10.0, 10.0), (450.0, 280.0));
    assert!(Projection::fit(&[], 900.0, 560.0, 40.0).xy(0.0, 0.0).0.is_finite());
}

#[test]
fn site_status_rules() {
    use AgentPresence::*;
    let c = |total, up, down| SiteCounts { total, up, down };
    assert_eq!(site_status(c(2, 2, 0), Online), SiteStatus::Up);
    assert_eq!(site_status(c(2, 1, 1), Online), SiteStatus::Degraded);
    assert_eq!(site_status(c(2, 0, 2), Online), SiteStatus::Down);
    assert_eq!(site_status(c(2, 2, 0), Offline), SiteStatus::Down, "an unreachable site is down");
    assert_eq!(site_status(c(0, 0, 0), Online), SiteStatus::Up);
    // Nobody watches it: "no agent", never "up", whatever its devices say.
    assert_eq!(site_status(c(0, 0, 0), None), SiteStatus::NoAgent);
    assert_eq!(site_status(c(2, 2, 0), None), SiteStatus::NoAgent);
    assert_eq!(SiteStatus::NoAgent.as_str(), "no agent");
    assert_eq!(ui::badge_tone(SiteStatus::NoAgent.as_str()), Tone::Neutral);
    for s in SiteStatus::ALL {
        assert_eq!(SiteStatus::from_text(s.as_str()), Some(s));
    }
}

#[test]
fn agent_presence_of_a_site() {
    let agent = |status, connected| AgentView {
        id: 1,
        site_id: 3,
        site: "n".into(),
        status,
        connected,
        version: None,
        target: None,
        boot_epoch: None,
        last_seen_ms: None,
        last_addr: None,
        backlog: None,
        dropped: None,
        config_revision: None,
        config_confirmed: None,
        config_rejected: None,
        config_checksum_ok: None,
    };
    assert_eq!(AgentPresence::of([]), AgentPresence::None);
    assert_eq!(AgentPresence::of([&agent(AgentStatus::Pending, false)]), AgentPresence::None);
    assert_eq!(AgentPresence::of([&agent(AgentStatus::Revoked, false)]), AgentPresence::None);
    let (off, on) = (agent(AgentStatus::Active, false), agent(AgentStatus::Active, true));
    assert_eq!(AgentPresence::of([&off]), AgentPresence::Offline);
    assert_eq!(AgentPresence::of([&off, &on]), AgentPresence::Online);
}

#[test]
fn zero_counts_on_the_dashboard_are_neutral() {
    let n = DashboardCounts { sites: [0, 1, 0, 0], devices_down: 0, agents_offline: 2, open_tickets: 0 };
    let s = render_dashboard(&n, &[], 0).into_string();
    assert!(s.contains(r#"<a class="tile neutral" href="/sites?status=down"><span class="n">0</span>"#), "{s}");
    assert!(s.contains(r#"<a class="tile neutral" href="/devices?status=down"><span class="n">0</span>"#), "{s}");
    assert!(s.contains(r#"<a class="tile degraded" href="/sites?status=degraded"><span class="n">1</span>"#), "{s}");
    assert!(s.contains(r#"<a class="tile down" href="/agents?state=offline"><span class="n">2</span>"#), "{s}");
    assert!(s.contains("sites degraded") && s.contains("devices down"));
    assert!(!s.contains("Open incidents") && !s.contains("banner"));
    let mut controller = incident();
    controller.root_kind = RootKind::Controller;
    let s = safe(&render_dashboard(&n, &[incident(), controller], 0));
    assert!(s.contains(r#"class="banner down""#) && s.contains(r#"href="/incidents/5""#));
}

#[test]
fn device_page_escapes_what_devices_report() {
    let p = DevicePage {
        device: device(7, DeviceStatus::Up),
        parents: vec![DeviceView { id: 2, ..device(2, DeviceStatus::Up) }],
        edit_csrf: None,
        incidents: vec![incident()],
        customers: vec![customer()],
        inventory: vec![inventory()],
        history: vec![HistoryEntry {
            mac: "24:a4:3c:00:00:01".into(),
            ts_ms: 0,
            field: "name".into(),
            old_value: Some(HOSTILE.into()),
            new_value: None,
        }],
        links: vec![],
        stations: vec![],
        range: "day",
    };
    let s = safe(&render_device(&p, 2_000));
    assert!(s.contains(r#"href="/devices/2""#), "parent link");
    assert!(s.contains(r#"href="/customers/9""#) && s.contains(r#"href="/incidents/5""#));
    assert!(s.contains("-58 dBm"));
    // uPlot over the JSON series, the server's SVG as the fallback.
    assert!(s.contains(r#"data-chart="line" data-src="/devices/7/series.json?range=day""#), "{s}");
    assert!(s.contains(r#"<img class="chart-fallback" src="/devices/7/chart.svg?range=day""#), "{s}");
    assert!(s.contains(r#"data-src="/devices/7/signal.json?range=day""#) && s.contains("signal.svg?range=day"));
    assert!(s.contains(r#"<strong>day</strong>"#) && s.contains(r#"href="/devices/7?range=week""#));
    assert!(s.contains("(learned)") && !s.contains("/devices/7/edit"), "no edit link without the role");
    // Staff-set redundant parents, a retired device, an editor.
    let p = DevicePage {
        device: DeviceView { parent_set: true, kind_set: true, retired_ms: Some(1_000), ..device(7, DeviceStatus::Up) },
        parents: vec![
            DeviceView { id: 2, ..device(2, DeviceStatus::Up) },
            DeviceView { id: 3, ..device(3, DeviceStatus::Up) },
        ],
        edit_csrf: Some("tok".into()),
        ..p
    };
    let s = safe(&render_device(&p, 2_000));
    assert!(s.contains("Parents") && s.contains(r#"href="/devices/3""#) && s.contains("(set by staff)"), "{s}");
    assert!(s.contains("Retired") && s.contains(r#"action="/devices/7/restore""#), "{s}");
    assert!(!s.contains(r#"href="/devices/7/edit""#), "a retired device is brought back first");
    // No signal: no signal chart.
    let p = DevicePage { device: DeviceView { signal_dbm: None, ..device(7, DeviceStatus::Up) }, ..p };
    assert!(!render_device(&p, 0).into_string().contains("signal.json"));
    // An AP with its own radio and a station: figures shown, what the
    // device reported (modulation, names) escaped, the link chart drawn.
    let radio = Link {
        device_id: 7,
        role: 1,
        radio: 1,
        ts_ms: 1_000,
        via_device_id: None,
        peer_mac: None,
        signal_dbm: None,
        chain0_dbm: None,
        chain1_dbm: None,
        remote_signal_dbm: None,
        noise_dbm: Some(-95),
        snr_db: None,
        quality_pct: None,
        airtime_pct: Some(41),
        tx_rate_kbps: None,
        rx_rate_kbps: None,
        tx_capacity_kbps: None,
        rx_capacity_kbps: None,
        modulation: Some(HOSTILE.into()),
        distance_m: None,
        frequency_mhz: Some(5_660),
        width_mhz: Some(40),
        tx_power_dbm: None,
        stations: Some(1),
    };
    let sta = StationLink {
        link: Link {
            device_id: 8,
            role: 0,
            via_device_id: Some(7),
            signal_dbm: Some(-77),
            chain0_dbm: Some(-75),
            chain1_dbm: Some(-84),
            noise_dbm: None,
            airtime_pct: None,
            modulation: None,
            frequency_mhz: None,
            width_mhz: None,
            stations: None,
            ..radio.clone()
        },
        name: Some(HOSTILE.into()),
        addr: "10.0.0.8".into(),
        mac: Some("24:a4:3c:00:00:08".into()),
        site_id: 1,
        change_7d_db: Some(-9.0),
    };
    let p = DevicePage { links: vec![radio], stations: vec![sta], ..p };
    let s = safe(&render_device(&p, 2_000));
    assert!(s.contains("Link health") && s.contains("5660 MHz, 40 MHz wide") && s.contains("-95 dBm"), "{s}");
    assert!(s.contains("Stations (1), weakest first") && s.contains("-77 dBm") && s.contains("9 dB"), "{s}");
    assert!(s.contains(r#"<span class="bad">-9 dB</span>"#), "a weakening link stands out: {s}");
    assert!(s.contains(r#"data-src="/devices/7/link.json?range=day""#), "{s}");
    assert!(!s.contains("signal.json"), "the link chart replaces the signal chart");
}

#[test]
fn device_tables_escape_and_keep_the_tree() {
    let mut ap = device(1, DeviceStatus::Up);
    ap.kind = Some(DeviceKind::Ap);
    let mut cpe = device(2, DeviceStatus::Down);
    cpe.parent_id = Some(1);
    let lone = device(3, DeviceStatus::Unknown);
    // The CPE first in the input: the tree puts it under its AP.
    let devices = [cpe.clone(), lone.clone(), ap.clone()];
    let s = safe(&device_table(&device_tree(&devices), 0));
    let (a, c) = (s.find(r#"href="/devices/1""#).unwrap(), s.find(r#"href="/devices/2""#).unwrap());
    assert!(a < c, "the AP comes before its CPE");
    assert!(s.contains(r#"<tr class="st-down">"#) && s.contains("└"));
    assert!(
        device_rows(&devices, 0).into_string().contains(r#"<tr class="st-unknown">"#),
        "the string form for other pages"
    );
    assert!(devices_table(&[], 0).into_string().contains("No devices."));
}

fn uplink(site_id: i64, device_id: i64, upstream_site_id: i64) -> monitoring::uplinks::Uplink {
    monitoring::uplinks::Uplink {
        site_id,
        site_name: HOSTILE.into(),
        device_id,
        device_label: HOSTILE.into(),
        upstream_site_id,
        upstream_site_name: HOSTILE.into(),
    }
}

#[test]
fn site_page_escapes_and_refreshes_its_devices() {
    let p = SitePage {
        site: site(3, HOSTILE, None),
        agents: vec![],
        devices: vec![device(7, DeviceStatus::Down)],
        probing: Some(monitoring::probing::Summary {
            snmp_interval_ms: 60_000,
            discovery_interval_ms: 3_600_000,
            ping_rate_pps: 100,
            subnets: HOSTILE.into(),
            credentials: 1,
            snmp_targets: 2,
        }),
        suspended: vec![(9, HOSTILE.into(), vec![HOSTILE.into()])],
        admin: true,
        editor: true,
        contacts: vec![],
        uplinks: vec![uplink(3, 11, 1), uplink(3, 12, 2)],
        feeds: vec![uplink(5, 20, 3)],
    };
    let s = safe(&render_site(&p, 0));
    assert!(
        s.contains(r#"Reaches the controller through <a href="/devices/11">"#)
            && s.contains(r#" or <a href="/devices/12">"#)
            && s.contains("redundant paths"),
        "{s}"
    );
    assert!(s.contains(r#"Feeds <a href="/sites/5">"#) && s.contains(r#"href="/sites/3/uplinks""#), "{s}");
    let direct = SitePage { uplinks: vec![], feeds: vec![], editor: false, ..p };
    let d = render_site(&direct, 0).into_string();
    assert!(d.contains("Reaches the controller directly") && !d.contains("/uplinks"), "{d}");
    assert!(
        s.contains(
            r#"<div id="site-devices" hx-get="/live/sites/3/devices" hx-trigger="every 30s" hx-swap="innerHTML">"#
        ),
        "{s}"
    );
    assert!(s.contains("No agent yet.") && s.contains(r#"href="/sites/3/inventory""#));
    assert!(!s.contains("http-equiv"), "htmx, not a meta refresh");
}

#[test]
fn site_list_and_map_escape_names() {
    let lines = [
        line(1, HOSTILE, Some((45.05, -93.1)), SiteStatus::Degraded, AgentPresence::Online),
        line(2, "east", None, SiteStatus::NoAgent, AgentPresence::None),
    ];
    let refs: Vec<&SiteLine> = lines.iter().collect();
    let s = safe(&render_sites(&refs, None, true));
    assert!(s.contains(r#"<span class="badge neutral">no agent</span>"#), "{s}");
    let customers = [LocatedCustomer { id: 9, name: HOSTILE.into(), lat: 45.06, lon: -93.08, status: "active".into() }];
    let s = safe(&render_map_page(
        &lines,
        &customers,
        &[((45.05, -93.1), (45.06, -93.08))],
        "https://t.example/{z}/{x}/{y}.png",
        HOSTILE,
    ));
    assert!(s.contains(r#"data-src="/sites/map.json" data-tiles="https://t.example/{z}/{x}/{y}.png""#), "{s}");
    // The fallback: the tower degraded, the customer linked; the schematic.
    assert!(s.contains(r##"fill="#d68910"><title>"##), "{s}");
    assert!(s.contains(r#"<a href="/customers/9"><circle"#), "{s}");
    assert!(s.contains(r#"<svg class="schematic ring""#) && s.contains(r#"<svg class="schematic geomap""#));
    assert!(s.contains(r#"stroke-dasharray="2 4""#), "no agent: dotted backhaul");
    assert!(s.contains(r#"<line class="site-link""#), "the tower-to-tower link drawn: {s}");
    // Every SVG element is closed (the fallback is also valid XML).
    assert!(!s.contains("<line") || s.contains("></line>"));
    // Nothing located: no map, a hint.
    let s = render_map_page(&lines[1..], &[], &[], "", "").into_string();
    assert!(!s.contains("data-map") && s.contains("No site has coordinates yet"));
}

#[test]
fn map_json_carries_names_as_strings() {
    let lines = [
        line(1, HOSTILE, Some((45.05, -93.1)), SiteStatus::Degraded, AgentPresence::Online),
        line(2, "east", None, SiteStatus::Up, AgentPresence::Online),
    ];
    let customers = [LocatedCustomer { id: 9, name: HOSTILE.into(), lat: 45.06, lon: -93.08, status: "active".into() }];
    let v = map_json(&lines, &customers, &[((45.05, -93.1), (45.06, -93.08))]);
    assert_eq!(v["sites"].as_array().unwrap().len(), 1, "located sites only");
    let s = &v["sites"][0];
    assert_eq!(
        (s["name"].as_str(), s["status"].as_str(), s["href"].as_str()),
        (Some(HOSTILE), Some("degraded"), Some("/sites/1"))
    );
    assert_eq!((s["lat"].as_f64(), s["lon"].as_f64()), (Some(45.05), Some(-93.1)));
    let c = &v["customers"][0];
    assert_eq!(
        (c["name"].as_str(), c["href"].as_str(), c["status"].as_str()),
        (Some(HOSTILE), Some("/customers/9"), Some("active"))
    );
    assert_eq!(v["links"], serde_json::json!([[[45.05, -93.1], [45.06, -93.08]]]), "tower-to-tower links");
    // As text the name is a JSON string: quotes escaped, no way out of it.
    let text = v.to_string();
    assert!(text.contains(r#""name":"\"><script>alert(1)</script><img src=x onerror=alert(2)>""#), "{text}");
}

#[test]
fn chart_series_in_the_shape_mast_js_reads() {
    let pts = vec![
        monitoring::Point { t_ms: 1_000, rtt_ms: Some(2.0), loss_pct: 0.0, samples: 10 },
        monitoring::Point { t_ms: 2_000, rtt_ms: None, loss_pct: 100.0, samples: 10 },
    ];
    let v = rtt_series(&pts);
    assert_eq!(v["x"], json!([1, 2]));
    assert_eq!(v["series"][0], json!({"label": "RTT", "scale": "ms", "values": [2.0, null]}));
    assert_eq!(v["series"][1], json!({"label": "Loss", "scale": "%", "values": [0.0, 100.0]}));
    let v = signal_series(&[monitoring::SignalPoint { t_ms: 5_000, signal_dbm: -58.0, samples: 1 }]);
    assert_eq!(v, json!({"x": [5], "series": [{"label": "Signal", "scale": "dBm", "values": [-58.0]}]}));
}

#[test]
fn chart_draws_rtt_and_loss() {
    let pts = vec![
        monitoring::Point { t_ms: 1_000, rtt_ms: Some(2.0), loss_pct: 0.0, samples: 10 },
        monitoring::Point { t_ms: 2_000, rtt_ms: None, loss_pct: 100.0, samples: 10 },
        monitoring::Point { t_ms: 3_000, rtt_ms: Some(4.0), loss_pct: 10.0, samples: 10 },
    ];
    let svg = render_chart(&pts, 0, 4_000).into_string();
    assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg""#), "{svg}");
    assert_eq!(svg.matches("% loss").count(), 2);
    assert!(svg.contains(r#"<path d="M"#), "{svg}");
    assert_eq!(svg.matches(" M").count() + 1, 2, "the line breaks where a bucket had no answer: {svg}");
    assert!(render_chart(&[], 0, 1).into_string().contains("no samples"));
    let sig = render_signal(&[monitoring::SignalPoint { t_ms: 1, signal_dbm: -58.0, samples: 1 }], 0, 2).into_string();
    assert!(sig.contains(r#"<path d="M"#) && sig.contains("-75"), "{sig}");
    // Valid XML: every element closed.
    assert_eq!(sig.matches("<text").count(), sig.matches("</text>").count());
    assert_eq!(sig.matches("<line").count(), sig.matches("</line>").count());
}

#[test]
fn agents_and_enrollment_escape_and_keep_the_choice() {
    let a = AgentView {
        id: 4,
        site_id: 3,
        site: HOSTILE.into(),
        status: AgentStatus::Active,
        connected: false,
        version: Some(HOSTILE.into()),
        target: Some(HOSTILE.into()),
        boot_epoch: None,
        last_seen_ms: None,
        last_addr: None,
        backlog: Some(3),
        dropped: None,
        config_revision: Some(7),
        config_confirmed: Some(false),
        config_rejected: Some(8),
        config_checksum_ok: Some(true),
    };
    let mut errors = FormErrors::new();
    errors.field("site", HOSTILE);
    let form = enroll_form(HOSTILE, &[HOSTILE.to_string(), "north".into()], &errors, "north");
    let s = safe(&render_agents(&[&a], Some(AgentState::Offline), Some(form), 0));
    assert!(s.contains(r#"<option value="north" selected>north</option>"#), "{s}");
    assert!(s.contains(r#"id="enroll-site-error""#) && s.contains(r#"aria-invalid="true""#));
    assert!(s.contains(r#"<span class="badge down">offline</span>"#));
    let d = Delivery {
        agent_id: 4,
        epochs: vec![],
        stored: 10,
        reported_dropped: 0,
        unexplained: 0,
        data_loss: false,
        backlog: Some(3),
        uplink_outages: vec![monitoring::UplinkOutage { from_ms: 0, to_ms: None }],
    };
    let s = safe(&render_agent(&a, &d, Some("tok"), 0));
    assert!(s.contains(r#"action="/agents/4/revoke""#) && s.contains(r#"id="revoke""#));
    assert!(s.contains(">complete<") && s.contains("ongoing"));
    let revoked = AgentView { status: AgentStatus::Revoked, ..a.clone() };
    let s = render_agent(&revoked, &d, Some("tok"), 0).into_string();
    assert!(!s.contains("/revoke") && s.contains(r#"<span class="badge down">revoked</span>"#), "{s}");
    assert!(!render_agent(&a, &d, None, 0).into_string().contains("/revoke"), "only admins revoke");
}

#[test]
fn incident_pages_escape() {
    let errors = crate::ui::FormErrors::new();
    let notes = [mast_store::monitoring::outages::IncidentNote {
        id: 1,
        kind: mast_store::monitoring::outages::NoteKind::Update,
        author: HOSTILE.into(),
        body: HOSTILE.into(),
        queued: 2,
        created_ms: 0,
    }];
    let desk = super::super::incidents::Desk {
        ticket_id: Some(12),
        notes: &notes,
        start_notice: HOSTILE.into(),
        csrf: Some("tok"),
        errors: &errors,
        typed: (HOSTILE, HOSTILE, HOSTILE),
    };
    let s = safe(&super::super::incidents::render_incident(
        &incident(),
        &[device(7, DeviceStatus::Down)],
        &[customer()],
        &desk,
        0,
    ));
    assert!(s.contains(r#"href="/devices/7""#) && s.contains(r#"href="/customers/9""#));
    assert!(s.contains("Affected customers (1)") && s.contains("Affected devices (1)"));
    assert!(s.contains(r#"href="/tickets/12""#) && s.contains("update sent to customers (2 messages)"));
    for action in ["ack", "notes", "update", "close"] {
        assert!(s.contains(&format!(r#"action="/incidents/5/{action}""#)), "{action}");
    }
    let read_only = super::super::incidents::Desk { csrf: None, ..desk };
    let s = safe(&super::super::incidents::render_incident(&incident(), &[], &[], &read_only, 0));
    assert!(!s.contains("<form"), "no actions for those who may not work incidents");
    let s = safe(&super::super::incidents::render_list(&[incident()], true, "/live/incidents?open=true&limit=200", 0));
    assert!(s.contains(r#"hx-get="/live/incidents?open=true&amp;limit=200""#), "{s}");
    assert!(s.contains("flapping"));
}

#[test]
fn search_escapes_the_term_and_what_it_found() {
    let found = Found {
        sites: vec![site(3, HOSTILE, None)],
        devices: vec![device(7, DeviceStatus::Up)],
        macs: vec![inventory()],
        customers: vec![customer()],
    };
    let s = safe(&render_search(HOSTILE, None, Some(&found), 0));
    assert!(s.contains(r#"href="/customers/9""#) && s.contains(r#"href="/devices/7""#));
    assert!(safe(&render_search(HOSTILE, Some(HOSTILE), None, 0)).contains(r#"role="alert""#));
    assert!(render_search("x", None, Some(&Found::default()), 0).into_string().contains("Nothing found."));
}

#[test]
fn form_errors_go_next_to_known_fields() {
    let e = StoreError::invalid("site", "no site named \"x\"");
    let f = form_errors(&e, &["site"]).unwrap();
    assert_eq!(f.get("site"), Some("no site named \"x\""));
    let f = form_errors(&e, &["name"]).unwrap();
    assert_eq!(f.form_message(), Some("site: no site named \"x\""));
    assert!(form_errors(&StoreError::NotFound("x".into()), &["site"]).is_none());
}

#[test]
fn uplinks_form_offers_other_towers_devices_and_shows_its_error_next_to_the_field() {
    let here = site(3, "valley", None);
    let at = |id: i64, site_id: i64, kind: DeviceKind| DeviceView {
        site_id,
        site: format!("tower-{site_id}"),
        kind: Some(kind),
        ..device(id, DeviceStatus::Up)
    };
    let candidates = [
        at(11, 1, DeviceKind::Backhaul),
        at(12, 1, DeviceKind::Cpe),
        at(13, 1, DeviceKind::Cpe),
        at(20, 3, DeviceKind::Ap),
        at(31, 2, DeviceKind::Router),
    ];
    let mut errors = FormErrors::new();
    errors.field("uplinks", HOSTILE);
    let s = safe(&uplinks::render_form("tok", &here, &candidates, &[13], &errors, &[]));
    assert!(!s.contains("radio-pairs"), "no radio link seen: none listed");
    for (id, shown) in [(11, true), (12, false), (13, true), (20, false), (31, true)] {
        assert_eq!(s.contains(&format!(r#"value="{id}""#)), shown, "device {id}: {s}");
    }
    assert!(s.contains(r#"value="13" checked"#), "the chosen CPE stays ticked: {s}");
    assert!(s.find("<h3>tower-1</h3>") < s.find("<h3>tower-2</h3>"), "grouped by tower: {s}");
    assert!(s.contains(r#"<p class="field-error" id="uplinks-error" role="alert">"#), "{s}");
    assert!(s.contains(r#"action="/sites/3/uplinks""#));
    // A backhaul here whose radio names device 11 at tower-1 as its far end:
    // listed, and the candidate marked.
    let pair = crate::monitoring::links::RadioPair {
        device_id: 20,
        device_label: HOSTILE.into(),
        site_id: 3,
        site_name: "valley".into(),
        peer_device_id: 11,
        peer_label: "bh-north".into(),
        peer_site_id: 1,
        peer_site_name: "tower-1".into(),
    };
    let s = safe(&uplinks::render_form("tok", &here, &candidates, &[], &FormErrors::new(), &[pair]));
    assert!(s.contains(r#"id="radio-pairs""#) && s.contains("bh-north"), "{s}");
    let marked = s.find(r#"value="11""#).and_then(|i| s[i..].find("radio link from").map(|j| i + j));
    let next = s.find(r#"value="31""#);
    assert!(marked.is_some() && marked < next, "device 11 is marked as the radio link's far end: {s}");
}
