//! Support desk settings: staff groups (admin) and canned replies (anyone
//! who works tickets). Every change is audited; a refused form re-renders
//! with the error next to the field and what was typed kept.

use super::customers::form_errors;
use super::pages;
use super::ui::{self, FieldOpts, Fields, FormErrors, Markup, Method, Table, html};
use super::{ApiError, AppState, Caller};
use crate::audit;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mast_store::tickets::canned::{self, Canned};
use mast_store::tickets::groups::{self, Group};
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

/// What the groups page shows.
struct GroupsView<'a> {
    groups: &'a [Group],
    /// Active staff: (id, email).
    users: &'a [(i64, String)],
    new: (&'a GroupForm, &'a FormErrors),
}

fn groups_body(c: &Caller, v: &GroupsView<'_>) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let mut t = Table::new("No groups yet.").col("Group").col("Email").col("Members").col("Add member");
    for g in v.groups {
        let candidates: Vec<(String, &str)> = v
            .users
            .iter()
            .filter(|(id, _)| !g.members.iter().any(|(m, _)| m == id))
            .map(|(id, e)| (id.to_string(), e.as_str()))
            .collect();
        let members = html! {
            @for (uid, email) in &g.members {
                div {
                    (email) " "
                    (ui::form_with_class("inline", &format!("/groups/{}/members/{uid}/remove", g.id), Method::Post, csrf,
                        html! { button type="submit" { "remove" } }))
                }
            }
        };
        let add = html! {
            @if candidates.is_empty() {
                span.muted { "everyone is in it" }
            } @else {
                (ui::form_with_class("inline", &format!("/groups/{}/members", g.id), Method::Post, csrf, html! {
                    select name="user" aria-label={ "Member to add to " (g.name) } {
                        @for (id, email) in &candidates { option value=(id) { (email) } }
                    }
                    button type="submit" { "Add" }
                }))
            }
        };
        t.push(vec![html! { (g.name) }, html! { (g.email.as_deref().unwrap_or("-")) }, members, add]);
    }
    let f = Fields::new("group", v.new.1);
    html! {
        h1 { "Staff groups" }
        p {
            "Tickets can be assigned to a group; SLA escalations go to the group named in "
            code { "sla_escalation_group" } " and are emailed to its members."
        }
        (t)
        h2 #new { "New group" }
        (ui::form("/groups", Method::Post, csrf, html! {
            (f.summary())
            (f.text_field("name", "Name", &v.new.0.name, FieldOpts::new().required().max_len(80)))
            (f.email_field("email", "Email (optional)", &v.new.0.email, FieldOpts::new()))
            button type="submit" { "Create" }
        }))
    }
}

async fn groups_response(
    c: &Caller,
    st: &AppState,
    status: StatusCode,
    new: Option<(&GroupForm, &FormErrors)>,
) -> PageResult {
    let list = groups::list(&st.db).await?;
    let users: Vec<(i64, String)> =
        crate::staff::list_users(&st.db).await?.into_iter().filter(|u| !u.disabled).map(|u| (u.id, u.email)).collect();
    let blank = GroupForm::default();
    let none = FormErrors::new();
    let view = GroupsView { groups: &list, users: &users, new: new.unwrap_or((&blank, &none)) };
    Ok((status, pages::page(c, "Groups", groups_body(c, &view))).into_response())
}

pub async fn groups_page(c: Caller, State(st): State<AppState>) -> PageResult {
    groups_response(&c, &st, StatusCode::OK, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

pub async fn create_group(c: Caller, State(st): State<AppState>, Form(f): Form<GroupForm>) -> PageResult {
    match groups::create(&st.db, &f.name, Some(&f.email)).await {
        Ok(g) => {
            audit::record(&st.db, &c.actor(), "group.create", &format!("group {}", g.id), &g.name).await?;
            Ok(Redirect::to("/groups").into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(e, &["name", "email"])?;
            groups_response(&c, &st, status, Some((&f, &errors))).await
        }
    }
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    user: String,
}

pub async fn add_member(
    c: Caller,
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<MemberForm>,
) -> PageResult {
    let user: i64 = f.user.trim().parse().map_err(|_| ApiError::bad_request("user: not a user id"))?;
    groups::add_member(&st.db, id, user).await?;
    audit::record(&st.db, &c.actor(), "group.member.add", &format!("group {id}"), &format!("user {user}")).await?;
    Ok(Redirect::to("/groups").into_response())
}

pub async fn remove_member(c: Caller, State(st): State<AppState>, Path((id, user)): Path<(i64, i64)>) -> PageResult {
    if groups::remove_member(&st.db, id, user).await? {
        audit::record(&st.db, &c.actor(), "group.member.remove", &format!("group {id}"), &format!("user {user}"))
            .await?;
    }
    Ok(Redirect::to("/groups").into_response())
}

fn canned_body(c: &Caller, list: &[Canned], new: (&CannedForm, &FormErrors)) -> Markup {
    let csrf = c.csrf.as_deref().unwrap_or("");
    let mut t = Table::new("No canned replies yet.").col("Title").col("Text").col("");
    for r in list {
        t.push(vec![
            html! { (r.title) },
            html! { pre.canned { (r.body) } },
            ui::form_with_class(
                "inline",
                &format!("/canned/{}/delete", r.id),
                Method::Post,
                csrf,
                html! {
                    button.danger type="submit" { "Delete" }
                },
            ),
        ]);
    }
    let f = Fields::new("canned", new.1);
    html! {
        h1 { "Canned replies" }
        p {
            "Insert them from a ticket's reply form and edit before sending. "
            code { "{customer}" } ", " code { "{ticket}" } " and " code { "{agent}" } " are filled in."
        }
        (t)
        h2 #new { "New or replace" }
        (ui::form("/canned", Method::Post, csrf, html! {
            (f.summary())
            (f.text_field("title", "Title", &new.0.title,
                FieldOpts::new().required().max_len(120).hint("Saving under an existing title replaces its text.")))
            (f.textarea_field("body", "Text", &new.0.body, FieldOpts::new().required()))
            button type="submit" { "Save" }
        }))
    }
}

async fn canned_response(
    c: &Caller,
    st: &AppState,
    status: StatusCode,
    new: Option<(&CannedForm, &FormErrors)>,
) -> PageResult {
    let list = canned::list(&st.db).await?;
    let blank = CannedForm::default();
    let none = FormErrors::new();
    Ok((status, pages::page(c, "Canned replies", canned_body(c, &list, new.unwrap_or((&blank, &none)))))
        .into_response())
}

pub async fn canned_page(c: Caller, State(st): State<AppState>) -> PageResult {
    canned_response(&c, &st, StatusCode::OK, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct CannedForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

pub async fn save_canned(c: Caller, State(st): State<AppState>, Form(f): Form<CannedForm>) -> PageResult {
    match canned::save(&st.db, &f.title, &f.body).await {
        Ok(r) => {
            audit::record(&st.db, &c.actor(), "canned.save", &format!("canned {}", r.id), &r.title).await?;
            Ok(Redirect::to("/canned").into_response())
        }
        Err(e) => {
            let (status, errors) = form_errors(e, &["title", "body"])?;
            canned_response(&c, &st, status, Some((&f, &errors))).await
        }
    }
}

pub async fn delete_canned(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    if canned::delete(&st.db, id).await? {
        audit::record(&st.db, &c.actor(), "canned.delete", &format!("canned {id}"), "").await?;
    }
    Ok(Redirect::to("/canned").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::tests::{HOSTILE, safe, staff};
    use crate::staff::Role;

    #[test]
    fn groups_and_canned_replies_escape_and_keep_a_refused_form() {
        let c = staff(Role::Admin);
        let groups = vec![Group {
            id: 1,
            name: HOSTILE.into(),
            email: Some(HOSTILE.into()),
            members: vec![(2, HOSTILE.into())],
        }];
        let users = vec![(2, HOSTILE.to_string()), (3, HOSTILE.to_string())];
        let f = GroupForm { name: HOSTILE.into(), email: String::new() };
        let mut errors = FormErrors::new();
        errors.field("name", HOSTILE);
        let s = safe(&groups_body(&c, &GroupsView { groups: &groups, users: &users, new: (&f, &errors) }));
        assert!(s.contains(r#"action="/groups/1/members/2/remove""#) && s.contains(r#"<option value="3">"#), "{s}");
        assert!(!s.contains(r#"<option value="2">"#), "members are not offered again");
        let list = vec![Canned { id: 4, title: HOSTILE.into(), body: HOSTILE.into() }];
        let f = CannedForm { title: HOSTILE.into(), body: HOSTILE.into() };
        let s = safe(&canned_body(&c, &list, (&f, &errors)));
        assert!(s.contains(r#"action="/canned/4/delete""#), "{s}");
        let s = canned_body(&c, &[], (&CannedForm::default(), &FormErrors::new())).into_string();
        assert!(s.contains("No canned replies yet."));
    }
}
