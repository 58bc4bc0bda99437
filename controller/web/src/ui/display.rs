//! Read-only blocks: description lists, dashboard tiles, error bodies.

use super::feedback::Tone;
use maud::{Markup, html};

/// `<dl class="facts">`: label, value pairs. Values are markup so a caller
/// can put a badge or a link there.
pub fn kv_list(items: &[(&str, Markup)]) -> Markup {
    html! {
        dl.facts {
            @for (label, value) in items {
                dt { (label) }
                dd { (value) }
            }
        }
    }
}

/// One dashboard tile: a count, what it counts, where it leads.
#[derive(Debug, Clone, Copy)]
pub struct Tile<'a> {
    pub n: i64,
    pub label: &'a str,
    pub href: &'a str,
    /// The tone when `n` is not zero; zero is always [`Tone::Neutral`].
    pub class: Tone,
}

/// The dashboard's grid of tiles. A zero count is neutral (grey on white),
/// never red or orange: "0 sites down" is not an alarm.
pub fn tiles(items: &[Tile<'_>]) -> Markup {
    html! {
        div.tiles {
            @for t in items {
                @let tone = if t.n == 0 { Tone::Neutral } else { t.class };
                a class={ "tile " (tone.class()) } href=(t.href) {
                    span.n { (t.n) }
                    span.label { (t.label) }
                }
            }
        }
    }
}

/// Body of a 404 page: what was not found, and a link home (`/` for staff,
/// `/portal` for customers). Wrap it in a layout and send it with 404.
pub fn not_found_page(message: &str, home_href: &str) -> Markup {
    html! {
        section.error-page {
            h1 { "Not found" }
            p { (message) }
            p { a href=(home_href) { "Go to the start page" } }
        }
    }
}

/// Body of an error page: the status code with its reason, and a message.
pub fn error_page(status: u16, message: &str) -> Markup {
    html! {
        section.error-page {
            h1 { (status) " " (reason(status)) }
            p { (message) }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Not signed in",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Conflict",
        413 => "Too large",
        422 => "Check the form",
        429 => "Too many requests",
        500 => "Server error",
        502..=504 => "Unavailable",
        _ => "Error",
    }
}
