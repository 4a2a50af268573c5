//! Event-time windows: `window(ts, size[, slide[, start]])` and `window_time(w)`, with Spark's
//! boundaries.
//!
//! A window is a struct `{start, end}` of the event-time column's type; `start` is inclusive and
//! `end` exclusive. Windows are aligned to `start` (default: the Unix epoch): a tumbling window
//! of size `s` holding `t` starts at `start + floor((t - start) / s) * s`. A sliding window
//! (`slide < size`) gives each row every window that holds it (`ceil(size / slide)` of them at
//! most); the planner turns it into an unnest (see [`super::SlidingWindowRule`]).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Int64Type, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::modes::parse_duration;

/// Name of the window function.
pub(crate) const WINDOW: &str = "window";
/// Name of the internal function that lists every sliding window of a row.
pub(crate) const SLIDING_WINDOWS: &str = "__sliding_windows";
/// Name of `window_time`.
pub(crate) const WINDOW_TIME: &str = "window_time";

/// The struct type of a window over a timestamp type.
pub(crate) fn window_type(ts: &DataType) -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("start", ts.clone(), true),
        Field::new("end", ts.clone(), true),
    ]))
}

/// Ticks of `unit` in one millisecond, or an error for seconds.
fn ticks_per_ms(unit: &TimeUnit) -> Result<i64> {
    Ok(match unit {
        TimeUnit::Nanosecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Millisecond => 1,
        TimeUnit::Second => {
            return plan_err!(
                "window() needs a timestamp with millisecond precision or finer; cast the column \
                 to TIMESTAMP first"
            )
        }
    })
}

/// Parse a duration argument (`'5 minutes'`, `'1 day'` or an INTERVAL) into milliseconds.
pub(crate) fn duration_ms(what: &str, v: &ScalarValue) -> Result<i64> {
    let ms = match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => match parse_duration(s) {
            Some(d) => d.as_millis() as i64,
            None => {
                return plan_err!(
                    "window(): cannot read the {what} '{s}': write it like '10 seconds', \
                         '5 minutes', '1 hour' or '1 day'"
                )
            }
        },
        ScalarValue::IntervalMonthDayNano(Some(i)) => {
            if i.months != 0 {
                return plan_err!(
                    "window(): the {what} is given in months, whose length varies; use days"
                );
            }
            i.days as i64 * 86_400_000 + i.nanoseconds / 1_000_000
        }
        ScalarValue::IntervalDayTime(Some(i)) => i.days as i64 * 86_400_000 + i.milliseconds as i64,
        ScalarValue::DurationMillisecond(Some(v)) => *v,
        ScalarValue::DurationSecond(Some(v)) => *v * 1000,
        ScalarValue::DurationMicrosecond(Some(v)) => *v / 1000,
        ScalarValue::DurationNanosecond(Some(v)) => *v / 1_000_000,
        other => {
            return plan_err!(
                "window(): the {what} must be a constant such as '5 minutes' (got {other:?})"
            )
        }
    };
    Ok(ms)
}

/// The window specification of a call: size, slide and start offset, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct WindowSpec {
    /// Window length.
    pub size_ms: i64,
    /// Distance between window starts (= size for tumbling windows).
    pub slide_ms: i64,
    /// Offset of window starts from the Unix epoch.
    pub start_ms: i64,
}

impl WindowSpec {
    /// Read the spec from the constant arguments after the timestamp.
    pub(crate) fn from_args(args: &[Option<&ScalarValue>]) -> Result<WindowSpec> {
        let get = |i: usize, what: &str| -> Result<Option<i64>> {
            match args.get(i) {
                None => Ok(None),
                Some(None) => {
                    plan_err!("window(): the {what} must be a constant such as '1 minute'")
                }
                Some(Some(v)) => duration_ms(what, v).map(Some),
            }
        };
        let size_ms = get(0, "window size")?.ok_or_else(|| {
            datafusion::error::DataFusionError::Plan(
                "window() needs a size, e.g. window(ts, '5 minutes')".into(),
            )
        })?;
        let slide_ms = get(1, "slide")?.unwrap_or(size_ms);
        let start_ms = get(2, "start offset")?.unwrap_or(0);
        if size_ms <= 0 || slide_ms <= 0 {
            return plan_err!("window(): the size and the slide must be positive");
        }
        if slide_ms > size_ms {
            return plan_err!(
                "window(): the slide ({slide_ms} ms) is longer than the window ({size_ms} ms), \
                 which would leave rows in no window; use a slide <= size"
            );
        }
        if start_ms.abs() >= slide_ms {
            return plan_err!(
                "window(): the start offset must be shorter than the slide ({slide_ms} ms)"
            );
        }
        Ok(WindowSpec {
            size_ms,
            slide_ms,
            start_ms,
        })
    }

    /// Whether each row falls in exactly one window.
    pub(crate) fn is_tumbling(&self) -> bool {
        self.size_ms == self.slide_ms
    }

    /// Windows holding `t` (in ticks, `k` ticks per millisecond), latest start first.
    pub(crate) fn starts(&self, t: i64, k: i64, out: &mut Vec<i64>) {
        let (size, slide, offset) = (self.size_ms * k, self.slide_ms * k, self.start_ms * k);
        let last = offset + (t - offset).div_euclid(slide) * slide;
        let mut s = last;
        while s > t - size {
            out.push(s);
            s -= slide;
        }
    }
}

fn ts_unit(t: &DataType) -> Result<(TimeUnit, Option<Arc<str>>)> {
    match t {
        DataType::Timestamp(u, tz) => Ok((*u, tz.clone())),
        other => plan_err!(
            "window() groups rows by an event-time TIMESTAMP column, but got {other}; cast it, e.g. \
             window(CAST(ts AS TIMESTAMP), '5 minutes')"
        ),
    }
}

fn scalar_args(args: &ScalarFunctionArgs) -> Vec<Option<&ScalarValue>> {
    args.args[1..]
        .iter()
        .map(|a| match a {
            ColumnarValue::Scalar(s) => Some(s),
            ColumnarValue::Array(_) => None,
        })
        .collect()
}

fn struct_of(ts: &DataType, starts: Vec<Option<i64>>, size_ticks: i64) -> Result<StructArray> {
    let ends: Vec<Option<i64>> = starts.iter().map(|s| s.map(|s| s + size_ticks)).collect();
    let start: ArrayRef = arrow::compute::cast(&Int64Array::from(starts), ts)?;
    let end: ArrayRef = arrow::compute::cast(&Int64Array::from(ends), ts)?;
    let DataType::Struct(fields) = window_type(ts) else {
        unreachable!()
    };
    Ok(StructArray::try_new(fields, vec![start, end], None)?)
}

/// `window(ts, size[, slide[, start]])`: the tumbling window of each row.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct WindowFn {
    signature: Signature,
}

impl Default for WindowFn {
    fn default() -> Self {
        WindowFn {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for WindowFn {
    fn name(&self) -> &str {
        WINDOW
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !(2..=4).contains(&arg_types.len()) {
            return plan_err!("window(ts, size[, slide[, start]]) takes 2 to 4 arguments");
        }
        ts_unit(&arg_types[0])?;
        Ok(window_type(&arg_types[0]))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let spec = WindowSpec::from_args(&scalar_args(&args))?;
        if !spec.is_tumbling() {
            return exec_err!(
                "a sliding window() (slide shorter than size) gives each row several windows: use \
                 it in GROUP BY or in a SELECT list, where the planner expands it"
            );
        }
        let ts = args.args[0].to_array(args.number_rows)?;
        let (unit, _) = ts_unit(ts.data_type())?;
        let k = ticks_per_ms(&unit)?;
        let ticks = arrow::compute::cast(&ts, &DataType::Int64)?;
        let ticks = ticks.as_primitive::<Int64Type>();
        let mut buf = Vec::with_capacity(1);
        let starts: Vec<Option<i64>> = ticks
            .iter()
            .map(|t| {
                t.map(|t| {
                    buf.clear();
                    spec.starts(t, k, &mut buf);
                    buf[0]
                })
            })
            .collect();
        let out = struct_of(ts.data_type(), starts, spec.size_ms * k)?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `__sliding_windows(ts, size, slide[, start])`: every window of each row, as a list (the
/// planner unnests it).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SlidingWindowsFn {
    signature: Signature,
}

impl Default for SlidingWindowsFn {
    fn default() -> Self {
        SlidingWindowsFn {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SlidingWindowsFn {
    fn name(&self) -> &str {
        SLIDING_WINDOWS
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        ts_unit(&arg_types[0])?;
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            window_type(&arg_types[0]),
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let spec = WindowSpec::from_args(&scalar_args(&args))?;
        let ts = args.args[0].to_array(args.number_rows)?;
        let (unit, _) = ts_unit(ts.data_type())?;
        let k = ticks_per_ms(&unit)?;
        let ticks = arrow::compute::cast(&ts, &DataType::Int64)?;
        let ticks = ticks.as_primitive::<Int64Type>();
        let mut starts: Vec<Option<i64>> = Vec::with_capacity(ticks.len() * 2);
        let mut offsets: Vec<i32> = Vec::with_capacity(ticks.len() + 1);
        offsets.push(0);
        let mut buf = Vec::new();
        for t in ticks.iter() {
            if let Some(t) = t {
                buf.clear();
                spec.starts(t, k, &mut buf);
                // Earliest window first, as Spark lists them.
                starts.extend(buf.iter().rev().map(|s| Some(*s)));
            }
            offsets.push(starts.len() as i32);
        }
        let values = struct_of(ts.data_type(), starts, spec.size_ms * k)?;
        let field = Arc::new(Field::new("item", values.data_type().clone(), true));
        let list = ListArray::try_new(
            field,
            OffsetBuffer::new(offsets.into()),
            Arc::new(values),
            ticks.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(list)))
    }
}

/// `window_time(w)`: the event time of a window's result, `end - 1 microsecond` (as Spark), so it
/// falls inside the window.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct WindowTimeFn {
    signature: Signature,
}

impl Default for WindowTimeFn {
    fn default() -> Self {
        WindowTimeFn {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for WindowTimeFn {
    fn name(&self) -> &str {
        WINDOW_TIME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            DataType::Struct(f) if f.len() == 2 && f[1].name() == "end" => {
                Ok(f[1].data_type().clone())
            }
            other => {
                plan_err!("window_time() takes a window (the result of window()), not {other}")
            }
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let w = args.args[0].to_array(args.number_rows)?;
        let w = w.as_struct();
        let end = w.column(1);
        let (unit, _) = ts_unit(end.data_type())?;
        let micro = match unit {
            TimeUnit::Nanosecond => 1000,
            TimeUnit::Microsecond => 1,
            _ => 0,
        };
        let ticks = arrow::compute::cast(end, &DataType::Int64)?;
        let out: Int64Array = ticks
            .as_primitive::<Int64Type>()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if w.is_null(i) {
                    None
                } else {
                    t.map(|t| t - micro.max(1))
                }
            })
            .collect();
        Ok(ColumnarValue::Array(arrow::compute::cast(
            &out,
            end.data_type(),
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(spec: WindowSpec, t: i64) -> Vec<i64> {
        let mut v = Vec::new();
        spec.starts(t, 1, &mut v);
        v
    }

    #[test]
    fn tumbling_and_sliding_boundaries_match_spark() {
        let tumble = WindowSpec {
            size_ms: 300_000,
            slide_ms: 300_000,
            start_ms: 0,
        };
        // 10:02:30 is in [10:00, 10:05).
        assert_eq!(starts(tumble, 36_150_000), vec![36_000_000]);
        // A row exactly at a boundary opens the next window (end is exclusive).
        assert_eq!(starts(tumble, 36_300_000), vec![36_300_000]);
        // Before the Unix epoch.
        assert_eq!(starts(tumble, -1), vec![-300_000]);
        let slide = WindowSpec {
            size_ms: 300_000,
            slide_ms: 60_000,
            start_ms: 0,
        };
        let s = starts(slide, 36_150_000);
        assert_eq!(s.len(), 5);
        assert!(s
            .iter()
            .all(|s| *s <= 36_150_000 && 36_150_000 < s + 300_000));
        // Size not a multiple of the slide: 10 min by 3 min gives 3 or 4 windows.
        let odd = WindowSpec {
            size_ms: 600_000,
            slide_ms: 180_000,
            start_ms: 0,
        };
        assert_eq!(starts(odd, 0), vec![0, -180_000, -360_000, -540_000]);
        assert_eq!(starts(odd, 100_000), vec![0, -180_000, -360_000]);
        // With a start offset.
        let off = WindowSpec {
            size_ms: 60_000,
            slide_ms: 60_000,
            start_ms: 15_000,
        };
        assert_eq!(starts(off, 10_000), vec![-45_000]);
        assert_eq!(starts(off, 15_000), vec![15_000]);
    }
}
