//! Arithmetic, cast and array-index failures as Spark's ANSI mode names them.
//!
//! DataFusion's checked kernels report `Arithmetic overflow: Overflow happened on: 2147483647 + 1`,
//! `Divide by zero error` or `Cast error: Cannot cast string 'abc' to value of Int32 type`, which
//! say neither which condition a Spark user would look up nor how to get past it. Wherever an
//! engine error becomes a [`TributaryError`] ([`crate::error`]), these become
//! [`TributaryError::Runtime`] with Spark's condition (`ARITHMETIC_OVERFLOW`,
//! `DIVIDE_BY_ZERO`, `CAST_INVALID_INPUT`, `CAST_OVERFLOW`) and the fix.
//!
//! Tributary's own functions (`spark_divide`, `spark_mod`, ...) raise [`TributaryError`]s of this
//! class directly.

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;

use crate::TributaryError;

/// The Spark-named arithmetic error behind a DataFusion error, if it is one.
pub(crate) fn arithmetic_error(e: &DataFusionError) -> Option<TributaryError> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(arrow) = err.downcast_ref::<ArrowError>() {
            return from_arrow(arrow);
        }
        if let Some(t) = err.downcast_ref::<TributaryError>() {
            return match t {
                TributaryError::Runtime { condition, message } => Some(TributaryError::Runtime {
                    condition,
                    message: message.clone(),
                }),
                _ => None,
            };
        }
        if let Some(DataFusionError::Execution(m)) = err.downcast_ref::<DataFusionError>() {
            if let Some(t) = from_text(m) {
                return Some(t);
            }
        }
        next = match err.downcast_ref::<DataFusionError>() {
            // `External` and `Context` keep their inner error out of `source()`'s reach.
            Some(DataFusionError::External(inner)) => Some(inner.as_ref()),
            Some(DataFusionError::Context(_, inner)) => Some(inner.as_ref()),
            Some(DataFusionError::Shared(inner)) => Some(inner.as_ref()),
            _ => err.source(),
        };
    }
    None
}

/// The Spark-named arithmetic error an Arrow error is, if it is one.
pub(crate) fn from_arrow(e: &ArrowError) -> Option<TributaryError> {
    let (condition, message) = match e {
        ArrowError::ArithmeticOverflow(what) => (
            "ARITHMETIC_OVERFLOW",
            format!(
                "{what}: the result does not fit the operands' type. Cast an operand to BIGINT \
                 or DECIMAL before the arithmetic, or use try_add / try_subtract / try_multiply, \
                 which give NULL instead"
            ),
        ),
        ArrowError::ComputeError(what) if what.contains(" overflow on abs(") => (
            "ARITHMETIC_OVERFLOW",
            format!(
                "{what}: the smallest integer has no positive counterpart of its type. Cast to \
                 BIGINT or DECIMAL first"
            ),
        ),
        ArrowError::DivideByZero => (
            "DIVIDE_BY_ZERO",
            "an integer division or remainder by zero. Guard the divisor (CASE WHEN d <> 0 \
             THEN ... END, or NULLIF(d, 0)), or use try_divide / try_mod, which give NULL"
                .to_string(),
        ),
        ArrowError::CastError(what) if what.starts_with("Cannot cast string") => (
            "CAST_INVALID_INPUT",
            format!(
                "{what}: the text is not a value of that type. Clean the input, or use \
                 TRY_CAST, which gives NULL"
            ),
        ),
        ArrowError::CastError(what) if what.starts_with("Can't cast value") => (
            "CAST_OVERFLOW",
            format!(
                "{what}: the value is out of the type's range. Cast to a wider type, or use \
                 TRY_CAST, which gives NULL"
            ),
        ),
        _ => return None,
    };
    Some(TributaryError::Runtime { condition, message })
}

/// The conditions of this class.
const CONDITIONS: [&str; 8] = [
    "ARITHMETIC_OVERFLOW",
    "NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION",
    "DIVIDE_BY_ZERO",
    "REMAINDER_BY_ZERO",
    "CAST_INVALID_INPUT",
    "CAST_OVERFLOW",
    "INVALID_ARRAY_INDEX",
    "INVALID_ARRAY_INDEX_IN_ELEMENT_AT",
];

/// A message a function (`spark_cast`, `raise_error`) raised with one of the conditions in front
/// (`[CAST_OVERFLOW] ...`).
fn from_text(m: &str) -> Option<TributaryError> {
    let rest = m.strip_prefix('[')?;
    let (condition, message) = rest.split_once("] ")?;
    let condition = CONDITIONS.into_iter().find(|c| *c == condition)?;
    Some(TributaryError::Runtime {
        condition,
        message: message.to_string(),
    })
}

/// The error a division or remainder by zero raises (`spark_divide`, `spark_mod`).
pub(crate) fn by_zero(remainder: bool, dividend: &str) -> DataFusionError {
    let (condition, op, try_fn) = if remainder {
        ("REMAINDER_BY_ZERO", "%", "try_mod")
    } else {
        ("DIVIDE_BY_ZERO", "/", "try_divide")
    };
    crate::error::to_df_error(TributaryError::Runtime {
        condition,
        message: format!(
            "{dividend} {op} 0. Guard the divisor (when(d != 0, ...), CASE WHEN d <> 0 THEN ... \
             END, or NULLIF(d, 0)), or use {try_fn}, which gives NULL"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(e: DataFusionError) -> Option<&'static str> {
        match arithmetic_error(&e) {
            Some(TributaryError::Runtime { condition, .. }) => Some(condition),
            _ => None,
        }
    }

    #[test]
    fn arrow_failures_get_spark_conditions_through_every_wrapper() {
        let overflow = || {
            DataFusionError::ArrowError(
                Box::new(ArrowError::ArithmeticOverflow(
                    "Overflow happened on: 2147483647 + 1".into(),
                )),
                None,
            )
        };
        assert_eq!(condition(overflow()), Some("ARITHMETIC_OVERFLOW"));
        let wrapped = DataFusionError::Context(
            "Optimizer rule failed".into(),
            Box::new(DataFusionError::Shared(std::sync::Arc::new(overflow()))),
        );
        assert_eq!(condition(wrapped), Some("ARITHMETIC_OVERFLOW"));
        let zero = DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None);
        assert_eq!(condition(zero), Some("DIVIDE_BY_ZERO"));
        let text = ArrowError::CastError("Cannot cast string 'abc' to value of Int32 type".into());
        assert_eq!(
            condition(DataFusionError::ArrowError(Box::new(text), None)),
            Some("CAST_INVALID_INPUT")
        );
        let wide = ArrowError::CastError("Can't cast value 3000000000 to type Int32".into());
        assert_eq!(
            condition(DataFusionError::External(Box::new(wide))),
            Some("CAST_OVERFLOW")
        );
        let abs = ArrowError::ComputeError("Int32Array overflow on abs(-2147483648)".into());
        assert_eq!(
            condition(DataFusionError::ArrowError(Box::new(abs), None)),
            Some("ARITHMETIC_OVERFLOW")
        );
        let other = DataFusionError::Plan("no such column".into());
        assert_eq!(condition(other), None);
        let text =
            DataFusionError::Execution("[CAST_OVERFLOW] 1e30 seconds is out of range".into());
        assert_eq!(condition(text), Some("CAST_OVERFLOW"));
        let ours = by_zero(true, "7");
        assert_eq!(condition(ours), Some("REMAINDER_BY_ZERO"));
    }
}
