//! A range of the Nexmark stream as a DataFusion table: the batch read (events `0 ..
//! max_events`) and each epoch's input (the events the epoch covers) alike. Rows are generated
//! while the plan pulls them, in `batch_size` slices, split over partitions by event number, and
//! only the columns the plan reads are computed.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session as DfSession;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};

use super::generator::{BatchBuilder, GeneratorConfig, Table, CYCLE};

/// The events `from .. to` of one table, in `partitions` parts.
#[derive(Debug, Clone)]
pub struct NexmarkTable {
    table: Table,
    config: GeneratorConfig,
    from: u64,
    to: u64,
    partitions: usize,
}

impl NexmarkTable {
    /// The rows of `table` among the events `from .. to`.
    pub fn new(
        table: Table,
        config: GeneratorConfig,
        from: u64,
        to: u64,
        partitions: usize,
    ) -> Self {
        NexmarkTable {
            table,
            config,
            from,
            to: to.max(from),
            partitions: partitions.max(1),
        }
    }

    /// The number of rows.
    pub fn rows(&self) -> u64 {
        self.table.count_between(self.from, self.to)
    }

    /// Event ranges of the partitions, together exactly `from .. to`: a whole number of cycles
    /// each (but the last), so that each holds its share of every kind.
    fn ranges(&self) -> Vec<(u64, u64)> {
        let span = self.to - self.from;
        let per = span.div_ceil(self.partitions as u64).div_ceil(CYCLE).max(1) * CYCLE;
        let mut out = Vec::with_capacity(self.partitions);
        let mut at = self.from;
        while at < self.to {
            let end = (at + per).min(self.to);
            out.push((at, end));
            at = end;
        }
        if out.is_empty() {
            out.push((self.from, self.from));
        }
        out
    }
}

#[async_trait]
impl TableProvider for NexmarkTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.table.schema().project(p)?),
            None => self.table.schema(),
        };
        let parts: Vec<Arc<dyn PartitionStream>> = self
            .ranges()
            .into_iter()
            .map(|(from, to)| -> Arc<dyn PartitionStream> {
                Arc::new(Part {
                    table: self.table,
                    config: self.config,
                    from,
                    to,
                    projection: projection.cloned(),
                    schema: schema.clone(),
                })
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            parts,
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// One partition: a run of events generated slice by slice.
#[derive(Debug)]
struct Part {
    table: Table,
    config: GeneratorConfig,
    from: u64,
    to: u64,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
}

impl PartitionStream for Part {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        // Events per slice such that a slice holds about `batch_size` rows of this table.
        let batch_rows = ctx.session_config().batch_size().max(1) as u64;
        let per_cycle = self.table.count_between(0, CYCLE);
        let step = (batch_rows.div_ceil(per_cycle) * CYCLE).max(CYCLE);
        let (table, config, to, schema) = (self.table, self.config, self.to, self.schema.clone());
        let projection = self.projection.clone();
        let mut builder = BatchBuilder::new(table, config, projection.as_deref());
        let slices = (self.from..to).step_by(step as usize).map(move |at| {
            let end = (at + step).min(to);
            let columns = builder.build(at, end, projection.as_deref());
            RecordBatch::try_new_with_options(
                schema.clone(),
                columns,
                &arrow::array::RecordBatchOptions::new()
                    .with_row_count(Some(table.count_between(at, end) as usize)),
            )
            .map_err(Into::into)
        });
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(slices),
        ))
    }
}
