//! Administration pages: staff users, API tokens, the audit log (and its
//! CSV export). Every page is maud markup through [`crate::ui`]; the forms
//! show a bad entry again (400) with the error next to its field.

use super::{ApiError, AppState, Caller, fmt_utc};
use crate::staff::{self, Role};
use crate::ui::{self, FieldOpts, Fields, FlashKind, FormErrors, Markup, Method, Table, html};
use crate::{audit, auth};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mast_store::StoreError;
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// The roles as `(value, label)` options.
fn role_options() -> Vec<(&'static str, &'static str)> {
    Role::ALL.iter().map(|r| (r.as_str(), r.as_str())).collect()
}

/// A store error on a form, as the form shows it; `None` for errors that are
/// not about the input (a 404, a 500).
fn form_errors(e: &StoreError) -> Option<FormErrors> {
    let mut errors = FormErrors::new();
    match e {
        StoreError::Invalid { field, reason } if !field.is_empty() => errors.field(field, reason.clone()),
        StoreError::Invalid { reason, .. } => errors.form(reason.clone()),
        StoreError::Conflict(m) => errors.form(m.clone()),
        _ => return None,
    };
    Some(errors)
}

/// What the add-user form sent (the password is never shown again).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// The users page: the list (role and state changes in place) and the
/// add-user form with `input` and `errors`; `notice` an error about a row.
fn users_body(
    csrf: &str,
    me: Option<i64>,
    users: &[staff::User],
    notice: Option<&str>,
    input: &NewUserForm,
    errors: &FormErrors,
) -> Markup {
    let roles = role_options();
    let mut t = Table::new("No users yet.").col("Email").col("Role").col("State").col("");
    for u in users {
        let role_form = ui::form_with_class(
            "inline",
            &format!("/users/{}", u.id),
            Method::Post,
            csrf,
            html! {
                (ui::hidden("action", "role"))
                select name="role" aria-label={ "Role of " (u.email) } {
                    @for (v, l) in &roles { option value=(v) selected[*v == u.role.as_str()] { (l) } }
                }
                button type="submit" { "Set role" }
            },
        );
        let (act, label) = if u.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
        let state_form = if me == Some(u.id) {
            html! { span.muted { "you" } }
        } else {
            ui::form_with_class(
                "inline",
                &format!("/users/{}", u.id),
                Method::Post,
                csrf,
                html! { (ui::hidden("action", act)) button type="submit" { (label) } },
            )
        };
        t.push(vec![
            html! { (u.email) },
            role_form,
            ui::badge(if u.disabled { "disabled" } else { "active" }),
            state_form,
        ]);
    }
    let f = Fields::new("user", errors);
    let role = if input.role.is_empty() { Role::Support.as_str() } else { input.role.as_str() };
    html! {
        h1 { "Users" }
        @if let Some(n) = notice { (ui::flash(FlashKind::Error, n)) }
        (t)
        h2 { "Add a user" }
        (ui::form("/users", Method::Post, csrf, html! {
            (f.summary())
            (f.email_field("email", "Email", &input.email, FieldOpts::new().required().max_len(254)))
            (f.select_field("role", "Role", &roles, role, FieldOpts::new().required()))
            (f.password_field("password", "Password (10+ characters)", "new-password", FieldOpts::new().required()))
            button type="submit" { "Add user" }
        }))
    }
}

async fn users_page(
    c: &Caller,
    st: &AppState,
    status: StatusCode,
    notice: Option<&str>,
    input: &NewUserForm,
    errors: &FormErrors,
) -> PageResult {
    let users = staff::list_users(&st.db).await?;
    let body = users_body(c.csrf.as_deref().unwrap_or(""), c.user_id, &users, notice, input, errors);
    Ok((status, super::pages::page(c, "Users", body)).into_response())
}

pub async fn users(c: Caller, State(st): State<AppState>) -> PageResult {
    users_page(&c, &st, StatusCode::OK, None, &NewUserForm::default(), &FormErrors::new()).await
}

pub async fn add_user(c: Caller, State(st): State<AppState>, Form(f): Form<NewUserForm>) -> PageResult {
    let added = match Role::parse(&f.role) {
        Ok(role) => staff::add_user(&st.db, &f.email, role, &f.password).await,
        Err(e) => Err(e),
    };
    match added {
        Ok(u) => {
            audit::record(&st.db, &c.actor(), "user.add", &u.email, &format!("role {}", u.role.as_str())).await?;
            Ok(Redirect::to("/users").into_response())
        }
        Err(e) => {
            let errors = form_errors(&e).ok_or(e)?;
            let status = if errors.form_message().is_some() { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
            users_page(&c, &st, status, None, &f, &errors).await
        }
    }
}

#[derive(Deserialize)]
pub struct ChangeUserForm {
    action: String,
    role: Option<String>,
}

/// A change refused for a reason that is not a field of the add form.
async fn refused(c: &Caller, st: &AppState, msg: &str) -> PageResult {
    users_page(c, st, StatusCode::BAD_REQUEST, Some(msg), &NewUserForm::default(), &FormErrors::new()).await
}

pub async fn change_user(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<ChangeUserForm>,
) -> PageResult {
    let Some(u) = staff::user(&st.db, id).await? else { return Err(ApiError::not_found("no such user")) };
    if c.user_id == Some(id) && f.action != "role" {
        return refused(&c, &st, "You cannot disable yourself.").await;
    }
    match f.action.as_str() {
        "role" => {
            let role = match Role::parse(f.role.as_deref().unwrap_or("")) {
                Ok(r) => r,
                Err(e) => return refused(&c, &st, &e.to_string()).await,
            };
            if c.user_id == Some(id) && role != Role::Admin {
                return refused(&c, &st, "You cannot remove your own admin role.").await;
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

/// What the token form sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// The tokens page: the list, the token just created (shown only now) and
/// the form with `input` and `errors`.
fn tokens_body(
    csrf: &str,
    tokens: &[auth::TokenView],
    new_token: Option<&str>,
    input: &NewTokenForm,
    errors: &FormErrors,
) -> Markup {
    let mut t = Table::new("No API tokens yet.").col("Name").col("Role").col("Created (UTC)").col("State").col("");
    for tok in tokens {
        let revoke = if tok.revoked_ms.is_none() {
            ui::form_with_class(
                "inline",
                &format!("/tokens/{}/revoke", tok.id),
                Method::Post,
                csrf,
                html! { button type="submit" { "Revoke" } },
            )
        } else {
            html! {}
        };
        t.push(vec![
            html! { (tok.name) },
            html! { (tok.role.as_str()) },
            html! { (fmt_utc(tok.created_ms)) },
            ui::badge(if tok.revoked_ms.is_some() { "revoked" } else { "active" }),
            revoke,
        ]);
    }
    let f = Fields::new("token", errors);
    let role = if input.role.is_empty() { Role::ReadOnly.as_str() } else { input.role.as_str() };
    html! {
        h1 { "API tokens" }
        @if let Some(tok) = new_token {
            p.notice role="status" { "New token (shown only now): " code #new-token { (tok) } }
        }
        (t)
        h2 { "Create a token" }
        (ui::form("/tokens", Method::Post, csrf, html! {
            (f.summary())
            (f.text_field("name", "Name", &input.name, FieldOpts::new().required().max_len(100)))
            (f.select_field("role", "Role", &role_options(), role, FieldOpts::new().required()))
            button type="submit" { "Create token" }
        }))
    }
}

async fn tokens_page(
    c: &Caller,
    st: &AppState,
    status: StatusCode,
    new_token: Option<&str>,
    input: &NewTokenForm,
    errors: &FormErrors,
) -> PageResult {
    let tokens = auth::list_tokens(&st.db).await?;
    let body = tokens_body(c.csrf.as_deref().unwrap_or(""), &tokens, new_token, input, errors);
    Ok((status, super::pages::page(c, "API tokens", body)).into_response())
}

pub async fn tokens(c: Caller, State(st): State<AppState>) -> PageResult {
    tokens_page(&c, &st, StatusCode::OK, None, &NewTokenForm::default(), &FormErrors::new()).await
}

pub async fn create_token(c: Caller, State(st): State<AppState>, Form(f): Form<NewTokenForm>) -> PageResult {
    match auth::create_token(&st.db, &f.name, &f.role).await {
        Ok(token) => {
            audit::record(&st.db, &c.actor(), "token.create", f.name.trim(), &format!("role {}", f.role.trim()))
                .await?;
            tokens_page(&c, &st, StatusCode::OK, Some(&token), &NewTokenForm::default(), &FormErrors::new()).await
        }
        Err(e) => {
            let errors = form_errors(&e).ok_or(e)?;
            tokens_page(&c, &st, StatusCode::BAD_REQUEST, None, &f, &errors).await
        }
    }
}

pub async fn revoke_token(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    if !auth::revoke_token(&st.db, id).await? {
        return Err(ApiError::not_found("no such active token"));
    }
    audit::record(&st.db, &c.actor(), "token.revoke", &format!("token {id}"), "").await?;
    Ok(Redirect::to("/tokens").into_response())
}

/// Audit entries per page.
const AUDIT_PAGE: i64 = 100;

#[derive(Deserialize)]
pub struct AuditQ {
    #[serde(default)]
    offset: i64,
}

fn audit_body(entries: &[audit::Entry], offset: i64, total: i64) -> Markup {
    let mut t = Table::new("Nothing audited yet.")
        .col("Time (UTC)")
        .col("Who")
        .col("Action")
        .col("Target")
        .col("Detail")
        .col("From");
    for e in entries {
        t.push(vec![
            html! { (fmt_utc(e.ts_ms)) },
            html! { (e.actor) },
            html! { (e.action) },
            html! { (e.target.as_deref().unwrap_or("")) },
            html! { (e.detail.as_deref().unwrap_or("")) },
            html! { (e.ip.as_deref().unwrap_or("")) },
        ]);
    }
    html! {
        h1 { "Audit log" }
        p { a href="/audit.csv" download { "Export CSV" } }
        (t)
        (ui::pager("/audit", &[], offset, AUDIT_PAGE, entries.len(), Some(total)))
    }
}

pub async fn audit(c: Caller, State(st): State<AppState>, Query(q): Query<AuditQ>) -> PageResult {
    let offset = q.offset.max(0);
    let entries = audit::list(&st.db, AUDIT_PAGE, offset).await?;
    let total = audit::count(&st.db).await?;
    Ok(super::pages::page(&c, "Audit log", audit_body(&entries, offset, total)).into_response())
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

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;

    fn assert_escaped(html: &str) {
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    }

    #[test]
    fn users_page_escapes_emails_and_keeps_the_form() {
        let users =
            vec![staff::User { id: 3, email: HOSTILE.into(), role: Role::ReadOnly, disabled: true, created_ms: 0 }];
        let mut errors = FormErrors::new();
        errors.field("email", "not an email address");
        let input = NewUserForm { email: HOSTILE.into(), role: "billing".into(), password: "secret-pass".into() };
        let html = users_body("tok", Some(1), &users, Some(HOSTILE), &input, &errors).into_string();
        assert_escaped(&html);
        assert!(!html.contains("secret-pass"), "the password is never echoed");
        assert!(html.contains(r#"<option value="read-only" selected>"#), "the user's role is selected: {html}");
        assert!(html.contains(r#"<option value="billing" selected>"#), "the typed role is kept: {html}");
        assert!(html.contains(r#"id="user-email-error""#) && html.contains("not an email address"));
        assert!(html.contains(r#"name="csrf" value="tok""#));
        assert!(html.contains(r#"value="enable""#), "a disabled user can be enabled");
    }

    #[test]
    fn tokens_page_escapes_names_and_shows_the_new_token_once() {
        let tokens =
            vec![auth::TokenView { id: 1, name: HOSTILE.into(), role: Role::Admin, created_ms: 0, revoked_ms: None }];
        let input = NewTokenForm { name: HOSTILE.into(), role: "admin".into() };
        let mut errors = FormErrors::new();
        errors.field("name", "must not be empty");
        let html = tokens_body("tok", &tokens, Some("mast_abc"), &input, &errors).into_string();
        assert_escaped(&html);
        assert!(html.contains(r#"<code id="new-token">mast_abc</code>"#), "{html}");
        assert!(html.contains(r#"action="/tokens/1/revoke""#));
        assert!(html.contains(r#"id="token-name-error""#));
    }

    #[test]
    fn audit_page_escapes_every_column() {
        let e = audit::Entry {
            id: 1,
            ts_ms: 0,
            actor: HOSTILE.into(),
            action: HOSTILE.into(),
            target: Some(HOSTILE.into()),
            detail: Some(HOSTILE.into()),
            ip: Some(HOSTILE.into()),
        };
        let html = audit_body(&[e], 0, 1).into_string();
        assert_escaped(&html);
        assert!(html.contains(r#"href="/audit.csv""#));
        assert!(audit_body(&[], 0, 0).into_string().contains("Nothing audited yet."));
    }

    async fn body(res: Response) -> String {
        String::from_utf8(axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn forms_show_errors_next_to_their_fields() {
        let dir = std::env::temp_dir().join(format!("mast-web-admin-{}-{}", std::process::id(), crate::db::now_ms()));
        let cfg = mast_app::config::Config { data_dir: dir.clone(), ..Default::default() };
        let st = AppState::new(mast_app::App::open(&cfg).await.unwrap(), "127.0.0.1:8080".parse().unwrap(), 4433);
        let admin = staff::add_user(&st.db, "boss@wisp.test", Role::Admin, "long enough password").await.unwrap();
        let c = Caller {
            name: admin.email.clone(),
            role: Role::Admin,
            user_id: Some(admin.id),
            csrf: Some("tok".into()),
            ip: None,
            path: "/users".into(),
            waiting: Default::default(),
        };
        let form = |email: &str, role: &str, password: &str| {
            Form(NewUserForm { email: email.into(), role: role.into(), password: password.into() })
        };
        let res =
            add_user(c.clone(), State(st.clone()), form(HOSTILE, "billing", "long enough password")).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let page = body(res).await;
        assert!(
            page.contains(r#"id="user-email-error""#) && page.contains(r#"<option value="billing" selected>"#),
            "{page}"
        );
        assert_escaped(&page);
        let res =
            add_user(c.clone(), State(st.clone()), form("a@wisp.test", "root", "long enough password")).await.unwrap();
        assert!(body(res).await.contains(r#"id="user-role-error""#));
        let res = add_user(c.clone(), State(st.clone()), form("a@wisp.test", "support", "short")).await.unwrap();
        assert!(body(res).await.contains(r#"id="user-password-error""#));
        let res = add_user(c.clone(), State(st.clone()), form("boss@wisp.test", "support", "long enough password"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT, "a taken email is a conflict, said at the top of the form");
        assert!(body(res).await.contains("already exists"));
        let res = add_user(c.clone(), State(st.clone()), form("a@wisp.test", "support", "long enough password"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);

        let res =
            create_token(c.clone(), State(st.clone()), Form(NewTokenForm { name: " ".into(), role: "admin".into() }))
                .await
                .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(body(res).await.contains(r#"id="token-name-error""#));
        let res = create_token(
            c.clone(),
            State(st.clone()),
            Form(NewTokenForm { name: "ci".into(), role: "read-only".into() }),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(body(res).await.contains(r#"<code id="new-token">mast_"#));

        let me = Form(ChangeUserForm { action: "disable".into(), role: None });
        let res = change_user(c.clone(), State(st.clone()), Path(admin.id), me).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(body(res).await.contains("You cannot disable yourself."));
        let ghost =
            change_user(c, State(st.clone()), Path(999), Form(ChangeUserForm { action: "enable".into(), role: None }));
        assert_eq!(ghost.await.unwrap_err().status, StatusCode::NOT_FOUND);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn store_errors_on_forms() {
        assert_eq!(form_errors(&StoreError::invalid("email", "x")).unwrap().get("email"), Some("x"));
        assert_eq!(form_errors(&StoreError::Conflict("taken".into())).unwrap().form_message(), Some("taken"));
        assert!(form_errors(&StoreError::Corrupt("x".into())).is_none());
    }
}
