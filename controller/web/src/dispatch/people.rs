//! Technicians (skills, hours, work days, start and end places, zones,
//! days off) and zones (polygons drawn on the map: `mast.js` turns the
//! map's clicks into corners in the form's `corners` field, which also
//! takes typed `[[lat, lon], ...]`).

use super::{COLOURS, DISPATCHERS, opt_f64, subnav};
use crate::network::form_errors;
use crate::pages::page;
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_store::StoreError;
use mast_store::dispatch::{TechnicianInput, hhmm, parse_hhmm, technicians};
use serde::Deserialize;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

pub async fn technicians(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    technicians_page(&c, &st, &FormErrors::new()).await
}

async fn technicians_page(c: &Caller, st: &AppState, errors: &FormErrors) -> Result<Markup, ApiError> {
    let list = technicians::list(&st.db).await?;
    let links = technicians::zone_links(&st.db).await?;
    let zones = technicians::zones(&st.db).await?;
    let mut t = Table::new("No technicians yet.").col("Technician").col("Hours").col("Days").col("Skills").col("Zones");
    for (i, x) in list.iter().enumerate() {
        let zs: Vec<&str> = links
            .iter()
            .filter(|(u, _)| *u == x.user_id)
            .filter_map(|(_, z)| zones.iter().find(|zz| zz.id == *z).map(|zz| zz.name.as_str()))
            .collect();
        let days: Vec<&str> = x.days().iter().filter_map(|d| WEEKDAYS.get(*d as usize - 1).copied()).collect();
        t.push(vec![
            html! { span.swatch data-colour=(COLOURS[i % COLOURS.len()]) {} a href={ "/dispatch/technicians/" (x.user_id) } { (x.name) }
                @if x.active == 0 { " (inactive)" } @if x.start().is_none() { span.muted { " · no start place" } } },
            html! { (hhmm(x.shift_start_min)) "-" (hhmm(x.shift_end_min)) },
            html! { (days.join(" ")) },
            html! { (x.skills) },
            html! { @if zs.is_empty() { "anywhere" } @else { (zs.join(", ")) } },
        ]);
    }
    let candidates = technicians::candidates(&st.db).await?;
    let opts: Vec<(String, String)> = candidates.iter().map(|(id, e)| (id.to_string(), e.clone())).collect();
    let opts: Vec<(&str, &str)> = opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let fl = Fields::new("tech", errors);
    Ok(page(
        c,
        "Technicians",
        html! {
            h1 { "Technicians" }
            (subnav(c.role))
            (t)
            @if c.role == Role::Admin {
                h2 { "Add a technician" }
                @if opts.is_empty() {
                    p.muted { "Every staff member with the technician role has a record. Add staff on the " a href="/users" { "users page" } " with the technician role first." }
                } @else {
                    (ui::form("/dispatch/technicians", Method::Post, c.csrf.as_deref().unwrap_or(""), html! {
                        (fl.summary())
                        (fl.select_field("user", "Staff member", &opts, "", FieldOpts::new()))
                        (fl.text_field("name", "Name", "", FieldOpts::new().required().max_len(100)))
                        button type="submit" { "Add" }
                    }))
                }
            }
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddForm {
    pub user: String,
    pub name: String,
}

pub async fn add_technician(
    c: Caller,
    State(st): State<AppState>,
    Form(f): Form<AddForm>,
) -> Result<Response, ApiError> {
    let saved = match f.user.trim().parse::<i64>() {
        Ok(u) => {
            let input = TechnicianInput {
                name: f.name.clone(),
                shift_start_min: 8 * 60,
                shift_end_min: 17 * 60,
                work_days: (1..=5).collect(),
                active: true,
                ..TechnicianInput::default()
            };
            technicians::save(&st.db, u, &input).await
        }
        Err(_) => Err(StoreError::invalid("user", "pick a staff member")),
    };
    match saved {
        Ok(t) => {
            audit::record(&st.db, &c.actor(), "dispatch.technician.add", &format!("user {}", t.user_id), &t.name)
                .await?;
            Ok(Redirect::to(&format!("/dispatch/technicians/{}?added=1", t.user_id)).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, &["user", "name"]) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, technicians_page(&c, &st, &errors).await?).into_response())
        }
    }
}

const TECH_FIELDS: &[&str] = &[
    "name",
    "phone",
    "skills",
    "shift_start",
    "shift_end",
    "work_days",
    "start_lat",
    "start_lon",
    "end_lat",
    "end_lon",
    "zones",
];

#[derive(Debug, Default, Deserialize)]
pub struct TechForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub skills: String,
    #[serde(default)]
    pub shift_start: String,
    #[serde(default)]
    pub shift_end: String,
    #[serde(default)]
    pub start_lat: String,
    #[serde(default)]
    pub start_lon: String,
    #[serde(default)]
    pub end_lat: String,
    #[serde(default)]
    pub end_lon: String,
    #[serde(default)]
    pub active: Option<String>,
    /// Repeated fields (`day=1&day=2`, `zone=3`) arrive as a list.
    #[serde(default)]
    pub day: Vec<String>,
    #[serde(default)]
    pub zone: Vec<String>,
}

impl TechForm {
    fn input(&self) -> Result<TechnicianInput, StoreError> {
        let start = mast_store::dispatch::point(
            "start_lat",
            opt_f64("start_lat", &self.start_lat)?,
            opt_f64("start_lon", &self.start_lon)?,
        )?;
        let end = mast_store::dispatch::point(
            "end_lat",
            opt_f64("end_lat", &self.end_lat)?,
            opt_f64("end_lon", &self.end_lon)?,
        )?;
        let work_days = self
            .day
            .iter()
            .map(|d| d.parse::<i8>().map_err(|_| StoreError::invalid("work_days", "pick weekdays")))
            .collect::<Result<_, _>>()?;
        let zones = self
            .zone
            .iter()
            .map(|z| z.parse::<i64>().map_err(|_| StoreError::invalid("zones", "pick zones")))
            .collect::<Result<_, _>>()?;
        Ok(TechnicianInput {
            name: self.name.clone(),
            phone: self.phone.clone(),
            skills: self.skills.clone(),
            shift_start_min: parse_hhmm("shift_start", &self.shift_start)?,
            shift_end_min: parse_hhmm("shift_end", &self.shift_end)?,
            work_days,
            start,
            end,
            active: self.active.is_some(),
            zones,
        })
    }
}

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

async fn technician_page(
    c: &Caller,
    st: &AppState,
    id: i64,
    form: Option<&TechForm>,
    errors: &FormErrors,
    flash: Option<&str>,
) -> Result<Markup, ApiError> {
    let t = technicians::get(&st.db, id).await?;
    let mine = technicians::zones_of(&st.db, id).await?;
    let zones = technicians::zones(&st.db).await?;
    let off = technicians::days_off(&st.db, id).await?;
    let f = match form {
        Some(f) => clone_form(f),
        None => TechForm {
            name: t.name.clone(),
            phone: t.phone.clone(),
            skills: t.skills.clone(),
            shift_start: hhmm(t.shift_start_min),
            shift_end: hhmm(t.shift_end_min),
            start_lat: num(t.start_lat),
            start_lon: num(t.start_lon),
            end_lat: num(t.end_lat),
            end_lon: num(t.end_lon),
            active: (t.active != 0).then(|| "on".into()),
            day: t.days().iter().map(|d| d.to_string()).collect(),
            zone: mine.iter().map(|z| z.to_string()).collect(),
        },
    };
    let admin = c.role == Role::Admin;
    let csrf = c.csrf.as_deref().unwrap_or("");
    let fl = Fields::new("tech", errors);
    let no_errors = FormErrors::new();
    let df = Fields::new("off", &no_errors);
    Ok(page(
        c,
        &t.name,
        html! {
            h1 { (t.name) " " span.muted { (t.email) } }
            (subnav(c.role))
            @if let Some(m) = flash { (ui::flash(ui::FlashKind::Success, m)) }
            (ui::form(&format!("/dispatch/technicians/{id}"), Method::Post, csrf, html! {
                (fl.summary())
                fieldset disabled[!admin] {
                    (fl.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(100)))
                    (fl.tel_field("phone", "Phone", &f.phone, FieldOpts::new()))
                    (fl.text_field("skills", "Skills", &f.skills, FieldOpts::new().hint("Comma-separated, e.g. climb, fiber")))
                    (fl.text_field("shift_start", "Day starts (HH:MM)", &f.shift_start, FieldOpts::new().required()))
                    (fl.text_field("shift_end", "Day ends (HH:MM)", &f.shift_end, FieldOpts::new().required()))
                    fieldset #tech-work_days {
                        legend { "Work days" }
                        @if let Some(e) = errors.get("work_days") { p.field-error role="alert" { (e) } }
                        @for (i, d) in WEEKDAYS.iter().enumerate() {
                            @let v = (i + 1).to_string();
                            label.inline { input type="checkbox" name="day" value=(v) checked[f.day.contains(&v)]; " " (d) }
                        }
                    }
                    (fl.number_field("start_lat", "Start latitude (depot or home)", &f.start_lat, true, FieldOpts::new()))
                    (fl.number_field("start_lon", "Start longitude", &f.start_lon, true, FieldOpts::new()))
                    (fl.number_field("end_lat", "End latitude (empty: back to the start)", &f.end_lat, true, FieldOpts::new()))
                    (fl.number_field("end_lon", "End longitude", &f.end_lon, true, FieldOpts::new()))
                    fieldset #tech-zones {
                        legend { "Zones (none: anywhere)" }
                        @if let Some(e) = errors.get("zones") { p.field-error role="alert" { (e) } }
                        @for z in &zones {
                            @let v = z.id.to_string();
                            label.inline { input type="checkbox" name="zone" value=(v) checked[f.zone.contains(&v)]; " " (z.name) }
                        }
                        @if zones.is_empty() { p.muted { "No zones yet: " a href="/dispatch/zones" { "draw them on the map" } "." } }
                    }
                    (fl.checkbox_field("active", "Active (planned)", f.active.is_some(), FieldOpts::new()))
                    @if admin { button.primary type="submit" { "Save" } }
                }
            }))
            h2 { "Days off" }
            ul { @for d in &off { li { (d)
                @if DISPATCHERS.contains(&c.role) {
                    (ui::form_with_class("inline", &format!("/dispatch/technicians/{id}/days-off"), Method::Post, csrf, html! {
                        input type="hidden" name="day" value=(d);
                        input type="hidden" name="remove" value="1";
                        button type="submit" { "Remove" }
                    }))
                }
            } } }
            @if DISPATCHERS.contains(&c.role) {
                (ui::form_with_class("days-off-form", &format!("/dispatch/technicians/{id}/days-off"), Method::Post, csrf, html! {
                    (df.date_field("day", "Day off", "", FieldOpts::new()))
                    button type="submit" { "Add a day off" }
                }))
            }
        },
    ))
}

fn clone_form(f: &TechForm) -> TechForm {
    TechForm {
        name: f.name.clone(),
        phone: f.phone.clone(),
        skills: f.skills.clone(),
        shift_start: f.shift_start.clone(),
        shift_end: f.shift_end.clone(),
        start_lat: f.start_lat.clone(),
        start_lon: f.start_lon.clone(),
        end_lat: f.end_lat.clone(),
        end_lon: f.end_lon.clone(),
        active: f.active.clone(),
        day: f.day.clone(),
        zone: f.zone.clone(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TechQuery {
    pub added: Option<String>,
    pub saved: Option<String>,
}

pub async fn technician(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<TechQuery>,
) -> Result<Markup, ApiError> {
    let flash = if q.added.is_some() {
        Some("Technician added: set their hours, start place and zones.")
    } else if q.saved.is_some() {
        Some("Saved.")
    } else {
        None
    };
    technician_page(&c, &st, id, None, &FormErrors::new(), flash).await
}

pub async fn save_technician(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Repeated checkboxes (`day`, `zone`): parsed by hand, as
    // `serde_urlencoded` takes only the last of a repeated key.
    let mut f = TechForm::default();
    for (k, v) in form_urlencoded::parse(&body) {
        let v = v.into_owned();
        match k.as_ref() {
            "name" => f.name = v,
            "phone" => f.phone = v,
            "skills" => f.skills = v,
            "shift_start" => f.shift_start = v,
            "shift_end" => f.shift_end = v,
            "start_lat" => f.start_lat = v,
            "start_lon" => f.start_lon = v,
            "end_lat" => f.end_lat = v,
            "end_lon" => f.end_lon = v,
            "active" => f.active = Some(v),
            "day" => f.day.push(v),
            "zone" => f.zone.push(v),
            _ => {}
        }
    }
    let saved = match f.input() {
        Ok(input) => technicians::save(&st.db, id, &input).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(t) => {
            audit::record(&st.db, &c.actor(), "dispatch.technician.save", &format!("user {id}"), &t.name).await?;
            Ok(Redirect::to(&format!("/dispatch/technicians/{id}?saved=1")).into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, TECH_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, technician_page(&c, &st, id, Some(&f), &errors, None).await?).into_response())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DayOffForm {
    pub day: String,
    pub remove: Option<String>,
}

pub async fn days_off(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<DayOffForm>,
) -> Result<Response, ApiError> {
    let done = if f.remove.is_some() {
        technicians::remove_day_off(&st.db, id, f.day.trim()).await
    } else {
        technicians::add_day_off(&st.db, id, &f.day).await
    };
    match done {
        Ok(()) => {
            let what = if f.remove.is_some() { "dispatch.day-off.remove" } else { "dispatch.day-off.add" };
            audit::record(&st.db, &c.actor(), what, &format!("user {id}"), f.day.trim()).await?;
            Ok(Redirect::to(&format!("/dispatch/technicians/{id}?saved=1")).into_response())
        }
        Err(e) => {
            let Some(_) = form_errors(&e, &["day"]) else { return Err(e.into()) };
            let mut errors = FormErrors::new();
            errors.form(e.to_string());
            Ok((StatusCode::BAD_REQUEST, technician_page(&c, &st, id, None, &errors, None).await?).into_response())
        }
    }
}

// ------------------------------------------------------------------ zones

const ZONE_FIELDS: &[&str] = &["name", "color", "corners"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ZoneForm {
    pub name: String,
    pub color: String,
    pub corners: String,
}

fn zone_editor(st: &AppState, corners: &str) -> Markup {
    let m = &st.settings.monitoring;
    html! {
        div.map.zone-editor role="region" aria-label="Zone map: click to add corners" data-zone-editor
            data-src="/dispatch/map.json" data-tiles=(m.map_tile_url) data-attribution=(m.map_attribution)
            data-target="zone-corners" {
            div.map-fallback { p.muted { "The map needs JavaScript; type the corners below." } }
        }
        p.muted { "Click the map to add corners in order; the zone closes by itself. "
            button type="button" data-zone-undo { "Undo last corner" } " "
            button type="button" data-zone-clear { "Clear" } }
        input type="hidden" data-zone-initial value=(corners);
    }
}

async fn zones_page(c: &Caller, st: &AppState, f: &ZoneForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let zones = technicians::zones(&st.db).await?;
    let links = technicians::zone_links(&st.db).await?;
    let techs = technicians::list(&st.db).await?;
    let mut t = Table::new("No zones: technicians work anywhere.").col("Zone").col("Corners").col("Technicians");
    for z in &zones {
        let n: Vec<&str> = links
            .iter()
            .filter(|(_, zz)| *zz == z.id)
            .filter_map(|(u, _)| techs.iter().find(|t| t.user_id == *u).map(|t| t.name.as_str()))
            .collect();
        let corners = z.zone().map(|z| z.corners.len()).unwrap_or(0);
        t.push(vec![
            html! { span.swatch data-colour=(z.color) {} a href={ "/dispatch/zones/" (z.id) } { (z.name) } },
            html! { (corners) },
            html! { (n.join(", ")) },
        ]);
    }
    let fl = Fields::new("zone", errors);
    Ok(page(
        c,
        "Zones",
        html! {
            h1 { "Zones" }
            (subnav(c.role))
            p { "A technician with zones gets only jobs inside one of them; one without zones works anywhere." }
            (t)
            @if c.role == Role::Admin {
                h2 { "Draw a zone" }
                (zone_editor(st, &f.corners))
                (ui::form("/dispatch/zones", Method::Post, c.csrf.as_deref().unwrap_or(""), html! {
                    (fl.summary())
                    (fl.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(100)))
                    (fl.text_field("color", "Colour (#rrggbb)", if f.color.is_empty() { "#1f77b4" } else { &f.color }, FieldOpts::new()))
                    (fl.textarea_field("corners", "Corners ([[lat, lon], ...])", &f.corners, FieldOpts::new()))
                    button.primary type="submit" { "Save the zone" }
                }))
            }
        },
    ))
}

pub async fn zones(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    zones_page(&c, &st, &ZoneForm::default(), &FormErrors::new()).await
}

pub async fn add_zone(c: Caller, State(st): State<AppState>, Form(f): Form<ZoneForm>) -> Result<Response, ApiError> {
    match technicians::save_zone(&st.db, None, &f.name, f.color.trim(), &f.corners).await {
        Ok(z) => {
            audit::record(&st.db, &c.actor(), "dispatch.zone.add", &format!("zone {}", z.id), &z.name).await?;
            Ok(Redirect::to("/dispatch/zones").into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, ZONE_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, zones_page(&c, &st, &f, &errors).await?).into_response())
        }
    }
}

async fn zone_page(
    c: &Caller,
    st: &AppState,
    id: i64,
    f: Option<&ZoneForm>,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let z = technicians::zone(&st.db, id).await?;
    let f = f
        .map(|f| ZoneForm { name: f.name.clone(), color: f.color.clone(), corners: f.corners.clone() })
        .unwrap_or(ZoneForm { name: z.name.clone(), color: z.color.clone(), corners: z.corners.clone() });
    let fl = Fields::new("zone", errors);
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(
        c,
        &z.name,
        html! {
            h1 { "Zone " (z.name) }
            (subnav(c.role))
            (zone_editor(st, &f.corners))
            @if c.role == Role::Admin {
                (ui::form(&format!("/dispatch/zones/{id}"), Method::Post, csrf, html! {
                    (fl.summary())
                    (fl.text_field("name", "Name", &f.name, FieldOpts::new().required().max_len(100)))
                    (fl.text_field("color", "Colour (#rrggbb)", &f.color, FieldOpts::new()))
                    (fl.textarea_field("corners", "Corners ([[lat, lon], ...])", &f.corners, FieldOpts::new()))
                    button.primary type="submit" { "Save" }
                }))
                (ui::form_with_class("inline", &format!("/dispatch/zones/{id}/delete"), Method::Post, csrf, html! {
                    button type="submit" { "Delete the zone" }
                }))
            }
        },
    ))
}

pub async fn zone(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    zone_page(&c, &st, id, None, &FormErrors::new()).await
}

pub async fn save_zone(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ZoneForm>,
) -> Result<Response, ApiError> {
    match technicians::save_zone(&st.db, Some(id), &f.name, f.color.trim(), &f.corners).await {
        Ok(z) => {
            audit::record(&st.db, &c.actor(), "dispatch.zone.save", &format!("zone {id}"), &z.name).await?;
            Ok(Redirect::to("/dispatch/zones").into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, ZONE_FIELDS) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, zone_page(&c, &st, id, Some(&f), &errors).await?).into_response())
        }
    }
}

pub async fn delete_zone(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    technicians::delete_zone(&st.db, id).await?;
    audit::record(&st.db, &c.actor(), "dispatch.zone.delete", &format!("zone {id}"), "").await?;
    Ok(Redirect::to("/dispatch/zones").into_response())
}

// ------------------------------------------------------------- checklists

async fn checklists_page(
    c: &Caller,
    st: &AppState,
    errors: &FormErrors,
    typed: Option<(&str, &str)>,
) -> Result<Markup, ApiError> {
    let lists = mast_store::dispatch::jobs::checklists(&st.db).await?;
    let admin = c.role == Role::Admin;
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(
        c,
        "Checklists",
        html! {
            h1 { "Checklists" }
            (subnav(c.role))
            p { "Each new work order starts with its kind's checklist; the technician ticks it on the phone. Jobs already made keep theirs." }
            @for kind in mast_dispatch_core::JobKind::ALL {
                @let k = kind.as_str();
                @let stored = lists.iter().find(|(x, _)| x == k).map(|(_, i)| i.as_str()).unwrap_or("");
                @let value = match typed { Some((tk, tv)) if tk == k => tv, _ => stored };
                @let none = FormErrors::new();
                @let fl = Fields::new(k, if typed.is_some_and(|(tk, _)| tk == k) { errors } else { &none });
                h2 { (k) }
                @if admin {
                    (ui::form("/dispatch/checklists", Method::Post, csrf, html! {
                        input type="hidden" name="kind" value=(k);
                        (fl.textarea_field("items", "Items, one per line", value, FieldOpts::new()))
                        button type="submit" { "Save" }
                    }))
                } @else {
                    ul { @for l in stored.lines() { li { (l) } } }
                }
            }
        },
    ))
}

pub async fn checklists(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    checklists_page(&c, &st, &FormErrors::new(), None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChecklistForm {
    pub kind: String,
    pub items: String,
}

pub async fn save_checklist(
    c: Caller,
    State(st): State<AppState>,
    Form(f): Form<ChecklistForm>,
) -> Result<Response, ApiError> {
    let done = match mast_dispatch_core::JobKind::parse(f.kind.trim()) {
        Some(k) => mast_store::dispatch::jobs::set_checklist(&st.db, k, &f.items).await,
        None => Err(StoreError::invalid("kind", "not a kind of job")),
    };
    match done {
        Ok(()) => {
            audit::record(&st.db, &c.actor(), "dispatch.checklist.save", &format!("checklist {}", f.kind.trim()), "")
                .await?;
            Ok(Redirect::to("/dispatch/checklists").into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, &["items", "kind"]) else { return Err(e.into()) };
            Ok((StatusCode::BAD_REQUEST, checklists_page(&c, &st, &errors, Some((f.kind.trim(), &f.items))).await?)
                .into_response())
        }
    }
}
