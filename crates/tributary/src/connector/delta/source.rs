//! A Delta table as a stream: the table's snapshot first, then each new commit.
//!
//! ```text
//!   _delta_log/ 00..07.json  08.json  09.json  10.json ...
//!               └ snapshot ┘ └ commit ┘└ commit ┘
//!   offset = { reservoirVersion, index, isStartingVersion }
//! ```
//!
//! The offset is a position in the log: every file of the versions before `reservoirVersion`
//! has been read, and the first `index` files of that version. `isStartingVersion` marks the
//! first version, whose files are the whole snapshot at that version rather than what its
//! commit added. Commits are immutable and a snapshot at a fixed version never changes, so the
//! same two offsets always name the same files: a re-run epoch reads the same rows.
//!
//! Commits that only rewrite files (`dataChange: false`, e.g. `optimize`) are skipped. Commits
//! that delete or rewrite data stop the query unless `ignore_deletes` / `ignore_changes` /
//! `skip_change_commits` say how to treat them, as in Delta's Spark connector. With
//! `read_change_feed` the stream carries the table's change data feed instead.

pub(super) use super::source_options::{DeltaSourceOptions, StartingPosition};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::prelude::{ident, lit, DataFrame, SessionContext};
use datafusion::scalar::ScalarValue;
use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::log::Commit;
use crate::error::{Result, TributaryError};
use crate::location::Location;
use crate::source::{EpochInput, SourceContext, StreamSource};
use tributary_checkpoint::Epoch;

const INITIAL: &str = "initial";

/// The columns the change data feed adds.
pub(super) const CHANGE_TYPE: &str = "_change_type";
/// The version of the commit that made a change.
pub(super) const COMMIT_VERSION: &str = "_commit_version";
/// The time of the commit that made a change.
pub(super) const COMMIT_TIMESTAMP: &str = "_commit_timestamp";

/// A position in the table's log; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    #[serde(rename = "reservoirVersion")]
    version: u64,
    index: u64,
    #[serde(rename = "isStartingVersion")]
    snapshot: bool,
}

impl Position {
    fn next_version(self) -> Position {
        Position {
            version: self.version + 1,
            index: 0,
            snapshot: false,
        }
    }

    fn parse(v: &Value, what: &str) -> Result<Position> {
        serde_json::from_value(v.clone()).map_err(|e| {
            TributaryError::Plan(format!(
                "the checkpoint's {what} Delta offset {v} is not a Delta position ({e}): the \
                 checkpoint belongs to another source; give each query its own checkpoint \
                 location (a new one reads the table from starting_version)"
            ))
        })
    }
}

/// A file to read, with the version of the table where it is live.
#[derive(Debug, Clone)]
struct UnitFile {
    path: String,
    size: u64,
    rows: Option<u64>,
}

/// The files one position's version contributes.
#[derive(Debug)]
struct Unit {
    files: Vec<UnitFile>,
    /// A change-feed commit: read whole, never split between epochs.
    whole: bool,
    /// Paths this commit removed, with or without `dataChange` (a compaction too): a file in
    /// here is no longer live after this version and is read from its own version's snapshot.
    removed: Vec<String>,
    timestamp_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    initial: Option<Position>,
    /// `AvailableNow`: the last version to read.
    cap: Option<u64>,
    units: BTreeMap<(u64, bool), Arc<Unit>>,
}

/// The Delta streaming source.
pub struct DeltaStreamSource {
    location: Location,
    options: DeltaSourceOptions,
    schema: SchemaRef,
    ctx: SessionContext,
    state: Mutex<State>,
}

impl std::fmt::Debug for DeltaStreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaStreamSource")
            .field("location", &self.location.display)
            .field("options", &self.options)
            .finish()
    }
}

impl DeltaStreamSource {
    /// A source over the Delta table at `location`; reads the table's current schema.
    pub async fn try_new(
        location: Location,
        options: DeltaSourceOptions,
        ctx: SessionContext,
    ) -> Result<Self> {
        let table = open(&location, None).await?;
        table
            .update_datafusion_session(&ctx.state())
            .map_err(TributaryError::delta(&location.display))?;
        let table_schema = table
            .snapshot()
            .map_err(TributaryError::delta(&location.display))?
            .snapshot()
            .arrow_schema();
        let mut fields: Vec<Field> = table_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        if options.read_change_feed {
            fields.extend(change_feed_fields());
        }
        Ok(DeltaStreamSource {
            location,
            options,
            schema: Arc::new(Schema::new(fields)),
            ctx,
            state: Mutex::default(),
        })
    }

    fn table_columns(&self) -> Vec<String> {
        let extra = if self.options.read_change_feed { 3 } else { 0 };
        let n = self.schema.fields().len() - extra;
        self.schema.fields()[..n]
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    async fn latest_version(&self) -> Result<u64> {
        let table = open(&self.location, None).await?;
        let latest = table.version().ok_or_else(|| {
            TributaryError::Plan(format!("'{}' has no versions", self.location.display))
        })?;
        let cap = self.state.lock().expect("delta source").cap;
        Ok(cap.map_or(latest, |c| c.min(latest)))
    }

    async fn commit(&self, version: u64) -> Result<Option<Commit>> {
        let table = crate::storage::open_or_new(&self.location)
            .await
            .map_err(TributaryError::delta(&self.location.display))?;
        let bytes = table
            .log_store()
            .read_commit_entry(version)
            .await
            .map_err(TributaryError::delta(&self.location.display))?;
        bytes.map(|b| Commit::parse(version, &b)).transpose()
    }

    /// The files the version at `pos` contributes, cached.
    async fn unit(&self, version: u64, snapshot: bool) -> Result<Arc<Unit>> {
        if let Some(u) = self
            .state
            .lock()
            .expect("delta source")
            .units
            .get(&(version, snapshot))
        {
            return Ok(u.clone());
        }
        let unit = Arc::new(if snapshot {
            self.snapshot_unit(version).await?
        } else {
            self.commit_unit(version).await?
        });
        let mut st = self.state.lock().expect("delta source");
        // Keep a bounded cache: the units of the last few hundred versions.
        while st.units.len() > 512 {
            let first = *st.units.keys().next().expect("non-empty");
            st.units.remove(&first);
        }
        st.units.insert((version, snapshot), unit.clone());
        Ok(unit)
    }

    async fn snapshot_unit(&self, version: u64) -> Result<Unit> {
        let table = open(&self.location, Some(version)).await?;
        let snap = table
            .snapshot()
            .map_err(TributaryError::delta(&self.location.display))?;
        let mut files: Vec<(i64, UnitFile)> = snap
            .log_data()
            .iter()
            .map(|f| {
                (
                    f.modification_time(),
                    UnitFile {
                        #[allow(deprecated)] // the raw log path is what file selection matches
                        path: f.add_action().path,
                        size: f.size().max(0) as u64,
                        rows: f.num_records().map(|n| n as u64),
                    },
                )
            })
            .collect();
        // Oldest first, as Delta's own streaming reader orders a snapshot.
        files.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
        let timestamp_ms = match self.commit(version).await? {
            Some(c) => c.timestamp_ms,
            None => 0,
        };
        Ok(Unit {
            files: files.into_iter().map(|(_, f)| f).collect(),
            whole: false,
            removed: Vec::new(),
            timestamp_ms,
        })
    }

    async fn commit_unit(&self, version: u64) -> Result<Unit> {
        let commit = self.commit(version).await?.ok_or_else(|| {
            TributaryError::Plan(format!(
                "version {version} of Delta table '{}' is gone from the log (vacuumed or log \
                 retention expired) before the stream read it: restart the query with a new \
                 checkpoint and a starting_version that still exists",
                self.location.display
            ))
        })?;
        let removed: Vec<String> = commit.removes.iter().map(|r| r.path.clone()).collect();
        let to_file = |a: &super::log::FileAction| UnitFile {
            path: a.path.clone(),
            size: a.size,
            rows: a.num_records,
        };
        if self.options.read_change_feed {
            let files = commit
                .data_adds()
                .chain(commit.cdc.iter())
                .chain(commit.removes.iter().filter(|r| r.data_change))
                .map(to_file)
                .collect();
            return Ok(Unit {
                files,
                whole: true,
                removed,
                timestamp_ms: commit.timestamp_ms,
            });
        }
        let mut files: Vec<UnitFile> = commit.data_adds().map(to_file).collect();
        if commit.removes_data() {
            let o = &self.options;
            let pure_delete = files.is_empty();
            if o.skip_change_commits {
                files.clear();
            } else if pure_delete && (o.ignore_deletes || o.ignore_changes) {
                // Whole files removed (a delete at partition boundaries): nothing to emit.
            } else if !pure_delete && o.ignore_changes {
                // Rewritten files are emitted again, as Delta's ignoreChanges does.
            } else {
                return Err(TributaryError::Plan(format!(
                    "Delta table '{}' changed existing data at version {version} ({}), which an \
                     append-only stream cannot express. Set ignore_deletes (whole-file deletes \
                     only), ignore_changes (re-emit rewritten files), or skip_change_commits \
                     (skip such commits), or stream the change data feed with read_change_feed",
                    self.location.display,
                    commit.operation_name()
                )));
            }
        }
        Ok(Unit {
            files,
            whole: false,
            removed,
            timestamp_ms: commit.timestamp_ms,
        })
    }

    async fn initial(&self) -> Result<Position> {
        if let Some(p) = self.state.lock().expect("delta source").initial {
            return Ok(p);
        }
        Err(TributaryError::Internal(
            "Delta source used before open()".into(),
        ))
    }

    async fn resolve_start(&self) -> Result<Position> {
        let table = open(&self.location, None).await?;
        let latest = table.version().unwrap_or(0);
        Ok(match &self.options.starting {
            StartingPosition::Snapshot => Position {
                version: latest,
                index: 0,
                snapshot: true,
            },
            StartingPosition::Latest => Position {
                version: latest + 1,
                index: 0,
                snapshot: false,
            },
            StartingPosition::Version(v) => {
                if *v > latest {
                    return Err(TributaryError::option(
                        "starting_version",
                        format!(
                            "version {v} is after the table's latest version {latest}; give a \
                             version that exists, or 'latest'"
                        ),
                    ));
                }
                Position {
                    version: *v,
                    index: 0,
                    snapshot: false,
                }
            }
            StartingPosition::Timestamp(ts_ms) => {
                let mut found = None;
                for v in 0..=latest {
                    if let Some(c) = self.commit(v).await? {
                        if c.timestamp_ms >= *ts_ms {
                            found = Some(v);
                            break;
                        }
                    }
                }
                Position {
                    version: found.unwrap_or(latest + 1),
                    index: 0,
                    snapshot: false,
                }
            }
        })
    }

    fn parse_start(&self, start: &Value) -> Result<Option<Position>> {
        if start.is_null() {
            return Ok(None);
        }
        Position::parse(start, "start").map(Some)
    }

    /// The files between two positions, each with the version whose snapshot has it live.
    async fn files_between(
        &self,
        from: Position,
        to: Position,
    ) -> Result<(Vec<(u64, UnitFile)>, HashSet<String>, Vec<u64>)> {
        let mut files = Vec::new();
        let mut removed = HashSet::new();
        let mut versions = Vec::new();
        let mut v = from.version;
        while v < to.version || (v == to.version && to.index > 0) {
            let snapshot = from.snapshot && v == from.version;
            let unit = self.unit(v, snapshot).await?;
            let lo = if v == from.version {
                from.index as usize
            } else {
                0
            };
            let hi = if v == to.version {
                (to.index as usize).min(unit.files.len())
            } else {
                unit.files.len()
            };
            if v != from.version || !snapshot {
                versions.push(v);
            }
            removed.extend(unit.removed.iter().cloned());
            for f in unit.files.iter().skip(lo).take(hi.saturating_sub(lo)) {
                files.push((v, f.clone()));
            }
            v += 1;
        }
        Ok((files, removed, versions))
    }

    async fn scan(&self, version: u64, paths: Vec<String>) -> Result<DataFrame> {
        let table = open(&self.location, Some(version)).await?;
        let provider = table
            .table_provider()
            .with_file_paths(paths)
            .await
            .map_err(TributaryError::df(format!(
                "reading Delta table '{}' at version {version}",
                self.location.display
            )))?;
        let df = self
            .ctx
            .read_table(provider)
            .map_err(TributaryError::df("reading a Delta stream"))?;
        self.project(df, version, false)
    }

    /// The source's columns (the table's, and with `change_columns` the change feed's) in
    /// the source's order and types: a later table schema may have more.
    fn project(&self, df: DataFrame, version: u64, change_columns: bool) -> Result<DataFrame> {
        let have: HashMap<String, DataType> = df
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let mut exprs = Vec::new();
        let n = if change_columns {
            self.schema.fields().len()
        } else {
            self.table_columns().len()
        };
        for f in self.schema.fields().iter().take(n) {
            match have.get(f.name()) {
                None => {
                    return Err(TributaryError::Plan(format!(
                        "Delta table '{}' no longer has column '{}' at version {version}: the \
                         stream's schema was fixed when it started; restart the query (with a \
                         new checkpoint if the change is not additive)",
                        self.location.display,
                        f.name()
                    )))
                }
                Some(t) if t == f.data_type() => exprs.push(ident(f.name())),
                Some(_) => exprs.push(
                    datafusion::logical_expr::cast(ident(f.name()), f.data_type().clone())
                        .alias(f.name()),
                ),
            }
        }
        df.select(exprs)
            .map_err(TributaryError::df("projecting a Delta stream"))
    }

    async fn plain_batch(&self, from: Position, to: Position) -> Result<(DataFrame, u64)> {
        let (files, removed, _) = self.files_between(from, to).await?;
        let rows = files.iter().filter_map(|(_, f)| f.rows).sum();
        let newest = files.iter().map(|(v, _)| *v).max();
        // Files still live at the newest version are read from its snapshot in one scan;
        // files a later commit in range removed (a compaction, or ignore_changes) from their
        // own version's.
        let mut by_version: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (v, f) in files {
            let at = if removed.contains(&f.path) {
                v
            } else {
                newest.unwrap_or(v)
            };
            by_version.entry(at).or_default().push(f.path);
        }
        let mut df: Option<DataFrame> = None;
        for (v, paths) in by_version {
            let part = self.scan(v, paths).await?;
            df = Some(match df {
                None => part,
                Some(d) => d
                    .union(part)
                    .map_err(TributaryError::df("combining Delta files"))?,
            });
        }
        let df = match df {
            Some(d) => d,
            None => self.empty()?,
        };
        Ok((df, rows))
    }

    async fn change_feed_batch(&self, from: Position, to: Position) -> Result<(DataFrame, u64)> {
        let mut parts = Vec::new();
        let mut rows = 0;
        let mut commits_from = from.version;
        if from.snapshot {
            // The starting snapshot arrives as inserts at its version.
            let (files, _, _) = self
                .files_between(
                    from,
                    if to.version == from.version {
                        to
                    } else {
                        Position {
                            version: from.version,
                            index: u64::MAX,
                            snapshot: true,
                        }
                    },
                )
                .await?;
            let unit = self.unit(from.version, true).await?;
            rows += files.iter().filter_map(|(_, f)| f.rows).sum::<u64>();
            let paths: Vec<String> = files.into_iter().map(|(_, f)| f.path).collect();
            if !paths.is_empty() {
                let df = self.scan(from.version, paths).await?;
                let df = df
                    .with_column(CHANGE_TYPE, lit("insert"))
                    .and_then(|d| {
                        d.with_column(COMMIT_VERSION, lit(ScalarValue::UInt64(Some(from.version))))
                    })
                    .and_then(|d| {
                        d.with_column(
                            COMMIT_TIMESTAMP,
                            lit(ScalarValue::TimestampMillisecond(
                                Some(unit.timestamp_ms),
                                None,
                            )),
                        )
                    })
                    .map_err(TributaryError::df("labelling a snapshot as inserts"))?;
                parts.push(df);
            }
            commits_from = from.version + 1;
        }
        // Commits are read whole: `to.index` is 0 for a change-feed position past the snapshot.
        let last = if to.snapshot {
            None
        } else {
            to.version.checked_sub(1)
        };
        if let Some(last) = last.filter(|l| *l >= commits_from) {
            for v in commits_from..=last {
                let unit = self.unit(v, false).await?;
                rows += unit.files.iter().filter_map(|f| f.rows).sum::<u64>();
            }
            let table = open(&self.location, Some(last)).await?;
            let builder = table
                .scan_cdf()
                .with_starting_version(commits_from)
                .with_ending_version(last);
            let provider = deltalake::delta_datafusion::DeltaCdfTableProvider::try_new(builder)
                .map_err(TributaryError::delta(&self.location.display))?;
            let df = self
                .ctx
                .read_table(Arc::new(provider))
                .map_err(TributaryError::df("reading a change data feed"))?;
            parts.push(self.project(df, last, true)?);
        }
        let mut df: Option<DataFrame> = None;
        for part in parts {
            df = Some(match df {
                None => part,
                Some(d) => d
                    .union(part)
                    .map_err(TributaryError::df("combining change data"))?,
            });
        }
        Ok((
            match df {
                Some(d) => d,
                None => self.empty()?,
            },
            rows,
        ))
    }

    fn empty(&self) -> Result<DataFrame> {
        let batch = arrow::array::RecordBatch::new_empty(self.schema.clone());
        self.ctx
            .read_batch(batch)
            .map_err(TributaryError::df("an empty Delta epoch"))
    }
}

fn change_feed_fields() -> Vec<Field> {
    vec![
        Field::new(CHANGE_TYPE, DataType::Utf8, true),
        Field::new(COMMIT_VERSION, DataType::UInt64, true),
        Field::new(
            COMMIT_TIMESTAMP,
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
    ]
}

/// The commit time of `version` (`commitInfo.timestamp`), if the log still has the commit.
pub(crate) async fn commit_timestamp_ms(table: &DeltaTable, version: u64) -> Result<Option<i64>> {
    let bytes = table
        .log_store()
        .read_commit_entry(version)
        .await
        .map_err(TributaryError::delta(table.table_url().as_str()))?;
    Ok(match bytes {
        Some(b) => Some(Commit::parse(version, &b)?.timestamp_ms).filter(|t| *t > 0),
        None => None,
    })
}

/// Open the table at `location`, at `version` or the latest.
async fn open(location: &Location, version: Option<u64>) -> Result<DeltaTable> {
    super::maintenance::open_at(location, version).await
}

#[async_trait]
impl StreamSource for DeltaStreamSource {
    fn description(&self) -> String {
        format!("DeltaStream[{}]", self.location.display)
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(DeltaStreamSource {
            location: self.location.clone(),
            options: self.options.clone(),
            schema: self.schema.clone(),
            ctx: self.ctx.clone(),
            state: Mutex::default(),
        })
    }

    async fn open(&self, ctx: &SourceContext) -> Result<()> {
        let initial = match ctx.dir.read(INITIAL).await? {
            Some(b) => {
                let v: Value = serde_json::from_slice(&b).map_err(|e| TributaryError::State {
                    location: ctx.dir.display.clone(),
                    message: format!("'{INITIAL}' (the starting Delta position) is damaged: {e}"),
                })?;
                Position::parse(&v, "initial")?
            }
            None => {
                let start = self.resolve_start().await?;
                ctx.dir.ensure_dir()?;
                ctx.dir
                    .write(INITIAL, serde_json::to_vec(&start).unwrap_or_default())
                    .await?;
                start
            }
        };
        self.state.lock().expect("delta source").initial = Some(initial);
        Ok(())
    }

    async fn prepare_available_now(&self, recorded: Option<&Value>) -> Result<Value> {
        let latest = match recorded.and_then(Value::as_u64) {
            Some(v) => v,
            None => open(&self.location, None).await?.version().unwrap_or(0),
        };
        self.state.lock().expect("delta source").cap = Some(latest);
        Ok(json!(latest))
    }

    async fn latest_offset(
        &self,
        start: &Value,
        limited: bool,
        _epoch: Epoch,
    ) -> Result<Option<Value>> {
        let mut pos = match self.parse_start(start)? {
            Some(p) => p,
            None => self.initial().await?,
        };
        let latest = self.latest_version().await?;
        let (max_files, max_bytes) = if limited {
            (
                self.options.max_files_per_trigger.unwrap_or(usize::MAX) as u64,
                self.options.max_bytes_per_trigger.unwrap_or(u64::MAX),
            )
        } else {
            (u64::MAX, u64::MAX)
        };
        let (mut files, mut bytes) = (0u64, 0u64);
        let full = |files: u64, bytes: u64| files > 0 && (files >= max_files || bytes >= max_bytes);
        'walk: while pos.version <= latest {
            let unit = self.unit(pos.version, pos.snapshot).await?;
            let n = unit.files.len() as u64;
            if unit.whole {
                let unit_bytes: u64 = unit.files.iter().map(|f| f.size).sum();
                if files > 0 && (files + n > max_files || bytes + unit_bytes > max_bytes) {
                    break;
                }
                files += n.max(1);
                bytes += unit_bytes;
                pos = pos.next_version();
                continue;
            }
            while pos.index < n {
                if full(files, bytes) {
                    break 'walk;
                }
                let f = &unit.files[pos.index as usize];
                files += 1;
                bytes += f.size;
                pos.index += 1;
            }
            pos = pos.next_version();
        }
        if files == 0 {
            return Ok(None);
        }
        Ok(Some(serde_json::to_value(pos).map_err(|e| {
            TributaryError::Internal(format!("encoding a Delta position: {e}"))
        })?))
    }

    async fn get_batch(&self, start: &Value, end: &Value, _epoch: Epoch) -> Result<EpochInput> {
        let from = match self.parse_start(start)? {
            Some(p) => p,
            None => self.initial().await?,
        };
        let to = Position::parse(end, "end")?;
        let (df, rows) = if self.options.read_change_feed {
            self.change_feed_batch(from, to).await?
        } else {
            self.plain_batch(from, to).await?
        };
        Ok(EpochInput {
            table: df.into_view(),
            bad_records: None,
            rows: Arc::new(rows.into()),
        })
    }
}
