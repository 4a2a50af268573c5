//! The epoch driver: plans, runs and commits epochs until the trigger policy says stop.
//!
//! ```text
//!  start_query:  prepare_plan ─► recover (checkpoint: Fresh | Resume | Rerun) ─► open_io
//!                ─► open_operator ─► spawn Running::run
//!  run:          rerun pending? ─► run_epoch(same offsets)
//!                poll sources (latest offsets) ─► TriggerPolicy (exec/trigger.rs) decides:
//!                RunEpoch | RunNoDataEpoch | Wait{until} | Stop
//!  run_epoch:    write_ahead (offsets/<e>) ─► read_inputs (get_batch) ─► execute (bind_epoch,
//!                stateful operators bottom-up, DataFusion) ─► sink.add_batch(e) ─► commit
//!                (commits/<e>) ─► report (progress, listeners)
//!  real time:    epochs of the checkpoint interval, rows processed as they arrive
//!                (driver/real_time.rs)
//! ```
//!
//! Time is read from the session's [`crate::clock::Clock`] only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use datafusion::datasource::{MemTable, TableProvider};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use futures::FutureExt;
use serde_json::Value;
use tracing::Instrument;
use tributary_checkpoint::{CommitRecord, Epoch, OffsetRecord, QueryIdentity, SourceOffset};

use super::aggregate::AggregateOperator;
use super::checkpoint_io::CheckpointStore;
use super::dedup::DedupOperator;
use super::lease::CheckpointLease;
use super::operator_inputs::{InputPlans, OperatorInputs};
use super::retry::RetryPolicy;
use super::stateful::{EpochWatermarks, OperatorEpoch, StatefulOperator};
use super::trigger::{Next, TriggerPolicy, WatermarkMove};
use super::watermark::WatermarkTracker;
use crate::clock::Clock;
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::modes::{OutputMode, Trigger};
use crate::plan::{
    bind_epoch, bind_operator_outputs, check_supported, find_sources, fork_sources,
    materialize_static, split_stateful, Deduplicate, PlanCache, SourceKey, SplitPlan,
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

mod real_time;
mod rebuild;
mod recover;

use recover::{first_epoch, laid_out, recover, Recovered};

/// Log files kept for this many committed epochs unless `min_epochs_to_retain` says (Spark:
/// `minBatchesToRetain`).
const KEEP_EPOCHS: usize = 100;
/// How epochs and the opening of sources and sinks retry transient errors.
const RETRY: RetryPolicy = RetryPolicy::DEFAULT;
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
    /// The lease on the checkpoint, checked before each epoch commits.
    lease: Option<Arc<CheckpointLease>>,
    shared: Arc<QueryShared>,
    session: Session,
    clock: Arc<dyn Clock>,
    state: SessionState,
    plan: LogicalPlan,
    sources: Vec<(SourceKey, Arc<dyn StreamSource>)>,
    sink: Arc<dyn Sink>,
    output_mode: OutputMode,
    policy: TriggerPolicy,
    store: CheckpointStore,
    /// End offsets of the last planned epoch, per source.
    ends: Vec<Value>,
    next: Epoch,
    rerun: Option<OffsetRecord>,
    /// The epoch this run started by running again (the sink may already hold it).
    rerun_epoch: Option<Epoch>,
    last_trigger_start: Option<i64>,
    /// The stateful operators (aggregation, deduplication, join, Top-N, user state), children
    /// before parents; empty for a stateless query.
    operators: Vec<Box<dyn StatefulOperator>>,
    /// The plans of each operator's inputs, prepared once and re-bound per epoch when they can
    /// be.
    input_plans: Vec<InputPlans>,
    /// The plan above the top operator, reading its output (when there are operators).
    above: Option<LogicalPlan>,
    /// The plan that gives the epoch's output (`plan`, or `above`), prepared once and re-bound
    /// per epoch when it can be.
    output_plan: PlanCache,
    /// The watermark the previous epoch ran with: chained operators drop as late only what was
    /// behind it.
    prev_watermark: Option<i64>,
    /// Event-time watermark of the query.
    watermark: WatermarkTracker,
    /// Where late rows go (`late_rows_path`), if kept.
    late_rows_path: Option<Location>,
    /// Committed epochs whose log files are kept (`min_epochs_to_retain`).
    keep_epochs: usize,
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Check, recover and start a query; returns once it runs.
pub(crate) async fn start_query(spec: QuerySpec) -> Result<StreamingQuery> {
    let clock = spec.session.clock();
    let (state, plan) = spec.df.clone().into_parts();
    let plan = prepare_plan(&state, plan, spec.output_mode)?;
    let sources = find_sources(&plan);
    let store = CheckpointStore {
        root: spec.checkpoint.clone(),
    };
    let identity = identity_of(&spec, &sources);
    // The lease first: nothing of the checkpoint is written by a run that does not hold it.
    let run_id = uuid::Uuid::new_v4().to_string();
    let lease = CheckpointLease::acquire(&store.root, &run_id, &clock).await?;
    match start_leased(spec, state, plan, sources, store, identity, clock, run_id).await {
        Ok((query, mut running)) => {
            let span = tracing::info_span!(
                "query",
                id = %query.id(),
                name = query.name().unwrap_or("")
            );
            running.lease = Some(lease.clone());
            tokio::spawn(
                async move {
                    // A panic is a bug; the query still stops with an error (its lease
                    // released) rather than leave `await_termination` waiting forever.
                    let result = std::panic::AssertUnwindSafe(running.run())
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|panic| Err(panicked(panic)));
                    lease.release().await;
                    running.finish(result);
                }
                .instrument(span),
            );
            Ok(query)
        }
        Err(e) => {
            lease.release().await;
            Err(e)
        }
    }
}

/// What the query reads and writes, as its checkpoint records it.
fn identity_of(spec: &QuerySpec, sources: &[(SourceKey, Arc<dyn StreamSource>)]) -> QueryIdentity {
    QueryIdentity {
        name: spec.name.clone(),
        sources: sources.iter().map(|(_, s)| s.description()).collect(),
        sink: spec.sink.description(),
    }
}

/// The error of a query whose driver panicked.
fn panicked(panic: Box<dyn std::any::Any + Send>) -> TributaryError {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    TributaryError::Internal(format!(
        "the query's driver panicked ({message}); this is a bug in Tributary: please report it. \
         The checkpoint is intact: restarting the query resumes from its last committed epoch"
    ))
}

/// Recover, open the sources, sink and operator, and register the query: everything after the
/// lease is taken.
#[allow(clippy::too_many_arguments)]
async fn start_leased(
    spec: QuerySpec,
    state: SessionState,
    plan: LogicalPlan,
    sources: Vec<(SourceKey, Arc<dyn StreamSource>)>,
    store: CheckpointStore,
    identity: QueryIdentity,
    clock: Arc<dyn Clock>,
    run_id: String,
) -> Result<(StreamingQuery, Running)> {
    if crate::state::repartition::unfinished(&store.root).await? {
        return Err(TributaryError::State {
            location: store.root.display.clone(),
            message: "a repartition of this checkpoint's state was staged and not finished: run \
                      `tributary state repartition` again (with the same --partitions) to \
                      finish it, then start the query"
                .into(),
        });
    }
    let rec = recover(&store, &identity, &spec, true).await?;
    let planned = rec.rerun.as_ref().or(rec.last_committed.as_ref());
    // The ends of the last planned epoch: the re-run one, or the last committed one.
    let ends: Vec<Value> = match planned {
        Some(r) => r.sources.iter().map(|s| s.end.clone()).collect(),
        None => vec![Value::Null; sources.len()],
    };
    open_io(&store, &sources, planned, &ends, &spec, &rec).await?;
    let plan = laid_out(plan, &rec)?;
    let shape = query_shape(&plan, &rec, &spec)?;
    let decision = match evolution_report(&store, &rec, &shape, &spec).await? {
        Some(r) => super::evolution::decide(
            &r,
            spec.options.given(super::evolution::STATE_EVOLUTION),
            &store.root.display,
        )?,
        None => Default::default(),
    };
    let (plan, _static_tables) =
        materialize_static(plan, &state, &store.root.child("bad_records"), &rec.id).await?;
    let rebuild = rebuild::with_parents(&plan, &decision.rebuild)?;
    let fresh = &decision.reset;
    let rebuilt = if rebuild.is_empty() {
        Vec::new()
    } else {
        rebuild::replay(&plan, &state, &sources, &store, &rec, &spec, &rebuild).await?
    };
    // From here state files change: marked until the new shape is recorded.
    let marked =
        super::evolution::mark_changing(&store, &rebuild.union(fresh).copied().collect()).await?;
    rebuild::write_rebuilt(&rebuilt, &rec).await?;
    drop(rebuilt);
    let (operators, above) =
        open_operators(&plan, &state, &sources, &store, &rec, &spec, fresh).await?;
    super::evolution::start_empty(&operators, fresh, rec.committed_epoch).await?;
    super::evolution::record(&store, shape, &operators).await?;
    if marked {
        super::evolution::changed(&store).await?;
    }
    let prev_watermark = match rec.committed_epoch {
        Some(c) => store.read_offsets(c).await?.last_watermark_ms(),
        None => None,
    };
    let watermark = WatermarkTracker::new(
        &plan,
        rec.start_watermark,
        match (&rec.rerun, &rec.last_committed) {
            (Some(r), _) => r.watermark_ms,
            // After a real-time epoch, the watermark its last arrival ran with.
            (None, Some(c)) => c.last_watermark_ms(),
            (None, None) => None,
        },
        rec.input_watermarks
            .as_deref()
            .map(|kept| (kept, rec.input_watermark_nodes.as_deref())),
        spec.options.given("multiple_watermark_policy"),
    )?;
    let late_rows_path = match spec.options.given("late_rows_path") {
        Some(p) => Some(spec.session.location(
            p,
            &crate::storage::StorageOptions::from_options(&spec.options)?,
        )?),
        None => None,
    };
    let policy = TriggerPolicy::new(
        spec.trigger,
        spec.options.bool("flush_at_end"),
        spec.options.duration("watermark_idle_timeout"),
        clock.now_ms(),
    );
    let shared = QueryShared::new(rec.id.clone(), run_id, spec.name.clone());
    *shared.live.lock().expect("live") = operators
        .iter()
        .filter_map(|op| op.live_state().cloned())
        .collect();
    *shared.plan.lock().expect("plan") = crate::plan::describe(&plan);
    let query = StreamingQuery {
        shared: shared.clone(),
    };
    spec.session.streams().register(&query)?;
    let started = QueryStartedEvent {
        id: shared.id.clone(),
        run_id: shared.run_id.clone(),
        name: shared.name.clone(),
        timestamp: iso(clock.now_ms()),
    };
    for l in spec.session.streams().listeners() {
        l.on_query_started(&started);
    }
    let running = Running {
        shared: shared.clone(),
        session: spec.session.clone(),
        clock,
        state,
        plan,
        sources,
        sink: spec.sink,
        output_mode: spec.output_mode,
        policy,
        store,
        ends,
        next: rec.next,
        rerun_epoch: rec.rerun.as_ref().map(|r| r.epoch),
        rerun: rec.rerun,
        last_trigger_start: None,
        input_plans: operators
            .iter()
            .map(|op| InputPlans::of(&op.split().node))
            .collect(),
        operators,
        above,
        output_plan: PlanCache::default(),
        prev_watermark,
        watermark,
        late_rows_path,
        lease: None,
        keep_epochs: spec
            .options
            .int("min_epochs_to_retain")
            .map_or(KEEP_EPOCHS, |n| n as usize),
    };
    Ok((query, running))
}

/// Analyze the query, check that it can run as a stream, and give each query its own sources.
fn prepare_plan(state: &SessionState, plan: LogicalPlan, mode: OutputMode) -> Result<LogicalPlan> {
    fork_sources(checked_plan(state, plan, mode)?)
}

/// Check that `plan` can run as a stream in `mode`, before anything is opened for it (a sink's
/// own checks would otherwise speak first, of something the query cannot fix).
pub(crate) fn check_streaming_plan(
    state: &SessionState,
    plan: LogicalPlan,
    mode: OutputMode,
) -> Result<()> {
    checked_plan(state, plan, mode).map(|_| ())
}

/// The query analyzed, rewritten for a stream and checked.
fn checked_plan(state: &SessionState, plan: LogicalPlan, mode: OutputMode) -> Result<LogicalPlan> {
    let plan = crate::functions::expand_sliding_windows(plan)
        .map_err(TributaryError::df("expanding sliding windows"))?;
    let plan = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .map_err(TributaryError::df("analyzing the streaming query"))?;
    let plan = crate::plan::distinct_to_dedup(plan)?;
    let plan = crate::plan::rank_to_top_n(plan)?;
    let plan = crate::plan::stable_calls_below_aggregates(plan)?;
    check_supported(&plan, mode)?;
    Ok(plan)
}

/// Open the sources (and fix what an available-now run reads) and the sink. A service that is
/// down at start (a broker, a store) is retried with backoff, like an epoch.
async fn open_io(
    store: &CheckpointStore,
    sources: &[(SourceKey, Arc<dyn StreamSource>)],
    planned: Option<&OffsetRecord>,
    ends: &[Value],
    spec: &QuerySpec,
    rec: &Recovered,
) -> Result<()> {
    for (i, (_, s)) in sources.iter().enumerate() {
        let ctx = SourceContext {
            dir: store
                .root
                .child(&tributary_checkpoint::CheckpointPaths::source_dir(i)),
            last_planned: planned.map(|r| (r.epoch, ends[i].clone())),
            real_time: matches!(spec.trigger, Trigger::RealTime(_)),
        };
        with_retry("opening a source", || s.open(&ctx)).await?;
        if spec.trigger == Trigger::AvailableNow {
            with_retry("fixing the available data", || async {
                s.prepare_available_now(None).await.map(|_| ())
            })
            .await?;
        }
    }
    let sink_ctx = SinkContext {
        query_id: rec.id.clone(),
        query_name: spec.name.clone(),
        output_mode: spec.output_mode,
        dir: spec.checkpoint.child("sink"),
        committed_epoch: rec.committed_epoch,
        rerun_epoch: rec.rerun.as_ref().map(|r| r.epoch),
        real_time: matches!(spec.trigger, Trigger::RealTime(_)),
    };
    with_retry("opening the sink", || spec.sink.open(&sink_ctx)).await
}

/// The stateful operators of the plan (children before parents) and the plan above them,
/// opened on their state in the checkpoint.
async fn open_operators(
    plan: &LogicalPlan,
    state: &SessionState,
    sources: &[(SourceKey, Arc<dyn StreamSource>)],
    store: &CheckpointStore,
    rec: &Recovered,
    spec: &QuerySpec,
    fresh: &BTreeSet<usize>,
) -> Result<(Vec<Box<dyn StatefulOperator>>, Option<LogicalPlan>)> {
    let Some(split) = split_stateful(plan)? else {
        return Ok((Vec::new(), None));
    };
    let top = split.operators.len() - 1;
    let mut empty: HashMap<SourceKey, Arc<dyn TableProvider>> = HashMap::new();
    for (k, s) in sources {
        let t = MemTable::try_new(s.schema(), vec![vec![]])
            .map_err(TributaryError::df("empty input"))?;
        empty.insert(*k, Arc::new(t));
    }
    let mut empty_outputs: HashMap<usize, Arc<dyn TableProvider>> = HashMap::new();
    let mut operators = Vec::with_capacity(split.operators.len());
    let views = live_view_names(&split.operators, spec, &rec.id);
    let above = split.above.clone();
    // The memory budget is shared evenly by every partition of every operator.
    let stores = split.operators.len() * rec.layout.partitions.max(1);
    let store_limit = spec
        .options
        .bytes("state_memory_limit")
        .map(|b| (b as usize / stores).max(1));
    for op in split.operators {
        // The top operator emits in the query's output mode; one below another emits each row
        // once, when it is final (the checker made sure it can).
        let mode = if op.id == top {
            spec.output_mode
        } else {
            OutputMode::Append
        };
        let t = MemTable::try_new(op.output_schema.clone(), vec![vec![]])
            .map_err(TributaryError::df("empty operator output"))?;
        let (id, output) = (op.id, Arc::new(t) as Arc<dyn TableProvider>);
        let ctx = OperatorContext {
            store,
            rec,
            spec,
            store_limit,
            fresh,
        };
        let live = views.get(&id).map(|name| super::live_view::LiveSpec {
            name: name.clone(),
            above: (id == top).then(|| above.clone()),
        });
        operators.push(open_operator(op, mode, state, &empty, &empty_outputs, &ctx, live).await?);
        empty_outputs.insert(id, output);
    }
    Ok((operators, Some(split.above)))
}

/// Whether the session asks for live views of the query's aggregations.
fn live_views_wanted(spec: &QuerySpec) -> bool {
    spec.session
        .conf(crate::state::LIVE_STATE_CONF)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The names of the live views of the operators that keep one (aggregations and
/// `map_groups_with_state`), when the session asks for them: `<query>_state`, or
/// `<query>_state_<operator>` when there are several.
fn live_view_names(operators: &[SplitPlan], spec: &QuerySpec, id: &str) -> HashMap<usize, String> {
    if !live_views_wanted(spec) {
        return HashMap::new();
    }
    let viewed: Vec<usize> = operators
        .iter()
        .filter(|op| {
            matches!(op.node, LogicalPlan::Aggregate(_))
                || crate::plan::FlatMapGroupsWithState::of(&op.node).is_some()
        })
        .map(|op| op.id)
        .collect();
    let base: String = match &spec.name {
        Some(n) => n.clone(),
        None => format!("query_{}", id.chars().take(8).collect::<String>()),
    }
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    })
    .collect();
    let several = viewed.len() > 1;
    viewed
        .into_iter()
        .map(|id| {
            let name = if several {
                format!("{base}_state_{id}")
            } else {
                format!("{base}_state")
            };
            (id, name)
        })
        .collect()
}

/// What every operator opens its state with.
struct OperatorContext<'a> {
    store: &'a CheckpointStore,
    rec: &'a Recovered,
    spec: &'a QuerySpec,
    /// Memory for the rows of one state partition (`state_memory_limit` shared out).
    store_limit: Option<usize>,
    /// The operators that start with empty state (a query change reset them).
    fresh: &'a BTreeSet<usize>,
}

/// One stateful operator, opened on its state in the checkpoint.
async fn open_operator(
    split: SplitPlan,
    mode: OutputMode,
    state: &SessionState,
    empty_sources: &HashMap<SourceKey, Arc<dyn TableProvider>>,
    empty_outputs: &HashMap<usize, Arc<dyn TableProvider>>,
    ctx: &OperatorContext<'_>,
    live: Option<super::live_view::LiveSpec>,
) -> Result<Box<dyn StatefulOperator>> {
    let (store, rec, spec, limit) = (ctx.store, ctx.rec, ctx.spec, ctx.store_limit);
    let keep_late = spec.options.contains("late_rows_path");
    let id = split.id;
    let committed = if ctx.fresh.contains(&id) {
        None
    } else {
        rec.committed_epoch
    };
    let (partitions, root) = (rec.layout.partitions, &store.root);
    let parts = (partitions, rec.layout.partition_hash);
    Ok(
        if crate::plan::FlatMapGroupsWithState::of(&split.node).is_some() {
            Box::new(
                super::map_groups::MapGroupsOperator::open(
                    id,
                    split,
                    parts,
                    root,
                    committed,
                    limit,
                    live.map(|l| l.name),
                )
                .await?,
            )
        } else if matches!(split.node, LogicalPlan::Join(_)) {
            // A join's stores (two per partition) share what its partitions' stores would have.
            let sides = rec.layout.join_partitions.max(1);
            let limit = limit.map(|l| (l * partitions / (2 * sides)).max(1));
            Box::new(
                super::join::JoinOperator::open(
                    id,
                    split,
                    state,
                    root,
                    committed,
                    (sides, rec.layout.partition_hash),
                    limit,
                    keep_late,
                )
                .await?,
            )
        } else if crate::plan::TopN::of(&split.node).is_some() {
            Box::new(
                super::topn::TopNOperator::open(id, split, mode, parts, root, committed, limit)
                    .await?,
            )
        } else if Deduplicate::of(&split.node).is_some() {
            Box::new(
                DedupOperator::open(id, split, parts, root, committed, keep_late, limit).await?,
            )
        } else {
            let below = bind_operator_outputs(split.node.inputs()[0], empty_outputs)?;
            let empty_below = bind_epoch(&below, empty_sources)?;
            Box::new(
                AggregateOperator::open(
                    id,
                    split,
                    mode,
                    parts,
                    state,
                    &empty_below,
                    root,
                    committed,
                    (keep_late, rec.layout.pane_states),
                    limit,
                    live,
                )
                .await?,
            )
        },
    )
}

/// The stateful shape of the plan the operators are split from.
fn query_shape(
    plan: &LogicalPlan,
    rec: &Recovered,
    spec: &QuerySpec,
) -> Result<crate::plan::shape::QueryShape> {
    super::evolution::shape_of(
        plan,
        first_epoch(rec),
        spec.output_mode,
        rec.layout.partitions,
        crate::plan::shape::LayoutChoice {
            keep_late_rows: spec.options.contains("late_rows_path"),
            mode: spec.output_mode,
            live: live_views_wanted(spec),
            pane_states: rec.layout.pane_states,
        },
    )
}

/// The changed query against the checkpoint's record (None: nothing to compare with).
async fn evolution_report(
    store: &CheckpointStore,
    rec: &Recovered,
    shape: &crate::plan::shape::QueryShape,
    spec: &QuerySpec,
) -> Result<Option<crate::plan::evolution::EvolutionReport>> {
    let asked = spec
        .options
        .int("state_partitions")
        .filter(|_| spec.options.contains("state_partitions"))
        .map(|n| n as usize);
    let report = super::evolution::report(store, first_epoch(rec), shape, asked).await?;
    // A checkpoint written before shapes were recorded is still held to its partitions.
    Ok(report.or_else(|| {
        asked
            .filter(|a| *a != rec.layout.partitions && rec.committed_epoch.is_some())
            .map(|a| crate::plan::evolution::EvolutionReport {
                operators: Vec::new(),
                query: Vec::new(),
                partitions: Some((rec.layout.partitions, a)),
            })
    }))
}

/// `tributary plan`: the report of the query against its checkpoint, without starting it or
/// writing anything. None: the checkpoint is new.
pub(crate) async fn plan_evolution(
    spec: QuerySpec,
) -> Result<Option<crate::plan::evolution::EvolutionReport>> {
    let (state, plan) = spec.df.clone().into_parts();
    let plan = prepare_plan(&state, plan, spec.output_mode)?;
    let sources = find_sources(&plan);
    let store = CheckpointStore {
        root: spec.checkpoint.clone(),
    };
    if store.listing().await?.metadata.is_none() {
        return Ok(None);
    }
    let identity = identity_of(&spec, &sources);
    let rec = recover(&store, &identity, &spec, false).await?;
    let plan = laid_out(plan, &rec)?;
    let shape = query_shape(&plan, &rec, &spec)?;
    match evolution_report(&store, &rec, &shape, &spec).await? {
        Some(mut r) => {
            if r.changed().next().is_some() {
                r.query.push(rebuild::can_rebuild(&store, &rec).await?);
            }
            Ok(Some(r))
        }
        // Recorded by no run yet: every operator is compared with nothing.
        None => Ok(Some(crate::plan::evolution::EvolutionReport {
            operators: Vec::new(),
            query: vec![
                "the checkpoint has no recorded shape (it was written before Tributary \
                 recorded one): the query starts on it unchecked, and records its shape"
                    .into(),
            ],
            partitions: None,
        })),
    }
}

impl Running {
    async fn run(&mut self) -> Result<()> {
        loop {
            if self.shared.stopping() {
                return Ok(());
            }
            let trigger_start = self.clock.now_ms();
            if let Some(rec) = self.rerun.take() {
                tracing::info!(
                    epoch = rec.epoch.0,
                    "re-running an epoch planned before a restart"
                );
                if rec.arrivals.is_empty() {
                    self.run_epoch_with_retry(rec, trigger_start, 0).await?;
                } else {
                    self.replay_real_time_epoch(rec).await?;
                }
                match self.policy.after_rerun() {
                    Next::Stop => return Ok(()),
                    _ => continue,
                }
            }
            if let Some(interval) = self.policy.real_time() {
                self.run_real_time_epoch(interval).await?;
                continue;
            }
            let (offsets, new_data) = self.poll_sources().await?;
            let latest_offset_ms = self.clock.now_ms() - trigger_start;
            let no_data_work = !new_data && self.no_data_work();
            let next =
                self.policy
                    .after_poll(self.clock.now_ms(), trigger_start, new_data, no_data_work);
            let next = match next {
                Next::RunEpoch | Next::RunNoDataEpoch => {
                    let record = OffsetRecord {
                        epoch: self.next,
                        timestamp_ms: self.clock.now_ms(),
                        watermark_ms: self.watermark.current(),
                        sources: offsets,
                        arrivals: Vec::new(),
                    };
                    self.run_epoch_with_retry(record, trigger_start, latest_offset_ms)
                        .await?;
                    self.policy.after_epoch(
                        self.clock.now_ms(),
                        trigger_start,
                        next == Next::RunEpoch,
                        self.watermark.current(),
                    )
                }
                other => other,
            };
            match next {
                Next::Stop => return Ok(()),
                Next::Wait { until_ms, idle } => {
                    if idle {
                        self.shared
                            .set_status("Waiting for data to arrive", false, false);
                        let event = QueryIdleEvent {
                            id: self.shared.id.clone(),
                            run_id: self.shared.run_id.clone(),
                            timestamp: iso(self.clock.now_ms()),
                        };
                        for l in self.session.streams().listeners() {
                            l.on_query_idle(&event);
                        }
                        self.shared.idle_polls.send_modify(|n| *n += 1);
                    } else {
                        self.shared
                            .set_status("Waiting for next trigger", false, false);
                    }
                    self.sleep_until(until_ms).await;
                }
                Next::Poll | Next::RunEpoch | Next::RunNoDataEpoch => {}
            }
        }
    }

    /// No new data came: move an idle watermark as the trigger policy says; whether an epoch
    /// without data would change something (the watermark moved, or timeouts are due).
    fn no_data_work(&mut self) -> bool {
        if self.operators.is_empty() {
            return false;
        }
        let now = self.clock.now_ms();
        match self.policy.idle_watermark(now, self.watermark.is_final()) {
            WatermarkMove::Stay => {}
            WatermarkMove::Finish => self.watermark.finish(),
            WatermarkMove::AdvanceTo(ms) => self.watermark.advance_to(ms),
        }
        self.watermark.advanced_since_last_epoch()
            || self.operators.iter().any(|op| op.has_due_timeouts(now))
    }

    /// Ask every source for the end of the next epoch; whether any has new data.
    async fn poll_sources(&self) -> Result<(Vec<SourceOffset>, bool)> {
        self.shared
            .set_status("Getting offsets from sources", false, true);
        let limited = self.policy.rate_limited();
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
        Ok((offsets, any))
    }

    /// Sleep until the clock reads `until_ms`, or the query is stopped.
    async fn sleep_until(&self, until_ms: i64) {
        let wait = until_ms - self.clock.now_ms();
        if wait > 0 {
            self.sleep(Duration::from_millis(wait as u64)).await;
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
        trigger_start: i64,
        latest_offset_ms: i64,
    ) -> Result<()> {
        let mut attempt = 0;
        let mut wal_written = false;
        loop {
            attempt += 1;
            match self
                .run_epoch(&record, trigger_start, latest_offset_ms, &mut wal_written)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => match RETRY.backoff(attempt, &e) {
                    Some(backoff) => {
                        tracing::warn!(epoch = record.epoch.0, attempt, error = %e, "epoch failed, retrying in {backoff:?}");
                        self.shared
                            .set_status(&format!("Retrying after error: {e}"), true, false);
                        self.sleep(backoff).await;
                    }
                    None => return Err(e),
                },
            }
        }
    }

    /// One epoch: write-ahead, inputs, execution, sink, commit, progress. A re-run after an
    /// error starts again from the inputs (the offsets are already in the log).
    async fn run_epoch(
        &mut self,
        record: &OffsetRecord,
        trigger_start: i64,
        latest_offset_ms: i64,
        wal_written: &mut bool,
    ) -> Result<()> {
        let epoch = record.epoch;
        let mut timer = Timer::new(self.clock.clone());
        timer.record("latestOffset", latest_offset_ms);
        self.shared.set_status("Processing new data", true, true);
        // The offsets are written while the inputs are read: a read leaves nothing behind (the
        // same offsets give the same rows), and nothing runs before both are done.
        // Offsets written are remembered even when the read fails, so that the retry does not
        // write them a second time.
        let clock = self.clock.clone();
        let (wal, read) = futures::future::join(
            timed(&*clock, self.write_ahead(record, *wal_written)),
            timed(&*clock, self.read_inputs(record)),
        )
        .await;
        let (wal_ms, ()) = wal?;
        self.written_ahead(record, wal_written);
        let (read_ms, inputs) = read?;
        timer.record("walCommit", wal_ms);
        timer.record("getBatch", read_ms);
        timer.restart();
        let (physical, mut operated) = self.plan_epoch(record, &inputs).await?;
        timer.lap("queryPlanning");
        // The stateful operators ran while the epoch was planned (each reads what the ones
        // below emitted): their time is execution, which Spark counts in addBatch.
        let operators_ms: u64 = operated
            .iter()
            .filter_map(|o| o.progress["allUpdatesTimeMs"].as_u64())
            .sum();
        let task = Arc::new(datafusion::execution::TaskContext::from(&self.state));
        let out_schema = physical.schema();
        let batches = datafusion::physical_plan::collect(physical, task)
            .await
            .map_err(|e| from_df_error(&format!("running epoch {epoch}"), e))?;
        let source_bad = self.flush_bad_records(epoch, None, &inputs).await?;
        let event_time = self.watermark.observe();
        let output = EpochOutput {
            schema: out_schema,
            batches,
            state: self.state.clone(),
        };
        if let Some(lease) = &self.lease {
            lease.check()?;
        }
        // State changes and late rows are written while the sink writes, and both before the
        // commit record: an epoch that fails in either runs again from its offsets, computes
        // the same state and writes the same files again.
        let persist = async {
            for (op, result) in self.operators.iter().zip(&mut operated) {
                let start = self.clock.now_ms();
                op.persist(epoch, result).await?;
                result.progress["commitTimeMs"] =
                    serde_json::json!((self.clock.now_ms() - start).max(0));
                if let Some(dir) = &self.late_rows_path {
                    write_late_rows(dir, epoch, op.split().id, &result.late_rows).await?;
                }
            }
            Ok::<(), TributaryError>(())
        };
        let write = async {
            // An epoch the sink wrote before a crash is not written again, and its rows are
            // not counted out a second time.
            let held = self.rerun_epoch == Some(epoch) && self.sink.holds_epoch(epoch).await?;
            if held {
                tracing::info!(
                    epoch = epoch.0,
                    "the sink already holds this epoch (written before the restart): not written again"
                );
                return Ok::<u64, TributaryError>(0);
            }
            let rows = output.num_rows();
            self.sink.add_batch(epoch, output).await?;
            Ok(rows)
        };
        let ((), num_output_rows) = futures::future::try_join(persist, write).await?;
        timer.lap("addBatch");
        timer.shift("queryPlanning", "addBatch", operators_ms);
        self.store
            .write_commit(&CommitRecord {
                epoch,
                next_watermark_ms: event_time.next_watermark_ms,
                num_output_rows,
                input_watermarks_ms: event_time.input_watermarks(),
                input_watermark_nodes: self.watermark.input_watermark_nodes(),
            })
            .await?;
        self.watermark.commit(&event_time, record.watermark_ms);
        let mut state_operators = Vec::with_capacity(operated.len());
        for (op, mut result) in self.operators.iter_mut().zip(operated) {
            let mut progress = result.progress.clone();
            let start = self.clock.now_ms();
            let live = result.live.take();
            op.commit(epoch, result)?;
            if let (Some(view), Some(change)) = (op.live_state(), live) {
                view.apply(epoch, change)?;
            }
            let persisted = progress["commitTimeMs"].as_i64().unwrap_or(0);
            progress["commitTimeMs"] =
                serde_json::json!(persisted + (self.clock.now_ms() - start).max(0));
            state_operators.push(progress);
        }
        self.prev_watermark = record.watermark_ms;
        timer.lap("commitOffsets");
        if epoch.0.is_multiple_of(10) {
            self.store.purge(self.keep_epochs).await?;
        }
        timer.record("triggerExecution", self.clock.now_ms() - trigger_start);
        self.report(EpochReport {
            record,
            trigger_start,
            durations: timer.durations,
            source_rows: inputs
                .iter()
                .map(|i| i.rows.load(Ordering::Relaxed))
                .collect(),
            source_bad,
            event_time: event_time.progress(record.watermark_ms),
            state_operators,
            num_output_rows,
            real_time: None,
        });
        Ok(())
    }

    /// Write the epoch's offsets before anything else (skipped when re-running an epoch that is
    /// already in the log).
    async fn write_ahead(&self, record: &OffsetRecord, wal_written: bool) -> Result<()> {
        if !wal_written && record.epoch >= self.next {
            self.store.write_offsets(record).await?;
        }
        Ok(())
    }

    /// The epoch's offsets are in the log: a retry does not write them again.
    fn written_ahead(&mut self, record: &OffsetRecord, wal_written: &mut bool) {
        *wal_written = true;
        self.ends = record.sources.iter().map(|s| s.end.clone()).collect();
        self.next = self.next.max(record.epoch.next());
    }

    /// Each source's rows between the epoch's start and end offsets.
    async fn read_inputs(&self, record: &OffsetRecord) -> Result<Vec<crate::source::EpochInput>> {
        let mut inputs = Vec::with_capacity(self.sources.len());
        for (i, (_, s)) in self.sources.iter().enumerate() {
            let so = &record.sources[i];
            inputs.push(if so.start == so.end {
                let empty = MemTable::try_new(s.schema(), vec![vec![]])
                    .map_err(TributaryError::df("empty input"))?;
                crate::source::EpochInput {
                    table: Arc::new(empty),
                    bad_records: None,
                    rows: Arc::new(0.into()),
                }
            } else {
                s.get_batch(&so.start, &so.end, record.epoch).await?
            });
        }
        Ok(inputs)
    }

    /// Bind the epoch's inputs into the plan, through the stateful operator if any; the
    /// physical plan of the epoch's output.
    async fn plan_epoch(
        &self,
        record: &OffsetRecord,
        inputs: &[crate::source::EpochInput],
    ) -> Result<(
        Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        Vec<OperatorEpoch>,
    )> {
        let tables: HashMap<SourceKey, Arc<dyn TableProvider>> = self
            .sources
            .iter()
            .zip(inputs)
            .map(|((key, _), input)| (*key, input.table.clone()))
            .collect();
        self.watermark.reset_stats();
        let mut operated: Vec<OperatorEpoch> = Vec::with_capacity(self.operators.len());
        // Bottom-up: each operator reads the rows the ones below emitted this epoch.
        let mut outputs: HashMap<usize, Arc<dyn TableProvider>> = HashMap::new();
        for (op, plans) in self.operators.iter().zip(&self.input_plans) {
            let split = op.split();
            let op_inputs =
                OperatorInputs::new(&split.node, (&tables, &outputs), plans, record.timestamp_ms);
            let watermarks = EpochWatermarks::of(split, self.prev_watermark, record.watermark_ms);
            let start = self.clock.now_ms();
            let mut result = op.process(&self.state, &op_inputs, watermarks).await?;
            result.progress["allUpdatesTimeMs"] =
                serde_json::json!((self.clock.now_ms() - start).max(0));
            outputs.insert(split.id, result.output.clone() as Arc<dyn TableProvider>);
            operated.push(result);
        }
        let template = self.above.as_ref().unwrap_or(&self.plan);
        let what = format!("epoch {}", record.epoch);
        let physical = self
            .output_plan
            .plan(
                &self.state,
                template,
                (&tables, &outputs),
                record.timestamp_ms,
                &what,
            )
            .await?;
        Ok((physical, operated))
    }

    /// Bad records of the epoch, to the dead-letter location, named by epoch (and by arrival,
    /// `part`, in real-time mode) so a re-run writes the same file again. The count per source.
    async fn flush_bad_records(
        &self,
        epoch: Epoch,
        part: Option<u64>,
        inputs: &[crate::source::EpochInput],
    ) -> Result<Vec<u64>> {
        let mut counts = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let n = input.bad_records.as_ref().map_or(0, |b| b.count());
            if let (Some(bad), true) = (&input.bad_records, n > 0) {
                let dir = self.sources[i]
                    .1
                    .bad_records_path()
                    .unwrap_or_else(|| self.store.root.child("bad_records"));
                dir.ensure_dir()?;
                // Named by query too: runs of other queries (or of this one on a new
                // checkpoint) that share the folder never overwrite these.
                let name = match part {
                    None => format!("{}-epoch-{:06}-source-{i}.json", self.shared.id, epoch.0),
                    Some(a) => format!(
                        "{}-epoch-{:06}-arrival-{a:06}-source-{i}.json",
                        self.shared.id, epoch.0
                    ),
                };
                bad.flush_to(&dir, &name).await?;
            }
            counts.push(n);
        }
        Ok(counts)
    }

    /// The epoch's progress record, to the query's history and the listeners.
    fn report(&mut self, r: EpochReport<'_>) {
        let total_ms = self.clock.now_ms() - r.trigger_start;
        let since_last = self
            .last_trigger_start
            .map_or(total_ms, |l| r.trigger_start - l);
        self.last_trigger_start = Some(r.trigger_start);
        let per_sec = |rows: u64, ms: i64| {
            if ms > 0 {
                rows as f64 * 1000.0 / ms as f64
            } else {
                0.0
            }
        };
        let sources: Vec<SourceProgress> = r
            .source_rows
            .iter()
            .enumerate()
            .map(|(i, &rows)| {
                let so = &r.record.sources[i];
                SourceProgress {
                    description: so.source.clone(),
                    start_offset: so.start.clone(),
                    end_offset: so.end.clone(),
                    latest_offset: so.end.clone(),
                    num_input_rows: rows,
                    input_rows_per_second: per_sec(rows, since_last),
                    processed_rows_per_second: per_sec(rows, total_ms),
                    num_bad_records: r.source_bad[i],
                }
            })
            .collect();
        let num_input_rows: u64 = sources.iter().map(|s| s.num_input_rows).sum();
        let progress = StreamingQueryProgress {
            id: self.shared.id.clone(),
            run_id: self.shared.run_id.clone(),
            name: self.shared.name.clone(),
            timestamp: iso(r.record.timestamp_ms),
            batch_id: r.record.epoch.0,
            num_input_rows,
            input_rows_per_second: per_sec(num_input_rows, since_last),
            processed_rows_per_second: per_sec(num_input_rows, total_ms),
            duration_ms: r.durations,
            event_time: r.event_time,
            state_operators: r.state_operators,
            sources,
            sink: SinkProgress {
                description: self.sink.description(),
                num_output_rows: r.num_output_rows as i64,
            },
            num_bad_records: r.source_bad.iter().sum(),
            real_time: r.real_time,
        };
        tracing::debug!(progress = %progress.json(), "epoch done");
        self.shared.push_progress(progress.clone());
        let event = QueryProgressEvent { progress };
        for l in self.session.streams().listeners() {
            l.on_query_progress(&event);
        }
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

/// Write the rows an operator dropped behind the watermark in an epoch, as JSON lines named by
/// epoch (and by operator after the first; a re-run writes the same file).
async fn write_late_rows(
    dir: &Location,
    epoch: Epoch,
    operator: usize,
    rows: &[arrow::array::RecordBatch],
) -> Result<()> {
    if rows.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    dir.ensure_dir()?;
    let mut buf = Vec::new();
    {
        let mut w = crate::format::json_out::line_writer(&mut buf);
        for b in rows {
            w.write(b)
                .map_err(TributaryError::arrow("writing late rows"))?;
        }
        w.finish()
            .map_err(TributaryError::arrow("writing late rows"))?;
    }
    let name = match operator {
        0 => format!("epoch-{:06}.json", epoch.0),
        n => format!("epoch-{:06}-operator-{n}.json", epoch.0),
    };
    dir.write(&name, buf).await
}

/// Run `f`, retrying transient errors by the retry policy (as epochs are).
async fn with_retry<'a, F, Fut>(what: &str, f: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<()>> + 'a,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f().await {
            Err(e) => match RETRY.backoff(attempt, &e) {
                Some(backoff) => {
                    tracing::warn!(attempt, error = %e, "{what} failed, retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                }
                None => return Err(e),
            },
            ok => return ok,
        }
    }
}

/// What an epoch reports when it is done.
struct EpochReport<'a> {
    record: &'a OffsetRecord,
    trigger_start: i64,
    durations: BTreeMap<String, u64>,
    /// Rows read per source.
    source_rows: Vec<u64>,
    source_bad: Vec<u64>,
    event_time: BTreeMap<String, String>,
    state_operators: Vec<serde_json::Value>,
    num_output_rows: u64,
    /// Real-time mode's part of the record.
    real_time: Option<crate::progress::RealTimeProgress>,
}

/// The durations of an epoch's steps (Spark's `durationMs`), read from the clock.
/// `f`'s result and how long it took, in ms.
async fn timed<T>(
    clock: &dyn Clock,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<(i64, T)> {
    let start = clock.now_ms();
    let out = f.await?;
    Ok(((clock.now_ms() - start).max(0), out))
}

struct Timer {
    clock: Arc<dyn Clock>,
    last: i64,
    durations: BTreeMap<String, u64>,
}

impl Timer {
    fn new(clock: Arc<dyn Clock>) -> Self {
        let last = clock.now_ms();
        Timer {
            clock,
            last,
            durations: BTreeMap::new(),
        }
    }

    fn record(&mut self, step: &str, ms: i64) {
        self.durations.insert(step.to_string(), ms.max(0) as u64);
    }

    /// Count `ms` of what was timed as `from` as `to` instead.
    fn shift(&mut self, from: &str, to: &str, ms: u64) {
        let taken = self.durations.get(from).map_or(0, |d| ms.min(*d));
        if let Some(d) = self.durations.get_mut(from) {
            *d -= taken;
        }
        *self.durations.entry(to.to_string()).or_default() += taken;
    }

    /// Start the next lap now (after steps recorded by their own measure).
    fn restart(&mut self) {
        self.last = self.clock.now_ms();
    }

    /// The time since the last lap, as `step`.
    fn lap(&mut self, step: &str) {
        let now = self.clock.now_ms();
        self.record(step, now - self.last);
        self.last = now;
    }
}

#[cfg(test)]
mod timer_tests {
    use super::*;
    use crate::clock::ManualClock;

    /// Operator time measured inside planning is reported as execution, never more than
    /// planning took.
    #[test]
    fn shifted_time_moves_from_planning_to_execution() {
        let clock = ManualClock::new(0);
        let mut timer = Timer::new(Arc::new(clock.clone()));
        clock.advance(30);
        timer.lap("queryPlanning");
        clock.advance(5);
        timer.lap("addBatch");
        timer.shift("queryPlanning", "addBatch", 27);
        assert_eq!(timer.durations["queryPlanning"], 3);
        assert_eq!(timer.durations["addBatch"], 32);
        timer.shift("queryPlanning", "addBatch", 100);
        assert_eq!(timer.durations["queryPlanning"], 0);
        assert_eq!(timer.durations["addBatch"], 35);
    }
}
