//! `AND` / `OR` that evaluate their right side only on the rows that need it, as Spark does row by
//! row: `b <> 0 AND a / b > 1` never divides by the zero it guards against.
//!
//! DataFusion's `AND` evaluates its right side on the whole batch unless the left is uniform or
//! very selective, so a right side that can fail (a division, checked arithmetic, a cast, a
//! function that raises) fails on rows its left side had already ruled out. [`LazyLogic`] takes
//! the place of such an `AND`/`OR` (see [`super::ansi`]): the right side runs on the rows where
//! the left is not decisive (not `false` for `AND`, not `true` for `OR`; `NULL` rows included, as
//! three-valued logic needs them), and the result is the same three-valued `AND`/`OR`.

use std::fmt;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, AsArray, BooleanArray, RecordBatchOptions};
use arrow::compute::kernels::boolean::{and_kleene, or_kleene};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::{internal_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::PhysicalExpr;

/// `left AND right` or `left OR right`, its right side evaluated only where needed.
#[derive(Debug, Eq)]
pub(crate) struct LazyLogic {
    op: Operator,
    left: Arc<dyn PhysicalExpr>,
    right: Arc<dyn PhysicalExpr>,
    /// The columns the right side reads: only these are copied for its rows.
    reads: Vec<bool>,
}

impl PartialEq for LazyLogic {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.left.eq(&other.left) && self.right.eq(&other.right)
    }
}

impl std::hash::Hash for LazyLogic {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.left.hash(state);
        self.right.hash(state);
    }
}

impl LazyLogic {
    /// `op` is `And` or `Or`.
    pub(crate) fn new(
        op: Operator,
        left: Arc<dyn PhysicalExpr>,
        right: Arc<dyn PhysicalExpr>,
    ) -> Self {
        debug_assert!(matches!(op, Operator::And | Operator::Or));
        let columns = collect_columns(&right);
        let width = columns.iter().map(|c| c.index() + 1).max().unwrap_or(0);
        let mut reads = vec![false; width];
        for c in columns {
            reads[c.index()] = true;
        }
        LazyLogic {
            op,
            left,
            right,
            reads,
        }
    }

    /// `batch` with the columns the right side does not read as NULL columns, which picking
    /// rows copies for nothing.
    fn narrowed(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let reads = |i: usize| self.reads.get(i).copied().unwrap_or(false);
        if (0..batch.num_columns()).all(reads) {
            return Ok(batch.clone());
        }
        let schema = batch.schema();
        let rows = batch.num_rows();
        let (fields, columns): (Vec<_>, Vec<_>) = (0..batch.num_columns())
            .map(|i| {
                if reads(i) {
                    (schema.field(i).clone(), batch.column(i).clone())
                } else {
                    (
                        Field::new(schema.field(i).name(), DataType::Null, true),
                        new_null_array(&DataType::Null, rows),
                    )
                }
            })
            .unzip();
        Ok(RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }

    /// The left value that decides the result without the right side.
    fn decisive(&self) -> bool {
        self.op == Operator::Or
    }

    fn combine(&self, left: &BooleanArray, right: &BooleanArray) -> Result<ColumnarValue> {
        let out = if self.op == Operator::And {
            and_kleene(left, right)?
        } else {
            or_kleene(left, right)?
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

impl fmt::Display for LazyLogic {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {} {}", self.left, self.op, self.right)
    }
}

impl PhysicalExpr for LazyLogic {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        Ok(self.left.nullable(input_schema)? || self.right.nullable(input_schema)?)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let rows = batch.num_rows();
        let left = match self.left.evaluate(batch)? {
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(v))) if v == self.decisive() => {
                return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(v))));
            }
            ColumnarValue::Scalar(s @ ScalarValue::Boolean(_)) => s.to_array_of_size(rows)?,
            ColumnarValue::Array(a) => a,
            ColumnarValue::Scalar(other) => {
                return internal_err!("{} of a non-boolean {other:?}", self.op);
            }
        };
        let left = left.as_boolean();
        // Rows whose left side does not decide: NULLs, and values other than the decisive one.
        let undecided = if self.decisive() {
            !left.values()
        } else {
            left.values().clone()
        };
        let undecided = match left.nulls() {
            Some(valid) => &undecided | &!valid.inner(),
            None => undecided,
        };
        let undecided = BooleanArray::new(undecided, None);
        if undecided.true_count() == 0 {
            return Ok(ColumnarValue::Array(Arc::new(left.clone())));
        }
        let right = self
            .right
            .evaluate_selection(&self.narrowed(batch)?, &undecided)?
            .into_array(rows)?;
        self.combine(left, right.as_boolean())
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.left, &self.right]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(LazyLogic::new(
            self.op,
            children[0].clone(),
            children[1].clone(),
        )))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(")?;
        self.left.fmt_sql(f)?;
        write!(f, " {} ", self.op)?;
        self.right.fmt_sql(f)?;
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    /// `b <> 0 <op> a / b > 1` over rows where b is zero or NULL, and a left side that is NULL.
    fn check(op: Operator, want: Vec<Option<bool>>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
            // Read by neither side: a NULL column where the right side's rows are picked.
            Field::new("c", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![
                    Some(4),
                    Some(9),
                    Some(1),
                    None,
                    Some(3),
                ])),
                Arc::new(Int64Array::from(vec![
                    Some(2),
                    Some(0),
                    Some(1),
                    None,
                    Some(0),
                ])),
                Arc::new(arrow::array::StringArray::from(vec![
                    "p", "q", "r", "s", "t",
                ])),
            ],
        )
        .unwrap();
        let s = schema.as_ref();
        let guard = binary(
            col("b", s).unwrap(),
            if op == Operator::And {
                Operator::NotEq
            } else {
                Operator::Eq
            },
            lit(0i64),
            s,
        )
        .unwrap();
        let quotient = binary(
            col("a", s).unwrap(),
            Operator::Divide,
            col("b", s).unwrap(),
            s,
        )
        .unwrap();
        let test = binary(quotient, Operator::Gt, lit(1i64), s).unwrap();
        // DataFusion's own AND divides by the zeros.
        let eager = binary(guard.clone(), op, test.clone(), s).unwrap();
        assert!(eager.evaluate(&batch).is_err());
        let lazy = LazyLogic::new(op, guard, test);
        let got = lazy.evaluate(&batch).unwrap().into_array(5).unwrap();
        assert_eq!(got.as_boolean().iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn the_right_side_never_sees_the_rows_the_left_decides() {
        check(
            Operator::And,
            vec![Some(true), Some(false), Some(false), None, Some(false)],
        );
        check(
            Operator::Or,
            vec![Some(true), Some(true), Some(false), None, Some(true)],
        );
    }
}
