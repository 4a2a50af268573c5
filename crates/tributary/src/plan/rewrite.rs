//! Plan rewrites: finding sources, reading static sides once, binding an epoch's rows.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::default_table_source::{provider_as_source, source_as_provider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{LogicalPlan, TableScan};

use crate::error::{Result, TributaryError};
use crate::plan::watermark::{EventTimeStats, EventTimeWatermark};
use crate::source::{as_stream_table, StreamSource};

/// Identifies a source inside a plan (the address of its shared object).
pub(crate) type SourceKey = usize;

fn key(source: &Arc<dyn StreamSource>) -> SourceKey {
    Arc::as_ptr(source) as *const () as usize
}

fn stream_source_of(scan: &TableScan) -> Option<Arc<dyn StreamSource>> {
    let provider = source_as_provider(&scan.source).ok()?;
    as_stream_table(&provider).map(|t| t.source().clone())
}

/// Whether a plan reads a streaming source.
pub(crate) fn is_streaming(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if stream_source_of(scan).is_some() {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The distinct streaming sources of a plan, in plan order.
pub(crate) fn find_sources(plan: &LogicalPlan) -> Vec<(SourceKey, Arc<dyn StreamSource>)> {
    let mut out: Vec<(SourceKey, Arc<dyn StreamSource>)> = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Some(s) = stream_source_of(scan) {
                let k = key(&s);
                if !out.iter().any(|(o, _)| *o == k) {
                    out.push((k, s));
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

fn with_provider(scan: &TableScan, provider: Arc<dyn TableProvider>) -> LogicalPlan {
    let mut scan = scan.clone();
    scan.source = provider_as_source(provider);
    LogicalPlan::TableScan(scan)
}

/// Read every static table that a streaming join uses once, now, and replace its scans with the
/// rows in memory: the static side is loaded once per query, not once per epoch.
/// Bad records of a static file table go to its `bad_records_path`, or to `dead_letters`, as
/// `<query_id>-static-<n>.json` (the same file again when the query restarts).
/// Returns the rewritten plan and how many tables were loaded.
pub(crate) async fn materialize_static(
    plan: LogicalPlan,
    state: &SessionState,
    dead_letters: &crate::location::Location,
    query_id: &str,
) -> Result<(LogicalPlan, usize)> {
    // Collect the static scans under joins that have a streaming side.
    let mut static_scans: Vec<TableScan> = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Join(join) = node {
            let (l, r) = (is_streaming(&join.left), is_streaming(&join.right));
            if l != r {
                let side = if l { &join.right } else { &join.left };
                side.apply(|n| {
                    if let LogicalPlan::TableScan(s) = n {
                        static_scans.push(s.clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(TributaryError::df("finding static join inputs"))?;
    let mut loaded: HashMap<usize, Arc<dyn TableProvider>> = HashMap::new();
    for scan in &static_scans {
        let provider =
            source_as_provider(&scan.source).map_err(TributaryError::df("static table"))?;
        let k = Arc::as_ptr(&provider) as *const () as usize;
        if loaded.contains_key(&k) {
            continue;
        }
        let schema = provider.schema();
        let df = DataFrame::new(
            state.clone(),
            datafusion::logical_expr::LogicalPlanBuilder::scan(
                scan.table_name.clone(),
                provider_as_source(provider.clone()),
                None,
            )
            .and_then(|b| b.build())
            .map_err(TributaryError::df("static table"))?,
        );
        let batches = df.collect().await.map_err(|e| {
            crate::error::from_df_error(&format!("reading static table {}", scan.table_name), e)
        })?;
        let any: &dyn std::any::Any = provider.as_ref();
        if let Some(files) = any.downcast_ref::<crate::format::FileTable>() {
            let n = files.bad_records().count();
            if n > 0 {
                let dir = files
                    .bad_records_path()
                    .cloned()
                    .unwrap_or_else(|| dead_letters.clone());
                dir.ensure_dir()?;
                // Numbered by the table's place among the static tables: stable across
                // restarts (the records name their files).
                let name = format!("{query_id}-static-{}.json", loaded.len());
                files.bad_records().flush_to(&dir, &name).await?;
                tracing::warn!(
                    count = n,
                    table = %scan.table_name,
                    path = %dir.display,
                    "bad records of a static table routed to the dead-letter location"
                );
            }
        }
        let mem =
            MemTable::try_new(schema, vec![batches]).map_err(TributaryError::df("static table"))?;
        loaded.insert(k, Arc::new(mem));
    }
    let n = loaded.len();
    if n == 0 {
        return Ok((plan, 0));
    }
    let plan = plan
        .transform_up(|node| {
            if let LogicalPlan::TableScan(scan) = &node {
                let provider = source_as_provider(&scan.source)?;
                let k = Arc::as_ptr(&provider) as *const () as usize;
                if let Some(mem) = loaded.get(&k) {
                    return Ok(Transformed::yes(with_provider(scan, mem.clone())));
                }
            }
            Ok(Transformed::no(node))
        })
        .map_err(TributaryError::df("binding static tables"))?
        .data;
    Ok((plan, n))
}

/// Give the query its own instance of every source (see [`StreamSource::fork`]) and its own
/// event-time statistics for every watermark: two queries planned from one view with a
/// watermark must not see each other's event times (one query's epoch would otherwise move
/// the other's watermark past rows it has not read yet, and they would be dropped as late).
pub(crate) fn fork_sources(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut forked: HashMap<SourceKey, Arc<dyn TableProvider>> = HashMap::new();
    let mut stats: HashMap<usize, Arc<EventTimeStats>> = HashMap::new();
    plan.transform_up(|node| {
        if let LogicalPlan::TableScan(scan) = &node {
            if let Some(s) = stream_source_of(scan) {
                let table = forked
                    .entry(key(&s))
                    .or_insert_with(|| Arc::new(crate::source::StreamTable::new(s.fork())))
                    .clone();
                return Ok(Transformed::yes(with_provider(scan, table)));
            }
        }
        if let Some(w) = EventTimeWatermark::of(&node) {
            // The same node twice in one query (a self-join) keeps one statistics object.
            let own = stats
                .entry(Arc::as_ptr(&w.stats) as usize)
                .or_insert_with(|| Arc::new(EventTimeStats::default()))
                .clone();
            let mut w = w.clone();
            w.stats = own;
            return Ok(Transformed::yes(w.into_plan()));
        }
        Ok(Transformed::no(node))
    })
    .map(|t| t.data)
    .map_err(TributaryError::df("forking the sources"))
}

/// The plan of one epoch: each streaming source replaced by the epoch's bounded table.
pub(crate) fn bind_epoch(
    plan: &LogicalPlan,
    inputs: &HashMap<SourceKey, Arc<dyn TableProvider>>,
) -> Result<LogicalPlan> {
    plan.clone()
        .transform_up(|node| {
            if let LogicalPlan::TableScan(scan) = &node {
                if let Some(s) = stream_source_of(scan) {
                    let table = inputs.get(&key(&s)).ok_or_else(|| {
                        datafusion::error::DataFusionError::Internal(format!(
                            "no epoch input for source {}",
                            s.description()
                        ))
                    })?;
                    return Ok(Transformed::yes(with_provider(scan, table.clone())));
                }
            }
            Ok(Transformed::no(node))
        })
        .map(|t| t.data)
        .map_err(TributaryError::df("binding the epoch's input"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::logical_expr::{table_scan, LogicalPlanBuilder};

    fn watermarked() -> LogicalPlan {
        let schema = Schema::new(vec![Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        )]);
        let scan = table_scan(Some("events"), &schema, None)
            .unwrap()
            .build()
            .unwrap();
        EventTimeWatermark::try_new(scan, "t", 60_000)
            .unwrap()
            .into_plan()
    }

    fn stats_of(plan: &LogicalPlan) -> Vec<Arc<EventTimeStats>> {
        let mut out = Vec::new();
        plan.apply(|node| {
            if let Some(w) = EventTimeWatermark::of(node) {
                out.push(w.stats.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        out
    }

    #[test]
    fn each_query_of_one_watermarked_view_gets_its_own_event_time_statistics() {
        let view = watermarked();
        let first = stats_of(&fork_sources(view.clone()).unwrap());
        let second = stats_of(&fork_sources(view.clone()).unwrap());
        assert_eq!((first.len(), second.len()), (1, 1));
        assert!(!Arc::ptr_eq(&first[0], &second[0]));
        assert!(!Arc::ptr_eq(&first[0], &stats_of(&view)[0]));

        // A self-join of the view in one query keeps one statistics object for both sides.
        let join = LogicalPlanBuilder::from(view.clone())
            .cross_join(
                LogicalPlanBuilder::from(view)
                    .alias("other")
                    .unwrap()
                    .build()
                    .unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
        let sides = stats_of(&fork_sources(join).unwrap());
        assert_eq!(sides.len(), 2);
        assert!(Arc::ptr_eq(&sides[0], &sides[1]));
    }
}
