//! ICMP echo rounds with surge-ping, paced by a [`TokenBucket`], and the pure
//! per-target statistics ([`PingStats`]) over a window of results.
//!
//! A round sends one echo request per target, no retries, at most `rate`
//! packets/s (plus a 10 ms burst); each target waits at most `timeout` from its
//! own send, so a round lasts about `targets / rate + timeout`.
//!
//! Reply matching: surge-ping hands a reply to the waiter keyed by (target,
//! identifier, sequence) on a raw socket (root or `CAP_NET_RAW`), and by
//! (target, sequence) on an unprivileged ICMP datagram socket, where the kernel
//! owns the identifier and delivers each socket only its own replies. A raw
//! socket sees every ICMP packet of the host, so two pingers probing a target
//! in step would take each other's replies if they shared an identifier:
//! identifiers come from one process-wide counter, so no two `Pinger`s of a
//! process share one (until 65,536 targets have been allocated).

use crate::pacing::{self, TokenBucket};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence};

/// Rate used by [`Pinger::round`]: 1,000 targets leave in 200 ms.
pub const DEFAULT_RATE_PPS: u32 = 5_000;

/// Echo payload; 16 bytes like most pollers, small enough for any link.
const PAYLOAD: [u8; 16] = [0; 16];

#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error(
        "cannot open an ICMP socket ({0}). Run as root, or allow unprivileged ping with \
         `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, or `setcap cap_net_raw+ep mast-agent`"
    )]
    Socket(std::io::Error),
}

pub struct Pinger {
    v4: Option<Client>,
    v6: Option<Client>,
    /// Identifier and last sequence number sent, per target.
    idents: HashMap<IpAddr, (u16, u16)>,
}

/// A process-wide identifier: random start, then consecutive.
fn alloc_ident() -> u16 {
    static BASE: OnceLock<u16> = OnceLock::new();
    static NEXT: AtomicU16 = AtomicU16::new(0);
    BASE.get_or_init(rand::random).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn raise_rcvbuf(client: &Client) {
    use std::os::fd::BorrowedFd;
    // SAFETY: the descriptor belongs to `client`, which outlives this call.
    let fd = unsafe { BorrowedFd::borrow_raw(client.get_socket().get_native_sock()) };
    // Replies to a burst arrive together and overflow the default buffer.
    let _ = socket2::SockRef::from(&fd).set_recv_buffer_size(1 << 20);
}

/// Only an echo reply proves the target alive; an ICMP error quoting our
/// request (host unreachable from the AP, TTL exceeded) means it is not.
fn is_echo_reply(p: &IcmpPacket) -> bool {
    match p {
        IcmpPacket::V4(p) => p.get_icmp_type().0 == 0,
        IcmpPacket::V6(p) => p.get_icmpv6_type().0 == 129,
    }
}

impl Pinger {
    /// Opens the ICMP sockets; needs a Tokio runtime (surge-ping spawns its
    /// receive task), and `CAP_NET_RAW` or `net.ipv4.ping_group_range`.
    pub fn new() -> Result<Pinger, PingError> {
        let v4 = Client::new(&Config::default()).map_err(PingError::Socket)?;
        raise_rcvbuf(&v4);
        let v6 = Client::new(&Config::builder().kind(ICMP::V6).build()).ok();
        if let Some(c) = &v6 {
            raise_rcvbuf(c);
        }
        Ok(Pinger { v4: Some(v4), v6, idents: HashMap::new() })
    }

    /// Identifier and next sequence number for a target.
    fn ident_seq(&mut self, addr: IpAddr) -> (u16, u16) {
        let e = self.idents.entry(addr).or_insert_with(|| (alloc_ident(), 0));
        e.1 = e.1.wrapping_add(1);
        *e
    }

    /// The ICMP identifier of a target and the sequence number of the last
    /// request sent to it (the next round sends the following one).
    pub fn echo_id(&self, addr: IpAddr) -> Option<(u16, u16)> {
        self.idents.get(&addr).copied()
    }

    /// [`Pinger::round_paced`] at [`DEFAULT_RATE_PPS`].
    pub async fn round(&mut self, targets: &[IpAddr], timeout: Duration) -> Vec<(IpAddr, Option<Duration>)> {
        self.round_paced(targets, timeout, DEFAULT_RATE_PPS).await
    }

    /// Pings every target once, sending at most `rate_pps` packets/s (burst
    /// [`pacing::default_burst`]) in the order given. `None` means no echo
    /// reply within `timeout` of that target's own send. Results come back in
    /// the order of `targets`.
    ///
    /// Waiting is one small task per request in flight (about 1 KiB each; at
    /// 1,000 targets the CPU cost is measured by the `icmp_sweep` benchmark).
    pub async fn round_paced(
        &mut self,
        targets: &[IpAddr],
        timeout: Duration,
        rate_pps: u32,
    ) -> Vec<(IpAddr, Option<Duration>)> {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(rate_pps, pacing::default_burst(rate_pps), Duration::ZERO);
        let mut out: Vec<(IpAddr, Option<Duration>)> = targets.iter().map(|a| (*a, None)).collect();
        let mut inflight = tokio::task::JoinSet::new();
        for (i, &addr) in targets.iter().enumerate() {
            let client = match addr {
                IpAddr::V4(_) => self.v4.clone(),
                IpAddr::V6(_) => self.v6.clone(),
            };
            // No socket for this family (IPv6 unavailable): unanswered.
            let Some(client) = client else { continue };
            while let Err(wait) = bucket.take(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            let (ident, seq) = self.ident_seq(addr);
            inflight.spawn(async move {
                let mut p = client.pinger(addr, PingIdentifier(ident)).await;
                p.timeout(timeout);
                let reply = p.ping(PingSequence(seq), &PAYLOAD).await;
                (i, reply.ok().filter(|(pkt, _)| is_echo_reply(pkt)).map(|(_, rtt)| rtt))
            });
        }
        while let Some(done) = inflight.join_next().await {
            match done {
                Ok((i, rtt)) => out[i].1 = rtt,
                Err(e) => tracing::warn!(error = %e, "ping task failed"),
            }
        }
        out
    }

    /// Forgets targets no longer configured.
    pub fn retain(&mut self, targets: &[IpAddr]) {
        let keep: std::collections::HashSet<&IpAddr> = targets.iter().collect();
        self.idents.retain(|a, _| keep.contains(a));
    }
}

/// Statistics of one target over a window of rounds (pure).
#[derive(Debug, Clone, PartialEq)]
pub struct PingStats {
    pub sent: u64,
    pub received: u64,
    /// Percentage of requests unanswered; 0 when nothing was sent.
    pub loss_pct: f64,
    pub rtt_min: Option<Duration>,
    pub rtt_avg: Option<Duration>,
    pub rtt_max: Option<Duration>,
    /// Mean absolute difference of consecutive RTTs (RFC 3550's interarrival
    /// jitter, unsmoothed); lost requests are skipped, so the pairs are
    /// consecutive replies. `None` with fewer than two replies.
    pub jitter: Option<Duration>,
}

impl PingStats {
    /// Statistics over `window`, oldest first: one entry per request sent,
    /// `None` for a request without reply.
    pub fn over(window: &[Option<Duration>]) -> PingStats {
        let rtts: Vec<u128> = window.iter().flatten().map(Duration::as_nanos).collect();
        let sent = window.len() as u64;
        let received = rtts.len() as u64;
        let nanos = |n: u128| Duration::from_nanos(n.min(u64::MAX as u128) as u64);
        let avg = (!rtts.is_empty()).then(|| nanos(rtts.iter().sum::<u128>() / rtts.len() as u128));
        let diffs = rtts.windows(2).map(|w| w[0].abs_diff(w[1]));
        let jitter = (rtts.len() >= 2).then(|| nanos(diffs.sum::<u128>() / (rtts.len() as u128 - 1)));
        PingStats {
            sent,
            received,
            loss_pct: if sent == 0 { 0.0 } else { (sent - received) as f64 * 100.0 / sent as f64 },
            rtt_min: rtts.iter().min().map(|&n| nanos(n)),
            rtt_avg: avg,
            rtt_max: rtts.iter().max().map(|&n| nanos(n)),
            jitter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn stats_of_a_mixed_window() {
        let s = PingStats::over(&[ms(10), None, ms(14), ms(12), None]);
        assert_eq!((s.sent, s.received), (5, 3));
        assert_eq!(s.loss_pct, 40.0);
        assert_eq!((s.rtt_min, s.rtt_avg, s.rtt_max), (ms(10), ms(12), ms(14)));
        // |14-10| + |12-14| over two pairs, the loss skipped.
        assert_eq!(s.jitter, ms(3));
    }

    #[test]
    fn stats_of_empty_all_lost_and_single_windows() {
        let empty = PingStats::over(&[]);
        assert_eq!((empty.sent, empty.received, empty.loss_pct), (0, 0, 0.0));
        assert_eq!((empty.rtt_min, empty.rtt_avg, empty.rtt_max, empty.jitter), (None, None, None, None));
        let lost = PingStats::over(&[None, None]);
        assert_eq!((lost.loss_pct, lost.rtt_avg, lost.jitter), (100.0, None, None));
        let one = PingStats::over(&[ms(7)]);
        assert_eq!((one.loss_pct, one.rtt_min, one.rtt_max, one.jitter), (0.0, ms(7), ms(7), None));
    }

    #[test]
    fn steady_rtts_have_no_jitter_and_huge_ones_do_not_overflow() {
        assert_eq!(PingStats::over(&[ms(5); 100]).jitter, ms(0));
        let huge = Some(Duration::MAX);
        let s = PingStats::over(&[huge, huge, Some(Duration::ZERO)]);
        assert_eq!(s.rtt_max, Some(Duration::from_nanos(u64::MAX)));
        assert!(s.jitter.is_some());
    }

    #[test]
    fn identifiers_are_unique_across_pingers() {
        let mut a = Pinger { v4: None, v6: None, idents: HashMap::new() };
        let mut b = Pinger { v4: None, v6: None, idents: HashMap::new() };
        let targets: Vec<IpAddr> = (0..2000u32).map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes())).collect();
        for &t in &targets {
            // Same targets, same sequence numbers: only the identifier tells them apart.
            assert_eq!(a.ident_seq(t).1, b.ident_seq(t).1);
        }
        let ids = |p: &Pinger| targets.iter().map(|t| p.echo_id(*t).unwrap().0).collect::<Vec<_>>();
        let all: std::collections::HashSet<u16> = ids(&a).into_iter().chain(ids(&b)).collect();
        assert_eq!(all.len(), 4000);
        // A target keeps its identifier; the sequence moves on each round.
        let before = a.echo_id(targets[0]).unwrap();
        assert_eq!(a.ident_seq(targets[0]), (before.0, before.1 + 1));
        a.retain(&targets[..1]);
        assert!(a.echo_id(targets[1]).is_none() && a.echo_id(targets[0]).is_some());
    }
}
