//! `to_timestamp(value [, format, ...])` in microseconds, Spark's unit and SQL's `TIMESTAMP` here
//! (see `plan/spark_types.rs`): DataFusion's gives nanoseconds, and compared with a column of
//! microseconds (a Delta table's `valid_to = 9999-12-31`) it would have the column cast to
//! nanoseconds and overflow. Text alone is parsed straight into microseconds (the years 1 to
//! 9999); text with formats by DataFusion's `to_timestamp_micros` (the same formats, through
//! nanoseconds: the years 1677 to 2262); a number is seconds, as DataFusion and Spark read it.

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::Result;
use datafusion::functions::datetime::to_timestamp::{ToTimestampFunc, ToTimestampMicrosFunc};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkToTimestampFn {
    /// Text, timestamps and NULL.
    micros: ToTimestampMicrosFunc,
    /// Numbers (seconds, fractions included), then cast to microseconds.
    seconds: ToTimestampFunc,
}

impl Default for SparkToTimestampFn {
    fn default() -> Self {
        Self::with_config(&ConfigOptions::default())
    }
}

impl SparkToTimestampFn {
    fn with_config(config: &ConfigOptions) -> Self {
        SparkToTimestampFn {
            micros: ToTimestampMicrosFunc::new_with_config(config),
            seconds: ToTimestampFunc::new_with_config(config),
        }
    }
}

impl ScalarUDFImpl for SparkToTimestampFn {
    fn name(&self) -> &str {
        "to_timestamp"
    }

    fn signature(&self) -> &Signature {
        self.micros.signature()
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        Some(Self::with_config(config).into())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.micros.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to = args.return_field.data_type().clone();
        let number = args
            .args
            .first()
            .is_some_and(|a| a.data_type().is_numeric());
        let text = args.args.first().is_some_and(|a| {
            matches!(
                a.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        });
        if number {
            self.seconds.invoke_with_args(args)?.cast_to(&to, None)
        } else if text && args.args.len() == 1 {
            // Arrow's parser, straight into microseconds: the years 1 to 9999. (With formats,
            // DataFusion's parser goes through nanoseconds: the years 1677 to 2262.)
            args.args[0].cast_to(&to, None)
        } else {
            self.micros.invoke_with_args(args)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Session;

    #[tokio::test]
    async fn text_and_numbers_give_microseconds_through_the_year_9999() {
        let s = Session::new();
        let rows = s
            .sql(
                "SELECT CAST(to_timestamp('9999-12-31T23:59:59.999999') AS BIGINT) AS a, \
                        CAST(to_timestamp(1.5) AS BIGINT) AS b, \
                        CAST(to_timestamp('2026-11-21 10:00', '%Y-%m-%d %H:%M') AS BIGINT) AS c, \
                        arrow_typeof(to_timestamp('2026-01-01')) AS t",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        assert!(text.contains("253402300799999999"), "{text}");
        assert!(text.contains("| 1500000 "), "{text}");
        assert!(text.contains("1795255200000000"), "{text}");
        assert!(text.contains("Timestamp(µs)"), "{text}");
    }
}
