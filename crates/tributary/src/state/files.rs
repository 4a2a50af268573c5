//! The files of one state partition in the checkpoint, and when to compact them.
//!
//! ```text
//!  state/<operator>/<partition>/
//!    <epoch:020>.delta      the epoch's changelog: `__removed` + every column (nullable);
//!                           upserted rows whole, removed rows by their key columns
//!    <epoch:020>.snapshot   the partition's whole state after the epoch (compacted)
//! ```
//!
//! A restore to epoch `e` reads the latest snapshot at or before `e` and the changelogs after it.
//! [`SnapshotPolicy`] writes a snapshot once the changelogs since the last one upserted as many
//! rows as the state holds (or after a number of epochs), so a restore reads at most about twice the state
//! whatever the history, and an epoch pays, amortized, for the rows it changed.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch, not};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use tributary_checkpoint::Epoch;

use crate::error::{Result, TributaryError};
use crate::location::Location;

const DELTA: &str = "delta";
const SNAPSHOT: &str = "snapshot";
const REMOVED: &str = "__removed";

pub(crate) fn file_name(epoch: Epoch, kind: &str) -> String {
    format!("{:020}.{kind}", epoch.0)
}

/// The epoch and kind of a state file; None for any other name, such as the staging file
/// (`<name>#<n>`) that object_store leaves on a local disk when a process dies mid-write (it is
/// never read, and object_store refuses to name it, so it is left where it is).
pub(crate) fn parse_name(name: &str) -> Option<(u64, &'static str)> {
    let (n, kind) = name.rsplit('/').next()?.split_once('.')?;
    let kind = [DELTA, SNAPSHOT].into_iter().find(|k| *k == kind)?;
    Some((n.parse().ok()?, kind))
}

/// Changelogs written since the last snapshot, and the rows they upserted (a removal holds only
/// its key: a restore replays it for the price of a lookup, so it does not count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SinceSnapshot {
    pub epochs: u64,
    pub rows: u64,
}

impl SinceSnapshot {
    /// After one more changelog that upserted `rows` rows.
    pub(crate) fn plus(self, rows: u64) -> Self {
        SinceSnapshot {
            epochs: self.epochs + 1,
            rows: self.rows + rows,
        }
    }
}

/// When an epoch also writes a compacted snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotPolicy {
    /// At most this many changelogs between snapshots.
    pub max_epochs: u64,
    /// Changelogs smaller than this many rows in all never force a snapshot by size.
    pub min_rows: u64,
}

impl SnapshotPolicy {
    /// The policy of the running engine.
    pub(crate) const DEFAULT: SnapshotPolicy = SnapshotPolicy {
        max_epochs: 100,
        min_rows: 100_000,
    };

    /// Whether the epoch that brings the changelogs to `since` writes a snapshot of its state
    /// of `state_rows` rows: when the changelogs upserted more rows than the state holds (a
    /// restore then reads no more than about twice the state; a state that only grew is exactly its changelogs,
    /// and a snapshot would write it twice), or after `max_epochs` of them.
    pub(crate) fn due(&self, since: SinceSnapshot, state_rows: u64) -> bool {
        since.epochs >= self.max_epochs || since.rows > state_rows.max(self.min_rows)
    }
}

/// What a restore to an epoch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestorePlan {
    pub snapshot: Option<Epoch>,
    pub deltas: Vec<Epoch>,
}

/// The files of one state partition.
#[derive(Debug, Clone)]
pub(crate) struct StateFiles {
    pub dir: Location,
    pub schema: SchemaRef,
    pub key_len: usize,
}

impl StateFiles {
    pub(crate) fn err(&self, message: impl Into<String>) -> TributaryError {
        TributaryError::State {
            location: self.dir.display.clone(),
            message: message.into(),
        }
    }

    /// The changelog schema: `__removed` plus every column, nullable.
    fn delta_schema(&self) -> SchemaRef {
        let mut fields = vec![Field::new(REMOVED, DataType::Boolean, false)];
        fields.extend(
            self.body_schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone()),
        );
        Arc::new(Schema::new(fields))
    }

    /// Every column of the state, nullable (removed rows hold only their keys).
    pub(crate) fn body_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ))
    }

    /// Which files a restore to `target` reads.
    pub(crate) async fn plan(&self, target: Epoch) -> Result<RestorePlan> {
        let files: Vec<(u64, &str)> = self
            .dir
            .list("")
            .await?
            .into_iter()
            .filter_map(|e| parse_name(&e.name))
            .collect();
        let snapshot = files
            .iter()
            .filter(|(n, k)| *k == SNAPSHOT && *n <= target.0)
            .map(|(n, _)| *n)
            .max();
        let first = match snapshot {
            Some(s) => s + 1,
            None => files
                .iter()
                .filter(|(_, k)| *k == DELTA)
                .map(|(n, _)| *n)
                .min()
                .unwrap_or(0),
        };
        if snapshot.is_none() && first > 0 {
            return Err(self.err(format!(
                "the state of epochs before {first} is gone (no snapshot and no delta); \
                 start the query with a new checkpoint"
            )));
        }
        Ok(RestorePlan {
            snapshot: snapshot.map(Epoch),
            deltas: (first..=target.0).map(Epoch).collect(),
        })
    }

    fn missing(&self, name: &str) -> TributaryError {
        self.err(format!(
            "'{name}' is missing, so the state cannot be rebuilt; restore the checkpoint folder \
             from a backup, or start the query with a new checkpoint"
        ))
    }

    fn conform(&self, b: RecordBatch) -> Result<RecordBatch> {
        let mut columns = b.columns().to_vec();
        if columns.len() == self.schema.fields().len() {
            for (c, f) in columns.iter_mut().zip(self.schema.fields()) {
                // State written when SQL's TIMESTAMP was nanoseconds reads on in microseconds.
                if c.data_type() != f.data_type()
                    && same_but_time_units(c.data_type(), f.data_type())
                {
                    *c = arrow::compute::cast(c, f.data_type()).map_err(|e| {
                        self.err(format!(
                            "a state file's column '{}' does not convert: {e}",
                            f.name()
                        ))
                    })?;
                }
            }
        }
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| {
            self.err(format!(
                "a state file does not fit the operator's state: {e}"
            ))
        })
    }

    /// Hand each batch of the snapshot of `epoch` to `each`. A local file is read batch by
    /// batch; an object is fetched whole first.
    pub(crate) async fn read_snapshot(
        &self,
        epoch: Epoch,
        mut each: impl FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let name = file_name(epoch, SNAPSHOT);
        let damaged = |e: arrow::error::ArrowError| self.err(format!("'{name}' is damaged: {e}"));
        if let Some(dir) = self.dir.local_path() {
            let file = std::fs::File::open(dir.join(&name)).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    self.missing(&name)
                } else {
                    self.err(format!("cannot read '{name}': {e}"))
                }
            })?;
            let reader =
                arrow::ipc::reader::FileReader::try_new_buffered(file, None).map_err(damaged)?;
            for b in reader {
                each(self.conform(b.map_err(damaged)?)?)?;
            }
            return Ok(());
        }
        for b in self.read_whole(&name).await? {
            each(self.conform(b)?)?;
        }
        Ok(())
    }

    async fn read_whole(&self, name: &str) -> Result<Vec<RecordBatch>> {
        let bytes = self
            .dir
            .read(name)
            .await?
            .ok_or_else(|| self.missing(name))?;
        let r = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| self.err(format!("'{name}' is damaged: {e}")))?;
        r.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(format!("'{name}' is damaged: {e}")))
    }

    /// The changelog of `epoch`: (upserted rows, removed rows with only their keys set).
    pub(crate) async fn read_delta(&self, epoch: Epoch) -> Result<(RecordBatch, RecordBatch)> {
        let err = TributaryError::arrow;
        let body = self.body_schema();
        let mut up = Vec::new();
        let mut rm = Vec::new();
        for b in self.read_whole(&file_name(epoch, DELTA)).await? {
            let flag = b.column(0).as_boolean().clone();
            let rows = RecordBatch::try_new(body.clone(), b.columns()[1..].to_vec())
                .map_err(|e| self.err(format!("a state changelog does not fit: {e}")))?;
            let removed = filter_record_batch(&rows, &flag).map_err(err("reading a changelog"))?;
            let kept = filter_record_batch(&rows, &not(&flag).map_err(err("reading a changelog"))?)
                .map_err(err("reading a changelog"))?;
            up.push(self.conform(kept)?);
            rm.push(removed);
        }
        Ok((
            concat_batches(&self.schema, &up).map_err(err("reading a changelog"))?,
            concat_batches(&body, &rm).map_err(err("reading a changelog"))?,
        ))
    }

    /// Write the changelog of `epoch`. Idempotent.
    pub(crate) async fn write_delta(
        &self,
        epoch: Epoch,
        upserts: &RecordBatch,
        removed: &RecordBatch,
    ) -> Result<()> {
        let schema = self.delta_schema();
        let mut batches = Vec::new();
        for (is_removed, batch) in [(false, upserts), (true, removed)] {
            let n = batch.num_rows();
            if n == 0 {
                continue;
            }
            let mut cols: Vec<ArrayRef> = vec![Arc::new(BooleanArray::from(vec![is_removed; n]))];
            for (i, c) in batch.columns().iter().enumerate() {
                cols.push(if is_removed && i >= self.key_len {
                    new_null_array(c.data_type(), n)
                } else {
                    c.clone()
                });
            }
            batches.push(
                RecordBatch::try_new(schema.clone(), cols)
                    .map_err(TributaryError::arrow("encoding a state changelog"))?,
            );
        }
        self.dir.ensure_dir()?;
        let mut w = IpcChunks::new(&schema)?;
        for b in &batches {
            w.write(b)?;
        }
        self.dir.write(&file_name(epoch, DELTA), w.finish()?).await
    }

    /// Write the snapshot of `epoch` from `batches` (each conforming to the state's schema),
    /// streaming it to the store in parts, then drop the files no restore needs any more (those
    /// before the previous snapshot: a crash before this epoch commits restores from there).
    pub(crate) async fn write_snapshot(
        &self,
        epoch: Epoch,
        batches: impl Iterator<Item = Result<RecordBatch>>,
    ) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        self.dir.ensure_dir()?;
        let name = file_name(epoch, SNAPSHOT);
        let path = self.dir.path(&name);
        let io = |e: std::io::Error| self.err(format!("writing '{name}': {e}"));
        let mut out = object_store::buffered::BufWriter::new(self.dir.store.clone(), path);
        let mut w = IpcChunks::new(&self.schema)?;
        for b in batches {
            w.write(&b?)?;
            let chunk = w.take();
            if !chunk.is_empty() {
                out.write_all(&chunk).await.map_err(io)?;
            }
        }
        let rest = w.finish()?;
        out.write_all(&rest).await.map_err(io)?;
        out.shutdown().await.map_err(io)?;
        self.purge_before_previous(epoch).await
    }

    async fn purge_before_previous(&self, epoch: Epoch) -> Result<()> {
        let listed = self.dir.list("").await?;
        let previous = listed
            .iter()
            .filter_map(|e| parse_name(&e.name))
            .filter(|(n, k)| *k == SNAPSHOT && *n < epoch.0)
            .map(|(n, _)| n)
            .max();
        let Some(previous) = previous else {
            return Ok(());
        };
        for e in listed {
            if let Some((n, _)) = parse_name(&e.name) {
                if n < previous {
                    let name = e.name.rsplit('/').next().unwrap_or(&e.name).to_string();
                    self.dir.delete(&name).await?;
                }
            }
        }
        Ok(())
    }
}

/// An Arrow IPC file written batch by batch, its bytes taken out as they are encoded.
struct IpcChunks {
    w: arrow::ipc::writer::FileWriter<Vec<u8>>,
}

impl IpcChunks {
    fn new(schema: &SchemaRef) -> Result<Self> {
        Ok(IpcChunks {
            w: arrow::ipc::writer::FileWriter::try_new(Vec::new(), schema)
                .map_err(TributaryError::arrow("writing state"))?,
        })
    }

    fn write(&mut self, b: &RecordBatch) -> Result<()> {
        self.w
            .write(b)
            .map_err(TributaryError::arrow("writing state"))
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.w.get_mut())
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        self.w
            .finish()
            .map_err(TributaryError::arrow("writing state"))?;
        Ok(self.take())
    }
}

/// Whether `a` and `b` are one type but for the units of their timestamps (at any depth).
fn same_but_time_units(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::Timestamp(_, x), DataType::Timestamp(_, y)) => x == y,
        (DataType::Struct(x), DataType::Struct(y)) => {
            x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(x, y)| {
                    x.name() == y.name() && same_but_time_units(x.data_type(), y.data_type())
                })
        }
        (DataType::List(x), DataType::List(y))
        | (DataType::LargeList(x), DataType::LargeList(y)) => {
            same_but_time_units(x.data_type(), y.data_type())
        }
        _ => a == b,
    }
}

/// Conform a batch to `schema` (same columns, the schema's nullability).
pub(crate) fn rewrap(schema: &SchemaRef, b: &RecordBatch) -> Result<RecordBatch> {
    RecordBatch::try_new(schema.clone(), b.columns().to_vec())
        .map_err(TributaryError::arrow("conforming state rows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_due_once_the_changelogs_hold_the_state() {
        let p = SnapshotPolicy {
            max_epochs: 100,
            min_rows: 10,
        };
        let since = |epochs, rows| SinceSnapshot { epochs, rows };
        // A large state with small changes: not before the changelogs add up to it.
        assert!(!p.due(since(5, 999), 1000));
        assert!(p.due(since(5, 1001), 1000));
        // A state that only grew is its changelogs: no snapshot by size.
        assert!(!p.due(since(5, 1000), 1000));
        // A tiny state does not snapshot every epoch.
        assert!(!p.due(since(2, 10), 1));
        assert!(p.due(since(2, 11), 1));
        // Idle epochs: after max_epochs whatever the rows.
        assert!(!p.due(since(99, 0), 0));
        assert!(p.due(since(100, 0), 0));
        assert_eq!(since(1, 2).plus(3), since(2, 5));
    }

    #[test]
    fn names_of_state_files() {
        assert_eq!(parse_name("00000000000000000007.delta"), Some((7, DELTA)));
        assert_eq!(
            parse_name("a/00000000000000000012.snapshot"),
            Some((12, SNAPSHOT))
        );
        assert_eq!(parse_name("00000000000000000007.delta#3"), None);
        assert_eq!(file_name(Epoch(3), DELTA), "00000000000000000003.delta");
    }
}
