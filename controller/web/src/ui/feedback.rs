//! Status colours (badges), flash messages.

use maud::{Markup, html};

/// The colour family of a status. `Neutral` is for "nothing here" states
/// (zero counts, no agent, never seen): grey, never red or orange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Up,
    Down,
    Degraded,
    Unknown,
    Neutral,
}

impl Tone {
    /// The CSS class (`up`, `down`, `degraded`, `unknown`, `neutral`).
    pub fn class(self) -> &'static str {
        match self {
            Tone::Up => "up",
            Tone::Down => "down",
            Tone::Degraded => "degraded",
            Tone::Unknown => "unknown",
            Tone::Neutral => "neutral",
        }
    }
}

/// The tone of a status word, case-insensitively.
pub fn badge_tone(status: &str) -> Tone {
    match status.trim().to_ascii_lowercase().as_str() {
        "up" | "connected" | "active" | "ok" => Tone::Up,
        "down" | "offline" | "revoked" | "failed" => Tone::Down,
        "degraded" | "at risk" | "at-risk" => Tone::Degraded,
        "no agent" | "no-reply" | "never" | "none" | "0" | "-" | "" | "n/a" => Tone::Neutral,
        _ => Tone::Unknown,
    }
}

/// `<span class="badge up">up</span>`: the class from [`badge_tone`], the
/// text as given (escaped).
pub fn badge(status: &str) -> Markup {
    tone_badge(badge_tone(status), status)
}

/// A badge whose colour the caller chose.
pub fn tone_badge(tone: Tone, text: &str) -> Markup {
    html! { span class={ "badge " (tone.class()) } { (text) } }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Info,
    Success,
    Error,
}

/// A message at the top of a page. Errors are `role="alert"` (read out at
/// once), the others `role="status"`.
pub fn flash(kind: FlashKind, text: &str) -> Markup {
    let (class, role) = match kind {
        FlashKind::Info => ("flash flash-info", "status"),
        FlashKind::Success => ("flash flash-success", "status"),
        FlashKind::Error => ("flash flash-error", "alert"),
    };
    html! { div class=(class) role=(role) { p { (text) } } }
}
