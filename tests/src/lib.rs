//! Support for the end-to-end tests: start real `mast-controller` and
//! `mast-agent` processes on loopback, on SQLite or on a fresh PostgreSQL
//! database, and talk to them over their real HTTP, QUIC and CLI interfaces.
//!
//! PostgreSQL comes from `MAST_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432`). When it is unreachable the
//! PostgreSQL variants fail under `CI=true` and are skipped (loudly) otherwise.

use anyhow::{Context, bail};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Declares `mod $name { sqlite(), postgres() }` tests that run the async
/// fn `$name(Backend)` on each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await.unwrap();
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await.unwrap();
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static BUILD: Once = Once::new();

/// Directory holding the built binaries (`target/debug`), built on first use.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    BUILD.call_once(|| {
        if std::env::var_os("MAST_SKIP_BUILD").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Benchmarks run from target/release: they measure release binaries.
        let release = dir.ends_with("release");
        let st = Command::new(cargo)
            .args(["build", "-q", "-p", "mast-agent", "-p", "mast-controller"])
            .args(release.then_some("--release"))
            .status()
            .expect("running cargo build");
        assert!(st.success(), "building the binaries failed");
    });
    dir
}

pub fn controller_bin() -> PathBuf {
    bin_dir().join("mast-controller")
}

pub fn agent_bin() -> PathBuf {
    bin_dir().join("mast-agent")
}

/// Runs Debian's `minisign` in `dir` (the release tests sign with it: the
/// standard tool operators use), failing the test if it fails.
pub fn minisign(args: &[&str], dir: &Path) {
    let out = Command::new("minisign").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("minisign is not installed (required: the CI script installs Debian's `minisign`): {e}")
    });
    assert!(out.status.success(), "minisign {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The Rust target triple of this machine (what its agent reports).
pub fn host_target() -> &'static str {
    if cfg!(target_arch = "aarch64") { "aarch64-unknown-linux-gnu" } else { "x86_64-unknown-linux-gnu" }
}

static BUILD_V2: Once = Once::new();

/// A second real build of the agent reporting version `2.0.0`
/// (`MAST_BUILD_VERSION=2.0.0`, in `target/v2`), built on first use; the
/// fleet-upgrade tests take agents from the normal build to this one.
pub fn agent_v2_bin() -> PathBuf {
    let target = bin_dir().parent().expect("target dir").to_path_buf();
    let v2 = target.join("v2");
    BUILD_V2.call_once(|| {
        if std::env::var_os("MAST_SKIP_BUILD").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-q", "-p", "mast-agent", "--target-dir"])
            .arg(&v2)
            .env("MAST_BUILD_VERSION", "2.0.0")
            .status()
            .expect("running cargo build");
        assert!(st.success(), "building the version 2.0.0 agent failed");
    });
    v2.join("debug").join("mast-agent")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh PostgreSQL database, dropped when this value is dropped.
pub struct PgDb {
    pub url: String,
    base: String,
    name: String,
}

impl PgDb {
    /// `Ok(None)` when PostgreSQL is unreachable outside CI.
    pub async fn create() -> anyhow::Result<Option<PgDb>> {
        use sqlx::Connection;
        let base = std::env::var("MAST_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let mut conn = match sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
            Ok(c) => c,
            Err(e) if !in_ci() => {
                eprintln!("SKIPPED: PostgreSQL unreachable at {base} ({e}); set CI=true to make this a failure");
                return Ok(None);
            }
            Err(e) => bail!("PostgreSQL unreachable at {base}: {e} (required under CI=true)"),
        };
        let name = format!("mast_test_{:016x}", rand::random::<u64>());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        Ok(Some(PgDb { url: format!("{base}/{name}"), base, name }))
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A controller process with its own data dir.
pub struct Controller {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    pub http: SocketAddr,
    pub quic: SocketAddr,
    child: Option<Child>,
    starts: u32,
    _pg: Option<PgDb>,
}

impl Controller {
    /// Starts a controller; `None` when the backend is unavailable outside CI.
    pub async fn start(backend: Backend, extra_env: &[(&str, &str)]) -> anyhow::Result<Option<Controller>> {
        let dir = tempfile::Builder::new().prefix("mast-e2e-").tempdir()?;
        let mut env = vec![
            ("MAST_DATA_DIR".to_string(), dir.path().join("data").display().to_string()),
            ("MAST_HTTP_LISTEN".into(), "127.0.0.1:0".into()),
            ("MAST_QUIC_LISTEN".into(), "127.0.0.1:0".into()),
            ("MAST_LOG".into(), "info".into()),
            // Tests drive billing with explicit dates; the wall-clock
            // schedule (invoices, autopay, dunning for "today") stays off
            // unless a test turns it on.
            ("MAST_BILLING_AUTO_RUN".into(), "false".into()),
        ];
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => match PgDb::create().await? {
                Some(p) => {
                    env.push(("MAST_DATABASE_URL".into(), p.url.clone()));
                    Some(p)
                }
                None => return Ok(None),
            },
        };
        for (k, v) in extra_env {
            env.push((k.to_string(), v.to_string()));
        }
        Controller::launch(dir, env, pg).map(Some)
    }

    fn launch(dir: tempfile::TempDir, env: Vec<(String, String)>, pg: Option<PgDb>) -> anyhow::Result<Controller> {
        let mut c = Controller {
            dir,
            env,
            http: "0.0.0.0:0".parse()?,
            quic: "0.0.0.0:0".parse()?,
            child: None,
            starts: 0,
            _pg: pg,
        };
        c.spawn()?;
        Ok(c)
    }

    /// A second controller on the same PostgreSQL database as `first`
    /// (its own data dir and ports), as a cluster runs them.
    pub fn start_beside(first: &Controller, extra_env: &[(&str, &str)]) -> anyhow::Result<Controller> {
        let url = first
            .env
            .iter()
            .find(|(k, _)| k == "MAST_DATABASE_URL")
            .map(|(_, v)| v.clone())
            .context("start_beside needs a controller on PostgreSQL")?;
        let dir = tempfile::Builder::new().prefix("mast-e2e-").tempdir()?;
        let mut env: Vec<(String, String)> = first
            .env
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "MAST_DATA_DIR" | "MAST_HTTP_LISTEN" | "MAST_QUIC_LISTEN"))
            .cloned()
            .collect();
        env.push(("MAST_DATA_DIR".into(), dir.path().join("data").display().to_string()));
        env.push(("MAST_HTTP_LISTEN".into(), "127.0.0.1:0".into()));
        env.push(("MAST_QUIC_LISTEN".into(), "127.0.0.1:0".into()));
        env.push(("MAST_DATABASE_URL".into(), url));
        for (k, v) in extra_env {
            env.retain(|(e, _)| e != k);
            env.push((k.to_string(), v.to_string()));
        }
        Controller::launch(dir, env, None)
    }

    /// This controller's id in the `leases` table.
    pub fn lease_holder(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("controller-id")).unwrap_or_default().trim().to_string()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("controller-{n}.log"))
    }

    /// Everything the controller has logged so far, all runs.
    pub fn log(&self) -> String {
        (1..=self.starts).map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default()).collect()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let addr_file = self.data_dir().join("run").join("addresses.json");
        let _ = std::fs::remove_file(&addr_file);
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts))?;
        let mut cmd = Command::new(controller_bin());
        cmd.arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone()?)
            .stderr(log);
        // `MAST_TEST_NOFILE=N` runs the controller under an open-file limit of N.
        if let Some(n) = self.env.iter().find(|(k, _)| k == "MAST_TEST_NOFILE").and_then(|(_, v)| v.parse().ok()) {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit(2) between fork and exec touches only the child.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().context("starting mast-controller")?;
        self.child = Some(child);
        self.wait_listening()
    }

    /// Removes the addresses file, so that [`Controller::wait_listening`]
    /// waits for the next start (the controller restarting itself in place).
    pub fn forget_addresses(&self) {
        let _ = std::fs::remove_file(self.data_dir().join("run").join("addresses.json"));
    }

    /// Waits until the controller listens (it writes its addresses) and
    /// takes its addresses.
    pub fn wait_listening(&mut self) -> anyhow::Result<()> {
        let addr_file = self.data_dir().join("run").join("addresses.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(b) = std::fs::read(&addr_file)
                && let Ok(v) = serde_json::from_slice::<Value>(&b)
            {
                self.http = v["http"].as_str().context("http")?.parse()?;
                self.quic = v["quic"].as_str().context("quic")?.parse()?;
                return Ok(());
            }
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("controller exited with {st}:\n{}", self.log());
            }
            if Instant::now() > deadline {
                bail!("controller did not start:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The controller process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The controller's resident memory, kB (from `/proc`).
    pub fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// A query on the controller's database (tests check what was stored).
    pub async fn db(&self) -> anyhow::Result<mast_store::db::Db> {
        let url = self
            .env
            .iter()
            .find(|(k, _)| k == "MAST_DATABASE_URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir().join("mast.db").display()));
        Ok(mast_store::db::Db::connect(&url).await?)
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (at most 30 s) for a graceful exit; returns the
    /// exit status and how long the shutdown took.
    pub fn terminate(&mut self) -> anyhow::Result<(std::process::ExitStatus, Duration)> {
        let mut c = self.child.take().context("controller not running")?;
        let t = Instant::now();
        // SAFETY: kill(2) on our own child process.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        loop {
            if let Some(st) = c.try_wait()? {
                return Ok((st, t.elapsed()));
            }
            if t.elapsed() > Duration::from_secs(30) {
                let _ = c.kill();
                let _ = c.wait();
                bail!("controller did not exit within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts again (after [`Controller::terminate`] or a kill) on the same QUIC port.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let quic = self.quic.to_string();
        self.env.retain(|(k, _)| k != "MAST_QUIC_LISTEN");
        self.env.push(("MAST_QUIC_LISTEN".into(), quic));
        self.spawn()
    }

    /// Starts again on the same QUIC port (agents keep the address they enrolled with).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let quic = self.quic.to_string();
        self.env.retain(|(k, _)| k != "MAST_QUIC_LISTEN");
        self.env.push(("MAST_QUIC_LISTEN".into(), quic));
        self.spawn()
    }

    /// Runs a CLI subcommand against this controller's config.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(controller_bin())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .expect("running mast-controller")
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "mast-controller {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Adds a staff account through the CLI (password on standard input).
    /// Runs the CLI with `input` on its standard input (secrets stay off
    /// the command line).
    pub fn cli_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(controller_bin())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running mast-controller");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
        child.wait_with_output().expect("wait")
    }
    /// Has `site`'s agent poll the SNMP `targets` (`addr@0`, ...) every 5 s
    /// with the v2c `community` (given on standard input, as an operator would).
    pub fn snmp_probing(&self, site: &str, targets: &str, community: &str) -> anyhow::Result<()> {
        let args =
            ["site", "probing", site, "--snmp-credentials-stdin", "--snmp-targets", targets, "--snmp-interval", "5"];
        let out = self.cli_stdin(&args, &format!("v2c:{community}\n"));
        anyhow::ensure!(out.status.success(), "site probing failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    pub fn add_user(&self, email: &str, role: &str) -> String {
        let password = format!("pw-{:016x}", rand::random::<u64>());
        let out = self.cli_stdin(&["user", "add", "--email", email, "--role", role], &format!("{password}\n"));
        assert!(out.status.success(), "user add failed: {}", String::from_utf8_lossy(&out.stderr));
        password
    }

    /// A token for a role.
    pub fn token(&self, role: &str) -> String {
        self.cli_ok(&["token", "create", "--role", role, "--name", &format!("{role}-{}", rand::random::<u32>())])
            .trim()
            .to_string()
    }

    pub fn admin_token(&self) -> String {
        self.cli_ok(&["token", "create", "--role", "admin", "--name", &format!("t{}", rand::random::<u32>())])
            .trim()
            .to_string()
    }

    /// `agent add --json`: (agent_id, token, ca_fingerprint).
    pub fn add_agent(&self, site: &str) -> (u64, String, String) {
        let v: Value = serde_json::from_str(&self.cli_ok(&["agent", "add", "--site", site, "--json"])).expect("json");
        (
            v["agent_id"].as_u64().expect("id"),
            v["token"].as_str().expect("token").into(),
            v["ca_fingerprint"].as_str().expect("fp").into(),
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
        let r = reqwest::Client::new().get(format!("http://{}{path}", self.http)).bearer_auth(token).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// POSTs JSON to the API with a bearer token.
    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let r = reqwest::Client::new()
            .post(format!("http://{}{path}", self.http))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// Polls `f` until it returns `Some` or `timeout` passes.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl AsyncFnMut() -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what}\n--- controller log ---\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- controller log ---\n{}", self.log());
        }
    }
}

/// An agent process with its own state dir.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub metrics: SocketAddr,
    /// The binary `start` runs (the build's, or an installed copy).
    pub bin: PathBuf,
    child: Option<Child>,
    runs: u32,
}

impl Agent {
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Enrolls through the real token flow.
    pub fn enroll(controller: &Controller, site: &str) -> anyhow::Result<(Agent, u64)> {
        let (id, token, fp) = controller.add_agent(site);
        let agent = Agent::enroll_with(&controller.quic.to_string(), &token, &fp)?;
        Ok((agent, id))
    }

    /// Enrolls an agent for `site` and runs it inside `ns`, reaching the
    /// controller through a UDP relay on the host side of the veth (the
    /// relay can impair the link) and serving its metrics on the namespace's
    /// address. Returns the agent, its id and the relay.
    pub async fn start_in_netns(
        controller: &Controller,
        site: &str,
        ns: &NetNs,
        extra: &[&str],
    ) -> anyhow::Result<(Agent, u64, UdpRelay)> {
        let relay = UdpRelay::start(format!("{}:0", ns.host_ip).parse()?, controller.quic).await?;
        let (mut agent, id) = Agent::enroll(controller, site)?;
        agent.set_controller(&relay.addr.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        agent.metrics = format!("{}:{port}", ns.ns_ip).parse()?;
        agent.start_with(extra, Some(&ns.name))?;
        Ok((agent, id, relay))
    }

    pub fn enroll_with(controller: &str, token: &str, fp: &str) -> anyhow::Result<Agent> {
        let dir = tempfile::Builder::new().prefix("mast-agent-").tempdir()?;
        let state = dir.path().join("state");
        let out = Command::new(agent_bin())
            .args(["enroll", "--controller", controller, "--token", token, "--ca-fingerprint", fp, "--state-dir"])
            .arg(&state)
            .output()?;
        if !out.status.success() {
            bail!("enroll failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        Ok(Agent { dir, metrics: port, bin: agent_bin(), child: None, runs: 0 })
    }

    pub fn start(&mut self) -> anyhow::Result<()> {
        self.start_with(&[], None)
    }

    /// Starts `mast-agent run` with extra arguments, optionally inside a
    /// network namespace (`ip netns exec NS ...`).
    pub fn start_with(&mut self, extra: &[&str], netns: Option<&str>) -> anyhow::Result<()> {
        self.runs += 1;
        let log = std::fs::File::create(self.dir.path().join(format!("agent-{}.log", self.runs)))?;
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let child = cmd
            .args(["run", "--state-dir"])
            .arg(self.state_dir())
            .args(["--metrics-listen", &self.metrics.to_string()])
            .args(extra)
            .env("MAST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Runs the agent from its own copy of the binary, `DIR/bin/mast-agent`
    /// (what a package installs; upgrades replace it).
    pub fn install_copy(&mut self) -> anyhow::Result<PathBuf> {
        let dir = self.dir.path().join("bin");
        std::fs::create_dir_all(&dir)?;
        let bin = dir.join("mast-agent");
        std::fs::copy(agent_bin(), &bin)?;
        self.bin = bin.clone();
        Ok(bin)
    }

    /// Points the enrolled agent at another controller address (a relay).
    pub fn set_controller(&self, addr: &str) -> anyhow::Result<()> {
        let p = self.state_dir().join("identity.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&p)?)?;
        v["controller"] = Value::String(addr.to_string());
        std::fs::write(&p, serde_json::to_vec(&v)?)?;
        Ok(())
    }

    /// The running agent's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.state_dir().join("spool")
    }

    /// Highest durable seq per boot epoch found on disk now.
    pub fn durable_high(&self) -> std::collections::BTreeMap<u64, u64> {
        let mut m = std::collections::BTreeMap::new();
        for r in mast_agent::spool::durable_runs(&self.spool_dir()) {
            if r.count > 0 {
                let e = m.entry(r.epoch).or_insert(0);
                *e = (*e).max(r.last().1);
            }
        }
        m
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        (1..=self.runs)
            .map(|n| std::fs::read_to_string(self.dir.path().join(format!("agent-{n}.log"))).unwrap_or_default())
            .collect()
    }

    /// The agent's Prometheus counters.
    pub async fn metric(&self, name: &str) -> Option<u64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.metrics).await.ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).await.ok()?;
        body.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- agent log ---\n{}", self.log());
        }
    }
}

/// Builds a quinn client endpoint and config for hand-made connections
/// (certificate tests, malformed frames).
pub fn raw_client(
    ca_der: &[u8],
    client_auth: Option<(Vec<u8>, String)>,
) -> anyhow::Result<(quinn::Endpoint, quinn::ClientConfig)> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots);
    let mut tls = match client_auth {
        Some((cert, key_pem)) => b.with_client_auth_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?,
        )?,
        None => b.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![mast_shared::ALPN_LINK.to_vec()];
    let cfg = quinn::ClientConfig::new(std::sync::Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(tls)?));
    let ep = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    Ok((ep, cfg))
}

/// The controller CA certificate (DER) from its data dir.
pub fn controller_ca_der(c: &Controller) -> Vec<u8> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let pem = std::fs::read(c.data_dir().join("pki").join("ca.cert.pem")).expect("ca pem");
    CertificateDer::from_pem_slice(&pem).expect("ca").to_vec()
}

/// Finds devices in `/api/v1/devices` output.
pub fn devices(v: &Value) -> Vec<Value> {
    v["devices"].as_array().cloned().unwrap_or_default()
}

fn run_ok(cmd: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(cmd).args(args).output().with_context(|| format!("running {cmd}"))?;
    if !out.status.success() {
        bail!("{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Waits (polling every 300 ms, at most `secs`) until `ok` holds; the error
/// names `what`.
pub async fn until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

/// Whether this test may create namespaces and mounts (root); under CI a
/// missing capability is a failure, elsewhere the caller skips.
pub fn require_root(what: &str) -> anyhow::Result<bool> {
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return Ok(true);
    }
    if in_ci() {
        bail!("{what} needs root (network namespaces, mounts) and CI=true is set");
    }
    eprintln!("SKIPPED: {what} needs root");
    Ok(false)
}

pub mod load;
pub mod mail;
pub mod snmp;
pub mod stripe_server;

/// ICMP echo requests the calling thread's network namespace has sent so far
/// (`Icmp: OutEchos` of `/proc/thread-self/net/snmp`).
pub fn icmp_out_echos() -> anyhow::Result<u64> {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
    let mut icmp = snmp.lines().filter(|l| l.starts_with("Icmp:"));
    let (names, values) = (icmp.next().context("Icmp header")?, icmp.next().context("Icmp values")?);
    let i = names.split_whitespace().position(|n| n == "OutEchos").context("OutEchos")?;
    Ok(values.split_whitespace().nth(i).context("value")?.parse()?)
}

/// A network namespace joined to the root namespace by a veth pair:
/// `host_ip` on the root side, `ns_ip` inside. Removed on drop.
pub struct NetNs {
    pub name: String,
    pub host_if: String,
    pub host_ip: String,
    pub ns_ip: String,
}

impl NetNs {
    pub fn create() -> anyhow::Result<NetNs> {
        let tag: u16 = rand::random();
        let name = format!("mast{tag:04x}");
        let host_if = format!("mh{tag:04x}");
        let ns_if = format!("mn{tag:04x}");
        // A private /30 per test from 10.231.0.0/16, only ever inside our veths.
        let net = (tag as u32 % 16000) * 4;
        let host_ip = format!("10.231.{}.{}", net / 256, net % 256 + 1);
        let ns_ip = format!("10.231.{}.{}", net / 256, net % 256 + 2);
        let ns = NetNs { name: name.clone(), host_if: host_if.clone(), host_ip: host_ip.clone(), ns_ip: ns_ip.clone() };
        run_ok("ip", &["netns", "add", &name])?;
        run_ok("ip", &["link", "add", &host_if, "type", "veth", "peer", "name", &ns_if])?;
        run_ok("ip", &["link", "set", &ns_if, "netns", &name])?;
        run_ok("ip", &["addr", "add", &format!("{host_ip}/30"), "dev", &host_if])?;
        run_ok("ip", &["link", "set", &host_if, "up"])?;
        run_ok("ip", &["netns", "exec", &name, "ip", "addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if])?;
        run_ok("ip", &["netns", "exec", &name, "ip", "link", "set", &ns_if, "up"])?;
        run_ok("ip", &["netns", "exec", &name, "ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// An address off the namespace's only link (which has no default
    /// route): unreachable until [`NetNs::set_local`] puts it on the
    /// namespace's `lo`, where the agent's pings answer. A "radio" a test
    /// switches on and off.
    pub fn spare_addr(&self) -> String {
        let mut o: Vec<u8> = self.ns_ip.split('.').map(|x| x.parse().unwrap_or(0)).collect();
        o[2] = o[2].wrapping_add(128);
        format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
    }

    /// Puts `addr` on the namespace's `lo` (`true`) or takes it away.
    pub fn set_local(&self, addr: &str, present: bool) -> anyhow::Result<()> {
        self.exec(&["ip", "addr", if present { "add" } else { "del" }, &format!("{addr}/32"), "dev", "lo"])
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut all = vec!["netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        run_ok("ip", &all)
    }

    /// Adds `ip` on the host side of the veth and routes it from inside the
    /// namespace: a device "behind the tower" that the test serves from the
    /// root namespace. Unique per namespace: `10.{232+k}.a.b` from the veth's
    /// own `10.231.a.b`.
    pub fn host_device_ip(&self, k: u8) -> anyhow::Result<std::net::Ipv4Addr> {
        let o: std::net::Ipv4Addr = self.host_ip.parse()?;
        let ip = std::net::Ipv4Addr::new(10, 232 + k, o.octets()[2], o.octets()[3]);
        run_ok("ip", &["addr", "add", &format!("{ip}/32"), "dev", &self.host_if])?;
        self.exec(&["ip", "route", "add", &format!("{ip}/32"), "via", &self.host_ip])?;
        Ok(ip)
    }

    /// A /30 "behind the tower" for discovery sweeps: `10.240.a.n/30` with
    /// both host addresses on the host side of the veth, routed from inside
    /// the namespace. Returns the subnet and its two hosts.
    pub fn host_subnet(&self) -> anyhow::Result<(String, [std::net::Ipv4Addr; 2])> {
        let o: std::net::Ipv4Addr = self.host_ip.parse()?;
        let [_, _, a, b] = o.octets();
        let net = std::net::Ipv4Addr::new(10, 240, a, b - 1);
        let hosts = [std::net::Ipv4Addr::new(10, 240, a, b), std::net::Ipv4Addr::new(10, 240, a, b + 1)];
        for h in hosts {
            run_ok("ip", &["addr", "add", &format!("{h}/32"), "dev", &self.host_if])?;
        }
        self.exec(&["ip", "route", "add", &format!("{net}/30"), "via", &self.host_ip])?;
        Ok((format!("{net}/30"), hosts))
    }

    /// Takes the link down (`false`) or up (`true`) on the host side.
    pub fn link(&self, up: bool) -> anyhow::Result<()> {
        run_ok("ip", &["link", "set", &self.host_if, if up { "up" } else { "down" }])?;
        if up {
            // Addresses survive a down/up; routes come back with the link.
            let _ = run_ok("ip", &["addr", "add", &format!("{}/30", self.host_ip), "dev", &self.host_if]);
        }
        Ok(())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// A small tmpfs, unmounted on drop.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(path)?;
        run_ok("mount", &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &path.display().to_string()])?;
        Ok(Tmpfs { path: path.to_owned() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

/// Impairments applied by [`UdpRelay`] in both directions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Impair {
    pub loss_pct: u32,
    pub delay_ms: u64,
    pub down: bool,
}

/// A UDP relay standing in for `tc netem` (not available on these kernels):
/// it forwards datagrams between agents and the controller with configurable
/// loss, delay and outage.
pub struct UdpRelay {
    pub addr: SocketAddr,
    pub impair: std::sync::Arc<std::sync::Mutex<Impair>>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpRelay {
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> anyhow::Result<UdpRelay> {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex};
        let front = Arc::new(tokio::net::UdpSocket::bind(listen).await?);
        let addr = front.local_addr()?;
        let impair = Arc::new(Mutex::new(Impair::default()));
        let imp = impair.clone();
        let task = tokio::spawn(async move {
            let mut backs: HashMap<SocketAddr, Arc<tokio::net::UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, client)) = front.recv_from(&mut buf).await else {
                    continue;
                };
                let back = match backs.get(&client) {
                    Some(b) => b.clone(),
                    None => {
                        let Ok(b) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else {
                            continue;
                        };
                        if b.connect(upstream).await.is_err() {
                            continue;
                        }
                        let b = Arc::new(b);
                        backs.insert(client, b.clone());
                        // controller -> agent
                        let (b2, f2, imp2) = (b.clone(), front.clone(), imp.clone());
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 65536];
                            while let Ok(n) = b2.recv(&mut buf).await {
                                let data = buf[..n].to_vec();
                                let i = *imp2.lock().unwrap();
                                if i.down || rand::random::<u32>() % 100 < i.loss_pct {
                                    continue;
                                }
                                let f = f2.clone();
                                tokio::spawn(async move {
                                    tokio::time::sleep(Duration::from_millis(i.delay_ms)).await;
                                    let _ = f.send_to(&data, client).await;
                                });
                            }
                        });
                        b
                    }
                };
                let data = buf[..n].to_vec();
                let i = *imp.lock().unwrap();
                if i.down || rand::random::<u32>() % 100 < i.loss_pct {
                    continue;
                }
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(i.delay_ms)).await;
                    let _ = back.send(&data).await;
                });
            }
        });
        Ok(UdpRelay { addr, impair, task })
    }

    pub fn set(&self, i: Impair) {
        *self.impair.lock().unwrap() = i;
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a [`webhook_sink`] received: (`X-Mast-Signature` header, body).
pub type Hooks = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A stand-in for an SMS gateway or a chat tool: records every POST to
/// `path` and answers `ok`. Returns its URL.
pub async fn webhook_sink(path: &str) -> anyhow::Result<(String, Hooks)> {
    let hooks: Hooks = Default::default();
    let h = hooks.clone();
    let app = axum::Router::new().route(
        path,
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let h = h.clone();
            async move {
                let sig = headers.get("x-mast-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                h.lock().unwrap_or_else(|p| p.into_inner()).push((sig, body.to_vec()));
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}{path}", l.local_addr()?);
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok((url, hooks))
}

/// A browser-like session against the staff pages: keeps the session cookie
/// and the CSRF token of the last page it loaded.
pub struct WebSession {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

pub struct PageResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl WebSession {
    pub fn new(c: &Controller) -> WebSession {
        Self::new_from(c, None)
    }

    /// A session whose requests come from `local` (e.g. 127.0.0.2).
    pub fn new_from(c: &Controller, local: Option<std::net::IpAddr>) -> WebSession {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            // Well under the server's idle limit (its header timeout: 10 s,
            // 3 s in some tests): a request never goes out on a connection
            // the server is closing at that moment.
            .pool_idle_timeout(std::time::Duration::from_secs(1))
            .build()
            .expect("client");
        WebSession { base: format!("http://{}", c.http), http, cookie: None, csrf: None }
    }

    pub async fn login(&mut self, email: &str, password: &str) -> anyhow::Result<PageResponse> {
        self.login_at("/login", email, password).await
    }

    /// Signs in through the form at `path` (`/login` for staff,
    /// `/portal/login` for customers) and keeps the session cookie.
    pub async fn login_at(&mut self, path: &str, email: &str, password: &str) -> anyhow::Result<PageResponse> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(&[("email", email), ("password", password)])
            .send()
            .await?;
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = c.split(';').next().map(str::to_string);
        }
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Ok(PageResponse { status, headers, body: r.text().await? })
    }

    fn remember_csrf(&mut self, body: &str) {
        if let Some(tok) = csrf_token(body) {
            self.csrf = Some(tok);
        }
    }

    /// Sends with the session cookie; remembers the page's CSRF token.
    async fn send(&mut self, mut req: reqwest::RequestBuilder) -> anyhow::Result<PageResponse> {
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await?;
        self.remember_csrf(&body);
        Ok(PageResponse { status, headers, body })
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<PageResponse> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// The session cookie (`name=value`), for requests made outside it.
    pub fn cookie(&self) -> Option<String> {
        self.cookie.clone()
    }

    /// Posts a multipart form: the remembered CSRF token, `fields`, and one
    /// file `(field, file name, MIME type, bytes)`.
    pub async fn post_file(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &str, Vec<u8>),
    ) -> anyhow::Result<PageResponse> {
        self.post_files(path, fields, vec![file]).await
    }

    /// [`WebSession::post_file`] with several files.
    pub async fn post_files(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: Vec<(&str, &str, &str, Vec<u8>)>,
    ) -> anyhow::Result<PageResponse> {
        let mut form = reqwest::multipart::Form::new();
        if let Some(tok) = self.csrf.clone() {
            form = form.text("csrf", tok);
        }
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        for (name, file_name, mime, bytes) in files {
            let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()).mime_str(mime)?;
            form = form.part(name.to_string(), part);
        }
        let req = self.http.post(format!("{}{path}", self.base)).multipart(form);
        self.send(req).await
    }

    /// Posts a form with the remembered CSRF token (unless `csrf` is given).
    pub async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> anyhow::Result<PageResponse> {
        let mut form: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let tok = csrf.map(str::to_string).or_else(|| self.csrf.clone()).unwrap_or_default();
        if !tok.is_empty() {
            form.push(("csrf".into(), tok));
        }
        let req = self.http.post(format!("{}{path}", self.base)).form(&form);
        self.send(req).await
    }
}

/// Headless Chromium driven over WebDriver (Debian's `chromium` and
/// `chromium-driver`). Missing browser: a failure under CI, a skip elsewhere.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> anyhow::Result<Option<Browser>> {
        use std::os::unix::process::CommandExt;
        let driver_bin =
            ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].into_iter().find(|p| Path::new(p).exists());
        let Some(driver_bin) = driver_bin else {
            if in_ci() {
                bail!("chromedriver not found (apt-get install chromium chromium-driver); required under CI=true");
            }
            eprintln!("SKIPPED: chromium-driver is not installed");
            return Ok(None);
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // Its own process group, so chromedriver and the Chromium it starts
        // can be ended together (see `Drop`).
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting chromedriver")?;
        let profile = tempfile::tempdir()?;
        let caps: serde_json::Map<String, Value> = serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--no-first-run", "--disable-quic", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }))?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => bail!("cannot start a chromium session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Ok(Some(Browser { client, driver, _profile: profile }))
    }

    /// Saves a screenshot as `test-artifacts/<name>.png` at the workspace root.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("test-artifacts");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await?)?;
        Ok(path)
    }

    /// Takes the page's network away (or gives it back) as Chromium's
    /// DevTools do: requests fail and `navigator.onLine` turns false, so the
    /// page's offline path runs against the real server left running.
    pub async fn set_offline(&self, offline: bool) -> anyhow::Result<()> {
        let params = serde_json::json!({
            "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
        });
        self.client.issue_cmd(Cdp { cmd: "Network.enable", params: serde_json::json!({}) }).await?;
        self.client.issue_cmd(Cdp { cmd: "Network.emulateNetworkConditions", params }).await?;
        Ok(())
    }
}

/// A Chrome DevTools command through ChromeDriver (`goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Drop for Browser {
    /// Ends the browser also when a test fails: the driver's process group,
    /// then any Chromium process still using this session's profile (the
    /// renderer and zygote processes may leave the group).
    fn drop(&mut self) {
        unsafe { libc::kill(-(self.driver.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let marker = format!("--user-data-dir={}", self._profile.path().display());
        for pid in processes_with_arg(&marker) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Pids of processes whose command line has `arg` as one of its arguments.
pub fn processes_with_arg(arg: &str) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// The CSRF token of the first form on a page (`name="csrf" value="..."`,
/// with or without quotes around the name).
pub fn csrf_token(body: &str) -> Option<String> {
    ["name=\"csrf\" value=\"", "name=csrf value=\""]
        .iter()
        .find_map(|pat| body.split(pat).nth(1))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
}

/// The rows of a CSV export (RFC 4180: quoted cells, doubled quotes, CRLF or
/// LF line ends), each a list of cells as written (a neutralising `'` kept).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}
