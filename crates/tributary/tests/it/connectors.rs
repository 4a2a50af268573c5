//! The connector seam from outside the crate: a connector of the test's own, registered by
//! name, and options that speak up when misspelled.

use std::sync::{Arc, Mutex};

use arrow::array::{Int64Array, RecordBatch};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use serde_json::{json, Value};
use tributary::checkpoint::Epoch;
use tributary::connector::{
    OptionDecl, OptionType, ReadContext, SinkConnector, SourceConnector, StreamSinkContext,
};
use tributary::prelude::*;
use tributary::sink::{EpochOutput, Sink};
use tributary::source::{EpochInput, StreamSource};

use crate::common::{event_schema, write_events};

/// An example source: the numbers `0..limit`, `per_epoch` of them per epoch. Its offset is the
/// next number to read.
#[derive(Debug)]
struct NumbersConnector;

const NUMBERS_OPTIONS: &[OptionDecl] = &[
    OptionDecl::new("limit", OptionType::Int { min: 0 }, "how many numbers").default("10"),
    OptionDecl::new("per_epoch", OptionType::Int { min: 1 }, "numbers per epoch").default("4"),
];

#[derive(Debug, Clone)]
struct NumbersSource {
    limit: i64,
    per_epoch: i64,
}

fn numbers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
}

fn numbers(from: i64, to: i64) -> RecordBatch {
    RecordBatch::try_new(
        numbers_schema(),
        vec![Arc::new(Int64Array::from_iter_values(from..to))],
    )
    .unwrap()
}

#[async_trait]
impl StreamSource for NumbersSource {
    fn description(&self) -> String {
        format!("Numbers[{}]", self.limit)
    }
    fn schema(&self) -> SchemaRef {
        numbers_schema()
    }
    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(self.clone())
    }
    async fn latest_offset(
        &self,
        start: &Value,
        limited: bool,
        _epoch: Epoch,
    ) -> tributary::Result<Option<Value>> {
        let from = start.as_i64().unwrap_or(0);
        let to = if limited {
            (from + self.per_epoch).min(self.limit)
        } else {
            self.limit
        };
        Ok((to > from).then(|| json!(to)))
    }
    async fn get_batch(
        &self,
        start: &Value,
        end: &Value,
        _epoch: Epoch,
    ) -> tributary::Result<EpochInput> {
        let batch = numbers(start.as_i64().unwrap_or(0), end.as_i64().unwrap());
        let rows = batch.num_rows() as u64;
        Ok(EpochInput {
            table: Arc::new(MemTable::try_new(numbers_schema(), vec![vec![batch]]).unwrap()),
            bad_records: None,
            rows: Arc::new(rows.into()),
        })
    }
}

#[async_trait]
impl SourceConnector for NumbersConnector {
    fn name(&self) -> &'static str {
        "numbers"
    }
    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[NUMBERS_OPTIONS]
    }
    async fn read(
        &self,
        ctx: ReadContext<'_>,
    ) -> tributary::Result<Arc<dyn datafusion::datasource::TableProvider>> {
        let limit = ctx.options.int("limit").unwrap();
        Ok(Arc::new(
            MemTable::try_new(numbers_schema(), vec![vec![numbers(0, limit)]]).unwrap(),
        ))
    }
    async fn read_stream(&self, ctx: ReadContext<'_>) -> tributary::Result<Arc<dyn StreamSource>> {
        Ok(Arc::new(NumbersSource {
            limit: ctx.options.int("limit").unwrap(),
            per_epoch: ctx.options.int("per_epoch").unwrap(),
        }))
    }
}

/// What the example sink collected: (epoch, numbers) in commit order.
type Collected = Arc<Mutex<Vec<(u64, Vec<i64>)>>>;

/// An example sink: every epoch's numbers, kept in a shared list (its `path` is ignored).
#[derive(Debug, Default, Clone)]
struct CollectConnector {
    got: Collected,
}

#[derive(Debug)]
struct CollectSink {
    got: Collected,
}

#[async_trait]
impl Sink for CollectSink {
    fn description(&self) -> String {
        "Collect".into()
    }
    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> tributary::Result<()> {
        let mut got = self.got.lock().unwrap();
        // Idempotent per epoch, as a sink must be.
        got.retain(|(e, _)| *e != epoch.0);
        got.push((epoch.0, crate::common::ids(&output.batches, "n")));
        Ok(())
    }
}

#[async_trait]
impl SinkConnector for CollectConnector {
    fn name(&self) -> &'static str {
        "collect"
    }
    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[]
    }
    async fn stream_sink(&self, _ctx: StreamSinkContext<'_>) -> tributary::Result<Arc<dyn Sink>> {
        Ok(Arc::new(CollectSink {
            got: self.got.clone(),
        }))
    }
}

#[tokio::test]
async fn a_connector_of_our_own_is_found_by_name_for_batch_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::new();
    session.register_source(Arc::new(NumbersConnector));
    let collect = CollectConnector::default();
    session.register_sink(Arc::new(collect.clone()));

    let batch = session
        .read()
        .format("numbers")
        .option("limit", 5)
        .load("")
        .await
        .unwrap();
    let rows = batch.collect().await.unwrap();
    assert_eq!(crate::common::ids(&rows, "n"), vec![0, 1, 2, 3, 4]);

    // Spark's camelCase spelling reaches the declared option.
    let stream = session
        .read_stream()
        .format("numbers")
        .option("perEpoch", 4)
        .load("")
        .await
        .unwrap();
    let q = stream
        .filter(col("n").gt_eq(lit(1)))
        .unwrap()
        .write_stream()
        .format("collect")
        .trigger(Trigger::AvailableNow)
        .option("checkpoint_location", dir.path().join("ckpt").display())
        .start("")
        .await
        .unwrap();
    q.await_termination().await.unwrap();
    let got = collect.got.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![(0, vec![1, 2, 3]), (1, vec![4, 5, 6, 7]), (2, vec![8, 9])],
        "the declared default limit (10) and the per-epoch option both apply"
    );

    // The connector's options are checked like the built-in ones.
    let err = session
        .read_stream()
        .format("numbers")
        .option("limt", 3)
        .load("")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown option 'limt' for format 'numbers'; did you mean 'limit'?"),
        "{err}"
    );
    let err = session
        .read_stream()
        .format("numbers")
        .option("per_epoch", 0)
        .load("")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("'0' is not a whole number >= 1"), "{err}");
}

#[tokio::test]
async fn misspelled_options_of_built_in_formats_are_errors_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_events(&input, "a.json", 0, 3);
    let session = Session::new();
    let input = input.display().to_string();

    let err = session
        .read_stream()
        .schema(event_schema())
        .format("json")
        .option("max_file_per_trigger", "1")
        .load(&input)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "unknown option 'max_file_per_trigger' for format 'json'; did you mean 'max_files_per_trigger'?"
        ),
        "{err}"
    );
    let err = session
        .read()
        .format("csv")
        .option("delimeter", ";")
        .load(&input)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean 'delimiter'?"), "{err}");
    let err = session
        .read_stream()
        .format("rate")
        .option("rows_per_second", "fast")
        .load("")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rows_per_second") && err.contains("'fast' is not a whole number >= 1"),
        "{err}"
    );
    let err = session
        .read_stream()
        .format("delta")
        .option("version_as_of", "1")
        .load(&input)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not apply to a stream"), "{err}");
    let err = session
        .read_stream()
        .format("jsn")
        .load(&input)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown source format 'jsn'"), "{err}");

    // The writer: the sink's options and the query's.
    let stream = || async {
        session
            .read_stream()
            .schema(event_schema())
            .json(&input)
            .await
            .unwrap()
    };
    let out = dir.path().join("out").display().to_string();
    let err = stream()
        .await
        .write_stream()
        .format("delta")
        .option("checkpoint_locaton", dir.path().join("c").display())
        .start(&out)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean 'checkpoint_location'?"), "{err}");
    let err = stream()
        .await
        .write_stream()
        .format("delta")
        .option("checkpoint_location", dir.path().join("c").display())
        .option("state_partitions", "four")
        .start(&out)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("option 'state_partitions': 'four' is not a whole number >= 1"),
        "{err}"
    );
    let err = stream()
        .await
        .write_stream()
        .format("delta")
        .option("checkpoint_location", dir.path().join("c").display())
        .option("merge_key", "id")
        .start(&out)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean 'merge_keys'?"), "{err}");
    let err = stream()
        .await
        .write()
        .format("delta")
        .option("mergeSchema", "true")
        .save(&out)
        .await;
    assert!(err.is_err(), "a stream cannot be written as a batch");
    let batch = session
        .read()
        .schema(event_schema())
        .json(&input)
        .await
        .unwrap();
    let err = batch
        .write()
        .format("parquet")
        .option("compresion", "zstd")
        .save(&out)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown option 'compresion' for format 'parquet'"),
        "{err}"
    );
}
