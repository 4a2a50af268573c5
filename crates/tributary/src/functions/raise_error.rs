//! `raise_error(message)`: fails the query with `message` when a row reaches it (Spark's
//! `raise_error`), as `CASE WHEN ok THEN value ELSE raise_error('...') END` does for the rows that
//! are not ok. Volatile, so the optimizer never evaluates it ahead of the rows (a branch no row
//! takes never fails). Its type is NULL, which fits any branch.

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Name of the function.
pub(crate) const RAISE_ERROR: &str = "raise_error";

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct RaiseErrorFn {
    signature: Signature,
}

impl Default for RaiseErrorFn {
    fn default() -> Self {
        RaiseErrorFn {
            signature: Signature::any(1, Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for RaiseErrorFn {
    fn name(&self) -> &str {
        RAISE_ERROR
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Null)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.number_rows == 0 {
            return Ok(ColumnarValue::Scalar(ScalarValue::Null));
        }
        let message = match &args.args[0] {
            ColumnarValue::Scalar(v) => v.to_string(),
            ColumnarValue::Array(a) => {
                let text = arrow::compute::cast(a, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                (0..text.len())
                    .find(|i| text.is_valid(*i))
                    .map(|i| text.value(i).to_string())
                    .unwrap_or_default()
            }
        };
        exec_err!("{message}")
    }
}

#[cfg(test)]
mod tests {
    use crate::Session;

    #[tokio::test]
    async fn a_row_that_reaches_it_fails_the_query_and_a_branch_none_takes_does_not() {
        let s = Session::new();
        let sql = "SELECT CASE WHEN v > 0 THEN v ELSE raise_error('v must be positive') END AS v \
                   FROM (VALUES (1), (2)) AS t(v)";
        let rows = s.sql(sql).await.unwrap().collect().await.unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        let sql = "SELECT CASE WHEN v > 0 THEN v ELSE raise_error('v must be positive') END AS v \
                   FROM (VALUES (1), (-2)) AS t(v)";
        let err = match s.sql(sql).await {
            Ok(df) => df.collect().await.unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("v must be positive"), "{err}");
    }
}
