//! Who is on the other end of a request: the client's address and whether
//! it reached us over HTTPS. Forwarding headers (`X-Forwarded-For`,
//! `X-Forwarded-Proto`) are believed only from the configured reverse
//! proxies (`[http] trusted_proxies`); from anyone else they are ignored,
//! so a client cannot pick the address the throttle and the audit log see.

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The client of a request.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub ip: IpAddr,
    /// Reached us over HTTPS (through a trusted proxy that says so).
    pub https: bool,
}

impl Client {
    /// From the TCP peer and the headers, trusting `proxies`.
    pub fn from_parts(peer: Option<SocketAddr>, headers: &HeaderMap, proxies: &[IpAddr]) -> Client {
        let peer_ip = peer.map(|p| p.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if !proxies.contains(&peer_ip) {
            return Client { ip: peer_ip, https: false };
        }
        // The rightmost address that is not one of our proxies is the client
        // (anything left of it could have been written by the client).
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        let ip = forwarded.iter().rev().find(|a| !proxies.contains(a)).copied().unwrap_or(peer_ip);
        let https = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        Client { ip, https }
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Client, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(Client::from_parts(peer, &parts.headers, &st.settings.http.trusted_proxies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.5".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let peer = |ip: &str| Some(SocketAddr::new(ip.parse().unwrap(), 1234));
        let direct = Client::from_parts(peer("198.51.100.7"), &h, &[proxy]);
        assert_eq!((direct.ip.to_string(), direct.https), ("198.51.100.7".into(), false), "spoofed headers ignored");
        let via = Client::from_parts(peer("10.0.0.5"), &h, &[proxy]);
        assert_eq!((via.ip.to_string(), via.https), ("203.0.113.9".into(), true));
        let mut spoof = HeaderMap::new();
        spoof.insert("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse().unwrap());
        let via = Client::from_parts(peer("10.0.0.5"), &spoof, &[proxy]);
        assert_eq!(via.ip.to_string(), "203.0.113.9", "the rightmost untrusted hop, not what the client wrote");
    }
}
