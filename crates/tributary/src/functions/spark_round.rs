//! Spark's `round(x, d)` (half away from zero) and `bround(x, d)` (half to even), which replace
//! DataFusion's `round`.
//!
//! Spark rounds a DOUBLE as the decimal number it prints: `round(1.005, 2)` is `1.01`, because
//! `1.005` is what Java writes for the double nearest to it, although that double is a little
//! below 1.005 (scaling it by 100 and rounding, as DataFusion does, gives `1.0`). A FLOAT is
//! rounded as the text of its DOUBLE (`round(CAST(0.285 AS FLOAT), 2)` is `0.28`). The other
//! rules are Spark's too:
//!
//! | input | result |
//! |---|---|
//! | DOUBLE, FLOAT | the same type; NaN and infinities unchanged; never `-0.0` |
//! | TINYINT .. BIGINT | the same type; `d < 0` rounds to tens, hundreds, ...; a result past the type raises `[ARITHMETIC_OVERFLOW]` |
//! | DECIMAL(p, s) | DECIMAL(p - s + 1 + min(s, d), min(s, d)) for `d >= 0`, DECIMAL(p - s + 1, 0) for `d < 0` (at most 38 digits) |
//! | text | read as a DOUBLE |
//!
//! `d` is a constant integer (0 when left out); a NULL `d` gives NULL.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, Float32Type, Float64Type};
use arrow::datatypes::{Int64Type, DECIMAL128_MAX_PRECISION};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::plan::decimal_range::decimal_text;

/// `round` or `bround`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkRoundFn {
    /// A tie goes to the even neighbour (`bround`), else away from zero (`round`).
    half_even: bool,
    signature: Signature,
}

impl SparkRoundFn {
    pub(crate) fn round() -> Self {
        SparkRoundFn {
            half_even: false,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    pub(crate) fn bround() -> Self {
        SparkRoundFn {
            half_even: true,
            ..Self::round()
        }
    }
}

/// The number of decimals `d` of a call, from its constant second argument: `None` for a NULL.
fn places(arg: Option<&ScalarValue>, name: &str) -> Result<Option<i32>> {
    let Some(arg) = arg else {
        return Ok(Some(0));
    };
    if arg.is_null() {
        return Ok(None);
    }
    match arg.cast_to(&DataType::Int32)? {
        ScalarValue::Int32(d) => Ok(d),
        other => plan_err!("{name}'s number of decimals is an integer, not {other}"),
    }
}

/// Spark's result type of rounding `input` to `d` decimals.
fn result_type(input: &DataType, d: i32) -> DataType {
    match *input {
        DataType::Decimal128(p, s) => {
            let (p, s) = (i32::from(p), i32::from(s));
            let integral = p - s + 1;
            let (precision, scale) = if d < 0 {
                (integral.max(1 - d.max(-64)), 0)
            } else {
                (integral + s.min(d), s.min(d))
            };
            let max = i32::from(DECIMAL128_MAX_PRECISION);
            DataType::Decimal128(precision.min(max) as u8, scale.min(max) as i8)
        }
        ref other => other.clone(),
    }
}

/// `v / 10^k`, rounded to an integer: half away from zero, or half to even.
fn round_quotient(v: i128, k: u32, half_even: bool) -> i128 {
    if k == 0 {
        return v;
    }
    // |v| < 2^127 < 5 * 10^38: past 38 digits every value is nearer to 0 than to 10^k.
    let Some(unit) = 10i128.checked_pow(k) else {
        return 0;
    };
    let (q, r) = (v / unit, v % unit);
    let up = match (r.unsigned_abs() * 2).cmp(&unit.unsigned_abs()) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => !half_even || q % 2 != 0,
    };
    if up {
        q + v.signum()
    } else {
        q
    }
}

/// A finite double rounded to `d` decimals as the decimal number Java writes for it: `None`
/// when that number has no digits past the `d`-th (the value stays as it is), else the result's
/// text (`"101e-2"`), for the caller to read at its type.
fn round_text(v: f64, d: i32, half_even: bool) -> Option<String> {
    if v == 0.0 {
        return Some("0".into());
    }
    // The fewest digits that read back as `v`: what Java prints, as `d.ddde±x`. Where one digit
    // would do, Java picks the nearest of one or two digits (4.9E-324 for the smallest double).
    let mut shortest = format!("{:e}", v.abs());
    if !shortest.contains('.') {
        shortest = format!("{:.1e}", v.abs());
    }
    let (mantissa, exponent) = shortest.split_once('e')?;
    let exponent: i64 = exponent.parse().ok()?;
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    // Digit i stands for 10^(exponent - i): the kept ones are those down to 10^-d.
    let keep = exponent + i64::from(d) + 1;
    if keep >= digits.len() as i64 {
        return None;
    }
    if keep < 0 {
        return Some("0".into());
    }
    let keep = keep as usize;
    let kept = digits[..keep]
        .iter()
        .fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
    let next = digits[keep] - b'0';
    let rest_nonzero = digits[keep + 1..].iter().any(|c| *c != b'0');
    let up = match next.cmp(&5) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => !half_even || rest_nonzero || kept % 2 == 1,
    };
    let kept = kept + u64::from(up);
    if kept == 0 {
        return Some("0".into());
    }
    let sign = if v < 0.0 { "-" } else { "" };
    Some(format!("{sign}{kept}e{}", -i64::from(d)))
}

fn round_f64(v: f64, d: i32, half_even: bool) -> f64 {
    if !v.is_finite() {
        return v;
    }
    if let Some(r) = round_far_from_a_tie(v, d) {
        return r;
    }
    round_f64_by_text(v, d, half_even)
}

fn round_f64_by_text(v: f64, d: i32, half_even: bool) -> f64 {
    round_text(v, d, half_even)
        .and_then(|t| t.parse().ok())
        .unwrap_or(v)
}

/// The powers of ten a double holds exactly.
const EXACT_TENS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case without text: `v` scaled by `10^d` (exact powers only, a result below 2^52)
/// lands far enough from a half that the decimal Java prints for `v` (within an ulp of it)
/// rounds the same way; the rounded integer divided by the exact power is then the double
/// nearest to the decimal result, as reading its text gives. `None` near a half.
fn round_far_from_a_tie(v: f64, d: i32) -> Option<f64> {
    let ten = *EXACT_TENS.get(usize::try_from(d).ok()?)?;
    let y = v.abs() * ten;
    if y >= 4_503_599_627_370_496.0 {
        return None;
    }
    let from_half = (y - y.floor() - 0.5).abs();
    if from_half <= 16.0 * f64::EPSILON * y.max(1.0) {
        return None;
    }
    let r = y.round();
    Some(if r == 0.0 { 0.0 } else { (r / ten).copysign(v) })
}

fn round_f32(v: f32, d: i32, half_even: bool) -> f32 {
    if !v.is_finite() {
        return v;
    }
    round_text(f64::from(v), d, half_even)
        .and_then(|t| t.parse().ok())
        .unwrap_or(v)
}

impl SparkRoundFn {
    fn integers(&self, values: &ArrayRef, d: i32) -> Result<ArrayRef> {
        if d >= 0 {
            return Ok(values.clone());
        }
        let k = d.unsigned_abs();
        let t = values.data_type();
        let (min, max) = match t {
            DataType::Int8 => (i128::from(i8::MIN), i128::from(i8::MAX)),
            DataType::Int16 => (i128::from(i16::MIN), i128::from(i16::MAX)),
            DataType::Int32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
            _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
        };
        let wide = cast(values, &DataType::Int64)?;
        let rounded = wide
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| {
                let Some(v) = v else { return Ok(None) };
                let q = round_quotient(i128::from(v), k, self.half_even);
                let r = if q == 0 {
                    Some(0)
                } else {
                    10i128.checked_pow(k).and_then(|u| q.checked_mul(u))
                };
                match r.filter(|r| (min..=max).contains(r)) {
                    Some(r) => Ok(Some(r as i64)),
                    None => exec_err!(
                        "[ARITHMETIC_OVERFLOW] {}({v}, {d}) does not fit {}: the rounded value \
                         is out of the type's range. Cast the argument to a wider type (BIGINT \
                         or DECIMAL) first",
                        self.name(),
                        crate::format::sql_type(t)
                    ),
                }
            })
            .collect::<Result<Int64Array>>()?;
        Ok(cast(&(Arc::new(rounded) as ArrayRef), t)?)
    }

    fn decimals(&self, values: &ArrayRef, d: i32, to: &DataType) -> Result<ArrayRef> {
        let (DataType::Decimal128(_, s), DataType::Decimal128(precision, scale)) =
            (values.data_type(), to)
        else {
            return exec_err!("{} of {} as {to}", self.name(), values.data_type());
        };
        let s = i32::from(*s);
        let limit = 10u128.pow(u32::from(*precision));
        let rounded = values
            .as_primitive::<Decimal128Type>()
            .try_unary::<_, Decimal128Type, DataFusionError>(|v| {
                let r = if d >= s {
                    Some(v)
                } else {
                    let k = u32::try_from(i64::from(s) - i64::from(d)).unwrap_or(u32::MAX);
                    let q = round_quotient(v, k, self.half_even);
                    match d {
                        _ if q == 0 => Some(0),
                        d if d < 0 => 10i128
                            .checked_pow(d.unsigned_abs())
                            .and_then(|u| q.checked_mul(u)),
                        _ => Some(q),
                    }
                };
                match r.filter(|r| r.unsigned_abs() < limit) {
                    Some(r) => Ok(r),
                    None => exec_err!(
                        "[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION] {}({}, {d}) cannot be \
                         represented as DECIMAL({precision}, {scale}). Cast the argument to a \
                         DECIMAL with more digits first",
                        self.name(),
                        decimal_text(v, s as i8)
                    ),
                }
            })?
            .with_precision_and_scale(*precision, *scale)?;
        Ok(Arc::new(rounded))
    }
}

impl ScalarUDFImpl for SparkRoundFn {
    fn name(&self) -> &str {
        if self.half_even {
            "bround"
        } else {
            "round"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        use DataType::*;
        let (value, rest) = match args {
            [value] => (value, None),
            [value, d] => (value, Some(d)),
            _ => return plan_err!("{} takes a number and a number of decimals", self.name()),
        };
        let value = match value {
            Int8 | Int16 | Int32 | Int64 | Float32 | Float64 | Decimal128(..) => value.clone(),
            UInt8 => Int16,
            UInt16 => Int32,
            UInt32 => Int64,
            UInt64 => Decimal128(20, 0),
            Float16 => Float32,
            Decimal32(p, s) | Decimal64(p, s) => Decimal128(*p, *s),
            Null | Utf8 | LargeUtf8 | Utf8View => Float64,
            other => return plan_err!("{} takes a number, not {other}", self.name()),
        };
        let mut out = vec![value];
        match rest {
            // Kept as it is: a cast would hide a constant from `return_field_from_args`.
            Some(d) if d.is_integer() || d.is_null() => out.push(d.clone()),
            Some(d) => {
                return plan_err!(
                    "{}'s number of decimals is a constant integer, not {d}",
                    self.name()
                )
            }
            None => {}
        }
        Ok(out)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(result_type(&args[0], 0))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let input = args.arg_fields[0].data_type();
        let d = match args.scalar_arguments.get(1) {
            None => Some(0),
            Some(Some(d)) => places(Some(d), self.name())?,
            Some(None) if matches!(input, DataType::Decimal128(..)) => {
                return plan_err!(
                    "{}'s number of decimals must be a constant (the result's type depends on \
                     it), not an expression of the row",
                    self.name()
                )
            }
            Some(None) => Some(0),
        };
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            result_type(input, d.unwrap_or(0)),
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let to = args.return_field.data_type().clone();
        let d = match args.args.get(1) {
            None => Some(0),
            Some(ColumnarValue::Scalar(d)) => places(Some(d), self.name())?,
            Some(ColumnarValue::Array(_)) => {
                return exec_err!(
                    "{}'s number of decimals must be a constant, not an expression of the row",
                    self.name()
                )
            }
        };
        let Some(d) = d else {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from(&to)?));
        };
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let values = args.args[0].to_array(args.number_rows)?;
        let out: ArrayRef = match values.data_type() {
            DataType::Float64 => Arc::new(
                values
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(|v| round_f64(v, d, self.half_even)),
            ) as ArrayRef,
            DataType::Float32 => Arc::new(
                values
                    .as_primitive::<Float32Type>()
                    .unary::<_, Float32Type>(|v| round_f32(v, d, self.half_even)),
            ),
            DataType::Decimal128(..) => self.decimals(&values, d, &to)?,
            t if t.is_integer() => self.integers(&values, d)?,
            other => return exec_err!("{} of {other}", self.name()),
        };
        super::like_input(scalar, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql_rows::sql_rows as run;

    #[test]
    fn doubles_round_as_the_decimal_java_writes_for_them() {
        // (value, d, round, bround), each PySpark 4's answer.
        let cases = [
            (2.675, 2, 2.68, 2.68),
            (1.005, 2, 1.01, 1.0),
            (0.125, 2, 0.13, 0.12),
            (-2.5, 0, -3.0, -2.0),
            (2.5, 0, 3.0, 2.0),
            (-2.5, -2, 0.0, 0.0),
            (1e300, 2, 1e300, 1e300),
            (9e307, -308, 1e308, 1e308),
            (1.0000000000000002, 2, 1.0, 1.0),
            (123456789.12345678, 2, 123456789.12, 123456789.12),
            (123456789.12345678, -2, 123456800.0, 123456800.0),
            (0.1 + 0.2, 2, 0.3, 0.3),
            (1.5, -400, 0.0, 0.0),
            (1.23456789e-300, 310, 1.23456789e-300, 1.23456789e-300),
            (0.0004, 2, 0.0, 0.0),
            (0.005, 2, 0.01, 0.0),
            // Java writes the smallest double 4.9E-324.
            (5e-324, 323, 0.0, 0.0),
            (5e-324, 324, 5e-324, 5e-324),
        ];
        for (v, d, round, bround) in cases {
            let r = round_f64(v, d, false);
            let b = round_f64(v, d, true);
            assert_eq!((r, b), (round, bround), "round({v}, {d})");
            assert!(!r.is_sign_negative() || r != 0.0, "round({v}, {d}) is -0.0");
        }
        assert!(round_f64(f64::NAN, 1, false).is_nan());
        assert_eq!(round_f64(f64::INFINITY, 1, false), f64::INFINITY);
        assert_eq!(round_f64(f64::MAX, -308, false), f64::INFINITY);
        // A float is rounded as the text of its double: 0.2849999964237213.
        assert_eq!(round_f32(0.285, 2, false), 0.28);
        assert_eq!(round_f32(2.5, 0, false), 3.0);
    }

    #[test]
    fn the_shortcut_agrees_with_the_text_wherever_it_answers() {
        // A fixed-seed generator (xorshift): doubles of many sizes, near-ties (k + 0.5) / 10^d
        // and values with few digits, at scales 0 to 22.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut answered = 0;
        for i in 0..300_000 {
            let r = next();
            let d = (r % 23) as i32;
            let v = match i % 3 {
                0 => {
                    (r >> 11) as f64
                        * 2f64.powi(-((r % 80) as i32))
                        * if r & 1 == 0 { 1.0 } else { -1.0 }
                }
                1 => {
                    ((r >> 20) % 1_000_000) as f64 / 10f64.powi((r % 9) as i32)
                        + 0.5 / 10f64.powi(d)
                }
                _ => ((r >> 20) % 100_000) as f64 / 10f64.powi((r % 7) as i32),
            };
            if !v.is_finite() {
                continue;
            }
            if let Some(fast) = round_far_from_a_tie(v, d) {
                answered += 1;
                for half_even in [false, true] {
                    let slow = round_f64_by_text(v, d, half_even);
                    assert_eq!(
                        fast.to_bits(),
                        slow.to_bits(),
                        "round({v:e}, {d}): {fast:e} vs {slow:e}"
                    );
                }
            }
        }
        assert!(answered > 100_000, "{answered}");
    }

    #[test]
    fn integer_quotients_round_half_up_or_to_even() {
        assert_eq!(round_quotient(15, 1, false), 2);
        assert_eq!(round_quotient(-15, 1, false), -2);
        assert_eq!(round_quotient(25, 1, true), 2);
        assert_eq!(round_quotient(-15, 1, true), -2);
        assert_eq!(round_quotient(14, 1, false), 1);
        assert_eq!(round_quotient(i128::MAX, 39, false), 0);
    }

    #[tokio::test]
    async fn integers_and_decimals_keep_sparks_types_and_raise_past_them() {
        let got = run(
            "SELECT round(CAST(-15 AS INT), -1), bround(CAST(25 AS INT), -1), \
             round(CAST(15 AS INT), 2), round(CAST(15 AS INT), -12), \
             round(CAST(1.25 AS DECIMAL(5,2)), 1), bround(CAST(1.25 AS DECIMAL(5,2)), 1), \
             round(CAST(-1.25 AS DECIMAL(5,2)), 1), round(CAST(999.99 AS DECIMAL(5,2)), 1), \
             round(CAST(999.99 AS DECIMAL(5,2)), -1), round(CAST(999.99 AS DECIMAL(5,2)), 4), \
             round(CAST(12345 AS DECIMAL(38,0)), -2), round(CAST(9.5 AS DECIMAL(38,1))), \
             round(CAST(5 AS DECIMAL(38,0)), -40), round(CAST(1.005 AS DOUBLE), 2), \
             round(CAST(2.5 AS DOUBLE), CAST(NULL AS INT)), round(NULL, 1)",
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            vec!["|-20|20|15|0|1.3|1.2|-1.3|1000.0|1000|999.99|12300|10|0|1.01|||"]
        );
        let types = run(
            "SELECT arrow_typeof(round(CAST(1.25 AS DECIMAL(5,2)), 1)), \
             arrow_typeof(round(CAST(999.99 AS DECIMAL(5,2)), -1)), \
             arrow_typeof(round(CAST(999.99 AS DECIMAL(5,2)), 4)), \
             arrow_typeof(round(CAST(1.25 AS DECIMAL(5,2)), -5)), \
             arrow_typeof(round(CAST(1 AS DECIMAL(1,0)), -2)), \
             arrow_typeof(round(CAST(1 AS TINYINT), -1)), arrow_typeof(round(CAST(1 AS FLOAT), 1)), \
             arrow_typeof(round(NULL, 1))",
        )
        .await
        .unwrap();
        assert_eq!(
            types,
            vec!["|Decimal128(5,1)|Decimal128(4,0)|Decimal128(6,2)|Decimal128(6,0)|Decimal128(3,0)|Int8|Float32|Float64|"]
        );
        for sql in [
            "SELECT round(CAST(125 AS TINYINT), -1)",
            "SELECT round(CAST(2147483647 AS INT), -1)",
            "SELECT round(CAST(9223372036854775807 AS BIGINT), -1)",
        ] {
            let err = run(sql).await.unwrap_err();
            assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{sql}: {err}");
        }
        let nines = "9".repeat(38);
        let err = run(&format!(
            "SELECT round(CAST('{nines}' AS DECIMAL(38, 0)), -1)"
        ))
        .await
        .unwrap_err();
        assert!(err.contains("[NUMERIC_VALUE_OUT_OF_RANGE"), "{err}");
        let err = run("SELECT round(CAST(a AS DECIMAL(5,2)), b) FROM (VALUES (1, 2)) AS t(a, b)")
            .await
            .unwrap_err();
        assert!(err.contains("must be a constant"), "{err}");
        // A scale far past the digits: 0, never an overflow of the scale's arithmetic.
        let got = run("SELECT round(CAST(1.25 AS DECIMAL(5,2)), -2147483648)")
            .await
            .unwrap();
        assert_eq!(got, vec!["|0|"]);
    }
}
