//! Staff UI security, end to end against a real controller: the route x role
//! matrix, CSRF, sessions, login throttling, security headers, the OpenAPI
//! document and the audit log.

use mast_controller::staff::Role;
use mast_controller::web::{Access, Kind, ROUTES};
use mast_tests::*;
use serde_json::Value;

fn concrete(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/")
}

fn check_headers(path: &str, h: &reqwest::header::HeaderMap) {
    let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{path}: CSP {csp:?}");
    assert_eq!(h.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"), "{path}");
}

on_both_backends!(route_role_matrix);
on_both_backends!(csrf_sessions_throttling_and_audit);

/// Every route in the table, called by every role (and by nobody): allowed
/// roles get through, the others get 403; the anonymous get 401 (API) or the
/// login page; every response carries the security headers.
async fn route_role_matrix(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    c.cli_ok(&["site", "add", "m", "--targets", "127.0.0.1", "--interval", "60"]);
    let mut tokens = Vec::new();
    let mut sessions = Vec::new();
    for &role in Role::ALL {
        tokens.push((role, c.token(role.as_str())));
        let email = format!("{}@matrix.test", role.as_str());
        let pw = c.add_user(&email, role.as_str());
        let mut s = WebSession::new(&c);
        assert_eq!(s.login(&email, &pw).await?.status, 303);
        s.get("/").await?; // picks up the CSRF token
        sessions.push((role, s));
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    for r in ROUTES {
        let path = concrete(r.path);
        let url = format!("http://{}{path}", c.http);
        // Anonymous.
        let resp = http.request(r.method.clone(), &url).send().await?;
        check_headers(&path, resp.headers());
        match (r.access, r.kind) {
            (Access::Public, _) => {
                assert!(![401, 403].contains(&resp.status().as_u16()), "{} {path} is public", r.method)
            }
            (Access::Roles(_), Kind::Api) => assert_eq!(resp.status().as_u16(), 401, "{} {path} anonymous", r.method),
            (Access::Roles(_), Kind::Page) => {
                assert_eq!(resp.status().as_u16(), 303, "{} {path} anonymous", r.method);
                assert_eq!(resp.headers().get("location").and_then(|v| v.to_str().ok()), Some("/login"));
            }
            (Access::Customer, _) => {
                assert_eq!(resp.status().as_u16(), 303, "{} {path} anonymous", r.method);
                assert_eq!(resp.headers().get("location").and_then(|v| v.to_str().ok()), Some("/portal/login"));
            }
        }
        if let Access::Customer = r.access {
            // A staff session is not a customer session, whatever the role.
            for (_, s) in sessions.iter_mut().filter(|_| r.method == reqwest::Method::GET) {
                let resp = s.get(&path).await?;
                assert_eq!(resp.status, 303, "staff on customer page {path}");
            }
            continue;
        }
        let Access::Roles(allowed) = r.access else { continue };
        for &role in Role::ALL {
            let status = match r.kind {
                Kind::Api => {
                    let tok = &tokens.iter().find(|(x, _)| *x == role).expect("token").1;
                    let mut req = http.request(r.method.clone(), &url).bearer_auth(tok);
                    if r.method == reqwest::Method::POST {
                        req = req.header("content-type", "application/json").body("{}");
                    }
                    let resp = req.send().await?;
                    check_headers(&path, resp.headers());
                    resp.status().as_u16()
                }
                Kind::Page => {
                    let s = &mut sessions.iter_mut().find(|(x, _)| *x == role).expect("session").1;
                    let resp = if r.method == reqwest::Method::POST {
                        if r.path == "/logout" {
                            continue; // would end the session the matrix needs
                        }
                        if r.path == "/settings/restart" && allowed.contains(&role) {
                            continue; // would restart the controller under the matrix (tested on its own below)
                        }
                        s.post(&path, &[], None).await?
                    } else {
                        s.get(&path).await?
                    };
                    check_headers(&path, &resp.headers);
                    resp.status
                }
            };
            if allowed.contains(&role) {
                assert!(
                    status != 403 && status != 401,
                    "{} {path}: {} must be allowed, got {status}",
                    r.method,
                    role.as_str()
                );
            } else {
                assert_eq!(status, 403, "{} {path}: {} must be refused", r.method, role.as_str());
            }
        }
    }
    // A customer's billing (balance, payment reference, saved card) shows
    // only to the roles that may open invoices.
    let id = c.cli_ok(&["customer", "add", "--name", "Billed Bea", "--email", "bea@example.org"]);
    let id = id.trim();
    c.cli_ok(&["billing", "account", "set", id, "--billing-day", "1"]);
    for (role, s) in sessions.iter_mut() {
        let page = s.get(&format!("/customers/{id}")).await?;
        assert_eq!(page.status, 200, "{} opens the customer", role.as_str());
        let shows = page.body.contains("Payment reference");
        let may = matches!(role, Role::Admin | Role::Billing | Role::Support);
        assert_eq!(shows, may, "{}: the billing section shows iff the role may open invoices", role.as_str());
    }
    // Unknown routes are 404 with the headers too.
    let resp = http.get(format!("http://{}/no/such/page", c.http)).send().await?;
    assert_eq!(resp.status().as_u16(), 404);
    check_headers("/no/such/page", resp.headers());
    Ok(())
}

async fn csrf_sessions_throttling_and_audit(backend: Backend) -> anyhow::Result<()> {
    let Some(c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    let pw = c.add_user("boss@wisp.test", "admin");
    let tech_pw = c.add_user("tech@wisp.test", "technician");

    // CSRF: no token, a wrong token, a foreign origin: refused; the right one works.
    let mut s = WebSession::new(&c);
    s.login("boss@wisp.test", &pw).await?;
    s.get("/tokens").await?;
    assert_eq!(s.post("/tokens", &[("name", "x"), ("role", "read-only")], Some("")).await?.status, 403);
    assert_eq!(s.post("/tokens", &[("name", "x"), ("role", "read-only")], Some("forged")).await?.status, 403);
    let cookie = s.cookie.clone().unwrap();
    let csrf = s.csrf.clone().unwrap();
    let r = s
        .http
        .post(format!("{}/tokens", s.base))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("name", "x"), ("role", "read-only"), ("csrf", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403, "cross-origin post refused");
    let r = s.post("/tokens", &[("name", "ci-token"), ("role", "read-only")], None).await?;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"new-token\""), "token shown once");

    // A technician cannot open the users page.
    let mut t = WebSession::new(&c);
    assert_eq!(t.login("tech@wisp.test", &tech_pw).await?.status, 303);
    assert_eq!(t.get("/users").await?.status, 403);
    assert_eq!(t.get("/").await?.status, 200);

    // Sessions: a fresh id at every login; the old cookie dies at logout.
    let first = s.cookie.clone();
    let mut s2 = WebSession::new(&c);
    s2.login("boss@wisp.test", &pw).await?;
    assert_ne!(first, s2.cookie, "every login gets a new session id");
    s2.get("/").await?;
    let old = s2.cookie.clone();
    assert_eq!(s2.post("/logout", &[], None).await?.status, 303);
    s2.cookie = old;
    assert_eq!(s2.get("/").await?.status, 303, "a logged-out cookie is dead");

    // Disabling a user kills every session of theirs.
    assert_eq!(t.get("/").await?.status, 200);
    c.cli_ok(&["user", "disable", "--email", "tech@wisp.test"]);
    assert_eq!(t.get("/").await?.status, 303, "a disabled user's session is dead");
    assert_eq!(WebSession::new(&c).login("tech@wisp.test", &tech_pw).await?.status, 401, "and they cannot log in");

    // Throttling: five failures from one address, then 429 even with the
    // right password; the real user on another address still gets in.
    let mut bad = WebSession::new(&c);
    for _ in 0..5 {
        assert_eq!(bad.login("boss@wisp.test", "wrong password!").await?.status, 401);
    }
    let r = bad.login("boss@wisp.test", &pw).await?;
    assert_eq!(r.status, 429);
    assert!(r.headers.contains_key("retry-after"));
    let mut other = WebSession::new_from(&c, Some("127.0.0.2".parse()?));
    assert_eq!(other.login("boss@wisp.test", &pw).await?.status, 303, "the real user elsewhere is not locked out");

    // Audit log: logins, failures, logout, disable, token creation; CSV export.
    let csv = s.get("/audit.csv").await?;
    assert_eq!(csv.status, 200);
    assert!(csv.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").starts_with("text/csv"));
    for action in
        ["\"login\"", "\"login.failed\"", "\"logout\"", "\"user.disable\"", "\"token.create\"", "\"user.add\""]
    {
        assert!(csv.body.contains(action), "audit lacks {action}:\n{}", csv.body);
    }
    assert!(!csv.body.contains(&pw), "no password in the audit log");
    let log = c.log();
    assert!(!log.contains(&pw) && !log.contains(&tech_pw), "no password in the controller log");
    Ok(())
}

/// The OpenAPI document lists exactly the API routes, and each answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_routes() -> anyhow::Result<()> {
    let c = Controller::start(Backend::Sqlite, &[]).await?.expect("sqlite");
    let tok = c.admin_token();
    let (s, doc) = c.get("/api/v1/openapi.json", "").await?;
    assert_eq!(s, 200);
    let paths = doc["paths"].as_object().expect("paths");
    let api: Vec<_> = ROUTES.iter().filter(|r| r.path.starts_with("/api/v1/")).collect();
    let documented: usize = paths.values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
    assert_eq!(documented, api.len(), "one operation per API route");
    for r in &api {
        let op = &paths[r.path][r.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {} missing from OpenAPI", r.method, r.path);
        if r.method == reqwest::Method::GET {
            let (status, _) = c.get(&concrete(r.path), &tok).await?;
            assert!(status != 404 || r.path.contains('{'), "{} answers {status}", r.path);
        }
    }
    let v: Value = doc;
    assert_eq!(v["openapi"], "3.1.0");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_creates_an_admin_without_logging_its_password() -> anyhow::Result<()> {
    let c = Controller::start(Backend::Sqlite, &[]).await?.expect("sqlite");
    let file = c.data_dir().join("initial-admin-password");
    let pw = std::fs::read_to_string(&file)?.trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
    assert!(!c.log().contains(&pw), "the password is never logged");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("admin@localhost", &pw).await?.status, 303);
    assert_eq!(s.get("/users").await?.status, 200);
    Ok(())
}

/// The settings page: what the controller runs with (secrets only as "set"),
/// a test message through the real SMTP server (a bad address refused next
/// to the field), and the dashboard's first-run checklist that ticks off as
/// the install takes shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_page_sends_a_test_message_and_the_checklist_follows_the_install() -> anyhow::Result<()> {
    let mut sink = mast_tests::mail::SmtpSink::start();
    let port = sink.port.to_string();
    let env = [
        ("MAST_SMTP_HOST", "127.0.0.1"),
        ("MAST_SMTP_PORT", port.as_str()),
        ("MAST_SMTP_SECURITY", "none"),
        ("MAST_SMS_WEBHOOK_URL", "http://127.0.0.1:9/sms"),
        ("MAST_SMS_WEBHOOK_SECRET", "gateway-secret-123"),
    ];
    let Some(c) = Controller::start(Backend::Sqlite, &env).await? else { return Ok(()) };
    let pw = c.add_user("boss@wisp.test", "admin");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("boss@wisp.test", &pw).await?.status, 303);
    let dash = s.get("/").await?;
    assert!(dash.body.contains("Getting started · 1 of 6 done"), "only mail is set up: {}", dash.body);
    let page = s.get("/settings").await?;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("127.0.0.1") && page.body.contains(">set<"),
        "the SMTP server, the webhook secret as set"
    );
    assert!(!page.body.contains("gateway-secret-123"), "a secret is never shown");
    assert!(page.body.contains("Fixed by <code>MAST_SMTP_HOST</code>"), "set in the environment: not editable here");

    let r = s.post("/settings/mail-test", &[("to", "not an address")], None).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("mail-test-to-error") && r.body.contains("not an email address"), "{}", r.body);
    let r = s.post("/settings/mail-test", &[("to", "noc@wisp.example")], None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Sent to noc@wisp.example"));
    let got = sink.wait_for(1, std::time::Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{}", sink.log());
    assert_eq!(got[0].to, vec!["noc@wisp.example".to_string()]);
    assert!(String::from_utf8_lossy(&got[0].raw).contains("Mast test message"));
    // The server gone: the reason, next to the field.
    sink.stop();
    let r = s.post("/settings/mail-test", &[("to", "noc@wisp.example")], None).await?;
    assert_eq!(r.status, 502);
    assert!(r.body.contains("mail-test-to-error") && r.body.contains("not sent:"), "{}", r.body);

    // The checklist follows: a site and a customer later, 3 of 6.
    c.cli_ok(&["site", "add", "hill", "--targets", "127.0.0.1"]);
    c.cli_ok(&["customer", "add", "--name", "Ada Okafor", "--site", "hill"]);
    let dash = s.get("/").await?;
    assert!(dash.body.contains("Getting started · 3 of 6 done"), "{}", dash.body);
    // Other roles never see it.
    let tech_pw = c.add_user("tech@wisp.test", "technician");
    let mut t = WebSession::new(&c);
    t.login("tech@wisp.test", &tech_pw).await?;
    assert!(!t.get("/").await?.body.contains("Getting started"));
    Ok(())
}

/// The settings form as the browser sends it (mail and company).
fn form<'a>(port: &'a str, tz: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("operator_name", "Ridge Wireless"),
        ("operator_address", "1 Tower Rd\nRidge, MN 55000"),
        ("timezone", tz),
        ("mail_from", "Ridge Wireless <noc@ridge.example>"),
        ("smtp_host", "127.0.0.1"),
        ("smtp_port", port),
        ("smtp_security", "none"),
        ("smtp_username", ""),
        ("smtp_password", "hunter2-smtp"),
    ]
}

/// Settings typed in the browser: errors next to their field, a secret
/// never shown again nor written to the audit log, "not applied yet" until
/// the admin restarts the controller from the page; it starts again in
/// place (the same process) with them: the test message goes out through
/// the SMTP server set in the browser, from the address typed there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_saved_in_the_browser_apply_after_a_restart_from_the_page() -> anyhow::Result<()> {
    let sink = mast_tests::mail::SmtpSink::start();
    let Some(mut c) = Controller::start(Backend::Sqlite, &[]).await? else { return Ok(()) };
    let pw = c.add_user("boss@wisp.test", "admin");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("boss@wisp.test", &pw).await?.status, 303);
    let page = s.get("/settings").await?;
    assert!(page.body.contains("not configured") && page.body.contains("settings-smtp_host"), "{}", page.body);
    let port = sink.port.to_string();
    let port = port.as_str();
    for (f, field) in [(form("seventy", "UTC"), "smtp_port"), (form(port, "Mars/Olympus"), "timezone")] {
        let r = s.post("/settings", &f, None).await?;
        assert_eq!(r.status, 400, "{field}");
        assert!(r.body.contains(&format!("settings-{field}-error")), "{field}: {}", r.body);
        assert!(!r.body.contains("hunter2-smtp"), "a typed secret is never shown again");
        s.get("/settings").await?;
    }
    let r = s.post("/settings", &form(port, "America/Chicago"), None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Saved.") && r.body.contains("not applied yet") && r.body.contains("restart-now"));
    assert!(!r.body.contains("hunter2-smtp") && r.body.contains("Ridge Wireless"));
    let (_, audit) = c.get("/api/v1/audit", &c.admin_token()).await?;
    let audit = audit.to_string();
    assert!(audit.contains("settings.change") && audit.contains("MAST_SMTP_PASSWORD"), "{audit}");
    assert!(!audit.contains("hunter2"), "the audit log names a secret, never its value");
    // Not applied yet: the running controller has no mail server.
    assert_eq!(s.post("/settings/mail-test", &[("to", "noc@wisp.example")], None).await?.status, 409);

    // Restart from the page: the same process starts again with them.
    let pid = c.pid();
    c.forget_addresses();
    let r = s.post("/settings/restart", &[], None).await?;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Restarting"));
    c.wait_listening()?;
    assert_eq!(c.pid(), pid);
    assert!(std::path::Path::new(&format!("/proc/{}", pid.unwrap())).exists(), "the same process runs");
    let mut s = WebSession::new(&c);
    assert_eq!(s.login("boss@wisp.test", &pw).await?.status, 303);
    let page = s.get("/settings").await?;
    assert!(!page.body.contains("not applied yet") && page.body.contains("send-test"), "{}", page.body);
    let r = s.post("/settings/mail-test", &[("to", "noc@wisp.example")], None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = sink.wait_for(1, std::time::Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{}", sink.log());
    assert!(String::from_utf8_lossy(&got[0].raw).contains("noc@ridge.example"), "the From typed in the browser");
    assert!(c.log().contains("restarting to apply the saved settings"));

    // The logo: something that is not an image is refused next to the
    // field; a PNG is kept, served, and can be removed.
    let r = s.post_file("/settings/logo", &[], ("logo", "logo.gif", "image/gif", b"GIF89a....".to_vec())).await?;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("logo-logo-error") && r.body.contains("PNG or JPEG"), "{}", r.body);
    let mut png = Vec::new();
    {
        let mut e = png::Encoder::new(&mut png, 4, 2);
        e.set_color(png::ColorType::Rgba);
        let mut w = e.write_header()?;
        w.write_image_data(&[200u8, 30, 30, 255].repeat(8))?;
    }
    let r = s.post_file("/settings/logo", &[], ("logo", "logo.png", "image/png", png.clone())).await?;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = s.get("/settings").await?.body;
    assert!(page.contains(r#"src="/brand/logo""#) && page.contains("remove-logo"), "{page}");
    let served = reqwest::get(format!("http://{}/brand/logo", c.http)).await?;
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await?.to_vec(), png);
    // Without the session's CSRF token the upload is refused.
    s.csrf = Some("forged".into());
    let r = s.post_file("/settings/logo", &[], ("logo", "logo.png", "image/png", png.clone())).await?;
    assert_eq!(r.status, 403);
    s.get("/settings").await?;
    assert_eq!(s.post("/settings/logo/delete", &[], None).await?.status, 303);
    assert_eq!(reqwest::get(format!("http://{}/brand/logo", c.http)).await?.status(), 404);
    Ok(())
}
