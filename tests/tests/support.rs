//! The support desk end to end with real processes: a controller reading a
//! real IMAP mailbox (dovecot) and sending through a real SMTP server
//! (aiosmtpd). Mail opens a ticket and is acknowledged with its token; a
//! staff reply is mailed threaded; the customer's answer (quoted history
//! stripped) joins the ticket; a stranger naming the ticket opens a separate
//! one; an auto-reply is ignored. Both backends.

use mast_tests::mail::{Dovecot, SmtpSink};
use mast_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const BOX: &str = "support@isp.example";
const PASS: &str = "Mailbox-Pass-1";

on_both_backends!(email_tickets_round_trip);

fn mail(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {BOX}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn post(c: &Controller, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    let r =
        reqwest::Client::new().post(format!("http://{}{path}", c.http)).bearer_auth(token).json(&body).send().await?;
    anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
    Ok(r.json().await?)
}

async fn email_tickets_round_trip(backend: Backend) -> anyhow::Result<()> {
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start(&[(BOX, PASS)]);
    let (smtp_port, imap_port) = (sink.port.to_string(), dovecot.port.to_string());
    let env = [
        ("MAST_SMTP_HOST", "127.0.0.1"),
        ("MAST_SMTP_PORT", smtp_port.as_str()),
        ("MAST_SMTP_SECURITY", "none"),
        ("MAST_MAIL_FROM", "Example WISP <support@isp.example>"),
        ("MAST_IMAP_HOST", "127.0.0.1"),
        ("MAST_IMAP_PORT", imap_port.as_str()),
        ("MAST_IMAP_SECURITY", "none"),
        ("MAST_IMAP_USERNAME", BOX),
        ("MAST_IMAP_PASSWORD", PASS),
        ("MAST_IMAP_POLL_SECS", "1"),
        ("MAST_NOTIFY_INTERVAL_SECS", "1"),
    ];
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    let tok = c.token("support");
    let jane: i64 =
        c.cli_ok(&["customer", "add", "--name", "Jane Doe", "--email", "Jane@Example.org"]).trim().parse()?;

    // 1. A new mail from a known customer opens a ticket for her, acknowledged.
    dovecot.append(
        BOX,
        PASS,
        &mail(
            "Jane Doe <jane@example.org>",
            "Internet drops every evening",
            "q1@example.org",
            "",
            "It drops at 8 pm.\n\n-- \nJane",
        ),
    );
    let ticket = c
        .wait_for("the email ticket", Duration::from_secs(20), async || {
            let (_, v) = c.get("/api/v1/tickets", &tok).await.ok()?;
            v["tickets"].as_array()?.iter().find(|t| t["source"] == "email").cloned()
        })
        .await?;
    let id = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["customer_id"], jane, "matched by address, whatever its case: {ticket}");
    assert_eq!(ticket["subject"], "Internet drops every evening");
    let (_, full) = c.get(&format!("/api/v1/tickets/{id}"), &tok).await?;
    assert_eq!(full["events"][0]["body"], "It drops at 8 pm.", "signature stripped: {full}");
    let ack = sink.wait_for(1, Duration::from_secs(20));
    let raw = String::from_utf8_lossy(&ack[0].raw).to_string();
    assert_eq!(ack[0].to, vec!["jane@example.org".to_string()]);
    assert!(header(&raw, "Subject").unwrap().contains(&format!("[#T-{id}]")), "{raw}");
    assert_eq!(header(&raw, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header(&raw, "In-Reply-To"), Some("<q1@example.org>"));

    // 2. A staff reply is mailed, threaded on her mail.
    post(
        &c,
        &format!("/api/v1/tickets/{id}/actions"),
        &tok,
        json!({"action": "reply", "body": "Does it happen when it rains?"}),
    )
    .await?;
    let out = sink.wait_for(2, Duration::from_secs(20));
    let reply = String::from_utf8_lossy(&out[1].raw).to_string();
    assert!(reply.contains("Does it happen when it rains?"), "{reply}");
    assert_eq!(header(&reply, "In-Reply-To"), Some("<q1@example.org>"));
    let our_id = header(&reply, "Message-ID").unwrap().to_string();
    assert!(our_id.starts_with(&format!("<mast.ticket.{id}.")), "{our_id}");
    post(&c, &format!("/api/v1/tickets/{id}/actions"), &tok, json!({"action": "wait"})).await?;

    // 3. Her answer threads by In-Reply-To (no token in the subject), quoted text stripped,
    //    and reopens the ticket that waited on her.
    dovecot.append(
        BOX,
        PASS,
        &mail(
            "jane@example.org",
            "Re: your question",
            "q2@example.org",
            &format!("In-Reply-To: {our_id}\r\nReferences: <q1@example.org> {our_id}\r\n"),
            "Yes, only when it rains.\n\nOn Thu, Nov 26, 2026, Support wrote:\n> Does it happen when it rains?",
        ),
    );
    c.wait_for("her reply on the ticket", Duration::from_secs(20), async || {
        let (_, v) = c.get(&format!("/api/v1/tickets/{id}"), &tok).await.ok()?;
        let ev = v["events"].as_array()?;
        ev.iter().any(|e| e["kind"] == "customer" && e["body"] == "Yes, only when it rains.").then_some(())
    })
    .await?;
    let (_, v) = c.get(&format!("/api/v1/tickets/{id}"), &tok).await?;
    assert_eq!(v["ticket"]["status"], "open", "a customer reply reopens a waiting ticket");

    // 4. A stranger naming the ticket does not get into it; 5. an auto-reply is ignored.
    dovecot.append(
        BOX,
        PASS,
        &mail("mallory@evil.example", &format!("Re: [#T-{id}] hi"), "m1@evil.example", "", "let me in"),
    );
    dovecot.append(
        BOX,
        PASS,
        &mail("jane@example.org", "Out of office", "ooo@example.org", "Auto-Submitted: auto-replied\r\n", "Away"),
    );
    let stranger = c
        .wait_for("the stranger's separate ticket", Duration::from_secs(20), async || {
            let (_, v) = c.get("/api/v1/tickets", &tok).await.ok()?;
            v["tickets"].as_array()?.iter().find(|t| t["requester_email"] == "mallory@evil.example").cloned()
        })
        .await?;
    assert_ne!(stranger["id"], id);
    assert_eq!(stranger["customer_id"], Value::Null);
    // The mailbox is drained into "Processed"; the out-of-office made nothing.
    c.wait_for("the mailbox drained", Duration::from_secs(20), async || {
        dovecot.search(BOX, PASS, "INBOX", "ALL").is_empty().then_some(())
    })
    .await?;
    let (_, v) = c.get(&format!("/api/v1/tickets/{id}"), &tok).await?;
    assert!(!v["events"].to_string().contains("let me in") && !v["events"].to_string().contains("Away"), "{v}");
    let (_, all) = c.get("/api/v1/tickets?all=true", &tok).await?;
    assert_eq!(all["tickets"].as_array().unwrap().len(), 2, "Jane's and the stranger's: {all}");
    assert!(!c.log().contains(PASS), "the IMAP password never reaches the log");
    Ok(())
}
