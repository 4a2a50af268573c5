//! A DataFusion table over a fixed set of files, decoded by Tributary (so that bad records are
//! routed aside the same way in batch reads and in every epoch of a stream).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
use super::decode::decode_file_in_pieces;
use super::listing::DataFile;
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
    /// A table over `files` (relative to `root`), spread over at most `partitions` partitions.
    pub(crate) fn new(
        root: Location,
        files: Vec<DataFile>,
        format: FileFormat,
        schema: SchemaRef,
        bad: Arc<BadRecords>,
        partitions: usize,
        ignore_missing: bool,
    ) -> datafusion::error::Result<FileTable> {
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

#[derive(Debug)]
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
}

impl PartitionStream for FilePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let root = self.root.clone();
        let format = self.format.clone();
        let schema = self.schema.clone();
        let bad = self.bad.clone();
        let files = self.files.clone();
        let rows = self.rows.clone();
        let progress = self.progress.clone();
        let ignore_missing = self.ignore_missing;
        let pieces = self.pieces;
        let stream = futures::stream::iter(files)
            .then(move |file| {
                let (root, format, schema, bad, rows, progress) = (
                    root.clone(),
                    format.clone(),
                    schema.clone(),
                    bad.clone(),
                    rows.clone(),
                    progress.clone(),
                );
                async move {
                    let display = if file.name.is_empty() {
                        root.display.clone()
                    } else {
                        format!("{}/{}", root.display.trim_end_matches('/'), file.name)
                    };
                    let Some(bytes) = root.read(&file.name).await.map_err(to_df_error)? else {
                        // A listed file that is gone is never read as empty.
                        let reason = "the file was listed but is gone (deleted or renamed \
                                      before it was read)";
                        if !ignore_missing {
                            // Not a storage fault to retry: the file is not coming back.
                            return Err(to_df_error(TributaryError::Plan(format!(
                                "input file '{display}': {reason}; put it back, or set the \
                                 option ignore_missing_files 'true' to record it among the bad \
                                 records and go on without it"
                            ))));
                        }
                        let file = display.clone();
                        tracing::warn!("{file}: {reason}; skipped (ignore_missing_files)");
                        bad.report(BadRecord {
                            record: String::new(),
                            source: display,
                            line: 0,
                            reason: reason.into(),
                        })
                        .map_err(to_df_error)?;
                        return Ok(futures::stream::iter(Vec::new().into_iter().map(Ok)));
                    };
                    let bytes = complete_part(&format, &file, bytes, &display, &bad)
                        .map_err(to_df_error)?;
                    let batches = tokio::task::spawn_blocking(move || {
                        decode_file_in_pieces(&format, &schema, bytes, &display, &bad, pieces)
                    })
                    .await
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
                    .map_err(to_df_error)?;
                    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
                    rows.fetch_add(n as u64, Ordering::Relaxed);
                    progress.files_done.fetch_add(1, Ordering::Relaxed);
                    progress.bytes_done.fetch_add(file.size, Ordering::Relaxed);
                    Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(
                        batches.into_iter().map(Ok),
                    ))
                }
            })
            .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
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
