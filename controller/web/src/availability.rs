//! Availability reports: per site (its devices together and each one), per
//! device and per customer, over a chosen period of whole days in the
//! operator's time zone; the page with a bar per device, its CSV, and
//! `GET /api/v1/availability`. Maintenance is excluded and listed; a
//! tower's backhaul outages count as down for its devices.

use super::{ApiError, AppState, Caller, pages::page};
use crate::monitoring::{self, availability as report};
use crate::ui::{self, Markup, Table, html};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mast_ops_core::availability::{Availability, Span};
use mast_store::StoreError;
use mast_text_core::when::{fmt_date, fmt_utc, human_duration, local_date, parse_date};
use maud::Render;
use serde::Deserialize;
use serde_json::json;

/// The longest report (raw samples are kept 30 days by default).
const MAX_DAYS: i64 = 31;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AvailabilityQ {
    /// First day, `YYYY-MM-DD` (default: 30 days ago).
    from: String,
    /// Last day, inclusive (default: today).
    to: String,
    site: Option<i64>,
    device: Option<i64>,
    customer: Option<i64>,
}

/// The period `[from 00:00, to + 1 day 00:00)` in the operator's zone, and
/// the two dates as given or defaulted.
fn period(st: &AppState, q: &AvailabilityQ) -> Result<(Span, String, String), StoreError> {
    let tz = &st.settings.tz;
    let today = local_date(crate::db::now_ms(), tz).ok_or_else(|| StoreError::Corrupt("the clock".into()))?;
    let day = |field: &str, s: &str, default: jiff::civil::Date| -> Result<jiff::civil::Date, StoreError> {
        if s.trim().is_empty() {
            return Ok(default);
        }
        parse_date(s).ok_or_else(|| StoreError::invalid(field, "must be a date, YYYY-MM-DD"))
    };
    let default_from = today.checked_sub(jiff::Span::new().days(29)).unwrap_or(today);
    let from = day("from", &q.from, default_from)?;
    let to = day("to", &q.to, today)?;
    let ms = |d: jiff::civil::Date| -> Result<i64, StoreError> {
        tz.to_timestamp(d.at(0, 0, 0, 0))
            .map(|t| t.as_millisecond())
            .map_err(|e| StoreError::invalid("from", e.to_string()))
    };
    let end = to.tomorrow().map_err(|e| StoreError::invalid("to", e.to_string()))?;
    let p = Span { from: ms(from)?, to: ms(end)? };
    if to < from {
        return Err(StoreError::invalid("to", "must not be before the first day"));
    }
    report::check_period(p, MAX_DAYS)?;
    Ok((p, fmt_date(from), fmt_date(to)))
}

fn pct(a: &Availability) -> String {
    a.pct.map(|p| format!("{p:.3} %")).unwrap_or_else(|| "no data".into())
}

fn minutes(ms: i64) -> String {
    format!("{:.1}", ms as f64 / 60_000.0)
}

/// A bar for the share of time up (the page's chart; readable without CSS).
fn bar(a: &Availability) -> Markup {
    match a.pct {
        Some(p) => {
            html! { meter min="0" max="100" low="99" high="99.9" optimum="100" value=(format!("{p:.3}")) { (format!("{p:.3} %")) } }
        }
        None => html! { span.muted { "no data" } },
    }
}

fn spans(list: &[Span]) -> Markup {
    html! {
        @if list.is_empty() { span.muted { "none" } }
        @for (i, s) in list.iter().enumerate() {
            @if i > 0 { ", " }
            (fmt_utc(s.from)) " for " (human_duration(s.to - s.from))
        }
    }
}

fn summary_kv(a: &Availability) -> Markup {
    ui::kv_list(&[
        ("Availability", html! { strong { (pct(a)) } " " (bar(a)) }),
        ("Down", html! { (human_duration(a.down_ms)) " in " (a.outages.len()) " outage(s)" }),
        ("Maintenance (excluded)", html! { (human_duration(a.excluded_ms)) }),
        ("No data", html! { (human_duration(a.unknown_ms)) }),
    ])
}

/// `GET /reports/availability`.
pub async fn page_get(
    c: Caller,
    State(st): State<AppState>,
    Query(q): Query<AvailabilityQ>,
) -> Result<Response, ApiError> {
    let sites = monitoring::list_sites(&st.db).await?;
    let (p, from, to) = period(&st, &q)?;
    let site_id = q.site.or_else(|| sites.first().map(|s| s.id));
    let picker = html! {
        form.filters method="get" action="/reports/availability" {
            label { "Site " select name="site" {
                @for s in &sites { option value=(s.id) selected[Some(s.id) == site_id] { (s.name) } }
            } }
            " " label { "From " input type="date" name="from" value=(from); }
            " " label { "To " input type="date" name="to" value=(to); }
            " " button type="submit" { "Show" }
        }
    };
    let body = match (q.device, q.customer, site_id) {
        (Some(d), _, _) => {
            let r = report::device(&st.db, d, p).await?;
            html! {
                h2 { "Device " a href={ "/devices/" (r.device_id) } { (r.label) } " · " (r.site) }
                (summary_kv(&r.availability))
                h3 { "Outages" } p { (spans(&r.availability.outages)) }
            }
        }
        (None, Some(cid), _) => {
            let a = report::customer(&st.db, cid, p).await?;
            html! {
                h2 { "Customer " a href={ "/customers/" (cid) } { "#" (cid) } }
                (summary_kv(&a))
                h3 { "Outages" } p { (spans(&a.outages)) }
            }
        }
        (None, None, Some(sid)) => {
            let r = report::site(&st.db, sid, p).await?;
            let mut t = Table::new("No devices at this site.")
                .col("Device")
                .col("Kind")
                .col("Availability")
                .num_col("Down (min)")
                .num_col("Outages")
                .num_col("Maintenance (min)")
                .num_col("No data (min)");
            for d in &r.devices {
                let a = &d.availability;
                t.push(vec![
                    html! { a href={ "/devices/" (d.device_id) } { (d.label) } },
                    html! { (d.kind.map(|k| k.as_str()).unwrap_or("-")) },
                    html! { (bar(a)) " " (pct(a)) },
                    html! { (minutes(a.down_ms)) },
                    html! { (a.outages.len()) },
                    html! { (minutes(a.excluded_ms)) },
                    html! { (minutes(a.unknown_ms)) },
                ]);
            }
            let csv = format!("/reports/availability.csv?site={sid}&from={from}&to={to}");
            html! {
                h2 { "Site " a href={ "/sites/" (sid) } { (r.site) } }
                (summary_kv(&r.total))
                p.muted { "The site's devices together (device-time)." }
                h3 { "Backhaul outages (the tower could not reach the controller)" } p { (spans(&r.backhaul_outages)) }
                h3 { "Maintenance windows" } p { (spans(&r.maintenance)) }
                h3 { "Devices" }
                p { a href=(csv) download { "Export CSV" } }
                (t.render())
            }
        }
        (None, None, None) => html! { p { "No sites yet." } },
    };
    Ok(page(
        &c,
        "Availability",
        html! {
            h1 { "Availability · " (from) " to " (to) }
            (picker)
            (body)
        },
    )
    .into_response())
}

/// `GET /reports/availability.csv?site=N`: one line per device.
pub async fn csv(State(st): State<AppState>, Query(q): Query<AvailabilityQ>) -> Result<Response, ApiError> {
    let (p, from, to) = period(&st, &q)?;
    let Some(sid) = q.site else { return Err(StoreError::invalid("site", "choose a site").into()) };
    let r = report::site(&st.db, sid, p).await?;
    let mut out = mast_text_core::csv::line([
        "site",
        "device_id",
        "device",
        "kind",
        "availability_pct",
        "down_min",
        "outages",
        "maintenance_min",
        "no_data_min",
    ]);
    for d in &r.devices {
        let a = &d.availability;
        out.push_str(&mast_text_core::csv::line([
            r.site.clone(),
            d.device_id.to_string(),
            d.label.clone(),
            d.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
            a.pct.map(|p| format!("{p:.4}")).unwrap_or_default(),
            minutes(a.down_ms),
            a.outages.len().to_string(),
            minutes(a.excluded_ms),
            minutes(a.unknown_ms),
        ]));
    }
    let name = format!("attachment; filename=\"mast-availability-{sid}-{from}-{to}.csv\"");
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], out)
        .into_response())
}

/// `GET /api/v1/availability?site=N|device=N|customer=N&from=&to=`.
pub async fn api(
    State(st): State<AppState>,
    Query(q): Query<AvailabilityQ>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (p, from, to) = period(&st, &q)?;
    let v = match (q.device, q.customer, q.site) {
        (Some(d), _, _) => json!({ "device": report::device(&st.db, d, p).await? }),
        (None, Some(c), _) => json!({ "customer_id": c, "availability": report::customer(&st.db, c, p).await? }),
        (None, None, Some(s)) => json!({ "site": report::site(&st.db, s, p).await? }),
        _ => return Err(StoreError::invalid("site", "give site, device or customer").into()),
    };
    Ok(Json(json!({ "from": from, "to": to, "period": p, "report": v })))
}

/// A customer's availability over the last 30 days, for the customer page.
pub async fn last_30_days(st: &AppState, customer_id: i64) -> Result<Availability, ApiError> {
    let (p, _, _) = period(st, &AvailabilityQ::default())?;
    Ok(report::customer(&st.db, customer_id, p).await?)
}

/// The customer page's line.
pub fn customer_line(a: &Availability, customer_id: i64) -> Markup {
    html! {
        p.availability {
            "Availability, last 30 days: " strong { (pct(a)) } " " (bar(a))
            " · " (a.outages.len()) " outage(s), " (human_duration(a.down_ms)) " down · "
            a href={ "/reports/availability?customer=" (customer_id) } { "details" }
        }
    }
}
