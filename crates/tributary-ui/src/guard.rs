//! The checks in front of every route: the Host header (DNS rebinding), the token, and the
//! security headers put on every response, refusals included.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every response: the pages load their script, style and JSON
/// from this server only, run no inline script and cannot be framed.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// What a request is checked against.
#[derive(Debug)]
pub(crate) struct Guard {
    /// The address listened on.
    addr: SocketAddr,
    /// The token, when one is set.
    token: Option<Arc<str>>,
}

/// The token to carry in the links of a page: set when the request was authorized by
/// `?token=`, so that the page's links keep working in a browser.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkToken(pub(crate) Option<Arc<str>>);

#[derive(serde::Deserialize)]
struct TokenParam {
    token: Option<String>,
}

impl Guard {
    pub(crate) fn new(addr: SocketAddr, token: Option<String>) -> Self {
        if token.is_none() && !is_loopback(addr) {
            tracing::warn!(
                %addr,
                "the UI listens on a non-loopback address without a token: it refuses every request"
            );
        }
        Guard {
            addr,
            token: token.map(Arc::from),
        }
    }

    /// Check `req`: the token to carry in links, or the refusal.
    fn check(&self, req: &Request) -> Result<LinkToken, Refusal> {
        if is_loopback(self.addr) {
            self.check_host(req)?;
        } else if self.token.is_none() {
            return Err(Refusal::Forbidden(format!(
                "this UI listens on {}, which is not a loopback address, and has no token: \
                     it answers nothing. Start it with a token (`tributary run --ui ADDR \
                     --ui-token TOKEN`), or on 127.0.0.1.",
                self.addr
            )));
        }
        let Some(want) = &self.token else {
            return Ok(LinkToken(None));
        };
        if bearer(req.headers()).is_some_and(|t| same(t, want)) {
            return Ok(LinkToken(None));
        }
        let query = Query::<TokenParam>::try_from_uri(req.uri())
            .ok()
            .and_then(|q| q.0.token);
        if query.is_some_and(|t| same(&t, want)) {
            return Ok(LinkToken(Some(want.clone())));
        }
        Err(Refusal::NoToken)
    }

    /// A loopback listener answers only requests addressed to a loopback name: a page of another
    /// site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host.
    fn check_host(&self, req: &Request) -> Result<(), Refusal> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let authority = req.uri().authority().map(|a| a.as_str());
        let ok = host.is_some_and(loopback_host) && authority.is_none_or(loopback_host);
        if ok {
            return Ok(());
        }
        let shown = authority.or(host).unwrap_or("(none)");
        Err(Refusal::Forbidden(format!(
            "this UI listens on the loopback address {} and answers only requests for \
                 127.0.0.1, localhost or [::1], not for host '{}' (protection against DNS \
                 rebinding). Open http://{}/ instead.",
            self.addr,
            shown.chars().take(100).collect::<String>(),
            self.addr
        )))
    }
}

/// Why a request gets no answer.
enum Refusal {
    /// No token, or a wrong one: 401.
    NoToken,
    /// Not answered as it is: 403, with the reason.
    Forbidden(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "this UI needs its token: send `Authorization: Bearer <token>` or add \
                 ?token=<token>",
            )
                .into_response(),
            Refusal::Forbidden(reason) => (StatusCode::FORBIDDEN, reason).into_response(),
        }
    }
}

fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Whether a Host value (`name[:port]`) names this machine's loopback interface.
fn loopback_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let (name, port) = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((name, rest)) => (name, rest),
            None => return false,
        },
        None => match host.find(':') {
            Some(i) => host.split_at(i),
            None => (host.as_str(), ""),
        },
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    port_ok && matches!(name, "127.0.0.1" | "localhost" | "::1")
}

/// The credentials of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start())
}

/// Compare without stopping at the first difference, so that the time taken does not tell how
/// much of a guess was right.
fn same(given: &str, want: &str) -> bool {
    let (a, b) = (given.as_bytes(), want.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware in front of every route: the checks, then the security headers on whatever
/// the answer is.
pub(crate) async fn guard(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let mut response = match g.check(&req) {
        Ok(link) => {
            req.extensions_mut().insert(link);
            next.run(req).await
        }
        Err(refusal) => refusal.into_response(),
    };
    security_headers(response.headers_mut());
    response
}

fn security_headers(h: &mut HeaderMap) {
    let set: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // Pages may carry the token in their links: keep them out of caches.
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:4040",
            "localhost",
            "LocalHost:80",
            "[::1]",
            "[::1]:4040",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4040",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "127.0.0.1:",
            "127.0.0.1:80:80",
            "127.0.0.1:x",
            "[::1",
            "[::1]x",
            "[::2]:80",
            "",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        for (value, want) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearerabc", None),
        ] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer(&h), want, "{value}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("s3cret", "s3cret"));
        assert!(!same("s3creT", "s3cret"));
        assert!(!same("s3cre", "s3cret"));
        assert!(!same("", "s3cret"));
    }
}
