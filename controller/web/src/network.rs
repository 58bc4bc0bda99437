//! Network pages: dashboard, sites (list, map, site, inventory), devices
//! (list, device page, charts), agents (enrollment, revocation) and search.

use super::api::{delivery_json, range_ms};
use super::pages::{badge, csrf_field, layout};
use super::{ApiError, AppState, Caller, ago, esc, fmt_utc};
use crate::staff::Role;
use crate::{audit, fleet, monitoring};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;
/// A site's status from its device counts and whether its agent is online.
pub fn site_status(c: monitoring::SiteCounts, agent_online: bool) -> &'static str {
    if c.total == 0 {
        "up"
    } else if !agent_online || c.up == 0 {
        "down"
    } else if c.up == c.total {
        "up"
    } else {
        "degraded"
    }
}

struct Overview {
    sites: Vec<(monitoring::Site, &'static str, i64, i64)>,
    agents: Vec<fleet::AgentView>,
    devices_down: i64,
}

async fn overview(st: &AppState) -> Result<Overview, ApiError> {
    let sites = monitoring::list_sites(&st.db).await?;
    let agents = fleet::list_agents(&st.db).await?;
    let counts = monitoring::site_counts(&st.db, crate::db::now_ms()).await?;
    let devices_down = counts.values().map(|c| c.down).sum();
    let sites = sites
        .into_iter()
        .map(|s| {
            let c = counts.get(&s.id).copied().unwrap_or_default();
            let online = agents.iter().any(|a| a.site == s.name && a.connected);
            (s, site_status(c, online), c.up, c.total)
        })
        .collect();
    Ok(Overview { sites, agents, devices_down })
}

pub async fn dashboard(c: Caller, State(st): State<AppState>) -> PageResult {
    let o = overview(&st).await?;
    let count = |s: &str| o.sites.iter().filter(|x| x.1 == s).count();
    let active: Vec<_> = o.agents.iter().filter(|a| a.status == "active").collect();
    let offline = active.iter().filter(|a| !a.connected).count();
    let down = o.devices_down as usize;
    let tile = |n: usize, label: &str, href: &str, cls: &str| {
        format!("<a class='tile {cls}' href='{href}'><span class=n>{n}</span><span>{label}</span></a>")
    };
    let mut b = String::from("<meta http-equiv=refresh content=30><h1>Network</h1><div class=tiles>");
    b.push_str(&tile(count("up"), "sites up", "/sites?status=up", "up"));
    b.push_str(&tile(count("degraded"), "sites degraded", "/sites?status=degraded", "degraded"));
    b.push_str(&tile(count("down"), "sites down", "/sites?status=down", "down"));
    b.push_str(&tile(down, "devices down", "/devices?status=down", if down > 0 { "down" } else { "up" }));
    b.push_str(&tile(offline, "agents offline", "/agents?state=offline", if offline > 0 { "down" } else { "up" }));
    let open = monitoring::outages::list(&st.db, true, 50).await?;
    b.push_str(&tile(
        open.len(),
        "open incidents",
        "/incidents?open=true",
        if open.is_empty() { "up" } else { "down" },
    ));
    let tickets = mast_store::tickets::count_active(&st.db).await? as usize;
    b.push_str(&tile(tickets, "open tickets", "/tickets", if tickets > 0 { "degraded" } else { "up" }));
    b.push_str("</div>");
    if open.iter().any(|i| i.root_kind == "controller") {
        b.push_str(
            "<p class='banner down'>Many agents went silent at once: this looks like the controller's own network, \
             not the towers. <a href='/alerts'>Controller alerts</a></p>",
        );
    }
    if !open.is_empty() {
        b.push_str("<h2>Open incidents</h2>");
        b.push_str(&super::incidents::incident_rows(&open, crate::db::now_ms()));
    }
    Ok(layout(&c, "Dashboard", &b).into_response())
}

#[derive(Deserialize)]
pub struct StatusQ {
    status: Option<String>,
    state: Option<String>,
}

pub async fn sites(c: Caller, State(st): State<AppState>, Query(q): Query<StatusQ>) -> PageResult {
    let o = overview(&st).await?;
    let mut b = String::from(
        "<h1>Sites</h1><p><a href=/sites/map>Schematic view</a></p><div class=wrap><table><tr><th>Site</th><th>Status</th><th>Devices up</th><th>Interval</th></tr>",
    );
    for (s, status, up, n) in o.sites.iter().filter(|x| q.status.as_deref().is_none_or(|f| f == x.1)) {
        b.push_str(&format!(
            "<tr><td><a href='/sites/{}'>{}</a></td><td>{}</td><td>{up} / {n}</td><td>{} s</td></tr>",
            s.id,
            esc(&s.name),
            badge(status),
            s.interval_ms / 1000
        ));
    }
    b.push_str("</table></div>");
    Ok(layout(&c, "Sites", &b).into_response())
}

/// Schematic of the network: the controller in the middle, every site around
/// it joined by its backhaul (dashed red when the agent is offline), coloured
/// by status, each a link to its page. Sites have no coordinates yet, so this
/// is a ring, not a geographic map.
pub async fn sites_map(c: Caller, State(st): State<AppState>) -> PageResult {
    let o = overview(&st).await?;
    let n = o.sites.len().max(1) as f64;
    let (w, h) = (900.0f64, 640.0f64);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let r = (h / 2.0 - 80.0).max(100.0);
    let mut svg = format!(
        "<svg class=schematic viewBox='0 0 {w} {h}' xmlns='http://www.w3.org/2000/svg' role=img aria-label='Network schematic' font-family='sans-serif' font-size='12'>"
    );
    let mut nodes = String::new();
    for (i, (s, status, up, total)) in o.sites.iter().enumerate() {
        let a = i as f64 / n * std::f64::consts::TAU - std::f64::consts::FRAC_PI_2;
        let (x, y) = (cx + r * a.cos(), cy + r * a.sin());
        let online = o.agents.iter().any(|ag| ag.site == s.name && ag.connected);
        let line = if online { "stroke='#8a99aa'" } else { "stroke='#c0392b' stroke-dasharray='6 4'" };
        svg.push_str(&format!("<line x1='{cx:.0}' y1='{cy:.0}' x2='{x:.0}' y2='{y:.0}' {line} stroke-width='2'/>"));
        let fill = match *status {
            "up" => "#1f8a4c",
            "degraded" => "#d68910",
            "down" => "#c0392b",
            _ => "#8a8f98",
        };
        nodes.push_str(&format!(
            "<a href='/sites/{id}'><circle cx='{x:.0}' cy='{y:.0}' r='16' fill='{fill}'><title>{name}: {status}</title></circle>\
             <text x='{tx:.0}' y='{ty:.0}' text-anchor='middle'>{name} {up}/{total}</text></a>",
            id = s.id,
            name = esc(&s.name),
            // The label sits outside the ring, clear of the backhaul line.
            tx = cx + (r + 34.0) * a.cos(),
            ty = cy + (r + 34.0) * a.sin() + 4.0,
        ));
    }
    svg.push_str(&nodes);
    svg.push_str(&format!(
        "<rect x='{:.0}' y='{:.0}' width='120' height='36' rx='6' fill='#14324f'/><text x='{cx:.0}' y='{:.0}' fill='#fff' text-anchor='middle'>controller</text></svg>",
        cx - 60.0,
        cy - 18.0,
        cy + 4.0
    ));
    let mut b = String::from("<h1>Network map</h1><p><a href=/sites>List view</a></p>");
    let placed: Vec<_> = o.sites.iter().filter_map(|x| Some((x, x.0.lat?, x.0.lon?))).collect();
    let customers = mast_store::customers::located(&st.db, 5000).await?;
    if placed.is_empty() && customers.is_empty() {
        b.push_str("<p class=muted>No site has coordinates yet (<code>mast-controller site set NAME --lat .. --lon ..</code>): the schematic below shows each tower's backhaul to the controller.</p>");
    } else {
        let pts: Vec<(f64, f64)> =
            placed.iter().map(|(_, la, lo)| (*la, *lo)).chain(customers.iter().map(|c| (c.1, c.2))).collect();
        let p = Projection::fit(&pts, 900.0, 560.0, 40.0);
        let mut geo = String::from(
            "<svg class='schematic geomap' viewBox='0 0 900 560' xmlns='http://www.w3.org/2000/svg' role=img aria-label='Map of towers and customers' font-family='sans-serif' font-size='12'><rect width='900' height='560' fill='#f4f7fa'/>",
        );
        for (id, la, lo, name) in &customers {
            let (x, y) = p.xy(*la, *lo);
            geo.push_str(&format!(
                "<a href='/customers/{id}'><circle cx='{x:.1}' cy='{y:.1}' r='3' fill='#5d6d7e'><title>{}</title></circle></a>",
                esc(name)
            ));
        }
        for ((site, status, up, total), la, lo) in &placed {
            let (x, y) = p.xy(*la, *lo);
            let fill = match *status {
                "up" => "#1f8a4c",
                "degraded" => "#d68910",
                "down" => "#c0392b",
                _ => "#8a8f98",
            };
            geo.push_str(&format!(
                "<a href='/sites/{id}'><path d='M{x:.1},{top:.1} L{l:.1},{bot:.1} L{r:.1},{bot:.1} Z' fill='{fill}'><title>{name}: {status}</title></path>\
                 <text x='{x:.1}' y='{ty:.1}' text-anchor='middle'>{name} {up}/{total}</text></a>",
                id = site.id,
                name = esc(&site.name),
                top = y - 12.0,
                bot = y + 8.0,
                l = x - 10.0,
                r = x + 10.0,
                ty = y + 22.0,
            ));
        }
        geo.push_str(&format!(
            "<text x='8' y='552' fill='#555'>{} towers, {} customers with coordinates; north is up</text></svg>",
            placed.len(),
            customers.len()
        ));
        b.push_str(&format!("<div class=wrap>{geo}</div>"));
    }
    b.push_str(&format!(
        "<h2>Schematic</h2><div class=wrap>{}</div>",
        svg.replacen("class=schematic", "class='schematic ring'", 1)
    ));
    Ok(layout(&c, "Map", &b).into_response())
}

/// Equirectangular projection fitted to a set of points, with longitude
/// scaled by the cosine of the middle latitude so a tower's coverage looks
/// round at WISP scale (tens of km). North is up.
#[derive(Debug, Clone, Copy)]
pub struct Projection {
    lat0: f64,
    lon0: f64,
    k: f64,
    cos: f64,
    x0: f64,
    y0: f64,
}

impl Projection {
    pub fn fit(points: &[(f64, f64)], w: f64, h: f64, margin: f64) -> Projection {
        let (mut lat_lo, mut lat_hi, mut lon_lo, mut lon_hi) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
        for (la, lo) in points {
            lat_lo = lat_lo.min(*la);
            lat_hi = lat_hi.max(*la);
            lon_lo = lon_lo.min(*lo);
            lon_hi = lon_hi.max(*lo);
        }
        if points.is_empty() {
            (lat_lo, lat_hi, lon_lo, lon_hi) = (0.0, 0.0, 0.0, 0.0);
        }
        let cos = ((lat_lo + lat_hi) / 2.0).to_radians().cos().max(0.01);
        // At least ~1 km across, so one tower is not a division by zero.
        let span_x = ((lon_hi - lon_lo) * cos).max(0.01);
        let span_y = (lat_hi - lat_lo).max(0.01);
        let k = ((w - 2.0 * margin) / span_x).min((h - 2.0 * margin) / span_y);
        let (cx, cy) = ((lon_lo + lon_hi) / 2.0, (lat_lo + lat_hi) / 2.0);
        Projection { lat0: cy, lon0: cx, k, cos, x0: w / 2.0, y0: h / 2.0 }
    }

    pub fn xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        (self.x0 + (lon - self.lon0) * self.cos * self.k, self.y0 - (lat - self.lat0) * self.k)
    }
}

pub(super) fn device_rows(devices: &[monitoring::DeviceView], now: i64) -> String {
    let rows: Vec<(usize, &monitoring::DeviceView)> = devices.iter().map(|d| (0, d)).collect();
    device_table(&rows, now)
}

/// Devices as a tree: each device under its parent (AP → CPEs), roots first
/// in the given order. A parent outside the list makes a device a root.
fn device_tree(devices: &[monitoring::DeviceView]) -> Vec<(usize, &monitoring::DeviceView)> {
    let ids: std::collections::HashSet<i64> = devices.iter().map(|d| d.id).collect();
    let mut children: std::collections::HashMap<i64, Vec<&monitoring::DeviceView>> = Default::default();
    let mut roots = Vec::new();
    for d in devices {
        match d.parent_id.filter(|p| ids.contains(p) && *p != d.id) {
            Some(p) => children.entry(p).or_default().push(d),
            None => roots.push(d),
        }
    }
    // Infrastructure before customer radios at the top level.
    roots.sort_by_key(|d| (!children.contains_key(&d.id), d.kind.as_deref() == Some("cpe")));
    let mut out = Vec::with_capacity(devices.len());
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<(usize, &monitoring::DeviceView)> = roots.into_iter().rev().map(|d| (0, d)).collect();
    while let Some((depth, d)) = stack.pop() {
        if !seen.insert(d.id) {
            continue;
        }
        out.push((depth, d));
        if let Some(kids) = children.get(&d.id) {
            stack.extend(kids.iter().rev().map(|k| (depth + 1, *k)));
        }
    }
    // Cycles (a misreported parent loop) still show every device once.
    out.extend(devices.iter().filter(|d| !seen.contains(&d.id)).map(|d| (0, d)));
    out
}

fn device_table(rows: &[(usize, &monitoring::DeviceView)], now: i64) -> String {
    let mut b = String::from(
        "<div class=wrap><table><tr><th>Device</th><th>Kind</th><th>Address</th><th>MAC</th><th>Status</th>\
         <th>Signal</th><th>RTT</th><th>Loss (10 min)</th><th>Last sample</th></tr>",
    );
    for (depth, d) in rows {
        let indent = if *depth > 0 {
            format!("<span class=muted>{}└ </span>", "&nbsp;&nbsp;".repeat(*depth))
        } else {
            String::new()
        };
        b.push_str(&format!(
            "<tr class='st-{}'><td>{indent}<a href='/devices/{}'>{}</a></td><td>{}</td><td>{}</td><td class=mono>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.status,
            d.id,
            esc(d.name.as_deref().unwrap_or(&d.addr)),
            esc(d.kind.as_deref().unwrap_or("-")),
            esc(&d.addr),
            esc(d.mac.as_deref().unwrap_or("-")),
            badge(d.status),
            d.signal_dbm.map(|s| format!("{s} dBm")).unwrap_or_else(|| "-".into()),
            d.last_rtt_ms.map(|r| format!("{r:.2} ms")).unwrap_or_else(|| "-".into()),
            d.loss_pct.map(|l| format!("{l:.0} %")).unwrap_or_else(|| "-".into()),
            ago(now, d.last_sample_ms)
        ));
    }
    b.push_str("</table></div>");
    b
}

pub async fn site(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let Some(site) = monitoring::site(&st.db, id).await? else { return Err(ApiError::not_found("no such site")) };
    let now = crate::db::now_ms();
    let agents = fleet::site_agents(&st.db, id).await?;
    let devices = monitoring::site_devices(&st.db, id).await?;
    let mut b = format!(
        "<h1>{}</h1><p class=muted>Probed every {} s</p><h2>Agent</h2>",
        esc(&site.name),
        site.interval_ms / 1000
    );
    if agents.is_empty() {
        b.push_str("<p>No agent yet. <a href=/agents>Enroll one</a>.</p>");
    }
    b.push_str("<div class=wrap><table><tr><th>Agent</th><th>Uplink</th><th>Version</th><th>Last seen</th><th>Spool backlog</th></tr>");
    for a in &agents {
        let state = a.state();
        b.push_str(&format!(
            "<tr><td><a href='/agents/{0}'>agent {0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            a.id,
            badge(state),
            esc(a.version.as_deref().unwrap_or("-")),
            ago(now, a.last_seen_ms),
            a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
        ));
    }
    b.push_str("</table></div><h2>Devices</h2>");
    b.push_str(&device_table(&device_tree(&devices), now));
    if let Some(p) = monitoring::probing::summary(&st.db, id).await? {
        b.push_str(&format!(
            "<h2>Probing</h2><dl class=facts><dt>SNMP</dt><dd>every {} s, {} targets, {} credentials</dd>\
             <dt>Discovery</dt><dd>every {} s over {}</dd><dt>Ping pacing</dt><dd>at most {} per second</dd></dl>\
             <p><a href='/sites/{id}/inventory'>Inventory by MAC</a></p>",
            p.snmp_interval_ms / 1000,
            p.snmp_targets,
            p.credentials,
            p.discovery_interval_ms / 1000,
            if p.subnets.is_empty() { "no subnets".to_string() } else { esc(&p.subnets) },
            p.ping_rate_pps
        ));
    }
    // Suspended for non-payment: what the network should be blocking here.
    let suspended: Vec<_> = mast_app::billing::collections::suspended(&st.db)
        .await?
        .into_iter()
        .filter(|s| s.site.as_deref() == Some(site.name.as_str()))
        .collect();
    if !suspended.is_empty() {
        b.push_str(&format!(
            "<h2>Suspended customers ({})</h2><p class=muted>Enforce with <code>mast-controller billing suspended --format mikrotik</code>.</p><ul>",
            suspended.len()
        ));
        for s in &suspended {
            b.push_str(&format!(
                "<li><a href='/customers/{}'>{}</a> <span class='badge down'>suspended</span> <span class=mono>{}</span></li>",
                s.customer_id,
                esc(&s.name),
                esc(&s.macs.join(", "))
            ));
        }
        b.push_str("</ul>");
    }
    Ok(layout(&c, &site.name, &b).into_response())
}

/// Every MAC the site's agent learned, with the SNMP credentials in use
/// (version and v3 user only).
pub async fn site_inventory(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let Some(site) = monitoring::site(&st.db, id).await? else { return Err(ApiError::not_found("no such site")) };
    let now = crate::db::now_ms();
    let mut b = format!("<h1>{} · inventory</h1><p><a href='/sites/{id}'>Back to the site</a></p>", esc(&site.name));
    if let Some(p) = monitoring::probing::get(&st.db, id).await? {
        let v = p.view();
        let creds: Vec<String> = v
            .credentials
            .iter()
            .map(|c| match &c.user {
                Some(u) => format!("v3 {u} ({}/{})", c.auth.unwrap_or("-"), c.privacy.unwrap_or("-")),
                None => "v2c".into(),
            })
            .collect();
        b.push_str(&format!("<p>SNMP credentials, tried in order: {}</p>", esc(&creds.join(", "))));
    }
    let inv = monitoring::inventory::site_inventory(&st.db, id).await?;
    b.push_str(&format!("<h2>{} MACs</h2>", inv.len()));
    b.push_str(&inventory_table(&inv, now));
    Ok(layout(&c, &site.name, &b).into_response())
}

pub async fn devices(c: Caller, State(st): State<AppState>, Query(q): Query<StatusQ>) -> PageResult {
    let now = crate::db::now_ms();
    let all = monitoring::list_devices(&st.db, 100_000, 0).await?;
    let shown: Vec<_> = all.into_iter().filter(|d| q.status.as_deref().is_none_or(|s| s == d.status)).collect();
    let b = format!("<h1>Devices</h1>{}", device_rows(&shown, now));
    Ok(layout(&c, "Devices", &b).into_response())
}

#[derive(Deserialize)]
pub struct RangeQ {
    range: Option<String>,
}

pub async fn device(c: Caller, State(st): State<AppState>, Path(id): Path<i64>, Query(q): Query<RangeQ>) -> PageResult {
    let Some(d) = monitoring::device(&st.db, id).await? else { return Err(ApiError::not_found("no such device")) };
    let (_, range) = range_ms(q.range.as_deref())?;
    let now = crate::db::now_ms();
    let mut b = format!(
        "<h1>{}</h1><p>{} · site <a href='/sites/{}'>{}</a> · last sample {}</p><dl class=facts><dt>Address</dt><dd>{}</dd><dt>RTT</dt><dd>{}</dd><dt>Loss (10 min)</dt><dd>{}</dd></dl>",
        esc(d.name.as_deref().unwrap_or(&d.addr)),
        badge(d.status),
        d.site_id,
        esc(&d.site),
        ago(now, d.last_sample_ms),
        esc(&d.addr),
        d.last_rtt_ms.map(|r| format!("{r:.2} ms")).unwrap_or_else(|| "-".into()),
        d.loss_pct.map(|l| format!("{l:.0} %")).unwrap_or_else(|| "-".into()),
    );
    let parent = match d.parent_id {
        Some(p) => monitoring::device(&st.db, p).await?,
        None => None,
    };
    b.push_str(&format!(
        "<h2>Identity</h2><dl class=facts><dt>MAC</dt><dd class=mono>{}</dd><dt>Kind</dt><dd>{}</dd><dt>Vendor</dt><dd>{}</dd>\
         <dt>Model</dt><dd>{}</dd><dt>Firmware</dt><dd>{}</dd><dt>Parent</dt><dd>{}</dd><dt>Signal</dt><dd>{}</dd><dt>SNMP</dt><dd>{}</dd></dl>",
        esc(d.mac.as_deref().unwrap_or("-")),
        esc(d.kind.as_deref().unwrap_or("-")),
        esc(d.vendor.as_deref().unwrap_or("-")),
        esc(d.model.as_deref().unwrap_or("-")),
        esc(d.firmware.as_deref().unwrap_or("-")),
        match &parent {
            Some(p) => format!("<a href='/devices/{}'>{}</a>", p.id, esc(p.name.as_deref().unwrap_or(&p.addr))),
            None => "-".into(),
        },
        d.signal_dbm.map(|s| format!("{s} dBm")).unwrap_or_else(|| "-".into()),
        esc(d.snmp.as_deref().unwrap_or("not polled")),
    ));
    let incidents = monitoring::outages::open_for_device(&st.db, id).await?;
    if !incidents.is_empty() {
        b.push_str("<h2>Open incidents</h2>");
        b.push_str(&super::incidents::incident_rows(&incidents, now));
    }
    let served = mast_store::customers::of_device(&st.db, id).await?;
    if !served.is_empty() {
        b.push_str("<h2>Customers</h2>");
        b.push_str(&super::customers::customer_rows(&served));
    }
    let inv = monitoring::inventory::device_inventory(&st.db, id).await?;
    if !inv.is_empty() {
        b.push_str("<h2>MACs</h2>");
        b.push_str(&inventory_table(&inv, now));
        let mut hist = Vec::new();
        for i in &inv {
            hist.extend(monitoring::inventory::history_of(&st.db, i.site_id, &i.mac, 50).await?);
        }
        hist.sort_by_key(|h| std::cmp::Reverse(h.ts_ms));
        b.push_str("<h2>Inventory history</h2><div class=wrap><table><tr><th>When (UTC)</th><th>MAC</th><th>Field</th><th>Was</th><th>Now</th></tr>");
        for h in hist.iter().take(50) {
            b.push_str(&format!(
                "<tr><td>{}</td><td class=mono>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fmt_utc(h.ts_ms),
                esc(&h.mac),
                esc(&h.field),
                esc(h.old_value.as_deref().unwrap_or("-")),
                esc(h.new_value.as_deref().unwrap_or("-"))
            ));
        }
        b.push_str("</table></div>");
    }
    b.push_str("<h2>RTT and loss</h2><p class=ranges>");
    for r in ["hour", "day", "week"] {
        if r == range {
            b.push_str(&format!("<strong>{r}</strong> "));
        } else {
            b.push_str(&format!("<a href='/devices/{id}?range={r}'>{r}</a> "));
        }
    }
    b.push_str(&format!(
        "</p><img class=chart src='/devices/{id}/chart.svg?range={range}' alt='RTT and loss over the last {range}' width=800 height=240>"
    ));
    if d.signal_dbm.is_some() {
        b.push_str(&format!(
            "<h2>Signal</h2><img class=chart src='/devices/{id}/signal.svg?range={range}' alt='Signal over the last {range}' width=800 height=160>"
        ));
    }
    Ok(layout(&c, d.name.as_deref().unwrap_or(&d.addr), &b).into_response())
}

fn inventory_table(inv: &[monitoring::inventory::InventoryView], now: i64) -> String {
    let mut b = String::from(
        "<div class=wrap><table><tr><th>MAC</th><th>Vendor (OUI)</th><th>Kind</th><th>IP</th><th>Name</th><th>Model</th>\
         <th>Firmware</th><th>Parent</th><th>Signal</th><th>Source</th><th>First seen</th><th>Last seen</th></tr>",
    );
    for i in inv {
        let mac = match i.device_id {
            Some(d) => format!("<a href='/devices/{d}'>{}</a>", esc(&i.mac)),
            None => esc(&i.mac),
        };
        b.push_str(&format!(
            "<tr><td class=mono>{mac}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=mono>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(i.oui_vendor.as_deref().unwrap_or("-")),
            esc(&i.kind),
            esc(i.ip.as_deref().unwrap_or("-")),
            esc(i.name.as_deref().unwrap_or("-")),
            esc(i.model.as_deref().unwrap_or("-")),
            esc(i.firmware.as_deref().unwrap_or("-")),
            esc(i.parent_mac.as_deref().unwrap_or("-")),
            i.signal_dbm.map(|s| format!("{s} dBm")).unwrap_or_else(|| "-".into()),
            esc(&i.source),
            fmt_utc(i.first_seen_ms),
            ago(now, Some(i.last_seen_ms)),
        ));
    }
    b.push_str("</table></div>");
    b
}

/// Server-rendered SVG: mean RTT as a line, loss as red bars, per bucket.
pub async fn chart(State(st): State<AppState>, Path(id): Path<i64>, Query(q): Query<RangeQ>) -> PageResult {
    let (span, _) = range_ms(q.range.as_deref())?;
    let now = crate::db::now_ms();
    let points = monitoring::device_series(&st.db, id, now - span, now, 240).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], render_chart(&points, now - span, now)).into_response())
}

/// Server-rendered SVG of a radio's signal (dBm, from its AP's station table).
pub async fn signal_chart(State(st): State<AppState>, Path(id): Path<i64>, Query(q): Query<RangeQ>) -> PageResult {
    let (span, _) = range_ms(q.range.as_deref())?;
    let now = crate::db::now_ms();
    let points = monitoring::signal_series(&st.db, id, now - span, now, 240).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], render_signal(&points, now - span, now)).into_response())
}

pub fn render_signal(points: &[monitoring::SignalPoint], from: i64, to: i64) -> String {
    let (w, h, left, bottom) = (800.0, 160.0, 56.0, 20.0);
    // Radio signal lives between about -95 dBm (unusable) and -30 dBm.
    let (lo, hi) = (-95.0f64, -30.0f64);
    let x = |t: i64| left + (t - from) as f64 / (to - from).max(1) as f64 * (w - left - 4.0);
    let y = |v: f64| (h - bottom) - (v.clamp(lo, hi) - lo) / (hi - lo) * (h - bottom - 8.0);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {w} {h}' font-family='sans-serif' font-size='11'>\
         <rect width='{w}' height='{h}' fill='#fff'/><line x1='{left}' y1='{0:.1}' x2='{w}' y2='{0:.1}' stroke='#e67e22' stroke-dasharray='4 3'/>\
         <text x='4' y='14' fill='#555'>{hi} dBm</text><text x='4' y='{1}' fill='#555'>{lo} dBm</text>\
         <text x='4' y='{2:.1}' fill='#e67e22'>-75</text>",
        y(-75.0),
        h - bottom,
        y(-75.0) + 4.0
    );
    let mut path = String::new();
    for p in points {
        path.push_str(&format!("{}{:.1},{:.1} ", if path.is_empty() { "M" } else { "L" }, x(p.t_ms), y(p.signal_dbm)));
    }
    s.push_str(&format!("<path d='{path}' fill='none' stroke='#14324f' stroke-width='1.5'/>"));
    if points.is_empty() {
        s.push_str(&format!(
            "<text x='{}' y='{}' fill='#888'>no signal samples in this range</text>",
            w / 2.0 - 80.0,
            h / 2.0
        ));
    }
    s.push_str(&time_axis(left, w, h, from, to));
    s
}

/// The time labels under a chart, and the end of the SVG.
fn time_axis(left: f64, w: f64, h: f64, from: i64, to: i64) -> String {
    format!(
        "<text x='{left}' y='{}' fill='#555'>{}</text><text x='{}' y='{}' fill='#555' text-anchor='end'>{} UTC</text></svg>",
        h - 4.0,
        fmt_utc(from),
        w - 4.0,
        h - 4.0,
        fmt_utc(to)
    )
}

pub fn render_chart(points: &[monitoring::Point], from: i64, to: i64) -> String {
    let (w, h, left, bottom) = (800.0, 240.0, 48.0, 20.0);
    let max_rtt = points.iter().filter_map(|p| p.rtt_ms).fold(1.0f64, f64::max) * 1.1;
    let x = |t: i64| left + (t - from) as f64 / (to - from).max(1) as f64 * (w - left - 4.0);
    let y = |v: f64| (h - bottom) - v / max_rtt * (h - bottom - 8.0);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {w} {h}' font-family='sans-serif' font-size='11'>\
         <rect width='{w}' height='{h}' fill='#fff'/><line x1='{left}' y1='{0}' x2='{w}' y2='{0}' stroke='#ccc'/>\
         <text x='4' y='14' fill='#555'>{max_rtt:.1} ms</text><text x='4' y='{0}' fill='#555'>0</text>",
        h - bottom
    );
    let bw = ((w - left) / points.len().max(1) as f64).max(1.0);
    for p in points.iter().filter(|p| p.loss_pct > 0.0) {
        let bh = p.loss_pct / 100.0 * (h - bottom - 8.0);
        s.push_str(&format!(
            "<rect x='{:.1}' y='{:.1}' width='{bw:.1}' height='{bh:.1}' fill='#c0392b' fill-opacity='0.35'><title>{:.0} % loss</title></rect>",
            x(p.t_ms) - bw / 2.0,
            h - bottom - bh,
            p.loss_pct
        ));
    }
    let mut path = String::new();
    for p in points {
        match p.rtt_ms {
            Some(r) => path.push_str(&format!(
                "{}{:.1},{:.1} ",
                if path.is_empty() || path.ends_with('|') { "M" } else { "L" },
                x(p.t_ms),
                y(r)
            )),
            None => path.push('|'),
        }
    }
    let path = path.replace('|', "");
    s.push_str(&format!("<path d='{path}' fill='none' stroke='#14324f' stroke-width='1.5'/>"));
    if points.is_empty() {
        s.push_str(&format!(
            "<text x='{}' y='{}' fill='#888'>no samples in this range</text>",
            w / 2.0 - 60.0,
            h / 2.0
        ));
    }
    s.push_str(&time_axis(left, w, h, from, to));
    s
}

pub async fn agents(c: Caller, State(st): State<AppState>, Query(q): Query<StatusQ>) -> PageResult {
    let now = crate::db::now_ms();
    let agents = fleet::list_agents(&st.db).await?;
    let mut b = String::from("<h1>Agents</h1>");
    if c.role == Role::Admin {
        let sites = monitoring::list_sites(&st.db).await?;
        let opts: String = sites.iter().map(|s| format!("<option>{}</option>", esc(&s.name))).collect();
        b.push_str(&format!(
            "<form class=inline method=post action=/agents>{}<label>Enroll an agent for site <select name=site>{opts}</select></label><button type=submit>Create enrollment token</button></form>",
            csrf_field(&c)
        ));
    }
    b.push_str("<div class=wrap><table><tr><th>Agent</th><th>Site</th><th>State</th><th>Version</th><th>Last seen</th><th>Backlog</th></tr>");
    for a in agents.iter().filter(|a| match q.state.as_deref() {
        Some("offline") => a.status == "active" && !a.connected,
        _ => true,
    }) {
        let state = a.state();
        b.push_str(&format!(
            "<tr><td><a href='/agents/{0}'>agent {0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>",
            a.id,
            esc(&a.site),
            badge(state),
            esc(a.version.as_deref().unwrap_or("-")),
            ago(now, a.last_seen_ms),
            a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
        ));
    }
    b.push_str("</table></div>");
    Ok(layout(&c, "Agents", &b).into_response())
}

#[derive(Deserialize)]
pub struct EnrollForm {
    site: String,
}

pub async fn enroll_agent(
    c: Caller,
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<EnrollForm>,
) -> PageResult {
    let ttl = std::time::Duration::from_secs(st.settings.agents.enroll_token_ttl.as_secs());
    let (id, token) = fleet::add_agent(&st.db, &f.site, ttl).await?;
    audit::record(&st.db, &c.actor(), "agent.enroll", &format!("agent {id}"), &format!("site {}", f.site)).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':').map(|(h, _)| h.to_string()).or(Some(h.to_string())))
        .unwrap_or_else(|| "CONTROLLER".into());
    let cmd = format!(
        "mast-agent enroll --controller {}:{} --token {token} --ca-fingerprint {} --state-dir /var/lib/mast-agent",
        host, st.web.quic_port, st.web.ca_fingerprint
    );
    let b = format!(
        "<h1>Agent {id} for {}</h1><p>Run this on the tower within {} hours. The token works once and is shown only now.</p><pre class=cmd id=enroll-command>{}</pre><p><a href=/agents>Back to agents</a></p>",
        esc(&f.site),
        st.settings.agents.enroll_token_ttl.as_secs() / 3600,
        esc(&cmd)
    );
    Ok(layout(&c, "Enroll agent", &b).into_response())
}

pub async fn agent(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let now = crate::db::now_ms();
    let d = delivery_json(&st.db, id).await?;
    let agents = fleet::list_agents(&st.db).await?;
    let a = agents.into_iter().find(|a| a.id == id).ok_or_else(|| ApiError::not_found("no such agent"))?;
    let state = a.state();
    let mut b = format!(
        "<h1>Agent {} · site {}</h1><p>{} · version {} · {} · last seen {} · backlog {}</p>",
        a.id,
        esc(&a.site),
        badge(state),
        esc(a.version.as_deref().unwrap_or("-")),
        esc(a.target.as_deref().unwrap_or("-")),
        ago(now, a.last_seen_ms),
        a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
    );
    if c.role == Role::Admin && a.status != "revoked" {
        b.push_str(&format!(
            "<form method=post action='/agents/{id}/revoke' class=inline>{}<button class=danger type=submit id=revoke>Revoke agent</button></form>",
            csrf_field(&c)
        ));
    }
    let loss = d["data_loss"].as_bool().unwrap_or(false);
    b.push_str(&format!(
        "<h2>Delivery</h2><p>{} {} stored, {} reported dropped by the agent, {} unexplained</p>",
        if loss { badge("down").replace(">down<", ">data loss<") } else { badge("up").replace(">up<", ">complete<") },
        d["stored"],
        d["reported_dropped"],
        d["unexplained"]
    ));
    b.push_str("<div class=wrap><table><tr><th>Boot epoch</th><th>Seq range</th><th>Stored</th><th>Reported dropped</th><th>Unexplained</th></tr>");
    for e in d["epochs"].as_array().into_iter().flatten() {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}-{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e["boot_epoch"], e["first_seq"], e["last_seq"], e["stored"], e["reported_dropped"], e["unexplained"]
        ));
    }
    b.push_str(
        "</table></div><h2>Uplink outages</h2><div class=wrap><table><tr><th>From (UTC)</th><th>Duration</th></tr>",
    );
    for o in d["uplink_outages"].as_array().into_iter().flatten() {
        let from = o["from_ms"].as_i64().unwrap_or(0);
        let dur = match o["to_ms"].as_i64() {
            Some(t) => format!("{} s", (t - from) / 1000),
            None => "ongoing".into(),
        };
        b.push_str(&format!("<tr><td>{}</td><td>{dur}</td></tr>", fmt_utc(from)));
    }
    b.push_str("</table></div>");
    Ok(layout(&c, &format!("Agent {id}"), &b).into_response())
}

pub async fn revoke_agent(c: Caller, State(st): State<AppState>, Path(id): Path<u64>) -> PageResult {
    if !fleet::revoke(&st.db, id).await? {
        return Err(ApiError::not_found(format!("no active or pending agent {id}")));
    }
    audit::record(&st.db, &c.actor(), "agent.revoke", &format!("agent {id}"), "").await?;
    Ok(Redirect::to(&format!("/agents/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct SearchQ {
    q: Option<String>,
}

pub async fn search(c: Caller, State(st): State<AppState>, Query(q): Query<SearchQ>) -> PageResult {
    let term = q.q.unwrap_or_default();
    let term = term.trim();
    let now = crate::db::now_ms();
    let mut b = format!("<h1>Search: {}</h1>", esc(term));
    if term.is_empty() {
        b.push_str("<p>Type a site, device name, IP address, MAC or customer.</p>");
        return Ok(layout(&c, "Search", &b).into_response());
    }
    let lower = term.to_ascii_lowercase();
    let sites: Vec<_> = monitoring::list_sites(&st.db)
        .await?
        .into_iter()
        .filter(|s| s.name.to_ascii_lowercase().contains(&lower))
        .collect();
    b.push_str("<h2>Sites</h2><ul>");
    for s in &sites {
        b.push_str(&format!("<li><a href='/sites/{}'>{}</a></li>", s.id, esc(&s.name)));
    }
    b.push_str("</ul><h2>Devices</h2>");
    let devices = monitoring::search_devices(&st.db, term).await?;
    b.push_str(&device_rows(&devices, now));
    let macs = monitoring::inventory::search_mac(&st.db, term).await?;
    if !macs.is_empty() {
        b.push_str("<h2>MACs</h2>");
        b.push_str(&inventory_table(&macs, now));
    }
    let customers = mast_store::customers::search(&st.db, term, 50, 0).await?;
    if !customers.is_empty() {
        b.push_str("<h2>Customers</h2>");
        b.push_str(&super::customers::customer_rows(&customers));
    }
    if sites.is_empty() && devices.is_empty() && macs.is_empty() && customers.is_empty() {
        b.push_str("<p>Nothing found.</p>");
    }
    Ok(layout(&c, "Search", &b).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = |total, up, down| monitoring::SiteCounts { total, up, down };
        assert_eq!(site_status(c(2, 2, 0), true), "up");
        assert_eq!(site_status(c(2, 1, 1), true), "degraded");
        assert_eq!(site_status(c(2, 0, 2), true), "down");
        assert_eq!(site_status(c(2, 2, 0), false), "down", "an unreachable site is down");
        assert_eq!(site_status(c(0, 0, 0), false), "up");
    }

    #[test]
    fn chart_draws_rtt_and_loss() {
        let pts = vec![
            monitoring::Point { t_ms: 1_000, rtt_ms: Some(2.0), loss_pct: 0.0, samples: 10 },
            monitoring::Point { t_ms: 2_000, rtt_ms: None, loss_pct: 100.0, samples: 10 },
            monitoring::Point { t_ms: 3_000, rtt_ms: Some(4.0), loss_pct: 10.0, samples: 10 },
        ];
        let svg = render_chart(&pts, 0, 4_000);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("% loss").count(), 2);
        assert!(svg.contains("<path d='M"));
        assert!(render_chart(&[], 0, 1).contains("no samples"));
    }
}
