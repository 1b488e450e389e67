//! Who is calling: the peer address and user agent, for audit events,
//! session records and login throttling.
//!
//! The address is the TCP peer's, unless that peer is one of the configured
//! `trusted_proxies`: then it is the rightmost `X-Forwarded-For` entry that
//! is not itself a trusted proxy (the entries left of it are the client's
//! own claims, which anyone can forge). Nothing else reads the header.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::service::RequestContext;
use crate::state::AppState;

/// The caller's IP and user agent.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub RequestContext);

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ip = peer
            .map(|peer| client_address(peer, &parts.headers, &state.config.trusted_proxies))
            .map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self(RequestContext {
            ip,
            user_agent,
            origin,
        }))
    }
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the
/// rightmost `X-Forwarded-For` entry that is not one (RFC 7239 §5.2 reads
/// the same way for `Forwarded: for=`).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for entry in text.split(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A malformed hop: trust nothing left of the proxy.
                Err(_) => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn x_forwarded_for_is_read_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let h = headers(&["198.51.100.1, 203.0.113.7"]);
        // Untrusted peer: its header is ignored.
        assert_eq!(client_address(client, &h, &[]), client);
        assert_eq!(client_address(proxy, &h, &[]), proxy);
        // Trusted proxy: the rightmost hop it did not add itself; the
        // forgeable left part is never used.
        assert_eq!(client_address(proxy, &h, &[proxy]), client);
        let chained = headers(&["198.51.100.1, 203.0.113.7, 10.0.0.2"]);
        let second: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(client_address(proxy, &chained, &[proxy, second]), client);
        // No header, or a malformed one: the proxy's own address.
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
        assert_eq!(
            client_address(proxy, &headers(&["nonsense"]), &[proxy]),
            proxy
        );
    }
}
