//! `tributary serve JOB.sql` and `tributary run JOB.sql --serve`: the job's tables (and, while
//! it runs, its memory sinks) queried over the PostgreSQL wire protocol.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tributary::Session;
use tributary_serve::{Catalog, Credentials, PgEndpoint, ServedTable};
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
}

impl ServeArgs {
    fn credentials(&self) -> Credentials {
        let password = self
            .password
            .clone()
            .or_else(|| std::env::var("TRIBUTARY_SERVE_PASSWORD").ok())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                let p = uuid_like();
                eprintln!("PostgreSQL endpoint password (user '{}'): {p}", self.user);
                p
            });
        Credentials {
            user: self.user.clone(),
            password,
        }
    }
}

/// A random password: 128 bits from the OS, as hex.
fn uuid_like() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// Start the endpoint on `addr` and say where it is.
pub(crate) async fn start(
    addr: &str,
    catalog: Arc<Catalog>,
    args: &ServeArgs,
) -> anyhow::Result<PgEndpoint> {
    let endpoint = PgEndpoint::start(addr, catalog.clone(), args.credentials())
        .await
        .with_context(|| format!("cannot serve on {addr}"))?;
    eprintln!(
        "PostgreSQL endpoint: postgresql://{}@{}/tributary (tables: {})",
        args.user,
        endpoint.addr(),
        catalog.names().join(", ")
    );
    Ok(endpoint)
}
