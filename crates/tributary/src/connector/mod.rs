//! Connectors: the one seam through which data enters and leaves Tributary.
//!
//! ```text
//!  session.read()/read_stream() ─┐                           ┌─► SourceConnector::read        (batch: a TableProvider)
//!  SQL job (CREATE ... TABLE)  ──┼─► Connectors::source(fmt) ┤
//!  Python (later)              ──┘    options checked        └─► SourceConnector::read_stream (a StreamSource)
//!                                     against the declared
//!  df.write()/write_stream()   ──┐    OptionDecls            ┌─► SinkConnector::write         (batch)
//!  SQL job (INSERT INTO)       ──┴─► Connectors::sink(fmt) ──┴─► SinkConnector::stream_sink   (a Sink)
//! ```
//!
//! A connector is a folder here (`files/`, `delta/`, `kafka/`, ...) with a `mod.rs` that declares
//! its options and implements [`SourceConnector`] and/or [`SinkConnector`], and one line in
//! [`Connectors::builtin`]. A program can add its own with [`crate::Session::register_source`]
//! and [`crate::Session::register_sink`]; readers, writers and job files then find it by name
//! like the built-in ones. The streaming contracts the connectors implement are
//! [`crate::source::StreamSource`] and [`crate::sink::Sink`].

pub mod console;
pub mod delta;
pub mod files;
pub mod foreach_batch;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;
pub mod nexmark;
pub mod options;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod rate;
pub mod state;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::datasource::TableProvider;

pub use self::options::{OptionDecl, OptionScope, OptionType, Options};
use crate::error::{Result, TributaryError};
use crate::modes::{OutputMode, SaveMode};
use crate::session::Session;
use crate::sink::{ForeachBatchFn, Sink};
use crate::source::StreamSource;
use crate::DataFrame;

/// What a source connector is given to build a batch table or a stream.
#[derive(Debug, Clone, Copy)]
pub struct ReadContext<'a> {
    /// The session reading.
    pub session: &'a Session,
    /// The path, URL or connection string given to `load` (a job file's LOCATION).
    pub path: &'a str,
    /// The options, checked against the connector's declarations.
    pub options: &'a Options,
    /// The schema the user gave, if any.
    pub schema: Option<&'a SchemaRef>,
}

impl ReadContext<'_> {
    /// The location `path` names, with the session's and these options' storage settings.
    pub fn location(&self) -> Result<crate::location::Location> {
        location_of(self.session, self.path, self.options)
    }

    /// The storage settings of this read: the session's, with the table's on top.
    pub fn storage(&self) -> Result<crate::storage::StorageOptions> {
        Ok(self
            .session
            .storage_options()
            .merged(&crate::storage::StorageOptions::from_options(self.options)?))
    }

    /// DataFusion's target partition count of the session.
    pub fn partitions(&self) -> usize {
        self.session.context().state().config().target_partitions()
    }
}

/// What a sink connector is given for a batch write.
#[derive(Debug, Clone, Copy)]
pub struct WriteContext<'a> {
    /// The session writing.
    pub session: &'a Session,
    /// The output path or address.
    pub path: &'a str,
    /// The options, checked against the connector's declarations.
    pub options: &'a Options,
    /// What to do when the target holds data.
    pub mode: SaveMode,
    /// Partition columns (`partition_by`).
    pub partition_by: &'a [String],
}

impl WriteContext<'_> {
    /// The location `path` names, with the session's and these options' storage settings.
    pub fn location(&self) -> Result<crate::location::Location> {
        location_of(self.session, self.path, self.options)
    }
}

/// A location resolved with the session's storage options and a table's own on top.
pub(crate) fn location_of(
    session: &Session,
    path: &str,
    options: &Options,
) -> Result<crate::location::Location> {
    session.location(
        path,
        &crate::storage::StorageOptions::from_options(options)?,
    )
}

/// What a sink connector is given to build the sink of a streaming query.
#[derive(Clone, Copy)]
pub struct StreamSinkContext<'a> {
    /// The session of the query.
    pub session: &'a Session,
    /// The output path or address.
    pub path: &'a str,
    /// The options, checked against the connector's declarations.
    pub options: &'a Options,
    /// The query's output mode.
    pub output_mode: OutputMode,
    /// The query name, if any.
    pub query_name: Option<&'a str>,
    /// The query (its schema and plan, e.g. for update mode's keys).
    pub df: &'a DataFrame,
    /// The function of `foreach_batch`, if the writer was given one.
    pub foreach: Option<&'a ForeachBatchFn>,
}

impl StreamSinkContext<'_> {
    /// The location `path` names, with the session's and these options' storage settings.
    pub fn location(&self) -> Result<crate::location::Location> {
        location_of(self.session, self.path, self.options)
    }
}

impl Debug for StreamSinkContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSinkContext")
            .field("path", &self.path)
            .field("output_mode", &self.output_mode)
            .finish_non_exhaustive()
    }
}

/// A format data can be read from, found by name.
#[async_trait]
pub trait SourceConnector: Send + Sync + Debug {
    /// The format's name, e.g. `json` (lower case).
    fn name(&self) -> &'static str;

    /// Other names of the format (e.g. `jsonl`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The options the format takes as a source, in groups.
    fn options(&self) -> &'static [&'static [OptionDecl]];

    /// The data at rest, as a table (`session.read()`).
    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        let _ = ctx;
        Err(TributaryError::Plan(format!(
            "format '{}' is a stream only: read it with session.read_stream()",
            self.name()
        )))
    }

    /// The data in motion, as a stream source (`session.read_stream()`).
    async fn read_stream(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn StreamSource>> {
        let _ = ctx;
        Err(TributaryError::Plan(format!(
            "format '{}' cannot be read as a stream: read it with session.read()",
            self.name()
        )))
    }
}

/// A format data can be written to, found by name.
#[async_trait]
pub trait SinkConnector: Send + Sync + Debug {
    /// The format's name, e.g. `delta` (lower case).
    fn name(&self) -> &'static str;

    /// The options the format takes as a sink, in groups.
    fn options(&self) -> &'static [&'static [OptionDecl]];

    /// The output modes a stream into this sink may use.
    fn output_modes(&self) -> &'static [OutputMode] {
        &[OutputMode::Append, OutputMode::Update, OutputMode::Complete]
    }

    /// Whether the sink's output outlives the process, so that a query into it needs a
    /// checkpoint location (false for console, memory, foreach_batch).
    fn durable(&self) -> bool {
        true
    }

    /// Write a batch DataFrame; returns the rows written.
    async fn write(&self, ctx: WriteContext<'_>, df: DataFrame) -> Result<u64> {
        let _ = (ctx, df);
        Err(TributaryError::Plan(format!(
            "format '{}' is a streaming sink only: write with write_stream()",
            self.name()
        )))
    }

    /// The sink of a streaming query.
    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        let _ = ctx;
        Err(TributaryError::Plan(format!(
            "format '{}' takes batch writes only: write with write()",
            self.name()
        )))
    }
}

/// Options of every read, whatever the format (a backfill from an archive).
pub const READ_OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "backfill_path",
        OptionType::Path,
        "an archive read first, up to backfill_boundary, before this source takes over",
    ),
    OptionDecl::new(
        "backfill_boundary_column",
        OptionType::Text,
        "the column that splits archive and live rows",
    ),
    OptionDecl::new(
        "backfill_boundary",
        OptionType::Text,
        "the first value of backfill_boundary_column read from the live source",
    ),
    OptionDecl::new("backfill_format", OptionType::Text, "the archive's format").default("delta"),
    OptionDecl::new(
        "backfill_option.",
        OptionType::Prefix,
        "an option of the archive's format, e.g. backfill_option.version_as_of",
    ),
];

/// Options of every streaming query, whatever the sink.
pub const QUERY_OPTIONS: &[OptionDecl] = &[
    OptionDecl::new("checkpoint_location", OptionType::Path, "where the query keeps its offsets, commits and state (required for durable sinks)"),
    OptionDecl::new("output_mode", OptionType::Choice(&["append", "update", "complete"]), "which rows each epoch writes").default("append"),
    OptionDecl::new("trigger", OptionType::Text, "when epochs start: an interval such as 1s (0s: back to back), available-now, once, or realtime:<checkpoint interval> such as realtime:5s (rows processed as they arrive); overrides .trigger()").default("0s"),
    OptionDecl::new("state_partitions", OptionType::Int { min: 1 }, "partitions of the state store, fixed at the first start").default("4"),
    OptionDecl::new("state_evolution", OptionType::Choice(&["refuse", "rebuild", "reset"]), "when the query changed since its checkpoint and an operator's state cannot be reused as it is (`tributary plan` tells): refuse to start; rebuild (replay the committed epochs through the changed operators: exact, needs every epoch in the offsets log and the sources still holding those rows); or reset (the changed operators start with empty state at the committed offsets)").default("refuse"),
    OptionDecl::new("min_epochs_to_retain", OptionType::Int { min: 1 }, "committed epochs whose offsets and commit files are kept (a state rebuild replays every epoch since the first, so keep them all if you may rebuild)").default("100"),
    OptionDecl::new("state_memory_limit", OptionType::Bytes, "memory for the rows of keyed state (aggregations, deduplication, stream-stream joins), shared by every operator and partition; rows beyond it are kept on local disk, under TMPDIR"),
    OptionDecl::new("flush_at_end", OptionType::Bool, "when an available-now or once run ends, move the watermark to the end and emit every open window").default("false"),
    OptionDecl::new("watermark_idle_timeout", OptionType::Duration, "advance the watermark with the clock once no data came for this long"),
    OptionDecl::new("late_rows_path", OptionType::Path, "keep the rows dropped behind the watermark here, as JSON lines per epoch"),
    OptionDecl::new("multiple_watermark_policy", OptionType::Choice(&["min", "max"]), "how the watermarks of several inputs combine").default("min"),
];

/// The options of a sink that applies its rows as a change stream by key (Delta, PostgreSQL).
pub const CDC_OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "cdc_keys",
        OptionType::List,
        "apply the rows as a change stream on these key columns",
    ),
    OptionDecl::new(
        "cdc_sequence",
        OptionType::Text,
        "CDC: the column that orders the changes of a key",
    ),
    OptionDecl::new(
        "cdc_operation",
        OptionType::Text,
        "CDC: the operation column (d or delete deletes; i/u/c/r, insert or update upsert)",
    )
    .default("op"),
];

/// The connectors a session knows, by name.
#[derive(Debug, Default)]
pub struct Connectors {
    sources: RwLock<BTreeMap<String, Arc<dyn SourceConnector>>>,
    sinks: RwLock<BTreeMap<String, Arc<dyn SinkConnector>>>,
}

/// Formats that exist but are left out of this build, and the feature that brings them.
const NOT_BUILT: &[(&str, &str)] = &[("kafka", "kafka"), ("postgres", "postgres")];

impl Connectors {
    /// The connectors that ship with Tributary: one line each.
    pub fn builtin() -> Self {
        let c = Connectors::default();
        c.add_both(Arc::new(files::FileConnector::JSON));
        c.add_source(Arc::new(files::FileConnector::CSV));
        c.add_both(Arc::new(files::FileConnector::PARQUET));
        c.add_both(Arc::new(delta::DeltaConnector));
        #[cfg(feature = "kafka")]
        c.add_both(Arc::new(kafka::KafkaConnector));
        c.add_source(Arc::new(rate::RateConnector));
        c.add_source(Arc::new(nexmark::NexmarkConnector));
        c.add_source(Arc::new(state::StateConnector));
        #[cfg(feature = "postgres")]
        c.add_both(Arc::new(postgres::PostgresConnector));
        c.add_sink(Arc::new(console::ConsoleConnector));
        c.add_sink(Arc::new(memory::MemoryConnector));
        c.add_sink(Arc::new(foreach_batch::ForeachBatchConnector));
        c
    }

    /// Add (or replace) a source connector.
    pub fn add_source(&self, c: Arc<dyn SourceConnector>) {
        let mut sources = self.sources.write().expect("sources");
        for name in std::iter::once(c.name()).chain(c.aliases().iter().copied()) {
            sources.insert(name.to_ascii_lowercase(), c.clone());
        }
    }

    /// Add (or replace) a sink connector.
    pub fn add_sink(&self, c: Arc<dyn SinkConnector>) {
        self.sinks
            .write()
            .expect("sinks")
            .insert(c.name().to_ascii_lowercase(), c);
    }

    /// Add a connector that is both a source and a sink.
    pub fn add_both<C: SourceConnector + SinkConnector + 'static>(&self, c: Arc<C>) {
        self.add_source(c.clone());
        self.add_sink(c);
    }

    /// The source connector of `format`.
    pub fn source(&self, format: &str) -> Result<Arc<dyn SourceConnector>> {
        let sources = self.sources.read().expect("sources");
        sources
            .get(&format.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| unknown_format(format, "source", sources.keys()))
    }

    /// The sink connector of `format`.
    pub fn sink(&self, format: &str) -> Result<Arc<dyn SinkConnector>> {
        let sinks = self.sinks.read().expect("sinks");
        sinks
            .get(&format.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| unknown_format(format, "sink", sinks.keys()))
    }

    /// The names of the source and sink formats.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        (
            self.sources
                .read()
                .expect("sources")
                .keys()
                .cloned()
                .collect(),
            self.sinks.read().expect("sinks").keys().cloned().collect(),
        )
    }
}

fn unknown_format<'a>(
    format: &str,
    role: &str,
    known: impl Iterator<Item = &'a String>,
) -> TributaryError {
    let lower = format.to_ascii_lowercase();
    if let Some((_, feature)) = NOT_BUILT.iter().find(|(f, _)| *f == lower) {
        return TributaryError::Plan(format!(
            "this build of Tributary has no '{lower}' support: build it with the '{feature}' feature"
        ));
    }
    let known: Vec<&str> = known.map(String::as_str).collect();
    TributaryError::Plan(format!(
        "unknown {role} format '{format}': use one of {}",
        known.join(", ")
    ))
}

/// Check `given` against the declarations of a connector plus those of its use (reader or
/// query); the error names the owner and suggests the nearest option.
pub fn resolve_options<'k>(
    owner: &str,
    groups: &[&[OptionDecl]],
    given: impl IntoIterator<Item = (&'k String, &'k String)>,
) -> Result<Options> {
    OptionScope { owner, groups }.resolve(given)
}

/// The options of `format` as Markdown: as a source and as a sink, each followed (when
/// `with_common`) by the options every read or every streaming query takes. What
/// `tributary options FORMAT` prints.
pub fn describe_format(connectors: &Connectors, format: &str) -> Result<String> {
    describe(connectors, format, true)
}

fn describe(connectors: &Connectors, format: &str, with_common: bool) -> Result<String> {
    let source = connectors.source(format).ok();
    let sink = connectors.sink(format).ok();
    if source.is_none() && sink.is_none() {
        return Err(connectors.source(format).unwrap_err());
    }
    let own = |groups: &[&[OptionDecl]]| {
        if groups.iter().all(|g| g.is_empty()) {
            "No options of its own.\n".to_string()
        } else {
            options::describe(groups)
        }
    };
    let mut out = format!("## `{}`\n", format.to_ascii_lowercase());
    if let Some(c) = source {
        out.push_str("\nAs a source (`read`, `read_stream`, a job file's source table):\n\n");
        out.push_str(&own(c.options()));
        if with_common {
            out.push_str("\nAnd the options of every read:\n\n");
            out.push_str(&options::describe(&[READ_OPTIONS]));
        }
    }
    if let Some(c) = sink {
        out.push_str(&format!(
            "\nAs a sink (`write`, `write_stream`, a job file's INSERT target; output modes: {}):\n\n",
            c.output_modes()
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        out.push_str(&own(c.options()));
        if with_common {
            out.push_str("\nAnd the options of every streaming query:\n\n");
            out.push_str(&options::describe(&[QUERY_OPTIONS]));
        }
    }
    Ok(out)
}

/// Every built-in format's options, as the Markdown page `docs/options.md`.
pub fn options_reference() -> String {
    let connectors = Connectors::builtin();
    let (sources, sinks) = connectors.names();
    let mut names: Vec<String> = sources.into_iter().chain(sinks).collect();
    names.sort();
    names.dedup();
    // Aliases (jsonl, ndjson) share their format's section.
    names.retain(|n| {
        connectors
            .source(n)
            .map_or(true, |c| c.name() == n.as_str())
    });
    let mut out = String::from(
        "# Options\n\nEvery option of every format, generated from the declarations in \
         `crates/tributary/src/connector/` (`tributary options FORMAT` prints one format). \
         Names are case-insensitive and Spark's camelCase spellings work too \
         (`maxFilesPerTrigger` = `max_files_per_trigger`); an unknown option is an error that \
         suggests the nearest one, and a value of the wrong type names the option, the value \
         and what is expected.\n\n## Every read\n\nAny source format also takes:\n\n",
    );
    out.push_str(&options::describe(&[READ_OPTIONS]));
    out.push_str("\n## Every streaming query\n\nAny `write_stream()` also takes:\n\n");
    out.push_str(&options::describe(&[QUERY_OPTIONS]));
    out.push('\n');
    for n in names {
        out.push_str(&describe(&connectors, &n, false).expect("a registered format"));
        out.push('\n');
    }
    out
}
