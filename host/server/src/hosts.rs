//! The `Host` check against DNS rebinding: a server bound to a loopback address answers only
//! requests addressed to a loopback name (`localhost`, `*.localhost`, `127.x.x.x`, `[::1]`,
//! any port) or to a name of `--allowed-hosts`; others get 403. A page on `evil.example`
//! whose name is re-pointed at 127.0.0.1 sends `Host: evil.example`, so it cannot read the
//! answers. A server bound to another address accepts every `Host`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::allowlist::Allowlist;
use crate::error::{flavor_of, ApiError, ServerError};

/// Which `Host` values are answered.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Allowlist);

/// A host name as compared: lower case, no trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl AllowedHosts {
    /// The loopback names plus `names` (`--allowed-hosts`, host names without a port,
    /// case-insensitive; `*` accepts every host).
    pub fn new<I, S>(names: I) -> AllowedHosts
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        AllowedHosts(Allowlist::new(names, normalize))
    }

    /// Every host (a server bound to a non-loopback address).
    pub fn any() -> AllowedHosts {
        AllowedHosts(Allowlist::any())
    }

    /// The hosts given besides the loopback ones.
    pub fn listed(&self) -> usize {
        self.0.len()
    }

    /// Whether every host is accepted.
    pub fn is_any(&self) -> bool {
        self.0.is_any()
    }

    /// Whether a request with this `Host` value (`name[:port]`, `[v6][:port]`) is answered.
    pub fn allows(&self, host: &str) -> bool {
        let name = normalize(host_name(host));
        self.0.is_any() || is_loopback_name(&name) || self.0.accepts(&name)
    }
}

/// The name of a `Host` value without its port (`[::1]:80` → `::1`).
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Middleware: 403 in the route family's shape for a `Host` that is not allowed. A request
/// without a `Host` (HTTP/1.0) is answered: browsers always send one.
pub async fn check_host(
    State(hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    if hosts.is_any() {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    match host {
        Some(host) if !hosts.allows(&host) => ApiError {
            flavor: flavor_of(request.uri().path()),
            error: ServerError::HostNotAllowed {
                host: host_name(&host).chars().take(253).collect(),
            },
        }
        .into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_listed_ones() {
        let hosts = AllowedHosts::new(["Box.LAN", ""]);
        for ok in [
            "localhost",
            "localhost:11435",
            "LOCALHOST.",
            "app.localhost:3000",
            "127.0.0.1",
            "127.0.0.2:80",
            "[::1]:11435",
            "[::1]",
            "box.lan:8080",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:11435",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]:80",
            "",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        assert!(AllowedHosts::new(["*"]).allows("evil.example"));
    }
}
