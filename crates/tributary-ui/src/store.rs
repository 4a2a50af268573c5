//! What the UI knows: every query of the session, from the listener events.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tributary::{
    QueryProgressEvent, QueryStartedEvent, QueryTerminatedEvent, StreamingQueryListener,
    StreamingQueryProgress,
};

/// Progress records kept per query (the charts' window).
pub const HISTORY: usize = 300;

/// One query as the UI shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryRecord {
    /// Stable id.
    pub id: String,
    /// This run's id.
    pub run_id: String,
    /// Name.
    pub name: Option<String>,
    /// When it started.
    pub started: String,
    /// `active`, `stopped` or `failed`.
    pub state: String,
    /// The error that stopped it.
    pub last_error: Option<String>,
    /// Totals since the run started (Prometheus counters).
    pub totals: Totals,
    /// Recent progress records, oldest first.
    #[serde(skip)]
    pub progress: VecDeque<StreamingQueryProgress>,
}

/// Monotonic totals of a run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Epochs.
    pub epochs: u64,
    /// Input rows.
    pub input_rows: u64,
    /// Output rows.
    pub output_rows: u64,
    /// Bad records.
    pub bad_records: u64,
    /// Rows dropped behind the watermark.
    pub rows_dropped_by_watermark: u64,
}

/// Collects the events of a session's queries.
#[derive(Debug, Default, Clone)]
pub struct Monitor {
    queries: Arc<RwLock<BTreeMap<String, QueryRecord>>>,
}

impl Monitor {
    /// Every query, newest first.
    pub fn queries(&self) -> Vec<QueryRecord> {
        let mut v: Vec<QueryRecord> = self
            .queries
            .read()
            .expect("monitor")
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| b.started.cmp(&a.started));
        v
    }

    /// One query.
    pub fn query(&self, id: &str) -> Option<QueryRecord> {
        self.queries.read().expect("monitor").get(id).cloned()
    }
}

fn dropped(p: &StreamingQueryProgress) -> u64 {
    p.state_operators
        .iter()
        .filter_map(|s| s["numRowsDroppedByWatermark"].as_u64())
        .sum()
}

impl StreamingQueryListener for Monitor {
    fn on_query_started(&self, e: &QueryStartedEvent) {
        self.queries.write().expect("monitor").insert(
            e.id.clone(),
            QueryRecord {
                id: e.id.clone(),
                run_id: e.run_id.clone(),
                name: e.name.clone(),
                started: e.timestamp.clone(),
                state: "active".into(),
                last_error: None,
                totals: Totals::default(),
                progress: VecDeque::new(),
            },
        );
    }

    fn on_query_progress(&self, e: &QueryProgressEvent) {
        let mut q = self.queries.write().expect("monitor");
        if let Some(r) = q.get_mut(&e.progress.id) {
            let p = &e.progress;
            r.totals.epochs += 1;
            r.totals.input_rows += p.num_input_rows;
            r.totals.output_rows += p.sink.num_output_rows.max(0) as u64;
            r.totals.bad_records += p.num_bad_records;
            r.totals.rows_dropped_by_watermark += dropped(p);
            r.progress.push_back(p.clone());
            while r.progress.len() > HISTORY {
                r.progress.pop_front();
            }
        }
    }

    fn on_query_terminated(&self, e: &QueryTerminatedEvent) {
        let mut q = self.queries.write().expect("monitor");
        if let Some(r) = q.get_mut(&e.id) {
            r.state = if e.exception.is_some() {
                "failed"
            } else {
                "stopped"
            }
            .into();
            r.last_error = e.exception.clone();
        }
    }
}
