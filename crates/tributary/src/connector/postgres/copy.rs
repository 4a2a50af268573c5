//! Arrow rows as PostgreSQL's COPY text format, and Arrow types as PostgreSQL column types.
//!
//! ```text
//!  RecordBatch ──encode──► "1\tLyon\t2024-01-02 03:04:05.123456\t\\N\n..." ──► COPY t (..) FROM STDIN
//! ```
//!
//! The text format (tab-separated, `\N` for NULL, backslash escapes) lets the server parse
//! each value with its column's own input function, so a value reaches an existing table
//! whatever the column's type (`int4` from an Arrow Int64, `numeric`, `uuid`, `jsonb` from
//! text), and a value that does not fit is the server's error naming the column. The
//! encoding is column by column into one buffer per batch.

use std::fmt::Write as _;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Result, TributaryError};

/// The PostgreSQL type of a column created for Arrow type `dt`; `None` when the type has no
/// column type (nested types: cast them to a string first).
pub(crate) fn pg_type(dt: &DataType) -> Option<String> {
    Some(match dt {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric(20, 0)".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("numeric({p}, {s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time".into(),
        DataType::Duration(_) | DataType::Interval(_) => "interval".into(),
        DataType::Dictionary(_, value) => return pg_type(value),
        _ => return None,
    })
}

/// Check that every column can be written; the error names the column and the fix.
pub(crate) fn check_types(schema: &arrow::datatypes::Schema, table: &str) -> Result<()> {
    for f in schema.fields() {
        if pg_type(f.data_type()).is_none() {
            return Err(TributaryError::Plan(format!(
                "column '{}' ({}) cannot be written to PostgreSQL table '{table}': nested \
                 values have no column type; select it as a string, e.g. with to_json({}) or \
                 CAST(.. AS VARCHAR)",
                f.name(),
                f.data_type(),
                f.name()
            )));
        }
    }
    Ok(())
}

/// The rows of `batch` in COPY text format, appended to `out`.
pub(crate) fn encode(batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
    if batch.num_rows() == 0 {
        return Ok(());
    }
    let columns: Vec<Column<'_>> = batch
        .columns()
        .iter()
        .map(Column::new)
        .collect::<Result<_>>()?;
    let mut scratch = String::new();
    for row in 0..batch.num_rows() {
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            c.write(row, out, &mut scratch)?;
        }
        out.push(b'\n');
    }
    Ok(())
}

/// How one column's values are written.
enum Column<'a> {
    Float32(&'a arrow::array::Float32Array),
    Float64(&'a arrow::array::Float64Array),
    /// Text (escaped).
    Text(&'a dyn Array, ArrayFormatter<'a>),
    /// Bytes, as `\\x` and hex.
    Binary(&'a dyn Array),
    /// Anything else through Arrow's display, which never needs escaping for these types
    /// (numbers, booleans, dates, times, timestamps, decimals).
    Plain(&'a dyn Array, ArrayFormatter<'a>),
}

fn formatter(array: &dyn Array) -> Result<ArrayFormatter<'_>> {
    // Timestamps as `2024-01-02T03:04:05.123456` (with the zone's offset when it has one),
    // which PostgreSQL reads; durations as ISO 8601, which `interval` reads.
    let options =
        FormatOptions::new().with_duration_format(arrow::util::display::DurationFormat::ISO8601);
    ArrayFormatter::try_new(array, &options)
        .map_err(TributaryError::arrow("formatting a value for PostgreSQL"))
}

impl<'a> Column<'a> {
    fn new(array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Float32 => Column::Float32(array.as_primitive::<Float32Type>()),
            DataType::Float64 => Column::Float64(array.as_primitive::<Float64Type>()),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Column::Text(array.as_ref(), formatter(array.as_ref())?)
            }
            DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => {
                Column::Text(array.as_ref(), formatter(array.as_ref())?)
            }
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => Column::Binary(array.as_ref()),
            _ => Column::Plain(array.as_ref(), formatter(array.as_ref())?),
        })
    }

    fn write(&self, row: usize, out: &mut Vec<u8>, scratch: &mut String) -> Result<()> {
        let array: &dyn Array = match self {
            Column::Float32(a) => *a,
            Column::Float64(a) => *a,
            Column::Text(a, _) | Column::Binary(a) | Column::Plain(a, _) => *a,
        };
        if array.is_null(row) {
            out.extend_from_slice(b"\\N");
            return Ok(());
        }
        match self {
            Column::Float32(a) => write_float(f64::from(a.value(row)), out),
            Column::Float64(a) => write_float(a.value(row), out),
            Column::Text(_, f) => {
                scratch.clear();
                write!(scratch, "{}", f.value(row)).map_err(|e| {
                    TributaryError::Internal(format!("formatting a value for PostgreSQL: {e}"))
                })?;
                escape(scratch.as_bytes(), out);
            }
            Column::Binary(a) => {
                out.extend_from_slice(b"\\\\x");
                for byte in binary_value(*a, row) {
                    out.extend_from_slice(&HEX[*byte as usize]);
                }
            }
            Column::Plain(_, f) => {
                scratch.clear();
                write!(scratch, "{}", f.value(row)).map_err(|e| {
                    TributaryError::Internal(format!("formatting a value for PostgreSQL: {e}"))
                })?;
                out.extend_from_slice(scratch.as_bytes());
            }
        }
        Ok(())
    }
}

/// The bytes of row `row` of a binary array.
fn binary_value(array: &dyn Array, row: usize) -> &[u8] {
    match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row),
        DataType::LargeBinary => array.as_binary::<i64>().value(row),
        DataType::BinaryView => array.as_binary_view().value(row),
        _ => array.as_fixed_size_binary().value(row),
    }
}

/// Two lower-case hex digits of each byte.
const HEX: [[u8; 2]; 256] = {
    let digits = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [digits[i >> 4], digits[i & 15]];
        i += 1;
    }
    table
};

/// A float as PostgreSQL reads it: shortest round-trip digits, `NaN`, `Infinity`.
fn write_float(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(v).as_bytes());
    }
}

/// Text with COPY's escapes: backslash, tab, newline and carriage return.
fn escape(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BinaryArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn text(batch: &RecordBatch) -> String {
        let mut out = Vec::new();
        encode(batch, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_escaped_and_nulls_are_marked() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
            ),
            (
                "name",
                Arc::new(StringArray::from(vec![Some("a\tb\\c\nd"), Some("")])) as ArrayRef,
            ),
            (
                "x",
                Arc::new(Float64Array::from(vec![f64::NAN, -f64::INFINITY])) as ArrayRef,
            ),
            (
                "raw",
                Arc::new(BinaryArray::from_opt_vec(vec![Some(&[0u8, 255][..]), None])) as ArrayRef,
            ),
            (
                "at",
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(1_704_164_645_123_456),
                    None,
                ])) as ArrayRef,
            ),
        ])
        .unwrap();
        assert_eq!(
            text(&batch),
            "1\ta\\tb\\\\c\\nd\tNaN\t\\\\x00ff\t2024-01-02T03:04:05.123456\n\
             \\N\t\t-Infinity\t\\N\t\\N\n"
        );
    }

    #[test]
    fn floats_round_trip() {
        let batch = RecordBatch::try_from_iter(vec![(
            "x",
            Arc::new(Float64Array::from(vec![0.1, 1e300, -2.5])) as ArrayRef,
        )])
        .unwrap();
        let out = text(&batch);
        let parsed: Vec<f64> = out.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(parsed, vec![0.1, 1e300, -2.5]);
    }

    #[test]
    fn nested_columns_are_refused_with_the_fix() {
        let schema = Schema::new(vec![Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )]);
        let err = check_types(&schema, "public.t").unwrap_err().to_string();
        assert!(err.contains("'tags'") && err.contains("to_json"), "{err}");
        assert_eq!(
            pg_type(&DataType::Decimal128(10, 2)).unwrap(),
            "numeric(10, 2)"
        );
    }
}
