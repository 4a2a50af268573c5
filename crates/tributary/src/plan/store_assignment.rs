//! Store assignment: whether a query's column may be written into a table column of another
//! type (cast on the way), decided before the query starts. The rule is Spark's ANSI store
//! assignment (`spark.sql.storeAssignmentPolicy`, ANSI by default): numbers into numbers, any
//! plain value into text, dates and timestamps into each other, nested types field by field.
//! Text into a number, a date or a boolean, and a number into a boolean, are refused: such a
//! cast fails (or gives NULL) on the first value that does not convert, which in a stream stops
//! the query at that row, long after it started. The user casts explicitly instead.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::logical_expr::{cast, Expr};

/// Whether values of type `from` are written into a column of type `to` without an explicit
/// cast.
pub fn can_assign(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || matches!(from, Null) {
        return true;
    }
    match (from, to) {
        (Dictionary(_, v), to) => can_assign(v, to),
        (from, Dictionary(_, v)) => can_assign(from, v),
        (
            List(a) | LargeList(a) | ListView(a) | LargeListView(a) | FixedSizeList(a, _),
            List(b) | LargeList(b) | ListView(b) | LargeListView(b) | FixedSizeList(b, _),
        ) => can_assign(a.data_type(), b.data_type()),
        (Struct(a), Struct(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(f, t)| can_assign(f.data_type(), t.data_type()))
        }
        (Map(a, _), Map(b, _)) => can_assign(a.data_type(), b.data_type()),
        (from, to) if is_text(to) => is_plain(from),
        (from, to) if from.is_numeric() && to.is_numeric() => true,
        (from, to) if is_time(from) && is_time(to) => true,
        (from, to) if is_binary(from) && is_binary(to) => true,
        (Duration(_) | Interval(_), Duration(_) | Interval(_)) => true,
        _ => false,
    }
}

/// `value` (of type `from`) as it is written into the column `column` of type `to`: a plain
/// cast where every value converts, else one that stops the query naming the column and the
/// first value that does not fit (a BIGINT into an INT, a DOUBLE into a FLOAT or a DECIMAL, a
/// timestamp into nanoseconds), never NULL or a wrapped number.
pub fn assign(value: Expr, from: &DataType, to: &DataType, column: &str) -> Expr {
    if from == to {
        value
    } else if always_fits(from, to) {
        cast(value, to.clone())
    } else {
        crate::functions::store_cast(value, to, column)
    }
}

/// Whether every value of `from` converts to `to`.
fn always_fits(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let int_width = |t: &DataType| match t {
        Int8 => Some(1),
        Int16 => Some(2),
        Int32 => Some(4),
        Int64 => Some(8),
        _ => None,
    };
    match (from, to) {
        (Null, _) => true,
        (_, to) if is_text(to) => true,
        (a, b) if int_width(a).is_some() && int_width(b).is_some() => int_width(a) <= int_width(b),
        (a, Float64) if int_width(a).is_some() || matches!(a, Float32 | Float16) => true,
        (Int8 | Int16, Float32) | (Float16, Float32) => true,
        (
            Date32 | Date64,
            Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond | TimeUnit::Second, _),
        ) => true,
        (Timestamp(..), Date32 | Date64) => true,
        (Timestamp(a, _), Timestamp(b, _)) => {
            unit_rank(a) >= unit_rank(b) || *b != TimeUnit::Nanosecond
        }
        _ => false,
    }
}

fn unit_rank(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    )
}

/// A value that is not nested (a number, text, boolean, binary, date, time or interval).
fn is_plain(t: &DataType) -> bool {
    !t.is_nested() && !matches!(t, DataType::Dictionary(..) | DataType::RunEndEncoded(..))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Fields, TimeUnit};

    use super::*;

    #[test]
    fn spark_ansi_store_assignment() {
        use DataType::*;
        let ts = Timestamp(TimeUnit::Microsecond, None);
        // Allowed: numbers into numbers (narrowing too), anything plain into text, times.
        for (from, to) in [
            (Int32, Int64),
            (Int64, Int32),
            (Float64, Decimal128(10, 2)),
            (Null, Boolean),
            (Int64, Utf8),
            (Boolean, Utf8),
            (ts.clone(), Utf8),
            (Date32, ts.clone()),
            (ts.clone(), Date32),
            (Utf8View, Utf8),
            (Binary, LargeBinary),
            (Dictionary(Box::new(Int32), Box::new(Utf8)), Utf8),
        ] {
            assert!(can_assign(&from, &to), "{from} -> {to}");
        }
        // Refused: text into numbers, dates or booleans; numbers and booleans across.
        for (from, to) in [
            (Utf8, Int64),
            (Utf8, ts.clone()),
            (Utf8, Date32),
            (Utf8, Boolean),
            (Int64, Boolean),
            (Boolean, Int32),
            (Int64, ts.clone()),
            (Utf8, Binary),
        ] {
            assert!(!can_assign(&from, &to), "{from} -> {to}");
        }
        // Nested: element by element, struct fields by position.
        let list = |t: DataType| List(Arc::new(Field::new("item", t, true)));
        assert!(can_assign(&list(Int32), &list(Int64)));
        assert!(!can_assign(&list(Utf8), &list(Int64)));
        let st = |ts: Vec<DataType>| {
            Struct(Fields::from(
                ts.into_iter()
                    .enumerate()
                    .map(|(i, t)| Field::new(format!("f{i}"), t, true))
                    .collect::<Vec<_>>(),
            ))
        };
        assert!(can_assign(&st(vec![Int32, Utf8]), &st(vec![Int64, Utf8])));
        assert!(!can_assign(&st(vec![Utf8, Utf8]), &st(vec![Int64, Utf8])));
        assert!(!can_assign(&st(vec![Int32]), &st(vec![Int64, Utf8])));
        assert!(
            !can_assign(&list(Int64), &Utf8),
            "nested into text is refused"
        );
    }
}
