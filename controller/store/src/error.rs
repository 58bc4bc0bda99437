//! The stores' one error type. Every store function answers with it, and the
//! web layer maps it to HTTP in one place (`mast_web::error`): a record that
//! does not exist is a 404, input that breaks a rule a 400 naming the field,
//! a clash with stored state a 409, and stored data that does not decode
//! (a bug or a hand edit) a logged 500 with no details, never a 400.

/// What went wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record (`"ticket 42"`, `"no site named \"x\""`).
    #[error("{0}")]
    NotFound(String),
    /// Input that breaks a rule; `field` names the form field or API key
    /// (empty when the rule spans several).
    #[error("{}", if field.is_empty() { reason.clone() } else { format!("{field}: {reason}") })]
    Invalid { field: String, reason: String },
    /// The input is fine but clashes with what is stored (a duplicate name,
    /// a record changed meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// Stored data that does not decode: never the user's fault.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create database directory {0}: {1}")]
    Dir(String, std::io::Error),
}

/// The stores' result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// `field` breaks a rule.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> StoreError {
        StoreError::Invalid { field: field.into(), reason: reason.into() }
    }

    /// A rule message written `field: reason` (the stores' convention); a
    /// message without such a prefix names no field.
    pub fn invalid_msg(msg: impl Into<String>) -> StoreError {
        let msg = msg.into();
        match msg.split_once(": ") {
            Some((f, r))
                if !f.is_empty()
                    && f.len() <= 40
                    && f.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == ' ' || c == '-') =>
            {
                StoreError::Invalid { field: f.to_string(), reason: r.to_string() }
            }
            _ => StoreError::Invalid { field: String::new(), reason: msg },
        }
    }

    /// The database is unreachable or saturated (worth a 503 and a retry).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)))
    }

    /// The field an [`Invalid`](StoreError::Invalid) error names, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            StoreError::Invalid { field, .. } if !field.is_empty() => Some(field),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// A value that does not decode is corrupt stored data; anything else
    /// is the database's own error.
    fn from(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
                StoreError::Corrupt(e.to_string())
            }
            e => StoreError::Database(e),
        }
    }
}

impl From<mast_text_core::input::TextProblem> for StoreError {
    fn from(p: mast_text_core::input::TextProblem) -> StoreError {
        StoreError::invalid("", p.to_string())
    }
}

/// An email address as forms and the API take it (one line, an `@` with
/// something on both sides, no spaces); the error names the `email` field.
pub(crate) fn check_email(e: &str) -> Result<(), StoreError> {
    mast_text_core::input::line(e, mast_text_core::input::MAX_EMAIL)
        .map_err(|p| StoreError::invalid("email", p.to_string()))?;
    let ok = e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.starts_with('.'))
        && !e.chars().any(char::is_whitespace);
    if ok { Ok(()) } else { Err(StoreError::invalid("email", "not an email address")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_field() {
        let e = StoreError::invalid_msg("subject: 1-200 characters");
        assert_eq!(e.field(), Some("subject"));
        assert_eq!(e.to_string(), "subject: 1-200 characters");
        let e = StoreError::invalid_msg("tax class: no tax class \"x\"");
        assert_eq!(e.field(), Some("tax class"));
        let e = StoreError::invalid_msg("give a site or a device (one of them)");
        assert_eq!(e.field(), None);
        assert_eq!(e.to_string(), "give a site or a device (one of them)");
        let e = StoreError::invalid_msg("target \"x\": is not an IP address");
        assert_eq!(e.field(), None, "a value, not a field name");
    }

    #[test]
    fn undecodable_values_are_corrupt() {
        let e: StoreError = sqlx::Error::ColumnNotFound("x".into()).into();
        assert!(matches!(e, StoreError::Corrupt(_)));
        let e: StoreError = sqlx::Error::RowNotFound.into();
        assert!(matches!(e, StoreError::Database(_)));
    }
}
