//! Live state: what a stateful operator holds, as a table that other tasks read while the query
//! runs (the serving layer's live views), as of the query's last committed epoch.
//!
//! ```text
//!  operator open  ── restored state ───────────► LiveState::reset(committed epoch, rows)
//!  epoch e        ── process: the view's change (upserted rows, removed keys)
//!  commit e       ── after the commit log ─────► LiveState::apply(e, change): a new snapshot
//!  reader         ── snapshot() / lookup(key) / table() (a TableProvider with key pushdown)
//! ```
//!
//! A snapshot is immutable: a reader holds the one current when it starts, so it sees one whole
//! epoch, never part of the next. An aggregation's view is its groups' current results (the
//! rows complete mode would emit: open windows and groups without a window; a window the
//! watermark closed has left the state and is in the sink); `map_groups_with_state`'s view is
//! each key's state as JSON and its timeout.
//!
//! Applying a change copies the rows that stay (a cost in the view's size per epoch): views are
//! kept only when asked for (`session.set_conf("live_state", "true")`, or `tributary run
//! --serve`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session as CatalogSession;
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use tributary_checkpoint::Epoch;

use super::keys::KeyRows;
use crate::error::{Result, TributaryError};

/// The session option that turns live views on for the queries started after it.
pub const LIVE_STATE_CONF: &str = "live_state";

/// What an epoch changes in a view.
#[derive(Debug, Clone)]
pub(crate) struct LiveChange {
    /// Rows of the view's schema, each key once: added, or replacing the key's row.
    pub upserts: RecordBatch,
    /// Rows whose first key columns are keys that leave the view (applied before the upserts).
    pub removed: RecordBatch,
}

/// One committed state of a view.
#[derive(Debug)]
struct Snapshot {
    epoch: Option<u64>,
    rows: RecordBatch,
    /// Key bytes to row.
    index: HashMap<Box<[u8]>, u32, ahash::RandomState>,
}

impl Snapshot {
    fn new(epoch: Option<u64>, rows: RecordBatch, key_len: usize) -> Result<Self> {
        let keys = KeyRows::new(&rows, key_len)?;
        let mut index = HashMap::with_capacity_and_hasher(rows.num_rows(), Default::default());
        for i in 0..keys.len() {
            index.insert(keys.key(i).into(), i as u32);
        }
        Ok(Snapshot { epoch, rows, index })
    }
}

/// The live view of one stateful operator's state.
#[derive(Debug)]
pub struct LiveState {
    name: String,
    operator: &'static str,
    key_len: usize,
    schema: SchemaRef,
    current: RwLock<Arc<Snapshot>>,
}

impl LiveState {
    pub(crate) fn new(
        name: String,
        operator: &'static str,
        schema: SchemaRef,
        key_len: usize,
    ) -> Arc<Self> {
        let rows = RecordBatch::new_empty(schema.clone());
        Arc::new(LiveState {
            name,
            operator,
            key_len,
            current: RwLock::new(Arc::new(Snapshot {
                epoch: None,
                rows,
                index: HashMap::default(),
            })),
            schema,
        })
    }

    /// The name it is served as: `<query>_state` (`<query>_state_<operator>` when the query has
    /// several stateful operators).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What kind of operator it views (`aggregation`, `map_groups_with_state`).
    pub fn operator(&self) -> &'static str {
        self.operator
    }

    /// The view's columns: the keys first.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// How many leading columns are the key.
    pub fn key_len(&self) -> usize {
        self.key_len
    }

    /// The epoch the view is as of (`None`: before the first committed epoch).
    pub fn epoch(&self) -> Option<u64> {
        self.current().epoch
    }

    /// Every row, and the epoch they are as of.
    pub fn snapshot(&self) -> (Option<u64>, RecordBatch) {
        let s = self.current();
        (s.epoch, s.rows.clone())
    }

    /// The row of one key (its values in key order), if the key has one.
    pub fn lookup(&self, key: &[ScalarValue]) -> Result<Option<RecordBatch>> {
        let s = self.current();
        Ok(self.row_of(&s, key)?.map(|i| s.rows.slice(i as usize, 1)))
    }

    /// The view as a table: equality on every key column is answered from the index.
    pub fn table(self: &Arc<Self>) -> Arc<dyn TableProvider> {
        Arc::new(LiveStateTable(self.clone()))
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current.read().expect("live state").clone()
    }

    fn row_of(&self, s: &Snapshot, key: &[ScalarValue]) -> Result<Option<u32>> {
        if key.len() != self.key_len {
            return Err(TributaryError::Plan(format!(
                "the live state '{}' has {} key column(s), and {} value(s) were given",
                self.name,
                self.key_len,
                key.len()
            )));
        }
        let cols = key
            .iter()
            .zip(self.schema.fields())
            .map(|(v, f)| {
                let v = v
                    .cast_to(f.data_type())
                    .map_err(TributaryError::df(format!(
                        "a key value for column '{}'",
                        f.name()
                    )))?;
                v.to_array_of_size(1)
                    .map_err(TributaryError::df("a key value"))
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let keys = KeyRows::from_columns(cols, 1)?;
        Ok(s.index.get(keys.key(0)).copied())
    }

    /// Start from the restored state.
    pub(crate) fn reset(&self, epoch: Option<Epoch>, rows: RecordBatch) -> Result<()> {
        let rows = self.conform(rows)?;
        let snap = Snapshot::new(epoch.map(|e| e.0), rows, self.key_len)?;
        *self.current.write().expect("live state") = Arc::new(snap);
        Ok(())
    }

    /// Apply a committed epoch's change: readers from now on see it whole.
    pub(crate) fn apply(&self, epoch: Epoch, change: LiveChange) -> Result<()> {
        let old = self.current();
        let upserts = self.conform(change.upserts)?;
        let mut gone = vec![false; old.rows.num_rows()];
        let mut mark = |batch: &RecordBatch| -> Result<()> {
            let keys = KeyRows::new(batch, self.key_len)?;
            for i in 0..keys.len() {
                if let Some(r) = old.index.get(keys.key(i)) {
                    gone[*r as usize] = true;
                }
            }
            Ok(())
        };
        mark(&change.removed)?;
        mark(&upserts)?;
        let keep = BooleanArray::from(gone.into_iter().map(|g| !g).collect::<Vec<_>>());
        let kept =
            filter_record_batch(&old.rows, &keep).map_err(TributaryError::arrow("live state"))?;
        let rows = concat_batches(&self.schema, [&kept, &upserts])
            .map_err(TributaryError::arrow("live state"))?;
        let snap = Snapshot::new(Some(epoch.0), rows, self.key_len)?;
        *self.current.write().expect("live state") = Arc::new(snap);
        Ok(())
    }

    /// `rows` with the view's schema (the same columns, maybe other names or nullability).
    fn conform(&self, rows: RecordBatch) -> Result<RecordBatch> {
        RecordBatch::try_new(self.schema.clone(), rows.columns().to_vec())
            .map_err(TributaryError::arrow("live state rows"))
    }
}

/// A [`LiveState`] as a table.
#[derive(Debug)]
struct LiveStateTable(Arc<LiveState>);

impl LiveStateTable {
    /// The key column `filter` pins to a value, if it is `key = literal`.
    fn pinned(&self, filter: &Expr) -> Option<(usize, ScalarValue)> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
            return None;
        };
        if *op != Operator::Eq {
            return None;
        }
        let (col, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => {
                (c, v)
            }
            _ => return None,
        };
        let i = self.0.schema.index_of(&col.name).ok()?;
        (i < self.0.key_len && !value.is_null()).then(|| (i, value.clone()))
    }
}

#[async_trait]
impl TableProvider for LiveStateTable {
    fn schema(&self) -> SchemaRef {
        self.0.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // Inexact: the filter is applied again above the scan (the scan may answer every row).
        Ok(filters
            .iter()
            .map(|f| match self.pinned(f) {
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let view = &self.0;
        let snap = view.current();
        let mut key: Vec<Option<ScalarValue>> = vec![None; view.key_len];
        for f in filters {
            if let Some((i, v)) = self.pinned(f) {
                key[i] = Some(v);
            }
        }
        let rows = match key.into_iter().collect::<Option<Vec<_>>>() {
            // Every key column pinned: one lookup.
            Some(k) if view.key_len > 0 => {
                let found = view
                    .row_of(&snap, &k)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                let idx = UInt32Array::from(found.into_iter().collect::<Vec<_>>());
                take_record_batch(&snap.rows, &idx)?
            }
            _ => snap.rows.clone(),
        };
        let exec: Arc<dyn ExecutionPlan> = MemorySourceConfig::try_new_exec(
            &[vec![rows]],
            view.schema.clone(),
            projection.cloned(),
        )?;
        Ok(exec)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn rows(keys: &[&str], values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(Int64Array::from(values.to_vec())),
            ],
        )
        .unwrap()
    }

    fn values(b: &RecordBatch) -> Vec<(String, i64)> {
        let k = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let v = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let mut out: Vec<_> = (0..b.num_rows())
            .map(|i| (k.value(i).to_string(), v.value(i)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_change_replaces_and_removes_keys_and_readers_keep_their_snapshot() {
        let view = LiveState::new("q_state".into(), "aggregation", rows(&[], &[]).schema(), 1);
        view.reset(Some(Epoch(0)), rows(&["a", "b"], &[1, 2]))
            .unwrap();
        let (_, before) = view.snapshot();
        view.apply(
            Epoch(1),
            LiveChange {
                upserts: rows(&["b", "c"], &[20, 3]),
                removed: rows(&["a"], &[0]),
            },
        )
        .unwrap();
        assert_eq!(values(&before), vec![("a".into(), 1), ("b".into(), 2)]);
        let (epoch, after) = view.snapshot();
        assert_eq!(epoch, Some(1));
        assert_eq!(values(&after), vec![("b".into(), 20), ("c".into(), 3)]);
        let found = view.lookup(&[ScalarValue::from("c")]).unwrap().unwrap();
        assert_eq!(values(&found), vec![("c".into(), 3)]);
        assert!(view.lookup(&[ScalarValue::from("a")]).unwrap().is_none());
        assert!(view.lookup(&[]).is_err());
    }

    #[tokio::test]
    async fn sql_over_the_table_finds_a_key_through_the_index_and_scans_otherwise() {
        let view = LiveState::new("q_state".into(), "aggregation", rows(&[], &[]).schema(), 1);
        view.reset(Some(Epoch(3)), rows(&["a", "b", "c"], &[1, 2, 3]))
            .unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_table("q_state", view.table()).unwrap();
        let one = ctx
            .sql("SELECT k, v FROM q_state WHERE k = 'b'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            values(&concat_batches(&one[0].schema(), &one).unwrap()),
            vec![("b".into(), 2)]
        );
        let some = ctx
            .sql("SELECT k, v FROM q_state WHERE v >= 2")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(
            values(&concat_batches(&some[0].schema(), &some).unwrap()),
            vec![("b".into(), 2), ("c".into(), 3)]
        );
    }
}
