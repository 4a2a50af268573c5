//! The epoch driver: plans, runs and commits epochs until the trigger says stop.
//!
//! ```text
//!  start_query: recover(checkpoint) ─► Fresh | Resume{next} | Rerun{epoch}
//!  loop:
//!    rerun pending?  ── yes ─► run_epoch(same offsets)
//!    latest offsets  ── nothing new ─► idle (ProcessingTime: wait; AvailableNow/Once: stop)
//!    offsets/<e>     (write-ahead)
//!    run_epoch: get_batch ─► bind_epoch ─► DataFusion ─► sink.add_batch(e) ─► commits/<e>
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::datasource::{MemTable, TableProvider};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use serde_json::Value;
use tracing::Instrument;
use tributary_checkpoint::{
    CommitRecord, Epoch, OffsetRecord, QueryIdentity, QueryMetadata, Recovery, SourceOffset,
};

use super::aggregate::AggregateOperator;
use super::checkpoint_io::CheckpointStore;
use super::dedup::DedupOperator;
use super::stateful::{OperatorEpoch, StatefulOperator};
use super::watermark::WatermarkTracker;
use crate::error::{from_df_error, ErrorDomain, Result, TributaryError};
use crate::location::Location;
use crate::modes::{OutputMode, Trigger};
use crate::plan::{
    bind_epoch, bind_operator_output, check_supported, find_sources, fork_sources,
    materialize_static, split_at_stateful, Deduplicate, SourceKey,
};
use crate::progress::{SinkProgress, SourceProgress, StreamingQueryProgress};
use crate::query::{
    QueryIdleEvent, QueryProgressEvent, QueryShared, QueryStartedEvent, QueryTerminatedEvent,
    StreamingQuery,
};
use crate::session::Session;
use crate::sink::{EpochOutput, Sink, SinkContext};
use crate::source::{SourceContext, StreamSource};
use crate::DataFrame;

/// Log files kept for this many committed epochs (Spark: `minBatchesToRetain`).
const KEEP_EPOCHS: usize = 100;
/// Attempts for an epoch that fails with an external (storage) error.
const MAX_ATTEMPTS: u32 = 5;
/// Default number of state partitions (fixed in the checkpoint at the first start).
const DEFAULT_STATE_PARTITIONS: usize = 4;
/// Key of the state partition count in the checkpoint's metadata.
const CONF_STATE_PARTITIONS: &str = "state.partitions";

pub(crate) struct QuerySpec {
    pub session: Session,
    pub df: DataFrame,
    pub sink: Arc<dyn Sink>,
    pub trigger: Trigger,
    pub output_mode: OutputMode,
    pub name: Option<String>,
    pub checkpoint: Location,
    pub options: crate::connector::Options,
}

struct Running {
    shared: Arc<QueryShared>,
    session: Session,
    state: SessionState,
    plan: LogicalPlan,
    sources: Vec<(SourceKey, Arc<dyn StreamSource>)>,
    sink: Arc<dyn Sink>,
    trigger: Trigger,
    store: CheckpointStore,
    /// End offsets of the last planned epoch, per source.
    ends: Vec<Value>,
    next: Epoch,
    rerun: Option<OffsetRecord>,
    last_trigger_start: Option<Instant>,
    /// The stateful operator (aggregation or deduplication), if the query has one.
    aggregate: Option<Box<dyn StatefulOperator>>,
    /// Event-time watermark of the query.
    watermark: WatermarkTracker,
    /// After the input of an AvailableNow/Once run is exhausted, emit every open window.
    flush_at_end: bool,
    /// Where late rows go (`late_rows_path`), if kept.
    late_rows_path: Option<Location>,
    /// Advance the watermark with the wall clock once no data came for this long.
    idle_timeout: Option<Duration>,
    /// When the last epoch with data ran, and the watermark after it.
    last_data: (Instant, Option<i64>),
    /// When the watermark last moved because the source was idle (at most once per timeout).
    idle_moved: Instant,
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Check, recover and start a query; returns once it runs.
pub(crate) async fn start_query(spec: QuerySpec) -> Result<StreamingQuery> {
    let (state, plan) = spec.df.into_parts();
    let plan = crate::functions::expand_sliding_windows(plan)
        .map_err(TributaryError::df("expanding sliding windows"))?;
    let plan = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .map_err(TributaryError::df("analyzing the streaming query"))?;
    let plan = crate::plan::distinct_to_dedup(plan)?;
    check_supported(&plan, spec.output_mode)?;
    let plan = fork_sources(plan)?;
    let sources = find_sources(&plan);
    let identity = QueryIdentity {
        name: spec.name.clone(),
        sources: sources.iter().map(|(_, s)| s.description()).collect(),
        sink: spec.sink.description(),
    };
    let store = CheckpointStore {
        root: spec.checkpoint.clone(),
    };
    let requested_partitions = spec
        .options
        .int("state_partitions")
        .map_or(DEFAULT_STATE_PARTITIONS, |n| n as usize);
    let (id, next, last_committed, rerun, committed_epoch) = match store.recover(&identity).await? {
        Recovery::Fresh => {
            let id = uuid::Uuid::new_v4().to_string();
            store
                .write_metadata(&QueryMetadata {
                    id: id.clone(),
                    identity: identity.clone(),
                    conf: [(
                        CONF_STATE_PARTITIONS.to_string(),
                        requested_partitions.to_string(),
                    )]
                    .into(),
                })
                .await?;
            (id, Epoch(0), None, None, None)
        }
        Recovery::Resume {
            id,
            next,
            last_committed,
        } => {
            let last = match last_committed {
                Some(e) => Some(store.read_offsets(e).await?),
                None => None,
            };
            (id, next, last, None, last_committed)
        }
        Recovery::Rerun {
            id,
            epoch,
            last_committed,
        } => {
            let rec = store.read_offsets(epoch).await?;
            (id, epoch.next(), None, Some(rec), last_committed)
        }
    };
    let partitions = match store.listing().await?.metadata {
        Some(m) => match m.conf.get(CONF_STATE_PARTITIONS) {
            Some(v) => v.parse().unwrap_or(DEFAULT_STATE_PARTITIONS),
            None => DEFAULT_STATE_PARTITIONS,
        },
        None => requested_partitions,
    };
    // The watermark to continue from: the re-run epoch's, or the one after the last commit.
    let start_watermark = match (&rerun, committed_epoch) {
        (Some(r), _) => r.watermark_ms,
        (None, Some(e)) => store
            .read_commit(e)
            .await?
            .and_then(|c| c.next_watermark_ms),
        (None, None) => None,
    };
    // The ends of the last planned epoch: the re-run one, or the last committed one.
    let planned = rerun.as_ref().or(last_committed.as_ref());
    let ends: Vec<Value> = match planned {
        Some(r) => r.sources.iter().map(|s| s.end.clone()).collect(),
        None => vec![Value::Null; sources.len()],
    };
    let starts_of_rerun: Option<Vec<Value>> = rerun
        .as_ref()
        .map(|r| r.sources.iter().map(|s| s.start.clone()).collect());
    for (i, (_, s)) in sources.iter().enumerate() {
        let ctx = SourceContext {
            dir: store
                .root
                .child(&tributary_checkpoint::CheckpointPaths::source_dir(i)),
            last_planned: planned.map(|r| (r.epoch, ends[i].clone())),
        };
        // A source or sink whose service is down at start (a broker, a store) is retried with
        // backoff, like an epoch.
        with_retry("opening a source", || s.open(&ctx)).await?;
        if spec.trigger == Trigger::AvailableNow {
            with_retry("fixing the available data", || async {
                s.prepare_available_now(None).await.map(|_| ())
            })
            .await?;
        }
    }
    let _ = starts_of_rerun;
    let sink_ctx = SinkContext {
        query_id: id.clone(),
        query_name: spec.name.clone(),
        output_mode: spec.output_mode,
        dir: spec.checkpoint.child("sink"),
    };
    with_retry("opening the sink", || spec.sink.open(&sink_ctx)).await?;
    let (plan, _static_tables) = materialize_static(plan, &state).await?;
    let aggregate: Option<Box<dyn StatefulOperator>> = match split_at_stateful(&plan)? {
        None => None,
        Some(split) if crate::plan::FlatMapGroupsWithState::of(&split.node).is_some() => {
            Some(Box::new(
                super::map_groups::MapGroupsOperator::open(
                    0,
                    split,
                    partitions,
                    &store.root,
                    committed_epoch,
                )
                .await?,
            ))
        }
        Some(split) if matches!(split.node, LogicalPlan::Join(_)) => Some(Box::new(
            super::join::JoinOperator::open(0, split, &store.root, committed_epoch).await?,
        )),
        Some(split) if Deduplicate::of(&split.node).is_some() => Some(Box::new(
            DedupOperator::open(
                0,
                split,
                partitions,
                &store.root,
                committed_epoch,
                spec.options.contains("late_rows_path"),
            )
            .await?,
        )),
        Some(split) => {
            let mut empty: HashMap<SourceKey, Arc<dyn TableProvider>> = HashMap::new();
            for (k, s) in &sources {
                let t = MemTable::try_new(s.schema(), vec![vec![]])
                    .map_err(TributaryError::df("empty input"))?;
                empty.insert(*k, Arc::new(t));
            }
            let empty_below = bind_epoch(&split.input, &empty)?;
            Some(Box::new(
                AggregateOperator::open(
                    0,
                    split,
                    spec.output_mode,
                    partitions,
                    &state,
                    &empty_below,
                    &store.root,
                    committed_epoch,
                    spec.options.contains("late_rows_path"),
                )
                .await?,
            ))
        }
    };
    let watermark = WatermarkTracker::new(
        &plan,
        start_watermark,
        match (&rerun, &last_committed) {
            (Some(r), _) => r.watermark_ms,
            (None, Some(c)) => c.watermark_ms,
            (None, None) => None,
        },
        spec.options.given("multiple_watermark_policy"),
    )?;
    let flush_at_end = spec.options.bool("flush_at_end");
    let idle_timeout = spec.options.duration("watermark_idle_timeout");
    let late_rows_path = match spec.options.given("late_rows_path") {
        Some(p) => Some(Location::resolve(p)?),
        None => None,
    };
    let shared = QueryShared::new(id, spec.name.clone());
    *shared.plan.lock().expect("plan") = crate::plan::describe(&plan);
    let query = StreamingQuery {
        shared: shared.clone(),
    };
    spec.session.streams().register(&query)?;
    let started = QueryStartedEvent {
        id: shared.id.clone(),
        run_id: shared.run_id.clone(),
        name: shared.name.clone(),
        timestamp: now_iso(),
    };
    for l in spec.session.streams().listeners() {
        l.on_query_started(&started);
    }
    let mut running = Running {
        shared: shared.clone(),
        session: spec.session.clone(),
        state,
        plan,
        sources,
        sink: spec.sink,
        trigger: spec.trigger,
        store,
        ends,
        next,
        rerun,
        last_trigger_start: None,
        aggregate,
        watermark,
        flush_at_end,
        late_rows_path,
        idle_timeout,
        last_data: (Instant::now(), None),
        idle_moved: Instant::now(),
    };
    let span =
        tracing::info_span!("query", id = %shared.id, name = shared.name.as_deref().unwrap_or(""));
    tokio::spawn(
        async move {
            let result = running.run().await;
            running.finish(result);
        }
        .instrument(span),
    );
    Ok(query)
}

impl Running {
    async fn run(&mut self) -> Result<()> {
        loop {
            if self.shared.stopping() {
                return Ok(());
            }
            let trigger_start = Instant::now();
            if let Some(rec) = self.rerun.take() {
                tracing::info!(
                    epoch = rec.epoch.0,
                    "re-running an epoch planned before a restart"
                );
                self.run_epoch_with_retry(rec, trigger_start, Duration::ZERO)
                    .await?;
                if self.trigger == Trigger::Once {
                    // The re-run epoch is the one epoch of `Once`, as in Spark.
                    return Ok(());
                }
                continue;
            }
            self.shared
                .set_status("Getting offsets from sources", false, true);
            let t = Instant::now();
            let limited = self.trigger != Trigger::Once;
            let mut offsets = Vec::with_capacity(self.sources.len());
            let mut any = false;
            for (i, (_, s)) in self.sources.iter().enumerate() {
                let start = self.ends[i].clone();
                let end = s.latest_offset(&start, limited, self.next).await?;
                any |= end.is_some();
                offsets.push(SourceOffset {
                    source: s.description(),
                    end: end.unwrap_or_else(|| start.clone()),
                    start,
                });
            }
            let latest_offset_time = t.elapsed();
            if !any && self.aggregate.is_some() {
                // A no-data epoch when the watermark moved past the last epoch's (so windows
                // close without waiting for new rows), or the final flush of a bounded run.
                let finishing = matches!(self.trigger, Trigger::AvailableNow | Trigger::Once)
                    && self.flush_at_end;
                if finishing && !self.watermark.is_final() {
                    self.watermark.finish();
                }
                // Beyond Spark: a quiet source lets event time move with the wall clock, so
                // windows close when the stream goes idle.
                if let (Some(timeout), Trigger::ProcessingTime(_), Some(base)) =
                    (self.idle_timeout, self.trigger, self.last_data.1)
                {
                    let idle = self.last_data.0.elapsed();
                    if idle >= timeout && self.idle_moved.elapsed() >= timeout {
                        self.idle_moved = Instant::now();
                        self.watermark
                            .advance_to(base.saturating_add(idle.as_millis() as i64));
                    }
                }
                let now_ms = chrono::Utc::now().timestamp_millis();
                let timeouts = self
                    .aggregate
                    .as_ref()
                    .is_some_and(|op| op.has_due_timeouts(now_ms));
                if self.watermark.advanced_since_last_epoch() || timeouts {
                    let record = OffsetRecord {
                        epoch: self.next,
                        timestamp_ms: now_ms,
                        watermark_ms: self.watermark.current(),
                        sources: offsets,
                    };
                    self.run_epoch_with_retry(record, trigger_start, latest_offset_time)
                        .await?;
                    continue;
                }
            }
            if !any {
                match self.trigger {
                    Trigger::AvailableNow | Trigger::Once => return Ok(()),
                    Trigger::ProcessingTime(d) => {
                        self.shared
                            .set_status("Waiting for data to arrive", false, false);
                        let idle = QueryIdleEvent {
                            id: self.shared.id.clone(),
                            run_id: self.shared.run_id.clone(),
                            timestamp: now_iso(),
                        };
                        for l in self.session.streams().listeners() {
                            l.on_query_idle(&idle);
                        }
                        let wait = d
                            .max(Duration::from_millis(100))
                            .saturating_sub(trigger_start.elapsed());
                        self.sleep(wait).await;
                        continue;
                    }
                }
            }
            let record = OffsetRecord {
                epoch: self.next,
                timestamp_ms: chrono::Utc::now().timestamp_millis(),
                watermark_ms: self.watermark.current(),
                sources: offsets,
            };
            self.run_epoch_with_retry(record, trigger_start, latest_offset_time)
                .await?;
            self.last_data = (Instant::now(), self.watermark.current());
            self.idle_moved = self.last_data.0;
            match self.trigger {
                Trigger::Once => return Ok(()),
                Trigger::AvailableNow => {}
                Trigger::ProcessingTime(d) => {
                    // Start at once when behind; otherwise wait for the next interval.
                    let wait = d.saturating_sub(trigger_start.elapsed());
                    if !wait.is_zero() {
                        self.shared
                            .set_status("Waiting for next trigger", false, false);
                        self.sleep(wait).await;
                    }
                }
            }
        }
    }

    async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shared.stop_notify.notified() => {}
        }
    }

    async fn run_epoch_with_retry(
        &mut self,
        record: OffsetRecord,
        trigger_start: Instant,
        latest: Duration,
    ) -> Result<()> {
        let mut attempt = 0;
        let mut wal_written = false;
        loop {
            attempt += 1;
            match self
                .run_epoch(&record, trigger_start, latest, &mut wal_written)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if e.domain() == ErrorDomain::External && attempt < MAX_ATTEMPTS => {
                    let backoff = Duration::from_millis(200 * 2u64.pow(attempt));
                    tracing::warn!(epoch = record.epoch.0, attempt, error = %e, "epoch failed, retrying in {backoff:?}");
                    self.shared
                        .set_status(&format!("Retrying after error: {e}"), true, false);
                    self.sleep(backoff).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn run_epoch(
        &mut self,
        record: &OffsetRecord,
        trigger_start: Instant,
        latest: Duration,
        wal_written: &mut bool,
    ) -> Result<()> {
        let epoch = record.epoch;
        let mut durations = BTreeMap::new();
        durations.insert("latestOffset".to_string(), ms(latest));
        self.shared.set_status("Processing new data", true, true);
        // 1. Write-ahead (skipped when re-running an epoch that is already in the log).
        let t = Instant::now();
        if !*wal_written && record.epoch >= self.next {
            self.store.write_offsets(record).await?;
        }
        *wal_written = true;
        self.ends = record.sources.iter().map(|s| s.end.clone()).collect();
        self.next = self.next.max(epoch.next());
        durations.insert("walCommit".to_string(), ms(t.elapsed()));
        // 2. The epoch's input.
        let t = Instant::now();
        let mut inputs: HashMap<SourceKey, Arc<dyn TableProvider>> = HashMap::new();
        let mut epoch_inputs = Vec::new();
        for (i, (key, s)) in self.sources.iter().enumerate() {
            let so = &record.sources[i];
            let input = if so.start == so.end {
                let empty = MemTable::try_new(s.schema(), vec![vec![]])
                    .map_err(TributaryError::df("empty input"))?;
                crate::source::EpochInput {
                    table: Arc::new(empty),
                    bad_records: None,
                    rows: Arc::new(0.into()),
                }
            } else {
                s.get_batch(&so.start, &so.end, epoch).await?
            };
            inputs.insert(*key, input.table.clone());
            epoch_inputs.push(input);
        }
        durations.insert("getBatch".to_string(), ms(t.elapsed()));
        // 3. Plan and run (through the stateful operator, if any).
        let t = Instant::now();
        self.watermark.reset_stats();
        let mut aggregated: Option<OperatorEpoch> = None;
        let plan = match &self.aggregate {
            None => bind_epoch(&self.plan, &inputs)?,
            Some(op) => {
                let bound = bind_epoch(&op.split().node, &inputs)?;
                let result = op
                    .process(
                        &self.state,
                        &bound,
                        record.watermark_ms,
                        record.timestamp_ms,
                    )
                    .await?;
                let above = bind_operator_output(
                    &op.split().above,
                    result.output.clone() as Arc<dyn TableProvider>,
                )?;
                aggregated = Some(result);
                bind_epoch(&above, &inputs)?
            }
        };
        let df = DataFrame::new(self.state.clone(), plan);
        let physical = df
            .clone()
            .create_physical_plan()
            .await
            .map_err(|e| from_df_error(&format!("planning epoch {epoch}"), e))?;
        durations.insert("queryPlanning".to_string(), ms(t.elapsed()));
        let t = Instant::now();
        let task = Arc::new(datafusion::execution::TaskContext::from(&self.state));
        let out_schema = physical.schema();
        let batches = datafusion::physical_plan::collect(physical, task)
            .await
            .map_err(|e| from_df_error(&format!("running epoch {epoch}"), e))?;
        // Bad records of the epoch: to the dead-letter location, named by epoch so a re-run
        // writes the same file again.
        let mut source_bad = Vec::new();
        for (i, input) in epoch_inputs.iter().enumerate() {
            let n = match &input.bad_records {
                Some(bad) => {
                    let n = bad.count();
                    if n > 0 {
                        let dir = self.sources[i]
                            .1
                            .bad_records_path()
                            .unwrap_or_else(|| self.store.root.child("bad_records"));
                        dir.ensure_dir()?;
                        bad.flush_to(&dir, &format!("epoch-{:06}-source-{i}.json", epoch.0))
                            .await?;
                    }
                    n
                }
                None => 0,
            };
            source_bad.push(n);
        }
        // State changes and late rows are written before the sink commits: a re-run epoch
        // writes the same files again.
        if let (Some(op), Some(result)) = (&self.aggregate, &aggregated) {
            op.persist(epoch, result).await?;
            if let Some(dir) = &self.late_rows_path {
                write_late_rows(dir, epoch, &result.late_rows).await?;
            }
        }
        let event_time = self.watermark.observe();
        let output = EpochOutput {
            schema: out_schema,
            batches,
            state: self.state.clone(),
        };
        let num_output_rows = output.num_rows();
        self.sink.add_batch(epoch, output).await?;
        durations.insert("addBatch".to_string(), ms(t.elapsed()));
        // 4. Commit.
        let t = Instant::now();
        self.store
            .write_commit(&CommitRecord {
                epoch,
                next_watermark_ms: event_time.next_watermark_ms,
                num_output_rows,
            })
            .await?;
        self.watermark.commit(&event_time, record.watermark_ms);
        let state_operators = match (&mut self.aggregate, aggregated) {
            (Some(op), Some(result)) => {
                let progress = result.progress.clone();
                op.commit(epoch, result);
                vec![progress]
            }
            _ => Vec::new(),
        };
        durations.insert("commitOffsets".to_string(), ms(t.elapsed()));
        if epoch.0.is_multiple_of(10) {
            self.store.purge(KEEP_EPOCHS).await?;
        }
        let total = trigger_start.elapsed();
        durations.insert("triggerExecution".to_string(), ms(total));
        // 5. Progress.
        let since_last = self
            .last_trigger_start
            .map(|l| trigger_start.duration_since(l))
            .unwrap_or(total)
            .as_secs_f64();
        self.last_trigger_start = Some(trigger_start);
        let per_sec = |rows: u64, secs: f64| if secs > 0.0 { rows as f64 / secs } else { 0.0 };
        let total_secs = total.as_secs_f64();
        let sources: Vec<SourceProgress> = epoch_inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let rows = input.rows.load(Ordering::Relaxed);
                SourceProgress {
                    description: record.sources[i].source.clone(),
                    start_offset: record.sources[i].start.clone(),
                    end_offset: record.sources[i].end.clone(),
                    latest_offset: record.sources[i].end.clone(),
                    num_input_rows: rows,
                    input_rows_per_second: per_sec(rows, since_last),
                    processed_rows_per_second: per_sec(rows, total_secs),
                    num_bad_records: source_bad[i],
                }
            })
            .collect();
        let num_input_rows: u64 = sources.iter().map(|s| s.num_input_rows).sum();
        let progress = StreamingQueryProgress {
            id: self.shared.id.clone(),
            run_id: self.shared.run_id.clone(),
            name: self.shared.name.clone(),
            timestamp: chrono::DateTime::from_timestamp_millis(record.timestamp_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            batch_id: epoch.0,
            num_input_rows,
            input_rows_per_second: per_sec(num_input_rows, since_last),
            processed_rows_per_second: per_sec(num_input_rows, total_secs),
            duration_ms: durations,
            event_time: event_time.progress(record.watermark_ms),
            state_operators,
            sources,
            sink: SinkProgress {
                description: self.sink.description(),
                num_output_rows: num_output_rows as i64,
            },
            num_bad_records: source_bad.iter().sum(),
        };
        tracing::debug!(progress = %progress.json(), "epoch done");
        self.shared.push_progress(progress.clone());
        let event = QueryProgressEvent { progress };
        for l in self.session.streams().listeners() {
            l.on_query_progress(&event);
        }
        Ok(())
    }

    fn finish(&self, result: Result<()>) {
        let exception = result.err().map(|e| e.to_string());
        if let Some(e) = &exception {
            tracing::error!(error = %e, "query terminated with an error");
        }
        *self.shared.exception.lock().expect("exception") = exception.clone();
        self.shared.set_status("Stopped", false, false);
        self.session.streams().deregister(&self.shared.id);
        let event = QueryTerminatedEvent {
            id: self.shared.id.clone(),
            run_id: self.shared.run_id.clone(),
            exception,
        };
        for l in self.session.streams().listeners() {
            l.on_query_terminated(&event);
        }
        self.shared.done_tx.send_replace(true);
    }
}

/// Write the rows an epoch dropped behind the watermark, as JSON lines named by epoch (a re-run
/// writes the same file).
async fn write_late_rows(
    dir: &Location,
    epoch: Epoch,
    rows: &[arrow::array::RecordBatch],
) -> Result<()> {
    if rows.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    dir.ensure_dir()?;
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
        for b in rows {
            w.write(b)
                .map_err(TributaryError::arrow("writing late rows"))?;
        }
        w.finish()
            .map_err(TributaryError::arrow("writing late rows"))?;
    }
    dir.write(&format!("epoch-{:06}.json", epoch.0), buf).await
}

/// Run `f`, retrying external errors with exponential backoff (as epochs are).
async fn with_retry<'a, F, Fut>(what: &str, f: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<()>> + 'a,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f().await {
            Err(e) if e.domain() == ErrorDomain::External && attempt < MAX_ATTEMPTS => {
                let backoff = Duration::from_millis(200 * 2u64.pow(attempt));
                tracing::warn!(attempt, error = %e, "{what} failed, retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
            }
            other => return other,
        }
    }
}
