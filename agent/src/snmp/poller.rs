//! Polling devices (the shell around the pure cores): one system GET, then
//! the profile's identity data, interfaces, station table, ARP and bridge
//! tables as concurrent walks sharing the device's two request slots. A
//! device whose system group is [`profiles::ambiguous`] gets one more GET
//! first, the profile probe ([`profiles::detect_oids`]), once per
//! sysObjectID.

use super::adapt::MaxReps;
use super::codec::{ERR_AUTHORIZATION, ERR_TOO_BIG, Request, Response};
use super::counters::{self, Reading, Uptime};
use super::profiles::{self, Profile, SysInfo, VendorData, identity, mib2};
use super::transport::{Engine, V3Session};
use super::value::Value;
use super::walk::{Rows, TableWalk};
use super::{DevicePoll, ErrorCounts, PollOptions, SnmpError};
use mast_shared::msg::{DeviceKind, SnmpCredential, SnmpOutcome};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tracing::debug;

/// What the poller remembers about a device between polls.
#[derive(Default)]
struct DeviceState {
    reps: MaxReps,
    /// sysUpTime ticks and when they were read.
    uptime: Option<(u32, Instant)>,
    /// ifIndex → (in, out) octet readings and when they were read.
    counters: HashMap<u32, (Option<Reading>, Option<Reading>, Instant)>,
    /// Rows each table had last time (caps the first GETBULK of a walk).
    rows: HashMap<&'static str, usize>,
    v3: Option<(SnmpCredential, V3Session)>,
    /// Errors since the device was first polled.
    totals: ErrorCounts,
    /// For a device whose system group is [`profiles::ambiguous`]: the
    /// sysObjectID it was probed with and which of [`profiles::detect_oids`]
    /// it answered. The profile follows from them ([`profiles::find_detected`]),
    /// so the device is probed once, and again only when its sysObjectID
    /// changes (a failed probe is not kept: it is tried on the next poll).
    detected: Option<(Vec<u32>, HashSet<Vec<u32>>)>,
}

/// At most this many OIDs in one GET of the profile probe.
const DETECT_PER_GET: usize = 10;

/// Polls devices and keeps per-device state (learned max-repetitions,
/// previous counters and uptime, error totals) between polls.
pub struct Poller {
    opts: PollOptions,
    engine: Option<Arc<Engine>>,
    devices: HashMap<SocketAddr, DeviceState>,
}

impl Poller {
    pub fn new(opts: PollOptions) -> Poller {
        Poller { opts, engine: None, devices: HashMap::new() }
    }

    pub fn options(&self) -> &PollOptions {
        &self.opts
    }

    /// Polls every target concurrently (at most `max_devices_in_flight` at
    /// once); one slow or dead device never delays the others beyond its own
    /// timeouts. Results come back in the order of `targets`.
    pub async fn poll_all(&mut self, targets: &[(SocketAddr, SnmpCredential)]) -> Vec<DevicePoll> {
        let engine = match &self.engine {
            Some(e) => e.clone(),
            None => match Engine::bind() {
                Ok(e) => self.engine.insert(Arc::new(e)).clone(),
                Err(e) => return targets.iter().map(|(t, _)| DevicePoll::failed(*t, &e, Duration::ZERO)).collect(),
            },
        };
        let opts = Arc::new(self.opts.clone());
        let sem = Arc::new(tokio::sync::Semaphore::new(self.opts.max_devices_in_flight.max(1)));
        let mut set = tokio::task::JoinSet::new();
        let mut results: Vec<Option<DevicePoll>> = vec![None; targets.len()];
        for (i, (addr, cred)) in targets.iter().enumerate() {
            let Ok(permit) = sem.clone().acquire_owned().await else { break };
            let mut state = self.devices.remove(addr).unwrap_or_else(|| DeviceState {
                reps: MaxReps::new(self.opts.start_max_repetitions),
                ..Default::default()
            });
            let (engine, opts, addr, cred) = (engine.clone(), opts.clone(), *addr, cred.clone());
            set.spawn(async move {
                let poll = poll_device(&engine, addr, &cred, &mut state, &opts).await;
                drop(permit);
                (i, poll, state)
            });
            // Collect finished polls as we go so their state is back in place.
            while let Some(done) = set.try_join_next() {
                self.finish(done, targets, &mut results);
            }
        }
        while let Some(done) = set.join_next().await {
            self.finish(done, targets, &mut results);
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    DevicePoll::failed(targets[i].0, &SnmpError::Io("poll task failed".into()), Duration::ZERO)
                })
            })
            .collect()
    }

    fn finish(
        &mut self,
        done: Result<(usize, DevicePoll, DeviceState), tokio::task::JoinError>,
        targets: &[(SocketAddr, SnmpCredential)],
        results: &mut [Option<DevicePoll>],
    ) {
        match done {
            Ok((i, poll, state)) => {
                self.devices.insert(targets[i].0, state);
                results[i] = Some(poll);
            }
            Err(e) => tracing::warn!(error = %e, "snmp poll task failed"),
        }
    }

    /// Drops the state of devices not in `keep`.
    pub fn forget(&mut self, keep: &[SocketAddr]) {
        self.devices.retain(|a, _| keep.contains(a));
    }

    /// Errors of a device since it was first polled.
    pub fn error_totals(&self, target: &SocketAddr) -> Option<ErrorCounts> {
        self.devices.get(target).map(|d| d.totals)
    }

    /// The learned GETBULK max-repetitions of a device.
    pub fn max_repetitions(&self, target: &SocketAddr) -> Option<u32> {
        self.devices.get(target).map(|d| d.reps.get())
    }

    /// The sysObjectID a device's profile probe was made for and kept
    /// (`None`: not probed, its system group named its profile, or the
    /// probe failed).
    pub fn probed_object_id(&self, target: &SocketAddr) -> Option<&[u32]> {
        self.devices.get(target)?.detected.as_ref().map(|(oid, _)| oid.as_slice())
    }
}

/// How requests reach the device.
enum Link<'a> {
    V2c { engine: &'a Engine, community: &'a [u8] },
    V3(tokio::sync::Mutex<&'a mut V3Session>),
}

/// One device's poll in progress: its two request slots, adaptive
/// max-repetitions, counts and deadline, shared by the concurrent walks.
struct Ctx<'a> {
    link: Link<'a>,
    peer: SocketAddr,
    timeout: Duration,
    retries: u32,
    max_rows: usize,
    slots: tokio::sync::Semaphore,
    reps: Mutex<MaxReps>,
    errors: Mutex<ErrorCounts>,
    requests: AtomicU32,
    varbinds: AtomicU32,
    deadline: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy)]
enum Kind {
    Get,
    /// GETBULK with the device's current max-repetitions, capped.
    Bulk {
        cap: u32,
    },
}

impl Ctx<'_> {
    fn count(&self, e: &SnmpError) {
        let mut c = lock(&self.errors);
        match e {
            SnmpError::Timeout | SnmpError::Io(_) => c.timeout += 1,
            SnmpError::Refused(_) => c.refused += 1,
            SnmpError::Malformed(_) => c.malformed += 1,
            SnmpError::ErrorStatus(_) => c.error_status += 1,
        }
    }

    /// One request with retries, timeouts and max-repetitions adaptation.
    /// Returns the reply and the max-repetitions it was asked with.
    async fn request(&self, kind: Kind, oids: &[&[u32]]) -> Result<(Response, u32), SnmpError> {
        let mut last = SnmpError::Timeout;
        for _attempt in 0..=self.retries {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(SnmpError::Timeout);
            }
            let timeout = self.timeout.min(self.deadline - now);
            let (req, reps) = match kind {
                Kind::Get => (Request::Get, 0),
                Kind::Bulk { cap } => {
                    let r = lock(&self.reps).get().min(cap).max(1);
                    (Request::GetBulk { max_repetitions: r }, r)
                }
            };
            let _slot = self.slots.acquire().await.map_err(|_| SnmpError::Io("closed".into()))?;
            self.requests.fetch_add(1, Relaxed);
            let started = Instant::now();
            let res = match &self.link {
                Link::V2c { engine, community } => engine.request(self.peer, community, req, oids, timeout).await,
                Link::V3(sess) => {
                    // Waiting for the session counts against the deadline, not the timeout.
                    let mut s = sess.lock().await;
                    s.request(req, oids, timeout).await
                }
            };
            match res {
                Ok(resp) if resp.error_status == ERR_TOO_BIG && reps > 1 => {
                    lock(&self.reps).on_too_big();
                    last = SnmpError::ErrorStatus(ERR_TOO_BIG);
                    self.count(&last);
                }
                Ok(resp) if resp.error_status == ERR_AUTHORIZATION => {
                    let e = SnmpError::Refused("authorizationError".into());
                    self.count(&e);
                    return Err(e);
                }
                Ok(resp) if resp.error_status != 0 => {
                    let e = SnmpError::ErrorStatus(resp.error_status);
                    self.count(&e);
                    return Err(e);
                }
                Ok(resp) => {
                    if matches!(kind, Kind::Bulk { .. }) {
                        let full = resp.varbinds.len() >= oids.len() * reps as usize;
                        lock(&self.reps).on_reply(started.elapsed(), self.timeout / 4, full);
                    }
                    return Ok((resp, reps));
                }
                Err(e @ SnmpError::Timeout) => {
                    self.count(&e);
                    if matches!(kind, Kind::Bulk { .. }) {
                        lock(&self.reps).on_timeout();
                    }
                    last = e;
                }
                Err(e) => {
                    self.count(&e);
                    return Err(e);
                }
            }
        }
        Err(last)
    }

    /// GET of scalars; absent ones are left out.
    async fn get(&self, oids: &[&[u32]]) -> Result<HashMap<Vec<u32>, Value>, SnmpError> {
        if oids.is_empty() {
            return Ok(HashMap::new());
        }
        let (resp, _) = self.request(Kind::Get, oids).await?;
        let vals: HashMap<Vec<u32>, Value> = resp.varbinds.into_iter().filter(|(_, v)| !v.is_absent()).collect();
        self.varbinds.fetch_add(vals.len() as u32, Relaxed);
        Ok(vals)
    }

    /// Walks `cols` together. Returns what was read, and the error that cut
    /// the walk short if any. `hint` is the row count of the previous poll.
    async fn walk(&self, cols: &[&[u32]], hint: Option<usize>) -> (Rows, Option<SnmpError>) {
        self.walk_at_most(cols, hint, self.max_rows).await
    }

    /// [`Ctx::walk`] reading at most `max_rows` rows.
    async fn walk_at_most(&self, cols: &[&[u32]], hint: Option<usize>, max_rows: usize) -> (Rows, Option<SnmpError>) {
        let mut w = TableWalk::new(cols, max_rows.min(self.max_rows));
        let mut cap = hint.map(|h| u32::try_from(h + 1).unwrap_or(u32::MAX)).unwrap_or(u32::MAX);
        let mut err = None;
        while !w.is_done() {
            let (active, oids) = w.next_request();
            let refs: Vec<&[u32]> = oids.iter().map(Vec::as_slice).collect();
            match self.request(Kind::Bulk { cap }, &refs).await {
                Ok((resp, reps)) => {
                    w.feed(&active, reps, resp.varbinds);
                }
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
            cap = u32::MAX;
        }
        self.varbinds.fetch_add(u32::try_from(w.varbinds).unwrap_or(u32::MAX), Relaxed);
        if w.non_increasing {
            let e = SnmpError::Malformed("agent returned OIDs out of order".into());
            self.count(&e);
            err.get_or_insert(e);
        }
        (w.into_rows(), err)
    }
}

fn sys_info(vals: &HashMap<Vec<u32>, Value>) -> Result<SysInfo, SnmpError> {
    let get = |o: &[u32]| vals.get(o);
    let object_id = match get(mib2::SYS_OBJECT_ID) {
        Some(Value::Oid(o)) => o.clone(),
        _ => Vec::new(),
    };
    let uptime_ticks = match get(mib2::SYS_UPTIME) {
        Some(Value::Ticks(t)) => Some(*t),
        Some(v) => v.as_u64().and_then(|t| u32::try_from(t).ok()),
        None => None,
    };
    if object_id.is_empty() && uptime_ticks.is_none() && get(mib2::SYS_DESCR).is_none() {
        return Err(SnmpError::Malformed("the system group is empty".into()));
    }
    Ok(SysInfo {
        descr: get(mib2::SYS_DESCR).and_then(Value::as_text).unwrap_or_default(),
        object_id,
        name: get(mib2::SYS_NAME).and_then(Value::as_text).unwrap_or_default(),
        uptime_ticks,
        services: get(mib2::SYS_SERVICES).and_then(Value::as_u64).and_then(|s| u32::try_from(s).ok()),
    })
}

/// GETs [`profiles::detect_oids`] (at most [`DETECT_PER_GET`] per request,
/// one request after another) and returns those the device has a value for.
async fn probe_detect(ctx: &Ctx<'_>) -> Result<HashSet<Vec<u32>>, SnmpError> {
    let oids = profiles::detect_oids();
    let mut present = HashSet::new();
    for chunk in oids.chunks(DETECT_PER_GET) {
        present.extend(ctx.get(chunk).await?.into_keys());
    }
    Ok(present)
}

/// The profile for a device: by its system group, or, when that is
/// [`profiles::ambiguous`], by probing (reusing `cache` when it was made for
/// this sysObjectID, and filling it). A failed probe falls back to the
/// system group's choice and is returned alongside it.
async fn choose_profile(
    ctx: &Ctx<'_>,
    sys: &SysInfo,
    cache: &mut Option<(Vec<u32>, HashSet<Vec<u32>>)>,
) -> (&'static Profile, Option<SnmpError>) {
    if !profiles::ambiguous(sys) {
        return (profiles::find(sys), None);
    }
    if let Some((_, present)) = cache.as_ref().filter(|(oid, _)| *oid == sys.object_id) {
        return (profiles::find_detected(sys, present), None);
    }
    match probe_detect(ctx).await {
        Ok(present) => {
            let p = profiles::find_detected(sys, &present);
            debug!(target = %ctx.peer, profile = p.name, "profile chosen by probe");
            *cache = Some((sys.object_id.clone(), present));
            (p, None)
        }
        Err(e) => (profiles::find(sys), Some(e)),
    }
}

/// A cheap system-group GET (no retries) for discovery sweeps: is there an
/// SNMP agent answering to this credential, and who is it? A device whose
/// system group is [`profiles::ambiguous`] also gets the profile probe.
pub async fn identify(
    target: SocketAddr,
    cred: &SnmpCredential,
    timeout: Duration,
) -> Result<super::Identity, SnmpError> {
    let mut v3 = None;
    let engine;
    let link = match cred {
        SnmpCredential::V2c { community } => {
            engine = Engine::bind_for(target)?;
            Link::V2c { engine: &engine, community: community.as_bytes() }
        }
        SnmpCredential::V3 { .. } => {
            let s = v3.insert(V3Session::connect(target, cred).await?);
            Link::V3(tokio::sync::Mutex::new(s))
        }
    };
    let ctx = Ctx {
        link,
        peer: target,
        timeout,
        retries: 0,
        max_rows: 0,
        slots: tokio::sync::Semaphore::new(1),
        reps: Mutex::new(MaxReps::default()),
        errors: Mutex::default(),
        requests: AtomicU32::new(0),
        varbinds: AtomicU32::new(0),
        deadline: Instant::now() + timeout * 2,
    };
    let sys = sys_info(&ctx.get(mib2::SYSTEM).await?)?;
    let (profile, _) = choose_profile(&ctx, &sys, &mut None).await;
    let info = (profile.identify)(&sys, &VendorData::default());
    Ok(identity::resolve(&identity::Seen {
        sys: &sys,
        profile,
        info: &info,
        entity: &identity::Entity::default(),
        interfaces: &[],
        stations: None,
        bridging: false,
    }))
}

async fn poll_device(
    engine: &Engine,
    target: SocketAddr,
    cred: &SnmpCredential,
    state: &mut DeviceState,
    opts: &PollOptions,
) -> DevicePoll {
    let started = Instant::now();
    let mut poll = poll_inner(engine, target, cred, state, opts, started).await;
    poll.duration = started.elapsed();
    poll.max_repetitions = state.reps.get();
    state.totals.add(&poll.errors);
    debug!(target = %target, outcome = ?poll.outcome, ms = poll.duration.as_millis() as u64,
           requests = poll.requests, varbinds = poll.varbinds, "snmp poll");
    poll
}

async fn poll_inner(
    engine: &Engine,
    target: SocketAddr,
    cred: &SnmpCredential,
    state: &mut DeviceState,
    opts: &PollOptions,
    started: Instant,
) -> DevicePoll {
    // The v3 session lives in the state between polls; taken out while in use.
    let mut v3 = state.v3.take().filter(|(c, _)| c == cred);
    let link = match cred {
        SnmpCredential::V2c { community } => Link::V2c { engine, community: community.as_bytes() },
        SnmpCredential::V3 { .. } => {
            if v3.is_none() {
                match tokio::time::timeout(opts.timeout, V3Session::connect(target, cred)).await {
                    Ok(Ok(s)) => v3 = Some((cred.clone(), s)),
                    Ok(Err(e)) => return DevicePoll::failed(target, &e, started.elapsed()),
                    Err(_) => return DevicePoll::failed(target, &SnmpError::Timeout, started.elapsed()),
                }
            }
            let Some((_, s)) = v3.as_mut() else {
                return DevicePoll::failed(target, &SnmpError::Timeout, started.elapsed());
            };
            Link::V3(tokio::sync::Mutex::new(s))
        }
    };
    let ctx = Ctx {
        link,
        peer: target,
        timeout: opts.timeout,
        retries: opts.retries,
        max_rows: opts.max_rows,
        slots: tokio::sync::Semaphore::new(opts.per_device_in_flight.clamp(1, 2)),
        reps: Mutex::new(state.reps),
        errors: Mutex::default(),
        requests: AtomicU32::new(0),
        varbinds: AtomicU32::new(0),
        deadline: started + opts.device_budget,
    };
    let result = poll_with(&ctx, state, opts).await;
    let errors = *lock(&ctx.errors);
    let (requests, varbinds) = (ctx.requests.load(Relaxed), ctx.varbinds.load(Relaxed));
    let reps = *lock(&ctx.reps);
    state.reps = reps;
    // After a refusal the keys or the engine may have changed: start afresh next time.
    if !matches!(result, Err(SnmpError::Refused(_))) {
        state.v3 = v3;
    }
    let mut poll = match result {
        Ok(p) => p,
        Err(e) => DevicePoll::failed(target, &e, Duration::ZERO),
    };
    poll.errors = errors;
    poll.requests = requests;
    poll.varbinds = varbinds;
    poll
}

async fn poll_with(ctx: &Ctx<'_>, state: &mut DeviceState, opts: &PollOptions) -> Result<DevicePoll, SnmpError> {
    let sys = sys_info(&ctx.get(mib2::SYSTEM).await?)?;
    let at = Instant::now();
    let (profile, e_probe) = choose_profile(ctx, &sys, &mut state.detected).await;
    let hint = |name: &'static str| state.rows.get(name).copied();
    let (h_if, h_ifx, h_sta, h_arp, h_br) = (hint("if"), hint("ifx"), hint("sta"), hint("arp"), hint("bridge"));

    let vendor = async {
        let scalars = match ctx.get(profile.scalars).await {
            Ok(s) => s,
            Err(e) => return (VendorData::default(), Some(e)),
        };
        let (rows, err) =
            if profile.columns.is_empty() { (Rows::new(), None) } else { ctx.walk(profile.columns, None).await };
        (VendorData::from_walk(scalars, profile.columns.len(), rows), err)
    };
    let ifs = ctx.walk(mib2::IF_TABLE, h_if);
    let ifx = ctx.walk(mib2::IFX_TABLE, h_ifx);
    let stations = async {
        // One walk per station table, in turn; the hint is the first table's.
        let (mut all, mut first_err) = (Vec::with_capacity(profile.stations.len()), None);
        for (i, t) in profile.stations.iter().enumerate() {
            let (rows, err) = ctx.walk(&profiles::table_columns(t), if i == 0 { h_sta } else { None }).await;
            all.push(rows);
            first_err = first_err.or(err);
        }
        (all, first_err)
    };
    let radios = async {
        match profile.radios {
            Some(t) => ctx.walk(&profiles::table_columns(t), None).await,
            None => (Rows::new(), None),
        }
    };
    let entity = async {
        // ENTITY-MIB only where the profile does not identify the device itself.
        if !profile.vendor.is_empty() {
            return (Rows::new(), None);
        }
        ctx.walk_at_most(identity::ENTITY, None, identity::ENTITY_MAX_ROWS).await
    };
    let arp = async {
        if !opts.walk_arp {
            return (Rows::new(), None);
        }
        let (rows, err) = ctx.walk(mib2::ARP_MEDIA, h_arp).await;
        if rows.is_empty() && err.is_none() { ctx.walk(mib2::ARP_PHYSICAL, None).await } else { (rows, err) }
    };
    let bridge = async {
        if !opts.walk_bridge {
            return (Rows::new(), None);
        }
        ctx.walk(mib2::BRIDGE, h_br).await
    };
    let (
        (vdata, e_v),
        (if_rows, e_if),
        (ifx_rows, e_ifx),
        (sta_rows, e_sta),
        (radio_rows, e_radio),
        (ent_rows, e_ent),
        (arp_rows, e_arp),
        (br_rows, e_br),
    ) = tokio::join!(vendor, ifs, ifx, stations, radios, entity, arp, bridge);

    let mut problems = Vec::new();
    for (what, e) in [
        ("profile probe", e_probe),
        ("vendor", e_v),
        ("ifTable", e_if),
        ("ifXTable", e_ifx),
        ("stations", e_sta),
        ("radios", e_radio),
        ("entity", e_ent),
        ("arp", e_arp),
        ("bridge", e_br),
    ] {
        if let Some(e) = e {
            problems.push(format!("{what}: {e}"));
        }
    }
    for (name, rows) in [("if", &if_rows), ("ifx", &ifx_rows), ("arp", &arp_rows), ("bridge", &br_rows)] {
        state.rows.insert(name, rows.len());
    }
    if let Some(first) = sta_rows.first() {
        state.rows.insert("sta", first.len());
    }

    let info = (profile.identify)(&sys, &vdata);

    // Reboot detection from sysUpTime.
    let rebooted = match (sys.uptime_ticks, state.uptime) {
        (Some(cur), Some((prev, prev_at))) => counters::uptime_change(prev, cur, at - prev_at) == Uptime::Rebooted,
        _ => false,
    };
    state.uptime = sys.uptime_ticks.map(|t| (t, at));

    // Interfaces and their rates since the previous poll.
    let mut interfaces = Vec::new();
    let mut counters_now = HashMap::new();
    for (mut iface, in_c, out_c) in mib2::interfaces(&if_rows, &ifx_rows) {
        if let Some((p_in, p_out, p_at)) = state.counters.get(&iface.index)
            && !rebooted
        {
            let dt = at - *p_at;
            let rate = |p: &Option<Reading>, c: &Option<Reading>| counters::rate_bps((*p)?, (*c)?, dt, iface.speed_bps);
            iface.in_bps = rate(p_in, &in_c);
            iface.out_bps = rate(p_out, &out_c);
        }
        counters_now.insert(iface.index, (in_c, out_c, at));
        interfaces.push(iface);
    }
    if !if_rows.is_empty() || e_if_was_ok(&problems) {
        state.counters = counters_now;
    }

    let mut stations = profiles::decode_station_tables(profile.stations, &sta_rows);
    let mut radios = profile.radios.map(|t| profiles::decode_radios(t, &radio_rows)).unwrap_or_default();
    let bridge = mib2::bridge(&br_rows);
    let mut id = identity::resolve(&identity::Seen {
        sys: &sys,
        profile,
        info: &info,
        entity: &identity::entity(&ent_rows),
        interfaces: &interfaces,
        stations: (!profile.stations.is_empty()).then_some(stations.len()),
        bridging: !bridge.is_empty(),
    });
    id.rebooted = rebooted;
    profiles::complete_links(&mut radios, &mut stations, id.kind, !profile.stations.is_empty());
    // A CPE or backhaul end whose radio names its AP or far end.
    let uplink_ap = info.uplink_ap.or_else(|| {
        matches!(id.kind, DeviceKind::Cpe | DeviceKind::Backhaul).then(|| radios.iter().find_map(|r| r.peer)).flatten()
    });
    Ok(DevicePoll {
        target: ctx.peer,
        outcome: SnmpOutcome::Ok,
        error: (!problems.is_empty()).then(|| problems.join("; ")),
        duration: Duration::ZERO,
        identity: Some(id),
        interfaces,
        stations,
        uplink_ap,
        radios,
        arp: mib2::arp(&arp_rows),
        bridge,
        errors: ErrorCounts::default(),
        requests: 0,
        varbinds: 0,
        max_repetitions: 0,
    })
}

/// The ifTable walk itself succeeded (an empty table is a real answer).
fn e_if_was_ok(problems: &[String]) -> bool {
    !problems.iter().any(|p| p.starts_with("ifTable"))
}
