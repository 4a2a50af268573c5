//! The progress record of one epoch, with Spark's `StreamingQueryProgress` field names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One source's part of an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceProgress {
    /// The source.
    pub description: String,
    /// Offset the epoch started from.
    pub start_offset: Value,
    /// Offset the epoch read to.
    pub end_offset: Value,
    /// The latest offset the source had.
    pub latest_offset: Value,
    /// Rows read.
    pub num_input_rows: u64,
    /// Rows per second arriving (since the previous epoch started).
    pub input_rows_per_second: f64,
    /// Rows per second processed (over the epoch's duration).
    pub processed_rows_per_second: f64,
    /// Records routed to the dead-letter location.
    pub num_bad_records: u64,
}

/// The sink's part of an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SinkProgress {
    /// The sink.
    pub description: String,
    /// Rows written.
    pub num_output_rows: i64,
}

/// What one epoch did. Serialises to the JSON of Spark's `StreamingQueryProgress`, plus
/// `numBadRecords`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingQueryProgress {
    /// Stable query id.
    pub id: String,
    /// Id of this run.
    pub run_id: String,
    /// Query name.
    pub name: Option<String>,
    /// When the epoch started (ISO-8601).
    pub timestamp: String,
    /// The epoch.
    pub batch_id: u64,
    /// Rows read by all sources.
    pub num_input_rows: u64,
    /// Rows per second arriving.
    pub input_rows_per_second: f64,
    /// Rows per second processed.
    pub processed_rows_per_second: f64,
    /// Time spent per phase: `latestOffset`, `getBatch`, `queryPlanning`, `addBatch`,
    /// `walCommit`, `commitOffsets`, `triggerExecution`.
    pub duration_ms: BTreeMap<String, u64>,
    /// Event-time statistics (`min`, `max`, `avg`, `watermark`) when the query has a watermark.
    pub event_time: BTreeMap<String, String>,
    /// Stateful operators (empty for stateless queries).
    pub state_operators: Vec<Value>,
    /// Per source.
    pub sources: Vec<SourceProgress>,
    /// The sink.
    pub sink: SinkProgress,
    /// Bad records routed aside in this epoch, over all sources.
    pub num_bad_records: u64,
    /// Real-time mode: the epoch's arrivals and the latency of its rows (absent in
    /// micro-batch mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_time: Option<RealTimeProgress>,
}

/// What a real-time epoch did besides what every epoch reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeProgress {
    /// How many times rows arrived and went through the plan in the epoch.
    pub num_arrivals: u64,
    /// Rows emitted by the plan in the epoch.
    pub num_emitted_rows: u64,
    /// Whether the sink received rows as they were computed (`true`) or at the epoch's end.
    pub immediate_sink: bool,
    /// Latency of the emitted rows in milliseconds, from the poll that found their input to
    /// their delivery to the sink (for a sink written at the epoch's end, to its commit):
    /// `p50`, `p99`, `p999`, `max`, weighted by rows.
    pub latency_ms: BTreeMap<String, f64>,
}

impl RealTimeProgress {
    /// The `latency_ms` map from (latency in ms, rows) pairs.
    pub fn percentiles(samples: &[(f64, u64)]) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        let total: u64 = samples.iter().map(|s| s.1).sum();
        if total == 0 {
            return m;
        }
        let mut sorted: Vec<(f64, u64)> = samples.iter().copied().filter(|s| s.1 > 0).collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (name, q) in [("p50", 0.50), ("p99", 0.99), ("p999", 0.999)] {
            // The smallest latency at or below which at least q of the rows are.
            let want = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            let mut at = sorted[sorted.len() - 1].0;
            for (lat, rows) in &sorted {
                seen += rows;
                if seen >= want {
                    at = *lat;
                    break;
                }
            }
            m.insert(name.to_string(), at);
        }
        m.insert("max".to_string(), sorted[sorted.len() - 1].0);
        m
    }
}

impl StreamingQueryProgress {
    /// The record as Spark-compatible JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A compact one-line summary for terminals.
    pub fn summary(&self) -> String {
        let state: u64 = self
            .state_operators
            .iter()
            .filter_map(|s| s["numRowsTotal"].as_u64())
            .sum();
        let late: u64 = self
            .state_operators
            .iter()
            .filter_map(|s| s["numRowsDroppedByWatermark"].as_u64())
            .sum();
        format!(
            "[{}] epoch {}: {} rows in {} ms ({:.0} rows/s), {} out{}{}{}{}",
            self.name
                .as_deref()
                .unwrap_or(&self.id[..8.min(self.id.len())]),
            self.batch_id,
            self.num_input_rows,
            self.duration_ms
                .get("triggerExecution")
                .copied()
                .unwrap_or_default(),
            self.processed_rows_per_second,
            self.sink.num_output_rows,
            match self.event_time.get("watermark") {
                Some(w) => format!(", watermark {w}"),
                None => String::new(),
            },
            if self.state_operators.is_empty() {
                String::new()
            } else {
                format!(", {state} state rows")
            },
            if late > 0 {
                format!(", {late} late rows dropped")
            } else {
                String::new()
            },
            if self.num_bad_records > 0 {
                format!(", {} bad records", self.num_bad_records)
            } else {
                String::new()
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_are_weighted_by_rows() {
        let m = RealTimeProgress::percentiles(&[(5.0, 98), (1.0, 1), (50.0, 1)]);
        assert_eq!(m["p50"], 5.0);
        assert_eq!(m["p99"], 5.0);
        assert_eq!(m["p999"], 50.0);
        assert_eq!(m["max"], 50.0);
        assert!(RealTimeProgress::percentiles(&[]).is_empty());
        assert!(RealTimeProgress::percentiles(&[(3.0, 0)]).is_empty());
    }
}
