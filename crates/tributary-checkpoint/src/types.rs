use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An epoch (Spark: batch id). Epochs are numbered from 0 without gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch after this one.
    pub fn next(self) -> Epoch {
        Epoch(self.0 + 1)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a query is: used to refuse a checkpoint written by another query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryIdentity {
    /// The query name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One description per source, in plan order (e.g. `FileStream[/data/in]`).
    pub sources: Vec<String>,
    /// The sink description (e.g. `DeltaSink[/lake/silver]`).
    pub sink: String,
}

impl fmt::Display for QueryIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query '{}' reading [{}] into {}",
            self.name.as_deref().unwrap_or("<unnamed>"),
            self.sources.join(", "),
            self.sink
        )
    }
}

/// The `metadata` file: the query's stable id and identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryMetadata {
    /// Stable id of the query, kept across restarts.
    pub id: String,
    /// What the query reads and writes.
    pub identity: QueryIdentity,
    /// Fixed settings that must not change across restarts (e.g. state partitions).
    #[serde(default)]
    pub conf: BTreeMap<String, String>,
}

/// The end offset of one source for one epoch. The offset is opaque JSON owned by the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceOffset {
    /// The source's description, as in [`QueryIdentity::sources`].
    pub source: String,
    /// The source's start offset (the previous epoch's end), `null` for the first epoch.
    pub start: serde_json::Value,
    /// The source's end offset.
    pub end: serde_json::Value,
}

/// The `offsets/<epoch>` file, written before the epoch runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetRecord {
    /// The epoch.
    pub epoch: Epoch,
    /// When the epoch was planned, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The event-time watermark the epoch runs with, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub watermark_ms: Option<i64>,
    /// One entry per source, in plan order.
    pub sources: Vec<SourceOffset>,
    /// Real-time mode: the epoch's arrivals of rows, in order, so that running the epoch again
    /// replays them and computes the same rows and state. Empty in micro-batch mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrivals: Vec<ArrivalRecord>,
}

impl OffsetRecord {
    /// The watermark the epoch's state was last evicted with: its last arrival's in real-time
    /// mode, else the epoch's own. The epoch after it runs with this as its previous watermark.
    pub fn last_watermark_ms(&self) -> Option<i64> {
        self.arrivals
            .last()
            .map_or(self.watermark_ms, |a| a.watermark_ms)
    }
}

/// One arrival of rows in a real-time epoch: what it read and the watermarks and time it ran
/// with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalRecord {
    /// Each source's end offset after the arrival (its start: the previous arrival's end, or
    /// the epoch's start), in plan order.
    pub ends: Vec<serde_json::Value>,
    /// The watermark the arrival ran with.
    #[serde(default)]
    pub watermark_ms: Option<i64>,
    /// The watermark of the arrival before it (chained operators drop behind it).
    #[serde(default)]
    pub prev_watermark_ms: Option<i64>,
    /// When it ran, in milliseconds since the Unix epoch (processing-time timeouts).
    pub timestamp_ms: i64,
}

/// The `commits/<epoch>` file, written after the sink committed the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// The epoch.
    pub epoch: Epoch,
    /// The watermark after the epoch, for the next one.
    #[serde(default)]
    pub next_watermark_ms: Option<i64>,
    /// Rows the sink received in this epoch.
    #[serde(default)]
    pub num_output_rows: u64,
    /// Each watermark node's own watermark after the epoch, in plan order (`None`: the node has
    /// seen no rows). A restart continues from them, so an input without new rows still holds
    /// the global watermark back as it did before the restart. Absent in a checkpoint written
    /// before they were kept, and for a query without watermarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_watermarks_ms: Option<Vec<Option<i64>>>,
    /// Whose each of `input_watermarks_ms` is: its node's event-time column and delay
    /// (`event_time 60000ms`), so a restart of a changed query gives each node its own (nodes of
    /// one name by their order). Absent in checkpoints written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_watermark_nodes: Option<Vec<String>>,
}
