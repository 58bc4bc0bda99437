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
        item("/network/links", "Weak links"),
        item("/customers", "Customers"),
        item("/incidents", "Incidents"),
        item("/tickets", "Tickets"),
        item("/maintenance", "Maintenance"),
        item("/agents", "Agents"),
        item("/fleet/rollouts", "Upgrades"),
        item("/stock", "Stock"),
        item("/dispatch", "Dispatch"),
        item("/alerts", "Alerts"),
        item("/reports/availability", "Availability"),
    ];
    if matches!(role, Role::Admin | Role::Technician) {
        v.insert(1, item("/tech", "Today"));
    }
    if matches!(role, Role::Admin | Role::Support) {
        v.push(item("/outbox", "Outbox"));
    }
    if matches!(role, Role::Admin | Role::Billing | Role::Support) {
        v.push(item("/billing/invoices", "Invoices"));
        v.push(item("/billing/plans", "Plans"));
    }
    if matches!(role, Role::Admin | Role::Billing) {
        v.push(item("/billing/reports", "Billing"));
        v.push(item("/import", "Import"));
    }
    if role == Role::Admin {
        v.extend([
            item("/users", "Users"),
            item("/groups", "Groups"),
            item("/tokens", "Tokens"),
            item("/audit", "Audit"),
            item("/settings", "Settings"),
        ]);
    }
    v
}

/// A staff page: the layout (navigation by role, search, logout) around `body`.
pub fn page(c: &Caller, title: &str, body: ui::Markup) -> ui::Markup {
    let nav = nav(c.role);
    let banner = waiting_banner(c.waiting);
    let link = matches!(c.role, Role::Admin | Role::Support).then_some("/outbox");
    let ctx = ui::PageCtx {
        name: &c.name,
        role: c.role.as_str(),
        csrf: c.csrf.as_deref().unwrap_or(""),
        nav: &nav,
        path: &c.path,
        banner: banner.as_deref().map(|b| (b, link)),
    };
    ui::layout(&ctx, title, body)
}

/// "Mail is not configured: 12 notices waiting." (and the same for SMS),
/// or `None` when nothing waits.
pub fn waiting_banner(w: crate::notify::Waiting) -> Option<String> {
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if w.email > 0 {
        parts.push(format!("Mail is not configured: {} waiting.", plural(w.email, "notice", "notices")));
    }
    if w.webhook > 0 {
        parts.push(format!("The SMS webhook is not configured: {} waiting.", plural(w.webhook, "message", "messages")));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The HTML answer to an error on a page route (see `error::html_errors`).
pub fn error_page(status: StatusCode, message: &str) -> ui::Markup {
    ui::bare_layout(status.canonical_reason().unwrap_or("Error"), ui::error_page(status.as_u16(), message))
}

/// The HTML 404 for an unknown page.
pub fn not_found_page() -> ui::Markup {
    ui::bare_layout("Not found", ui::not_found_page("There is no page at this address.", "/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Waiting;

    #[test]
    fn the_waiting_banner_names_each_unconfigured_channel() {
        assert_eq!(waiting_banner(Waiting::default()), None);
        assert_eq!(
            waiting_banner(Waiting { email: 12, webhook: 0 }).as_deref(),
            Some("Mail is not configured: 12 notices waiting.")
        );
        assert_eq!(
            waiting_banner(Waiting { email: 1, webhook: 1 }).as_deref(),
            Some("Mail is not configured: 1 notice waiting. The SMS webhook is not configured: 1 message waiting.")
        );
        let c = crate::Caller {
            name: "noc@isp.example".into(),
            role: Role::ReadOnly,
            user_id: Some(1),
            csrf: Some("tok".into()),
            ip: None,
            path: "/".into(),
            waiting: Waiting { email: 3, webhook: 0 },
        };
        let s = page(&c, "Dashboard", maud::html! {}).into_string();
        assert!(s.contains("Mail is not configured: 3 notices waiting.") && !s.contains("See the outbox"), "{s}");
        let admin = crate::Caller { role: Role::Admin, ..c };
        assert!(page(&admin, "Dashboard", maud::html! {}).into_string().contains("See the outbox"));
    }
}
