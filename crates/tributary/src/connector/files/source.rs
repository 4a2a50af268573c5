//! A folder of files as a stream: files that appear are picked up by later epochs.
//!
//! Each epoch's files are written to `sources/<i>/<epoch>` in the checkpoint before the epoch's
//! offsets; the offset is `{"logOffset": epoch}`. On restart the files of all planned epochs are
//! known again, so a file is never read twice, and an epoch run again reads the same files.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::error::{Result, TributaryError};
use crate::format::read_ahead::{Decoding, ReadAhead};
use crate::format::{list_data_files, BadRecordMode, BadRecords, DataFile, FileFormat, FileTable};
use crate::location::Location;
use crate::source::{EpochInput, SourceContext, StreamSource};
use tributary_checkpoint::{codec, CheckpointPaths, Epoch};

/// Options of the file stream source.
#[derive(Debug, Clone)]
pub struct FileSourceOptions {
    /// At most this many new files per epoch (`max_files_per_trigger`).
    pub max_files_per_trigger: Option<usize>,
    /// Take the newest files first (`latest_first`).
    pub latest_first: bool,
    /// Bad record handling (`mode`).
    pub mode: BadRecordMode,
    /// Where bad records go (`bad_records_path`).
    pub bad_records_path: Option<Location>,
    /// Partitions to decode in parallel.
    pub partitions: usize,
    /// A listed file that is gone when read is recorded among the bad records instead of
    /// stopping the query (`ignore_missing_files`, Spark's `ignoreMissingFiles`).
    pub ignore_missing_files: bool,
    /// List only the names after the greatest one already seen (`incremental_listing`), for
    /// landing folders whose new files always sort after the old ones.
    pub incremental_listing: bool,
}

impl FileSourceOptions {
    /// Parse the options of a file source.
    pub fn parse(
        options: &HashMap<String, String>,
        partitions: usize,
        storage: &crate::storage::StorageOptions,
    ) -> Result<Self> {
        let max_files_per_trigger = match options
            .get("max_files_per_trigger")
            .or(options.get("maxfilespertrigger"))
        {
            None => None,
            Some(v) => Some(v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                TributaryError::option(
                    "max_files_per_trigger",
                    format!("'{v}' is not a positive integer"),
                )
            })?),
        };
        let latest_first = match options.get("latest_first").or(options.get("latestfirst")) {
            None => false,
            Some(v) => crate::format::parse_bool("latest_first", v)?,
        };
        let bad_records_path = match options
            .get("bad_records_path")
            .or(options.get("badrecordspath"))
        {
            None => None,
            Some(p) => Some(Location::resolve_with(p, storage)?),
        };
        let ignore_missing_files = match options
            .get("ignore_missing_files")
            .or(options.get("ignoremissingfiles"))
        {
            None => false,
            Some(v) => crate::format::parse_bool("ignore_missing_files", v)?,
        };
        let incremental_listing = match options.get("incremental_listing") {
            None => false,
            Some(v) => crate::format::parse_bool("incremental_listing", v)?,
        };
        Ok(FileSourceOptions {
            ignore_missing_files,
            incremental_listing,
            max_files_per_trigger,
            latest_first,
            mode: BadRecordMode::parse(options.get("mode"))?,
            bad_records_path,
            partitions,
        })
    }
}

/// One epoch's file list in the checkpoint (`sources/<i>/<epoch>`), linked to the list before
/// it, so that a deleted list is found at start (its files would otherwise be read again).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct EpochFiles {
    /// The epoch of the previous list of this source; none for the first.
    prev: Option<u64>,
    /// The files the epoch reads.
    files: Vec<DataFile>,
}

/// A file list as read back: lists written before the chain was added are bare arrays.
enum LogEntry {
    Linked(EpochFiles),
    Unlinked(Vec<DataFile>),
}

impl LogEntry {
    fn files(self) -> Vec<DataFile> {
        match self {
            LogEntry::Linked(e) => e.files,
            LogEntry::Unlinked(f) => f,
        }
    }
}

#[derive(Debug, Default)]
struct FileState {
    dir: Option<Location>,
    seen: BTreeSet<String>,
    available_now: Option<BTreeSet<String>>,
    /// The files the next epoch will most likely read (after the last epoch's, up to
    /// `max_files_per_trigger`), to read ahead.
    next: Vec<DataFile>,
}

/// The file stream source.
#[derive(Debug)]
pub struct FileStreamSource {
    root: Location,
    format: FileFormat,
    schema: SchemaRef,
    options: FileSourceOptions,
    state: Mutex<FileState>,
    ahead: Arc<ReadAhead>,
}

impl FileStreamSource {
    /// A source over the folder `root`.
    pub fn new(
        root: Location,
        format: FileFormat,
        schema: SchemaRef,
        options: FileSourceOptions,
    ) -> Self {
        FileStreamSource {
            root,
            format,
            schema,
            options,
            state: Mutex::default(),
            ahead: Arc::default(),
        }
    }

    fn log_offset(v: &Value) -> Option<u64> {
        v.get("logOffset").and_then(Value::as_u64)
    }

    fn dir(&self) -> Result<Location> {
        self.state
            .lock()
            .expect("file source")
            .dir
            .clone()
            .ok_or_else(|| TributaryError::Internal("file source used before open()".into()))
    }

    async fn read_log(&self, dir: &Location, epoch: u64) -> Result<Vec<DataFile>> {
        Ok(self.read_entry(dir, epoch).await?.files())
    }

    async fn read_entry(&self, dir: &Location, epoch: u64) -> Result<LogEntry> {
        self.read_entry_if_any(dir, epoch).await?.ok_or_else(|| {
            TributaryError::Plan(format!(
                "checkpoint file '{}/{epoch}' is missing: the checkpoint is damaged (the files of that epoch \
                 would be read again); restore the file from a backup of this checkpoint (see \
                 docs/guarantees.md; a new checkpoint location alone would write every row again)",
                dir.display
            ))
        })
    }

    /// The list of `epoch`, or `None` when it has none (an epoch where this source had nothing
    /// new).
    async fn read_entry_if_any(&self, dir: &Location, epoch: u64) -> Result<Option<LogEntry>> {
        let rel = epoch.to_string();
        let Some(bytes) = dir.read(&rel).await? else {
            return Ok(None);
        };
        let name = format!("{}/{rel}", dir.display);
        if let Ok(linked) = codec::decode::<EpochFiles>(&name, &bytes) {
            return Ok(Some(LogEntry::Linked(linked)));
        }
        codec::decode(&name, &bytes)
            .map(|entry| Some(LogEntry::Unlinked(entry)))
            .map_err(|e| TributaryError::Plan(e.to_string()))
    }

    /// Every file the lists up to `last` name: the chain from `last` back to the first list,
    /// each link read (a missing one is an error naming it); lists from before the chain are
    /// found by listing the folder.
    async fn seen_up_to(&self, dir: &Location, last: u64) -> Result<BTreeSet<String>> {
        let mut seen = BTreeSet::new();
        let mut at = Some(last);
        while let Some(e) = at {
            match self.read_entry(dir, e).await? {
                LogEntry::Linked(entry) => {
                    seen.extend(entry.files.into_iter().map(|f| f.name));
                    if entry.prev.is_some_and(|p| p >= e) {
                        return Err(TributaryError::Plan(format!(
                            "checkpoint file '{}/{e}' links to a later list: the checkpoint is \
                             damaged; restore it from a backup (see docs/guarantees.md)",
                            dir.display
                        )));
                    }
                    at = entry.prev;
                }
                LogEntry::Unlinked(files) => {
                    seen.extend(files.into_iter().map(|f| f.name));
                    for entry in dir.list("").await? {
                        let Some(older) = CheckpointPaths::epoch_of(&entry.name) else {
                            continue;
                        };
                        if older.0 < e {
                            seen.extend(
                                self.read_log(dir, older.0)
                                    .await?
                                    .into_iter()
                                    .map(|f| f.name),
                            );
                        }
                    }
                    at = None;
                }
            }
        }
        Ok(seen)
    }
}

#[async_trait]
impl StreamSource for FileStreamSource {
    fn description(&self) -> String {
        format!("FileStream[{}]", self.root.display)
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(FileStreamSource::new(
            self.root.clone(),
            self.format.clone(),
            self.schema.clone(),
            self.options.clone(),
        ))
    }

    fn bad_records_path(&self) -> Option<Location> {
        self.options.bad_records_path.clone()
    }

    async fn open(&self, ctx: &SourceContext) -> Result<()> {
        let seen = match ctx
            .last_planned
            .as_ref()
            .and_then(|(_, end)| Self::log_offset(end))
        {
            Some(last) => self.seen_up_to(&ctx.dir, last).await?,
            None => BTreeSet::new(),
        };
        let mut st = self.state.lock().expect("file source");
        st.dir = Some(ctx.dir.clone());
        st.seen = seen;
        Ok(())
    }

    async fn prepare_available_now(&self, recorded: Option<&Value>) -> Result<Value> {
        let names: BTreeSet<String> = match recorded {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| TributaryError::State {
                location: self.description(),
                message: format!(
                    "the recorded files of {} do not read as a list of names: {e}",
                    self.description()
                ),
            })?,
            None => list_data_files(&self.root)
                .await?
                .into_iter()
                .map(|f| f.name)
                .collect(),
        };
        let bound = json!(names);
        self.state.lock().expect("file source").available_now = Some(names);
        Ok(bound)
    }

    async fn latest_offset(
        &self,
        start: &Value,
        limited: bool,
        epoch: Epoch,
    ) -> Result<Option<Value>> {
        let dir = self.dir()?;
        let after = if self.options.incremental_listing {
            self.state
                .lock()
                .expect("file source")
                .seen
                .iter()
                .next_back()
                .cloned()
        } else {
            None
        };
        let listed = match after {
            // Only the keys after the greatest name seen: one short listing per epoch however
            // many files the folder holds.
            Some(after) => crate::format::list_data_files_after(&self.root, &after).await?,
            None => list_data_files(&self.root).await?,
        };
        let mut new: Vec<DataFile> = {
            let st = self.state.lock().expect("file source");
            listed
                .into_iter()
                .filter(|f| !st.seen.contains(&f.name))
                .filter(|f| {
                    st.available_now
                        .as_ref()
                        .is_none_or(|a| a.contains(&f.name))
                })
                .collect()
        };
        if new.is_empty() {
            return Ok(None);
        }
        new.sort_by(|a, b| a.modified_ms.cmp(&b.modified_ms).then(a.name.cmp(&b.name)));
        if self.options.latest_first {
            new.reverse();
        }
        let mut next = Vec::new();
        if limited {
            if let Some(max) = self.options.max_files_per_trigger {
                if new.len() > max {
                    next = new[max..new.len().min(2 * max)].to_vec();
                    next.sort();
                }
                new.truncate(max);
            }
        }
        new.sort();
        let prev = Self::log_offset(start);
        // A list is named by its epoch; in real-time mode an epoch reads several lists, the
        // later ones named by the numbers after it (always above the previous list's).
        let id = epoch.0.max(prev.map_or(0, |p| p + 1));
        let entry = EpochFiles { prev, files: new };
        dir.write(&id.to_string(), codec::encode(&entry)).await?;
        let new = entry.files;
        let mut st = self.state.lock().expect("file source");
        st.seen.extend(new.into_iter().map(|f| f.name));
        st.next = next;
        Ok(Some(json!({ "logOffset": id })))
    }

    async fn get_batch(&self, start: &Value, end: &Value, _epoch: Epoch) -> Result<EpochInput> {
        let dir = self.dir()?;
        let from = Self::log_offset(start).map(|s| s + 1).unwrap_or(0);
        let to = Self::log_offset(end);
        let mut files = Vec::new();
        if let Some(to) = to {
            for e in from..=to {
                // Epochs where this source had nothing new have no log file.
                if let Some(entry) = self.read_entry_if_any(&dir, e).await? {
                    files.extend(entry.files());
                }
            }
        }
        let bad = Arc::new(BadRecords::new(self.options.mode.clone()));
        let how = Decoding {
            root: self.root.clone(),
            format: self.format.clone(),
            schema: self.schema.clone(),
            mode: self.options.mode.clone(),
            partitions: self.options.partitions,
        };
        // While this epoch runs, the next one's files are read (when small enough).
        let next = std::mem::take(&mut self.state.lock().expect("file source").next);
        self.ahead.start(&files, &next, &how);
        let table = FileTable::new(
            &how,
            files,
            bad.clone(),
            self.options.ignore_missing_files,
            Some(self.ahead.clone()),
        )
        .map_err(TributaryError::df("planning the epoch's files"))?;
        let rows = table.rows();
        Ok(EpochInput {
            table: Arc::new(table),
            bad_records: Some(bad),
            rows,
        })
    }
}
