//! `to_timestamp(value [, format, ...])` in microseconds, Spark's unit and SQL's `TIMESTAMP` here
//! (see `plan/spark_types.rs`): DataFusion's gives nanoseconds, and compared with a column of
//! microseconds (a Delta table's `valid_to = 9999-12-31`) it would have the column cast to
//! nanoseconds and overflow. Text alone is parsed straight into microseconds (the years 1 to
//! 9999); text with formats (chrono's, tried in order; the Python package turns Spark's patterns
//! into them) straight into microseconds too, the years 1 to 9999 (DataFusion's goes through
//! nanoseconds: the years 1677 to 2262); a number is seconds, as DataFusion and Spark read it.
//! `try_to_timestamp` gives NULL for text that does not read. A format with a named zone (`%Z`) and a session zone other than UTC keep DataFusion's parser.

use std::sync::Arc;

use arrow::array::{Array, AsArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::format::{parse, Parsed, StrftimeItems};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{exec_err, Result};
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
    /// `try_to_timestamp`: NULL for text that does not read as a timestamp.
    null_on_error: bool,
}

impl SparkToTimestampFn {
    pub(crate) fn new(null_on_error: bool) -> Self {
        Self::with_config(&ConfigOptions::default(), null_on_error)
    }

    fn with_config(config: &ConfigOptions, null_on_error: bool) -> Self {
        SparkToTimestampFn {
            micros: ToTimestampMicrosFunc::new_with_config(config),
            seconds: ToTimestampFunc::new_with_config(config),
            null_on_error,
        }
    }
}

impl ScalarUDFImpl for SparkToTimestampFn {
    fn name(&self) -> &str {
        if self.null_on_error {
            "try_to_timestamp"
        } else {
            "to_timestamp"
        }
    }

    fn signature(&self) -> &Signature {
        self.micros.signature()
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        Some(Self::with_config(config, self.null_on_error).into())
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
            let options = arrow::compute::CastOptions {
                safe: self.null_on_error,
                ..Default::default()
            };
            args.args[0].cast_to(&to, Some(&options))
        } else if text && to == DataType::Timestamp(TimeUnit::Microsecond, None) {
            match formatted(&args, self.null_on_error)? {
                Some(v) => Ok(v),
                None => self.micros.invoke_with_args(args),
            }
        } else {
            self.micros.invoke_with_args(args)
        }
    }
}

/// Microseconds since the epoch (UTC) of `text` read with the chrono `format`: `None` when it
/// does not match. A format without a time reads a date's midnight; one with an offset (`%z`)
/// gives that instant.
fn parse_micros(text: &str, format: &str) -> Option<i64> {
    let mut parsed = Parsed::new();
    parse(&mut parsed, text, StrftimeItems::new(format)).ok()?;
    if let Ok(t) = parsed.to_datetime() {
        return Some(t.timestamp_micros());
    }
    parsed
        .to_naive_datetime_with_offset(0)
        .or_else(|_| parsed.to_naive_date().map(|d| d.into()))
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

/// Text read with the formats (the arguments after the first, each tried in order) straight
/// into microseconds; `Ok(None)` when a format is not one this reads (`%Z`, or not text).
fn formatted(args: &ScalarFunctionArgs, null_on_error: bool) -> Result<Option<ColumnarValue>> {
    let rows = args.number_rows;
    let scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let mut columns = Vec::with_capacity(args.args.len());
    for a in &args.args {
        let array = a.to_array(rows)?;
        if !matches!(
            array.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            return Ok(None);
        }
        columns.push(cast(&array, &DataType::Utf8)?);
    }
    let columns: Vec<_> = columns.iter().map(|c| c.as_string::<i32>()).collect();
    let (text, formats) = (columns[0], &columns[1..]);
    if formats
        .iter()
        .any(|f| f.iter().flatten().any(|f| f.contains("%Z")))
    {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        if text.is_null(row) || formats.iter().any(|f| f.is_null(row)) {
            out.push(None);
            continue;
        }
        let t = text.value(row);
        match formats.iter().find_map(|f| parse_micros(t, f.value(row))) {
            Some(v) => out.push(Some(v)),
            None if null_on_error => out.push(None),
            None => {
                let tried: Vec<&str> = formats.iter().map(|f| f.value(row)).collect();
                return exec_err!(
                    "to_timestamp: '{t}' does not match the format {}. Fix the text or the \
                     format, or guard it (CASE WHEN s RLIKE ... THEN to_timestamp(...) END)",
                    tried.join(" or ")
                );
            }
        }
    }
    super::like_input(scalar, Arc::new(TimestampMicrosecondArray::from(out))).map(Some)
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

    #[tokio::test]
    async fn text_with_formats_gives_microseconds_from_the_year_1_to_9999() {
        use crate::sql_rows::sql_rows as run;
        let got = run(
            "SELECT CAST(to_timestamp('2300-01-02 03:04:05', '%Y-%m-%d %H:%M:%S') AS VARCHAR), \
             CAST(to_timestamp('1500-06-01', '%d/%m/%Y', '%Y-%m-%d') AS VARCHAR), \
             CAST(to_timestamp('2026-11-21 10:00 +0100', '%Y-%m-%d %H:%M %z') AS VARCHAR), \
             to_timestamp(NULL, '%Y'), \
             CAST(to_timestamp(s, '%Y-%m-%d %H:%M:%S%.f') AS BIGINT) \
             FROM (VALUES ('9999-12-31 23:59:59.999999')) AS t(s)",
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            vec![
                "|2300-01-02T03:04:05|1500-06-01T00:00:00|2026-11-21T09:00:00||253402300799999999|"
            ]
        );
        let got = run(
            "SELECT try_to_timestamp('2024-02-30 00:00:00', '%Y-%m-%d %H:%M:%S'), \
             try_to_timestamp('x'), CAST(try_to_timestamp('2300-01-02', '%Y-%m-%d') AS VARCHAR)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|||2300-01-02T00:00:00|"]);
        let err = run("SELECT to_timestamp('2024-02-30 00:00:00', '%Y-%m-%d %H:%M:%S')")
            .await
            .unwrap_err();
        assert!(
            err.contains("does not match the format %Y-%m-%d %H:%M:%S"),
            "{err}"
        );
    }
}
