//! Decoding one file into batches of a declared schema. Records that do not decode, or whose
//! values do not fit their columns (see [`super::fit`]), are reported to [`BadRecords`] with
//! their line, and the rest of the file goes on. JSON and CSV records are one per line (Spark's
//! default, `multiLine` false); a Parquet file that cannot be read goes aside whole.

use arrow::array::RecordBatch;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use bytes::Bytes;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::bad_records::{BadRecord, BadRecords};
use super::depth::{bounded_pieces, json_too_deep, MAX_JSON_DEPTH};
use super::flat_json::FlatJson;
use super::surrogates::mend_surrogates;
use super::{fit, FileFormat};
use crate::error::{Result, TributaryError};

const BATCH_SIZE: usize = 8192;
/// Records decoded together; a chunk with a bad record is decoded again record by record.
const CHUNK_LINES: usize = 4096;

/// Decode one file's bytes into batches of `schema`, on the calling thread. `source` names the
/// file in bad records and errors; records that do not decode or fit go to `bad`.
pub fn decode_file(
    format: &FileFormat,
    schema: &SchemaRef,
    bytes: Bytes,
    source: &str,
    bad: &BadRecords,
) -> Result<Vec<RecordBatch>> {
    decode_file_in_pieces(format, schema, bytes, source, bad, 1)
}

/// The smallest piece of a text file decoded on a thread of its own.
const MIN_PIECE_BYTES: usize = 1 << 20;

/// Decode one file's bytes, a text file split at line breaks into up to `pieces` pieces of at
/// least [`MIN_PIECE_BYTES`] decoded on as many threads (so that an epoch of one big file uses
/// every core). The batches come out in the file's order, and the bad records too, with their
/// lines numbered in the whole file.
pub(crate) fn decode_file_in_pieces(
    format: &FileFormat,
    schema: &SchemaRef,
    bytes: Bytes,
    source: &str,
    bad: &BadRecords,
    pieces: usize,
) -> Result<Vec<RecordBatch>> {
    let (kind, skip) = match format {
        FileFormat::Json => (Kind::Json, 0),
        FileFormat::Csv {
            has_header,
            delimiter,
        } => (Kind::Csv(*delimiter), usize::from(*has_header)),
        FileFormat::Parquet => return decode_parquet(schema, bytes, source, bad),
    };
    let bytes = without_bom(bytes);
    let body = &bytes[nth_line_start(&bytes, skip)..];
    let origin = |line: u64| (source.to_string(), line);
    if skip == 1 {
        header_that_reads_as_data(
            schema,
            kind,
            &bytes[..bytes.len() - body.len()],
            source,
            bad,
        )?;
    }
    let pieces = pieces.min(body.len() / MIN_PIECE_BYTES).max(1);
    // Flat JSON lines are read in one pass; anything else takes the general path.
    let flat = match kind {
        Kind::Json => FlatJson::new(schema),
        Kind::Csv(_) => None,
    };
    let flat = flat.as_ref();
    // The lines of `body[start..end]` (`start` just after a line break). The lines before it
    // are counted only when a record needs its number: when the flat reader takes every line,
    // never.
    let lines_of = |start: usize, end: usize, bad: &BadRecords| {
        let part = &body[start..end];
        let mut lines = None;
        let mut lines_before = || {
            *lines.get_or_insert_with(|| {
                skip as u64 + memchr::memchr_iter(b'\n', &body[..start]).count() as u64
            })
        };
        match flat {
            Some(flat) => flat_then_general(flat, part, &mut |before, bytes| {
                let records = numbered_lines(bytes, lines_before() + before);
                decode_records(schema, kind, Some(bytes), &records, &origin, bad)
            }),
            None => {
                let records = numbered_lines(part, lines_before());
                decode_records(schema, kind, Some(part), &records, &origin, bad)
            }
        }
    };
    if pieces == 1 {
        return lines_of(0, body.len(), bad);
    }
    // Each piece starts just after a line break.
    let mut starts = vec![0usize];
    for i in 1..pieces {
        let last = *starts.last().expect("one piece at least");
        let target = (body.len() * i / pieces).max(last);
        let Some(nl) = memchr::memchr(b'\n', &body[target..]) else {
            break;
        };
        starts.push(target + nl + 1);
    }
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([body.len()]).collect();
    let results: Vec<(Result<Vec<RecordBatch>>, BadRecords)> = std::thread::scope(|scope| {
        let handles: Vec<_> = starts
            .iter()
            .zip(&ends)
            .map(|(&start, &end)| {
                let lines_of = &lines_of;
                scope.spawn(move || {
                    let local = bad.sibling();
                    let out = lines_of(start, end, &local);
                    (out, local)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a decoding thread panicked"))
            .collect()
    });
    let mut out = Vec::new();
    for (batches, local) in results {
        for record in local.take() {
            bad.report(record)?;
        }
        out.extend(batches?);
    }
    Ok(out)
}

/// A CSV file read with a header (`has_header`, true by default here, false in Spark) whose
/// first line reads as a row of the declared columns, numbers and all, is most likely a file
/// without a header: its first row goes to the bad records with the reason, rather than being
/// dropped unseen. (A schema of text columns alone cannot tell, and is not checked.)
fn header_that_reads_as_data(
    schema: &SchemaRef,
    kind: Kind,
    header: &[u8],
    source: &str,
    bad: &BadRecords,
) -> Result<()> {
    let typed = schema.fields().iter().any(|f| {
        !matches!(
            f.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    });
    if !typed || schema.fields().len() < 2 {
        return Ok(());
    }
    let records = numbered_lines(header, 0);
    if records.len() != 1 {
        return Ok(());
    }
    // A line that names any of the columns is a header (`region,2023,2024` over `region`,
    // `y2023`, `y2024`; an inferred schema takes its names from it).
    let delimiter = match kind {
        Kind::Csv(d) => d,
        Kind::Json => return Ok(()),
    };
    let names_a_column = String::from_utf8_lossy(header)
        .trim_end()
        .split(delimiter as char)
        .map(|f| f.trim().trim_matches('"'))
        .any(|f| {
            schema
                .fields()
                .iter()
                .any(|c| c.name().eq_ignore_ascii_case(f))
        });
    if names_a_column {
        return Ok(());
    }
    let probe = bad.sibling();
    let origin = |line: u64| (source.to_string(), line);
    // A header that does not decode is what a header should be (in FAILFAST mode, an error).
    let Ok(rows) = decode_records(schema, kind, Some(header), &records, &origin, &probe) else {
        return Ok(());
    };
    let fits_every_column = |b: &RecordBatch| b.columns().iter().all(|c| c.null_count() == 0);
    if probe.count() == 0
        && rows.iter().map(RecordBatch::num_rows).sum::<usize>() == 1
        && rows.iter().all(fits_every_column)
    {
        let line = String::from_utf8_lossy(header).trim_end().to_string();
        tracing::warn!(file = source, "the CSV header line reads as data: {line}");
        bad.report(BadRecord {
            record: line,
            source: source.to_string(),
            line: 1,
            reason: "skipped as the file's header (has_header is true, the default), but it \
                     reads as a row of the declared columns: if the files have no header, set \
                     has_header 'false' (Spark's default) and this row is read"
                .into(),
        })?;
    }
    Ok(())
}

/// The kind of text records.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Json,
    Csv(u8),
}

impl Kind {
    fn decoder(self, schema: &SchemaRef) -> Result<LineDecoder> {
        Ok(match self {
            Kind::Json => LineDecoder::Json(
                arrow::json::ReaderBuilder::new(schema.clone())
                    .with_batch_size(BATCH_SIZE)
                    .with_coerce_primitive(true)
                    .build_decoder()
                    .map_err(TributaryError::arrow("making a JSON decoder"))?,
            ),
            Kind::Csv(delimiter) => LineDecoder::Csv(
                arrow::csv::ReaderBuilder::new(schema.clone())
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_batch_size(BATCH_SIZE)
                    .build_decoder(),
            ),
        })
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

/// Decode JSON text piece by piece ([`bounded_pieces`]), so that the decoder never holds a
/// value nested deeper than [`MAX_JSON_DEPTH`]: a piece has no more opening brackets than that
/// (or its one line is measured), and no value may be left open at a piece's end. `None` when a
/// line is too deep or a value crosses a piece's end: the careful path then takes the records a
/// chunk at a time.
fn run_json_bounded(
    decoder: &mut arrow::json::reader::Decoder,
    buf: &[u8],
) -> Result<Option<Vec<RecordBatch>>, ArrowError> {
    let mut out = Vec::new();
    for piece in bounded_pieces(buf, MAX_JSON_DEPTH) {
        let mut bytes = &buf[piece.range];
        if piece.measure && json_too_deep(bytes, MAX_JSON_DEPTH) {
            return Ok(None);
        }
        loop {
            let read = decoder.decode(bytes)?;
            bytes = &bytes[read..];
            if bytes.is_empty() {
                break;
            }
            // The batch is full: every value in it ended within this piece or an earlier one.
            match decoder.flush()? {
                Some(batch) => out.push(batch),
                None if read == 0 => {
                    return Err(ArrowError::ParseError(
                        "the decoder made no progress".into(),
                    ))
                }
                None => {}
            }
        }
        if decoder.has_partial_record() {
            return Ok(None);
        }
    }
    out.extend(decoder.flush()?);
    Ok(Some(out))
}

/// JSON text with the escaped surrogate pairs arrow-json would misread mended first (see
/// `surrogates.rs`); CSV text as it is.
fn json_text(json: bool, buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if json {
        mend_surrogates(buf)
    } else {
        std::borrow::Cow::Borrowed(buf)
    }
}

/// One record: its number (a line of a file, an index of a list of values) and its bytes.
type Numbered<'a> = (u64, &'a [u8]);

/// The non-blank lines of `body`, numbered from `skipped + 1`.
fn numbered_lines(body: &[u8], skipped: u64) -> Vec<Numbered<'_>> {
    split_lines(body)
        .enumerate()
        .map(|(i, l)| (i as u64 + 1 + skipped, l))
        .filter(|(_, l)| !l.iter().all(|b| b.is_ascii_whitespace()))
        .collect()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Decode records that are one per line (or one per value): every record must give exactly
/// one row, and every value must fit its column; what does not goes to `bad` with its number
/// (named by `origin`) and the reason. `whole` is the records' bytes as they are, when they
/// are contiguous (a file's body), to decode them in one go.
fn decode_records(
    schema: &SchemaRef,
    kind: Kind,
    whole: Option<&[u8]>,
    records: &[Numbered<'_>],
    origin: &dyn Fn(u64) -> (String, u64),
    bad: &BadRecords,
) -> Result<Vec<RecordBatch>> {
    let text = fit::text_schema(schema);
    let json = matches!(kind, Kind::Json);
    let fit_all = |batches: Vec<RecordBatch>, recs: &[Numbered<'_>]| -> Result<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(batches.len());
        let mut first = 0;
        for b in batches {
            let describe = |row: usize| {
                let (n, bytes) = recs[first + row];
                let (source, line) = origin(n);
                (String::from_utf8_lossy(bytes).into_owned(), source, line)
            };
            if let Some(b) = fit::fit_batch(&b, schema, &describe, bad)? {
                out.push(b);
            }
            first += b.num_rows();
        }
        Ok(out)
    };
    let join = |recs: &[Numbered<'_>]| {
        let mut buf = Vec::with_capacity(recs.iter().map(|(_, l)| l.len() + 1).sum());
        for (_, l) in recs {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        buf
    };
    // Fast path: everything at once, when it gives one row per record.
    let joined;
    let all = match whole {
        Some(w) => w,
        None => {
            joined = join(records);
            &joined
        }
    };
    let fast = match kind.decoder(&text)? {
        LineDecoder::Json(mut decoder) => run_json_bounded(&mut decoder, &json_text(json, all)),
        mut csv => csv.run(all).map(Some),
    };
    if let Ok(Some(batches)) = fast {
        if rows(&batches) == records.len() {
            return fit_all(batches, records);
        }
    }
    // Slow path: chunks of records, and single records in a chunk that fails.
    let mut out = Vec::new();
    for chunk in records.chunks(CHUNK_LINES) {
        let buf = join(chunk);
        if !(json && json_too_deep(&buf, MAX_JSON_DEPTH)) {
            if let Ok(batches) = kind.decoder(&text)?.run(&json_text(json, &buf)) {
                if rows(&batches) == chunk.len() {
                    out.extend(fit_all(batches, chunk)?);
                    continue;
                }
            }
        }
        for one in chunk {
            let rec = std::slice::from_ref(one);
            let reason = if json && json_too_deep(one.1, MAX_JSON_DEPTH) {
                format!(
                    "the record nests objects and arrays more than {} levels deep",
                    MAX_JSON_DEPTH
                )
            } else {
                match kind.decoder(&text)?.run(&json_text(json, &join(rec))) {
                    Ok(batches) if rows(&batches) == 1 => {
                        out.extend(fit_all(batches, rec)?);
                        continue;
                    }
                    Ok(batches) if json => format!(
                        "a line must hold exactly one JSON object; this one holds {}",
                        rows(&batches)
                    ),
                    Ok(_) => "the line is not one CSV record (an unclosed quote?): CSV records \
                              are read one per line"
                        .to_string(),
                    Err(e) => e.to_string(),
                }
            };
            let (source, line) = origin(one.0);
            bad.report(BadRecord {
                record: String::from_utf8_lossy(one.1).into_owned(),
                source,
                line,
                reason,
            })?;
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
    let mut joined = Vec::with_capacity(values.iter().map(|v| v.len() + 1).sum());
    for v in values {
        joined.extend_from_slice(v);
        joined.push(b'\n');
    }
    // The values from the `first`th on, `bytes` holding exactly their lines.
    let general = |first: usize, bytes: &[u8], n: usize| {
        let records: Vec<Numbered<'_>> =
            (first..first + n).map(|i| (i as u64, values[i])).collect();
        decode_records(
            schema,
            Kind::Json,
            Some(bytes),
            &records,
            &|i| origin(i as usize),
            bad,
        )
    };
    // With no line break inside a value, each value is one line, so the lines the flat reader
    // leaves are values counted by their line breaks; a blank value (which the flat reader
    // would skip) is the general path's to report.
    let one_line = |v: &&[u8]| {
        memchr::memchr(b'\n', v).is_none() && !v.iter().all(|b| b.is_ascii_whitespace())
    };
    match FlatJson::new(schema) {
        Some(flat) if values.iter().all(one_line) => {
            flat_then_general(&flat, &joined, &mut |before, bytes| {
                let n = memchr::memchr_iter(b'\n', bytes).count();
                general(before as usize, bytes, n)
            })
        }
        _ => general(0, &joined, values.len()),
    }
}

/// JSON lines read by the flat reader where it can ([`FlatJson`]) and by `general` where it
/// cannot: from the first line the flat reader is not sure of, `general` takes a run of
/// [`GENERAL_RUN`] lines (twice the last run when the flat reader took nothing after it), then
/// the flat reader goes on.
/// `general(before, bytes)` decodes `bytes`, which follow `before` line breaks of `body`.
fn flat_then_general(
    flat: &FlatJson,
    body: &[u8],
    general: &mut General<'_>,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let (mut at, mut before) = (0usize, 0u64);
    let mut run = 0;
    // UTF-8 text of `body` from `checked.1` on, checked once.
    let mut checked: (&str, usize) = ("", 0);
    while at < body.len() {
        if at >= checked.1 + checked.0.len() {
            checked = (utf8_lines(&body[at..]), at);
        }
        let (batches, taken) = flat.decode_prefix(&checked.0[at - checked.1..]);
        out.extend(batches);
        if at + taken == body.len() {
            break;
        }
        before += memchr::memchr_iter(b'\n', &body[at..at + taken]).count() as u64;
        at += taken;
        run = if taken == 0 && run > 0 {
            (run * 2).min(CHUNK_LINES * 16)
        } else {
            GENERAL_RUN
        };
        let end = memchr::memchr_iter(b'\n', &body[at..])
            .nth(run - 1)
            .map_or(body.len(), |n| at + n + 1);
        out.extend(general(before, &body[at..end])?);
        before += run as u64;
        at = end;
    }
    Ok(out)
}

/// The general path for lines after the given count of line breaks.
type General<'a> = dyn FnMut(u64, &[u8]) -> Result<Vec<RecordBatch>> + 'a;

/// The lines the general path takes at once after the flat reader stops (doubled while the
/// flat reader takes nothing, as when every record holds a nested value under an unknown key).
const GENERAL_RUN: usize = 64;

/// The longest start of `bytes` that is UTF-8 and ends at a line break (or all of it).
fn utf8_lines(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let end = memchr::memrchr(b'\n', &bytes[..e.valid_up_to()]).map_or(0, |n| n + 1);
            std::str::from_utf8(&bytes[..end]).unwrap_or_default()
        }
    }
}

/// JSON lines through the general path alone, for the flat path's differential test.
#[cfg(test)]
pub(super) fn decode_json_general(
    schema: &SchemaRef,
    body: &[u8],
    bad: &BadRecords,
) -> Result<Vec<RecordBatch>> {
    let records = numbered_lines(body, 0);
    let origin = |line: u64| ("test.json".to_string(), line);
    decode_records(schema, Kind::Json, Some(body), &records, &origin, bad)
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

/// The lines of `bytes` (as `split` on line breaks gives them: a last, empty one after a final
/// break), without their carriage returns.
fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut breaks = memchr::memchr_iter(b'\n', bytes);
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let from = start?;
        let line = match breaks.next() {
            Some(at) => {
                start = Some(at + 1);
                &bytes[from..at]
            }
            None => {
                start = None;
                &bytes[from..]
            }
        };
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// Decode a Parquet file. A file that cannot be read (corrupt, truncated, empty, not
/// Parquet) or that has none of the declared columns goes to `bad` whole, and the stream goes
/// on; rows whose values do not fit their columns go to `bad` one by one.
fn decode_parquet(
    schema: &SchemaRef,
    bytes: Bytes,
    source: &str,
    bad: &BadRecords,
) -> Result<Vec<RecordBatch>> {
    let whole_file = |reason: String| {
        bad.report(BadRecord {
            record: String::new(),
            source: source.to_string(),
            line: 0,
            reason,
        })
        .map(|()| Vec::new())
    };
    let builder = match ParquetRecordBatchReaderBuilder::try_new(bytes) {
        Ok(b) => b.with_batch_size(BATCH_SIZE),
        Err(e) => return whole_file(format!("the file is not readable Parquet: {e}")),
    };
    let file_schema = builder.schema().clone();
    // Columns are matched as Spark matches them (case-insensitively unless one is spelled
    // exactly); a declared column two of the file's match is ambiguous.
    let mut found = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        match fit::column_index(&file_schema, f.name()) {
            Ok(i) => found.push(i),
            Err(reason) => return whole_file(reason),
        }
    }
    if !schema.fields().is_empty() && found.iter().all(Option::is_none) {
        let names = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return whole_file(format!(
            "the file has none of the declared columns (declared: {}; the file has: {})",
            names(schema),
            names(&file_schema)
        ));
    }
    let reader = match builder.build() {
        Ok(r) => r,
        Err(e) => return whole_file(format!("the file is not readable Parquet: {e}")),
    };
    // All or nothing: a file that fails half-way is set aside whole, so that none of its rows
    // is both in the output and among the bad records.
    let batches = match reader.collect::<Result<Vec<_>, ArrowError>>() {
        Ok(b) => b,
        Err(e) => return whole_file(format!("the file is damaged: {e}")),
    };
    let mut out = Vec::with_capacity(batches.len());
    let mut first = 0u64;
    for batch in batches {
        let describe = |row: usize| {
            let line = first + row as u64 + 1;
            (format!("row {line}"), source.to_string(), line)
        };
        if let Some(b) = fit::fit_batch(&batch, schema, &describe, bad)? {
            out.push(b);
        }
        first += batch.num_rows() as u64;
    }
    Ok(out)
}

/// Infer a schema from sample files (batch reads without a declared schema).
/// A text file without the UTF-8 byte order mark it may start with (editors on Windows write
/// one); Spark's line reader skips it too.
fn without_bom(bytes: Bytes) -> Bytes {
    match bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        true => bytes.slice(3..),
        false => bytes,
    }
}

pub(crate) fn infer_schema(format: &FileFormat, samples: &[Bytes]) -> Result<Schema> {
    let mut schemas = Vec::new();
    for bytes in samples {
        let text = without_bom(bytes.clone());
        let schema = match format {
            FileFormat::Json => {
                let (s, _) = arrow::json::reader::infer_json_schema(
                    std::io::Cursor::new(text.as_ref()),
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
                    .infer_schema(std::io::Cursor::new(text.as_ref()), Some(1000))
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
    match format {
        FileFormat::Parquet => {
            Schema::try_merge(schemas).map_err(TributaryError::arrow("merging inferred schemas"))
        }
        _ => Ok(merge_text_schemas(&schemas)),
    }
}

/// The schemas inferred from several text files as one, as Spark merges them: columns in the
/// order first seen; where the files disagree on a column's type, the wider one (an integer
/// and a double make a double, a date and a timestamp a timestamp), and text when neither
/// holds the other (so every value still reads). Timestamps are Spark's microseconds, whatever
/// fraction the text shows (arrow infers nanoseconds from nine digits, which hold only the years
/// 1677 to 2262).
fn merge_text_schemas(schemas: &[Schema]) -> Schema {
    let mut fields: Vec<(String, DataType)> = Vec::new();
    for schema in schemas {
        for f in schema.fields() {
            match fields.iter_mut().find(|(n, _)| n == f.name()) {
                Some((_, t)) => *t = wider(t, f.data_type()),
                None => fields.push((f.name().clone(), f.data_type().clone())),
            }
        }
    }
    Schema::new(
        fields
            .into_iter()
            .map(|(n, t)| match t {
                DataType::Timestamp(_, tz) => (n, DataType::Timestamp(TimeUnit::Microsecond, tz)),
                t => (n, t),
            })
            .map(|(n, t)| arrow::datatypes::Field::new(n, t, true))
            .collect::<Vec<_>>(),
    )
}

fn wider(a: &DataType, b: &DataType) -> DataType {
    use DataType::*;
    match (a, b) {
        _ if a == b => a.clone(),
        (Null, t) | (t, Null) => t.clone(),
        (Int64, Float64) | (Float64, Int64) => Float64,
        (Date32, t @ Timestamp(..)) | (t @ Timestamp(..), Date32) => t.clone(),
        // `...T10:00:00` and `...T10:00:00.123` infer two units: both become microseconds.
        (Timestamp(_, z), Timestamp(_, w)) if z == w => Timestamp(TimeUnit::Microsecond, z.clone()),
        (List(x), List(y)) => List(Arc::new(arrow::datatypes::Field::new(
            x.name(),
            wider(x.data_type(), y.data_type()),
            true,
        ))),
        (Struct(x), Struct(y)) => {
            let merged = merge_text_schemas(&[Schema::new(x.clone()), Schema::new(y.clone())]);
            Struct(merged.fields().clone())
        }
        _ => Utf8,
    }
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

    /// Kafka values: a value over several lines, a blank one, a bad one, and runs of flat ones
    /// around them, each row or bad record named by its value's index.
    #[test]
    fn json_values_are_rows_or_bad_records_by_their_index() {
        let mut values: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("{{\"a\":{i},\"b\":\"v{i}\"}}").into_bytes())
            .collect();
        values[3] = b"{\n  \"a\": 3,\n  \"b\": \"pretty\"\n}".to_vec();
        values[90] = b"  ".to_vec();
        values[150] = b"{\"a\":\"zz\"}".to_vec();
        let nested = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new(
                "b",
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                true,
            ),
        ]));
        for lines in [true, false] {
            let mut values = values.clone();
            if !lines {
                // No value over two lines: the flat reader reads the runs between the bad ones.
                values[3] = b"{\"a\":3,\"b\":\"pretty\"}".to_vec();
            }
            let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
            let bad = BadRecords::new(BadRecordMode::DeadLetter);
            let origin = |i: usize| ("t/0".to_string(), 1000 + i as u64);
            let batches = decode_json_values(&schema(), &refs, &origin, &bad).unwrap();
            let batch = arrow::compute::concat_batches(&schema(), &batches).unwrap();
            let a: Vec<i64> = batch
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .values()
                .to_vec();
            let want: Vec<i64> = (0..200).filter(|i| ![90, 150].contains(i)).collect();
            assert_eq!(a, want);
            let at: Vec<u64> = bad.take().iter().map(|r| r.line).collect();
            assert_eq!(at, vec![1090, 1150]);
            // A schema the flat reader does not take goes to the general path whole.
            let bad = BadRecords::new(BadRecordMode::DeadLetter);
            let batches = decode_json_values(&nested, &refs, &origin, &bad).unwrap();
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows + bad.count() as usize, 200);
        }
    }

    #[test]
    fn csv_files_that_disagree_on_a_type_infer_the_wider_one() {
        let csv = FileFormat::Csv {
            has_header: true,
            delimiter: b',',
        };
        let samples = [
            Bytes::from_static(b"a,b,c,d,f\n1,1.5,x,2024-01-01,2024-01-01T10:00:00\n"),
            Bytes::from_static(
                b"a,b,c,d,e,f\n2.5,zz,3,2024-01-01T10:00:00,true,2024-01-01T10:00:00.123\n",
            ),
        ];
        let schema = infer_schema(&csv, &samples).unwrap();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), f.data_type()))
            .collect();
        assert_eq!(types[..3], ["a:Float64", "b:Utf8", "c:Utf8"]);
        // Timestamps (of one unit or two: seconds, milliseconds) are Spark's microseconds.
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        assert_eq!(schema.field(3).data_type(), &micros, "{types:?}");
        assert_eq!(schema.field(4).data_type(), &micros, "{types:?}");
        assert_eq!(types[5], "e:Boolean");
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
    fn a_byte_order_mark_at_the_start_of_a_file_is_skipped() {
        let bad = BadRecords::new(BadRecordMode::DeadLetter);
        let json = b"\xEF\xBB\xBF{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n";
        let out = decode_file(
            &FileFormat::Json,
            &schema(),
            Bytes::from_static(json),
            "f.json",
            &bad,
        )
        .unwrap();
        assert_eq!((rows(&out), bad.count()), (2, 0));
        let csv = FileFormat::Csv {
            has_header: true,
            delimiter: b',',
        };
        let text = Bytes::from_static(b"\xEF\xBB\xBFa,b\n1,x\n");
        let inferred = infer_schema(&csv, std::slice::from_ref(&text)).unwrap();
        assert_eq!(inferred.field(0).name(), "a");
        let out = decode_file(&csv, &schema(), text, "f.csv", &bad).unwrap();
        assert_eq!((rows(&out), bad.count()), (1, 0));
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

    /// A text file of a few MiB in pieces: the same rows in the same order as in one piece,
    /// and the same bad records with the same line numbers (a header line counted), in order.
    #[test]
    fn pieces_give_the_same_rows_and_bad_records_as_one() {
        let fmts = [
            (FileFormat::Json, String::new()),
            (
                FileFormat::Csv {
                    has_header: true,
                    delimiter: b',',
                },
                "a,b\n".to_string(),
            ),
        ];
        for (fmt, header) in fmts {
            let mut text = header;
            for i in 0..400_000u64 {
                let line = match (i % 80_000 == 7, &fmt) {
                    (true, FileFormat::Json) => "{broken\n".to_string(),
                    (true, _) => "nope,x\n".to_string(),
                    (false, FileFormat::Json) => format!("{{\"a\":{i},\"b\":\"v{i}\"}}\n"),
                    (false, _) => format!("{i},v{i}\n"),
                };
                text.push_str(&line);
            }
            assert!(
                text.len() > 3 * MIN_PIECE_BYTES,
                "the file is worth 3 pieces"
            );
            let data = Bytes::from(text);
            let decode = |pieces| {
                let bad = BadRecords::new(BadRecordMode::DeadLetter);
                let batches =
                    decode_file_in_pieces(&fmt, &schema(), data.clone(), "f", &bad, pieces)
                        .unwrap();
                let batch = arrow::compute::concat_batches(&schema(), &batches).unwrap();
                let lines: Vec<u64> = bad.take().iter().map(|r| r.line).collect();
                (batch, lines)
            };
            let (one, one_bad) = decode(1);
            let (four, four_bad) = decode(4);
            assert_eq!(one.num_rows(), 400_000 - 5);
            assert_eq!(one, four);
            let header = u64::from(matches!(fmt, FileFormat::Csv { .. }));
            let expected: Vec<u64> = (0..5).map(|k| k * 80_000 + 8 + header).collect();
            assert_eq!(one_bad, expected);
            assert_eq!(four_bad, expected);
        }
    }

    /// The depth rule holds whichever path a file takes: a record nested deeper than the limit
    /// is a bad record, one with more brackets than the limit but shallow is a row, and a value
    /// left open across lines never reaches the decoder whole.
    #[test]
    fn depth_is_bounded_on_the_fast_path() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("xs", DataType::Utf8, true),
        ]));
        let deep = format!("{}1{}", "[".repeat(129), "]".repeat(129));
        let quoted = "[".repeat(200);
        let wide = format!("[{}]", vec!["[1]"; 300].join(","));
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&match i {
                500 => format!("{{\"a\":{i},\"xs\":{deep}}}\n"),
                1000 => format!("{{\"a\":{i},\"xs\":\"{quoted}\"}}\n"),
                1500 => format!("{{\"a\":{i},\"b\":{wide}}}\n"),
                2000 => format!("{{\"a\":{i},\"b\":{}\n", "[".repeat(100)),
                2001 => format!("{}}}\n", "]".repeat(100)),
                _ => format!("{{\"a\":{i}}}\n"),
            });
        }
        let bad = BadRecords::new(BadRecordMode::DeadLetter);
        let batches =
            decode_file(&FileFormat::Json, &schema, Bytes::from(text), "f", &bad).unwrap();
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids.len(), 2997);
        assert!(ids.contains(&1000) && ids.contains(&1500));
        let lines: Vec<u64> = bad.take().iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![501, 2001, 2002]);
    }

    #[test]
    fn lines_split_as_slice_split_does() {
        for text in [
            "", "\n", "a", "a\n", "a\r\nb", "a\n\nb\n", "\r\n\r\n", "x\ry\n",
        ] {
            let ours: Vec<&[u8]> = split_lines(text.as_bytes()).collect();
            let std: Vec<&[u8]> = text
                .as_bytes()
                .split(|b| *b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }

    #[test]
    fn failfast_in_pieces_names_the_first_bad_line() {
        let mut text = String::new();
        for i in 0..150_000u64 {
            text.push_str(&if i == 90_000 || i == 140_000 {
                "{\"a\":\"zz\"}\n".to_string()
            } else {
                format!("{{\"a\":{i},\"b\":\"v{i}\"}}\n")
            });
        }
        let bad = BadRecords::new(BadRecordMode::FailFast);
        let err = decode_file_in_pieces(
            &FileFormat::Json,
            &schema(),
            Bytes::from(text),
            "f",
            &bad,
            3,
        )
        .unwrap_err();
        assert!(err.to_string().contains("f line 90001"), "{err}");
    }
}
