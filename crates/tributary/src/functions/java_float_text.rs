//! Doubles and floats as text the way Spark writes them (Java's `Double.toString` and
//! `Float.toString`): the fewest digits that read back as the same value, written plainly with at
//! least one decimal from 0.001 up to 10 million (`100.0`, `0.001`, `1234567.5`) and in
//! scientific notation with a capital `E` outside (`1.0E7`, `1.0E-4`, `-2.5E20`); `NaN`,
//! `Infinity`, `-Infinity`, and `-0.0` for negative zero. SQL's cast writes `1e20`, `inf`, `1e-5`.
//!
//! (Java before 19 sometimes wrote a digit more than the fewest; Spark on such a Java may show
//! `2.0000000000000004E-3`-style text for a few values where this writes the shortest, and Java
//! writes the smallest subnormal as `4.9E-324`, this `5.0E-324`.)

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::common::Result;

/// The text of every value of a Float64 or Float32 array (other arrays: `None`).
pub(crate) fn java_float_text(values: &ArrayRef) -> Option<ArrayRef> {
    let text: StringArray = match values.data_type() {
        DataType::Float64 => values
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.map(|v| java_text(v, format!("{v:e}"))))
            .collect(),
        DataType::Float32 => values
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(|v| java_text(v as f64, format!("{v:e}"))))
            .collect(),
        _ => return None,
    };
    Some(Arc::new(text))
}

/// `v` as Java writes it, from `shortest`, its fewest digits in Rust's `{:e}` form (`-1.25e-7`).
fn java_text(v: f64, shortest: String) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let magnitude = v.abs();
    if (1e-3..1e7).contains(&magnitude) {
        if exponent >= 0 {
            let whole_len = exponent as usize + 1;
            let (whole, fraction) = if digits.len() > whole_len {
                digits.split_at(whole_len)
            } else {
                (digits.as_str(), "")
            };
            let zeros = whole_len.saturating_sub(whole.len());
            let fraction = if fraction.is_empty() { "0" } else { fraction };
            return format!("{sign}{whole}{}.{fraction}", "0".repeat(zeros));
        }
        let zeros = (-exponent - 1) as usize;
        return format!("{sign}0.{}{digits}", "0".repeat(zeros));
    }
    let (first, rest) = digits.split_at(1);
    let rest = if rest.is_empty() { "0" } else { rest };
    format!("{sign}{first}.{rest}E{exponent}")
}

/// The text of one double, for tests and messages.
#[cfg(test)]
fn text(v: f64) -> String {
    java_text(v, format!("{v:e}"))
}

/// The error-free part of the cast: only the layout differs from SQL's.
pub(crate) fn cast_result(values: &ArrayRef, to: &DataType) -> Result<Option<ArrayRef>> {
    match java_float_text(values) {
        Some(text) => Ok(Some(arrow::compute::cast(&text, to)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_read_as_java_writes_them() {
        // Each as Spark 4 (Java's Double.toString) shows it.
        for (v, want) in [
            (1e20, "1.0E20"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (12345678.9, "1.23456789E7"),
            (100.0, "100.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.001, "0.001"),
            (0.0009, "9.0E-4"),
            (1e-5, "1.0E-5"),
            (-2.5e-7, "-2.5E-7"),
            (123.456, "123.456"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1.7976931348623157e308, "1.7976931348623157E308"),
            (2.5e-10, "2.5E-10"),
        ] {
            assert_eq!(text(v), want, "{v:e}");
        }
    }

    #[test]
    fn floats_keep_their_own_fewest_digits() {
        let values: ArrayRef = Arc::new(arrow::array::Float32Array::from(vec![
            Some(0.1f32),
            Some(1e10f32),
            None,
            Some(3.4028235e38f32),
        ]));
        let text = java_float_text(&values).unwrap();
        let text = text.as_string::<i32>();
        assert_eq!(
            text.iter().collect::<Vec<_>>(),
            vec![Some("0.1"), Some("1.0E10"), None, Some("3.4028235E38")]
        );
    }
}
