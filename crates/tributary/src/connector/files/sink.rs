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
            writer_id: tokio::sync::Mutex::new(None),
        })
    }
}

/// The manifest name of one writer's epoch.
pub(crate) fn manifest_name(writer: &str, epoch: u64) -> String {
    format!("{MANIFEST_DIR}/{writer}_{epoch:020}")
}

/// Encode batches as one file's bytes.
pub(crate) fn encode_file(
    format: &FileFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>> {
    match format {
        FileFormat::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut buf = Vec::new();
            let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props))
                .map_err(|e| TributaryError::Plan(format!("writing Parquet: {e}")))?;
            for b in batches {
                w.write(b)
                    .map_err(|e| TributaryError::Plan(format!("writing Parquet: {e}")))?;
            }
            w.close()
                .map_err(|e| TributaryError::Plan(format!("writing Parquet: {e}")))?;
            Ok(buf)
        }
        FileFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
            for b in batches {
                w.write(b).map_err(TributaryError::arrow("writing JSON"))?;
            }
            w.finish().map_err(TributaryError::arrow("writing JSON"))?;
            Ok(w.into_inner())
        }
        FileFormat::Csv { .. } => Err(TributaryError::Plan("CSV output is not supported".into())),
    }
}

/// Write one committed unit (an epoch, or a batch job) as data files plus a manifest.
/// Returns false when the unit was already committed.
pub(crate) async fn write_unit(
    location: &Location,
    format: &FileFormat,
    writer: &str,
    epoch: u64,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<bool> {
    let manifest = manifest_name(writer, epoch);
    if location.read(&manifest).await?.is_some() {
        return Ok(false);
    }
    let mut files = Vec::new();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows > 0 {
        let attempt = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("part-{epoch:05}-{}.{}", &attempt[..12], format.extension());
        let bytes = encode_file(format, schema, batches)?;
        location.write(&name, bytes).await?;
        files.push(name);
    }
    let body = codec::encode(&crate::format::listing_manifest(files));
    location.write_new(&manifest, body).await
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
