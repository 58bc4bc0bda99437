//! Staff login and logout (argon2id passwords, throttled, audited; a fresh
//! session id at every login).

use super::{ApiError, AppState, Caller, SESSION_COOKIE, ui};
use crate::audit;
use crate::staff::{self};
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let ip = peer.ip().to_string();
    let now = crate::db::now_ms() as u64;
    if !super::same_origin(&headers) {
        return Ok((StatusCode::FORBIDDEN, "cross-origin login refused").into_response());
    }
    let email = f.email.trim().to_ascii_lowercase();
    let throttled = st.web.throttle.lock().unwrap_or_else(|p| p.into_inner()).check(&email, &ip, now);
    if let Err(wait) = throttled {
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            login_page(Some(&format!("Too many failed attempts. Try again in {} min.", wait.div_ceil(60)))),
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
            let secure = st.settings.http.cookie_secure
                || headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
            let cookie = format!(
                "{SESSION_COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
                st.settings.http.sessions.absolute_ms / 1000,
                if secure { "; Secure" } else { "" }
            );
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
        }
        None => {
            st.web.throttle.lock().unwrap_or_else(|p| p.into_inner()).failed(&email, &ip, now);
            crate::metrics::Metrics::inc(&st.metrics.http_unauthorized);
            audit::record(&st.db, &actor, "login.failed", &email, "").await?;
            Ok((StatusCode::UNAUTHORIZED, login_page(Some("Wrong email or password."))).into_response())
        }
    }
}

pub async fn logout(c: Caller, State(st): State<AppState>, headers: HeaderMap) -> PageResult {
    if let Some(sid) = super::cookie(&headers, SESSION_COOKIE) {
        staff::end_session(&st.db, &sid).await?;
    }
    audit::record(&st.db, &c.actor(), "logout", &c.name, "").await?;
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}
