//! `session.read()` and `session.read_stream()`: one builder, two kinds of DataFrame.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::connector::{resolve_options, Options, ReadContext, SourceConnector, READ_OPTIONS};
use crate::error::{Result, TributaryError};
use crate::session::Session;
use crate::source::BackfillSource;
use crate::source::{StreamSource, StreamTable};
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

    /// The connector of the format and the options checked against its declarations (and
    /// those of every read): a misspelled option stops here.
    fn resolve(&self, default: Option<&str>) -> Result<(Arc<dyn SourceConnector>, Options)> {
        let format = self.format.as_deref().or(default).ok_or_else(|| {
            TributaryError::Plan(
                "read_stream() needs a format: .format(\"json\"), .json(path), .rate(), ...".into(),
            )
        })?;
        let connector = self.session.connectors().source(format)?;
        let mut groups: Vec<&[crate::connector::OptionDecl]> = connector.options().to_vec();
        groups.push(READ_OPTIONS);
        let options = resolve_options(
            &format!("format '{}'", connector.name()),
            &groups,
            self.options.iter(),
        )?;
        Ok((connector, options))
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
        let (_, options) = self.spec.resolve(Some("parquet"))?;
        if let Some(b) = Backfill::of(&self.spec, &options)? {
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
        let (connector, options) = spec.resolve(Some("parquet"))?;
        let table = connector
            .read(ReadContext {
                session: &spec.session,
                path,
                options: &options,
                schema: spec.schema.as_ref(),
            })
            .await?;
        spec.session
            .context()
            .read_table(table)
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
        let (_, options) = self.spec.resolve(None)?;
        if let Some(b) = Backfill::of(&self.spec, &options)? {
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
        let spec = self.spec;
        let (connector, options) = spec.resolve(None)?;
        connector
            .read_stream(ReadContext {
                session: &spec.session,
                path,
                options: &options,
                schema: spec.schema.as_ref(),
            })
            .await
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
    fn of(spec: &ReadSpec, options: &Options) -> Result<Option<Backfill>> {
        let Some(path) = options.given("backfill_path").map(str::to_string) else {
            return Ok(None);
        };
        let need = |k: &str| {
            options.given(k).map(str::to_string).ok_or_else(|| {
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
        live.options = options
            .as_map()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("backfill_"))
            .collect();
        let mut archive = ReadSpec::new(spec.session.clone());
        archive.format = options.text("backfill_format").map(str::to_string);
        if archive.format.as_deref() != Some("delta") {
            archive.schema = spec.schema.clone();
        }
        // `backfill_option.<key>`: options of the archive's format.
        archive.options = options
            .with_prefix("backfill_option.")
            .into_iter()
            .collect();
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
