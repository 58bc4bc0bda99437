//! Sending requests and getting replies (the IO shell).
//!
//! SNMPv2c: one UDP socket per address family for all devices (a 1 MiB
//! receive buffer, one receive task); replies are routed to the waiting
//! request by request id and source address, so a late reply to an
//! abandoned request is dropped instead of confusing the next one, and
//! polling 500 devices costs two sockets, not 1,000. A datagram from a
//! device that does not parse is handed to a request waiting on that device,
//! which reports it as malformed.
//!
//! SNMPv3: `snmp2::AsyncSession` (USM, SHA/MD5 + AES/DES in pure Rust), one
//! per device, kept between polls; each request is bounded by a timeout
//! since the session has none.

use super::SnmpError;
use super::codec::{self, Request, Response};
use mast_shared::msg::{SnmpCredential, V3Auth, V3Privacy};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

type Waiters = Mutex<HashMap<i32, (SocketAddr, oneshot::Sender<Vec<u8>>)>>;

struct Family {
    sock: Arc<UdpSocket>,
    task: tokio::task::AbortHandle,
}

/// Shared v2c sockets. Dropping the engine stops its receive tasks.
pub struct Engine {
    v4: Option<Family>,
    v6: Option<Family>,
    waiters: Arc<Waiters>,
    next_id: AtomicI32,
}

impl Drop for Engine {
    fn drop(&mut self) {
        for f in [&self.v4, &self.v6].into_iter().flatten() {
            f.task.abort();
        }
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Replies of hundreds of devices can arrive in one burst.
    let _ = s.set_recv_buffer_size(1 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Routes one datagram to its waiter (pure apart from the channel send).
fn dispatch(waiters: &Waiters, from: SocketAddr, bytes: &[u8]) {
    let mut w = waiters.lock().unwrap_or_else(|e| e.into_inner());
    let key = match codec::peek_request_id(bytes) {
        Some(id) if w.get(&id).is_some_and(|(peer, _)| *peer == from) => Some(id),
        Some(_) => None, // stale or spoofed: nobody waits for it
        // Undecodable: the request waiting on this device will report it.
        None => w.iter().find(|(_, (peer, _))| *peer == from).map(|(id, _)| *id),
    };
    if let Some(id) = key
        && let Some((_, tx)) = w.remove(&id)
    {
        let _ = tx.send(bytes.to_vec());
    }
}

async fn receive(sock: Arc<UdpSocket>, waiters: Arc<Waiters>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => dispatch(&waiters, from, &buf[..n]),
            Err(e) => {
                tracing::debug!(error = %e, "snmp socket receive error");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Removes a waiter whose request was abandoned (timeout or cancellation).
struct WaitGuard<'a> {
    waiters: &'a Waiters,
    id: i32,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

impl Engine {
    /// Binds the IPv4 socket (and IPv6 when the host has it).
    pub fn bind() -> Result<Engine, SnmpError> {
        Self::bind_families(true, true)
    }

    /// Binds only the socket `peer` needs (one-off requests such as `identify`).
    pub fn bind_for(peer: SocketAddr) -> Result<Engine, SnmpError> {
        Self::bind_families(peer.is_ipv4(), peer.is_ipv6())
    }

    fn bind_families(want_v4: bool, want_v6: bool) -> Result<Engine, SnmpError> {
        let waiters: Arc<Waiters> = Arc::default();
        let family = |addr: SocketAddr| -> std::io::Result<Family> {
            let sock = Arc::new(bind(addr)?);
            let task = tokio::spawn(receive(sock.clone(), waiters.clone())).abort_handle();
            Ok(Family { sock, task })
        };
        let v4 = match want_v4 {
            true => {
                Some(family(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).map_err(|e| SnmpError::Io(e.to_string()))?)
            }
            false => None,
        };
        // A host without IPv6 still polls IPv4 devices.
        let v6 = match want_v6 {
            true if want_v4 => family(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).ok(),
            true => {
                Some(family(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).map_err(|e| SnmpError::Io(e.to_string()))?)
            }
            false => None,
        };
        // Request ids start at a random point (replies to a previous agent run are not ours).
        let start = (rand::random::<u32>() >> 2) as i32;
        Ok(Engine { v4, v6, waiters, next_id: AtomicI32::new(start) })
    }

    fn next_id(&self) -> i32 {
        // Positive ids only: some agents mishandle negative ones.
        self.next_id.fetch_add(1, Ordering::Relaxed) & 0x3fff_ffff
    }

    /// One v2c request, one reply (or an error) within `timeout`.
    pub async fn request(
        &self,
        peer: SocketAddr,
        community: &[u8],
        req: Request,
        oids: &[&[u32]],
        timeout: Duration,
    ) -> Result<Response, SnmpError> {
        let fam = if peer.is_ipv4() { &self.v4 } else { &self.v6 };
        let Some(fam) = fam else { return Err(SnmpError::Io("no socket for this address family".into())) };
        let id = self.next_id();
        let bytes = codec::encode_request(community, id, req, oids);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (peer, tx));
        let _guard = WaitGuard { waiters: &self.waiters, id };
        fam.sock.send_to(&bytes, peer).await.map_err(|e| SnmpError::Io(e.to_string()))?;
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => return Err(SnmpError::Timeout),
        };
        let resp = codec::decode_response(&reply, community).map_err(|e| SnmpError::Malformed(e.to_string()))?;
        if resp.req_id != id {
            return Err(SnmpError::Malformed("request id mismatch".into()));
        }
        Ok(resp)
    }
}

/// An SNMPv3 session with one device.
pub struct V3Session {
    sess: snmp2::AsyncSession,
    ready: bool,
}

fn v3_error(e: snmp2::Error) -> SnmpError {
    use snmp2::Error as E;
    match e {
        E::AuthFailure(k) => SnmpError::Refused(format!("SNMPv3 authentication: {k}")),
        E::Crypto(_) => SnmpError::Refused("SNMPv3 decryption failed".into()),
        E::Send | E::Receive => SnmpError::Io(e.to_string()),
        other => SnmpError::Malformed(other.to_string()),
    }
}

impl V3Session {
    pub async fn connect(peer: SocketAddr, cred: &SnmpCredential) -> Result<V3Session, SnmpError> {
        let SnmpCredential::V3 { user, auth, auth_key, privacy, priv_key } = cred else {
            return Err(SnmpError::Io("not a v3 credential".into()));
        };
        use snmp2::v3::{Auth, AuthProtocol, Cipher, Security};
        let proto = match auth {
            V3Auth::Md5 => AuthProtocol::Md5,
            V3Auth::Sha1 => AuthProtocol::Sha1,
            V3Auth::Sha256 => AuthProtocol::Sha256,
        };
        let cipher = match privacy {
            V3Privacy::Des => Cipher::Des,
            V3Privacy::Aes128 => Cipher::Aes128,
        };
        let security = Security::new(user.as_bytes(), auth_key.as_bytes())
            .with_auth_protocol(proto)
            .with_auth(Auth::AuthPriv { cipher, privacy_password: priv_key.as_bytes().to_vec() });
        let sess = snmp2::AsyncSession::new_v3(peer, (rand::random::<u32>() >> 2) as i32, security)
            .await
            .map_err(|e| SnmpError::Io(e.to_string()))?;
        Ok(V3Session { sess, ready: false })
    }

    /// One request within `timeout` (engine discovery first, when needed).
    pub async fn request(&mut self, req: Request, oids: &[&[u32]], timeout: Duration) -> Result<Response, SnmpError> {
        let deadline = tokio::time::Instant::now() + timeout;
        if !self.ready {
            match tokio::time::timeout_at(deadline, self.sess.init()).await {
                Err(_) => return Err(SnmpError::Timeout),
                Ok(Err(e)) => return Err(v3_error(e)),
                Ok(Ok(())) => self.ready = true,
            }
        }
        let owned: Vec<snmp2::Oid<'static>> = oids
            .iter()
            .map(|o| {
                let mut b = Vec::new();
                super::oid::encode(o, &mut b);
                snmp2::Oid::new(std::borrow::Cow::Owned(b))
            })
            .collect();
        let refs: Vec<&snmp2::Oid<'_>> = owned.iter().collect();
        // The engine time/boots may need an update (AuthUpdated): repeat once or twice.
        for _ in 0..3 {
            let fut = async {
                match req {
                    Request::Get => self.sess.get_many(&refs).await.map(codec::from_pdu),
                    Request::GetNext => match refs.first() {
                        Some(o) => self.sess.getnext(o).await.map(codec::from_pdu),
                        None => Err(snmp2::Error::ValueOutOfRange),
                    },
                    Request::GetBulk { max_repetitions } => {
                        self.sess.getbulk(&refs, 0, max_repetitions).await.map(codec::from_pdu)
                    }
                }
            };
            match tokio::time::timeout_at(deadline, fut).await {
                Err(_) => return Err(SnmpError::Timeout),
                Ok(Ok(r)) => return Ok(r),
                // A late reply to an abandoned request, or a time-window update: ask again.
                Ok(Err(snmp2::Error::AuthUpdated | snmp2::Error::RequestIdMismatch)) => continue,
                Ok(Err(e)) => {
                    if matches!(e, snmp2::Error::AuthFailure(_)) {
                        self.ready = false;
                    }
                    return Err(v3_error(e));
                }
            }
        }
        Err(SnmpError::Malformed("SNMPv3 session did not settle".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::value::Value;

    #[test]
    fn dispatch_routes_by_id_and_peer() {
        let waiters: Waiters = Mutex::default();
        let a: SocketAddr = "127.0.0.1:1161".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:1161".parse().unwrap();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        waiters.lock().unwrap().insert(7, (a, tx1));
        waiters.lock().unwrap().insert(8, (b, tx2));
        let reply = codec::tests::encode_response(b"public", 7, 0, &[(vec![1, 3, 6, 1], Value::Int(1))]);
        dispatch(&waiters, b, &reply);
        assert!(rx1.try_recv().is_err(), "id 7 from the wrong peer is dropped");
        dispatch(&waiters, a, &reply);
        assert_eq!(rx1.try_recv().unwrap(), reply);
        dispatch(&waiters, b, b"\x01garbage");
        assert_eq!(rx2.try_recv().unwrap(), b"\x01garbage", "garbage goes to the peer's waiter");
        assert!(waiters.lock().unwrap().is_empty());
    }
}
