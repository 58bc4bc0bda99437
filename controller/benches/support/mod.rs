//! What the page benchmarks share: the controller's config for a bench
//! (ports picked by the kernel, `MAST_BENCH_DATABASE_URL` or SQLite in a
//! temporary directory), the real controller started in-process with a
//! logged-in admin, and `wrk` runs read back as p50, p99 and requests/s.

// Each bench uses the part it needs.
#![allow(dead_code)]

use mast_controller::{config::Config, db::Db, staff};
use std::process::Command;
use std::time::Duration;

/// A bench controller's config over `dir`.
pub fn config(dir: &std::path::Path) -> anyhow::Result<Config> {
    Ok(Config {
        data_dir: dir.to_path_buf(),
        http: mast_controller::config::Http { listen: "127.0.0.1:0".parse()?, ..Default::default() },
        agents: mast_controller::config::Agents { listen: "127.0.0.1:0".parse()?, ..Default::default() },
        database_url: std::env::var("MAST_BENCH_DATABASE_URL").ok(),
        log: "warn".into(),
        ..Config::default()
    })
}

/// The controller running in-process, and an admin's session cookie.
pub struct Server {
    pub base: String,
    pub cookie: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    pub async fn start(db: &Db, cfg: Config) -> anyhow::Result<Server> {
        // A database kept from an earlier run already has the bench's admin.
        let user = match staff::user_by_email(db, "bench@wisp.test").await? {
            Some(u) => u,
            None => staff::add_user(db, "bench@wisp.test", staff::Role::Admin, "benchmark-password").await?,
        };
        let (sid, _) = staff::create_session(db, user.id, None).await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(mast_controller::serve(
            cfg,
            async move {
                let _ = stop_rx.await;
            },
            Some(tx),
        ));
        let addrs = rx.await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Server { base: format!("http://{}", addrs.http), cookie: format!("mast_session={sid}"), stop, task })
    }

    /// `wrk` on `path` with `conns` connections for 10 s: (p50, p99, requests/s).
    pub async fn wrk(&self, path: &str, conns: u32) -> anyhow::Result<(String, String, String)> {
        let (url, cookie) = (format!("{}{path}", self.base), self.cookie.clone());
        tokio::task::spawn_blocking(move || wrk(&url, &cookie, conns)).await?
    }

    /// Stops the controller (idle keep-alive connections may hold the
    /// graceful stop: at most 5 s; the figures are printed by then).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// `wrk` (2 threads, 10 s, with latency percentiles) on `url`; an error if
/// any answer was not 2xx.
pub fn wrk(url: &str, cookie: &str, conns: u32) -> anyhow::Result<(String, String, String)> {
    run_wrk(url, cookie, conns, None)
}

/// `wrk` as [`wrk`], each request for `path` with `{id}` replaced by a
/// random number in `1..=ids` (so the pages read different rows, as many
/// users would, and not one cached device).
pub fn wrk_ids(base: &str, path: &str, ids: i64, cookie: &str, conns: u32) -> anyhow::Result<(String, String, String)> {
    let script = tempfile::Builder::new().suffix(".lua").tempfile()?;
    std::fs::write(
        script.path(),
        format!(
            "math.randomseed(os.time())\n\
             request = function()\n\
             local p = string.gsub({path:?}, \"{{id}}\", tostring(math.random(1, {ids})))\n\
             return wrk.format(\"GET\", p)\n\
             end\n"
        ),
    )?;
    run_wrk(&format!("{base}{path}"), cookie, conns, Some(script.path()))
}

fn run_wrk(
    url: &str,
    cookie: &str,
    conns: u32,
    script: Option<&std::path::Path>,
) -> anyhow::Result<(String, String, String)> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{conns}"), "-d10s", "--latency", "-H", &format!("Cookie: {cookie}")]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd
        .arg(url.replace("{id}", "1"))
        .output()
        .map_err(|e| anyhow::anyhow!("running wrk ({e}); install it with `apt-get install wrk`"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let pick = |p: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(p))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string()
    };
    let rps =
        text.lines().find(|l| l.starts_with("Requests/sec")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?");
    if !text.contains("Non-2xx") {
        Ok((pick("50%"), pick("99%"), rps.to_string()))
    } else {
        anyhow::bail!("wrk saw errors for {url}:\n{text}")
    }
}
