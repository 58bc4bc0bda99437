//! The staff page frame and what every page family shares: the layout with
//! the navigation a role sees, the CSRF field, status badges, and the HTML
//! error pages. The page families live in their own modules (`network`,
//! `customers`, `tickets`, `billing`, `admin`, ...).

use super::{Caller, ui};
use crate::staff::Role;
use axum::http::StatusCode;

/// The staff navigation a role sees.
pub fn nav(role: Role) -> Vec<ui::NavItem<'static>> {
    let item = |href, label| ui::NavItem { href, label };
    let mut v = vec![
        item("/", "Dashboard"),
        item("/sites", "Sites"),
        item("/devices", "Devices"),
        item("/customers", "Customers"),
        item("/incidents", "Incidents"),
        item("/tickets", "Tickets"),
        item("/maintenance", "Maintenance"),
        item("/agents", "Agents"),
        item("/alerts", "Alerts"),
    ];
    if matches!(role, Role::Admin | Role::Support) {
        v.push(item("/outbox", "Outbox"));
    }
    if matches!(role, Role::Admin | Role::Billing) {
        v.push(item("/billing/reports", "Billing"));
    }
    if role == Role::Admin {
        v.extend([
            item("/users", "Users"),
            item("/groups", "Groups"),
            item("/tokens", "Tokens"),
            item("/audit", "Audit"),
        ]);
    }
    v
}

/// A staff page: the layout (navigation by role, search, logout) around `body`.
pub fn page(c: &Caller, title: &str, body: ui::Markup) -> ui::Markup {
    let nav = nav(c.role);
    let ctx = ui::PageCtx {
        name: &c.name,
        role: c.role.as_str(),
        csrf: c.csrf.as_deref().unwrap_or(""),
        nav: &nav,
        path: &c.path,
    };
    ui::layout(&ctx, title, body)
}

/// The HTML answer to an error on a page route (see `error::html_errors`).
pub fn error_page(status: StatusCode, message: &str) -> ui::Markup {
    ui::bare_layout(status.canonical_reason().unwrap_or("Error"), ui::error_page(status.as_u16(), message))
}

/// The HTML 404 for an unknown page.
pub fn not_found_page() -> ui::Markup {
    ui::bare_layout("Not found", ui::not_found_page("There is no page at this address.", "/"))
}
