//! The link to the controller: connect with the agent certificate, hello,
//! then stream spooled samples and apply acks and config pushes. Reconnects
//! forever with exponential backoff and full jitter.
//!
//! Invariants: a sample is deleted from the spool only after the controller
//! acknowledged it (it acks after its commit); after a reconnect, sending
//! restarts from the first unacknowledged sample.

use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::spool::Spool;
use mast_shared::io::{IoError, read_frame, write_frame};
use mast_shared::{AgentMsg, AgentStatus, ControllerMsg, Hello, PROTOCOL_VERSION, SampleBatch};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

pub const BATCH_MAX: usize = 1000;
const WINDOW: usize = 4;

fn now_ms() -> u64 {
    crate::now_ms().max(0) as u64
}

/// The link's side of upgrades (absent in a binary on trial, which only
/// proves it works).
pub struct LinkUpgrade {
    pub inputs: tokio::sync::mpsc::Sender<crate::upgrade::Input>,
    /// The outcome to report until the controller acknowledges it.
    pub report: watch::Receiver<Option<mast_shared::UpgradeReport>>,
    /// The live connection (downloads open their own streams on it).
    pub conn: watch::Sender<Option<quinn::Connection>>,
    /// Where the pinned release keys are kept.
    pub keys: PathBuf,
}

pub struct Link {
    pub upgrade: Option<LinkUpgrade>,
    /// This binary is on trial: print `connected` and `healthy` for the supervisor.
    pub trial: bool,
    /// When the last frame from the controller arrived (Unix ms).
    pub last_rx_ms: std::sync::atomic::AtomicU64,
    pub agent_id: u64,
    pub boot_epoch: u64,
    /// The controller's `host:port`, or several, comma-separated (controllers
    /// sharing one database): the link uses one, and moves to the next when
    /// a connection fails or a link ends.
    pub controller: String,
    /// Which of the addresses the next connection tries.
    pub next_controller: std::sync::atomic::AtomicUsize,
    pub client_config: quinn::ClientConfig,
    pub spool: Arc<Mutex<Spool>>,
    pub new_data: Arc<Notify>,
    /// The site config and probing settings in force, with their guard.
    pub configs: Arc<crate::configs::Configs>,
    pub state_dir: PathBuf,
    pub metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("connect: {0}")]
    Connect(String),
    #[error("link lost: {0}")]
    Lost(String),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("spool: {0}")]
    Spool(String),
}

async fn spool_op<T: Send + 'static>(
    spool: &Arc<Mutex<Spool>>,
    f: impl FnOnce(&mut Spool) -> Result<T, crate::identity::StateError> + Send + 'static,
) -> Result<T, LinkError> {
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || {
        let mut g = spool.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    })
    .await
    .map_err(|e| LinkError::Spool(e.to_string()))?
    .map_err(|e| LinkError::Spool(e.to_string()))
}

impl Link {
    pub async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            self.metrics.connect_attempts.fetch_add(1, Relaxed);
            let started = Instant::now();
            let res = self.session().await;
            if self.metrics.connected.swap(0, Relaxed) == 1 {
                // The uplink went down: spool when we last heard from the
                // controller, so it can tell a backhaul outage from device
                // outages (and not count the idle timeout as uptime).
                let last = self.last_rx_ms.load(Relaxed);
                self.record_uplink(false, (last > 0).then_some(last)).await;
            }
            match &res {
                Ok(()) => info!("link closed by controller"),
                Err(e) => {
                    self.metrics.errors_link.fetch_add(1, Relaxed);
                    warn!(error = %e, "link down");
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                backoff.reset();
            }
            let delay = backoff.next_delay(rand::random::<f64>());
            tokio::time::sleep(delay).await;
        }
    }

    async fn session(&self) -> Result<(), LinkError> {
        let addrs = crate::enroll::controllers(&self.controller);
        let i = self.next_controller.load(Relaxed) % addrs.len().max(1);
        let res = self.session_with(addrs.get(i).copied().unwrap_or_default()).await;
        if res.is_err() && addrs.len() > 1 {
            let next = addrs[(i + 1) % addrs.len()];
            info!(failed = addrs[i], next, "moving to the next controller address");
            self.next_controller.store(i + 1, Relaxed);
        }
        res
    }

    async fn session_with(&self, controller: &str) -> Result<(), LinkError> {
        let remote = crate::enroll::resolve(controller).await.map_err(|e| LinkError::Connect(format!("{e:#}")))?;
        let endpoint = crate::enroll::client_endpoint(remote).map_err(|e| LinkError::Connect(e.to_string()))?;
        let conn = endpoint
            .connect_with(self.client_config.clone(), remote, mast_shared::CONTROLLER_SERVER_NAME)
            .map_err(|e| LinkError::Connect(e.to_string()))?
            .await
            .map_err(|e| LinkError::Connect(e.to_string()))?;
        let res = self.serve(&conn).await;
        self.configs.link(false);
        if let Some(u) = &self.upgrade {
            u.conn.send_replace(None);
        }
        conn.close(0u32.into(), b"bye");
        endpoint.close(0u32.into(), b"bye");
        res
    }

    async fn serve(&self, conn: &quinn::Connection) -> Result<(), LinkError> {
        let lost = |e: String| LinkError::Lost(explain_close(conn).unwrap_or(e));
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| lost(e.to_string()))?;
        let hello = AgentMsg::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            agent_id: self.agent_id,
            agent_version: crate::VERSION.to_string(),
            boot_epoch: self.boot_epoch,
            target: crate::TARGET.to_string(),
        });
        write_frame(&mut send, &hello).await.map_err(|e| lost(e.to_string()))?;
        let welcome =
            match tokio::time::timeout(Duration::from_secs(15), read_frame::<_, ControllerMsg>(&mut recv)).await {
                Ok(Ok(ControllerMsg::Welcome(w))) => w,
                Ok(Ok(other)) => return Err(LinkError::Protocol(format!("expected welcome, got {other:?}"))),
                Ok(Err(e)) => return Err(lost(e.to_string())),
                Err(_) => return Err(LinkError::Protocol("no welcome within 15 s".into())),
            };
        self.metrics.connections.fetch_add(1, Relaxed);
        self.metrics.connected.store(1, Relaxed);
        info!(site = %welcome.config.site, revision = welcome.config.revision, "link up");
        self.configs.apply_config(welcome.config);
        self.configs.link(true);
        self.record_uplink(true, None).await;
        if self.trial {
            crate::upgrade::signal_health("connected");
        }
        // Without an upgrade side (on trial) the receiver's sender is gone:
        // its branch below never fires.
        let mut report_rx = match &self.upgrade {
            Some(u) => {
                u.conn.send_replace(Some(conn.clone()));
                u.report.clone()
            }
            None => watch::channel(None).1,
        };
        let pending = report_rx.borrow_and_update().clone();
        if let Some(r) = pending {
            write_frame(&mut send, &AgentMsg::Upgrade(r)).await.map_err(|e| lost(e.to_string()))?;
        }
        let mut healthy_sent = false;
        let facts = mast_shared::AgentFacts { model: crate::upgrade::machine_model() };
        write_frame(&mut send, &AgentMsg::Facts(facts)).await.map_err(|e| lost(e.to_string()))?;
        let mut config_rx = self.configs.report.subscribe();
        let current = config_rx.borrow_and_update().clone();
        if let Some(r) = current {
            write_frame(&mut send, &AgentMsg::ConfigApplied(r)).await.map_err(|e| lost(e.to_string()))?;
        }

        let (ftx, mut frx) = tokio::sync::mpsc::channel::<Result<ControllerMsg, IoError>>(16);
        let reader = tokio::spawn(async move {
            loop {
                let r = read_frame::<_, ControllerMsg>(&mut recv).await;
                let stop = r.is_err();
                if ftx.send(r).await.is_err() || stop {
                    return;
                }
            }
        });
        struct Abort(tokio::task::JoinHandle<()>);
        impl Drop for Abort {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let _reader = Abort(reader);

        // Everything up to the spool's ack is done; resend from there.
        let mut sent_upto = spool_op(&self.spool, |s| Ok(s.acked())).await?;
        let mut inflight: VecDeque<(u64, u64)> = VecDeque::new();
        let mut status_tick = tokio::time::interval(Duration::from_secs(10));
        let mut poll_tick = tokio::time::interval(Duration::from_secs(1));
        let mut drops_sent = 0usize;
        loop {
            let drops =
                spool_op(&self.spool, move |s| Ok((s.drops().len() != drops_sent).then(|| s.drops().to_vec()))).await?;
            if let Some(d) = drops {
                drops_sent = d.len();
                write_frame(&mut send, &AgentMsg::Dropped(d)).await.map_err(|e| lost(e.to_string()))?;
            }
            while inflight.len() < WINDOW {
                let after = sent_upto;
                let batch = spool_op(&self.spool, move |s| s.read_after(after, BATCH_MAX)).await?;
                let Some(last) = batch.last() else { break };
                let key = (last.boot_epoch, last.seq);
                let n = batch.len() as u64;
                write_frame(&mut send, &AgentMsg::Samples(SampleBatch { agent_id: self.agent_id, samples: batch }))
                    .await
                    .map_err(|e| lost(e.to_string()))?;
                self.metrics.samples_sent.fetch_add(n, Relaxed);
                sent_upto = Some(key);
                inflight.push_back(key);
            }
            tokio::select! {
                frame = frx.recv() => { if matches!(frame, Some(Ok(_))) { self.last_rx_ms.store(now_ms(), Relaxed); } match frame {
                    None | Some(Err(IoError::Closed)) => return Err(lost("controller closed the stream".into())),
                    Some(Err(e)) => return Err(lost(e.to_string())),
                    Some(Ok(ControllerMsg::Ack(a))) => {
                        let key = (a.boot_epoch, a.seq);
                        let m = self.metrics.clone();
                        spool_op(&self.spool, move |s| { s.ack(key)?; m.sync_spool(s); Ok(()) }).await?;
                        while inflight.front().is_some_and(|k| *k <= key) {
                            inflight.pop_front();
                        }
                        // On trial, healthy means: the controller stored a
                        // sample of this process, and probing runs.
                        let probing = self.metrics.probes.load(Relaxed) > 0
                            || self.configs.config_tx.borrow().as_ref().is_some_and(|c| c.targets.is_empty());
                        if self.trial && !healthy_sent && a.boot_epoch == self.boot_epoch && probing {
                            healthy_sent = true;
                            crate::upgrade::signal_health("healthy");
                        }
                    }
                    Some(Ok(ControllerMsg::Upgrade(o))) => {
                        if let Some(u) = &self.upgrade {
                            info!(version = %o.version, size = o.size, "upgrade offered");
                            let _ = u.inputs.try_send(crate::upgrade::Input::Offer(o));
                        }
                    }
                    Some(Ok(ControllerMsg::UpgradeAck(v))) => {
                        if let Some(u) = &self.upgrade {
                            let _ = u.inputs.try_send(crate::upgrade::Input::Acked(v));
                        }
                    }
                    Some(Ok(ControllerMsg::ReleaseKeys(keys))) => {
                        if let Some(u) = &self.upgrade {
                            crate::upgrade::apply_keys(&u.keys, &keys);
                        }
                    }
                    Some(Ok(ControllerMsg::Config(c))) => self.configs.apply_config(c),
                    Some(Ok(ControllerMsg::Probing(p))) => self.configs.apply_probing(p),
                    Some(Ok(ControllerMsg::Refused(r))) => return Err(LinkError::Protocol(format!("refused: {}", r.reason))),
                    Some(Ok(other)) => return Err(LinkError::Protocol(format!("unexpected message {other:?}"))),
                }},
                _ = self.new_data.notified() => {}
                Ok(()) = config_rx.changed() => {
                    let r = config_rx.borrow_and_update().clone();
                    if let Some(r) = r {
                        write_frame(&mut send, &AgentMsg::ConfigApplied(r)).await.map_err(|e| lost(e.to_string()))?;
                    }
                }
                Ok(()) = report_rx.changed() => {
                    let r = report_rx.borrow_and_update().clone();
                    if let Some(r) = r {
                        write_frame(&mut send, &AgentMsg::Upgrade(r)).await.map_err(|e| lost(e.to_string()))?;
                    }
                }
                _ = poll_tick.tick() => {}
                _ = status_tick.tick() => {
                    let backlog = spool_op(&self.spool, |s| Ok(s.backlog())).await?;
                    let dropped = self.metrics.spool_dropped.load(Relaxed);
                    write_frame(&mut send, &AgentMsg::Status(AgentStatus { backlog, dropped })).await.map_err(|e| lost(e.to_string()))?;
                }
                reason = conn.closed() => return Err(LinkError::Lost(describe(&reason))),
            }
        }
    }

    async fn record_uplink(&self, up: bool, at_ms: Option<u64>) {
        let now = now_ms();
        let ts = at_ms.unwrap_or(now);
        let _ = spool_op(&self.spool, move |s| {
            s.push(ts as i64, mast_shared::SampleBody::Uplink { up }, now);
            Ok(())
        })
        .await;
        self.new_data.notify_one();
    }
}

fn describe(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => {
            format!("controller closed the link (code {}): {}", c.error_code, String::from_utf8_lossy(&c.reason))
        }
        other => other.to_string(),
    }
}

fn explain_close(conn: &quinn::Connection) -> Option<String> {
    conn.close_reason().map(|r| describe(&r))
}
