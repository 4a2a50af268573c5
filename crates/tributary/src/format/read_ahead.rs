//! Reading the next epoch's files while this epoch runs. A stream held to
//! `max_files_per_trigger` knows, when it plans an epoch, which files the next one will most
//! likely take: the next ones in its order. Its epochs of one small file each spend part of
//! their time on what does not use every core (offsets, the sink's file, the commit); the next
//! epoch's files are read and decoded meanwhile, on threads of their own, and the next epoch's
//! scan takes them instead of reading them again.
//!
//! ```text
//!   epoch N:   latestOffset ─ getBatch ─ addBatch (scan, operators, sink) ─ commit
//!                              └─ start(next files) ─► decode on blocking threads ─┐
//!   epoch N+1: latestOffset ─ getBatch ─ addBatch: scan takes each file ◄──────────┘
//!                                                  (or reads it itself when not there)
//! ```
//!
//! Only a guess is made, never a decision: the epoch's own list (in the checkpoint) says which
//! files it reads, and a file read ahead is taken only when it is in that list with the size
//! listed. What is taken gives what reading it then would: the same rows, and its bad records
//! reported into the epoch that reads it. A read that failed (a file gone, FAILFAST, a storage
//! error) is not kept, so the epoch reads the file itself and meets the error where it belongs.
//! At most [`READ_AHEAD_BYTES`] of files are read ahead, so epochs of many large files (which
//! keep the cores busy on their own) are not held twice in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use tokio::task::JoinHandle;

use super::bad_records::{BadRecord, BadRecordMode, BadRecords};
use super::listing::DataFile;
use super::FileFormat;
use crate::location::Location;

/// The most file bytes read ahead at once.
pub(crate) const READ_AHEAD_BYTES: u64 = 64 << 20;

/// One file read and decoded ahead: its rows and its bad records.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub batches: Vec<RecordBatch>,
    pub bad: Vec<BadRecord>,
}

type Pending = JoinHandle<Option<Decoded>>;

/// The files of a stream read ahead, by name and listed size.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    pending: Mutex<HashMap<(String, u64), Pending>>,
}

/// How the files read ahead are decoded: as the epoch's scan would.
#[derive(Debug, Clone)]
pub(crate) struct Decoding {
    pub root: Location,
    pub format: FileFormat,
    pub schema: SchemaRef,
    /// How the read-ahead's own collectors treat a bad record (a scan reports into the
    /// `BadRecords` it is given, of the same mode).
    pub mode: BadRecordMode,
    /// The scan's partitions (see `FileTable::new`).
    pub partitions: usize,
}

impl ReadAhead {
    /// Read `files` ahead (those not already being read), and drop what was read ahead of
    /// files neither in them nor in `current` (the epoch about to read): the guess changed.
    /// Nothing is read when `files` exceed the budget.
    pub(crate) fn start(&self, current: &[DataFile], files: &[DataFile], how: &Decoding) {
        let mut pending = self.pending.lock().expect("read-ahead");
        let wanted: Vec<(String, u64)> = current
            .iter()
            .chain(files)
            .map(|f| (f.name.clone(), f.size))
            .collect();
        pending.retain(|key, task| {
            let keep = wanted.contains(key);
            if !keep {
                task.abort();
            }
            keep
        });
        if files.iter().map(|f| f.size).sum::<u64>() > READ_AHEAD_BYTES {
            return;
        }
        let pieces = how.partitions.max(1).div_ceil(files.len().max(1));
        for file in files {
            let key = (file.name.clone(), file.size);
            if pending.contains_key(&key) {
                continue;
            }
            let (file, how) = (file.clone(), how.clone());
            let task = tokio::spawn(async move {
                let bad = Arc::new(BadRecords::new(how.mode.clone()));
                let batches = super::table::read_file(
                    &how.root,
                    &file,
                    &how.format,
                    &how.schema,
                    &bad,
                    pieces,
                    false,
                )
                .await
                .ok()?;
                Some(Decoded {
                    batches,
                    bad: bad.take(),
                })
            });
            pending.insert(key, task);
        }
    }

    /// What was read ahead of `file` (being read, or done), taken out.
    pub(crate) fn take(&self, file: &DataFile) -> Option<Pending> {
        self.pending
            .lock()
            .expect("read-ahead")
            .remove(&(file.name.clone(), file.size))
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        if let Ok(pending) = self.pending.get_mut() {
            for task in pending.values() {
                task.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    fn setup() -> (tempfile::TempDir, Decoding, Vec<DataFile>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            "{\"n\":1}\n{\"n\":\"x\"}\n{\"n\":3}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.json"), "{\"n\":4}\n").unwrap();
        let files = ["a.json", "b.json", "gone.json"]
            .iter()
            .map(|name| DataFile {
                name: name.to_string(),
                size: std::fs::metadata(dir.path().join(name)).map_or(8, |m| m.len()),
                modified_ms: 0,
            })
            .collect();
        let how = Decoding {
            root: Location::resolve(dir.path().to_str().unwrap()).unwrap(),
            format: FileFormat::Json,
            schema: Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)])),
            mode: BadRecordMode::DeadLetter,
            partitions: 2,
        };
        (dir, how, files)
    }

    async fn taken(ahead: &ReadAhead, file: &DataFile) -> Option<Decoded> {
        ahead.take(file)?.await.ok()?
    }

    #[tokio::test]
    async fn files_read_ahead_are_taken_once_with_their_bad_records() {
        let (_dir, how, files) = setup();
        let ahead = ReadAhead::default();
        ahead.start(&[], &files, &how);
        let a = taken(&ahead, &files[0]).await.unwrap();
        assert_eq!(a.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(a.bad.len(), 1);
        assert_eq!(a.bad[0].line, 2);
        assert!(taken(&ahead, &files[0]).await.is_none(), "taken once");
        // A file that is gone is not kept: the epoch reads it and meets the error itself.
        assert!(taken(&ahead, &files[2]).await.is_none());
        // A file listed with another size is another file.
        let grown = DataFile {
            size: files[1].size + 1,
            ..files[1].clone()
        };
        assert!(ahead.take(&grown).is_none());
        assert!(taken(&ahead, &files[1]).await.is_some());
    }

    #[tokio::test]
    async fn a_new_guess_drops_the_old_one_and_big_files_are_not_read_ahead() {
        let (_dir, how, files) = setup();
        let ahead = ReadAhead::default();
        ahead.start(&[], &files[..1], &how);
        ahead.start(&[], &files[1..2], &how);
        assert!(ahead.take(&files[0]).is_none(), "no longer guessed");
        // The epoch about to read a file read ahead keeps it while the next is read ahead.
        ahead.start(&files[1..2], &files[..1], &how);
        assert!(taken(&ahead, &files[1]).await.is_some());
        assert!(taken(&ahead, &files[0]).await.is_some());
        let big = DataFile {
            size: READ_AHEAD_BYTES + 1,
            ..files[0].clone()
        };
        ahead.start(&[], std::slice::from_ref(&big), &how);
        assert!(ahead.take(&big).is_none());
    }

    #[tokio::test]
    async fn failfast_reads_are_not_kept() {
        let (_dir, mut how, files) = setup();
        how.mode = BadRecordMode::FailFast;
        let ahead = ReadAhead::default();
        ahead.start(&[], &files[..2], &how);
        assert!(
            taken(&ahead, &files[0]).await.is_none(),
            "a has a bad record"
        );
        assert!(taken(&ahead, &files[1]).await.is_some());
    }
}
