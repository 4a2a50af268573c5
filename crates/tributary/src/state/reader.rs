//! Reading a checkpoint's state from outside the query: what `tributary state describe|show`
//! and the batch format `state` (Spark's state data source) read.
//!
//! ```text
//!  checkpoint/shapes/<e>        which operators there are, their kind and key columns
//!  checkpoint/commits/<e>       the epochs that may be read (committed, still retained)
//!  checkpoint/state/<op>/<dir>/ one store per partition (a join: two per partition, left and right);
//!                               its schema is read from its own files, its rows restored as a
//!                               restart would restore them
//! ```
//! A store is read with the same restore as the running query (latest snapshot at or before
//! the epoch, then the changelogs after it), so the reader sees exactly what a restart would.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use tributary_checkpoint::{CheckpointPaths, Epoch};

use super::files::parse_name;
use super::keys::KeySet;
use super::{KeyedStore, StateStore};
use crate::error::{Result, TributaryError};
use crate::exec::checkpoint_io::CheckpointStore;
use crate::location::Location;
use crate::plan::shape::{OperatorKind, OperatorShape, QueryShape};

/// The side of a stream-stream join whose state to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinSide {
    /// The left input's rows.
    Left,
    /// The right input's rows.
    Right,
}

impl std::str::FromStr for JoinSide {
    type Err = TributaryError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "left" => Ok(JoinSide::Left),
            "right" => Ok(JoinSide::Right),
            other => Err(TributaryError::option(
                "join_side",
                format!("'{other}' is not a side of a join: give left or right"),
            )),
        }
    }
}

/// One operator's state, summed over its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSummary {
    /// The operator's number.
    pub id: usize,
    /// Its kind.
    pub kind: String,
    /// State partitions.
    pub partitions: usize,
    /// Rows at the epoch described (every side of a join).
    pub rows: u64,
    /// Bytes of its files in the checkpoint.
    pub bytes: u64,
    /// Files in the checkpoint.
    pub files: usize,
    /// The epochs its state can be read at (oldest, newest), if any.
    pub epochs: Option<(u64, u64)>,
}

/// The state of a checkpoint, for reading.
#[derive(Debug, Clone)]
pub struct StateReader {
    root: Location,
    shape: QueryShape,
    committed: Option<Epoch>,
}

/// One store folder of an operator: its index under `state/<op>/` and its files.
pub(super) struct StoreDir {
    pub index: usize,
    pub files: Vec<(u64, &'static str, u64)>,
}

impl StateReader {
    /// Open the checkpoint at `root`.
    pub async fn open(root: Location) -> Result<Self> {
        let store = CheckpointStore { root: root.clone() };
        let listing = store.listing().await?;
        if listing.metadata.is_none() {
            return Err(TributaryError::State {
                location: root.display.clone(),
                message: "no query checkpoint here (no metadata file): give the folder a \
                          query's checkpoint_location points at"
                    .into(),
            });
        }
        let committed = listing.commits.iter().max().copied();
        let shape = store
            .read_shape(committed.map_or(Epoch(0), |c| c.next()))
            .await?
            .ok_or_else(|| TributaryError::State {
                location: root.display.clone(),
                message: "the checkpoint has no recorded shape (it was written before \
                          Tributary recorded one): run the query once with this version, then \
                          read its state"
                    .into(),
            })?;
        Ok(StateReader {
            root,
            shape,
            committed,
        })
    }

    /// The query's shape as the checkpoint recorded it.
    pub fn shape(&self) -> &QueryShape {
        &self.shape
    }

    /// The last committed epoch.
    pub fn committed(&self) -> Option<u64> {
        self.committed.map(|e| e.0)
    }

    fn operator(&self, id: usize) -> Result<&OperatorShape> {
        self.shape
            .operators
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(|| {
                TributaryError::option(
                    "operator_id",
                    format!(
                        "the query has no stateful operator {id}; it has {}",
                        self.shape
                            .operators
                            .iter()
                            .map(|o| format!("{} ({})", o.id, o.kind))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    pub(super) async fn dirs(&self, id: usize) -> Result<Vec<StoreDir>> {
        let base = format!("state/{id}");
        let mut dirs: BTreeMap<usize, Vec<(u64, &'static str, u64)>> = BTreeMap::new();
        for e in self.root.list(&base).await? {
            let Some(rest) = e.name.strip_prefix(&format!("{base}/")) else {
                continue;
            };
            let Some((dir, file)) = rest.split_once('/') else {
                continue;
            };
            let (Ok(index), Some((epoch, kind))) = (dir.parse::<usize>(), parse_name(file)) else {
                continue;
            };
            dirs.entry(index).or_default().push((epoch, kind, e.size));
        }
        Ok(dirs
            .into_iter()
            .map(|(index, files)| StoreDir { index, files })
            .collect())
    }

    /// The epochs a store can be restored to: from its oldest snapshot (or its first
    /// changelog, at epoch 0) to the last committed epoch.
    fn readable(&self, dir: &StoreDir) -> Option<(u64, u64)> {
        let last = self.committed?.0;
        let oldest = dir
            .files
            .iter()
            .filter(|(_, k, _)| *k == "snapshot")
            .map(|(e, _, _)| *e)
            .min()
            .or_else(|| dir.files.iter().any(|(e, _, _)| *e == 0).then_some(0))?;
        (oldest <= last).then_some((oldest, last))
    }

    /// Every operator with its partitions, rows (at the last committed epoch), files and
    /// readable epochs.
    pub async fn describe(&self) -> Result<Vec<OperatorSummary>> {
        let mut out = Vec::new();
        for op in &self.shape.operators {
            let dirs = self.dirs(op.id).await?;
            let sides = op.state.len().max(1);
            let mut rows = 0u64;
            let mut epochs: Option<(u64, u64)> = None;
            for d in &dirs {
                if let Some((lo, hi)) = self.readable(d) {
                    epochs = Some(match epochs {
                        Some((a, b)) => (a.max(lo), b.min(hi)),
                        None => (lo, hi),
                    });
                    rows += self.restore(op, d, Epoch(hi)).await?.num_rows() as u64;
                }
            }
            out.push(OperatorSummary {
                id: op.id,
                kind: op.kind.to_string(),
                partitions: dirs.len().div_ceil(sides),
                rows,
                bytes: dirs.iter().flat_map(|d| &d.files).map(|f| f.2).sum(),
                files: dirs.iter().map(|d| d.files.len()).sum(),
                epochs,
            });
        }
        Ok(out)
    }

    pub(super) async fn restore(
        &self,
        op: &OperatorShape,
        dir: &StoreDir,
        epoch: Epoch,
    ) -> Result<RecordBatch> {
        let loc = self.root.child(&CheckpointPaths::state(op.id, dir.index));
        let sides = op.state.len().max(1);
        let key_len = op
            .state
            .get(dir.index % sides)
            .map(|s| s.key_len)
            .ok_or_else(|| TributaryError::State {
                location: loc.display.clone(),
                message: "the recorded shape lacks the operator's state columns: run the \
                          query once with this version, then read its state"
                    .into(),
            })?;
        let schema = schema_of(&loc, &dir.files).await?;
        let mut store = KeyedStore::new(loc, schema, key_len, None, None)?;
        store.restore(Some(epoch)).await?;
        store.all_except(&KeySet::default())
    }

    /// The rows of operator `id`'s state at `epoch` (default: the last committed one), as
    /// Spark's state data source gives them: `key` and `value` structs and `partition_id`.
    /// A stream-stream join's state is read one side at a time.
    pub async fn read(
        &self,
        id: usize,
        epoch: Option<u64>,
        side: Option<JoinSide>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let op = self.operator(id)?;
        let sides = op.state.len().max(1);
        let side = match (op.kind, side) {
            (OperatorKind::StreamStreamJoin, Some(s)) => s as usize,
            (OperatorKind::StreamStreamJoin, None) => {
                return Err(TributaryError::option(
                    "join_side",
                    format!(
                        "operator {id} is a stream-stream join: say which side's state to read, \
                         left or right (`--side` of `tributary state show`; the option \
                         `join_side` when reading format 'statestore')"
                    ),
                ))
            }
            (_, Some(_)) => {
                return Err(TributaryError::option(
                    "join_side",
                    format!(
                        "operator {id} is a {}, not a join: leave join_side out",
                        op.kind
                    ),
                ))
            }
            (_, None) => 0,
        };
        let epoch = match (epoch, self.committed) {
            (Some(e), _) => e,
            (None, Some(c)) => c.0,
            (None, None) => {
                return Err(TributaryError::State {
                    location: self.root.display.clone(),
                    message: "the query has committed no epoch yet: there is no state to read"
                        .into(),
                })
            }
        };
        let key_len = op.state.get(side).map_or(0, |s| s.key_len);
        let mut out = Vec::new();
        let mut schema = None;
        for d in self
            .dirs(id)
            .await?
            .iter()
            .filter(|d| d.index % sides == side)
        {
            let Some((lo, hi)) = self.readable(d) else {
                continue;
            };
            if epoch < lo || epoch > hi {
                return Err(TributaryError::option(
                    "batch_id",
                    format!("the state of operator {id} can be read at epochs {lo} to {hi}; epoch {epoch} is not retained"),
                ));
            }
            let rows = self.restore(op, d, Epoch(epoch)).await?;
            let b = spark_layout(&rows, key_len, (d.index / sides) as i32)?;
            schema.get_or_insert_with(|| b.schema());
            out.push(b);
        }
        let schema = match schema {
            Some(s) => s,
            None => Arc::new(Schema::new(vec![
                Field::new("key", DataType::Struct(Fields::empty()), true),
                Field::new("value", DataType::Struct(Fields::empty()), true),
                Field::new("partition_id", DataType::Int32, false),
            ])),
        };
        Ok((schema, out))
    }
}

/// The schema of a store's state, from one of its files (a changelog's without `__removed`).
async fn schema_of(loc: &Location, files: &[(u64, &'static str, u64)]) -> Result<SchemaRef> {
    let (epoch, kind, _) = files
        .iter()
        .max_by_key(|(e, k, _)| (*e, *k == "snapshot"))
        .ok_or_else(|| TributaryError::State {
            location: loc.display.clone(),
            message: "no state files".into(),
        })?;
    let name = super::files::file_name(Epoch(*epoch), kind);
    let bytes = loc
        .read(&name)
        .await?
        .ok_or_else(|| TributaryError::State {
            location: loc.display.clone(),
            message: format!("'{name}' disappeared while it was read"),
        })?;
    let r = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None).map_err(
        |e| TributaryError::State {
            location: loc.display.clone(),
            message: format!("'{name}' is damaged: {e}"),
        },
    )?;
    let schema = r.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .skip(usize::from(*kind == "delta"))
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// Rows of a store as `key` (the first `key_len` columns), `value` (the rest) and
/// `partition_id`.
fn spark_layout(rows: &RecordBatch, key_len: usize, partition: i32) -> Result<RecordBatch> {
    let n = rows.num_rows();
    let strukt = |range: std::ops::Range<usize>| -> ArrayRef {
        let fields: Vec<Field> = range
            .clone()
            .map(|i| rows.schema().field(i).clone())
            .collect();
        let cols: Vec<ArrayRef> = range.map(|i| rows.column(i).clone()).collect();
        if fields.is_empty() {
            Arc::new(StructArray::new_empty_fields(n, None))
        } else {
            Arc::new(StructArray::new(Fields::from(fields), cols, None))
        }
    };
    let key = strukt(0..key_len);
    let value = strukt(key_len..rows.num_columns());
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", key.data_type().clone(), false),
        Field::new("value", value.data_type().clone(), false),
        Field::new("partition_id", DataType::Int32, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![key, value, Arc::new(Int32Array::from(vec![partition; n]))],
    )
    .map_err(TributaryError::arrow("laying out state rows"))
}
