//! DECIMAL arithmetic held to its type's precision, as Spark's ANSI mode holds it: a result with
//! more digits than `DECIMAL(p, s)` has raises `[NUMERIC_VALUE_OUT_OF_RANGE]`.
//!
//! DataFusion's checked `+ - *` on DECIMALs fail only past 128 bits, so
//! `CAST('99999999999999999999999999999999999999' AS DECIMAL(38, 0)) + 1` is a DECIMAL(38, 0)
//! holding 39 digits, a value no reader of the type expects (Parquet and Delta write it as it is).
//! [`super::ansi`] wraps such an operator in [`DecimalInRange`], which checks the operator's
//! result batch by batch.

use std::fmt;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Decimal128Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;

/// `expr`, a DECIMAL(precision, scale), whose values must have at most `precision` digits.
#[derive(Debug, Eq)]
pub(crate) struct DecimalInRange {
    expr: Arc<dyn PhysicalExpr>,
    precision: u8,
    scale: i8,
}

impl PartialEq for DecimalInRange {
    fn eq(&self, other: &Self) -> bool {
        self.expr.eq(&other.expr) && (self.precision, self.scale) == (other.precision, other.scale)
    }
}

impl std::hash::Hash for DecimalInRange {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.expr.hash(state);
        (self.precision, self.scale).hash(state);
    }
}

impl DecimalInRange {
    /// `expr` checked, when it computes a DECIMAL128 over rows of `schema`; `expr` otherwise.
    pub(crate) fn wrap(
        expr: Arc<dyn PhysicalExpr>,
        schema: &Schema,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(match expr.data_type(schema)? {
            DataType::Decimal128(precision, scale) => Arc::new(DecimalInRange {
                expr,
                precision,
                scale,
            }),
            _ => expr,
        })
    }

    fn check(&self, v: i128) -> Result<()> {
        if v.unsigned_abs() < 10u128.pow(self.precision as u32) {
            return Ok(());
        }
        let text = decimal_text(v, self.scale);
        Err(DataFusionError::Execution(format!(
            "[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION] {text} cannot be represented as DECIMAL({}, {}): \
             the result has more digits than its type. Cast an operand to a DECIMAL with fewer \
             digits after the point, or to DOUBLE, before the arithmetic",
            self.precision, self.scale
        )))
    }
}

/// An unscaled value as decimal text (`12345`, scale 2: `123.45`), of any number of digits.
pub(crate) fn decimal_text(v: i128, scale: i8) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let digits = v.unsigned_abs().to_string();
    if scale <= 0 {
        return format!(
            "{sign}{digits}{}",
            "0".repeat(scale.unsigned_abs() as usize)
        );
    }
    let scale = scale as usize;
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

impl fmt::Display for DecimalInRange {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.expr)
    }
}

impl PhysicalExpr for DecimalInRange {
    fn data_type(&self, input_schema: &Schema) -> Result<DataType> {
        self.expr.data_type(input_schema)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.expr.nullable(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let out = self.expr.evaluate(batch)?;
        match &out {
            ColumnarValue::Array(a) => {
                for v in a.as_primitive::<Decimal128Type>().iter().flatten() {
                    self.check(v)?;
                }
            }
            ColumnarValue::Scalar(ScalarValue::Decimal128(Some(v), ..)) => self.check(*v)?,
            ColumnarValue::Scalar(_) => {}
        }
        Ok(out)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.expr]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(DecimalInRange {
            expr: children[0].clone(),
            precision: self.precision,
            scale: self.scale,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt_sql(f)
    }
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    #[test]
    fn values_of_any_number_of_digits_read_as_decimals() {
        assert_eq!(super::decimal_text(12345, 2), "123.45");
        assert_eq!(super::decimal_text(-5, 3), "-0.005");
        assert_eq!(super::decimal_text(12, -2), "1200");
        assert_eq!(
            super::decimal_text(10i128.pow(38), 0),
            format!("1{}", "0".repeat(38))
        );
    }

    #[tokio::test]
    async fn decimal_arithmetic_past_its_precision_raises() {
        let nines = "9".repeat(38);
        for sql in [
            format!(
                "SELECT a + CAST(1 AS DECIMAL(38, 0)) FROM (VALUES (CAST('{nines}' AS DECIMAL(38, 0)))) AS t(a)"
            ),
            // 1.44e38: within 128 bits, past 38 digits.
            "SELECT a * a FROM (VALUES (CAST('12000000000000000000' AS DECIMAL(20, 0)))) AS t(a)"
                .to_string(),
            format!(
                "SELECT a - CAST(1 AS DECIMAL(38, 0)) FROM (VALUES (CAST('-{nines}' AS DECIMAL(38, 0)))) AS t(a)"
            ),
            // A constant, before DataFusion folds it.
            format!(
                "SELECT a, CAST('{nines}' AS DECIMAL(38, 0)) + CAST(1 AS DECIMAL(38, 0)) FROM (VALUES (1)) AS t(a)"
            ),
        ] {
            let err = run(&sql).await.unwrap_err();
            assert!(err.contains("[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION]"), "{sql}: {err}");
            assert!(err.contains("cannot be represented as DECIMAL(38, 0)"), "{sql}: {err}");
            assert!(err.contains("00000000000000000000"), "{sql}: {err}");
        }
        // What has room computes.
        let got = run(
            "SELECT a * a, a + a FROM (VALUES (CAST('9999999999999999999' AS DECIMAL(19, 0)))) AS t(a)",
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            vec!["|99999999999999999980000000000000000001|19999999999999999998|"]
        );
    }
}
