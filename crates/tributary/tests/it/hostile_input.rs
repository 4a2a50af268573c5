//! Input a careless or hostile producer writes: odd file names, values that do not fit their
//! columns, broken CSV quoting, deeply nested JSON, damaged Parquet files, files that vanish.
//! Nothing is read as empty, nothing is changed silently, and the query goes on with what it
//! could not read set aside and counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use tributary::prelude::*;
use tributary::TributaryError;

use crate::common::{event_schema, ids, sorted_rows, write_events, write_lines};

/// Every row of `input` read as a stream with AvailableNow into a memory table, with the bad
/// records and their count.
async fn stream_all(
    input: &std::path::Path,
    schema: SchemaRef,
    format: &str,
    options: &[(&str, &str)],
) -> tributary::Result<(Vec<RecordBatch>, u64, Vec<serde_json::Value>)> {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    let session = Session::new();
    let mut reader = session
        .read_stream()
        .format(format)
        .schema(schema)
        .option("bad_records_path", bad.display());
    for (k, v) in options {
        reader = reader.option(k, v);
    }
    let q = reader
        .load(input.to_str().unwrap())
        .await?
        .write_stream()
        .format("memory")
        .query_name("rows")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .start("")
        .await?;
    q.await_termination().await?;
    let bad_count = q.recent_progress().iter().map(|p| p.num_bad_records).sum();
    let rows = session.sql("SELECT * FROM rows").await?.collect().await?;
    Ok((rows, bad_count, bad_records(&bad)))
}

fn bad_records(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    for f in std::fs::read_dir(dir).into_iter().flatten() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        out.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
    out.sort_by_key(|r| (r["source"].to_string(), r["line"].as_u64()));
    out
}

const ODD_NAMES: &[&str] = &[
    "données.json",
    "50%.json",
    "%41.json",
    "a#1.json",
    "why?.json",
    "[b].json",
    "{c}.json",
    "star*.json",
    "with space.json",
    "new\nline.json",
    "back\\slash.json",
];

#[tokio::test]
async fn files_whose_names_hold_any_character_are_read_in_batch_and_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in%41 dir");
    for (i, name) in ODD_NAMES.iter().enumerate() {
        write_events(&input, name, i as i64 * 10, 2);
    }
    let expected: Vec<i64> = (0..ODD_NAMES.len() as i64)
        .flat_map(|i| [i * 10, i * 10 + 1])
        .collect();
    let session = Session::new();
    let batch = session
        .read()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&batch, "id"), expected, "batch read");
    let (rows, bad, _) = stream_all(&input, event_schema(), "json", &[])
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), expected, "stream read");
    assert_eq!(bad, 0);
}

fn typed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("at", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("amount", DataType::Float64, true),
        Field::new(
            "xs",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        ),
    ]))
}

#[tokio::test]
async fn json_values_that_do_not_fit_their_columns_go_to_the_bad_records() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    write_lines(
        &input,
        "a.json",
        &[
            r#"{"id":1,"at":"2026-11-21T10:00:00Z","amount":1.5,"xs":[1]}"#.into(),
            r#"{"id":2,"at":1700000000,"amount":2}"#.into(),
            r#"{"id":1.7,"at":"2026-11-21T10:00:00Z"}"#.into(),
            r#"{"id":99999999999999999999}"#.into(),
            r#"{"id":5,"amount":1e400}"#.into(),
            r#"{"id":6,"at":"not a time"}"#.into(),
            format!(r#"{{"id":7,"xs":{deep}}}"#),
            r#"{"id":8}{"id":9}"#.into(),
            r#"{"id":10,"amount":"-Infinity"}"#.into(),
        ],
    );
    let (rows, bad, records) = stream_all(&input, typed_schema(), "json", &[])
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), vec![1, 2, 10]);
    let at = sorted_rows(&rows, "|");
    assert!(
        at.iter().any(|r| r.starts_with("2|2023-11-14T22:13:20")),
        "an integer in a TIMESTAMP column is seconds since 1970: {at:?}"
    );
    assert_eq!(bad, 6);
    let lines: Vec<u64> = records
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8]);
    let reason = |line: u64| {
        records.iter().find(|r| r["line"] == line).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        reason(3).contains("'1.7' of column 'id' does not fit BIGINT"),
        "{}",
        reason(3)
    );
    assert!(reason(5).contains("out of range"), "{}", reason(5));
    assert!(reason(7).contains("levels deep"), "{}", reason(7));
    assert!(
        reason(8).contains("exactly one JSON object"),
        "{}",
        reason(8)
    );
    assert!(
        records
            .iter()
            .all(|r| r["reason"].as_str().unwrap().len() < 400),
        "reasons are capped"
    );
}

#[tokio::test]
async fn an_unclosed_csv_quote_is_one_bad_record_and_swallows_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    write_lines(
        &input,
        "a.csv",
        &[
            "id,name".into(),
            "1,one".into(),
            "2,\"unclosed".into(),
            "3,three".into(),
            "x,bad id".into(),
            "4,\"quoted, with comma\"".into(),
            "5,".into(),
        ],
    );
    let (rows, bad, records) = stream_all(&input, schema, "csv", &[]).await.unwrap();
    assert_eq!(ids(&rows, "id"), vec![1, 3, 4, 5]);
    assert_eq!(bad, 2);
    assert_eq!(
        records
            .iter()
            .map(|r| r["line"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![3, 5]
    );
    assert_eq!(records[0]["record"], "2,\"unclosed");
}

fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

#[tokio::test]
async fn a_bad_parquet_file_is_set_aside_and_the_stream_goes_on() {
    use arrow::array::{Int64Array, StringArray};
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let good = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["a", "b"])),
        ],
    )
    .unwrap();
    write_parquet(&input.join("1-good.parquet"), &good);
    let bytes = std::fs::read(input.join("1-good.parquet")).unwrap();
    std::fs::write(input.join("2-truncated.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(input.join("3-empty.parquet"), b"").unwrap();
    std::fs::write(input.join("4-text.parquet"), b"{\"id\": 1}\n").unwrap();
    let unrelated = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "other",
            DataType::Int64,
            true,
        )])),
        vec![Arc::new(Int64Array::from(vec![7, 8]))],
    )
    .unwrap();
    write_parquet(&input.join("5-unrelated.parquet"), &unrelated);
    let mistyped = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["3", "abc"])),
            Arc::new(StringArray::from(vec!["c", "d"])),
        ],
    )
    .unwrap();
    write_parquet(&input.join("6-mistyped.parquet"), &mistyped);
    let (rows, bad, records) = stream_all(&input, schema.clone(), "parquet", &[])
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), vec![1, 2, 3]);
    assert_eq!(bad, 5);
    let sources: Vec<String> = records
        .iter()
        .map(|r| {
            let s = r["source"].as_str().unwrap();
            s.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        sources,
        vec![
            "2-truncated.parquet",
            "3-empty.parquet",
            "4-text.parquet",
            "5-unrelated.parquet",
            "6-mistyped.parquet"
        ]
    );
    assert!(records[3]["reason"]
        .as_str()
        .unwrap()
        .contains("none of the declared columns"));
    assert_eq!(
        records[4]["line"], 2,
        "the mistyped row is the file's second"
    );
    // FAILFAST keeps the stop, naming a bad file (files are decoded in parallel: whichever
    // is met first).
    let err = stream_all(&input, schema, "parquet", &[("mode", "FAILFAST")])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        sources
            .iter()
            .any(|bad_file| err.contains(bad_file.as_str())),
        "{err}"
    );
}

/// A query over `input` (with `options`) into a sink that fails while `fail` is set and
/// otherwise keeps the rows in `seen`: the first run plans an epoch (its files and their sizes
/// go into the checkpoint) and fails, so the next run reads the same epoch again. Runs with
/// AvailableNow to the end; the progress records.
#[derive(Clone)]
struct FlakySink {
    input: std::path::PathBuf,
    ckpt: std::path::PathBuf,
    fail: Arc<AtomicBool>,
    seen: Arc<std::sync::Mutex<Vec<RecordBatch>>>,
}

impl FlakySink {
    fn new(input: std::path::PathBuf, ckpt: std::path::PathBuf) -> Self {
        FlakySink {
            input,
            ckpt,
            fail: Arc::new(AtomicBool::new(true)),
            seen: Arc::default(),
        }
    }

    async fn run(
        &self,
        options: &[(&str, String)],
    ) -> tributary::Result<Vec<tributary::StreamingQueryProgress>> {
        let session = Session::new();
        let mut reader = session.read_stream().schema(event_schema());
        for (k, v) in options {
            reader = reader.option(k, v);
        }
        let (fail, seen) = (self.fail.clone(), self.seen.clone());
        let q = reader
            .json(self.input.to_str().unwrap())
            .await?
            .write_stream()
            .trigger(Trigger::AvailableNow)
            .option("checkpoint_location", self.ckpt.display())
            .foreach_batch(move |df, _epoch| {
                let (fail, seen) = (fail.clone(), seen.clone());
                async move {
                    if fail.load(Ordering::SeqCst) {
                        return Err(TributaryError::Plan("the sink is down".into()));
                    }
                    let rows = df.collect().await?;
                    seen.lock().unwrap().extend(rows);
                    Ok(())
                }
            })
            .start("")
            .await?;
        q.await_termination().await?;
        Ok(q.recent_progress())
    }

    fn ids(&self) -> Vec<i64> {
        ids(&self.seen.lock().unwrap(), "id")
    }
}

#[tokio::test]
async fn a_listed_file_that_is_gone_stops_the_query_naming_it_unless_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_events(&input, "a.json", 0, 3);
    write_events(&input, "b.json", 3, 3);
    // The first run plans the epoch (both files are in its log) and fails in the sink.
    let sink = FlakySink::new(input.clone(), tmp.path().join("ckpt"));
    assert!(sink.run(&[]).await.is_err());
    std::fs::remove_file(input.join("b.json")).unwrap();
    sink.fail.store(false, Ordering::SeqCst);
    let err = sink.run(&[]).await.unwrap_err().to_string();
    assert!(
        err.contains("b.json") && err.contains("ignore_missing_files"),
        "{err}"
    );
    assert!(sink.ids().is_empty(), "nothing was delivered");
    let progress = sink
        .run(&[("ignore_missing_files", "true".into())])
        .await
        .unwrap();
    assert_eq!(sink.ids(), vec![0, 1, 2]);
    assert_eq!(progress.iter().map(|p| p.num_bad_records).sum::<u64>(), 1);
}

#[tokio::test]
async fn bad_lines_of_a_static_table_are_recorded_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, dim, ckpt) = (
        tmp.path().join("in"),
        tmp.path().join("dim"),
        tmp.path().join("ck"),
    );
    write_events(&input, "a.json", 0, 10);
    write_lines(
        &dim,
        "regions.csv",
        &[
            "region,population".into(),
            "emea,700".into(),
            "amer,lots".into(),
            "apac,4000".into(),
        ],
    );
    let session = Session::new();
    let regions = session
        .read()
        .schema(Arc::new(Schema::new(vec![
            Field::new("region", DataType::Utf8, true),
            Field::new("population", DataType::Int64, true),
        ])))
        .option("header", "true")
        .csv(dim.to_str().unwrap())
        .await
        .unwrap();
    session.register("regions", regions).unwrap();
    let events = session
        .read_stream()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    session.register("events", events).unwrap();
    let q = session
        .sql("SELECT e.id, r.population FROM events e JOIN regions r ON lower(e.region) = r.region")
        .await
        .unwrap()
        .write_stream()
        .format("memory")
        .query_name("static_bad")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", ckpt.display())
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let rows = session
        .sql("SELECT id FROM static_bad")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    // emea (ids 0, 5) and apac (ids 2, 7) joined; the amer line went aside.
    assert_eq!(ids(&rows, "id"), vec![0, 2, 5, 7]);
    let recorded = bad_records(&ckpt.join("bad_records"));
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert!(
        recorded[0].to_string().contains("amer,lots"),
        "{recorded:?}"
    );
    let names: Vec<String> = std::fs::read_dir(ckpt.join("bad_records"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.len() == 1 && names[0].ends_with("-static-0.json"),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_file_that_grows_after_it_was_listed_is_read_to_its_listed_lines_and_the_rest_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, ckpt, bad) = (
        tmp.path().join("in"),
        tmp.path().join("ckpt"),
        tmp.path().join("bad"),
    );
    write_events(&input, "a.json", 0, 3);
    // The first run lists a.json (its size goes into the epoch's list) and fails in the sink.
    let sink = FlakySink::new(input.clone(), ckpt);
    let options = [("bad_records_path", bad.display().to_string())];
    assert!(sink.run(&options).await.is_err());
    // The writer was not done: a half line, then more lines, land after the listing.
    let path = input.join("a.json");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let listed = text.len();
    text.push_str("{\"id\":3,\"user_id\":1}\n{\"id\":4}\n");
    std::fs::write(&path, &text).unwrap();
    sink.fail.store(false, Ordering::SeqCst);
    let progress = sink.run(&options).await.unwrap();
    assert_eq!(sink.ids(), vec![0, 1, 2]);
    assert_eq!(progress.iter().map(|p| p.num_bad_records).sum::<u64>(), 1);
    let recorded = bad_records(&bad);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let reason = recorded[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("grew after it was listed") && reason.contains(&format!("{listed} bytes")),
        "{reason}"
    );
    assert!(recorded[0]["record"].as_str().unwrap().contains("\"id\":4"));
}

fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn compressed_files_are_read_by_their_extension_and_a_broken_one_is_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let line = |id: i64| format!("{{\"id\": {id}, \"region\": \"r{id}\"}}\n");
    write_events(&input, "1-plain.json", 0, 2);
    let text: String = (10..13).map(line).collect();
    std::fs::write(input.join("2-rows.json.gz"), gzip(text.as_bytes())).unwrap();
    // `cat a.gz b.gz`: two gzip members, one text.
    let mut members = gzip(line(20).as_bytes());
    members.extend(gzip(line(21).as_bytes()));
    std::fs::write(input.join("3-members.JSON.GZ"), members).unwrap();
    // Named gzip, but plain text: it does not decompress and goes aside whole.
    std::fs::write(input.join("4-not-gzip.json.gz"), line(30)).unwrap();
    // A codec Tributary does not read is refused, not read as text.
    std::fs::write(input.join("5-hadoop.json.snappy"), line(40)).unwrap();
    let expected = vec![0, 1, 10, 11, 12, 20, 21];
    let session = Session::new();
    let batch = session
        .read()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&batch, "id"), expected, "batch read");
    let (rows, bad, records) = stream_all(&input, event_schema(), "json", &[])
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), expected, "stream read");
    assert_eq!(bad, 2, "{records:?}");
    let reasons: Vec<String> = records.iter().map(|r| r["reason"].to_string()).collect();
    assert!(
        reasons[0].contains("gzip compressed, but it does not decompress"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("snappy"), "{reasons:?}");
    // A CSV read without a schema infers it from the decompressed text.
    let csv = tmp.path().join("csv");
    std::fs::create_dir_all(&csv).unwrap();
    std::fs::write(csv.join("a.csv.gz"), gzip(b"id,name\n1,x\n2,y\n")).unwrap();
    let rows = session
        .read()
        .option("header", "true")
        .csv(csv.to_str().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), vec![1, 2]);
    // A path to one compressed file, without a schema: inferred from the decompressed text.
    let rows = session
        .read()
        .option("header", "true")
        .csv(csv.join("a.csv.gz").to_str().unwrap())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), vec![1, 2]);
}

#[tokio::test]
async fn parquet_columns_are_matched_regardless_of_case_as_in_spark() {
    use arrow::array::{Int64Array, StringArray};
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let batch = |names: [&str; 2], id: i64| {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new(names[0], DataType::Int64, true),
                Field::new(names[1], DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![id])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap()
    };
    write_parquet(&input.join("1.parquet"), &batch(["ID", "Region"], 1));
    write_parquet(&input.join("2.parquet"), &batch(["id", "region"], 2));
    // Two columns spelled alike: ambiguous, set aside with the reason.
    write_parquet(&input.join("3.parquet"), &batch(["Id", "ID"], 3));
    let schema = event_schema();
    let (rows, bad, records) = stream_all(&input, schema, "parquet", &[]).await.unwrap();
    assert_eq!(ids(&rows, "id"), vec![1, 2]);
    let regions = arrow::compute::concat_batches(&rows[0].schema(), &rows).unwrap();
    let regions = regions.column_by_name("region").unwrap();
    assert_eq!(regions.null_count(), 0, "Region read as region");
    assert_eq!(bad, 1);
    assert!(
        records[0]["reason"]
            .to_string()
            .contains("matches both 'Id' and 'ID'"),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_csv_without_a_header_read_with_one_loses_no_row_unseen() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    // No header, read with has_header true (the default): the first line reads as a row.
    write_lines(&input, "a.csv", &["1,alice".into(), "2,bob".into()]);
    // A real header: skipped quietly, also when it names only some columns (or in another
    // case) and the rest would read as data.
    write_lines(&input, "b.csv", &["id,name".into(), "3,carl".into()]);
    write_lines(&input, "c.csv", &["ID,7".into(), "4,dan".into()]);
    let (rows, bad, records) = stream_all(&input, schema.clone(), "csv", &[])
        .await
        .unwrap();
    assert_eq!(ids(&rows, "id"), vec![2, 3, 4]);
    assert_eq!(bad, 1, "{records:?}");
    assert_eq!(records[0]["record"], "1,alice");
    assert!(
        records[0]["reason"]
            .to_string()
            .contains("set has_header 'false' (Spark's default)"),
        "{records:?}"
    );
    // Told there is no header, every row is read.
    std::fs::remove_file(input.join("b.csv")).unwrap();
    std::fs::remove_file(input.join("c.csv")).unwrap();
    let (rows, bad, _) = stream_all(&input, schema, "csv", &[("has_header", "false")])
        .await
        .unwrap();
    assert_eq!((ids(&rows, "id"), bad), (vec![1, 2], 0));
}

/// Spark's `partitionBy` layout, both ways: a stream writes JSON under `region=.../` folders
/// (the files without the column), and a stream and a batch read the folder back with the
/// region from the folder names; a batch read without a schema discovers the column; a folder
/// value that is not of the declared type sends its file aside, named.
#[tokio::test]
async fn partition_folders_are_written_and_discovered_as_in_spark() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    write_events(&input, "a.json", 0, 10);
    let session = Session::new();
    let q = session
        .read_stream()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap()
        .write_stream()
        .format("json")
        .option("partition_by", "region")
        .option("checkpoint_location", tmp.path().join("ckpt").display())
        .trigger(Trigger::AvailableNow)
        .start(out.to_str().unwrap())
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let mut folders: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        [
            "region=Apac",
            "region=EMEA",
            "region=amer",
            "region=latam",
            "region=mars"
        ]
    );
    let file = std::fs::read_dir(out.join("region=EMEA"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.contains("\"id\":0") && !text.contains("region"),
        "{text}"
    );
    // Read back: the region comes from the folders.
    let (rows, bad, _) = stream_all(&out, event_schema(), "json", &[]).await.unwrap();
    assert_eq!(bad, 0);
    let expected: Vec<String> = (0..10)
        .map(|id| format!("{id}|{}", ["EMEA", "amer", "Apac", "latam", "mars"][id % 5]))
        .collect();
    let pairs = |batches: &[RecordBatch]| {
        let mut v: Vec<String> = sorted_rows(batches, "|")
            .into_iter()
            .map(|r| {
                let f: Vec<&str> = r.split('|').collect();
                format!("{}|{}", f[0], f[2])
            })
            .collect();
        v.sort_by_key(|s| s.split('|').next().unwrap().parse::<i64>().unwrap());
        v
    };
    assert_eq!(pairs(&rows), expected);
    let inferred = session.read().json(out.to_str().unwrap()).await.unwrap();
    let names: Vec<String> = inferred
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("region"),
        "{names:?}"
    );
    let batch = inferred.collect().await.unwrap();
    assert_eq!(ids(&batch, "id"), (0..10).collect::<Vec<_>>());
    // `region` declared as a number: the folders' text does not convert, each file goes aside.
    let numeric = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, true),
        arrow::datatypes::Field::new("region", arrow::datatypes::DataType::Int64, true),
    ]));
    let (rows, bad, records) = stream_all(&out, numeric, "json", &[]).await.unwrap();
    assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    assert_eq!(bad, 5, "{records:?}");
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the partition folder 'region=Apac' does not hold a value of column 'region', which is BIGINT"),
        "{records:?}"
    );
}
