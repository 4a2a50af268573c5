//! The file sink: Parquet or JSON-lines files in a folder, exactly once through a manifest log.
//!
//! An epoch writes its data files first, then `_tributary_log/<writer>_<epoch>` listing them.
//! A manifest that exists means the epoch is committed: a re-run epoch is skipped. Readers of
//! Tributary ([`crate::format::list_data_files`]) read only files named by a manifest, so files
//! of an attempt that crashed before its manifest are never seen.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{Result, TributaryError};
use crate::format::{FileFormat, MANIFEST_DIR};
use crate::location::Location;
use crate::sink::{EpochOutput, Sink, SinkContext};
use tributary_checkpoint::{codec, Epoch};

/// The formats the file sink writes.
pub const FILE_SINK_FORMATS: &[&str] = &["parquet", "json"];

/// Writes each epoch as files plus a manifest.
#[derive(Debug)]
pub struct FileSink {
    location: Location,
    format: FileFormat,
    max_records: Option<usize>,
    partition_by: Vec<String>,
    writer_id: tokio::sync::Mutex<Option<String>>,
}

impl FileSink {
    /// A sink writing `format` files into `location`.
    pub fn new(location: Location, format: FileFormat) -> Result<Self> {
        if matches!(format, FileFormat::Csv { .. }) {
            return Err(TributaryError::Plan(
                "the file sink writes parquet or json; CSV output is not supported: choose format 'parquet' or 'json'".into(),
            ));
        }
        Ok(FileSink {
            location,
            format,
            max_records: None,
            partition_by: Vec::new(),
            writer_id: tokio::sync::Mutex::new(None),
        })
    }

    /// At most `max` rows in one file (`max_records_per_file`).
    pub fn with_max_records(mut self, max: Option<usize>) -> Self {
        self.max_records = max;
        self
    }

    /// Rows under `column=value/` folders of these columns (`partition_by`).
    pub fn with_partition_by(mut self, columns: Vec<String>) -> Self {
        self.partition_by = columns;
        self
    }
}

/// Whether rows of `schema` can be written under folders of `columns` (an error naming the
/// problem when not).
pub(crate) fn check_partition_columns(schema: &SchemaRef, columns: &[String]) -> Result<()> {
    if !columns.is_empty() {
        super::partition_folders::PartitionFolders::new(schema, columns)?;
    }
    Ok(())
}

/// The manifest name of one writer's epoch.
pub(crate) fn manifest_name(writer: &str, epoch: u64) -> String {
    format!("{MANIFEST_DIR}/{writer}_{epoch:020}")
}

/// The encoded size at which a file is closed and the next one begun: a batch write of any size
/// holds at most about this much output in memory.
const TARGET_FILE_BYTES: usize = 128 << 20;

/// One output file being encoded in memory.
enum FileEncoder {
    Parquet(ArrowWriter<Vec<u8>>),
    Json(arrow::json::LineDelimitedWriter<Vec<u8>>),
}

impl FileEncoder {
    fn new(format: &FileFormat, schema: &SchemaRef) -> Result<Self> {
        match format {
            FileFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
                    .map(FileEncoder::Parquet)
                    .map_err(|e| TributaryError::Plan(format!("writing Parquet: {e}")))
            }
            FileFormat::Json => Ok(FileEncoder::Json(crate::format::json_out::line_writer(
                Vec::new(),
            ))),
            FileFormat::Csv { .. } => {
                Err(TributaryError::Plan("CSV output is not supported".into()))
            }
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            FileEncoder::Parquet(w) => w
                .write(batch)
                .map_err(|e| TributaryError::Plan(format!("writing Parquet: {e}"))),
            FileEncoder::Json(w) => w
                .write(batch)
                .map_err(TributaryError::arrow("writing JSON")),
        }
    }

    /// Bytes encoded so far (for Parquet, with the row group still in memory).
    fn size(&self) -> usize {
        match self {
            FileEncoder::Parquet(w) => w.bytes_written() + w.in_progress_size(),
            FileEncoder::Json(w) => w.get_ref().len(),
        }
    }

    fn finish(self) -> Result<Vec<u8>> {
        match self {
            FileEncoder::Parquet(w) => w
                .into_inner()
                .map_err(|e| TributaryError::Plan(format!("writing Parquet: {e}"))),
            FileEncoder::Json(mut w) => {
                w.finish().map_err(TributaryError::arrow("writing JSON"))?;
                Ok(w.into_inner())
            }
        }
    }
}

/// Writes a unit's rows as data files: a new file when the current one reaches
/// [`TARGET_FILE_BYTES`] or `max_records_per_file` rows; with partition columns, the rows of
/// each value under its own `column=value/` folders (Spark's `partitionBy`), without those
/// columns.
pub(crate) struct FilesWriter<'a> {
    location: &'a Location,
    format: &'a FileFormat,
    schema: SchemaRef,
    epoch: u64,
    max_records: Option<usize>,
    partitions: Option<super::partition_folders::PartitionFolders>,
    /// The file being encoded under each folder ("" without partition columns).
    current: std::collections::BTreeMap<String, (FileEncoder, usize)>,
    files: Vec<String>,
    rows: u64,
}

impl<'a> FilesWriter<'a> {
    pub(crate) fn new(
        location: &'a Location,
        format: &'a FileFormat,
        schema: SchemaRef,
        epoch: u64,
        max_records: Option<usize>,
    ) -> Self {
        FilesWriter {
            location,
            format,
            schema,
            epoch,
            max_records,
            partitions: None,
            current: Default::default(),
            files: Vec::new(),
            rows: 0,
        }
    }

    /// Rows written under `column=value/` folders of `columns` (none: one folder).
    pub(crate) fn partitioned_by(mut self, columns: &[String]) -> Result<Self> {
        if !columns.is_empty() {
            let p = super::partition_folders::PartitionFolders::new(&self.schema, columns)?;
            self.schema = p.file_schema();
            self.partitions = Some(p);
        }
        Ok(self)
    }

    /// Add rows, closing and uploading files as they fill.
    pub(crate) async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        let Some(partitions) = &self.partitions else {
            return self.write_to(String::new(), batch).await;
        };
        for (folder, rows) in partitions.split(&batch)? {
            self.write_to(folder, rows).await?;
        }
        Ok(())
    }

    async fn write_to(&mut self, folder: String, mut batch: RecordBatch) -> Result<()> {
        while batch.num_rows() > 0 {
            let (encoder, rows) = match self.current.entry(folder.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert((FileEncoder::new(self.format, &self.schema)?, 0))
                }
            };
            let room = self
                .max_records
                .map_or(batch.num_rows(), |m| m.saturating_sub(*rows).max(1));
            let take = room.min(batch.num_rows());
            encoder.write(&batch.slice(0, take))?;
            *rows += take;
            self.rows += take as u64;
            batch = batch.slice(take, batch.num_rows() - take);
            let full =
                encoder.size() >= TARGET_FILE_BYTES || self.max_records.is_some_and(|m| *rows >= m);
            if full {
                self.close_file(&folder).await?;
            }
        }
        // Many folders open at once hold at most about one file's worth in memory together:
        // the largest open file is closed first.
        while self.current.len() > 1
            && self.current.values().map(|(e, _)| e.size()).sum::<usize>() >= TARGET_FILE_BYTES
        {
            let largest = self
                .current
                .iter()
                .max_by_key(|(_, (e, _))| e.size())
                .map(|(f, _)| f.clone())
                .expect("more than one open file");
            self.close_file(&largest).await?;
        }
        Ok(())
    }

    async fn close_file(&mut self, folder: &str) -> Result<()> {
        let Some((encoder, _)) = self.current.remove(folder) else {
            return Ok(());
        };
        let attempt = uuid::Uuid::new_v4().simple().to_string();
        let name = format!(
            "{folder}part-{:05}-{}.{}",
            self.epoch,
            &attempt[..12],
            self.format.extension()
        );
        self.location.write(&name, encoder.finish()?).await?;
        self.files.push(name);
        Ok(())
    }

    /// Close the last file; the names of the files written and their rows.
    pub(crate) async fn finish(mut self) -> Result<(Vec<String>, u64)> {
        let folders: Vec<String> = self.current.keys().cloned().collect();
        for folder in folders {
            self.close_file(&folder).await?;
        }
        Ok((self.files, self.rows))
    }
}

/// Commit a unit's files: its manifest, written only if absent. Returns false when the unit was
/// already committed.
pub(crate) async fn commit_unit(
    location: &Location,
    writer: &str,
    epoch: u64,
    files: Vec<String>,
) -> Result<bool> {
    let body = codec::encode(&crate::format::listing_manifest(files));
    location
        .write_new(&manifest_name(writer, epoch), body)
        .await
}

/// Write one committed unit (an epoch) as data files plus a manifest. Returns false when the
/// unit was already committed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_unit(
    location: &Location,
    format: &FileFormat,
    writer: &str,
    epoch: u64,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    max_records: Option<usize>,
    partition_by: &[String],
) -> Result<bool> {
    if location
        .read(&manifest_name(writer, epoch))
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let mut files = FilesWriter::new(location, format, schema.clone(), epoch, max_records)
        .partitioned_by(partition_by)?;
    for b in batches {
        files.write(b.clone()).await?;
    }
    let (files, _) = files.finish().await?;
    commit_unit(location, writer, epoch, files).await
}

#[async_trait]
impl Sink for FileSink {
    fn description(&self) -> String {
        format!(
            "FileSink[{}, format={}]",
            self.location.display,
            self.format.extension()
        )
    }

    async fn open(&self, ctx: &SinkContext) -> Result<()> {
        self.location.ensure_dir()?;
        *self.writer_id.lock().await = Some(ctx.query_id.clone());
        Ok(())
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        let writer = self
            .writer_id
            .lock()
            .await
            .clone()
            .ok_or_else(|| TributaryError::Internal("file sink used before open()".into()))?;
        write_unit(
            &self.location,
            &self.format,
            &writer,
            epoch.0,
            &output.schema,
            &output.batches,
            self.max_records,
            &self.partition_by,
        )
        .await?;
        Ok(())
    }

    async fn holds_epoch(&self, epoch: Epoch) -> Result<bool> {
        let writer = self.writer_id.lock().await.clone();
        match writer {
            Some(w) => Ok(self
                .location
                .read(&manifest_name(&w, epoch.0))
                .await?
                .is_some()),
            None => Ok(false),
        }
    }
}
