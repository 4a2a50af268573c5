//! `tributary state repartition CHECKPOINT --partitions N`: move a stopped query's state to a
//! new number of partitions, offline, and to the partition hash of key values
//! ([`PartitionHash::Values`]).
//!
//! ```text
//!  lease (no run may hold the checkpoint) ─► every store of every operator restored at the last
//!  commit ─► each row placed by the hash of its partition columns (recorded in the shape)
//!  ─► repartition/state/<op>/<dir>/<c>.snapshot (staged) ─► repartition/COMPLETE
//!  ─► state/ replaced by the staged files ─► metadata (state.partitions, the hash) and the
//!     shape updated ─► repartition/ removed
//! ```
//! A crash before `COMPLETE` leaves the state as it was (the staged files are written again);
//! after it, the next `repartition` (with the same N) finishes the move, and a query refuses to
//! start until it has.

use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use tributary_checkpoint::{codec, CheckpointPaths, Epoch, QueryMetadata};

use super::files::StateFiles;
use super::hash::{value_partitions, PartitionHash};
use super::reader::StateReader;
use crate::clock::{Clock, SystemClock};
use crate::error::{Result, TributaryError};
use crate::exec::checkpoint_io::CheckpointStore;
use crate::location::Location;

const STAGING: &str = "repartition";
const COMPLETE: &str = "repartition/COMPLETE";

/// What a repartition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repartitioned {
    /// Partitions before.
    pub from: usize,
    /// Partitions after.
    pub to: usize,
    /// The epoch whose state was moved (the last committed one).
    pub epoch: Option<u64>,
    /// Rows moved, over every operator.
    pub rows: u64,
}

/// Whether a repartition was staged and not finished (a query must not start then).
pub(crate) async fn unfinished(root: &Location) -> Result<bool> {
    Ok(root.read(COMPLETE).await?.is_some())
}

fn err(root: &Location, message: impl Into<String>) -> TributaryError {
    TributaryError::State {
        location: root.display.clone(),
        message: message.into(),
    }
}

/// Repartition the state of the query whose checkpoint is `root` into `partitions`.
pub async fn repartition(root: Location, partitions: usize) -> Result<Repartitioned> {
    if partitions == 0 {
        return Err(TributaryError::option("partitions", "must be at least 1"));
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let run_id = format!("repartition-{}", uuid::Uuid::new_v4());
    let lease = crate::exec::lease::CheckpointLease::acquire(&root, &run_id, &clock).await?;
    let result = repartition_leased(&root, partitions).await;
    lease.release().await;
    result
}

async fn repartition_leased(root: &Location, partitions: usize) -> Result<Repartitioned> {
    let store = CheckpointStore { root: root.clone() };
    let listing = store.listing().await?;
    let Some(meta) = listing.metadata.clone() else {
        return Err(err(root, "no query checkpoint here (no metadata file)"));
    };
    let from = meta
        .conf
        .get("state.partitions")
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    if let Some(staged) = root.read(COMPLETE).await? {
        let staged: serde_json::Value = serde_json::from_slice(&staged)
            .map_err(|e| err(root, format!("'{COMPLETE}' is damaged: {e}")))?;
        let n = staged["partitions"].as_u64().unwrap_or(0) as usize;
        if n != partitions {
            return Err(err(
                root,
                format!(
                    "a repartition to {n} partitions was staged and not finished: run \
                     `tributary state repartition` with --partitions {n} to finish it first"
                ),
            ));
        }
        let epoch = staged["epoch"].as_u64();
        let rows = staged["rows"].as_u64().unwrap_or(0);
        finish(root, &store, meta, partitions, epoch).await?;
        return Ok(Repartitioned {
            from: staged["from"].as_u64().unwrap_or(from as u64) as usize,
            to: partitions,
            epoch,
            rows,
        });
    }
    let committed = listing.commits.iter().max().copied();
    if listing.offsets.iter().max() > committed.as_ref() {
        return Err(err(
            root,
            "the query's last epoch was planned and not committed: start the query once so that \
             it finishes that epoch, stop it, then repartition",
        ));
    }
    let hash = PartitionHash::from_conf(meta.conf.get("state.partition_hash").map(String::as_str));
    if from == partitions && hash == PartitionHash::Values {
        return Ok(Repartitioned {
            from,
            to: partitions,
            epoch: committed.map(|c| c.0),
            rows: 0,
        });
    }
    let mut rows = 0u64;
    if let Some(c) = committed {
        let reader = StateReader::open(root.clone()).await?;
        for op in &reader.shape().operators {
            let kinds = op.state.len().max(1);
            for (side, st) in op.state.iter().enumerate() {
                let Some(by) = &st.partition_by else {
                    return Err(err(
                        root,
                        format!(
                            "operator {} ({}) places its rows by keys computed from them (a join \
                             on expressions rather than columns): it cannot be repartitioned \
                             offline; start the query on a new checkpoint with the partitions \
                             you want",
                            op.id, op.kind
                        ),
                    ));
                };
                let mut parts = Vec::new();
                let mut schema = None;
                for d in reader
                    .dirs(op.id)
                    .await?
                    .iter()
                    .filter(|d| d.index % kinds == side)
                {
                    let b = reader.restore(op, d, c).await?;
                    schema.get_or_insert_with(|| b.schema());
                    parts.push(b);
                }
                let Some(schema) = schema else { continue };
                let all = concat_batches(&schema, &parts)
                    .map_err(TributaryError::arrow("gathering state rows"))?;
                rows += all.num_rows() as u64;
                let cols: Vec<_> = by.iter().map(|i| all.column(*i).clone()).collect();
                let placed = value_partitions(&cols, all.num_rows(), partitions)?;
                let mut index: Vec<Vec<u32>> = vec![Vec::new(); partitions];
                for (i, p) in placed.into_iter().enumerate() {
                    index[p].push(i as u32);
                }
                for (p, idx) in index.into_iter().enumerate() {
                    let part: RecordBatch = take_record_batch(&all, &UInt32Array::from(idx))
                        .map_err(TributaryError::arrow("placing state rows"))?;
                    let files = StateFiles {
                        dir: root.child(&format!(
                            "{STAGING}/{}",
                            CheckpointPaths::state(op.id, p * kinds + side)
                        )),
                        schema: schema.clone(),
                        key_len: st.key_len,
                    };
                    files.write_snapshot(c, std::iter::once(Ok(part))).await?;
                }
            }
        }
    }
    let staged = serde_json::json!({
        "from": from, "partitions": partitions, "epoch": committed.map(|c| c.0), "rows": rows,
    });
    root.write(COMPLETE, serde_json::to_vec(&staged).unwrap_or_default())
        .await?;
    root.sync(COMPLETE).await?;
    finish(root, &store, meta, partitions, committed.map(|c| c.0)).await?;
    Ok(Repartitioned {
        from,
        to: partitions,
        epoch: committed.map(|c| c.0),
        rows,
    })
}

/// Replace the state with the staged one, then record the new partitions.
async fn finish(
    root: &Location,
    store: &CheckpointStore,
    mut meta: QueryMetadata,
    partitions: usize,
    epoch: Option<u64>,
) -> Result<()> {
    for e in root.list("state").await? {
        root.delete(&e.name).await?;
    }
    let prefix = format!("{STAGING}/");
    for e in root.list(STAGING).await? {
        let Some(rel) = e.name.strip_prefix(&prefix) else {
            continue;
        };
        if !rel.starts_with("state/") {
            continue;
        }
        let bytes = root
            .read(&e.name)
            .await?
            .ok_or_else(|| err(root, format!("'{}' disappeared while it was moved", e.name)))?;
        root.child(rel.rsplit_once('/').map_or("", |(d, _)| d))
            .ensure_dir()?;
        root.write(rel, bytes).await?;
    }
    meta.conf
        .insert("state.partitions".into(), partitions.to_string());
    meta.conf
        .insert("state.join.partitions".into(), partitions.to_string());
    meta.conf.insert(
        "state.partition_hash".into(),
        PartitionHash::Values.name().into(),
    );
    root.write(&CheckpointPaths::metadata(), codec::encode(&meta))
        .await?;
    root.sync(&CheckpointPaths::metadata()).await?;
    let next = Epoch(epoch.map_or(0, |c| c + 1));
    if let Some(mut shape) = store.read_shape(next).await? {
        shape.state_partitions = partitions;
        shape.epoch = next.0;
        store.write_shape(&shape).await?;
    }
    for e in root.list(STAGING).await? {
        if e.name != COMPLETE {
            root.delete(&e.name).await?;
        }
    }
    root.delete(COMPLETE).await
}
