//! Who may call: the handshake checks the user and password (HTTP Basic in the `authorization`
//! header, or Flight's `BasicAuth` message as its payload) and answers a bearer token that
//! every later call carries.

use std::collections::VecDeque;
use std::sync::Mutex;

use arrow_flight::BasicAuth;
use base64::Engine;
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::Status;

use crate::credentials::{random_secret, same, Credentials};

/// How many tokens are remembered (the oldest is forgotten first: its client handshakes again).
const MAX_TOKENS: usize = 4096;

/// The credentials, and the tokens handed out.
pub(crate) struct Auth {
    credentials: Credentials,
    tokens: Mutex<VecDeque<String>>,
}

impl Auth {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Auth {
            credentials,
            tokens: Mutex::new(VecDeque::new()),
        }
    }

    /// Check a handshake's credentials (its headers first, then its payload) and hand out a
    /// new token.
    pub(crate) fn handshake(
        &self,
        headers: &MetadataMap,
        payload: &[u8],
    ) -> Result<String, Status> {
        let given = match header(headers) {
            Some(h) => match h
                .strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
            {
                Some(encoded) => basic(encoded)?,
                None if self.bearer_known(h) => return Ok(bearer(h).to_string()),
                None => return Err(refused()),
            },
            None => match BasicAuth::decode(payload) {
                Ok(b) if !b.username.is_empty() => (b.username, b.password),
                _ => return Err(refused()),
            },
        };
        if !self.matches(&given.0, &given.1) {
            return Err(Status::unauthenticated(format!(
                "user '{}' and this password are not accepted",
                given.0
            )));
        }
        let token = random_secret();
        let mut tokens = self.tokens.lock().expect("tokens");
        if tokens.len() >= MAX_TOKENS {
            tokens.pop_front();
        }
        tokens.push_back(token.clone());
        Ok(token)
    }

    /// Check the `authorization` header of a call: a token from a handshake, or the user and
    /// password themselves (Basic).
    pub(crate) fn check(&self, headers: &MetadataMap) -> Result<(), Status> {
        let h = header(headers).ok_or_else(refused)?;
        if let Some(encoded) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
        {
            let (user, password) = basic(encoded)?;
            return if self.matches(&user, &password) {
                Ok(())
            } else {
                Err(refused())
            };
        }
        if self.bearer_known(h) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "the bearer token is not known (or has expired): handshake again with the user \
                 and password",
            ))
        }
    }

    fn bearer_known(&self, header: &str) -> bool {
        let token = bearer(header);
        !token.is_empty()
            && self
                .tokens
                .lock()
                .expect("tokens")
                .iter()
                .any(|t| same(t.as_bytes(), token.as_bytes()))
    }

    fn matches(&self, user: &str, password: &str) -> bool {
        self.credentials.accept(user, password.as_bytes())
    }
}

fn header(headers: &MetadataMap) -> Option<&str> {
    headers.get("authorization").and_then(|v| v.to_str().ok())
}

fn bearer(header: &str) -> &str {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .unwrap_or("")
        .trim()
}

/// `user:password` from Basic's base64 (clients differ on padding: both are taken).
fn basic(encoded: &str) -> Result<(String, String), Status> {
    let trimmed = encoded.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .map_err(|_| Status::unauthenticated("the Basic authorization is not valid base64"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Status::unauthenticated("the Basic authorization is not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| Status::unauthenticated("the Basic authorization has no ':'"))?;
    Ok((user.to_string(), password.to_string()))
}

fn refused() -> Status {
    Status::unauthenticated(
        "authentication required: connect with the endpoint's user and password (e.g. ADBC's \
         username and password options)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(Credentials {
            user: "u".into(),
            password: "secret".into(),
        })
    }

    fn with(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn a_handshake_with_the_password_gives_a_token_that_later_calls_carry() {
        let a = auth();
        // "u:secret", padded and unpadded.
        let token = a.handshake(&with("Basic dTpzZWNyZXQ="), &[]).unwrap();
        assert!(a.handshake(&with("Basic dTpzZWNyZXQ"), &[]).is_ok());
        assert!(a.check(&with(&format!("Bearer {token}"))).is_ok());
        assert!(a.check(&with("Bearer nope")).is_err());
        assert!(a.check(&MetadataMap::new()).is_err());
        // "u:wrong"
        assert!(a.handshake(&with("Basic dTp3cm9uZw=="), &[]).is_err());
        let payload = BasicAuth {
            username: "u".into(),
            password: "secret".into(),
        }
        .encode_to_vec();
        assert!(a.handshake(&MetadataMap::new(), &payload).is_ok());
        assert!(a.handshake(&MetadataMap::new(), &[]).is_err());
    }
}
