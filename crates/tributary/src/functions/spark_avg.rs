//! Spark's `avg` of a DECIMAL: DataFusion's running count and sum (the same state, so a
//! checkpoint reads back either way), and Spark's quotient of the two, rounded half up to the
//! result's scale where DataFusion cuts the digits off.
//!
//! `avg` of `DECIMAL(10,2)` values 1, 2, 2 is `DECIMAL(14,6)` `1.666667` in Spark and
//! `1.666666` in DataFusion. [`crate::plan::ansi`] puts this function in place of DataFusion's
//! `avg` of a DECIMAL (not `avg(DISTINCT ...)`, whose state is the distinct values) in
//! aggregations and window functions.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Decimal128Array};
use arrow::datatypes::{i256, DataType, Decimal256Type, FieldRef, UInt64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF, Signature, Volatility,
};

use super::spark_decimal::{evaluate, DecimalOp, OnError};

/// Spark's `avg` of DECIMALs (see the module).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkAvg {
    signature: Signature,
}

impl Default for SparkAvg {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl SparkAvg {
    /// Whether this function computes an `avg` of the result type `t` in place of DataFusion's.
    pub(crate) fn rounds(t: &DataType) -> bool {
        matches!(t, DataType::Decimal128(..))
    }
}

/// The averages of `counts` and `sums` (DataFusion's state) as `result`: NULL for no rows.
fn averages(counts: &ArrayRef, sums: &ArrayRef, result: &DataType) -> Result<ArrayRef> {
    let DataType::Decimal128(p, s) = result else {
        return datafusion::common::internal_err!("avg of DECIMALs typed {result}");
    };
    let Some(c) = counts.as_primitive_opt::<UInt64Type>() else {
        return datafusion::common::internal_err!("avg's count is {}", counts.data_type());
    };
    let sums = match sums.data_type() {
        DataType::Decimal128(..) => sums.clone(),
        // DataFusion sums in 256 bits where 38 digits might not hold the sum; Spark's sum is a
        // DECIMAL(38, s) and raises past it.
        DataType::Decimal256(_, scale) => {
            let limit = i256::from_i128(10i128.pow(38));
            let values = sums.as_primitive::<Decimal256Type>();
            let mut out = Vec::with_capacity(values.len());
            for v in values.iter() {
                out.push(match v {
                    Some(v) if v.wrapping_abs() < limit => v.to_i128(),
                    Some(_) => {
                        return Err(DataFusionError::Execution(
                            "[ARITHMETIC_OVERFLOW] Overflow in sum of decimals: the sum under \
                             avg has more than 38 digits. Use try_avg to tolerate overflow and \
                             return NULL instead, or cast the values to DOUBLE"
                                .into(),
                        ))
                    }
                    None => None,
                });
            }
            Arc::new(Decimal128Array::from(out).with_precision_and_scale(38, *scale)?)
        }
        t => return datafusion::common::internal_err!("avg's sum is {t}"),
    };
    let none: BooleanArray = c.iter().map(|c| Some(c.unwrap_or(0) == 0)).collect();
    let counts: ArrayRef = Arc::new(arrow::compute::nullif(c, &none)?);
    evaluate(DecimalOp::Divide, &sums, &counts, (*p, *s), OnError::Raise)
}

impl AggregateUDFImpl for SparkAvg {
    fn name(&self) -> &str {
        "avg"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        avg_udaf().return_type(arg_types)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        avg_udaf().state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Rounded {
            result: args.return_type().clone(),
            inner: avg_udaf().accumulator(args)?,
        }))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Rounded {
            result: args.return_type().clone(),
            inner: avg_udaf().create_sliding_accumulator(args)?,
        }))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        avg_udaf().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RoundedGroups {
            result: args.return_field.data_type().clone(),
            inner: avg_udaf().create_groups_accumulator(args)?,
        }))
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

/// DataFusion's accumulator, its average taken from its state.
#[derive(Debug)]
struct Rounded {
    inner: Box<dyn Accumulator>,
    result: DataType,
}

impl Accumulator for Rounded {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let state = self.inner.state()?;
        let [count, sum] = state.as_slice() else {
            return datafusion::common::internal_err!("avg's state has {} values", state.len());
        };
        let out = averages(&count.to_array()?, &sum.to_array()?, &self.result)?;
        ScalarValue::try_from_array(&out, 0)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

/// DataFusion's groups accumulator, its averages taken from its state.
struct RoundedGroups {
    inner: Box<dyn GroupsAccumulator>,
    result: DataType,
}

impl GroupsAccumulator for RoundedGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let state = self.inner.state(emit_to)?;
        let [counts, sums] = state.as_slice() else {
            return datafusion::common::internal_err!("avg's state has {} arrays", state.len());
        };
        averages(counts, sums, &self.result)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    #[tokio::test]
    async fn an_average_of_decimals_is_rounded_half_up() {
        // PySpark 4.3's answers.
        let rows = |sql: &'static str| async move { run(sql).await.unwrap().join(";") };
        assert_eq!(
            rows("SELECT avg(CAST(x AS DECIMAL(10,2))) FROM (VALUES (1), (2), (2)) AS t(x)").await,
            "|1.666667|"
        );
        assert_eq!(
            rows("SELECT avg(CAST(x AS DECIMAL(10,2))) FROM (VALUES (-1), (-2), (-2)) AS t(x)")
                .await,
            "|-1.666667|"
        );
        assert_eq!(
            rows("SELECT avg(CAST(x AS DECIMAL(10,2))) FROM (VALUES (0.02), (0), (0)) AS t(x)")
                .await,
            "|0.006667|"
        );
        assert_eq!(
            rows("SELECT avg(CAST(x AS DECIMAL(38,0))) FROM (VALUES (1), (2), (2)) AS t(x)").await,
            "|1.6667|"
        );
        let err = run("SELECT avg(CAST(x AS DECIMAL(38,0))) FROM (VALUES \
             ('99999999999999999999999999999999999999'), \
             ('99999999999999999999999999999999999999')) AS t(x)")
        .await
        .unwrap_err();
        assert!(err.contains("ARITHMETIC_OVERFLOW"), "{err}");
        // Grouped (the groups accumulator), no rows of a group left (NULL), and a window.
        assert_eq!(
            rows(
                "SELECT k, avg(CAST(x AS DECIMAL(10,2))) FROM (VALUES (1, 1), (1, 2), (1, 2), \
                 (2, NULL)) AS t(k, x) GROUP BY k ORDER BY k"
            )
            .await,
            "|1|1.666667|;|2||"
        );
        assert_eq!(
            rows(
                "SELECT avg(CAST(x AS DECIMAL(10,2))) OVER (ORDER BY x ROWS BETWEEN 2 PRECEDING \
                 AND CURRENT ROW) FROM (VALUES (1), (2), (2)) AS t(x)"
            )
            .await,
            "|1.000000|;|1.500000|;|1.666667|"
        );
    }
}
