//! Kafka, through librdkafka (`rdkafka`): a source that keeps its offsets in the checkpoint and a
//! sink that writes each epoch in a Kafka transaction.
//!
//! ```text
//!  topic ──► KafkaSource (assign + offsets, no consumer group) ──► epochs ──► ... ──► KafkaSink ──► topic
//!                 offsets/<e>: {"topic":{"0":next,...}}                    transactional.id = tributary-<query id>
//! ```

mod avro;
mod client;
mod options;
mod prefetch;
mod probe;
mod records;
mod sink;
mod source;

pub use client::raw_schema;
pub use options::{parse_offsets, KafkaOptions, Offsets, Start, Topics, ValueFormat};
pub use sink::{write_batch, KafkaSink};
pub use source::KafkaSource;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::TableProvider;

use super::{
    OptionDecl, OptionType, ReadContext, SinkConnector, SourceConnector, StreamSinkContext,
    WriteContext,
};
use crate::error::{Result, TributaryError};
use crate::format::BadRecordMode;
use crate::location::Location;
use crate::sink::Sink;
use crate::source::StreamSource;
use crate::DataFrame;

/// The `kafka` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaConnector;

const CLIENT: &[OptionDecl] = &[OptionDecl::new(
    "kafka.",
    OptionType::Prefix,
    "a librdkafka setting, e.g. kafka.bootstrap.servers (default: the path given to load/start)",
)];

const READ: &[OptionDecl] = &[
    OptionDecl::new("subscribe", OptionType::List, "topics to read"),
    OptionDecl::new("subscribe_pattern", OptionType::Text, "a regex of topics to read"),
    OptionDecl::new("assign", OptionType::Text, "partitions to read, as JSON: {\"topic\":[0,1]}"),
    OptionDecl::new("starting_offsets", OptionType::Text, "earliest, latest, or JSON offsets per partition (default: latest for streams, earliest for batches)"),
    OptionDecl::new("starting_timestamp", OptionType::Int { min: 0 }, "start at the first record at or after this time (ms since 1970)"),
    OptionDecl::new("ending_offsets", OptionType::Text, "batch reads: latest, or JSON offsets per partition").default("latest"),
    OptionDecl::new("max_offsets_per_trigger", OptionType::Int { min: 1 }, "at most this many records per epoch"),
    OptionDecl::new("min_partitions", OptionType::Int { min: 1 }, "split the epoch's records into at least this many partitions"),
    OptionDecl::new("fail_on_data_loss", OptionType::Bool, "stop when records were deleted before they were read").default("true"),
    OptionDecl::new("include_headers", OptionType::Bool, "add the records' headers as a column").default("false"),
    OptionDecl::new("value_format", OptionType::Choice(&["raw", "json", "avro", "avro_confluent"]), "how values decode (json when a schema is given)").default("raw"),
    OptionDecl::new("avro_schema", OptionType::Text, "the Avro writer schema of the values"),
    OptionDecl::new("avro_schema_id", OptionType::Int { min: 0 }, "avro_confluent: the schema id the values must carry"),
    OptionDecl::new("fetch_timeout", OptionType::Duration, "how long a fetch waits for the broker").default("60 seconds"),
    OptionDecl::new("mode", OptionType::Choice(&["PERMISSIVE", "DROPMALFORMED", "FAILFAST", "DEADLETTER"]), "FAILFAST stops at the first undecodable value; the others route it to bad_records_path").default("PERMISSIVE"),
    OptionDecl::new("bad_records_path", OptionType::Path, "where undecodable values go"),
];

const WRITE: &[OptionDecl] = &[
    OptionDecl::new(
        "topic",
        OptionType::Text,
        "the topic of rows without a topic column",
    ),
    OptionDecl::new(
        "exactly_once",
        OptionType::Bool,
        "write each epoch in a Kafka transaction",
    )
    .default("false"),
    OptionDecl::new(
        "marker_topic",
        OptionType::Text,
        "exactly_once: the topic of epoch markers",
    )
    .default("tributary-epochs"),
];

/// The options with `path` (a job file's LOCATION) as the bootstrap servers when
/// `kafka.bootstrap.servers` is not given.
fn with_bootstrap(options: &super::Options, path: &str) -> HashMap<String, String> {
    let mut options = options.as_map();
    if !path.is_empty() && !options.contains_key("kafka.bootstrap.servers") {
        options.insert("kafka.bootstrap.servers".into(), path.to_string());
    }
    options
}

fn source(ctx: &ReadContext<'_>, streaming: bool) -> Result<KafkaSource> {
    let options = &with_bootstrap(ctx.options, ctx.path);
    let opts = KafkaOptions::parse(options.iter(), streaming, true)?;
    let mode = BadRecordMode::parse(options.get("mode"))?;
    let bad_path = match options.get("bad_records_path") {
        Some(p) => Some(Location::resolve(p)?),
        None => None,
    };
    // A declared schema means: decode the values as JSON into it.
    let opts = match (ctx.schema, opts.value_format) {
        (Some(_), ValueFormat::Raw) if !options.contains_key("value_format") => KafkaOptions {
            value_format: ValueFormat::Json,
            ..opts
        },
        _ => opts,
    };
    KafkaSource::new(opts, ctx.schema.cloned(), mode, bad_path)
}

#[async_trait]
impl SourceConnector for KafkaConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[CLIENT, READ]
    }

    /// A topic read as a batch: starting_offsets (default earliest) to ending_offsets.
    async fn read(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn TableProvider>> {
        let source = source(&ctx, false)?;
        let (start, end) = source.batch_range().await?;
        let (batches, bad) = source.read_range(start, end).await?;
        if bad.count() > 0 {
            // A broker address is no folder: by default bad records go under the system's
            // temporary folder, named after it (the warning says where).
            let dir = match source.bad_records_path() {
                Some(d) => d,
                None => Location::resolve(
                    &std::env::temp_dir()
                        .join("tributary-bad-records")
                        .join(ctx.path.replace([':', '/', ','], "_"))
                        .display()
                        .to_string(),
                )?,
            };
            dir.ensure_dir()?;
            bad.flush_to(&dir, "batch-kafka.json").await?;
        }
        let table =
            datafusion::datasource::MemTable::try_new(StreamSource::schema(&source), vec![batches])
                .map_err(TributaryError::df("a Kafka batch read"))?;
        Ok(Arc::new(table))
    }

    async fn read_stream(&self, ctx: ReadContext<'_>) -> Result<Arc<dyn StreamSource>> {
        Ok(Arc::new(source(&ctx, true)?))
    }
}

#[async_trait]
impl SinkConnector for KafkaConnector {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn options(&self) -> &'static [&'static [OptionDecl]] {
        &[CLIENT, WRITE]
    }

    async fn write(&self, ctx: WriteContext<'_>, df: DataFrame) -> Result<u64> {
        let batches = df
            .collect()
            .await
            .map_err(|e| crate::error::from_df_error("running the batch", e))?;
        write_batch(&with_bootstrap(ctx.options, ctx.path), batches).await
    }

    async fn stream_sink(&self, ctx: StreamSinkContext<'_>) -> Result<Arc<dyn Sink>> {
        Ok(Arc::new(KafkaSink::from_options(&with_bootstrap(
            ctx.options,
            ctx.path,
        ))?))
    }
}

/// The Avro fuzz target's body (see `crate::fuzzing`): any bytes give a JSON object or a
/// reason, plain or in Confluent's framing, and never a panic or an unbounded allocation.
pub(crate) fn fuzz_avro_value(data: &[u8]) {
    const SCHEMA: &str = r#"{"type": "record", "name": "event", "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"]},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "double"}},
        {"name": "kind", "type": {"type": "enum", "name": "kind", "symbols": ["a", "b"]}},
        {"name": "raw", "type": {"type": "fixed", "name": "raw", "size": 4}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}}
    ]}"#;
    for confluent in [false, true] {
        let values = avro::AvroValues::from_schema(SCHEMA, confluent).expect("a valid schema");
        if let Ok(json) = values.to_json(data) {
            let parsed: serde_json::Value =
                serde_json::from_slice(&json).expect("the decoder gives JSON");
            assert!(
                parsed.is_object(),
                "a record decodes to an object: {parsed}"
            );
        }
    }
}
