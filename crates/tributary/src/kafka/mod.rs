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
mod sink;
mod source;

pub use client::raw_schema;
pub use options::{parse_offsets, KafkaOptions, Offsets, Start, Topics, ValueFormat};
pub use sink::{write_batch, KafkaSink};
pub use source::KafkaSource;
