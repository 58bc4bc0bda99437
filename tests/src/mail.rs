//! Real mail servers for tests, each on loopback in its own temp dir and
//! stopped on drop:
//!
//! * [`Dovecot`]: Debian's dovecot IMAP server (`apt-get install -y
//!   dovecot-imapd`) with passwd-file users and maildirs. Plain IMAP (with
//!   STARTTLS) on `port`, implicit TLS on `tls_port`; its certificate (for
//!   `localhost` and `127.0.0.1`) is signed by a test CA in `ca_file`.
//!   [`Dovecot::append`] puts mail into a mailbox over IMAP, [`Dovecot::search`]
//!   and [`Dovecot::mailboxes`] look at the result.
//! * [`SmtpSink`]: an SMTP server on Python's aiosmtpd (`pip install
//!   aiosmtpd`, or Debian's `python3-aiosmtpd`) that stores every message it
//!   accepts; [`SmtpSink::messages`] reads them back. Plain SMTP (STARTTLS
//!   offered) on `port`, implicit TLS on `tls_port`, same kind of test CA;
//!   [`SmtpSink::start_with_auth`] also requires a login (AUTH PLAIN/LOGIN,
//!   offered after STARTTLS only).
//!
//! A missing tool panics with how to install it, under `CI=true` and
//! everywhere else: these tests are never skipped. The Python used is
//! `MAST_AIOSMTPD_PYTHON`, else the first of `python3`, `/usr/bin/python3`
//! that can import aiosmtpd. Runs as root (dovecot's processes then run as
//! `nobody`) or as a plain user (everything runs as that user).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Panics because `tool` is missing, saying how to install it.
fn missing(tool: &str, install: &str) -> ! {
    let ci = if in_ci() { " (required under CI=true: the CI script must install it)" } else { "" };
    panic!("{tool} is not installed{ci}; install it with: {install}")
}

/// A free TCP port on 127.0.0.1 (bound and released; a race is retried by the callers).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// A program on `PATH` or in the sbin directories.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A temp dir under /tmp (dovecot's unix sockets need short paths), readable
/// by the unprivileged server processes.
fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let base = if Path::new("/tmp").is_dir() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(base).expect("create temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

/// Waits until `port` on 127.0.0.1 accepts a connection; panics with `log()`
/// when `child` exits first or time runs out.
fn wait_for_port(port: u16, child: &mut Child, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on port {port}:\n{}", log());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not listen on port {port} within {START_TIMEOUT:?}:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A test CA and a server certificate for `localhost` and `127.0.0.1`,
/// written as `ca.pem`, `cert.pem`, `key.pem` into `dir`; returns the CA path.
fn write_test_certs(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.distinguished_name.push(DnType::CommonName, "Mast mail test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).expect("server cert");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert.pem");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key.pem");
    ca_path
}

// ---------------------------------------------------------------------------
// Dovecot
// ---------------------------------------------------------------------------

/// A dovecot IMAP server on 127.0.0.1 with the given users (each with an
/// empty INBOX). Stopped and removed on drop.
pub struct Dovecot {
    /// Plain IMAP (STARTTLS offered, cleartext login allowed).
    pub port: u16,
    /// IMAP over TLS from the first byte.
    pub tls_port: u16,
    /// PEM of the CA that signed the server certificate (`localhost`, `127.0.0.1`).
    pub ca_file: PathBuf,
    /// `dovecot --version`, e.g. `2.3.19.1 (9b53102964)`.
    pub version: String,
    config: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Starts dovecot with `users` as `(login, password)`; panics when dovecot
    /// is not installed or does not come up (with its log).
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        let Some(dovecot) = find_program("dovecot") else { missing("dovecot", "apt-get install -y dovecot-imapd") };
        let version = command_output(dovecot.to_str().unwrap(), &["--version"]).unwrap_or_default();
        let dir = temp_dir("mast-dovecot-");
        let ca_file = write_test_certs(dir.path());
        let mail_dir = dir.path().join("mail");
        std::fs::create_dir_all(&mail_dir).expect("create mail dir");
        let mut users_file = String::new();
        for (user, pass) in users {
            assert!(!user.contains(':') && !pass.contains('\n'), "unsupported test user {user:?}");
            users_file.push_str(&format!("{user}:{{PLAIN}}{pass}\n"));
        }
        std::fs::write(dir.path().join("users"), users_file).expect("write users");

        // Who the mail processes run as.
        let (login_user, mail_uid, mail_gid) = if is_root() {
            let nogroup = if command_output("getent", &["group", "nogroup"]).is_some() { "nogroup" } else { "nobody" };
            ("nobody".to_owned(), "nobody".to_owned(), nogroup.to_owned())
        } else {
            let user = command_output("id", &["-un"]).expect("id -un");
            (user, command_output("id", &["-u"]).unwrap(), command_output("id", &["-g"]).unwrap())
        };
        if is_root() {
            let nobody = command_output("id", &["-u", "nobody"]).and_then(|s| s.parse().ok()).unwrap_or(65534);
            let gid = command_output("id", &["-g", "nobody"]).and_then(|s| s.parse().ok()).unwrap_or(65534);
            std::os::unix::fs::chown(&mail_dir, Some(nobody), Some(gid)).expect("chown mail dir to nobody");
        }

        // As a plain user, nothing may be handed to dovecot's own group.
        let unprivileged = if is_root() {
            String::new()
        } else {
            let group = command_output("id", &["-gn"]).expect("id -gn");
            format!(
                "default_internal_group = {group}\n\
                 service stats {{\n  unix_listener stats-writer {{\n    group = {group}\n    mode = 0660\n  }}\n}}\n\
                 service anvil {{\n  chroot =\n}}\nservice imap-login {{\n  chroot =\n}}\n"
            )
        };
        let config = dir.path().join("dovecot.conf");
        let log_path = dir.path().join("dovecot.log");
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let (port, tls_port) = (free_port(), free_port());
            if port == tls_port {
                continue;
            }
            let text = if version.starts_with("2.3") || version.starts_with("2.2") {
                dovecot_23_config(dir.path(), port, tls_port, &login_user, &mail_uid, &mail_gid) + &unprivileged
            } else {
                dovecot_24_config(dir.path(), port, tls_port, &login_user, &mail_uid, &mail_gid) + &unprivileged
            };
            std::fs::write(&config, text).expect("write dovecot.conf");
            let mut child = Command::new(&dovecot)
                .arg("-F")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("stderr.log"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", dovecot.display()));
            let log = || {
                format!(
                    "--- dovecot.log\n{}\n--- stderr\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default(),
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
                )
            };
            // Up (both listeners) or dead (e.g. a port taken meanwhile: try again).
            let deadline = Instant::now() + START_TIMEOUT;
            let up = loop {
                let ok = |p: u16| {
                    TcpStream::connect_timeout(&([127, 0, 0, 1], p).into(), Duration::from_millis(200)).is_ok()
                };
                if ok(port) && ok(tls_port) {
                    break true;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break false;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("dovecot did not listen on {port}/{tls_port} within {START_TIMEOUT:?}:\n{}", log());
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            if up {
                let server = Dovecot { port, tls_port, ca_file, version, config, child: Some(child), dir };
                server.wait_for_greeting();
                return server;
            }
            last_log = log();
            if !last_log.contains("in use") {
                break;
            }
        }
        panic!("dovecot {version} did not start:\n{last_log}");
    }

    fn wait_for_greeting(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(mut c) = TestImap::connect(self.port) {
                c.logout();
                return;
            }
            assert!(Instant::now() < deadline, "dovecot does not greet:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Appends `raw` (bare `\n` line ends become `\r\n`) to `user`'s INBOX.
    pub fn append(&self, user: &str, pass: &str, raw: &[u8]) {
        self.append_to(user, pass, "INBOX", raw)
    }

    /// Appends `raw` to `mailbox` (which must exist).
    pub fn append_to(&self, user: &str, pass: &str, mailbox: &str, raw: &[u8]) {
        let mut c = self.login(user, pass);
        c.append(mailbox, &crlf(raw)).unwrap_or_else(|e| panic!("APPEND to {mailbox}: {e}\n{}", self.log()));
        c.logout();
    }

    /// UIDs in `mailbox` matching an IMAP search (`ALL`, `UNSEEN`, `SEEN`, ...).
    pub fn search(&self, user: &str, pass: &str, mailbox: &str, criteria: &str) -> Vec<u32> {
        let mut c = self.login(user, pass);
        c.command(&format!("EXAMINE {}", quote(mailbox))).unwrap_or_else(|e| panic!("EXAMINE {mailbox}: {e}"));
        let lines = c.command(&format!("UID SEARCH {criteria}")).unwrap_or_else(|e| panic!("SEARCH: {e}"));
        c.logout();
        let mut uids: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|rest| rest.split_whitespace().filter_map(|n| n.parse().ok()).collect::<Vec<_>>())
            .collect();
        uids.sort_unstable();
        uids
    }

    /// The user's mailbox names (LIST "" "*").
    pub fn mailboxes(&self, user: &str, pass: &str) -> Vec<String> {
        let mut c = self.login(user, pass);
        let lines = c.command("LIST \"\" \"*\"").unwrap_or_else(|e| panic!("LIST: {e}"));
        c.logout();
        lines
            .iter()
            .filter(|l| l.starts_with("* LIST"))
            .filter_map(|l| {
                // * LIST (\HasNoChildren) "." INBOX   |   ... "." "With space"
                let after_sep = l.split_once(") ")?.1;
                let name = after_sep.split_once(' ').map(|(_, n)| n)?.trim();
                Some(name.trim_matches('"').to_owned())
            })
            .collect()
    }

    fn login(&self, user: &str, pass: &str) -> TestImap {
        let mut c = TestImap::connect(self.port).unwrap_or_else(|e| panic!("connect to dovecot: {e}\n{}", self.log()));
        c.command(&format!("LOGIN {} {}", quote(user), quote(pass)))
            .unwrap_or_else(|e| panic!("LOGIN {user}: {e}\n{}", self.log()));
        c
    }

    /// dovecot's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// The server's config file (for `doveadm -c FILE ...`).
    pub fn config_file(&self) -> &Path {
        &self.config
    }

    /// The server's temp dir (config, log, maildirs under `mail/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server: SIGTERM to the master, then waits until neither
    /// port accepts connections. Its processes finish shutting down in the
    /// background (dovecot's log process lingers about 3 s). Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let open = |p: u16| TcpStream::connect_timeout(&([127, 0, 0, 1], p).into(), Duration::from_millis(200)).is_ok();
        while Instant::now() < deadline && (open(self.port) || open(self.tls_port)) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if open(self.port) || open(self.tls_port) {
            let _ = child.kill();
        }
        // Reap it without holding up the test.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn dovecot_23_config(dir: &Path, port: u16, tls_port: u16, login_user: &str, uid: &str, gid: &str) -> String {
    let d = dir.display();
    format!(
        r#"# Mast test server (dovecot 2.3)
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
auth_verbose = yes
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{d}/mail/%u
default_login_user = {login_user}
default_internal_user = {login_user}
namespace inbox {{
  inbox = yes
}}
# No auth penalty (a growing delay after failed logins, up to 15 s).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
"#
    )
}

/// dovecot 2.4 renamed most settings (Debian 13). Not yet run on these machines.
fn dovecot_24_config(dir: &Path, port: u16, tls_port: u16, login_user: &str, uid: &str, gid: &str) -> String {
    let d = dir.display();
    format!(
        r#"# Mast test server (dovecot 2.4)
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
auth_verbose = yes
ssl = yes
ssl_server_cert_file = {d}/cert.pem
ssl_server_key_file = {d}/key.pem
auth_allow_cleartext = yes
auth_mechanisms = plain login
auth_failure_delay = 0
mail_driver = maildir
mail_path = {d}/mail/%{{user}}
default_login_user = {login_user}
default_internal_user = {login_user}
namespace inbox {{
  inbox = yes
}}
# No auth penalty (a growing delay after failed logins, up to 15 s).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
passdb passwd-file {{
  passwd_file_path = {d}/users
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {d}/mail/%{{user}}
  }}
}}
"#
    )
}

fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A minimal blocking IMAP client for setting up and checking tests.
struct TestImap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl TestImap {
    fn connect(port: u16) -> std::io::Result<TestImap> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        let mut c = TestImap { reader: BufReader::new(stream), writer, tag: 0 };
        let greeting = c.line()?;
        if !greeting.starts_with("* OK") {
            return Err(std::io::Error::other(format!("unexpected greeting {greeting:?}")));
        }
        Ok(c)
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        Ok(line.trim_end().to_owned())
    }

    /// Sends a command; returns the untagged lines, or the tagged NO/BAD as an error.
    fn command(&mut self, cmd: &str) -> std::io::Result<Vec<String>> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.writer.write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.finish(&tag)
    }

    fn finish(&mut self, tag: &str) -> std::io::Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return if rest.starts_with("OK") { Ok(lines) } else { Err(std::io::Error::other(line)) };
            }
            // Skip literals ({n}) in untagged data: read their bytes.
            if let Some(n) = line.strip_suffix('}').and_then(|l| l.rsplit_once('{')).and_then(|(_, n)| n.parse().ok()) {
                let mut buf = vec![0u8; n];
                self.reader.read_exact(&mut buf)?;
            }
            lines.push(line);
        }
    }

    fn append(&mut self, mailbox: &str, raw: &[u8]) -> std::io::Result<()> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.writer.write_all(format!("{tag} APPEND {} {{{}}}\r\n", quote(mailbox), raw.len()).as_bytes())?;
        let cont = self.line()?;
        if !cont.starts_with('+') {
            return Err(std::io::Error::other(format!("APPEND refused: {cont}")));
        }
        self.writer.write_all(raw)?;
        self.writer.write_all(b"\r\n")?;
        self.finish(&tag).map(|_| ())
    }

    fn logout(&mut self) {
        let _ = self.command("LOGOUT");
    }
}

// ---------------------------------------------------------------------------
// SMTP sink
// ---------------------------------------------------------------------------

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Envelope sender (MAIL FROM).
    pub from: String,
    /// Envelope recipients (RCPT TO).
    pub to: Vec<String>,
    /// The message as received (DATA).
    pub raw: Vec<u8>,
    /// Whether the session was encrypted (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The login used, if the client authenticated.
    pub login: Option<String>,
}

/// aiosmtpd on 127.0.0.1 saving each message to a file. Killed on drop.
pub struct SmtpSink {
    /// Plain SMTP; STARTTLS offered, not required.
    pub port: u16,
    /// SMTP over TLS from the first byte ("SMTPS").
    pub tls_port: u16,
    /// PEM of the CA that signed the server certificate (`localhost`, `127.0.0.1`).
    pub ca_file: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

const SINK_PY: &str = r#"
import os, signal, ssl, sys, threading, time, uuid
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

out_dir, port, tls_port, cert, key, user, password = sys.argv[1:8]
os.makedirs(out_dir, exist_ok=True)

def one_line(s):
    return str(s).replace("\r", " ").replace("\n", " ")

class Saver:
    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        login = session.auth_data
        if isinstance(login, LoginPassword):
            login = login.login.decode("utf-8", "replace")
        elif isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        head = "from " + one_line(envelope.mail_from or "") + "\n"
        for rcpt in envelope.rcpt_tos:
            head += "to " + one_line(rcpt) + "\n"
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        head += "tls " + ("1" if tls else "0") + "\n"
        if login:
            head += "login " + one_line(login) + "\n"
        name = "%020d-%s" % (time.time_ns(), uuid.uuid4().hex)
        tmp = os.path.join(out_dir, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(head.encode("utf-8") + b"\n" + data)
        os.rename(tmp, os.path.join(out_dir, name + ".msg"))
        return "250 OK stored"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
        and auth_data.password.decode() == password
    # handled=False: aiosmtpd itself answers 535 on failure (the default
    # handled=True means "already answered" and leaves the client waiting).
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
auth = dict(authenticator=authenticator, auth_required=True, auth_require_tls=True) if user else dict(auth_require_tls=True)
plain = Controller(Saver(), hostname="127.0.0.1", port=int(port), tls_context=context, require_starttls=False,
                   ready_timeout=10, **auth)
plain.start()
tls = Controller(Saver(), hostname="127.0.0.1", port=int(tls_port), ssl_context=context, ready_timeout=10, **auth)
tls.start()
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
threading.Event().wait()
"#;

impl SmtpSink {
    /// Starts a sink that accepts any message without login.
    /// The controller's environment for sending through this sink (plain
    /// SMTP, the outbox worker every second); `port` is [`SmtpSink::port`]
    /// as text, held by the caller.
    pub fn controller_env(port: &str) -> [(&'static str, &str); 4] {
        [
            ("MAST_SMTP_HOST", "127.0.0.1"),
            ("MAST_SMTP_PORT", port),
            ("MAST_SMTP_SECURITY", "none"),
            ("MAST_NOTIFY_INTERVAL_SECS", "1"),
        ]
    }

    pub fn start() -> SmtpSink {
        Self::spawn(None)
    }

    /// Starts a sink that requires AUTH (PLAIN or LOGIN) as `user`/`password`
    /// before MAIL FROM; AUTH is offered only over TLS.
    pub fn start_with_auth(user: &str, password: &str) -> SmtpSink {
        Self::spawn(Some((user, password)))
    }

    fn spawn(auth: Option<(&str, &str)>) -> SmtpSink {
        let python = aiosmtpd_python();
        let dir = temp_dir("mast-smtp-sink-");
        let ca_file = write_test_certs(dir.path());
        let script = dir.path().join("sink.py");
        std::fs::write(&script, SINK_PY).expect("write sink.py");
        let out_dir = dir.path().join("messages");
        let log_path = dir.path().join("sink.log");
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let (port, tls_port) = (free_port(), free_port());
            if port == tls_port {
                continue;
            }
            let log_file = std::fs::File::create(&log_path).expect("sink.log");
            let (user, pass) = auth.unwrap_or(("", ""));
            let mut child = Command::new(&python)
                .arg(&script)
                .arg(&out_dir)
                .arg(port.to_string())
                .arg(tls_port.to_string())
                .arg(dir.path().join("cert.pem"))
                .arg(dir.path().join("key.pem"))
                .arg(user)
                .arg(pass)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("dup log"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
            let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            let deadline = Instant::now() + START_TIMEOUT;
            let up = loop {
                if log().contains("ready") {
                    break true;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break false;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the aiosmtpd sink did not start within {START_TIMEOUT:?}:\n{}", log());
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            if up {
                wait_for_port(port, &mut child, "aiosmtpd", log);
                wait_for_port(tls_port, &mut child, "aiosmtpd", log);
                return SmtpSink { port, tls_port, ca_file, child: Some(child), dir };
            }
            last_log = log();
            if !last_log.contains("in use") {
                break;
            }
        }
        panic!("the aiosmtpd sink did not start:\n{last_log}");
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let dir = self.dir.path().join("messages");
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&dir).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "msg"));
        files.sort();
        files.iter().map(|p| parse_saved(&std::fs::read(p).expect("read saved message"))).collect()
    }

    /// How many messages to `to` so far contain `needle` (in their raw form).
    pub fn count_to(&self, to: &str, needle: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to) && String::from_utf8_lossy(&m.raw).contains(needle))
            .count()
    }

    /// Waits until at least `n` messages arrived (up to `timeout`), returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() > deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The sink's output so far (Python errors show here).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sink.log")).unwrap_or_default()
    }

    /// Stops the sink; idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse_saved(bytes: &[u8]) -> ReceivedMail {
    let split = bytes.windows(2).position(|w| w == b"\n\n").expect("saved message header");
    let head = String::from_utf8_lossy(&bytes[..split]);
    let mut mail =
        ReceivedMail { from: String::new(), to: Vec::new(), raw: bytes[split + 2..].to_vec(), tls: false, login: None };
    for line in head.lines() {
        match line.split_once(' ') {
            Some(("from", v)) => mail.from = v.to_owned(),
            Some(("to", v)) => mail.to.push(v.to_owned()),
            Some(("tls", v)) => mail.tls = v == "1",
            Some(("login", v)) => mail.login = Some(v.to_owned()),
            _ => {}
        }
    }
    mail
}

/// A Python that can import aiosmtpd; panics with how to install it.
fn aiosmtpd_python() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("MAST_AIOSMTPD_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    candidates.extend(find_program("python3"));
    candidates.push(PathBuf::from("/usr/bin/python3"));
    for python in &candidates {
        let ok = Command::new(python)
            .args(["-c", "import aiosmtpd.controller"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return python.clone();
        }
    }
    missing(
        "Python's aiosmtpd",
        "pip install aiosmtpd (or apt-get install -y python3-aiosmtpd), or set MAST_AIOSMTPD_PYTHON to a python that has it",
    )
}
