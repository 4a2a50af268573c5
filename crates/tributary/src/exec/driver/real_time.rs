//! Real-time mode ([`Trigger::RealTime`](crate::Trigger::RealTime)): an epoch lasts the
//! checkpoint interval; rows go through the same plan and operators as they arrive and leave
//! for the sink at once; the epoch's offsets, state and commit are written at its end.
//!
//! ```text
//!  epoch e ──► poll ──► rows? ─ yes ─► arrival: read, plan, run; each operator applies its
//!     ▲          ▲         │           state change in memory (kept for the end); the
//!     │          │         │           watermark moves; sink.emit (immediate sinks) or rows
//!     │          │         │           kept (sinks written at the end)
//!     │          │         └─ no ──► a no-data arrival if the watermark moved or timeouts
//!     │          └──────────────────  are due (windows close within the epoch); else wait
//!     │                                (RealTimeEpoch: 1 ms doubling to 16 ms)
//!     └── interval over ─► offsets/<e> (first arrival's start .. last arrival's end)
//!                          ─► each state partition's merged change ─► sink.add_batch(e, kept)
//!                          ─► commits/<e> ─► progress (with the rows' latency percentiles)
//! ```
//!
//! `offsets/<e>` lists the epoch's arrivals (each one's end offsets, watermarks and time), so
//! that running the epoch again replays them and computes the same rows and state: a sink that
//! already holds the epoch then agrees with the state. A crash before `offsets/<e>` leaves no
//! trace of the epoch: its rows are read again by the next one. A crash after it replays the
//! epoch on restart. A failure inside a running epoch puts the operators' state and the
//! watermark back as the last committed epoch left them and replays the arrivals so far (with
//! the retry policy). Sinks written at the end get every row once; immediate sinks get a
//! replayed epoch's rows again at its end (at least once).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde_json::Value;
use tributary_checkpoint::{ArrivalRecord, CommitRecord, Epoch, OffsetRecord, SourceOffset};

use super::{write_late_rows, EpochReport, Running};
use crate::error::{from_df_error, Result};
use crate::exec::trigger::{Arrival, RealTimeEpoch};
use crate::exec::watermark::EpochEventTime;
use crate::modes::OutputMode;
use crate::progress::RealTimeProgress;
use crate::sink::EpochOutput;
use crate::state::{merge_changes, StateChange};

/// Durations summed over an epoch's arrivals, by Spark's step names.
const ARRIVAL_STEPS: [&str; 4] = ["latestOffset", "getBatch", "queryPlanning", "addBatch"];

/// What a real-time epoch has done so far.
struct EpochSoFar {
    epoch: Epoch,
    trigger_start: i64,
    /// The sources' end offsets before the epoch.
    start_ends: Vec<Value>,
    /// The watermark the epoch started with.
    start_watermark: Option<i64>,
    /// Whether the epoch is being run again from its record: every sink then gets the rows at
    /// the end, unless it already holds the epoch.
    replay: bool,
    /// The arrivals run so far (the last one may have failed).
    arrivals: Vec<ArrivalRecord>,
    /// Per operator, per state partition: each arrival's change.
    changes: Vec<Vec<Vec<StateChange>>>,
    late_rows: Vec<Vec<RecordBatch>>,
    /// Per operator: its progress entry, counts summed over the arrivals.
    operator_progress: Vec<Option<Value>>,
    /// Rows for a sink written at the epoch's end.
    kept: Vec<RecordBatch>,
    schema: Option<SchemaRef>,
    source_rows: Vec<u64>,
    source_bad: Vec<u64>,
    event_time: Option<EpochEventTime>,
    emitted_rows: u64,
    /// (latency in ms, rows) of rows the sink has.
    latencies: Vec<(f64, u64)>,
    /// (when the input was found, rows) of rows kept for the epoch's end.
    waiting: Vec<(Instant, u64)>,
    durations: BTreeMap<String, u64>,
    /// Whether the epoch's last poll found nothing (its rows are then all processed).
    idle: bool,
}

impl EpochSoFar {
    fn add_duration(&mut self, step: &str, ms: i64) {
        *self.durations.entry(step.to_string()).or_default() += ms.max(0) as u64;
    }
}

/// Sum the counts of a later arrival's progress entry into the epoch's (the rest: the later's).
fn add_operator_progress(so_far: &mut Option<Value>, later: Value) {
    let Some(acc) = so_far else {
        *so_far = Some(later);
        return;
    };
    let mut merged = later;
    for key in [
        "numRowsUpdated",
        "numRowsRemoved",
        "numRowsDroppedByWatermark",
        "allUpdatesTimeMs",
        "commitTimeMs",
    ] {
        let sum = acc[key].as_i64().unwrap_or(0) + merged[key].as_i64().unwrap_or(0);
        merged[key] = Value::from(sum);
    }
    *acc = merged;
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl Running {
    fn epoch_so_far(
        &self,
        epoch: Epoch,
        trigger_start: i64,
        start_ends: Vec<Value>,
        start_watermark: Option<i64>,
        replay: bool,
    ) -> EpochSoFar {
        let n_ops = self.operators.len();
        EpochSoFar {
            epoch,
            trigger_start,
            start_ends,
            start_watermark,
            replay,
            arrivals: Vec::new(),
            changes: self
                .operators
                .iter()
                .map(|op| vec![Vec::new(); op.stores().len()])
                .collect(),
            late_rows: vec![Vec::new(); n_ops],
            operator_progress: vec![None; n_ops],
            kept: Vec::new(),
            schema: None,
            source_rows: vec![0; self.sources.len()],
            source_bad: vec![0; self.sources.len()],
            event_time: None,
            emitted_rows: 0,
            latencies: Vec::new(),
            waiting: Vec::new(),
            durations: BTreeMap::new(),
            idle: false,
        }
    }

    /// Run one real-time epoch of `interval` (or none, when nothing arrived and nothing was
    /// due); returns after its commit.
    pub(super) async fn run_real_time_epoch(&mut self, interval: Duration) -> Result<()> {
        let trigger_start = self.clock.now_ms();
        let mut window = RealTimeEpoch::start(trigger_start, interval);
        let saved = (self.watermark.clone(), self.prev_watermark);
        let mut so_far = self.epoch_so_far(
            self.next,
            trigger_start,
            self.ends.clone(),
            self.watermark.current(),
            false,
        );
        self.shared
            .set_status("Processing rows as they arrive", true, true);
        let result = self.real_time_arrivals(&mut window, &mut so_far).await;
        let result = match result {
            Ok(()) if so_far.arrivals.is_empty() => Ok(()),
            Ok(()) => self.close_real_time_epoch(&mut so_far).await,
            Err(e) => Err(e),
        };
        let idle = so_far.idle;
        if let Err(e) = result {
            if so_far.arrivals.is_empty() {
                // Nothing was read: the error came before any rows (a source's poll).
                return Err(e);
            }
            tracing::warn!(
                epoch = so_far.epoch.0,
                error = %e,
                "a real-time epoch failed: replaying its arrivals from the committed state"
            );
            let record = self.real_time_record(&so_far);
            self.restore_operators(so_far.epoch).await?;
            (self.watermark, self.prev_watermark) = saved;
            self.replay_real_time_epoch(record).await?;
        }
        if idle {
            // Everything the sources had is processed and committed (`process_all_available`).
            self.shared.idle_polls.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Put every operator's state back as of the epoch before `epoch`.
    async fn restore_operators(&mut self, epoch: Epoch) -> Result<()> {
        let committed = epoch.0.checked_sub(1).map(Epoch);
        for op in self.operators.iter_mut() {
            for store in op.stores_mut() {
                store.restore(committed).await?;
            }
        }
        Ok(())
    }

    /// Run a real-time epoch again from its record (after a restart, or after a failure with
    /// the state put back): the same arrivals, watermarks and times, so the same rows and state.
    /// Transient errors are retried as any epoch's.
    pub(super) async fn replay_real_time_epoch(&mut self, record: OffsetRecord) -> Result<()> {
        let saved = (self.watermark.clone(), self.prev_watermark);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut so_far = self.epoch_so_far(
                record.epoch,
                record.timestamp_ms,
                record.sources.iter().map(|s| s.start.clone()).collect(),
                record.watermark_ms,
                true,
            );
            let result = async {
                for a in &record.arrivals {
                    self.arrival(&mut so_far, a.clone(), Instant::now()).await?;
                }
                self.close_real_time_epoch(&mut so_far).await
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(e) => match super::RETRY.backoff(attempt, &e) {
                    Some(backoff) => {
                        tracing::warn!(epoch = record.epoch.0, attempt, error = %e, "replaying a real-time epoch failed, retrying in {backoff:?}");
                        self.shared
                            .set_status(&format!("Retrying after error: {e}"), true, false);
                        self.restore_operators(record.epoch).await?;
                        (self.watermark, self.prev_watermark) = saved.clone();
                        self.sleep(backoff).await;
                    }
                    None => return Err(e),
                },
            }
        }
    }

    /// Poll and process arrivals until the interval is over or the query stops.
    async fn real_time_arrivals(
        &mut self,
        window: &mut RealTimeEpoch,
        so_far: &mut EpochSoFar,
    ) -> Result<()> {
        loop {
            if self.shared.stopping() || window.over(self.clock.now_ms()) {
                return Ok(());
            }
            let found = Instant::now();
            let poll_start = self.clock.now_ms();
            let (offsets, new_data) = self.poll_sources().await?;
            so_far.add_duration("latestOffset", self.clock.now_ms() - poll_start);
            let no_data_work = !new_data && self.no_data_work();
            if new_data || no_data_work {
                let arrival = ArrivalRecord {
                    ends: offsets.iter().map(|o| o.end.clone()).collect(),
                    watermark_ms: self.watermark.current(),
                    prev_watermark_ms: self.prev_watermark,
                    timestamp_ms: self.clock.now_ms(),
                };
                self.arrival(so_far, arrival, found).await?;
                if new_data {
                    self.policy.after_epoch(
                        self.clock.now_ms(),
                        poll_start,
                        true,
                        self.watermark.current(),
                    );
                }
            }
            so_far.idle = !(new_data || no_data_work);
            match window.after_poll(self.clock.now_ms(), new_data || no_data_work) {
                Arrival::Poll => {}
                Arrival::Close => return Ok(()),
                Arrival::Wait(until) => self.wait_for_arrival(until).await,
            }
        }
    }

    /// Wait until `until_ms`, or until a source says that rows came.
    async fn wait_for_arrival(&self, until_ms: i64) {
        let wakers: Vec<_> = self
            .sources
            .iter()
            .filter_map(|(_, s)| s.arrivals())
            .collect();
        if wakers.is_empty() {
            return self.sleep_until(until_ms).await;
        }
        let woken = futures::future::select_all(wakers.iter().map(|n| Box::pin(n.notified())));
        tokio::select! {
            _ = self.sleep_until(until_ms) => {}
            _ = woken => {}
        }
    }

    /// One arrival: its rows (or none: the watermark moved) through the plan, the operators
    /// and to the sink.
    async fn arrival(
        &mut self,
        so_far: &mut EpochSoFar,
        arrival: ArrivalRecord,
        found: Instant,
    ) -> Result<()> {
        let epoch = so_far.epoch;
        let starts = so_far
            .arrivals
            .last()
            .map_or_else(|| so_far.start_ends.clone(), |a| a.ends.clone());
        let record = OffsetRecord {
            epoch,
            timestamp_ms: arrival.timestamp_ms,
            watermark_ms: arrival.watermark_ms,
            sources: self
                .sources
                .iter()
                .zip(starts.into_iter().zip(arrival.ends.iter().cloned()))
                .map(|((_, s), (start, end))| SourceOffset {
                    source: s.description(),
                    start,
                    end,
                })
                .collect(),
            arrivals: Vec::new(),
        };
        // From here the arrival is part of the epoch: a failure replays it with the others.
        self.ends = arrival.ends.clone();
        self.prev_watermark = arrival.prev_watermark_ms;
        so_far.arrivals.push(arrival);
        let mut lap = self.clock.now_ms();
        let inputs = self.read_inputs(&record).await?;
        so_far.add_duration("getBatch", self.clock.now_ms() - lap);
        lap = self.clock.now_ms();
        let (physical, operated) = self.plan_epoch(&record, &inputs).await?;
        so_far.add_duration("queryPlanning", self.clock.now_ms() - lap);
        lap = self.clock.now_ms();
        let task = Arc::new(datafusion::execution::TaskContext::from(&self.state));
        let schema = physical.schema();
        let batches = datafusion::physical_plan::collect(physical, task)
            .await
            .map_err(|e| from_df_error(&format!("running epoch {epoch}"), e))?;
        let part = so_far.arrivals.len() as u64 - 1;
        let bad = self.flush_bad_records(epoch, Some(part), &inputs).await?;
        for (i, input) in inputs.iter().enumerate() {
            so_far.source_rows[i] += input.rows.load(Ordering::Relaxed);
            so_far.source_bad[i] += bad[i];
        }
        for (k, (op, mut result)) in self.operators.iter_mut().zip(operated).enumerate() {
            for (p, c) in result.changes.iter().enumerate() {
                so_far.changes[k][p].push(c.clone());
            }
            so_far.late_rows[k].extend(result.late_rows.iter().cloned());
            add_operator_progress(&mut so_far.operator_progress[k], result.progress.clone());
            // In memory now, so the next arrival sees it; written at the epoch's end. The live
            // view follows each arrival too, as the sinks that emit at once do.
            let live = result.live.take();
            op.commit(epoch, result)?;
            if let (Some(view), Some(change)) = (op.live_state(), live) {
                view.apply(epoch, change)?;
            }
        }
        let event_time = self.watermark.observe();
        self.watermark.commit(&event_time, record.watermark_ms);
        self.prev_watermark = record.watermark_ms;
        match &mut so_far.event_time {
            Some(e) => e.absorb(event_time),
            None => so_far.event_time = Some(event_time),
        }
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let complete = self.output_mode == OutputMode::Complete;
        if self.sink.emits_immediately() && !so_far.replay {
            if rows > 0 || complete {
                let output = EpochOutput {
                    schema: schema.clone(),
                    batches,
                    state: self.state.clone(),
                };
                self.sink.emit(epoch, output).await?;
            }
            so_far.latencies.push((ms_since(found), rows));
        } else {
            if complete {
                // Each arrival's result is the whole result: the last one is the epoch's.
                so_far.kept = batches;
                so_far.waiting.clear();
            } else {
                so_far.kept.extend(batches);
            }
            so_far.waiting.push((found, rows));
        }
        so_far.add_duration("addBatch", self.clock.now_ms() - lap);
        so_far.schema = Some(schema);
        so_far.emitted_rows += rows;
        Ok(())
    }

    /// The end of the epoch: offsets, state, the sink's commit, the commit log, progress.
    async fn close_real_time_epoch(&mut self, so_far: &mut EpochSoFar) -> Result<()> {
        let epoch = so_far.epoch;
        let record = self.real_time_record(so_far);
        let mut lap = self.clock.now_ms();
        if epoch >= self.next {
            self.store.write_offsets(&record).await?;
            self.next = epoch.next();
        }
        so_far.add_duration("walCommit", self.clock.now_ms() - lap);
        lap = self.clock.now_ms();
        for (k, op) in self.operators.iter().enumerate() {
            let start = self.clock.now_ms();
            let stores = op.stores();
            let mut writes = Vec::with_capacity(stores.len());
            for (p, store) in stores.iter().enumerate() {
                if let Some(change) = merge_changes(&so_far.changes[k][p], store.key_len())? {
                    writes.push(async move { store.persist(epoch, &change).await });
                }
            }
            futures::future::try_join_all(writes).await?;
            if let Some(dir) = &self.late_rows_path {
                write_late_rows(dir, epoch, op.split().id, &so_far.late_rows[k]).await?;
            }
            if let Some(p) = &mut so_far.operator_progress[k] {
                let persisted = p["commitTimeMs"].as_i64().unwrap_or(0);
                p["commitTimeMs"] = Value::from(persisted + (self.clock.now_ms() - start).max(0));
            }
        }
        if let Some(lease) = &self.lease {
            lease.check()?;
        }
        let immediate = self.sink.emits_immediately() && !so_far.replay;
        let mut num_output_rows = so_far.emitted_rows;
        if immediate {
            // Rows sent as they were computed are delivered before the commit says so.
            self.sink.flush_emitted(epoch).await?;
        } else {
            // A replayed epoch the sink wrote before a crash is not written again.
            if so_far.replay && self.sink.holds_epoch(epoch).await? {
                tracing::info!(
                    epoch = epoch.0,
                    "the sink already holds this epoch (written before the restart): not written again"
                );
                num_output_rows = 0;
            } else {
                let output = EpochOutput {
                    schema: so_far
                        .schema
                        .clone()
                        .expect("an epoch with arrivals has a schema"),
                    batches: std::mem::take(&mut so_far.kept),
                    state: self.state.clone(),
                };
                self.sink.add_batch(epoch, output).await?;
            }
            for (found, rows) in so_far.waiting.drain(..) {
                so_far.latencies.push((ms_since(found), rows));
            }
        }
        so_far.add_duration("addBatch", self.clock.now_ms() - lap);
        lap = self.clock.now_ms();
        self.store
            .write_commit(&CommitRecord {
                epoch,
                next_watermark_ms: self.watermark.current(),
                num_output_rows,
                input_watermarks_ms: self.watermark.input_watermarks(),
                input_watermark_nodes: self.watermark.input_watermark_nodes(),
            })
            .await?;
        so_far.add_duration("commitOffsets", self.clock.now_ms() - lap);
        if epoch.0.is_multiple_of(10) {
            self.store.purge(self.keep_epochs).await?;
        }
        so_far.add_duration(
            "triggerExecution",
            self.clock.now_ms() - so_far.trigger_start,
        );
        for step in ARRIVAL_STEPS {
            so_far.durations.entry(step.to_string()).or_default();
        }
        let event_time = so_far
            .event_time
            .take()
            .map(|e| e.progress(so_far.start_watermark))
            .unwrap_or_default();
        self.report(EpochReport {
            record: &record,
            trigger_start: so_far.trigger_start,
            durations: std::mem::take(&mut so_far.durations),
            source_rows: so_far.source_rows.clone(),
            source_bad: so_far.source_bad.clone(),
            event_time,
            state_operators: so_far
                .operator_progress
                .iter_mut()
                .map(|p| p.take().unwrap_or(Value::Null))
                .collect(),
            num_output_rows,
            real_time: Some(RealTimeProgress {
                num_arrivals: so_far.arrivals.len() as u64,
                num_emitted_rows: so_far.emitted_rows,
                immediate_sink: immediate,
                latency_ms: RealTimeProgress::percentiles(&so_far.latencies),
            }),
        });
        Ok(())
    }

    /// The epoch's record: from before its first arrival to after its last, with the arrivals.
    fn real_time_record(&self, so_far: &EpochSoFar) -> OffsetRecord {
        let ends = so_far
            .arrivals
            .last()
            .map_or(&so_far.start_ends, |a| &a.ends);
        OffsetRecord {
            epoch: so_far.epoch,
            timestamp_ms: so_far.trigger_start,
            watermark_ms: so_far.start_watermark,
            sources: self
                .sources
                .iter()
                .zip(so_far.start_ends.iter().zip(ends))
                .map(|((_, s), (start, end))| SourceOffset {
                    source: s.description(),
                    start: start.clone(),
                    end: end.clone(),
                })
                .collect(),
            arrivals: so_far.arrivals.clone(),
        }
    }
}
