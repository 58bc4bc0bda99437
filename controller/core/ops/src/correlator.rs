//! Outage correlation (pure core: no IO, no clock, no database, no tokio).
//! Turns device observations into **one incident per root cause**, with
//! every affected device attached. The shell feeds it stored samples and
//! turns its [`Action`]s into tickets and customer notifications.
//!
//! # Model
//! - [`Topology`] (replaceable at any time with [`Correlator::set_topology`]):
//!   sites, each with one agent whose link to the controller is the site's
//!   *backhaul*; devices with a site and parents (empty = directly behind the
//!   backhaul). A device is unreachable only when **all** its parents are
//!   down. A device probed neither by ping nor by SNMP is *transparent*: its
//!   children count its own parents as theirs. Unknown parent ids and
//!   self-references are ignored; cycles never hang or panic (the devices on
//!   them may just stay uncovered). [`DeviceKind`] is for display only.
//! - Inputs, each with its own timestamp (Unix ms); arrival order is not time
//!   order. [`Correlator::observe`] (ping or SNMP result),
//!   [`Correlator::agent_data`] (the agent's data is complete up to a time),
//!   [`Correlator::link_event`] (agent link up/down),
//!   [`Correlator::set_maintenance`] (concrete windows: the shell expands
//!   recurring windows), and [`Correlator::tick`] which evaluates everything
//!   at `now` and is the only call that returns actions.
//!
//! # Device state (per probe channel)
//! Ping and SNMP are separate channels. *Reachability* is the ping channel,
//! or the SNMP channel for a device without ping. An SNMP-only failure is at
//! most a low-severity device problem ([`DeviceStatus::snmp_problem`]): it
//! never makes an incident and never affects children.
//!
//! Each channel keeps its newest observations (the reorder window,
//! [`Config::reorder_window_ms`], at most [`Config::max_window_obs`]) as raw
//! samples and folds anything older into a summary; the state is always the
//! fold of the observations **sorted by time**, so any arrival order within
//! the window gives the same state. An observation older than the window is
//! dropped and counted ([`Correlator::late_dropped`]). Two results at the
//! same millisecond merge, success winning.
//!
//! 1. **Hold-down**: latched *down* once a failure run has at least
//!    `down_after` failures and no success for `hold_down_ms` since its first
//!    failure (until then *pending*). A channel that has never had a
//!    success is never latched down: nothing went down (a CPE whose
//!    station-table address drops pings), so it stays pending, never a
//!    root, and is covered by its parent's outage. **Recovery hold**: latched *up* again
//!    after at least `up_after` successes and no failure for
//!    `recovery_hold_ms`. The outage is `[first failure, first success of
//!    the recovery run)`: these intervals are the device's history
//!    ([`Correlator::history`]), whatever the arrival order or delay.
//! 2. **Flap damping** (BGP route-flap damping, plus a reopen window):
//!    every failure run that reaches `down_after` failures, even one too
//!    short for the hold-down, adds `flap_penalty` to a penalty that halves
//!    every `flap_half_life_ms`. At `flap_suppress` the device is *flapping*:
//!    it counts as down for incidents (one incident, marked flapping, even
//!    in its up moments) until it has answered without a failure for
//!    `flap_stable_ms`, which also clears the penalty. In the other
//!    direction, a root that goes down again within `reopen_window_ms` of
//!    its incident's resolution *reopens* that incident ([`Action::Reopen`],
//!    same id, marked flapping) instead of opening a new one, and a flapping
//!    incident resolves only after its root has been stable for
//!    `flap_stable_ms` (while it waits, answering, its devices stay as they
//!    were: no update churn).
//!
//! # Correlation (at every tick)
//! 3. **Parents first**: a down device becomes the root of its own incident
//!    only when it has no parent (it hangs off the backhaul) or when some
//!    parent is *known up* (latched up, not flapping, newest result a
//!    success) **and** the device has its own `down_after` failures and
//!    hold-down counted from that parent's current success run, with the
//!    parent's newest success no older than the first of those failures. So a
//!    child whose failures arrive before its parent's waits: it is never a
//!    root while the parent's verdict is unknown, pending or down, and
//!    failures during a parent outage never count against the child.
//! 4. **Coverage**: a device that is not up and whose parents are all covered
//!    is covered too; each covered device belongs to the incident of the
//!    smallest root id among its parents' (deterministic when two parents
//!    belong to two incidents). An incident's `devices` = its root plus the
//!    covered devices assigned to it (down, pending or without data).
//! 5. **Backhaul**: a site is *silent* when its agent sent no data for
//!    `agent_silence_ms` (by data time: [`Correlator::agent_data`] and
//!    observation timestamps) or its newest link event is a link-down not
//!    followed by data. Its devices are *unknown*: no device incidents, and
//!    their state is frozen in any incident already open. After
//!    `agent_silence_ms + controller_window_ms` of silence (the wait lets a
//!    controller-wide failure show first) ONE site incident opens (root =
//!    the site backhaul, devices = the site's devices not already in an open
//!    device incident). It resolves when the agent's data has caught up (end
//!    = the link-up time if reported, else the first tick that saw the site
//!    again); its `history` then lists the device outages that started and
//!    ended inside the silent period (**late data never opens incidents for
//!    the past**: states are judged at `now`, and a device only becomes a
//!    root while it is still failing). A device outage that continues after
//!    the site is back opens its own incident then (`opened_at` = then,
//!    `start` = the real start from the buffered data).
//! 6. **Controller failure**: when more than `controller_share_pct` % of all
//!    agents (and at least `controller_min_agents`) are silent with silence
//!    starts within `controller_window_ms` of each other, that is the controller's own problem: ONE internal alert
//!    ([`Action::InternalAlertOpen`]), no site incidents for those sites
//!    while it lasts, and after it resolves remaining silent sites get
//!    `agent_silence_ms` of grace before a site incident.
//! 7. **One incident = one root cause**: ids come from a counter in the
//!    state; an incident opens once, gets [`Action::Update`] when its devices
//!    or flapping flag change, and [`Action::Resolve`] with its duration when
//!    its root is up again. An open incident stays open while its root is
//!    down, even when a parent turns pending. When its root becomes covered
//!    by another incident (a parent went down), it is closed with
//!    [`Action::Supersede`]` { by }` (end = now): the shell links its ticket
//!    to `by`'s, whose devices now include the superseded ones.
//! 8. **Maintenance**: no incident opens for a device or site inside a window
//!    (a site window covers its devices; covered children of a device in a
//!    window get no incident either). An outage still there when the window
//!    ends opens then with `start` = the window's end. Incidents open before
//!    a window began stay open.
//! 9. **Sites behind sites** (tower-to-tower links): a site may reach the
//!    controller through *uplinks*, devices of other sites
//!    ([`Topology::uplinks`]; several = redundant paths). A silent site all
//!    of whose uplinks are accounted for (each one in a device incident, or
//!    at a site that is silent itself) is *behind* that cause: it opens no
//!    site incident; its devices (those not frozen in an incident of their
//!    own) join the incident of the uplink's root device, or the upstream
//!    site's own site incident, through any number of towers. So a failure at
//!    the upstream tower is ONE incident covering every downstream site,
//!    device and customer, and the incident's `sites` name them all. A site
//!    incident opened before its cause was known is superseded by the
//!    cause's incident once that is open. An uplink that answers (or is not
//!    probed) leaves the silence the site's own; a loop of uplinks is cut
//!    where it closes (one site on it keeps its own incident), never losing
//!    the outage.
//!
//! # Guarantees
//! Deterministic; never panics on any input (unknown ids, times going
//! backwards, empty topology, extreme timestamps: all arithmetic saturates);
//! the whole state is `Serialize + Deserialize`, and a round trip at any point
//! changes no later output.

mod channel;
#[cfg(test)]
mod tests;

pub use channel::Reach;
use channel::{Channel, Core};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Unix milliseconds (UTC).
pub type Ms = i64;
pub type DeviceId = i64;
pub type SiteId = i64;
pub type IncidentId = u64;

/// Timers and thresholds. Defaults in [`Config::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Down only after no success for this long since the first failure (60 s).
    pub hold_down_ms: Ms,
    /// ... and at least this many consecutive failures (3).
    pub down_after: u32,
    /// Up again only after no failure for this long (60 s) ...
    pub recovery_hold_ms: Ms,
    /// ... and at least this many consecutive successes (2).
    pub up_after: u32,
    /// Penalty added per flap (1000).
    pub flap_penalty: i64,
    /// Half-life of the flap penalty (15 min).
    pub flap_half_life_ms: Ms,
    /// Flapping from this penalty on (3000).
    pub flap_suppress: i64,
    /// The penalty never exceeds this (12000).
    pub flap_max_penalty: i64,
    /// Flapping ends, and a flapping incident resolves, after this long
    /// without a failure (10 min).
    pub flap_stable_ms: Ms,
    /// A root down again within this long after its incident resolved
    /// reopens it (15 min).
    pub reopen_window_ms: Ms,
    /// An agent without data for this long is silent (90 s).
    pub agent_silence_ms: Ms,
    /// More than this share of agents silent ... (20 %)
    pub controller_share_pct: u32,
    /// ... with silence starts within this window = controller failure (2 min),
    pub controller_window_ms: Ms,
    /// ... and at least this many of them (3: one agent is never "at once").
    pub controller_min_agents: u32,
    /// Raw observations kept per channel for reordering (10 min) ...
    pub reorder_window_ms: Ms,
    /// ... and at most this many (256).
    pub max_window_obs: usize,
    /// Closed down intervals kept per device (64).
    pub history_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hold_down_ms: 60_000,
            down_after: 3,
            recovery_hold_ms: 60_000,
            up_after: 2,
            flap_penalty: 1000,
            flap_half_life_ms: 15 * 60_000,
            flap_suppress: 3000,
            flap_max_penalty: 12_000,
            flap_stable_ms: 10 * 60_000,
            reopen_window_ms: 15 * 60_000,
            agent_silence_ms: 90_000,
            controller_share_pct: 20,
            controller_window_ms: 120_000,
            controller_min_agents: 3,
            reorder_window_ms: 10 * 60_000,
            max_window_obs: 256,
            history_len: 64,
        }
    }
}

/// What a device is, for display only: the logic never looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DeviceKind {
    Ap,
    Cpe,
    /// Point-to-point backhaul radio.
    Backhaul,
    Router,
    Switch,
    #[default]
    Other,
}

/// One device of the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSpec {
    pub id: DeviceId,
    pub site: SiteId,
    /// Upstream devices; empty = directly behind the site's backhaul.
    pub parents: Vec<DeviceId>,
    pub kind: DeviceKind,
    /// Probed by ping (reachability).
    pub ping: bool,
    /// Polled by SNMP (reachability only when `ping` is false).
    pub snmp: bool,
}

impl DeviceSpec {
    /// A pinged device of kind `Other`.
    pub fn new(id: DeviceId, site: SiteId, parents: Vec<DeviceId>) -> Self {
        DeviceSpec { id, site, parents, kind: DeviceKind::Other, ping: true, snmp: false }
    }
}

/// Sites (one agent each) and devices. Sites referenced by devices but not
/// listed are added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub sites: Vec<SiteId>,
    pub devices: Vec<DeviceSpec>,
    /// Sites whose backhaul runs through devices of other sites (rule 9):
    /// site → its uplink devices. Unknown ids are ignored.
    #[serde(default)]
    pub uplinks: BTreeMap<SiteId, Vec<DeviceId>>,
}

/// Which probe an observation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    Ping,
    Snmp,
}

/// What a maintenance window covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// The site's backhaul and every device of the site.
    Site(SiteId),
    Device(DeviceId),
}

/// A concrete maintenance window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    pub target: Target,
    pub start: Ms,
    pub end: Ms,
}

/// The root cause of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Root {
    /// The controller's own failure (internal alert, never customer-facing).
    Controller,
    /// A site's backhaul (its agent is silent).
    Site(SiteId),
    Device(DeviceId),
}

/// A down interval `[from, to)`; `to` is `None` while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub from: Ms,
    pub to: Option<Ms>,
}

/// A device outage learned from buffered data after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastOutage {
    pub device: DeviceId,
    pub from: Ms,
    pub to: Ms,
}

/// One root cause and everything it affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// From a counter in the state: deterministic.
    pub id: IncidentId,
    pub root: Root,
    /// Affected devices, the root device included. Empty for the controller.
    pub devices: BTreeSet<DeviceId>,
    /// Sites of the affected devices; for the controller, the silent sites.
    pub sites: BTreeSet<SiteId>,
    /// When the outage began (from the data: may predate `opened_at`).
    pub start: Ms,
    /// The tick that opened it.
    pub opened_at: Ms,
    pub end: Option<Ms>,
    /// Sticky: once flapping, marked for the incident's life.
    pub flapping: bool,
    /// Site incidents: device outages that began and ended while silent.
    pub history: Vec<PastOutage>,
}

impl Incident {
    /// `end - start` (0 while open).
    pub fn duration_ms(&self) -> Ms {
        self.end.map_or(0, |e| e.saturating_sub(self.start).max(0))
    }
}

/// What the shell must do; each carries the full incident so applying it is
/// idempotent (upsert by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// A new customer-facing incident (root = a device or a site).
    Open(Incident),
    /// A recently resolved incident is down again (flap damping): same id,
    /// `end` cleared, marked flapping.
    Reopen(Incident),
    /// Its devices or flapping flag changed.
    Update(Incident),
    /// Service returned.
    Resolve {
        incident: Incident,
        duration_ms: Ms,
    },
    /// Closed because its root is now covered by incident `by` (a parent
    /// went down): link the tickets, notify through `by` only.
    Supersede {
        incident: Incident,
        by: IncidentId,
    },
    /// The controller itself lost a large share of its agents: internal only.
    /// Root [`Root::Controller`], no devices; `sites` may grow while it is
    /// open (see [`Correlator::incidents`]), the resolve carries the final set.
    InternalAlertOpen(Incident),
    InternalAlertResolve {
        alert: Incident,
        duration_ms: Ms,
    },
}

/// A device as the correlator sees it at some time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// Reachability (ping, or SNMP for a device without ping).
    pub reach: Reach,
    pub flapping: bool,
    /// The SNMP channel on its own.
    pub snmp: Reach,
    /// The site's agent is silent: `reach` is stale, the device is unknown.
    pub site_silent: bool,
    pub in_maintenance: bool,
    /// The open incident whose devices include it.
    pub incident: Option<IncidentId>,
}

impl DeviceStatus {
    /// Reachable but its SNMP agent is down: a low-severity device problem.
    pub fn snmp_problem(&self) -> bool {
        matches!(self.reach, Reach::Up { .. }) && matches!(self.snmp, Reach::Down { .. })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Dev {
    spec: DeviceSpec,
    /// Parents with transparent (unprobed) devices replaced by theirs.
    eff_parents: Vec<DeviceId>,
    children: Vec<DeviceId>,
    ping: Channel,
    snmp: Channel,
}

impl Dev {
    fn new(spec: DeviceSpec) -> Dev {
        Dev { spec, eff_parents: Vec::new(), children: Vec::new(), ping: Channel::default(), snmp: Channel::default() }
    }
    fn monitored(&self) -> bool {
        self.spec.ping || self.spec.snmp
    }
    fn reach(&self) -> Option<&Channel> {
        if self.spec.ping {
            Some(&self.ping)
        } else if self.spec.snmp {
            Some(&self.snmp)
        } else {
            None
        }
    }
    fn reach_mut(&mut self) -> Option<&mut Channel> {
        if self.spec.ping {
            Some(&mut self.ping)
        } else if self.spec.snmp {
            Some(&mut self.snmp)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SiteState {
    /// Newest data time from the agent.
    watermark: Option<Ms>,
    /// Newest link event `(time, up)`.
    link: Option<(Ms, bool)>,
    /// First tick that saw the site not silent (for flapping site incidents).
    visible_since: Option<Ms>,
}

impl SiteState {
    /// `Some(since)` when silent at `now`.
    fn silent_since(&self, c: &Config, now: Ms) -> Option<Ms> {
        if let Some((t, false)) = self.link
            && self.watermark.is_none_or(|w| t >= w)
        {
            return Some(t);
        }
        let w = self.watermark?;
        (now.saturating_sub(w) >= c.agent_silence_ms).then_some(w)
    }
}

/// A device evaluated at one tick.
#[derive(Debug, Clone, Copy)]
struct View {
    visible: bool,
    core: Core,
}

impl View {
    fn downish(&self) -> bool {
        self.visible && self.core.downish()
    }
    fn up(&self) -> bool {
        self.visible && self.core.solid_up()
    }
}

/// The correlator's whole state (serialize it to persist, deserialize to resume).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlator {
    config: Config,
    devices: BTreeMap<DeviceId, Dev>,
    sites: BTreeMap<SiteId, SiteState>,
    maintenance: Vec<Maintenance>,
    /// Open incidents (the controller alert included).
    incidents: BTreeMap<IncidentId, Incident>,
    /// Resolved incidents that may still reopen.
    recent: BTreeMap<IncidentId, Incident>,
    next_id: IncidentId,
    last_alert_end: Option<Ms>,
    /// Site → its uplink devices (rule 9).
    #[serde(default)]
    uplinks: BTreeMap<SiteId, Vec<DeviceId>>,
    /// Silent sites behind another cause at the last tick, and that cause.
    #[serde(default)]
    behind: BTreeMap<SiteId, Root>,
}

#[derive(Default)]
struct Out {
    alert_open: Vec<Action>,
    opens: Vec<Action>,
    updates: Vec<Action>,
    supersedes: Vec<Action>,
    resolves: Vec<Action>,
    alert_resolve: Vec<Action>,
}

impl Correlator {
    pub fn new(config: Config) -> Self {
        Correlator {
            config,
            devices: BTreeMap::new(),
            sites: BTreeMap::new(),
            maintenance: Vec::new(),
            incidents: BTreeMap::new(),
            recent: BTreeMap::new(),
            next_id: 1,
            last_alert_end: None,
            uplinks: BTreeMap::new(),
            behind: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the topology. Devices keep their observations by id; open
    /// incidents are re-evaluated at the next tick (a vanished root resolves).
    pub fn set_topology(&mut self, topo: Topology) {
        let mut devices: BTreeMap<DeviceId, Dev> = BTreeMap::new();
        for spec in topo.devices {
            let mut d = devices
                .remove(&spec.id)
                .or_else(|| self.devices.remove(&spec.id))
                .unwrap_or_else(|| Dev::new(spec.clone()));
            d.spec = spec;
            d.eff_parents.clear();
            d.children.clear();
            devices.insert(d.spec.id, d);
        }
        let ids: Vec<DeviceId> = devices.keys().copied().collect();
        for id in &ids {
            let eff = effective_parents(&devices, *id);
            if let Some(d) = devices.get_mut(id) {
                d.eff_parents = eff;
            }
        }
        for id in &ids {
            let parents = devices.get(id).map(|d| d.eff_parents.clone()).unwrap_or_default();
            for p in parents {
                if let Some(pd) = devices.get_mut(&p) {
                    pd.children.push(*id);
                }
            }
        }
        let mut sites = BTreeMap::new();
        for s in topo.sites.iter().copied().chain(devices.values().map(|d| d.spec.site)) {
            let st = self.sites.remove(&s).unwrap_or_default();
            sites.entry(s).or_insert(st);
        }
        self.devices = devices;
        self.sites = sites;
        self.uplinks = topo.uplinks.into_iter().filter(|(_, u)| !u.is_empty()).collect();
    }

    /// The cause a silent site is behind at the last tick (rule 9): the root
    /// of the incident it joined.
    pub fn behind(&self, site: SiteId) -> Option<Root> {
        self.behind.get(&site).copied()
    }

    /// Replaces all maintenance windows (recurring ones expanded by the shell).
    pub fn set_maintenance(&mut self, windows: Vec<Maintenance>) {
        self.maintenance = windows;
    }

    /// One probe result. Unknown devices are ignored (false), as are results
    /// older than the device's reorder window.
    pub fn observe(&mut self, device: DeviceId, probe: Probe, ts: Ms, ok: bool) -> bool {
        let c = &self.config;
        let Some(d) = self.devices.get_mut(&device) else { return false };
        let ch = match probe {
            Probe::Ping => &mut d.ping,
            Probe::Snmp => &mut d.snmp,
        };
        let accepted = ch.observe(c, ts, ok);
        let site = d.spec.site;
        self.agent_data(site, ts);
        accepted
    }

    /// The site's agent data is complete up to `ts` (the newest sample time
    /// stored from it, or a heartbeat with nothing buffered).
    pub fn agent_data(&mut self, site: SiteId, ts: Ms) {
        if let Some(s) = self.sites.get_mut(&site) {
            s.watermark = Some(s.watermark.map_or(ts, |w| w.max(ts)));
        }
    }

    /// The agent's link went up or down at `ts` (only the newest event
    /// counts; at equal times, down wins).
    pub fn link_event(&mut self, site: SiteId, ts: Ms, up: bool) {
        if let Some(s) = self.sites.get_mut(&site)
            && s.link.is_none_or(|(t, _)| ts > t || (ts == t && !up))
        {
            s.link = Some((ts, up));
        }
    }

    /// Open incidents (the controller alert included), by id.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.values()
    }

    pub fn incident(&self, id: IncidentId) -> Option<&Incident> {
        self.incidents.get(&id)
    }

    /// Observations dropped for arriving after their reorder window.
    pub fn late_dropped(&self) -> u64 {
        self.devices.values().map(|d| d.ping.late_dropped.saturating_add(d.snmp.late_dropped)).sum()
    }

    /// A device's state at `now`.
    pub fn device_status(&self, id: DeviceId, now: Ms) -> Option<DeviceStatus> {
        let c = &self.config;
        let d = self.devices.get(&id)?;
        let core = d.reach().map(|ch| ch.fold_ref(c).core.at(c, now)).unwrap_or_default();
        let snmp = d.snmp.fold_ref(c).core.at(c, now);
        Some(DeviceStatus {
            reach: core.reach(),
            flapping: core.flapping_since.is_some(),
            snmp: snmp.reach(),
            site_silent: self.sites.get(&d.spec.site).is_some_and(|s| s.silent_since(c, now).is_some()),
            in_maintenance: self.in_maintenance(Root::Device(id), now),
            incident: self.incidents.values().find(|i| i.devices.contains(&id)).map(|i| i.id),
        })
    }

    /// A device's down intervals (reachability), oldest first; the last one
    /// is open while the device is down at `now`.
    pub fn history(&self, id: DeviceId, now: Ms) -> Vec<Interval> {
        let c = &self.config;
        let Some(ch) = self.devices.get(&id).and_then(Dev::reach) else { return Vec::new() };
        let f = ch.fold_ref(c);
        let mut out = f.history.clone();
        let mut core = f.core;
        if let Some(i) = core.advance(c, now) {
            out.push(i);
        }
        if let Some(since) = core.down_since {
            out.push(Interval { from: since, to: None });
        }
        out
    }

    fn covers(&self, w: &Maintenance, root: Root) -> bool {
        match (w.target, root) {
            (Target::Site(s), Root::Site(r)) => s == r,
            (Target::Device(d), Root::Device(r)) => d == r,
            (Target::Site(s), Root::Device(r)) => self.devices.get(&r).is_some_and(|d| d.spec.site == s),
            _ => false,
        }
    }

    fn in_maintenance(&self, root: Root, now: Ms) -> bool {
        self.maintenance.iter().any(|w| w.start <= now && now < w.end && self.covers(w, root))
    }

    /// `start`, moved to the end of a window that covered it and has ended.
    fn after_maintenance(&self, root: Root, start: Ms, now: Ms) -> Ms {
        self.maintenance
            .iter()
            .filter(|w| w.end > start && w.end <= now && self.covers(w, root))
            .map(|w| w.end)
            .fold(start, Ms::max)
    }

    /// When a down device may be its own root (rule 3): `Some(start)`.
    fn root_start(&self, d: &Dev, v: &View, views: &BTreeMap<DeviceId, View>, now: Ms) -> Option<Ms> {
        if d.eff_parents.is_empty() {
            return self.own_since(d, &v.core, Ms::MIN, now).map(|(start, _)| start);
        }
        d.eff_parents
            .iter()
            .filter_map(|p| {
                let pv = views.get(p).filter(|pv| pv.up())?;
                let run = pv.core.run?;
                let (start, evidence) = self.own_since(d, &v.core, run.start, now)?;
                (run.last >= evidence).then_some(start)
            })
            .min()
    }

    /// The device's own outage counted from `from`: `(start, first failure
    /// that proves it)`.
    fn own_since(&self, d: &Dev, core: &Core, from: Ms, now: Ms) -> Option<(Ms, Ms)> {
        let c = &self.config;
        if let Some(down) = core.down_since
            && let Some(r) = core.run
            && !r.ok
        {
            let (n, first, start) = if from <= r.start {
                (r.count, Some(r.start), if from <= down { down } else { r.start })
            } else {
                let (n, first) = d.reach().map_or((0, None), |ch| ch.failures_from(from));
                (n, first, first.unwrap_or(from))
            };
            if let Some(first) = first
                && n >= c.down_after.max(1)
                && now.saturating_sub(first) >= c.hold_down_ms
            {
                return Some((start, first));
            }
        }
        if let (Some(fs), Some(lf)) = (core.flapping_since, core.last_flap)
            && lf >= from
        {
            return Some((if fs >= from { fs } else { lf }, lf));
        }
        None
    }

    fn open_by_root(&self) -> BTreeMap<Root, IncidentId> {
        self.incidents.values().map(|i| (i.root, i.id)).collect()
    }

    fn new_incident(&mut self, root: Root, devices: BTreeSet<DeviceId>, start: Ms, now: Ms, flapping: bool) -> Action {
        // Flap damping: a root down again soon after its incident resolved
        // reopens that incident.
        let window = self.config.reopen_window_ms;
        let again = self
            .recent
            .values()
            .filter(|i| i.root == root && i.end.is_some_and(|e| start.saturating_sub(e) <= window))
            .map(|i| i.id)
            .max();
        let sites = self.sites_of(root, &devices);
        if let Some(mut inc) = again.and_then(|id| self.recent.remove(&id)) {
            inc.end = None;
            inc.flapping = true;
            inc.devices = devices;
            inc.sites = sites;
            self.incidents.insert(inc.id, inc.clone());
            return Action::Reopen(inc);
        }
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let inc =
            Incident { id, root, devices, sites, start, opened_at: now, end: None, flapping, history: Vec::new() };
        self.incidents.insert(id, inc.clone());
        Action::Open(inc)
    }

    fn sites_of(&self, root: Root, devices: &BTreeSet<DeviceId>) -> BTreeSet<SiteId> {
        let mut s: BTreeSet<SiteId> = devices.iter().filter_map(|d| self.devices.get(d)).map(|d| d.spec.site).collect();
        if let Root::Site(site) = root {
            s.insert(site);
        }
        s.extend(self.behind.iter().filter(|(_, r)| **r == root).map(|(site, _)| *site));
        s
    }

    /// Sets devices and flapping; `Some(Update)` when something changed.
    fn update(&mut self, id: IncidentId, devices: BTreeSet<DeviceId>, flapping: bool) -> Option<Action> {
        let inc = self.incidents.get(&id)?;
        let flapping = inc.flapping || flapping;
        let sites = self.sites_of(inc.root, &devices);
        if devices == inc.devices && flapping == inc.flapping && sites == inc.sites {
            return None;
        }
        let inc = self.incidents.get_mut(&id)?;
        inc.devices = devices;
        inc.sites = sites;
        inc.flapping = flapping;
        Some(Action::Update(inc.clone()))
    }

    fn resolve(&mut self, id: IncidentId, end: Ms) -> Option<Action> {
        let mut inc = self.incidents.remove(&id)?;
        inc.end = Some(end.max(inc.start));
        let duration_ms = inc.duration_ms();
        if inc.root == Root::Controller {
            return Some(Action::InternalAlertResolve { alert: inc, duration_ms });
        }
        self.recent.insert(inc.id, inc.clone());
        Some(Action::Resolve { incident: inc, duration_ms })
    }

    /// Evaluates every rule at `now` and returns what changed.
    pub fn tick(&mut self, now: Ms) -> Vec<Action> {
        let c = self.config.clone();
        let mut out = Out::default();
        let reopen = c.reopen_window_ms;
        self.recent.retain(|_, i| i.end.is_some_and(|e| now.saturating_sub(e) <= reopen));

        // Sites: silent ones, and the controller-wide burst among them.
        let mut silent: BTreeMap<SiteId, Ms> = BTreeMap::new();
        for (id, st) in &mut self.sites {
            match st.silent_since(&c, now) {
                Some(since) => {
                    silent.insert(*id, since);
                    st.visible_since = None;
                }
                None => {
                    st.visible_since.get_or_insert(now);
                }
            }
        }
        // A site silent only because the site it hangs behind is (rule 9)
        // is no separate sign of the controller's own failure.
        let mut starts: Vec<(Ms, SiteId)> = silent
            .iter()
            .filter(|(s, _)| !self.in_maintenance(Root::Site(**s), now) && !self.behind_silence(**s, &silent))
            .map(|(s, t)| (*t, *s))
            .collect();
        starts.sort_unstable();
        let burst = burst_sites(&starts, self.sites.len(), &c);

        // Devices at `now`.
        let mut views: BTreeMap<DeviceId, View> = BTreeMap::new();
        for (id, d) in &mut self.devices {
            let visible = !silent.contains_key(&d.spec.site);
            let core = d.reach_mut().map(|ch| ch.fold(&c).core.at(&c, now)).unwrap_or_default();
            views.insert(*id, View { visible, core });
        }

        // Roots: devices that may be their own root, and open incidents
        // whose root is still down.
        let mut eligible: BTreeMap<DeviceId, Ms> = BTreeMap::new();
        for (id, d) in &self.devices {
            if let Some(v) = views.get(id).filter(|v| v.downish())
                && let Some(start) = self.root_start(d, v, &views, now)
            {
                eligible.insert(*id, start);
            }
        }
        let open = self.open_by_root();
        let sticky: BTreeSet<DeviceId> = open
            .keys()
            .filter_map(|r| match r {
                Root::Device(d) => views.get(d).is_some_and(View::downish).then_some(*d),
                _ => None,
            })
            .collect();
        let roots: BTreeSet<DeviceId> = eligible.keys().copied().chain(sticky.iter().copied()).collect();

        // Coverage (rule 4), then the demoted roots (covered by a parent).
        let mut covered = roots.clone();
        let mut queue: Vec<DeviceId> = roots.iter().copied().collect();
        while let Some(p) = queue.pop() {
            for ch in self.devices.get(&p).map(|d| d.children.as_slice()).unwrap_or_default() {
                if covered.contains(ch) || !views.get(ch).is_some_and(|v| v.visible && !v.core.solid_up()) {
                    continue;
                }
                if self.devices.get(ch).is_some_and(|d| d.eff_parents.iter().all(|q| covered.contains(q))) {
                    covered.insert(*ch);
                    queue.push(*ch);
                }
            }
        }
        let demoted: BTreeSet<DeviceId> = sticky
            .iter()
            .copied()
            .filter(|s| !eligible.contains_key(s))
            .filter(|s| {
                self.devices
                    .get(s)
                    .is_some_and(|d| !d.eff_parents.is_empty() && d.eff_parents.iter().all(|q| covered.contains(q)))
            })
            .collect();
        let mut true_roots: BTreeSet<DeviceId> = roots.difference(&demoted).copied().collect();
        let mut assign: BTreeMap<DeviceId, DeviceId> = BTreeMap::new();
        self.propagate(&true_roots, &true_roots, &covered, &mut assign);
        // A demoted root nothing reaches (a parent cycle) stays a root.
        let orphans: BTreeSet<DeviceId> = demoted.iter().copied().filter(|s| !assign.contains_key(s)).collect();
        true_roots.extend(orphans.iter().copied());
        self.propagate(&orphans, &true_roots, &covered, &mut assign);
        let mut groups: BTreeMap<DeviceId, BTreeSet<DeviceId>> = BTreeMap::new();
        for (d, r) in &assign {
            groups.entry(*r).or_default().insert(*d);
        }

        // Devices by site, without those frozen in an incident whose root's
        // site is silent (rule 5).
        let frozen: BTreeSet<DeviceId> = self
            .incidents
            .values()
            .filter(|i| matches!(i.root, Root::Device(r) if views.get(&r).is_some_and(|v| !v.visible)))
            .flat_map(|i| i.devices.iter().copied())
            .collect();
        let mut by_site: BTreeMap<SiteId, BTreeSet<DeviceId>> = BTreeMap::new();
        for d in self.devices.values() {
            if !frozen.contains(&d.spec.id) {
                by_site.entry(d.spec.site).or_default().insert(d.spec.id);
            }
        }

        // Sites behind another site's device or silence (rule 9): their
        // devices join the cause's incident. A site with its own incident
        // open moves only once the cause's incident is open.
        let mut behind = self.behind_sites(&silent, &assign);
        behind.retain(|s, cause| !open.contains_key(&Root::Site(*s)) || open.contains_key(cause));
        for (s, cause) in &behind {
            let devices = by_site.remove(s).unwrap_or_default();
            match cause {
                Root::Device(r) => groups.entry(*r).or_default().extend(devices),
                Root::Site(t) => by_site.entry(*t).or_default().extend(devices),
                Root::Controller => {}
            }
        }
        self.behind = behind.clone();

        // Device incidents: new roots first (a Supersede names an open incident).
        for r in &true_roots {
            if open.contains_key(&Root::Device(*r)) || self.in_maintenance(Root::Device(*r), now) {
                continue;
            }
            let Some(start) = eligible.get(r) else { continue };
            let start = self.after_maintenance(Root::Device(*r), *start, now);
            let flapping = views.get(r).is_some_and(|v| v.core.flapping_since.is_some());
            let devices = groups.remove(r).unwrap_or_default();
            let a = self.new_incident(Root::Device(*r), devices, start, now, flapping);
            out.opens.push(a);
        }
        let now_open = self.open_by_root();
        for (root, id) in &open {
            let Root::Device(r) = *root else { continue };
            let Some(v) = views.get(&r) else {
                out.resolves.extend(self.resolve(*id, now));
                continue;
            };
            if !v.visible {
                continue; // frozen while the site is silent
            }
            if true_roots.contains(&r) {
                let devices = groups.remove(&r).unwrap_or_default();
                out.updates.extend(self.update(*id, devices, v.core.flapping_since.is_some()));
            } else if demoted.contains(&r) {
                let by = assign.get(&r).and_then(|p| now_open.get(&Root::Device(*p)));
                if let Some(by) = by.copied()
                    && let Some(mut inc) = self.incidents.remove(id)
                {
                    inc.end = Some(now.max(inc.start));
                    out.supersedes.push(Action::Supersede { incident: inc, by });
                }
            } else {
                // Up again; a flapping incident waits until stable.
                let held = self.incidents.get(id).is_some_and(|i| i.flapping)
                    && !v.core.run.is_some_and(|run| run.ok && now.saturating_sub(run.start) >= c.flap_stable_ms);
                if !held {
                    let flapping = self.incidents.get(id).is_some_and(|i| i.flapping);
                    let stable_run = v.core.run.filter(|run| run.ok).map(|run| run.start);
                    let end = if flapping { stable_run } else { v.core.up_since }.unwrap_or(now);
                    out.resolves.extend(self.resolve(*id, end));
                }
            }
        }

        // Site incidents (rule 5).
        let site_ids: BTreeSet<SiteId> = self
            .sites
            .keys()
            .copied()
            .chain(open.keys().filter_map(|r| if let Root::Site(s) = r { Some(*s) } else { None }))
            .collect();
        for s in site_ids {
            let open_id = open.get(&Root::Site(s)).copied();
            if let Some(cause) = behind.get(&s) {
                // Its devices went to the cause's incident (rule 9).
                if let Some(id) = open_id
                    && let Some(by) = open.get(cause).copied()
                    && let Some(mut inc) = self.incidents.remove(&id)
                {
                    inc.end = Some(now.max(inc.start));
                    out.supersedes.push(Action::Supersede { incident: inc, by });
                }
                continue;
            }
            let devices = by_site.remove(&s).unwrap_or_default();
            match (silent.get(&s).filter(|_| self.sites.contains_key(&s)), open_id) {
                (Some(_), Some(id)) => out.updates.extend(self.update(id, devices, false)),
                (Some(since), None) => {
                    let mut due = since.saturating_add(c.agent_silence_ms).saturating_add(c.controller_window_ms);
                    if let Some(e) = self.last_alert_end {
                        due = due.max(e.saturating_add(c.agent_silence_ms));
                    }
                    if now >= due && !burst.contains(&s) && !self.in_maintenance(Root::Site(s), now) {
                        let start = self.after_maintenance(Root::Site(s), *since, now);
                        let a = self.new_incident(Root::Site(s), devices, start, now, false);
                        out.opens.push(a);
                    }
                }
                (None, Some(id)) => {
                    let st = self.sites.get(&s).cloned().unwrap_or_default();
                    let Some(inc) = self.incidents.get(&id) else { continue };
                    let seen = st.visible_since.unwrap_or(now);
                    if inc.flapping && now.saturating_sub(seen) < c.flap_stable_ms {
                        continue;
                    }
                    let end = match st.link {
                        Some((t, true)) if t > inc.start && t <= now => t,
                        _ => seen,
                    };
                    let history = self.past_outages(&inc.devices, inc.start, end);
                    if let Some(inc) = self.incidents.get_mut(&id) {
                        inc.history = history;
                    }
                    out.resolves.extend(self.resolve(id, end));
                }
                (None, None) => {}
            }
        }

        // Controller alert (rule 6).
        let alert = open.get(&Root::Controller).copied();
        match (burst.is_empty(), alert) {
            (false, None) => {
                let start = silent.iter().filter(|(s, _)| burst.contains(s)).map(|(_, t)| *t).min().unwrap_or(now);
                let id = self.next_id;
                self.next_id = self.next_id.saturating_add(1);
                let inc = Incident {
                    id,
                    root: Root::Controller,
                    devices: BTreeSet::new(),
                    sites: burst,
                    start,
                    opened_at: now,
                    end: None,
                    flapping: false,
                    history: Vec::new(),
                };
                self.incidents.insert(id, inc.clone());
                out.alert_open.push(Action::InternalAlertOpen(inc));
            }
            (false, Some(id)) => {
                if let Some(inc) = self.incidents.get_mut(&id) {
                    inc.sites.extend(burst);
                }
            }
            (true, Some(id)) => {
                self.last_alert_end = Some(now);
                out.alert_resolve.extend(self.resolve(id, now));
            }
            (true, None) => {}
        }

        let Out { alert_open, opens, updates, supersedes, resolves, alert_resolve } = out;
        [alert_open, opens, updates, supersedes, resolves, alert_resolve].into_iter().flatten().collect()
    }

    /// Every uplink of `site` is a device of another site that is silent.
    fn behind_silence(&self, site: SiteId, silent: &BTreeMap<SiteId, Ms>) -> bool {
        self.uplinks.get(&site).is_some_and(|ups| {
            !ups.is_empty()
                && ups.iter().all(|u| {
                    self.devices.get(u).is_some_and(|d| d.spec.site != site && silent.contains_key(&d.spec.site))
                })
        })
    }

    /// Rule 9: each silent site whose every uplink is accounted for, with
    /// the cause it is behind (the smallest when redundant uplinks fail for
    /// different causes): the root device of the uplink's incident, or the
    /// upstream site whose own silence is the cause, through any chain of
    /// sites. A loop of uplinks is cut where it closes.
    fn behind_sites(
        &self,
        silent: &BTreeMap<SiteId, Ms>,
        assign: &BTreeMap<DeviceId, DeviceId>,
    ) -> BTreeMap<SiteId, Root> {
        #[derive(Clone, Copy)]
        enum Mark {
            Visiting,
            Done(Option<Root>),
        }
        fn resolve(
            c: &Correlator,
            s: SiteId,
            silent: &BTreeMap<SiteId, Ms>,
            assign: &BTreeMap<DeviceId, DeviceId>,
            memo: &mut BTreeMap<SiteId, Mark>,
        ) -> Option<Root> {
            match memo.get(&s) {
                Some(Mark::Done(r)) => return *r,
                Some(Mark::Visiting) => return None,
                None => {}
            }
            memo.insert(s, Mark::Visiting);
            let mut cause: Option<Root> = None;
            let mut all = silent.contains_key(&s);
            for u in c.uplinks.get(&s).map(Vec::as_slice).unwrap_or_default() {
                if !all {
                    break;
                }
                let this = match c.devices.get(u) {
                    None => None,
                    Some(d) if d.spec.site == s => None,
                    Some(d) if silent.contains_key(&d.spec.site) => {
                        let t = d.spec.site;
                        match memo.get(&t) {
                            // On the path being resolved: the loop closes here.
                            Some(Mark::Visiting) => None,
                            _ => Some(resolve(c, t, silent, assign, memo).unwrap_or(Root::Site(t))),
                        }
                    }
                    Some(_) => assign.get(u).map(|r| Root::Device(*r)),
                };
                match this {
                    Some(r) => cause = Some(cause.map_or(r, |b| b.min(r))),
                    None => all = false,
                }
            }
            let r = if all { cause } else { None };
            memo.insert(s, Mark::Done(r));
            r
        }
        let mut memo = BTreeMap::new();
        let mut out = BTreeMap::new();
        for s in silent.keys() {
            if let Some(r) = resolve(self, *s, silent, assign, &mut memo) {
                out.insert(*s, r);
            }
        }
        out
    }

    /// Min-root-id propagation from `from` over covered devices.
    fn propagate(
        &self,
        from: &BTreeSet<DeviceId>,
        roots: &BTreeSet<DeviceId>,
        covered: &BTreeSet<DeviceId>,
        assign: &mut BTreeMap<DeviceId, DeviceId>,
    ) {
        let mut queue: VecDeque<DeviceId> = from.iter().copied().collect();
        for r in from {
            assign.insert(*r, *r);
        }
        while let Some(p) = queue.pop_front() {
            let Some(label) = assign.get(&p).copied() else { continue };
            for ch in self.devices.get(&p).map(|d| d.children.as_slice()).unwrap_or_default() {
                if !covered.contains(ch) || roots.contains(ch) {
                    continue;
                }
                if assign.get(ch).is_none_or(|l| label < *l) {
                    assign.insert(*ch, label);
                    queue.push_back(*ch);
                }
            }
        }
    }

    /// Closed down intervals of `devices` that began and ended within `[from, to]`.
    fn past_outages(&self, devices: &BTreeSet<DeviceId>, from: Ms, to: Ms) -> Vec<PastOutage> {
        let c = &self.config;
        let mut out = Vec::new();
        for id in devices {
            let Some(ch) = self.devices.get(id).and_then(Dev::reach) else { continue };
            for i in &ch.fold_ref(c).history {
                if let Some(end) = i.to
                    && i.from >= from
                    && end <= to
                {
                    out.push(PastOutage { device: *id, from: i.from, to: end });
                }
            }
        }
        out.truncate(1000);
        out
    }
}

/// Sites whose silence starts fall in a window of `controller_window_ms`
/// holding more than `controller_share_pct` % of all agents (and at least
/// `controller_min_agents`).
fn burst_sites(starts: &[(Ms, SiteId)], agents: usize, c: &Config) -> BTreeSet<SiteId> {
    let mut out = BTreeSet::new();
    let mut j = 0;
    for i in 0..starts.len() {
        j = j.max(i);
        while j + 1 < starts.len() && starts[j + 1].0 <= starts[i].0.saturating_add(c.controller_window_ms) {
            j += 1;
        }
        let count = (j + 1 - i) as u64;
        if count >= u64::from(c.controller_min_agents)
            && count.saturating_mul(100) > u64::from(c.controller_share_pct).saturating_mul(agents as u64)
        {
            out.extend(starts[i..=j].iter().map(|(_, s)| *s));
        }
    }
    out
}

/// Parents of `id` with transparent (unprobed) parents replaced by theirs;
/// unknown ids and `id` itself dropped; cycles cut.
fn effective_parents(devices: &BTreeMap<DeviceId, Dev>, id: DeviceId) -> Vec<DeviceId> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::from([id]);
    let mut stack: Vec<DeviceId> = devices.get(&id).map(|d| d.spec.parents.clone()).unwrap_or_default();
    while let Some(p) = stack.pop() {
        if !seen.insert(p) {
            continue;
        }
        let Some(pd) = devices.get(&p) else { continue };
        if pd.monitored() {
            out.insert(p);
        } else {
            stack.extend(pd.spec.parents.iter().copied());
        }
    }
    out.into_iter().collect()
}
