//! Page frames: staff pages, the login page, the customer portal.

use super::form::csrf_field;
use maud::{DOCTYPE, Markup, html};

/// One entry of the staff navigation. The caller builds the list for the
/// signed-in role (e.g. Billing only for admin and billing).
#[derive(Debug, Clone, Copy)]
pub struct NavItem<'a> {
    pub href: &'a str,
    pub label: &'a str,
}

/// Who is signed in, and where they are.
#[derive(Debug, Clone, Copy)]
pub struct PageCtx<'a> {
    /// Display name of the staff member.
    pub name: &'a str,
    /// Role name as shown ("admin", "support", …).
    pub role: &'a str,
    /// The session's CSRF token (for the logout form).
    pub csrf: &'a str,
    /// The navigation this role sees, in order.
    pub nav: &'a [NavItem<'a>],
    /// The request path (query allowed), to mark the current nav entry.
    pub path: &'a str,
    /// A warning shown above every page (e.g. notices that cannot be sent),
    /// with an optional link to where it is fixed or seen.
    pub banner: Option<(&'a str, Option<&'a str>)>,
}

/// htmx settings for a strict CSP: no `<style>` injection (the indicator
/// styles are in mast.css), no eval (`hx-on`, `js:`), no `<script>` in
/// swapped content.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;

/// Whether `href` is the nav entry for `path`: exact for `/`, otherwise the
/// same path or one below it (`/sites` for `/sites/4`).
fn is_current(href: &str, path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if href == "/" {
        return path == "/";
    }
    let href = href.trim_end_matches('/');
    path == href || path.strip_prefix(href).is_some_and(|rest| rest.starts_with('/'))
}

fn head(title: &str, suffix: &str, scripts: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if scripts { meta name="htmx-config" content=(HTMX_CONFIG); }
            title { (title) " · " (suffix) }
            link rel="stylesheet" href="/assets/mast.css";
            @if scripts {
                script src="/assets/vendor/htmx.min.js" defer {}
                script src="/assets/mast.js" defer {}
            }
        }
    }
}

/// A staff page: header (brand, navigation, search, logout) and `body` in
/// `<main>`. At phone width (≤ 700 px) the navigation and logout fold
/// behind a "Menu" toggle: a checkbox and its label, so it works without
/// JavaScript and from the keyboard (Tab to it, Space to open).
pub fn layout(ctx: &PageCtx<'_>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, "Mast", true))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top.staff {
                    a.brand href="/" { "Mast" }
                    input #nav-toggle .nav-toggle type="checkbox" aria-controls="site-nav";
                    label.nav-button for="nav-toggle" { "Menu" }
                    nav #site-nav aria-label="Main" {
                        @for item in ctx.nav {
                            @let current = is_current(item.href, ctx.path);
                            a href=(item.href) class=[current.then_some("current")] aria-current=[current.then_some("page")] {
                                (item.label)
                            }
                        }
                    }
                    form.search role="search" method="get" action="/search" {
                        input name="q" type="search" placeholder="Site, device, customer, MAC, IP" aria-label="Search";
                    }
                    form.logout method="post" action="/logout" {
                        (csrf_field(ctx.csrf))
                        span.who { (ctx.name) " · " (ctx.role) }
                        button type="submit" { "Log out" }
                    }
                }
                @if let Some((text, link)) = ctx.banner {
                    div.banner.banner-warn role="status" {
                        (text)
                        @if let Some(href) = link { " " a href=(href) { "See the outbox" } }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// A page with no header: the staff login page.
pub fn bare_layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, "Mast", false))
            body.bare { main #main { (body) } }
        }
    }
}

/// A customer portal page for a signed-in customer: its own small
/// navigation (Home, New ticket, Password) and a Log out button
/// (POST /portal/logout with the portal session's CSRF token).
pub fn portal_layout(customer_name: &str, csrf: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, "Customer portal", true))
            body.portal {
                a.skip href="#main" { "Skip to content" }
                header.top.portal-top {
                    a.brand href="/portal" { "My Internet" }
                    nav aria-label="Account" {
                        a href="/portal" { "Home" }
                        a href="/portal/tickets/new" { "New ticket" }
                        a href="/portal/password" { "Password" }
                    }
                    form.logout method="post" action="/portal/logout" {
                        (csrf_field(csrf))
                        span.who { (customer_name) }
                        button type="submit" { "Log out" }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// A portal page for a visitor who is not signed in (sign-in, magic link).
pub fn portal_bare_layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, "Customer portal", false))
            body.portal {
                header.top.portal-top { a.brand href="/portal" { "My Internet" } }
                main #main { (body) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_current;

    #[test]
    fn current_nav_entry() {
        assert!(is_current("/", "/"));
        assert!(!is_current("/", "/sites"));
        assert!(is_current("/sites", "/sites"));
        assert!(is_current("/sites", "/sites/4?range=day"));
        assert!(!is_current("/sites", "/sitesX"));
        assert!(is_current("/billing/reports", "/billing/reports?month=3"));
    }
}
