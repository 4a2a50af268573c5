//! Physical planning of Tributary's plan nodes: the session's query planner is DataFusion's
//! default planner plus one extension planner for every node Tributary adds.
//!
//! | logical node | batch operator | on a stream |
//! |---|---|---|
//! | `EventTimeWatermark` | `WatermarkExec` (observes event times) | the same |
//! | `Deduplicate` | `DedupExec` | `exec::dedup` (stateful) |
//! | `Sessionize` | `SessionizeExec` | the same, then merged with state in `exec::aggregate` |
//! | `FlatMapGroupsWithState` | `MapGroupsExec` | `exec::map_groups` (stateful) |
//! | `PaneAggregate` (batch only) | partial by pane, `PaneMergeExec` (panes merged into windows in pane order) | `exec::panes` inside `exec::aggregate` |

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::dedup::Deduplicate;
use super::map_groups::FlatMapGroupsWithState;
use super::session::Sessionize;
use super::watermark::EventTimeWatermark;

/// Indices of `columns` in the output of `plan`.
pub(crate) fn column_indices(
    plan: &Arc<dyn ExecutionPlan>,
    columns: &[Column],
) -> Result<Vec<usize>> {
    let schema = plan.schema();
    Ok(columns
        .iter()
        .map(|c| schema.index_of(&c.name))
        .collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Plans every Tributary node.
#[derive(Debug, Default)]
pub(crate) struct TributaryExtensionPlanner;

#[async_trait]
impl ExtensionPlanner for TributaryExtensionPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        _ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let any = node.as_any();
        let input = || physical_inputs[0].clone();
        if let Some(n) = any.downcast_ref::<EventTimeWatermark>() {
            return n.physical(input()).map(Some);
        }
        if let Some(n) = any.downcast_ref::<Deduplicate>() {
            return n.physical(input()).map(Some);
        }
        if let Some(n) = any.downcast_ref::<Sessionize>() {
            return n.physical(input()).map(Some);
        }
        if let Some(n) = any.downcast_ref::<super::PaneAggregate>() {
            return n.physical(input(), session).map(Some);
        }
        if let Some(n) = any.downcast_ref::<FlatMapGroupsWithState>() {
            return n.physical(input()).map(Some);
        }
        Ok(None)
    }
}

/// The session's query planner: DataFusion's, plus Tributary's nodes.
#[derive(Debug, Default)]
pub(crate) struct TributaryQueryPlanner;

#[async_trait]
impl datafusion::execution::context::QueryPlanner for TributaryQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(TributaryExtensionPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// The methods every single-input operator of ours writes the same way.
macro_rules! unary_exec_methods {
    ($name:literal) => {
        fn name(&self) -> &str {
            $name
        }
        fn properties(&self) -> &std::sync::Arc<datafusion::physical_plan::PlanProperties> {
            &self.properties
        }
        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![&self.input]
        }
        #[allow(deprecated)]
        fn with_new_children(
            self: std::sync::Arc<Self>,
            children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
        ) -> datafusion::common::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>
        {
            self.replace_children(
                children,
                datafusion::physical_plan::ReplaceChildrenOptions::new(
                    datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
                ),
            )
        }
    };
}
pub(crate) use unary_exec_methods;

/// `apply_expressions` for an operator that evaluates no expression.
macro_rules! no_expressions {
    () => {
        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_plan::PhysicalExpr>,
            ) -> datafusion::common::Result<
                datafusion::common::tree_node::TreeNodeRecursion,
            >,
        ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }
    };
}
pub(crate) use no_expressions;
