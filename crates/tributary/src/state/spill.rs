//! The on-disk tier of keyed state: rows a [`super::KeyedStore`] moves out of memory when its
//! share of `state_memory_limit` is used up, kept in an embedded LSM tree (`fjall`).
//!
//! ```text
//!  one fjall database per process, in a temporary folder (removed when the process ends)
//!    keyspace <store>-rows     key → close time (8 bytes) ++ len(group) (4) ++ group ++ value
//!    keyspace <store>-time     close time (8 bytes) ++ key → ()        rows in close order
//!    keyspace <store>-groups   len(group) ++ group ++ key  → ()        keys of a group
//! ```
//!
//! The tier is a cache of the state, not its record: the checkpoint's changelogs and snapshots
//! are, so nothing here is synced and a restart starts it empty. The folder
//! (`$TMPDIR/tributary-state-<pid>-*`) goes when the last store with rows on disk is dropped;
//! one left by a killed process is removed by the next process that spills.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use fjall::config::{PartitioningPolicy, PinningPolicy};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, Slice};

use crate::error::{Result, TributaryError};

/// Memory the embedded store may hold for its block cache, for the whole process.
const CACHE: u64 = 32 * 1024 * 1024;
/// Memory one store's disk tier may hold in its write buffers (its three keyspaces' memtables,
/// and as much again while they are flushed); counted in the store's memory budget.
pub(crate) const TIER_BUFFERS: usize = 2 * (4 + 2 + 2) * 1024 * 1024;

struct Space {
    db: Database,
    #[cfg_attr(not(test), allow(dead_code))]
    dir: std::path::PathBuf,
}

/// The database, while some store has rows on disk: the last one to go drops it, and fjall
/// removes its folder.
static SPACE: Mutex<Weak<Space>> = Mutex::new(Weak::new());
static NEXT: AtomicU64 = AtomicU64::new(0);
const PREFIX: &str = "tributary-state-";

fn space() -> Result<Arc<Space>> {
    let mut slot = SPACE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = slot.upgrade() {
        return Ok(s);
    }
    remove_stale(&std::env::temp_dir());
    let failed = |message: String| TributaryError::State {
        location: std::env::temp_dir().display().to_string(),
        message: format!("{message} (set TMPDIR to a writable folder with free space)"),
    };
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .tempdir()
        .map_err(|e| failed(format!("cannot create a folder for state on disk: {e}")))?
        .keep();
    let db = Database::builder(&dir)
        .temporary(true)
        .manual_journal_persist(true)
        .cache_size(CACHE)
        .open()
        .map_err(|e| {
            failed(format!(
                "cannot open the on-disk state store in {}: {e}",
                dir.display()
            ))
        })?;
    let s = Arc::new(Space { db, dir });
    *slot = Arc::downgrade(&s);
    Ok(s)
}

/// Remove the folders of processes that ended without removing theirs (killed, crashed).
fn remove_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if pid != std::process::id() && !alive {
            if let Err(err) = std::fs::remove_dir_all(e.path()) {
                tracing::warn!("removing {}: {err}", e.path().display());
            }
        }
    }
}

fn err(e: fjall::Error) -> TributaryError {
    TributaryError::State {
        location: "the on-disk state store".into(),
        message: format!("{e}"),
    }
}

/// A close time as 8 bytes that sort like the number.
fn time_bytes(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_of(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

fn group_prefix(group: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + group.len());
    p.extend_from_slice(&(group.len() as u32).to_be_bytes());
    p.extend_from_slice(group);
    p
}

/// A row read back from disk.
pub(crate) struct StoredRow {
    pub close: i64,
    pub group: Option<Box<[u8]>>,
    pub value: Box<[u8]>,
}

impl StoredRow {
    fn encode(close: i64, group: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
        let g = group.unwrap_or_default();
        let mut v = Vec::with_capacity(12 + g.len() + value.len());
        v.extend_from_slice(&time_bytes(close));
        // u32::MAX: no group.
        let len = group.map_or(u32::MAX, |g| g.len() as u32);
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(g);
        v.extend_from_slice(value);
        v
    }

    /// (close, group, value) of a stored value.
    fn split(v: &[u8]) -> (i64, Option<&[u8]>, &[u8]) {
        let close = time_of(v);
        let len = u32::from_be_bytes([v[8], v[9], v[10], v[11]]);
        if len == u32::MAX {
            return (close, None, &v[12..]);
        }
        let end = 12 + len as usize;
        (close, Some(&v[12..end]), &v[end..])
    }

    fn parse(v: &[u8]) -> StoredRow {
        let (close, group, value) = Self::split(v);
        StoredRow {
            close,
            group: group.map(Box::from),
            value: value.into(),
        }
    }

    /// The value part of a stored value.
    pub(crate) fn value_of(v: &[u8]) -> &[u8] {
        Self::split(v).2
    }
}

/// One row moved to disk.
pub(crate) struct ColdRow<'a> {
    pub key: &'a [u8],
    pub close: i64,
    pub value: &'a [u8],
    pub group: Option<&'a [u8]>,
}

/// Memory a row on disk holds: its share of the pinned bloom filters.
const PINNED_BYTES_PER_ROW: usize = 2;

/// Rows from which a write to disk is a bulk load (sorted tables written directly) rather
/// than a write batch through the journal and memtables.
const INGEST_ROWS: usize = 16 * 1024;

/// The time index's entry of a row: close time, then key.
fn time_key(close: i64, key: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(8 + key.len());
    t.extend_from_slice(&time_bytes(close));
    t.extend_from_slice(key);
    t
}

/// The group index's entry of a row: group, then key.
fn group_key(group: &[u8], key: &[u8]) -> Vec<u8> {
    let mut k = group_prefix(group);
    k.extend_from_slice(key);
    k
}

/// Bulk-load distinct keys with empty values into `ks`.
fn ingest_keys(ks: &Keyspace, keys: &mut [Vec<u8>]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    let mut ingestion = ks.start_ingestion().map_err(err)?;
    for k in keys.iter() {
        ingestion
            .write(k.as_slice(), Vec::<u8>::new())
            .map_err(err)?;
    }
    ingestion.finish().map_err(err)
}

/// The rows of one store on disk.
pub(crate) struct ColdTier {
    space: Arc<Space>,
    rows: Keyspace,
    time: Keyspace,
    groups: Option<Keyspace>,
    len: usize,
}

impl ColdTier {
    /// A new, empty tier (`grouped`: keeps the keys of each group).
    pub(crate) fn open(grouped: bool) -> Result<Self> {
        let space = space()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ks = |kind: &str, mib: u64| {
            space
                .db
                .keyspace(&format!("s{n}-{kind}"), || {
                    KeyspaceCreateOptions::default().max_memtable_size(mib * 1024 * 1024)
                })
                .map_err(err)
        };
        // Most lookups are of keys not on disk (a deduplication's new keys): the rows' bloom
        // filters are kept in memory at every level, whole, so that such a lookup reads
        // nothing (counted in the store's budget: `pinned_bytes`).
        let rows = space
            .db
            .keyspace(&format!("s{n}-rows"), || {
                KeyspaceCreateOptions::default()
                    .max_memtable_size(4 * 1024 * 1024)
                    .filter_block_pinning_policy(PinningPolicy::all(true))
                    .filter_block_partitioning_policy(PartitioningPolicy::all(false))
            })
            .map_err(err)?;
        Ok(ColdTier {
            rows,
            time: ks("time", 2)?,
            groups: if grouped {
                Some(ks("groups", 2)?)
            } else {
                None
            },
            len: 0,
            space,
        })
    }

    /// Rows on disk.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Memory the tier holds for its rows beyond its fixed buffers: the pinned bloom filters
    /// (10 bits a key, and their blocks' overhead), an estimate.
    pub(crate) fn pinned_bytes(&self) -> usize {
        self.len * PINNED_BYTES_PER_ROW
    }

    /// The row of a key.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<StoredRow>> {
        Ok(self
            .rows
            .get(key)
            .map_err(err)?
            .map(|v| StoredRow::parse(&v)))
    }

    pub(crate) fn contains(&self, key: &[u8]) -> Result<bool> {
        if self.len == 0 {
            return Ok(false);
        }
        self.rows.contains_key(key).map_err(err)
    }

    /// Write rows (none of them on disk yet, each key once).
    pub(crate) fn put(&mut self, rows: &[ColdRow<'_>]) -> Result<()> {
        if rows.len() >= INGEST_ROWS {
            self.ingest(rows)?;
        } else {
            let mut batch = self.space.db.batch();
            for r in rows {
                batch.insert(
                    &self.rows,
                    r.key,
                    StoredRow::encode(r.close, r.group, r.value),
                );
                if r.close != i64::MAX {
                    batch.insert(&self.time, time_key(r.close, r.key), Vec::<u8>::new());
                }
                if let (Some(g), Some(groups)) = (r.group, &self.groups) {
                    batch.insert(groups, group_key(g, r.key), Vec::<u8>::new());
                }
            }
            batch.commit().map_err(err)?;
        }
        self.len += rows.len();
        Ok(())
    }

    /// Many rows at once: each index's entries sorted and written as new tables, past the
    /// journal and the memtables (the bulk load of an LSM tree).
    fn ingest(&self, rows: &[ColdRow<'_>]) -> Result<()> {
        let mut order: Vec<&ColdRow<'_>> = rows.iter().collect();
        order.sort_unstable_by(|a, b| a.key.cmp(b.key));
        let mut ingestion = self.rows.start_ingestion().map_err(err)?;
        for r in &order {
            ingestion
                .write(r.key, StoredRow::encode(r.close, r.group, r.value))
                .map_err(err)?;
        }
        ingestion.finish().map_err(err)?;
        let mut times: Vec<Vec<u8>> = rows
            .iter()
            .filter(|r| r.close != i64::MAX)
            .map(|r| time_key(r.close, r.key))
            .collect();
        ingest_keys(&self.time, &mut times)?;
        if let Some(groups) = &self.groups {
            let mut members: Vec<Vec<u8>> = rows
                .iter()
                .filter_map(|r| r.group.map(|g| group_key(g, r.key)))
                .collect();
            ingest_keys(groups, &mut members)?;
        }
        Ok(())
    }

    /// Remove a key if it is on disk; true when it was.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Result<bool> {
        if self.len == 0 {
            return Ok(false);
        }
        let Some(StoredRow { close, group, .. }) = self.get(key)? else {
            return Ok(false);
        };
        let mut batch = self.space.db.batch();
        batch.remove(&self.rows, key);
        if close != i64::MAX {
            batch.remove(&self.time, time_key(close, key));
        }
        if let (Some(g), Some(groups)) = (group, &self.groups) {
            batch.remove(groups, group_key(&g, key));
        }
        batch.commit().map_err(err)?;
        self.len -= 1;
        Ok(true)
    }

    /// The greatest key on disk.
    pub(crate) fn last_key(&self) -> Result<Option<Vec<u8>>> {
        match self.rows.last_key_value() {
            Some(g) => Ok(Some(g.key().map_err(err)?.to_vec())),
            None => Ok(None),
        }
    }

    /// Keys whose close time is at or before `wm`.
    pub(crate) fn closed_keys(&self, wm: i64) -> Result<Vec<Box<[u8]>>> {
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let end = wm.saturating_add(1);
        let iter = if end == i64::MAX {
            self.time.iter()
        } else {
            self.time.range(..time_bytes(end).to_vec())
        };
        iter.map(|g| Ok(g.key().map_err(err)?[8..].into()))
            .collect()
    }

    /// Whether a key's close time is at or before `wm`.
    pub(crate) fn any_closed(&self, wm: i64) -> Result<bool> {
        if self.len == 0 {
            return Ok(false);
        }
        let end = wm.saturating_add(1);
        let first = if end == i64::MAX {
            self.time.iter().next()
        } else {
            self.time.range(..time_bytes(end).to_vec()).next()
        };
        match first {
            Some(g) => g.key().map(|_| true).map_err(err),
            None => Ok(false),
        }
    }

    /// Keys of a group.
    pub(crate) fn group_keys(&self, group: &[u8]) -> Result<Vec<Box<[u8]>>> {
        let Some(groups) = &self.groups else {
            return Ok(Vec::new());
        };
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let prefix = group_prefix(group);
        groups
            .prefix(&prefix)
            .map(|g| Ok(g.key().map_err(err)?[prefix.len()..].into()))
            .collect()
    }

    /// Up to `n` rows after the key `after` (from the first when `None`), in key order: key,
    /// and the stored value ([`StoredRow::value_of`] finds the row's value in it). A scan goes chunk by chunk, holding no iterator
    /// between chunks.
    pub(crate) fn chunk_after(
        &self,
        after: Option<&[u8]>,
        n: usize,
    ) -> Result<Vec<(Slice, Slice)>> {
        use std::ops::Bound;
        let iter = match after {
            None => self.rows.iter(),
            Some(k) => self
                .rows
                .range::<&[u8], _>((Bound::Excluded(k), Bound::Unbounded)),
        };
        iter.take(n).map(|g| g.into_inner().map_err(err)).collect()
    }
}

impl Drop for ColdTier {
    fn drop(&mut self) {
        for ks in [
            Some(self.rows.clone()),
            Some(self.time.clone()),
            self.groups.clone(),
        ]
        .into_iter()
        .flatten()
        {
            if let Err(e) = self.space.db.delete_keyspace(ks) {
                tracing::warn!("dropping state on disk: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_ended_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        // No process has pid 4194305 (above Linux's largest).
        let dead = tmp.path().join(format!("{PREFIX}4194305-abc"));
        let mine = tmp
            .path()
            .join(format!("{PREFIX}{}-abc", std::process::id()));
        let other = tmp.path().join("tributary-state-notapid");
        for d in [&dead, &mine, &other] {
            std::fs::create_dir_all(d.join("sub")).unwrap();
        }
        remove_stale(tmp.path());
        assert!(!dead.exists() && mine.exists() && other.exists());
    }

    #[test]
    fn close_times_sort_as_bytes() {
        let times = [i64::MIN, -1_000, -1, 0, 1, 999, i64::MAX - 1];
        for w in times.windows(2) {
            assert!(time_bytes(w[0]) < time_bytes(w[1]));
        }
        for t in times {
            assert_eq!(time_of(&time_bytes(t)), t);
        }
    }

    #[test]
    fn rows_on_disk_are_found_by_key_time_and_group() {
        let mut cold = ColdTier::open(true).unwrap();
        let folder = cold.space.dir.clone();
        assert!(folder.exists());
        let rows = [
            ColdRow {
                key: b"a1",
                close: 10,
                value: b"x",
                group: Some(b"a"),
            },
            ColdRow {
                key: b"a2",
                close: 20,
                value: b"yy",
                group: Some(b"a"),
            },
            ColdRow {
                key: b"b1",
                close: i64::MAX,
                value: b"",
                group: Some(b"b"),
            },
        ];
        cold.put(&rows).unwrap();
        assert_eq!(cold.len(), 3);
        let row = cold.get(b"a2").unwrap().unwrap();
        assert_eq!(
            (row.close, row.group.as_deref(), row.value.as_ref()),
            (20, Some(&b"a"[..]), &b"yy"[..])
        );
        assert!(cold.contains(b"b1").unwrap() && !cold.contains(b"zz").unwrap());
        let closed = |c: &ColdTier, wm| {
            c.closed_keys(wm)
                .unwrap()
                .into_iter()
                .map(|k| k.to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(closed(&cold, 9), Vec::<Vec<u8>>::new());
        assert_eq!(closed(&cold, 10), vec![b"a1".to_vec()]);
        assert_eq!(closed(&cold, i64::MAX).len(), 2);
        assert_eq!(cold.group_keys(b"a").unwrap().len(), 2);
        assert!(cold.remove(b"a1").unwrap());
        assert!(!cold.remove(b"a1").unwrap());
        assert_eq!(cold.group_keys(b"a").unwrap().len(), 1);
        assert_eq!(closed(&cold, 20), vec![b"a2".to_vec()]);
        let all = cold.chunk_after(None, 10).unwrap();
        assert_eq!(all.len(), 2);
        let rest = cold.chunk_after(Some(&all[0].0), 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(StoredRow::value_of(&rest[0].1), &b""[..]);
        let plain = StoredRow::encode(5, None, b"v");
        assert_eq!(StoredRow::split(&plain), (5, None, &b"v"[..]));
        assert_eq!(cold.len(), 2);
        // The last tier gone, the database and its folder go (other tests may hold it).
        drop(cold);
        if SPACE.lock().unwrap().upgrade().is_none() {
            assert!(!folder.exists(), "{}", folder.display());
        }
    }

    #[test]
    fn a_bulk_write_is_found_by_key_time_and_group_and_mixes_with_batches() {
        let mut cold = ColdTier::open(true).unwrap();
        let n = INGEST_ROWS + 100;
        // Keys out of order, as a hash index hands them out.
        let keys: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("k{:08}", (i * 7919) % n).into_bytes())
            .collect();
        let group = |k: &[u8]| k[..6].to_vec();
        let groups: Vec<Vec<u8>> = keys.iter().map(|k| group(k)).collect();
        let rows: Vec<ColdRow<'_>> = keys
            .iter()
            .zip(&groups)
            .enumerate()
            .map(|(i, (k, g))| ColdRow {
                key: k,
                close: if i % 2 == 0 { i as i64 } else { i64::MAX },
                value: k,
                group: Some(g),
            })
            .collect();
        cold.put(&rows).unwrap();
        // A small write after it goes through a batch; a removal after it hides the row.
        cold.put(&[ColdRow {
            key: b"z",
            close: -1,
            value: b"zz",
            group: Some(b"z"),
        }])
        .unwrap();
        assert!(cold.remove(&keys[2]).unwrap());
        assert_eq!(cold.len(), n);
        for (i, k) in keys.iter().enumerate().step_by(97) {
            let found = cold.get(k).unwrap();
            if i == 2 {
                assert!(found.is_none());
                continue;
            }
            let row = found.unwrap();
            assert_eq!(row.value.as_ref(), k.as_slice());
            assert_eq!(row.group.as_deref(), Some(group(k).as_slice()));
        }
        // Even rows close at their index; row 2 was removed; "z" closes at -1.
        let closed = cold.closed_keys(99).unwrap();
        assert_eq!(closed.len(), 50 - 1 + 1);
        assert_eq!(&*closed[0], b"z");
        let members = cold.group_keys(&group(&keys[5])).unwrap();
        assert!(members.iter().any(|m| **m == *keys[5]));
        assert!(members.iter().all(|m| m.starts_with(&group(&keys[5]))));
        let mut count = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let chunk = cold.chunk_after(after.as_deref(), 4096).unwrap();
            let Some(last) = chunk.last() else { break };
            after = Some(last.0.to_vec());
            count += chunk.len();
        }
        assert_eq!(count, n);
    }
}
