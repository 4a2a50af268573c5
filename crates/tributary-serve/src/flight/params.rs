//! Parameters of Flight SQL prepared statements: the `?` markers clients write become `$1`,
//! `$2`, ... and a row of the Arrow batch the client binds becomes their SQL literals (the same
//! binding as the PostgreSQL endpoint's).

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;

use crate::statement::quote;

/// `sql` with each `?` outside quotes numbered as `$1`, `$2`, ... (SQL that already numbers its
/// parameters is left as it is).
pub(crate) fn number_markers(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quote: Option<char> = None;
    let mut n = 0;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' => {
                n += 1;
                out.push_str(&format!("${n}"));
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

/// The SQL literals of row `row` of `batch`, one per column in order.
pub(crate) fn literals(batch: &RecordBatch, row: usize) -> Result<Vec<String>, String> {
    batch.columns().iter().map(|c| literal(c, row)).collect()
}

fn literal(col: &ArrayRef, row: usize) -> Result<String, String> {
    if col.is_null(row) {
        return Ok("NULL".into());
    }
    let text = array_value_to_string(col, row).map_err(|e| format!("a parameter: {e}"))?;
    Ok(match col.data_type() {
        DataType::Boolean => text.to_ascii_uppercase(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => text,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => text,
                // NaN and the infinities have no numeric literal.
                _ => format!("CAST({} AS DOUBLE)", quote(&text)),
            }
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => quote(&text),
        DataType::Date32 | DataType::Date64 => format!("DATE {}", quote(&text)),
        DataType::Timestamp(_, None) => format!("TIMESTAMP {}", quote(&text)),
        DataType::Timestamp(_, Some(_)) => {
            format!("CAST({} AS TIMESTAMP WITH TIME ZONE)", quote(&text))
        }
        DataType::Null => "NULL".into(),
        other => {
            return Err(format!(
                "a parameter of type {other} cannot be bound: bind numbers, booleans, strings, \
                 dates or timestamps"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Int64Array, StringArray};

    use super::*;

    #[test]
    fn markers_outside_quotes_are_numbered() {
        assert_eq!(
            number_markers("SELECT '?' AS q, \"a?\" FROM t WHERE a = ? AND b = ?"),
            "SELECT '?' AS q, \"a?\" FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(number_markers("SELECT $1"), "SELECT $1");
    }

    #[test]
    fn a_row_becomes_literals() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "a",
                Arc::new(Int64Array::from(vec![Some(7), None])) as ArrayRef,
            ),
            (
                "b",
                Arc::new(StringArray::from(vec!["it's", "x"])) as ArrayRef,
            ),
            (
                "c",
                Arc::new(BooleanArray::from(vec![true, false])) as ArrayRef,
            ),
        ])
        .unwrap();
        assert_eq!(literals(&batch, 0).unwrap(), vec!["7", "'it''s'", "TRUE"]);
        assert_eq!(literals(&batch, 1).unwrap(), vec!["NULL", "'x'", "FALSE"]);
    }
}
