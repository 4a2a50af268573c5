//! Decoding one file into batches of a declared schema. Records that do not decode are
//! reported to [`BadRecords`] with their line, and the rest of the file goes on.

use arrow::array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::cast;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use bytes::Bytes;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::bad_records::{BadRecord, BadRecords};
use super::FileFormat;
use crate::error::{Result, TributaryError};

const BATCH_SIZE: usize = 8192;
/// Lines decoded together; a chunk with a bad line is decoded again line by line.
const CHUNK_LINES: usize = 4096;

/// Decode one file's bytes. `source` names the file in bad records and errors.
pub(crate) fn decode_file(
    format: &FileFormat,
    schema: &SchemaRef,
    bytes: Bytes,
    source: &str,
    bad: &BadRecords,
) -> Result<Vec<RecordBatch>> {
    match format {
        FileFormat::Json => decode_lines(schema, &bytes, 0, source, bad, &|s| {
            Ok(LineDecoder::Json(
                arrow::json::ReaderBuilder::new(s.clone())
                    .with_batch_size(BATCH_SIZE)
                    .build_decoder()?,
            ))
        }),
        FileFormat::Csv {
            has_header,
            delimiter,
        } => {
            let skip = usize::from(*has_header);
            let delimiter = *delimiter;
            decode_lines(schema, &bytes, skip, source, bad, &move |s| {
                Ok(LineDecoder::Csv(
                    arrow::csv::ReaderBuilder::new(s.clone())
                        .with_header(false)
                        .with_delimiter(delimiter)
                        .with_batch_size(BATCH_SIZE)
                        .build_decoder(),
                ))
            })
        }
        FileFormat::Parquet => decode_parquet(schema, bytes, source),
    }
}

// One decoder per file; the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum LineDecoder {
    Json(arrow::json::reader::Decoder),
    Csv(arrow::csv::reader::Decoder),
}

impl LineDecoder {
    /// Decode the whole buffer, returning every batch.
    fn run(&mut self, mut buf: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
        let mut out = Vec::new();
        loop {
            let read = match self {
                LineDecoder::Json(d) => d.decode(buf)?,
                LineDecoder::Csv(d) => d.decode(buf)?,
            };
            buf = &buf[read..];
            let flushed = match self {
                LineDecoder::Json(d) => d.flush()?,
                LineDecoder::Csv(d) => d.flush()?,
            };
            if let Some(b) = flushed {
                out.push(b);
            }
            if buf.is_empty() {
                // A final flush for anything buffered.
                let last = match self {
                    LineDecoder::Json(d) => d.flush()?,
                    LineDecoder::Csv(d) => d.flush()?,
                };
                if let Some(b) = last {
                    out.push(b);
                }
                return Ok(out);
            }
            if read == 0 {
                return Err(ArrowError::ParseError(
                    "the decoder made no progress".into(),
                ));
            }
        }
    }
}

type MakeDecoder<'a> = dyn Fn(&SchemaRef) -> Result<LineDecoder, ArrowError> + 'a;

fn decode_lines(
    schema: &SchemaRef,
    bytes: &[u8],
    skip_lines: usize,
    source: &str,
    bad: &BadRecords,
    make: &MakeDecoder<'_>,
) -> Result<Vec<RecordBatch>> {
    let ctx = || format!("decoding '{source}'");
    // Fast path: the whole file at once.
    let body_start = nth_line_start(bytes, skip_lines);
    let body = &bytes[body_start..];
    let mut decoder = make(schema).map_err(TributaryError::arrow(ctx()))?;
    if let Ok(batches) = decoder.run(body) {
        return Ok(batches);
    }
    // Slow path: chunks of lines, and single lines in a chunk that fails.
    let mut out = Vec::new();
    let lines: Vec<(usize, &[u8])> = split_lines(body)
        .enumerate()
        .map(|(i, l)| (i + 1 + skip_lines, l))
        .filter(|(_, l)| !l.iter().all(|b| b.is_ascii_whitespace()))
        .collect();
    for chunk in lines.chunks(CHUNK_LINES) {
        let mut buf = Vec::with_capacity(chunk.iter().map(|(_, l)| l.len() + 1).sum());
        for (_, l) in chunk {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        let mut decoder = make(schema).map_err(TributaryError::arrow(ctx()))?;
        if let Ok(batches) = decoder.run(&buf) {
            out.extend(batches);
            continue;
        }
        for (line_no, line) in chunk {
            let mut one = line.to_vec();
            one.push(b'\n');
            let mut decoder = make(schema).map_err(TributaryError::arrow(ctx()))?;
            match decoder.run(&one) {
                Ok(batches) => out.extend(batches),
                Err(e) => bad.report(BadRecord {
                    record: String::from_utf8_lossy(line).into_owned(),
                    source: source.to_string(),
                    line: *line_no as u64,
                    reason: e.to_string(),
                })?,
            }
        }
    }
    Ok(out)
}

/// Decode JSON records (one object each, e.g. Kafka values). `origin(i)` names record `i` in a
/// bad record as (source, position). Records that do not decode are reported, the rest go on.
pub(crate) fn decode_json_values(
    schema: &SchemaRef,
    values: &[&[u8]],
    origin: &dyn Fn(usize) -> (String, u64),
    bad: &BadRecords,
) -> Result<Vec<RecordBatch>> {
    let make = || {
        arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH_SIZE)
            .build_decoder()
            .map(LineDecoder::Json)
            .map_err(TributaryError::arrow("decoding JSON values"))
    };
    let join = |vals: &[&[u8]]| {
        let mut buf = Vec::with_capacity(vals.iter().map(|v| v.len() + 1).sum());
        for v in vals {
            buf.extend_from_slice(v);
            buf.push(b'\n');
        }
        buf
    };
    let rows = |b: &[RecordBatch]| b.iter().map(|b| b.num_rows()).sum::<usize>();
    // Fast path: every value at once (and one row per value: an empty value is bad).
    if let Ok(batches) = make()?.run(&join(values)) {
        if rows(&batches) == values.len() {
            return Ok(batches);
        }
    }
    let mut out = Vec::new();
    for (c, chunk) in values.chunks(CHUNK_LINES).enumerate() {
        if let Ok(batches) = make()?.run(&join(chunk)) {
            if rows(&batches) == chunk.len() {
                out.extend(batches);
                continue;
            }
        }
        for (j, v) in chunk.iter().enumerate() {
            let i = c * CHUNK_LINES + j;
            // A value must be exactly one object: an empty or partial one is bad too.
            let one = make()?.run(&join(&[v]));
            match one {
                Ok(batches) if rows(&batches) == 1 => out.extend(batches),
                other => {
                    let (source, line) = origin(i);
                    bad.report(BadRecord {
                        record: String::from_utf8_lossy(v).into_owned(),
                        source,
                        line,
                        reason: match other {
                            Err(e) => e.to_string(),
                            Ok(_) => "the value is not one JSON object".into(),
                        },
                    })?
                }
            }
        }
    }
    Ok(out)
}

fn nth_line_start(bytes: &[u8], n: usize) -> usize {
    let mut pos = 0;
    for _ in 0..n {
        match bytes[pos..].iter().position(|b| *b == b'\n') {
            Some(i) => pos += i + 1,
            None => return bytes.len(),
        }
    }
    pos
}

fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn decode_parquet(schema: &SchemaRef, bytes: Bytes, source: &str) -> Result<Vec<RecordBatch>> {
    let ctx = || format!("reading Parquet file '{source}'");
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| TributaryError::Plan(format!("{}: {e}", ctx())))?
        .with_batch_size(BATCH_SIZE)
        .build()
        .map_err(|e| TributaryError::Plan(format!("{}: {e}", ctx())))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(TributaryError::arrow(ctx()))?;
        out.push(conform(&batch, schema).map_err(TributaryError::arrow(ctx()))?);
    }
    Ok(out)
}

/// Make a batch fit a schema: columns by name (missing ones null), cast to the declared types.
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match batch.schema().index_of(field.name()) {
            Ok(i) => {
                let col = batch.column(i);
                if col.data_type() == field.data_type() {
                    columns.push(col.clone());
                } else {
                    columns.push(cast(col, field.data_type())?);
                }
            }
            Err(_) => columns.push(new_null_array(field.data_type(), batch.num_rows())),
        }
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

/// Infer a schema from sample files (batch reads without a declared schema).
pub(crate) fn infer_schema(format: &FileFormat, samples: &[Bytes]) -> Result<Schema> {
    let mut schemas = Vec::new();
    for bytes in samples {
        let schema = match format {
            FileFormat::Json => {
                let (s, _) = arrow::json::reader::infer_json_schema(
                    std::io::Cursor::new(bytes.as_ref()),
                    Some(1000),
                )
                .map_err(TributaryError::arrow("inferring a JSON schema"))?;
                s
            }
            FileFormat::Csv {
                has_header,
                delimiter,
            } => {
                let (s, _) = arrow::csv::reader::Format::default()
                    .with_header(*has_header)
                    .with_delimiter(*delimiter)
                    .infer_schema(std::io::Cursor::new(bytes.as_ref()), Some(1000))
                    .map_err(TributaryError::arrow("inferring a CSV schema"))?;
                s
            }
            FileFormat::Parquet => {
                let b = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                    .map_err(|e| TributaryError::Plan(format!("reading a Parquet footer: {e}")))?;
                b.schema().as_ref().clone()
            }
        };
        schemas.push(schema);
    }
    Schema::try_merge(schemas).map_err(TributaryError::arrow("merging inferred schemas"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::BadRecordMode;
    use arrow::datatypes::{DataType, Field};
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn bad_json_lines_are_routed_with_their_line_numbers() {
        let bad = BadRecords::new(BadRecordMode::DeadLetter);
        let data =
            Bytes::from_static(b"{\"a\":1,\"b\":\"x\"}\n{not json\n{\"a\":\"zz\"}\n\n{\"a\":4}\n");
        let batches = decode_file(&FileFormat::Json, &schema(), data, "f.json", &bad).unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 2);
        let records = bad.take();
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(records[0].record, "{not json");
        assert_eq!(bad.count(), 2);
    }

    #[test]
    fn failfast_names_the_file_and_line() {
        let bad = BadRecords::new(BadRecordMode::FailFast);
        let data = Bytes::from_static(b"{\"a\":1}\n{\"a\":\"zz\"}\n");
        let err = decode_file(&FileFormat::Json, &schema(), data, "in/f.json", &bad).unwrap_err();
        assert!(err.to_string().contains("in/f.json line 2"), "{err}");
    }

    #[test]
    fn csv_with_header_and_a_bad_line() {
        let bad = BadRecords::new(BadRecordMode::DeadLetter);
        let data = Bytes::from_static(b"a,b\n1,x\nnope,y\n3,z\n");
        let fmt = FileFormat::Csv {
            has_header: true,
            delimiter: b',',
        };
        let batches = decode_file(&fmt, &schema(), data, "f.csv", &bad).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(bad.take()[0].line, 3);
    }
}
