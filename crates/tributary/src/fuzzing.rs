//! The bodies of the fuzz targets (`fuzz/`, run by `scripts/fuzz.sh`), shared with the test
//! that replays their corpora in the suite. Not an API: each function takes arbitrary bytes,
//! must never panic on them, and checks the decoder's promise itself (a panic here is a
//! finding):
//!
//! ```text
//!   bytes ─► JSON / CSV decoder ─► rows + bad records = non-blank lines (each line one or the other)
//!   bytes ─► Avro value decoder ─► a JSON object, or a reason
//! ```

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;

use crate::format::decode_file;
use crate::format::{BadRecordMode, BadRecords, FileFormat};

/// A schema with a column of each kind the fitting rules treat differently.
fn typed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("small", DataType::Int32, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("price", DataType::Decimal128(10, 2), true),
        Field::new("name", DataType::Utf8, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("day", DataType::Date32, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]))
}

/// `data` without the byte order mark a file may start with: the decoder skips it.
fn without_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(data)
}

fn non_blank_lines(body: &[u8]) -> u64 {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .count() as u64
}

/// Decode `data` as a JSON-lines file: every non-blank line is one row or one bad record.
pub fn json_records(data: &[u8]) {
    let bad = BadRecords::new(BadRecordMode::DeadLetter);
    let batches = decode_file(
        &FileFormat::Json,
        &typed_schema(),
        Bytes::copy_from_slice(data),
        "fuzz.json",
        &bad,
    )
    .expect("the JSON decoder routes bad records instead of failing");
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    assert_eq!(
        rows + bad.count(),
        non_blank_lines(without_bom(data)),
        "each non-blank line is one row or one bad record"
    );
}

/// Decode `data` as a CSV file with a header line: every non-blank line after the header is one
/// row or one bad record.
pub fn csv_records(data: &[u8]) {
    let bad = BadRecords::new(BadRecordMode::DeadLetter);
    let batches = decode_file(
        &FileFormat::Csv {
            has_header: true,
            delimiter: b',',
        },
        &typed_schema(),
        Bytes::copy_from_slice(data),
        "fuzz.csv",
        &bad,
    )
    .expect("the CSV decoder routes bad records instead of failing");
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let data = without_bom(data);
    let body = match data.iter().position(|b| *b == b'\n') {
        Some(i) => &data[i + 1..],
        None => &[],
    };
    assert_eq!(
        rows + bad.count(),
        non_blank_lines(body),
        "each non-blank line after the header is one row or one bad record"
    );
}

/// Decode `data` as one Avro value of a record schema (plain, then in Confluent's framing).
#[cfg(feature = "kafka")]
pub fn avro_value(data: &[u8]) {
    crate::connector::kafka::fuzz_avro_value(data);
}

pub use tributary_checkpoint::fuzzing::replay;
