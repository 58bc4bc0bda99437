//! Radio link health pages: the link section of a device page (its own
//! radios, its row in its AP's station table, an AP's stations weakest
//! first with their 7-day trend), the chart data, the weak-links page a
//! technician works from, and their `/api/v1` forms.

use super::api::{RangeQ, range_ms, raw_range};
use super::pages::page;
use super::{ApiError, AppState, Caller, ago};
use crate::monitoring::links::{self, Link, StationLink, Weakness};
use crate::monitoring::{self, DeviceKind};
use crate::ui::{self, ChartKind, Markup, Table, html};
use axum::Json;
use axum::extract::{Path, Query, State};
use maud::Render;
use serde::Deserialize;
use serde_json::{Value, json};

/// A small icon per device kind (inline SVG, labelled for screen readers),
/// for the device tree and lists.
pub(crate) fn kind_icon(kind: Option<DeviceKind>) -> Markup {
    let (label, body) = match kind {
        Some(DeviceKind::Ap) => (
            "AP",
            html! {
                path d="M8 15V7" stroke="currentColor" stroke-width="1.6" {}
                path d="M4.5 5.5a5 5 0 0 1 7 0M2.5 3.5a8 8 0 0 1 11 0" fill="none" stroke="currentColor" stroke-width="1.4" {}
            },
        ),
        Some(DeviceKind::Cpe) => (
            "CPE",
            html! {
                path d="M3 13l5-9 5 9z" fill="none" stroke="currentColor" stroke-width="1.4" {}
                circle cx="8" cy="10" r="1.4" fill="currentColor" {}
            },
        ),
        Some(DeviceKind::Backhaul) => (
            "Backhaul",
            html! {
                circle cx="3" cy="8" r="2" fill="currentColor" {}
                circle cx="13" cy="8" r="2" fill="currentColor" {}
                path d="M5 8h6" stroke="currentColor" stroke-width="1.6" stroke-dasharray="2 1.5" {}
            },
        ),
        Some(DeviceKind::Router) => (
            "Router",
            html! {
                circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.4" {}
                path d="M5 8h6M8 5v6" stroke="currentColor" stroke-width="1.4" {}
            },
        ),
        Some(DeviceKind::Switch) => (
            "Switch",
            html! {
                rect x="1.5" y="5" width="13" height="6" rx="1" fill="none" stroke="currentColor" stroke-width="1.4" {}
                path d="M4 8h1M7 8h1M10 8h1" stroke="currentColor" stroke-width="1.6" {}
            },
        ),
        _ => (
            "Other",
            html! {
                rect x="3" y="3" width="10" height="10" rx="2" fill="none" stroke="currentColor" stroke-width="1.4" {}
            },
        ),
    };
    html! {
        svg.kind-icon xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16" width="16" height="16"
            role="img" aria-label=(label) { title { (label) } (body) }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>, unit: &str) -> String {
    v.map(|x| format!("{x}{unit}")).unwrap_or_else(|| "-".into())
}

fn mbps(v: Option<i64>) -> String {
    v.map(|k| format!("{:.0} Mb/s", k as f64 / 1000.0)).unwrap_or_else(|| "-".into())
}

fn pair(a: Option<i64>, b: Option<i64>) -> String {
    match (a, b) {
        (None, None) => "-".into(),
        (a, b) => format!("{} / {}", mbps(a).trim_end_matches(" Mb/s"), mbps(b)),
    }
}

fn change(c: Option<f64>) -> Markup {
    match c {
        None => html! { "-" },
        Some(c) if c <= -3.0 => html! { span.bad { (format!("{c:+.0} dB")) } },
        Some(c) => html! { (format!("{c:+.0} dB")) },
    }
}

/// The figures of one link as a definition list (only what it has).
fn link_facts(l: &Link) -> Markup {
    let mut rows: Vec<(&str, Markup)> = Vec::new();
    let mut add = |k, v: Option<String>| {
        if let Some(v) = v {
            rows.push((k, html! { (v) }));
        }
    };
    add("Signal", l.signal_dbm.map(|s| format!("{s} dBm")));
    if let (Some(a), Some(b)) = (l.chain0_dbm, l.chain1_dbm) {
        add("Chains", Some(format!("{a} / {b} dBm ({} dB apart)", (a - b).abs())));
    }
    add("Far end hears", l.remote_signal_dbm.map(|s| format!("{s} dBm")));
    add("Noise floor", l.noise_dbm.map(|s| format!("{s} dBm")));
    add("SNR", l.snr_db.map(|s| format!("{s} dB")));
    add("Quality", l.quality_pct.map(|s| format!("{s} %")));
    add("Airtime", l.airtime_pct.map(|s| format!("{s} %")));
    if l.tx_rate_kbps.is_some() || l.rx_rate_kbps.is_some() {
        add("Rate tx / rx", Some(pair(l.tx_rate_kbps, l.rx_rate_kbps)));
    }
    if l.tx_capacity_kbps.is_some() || l.rx_capacity_kbps.is_some() {
        add("Capacity tx / rx", Some(pair(l.tx_capacity_kbps, l.rx_capacity_kbps)));
    }
    add("Modulation", l.modulation.clone());
    add(
        "Channel",
        l.frequency_mhz
            .map(|f| format!("{f} MHz{}", l.width_mhz.map(|w| format!(", {w} MHz wide")).unwrap_or_default())),
    );
    add("Tx power", l.tx_power_dbm.map(|s| format!("{s} dBm")));
    add("Distance", l.distance_m.map(|m| format!("{m} m")));
    add("Stations", l.stations.map(|n| n.to_string()));
    add("Linked to", l.peer_mac.clone());
    ui::kv_list(&rows)
}

/// The device page's link section.
pub(crate) fn device_section(
    device_id: i64,
    links: &[Link],
    stations: &[StationLink],
    range: &str,
    now: i64,
) -> Markup {
    let own: Vec<&Link> = links.iter().filter(|l| l.role == 1).collect();
    let seen: Vec<&Link> = links.iter().filter(|l| l.role == 0).collect();
    let label = format!("Link health over the last {range}");
    html! {
        @if !links.is_empty() {
            h2 #link-health { "Link health" }
            @for l in &seen {
                h3 { "As its AP sees it" @if let Some(ap) = l.via_device_id { " (" a href={ "/devices/" (ap) } { "AP" } ")" } }
                (link_facts(l))
                p.muted { "Polled " (ago(now, Some(l.ts_ms))) }
            }
            @for l in &own {
                h3 { "Radio " (l.radio) }
                (link_facts(l))
                p.muted { "Polled " (ago(now, Some(l.ts_ms))) }
            }
            (ui::chart(
                &format!("/devices/{device_id}/link.json?range={range}"),
                &label,
                ChartKind::Line,
                &format!("/devices/{device_id}/signal.svg?range={range}"),
            ))
        }
        @if !stations.is_empty() {
            h2 #stations { "Stations (" (stations.len()) "), weakest first" }
            (stations_table(stations, now))
        }
    }
}

/// An AP's stations (or any list of station links), as staff read them.
pub(crate) fn stations_table(stations: &[StationLink], now: i64) -> Markup {
    let mut t = Table::new("No stations.")
        .col("Station")
        .col("MAC")
        .num_col("Signal")
        .num_col("7 days")
        .num_col("Chains")
        .num_col("SNR")
        .num_col("Quality")
        .num_col("Rate tx / rx")
        .num_col("Capacity tx / rx")
        .num_col("Distance")
        .col("Polled");
    for s in stations {
        let l = &s.link;
        t.push(vec![
            html! { a href={ "/devices/" (l.device_id) } { (s.name.as_deref().unwrap_or(&s.addr)) } },
            html! { span.mono { (s.mac.as_deref().unwrap_or("-")) } },
            html! { (opt(l.signal_dbm, " dBm")) },
            change(s.change_7d_db),
            html! { (opt(l.chain_imbalance_db(), " dB")) },
            html! { (opt(l.snr_db, " dB")) },
            html! { (opt(l.quality_pct, " %")) },
            html! { (pair(l.tx_rate_kbps, l.rx_rate_kbps)) },
            html! { (pair(l.tx_capacity_kbps, l.rx_capacity_kbps)) },
            html! { (opt(l.distance_m, " m")) },
            html! { (ago(now, Some(l.ts_ms))) },
        ]);
    }
    t.render()
}

/// A customer's radios and their links: one row per link (its row in its
/// AP's station table, its own radio), for the customer page.
pub(crate) fn customer_links(links: &[(String, Link)], now: i64) -> Markup {
    let mut t = Table::new("No link figures yet.")
        .col("Radio")
        .col("Seen by")
        .num_col("Signal")
        .num_col("Chains")
        .num_col("SNR")
        .num_col("Quality")
        .num_col("Rate tx / rx")
        .num_col("Capacity tx / rx")
        .num_col("Distance")
        .col("Polled");
    for (label, l) in links {
        t.push(vec![
            html! { a href={ "/devices/" (l.device_id) "#link-health" } { (label) } },
            html! {
                @match (l.role, l.via_device_id) {
                    (0, Some(ap)) => { "its AP (" a href={ "/devices/" (ap) } { "device " (ap) } ")" },
                    _ => { "itself, radio " (l.radio) },
                }
            },
            html! { (opt(l.signal_dbm, " dBm")) },
            html! { (opt(l.chain_imbalance_db(), " dB apart")) },
            html! { (opt(l.snr_db, " dB")) },
            html! { (opt(l.quality_pct, " %")) },
            html! { (pair(l.tx_rate_kbps, l.rx_rate_kbps)) },
            html! { (pair(l.tx_capacity_kbps, l.rx_capacity_kbps)) },
            html! { (opt(l.distance_m, " m")) },
            html! { (ago(now, Some(l.ts_ms))) },
        ]);
    }
    html! { h3 { "Radio link" } (t.render()) }
}

/// `GET /devices/{id}/link.json`: the link chart's data (see mast.js).
pub async fn link_json(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<RangeQ>,
) -> Result<Json<Value>, ApiError> {
    let (span, _) = raw_range(range_ms(q.range.as_deref())?.1);
    let now = crate::db::now_ms();
    let points = links::series(&st.db, id, now - span, now, 240).await?;
    if points.is_empty() {
        monitoring::check_device(&st.db, id).await?;
    }
    let col = |f: fn(&links::LinkPoint) -> Option<f64>| points.iter().map(f).collect::<Vec<_>>();
    Ok(Json(json!({
        "x": points.iter().map(|p| p.t_ms / 1000).collect::<Vec<_>>(),
        "series": [
            {"label": "Signal", "scale": "dBm", "values": col(|p| p.signal_dbm)},
            {"label": "Far end", "scale": "dBm", "values": col(|p| p.remote_signal_dbm)},
            {"label": "Noise", "scale": "dBm", "values": col(|p| p.noise_dbm)},
            {"label": "SNR", "scale": "dB", "values": col(|p| p.snr_db)},
            {"label": "Capacity", "scale": "Mb/s", "values": col(|p| p.capacity_mbps)},
        ],
    })))
}

#[derive(Deserialize, Default)]
pub struct WeakQ {
    pub site: Option<String>,
    pub signal: Option<String>,
    pub snr: Option<String>,
}

fn weakness(q: &WeakQ) -> Result<(Weakness, Option<i64>), ApiError> {
    let mut w = Weakness::default();
    let num = |v: &Option<String>, name: &str, lo: i64, hi: i64| -> Result<Option<i64>, ApiError> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => match s.parse::<i64>() {
                Ok(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
                _ => Err(ApiError::bad_request(format!("{name} must be a whole number from {lo} to {hi}"))),
            },
        }
    };
    if let Some(s) = num(&q.signal, "signal", -120, 0)? {
        w.signal_dbm = s;
    }
    if let Some(s) = num(&q.snr, "snr", 0, 80)? {
        w.snr_db = s;
    }
    let site = num(&q.site, "site", 1, i64::MAX)?;
    Ok((w, site))
}

/// `GET /network/links`: stations with a weak, noisy, unbalanced or
/// weakening link, weakest first: the list a technician works from.
pub async fn weak_page(c: Caller, State(st): State<AppState>, Query(q): Query<WeakQ>) -> Result<Markup, ApiError> {
    let (w, site) = weakness(&q)?;
    let now = crate::db::now_ms();
    let rows = links::weak(&st.db, w, site, now, 500).await?;
    let sites = monitoring::list_sites(&st.db).await?;
    let site_name = |id: i64| sites.iter().find(|s| s.id == id).map(|s| s.name.as_str()).unwrap_or("?");
    let mut t = Table::new("No weak links: every station is above the lines.")
        .col("Site")
        .col("AP")
        .col("Station")
        .num_col("Signal")
        .num_col("7 days")
        .num_col("SNR")
        .num_col("Chains")
        .col("Why")
        .col("Polled");
    for (s, why) in &rows {
        let l = &s.link;
        t.push(vec![
            html! { a href={ "/sites/" (s.site_id) } { (site_name(s.site_id)) } },
            html! { @if let Some(ap) = l.via_device_id { a href={ "/devices/" (ap) "#stations" } { "AP " (ap) } } },
            html! { a href={ "/devices/" (l.device_id) "#link-health" } { (s.name.as_deref().unwrap_or(&s.addr)) } },
            html! { (opt(l.signal_dbm, " dBm")) },
            change(s.change_7d_db),
            html! { (opt(l.snr_db, " dB")) },
            html! { (opt(l.chain_imbalance_db(), " dB")) },
            html! { (why.join(", ")) },
            html! { (ago(now, Some(l.ts_ms))) },
        ]);
    }
    let body = html! {
        h1 { "Weak links" }
        p.muted {
            "Stations whose signal is below " (w.signal_dbm) " dBm, SNR below " (w.snr_db) " dB, chains more than "
            (w.imbalance_db) " dB apart, or signal more than " (w.drop_db) " dB weaker than a week ago. "
            a href="/alerts/rules" { "Alert rules" } " tell the on-call group when a link gets worse."
        }
        form.filters method="get" action="/network/links" {
            label { "Site " select name="site" {
                option value="" { "Every site" }
                @for s in &sites {
                    option value=(s.id) selected[site == Some(s.id)] { (s.name) }
                }
            } }
            " "
            label { "Signal below (dBm) " input type="number" name="signal" value=(w.signal_dbm) min="-120" max="0"; }
            " "
            label { "SNR below (dB) " input type="number" name="snr" value=(w.snr_db) min="0" max="80"; }
            " " button type="submit" { "Show" }
        }
        (t.render())
    };
    Ok(page(&c, "Weak links", body))
}

/// `GET /api/v1/devices/{id}/links`: a device's links and, for an AP, its stations.
pub async fn api_device(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    monitoring::check_device(&st.db, id).await?;
    let now = crate::db::now_ms();
    let own = links::of_device(&st.db, id).await?;
    let stations = links::stations_of(&st.db, id, now).await?;
    Ok(Json(json!({ "device_id": id, "links": own, "stations": stations })))
}

/// `GET /api/v1/links/weak`: the weak-links list.
pub async fn api_weak(State(st): State<AppState>, Query(q): Query<WeakQ>) -> Result<Json<Value>, ApiError> {
    let (w, site) = weakness(&q)?;
    let rows = links::weak(&st.db, w, site, crate::db::now_ms(), 500).await?;
    let list: Vec<Value> = rows.into_iter().map(|(s, why)| json!({ "station": s, "why": why })).collect();
    Ok(Json(json!({ "links": list })))
}
