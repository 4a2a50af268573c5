//! The memory sink: a table in the session, queryable by the query's name.

use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session as DfSession;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::Result;
use crate::sink::{EpochOutput, Sink};
use crate::OutputMode;
use tributary_checkpoint::Epoch;

#[derive(Debug, Default)]
struct Contents {
    batches: Vec<RecordBatch>,
    last_epoch: Option<u64>,
}

/// The table behind a memory sink; registered in the session under the query name.
#[derive(Debug, Clone)]
pub struct MemorySinkTable {
    schema: SchemaRef,
    contents: Arc<RwLock<Contents>>,
}

impl MemorySinkTable {
    /// An empty table.
    pub fn new(schema: SchemaRef) -> Self {
        MemorySinkTable {
            schema,
            contents: Arc::default(),
        }
    }

    /// Every row so far.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.contents.read().expect("memory sink").batches.clone()
    }
}

#[async_trait]
impl TableProvider for MemorySinkTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mem = MemTable::try_new(self.schema.clone(), vec![self.batches()])?;
        mem.scan(state, projection, filters, limit).await
    }
}

/// Appends (or, in complete mode, replaces) the rows of each epoch once.
#[derive(Debug, Clone)]
pub struct MemorySink {
    name: String,
    table: MemorySinkTable,
    mode: Arc<RwLock<OutputMode>>,
}

impl MemorySink {
    /// A sink writing into `table`.
    pub fn new(name: impl Into<String>, table: MemorySinkTable) -> Self {
        MemorySink {
            name: name.into(),
            table,
            mode: Arc::new(RwLock::new(OutputMode::Append)),
        }
    }
}

impl MemorySink {
    /// Append the rows (complete mode: replace them); once per `epoch` when given.
    fn put(&self, output: EpochOutput, epoch: Option<Epoch>) -> Result<()> {
        let schema = self.table.schema.clone();
        let batches = output
            .batches
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| crate::sink::conform(&b, &schema))
            .collect::<Result<Vec<_>>>()?;
        let mut c = self.table.contents.write().expect("memory sink");
        if let Some(epoch) = epoch {
            if c.last_epoch.is_some_and(|l| l >= epoch.0) {
                return Ok(());
            }
            c.last_epoch = Some(epoch.0);
        }
        if *self.mode.read().expect("memory sink") == OutputMode::Complete {
            c.batches.clear();
        }
        c.batches.extend(batches);
        Ok(())
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn description(&self) -> String {
        format!("MemorySink[{}]", self.name)
    }

    async fn open(&self, ctx: &crate::sink::SinkContext) -> Result<()> {
        *self.mode.write().expect("memory sink") = ctx.output_mode;
        Ok(())
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        self.put(output, Some(epoch))
    }

    fn emits_immediately(&self) -> bool {
        true
    }

    /// Real-time mode: each arrival's rows at once (complete mode: the latest result).
    async fn emit(&self, _epoch: Epoch, output: EpochOutput) -> Result<()> {
        self.put(output, None)
    }
}
