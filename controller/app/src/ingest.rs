//! Ingest: the controller's QUIC endpoint. Two ALPNs share one port:
//! `mast-enroll/1` (no client certificate yet: token + CSR in, certificate out)
//! and `mast/1` (mutual TLS; hello, then sample batches in, acks and config out).
//!
//! Invariants: an ack for `(boot_epoch, seq)` is sent only after the
//! transaction holding that sample has committed; a batch is processed only
//! after the previous one was acked (one stream, in order), so "acked up to K"
//! means every earlier sample of that agent is stored. A malformed frame closes
//! that connection only; nothing from the network can stop the endpoint.

use crate::db::Db;
use crate::fleet::{self, AgentControl, AgentStatus};
use crate::metrics::Metrics;
use crate::outages::Event;
use crate::pki::{self, Pki};
use crate::shutdown::Shutdown;
use mast_shared::io::{IoError, read_frame, write_frame};
use mast_shared::{
    ALPN_ENROLL, ALPN_LINK, Ack, AgentMsg, ControllerMsg, PROTOCOL_VERSION, Refused, SiteConfig, Welcome,
};
use quinn::VarInt;
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// Application close codes on the agent link (the agent logs them).
pub mod close {
    pub const REFUSED: u32 = 1;
    pub const REVOKED: u32 = 2;
    pub const PROTOCOL: u32 = 3;
    pub const SHUTDOWN: u32 = 4;
    pub const INTERNAL: u32 = 5;
}

pub type ControlMap = Arc<HashMap<u64, AgentControl>>;

#[derive(Clone)]
pub struct Ingest {
    /// Reachability and link events for outage correlation.
    pub outages: crate::outages::OutageFeed,
    pub db: Db,
    pub pki: Arc<Pki>,
    pub metrics: Arc<Metrics>,
    pub control: watch::Receiver<ControlMap>,
    pub cert_validity: Duration,
    /// At shutdown each link finishes the batch in hand (committed and
    /// acknowledged), then closes with [`close::SHUTDOWN`].
    pub shutdown: Shutdown,
    /// The live link of each agent, by link id: a newer link of the same
    /// agent closes the older one, and only the live link's end marks the
    /// agent disconnected.
    pub links: Links,
    /// Release downloads (fleet upgrades), paced.
    pub releases: Arc<crate::releases::Distribution>,
    /// Stores the links' batches, several links' in one commit.
    pub writer: Writer,
}

/// A link's batch waiting for the writer.
struct WriteReq {
    agent_id: u64,
    site_id: i64,
    samples: Vec<mast_shared::Sample>,
    devices: HashMap<std::net::IpAddr, i64>,
    reply: tokio::sync::oneshot::Sender<(
        Result<crate::monitoring::Stored, crate::db::StoreError>,
        HashMap<std::net::IpAddr, i64>,
    )>,
}

/// Group commit across links: the writers take every batch waiting (up
/// to [`GROUP_SAMPLES`] samples) and store them in one transaction, so a
/// thousand agents' small batches cost a few commits, not a thousand, and
/// SQLite's single writer never waits on its own lock. One writer on
/// SQLite (its writes are serial anyway), four on PostgreSQL. A group that
/// fails is stored again batch by batch: one bad batch fails only its link.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteReq>,
}

/// Most samples in one group commit.
const GROUP_SAMPLES: usize = 20_000;

impl Writer {
    pub fn spawn(db: Db) -> Writer {
        let (tx, rx) = mpsc::channel::<WriteReq>(1024);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let writers = match db.backend {
            mast_store::db::Backend::Sqlite => 1,
            mast_store::db::Backend::Postgres => 4,
        };
        for _ in 0..writers {
            let (db, rx) = (db.clone(), rx.clone());
            // Not tied to the shutdown signal: a writer ends when every link
            // (holder of a sender) has ended, after storing what they sent.
            tokio::spawn(async move {
                // On SQLite the writer keeps one connection: SQLite drops a
                // connection's whole page cache whenever another connection
                // commits, so a pooled connection per group re-read every
                // index page it wrote (measured: most of ingest's time went
                // to the kernel).
                let mut own = None;
                loop {
                    let mut group = Vec::new();
                    {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        let mut n = first.samples.len();
                        group.push(first);
                        while n < GROUP_SAMPLES {
                            let Ok(more) = rx.try_recv() else { break };
                            n += more.samples.len();
                            group.push(more);
                        }
                    }
                    store_group(&db, &mut own, group).await;
                }
            });
        }
        if db.backend == mast_store::db::Backend::Sqlite {
            tokio::spawn(checkpoints(db, tx.downgrade()));
        }
        Writer { tx }
    }

    /// Stores a link's samples; returns after the commit.
    pub async fn store(
        &self,
        agent_id: u64,
        site_id: i64,
        samples: Vec<mast_shared::Sample>,
        devices: &mut HashMap<std::net::IpAddr, i64>,
    ) -> Result<crate::monitoring::Stored, crate::db::StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let req = WriteReq { agent_id, site_id, samples, devices: std::mem::take(devices), reply };
        let gone = || crate::db::StoreError::Corrupt("the sample writer stopped".into());
        self.tx.send(req).await.map_err(|_| gone())?;
        let (res, cache) = answer.await.map_err(|_| gone())?;
        *devices = cache;
        res
    }
}

/// SQLite's WAL checkpoints, apart from the writer (whose connection does
/// none), once a second: copying the WAL's pages into the database and
/// syncing it took the writer's thread about a fifth of its time when its
/// own commits did it every 1,000 pages (measured: ingest of 2 million
/// samples went from 146 to 182 thousand a second); here it runs on
/// another thread while the writer goes on appending (a passive checkpoint
/// never waits for it), and a page written many times in a second is
/// copied once. Ends with the writer.
async fn checkpoints(db: Db, writer: mpsc::WeakSender<WriteReq>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if writer.upgrade().is_none() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&db.pool).await {
            warn!(error = %e, "WAL checkpoint failed; trying again");
        }
    }
}

/// A transaction for the writer: on its own connection on SQLite.
async fn begin<'c>(
    db: &Db,
    own: &'c mut Option<sqlx::pool::PoolConnection<sqlx::Any>>,
) -> Result<mast_store::db::Tx<'c>, crate::db::StoreError> {
    if db.backend != mast_store::db::Backend::Sqlite {
        return db.begin().await;
    }
    let conn = match own {
        Some(c) => c,
        None => {
            let mut c = db.pool.acquire().await?;
            // Its commits never checkpoint: the checkpointer does, on the
            // other core (see `checkpoints`).
            sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut *c).await?;
            own.insert(c)
        }
    };
    db.begin_on(conn).await
}

async fn store_group(db: &Db, own: &mut Option<sqlx::pool::PoolConnection<sqlx::Any>>, mut group: Vec<WriteReq>) {
    let res = {
        let mut batches: Vec<crate::monitoring::Batch<'_>> = group
            .iter_mut()
            .map(|r| crate::monitoring::Batch {
                agent_id: r.agent_id,
                site_id: r.site_id,
                samples: &r.samples,
                device_ids: &mut r.devices,
            })
            .collect();
        async { crate::monitoring::store_batches_in(begin(db, own).await?, db.backend, &mut batches).await }.await
    };
    if res.is_err() {
        // A fresh connection next time, in case this one is the trouble.
        *own = None;
    }
    match res {
        Ok(stored) => {
            for (r, st) in group.into_iter().zip(stored) {
                let _ = r.reply.send((Ok(st), r.devices));
            }
        }
        Err(e) => {
            // One by one in fresh transactions: one bad batch does not fail
            // the others, and a conflict (another controller stored some of
            // these keys meanwhile) is read as stored the second time.
            warn!(error = %e, batches = group.len(), "a group commit failed; storing its batches one by one");
            for mut r in group {
                let res = crate::monitoring::store_samples(db, r.agent_id, r.site_id, &r.samples, &mut r.devices).await;
                let _ = r.reply.send((res, r.devices));
            }
        }
    }
}

/// Live links: agent id → (link id, connection).
#[derive(Clone, Default)]
pub struct Links(Arc<std::sync::Mutex<HashMap<u64, (u64, quinn::Connection)>>>, Arc<std::sync::atomic::AtomicU64>);

impl Links {
    /// Registers a new link of `agent`; closes the agent's older link.
    fn open(&self, agent: u64, conn: &quinn::Connection) -> u64 {
        let id = self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let old = self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(agent, (id, conn.clone()));
        if let Some((_, old)) = old {
            old.close(VarInt::from_u32(close::REFUSED), b"superseded by a newer link of this agent");
        }
        id
    }

    /// Ends link `id` of `agent`; true if it was the agent's live link.
    fn close(&self, agent: u64, id: u64) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.get(&agent).is_some_and(|(live, _)| *live == id) {
            m.remove(&agent);
            true
        } else {
            false
        }
    }
}

pub fn server_config(pki: &Pki) -> anyhow::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der().clone())?;
    // Unauthenticated clients are allowed only so enrollment can share the
    // port; the link ALPN refuses any connection without a client certificate.
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain(), pki.server_key())?;
    tls.alpn_protocols = vec![ALPN_LINK.to_vec(), ALPN_ENROLL.to_vec()];
    tls.max_early_data_size = 0; // no 0-RTT: replayable data has no place here
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(VarInt::from_u32(20_000).into()));
    transport.keep_alive_interval(Some(Duration::from_secs(5)));
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// Keeps the links' view of the agents table (revocations, config
/// revisions, release offers) current. On PostgreSQL the database announces
/// each change on `mast_control` (triggers, whoever wrote it: any
/// controller or the CLI), read at once, with a full read every 30 s for
/// anything missed while the listener reconnected; on SQLite (one
/// controller) it polls every second.
pub async fn watch_control(db: Db, tx: watch::Sender<ControlMap>, shutdown: Shutdown) {
    let mut listener = match db.listen("mast_control").await {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "cannot listen for agent changes; polling every second");
            None
        }
    };
    let period = |l: &Option<sqlx::postgres::PgListener>| Duration::from_secs(if l.is_some() { 30 } else { 1 });
    let mut tick = tokio::time::interval(period(&listener));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            n = notified(&mut listener) => if let Err(e) = n {
                warn!(error = %e, "agent change notifications lost; polling every second");
                listener = None;
                tick = tokio::time::interval(period(&listener));
            },
            _ = shutdown.cancelled() => return,
        }
        match fleet::control_snapshot(&db).await {
            Ok(map) => {
                tx.send_if_modified(|cur| {
                    if **cur != map {
                        *cur = Arc::new(map);
                        true
                    } else {
                        false
                    }
                });
            }
            Err(e) => warn!(error = %e, "cannot refresh agent control table"),
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// The next notification (never, without a listener).
async fn notified(l: &mut Option<sqlx::postgres::PgListener>) -> Result<(), sqlx::Error> {
    match l {
        Some(l) => l.recv().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

/// Accepts connections until shutdown; each is served on its own task,
/// tracked by the shutdown signal.
pub async fn run(endpoint: quinn::Endpoint, ingest: Ingest) {
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => return },
            _ = ingest.shutdown.cancelled() => return,
        };
        let ingest = ingest.clone();
        ingest.shutdown.clone().spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => ingest.handle(conn, remote).await,
                Err(e) => {
                    Metrics::inc(&ingest.metrics.connections_refused);
                    Metrics::inc(&ingest.metrics.errors_tls);
                    warn!(%remote, reason = %e, "agent connection refused during handshake");
                }
            }
        });
    }
}

fn refuse(conn: &quinn::Connection, code: u32, reason: &str) {
    conn.close(VarInt::from_u32(code), reason.as_bytes());
}

impl Ingest {
    async fn handle(&self, conn: quinn::Connection, remote: SocketAddr) {
        let alpn = conn
            .handshake_data()
            .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|h| h.protocol);
        match alpn.as_deref() {
            Some(a) if a == ALPN_ENROLL => self.enroll(conn, remote).await,
            Some(a) if a == ALPN_LINK => self.link(conn, remote).await,
            _ => {
                Metrics::inc(&self.metrics.connections_refused);
                warn!(%remote, "connection refused: no known ALPN");
                refuse(&conn, close::REFUSED, "unknown protocol");
            }
        }
    }

    async fn enroll(&self, conn: quinn::Connection, remote: SocketAddr) {
        let res = async {
            let (mut send, mut recv) = tokio::time::timeout(Duration::from_secs(10), conn.accept_bi())
                .await
                .map_err(|_| "no enrollment request within 10 s".to_string())?
                .map_err(|e| e.to_string())?;
            let msg: AgentMsg = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut recv))
                .await
                .map_err(|_| "enrollment request timed out".to_string())?
                .map_err(|e| e.to_string())?;
            let AgentMsg::Enroll(req) = msg else {
                return Err("expected an enrollment request".to_string());
            };
            let reply = if req.protocol_version != PROTOCOL_VERSION {
                Err(format!(
                    "protocol version {} not supported (controller speaks {PROTOCOL_VERSION})",
                    req.protocol_version
                ))
            } else {
                fleet::enroll(&self.db, self.pki.as_ref(), &req.token, &req.csr_der, self.cert_validity)
                    .await
                    .map_err(|e| e.to_string())
            };
            let (msg, result) = match reply {
                Ok(e) => {
                    Metrics::inc(&self.metrics.enrollments);
                    info!(%remote, agent_id = e.agent_id, site = %e.site, "agent enrolled");
                    (ControllerMsg::Enrolled(e), Ok(()))
                }
                Err(reason) => (ControllerMsg::Refused(Refused { reason: reason.clone() }), Err(reason)),
            };
            let enrolled = matches!(msg, ControllerMsg::Enrolled(_));
            write_frame(&mut send, &msg).await.map_err(|e| e.to_string())?;
            if enrolled {
                // The agent pins the release keys it receives now.
                match crate::releases::wire_keys(&self.db).await {
                    Ok(keys) => {
                        write_frame(&mut send, &ControllerMsg::ReleaseKeys(keys)).await.map_err(|e| e.to_string())?
                    }
                    Err(e) => warn!(error = %e, "cannot read the release keys for a new agent"),
                }
            }
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
            result
        }
        .await;
        if let Err(reason) = res {
            Metrics::inc(&self.metrics.connections_refused);
            warn!(%remote, %reason, "enrollment refused");
            refuse(&conn, close::REFUSED, "enrollment refused");
        }
    }

    /// Looks an agent up in the watched table, falling back to the database
    /// for an agent enrolled since the last refresh.
    async fn agent_control(&self, id: u64) -> Option<AgentControl> {
        if let Some(c) = self.control.borrow().get(&id) {
            return Some(c.clone());
        }
        fleet::control_snapshot(&self.db).await.ok()?.remove(&id)
    }

    async fn link(&self, conn: quinn::Connection, remote: SocketAddr) {
        let m = &self.metrics;
        let certs = conn.peer_identity().and_then(|p| p.downcast::<Vec<CertificateDer<'static>>>().ok());
        let Some(cert) = certs.as_ref().and_then(|c| c.first()) else {
            Metrics::inc(&m.connections_refused);
            warn!(%remote, reason = "no client certificate", "agent connection refused");
            return refuse(&conn, close::REFUSED, "client certificate required");
        };
        let Some((agent_id, serial)) = pki::agent_identity(cert) else {
            Metrics::inc(&m.connections_refused);
            warn!(%remote, reason = "certificate is not an agent certificate", "agent connection refused");
            return refuse(&conn, close::REFUSED, "not an agent certificate");
        };
        let ctl = self.agent_control(agent_id).await;
        let reason = match &ctl {
            None => Some("unknown agent"),
            Some(c) if c.status == AgentStatus::Revoked => Some("agent revoked"),
            Some(c) if c.status != AgentStatus::Active => Some("agent not enrolled"),
            Some(c) if c.cert_serial.as_deref() != Some(serial.as_str()) => Some("certificate superseded"),
            _ => None,
        };
        if let Some(reason) = reason {
            Metrics::inc(&m.connections_refused);
            warn!(%remote, agent_id, reason, "agent connection refused");
            let code = if reason == "agent revoked" { close::REVOKED } else { close::REFUSED };
            return refuse(&conn, code, reason);
        }
        let ctl = ctl.expect("checked above");
        let site = ctl.site_id;
        Metrics::inc(&m.connections_accepted);
        m.connections_open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let link_id = self.links.open(agent_id, &conn);
        self.outages.send(Event::Link { site, ts: crate::db::now_ms(), up: true });
        let res = self.serve_link(&conn, remote, agent_id, ctl).await;
        m.connections_open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        // A superseded link ending says nothing about the agent: its newer
        // link is live.
        if self.links.close(agent_id, link_id) {
            let _ = fleet::mark_disconnected(&self.db, agent_id).await;
            self.outages.send(Event::Link { site, ts: crate::db::now_ms(), up: false });
        }
        match res {
            Ok(()) => info!(%remote, agent_id, "agent link closed"),
            Err((code, reason)) => {
                if code == close::PROTOCOL {
                    Metrics::inc(&m.errors_protocol);
                }
                warn!(%remote, agent_id, %reason, "agent link closed");
                refuse(&conn, code, &reason);
            }
        }
    }

    async fn serve_link(
        &self,
        conn: &quinn::Connection,
        remote: SocketAddr,
        agent_id: u64,
        ctl: AgentControl,
    ) -> Result<(), (u32, String)> {
        let proto = |e: String| (close::PROTOCOL, e);
        let internal = |e: crate::db::StoreError| (close::INTERNAL, format!("database: {e}"));
        let (mut send, mut recv) = tokio::time::timeout(Duration::from_secs(10), conn.accept_bi())
            .await
            .map_err(|_| proto("no hello within 10 s".into()))?
            .map_err(|e| (close::REFUSED, e.to_string()))?;
        let hello = match tokio::time::timeout(Duration::from_secs(10), read_frame::<_, AgentMsg>(&mut recv)).await {
            Ok(Ok(AgentMsg::Hello(h))) => h,
            Ok(Ok(_)) => return Err(proto("first message was not a hello".into())),
            Ok(Err(e)) => return Err(proto(format!("bad hello: {e}"))),
            Err(_) => return Err(proto("hello timed out".into())),
        };
        if hello.protocol_version != PROTOCOL_VERSION {
            return Err(proto(format!("protocol version {} not supported", hello.protocol_version)));
        }
        if hello.agent_id != agent_id {
            return Err((
                close::REFUSED,
                format!("hello names agent {} but certificate is agent {agent_id}", hello.agent_id),
            ));
        }
        fleet::mark_connected(
            &self.db,
            agent_id,
            &hello.agent_version,
            &hello.target,
            hello.boot_epoch,
            &remote.to_string(),
        )
        .await
        .map_err(internal)?;
        let config = crate::monitoring::site_config(&self.db, ctl.site_id)
            .await
            .map_err(internal)?
            .ok_or((close::INTERNAL, "site vanished".to_string()))?;
        let mut sent_revision = config.revision;
        let last_committed = fleet::last_committed(&self.db, agent_id).await.map_err(internal)?;
        let config_copy = config.clone();
        let welcome = ControllerMsg::Welcome(Welcome { protocol_version: PROTOCOL_VERSION, config, last_committed });
        write_frame(&mut send, &welcome).await.map_err(|e| (close::REFUSED, e.to_string()))?;
        let probing = push_probing(&self.db, &mut send, ctl.site_id, sent_revision).await?;
        // What was pushed, to check the agent's report against.
        let mut pushed = (sent_revision, mast_shared::config_checksum(&config_copy, probing.as_ref()));
        // Release keys and offers are message kinds an agent built before
        // fleet upgrades cannot decode: they go only to an agent that sent
        // its `Facts` (the first message kind of that release), right after.
        let mut upgrades_ok = false;
        let mut sent_offer = None;
        // Release downloads come on streams of their own, one at a time.
        let downloads = tokio::spawn(serve_downloads(conn.clone(), self.db.clone(), self.releases.clone(), agent_id));
        let _downloads = AbortOnDrop(downloads);
        info!(%remote, agent_id, version = %hello.agent_version, target = %hello.target, boot_epoch = hello.boot_epoch, "agent connected");

        // Frames are read by their own task: reads are not cancel-safe, and the
        // loop below also waits on revocations and config changes.
        let (ftx, frx) = mpsc::channel::<Result<AgentMsg, IoError>>(4);
        let reader = tokio::spawn(async move {
            loop {
                let r = read_frame::<_, AgentMsg>(&mut recv).await;
                let stop = r.is_err();
                if ftx.send(r).await.is_err() || stop {
                    return;
                }
            }
        });
        let _abort = AbortOnDrop(reader);
        let mut frx = Frames { rx: frx, peeked: None };
        let mut control = self.control.clone();
        let mut device_ids = HashMap::new();
        loop {
            tokio::select! {
                // Checked between batches only: a batch being stored is
                // committed and acknowledged before the link closes.
                _ = self.shutdown.cancelled() => return Err((close::SHUTDOWN, "controller shutting down".into())),
                frame = frx.recv() => match frame {
                    None | Some(Err(IoError::Closed)) => return Ok(()),
                    Some(Err(IoError::Io(e))) => {
                        info!(%remote, agent_id, error = %e, "agent link lost");
                        return Ok(());
                    }
                    Some(Err(e)) => return Err(proto(format!("bad frame: {e}"))),
                    Some(Ok(AgentMsg::Samples(batch))) => {
                        if batch.agent_id != agent_id {
                            return Err(proto(format!("batch for agent {} on agent {agent_id}'s link", batch.agent_id)));
                        }
                        // Group commit: batches already waiting on this link
                        // are stored in the same transaction; the ack of the
                        // last one acknowledges them all.
                        let mut samples = batch.samples;
                        while samples.len() < MERGE_SAMPLES && let Some(more) = frx.next_batch() {
                            if more.agent_id != agent_id {
                                return Err(proto(format!("batch for agent {} on agent {agent_id}'s link", more.agent_id)));
                            }
                            samples.extend(more.samples);
                        }
                        let Some(last) = samples.last() else { continue };
                        let ack = Ack { boot_epoch: last.boot_epoch, seq: last.seq };
                        let mut stored = self.writer.store(agent_id, ctl.site_id, samples, &mut device_ids)
                            .await
                            .map_err(|e| { Metrics::inc(&self.metrics.errors_db); internal(e) })?;
                        use std::sync::atomic::Ordering::Relaxed;
                        if let Some(newest_ms) = stored.newest_ms {
                            self.outages.send(Event::Batch { site: ctl.site_id, observations: std::mem::take(&mut stored.observations), newest_ms });
                        }
                        self.metrics.samples_stored.fetch_add(stored.inserted, Relaxed);
                        self.metrics.duplicates.fetch_add(stored.duplicates, Relaxed);
                        if stored.future > 0 {
                            self.metrics.samples_future.fetch_add(stored.future, Relaxed);
                            warn!(agent_id, samples = stored.future, "samples stamped in the future (agent clock?) were not applied");
                        }
                        Metrics::inc(&self.metrics.batches);
                        debug!(agent_id, inserted = stored.inserted, duplicates = stored.duplicates, "batch committed");
                        // Committed: now, and only now, acknowledge.
                        write_frame(&mut send, &ControllerMsg::Ack(ack)).await.map_err(|e| (close::REFUSED, e.to_string()))?;
                        Metrics::inc(&self.metrics.acks_sent);
                    }
                    Some(Ok(AgentMsg::Dropped(d))) => {
                        warn!(agent_id, ranges = d.len(), "agent reports dropped samples");
                        crate::monitoring::record_drops(&self.db, agent_id, &d).await.map_err(internal)?;
                    }
                    Some(Ok(AgentMsg::Status(s))) => {
                        fleet::record_status(&self.db, agent_id, s.backlog, s.dropped).await.map_err(internal)?;
                    }
                    Some(Ok(AgentMsg::Facts(f))) => {
                        fleet::record_model(&self.db, agent_id, f.model.as_deref()).await.map_err(internal)?;
                        if !upgrades_ok {
                            upgrades_ok = true;
                            // The keys, and a release offered (again after
                            // each reconnect until the agent reports).
                            sent_offer = push_keys_and_offer(&self.db, &mut send, agent_id).await?;
                        }
                    }
                    Some(Ok(AgentMsg::ConfigApplied(r))) => {
                        let ok = (r.revision == pushed.0).then(|| r.checksum == pushed.1);
                        if ok == Some(false) {
                            warn!(agent_id, revision = r.revision, "the agent runs a config whose checksum differs from what was pushed");
                        }
                        if let Some(rej) = r.rejected {
                            warn!(agent_id, rejected = rej, running = r.revision, "the agent reverted a config that cut it off");
                        }
                        fleet::record_config(&self.db, agent_id, &r, ok).await.map_err(internal)?;
                    }
                    Some(Ok(AgentMsg::Upgrade(r))) => {
                        crate::rollouts::report(&self.db, agent_id, &r).await.map_err(internal)?;
                        write_frame(&mut send, &ControllerMsg::UpgradeAck(r.version)).await.map_err(|e| (close::REFUSED, e.to_string()))?;
                    }
                    Some(Ok(other)) => return Err(proto(format!("unexpected message {}", msg_name(&other)))),
                },
                changed = control.changed() => {
                    if changed.is_err() {
                        return Err((close::SHUTDOWN, "controller shutting down".into()));
                    }
                    let cur = control.borrow_and_update().get(&agent_id).cloned();
                    match cur {
                        Some(c) if c.status == AgentStatus::Revoked => return Err((close::REVOKED, "agent revoked".into())),
                        Some(c) => {
                            if c.site_revision as u64 > sent_revision
                                && let Some(cfg) = crate::monitoring::site_config(&self.db, c.site_id).await.map_err(internal)?
                            {
                                sent_revision = cfg.revision;
                                let copy = cfg.clone();
                                push_config(&mut send, cfg).await?;
                                let probing = push_probing(&self.db, &mut send, c.site_id, sent_revision).await?;
                                pushed = (sent_revision, mast_shared::config_checksum(&copy, probing.as_ref()));
                            }
                            if upgrades_ok && c.offer.is_some() && c.offer != sent_offer {
                                sent_offer = push_keys_and_offer(&self.db, &mut send, agent_id).await?;
                            } else if c.offer.is_none() {
                                sent_offer = None;
                            }
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

/// Most samples stored in one transaction of a link: the agent's window
/// (4 batches of 1,000).
const MERGE_SAMPLES: usize = 4_000;

/// A link's frames as its reader task delivers them, with one frame of
/// lookahead (the frame after the sample batches merged into a commit).
struct Frames {
    rx: mpsc::Receiver<Result<AgentMsg, IoError>>,
    peeked: Option<Result<AgentMsg, IoError>>,
}

impl Frames {
    /// The next frame (cancel-safe, as `mpsc::Receiver::recv`).
    async fn recv(&mut self) -> Option<Result<AgentMsg, IoError>> {
        match self.peeked.take() {
            Some(f) => Some(f),
            None => self.rx.recv().await,
        }
    }

    /// A sample batch that has already arrived, if it is the next frame.
    fn next_batch(&mut self) -> Option<mast_shared::SampleBatch> {
        if self.peeked.is_some() {
            return None;
        }
        match self.rx.try_recv() {
            Ok(Ok(AgentMsg::Samples(b))) => Some(b),
            Ok(other) => {
                self.peeked = Some(other);
                None
            }
            Err(_) => None,
        }
    }
}

async fn push_config(send: &mut quinn::SendStream, cfg: SiteConfig) -> Result<(), (u32, String)> {
    info!(site = %cfg.site, revision = cfg.revision, "pushing site config");
    write_frame(send, &ControllerMsg::Config(cfg)).await.map_err(|e| (close::REFUSED, e.to_string()))
}

/// Sends the site's SNMP/discovery settings (never logged: they hold
/// credentials); returns what was sent.
async fn push_probing(
    db: &Db,
    send: &mut quinn::SendStream,
    site_id: i64,
    revision: u64,
) -> Result<Option<mast_shared::ProbingConfig>, (u32, String)> {
    let Some(p) =
        crate::monitoring::probing::get(db, site_id).await.map_err(|e| (close::INTERNAL, format!("database: {e}")))?
    else {
        return Ok(None);
    };
    let wire = p.to_wire(revision);
    write_frame(send, &ControllerMsg::Probing(wire.clone())).await.map_err(|e| (close::REFUSED, e.to_string()))?;
    Ok(Some(wire))
}

/// Sends the trusted release keys, then the release offered to the agent
/// now, if any (a key trusted since the agent connected may have signed
/// it); returns the release's id.
async fn push_keys_and_offer(
    db: &Db,
    send: &mut quinn::SendStream,
    agent_id: u64,
) -> Result<Option<i64>, (u32, String)> {
    let database = |e: crate::db::StoreError| (close::INTERNAL, format!("database: {e}"));
    let keys = crate::releases::wire_keys(db).await.map_err(database)?;
    write_frame(send, &ControllerMsg::ReleaseKeys(keys)).await.map_err(|e| (close::REFUSED, e.to_string()))?;
    let Some(o) = crate::rollouts::wire_offer(db, agent_id).await.map_err(database)? else { return Ok(None) };
    info!(agent_id, version = %o.version, release = o.release_id, "offering an upgrade");
    let id = o.release_id as i64;
    write_frame(send, &ControllerMsg::Upgrade(o)).await.map_err(|e| (close::REFUSED, e.to_string()))?;
    Ok(Some(id))
}

/// Serves the agent's download streams, one after the other: a
/// [`AgentMsg::Fetch`], then the file from the asked byte in chunks, paced
/// per agent and for all agents; the stream ends after the last byte.
async fn serve_downloads(conn: quinn::Connection, db: Db, dist: Arc<crate::releases::Distribution>, agent_id: u64) {
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let req = match tokio::time::timeout(Duration::from_secs(10), read_frame::<_, AgentMsg>(&mut recv)).await {
            Ok(Ok(AgentMsg::Fetch(f))) => f,
            _ => {
                warn!(agent_id, "a download stream without a fetch request");
                continue;
            }
        };
        let data = match dist.file(&db, req.release_id as i64).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                let r = Refused { reason: format!("no release {}", req.release_id) };
                let _ = write_frame(&mut send, &ControllerMsg::Refused(r)).await;
                continue;
            }
            Err(e) => {
                warn!(agent_id, error = %e, "cannot read a release");
                continue;
            }
        };
        let from = req.from.min(data.len() as u64) as usize;
        info!(agent_id, release = req.release_id, from, size = data.len(), "release download");
        let mine = crate::releases::Pacer::new(dist.per_agent);
        let mut at = from;
        let mut ok = true;
        while at < data.len() {
            let end = (at + crate::releases::CHUNK).min(data.len());
            let n = end - at;
            let wait = mine.take(n).max(dist.total.take(n));
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let chunk = mast_shared::Chunk { offset: at as u64, data: data[at..end].to_vec() };
            if write_frame(&mut send, &ControllerMsg::Chunk(chunk)).await.is_err() {
                ok = false;
                break;
            }
            at = end;
        }
        let _ = send.finish();
        if ok {
            debug!(agent_id, release = req.release_id, bytes = at - from, "release sent");
        } else {
            info!(agent_id, release = req.release_id, at, "release download cut");
        }
    }
}

fn msg_name(m: &AgentMsg) -> &'static str {
    match m {
        AgentMsg::Hello(_) => "hello",
        AgentMsg::Samples(_) => "samples",
        AgentMsg::Enroll(_) => "enroll",
        AgentMsg::Status(_) => "status",
        AgentMsg::Dropped(_) => "dropped",
        AgentMsg::Upgrade(_) => "upgrade",
        AgentMsg::Fetch(_) => "fetch",
        AgentMsg::ConfigApplied(_) => "config-applied",
        AgentMsg::Facts(_) => "facts",
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
