//! `spark_cast(value, CAST(NULL AS type))`: a cast with Spark's meaning where it differs from
//! SQL's (DataFusion's): a timestamp cast to a number is the seconds since the Unix epoch (with
//! the fraction for DOUBLE, FLOAT and DECIMAL), and a number cast to a timestamp is that many
//! seconds after it; a timestamp cast to text reads `2026-01-01 00:00:01.75` (a space, the
//! fraction without its trailing zeros) where SQL's reads `2026-01-01T00:00:01.750`; a double or
//! float cast to text reads as Java writes it (`1.0E20`, `100.0`; see `java_float_text`). The second
//! argument only carries the type. Every other cast is the plain
//! `CAST`, which the optimizer puts in the function's place. The Python API's `Column.cast`
//! calls it, since a Python column does not know its input's type.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, PrimitiveArray};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Name of the function.
pub(crate) const SPARK_CAST: &str = "spark_cast";

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkCastFn {
    signature: Signature,
}

impl Default for SparkCastFn {
    fn default() -> Self {
        SparkCastFn {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// Whether Spark's cast from `from` to `to` differs from SQL's.
fn differs(from: &DataType, to: &DataType) -> bool {
    let number = |t: &DataType| t.is_numeric();
    matches!(
        (from, to),
        (DataType::Timestamp(..), t) if number(t) || is_text(t)
    ) || matches!((from, to), (f, DataType::Timestamp(..)) if number(f))
        || matches!((from, to), (DataType::Float64 | DataType::Float32, t) if is_text(t))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Timestamps as Spark writes them as text: `yyyy-MM-dd HH:mm:ss`, and the fraction of a second
/// without trailing zeros when there is one; in the timestamp's own zone when it has one.
fn timestamp_to_text(values: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let text = cast_with_options(values, &DataType::Utf8, &STRICT)?;
    let spark: arrow::array::StringArray = text
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(spark_timestamp_text))
        .collect();
    Ok(cast_with_options(
        &(Arc::new(spark) as ArrayRef),
        to,
        &STRICT,
    )?)
}

/// `2026-01-01T00:00:01.750` (or with a zone: `...750+00:00`, `...Z`) as
/// `2026-01-01 00:00:01.75`.
fn spark_timestamp_text(sql: &str) -> String {
    let (date_time, zone) = match sql.find(['+', 'Z']).or_else(|| {
        // A negative offset: the '-' after the time, not those of the date.
        sql.get(11..).and_then(|t| t.find('-')).map(|i| i + 11)
    }) {
        Some(i) => sql.split_at(i),
        None => (sql, ""),
    };
    let mut out = date_time.replacen('T', " ", 1);
    if out.contains('.') {
        let kept = out.trim_end_matches('0').trim_end_matches('.').len();
        out.truncate(kept);
    }
    // Spark shows the session zone's local time without the zone; a UTC one reads the same.
    if !matches!(zone, "" | "Z" | "+00:00") {
        out.push_str(zone);
    }
    out
}

fn ticks_per_second(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Spark's ANSI casts: a value that does not convert (or overflows) is an error, not NULL.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

/// Timestamps to seconds: whole seconds (rounded down) for integer types, else with the
/// fraction.
fn timestamp_to_number(values: &ArrayRef, unit: &TimeUnit, to: &DataType) -> Result<ArrayRef> {
    let ticks = cast_with_options(values, &DataType::Int64, &STRICT)?;
    let ticks = ticks.as_primitive::<Int64Type>();
    let per = ticks_per_second(unit);
    let seconds: ArrayRef = if to.is_integer() {
        Arc::new(ticks.unary::<_, Int64Type>(|t| t.div_euclid(per)))
    } else {
        // Whole seconds and the fraction apart: nanosecond ticks as one f64 would lose digits.
        Arc::new(ticks.unary::<_, Float64Type>(|t| {
            t.div_euclid(per) as f64 + t.rem_euclid(per) as f64 / per as f64
        }))
    };
    Ok(cast_with_options(&seconds, to, &STRICT)?)
}

/// Seconds to timestamps of `unit` (a fraction of a second kept to the unit, cut toward zero).
fn number_to_timestamp(
    values: &ArrayRef,
    unit: &TimeUnit,
    tz: &Option<Arc<str>>,
) -> Result<ArrayRef> {
    let per = ticks_per_second(unit);
    let ticks: Int64Array = if values.data_type().is_integer() {
        let secs = cast_with_options(values, &DataType::Int64, &STRICT)?;
        let secs = secs.as_primitive::<Int64Type>();
        let mut out = Vec::with_capacity(secs.len());
        for v in secs.iter() {
            out.push(match v {
                None => None,
                Some(s) => match s.checked_mul(per) {
                    Some(t) => Some(t),
                    None => {
                        return exec_err!(
                            "[CAST_OVERFLOW] {s} seconds is out of the range of TIMESTAMP"
                        )
                    }
                },
            });
        }
        Int64Array::from(out)
    } else {
        let secs = cast_with_options(values, &DataType::Float64, &STRICT)?;
        let secs: &Float64Array = secs.as_primitive::<Float64Type>();
        let mut out = Vec::with_capacity(secs.len());
        for v in secs.iter() {
            out.push(match v {
                None => None,
                Some(s) if s.is_finite() && (s * per as f64).abs() < i64::MAX as f64 => {
                    Some((s * per as f64) as i64)
                }
                Some(s) => {
                    return exec_err!(
                        "[CAST_OVERFLOW] {s} seconds is out of the range of TIMESTAMP"
                    )
                }
            });
        }
        Int64Array::from(out)
    };
    fn typed<T: arrow::datatypes::ArrowTimestampType>(
        ticks: Int64Array,
        tz: &Option<Arc<str>>,
    ) -> ArrayRef {
        let (_, values, nulls) = ticks.into_parts();
        Arc::new(PrimitiveArray::<T>::new(values, nulls).with_timezone_opt(tz.clone()))
    }
    Ok(match unit {
        TimeUnit::Second => typed::<TimestampSecondType>(ticks, tz),
        TimeUnit::Millisecond => typed::<TimestampMillisecondType>(ticks, tz),
        TimeUnit::Microsecond => typed::<TimestampMicrosecondType>(ticks, tz),
        TimeUnit::Nanosecond => typed::<TimestampNanosecondType>(ticks, tz),
    })
}

impl ScalarUDFImpl for SparkCastFn {
    fn name(&self) -> &str {
        SPARK_CAST
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[1].clone())
    }
    /// `spark_cast(t.v AS Int64)`: the target type is part of the name (DataFusion leaves a
    /// cast out of names, so two casts of one column to different types would clash in one
    /// aggregation: `sum(v cast to BIGINT)` beside `sum(v cast to SMALLINT)`).
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let value = args.first().map(|a| a.schema_name().to_string());
        let to = match args.get(1) {
            Some(Expr::Cast(c)) => format!(" AS {}", c.field.data_type()),
            Some(Expr::TryCast(c)) => format!(" AS {}", c.field.data_type()),
            _ => String::new(),
        };
        Ok(format!("{SPARK_CAST}({}{to})", value.unwrap_or_default()))
    }
    fn simplify(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let (Ok(from), Ok(to)) = (info.get_data_type(&args[0]), info.get_data_type(&args[1]))
        else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        if differs(&from, &to) {
            return Ok(ExprSimplifyResult::Original(args));
        }
        args.truncate(1);
        let value = args.pop().expect("one argument");
        // A DOUBLE to a DECIMAL as Spark reads it (the decimal the double prints).
        if let Some(cast) = super::double_to_decimal::call(&value, &from, &to, false) {
            return Ok(ExprSimplifyResult::Simplified(cast));
        }
        Ok(ExprSimplifyResult::Simplified(Expr::Cast(Cast::new(
            Box::new(value),
            to,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to = args.return_field.data_type().clone();
        let values = args.args[0].to_array(args.number_rows)?;
        let out = match (values.data_type().clone(), &to) {
            (DataType::Timestamp(unit, _), t) if t.is_numeric() => {
                timestamp_to_number(&values, &unit, t)?
            }
            (DataType::Timestamp(..), t) if is_text(t) => timestamp_to_text(&values, t)?,
            (f, DataType::Timestamp(unit, tz)) if f.is_numeric() => {
                number_to_timestamp(&values, unit, tz)?
            }
            (DataType::Float64 | DataType::Float32, t) if is_text(t) => {
                match super::java_float_text::cast_result(&values, t)? {
                    Some(text) => text,
                    None => cast_with_options(&values, &to, &STRICT)?,
                }
            }
            _ => cast_with_options(&values, &to, &STRICT)?,
        };
        if out.len() != args.number_rows {
            return exec_err!(
                "spark_cast: {} values for {} rows",
                out.len(),
                args.number_rows
            );
        }
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::spark_timestamp_text;
    use crate::Session;

    async fn one(sql: &str) -> String {
        let s = Session::new();
        let rows = s.sql(sql).await.unwrap().collect().await.unwrap();
        let col = rows[0].column(0);
        let shown =
            arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &Default::default())
                .unwrap()
                .value(0)
                .to_string();
        shown
    }

    #[tokio::test]
    async fn timestamps_and_numbers_cast_as_seconds_and_the_rest_as_sql() {
        let ts = "TIMESTAMP '2026-01-01 00:00:01.750'";
        let sql = |v: &str, t: &str| format!("SELECT spark_cast({v}, CAST(NULL AS {t}))");
        assert_eq!(one(&sql(ts, "BIGINT")).await, "1767225601");
        assert_eq!(one(&sql(ts, "INT")).await, "1767225601");
        assert_eq!(one(&sql(ts, "DOUBLE")).await, "1767225601.75");
        // Before 1970, whole seconds round down, as Spark's.
        assert_eq!(
            one(&sql("TIMESTAMP '1969-12-31 23:59:59.500'", "BIGINT")).await,
            "-1"
        );
        assert_eq!(
            one(&sql("1767225601", "TIMESTAMP")).await,
            "2026-01-01T00:00:01"
        );
        assert_eq!(
            one(&sql("1.5", "TIMESTAMP")).await,
            "1970-01-01T00:00:01.500"
        );
        assert_eq!(one(&sql("'42'", "BIGINT")).await, "42");
        assert_eq!(one(&sql(ts, "VARCHAR")).await, "2026-01-01 00:00:01.75");
        assert_eq!(
            one(&sql("TIMESTAMP '2026-01-01 10:00:00'", "VARCHAR")).await,
            "2026-01-01 10:00:00"
        );
        assert_eq!(
            spark_timestamp_text("2026-01-01T00:00:01.500Z"),
            "2026-01-01 00:00:01.5"
        );
        assert_eq!(
            spark_timestamp_text("2026-01-01T00:00:01-05:00"),
            "2026-01-01 00:00:01-05:00"
        );
        assert_eq!(one(&sql("'2026-01-01'", "DATE")).await, "2026-01-01");
        // Strict, as Spark's ANSI casts: text that is not a number is an error.
        let s = Session::new();
        let err = match s.sql(&sql("'abc'", "BIGINT")).await {
            Ok(df) => df.collect().await.unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("abc"), "{err}");
    }

    #[tokio::test]
    async fn casts_of_one_column_to_two_types_have_two_names() {
        let s = Session::new();
        let rows = s
            .sql(
                "SELECT k, sum(spark_cast(v, CAST(NULL AS BIGINT))), \
                 sum(spark_cast(v, CAST(NULL AS SMALLINT))) \
                 FROM (VALUES (1, 2), (1, 3)) AS t(k, v) GROUP BY k",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(rows[0].num_columns(), 3);
        assert_eq!(rows[0].num_rows(), 1);
    }
}
