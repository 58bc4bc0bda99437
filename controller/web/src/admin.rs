//! Administration pages: staff users, API tokens, the audit log (and its
//! CSV export).

use super::pages::{badge, csrf_field, layout};
use super::{ApiError, AppState, Caller, esc, fmt_utc};
use crate::staff::{self, Role};
use crate::{audit, auth};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;
pub async fn users(c: Caller, State(st): State<AppState>) -> PageResult {
    let users = staff::list_users(&st.db).await?;
    let role_opts = |sel: Role| -> String {
        Role::ALL
            .iter()
            .map(|r| format!("<option{}>{}</option>", if *r == sel { " selected" } else { "" }, r.as_str()))
            .collect()
    };
    let mut b = String::from(
        "<h1>Users</h1><div class=wrap><table><tr><th>Email</th><th>Role</th><th>State</th><th></th></tr>",
    );
    for u in &users {
        b.push_str(&format!(
            "<tr><td>{email}</td><td><form method=post action='/users/{id}' class=inline>{csrf}<input type=hidden name=action value=role><select name=role>{opts}</select><button type=submit>Set role</button></form></td><td>{state}</td>\
             <td><form method=post action='/users/{id}' class=inline>{csrf}<input type=hidden name=action value={act}><button type=submit>{actl}</button></form></td></tr>",
            email = esc(&u.email),
            id = u.id,
            csrf = csrf_field(&c),
            opts = role_opts(u.role),
            state = badge(if u.disabled { "disabled" } else { "active" }),
            act = if u.disabled { "enable" } else { "disable" },
            actl = if u.disabled { "Enable" } else { "Disable" },
        ));
    }
    b.push_str(&format!(
        "</table></div><h2>Add a user</h2><form method=post action=/users class=stack>{}<label>Email <input name=email type=email required></label>\
         <label>Role <select name=role>{}</select></label><label>Password (10+ characters) <input name=password type=password minlength=10 required autocomplete=new-password></label><button type=submit>Add user</button></form>",
        csrf_field(&c),
        role_opts(Role::Support)
    ));
    Ok(layout(&c, "Users", &b).into_response())
}

#[derive(Deserialize)]
pub struct NewUserForm {
    email: String,
    role: String,
    password: String,
}

pub async fn add_user(c: Caller, State(st): State<AppState>, Form(f): Form<NewUserForm>) -> PageResult {
    let role = Role::parse(&f.role)?;
    let u = staff::add_user(&st.db, &f.email, role, &f.password).await?;
    audit::record(&st.db, &c.actor(), "user.add", &u.email, &format!("role {}", role.as_str())).await?;
    Ok(Redirect::to("/users").into_response())
}

#[derive(Deserialize)]
pub struct ChangeUserForm {
    action: String,
    role: Option<String>,
}

pub async fn change_user(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ChangeUserForm>,
) -> PageResult {
    let Some(u) = staff::user(&st.db, id).await? else { return Err(ApiError::not_found("no such user")) };
    if c.user_id == Some(id) && f.action != "role" {
        return Err(ApiError::bad_request("you cannot disable yourself"));
    }
    match f.action.as_str() {
        "role" => {
            let role = Role::parse(f.role.as_deref().unwrap_or(""))?;
            if c.user_id == Some(id) && role != Role::Admin {
                return Err(ApiError::bad_request("you cannot remove your own admin role"));
            }
            staff::set_role(&st.db, id, role).await?;
            audit::record(
                &st.db,
                &c.actor(),
                "user.role",
                &u.email,
                &format!("{} -> {}", u.role.as_str(), role.as_str()),
            )
            .await?;
        }
        "disable" | "enable" => {
            staff::set_disabled(&st.db, id, f.action == "disable").await?;
            audit::record(&st.db, &c.actor(), &format!("user.{}", f.action), &u.email, "").await?;
        }
        other => return Err(ApiError::bad_request(format!("unknown action {other:?}"))),
    }
    Ok(Redirect::to("/users").into_response())
}

pub async fn tokens(c: Caller, State(st): State<AppState>) -> PageResult {
    Ok(layout(&c, "API tokens", &tokens_body(&c, &st, None).await?).into_response())
}

async fn tokens_body(c: &Caller, st: &AppState, new_token: Option<&str>) -> Result<String, ApiError> {
    let tokens = auth::list_tokens(&st.db).await?;
    let mut b = String::from("<h1>API tokens</h1>");
    if let Some(t) = new_token {
        b.push_str(&format!("<p class=notice>New token (shown only now): <code id=new-token>{}</code></p>", esc(t)));
    }
    b.push_str(
        "<div class=wrap><table><tr><th>Name</th><th>Role</th><th>Created (UTC)</th><th>State</th><th></th></tr>",
    );
    for t in &tokens {
        let revoke = if t.revoked_ms.is_none() {
            format!(
                "<form method=post action='/tokens/{}/revoke' class=inline>{}<button type=submit>Revoke</button></form>",
                t.id,
                csrf_field(c)
            )
        } else {
            String::new()
        };
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
            esc(&t.name),
            esc(&t.role),
            fmt_utc(t.created_ms),
            badge(if t.revoked_ms.is_some() { "revoked" } else { "active" })
        ));
    }
    let opts: String = Role::ALL.iter().map(|r| format!("<option>{}</option>", r.as_str())).collect();
    b.push_str(&format!(
        "</table></div><h2>Create a token</h2><form method=post action=/tokens class=stack>{}<label>Name <input name=name required></label><label>Role <select name=role>{opts}</select></label><button type=submit>Create token</button></form>",
        csrf_field(c)
    ));
    Ok(b)
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    name: String,
    role: String,
}

pub async fn create_token(c: Caller, State(st): State<AppState>, Form(f): Form<NewTokenForm>) -> PageResult {
    let token = super::api::create_token_for(&st, &c, &f.name, &f.role).await?;
    Ok(layout(&c, "API tokens", &tokens_body(&c, &st, Some(&token)).await?).into_response())
}

pub async fn revoke_token(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    if !auth::revoke_token(&st.db, id).await? {
        return Err(ApiError::not_found("no such active token"));
    }
    audit::record(&st.db, &c.actor(), "token.revoke", &format!("token {id}"), "").await?;
    Ok(Redirect::to("/tokens").into_response())
}

pub async fn audit(c: Caller, State(st): State<AppState>) -> PageResult {
    let entries = audit::list(&st.db, 500, 0).await?;
    let mut b = String::from(
        "<h1>Audit log</h1><p><a href=/audit.csv download>Export CSV</a></p><div class=wrap><table><tr><th>Time (UTC)</th><th>Who</th><th>Action</th><th>Target</th><th>Detail</th><th>From</th></tr>",
    );
    for e in &entries {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            fmt_utc(e.ts_ms),
            esc(&e.actor),
            esc(&e.action),
            esc(e.target.as_deref().unwrap_or("")),
            esc(e.detail.as_deref().unwrap_or("")),
            esc(e.ip.as_deref().unwrap_or(""))
        ));
    }
    b.push_str("</table></div>");
    Ok(layout(&c, "Audit log", &b).into_response())
}

pub async fn audit_csv(State(st): State<AppState>) -> PageResult {
    let entries = audit::list(&st.db, 1_000_000, 0).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"mast-audit.csv\""),
        ],
        audit::to_csv(&entries),
    )
        .into_response())
}
