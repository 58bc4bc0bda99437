//! ICMP echo with surge-ping.
//!
//! Every target gets its own ICMP identifier and sequence counter, so
//! concurrent pingers sharing one socket never take each other's replies
//! (surge-ping matches replies on host + identifier + sequence).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence};

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
    idents: HashMap<IpAddr, (u16, u16)>,
    next_ident: u16,
}

fn raise_rcvbuf(client: &Client) {
    use std::os::fd::BorrowedFd;
    // SAFETY: the descriptor belongs to `client`, which outlives this call.
    let fd = unsafe { BorrowedFd::borrow_raw(client.get_socket().get_native_sock()) };
    // 1,000 replies arriving together overflow the default receive buffer.
    let _ = socket2::SockRef::from(&fd).set_recv_buffer_size(1 << 20);
}

impl Pinger {
    pub fn new() -> Result<Pinger, PingError> {
        let v4 = Client::new(&Config::default()).map_err(PingError::Socket)?;
        raise_rcvbuf(&v4);
        let v6 = Client::new(&Config::builder().kind(ICMP::V6).build()).ok();
        if let Some(c) = &v6 {
            raise_rcvbuf(c);
        }
        Ok(Pinger { v4: Some(v4), v6, idents: HashMap::new(), next_ident: rand::random() })
    }

    /// Identifier and next sequence number for a target.
    fn ident_seq(&mut self, addr: IpAddr) -> (u16, u16) {
        let next = &mut self.next_ident;
        let e = self.idents.entry(addr).or_insert_with(|| {
            *next = next.wrapping_add(1);
            (*next, 0)
        });
        e.1 = e.1.wrapping_add(1);
        *e
    }

    /// Pings every target once, concurrently; `None` RTT means no reply
    /// within `timeout`. Results come back in the order of `targets`.
    pub async fn round(&mut self, targets: &[IpAddr], timeout: Duration) -> Vec<(IpAddr, Option<Duration>)> {
        let mut set = tokio::task::JoinSet::new();
        for (i, addr) in targets.iter().enumerate() {
            let (ident, seq) = self.ident_seq(*addr);
            let client = match addr {
                IpAddr::V4(_) => self.v4.clone(),
                IpAddr::V6(_) => self.v6.clone(),
            };
            let addr = *addr;
            set.spawn(async move {
                let Some(client) = client else { return (i, addr, None) };
                let mut p = client.pinger(addr, PingIdentifier(ident)).await;
                p.timeout(timeout);
                let rtt = p.ping(PingSequence(seq), &[0u8; 16]).await.ok().map(|(_, d)| d);
                (i, addr, rtt)
            });
        }
        let mut out = vec![(IpAddr::from([0, 0, 0, 0]), None); targets.len()];
        while let Some(r) = set.join_next().await {
            if let Ok((i, addr, rtt)) = r {
                out[i] = (addr, rtt);
            }
        }
        for (i, a) in targets.iter().enumerate() {
            out[i].0 = *a;
        }
        out
    }

    /// Forgets targets no longer configured.
    pub fn retain(&mut self, targets: &[IpAddr]) {
        self.idents.retain(|a, _| targets.contains(a));
    }
}
