//! Distinct aggregates of a batch's pane aggregation, with a set per group.
//!
//! DataFusion's grouped `count(DISTINCT x)` keeps one hash set of (group, value) for all the
//! groups of a partition. The set grows by doubling, before the memory pool is asked, and
//! keeps its capacity when its groups are spilled, so under a memory limit it can neither be
//! held to its share nor give memory back: the visitors batch held 884 MiB under a 300 MiB
//! limit. Through this wrapper the aggregate runs with one accumulator per group (DataFusion's
//! adapter), whose sets are small, accounted batch by batch, and dropped when they spill.
//! The pane aggregations use it for their `DISTINCT` aggregates: the batch's (`plan::panes`)
//! and the stream's (`exec::aggregate`), where a few groups hold large sets; a keyed
//! aggregation over many small groups keeps DataFusion's shared set.

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, ReversedUDAF, SetMonotonicity, Signature,
};

/// `inner`, computed with an accumulator per group.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SetPerGroup(Arc<AggregateUDF>);

impl AggregateUDFImpl for SetPerGroup {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn aliases(&self) -> &[String] {
        self.0.aliases()
    }
    fn signature(&self) -> &Signature {
        self.0.signature()
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.0.return_type(args)
    }
    fn return_field(&self, args: &[FieldRef]) -> Result<FieldRef> {
        self.0.return_field(args)
    }
    fn is_nullable(&self) -> bool {
        self.0.is_nullable()
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.accumulator(args)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }
    /// The point of the wrapper: DataFusion then runs one `accumulator` per group.
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        false
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.0.inner().order_sensitivity()
    }
    fn with_beneficial_ordering(
        self: Arc<Self>,
        beneficial_ordering: bool,
    ) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        Ok(self
            .0
            .inner()
            .clone()
            .with_beneficial_ordering(beneficial_ordering)?
            .map(|inner| wrap(Arc::new(AggregateUDF::new_from_shared_impl(inner)))))
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        match self.0.reverse_udf() {
            ReversedUDAF::Reversed(udf) => {
                ReversedUDAF::Reversed(Arc::new(AggregateUDF::new_from_shared_impl(wrap(udf))))
            }
            other => other,
        }
    }
    fn is_descending(&self) -> Option<bool> {
        self.0.is_descending()
    }
    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.0.inner().set_monotonicity(data_type)
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.0.coerce_types(args)
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.0.default_value(data_type)
    }
}

fn wrap(udf: Arc<AggregateUDF>) -> Arc<dyn AggregateUDFImpl> {
    Arc::new(SetPerGroup(udf))
}

/// `e` with its distinct aggregate computed by a set per group; any other expression as it is.
pub(crate) fn set_per_group(e: &Expr) -> Expr {
    match e {
        Expr::AggregateFunction(AggregateFunction { func, params }) if params.distinct => {
            Expr::AggregateFunction(AggregateFunction {
                func: Arc::new(AggregateUDF::new_from_shared_impl(wrap(func.clone()))),
                params: params.clone(),
            })
        }
        Expr::Alias(a) => {
            let mut a = a.clone();
            a.expr = Box::new(set_per_group(&a.expr));
            Expr::Alias(a)
        }
        other => other.clone(),
    }
}
