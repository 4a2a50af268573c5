//! Keyed state: a partition's rows in a hash index by key, so that an epoch reads and writes
//! only the keys it touches, with the rows beyond its memory budget on local disk.
//!
//! ```text
//!  key columns ──row format──► key bytes ─┐
//!                                         ├─► index: key bytes → (close time, value bytes)
//!  other columns ─row format─► value bytes┘     by_time: (close time, key) ordered, for eviction
//!                                               groups:  part of the key → keys (session windows)
//!                     over the memory budget ─► ColdTier (fjall, same three indexes on disk)
//!
//!  epoch:   lookup(keys of the epoch) ─► operator ─► StateChange { upserts, removed }
//!           persist: changelog file (+ a snapshot when SnapshotPolicy says so, streamed)
//!           commit:  removed keys out, upserts in        — O(rows changed), not O(state)
//! ```
//!
//! A row's close time is when the watermark closes it (a window's end, a key's expiry): rows
//! whose close time is at or before the watermark are found through `by_time` without a scan.
//! The files are the same as [`super::MemoryStateStore`]'s, so checkpoints move between them.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow::array::{ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Int64Type, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};
use async_trait::async_trait;
use tributary_checkpoint::Epoch;

use super::files::{rewrap, SinceSnapshot, SnapshotPolicy, StateFiles};
use super::key::Key;
use super::keys::{KeyRows, KeySet};
use super::spill::{ColdRow, ColdTier, StoredRow, TIER_BUFFERS};
use super::store::{KnownKeys, StateChange, StateSize, StateStore};
use crate::error::{Result, TributaryError};
use crate::location::Location;
use crate::plan::EventTimeKind;

type Hasher = ahash::RandomState;
/// Value bytes (keys are [`Key`]s).
type Bytes = Box<[u8]>;
/// The keys of each group.
type Members = HashMap<Key, HashSet<Key, Hasher>, Hasher>;
/// Computes the group of each row.
type GroupFn = dyn Fn(&RecordBatch) -> Result<KeyRows> + Send + Sync;

/// Bytes a stored row costs beyond its key and value (the index slot, two allocations).
const ENTRY_OVERHEAD: usize = 64;
/// Bytes an entry of the time index costs beyond its key.
const TIME_OVERHEAD: usize = 40;
/// Rows per batch of a snapshot.
const SNAPSHOT_BATCH: usize = 64 * 1024;

/// Which column closes a row, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseTime {
    /// An Int64 column of milliseconds (a deduplicated key's expiry).
    Millis(usize),
    /// An event-time group key: a timestamp, or a window closed by its end.
    Key(usize, EventTimeKind),
    /// A timestamp column plus milliseconds (a join side's row, closed once no row of the
    /// other side within the join's time bound can come).
    Shifted(usize, i64),
    /// A sliding window's pane (a window key of start and end), closed once the last window
    /// that holds it has ended.
    Pane(usize, crate::exec::panes::Panes),
}

impl CloseTime {
    /// The close time of each row, in milliseconds: the row is closed once the watermark is at
    /// or after it (`i64::MAX`: never). Agrees with [`crate::exec::late`]'s `behind_watermark`.
    pub(crate) fn of(&self, batch: &RecordBatch) -> Result<Vec<i64>> {
        match *self {
            CloseTime::Millis(c) => {
                let col = arrow::compute::cast(batch.column(c), &arrow::datatypes::DataType::Int64)
                    .map_err(TributaryError::arrow("reading a row's close time"))?;
                Ok(col
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(i64::MAX))
                    .collect())
            }
            CloseTime::Shifted(c, shift) => Ok(crate::exec::late::event_ms(batch.column(c))?
                .iter()
                .map(|v| v.map_or(i64::MAX, |v| v.saturating_add(shift)))
                .collect()),
            CloseTime::Pane(c, panes) => panes.close_ms(batch.column(c)),
            CloseTime::Key(c, kind) => {
                let (ticks, k) = crate::exec::late::key_ticks(batch.column(c), kind)
                    .map_err(|e| crate::error::from_df_error("reading a row's close time", e))?;
                Ok(ticks
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|t| match t {
                        None => i64::MAX,
                        // Seconds: t <= floor(wm / 1000) exactly when t * 1000 <= wm.
                        Some(t) if k == 0 => t.saturating_mul(1000),
                        // Finer ticks: t <= wm * k exactly when ceil(t / k) <= wm.
                        Some(t) => t.div_euclid(k) + i64::from(t.rem_euclid(k) != 0),
                    })
                    .collect())
            }
        }
    }
}

/// How a row's group is found: the keys of one group are looked up together.
#[derive(Clone)]
pub(crate) enum GroupBy {
    /// Some of the key columns (the keys of a session window without the session).
    Columns(Vec<usize>),
    /// Computed from the whole row (a join side's join key, from its ON expressions).
    Computed(std::sync::Arc<GroupFn>),
}

impl GroupBy {
    fn of(&self, batch: &RecordBatch) -> Result<KeyRows> {
        match self {
            GroupBy::Columns(cols) => KeyRows::of(batch, cols),
            GroupBy::Computed(f) => f(batch),
        }
    }
}

struct Entry {
    close: i64,
    value: Bytes,
    group: Option<Key>,
}

impl Entry {
    fn bytes(&self, key: &Key) -> usize {
        let key = std::mem::size_of::<Key>() + key.heap_bytes();
        let mut n = key + self.value.len() + ENTRY_OVERHEAD;
        if self.close != i64::MAX {
            n += key + TIME_OVERHEAD;
        }
        if let Some(g) = &self.group {
            n += g.heap_bytes() + key + ENTRY_OVERHEAD;
        }
        n
    }
}

/// How many of `len` rows holding `bytes` to move to disk so that memory falls to half of
/// `limit` (a margin, so that the next epochs do not spill again at once); 0 within the limit.
pub(crate) fn rows_to_spill(bytes: usize, len: usize, limit: usize) -> usize {
    if bytes <= limit || len == 0 {
        return 0;
    }
    let per_row = (bytes / len).max(1);
    (bytes - limit / 2).div_ceil(per_row).min(len)
}

/// The memory for rows out of a store's budget: what the disk tier's write buffers may hold is
/// set aside, or a quarter of a budget too small for that.
pub(crate) fn rows_budget(limit: usize) -> usize {
    if limit >= 4 * TIER_BUFFERS {
        limit - TIER_BUFFERS
    } else {
        limit - limit / 4
    }
}

/// A partition's state, indexed by key.
pub(crate) struct KeyedStore {
    files: StateFiles,
    keys: Option<RowConverter>,
    values: Option<RowConverter>,
    value_cols: Vec<usize>,
    index: HashMap<Key, Entry, Hasher>,
    close: Option<CloseTime>,
    by_time: BTreeSet<(i64, Key)>,
    /// How rows are grouped, and the keys of each group.
    groups: Option<(GroupBy, Members)>,
    /// Memory the rows in `index` and its indexes hold (an estimate).
    bytes: usize,
    /// Memory allowed for rows before they move to `cold`.
    limit: Option<usize>,
    cold: Option<ColdTier>,
    since: SinceSnapshot,
    policy: SnapshotPolicy,
}

/// The columns `conv` encoded in `rows` (none without a converter).
fn decode_part<'a>(
    conv: Option<&RowConverter>,
    rows: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<ArrayRef>> {
    let Some(conv) = conv else {
        return Ok(Vec::new());
    };
    let parser = conv.parser();
    conv.convert_rows(rows.map(|r| parser.parse(r)))
        .map_err(TributaryError::arrow("decoding state rows"))
}

fn converter(schema: &SchemaRef, cols: &[usize], dir: &Location) -> Result<Option<RowConverter>> {
    if cols.is_empty() {
        return Ok(None);
    }
    let fields: Vec<SortField> = cols
        .iter()
        .map(|c| SortField::new(schema.field(*c).data_type().clone()))
        .collect();
    RowConverter::new(fields)
        .map(Some)
        .map_err(|e| TributaryError::State {
            location: dir.display.clone(),
            message: format!("a column of this state cannot be kept by key: {e}"),
        })
}

impl KeyedStore {
    /// An empty store writing under `dir`: rows of `schema` keyed by the first `key_len`
    /// columns, closed by `close`, grouped by `groups` when given.
    pub(crate) fn new(
        dir: Location,
        schema: SchemaRef,
        key_len: usize,
        close: Option<CloseTime>,
        groups: Option<GroupBy>,
    ) -> Result<Self> {
        let key_cols: Vec<usize> = (0..key_len).collect();
        let value_cols: Vec<usize> = (key_len..schema.fields().len()).collect();
        Ok(KeyedStore {
            keys: converter(&schema, &key_cols, &dir)?,
            values: converter(&schema, &value_cols, &dir)?,
            value_cols,
            index: HashMap::default(),
            close,
            by_time: BTreeSet::new(),
            groups: groups.map(|g| (g, HashMap::default())),
            bytes: 0,
            limit: None,
            cold: None,
            since: SinceSnapshot::default(),
            policy: SnapshotPolicy::DEFAULT,
            files: StateFiles {
                dir,
                schema,
                key_len,
            },
        })
    }

    /// Hold at most about `limit` bytes of memory; the rows beyond go to local disk.
    pub(crate) fn with_memory_limit(mut self, limit: Option<usize>) -> Self {
        self.limit = limit.map(rows_budget);
        self
    }

    #[cfg(test)]
    pub(crate) fn with_policy(mut self, policy: SnapshotPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The schema of the rows.
    pub(crate) fn schema(&self) -> SchemaRef {
        self.files.schema.clone()
    }

    /// How the store's rows close, if they do.
    pub(crate) fn close_time(&self) -> Option<CloseTime> {
        self.close
    }

    /// Rows stored, in memory and on disk.
    pub(crate) fn len(&self) -> usize {
        self.index.len() + self.cold.as_ref().map_or(0, |c| c.len())
    }

    /// Rows, memory held (an estimate), and rows on disk.
    pub(crate) fn size(&self) -> StateSize {
        StateSize {
            rows: self.len(),
            bytes: self.bytes + self.cold.as_ref().map_or(0, |c| c.pinned_bytes()),
            on_disk: self.cold.as_ref().map_or(0, |c| c.len()),
        }
    }

    /// The key bytes of the rows of `batch` (its first `key_len` columns).
    pub(crate) fn keys_of(&self, batch: &RecordBatch) -> Result<KeyRows> {
        KeyRows::new(batch, self.files.key_len)
    }

    /// Whether a key is stored.
    pub(crate) fn contains(&self, key: &[u8]) -> Result<bool> {
        if self.index.contains_key(key) {
            return Ok(true);
        }
        match &self.cold {
            Some(c) => c.contains(key),
            None => Ok(false),
        }
    }

    /// The stored rows of `keys` (missing keys are skipped; each key once).
    pub(crate) fn lookup<'a>(&self, keys: impl Iterator<Item = &'a [u8]>) -> Result<RecordBatch> {
        let mut hot: Vec<(&[u8], &[u8])> = Vec::new();
        let mut cold: Vec<(Bytes, Bytes)> = Vec::new();
        for k in keys {
            if let Some((k, e)) = self.index.get_key_value(k) {
                hot.push((k.as_ref(), e.value.as_ref()));
            } else if let Some(c) = &self.cold {
                if let Some(row) = c.get(k)? {
                    cold.push((k.into(), row.value));
                }
            }
        }
        hot.extend(cold.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
        self.decode(&hot)
    }

    /// The stored rows of every key in the groups `groups` (their bytes as the group columns
    /// encode them; each group once).
    pub(crate) fn lookup_groups<'a>(
        &self,
        groups: impl Iterator<Item = &'a [u8]>,
    ) -> Result<RecordBatch> {
        let Some((_, members)) = &self.groups else {
            return Err(TributaryError::Internal(
                "a group lookup in a store without groups".into(),
            ));
        };
        let mut keys: Vec<Key> = Vec::new();
        for g in groups {
            keys.extend(members.get(g).into_iter().flatten().cloned());
            if let Some(c) = &self.cold {
                keys.extend(c.group_keys(g)?.iter().map(|k| Key::from(k.as_ref())));
            }
        }
        self.lookup(keys.iter().map(|k| k.as_ref()))
    }

    /// The stored rows closed at watermark `wm` (close time at or before it), except `skip`.
    pub(crate) fn closed(&self, wm: i64, skip: &KeySet) -> Result<RecordBatch> {
        let keys = self.closed_key_bytes(wm, skip)?;
        self.lookup(keys.iter().map(|k| k.as_ref()))
    }

    /// The keys of [`Self::closed`]'s rows, as rows of the state's schema whose other columns
    /// are empty (NULL, or zero where the column takes no NULL): what a removal needs, without
    /// reading or decoding the rows' values.
    pub(crate) fn closed_keys(&self, wm: i64, skip: &KeySet) -> Result<RecordBatch> {
        let keys = self.closed_key_bytes(wm, skip)?;
        match self.placeholders(keys.len())? {
            Some(values) => {
                let mut cols = decode_part(self.keys.as_ref(), keys.iter().map(|k| k.as_slice()))?;
                cols.extend(values);
                self.conform(cols, keys.len())
            }
            // A value column without a placeholder: read the rows whole.
            None => self.lookup(keys.iter().map(|k| k.as_slice())),
        }
    }

    /// Whether some row is closed at watermark `wm`, without reading the closed rows.
    pub(crate) fn any_closed(&self, wm: i64) -> Result<bool> {
        if self
            .by_time
            .range(..(wm.saturating_add(1), Key::default()))
            .next()
            .is_some()
        {
            return Ok(true);
        }
        match &self.cold {
            Some(c) => c.any_closed(wm),
            None => Ok(false),
        }
    }

    fn closed_key_bytes(&self, wm: i64, skip: &KeySet) -> Result<Vec<Key>> {
        // Rows that never close are not in `by_time`, so `wm + 1` saturating at i64::MAX
        // still bounds every closed one.
        let mut keys: Vec<Key> = self
            .by_time
            .range(..(wm.saturating_add(1), Key::default()))
            .map(|(_, k)| k)
            .filter(|k| !skip.contains(k.as_slice()))
            .cloned()
            .collect();
        if let Some(c) = &self.cold {
            keys.extend(
                c.closed_keys(wm)?
                    .iter()
                    .filter(|k| !skip.contains(k.as_ref()))
                    .map(|k| Key::from(k.as_ref())),
            );
        }
        Ok(keys)
    }

    /// Empty value columns for `n` rows: NULL, or zeros (false, 0, "") in a column that takes
    /// no NULL; `None` when a column's type has no such value.
    fn placeholders(&self, n: usize) -> Result<Option<Vec<ArrayRef>>> {
        let mut cols = Vec::with_capacity(self.value_cols.len());
        for c in &self.value_cols {
            let f = self.files.schema.field(*c);
            let null = arrow::array::new_null_array(f.data_type(), n);
            if f.is_nullable() {
                cols.push(null);
                continue;
            }
            // The buffers of a NULL array of a flat type are zeros: without the validity
            // they are a valid array of zeros.
            match null.to_data().into_builder().nulls(None).build() {
                Ok(data) if !f.data_type().is_nested() => cols.push(arrow::array::make_array(data)),
                _ => return Ok(None),
            }
        }
        Ok(Some(cols))
    }

    /// Every stored row except `skip`.
    pub(crate) fn all_except(&self, skip: &KeySet) -> Result<RecordBatch> {
        let mut parts = vec![self.decode(&self.hot_rows(skip).collect::<Vec<_>>())?];
        let mut after: Option<Box<[u8]>> = None;
        while let Some((batch, last)) = self.cold_chunk(after.as_deref(), skip)? {
            parts.push(batch);
            after = Some(last);
        }
        arrow::compute::concat_batches(&self.files.schema, &parts)
            .map_err(TributaryError::arrow("reading state rows"))
    }

    fn hot_rows<'a>(
        &'a self,
        skip: &'a KeySet<'a>,
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Send + 'a {
        self.index
            .iter()
            .filter(move |(k, _)| !skip.contains(k.as_ref()))
            .map(|(k, e)| (k.as_ref(), e.value.as_ref()))
    }

    /// The next chunk of rows on disk after the key `after`, except `skip`, and its last key;
    /// `None` at the end.
    fn cold_chunk(
        &self,
        after: Option<&[u8]>,
        skip: &KeySet,
    ) -> Result<Option<(RecordBatch, Box<[u8]>)>> {
        let Some(c) = &self.cold else {
            return Ok(None);
        };
        let chunk = c.chunk_after(after, SNAPSHOT_BATCH)?;
        let Some((last, _)) = chunk.last() else {
            return Ok(None);
        };
        let last: Box<[u8]> = last.as_ref().into();
        let rows: Vec<(&[u8], &[u8])> = chunk
            .iter()
            .filter(|(k, _)| !skip.contains(k.as_ref()))
            .map(|(k, v)| (k.as_ref(), StoredRow::value_of(v)))
            .collect();
        Ok(Some((self.decode(&rows)?, last)))
    }

    /// The row with the greatest key (in the row format's order, which is the key's order for
    /// a single non-null column), if any.
    pub(crate) fn max_row(&self) -> Result<RecordBatch> {
        let hot = self.index.keys().max().map(|k| k.to_vec());
        let cold = match &self.cold {
            Some(c) => c.last_key()?,
            None => None,
        };
        let key = hot.into_iter().chain(cold).max();
        self.lookup(key.as_deref().into_iter())
    }

    /// Rows, memory and rows on disk once `change` is applied (memory and disk as they are now:
    /// the change moves rows between them only when it is committed).
    pub(crate) fn size_after(&self, change: &StateChange) -> Result<StateSize> {
        Ok(StateSize {
            rows: self.len_after(change)?,
            ..self.size()
        })
    }

    /// The number of rows after `change` is applied: counted from what the operator knows of
    /// its keys, or looked up.
    pub(crate) fn len_after(&self, change: &StateChange) -> Result<usize> {
        let Some(known) = &change.known else {
            return self.len_after_looked_up(change);
        };
        #[cfg(debug_assertions)]
        self.check_known(change, known)?;
        self.len()
            .checked_sub(known.stored.true_count())
            .map(|n| n + known.new.true_count())
            .ok_or_else(|| {
                TributaryError::Internal(format!(
                    "a state change removes {} stored rows from a store of {}",
                    known.stored.true_count(),
                    self.len()
                ))
            })
    }

    fn len_after_looked_up(&self, change: &StateChange) -> Result<usize> {
        let rm = self.keys_of(&change.removed)?;
        let up = self.keys_of(&change.upserts)?;
        let mut removed = KeySet::default();
        for i in 0..rm.len() {
            let k = rm.key(i);
            if !removed.contains(k) && self.contains(k)? {
                removed.insert(k);
            }
        }
        let mut upserted = KeySet::with_capacity_and_hasher(up.len(), Hasher::default());
        let mut added = 0;
        for i in 0..up.len() {
            let k = up.key(i);
            if upserted.insert(k) && (removed.contains(k) || !self.contains(k)?) {
                added += 1;
            }
        }
        Ok(self.len() - removed.len() + added)
    }

    /// Debug builds: an operator's [`KnownKeys`] agree with the store.
    #[cfg(debug_assertions)]
    fn check_known(&self, change: &StateChange, known: &KnownKeys) -> Result<()> {
        let rm = self.keys_of(&change.removed)?;
        let up = self.keys_of(&change.upserts)?;
        let mut seen = KeySet::default();
        for i in 0..up.len() {
            let k = up.key(i);
            assert!(seen.insert(k), "upserted key {i} appears twice in a change");
            assert_eq!(
                known.new.value(i),
                !self.contains(k)?,
                "upserted key {i}: the operator's KnownKeys are wrong"
            );
        }
        let mut gone = KeySet::default();
        for i in 0..rm.len() {
            let k = rm.key(i);
            assert!(!seen.contains(k), "removed key {i} is also upserted");
            assert!(gone.insert(k), "removed key {i} appears twice in a change");
            assert_eq!(
                known.stored.value(i),
                self.contains(k)?,
                "removed key {i}: the operator's KnownKeys are wrong"
            );
        }
        Ok(())
    }

    fn decode(&self, rows: &[(&[u8], &[u8])]) -> Result<RecordBatch> {
        let mut cols = decode_part(self.keys.as_ref(), rows.iter().map(|(k, _)| *k))?;
        cols.extend(decode_part(
            self.values.as_ref(),
            rows.iter().map(|(_, v)| *v),
        )?);
        self.conform(cols, rows.len())
    }

    /// Decoded columns as a batch of the state's schema.
    fn conform(&self, cols: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
        let err = || TributaryError::arrow("decoding state rows");
        // The row format gives dictionaries back as plain values: cast back to the schema.
        let cols = cols
            .into_iter()
            .zip(self.files.schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c)
                } else {
                    arrow::compute::cast(&c, f.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err())?;
        RecordBatch::try_new_with_options(
            self.files.schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(err())
    }

    fn encode_values(&self, batch: &RecordBatch) -> Result<Option<Rows>> {
        let Some(conv) = &self.values else {
            return Ok(None);
        };
        let cols: Vec<ArrayRef> = self
            .value_cols
            .iter()
            .map(|c| batch.column(*c).clone())
            .collect();
        conv.convert_columns(&cols)
            .map(Some)
            .map_err(TributaryError::arrow("encoding state rows"))
    }

    /// The group of each row of `batch`, when the store groups rows.
    pub(crate) fn group_keys(&self, batch: &RecordBatch) -> Result<Option<KeyRows>> {
        match &self.groups {
            Some((by, _)) => Ok(Some(by.of(batch)?)),
            None => Ok(None),
        }
    }

    /// Take a row out of memory with its index entries.
    fn take_hot(&mut self, key: &[u8]) -> Option<(Key, Entry)> {
        self.take_hot_before(key, None)
    }

    /// [`Self::take_hot`], leaving the time index's entry in place when the row closes at or
    /// before `cut` (the caller drops those entries together).
    fn take_hot_before(&mut self, key: &[u8], cut: Option<i64>) -> Option<(Key, Entry)> {
        let (k, e) = self.index.remove_entry(key)?;
        self.bytes -= e.bytes(&k);
        if e.close != i64::MAX && cut.is_none_or(|c| e.close > c) {
            self.by_time.remove(&(e.close, k.clone()));
        }
        if let (Some(g), Some((_, members))) = (&e.group, &mut self.groups) {
            if let Some(m) = members.get_mut(g) {
                m.remove(&k);
                if m.is_empty() {
                    members.remove(g);
                }
            }
        }
        Some((k, e))
    }

    fn remove_key(&mut self, key: &[u8], cut: Option<i64>) -> Result<()> {
        if self.take_hot_before(key, cut).is_none() {
            if let Some(c) = &mut self.cold {
                c.remove(key)?;
            }
        }
        Ok(())
    }

    /// Apply a change: removed keys out, then upserted rows in; then rows over the memory
    /// budget go to disk. Keys `known` to be absent are not looked up.
    fn apply(
        &mut self,
        upserts: &RecordBatch,
        removed: &RecordBatch,
        known: Option<&KnownKeys>,
        evicted_through: Option<i64>,
    ) -> Result<()> {
        // Removed rows carry only their keys: their groups are the stored ones. Rows the
        // watermark closed leave the time index in one cut afterwards.
        let rm = self.keys_of(removed)?;
        for i in 0..rm.len() {
            if known.is_none_or(|k| k.stored.value(i)) {
                self.remove_key(rm.key(i), evicted_through)?;
            }
        }
        if let Some(wm) = evicted_through {
            let kept = self
                .by_time
                .split_off(&(wm.saturating_add(1), Key::default()));
            let cut = std::mem::replace(&mut self.by_time, kept);
            if cfg!(debug_assertions) {
                if let Some((_, k)) = cut.iter().find(|(_, k)| self.index.contains_key(k)) {
                    return Err(TributaryError::Internal(format!(
                        "a state change said it evicted every closed row, but {} closed rows \
                         were not removed (the first: {:?})",
                        cut.iter()
                            .filter(|(_, k)| self.index.contains_key(k))
                            .count(),
                        k.as_slice()
                    )));
                }
            }
        }
        let up = self.keys_of(upserts)?;
        let up_groups = self.group_keys(upserts)?;
        let values = self.encode_values(upserts)?;
        let close = match self.close {
            Some(c) => Some(c.of(upserts)?),
            None => None,
        };
        for i in 0..up.len() {
            let key = up.key(i);
            let group = up_groups.as_ref().map(|g| g.key(i));
            let looked_up = known.is_none_or(|k| !k.new.value(i));
            if looked_up {
                self.remove_key(key, None)?;
            }
            let key = Key::from(key);
            let entry = Entry {
                close: close.as_ref().map_or(i64::MAX, |c| c[i]),
                value: values
                    .as_ref()
                    .map_or_else(|| Box::from(&[][..]), |v| v.row(i).data().into()),
                group: group.map(Key::from),
            };
            self.bytes += entry.bytes(&key);
            if entry.close != i64::MAX {
                self.by_time.insert((entry.close, key.clone()));
            }
            if let (Some(g), Some((_, members))) = (&entry.group, &mut self.groups) {
                members.entry(g.clone()).or_default().insert(key.clone());
            }
            if self.index.insert(key, entry).is_some() && !looked_up {
                // Release builds check what they can for free: a key said to be new was in
                // memory (its old entry's indexes would be left behind).
                return Err(TributaryError::Internal(
                    "a state change said a stored key was new".into(),
                ));
            }
        }
        self.spill()
    }

    /// Move rows to disk while memory is over the rows' budget.
    fn spill(&mut self) -> Result<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        // The disk tier's own memory grows with its rows: what is left is the rows' budget.
        let pinned = self.cold.as_ref().map_or(0, |c| c.pinned_bytes());
        let n = rows_to_spill(self.bytes, self.index.len(), limit.saturating_sub(pinned));
        if n == 0 {
            return Ok(());
        }
        if self.cold.is_none() {
            self.cold = Some(ColdTier::open(self.groups.is_some())?);
        }
        // The empty key (an aggregation without GROUP BY: one row) stays in memory; the disk
        // tier's store takes no empty keys.
        let keys: Vec<Key> = self
            .index
            .keys()
            .filter(|k| !k.is_empty())
            .take(n)
            .cloned()
            .collect();
        let taken: Vec<(Key, Entry)> = keys.iter().filter_map(|k| self.take_hot(k)).collect();
        let rows: Vec<ColdRow<'_>> = taken
            .iter()
            .map(|(k, e)| ColdRow {
                key: k,
                close: e.close,
                value: &e.value,
                group: e.group.as_deref(),
            })
            .collect();
        if let Some(c) = &mut self.cold {
            c.put(&rows)?;
        }
        if self.index.capacity() > 4 * self.index.len().max(1024) {
            self.index.shrink_to_fit();
        }
        Ok(())
    }

    fn since_after(&self, change: &StateChange) -> SinceSnapshot {
        self.since.plus(change.upserts.num_rows() as u64)
    }

    /// The state after `change` for a snapshot, batch by batch: stored rows whose key the
    /// change does not touch (in memory, then on disk, chunk by chunk), then the upserts.
    fn snapshot_batches<'a>(
        &'a self,
        change: &'a StateChange,
        touched: &'a KeySet<'a>,
    ) -> impl Iterator<Item = Result<RecordBatch>> + Send + 'a {
        let mut hot = self.hot_rows(touched);
        let hot = std::iter::from_fn(move || {
            let chunk: Vec<(&[u8], &[u8])> = hot.by_ref().take(SNAPSHOT_BATCH).collect();
            (!chunk.is_empty()).then(|| self.decode(&chunk))
        });
        let mut after: Option<Box<[u8]>> = None;
        let mut done = false;
        let cold = std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.cold_chunk(after.as_deref(), touched) {
                Ok(Some((batch, last))) => {
                    after = Some(last);
                    Some(Ok(batch))
                }
                Ok(None) => None,
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        });
        let schema = self.files.schema.clone();
        hot.chain(cold).chain(std::iter::once_with(move || {
            rewrap(&schema, &change.upserts)
        }))
    }
}

#[async_trait]
impl StateStore for KeyedStore {
    async fn restore(&mut self, epoch: Option<Epoch>) -> Result<()> {
        self.index.clear();
        self.by_time.clear();
        if let Some((_, m)) = &mut self.groups {
            m.clear();
        }
        self.cold = None;
        self.bytes = 0;
        self.since = SinceSnapshot::default();
        let Some(target) = epoch else {
            return Ok(());
        };
        let plan = self.files.plan(target).await?;
        if let Some(s) = plan.snapshot {
            let files = self.files.clone();
            let empty = RecordBatch::new_empty(self.schema());
            // A snapshot's rows are distinct keys, into an empty store.
            files
                .read_snapshot(s, |b| {
                    let known = KnownKeys::fresh(b.num_rows(), 0);
                    self.apply(&b, &empty, Some(&known), None)
                })
                .await?;
        }
        for e in plan.deltas {
            let (up, rm) = self.files.read_delta(e).await?;
            self.since = self.since.plus(up.num_rows() as u64);
            self.apply(&up, &rm, None, None)?;
        }
        Ok(())
    }

    async fn persist(&self, epoch: Epoch, change: &StateChange) -> Result<()> {
        self.files
            .write_delta(epoch, &change.upserts, &change.removed)
            .await?;
        let after = self.len_after(change)? as u64;
        if self.policy.due(self.since_after(change), after) {
            let up = self.keys_of(&change.upserts)?;
            let rm = self.keys_of(&change.removed)?;
            let mut touched = up.set();
            touched.extend(rm.set());
            self.files
                .write_snapshot(epoch, self.snapshot_batches(change, &touched))
                .await?;
        }
        Ok(())
    }

    fn rows(&self) -> Result<RecordBatch> {
        self.all_except(&KeySet::default())
    }

    fn files(&self) -> &StateFiles {
        &self.files
    }

    fn key_len(&self) -> usize {
        self.files.key_len
    }

    fn commit(&mut self, _epoch: Epoch, change: StateChange) -> Result<()> {
        let since = self.since_after(&change);
        self.apply(
            &change.upserts,
            &change.removed,
            change.known.as_ref(),
            change.evicted_through,
        )?;
        // The length `persist` computed with `len_after`, now counted.
        let after = self.len() as u64;
        self.since = if self.policy.due(since, after) {
            SinceSnapshot::default()
        } else {
            since
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray, TimestampNanosecondArray, TimestampSecondArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::state::MemoryStateStore;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("g", DataType::Int64, true),
            Field::new("expiry", DataType::Int64, true),
        ]))
    }

    fn batch(rows: &[(&str, i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    /// `b` with its expiry column replaced by `e`.
    fn batch_with_expiry(b: &RecordBatch, e: i64) -> RecordBatch {
        let mut cols = b.columns().to_vec();
        cols[2] = Arc::new(Int64Array::from(vec![e; b.num_rows()]));
        RecordBatch::try_new(schema(), cols).unwrap()
    }

    fn sorted(b: &RecordBatch) -> Vec<(String, i64, i64)> {
        let k = b.column(0).as_string::<i32>();
        let g = b.column(1).as_primitive::<Int64Type>();
        let e = b.column(2).as_primitive::<Int64Type>();
        let mut out: Vec<_> = (0..b.num_rows())
            .map(|i| (k.value(i).to_string(), g.value(i), e.value(i)))
            .collect();
        out.sort();
        out
    }

    fn keyed(dir: &Location, policy: SnapshotPolicy) -> KeyedStore {
        KeyedStore::new(
            dir.clone(),
            schema(),
            2,
            Some(CloseTime::Millis(2)),
            Some(GroupBy::Columns(vec![0])),
        )
        .unwrap()
        .with_policy(policy)
    }

    /// A store that keeps about three rows in memory and the rest on disk.
    fn spilling(dir: &Location, policy: SnapshotPolicy) -> KeyedStore {
        let mut store = keyed(dir, policy);
        store.limit = Some(3 * 300);
        store
    }

    #[test]
    fn budgets_set_the_disk_tiers_buffers_aside() {
        assert_eq!(rows_budget(1 << 30), (1 << 30) - TIER_BUFFERS);
        assert_eq!(rows_budget(4000), 3000);
        assert_eq!(rows_to_spill(900, 3, 1000), 0);
        // 10 rows of 100 bytes over a budget of 600: down to 300, 7 rows.
        assert_eq!(rows_to_spill(1000, 10, 600), 7);
        assert_eq!(rows_to_spill(1000, 10, 1), 10);
    }

    type Model = BTreeMap<(String, i64), i64>;

    fn model_rows(m: &Model) -> Vec<(String, i64, i64)> {
        m.iter().map(|((k, g), e)| (k.clone(), *g, *e)).collect()
    }

    /// Epoch `e` of a deterministic workload: upserts and removals over a few dozen keys.
    type Rows = Vec<(String, i64, i64)>;

    fn change_of(e: i64, m: &Model) -> (Rows, Rows) {
        let up = (0..5)
            .map(|i| {
                (
                    format!("k{}", (e * 7 + i * 3) % 13),
                    ((e + i) % 3, e * 10 + i),
                )
            })
            .collect::<BTreeMap<_, _>>();
        let up: Vec<_> = up.into_iter().map(|(k, (g, x))| (k, g, x)).collect();
        let rm: Vec<_> = m
            .keys()
            .filter(|(k, g)| (k.len() as i64 + g + e) % 4 == 0)
            .map(|(k, g)| (k.clone(), *g, 0))
            .collect();
        (up, rm)
    }

    fn as_batch(rows: &[(String, i64, i64)]) -> RecordBatch {
        batch(
            &rows
                .iter()
                .map(|(k, g, e)| (k.as_str(), *g, *e))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn restores_every_recent_epoch_and_reads_the_memory_stores_files() {
        restores_every_recent_epoch(keyed).await;
    }

    #[tokio::test]
    async fn rows_beyond_the_memory_budget_live_on_disk_with_the_same_answers() {
        let store = restores_every_recent_epoch(spilling).await;
        let size = store.size();
        assert!(size.on_disk > 0 && size.on_disk < size.rows, "{size:?}");
        assert!(size.bytes <= 3 * 300, "{size:?}");
    }

    async fn restores_every_recent_epoch(
        open: fn(&Location, SnapshotPolicy) -> KeyedStore,
    ) -> KeyedStore {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let policy = SnapshotPolicy {
            max_epochs: 4,
            min_rows: 1000,
        };
        let mut store = open(&loc, policy);
        let mut model = Model::new();
        let mut expected = Vec::new();
        for e in 0..15i64 {
            let (up, mut rm) = change_of(e, &model);
            // Odd epochs: the change says which keys are stored, as operators do (a key
            // then is not both removed and upserted).
            let known = (e % 2 == 1).then(|| {
                rm.retain(|(k, g, _)| !up.iter().any(|u| (&u.0, u.1) == (k, *g)));
                KnownKeys {
                    new: up
                        .iter()
                        .map(|(k, g, _)| Some(!model.contains_key(&(k.clone(), *g))))
                        .collect(),
                    stored: vec![true; rm.len()].into(),
                }
            });
            for (k, g, _) in &rm {
                model.remove(&(k.clone(), *g));
            }
            for (k, g, x) in &up {
                model.insert((k.clone(), *g), *x);
            }
            let change = match known {
                Some(known) => StateChange::known(as_batch(&up), as_batch(&rm), known),
                None => StateChange::new(as_batch(&up), as_batch(&rm)),
            };
            assert_eq!(store.len_after(&change).unwrap(), model.len(), "epoch {e}");
            store.persist(Epoch(e as u64), &change).await.unwrap();
            store.commit(Epoch(e as u64), change).unwrap();
            expected.push(model_rows(&model));
            let all = store.all_except(&KeySet::default()).unwrap();
            assert_eq!(sorted(&all), expected[e as usize], "epoch {e}");
            // Every key is found by key, by its group and by its close time, wherever it is.
            let probe = as_batch(&expected[e as usize]);
            let keys = store.keys_of(&probe).unwrap();
            let found = store.lookup((0..keys.len()).map(|i| keys.key(i))).unwrap();
            assert_eq!(sorted(&found), expected[e as usize], "lookup, epoch {e}");
            let groups = KeyRows::of(&probe, &[0]).unwrap();
            let set = groups.set();
            let found = store.lookup_groups(set.into_iter()).unwrap();
            assert_eq!(sorted(&found), expected[e as usize], "groups, epoch {e}");
            let wm = e * 10 - 15;
            let closed: Vec<_> = expected[e as usize]
                .iter()
                .filter(|r| r.2 <= wm)
                .cloned()
                .collect();
            let found = store.closed(wm, &KeySet::default()).unwrap();
            assert_eq!(sorted(&found), closed, "closed at {wm}, epoch {e}");
        }
        for e in 9..15u64 {
            let mut fresh = open(&loc, policy);
            fresh.restore(Some(Epoch(e))).await.unwrap();
            let all = fresh.all_except(&KeySet::default()).unwrap();
            assert_eq!(sorted(&all), expected[e as usize], "keyed, epoch {e}");
            // The same files restore into the store that keeps one batch.
            let mut whole = MemoryStateStore::new(loc.clone(), schema(), 2);
            whole.restore(Some(Epoch(e))).await.unwrap();
            assert_eq!(
                sorted(whole.rows()),
                expected[e as usize],
                "memory, epoch {e}"
            );
        }
        store
    }

    #[tokio::test]
    async fn finds_closed_rows_and_groups_through_its_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let mut store = keyed(&loc, SnapshotPolicy::DEFAULT);
        let empty = batch(&[]);
        store
            .apply(
                &batch(&[("a", 1, 10), ("a", 2, 20), ("b", 1, 20), ("c", 1, i64::MAX)]),
                &empty,
                None,
                None,
            )
            .unwrap();
        fn closed(s: &KeyedStore, wm: i64, skip: &KeySet) -> Vec<(String, i64, i64)> {
            sorted(&s.closed(wm, skip).unwrap())
        }
        let none = KeySet::default();
        assert_eq!(closed(&store, 9, &none), vec![]);
        assert_eq!(closed(&store, 10, &none), vec![("a".into(), 1, 10)]);
        assert_eq!(closed(&store, 20, &none).len(), 3);
        assert_eq!(
            closed(&store, i64::MAX, &none).len(),
            3,
            "never-closing rows stay"
        );
        // The keys alone: the same rows' keys, no values.
        let keys = store.closed_keys(20, &none).unwrap();
        assert_eq!(keys.column(2).null_count(), 3);
        let key_of = |b: &RecordBatch| {
            let mut v: Vec<(String, i64)> = sorted(&batch_with_expiry(b, 0))
                .into_iter()
                .map(|(k, g, _)| (k, g))
                .collect();
            v.sort();
            v
        };
        assert_eq!(key_of(&keys), key_of(&store.closed(20, &none).unwrap()));
        let a2 = store.keys_of(&batch(&[("a", 2, 0)])).unwrap();
        let skip: KeySet = a2.set();
        assert_eq!(closed(&store, 20, &skip).len(), 2);
        // Replacing a row moves it in the time index.
        store
            .apply(&batch(&[("a", 1, 30)]), &empty, None, None)
            .unwrap();
        assert_eq!(closed(&store, 20, &none).len(), 2);
        // Groups: every key of group "a", then after a removal.
        let group = KeyRows::of(&batch(&[("a", 0, 0)]), &[0]).unwrap();
        let rows = store.lookup_groups((0..1).map(|i| group.key(i))).unwrap();
        assert_eq!(
            sorted(&rows),
            vec![("a".into(), 1, 30), ("a".into(), 2, 20)]
        );
        store
            .apply(&empty, &batch(&[("a", 1, 0)]), None, None)
            .unwrap();
        let rows = store.lookup_groups((0..1).map(|i| group.key(i))).unwrap();
        assert_eq!(sorted(&rows), vec![("a".into(), 2, 20)]);
        assert_eq!(store.len(), 3);
        store
            .apply(
                &empty,
                &batch(&[("a", 2, 0), ("b", 1, 0), ("c", 1, 0)]),
                None,
                None,
            )
            .unwrap();
        assert_eq!(
            (store.len(), store.size().bytes, store.by_time.len()),
            (0, 0, 0)
        );
    }

    #[test]
    fn an_eviction_cuts_the_time_index_at_the_watermark_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let mut store = keyed(&loc, SnapshotPolicy::DEFAULT);
        let empty = batch(&[]);
        let rows = batch(&[("a", 1, 10), ("b", 1, 20), ("c", 1, 30), ("d", 1, i64::MAX)]);
        store.apply(&rows, &empty, None, None).unwrap();
        // Everything closed at 20 removed, and a row replaced: the cut leaves the rest.
        let closed = store.closed_keys(20, &KeySet::default()).unwrap();
        assert_eq!(closed.num_rows(), 2);
        store
            .apply(&batch(&[("c", 1, 40)]), &closed, None, Some(20))
            .unwrap();
        assert_eq!(
            sorted(&store.closed(i64::MAX - 1, &KeySet::default()).unwrap()),
            vec![("c".into(), 1, 40)]
        );
        assert_eq!((store.len(), store.by_time.len()), (2, 1));
        // A change that claims an eviction but leaves a closed row is caught in debug builds.
        if cfg!(debug_assertions) {
            let err = store.apply(&empty, &empty, None, Some(40)).unwrap_err();
            assert!(
                err.to_string().contains("closed rows were not removed"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn a_large_snapshot_is_written_in_parts_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let policy = SnapshotPolicy {
            max_epochs: 1,
            min_rows: 1,
        };
        let mut store = keyed(&loc, policy);
        let n = SNAPSHOT_BATCH as i64 * 2 + 17;
        let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
        let rows: Vec<(&str, i64, i64)> = keys.iter().map(|k| (k.as_str(), 1, 5)).collect();
        let first = StateChange::new(batch(&rows), batch(&[]));
        store.persist(Epoch(0), &first).await.unwrap();
        store.commit(Epoch(0), first).unwrap();
        // Epoch 1 removes one key and replaces another; its snapshot overlays the change.
        let second = StateChange::new(batch(&[("key-1", 1, 6)]), batch(&[("key-0", 1, 0)]));
        store.persist(Epoch(1), &second).await.unwrap();
        store.commit(Epoch(1), second).unwrap();
        let mut fresh = keyed(&loc, policy);
        fresh.restore(Some(Epoch(1))).await.unwrap();
        assert_eq!(fresh.len(), n as usize - 1);
        let probe = fresh
            .keys_of(&batch(&[("key-1", 1, 0), ("key-0", 1, 0)]))
            .unwrap();
        let got = fresh.lookup((0..2).map(|i| probe.key(i))).unwrap();
        assert_eq!(sorted(&got), vec![("key-1".into(), 1, 6)]);
    }

    #[test]
    fn closed_keys_fill_columns_without_nulls_with_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("flag", DataType::Boolean, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("at", DataType::Int64, true),
        ]));
        let rows = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(arrow::array::BooleanArray::from(vec![true, true, false])),
                Arc::new(StringArray::from(vec!["x", "y", "z"])),
                Arc::new(Int64Array::from(vec![10, 20, 30])),
            ],
        )
        .unwrap();
        let mut store = KeyedStore::new(loc, schema, 1, Some(CloseTime::Millis(3)), None).unwrap();
        store.apply(&rows, &rows.slice(0, 0), None, None).unwrap();
        let keys = store.closed_keys(20, &KeySet::default()).unwrap();
        let mut ids: Vec<i64> = keys.column(0).as_primitive::<Int64Type>().values().to_vec();
        ids.sort();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(keys.column(1).as_boolean().true_count(), 0);
        assert_eq!(keys.column(2).as_string::<i32>().value(0), "");
        assert_eq!(keys.column(3).null_count(), 2);
        // Removing by them removes the rows.
        store.apply(&keys.slice(0, 0), &keys, None, None).unwrap();
        assert_eq!(store.len(), 1);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "the operator's KnownKeys are wrong")]
    fn an_operator_claiming_a_stored_key_is_new_is_caught_in_debug_builds() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let mut store = keyed(&loc, SnapshotPolicy::DEFAULT);
        let empty = batch(&[]);
        store
            .apply(&batch(&[("a", 1, 5)]), &empty, None, None)
            .unwrap();
        let wrong = StateChange::known(batch(&[("a", 1, 6)]), empty, KnownKeys::fresh(1, 0));
        let _ = store.len_after(&wrong);
    }

    #[test]
    fn the_empty_key_of_a_global_aggregation_stays_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let mut store = KeyedStore::new(loc, schema.clone(), 0, None, None).unwrap();
        store.limit = Some(1);
        let row = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![7]))]).unwrap();
        store.apply(&row, &row.slice(0, 0), None, None).unwrap();
        assert_eq!((store.len(), store.size().on_disk), (1, 0));
        let found = store.lookup([&[][..]].into_iter()).unwrap();
        assert_eq!(found.column(0).as_primitive::<Int64Type>().value(0), 7);
    }

    #[tokio::test]
    async fn dictionary_columns_come_back_as_dictionaries() {
        use arrow::array::DictionaryArray;
        use arrow::datatypes::Int32Type;
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::resolve(dir.path().to_str().unwrap()).unwrap();
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("region", dict.clone(), true),
        ]));
        let rows = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(DictionaryArray::<Int32Type>::from_iter(["eu", "us", "eu"])),
            ],
        )
        .unwrap();
        let mut store = KeyedStore::new(loc, schema, 1, None, None).unwrap();
        store.apply(&rows, &rows.slice(0, 0), None, None).unwrap();
        let all = store.all_except(&KeySet::default()).unwrap();
        assert_eq!(all.column(1).data_type(), &dict);
        assert_eq!(all.num_rows(), 3);
        let last = store.max_row().unwrap();
        assert_eq!(last.column(0).as_primitive::<Int64Type>().value(0), 3);
    }

    #[test]
    fn close_times_agree_with_the_watermark_filter() {
        use crate::exec::late::behind_watermark;
        let ticks: Vec<i64> = vec![
            -2_500_000,
            -1,
            0,
            1,
            999_999,
            1_000_000,
            1_000_001,
            7_777_777_777,
        ];
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(ticks.clone()));
        let s: ArrayRef = Arc::new(TimestampSecondArray::from(ticks.clone()));
        for col in [ns, s] {
            let schema = Arc::new(Schema::new(vec![Field::new(
                "t",
                col.data_type().clone(),
                true,
            )]));
            let b = RecordBatch::try_new(schema, vec![col.clone()]).unwrap();
            let close = CloseTime::Key(0, EventTimeKind::Time).of(&b).unwrap();
            for wm in [
                -3,
                -1,
                0,
                1,
                999,
                1000,
                1001,
                7_777,
                7_778,
                7_777_777_777_000,
            ] {
                let behind = behind_watermark(&col, EventTimeKind::Time, wm).unwrap();
                for (i, c) in close.iter().enumerate() {
                    assert_eq!(
                        *c <= wm,
                        behind.value(i),
                        "{:?} tick {} wm {wm}",
                        col.data_type(),
                        ticks[i]
                    );
                }
            }
        }
    }
}
