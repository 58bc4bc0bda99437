//! The reconciliation page: the inventory against what the agents see, one
//! list per finding, each row with the actions that resolve it (receive an
//! unknown MAC, ignore it, record the install, move, return or loss the
//! network shows), the automatic installs of the last week, and a button
//! to run a pass now.

use super::{KEEPERS, location_link, subnav, urlencode};
use crate::pages::page;
use crate::ui::{self, Markup, Method, Table, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_stock_core::reconcile::{Report, Sighting};
use mast_store::stock::reconcile::{self as store, Names};
use mast_text_core::when::{ago, fmt_utc};
use serde::Deserialize;

/// Rows shown per list (the API has them all).
const SHOWN: usize = 300;

fn more(n: usize) -> Markup {
    html! {
        @if n > SHOWN {
            p.muted { "The first " (SHOWN) " of " (n) ". " a href="/api/v1/stock/reconcile" { "All of them (JSON)" } "." }
        }
    }
}

pub async fn page_get(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    let now = crate::db::now_ms();
    let stale = st.settings.stock.stale_after_ms;
    let report = store::report(&st.db, now, stale).await?;
    let names = store::names(&st.db, &report, SHOWN).await?;
    let auto: Vec<_> = mast_store::stock::moves::movements(&st.db, None, 200, 0)
        .await?
        .0
        .into_iter()
        .filter(|m| m.automatic != 0 && now - m.at_ms < 7 * 86_400_000)
        .collect();
    let csrf = c.csrf.as_deref().unwrap_or("");
    let body = render(c.role, csrf, &report, &names, now, stale / 86_400_000);
    Ok(page(
        &c,
        "Reconcile stock",
        html! {
            (body)
            h2 { "Installed automatically this week" }
            (super::movement_table(&auto, true))
        },
    ))
}

fn seen(s: &Sighting, n: &Names, now: i64) -> Markup {
    html! {
        a href={ "/sites/" (s.site) } { (n.sites.get(&s.site).map(String::as_str).unwrap_or("site")) }
        @if let Some(c) = s.customer {
            ", serving " a href={ "/customers/" (c) } { (n.customers.get(&c).map(String::as_str).unwrap_or("customer")) }
        }
        br; span.muted { (ago(now, Some(s.last_seen_ms))) }
    }
}

fn action(href: String, label: &str) -> Markup {
    html! { a.button href=(href) { (label) } " " }
}

pub(crate) fn render(role: crate::staff::Role, csrf: &str, r: &Report, n: &Names, now: i64, stale_days: i64) -> Markup {
    let keeper = KEEPERS.contains(&role);
    let unit = |id: i64| -> Markup {
        match n.units.get(&id) {
            Some(u) => html! { (super::unit_link(u)) br; span.muted { (u.model) } },
            None => html! { "#" (id) },
        }
    };
    let recorded = |id: i64| -> Markup {
        match n.units.get(&id) {
            Some(u) => location_link(&u.location_kind, u.location_id, &u.location, u.customer_id, u.site_id),
            None => html! { "—" },
        }
    };
    let code = |id: i64| n.units.get(&id).and_then(|u| u.mac.clone()).unwrap_or_else(|| format!("#{id}"));

    let mut unknown = Table::new("Every MAC on the network is in the records.").col("MAC").col("Seen at").col("");
    for s in r.unknown.iter().take(SHOWN) {
        let mac = s.mac.to_string();
        let actions = if keeper {
            html! {
                (action(format!("/stock/receive?codes={}", urlencode(&mac)), "Receive into stock"))
                (ui::form_with_class("inline", "/stock/reconcile/ignore", Method::Post, csrf, html! {
                    input type="hidden" name="mac" value=(mac);
                    label.visually-hidden for={ "ignore-" (mac) } { "Why" }
                    input id={ "ignore-" (mac) } type="text" name="note" placeholder="why (customer's own router…)" maxlength="500";
                    button type="submit" { "Not ours" }
                }))
            }
        } else {
            html! {}
        };
        unknown.push(vec![html! { span.mono { (mac) } }, seen(s, n, now), actions]);
    }

    let mut not_assigned =
        Table::new("No unit on the air is recorded in stock.").col("Unit").col("Recorded at").col("Seen at").col("");
    for f in r.not_assigned.iter().take(SHOWN) {
        let id = f.unit.unit.0;
        let actions = if keeper {
            match f.seen.customer {
                Some(c) => action(
                    format!(
                        "/stock/move?kind=install&from={}&customer={c}&codes={}",
                        f.unit.location.id,
                        urlencode(&code(id))
                    ),
                    "Record the install",
                ),
                None => action(
                    format!(
                        "/stock/move?kind=install&from={}&site={}&codes={}",
                        f.unit.location.id,
                        f.seen.site,
                        urlencode(&code(id))
                    ),
                    "Record it at the site",
                ),
            }
        } else {
            html! {}
        };
        not_assigned.push(vec![unit(id), recorded(id), seen(&f.seen, n, now), actions]);
    }

    let mut moved =
        Table::new("Nothing seen elsewhere than recorded.").col("Unit").col("Recorded at").col("Seen at").col("");
    for f in r.moved.iter().take(SHOWN) {
        let id = f.unit.unit.0;
        let from = f.unit.location.id;
        let actions = if keeper {
            match (f.unit.location.kind, f.seen.customer) {
                (mast_stock_core::LocationKind::Vehicle, None) => action(
                    format!("/stock/move?kind=install&from={from}&site={}&codes={}", f.seen.site, urlencode(&code(id))),
                    "Record it at the site",
                ),
                (_, Some(c)) => action(
                    format!("/stock/move?kind=move&from={from}&customer={c}&codes={}", urlencode(&code(id))),
                    "Record the move",
                ),
                (_, None) => action(
                    format!("/stock/move?kind=move&from={from}&site={}&codes={}", f.seen.site, urlencode(&code(id))),
                    "Record the move",
                ),
            }
        } else {
            html! {}
        };
        moved.push(vec![unit(id), recorded(id), seen(&f.seen, n, now), actions]);
    }

    let mut stale =
        Table::new("Every customer's unit was seen recently.").col("Unit").col("Installed at").col("Last seen").col("");
    for s in r.stale.iter().take(SHOWN) {
        let id = s.unit.unit.0;
        let from = s.unit.location.id;
        let actions = if keeper {
            html! {
                (action(format!("/stock/move?kind=return&from={from}&codes={}", urlencode(&code(id))), "Returned"))
                (action(format!("/stock/move?kind=mark-lost&from={from}&codes={}", urlencode(&code(id))), "Mark lost"))
            }
        } else {
            html! {}
        };
        let last = match s.last_seen_ms {
            Some(t) => html! { (ago(now, Some(t))) br; span.muted { (fmt_utc(t)) } },
            None => html! { "never" },
        };
        stale.push(vec![unit(id), recorded(id), last, actions]);
    }
    let pending = r.auto_install.len();
    html! {
        h1 { "Reconcile stock with the network" }
        (subnav(role))
        p {
            "What the agents see (station tables, ARP and bridge tables, the devices' own MACs) against the stock records. "
            "A unit a technician carries is installed at the customer it is seen serving, automatically."
        }
        @if keeper {
            (ui::form_with_class("inline", "/stock/reconcile/run", Method::Post, csrf, html! {
                button type="submit" { "Run now" }
                @if pending > 0 { " " (pending) " automatic install(s) waiting for the next pass." }
            }))
        }
        section id="unknown" {
            h2 { "On the network, not in the records (" (r.unknown.len()) ")" }
            p.muted { "An unrecorded or unbilled CPE, or a device that is not ours." }
            (unknown)
            (more(r.unknown.len()))
        }
        section id="not-assigned" {
            h2 { "On the air, but recorded in stock, at RMA, retired or lost (" (r.not_assigned.len()) ")" }
            (not_assigned)
            (more(r.not_assigned.len()))
        }
        section id="moved" {
            h2 { "Seen elsewhere than recorded (" (r.moved.len()) ")" }
            (moved)
            (more(r.moved.len()))
        }
        section id="stale" {
            h2 { "Installed at a customer, not seen for " (stale_days) " days (" (r.stale.len()) ")" }
            p.muted { "Lost, stolen or churned gear, or a CPE that is off." }
            (stale)
            (more(r.stale.len()))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IgnoreForm {
    pub mac: String,
    pub note: String,
}

pub async fn ignore(c: Caller, State(st): State<AppState>, Form(f): Form<IgnoreForm>) -> Result<Response, ApiError> {
    store::ignore(&st.db, &f.mac, &f.note, &c.name).await?;
    audit::record(&st.db, &c.actor(), "stock.ignore-mac", &f.mac, &f.note).await?;
    Ok(Redirect::to("/stock/reconcile").into_response())
}

pub async fn run(c: Caller, State(st): State<AppState>) -> Result<Response, ApiError> {
    let url = st.settings.http.public_url.clone().unwrap_or_default();
    let pass =
        mast_app::stock::pass(&st.db, &st.settings.stock, &st.settings.tz, st.channels(), &url, crate::db::now_ms())
            .await?;
    let n = pass.installed.iter().filter(|i| i.result.is_ok()).count();
    audit::record(&st.db, &c.actor(), "stock.reconcile", "stock", &format!("{n} installed")).await?;
    Ok((StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, "/stock/reconcile")]).into_response())
}
