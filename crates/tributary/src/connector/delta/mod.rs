//! Delta Lake tables, through `deltalake`: every part of Tributary that knows Delta is here.
//!
//! ```text
//!  source.rs + log.rs + source_options.rs   a table as a stream (snapshot, then each commit)
//!  sink.rs                                  epochs as commits with Delta's txn (append, complete
//!                                           overwrite, update MERGE), schema checks
//!  merge.rs, cdc.rs                         MERGE on keys; a change stream applied by key
//!  batch_write.rs                           a batch streamed into one commit (bounded memory)
//!  conform.rs                               rows cast to the table's exact types
//!  maintenance.rs                           optimize, vacuum, checkpoint, history, describe
//! ```

mod batch_write;
mod cdc;
pub(crate) mod conform;
mod log;
pub mod maintenance;
mod merge;
mod sink;
mod source;
mod source_options;

pub use cdc::{CdcFormat, CdcOptions};
pub use sink::{create_table_if_missing, DeltaSink, DeltaSinkOptions};
pub(crate) use sink::{delta_provider, open_table, TableWrite};
pub use source::DeltaStreamSource;
pub(crate) use source_options::parse_timestamp_ms;
pub use source_options::{DeltaSourceOptions, StartingPosition};

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::TableProvider;
use deltalake::protocol::SaveMode as DeltaSaveMode;

use super::{
    OptionDecl, OptionType, ReadContext, SinkConnector, SourceConnector, StreamSinkContext,
    WriteContext,
};
use crate::error::{Result, TributaryError};
use crate::modes::{OutputMode, SaveMode};
use crate::sink::Sink;
use crate::source::StreamSource;
use crate::storage::STORAGE_OPTIONS;
use crate::DataFrame;

/// The `delta` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeltaConnector;

const BATCH_READ: &[OptionDecl] = &[
    OptionDecl::new(
        "version_as_of",
        OptionType::Int { min: 0 },
        "read the table as of this version (batch reads)",
    ),
    OptionDecl::new(
        "timestamp_as_of",
        OptionType::Text,
        "read the table as of this time, e.g. 2026-01-31T12:00:00Z (batch reads)",
    ),
];

const STREAM_READ: &[OptionDecl] = &[
    OptionDecl::new("starting_version", OptionType::Text, "streams: start at this version's changes, or 'latest' (default: the snapshot, then its changes)"),
    OptionDecl::new("starting_timestamp", OptionType::Text, "start at the first version committed at or after this time"),
    OptionDecl::new("max_files_per_trigger", OptionType::Int { min: 1 }, "at most this many files per epoch").default("1000"),
    OptionDecl::new("max_bytes_per_trigger", OptionType::Bytes, "about this many bytes per epoch (a soft limit)"),
    OptionDecl::new("ignore_deletes", OptionType::Bool, "go on past commits that only delete whole partitions").default("false"),
    OptionDecl::new("ignore_changes", OptionType::Bool, "re-read files rewritten by updates, merges and deletes (rows may repeat)").default("false"),
    OptionDecl::new("skip_change_commits", OptionType::Bool, "skip commits that change or delete rows").default("false"),
    OptionDecl::new("read_change_feed", OptionType::Bool, "stream the table's change data feed (_change_type, _commit_version, _commit_timestamp)").default("false"),
];

const WRITE: &[OptionDecl] = &[
    OptionDecl::new(
        "partition_by",
        OptionType::List,
        "partition columns of a table the write creates",
    ),
    OptionDecl::new(
        "merge_schema",
        OptionType::Bool,
        "add new columns of the rows to the table instead of failing",
    )
    .default("false"),
    OptionDecl::new(
        "merge_keys",
        OptionType::List,
        "update mode: the columns rows are merged on (default: the grouping keys)",
    ),
    OptionDecl::new(
        "enable_change_data_feed",
        OptionType::Bool,
        "create the table with the change data feed on",
    )
    .default("false"),
    OptionDecl::new(
        "checkpoint_interval",
        OptionType::Int { min: 1 },
        "commits between Delta checkpoints of a created table",
    )
    .default("10"),
    OptionDecl::new(
        "delta.",
        OptionType::Prefix,
        "a table property of a created table, e.g. delta.appendOnly",
    ),
    OptionDecl::new(
        "cdc_format",
        OptionType::Choice(&["operation", "debezium"]),
        "CDC (with the change-stream options below): an operation column, or Debezium's envelope",
    )
    .default("operation"),
    OptionDecl::new(
        "auto_compact",
        OptionType::Bool,
        "compact small files after commits",
    )
    .default("false"),
    OptionDecl::new(
        "auto_compact_min_files",
        OptionType::Int { min: 2 },
        "compact once a commit leaves this many small files",
    )
    .default("50"),
    OptionDecl::new(
        "target_file_size",
        OptionType::Bytes,
        "target size of compacted files",
    ),
];

#[async_trait]
impl SourceConnector for DeltaConnector {
    fn name(&self) -> &'static str {
        "delta"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[BATCH_READ, STREAM_READ, STORAGE_OPTIONS]
    }

    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        // The stream's options (where to start, rate limits) do not change a batch read, as in
        // Spark: a job file's table serves both.
        let location = ctx.location()?;
        let version = ctx.options.int("version_as_of");
        let timestamp = match ctx.options.given("timestamp_as_of") {
            None => None,
            Some(t) => Some(parse_timestamp_ms("timestamp_as_of", t)?),
        };
        if version.is_some() && timestamp.is_some() {
            return Err(TributaryError::option(
                "version_as_of",
                "give version_as_of or timestamp_as_of, not both",
            ));
        }
        delta_provider(
            &location,
            &ctx.session.context().state(),
            version,
            timestamp,
        )
        .await
    }

    async fn read_stream(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn StreamSource>> {
        refuse(
            ctx.options,
            BATCH_READ,
            "a stream",
            "starting_version or starting_timestamp",
        )?;
        let options = DeltaSourceOptions::parse(&ctx.options.as_map())?;
        Ok(Arc::new(
            DeltaStreamSource::try_new(ctx.location()?, options, ctx.session.context().clone())
                .await?,
        ))
    }
}

/// An option of the other kind of read is an error, not silently ignored.
fn refuse(options: &super::Options, other: &[OptionDecl], what: &str, instead: &str) -> Result<()> {
    match other.iter().find(|d| options.contains(d.name)) {
        None => Ok(()),
        Some(d) => Err(TributaryError::option(
            d.name,
            format!("'{}' does not apply to {what}: use {instead}", d.name),
        )),
    }
}

#[async_trait]
impl SinkConnector for DeltaConnector {
    fn name(&self) -> &'static str {
        "delta"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[WRITE, super::CDC_OPTIONS, STORAGE_OPTIONS]
    }

    async fn write(&self, ctx: WriteContext<'_>, df: DataFrame) -> Result<u64> {
        let location = ctx.location()?;
        let options = DeltaSinkOptions::parse(&ctx.options.as_map())?;
        if options.cdc.is_some() {
            return Err(TributaryError::Plan(
                "cdc_keys applies a change stream: write it with write_stream() (a job file's \
                 `batch` applies it as one epoch)"
                    .into(),
            ));
        }
        let table = open_table(&location).await?;
        if table.version().is_some() {
            match ctx.mode {
                SaveMode::ErrorIfExists => {
                    return Err(TributaryError::Plan(format!(
                        "the Delta table '{}' already exists: choose mode Append or Overwrite, or write elsewhere",
                        ctx.path
                    )))
                }
                SaveMode::Ignore => return Ok(0),
                _ => {}
            }
        }
        let mode = match ctx.mode {
            SaveMode::Overwrite => DeltaSaveMode::Overwrite,
            _ => DeltaSaveMode::Append,
        };
        let partition_by = if ctx.partition_by.is_empty() {
            &options.partition_by
        } else {
            ctx.partition_by
        };
        batch_write::write_streamed(
            &location,
            table,
            df,
            mode,
            TableWrite {
                partition_by,
                properties: &options.properties,
                merge_schema: options.merge_schema,
                txn: None,
            },
        )
        .await
    }

    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        let mut options = DeltaSinkOptions::parse(&ctx.options.as_map())?;
        if options.cdc.is_some() && ctx.output_mode != OutputMode::Append {
            return Err(TributaryError::Plan(format!(
                "CDC apply (cdc_keys) reads a change stream in append mode, not '{}'",
                ctx.output_mode
            )));
        }
        if ctx.output_mode == OutputMode::Update && options.merge_keys.is_none() {
            let keys = crate::plan::update_key_columns(ctx.df.logical_plan()).map_err(|why| {
                TributaryError::Plan(format!(
                    "update mode into Delta merges each epoch's rows on the grouping keys, but \
                     {why}: name the key columns with .option(\"merge_keys\", \"a,b\")"
                ))
            })?;
            options.merge_keys = Some(keys);
        }
        let location = ctx.location()?;
        if options.cdc.is_none() {
            // A change stream's columns are not the table's; its apply checks them.
            sink::check_partition_columns(
                &location,
                ctx.df.schema().as_arrow(),
                &options.partition_by,
            )?;
        }
        Ok(Arc::new(DeltaSink::new(location, options)))
    }
}
