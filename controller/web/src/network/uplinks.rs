//! Where a tower's backhaul comes from: `/sites/{id}/uplinks` sets the
//! devices of other sites (the far ends of tower-to-tower links) that the
//! site reaches the controller through. With them set, a failure at the
//! upstream tower is one incident covering this site and its customers.

use super::{PageResult, form_errors};
use crate::monitoring::links::RadioPair;
use crate::monitoring::uplinks::{self, Uplink};
use crate::monitoring::{self, DeviceKind, DeviceView, Site};
use crate::pages::page;
use crate::ui::{self, FormErrors, Markup, Method, html};
use crate::{AppState, Caller, audit};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use std::collections::BTreeMap;

const FIELDS: &[&str] = &["uplinks"];

/// Most devices listed as candidates.
const MAX_CANDIDATES: i64 = 5_000;

/// The site page's "Backhaul" section: where the link comes from, what it
/// feeds, and (for `editor`) the link to change it.
pub(crate) fn section(site_id: i64, up: &[Uplink], feeds: &[Uplink], editor: bool) -> Markup {
    html! {
        h2 { "Backhaul" }
        p #site-uplinks {
            @if up.is_empty() {
                "Reaches the controller directly (no tower-to-tower link set)."
            } @else {
                "Reaches the controller through "
                @for (i, u) in up.iter().enumerate() {
                    @if i > 0 { (if i + 1 == up.len() { " or " } else { ", " }) }
                    a href={ "/devices/" (u.device_id) } { (u.device_label) } " at "
                    a href={ "/sites/" (u.upstream_site_id) } { (u.upstream_site_name) }
                }
                @if up.len() > 1 { " (redundant paths: cut off only when all are down)" }
                "."
            }
        }
        @if !feeds.is_empty() {
            p #site-feeds {
                "Feeds "
                @for (i, u) in feeds.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/sites/" (u.site_id) } { (u.site_name) } " (through " (u.device_label) ")"
                }
                "."
            }
        }
        @if editor {
            p { a #edit-uplinks href={ "/sites/" (site_id) "/uplinks" } { "Set where the backhaul comes from" } }
        }
    }
}

/// The form: devices of other sites by site, CPEs left out unless chosen;
/// the tower-to-tower radio links the agents see (`pairs`) are listed first
/// and their far ends marked, since one of them is usually the answer.
pub(crate) fn render_form(
    csrf: &str,
    site: &Site,
    candidates: &[DeviceView],
    chosen: &[i64],
    errors: &FormErrors,
    pairs: &[RadioPair],
) -> Markup {
    // The far end of each pair, seen from this site: (other device, this site's device).
    let far: Vec<(i64, &str)> = pairs
        .iter()
        .map(|p| {
            if p.site_id == site.id {
                (p.peer_device_id, p.device_label.as_str())
            } else {
                (p.device_id, p.peer_label.as_str())
            }
        })
        .collect();
    let mut by_site: BTreeMap<&str, Vec<&DeviceView>> = BTreeMap::new();
    for d in candidates
        .iter()
        .filter(|d| d.site_id != site.id && (d.kind != Some(DeviceKind::Cpe) || chosen.contains(&d.id)))
    {
        by_site.entry(d.site.as_str()).or_default().push(d);
    }
    html! {
        (ui::form_with_class("uplinks-form", &format!("/sites/{}/uplinks", site.id), Method::Post, csrf, html! {
            fieldset #uplinks-field .has-error[errors.get("uplinks").is_some()] {
                legend { "Uplinks" }
                p.muted {
                    "Tick the device at the upstream tower that this tower's link lands on (the far end of the point-to-point link). "
                    "Tick two or more for redundant paths. None ticked: the tower reaches the controller directly. "
                    "Probe the uplink (ping or SNMP) so an outage there is seen."
                }
                @if let Some(e) = errors.get("uplinks") {
                    p.field-error #uplinks-error role="alert" { (e) }
                }
                @if !pairs.is_empty() {
                    div #radio-pairs {
                        p { "Point-to-point radio links the agents see between this tower and others:" }
                        ul {
                            @for p in pairs {
                                li {
                                    a href={ "/devices/" (p.device_id) } { (p.device_label) } " (" (p.site_name) ") ↔ "
                                    a href={ "/devices/" (p.peer_device_id) } { (p.peer_label) } " (" (p.peer_site_name) ")"
                                }
                            }
                        }
                    }
                }
                @if by_site.is_empty() {
                    p.muted { "No device at another site yet." }
                }
                @for (name, devices) in &by_site {
                    h3 { (name) }
                    ul.checks {
                        @for d in devices {
                            @let v = d.id.to_string();
                            li {
                                label.check {
                                    input type="checkbox" name="uplinks" value=(v) checked[chosen.contains(&d.id)];
                                    (d.label()) " "
                                    span.muted { (d.kind.map(|k| k.as_str()).unwrap_or("-")) " · " (d.addr) }
                                    @if let Some((_, here)) = far.iter().find(|(id, _)| *id == d.id) {
                                        " " strong.radio-seen { "radio link from " (here) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            button #save-uplinks type="submit" { "Save backhaul" }
        }))
    }
}

async fn form_page(c: &Caller, st: &AppState, site: &Site, chosen: &[i64], errors: &FormErrors) -> PageResult {
    let candidates = monitoring::list_devices(&st.db, MAX_CANDIDATES, 0).await?;
    let pairs = monitoring::links::cross_site_pairs(&st.db, site.id).await?;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let body = page(
        c,
        &format!("Backhaul of {}", site.name),
        html! {
            h1 { "Backhaul of " (site.name) }
            p { a href={ "/sites/" (site.id) } { "Back to the site" } }
            (render_form(csrf, site, &candidates, chosen, errors, &pairs))
        },
    );
    Ok((status, body).into_response())
}

/// `GET /sites/{id}/uplinks`.
pub async fn edit(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let site = monitoring::get_site(&st.db, id).await?;
    let chosen: Vec<i64> = uplinks::of_site(&st.db, id).await?.iter().map(|u| u.device_id).collect();
    form_page(&c, &st, &site, &chosen, &FormErrors::new()).await
}

/// `POST /sites/{id}/uplinks` (`uplinks` repeats, one per ticked box).
pub async fn save(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let site = monitoring::get_site(&st.db, id).await?;
    let ticked: Vec<&str> = pairs.iter().filter(|(k, _)| k == "uplinks").map(|(_, v)| v.as_str()).collect();
    let parsed = super::device_form::device_ids("uplinks", &ticked);
    let chosen = match parsed {
        Ok(ids) => match uplinks::set(&st.db, id, &ids).await {
            Ok(()) => ids,
            Err(e) => {
                let errors = form_errors(&e, FIELDS).ok_or(e)?;
                return form_page(&c, &st, &site, &ids, &errors).await;
            }
        },
        Err(e) => {
            let errors = form_errors(&e, FIELDS).ok_or(e)?;
            return form_page(&c, &st, &site, &[], &errors).await;
        }
    };
    st.network_changed();
    let what = if chosen.is_empty() {
        "direct".to_string()
    } else {
        chosen.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    };
    audit::record(&st.db, &c.actor(), "site.uplinks", &format!("site {id}"), &what).await?;
    Ok(Redirect::to(&format!("/sites/{id}")).into_response())
}

/// Every tower-to-tower link with both ends located: `(from, to)` as
/// `(lat, lon)` pairs, upstream first (for the map).
pub(crate) fn located_links(sites: &[Site], links: &[Uplink]) -> Vec<((f64, f64), (f64, f64))> {
    let at = |id: i64| sites.iter().find(|s| s.id == id).and_then(|s| Some((s.lat?, s.lon?)));
    let mut out: Vec<((f64, f64), (f64, f64))> = Vec::new();
    for l in links {
        if let (Some(a), Some(b)) = (at(l.upstream_site_id), at(l.site_id))
            && !out.contains(&(a, b))
        {
            out.push((a, b));
        }
    }
    out
}
