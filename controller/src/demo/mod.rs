//! `mast-controller demo`: a controller on the configured database (SQLite by
//! default), simulated radios answering SNMP on loopback ([`radios`],
//! [`responder`]: a demo device source that `serve` never uses), and one
//! real `mast-agent` child process per tower, enrolled through the real
//! token flow, probing them and reaching the controller through the tower's
//! simulated backhaul ([`backhaul`]). The demo customers are attached to the
//! CPEs the agents really see, and a tower loses its backhaul on a schedule,
//! so an incident with its ticket, affected customers and queued notices
//! appears within minutes. A restart on the same data directory reuses its
//! agents, login and API token.

pub mod backhaul;
pub mod radios;
pub mod responder;

use crate::config::Config;
use crate::{auth, fleet, monitoring};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::{Child, Command};

fn agent_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("MAST_AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name("mast-agent");
    if sibling.exists() {
        return Ok(sibling);
    }
    bail!(
        "mast-agent not found next to {} (build the workspace: `cargo build --release`, or set MAST_AGENT_BIN)",
        exe.display()
    )
}

/// Explains how to allow unprivileged ICMP when it is not allowed.
pub fn icmp_hint() -> Option<String> {
    // SAFETY-free check: root may always open raw sockets.
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
    });
    if uid == Some(0) {
        return None;
    }
    let gid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Gid:")).and_then(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
    })?;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").ok()?;
    let mut it = range.split_whitespace().filter_map(|v| v.parse::<u32>().ok());
    let (lo, hi) = (it.next()?, it.next()?);
    if lo <= gid && gid <= hi {
        return None;
    }
    Some(format!(
        "ICMP is not permitted for group {gid} (net.ipv4.ping_group_range = {lo} {hi}). Allow it with:\n  \
         sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"\nor give the agent the capability:\n  \
         sudo setcap cap_net_raw+ep target/release/mast-agent"
    ))
}

/// What `mast-controller demo` runs (its command-line options).
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Towers, one agent each (1-6).
    pub towers: u32,
    /// Ping interval, seconds.
    pub interval_secs: u64,
    /// SNMP poll interval, seconds (5 at least).
    pub snmp_interval_secs: u64,
    /// The first scripted backhaul outage starts this long after the demo.
    pub outage_after_secs: u64,
    /// Then one every this often (each on the next tower).
    pub outage_every_secs: u64,
    /// How long a tower stays cut off; 0: no scripted outages.
    pub outage_for_secs: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            towers: 3,
            interval_secs: 5,
            snmp_interval_secs: 10,
            outage_after_secs: 120,
            outage_every_secs: 900,
            outage_for_secs: 300,
        }
    }
}

/// The demo's SNMP community (the simulated radios answer nothing else).
const COMMUNITY: &str = "mast-demo";

pub async fn run(cfg: Config, opts: DemoOptions) -> anyhow::Result<()> {
    if opts.towers == 0 || opts.towers as usize > crate::billing::demo::SITES.len() {
        bail!("--agents must be 1-{}", crate::billing::demo::SITES.len());
    }
    if opts.interval_secs == 0 || opts.snmp_interval_secs < 5 {
        bail!("--interval must be at least 1 s and --snmp-interval at least 5 s");
    }
    if opts.outage_for_secs > 0 && opts.outage_for_secs >= opts.outage_every_secs {
        bail!("--outage-for must be shorter than --outage-every");
    }
    let agent_bin = agent_binary()?;
    if let Some(h) = icmp_hint() {
        eprintln!("warning: {h}");
    }
    // Ctrl-C or SIGTERM at any moment, start-up included, stops everything.
    let signal = crate::shutdown_signal();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The demo's reconciliation runs often, so the van's radios are seen
    // installed within a minute (unless the config asks otherwise).
    let mut cfg = cfg;
    if cfg.stock.reconcile_secs == crate::config::Stock::default().reconcile_secs {
        cfg.stock.reconcile_secs = 15;
    }
    let app = crate::App::open(&cfg).await?;
    // The demo's own admin exists before the server starts, so the server's
    // first-run admin is never made (one staff login, the printed one).
    demo_login(&app.db, &cfg.data_dir, None).await?;
    let on_signal = app.shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        on_signal.trigger();
    });
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    // The demo stops the controller through the App's shutdown signal.
    let server = tokio::spawn(crate::serve_app(app.clone(), std::future::pending(), Some(ready_tx)));
    let addrs = match ready_rx.await {
        Ok(a) => a,
        Err(_) => return server.await?.context("the controller did not start"),
    };
    let mut children: Vec<Child> = Vec::new();
    let mut radios = tokio::task::JoinSet::new();
    tokio::select! {
        r = setup(&app, &cfg, addrs, &agent_bin, opts, &mut children, &mut radios) => r?,
        _ = app.shutdown.cancelled() => {}
    }
    app.shutdown.cancelled().await;
    println!("Stopping the agents and the controller...");
    stop_children(&mut children).await;
    radios.abort_all();
    app.shutdown.trigger();
    server.await??;
    Ok(())
}

/// The simulated radios: one SNMP responder per AP on its own loopback
/// address (port chosen by the kernel). Returns each AP's address, tower by
/// tower.
async fn start_radios(
    towers: &[radios::Tower],
    boot_ms: i64,
    set: &mut tokio::task::JoinSet<()>,
) -> anyhow::Result<Vec<Vec<std::net::SocketAddr>>> {
    let community: std::sync::Arc<[u8]> = COMMUNITY.as_bytes().into();
    let mut out = Vec::new();
    for t in towers {
        let mut addrs = Vec::new();
        for ap in &t.aps {
            let socket = tokio::net::UdpSocket::bind((ap.addr, 0))
                .await
                .with_context(|| format!("binding the simulated radio {} on {}", ap.name, ap.addr))?;
            addrs.push(socket.local_addr()?);
            let ap = ap.clone();
            set.spawn(responder::serve(socket, community.clone(), move |now| ap.mib(now, boot_ms)));
        }
        out.push(addrs);
    }
    Ok(out)
}

/// The login the demo prints, kept in `<data dir>/demo-login.json` (0600)
/// so a restart prints the same one.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct DemoLogin {
    email: String,
    password: String,
    token: String,
    portal_email: Option<String>,
    portal_password: Option<String>,
}

const STAFF_EMAIL: &str = "admin@demo.local";

/// Reuses the saved login where it still works; makes what does not.
/// The demo's field team (once: a second start finds it): two
/// technicians (one climbs) starting from the depot by the first tower,
/// a north and a south zone, today's work orders at customers (repairs
/// from open tickets, installations for leads, one tower job) and a few
/// left unscheduled, then today planned; yesterday's finished visits give
/// the outcome report its first figures.
async fn dispatch(app: &crate::App) -> anyhow::Result<()> {
    use crate::dispatch::{JobInput, TechnicianInput, jobs, technicians};
    use mast_dispatch_core::job::{JobKind, Priority, Status};
    let db = &app.db;
    if !technicians::list(db).await?.is_empty() {
        return Ok(());
    }
    let (_, lat0, lon0) = crate::billing::demo::SITES[0];
    let depot = mast_dispatch_core::geo::Point::new(lat0 - 0.03, lon0 + 0.02);
    let north = "[[44.45,-89.80],[44.45,-89.35],[44.70,-89.35],[44.70,-89.80]]";
    let south = "[[44.25,-89.80],[44.25,-89.35],[44.49,-89.35],[44.49,-89.80]]";
    let zn = technicians::save_zone(db, None, "North", "#1f77b4", north).await?.id;
    let zs = technicians::save_zone(db, None, "South", "#d62728", south).await?.id;
    let mut techs = Vec::new();
    for (email, name, skills, zone) in
        [("tech.north@demo.invalid", "Sam North", "climb", zn), ("tech.south@demo.invalid", "Ria South", "", zs)]
    {
        let u = match crate::staff::user_by_email(db, email).await? {
            Some(u) => u.id,
            None => {
                crate::staff::add_user(db, email, crate::staff::Role::Technician, &crate::fleet::random_secret(""))
                    .await?
                    .id
            }
        };
        let input = TechnicianInput {
            name: name.into(),
            phone: "+1 715 555 0100".into(),
            skills: skills.into(),
            shift_start_min: 8 * 60,
            shift_end_min: 17 * 60,
            work_days: (1..=7).collect(),
            start: depot,
            end: depot,
            active: true,
            zones: vec![zone],
        };
        technicians::save(db, u, &input).await?;
        techs.push(u);
    }
    // The demo admin works in the field too (so "Today" shows a route).
    let customers = crate::customers::search(db, "", 40, 0).await?;
    let located: Vec<_> = customers.iter().filter(|c| c.lat.is_some() && c.lon.is_some()).collect();
    let now = crate::db::now_ms();
    let today = jiff::Timestamp::now().to_zoned_datetime(app.tz().clone()).date();
    let yesterday = today.yesterday()?.to_string();
    for (i, c) in located.iter().take(12).enumerate() {
        let install = c.status.as_str() == "lead";
        let input = JobInput {
            kind: if install { JobKind::Installation } else { JobKind::Repair },
            priority: if i % 5 == 0 { Priority::High } else { Priority::Normal },
            title: format!("{} for {}", if install { "Install" } else { "Weak signal" }, c.name),
            customer_id: Some(c.id),
            address: c.address.clone().unwrap_or_default(),
            lat: c.lat,
            lon: c.lon,
            window_start_min: (i % 3 == 0).then_some(9 * 60 + (i as i64 % 4) * 60),
            window_end_min: (i % 3 == 0).then_some(12 * 60 + (i as i64 % 4) * 60),
            duration_min: if install { 90 } else { 45 },
            ..JobInput::default()
        };
        let j = jobs::create(db, &input, "demo").await?;
        // The first three were yesterday's visits: two fixed, one needs a revisit.
        if i < 3 {
            let tech = techs[i % 2];
            let step = |to, at_ms, schedule: Option<(i64, String)>| jobs::Change {
                to,
                at_ms,
                actor: "demo".into(),
                note: String::new(),
                schedule,
                revision: None,
            };
            let t0 = now - 86_400_000 + i as i64 * 3_600_000;
            jobs::backdate(db, j.id, t0 - 3_600_000).await?;
            jobs::change(db, j.id, &step(Status::Scheduled, t0, Some((tech, yesterday.clone())))).await?;
            jobs::change(db, j.id, &step(Status::EnRoute, t0 + 60_000, None)).await?;
            jobs::change(db, j.id, &step(Status::OnSite, t0 + 1_500_000, None)).await?;
            let end = if i == 2 { Status::NeedsRevisit } else { Status::Done };
            jobs::change(db, j.id, &step(end, t0 + 4_200_000, None)).await?;
        }
    }
    // A tower job for the climber.
    let (site, slat, slon) = crate::billing::demo::SITES[0];
    let site_id = monitoring::site_by_name(db, site).await?.map(|s| s.id);
    jobs::create(
        db,
        &JobInput {
            kind: JobKind::TowerWork,
            priority: Priority::Urgent,
            title: format!("Re-aim the sector at {site}"),
            site_id,
            lat: Some(slat),
            lon: Some(slon),
            duration_min: 120,
            skills: "climb".into(),
            ..JobInput::default()
        },
        "demo",
    )
    .await?;
    let company = app.settings.billing.operator.name.clone();
    let planned = crate::dispatch_service::plan_day(
        db,
        &app.settings.dispatch,
        app.channels(),
        &company,
        &today.to_string(),
        "demo",
    )
    .await?;
    println!(
        "  Dispatch: {} job(s) planned for today for {} technicians in {} ms.",
        planned.plan.assigned(),
        techs.len(),
        planned.millis
    );
    Ok(())
}

async fn demo_login(
    db: &crate::db::Db,
    data_dir: &std::path::Path,
    portal_customer: Option<i64>,
) -> anyhow::Result<DemoLogin> {
    let path = data_dir.join("demo-login.json");
    let saved: Option<DemoLogin> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let mut login = saved.clone().unwrap_or_else(|| DemoLogin {
        email: STAFF_EMAIL.into(),
        password: crate::fleet::random_secret(""),
        token: String::new(),
        portal_email: None,
        portal_password: None,
    });
    match crate::staff::user_by_email(db, &login.email).await? {
        Some(u) => {
            if crate::staff::authenticate(db, &login.email, &login.password).await?.is_none() {
                login.password = crate::fleet::random_secret("");
                crate::staff::set_password(db, u.id, &login.password).await?;
            }
            crate::staff::set_disabled(db, u.id, false).await?;
        }
        None => {
            crate::staff::add_user(db, &login.email, crate::staff::Role::Admin, &login.password).await?;
        }
    }
    if login.token.is_empty() || crate::auth::token_caller(db, &login.token).await?.is_none() {
        login.token = auth::create_token(db, &format!("demo-{}", crate::db::now_ms()), "admin").await?;
    }
    if let Some(id) = portal_customer {
        let email = crate::portal::enable(db, id).await?;
        let works = match (&login.portal_email, &login.portal_password) {
            (Some(e), Some(p)) if *e == email => crate::portal::authenticate(db, e, p).await? == Some(id),
            _ => false,
        };
        if !works {
            let password = crate::fleet::random_secret("");
            crate::portal::set_password(db, id, &password).await?;
            login.portal_email = Some(email);
            login.portal_password = Some(password);
        }
    }
    let json = serde_json::to_vec_pretty(&login)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.write_all(&json)?;
    }
    Ok(login)
}

/// Starts the tower's agent: reuses its enrollment when the controller still
/// knows it as active for this site (pointing it at this run's address),
/// otherwise enrolls a new one and revokes the one it replaces.
async fn start_agent(
    db: &crate::db::Db,
    cfg: &Config,
    fp: &str,
    quic: &str,
    agent_bin: &std::path::Path,
    i: usize,
    site: &monitoring::Site,
) -> anyhow::Result<Child> {
    let state = cfg.data_dir.join("demo-agents").join(format!("agent-{i}"));
    let identity = state.join("identity.json");
    let saved: Option<serde_json::Value> = std::fs::read(&identity).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let saved_id = saved.as_ref().and_then(|v| v["agent_id"].as_i64());
    let reusable = match saved_id {
        Some(id) => fleet::get_agent(db, id)
            .await
            .ok()
            .is_some_and(|a| a.site_id == site.id && a.status == fleet::AgentStatus::Active),
        None => false,
    };
    if let (true, Some(mut v)) = (reusable, saved) {
        v["controller"] = serde_json::Value::String(quic.to_string());
        std::fs::write(&identity, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("updating {}", identity.display()))?;
    } else {
        if let Some(id) = saved_id {
            let _ = fleet::revoke(db, id as u64).await;
        }
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state)?;
        let (_, token) = fleet::add_agent(db, &site.name, Duration::from_secs(600)).await?;
        let mut enroll = Command::new(agent_bin);
        enroll
            .args(["enroll", "--controller", quic, "--token", &token, "--ca-fingerprint", fp, "--state-dir"])
            .arg(&state)
            // A signal during start-up drops this future: the enrollment
            // stops with it instead of outliving the demo.
            .kill_on_drop(true);
        stop_with_parent(&mut enroll);
        let out = enroll.output().await.with_context(|| format!("running {}", agent_bin.display()))?;
        if !out.status.success() {
            bail!("agent {i} failed to enroll: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    let log_path = cfg.data_dir.join("demo-agents").join(format!("agent-{i}.log"));
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = Command::new(agent_bin);
    cmd.args(["run", "--state-dir"]).arg(&state).stdout(log.try_clone()?).stderr(log).kill_on_drop(true);
    // The agents die with the demo, also when it is killed outright.
    stop_with_parent(&mut cmd);
    cmd.spawn().with_context(|| format!("starting {}", agent_bin.display()))
}

/// Loads the demo customers, puts the towers' radios on their sites,
/// attaches customers to the CPEs, starts the agents, prints how to log in.
async fn setup(
    app: &crate::App,
    cfg: &Config,
    addrs: crate::Addresses,
    agent_bin: &std::path::Path,
    opts: DemoOptions,
    children: &mut Vec<Child>,
    radio_tasks: &mut tokio::task::JoinSet<()>,
) -> anyhow::Result<()> {
    let db = app.db.clone();
    // Demo customers with plans, subscriptions, holds and late payers, and
    // their invoices for the periods that started in the last month (once:
    // a second demo start finds them and moves on).
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let load =
        crate::billing::demo::DemoOptions { customers: 60, seed: 7, as_of: today, billing_day: None, force: false };
    if crate::billing::demo::load(&db, &load).await.is_ok() {
        let mut d = crate::billing::period::add_days(today, -27)?;
        while d <= today {
            if let Err(e) = crate::billing::run::run(&db, d, &Default::default()).await {
                eprintln!("warning: demo invoice run for {d}: {e}");
            }
            d = d.tomorrow()?;
        }
    }

    let sites = &crate::billing::demo::SITES[..opts.towers as usize];
    let towers = radios::network(sites);
    let schedule = radios::Schedule {
        start_ms: crate::db::now_ms(),
        after_ms: opts.outage_after_secs as i64 * 1000,
        every_ms: opts.outage_every_secs as i64 * 1000,
        for_ms: opts.outage_for_secs as i64 * 1000,
    };
    let ap_addrs = start_radios(&towers, schedule.start_ms - 3 * 86_400_000, radio_tasks).await?;
    let fp = app.pki.ca_fingerprint();
    let controller_quic = std::net::SocketAddr::from(([127, 0, 0, 1], addrs.quic.port()));
    let n_towers = towers.len();
    let mut portal_customer = None;
    let mut served: Vec<(i64, String)> = Vec::new();
    for (i, (tower, aps)) in towers.iter().zip(&ap_addrs).enumerate() {
        let edit = monitoring::SiteEdit {
            name: tower.site.clone(),
            targets: vec![mast_shared::ProbeTarget {
                addr: tower.router.into(),
                name: Some(format!("{} router", tower.label)),
            }],
            interval_ms: opts.interval_secs as i64 * 1000,
            timeout_ms: 1000.min(opts.interval_secs as i64 * 1000 - 1),
            location: Some((tower.lat, tower.lon)),
        };
        let site = match monitoring::site_by_name(&db, &tower.site).await? {
            Some(s) => monitoring::edit_site(&db, s.id, &edit).await?,
            None => monitoring::create_site(&db, &edit).await?,
        };
        let probing = monitoring::probing::Probing {
            snmp_interval_ms: opts.snmp_interval_secs as i64 * 1000,
            credentials: vec![mast_shared::SnmpCredential::V2c { community: COMMUNITY.into() }],
            snmp_targets: aps.iter().map(|a| mast_shared::SnmpTarget { addr: *a, credential: 0 }).collect(),
            ..Default::default()
        };
        monitoring::probing::set(&db, site.id, &probing).await?;
        // The site's first customers are served by its CPEs (one each).
        let cpes: Vec<String> =
            tower.aps.iter().flat_map(|a| &a.cpes).map(|c| mast_shared::format_mac(&c.mac)).collect();
        let customers = crate::customers::at_site(&db, site.id, cpes.len() as i64).await?;
        for (c, mac) in customers.iter().zip(&cpes) {
            if c.cpes != [mac.clone()] {
                crate::customers::set_cpes(&db, c.id, &[mac]).await?;
            }
            served.push((c.id, mac.clone()));
            if portal_customer.is_none() && c.email.is_some() {
                portal_customer = Some(c.id);
            }
        }
        // The agent reaches the controller over the tower's backhaul.
        let link = backhaul::start(controller_quic, move |now| schedule.silent(now, n_towers) == Some(i), radio_tasks)
            .await
            .context("starting the simulated backhaul")?;
        children.push(start_agent(&db, cfg, &fp, &link.to_string(), agent_bin, i + 1, &site).await?);
    }

    if let Err(e) = stock(&db, &served).await {
        eprintln!("warning: demo inventory: {e}");
    }
    if let Err(e) = dispatch(app).await {
        eprintln!("warning: demo dispatch: {e}");
    }
    let login = demo_login(&db, &cfg.data_dir, portal_customer).await?;
    let http = if addrs.http.ip().is_unspecified() {
        format!("http://127.0.0.1:{}/", addrs.http.port())
    } else {
        format!("http://{}/", addrs.http)
    };
    let aps: usize = towers.iter().map(|t| t.aps.len()).sum();
    let cpes: usize = towers.iter().flat_map(|t| &t.aps).map(|a| a.cpes.len()).sum();
    println!();
    println!(
        "Mast demo is running: {} tower(s) with {aps} access points and {cpes} customer radios (simulated, over SNMP on loopback).",
        towers.len()
    );
    if opts.outage_for_secs > 0 {
        println!(
            "  Scripted outage: a tower loses its backhaul for {} s every {} s, the first {} s from now \
             (an incident opens after {} s of silence).",
            opts.outage_for_secs,
            opts.outage_every_secs,
            opts.outage_after_secs,
            {
                let c = &app.settings.monitoring.correlator;
                (c.agent_silence_ms + c.controller_window_ms) / 1000
            }
        );
    }
    println!("  Web UI:    {http}");
    println!("  Log in as: {}  password: {}", login.email, login.password);
    if let (Some(e), Some(p)) = (&login.portal_email, &login.portal_password) {
        println!("  Customer portal: {http}portal  log in as: {e}  password: {p}");
    }
    println!("  API token: {}", login.token);
    println!("  API:       curl -H 'Authorization: Bearer {}' {http}api/v1/devices", login.token);
    println!("  Data dir:  {} (agent logs in demo-agents/)", cfg.data_dir.display());
    println!("Press Ctrl-C to stop.");
    Ok(())
}

/// The demo's inventory (once: a second start finds the catalogue and moves
/// on): CPE radios, connectors and cable received into a warehouse, every
/// customer's radio installed at the customer but the last three; two of
/// those are in a technician's van, so the reconciliation installs them
/// automatically as soon as the agents see them on the air, and the last
/// one was never recorded, so it is listed as unknown. Connectors sit
/// below their reorder threshold (the purchase list has a line).
async fn stock(db: &crate::db::Db, served: &[(i64, String)]) -> anyhow::Result<()> {
    use crate::stock::moves::{self, Batch, ItemInput, Target};
    use crate::stock::{ModelInput, locations, models};
    use mast_stock_core::{Kind, LocationKind};
    if !models::list(db).await?.is_empty() || served.len() < 4 {
        return Ok(());
    }
    let radio = models::add(
        db,
        &ModelInput {
            vendor: "Ubiquiti".into(),
            name: "LiteBeam 5AC Gen2".into(),
            kind: "radio".into(),
            class: "trackable".into(),
            needs_mac: true,
            reorder_threshold: Some(5),
            targets: [(LocationKind::Warehouse, 10), (LocationKind::Vehicle, 3)].into(),
            unit_cost_minor: 8_900,
            supplier: Some("Streakwave".into()),
            warranty_months: Some(12),
            ..Default::default()
        },
    )
    .await?;
    let rj45 = models::add(
        db,
        &ModelInput {
            vendor: "Ubiquiti".into(),
            name: "TOUGHCable connector".into(),
            kind: "connector".into(),
            class: "consumable".into(),
            reorder_threshold: Some(200),
            unit_cost_minor: 35,
            ..Default::default()
        },
    )
    .await?;
    let cable = models::add(
        db,
        &ModelInput {
            vendor: "Ubiquiti".into(),
            name: "TOUGHCable Pro".into(),
            kind: "cable".into(),
            class: "cut-to-length".into(),
            unit_cost_minor: 45,
            ..Default::default()
        },
    )
    .await?;
    let wh = locations::add(db, LocationKind::Warehouse, "Main warehouse", None).await?.id;
    let van = locations::add(db, LocationKind::Vehicle, "Van 1", None).await?.id;
    let batch = |kind: Kind, from: Option<i64>, to: Target, items: Vec<ItemInput>| Batch {
        kind,
        from,
        to,
        items,
        note: "demo".into(),
        actor: "demo".into(),
        automatic: false,
    };
    let receive = |cost| Kind::Receive { purchase_order: None, unit_cost_minor: cost };
    let n = served.len();
    let mut items: Vec<ItemInput> = served[..n - 1]
        .iter()
        .map(|(_, mac)| ItemInput::New { model: radio.id, mac: Some(mac.clone()), serial: None, length_mm: None })
        .collect();
    items.extend((1..=6).map(|i| ItemInput::New {
        model: radio.id,
        mac: Some(format!("02:de:00:00:00:{i:02x}")),
        serial: None,
        length_mm: None,
    }));
    let got = moves::record(db, &batch(receive(8_900), None, Target::Location(wh), items)).await?;
    moves::record(
        db,
        &batch(receive(35), None, Target::Location(wh), vec![ItemInput::Quantity { model: rj45.id, quantity: 150 }]),
    )
    .await?;
    moves::record(
        db,
        &batch(
            receive(45),
            None,
            Target::Location(wh),
            vec![ItemInput::New {
                model: cable.id,
                mac: None,
                serial: Some("SPOOL-0001".into()),
                length_mm: Some(305_000),
            }],
        ),
    )
    .await?;
    for ((customer, _), unit) in served[..n - 3].iter().zip(&got.new_units) {
        moves::record(
            db,
            &batch(Kind::Install, Some(wh), Target::Customer(*customer), vec![ItemInput::Unit { unit: *unit }]),
        )
        .await?;
    }
    let to_van: Vec<ItemInput> = got.new_units[n - 3..n + 1].iter().map(|u| ItemInput::Unit { unit: *u }).collect();
    moves::record(db, &batch(Kind::AssignToTechnician, Some(wh), Target::Location(van), to_van)).await?;
    Ok(())
}

/// Asks the kernel to kill the child when this process dies, so no agent
/// outlives the demo, even when the demo is killed outright (SIGKILL: the
/// agent's spool is built to survive that; a graceful stop is
/// [`stop_children`]'s SIGTERM).
fn stop_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // prctl(2), getppid(2) and raise(3), which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The demo may have died between fork and prctl (the orphan is
            // then re-parented, not always to pid 1: compare with the pid).
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

/// SIGTERM to every agent (they flush their spool and exit), then SIGKILL
/// to any still running after 5 s.
async fn stop_children(children: &mut [Child]) {
    for c in children.iter() {
        if let Some(pid) = c.id() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    for c in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(5), c.wait()).await.is_err() {
            let _ = c.kill().await;
        }
    }
}
