//! The Arrow Flight SQL endpoint (`arrow-flight` over tonic): ADBC, JDBC and other Flight SQL
//! clients authenticate with the user and password and get results as Arrow record batches.
//!
//! ```text
//!  Handshake (Basic user:password) ──► a bearer token, checked on every later call
//!  GetFlightInfo(statement | prepared) ──► plan now (tables as of now) ─► ticket ─┐
//!  DoGet(ticket) ◄── the planned result, streamed as it is computed ◄─────────────┘
//!  GetCatalogs / GetDbSchemas / GetTables / GetTableTypes / GetSqlInfo ──► the catalog
//! ```

mod auth;
mod params;
mod service;

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio_stream::wrappers::TcpListenerStream;
use tributary::Result;

use crate::catalog::Catalog;
use crate::credentials::{listen, Credentials};
use service::FlightSql;

/// A running Flight SQL endpoint; it stops when dropped.
#[derive(Debug)]
pub struct FlightSqlEndpoint {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FlightSqlEndpoint {
    /// Listen on `addr` (port 0 picks a free one) and serve `catalog` to clients that give
    /// `credentials` in the handshake.
    pub async fn start(
        addr: &str,
        catalog: Arc<Catalog>,
        credentials: Credentials,
    ) -> Result<Self> {
        let (listener, addr) = listen(addr, "Flight SQL", &credentials).await?;
        let service = FlightServiceServer::new(FlightSql::new(catalog, credentials));
        let task = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await;
            if let Err(e) = served {
                tracing::warn!("Flight SQL endpoint stopped: {e}");
            }
        });
        Ok(FlightSqlEndpoint { addr, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FlightSqlEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}
