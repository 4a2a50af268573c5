//! `store_cast(value, CAST(NULL AS type), 'column')`: a value written into a table column of a
//! narrower type (BIGINT into INT, DOUBLE into FLOAT or DECIMAL(5, 2), ...), as Spark's ANSI store
//! assignment does it: a value that does not fit stops the query naming the column and the
//! value, never NULL or a wrapped number (Spark's `CAST_OVERFLOW_IN_TABLE_INSERT`).
//!
//! Built by [`crate::store_assignment::assign`] only where the cast can fail; elsewhere an
//! INSERT keeps a plain `CAST`.

use arrow::array::{Array, ArrayRef};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Name of the function.
pub(crate) const STORE_CAST: &str = "store_cast";

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct StoreCastFn {
    signature: Signature,
}

impl Default for StoreCastFn {
    fn default() -> Self {
        StoreCastFn {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for StoreCastFn {
    fn name(&self) -> &str {
        STORE_CAST
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[1].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to = args.return_field.data_type().clone();
        let column = match &args.args[2] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(c))) => c.clone(),
            other => return exec_err!("store_cast: the column name must be text, not {other:?}"),
        };
        let values = args.args[0].to_array(args.number_rows)?;
        let strict = CastOptions {
            safe: false,
            ..Default::default()
        };
        match cast_with_options(&values, &to, &strict) {
            Ok(out) if !overflowed_to_infinity(&values, &out) => Ok(ColumnarValue::Array(out)),
            _ => {
                let value = first_misfit(&values, &to).unwrap_or_default();
                exec_err!(
                    "column '{column}': the value {value} does not fit the table's type {} \
                     (Spark's store assignment stops here too): filter or cap it in the SELECT, \
                     or TRY_CAST it to write NULL instead",
                    crate::format::sql_type(&to)
                )
            }
        }
    }
}

/// A finite float that became infinite in a narrower float.
fn overflowed_to_infinity(from: &ArrayRef, to: &ArrayRef) -> bool {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float32Type, Float64Type};
    match (from.data_type(), to.data_type()) {
        (DataType::Float64, DataType::Float32) => {
            let (f, t) = (
                from.as_primitive::<Float64Type>(),
                to.as_primitive::<Float32Type>(),
            );
            (0..f.len())
                .any(|i| f.is_valid(i) && f.value(i).is_finite() && t.value(i).is_infinite())
        }
        _ => false,
    }
}

/// The text of the first value of `values` that does not convert to `to`.
fn first_misfit(values: &ArrayRef, to: &DataType) -> Option<String> {
    let safe = cast_with_options(values, to, &CastOptions::default()).ok()?;
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let row = (0..values.len()).find(|&i| {
        values.is_valid(i)
            && (safe.is_null(i)
                || cast_with_options(&values.slice(i, 1), to, &strict)
                    .map(|one| overflowed_to_infinity(&values.slice(i, 1), &one))
                    .unwrap_or(true))
    })?;
    let formatter = ArrayFormatter::try_new(values.as_ref(), &FormatOptions::default()).ok()?;
    Some(formatter.value(row).to_string())
}

/// The call that casts `value` into a column `column` of type `to`.
pub(crate) fn call(
    value: datafusion::logical_expr::Expr,
    to: &DataType,
    column: &str,
) -> datafusion::logical_expr::Expr {
    use datafusion::logical_expr::{cast, lit};
    super::call(
        datafusion::logical_expr::ScalarUDF::new_from_impl(StoreCastFn::default()),
        vec![value, cast(lit(ScalarValue::Null), to.clone()), lit(column)],
    )
}

#[cfg(test)]
mod tests {
    use crate::Session;

    async fn run(sql: &str) -> Result<usize, String> {
        let s = Session::new();
        match s.sql(sql).await {
            Ok(df) => df
                .collect()
                .await
                .map(|b| b.iter().map(|b| b.num_rows()).sum())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn a_value_that_fits_is_cast_and_one_that_does_not_names_the_column_and_value() {
        let ok = "SELECT store_cast(v, CAST(NULL AS INT), 'n') FROM (VALUES (1), (2)) AS t(v)";
        assert_eq!(run(ok).await, Ok(2));
        let big = "SELECT store_cast(v, CAST(NULL AS INT), 'n') \
                   FROM (VALUES (CAST(1 AS BIGINT)), (3000000000)) AS t(v)";
        let err = run(big).await.unwrap_err();
        assert!(
            err.contains("column 'n': the value 3000000000 does not fit the table's type INT"),
            "{err}"
        );
        let float = "SELECT store_cast(v, CAST(NULL AS FLOAT), 'f') FROM (VALUES (1e300)) AS t(v)";
        let err = run(float).await.unwrap_err();
        assert!(
            err.contains("column 'f': the value 1e300 does not fit"),
            "{err}"
        );
    }
}
