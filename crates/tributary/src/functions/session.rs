//! Session windows: `session_window(ts, gap)`.
//!
//! Per row the function gives the row's own session `[ts, ts + gap)`; the planner then merges
//! the sessions of each group key that overlap (a row whose start is at or before the current
//! session's end joins it and extends it to `max(end, ts + gap)`), as Spark does. The gap is a
//! constant (`'5 minutes'`) or a per-row expression (a string, an INTERVAL or a duration); a row
//! whose gap is not positive gets no session (NULL).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StructArray};
use arrow::datatypes::{DataType, Int64Type, IntervalUnit, TimeUnit};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::window::{duration_ms, window_type};

/// Name of the session window function.
pub(crate) const SESSION_WINDOW: &str = "session_window";

/// `session_window(ts, gap)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SessionWindowFn {
    signature: Signature,
}

impl Default for SessionWindowFn {
    fn default() -> Self {
        SessionWindowFn {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn ticks_per_ms(t: &DataType) -> Result<i64> {
    match t {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Ok(1_000_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(1_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Ok(1),
        other => plan_err!(
            "session_window() needs a TIMESTAMP column with millisecond precision or finer, not \
             {other}; cast it, e.g. session_window(CAST(ts AS TIMESTAMP), '5 minutes')"
        ),
    }
}

/// Per-row gaps in milliseconds (None: no valid gap).
fn gaps(gap: &ColumnarValue, n: usize) -> Result<Vec<Option<i64>>> {
    if let ColumnarValue::Scalar(s) = gap {
        let g = if s.is_null() {
            None
        } else {
            Some(duration_ms("gap", s)?)
        };
        return Ok(vec![g; n]);
    }
    let a = gap.to_array(n)?;
    let out = match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = arrow::compute::cast(&a, &DataType::Utf8)?;
            s.as_string::<i32>()
                .iter()
                .map(|v| {
                    v.and_then(|v| crate::modes::parse_duration(v).map(|d| d.as_millis() as i64))
                })
                .collect()
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => a
            .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
            .iter()
            .map(|v| v.map(|i| i.days as i64 * 86_400_000 + i.nanoseconds / 1_000_000))
            .collect(),
        DataType::Duration(_) | DataType::Int64 | DataType::Int32 => {
            let ms = match a.data_type() {
                DataType::Duration(_) => {
                    let d = arrow::compute::cast(&a, &DataType::Duration(TimeUnit::Millisecond))?;
                    arrow::compute::cast(&d, &DataType::Int64)?
                }
                _ => arrow::compute::cast(&a, &DataType::Int64)?,
            };
            ms.as_primitive::<Int64Type>().iter().collect()
        }
        other => {
            return plan_err!(
                "session_window(): the gap must be a duration such as '5 minutes' or an INTERVAL, \
                 not {other}"
            )
        }
    };
    Ok(out)
}

impl ScalarUDFImpl for SessionWindowFn {
    fn name(&self) -> &str {
        SESSION_WINDOW
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        ticks_per_ms(&arg_types[0])?;
        Ok(window_type(&arg_types[0]))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let ts = args.args[0].to_array(n)?;
        let k = ticks_per_ms(ts.data_type())?;
        let gaps = gaps(&args.args[1], n)?;
        let ticks = arrow::compute::cast(&ts, &DataType::Int64)?;
        let ticks = ticks.as_primitive::<Int64Type>();
        let mut starts = Vec::with_capacity(n);
        let mut ends = Vec::with_capacity(n);
        let mut valid = Vec::with_capacity(n);
        for (t, g) in ticks.iter().zip(gaps) {
            match (t, g) {
                (Some(t), Some(g)) if g > 0 => {
                    starts.push(Some(t));
                    ends.push(Some(t.saturating_add(g.saturating_mul(k))));
                    valid.push(true);
                }
                _ => {
                    starts.push(None);
                    ends.push(None);
                    valid.push(false);
                }
            }
        }
        let start: ArrayRef = arrow::compute::cast(&Int64Array::from(starts), ts.data_type())?;
        let end: ArrayRef = arrow::compute::cast(&Int64Array::from(ends), ts.data_type())?;
        let DataType::Struct(fields) = window_type(ts.data_type()) else {
            unreachable!()
        };
        let out = StructArray::try_new(fields, vec![start, end], Some(valid.into()))?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Merge overlapping sessions per key: returns the session column with each row's merged
/// session. `keys` are the key columns, `session` the session structs (`{start, end}`).
pub(crate) fn merge_sessions(keys: &[ArrayRef], session: &ArrayRef) -> Result<ArrayRef> {
    let s = session.as_struct();
    let ts_type = s.column(0).data_type().clone();
    let start = arrow::compute::cast(s.column(0), &DataType::Int64)?;
    let end = arrow::compute::cast(s.column(1), &DataType::Int64)?;
    let (start, end) = (
        start.as_primitive::<Int64Type>(),
        end.as_primitive::<Int64Type>(),
    );
    let n = session.len();
    let key_rows = if keys.is_empty() {
        None
    } else {
        let conv = arrow::row::RowConverter::new(
            keys.iter()
                .map(|k| arrow::row::SortField::new(k.data_type().clone()))
                .collect(),
        )?;
        Some(conv.convert_columns(keys)?)
    };
    let key = |i: usize| -> &[u8] {
        match &key_rows {
            Some(r) => r.row(i).data(),
            None => &[],
        }
    };
    let mut order: Vec<usize> = (0..n).filter(|i| session.is_valid(*i)).collect();
    order.sort_by(|a, b| {
        key(*a)
            .cmp(key(*b))
            .then(start.value(*a).cmp(&start.value(*b)))
            .then(end.value(*a).cmp(&end.value(*b)))
    });
    let mut out_start = vec![None; n];
    let mut out_end = vec![None; n];
    let mut i = 0;
    while i < order.len() {
        // One merged session: rows order[i..j].
        let (s0, mut e0) = (start.value(order[i]), end.value(order[i]));
        let mut j = i + 1;
        while j < order.len() && key(order[j]) == key(order[i]) && start.value(order[j]) <= e0 {
            e0 = e0.max(end.value(order[j]));
            j += 1;
        }
        for r in &order[i..j] {
            out_start[*r] = Some(s0);
            out_end[*r] = Some(e0);
        }
        i = j;
    }
    let nulls = session.nulls().cloned();
    let st: ArrayRef = arrow::compute::cast(&Int64Array::from(out_start), &ts_type)?;
    let en: ArrayRef = arrow::compute::cast(&Int64Array::from(out_end), &ts_type)?;
    let DataType::Struct(fields) = session.data_type().clone() else {
        unreachable!()
    };
    Ok(Arc::new(StructArray::try_new(fields, vec![st, en], nulls)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampMillisecondArray};

    fn sessions(keys: &[&str], spans: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let k: ArrayRef = Arc::new(StringArray::from(keys.to_vec()));
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let DataType::Struct(fields) = window_type(&ts) else {
            unreachable!()
        };
        let s: ArrayRef = Arc::new(
            StructArray::try_new(
                fields,
                vec![
                    Arc::new(TimestampMillisecondArray::from(
                        spans.iter().map(|s| s.0).collect::<Vec<_>>(),
                    )),
                    Arc::new(TimestampMillisecondArray::from(
                        spans.iter().map(|s| s.1).collect::<Vec<_>>(),
                    )),
                ],
                None,
            )
            .unwrap(),
        );
        let m = merge_sessions(&[k], &s).unwrap();
        let m = m.as_struct();
        let a = arrow::compute::cast(m.column(0), &DataType::Int64).unwrap();
        let b = arrow::compute::cast(m.column(1), &DataType::Int64).unwrap();
        (0..spans.len())
            .map(|i| {
                (
                    a.as_primitive::<Int64Type>().value(i),
                    b.as_primitive::<Int64Type>().value(i),
                )
            })
            .collect()
    }

    #[test]
    fn overlapping_sessions_of_a_key_merge_and_touching_ones_too() {
        // a: [0,10) and [5,15) overlap; [15,25) starts at the end of the merged one: joins it.
        // [30,40) is separate. b's session never merges with a's.
        let got = sessions(
            &["a", "a", "b", "a", "a"],
            &[(5, 15), (0, 10), (6, 16), (15, 25), (30, 40)],
        );
        assert_eq!(got, vec![(0, 25), (0, 25), (6, 16), (0, 25), (30, 40)]);
    }
}
