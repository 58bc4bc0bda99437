//! ICMP probing at tower scale, end to end with real ICMP: 1,000 targets in a
//! network namespace of our own, 950 addresses on its `lo` and 50 routed
//! on-link to a veth whose peer is down (sends succeed, nothing ever answers).
//! Rounds run on a thread that entered the namespace with `setns`.
//!
//! Needs root (namespaces, raw ICMP); skipped without it unless `CI=true`.

use anyhow::{Context, bail};
use mast_agent::pacing::default_burst;
use mast_agent::ping::Pinger;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A namespace holding `alive` answering addresses and `dead` silent ones,
/// deleted on drop. `targets` interleaves them (every 20th is dead).
struct Bed {
    name: String,
    targets: Vec<IpAddr>,
    dead: Vec<IpAddr>,
}

fn ip_batch(ns: &str, script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running ip")?;
    child.stdin.take().context("stdin")?.write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("ip -batch in {ns}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Bed {
    fn create(n: usize) -> anyhow::Result<Bed> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!("mastping-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let out = Command::new("ip").args(["netns", "add", &name]).output()?;
        if !out.status.success() {
            bail!("ip netns add {name}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        // From here on, Drop removes the namespace whatever fails next.
        let mut bed = Bed { name, targets: Vec::new(), dead: Vec::new() };
        let mut script = String::from(
            "link set lo up\n\
             link add dead0 type veth peer name dead1\n\
             link set dead0 arp off up\n\
             route add 10.201.8.0/24 dev dead0\n",
        );
        for i in 0..n {
            if i % 20 == 19 {
                bed.dead.push(IpAddr::V4(Ipv4Addr::new(10, 201, 8, (bed.dead.len() + 1) as u8)));
                bed.targets.push(*bed.dead.last().unwrap());
            } else {
                let k = bed.targets.len() - bed.dead.len();
                let a = Ipv4Addr::new(10, 201, (k / 250) as u8, (k % 250 + 1) as u8);
                script.push_str(&format!("addr add {a}/32 dev lo\n"));
                bed.targets.push(IpAddr::V4(a));
            }
        }
        ip_batch(&bed.name, &script)?;
        Ok(bed)
    }

    fn is_dead(&self, a: &IpAddr) -> bool {
        self.dead.contains(a)
    }

    /// Runs `f` on a multi-threaded Tokio runtime whose threads are all inside
    /// the namespace (threads inherit the namespace of the thread creating them).
    fn run<T: Send + 'static>(&self, f: impl AsyncFnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).with_context(|| path.clone())?;
            // SAFETY: plain syscall on a descriptor we own; affects this thread only.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns {path}: {}", std::io::Error::last_os_error());
            }
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("namespace thread panicked"))?
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Samples `icmp_out_echos` every 2 ms on a thread in the current namespace until
/// stopped: (time since `t0`, count before the read, count, time after the read).
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(Duration, u64, Duration)>>,
}

impl Sampler {
    fn start(t0: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let before = t0.elapsed();
                if let Ok(n) = mast_tests::icmp_out_echos() {
                    v.push((before, n, t0.elapsed()));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            v
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> Vec<(Duration, u64, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

#[test]
fn a_thousand_targets_paced_with_dead_ones_timed_out() -> anyhow::Result<()> {
    if !mast_tests::require_root("ping_scale")? {
        return Ok(());
    }
    let bed = Bed::create(1000)?;
    assert_eq!(bed.dead.len(), 50);
    let targets = bed.targets.clone();
    let (rate, timeout) = (2_000u32, Duration::from_millis(800));
    let (results, elapsed, samples) = bed.run(async move || {
        let mut pinger = Pinger::new()?;
        let base = mast_tests::icmp_out_echos()?;
        let t0 = Instant::now();
        let sampler = Sampler::start(t0);
        let results = pinger.round_paced(&targets, timeout, rate).await;
        let elapsed = t0.elapsed();
        std::thread::sleep(Duration::from_millis(20));
        let samples = sampler.finish().into_iter().map(|(a, n, b)| (a, n - base, b)).collect::<Vec<_>>();
        Ok((results, elapsed, samples))
    })?;

    // Every alive target answered, exactly the dead ones did not, in order.
    assert_eq!(results.len(), bed.targets.len());
    for ((addr, rtt), want) in results.iter().zip(&bed.targets) {
        assert_eq!(addr, want);
        assert_eq!(rtt.is_none(), bed.is_dead(addr), "{addr}: {rtt:?}");
        if let Some(rtt) = rtt {
            assert!(*rtt < timeout, "{addr}: rtt {rtt:?} beyond the timeout");
        }
    }

    // One request per target, no retries.
    let sent = samples.last().map(|s| s.1).unwrap_or(0);
    assert_eq!(sent, 1000, "echo requests sent in the round");

    // The round ends about `targets / rate + timeout` after it starts: dead
    // hosts are declared at their timeout, not after retries.
    let bound = Duration::from_secs_f64(1000.0 / rate as f64) + timeout + Duration::from_secs(2);
    assert!(elapsed <= bound, "round took {elapsed:?}, bound {bound:?}");
    assert!(elapsed >= timeout, "round took {elapsed:?}, shorter than the {timeout:?} a dead host waits");

    // The paced rate holds over every window: sends between two samples never
    // exceed burst + rate × (window + 5 ms of scheduling slack).
    let burst = default_burst(rate) as f64;
    let mut worst_100ms = 0;
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            let window = (b.2 - a.0).as_secs_f64();
            let n = b.1 - a.1;
            assert!(
                n as f64 <= burst + rate as f64 * (window + 0.005),
                "{n} requests sent within {:.1} ms at {rate}/s",
                window * 1000.0
            );
            if b.0 - a.2 <= Duration::from_millis(100) {
                worst_100ms = worst_100ms.max(n);
            }
        }
    }
    // And pacing really spread them: 1,000 at 2,000/s cannot leave in under ~0.45 s.
    let all_sent = samples.iter().find(|s| s.1 >= 1000).context("all sent")?.2;
    assert!(all_sent >= Duration::from_millis(450), "all 1,000 sent within {all_sent:?}");
    eprintln!(
        "round of 1000 at {rate}/s, timeout {timeout:?}: {elapsed:?}; sends done at {all_sent:?}; \
         at most {worst_100ms} requests in any 100 ms"
    );
    Ok(())
}

/// An ICMP echo reply from `from` to `to` with this identifier and sequence,
/// forged on a raw IP socket: every raw ICMP socket of the namespace sees it.
fn forge_reply(sock: &std::net::UdpSocket, from: Ipv4Addr, to: Ipv4Addr, ident: u16, seq: u16) -> anyhow::Result<()> {
    let mut p = [0u8; 20 + 8 + 16];
    p[0] = 0x45; // IPv4, 20-byte header; length and checksum are filled in by the kernel
    p[8] = 64;
    p[9] = 1; // ICMP
    p[12..16].copy_from_slice(&from.octets());
    p[16..20].copy_from_slice(&to.octets());
    let icmp = &mut p[20..];
    icmp[4..6].copy_from_slice(&ident.to_be_bytes());
    icmp[6..8].copy_from_slice(&seq.to_be_bytes());
    let mut sum: u32 = icmp.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    icmp[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let dst = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(to.octets()) },
        sin_zero: [0; 8],
    };
    // SAFETY: valid buffer and address of the stated lengths.
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            p.as_ptr().cast(),
            p.len(),
            0,
            (&dst as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if n < 0 {
        bail!("sendto: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn raw_ip_socket() -> anyhow::Result<std::net::UdpSocket> {
    use std::os::fd::FromRawFd;
    // SAFETY: a fresh descriptor, owned by the returned value (only used for sendto).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        bail!("raw socket: {}", std::io::Error::last_os_error());
    }
    Ok(unsafe { std::net::UdpSocket::from_raw_fd(fd) })
}

/// Two pingers (two raw sockets, each seeing every ICMP packet of the
/// namespace) probe the same 1,000 targets at the same time with the same
/// sequence numbers. surge-ping keys replies on (host, identifier, sequence):
/// forged late replies from dead hosts carrying one pinger's identifier must
/// reach that pinger only, with the RTT of its own request; no alive target's
/// reply may go to the wrong pinger or be lost.
#[test]
fn two_pingers_never_take_each_others_replies() -> anyhow::Result<()> {
    if !mast_tests::require_root("ping_scale")? {
        return Ok(());
    }
    let bed = Bed::create(1000)?;
    let targets = bed.targets.clone();
    let dead = bed.dead.clone();
    let (a_res, b_res, a_ids, b_ids, plain) = bed.run(async move || {
        let (mut a, mut b) = (Pinger::new()?, Pinger::new()?);
        // First round: allocates identifiers (sequence 1 for every target).
        tokio::join!(
            a.round_paced(&targets, Duration::from_millis(300), 5000),
            b.round_paced(&targets, Duration::from_millis(300), 5000)
        );
        let ids = |p: &Pinger| targets.iter().map(|t| p.echo_id(*t).unwrap()).collect::<Vec<_>>();
        let (a_ids, b_ids) = (ids(&a), ids(&b));
        let sock = raw_ip_socket()?;
        let (half_a, half_b) = dead.split_at(dead.len() / 2);
        let id_of = |ids: &[(u16, u16)], d: &IpAddr| ids[targets.iter().position(|t| t == d).unwrap()];
        let forge = async {
            // Well after every request left (1,000 at 5,000/s: 200 ms).
            tokio::time::sleep(Duration::from_millis(700)).await;
            let me = Ipv4Addr::new(10, 201, 0, 1);
            for (half, ids) in [(half_a, &a_ids), (half_b, &b_ids)] {
                for d in half {
                    let IpAddr::V4(d4) = d else { unreachable!() };
                    let (ident, seq) = id_of(ids, d);
                    forge_reply(&sock, *d4, me, ident, seq.wrapping_add(1))?;
                }
            }
            anyhow::Ok(())
        };
        let timeout = Duration::from_millis(1500);
        let (a_res, b_res, f) =
            tokio::join!(a.round_paced(&targets, timeout, 5000), b.round_paced(&targets, timeout, 5000), forge);
        f?;
        // A third round, nothing forged: both see exactly the alive ones.
        let plain = tokio::join!(
            a.round_paced(&targets, Duration::from_millis(500), 5000),
            b.round_paced(&targets, Duration::from_millis(500), 5000)
        );
        Ok((a_res, b_res, a_ids, b_ids, plain))
    })?;

    // No identifier is shared between the two pingers.
    let a_set: std::collections::HashSet<u16> = a_ids.iter().map(|x| x.0).collect();
    assert_eq!(a_set.len(), 1000);
    assert!(b_ids.iter().all(|x| !a_set.contains(&x.0)), "pingers share an identifier");

    let (half_a, half_b) = bed.dead.split_at(bed.dead.len() / 2);
    for (who, res, mine, theirs) in [("A", &a_res, half_a, half_b), ("B", &b_res, half_b, half_a)] {
        for (addr, rtt) in res.iter() {
            if mine.contains(addr) {
                // The forged reply carrying our identifier, ~0.5 s after our request.
                let rtt = rtt.with_context(|| format!("{who}: forged reply from {addr} not taken"))?;
                assert!(rtt >= Duration::from_millis(300), "{who}: {addr} rtt {rtt:?}, expected the forged one");
            } else if theirs.contains(addr) {
                assert_eq!(*rtt, None, "{who} took the other pinger's reply from {addr}");
            } else {
                let rtt = rtt.with_context(|| format!("{who}: no reply from alive {addr}"))?;
                assert!(rtt < Duration::from_millis(300), "{who}: {addr} rtt {rtt:?}");
            }
        }
    }
    for (who, res) in [("A", &plain.0), ("B", &plain.1)] {
        for (addr, rtt) in res {
            assert_eq!(rtt.is_none(), bed.is_dead(addr), "{who} plain round: {addr} {rtt:?}");
        }
    }
    Ok(())
}
