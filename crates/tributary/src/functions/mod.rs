//! Streaming functions: event-time windows and `from_json`, in SQL and in the DataFrame API.
//!
//! | SQL                                   | Rust                                  |
//! |---------------------------------------|---------------------------------------|
//! | `window(ts, '5 minutes')`             | `window(col("ts"), "5 minutes")`      |
//! | `window(ts, '5 minutes', '1 minute')` | `sliding_window(col("ts"), "5 minutes", "1 minute")` |
//! | `window_time(w)`                      | `window_time(col("w"))`               |
//! | `session_window(ts, '5 minutes')`     | `session_window(col("ts"), lit("5 minutes"))` |
//! | `from_json(value, 'id BIGINT, ...')`  | `from_json(col("value"), "id BIGINT, ...")` |
//! | `spark_cast(v, CAST(NULL AS BIGINT))` | (Spark's cast: timestamps and numbers as seconds) |
//! | `raise_error('message')`              | (fails the query when a row reaches it)          |
//! | `now()`, `current_timestamp()`, `to_timestamp(..)`, `try_to_timestamp(..)` | (in microseconds, as SQL's `TIMESTAMP` here) |
//! | `store_cast(v, CAST(NULL AS INT), 'n')` | (INSERT's narrowing cast: stops naming the column) |
//! | `try_add`, `try_subtract`, `try_multiply`, `try_divide`, `try_mod` | (Spark's: NULL on overflow or a zero divisor) |
//! | `spark_divide(a, b)`, `spark_mod(a, b)` | (PySpark's `/` and `%`: `[DIVIDE_BY_ZERO]`, `[REMAINDER_BY_ZERO]`) |
//! | `round(x, d)`, `bround(x, d)` | (Spark's: a double rounded as the decimal it prints) |
//! | `a + b`, `a - b`, `a * b`, `a / b` of DECIMALs, `avg` of DECIMALs | (Spark's types and rounding: `spark_decimal`, `spark_avg`) |
//! | `CAST(x AS DECIMAL(p, s))` of a DOUBLE | (Spark's: the decimal the double prints, rounded half up) |
//! | `log1p(x)`, `hypot(a, b)`, `sha1(x)` | (Spark's, which DataFusion lacks) |
//! | `spark_ceil(x)`, `spark_floor(x)` | (PySpark's `ceil`/`floor`: a BIGINT, or a DECIMAL of scale 0) |
//! | `skewness(x)`, `kurtosis(x)`, `corr(x, y)` | (Spark's running moments, to the last bit) |
//!
//! Every session registers them, with the analyzer rule that expands sliding windows.

mod ansi_errors;
mod double_to_decimal;
pub(crate) mod from_json;
mod java_float_text;
mod raise_error;
pub(crate) mod session;
mod sliding;
mod spark_arith;
mod spark_avg;
mod spark_cast;
mod spark_ceil;
mod spark_decimal;
mod spark_get_item;
mod spark_math;
mod spark_moments;
mod spark_now;
mod spark_round;
mod spark_sha1;
mod spark_sum;
mod spark_to_timestamp;
mod store_cast;
pub(crate) mod window;

use std::sync::Arc;

use datafusion::logical_expr::{lit, Expr, ScalarUDF};

pub(crate) use ansi_errors::{arithmetic_error, from_arrow as arrow_arithmetic_error};
pub(crate) use double_to_decimal::DoubleToDecimalRule;
pub(crate) use raise_error::RaiseErrorFn;
pub(crate) use session::{merge_sessions, SESSION_WINDOW};
pub(crate) use sliding::{expand_sliding_windows, window_call, SlidingWindowRule};
pub(crate) use spark_arith::DecimalTypesFixed;
pub(crate) use spark_avg::SparkAvg;
pub(crate) use spark_decimal::DecimalPlanner;
pub(crate) use spark_sum::SparkSum;
pub(crate) use store_cast::{call as store_cast, STORE_CAST};
pub(crate) use window::{SLIDING_WINDOWS, WINDOW};

/// The scalar functions a session registers.
pub(crate) fn udfs() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(window::WindowFn::default()),
        ScalarUDF::new_from_impl(window::SlidingWindowsFn::default()),
        ScalarUDF::new_from_impl(window::WindowTimeFn::default()),
        ScalarUDF::new_from_impl(session::SessionWindowFn::default()),
        ScalarUDF::new_from_impl(from_json::FromJsonFn::default()),
        ScalarUDF::new_from_impl(spark_cast::SparkCastFn::default()),
        ScalarUDF::new_from_impl(raise_error::RaiseErrorFn::default()),
        ScalarUDF::new_from_impl(spark_now::SparkNowFn::default()),
        ScalarUDF::new_from_impl(spark_to_timestamp::SparkToTimestampFn::new(false)),
        ScalarUDF::new_from_impl(spark_to_timestamp::SparkToTimestampFn::new(true)),
        ScalarUDF::new_from_impl(store_cast::StoreCastFn::default()),
    ]
    .into_iter()
    .chain([
        ScalarUDF::new_from_impl(spark_get_item::SparkGetItemFn::get_item()),
        ScalarUDF::new_from_impl(spark_get_item::SparkGetItemFn::element_at()),
    ])
    .chain([
        ScalarUDF::new_from_impl(spark_round::SparkRoundFn::round()),
        ScalarUDF::new_from_impl(spark_round::SparkRoundFn::bround()),
        ScalarUDF::new_from_impl(spark_math::SparkMathFn::log1p()),
        ScalarUDF::new_from_impl(spark_math::SparkMathFn::hypot()),
        ScalarUDF::new_from_impl(spark_sha1::SparkSha1Fn::default()),
        ScalarUDF::new_from_impl(spark_ceil::SparkCeilFn::ceil()),
        ScalarUDF::new_from_impl(spark_ceil::SparkCeilFn::floor()),
    ])
    .chain(spark_arith::all().into_iter().map(ScalarUDF::new_from_impl))
    .collect()
}

/// The aggregate functions a session registers (Spark's `sum` itself replaces DataFusion's in
/// physical plans: [`crate::plan::ansi`]).
pub(crate) fn udafs() -> Vec<datafusion::logical_expr::AggregateUDF> {
    use datafusion::logical_expr::AggregateUDF;
    vec![
        AggregateUDF::new_from_impl(SparkSum::try_sum()),
        AggregateUDF::new_from_impl(spark_moments::SparkMomentFn::skewness()),
        AggregateUDF::new_from_impl(spark_moments::SparkMomentFn::kurtosis()),
        AggregateUDF::new_from_impl(spark_moments::SparkMomentFn::corr()),
    ]
}

/// A function's result as its input was: one value for a constant, a column for a column.
fn like_input(
    scalar: bool,
    out: arrow::array::ArrayRef,
) -> datafusion::common::Result<datafusion::logical_expr::ColumnarValue> {
    use datafusion::logical_expr::ColumnarValue;
    Ok(if scalar && !out.is_empty() {
        ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}

fn call(udf: ScalarUDF, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
        Arc::new(udf),
        args,
    ))
}

/// A tumbling event-time window of `size` (e.g. `"5 minutes"`): `{start, end}`.
pub fn window(ts: Expr, size: &str) -> Expr {
    call(
        ScalarUDF::new_from_impl(window::WindowFn::default()),
        vec![ts, lit(size)],
    )
}

/// A sliding event-time window: each row falls in every window of `size` that starts a
/// multiple of `slide` after the Unix epoch and holds it.
pub fn sliding_window(ts: Expr, size: &str, slide: &str) -> Expr {
    call(
        ScalarUDF::new_from_impl(window::WindowFn::default()),
        vec![ts, lit(size), lit(slide)],
    )
}

/// A window with every parameter: windows start at `start` (an offset such as `"15 minutes"`)
/// plus multiples of `slide`.
pub fn window_with_start(ts: Expr, size: &str, slide: &str, start: &str) -> Expr {
    call(
        ScalarUDF::new_from_impl(window::WindowFn::default()),
        vec![ts, lit(size), lit(slide), lit(start)],
    )
}

/// A session window: rows of a key whose event times are less than `gap` apart (e.g.
/// `"5 minutes"`, or a per-row expression giving a duration) share a session.
pub fn session_window(ts: Expr, gap: Expr) -> Expr {
    call(
        ScalarUDF::new_from_impl(session::SessionWindowFn::default()),
        vec![ts, gap],
    )
}

/// `value` (a JSON string or binary, e.g. a Kafka value) decoded into a struct of `columns`
/// (`"id BIGINT, region VARCHAR"`); NULL where it does not decode.
pub fn from_json(value: Expr, columns: &str) -> Expr {
    call(
        ScalarUDF::new_from_impl(from_json::FromJsonFn::default()),
        vec![value, lit(columns)],
    )
}

/// The event time of a window's result: its end minus one microsecond.
pub fn window_time(w: Expr) -> Expr {
    call(
        ScalarUDF::new_from_impl(window::WindowTimeFn::default()),
        vec![w],
    )
}
