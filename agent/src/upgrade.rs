//! The shell around `mast-upgrade-core` (whose crate doc is the spec): the
//! files beside the binary, the persisted state, the download over the link,
//! the checks before anything is executable, the trial child and the swap.
//!
//! Processes:
//! - the normal `run` process downloads and verifies an offered release
//!   ([`drive`]); once it is staged the process re-executes itself, and
//! - the fresh process, finding `Staged` (or `Trial` after a crash or a
//!   kill), does none of its own work: it is the **supervisor** of the trial
//!   ([`supervise`]), running `BIN.new` as its child with
//!   [`TRIAL_ENV`] set, stdin a pipe (its end is the child's signal to stop:
//!   a killed supervisor closes it too) and stdout the health pipe (the child
//!   prints `connected`, then `healthy`). Then it re-executes `BIN`: the new
//!   one after an install, the old one after a roll-back.
//!
//! Locks: a normal run and a supervisor both hold `upgrade.lock` (one of
//! them per state directory); every process that opens the spool holds
//! `run.lock` (the trial child waits for an exiting predecessor to let go).

use mast_shared::io::{IoError, read_frame, write_frame};
use mast_shared::{AgentMsg, ControllerMsg, FetchRequest, ReleaseKey, UpgradeOffer, UpgradeReport, UpgradeResult};
use mast_upgrade_core::{self as core, Action, Event, Files, Limits, Outcome, Phase, Release, State};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

/// Set in the environment of a binary run on trial.
pub const TRIAL_ENV: &str = "MAST_UPGRADE_TRIAL";

/// Whether this process is a binary on trial.
pub fn in_trial() -> bool {
    std::env::var_os(TRIAL_ENV).is_some()
}

use crate::now_ms;

/// The files of an install (see the core's doc).
#[derive(Debug, Clone)]
pub struct Paths {
    pub bin: PathBuf,
    pub part: PathBuf,
    pub new: PathBuf,
    pub prev: PathBuf,
    pub state: PathBuf,
    pub keys: PathBuf,
}

impl Paths {
    pub fn new(bin: &Path, state_dir: &Path) -> Paths {
        let with = |suffix: &str| {
            let mut s = bin.as_os_str().to_owned();
            s.push(suffix);
            PathBuf::from(s)
        };
        Paths {
            bin: bin.to_owned(),
            part: with(".part"),
            new: with(".new"),
            prev: with(".prev"),
            state: state_dir.join("upgrade.json"),
            keys: state_dir.join("release-keys.json"),
        }
    }

    /// The running binary's paths (read once at start: after an install the
    /// old inode has no name of its own any more).
    pub fn current(state_dir: &Path) -> std::io::Result<Paths> {
        Ok(Paths::new(&std::env::current_exe()?, state_dir))
    }

    fn files(&self) -> Files {
        Files { part_len: std::fs::metadata(&self.part).map(|m| m.len()).unwrap_or(0), staged: self.new.exists() }
    }

    fn dir(&self) -> &Path {
        self.bin.parent().unwrap_or(Path::new("."))
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn remove(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The state machine with its persisted state.
pub struct Upgrader {
    pub paths: Paths,
    state: State,
}

impl Upgrader {
    /// Loads the state (a missing or unreadable one starts idle: `BIN` is
    /// known-good whatever happened).
    pub fn open(paths: Paths) -> Upgrader {
        let state = match std::fs::read(&paths.state) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                warn!(error = %e, "upgrade state unreadable; starting idle");
                State::new(crate::VERSION)
            }),
            Err(_) => State::new(crate::VERSION),
        };
        Upgrader { paths, state }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    fn limits(&self) -> Limits {
        let release = match &self.state.phase {
            Phase::Idle => None,
            Phase::Downloading { release, .. }
            | Phase::Staged { release }
            | Phase::Trial { release, .. }
            | Phase::Installing { release } => Some(release),
        };
        match release {
            Some(r) if r.trial_secs > 0 => Limits { trial_ms: i64::from(r.trial_secs) * 1000, ..Limits::default() },
            _ => Limits::default(),
        }
    }

    /// Steps the core and persists the new state **before** returning the
    /// actions. If the state cannot be written nothing is done (every step
    /// is retried later from what was persisted).
    pub fn feed(&mut self, ev: Event) -> Vec<Action> {
        let (next, actions) = core::step(&self.state, ev, &self.limits());
        if next != self.state {
            let json = serde_json::to_vec_pretty(&next).expect("upgrade state serializes");
            if let Err(e) = crate::identity::write_atomic(&self.paths.state, &json, 0o644) {
                error!(error = %e, "cannot persist the upgrade state; the step is not taken");
                return Vec::new();
            }
            self.state = next;
        }
        actions
    }

    /// The process started: resume from the persisted state.
    pub fn boot(&mut self) -> Vec<Action> {
        let files = self.paths.files();
        let mut actions = self.feed(Event::Boot { running: crate::VERSION.to_string(), files, now_ms: now_ms() });
        if matches!(self.state.phase, Phase::Staged { .. }) {
            actions.extend(self.feed(Event::StartTrial { now_ms: now_ms() }));
        }
        actions
    }

    /// The report the controller has not acknowledged yet.
    pub fn pending_report(&self) -> Option<UpgradeReport> {
        self.state.report.as_ref().map(to_wire)
    }

    pub fn discard(&self) {
        for p in [&self.paths.part, &self.paths.new] {
            if let Err(e) = remove(p) {
                warn!(path = %p.display(), error = %e, "cannot delete");
            }
        }
    }

    fn stage(&self) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.paths.part, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&self.paths.part, &self.paths.new)?;
        sync_dir(self.paths.dir())
    }

    /// `BIN` → `BIN.prev` (by a hard link, so `BIN` never goes missing), then
    /// `BIN.new` over `BIN`, then the directory is synced.
    pub fn install(&self) -> std::io::Result<()> {
        let p = &self.paths;
        if p.bin.exists() {
            let tmp = p.prev.with_extension("prev-tmp");
            remove(&tmp)?;
            std::fs::hard_link(&p.bin, &tmp)?;
            std::fs::rename(&tmp, &p.prev)?;
        }
        std::fs::rename(&p.new, &p.bin)?;
        sync_dir(p.dir())
    }

    /// Every check before the file may become executable.
    fn verify(&self, r: &Release) -> Result<(), String> {
        let data = std::fs::read(&self.paths.part).map_err(|e| format!("cannot read the download: {e}"))?;
        if data.len() as u64 != r.size {
            return Err(format!("size {} is not the announced {}", data.len(), r.size));
        }
        let sha = hex::encode(Sha256::digest(&data));
        if !sha.eq_ignore_ascii_case(&r.sha256) {
            return Err(format!("SHA-256 {sha} is not the announced {}", r.sha256));
        }
        if r.target != crate::TARGET {
            return Err(format!("built for {}, this agent runs on {}", r.target, crate::TARGET));
        }
        core::binary::check_binary(&data[..data.len().min(64)], crate::TARGET)?;
        let keys: Vec<core::signature::TrustedKey> = load_keys(&self.paths.keys)
            .into_iter()
            .map(|public_key| core::signature::TrustedKey { public_key })
            .collect();
        core::signature::verify(&keys, &r.signature, &data)?;
        let needed = r.size.saturating_mul(4) + (16 << 20);
        if let Some(avail) = mem_available()
            && avail < needed
        {
            return Err(format!("{avail} bytes of memory available, {needed} needed to run a trial"));
        }
        Ok(())
    }
}

fn to_wire(o: &Outcome) -> UpgradeReport {
    match o {
        Outcome::Upgraded { version } => UpgradeReport { version: version.clone(), result: UpgradeResult::Upgraded },
        Outcome::RolledBack { version, reason } => {
            UpgradeReport { version: version.clone(), result: UpgradeResult::RolledBack(reason.as_str().to_string()) }
        }
        Outcome::Refused { version, reason } => {
            UpgradeReport { version: version.clone(), result: UpgradeResult::Refused(reason.clone()) }
        }
    }
}

/// The board's model: the device tree's (ARM boards), else the DMI product
/// name (PCs); trimmed, at most 100 characters.
pub fn machine_model() -> Option<String> {
    ["/proc/device-tree/model", "/sys/class/dmi/id/product_name"].iter().find_map(|p| {
        let s = std::fs::read_to_string(p).ok()?;
        let s: String = s.trim_matches(|c: char| c == '\0' || c.is_whitespace()).chars().take(100).collect();
        (!s.is_empty()).then_some(s)
    })
}

fn mem_available() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn disk_available(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The pinned release keys (base64 key lines).
pub fn load_keys(path: &Path) -> Vec<String> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Takes the keys the controller offers that a pinned key endorses (all of
/// them when none is pinned yet: at enrollment) and persists them.
pub fn apply_keys(path: &Path, offered: &[ReleaseKey]) {
    let pinned = load_keys(path);
    let offered: Vec<core::signature::OfferedKey> = offered
        .iter()
        .map(|k| core::signature::OfferedKey { key_file: k.key_file.clone(), endorsement: k.endorsement.clone() })
        .collect();
    let (taken, refused) = core::signature::accept_keys(&pinned, &offered);
    for why in refused {
        warn!(reason = %why, "release key not pinned");
    }
    if taken.is_empty() {
        return;
    }
    let mut all = pinned;
    all.extend(taken.iter().cloned());
    let json = serde_json::to_vec_pretty(&all).expect("keys serialize");
    match crate::identity::write_atomic(path, &json, 0o644) {
        Ok(()) => info!(keys = ?taken, "release keys pinned"),
        Err(e) => warn!(error = %e, "cannot persist release keys"),
    }
}

/// Replaces this process with `bin` and the same arguments (never returns
/// unless the exec failed).
pub fn reexec(bin: &Path) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    info!(bin = %bin.display(), "re-executing");
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    std::process::Command::new(bin).args(args).env_remove(TRIAL_ENV).exec()
}

/// What the link hands the driver.
pub enum Input {
    Offer(UpgradeOffer),
    /// The controller stored the report for this version.
    Acked(String),
}

/// The normal run's side of upgrades: takes offers, downloads over the live
/// connection (resuming after cuts), verifies, stages, and re-executes into
/// the trial; keeps `report` holding the outcome to send until acknowledged.
pub async fn drive(
    mut up: Upgrader,
    first: Vec<Action>,
    mut inputs: mpsc::Receiver<Input>,
    conn: watch::Receiver<Option<quinn::Connection>>,
    report: watch::Sender<Option<UpgradeReport>>,
    before_exec: impl Fn(),
) {
    report.send_replace(up.pending_report());
    let mut queue: VecDeque<Action> = first.into();
    loop {
        while let Some(a) = queue.pop_front() {
            match a {
                Action::Fetch { from } => {
                    let events = download(&mut up, from, conn.clone()).await;
                    queue.extend(events);
                }
                Action::Verify => {
                    let release = match &up.state.phase {
                        Phase::Downloading { release, .. } => release.clone(),
                        _ => continue,
                    };
                    let res = up.verify(&release);
                    if let Err(why) = &res {
                        warn!(version = %release.version, reason = %why, "release refused: it is never executed");
                    }
                    queue.extend(up.feed(Event::Verified(res)));
                }
                Action::Stage => {
                    if let Err(e) = up.stage() {
                        warn!(error = %e, "cannot stage the release");
                        queue.extend(up.feed(Event::Verified(Err(format!("cannot stage: {e}")))));
                        continue;
                    }
                    info!("release verified and staged; restarting to try it");
                    before_exec();
                    let e = reexec(&up.paths.bin);
                    error!(error = %e, "cannot re-execute; the trial starts at the next start");
                }
                Action::Discard => up.discard(),
                Action::Report(_) => {
                    report.send_replace(up.pending_report());
                }
                Action::Install | Action::Restart | Action::RunStaged | Action::StopStaged | Action::ResumeOwn => {
                    // Only at boot and in the supervisor.
                    warn!(?a, "upgrade action ignored while running");
                }
            }
        }
        let Some(input) = inputs.recv().await else { return };
        match input {
            Input::Offer(o) => {
                let release = Release {
                    version: o.version,
                    size: o.size,
                    id: o.release_id,
                    target: o.target,
                    sha256: o.sha256,
                    signature: o.signature,
                    trial_secs: o.trial_secs,
                };
                queue.extend(up.feed(Event::Offer(release)));
            }
            Input::Acked(v) => {
                if up.state.report.as_ref().is_some_and(|r| to_wire(r).version == v) {
                    queue.extend(up.feed(Event::ReportAcked));
                    report.send_replace(None);
                }
            }
        }
    }
}

/// Downloads into `BIN.part` from byte `from`, waiting for a connection and
/// resuming after cuts, until the file is complete or the core stops it.
async fn download(up: &mut Upgrader, from: u64, mut conn: watch::Receiver<Option<quinn::Connection>>) -> Vec<Action> {
    let Phase::Downloading { release, .. } = up.state.phase.clone() else { return Vec::new() };
    if from == 0 {
        let need = release.size + (1 << 20);
        if let Some(avail) = disk_available(up.paths.dir())
            && avail < need
        {
            return up.feed(Event::Verified(Err(format!("{avail} bytes free on disk, {need} needed"))));
        }
    }
    let mut have = from;
    loop {
        let c = conn.borrow_and_update().clone();
        let Some(c) = c else {
            if conn.changed().await.is_err() {
                return Vec::new();
            }
            continue;
        };
        match fetch(&c, &up.paths.part, release.id, have, release.size).await {
            // The controller ended the stream with nothing more to give: its
            // file is shorter than announced.
            Ok(n) if n == have && n < release.size => {
                warn!(have = n, size = release.size, "the controller has no more bytes of this release");
                return up.feed(Event::Verified(Err(format!(
                    "the download ended at {n} of the announced {} bytes",
                    release.size
                ))));
            }
            Ok(n) => have = n,
            Err(FetchError::Local(e)) => {
                // This machine cannot hold it (a read-only or foreign-owned
                // directory, a full disk): refuse rather than retry forever.
                warn!(error = %e, "cannot write the release download");
                return up.feed(Event::Verified(Err(format!("cannot write the download: {e}"))));
            }
            Err(FetchError::Link(n, e)) => {
                have = n;
                warn!(have, size = release.size, error = %e, "release download interrupted; resuming");
            }
        }
        let actions = up.feed(Event::Received { have });
        if !actions.is_empty() || have >= release.size {
            return actions;
        }
        // Cut: wait a little (or for a new connection) and resume.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = conn.changed() => {}
        }
    }
}

enum FetchError {
    /// The file could not be written here.
    Local(String),
    /// The link failed after this many bytes were held.
    Link(u64, String),
}

impl From<(u64, String)> for FetchError {
    fn from((have, e): (u64, String)) -> FetchError {
        FetchError::Link(have, e)
    }
}

/// One download stream: the bytes from `from` on, appended and synced chunk
/// by chunk. Returns how much `BIN.part` holds.
async fn fetch(
    conn: &quinn::Connection,
    part: &Path,
    release_id: u64,
    from: u64,
    size: u64,
) -> Result<u64, FetchError> {
    use std::io::Seek;
    use std::os::unix::fs::OpenOptionsExt;
    let local = |e: std::io::Error| FetchError::Local(format!("{}: {e}", part.display()));
    let mut file =
        std::fs::OpenOptions::new().create(true).write(true).truncate(false).mode(0o600).open(part).map_err(local)?;
    file.set_len(from).map_err(local)?;
    file.seek(std::io::SeekFrom::Start(from)).map_err(local)?;
    Ok(fetch_into(conn, &mut file, release_id, from, size).await?)
}

async fn fetch_into(
    conn: &quinn::Connection,
    file: &mut std::fs::File,
    release_id: u64,
    from: u64,
    size: u64,
) -> Result<u64, (u64, String)> {
    let mut have = from;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| (have, e.to_string()))?;
    write_frame(&mut send, &AgentMsg::Fetch(FetchRequest { release_id, from }))
        .await
        .map_err(|e| (have, e.to_string()))?;
    let _ = send.finish();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), read_frame::<_, ControllerMsg>(&mut recv)).await;
        match msg {
            Err(_) => return Err((have, "no data for 30 s".into())),
            Ok(Err(IoError::Closed)) => return Ok(have),
            Ok(Err(e)) => return Err((have, e.to_string())),
            Ok(Ok(ControllerMsg::Chunk(c))) => {
                if c.offset != have {
                    return Err((have, format!("chunk at {} while holding {have} bytes", c.offset)));
                }
                if have + c.data.len() as u64 > size {
                    // Keep what fits so the core sees the overrun and refuses.
                    file.write_all(&c.data).map_err(|e| (have, e.to_string()))?;
                    return Ok(have + c.data.len() as u64);
                }
                file.write_all(&c.data).and_then(|()| file.sync_data()).map_err(|e| (have, e.to_string()))?;
                have += c.data.len() as u64;
            }
            Ok(Ok(ControllerMsg::Refused(r))) => return Err((have, format!("refused: {}", r.reason))),
            Ok(Ok(other)) => return Err((have, format!("unexpected message on a download stream: {other:?}"))),
        }
    }
}

/// The child on trial.
struct TrialChild {
    child: tokio::process::Child,
    /// Held here: `Child::wait` closes the stdin it holds, and its end is
    /// the child's signal to stop.
    stdin: Option<tokio::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

fn spawn_trial(bin: &Path) -> std::io::Result<TrialChild> {
    let mut child = tokio::process::Command::new(bin)
        .args(std::env::args_os().skip(1))
        .env(TRIAL_ENV, "1")
        // Only the supervisor talks to systemd.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_PID")
        .env_remove("WATCHDOG_USEC")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (tx, lines) = mpsc::channel(8);
    let stdin = child.stdin.take();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(out);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                // Lines are short; anything longer is noise and is cut.
                match (&mut r).take(256).read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim().to_string();
                        if matches!(line.as_str(), "connected" | "healthy") && tx.send(line).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    info!(bin = %bin.display(), pid = child.id(), "trial started");
    Ok(TrialChild { child, stdin, lines })
}

async fn stop(t: Option<TrialChild>) {
    let Some(mut t) = t else { return };
    // Closing its stdin asks it to stop; it has 5 s.
    drop(t.stdin.take());
    if tokio::time::timeout(Duration::from_secs(5), t.child.wait()).await.is_err() {
        let _ = t.child.start_kill();
        let _ = t.child.wait().await;
    }
}

use tokio::io::AsyncReadExt as _;

/// Runs the trial (the process does nothing else meanwhile) until `BIN` must
/// be re-executed: after an install, or after a roll-back.
pub async fn supervise(up: &mut Upgrader, first: Vec<Action>) {
    let mut child: Option<TrialChild> = None;
    let mut queue: VecDeque<Action> = first.into();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    systemd(sd_notify::NotifyState::Ready);
    loop {
        while let Some(a) = queue.pop_front() {
            match a {
                Action::RunStaged => {
                    let restart = child.is_some();
                    stop(child.take()).await;
                    if restart {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    match spawn_trial(&up.paths.new) {
                        Ok(c) => child = Some(c),
                        Err(e) => {
                            warn!(error = %e, "cannot start the staged binary");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            queue.extend(up.feed(Event::ChildExited { now_ms: now_ms() }));
                        }
                    }
                }
                Action::StopStaged => stop(child.take()).await,
                Action::Discard => up.discard(),
                Action::Install => {
                    if let Err(e) = up.install() {
                        // BIN is untouched or complete: the next start retries.
                        error!(error = %e, "cannot install the new binary");
                    }
                }
                Action::ResumeOwn | Action::Restart => {
                    stop(child.take()).await;
                    return;
                }
                Action::Report(o) => info!(outcome = ?o, "upgrade finished"),
                Action::Fetch { .. } | Action::Verify | Action::Stage => warn!(?a, "download action during a trial"),
            }
        }
        let ev = match child.as_mut() {
            None => {
                tick.tick().await;
                systemd(sd_notify::NotifyState::Watchdog);
                Event::Tick { now_ms: now_ms() }
            }
            Some(c) => tokio::select! {
                line = c.lines.recv(), if !c.lines.is_closed() => match line.as_deref() {
                    Some("connected") => Event::ChildConnected,
                    Some("healthy") => Event::ChildHealthy,
                    _ => continue,
                },
                status = c.child.wait() => {
                    warn!(status = ?status.ok(), "binary on trial exited");
                    child = None;
                    Event::ChildExited { now_ms: now_ms() }
                }
                _ = tick.tick() => {
                    systemd(sd_notify::NotifyState::Watchdog);
                    Event::Tick { now_ms: now_ms() }
                }
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {
                    info!("stopping during a trial; it resumes at the next start");
                    stop(child.take()).await;
                    std::process::exit(0);
                }
            },
        };
        queue.extend(up.feed(ev));
    }
}

/// Tells systemd (when it started us with `NOTIFY_SOCKET`); a no-op otherwise.
pub fn systemd(state: sd_notify::NotifyState) {
    let _ = sd_notify::notify(false, &[state]);
}

/// The trial child's health signals (stdout is the supervisor's pipe; a
/// closed pipe is ignored).
pub fn signal_health(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
