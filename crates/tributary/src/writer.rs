//! `df.write()` (batch) and `df.write_stream()` (stream).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::LogicalPlan;
use futures::FutureExt;

use crate::connector::{resolve_options, StreamSinkContext, WriteContext, QUERY_OPTIONS};
use crate::error::{Result, TributaryError};
use crate::exec::driver::{start_query, QuerySpec};
use crate::format::FileTable;
use crate::location::Location;
use crate::modes::{OutputMode, SaveMode, Trigger};
use crate::plan::is_streaming;
use crate::query::StreamingQuery;
use crate::session::Session;
use crate::sink::{ForeachBatchFn, Sink};
use crate::DataFrame;

/// Tributary's methods on DataFusion's DataFrame.
pub trait DataFrameExt {
    /// Write a batch DataFrame.
    fn write(self) -> DataFrameWriter;
    /// Start a streaming DataFrame as a query.
    fn write_stream(self) -> DataStreamWriter;
    /// Whether the DataFrame reads a streaming source.
    fn is_streaming(&self) -> bool;
    /// Declare `column` as event time and allow rows to arrive up to `delay` late (e.g.
    /// `"10 minutes"`): the watermark is the latest event time seen minus the delay. Stateful
    /// operators drop rows behind it and close windows that end before it. In a batch it does
    /// nothing.
    fn with_watermark(self, column: &str, delay: &str) -> Result<DataFrame>;
    /// Keep the first row of each distinct combination of `columns` (every column when empty).
    /// On a stream the keys seen are state; when the event-time column is one of the keys and
    /// has a watermark, keys behind the watermark are forgotten (and late rows dropped).
    fn drop_duplicates(self, columns: &[&str]) -> Result<DataFrame>;
    /// Like `drop_duplicates`, on keys without the event time: a key is remembered until the
    /// watermark passes its first event time plus the watermark's delay. Needs a watermark.
    fn drop_duplicates_within_watermark(self, columns: &[&str]) -> Result<DataFrame>;
    /// Group by key columns for user-defined state (`map_groups_with_state`,
    /// `flat_map_groups_with_state`).
    fn group_by_key(self, columns: &[&str]) -> Result<crate::keyed::KeyedDataFrame>;
    /// The DataFrame with the types its rows will have: a union or a `CASE` of mixed types
    /// (`1` and `2.5`) says DOUBLE, as running it gives, where DataFusion's plan says the first
    /// input's type until it runs. Writers call it; call it before reading `schema()`.
    fn with_resolved_types(self) -> Result<DataFrame>;
}

impl DataFrameExt for DataFrame {
    fn write(self) -> DataFrameWriter {
        DataFrameWriter {
            df: self,
            format: "parquet".into(),
            mode: SaveMode::ErrorIfExists,
            options: HashMap::new(),
            partition_by: Vec::new(),
        }
    }

    fn write_stream(self) -> DataStreamWriter {
        DataStreamWriter {
            df: self,
            format: None,
            options: HashMap::new(),
            output_mode: OutputMode::Append,
            trigger: Trigger::default(),
            query_name: None,
            foreach: None,
            sink: None,
        }
    }

    fn is_streaming(&self) -> bool {
        is_streaming(self.logical_plan())
    }

    fn with_resolved_types(self) -> Result<DataFrame> {
        crate::plan::coerced(self)
    }

    fn with_watermark(self, column: &str, delay: &str) -> Result<DataFrame> {
        let delay_ms = crate::modes::parse_duration(delay)
            .ok_or_else(|| TributaryError::Option {
                option: "watermark_delay".into(),
                message: format!(
                    "cannot read '{delay}': write it like '30 seconds', '10 minutes' or '1 hour'"
                ),
            })?
            .as_millis() as i64;
        let (state, plan) = self.into_parts();
        let node = crate::plan::EventTimeWatermark::try_new(plan, column, delay_ms)
            .map_err(TributaryError::df("with_watermark"))?;
        Ok(DataFrame::new(state, node.into_plan()))
    }

    fn group_by_key(self, columns: &[&str]) -> Result<crate::keyed::KeyedDataFrame> {
        for c in columns {
            if self.schema().index_of_column_by_name(None, c).is_none() {
                return Err(TributaryError::Plan(format!(
                    "group_by_key: there is no column '{c}'; the columns are [{}]",
                    crate::plan::column_list(self.schema().fields())
                )));
            }
        }
        Ok(crate::keyed::KeyedDataFrame {
            df: self,
            keys: columns.iter().map(|c| c.to_string()).collect(),
        })
    }

    fn drop_duplicates(self, columns: &[&str]) -> Result<DataFrame> {
        let (state, plan) = self.into_parts();
        let node = crate::plan::Deduplicate::try_new(plan, columns, false)
            .map_err(TributaryError::df("drop_duplicates"))?;
        Ok(DataFrame::new(state, node.into_plan()))
    }

    fn drop_duplicates_within_watermark(self, columns: &[&str]) -> Result<DataFrame> {
        let (state, plan) = self.into_parts();
        if !crate::plan::has_watermark(&plan) {
            return Err(TributaryError::Plan(
                "drop_duplicates_within_watermark needs a watermark: call \
                 with_watermark(column, delay) first"
                    .into(),
            ));
        }
        let node = crate::plan::Deduplicate::try_new(plan, columns, true)
            .map_err(TributaryError::df("drop_duplicates_within_watermark"))?;
        Ok(DataFrame::new(state, node.into_plan()))
    }
}

/// What a batch write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows written.
    pub rows: u64,
    /// Bad input records routed aside.
    pub bad_records: u64,
    /// Where the bad records went, if any.
    pub bad_records_path: Option<String>,
}

/// Writes a batch DataFrame: `df.write()`.
#[derive(Debug)]
pub struct DataFrameWriter {
    df: DataFrame,
    format: String,
    mode: SaveMode,
    options: HashMap<String, String>,
    partition_by: Vec<String>,
}

impl DataFrameWriter {
    /// `delta`, `parquet` (default), `json`, or `console`.
    pub fn format(mut self, format: &str) -> Self {
        self.format = format.to_ascii_lowercase();
        self
    }

    /// What to do when the target has data (default: error if exists).
    pub fn mode(mut self, mode: SaveMode) -> Self {
        self.mode = mode;
        self
    }

    /// An option of the format.
    pub fn option(mut self, key: &str, value: impl ToString) -> Self {
        self.options
            .insert(key.to_ascii_lowercase(), value.to_string());
        self
    }

    /// Partition columns of a Delta table created by this write.
    pub fn partition_by<S: ToString>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.partition_by = cols.into_iter().map(|c| c.to_string()).collect();
        self
    }

    /// Run the DataFrame and write it to `path`.
    pub async fn save(mut self, path: &str) -> Result<WriteSummary> {
        self.df = crate::plan::coerced(self.df)?;
        if is_streaming(self.df.logical_plan()) {
            return Err(TributaryError::Plan(
                "this DataFrame reads a stream: write it with write_stream().start(..), or read the \
                 input with session.read() to run a batch"
                    .into(),
            ));
        }
        let session = Session::of(&self.df.clone().into_parts().0).unwrap_or_default();
        let connector = session.connectors().sink(&self.format)?;
        let options = resolve_options(
            &format!("format '{}'", connector.name()),
            connector.options(),
            self.options.iter(),
        )?;
        let plan = self.df.logical_plan().clone();
        let rows = connector
            .write(
                WriteContext {
                    session: &session,
                    path,
                    options: &options,
                    mode: self.mode,
                    partition_by: &self.partition_by,
                },
                self.df,
            )
            .await?;
        let storage = session
            .storage_options()
            .merged(&crate::storage::StorageOptions::from_options(&options)?);
        let (bad_records, bad_records_path) =
            flush_batch_bad_records(&plan, path, &storage).await?;
        Ok(WriteSummary {
            rows,
            bad_records,
            bad_records_path,
        })
    }
}

/// The file tables a plan reads.
pub(crate) fn file_tables(
    plan: &LogicalPlan,
) -> Vec<Arc<dyn datafusion::datasource::TableProvider>> {
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Ok(p) = source_as_provider(&scan.source) {
                let any: &dyn std::any::Any = p.as_ref();
                if any.downcast_ref::<FileTable>().is_some() {
                    out.push(p.clone());
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

async fn flush_batch_bad_records(
    plan: &LogicalPlan,
    target: &str,
    storage: &crate::storage::StorageOptions,
) -> Result<(u64, Option<String>)> {
    let mut total = 0;
    let mut where_to = None;
    for p in file_tables(plan) {
        let any: &dyn std::any::Any = p.as_ref();
        let Some(table) = any.downcast_ref::<FileTable>() else {
            continue;
        };
        let n = table.bad_records().count();
        if n == 0 {
            continue;
        }
        total += n;
        let dir = match table.bad_records_path() {
            Some(d) => d.clone(),
            None => Location::resolve_with(
                &format!("{}.bad_records", target.trim_end_matches('/')),
                storage,
            )?,
        };
        dir.ensure_dir()?;
        let name = format!(
            "batch-{}-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        table.bad_records().flush_to(&dir, &name).await?;
        tracing::warn!(count = n, path = %dir.display, "bad input records routed to the dead-letter location");
        where_to = Some(dir.display.clone());
    }
    Ok((total, where_to))
}

/// Starts a streaming DataFrame as a query: `df.write_stream()`.
pub struct DataStreamWriter {
    df: DataFrame,
    format: Option<String>,
    options: HashMap<String, String>,
    output_mode: OutputMode,
    trigger: Trigger,
    query_name: Option<String>,
    foreach: Option<ForeachBatchFn>,
    sink: Option<Arc<dyn Sink>>,
}

impl std::fmt::Debug for DataStreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataStreamWriter")
            .field("format", &self.format)
            .field("options", &self.options)
            .field("output_mode", &self.output_mode)
            .field("trigger", &self.trigger)
            .field("query_name", &self.query_name)
            .finish()
    }
}

impl DataStreamWriter {
    /// `delta`, `parquet`, `json`, `console` or `memory`.
    pub fn format(mut self, format: &str) -> Self {
        self.format = Some(format.to_ascii_lowercase());
        self
    }

    /// An option: `checkpoint_location`, the query's options and the sink's (see
    /// `tributary options FORMAT`); an unknown one is an error when the query starts.
    pub fn option(mut self, key: &str, value: impl ToString) -> Self {
        self.options
            .insert(key.to_ascii_lowercase(), value.to_string());
        self
    }

    /// The output mode (default append).
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.output_mode = mode;
        self
    }

    /// When epochs start (default: back to back, when there is new data).
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// The query name (also the table name of a memory sink).
    pub fn query_name(mut self, name: &str) -> Self {
        self.query_name = Some(name.to_string());
        self
    }

    /// Call `f(df, epoch)` with each epoch's output instead of writing to a sink.
    pub fn foreach_batch<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(DataFrame, u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.foreach = Some(Arc::new(move |df, epoch| f(df, epoch).boxed()));
        self
    }

    /// Write to a sink of your own.
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Start the query; `path` is the output location (ignored by console, memory and
    /// foreach_batch sinks). Returns once the checkpoint has been read and the query runs.
    pub async fn start(self, path: &str) -> Result<StreamingQuery> {
        start_query(self.spec(path).await?).await
    }

    /// Compare the query with the one that wrote its checkpoint, without starting it or
    /// writing anything: per stateful operator, whether its state is reused, extended, must be
    /// rebuilt, or is incompatible (`tributary plan`). `None`: the checkpoint is new.
    pub async fn check_state(
        self,
        path: &str,
    ) -> Result<Option<crate::plan::evolution::EvolutionReport>> {
        crate::exec::driver::plan_evolution(self.spec(path).await?).await
    }

    async fn spec(mut self, path: &str) -> Result<QuerySpec> {
        self.df = crate::plan::coerced(self.df)?;
        let session = Session::of(&self.df.clone().into_parts().0).ok_or_else(|| {
            TributaryError::Plan(
                "this DataFrame was not made by a tributary Session: read it with \
                 session.read_stream() (or use Session::with_context to wrap your SessionContext)"
                    .into(),
            )
        })?;
        if !is_streaming(self.df.logical_plan()) {
            return Err(TributaryError::Plan(
                "write_stream() needs a streaming DataFrame (from session.read_stream()); for data at \
                 rest use write()"
                    .into(),
            ));
        }
        let format = if self.sink.is_some() {
            None
        } else if self.foreach.is_some() {
            Some("foreach_batch".to_string())
        } else {
            Some(self.format.clone().unwrap_or_else(|| "parquet".into()))
        };
        let connector = match &format {
            Some(f) => Some(session.connectors().sink(f)?),
            None => None,
        };
        let mut groups: Vec<&[crate::connector::OptionDecl]> = connector
            .as_ref()
            .map(|c| c.options().to_vec())
            .unwrap_or_default();
        groups.push(QUERY_OPTIONS);
        // The checkpoint may be in object storage even when the sink is not.
        if !groups.iter().any(|g| {
            g.first()
                .is_some_and(|d| d.name == crate::storage::STORAGE_OPTIONS[0].name)
        }) {
            groups.push(crate::storage::STORAGE_OPTIONS);
        }
        let owner = match &connector {
            Some(c) => format!("format '{}'", c.name()),
            None => "a streaming query".to_string(),
        };
        let options = resolve_options(&owner, &groups, self.options.iter())?;
        let output_mode = match options.given("output_mode") {
            Some(m) => m.parse()?,
            None => self.output_mode,
        };
        let trigger = match options.given("trigger") {
            Some(t) => t.parse()?,
            None => self.trigger,
        };
        crate::exec::driver::check_streaming_plan(
            &self.df.clone().into_parts().0,
            self.df.logical_plan().clone(),
            output_mode,
        )?;
        let (sink, ephemeral): (Arc<dyn Sink>, bool) = match (self.sink, connector) {
            (Some(s), _) => (s, false),
            (None, Some(c)) => {
                if !c.output_modes().contains(&output_mode) {
                    return Err(TributaryError::Plan(format!(
                        "the {} sink takes output mode {} only, not '{output_mode}': use append \
                         (with a watermark, windows are written once, when final), or write to a \
                         Delta table (update merges, complete overwrites), or a memory, console, \
                         kafka or foreach_batch sink",
                        c.name(),
                        c.output_modes()
                            .iter()
                            .map(|m| format!("'{m}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let sink = c
                    .stream_sink(StreamSinkContext {
                        session: &session,
                        path,
                        options: &options,
                        output_mode,
                        query_name: self.query_name.as_deref(),
                        df: &self.df,
                        foreach: self.foreach.as_ref(),
                    })
                    .await?;
                (sink, !c.durable())
            }
            (None, None) => unreachable!("a format is chosen when there is no sink"),
        };
        let checkpoint = match options.given("checkpoint_location") {
            Some(c) => c.to_string(),
            None => match (session.conf("checkpoint_root"), &self.query_name) {
                (Some(root), Some(name)) => format!("{}/{name}", root.trim_end_matches('/')),
                _ if ephemeral => std::env::temp_dir()
                    .join(format!("tributary-checkpoint-{}", uuid::Uuid::new_v4()))
                    .display()
                    .to_string(),
                _ => {
                    return Err(TributaryError::option(
                        "checkpoint_location",
                        format!(
                        "the query writing to {} needs a checkpoint location to be exactly-once \
                             across restarts: set .option(\"checkpoint_location\", dir)",
                        sink.description()
                    ),
                    ))
                }
            },
        };
        let checkpoint = session.location(
            &checkpoint,
            &crate::storage::StorageOptions::from_options(&options)?,
        )?;
        Ok(QuerySpec {
            session,
            df: self.df,
            sink,
            trigger,
            output_mode,
            name: self.query_name,
            checkpoint,
            options,
        })
    }
}
