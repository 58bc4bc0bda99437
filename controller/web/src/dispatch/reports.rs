//! Field outcomes (`/dispatch/reports`, and `/api/v1/dispatch/outcomes`
//! for the KPI dashboard): first-visit fix rate (a repeat visit for the
//! same customer and kind within 30 days makes the first a miss; the seed
//! article's goal is over 80 %), jobs per technician per day (goal 4 or
//! more), time on site, drive time and parts per job kind. The rules are
//! `mast_dispatch_core::outcome`'s; this module reads the visits.

use super::{duration, subnav};
use crate::pages;
use crate::ui::{self, Markup, Table, html};
use crate::{ApiError, AppState, Caller};
use axum::extract::{Query, State};
use mast_dispatch_core::job::JobKind;
use mast_dispatch_core::outcome::{self, FIX_WINDOW_MS, FirstVisit, JobsPerDay, KindTotals, Visit};
use mast_store::StoreError;
use mast_store::dispatch::{day, technicians};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Outcomes {
    pub days: i64,
    pub first_visit: FirstVisit,
    pub first_visit_pct: Option<f64>,
    pub jobs_per_day: JobsPerDay,
    pub jobs_per_technician_day: Option<f64>,
    pub by_kind: BTreeMap<JobKind, KindTotals>,
    /// Visits that were misses (job ids).
    pub misses: Vec<i64>,
}

/// The outcomes of the visits that ended in the last `days` days (a
/// repeat visit up to now still counts against them).
pub async fn outcomes(st: &AppState, days: i64) -> Result<Outcomes, StoreError> {
    let since = mast_store::now_ms() - days * 86_400_000;
    let rows = day::visits(&st.db, since).await?;
    // Parts per job, grouped once (not a scan of every part per visit).
    let mut parts: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for (job, model, quantity) in day::parts_used(&st.db, since).await? {
        parts.entry(job).or_default().push((model, quantity));
    }
    let tz = st.tz().clone();
    let visits: Vec<Visit> = rows
        .iter()
        .filter_map(|r| {
            let (on_site, ended, tech) = (r.on_site_ms?, r.ended_ms?, r.technician_id?);
            let day = jiff::Timestamp::from_millisecond(ended)
                .ok()
                .map(|t| t.to_zoned_datetime(tz.clone()).date())
                .and_then(|d| d.since(jiff::civil::date(1970, 1, 1)).ok())
                .map(|s| i64::from(s.get_days()))
                .unwrap_or(ended / 86_400_000);
            Some(Visit {
                job: r.id,
                customer: r.customer_id,
                kind: JobKind::parse(&r.kind)?,
                technician: tech,
                day,
                en_route_ms: r.en_route_ms,
                on_site_ms: on_site,
                ended_ms: ended,
                done: r.status == "done",
                parts: parts.remove(&r.id).unwrap_or_default(),
            })
        })
        .collect();
    let first_visit = outcome::first_visit(&visits, FIX_WINDOW_MS);
    let jpd = outcome::jobs_per_day(&visits);
    Ok(Outcomes {
        days,
        first_visit_pct: first_visit.rate_pct(),
        first_visit,
        jobs_per_technician_day: jpd.average().map(|a| (a * 10.0).round() / 10.0),
        jobs_per_day: jpd,
        by_kind: outcome::by_kind(&visits),
        misses: outcome::misses(&visits, FIX_WINDOW_MS),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportQuery {
    pub days: Option<i64>,
}

pub async fn page(c: Caller, State(st): State<AppState>, Query(q): Query<ReportQuery>) -> Result<Markup, ApiError> {
    let days = q.days.unwrap_or(30).clamp(1, 366);
    let o = outcomes(&st, days).await?;
    let techs = technicians::list(&st.db).await?;
    let models: BTreeMap<i64, String> = mast_store::stock::models::list(&st.db)
        .await?
        .into_iter()
        .map(|m| (m.id, format!("{} {}", m.vendor, m.name)))
        .collect();
    let pct = |v: Option<f64>| v.map(|v| format!("{v:.1} %")).unwrap_or_else(|| "—".into());
    let mut per_tech =
        Table::new("No visits yet.").col("Technician").num_col("Visits").num_col("Days").num_col("Jobs per day");
    for (t, (visits, d)) in &o.jobs_per_day.by_technician {
        let name = techs.iter().find(|x| x.user_id == *t).map(|x| x.name.clone()).unwrap_or_else(|| format!("#{t}"));
        per_tech.push(vec![
            html! { (name) },
            html! { (visits) },
            html! { (d) },
            html! { (format!("{:.1}", *visits as f64 / (*d).max(1) as f64)) },
        ]);
    }
    let mut kinds = Table::new("No visits yet.")
        .col("Kind")
        .num_col("Visits")
        .num_col("Time on site (avg)")
        .num_col("Drive (avg)")
        .col("Parts used");
    for (k, t) in &o.by_kind {
        let parts: Vec<String> = t
            .parts
            .iter()
            .map(|(m, q)| format!("{} × {q}", models.get(m).cloned().unwrap_or_else(|| format!("model {m}"))))
            .collect();
        kinds.push(vec![
            html! { (k.as_str()) },
            html! { (t.visits) },
            html! { (duration(t.on_site_ms / 1000 / t.visits.max(1))) },
            html! { @if t.driven > 0 { (duration(t.drive_ms / 1000 / t.driven)) } @else { "—" } },
            html! { (parts.join(", ")) },
        ]);
    }
    Ok(pages::page(
        &c,
        "Field outcomes",
        html! {
            h1 { "Field outcomes " span.muted { "last " (days) " days" } }
            (subnav(c.role))
            (ui::kv_list(&[
                ("First-visit fix", html! { strong #first-visit-fix { (pct(o.first_visit_pct)) } " (" (o.first_visit.fixed) " of " (o.first_visit.visits) " visits; goal over 80 %)" }),
                ("Jobs per technician per day", html! { strong #jobs-per-day { (o.jobs_per_technician_day.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())) } " (goal 4 or more)" }),
            ]))
            p.muted { "A visit is a miss when it needed a revisit, or another visit for the same customer and kind followed within 30 days." }
            @if !o.misses.is_empty() {
                p { "Misses: " @for (i, j) in o.misses.iter().enumerate() { @if i > 0 { ", " } a href={ "/dispatch/jobs/" (j) } { "#" (j) } } }
            }
            h2 { "Per technician" }
            (per_tech)
            h2 { "Per kind of job" }
            (kinds)
            p { a href={ "/dispatch/reports?days=7" } { "7 days" } " · " a href={ "/dispatch/reports?days=30" } { "30 days" } " · " a href={ "/dispatch/reports?days=90" } { "90 days" } }
        },
    ))
}
