//! `mast-controller doctor`: checks an install and says what to fix. One
//! line per check — `ok`, `warn` or `FAIL` — and the exit status is 1 when
//! any check fails. Read-only: it opens the database (which applies
//! pending migrations, as every command does) and connects to the
//! controller and the mail server, nothing else.
//!
//! Checks: the database and its schema; whether a controller answers on
//! the address it last listened on (else whether the configured ports are
//! free); the controller CA's and the agents' certificates' expiry; the
//! SMTP server (a TCP connection); free disk in the data directory; the
//! outbox (messages that failed or wait for a channel); the agents'
//! clocks (the time on their last ping against when it was stored, and
//! samples stamped too far ahead to believe); which controller runs the
//! run-once workers (several controllers on one PostgreSQL).

use mast_controller::App;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    lines: Vec<(Level, String, String)>,
}

impl Report {
    fn add(&mut self, level: Level, what: &str, detail: impl Into<String>) {
        self.lines.push((level, what.to_string(), detail.into()));
    }
}

const DAY_MS: i64 = 86_400_000;

pub async fn run(app: &App) -> anyhow::Result<bool> {
    let mut r = Report { lines: Vec::new() };
    let cfg = &app.config;
    let now = mast_controller::db::now_ms();

    // The database: reachable, schema applied.
    match sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&app.db.pool)
        .await
    {
        Ok(v) => r.add(
            Level::Ok,
            "database",
            format!("{:?} at {}, schema {}", app.db.backend, redact(&cfg.database_url()), v.unwrap_or(0)),
        ),
        Err(e) => r.add(Level::Fail, "database", format!("{e}: check database_url and that the server runs")),
    }

    // The controller: answers where it last listened, else are the ports free.
    let addrs: Option<mast_controller::Addresses> =
        std::fs::read(cfg.data_dir.join("run/addresses.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let answering = match &addrs {
        Some(a) => health(a.http).await,
        None => false,
    };
    if answering {
        let a = addrs.as_ref().map(|a| a.http.to_string()).unwrap_or_default();
        r.add(Level::Ok, "controller", format!("running, web UI and API answer on {a}"));
    } else {
        r.add(Level::Warn, "controller", "not running (or not answering): start `mast-controller serve`");
        let http = app.settings.http.listen;
        match std::net::TcpListener::bind(http) {
            Ok(_) => r.add(Level::Ok, "http port", format!("{http} is free")),
            Err(e) => {
                r.add(Level::Fail, "http port", format!("{http}: {e}: another program holds it; change [http] listen"))
            }
        }
        let quic = app.settings.agents.listen;
        match std::net::UdpSocket::bind(quic) {
            Ok(_) => r.add(Level::Ok, "quic port", format!("{quic} is free")),
            Err(e) => r.add(
                Level::Fail,
                "quic port",
                format!("{quic}: {e}: another program holds it; change [agents] listen"),
            ),
        }
    }

    // Certificates: the CA, and the agents' (renewed on reconnect).
    let ca_pem = match mast_controller::fleet::ca(&app.db).await {
        Ok(Some((_, cert))) => Ok(cert.into_bytes()),
        Ok(None) => Err("no CA in the database yet: start the controller once (or restore a backup)".to_string()),
        Err(e) => Err(format!("cannot read the CA from the database: {e}")),
    };
    match ca_pem.and_then(|pem| ca_days_left(&pem)) {
        Ok(d) if d < 30 => r.add(Level::Fail, "controller CA", format!("expires in {d} days: plan a CA rollover")),
        Ok(d) if d < 365 => r.add(Level::Warn, "controller CA", format!("expires in {d} days")),
        Ok(d) => r.add(Level::Ok, "controller CA", format!("valid for {} more years", d / 365)),
        Err(e) => r.add(Level::Fail, "controller CA", e),
    }
    let soon: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, cert_expires_ms FROM agents WHERE status = 'active' AND cert_expires_ms IS NOT NULL \
         AND cert_expires_ms < $1 ORDER BY cert_expires_ms",
    )
    .bind(now + 30 * DAY_MS)
    .fetch_all(&app.db.pool)
    .await
    .unwrap_or_default();
    if soon.is_empty() {
        r.add(Level::Ok, "agent certificates", "none expires within 30 days");
    } else {
        let expired = soon.iter().filter(|(_, e)| *e < now).count();
        let level = if expired > 0 { Level::Fail } else { Level::Warn };
        r.add(
            level,
            "agent certificates",
            format!(
                "{} expire within 30 days ({expired} already): agents renew on connecting; one that cannot reach \
                 the controller needs `mast-controller agent add` again (agents {})",
                soon.len(),
                soon.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(", ")
            ),
        );
    }

    // Mail: the SMTP server takes a connection.
    match (&cfg.mail.smtp.host, cfg.mail.smtp.port) {
        (Some(host), port) => match tcp(host, port) {
            Ok(()) => r.add(Level::Ok, "mail", format!("SMTP server {host}:{port} answers")),
            Err(e) => r.add(
                Level::Fail,
                "mail",
                format!("SMTP server {host}:{port}: {e}: notices and invoices wait in the outbox until it answers"),
            ),
        },
        (None, _) => {
            r.add(Level::Warn, "mail", "no SMTP server ([mail.smtp] host): customers' emails wait in the outbox")
        }
    }

    // Disk.
    match free_disk(&cfg.data_dir) {
        Some((free, total)) => {
            let pct = free as f64 * 100.0 / total.max(1) as f64;
            let text = format!(
                "{:.1} GiB free of {:.1} GiB ({pct:.0} %) in {}",
                gib(free),
                gib(total),
                cfg.data_dir.display()
            );
            let level = if free < 1 << 30 || pct < 5.0 {
                Level::Fail
            } else if pct < 15.0 {
                Level::Warn
            } else {
                Level::Ok
            };
            r.add(level, "disk", text);
        }
        None => r.add(Level::Warn, "disk", format!("cannot read free space of {}", cfg.data_dir.display())),
    }

    // The outbox.
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE failed_ms IS NOT NULL AND sent_ms IS NULL")
        .fetch_one(&app.db.pool)
        .await
        .unwrap_or(0);
    if failed > 0 {
        r.add(Level::Warn, "outbox", format!("{failed} message(s) failed for good: see /outbox"));
    } else {
        r.add(Level::Ok, "outbox", "no failed messages");
    }

    // The agents' clocks.
    let skew = mast_controller::fleet::clock_skew(&app.db, now).await.unwrap_or_default();
    let future = mast_controller::fleet::future_samples(&app.db, now - DAY_MS).await.unwrap_or_default();
    let ahead: Vec<String> =
        skew.iter().filter(|(_, s)| *s > 10_000).map(|(id, s)| format!("agent {id} {} s ahead", s / 1000)).collect();
    let behind: Vec<String> = skew
        .iter()
        .filter(|(_, s)| *s < -120_000)
        .map(|(id, s)| format!("agent {id} {} s behind", -s / 1000))
        .collect();
    if !future.is_empty() {
        let list: Vec<String> = future.iter().map(|(id, n)| format!("agent {id}: {n}")).collect();
        r.add(
            Level::Fail,
            "agent clocks",
            format!(
                "samples stamped more than 10 minutes ahead were set aside in the last day ({}): fix NTP on those towers",
                list.join(", ")
            ),
        );
    } else if !ahead.is_empty() || !behind.is_empty() {
        let list: Vec<String> = ahead.into_iter().chain(behind).collect();
        r.add(Level::Warn, "agent clocks", format!("{}: check NTP on those towers", list.join(", ")));
    } else {
        r.add(Level::Ok, "agent clocks", format!("{} agent(s) checked, none off by more than 10 s ahead", skew.len()));
    }

    // Who runs the run-once workers.
    match mast_controller::leases::list(&app.db).await {
        Ok(l) if l.is_empty() => r.add(Level::Warn, "workers", "no controller runs the run-once workers: start one"),
        Ok(l) => {
            let live: Vec<&mast_controller::leases::Lease> = l.iter().filter(|x| x.expires_ms >= now).collect();
            let mut holders: Vec<&str> = live.iter().map(|x| x.holder.as_str()).collect();
            holders.sort_unstable();
            holders.dedup();
            if live.len() < l.len() {
                r.add(
                    Level::Warn,
                    "workers",
                    format!("{} of {} leases expired: is a controller running?", l.len() - live.len(), l.len()),
                );
            } else {
                r.add(Level::Ok, "workers", format!("{} run-once workers held by {}", l.len(), holders.join(", ")));
            }
        }
        Err(e) => r.add(Level::Warn, "workers", format!("cannot read the leases: {e}")),
    }

    for (level, what, detail) in &r.lines {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        println!("{tag}  {what:<20} {detail}");
    }
    Ok(!r.lines.iter().any(|(l, _, _)| *l == Level::Fail))
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

async fn health(addr: SocketAddr) -> bool {
    let addr = if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], addr.port())) } else { addr };
    let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await else {
        return false;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET /api/v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 64];
    matches!(tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await, Ok(Ok(n)) if buf[..n].starts_with(b"HTTP/1.1 200"))
}

fn tcp(host: &str, port: u16) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| format!("cannot resolve: {e}"))?.collect();
    let mut last = "no address".to_string();
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

fn ca_days_left(pem: &[u8]) -> Result<i64, String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = p.parse_x509().map_err(|e| format!("not a certificate: {e}"))?;
    let end = cert.validity().not_after.timestamp();
    Ok((end * 1000 - mast_controller::db::now_ms()) / DAY_MS)
}

fn free_disk(dir: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs(3) with a NUL-terminated path and a zeroed struct it fills.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let f = s.f_frsize as u64;
    Some((s.f_bavail as u64 * f, s.f_blocks as u64 * f))
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}
