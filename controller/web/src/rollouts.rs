//! Fleet upgrades in the browser: `/fleet/rollouts` lists the stored
//! releases and the rollouts and (for admins) starts one, with each
//! problem next to its field; `/fleet/rollouts/{id}` follows a rollout
//! agent by agent (polled while it is active) with pause, resume and abort.
//! The same code as `mast-controller rollout`, audited the same way.

use super::pages::page;
use super::{ApiError, AppState, Caller};
use crate::network::form_errors;
use crate::staff::Role;
use crate::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, Tone, html};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_app::rollouts::{self, Control, StartArgs, Status};
use mast_store::StoreError;
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// The form's fields, kept as typed when it comes back with errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StartForm {
    pub version: String,
    pub canary: String,
    pub waves: String,
    pub sites: String,
    pub window: String,
    pub trial_secs: String,
    pub max_failure_pct: String,
}

impl Default for StartForm {
    fn default() -> Self {
        StartForm {
            version: String::new(),
            canary: "1".into(),
            waves: "10,50,100".into(),
            sites: String::new(),
            window: String::new(),
            trial_secs: "300".into(),
            max_failure_pct: String::new(),
        }
    }
}

const FIELDS: &[&str] = &["version", "canary", "waves", "sites", "window", "trial_secs", "max_failure_pct"];

fn state_badge(state: &str) -> Markup {
    let tone = match state {
        "completed" | "upgraded" => Tone::Up,
        "halted" | "rolled-back" | "refused" => Tone::Down,
        "paused" | "aborted" | "offered" => Tone::Degraded,
        _ => Tone::Neutral,
    };
    ui::tone_badge(tone, state)
}

fn number<T: std::str::FromStr>(field: &str, v: &str, what: &str) -> Result<T, StoreError> {
    v.trim().parse().map_err(|_| StoreError::invalid(field, format!("{what} ({v:?} is not a number)")))
}

fn args(f: &StartForm, default_failure_pct: u8) -> Result<StartArgs, StoreError> {
    Ok(StartArgs {
        version: f.version.trim().to_string(),
        canary: number("canary", &f.canary, "canaries per hardware group, 1 or more")?,
        waves: rollouts::parse_waves(&f.waves)?,
        sites: f.sites.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        window: Some(f.window.trim().to_string()).filter(|w| !w.is_empty()),
        trial_secs: number("trial_secs", &f.trial_secs, "seconds, 10 to 86400")?,
        max_failure_pct: if f.max_failure_pct.trim().is_empty() {
            default_failure_pct
        } else {
            number::<u8>("max_failure_pct", &f.max_failure_pct, "a percentage, 0 to 100")?.min(100)
        },
    })
}

async fn list_page(c: &Caller, st: &AppState, form: &StartForm, errors: &FormErrors) -> Result<Markup, ApiError> {
    let releases = mast_app::releases::list(&st.db).await?;
    let recent = mast_store::rollouts::list(&st.db, 20).await?;
    let mut rel =
        Table::new("No release yet: mast-controller release add --file BIN --signature SIG --version V --target T")
            .col("Version")
            .col("Target")
            .num_col("Size")
            .col("SHA-256")
            .col("Added by");
    for r in &releases {
        rel.push(vec![
            html! { (r.version) },
            html! { code { (r.target) } },
            html! { (r.size) },
            html! { code { (r.sha256.get(..16).unwrap_or(&r.sha256)) "…" } },
            html! { (r.created_by) },
        ]);
    }
    let mut outs =
        Table::new("No rollout yet.").col("Rollout").col("Version").col("State").col("Started by").col("Why");
    for r in &recent {
        outs.push(vec![
            html! { a href={ "/fleet/rollouts/" (r.id) } { "#" (r.id) } },
            html! { (r.version) },
            html! { (state_badge(&r.state)) },
            html! { (r.created_by) },
            html! { (r.why.as_deref().unwrap_or("")) },
        ]);
    }
    let start = (c.role == Role::Admin).then(|| {
        let f = Fields::new("rollout", errors);
        let mut versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
        versions.dedup();
        let mut options: Vec<(&str, &str)> = vec![("", "Choose a version")];
        options.extend(versions.iter().map(|v| (*v, *v)));
        html! {
            h2 { "Start a rollout" }
            p.muted {
                "Canaries first (per hardware target), then waves. Each agent downloads over its own link, checks the "
                "signature, tries the new binary under the old one and keeps it only if it connects and probes within the "
                "trial time; a failed canary or too many failures halt the rollout and alert the on-call group."
            }
            (ui::form_with_class("rollout-form", "/fleet/rollouts", Method::Post, c.csrf.as_deref().unwrap_or(""), html! {
                (f.summary())
                (f.select_field("version", "Version", &options, &form.version, FieldOpts::new().required()))
                (f.number_field("canary", "Canaries per target", &form.canary, false, FieldOpts::new().required()))
                (f.text_field("waves", "Waves (cumulative %)", &form.waves, FieldOpts::new().hint("e.g. 10,50,100")))
                (f.text_field("sites", "Only these sites", &form.sites, FieldOpts::new().hint("names, comma-separated; empty: all")))
                (f.text_field("window", "Daily window", &form.window, FieldOpts::new().hint(&format!("HH:MM-HH:MM in {}; empty: any time", st.settings.timezone))))
                (f.number_field("trial_secs", "Trial time (s)", &form.trial_secs, false, FieldOpts::new().required()))
                (f.number_field("max_failure_pct", "Halt above failures (%)", &form.max_failure_pct, false,
                    FieldOpts::new().hint(&format!("empty: {}", st.settings.agents.rollout_max_failure_pct))))
                button #start-rollout type="submit" { "Start rollout" }
            }))
        }
    });
    Ok(page(
        c,
        "Rollouts",
        html! {
            h1 { "Fleet upgrades" }
            p { a href="/agents" { "Agents" } }
            h2 { "Rollouts" }
            (outs)
            h2 { "Releases" }
            (rel)
            @if let Some(s) = start { (s) }
        },
    ))
}

/// `GET /fleet/rollouts`.
pub async fn rollouts_page(c: Caller, State(st): State<AppState>) -> PageResult {
    Ok(list_page(&c, &st, &StartForm::default(), &FormErrors::new()).await?.into_response())
}

/// `POST /fleet/rollouts`: starts one, or the form again with the errors.
pub async fn start(c: Caller, State(st): State<AppState>, Form(f): Form<StartForm>) -> PageResult {
    let res = match args(&f, st.settings.agents.rollout_max_failure_pct) {
        Ok(a) => rollouts::start(&st.db, &a, &c.actor()).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(r) => Ok(Redirect::to(&format!("/fleet/rollouts/{}", r.id)).into_response()),
        Err(e) => {
            let errors = match (&e, form_errors(&e, FIELDS)) {
                (_, Some(errors)) => errors,
                (StoreError::Conflict(msg), None) => {
                    let mut errors = FormErrors::new();
                    errors.form(msg.clone());
                    errors
                }
                _ => return Err(e.into()),
            };
            let body = list_page(&c, &st, &f, &errors).await?;
            Ok((StatusCode::BAD_REQUEST, body).into_response())
        }
    }
}

fn render_state(s: &Status, csrf: Option<&str>) -> Markup {
    let active = matches!(s.state.as_str(), "running" | "paused" | "halted");
    let poll = format!("/fleet/rollouts/{}/status", s.id);
    let mut t = Table::new("No agent.")
        .col("Agent")
        .col("Stage")
        .col("State")
        .col("Site")
        .col("Version")
        .col("Link")
        .col("Reason");
    for a in &s.agents {
        t.push(vec![
            html! { a href={ "/agents/" (a.agent_id) } { "agent " (a.agent_id) } },
            html! { @if a.stage < 0 { "skipped" } @else if a.stage == 0 { "canary" } @else { "wave " (a.stage) } },
            html! { (state_badge(&a.state)) },
            html! { (a.site) },
            html! { (a.target.as_deref().unwrap_or("-")) @if let Some(m) = &a.model { br; small { (m) } } },
            html! { (a.version.as_deref().unwrap_or("-")) },
            html! { @if a.connected { (ui::tone_badge(Tone::Up, "connected")) } @else { (ui::tone_badge(Tone::Neutral, "offline")) } },
            html! { (a.reason.as_deref().unwrap_or("")) },
        ]);
    }
    let counts: Vec<String> = s.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let action = |what: &str, label: &str, class: &str| {
        html! {
            (ui::form_with_class("inline", &format!("/fleet/rollouts/{}/{what}", s.id), Method::Post, csrf.unwrap_or(""), html! {
                button class=(class) id={ "rollout-" (what) } type="submit" { (label) }
            }))
            " "
        }
    };
    html! {
        @if active {
            div #rollout-state hx-get=(poll) hx-trigger="every 2s" hx-swap="outerHTML" { (body(s, &counts, &t, csrf.is_some(), &action)) }
        } @else {
            div #rollout-state { (body(s, &counts, &t, false, &action)) }
        }
    }
}

fn body(s: &Status, counts: &[String], t: &Table, admin: bool, action: &dyn Fn(&str, &str, &str) -> Markup) -> Markup {
    html! {
        p { "State: " span #rollout-state-badge { (state_badge(&s.state)) } " · stage " (s.stage + 1) " of " (s.stages)
            " · " (counts.join(", ")) }
        @if let Some(why) = &s.why { p.callout #rollout-why { "Halted: " (why) } }
        (ui::kv_list(&[
            ("Trial time", html! { (s.trial_secs) " s" }),
            ("Window", html! { (s.window.as_deref().unwrap_or("any time")) }),
            ("Started by", html! { (s.created_by) }),
        ]))
        @if admin {
            p {
                @if s.state == "running" { (action("pause", "Pause", "")) }
                @if s.state == "paused" || s.state == "halted" { (action("resume", "Resume", "")) }
                (action("abort", "Abort", "danger"))
            }
        }
        (t)
    }
}

async fn status_of(st: &AppState, id: i64) -> Result<Status, StoreError> {
    rollouts::status(&st.db, Some(id)).await?.ok_or_else(|| StoreError::NotFound(format!("rollout {id}")))
}

/// `GET /fleet/rollouts/{id}`.
pub async fn show(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let s = status_of(&st, id).await?;
    let csrf = (c.role == Role::Admin).then(|| c.csrf.clone().unwrap_or_default());
    let body = html! {
        h1 { "Rollout #" (s.id) " of " (s.version) }
        p { a href="/fleet/rollouts" { "All rollouts" } }
        (render_state(&s, csrf.as_deref()))
    };
    Ok(page(&c, "Rollout", body).into_response())
}

/// `GET /fleet/rollouts/{id}/status`: the fragment the page polls.
pub async fn status(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    let s = status_of(&st, id).await?;
    let csrf = (c.role == Role::Admin).then(|| c.csrf.clone().unwrap_or_default());
    Ok(render_state(&s, csrf.as_deref()).into_response())
}

async fn act(c: Caller, st: AppState, id: i64, what: Control) -> PageResult {
    let active = mast_store::rollouts::active(&st.db).await?;
    if active.as_ref().map(|r| r.id) != Some(id) {
        return Err(StoreError::Conflict(format!("rollout {id} is not active")).into());
    }
    rollouts::control(&st.db, what, &c.actor()).await?;
    Ok(Redirect::to(&format!("/fleet/rollouts/{id}")).into_response())
}

/// `POST /fleet/rollouts/{id}/pause`.
pub async fn pause(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    act(c, st, id, Control::Pause).await
}

/// `POST /fleet/rollouts/{id}/resume`.
pub async fn resume(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    act(c, st, id, Control::Resume).await
}

/// `POST /fleet/rollouts/{id}/abort`.
pub async fn abort(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    act(c, st, id, Control::Abort).await
}

/// `GET /api/v1/rollouts/{id}`: a rollout with its agents (JSON, the same as
/// `rollout status --json`).
pub async fn api_status(State(st): State<AppState>, Path(id): Path<i64>) -> Result<axum::Json<Status>, ApiError> {
    Ok(axum::Json(status_of(&st, id).await?))
}
