//! Folders of files: JSON lines, CSV and Parquet in, Parquet and JSON lines out.
//!
//! ```text
//!  folder ──► read: FileTable (listed once, decoded in parallel, bad records aside)
//!        └──► read_stream: FileStreamSource (new files per epoch, the list kept in the checkpoint)
//!  df ──► write: one unit of files + a manifest, the rows streamed into files of bounded size
//!        stream: FileSink (files + a manifest per epoch)
//! ```

mod partition_folders;
mod sink;
mod source;

use sink::{commit_unit, FilesWriter};
pub use sink::{FileSink, FILE_SINK_FORMATS};
pub use source::{FileSourceOptions, FileStreamSource};

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::TableProvider;
use futures::StreamExt;

use super::{
    OptionDecl, OptionType, ReadContext, SinkConnector, SourceConnector, StreamSinkContext,
    WriteContext,
};
use crate::error::{Result, TributaryError};
use crate::format::read_ahead::Decoding;
use crate::format::{list_data_files, text_content, BadRecords, FileFormat, FileTable};
use crate::modes::{OutputMode, SaveMode};
use crate::sink::Sink;
use crate::source::StreamSource;
use crate::storage::STORAGE_OPTIONS;
use crate::DataFrame;

/// Which files a [`FileConnector`] reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// JSON lines.
    Json,
    /// Comma- (or otherwise) separated values.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// The connector of one file format.
#[derive(Debug, Clone, Copy)]
pub struct FileConnector {
    kind: FileKind,
}

impl FileConnector {
    /// `json`.
    pub const JSON: FileConnector = FileConnector {
        kind: FileKind::Json,
    };
    /// `csv`.
    pub const CSV: FileConnector = FileConnector {
        kind: FileKind::Csv,
    };
    /// `parquet`.
    pub const PARQUET: FileConnector = FileConnector {
        kind: FileKind::Parquet,
    };

    fn format(&self, options: &super::Options) -> Result<FileFormat> {
        FileFormat::parse(self.name_of(), &options.as_map())
    }

    fn name_of(&self) -> &'static str {
        match self.kind {
            FileKind::Json => "json",
            FileKind::Csv => "csv",
            FileKind::Parquet => "parquet",
        }
    }
}

/// Options of every file source.
const READ: &[OptionDecl] = &[
    OptionDecl::new("max_files_per_trigger", OptionType::Int { min: 1 }, "at most this many new files per epoch (streams)"),
    OptionDecl::new("latest_first", OptionType::Bool, "read the newest files first (streams)").default("false"),
    OptionDecl::new("incremental_listing", OptionType::Bool, "list only names after the greatest one seen: for folders whose new files always sort last, e.g. timestamped names (streams); not for partition folders, whose new files may sort earlier").default("false"),
    OptionDecl::new("mode", OptionType::Choice(&["PERMISSIVE", "DROPMALFORMED", "FAILFAST", "DEADLETTER"]), "FAILFAST stops at the first bad record; the others route bad records to bad_records_path").default("PERMISSIVE"),
    OptionDecl::new("ignore_missing_files", OptionType::Bool, "a listed file that is gone when it is read is recorded among the bad records and skipped, instead of stopping the query").default("false"),
    OptionDecl::new("bad_records_path", OptionType::Path, "where bad records go (default: bad_records/ in the checkpoint, or <output>.bad_records for a batch)"),
];

/// Options of every file sink.
const WRITE: &[OptionDecl] = &[
    OptionDecl::new("max_records_per_file", OptionType::Int { min: 1 }, "at most this many rows in one output file (Spark's maxRecordsPerFile); files also close at 128 MiB"),
    OptionDecl::new("partition_by", OptionType::List, "columns whose values name Hive-style folders (col=value/) that hold the rows (Spark's partitionBy); the files leave those columns out"),
];

/// The `max_records_per_file` of a sink's options.
fn max_records(options: &super::Options) -> Option<usize> {
    options.int("max_records_per_file").map(|n| n as usize)
}

/// The partition columns of a write: the writer's own (`partitionBy`), else the option.
fn partition_columns(given: &[String], options: &super::Options) -> Vec<String> {
    if given.is_empty() {
        options.list("partition_by").unwrap_or_default()
    } else {
        given.to_vec()
    }
}

/// Options of CSV files (as a source), besides those of every file source.
const CSV_READ: &[OptionDecl] = &[
    OptionDecl::new(
        "has_header",
        OptionType::Bool,
        "the first line of each file names the columns",
    )
    .default("true")
    .aliases(&["header"]),
    OptionDecl::new(
        "delimiter",
        OptionType::Text,
        "the field separator: one character, \\t for a tab, \\u0001 for a control character",
    )
    .default(",")
    .aliases(&["sep"]),
];

#[async_trait]
impl SourceConnector for FileConnector {
    fn name(&self) -> &'static str {
        self.name_of()
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self.kind {
            FileKind::Json => &["ndjson", "jsonl"],
            _ => &[],
        }
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        match self.kind {
            FileKind::Csv => &[READ, CSV_READ, STORAGE_OPTIONS],
            _ => &[READ, STORAGE_OPTIONS],
        }
    }

    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        let file_format = self.format(ctx.options)?;
        let location = ctx.location()?;
        let files = list_data_files(&location).await?;
        let schema = match ctx.schema {
            Some(s) => s.clone(),
            None => {
                let mut samples = Vec::new();
                for f in files.iter().take(8) {
                    if let Some(b) = location.read(&f.name).await? {
                        samples.push(match file_format {
                            FileFormat::Parquet => b,
                            // A path to one file lists it with an empty name.
                            _ => text_content(
                                if f.name.is_empty() {
                                    &location.display
                                } else {
                                    &f.name
                                },
                                b,
                            )
                            .map_err(|reason| {
                                TributaryError::Plan(format!(
                                    "inferring the schema from '{}' at '{}': {reason}",
                                    f.name, ctx.path
                                ))
                            })?,
                        });
                    }
                }
                if samples.is_empty() {
                    return Err(TributaryError::Plan(format!(
                        "no {} files at '{}' to infer a schema from: give the schema with .schema(..)",
                        self.name_of(),
                        ctx.path
                    )));
                }
                let inferred = crate::format::infer_schema(&file_format, &samples)?;
                // Spark's partition discovery: `key=value` folders become columns after the
                // files' own (a key the files hold too keeps the files' type; its values come
                // from the folders).
                let mut fields: Vec<arrow::datatypes::FieldRef> =
                    inferred.fields().iter().cloned().collect();
                for f in crate::format::infer_folder_columns(&files)? {
                    if !fields
                        .iter()
                        .any(|g| g.name().eq_ignore_ascii_case(f.name()))
                    {
                        fields.push(Arc::new(f));
                    }
                }
                Arc::new(arrow::datatypes::Schema::new(fields))
            }
        };
        let opts =
            FileSourceOptions::parse(&ctx.options.as_map(), ctx.partitions(), &ctx.storage()?)?;
        let bad = Arc::new(BadRecords::new(opts.mode.clone()));
        let how = Decoding {
            root: location,
            format: file_format,
            schema,
            mode: opts.mode.clone(),
            partitions: opts.partitions,
        };
        let table = FileTable::new(&how, files, bad, opts.ignore_missing_files, None)
            .map_err(TributaryError::df("planning the files"))?
            .with_bad_records_path(opts.bad_records_path);
        ctx.session.track_scan(&table.progress());
        Ok(Arc::new(table))
    }

    async fn read_stream(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn StreamSource>> {
        let file_format = self.format(ctx.options)?;
        let schema = ctx.schema.cloned().ok_or_else(|| {
            TributaryError::Plan(format!(
                "a {} stream at '{}' needs a schema: files that arrive later must all read the \
                 same way, so streams do not infer one; pass .schema(..) (or declare the columns \
                 in the job file's CREATE UNBOUNDED EXTERNAL TABLE)",
                self.name_of(),
                ctx.path
            ))
        })?;
        let opts =
            FileSourceOptions::parse(&ctx.options.as_map(), ctx.partitions(), &ctx.storage()?)?;
        Ok(Arc::new(FileStreamSource::new(
            ctx.location()?,
            file_format,
            schema,
            opts,
        )))
    }
}

#[async_trait]
impl SinkConnector for FileConnector {
    fn name(&self) -> &'static str {
        self.name_of()
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[WRITE, STORAGE_OPTIONS]
    }

    /// Files can only grow: update and complete output would pile up old versions of rows.
    fn output_modes(&self) -> &'static [OutputMode] {
        &[OutputMode::Append]
    }

    async fn write(&self, ctx: WriteContext<'_>, df: DataFrame) -> Result<u64> {
        let format = self.format(ctx.options)?;
        let partition_by = partition_columns(ctx.partition_by, ctx.options);
        let schema = Arc::new(df.schema().as_arrow().clone());
        // Checked before anything is written or deleted.
        sink::check_partition_columns(&schema, &partition_by)?;
        let location = ctx.location()?;
        let existing = list_data_files(&location).await.unwrap_or_default();
        if !existing.is_empty() {
            match ctx.mode {
                SaveMode::ErrorIfExists => {
                    return Err(TributaryError::Plan(format!(
                    "'{}' already holds data: choose mode Append or Overwrite, or write elsewhere",
                    ctx.path
                )))
                }
                SaveMode::Ignore => return Ok(0),
                SaveMode::Overwrite => {
                    for e in location.list("").await? {
                        if !crate::location::is_staging_leftover(&e.name) {
                            location.delete(&e.name).await?;
                        }
                    }
                }
                SaveMode::Append => {}
            }
        }
        let run = |e| crate::error::from_df_error("running the batch query", e);
        let mut rows = df.execute_stream().await.map_err(run)?;
        location.ensure_dir()?;
        // The rows stream into files as they come: memory holds about one file's worth being
        // encoded (over every open partition folder), not the result. Nothing is visible until
        // the manifest names the files.
        let mut files = FilesWriter::new(&location, &format, schema, 0, max_records(ctx.options))
            .partitioned_by(&partition_by)?;
        while let Some(batch) = rows.next().await {
            files.write(batch.map_err(run)?).await?;
        }
        let (files, written) = files.finish().await?;
        let writer = format!("batch-{}", uuid::Uuid::new_v4().simple());
        commit_unit(&location, &writer, 0, files).await?;
        Ok(written)
    }

    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        let partition_by = partition_columns(&[], ctx.options);
        sink::check_partition_columns(
            &Arc::new(ctx.df.schema().as_arrow().clone()),
            &partition_by,
        )?;
        Ok(Arc::new(
            FileSink::new(ctx.location()?, self.format(ctx.options)?)?
                .with_max_records(max_records(ctx.options))
                .with_partition_by(partition_by),
        ))
    }
}
