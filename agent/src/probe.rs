//! Probing: ICMP echo with surge-ping, and an SNMP identify (v2c GET of the
//! MIB-II system group) for the technician's `probe` command.
//!
//! Every target gets its own ICMP identifier and sequence counter, so
//! concurrent pingers sharing one socket never take each other's replies
//! (surge-ping matches replies on host + identifier + sequence).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
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
    pub fn new() -> Result<Pinger, ProbeError> {
        let v4 = Client::new(&Config::default()).map_err(ProbeError::Socket)?;
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

/// A `TARGET` of the probe command: `ip` or `ip:port` (port for SNMP).
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 161));
    }
    s.parse::<SocketAddr>().map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SnmpIdentity {
    pub sys_descr: Option<String>,
    pub sys_object_id: Option<String>,
    pub sys_name: Option<String>,
    pub sys_uptime_ticks: Option<u32>,
}

const SYS_DESCR: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
const SYS_OBJECT_ID: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
const SYS_UPTIME: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
const SYS_NAME: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];

/// SNMP v2c GET of the system group. Errors are returned as text for the
/// report; nothing here panics on a malformed reply.
pub async fn snmp_identify(addr: SocketAddr, community: &str, timeout: Duration) -> Result<SnmpIdentity, String> {
    use snmp2::{AsyncSession, Oid, Value};
    let oids: Vec<Oid<'static>> = [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME]
        .iter()
        .map(|o| Oid::from(o).map_err(|e| format!("{e:?}")))
        .collect::<Result<_, _>>()?;
    let mut sess = AsyncSession::new_v2c(addr, community.as_bytes(), rand::random::<u16>() as i32)
        .await
        .map_err(|e| format!("socket: {e}"))?;
    let refs: Vec<&Oid> = oids.iter().collect();
    let mut last_err = String::from("timeout");
    for _attempt in 0..2 {
        match tokio::time::timeout(timeout, sess.get_many(&refs)).await {
            Err(_) => last_err = format!("no SNMP answer within {} ms", timeout.as_millis()),
            Ok(Err(e)) => {
                last_err = format!("{e:?}");
                break;
            }
            Ok(Ok(pdu)) => {
                if pdu.error_status != 0 {
                    return Err(format!("SNMP error status {}", pdu.error_status));
                }
                let mut id = SnmpIdentity::default();
                for (oid, val) in pdu.varbinds {
                    let key = oid.to_id_string();
                    let text = |v: &Value| match v {
                        Value::OctetString(b) => Some(String::from_utf8_lossy(b).trim().to_string()),
                        _ => None,
                    };
                    match key.as_str() {
                        "1.3.6.1.2.1.1.1.0" => id.sys_descr = text(&val),
                        "1.3.6.1.2.1.1.5.0" => id.sys_name = text(&val),
                        "1.3.6.1.2.1.1.2.0" => {
                            if let Value::ObjectIdentifier(o) = &val {
                                id.sys_object_id = Some(o.to_id_string());
                            }
                        }
                        "1.3.6.1.2.1.1.3.0" => {
                            if let Value::Timeticks(t) = val {
                                id.sys_uptime_ticks = Some(t);
                            }
                        }
                        _ => {}
                    }
                }
                return Ok(id);
            }
        }
    }
    Err(last_err)
}
