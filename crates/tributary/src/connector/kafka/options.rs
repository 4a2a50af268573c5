//! Options of the Kafka source and sink, with Spark's names in snake case.
//!
//! | option | meaning |
//! |---|---|
//! | `kafka.bootstrap.servers` (required) | `host:port,...` |
//! | `kafka.<any librdkafka property>` | passed through (SASL, SSL, timeouts, `isolation.level`, ...) |
//! | `subscribe` / `subscribe_pattern` / `assign` | the topics: a list, a regex, or `{"topic":[0,1]}` |
//! | `starting_offsets` | `earliest`, `latest` (default for streams), or `{"topic":{"0":23,"1":-2}}` (-2 earliest, -1 latest) |
//! | `starting_timestamp` | milliseconds: start each partition at the first record at or after it |
//! | `ending_offsets` | batch reads: `latest` (default) or per-partition JSON |
//! | `max_offsets_per_trigger` | at most this many records per epoch, split over partitions by lag |
//! | `fail_on_data_loss` | `true` (default): stop when records to read were deleted by the broker |
//! | `include_headers` | add the `headers` column |
//! | `value_format` | `raw` (Spark's columns) or `json` (decode `value` into the declared schema) |
//! | `fetch_timeout` | how long an epoch may wait for its records (default `60 seconds`) |
//! | `min_partitions` | read each epoch in at least this many parallel tasks (large ranges are split) |

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Result, TributaryError};
use crate::modes::parse_duration;

/// Per topic, per partition: an offset.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// Which topics to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topics {
    /// These topics, all their partitions.
    Subscribe(Vec<String>),
    /// Topics whose name matches.
    Pattern(String),
    /// These partitions.
    Assign(BTreeMap<String, Vec<i32>>),
}

/// Where reading starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The earliest offset still kept.
    Earliest,
    /// The end of each partition when the query first starts.
    Latest,
    /// Given offsets (-2: earliest, -1: latest).
    Offsets(Offsets),
    /// The first record at or after this time (ms).
    Timestamp(i64),
}

/// How `value` is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// Spark's columns: key, value (binary), topic, partition, offset, timestamp, timestamp_type.
    Raw,
    /// `value` is a JSON object decoded into the declared columns.
    Json,
    /// `value` is an Avro datum of the schema `avro_schema`.
    Avro,
    /// Confluent's wire format: a zero byte, a 4-byte schema id, then the Avro datum.
    AvroConfluent,
}

/// Parsed options.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// librdkafka properties (`kafka.` stripped).
    pub client: BTreeMap<String, String>,
    /// The topics.
    pub topics: Topics,
    /// Where to start.
    pub start: Start,
    /// Where a batch read ends (`None`: latest).
    pub end: Option<Offsets>,
    /// Rate limit per epoch.
    pub max_offsets_per_trigger: Option<u64>,
    /// Stop on lost records.
    pub fail_on_data_loss: bool,
    /// Add the headers column.
    pub include_headers: bool,
    /// How values are decoded.
    pub value_format: ValueFormat,
    /// How long an epoch waits for its records.
    pub fetch_timeout: Duration,
    /// Read an epoch in at least this many parallel tasks, splitting large partition ranges.
    pub min_partitions: Option<usize>,
    /// The Avro writer schema (JSON), for the Avro formats.
    pub avro_schema: Option<String>,
    /// The schema id a Confluent-framed value must carry, if given.
    pub avro_schema_id: Option<u32>,
}

fn opt_err(option: &str, message: impl Into<String>) -> TributaryError {
    TributaryError::option(option, message)
}

/// Parse `{"topic":{"0":23}}`.
pub fn parse_offsets(option: &str, v: &str) -> Result<Offsets> {
    let json: Value = serde_json::from_str(v).map_err(|e| {
        opt_err(
            option,
            format!("'{v}' is not JSON like {{\"topic\":{{\"0\":23}}}}: {e}"),
        )
    })?;
    let mut out = Offsets::new();
    let obj = json
        .as_object()
        .ok_or_else(|| opt_err(option, "expected an object of topics"))?;
    for (topic, parts) in obj {
        let parts = parts.as_object().ok_or_else(|| {
            opt_err(
                option,
                format!("topic '{topic}': expected {{\"partition\": offset}}"),
            )
        })?;
        let mut m = BTreeMap::new();
        for (p, o) in parts {
            let p: i32 = p
                .parse()
                .map_err(|_| opt_err(option, format!("'{p}' is not a partition number")))?;
            let o = o.as_i64().ok_or_else(|| {
                opt_err(
                    option,
                    format!("topic '{topic}' partition {p}: not an offset"),
                )
            })?;
            m.insert(p, o);
        }
        out.insert(topic.clone(), m);
    }
    Ok(out)
}

fn flag(options: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => crate::connector::options::parse_bool(v)
            .ok_or_else(|| opt_err(key, format!("'{v}' is not true or false"))),
    }
}

impl KafkaOptions {
    /// Parse reader/writer options; `streaming` decides the default start (latest vs earliest).
    pub fn parse<'a>(
        options: impl IntoIterator<Item = (&'a String, &'a String)>,
        streaming: bool,
        need_topics: bool,
    ) -> Result<KafkaOptions> {
        let options: BTreeMap<String, String> = options
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let client: BTreeMap<String, String> = options
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("kafka.").map(|k| (k.to_string(), v.clone())))
            .collect();
        if !client.contains_key("bootstrap.servers") {
            return Err(opt_err(
                "kafka.bootstrap.servers",
                "the Kafka brokers are required, e.g. .option(\"kafka.bootstrap.servers\", \"host:9092\")",
            ));
        }
        let given: Vec<&str> = ["subscribe", "subscribe_pattern", "assign"]
            .into_iter()
            .filter(|k| options.contains_key(*k))
            .collect();
        let topics = match given.as_slice() {
            ["subscribe"] => Topics::Subscribe(
                options["subscribe"]
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect(),
            ),
            ["subscribe_pattern"] => {
                let p = options["subscribe_pattern"].clone();
                regex::Regex::new(&p)
                    .map_err(|e| opt_err("subscribe_pattern", format!("'{p}' is not a regex: {e}")))?;
                Topics::Pattern(p)
            }
            ["assign"] => {
                let v = &options["assign"];
                let parsed: BTreeMap<String, Vec<i32>> = serde_json::from_str(v).map_err(|e| {
                    opt_err("assign", format!("'{v}' is not JSON like {{\"topic\":[0,1]}}: {e}"))
                })?;
                Topics::Assign(parsed)
            }
            [] if !need_topics => Topics::Subscribe(Vec::new()),
            [] => {
                return Err(opt_err(
                    "subscribe",
                    "say which topics to read: 'subscribe' (a list), 'subscribe_pattern' (a regex) or 'assign' (JSON)",
                ))
            }
            many => {
                return Err(opt_err(
                    many[0],
                    format!("give one of subscribe, subscribe_pattern and assign, not {}", many.join(" and ")),
                ))
            }
        };
        let start = match (
            options.get("starting_offsets"),
            options.get("starting_timestamp"),
        ) {
            (Some(_), Some(_)) => {
                return Err(opt_err(
                    "starting_timestamp",
                    "give starting_offsets or starting_timestamp, not both",
                ))
            }
            (None, Some(ts)) => Start::Timestamp(ts.parse().map_err(|_| {
                opt_err(
                    "starting_timestamp",
                    format!("'{ts}' is not milliseconds since 1970"),
                )
            })?),
            (Some(v), None) => match v.to_ascii_lowercase().as_str() {
                "earliest" => Start::Earliest,
                "latest" => Start::Latest,
                _ => Start::Offsets(parse_offsets("starting_offsets", v)?),
            },
            (None, None) if streaming => Start::Latest,
            (None, None) => Start::Earliest,
        };
        let end = match options.get("ending_offsets") {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("latest") => None,
            Some(v) => Some(parse_offsets("ending_offsets", v)?),
        };
        if end.is_some() && streaming {
            return Err(opt_err(
                "ending_offsets",
                "a stream has no end: ending_offsets is for batch reads (session.read())",
            ));
        }
        let max_offsets_per_trigger = match options.get("max_offsets_per_trigger") {
            None => None,
            Some(v) => Some(v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                opt_err(
                    "max_offsets_per_trigger",
                    format!("'{v}' is not a positive number"),
                )
            })?),
        };
        let value_format = match options.get("value_format").map(|s| s.to_ascii_lowercase()) {
            None => ValueFormat::Raw,
            Some(v) if v == "raw" => ValueFormat::Raw,
            Some(v) if v == "json" => ValueFormat::Json,
            Some(v) if v == "avro" => ValueFormat::Avro,
            Some(v) if v == "avro_confluent" => ValueFormat::AvroConfluent,
            Some(v) => {
                return Err(opt_err(
                    "value_format",
                    format!("'{v}' is not a value format: use raw, json, avro or avro_confluent"),
                ))
            }
        };
        let avro_schema = options.get("avro_schema").cloned();
        if matches!(value_format, ValueFormat::Avro | ValueFormat::AvroConfluent) {
            match &avro_schema {
                None => {
                    return Err(opt_err(
                        "avro_schema",
                        "Avro values need their writer schema: .option(\"avro_schema\", r#\"{\"type\":\"record\",...}\"#)",
                    ))
                }
                Some(s) => {
                    apache_avro::Schema::parse_str(s)
                        .map_err(|e| opt_err("avro_schema", format!("not an Avro schema: {e}")))?;
                }
            }
        }
        let avro_schema_id = match options.get("avro_schema_id") {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .map_err(|_| opt_err("avro_schema_id", format!("'{v}' is not a schema id")))?,
            ),
        };
        let fetch_timeout = match options.get("fetch_timeout") {
            None => Duration::from_secs(60),
            Some(v) => parse_duration(v).ok_or_else(|| {
                opt_err("fetch_timeout", format!("cannot read '{v}' as a duration"))
            })?,
        };
        Ok(KafkaOptions {
            client,
            topics,
            start,
            end,
            max_offsets_per_trigger,
            fail_on_data_loss: flag(&options, "fail_on_data_loss", true)?,
            include_headers: flag(&options, "include_headers", false)?,
            value_format,
            fetch_timeout,
            min_partitions: match options.get("min_partitions") {
                None => None,
                Some(v) => Some(v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    opt_err("min_partitions", format!("'{v}' is not a positive number"))
                })?),
            },
            avro_schema,
            avro_schema_id,
        })
    }

    /// A short description for the checkpoint's identity.
    pub fn describe(&self) -> String {
        let topics = match &self.topics {
            Topics::Subscribe(t) => format!("subscribe={}", t.join(",")),
            Topics::Pattern(p) => format!("subscribe_pattern={p}"),
            Topics::Assign(a) => format!("assign={}", serde_json::to_string(a).unwrap_or_default()),
        };
        format!("KafkaSource[{topics}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<KafkaOptions> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KafkaOptions::parse(m.iter(), true, true)
    }

    #[test]
    fn options_parse_and_bad_ones_name_the_fix() {
        let o = parse(&[
            ("kafka.bootstrap.servers", "h:1"),
            ("subscribe", "a, b"),
            ("starting_offsets", r#"{"a":{"0":5,"1":-2}}"#),
            ("max_offsets_per_trigger", "100"),
        ])
        .unwrap();
        assert_eq!(o.topics, Topics::Subscribe(vec!["a".into(), "b".into()]));
        assert_eq!(
            o.start,
            Start::Offsets([("a".to_string(), [(0, 5), (1, -2)].into())].into())
        );
        assert_eq!(o.max_offsets_per_trigger, Some(100));
        let e = parse(&[("subscribe", "a")]).unwrap_err().to_string();
        assert!(e.contains("kafka.bootstrap.servers"), "{e}");
        let e = parse(&[("kafka.bootstrap.servers", "h:1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("subscribe_pattern"), "{e}");
        let e = parse(&[
            ("kafka.bootstrap.servers", "h:1"),
            ("subscribe", "a"),
            ("assign", "{}"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("not subscribe and assign")
                || e.contains("assign and subscribe")
                || e.contains("subscribe and assign"),
            "{e}"
        );
        let e = parse(&[
            ("kafka.bootstrap.servers", "h:1"),
            ("subscribe", "a"),
            ("ending_offsets", "{}"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("batch reads"), "{e}");
    }
}
