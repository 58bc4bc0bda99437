//! Shared HTML components for the staff UI and the customer portal.
//!
//! Everything returns [`maud::Markup`]; maud escapes every interpolated
//! value, so caller text (names, notes, form values, errors) can never become
//! markup. No function here wraps caller data in `PreEscaped`.
//!
//! The pages are served under a strict CSP (`default-src 'self'`): nothing
//! here emits inline scripts, `style="…"` attributes or event handler
//! attributes. Behaviour lives in `/assets/mast.js`, looks in
//! `/assets/mast.css`.

mod display;
mod feedback;
mod form;
mod layout;
mod table;
mod viz;

#[cfg(test)]
mod tests;

pub use display::{Tile, error_page, kv_list, not_found_page, tiles};
pub use feedback::{FlashKind, Tone, badge, badge_tone, flash, tone_badge};
pub use form::{FieldOpts, Fields, FormErrors, Method, csrf_field, form, form_with_class, hidden};
pub use layout::{NavItem, PageCtx, bare_layout, layout, portal_bare_layout, portal_layout};
pub use maud::{Markup, html};
pub use table::{Table, pager};
pub use viz::{ChartKind, chart, map};
