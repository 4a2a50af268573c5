//! An operator that runs its input with at most a fixed share of the memory pool, for a partial
//! aggregation whose output is merged downstream anyway (`plan::panes`).
//!
//! ```text
//!  AggregateExec(Partial) ─► CappedExec(cap) ─► ... ─► the merge
//!    refused beyond `cap`, it sends its groups' states on and starts afresh
//! ```
//! DataFusion's partial aggregation holds every group until its input ends unless the pool
//! refuses it memory; then it emits what it holds early (a later row of the same group makes
//! a second partial state, which the final step merges). A batch of sliding windows by panes
//! over nearly time-ordered rows holds every pane's state that way while most panes are long
//! complete: the visitors batch held all 10M users of its panes in hash sets. Held to a cap,
//! the partial aggregation's hash sets stay small and its states go on as compact arrays, as
//! engines with a flushing partial aggregation (Presto's, Velox's) do.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
};

/// Runs `input` with at most `cap` bytes (per partition) of the session's pool, and at most
/// a share of the pool's limit when it has one (see [`cap_within`]).
pub(crate) struct CappedExec {
    input: Arc<dyn ExecutionPlan>,
    cap: usize,
    /// The input's.
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for CappedExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CappedExec")
    }
}

impl CappedExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, cap: usize) -> Self {
        CappedExec {
            properties: input.properties().clone(),
            input,
            cap,
        }
    }
}

impl DisplayAs for CappedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CappedExec: cap={} MiB", self.cap >> 20)
    }
}

impl ExecutionPlan for CappedExec {
    crate::plan::physical::unary_exec_methods!("CappedExec");
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
    crate::plan::physical::no_expressions!();
    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(CappedExec::new(children.swap_remove(0), self.cap)))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let parent = context.memory_pool().clone();
        let partitions = self.properties.partitioning.partition_count();
        let cap = cap_within(self.cap, parent.memory_limit(), partitions);
        let pool: Arc<dyn MemoryPool> = Arc::new(CappedPool {
            parent,
            cap,
            used: AtomicUsize::new(0),
        });
        let runtime = RuntimeEnvBuilder::from_runtime_env(&context.runtime_env())
            .with_memory_pool(pool)
            .build_arc()?;
        let capped = TaskContext::new(
            context.task_id(),
            context.session_id(),
            context.session_config().clone(),
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            runtime,
        );
        self.input.execute(partition, Arc::new(capped))
    }
}

/// The cap of one partition: `cap`, or under a memory limit, at most an eighth of the limit
/// shared by the partitions. The rest is for what reads the capped states (a merge that
/// holds its windows' panes) and the other operators: a capped aggregation that took every
/// byte it may would make them spill to disk first.
fn cap_within(cap: usize, limit: MemoryLimit, partitions: usize) -> usize {
    match limit {
        MemoryLimit::Finite(limit) => cap.min(limit / 8 / partitions.max(1)).max(1),
        MemoryLimit::Infinite | MemoryLimit::Unknown => cap,
    }
}

/// A pool that passes every request on to the session's and refuses, itself, what would take
/// its consumers beyond `cap` in all.
#[derive(Debug)]
struct CappedPool {
    parent: Arc<dyn MemoryPool>,
    cap: usize,
    used: AtomicUsize,
}

impl fmt::Display for CappedPool {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "capped at {} bytes, within {}", self.cap, self.parent)
    }
}

impl MemoryPool for CappedPool {
    fn name(&self) -> &str {
        "capped"
    }
    fn register(&self, consumer: &MemoryConsumer) {
        self.parent.register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.parent.unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.parent.grow(reservation, additional);
        self.used.fetch_add(additional, Ordering::Relaxed);
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.parent.shrink(reservation, shrink);
        self.used.fetch_sub(shrink, Ordering::Relaxed);
    }
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let used = self.used.load(Ordering::Relaxed);
        if used + additional > self.cap {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} asked for {additional} bytes beyond its operator's cap of {} bytes \
                 ({used} held)",
                reservation.consumer().name(),
                self.cap
            )));
        }
        self.parent.try_grow(reservation, additional)?;
        self.used.fetch_add(additional, Ordering::Relaxed);
        Ok(())
    }
    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn under_a_memory_limit_the_cap_is_a_share_of_it() {
        let mib = 1 << 20;
        // No limit, or a large one: the operator's own cap.
        assert_eq!(cap_within(32 * mib, MemoryLimit::Infinite, 2), 32 * mib);
        assert_eq!(cap_within(32 * mib, MemoryLimit::Unknown, 2), 32 * mib);
        assert_eq!(
            cap_within(32 * mib, MemoryLimit::Finite(4096 * mib), 2),
            32 * mib
        );
        // 256 MiB over 2 partitions: an eighth of each one's share.
        assert_eq!(
            cap_within(32 * mib, MemoryLimit::Finite(256 * mib), 2),
            16 * mib
        );
        assert_eq!(
            cap_within(32 * mib, MemoryLimit::Finite(256 * mib), 0),
            32 * mib
        );
        assert_eq!(cap_within(32 * mib, MemoryLimit::Finite(0), 4), 1);
    }

    #[test]
    fn the_cap_refuses_beyond_itself_and_the_session_pool_sees_every_byte() {
        let parent: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(100));
        let capped: Arc<dyn MemoryPool> = Arc::new(CappedPool {
            parent: parent.clone(),
            cap: 10,
            used: AtomicUsize::new(0),
        });
        let r = MemoryConsumer::new("partial").register(&capped);
        r.try_grow(8).unwrap();
        let refused = r.try_grow(3).unwrap_err().to_string();
        assert!(refused.contains("cap of 10 bytes"), "{refused}");
        assert_eq!((parent.reserved(), capped.reserved()), (8, 8));
        // The session's own limit refuses first when it is the smaller.
        let other = MemoryConsumer::new("other").register(&parent);
        other.try_grow(91).unwrap();
        assert!(r.try_grow(2).is_err());
        assert_eq!((parent.reserved(), capped.reserved()), (99, 8));
        r.shrink(8);
        r.grow(4);
        assert_eq!((parent.reserved(), capped.reserved()), (95, 4));
        drop(r);
        assert_eq!((parent.reserved(), capped.reserved()), (91, 0));
    }
}
