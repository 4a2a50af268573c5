//! Sinks: where each epoch's output goes, committed idempotently under (query id, epoch).
//!
//! | sink          | exactly-once through                                              |
//! |---------------|-------------------------------------------------------------------|
//! | Delta         | Delta's application transaction (`txn`: appId = query id, version = epoch) |
//! | Parquet/JSON  | a manifest per epoch in `_tributary_log/`, honoured by our readers |
//! | memory        | the last epoch added, kept in the table                           |
//! | console       | none (prints; a re-run epoch prints again)                        |
//! | foreach_batch | the user's function gets the epoch id to deduplicate itself       |
//!
//! In real-time mode ([`crate::Trigger::RealTime`]) the memory, console, foreach_batch and
//! at-least-once Kafka sinks emit each arrival's rows at once ([`Sink::emit`]); the others get
//! the epoch's rows at its end, with the guarantee above.

//!
//! The sinks themselves are connectors (`crate::connector`); they are re-exported here.

pub use crate::connector::console::ConsoleSink;
pub use crate::connector::delta::{
    create_table_if_missing, CdcFormat, CdcOptions, DeltaSink, DeltaSinkOptions,
};
pub use crate::connector::files::{FileSink, FILE_SINK_FORMATS};
pub use crate::connector::foreach_batch::{ForeachBatchFn, ForeachBatchSink};
pub use crate::connector::memory::{MemorySink, MemorySinkTable};

use std::fmt::Debug;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::execution::SessionState;

use crate::error::Result;
use crate::OutputMode;
use tributary_checkpoint::Epoch;

/// What a sink learns when its query starts.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The stable query id (Delta's appId, the manifest writer id).
    pub query_id: String,
    /// The query name, if any.
    pub query_name: Option<String>,
    /// The output mode.
    pub output_mode: OutputMode,
    /// The sink's own folder in the checkpoint (`sink/`), for state a sink keeps.
    pub dir: crate::location::Location,
    /// The checkpoint's last committed epoch (an idempotent sink checks that it holds it).
    pub committed_epoch: Option<tributary_checkpoint::Epoch>,
    /// The epoch planned but not committed, about to be run again (the sink may hold it).
    pub rerun_epoch: Option<tributary_checkpoint::Epoch>,
    /// Whether the query runs in real-time mode (a sink that emits at once may then send
    /// without waiting to batch).
    pub real_time: bool,
}

/// One epoch's output.
#[derive(Debug, Clone)]
pub struct EpochOutput {
    /// The schema of the rows.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// The session that produced them (to hand a DataFrame to `foreach_batch`).
    pub state: SessionState,
}

impl EpochOutput {
    /// Number of rows.
    pub fn num_rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }
}

/// A streaming sink.
#[async_trait]
pub trait Sink: Send + Sync + Debug {
    /// A stable description, e.g. `DeltaSink[/lake/silver]`; kept in the checkpoint.
    fn description(&self) -> String;

    /// Called once when the query starts.
    async fn open(&self, _ctx: &SinkContext) -> Result<()> {
        Ok(())
    }

    /// Commit the epoch's output. Called again with the same epoch after a crash: an epoch
    /// that was already committed must not be written twice.
    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()>;

    /// Whether the sink already holds `epoch` (written before a crash, not yet in the commit
    /// log). Asked only for the epoch a restart runs again: the driver then does not write it
    /// and reports no rows out for it. A sink that cannot tell answers `false` (the default)
    /// and must skip the epoch in `add_batch` itself if it is idempotent.
    async fn holds_epoch(&self, _epoch: Epoch) -> Result<bool> {
        Ok(false)
    }

    /// Real-time mode: whether the sink delivers rows as they are computed, through
    /// [`Sink::emit`], within an epoch (at least once until the epoch's end). A sink that does
    /// not (the default) gets the epoch's rows at its end, through `add_batch`, exactly as in
    /// micro-batch mode.
    fn emits_immediately(&self) -> bool {
        false
    }

    /// Real-time mode: deliver rows of the open `epoch` now (called for each arrival of rows
    /// when [`Sink::emits_immediately`]). An epoch run again after a failure emits its rows
    /// again.
    async fn emit(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        self.add_batch(epoch, output).await
    }

    /// Real-time mode: make every row emitted in `epoch` durable (called at the epoch's end,
    /// before its commit is recorded, for sinks that emit at once). A sink whose `emit`
    /// returns only when the rows are delivered has nothing to do.
    async fn flush_emitted(&self, _epoch: Epoch) -> Result<()> {
        Ok(())
    }
}

/// A batch in `schema`'s field names, types and nullability (columns by position).
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let cols = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(crate::error::TributaryError::arrow(
            "conforming an epoch's rows",
        ))?;
    RecordBatch::try_new(schema.clone(), cols).map_err(crate::error::TributaryError::arrow(
        "conforming an epoch's rows",
    ))
}

/// The last row of each key (the columns `keys`; none: the last row) of `batches`, in the order
/// those rows came: a real-time epoch in update mode can emit a key more than once, and a sink
/// that upserts by key keeps its latest row.
pub(crate) fn last_per_key(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    keys: &[String],
) -> Result<Vec<RecordBatch>> {
    use arrow::row::{RowConverter, SortField};
    let err = || crate::error::TributaryError::arrow("keeping the last row of each key");
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    if total == 0 {
        return Ok(batches);
    }
    if keys.is_empty() {
        let batch = batches
            .iter()
            .rev()
            .find(|b| b.num_rows() > 0)
            .expect("some rows");
        return Ok(vec![batch.slice(batch.num_rows() - 1, 1)]);
    }
    let mut last: std::collections::HashMap<Vec<u8>, (usize, usize)> =
        std::collections::HashMap::with_capacity(total);
    let indices = keys
        .iter()
        .map(|k| {
            schema.index_of(k).map_err(|_| {
                crate::error::TributaryError::Plan(format!(
                    "the key column '{k}' is not among the query's columns"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let converter = RowConverter::new(
        indices
            .iter()
            .map(|&i| SortField::new(schema.field(i).data_type().clone()))
            .collect(),
    )
    .map_err(err())?;
    for (b, batch) in batches.iter().enumerate() {
        let cols: Vec<_> = indices.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = converter.convert_columns(&cols).map_err(err())?;
        for i in 0..batch.num_rows() {
            last.insert(rows.row(i).as_ref().to_vec(), (b, i));
        }
    }
    if last.len() == total {
        return Ok(batches);
    }
    let mut at: Vec<(usize, usize)> = last.into_values().collect();
    at.sort_unstable();
    let columns = (0..schema.fields().len())
        .map(|c| {
            let arrays: Vec<&dyn arrow::array::Array> =
                batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrow::compute::interleave(&arrays, &at)
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err())?;
    Ok(vec![RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(at.len())),
    )
    .map_err(err())?])
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    #[test]
    fn the_last_row_of_each_key_is_kept_in_order() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let batch = |k: &[&str], v: &[i64]| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(k.to_vec())),
                    Arc::new(Int64Array::from(v.to_vec())),
                ],
            )
            .unwrap()
        };
        let out = last_per_key(
            &schema,
            vec![batch(&["a", "b"], &[1, 1]), batch(&["c", "a"], &[2, 2])],
            &["k".to_string()],
        )
        .unwrap();
        let out = arrow::compute::concat_batches(&schema, &out).unwrap();
        let keys: Vec<&str> = out.column(0).as_string::<i32>().iter().flatten().collect();
        let vals: Vec<i64> = out.column(1).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(keys, ["b", "c", "a"]);
        assert_eq!(vals, [1, 2, 2]);
        let one =
            last_per_key(&schema, vec![batch(&["x"], &[1]), batch(&["y"], &[2])], &[]).unwrap();
        let one = arrow::compute::concat_batches(&schema, &one).unwrap();
        assert_eq!(one.num_rows(), 1, "no key: the last row");
        assert!(last_per_key(&schema, vec![], &["k".into()])
            .unwrap()
            .is_empty());
        assert!(
            last_per_key(&schema, vec![batch(&["a"], &[1])], &["nope".into()])
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}
