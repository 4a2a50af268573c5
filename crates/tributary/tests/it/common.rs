use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use tributary::prelude::*;

pub(crate) fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("user_id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("tags", DataType::Utf8, true),
    ]))
}

/// Write `n` JSON lines with ids `first..first+n` to `dir/name`.
pub(crate) fn write_events(dir: &Path, name: &str, first: i64, n: i64) {
    std::fs::create_dir_all(dir).unwrap();
    let regions = ["EMEA", "amer", "Apac", "latam", "mars"];
    let mut s = String::new();
    for id in first..first + n {
        let user = if id % 11 == 0 {
            "null".to_string()
        } else {
            (id % 13).to_string()
        };
        s.push_str(&format!(
            "{{\"id\":{id},\"user_id\":{user},\"region\":\"{}\",\"amount\":{}.5,\"tags\":\"t{},t{}\"}}\n",
            regions[(id % 5) as usize],
            id % 100,
            id % 3,
            id % 4
        ));
    }
    // Write then rename, so a stream never sees half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, s).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

pub(crate) fn ids(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column(b.schema().index_of(column).unwrap());
        let c = arrow::compute::cast(c, &DataType::Int64).unwrap();
        let a = c.as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..a.len() {
            if a.is_valid(i) {
                out.push(a.value(i));
            }
        }
    }
    out.sort();
    out
}

pub(crate) async fn read_delta(path: &Path) -> Vec<RecordBatch> {
    let s = Session::new();
    s.read()
        .delta(path.to_str().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

pub(crate) fn regions_csv(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("regions.csv");
    std::fs::write(
        &p,
        "region,country\nemea,Germany\namer,USA\napac,Japan\nlatam,Brazil\n",
    )
    .unwrap();
    p
}

/// A tiny deterministic generator (tests must not depend on a random seed we cannot replay).
pub(crate) struct Lcg(pub u64);
impl Lcg {
    pub(crate) fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound.max(1)
    }
}

pub(crate) fn timed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("user_id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        ),
    ]))
}

/// The event time of event `id`: 5 s apart from 2026-11-21 10:00, out of order by up to 30 s.
pub(crate) fn event_time_of(id: i64) -> chrono::DateTime<chrono::Utc> {
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
        .unwrap()
        .to_utc();
    let jitter = (id * 7919) % 61 - 30;
    base + chrono::Duration::milliseconds(id * 5000 + jitter * 1000 + (id % 7) * 13)
}

/// Write `n` JSON lines with event times (see [`event_time_of`]).
pub(crate) fn write_timed_events(dir: &Path, name: &str, first: i64, n: i64) {
    let lines: Vec<String> = (first..first + n).map(timed_line).collect();
    write_lines(dir, name, &lines);
}

pub(crate) fn timed_line(id: i64) -> String {
    timed_line_at(id, event_time_of(id))
}

pub(crate) fn timed_line_at(id: i64, t: chrono::DateTime<chrono::Utc>) -> String {
    let regions = ["emea", "amer", "apac"];
    let user = if id % 17 == 0 {
        "null".to_string()
    } else {
        (id % 23).to_string()
    };
    format!(
        "{{\"id\":{id},\"user_id\":{user},\"region\":\"{}\",\"amount\":{}.25,\"event_time\":\"{}\"}}",
        regions[(id % 3) as usize],
        id % 50,
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// Write lines to `dir/name` atomically.
pub(crate) fn write_lines(dir: &Path, name: &str, lines: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// What each epoch delivered to a `foreach_batch` sink, by epoch.
pub(crate) type Epochs = Arc<std::sync::Mutex<std::collections::BTreeMap<u64, Vec<RecordBatch>>>>;

/// A `foreach_batch` function that keeps each epoch's rows in `seen`; a re-run epoch replaces
/// what its first attempt delivered.
pub(crate) fn keep_epochs(
    seen: &Epochs,
) -> impl Fn(DataFrame, u64) -> futures::future::BoxFuture<'static, tributary::Result<()>>
       + Send
       + Sync
       + 'static {
    let seen = seen.clone();
    move |df, epoch| {
        let seen = seen.clone();
        Box::pin(async move {
            let b = df.collect().await?;
            seen.lock().unwrap().insert(epoch, b);
            Ok(())
        })
    }
}

/// Every row as its values joined by `sep` (nulls as `NULL`), sorted.
pub(crate) fn sorted_rows(batches: &[RecordBatch], sep: &str) -> Vec<String> {
    let opts = arrow::util::display::FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<_> = b
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                f.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join(sep),
            );
        }
    }
    out.sort();
    out
}

/// The schema of [`prices_at`]: an event time in milliseconds and a price.
pub(crate) fn prices_at_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("price", DataType::Int64, false),
    ]))
}

/// Rows of `(seconds, price)`.
pub(crate) fn prices_at(rows: &[(i64, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        prices_at_schema(),
        vec![
            Arc::new(arrow::array::TimestampMillisecondArray::from(
                rows.iter().map(|r| r.0 * 1000).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// A session with the table `prices`: a memory stream of [`prices_at`] rows, with a watermark
/// on `ts` that trails it by nothing.
pub(crate) fn prices_session() -> (Session, MemoryStream) {
    let stream = MemoryStream::new("prices", prices_at_schema());
    let session = Session::new();
    let df = session
        .read_stream()
        .memory(&stream)
        .unwrap()
        .with_watermark("ts", "0 seconds")
        .unwrap();
    session.register("prices", df).unwrap();
    (session, stream)
}

/// Start `df` as a stream in `mode` that keeps each epoch's rows in `seen`, polling every 5 ms.
pub(crate) async fn start_into(
    df: DataFrame,
    mode: OutputMode,
    checkpoint: &Path,
    seen: &Epochs,
) -> StreamingQuery {
    df.write_stream()
        .output_mode(mode)
        .option("checkpoint_location", checkpoint.to_str().unwrap())
        .trigger(Trigger::ProcessingTime(std::time::Duration::from_millis(5)))
        .foreach_batch(keep_epochs(seen))
        .start("")
        .await
        .unwrap()
}

/// Every row the epochs delivered, in epoch order (each epoch's sorted).
pub(crate) fn emitted_rows(seen: &Epochs) -> Vec<String> {
    seen.lock()
        .unwrap()
        .values()
        .flat_map(|b| sorted_rows(b, "|"))
        .collect()
}

/// The rows the query's stateful operators dropped behind the watermark, over its progress.
pub(crate) fn dropped_by_watermark(q: &StreamingQuery) -> u64 {
    q.recent_progress()
        .iter()
        .flat_map(|p| p.state_operators.iter())
        .map(|s| s["numRowsDroppedByWatermark"].as_u64().unwrap_or(0))
        .sum()
}

/// The schema of key-value rows: `k` BIGINT, `v` VARCHAR.
pub(crate) fn kv_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]))
}

/// Key-value rows with keys `keys` and values `value(k)`.
pub(crate) fn kv_rows(keys: &[i64], value: impl Fn(i64) -> String) -> RecordBatch {
    RecordBatch::try_new(
        kv_schema(),
        vec![
            Arc::new(Int64Array::from(keys.to_vec())),
            Arc::new(arrow::array::StringArray::from(
                keys.iter().map(|&k| value(k)).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}
