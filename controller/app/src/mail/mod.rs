//! Mail: outgoing notifications and ticket replies over SMTP ([`smtp`]),
//! ticket intake from an IMAP mailbox ([`imap`]) and the pure parsing and
//! threading of what comes in ([`inbound`]).
//!
//! Configuration, a [`MailConfig`] (nested in the controller's TOML its
//! tables become `[mail.smtp]` and `[mail.imap]`; both optional):
//!
//! ```toml
//! [smtp]
//! host = "mail.isp.example"
//! security = "starttls"          # none | starttls | tls (implicit TLS, "SMTPS"); default starttls
//! port = 587                     # default: 25 / 587 / 465 by security
//! username = "support@isp.example"   # optional: no AUTH without it
//! password = "..."
//! from = "Support <support@isp.example>"
//! reply_to = "support@isp.example"   # optional
//! helo_name = "controller.isp.example" # optional, default: the domain of `from`
//! timeout_secs = 30
//! ca_file = "/etc/mast/mail-ca.pem"  # optional extra trusted CA (PEM)
//!
//! [imap]
//! host = "mail.isp.example"
//! security = "tls"               # none | starttls | tls; default tls
//! port = 993                     # default: 143 / 143 / 993 by security
//! username = "support@isp.example"
//! password = "..."
//! mailbox = "INBOX"
//! poll_secs = 60
//! processed_mailbox = "Processed" # omit to only flag mail \Seen
//! timeout_secs = 30
//! ```
//!
//! TLS is rustls with the `ring` provider. Server certificates are checked
//! against Mozilla's roots (`webpki-roots`) plus `ca_file` (PEM) when set, for
//! a mail server with a private CA.
//!
//! The flow the controller runs: every `poll_secs`, [`imap::fetch_new`] →
//! [`inbound::parse`] → skip [`inbound::is_auto_generated`] mail (never answer
//! it: mail loops) → [`inbound::find_ticket`] (a reply to one of our
//! Message-IDs, else a `[#T-123]` subject token, else a new ticket) →
//! [`inbound::strip_quoted`] on the body → store → [`imap::mark_processed`]
//! (also for mail that failed to parse or came `truncated`, or it is fetched
//! again on every poll).
//! Replies go out with [`smtp::Mailer::send`], their Message-ID made by
//! [`smtp::Mailer::message_id`] with kind `ticket` so answers thread back.

pub mod imap;
pub use mast_mail_core as inbound;
pub mod smtp;

use serde::Deserialize;

pub use imap::{FetchedMail, fetch_new, mark_processed};
pub use inbound::{
    InboundMail, MAX_RAW_SIZE, ParseError, find_ticket, is_auto_generated, parse, parse_ticket_token, strip_quoted,
    ticket_token,
};
pub use smtp::{Attachment, Mailer, OutgoingMail};

/// Both halves of the mail set-up; each is optional (no SMTP: no outgoing
/// mail; no IMAP: no email intake).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Outgoing mail.
    pub smtp: Option<SmtpConfig>,
    /// Incoming mail (ticket intake).
    pub imap: Option<ImapConfig>,
}

/// How a connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain TCP, nothing encrypted (a relay on localhost or a trusted LAN only).
    None,
    /// Plain TCP upgraded with STARTTLS before logging in; the upgrade is required.
    Starttls,
    /// TLS from the first byte (SMTPS on 465, IMAPS on 993).
    #[default]
    Tls,
}

pub use mast_text_core::Secret;

/// Outgoing mail server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name (checked against its TLS certificate) or IP address.
    pub host: String,
    /// Server port; default 25 (`none`), 587 (`starttls`) or 465 (`tls`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection protection; default `starttls`.
    #[serde(default = "default_smtp_security")]
    pub security: Security,
    /// Login user; no AUTH is attempted when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// Login password (with `username`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender of every mail, `Name <address>` or a bare address; its domain
    /// also ends our Message-IDs and is the EHLO name unless `helo_name` is set.
    pub from: String,
    /// Optional Reply-To for every mail (e.g. a shared support address).
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Name given in EHLO; default: the domain of `from`.
    #[serde(default)]
    pub helo_name: Option<String>,
    /// Timeout, seconds, of connecting; a whole send may take twice this plus
    /// this once more per MiB of message. Default 30.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Extra trusted CA certificate(s), PEM file, for a server with a private CA.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// Incoming mail server (the support mailbox that becomes tickets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Server host name (checked against its TLS certificate) or IP address.
    pub host: String,
    /// Server port; default 143 (`none`, `starttls`) or 993 (`tls`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection protection; default `tls`.
    #[serde(default)]
    pub security: Security,
    /// Login user.
    pub username: String,
    /// Login password.
    pub password: Secret,
    /// Mailbox polled for new (unseen) mail; default `INBOX`.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Seconds between polls; default 60.
    #[serde(default = "default_poll_secs")]
    pub poll_secs: u64,
    /// Processed mail is moved here (created when missing); when absent it is
    /// only flagged `\Seen` and stays in `mailbox`.
    #[serde(default)]
    pub processed_mailbox: Option<String>,
    /// Timeout of each IMAP step (connect, login, each command), seconds; default 30.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Extra trusted CA certificate(s), PEM file, for a server with a private CA.
    #[serde(default)]
    pub ca_file: Option<String>,
}

impl SmtpConfig {
    /// The configured port or the usual one for `security`.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::None => 25,
            Security::Starttls => 587,
            Security::Tls => 465,
        })
    }
}

impl ImapConfig {
    /// The configured port or the usual one for `security`.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::None | Security::Starttls => 143,
            Security::Tls => 993,
        })
    }
}

fn default_smtp_security() -> Security {
    Security::Starttls
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_poll_secs() -> u64 {
    60
}

/// Everything that can go wrong sending or fetching mail. Messages name the
/// server and user but never a password.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("invalid email address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("TLS with {server} failed: {reason}")]
    Tls { server: String, reason: String },
    #[error("{server} refused the login of {username:?}: {reason}")]
    Auth { server: String, username: String, reason: String },
    #[error("{server} did not answer within {secs} s while {stage}")]
    Timeout { server: String, stage: &'static str, secs: u64 },
    #[error("{server} refused the message: {reason}")]
    Rejected { server: String, reason: String, permanent: bool },
    #[error("mailbox {mailbox:?} does not exist on {server}")]
    MailboxMissing { server: String, mailbox: String },
    #[error("{protocol} error with {server}: {reason}")]
    Protocol { protocol: &'static str, server: String, reason: String },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl MailError {
    /// Whether trying again later may succeed (network trouble, a busy or
    /// restarting server, a temporary SMTP refusal) rather than needing a fix
    /// by a person (configuration, credentials, addresses, a missing mailbox).
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Connect { .. } | MailError::Timeout { .. } | MailError::Protocol { .. } => true,
            MailError::Rejected { permanent, .. } => !permanent,
            _ => false,
        }
    }
}

pub type Result<T, E = MailError> = std::result::Result<T, E>;

/// `host:port` for messages.
fn server_name(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Replaces every occurrence of `secret` in `text` (servers may echo input).
fn scrub(text: String, secret: &str) -> String {
    if secret.len() >= 3 && text.contains(secret) { text.replace(secret, "<redacted>") } else { text }
}

/// A rustls client configuration (ring provider): Mozilla's roots plus the
/// PEM certificates in `ca_file`.
fn tls_client_config(ca_file: Option<&str>, server: &str) -> Result<std::sync::Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| MailError::Config(format!("ca_file {path}: {e}")))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MailError::Tls { server: server.to_owned(), reason: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// The certificates of a PEM file (at least one).
fn read_ca_file(path: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| MailError::Config(format!("cannot read ca_file {path}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MailError::Config(format!("ca_file {path}: {e}")))?;
    if certs.is_empty() {
        return Err(MailError::Config(format!("ca_file {path} holds no PEM certificate")));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_with_defaults_and_hides_passwords() {
        let cfg: MailConfig = toml::from_str(
            r#"
            [smtp]
            host = "mail.isp.example"
            username = "support@isp.example"
            password = "hunter22"
            from = "Support <support@isp.example>"

            [imap]
            host = "mail.isp.example"
            username = "support@isp.example"
            password = "hunter22"
            processed_mailbox = "Processed"
            "#,
        )
        .unwrap();
        let smtp = cfg.smtp.as_ref().unwrap();
        assert_eq!(smtp.security, Security::Starttls);
        assert_eq!(smtp.effective_port(), 587);
        assert_eq!(smtp.timeout_secs, 30);
        let imap = cfg.imap.as_ref().unwrap();
        assert_eq!(imap.security, Security::Tls);
        assert_eq!(imap.effective_port(), 993);
        assert_eq!(imap.mailbox, "INBOX");
        assert_eq!(imap.poll_secs, 60);
        assert_eq!(imap.processed_mailbox.as_deref(), Some("Processed"));
        assert_eq!(imap.password.expose(), "hunter22");
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("hunter22"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn config_rejects_unknown_keys_and_bad_security() {
        assert!(toml::from_str::<SmtpConfig>("host='h'\nfrom='a@b.c'\nsecurity='ssl'").is_err());
        assert!(toml::from_str::<SmtpConfig>("host='h'\nfrom='a@b.c'\npasword='x'").is_err());
        let none: SmtpConfig = toml::from_str("host='h'\nfrom='a@b.c'\nsecurity='none'").unwrap();
        assert_eq!(none.effective_port(), 25);
    }

    #[test]
    fn scrub_hides_echoed_passwords() {
        assert_eq!(scrub("bad login hunter22".into(), "hunter22"), "bad login <redacted>");
        assert_eq!(scrub("x".into(), ""), "x");
    }

    #[test]
    fn transient_errors() {
        let server = "h:1".to_string();
        assert!(MailError::Connect { server: server.clone(), reason: "refused".into() }.is_transient());
        assert!(!MailError::Auth { server: server.clone(), username: "u".into(), reason: "no".into() }.is_transient());
        assert!(MailError::Rejected { server: server.clone(), reason: "451".into(), permanent: false }.is_transient());
        assert!(!MailError::Rejected { server, reason: "550".into(), permanent: true }.is_transient());
    }
}
