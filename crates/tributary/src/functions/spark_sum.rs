//! Spark's `sum` of BIGINT and DECIMAL, which raises `[ARITHMETIC_OVERFLOW]` past the result's
//! range, and `try_sum`, which gives NULL there.
//!
//! ```text
//! SQL / DataFrame sum(x) ─ DataFusion's sum (adds wrapping around) ─ SparkAnsiRule ─ SparkSum::sum()
//! SQL / Python try_sum(x) ─────────────────────────────────────────────────────────── SparkSum::try_sum()
//! ```
//!
//! DataFusion's `sum` adds integers wrapping around (`sum` of `9223372036854775807` and `1` is
//! `-9223372036854775808`) and lets a DECIMAL sum pass its precision, answers that are wrong and
//! say nothing. [`crate::plan::ansi`] puts this function in place of every non-DISTINCT `sum` of
//! a BIGINT or DECIMAL. A BIGINT running total is checked at every addition, as Spark's; a
//! window frame's sum is exact (rows enter a sliding frame before the leaving ones are taken
//! out, so its running total may pass the range where no frame's sum does); a DECIMAL sum is
//! kept exact in 128 bits and checked against the result's precision when it leaves the
//! accumulator (a partial state or the result). The state has DataFusion's layout (one value of
//! the result type), so streaming state checkpointed by DataFusion's `sum` is read back
//! unchanged.
//!
//! `try_sum` has a second state column, whether a partial sum overflowed, so one partition's
//! overflow makes the group's result NULL even where another partition's partial fits. Its sum
//! of DOUBLEs is DataFusion's (floats reach infinity rather than fail).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray};
use arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Decimal128Type, Field, FieldRef, Int64Type,
    DECIMAL128_MAX_PRECISION,
};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result, ScalarValue};
use datafusion::functions_aggregate::sum::Sum;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{format_state_name, AggregateOrderSensitivity};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF, Signature, Volatility,
};

use crate::plan::decimal_range::decimal_text;

/// What an overflow gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OnOverflow {
    /// `[ARITHMETIC_OVERFLOW]` (`sum`).
    Raise,
    /// NULL (`try_sum`).
    Null,
}

/// `sum` or `try_sum` (see the module).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkSum {
    on_overflow: OnOverflow,
    signature: Signature,
}

impl SparkSum {
    /// Spark's `sum`: an overflow raises.
    pub(crate) fn sum() -> Self {
        Self {
            on_overflow: OnOverflow::Raise,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// Spark's `try_sum`: an overflow gives NULL.
    pub(crate) fn try_sum() -> Self {
        Self {
            on_overflow: OnOverflow::Null,
            ..Self::sum()
        }
    }

    /// Whether this function computes a `sum` of `t` (the result type) in place of DataFusion's.
    pub(crate) fn checks(t: &DataType) -> bool {
        matches!(t, DataType::Int64 | DataType::Decimal128(..))
    }
}

/// The range a sum of the result type `t` must stay within.
#[derive(Debug, Clone, Copy)]
enum Range {
    Int64,
    /// Below `10^precision` in magnitude (the unscaled value).
    Decimal {
        precision: u8,
        scale: i8,
    },
}

impl Range {
    fn of(t: &DataType) -> Result<Self> {
        match t {
            DataType::Int64 => Ok(Range::Int64),
            DataType::Decimal128(precision, scale) => Ok(Range::Decimal {
                precision: *precision,
                scale: *scale,
            }),
            other => exec_err!("Spark's sum computes BIGINT or DECIMAL, not {other}"),
        }
    }

    fn fits(self, v: i128) -> bool {
        match self {
            Range::Int64 => i64::try_from(v).is_ok(),
            Range::Decimal { precision, .. } => v.unsigned_abs() < 10u128.pow(precision as u32),
        }
    }

    fn type_name(self) -> String {
        match self {
            Range::Int64 => "BIGINT".to_string(),
            Range::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
        }
    }

    /// The error of a sum past the range (`None` when the sum is not known: it passed 128 bits).
    fn overflow(self, sum: Option<i128>) -> DataFusionError {
        let scale = match self {
            Range::Int64 => 0,
            Range::Decimal { scale, .. } => scale,
        };
        let exact = sum
            .map(|s| format!(" (the exact sum is {})", decimal_text(s, scale)))
            .unwrap_or_default();
        let fix = match self {
            Range::Int64 => "Cast the argument to DECIMAL(38, 0) first (sum(CAST(x AS DECIMAL(38, 0)))), or use try_sum, which gives NULL",
            Range::Decimal { .. } => "Lower the argument's scale, or use try_sum, which gives NULL",
        };
        DataFusionError::Execution(format!(
            "[ARITHMETIC_OVERFLOW] sum overflows {}{exact}. {fix}",
            self.type_name()
        ))
    }

    /// One value of an argument or state column as an exact 128-bit number.
    fn values(self, array: &ArrayRef) -> Box<dyn Iterator<Item = Option<i128>> + '_> {
        match self {
            Range::Int64 => Box::new(
                array
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map(i128::from)),
            ),
            Range::Decimal { .. } => Box::new(array.as_primitive::<Decimal128Type>().iter()),
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Range::Int64 => DataType::Int64,
            Range::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
        }
    }
}

impl AggregateUDFImpl for SparkSum {
    fn name(&self) -> &str {
        match self.on_overflow {
            OnOverflow::Raise => "sum",
            OnOverflow::Null => "try_sum",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        use DataType::*;
        let [t] = args else {
            return plan_err!("{} takes one argument, got {}", self.name(), args.len());
        };
        Ok(vec![match t {
            // Spark's try_sum(NULL) is a DOUBLE (`sum` keeps DataFusion's types: it replaces
            // DataFusion's in physical plans).
            Null if self.on_overflow == OnOverflow::Null => Float64,
            Null | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => Int64,
            UInt64 => Decimal128(20, 0),
            Float16 | Float32 | Float64 => Float64,
            Decimal32(p, s) | Decimal64(p, s) => Decimal128(*p, *s),
            Decimal128(..) => t.clone(),
            other => {
                return plan_err!(
                    "{} takes a number, not {other}: cast the argument to a number first",
                    self.name()
                )
            }
        }])
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Int64 => Ok(DataType::Int64),
            DataType::Float64 if self.on_overflow == OnOverflow::Null => Ok(DataType::Float64),
            // Spark's and DataFusion's: ten more digits, at most 38.
            DataType::Decimal128(p, s) => Ok(DataType::Decimal128(
                DECIMAL128_MAX_PRECISION.min(p + 10),
                *s,
            )),
            other => plan_err!("{} of {other} is not supported", self.name()),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct && self.on_overflow == OnOverflow::Null {
            return plan_err!(
                "{}(DISTINCT ...) is not supported: deduplicate in a subquery first",
                self.name()
            );
        }
        if self.floats(args.return_field.data_type()) {
            return Sum::new().accumulator(args);
        }
        if args.is_distinct {
            let range = Range::of(args.return_field.data_type())?;
            return Ok(Box::new(DistinctSum {
                values: Sum::new().accumulator(args)?,
                range,
            }));
        }
        let range = Range::of(args.return_field.data_type())?;
        // A BIGINT running total is checked at every addition, as Spark's (and as the groups'
        // sums are); a DECIMAL one when it leaves the accumulator.
        let each = matches!(range, Range::Int64);
        Ok(Box::new(RowSum::new(range, self.on_overflow, each)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if self.floats(args.return_field.data_type()) || args.is_distinct {
            return Sum::new().state_fields(args);
        }
        let sum = Field::new(
            format_state_name(args.name, "sum"),
            args.return_field.data_type().clone(),
            true,
        );
        Ok(match self.on_overflow {
            OnOverflow::Raise => vec![Arc::new(sum)],
            OnOverflow::Null => vec![
                Arc::new(sum),
                Arc::new(Field::new(
                    format_state_name(args.name, "overflowed"),
                    DataType::Boolean,
                    true,
                )),
            ],
        })
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if self.floats(args.return_field.data_type()) {
            return Sum::new().create_groups_accumulator(args);
        }
        Ok(match Range::of(args.return_field.data_type())? {
            Range::Int64 => Box::new(GroupSums::<i64>::new(Range::Int64, self.on_overflow)),
            range => Box::new(GroupSums::<i128>::new(range, self.on_overflow)),
        })
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // (Spark has no DISTINCT window aggregates: DataFusion's, for a SQL user of them.)
        if self.floats(args.return_field.data_type()) || args.is_distinct {
            return Sum::new().create_sliding_accumulator(args);
        }
        // Exact over the frame: rows enter before the leaving ones are taken out, so a running
        // total may pass the range where no frame's sum does.
        Ok(Box::new(RowSum::new(
            Range::of(args.return_field.data_type())?,
            self.on_overflow,
            false,
        )))
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

impl SparkSum {
    /// `try_sum` of DOUBLEs, which is DataFusion's sum.
    fn floats(&self, result: &DataType) -> bool {
        matches!(result, DataType::Float64)
    }
}

/// Adds `v` to an exact sum; `None` once past 128 bits (a DECIMAL(38) sum only).
fn add(sum: Option<i128>, v: i128) -> Option<i128> {
    sum.and_then(|s| s.checked_add(v))
}

/// A sum for one group, or one window frame (it retracts rows that leave the frame).
#[derive(Debug)]
struct RowSum {
    range: Range,
    on_overflow: OnOverflow,
    /// Check the range at every addition (a BIGINT sum outside window frames).
    each: bool,
    /// The exact sum, `None` once past 128 bits.
    sum: Option<i128>,
    /// Values in the sum (a frame's rows can all leave it).
    count: u64,
    /// Past the range for sure: an addition overflowed, or a merged partial sum did.
    overflowed: bool,
}

impl RowSum {
    fn new(range: Range, on_overflow: OnOverflow, each: bool) -> Self {
        Self {
            range,
            on_overflow,
            each,
            sum: Some(0),
            count: 0,
            overflowed: false,
        }
    }

    fn add_column(&mut self, column: &ArrayRef) -> Result<()> {
        for v in self.range.values(column).flatten() {
            self.count += 1;
            if self.overflowed {
                continue;
            }
            self.sum = add(self.sum, v);
            if self.each && !self.sum.is_some_and(|s| self.range.fits(s)) {
                match self.on_overflow {
                    OnOverflow::Raise => return Err(self.range.overflow(self.sum)),
                    OnOverflow::Null => self.overflowed = true,
                }
            }
        }
        Ok(())
    }

    /// The sum within the range; `Ok(None)` when there is none (no values, or NULL instead of an
    /// overflow).
    fn checked(&self) -> Result<Option<i128>> {
        if self.count == 0 && !self.overflowed {
            return Ok(None);
        }
        match self.sum.filter(|s| !self.overflowed && self.range.fits(*s)) {
            Some(s) => Ok(Some(s)),
            None if self.on_overflow == OnOverflow::Null => Ok(None),
            None => Err(self.range.overflow(self.sum.filter(|_| !self.overflowed))),
        }
    }

    fn scalar(&self, v: Option<i128>) -> ScalarValue {
        match self.range {
            Range::Int64 => ScalarValue::Int64(v.map(|v| v as i64)),
            Range::Decimal { precision, scale } => ScalarValue::Decimal128(v, precision, scale),
        }
    }
}

impl Accumulator for RowSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add_column(&values[0])
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in self.range.values(&values[0]).flatten() {
            self.sum = self.sum.and_then(|s| s.checked_sub(v));
            self.count -= 1;
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.add_column(&states[0])?;
        if let Some(flags) = states.get(1) {
            self.overflowed |= flags.as_boolean().true_count() > 0;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let sum = self.checked()?;
        Ok(match self.on_overflow {
            OnOverflow::Raise => vec![self.scalar(sum)],
            OnOverflow::Null => {
                let overflowed = sum.is_none() && (self.count > 0 || self.overflowed);
                vec![self.scalar(sum), ScalarValue::Boolean(Some(overflowed))]
            }
        })
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.scalar(self.checked()?))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

/// `sum(DISTINCT x)`: DataFusion's set of distinct values (its state layout too), summed with
/// Spark's checks when the group's result is taken.
#[derive(Debug)]
struct DistinctSum {
    values: Box<dyn Accumulator>,
    range: Range,
}

impl Accumulator for DistinctSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.values.update_batch(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.values.merge_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.values.state()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let state = self.values.state()?;
        let Some(ScalarValue::List(list)) = state.first() else {
            return exec_err!("sum(DISTINCT) with a state of {:?}", state.first());
        };
        let mut sum = RowSum::new(
            self.range,
            OnOverflow::Raise,
            matches!(self.range, Range::Int64),
        );
        if !list.is_empty() && list.is_valid(0) {
            sum.add_column(&list.value(0))?;
        }
        Ok(sum.scalar(sum.checked()?))
    }

    fn size(&self) -> usize {
        self.values.size() + size_of::<Range>()
    }
}

/// The native sum of a group: `i64` for BIGINT, checked at every addition as Spark's; `i128`
/// for DECIMAL, checked against the precision when the sum leaves the accumulator.
trait Native: ArrowNativeType {
    type Arrow: ArrowPrimitiveType<Native = Self>;
    fn plus(self, v: Self) -> Option<Self>;
    fn wide(self) -> i128;
}

impl Native for i64 {
    type Arrow = Int64Type;
    fn plus(self, v: Self) -> Option<Self> {
        self.checked_add(v)
    }
    fn wide(self) -> i128 {
        self.into()
    }
}

impl Native for i128 {
    type Arrow = Decimal128Type;
    fn plus(self, v: Self) -> Option<Self> {
        self.checked_add(v)
    }
    fn wide(self) -> i128 {
        self
    }
}

/// Sums for many groups.
#[derive(Debug)]
struct GroupSums<N: Native> {
    range: Range,
    on_overflow: OnOverflow,
    sums: Vec<N>,
    /// Whether a group has a value.
    seen: Vec<bool>,
    /// Past the range for sure: an addition overflowed, or a merged partial sum did (`try_sum`).
    overflowed: Vec<bool>,
}

impl<N: Native> GroupSums<N> {
    fn new(range: Range, on_overflow: OnOverflow) -> Self {
        Self {
            range,
            on_overflow,
            sums: Vec::new(),
            seen: Vec::new(),
            overflowed: Vec::new(),
        }
    }

    fn grow(&mut self, groups: usize) {
        self.sums.resize(groups, N::usize_as(0));
        self.seen.resize(groups, false);
        self.overflowed.resize(groups, false);
    }

    /// Adds a column's values to their groups (rows the filter drops left out).
    fn add_column(
        &mut self,
        column: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let values = column.as_primitive::<N::Arrow>();
        for (row, &g) in group_indices.iter().enumerate() {
            if values.is_null(row) || filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            self.seen[g] = true;
            if self.overflowed[g] {
                continue;
            }
            let v = values.value(row);
            match self.sums[g].plus(v) {
                Some(s) => self.sums[g] = s,
                None if self.on_overflow == OnOverflow::Raise => {
                    return Err(self
                        .range
                        .overflow(self.sums[g].wide().checked_add(v.wide())))
                }
                None => self.overflowed[g] = true,
            }
        }
        Ok(())
    }

    /// The groups `emit_to` takes, within the range (NULL for no value, or for an overflow of
    /// `try_sum`), and whether each overflowed.
    fn take(&mut self, emit_to: EmitTo) -> Result<(ArrayRef, Vec<bool>)> {
        let sums = emit_to.take_needed(&mut self.sums);
        let seen = emit_to.take_needed(&mut self.seen);
        let past = emit_to.take_needed(&mut self.overflowed);
        let mut out = Vec::with_capacity(sums.len());
        let mut overflowed = Vec::with_capacity(sums.len());
        for ((sum, seen), past) in sums.into_iter().zip(seen).zip(past) {
            let fits = !past && self.range.fits(sum.wide());
            if seen && !fits && self.on_overflow == OnOverflow::Raise {
                return Err(self.range.overflow(Some(sum.wide()).filter(|_| !past)));
            }
            overflowed.push(seen && !fits);
            out.push((seen && fits).then_some(sum));
        }
        let array =
            PrimitiveArray::<N::Arrow>::from_iter(out).with_data_type(self.range.data_type());
        Ok((Arc::new(array), overflowed))
    }
}

impl<N: Native> GroupsAccumulator for GroupSums<N> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        self.add_column(&values[0], group_indices, opt_filter)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        self.add_column(&values[0], group_indices, None)?;
        if let Some(flags) = values.get(1) {
            let flags = flags.as_boolean();
            for (row, &g) in group_indices.iter().enumerate() {
                if flags.is_valid(row) && flags.value(row) {
                    self.overflowed[g] = true;
                    self.seen[g] = true;
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.take(emit_to)?.0)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (sums, overflowed) = self.take(emit_to)?;
        Ok(match self.on_overflow {
            OnOverflow::Raise => vec![sums],
            OnOverflow::Null => vec![sums, Arc::new(BooleanArray::from(overflowed))],
        })
    }

    /// Each row as its own group: its value (NULL where the filter drops it), never overflowed.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let input = values[0].as_primitive::<N::Arrow>();
        let kept = (0..input.len()).map(|row| {
            let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            (keep && input.is_valid(row)).then(|| input.value(row))
        });
        let sums =
            PrimitiveArray::<N::Arrow>::from_iter(kept).with_data_type(self.range.data_type());
        Ok(match self.on_overflow {
            OnOverflow::Raise => vec![Arc::new(sums)],
            OnOverflow::Null => vec![
                Arc::new(sums),
                Arc::new(BooleanArray::from(vec![false; input.len()])),
            ],
        })
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<N>() + self.seen.capacity() + self.overflowed.capacity()
    }
}

#[cfg(test)]
mod tests {
    use crate::sql_rows::sql_rows as run;

    const MAX: &str = "9223372036854775807";

    #[tokio::test]
    async fn a_bigint_sum_past_its_range_raises_where_it_used_to_wrap() {
        for sql in [
            format!("SELECT sum(a) FROM (VALUES ({MAX}), (1)) AS t(a)"),
            format!("SELECT k, sum(a) FROM (VALUES (1, {MAX}), (1, 1), (2, 3)) AS t(k, a) GROUP BY k"),
            format!("SELECT sum(a) OVER () FROM (VALUES ({MAX}), (1)) AS t(a)"),
            format!("SELECT sum(CAST(a AS DECIMAL(38, 0))) FROM (VALUES (CAST('{}' AS DECIMAL(38, 0))), (1)) AS t(a)", "9".repeat(38)),
        ] {
            let err = run(&sql).await.unwrap_err();
            assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{sql}: {err}");
            assert!(err.contains("try_sum"), "{sql}: {err}");
        }
        // DISTINCT: alone (a GROUP BY of the values under a plain sum) and beside another
        // DISTINCT aggregate (a set of values per group).
        for sql in [
            format!("SELECT sum(DISTINCT a) FROM (VALUES ({MAX}), (1), (1)) AS t(a)"),
            format!("SELECT sum(DISTINCT a), count(DISTINCT b) FROM (VALUES ({MAX}, 1), (1, 2), (1, 3)) AS t(a, b)"),
            format!("SELECT k, sum(DISTINCT a), count(DISTINCT b) FROM (VALUES (1, {MAX}, 1), (1, 1, 2), (2, 1, 3)) AS t(k, a, b) GROUP BY k"),
        ] {
            let err = run(&sql).await.unwrap_err();
            assert!(err.contains("[ARITHMETIC_OVERFLOW]"), "{sql}: {err}");
        }
        let got = run(&format!(
            "SELECT k, sum(DISTINCT a), count(DISTINCT b) FROM (VALUES (1, {MAX}, 1), (1, {MAX}, 2), \
             (1, -5, 3), (2, NULL, 1), (3, 2, 1), (3, 2, 1), (3, 3, 2)) AS t(k, a, b) GROUP BY k ORDER BY k"
        ))
        .await
        .unwrap();
        assert_eq!(got, vec!["|1|9223372036854775802|3|", "|2||1|", "|3|5|2|"]);
        // The exact sum of DECIMALs is written at the type's scale.
        let big = format!("{}.99", "9".repeat(36));
        let err = run(&format!(
            "SELECT sum(a) FROM (VALUES (CAST('{big}' AS DECIMAL(38, 2))), (1)) AS t(a)"
        ))
        .await
        .unwrap_err();
        assert!(
            err.contains(&format!("the exact sum is 1{}.99", "0".repeat(36))),
            "{err}"
        );
    }

    #[tokio::test]
    async fn sums_within_the_range_compute_and_a_sliding_frame_is_exact() {
        let got = run(&format!(
            "SELECT k, sum(a) FROM (VALUES (1, {MAX}), (1, -5), (2, NULL), (3, 4)) AS t(k, a) \
             GROUP BY k ORDER BY k"
        ))
        .await
        .unwrap();
        assert_eq!(got, vec!["|1|9223372036854775802|", "|2||", "|3|4|"]);
        // A frame that slides past the overflow: each frame's sum fits.
        let got = run(&format!(
            "SELECT sum(a) OVER (ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) \
             FROM (VALUES (1, {MAX}), (2, 0), (3, {MAX})) AS t(i, a) ORDER BY i"
        ))
        .await
        .unwrap();
        assert_eq!(got, vec![format!("|{MAX}|"); 3]);
        // A DECIMAL(38, 0) sum is exact until it leaves the accumulator.
        let nines = "9".repeat(38);
        let got = run(&format!(
            "SELECT sum(a) FROM (VALUES (CAST('{nines}' AS DECIMAL(38, 0))), (1), (-1)) AS t(a)"
        ))
        .await
        .unwrap();
        assert_eq!(got, vec![format!("|{nines}|")]);
    }

    #[tokio::test]
    async fn try_sum_gives_null_for_the_groups_that_overflow() {
        let got = run(&format!(
            "SELECT k, try_sum(a), try_sum(d) > 0 FROM (VALUES (1, {MAX}, 1e308), (1, 1, 1e308), \
             (2, 3, 1.0), (2, 4, 1.0), (3, NULL, NULL)) AS t(k, a, d) GROUP BY k ORDER BY k"
        ))
        .await
        .unwrap();
        assert_eq!(got, vec!["|1||true|", "|2|7|true|", "|3|||"]);
        let got = run(
            "SELECT try_sum(a), try_sum(i), try_sum(d), arrow_typeof(try_sum(d)) FROM \
             (VALUES (1, CAST(1 AS INT), CAST(1 AS DECIMAL(2, 0))), (2, 2, CAST(2 AS DECIMAL(2, 0)))) AS t(a, i, d)"
        )
        .await
        .unwrap();
        assert_eq!(got, vec!["|3|3|3|Decimal128(12,0)|"]);
        let got = run("SELECT try_sum(NULL), arrow_typeof(try_sum(NULL))")
            .await
            .unwrap();
        assert_eq!(got, vec!["||Float64|"]);
        let got = run(&format!(
            "SELECT try_sum(a) FROM (VALUES (CAST('{}' AS DECIMAL(38, 0))), (1)) AS t(a)",
            "9".repeat(38)
        ))
        .await
        .unwrap();
        assert_eq!(got, vec!["||"]);
        let err = run("SELECT try_sum(s) FROM (VALUES ('a')) AS t(s)")
            .await
            .unwrap_err();
        assert!(err.contains("try_sum takes a number"), "{err}");
    }
}
