//! A DataFusion table over a fixed set of files, decoded by Tributary (so that bad records are
//! routed aside the same way in batch reads and in every epoch of a stream).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::Session as DfSession;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::{StreamExt, TryStreamExt};

use super::bad_records::{BadRecord, BadRecords};
use super::compression::Codec;
use super::decode::decode_file_in_pieces;
use super::listing::DataFile;
use super::read_ahead::{Decoding, ReadAhead};
use super::FileFormat;
use crate::error::{to_df_error, TributaryError};
use crate::location::Location;

/// How far a scan of files has come (for progress bars).
#[derive(Debug, Default)]
pub(crate) struct ScanProgress {
    /// Files to read.
    pub files_total: u64,
    /// Bytes to read.
    pub bytes_total: u64,
    /// Files read.
    pub files_done: AtomicU64,
    /// Bytes read.
    pub bytes_done: AtomicU64,
}

/// A table over a fixed list of files of one format and a declared schema.
#[derive(Debug)]
pub(crate) struct FileTable {
    inner: StreamingTable,
    schema: SchemaRef,
    bad: Arc<BadRecords>,
    rows: Arc<AtomicU64>,
    bad_records_path: Option<Location>,
    progress: Arc<ScanProgress>,
}

impl FileTable {
    /// A table over `files` (relative to `how.root`, decoded as `how` says), spread over at most
    /// `how.partitions` partitions; files in `ahead` are taken from it when a stream read them
    /// ahead.
    pub(crate) fn new(
        how: &Decoding,
        files: Vec<DataFile>,
        bad: Arc<BadRecords>,
        ignore_missing: bool,
        ahead: Option<Arc<ReadAhead>>,
    ) -> datafusion::error::Result<FileTable> {
        let Decoding {
            root,
            format,
            schema,
            partitions,
            ..
        } = how.clone();
        let rows = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(ScanProgress {
            files_total: files.len() as u64,
            bytes_total: files.iter().map(|f| f.size).sum(),
            ..Default::default()
        });
        let n = partitions.max(1).min(files.len().max(1));
        // Fewer files than partitions (an epoch of one file): each file is decoded in pieces on
        // as many threads, so the decoding still uses every core.
        let pieces = partitions.max(1).div_ceil(files.len().max(1));
        // Greedy balance by size, biggest first; each partition keeps files in name order.
        let mut groups: Vec<(u64, Vec<DataFile>)> = vec![(0, Vec::new()); n];
        let mut sorted = files.clone();
        sorted.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(&b.name)));
        for f in sorted {
            let g = groups
                .iter_mut()
                .min_by_key(|g| g.0)
                .expect("one group at least");
            g.0 += f.size;
            g.1.push(f);
        }
        let parts: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|(_, mut files)| {
                files.sort();
                Arc::new(FilePartition {
                    root: root.clone(),
                    files,
                    format: format.clone(),
                    schema: schema.clone(),
                    bad: bad.clone(),
                    rows: rows.clone(),
                    progress: progress.clone(),
                    ignore_missing,
                    pieces,
                    ahead: ahead.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(FileTable {
            inner: StreamingTable::try_new(schema.clone(), parts)?,
            schema,
            bad,
            rows,
            bad_records_path: None,
            progress,
        })
    }

    /// How far scans of this table have come.
    pub(crate) fn progress(&self) -> Arc<ScanProgress> {
        self.progress.clone()
    }

    /// Set where bad records of batch reads go.
    pub(crate) fn with_bad_records_path(mut self, path: Option<Location>) -> Self {
        self.bad_records_path = path;
        self
    }

    /// Where bad records of batch reads go, if the user said.
    pub(crate) fn bad_records_path(&self) -> Option<&Location> {
        self.bad_records_path.as_ref()
    }

    /// The bad records met while scanning.
    pub(crate) fn bad_records(&self) -> &Arc<BadRecords> {
        &self.bad
    }

    /// Counts the rows decoded so far.
    pub(crate) fn rows(&self) -> Arc<AtomicU64> {
        self.rows.clone()
    }
}

#[async_trait]
impl TableProvider for FileTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let scan = self.inner.scan(state, projection, filters, limit).await?;
        let of = self.schema.fields().len();
        let columns = projection.map_or(of, Vec::len);
        Ok(Arc::new(super::sized_scan::SizedScanExec::new(
            scan,
            self.progress.bytes_total,
            columns,
            of,
        )))
    }
}

#[derive(Debug, Clone)]
struct FilePartition {
    root: Location,
    files: Vec<DataFile>,
    format: FileFormat,
    schema: SchemaRef,
    bad: Arc<BadRecords>,
    rows: Arc<AtomicU64>,
    progress: Arc<ScanProgress>,
    ignore_missing: bool,
    /// Threads that decode one text file (see `decode_file_in_pieces`).
    pieces: usize,
    /// The files a stream read ahead of this epoch.
    ahead: Option<Arc<ReadAhead>>,
}

impl PartitionStream for FilePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let part = Arc::new(self.clone());
        let stream = futures::stream::iter(self.files.clone())
            .then(move |file| {
                let part = part.clone();
                async move {
                    let batches = part.read(&file).await.map_err(to_df_error)?;
                    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
                    part.rows.fetch_add(n as u64, Ordering::Relaxed);
                    part.progress.files_done.fetch_add(1, Ordering::Relaxed);
                    part.progress
                        .bytes_done
                        .fetch_add(file.size, Ordering::Relaxed);
                    Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(
                        batches.into_iter().map(Ok),
                    ))
                }
            })
            .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

impl FilePartition {
    /// One file's rows: read ahead (its bad records reported into this read's), or read now.
    async fn read(&self, file: &DataFile) -> crate::error::Result<Vec<RecordBatch>> {
        if let Some(task) = self.ahead.as_ref().and_then(|a| a.take(file)) {
            if let Ok(Some(decoded)) = task.await {
                for record in decoded.bad {
                    self.bad.report(record)?;
                }
                return Ok(decoded.batches);
            }
        }
        read_file(
            &self.root,
            file,
            &self.format,
            &self.schema,
            &self.bad,
            self.pieces,
            self.ignore_missing,
        )
        .await
    }
}

/// Read and decode one listed file of `root` on a blocking thread (in `pieces`, see
/// `decode_file_in_pieces`). A file that is gone is an error, or with `ignore_missing` a bad
/// record and no rows.
pub(super) async fn read_file(
    root: &Location,
    file: &DataFile,
    format: &FileFormat,
    schema: &SchemaRef,
    bad: &Arc<BadRecords>,
    pieces: usize,
    ignore_missing: bool,
) -> crate::error::Result<Vec<RecordBatch>> {
    let display = if file.name.is_empty() {
        root.display.clone()
    } else {
        format!("{}/{}", root.display.trim_end_matches('/'), file.name)
    };
    let Some(bytes) = root.read(&file.name).await? else {
        // A listed file that is gone is never read as empty.
        let reason = "the file was listed but is gone (deleted or renamed before it was read)";
        if !ignore_missing {
            // Not a storage fault to retry: the file is not coming back.
            return Err(TributaryError::Plan(format!(
                "input file '{display}': {reason}; put it back, or set the option \
                 ignore_missing_files 'true' to record it among the bad records and go on \
                 without it"
            )));
        }
        let file = &display;
        tracing::warn!("{file}: {reason}; skipped (ignore_missing_files)");
        bad.report(BadRecord {
            record: String::new(),
            source: display,
            line: 0,
            reason: reason.into(),
        })?;
        return Ok(Vec::new());
    };
    // Columns named by the file's `key=value` folders come from there, not from the file.
    let folders = super::partitions::FolderColumns::of(schema, &file.name);
    let (format, schema, bad, file) = (format.clone(), schema.clone(), bad.clone(), file.clone());
    // Decompressing and decoding are CPU work: off the async threads.
    tokio::task::spawn_blocking(move || {
        let Some(bytes) = content(&format, &file, bytes, &display, &bad)? else {
            return Ok(Vec::new());
        };
        let Some(folders) = folders else {
            return decode_file_in_pieces(&format, &schema, bytes, &display, &bad, pieces);
        };
        let own = decode_file_in_pieces(&format, &folders.data, bytes, &display, &bad, pieces)?;
        match own.iter().map(|b| folders.fill(&schema, b)).collect() {
            Ok(batches) => Ok(batches),
            Err(e) => {
                bad.report(BadRecord {
                    record: String::new(),
                    source: display,
                    line: 0,
                    reason: e.to_string(),
                })?;
                Ok(Vec::new())
            }
        }
    })
    .await
    .map_err(|e| TributaryError::Internal(format!("a decoding thread failed: {e}")))?
}

/// What a listed file holds to decode: a compressed text file decompressed (by its extension),
/// or `None` when it went to the bad records whole (it does not decompress, or it grew after it
/// was listed: a compressed file is read complete or not at all); any other file as
/// [`complete_part`] cuts it.
fn content(
    format: &FileFormat,
    file: &DataFile,
    bytes: bytes::Bytes,
    source: &str,
    bad: &BadRecords,
) -> crate::error::Result<Option<bytes::Bytes>> {
    if matches!(format, FileFormat::Parquet) {
        return Ok(Some(bytes));
    }
    let whole_file = |reason: String| {
        tracing::warn!(file = source, "{reason}");
        bad.report(BadRecord {
            record: String::new(),
            source: source.to_string(),
            line: 0,
            reason,
        })
        .map(|()| None)
    };
    let codec = match Codec::of(source) {
        Ok(codec) => codec,
        Err(reason) => return whole_file(reason),
    };
    let Some(codec) = codec else {
        return complete_part(format, file, bytes, source, bad).map(Some);
    };
    if bytes.len() as u64 > file.size {
        return whole_file(format!(
            "the compressed file grew after it was listed ({} bytes then, {} when read): it was \
             still being written. Write files under a hidden name (or elsewhere) and rename them \
             into the folder when complete",
            file.size,
            bytes.len()
        ));
    }
    match codec.decompress(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(reason) => whole_file(reason),
    }
}

/// A text file that grew after it was listed was still being written: its lines up to the
/// listed size are read (cut at the last line break, so no half line is taken for a record),
/// and the rest goes to the bad records with the reason, never silently lost. The cut is the
/// same when an epoch runs again, since the listed size is in the checkpoint.
fn complete_part(
    format: &FileFormat,
    file: &DataFile,
    bytes: bytes::Bytes,
    source: &str,
    bad: &BadRecords,
) -> crate::error::Result<bytes::Bytes> {
    if matches!(format, FileFormat::Parquet) || bytes.len() as u64 <= file.size {
        return Ok(bytes);
    }
    let listed = file.size as usize;
    let cut = bytes[..listed]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let rest = String::from_utf8_lossy(&bytes[cut..]).into_owned();
    let reason = format!(
        "the file grew after it was listed ({listed} bytes then, {} when read): it was still \
         being written. Lines after byte {cut} were not read; write files under a hidden name \
         (or elsewhere) and rename them into the folder when complete",
        bytes.len()
    );
    tracing::warn!(file = source, "{reason}");
    bad.report(BadRecord {
        record: rest,
        source: source.to_string(),
        line: 0,
        reason,
    })?;
    Ok(bytes.slice(..cut))
}
