//! Inbound mail, pure (no IO): parsing a raw RFC 5322 message, cutting the
//! quoted history and signature off a reply, finding the ticket a mail
//! belongs to, and telling automatic mail (auto-replies, bounces, lists)
//! apart so that nothing ever answers it.
//!
//! Message-IDs are handled in their bare form, without the angle brackets
//! (`mast.ticket.42.k3j…@isp.example`), as [`normalize_message_id`] makes
//! them; the Mailer returns and stores ours the same way.

use mail_parser::{MessageParser, MimeHeaders};

/// Largest raw message [`parse`] accepts (10 MiB).
pub const MAX_RAW_SIZE: usize = 10 * 1024 * 1024;

/// Why a raw message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message of {size} bytes is larger than the {limit} bytes accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("empty message")]
    Empty,
    #[error("not an email message (no header fields)")]
    NotAMessage,
}

/// One attachment of an inbound mail (its content stays in the raw message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// File name as sent (decoded), if any.
    pub name: Option<String>,
    /// `type/subtype`, lowercase.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

/// The parts of an inbound mail that the ticket system uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundMail {
    /// Sender address (From, else Sender), as written.
    pub from: Option<String>,
    /// Sender display name, decoded.
    pub from_name: Option<String>,
    /// Reply-To address, when given.
    pub reply_to: Option<String>,
    /// To addresses.
    pub to: Vec<String>,
    /// Cc addresses.
    pub cc: Vec<String>,
    /// Subject, decoded (RFC 2047); empty when absent.
    pub subject: String,
    /// Message-ID, bare (no angle brackets).
    pub message_id: Option<String>,
    /// In-Reply-To ids, bare.
    pub in_reply_to: Vec<String>,
    /// References ids, bare, oldest first.
    pub references: Vec<String>,
    /// Date header as Unix seconds (UTC), when present and valid.
    pub date: Option<i64>,
    /// The plain-text body (the first text part; an HTML-only mail is turned
    /// into text), with `\n` line ends. Quoted history is still in it: see
    /// [`strip_quoted`].
    pub text: String,
    /// Whether the mail had an HTML body.
    pub has_html: bool,
    /// Attachments (names and sizes).
    pub attachments: Vec<AttachmentInfo>,
    /// Every header field in order: name and unfolded raw value.
    pub headers: Vec<(String, String)>,
}

impl InboundMail {
    /// The first header field called `name` (case-insensitive), raw and unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header field called `name` (case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The address to answer: Reply-To, else From.
    pub fn reply_address(&self) -> Option<&str> {
        self.reply_to.as_deref().or(self.from.as_deref())
    }
}

/// Parses a raw message. Refuses more than [`MAX_RAW_SIZE`] bytes; anything
/// else that has at least one header field parses (missing parts are empty).
pub fn parse(raw: &[u8]) -> Result<InboundMail, ParseError> {
    if raw.len() > MAX_RAW_SIZE {
        return Err(ParseError::TooLarge { size: raw.len(), limit: MAX_RAW_SIZE });
    }
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    let msg = MessageParser::default().parse(raw).ok_or(ParseError::NotAMessage)?;
    if msg.headers().is_empty() {
        return Err(ParseError::NotAMessage);
    }

    fn first_addr<'a>(a: Option<&'a mail_parser::Address<'_>>) -> Option<&'a mail_parser::Addr<'a>> {
        a.and_then(|a| a.first())
    }
    let sender = first_addr(msg.from()).or_else(|| first_addr(msg.sender()));
    let from = sender.as_ref().and_then(|a| a.address()).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let from_name = sender.as_ref().and_then(|a| a.name()).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let reply_to = first_addr(msg.reply_to()).and_then(|a| a.address().map(|s| s.trim().to_owned()));
    let addresses = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|a| a.address()).map(|s| s.trim().to_owned()).collect()).unwrap_or_default()
    };
    let ids = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        match v {
            mail_parser::HeaderValue::Text(t) => normalize_message_id(t).into_iter().collect(),
            mail_parser::HeaderValue::TextList(l) => l.iter().filter_map(|t| normalize_message_id(t)).collect(),
            _ => Vec::new(),
        }
    };

    let text = match msg.body_text(0) {
        Some(t) => t.replace("\r\n", "\n"),
        None => msg.body_html(0).map(|h| html_to_text(&h)).unwrap_or_default(),
    };
    let attachments = msg
        .attachments()
        .map(|part| AttachmentInfo {
            name: part.attachment_name().map(str::to_owned),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase(),
            size: part.len(),
        })
        .collect();
    let headers = msg.headers_raw().map(|(n, v)| (n.to_owned(), unfold(v))).collect();

    Ok(InboundMail {
        from,
        from_name,
        reply_to,
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        subject: msg.subject().map(|s| s.trim().to_owned()).unwrap_or_default(),
        message_id: msg.message_id().and_then(normalize_message_id),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        date: msg.date().filter(|d| d.is_valid()).map(|d| d.to_timestamp()),
        text,
        has_html: msg.html_bodies().any(|p| p.is_text_html()),
        attachments,
        headers,
    })
}

/// Unfolds a raw header value (CRLF + whitespace → one space) and trims it.
fn unfold(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = false;
    for line in raw.split('\n') {
        let line = line.trim_end_matches('\r');
        if pending_space && !out.is_empty() && !line.trim().is_empty() {
            out.push(' ');
        }
        out.push_str(line.trim_matches(|c| c == ' ' || c == '\t'));
        pending_space = true;
    }
    out.trim().to_owned()
}

/// A Message-ID in its bare form: trimmed, angle brackets removed; `None`
/// when it is empty or holds whitespace, control characters or brackets.
pub fn normalize_message_id(id: &str) -> Option<String> {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id).trim();
    let ok = !id.is_empty()
        && id.len() <= 998
        && id.chars().all(|c| c.is_ascii_graphic() && c != '<' && c != '>')
        && !id.starts_with('@')
        && !id.ends_with('@');
    ok.then(|| id.to_owned())
}

/// The subject token of ticket `id`: `[#T-123]`.
pub fn ticket_token(id: i64) -> String {
    format!("[#T-{id}]")
}

/// The first valid ticket token in `subject`: `[#T-<digits>]` (the `T` in
/// either case) with a positive id that fits an i64. Anything else (`[#T-]`,
/// `[#T-12a]`, `[#T-0]`, an overflowing id) is ignored and the search goes on.
pub fn parse_ticket_token(subject: &str) -> Option<i64> {
    let bytes = subject.as_bytes();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        if bytes[i] == b'[' && bytes[i + 1] == b'#' && bytes[i + 2].eq_ignore_ascii_case(&b't') && bytes[i + 3] == b'-'
        {
            let digits: &[u8] = &bytes[i + 4..];
            let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
            if n > 0 && digits.get(n) == Some(&b']') {
                // ASCII digits only, so this slice is valid UTF-8.
                if let Ok(id) = std::str::from_utf8(&digits[..n]).unwrap_or("").parse::<i64>()
                    && id > 0
                {
                    return Some(id);
                }
            }
        }
        i += 1;
    }
    None
}

/// Splits one of our Message-IDs, `mast.{kind}.{id}.{random}@{domain}`
/// (bare or in brackets), into kind and id. `None` for any other id, or an id
/// that is not a positive i64.
pub fn parse_mast_message_id(message_id: &str) -> Option<(String, i64)> {
    let bare = normalize_message_id(message_id)?;
    let (local, domain) = bare.rsplit_once('@')?;
    if domain.is_empty() {
        return None;
    }
    let mut parts = local.split('.');
    if parts.next()? != "mast" {
        return None;
    }
    let kind = parts.next()?;
    let id = parts.next()?;
    let random = parts.next()?;
    if parts.next().is_some()
        || kind.is_empty()
        || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        || random.is_empty()
        || id.is_empty()
        || !id.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let id: i64 = id.parse().ok().filter(|&n| n > 0)?;
    Some((kind.to_owned(), id))
}

/// The ticket an inbound mail belongs to, if any:
/// 1. its In-Reply-To, then its References (newest first): one of our
///    `mast.ticket.{id}.…` ids gives the ticket directly; any other id is
///    looked up with `known_message_ids` (ids of customer mail already stored
///    on a ticket, bare form);
/// 2. else a `[#T-123]` token in the subject.
///
/// Both can be forged by anyone who knows a ticket number (as in every help
/// desk): the caller should check that the sender belongs to the ticket.
pub fn find_ticket(mail: &InboundMail, known_message_ids: impl Fn(&str) -> Option<i64>) -> Option<i64> {
    let ids = mail.in_reply_to.iter().chain(mail.references.iter().rev());
    for id in ids {
        match parse_mast_message_id(id) {
            Some((kind, ticket)) if kind == "ticket" => return Some(ticket),
            _ => {}
        }
        if let Some(ticket) = known_message_ids(id) {
            return Some(ticket);
        }
    }
    parse_ticket_token(&mail.subject)
}

/// Why a mail counts as automatic, if it does: an auto-reply (RFC 3834
/// `Auto-Submitted`, `X-Autoreply`, `X-Autorespond`, Exchange's
/// `X-Auto-Response-Suppress`), bulk or list mail (`Precedence`, `List-Id`,
/// `List-Unsubscribe`), a bounce (empty `Return-Path`, `multipart/report`,
/// MAILER-DAEMON or postmaster sender), or a no-reply sender. Such mail may
/// still be stored, but must never be answered automatically (mail loops).
pub fn auto_generated_reason(mail: &InboundMail) -> Option<&'static str> {
    if let Some(v) = mail.header("Auto-Submitted") {
        let v = v.split(';').next().unwrap_or("").trim();
        if !v.eq_ignore_ascii_case("no") && !v.is_empty() {
            return Some("Auto-Submitted header");
        }
    }
    if mail.header("X-Autoreply").is_some() || mail.header("X-Autorespond").is_some() {
        return Some("X-Autoreply header");
    }
    if let Some(v) = mail.header("X-Auto-Response-Suppress") {
        let v = v.to_ascii_lowercase();
        if ["all", "oof", "autoreply", "dr", "rn", "nrn"].iter().any(|k| v.split([',', ' ']).any(|w| w == *k)) {
            return Some("X-Auto-Response-Suppress header");
        }
    }
    if let Some(v) = mail.header("Precedence") {
        let v = v.trim().to_ascii_lowercase();
        if ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str()) {
            return Some("Precedence header");
        }
    }
    if mail.header("List-Id").is_some() || mail.header("List-Unsubscribe").is_some() {
        return Some("mailing list");
    }
    if let Some(v) = mail.header("Return-Path")
        && v.trim_matches(|c: char| c.is_whitespace() || c == '<' || c == '>').is_empty()
    {
        return Some("empty Return-Path (bounce)");
    }
    if let Some(ct) = mail.header("Content-Type") {
        let ct = ct.to_ascii_lowercase();
        if ct.starts_with("multipart/report") || ct.starts_with("message/delivery-status") {
            return Some("delivery report");
        }
    }
    if let Some(from) = &mail.from {
        let local = from.rsplit_once('@').map_or(from.as_str(), |(l, _)| l).to_ascii_lowercase();
        if local == "mailer-daemon" || local == "postmaster" {
            return Some("mail system sender");
        }
        let squashed: String = local.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if squashed == "noreply" || squashed == "donotreply" {
            return Some("no-reply sender");
        }
    } else {
        return Some("no sender address");
    }
    None
}

/// Whether the mail is automatic (see [`auto_generated_reason`]): never
/// answer it.
pub fn is_auto_generated(mail: &InboundMail) -> bool {
    auto_generated_reason(mail).is_some()
}

/// Crude HTML to text: drops `<script>`/`<style>`/`<head>` content and tags,
/// breaks lines at block tags, decodes the common entities.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let end = match html[i..].find('>') {
                Some(e) => i + e + 1,
                None => break,
            };
            let tag = lower[i + 1..end - 1].trim_start_matches('/');
            let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            if ["script", "style", "head", "title"].contains(&name.as_str()) && !lower[i + 1..].starts_with('/') {
                let close = format!("</{name}");
                i = match lower[end..].find(&close) {
                    Some(c) => lower[end + c..].find('>').map_or(bytes.len(), |g| end + c + g + 1),
                    None => bytes.len(),
                };
                continue;
            }
            if ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"]
                .contains(&name.as_str())
            {
                out.push('\n');
            }
            i = end;
        } else {
            let next = html[i..].find('<').map_or(bytes.len(), |n| i + n);
            out.push_str(&html[i..next]);
            i = next;
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let mut text = String::new();
    let mut blank = 0;
    for line in lines {
        if line.is_empty() {
            blank += 1;
            if blank > 1 || text.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        text.push_str(line);
        text.push('\n');
    }
    text.trim_end().to_owned()
}

/// The new words of a reply: quoted history and signature removed.
///
/// * lines starting with `>` are dropped wherever they are (inline and
///   bottom-posted replies keep the unquoted lines between quotes);
/// * an attribution line — `On … wrote:` (also wrapped over up to three
///   lines, and the German/French/Spanish/Dutch forms) or any line ending in
///   `wrote:` — is dropped when a `>` quote follows it; when unquoted text
///   follows (Gmail/Apple HTML turned to text) everything from it on is cut,
///   provided it holds a date or an address;
/// * everything from `-----Original Message-----` (and its German, French,
///   Spanish, Dutch forms) or an Outlook `From: … Sent: … To: …` header block
///   (also after a `_____` rule) on is cut; forwarded mail is kept;
/// * a signature from a `-- ` line on is cut, as is a final `Sent from my …`.
///
/// The result is trimmed and may be empty (a reply with nothing new).
pub fn strip_quoted(body: &str) -> String {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = body.split('\n').collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.starts_with('>') {
            i += 1;
            continue;
        }
        if line.trim_end() == "--" {
            break;
        }
        if is_original_message_rule(t) || is_outlook_header_block(&lines, i) {
            break;
        }
        if is_underscore_rule(t) && is_outlook_header_block(&lines, next_nonblank(&lines, i + 1).unwrap_or(lines.len()))
        {
            break;
        }
        if let Some(end) = attribution_end(&lines, i) {
            match next_nonblank(&lines, end + 1) {
                Some(n) if lines[n].trim_start().starts_with('>') => {
                    i = end + 1;
                    continue;
                }
                // Unquoted history: only a real attribution (with a date or
                // an address) cuts, not "On Monday the technician wrote:".
                _ if lines[i..=end].iter().any(|l| l.contains(|c: char| c.is_ascii_digit() || c == '@')) => break,
                _ => {}
            }
        }
        kept.push(line);
        i += 1;
    }
    // A trailing "Sent from my iPhone" style line.
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    if kept.last().is_some_and(|l| {
        let l = l.trim().to_ascii_lowercase();
        (l.starts_with("sent from my ") || l.starts_with("get outlook for ")) && l.len() < 80
    }) {
        kept.pop();
    }
    let text = kept.iter().map(|l| l.trim_end()).collect::<Vec<_>>().join("\n");
    text.trim_matches('\n').trim_end().to_owned()
}

fn next_nonblank(lines: &[&str], from: usize) -> Option<usize> {
    (from..lines.len()).find(|&j| !lines[j].trim().is_empty())
}

fn is_original_message_rule(t: &str) -> bool {
    let l = t.to_ascii_lowercase();
    let core = l.trim_matches(|c: char| c == '-' || c == ' ' || c == '_' || c == '*');
    (l.starts_with("---") || l.starts_with("___"))
        && matches!(
            core,
            "original message"
                | "ursprüngliche nachricht"
                | "message d'origine"
                | "mensaje original"
                | "oorspronkelijk bericht"
                | "reply message"
        )
}

fn is_underscore_rule(t: &str) -> bool {
    t.len() >= 10 && t.chars().all(|c| c == '_')
}

/// An Outlook-style quoted header block starting at line `i`: `From:`
/// followed within four lines by `Sent:`/`Date:` and `To:`/`Subject:`.
fn is_outlook_header_block(lines: &[&str], i: usize) -> bool {
    fn field(line: &str, names: &[&str]) -> bool {
        let t = line.trim().trim_start_matches('*').to_lowercase();
        names.iter().any(|n| {
            t.strip_prefix(n).is_some_and(|rest| {
                let rest = rest.trim_start_matches('*').trim_start();
                rest.starts_with(':')
            })
        })
    }
    let Some(first) = lines.get(i) else { return false };
    if !field(first, &["from", "von", "de", "van"]) {
        return false;
    }
    let window = &lines[i + 1..lines.len().min(i + 6)];
    let sent =
        window.iter().any(|l| field(l, &["sent", "date", "gesendet", "datum", "envoyé", "enviado", "verzonden"]));
    let to =
        window.iter().any(|l| field(l, &["to", "subject", "an", "betreff", "à", "objet", "para", "asunto", "aan"]));
    sent && to
}

/// If an attribution (`On … wrote:`) starts at line `i`, the index of its
/// last line.
fn attribution_end(lines: &[&str], i: usize) -> Option<usize> {
    const STARTS: [&str; 5] = ["on ", "am ", "le ", "el ", "op "];
    const ENDS: [&str; 4] = ["wrote:", "a écrit :", "a écrit:", "escribió:"];
    const VERBS: [&str; 6] = [" wrote", " schrieb ", " a écrit", " escribió", " schreef ", " geschreven"];
    let first = lines[i].trim().to_lowercase();
    if first.is_empty() {
        return None;
    }
    let ends = |s: &str| ENDS.iter().any(|e| s.trim_end().ends_with(e));
    let attribution = |s: &str| {
        let s = s.trim_end();
        ends(s) || (s.ends_with(':') && VERBS.iter().any(|v| s.contains(v)))
    };
    if STARTS.iter().any(|s| first.starts_with(s)) {
        let mut joined = String::new();
        for (k, line) in lines.iter().enumerate().skip(i).take(3) {
            if k > i && line.trim().is_empty() {
                break;
            }
            joined.push_str(&line.trim().to_lowercase());
            if attribution(&joined) {
                return Some(k);
            }
            joined.push(' ');
        }
        return None;
    }
    // "John Doe <john@example.com> wrote:" directly above a quote.
    if ends(&first) && first.len() < 200 {
        let next = next_nonblank(lines, i + 1)?;
        return lines[next].trim_start().starts_with('>').then_some(i);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}").replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
    }

    #[test]
    fn parses_a_simple_mail() {
        let raw = mail(
            "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>\nTo: Support <support@isp.example>, b@isp.example\n\
             Cc: c@example.org\nSubject: =?UTF-8?B?S2VpbiBJbnRlcm5ldCDwn5ii?=\nMessage-ID: <abc.123@example.org>\n\
             In-Reply-To: <mast.ticket.7.x1@isp.example>\nReferences: <first@example.org>\n <mast.ticket.7.x1@isp.example>\n\
             Date: Mon, 3 Jun 2024 10:12:00 +0200\nReply-To: other@example.org",
            "Hello,\nno internet since 9am.\n",
        );
        let m = parse(&raw).unwrap();
        assert_eq!(m.from.as_deref(), Some("jm@example.org"));
        assert_eq!(m.from_name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(m.reply_to.as_deref(), Some("other@example.org"));
        assert_eq!(m.reply_address(), Some("other@example.org"));
        assert_eq!(m.to, vec!["support@isp.example", "b@isp.example"]);
        assert_eq!(m.cc, vec!["c@example.org"]);
        assert_eq!(m.subject, "Kein Internet 😢");
        assert_eq!(m.message_id.as_deref(), Some("abc.123@example.org"));
        assert_eq!(m.in_reply_to, vec!["mast.ticket.7.x1@isp.example"]);
        assert_eq!(m.references, vec!["first@example.org", "mast.ticket.7.x1@isp.example"]);
        assert_eq!(m.date, Some(1717402320));
        assert_eq!(m.text.trim_end(), "Hello,\nno internet since 9am.");
        assert!(!m.has_html);
        assert!(m.attachments.is_empty());
        assert_eq!(m.header("references"), Some("<first@example.org> <mast.ticket.7.x1@isp.example>"));
        assert!(!is_auto_generated(&m));
    }

    #[test]
    fn parses_multipart_with_attachment_and_html() {
        let raw = mail(
            "From: a@example.org\nSubject: photo\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"",
            "--XX\nContent-Type: multipart/alternative; boundary=\"YY\"\n\n--YY\nContent-Type: text/plain; charset=utf-8\n\n\
             See photo.\n--YY\nContent-Type: text/html; charset=utf-8\n\n<p>See <b>photo</b>.</p>\n--YY--\n\
             --XX\nContent-Type: image/png; name=\"dish.png\"\nContent-Disposition: attachment; filename=\"dish.png\"\n\
             Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--XX--\n",
        );
        let m = parse(&raw).unwrap();
        assert_eq!(m.text.trim(), "See photo.");
        assert!(m.has_html);
        assert_eq!(
            m.attachments,
            vec![AttachmentInfo { name: Some("dish.png".into()), content_type: "image/png".into(), size: 8 }]
        );
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = mail(
            "From: a@example.org\nSubject: x\nContent-Type: text/html; charset=utf-8",
            "<html><head><style>p{color:red}</style></head><body><p>Line &amp; one</p><div>Line two</div></body></html>",
        );
        let m = parse(&raw).unwrap();
        assert!(m.text.contains("Line & one"), "{:?}", m.text);
        assert!(m.text.contains("Line two"));
        assert!(!m.text.contains("color"));
        assert!(!m.text.contains('<'));
    }

    #[test]
    fn crude_html_to_text() {
        let t = html_to_text(
            "<html><head><title>T</title><script>var a = '<p>';</script></head><body>Hi&nbsp;there<br>\
             <p>second &lt;line&gt;</p><p></p><p></p><div>third</div></body></html>",
        );
        assert_eq!(t, "Hi there\n\nsecond <line>\n\nthird");
        assert_eq!(html_to_text("no tags"), "no tags");
        assert_eq!(html_to_text("broken <b"), "broken");
    }

    #[test]
    fn refuses_large_and_empty_input() {
        let big = vec![b'a'; MAX_RAW_SIZE + 1];
        assert_eq!(parse(&big), Err(ParseError::TooLarge { size: MAX_RAW_SIZE + 1, limit: MAX_RAW_SIZE }));
        assert!(parse(&big).unwrap_err().to_string().contains("larger than"));
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"  \r\n "), Err(ParseError::Empty));
    }

    #[test]
    fn message_ids() {
        assert_eq!(normalize_message_id(" <a.b@c> ").as_deref(), Some("a.b@c"));
        assert_eq!(normalize_message_id("a.b@c").as_deref(), Some("a.b@c"));
        assert_eq!(normalize_message_id("<a b@c>"), None);
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(normalize_message_id("a\r\nX-Evil: 1"), None);
        assert_eq!(parse_mast_message_id("<mast.ticket.123.k3j9@isp.example>"), Some(("ticket".into(), 123)));
        assert_eq!(parse_mast_message_id("mast.notice.5.zz@isp.example"), Some(("notice".into(), 5)));
        for bad in [
            "mast.ticket.abc.k@isp.example",
            "mast.ticket.-1.k@isp.example",
            "mast.ticket.0.k@isp.example",
            "mast.ticket.99999999999999999999.k@isp.example",
            "mast.ticket.1@isp.example",
            "mast.ticket.1.k@",
            "mast.ticket.1.k.extra@isp.example",
            "xmast.ticket.1.k@isp.example",
            "mast..1.k@isp.example",
        ] {
            assert_eq!(parse_mast_message_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn ticket_tokens() {
        assert_eq!(ticket_token(123), "[#T-123]");
        assert_eq!(parse_ticket_token("Re: [#T-123] No internet"), Some(123));
        assert_eq!(parse_ticket_token("AW: RE: no internet [#t-9]"), Some(9));
        assert_eq!(parse_ticket_token("[#T-] [#T-12a] [#T-0] [#T-99999999999999999999] [#T-5]"), Some(5));
        assert_eq!(parse_ticket_token("[#T-12a]"), None);
        assert_eq!(parse_ticket_token("#T-12"), None);
        assert_eq!(parse_ticket_token("[#T-12"), None);
        assert_eq!(parse_ticket_token("ticket 12"), None);
        assert_eq!(parse_ticket_token("[#T-٣]"), None);
        assert_eq!(parse_ticket_token("ü[#T-1]ü"), Some(1));
    }

    #[test]
    fn threading_prefers_headers_then_subject() {
        let lookup = |id: &str| (id == "cust.1@example.org").then_some(77);
        let mut m = InboundMail { subject: "Re: [#T-42] slow".into(), ..Default::default() };
        assert_eq!(find_ticket(&m, lookup), Some(42));
        m.references = vec!["cust.1@example.org".into()];
        assert_eq!(find_ticket(&m, lookup), Some(77));
        m.in_reply_to = vec!["mast.ticket.5.abc@isp.example".into()];
        assert_eq!(find_ticket(&m, lookup), Some(5));
        // Our own ids are parsed without asking the lookup.
        let never = |_: &str| -> Option<i64> { panic!("lookup must not be called") };
        assert_eq!(find_ticket(&m, never), Some(5));
        // Not a ticket id of ours, unknown to the lookup: the subject decides.
        let m = InboundMail {
            in_reply_to: vec!["mast.notice.9.x@isp.example".into(), "unknown@x".into()],
            subject: "[#T-abc] [#T-3]".into(),
            ..Default::default()
        };
        assert_eq!(find_ticket(&m, |_| None), Some(3));
        let m = InboundMail { subject: "Hello [#T-x]".into(), ..Default::default() };
        assert_eq!(find_ticket(&m, |_| None), None);
    }

    #[test]
    fn auto_generated_detection() {
        let check = |headers: &str| {
            let raw = mail(&format!("From: person@example.org\nSubject: x\n{headers}"), "x");
            auto_generated_reason(&parse(&raw).unwrap())
        };
        assert_eq!(check("X-Other: 1"), None);
        assert_eq!(check("Auto-Submitted: no"), None);
        assert!(check("Auto-Submitted: auto-replied").is_some());
        assert!(check("Auto-Submitted: auto-generated; owner-email=x@y").is_some());
        assert!(check("X-Autoreply: yes").is_some());
        assert!(check("X-Autorespond: yes").is_some());
        assert!(check("X-Auto-Response-Suppress: All").is_some());
        assert!(check("Precedence: bulk").is_some());
        assert!(check("Precedence: Junk").is_some());
        assert!(check("Precedence: list").is_some());
        assert_eq!(check("Precedence: first-class"), None);
        assert!(check("List-Id: <news.example.org>").is_some());
        assert!(check("Return-Path: <>").is_some());
        assert_eq!(check("Return-Path: <person@example.org>"), None);
        assert!(check("Content-Type: multipart/report; report-type=delivery-status; boundary=x").is_some());
        let from = |f: &str| is_auto_generated(&parse(&mail(&format!("From: {f}\nSubject: x"), "x")).unwrap());
        assert!(from("Mail Delivery System <MAILER-DAEMON@mx.example.org>"));
        assert!(from("postmaster@example.org"));
        assert!(from("no-reply@bank.example"));
        assert!(from("noreply@bank.example"));
        assert!(from("do_not_reply@bank.example"));
        assert!(!from("Noreen <noreen@example.org>"));
        assert!(is_auto_generated(&parse(b"Subject: no sender\r\n\r\nx").unwrap()));
    }

    #[test]
    fn strip_gmail_style() {
        let body = "Thanks, it works again.\n\nOn Mon, Jun 3, 2024 at 10:12 AM Support <support@isp.example> wrote:\n\n\
                    > Hello,\n> please restart the router.\n>\n> -- \n> Support\n";
        assert_eq!(strip_quoted(body), "Thanks, it works again.");
        // Gmail wraps long attributions.
        let body = "Still down.\r\n\r\nOn Mon, Jun 3, 2024 at 10:12 AM Jürgen Müller-Lüdenscheidt <\r\n\
                    juergen@example.org> wrote:\r\n\r\n> Earlier text\r\n";
        assert_eq!(strip_quoted(body), "Still down.");
    }

    #[test]
    fn strip_outlook_style() {
        let body = "Yes, please come on Tuesday.\n\n________________________________\nFrom: Support <support@isp.example>\n\
                    Sent: Monday, June 3, 2024 10:12 AM\nTo: John <john@example.org>\nSubject: RE: [#T-42] Slow\n\n\
                    When would suit you?\n";
        assert_eq!(strip_quoted(body), "Yes, please come on Tuesday.");
        let body = "ok\n\n-----Original Message-----\nFrom: Support\nSent: today\n\nold text";
        assert_eq!(strip_quoted(body), "ok");
        let body = "ok\n\n*From:* Support <support@isp.example>\n*Sent:* Monday\n*To:* me\n*Subject:* x\n\nold";
        assert_eq!(strip_quoted(body), "ok");
        let body = "Gut.\n\nVon: Support <support@isp.example>\nGesendet: Montag, 3. Juni 2024 10:12\nAn: Hans\n\
                    Betreff: AW: x\n\nalt";
        assert_eq!(strip_quoted(body), "Gut.");
        // A "From:" line in the customer's own words is kept.
        let body = "From: the router's log, it drops at night.\nCan you check?";
        assert_eq!(strip_quoted(body), body);
    }

    #[test]
    fn strip_apple_mail_style() {
        let body = "Works now\n\nSent from my iPhone\n\n> On 3 Jun 2024, at 10:12, Support <support@isp.example> wrote:\n\
                    > \n> Hello\n";
        assert_eq!(strip_quoted(body), "Works now");
        // Apple Mail unquoted (HTML turned to text): the attribution cuts.
        let body = "Works now\n\nOn 3 Jun 2024, at 10:12, Support <support@isp.example> wrote:\n\nHello";
        assert_eq!(strip_quoted(body), "Works now");
    }

    #[test]
    fn strip_keeps_inline_and_bottom_posted_answers() {
        let body = "On Mon, Support wrote:\n> Is the light green?\nNo, red.\n> Did you restart?\nYes twice.\n\n-- \nJohn\n\
                    555-1234";
        assert_eq!(strip_quoted(body), "No, red.\nYes twice.");
        let body = "John <john@example.org> wrote:\n> old\n\nnew text";
        assert_eq!(strip_quoted(body), "new text");
        let body = "Le lun. 3 juin 2024 à 10:12, Support <s@isp.example> a écrit :\n> vieux\nnouveau";
        assert_eq!(strip_quoted(body), "nouveau");
        let body = "Am 03.06.2024 um 10:12 schrieb Support:\n> alt\nneu";
        assert_eq!(strip_quoted(body), "neu");
    }

    #[test]
    fn strip_signature_and_plain_text() {
        assert_eq!(strip_quoted("Hello\n\nJohn\n-- \nJohn Doe\nACME"), "Hello\n\nJohn");
        assert_eq!(strip_quoted("Hello\n--\nsig"), "Hello");
        assert_eq!(strip_quoted("a -- b\n---\nc"), "a -- b\n---\nc");
        assert_eq!(strip_quoted("  \n\nplain text, nothing quoted\n\n"), "plain text, nothing quoted");
        assert_eq!(strip_quoted("> only a quote\n> more"), "");
        assert_eq!(
            strip_quoted("On the roof the dish wrote: nothing\nsecond line"),
            "On the roof the dish wrote: nothing\nsecond line"
        );
        // "On …" without "wrote:" is a normal sentence.
        assert_eq!(strip_quoted("On Monday it failed.\nToday too."), "On Monday it failed.\nToday too.");
        let body = "On Monday the technician wrote:\nthe dish is misaligned";
        assert_eq!(strip_quoted(body), body);
    }

    proptest! {
        #[test]
        fn parse_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse(&raw);
        }

        #[test]
        fn parse_never_panics_on_mail_like_text(
            headers in proptest::collection::vec(("[A-Za-z-]{1,20}", "[ -~\t]{0,80}"), 0..12),
            body in "(?s).{0,400}",
        ) {
            let mut raw = String::new();
            for (n, v) in &headers {
                raw.push_str(&format!("{n}: {v}\r\n"));
            }
            raw.push_str("\r\n");
            raw.push_str(&body);
            if let Ok(m) = parse(raw.as_bytes()) {
                let _ = find_ticket(&m, |_| None);
                let _ = is_auto_generated(&m);
                let _ = strip_quoted(&m.text);
            }
        }

        #[test]
        fn token_round_trip(id in 1i64..=i64::MAX, prefix in "[^\\[]{0,20}", suffix in ".{0,20}") {
            let subject = format!("{prefix}{}{suffix}", ticket_token(id));
            prop_assert_eq!(parse_ticket_token(&subject), Some(id));
        }

        #[test]
        fn token_parser_never_panics_or_yields_nonpositive(s in ".{0,60}") {
            if let Some(id) = parse_ticket_token(&s) {
                prop_assert!(id > 0);
            }
        }

        #[test]
        fn strip_never_panics_and_only_removes(s in "(?s).{0,400}") {
            let out = strip_quoted(&s);
            let normalized = s.replace("\r\n", "\n").replace('\r', "\n");
            for line in out.lines() {
                prop_assert!(normalized.lines().any(|l| l.trim_end() == line), "{line:?} not in input");
            }
        }

        #[test]
        fn html_to_text_never_panics(s in "(?s).{0,300}") {
            let _ = html_to_text(&s);
        }
    }
}
