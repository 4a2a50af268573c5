//! `spark_ceil(x)` and `spark_floor(x)`: Spark's `ceil`/`ceiling` and `floor`, which PySpark's
//! `F.ceil`, `F.ceiling` and `F.floor` call. SQL's own `ceil`/`floor` keep DataFusion's dialect
//! (a DOUBLE of a DOUBLE).
//!
//! | input | result |
//! |---|---|
//! | an integer | BIGINT, the value |
//! | FLOAT, DOUBLE | BIGINT; NaN is 0; past BIGINT's range (the infinities too) `[ARITHMETIC_OVERFLOW]` |
//! | `DECIMAL(p, 0)` | itself |
//! | `DECIMAL(p, s)` | `DECIMAL(min(p - s + 1, 38), 0)`, rounded toward +∞ (`ceil`) or −∞ (`floor`) |

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Decimal128Array, Int64Array};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type};
use datafusion::common::{plan_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `spark_ceil` or `spark_floor`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkCeilFn {
    up: bool,
    signature: Signature,
}

impl SparkCeilFn {
    pub(crate) fn ceil() -> Self {
        Self {
            up: true,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    pub(crate) fn floor() -> Self {
        Self {
            up: false,
            ..Self::ceil()
        }
    }

    fn doubles(&self, values: &ArrayRef) -> Result<ArrayRef> {
        let doubles = arrow::compute::cast(values, &DataType::Float64)?;
        let mut out = Vec::with_capacity(doubles.len());
        for v in doubles.as_primitive::<Float64Type>().iter() {
            out.push(match v {
                None => None,
                Some(v) if v.is_nan() => Some(0),
                Some(v) => {
                    let w = if self.up { v.ceil() } else { v.floor() };
                    // i64's range is [-2^63, 2^63): both ends are exact doubles.
                    const TWO_63: f64 = 9_223_372_036_854_775_808u64 as f64;
                    if !(-TWO_63..TWO_63).contains(&w) {
                        return Err(DataFusionError::Execution(format!(
                            "[ARITHMETIC_OVERFLOW] the {} of {v} is past BIGINT's range. Use a \
                             DOUBLE (round) or a DECIMAL instead",
                            self.name()
                        )));
                    }
                    Some(w as i64)
                }
            });
        }
        Ok(Arc::new(Int64Array::from(out)))
    }

    fn decimals(&self, values: &ArrayRef, s: i8, to: &DataType) -> Result<ArrayRef> {
        let DataType::Decimal128(p, _) = to else {
            return datafusion::common::internal_err!("{} typed {to}", self.name());
        };
        let unit = 10i128.pow(s.max(0) as u32);
        let out: Decimal128Array = values
            .as_primitive::<Decimal128Type>()
            .iter()
            .map(|v| {
                v.map(|v| {
                    let (q, r) = (v / unit, v % unit);
                    match (self.up, r) {
                        (true, r) if r > 0 => q + 1,
                        (false, r) if r < 0 => q - 1,
                        _ => q,
                    }
                })
            })
            .collect();
        Ok(Arc::new(out.with_precision_and_scale(*p, 0)?))
    }
}

impl ScalarUDFImpl for SparkCeilFn {
    fn name(&self) -> &str {
        if self.up {
            "spark_ceil"
        } else {
            "spark_floor"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            DataType::Decimal128(p, 0) => Ok(DataType::Decimal128(*p, 0)),
            DataType::Decimal128(p, s) if *s > 0 => Ok(DataType::Decimal128(
                (*p as i16 - *s as i16 + 1).clamp(1, 38) as u8,
                0,
            )),
            t if t.is_numeric() && !t.is_decimal() => Ok(DataType::Int64),
            DataType::Null => Ok(DataType::Int64),
            t => plan_err!(
                "{} takes a number, not {t}: cast the value to DOUBLE or DECIMAL",
                self.name()
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let rows = if scalar { 1 } else { args.number_rows };
        let values = args.args[0].to_array(rows)?;
        let to = args.return_field.data_type();
        let out = match values.data_type() {
            DataType::Decimal128(_, s) => self.decimals(&values, *s, to)?,
            t if t.is_integer() || *t == DataType::Null => arrow::compute::cast(&values, to)?,
            _ => self.doubles(&values)?,
        };
        super::like_input(scalar, out)
    }
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    #[tokio::test]
    async fn ceil_and_floor_as_spark_types_them() {
        // PySpark 4.3's answers.
        let rows = run(
            "SELECT spark_ceil(x), spark_floor(x), spark_ceil(d), spark_floor(d), spark_ceil(i), \
             arrow_typeof(spark_ceil(d)), arrow_typeof(spark_ceil(x)) FROM (VALUES \
             (1.5, CAST('-1.25' AS DECIMAL(5,2)), 3), (-0.5, CAST('2.01' AS DECIMAL(5,2)), -3), \
             (CAST('NaN' AS DOUBLE), CAST('7' AS DECIMAL(5,2)), NULL)) AS t(x, d, i)",
        )
        .await
        .unwrap();
        assert_eq!(
            rows,
            [
                "|2|1|-1|-2|3|Decimal128(4,0)|Int64|",
                "|0|-1|3|2|-3|Decimal128(4,0)|Int64|",
                "|0|0|7|7||Decimal128(4,0)|Int64|",
            ]
        );
        let err = run("SELECT spark_ceil(CAST('Infinity' AS DOUBLE))")
            .await
            .unwrap_err();
        assert!(err.contains("ARITHMETIC_OVERFLOW"), "{err}");
        let big = run("SELECT spark_floor(CAST('-12345678901234567890.5' AS DECIMAL(30,1)))")
            .await
            .unwrap();
        assert_eq!(big, ["|-12345678901234567891|"]);
    }
}
