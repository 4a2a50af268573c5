//! A store that keeps a partition's rows as one batch: the reference the tests hold the keyed
//! store against (compiled for tests only).

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, filter_record_batch, not};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use tributary_checkpoint::Epoch;

use super::files::{rewrap, SinceSnapshot, SnapshotPolicy, StateFiles};
use super::keys::KeyRows;
use super::store::{StateChange, StateStore};
use crate::error::{Result, TributaryError};
use crate::location::Location;

/// Keeps a partition's rows as one batch in memory, rebuilt every epoch (Spark's HDFS-backed
/// state store, in Arrow IPC files): the reference the tests hold [`super::KeyedStore`], the
/// store every operator runs on, against (same changes, same files, same rows).
pub(crate) struct MemoryStateStore {
    files: StateFiles,
    rows: RecordBatch,
    since: SinceSnapshot,
    policy: SnapshotPolicy,
}

impl MemoryStateStore {
    /// An empty store writing under `dir`.
    pub(crate) fn new(dir: Location, schema: SchemaRef, key_len: usize) -> Self {
        MemoryStateStore {
            rows: RecordBatch::new_empty(schema.clone()),
            files: StateFiles {
                dir,
                schema,
                key_len,
            },
            since: SinceSnapshot::default(),
            policy: SnapshotPolicy::DEFAULT,
        }
    }

    fn with_policy(mut self, policy: SnapshotPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The rows as of the last committed epoch.
    pub(crate) fn rows(&self) -> &RecordBatch {
        &self.rows
    }

    /// The rows after applying a change: rows whose key was upserted or removed go, the
    /// upserts come.
    pub(crate) fn apply(
        &self,
        rows: RecordBatch,
        upserts: RecordBatch,
        removed: &RecordBatch,
    ) -> Result<RecordBatch> {
        let key_len = self.files.key_len;
        let up = KeyRows::new(&upserts, key_len)?;
        let rm = KeyRows::new(removed, key_len)?;
        let mut gone = up.set();
        gone.extend(rm.set());
        let keys = KeyRows::new(&rows, key_len)?;
        let keep = not(&keys.mask_in(&gone)).map_err(TributaryError::arrow("applying state"))?;
        let kept =
            filter_record_batch(&rows, &keep).map_err(TributaryError::arrow("applying state"))?;
        concat_batches(
            &self.files.schema,
            [&kept, &rewrap(&self.files.schema, &upserts)?],
        )
        .map_err(TributaryError::arrow("applying state"))
    }

    fn after(&self, change: &StateChange) -> Result<RecordBatch> {
        self.apply(self.rows.clone(), change.upserts.clone(), &change.removed)
    }

    fn since_after(&self, change: &StateChange) -> SinceSnapshot {
        self.since.plus(change.upserts.num_rows() as u64)
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn restore(&mut self, epoch: Option<Epoch>) -> Result<()> {
        let schema = self.files.schema.clone();
        self.rows = RecordBatch::new_empty(schema.clone());
        self.since = SinceSnapshot::default();
        let Some(target) = epoch else {
            return Ok(());
        };
        let plan = self.files.plan(target).await?;
        if let Some(s) = plan.snapshot {
            let mut parts = Vec::new();
            self.files
                .read_snapshot(s, |b| {
                    parts.push(b);
                    Ok(())
                })
                .await?;
            self.rows = concat_batches(&schema, &parts)
                .map_err(TributaryError::arrow("restoring state"))?;
        }
        for e in plan.deltas {
            let (up, rm) = self.files.read_delta(e).await?;
            self.since = self.since.plus(up.num_rows() as u64);
            let rows = std::mem::replace(&mut self.rows, RecordBatch::new_empty(schema.clone()));
            self.rows = self.apply(rows, up, &rm)?;
        }
        Ok(())
    }

    async fn persist(&self, epoch: Epoch, change: &StateChange) -> Result<()> {
        self.files
            .write_delta(epoch, &change.upserts, &change.removed)
            .await?;
        let rows = self.after(change)?;
        if self
            .policy
            .due(self.since_after(change), rows.num_rows() as u64)
        {
            self.files
                .write_snapshot(epoch, std::iter::once(Ok(rows)))
                .await?;
        }
        Ok(())
    }

    fn rows(&self) -> Result<RecordBatch> {
        Ok(self.rows.clone())
    }

    fn files(&self) -> &StateFiles {
        &self.files
    }

    fn key_len(&self) -> usize {
        self.files.key_len
    }

    fn commit(&mut self, _epoch: Epoch, change: StateChange) -> Result<()> {
        let since = self.since_after(&change);
        let rows = self.after(&change)?;
        self.since = if self.policy.due(since, rows.num_rows() as u64) {
            SinceSnapshot::default()
        } else {
            since
        };
        self.rows = rows;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(schema: &SchemaRef, keys: &[&str], vals: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(Int64Array::from(vals.to_vec())),
            ],
        )
        .unwrap()
    }

    fn sorted(b: &RecordBatch) -> Vec<(String, i64)> {
        let k = b.column(0).as_string::<i32>();
        let v = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
        let mut out: Vec<_> = (0..b.num_rows())
            .map(|i| (k.value(i).to_string(), v.value(i)))
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn restores_any_committed_epoch_from_snapshots_and_deltas() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let policy = SnapshotPolicy {
            max_epochs: 3,
            min_rows: 1000,
        };
        let mut store = MemoryStateStore::new(loc.clone(), schema.clone(), 1).with_policy(policy);
        // What a process killed in the middle of writing a file leaves on a local disk:
        // object_store's staging file, which its API refuses to name (it failed a query in CI).
        std::fs::write(dir.path().join("00000000000000000000.delta#1"), b"half").unwrap();
        let mut expected = Vec::new();
        // Epoch e upserts key k<e%4> = e and removes k<(e+2)%4>.
        let mut model: std::collections::BTreeMap<String, i64> = Default::default();
        for e in 0..10u64 {
            let up = batch(&schema, &[&format!("k{}", e % 4)], &[e as i64]);
            let rm = batch(&schema, &[&format!("k{}", (e + 2) % 4)], &[0]);
            model.insert(format!("k{}", e % 4), e as i64);
            model.remove(&format!("k{}", (e + 2) % 4));
            let change = StateChange::new(up, rm);
            store.persist(Epoch(e), &change).await.unwrap();
            store.commit(Epoch(e), change).unwrap();
            expected.push(model.clone().into_iter().collect::<Vec<_>>());
            assert_eq!(sorted(store.rows()), expected[e as usize]);
        }
        // Every recent epoch can be restored (older ones are purged behind snapshots).
        for e in 6..10u64 {
            let mut fresh =
                MemoryStateStore::new(loc.clone(), schema.clone(), 1).with_policy(policy);
            fresh.restore(Some(Epoch(e))).await.unwrap();
            assert_eq!(sorted(fresh.rows()), expected[e as usize], "epoch {e}");
        }
        // Old files are gone.
        let names: Vec<String> = loc
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(&super::super::files::file_name(Epoch(0), "delta"))),
            "{names:?}"
        );
    }
}
