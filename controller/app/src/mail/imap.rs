//! Ticket intake from an IMAP mailbox (async-imap on tokio; TLS is
//! tokio-rustls with ring).
//!
//! Each call opens its own connection, logs in, does its work and logs out;
//! every step has the configured timeout. [`fetch_new`] returns the unseen
//! mail of the mailbox without changing it (`BODY.PEEK`), oldest first, at
//! most [`MAX_FETCH_PER_POLL`] per call; once stored, [`mark_processed`]
//! moves them to `processed_mailbox` (created when missing) or flags them
//! `\Seen`, so the next [`fetch_new`] does not see them again.

use super::inbound::MAX_RAW_SIZE;
use super::{ImapConfig, MailError, Result, Security, scrub, server_name, tls_client_config};
use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Most mails one [`fetch_new`] returns; the rest come with the next poll.
pub const MAX_FETCH_PER_POLL: usize = 100;

/// One unseen mail of the polled mailbox.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchedMail {
    /// Its IMAP UID, for [`mark_processed`].
    pub uid: u32,
    /// The mailbox's UIDVALIDITY when fetched (UIDs are only meaningful with it).
    pub uid_validity: Option<u32>,
    /// Size the server reports, bytes.
    pub size: Option<u32>,
    /// The raw RFC 5322 message; only its header when `truncated`.
    pub raw: Vec<u8>,
    /// The mail is larger than [`MAX_RAW_SIZE`]: only the header was fetched
    /// (enough to answer "too large"); mark it processed all the same.
    pub truncated: bool,
}

impl std::fmt::Debug for FetchedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedMail")
            .field("uid", &self.uid)
            .field("uid_validity", &self.uid_validity)
            .field("size", &self.size)
            .field("raw_len", &self.raw.len())
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// The unseen mail of `config.mailbox`, oldest first (at most
/// [`MAX_FETCH_PER_POLL`]); nothing is changed on the server.
pub async fn fetch_new(config: &ImapConfig) -> Result<Vec<FetchedMail>> {
    let mut conn = Conn::open(config).await?;
    let result = conn.fetch_unseen().await;
    conn.logout().await;
    result
}

/// Marks mail as handled: moves it to `processed_mailbox` when one is
/// configured (creating it when missing; flagged `\Seen`), else flags it
/// `\Seen` in place. UIDs no longer in the mailbox are ignored.
pub async fn mark_processed(config: &ImapConfig, uids: &[u32]) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let mut conn = Conn::open(config).await?;
    let result = conn.mark(uids).await;
    conn.logout().await;
    result
}

/// Connects, logs in and opens the mailbox, then logs out: a check for the
/// settings page.
pub async fn verify(config: &ImapConfig) -> Result<()> {
    let conn = Conn::open(config).await?;
    conn.logout().await;
    Ok(())
}

/// A plain or TLS connection, one type for async-imap.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in session with the mailbox selected.
struct Conn<'a> {
    session: Session<Stream>,
    config: &'a ImapConfig,
    ctx: Ctx,
    uid_validity: Option<u32>,
}

/// Server name and timeout, for running steps and naming errors.
#[derive(Clone)]
struct Ctx {
    server: String,
    secs: u64,
}

impl Ctx {
    fn timeout(&self, stage: &'static str) -> MailError {
        MailError::Timeout { server: self.server.clone(), stage, secs: self.secs }
    }

    /// Runs one step within `limit`.
    async fn step_within<T>(
        &self,
        limit: Duration,
        stage: &'static str,
        fut: impl Future<Output = async_imap::error::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, fut).await {
            Err(_) => Err(self.timeout(stage)),
            Ok(Err(e)) => Err(protocol(&self.server, stage, e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Runs one step with the configured timeout.
    async fn step<T>(&self, stage: &'static str, fut: impl Future<Output = async_imap::error::Result<T>>) -> Result<T> {
        self.step_within(Duration::from_secs(self.secs), stage, fut).await
    }
}

impl<'a> Conn<'a> {
    async fn open(config: &'a ImapConfig) -> Result<Conn<'a>> {
        let host = config.host.trim();
        let port = config.effective_port();
        let server = server_name(host, port);
        if host.is_empty() {
            return Err(MailError::Config("imap.host is empty".into()));
        }
        if config.timeout_secs == 0 {
            return Err(MailError::Config("imap.timeout_secs must be at least 1".into()));
        }
        let mailbox = encode_mailbox_name(&config.mailbox)?;
        if let Some(processed) = &config.processed_mailbox {
            encode_mailbox_name(processed)?;
        }
        let limit = Duration::from_secs(config.timeout_secs);
        let timeout =
            |stage: &'static str| MailError::Timeout { server: server.clone(), stage, secs: config.timeout_secs };
        let connect_err = |e: std::io::Error| MailError::Connect { server: server.clone(), reason: e.to_string() };

        let tcp = tokio::time::timeout(limit, TcpStream::connect((host, port)))
            .await
            .map_err(|_| timeout("connecting"))?
            .map_err(connect_err)?;
        let _ = tcp.set_nodelay(true);
        let stream = match config.security {
            Security::Tls => Stream::Tls(Box::new(tls_handshake(config, host, &server, tcp, limit, &timeout).await?)),
            Security::None | Security::Starttls => Stream::Plain(tcp),
        };
        let mut client = Client::new(stream);
        let greeting = tokio::time::timeout(limit, client.read_response())
            .await
            .map_err(|_| timeout("waiting for the greeting"))?
            .map_err(connect_err)?;
        match greeting {
            None => {
                return Err(MailError::Connect { server, reason: "the server closed the connection".into() });
            }
            Some(g) => {
                use async_imap::imap_proto::{Response, Status};
                if let Response::Data { status: Status::Bye, outcome } = g.parsed() {
                    let why = outcome.information.as_deref().unwrap_or("").to_owned();
                    return Err(MailError::Connect { server, reason: format!("the server said BYE: {why}") });
                }
            }
        }
        if config.security == Security::Starttls {
            tokio::time::timeout(limit, client.run_command_and_check_ok("STARTTLS", None))
                .await
                .map_err(|_| timeout("starting TLS"))?
                .map_err(|e| MailError::Tls { server: server.clone(), reason: format!("STARTTLS refused: {e}") })?;
            let Stream::Plain(tcp) = client.into_inner() else { unreachable!("STARTTLS on a plain stream") };
            let tls = tls_handshake(config, host, &server, tcp, limit, &timeout).await?;
            client = Client::new(Stream::Tls(Box::new(tls)));
        }

        let password = config.password.expose();
        let login = tokio::time::timeout(limit, client.login(&config.username, password))
            .await
            .map_err(|_| timeout("logging in"))?;
        let mut session = match login {
            Ok(session) => session,
            Err((e, _client)) => {
                let reason = match e {
                    async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                        let text = status_text(&text);
                        if text.is_empty() { "login refused".to_owned() } else { text }
                    }
                    async_imap::error::Error::Validate(_) => {
                        "the username or password holds a line break, which IMAP LOGIN cannot send".to_owned()
                    }
                    async_imap::error::Error::Io(io) => {
                        return Err(MailError::Connect { server, reason: format!("while logging in: {io}") });
                    }
                    async_imap::error::Error::ConnectionLost => {
                        return Err(MailError::Connect { server, reason: "connection lost while logging in".into() });
                    }
                    other => other.to_string(),
                };
                return Err(MailError::Auth {
                    server,
                    username: config.username.clone(),
                    reason: scrub(reason, password),
                });
            }
        };
        let selected =
            tokio::time::timeout(limit, session.select(&mailbox)).await.map_err(|_| timeout("opening the mailbox"))?;
        let uid_validity = match selected {
            Ok(mb) => mb.uid_validity,
            Err(async_imap::error::Error::No(_)) => {
                let _ = tokio::time::timeout(limit, session.logout()).await;
                return Err(MailError::MailboxMissing { server, mailbox: config.mailbox.clone() });
            }
            Err(e) => return Err(protocol(&server, "opening the mailbox", e)),
        };
        Ok(Conn { session, config, ctx: Ctx { server, secs: config.timeout_secs }, uid_validity })
    }

    fn limit(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs)
    }

    async fn fetch_unseen(&mut self) -> Result<Vec<FetchedMail>> {
        let ctx = self.ctx.clone();
        let found = ctx.step("searching", self.session.uid_search("UNSEEN")).await?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        uids.truncate(MAX_FETCH_PER_POLL);
        if uids.is_empty() {
            return Ok(Vec::new());
        }

        // Sizes first: a mail over the limit only has its header fetched.
        let set = uid_set(&uids);
        let sizes = async {
            let stream = self.session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
            let fetches: Vec<_> = stream.try_collect().await?;
            Ok(fetches.iter().filter_map(|f| Some((f.uid?, f.size))).collect::<Vec<_>>())
        };
        let sizes = ctx.step("listing new mail", sizes).await?;

        let mut out = Vec::with_capacity(uids.len());
        for uid in uids {
            let Some(&(_, size)) = sizes.iter().find(|(u, _)| *u == uid) else { continue }; // expunged meanwhile
            let truncated = size.is_some_and(|s| s as usize > MAX_RAW_SIZE);
            let query = if truncated { "(UID BODY.PEEK[HEADER])" } else { "(UID BODY.PEEK[])" };
            // Bodies may be large: the timeout applies per started megabyte.
            let limit = self.limit().saturating_mul(1 + size.unwrap_or(0) / (1024 * 1024));
            let fetch = async {
                let stream = self.session.uid_fetch(uid.to_string(), query).await?;
                let fetches: Vec<_> = stream.try_collect().await?;
                let raw = fetches
                    .iter()
                    .filter(|f| f.uid == Some(uid))
                    .find_map(|f| if truncated { f.header() } else { f.body() })
                    .map(<[u8]>::to_vec);
                Ok(raw)
            };
            if let Some(raw) = ctx.step_within(limit, "fetching a mail", fetch).await? {
                out.push(FetchedMail { uid, uid_validity: self.uid_validity, size, raw, truncated });
            }
        }
        Ok(out)
    }

    async fn mark(&mut self, uids: &[u32]) -> Result<()> {
        let ctx = self.ctx.clone();
        let target = self.config.processed_mailbox.as_deref().map(encode_mailbox_name).transpose()?;
        let mut caps = None;
        if let Some(target) = &target {
            self.ensure_mailbox(target).await?;
            caps = ctx.step("reading capabilities", self.session.capabilities()).await.ok();
        }
        let has = |name: &str| caps.as_ref().is_some_and(|c| c.has_str(name));
        for chunk in uids.chunks(200) {
            let set = uid_set(chunk);
            let seen = async {
                let stream = self.session.uid_store(&set, "+FLAGS.SILENT (\\Seen)").await?;
                stream.try_collect::<Vec<_>>().await
            };
            ctx.step("flagging mail as seen", seen).await?;
            let Some(target) = &target else { continue };
            if has("MOVE") {
                ctx.step("moving mail", self.session.uid_mv(&set, target)).await?;
                continue;
            }
            ctx.step("copying mail", self.session.uid_copy(&set, target)).await?;
            let delete = async {
                let stream = self.session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
                stream.try_collect::<Vec<_>>().await
            };
            ctx.step("flagging mail as deleted", delete).await?;
            // Without UIDPLUS an EXPUNGE could remove other people's deleted
            // mail: leave ours flagged \Deleted instead.
            if has("UIDPLUS") {
                let expunge = async {
                    let stream = self.session.uid_expunge(&set).await?;
                    stream.try_collect::<Vec<_>>().await
                };
                ctx.step("expunging moved mail", expunge).await?;
            }
        }
        Ok(())
    }

    /// Creates the mailbox (name already encoded) unless it exists.
    async fn ensure_mailbox(&mut self, name: &str) -> Result<()> {
        let ctx = self.ctx.clone();
        let pattern = quote(name);
        let list = async {
            let stream = self.session.list(Some(""), Some(&pattern)).await?;
            let names: Vec<_> = stream.try_collect().await?;
            Ok(names.iter().any(|n| n.name() == name || (name.eq_ignore_ascii_case("INBOX") && n.name() == "INBOX")))
        };
        if ctx.step("listing mailboxes", list).await? {
            return Ok(());
        }
        match tokio::time::timeout(self.limit(), self.session.create(name)).await {
            Err(_) => Err(ctx.timeout("creating the processed mailbox")),
            Ok(Ok(())) => Ok(()),
            // Created by someone else meanwhile ([ALREADYEXISTS]).
            Ok(Err(async_imap::error::Error::No(text))) if text.to_ascii_lowercase().contains("exist") => Ok(()),
            Ok(Err(e)) => Err(protocol(&ctx.server, "creating the processed mailbox", e)),
        }
    }

    async fn logout(mut self) {
        let _ = tokio::time::timeout(self.limit(), self.session.logout()).await;
    }
}

async fn tls_handshake(
    config: &ImapConfig,
    host: &str,
    server: &str,
    tcp: TcpStream,
    limit: Duration,
    timeout: &impl Fn(&'static str) -> MailError,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tls_config = tls_client_config(config.ca_file.as_deref(), server)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| MailError::Config(format!("imap.host {host:?} is not a valid TLS server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config);
    tokio::time::timeout(limit, connector.connect(name, tcp))
        .await
        .map_err(|_| timeout("the TLS handshake"))?
        .map_err(|e| MailError::Tls { server: server.to_owned(), reason: e.to_string() })
}

fn protocol(server: &str, stage: &str, e: async_imap::error::Error) -> MailError {
    match e {
        async_imap::error::Error::Io(io) => {
            MailError::Connect { server: server.to_owned(), reason: format!("while {stage}: {io}") }
        }
        async_imap::error::Error::ConnectionLost => {
            MailError::Connect { server: server.to_owned(), reason: format!("connection lost while {stage}") }
        }
        async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => MailError::Protocol {
            protocol: "IMAP",
            server: server.to_owned(),
            reason: format!("{stage}: the server said {}", status_text(&text)),
        },
        other => {
            MailError::Protocol { protocol: "IMAP", server: server.to_owned(), reason: format!("{stage}: {other}") }
        }
    }
}

/// The server's words from async-imap's NO/BAD text, which reads
/// `code: Some(..), info: Some("[AUTHENTICATIONFAILED] Authentication failed.")`.
fn status_text(raw: &str) -> String {
    let raw = raw.trim();
    match raw.split_once("info: Some(\"") {
        Some((_, rest)) => rest.strip_suffix("\")").unwrap_or(rest).replace("\\\"", "\"").trim().to_owned(),
        None => raw.to_owned(),
    }
}

/// `1,2,5` for UID commands.
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// An IMAP quoted string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A mailbox name as IMAP wants it: modified UTF-7 (RFC 3501 5.1.3) for
/// non-ASCII names, `&` as `&-`. Control characters are refused.
pub fn encode_mailbox_name(name: &str) -> Result<String> {
    if name.trim().is_empty() || name.chars().any(|c| c.is_control()) {
        return Err(MailError::Config(format!("invalid IMAP mailbox name {name:?}")));
    }
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names_in_modified_utf7() {
        assert_eq!(encode_mailbox_name("INBOX").unwrap(), "INBOX");
        assert_eq!(encode_mailbox_name("Processed/2024").unwrap(), "Processed/2024");
        assert_eq!(encode_mailbox_name("Entwürfe").unwrap(), "Entw&APw-rfe");
        assert_eq!(encode_mailbox_name("A&B").unwrap(), "A&-B");
        assert_eq!(encode_mailbox_name("日本語").unwrap(), "&ZeVnLIqe-");
        assert_eq!(encode_mailbox_name("~peter/mail/台北/日本語").unwrap(), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert!(encode_mailbox_name("").is_err());
        assert!(encode_mailbox_name("a\r\nb").is_err());
    }

    #[test]
    fn server_text_from_async_imap_errors() {
        let raw = r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#;
        assert_eq!(status_text(raw), "[AUTHENTICATIONFAILED] Authentication failed.");
        assert_eq!(status_text(" plain words "), "plain words");
    }

    #[test]
    fn quoting_and_sets() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(uid_set(&[1, 5, 9]), "1,5,9");
    }

    fn config(port: u16) -> ImapConfig {
        ImapConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: Security::None,
            username: "u".into(),
            password: "secret-password".into(),
            mailbox: "INBOX".into(),
            poll_secs: 60,
            processed_mailbox: None,
            timeout_secs: 2,
            ca_file: None,
        }
    }

    #[tokio::test]
    async fn refused_connection_is_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = fetch_new(&config(port)).await.unwrap_err();
        assert!(matches!(e, MailError::Connect { .. }), "{e:?}");
        assert!(e.is_transient());
        assert!(!e.to_string().contains("secret-password"));
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        // Accepts but never greets.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let mut c = config(port);
        c.timeout_secs = 1;
        let started = std::time::Instant::now();
        let e = fetch_new(&c).await.unwrap_err();
        assert!(matches!(e, MailError::Timeout { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        hold.abort();
    }

    #[tokio::test]
    async fn tls_to_a_plain_server_fails_cleanly() {
        // A server that greets in plain text: the TLS handshake must fail, not hang or panic.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let serve = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"* OK plain IMAP\r\n").await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        });
        let mut c = config(port);
        c.security = Security::Tls;
        let e = fetch_new(&c).await.unwrap_err();
        assert!(matches!(e, MailError::Tls { .. } | MailError::Timeout { .. }), "{e:?}");
        serve.abort();
    }

    #[tokio::test]
    async fn bad_mailbox_names_are_config_errors() {
        let mut c = config(1);
        c.processed_mailbox = Some("bad\nname".into());
        assert!(matches!(mark_processed(&c, &[1]).await.unwrap_err(), MailError::Config(_)));
        // Nothing to mark: no connection at all.
        assert!(mark_processed(&c, &[]).await.is_ok());
    }
}
