//! `now()` and `current_timestamp()` in microseconds, Spark's unit and SQL's `TIMESTAMP` here
//! (see `plan/spark_types.rs`).
//!
//! DataFusion's own gives nanoseconds; compared with a column of microseconds it would have the
//! column cast to nanoseconds, and `valid_to > current_timestamp()` would overflow on every open
//! row of a slowly changing dimension (`9999-12-31`). This one replaces it in every session: the
//! same name and alias, the same stable value (the query's start, an epoch's planned time in a
//! stream), in the session's time zone when one is set.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{internal_err, Result, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkNowFn {
    signature: Signature,
    aliases: Vec<String>,
    timezone: Option<Arc<str>>,
}

impl Default for SparkNowFn {
    fn default() -> Self {
        Self::with_config(&ConfigOptions::default())
    }
}

impl SparkNowFn {
    fn with_config(config: &ConfigOptions) -> Self {
        Self {
            signature: Signature::nullary(Volatility::Stable),
            aliases: vec!["current_timestamp".to_string()],
            timezone: config.execution.time_zone.as_deref().map(Arc::from),
        }
    }

    fn data_type(&self) -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, self.timezone.clone())
    }
}

impl ScalarUDFImpl for SparkNowFn {
    fn name(&self) -> &str {
        "now"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        Some(Self::with_config(config).into())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(self.name(), self.data_type(), false)))
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.data_type())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        internal_err!("now() is replaced by its value when the plan is simplified")
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let Some(start) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            ScalarValue::TimestampMicrosecond(
                Some(start.timestamp_micros()),
                self.timezone.clone(),
            ),
            None,
        )))
    }
}
