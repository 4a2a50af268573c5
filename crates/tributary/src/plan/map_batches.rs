//! An operator that maps each batch of its input through a function, partition by partition.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

/// The function of a [`MapBatchesExec`].
pub(crate) type BatchFn =
    Arc<dyn Fn(RecordBatch) -> crate::error::Result<RecordBatch> + Send + Sync>;

/// Maps every batch of its input to one batch of `schema`.
pub(crate) struct MapBatchesExec {
    input: Arc<dyn ExecutionPlan>,
    name: &'static str,
    f: BatchFn,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for MapBatchesExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

impl MapBatchesExec {
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        schema: SchemaRef,
        name: &'static str,
        f: impl Fn(RecordBatch) -> crate::error::Result<RecordBatch> + Send + Sync + 'static,
    ) -> Self {
        Self::with_fn(input, schema, name, Arc::new(f))
    }

    fn with_fn(
        input: Arc<dyn ExecutionPlan>,
        schema: SchemaRef,
        name: &'static str,
        f: BatchFn,
    ) -> Self {
        // The output is partitioned as the input, but by columns this operator may rewrite:
        // its partitioning is not promised to anyone above.
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        MapBatchesExec {
            input,
            name,
            f,
            properties,
        }
    }
}

impl DisplayAs for MapBatchesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

impl ExecutionPlan for MapBatchesExec {
    fn name(&self) -> &str {
        self.name
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(MapBatchesExec::with_fn(
            children.swap_remove(0),
            self.properties.eq_properties.schema().clone(),
            self.name,
            self.f.clone(),
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let f = self.f.clone();
        let stream = input.map(move |b| {
            f(b?).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.properties.eq_properties.schema().clone(),
            stream,
        )))
    }
}
