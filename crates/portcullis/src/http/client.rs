//! Who is on the other end: client IP (trusting `X-Forwarded-For` only from configured proxies)
//! and user agent.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::error::ApiError;
use crate::state::AppState;

const MAX_USER_AGENT: usize = 512;

#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .ok_or_else(|| ApiError::internal("no peer address on the connection"))?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Ok(Self {
            ip: client_ip(peer, &parts.headers, &state.config.trusted_proxies),
            user_agent,
        })
    }
}

/// The socket peer, unless the peer is a trusted proxy: then the right-most address in
/// `X-Forwarded-For` (or, without it, RFC 7239 `Forwarded: for=`) that is not itself a trusted
/// proxy. Entries left of that are client-supplied and can be forged, so they are never used.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops = header_list(headers, "x-forwarded-for");
    if hops.is_empty() {
        hops = header_list(headers, "forwarded")
            .into_iter()
            .filter_map(forwarded_for)
            .collect();
    }
    let mut candidate = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => candidate = ip,
            Some(ip) => return ip,
            // Garbage from the hop we trust least: stop at the last address we could vouch for.
            None => return candidate,
        }
    }
    candidate
}

fn header_list<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect()
}

/// The `for=` of one `Forwarded` element: `for=192.0.2.60`, `for="[2001:db8::1]:4711"`.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    let bracketed = hop.strip_prefix('[').and_then(|h| h.split(']').next());
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| bracketed.and_then(|h| h.parse::<IpAddr>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &headers("1.2.3.4"), &[]), peer);
    }

    #[test]
    fn trusted_proxy_yields_rightmost_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let got = client_ip(peer, &headers("6.6.6.6, 198.51.100.7, 10.0.0.3"), &trusted);
        assert_eq!(got, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(client_ip(peer, &headers("nonsense"), &trusted), peer);
    }

    #[test]
    fn rfc7239_forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https, for=10.0.0.9"#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            client_ip(peer, &h, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip("203.0.113.1".parse().unwrap(), &h, &trusted),
            "203.0.113.1".parse::<IpAddr>().unwrap()
        );
    }
}
