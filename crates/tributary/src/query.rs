//! `StreamingQuery` handles, the `StreamingQueryManager`, and listeners.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::error::{Result, TributaryError};
use crate::progress::StreamingQueryProgress;

/// How many progress records a query keeps (Spark: `spark.sql.streaming.numRecentProgressUpdates`).
pub(crate) const RECENT_PROGRESS: usize = 100;

/// What the query is doing now (Spark's `StreamingQueryStatus`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryStatus {
    /// A human-readable message.
    pub message: String,
    /// Whether the last check found new data.
    pub is_data_available: bool,
    /// Whether an epoch is running.
    pub is_trigger_active: bool,
}

/// A query started.
#[derive(Debug, Clone)]
pub struct QueryStartedEvent {
    /// Stable id.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// Name.
    pub name: Option<String>,
    /// When (ISO-8601).
    pub timestamp: String,
}

/// An epoch finished.
#[derive(Debug, Clone)]
pub struct QueryProgressEvent {
    /// Its progress record.
    pub progress: StreamingQueryProgress,
}

/// A trigger found no new data.
#[derive(Debug, Clone)]
pub struct QueryIdleEvent {
    /// Stable id.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// When (ISO-8601).
    pub timestamp: String,
}

/// A query stopped.
#[derive(Debug, Clone)]
pub struct QueryTerminatedEvent {
    /// Stable id.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// The error that stopped it, if any.
    pub exception: Option<String>,
}

/// Receives the life events of every query of a session. All methods have empty defaults.
pub trait StreamingQueryListener: Send + Sync {
    /// A query started.
    fn on_query_started(&self, _event: &QueryStartedEvent) {}
    /// An epoch finished.
    fn on_query_progress(&self, _event: &QueryProgressEvent) {}
    /// A trigger found nothing to do.
    fn on_query_idle(&self, _event: &QueryIdleEvent) {}
    /// A query stopped, cleanly or with an error.
    fn on_query_terminated(&self, _event: &QueryTerminatedEvent) {}
}

#[derive(Debug)]
pub(crate) struct QueryShared {
    pub id: String,
    pub run_id: String,
    pub name: Option<String>,
    pub status: Mutex<QueryStatus>,
    pub progress: Mutex<VecDeque<StreamingQueryProgress>>,
    pub stop_requested: AtomicBool,
    pub stop_notify: Notify,
    pub done_tx: watch::Sender<bool>,
    /// How many polls found no new data and nothing to do (for `process_all_available`).
    pub idle_polls: watch::Sender<u64>,
    /// The incremental plan, as text, with its stateful operators marked.
    pub plan: Mutex<String>,
    pub exception: Mutex<Option<String>>,
    /// The live views of its stateful operators (when the session keeps them).
    pub live: Mutex<Vec<Arc<crate::state::LiveState>>>,
}

impl QueryShared {
    pub(crate) fn new(id: String, run_id: String, name: Option<String>) -> Arc<Self> {
        Arc::new(QueryShared {
            id,
            run_id,
            name,
            status: Mutex::new(QueryStatus {
                message: "Initializing sources".into(),
                is_data_available: false,
                is_trigger_active: false,
            }),
            progress: Mutex::new(VecDeque::new()),
            stop_requested: AtomicBool::new(false),
            stop_notify: Notify::new(),
            done_tx: watch::channel(false).0,
            idle_polls: watch::channel(0).0,
            exception: Mutex::new(None),
            plan: Mutex::new(String::new()),
            live: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn set_status(&self, message: &str, data: bool, active: bool) {
        *self.status.lock().expect("status") = QueryStatus {
            message: message.to_string(),
            is_data_available: data,
            is_trigger_active: active,
        };
    }

    pub(crate) fn push_progress(&self, p: StreamingQueryProgress) {
        let mut q = self.progress.lock().expect("progress");
        if q.len() == RECENT_PROGRESS {
            q.pop_front();
        }
        q.push_back(p);
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop_requested.load(Ordering::SeqCst)
    }
}

/// A handle on a running (or finished) streaming query.
#[derive(Debug, Clone)]
pub struct StreamingQuery {
    pub(crate) shared: Arc<QueryShared>,
}

impl StreamingQuery {
    /// The stable id, kept in the checkpoint across restarts.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The id of this run (new at every start).
    pub fn run_id(&self) -> &str {
        &self.shared.run_id
    }

    /// The name given with `query_name`.
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// The live views of the query's aggregations and `map_groups_with_state` operators, as of
    /// its last committed epoch: kept when the session's `live_state` option is `true` at
    /// start (`tributary run --serve` sets it), empty otherwise.
    pub fn live_state(&self) -> Vec<Arc<crate::state::LiveState>> {
        self.shared.live.lock().expect("live").clone()
    }

    /// The query's incremental plan, one node per line, its stateful operators marked
    /// `[stateful]` (the monitoring UI shows it).
    pub fn plan_description(&self) -> String {
        self.shared.plan.lock().expect("plan").clone()
    }

    /// What the query is doing now.
    pub fn status(&self) -> QueryStatus {
        self.shared.status.lock().expect("status").clone()
    }

    /// The last epoch's progress.
    pub fn last_progress(&self) -> Option<StreamingQueryProgress> {
        self.shared
            .progress
            .lock()
            .expect("progress")
            .back()
            .cloned()
    }

    /// The last epochs' progress (at most 100), oldest first.
    pub fn recent_progress(&self) -> Vec<StreamingQueryProgress> {
        self.shared
            .progress
            .lock()
            .expect("progress")
            .iter()
            .cloned()
            .collect()
    }

    /// Whether the query is still running.
    pub fn is_active(&self) -> bool {
        !*self.shared.done_tx.borrow()
    }

    /// The error that stopped the query, if any.
    pub fn exception(&self) -> Option<String> {
        self.shared.exception.lock().expect("exception").clone()
    }

    /// Ask the query to stop after the current epoch, and wait until it has.
    pub async fn stop(&self) -> Result<()> {
        self.shared.stop_requested.store(true, Ordering::SeqCst);
        self.shared.stop_notify.notify_waiters();
        self.shared.stop_notify.notify_one();
        let _ = self.wait_done().await;
        Ok(())
    }

    async fn wait_done(&self) {
        let mut rx = self.shared.done_tx.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                break;
            }
        }
    }

    /// Spark's `processAllAvailable`: wait until the data that the sources had when this was
    /// called is processed and committed (a poll that began after the call found nothing new),
    /// or the query stopped (then its error, if it failed). For tests and notebooks: a query
    /// whose input never pauses never returns from it.
    pub async fn process_all_available(&self) -> Result<()> {
        let mut idle = self.shared.idle_polls.subscribe();
        // The first idle poll may have begun before the call; the second began after it.
        let target = *idle.borrow_and_update() + 2;
        let mut done = self.shared.done_tx.subscribe();
        loop {
            if *done.borrow_and_update() {
                return self.await_termination().await;
            }
            if *idle.borrow_and_update() >= target {
                return Ok(());
            }
            tokio::select! {
                r = idle.changed() => if r.is_err() { return self.await_termination().await },
                r = done.changed() => if r.is_err() { return self.await_termination().await },
            }
        }
    }

    /// Wait until the query stops; its error if it failed.
    pub async fn await_termination(&self) -> Result<()> {
        self.wait_done().await;
        match self.exception() {
            Some(message) => Err(TributaryError::QueryFailed {
                query: self.name().unwrap_or(self.id()).to_string(),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Wait at most `timeout`; `Ok(true)` if the query stopped.
    pub async fn await_termination_timeout(&self, timeout: Duration) -> Result<bool> {
        match tokio::time::timeout(timeout, self.await_termination()).await {
            Ok(r) => r.map(|_| true),
            Err(_) => Ok(false),
        }
    }
}

#[derive(Default)]
pub(crate) struct ManagerInner {
    pub active: RwLock<HashMap<String, StreamingQuery>>,
    pub listeners: RwLock<Vec<Arc<dyn StreamingQueryListener>>>,
    pub terminated_tx: Mutex<Option<watch::Sender<u64>>>,
}

/// The queries of a session (Spark's `spark.streams`).
#[derive(Clone, Default)]
pub struct StreamingQueryManager {
    pub(crate) inner: Arc<ManagerInner>,
}

impl std::fmt::Debug for StreamingQueryManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingQueryManager")
            .field("active", &self.active().len())
            .finish()
    }
}

impl StreamingQueryManager {
    /// The running queries.
    pub fn active(&self) -> Vec<StreamingQuery> {
        self.inner
            .active
            .read()
            .expect("queries")
            .values()
            .cloned()
            .collect()
    }

    /// A running query by its id.
    pub fn get(&self, id: &str) -> Option<StreamingQuery> {
        self.inner.active.read().expect("queries").get(id).cloned()
    }

    /// Register a listener for every query of the session.
    pub fn add_listener(&self, listener: Arc<dyn StreamingQueryListener>) {
        self.inner
            .listeners
            .write()
            .expect("listeners")
            .push(listener);
    }

    /// Remove a listener (compared by address).
    pub fn remove_listener(&self, listener: &Arc<dyn StreamingQueryListener>) {
        self.inner
            .listeners
            .write()
            .expect("listeners")
            .retain(|l| !Arc::ptr_eq(l, listener));
    }

    /// Wait until any query of the session terminates (or has terminated since the last
    /// `reset_terminated`); its error if it failed.
    pub async fn await_any_termination(&self) -> Result<()> {
        let mut rx = {
            let mut tx = self.inner.terminated_tx.lock().expect("terminated");
            tx.get_or_insert_with(|| watch::channel(0).0).subscribe()
        };
        loop {
            if *rx.borrow_and_update() > 0 {
                break;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Forget past terminations for `await_any_termination`.
    pub fn reset_terminated(&self) {
        if let Some(tx) = self
            .inner
            .terminated_tx
            .lock()
            .expect("terminated")
            .as_ref()
        {
            tx.send_replace(0);
        }
    }

    pub(crate) fn register(&self, q: &StreamingQuery) -> Result<()> {
        let mut active = self.inner.active.write().expect("queries");
        if active.contains_key(q.id()) {
            return Err(TributaryError::Plan(format!(
                "a query with id {} is already running in this session (same checkpoint location?): stop it first",
                q.id()
            )));
        }
        if let Some(name) = q.name() {
            if active.values().any(|o| o.name() == Some(name)) {
                return Err(TributaryError::Plan(format!(
                    "a query named '{name}' is already running: query names must be unique among active queries"
                )));
            }
        }
        active.insert(q.id().to_string(), q.clone());
        Ok(())
    }

    pub(crate) fn deregister(&self, id: &str) {
        self.inner.active.write().expect("queries").remove(id);
        let mut tx = self.inner.terminated_tx.lock().expect("terminated");
        let tx = tx.get_or_insert_with(|| watch::channel(0).0);
        tx.send_modify(|n| *n += 1);
    }

    pub(crate) fn listeners(&self) -> Vec<Arc<dyn StreamingQueryListener>> {
        self.inner.listeners.read().expect("listeners").clone()
    }
}
