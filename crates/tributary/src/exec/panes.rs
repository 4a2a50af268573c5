//! Sliding windows by panes: a window of size S sliding by P is a union of panes of length
//! G = gcd(S, P), so a streaming aggregation aggregates each row once, into its pane, and only
//! the epoch's pane states are spread over the windows that hold them.
//!
//! ```text
//!  as planned (every row in each of its S/P windows)     by panes (every row in one pane)
//!  Aggregate(group: w, k)                                 Aggregate(group: w, k)
//!    Projection(k, __window_0 AS w)                         Projection(k, __window_0 AS w)
//!      Unnest(__window_0)                        ──►          Projection(*, window(ts, G, G) AS __window_0)
//!        Projection(*, __sliding_windows(ts,S,P)                input
//!                      AS __window_0)
//!          input
//!
//!  pane states (append mode, on the sources' rows):
//!    stored and epoch panes of the windows closing ─► windows_of_panes ─► Final(w, k) ─► emitted
//!    epoch rows ─► Partial(pane, k) ─► PartialReduce(pane, k) with the stored pane ─► state
//!  otherwise (and on a checkpoint written before pane states):
//!    epoch rows ─► Partial(pane, k) ─► spread: pane ─► its windows ─► PartialReduce(w, k) ─► state
//! ```
//! A pane belongs to every window that starts at or before it and ends at or after its end; a
//! row is dropped as late only when all its windows are closed. Kept by pane, a window is
//! merged when the watermark passes its end, from the panes as the epochs before left them and the
//! epoch's own (rows behind the epoch's watermark but not the previous one still count), and a
//! pane's row goes when its last window has ended.
//! Spread, a pane's share of an already closed window is left out. Which of the two a query
//! keeps is decided by [`Panes::keeps_pane_states`] and recorded in the checkpoint's shape.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions, UInt32Array,
};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, Projection, ScalarUDF, Unnest};

use crate::error::{Result, TributaryError};
use crate::functions::window::{WindowFn, WindowSpec};
use crate::functions::SLIDING_WINDOWS;

/// How an aggregation grouped by a sliding window aggregates by panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct Panes {
    /// The sliding window.
    spec: WindowSpec,
    /// The pane length, gcd(size, slide), in milliseconds.
    pane_ms: i64,
    /// The group key that is the window.
    pub key: usize,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        e => e,
    }
}

/// Whether `e` (over `input`) reads one of the columns at `cols` of `input`'s schema.
fn reads(e: &Expr, input: &LogicalPlan, cols: &[usize]) -> bool {
    e.column_refs().iter().any(|c| {
        input
            .schema()
            .index_of_column(c)
            .is_ok_and(|i| cols.contains(&i))
    })
}

/// Whether `e` is one of the columns at `cols` of `input`'s schema, as it is.
fn is_one_of(e: &Expr, input: &LogicalPlan, cols: &[usize]) -> bool {
    matches!(strip_alias(e), Expr::Column(c)
        if input.schema().index_of_column(c).is_ok_and(|i| cols.contains(&i)))
}

/// The sliding window an unnest spreads rows over: its spec, the index of the list among the
/// projection's expressions, and the call's arguments.
fn sliding_unnest(u: &Unnest) -> Option<(WindowSpec, usize, &Projection)> {
    let LogicalPlan::Projection(p) = u.input.as_ref() else {
        return None;
    };
    let [(i, list)] = u.list_type_columns.as_slice() else {
        return None;
    };
    if !u.struct_type_columns.is_empty() || list.depth != 1 {
        return None;
    }
    let Expr::ScalarFunction(f) = strip_alias(p.expr.get(*i)?) else {
        return None;
    };
    if f.func.name() != SLIDING_WINDOWS {
        return None;
    }
    let consts: Option<Vec<Option<&ScalarValue>>> = f.args[1..]
        .iter()
        .map(|a| match a {
            Expr::Literal(v, _) => Some(Some(v)),
            _ => None,
        })
        .collect();
    let spec = WindowSpec::from_args(&consts?).ok()?;
    Some((spec, *i, p))
}

/// The sliding window under `plan` and the columns of `plan`'s output that carry it, when only
/// projections that pass it on as it is and filters that do not read it lie in between.
fn window_columns(plan: &LogicalPlan) -> Option<(WindowSpec, Vec<usize>)> {
    match plan {
        LogicalPlan::Unnest(u) => {
            let (spec, _, _) = sliding_unnest(u)?;
            let out = &u.list_type_columns[0].1.output_column;
            Some((spec, vec![u.schema.index_of_column(out).ok()?]))
        }
        LogicalPlan::Projection(p) => {
            let (spec, cols) = window_columns(&p.input)?;
            let mut out = Vec::new();
            for (i, e) in p.expr.iter().enumerate() {
                if is_one_of(e, &p.input, &cols) {
                    out.push(i);
                } else if reads(e, &p.input, &cols) {
                    return None;
                }
            }
            Some((spec, out))
        }
        LogicalPlan::Filter(f) => {
            let (spec, cols) = window_columns(&f.input)?;
            (!reads(&f.predicate, &f.input, &cols)).then_some((spec, cols))
        }
        LogicalPlan::SubqueryAlias(s) => window_columns(&s.input),
        _ => None,
    }
}

impl Panes {
    /// The panes of an aggregation grouped by a sliding window, when it can use them: one
    /// group key is the window as it is, and neither another key nor an aggregate reads it.
    pub(crate) fn of(agg: &Aggregate) -> Option<Panes> {
        let (spec, cols) = window_columns(&agg.input)?;
        let mut key = None;
        for (i, g) in agg.group_expr.iter().enumerate() {
            if is_one_of(g, &agg.input, &cols) && key.is_none() {
                key = Some(i);
            } else if reads(g, &agg.input, &cols) {
                return None;
            }
        }
        if agg.aggr_expr.iter().any(|e| reads(e, &agg.input, &cols)) {
            return None;
        }
        let pane_ms = gcd(spec.size_ms, spec.slide_ms);
        Some(Panes {
            spec,
            pane_ms,
            key: key?,
        })
    }

    /// The aggregation's input with each row in its pane instead of in each of its windows
    /// (the tumbling window of the pane length, in the column the windows were unnested to).
    pub(crate) fn rewrite(&self, plan: &LogicalPlan) -> Result<LogicalPlan> {
        let err = TributaryError::df("planning sliding windows by panes");
        match plan {
            LogicalPlan::Unnest(u) => {
                let Some((_, i, p)) = sliding_unnest(u) else {
                    return Err(TributaryError::Internal(
                        "the sliding window's unnest changed shape".into(),
                    ));
                };
                let Expr::ScalarFunction(f) = strip_alias(&p.expr[i]) else {
                    unreachable!("checked by sliding_unnest")
                };
                let ms = |v: i64| Expr::Literal(ScalarValue::DurationMillisecond(Some(v)), None);
                let pane = Expr::ScalarFunction(ScalarFunction::new_udf(
                    Arc::new(ScalarUDF::new_from_impl(WindowFn::default())),
                    vec![
                        f.args[0].clone(),
                        ms(self.pane_ms),
                        ms(self.pane_ms),
                        ms(self.spec.start_ms.rem_euclid(self.pane_ms)),
                    ],
                ))
                .alias(u.list_type_columns[0].1.output_column.name.clone());
                let mut exprs = p.expr.clone();
                exprs[i] = pane;
                Ok(LogicalPlan::Projection(
                    Projection::try_new(exprs, p.input.clone()).map_err(err)?,
                ))
            }
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
                let input = self.rewrite(plan.inputs()[0])?;
                plan.with_new_exprs(plan.expressions(), vec![input])
                    .map_err(err)
            }
            other => Err(TributaryError::Internal(format!(
                "no sliding window under {}",
                other.display()
            ))),
        }
    }

    /// Whether a streaming aggregation by these panes keeps a state row per pane, each window
    /// merged from its panes when it closes, rather than a row per window that each epoch's
    /// panes are spread to (a state S/G times larger). It does in append mode, on the
    /// sources' rows (an operator above another one receives rows for windows that close in
    /// the same epoch), when the window is the event-time key, without a live view of the
    /// open windows, and when the checkpoint allows it (`allowed`: one written before keeps
    /// windows).
    pub(crate) fn keeps_pane_states(
        &self,
        agg: &Aggregate,
        mode: crate::modes::OutputMode,
        chained: bool,
        live: bool,
        allowed: bool,
    ) -> bool {
        allowed
            && !live
            && !chained
            && mode == crate::modes::OutputMode::Append
            && crate::plan::event_time_key(agg).is_some_and(|k| k.index == self.key)
    }

    /// The pane length in milliseconds.
    pub(crate) fn pane_ms(&self) -> i64 {
        self.pane_ms
    }

    /// Panes of a window of `size` sliding by `slide` from `start` (milliseconds), the window
    /// being group key 0.
    #[cfg(test)]
    pub(crate) fn for_test(size: i64, slide: i64, start: i64) -> Panes {
        Panes {
            spec: WindowSpec {
                size_ms: size,
                slide_ms: slide,
                start_ms: start,
            },
            pane_ms: gcd(size, slide),
            key: 0,
        }
    }

    /// Ticks of the window's time type per millisecond.
    pub(crate) fn ticks_per_ms(ty: &DataType) -> Result<i64> {
        match ty {
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Ok(1_000_000),
            DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(1_000),
            DataType::Timestamp(TimeUnit::Millisecond, _) => Ok(1),
            other => Err(TributaryError::Internal(format!(
                "a window of {other}: windows are in milliseconds or finer"
            ))),
        }
    }

    /// The end of the last window holding the pane starting at `start` (in ticks).
    pub(crate) fn last_end(&self, start: i64, k: i64) -> i64 {
        let (size, slide, offset) = (
            self.spec.size_ms * k,
            self.spec.slide_ms * k,
            self.spec.start_ms * k,
        );
        offset + (start - offset).div_euclid(slide) * slide + size
    }

    /// True where every window of a pane (a window struct) is closed at the watermark: the row
    /// is late.
    pub(crate) fn behind_watermark(
        &self,
        pane: &ArrayRef,
        watermark_ms: i64,
    ) -> Result<BooleanArray> {
        let start = pane.as_struct().column(0);
        let k = Self::ticks_per_ms(start.data_type())?;
        let ticks = arrow::compute::cast(start, &DataType::Int64)
            .map_err(TributaryError::arrow("reading panes"))?;
        let threshold = watermark_ms.saturating_mul(k);
        Ok(ticks
            .as_primitive::<Int64Type>()
            .iter()
            .map(|s| Some(s.is_some_and(|s| self.last_end(s, k) <= threshold)))
            .collect())
    }

    /// How long after its end a pane can still be in an open window, at most: the window's
    /// size less the pane's.
    pub(crate) fn after_end_ms(&self) -> i64 {
        self.spec.size_ms - self.pane_ms
    }

    /// When each pane (a struct of start and end) closes, in milliseconds: when the last
    /// window that holds it ends (`i64::MAX` for a NULL pane, which never closes). A state row
    /// kept per pane goes then ([`crate::state::CloseTime::Pane`]).
    pub(crate) fn close_ms(&self, pane: &ArrayRef) -> Result<Vec<i64>> {
        let err = || TributaryError::arrow("reading when panes close");
        let w = pane.as_struct();
        let start = w.column(0);
        let k = Self::ticks_per_ms(start.data_type())?;
        let ticks = arrow::compute::cast(start, &DataType::Int64).map_err(err())?;
        Ok(ticks
            .as_primitive::<Int64Type>()
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Some(s) if arrow::array::Array::is_valid(w, i) => {
                    // Finer ticks: an end of t ticks is behind the watermark wm exactly when
                    // ceil(t / k) <= wm.
                    let end = self.last_end(s, k);
                    end.div_euclid(k) + i64::from(end.rem_euclid(k) != 0)
                }
                _ => i64::MAX,
            })
            .collect())
    }

    /// The end of the first window that ends after `ms` (milliseconds).
    pub(crate) fn first_end_after(&self, ms: i64) -> i64 {
        let base = self.spec.start_ms + self.spec.size_ms;
        let slide = self.spec.slide_ms;
        ms.saturating_add(slide - (ms - base).rem_euclid(slide))
    }

    /// The windows of state rows kept by pane (the pane at column `key`, a struct of start and
    /// end) that end after `after_ms` (every window without it) and at or before `through_ms`:
    /// each pane's row once per such window holding it, with the window in the pane's place.
    /// A pane without a time (NULL) is in no window that ends.
    pub(crate) fn windows_of_panes(
        &self,
        b: &RecordBatch,
        key: usize,
        after_ms: Option<i64>,
        through_ms: i64,
    ) -> Result<RecordBatch> {
        let err = || TributaryError::arrow("merging panes into their windows");
        let pane = b.column(key).as_struct();
        let (fields, start) = (pane.fields().clone(), pane.column(0));
        let ty = start.data_type().clone();
        let k = Self::ticks_per_ms(&ty)?;
        let size = self.spec.size_ms * k;
        let after = after_ms.map(|w| w.saturating_mul(k));
        let through = through_ms.saturating_mul(k);
        let ticks = arrow::compute::cast(start, &DataType::Int64).map_err(err())?;
        let mut take: Vec<u32> = Vec::new();
        let mut starts: Vec<i64> = Vec::new();
        let mut buf = Vec::new();
        for (row, s) in ticks.as_primitive::<Int64Type>().iter().enumerate() {
            let Some(s) = s.filter(|_| arrow::array::Array::is_valid(pane, row)) else {
                continue;
            };
            buf.clear();
            self.spec.starts(s, k, &mut buf);
            for w in buf.iter().rev() {
                let end = w + size;
                if end <= through && after.is_none_or(|a| end > a) {
                    take.push(row as u32);
                    starts.push(*w);
                }
            }
        }
        let ends: Int64Array = starts.iter().map(|s| s + size).collect();
        let window = arrow::array::StructArray::try_new(
            fields,
            vec![
                arrow::compute::cast(&Int64Array::from(starts), &ty).map_err(err())?,
                arrow::compute::cast(&ends, &ty).map_err(err())?,
            ],
            None,
        )
        .map_err(err())?;
        let take = UInt32Array::from(take);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
        for (i, c) in b.columns().iter().enumerate() {
            cols.push(if i == key {
                Arc::new(window.clone())
            } else {
                arrow::compute::take(c, &take, None).map_err(err())?
            });
        }
        RecordBatch::try_new_with_options(
            b.schema(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(take.len())),
        )
        .map_err(err())
    }

    /// Spread partial states by pane over their windows. The window key is grouped by its
    /// fields at columns `at` (start), `at + 1` (end) and `at + 2` (whether it is NULL); a row
    /// without a pane (no event time) keeps one NULL window, as the unnest gives it. A window
    /// that ends at or before `late_ms` is closed and gets nothing.
    pub(crate) fn spread(
        &self,
        b: &RecordBatch,
        at: usize,
        late_ms: Option<i64>,
    ) -> Result<RecordBatch> {
        let err = || TributaryError::arrow("spreading panes over their windows");
        let start = b.column(at);
        let ty = start.data_type().clone();
        let k = Self::ticks_per_ms(&ty)?;
        let size = self.spec.size_ms * k;
        let late = late_ms.map(|w| w.saturating_mul(k));
        let ticks = arrow::compute::cast(start, &DataType::Int64).map_err(err())?;
        let per_pane = (self.spec.size_ms / self.spec.slide_ms + 1) as usize;
        let mut take: Vec<u32> = Vec::with_capacity(b.num_rows() * per_pane);
        let mut starts: Vec<Option<i64>> = Vec::with_capacity(b.num_rows() * per_pane);
        let mut buf = Vec::with_capacity(per_pane);
        for (row, s) in ticks.as_primitive::<Int64Type>().iter().enumerate() {
            let Some(s) = s else {
                take.push(row as u32);
                starts.push(None);
                continue;
            };
            buf.clear();
            self.spec.starts(s, k, &mut buf);
            for w in buf.iter().rev() {
                if late.is_some_and(|l| w + size <= l) {
                    continue;
                }
                take.push(row as u32);
                starts.push(Some(*w));
            }
        }
        let ends: Int64Array = starts.iter().map(|s| s.map(|s| s + size)).collect();
        let is_null: BooleanArray = starts.iter().map(|s| Some(s.is_none())).collect();
        let starts = Int64Array::from(starts);
        let take = UInt32Array::from(take);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
        for (i, c) in b.columns().iter().enumerate() {
            cols.push(match i {
                i if i == at => arrow::compute::cast(&starts, &ty).map_err(err())?,
                i if i == at + 1 => arrow::compute::cast(&ends, &ty).map_err(err())?,
                i if i == at + 2 => Arc::new(is_null.clone()),
                _ => arrow::compute::take(c, &take, None).map_err(err())?,
            });
        }
        RecordBatch::try_new_with_options(
            b.schema(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(take.len())),
        )
        .map_err(err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::TimestampMillisecondArray;
    use arrow::datatypes::{Field, Schema};

    fn panes(size: i64, slide: i64, start: i64) -> Panes {
        let spec = WindowSpec {
            size_ms: size,
            slide_ms: slide,
            start_ms: start,
        };
        Panes {
            spec,
            pane_ms: gcd(size, slide),
            key: 0,
        }
    }

    /// Every window a pane is spread to holds each instant of the pane, and those are all the
    /// windows that hold them (checked against the per-row windows).
    #[test]
    fn a_pane_goes_to_exactly_the_windows_of_its_rows() {
        for (size, slide, start) in [(10, 2, 0), (5, 2, 0), (6, 4, 1), (9, 3, -2), (7, 7, 3)] {
            let p = panes(size, slide, start);
            for pane_start in (-40..40).map(|j| start.rem_euclid(p.pane_ms) + j * p.pane_ms) {
                let mut got = Vec::new();
                p.spec.starts(pane_start, 1, &mut got);
                for t in pane_start..pane_start + p.pane_ms {
                    let mut of_row = Vec::new();
                    p.spec.starts(t, 1, &mut of_row);
                    assert_eq!(of_row, got, "S={size} P={slide} o={start} t={t}");
                }
                assert_eq!(p.last_end(pane_start, 1), got[0] + size);
            }
        }
    }

    /// A pane state's windows that close between two watermarks, each once, with the window
    /// in the pane's place; a NULL pane is in none; the pane's state row closes when its last
    /// window ends.
    #[test]
    fn the_windows_of_pane_states_are_those_ending_between_the_watermarks() {
        use arrow::array::StructArray;
        let p = panes(10, 2, 0);
        let ty = DataType::Timestamp(TimeUnit::Millisecond, None);
        let fields: arrow::datatypes::Fields = vec![
            Field::new("start", ty.clone(), true),
            Field::new("end", ty.clone(), true),
        ]
        .into();
        let pane = StructArray::try_new(
            fields.clone(),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![Some(20), Some(0)])),
                Arc::new(TimestampMillisecondArray::from(vec![Some(22), Some(0)])),
            ],
            Some(vec![true, false].into()),
        )
        .unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("w", DataType::Struct(fields), true),
            Field::new("n", DataType::Int64, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![Arc::new(pane), Arc::new(Int64Array::from(vec![7, 8]))],
        )
        .unwrap();
        let starts = |out: &RecordBatch| -> Vec<(i64, i64, i64)> {
            let w = out.column(0).as_struct();
            let col = |i: usize| {
                arrow::compute::cast(w.column(i), &DataType::Int64)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            };
            let n = out.column(1).as_primitive::<Int64Type>().values().to_vec();
            col(0)
                .into_iter()
                .zip(col(1))
                .zip(n)
                .map(|((s, e), n)| (s, e, n))
                .collect()
        };
        // Pane [20, 22) is in the windows starting at 12, 14, 16, 18 and 20.
        let all = p.windows_of_panes(&b, 0, None, 100).unwrap();
        assert_eq!(
            starts(&all),
            vec![
                (12, 22, 7),
                (14, 24, 7),
                (16, 26, 7),
                (18, 28, 7),
                (20, 30, 7)
            ]
        );
        // Ending after 24 and at or before 28: [16, 26) and [18, 28).
        let some = p.windows_of_panes(&b, 0, Some(24), 28).unwrap();
        assert_eq!(starts(&some), vec![(16, 26, 7), (18, 28, 7)]);
        assert_eq!(
            p.windows_of_panes(&b, 0, Some(30), 40).unwrap().num_rows(),
            0
        );
        // Its state closes when its last window, [20, 30), ends; the NULL pane's never.
        let close = crate::state::CloseTime::Pane(0, p).of(&b).unwrap();
        assert_eq!(close, vec![30, i64::MAX]);
        // Windows of 6 sliding by 4 (panes of 2): the pane [2, 4) is only in [0, 6), and
        // closes at 6, not at its end plus 4.
        let uneven = Panes::for_test(6, 4, 0);
        let pane = StructArray::try_new(
            vec![
                Field::new("start", ty.clone(), true),
                Field::new("end", ty.clone(), true),
            ]
            .into(),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![2, 4])),
                Arc::new(TimestampMillisecondArray::from(vec![4, 6])),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            uneven.close_ms(&(Arc::new(pane) as ArrayRef)).unwrap(),
            vec![6, 10]
        );
        // The first window to end after a time: ends are at 6, 10, 14, ...
        assert_eq!(uneven.first_end_after(5), 6);
        assert_eq!(uneven.first_end_after(6), 10);
        assert_eq!(uneven.first_end_after(-3), -2);
    }

    #[test]
    fn spreading_leaves_closed_windows_out_and_keeps_a_null_pane_as_one_null_window() {
        let p = panes(10, 2, 0);
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "start",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new(
                "end",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("null", DataType::Boolean, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![Some(20), None])),
                Arc::new(TimestampMillisecondArray::from(vec![Some(22), None])),
                Arc::new(BooleanArray::from(vec![false, false])),
                Arc::new(Int64Array::from(vec![7, 8])),
            ],
        )
        .unwrap();
        let out = p.spread(&b, 0, Some(26)).unwrap();
        let starts = arrow::compute::cast(out.column(0), &DataType::Int64).unwrap();
        let starts: Vec<Option<i64>> = starts.as_primitive::<Int64Type>().iter().collect();
        // Windows of pane [20, 22): starts 12..=20; those ending at or before 26 are closed.
        assert_eq!(starts, vec![Some(18), Some(20), None]);
        let nulls: Vec<Option<bool>> = out.column(2).as_boolean().iter().collect();
        assert_eq!(nulls, vec![Some(false), Some(false), Some(true)]);
        let n: Vec<i64> = out.column(3).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(n, vec![7, 7, 8]);
    }
}
