//! The session: DataFusion's `SessionContext` plus the streaming queries that run in it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Result, TributaryError};
use crate::functions::SlidingWindowRule;
use crate::plan::TributaryQueryPlanner;
use crate::query::StreamingQueryManager;
use crate::reader::{DataFrameReader, DataStreamReader};
use crate::DataFrame;

pub(crate) struct SessionInner {
    pub ctx: SessionContext,
    pub streams: StreamingQueryManager,
    pub conf: RwLock<HashMap<String, String>>,
    pub scans: std::sync::Mutex<Vec<Weak<crate::format::ScanProgress>>>,
    pub connectors: crate::connector::Connectors,
    pub clock: RwLock<Arc<dyn crate::clock::Clock>>,
    pub storage: RwLock<crate::storage::StorageOptions>,
    /// The memory pool of the session's runtime, when the session made it.
    pub pool: Option<Arc<crate::memory::SessionPool>>,
}

/// The link from a DataFusion session back to ours, so that `df.write_stream()` finds it.
#[derive(Debug)]
pub(crate) struct SessionLink(pub Weak<SessionInner>);

/// The entry point: reads data, runs SQL, starts and tracks streaming queries.
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session with DataFusion's default configuration, but for one thing Spark users rely
    /// on: SQL's `ORDER BY` puts NULLs first when ascending and last when descending, as Spark
    /// does (DataFusion, as PostgreSQL, does the opposite). `NULLS FIRST` / `NULLS LAST` still
    /// say it explicitly.
    pub fn new() -> Self {
        Self::with_config(Self::spark_config())
    }

    /// The configuration [`Session::new`] uses: DataFusion's defaults, the information schema,
    /// Spark's NULL ordering in SQL, and the order of a sorted subquery or view kept for what
    /// reads it (Spark keeps a sorted DataFrame's order through a later `select` or `limit`;
    /// DataFusion would drop the inner `ORDER BY`). Other front ends (the Python package) start
    /// from it.
    pub fn spark_config() -> SessionConfig {
        SessionConfig::new()
            .with_information_schema(true)
            .set_str("datafusion.sql_parser.default_null_ordering", "nulls_min")
            .set_bool(
                "datafusion.sql_parser.enable_subquery_sort_elimination",
                false,
            )
    }

    /// A plain DataFusion context (no streams) that reads SQL as every Tributary session does:
    /// a bare `TIMESTAMP` in microseconds, Spark's ANSI arithmetic, Spark's NULL ordering and Tributary's functions
    /// (`now()` in microseconds, `window`, `from_json`, ...). For queries over tables that are
    /// not streams, such as those a served query reads.
    pub fn sql_context(
        config: SessionConfig,
        runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> SessionContext {
        let config = config.set_str("datafusion.sql_parser.default_null_ordering", "nulls_min");
        let mut builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_analyzer_rule(Arc::new(crate::functions::DoubleToDecimalRule));
        spark_decimals(&mut builder);
        let state = builder
            .with_type_planner(Arc::new(crate::plan::SparkTypePlanner))
            .with_physical_optimizer_rules(crate::plan::ansi::SparkAnsiRule::before(
                datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules,
            ))
            .with_optimizer_rules(
                std::iter::once(Arc::new(crate::plan::CheckedConstantsRule) as _)
                    .chain(datafusion::optimizer::Optimizer::new().rules)
                    .collect(),
            )
            .build();
        let mut state = state;
        let _ = fixed_decimal_types(&mut state);
        let ctx = SessionContext::new_with_state(state);
        for udf in crate::functions::udfs() {
            ctx.register_udf(udf);
        }
        for udaf in crate::functions::udafs() {
            ctx.register_udaf(udaf);
        }
        ctx
    }

    /// A session over a DataFusion configuration, its plans held to the default memory limit
    /// (half the machine's memory; see [`crate::memory`] and [`Session::set_memory_limit`]).
    pub fn with_config(config: SessionConfig) -> Self {
        let pool = Arc::new(crate::memory::SessionPool::new(
            crate::memory::MemoryLimit::default(),
        ));
        match crate::memory::runtime(pool.clone()) {
            Ok(rt) => Self::build(SessionContext::new_with_config_rt(config, rt), Some(pool)),
            // A runtime without a pool cannot fail to build; keep DataFusion's own if it did.
            Err(_) => Self::build(SessionContext::new_with_config(config), None),
        }
    }

    /// A session over an existing DataFusion context (its tables and functions stay; its query
    /// planner is replaced by DataFusion's default plus Tributary's plan nodes). Its runtime,
    /// memory pool included, stays as the context has it.
    pub fn with_context(ctx: SessionContext) -> Self {
        Self::build(ctx, None)
    }

    fn build(ctx: SessionContext, pool: Option<Arc<crate::memory::SessionPool>>) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<SessionInner>| {
            let existing = ctx.state();
            // Sliding windows by panes before DataFusion's own rules rewrite aggregations.
            let mut rules: Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> = vec![
                Arc::new(crate::plan::PaneAggregateRule),
                Arc::new(crate::plan::CheckedConstantsRule),
            ];
            rules.extend(existing.optimizers().iter().cloned());
            // Spark's ANSI arithmetic before DataFusion's physical rules move expressions.
            let physical =
                crate::plan::ansi::SparkAnsiRule::before(existing.physical_optimizers().to_vec());
            let mut builder = SessionStateBuilder::new_from_existing(existing)
                .with_query_planner(Arc::new(TributaryQueryPlanner))
                .with_optimizer_rules(rules)
                .with_physical_optimizer_rules(physical);
            // SQL's bare TIMESTAMP in Spark's microseconds, unless the context plans types its
            // own way.
            builder
                .type_planner()
                .get_or_insert_with(|| Arc::new(crate::plan::SparkTypePlanner));
            spark_decimals(&mut builder);
            let mut state = builder.build();
            // Cannot fail: registering a rewrite only appends it.
            let _ = fixed_decimal_types(&mut state);
            state
                .config_mut()
                .set_extension(Arc::new(SessionLink(weak.clone())));
            let ctx = SessionContext::new_with_state(state);
            for udf in crate::functions::udfs() {
                ctx.register_udf(udf);
            }
            for udaf in crate::functions::udafs() {
                ctx.register_udaf(udaf);
            }
            ctx.add_analyzer_rule(Arc::new(SlidingWindowRule));
            ctx.add_analyzer_rule(Arc::new(crate::plan::SessionWindowRule));
            ctx.add_analyzer_rule(Arc::new(crate::plan::NullTimeRule));
            ctx.add_analyzer_rule(Arc::new(crate::functions::DoubleToDecimalRule));
            SessionInner {
                ctx,
                streams: StreamingQueryManager::default(),
                conf: RwLock::new(HashMap::new()),
                scans: std::sync::Mutex::new(Vec::new()),
                connectors: crate::connector::Connectors::builtin(),
                clock: RwLock::new(Arc::new(crate::clock::SystemClock)),
                storage: RwLock::default(),
                pool,
            }
        });
        Session { inner }
    }

    /// The session of a DataFrame made by a Tributary session.
    pub fn of(df_state: &SessionState) -> Option<Session> {
        df_state
            .config()
            .get_extension::<SessionLink>()
            .and_then(|l| l.0.upgrade())
            .map(|inner| Session { inner })
    }

    /// DataFusion's context: register tables and UDFs here.
    pub fn context(&self) -> &SessionContext {
        &self.inner.ctx
    }

    /// Read data at rest (a batch).
    pub fn read(&self) -> DataFrameReader {
        DataFrameReader::new(self.clone())
    }

    /// Read data in motion (a stream).
    pub fn read_stream(&self) -> DataStreamReader {
        DataStreamReader::new(self.clone())
    }

    /// Plan a SQL query over the registered tables and views.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        self.inner
            .ctx
            .sql(sql)
            .await
            .map_err(TributaryError::df(format!("planning SQL `{}`", sql.trim())))
    }

    /// A registered table or view as a DataFrame (also the tables of memory sinks).
    pub async fn table(&self, name: &str) -> Result<DataFrame> {
        self.inner
            .ctx
            .table(name)
            .await
            .map_err(TributaryError::df(format!("reading table '{name}'")))
    }

    /// Register a DataFrame (batch or stream) as a view for SQL.
    pub fn register(&self, name: &str, df: DataFrame) -> Result<()> {
        self.inner
            .ctx
            .register_table(name, df.into_view())
            .map_err(TributaryError::df(format!("registering '{name}'")))?;
        Ok(())
    }

    /// The streaming queries of this session.
    pub fn streams(&self) -> &StreamingQueryManager {
        &self.inner.streams
    }

    /// Set a session option, e.g. `checkpoint_root` (default folder of checkpoints).
    pub fn set_conf(&self, key: &str, value: &str) {
        self.inner
            .conf
            .write()
            .expect("conf")
            .insert(key.to_string(), value.to_string());
    }

    /// Files read by the batch scans of this session still alive: (files done, files, bytes
    /// done, bytes). `tributary batch` draws its progress bar from it.
    pub fn scan_progress(&self) -> (u64, u64, u64, u64) {
        let mut scans = self.inner.scans.lock().expect("scans");
        scans.retain(|w| w.strong_count() > 0);
        scans
            .iter()
            .filter_map(|w| w.upgrade())
            .fold((0, 0, 0, 0), |acc, p| {
                use std::sync::atomic::Ordering::Relaxed;
                (
                    acc.0 + p.files_done.load(Relaxed),
                    acc.1 + p.files_total,
                    acc.2 + p.bytes_done.load(Relaxed),
                    acc.3 + p.bytes_total,
                )
            })
    }

    pub(crate) fn track_scan(&self, p: &Arc<crate::format::ScanProgress>) {
        self.inner
            .scans
            .lock()
            .expect("scans")
            .push(Arc::downgrade(p));
    }

    /// The connectors this session reads and writes with, by format name.
    pub fn connectors(&self) -> &crate::connector::Connectors {
        &self.inner.connectors
    }

    /// Add a source format of your own: `read()`/`read_stream()` and job files then find it by
    /// its name.
    pub fn register_source(&self, connector: Arc<dyn crate::connector::SourceConnector>) {
        self.inner.connectors.add_source(connector);
    }

    /// Add a sink format of your own: `write()`/`write_stream()` and job files then find it by
    /// its name.
    pub fn register_sink(&self, connector: Arc<dyn crate::connector::SinkConnector>) {
        self.inner.connectors.add_sink(connector);
    }

    /// The clock queries of this session read time from (the wall clock unless replaced).
    pub fn clock(&self) -> Arc<dyn crate::clock::Clock> {
        self.inner.clock.read().expect("clock").clone()
    }

    /// Replace the clock (tests: a [`crate::clock::ManualClock`] moves only when told to).
    pub fn set_clock(&self, clock: Arc<dyn crate::clock::Clock>) {
        *self.inner.clock.write().expect("clock") = clock;
    }

    /// Set a storage option for every location this session reads and writes (object_store's
    /// names: `aws_region`, `aws_endpoint_url`, `azure_storage_account_name`, ...). A table's own
    /// options override it; the environment's `AWS_*`, `AZURE_*` and `GOOGLE_*` variables come
    /// first. A name no store knows is an error.
    pub fn set_storage_option(&self, key: &str, value: &str) -> crate::Result<()> {
        self.inner
            .storage
            .write()
            .expect("storage options")
            .set(key, value)
    }

    /// The session's storage options.
    pub fn storage_options(&self) -> crate::storage::StorageOptions {
        self.inner.storage.read().expect("storage options").clone()
    }

    /// Resolve a location with the session's storage options and `table` on top of them.
    pub fn location(
        &self,
        path: &str,
        table: &crate::storage::StorageOptions,
    ) -> crate::Result<crate::location::Location> {
        crate::location::Location::resolve_with(path, &self.storage_options().merged(table))
    }

    /// Hold the plans started from now on to `limit`: past it, aggregations, sorts and
    /// sort-merge joins spill to the temporary folder, and an operator that cannot spill (a
    /// hash join's build side) fails with the limit in its message. An error for a session
    /// made over a context of its own ([`Session::with_context`]), whose runtime decides.
    pub fn set_memory_limit(&self, limit: crate::memory::MemoryLimit) -> Result<()> {
        match &self.inner.pool {
            Some(pool) => {
                pool.set_limit(limit);
                Ok(())
            }
            None => Err(TributaryError::Plan(
                "this session runs on a DataFusion context of its own (Session::with_context): \
                 set the memory limit on that context's RuntimeEnv instead"
                    .into(),
            )),
        }
    }

    /// The memory limit of the session's plans in bytes; `None` when unbounded (or decided by
    /// a context of the caller's).
    pub fn memory_limit(&self) -> Option<usize> {
        self.inner.pool.as_ref().and_then(|p| p.limit())
    }

    /// What the session's plans have held so far: the peak, the limit, and how often an
    /// operator spilled; `None` for a session made over a context of the caller's.
    pub fn memory_usage(&self) -> Option<crate::memory::MemoryUsage> {
        self.inner.pool.as_ref().map(|p| p.usage())
    }

    /// A session option.
    pub fn conf(&self, key: &str) -> Option<String> {
        self.inner.conf.read().expect("conf").get(key).cloned()
    }
}

/// Spark's DECIMAL arithmetic: SQL's `+ - * /` planned with Spark's types
/// ([`crate::functions::DecimalPlanner`]); see [`fixed_decimal_types`] for the functions.
fn spark_decimals(builder: &mut SessionStateBuilder) {
    let planners = builder.expr_planners().get_or_insert_with(Vec::new);
    if !planners
        .iter()
        .any(|p| format!("{p:?}") == format!("{:?}", crate::functions::DecimalPlanner))
    {
        planners.insert(0, Arc::new(crate::functions::DecimalPlanner));
    }
}

/// The types of `spark_divide`, `try_add`, ... on DECIMALs fixed when a query is analysed
/// ([`crate::functions::DecimalTypesFixed`]).
fn fixed_decimal_types(state: &mut SessionState) -> datafusion::common::Result<()> {
    use datafusion::execution::FunctionRegistry;
    let name = "spark_decimal_types_fixed";
    if !state
        .analyzer()
        .function_rewrites()
        .iter()
        .any(|r| r.name() == name)
    {
        state.register_function_rewrite(Arc::new(crate::functions::DecimalTypesFixed))?;
    }
    Ok(())
}
