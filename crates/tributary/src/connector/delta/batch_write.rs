//! A batch write into Delta that streams: the DataFrame's rows reach delta-rs's writer as a
//! one-shot scan, each batch fitted to the table's types on the way, so the writer turns them
//! into Parquet files as they come and commits once at the end. Memory holds the files being
//! written, never the whole result (a backfill of any size fits).
//!
//! ```text
//!   df.execute_stream() ─► fit to the table ─► OneShotRows (a scan) ─► delta-rs write ─► one commit
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::SendableRecordBatchStream;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};

use super::conform::{conform, conformed_schema};
use super::sink::{fitting_target, run_write, TableWrite};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::DataFrame;

/// The rows of a DataFrame, fitted to a table's types, readable once.
#[derive(Debug)]
struct OneShotRows {
    df: Mutex<Option<DataFrame>>,
    schema: SchemaRef,
    target: Option<Schema>,
    rows: Arc<AtomicU64>,
    /// The query's own failure, kept to be reported as the query's rather than the table's
    /// (delta-rs passes it on as a generic error of the write).
    failed: Arc<Mutex<Option<DataFusionError>>>,
}

impl PartitionStream for OneShotRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let df = self.df.lock().map(|mut d| d.take()).unwrap_or(None);
        let (schema, target, rows) = (self.schema.clone(), self.target.clone(), self.rows.clone());
        let failed = self.failed.clone();
        let batches = futures::stream::once(async move {
            let df = df.ok_or_else(|| {
                DataFusionError::Internal("the rows of a batch write are read once".into())
            })?;
            df.execute_stream().await
        })
        .try_flatten()
        .map(move |batch| {
            let batch = batch.map_err(|e| {
                let told = DataFusionError::Execution(e.to_string());
                let mut first = failed.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert(e);
                told
            })?;
            let batch = match &target {
                Some(t) => conform(vec![batch], t)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                    .remove(0),
                None => batch,
            };
            rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            // The scan's declared schema, whatever metadata the batch carried.
            arrow::array::RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(DataFusionError::from)
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches))
    }
}

/// Write `df` into `table` with `mode` in one commit, streaming its rows. Returns the rows
/// written.
pub(crate) async fn write_streamed(
    location: &Location,
    table: DeltaTable,
    df: DataFrame,
    mode: SaveMode,
    how: TableWrite<'_>,
) -> Result<u64> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    super::sink::check_partition_columns(location, &schema, how.partition_by)?;
    let check = mode != SaveMode::Overwrite && !how.merge_schema;
    let target = fitting_target(location, &table, &schema, check)?;
    let scan_schema = match &target {
        Some(t) => conformed_schema(&schema, t),
        None => schema,
    };
    let rows = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(None));
    let source = OneShotRows {
        df: Mutex::new(Some(df)),
        schema: scan_schema.clone(),
        target,
        rows: rows.clone(),
        failed: failed.clone(),
    };
    let plan_err =
        |e: DataFusionError| TributaryError::Internal(format!("planning a Delta write: {e}"));
    let provider =
        StreamingTable::try_new(scan_schema, vec![Arc::new(source)]).map_err(plan_err)?;
    let plan = LogicalPlanBuilder::scan("rows", provider_as_source(Arc::new(provider)), None)
        .and_then(LogicalPlanBuilder::build)
        .map_err(plan_err)?;
    let builder = table.write(Vec::new()).with_input_plan(plan);
    if let Err(e) = run_write(location, builder, mode, how).await {
        let query = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
        return Err(match query {
            Some(q) => from_df_error(
                &format!(
                    "running the query written to Delta table '{}' (nothing was committed)",
                    location.display
                ),
                q,
            ),
            None => e,
        });
    }
    Ok(rows.load(Ordering::Relaxed))
}
