//! Spark's `log1p(x)` (NULL at or below -1, as Spark's logarithms) and `hypot(a, b)`
//! (`sqrt(a² + b²)` without overflow or underflow on the way), over DOUBLEs. Their values are
//! the platform's libm's, which may differ from Java's `StrictMath` in the last bit.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `log1p` or `hypot`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkMathFn {
    name: &'static str,
    signature: Signature,
}

impl SparkMathFn {
    fn new(name: &'static str) -> Self {
        SparkMathFn {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    pub(crate) fn log1p() -> Self {
        Self::new("log1p")
    }

    pub(crate) fn hypot() -> Self {
        Self::new("hypot")
    }

    fn arity(&self) -> usize {
        if self.name == "hypot" {
            2
        } else {
            1
        }
    }
}

impl ScalarUDFImpl for SparkMathFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if args.len() != self.arity() {
            return plan_err!(
                "{} takes {} argument(s), got {}",
                self.name,
                self.arity(),
                args.len()
            );
        }
        args.iter()
            .map(|t| match t {
                t if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(DataType::Float64),
                other => plan_err!("{} takes numbers, not {other}", self.name),
            })
            .collect()
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let columns = args
            .args
            .iter()
            .map(|a| {
                let array = a.to_array(args.number_rows)?;
                Ok(cast(&array, &DataType::Float64)?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let x = columns[0].as_primitive::<Float64Type>();
        let out: Float64Array = if self.name == "hypot" {
            let y = columns[1].as_primitive::<Float64Type>();
            arrow::compute::binary(x, y, f64::hypot)?
        } else {
            x.iter()
                .map(|v| v.filter(|v| v.is_nan() || *v > -1.0).map(f64::ln_1p))
                .collect()
        };
        super::like_input(scalar, Arc::new(out))
    }
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    #[tokio::test]
    async fn log1p_is_null_at_or_below_minus_one_and_hypot_never_overflows() {
        let got = run(
            "SELECT log1p(0), log1p(-1), log1p(-2), log1p(CAST('NaN' AS DOUBLE)), \
             log1p(CAST(1e-20 AS DOUBLE)), hypot(3, 4), hypot(1e300, 1e300), hypot(NULL, 1), \
             hypot(CAST('-inf' AS DOUBLE), CAST('NaN' AS DOUBLE))",
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            vec!["|0.0|||NaN|1e-20|5.0|1.4142135623730952e300||inf|"]
        );
    }
}
