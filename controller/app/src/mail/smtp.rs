//! Outgoing mail over SMTP with lettre (tokio, rustls with ring).
//!
//! [`Mailer::send`] builds a MIME message (plain text, optional HTML
//! alternative, attachments), gives it one of our Message-IDs,
//! `<mast.{kind}.{id}.{random}@{from-domain}>`, so that answers thread back
//! to the ticket ([`super::inbound::find_ticket`]), and hands it to the
//! relay. Addresses typed by people are validated with a clear error; bad
//! input never panics. A new connection is made per message (no pool).

use super::inbound::normalize_message_id;
use super::{MailError, Result, Security, SmtpConfig, read_ca_file, scrub, server_name};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::Rng;
use std::str::FromStr;
use std::time::Duration;

/// One file attached to an outgoing mail.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// The content.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("len", &self.data.len())
            .finish()
    }
}

impl Attachment {
    pub fn new(filename: impl Into<String>, content_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Attachment { filename: filename.into(), content_type: content_type.into(), data: data.into() }
    }
}

/// A mail to send. `to` (and `cc`) take `addr@domain` or `Name <addr@domain>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub text_body: String,
    /// An HTML alternative of `text_body`.
    pub html_body: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The Message-ID to use (bare or in brackets, e.g. from
    /// [`Mailer::message_id`]); default: a new one of kind `ticket` with the
    /// `ticket` id when set, else of kind `mail` with id 0.
    pub message_id: Option<String>,
    /// The Message-ID answered (bare or in brackets); ignored when malformed.
    pub in_reply_to: Option<String>,
    /// The thread's earlier Message-IDs, oldest first; malformed ones are
    /// dropped. When empty and `in_reply_to` is set, References repeats it.
    pub references: Vec<String>,
    /// The ticket this mail belongs to: adds `X-Mast-Ticket: {id}` and makes
    /// the default Message-ID a ticket one.
    pub ticket: Option<i64>,
    /// Marks the mail as an automatic answer (`Auto-Submitted: auto-replied`,
    /// RFC 3834), e.g. a receipt acknowledgment, so that well-behaved
    /// auto-responders do not answer it.
    pub auto_submitted: bool,
    /// More header fields, e.g. `("X-Mast-Customer", "17")`. Names must be
    /// printable ASCII without `:`; values one line. `Message-ID`,
    /// `In-Reply-To`, `References`, `Auto-Submitted` and `X-Mast-Ticket` given
    /// here are folded into the fields above (a field that is set wins), so an
    /// outbox row's header map can be passed as is. The fields the mailer
    /// writes itself (From, To, Cc, Subject, Date, MIME fields, ...) are refused.
    pub headers: Vec<(String, String)>,
}

impl OutgoingMail {
    /// A plain-text mail to one recipient.
    pub fn new(to: impl Into<String>, subject: impl Into<String>, text_body: impl Into<String>) -> Self {
        OutgoingMail { to: vec![to.into()], subject: subject.into(), text_body: text_body.into(), ..Default::default() }
    }
}

/// Header fields [`OutgoingMail::headers`] may not set (the mailer writes
/// them from the mail's fields and the configuration).
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
];

/// Sends mail through the configured relay. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    domain: String,
    server: String,
    username: Option<String>,
    password: String,
    timeout_secs: u64,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("server", &self.server).field("from", &self.from.to_string()).finish()
    }
}

impl Mailer {
    /// Checks the configuration (addresses, CA file, TLS set-up) and prepares
    /// the transport; no connection is made yet (see [`Mailer::verify`]).
    pub fn new(config: &SmtpConfig) -> Result<Mailer> {
        let from = parse_mailbox(&config.from)?;
        let reply_to = config.reply_to.as_deref().map(parse_mailbox).transpose()?;
        let domain = from.email.domain().to_owned();
        let port = config.effective_port();
        let host = config.host.trim();
        if host.is_empty() {
            return Err(MailError::Config("smtp.host is empty".into()));
        }
        if config.timeout_secs == 0 {
            return Err(MailError::Config("smtp.timeout_secs must be at least 1".into()));
        }
        let server = server_name(host, port);
        let tls = match config.security {
            Security::None => Tls::None,
            Security::Starttls | Security::Tls => {
                let mut params = TlsParameters::builder(host.to_owned());
                if let Some(path) = &config.ca_file {
                    for der in read_ca_file(path)? {
                        let cert = Certificate::from_der(der.to_vec())
                            .map_err(|e| MailError::Config(format!("ca_file {path}: {e}")))?;
                        params = params.add_root_certificate(cert);
                    }
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| MailError::Tls { server: server.clone(), reason: e.to_string() })?;
                if config.security == Security::Tls { Tls::Wrapper(params) } else { Tls::Required(params) }
            }
        };
        let helo = config.helo_name.clone().unwrap_or_else(|| domain.clone());
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .hello_name(ClientId::Domain(helo))
            .timeout(Some(Duration::from_secs(config.timeout_secs)));
        let password = config.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
        if let Some(user) = &config.username {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            reply_to,
            domain,
            server,
            username: config.username.clone(),
            password,
            timeout_secs: config.timeout_secs,
        })
    }

    /// The domain of the sender address (ends our Message-IDs).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// A new Message-ID, bare: `mast.{kind}.{id}.{random}@{from-domain}`.
    /// `kind` is reduced to ASCII letters, digits, `-` and `_` (`mail` when
    /// nothing is left).
    pub fn message_id(&self, kind: &str, id: i64) -> String {
        new_message_id(kind, id, &self.domain)
    }

    /// Connects, greets and logs in (when configured), then disconnects: a
    /// check for the settings page.
    pub async fn verify(&self) -> Result<()> {
        let fut = self.transport.test_connection();
        match tokio::time::timeout(self.overall_timeout(), fut).await {
            Err(_) => Err(self.timeout_error("connecting")),
            Ok(Err(e)) => Err(self.map_error(e)),
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(MailError::Protocol {
                protocol: "SMTP",
                server: self.server.clone(),
                reason: "the server did not answer NOOP".into(),
            }),
        }
    }

    /// Builds the message (see [`Mailer::build`]) and sends it; returns its
    /// Message-ID, bare.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<String> {
        let (message, id) = self.build(mail)?;
        // Large attachments may take a while: the timeout once more per MiB (base64: 4/3).
        let size = mail.text_body.len()
            + mail.html_body.as_ref().map_or(0, String::len)
            + mail.attachments.iter().map(|a| a.data.len() / 3 * 4).sum::<usize>();
        let mib = u32::try_from(size / (1024 * 1024)).unwrap_or(u32::MAX);
        let limit = self.overall_timeout() + Duration::from_secs(self.timeout_secs).saturating_mul(mib);
        match tokio::time::timeout(limit, self.transport.send(message)).await {
            Err(_) => Err(self.timeout_error("sending")),
            Ok(Err(e)) => Err(self.map_error(e)),
            Ok(Ok(_response)) => Ok(id),
        }
    }

    /// The message `send` would send, and its bare Message-ID. Fails with
    /// [`MailError::InvalidAddress`] for a bad recipient and
    /// [`MailError::Build`] for a bad header, Message-ID or attachment type.
    pub fn build(&self, mail: &OutgoingMail) -> Result<(Message, String)> {
        if mail.to.is_empty() && mail.cc.is_empty() {
            return Err(MailError::InvalidAddress { address: String::new(), reason: "no recipient".into() });
        }
        // Threading fields may also come as header pairs: fold them in.
        let mut message_id = mail.message_id.clone();
        let mut in_reply_to = mail.in_reply_to.clone();
        let mut references = mail.references.clone();
        let mut auto_submitted = mail.auto_submitted.then(|| "auto-replied".to_owned());
        let mut ticket = mail.ticket.map(|t| t.to_string());
        let mut extra = Vec::new();
        for (name, value) in &mail.headers {
            match name.trim().to_ascii_lowercase().as_str() {
                "message-id" => {
                    message_id.get_or_insert_with(|| value.clone());
                }
                "in-reply-to" => {
                    in_reply_to.get_or_insert_with(|| message_ids(value).next().unwrap_or_default());
                }
                "references" => references.extend(message_ids(value)),
                "auto-submitted" => {
                    auto_submitted.get_or_insert_with(|| value.trim().to_owned());
                }
                "x-mast-ticket" => {
                    ticket.get_or_insert_with(|| value.trim().to_owned());
                }
                n if RESERVED_HEADERS.contains(&n) => {
                    return Err(MailError::Build(format!("header {name:?} is set by the mailer itself")));
                }
                _ => extra.push((name, value)),
            }
        }
        let id = match &message_id {
            Some(given) => normalize_message_id(given)
                .filter(|id| id.contains('@'))
                .ok_or_else(|| MailError::Build(format!("invalid Message-ID {given:?}")))?,
            None => match ticket.as_deref().and_then(|t| t.parse::<i64>().ok()).filter(|t| *t > 0) {
                Some(ticket) => self.message_id("ticket", ticket),
                None => self.message_id("mail", 0),
            },
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(one_line(&mail.subject))
            .message_id(Some(format!("<{id}>")))
            .date_now();
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        for to in &mail.to {
            builder = builder.to(parse_mailbox(to)?);
        }
        for cc in &mail.cc {
            builder = builder.cc(parse_mailbox(cc)?);
        }
        let in_reply_to = in_reply_to.as_deref().and_then(normalize_message_id);
        let mut references: Vec<String> = references.iter().filter_map(|r| normalize_message_id(r)).collect();
        references.dedup();
        if let Some(parent) = &in_reply_to {
            if !references.contains(parent) {
                references.push(parent.clone());
            }
            builder = builder.in_reply_to(format!("<{parent}>"));
        }
        if !references.is_empty() {
            let joined = references.iter().map(|r| format!("<{r}>")).collect::<Vec<_>>().join(" ");
            builder = builder.references(joined);
        }
        if let Some(ticket) = &ticket {
            builder = builder.raw_header(raw_header("X-Mast-Ticket", ticket)?);
        }
        if let Some(value) = &auto_submitted {
            builder = builder.raw_header(raw_header("Auto-Submitted", value)?);
        }
        for (name, value) in extra {
            builder = builder.raw_header(raw_header(name, value)?);
        }

        let text = mail.text_body.clone();
        let message = match (&mail.html_body, mail.attachments.is_empty()) {
            (None, true) => builder.singlepart(SinglePart::plain(text)),
            (Some(html), true) => builder.multipart(MultiPart::alternative_plain_html(text, html.clone())),
            (html, false) => {
                let mut mixed = match html {
                    Some(html) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text, html.clone())),
                    None => MultiPart::mixed().singlepart(SinglePart::plain(text)),
                };
                for a in &mail.attachments {
                    let ct = ContentType::parse(a.content_type.trim()).map_err(|_| {
                        MailError::Build(format!(
                            "attachment {:?}: invalid content type {:?}",
                            a.filename, a.content_type
                        ))
                    })?;
                    let name = one_line(&a.filename);
                    let name = if name.trim().is_empty() { "attachment".to_owned() } else { name };
                    mixed = mixed.singlepart(lettre::message::Attachment::new(name).body(a.data.clone(), ct));
                }
                builder.multipart(mixed)
            }
        }
        .map_err(|e| MailError::Build(e.to_string()))?;
        Ok((message, id))
    }

    fn overall_timeout(&self) -> Duration {
        // lettre applies its timeout to connecting only; this bounds the whole exchange.
        Duration::from_secs(self.timeout_secs.saturating_mul(2))
    }

    fn timeout_error(&self, stage: &'static str) -> MailError {
        MailError::Timeout { server: self.server.clone(), stage, secs: self.timeout_secs }
    }

    fn map_error(&self, e: lettre::transport::smtp::Error) -> MailError {
        let server = self.server.clone();
        let reason = scrub(error_chain(&e), &self.password);
        if e.is_timeout() {
            return self.timeout_error("talking SMTP");
        }
        if e.is_tls() || has_tls_error(&e) {
            return MailError::Tls { server, reason };
        }
        if let Some(code) = e.status() {
            let code = code.to_string();
            // 535 bad credentials, 534 mechanism too weak, 530 login required,
            // 454 temporary authentication failure.
            let auth = matches!(code.as_str(), "535" | "534" | "530")
                || (code == "454" && reason.to_ascii_lowercase().contains("auth"));
            if auth {
                let reason = if self.username.is_none() {
                    format!("{reason} (the server wants a login: set smtp.username and smtp.password)")
                } else {
                    reason
                };
                return MailError::Auth { server, username: self.username.clone().unwrap_or_default(), reason };
            }
            return MailError::Rejected { server, reason, permanent: e.is_permanent() };
        }
        if e.is_client() && reason.contains("authentication mechanism") {
            return MailError::Auth {
                server,
                username: self.username.clone().unwrap_or_default(),
                reason: "the server offers no login (AUTH) this client can use; it may require TLS first".into(),
            };
        }
        let io_kind = find_io_error(&e).map(|io| io.kind());
        match io_kind {
            Some(std::io::ErrorKind::TimedOut) => self.timeout_error("connecting"),
            Some(_) => MailError::Connect { server, reason },
            None => MailError::Protocol { protocol: "SMTP", server, reason },
        }
    }
}

/// The message ids in a header value: `<a@b> <c@d>`, `<a@b><c@d>`, `a@b`.
fn message_ids(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .flat_map(|token| token.split_inclusive('>'))
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned)
}

/// `mast.{kind}.{id}.{random}@{domain}` with 16 random base-36 characters.
pub fn new_message_id(kind: &str, id: i64, domain: &str) -> String {
    let kind: String = kind.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let kind = if kind.is_empty() { "mail".to_owned() } else { kind };
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let random: String = (0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("mast.{kind}.{}.{random}@{domain}", id.max(0))
}

/// Parses `addr@domain` or `Name <addr@domain>`.
fn parse_mailbox(address: &str) -> Result<Mailbox> {
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(MailError::InvalidAddress { address: address.to_owned(), reason: "empty address".into() });
    }
    if trimmed.chars().any(|c| c.is_control()) {
        return Err(MailError::InvalidAddress {
            address: address.to_owned(),
            reason: "contains a control character".into(),
        });
    }
    Mailbox::from_str(trimmed)
        .map_err(|e| MailError::InvalidAddress { address: address.to_owned(), reason: e.to_string() })
}

/// Line breaks and other control characters become spaces (no header injection).
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn raw_header(name: &str, value: &str) -> Result<HeaderValue> {
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(MailError::Build(format!("invalid header name {name:?}")));
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(MailError::Build(format!("header {name:?}: the value must be one line")));
    }
    let header = HeaderName::new_from_ascii(name.to_owned())
        .map_err(|_| MailError::Build(format!("invalid header name {name:?}")))?;
    Ok(HeaderValue::new(header, value.trim().to_owned()))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Whether a rustls error (bad certificate, handshake failure) is in the chain.
fn has_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && (inner.is::<rustls::Error>() || has_tls_error(inner))
        {
            return true;
        }
        current = err.source();
    }
    false
}

fn find_io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::inbound::{self, parse_mast_message_id};
    use crate::mail::{Secret, SmtpConfig};

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(2525),
            security: Security::None,
            username: None,
            password: None,
            from: "Support <support@isp.example>".into(),
            reply_to: None,
            helo_name: None,
            timeout_secs: 5,
            ca_file: None,
        }
    }

    #[test]
    fn message_ids_are_ours_and_unique() {
        let mailer = Mailer::new(&config()).unwrap();
        let a = mailer.message_id("ticket", 123);
        let b = mailer.message_id("ticket", 123);
        assert_ne!(a, b);
        assert!(a.starts_with("mast.ticket.123.") && a.ends_with("@isp.example"), "{a}");
        assert_eq!(parse_mast_message_id(&a), Some(("ticket".into(), 123)));
        assert_eq!(parse_mast_message_id(&format!("<{a}>")), Some(("ticket".into(), 123)));
        assert!(mailer.message_id("we ird.kind", 1).starts_with("mast.weirdkind.1."));
        assert!(mailer.message_id("", 1).starts_with("mast.mail.1."));
    }

    #[test]
    fn bad_configuration_is_a_clear_error() {
        let mut c = config();
        c.from = "not an address".into();
        let e = Mailer::new(&c).unwrap_err();
        assert!(matches!(e, MailError::InvalidAddress { .. }), "{e}");
        assert!(e.to_string().contains("not an address"));
        let mut c = config();
        c.ca_file = Some("/nonexistent/ca.pem".into());
        c.security = Security::Tls;
        assert!(matches!(Mailer::new(&c).unwrap_err(), MailError::Config(_)));
        let mut c = config();
        c.host = " ".into();
        assert!(matches!(Mailer::new(&c).unwrap_err(), MailError::Config(_)));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let mut c = config();
        c.username = Some("support".into());
        c.password = Some(Secret::new("hunter22"));
        let mailer = Mailer::new(&c).unwrap();
        assert!(!format!("{mailer:?}").contains("hunter22"));
        assert!(!format!("{c:?}").contains("hunter22"));
    }

    #[test]
    fn bad_recipients_are_errors_not_panics() {
        let mailer = Mailer::new(&config()).unwrap();
        for bad in ["", "   ", "john", "john@", "@example.org", "a b@example.org", "x@example.org\r\nBcc: evil@x", "<>"]
        {
            let e = mailer.build(&OutgoingMail::new(bad, "s", "b")).unwrap_err();
            assert!(matches!(e, MailError::InvalidAddress { .. }), "{bad:?}: {e}");
        }
        let e = mailer.build(&OutgoingMail { subject: "x".into(), ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("no recipient"));
        let mut m = OutgoingMail::new("a@example.org", "s", "b");
        m.cc = vec!["bad".into()];
        assert!(matches!(mailer.build(&m).unwrap_err(), MailError::InvalidAddress { .. }));
    }

    #[test]
    fn builds_a_threaded_ticket_reply() {
        let mailer = Mailer::new(&config()).unwrap();
        let mail = OutgoingMail {
            to: vec!["Jürgen <jm@example.org>".into()],
            subject: format!("Re: {} No internet\r\nBcc: evil@example.org", inbound::ticket_token(42)),
            text_body: "We restarted the sector.\n".into(),
            in_reply_to: Some("<cust.1@example.org>".into()),
            references: vec!["first@example.org".into(), "bad id".into()],
            ticket: Some(42),
            auto_submitted: true,
            headers: vec![("X-Mast-Customer".into(), "17".into())],
            ..Default::default()
        };
        let (message, id) = mailer.build(&mail).unwrap();
        assert_eq!(parse_mast_message_id(&id), Some(("ticket".into(), 42)));
        let raw = message.formatted();
        let parsed = inbound::parse(&raw).unwrap();
        assert_eq!(parsed.message_id.as_deref(), Some(id.as_str()));
        assert_eq!(parsed.subject, "Re: [#T-42] No internet  Bcc: evil@example.org");
        assert_eq!(parsed.to, vec!["jm@example.org"]);
        assert_eq!(parsed.from.as_deref(), Some("support@isp.example"));
        assert_eq!(parsed.in_reply_to, vec!["cust.1@example.org"]);
        assert_eq!(parsed.references, vec!["first@example.org", "cust.1@example.org"]);
        assert_eq!(parsed.header("X-Mast-Ticket"), Some("42"));
        assert_eq!(parsed.header("X-Mast-Customer"), Some("17"));
        assert_eq!(parsed.header("Auto-Submitted"), Some("auto-replied"));
        assert!(parsed.header("Bcc").is_none());
        assert_eq!(parsed.text.trim_end(), "We restarted the sector.");
        // Our own acknowledgment coming back is recognised as automatic.
        assert!(inbound::is_auto_generated(&parsed));
        assert_eq!(inbound::find_ticket(&parsed, |_| None), Some(42));
    }

    #[test]
    fn threading_headers_given_as_pairs_are_folded_in() {
        let mailer = Mailer::new(&config()).unwrap();
        let mut m = OutgoingMail::new("a@example.org", "Re: x [#T-9]", "ack");
        m.headers = vec![
            ("Message-ID".into(), "<mast.ticket.9.0@isp.example>".into()),
            ("In-Reply-To".into(), "<cust.9@example.org>".into()),
            ("References".into(), "<first@example.org><cust.9@example.org>".into()),
            ("Auto-Submitted".into(), "auto-replied".into()),
            ("X-Mast-Ticket".into(), "9".into()),
            ("X-Other".into(), "kept".into()),
        ];
        let (message, id) = mailer.build(&m).unwrap();
        assert_eq!(id, "mast.ticket.9.0@isp.example");
        let parsed = inbound::parse(&message.formatted()).unwrap();
        assert_eq!(parsed.message_id.as_deref(), Some("mast.ticket.9.0@isp.example"));
        assert_eq!(parsed.in_reply_to, vec!["cust.9@example.org"]);
        assert_eq!(parsed.references, vec!["first@example.org", "cust.9@example.org"]);
        assert_eq!(parsed.header("Auto-Submitted"), Some("auto-replied"));
        assert_eq!(parsed.header("X-Mast-Ticket"), Some("9"));
        assert_eq!(parsed.header("X-Other"), Some("kept"));
        assert_eq!(parsed.headers_named("Message-ID").count(), 1);
        // A typed field wins over the header pair; the ticket header drives a generated id.
        m.message_id = Some("given@isp.example".into());
        assert_eq!(mailer.build(&m).unwrap().1, "given@isp.example");
        let mut m = OutgoingMail::new("a@example.org", "x", "y");
        m.headers = vec![("X-Mast-Ticket".into(), "12".into())];
        assert_eq!(parse_mast_message_id(&mailer.build(&m).unwrap().1), Some(("ticket".into(), 12)));
    }

    #[test]
    fn builds_html_and_attachments() {
        let mailer = Mailer::new(&config()).unwrap();
        let mut mail = OutgoingMail::new("a@example.org", "Invoice", "See attached.");
        mail.html_body = Some("<p>See <b>attached</b>.</p>".into());
        mail.attachments.push(Attachment::new("invoice 7.pdf", "application/pdf", b"%PDF-1.4 fake".to_vec()));
        let (message, _) = mailer.build(&mail).unwrap();
        let parsed = inbound::parse(&message.formatted()).unwrap();
        assert_eq!(parsed.text.trim_end(), "See attached.");
        assert!(parsed.has_html);
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(parsed.attachments[0].name.as_deref(), Some("invoice 7.pdf"));
        assert_eq!(parsed.attachments[0].content_type, "application/pdf");
        assert_eq!(parsed.attachments[0].size, 13);

        mail.attachments[0].content_type = "not a type".into();
        assert!(matches!(mailer.build(&mail).unwrap_err(), MailError::Build(_)));
    }

    #[test]
    fn refuses_bad_headers_and_ids() {
        let mailer = Mailer::new(&config()).unwrap();
        let base = OutgoingMail::new("a@example.org", "s", "b");
        for (name, value) in [("Bad Name", "v"), ("X-A", "one\r\nBcc: x@y"), ("From", "x@y"), ("", "v")] {
            let mut m = base.clone();
            m.headers = vec![(name.into(), value.into())];
            assert!(matches!(mailer.build(&m).unwrap_err(), MailError::Build(_)), "{name:?}");
        }
        let mut m = base.clone();
        m.headers = vec![("Content-Type".into(), "text/html".into())];
        assert!(matches!(mailer.build(&m).unwrap_err(), MailError::Build(_)));
        let mut m = base.clone();
        m.message_id = Some("no brackets no at".into());
        assert!(matches!(mailer.build(&m).unwrap_err(), MailError::Build(_)));
        m.message_id = Some("<given.1@isp.example>".into());
        assert_eq!(mailer.build(&m).unwrap().1, "given.1@isp.example");
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        // Accepts the connection but never greets.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let mut c = config();
        c.port = Some(port);
        c.timeout_secs = 1;
        let started = std::time::Instant::now();
        let e = Mailer::new(&c).unwrap().send(&OutgoingMail::new("a@example.org", "s", "b")).await.unwrap_err();
        assert!(matches!(e, MailError::Timeout { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        hold.abort();
    }

    #[tokio::test]
    async fn unreachable_server_is_an_error() {
        // A port nothing listens on (bound then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut c = config();
        c.port = Some(port);
        let mailer = Mailer::new(&c).unwrap();
        let e = mailer.send(&OutgoingMail::new("a@example.org", "s", "b")).await.unwrap_err();
        assert!(matches!(e, MailError::Connect { .. }), "{e:?}");
        assert!(e.is_transient());
        assert!(mailer.verify().await.is_err());
    }
}
