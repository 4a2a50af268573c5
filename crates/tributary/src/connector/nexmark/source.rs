//! The Nexmark stream source. Its offset is the number of events of the whole stream (all three
//! tables) generated so far, `{"event": N}`; an epoch reads its table's rows among the events
//! between two offsets. The three tables of one seed therefore advance through the same events.
//! With `throttle`, events become available at `events_per_second` of wall-clock time from the
//! query's first start (kept in the offsets, like the rate source); otherwise each epoch takes
//! up to `max_events_per_trigger` events at once. Each throttled table counts from its own first
//! start, so in a job the three tables' epochs may end a few events apart; a join of them still
//! sees every event, as the later table catches up.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use serde_json::{json, Value};

use super::generator::{GeneratorConfig, Table};
use super::table::NexmarkTable;
use crate::clock::Clock;
use crate::error::{Result, TributaryError};
use crate::source::{EpochInput, SourceContext, StreamSource};
use tributary_checkpoint::Epoch;

/// How a Nexmark stream is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NexmarkOptions {
    /// Which of the three tables this source reads.
    pub table: Table,
    /// Seed, event rate and base time.
    pub config: GeneratorConfig,
    /// Events in the whole stream (`None`: endless).
    pub max_events: Option<u64>,
    /// Events an epoch takes at most.
    pub max_events_per_trigger: u64,
    /// Generate no faster than `events_per_second` of wall-clock time.
    pub throttle: bool,
    /// Partitions each epoch's rows are split over.
    pub partitions: usize,
}

/// A Nexmark table read as a stream.
#[derive(Debug)]
pub struct NexmarkStreamSource {
    opts: NexmarkOptions,
    clock: Arc<dyn Clock>,
    start_ms: Mutex<Option<i64>>,
    cap: Mutex<Option<u64>>,
}

impl NexmarkStreamSource {
    /// A source with the given options and clock (for `throttle`).
    pub fn new(opts: NexmarkOptions, clock: Arc<dyn Clock>) -> Self {
        NexmarkStreamSource {
            opts,
            clock,
            start_ms: Mutex::new(None),
            cap: Mutex::new(None),
        }
    }

    fn parse(v: &Value) -> (u64, Option<i64>) {
        // (events read, the wall-clock start of a throttled stream)
        (
            v.get("event").and_then(Value::as_u64).unwrap_or(0),
            v.get("startMs").and_then(Value::as_i64),
        )
    }

    /// The wall-clock time of the first start (from the offsets once there are some).
    fn started(&self, recorded: Option<i64>) -> i64 {
        let mut s = self.start_ms.lock().expect("nexmark source");
        *s.get_or_insert_with(|| recorded.unwrap_or_else(|| self.clock.now_ms()))
    }

    /// Events that exist now: all of them, or with `throttle` those due by the clock.
    fn available(&self, recorded_start: Option<i64>) -> u64 {
        let due = if self.opts.throttle {
            let elapsed = (self.clock.now_ms() - self.started(recorded_start)).max(0) as u128;
            u64::try_from(elapsed * self.opts.config.events_per_second as u128 / 1000)
                .unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        due.min(self.opts.max_events.unwrap_or(u64::MAX))
    }
}

#[async_trait]
impl StreamSource for NexmarkStreamSource {
    fn description(&self) -> String {
        // What fixes the rows (max_events may grow between runs: the stream goes on).
        format!(
            "Nexmark[table={}, seed={}, eventsPerSecond={}, baseTimeNs={}]",
            self.opts.table.name(),
            self.opts.config.seed,
            self.opts.config.events_per_second,
            self.opts.config.base_time_ns
        )
    }

    async fn open(&self, ctx: &SourceContext) -> Result<()> {
        // A throttled stream keeps its first start: the events due are counted from it.
        if let Some((_, offset)) = &ctx.last_planned {
            if let (_, Some(start)) = Self::parse(offset) {
                self.started(Some(start));
            }
        }
        Ok(())
    }

    fn schema(&self) -> SchemaRef {
        self.opts.table.schema()
    }

    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(NexmarkStreamSource::new(self.opts, self.clock.clone()))
    }

    async fn prepare_available_now(&self, recorded: Option<&Value>) -> Result<Value> {
        let cap = match recorded.and_then(Value::as_u64) {
            Some(c) => c,
            None => {
                let now = self.available(None);
                if now == u64::MAX {
                    return Err(TributaryError::option(
                        "max_events",
                        "an available-now or once run reads what the source holds now, and an \
                         unthrottled Nexmark stream without max_events is endless: set \
                         max_events (or run it with a processing-time trigger)",
                    ));
                }
                now
            }
        };
        *self.cap.lock().expect("nexmark source") = Some(cap);
        Ok(json!(cap))
    }

    async fn latest_offset(
        &self,
        start: &Value,
        limited: bool,
        _epoch: Epoch,
    ) -> Result<Option<Value>> {
        let (from, recorded_start) = Self::parse(start);
        let mut end = self.available(recorded_start);
        if let Some(cap) = *self.cap.lock().expect("nexmark source") {
            end = end.min(cap);
        }
        if limited || end == u64::MAX {
            end = end.min(from.saturating_add(self.opts.max_events_per_trigger));
        }
        if end <= from {
            return Ok(None);
        }
        let mut offset = json!({ "event": end });
        if self.opts.throttle {
            offset["startMs"] = json!(self.started(recorded_start));
        }
        Ok(Some(offset))
    }

    async fn get_batch(&self, start: &Value, end: &Value, _epoch: Epoch) -> Result<EpochInput> {
        let (from, _) = Self::parse(start);
        let (to, _) = Self::parse(end);
        let table = NexmarkTable::new(
            self.opts.table,
            self.opts.config,
            from,
            to,
            self.opts.partitions,
        );
        let rows = table.rows();
        Ok(EpochInput {
            table: Arc::new(table),
            bad_records: None,
            rows: Arc::new(rows.into()),
        })
    }
}
