//! Who may connect to the endpoints, and where they listen.

use std::fmt;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tributary::{Result, TributaryError};

/// The one user and password both endpoints accept.
#[derive(Clone)]
pub struct Credentials {
    /// The user name clients give.
    pub user: String,
    /// The password clients give (sent in clear text: keep the endpoints on loopback or a
    /// private network).
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials[{}]", self.user)
    }
}

impl Credentials {
    /// Whether `user` and `password` are these (never with an empty password).
    pub(crate) fn accept(&self, user: &str, password: &[u8]) -> bool {
        user == self.user && !self.password.is_empty() && same(password, self.password.as_bytes())
    }
}

/// Equal, comparing every byte whatever the first difference (timing tells nothing).
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 128 random bits as hex: a password made when none is given, a Flight SQL token.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    // Never two equal secrets, even without /dev/urandom.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    for (i, b) in (n ^ nanos).to_le_bytes().iter().enumerate() {
        bytes[i] ^= b;
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Listen on `addr` for the endpoint `what`, which needs a password.
pub(crate) async fn listen(
    addr: &str,
    what: &str,
    credentials: &Credentials,
) -> Result<(TcpListener, SocketAddr)> {
    if credentials.password.is_empty() {
        return Err(TributaryError::Plan(format!(
            "the {what} endpoint needs a password: give --serve-password or set \
             TRIBUTARY_SERVE_PASSWORD"
        )));
    }
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        TributaryError::Plan(format!(
            "cannot listen on {addr} for the {what} endpoint ({e}): choose another address or \
             port"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| TributaryError::Internal(format!("the endpoint's address: {e}")))?;
    Ok((listener, local))
}
