//! Spark's arithmetic functions whose answer on a zero divisor or an overflow is part of their
//! meaning:
//!
//! | function | on a zero divisor / an overflow | type |
//! |---|---|---|
//! | `try_add(a, b)`, `try_subtract`, `try_multiply` | NULL | as `a + b` |
//! | `try_divide(a, b)` | NULL | DOUBLE (a fraction, also of integers); Spark's DECIMAL of DECIMALs |
//! | `try_mod(a, b)` | NULL | as `a % b` |
//! | `spark_divide(a, b)` | `[DIVIDE_BY_ZERO]` | DOUBLE; Spark's DECIMAL of DECIMALs |
//! | `spark_mod(a, b)` | `[REMAINDER_BY_ZERO]` | as `a % b` |
//!
//! `spark_divide` and `spark_mod` are PySpark's `/` and `%` (the Python package renders them);
//! SQL's own `/` keeps DataFusion's dialect (an integer division of integers). As in Spark, a NULL
//! dividend gives NULL even over a zero divisor. The functions take numbers of every type SQL's
//! operators take (DECIMALs, unsigned integers); the divisions also take text, read as a DOUBLE.
//! Where an operand is a DECIMAL and the other a DECIMAL or an integer, `+ - * /` are Spark's
//! DECIMAL arithmetic ([`super::spark_decimal`]), their type fixed when the query is analysed
//! ([`DecimalTypesFixed`]).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::compute::kernels::{boolean, cmp};
use arrow::datatypes::FieldRef;
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{plan_err, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Operator, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::logical_expr::{Expr, ReturnFieldArgs};
use datafusion::physical_expr::expressions::{BinaryExpr, Column};
use datafusion::physical_expr::PhysicalExpr;

use super::spark_decimal::{self, DecimalOp, OnError, SparkDecimalFn};

/// The operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Mod,
}

/// One of the functions of this module.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkArithFn {
    name: &'static str,
    op: Op,
    /// NULL instead of an error (the `try_` functions).
    null_on_error: bool,
    signature: Signature,
}

impl SparkArithFn {
    fn new(name: &'static str, op: Op, null_on_error: bool) -> Self {
        SparkArithFn {
            name,
            op,
            null_on_error,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Every function of this module.
pub(crate) fn all() -> Vec<SparkArithFn> {
    vec![
        SparkArithFn::new("try_add", Op::Add, true),
        SparkArithFn::new("try_subtract", Op::Subtract, true),
        SparkArithFn::new("try_multiply", Op::Multiply, true),
        SparkArithFn::new("try_divide", Op::Divide, true),
        SparkArithFn::new("try_mod", Op::Mod, true),
        SparkArithFn::new("spark_divide", Op::Divide, false),
        SparkArithFn::new("spark_mod", Op::Mod, false),
    ]
}

impl Op {
    fn operator(self) -> Operator {
        match self {
            Op::Add => Operator::Plus,
            Op::Subtract => Operator::Minus,
            Op::Multiply => Operator::Multiply,
            Op::Divide => Operator::Divide,
            Op::Mod => Operator::Modulo,
        }
    }

    /// `a op b` as SQL's operator computes it (every type pair it takes: decimals, unsigned,
    /// mixed widths), overflow checked.
    fn apply(self, a: &ArrayRef, b: &ArrayRef) -> Result<ArrayRef> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", a.data_type().clone(), true),
            Field::new("b", b.data_type().clone(), true),
        ]));
        let rows = a.len();
        let batch = RecordBatch::try_new_with_options(
            schema,
            vec![a.clone(), b.clone()],
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        BinaryExpr::new(
            Arc::new(Column::new("a", 0)),
            self.operator(),
            Arc::new(Column::new("b", 1)),
        )
        .with_fail_on_overflow(true)
        .evaluate(&batch)?
        .into_array(rows)
    }

    /// The operation as DECIMAL arithmetic.
    fn decimal(self) -> Option<DecimalOp> {
        match self {
            Op::Add => Some(DecimalOp::Add),
            Op::Subtract => Some(DecimalOp::Subtract),
            Op::Multiply => Some(DecimalOp::Multiply),
            Op::Divide => Some(DecimalOp::Divide),
            Op::Mod => Some(DecimalOp::Remainder),
        }
    }

    fn by_zero(self) -> bool {
        matches!(self, Op::Divide | Op::Mod)
    }
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric() || *t == DataType::Null
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Where a divisor is zero (`-0.0` too, which an equality of floats' bits would miss).
fn zeros(b: &ArrayRef) -> Result<BooleanArray> {
    if b.data_type().is_floating() {
        let f = arrow::compute::cast(b, &DataType::Float64)?;
        return Ok(f
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.map(|x| x == 0.0))
            .collect());
    }
    let zero = ScalarValue::new_zero(b.data_type())?.to_scalar()?;
    Ok(cmp::eq(b, &zero)?)
}

impl ScalarUDFImpl for SparkArithFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [a, b] = arg_types else {
            return plan_err!(
                "{} takes two numbers, not {} arguments",
                self.name,
                arg_types.len()
            );
        };
        if self.decimal_types((a, None), (b, None)).is_some() {
            // Spark's DECIMAL arithmetic takes the operands as they are.
            return Ok(vec![a.clone(), b.clone()]);
        }
        if self.op == Op::Divide {
            // A fraction, of any numbers; text is read as a number (a DOUBLE), as in Spark.
            if (is_number(a) || is_text(a)) && (is_number(b) || is_text(b)) {
                return Ok(vec![DataType::Float64, DataType::Float64]);
            }
        } else if is_number(a) && is_number(b) {
            return Ok(match (a, b) {
                (DataType::Null, DataType::Null) => vec![DataType::Int32, DataType::Int32],
                (DataType::Null, t) | (t, DataType::Null) => vec![t.clone(), t.clone()],
                _ => {
                    let (a, b) =
                        BinaryTypeCoercer::new(a, &self.op.operator(), b).get_input_types()?;
                    vec![a, b]
                }
            });
        }
        plan_err!(
            "{} takes numbers, not {a} and {b}: cast the arguments to a number type",
            self.name
        )
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if self.op == Op::Divide {
            return Ok(DataType::Float64);
        }
        BinaryTypeCoercer::new(&arg_types[0], &self.op.operator(), &arg_types[1]).get_result_type()
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let [a, b] = args.arg_fields else {
            return plan_err!("{} takes two numbers", self.name);
        };
        let literal = |i: usize| {
            args.scalar_arguments
                .get(i)
                .copied()
                .flatten()
                .filter(|v| v.data_type().is_integer())
        };
        let nullable = true;
        if let Some((p, s)) =
            self.decimal_types((a.data_type(), literal(0)), (b.data_type(), literal(1)))
        {
            return Ok(Arc::new(Field::new(
                self.name,
                DataType::Decimal128(p, s),
                nullable,
            )));
        }
        let t = self.return_type(&[a.data_type().clone(), b.data_type().clone()])?;
        Ok(Arc::new(Field::new(self.name, t, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let (Some(op), DataType::Decimal128(p, s)) =
            (self.op.decimal(), args.return_field.data_type())
        {
            let on_error = if self.null_on_error {
                OnError::Null
            } else {
                OnError::Raise
            };
            return spark_decimal::invoke(op, &args, (*p, *s), on_error);
        }
        let scalars = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        // Scalars are computed as one row (a batch may have none).
        let rows = if scalars { 1 } else { args.number_rows };
        let a = args.args[0].to_array(rows)?;
        let b = args.args[1].to_array(rows)?;
        let out = self.compute(&a, &b)?;
        let out = arrow::compute::cast(&out, args.return_field.data_type())?;
        if scalars {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

impl SparkArithFn {
    /// Spark's result type when the operation is DECIMAL arithmetic (an operand is an integer
    /// literal when its value is given).
    fn decimal_types(
        &self,
        a: (&DataType, Option<&ScalarValue>),
        b: (&DataType, Option<&ScalarValue>),
    ) -> Option<(u8, i8)> {
        let op = self.op.decimal()?;
        let (l, r) = spark_decimal::operand_types(a, b)?;
        Some(op.result_type(l, r))
    }

    fn compute(&self, a: &ArrayRef, b: &ArrayRef) -> Result<ArrayRef> {
        let (a, b) = if self.op.by_zero() {
            // Zero divisors become NULL before the operator sees them (an integer one would
            // fail, a float one give infinity or NaN); a non-NULL dividend over one raises.
            let is_zero = zeros(b)?;
            if !self.null_on_error {
                let raising = boolean::and(&is_zero, &arrow::compute::is_not_null(a)?)?;
                if let Some(row) = raising.iter().position(|v| v == Some(true)) {
                    let text = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())?
                        .value(row)
                        .to_string();
                    return Err(super::ansi_errors::by_zero(self.op == Op::Mod, &text));
                }
            }
            (a.clone(), arrow::compute::nullif(b, &is_zero)?)
        } else {
            (a.clone(), b.clone())
        };
        match self.op.apply(&a, &b) {
            Ok(out) => Ok(out),
            // Overflow (or MIN % -1): NULL where a row fails, found row by row.
            Err(_) if self.null_on_error => self.row_by_row(&a, &b),
            Err(e) => Err(e),
        }
    }

    fn row_by_row(&self, a: &ArrayRef, b: &ArrayRef) -> Result<ArrayRef> {
        let kind = self.op.apply(&a.slice(0, 0), &b.slice(0, 0))?;
        let mut pieces: Vec<ArrayRef> = Vec::with_capacity(a.len());
        let mut failed = Vec::with_capacity(a.len());
        for row in 0..a.len() {
            match self.op.apply(&a.slice(row, 1), &b.slice(row, 1)) {
                Ok(v) => {
                    pieces.push(v);
                    failed.push(false);
                }
                Err(_) => {
                    pieces.push(arrow::array::new_null_array(kind.data_type(), 1));
                    failed.push(true);
                }
            }
        }
        let refs: Vec<&dyn Array> = pieces.iter().map(|p| p.as_ref()).collect();
        let joined = arrow::compute::concat(&refs)?;
        let failed = BooleanArray::from(failed);
        Ok(Arc::new(arrow::compute::nullif(&joined, &failed)?))
    }
}

/// Fixes the type of the functions of this module that compute DECIMALs when a query is
/// analysed ([`SparkDecimalFn`]): the type depends on whether an integer operand is a literal,
/// and DataFusion folds constant operands into literals later.
#[derive(Debug, Default)]
pub(crate) struct DecimalTypesFixed;

impl FunctionRewrite for DecimalTypesFixed {
    fn name(&self) -> &str {
        "spark_decimal_types_fixed"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        let Expr::ScalarFunction(f) = &expr else {
            return Ok(Transformed::no(expr));
        };
        // The functions that compute DECIMALs, before building any.
        const DECIMAL_FUNCTIONS: [&str; 7] = [
            "try_add",
            "try_subtract",
            "try_multiply",
            "try_divide",
            "try_mod",
            "spark_divide",
            "spark_mod",
        ];
        if !DECIMAL_FUNCTIONS.contains(&f.func.name()) {
            return Ok(Transformed::no(expr));
        }
        let Some(function) = all().into_iter().find(|a| a.name == f.func.name()) else {
            return Ok(Transformed::no(expr));
        };
        let (Some(op), [left, right]) = (function.op.decimal(), f.args.as_slice()) else {
            return Ok(Transformed::no(expr));
        };
        // As `return_field_from_args` sees an operand: a literal, or not.
        let literal = |e: &Expr| match e {
            Expr::Literal(v, _) if v.data_type().is_integer() => Some(v.clone()),
            _ => None,
        };
        let on_error = if function.null_on_error {
            OnError::Null
        } else {
            OnError::Raise
        };
        let planned = SparkDecimalFn::plan(
            op,
            (left, right),
            literal,
            (on_error, Some(function.name)),
            schema,
        );
        Ok(match planned {
            Some(e) => Transformed::yes(e),
            None => Transformed::no(expr),
        })
    }
}

#[cfg(test)]
mod tests {

    async fn one(sql: &str) -> std::result::Result<String, String> {
        crate::sql_rows::sql_rows(sql)
            .await
            .map(|rows| rows.join("\n"))
    }

    #[tokio::test]
    async fn try_functions_give_null_where_the_operation_fails() {
        let got = one(
            "SELECT try_add(a, b) AS s, try_subtract(a, b) AS d, try_multiply(a, b) AS p, \
             try_divide(a, b) AS q, try_mod(a, b) AS m FROM (VALUES \
             (CAST(2147483647 AS INT), CAST(2 AS INT)), (CAST(7 AS INT), CAST(2 AS INT)), \
             (CAST(7 AS INT), CAST(0 AS INT)), (CAST(NULL AS INT), CAST(0 AS INT))) AS t(a, b)",
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            "||2147483645||1073741823.5|1|\n|9|5|14|3.5|1|\n|7|7|0|||\n||||||"
        );
    }

    #[tokio::test]
    async fn spark_divide_and_mod_raise_on_a_zero_divisor_of_a_value_only() {
        let got = one(
            "SELECT spark_divide(a, b) AS q, spark_mod(a, b) AS m FROM (VALUES \
             (7, 2), (-7.5, 2), (CAST(NULL AS BIGINT), 0)) AS t(a, b)",
        )
        .await
        .unwrap();
        assert_eq!(got, "|3.5|1.0|\n|-3.75|-1.5|\n|||");
        let err = one("SELECT spark_divide(a, b) FROM (VALUES (1, 1), (7, 0)) AS t(a, b)")
            .await
            .unwrap_err();
        assert!(err.contains("[DIVIDE_BY_ZERO] 7.0 / 0"), "{err}");
        assert!(err.contains("try_divide"), "{err}");
        let err = one("SELECT spark_mod(a, b) FROM (VALUES (1.5, 1.0), (7.5, 0.0)) AS t(a, b)")
            .await
            .unwrap_err();
        assert!(err.contains("[REMAINDER_BY_ZERO] 7.5 % 0"), "{err}");
        // A branch no row takes never raises, even with constant arguments.
        let got = one(
            "SELECT CASE WHEN b <> 0 THEN spark_divide(1, 0) ELSE -1 END AS v \
             FROM (VALUES (0)) AS t(b)",
        )
        .await
        .unwrap();
        assert_eq!(got, "|-1.0|");
        let err = one("SELECT try_add('a', 1)").await.unwrap_err();
        assert!(err.contains("try_add takes numbers"), "{err}");
        let err = one("SELECT spark_divide(1, a) FROM (VALUES (CAST('-0.0' AS DOUBLE))) AS t(a)")
            .await
            .unwrap_err();
        assert!(err.contains("[DIVIDE_BY_ZERO]"), "{err}");
    }

    #[tokio::test]
    async fn every_type_the_operators_take_and_text_for_divisions() {
        let got = one("SELECT spark_mod(CAST(12.34 AS DECIMAL(10, 2)), 2) AS m, \
             try_add(CAST(1.5 AS DECIMAL(10, 2)), 1) AS s, spark_divide('7', 2) AS q, \
             spark_mod(CAST(7 AS BIGINT UNSIGNED), CAST(2 AS INT)) AS u, \
             try_multiply(CAST(9223372036854775807 AS BIGINT), 2) AS p")
        .await
        .unwrap();
        assert_eq!(got, "|0.34|2.50|3.5|1||");
        let err = one("SELECT spark_divide('x', 2)").await.unwrap_err();
        assert!(err.contains("[CAST_INVALID_INPUT]"), "{err}");
    }
}
