//! Spark's DECIMAL arithmetic: the result type of `+ - * / %` on DECIMALs (and integers beside
//! them), and the value, rounded as Spark rounds it.
//!
//! ```text
//!  SQL `a * b` (and `+ - / %`)             DecimalPlanner (SQL planning): both sides DECIMAL, or
//!  (a DECIMAL(38,10), b DECIMAL(38,10))  ──►  one DECIMAL and one integer ─► spark_decimal(a, b)
//!                                            typed DECIMAL(38,6) now, named `a * b`
//!  spark_divide, spark_mod (PySpark's / and %), try_add ... try_mod
//!                                       ─► the same kernel, typed when the query is analysed
//! ```
//!
//! DataFusion types these operators its own way, and where the types differ so do the answers:
//! `CAST(1 AS DECIMAL(10,0)) / CAST(3 AS DECIMAL(10,0))` is `0.3333` there and `0.33333333333`
//! in Spark; a product past 38 digits keeps every digit after the point and fails where Spark
//! gives up digits after the point (`DECIMAL(38,10) * DECIMAL(38,10)` is `DECIMAL(38,6)`).
//!
//! **Types** (Spark's `DecimalPrecision` with `spark.sql.decimalOperations.allowPrecisionLoss`,
//! its default): an integer operand is a `DECIMAL(3|5|10|20, 0)` by its width, an integer
//! literal a DECIMAL of its own digits (`2` is `DECIMAL(1,0)`). For `DECIMAL(p1,s1) op
//! DECIMAL(p2,s2)`:
//!
//! | op | scale | precision |
//! |---|---|---|
//! | `+ -` | max(s1, s2) | max(p1-s1, p2-s2) + scale + 1 |
//! | `*` | s1 + s2 | p1 + p2 + 1 |
//! | `/` | max(6, s1 + p2 + 1) | p1 - s1 + s2 + scale |
//! | `%` | max(s1, s2) | min(p1-s1, p2-s2) + scale |
//!
//! A precision past 38 becomes 38, and the scale gives way to the integer digits, down to
//! min(scale, 6).
//!
//! **Values**: exact in 256 bits, then rounded once, half away from zero, to the result's scale,
//! as Spark 4 computes them (its product is cut to 39 significant digits first, which changes
//! no result of 38 digits; its quotient is divided to the result's scale directly). A value
//! with more digits than its type raises `[NUMERIC_VALUE_OUT_OF_RANGE]` naming the exact value
//! (the `try_` functions give NULL), a zero divisor `[DIVIDE_BY_ZERO]` (`%`:
//! `[REMAINDER_BY_ZERO]`). The tests check 780 of PySpark 4.3's answers (types, values, errors;
//! ties and all-nines operands among them: `testdata/spark_decimal_cases.tsv`).

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use arrow::datatypes::{i256, DataType, Decimal128Type, Field, FieldRef};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::sqlparser::ast::BinaryOperator;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// The largest DECIMAL precision (Spark's and Arrow's DECIMAL128).
const MAX_PRECISION: i32 = 38;
/// The fewest digits after the point a result gives up its scale to (Spark's).
const MIN_ADJUSTED_SCALE: i32 = 6;

/// An operation on DECIMALs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DecimalOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    /// `%` (the sign of the dividend).
    Remainder,
}

impl DecimalOp {
    fn symbol(self) -> &'static str {
        match self {
            DecimalOp::Add => "+",
            DecimalOp::Subtract => "-",
            DecimalOp::Multiply => "*",
            DecimalOp::Divide => "/",
            DecimalOp::Remainder => "%",
        }
    }

    /// Spark's result type of `DECIMAL(p1,s1) op DECIMAL(p2,s2)`.
    pub(crate) fn result_type(self, (p1, s1): (u8, i8), (p2, s2): (u8, i8)) -> (u8, i8) {
        let (p1, s1, p2, s2) = (p1 as i32, s1 as i32, p2 as i32, s2 as i32);
        let (precision, scale) = match self {
            DecimalOp::Add | DecimalOp::Subtract => {
                let scale = s1.max(s2);
                ((p1 - s1).max(p2 - s2) + scale + 1, scale)
            }
            DecimalOp::Multiply => (p1 + p2 + 1, s1 + s2),
            DecimalOp::Divide => {
                let scale = MIN_ADJUSTED_SCALE.max(s1 + p2 + 1);
                (p1 - s1 + s2 + scale, scale)
            }
            DecimalOp::Remainder => {
                let scale = s1.max(s2);
                ((p1 - s1).min(p2 - s2) + scale, scale)
            }
        };
        adjust(precision, scale)
    }
}

/// A precision past 38 made 38, the scale giving way to the integer digits (Spark's
/// `DecimalType.adjustPrecisionScale`).
fn adjust(precision: i32, scale: i32) -> (u8, i8) {
    if precision <= MAX_PRECISION {
        return (precision as u8, scale as i8);
    }
    let integer_digits = precision - scale;
    let scale = (MAX_PRECISION - integer_digits).max(scale.min(MIN_ADJUSTED_SCALE));
    (MAX_PRECISION as u8, scale as i8)
}

/// Spark's DECIMAL type of an operand: a DECIMAL128 as it is (a negative scale or a scale past
/// the precision is not Spark's), an integer by its width, an integer literal by its digits.
pub(crate) fn operand_type(t: &DataType, literal: Option<&ScalarValue>) -> Option<(u8, i8)> {
    if let DataType::Decimal128(p, s) = t {
        return (*s >= 0 && *s as u8 <= *p).then_some((*p, *s));
    }
    if !t.is_integer() {
        return None;
    }
    if let Some(v) = literal.filter(|v| !v.is_null()) {
        let digits = v.to_string().trim_start_matches('-').len();
        return Some((digits as u8, 0));
    }
    Some(match t {
        DataType::Int8 | DataType::UInt8 => (3, 0),
        DataType::Int16 | DataType::UInt16 => (5, 0),
        DataType::Int32 | DataType::UInt32 => (10, 0),
        _ => (20, 0),
    })
}

/// What a value out of its type gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OnError {
    /// `[NUMERIC_VALUE_OUT_OF_RANGE]` / `[DIVIDE_BY_ZERO]` (ANSI).
    Raise,
    /// NULL (the `try_` functions).
    Null,
}

/// 10^n, n <= 76 (the largest power of ten in 256 bits).
fn pow10(n: u32) -> Option<i256> {
    static POWERS: OnceLock<Vec<i256>> = OnceLock::new();
    let powers = POWERS.get_or_init(|| {
        let ten = i256::from_i128(10);
        let mut v = vec![i256::ONE];
        while let Some(next) = v.last().and_then(|p| p.checked_mul(ten)) {
            v.push(next);
        }
        v
    });
    powers.get(n as usize).copied()
}

/// `n / d` rounded half up, for `n >= 0`, `d > 0`.
fn div_half_up(n: i256, d: i256) -> i256 {
    let (q, r) = (n.wrapping_div(d), n.wrapping_rem(d));
    if r.wrapping_add(r) >= d {
        q.wrapping_add(i256::ONE)
    } else {
        q
    }
}

/// `v >= 0` with `n` digits dropped, rounded half up.
fn drop_digits(v: i256, n: u32) -> i256 {
    match pow10(n) {
        Some(p) => div_half_up(v, p),
        // More digits dropped than 256 bits hold: less than a half of the unit.
        None => i256::ZERO,
    }
}

/// Why a row has no value.
enum RowError {
    /// The exact value (unscaled, and its scale) when 256 bits hold it.
    OutOfRange(Option<(i256, i32)>),
    ByZero,
}

/// `a op b` for unscaled `a` (scale `s1`) and `b` (scale `s2`), at the result's scale `rs`,
/// with the exact value before the rounding (for the message of a value out of range).
fn compute(
    op: DecimalOp,
    a: i128,
    s1: i8,
    b: i128,
    s2: i8,
    rs: i8,
) -> Result<(i256, Option<(i256, i32)>), RowError> {
    match compute_narrow(op, a, s1, b, s2, rs) {
        Some((v, exact)) => {
            let widen = |(e, s): (i128, i32)| (i256::from_i128(e), s);
            Ok((i256::from_i128(v), exact.map(widen)))
        }
        None => compute_wide(op, a, s1, b, s2, rs),
    }
}

/// [`compute`] in 256 bits.
fn compute_wide(
    op: DecimalOp,
    a: i128,
    s1: i8,
    b: i128,
    s2: i8,
    rs: i8,
) -> Result<(i256, Option<(i256, i32)>), RowError> {
    let (s1, s2, rs) = (s1 as i32, s2 as i32, rs as i32);
    let (a, b) = (i256::from_i128(a), i256::from_i128(b));
    // Every power below is at most 10^38 and every operand below 10^38: the products are
    // below 10^76 and the sums below 2 * 10^76, inside 256 bits (5.7 * 10^76).
    let power = |n: i32| pow10(n.max(0) as u32).ok_or(RowError::OutOfRange(None));
    let (exact, scale) = match op {
        DecimalOp::Add | DecimalOp::Subtract => {
            let s = s1.max(s2);
            let (a, b) = (
                a.wrapping_mul(power(s - s1)?),
                b.wrapping_mul(power(s - s2)?),
            );
            let sum = if op == DecimalOp::Add {
                a.wrapping_add(b)
            } else {
                a.wrapping_sub(b)
            };
            (sum, s)
        }
        DecimalOp::Multiply => (a.wrapping_mul(b), s1 + s2),
        DecimalOp::Remainder => {
            let s = s1.max(s2);
            let (a, b) = (
                a.wrapping_mul(power(s - s1)?),
                b.wrapping_mul(power(s - s2)?),
            );
            if b == i256::ZERO {
                return Err(RowError::ByZero);
            }
            (a.wrapping_rem(b), s)
        }
        DecimalOp::Divide => {
            if b == i256::ZERO {
                return Err(RowError::ByZero);
            }
            let negative = a.is_negative() != b.is_negative();
            let (a, b) = (a.wrapping_abs(), b.wrapping_abs());
            // The quotient at the result's scale is n / d.
            let t = rs + s2 - s1;
            let (n, d) = if t >= 0 {
                // Past 256 bits the quotient has more than 38 digits: out of range.
                let n = pow10(t as u32)
                    .and_then(|p| a.checked_mul(p))
                    .ok_or(RowError::OutOfRange(None))?;
                (n, b)
            } else {
                (a, b.wrapping_mul(power(-t)?))
            };
            return Ok((with_sign(div_half_up(n, d), negative), None));
        }
    };
    let rounded = drop_digits(exact.wrapping_abs(), (scale - rs).max(0) as u32);
    Ok((
        with_sign(rounded, exact.is_negative()),
        Some((exact, scale)),
    ))
}

/// [`compute`] in 128 bits, the common case (operands and results of a few digits): `None`
/// where a step needs more bits (or the divisor is zero), which the 256-bit path then takes.
fn compute_narrow(
    op: DecimalOp,
    a: i128,
    s1: i8,
    b: i128,
    s2: i8,
    rs: i8,
) -> Option<(i128, Option<(i128, i32)>)> {
    let (s1, s2, rs) = (s1 as u32, s2 as u32, rs as u32);
    let (exact, scale) = match op {
        DecimalOp::Add | DecimalOp::Subtract => {
            let s = s1.max(s2);
            let a = a.checked_mul(10i128.checked_pow(s - s1)?)?;
            let b = b.checked_mul(10i128.checked_pow(s - s2)?)?;
            let sum = if op == DecimalOp::Add {
                a.checked_add(b)?
            } else {
                a.checked_sub(b)?
            };
            (sum, s)
        }
        DecimalOp::Multiply => (a.checked_mul(b)?, s1 + s2),
        DecimalOp::Remainder => {
            let s = s1.max(s2);
            let a = a.checked_mul(10i128.checked_pow(s - s1)?)?;
            let b = b.checked_mul(10i128.checked_pow(s - s2)?)?;
            if b == 0 {
                return None;
            }
            (a.checked_rem(b)?, s)
        }
        DecimalOp::Divide => {
            if b == 0 {
                return None;
            }
            let t = (rs + s2) as i32 - s1 as i32;
            let (n, d) = if t >= 0 {
                (
                    a.checked_abs()?
                        .checked_mul(10i128.checked_pow(t as u32)?)?,
                    b.checked_abs()?,
                )
            } else {
                (
                    a.checked_abs()?,
                    b.checked_abs()?
                        .checked_mul(10i128.checked_pow((-t) as u32)?)?,
                )
            };
            let (q, r) = (n / d, n % d);
            let q = if r >= d - r { q + 1 } else { q };
            let negative = (a < 0) != (b < 0);
            return Some((if negative { -q } else { q }, None));
        }
    };
    let drop = scale.checked_sub(rs)?;
    if drop == 0 {
        // The result's scale is the exact value's: nothing to round.
        return Some((exact, Some((exact, scale as i32))));
    }
    let p = 10i128.checked_pow(drop)?;
    let (q, r) = (exact.checked_abs()? / p, exact.checked_abs()? % p);
    let q = if r >= p - r { q + 1 } else { q };
    Some((if exact < 0 { -q } else { q }, Some((exact, scale as i32))))
}

fn with_sign(v: i256, negative: bool) -> i256 {
    if negative {
        v.wrapping_neg()
    } else {
        v
    }
}

/// The unscaled values of a DECIMAL or integer array, with their scale.
fn unscaled(a: &ArrayRef) -> Result<(Decimal128Array, i8)> {
    match a.data_type() {
        DataType::Decimal128(_, s) => Ok((a.as_primitive::<Decimal128Type>().clone(), *s)),
        _ => {
            let cast = arrow::compute::cast(a, &DataType::Decimal128(38, 0))?;
            Ok((cast.as_primitive::<Decimal128Type>().clone(), 0))
        }
    }
}

/// `a op b` (DECIMALs or integers, of equal length) as a `DECIMAL(p, s)`.
pub(crate) fn evaluate(
    op: DecimalOp,
    a: &ArrayRef,
    b: &ArrayRef,
    (p, s): (u8, i8),
    on_error: OnError,
) -> Result<ArrayRef> {
    let ((a, s1), (b, s2)) = (unscaled(a)?, unscaled(b)?);
    let limit = pow10(p as u32).unwrap_or(i256::MAX);
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b.iter()) {
        let (Some(x), Some(y)) = (x, y) else {
            out.push(None);
            continue;
        };
        let error = match compute(op, x, s1, y, s2, s) {
            Ok((v, _)) if v.wrapping_abs() < limit => {
                out.push(v.to_i128());
                continue;
            }
            Ok((v, exact)) => RowError::OutOfRange(exact.or(Some((v, s as i32)))),
            Err(e) => e,
        };
        if on_error == OnError::Null {
            out.push(None);
            continue;
        }
        return Err(match error {
            RowError::ByZero => super::ansi_errors::by_zero(
                op == DecimalOp::Remainder,
                &text(i256::from_i128(x), s1 as i32),
            ),
            RowError::OutOfRange(v) => out_of_range(op, v, (p, s), (x, s1), (y, s2)),
        });
    }
    Ok(Arc::new(
        Decimal128Array::from(out).with_precision_and_scale(p, s)?,
    ))
}

/// [`evaluate`] over a function's two arguments (constants computed as one row).
pub(crate) fn invoke(
    op: DecimalOp,
    args: &ScalarFunctionArgs,
    result: (u8, i8),
    on_error: OnError,
) -> Result<ColumnarValue> {
    let scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if scalar { 1 } else { args.number_rows };
    let a = args.args[0].to_array(rows)?;
    let b = args.args[1].to_array(rows)?;
    super::like_input(scalar, evaluate(op, &a, &b, result, on_error)?)
}

fn out_of_range(
    op: DecimalOp,
    value: Option<(i256, i32)>,
    (p, s): (u8, i8),
    (a, s1): (i128, i8),
    (b, s2): (i128, i8),
) -> DataFusionError {
    let what = match value {
        Some((v, scale)) => text(v, scale),
        None => format!(
            "{} {} {}",
            text(i256::from_i128(a), s1 as i32),
            op.symbol(),
            text(i256::from_i128(b), s2 as i32)
        ),
    };
    DataFusionError::Execution(format!(
        "[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION] {what} cannot be represented as \
         DECIMAL({p}, {s}): the result has more digits than its type. Cast an operand to a \
         DECIMAL with fewer digits, or to DOUBLE, before the arithmetic"
    ))
}

/// An unscaled value as decimal text at `scale >= 0`.
fn text(v: i256, scale: i32) -> String {
    let sign = if v.is_negative() { "-" } else { "" };
    let digits = v.wrapping_abs().to_string();
    let scale = scale.max(0) as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// An integer literal, also cast to an integer type (PySpark's `lit(2)` is `CAST(2 AS INT)`).
pub(crate) fn integer_literal(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) if v.data_type().is_integer() => Some(v.clone()),
        Expr::Cast(c) if c.field.data_type().is_integer() => integer_literal(&c.expr),
        Expr::Alias(a) => integer_literal(&a.expr),
        _ => None,
    }
}

/// `a op b` with Spark's types and values, its type fixed when it was planned (so that folding
/// an operand into a literal later cannot change it): SQL's operator, or one of the functions
/// [`super::spark_arith`] gives DECIMALs to (`spark_divide`, `try_add`, ...), named as they are.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkDecimalFn {
    op: DecimalOp,
    result: (u8, i8),
    on_error: OnError,
    /// The function it stands for, or `None` for SQL's operator.
    function: Option<String>,
    signature: Signature,
}

/// Spark's types of `left` and `right` as operands of DECIMAL arithmetic: both DECIMALs, or one
/// a DECIMAL and the other an integer.
pub(crate) fn operand_types(
    (lt, l_literal): (&DataType, Option<&ScalarValue>),
    (rt, r_literal): (&DataType, Option<&ScalarValue>),
) -> Option<((u8, i8), (u8, i8))> {
    if !(lt.is_decimal() || rt.is_decimal()) {
        return None;
    }
    Some((operand_type(lt, l_literal)?, operand_type(rt, r_literal)?))
}

impl SparkDecimalFn {
    /// `left op right` with Spark's types, when both are DECIMALs or one is and the other an
    /// integer (`literal` tells an operand that is an integer literal); `None` otherwise.
    pub(crate) fn plan(
        op: DecimalOp,
        (left, right): (&Expr, &Expr),
        literal: impl Fn(&Expr) -> Option<ScalarValue>,
        (on_error, function): (OnError, Option<&str>),
        schema: &DFSchema,
    ) -> Option<Expr> {
        let (lt, rt) = (left.get_type(schema).ok()?, right.get_type(schema).ok()?);
        let (l, r) = operand_types(
            (&lt, literal(left).as_ref()),
            (&rt, literal(right).as_ref()),
        )?;
        let udf = SparkDecimalFn {
            op,
            result: op.result_type(l, r),
            on_error,
            function: function.map(str::to_string),
            signature: Signature::any(2, Volatility::Immutable),
        };
        Some(Expr::ScalarFunction(
            datafusion::logical_expr::expr::ScalarFunction::new_udf(
                Arc::new(ScalarUDF::new_from_impl(udf)),
                vec![left.clone(), right.clone()],
            ),
        ))
    }
}

impl ScalarUDFImpl for SparkDecimalFn {
    fn name(&self) -> &str {
        if let Some(f) = &self.function {
            return f;
        }
        match self.op {
            DecimalOp::Add => "spark_decimal_add",
            DecimalOp::Subtract => "spark_decimal_subtract",
            DecimalOp::Multiply => "spark_decimal_multiply",
            DecimalOp::Divide => "spark_decimal_divide",
            DecimalOp::Remainder => "spark_decimal_remainder",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(self.result.0, self.result.1))
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<FieldRef> {
        let nullable =
            self.on_error == OnError::Null || args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Decimal128(self.result.0, self.result.1),
            nullable,
        )))
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let names: Vec<String> = args.iter().map(|a| a.schema_name().to_string()).collect();
        Ok(match &self.function {
            // As DataFusion names a function's column.
            Some(f) => format!("{f}({})", names.join(",")),
            None => format!("{} {} {}", names[0], self.op.symbol(), names[1]),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke(self.op, &args, self.result, self.on_error)
    }
}

/// SQL's `+ - * /` on DECIMALs planned as [`SparkDecimalFn`] (registered first of a session's
/// expression planners).
#[derive(Debug, Default)]
pub(crate) struct DecimalPlanner;

impl ExprPlanner for DecimalPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let op = match expr.op {
            BinaryOperator::Plus => DecimalOp::Add,
            BinaryOperator::Minus => DecimalOp::Subtract,
            BinaryOperator::Multiply => DecimalOp::Multiply,
            BinaryOperator::Divide => DecimalOp::Divide,
            BinaryOperator::Modulo => DecimalOp::Remainder,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let planned = SparkDecimalFn::plan(
            op,
            (&expr.left, &expr.right),
            integer_literal,
            (OnError::Raise, None),
            schema,
        );
        Ok(match planned {
            Some(planned) => PlannerResult::Planned(planned),
            None => PlannerResult::Original(expr),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql_rows::sql_rows as run;

    /// The type and the value of a one-row, one-column query.
    async fn typed(sql: &str) -> std::result::Result<String, String> {
        let s = crate::Session::new();
        let df = s.sql(sql).await.map_err(|e| e.to_string())?;
        let planned = df.schema().field(0).data_type().clone();
        let rows = run(sql).await?;
        let batches = df
            .collect()
            .await
            .map_err(|e| crate::TributaryError::from(e).to_string())?;
        // The type the plan promised is the type the rows have.
        assert_eq!(&planned, batches[0].schema().field(0).data_type(), "{sql}");
        Ok(format!("{planned} {}", rows.join(";")))
    }

    fn d(p: u8, s: i8) -> (u8, i8) {
        (p, s)
    }

    #[test]
    fn result_types_are_sparks() {
        use DecimalOp::*;
        assert_eq!(Divide.result_type(d(10, 0), d(10, 0)), d(21, 11));
        assert_eq!(Divide.result_type(d(38, 18), d(38, 18)), d(38, 6));
        assert_eq!(Divide.result_type(d(5, 2), d(7, 3)), d(16, 10));
        assert_eq!(Multiply.result_type(d(38, 10), d(38, 10)), d(38, 6));
        assert_eq!(Multiply.result_type(d(38, 3), d(10, 4)), d(38, 6));
        assert_eq!(Multiply.result_type(d(9, 3), d(4, 3)), d(14, 6));
        assert_eq!(Add.result_type(d(38, 10), d(38, 2)), d(38, 6));
        assert_eq!(Subtract.result_type(d(10, 2), d(1, 0)), d(11, 2));
        // The scale gives way down to min(scale, 6), not below.
        assert_eq!(Multiply.result_type(d(38, 2), d(38, 2)), d(38, 4));
        // `%` with a literal: PySpark's `d % 2` of a DECIMAL(10,2) is a DECIMAL(3,2).
        assert_eq!(Remainder.result_type(d(10, 2), d(1, 0)), d(3, 2));
        assert_eq!(Remainder.result_type(d(5, 2), d(7, 3)), d(6, 3));
        assert_eq!(
            operand_type(&DataType::Int64, Some(&ScalarValue::Int64(Some(-123)))),
            Some(d(3, 0))
        );
        assert_eq!(operand_type(&DataType::Int32, None), Some(d(10, 0)));
        assert_eq!(operand_type(&DataType::Int8, None), Some(d(3, 0)));
        assert_eq!(operand_type(&DataType::Decimal128(5, -2), None), None);
    }

    fn value(op: DecimalOp, (a, s1): (&str, i8), (b, s2): (&str, i8), rs: i8) -> String {
        match compute(op, a.parse().unwrap(), s1, b.parse().unwrap(), s2, rs) {
            Ok((v, _)) => text(v, rs as i32),
            Err(RowError::ByZero) => "by zero".into(),
            Err(RowError::OutOfRange(_)) => "out of range".into(),
        }
    }

    #[test]
    fn a_quotient_is_rounded_once_to_its_scale() {
        let q = |a, s1, b, s2, rs| value(DecimalOp::Divide, (a, s1), (b, s2), rs);
        assert_eq!(q("1", 0, "3", 0, 11), "0.33333333333");
        assert_eq!(q("-2", 0, "3", 0, 6), "-0.666667");
        assert_eq!(q("1", 0, "8", 0, 2), "0.13");
        assert_eq!(q("-1", 0, "8", 0, 2), "-0.13");
        assert_eq!(q("2", 20, "3", 0, 6), "0.000000");
        // PySpark 4.3's answers where rounding first to 38 significant digits would differ.
        assert_eq!(
            q(
                "81542110829750896707207303278389984813",
                0,
                "81542070058715867349273628641575664029",
                0,
                6
            ),
            "1.000000"
        );
        assert_eq!(
            q("51543209862654320986265432098626543187", 37, "125", 0, 37),
            "0.0412345678901234567890123456789012345"
        );
        assert_eq!(
            q("1", 38, "1", 0, 38),
            "0.00000000000000000000000000000000000001"
        );
        // More than 256 bits before the division: out of range.
        assert_eq!(
            q("10000000000000000000000000000000000000", 0, "1", 38, 6),
            "out of range"
        );
        assert_eq!(q("1", 0, "0", 0, 6), "by zero");
    }

    #[test]
    fn a_product_and_a_sum_are_rounded_once_to_their_scale() {
        let m = |a, s1, b, s2, rs| value(DecimalOp::Multiply, (a, s1), (b, s2), rs);
        assert_eq!(
            m("12345678901234567890123", 3, "987654321", 4, 6),
            "1219326311248285321124783.417148"
        );
        // PySpark 4.3's: 68650021397133147095.0448072173 * 141357.8019699072.
        assert_eq!(
            m(
                "686500213971331470950448072173",
                10,
                "1413578019699072",
                10,
                6
            ),
            "9704216129885839410798570.670849"
        );
        assert_eq!(m("-15", 1, "15", 1, 1), "-2.3");
        assert_eq!(m("5", 7, "1", 0, 6), "0.000001");
        assert_eq!(m("-25", 7, "1", 0, 6), "-0.000003");
        let r = |a, s1, b, s2, rs| value(DecimalOp::Remainder, (a, s1), (b, s2), rs);
        assert_eq!(r("-750", 2, "2", 0, 2), "-1.50");
        assert_eq!(r("1050", 2, "3000", 3, 3), "1.500");
        assert_eq!(r("1", 0, "0", 0, 0), "by zero");
        let a = |a, s1, b, s2, rs| value(DecimalOp::Add, (a, s1), (b, s2), rs);
        assert_eq!(a("12345675000", 10, "100", 2, 6), "2.234568");
        assert_eq!(a("12345674999", 10, "100", 2, 6), "2.234567");
        assert_eq!(
            value(DecimalOp::Subtract, ("-49", 8), ("0", 0), 6),
            "0.000000"
        );
    }

    /// A decimal text as its unscaled value at `scale` (the text has at most `scale` digits
    /// after the point).
    fn unscaled_text(t: &str, scale: i8) -> i128 {
        let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
        let digits = format!("{whole}{fraction:0<width$}", width = scale as usize);
        digits.parse().unwrap()
    }

    #[test]
    fn pyspark_agrees_on_780_cases() {
        let cases = include_str!("testdata/spark_decimal_cases.tsv");
        let mut checked = 0;
        for line in cases.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split('\t').collect();
            let op = match f[0] {
                "+" => DecimalOp::Add,
                "-" => DecimalOp::Subtract,
                "*" => DecimalOp::Multiply,
                _ => DecimalOp::Divide,
            };
            let n = |i: usize| f[i].parse::<i64>().unwrap();
            let (pa, sa, pb, sb) = (n(2) as u8, n(3) as i8, n(5) as u8, n(6) as i8);
            let (p, s) = f[7].split_once(',').unwrap();
            let result = (p.parse::<u8>().unwrap(), s.parse::<i8>().unwrap());
            assert_eq!(op.result_type((pa, sa), (pb, sb)), result, "{line}");
            let array = |t: &str, p: u8, s: i8| -> ArrayRef {
                Arc::new(
                    Decimal128Array::from(vec![unscaled_text(t, s)])
                        .with_precision_and_scale(p, s)
                        .unwrap(),
                )
            };
            let got = evaluate(
                op,
                &array(f[1], pa, sa),
                &array(f[4], pb, sb),
                result,
                OnError::Raise,
            );
            let got = match got {
                Ok(a) => text(
                    i256::from_i128(a.as_primitive::<Decimal128Type>().value(0)),
                    result.1 as i32,
                ),
                Err(e) => {
                    let e = crate::TributaryError::from(e).to_string();
                    e[1..e.find(']').unwrap()].to_string()
                }
            };
            assert_eq!(got, f[8], "{line}");
            // The 128-bit path, where it answers, answers as the 256-bit one.
            let (a, b) = (unscaled_text(f[1], sa), unscaled_text(f[4], sb));
            if let Some((v, _)) = compute_narrow(op, a, sa, b, sb, result.1) {
                let wide = compute_wide(op, a, sa, b, sb, result.1)
                    .ok()
                    .map(|(w, _)| w);
                assert_eq!(Some(i256::from_i128(v)), wide, "{line}");
            }
            // The try_ functions give NULL where the operator raises.
            let tried = evaluate(
                op,
                &array(f[1], pa, sa),
                &array(f[4], pb, sb),
                result,
                OnError::Null,
            )
            .unwrap();
            assert_eq!(
                tried.is_null(0),
                f[8].starts_with(|c: char| c.is_ascii_uppercase()),
                "{line}"
            );
            checked += 1;
        }
        assert_eq!(checked, 780);
    }

    #[tokio::test]
    async fn sql_operators_on_decimals_have_sparks_types_and_values() {
        let cases = [
            ("SELECT CAST(1 AS DECIMAL(10,0)) / CAST(3 AS DECIMAL(10,0))", "Decimal128(21, 11) |0.33333333333|"),
            ("SELECT CAST(1.5 AS DECIMAL(38,10)) * CAST(2.25 AS DECIMAL(38,10))", "Decimal128(38, 6) |3.375000|"),
            ("SELECT CAST(1.5 AS DECIMAL(38,10)) + CAST(2.25 AS DECIMAL(38,2))", "Decimal128(38, 6) |3.750000|"),
            ("SELECT CAST(10 AS DECIMAL(38,18)) / CAST(3 AS DECIMAL(38,18))", "Decimal128(38, 6) |3.333333|"),
            ("SELECT CAST(7 AS DECIMAL(10,2)) * 2", "Decimal128(12, 2) |14.00|"),
            ("SELECT 2 * CAST(7 AS DECIMAL(10,2))", "Decimal128(12, 2) |14.00|"),
            ("SELECT CAST(7 AS DECIMAL(10,2)) / 2", "Decimal128(14, 6) |3.500000|"),
            ("SELECT CAST(7 AS DECIMAL(10,2)) - CAST(2 AS INT)", "Decimal128(11, 2) |5.00|"),
            ("SELECT CAST(1 AS DECIMAL(38,0)) / CAST(7 AS DECIMAL(38,0))", "Decimal128(38, 6) |0.142857|"),
            (
                "SELECT CAST('12345678901234567890.123' AS DECIMAL(38,3)) * CAST('98765.4321' AS DECIMAL(10,4))",
                "Decimal128(38, 6) |1219326311248285321124783.417148|",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(typed(sql).await.unwrap(), want, "{sql}");
        }
    }

    #[tokio::test]
    async fn columns_keep_their_names_and_errors_name_the_value() {
        let s = crate::Session::new();
        let df = s
            .sql("SELECT a * b, a / 2 FROM (VALUES (CAST(1.5 AS DECIMAL(10,2)), CAST(2 AS DECIMAL(5,1)))) AS t(a, b)")
            .await
            .unwrap();
        let names: Vec<&str> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["t.a * t.b", "t.a / Int64(2)"]);
        let rows = run("SELECT a * b, a / 2 FROM (VALUES (CAST(1.5 AS DECIMAL(10,2)), CAST(2 AS DECIMAL(5,1)))) AS t(a, b)").await.unwrap();
        assert_eq!(rows, ["|3.000|0.750000|"]);
        let err = run("SELECT a * 10 FROM (VALUES (CAST('99999999999999999999999999999999999999' AS DECIMAL(38,0)))) AS t(a)")
            .await
            .unwrap_err();
        assert!(
            err.contains("NUMERIC_VALUE_OUT_OF_RANGE")
                && err.contains("999999999999999999999999999999999999990"),
            "{err}"
        );
        let err = run("SELECT a / b FROM (VALUES (CAST(1 AS DECIMAL(5,1)), CAST(0 AS DECIMAL(5,1)))) AS t(a, b)")
            .await
            .unwrap_err();
        assert!(err.contains("DIVIDE_BY_ZERO"), "{err}");
    }

    #[tokio::test]
    async fn the_functions_on_decimals_have_sparks_types() {
        let cases = [
            ("SELECT spark_divide(CAST(7 AS DECIMAL(10,2)), 2)", "Decimal128(14, 6) |3.500000|"),
            ("SELECT try_divide(CAST(1 AS DECIMAL(10,0)), CAST(3 AS DECIMAL(10,0)))", "Decimal128(21, 11) |0.33333333333|"),
            ("SELECT try_divide(CAST(1 AS DECIMAL(10,0)), CAST(0 AS DECIMAL(10,0)))", "Decimal128(21, 11) ||"),
            (
                "SELECT try_multiply(CAST('99999999999999999999999999999999999999' AS DECIMAL(38,0)), 10)",
                "Decimal128(38, 0) ||",
            ),
            ("SELECT try_add(CAST(1.5 AS DECIMAL(38,10)), CAST(2.25 AS DECIMAL(38,2)))", "Decimal128(38, 6) |3.750000|"),
            // An operand folded into a literal after planning keeps the planned type.
            ("SELECT spark_divide(CAST(7 AS DECIMAL(10,2)), CAST(2 AS INT))", "Decimal128(21, 13) |3.5000000000000|"),
            // Integers alone are divided as DOUBLEs, as before.
            ("SELECT spark_divide(7, 2)", "Float64 |3.5|"),
        ];
        for (sql, want) in cases {
            assert_eq!(typed(sql).await.unwrap(), want, "{sql}");
        }
    }
}
