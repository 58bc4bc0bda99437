//! Changing a device in the browser: its name, notes, kind and parents (the
//! learned ones are shown as learned; staff-set ones win), and retiring it
//! (asks for a reason; its open incidents close with it) or bringing it back.

use super::{PageResult, form_errors};
use crate::monitoring::edits::{self, DeviceEdit, StaffFields};
use crate::monitoring::{self, DeviceKind, DeviceView};
use crate::pages::page;
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, html};
use crate::{ApiError, AppState, Caller, audit};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use mast_store::StoreError;

/// Who may change devices: the people who run the network.
pub const EDITORS: &[Role] = &[Role::Admin, Role::Technician];

const FIELDS: &[&str] = &["name", "notes", "kind", "parents", "reason"];

/// The form as submitted. `parents` repeats (one per ticked box).
#[derive(Debug, Default, Clone)]
pub struct DeviceForm {
    pub name: String,
    pub notes: String,
    /// A kind, or empty for the learned one.
    pub kind: String,
    pub parents: Vec<String>,
}

impl DeviceForm {
    /// From the submitted pairs (`parents` repeats, which the derived form
    /// decoding cannot take).
    fn from_pairs(pairs: Vec<(String, String)>) -> DeviceForm {
        let mut f = DeviceForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "name" => f.name = v,
                "notes" => f.notes = v,
                "kind" => f.kind = v,
                "parents" => f.parents.push(v),
                _ => {}
            }
        }
        f
    }

    fn of(f: &StaffFields) -> DeviceForm {
        DeviceForm {
            name: f.name.clone().unwrap_or_default(),
            notes: f.notes.clone().unwrap_or_default(),
            kind: f.kind_set.map(|k| k.as_str().to_string()).unwrap_or_default(),
            parents: f.parents.iter().map(i64::to_string).collect(),
        }
    }

    fn parse(&self) -> Result<DeviceEdit, StoreError> {
        let kind = match self.kind.trim() {
            "" => None,
            k => Some(DeviceKind::parse(k)?),
        };
        let parents = device_ids("parents", &self.parents)?;
        Ok(DeviceEdit { name: Some(self.name.clone()), notes: Some(self.notes.clone()), kind, parents })
    }
}

/// Ticked device checkboxes (`field` repeats) as ids; blanks skipped.
pub(crate) fn device_ids<S: AsRef<str>>(field: &str, values: &[S]) -> Result<Vec<i64>, StoreError> {
    values
        .iter()
        .map(|v| v.as_ref().trim())
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<i64>().map_err(|_| StoreError::invalid(field, "choose devices from the list")))
        .collect()
}

fn kind_label(k: DeviceKind) -> &'static str {
    match k {
        DeviceKind::Unknown => "Unknown",
        DeviceKind::Ap => "Access point",
        DeviceKind::Cpe => "Customer radio (CPE)",
        DeviceKind::Backhaul => "Backhaul",
        DeviceKind::Router => "Router",
        DeviceKind::Switch => "Switch",
        DeviceKind::Host => "Host",
    }
}

/// The edit form. `siblings` are the other devices of the site (parent
/// candidates).
pub(crate) fn render_form(
    csrf: &str,
    d: &DeviceView,
    staff: &StaffFields,
    siblings: &[DeviceView],
    f: &DeviceForm,
    errors: &FormErrors,
) -> Markup {
    let fields = Fields::new("device", errors);
    let learned_kind = staff.kind_learned.map(kind_label).unwrap_or("none yet");
    let learned_option = format!("As learned ({learned_kind})");
    let mut kinds: Vec<(&str, &str)> = vec![("", learned_option.as_str())];
    kinds.extend(DeviceKind::ALL.iter().map(|k| (k.as_str(), kind_label(*k))));
    let learned_parent = staff.parent_learned.and_then(|p| siblings.iter().find(|s| s.id == p));
    html! {
        (ui::form_with_class("device-form", &format!("/devices/{}/edit", d.id), Method::Post, csrf, html! {
            (fields.summary())
            (fields.text_field("name", "Name", &f.name, FieldOpts::new().max_len(64)
                .hint("Empty: the name the device reports, or its address.")))
            (fields.select_field("kind", "Kind", &kinds, &f.kind, FieldOpts::new()
                .hint("Set it when the agents guess wrong; the learned kind comes back when you choose 'As learned'.")))
            fieldset #device-parents .has-error[errors.get("parents").is_some()] {
                legend { "Parents" }
                p.muted {
                    "Learned: "
                    @match learned_parent {
                        Some(p) => { (p.label()) }
                        None => { "none (directly behind the tower's backhaul)" }
                    }
                    ". Tick parents to override it; tick two or more for redundant links (the device is cut off only when all are down)."
                }
                @if let Some(e) = errors.get("parents") {
                    p.field-error #device-parents-error role="alert" { (e) }
                }
                @if siblings.is_empty() {
                    p.muted { "No other device at this site." }
                }
                ul.checks {
                    @for s in siblings {
                        @let v = s.id.to_string();
                        li {
                            label.check {
                                input type="checkbox" name="parents" value=(v) checked[f.parents.contains(&v)];
                                (s.label()) " "
                                span.muted { (s.kind.map(|k| k.as_str()).unwrap_or("-")) " · " (s.addr) }
                            }
                        }
                    }
                }
            }
            (fields.textarea_field("notes", "Notes", &f.notes, FieldOpts::new()
                .hint("For the people who work on it: mounting, access, quirks.")))
            button #save-device type="submit" { "Save device" }
        }))
    }
}

async fn form_page(
    c: &Caller,
    st: &AppState,
    d: &DeviceView,
    staff: &StaffFields,
    f: &DeviceForm,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let siblings: Vec<DeviceView> =
        monitoring::site_devices(&st.db, d.site_id).await?.into_iter().filter(|s| s.id != d.id).collect();
    let csrf = c.csrf.as_deref().unwrap_or("");
    Ok(page(
        c,
        &format!("Edit {}", d.label()),
        html! {
            h1 { "Edit " (d.label()) }
            p { a href={ "/devices/" (d.id) } { "Back to the device" } " · " (d.addr) " · site " (d.site) }
            (render_form(csrf, d, staff, &siblings, f, errors))
            h2 { "Retire the device" }
            p.muted { "A retired device leaves the lists, the counts and outage detection; its open incidents close." }
            (ui::form_with_class("inline", &format!("/devices/{}/retire", d.id), Method::Post, csrf, html! {
                button.danger #retire-device type="submit" { "Retire…" }
            }))
        },
    ))
}

/// `GET /devices/{id}/edit`.
pub async fn edit(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Markup, ApiError> {
    let d = monitoring::get_device(&st.db, id).await?;
    let staff = edits::staff_fields(&st.db, id).await?;
    form_page(&c, &st, &d, &staff, &DeviceForm::of(&staff), &FormErrors::new()).await
}

/// `POST /devices/{id}/edit`.
pub async fn save(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = DeviceForm::from_pairs(pairs);
    let d = monitoring::get_device(&st.db, id).await?;
    let saved = match f.parse() {
        Ok(e) => edits::edit_device(&st.db, id, &e).await.map(|()| e),
        Err(e) => Err(e),
    };
    let e = match saved {
        Ok(e) => e,
        Err(e) => {
            let errors = form_errors(&e, FIELDS).ok_or(e)?;
            let staff = edits::staff_fields(&st.db, id).await?;
            return Ok((StatusCode::BAD_REQUEST, form_page(&c, &st, &d, &staff, &f, &errors).await?).into_response());
        }
    };
    let what = format!(
        "kind {}, parents {}",
        e.kind.map(|k| k.as_str()).unwrap_or("learned"),
        if e.parents.is_empty() {
            "learned".to_string()
        } else {
            e.parents.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        }
    );
    st.network_changed();
    audit::record(&st.db, &c.actor(), "device.change", &format!("device {id}"), &what).await?;
    Ok(Redirect::to(&format!("/devices/{id}")).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RetireForm {
    pub reason: String,
    /// `yes` from the confirmation page.
    pub confirm: String,
}

fn retire_page(c: &Caller, d: &DeviceView, reason: &str, errors: &FormErrors) -> Markup {
    let fields = Fields::new("retire", errors);
    let csrf = c.csrf.as_deref().unwrap_or("");
    page(
        c,
        &format!("Retire {}", d.label()),
        html! {
            h1 { "Retire " (d.label()) "?" }
            p { "It leaves the device lists, the counts and outage detection; its open incidents close with your reason. You can bring it back from its page." }
            (ui::form_with_class("retire-form", &format!("/devices/{}/retire", d.id), Method::Post, csrf, html! {
                (ui::hidden("confirm", "yes"))
                (fields.text_field("reason", "Why", reason, FieldOpts::new().required().max_len(200)
                    .hint("Such as: replaced by ap-north-2, removed from the tower.")))
                button.danger #confirm-retire type="submit" { "Retire " (d.label()) }
            }))
            " " a href={ "/devices/" (d.id) } { "Keep it" }
        },
    )
}

/// `POST /devices/{id}/retire`: asks for the reason, then retires.
pub async fn retire(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<RetireForm>,
) -> PageResult {
    let d = monitoring::get_device(&st.db, id).await?;
    if f.confirm != "yes" {
        return Ok(retire_page(&c, &d, "", &FormErrors::new()).into_response());
    }
    let closed = match edits::retire(&st.db, id, &c.name, &f.reason).await {
        Ok(closed) => closed,
        Err(e) => {
            let errors = form_errors(&e, FIELDS).ok_or(e)?;
            return Ok((StatusCode::BAD_REQUEST, retire_page(&c, &d, &f.reason, &errors)).into_response());
        }
    };
    st.network_changed();
    let what = format!("{}; incidents closed: {}", f.reason.trim(), closed.len());
    audit::record(&st.db, &c.actor(), "device.retire", &format!("device {id}"), &what).await?;
    Ok(Redirect::to(&format!("/devices/{id}")).into_response())
}

/// `POST /devices/{id}/restore`.
pub async fn restore(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    edits::restore(&st.db, id).await?;
    st.network_changed();
    audit::record(&st.db, &c.actor(), "device.restore", &format!("device {id}"), "").await?;
    Ok(Redirect::to(&format!("/devices/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parents_and_kinds_parse() {
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let f = DeviceForm::from_pairs(pairs(&[
            ("csrf", "t"),
            ("name", "ap-1"),
            ("kind", "ap"),
            ("parents", "4"),
            ("parents", " 9 "),
        ]));
        let e = f.parse().unwrap();
        assert_eq!((e.kind, e.parents), (Some(DeviceKind::Ap), vec![4, 9]));
        let none = DeviceForm::from_pairs(pairs(&[("kind", "")])).parse().unwrap();
        assert_eq!((none.kind, none.parents), (None, vec![]));
        let bad = DeviceForm::from_pairs(pairs(&[("kind", "toaster")])).parse().unwrap_err();
        assert_eq!(bad.field(), Some("kind"));
        let bad = DeviceForm::from_pairs(pairs(&[("parents", "x")])).parse().unwrap_err();
        assert_eq!(bad.field(), Some("parents"));
    }
}
