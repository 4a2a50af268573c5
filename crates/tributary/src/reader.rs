//! `session.read()` and `session.read_stream()`: one builder, two kinds of DataFrame.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::error::{Result, TributaryError};
use crate::format::{list_data_files, BadRecordMode, BadRecords, FileFormat, FileTable};
use crate::location::Location;
use crate::session::Session;
use crate::sink::delta::delta_provider;
use crate::source::file::FileSourceOptions;
use crate::source::BackfillSource;
use crate::source::{FileStreamSource, RateStreamSource, StreamSource, StreamTable};
use crate::DataFrame;

#[derive(Debug, Clone)]
struct ReadSpec {
    session: Session,
    format: Option<String>,
    options: HashMap<String, String>,
    schema: Option<SchemaRef>,
}

impl ReadSpec {
    fn new(session: Session) -> Self {
        ReadSpec {
            session,
            format: None,
            options: HashMap::new(),
            schema: None,
        }
    }

    fn partitions(&self) -> usize {
        self.session.context().state().config().target_partitions()
    }
}

macro_rules! builder_methods {
    () => {
        /// The format: `json`, `csv`, `parquet`, `delta` (and `rate` for streams).
        pub fn format(mut self, format: &str) -> Self {
            self.spec.format = Some(format.to_ascii_lowercase());
            self
        }

        /// An option of the format or source (keys are case-insensitive).
        pub fn option(mut self, key: &str, value: impl ToString) -> Self {
            self.spec
                .options
                .insert(key.to_ascii_lowercase(), value.to_string());
            self
        }

        /// Several options.
        pub fn options<K: AsRef<str>, V: ToString>(
            mut self,
            options: impl IntoIterator<Item = (K, V)>,
        ) -> Self {
            for (k, v) in options {
                self.spec
                    .options
                    .insert(k.as_ref().to_ascii_lowercase(), v.to_string());
            }
            self
        }

        /// The schema of the data (required for file streams).
        pub fn schema(mut self, schema: SchemaRef) -> Self {
            self.spec.schema = Some(schema);
            self
        }

        /// Shortcut for `.format("json").load(path)`.
        pub async fn json(self, path: &str) -> Result<DataFrame> {
            self.format("json").load(path).await
        }

        /// Shortcut for `.format("csv").load(path)`.
        pub async fn csv(self, path: &str) -> Result<DataFrame> {
            self.format("csv").load(path).await
        }

        /// Shortcut for `.format("parquet").load(path)`.
        pub async fn parquet(self, path: &str) -> Result<DataFrame> {
            self.format("parquet").load(path).await
        }

        /// Shortcut for `.format("delta").load(path)`.
        pub async fn delta(self, path: &str) -> Result<DataFrame> {
            self.format("delta").load(path).await
        }
    };
}

/// Reads data at rest: `session.read()`.
#[derive(Debug, Clone)]
pub struct DataFrameReader {
    spec: ReadSpec,
}

impl DataFrameReader {
    pub(crate) fn new(session: Session) -> Self {
        DataFrameReader {
            spec: ReadSpec::new(session),
        }
    }

    builder_methods!();

    /// Read the data at `path` as a batch DataFrame. With `backfill_path`: the archive's rows
    /// before `backfill_boundary` and this source's rows from it on, as the stream reads them.
    pub async fn load(self, path: &str) -> Result<DataFrame> {
        if let Some(b) = Backfill::of(&self.spec)? {
            let live = Box::pin(
                DataFrameReader {
                    spec: b.live.clone(),
                }
                .load(path),
            )
            .await?;
            let archive = Box::pin(
                DataFrameReader {
                    spec: b.archive.clone(),
                }
                .load(&b.path),
            )
            .await?;
            return b.union(archive, live);
        }
        let spec = self.spec;
        let format = spec.format.clone().unwrap_or_else(|| "parquet".into());
        let ctx = spec.session.context();
        #[cfg(feature = "kafka")]
        if format == "kafka" {
            // A topic read as a batch: starting_offsets (default earliest) to ending_offsets.
            let source = kafka_source(&spec.options, spec.schema.clone(), false, path)?;
            let (start, end) = source.batch_range().await?;
            let (batches, bad) = source.read_range(start, end).await?;
            if bad.count() > 0 {
                // A broker address is no folder: by default bad records go under the
                // system's temporary folder, named after it (the warning says where).
                let dir = match source.bad_records_path() {
                    Some(d) => d,
                    None => Location::resolve(
                        &std::env::temp_dir()
                            .join("tributary-bad-records")
                            .join(path.replace([':', '/', ','], "_"))
                            .display()
                            .to_string(),
                    )?,
                };
                dir.ensure_dir()?;
                bad.flush_to(&dir, "batch-kafka.json").await?;
            }
            let table = datafusion::datasource::MemTable::try_new(
                StreamSource::schema(&source),
                vec![batches],
            )
            .map_err(TributaryError::df("a Kafka batch read"))?;
            return ctx
                .read_table(Arc::new(table))
                .map_err(TributaryError::df("reading Kafka as a batch"));
        }
        if format == "postgres" {
            return read_postgres(&spec, path).await;
        }
        let location = Location::resolve(path)?;
        if format == "delta" {
            let version = match spec
                .options
                .get("version_as_of")
                .or(spec.options.get("versionasof"))
            {
                None => None,
                Some(v) => Some(v.parse::<i64>().map_err(|_| {
                    TributaryError::option("version_as_of", format!("'{v}' is not a table version"))
                })?),
            };
            let timestamp = match spec
                .options
                .get("timestamp_as_of")
                .or(spec.options.get("timestampasof"))
            {
                None => None,
                Some(t) => Some(crate::source::delta::parse_timestamp_ms(
                    "timestamp_as_of",
                    t,
                )?),
            };
            if version.is_some() && timestamp.is_some() {
                return Err(TributaryError::option(
                    "version_as_of",
                    "give version_as_of or timestamp_as_of, not both",
                ));
            }
            let provider = delta_provider(&location, &ctx.state(), version, timestamp).await?;
            return ctx
                .read_table(provider)
                .map_err(TributaryError::df(format!("reading Delta table '{path}'")));
        }
        let file_format = FileFormat::parse(&format, &spec.options)?;
        let files = list_data_files(&location).await?;
        let schema = match &spec.schema {
            Some(s) => s.clone(),
            None => {
                let mut samples = Vec::new();
                for f in files.iter().take(8) {
                    if let Some(b) = location.read(&f.name).await? {
                        samples.push(b);
                    }
                }
                if samples.is_empty() {
                    return Err(TributaryError::Plan(format!(
                        "no {format} files at '{path}' to infer a schema from: give the schema with .schema(..)"
                    )));
                }
                Arc::new(crate::format::infer_schema(&file_format, &samples)?)
            }
        };
        let opts = FileSourceOptions::parse(&spec.options, spec.partitions())?;
        let bad = Arc::new(BadRecords::new(opts.mode.clone()));
        let table = FileTable::new(location, files, file_format, schema, bad, opts.partitions)
            .map_err(TributaryError::df("planning the files"))?
            .with_bad_records_path(opts.bad_records_path);
        spec.session.track_scan(&table.progress());
        ctx.read_table(Arc::new(table))
            .map_err(TributaryError::df(format!("reading '{path}'")))
    }
}

/// Reads data in motion: `session.read_stream()`.
#[derive(Debug, Clone)]
pub struct DataStreamReader {
    spec: ReadSpec,
}

impl DataStreamReader {
    pub(crate) fn new(session: Session) -> Self {
        DataStreamReader {
            spec: ReadSpec::new(session),
        }
    }

    builder_methods!();

    /// Shortcut for `.format("rate").load("")`.
    pub async fn rate(self) -> Result<DataFrame> {
        self.format("rate").load("").await
    }

    /// A DataFrame over a memory stream of batches pushed from Rust.
    pub fn memory(self, stream: &crate::MemoryStream) -> Result<DataFrame> {
        self.source(Arc::new(stream.clone()))
    }

    /// A DataFrame over any source.
    pub fn source(self, source: Arc<dyn StreamSource>) -> Result<DataFrame> {
        self.spec
            .session
            .context()
            .read_table(Arc::new(StreamTable::new(source)))
            .map_err(TributaryError::df("reading a stream"))
    }

    /// Read the data at `path` as a streaming DataFrame. With `backfill_path`, the stream
    /// first reads that archive up to `backfill_boundary` (see [`BackfillSource`]).
    pub async fn load(self, path: &str) -> Result<DataFrame> {
        if let Some(b) = Backfill::of(&self.spec)? {
            let live = DataStreamReader { spec: b.live }.build(path).await?;
            let archive = DataStreamReader { spec: b.archive }.build(&b.path).await?;
            let source = BackfillSource::try_new(
                archive,
                live,
                &b.column,
                &b.boundary,
                self.spec.session.context().clone(),
            )?;
            return self.source(Arc::new(source));
        }
        let source = self.clone().build(path).await?;
        self.source(source)
    }

    async fn build(self, path: &str) -> Result<Arc<dyn StreamSource>> {
        let spec = self.spec.clone();
        let format = spec.format.clone().ok_or_else(|| {
            TributaryError::Plan(
                "read_stream() needs a format: .format(\"json\"), .json(path), .rate(), ...".into(),
            )
        })?;
        let source: Arc<dyn StreamSource> = match format.as_str() {
            "rate" => {
                let rps = parse_num(&spec.options, "rows_per_second", 1)?;
                let parts = parse_num(&spec.options, "num_partitions", 1)? as usize;
                Arc::new(RateStreamSource::new(rps, parts)?)
            }
            "delta" => {
                let options = crate::source::DeltaSourceOptions::parse(&spec.options)?;
                Arc::new(
                    crate::source::DeltaStreamSource::try_new(
                        Location::resolve(path)?,
                        options,
                        spec.session.context().clone(),
                    )
                    .await?,
                )
            }
            "kafka" => Arc::new(kafka_source(
                &spec.options,
                spec.schema.clone(),
                true,
                path,
            )?),
            other => {
                let file_format = FileFormat::parse(other, &spec.options)?;
                let schema = spec.schema.clone().ok_or_else(|| {
                    TributaryError::Plan(format!(
                        "a {other} stream at '{path}' needs a schema: files that arrive later must all \
                         read the same way, so streams do not infer one; pass .schema(..) (or declare \
                         the columns in the job file's CREATE UNBOUNDED EXTERNAL TABLE)"
                    ))
                })?;
                let location = Location::resolve(path)?;
                let opts = FileSourceOptions::parse(&spec.options, spec.partitions())?;
                let _ = BadRecordMode::default();
                Arc::new(FileStreamSource::new(location, file_format, schema, opts))
            }
        };
        Ok(source)
    }
}

/// The options of a backfill-then-stream read, split into the archive's and the live side's.
struct Backfill {
    path: String,
    column: String,
    boundary: String,
    archive: ReadSpec,
    live: ReadSpec,
}

impl Backfill {
    fn of(spec: &ReadSpec) -> Result<Option<Backfill>> {
        let Some(path) = spec.options.get("backfill_path").cloned() else {
            return Ok(None);
        };
        let need = |k: &str| {
            spec.options.get(k).cloned().ok_or_else(|| {
                TributaryError::option(
                    k,
                    "a backfill needs backfill_path, backfill_boundary_column and \
                     backfill_boundary (the value where the live source takes over)",
                )
            })
        };
        let column = need("backfill_boundary_column")?;
        let boundary = need("backfill_boundary")?;
        let mut live = spec.clone();
        live.options.retain(|k, _| !k.starts_with("backfill_"));
        let mut archive = ReadSpec::new(spec.session.clone());
        archive.format = Some(
            spec.options
                .get("backfill_format")
                .cloned()
                .unwrap_or_else(|| "delta".into()),
        );
        if archive.format.as_deref() != Some("delta") {
            archive.schema = spec.schema.clone();
        }
        // `backfill_option.<key>`: options of the archive's format.
        for (k, v) in &spec.options {
            if let Some(key) = k.strip_prefix("backfill_option.") {
                archive.options.insert(key.to_string(), v.clone());
            }
        }
        Ok(Some(Backfill {
            path,
            column,
            boundary,
            archive,
            live,
        }))
    }

    /// The batch answer: the archive before the boundary, the live data from it.
    fn union(self, archive: DataFrame, live: DataFrame) -> Result<DataFrame> {
        let field = live
            .schema()
            .as_arrow()
            .field_with_name(&self.column)
            .map_err(|_| {
                TributaryError::option(
                    "backfill_boundary_column",
                    format!("the live source has no column '{}'", self.column),
                )
            })?
            .clone();
        let boundary = datafusion::scalar::ScalarValue::try_from_string(
            self.boundary.clone(),
            field.data_type(),
        )
        .map_err(|e| TributaryError::option("backfill_boundary", e.to_string()))?;
        let c = || datafusion::prelude::ident(&self.column);
        let bound = datafusion::prelude::lit(boundary);
        let columns: Vec<datafusion::prelude::Expr> = live
            .schema()
            .as_arrow()
            .fields()
            .iter()
            .map(|f| {
                datafusion::logical_expr::cast(
                    datafusion::prelude::ident(f.name()),
                    f.data_type().clone(),
                )
                .alias(f.name())
            })
            .collect();
        let archive = archive
            .filter(c().lt(bound.clone()))
            .and_then(|d| d.select(columns.clone()))
            .map_err(TributaryError::df("reading the backfill archive"))?;
        let live = live
            .filter(c().gt_eq(bound))
            .and_then(|d| d.select(columns))
            .map_err(TributaryError::df("reading the live side of a backfill"))?;
        archive
            .union(live)
            .map_err(TributaryError::df("joining archive and live data"))
    }
}

fn parse_num(options: &HashMap<String, String>, key: &str, default: u64) -> Result<u64> {
    match options
        .get(key)
        .or_else(|| options.get(&key.replace('_', "")))
    {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| TributaryError::option(key, format!("'{v}' is not a whole number"))),
    }
}

/// A PostgreSQL table as a batch: `path` is the connection string, option `table` the table
/// (`dbtable`, as Spark's JDBC source, also works); a given schema picks and casts the columns.
#[cfg(feature = "postgres")]
async fn read_postgres(spec: &ReadSpec, path: &str) -> Result<DataFrame> {
    let table = spec
        .options
        .get("table")
        .or(spec.options.get("dbtable"))
        .ok_or_else(|| {
            TributaryError::option(
                "table",
                "a PostgreSQL read needs the table: .option(\"table\", \"schema.name\")",
            )
        })?;
    let provider =
        crate::postgres::PostgresTable::try_new(path, table, spec.schema.clone()).await?;
    spec.session
        .context()
        .read_table(Arc::new(provider))
        .map_err(TributaryError::df(format!(
            "reading PostgreSQL table '{table}'"
        )))
}

#[cfg(not(feature = "postgres"))]
async fn read_postgres(_spec: &ReadSpec, _path: &str) -> Result<DataFrame> {
    Err(TributaryError::Plan(
        "this build of Tributary has no PostgreSQL support: build it with the 'postgres' feature"
            .into(),
    ))
}

/// The Kafka options, with `path` (a job file's LOCATION) as the bootstrap servers when
/// `kafka.bootstrap.servers` is not given.
#[cfg(feature = "kafka")]
pub(crate) fn with_bootstrap(
    options: &HashMap<String, String>,
    path: &str,
) -> HashMap<String, String> {
    let mut options = options.clone();
    if !path.is_empty() && !options.contains_key("kafka.bootstrap.servers") {
        options.insert("kafka.bootstrap.servers".into(), path.to_string());
    }
    options
}

#[cfg(feature = "kafka")]
fn kafka_source(
    options: &HashMap<String, String>,
    schema: Option<arrow::datatypes::SchemaRef>,
    streaming: bool,
    path: &str,
) -> Result<crate::kafka::KafkaSource> {
    let options = &with_bootstrap(options, path);
    let opts = crate::kafka::KafkaOptions::parse(options.iter(), streaming, true)?;
    let mode = BadRecordMode::parse(options.get("mode"))?;
    let bad_path = match options.get("bad_records_path") {
        Some(p) => Some(Location::resolve(p)?),
        None => None,
    };
    // A declared schema means: decode the values as JSON into it.
    let opts = match (&schema, opts.value_format) {
        (Some(_), crate::kafka::ValueFormat::Raw) if !options.contains_key("value_format") => {
            crate::kafka::KafkaOptions {
                value_format: crate::kafka::ValueFormat::Json,
                ..opts
            }
        }
        _ => opts,
    };
    crate::kafka::KafkaSource::new(opts, schema, mode, bad_path)
}

#[cfg(not(feature = "kafka"))]
fn kafka_source(
    _options: &HashMap<String, String>,
    _schema: Option<arrow::datatypes::SchemaRef>,
    _streaming: bool,
    _path: &str,
) -> Result<std::convert::Infallible> {
    Err(TributaryError::Plan(
        "this build of Tributary has no Kafka support: build it with the 'kafka' feature".into(),
    ))
}
