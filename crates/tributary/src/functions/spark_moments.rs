//! Spark's `skewness(x)`, `kurtosis(x)` and `corr(x, y)` (which replaces DataFusion's), computed
//! with Spark's own running updates and merges of central moments, so that a group's value is
//! Spark's to the last bit when the rows arrive in the same order (one partition).
//!
//! | function | state | NULL when |
//! |---|---|---|
//! | `skewness(x)` | n, avg, m2, m3 | no rows, or no variance (m2 = 0) |
//! | `kurtosis(x)` (excess: a normal distribution's is 0) | n, avg, m2, m3, m4 | the same |
//! | `corr(x, y)` (rows where both are set) | n, x avg, y avg, ck, x mk, y mk | fewer than 2 rows, or either column constant |
//!
//! A NaN or infinite input gives NaN. A variance so small that its square (or cube) is 0 as a
//! double raises `[DIVIDE_BY_ZERO]`, as Spark's ANSI mode does. The arguments are DOUBLEs
//! (numbers of every type and text are cast); the result is a DOUBLE. Sliding window frames are not
//! supported (a state cannot take rows out).

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

/// Which statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Moment {
    Skewness,
    Kurtosis,
    Corr,
}

impl Moment {
    /// The names of the state's values.
    fn state(self) -> &'static [&'static str] {
        match self {
            Moment::Skewness => &["n", "avg", "m2", "m3"],
            Moment::Kurtosis => &["n", "avg", "m2", "m3", "m4"],
            Moment::Corr => &["n", "xAvg", "yAvg", "ck", "xMk", "yMk"],
        }
    }
}

/// `skewness`, `kurtosis` or `corr`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkMomentFn {
    moment: Moment,
    signature: Signature,
}

impl SparkMomentFn {
    fn new(moment: Moment) -> Self {
        SparkMomentFn {
            moment,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    pub(crate) fn skewness() -> Self {
        Self::new(Moment::Skewness)
    }

    pub(crate) fn kurtosis() -> Self {
        Self::new(Moment::Kurtosis)
    }

    pub(crate) fn corr() -> Self {
        Self::new(Moment::Corr)
    }
}

impl AggregateUDFImpl for SparkMomentFn {
    fn name(&self) -> &str {
        match self.moment {
            Moment::Skewness => "skewness",
            Moment::Kurtosis => "kurtosis",
            Moment::Corr => "corr",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let arity = if self.moment == Moment::Corr { 2 } else { 1 };
        if args.len() != arity {
            return plan_err!(
                "{} takes {arity} column(s), got {}",
                self.name(),
                args.len()
            );
        }
        args.iter()
            .map(|t| match t {
                t if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
                // Text is read as a DOUBLE, as Spark casts it.
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(DataType::Float64),
                other => plan_err!(
                    "{} takes numbers, not {other}: cast the column to DOUBLE first",
                    self.name()
                ),
            })
            .collect()
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return plan_err!(
                "{}(DISTINCT ...) is not supported: deduplicate in a subquery first",
                self.name()
            );
        }
        Ok(Box::new(Moments {
            moment: self.moment,
            b: [0.0; 6],
        }))
    }

    fn create_sliding_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        exec_err!(
            "{} over a sliding window frame is not supported (its state cannot take rows out): \
             use a frame from the partition's start (ROWS BETWEEN UNBOUNDED PRECEDING AND ...)",
            self.name()
        )
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(self
            .moment
            .state()
            .iter()
            .map(|s| {
                Arc::new(Field::new(
                    format_state_name(args.name, s),
                    DataType::Float64,
                    true,
                ))
            })
            .collect())
    }
}

/// One group's state: `[n, avg, m2, m3, m4, -]` or, for `corr`, `[n, xAvg, yAvg, ck, xMk, yMk]`.
#[derive(Debug)]
struct Moments {
    moment: Moment,
    b: [f64; 6],
}

impl Moments {
    /// Spark's update by one value (`corr`: one pair).
    fn update(&mut self, x: f64, y: f64) {
        let b = &mut self.b;
        let n = b[0] + 1.0;
        if self.moment == Moment::Corr {
            let (dx, dy) = (x - b[1], y - b[2]);
            let (x_avg, y_avg) = (b[1] + dx / n, b[2] + dy / n);
            b[3] += dx * (y - y_avg);
            b[4] += dx * (x - x_avg);
            b[5] += dy * (y - y_avg);
            (b[0], b[1], b[2]) = (n, x_avg, y_avg);
            return;
        }
        let [_, avg, m2, m3, m4, _] = *b;
        let delta = x - avg;
        let delta_n = delta / n;
        let new_m2 = m2 + delta * (delta - delta_n);
        let delta2 = delta * delta;
        let delta_n2 = delta_n * delta_n;
        let new_m3 = (m3 - (3.0 * delta_n) * new_m2) + delta * (delta2 - delta_n2);
        let new_m4 = ((m4 - (4.0 * delta_n) * new_m3) - (6.0 * delta_n2) * new_m2)
            + delta * (delta * delta2 - delta_n * delta_n2);
        *b = [n, avg + delta_n, new_m2, new_m3, new_m4, 0.0];
    }

    /// Spark's merge of another partial state (`o`) into this one.
    fn merge(&mut self, o: [f64; 6]) {
        let b = &mut self.b;
        let (n1, n2) = (b[0], o[0]);
        let n = n1 + n2;
        let apart = |a1: f64, a2: f64| if n1 == 0.0 || n2 == 0.0 { 0.0 } else { a2 - a1 };
        let per_row = |d: f64| if n == 0.0 { 0.0 } else { d / n };
        let avg = |a1: f64, a2: f64, d_n: f64| {
            if n1 == 0.0 {
                a2
            } else if n2 == 0.0 {
                a1
            } else {
                a1 + d_n * n2
            }
        };
        if self.moment == Moment::Corr {
            let (dx, dy) = (apart(b[1], o[1]), apart(b[2], o[2]));
            let (dx_n, dy_n) = (per_row(dx), per_row(dy));
            *b = [
                n,
                avg(b[1], o[1], dx_n),
                avg(b[2], o[2], dy_n),
                (b[3] + o[3]) + ((dx * dy_n) * n1) * n2,
                (b[4] + o[4]) + ((dx * dx_n) * n1) * n2,
                (b[5] + o[5]) + ((dy * dy_n) * n1) * n2,
            ];
            return;
        }
        let delta = apart(b[1], o[1]);
        let d_n = per_row(delta);
        let m2 = (b[2] + o[2]) + ((delta * d_n) * n1) * n2;
        let m3 = ((b[3] + o[3]) + ((((d_n * d_n) * delta) * n1) * n2) * (n1 - n2))
            + (3.0 * d_n) * (n1 * o[2] - n2 * b[2]);
        let m4 = (((b[4] + o[4])
            + (((((d_n * d_n) * d_n) * delta) * n1) * n2) * ((n1 * n1 - n1 * n2) + n2 * n2))
            + ((6.0 * d_n) * d_n) * ((n1 * n1) * o[2] + (n2 * n2) * b[2]))
            + (4.0 * d_n) * (n1 * o[3] - n2 * b[3]);
        *b = [n, avg(b[1], o[1], d_n), m2, m3, m4, 0.0];
    }

    /// The statistic, `None` for NULL.
    fn value(&self) -> Result<Option<f64>> {
        let b = &self.b;
        let n = b[0];
        let (numerator, divisor, minus) = match self.moment {
            _ if n == 0.0 => return Ok(None),
            Moment::Skewness | Moment::Kurtosis if b[2] == 0.0 => return Ok(None),
            Moment::Corr if n == 1.0 || b[4] == 0.0 || b[5] == 0.0 => return Ok(None),
            Moment::Skewness => (n.sqrt() * b[3], ((b[2] * b[2]) * b[2]).sqrt(), 0.0),
            Moment::Kurtosis => (n * b[4], b[2] * b[2], 3.0),
            Moment::Corr => (b[3], (b[4] * b[5]).sqrt(), 0.0),
        };
        if divisor == 0.0 {
            return exec_err!(
                "[DIVIDE_BY_ZERO] {}: the variance is so small that its power is 0 as a DOUBLE. \
                 Scale the column up (multiply it by a power of ten) first",
                match self.moment {
                    Moment::Skewness => "skewness",
                    Moment::Kurtosis => "kurtosis",
                    Moment::Corr => "corr",
                }
            );
        }
        Ok(Some(numerator / divisor - minus))
    }

    fn width(&self) -> usize {
        self.moment.state().len()
    }
}

impl Accumulator for Moments {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let columns = values
            .iter()
            .map(|v| Ok(cast(v, &DataType::Float64)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let x = columns[0].as_primitive::<Float64Type>();
        match columns.get(1) {
            Some(y) => {
                let y = y.as_primitive::<Float64Type>();
                for (x, y) in x.iter().zip(y.iter()) {
                    if let (Some(x), Some(y)) = (x, y) {
                        self.update(x, y);
                    }
                }
            }
            None => {
                for x in x.iter().flatten() {
                    self.update(x, 0.0);
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let columns: Vec<&Float64Array> = states.iter().map(|s| s.as_primitive()).collect();
        for row in 0..columns.first().map_or(0, |c| c.len()) {
            let mut other = [0.0; 6];
            for (slot, c) in other.iter_mut().zip(&columns) {
                *slot = c.value(row);
            }
            self.merge(other);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.b[..self.width()]
            .iter()
            .map(|v| ScalarValue::Float64(Some(*v)))
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.value()?))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    /// Rows of (k, x, y); the expected values are PySpark 4's (one partition).
    const ROWS: &str = "(VALUES (1, 1.0, 2.0), (1, 2.0, 4.5), (1, 4.0, 7.0), (1, 10.0, 1.0), \
        (2, 5.0, 5.0), (2, 5.0, 6.0), (3, 3.0, NULL), (3, 7.0, 1.0), (4, NULL, NULL), \
        (5, 0.1, 0.3), (5, 0.2, 0.1), (5, 0.7, 0.2), (5, 1e10, 3.0), (5, -3.5, 2.5), \
        (6, 2.0, 2.0), (6, 2.0, 2.0), (6, 2.0, 2.0)) AS t(k, x, y)";

    #[tokio::test]
    async fn moments_are_sparks_to_the_last_bit() {
        let got = run(&format!(
            "SELECT k, CAST(skewness(x) AS VARCHAR), CAST(kurtosis(x) AS VARCHAR), \
             CAST(corr(x, y) AS VARCHAR) FROM {ROWS} GROUP BY k ORDER BY k"
        ))
        .await
        .unwrap();
        assert_eq!(
            got,
            vec![
                "|1|0.8483206969390203|-0.9292307692307684|-0.388274912681629|",
                "|2||||",
                "|3|0.0|-2.0||",
                "|4||||",
                "|5|1.5|0.25|0.7059047096569598|",
                "|6||||",
            ]
        );
        let got = run(
            "SELECT CAST(skewness(id) AS VARCHAR), CAST(kurtosis(id) AS VARCHAR), \
             CAST(corr(id, id * id) AS VARCHAR) FROM generate_series(1, 10) AS t(id)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|0.0|-1.2242424242424241|0.9745586289152093|"]);
        let got = run(
            "SELECT skewness(x), kurtosis(x), corr(x, x) FROM (VALUES (1.0), (CAST('NaN' AS DOUBLE)), (2.0)) AS t(x)",
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|NaN|NaN|NaN|"]);
        let err = run("SELECT skewness(x) FROM (VALUES (0.0), (1e-100)) AS t(x)")
            .await
            .unwrap_err();
        assert!(err.contains("DIVIDE_BY_ZERO"), "{err}");
    }

    #[test]
    fn merging_partial_states_is_the_same_as_one_pass_where_spark_says_so() {
        use super::{Moment, Moments};
        // Into an empty state: exactly the partial state.
        for moment in [Moment::Skewness, Moment::Kurtosis, Moment::Corr] {
            let mut part = Moments {
                moment,
                b: [0.0; 6],
            };
            for (x, y) in [(1.0, 2.0), (2.0, 4.5), (4.0, 7.0), (10.0, 1.0)] {
                part.update(x, y);
            }
            let mut all = Moments {
                moment,
                b: [0.0; 6],
            };
            all.merge(part.b);
            assert_eq!(all.b, part.b, "{moment:?}");
            // Two halves: the same statistic up to rounding.
            let (mut a, mut b) = (
                Moments {
                    moment,
                    b: [0.0; 6],
                },
                Moments {
                    moment,
                    b: [0.0; 6],
                },
            );
            a.update(1.0, 2.0);
            a.update(2.0, 4.5);
            b.update(4.0, 7.0);
            b.update(10.0, 1.0);
            a.merge(b.b);
            let (one, two) = (part.value().unwrap().unwrap(), a.value().unwrap().unwrap());
            assert!((one - two).abs() < 1e-12, "{moment:?}: {one} vs {two}");
        }
    }
}
