//! A DOUBLE (or FLOAT) cast to a DECIMAL as Spark casts it: the decimal Java writes for the
//! double, rounded half up to the scale. Arrow scales the double and rounds it, so
//! `CAST(1.255 AS DECIMAL(5,2))` was `1.25` (1.255 is stored as 1.25499999999999989…), where
//! Spark gives `1.26`.
//!
//! ```text
//!  CAST(x AS DECIMAL(5,2)), x a DOUBLE ── DoubleToDecimalRule (analyzer) ──► spark_double_to_decimal(x)
//!                                                                            typed DECIMAL(5,2), named as the cast
//! ```
//! The rule runs before DataFusion folds constants, so a constant cast gets the same answer. A
//! FLOAT is read as the double it widens to (Spark's too: `0.1f` is `0.10000000149011612`). A
//! value past the type raises `[NUMERIC_VALUE_OUT_OF_RANGE]`; NaN and the infinities give NULL
//! (Spark's, in ANSI mode too); `TRY_CAST` gives NULL for a value past the type. PySpark's
//! `cast` (`spark_cast`) comes here too. The decimal is the shortest that reads back as the
//! double, as Java 19 and later print it; Java 17's `Double.toString` prints a digit more for
//! some doubles (`8.41E21` as `8.409999999999999E21`), so Spark on Java 17 can differ there.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Decimal128Array};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// `x` (a DOUBLE) as a `DECIMAL(precision, scale)` (see the module).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DoubleToDecimalFn {
    precision: u8,
    scale: i8,
    /// NULL for a value past the type (`TRY_CAST`), not an error.
    null_on_error: bool,
    signature: Signature,
}

/// `value` (of type `from`) cast to `to` by [`DoubleToDecimalFn`] when `from` is a FLOAT or
/// DOUBLE and `to` a DECIMAL128 of a scale of 0 or more; `None` otherwise.
pub(crate) fn call(
    value: &Expr,
    from: &DataType,
    to: &DataType,
    null_on_error: bool,
) -> Option<Expr> {
    let DataType::Decimal128(precision, scale) = to else {
        return None;
    };
    if *scale < 0 || !from.is_floating() {
        return None;
    }
    let udf = DoubleToDecimalFn {
        precision: *precision,
        scale: *scale,
        null_on_error,
        signature: Signature::any(1, Volatility::Immutable),
    };
    Some(Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(udf)),
        vec![value.clone()],
    )))
}

/// The unscaled value at `scale >= 0` of the decimal Java writes for the finite `v`, rounded
/// half up; `None` past 38 digits.
fn unscaled(v: f64, scale: i8) -> Option<i128> {
    if v == 0.0 {
        return Some(0);
    }
    // The fewest digits that read back as `v`, as `d.ddde±x`.
    let shortest = format!("{:e}", v.abs());
    let (mantissa, exponent) = shortest.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|c| c - b'0')
        .collect();
    // Digit i stands for 10^(exponent - i); those down to 10^-scale are kept.
    let keep = exponent + i32::from(scale) + 1;
    let mut n: i128 = 0;
    for i in 0..keep.max(0) {
        let d = digits.get(i as usize).copied().unwrap_or(0);
        n = n.checked_mul(10)?.checked_add(i128::from(d))?;
    }
    if keep >= 0 && digits.get(keep as usize).is_some_and(|d| *d >= 5) {
        n += 1;
    }
    Some(if v < 0.0 { -n } else { n })
}

impl DoubleToDecimalFn {
    fn convert(&self, values: &ArrayRef) -> Result<ArrayRef> {
        let doubles = arrow::compute::cast(values, &DataType::Float64)?;
        let doubles = doubles.as_primitive::<Float64Type>();
        let limit = 10i128.pow(u32::from(self.precision));
        let mut out = Vec::with_capacity(doubles.len());
        for v in doubles.iter() {
            let Some(v) = v else {
                out.push(None);
                continue;
            };
            if !v.is_finite() {
                // Spark's cast gives NULL for NaN and the infinities, in ANSI mode too.
                out.push(None);
                continue;
            }
            match unscaled(v, self.scale.max(0)) {
                Some(n) if n.unsigned_abs() < limit.unsigned_abs() => out.push(Some(n)),
                _ if self.null_on_error => out.push(None),
                _ => {
                    return Err(DataFusionError::Execution(format!(
                        "[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION] {} cannot be represented as \
                         DECIMAL({}, {}): it has more digits than the type. Cast to a DECIMAL with \
                         more digits, or use TRY_CAST to get NULL instead",
                        super::java_float_text::java_float_text(
                            &(Arc::new(arrow::array::Float64Array::from(vec![v])) as ArrayRef)
                        )
                        .map(|t| t.as_string::<i32>().value(0).to_string())
                        .unwrap_or_else(|| v.to_string()),
                        self.precision,
                        self.scale
                    )))
                }
            }
        }
        Ok(Arc::new(
            Decimal128Array::from(out).with_precision_and_scale(self.precision, self.scale)?,
        ))
    }
}

impl ScalarUDFImpl for DoubleToDecimalFn {
    fn name(&self) -> &str {
        "spark_double_to_decimal"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(self.precision, self.scale))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let rows = if scalar { 1 } else { args.number_rows };
        let out = self.convert(&args.args[0].to_array(rows)?)?;
        super::like_input(scalar, out)
    }
}

/// The analyzer rule that puts [`DoubleToDecimalFn`] in place of a cast of a DOUBLE or FLOAT to
/// a DECIMAL128 (of a scale of 0 or more), keeping the column's name.
#[derive(Debug, Default)]
pub(crate) struct DoubleToDecimalRule;

impl AnalyzerRule for DoubleToDecimalRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // A join's conditions read both inputs: its own schema holds both.
            let schema = match &node {
                LogicalPlan::Join(_) => node.schema().clone(),
                _ => node
                    .inputs()
                    .first()
                    .map(|i| i.schema().clone())
                    .unwrap_or_else(|| node.schema().clone()),
            };
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let name = names.save(&e);
                let out = e.transform_up(|e| {
                    let (value, to, null_on_error) = match &e {
                        Expr::Cast(c) => (c.expr.as_ref(), c.field.data_type(), false),
                        Expr::TryCast(c) => (c.expr.as_ref(), c.field.data_type(), true),
                        _ => return Ok(Transformed::no(e)),
                    };
                    let Ok(from) = value.get_type(&schema) else {
                        return Ok(Transformed::no(e));
                    };
                    Ok(match call(value, &from, to, null_on_error) {
                        Some(cast) => Transformed::yes(cast),
                        None => Transformed::no(e),
                    })
                })?;
                Ok(if out.transformed {
                    Transformed::yes(name.restore(out.data))
                } else {
                    out
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "spark_double_to_decimal"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql_rows::sql_rows as run;

    #[test]
    fn doubles_are_read_as_the_decimal_java_writes() {
        assert_eq!(unscaled(1.255, 2), Some(126));
        assert_eq!(unscaled(-1.255, 2), Some(-126));
        assert_eq!(unscaled(1.005, 2), Some(101));
        assert_eq!(unscaled(0.1, 20), Some(10_000_000_000_000_000_000));
        assert_eq!(unscaled(1e20, 0), Some(100_000_000_000_000_000_000));
        assert_eq!(unscaled(0.0004, 3), Some(0));
        assert_eq!(unscaled(0.0005, 3), Some(1));
        assert_eq!(unscaled(0.00049, 2), Some(0));
        assert_eq!(unscaled(9.5, 0), Some(10));
        assert_eq!(unscaled(1e300, 2), None);
    }

    #[tokio::test]
    async fn casts_of_doubles_to_decimals_round_the_printed_value() {
        // PySpark 4.3's answers.
        let rows = run(
            "SELECT CAST(a AS DECIMAL(5,2)) AS d, CAST(CAST(a AS FLOAT) AS DECIMAL(10,9)) AS f \
             FROM (VALUES (1.255), (-1.255), (2.675), (NULL)) AS t(a)",
        )
        .await
        .unwrap();
        assert_eq!(
            rows,
            [
                "|1.26|1.254999995|",
                "|-1.26|-1.254999995|",
                "|2.68|2.674999952|",
                "|||"
            ]
        );
        // A constant, folded after the rule, and the column's name kept.
        let s = crate::Session::new();
        let df = s.sql("SELECT CAST(1.255 AS DECIMAL(5,2))").await.unwrap();
        let name = df.schema().field(0).name().clone();
        let batches = df.collect().await.unwrap();
        assert_eq!(batches[0].schema().field(0).name(), &name);
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("1.26"), "{text}");
        let err = run("SELECT CAST(a AS DECIMAL(3,1)) FROM (VALUES (123.4)) AS t(a)")
            .await
            .unwrap_err();
        assert!(
            err.contains("NUMERIC_VALUE_OUT_OF_RANGE") && err.contains("123.4"),
            "{err}"
        );
        let rows = run(
            "SELECT CAST(a AS DECIMAL(10,2)) FROM (VALUES (CAST('NaN' AS DOUBLE)), \
             (CAST('Infinity' AS DOUBLE))) AS t(a)",
        )
        .await
        .unwrap();
        assert_eq!(rows, ["||", "||"]);
        // TRY_CAST: NULL past the type; a join's condition reads the right side's column.
        let rows = run(
            "SELECT TRY_CAST(a AS DECIMAL(5,2)) AS x, TRY_CAST(a * 100 AS DECIMAL(2,1)) AS y \
             FROM (VALUES (1.255)) AS t(a)",
        )
        .await
        .unwrap();
        assert_eq!(rows, ["|1.26||"]);
        let rows = run(
            "SELECT l.k FROM (VALUES (1), (2)) AS l(k) JOIN (VALUES (1, 1.255), (2, 1.005)) \
             AS r(k, x) ON l.k = r.k AND CAST(r.x AS DECIMAL(5,2)) > 1.25 ORDER BY l.k",
        )
        .await
        .unwrap();
        assert_eq!(rows, ["|1|"]);
    }
}
