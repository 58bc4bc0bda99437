//! Creating, changing and deleting a site in the browser: name, where the
//! tower stands (typed, or picked on the map), the ping targets with their
//! names, the probe interval and timeout, and the probing settings (SNMP
//! credentials, SNMP targets, discovery subnets, intervals, ping rate).
//!
//! SNMP credentials are write-only: the form says whether some are stored
//! and how many, never what they are, and a bad submission never shows a
//! typed credential again. Everything is checked before anything is
//! written, so a bad field changes nothing; a saved change reaches the
//! site's connected agents within a second (the revision bump).

use super::{PageResult, form_errors};
use crate::monitoring::probing::{self, Probing};
use crate::monitoring::{self, Site, SiteEdit};
use crate::pages::page;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use mast_shared::ProbeTarget;
use mast_store::StoreError;
use serde::Deserialize;

/// The fields the form shows errors next to.
const FIELDS: &[&str] = &[
    "name",
    "lat",
    "lon",
    "targets",
    "interval_secs",
    "timeout_ms",
    "credentials",
    "snmp_targets",
    "subnets",
    "snmp_interval_secs",
    "discovery_interval_secs",
    "ping_rate_pps",
];

/// The site form as submitted (every field as typed).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct SiteForm {
    pub name: String,
    pub lat: String,
    pub lon: String,
    /// `IP=name` entries, one per line or separated by commas.
    pub targets: String,
    pub interval_secs: String,
    pub timeout_ms: String,
    /// New credentials, separated by spaces; empty keeps the stored ones.
    pub credentials: String,
    /// `on`: forget the stored credentials.
    pub clear_credentials: Option<String>,
    pub snmp_targets: String,
    pub subnets: String,
    pub snmp_interval_secs: String,
    pub discovery_interval_secs: String,
    pub ping_rate_pps: String,
}

/// Lines or commas to the comma lists the parsers take.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r', ',']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",")
}

/// A whole number from a field, or an error naming it.
fn whole(field: &str, label: &str, s: &str) -> Result<u64, StoreError> {
    s.trim().parse::<u64>().map_err(|_| StoreError::invalid(field, format!("{label} must be a whole number")))
}

/// An optional coordinate (empty: none).
fn coordinate(field: &str, s: &str) -> Result<Option<f64>, StoreError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(StoreError::invalid(field, "must be a number in degrees, such as 45.0512")),
    }
}

impl SiteForm {
    /// The form for an existing site (no secret in it).
    fn of(site: &Site, targets: &[ProbeTarget], p: &Probing) -> SiteForm {
        let view = p.view();
        let snmp_targets = p
            .snmp_targets
            .iter()
            .map(|t| {
                let addr = if t.addr.port() == 161 { t.addr.ip().to_string() } else { t.addr.to_string() };
                if t.credential == 0 { addr } else { format!("{addr}@{}", t.credential) }
            })
            .collect::<Vec<_>>()
            .join(", ");
        SiteForm {
            name: site.name.clone(),
            lat: site.lat.map(|v| v.to_string()).unwrap_or_default(),
            lon: site.lon.map(|v| v.to_string()).unwrap_or_default(),
            targets: targets
                .iter()
                .map(|t| match &t.name {
                    Some(n) => format!("{}={n}", t.addr),
                    None => t.addr.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            interval_secs: (site.interval_ms / 1000).to_string(),
            timeout_ms: site.timeout_ms.to_string(),
            credentials: String::new(),
            clear_credentials: None,
            snmp_targets,
            subnets: view.subnets.join(", "),
            snmp_interval_secs: (p.snmp_interval_ms / 1000).to_string(),
            discovery_interval_secs: (p.discovery_interval_ms / 1000).to_string(),
            ping_rate_pps: p.ping_rate_pps.to_string(),
        }
    }

    /// A blank form for a new site, with the configured defaults.
    fn blank(st: &AppState) -> SiteForm {
        let p = Probing::default();
        SiteForm {
            interval_secs: (st.settings.monitoring.default_interval_ms / 1000).to_string(),
            timeout_ms: st.settings.monitoring.default_timeout_ms.to_string(),
            snmp_interval_secs: (p.snmp_interval_ms / 1000).to_string(),
            discovery_interval_secs: (p.discovery_interval_ms / 1000).to_string(),
            ping_rate_pps: p.ping_rate_pps.to_string(),
            ..SiteForm::default()
        }
    }

    /// The site and its probing settings as they will be stored, checked
    /// in full; `current` is what is stored now (a new site: the defaults).
    fn parse(&self, current: &Probing) -> Result<(SiteEdit, Probing), StoreError> {
        let lat = coordinate("lat", &self.lat)?;
        let lon = coordinate("lon", &self.lon)?;
        let location = match (lat, lon) {
            (Some(a), Some(o)) => Some((a, o)),
            (None, None) => None,
            (None, Some(_)) => return Err(StoreError::invalid("lat", "give both latitude and longitude, or neither")),
            (Some(_), None) => return Err(StoreError::invalid("lon", "give both latitude and longitude, or neither")),
        };
        let interval_secs = whole("interval_secs", "The probe interval", &self.interval_secs)?;
        let timeout_ms = whole("timeout_ms", "The timeout", &self.timeout_ms)?;
        let edit = SiteEdit {
            name: self.name.trim().to_string(),
            targets: monitoring::parse_targets(&one_line(&self.targets))?,
            interval_ms: i64::try_from(interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            timeout_ms: i64::try_from(timeout_ms).unwrap_or(i64::MAX),
            location,
        };
        monitoring::check_site_edit(&edit)?;
        let mut p = current.clone();
        if self.clear_credentials.is_some() {
            p.credentials.clear();
        }
        let change = probing::Change {
            credentials: self.credentials.split_whitespace().map(str::to_string).collect(),
            snmp_targets: Some(one_line(&self.snmp_targets)),
            subnets: Some(one_line(&self.subnets)),
            snmp_interval_secs: Some(whole("snmp_interval_secs", "The SNMP interval", &self.snmp_interval_secs)?),
            discovery_interval_secs: Some(whole(
                "discovery_interval_secs",
                "The discovery interval",
                &self.discovery_interval_secs,
            )?),
            ping_rate_pps: Some(whole("ping_rate_pps", "The ping rate", &self.ping_rate_pps)?),
        };
        p.apply(&change)?;
        probing::validate(&p)?;
        Ok((edit, p))
    }
}

/// What the stored credentials are, without a secret: "2 stored: v2c, v3 noc".
fn credentials_hint(p: Option<&Probing>) -> String {
    let Some(p) = p.filter(|p| !p.credentials.is_empty()) else {
        return "None stored. One or more, separated by spaces, tried in order: v2c:COMMUNITY or \
                v3:USER:md5|sha|sha256:AUTHKEY:des|aes:PRIVKEY."
            .into();
    };
    let kinds: Vec<String> = p
        .view()
        .credentials
        .iter()
        .map(|c| match &c.user {
            Some(u) => format!("v3 {u}"),
            None => c.version.as_str().to_string(),
        })
        .collect();
    format!(
        "{} stored ({}), never shown. Leave empty to keep them; type new ones (separated by spaces) to replace them.",
        kinds.len(),
        kinds.join(", ")
    )
}

/// The form; `site_id` `None` for a new site. `stored` is the site's
/// probing settings (whether credentials exist), never their values.
pub(crate) fn render_form(
    csrf: &str,
    site_id: Option<i64>,
    f: &SiteForm,
    stored: Option<&Probing>,
    errors: &FormErrors,
    tile_url: &str,
) -> Markup {
    let fields = Fields::new("site", errors);
    let action = match site_id {
        Some(id) => format!("/sites/{id}"),
        None => "/sites".to_string(),
    };
    let has_credentials = stored.is_some_and(|p| !p.credentials.is_empty());
    let hint = credentials_hint(stored);
    html! {
        (ui::form_with_class("site-form", &action, Method::Post, csrf, html! {
            (fields.summary())
            fieldset {
                legend { "Site" }
                (fields.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(64)
                    .hint("Letters, digits, '-', '_' or '.', such as north-ridge.")))
                div.field-row {
                    (fields.number_field("lat", "Latitude", &f.lat, true, FieldOpts::new()))
                    (fields.number_field("lon", "Longitude", &f.lon, true, FieldOpts::new()))
                }
                div.map.map-picker data-map-picker="" data-tiles=(tile_url) data-lat-field=(fields.id("lat"))
                    data-lon-field=(fields.id("lon")) {
                    p.muted { "Click the map to place the tower (needs JavaScript), or type the coordinates." }
                }
            }
            fieldset {
                legend { "Ping" }
                (fields.textarea_field("targets", "Ping targets", &f.targets, FieldOpts::new().mono()
                    .hint("One per line: IP or IP=name, such as 10.20.0.2=ap-north.")))
                div.field-row {
                    (fields.number_field("interval_secs", "Probe interval (s)", &f.interval_secs, false,
                        FieldOpts::new().required()))
                    (fields.number_field("timeout_ms", "Ping timeout (ms)", &f.timeout_ms, false,
                        FieldOpts::new().required()))
                    (fields.number_field("ping_rate_pps", "Ping rate (packets/s)", &f.ping_rate_pps, false,
                        FieldOpts::new().required().hint("The agent never sends faster (10 to 100,000).")))
                }
            }
            fieldset {
                legend { "SNMP and discovery" }
                (fields.secret_field("credentials", "SNMP credentials", has_credentials,
                    FieldOpts::new().mono().hint(&hint)))
                @if has_credentials {
                    (fields.checkbox_field("clear_credentials", "Forget the stored credentials",
                        f.clear_credentials.is_some(), FieldOpts::new()))
                }
                (fields.text_field("snmp_targets", "SNMP targets", &f.snmp_targets, FieldOpts::new().mono()
                    .hint("IP, IP:PORT or IP@N (N: which credential, from 0), separated by commas.")))
                (fields.text_field("subnets", "Discovery subnets", &f.subnets, FieldOpts::new().mono()
                    .hint("CIDRs swept for devices, at most a /20 each, such as 10.20.1.0/24.")))
                div.field-row {
                    (fields.number_field("snmp_interval_secs", "SNMP interval (s)", &f.snmp_interval_secs, false,
                        FieldOpts::new().required()))
                    (fields.number_field("discovery_interval_secs", "Discovery interval (s)",
                        &f.discovery_interval_secs, false, FieldOpts::new().required()))
                }
            }
            button type="submit" { @if site_id.is_some() { "Save site" } @else { "Create site" } }
        }))
    }
}

fn tile_url(st: &AppState) -> &str {
    &st.settings.monitoring.map_tile_url
}

fn new_page(c: &Caller, st: &AppState, f: &SiteForm, errors: &FormErrors) -> Markup {
    page(
        c,
        "New site",
        html! {
            h1 { "New site" }
            (render_form(c.csrf.as_deref().unwrap_or(""), None, f, None, errors, tile_url(st)))
        },
    )
}

fn edit_page(c: &Caller, st: &AppState, site: &Site, f: &SiteForm, p: &Probing, errors: &FormErrors) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    page(
        c,
        &format!("Edit {}", site.name),
        html! {
            h1 { "Edit " (site.name) }
            p { a href={ "/sites/" (site.id) } { "Back to the site" } }
            (render_form(csrf, Some(site.id), f, Some(p), errors, tile_url(st)))
            h2 { "Delete the site" }
            p.muted { "Only a site that never had an agent, customers or planned maintenance can be deleted." }
            (ui::form_with_class("inline", &format!("/sites/{}/delete", site.id), Method::Post, csrf, html! {
                button.danger type="submit" { "Delete site…" }
            }))
        },
    )
}

/// `GET /sites/new`.
pub async fn new_site(c: Caller, State(st): State<AppState>) -> Markup {
    new_page(&c, &st, &SiteForm::blank(&st), &FormErrors::new())
}

/// Turns a store error into inline errors, or passes it on.
fn inline(e: StoreError) -> Result<FormErrors, ApiError> {
    form_errors(&e, FIELDS).ok_or_else(|| e.into())
}

/// `POST /sites`.
pub async fn create_site(c: Caller, State(st): State<AppState>, Form(f): Form<SiteForm>) -> PageResult {
    let created = match f.parse(&Probing::default()) {
        Ok((edit, p)) => match monitoring::create_site(&st.db, &edit).await {
            Ok(site) => probing::set(&st.db, site.id, &p).await.map(|()| (site, p)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (site, p) = match created {
        Ok(v) => v,
        Err(e) => {
            let errors = inline(e)?;
            let kept = SiteForm { credentials: String::new(), ..f };
            return Ok((StatusCode::BAD_REQUEST, new_page(&c, &st, &kept, &errors)).into_response());
        }
    };
    audit::record(&st.db, &c.actor(), "site.add", &site.name, &p.summary()).await?;
    Ok(Redirect::to(&format!("/sites/{}", site.id)).into_response())
}

/// `GET /sites/{id}/edit`.
pub async fn edit_site(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let site = monitoring::get_site(&st.db, id).await?;
    let p = probing::get(&st.db, id).await?.unwrap_or_default();
    let targets = monitoring::site_targets(&st.db, id).await?;
    Ok(edit_page(&c, &st, &site, &SiteForm::of(&site, &targets, &p), &p, &FormErrors::new()))
}

/// `POST /sites/{id}`.
pub async fn save_site(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<SiteForm>,
) -> PageResult {
    let site = monitoring::get_site(&st.db, id).await?;
    let current = probing::get(&st.db, id).await?.unwrap_or_default();
    let saved = match f.parse(&current) {
        Ok((edit, p)) => match monitoring::edit_site(&st.db, id, &edit).await {
            Ok(s) => probing::set(&st.db, id, &p).await.map(|()| (s, p)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (saved, p) = match saved {
        Ok(v) => v,
        Err(e) => {
            let errors = inline(e)?;
            let kept = SiteForm { credentials: String::new(), ..f };
            return Ok((StatusCode::BAD_REQUEST, edit_page(&c, &st, &site, &kept, &current, &errors)).into_response());
        }
    };
    let what =
        if saved.name != site.name { format!("renamed from {}; {}", site.name, p.summary()) } else { p.summary() };
    st.network_changed();
    audit::record(&st.db, &c.actor(), "site.change", &saved.name, &what).await?;
    Ok(Redirect::to(&format!("/sites/{id}")).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmForm {
    /// `yes` once the person confirmed on the confirmation page.
    pub confirm: String,
}

/// `POST /sites/{id}/delete`: asks first, then deletes (or says why not).
pub async fn delete_site(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ConfirmForm>,
) -> PageResult {
    let site = monitoring::get_site(&st.db, id).await?;
    let csrf = c.csrf.as_deref().unwrap_or("");
    if f.confirm != "yes" {
        let body = html! {
            h1 { "Delete " (site.name) "?" }
            p { "The site, its ping targets and its probing settings are removed. This cannot be undone." }
            (ui::form_with_class("inline", &format!("/sites/{id}/delete"), Method::Post, csrf, html! {
                (ui::hidden("confirm", "yes"))
                button.danger #confirm-delete type="submit" { "Delete " (site.name) }
            }))
            " " a href={ "/sites/" (id) } { "Keep it" }
        };
        return Ok(page(&c, &format!("Delete {}", site.name), body).into_response());
    }
    match monitoring::delete_site(&st.db, id).await {
        Ok(()) => {}
        Err(StoreError::Conflict(why)) => {
            let body = html! {
                h1 { (site.name) " was not deleted" }
                (ui::flash(ui::FlashKind::Error, &format!("This site cannot be deleted: {why}.")))
                p { a href={ "/sites/" (id) } { "Back to the site" } }
            };
            return Ok((StatusCode::CONFLICT, page(&c, "Not deleted", body)).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    st.network_changed();
    audit::record(&st.db, &c.actor(), "site.delete", &site.name, "").await?;
    Ok(Redirect::to("/sites").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SiteForm {
        SiteForm {
            name: "north-ridge".into(),
            targets: "10.0.0.1=ap-1\n10.0.0.2".into(),
            interval_secs: "30".into(),
            timeout_ms: "1000".into(),
            snmp_interval_secs: "60".into(),
            discovery_interval_secs: "3600".into(),
            ping_rate_pps: "5000".into(),
            ..SiteForm::default()
        }
    }

    fn field_of(e: StoreError) -> String {
        match e {
            StoreError::Invalid { field, .. } => field,
            e => panic!("not a field error: {e}"),
        }
    }

    #[test]
    fn a_good_form_parses_lines_and_keeps_stored_credentials() {
        let mut stored = Probing::default();
        stored.apply(&probing::Change { credentials: vec!["v2c:s3cret".into()], ..Default::default() }).unwrap();
        let f = SiteForm { snmp_targets: "10.0.0.1, 10.0.0.2:1161@0".into(), ..form() };
        let (edit, p) = f.parse(&stored).unwrap();
        assert_eq!(edit.targets.len(), 2);
        assert_eq!(edit.targets[0].name.as_deref(), Some("ap-1"));
        assert_eq!(edit.interval_ms, 30_000);
        assert_eq!(p.credentials, stored.credentials, "an empty credential field keeps them");
        assert_eq!(p.snmp_targets.len(), 2);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(SiteForm, &str)> = vec![
            (SiteForm { name: "no spaces".into(), ..form() }, "name"),
            (SiteForm { lat: "north".into(), lon: "1".into(), ..form() }, "lat"),
            (SiteForm { lat: "45".into(), ..form() }, "lon"),
            (SiteForm { lat: "95".into(), lon: "1".into(), ..form() }, "lat"),
            (SiteForm { targets: "10.0.0.300".into(), ..form() }, "targets"),
            (SiteForm { interval_secs: "often".into(), ..form() }, "interval_secs"),
            (SiteForm { timeout_ms: "60000".into(), ..form() }, "timeout_ms"),
            (SiteForm { credentials: "v9:x".into(), ..form() }, "credentials"),
            (SiteForm { snmp_targets: "10.0.0.1@1".into(), ..form() }, "snmp_targets"),
            (SiteForm { subnets: "10.0.0.0/8".into(), ..form() }, "subnets"),
            (SiteForm { ping_rate_pps: "-5".into(), ..form() }, "ping_rate_pps"),
            (SiteForm { snmp_interval_secs: "1".into(), ..form() }, "snmp_interval_secs"),
        ];
        for (f, want) in cases {
            let e = f.parse(&Probing::default()).expect_err(want);
            assert_eq!(field_of(e), want);
        }
    }

    #[test]
    fn the_form_never_shows_a_credential() {
        let mut stored = Probing::default();
        stored
            .apply(&probing::Change {
                credentials: vec!["v2c:topsecret".into(), "v3:noc:sha:authkey123:aes:privkey456".into()],
                ..Default::default()
            })
            .unwrap();
        let site = Site {
            id: 1,
            name: "ridge".into(),
            interval_ms: 30_000,
            timeout_ms: 1000,
            revision: 1,
            targets: vec![],
            lat: None,
            lon: None,
        };
        let f = SiteForm::of(&site, &[], &stored);
        let html = render_form("csrf", Some(1), &f, Some(&stored), &FormErrors::new(), "").into_string();
        for secret in ["topsecret", "authkey123", "privkey456"] {
            assert!(!html.contains(secret), "{secret} shown");
        }
        assert!(html.contains("2 stored (v2c, v3 noc)"), "{html}");
    }
}
