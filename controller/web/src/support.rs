//! Support desk settings: staff groups (admin) and canned replies (anyone
//! who works tickets). Every change is audited.

use super::pages::{csrf_field, layout};
use super::{ApiError, AppState, Caller, esc};
use crate::audit;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use mast_store::tickets::{canned, groups};
use serde::Deserialize;

type PageResult = Result<Response, ApiError>;

pub async fn groups_page(c: Caller, State(st): State<AppState>) -> PageResult {
    let list = groups::list(&st.db).await?;
    let users = crate::staff::list_users(&st.db).await?;
    let csrf = csrf_field(&c);
    let mut b = String::from(
        "<h1>Staff groups</h1><p>Tickets can be assigned to a group; SLA escalations go to the group named in \
         <code>sla_escalation_group</code> and are emailed to its members.</p>",
    );
    b.push_str("<div class=wrap><table><tr><th>Group</th><th>Email</th><th>Members</th><th>Add member</th></tr>");
    for g in &list {
        let members: Vec<String> = g
            .members
            .iter()
            .map(|(uid, e)| {
                format!(
                    "{} <form class=inline method=post action='/groups/{}/members/{uid}/remove'>{csrf}<button>remove</button></form>",
                    esc(e),
                    g.id
                )
            })
            .collect();
        let options: String = users
            .iter()
            .filter(|u| !u.disabled && !g.members.iter().any(|(id, _)| *id == u.id))
            .map(|u| format!("<option value='{}'>{}</option>", u.id, esc(&u.email)))
            .collect();
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><form class=inline method=post action='/groups/{}/members'>{csrf}\
             <select name=user>{options}</select><button>Add</button></form></td></tr>",
            esc(&g.name),
            esc(g.email.as_deref().unwrap_or("-")),
            members.join("<br>"),
            g.id,
        ));
    }
    b.push_str("</table></div>");
    b.push_str(&format!(
        "<h2>New group</h2><form class=stack method=post action=/groups>{csrf}\
         <label>Name <input name=name required maxlength=80></label>\
         <label>Email (optional) <input name=email type=email></label><button>Create</button></form>"
    ));
    Ok(layout(&c, "Groups", &b).into_response())
}

#[derive(Deserialize)]
pub struct GroupForm {
    name: String,
    #[serde(default)]
    email: String,
}

pub async fn create_group(c: Caller, State(st): State<AppState>, Form(f): Form<GroupForm>) -> PageResult {
    let g = groups::create(&st.db, &f.name, Some(&f.email)).await?;
    audit::record(&st.db, &c.actor(), "group.create", &format!("group {}", g.id), &g.name).await?;
    Ok(Redirect::to("/groups").into_response())
}

#[derive(Deserialize)]
pub struct MemberForm {
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

pub async fn canned_page(c: Caller, State(st): State<AppState>) -> PageResult {
    let list = canned::list(&st.db).await?;
    let csrf = csrf_field(&c);
    let mut b = String::from(
        "<h1>Canned replies</h1><p>Insert them from a ticket's reply form and edit before sending. \
         <code>{customer}</code>, <code>{ticket}</code> and <code>{agent}</code> are filled in.</p>",
    );
    for r in &list {
        b.push_str(&format!(
            "<h3>{}</h3><pre class=canned>{}</pre><form class=inline method=post action='/canned/{}/delete'>{csrf}\
             <button>Delete</button></form>",
            esc(&r.title),
            esc(&r.body),
            r.id
        ));
    }
    if list.is_empty() {
        b.push_str("<p class=muted>None yet.</p>");
    }
    b.push_str(&format!(
        "<h2>New or replace</h2><form class=stack method=post action=/canned>{csrf}\
         <label>Title <input name=title required maxlength=120></label>\
         <label>Text <textarea name=body required></textarea></label><button>Save</button></form>"
    ));
    Ok(layout(&c, "Canned replies", &b).into_response())
}

#[derive(Deserialize)]
pub struct CannedForm {
    title: String,
    body: String,
}

pub async fn save_canned(c: Caller, State(st): State<AppState>, Form(f): Form<CannedForm>) -> PageResult {
    let r = canned::save(&st.db, &f.title, &f.body).await?;
    audit::record(&st.db, &c.actor(), "canned.save", &format!("canned {}", r.id), &r.title).await?;
    Ok(Redirect::to("/canned").into_response())
}

pub async fn delete_canned(c: Caller, State(st): State<AppState>, Path(id): Path<i64>) -> PageResult {
    if canned::delete(&st.db, id).await? {
        audit::record(&st.db, &c.actor(), "canned.delete", &format!("canned {id}"), "").await?;
    }
    Ok(Redirect::to("/canned").into_response())
}
