//! EVE's HTTP API: every route both front doors serve and API Gateway proxies, and what the
//! site's chat widget must know of it.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// One route of EVE's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// Path with `{param}` segments, as API Gateway writes them.
    pub path: &'static str,
    /// API Gateway requires the key CloudFront adds. Every EVE route needs it: uptime probes
    /// reach health through CloudFront, which adds the key to every request.
    pub api_key_required: bool,
}

impl Route {
    /// The router's form of the path: a final `{param}` captures the rest of the path
    /// (`{*param}`), so an id with slashes reaches EVE's own validation (400, not 404).
    pub fn router_path(&self) -> String {
        match self.path.rsplit_once("/{") {
            Some((head, param)) => format!("{head}/{{*{param}"),
            None => self.path.to_string(),
        }
    }

    /// The path parameters, e.g. `["id"]` for `/api/certificates/{id}`.
    pub fn parameters(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
    }
}

pub const CHAT: Route = Route {
    method: "POST",
    path: "/api/chat",
    api_key_required: true,
};
pub const CHAT_STREAM: Route = Route {
    method: "POST",
    path: "/api/chat/stream",
    api_key_required: true,
};
pub const CERTIFICATES: Route = Route {
    method: "GET",
    path: "/api/certificates",
    api_key_required: true,
};
pub const CERTIFICATE_LINK: Route = Route {
    method: "GET",
    path: "/api/certificates/{id}",
    api_key_required: true,
};
pub const SUGGESTIONS: Route = Route {
    method: "GET",
    path: "/api/suggestions",
    api_key_required: true,
};
pub const HEALTH: Route = Route {
    method: "GET",
    path: "/api/health",
    api_key_required: true,
};

/// Readiness for container orchestrators; eve-server only, never behind API Gateway.
pub const READY: Route = Route {
    method: "GET",
    path: "/api/health/ready",
    api_key_required: false,
};

/// How long an orchestrator's probe of [`READY`] or [`HEALTH`] waits for the answer: EVE
/// answers readiness within it, a dependency that has not answered by then counting as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The addresses eve-server takes a client's address from `X-Forwarded-For` for (its
/// `--trusted-proxy`; a Kubernetes stack's `kubernetes.trusted_proxies`): an IP network such as
/// `10.0.0.0/8` or `fc00::/7`, or one address. Host bits are refused: `10.0.0.1/8` would be a
/// typo for one address or for the network, and either reading could trust the wrong hosts.
pub fn proxy_range(value: &str) -> Result<IpNet, String> {
    let trimmed = value.trim();
    if let Ok(address) = trimmed.parse::<IpAddr>() {
        return Ok(IpNet::from(address));
    }
    let network: IpNet = trimmed.parse().map_err(|_| {
        format!("`{value}` is not an IP network (`10.0.0.0/8`, `fc00::/7`) or an IP address")
    })?;
    if network.trunc() != network {
        return Err(format!(
            "`{value}` has host bits set: the network is `{}`",
            network.trunc()
        ));
    }
    Ok(network)
}

/// Every route behind API Gateway, in the order it lists them.
pub const ROUTES: &[Route] = &[
    CHAT,
    CHAT_STREAM,
    CERTIFICATES,
    CERTIFICATE_LINK,
    SUGGESTIONS,
    HEALTH,
];

/// Where the API lives under the site's origin (CloudFront forwards it to API Gateway).
pub const PREFIX: &str = "/api";

/// The longest chat message EVE answers, in characters: the site's chat input holds the same.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// The longest one chat may take end to end: API Gateway's 29 s integration limit, less room
/// for the front door. EVE's reply goes out within it; the widget waits at least as long.
pub const MAX_CHAT_TIME: Duration = Duration::from_secs(25);

/// The named events of the stream route. Text arrives as unnamed `data: {"delta"}` events;
/// these close or correct it.
pub mod stream_events {
    /// `{"text"}`: the model broke off part-way; the text shown so far gives way to this
    /// answer, the one stored.
    pub const REPLACE: &str = "replace";
    /// `{"session_id", "source"}`: the answer is complete.
    pub const DONE: &str = "done";
    /// `{"error": {"code", "message"}}`: the reply was interrupted.
    pub const ERROR: &str = "error";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_range_is_a_network_or_one_address_without_host_bits() {
        assert_eq!(
            proxy_range("10.0.0.0/8"),
            Ok("10.0.0.0/8".parse().expect("net"))
        );
        assert_eq!(
            proxy_range("fc00::/7"),
            Ok("fc00::/7".parse().expect("net"))
        );
        assert_eq!(
            proxy_range(" 192.0.2.7 "),
            Ok("192.0.2.7/32".parse().expect("net"))
        );
        assert!(proxy_range("10.0.0.1/8").is_err_and(|e| e.contains("`10.0.0.0/8`")));
        for refused in ["", "10.0.0.0/33", "ten", "10.0.0.0/8/8", "*"] {
            assert!(proxy_range(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_trailing_parameter_captures_the_rest_for_the_router() {
        assert_eq!(CERTIFICATE_LINK.router_path(), "/api/certificates/{*id}");
        assert_eq!(CHAT.router_path(), "/api/chat");
        assert_eq!(CERTIFICATE_LINK.parameters().collect::<Vec<_>>(), ["id"]);
        assert!(ROUTES.iter().all(|r| r.path.starts_with(PREFIX)));
    }
}
