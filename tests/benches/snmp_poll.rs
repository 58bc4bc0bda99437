//! SNMP polling benchmark: `Poller::poll_all` against net-snmp's
//! `snmpbulkwalk`, side by side, over the same simulated devices.
//!
//! `cargo bench -p mast-tests --bench snmp_poll` (`MAST_BENCH_DEVICES`,
//! default 500; `MAST_BENCH_SIMS`, simulator processes, default 4;
//! `MAST_BENCH_WALKERS`, parallel snmpbulkwalk processes, default 24).
//!
//! Devices are `many_devices` copies of the hand-written airMAX AP (3
//! stations), spread over several snmpsim processes. Each cycle reads the
//! system group, ifTable/ifXTable and the station table of every device.
//! Mast: one `poll_all` (after a warm-up cycle that lets snmpsim index its
//! files and the poller learn table sizes). net-snmp: one `snmpbulkwalk
//! -Cr25` per subtree per device (system, ifTable, ifXTable, station table),
//! `MAST_BENCH_WALKERS` processes at a time. Printed: cycle wall time, CPU
//! (RUSAGE_SELF for Mast, RUSAGE_CHILDREN for net-snmp), values retrieved,
//! CPU per value and the ratio, and the simulator's CPU use during each
//! phase (a simulator process near 100 % means it, not the client, set the
//! pace).

use mast_agent::snmp::{PollOptions, Poller};
use mast_shared::msg::{SnmpCredential, SnmpOutcome};
use mast_tests::snmp::{SnmpSim, fixture, many_devices, net_snmp};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SUBTREES: &[&str] = &["1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1", "1.3.6.1.4.1.41112.1.4.7"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time (utime + stime) of each snmpsim process serving one of `dirs`.
fn sim_cpu(dirs: &[String]) -> Vec<Duration> {
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return out };
    for p in procs.flatten() {
        let path = p.path();
        let Ok(cmd) = std::fs::read(path.join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd);
        if !cmd.contains("snmpsim-command-responder") || !dirs.iter().any(|d| cmd.contains(d.as_str())) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (Some(u), Some(s)) =
            (f.get(11).and_then(|v| v.parse::<u64>().ok()), f.get(12).and_then(|v| v.parse::<u64>().ok()))
        else {
            continue;
        };
        out.push(Duration::from_millis((u + s) * 1000 / tck));
    }
    out
}

fn sim_report(before: &[Duration], after: &[Duration], wall: Duration) -> String {
    let used: Vec<f64> = after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(*b).as_secs_f64() / wall.as_secs_f64() * 100.0)
        .collect();
    let total: f64 = used.iter().sum();
    let max = used.iter().cloned().fold(0.0, f64::max);
    format!("simulator CPU {total:.0} % of one core in total, busiest process {max:.0} %")
}

struct Phase {
    wall: Duration,
    cpu: Duration,
    values: u64,
    failed: usize,
    sim: String,
}

fn print_phase(name: &str, p: &Phase) {
    let per = p.cpu.as_secs_f64() * 1e6 / p.values.max(1) as f64;
    println!(
        "{name:<8} cycle {:>7.2} s  cpu {:>7.3} s  values {:>7}  cpu/value {per:>7.2} us  failed devices {}  ({})",
        p.wall.as_secs_f64(),
        p.cpu.as_secs_f64(),
        p.values,
        p.failed,
        p.sim
    );
}

fn main() -> anyhow::Result<()> {
    let n = env_usize("MAST_BENCH_DEVICES", 500);
    let sims_n = env_usize("MAST_BENCH_SIMS", 4).max(1);
    let walkers = env_usize("MAST_BENCH_WALKERS", 24).max(1);
    if !mast_tests::snmp::require_net_snmp_tools()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let devices = many_devices(n, &fixture("ubiquiti-ap"), dir.path())?;
    let chunk = n.div_ceil(sims_n);
    let started = Instant::now();
    let mut sims = Vec::new();
    for part in devices.chunks(chunk) {
        match SnmpSim::start(part, 2)? {
            Some(s) => sims.push(s),
            None => return Ok(()),
        }
    }
    let dirs: Vec<String> = sims.iter().map(|s| s.data_dir().display().to_string()).collect();
    println!(
        "{n} devices (copies of ubiquiti-ap) on {} snmpsim processes x 2 endpoints, started in {:.1} s",
        sims.len(),
        started.elapsed().as_secs_f64()
    );
    // Device i: its simulator's endpoints alternately, its own community.
    let mut targets: Vec<(SocketAddr, SnmpCredential)> = Vec::new();
    for s in &sims {
        for (j, d) in s.devices().iter().enumerate() {
            let ep = s.endpoints()[j % s.endpoints().len()];
            targets.push((ep, SnmpCredential::V2c { community: d.community.clone() }));
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let opts = PollOptions {
        timeout: Duration::from_secs(3),
        retries: 1,
        max_devices_in_flight: 128,
        walk_arp: false,
        walk_bridge: false,
        ..PollOptions::default()
    };
    let mut poller = Poller::new(opts);

    // Warm-up: snmpsim indexes each recording on first use; the poller learns table sizes.
    let t = Instant::now();
    let warm = rt.block_on(poller.poll_all(&targets));
    let warm_ok = warm.iter().filter(|p| p.outcome == SnmpOutcome::Ok).count();
    println!("warm-up  cycle {:>7.2} s  ok {warm_ok}/{n}", t.elapsed().as_secs_f64());

    // Mast.
    let mut mast = Vec::new();
    for _ in 0..3 {
        let sim0 = sim_cpu(&dirs);
        let c0 = cpu(libc::RUSAGE_SELF);
        let t = Instant::now();
        let polls = rt.block_on(poller.poll_all(&targets));
        let wall = t.elapsed();
        let c = cpu(libc::RUSAGE_SELF) - c0;
        let values: u64 = polls.iter().map(|p| u64::from(p.varbinds)).sum();
        let failed = polls.iter().filter(|p| p.outcome != SnmpOutcome::Ok || p.error.is_some()).count();
        let stations: usize = polls.iter().map(|p| p.stations.len()).sum();
        let requests: u64 = polls.iter().map(|p| u64::from(p.requests)).sum();
        let p = Phase { wall, cpu: c, values, failed, sim: sim_report(&sim0, &sim_cpu(&dirs), wall) };
        print_phase("mast", &p);
        println!("         requests {requests}, stations {stations}");
        if let Some(bad) = polls.iter().find(|p| p.outcome != SnmpOutcome::Ok || p.error.is_some()) {
            println!("         e.g. {} {:?} {:?}", bad.target, bad.outcome, bad.error);
        }
        mast.push(p);
    }

    // net-snmp: one snmpbulkwalk per subtree per device, `walkers` at a time.
    let jobs: Vec<(SocketAddr, String, &str)> = targets
        .iter()
        .flat_map(|(a, c)| {
            let SnmpCredential::V2c { community } = c else { unreachable!() };
            SUBTREES.iter().map(move |s| (*a, community.clone(), *s))
        })
        .collect();
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let values = Arc::new(Mutex::new((0u64, 0usize)));
    let sim0 = sim_cpu(&dirs);
    let c0 = cpu(libc::RUSAGE_CHILDREN);
    let t = Instant::now();
    let threads: Vec<_> = (0..walkers)
        .map(|_| {
            let (jobs, next, values) = (jobs.clone(), next.clone(), values.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((addr, community, root)) = jobs.get(i) else { break };
                    let out = net_snmp("snmpbulkwalk")
                        .args(["-v2c", "-c", community, "-On", "-Oq", "-t", "3", "-r", "1", "-Cr25"])
                        .arg(addr.to_string())
                        .arg(root)
                        .output();
                    let mut v = values.lock().unwrap();
                    match out {
                        Ok(o) if o.status.success() => {
                            v.0 += String::from_utf8_lossy(&o.stdout)
                                .lines()
                                .filter(|l| !l.contains("No more variables") && !l.contains("No Such"))
                                .count() as u64;
                        }
                        _ => v.1 += 1,
                    }
                }
            })
        })
        .collect();
    for th in threads {
        let _ = th.join();
    }
    let wall = t.elapsed();
    let c = cpu(libc::RUSAGE_CHILDREN) - c0;
    let (vals, failed) = *values.lock().unwrap();
    let net = Phase { wall, cpu: c, values: vals, failed, sim: sim_report(&sim0, &sim_cpu(&dirs), wall) };
    print_phase("net-snmp", &net);
    println!("         {} snmpbulkwalk runs ({walkers} at a time)", jobs.len());

    let best = mast.iter().min_by_key(|p| p.wall).expect("three cycles");
    let ours = best.cpu.as_secs_f64() / best.values.max(1) as f64;
    let theirs = net.cpu.as_secs_f64() / net.values.max(1) as f64;
    println!(
        "cpu per value: mast {:.2} us, net-snmp {:.2} us, ratio {:.3} (goal <= 0.333); best mast cycle {:.2} s (goal <= 10 s)",
        ours * 1e6,
        theirs * 1e6,
        ours / theirs,
        best.wall.as_secs_f64()
    );
    drop(sims);
    Ok(())
}
