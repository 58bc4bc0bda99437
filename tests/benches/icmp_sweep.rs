//! ICMP sweep benchmark: `cargo bench -p mast-tests --bench icmp_sweep`
//!
//! In a network namespace of its own (1,000 targets: 950 addresses on `lo`,
//! 50 routed on-link to a veth whose peer is down, so they never answer), runs
//! side by side, interleaved: our paced round (`Pinger::round_paced`) and
//! `fping` with its defaults (`fping -a -s -f FILE`: 10 ms between packets,
//! 500 ms initial timeout, 3 retries with backoff 1.5). Reports median wall
//! time, CPU (user+sys: `RUSAGE_SELF` delta for ours, `RUSAGE_CHILDREN` delta
//! for fping), echo requests sent (the namespace's `Icmp: OutEchos`), CPU per
//! target and per packet, and the wall ratio. Goals: ≥ 10× fping's wall time,
//! no more CPU per probe than fping.
//!
//! Needs root. `MAST_BENCH_RUNS` (default 3) runs of each; `MAST_SWEEP_RATE`
//! (default 5000 pps) and `MAST_SWEEP_TIMEOUT_MS` (default 500) for ours.

use anyhow::{Context, bail};
use mast_agent::ping::Pinger;
use std::ffi::CString;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

const PREFIX: &str = "mastsweep-";

/// The namespace's mount point and the running fping, for the signal handler.
static NS_PATH: OnceLock<CString> = OnceLock::new();
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    // What `ip netns del` does, with async-signal-safe calls only.
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill is async-signal-safe; the pid is our own unreaped child.
        unsafe { libc::kill(child, libc::SIGTERM) };
    }
    if let Some(p) = NS_PATH.get() {
        // SAFETY: plain syscalls on a NUL-terminated path.
        unsafe {
            libc::umount2(p.as_ptr(), libc::MNT_DETACH);
            libc::unlink(p.as_ptr());
        }
    }
    unsafe { libc::_exit(130) };
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Bed {
    name: String,
    targets: Vec<IpAddr>,
    dead: Vec<IpAddr>,
    list: tempfile::NamedTempFile,
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Deletes namespaces left by earlier runs that were killed outright.
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else { return };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

impl Bed {
    fn create(n: usize) -> anyhow::Result<Bed> {
        let name = format!("{PREFIX}{}", std::process::id());
        let _ = NS_PATH.set(CString::new(format!("/run/netns/{name}"))?);
        let list = tempfile::NamedTempFile::new()?;
        let out = Command::new("ip").args(["netns", "add", &name]).output().context("running ip")?;
        if !out.status.success() {
            bail!("ip netns add {name}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let mut bed = Bed { name, targets: Vec::new(), dead: Vec::new(), list };
        let mut script = String::from(
            "link set lo up\nlink add dead0 type veth peer name dead1\nlink set dead0 arp off up\n\
             route add 10.201.8.0/24 dev dead0\n",
        );
        for i in 0..n {
            if i % 20 == 19 {
                bed.dead.push(IpAddr::V4(Ipv4Addr::new(10, 201, 8, (bed.dead.len() + 1) as u8)));
                bed.targets.push(*bed.dead.last().unwrap_or(&IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
            } else {
                let k = bed.targets.len() - bed.dead.len();
                let a = Ipv4Addr::new(10, 201, (k / 250) as u8, (k % 250 + 1) as u8);
                script.push_str(&format!("addr add {a}/32 dev lo\n"));
                bed.targets.push(IpAddr::V4(a));
            }
        }
        let mut child = Command::new("ip")
            .args(["-n", &bed.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().context("stdin")?.write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("setting up {}: {}", bed.name, String::from_utf8_lossy(&out.stderr).trim());
        }
        for t in &bed.targets {
            writeln!(bed.list, "{t}")?;
        }
        bed.list.flush()?;
        Ok(bed)
    }
}

/// User + system CPU of `who` (RUSAGE_SELF or RUSAGE_CHILDREN) so far.
fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[derive(Default)]
struct Runs {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
    packets: Vec<u64>,
}

fn median<T: Copy + Ord>(v: &[T]) -> T {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

impl Runs {
    fn report(&self, name: &str, targets: usize) -> (Duration, f64, f64) {
        let (wall, cpu, pk) = (median(&self.wall), median(&self.cpu), median(&self.packets));
        let us = cpu.as_secs_f64() * 1e6;
        let (per_target, per_packet) = (us / targets as f64, us / pk.max(1) as f64);
        println!(
            "{name:<8} wall {:>8.1} ms  cpu {:>7.1} ms  packets {pk:>5}  cpu/target {per_target:>6.1} µs  \
             cpu/packet {per_packet:>6.1} µs   (walls: {:?})",
            wall.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            self.wall.iter().map(|w| format!("{:.0}ms", w.as_secs_f64() * 1e3)).collect::<Vec<_>>()
        );
        (wall, per_target, per_packet)
    }
}

fn bench(bed: &Bed) -> anyhow::Result<()> {
    let runs: usize = env_or("MAST_BENCH_RUNS", 3).max(1);
    let rate: u32 = env_or("MAST_SWEEP_RATE", mast_agent::ping::DEFAULT_RATE_PPS);
    let timeout = Duration::from_millis(env_or("MAST_SWEEP_TIMEOUT_MS", 500));
    let (n, n_dead) = (bed.targets.len(), bed.dead.len());
    println!(
        "icmp_sweep: {n} targets ({n_dead} dead) in namespace {}; ours: rate {rate} pps, burst {}, timeout {} ms; \
         fping {}: defaults; {runs} runs each, interleaved",
        bed.name,
        mast_agent::pacing::default_burst(rate),
        timeout.as_millis(),
        String::from_utf8_lossy(&Command::new("fping").arg("--version").output().context("fping")?.stdout)
            .trim()
            .trim_start_matches("fping: ")
    );
    let path = format!("/run/netns/{}", bed.name);
    let (targets, dead, list) = (bed.targets.clone(), bed.dead.clone(), bed.list.path().to_path_buf());
    let (ours, fping) = std::thread::spawn(move || -> anyhow::Result<(Runs, Runs)> {
        let ns = std::fs::File::open(&path).with_context(|| path.clone())?;
        // SAFETY: plain syscall on a descriptor we own; affects this thread and
        // the threads and processes it starts.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        // Like the agent (#[tokio::main] on 2 cores).
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let (mut ours, mut fping) = (Runs::default(), Runs::default());
        for run in 0..runs {
            let (c0, p0, t0) = (cpu(libc::RUSAGE_SELF), mast_tests::icmp_out_echos()?, Instant::now());
            let results = rt.block_on(async {
                let mut pinger = Pinger::new()?;
                anyhow::Ok(pinger.round_paced(&targets, timeout, rate).await)
            })?;
            ours.wall.push(t0.elapsed());
            ours.cpu.push(cpu(libc::RUSAGE_SELF) - c0);
            ours.packets.push(mast_tests::icmp_out_echos()? - p0);
            for (a, rtt) in &results {
                if rtt.is_none() != dead.contains(a) {
                    bail!(
                        "ours, run {run}: {a} answered {rtt:?}, expected {}",
                        if dead.contains(a) { "none" } else { "a reply" }
                    );
                }
            }

            let (c0, p0, t0) = (cpu(libc::RUSAGE_CHILDREN), mast_tests::icmp_out_echos()?, Instant::now());
            let child = Command::new("fping")
                .args(["-a", "-s", "-f"])
                .arg(&list)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running fping")?;
            CHILD.store(child.id() as i32, Ordering::SeqCst);
            let out = child.wait_with_output();
            CHILD.store(0, Ordering::SeqCst);
            let out = out?;
            fping.wall.push(t0.elapsed());
            fping.cpu.push(cpu(libc::RUSAGE_CHILDREN) - c0);
            fping.packets.push(mast_tests::icmp_out_echos()? - p0);
            let own_count = String::from_utf8_lossy(&out.stderr)
                .lines()
                .find(|l| l.contains("ICMP Echos sent"))
                .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok());
            if own_count != fping.packets.last().copied() {
                eprintln!(
                    "note: fping reports {own_count:?} echos sent, the namespace counted {:?}",
                    fping.packets.last()
                );
            }
            let alive = String::from_utf8_lossy(&out.stdout).lines().count();
            if alive != targets.len() - dead.len() {
                bail!("fping, run {run}: {alive} alive, expected {}", targets.len() - dead.len());
            }
            eprintln!(
                "run {run}: ours {:.0} ms, fping {:.0} ms",
                ours.wall[run].as_secs_f64() * 1e3,
                fping.wall[run].as_secs_f64() * 1e3
            );
        }
        Ok((ours, fping))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("benchmark thread panicked"))??;

    let (ow, ot, op) = ours.report("ours", n);
    let (fw, ft, fp) = fping.report("fping", n);
    let ratio = fw.as_secs_f64() / ow.as_secs_f64();
    println!("wall ratio fping/ours: {ratio:.1}x (goal >= 10x: {})", if ratio >= 10.0 { "met" } else { "MISSED" });
    println!(
        "cpu per target ours/fping: {:.2} (goal <= 1: {}); per packet {:.2}",
        ot / ft,
        if ot <= ft { "met" } else { "MISSED" },
        op / fp
    );
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("icmp_sweep: needs root (it creates a network namespace and raw ICMP sockets); nothing was set up");
        return ExitCode::FAILURE;
    }
    remove_stale();
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only makes async-signal-safe calls.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    let result = Bed::create(1000).and_then(|bed| bench(&bed));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("icmp_sweep failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
