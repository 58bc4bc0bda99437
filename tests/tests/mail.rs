//! The mail layer against real servers on loopback: aiosmtpd (SMTP sink)
//! and dovecot (IMAP), started by `mast_tests::mail`.

use mast_controller::mail::{
    self, FetchedMail, ImapConfig, MailError, Mailer, OutgoingMail, Security, SmtpConfig, fetch_new, find_ticket,
    inbound, mark_processed,
};
use mast_tests::mail::{Dovecot, SmtpSink};
use std::time::Duration;

const USER: &str = "support@isp.example";
const PASS: &str = "s3cret-Pass";

fn smtp_config(port: u16, security: Security) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security,
        username: None,
        password: None,
        from: "Support <support@isp.example>".into(),
        reply_to: None,
        helo_name: None,
        timeout_secs: 10,
        ca_file: None,
    }
}

fn imap_config(dovecot: &Dovecot) -> ImapConfig {
    ImapConfig {
        host: "127.0.0.1".into(),
        port: Some(dovecot.port),
        security: Security::None,
        username: USER.into(),
        password: PASS.into(),
        mailbox: "INBOX".into(),
        poll_secs: 60,
        processed_mailbox: Some("Processed".into()),
        timeout_secs: 10,
        ca_file: None,
    }
}

fn customer_mail(subject: &str, extra_headers: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Jane Customer <jane@example.org>\r\nTo: {USER}\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 3 Jun 2024 10:12:00 +0000\r\n{extra_headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn smtp_sends_to_a_real_server_and_it_reads_back() {
    let sink = SmtpSink::start();
    let mailer = Mailer::new(&smtp_config(sink.port, Security::None)).unwrap();
    let mail = OutgoingMail {
        to: vec!["Jane Customer <jane@example.org>".into(), "ops@isp.example".into()],
        subject: format!("Re: {} Kein Internet – Störung", inbound::ticket_token(42)),
        text_body: "Hello Jane,\n\nthe sector is back.\n".into(),
        html_body: Some("<p>Hello Jane,</p><p>the sector is back.</p>".into()),
        attachments: vec![mail::Attachment::new("report.pdf", "application/pdf", vec![7u8; 3000])],
        in_reply_to: Some("<cust-1@example.org>".into()),
        ticket: Some(42),
        headers: vec![("X-Mast-Customer".into(), "17".into())],
        ..Default::default()
    };
    let id = mailer.send(&mail).await.unwrap();
    let received = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(received.len(), 1, "sink log:\n{}", sink.log());
    let got = &received[0];
    assert_eq!(got.from, "support@isp.example");
    let mut to = got.to.clone();
    to.sort();
    assert_eq!(to, vec!["jane@example.org", "ops@isp.example"]);
    assert!(!got.tls);

    let parsed = inbound::parse(&got.raw).unwrap();
    assert_eq!(parsed.subject, "Re: [#T-42] Kein Internet – Störung");
    assert_eq!(parsed.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(inbound::parse_mast_message_id(&id), Some(("ticket".into(), 42)));
    assert!(id.ends_with("@isp.example"));
    assert_eq!(parsed.from_name.as_deref(), Some("Support"));
    assert_eq!(parsed.in_reply_to, vec!["cust-1@example.org"]);
    assert_eq!(parsed.references, vec!["cust-1@example.org"]);
    assert_eq!(parsed.header("X-Mast-Ticket"), Some("42"));
    assert_eq!(parsed.header("X-Mast-Customer"), Some("17"));
    assert!(parsed.header("Date").is_some());
    assert_eq!(parsed.text.trim_end(), "Hello Jane,\n\nthe sector is back.");
    assert!(parsed.has_html);
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(parsed.attachments[0].name.as_deref(), Some("report.pdf"));
    assert_eq!(parsed.attachments[0].content_type, "application/pdf");
    assert_eq!(parsed.attachments[0].size, 3000);
    // An answer to it threads back to the ticket without any lookup.
    assert_eq!(find_ticket(&inbound::InboundMail { in_reply_to: vec![id], ..Default::default() }, |_| None), Some(42));
}

#[tokio::test]
async fn smtp_starttls_with_login() {
    let sink = SmtpSink::start_with_auth("relay-user", "relay-pass");
    let mut config = smtp_config(sink.port, Security::Starttls);
    config.ca_file = Some(sink.ca_file.display().to_string());
    config.username = Some("relay-user".into());
    config.password = Some("relay-pass".into());
    let mailer = Mailer::new(&config).unwrap();
    mailer.verify().await.unwrap();
    mailer.send(&OutgoingMail::new("jane@example.org", "over STARTTLS", "hi")).await.unwrap();
    let received = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(received.len(), 1, "sink log:\n{}", sink.log());
    assert!(received[0].tls);
    assert_eq!(received[0].login.as_deref(), Some("relay-user"));

    // Wrong password: an auth error that does not show it.
    config.password = Some("wrong-pass-123".into());
    let e = Mailer::new(&config).unwrap().send(&OutgoingMail::new("jane@example.org", "x", "x")).await.unwrap_err();
    assert!(matches!(e, MailError::Auth { .. }), "{e:?}");
    assert!(!e.is_transient());
    assert!(!e.to_string().contains("wrong-pass-123"), "{e}");
    assert!(!format!("{e:?}").contains("wrong-pass-123"), "{e:?}");

    // Credentials but no TLS: the server offers no AUTH, a clear error.
    let mut plain = config.clone();
    plain.security = Security::None;
    plain.password = Some("relay-pass".into());
    let e = Mailer::new(&plain).unwrap().send(&OutgoingMail::new("jane@example.org", "x", "x")).await.unwrap_err();
    assert!(matches!(e, MailError::Auth { .. }), "{e:?}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn smtp_implicit_tls_checks_the_certificate() {
    let sink = SmtpSink::start();
    let mut config = smtp_config(sink.tls_port, Security::Tls);
    // Without the test CA the certificate is not trusted.
    let e = Mailer::new(&config).unwrap().send(&OutgoingMail::new("jane@example.org", "x", "x")).await.unwrap_err();
    assert!(matches!(e, MailError::Tls { .. }), "{e:?}");
    assert!(sink.messages().is_empty());

    config.ca_file = Some(sink.ca_file.display().to_string());
    Mailer::new(&config).unwrap().send(&OutgoingMail::new("jane@example.org", "over TLS", "hi")).await.unwrap();
    let received = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(received.len(), 1, "sink log:\n{}", sink.log());
    assert!(received[0].tls);
}

#[tokio::test]
async fn smtp_bad_recipient_and_stopped_server_are_errors() {
    let mut sink = SmtpSink::start();
    let mailer = Mailer::new(&smtp_config(sink.port, Security::None)).unwrap();
    let e = mailer.send(&OutgoingMail::new("jane at example.org", "x", "x")).await.unwrap_err();
    assert!(matches!(e, MailError::InvalidAddress { .. }), "{e:?}");
    assert!(e.to_string().contains("jane at example.org"));
    sink.stop();
    let e = mailer.send(&OutgoingMail::new("jane@example.org", "x", "x")).await.unwrap_err();
    assert!(matches!(e, MailError::Connect { .. }), "{e:?}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn imap_intake_fetches_threads_and_marks_processed() {
    let dovecot = Dovecot::start(&[(USER, PASS)]);
    let config = imap_config(&dovecot);
    assert!(fetch_new(&config).await.unwrap().is_empty());

    // One of our ticket mails, really sent, then answered by the customer.
    let sink = SmtpSink::start();
    let mailer = Mailer::new(&smtp_config(sink.port, Security::None)).unwrap();
    let ours = mailer
        .send(&OutgoingMail {
            ticket: Some(7),
            ..OutgoingMail::new("jane@example.org", "Your ticket", "We are on it.")
        })
        .await
        .unwrap();

    dovecot.append(USER, PASS, &customer_mail("No internet since 9", "", "new-1@example.org", "Please help."));
    let reply = customer_mail(
        "Re: Your ticket",
        &format!("In-Reply-To: <{ours}>\r\nReferences: <{ours}>\r\n"),
        "reply-1@example.org",
        &format!("Still down.\r\n\r\nOn Mon, 3 Jun 2024 at 10:00, Support <{USER}> wrote:\r\n> We are on it.\r\n"),
    );
    dovecot.append(USER, PASS, &reply);
    dovecot.append(USER, PASS, &customer_mail("AW: [#T-42] Router", "", "token-1@example.org", "Thanks!"));

    let fetched: Vec<FetchedMail> = fetch_new(&config).await.unwrap();
    assert_eq!(fetched.len(), 3, "{fetched:?}");
    assert!(fetched.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(fetched.iter().all(|f| !f.truncated && f.uid_validity.is_some()));
    // Fetching changes nothing: still unseen, still there.
    assert_eq!(fetch_new(&config).await.unwrap().len(), 3);

    let parsed: Vec<_> = fetched.iter().map(|f| inbound::parse(&f.raw).unwrap()).collect();
    let never = |_: &str| -> Option<i64> { None };
    let threads: Vec<_> = parsed.iter().map(|m| find_ticket(m, never)).collect();
    assert_eq!(threads, vec![None, Some(7), Some(42)]);
    assert_eq!(parsed[0].subject, "No internet since 9");
    assert_eq!(parsed[0].from.as_deref(), Some("jane@example.org"));
    assert_eq!(parsed[0].from_name.as_deref(), Some("Jane Customer"));
    assert_eq!(inbound::strip_quoted(&parsed[1].text), "Still down.");
    assert!(parsed.iter().all(|m| !inbound::is_auto_generated(m)));

    let uids: Vec<u32> = fetched.iter().map(|f| f.uid).collect();
    mark_processed(&config, &uids).await.unwrap();
    assert!(fetch_new(&config).await.unwrap().is_empty());
    assert!(dovecot.mailboxes(USER, PASS).iter().any(|m| m == "Processed"), "{:?}", dovecot.mailboxes(USER, PASS));
    assert_eq!(dovecot.search(USER, PASS, "Processed", "ALL").len(), 3);
    assert_eq!(dovecot.search(USER, PASS, "Processed", "SEEN").len(), 3);
    assert!(dovecot.search(USER, PASS, "INBOX", "ALL").is_empty());

    // Next mail: the Processed mailbox exists now and is reused.
    dovecot.append(USER, PASS, &customer_mail("another", "", "new-2@example.org", "x"));
    let next = fetch_new(&config).await.unwrap();
    assert_eq!(next.len(), 1);
    mark_processed(&config, &[next[0].uid]).await.unwrap();
    assert_eq!(dovecot.search(USER, PASS, "Processed", "ALL").len(), 4);
    // Marking again (UIDs gone) is harmless.
    mark_processed(&config, &uids).await.unwrap();
}

#[tokio::test]
async fn imap_without_processed_mailbox_flags_seen() {
    let dovecot = Dovecot::start(&[(USER, PASS)]);
    let mut config = imap_config(&dovecot);
    config.processed_mailbox = None;
    dovecot.append(USER, PASS, &customer_mail("one", "", "a@example.org", "x"));
    dovecot.append(USER, PASS, &customer_mail("two", "", "b@example.org", "x"));
    let fetched = fetch_new(&config).await.unwrap();
    assert_eq!(fetched.len(), 2);
    mark_processed(&config, &[fetched[0].uid]).await.unwrap();
    let left = fetch_new(&config).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].uid, fetched[1].uid);
    assert_eq!(dovecot.search(USER, PASS, "INBOX", "SEEN"), vec![fetched[0].uid]);
    assert_eq!(dovecot.search(USER, PASS, "INBOX", "ALL").len(), 2);
    assert_eq!(dovecot.mailboxes(USER, PASS), vec!["INBOX"]);
}

#[tokio::test]
async fn imap_over_tls_and_starttls() {
    let dovecot = Dovecot::start(&[(USER, PASS)]);
    dovecot.append(USER, PASS, &customer_mail("secure", "", "tls@example.org", "x"));

    let mut tls = imap_config(&dovecot);
    tls.security = Security::Tls;
    tls.port = Some(dovecot.tls_port);
    // Not trusted without the test CA.
    let e = fetch_new(&tls).await.unwrap_err();
    assert!(matches!(e, MailError::Tls { .. }), "{e:?}");
    tls.ca_file = Some(dovecot.ca_file.display().to_string());
    assert_eq!(fetch_new(&tls).await.unwrap().len(), 1);
    mail::imap::verify(&tls).await.unwrap();

    let mut starttls = imap_config(&dovecot);
    starttls.security = Security::Starttls;
    starttls.ca_file = Some(dovecot.ca_file.display().to_string());
    let fetched = fetch_new(&starttls).await.unwrap();
    assert_eq!(fetched.len(), 1);
    mark_processed(&starttls, &[fetched[0].uid]).await.unwrap();
    assert!(fetch_new(&tls).await.unwrap().is_empty());
}

#[tokio::test]
async fn imap_errors_are_clear_and_never_panic() {
    let mut dovecot = Dovecot::start(&[(USER, PASS)]);

    let mut wrong = imap_config(&dovecot);
    wrong.password = "Wrong-Password-987".into();
    let e = fetch_new(&wrong).await.unwrap_err();
    assert!(matches!(e, MailError::Auth { .. }), "{e:?}");
    assert!(!e.is_transient());
    let text = e.to_string();
    assert!(text.contains(USER), "{text}");
    assert!(!text.contains("Wrong-Password-987") && !format!("{e:?}").contains("Wrong-Password-987"), "{e:?}");
    let e = mark_processed(&wrong, &[1]).await.unwrap_err();
    assert!(matches!(e, MailError::Auth { .. }), "{e:?}");

    let mut missing = imap_config(&dovecot);
    missing.mailbox = "NoSuchBox".into();
    let e = fetch_new(&missing).await.unwrap_err();
    assert!(matches!(e, MailError::MailboxMissing { .. }), "{e:?}");
    assert!(e.to_string().contains("NoSuchBox"));

    let config = imap_config(&dovecot);
    fetch_new(&config).await.unwrap();
    dovecot.stop();
    let e = fetch_new(&config).await.unwrap_err();
    assert!(matches!(e, MailError::Connect { .. }), "{e:?}");
    assert!(e.is_transient());
    let e = mark_processed(&config, &[1]).await.unwrap_err();
    assert!(matches!(e, MailError::Connect { .. }), "{e:?}");
}

#[tokio::test]
async fn imap_oversized_mail_comes_as_header_only() {
    let dovecot = Dovecot::start(&[(USER, PASS)]);
    let config = imap_config(&dovecot);
    let big_body = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\r\n".repeat(150_000);
    let raw = customer_mail("huge [#T-5]", "", "big@example.org", &big_body);
    assert!(raw.len() > inbound::MAX_RAW_SIZE);
    dovecot.append(USER, PASS, &raw);
    dovecot.append(USER, PASS, &customer_mail("small", "", "small@example.org", "x"));

    let fetched = fetch_new(&config).await.unwrap();
    assert_eq!(fetched.len(), 2);
    let big = &fetched[0];
    assert!(big.truncated);
    assert!(big.size.is_some_and(|s| s as usize > inbound::MAX_RAW_SIZE));
    assert!(big.raw.len() < 4096);
    // The header alone still parses and threads.
    let parsed = inbound::parse(&big.raw).unwrap();
    assert_eq!(parsed.subject, "huge [#T-5]");
    assert_eq!(find_ticket(&parsed, |_| None), Some(5));
    // And the full message is refused by the parser with a clear error.
    let e = inbound::parse(&raw).unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
    assert!(!fetched[1].truncated);
    mark_processed(&config, &[big.uid, fetched[1].uid]).await.unwrap();
    assert!(fetch_new(&config).await.unwrap().is_empty());
}
