//! The `postgres` format: a PostgreSQL table read as a batch (e.g. the static side of a
//! stream-static join), and written as a sink, exactly once. `path` is the connection string.
//!
//! ```text
//!  server.rs   where to connect, how table names read (shared)
//!  table.rs    the table as a DataFusion table (one SELECT per scan)
//!  copy.rs     Arrow rows as COPY text; Arrow types as column types
//!  sink.rs     epochs in transactions that record them: append, complete, update (upsert), CDC
//! ```

mod copy;
mod server;
mod sink;
mod table;

pub use sink::{PostgresCdc, PostgresSink, PostgresWrite};
pub use table::PostgresTable;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::TableProvider;

use super::{
    OptionDecl, OptionType, ReadContext, SinkConnector, SourceConnector, StreamSinkContext,
    WriteContext,
};
use crate::error::{Result, TributaryError};
use crate::modes::OutputMode;
use crate::sink::Sink;
use crate::DataFrame;

/// The `postgres` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresConnector;

const TABLE: &[OptionDecl] = &[OptionDecl::new(
    "table",
    OptionType::Text,
    "the table to read or write, e.g. public.cities",
)
.aliases(&["dbtable"])];

const SINK: &[OptionDecl] = &[
    OptionDecl::new(
        "merge_keys",
        OptionType::List,
        "update mode: the columns rows are upserted on (default: the grouping keys)",
    ),
    OptionDecl::new(
        "epochs_table",
        OptionType::Text,
        "the table in the target database that records each query's last committed epoch",
    )
    .default("tributary_epochs"),
];

fn table_option(options: &super::Options) -> Result<&str> {
    options.given("table").ok_or_else(|| {
        TributaryError::option(
            "table",
            "PostgreSQL needs the table: .option(\"table\", \"schema.name\")",
        )
    })
}

#[async_trait]
impl SourceConnector for PostgresConnector {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[TABLE]
    }

    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        let table = table_option(ctx.options)?;
        Ok(Arc::new(
            PostgresTable::try_new(ctx.path, table, ctx.schema.cloned()).await?,
        ))
    }
}

#[async_trait]
impl SinkConnector for PostgresConnector {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[TABLE, SINK, super::CDC_OPTIONS]
    }

    async fn write(&self, ctx: WriteContext<'_>, df: DataFrame) -> Result<u64> {
        for o in ["merge_keys", "cdc_keys", "cdc_sequence"] {
            if ctx.options.given(o).is_some() {
                return Err(TributaryError::option(
                    o,
                    "a batch write appends or overwrites; this option is for streaming writes",
                ));
            }
        }
        sink::write_batch(ctx.path, table_option(ctx.options)?, ctx.mode, df).await
    }

    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        let o = ctx.options;
        let table = table_option(o)?;
        let list = |k: &str| {
            o.given(k).map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
        };
        let write = match (ctx.output_mode, list("cdc_keys")) {
            (OutputMode::Append, Some(keys)) => {
                let sequence = o.given("cdc_sequence").ok_or_else(|| {
                    TributaryError::option(
                        "cdc_sequence",
                        "CDC apply needs the column that orders the changes of a key (a version, \
                         LSN or timestamp)",
                    )
                })?;
                let operation = o.given("cdc_operation").unwrap_or("op");
                let schema = ctx.df.schema().as_arrow();
                for (what, c) in std::iter::once(("cdc_sequence", sequence))
                    .chain(std::iter::once(("cdc_operation", operation)))
                    .chain(keys.iter().map(|k| ("cdc_keys", k.as_str())))
                {
                    if schema.field_with_name(c).is_err() {
                        return Err(TributaryError::option(
                            what,
                            format!("the change stream has no column '{c}'"),
                        ));
                    }
                }
                PostgresWrite::Cdc(PostgresCdc {
                    keys,
                    sequence: sequence.to_string(),
                    operation: operation.to_string(),
                })
            }
            (mode, Some(_)) => {
                return Err(TributaryError::Plan(format!(
                    "CDC apply (cdc_keys) reads a change stream in append mode, not '{mode}'"
                )))
            }
            (OutputMode::Append, None) => PostgresWrite::Append,
            (OutputMode::Complete, None) => PostgresWrite::Replace,
            (OutputMode::Update, None) => PostgresWrite::Upsert(match list("merge_keys") {
                Some(keys) => keys,
                None => crate::plan::update_key_columns(ctx.df.logical_plan()).map_err(|why| {
                    TributaryError::Plan(format!(
                        "update mode into PostgreSQL upserts each epoch's rows on the grouping \
                         keys, but {why}: name the key columns with .option(\"merge_keys\", \"a,b\")"
                    ))
                })?,
            }),
        };
        Ok(Arc::new(PostgresSink::try_new(
            ctx.path,
            table,
            o.given("epochs_table").unwrap_or("tributary_epochs"),
            Arc::new(ctx.df.schema().as_arrow().clone()),
            write,
        )?))
    }
}
