//! The client's address behind a proxy eve-server trusts (`--trusted-proxy`): a Kubernetes
//! ingress controller connects for every visitor, so its own address would put all of them
//! under one per-IP limit.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// Replaces the peer address with the client's when the peer is one of `trusted`, so every
/// later reader of the address ([`super::client_ip`]) sees the visitor, not the proxy.
pub async fn forwarded_client(
    State(trusted): State<Arc<[IpNet]>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    if let Some(client) = peer.and_then(|peer| client_behind(&trusted, peer, request.headers())) {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, 0)));
    }
    next.run(request).await
}

/// The client behind `peer` when `peer` is a trusted proxy: the last address of
/// `X-Forwarded-For` that is not a trusted proxy itself. Proxies append what connected to them,
/// so the entries left of that one are the client's to write, and are never believed. `None`
/// (the peer stands) for an untrusted peer, a missing header, or an entry that is no address
/// where the client's should be.
fn client_behind(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return None;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.to_str().ok())
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let address: IpAddr = hop.trim().parse().ok()?;
        if !is_trusted(&address) {
            return Some(address);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn the_client_is_the_last_address_a_trusted_proxy_did_not_write_itself() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let ingress: IpAddr = "10.1.2.3".parse().expect("ip");
        let visitor: IpAddr = "198.51.100.7".parse().expect("ip");
        // What the visitor wrote itself, left of what the ingress appended, is not believed.
        let spoofed = forwarded(&["203.0.113.9, 198.51.100.7"]);
        assert_eq!(client_behind(&trusted, ingress, &spoofed), Some(visitor));
        // Two trusted hops (a load balancer, then the ingress), in two header lines.
        let chained = forwarded(&["198.51.100.7", "10.9.9.9"]);
        assert_eq!(client_behind(&trusted, ingress, &chained), Some(visitor));
        // A peer that is no trusted proxy keeps its own address, whatever it claims.
        assert_eq!(client_behind(&trusted, visitor, &spoofed), None);
        // No header, or garbage where the client's address should be: the peer stands.
        assert_eq!(client_behind(&trusted, ingress, &HeaderMap::new()), None);
        assert_eq!(
            client_behind(&trusted, ingress, &forwarded(&["nonsense"])),
            None
        );
        // Every hop trusted: an in-cluster client, which is the peer as far as EVE can tell.
        assert_eq!(
            client_behind(&trusted, ingress, &forwarded(&["10.3.3.3"])),
            None
        );
    }
}
