//! Fitting decoded values to the declared types, strictly: a value that does not fit its column
//! sends its record to the bad records with the reason, instead of being changed.
//!
//! JSON and CSV records are first decoded with their numeric and temporal columns as text
//! ([`text_schema`]); [`fit_batch`] then converts each column and finds the rows whose values
//! do not convert. Parquet batches whose column types differ from the declared ones go through
//! the same function. The rules follow Spark's JSON and CSV readers:
//!
//! | value | column | result |
//! |---|---|---|
//! | `1.7`, `1e3`, `9223372036854775808` | BIGINT / INT | bad record (Spark: corrupt record) |
//! | `1e400`, `-1e400` | DOUBLE | bad record (the value is out of range; `"Infinity"`, `"NaN"` are taken) |
//! | integer number, e.g. `1700000000` | TIMESTAMP | seconds since 1970-01-01 UTC (Spark's rule) |
//! | text that is no timestamp | TIMESTAMP / DATE | bad record |
//! | `""` (an empty CSV field) | any non-text column | NULL |
//! | `"12"` (a quoted number) | BIGINT | 12 (Spark would reject it; Tributary takes it) |
//! | `"abc"` in a Parquet text column | BIGINT | bad record (the file's row, numbered from 1) |

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, RecordBatch,
    RecordBatchOptions,
};
use arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::bad_records::{BadRecord, BadRecords};
use crate::error::{Result, TributaryError};

/// Whether a column is decoded as text first and converted by [`fit_batch`].
fn fitted_as_text(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || matches!(
            t,
            DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Timestamp(..)
                | DataType::Date32
                | DataType::Date64
        )
}

/// The schema records are decoded with: numeric and temporal top-level columns as text.
pub(crate) fn text_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema
        .fields()
        .iter()
        .any(|f| fitted_as_text(f.data_type()))
    {
        return schema.clone();
    }
    Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| {
                if fitted_as_text(f.data_type()) {
                    Arc::new(Field::new(f.name(), DataType::Utf8, true))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ))
}

/// The SQL name of a type, for messages.
pub fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            format!("{t} (unsigned)")
        }
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(..) => "TIMESTAMP".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        other => other.to_string(),
    }
}

/// The column of `schema` that a declared column `name` reads, as Spark resolves it
/// (`spark.sql.caseSensitive` false): the one spelled exactly, else the only one spelled alike
/// in another case. `None` when there is none; an error when two are spelled alike and none
/// exactly.
pub(crate) fn column_index(
    schema: &Schema,
    name: &str,
) -> std::result::Result<Option<usize>, String> {
    if let Ok(i) = schema.index_of(name) {
        return Ok(Some(i));
    }
    let mut alike = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name().eq_ignore_ascii_case(name));
    match (alike.next(), alike.next()) {
        (None, _) => Ok(None),
        (Some((i, _)), None) => Ok(Some(i)),
        (Some((_, a)), Some((_, b))) => Err(format!(
            "the declared column '{name}' matches both '{}' and '{}' of the file (names are \
             matched regardless of case): rename one of them where the file is written",
            a.name(),
            b.name()
        )),
    }
}

/// How a row of a decoded batch is named in a bad record: (record, source, line).
pub(crate) type Describe<'a> = dyn Fn(usize) -> (String, String, u64) + 'a;

/// Convert `batch` to `schema` (columns by name; missing ones NULL). Rows with a value that
/// does not fit go to `bad` with the reason and are left out. `None` when no row is left.
pub(crate) fn fit_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
    describe: &Describe<'_>,
    bad: &BadRecords,
) -> Result<Option<RecordBatch>> {
    if batch.schema() == *schema {
        return Ok(Some(batch.clone()));
    }
    let n = batch.num_rows();
    let mut reasons: Vec<Option<String>> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let Some(i) = column_index(&batch.schema(), field.name()).map_err(TributaryError::Plan)?
        else {
            columns.push(new_null_array(field.data_type(), n));
            continue;
        };
        let col = batch.column(i);
        if col.data_type() == field.data_type() {
            columns.push(col.clone());
            continue;
        }
        let (out, misfits) = convert(col, field.data_type())?;
        if !misfits.is_empty() {
            let show = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
                .map_err(TributaryError::arrow("formatting a value"))?;
            if reasons.is_empty() {
                reasons = vec![None; n];
            }
            for (row, why) in misfits {
                reasons[row].get_or_insert_with(|| {
                    let value = show.value(row).to_string();
                    format!(
                        "the value '{}' of column '{}' does not fit {}{why}",
                        value.chars().take(80).collect::<String>(),
                        field.name(),
                        sql_type(field.data_type()),
                    )
                });
            }
        }
        columns.push(out);
    }
    let fitted = RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(TributaryError::arrow("fitting decoded rows to the schema"))?;
    if reasons.is_empty() {
        return Ok(Some(fitted));
    }
    let mut keep = Vec::with_capacity(n);
    for (row, reason) in reasons.into_iter().enumerate() {
        match reason {
            None => keep.push(true),
            Some(reason) => {
                let (record, source, line) = describe(row);
                bad.report(BadRecord {
                    record,
                    source,
                    line,
                    reason,
                })?;
                keep.push(false);
            }
        }
    }
    let kept = filter_record_batch(&fitted, &BooleanArray::from(keep))
        .map_err(TributaryError::arrow("leaving out bad rows"))?;
    Ok((kept.num_rows() > 0).then_some(kept))
}

/// Convert one column; the rows whose value does not convert, with a detail of why.
fn convert(col: &ArrayRef, to: &DataType) -> Result<(ArrayRef, Vec<(usize, &'static str)>)> {
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    let text = matches!(col.data_type(), DataType::Utf8);
    // An empty field of a CSV file is NULL in any column but a text one.
    let col: ArrayRef = if text && !matches!(to, DataType::Utf8 | DataType::LargeUtf8) {
        let s = col.as_string::<i32>();
        if s.iter().any(|v| v == Some("")) {
            Arc::new(
                s.iter()
                    .map(|v| v.filter(|v| !v.is_empty()))
                    .collect::<arrow::array::StringArray>(),
            )
        } else {
            col.clone()
        }
    } else {
        col.clone()
    };
    // The plain ISO form of a timestamp is parsed directly; anything else is arrow's to cast.
    let plain = match to {
        DataType::Timestamp(..) if text => {
            super::timestamps::parse_plain(col.as_string::<i32>(), to)
        }
        _ => None,
    };
    let mut out = match plain {
        Some(out) => out,
        None => cast_with_options(&col, to, &safe).map_err(TributaryError::arrow(format!(
            "converting {} to {}",
            col.data_type(),
            sql_type(to)
        )))?,
    };
    if text {
        if let DataType::Timestamp(unit, _) = to {
            out = seconds_as_timestamps(&col, out, *unit, to)?;
        }
    }
    let mut misfits = Vec::new();
    if out.null_count() > col.null_count() {
        for row in 0..col.len() {
            if col.is_valid(row) && out.is_null(row) {
                misfits.push((row, ""));
            }
        }
    }
    if text && to.is_floating() {
        let s = col.as_string::<i32>();
        let infinite = |row: usize| match to {
            DataType::Float64 => out.as_primitive::<Float64Type>().value(row).is_infinite(),
            DataType::Float32 => out.as_primitive::<Float32Type>().value(row).is_infinite(),
            _ => false,
        };
        for row in 0..col.len() {
            if out.is_valid(row) && infinite(row) && !names_infinity(s.value(row)) {
                misfits.push((row, " (out of range)"));
            }
        }
    }
    Ok((out, misfits))
}

fn names_infinity(text: &str) -> bool {
    let t = text
        .trim()
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase();
    t == "inf" || t == "infinity"
}

/// Integer numbers in a TIMESTAMP column are seconds since 1970 (Spark's JSON and CSV rule);
/// `cast` left them NULL.
fn seconds_as_timestamps(
    text: &ArrayRef,
    cast: ArrayRef,
    unit: TimeUnit,
    to: &DataType,
) -> Result<ArrayRef> {
    let s = text.as_string::<i32>();
    let is_seconds = |row: usize| {
        s.is_valid(row) && cast.is_null(row) && {
            let v = s.value(row).trim();
            let digits = v.strip_prefix('-').unwrap_or(v);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
    };
    if !(0..s.len()).any(is_seconds) {
        return Ok(cast);
    }
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let values: Vec<Option<i64>> = (0..s.len())
        .map(|row| {
            if is_seconds(row) {
                s.value(row)
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(|secs| secs.checked_mul(per_second))
            } else if cast.is_valid(row) {
                Some(timestamp_value(&cast, unit, row))
            } else {
                None
            }
        })
        .collect();
    let tz = match to {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    Ok(match unit {
        TimeUnit::Second => {
            Arc::new(PrimitiveArray::<TimestampSecondType>::from(values).with_timezone_opt(tz))
        }
        TimeUnit::Millisecond => {
            Arc::new(PrimitiveArray::<TimestampMillisecondType>::from(values).with_timezone_opt(tz))
        }
        TimeUnit::Microsecond => {
            Arc::new(PrimitiveArray::<TimestampMicrosecondType>::from(values).with_timezone_opt(tz))
        }
        TimeUnit::Nanosecond => {
            Arc::new(PrimitiveArray::<TimestampNanosecondType>::from(values).with_timezone_opt(tz))
        }
    })
}

fn timestamp_value(a: &ArrayRef, unit: TimeUnit, row: usize) -> i64 {
    match unit {
        TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
        TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(row),
        TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
        TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::BadRecordMode;
    use arrow::array::{Float64Array, Int64Array, StringArray};

    fn fit(values: Vec<Option<&str>>, to: DataType) -> (Option<RecordBatch>, Vec<BadRecord>) {
        let text = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, true)])),
            vec![Arc::new(StringArray::from(values))],
        )
        .unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("v", to, true)]));
        let bad = BadRecords::new(BadRecordMode::DeadLetter);
        let out = fit_batch(
            &text,
            &schema,
            &|row| (format!("r{row}"), "f".into(), row as u64 + 1),
            &bad,
        )
        .unwrap();
        (out, bad.take())
    }

    #[test]
    fn integers_that_do_not_fit_are_bad_records() {
        let (out, bad) = fit(
            vec![
                Some("1"),
                Some("1.7"),
                Some("99999999999999999999"),
                Some(""),
                None,
            ],
            DataType::Int64,
        );
        let out = out.unwrap();
        let v = out.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(v.iter().collect::<Vec<_>>(), vec![Some(1), None, None]);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 3]);
        assert!(
            bad[0]
                .reason
                .contains("'1.7' of column 'v' does not fit BIGINT"),
            "{}",
            bad[0].reason
        );
    }

    #[test]
    fn out_of_range_doubles_are_bad_but_named_infinity_is_taken() {
        let (out, bad) = fit(
            vec![Some("1.5"), Some("1e400"), Some("-Infinity")],
            DataType::Float64,
        );
        let out = out.unwrap();
        let v = out
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(v.value(0), 1.5);
        assert_eq!(v.value(1), f64::NEG_INFINITY);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].reason.contains("out of range"), "{}", bad[0].reason);
    }

    #[test]
    fn integer_numbers_in_a_timestamp_column_are_seconds() {
        let (out, bad) = fit(
            vec![
                Some("1700000000"),
                Some("2026-11-21T10:00:00Z"),
                Some("soon"),
            ],
            DataType::Timestamp(TimeUnit::Nanosecond, None),
        );
        let out = out.unwrap();
        let v = out.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(v.value(0), 1_700_000_000_000_000_000);
        assert_eq!(v.value(1), 1_795_255_200_000_000_000);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].record, "r2");
    }
}
