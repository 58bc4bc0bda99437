//! Network pages: dashboard, sites (list, map, site, inventory), devices
//! (list, device page, charts), agents (enrollment, revocation) and search.
//!
//! Every page is a maud template through `crate::ui`. The handlers read the
//! stores and hand plain data to the renderers below (pure functions, tested
//! for escaping). Interactive parts degrade: the charts are uPlot over
//! `/devices/{id}/series.json` with the server's SVG chart as the fallback,
//! the map is Leaflet over `/sites/map.json` with the server's SVG
//! projection as the fallback, and the live tables are htmx fragments
//! (`/live/...`) polled every 30 s, plain tables without JavaScript.

use super::api::{Delivery, RANGES, delivery_report, range_ms, raw_range};
use super::pages::page;
use super::{ApiError, AppState, Caller, ago, fmt_utc};
use crate::audit;
use crate::fleet::{self, AgentState, AgentStatus, AgentView};
use crate::monitoring::inventory::{HistoryEntry, InventoryView};
use crate::monitoring::outages::{IncidentView, RootKind};
use crate::monitoring::{self, DeviceStatus, DeviceView, LocatedCustomer, Site, SiteCounts};
use crate::staff::Role;
use crate::ui::{self, ChartKind, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tile, Tone, html};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mast_store::StoreError;
use mast_store::customers::Customer;
use maud::Render;
use serde::Deserialize;
use serde_json::{Value, json};

pub mod device_form;
pub mod site_form;
pub mod uplinks;

type PageResult = Result<Response, ApiError>;

/// How a polled fragment refreshes: every 30 s, its content replaced.
const LIVE_EVERY: &str = "every 30s";

/// Whether a site has an agent, and whether it is online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentPresence {
    /// No enrolled agent (none, only a pending token, or only revoked ones).
    None,
    /// Enrolled, not connected.
    Offline,
    Online,
}

impl AgentPresence {
    /// The presence of a site's agents.
    pub fn of<'a>(agents: impl IntoIterator<Item = &'a AgentView>) -> AgentPresence {
        let mut presence = AgentPresence::None;
        for a in agents {
            match a.state() {
                AgentState::Connected => return AgentPresence::Online,
                AgentState::Offline => presence = AgentPresence::Offline,
                AgentState::Pending | AgentState::Revoked => {}
            }
        }
        presence
    }
}

/// A site's status on the dashboard, the site list and the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteStatus {
    Up,
    Degraded,
    Down,
    /// Nobody watches it: neither up nor down.
    NoAgent,
}

impl SiteStatus {
    pub const ALL: [SiteStatus; 4] = [SiteStatus::Up, SiteStatus::Degraded, SiteStatus::Down, SiteStatus::NoAgent];

    pub fn as_str(self) -> &'static str {
        match self {
            SiteStatus::Up => "up",
            SiteStatus::Degraded => "degraded",
            SiteStatus::Down => "down",
            SiteStatus::NoAgent => "no agent",
        }
    }

    pub fn from_text(s: &str) -> Option<SiteStatus> {
        SiteStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    fn tone(self) -> Tone {
        match self {
            SiteStatus::Up => Tone::Up,
            SiteStatus::Degraded => Tone::Degraded,
            SiteStatus::Down => Tone::Down,
            SiteStatus::NoAgent => Tone::Neutral,
        }
    }

    /// Fill of the site's marker in the server-drawn SVG.
    fn fill(self) -> &'static str {
        match self {
            SiteStatus::Up => "#1f8a4c",
            SiteStatus::Degraded => "#d68910",
            SiteStatus::Down => "#c0392b",
            SiteStatus::NoAgent => "#8a8f98",
        }
    }
}

/// A site's status from its device counts and its agent: a site nobody
/// watches is "no agent" (never "up"); one whose agent is offline is down
/// (unreachable); otherwise up, degraded or down by its devices.
pub(crate) fn site_status(c: SiteCounts, agent: AgentPresence) -> SiteStatus {
    match agent {
        AgentPresence::None => SiteStatus::NoAgent,
        AgentPresence::Offline => SiteStatus::Down,
        AgentPresence::Online if c.total == 0 || c.up == c.total => SiteStatus::Up,
        AgentPresence::Online if c.up == 0 => SiteStatus::Down,
        AgentPresence::Online => SiteStatus::Degraded,
    }
}

/// One site with what the overview pages show of it.
pub(crate) struct SiteLine {
    pub site: Site,
    pub status: SiteStatus,
    pub agent: AgentPresence,
    pub counts: SiteCounts,
}

struct Overview {
    sites: Vec<SiteLine>,
    agents: Vec<AgentView>,
    devices_down: i64,
}

async fn overview(st: &AppState) -> Result<Overview, ApiError> {
    let sites = monitoring::list_sites(&st.db).await?;
    let agents = fleet::list_agents(&st.db).await?;
    let counts = monitoring::site_counts(&st.db, crate::db::now_ms()).await?;
    let devices_down = counts.values().map(|c| c.down).sum();
    let sites = sites
        .into_iter()
        .map(|site| {
            let counts = counts.get(&site.id).copied().unwrap_or_default();
            let agent = AgentPresence::of(agents.iter().filter(|a| a.site_id == site.id));
            SiteLine { status: site_status(counts, agent), agent, counts, site }
        })
        .collect();
    Ok(Overview { sites, agents, devices_down })
}

/// An `<a>` to a path built from a prefix and an id.
fn link(prefix: &str, id: i64, text: &str) -> Markup {
    html! { a href={ (prefix) (id) } { (text) } }
}

/// `-` for nothing.
fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

fn dbm(v: Option<i64>) -> String {
    v.map(|s| format!("{s} dBm")).unwrap_or_else(|| "-".into())
}

fn ms(v: Option<f64>) -> String {
    v.map(|r| format!("{r:.2} ms")).unwrap_or_else(|| "-".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|l| format!("{l:.0} %")).unwrap_or_else(|| "-".into())
}

/// A `div` whose content htmx replaces with `src` every 30 s.
fn live(id: &str, src: &str, body: Markup) -> Markup {
    html! {
        div id=(id) hx-get=(src) hx-trigger=(LIVE_EVERY) hx-swap="innerHTML" { (body) }
    }
}

/// What a form re-renders on an input error: the message next to its
/// field when the form has that field, else at the top.
pub(crate) fn form_errors(e: &StoreError, fields: &[&str]) -> Option<FormErrors> {
    let StoreError::Invalid { field, reason } = e else { return None };
    let mut errors = FormErrors::new();
    if fields.contains(&field.as_str()) {
        errors.field(field, reason.clone());
    } else {
        errors.form(e.to_string());
    }
    Some(errors)
}

// ---------------------------------------------------------------- dashboard

/// The dashboard: tiles and open incidents, refreshed in place.
pub async fn dashboard(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let status = dashboard_status(&st).await?;
    let steps = crate::settings::checklist(&st, c.role).await?;
    Ok(page(
        &c,
        "Dashboard",
        html! {
            @if let Some(steps) = &steps { (crate::settings::render_checklist(steps)) }
            h1 { "Network" }
            (live("dashboard-live", "/live/dashboard", status))
        },
    ))
}

/// `GET /live/dashboard`: the dashboard's tiles and open incidents (htmx).
pub async fn dashboard_live(State(st): State<AppState>) -> Result<Markup, ApiError> {
    dashboard_status(&st).await
}

/// What the dashboard counts.
pub(crate) struct DashboardCounts {
    pub sites: [i64; 4],
    pub devices_down: i64,
    pub agents_offline: i64,
    pub open_tickets: i64,
}

async fn dashboard_status(st: &AppState) -> Result<Markup, ApiError> {
    let o = overview(st).await?;
    let sites = SiteStatus::ALL.map(|s| o.sites.iter().filter(|x| x.status == s).count() as i64);
    let counts = DashboardCounts {
        sites,
        devices_down: o.devices_down,
        agents_offline: o.agents.iter().filter(|a| a.state() == AgentState::Offline).count() as i64,
        open_tickets: mast_store::tickets::count_active(&st.db).await?,
    };
    let open = monitoring::outages::list(&st.db, true, 50).await?;
    Ok(render_dashboard(&counts, &open, crate::db::now_ms()))
}

pub(crate) fn render_dashboard(n: &DashboardCounts, open: &[IncidentView], now: i64) -> Markup {
    let [up, degraded, down, no_agent] = n.sites;
    let tiles = [
        Tile { n: up, label: "sites up", href: "/sites?status=up", class: Tone::Up },
        Tile { n: degraded, label: "sites degraded", href: "/sites?status=degraded", class: Tone::Degraded },
        Tile { n: down, label: "sites down", href: "/sites?status=down", class: Tone::Down },
        Tile { n: no_agent, label: "sites without agent", href: "/sites?status=no+agent", class: Tone::Unknown },
        Tile { n: n.devices_down, label: "devices down", href: "/devices?status=down", class: Tone::Down },
        Tile { n: n.agents_offline, label: "agents offline", href: "/agents?state=offline", class: Tone::Down },
        Tile { n: open.len() as i64, label: "open incidents", href: "/incidents?open=true", class: Tone::Down },
        Tile { n: n.open_tickets, label: "open tickets", href: "/tickets", class: Tone::Degraded },
    ];
    html! {
        (ui::tiles(&tiles))
        @if open.iter().any(|i| i.root_kind == RootKind::Controller) {
            p.banner.down {
                "Many agents went silent at once: this looks like the controller's own network, not the towers. "
                a href="/alerts" { "Controller alerts" }
            }
        }
        @if !open.is_empty() {
            h2 { "Open incidents" }
            (super::incidents::incidents_table(open, now))
        }
    }
}

// ---------------------------------------------------------------- sites

#[derive(Deserialize)]
pub struct StatusQ {
    status: Option<String>,
    state: Option<String>,
    /// The agents page: the site the enrollment form starts on.
    site: Option<String>,
}

pub async fn sites(c: Caller, State(st): State<AppState>, Query(q): Query<StatusQ>) -> Result<Markup, ApiError> {
    let filter = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            SiteStatus::from_text(s)
                .ok_or_else(|| ApiError::bad_request(format!("status {s:?} must be up, degraded, down or no agent")))?,
        ),
    };
    let o = overview(&st).await?;
    let shown: Vec<&SiteLine> = o.sites.iter().filter(|x| filter.is_none_or(|f| f == x.status)).collect();
    Ok(page(&c, "Sites", render_sites(&shown, filter, c.role == Role::Admin)))
}

/// The site list; `admin`: with the link to create a site.
pub(crate) fn render_sites(lines: &[&SiteLine], filter: Option<SiteStatus>, admin: bool) -> Markup {
    let empty = if filter.is_some() {
        "No site has this status."
    } else {
        "No sites yet: an admin adds one with New site (or mast-controller site add)."
    };
    let mut t =
        Table::new(empty).col("Site").col("Status").num_col("Devices up").num_col("Probe interval").col("Agent");
    for l in lines {
        t.push(vec![
            link("/sites/", l.site.id, &l.site.name),
            ui::tone_badge(l.status.tone(), l.status.as_str()),
            html! { (l.counts.up) " / " (l.counts.total) },
            html! { (l.site.interval_ms / 1000) " s" },
            html! {
                @match l.agent {
                    AgentPresence::Online => (ui::badge("connected")),
                    AgentPresence::Offline => (ui::badge("offline")),
                    AgentPresence::None => (ui::badge("no agent")),
                }
            },
        ]);
    }
    html! {
        h1 { "Sites" }
        p {
            @if admin { a #new-site href="/sites/new" { "New site" } " · " }
            a href="/sites/map" { "Map" }
            @if let Some(f) = filter { " · showing " (f.as_str()) " · " a href="/sites" { "all sites" } }
        }
        (t)
    }
}

/// The map: Leaflet over `/sites/map.json` (towers by status, customers),
/// the server's SVG projection as its fallback; the schematic of every
/// site's backhaul below.
pub async fn sites_map(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let o = overview(&st).await?;
    let customers = monitoring::located_customers(&st.db, MAP_CUSTOMERS).await?;
    let links = site_links(&st, &o.sites).await?;
    let m = &st.settings.monitoring;
    Ok(page(&c, "Map", render_map_page(&o.sites, &customers, &links, &m.map_tile_url, &m.map_attribution)))
}

/// Tower-to-tower links with both ends located, upstream end first.
async fn site_links(st: &AppState, lines: &[SiteLine]) -> Result<Vec<Link>, ApiError> {
    let sites: Vec<Site> = lines.iter().map(|l| l.site.clone()).collect();
    Ok(uplinks::located_links(&sites, &monitoring::uplinks::list(&st.db).await?))
}

/// A tower-to-tower link on the map: `((lat, lon), (lat, lon))`, upstream first.
pub(crate) type Link = ((f64, f64), (f64, f64));

/// Most customers drawn on the map.
const MAP_CUSTOMERS: i64 = 5000;

pub(crate) fn render_map_page(
    lines: &[SiteLine],
    customers: &[LocatedCustomer],
    links: &[Link],
    tiles: &str,
    attribution: &str,
) -> Markup {
    let placed = lines.iter().filter(|l| l.site.lat.is_some() && l.site.lon.is_some()).count();
    html! {
        h1 { "Network map" }
        p { a href="/sites" { "List view" } }
        @if placed == 0 && customers.is_empty() {
            p.muted {
                "No site has coordinates yet (" code { "mast-controller site set NAME --lat .. --lon .." } "): "
                "the schematic below shows each tower's backhaul to the controller."
            }
        } @else {
            (ui::map("/sites/map.json", tiles, attribution, geo_svg(lines, customers, links)))
        }
        h2 { "Schematic" }
        div.wrap { (ring_svg(lines)) }
    }
}

/// `GET /sites/map.json`: what mast.js draws on the map.
pub async fn sites_map_json(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let o = overview(&st).await?;
    let customers = monitoring::located_customers(&st.db, MAP_CUSTOMERS).await?;
    let links = site_links(&st, &o.sites).await?;
    Ok(Json(map_json(&o.sites, &customers, &links)))
}

/// `{"sites":[{id,name,lat,lon,status,href}],"customers":[...],
/// "links":[[[lat,lon],[lat,lon]]]}`, located ones only. Names go out as
/// JSON strings; mast.js sets them as text.
pub(crate) fn map_json(lines: &[SiteLine], customers: &[LocatedCustomer], links: &[Link]) -> Value {
    let sites: Vec<Value> = lines
        .iter()
        .filter_map(|l| {
            Some(json!({
                "id": l.site.id,
                "name": l.site.name,
                "lat": l.site.lat?,
                "lon": l.site.lon?,
                "status": l.status.as_str(),
                "href": format!("/sites/{}", l.site.id),
                "devices_up": l.counts.up,
                "devices": l.counts.total,
            }))
        })
        .collect();
    let customers: Vec<Value> = customers
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "lat": c.lat,
                "lon": c.lon,
                "status": c.status,
                "href": format!("/customers/{}", c.id),
            })
        })
        .collect();
    let links: Vec<Value> = links.iter().map(|(a, b)| json!([[a.0, a.1], [b.0, b.1]])).collect();
    json!({ "sites": sites, "customers": customers, "links": links })
}

/// A number for an SVG attribute.
fn n1(v: f64) -> String {
    format!("{v:.1}")
}

/// Equirectangular projection fitted to a set of points, with longitude
/// scaled by the cosine of the middle latitude so a tower's coverage looks
/// round at WISP scale (tens of km). North is up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Projection {
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

/// The map without JavaScript (or tiles): towers as triangles coloured by
/// status, customers as dots, each a link to its page; north is up.
pub(crate) fn geo_svg(lines: &[SiteLine], customers: &[LocatedCustomer], links: &[Link]) -> Markup {
    let placed: Vec<(&SiteLine, f64, f64)> = lines.iter().filter_map(|l| Some((l, l.site.lat?, l.site.lon?))).collect();
    let pts: Vec<(f64, f64)> =
        placed.iter().map(|(_, la, lo)| (*la, *lo)).chain(customers.iter().map(|c| (c.lat, c.lon))).collect();
    let p = Projection::fit(&pts, 900.0, 560.0, 40.0);
    html! {
        svg.schematic.geomap viewBox="0 0 900 560" xmlns="http://www.w3.org/2000/svg" role="img"
            aria-label="Map of towers and customers" font-family="sans-serif" font-size="12" {
            rect width="900" height="560" fill="#f4f7fa" {}
            @for ((la1, lo1), (la2, lo2)) in links {
                @let ((x1, y1), (x2, y2)) = (p.xy(*la1, *lo1), p.xy(*la2, *lo2));
                line.site-link x1=(n1(x1)) y1=(n1(y1)) x2=(n1(x2)) y2=(n1(y2)) stroke="#2e86c1" stroke-width="2" {}
            }
            @for cu in customers {
                @let (x, y) = p.xy(cu.lat, cu.lon);
                a href={ "/customers/" (cu.id) } {
                    circle cx=(n1(x)) cy=(n1(y)) r="3" fill="#5d6d7e" { title { (cu.name) } }
                }
            }
            @for (l, la, lo) in &placed {
                @let (x, y) = p.xy(*la, *lo);
                a href={ "/sites/" (l.site.id) } {
                    path d={ "M" (n1(x)) "," (n1(y - 12.0)) " L" (n1(x - 10.0)) "," (n1(y + 8.0)) " L" (n1(x + 10.0)) "," (n1(y + 8.0)) " Z" }
                        fill=(l.status.fill()) {
                        title { (l.site.name) ": " (l.status.as_str()) }
                    }
                    text x=(n1(x)) y=(n1(y + 22.0)) text-anchor="middle" {
                        (l.site.name) " " (l.counts.up) "/" (l.counts.total)
                    }
                }
            }
            text x="8" y="552" fill="#555" {
                (placed.len()) " towers, " (customers.len()) " customers with coordinates; north is up"
            }
        }
    }
}

/// Schematic of the network: the controller in the middle, every site
/// around it joined by its backhaul (dashed red when the agent is offline,
/// dotted grey without one), coloured by status, each a link to its page.
pub(crate) fn ring_svg(lines: &[SiteLine]) -> Markup {
    let n = lines.len().max(1) as f64;
    let (w, h) = (900.0f64, 640.0f64);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let r = (h / 2.0 - 80.0).max(100.0);
    let at = |i: usize, radius: f64| {
        let a = i as f64 / n * std::f64::consts::TAU - std::f64::consts::FRAC_PI_2;
        (cx + radius * a.cos(), cy + radius * a.sin())
    };
    html! {
        svg.schematic.ring viewBox="0 0 900 640" xmlns="http://www.w3.org/2000/svg" role="img"
            aria-label="Network schematic" font-family="sans-serif" font-size="12" {
            @for (i, l) in lines.iter().enumerate() {
                @let (x, y) = at(i, r);
                @let (stroke, dash) = match l.agent {
                    AgentPresence::Online => ("#8a99aa", None),
                    AgentPresence::Offline => ("#c0392b", Some("6 4")),
                    AgentPresence::None => ("#c5ccd3", Some("2 4")),
                };
                line x1=(n1(cx)) y1=(n1(cy)) x2=(n1(x)) y2=(n1(y)) stroke=(stroke) stroke-dasharray=[dash]
                    stroke-width="2" {}
            }
            @for (i, l) in lines.iter().enumerate() {
                @let (x, y) = at(i, r);
                // The label sits outside the ring, clear of the backhaul line.
                @let (tx, ty) = at(i, r + 34.0);
                a href={ "/sites/" (l.site.id) } {
                    circle cx=(n1(x)) cy=(n1(y)) r="16" fill=(l.status.fill()) {
                        title { (l.site.name) ": " (l.status.as_str()) }
                    }
                    text x=(n1(tx)) y=(n1(ty + 4.0)) text-anchor="middle" {
                        (l.site.name) " " (l.counts.up) "/" (l.counts.total)
                    }
                }
            }
            rect x=(n1(cx - 60.0)) y=(n1(cy - 18.0)) width="120" height="36" rx="6" fill="#14324f" {}
            text x=(n1(cx)) y=(n1(cy + 4.0)) fill="#fff" text-anchor="middle" { "controller" }
        }
    }
}

// ---------------------------------------------------------------- devices

/// Devices as a table (for pages of other families too).
pub(crate) fn devices_table(devices: &[DeviceView], now: i64) -> Markup {
    let rows: Vec<(usize, &DeviceView)> = devices.iter().map(|d| (0, d)).collect();
    device_table(&rows, now)
}

/// [`devices_table`] as a string, for pages still assembled as strings.
pub(super) fn device_rows(devices: &[DeviceView], now: i64) -> Markup {
    devices_table(devices, now)
}

/// Devices as a tree: each device under its parent (AP → CPEs), roots first
/// in the given order. A parent outside the list makes a device a root.
fn device_tree(devices: &[DeviceView]) -> Vec<(usize, &DeviceView)> {
    let ids: std::collections::HashSet<i64> = devices.iter().map(|d| d.id).collect();
    let mut children: std::collections::HashMap<i64, Vec<&DeviceView>> = Default::default();
    let mut roots = Vec::new();
    for d in devices {
        match d.parent_id.filter(|p| ids.contains(p) && *p != d.id) {
            Some(p) => children.entry(p).or_default().push(d),
            None => roots.push(d),
        }
    }
    // Infrastructure before customer radios at the top level.
    roots.sort_by_key(|d| (!children.contains_key(&d.id), d.kind == Some(monitoring::DeviceKind::Cpe)));
    let mut out = Vec::with_capacity(devices.len());
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<(usize, &DeviceView)> = roots.into_iter().rev().map(|d| (0, d)).collect();
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

fn device_table(rows: &[(usize, &DeviceView)], now: i64) -> Markup {
    let mut t = Table::new("No devices.")
        .col("Device")
        .col("Kind")
        .col("Address")
        .col("MAC")
        .col("Status")
        .num_col("Signal")
        .num_col("RTT")
        .num_col("Loss (10 min)")
        .col("Last sample");
    for (depth, d) in rows {
        t.push_with_class(
            &format!("st-{}", d.status),
            vec![
                html! {
                    @if *depth > 0 { span.muted { ("\u{a0}\u{a0}".repeat(*depth)) "└ " } }
                    (crate::links::kind_icon(d.kind)) " "
                    (link("/devices/", d.id, d.label()))
                },
                html! { (or_dash(d.kind.map(|k| k.as_str()))) },
                html! { span.mono { (d.addr) } },
                html! { span.mono { (or_dash(d.mac.as_deref())) } },
                ui::badge(d.status.as_str()),
                html! { (dbm(d.signal_dbm)) },
                html! { (ms(d.last_rtt_ms)) },
                html! { (pct(d.loss_pct)) },
                html! { (ago(now, d.last_sample_ms)) },
            ],
        );
    }
    t.render()
}

/// Customers as a table (name, status, site, contact, CPEs).
pub(crate) fn customers_table(list: &[Customer]) -> Markup {
    let mut t = Table::new("No customers.").col("Name").col("Status").col("Site").col("Email").col("Phone").col("CPEs");
    for c in list {
        t.push(vec![
            link("/customers/", c.id, &c.name),
            ui::badge(c.status.as_str()),
            html! { (or_dash(c.site.as_deref())) },
            html! { (or_dash(c.email.as_deref())) },
            html! { (or_dash(c.phone.as_deref())) },
            html! { span.mono { (c.cpes.join(", ")) } },
        ]);
    }
    t.render()
}

/// Devices per page of `/devices`.
const DEVICES_PAGE: i64 = 100;

#[derive(Deserialize)]
pub struct DevicesQ {
    status: Option<String>,
    #[serde(default)]
    offset: i64,
}

pub async fn devices(c: Caller, State(st): State<AppState>, Query(q): Query<DevicesQ>) -> Result<Markup, ApiError> {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let filter = status.map(DeviceStatus::parse).transpose()?;
    let now = crate::db::now_ms();
    let offset = q.offset.max(0);
    let (shown, total) = monitoring::devices_page(&st.db, filter, now, DEVICES_PAGE, offset).await?;
    let pairs: Vec<(&str, &str)> = status.map(|s| ("status", s)).into_iter().collect();
    Ok(page(
        &c,
        "Devices",
        html! {
            h1 { "Devices" }
            @if let Some(f) = filter { p { "Showing " (f.as_str()) " · " a href="/devices" { "all devices" } } }
            (devices_table(&shown, now))
            (ui::pager("/devices", &pairs, offset, DEVICES_PAGE, shown.len(), Some(total)))
        },
    ))
}

#[derive(Deserialize)]
pub struct RangeQ {
    range: Option<String>,
}

/// Everything the device page shows.
pub(crate) struct DevicePage {
    pub device: DeviceView,
    /// Its parents: the staff-set ones, else the learned one.
    pub parents: Vec<DeviceView>,
    /// May change it (edit link, restore button) with this CSRF token.
    pub edit_csrf: Option<String>,
    pub incidents: Vec<IncidentView>,
    pub customers: Vec<Customer>,
    pub inventory: Vec<InventoryView>,
    pub history: Vec<HistoryEntry>,
    /// Its radio links (own radios, its row in its AP's table).
    pub links: Vec<monitoring::links::Link>,
    /// For an AP: its stations, weakest first.
    pub stations: Vec<monitoring::links::StationLink>,
    /// `hour`, `day` or `week`.
    pub range: &'static str,
}

pub async fn device(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RangeQ>,
) -> Result<Markup, ApiError> {
    let device = monitoring::get_device(&st.db, id).await?;
    let (_, range) = range_ms(q.range.as_deref())?;
    let parent_ids = match monitoring::edits::parents(&st.db, id).await? {
        set if !set.is_empty() => set,
        _ => device.parent_id.into_iter().collect(),
    };
    let mut parents = Vec::new();
    for p in parent_ids {
        parents.extend(monitoring::device(&st.db, p).await?);
    }
    let can_edit = device_form::EDITORS.contains(&c.role);
    let inventory = monitoring::inventory::device_inventory(&st.db, id).await?;
    let mut history = Vec::new();
    for i in &inventory {
        history.extend(monitoring::inventory::history_of(&st.db, i.site_id, &i.mac, 50).await?);
    }
    history.sort_by_key(|h| std::cmp::Reverse(h.ts_ms));
    history.truncate(50);
    let now = crate::db::now_ms();
    let p = DevicePage {
        links: monitoring::links::of_device(&st.db, id).await?,
        stations: monitoring::links::stations_of(&st.db, id, now).await?,
        incidents: monitoring::outages::open_for_device(&st.db, id).await?,
        customers: mast_store::customers::of_device(&st.db, id).await?,
        device,
        parents,
        edit_csrf: can_edit.then(|| c.csrf.clone().unwrap_or_default()),
        inventory,
        history,
        range,
    };
    let title = p.device.label().to_string();
    let item = crate::stock::device_section(&st, p.device.mac.as_deref()).await?;
    Ok(page(&c, &title, html! { (render_device(&p, now)) (item) }))
}

pub(crate) fn render_device(p: &DevicePage, now: i64) -> Markup {
    let d = &p.device;
    let (id, range) = (d.id, p.range);
    // Signal and link health come from raw samples only (at most a week).
    let (_, raw) = raw_range(range);
    let rtt_label = format!("RTT and loss over the last {range}");
    let signal_label = format!("Signal over the last {raw}");
    html! {
        h1 { (d.label()) }
        @if let Some(at) = d.retired_ms {
            div.banner.degraded role="status" {
                "Retired " (fmt_utc(at)) ". It is out of the lists, the counts and outage detection."
                @if let Some(csrf) = &p.edit_csrf {
                    " "
                    (ui::form_with_class("inline", &format!("/devices/{id}/restore"), Method::Post, csrf, html! {
                        button #restore-device type="submit" { "Bring it back" }
                    }))
                }
            }
        }
        p {
            (ui::badge(d.status.as_str())) " · site " (link("/sites/", d.site_id, &d.site))
            " · last sample " (ago(now, d.last_sample_ms))
            @if p.edit_csrf.is_some() && d.retired_ms.is_none() {
                " · " a #edit-device href={ "/devices/" (id) "/edit" } { "Edit" }
            }
        }
        @if let Some(n) = &d.notes {
            div.notes { h2 { "Notes" } p.pre { (n) } }
        }
        (ui::kv_list(&[
            ("Address", html! { span.mono { (d.addr) } }),
            ("RTT", html! { (ms(d.last_rtt_ms)) }),
            ("Loss (10 min)", html! { (pct(d.loss_pct)) }),
        ]))
        h2 { "Identity" }
        (ui::kv_list(&[
            ("MAC", html! { span.mono { (or_dash(d.mac.as_deref())) } }),
            ("Kind", html! {
                (or_dash(d.kind.map(|k| k.as_str())))
                @if d.kind.is_some() { span.muted { @if d.kind_set { " (set by staff)" } @else { " (learned)" } } }
            }),
            ("Vendor", html! { (or_dash(d.vendor.as_deref())) }),
            ("Model", html! { (or_dash(d.model.as_deref())) }),
            ("Firmware", html! { (or_dash(d.firmware.as_deref())) }),
            (if p.parents.len() > 1 { "Parents" } else { "Parent" }, html! {
                @if p.parents.is_empty() { "- (directly behind the backhaul)" }
                @for (i, pd) in p.parents.iter().enumerate() {
                    @if i > 0 { ", " }
                    (link("/devices/", pd.id, pd.label()))
                }
                @if !p.parents.is_empty() {
                    span.muted { @if d.parent_set { " (set by staff)" } @else { " (learned)" } }
                }
            }),
            ("Signal", html! { (dbm(d.signal_dbm)) }),
            ("SNMP", html! { (d.snmp.map(|s| s.as_str()).unwrap_or("not polled")) }),
        ]))
        @if !p.incidents.is_empty() {
            h2 { "Open incidents" }
            (super::incidents::incidents_table(&p.incidents, now))
        }
        @if !p.customers.is_empty() {
            h2 { "Customers" }
            (customers_table(&p.customers))
        }
        @if !p.inventory.is_empty() {
            h2 { "MACs" }
            (inventory_table(&p.inventory, now))
            h2 { "Inventory history" }
            (history_table(&p.history))
        }
        h2 { "RTT and loss" }
        p.ranges {
            @for (r, _) in RANGES {
                @if r == range { strong { (r) } } @else { a href={ "/devices/" (id) "?range=" (r) } { (r) } }
                " "
            }
        }
        (ui::chart(
            &format!("/devices/{id}/series.json?range={range}"),
            &rtt_label,
            ChartKind::Line,
            &format!("/devices/{id}/chart.svg?range={range}"),
        ))
        (crate::links::device_section(id, &p.links, &p.stations, raw, now))
        @if d.signal_dbm.is_some() && p.links.is_empty() {
            h2 { "Signal" }
            (ui::chart(
                &format!("/devices/{id}/signal.json?range={raw}"),
                &signal_label,
                ChartKind::Line,
                &format!("/devices/{id}/signal.svg?range={raw}"),
            ))
        }
    }
}

fn history_table(hist: &[HistoryEntry]) -> Markup {
    let mut t = Table::new("No changes recorded.").col("When (UTC)").col("MAC").col("Field").col("Was").col("Now");
    for h in hist {
        t.push(vec![
            html! { (fmt_utc(h.ts_ms)) },
            html! { span.mono { (h.mac) } },
            html! { (h.field) },
            html! { (or_dash(h.old_value.as_deref())) },
            html! { (or_dash(h.new_value.as_deref())) },
        ]);
    }
    t.render()
}

fn inventory_table(inv: &[InventoryView], now: i64) -> Markup {
    let mut t = Table::new("No MACs known.")
        .col("MAC")
        .col("Vendor (OUI)")
        .col("Kind")
        .col("IP")
        .col("Name")
        .col("Model")
        .col("Firmware")
        .col("Parent")
        .num_col("Signal")
        .col("Source")
        .col("First seen")
        .col("Last seen");
    for i in inv {
        t.push(vec![
            html! {
                span.mono {
                    @match i.device_id {
                        Some(d) => (link("/devices/", d, &i.mac)),
                        None => (i.mac),
                    }
                }
            },
            html! { (or_dash(i.oui_vendor.as_deref())) },
            html! { (i.kind.as_str()) },
            html! { (or_dash(i.ip.as_deref())) },
            html! { (or_dash(i.name.as_deref())) },
            html! { (or_dash(i.model.as_deref())) },
            html! { (or_dash(i.firmware.as_deref())) },
            html! { span.mono { (or_dash(i.parent_mac.as_deref())) } },
            html! { (dbm(i.signal_dbm)) },
            html! { (i.source.as_str()) },
            html! { (fmt_utc(i.first_seen_ms)) },
            html! { (ago(now, Some(i.last_seen_ms))) },
        ]);
    }
    t.render()
}

// ---------------------------------------------------------------- site

/// Everything the site page shows.
pub(crate) struct SitePage {
    pub site: Site,
    pub agents: Vec<AgentView>,
    pub devices: Vec<DeviceView>,
    pub probing: Option<monitoring::probing::Summary>,
    /// Suspended customers here: (id, name, MACs).
    pub suspended: Vec<(i64, String, Vec<String>)>,
    /// The viewer may change the site and enroll agents.
    pub admin: bool,
    /// The viewer may change the network (devices, backhaul).
    pub editor: bool,
    pub contacts: Vec<crate::monitoring::alert_rules::Contact>,
    /// Where the site's backhaul comes from, and the sites behind it.
    pub uplinks: Vec<monitoring::uplinks::Uplink>,
    pub feeds: Vec<monitoring::uplinks::Uplink>,
}

pub async fn site(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let site = monitoring::get_site(&st.db, id).await?;
    // Suspended for non-payment: what the network should be blocking here.
    let suspended = mast_app::billing::collections::suspended(&st.db)
        .await?
        .into_iter()
        .filter(|s| s.site.as_deref() == Some(site.name.as_str()))
        .map(|s| (s.customer_id, s.name, s.macs))
        .collect();
    let p = SitePage {
        agents: fleet::site_agents(&st.db, id).await?,
        devices: monitoring::site_devices(&st.db, id).await?,
        probing: monitoring::probing::summary(&st.db, id).await?,
        suspended,
        contacts: crate::monitoring::alert_rules::contacts(&st.db, id).await?,
        uplinks: monitoring::uplinks::of_site(&st.db, id).await?,
        feeds: monitoring::uplinks::fed_by(&st.db, id).await?,
        site,
        admin: c.role == Role::Admin,
        editor: device_form::EDITORS.contains(&c.role),
    };
    let title = p.site.name.clone();
    let equipment = crate::stock::installed_section(&st, None, Some(id)).await?;
    Ok(page(&c, &title, html! { (render_site(&p, crate::db::now_ms())) (equipment) }))
}

/// `GET /live/sites/{id}/devices`: the site's device tree (htmx).
pub async fn site_devices_live(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    monitoring::get_site(&st.db, id).await?;
    let devices = monitoring::site_devices(&st.db, id).await?;
    Ok(device_table(&device_tree(&devices), crate::db::now_ms()))
}

pub(crate) fn render_site(p: &SitePage, now: i64) -> Markup {
    let id = p.site.id;
    let mut agents =
        Table::new("No agent yet.").col("Agent").col("Uplink").col("Version").col("Last seen").num_col("Spool backlog");
    for a in &p.agents {
        agents.push(vec![
            html! { a href={ "/agents/" (a.id) } { "agent " (a.id) } },
            ui::badge(a.state().as_str()),
            html! { (or_dash(a.version.as_deref())) },
            html! { (ago(now, a.last_seen_ms)) },
            html! { (a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into())) },
        ]);
    }
    // Site names are letters, digits and "-_." only: nothing to encode.
    let enroll = format!("/agents?site={}#enroll-site", p.site.name);
    html! {
        h1 { (p.site.name) }
        p.muted {
            "Probed every " (p.site.interval_ms / 1000) " s"
            @if p.admin { " · " a #edit-site href={ "/sites/" (id) "/edit" } { "Edit site" } }
        }
        h2 { "Agent" }
        @if p.agents.is_empty() { p { "No agent yet." } }
        (agents)
        @if p.admin { p { a #enroll-here href=(enroll) { "Enroll an agent for this site" } } }
        (uplinks::section(id, &p.uplinks, &p.feeds, p.editor))
        h2 { "Contacts" }
        (super::alerts::contacts_table(id, &p.contacts, None))
        @if p.admin { p { a #site-contacts href={ "/sites/" (id) "/contacts" } { "Add or remove contacts" } } }
        h2 { "Devices" }
        (live("site-devices", &format!("/live/sites/{id}/devices"), device_table(&device_tree(&p.devices), now)))
        @if let Some(pr) = &p.probing {
            h2 { "Probing" }
            (ui::kv_list(&[
                ("SNMP", html! { "every " (pr.snmp_interval_ms / 1000) " s, " (pr.snmp_targets) " targets, " (pr.credentials) " credentials" }),
                ("Discovery", html! {
                    "every " (pr.discovery_interval_ms / 1000) " s over "
                    @if pr.subnets.is_empty() { "no subnets" } @else { (pr.subnets) }
                }),
                ("Ping pacing", html! { "at most " (pr.ping_rate_pps) " per second" }),
            ]))
            p { a href={ "/sites/" (id) "/inventory" } { "Inventory by MAC" } }
        }
        @if !p.suspended.is_empty() {
            h2 { "Suspended customers (" (p.suspended.len()) ")" }
            p.muted { "Enforce with " code { "mast-controller billing suspended --format mikrotik" } "." }
            ul {
                @for (cid, name, macs) in &p.suspended {
                    li {
                        (link("/customers/", *cid, name)) " " (ui::tone_badge(Tone::Down, "suspended")) " "
                        span.mono { (macs.join(", ")) }
                    }
                }
            }
        }
    }
}

/// Every MAC the site's agent learned, with the SNMP credentials in use
/// (version and v3 user only).
pub async fn site_inventory(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let site = monitoring::get_site(&st.db, id).await?;
    let now = crate::db::now_ms();
    let creds: Vec<String> = match monitoring::probing::get(&st.db, id).await? {
        Some(p) => p
            .view()
            .credentials
            .iter()
            .map(|c| match &c.user {
                Some(u) => format!(
                    "v3 {u} ({}/{})",
                    c.auth.map(|a| a.as_str()).unwrap_or("-"),
                    c.privacy.map(|p| p.as_str()).unwrap_or("-")
                ),
                None => c.version.as_str().to_string(),
            })
            .collect(),
        None => Vec::new(),
    };
    let inv = monitoring::inventory::site_inventory(&st.db, id).await?;
    Ok(page(
        &c,
        &site.name,
        html! {
            h1 { (site.name) " · inventory" }
            p { a href={ "/sites/" (id) } { "Back to the site" } }
            p { "SNMP credentials, tried in order: " @if creds.is_empty() { "none" } @else { (creds.join(", ")) } }
            h2 { (inv.len()) " MACs" }
            (inventory_table(&inv, now))
        },
    ))
}

// ---------------------------------------------------------------- charts

/// `GET /devices/{id}/series.json`: RTT (ms) and loss (%) for the chart.
pub async fn series_json(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RangeQ>,
) -> Result<Json<Value>, ApiError> {
    let (span, _) = range_ms(q.range.as_deref())?;
    let now = crate::db::now_ms();
    let points = monitoring::device_series(&st.db, id, now - span, now, 240).await?;
    if points.is_empty() {
        // Only then ask whether the device exists (404): one query for a chart with data.
        monitoring::check_device(&st.db, id).await?;
    }
    Ok(Json(rtt_series(&points)))
}

/// `GET /devices/{id}/signal.json`: signal (dBm) for the chart.
pub async fn signal_json(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RangeQ>,
) -> Result<Json<Value>, ApiError> {
    let (span, _) = raw_range(range_ms(q.range.as_deref())?.1);
    let now = crate::db::now_ms();
    let points = monitoring::signal_series(&st.db, id, now - span, now, 240).await?;
    if points.is_empty() {
        // Only then ask whether the device exists (404): one query for a chart with data.
        monitoring::check_device(&st.db, id).await?;
    }
    Ok(Json(signal_series(&points)))
}

/// `{"x":[unix s],"series":[RTT ms, loss %]}` (see mast.js).
pub(crate) fn rtt_series(points: &[monitoring::Point]) -> Value {
    json!({
        "x": points.iter().map(|p| p.t_ms / 1000).collect::<Vec<_>>(),
        "series": [
            {"label": "RTT", "scale": "ms", "values": points.iter().map(|p| p.rtt_ms).collect::<Vec<_>>()},
            {"label": "Loss", "scale": "%", "values": points.iter().map(|p| p.loss_pct).collect::<Vec<_>>()},
        ],
    })
}

/// `{"x":[unix s],"series":[signal dBm]}` (see mast.js).
pub(crate) fn signal_series(points: &[monitoring::SignalPoint]) -> Value {
    json!({
        "x": points.iter().map(|p| p.t_ms / 1000).collect::<Vec<_>>(),
        "series": [
            {"label": "Signal", "scale": "dBm", "values": points.iter().map(|p| p.signal_dbm).collect::<Vec<_>>()},
        ],
    })
}

fn svg_response(svg: Markup) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg.into_string()).into_response()
}

/// Server-rendered SVG: mean RTT as a line, loss as red bars, per bucket.
pub async fn chart(State(st): State<AppState>, Path(id): Path<i64>, Query(q): Query<RangeQ>) -> PageResult {
    let (span, _) = range_ms(q.range.as_deref())?;
    let now = crate::db::now_ms();
    let points = monitoring::device_series(&st.db, id, now - span, now, 240).await?;
    if points.is_empty() {
        // Only then ask whether the device exists (404): one query for a chart with data.
        monitoring::check_device(&st.db, id).await?;
    }
    Ok(svg_response(render_chart(&points, now - span, now)))
}

/// Server-rendered SVG of a radio's signal (dBm, from its AP's station table).
pub async fn signal_chart(State(st): State<AppState>, Path(id): Path<i64>, Query(q): Query<RangeQ>) -> PageResult {
    let (span, _) = raw_range(range_ms(q.range.as_deref())?.1);
    let now = crate::db::now_ms();
    let points = monitoring::signal_series(&st.db, id, now - span, now, 240).await?;
    if points.is_empty() {
        // Only then ask whether the device exists (404): one query for a chart with data.
        monitoring::check_device(&st.db, id).await?;
    }
    Ok(svg_response(render_signal(&points, now - span, now)))
}

/// The frame of a chart: white background, the time labels under it.
fn chart_svg(w: f64, h: f64, left: f64, from: i64, to: i64, body: Markup) -> Markup {
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (w) " " (h) } font-family="sans-serif" font-size="11" {
            rect width=(w) height=(h) fill="#fff" {}
            (body)
            text x=(left) y=(h - 4.0) fill="#555" { (fmt_utc(from)) }
            text x=(w - 4.0) y=(h - 4.0) fill="#555" text-anchor="end" { (fmt_utc(to)) " UTC" }
        }
    }
}

pub(crate) fn render_signal(points: &[monitoring::SignalPoint], from: i64, to: i64) -> Markup {
    let (w, h, left, bottom) = (800.0, 160.0, 56.0, 20.0);
    // Radio signal lives between about -95 dBm (unusable) and -30 dBm.
    let (lo, hi) = (-95.0f64, -30.0f64);
    let x = |t: i64| left + (t - from) as f64 / (to - from).max(1) as f64 * (w - left - 4.0);
    let y = |v: f64| (h - bottom) - (v.clamp(lo, hi) - lo) / (hi - lo) * (h - bottom - 8.0);
    let mut path = String::new();
    for p in points {
        path.push_str(&format!("{}{:.1},{:.1} ", if path.is_empty() { "M" } else { "L" }, x(p.t_ms), y(p.signal_dbm)));
    }
    chart_svg(
        w,
        h,
        left,
        from,
        to,
        html! {
            line x1=(left) y1=(n1(y(-75.0))) x2=(w) y2=(n1(y(-75.0))) stroke="#e67e22" stroke-dasharray="4 3" {}
            text x="4" y="14" fill="#555" { (hi) " dBm" }
            text x="4" y=(h - bottom) fill="#555" { (lo) " dBm" }
            text x="4" y=(n1(y(-75.0) + 4.0)) fill="#e67e22" { "-75" }
            path d=(path.trim_end()) fill="none" stroke="#14324f" stroke-width="1.5" {}
            @if points.is_empty() {
                text x=(w / 2.0 - 80.0) y=(h / 2.0) fill="#888" { "no signal samples in this range" }
            }
        },
    )
}

pub(crate) fn render_chart(points: &[monitoring::Point], from: i64, to: i64) -> Markup {
    let (w, h, left, bottom) = (800.0, 240.0, 48.0, 20.0);
    let max_rtt = points.iter().filter_map(|p| p.rtt_ms).fold(1.0f64, f64::max) * 1.1;
    let x = |t: i64| left + (t - from) as f64 / (to - from).max(1) as f64 * (w - left - 4.0);
    let y = |v: f64| (h - bottom) - v / max_rtt * (h - bottom - 8.0);
    let bw = ((w - left) / points.len().max(1) as f64).max(1.0);
    // The RTT line, broken where a bucket had no answer.
    let mut path = String::new();
    let mut pen_up = true;
    for p in points {
        match p.rtt_ms {
            Some(r) => {
                path.push_str(&format!("{}{:.1},{:.1} ", if pen_up { "M" } else { "L" }, x(p.t_ms), y(r)));
                pen_up = false;
            }
            None => pen_up = true,
        }
    }
    chart_svg(
        w,
        h,
        left,
        from,
        to,
        html! {
            line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#ccc" {}
            text x="4" y="14" fill="#555" { (format!("{max_rtt:.1}")) " ms" }
            text x="4" y=(h - bottom) fill="#555" { "0" }
            @for p in points.iter().filter(|p| p.loss_pct > 0.0) {
                @let bh = p.loss_pct / 100.0 * (h - bottom - 8.0);
                rect x=(n1(x(p.t_ms) - bw / 2.0)) y=(n1(h - bottom - bh)) width=(n1(bw)) height=(n1(bh))
                    fill="#c0392b" fill-opacity="0.35" {
                    title { (format!("{:.0}", p.loss_pct)) " % loss" }
                }
            }
            path d=(path.trim_end()) fill="none" stroke="#14324f" stroke-width="1.5" {}
            @if points.is_empty() {
                text x=(w / 2.0 - 60.0) y=(h / 2.0) fill="#888" { "no samples in this range" }
            }
        },
    )
}

// ---------------------------------------------------------------- agents

pub async fn agents(c: Caller, State(st): State<AppState>, Query(q): Query<StatusQ>) -> Result<Markup, ApiError> {
    let filter = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(AgentState::parse(s)?),
    };
    agents_page(&c, &st, filter, &FormErrors::new(), q.site.as_deref().unwrap_or("")).await
}

async fn agents_page(
    c: &Caller,
    st: &AppState,
    filter: Option<AgentState>,
    errors: &FormErrors,
    site: &str,
) -> Result<Markup, ApiError> {
    let agents = fleet::list_agents(&st.db).await?;
    let shown: Vec<&AgentView> = agents.iter().filter(|a| filter.is_none_or(|f| a.state() == f)).collect();
    let sites: Vec<String> = if c.role == Role::Admin {
        monitoring::list_sites(&st.db).await?.into_iter().map(|s| s.name).collect()
    } else {
        Vec::new()
    };
    let form = (c.role == Role::Admin).then(|| enroll_form(c.csrf.as_deref().unwrap_or(""), &sites, errors, site));
    let now = crate::db::now_ms();
    let workers = match c.role {
        Role::Admin => Some(render_workers(&mast_store::leases::list(&st.db).await?, st.leases.holder(), now)),
        _ => None,
    };
    Ok(page(
        c,
        "Agents",
        html! {
            (render_agents(&shown, filter, form, now))
            @if let Some(w) = workers { (w) }
        },
    ))
}

/// Which controller runs each run-once worker (several controllers on
/// one PostgreSQL; one controller holds them all).
pub(crate) fn render_workers(leases: &[mast_store::leases::Lease], this: &str, now: i64) -> Markup {
    let mut t = Table::new("No controller has taken the workers yet.").col("Worker").col("Run by").col("Lease");
    for l in leases {
        t.push(vec![
            html! { (l.name) },
            html! { (l.holder) @if l.holder == this { " (this controller)" } },
            if l.expires_ms < now {
                ui::badge("expired")
            } else {
                html! { "renewed, " ((l.expires_ms - now) / 1000) " s left" }
            },
        ]);
    }
    html! {
        h2 { "Controllers" }
        p { "Each worker that must run once (outbox, correlator, billing, rollups, ...) runs on the controller holding its lease. "
            "When that controller stops, another takes the lease within about a minute." }
        (t)
    }
}

/// The enrollment form: a site to enroll an agent for.
pub(crate) fn enroll_form(csrf: &str, sites: &[String], errors: &FormErrors, selected: &str) -> Markup {
    let f = Fields::new("enroll", errors);
    let mut options: Vec<(&str, &str)> = vec![("", "Choose a site")];
    options.extend(sites.iter().map(|s| (s.as_str(), s.as_str())));
    html! {
        h2 { "Enroll an agent" }
        (ui::form("/agents", Method::Post, csrf, html! {
            (f.summary())
            (f.select_field("site", "Site", &options, selected, FieldOpts::new().required()
                .hint("The token works once, for this site, and is shown only once.")))
            button type="submit" { "Create enrollment token" }
        }))
    }
}

pub(crate) fn render_agents(
    agents: &[&AgentView],
    filter: Option<AgentState>,
    form: Option<Markup>,
    now: i64,
) -> Markup {
    let mut t = Table::new(if filter.is_some() { "No agent in this state." } else { "No agents yet." })
        .col("Agent")
        .col("Site")
        .col("State")
        .col("Version")
        .col("Last seen")
        .num_col("Backlog");
    for a in agents {
        t.push(vec![
            html! { a href={ "/agents/" (a.id) } { "agent " (a.id) } },
            link("/sites/", a.site_id, &a.site),
            ui::badge(a.state().as_str()),
            html! { (or_dash(a.version.as_deref())) },
            html! { (ago(now, a.last_seen_ms)) },
            html! { (a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into())) },
        ]);
    }
    html! {
        h1 { "Agents" }
        @if let Some(f) = filter { p { "Showing " (f.as_str()) " · " a href="/agents" { "all agents" } } }
        (t)
        @if let Some(form) = form { (form) }
    }
}

#[derive(Deserialize)]
pub struct EnrollForm {
    #[serde(default)]
    site: String,
}

pub async fn enroll_agent(
    c: Caller,
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<EnrollForm>,
) -> PageResult {
    let ttl = st.settings.agents.enroll_token_ttl;
    let (id, token) = match fleet::add_agent(&st.db, &f.site, ttl).await {
        Ok(v) => v,
        Err(e) => {
            let Some(errors) = form_errors(&e, &["site"]) else { return Err(e.into()) };
            let body = agents_page(&c, &st, None, &errors, &f.site).await?;
            return Ok((StatusCode::BAD_REQUEST, body).into_response());
        }
    };
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
    let hours = ttl.as_secs() / 3600;
    Ok(page(
        &c,
        "Enroll agent",
        html! {
            h1 { "Agent " (id) " for " (f.site) }
            p { "Run this on the tower within " (hours) " hours. The token works once and is shown only now." }
            pre.cmd #enroll-command { (cmd) }
            p { a href="/agents" { "Back to agents" } }
        },
    )
    .into_response())
}

pub async fn agent(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let a = fleet::get_agent(&st.db, id).await?;
    let d = delivery_report(&st.db, id).await?;
    let csrf = (c.role == Role::Admin).then(|| c.csrf.clone().unwrap_or_default());
    Ok(page(&c, &format!("Agent {id}"), render_agent(&a, &d, csrf.as_deref(), crate::db::now_ms())))
}

/// One agent: state, revocation (when `revoke_csrf` is given: admins),
/// delivery integrity per boot epoch, uplink outages.
pub(crate) fn render_agent(a: &AgentView, d: &Delivery, revoke_csrf: Option<&str>, now: i64) -> Markup {
    let mut epochs = Table::new("Nothing delivered yet.")
        .num_col("Boot epoch")
        .col("Seq range")
        .num_col("Stored")
        .num_col("Reported dropped")
        .num_col("Unexplained");
    for e in &d.epochs {
        epochs.push(vec![
            html! { (e.boot_epoch) },
            html! { (e.first_seq) "-" (e.last_seq) },
            html! { (e.stored) },
            html! { (e.reported_dropped) },
            html! { (e.unexplained) },
        ]);
    }
    let mut outages = Table::new("No uplink outage reported.").col("From (UTC)").col("Duration");
    for o in &d.uplink_outages {
        outages.push(vec![
            html! { (fmt_utc(o.from_ms)) },
            html! {
                @match o.to_ms {
                    Some(t) => { (mast_text_core::when::human_duration(t - o.from_ms)) },
                    None => { "ongoing" },
                }
            },
        ]);
    }
    html! {
        h1 { "Agent " (a.id) " · site " (link("/sites/", a.site_id, &a.site)) }
        p {
            (ui::badge(a.state().as_str())) " · version " (or_dash(a.version.as_deref()))
            " · " (or_dash(a.target.as_deref())) " · last seen " (ago(now, a.last_seen_ms))
            " · backlog " (a.backlog.map(|n| n.to_string()).unwrap_or_else(|| "-".into()))
        }
        @if let Some(rev) = a.config_revision {
            p #agent-config {
                "Config revision " (rev) " "
                @match a.config_confirmed {
                    Some(true) => { (ui::tone_badge(Tone::Up, "confirmed")) }
                    _ => { (ui::tone_badge(Tone::Neutral, "applied, not confirmed yet")) }
                }
                @if a.config_checksum_ok == Some(false) { " " (ui::tone_badge(Tone::Down, "differs from what was pushed")) }
                @if let Some(r) = a.config_rejected {
                    " " (ui::tone_badge(Tone::Down, &format!("reverted revision {r}: it cut the agent off")))
                }
            }
        }
        @if let Some(csrf) = revoke_csrf.filter(|_| a.status != AgentStatus::Revoked) {
            (ui::form_with_class("inline", &format!("/agents/{}/revoke", a.id), Method::Post, csrf, html! {
                button.danger #revoke type="submit" { "Revoke agent…" }
            }))
        }
        h2 { "Delivery" }
        p {
            @if d.data_loss { (ui::tone_badge(Tone::Down, "data loss")) } @else { (ui::tone_badge(Tone::Up, "complete")) }
            " " (d.stored) " stored, " (d.reported_dropped) " reported dropped by the agent, "
            (d.unexplained) " unexplained"
        }
        (epochs)
        h2 { "Uplink outages" }
        (outages)
    }
}

/// `POST /agents/{id}/revoke`: a confirmation page first (what revoking
/// does), then the revocation once confirmed.
pub async fn revoke_agent(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<u64>,
    Form(f): Form<site_form::ConfirmForm>,
) -> PageResult {
    if f.confirm != "yes" {
        let a = fleet::get_agent(&st.db, i64::try_from(id).unwrap_or(i64::MAX)).await?;
        let body = html! {
            h1 { "Revoke agent " (a.id) " of " (a.site) "?" }
            p {
                "Its certificate is refused from now on and its live link closes within a second. "
                "The site is no longer probed until a new agent enrolls. This cannot be undone."
            }
            (ui::form_with_class("inline", &format!("/agents/{id}/revoke"), Method::Post,
                c.csrf.as_deref().unwrap_or(""), html! {
                (ui::hidden("confirm", "yes"))
                button.danger #confirm-revoke type="submit" { "Revoke agent " (a.id) }
            }))
            " " a href={ "/agents/" (a.id) } { "Keep it" }
        };
        return Ok(page(&c, &format!("Revoke agent {id}"), body).into_response());
    }
    if !fleet::revoke(&st.db, id).await? {
        return Err(ApiError::not_found(format!("no active or pending agent {id}")));
    }
    audit::record(&st.db, &c.actor(), "agent.revoke", &format!("agent {id}"), "").await?;
    Ok(Redirect::to(&format!("/agents/{id}")).into_response())
}

// ---------------------------------------------------------------- search

#[derive(Deserialize)]
pub struct SearchQ {
    q: Option<String>,
}

/// What a search found.
#[derive(Default)]
pub(crate) struct Found {
    pub sites: Vec<Site>,
    pub devices: Vec<DeviceView>,
    pub macs: Vec<InventoryView>,
    pub customers: Vec<Customer>,
}

pub async fn search(c: Caller, State(st): State<AppState>, Query(q): Query<SearchQ>) -> PageResult {
    let term = q.q.unwrap_or_default();
    let term = term.trim();
    let now = crate::db::now_ms();
    if let Err(p) = mast_text_core::input::line(term, 200) {
        let body = render_search(term, Some(&format!("The search {p}.")), None, now);
        return Ok((StatusCode::BAD_REQUEST, page(&c, "Search", body)).into_response());
    }
    if term.is_empty() {
        return Ok(page(&c, "Search", render_search(term, None, None, now)).into_response());
    }
    let lower = term.to_lowercase();
    let found = Found {
        sites: monitoring::list_sites(&st.db)
            .await?
            .into_iter()
            .filter(|s| s.name.to_lowercase().contains(&lower))
            .collect(),
        devices: monitoring::search_devices(&st.db, term).await?,
        macs: monitoring::inventory::search_mac(&st.db, term).await?,
        customers: mast_store::customers::search(&st.db, term, 50, 0).await?,
    };
    Ok(page(&c, "Search", render_search(term, None, Some(&found), now)).into_response())
}

pub(crate) fn render_search(term: &str, error: Option<&str>, found: Option<&Found>, now: i64) -> Markup {
    html! {
        h1 { "Search: " (term) }
        @if let Some(e) = error { (ui::flash(ui::FlashKind::Error, e)) }
        @match found {
            None => p { "Type a site, device name, IP address, MAC or customer." },
            Some(f) if f.sites.is_empty() && f.devices.is_empty() && f.macs.is_empty() && f.customers.is_empty() => {
                p { "Nothing found." }
            }
            Some(f) => {
                @if !f.sites.is_empty() {
                    h2 { "Sites" }
                    ul { @for s in &f.sites { li { (link("/sites/", s.id, &s.name)) } } }
                }
                @if !f.devices.is_empty() {
                    h2 { "Devices" }
                    (devices_table(&f.devices, now))
                }
                @if !f.macs.is_empty() {
                    h2 { "MACs" }
                    (inventory_table(&f.macs, now))
                }
                @if !f.customers.is_empty() {
                    h2 { "Customers" }
                    (customers_table(&f.customers))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
