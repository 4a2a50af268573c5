//! The `postgres` format: a PostgreSQL table read as a batch (e.g. the static side of a
//! stream-static join). `path` is the connection string.

mod table;

pub use table::PostgresTable;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::TableProvider;

use super::{OptionDecl, OptionType, ReadContext, SourceConnector};
use crate::error::{Result, TributaryError};

/// The `postgres` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresConnector;

const OPTIONS: &[OptionDecl] = &[OptionDecl::new(
    "table",
    OptionType::Text,
    "the table to read, e.g. public.cities",
)
.aliases(&["dbtable"])];

#[async_trait]
impl SourceConnector for PostgresConnector {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[OPTIONS]
    }

    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        let table = ctx.options.given("table").ok_or_else(|| {
            TributaryError::option(
                "table",
                "a PostgreSQL read needs the table: .option(\"table\", \"schema.name\")",
            )
        })?;
        Ok(Arc::new(
            PostgresTable::try_new(ctx.path, table, ctx.schema.cloned()).await?,
        ))
    }
}
