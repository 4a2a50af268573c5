//! The Delta sink: one Delta commit per epoch, made idempotent by Delta's application
//! transaction (`txn` action: appId = query id, version = epoch), exactly as Spark does.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use tokio::sync::Mutex;

use super::cdc::{self, CdcFormat, CdcOptions};
use super::conform::{conform, conformed_schema, schema_mismatch};
use super::merge;
use crate::error::{Result, TributaryError};
use crate::location::Location;
use crate::sink::{EpochOutput, Sink, SinkContext};
use tributary_checkpoint::{compare_sink, Epoch, SinkAgreement};

/// Options of the Delta sink.
#[derive(Debug, Clone, Default)]
pub struct DeltaSinkOptions {
    /// Partition columns of a table the sink creates (`partition_by`, comma-separated).
    pub partition_by: Vec<String>,
    /// Update mode: the columns each epoch's rows are merged on (`merge_keys`); by default
    /// the aggregation's grouping keys.
    pub merge_keys: Option<Vec<String>>,
    /// Add new columns of the query to the table instead of failing (`merge_schema`).
    pub merge_schema: bool,
    /// Table properties of a table the sink creates: `delta.*` options, plus
    /// `enable_change_data_feed` and `checkpoint_interval`.
    pub properties: Vec<(String, String)>,
    /// Apply the rows as a change stream (`cdc_keys`, `cdc_sequence`, `cdc_format`).
    pub cdc: Option<CdcOptions>,
    /// Compact small files after a commit leaves at least this many of them (`auto_compact`
    /// turns it on; `auto_compact_min_files`, default 50).
    pub auto_compact: Option<usize>,
    /// Target file size of compaction in bytes (`target_file_size`).
    pub target_file_size: Option<u64>,
}

/// Delta's spelling of a table property: options arrive lower-cased, Delta's names are camel
/// case (`delta.appendOnly`).
fn delta_property_name(key: &str) -> String {
    const KNOWN: &[&str] = &[
        "delta.appendOnly",
        "delta.autoOptimize.autoCompact",
        "delta.autoOptimize.optimizeWrite",
        "delta.checkpointInterval",
        "delta.checkpoint.writeStatsAsJson",
        "delta.checkpoint.writeStatsAsStruct",
        "delta.columnMapping.mode",
        "delta.dataSkippingNumIndexedCols",
        "delta.dataSkippingStatsColumns",
        "delta.deletedFileRetentionDuration",
        "delta.enableChangeDataFeed",
        "delta.enableDeletionVectors",
        "delta.isolationLevel",
        "delta.logRetentionDuration",
        "delta.enableExpiredLogCleanup",
        "delta.minReaderVersion",
        "delta.minWriterVersion",
        "delta.setTransactionRetentionDuration",
        "delta.targetFileSize",
        "delta.tuneFileSizesForRewrites",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map_or_else(|| key.to_string(), |k| k.to_string())
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl DeltaSinkOptions {
    /// Parse the Delta sink's options.
    pub fn parse(options: &std::collections::HashMap<String, String>) -> Result<Self> {
        let get = |k: &str| options.get(k).or_else(|| options.get(&k.replace('_', "")));
        let flag = |k: &str| get(k).map_or(Ok(false), |v| crate::format::parse_bool(k, v));
        let mut properties: Vec<(String, String)> = options
            .iter()
            .filter(|(k, _)| k.starts_with("delta."))
            .map(|(k, v)| (delta_property_name(k), v.clone()))
            .collect();
        if flag("enable_change_data_feed")? {
            properties.push(("delta.enableChangeDataFeed".into(), "true".into()));
        }
        if let Some(n) = get("checkpoint_interval") {
            n.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                TributaryError::option(
                    "checkpoint_interval",
                    format!("'{n}' is not a positive number of commits"),
                )
            })?;
            properties.push(("delta.checkpointInterval".into(), n.clone()));
        }
        // A Delta checkpoint every 10 commits, as Delta on Spark writes them (delta-rs alone
        // waits 100): a writer's snapshot replays the commits since the last checkpoint, so
        // this bounds the cost of each epoch's commit on a table that lives for months.
        if !properties
            .iter()
            .any(|(k, _)| k == "delta.checkpointInterval")
        {
            properties.push((
                "delta.checkpointInterval".into(),
                DEFAULT_CHECKPOINT_INTERVAL.to_string(),
            ));
        }
        properties.sort();
        let cdc = match get("cdc_keys") {
            None => None,
            Some(keys) => {
                let format = match get("cdc_format").map(|f| f.to_ascii_lowercase()).as_deref() {
                    None | Some("operation") => {
                        CdcFormat::Operation(get("cdc_operation").cloned().unwrap_or_else(|| "op".into()))
                    }
                    Some("debezium") => CdcFormat::Debezium,
                    Some(other) => {
                        return Err(TributaryError::option(
                            "cdc_format",
                            format!("'{other}' is not a change format: use 'operation' (with cdc_operation) or 'debezium'"),
                        ))
                    }
                };
                let sequence = get("cdc_sequence").cloned().ok_or_else(|| {
                    TributaryError::option(
                        "cdc_sequence",
                        "CDC apply needs the column that orders the changes of a key (a version, LSN or timestamp)",
                    )
                })?;
                Some(CdcOptions {
                    keys: list(keys),
                    sequence,
                    format,
                })
            }
        };
        let auto_compact = if flag("auto_compact")? {
            Some(match get("auto_compact_min_files") {
                None => 50,
                Some(n) => n.parse::<usize>().ok().filter(|n| *n > 1).ok_or_else(|| {
                    TributaryError::option(
                        "auto_compact_min_files",
                        format!("'{n}' is not a number above 1"),
                    )
                })?,
            })
        } else {
            None
        };
        let target_file_size = match get("target_file_size") {
            None => None,
            Some(v) => Some(
                crate::connector::options::parse_bytes(v)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        TributaryError::option(
                            "target_file_size",
                            format!("'{v}' is not a size: give bytes, or a number with k, m or g"),
                        )
                    })?,
            ),
        };
        Ok(DeltaSinkOptions {
            partition_by: get("partition_by").map(|v| list(v)).unwrap_or_default(),
            merge_keys: get("merge_keys").map(|v| list(v)),
            merge_schema: flag("merge_schema")?,
            properties,
            cdc,
            auto_compact,
            target_file_size,
        })
    }
}

/// Writes each epoch to a Delta table, exactly once: appends, overwrites (complete mode),
/// merges (update mode), or applies changes (CDC).
#[derive(Debug)]
pub struct DeltaSink {
    location: Location,
    options: DeltaSinkOptions,
    app_id: Mutex<Option<String>>,
    mode: Mutex<crate::OutputMode>,
    tombstones: Mutex<Option<Location>>,
    table: Mutex<Option<LoadedTable>>,
}

/// The sink's open table, with what it knows without reading the log again.
#[derive(Debug)]
struct LoadedTable {
    table: DeltaTable,
    /// The epoch of this query the table last committed: read from the log once at open, then
    /// kept by the sink (the checkpoint lease makes it the only writer of this query's epochs).
    last_epoch: Option<u64>,
    /// Commits made through this snapshot since it was loaded from storage.
    commits: u64,
}

/// After this many commits the sink loads its table afresh from the newest Delta checkpoint:
/// a snapshot brought forward commit by commit keeps growing (about 0.25 MiB per commit, and
/// each commit slower than the last, measured with `tributary-bench soak`), one loaded from a
/// checkpoint is the size of the table plus the commits after the checkpoint.
const RELOAD_AFTER_COMMITS: u64 = 10;

/// The Delta checkpoint interval of the tables the sink creates (Delta on Spark's default).
const DEFAULT_CHECKPOINT_INTERVAL: u64 = 10;

impl DeltaSink {
    /// A sink into the table at `location` (created by the first epoch if missing).
    pub fn new(location: Location, options: DeltaSinkOptions) -> Self {
        DeltaSink {
            location,
            options,
            app_id: Mutex::new(None),
            mode: Mutex::new(crate::OutputMode::Append),
            tombstones: Mutex::new(None),
            table: Mutex::new(None),
        }
    }
}

impl DeltaSink {
    /// The epoch of `app_id` the table last committed.
    async fn last_epoch(&self, table: &DeltaTable, app_id: &str) -> Result<Option<u64>> {
        if table.version().is_none() {
            return Ok(None);
        }
        Ok(table
            .snapshot()
            .map_err(TributaryError::delta(&self.location.display))?
            .transaction_version(table.log_store().as_ref(), app_id)
            .await
            .map_err(TributaryError::delta(&self.location.display))?
            .map(|v| v.max(0) as u64))
    }

    /// Commit the epoch's txn marker alone when the epoch's write left none.
    async fn ensure_txn(
        &self,
        table: DeltaTable,
        app_id: &str,
        epoch: Epoch,
        committed: bool,
    ) -> Result<DeltaTable> {
        if committed {
            return Ok(table);
        }
        let schema = Arc::new(table_schema(&self.location, &table)?);
        let how = TableWrite {
            txn: Some((app_id.to_string(), epoch.0 as i64)),
            ..Default::default()
        };
        write_delta(&self.location, table, schema, vec![], SaveMode::Append, how).await
    }

    /// The epoch of this query the table last committed must be the checkpoint's (or the one
    /// about to be run again): otherwise the checkpoint and the table were separated, and
    /// running on would lose rows or leave some out.
    async fn check_against_checkpoint(
        &self,
        table: &DeltaTable,
        ctx: &SinkContext,
    ) -> Result<Option<u64>> {
        let sink_epoch = self.last_epoch(table, &ctx.query_id).await?;
        let checkpoint = ctx.dir.display.trim_end_matches("/sink").to_string();
        let table_name = &self.location.display;
        let id = &ctx.query_id;
        match compare_sink(sink_epoch, ctx.committed_epoch, ctx.rerun_epoch) {
            SinkAgreement::Agrees => Ok(sink_epoch),
            SinkAgreement::Ahead { sink, checkpoint: c } => Err(TributaryError::Plan(format!(
                "the Delta table '{table_name}' already holds epoch {sink} of query {id}, but its \
                 checkpoint '{checkpoint}' has committed {}: the checkpoint is older than the \
                 table (restored from a copy?). Running on would skip epochs as already written \
                 and lose their rows. Safe ways on: put back the checkpoint that goes with the \
                 table; or start over into an empty table with a new checkpoint location",
                c.map_or("no epoch".to_string(), |c| format!("only up to epoch {}", c.0))
            ))),
            SinkAgreement::Behind { sink, checkpoint: c } => Err(TributaryError::Plan(format!(
                "the Delta table '{table_name}' {} of query {id}, but its checkpoint \
                 '{checkpoint}' has committed up to epoch {}: the table was deleted, replaced or \
                 rolled back. Running on would leave out the rows of the lost epochs. Safe ways \
                 on: put back a copy of the table that holds epoch {} (Delta's RESTORE does not \
                 bring back the epochs it undoes); or rebuild it: an empty table and a new checkpoint location read all the input \
                 again",
                sink.map_or("holds no epoch".to_string(), |s| format!(
                    "holds epochs only up to {s}"
                )),
                c.0,
                c.0
            ))),
        }
    }
}

/// Create an empty Delta table at `location` with `schema` and the sink `options` (partitioning,
/// properties) unless one exists: a query that streams from a table another query of the same
/// job writes can then start before the writer's first commit.
pub async fn create_table_if_missing(
    location: &Location,
    schema: SchemaRef,
    options: &std::collections::HashMap<String, String>,
) -> Result<()> {
    let o = DeltaSinkOptions::parse(options)?;
    let table = open_table(location).await?;
    if table.version().is_some() {
        return Ok(());
    }
    let how = TableWrite {
        partition_by: &o.partition_by,
        properties: &o.properties,
        ..Default::default()
    };
    write_delta(location, table, schema, vec![], SaveMode::Append, how).await?;
    Ok(())
}

/// Open (or prepare to create) the Delta table at `location`.
pub(crate) async fn open_table(location: &Location) -> Result<DeltaTable> {
    if !location.is_remote() && location.display.contains('%') {
        // deltalake writes the log under the literal name and reads it back percent-decoded
        // (`d%41` becomes `dA`), so such a table could be written but never read.
        return Err(TributaryError::Plan(format!(
            "Delta table '{}': deltalake cannot use a table path holding '%' (it reads              '%41' back as 'A'); rename the folder",
            location.display
        )));
    }
    location.ensure_dir()?;
    crate::storage::open_or_new(location)
        .await
        .map_err(TributaryError::delta(&location.display))
}

/// How one write goes to a Delta table.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableWrite<'a> {
    /// Partition columns, when the write creates the table.
    pub partition_by: &'a [String],
    /// Table properties, when the write creates the table.
    pub properties: &'a [(String, String)],
    /// Add the rows' new columns to the table.
    pub merge_schema: bool,
    /// The application transaction to commit with.
    pub txn: Option<(String, i64)>,
}

/// The table's schema as Arrow's.
fn table_schema(location: &Location, table: &DeltaTable) -> Result<Schema> {
    Ok(table
        .snapshot()
        .map_err(TributaryError::delta(&location.display))?
        .snapshot()
        .arrow_schema()
        .as_ref()
        .clone())
}

/// Refuse rows that do not fit the table's schema, naming the columns.
fn check_schema(location: &Location, table: &Schema, schema: &Schema) -> Result<()> {
    match schema_mismatch(schema, table) {
        None => Ok(()),
        Some(details) => Err(TributaryError::SchemaMismatch {
            sink: format!("DeltaSink[{}]", location.display),
            details,
        }),
    }
}

/// Check the rows against an existing table (unless `merge_schema`) and cast them to its
/// exact types (list element names, string kinds, nested fields).
pub(crate) fn fit_rows(
    location: &Location,
    table: &DeltaTable,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    check: bool,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let Some(target) = fitting_target(location, table, &schema, check)? else {
        return Ok((schema, batches));
    };
    let conformed = conformed_schema(&schema, &target);
    Ok((conformed, conform(batches, &target)?))
}

/// Write batches to a Delta table with a save mode.
pub(crate) async fn write_delta(
    location: &Location,
    table: DeltaTable,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    mode: SaveMode,
    how: TableWrite<'_>,
) -> Result<DeltaTable> {
    check_partition_columns(location, &schema, how.partition_by)?;
    let check = mode != SaveMode::Overwrite && !how.merge_schema;
    let (schema, batches) = fit_rows(location, &table, schema, batches, check)?;
    let batches = if batches.is_empty() {
        vec![RecordBatch::new_empty(schema)]
    } else {
        batches
    };
    let builder = table.write(batches);
    run_write(location, builder, mode, how).await
}

/// The table's schema when the rows must fit it (`None` for a new table), checked against
/// `schema` when `check` (not when the write replaces the table or merges new columns in).
pub(crate) fn fitting_target(
    location: &Location,
    table: &DeltaTable,
    schema: &Schema,
    check: bool,
) -> Result<Option<Schema>> {
    if table.version().is_none() {
        return Ok(None);
    }
    let target = table_schema(location, table)?;
    if check {
        check_schema(location, &target, schema)?;
    }
    Ok(Some(target))
}

/// Partition columns the rows do not have are an error naming the columns there are (the
/// Delta kernel's own message names neither).
pub(crate) fn check_partition_columns(
    location: &Location,
    schema: &Schema,
    partition_by: &[String],
) -> Result<()> {
    match partition_by.iter().find(|c| schema.index_of(c).is_err()) {
        None => Ok(()),
        Some(missing) => Err(TributaryError::option(
            "partition_by",
            format!(
                "the rows written to '{}' have no column '{missing}' to partition by; the \
                 columns are [{}]",
                location.display,
                crate::plan::column_list(schema.fields())
            ),
        )),
    }
}

/// Configure a write (save mode, transaction, partitioning, properties, schema merge) and commit it.
pub(crate) async fn run_write(
    location: &Location,
    builder: deltalake::operations::write::WriteBuilder,
    mode: SaveMode,
    how: TableWrite<'_>,
) -> Result<DeltaTable> {
    let mut commit = CommitProperties::default();
    if let Some((app_id, version)) = how.txn {
        commit = commit.with_application_transaction(Transaction::new(app_id, version));
    }
    let mut builder = builder.with_save_mode(mode).with_commit_properties(commit);
    if !how.partition_by.is_empty() {
        builder = builder.with_partition_columns(how.partition_by.to_vec());
    }
    if !how.properties.is_empty() {
        builder = builder.with_configuration(
            how.properties
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        );
    }
    if how.merge_schema {
        builder = builder.with_schema_mode(deltalake::operations::write::SchemaMode::Merge);
    }
    builder.await.map_err(|e| match e {
        deltalake::DeltaTableError::SchemaMismatch { msg } => TributaryError::SchemaMismatch {
            sink: format!("DeltaSink[{}]", location.display),
            details: format!("{msg}; set merge_schema to add new columns to the table"),
        },
        other => TributaryError::delta(&location.display)(other),
    })
}

#[async_trait]
impl Sink for DeltaSink {
    fn description(&self) -> String {
        format!("DeltaSink[{}]", self.location.display)
    }

    async fn open(&self, ctx: &SinkContext) -> Result<()> {
        *self.app_id.lock().await = Some(ctx.query_id.clone());
        *self.mode.lock().await = ctx.output_mode;
        *self.tombstones.lock().await = Some(ctx.dir.child("cdc_tombstones"));
        if ctx.output_mode == crate::OutputMode::Update && self.options.merge_keys.is_none() {
            return Err(TributaryError::Plan(format!(
                "{}: update mode merges each epoch's rows on a key; set the option merge_keys",
                self.description()
            )));
        }
        let table = open_table(&self.location).await?;
        let last_epoch = self.check_against_checkpoint(&table, ctx).await?;
        *self.table.lock().await = Some(LoadedTable {
            table,
            last_epoch,
            commits: 0,
        });
        Ok(())
    }

    async fn holds_epoch(&self, epoch: Epoch) -> Result<bool> {
        let guard = self.table.lock().await;
        Ok(guard
            .as_ref()
            .is_some_and(|t| t.last_epoch >= Some(epoch.0)))
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        let app_id = self
            .app_id
            .lock()
            .await
            .clone()
            .ok_or_else(|| TributaryError::Internal("Delta sink used before open()".into()))?;
        let mut guard = self.table.lock().await;
        let loaded = match guard.take() {
            Some(loaded) if loaded.commits < RELOAD_AFTER_COMMITS => Some(loaded),
            Some(loaded) => {
                // Drop the long-lived snapshot before loading the new one.
                let last_epoch = loaded.last_epoch;
                drop(loaded);
                Some(LoadedTable {
                    table: open_table(&self.location).await?,
                    last_epoch,
                    commits: 0,
                })
            }
            None => None,
        };
        let (mut table, known_epoch, commits) = match loaded {
            Some(l) => (l.table, Some(l.last_epoch), l.commits),
            None => (open_table(&self.location).await?, None, 0),
        };
        if table.version().is_some() {
            table
                .update_state()
                .await
                .map_err(TributaryError::delta(&self.location.display))?;
        } else if let Ok(mut fresh) = crate::storage::open_or_new(&self.location).await {
            // Another writer may have created the table since we opened it.
            if fresh.load().await.is_ok() {
                table = fresh;
            }
        }
        let last_epoch = match known_epoch {
            Some(known) => known,
            None => self.last_epoch(&table, &app_id).await?,
        };
        if last_epoch >= Some(epoch.0) {
            tracing::info!(
                epoch = epoch.0,
                "Delta sink: epoch already committed, skipped"
            );
            *guard = Some(LoadedTable {
                table,
                last_epoch,
                commits,
            });
            return Ok(());
        }
        let txn = Some((app_id.clone(), epoch.0 as i64));
        let o = &self.options;
        let how = TableWrite {
            partition_by: &o.partition_by,
            properties: &o.properties,
            merge_schema: o.merge_schema,
            txn: txn.clone(),
        };
        let mode = *self.mode.lock().await;
        // An aggregation without GROUP BY has one row and no key: in update mode it replaces
        // the table's single row, as complete mode does (an epoch that changed nothing keeps it).
        let keyless_update = mode == crate::OutputMode::Update
            && o.merge_keys.as_ref().is_some_and(|k| k.is_empty());
        let mut output = output;
        if mode == crate::OutputMode::Update && o.cdc.is_none() {
            // A real-time epoch may emit a key more than once: its last row counts.
            output.batches = crate::sink::last_per_key(
                &output.schema,
                output.batches,
                o.merge_keys.as_deref().unwrap_or_default(),
            )?;
        }
        let has_rows = output.batches.iter().any(|b| b.num_rows() > 0);
        let version_before = table.version();
        let table = if let Some(cdc) = &o.cdc {
            let tombstones =
                self.tombstones.lock().await.clone().ok_or_else(|| {
                    TributaryError::Internal("Delta sink used before open()".into())
                })?;
            cdc::apply(
                &self.location,
                &tombstones,
                cdc,
                &output.schema,
                output.batches,
                how,
            )
            .await?;
            open_table(&self.location).await?
        } else if mode == crate::OutputMode::Update && table.version().is_some() && !keyless_update
        {
            let keys = o.merge_keys.clone().unwrap_or_default();
            let columns: Vec<String> = output
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let ctx = datafusion::prelude::SessionContext::new_with_state(output.state.clone());
            let (schema, batches) = fit_rows(
                &self.location,
                &table,
                output.schema.clone(),
                output.batches,
                !o.merge_schema,
            )?;
            let source = merge::frame(&ctx, &schema, batches)?;
            let spec = merge::MergeSpec {
                keys: &keys,
                columns: &columns,
                sequence: None,
                operation: None,
                merge_schema: o.merge_schema,
            };
            merge::merge(&self.location, table, &ctx, source, &spec, txn).await?
        } else {
            // Complete mode: the epoch's whole result replaces the table, in the same commit
            // as the epoch's txn marker, so a replayed epoch is skipped like an append.
            let save = if mode == crate::OutputMode::Complete || (keyless_update && has_rows) {
                SaveMode::Overwrite
            } else {
                SaveMode::Append
            };
            write_delta(
                &self.location,
                table,
                output.schema.clone(),
                output.batches,
                save,
                how,
            )
            .await?
        };
        // A merge or change apply that changed nothing commits nothing: the epoch's txn marker
        // still goes in (an empty commit), so the table's last epoch always matches the
        // checkpoint's.
        let table = if o.cdc.is_some() {
            // The change apply may commit in several steps: ask the log.
            let committed = self.last_epoch(&table, &app_id).await? >= Some(epoch.0);
            self.ensure_txn(table, &app_id, epoch, committed).await?
        } else if mode == crate::OutputMode::Update {
            let committed = table.version() != version_before;
            self.ensure_txn(table, &app_id, epoch, committed).await?
        } else {
            table
        };
        let table = match o.auto_compact {
            Some(min_files) => {
                super::maintenance::compact_if_needed(
                    &self.location,
                    table,
                    min_files,
                    o.target_file_size,
                )
                .await?
            }
            None => table,
        };
        *guard = Some(LoadedTable {
            table,
            last_epoch: Some(epoch.0),
            commits: commits + 1,
        });
        Ok(())
    }
}

/// A DataFusion table over the Delta table at `location` (batch reads).
pub(crate) async fn delta_provider(
    location: &Location,
    state: &datafusion::execution::SessionState,
    version: Option<i64>,
    timestamp_ms: Option<i64>,
) -> Result<Arc<dyn datafusion::datasource::TableProvider>> {
    let mut table = match version {
        None => super::maintenance::open_at(location, None).await?,
        // Declared as a whole number >= 0.
        Some(v) => match super::maintenance::open_at(location, Some(v.max(0) as u64)).await {
            Ok(t) => t,
            Err(e) => {
                // Past the end: say which versions there are, not the log reader's error.
                let latest = super::maintenance::open_at(location, None).await?.version();
                return Err(match latest {
                    Some(latest) if v as u64 > latest => TributaryError::option(
                        "version_as_of",
                        format!(
                            "version {v} of '{}' does not exist: its latest version is {latest}",
                            location.display
                        ),
                    ),
                    _ => e,
                });
            }
        },
    };
    if let Some(ms) = timestamp_ms {
        let at = chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| {
            TributaryError::option("timestamp_as_of", format!("{ms} ms is out of range"))
        })?;
        let too_early = |detail: String| {
            TributaryError::option(
                "timestamp_as_of",
                format!(
                    "no version of '{}' at {at}{detail}; give a time after the table was created",
                    location.display
                ),
            )
        };
        table
            .load_with_datetime(at)
            .await
            .map_err(|e| too_early(format!(": {e}")))?;
        // deltalake answers the first version for any earlier time; Delta's readers refuse.
        let loaded = table.version().unwrap_or(0);
        let created = super::source::commit_timestamp_ms(&table, loaded).await?;
        if created.is_some_and(|c| ms < c) {
            return Err(too_early(format!(
                " (version {loaded}, the earliest at that time, was committed later)"
            )));
        }
    }
    table
        .update_datafusion_session(state)
        .map_err(TributaryError::delta(&location.display))?;
    table
        .table_provider()
        .await
        .map_err(TributaryError::df(format!(
            "reading Delta table '{}'",
            location.display
        )))
}
