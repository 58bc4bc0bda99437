//! The demo towers' backhaul: a UDP relay between one agent and the
//! controller's QUIC port. While the schedule says the tower is cut off, it
//! drops every datagram both ways, as a dead microwave link would: the agent
//! keeps probing and spooling, the controller sees the site go silent and
//! opens one site incident, and the agent backfills when the link returns.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Starts a relay to `upstream`; returns the address the agent should use.
/// `cut(now_ms)` says whether the link is down at that moment.
pub async fn start(
    upstream: SocketAddr,
    cut: impl Fn(i64) -> bool + Send + Sync + 'static,
    set: &mut tokio::task::JoinSet<()>,
) -> std::io::Result<SocketAddr> {
    let front = Arc::new(UdpSocket::bind(("127.0.0.1", 0)).await?);
    let back = UdpSocket::bind(("127.0.0.1", 0)).await?;
    back.connect(upstream).await?;
    let addr = front.local_addr()?;
    set.spawn(async move {
        let (mut up, mut down) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        // The agent's address (it may change when the agent reconnects).
        let mut agent: Option<SocketAddr> = None;
        loop {
            tokio::select! {
                r = front.recv_from(&mut up) => {
                    let Ok((n, from)) = r else { continue };
                    agent = Some(from);
                    if !cut(mast_store::db::now_ms()) {
                        let _ = back.send(&up[..n]).await;
                    }
                }
                r = back.recv(&mut down) => {
                    let Ok(n) = r else { continue };
                    if let Some(to) = agent && !cut(mast_store::db::now_ms()) {
                        let _ = front.send_to(&down[..n], to).await;
                    }
                }
            }
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn forwards_both_ways_and_drops_everything_while_cut() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let mut set = tokio::task::JoinSet::new();
        let c2 = cut.clone();
        let relay = start(server.local_addr().unwrap(), move |_| c2.load(Ordering::SeqCst), &mut set).await.unwrap();
        let agent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 16];
        let wait = std::time::Duration::from_millis(300);

        agent.send_to(b"hello", relay).await.unwrap();
        let (n, from) = tokio::time::timeout(wait, server.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"hello");
        server.send_to(b"welcome", from).await.unwrap();
        let n = tokio::time::timeout(wait, agent.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"welcome");

        cut.store(true, Ordering::SeqCst);
        agent.send_to(b"lost", relay).await.unwrap();
        assert!(tokio::time::timeout(wait, server.recv_from(&mut buf)).await.is_err(), "nothing gets through");
        server.send_to(b"lost too", from).await.unwrap();
        assert!(tokio::time::timeout(wait, agent.recv(&mut buf)).await.is_err());

        cut.store(false, Ordering::SeqCst);
        agent.send_to(b"back", relay).await.unwrap();
        let n = tokio::time::timeout(wait, server.recv(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], b"back");
    }
}
