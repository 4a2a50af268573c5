//! The state store trait and its in-memory, file-backed implementation.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch, not};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use tributary_checkpoint::Epoch;

use super::keys::KeyRows;
use crate::error::{Result, TributaryError};
use crate::location::Location;

/// What an epoch changed in one partition.
#[derive(Debug, Clone)]
pub(crate) struct StateChange {
    /// The partition's whole state after the epoch.
    pub rows: RecordBatch,
    /// Rows added or replaced (whole rows).
    pub upserts: RecordBatch,
    /// Keys removed (rows of the state schema; only the key columns matter).
    pub removed: RecordBatch,
}

/// A versioned, keyed store of Arrow rows: one per operator partition. Keys are the first
/// `key_len` columns.
#[async_trait]
pub(crate) trait StateStore: Send + Sync {
    /// The schema of the rows.
    fn schema(&self) -> SchemaRef;
    /// The rows as of the last committed epoch.
    fn rows(&self) -> &RecordBatch;
    /// Load the state as of the end of `epoch` (`None`: empty).
    async fn restore(&mut self, epoch: Option<Epoch>) -> Result<()>;
    /// Write the epoch's change durably, before the sink commits. Idempotent.
    async fn persist(&self, epoch: Epoch, change: &StateChange) -> Result<()>;
    /// Make the change the current state, once the epoch is committed.
    fn commit(&mut self, epoch: Epoch, change: StateChange);
}

/// Keeps the rows in memory; writes a delta file per epoch and a snapshot every
/// `snapshot_every` epochs (Spark's HDFS-backed state store, in Arrow IPC files).
pub(crate) struct MemoryStateStore {
    dir: Location,
    schema: SchemaRef,
    key_len: usize,
    rows: RecordBatch,
    snapshot_every: u64,
}

const DELTA: &str = "delta";
const SNAPSHOT: &str = "snapshot";
const REMOVED: &str = "__removed";

fn file_name(epoch: Epoch, kind: &str) -> String {
    format!("{:020}.{kind}", epoch.0)
}

/// The epoch and kind of a state file; None for any other name, such as the staging file
/// (`<name>#<n>`) that object_store leaves on a local disk when a process dies mid-write (it is
/// never read, and object_store refuses to name it, so it is left where it is).
fn parse_name(name: &str) -> Option<(u64, &str)> {
    let (n, kind) = name.rsplit('/').next()?.split_once('.')?;
    let kind = [DELTA, SNAPSHOT].into_iter().find(|k| *k == kind)?;
    Some((n.parse().ok()?, kind))
}

impl MemoryStateStore {
    /// An empty store writing under `dir`.
    pub(crate) fn new(
        dir: Location,
        schema: SchemaRef,
        key_len: usize,
        snapshot_every: u64,
    ) -> Self {
        MemoryStateStore {
            dir,
            rows: RecordBatch::new_empty(schema.clone()),
            schema,
            key_len,
            snapshot_every: snapshot_every.max(1),
        }
    }

    fn err(&self, message: impl Into<String>) -> TributaryError {
        TributaryError::State {
            location: self.dir.display.clone(),
            message: message.into(),
        }
    }

    /// The delta file schema: `__removed` plus every column, nullable.
    fn delta_schema(&self) -> SchemaRef {
        let mut fields = vec![Field::new(REMOVED, DataType::Boolean, false)];
        fields.extend(
            self.schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true)),
        );
        Arc::new(Schema::new(fields))
    }

    fn encode_delta(&self, change: &StateChange) -> Result<Vec<u8>> {
        let schema = self.delta_schema();
        let mut batches = Vec::new();
        for (removed, batch) in [(false, &change.upserts), (true, &change.removed)] {
            let n = batch.num_rows();
            if n == 0 {
                continue;
            }
            let mut cols: Vec<ArrayRef> = vec![Arc::new(BooleanArray::from(vec![removed; n]))];
            for (i, c) in batch.columns().iter().enumerate() {
                cols.push(if removed && i >= self.key_len {
                    new_null_array(c.data_type(), n)
                } else {
                    c.clone()
                });
            }
            batches.push(
                RecordBatch::try_new(schema.clone(), cols)
                    .map_err(TributaryError::arrow("encoding a state delta"))?,
            );
        }
        write_ipc(&schema, &batches)
    }

    async fn read_file(&self, name: &str) -> Result<Vec<RecordBatch>> {
        let bytes = self.dir.read(name).await?.ok_or_else(|| {
            self.err(format!(
                "'{name}' is missing, so the state cannot be rebuilt; restore the checkpoint folder \
                 from a backup, or start the query with a new checkpoint"
            ))
        })?;
        read_ipc(&bytes).map_err(|e| self.err(format!("'{name}' is damaged: {e}")))
    }

    /// Conform a batch read back to the store's schema.
    fn conform(&self, cols: Vec<ArrayRef>) -> Result<RecordBatch> {
        RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| {
            self.err(format!(
                "a state file does not fit the operator's state: {e}"
            ))
        })
    }

    fn apply(
        &self,
        rows: RecordBatch,
        upserts: RecordBatch,
        removed: &RecordBatch,
    ) -> Result<RecordBatch> {
        let up = KeyRows::new(&upserts, self.key_len)?;
        let rm = KeyRows::new(removed, self.key_len)?;
        let mut gone: HashSet<&[u8]> = up.set();
        gone.extend(rm.set());
        let keys = KeyRows::new(&rows, self.key_len)?;
        let keep = not(&keys.mask_in(&gone)).map_err(TributaryError::arrow("applying state"))?;
        let kept =
            filter_record_batch(&rows, &keep).map_err(TributaryError::arrow("applying state"))?;
        concat_batches(&self.schema, [&kept, &upserts])
            .map_err(TributaryError::arrow("applying state"))
    }
}

fn write_ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::ipc::writer::FileWriter::try_new(&mut buf, schema)
            .map_err(TributaryError::arrow("writing state"))?;
        for b in batches {
            w.write(b).map_err(TributaryError::arrow("writing state"))?;
        }
        w.finish().map_err(TributaryError::arrow("writing state"))?;
    }
    Ok(buf)
}

fn read_ipc(bytes: &[u8]) -> std::result::Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    let r = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)?;
    r.collect()
}

#[async_trait]
impl StateStore for MemoryStateStore {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn rows(&self) -> &RecordBatch {
        &self.rows
    }

    async fn restore(&mut self, epoch: Option<Epoch>) -> Result<()> {
        self.rows = RecordBatch::new_empty(self.schema.clone());
        let Some(target) = epoch else {
            return Ok(());
        };
        let files: Vec<(u64, String)> = self
            .dir
            .list("")
            .await?
            .into_iter()
            .filter_map(|e| parse_name(&e.name).map(|(n, k)| (n, k.to_string())))
            .collect();
        let snapshot = files
            .iter()
            .filter(|(n, k)| k == SNAPSHOT && *n <= target.0)
            .map(|(n, _)| *n)
            .max();
        let first_delta = match snapshot {
            Some(s) => {
                let batches = self.read_file(&file_name(Epoch(s), SNAPSHOT)).await?;
                let mut parts = Vec::new();
                for b in batches {
                    parts.push(self.conform(b.columns().to_vec())?);
                }
                self.rows = concat_batches(&self.schema, &parts)
                    .map_err(TributaryError::arrow("restoring state"))?;
                s + 1
            }
            None => files
                .iter()
                .filter(|(_, k)| k == DELTA)
                .map(|(n, _)| *n)
                .min()
                .unwrap_or(0),
        };
        if snapshot.is_none() && first_delta > 0 {
            return Err(self.err(format!(
                "the state of epochs before {first_delta} is gone (no snapshot and no delta); \
                 start the query with a new checkpoint"
            )));
        }
        for e in first_delta..=target.0 {
            let batches = self.read_file(&file_name(Epoch(e), DELTA)).await?;
            let mut up = Vec::new();
            let mut rm = Vec::new();
            for b in batches {
                let flag = b.column(0).as_boolean().clone();
                let cols = b.columns()[1..].to_vec();
                let body = RecordBatch::try_new(self.delta_schema_body(), cols)
                    .map_err(TributaryError::arrow("reading a state delta"))?;
                let removed = filter_record_batch(&body, &flag)
                    .map_err(TributaryError::arrow("reading a state delta"))?;
                let kept = filter_record_batch(
                    &body,
                    &not(&flag).map_err(TributaryError::arrow("state"))?,
                )
                .map_err(TributaryError::arrow("reading a state delta"))?;
                up.push(self.conform(kept.columns().to_vec())?);
                rm.push(removed);
            }
            let up = concat_batches(&self.schema, &up).map_err(TributaryError::arrow("state"))?;
            let rm = concat_batches(&self.delta_schema_body(), &rm)
                .map_err(TributaryError::arrow("state"))?;
            let rows =
                std::mem::replace(&mut self.rows, RecordBatch::new_empty(self.schema.clone()));
            self.rows = self.apply(rows, up, &rm)?;
        }
        Ok(())
    }

    async fn persist(&self, epoch: Epoch, change: &StateChange) -> Result<()> {
        self.dir.ensure_dir()?;
        self.dir
            .write(&file_name(epoch, DELTA), self.encode_delta(change)?)
            .await?;
        if (epoch.0 + 1).is_multiple_of(self.snapshot_every) {
            let bytes = write_ipc(&self.schema, std::slice::from_ref(&change.rows))?;
            self.dir.write(&file_name(epoch, SNAPSHOT), bytes).await?;
            // Keep the previous snapshot and what follows it: a crash before this epoch
            // commits restores from there.
            let keep_from = (epoch.0 + 1).saturating_sub(self.snapshot_every);
            for e in self.dir.list("").await? {
                if let Some((n, _)) = parse_name(&e.name) {
                    if n + 1 < keep_from {
                        let name = e.name.rsplit('/').next().unwrap_or(&e.name).to_string();
                        self.dir.delete(&name).await?;
                    }
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, _epoch: Epoch, change: StateChange) {
        self.rows = change.rows;
    }
}

impl MemoryStateStore {
    /// The schema of delta rows without the flag: every column nullable.
    fn delta_schema_body(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

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
        let mut store = MemoryStateStore::new(loc.clone(), schema.clone(), 1, 3);
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
            let rows = store.apply(store.rows().clone(), up.clone(), &rm).unwrap();
            let change = StateChange {
                rows,
                upserts: up,
                removed: rm,
            };
            store.persist(Epoch(e), &change).await.unwrap();
            store.commit(Epoch(e), change);
            expected.push(model.clone().into_iter().collect::<Vec<_>>());
            assert_eq!(sorted(store.rows()), expected[e as usize]);
        }
        // Every recent epoch can be restored (older ones are purged behind snapshots).
        for e in 6..10u64 {
            let mut fresh = MemoryStateStore::new(loc.clone(), schema.clone(), 1, 3);
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
                .any(|n| n.ends_with(&file_name(Epoch(0), DELTA))),
            "{names:?}"
        );
    }
}
