//! `tributary serve JOB.sql` and `tributary run JOB.sql --serve`: the job's tables (and, while
//! it runs, its memory sinks and the live state of its stateful queries) queried over the
//! PostgreSQL wire protocol and, with `--flight-sql`, Arrow Flight SQL.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tributary::Session;
use tributary_serve::{Catalog, Credentials, FlightSqlEndpoint, PgEndpoint, ServedTable};
use tributary_sql::JobRunner;

/// How clients reach the endpoint.
#[derive(Args, Debug, Clone)]
pub(crate) struct ServeArgs {
    /// The user clients connect as.
    #[arg(long = "serve-user", value_name = "USER", default_value = "tributary")]
    pub(crate) user: String,
    /// The password clients give (default: $TRIBUTARY_SERVE_PASSWORD; without either, a random
    /// one is made and printed).
    #[arg(long = "serve-password", value_name = "PASSWORD")]
    pub(crate) password: Option<String>,
    /// Also serve Arrow Flight SQL (ADBC, JDBC) on ADDR, with the same user and password.
    #[arg(long = "flight-sql", value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:50051")]
    pub(crate) flight_sql: Option<String>,
}

impl ServeArgs {
    fn credentials(&self) -> Credentials {
        let password = self
            .password
            .clone()
            .or_else(|| std::env::var("TRIBUTARY_SERVE_PASSWORD").ok())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                let p = tributary_serve::random_secret();
                eprintln!("PostgreSQL endpoint password (user '{}'): {p}", self.user);
                p
            });
        Credentials {
            user: self.user.clone(),
            password,
        }
    }
}

/// The catalog of a job: its readable tables, and its memory sinks once queries run.
pub(crate) fn job_catalog(runner: &JobRunner, session: &Session) -> anyhow::Result<Arc<Catalog>> {
    let catalog = Catalog::new(session.clone());
    for (t, options) in runner.readable_tables()? {
        catalog.add(
            &t.name,
            ServedTable::Stored {
                format: t.format.clone(),
                location: t.location.clone(),
                options,
                schema: (!t.schema.fields().is_empty() && t.format != "delta")
                    .then(|| t.schema.clone()),
            },
        );
    }
    Ok(Arc::new(catalog))
}

/// Add the memory sinks of the running job (tables named after their queries).
pub(crate) async fn add_memory_sinks(catalog: &Catalog, runner: &JobRunner, session: &Session) {
    for t in &runner.job().tables {
        if t.format == "memory" && runner.job().is_sink(&t.name) {
            if let Ok(p) = session.context().table_provider(t.name.as_str()).await {
                catalog.add(&t.name, ServedTable::Live(p));
            }
        }
    }
}

/// Add the live views of the running queries' state (`<query>_state`).
pub(crate) fn add_live_state(catalog: &Catalog, queries: &[tributary::StreamingQuery]) {
    for q in queries {
        for view in q.live_state() {
            catalog.add(view.name(), ServedTable::Live(view.table()));
        }
    }
}

/// The running endpoints; they stop when dropped.
pub(crate) struct Endpoints {
    _pg: PgEndpoint,
    _flight: Option<FlightSqlEndpoint>,
}

/// Start the PostgreSQL endpoint on `addr` (and Flight SQL when asked) and say where they are.
pub(crate) async fn start(
    addr: &str,
    catalog: Arc<Catalog>,
    args: &ServeArgs,
) -> anyhow::Result<Endpoints> {
    let credentials = args.credentials();
    let pg = PgEndpoint::start(addr, catalog.clone(), credentials.clone())
        .await
        .with_context(|| format!("cannot serve on {addr}"))?;
    eprintln!(
        "PostgreSQL endpoint: postgresql://{}@{}/tributary (tables: {})",
        args.user,
        pg.addr(),
        catalog.names().join(", ")
    );
    let flight = match &args.flight_sql {
        Some(addr) => {
            let f = FlightSqlEndpoint::start(addr, catalog.clone(), credentials)
                .await
                .with_context(|| format!("cannot serve Flight SQL on {addr}"))?;
            eprintln!(
                "Flight SQL endpoint: grpc://{} (user '{}')",
                f.addr(),
                args.user
            );
            Some(f)
        }
        None => None,
    };
    Ok(Endpoints {
        _pg: pg,
        _flight: flight,
    })
}
