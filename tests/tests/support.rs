//! The support desk end to end with real processes: a controller reading a
//! real IMAP mailbox (dovecot) and sending through a real SMTP server
//! (aiosmtpd). Mail opens a ticket and is acknowledged with its token; a
//! staff reply is mailed threaded; the customer's answer (quoted history
//! stripped) joins the ticket; a stranger naming the ticket opens a separate
//! one; an auto-reply is ignored. Refused desk forms answer 400 with the
//! error by its field and the input kept, and a NUL byte in any field is a
//! 400 (PostgreSQL refuses NUL in text: never a 500). Both backends.

use mast_tests::mail::{Dovecot, SmtpSink};
use mast_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const BOX: &str = "support@isp.example";
const PASS: &str = "Mailbox-Pass-1";

on_both_backends!(email_tickets_round_trip);
on_both_backends!(refused_forms_keep_the_input_and_nul_bytes_are_400s);

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

/// A form refused by a store rule re-renders with the error next to the
/// field and what was typed kept (400); a NUL byte, which PostgreSQL refuses
/// in text, is such a rule, never a 500; the API names the field too.
async fn refused_forms_keep_the_input_and_nul_bytes_are_400s(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let pw = c.add_user("desk@wisp.test", "support");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("desk@wisp.test", &pw).await?.status, 303);
    s.get("/customers").await?;
    for field in ["name", "email", "phone", "address", "site", "notes"] {
        let mut form = vec![("name", "Ada Okafor"), ("email", "ada@example.org")];
        form.retain(|(k, _)| *k != field);
        form.push((field, "Ada\0Okafor"));
        let r = s.post("/customers", &form, None).await?;
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert!(r.body.contains(&format!(r#"id="new-customer-{field}-error""#)), "{field}: {}", r.body);
    }
    let r = s.post("/customers", &[("name", "Ada Okafor"), ("lat", "north"), ("lon", "-93.1")], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains(r#"value="north""#) && r.body.contains(r#"value="Ada Okafor""#), "input kept");
    assert!(r.body.contains(r#"id="new-customer-lat-error""#), "{}", r.body);
    let r = s.post("/customers", &[("name", "Ada Okafor"), ("cpe", "not a mac")], None).await?;
    assert!(r.status == 400 && r.body.contains(r#"id="new-customer-cpe-error""#), "{}", r.body);
    let r = s.post("/customers", &[("name", "Ada Okafor"), ("cpe", "04-18-D6-A1-22-3B")], None).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap().to_string();
    let id: i64 = page.trim_start_matches("/customers/").parse()?;
    let r = s.post(&format!("{page}/cpes"), &[("mac", "04:18\0")], None).await?;
    assert!(r.status == 400 && r.body.contains(r#"id="link-mac-error""#), "{}", r.body);
    let r = s.post(&page, &[("name", ""), ("notes", "kept notes")], None).await?;
    assert!(r.status == 400 && r.body.contains(r#"id="customer-name-error""#) && r.body.contains("kept notes"));

    // Tickets: the new-ticket form and the ticket's reply box.
    s.get("/tickets").await?;
    let r = s.post("/tickets", &[("subject", "No\0internet"), ("body", "since the storm")], None).await?;
    assert!(r.status == 400 && r.body.contains(r#"id="ticket-subject-error""#), "{}", r.body);
    assert!(r.body.contains("since the storm"), "input kept");
    let r = s.post("/tickets", &[("subject", "No internet"), ("customer", "999")], None).await?;
    assert!(r.status == 400 && r.body.contains(r#"id="ticket-customer-error""#), "{}", r.body);
    let r = s.post("/tickets", &[("subject", "No internet"), ("customer", &id.to_string())], None).await?;
    assert_eq!(r.status, 303);
    let ticket = r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap().to_string();
    s.get(&ticket).await?;
    let r = s.post(&format!("{ticket}/act"), &[("action", "note"), ("body", "a\0b")], None).await?;
    assert!(r.status == 400 && r.body.contains(r#"id="work-body-error""#), "{}", r.body);
    let r = s.post(&format!("{ticket}/act"), &[("action", "close"), ("body", "done")], None).await?;
    assert_eq!(r.status, 400, "an open ticket cannot be closed: {}", r.body);
    assert!(r.body.contains("cannot be closed") && r.body.contains(">done</textarea>"), "{}", r.body);

    // The API names the field.
    let tok = c.token("support");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{}/api/v1/tickets", c.http))
        .bearer_auth(&tok)
        .json(&json!({"subject": "a\u{0}b"}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await?;
    assert_eq!(v["error"]["field"], "subject", "{v}");
    let r = http.get(format!("http://{}/api/v1/customers?q=%00", c.http)).bearer_auth(&tok).send().await?;
    assert_eq!(r.status().as_u16(), 400);
    let r = http
        .post(format!("http://{}/api/v1/customers/{id}", c.http))
        .bearer_auth(&tok)
        .json(&json!({"name": "Ada", "lat": 95.0, "lon": 0.0}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await?["error"]["field"], "lat");

    // The portal's sign-in form.
    let r = http
        .post(format!("http://{}/portal/login", c.http))
        .form(&[("email", "ada\0@example.org"), ("password", "whatever it is")])
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await?.contains(r#"id="login-email-error""#));
    Ok(())
}
