//! The one rule for what text from a user or the network may hold before it
//! reaches a store: no control characters (a NUL byte is refused by
//! PostgreSQL and breaks terminals and logs) and a bounded length.

/// Why a text input was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextProblem {
    /// More than `max` characters.
    TooLong { max: usize },
    /// A control character (other than the allowed line breaks and tabs).
    ControlCharacter,
}

impl std::fmt::Display for TextProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextProblem::TooLong { max } => write!(f, "must be at most {max} characters"),
            TextProblem::ControlCharacter => f.write_str("must not contain control characters"),
        }
    }
}

/// The longest email address SMTP allows (RFC 5321 path limit minus brackets).
pub const MAX_EMAIL: usize = 254;

/// A one-line value (a name, an email, a search): no control characters at
/// all, at most `max` characters.
pub fn line(s: &str, max: usize) -> Result<(), TextProblem> {
    if s.chars().count() > max {
        return Err(TextProblem::TooLong { max });
    }
    if s.chars().any(char::is_control) {
        return Err(TextProblem::ControlCharacter);
    }
    Ok(())
}

/// A multi-line value (notes, a ticket body): line breaks and tabs are
/// allowed, other control characters are not; at most `max` characters.
pub fn text(s: &str, max: usize) -> Result<(), TextProblem> {
    if s.chars().count() > max {
        return Err(TextProblem::TooLong { max });
    }
    if s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(TextProblem::ControlCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_lengths() {
        assert_eq!(line("Ridge Tower", 64), Ok(()));
        assert_eq!(line("a\0b", 64), Err(TextProblem::ControlCharacter));
        assert_eq!(line("a\nb", 64), Err(TextProblem::ControlCharacter));
        assert_eq!(line("\u{7f}", 64), Err(TextProblem::ControlCharacter));
        assert_eq!(line("ééé", 3), Ok(()));
        assert_eq!(line("éééé", 3), Err(TextProblem::TooLong { max: 3 }));
        assert_eq!(text("line one\r\n\tline two", 100), Ok(()));
        assert_eq!(text("bell\u{7}", 100), Err(TextProblem::ControlCharacter));
        assert_eq!(TextProblem::ControlCharacter.to_string(), "must not contain control characters");
    }
}
