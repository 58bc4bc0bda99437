//! Staff login and logout (argon2id passwords, throttled, audited; a fresh
//! session id at every login).

use super::client::Client;
use super::{ApiError, AppState, Caller, SESSION_COOKIE, ui};
use crate::audit;
use crate::staff::{self};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;
fn login_page(error: Option<&str>) -> ui::Markup {
    ui::bare_layout(
        "Log in",
        maud::html! {
            form.login method="post" action="/login" {
                h2 { "Log in to Mast" }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                label for="email" { "Email" }
                input #email name="email" type="email" autocomplete="username" maxlength="254" required;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        },
    )
}

pub async fn login_form() -> ui::Markup {
    login_page(None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

pub async fn login(
    State(st): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let ip = client.ip.to_string();
    let now = crate::db::now_ms() as u64;
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin login refused").into_response());
    }
    let email = f.email.trim().to_ascii_lowercase();
    // Not an address at all (too long, control characters): refused before
    // it costs a throttle entry, a password hash or an audit line.
    if mast_text_core::input::line(&email, mast_text_core::input::MAX_EMAIL).is_err() || f.password.len() > 1024 {
        return Ok((StatusCode::BAD_REQUEST, login_page(Some("Wrong email or password."))).into_response());
    }
    // Counted before the password is verified: concurrent attempts cannot
    // all get through while the hashes run.
    let throttled = st.web.throttle.lock().unwrap_or_else(|p| p.into_inner()).begin(&email, &ip, now);
    if let Err(wait) = throttled {
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            login_page(Some(&format!("Too many failed attempts. Try again in {}.", wait_text(wait)))),
        )
            .into_response());
    }
    let actor = audit::Actor { name: email.clone(), ip: Some(ip.clone()) };
    match staff::authenticate(&st.db, &email, &f.password).await? {
        Some(user) => {
            st.web.throttle.lock().unwrap_or_else(|p| p.into_inner()).succeeded(&email, &ip);
            // A fresh session id at every login (no fixation).
            if let Some(old) = super::cookie(&headers, SESSION_COOKIE) {
                staff::end_session(&st.db, &old).await?;
            }
            let (sid, _) = staff::create_session(&st.db, user.id, Some(ip)).await?;
            audit::record(&st.db, &actor, "login", &user.email, "").await?;
            let secure = st.settings.http.cookie_secure || client.https;
            let cookie = format!(
                "{SESSION_COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
                st.settings.http.sessions.absolute_ms / 1000,
                if secure { "; Secure" } else { "" }
            );
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
        }
        None => {
            crate::metrics::Metrics::inc(&st.metrics.http_unauthorized);
            audit::record(&st.db, &actor, "login.failed", &email, "").await?;
            Ok((StatusCode::UNAUTHORIZED, login_page(Some("Wrong email or password."))).into_response())
        }
    }
}

/// "12 s", "3 min".
pub(crate) fn wait_text(secs: u64) -> String {
    if secs < 120 { format!("{secs} s") } else { format!("{} min", secs.div_ceil(60)) }
}

pub async fn logout(c: Caller, State(st): State<AppState>, headers: HeaderMap) -> PageResult {
    if let Some(sid) = super::cookie(&headers, SESSION_COOKIE) {
        staff::end_session(&st.db, &sid).await?;
    }
    audit::record(&st.db, &c.actor(), "logout", &c.name, "").await?;
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}
