//! Arrow results as PostgreSQL rows: each Arrow type sent as the PostgreSQL type a client
//! expects (`bigint`, `double precision`, `timestamp`, ...), in text or binary as the client
//! asked per column; types without a counterpart are sent as text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;

/// The type a column of `dt` is sent as, and the Arrow type it is cast to first.
fn wire_type(dt: &DataType, binary: bool) -> (Type, DataType) {
    match dt {
        DataType::Boolean => (Type::BOOL, DataType::Boolean),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => (Type::INT2, DataType::Int16),
        DataType::Int32 | DataType::UInt16 => (Type::INT4, DataType::Int32),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => (Type::INT8, DataType::Int64),
        DataType::Float16 | DataType::Float32 => (Type::FLOAT4, DataType::Float32),
        DataType::Float64 => (Type::FLOAT8, DataType::Float64),
        DataType::Decimal128(..) | DataType::Decimal256(..) if binary => {
            (Type::FLOAT8, DataType::Float64)
        }
        DataType::Decimal128(..) | DataType::Decimal256(..) => (Type::NUMERIC, DataType::Utf8),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => (Type::BYTEA, DataType::Binary),
        DataType::Date32 | DataType::Date64 => (Type::DATE, DataType::Date32),
        DataType::Timestamp(_, None) => (
            Type::TIMESTAMP,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        DataType::Timestamp(_, Some(_)) => (
            Type::TIMESTAMPTZ,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        DataType::Dictionary(_, v) => wire_type(v, binary),
        _ => (Type::TEXT, DataType::Utf8),
    }
}

/// The fields of a result of `schema`, in the formats of `format` (text when `None`).
pub(crate) fn fields(schema: &arrow::datatypes::Schema, format: Option<&Format>) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let field_format = format.map_or(FieldFormat::Text, |fmt| fmt.format_for(i));
            let (t, _) = wire_type(f.data_type(), field_format == FieldFormat::Binary);
            FieldInfo::new(f.name().clone(), None, None, t, field_format)
        })
        .collect()
}

/// A column cast to what its field is sent as.
fn wire_column(array: &ArrayRef, field: &FieldInfo) -> PgWireResult<ArrayRef> {
    let binary = field.format() == FieldFormat::Binary;
    let (_, target) = wire_type(array.data_type(), binary);
    if array.data_type() == &target {
        return Ok(array.clone());
    }
    if target == DataType::Utf8 {
        // Anything without a PostgreSQL counterpart, as Arrow displays it.
        let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
            .map_err(api_error)?;
        let values: Vec<Option<String>> = (0..array.len())
            .map(|i| (!array.is_null(i)).then(|| formatter.value(i).to_string()))
            .collect();
        return Ok(Arc::new(arrow::array::StringArray::from(values)));
    }
    cast(array, &target).map_err(api_error)
}

fn api_error(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

/// The rows of `batches` in `fields`' types and formats.
pub(crate) fn rows(
    batches: &[RecordBatch],
    fields: &Arc<Vec<FieldInfo>>,
) -> PgWireResult<Vec<PgWireResult<DataRow>>> {
    let mut out = Vec::new();
    let mut encoder = DataRowEncoder::new(fields.clone());
    for batch in batches {
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .zip(fields.iter())
            .map(|(c, f)| wire_column(c, f))
            .collect::<PgWireResult<_>>()?;
        for row in 0..batch.num_rows() {
            for column in &columns {
                encode_value(&mut encoder, column, row)?;
            }
            out.push(Ok(encoder.take_row()));
        }
    }
    Ok(out)
}

/// Encode row `row` of `column` (already in its wire type).
fn encode_value(encoder: &mut DataRowEncoder, column: &ArrayRef, row: usize) -> PgWireResult<()> {
    if column.is_null(row) {
        return encoder.encode_field(&None::<i32>);
    }
    match column.data_type() {
        DataType::Boolean => encoder.encode_field(&column.as_boolean().value(row)),
        DataType::Int16 => encoder.encode_field(&column.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => encoder.encode_field(&column.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => encoder.encode_field(&column.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => encoder.encode_field(&column.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => encoder.encode_field(&column.as_primitive::<Float64Type>().value(row)),
        DataType::Binary => encoder.encode_field(&column.as_binary::<i32>().value(row)),
        DataType::Date32 => {
            let days = column.as_primitive::<Date32Type>().value(row);
            let date = NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .ok_or_else(|| out_of_range("date", days))?;
            encoder.encode_field(&date)
        }
        DataType::Timestamp(_, tz) => {
            let us = column.as_primitive::<TimestampMicrosecondType>().value(row);
            let at =
                DateTime::from_timestamp_micros(us).ok_or_else(|| out_of_range("timestamp", us))?;
            if tz.is_some() {
                encoder.encode_field(&at)
            } else {
                let naive: NaiveDateTime = at.naive_utc();
                encoder.encode_field(&naive)
            }
        }
        _ => encoder.encode_field(&column.as_string::<i32>().value(row)),
    }
}

fn out_of_range(what: &str, v: impl std::fmt::Display) -> PgWireError {
    PgWireError::ApiError(format!("{what} value {v} is out of PostgreSQL's range").into())
}

/// Rows as text, `a|b` (NULL as empty): for tests.
#[cfg(test)]
pub(crate) fn text_rows(batch: &RecordBatch) -> Vec<String> {
    let opts = FormatOptions::default();
    let formatters: Vec<ArrayFormatter<'_>> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
        .collect();
    (0..batch.num_rows())
        .map(|r| {
            formatters
                .iter()
                .map(|f| f.value(r).to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}
