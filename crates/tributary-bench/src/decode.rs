//! `tributary-bench decode [ROWS]`: JSON lines decoded into Arrow on one thread, Tributary's
//! decoder (strict: bad records routed aside with their line, values that do not fit their
//! column refused) against plain arrow-json with the same schema (no checks). The events are
//! the peers benchmark's (`bench/peers`): a timestamp as text, a user id, two short strings and
//! an amount with two decimals. Prints each one's best of three runs and the ratio.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use bytes::Bytes;
use tributary::format::{decode_file, BadRecordMode, BadRecords, FileFormat};
use tributary::prelude::*;

/// The events' columns, as the peers benchmark declares them.
pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("user_id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("page", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

/// `rows` JSON lines shaped as `bench/peers` writes them (100 events per second of event time).
pub(crate) fn events(rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 120);
    for i in 0..rows {
        let ms = i * 10;
        writeln!(
            out,
            "{{\"event_time\":\"2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"user_id\":{},\"region\":\"region-{:02}\",\"page\":\"/p/{}\",\"amount\":{}.{:02}}}",
            1 + ms / 86_400_000 % 28,
            ms / 3_600_000 % 24,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            (i * 7919) % 100_000,
            (i * 31 + 7) % 50,
            i % 20,
            (i * 17 + 3) % 100,
            i % 100
        )
        .expect("writing to memory");
    }
    out
}

fn arrow_json(schema: &SchemaRef, data: &[u8]) -> anyhow::Result<usize> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(8192)
        .build_decoder()?;
    let mut rows = 0;
    let mut buf = data;
    while !buf.is_empty() {
        let read = decoder.decode(buf)?;
        buf = &buf[read..];
        if let Some(b) = decoder.flush()? {
            rows += b.num_rows();
        }
    }
    if let Some(b) = decoder.flush()? {
        rows += b.num_rows();
    }
    Ok(rows)
}

fn tributary_json(schema: &SchemaRef, data: &Bytes) -> anyhow::Result<Vec<RecordBatch>> {
    let (batches, bad) = tributary_json_with_bad(schema, data)?;
    anyhow::ensure!(bad == 0, "the events hold no bad record");
    Ok(batches)
}

/// The batches and the count of bad records.
fn tributary_json_with_bad(
    schema: &SchemaRef,
    data: &Bytes,
) -> anyhow::Result<(Vec<RecordBatch>, u64)> {
    let bad = BadRecords::new(BadRecordMode::DeadLetter);
    let batches = decode_file(&FileFormat::Json, schema, data.clone(), "events.json", &bad)?;
    Ok((batches, bad.count()))
}

/// Lines between two bad records in the run with some (a user id that is not a number).
const BAD_EVERY: usize = 10_000;

/// `data` with every [`BAD_EVERY`]th line (from the middle of the first run) made a bad record.
fn with_bad_lines(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for (i, line) in data.split_inclusive(|b| *b == b'\n').enumerate() {
        if i % BAD_EVERY == BAD_EVERY / 2 {
            out.extend_from_slice(b"{\"user_id\":\"not a number\"}\n");
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

fn best_of_three(mut run: impl FnMut() -> anyhow::Result<usize>) -> anyhow::Result<(f64, usize)> {
    let mut best = f64::INFINITY;
    let mut rows = 0;
    for _ in 0..3 {
        let t = Instant::now();
        rows = run()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok((best, rows))
}

pub(crate) fn run(rows: usize) -> anyhow::Result<()> {
    let schema = schema();
    let data = Bytes::from(events(rows));
    let (plain, plain_rows) = best_of_three(|| arrow_json(&schema, &data))?;
    let (ours, our_rows) = best_of_three(|| {
        Ok(tributary_json(&schema, &data)?
            .iter()
            .map(|b| b.num_rows())
            .sum())
    })?;
    anyhow::ensure!(
        plain_rows == rows && our_rows == rows,
        "both decoders give every row ({plain_rows} and {our_rows} of {rows})"
    );
    let dirty = Bytes::from(with_bad_lines(&data));
    let bad_lines = (rows + BAD_EVERY - BAD_EVERY / 2 - 1) / BAD_EVERY;
    let (with_bad, good_rows) = best_of_three(|| {
        let (batches, bad) = tributary_json_with_bad(&schema, &dirty)?;
        anyhow::ensure!(
            bad as usize == bad_lines,
            "{bad} bad records of {bad_lines}"
        );
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    })?;
    anyhow::ensure!(good_rows == rows - bad_lines, "{good_rows} good rows");
    let mb = data.len() as f64 / 1e6;
    println!("decode benchmark: {rows} JSON lines ({mb:.0} MB) on one thread, best of 3 runs each");
    let line = |name: &str, s: f64| {
        println!(
            "  {name:<34}: {:>6.3} s  {:>10.0} rows/s  {:>6.0} MB/s  {:.2}x of arrow-json's time",
            s,
            rows as f64 / s,
            mb / s,
            s / plain
        )
    };
    line("arrow-json (no checks)", plain);
    line("tributary decode_file (strict)", ours);
    line("the same, 1 bad line in 10,000", with_bad);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type};

    /// The two decoders read the same values from the benchmark's events.
    #[test]
    fn both_decoders_read_the_same_values() {
        let schema = schema();
        let data = events(20_000);
        let ours = arrow::compute::concat_batches(
            &schema,
            &tributary_json(&schema, &Bytes::from(data.clone())).unwrap(),
        )
        .unwrap();
        let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
            .build_decoder()
            .unwrap();
        let mut plain = Vec::new();
        let mut buf = &data[..];
        while !buf.is_empty() {
            let read = decoder.decode(buf).unwrap();
            buf = &buf[read..];
            plain.extend(decoder.flush().unwrap());
        }
        let plain = arrow::compute::concat_batches(&schema, &plain).unwrap();
        assert_eq!(ours, plain);
        assert_eq!(
            ours.column(1).as_primitive::<Int64Type>().value(3),
            3 * 7919
        );
        assert_eq!(ours.column(4).as_primitive::<Float64Type>().value(7), 22.07);
    }
}
