//! Maintenance windows: the list with each window's next occurrence, the
//! planning form (a site or a device, local start, duration, recurrence,
//! notice; errors shown next to their field), cancelling, and the JSON API.
//! Audited.

use super::network::form_errors;
use super::pages::page as frame;
use super::{ApiError, AppState, Caller};
use crate::audit;
use crate::monitoring::maintenance::{self, Scope};
use crate::monitoring::windows::{self, RecurrenceKind, StoredWindow, WindowInput};
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use mast_store::StoreError;
use serde::Deserialize;
use serde_json::{Value, json};

/// Who may plan and cancel maintenance.
pub const PLANNERS: &[Role] = &[Role::Admin, Role::Support, Role::Technician];

/// The planning form's fields, in order.
const FIELDS: &[&str] = &[
    "site",
    "device",
    "start_local",
    "duration_minutes",
    "recurrence",
    "recurrence_days",
    "until",
    "notice_hours",
    "reason",
];

fn next_occurrence(w: &StoredWindow, now: i64) -> Option<(i64, i64)> {
    maintenance::occurrences(&w.window, now, now + 400 * 86_400_000).ok()?.into_iter().next()
}

pub async fn page(c: Caller, State(st): State<AppState>) -> Result<Markup, ApiError> {
    maintenance_page(&c, &st, &WindowForm::default(), &FormErrors::new()).await
}

async fn maintenance_page(
    c: &Caller,
    st: &AppState,
    form: &WindowForm,
    errors: &FormErrors,
) -> Result<Markup, ApiError> {
    let list = windows::list(&st.db, false).await?;
    let planner = PLANNERS.contains(&c.role);
    let sites: Vec<String> = if planner {
        crate::monitoring::list_sites(&st.db).await?.into_iter().map(|s| s.name).collect()
    } else {
        Vec::new()
    };
    let csrf = c.csrf.as_deref().unwrap_or("");
    let view =
        View { timezone: &st.settings.timezone, tz: st.tz(), now: crate::db::now_ms(), csrf: planner.then_some(csrf) };
    let plan = planner.then(|| plan_form(csrf, &sites, form, errors));
    Ok(frame(c, "Maintenance", render(&view, &list, plan)))
}

/// What the list needs besides the windows.
pub(crate) struct View<'a> {
    pub timezone: &'a str,
    pub tz: &'a jiff::tz::TimeZone,
    pub now: i64,
    /// The session's CSRF token, for planners (who may cancel).
    pub csrf: Option<&'a str>,
}

pub(crate) fn render(v: &View<'_>, list: &[StoredWindow], plan: Option<Markup>) -> Markup {
    let mut t = Table::new("No maintenance planned.")
        .num_col("#")
        .col("Covers")
        .col("Schedule")
        .col("Next")
        .col("Reason")
        .col("By");
    if v.csrf.is_some() {
        t = t.col("");
    }
    for w in list {
        let mut cells = vec![
            html! { (w.window.id) },
            match w.window.scope {
                Scope::Site(s) => html! { "site " a href={ "/sites/" (s) } { (w.scope_name) } },
                Scope::Device(d) => html! { "device " a href={ "/devices/" (d) } { (w.scope_name) } },
            },
            html! { (w.description) },
            match next_occurrence(w, v.now) {
                Some((s, e)) if s <= v.now => ui::tone_badge(
                    ui::Tone::Degraded,
                    &format!("now, until {}", mast_text_core::when::local_time(e, v.tz)),
                ),
                Some((s, _)) => html! { (mast_text_core::when::local_time(s, v.tz)) },
                None => html! { "over" },
            },
            html! { (w.reason) },
            html! { (w.created_by) },
        ];
        if let Some(csrf) = v.csrf {
            cells.push(ui::form_with_class(
                "inline",
                &format!("/maintenance/{}/cancel", w.window.id),
                Method::Post,
                csrf,
                html! { button type="submit" { "Cancel" } },
            ));
        }
        t.push(cells);
    }
    html! {
        h1 { "Maintenance" }
        p {
            "No incident, ticket or outage notice is raised for a site or device inside its window; customers "
            "behind it are told in advance, and their tickets' SLA clocks pause. Times are in " (v.timezone) "."
        }
        (t)
        @if let Some(plan) = plan { (plan) }
    }
}

/// The planning form, keeping what was typed, errors next to their fields.
pub(crate) fn plan_form(csrf: &str, sites: &[String], form: &WindowForm, errors: &FormErrors) -> Markup {
    let f = Fields::new("plan", errors);
    let mut site_options: Vec<(&str, &str)> = vec![("", "— none: a device below —")];
    site_options.extend(sites.iter().map(|s| (s.as_str(), s.as_str())));
    let kinds: Vec<(&str, &str)> = RecurrenceKind::ALL
        .iter()
        .map(|k| {
            let label = match k {
                RecurrenceKind::Once => "Once",
                RecurrenceKind::Daily => "Every day",
                RecurrenceKind::Weekly => "Every week, on the days below",
                RecurrenceKind::Monthly => "Every month, on the day below",
            };
            (k.as_str(), label)
        })
        .collect();
    let recurrence = if form.recurrence.is_empty() { "once" } else { form.recurrence.as_str() };
    html! {
        h2 { "Plan maintenance" }
        (ui::form("/maintenance", Method::Post, csrf, html! {
            (f.summary())
            (f.select_field("site", "Site", &site_options, &form.site, FieldOpts::new()))
            (f.number_field("device", "or device id", &form.device, false,
                FieldOpts::new().hint("A device window covers the device and the radios behind it.")))
            (f.datetime_field("start_local", "Starts (local time)", &form.start_local, FieldOpts::new().required()))
            (f.number_field("duration_minutes", "Duration (minutes)", &form.duration_minutes, false,
                FieldOpts::new().required()))
            (f.select_field("recurrence", "Repeats", &kinds, recurrence, FieldOpts::new()))
            (f.text_field("recurrence_days", "Days", &form.recurrence_days,
                FieldOpts::new().placeholder("tue,thu or 15").max_len(100)
                    .hint("Weekly: days such as mon-fri or tue,thu. Monthly: a day from 1 to 28.")))
            (f.date_field("until", "Until (optional)", &form.until, FieldOpts::new()))
            (f.number_field("notice_hours", "Tell customers (hours before)", &form.notice_hours, false,
                FieldOpts::new().hint("0: do not tell them.")))
            (f.text_field("reason", "Reason (customers read it)", &form.reason,
                FieldOpts::new().required().max_len(500)))
            button type="submit" { "Plan" }
        }))
    }
}

/// The planning form as submitted (text, so a bad entry is shown back).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WindowForm {
    pub site: String,
    pub device: String,
    pub start_local: String,
    pub duration_minutes: String,
    /// A [`RecurrenceKind`], or a whole recurrence (`weekly:tue,thu`).
    pub recurrence: String,
    pub recurrence_days: String,
    pub until: String,
    pub notice_hours: String,
    pub reason: String,
}

impl Default for WindowForm {
    fn default() -> Self {
        WindowForm {
            site: String::new(),
            device: String::new(),
            start_local: String::new(),
            duration_minutes: "120".into(),
            recurrence: "once".into(),
            recurrence_days: String::new(),
            until: String::new(),
            notice_hours: "48".into(),
            reason: String::new(),
        }
    }
}

impl WindowForm {
    /// The store's input; a number that does not parse names its field.
    pub fn input(&self) -> Result<WindowInput, StoreError> {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let num = |field: &str, s: &str| -> Result<Option<u32>, StoreError> {
            match s.trim() {
                "" => Ok(None),
                v => v.parse().map(Some).map_err(|_| StoreError::invalid(field, "a whole number")),
            }
        };
        let recurrence = match RecurrenceKind::parse(&self.recurrence) {
            Ok(k) => k.spec(&self.recurrence_days),
            Err(_) if self.recurrence.contains(':') => self.recurrence.trim().to_string(),
            Err(e) => return Err(e),
        };
        Ok(WindowInput {
            site: some(&self.site),
            device: match self.device.trim() {
                "" => None,
                d => Some(d.parse().map_err(|_| StoreError::invalid("device", "a device id (a number)"))?),
            },
            start_local: self.start_local.clone(),
            duration_minutes: num("duration_minutes", &self.duration_minutes)?
                .ok_or_else(|| StoreError::invalid("duration_minutes", "how long, in minutes"))?,
            recurrence: Some(recurrence),
            until: some(&self.until),
            notice_hours: num("notice_hours", &self.notice_hours)?,
            reason: self.reason.clone(),
        })
    }
}

/// Where an input error shows on the form: the days of a weekly or
/// monthly window have their own field.
fn on_form(e: StoreError, form: &WindowForm) -> StoreError {
    match e {
        StoreError::Invalid { field, reason }
            if field == "recurrence"
                && RecurrenceKind::parse(&form.recurrence).is_ok_and(|k| k.spec("") != k.as_str()) =>
        {
            StoreError::Invalid { field: "recurrence_days".into(), reason }
        }
        e => e,
    }
}

async fn record(st: &AppState, c: &Caller, w: &StoredWindow) -> Result<(), ApiError> {
    audit::record(
        &st.db,
        &c.actor(),
        "maintenance.plan",
        &format!("maintenance {}", w.window.id),
        &format!("{}: {}", w.description, w.reason),
    )
    .await?;
    Ok(())
}

pub async fn create_page(
    c: Caller,
    State(st): State<AppState>,
    Form(f): Form<WindowForm>,
) -> Result<Response, ApiError> {
    let created = match f.input() {
        Ok(input) => windows::create(&st.db, &input, &st.settings.timezone, &c.name).await,
        Err(e) => Err(e),
    };
    match created.map_err(|e| on_form(e, &f)) {
        Ok(w) => {
            record(&st, &c, &w).await?;
            Ok(Redirect::to("/maintenance").into_response())
        }
        Err(e) => {
            let Some(errors) = form_errors(&e, FIELDS) else { return Err(e.into()) };
            let body = maintenance_page(&c, &st, &f, &errors).await?;
            Ok((StatusCode::BAD_REQUEST, body).into_response())
        }
    }
}

pub async fn cancel_page(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    if windows::cancel(&st.db, id).await? {
        audit::record(&st.db, &c.actor(), "maintenance.cancel", &format!("maintenance {id}"), "").await?;
    }
    Ok(Redirect::to("/maintenance").into_response())
}

pub async fn api_list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = crate::db::now_ms();
    let list: Vec<Value> = windows::list(&st.db, false)
        .await?
        .iter()
        .map(|w| json!({ "window": w, "next": next_occurrence(w, now) }))
        .collect();
    Ok(Json(json!({ "maintenance": list })))
}

pub async fn api_create(
    c: Caller,
    State(st): State<AppState>,
    Json(input): Json<WindowInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let w = windows::create(&st.db, &input, &st.settings.timezone, &c.name).await?;
    record(&st, &c, &w).await?;
    Ok((StatusCode::CREATED, Json(json!({ "window": w }))))
}

pub async fn api_cancel(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let done = windows::cancel(&st.db, id).await?;
    if done {
        audit::record(&st.db, &c.actor(), "maintenance.cancel", &format!("maintenance {id}"), "").await?;
    }
    Ok(Json(json!({ "cancelled": done })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;

    #[test]
    fn the_form_turns_into_the_store_input_or_names_the_field() {
        let f = WindowForm {
            site: "north".into(),
            start_local: "2030-06-04T02:00".into(),
            recurrence: "weekly".into(),
            recurrence_days: "tue,thu".into(),
            reason: "firmware".into(),
            ..WindowForm::default()
        };
        let i = f.input().unwrap();
        assert_eq!((i.site.as_deref(), i.device, i.duration_minutes), (Some("north"), None, 120));
        assert_eq!((i.recurrence.as_deref(), i.notice_hours), (Some("weekly:tue,thu"), Some(48)));
        let once = WindowForm { recurrence: "once".into(), ..f.clone() }.input().unwrap();
        assert_eq!(once.recurrence.as_deref(), Some("once"));
        let spec = WindowForm { recurrence: "monthly:15".into(), ..f.clone() }.input().unwrap();
        assert_eq!(spec.recurrence.as_deref(), Some("monthly:15"), "a whole recurrence still works");
        let field = |f: WindowForm| f.input().unwrap_err().field().map(str::to_string);
        assert_eq!(field(WindowForm { device: "x".into(), ..f.clone() }).as_deref(), Some("device"));
        assert_eq!(field(WindowForm { duration_minutes: "".into(), ..f.clone() }).as_deref(), Some("duration_minutes"));
        assert_eq!(field(WindowForm { notice_hours: "-1".into(), ..f.clone() }).as_deref(), Some("notice_hours"));
        assert_eq!(field(WindowForm { recurrence: "hourly".into(), ..f.clone() }).as_deref(), Some("recurrence"));
        // The store's "weekly needs days" goes next to the days.
        let e = on_form(StoreError::invalid("recurrence", "a weekly window needs at least one day"), &f);
        assert_eq!(e.field(), Some("recurrence_days"));
        let daily = WindowForm { recurrence: "daily".into(), ..f.clone() };
        assert_eq!(on_form(StoreError::invalid("recurrence", "x"), &daily).field(), Some("recurrence"));
    }

    #[test]
    fn the_form_keeps_hostile_input_escaped_and_shows_errors_inline() {
        let f = WindowForm { reason: HOSTILE.into(), recurrence_days: HOSTILE.into(), ..WindowForm::default() };
        let errors = form_errors(&StoreError::invalid("reason", HOSTILE), FIELDS).unwrap();
        let s = plan_form("tok", &[HOSTILE.to_string()], &f, &errors).into_string();
        assert!(!s.contains(HOSTILE) && !s.contains("<script>alert") && !s.contains("<img src=x"), "{s}");
        assert!(s.contains(r#"<p class="field-error" id="plan-reason-error">&quot;&gt;&lt;script&gt;"#), "{s}");
        assert!(s.contains(r#"name="csrf" value="tok""#));
        assert!(s.contains(r#"type="datetime-local""#) && s.contains(r#"<option value="weekly">"#));
        // An error for a field the form lacks goes to the top.
        let errors = form_errors(&StoreError::invalid("", "give a site or a device (one of them)"), FIELDS).unwrap();
        let s = plan_form("tok", &[], &f, &errors).into_string();
        assert!(s.contains("give a site or a device"), "{s}");
    }

    #[test]
    fn the_list_escapes_names_and_reasons() {
        let window = maintenance::Window {
            id: 7,
            scope: Scope::Site(3),
            tz: "UTC".into(),
            start_local: "2030-06-04T02:00".into(),
            duration_minutes: 60,
            recurrence: maintenance::Recurrence::Once,
            until: None,
            notice_hours: 48,
        };
        let w = StoredWindow {
            description: maintenance::describe(&window),
            window,
            scope_name: HOSTILE.into(),
            reason: HOSTILE.into(),
            created_by: HOSTILE.into(),
            created_ms: 0,
            cancelled_ms: None,
        };
        let v = View { timezone: HOSTILE, tz: &jiff::tz::TimeZone::UTC, now: 0, csrf: Some(HOSTILE) };
        let s = render(&v, &[w], None).into_string();
        assert!(!s.contains(HOSTILE) && !s.contains("<script>alert") && !s.contains("<img src=x"), "{s}");
        assert!(s.contains(r#"href="/sites/3""#) && s.contains(r#"action="/maintenance/7/cancel""#), "{s}");
        let v = View { csrf: None, ..v };
        let s = render(&v, &[], None).into_string();
        assert!(s.contains("No maintenance planned.") && !s.contains("Cancel"));
    }
}
