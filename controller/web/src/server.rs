//! The HTTP server loop: hyper under our own accept loop, so slow and greedy
//! clients cannot starve the others.
//!
//! - A client has `header_timeout` to send a request's headers (slowloris)
//!   and `request_timeout` for the whole request (body included) and its
//!   answer (408/503 otherwise).
//! - At most `max_connections` connections at once, and at most
//!   `max_connections_per_ip` from one address (not counted for the trusted
//!   reverse proxies, which carry everyone's traffic): a connection over a
//!   limit is closed at once, so a flood from one address leaves room for
//!   everyone else (and for the health check).
//! - Shutdown stops accepting, lets requests in progress finish, then closes.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Limits of the HTTP server (`[http]` settings).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// Reverse proxies whose connections are not limited per address.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            max_connections_per_ip: 64,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    fn enter(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<IpGuard> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(IpGuard { map: self.clone(), ip })
    }
}

struct IpGuard {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains the
/// connections (at most `drain` long).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
    drain: Duration,
    refused: impl Fn() + Send + Sync + 'static,
) {
    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors or the like: back off, keep serving.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused();
            continue;
        };
        let guard = if limits.trusted_proxies.contains(&peer.ip()) {
            None
        } else {
            match per_ip.enter(peer.ip(), limits.max_connections_per_ip) {
                Some(g) => Some(g),
                None => {
                    refused();
                    continue;
                }
            }
        };
        let svc = router.clone().map_request(move |r: hyper::Request<hyper::body::Incoming>| {
            let mut r = r.map(axum::body::Body::new);
            r.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            r
        });
        let svc = TowerToHyperService::new(svc);
        let conn = builder.serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(guard);
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("HTTP connections still open after {drain:?}; closing them");
    }
}
