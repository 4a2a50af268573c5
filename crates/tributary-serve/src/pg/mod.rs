//! The PostgreSQL-wire-protocol endpoint (`pgwire`): `psql`, psycopg, SQLAlchemy and BI tools
//! connect with a user and password and query the served tables.

pub(crate) mod encode;
mod handler;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::PgWireServerHandlers;
use pgwire::error::{PgWireError, PgWireResult};
use tributary::Result;

use crate::catalog::Catalog;
use crate::credentials::listen;
use crate::credentials::Credentials;
use handler::Connection;

#[async_trait]
impl AuthSource for Credentials {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only verify_password is used by cleartext authentication.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<()>> {
        let user = login.user().unwrap_or_default();
        let presented = presented.strip_suffix(b"\0").unwrap_or(presented);
        if self.accept(user, presented) {
            Ok(None)
        } else {
            Err(PgWireError::InvalidPassword(user.to_string()))
        }
    }
}

/// Builds each connection's handlers.
struct Handlers {
    catalog: Arc<Catalog>,
    credentials: Credentials,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(Connection::new(
            self.catalog.clone(),
            self.credentials.user.clone(),
        ))
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(Connection::new(
            self.catalog.clone(),
            self.credentials.user.clone(),
        ))
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = crate::SERVER_VERSION.to_string();
        Arc::new(CleartextPasswordAuthStartupHandler::new(
            self.credentials.clone(),
            parameters,
        ))
    }
}

/// A running PostgreSQL endpoint; it stops when dropped.
#[derive(Debug)]
pub struct PgEndpoint {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl PgEndpoint {
    /// Listen on `addr` (e.g. `127.0.0.1:5433`; port 0 picks a free one) and serve `catalog`
    /// to clients that give `credentials`.
    pub async fn start(
        addr: &str,
        catalog: Arc<Catalog>,
        credentials: Credentials,
    ) -> Result<Self> {
        let (listener, addr) = listen(addr, "PostgreSQL", &credentials).await?;
        let handlers = Arc::new(Handlers {
            catalog,
            credentials,
        });
        let task = tokio::spawn(async move {
            loop {
                let socket = match listener.accept().await {
                    Ok((socket, _)) => socket,
                    Err(e) => {
                        tracing::warn!("PostgreSQL endpoint: accept failed: {e}");
                        continue;
                    }
                };
                let handlers = handlers.clone();
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                        tracing::debug!("PostgreSQL endpoint: a connection ended: {e}");
                    }
                });
            }
        });
        Ok(PgEndpoint { addr, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PgEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
