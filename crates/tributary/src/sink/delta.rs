//! The Delta sink: one Delta commit per epoch, made idempotent by Delta's application
//! transaction (`txn` action: appId = query id, version = epoch), exactly as Spark does.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use tokio::sync::Mutex;

use super::{EpochOutput, Sink, SinkContext};
use crate::error::{Result, TributaryError};
use crate::location::Location;
use tributary_checkpoint::Epoch;

/// Options of the Delta sink.
#[derive(Debug, Clone, Default)]
pub struct DeltaSinkOptions {
    /// Partition columns of a table the sink creates (`partition_by`, comma-separated).
    pub partition_by: Vec<String>,
}

/// Appends each epoch to a Delta table, exactly once.
#[derive(Debug)]
pub struct DeltaSink {
    location: Location,
    options: DeltaSinkOptions,
    app_id: Mutex<Option<String>>,
    /// Complete mode: each epoch's result replaces the table.
    complete: std::sync::atomic::AtomicBool,
    table: Mutex<Option<DeltaTable>>,
}

impl DeltaSink {
    /// A sink into the table at `location` (created by the first epoch if missing).
    pub fn new(location: Location, options: DeltaSinkOptions) -> Self {
        DeltaSink {
            location,
            options,
            app_id: Mutex::new(None),
            complete: std::sync::atomic::AtomicBool::new(false),
            table: Mutex::new(None),
        }
    }
}

/// Open (or prepare to create) the Delta table at `location`.
pub(crate) async fn open_table(location: &Location) -> Result<DeltaTable> {
    location.ensure_dir()?;
    DeltaTable::try_from_url(location.url.clone())
        .await
        .map_err(TributaryError::delta(&location.display))
}

/// Compare an output schema with a table schema: the columns that do not fit, or `None`.
pub(crate) fn schema_mismatch(output: &Schema, table: &Schema) -> Option<String> {
    let mut problems = Vec::new();
    for f in output.fields() {
        match table.field_with_name(f.name()) {
            Err(_) => problems.push(format!(
                "column '{}' ({}) is not in the table",
                f.name(),
                f.data_type()
            )),
            Ok(t) if !compatible(f.data_type(), t.data_type()) => problems.push(format!(
                "column '{}' is {} in the query but {} in the table",
                f.name(),
                f.data_type(),
                t.data_type()
            )),
            Ok(_) => {}
        }
    }
    for t in table.fields() {
        if output.field_with_name(t.name()).is_err() && !t.is_nullable() {
            problems.push(format!(
                "column '{}' ({}) of the table is required but the query does not produce it",
                t.name(),
                t.data_type()
            ));
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "{}; the table has columns [{}]. Change the query's SELECT list to match, or write to a new table",
            problems.join("; "),
            table
                .fields()
                .iter()
                .map(|f| format!("{} {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn family(t: &DataType) -> u8 {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 1,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => 2,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => 2,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => 3,
        DataType::Timestamp(..) => 4,
        DataType::Date32 | DataType::Date64 => 5,
        DataType::Boolean => 6,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => 7,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => 8,
        _ => 0,
    }
}

fn compatible(out: &DataType, table: &DataType) -> bool {
    if out == table || matches!(out, DataType::Null) {
        return true;
    }
    let (a, b) = (family(out), family(table));
    (a != 0 && a == b) || (a == 2 && b == 3) || (a == 2 && b == 8)
}

/// Write batches to a Delta table with a save mode and, optionally, an application transaction.
pub(crate) async fn write_delta(
    location: &Location,
    table: DeltaTable,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    mode: SaveMode,
    partition_by: &[String],
    txn: Option<(String, i64)>,
) -> Result<DeltaTable> {
    if table.version().is_some() && mode != SaveMode::Overwrite {
        let table_schema = table
            .snapshot()
            .map_err(TributaryError::delta(&location.display))?
            .snapshot()
            .arrow_schema();
        if let Some(details) = schema_mismatch(&schema, &table_schema) {
            return Err(TributaryError::SchemaMismatch {
                sink: format!("DeltaSink[{}]", location.display),
                details,
            });
        }
    }
    let batches = if batches.is_empty() {
        vec![RecordBatch::new_empty(schema)]
    } else {
        batches
    };
    let mut commit = CommitProperties::default();
    if let Some((app_id, version)) = txn {
        commit = commit.with_application_transaction(Transaction::new(app_id, version));
    }
    let mut builder = table
        .write(batches)
        .with_save_mode(mode)
        .with_commit_properties(commit);
    if !partition_by.is_empty() {
        builder = builder.with_partition_columns(partition_by.to_vec());
    }
    builder.await.map_err(|e| match e {
        deltalake::DeltaTableError::SchemaMismatch { msg } => TributaryError::SchemaMismatch {
            sink: format!("DeltaSink[{}]", location.display),
            details: msg,
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
        self.complete.store(
            ctx.output_mode == crate::OutputMode::Complete,
            std::sync::atomic::Ordering::Relaxed,
        );
        *self.table.lock().await = Some(open_table(&self.location).await?);
        Ok(())
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        let app_id = self
            .app_id
            .lock()
            .await
            .clone()
            .ok_or_else(|| TributaryError::Internal("Delta sink used before open()".into()))?;
        let mut guard = self.table.lock().await;
        let mut table = match guard.take() {
            Some(t) => t,
            None => open_table(&self.location).await?,
        };
        if table.version().is_some() {
            table
                .update_state()
                .await
                .map_err(TributaryError::delta(&self.location.display))?;
        } else if let Ok(mut fresh) = DeltaTable::try_from_url(self.location.url.clone()).await {
            // Another writer may have created the table since we opened it.
            if fresh.load().await.is_ok() {
                table = fresh;
            }
        }
        if table.version().is_some() {
            let done = table
                .snapshot()
                .map_err(TributaryError::delta(&self.location.display))?
                .transaction_version(table.log_store().as_ref(), &app_id)
                .await
                .map_err(TributaryError::delta(&self.location.display))?;
            if done.is_some_and(|v| v >= epoch.0 as i64) {
                tracing::info!(
                    epoch = epoch.0,
                    "Delta sink: epoch already committed, skipped"
                );
                *guard = Some(table);
                return Ok(());
            }
        }
        let table = write_delta(
            &self.location,
            table,
            output.schema.clone(),
            output.batches,
            // Complete mode: the epoch's whole result replaces the table, in the same commit
            // as the epoch's txn marker, so a replayed epoch is skipped like an append.
            if self.complete.load(std::sync::atomic::Ordering::Relaxed) {
                SaveMode::Overwrite
            } else {
                SaveMode::Append
            },
            &self.options.partition_by,
            Some((app_id, epoch.0 as i64)),
        )
        .await?;
        *guard = Some(table);
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
    let mut table = deltalake::open_table(location.url.clone())
        .await
        .map_err(|e| match e {
            deltalake::DeltaTableError::NotATable(_) => TributaryError::Plan(format!(
                "'{}' is not a Delta table (no _delta_log): check the path, or write to it first",
                location.display
            )),
            other => TributaryError::delta(&location.display)(other),
        })?;
    if let Some(v) = version {
        table
            .load_version(v as u64)
            .await
            .map_err(TributaryError::delta(&location.display))?;
    }
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
        let created = crate::source::delta::commit_timestamp_ms(&table, loaded).await?;
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
