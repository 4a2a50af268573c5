//! Running a job file: as streaming queries (`run`), as batch jobs (`batch`), or both with a
//! comparison (`verify`).

use std::collections::HashMap;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use datafusion::logical_expr::{cast, Expr};
use tributary::connector::{OptionDecl, OptionScope, OptionType, QUERY_OPTIONS, READ_OPTIONS};
use tributary::evolution::EvolutionReport;
use tributary::format::sql_type;
use tributary::prelude::*;
use tributary::store_assignment;
use tributary::{compare_batches, Comparison, StreamingQuery, WriteSummary};

use crate::error::JobError;
use crate::job::{InsertStmt, JobFile, TableDecl};

/// How to run a job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// Checkpoints go to `<checkpoint_root>/<query name>`.
    pub checkpoint_root: PathBuf,
    /// The trigger of every query.
    pub trigger: Trigger,
}

/// The result of `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Every sink got the same rows from the stream as from the batch.
    Identical {
        /// Rows compared, per sink.
        rows: Vec<(String, usize)>,
    },
    /// A sink differs.
    Different {
        /// The sink.
        sink: String,
        /// The comparison (batch on the left, stream on the right).
        comparison: Comparison,
    },
}

/// A table of a job and the options a batch read of it takes.
pub type ReadableTable = (TableDecl, HashMap<String, String>);

/// Runs the statements of a job file in a session.
#[derive(Debug, Clone)]
pub struct JobRunner {
    session: Session,
    job: JobFile,
}

enum Mode {
    Stream,
    Batch,
}

/// Options of a job file's table that belong to the job, not to a connector.
const TABLE_OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "watermark_column",
        OptionType::Text,
        "the event-time column of the table's watermark (with watermark_delay)",
    ),
    OptionDecl::new(
        "watermark_delay",
        OptionType::Duration,
        "how late a row may arrive, e.g. '10 minutes' (with watermark_column)",
    ),
];

/// A table's options split by role: what its source reads with and what its sink writes with.
#[derive(Debug, Default)]
struct RoleOptions {
    source: HashMap<String, String>,
    sink: HashMap<String, String>,
}

impl JobRunner {
    /// A new session with this runner's storage settings (verify's batch and stream runs).
    fn sibling_session(&self) -> Session {
        let s = Session::new();
        for (k, v) in self.session.storage_options().iter() {
            s.set_storage_option(k, v)
                .expect("storage options already checked by the session that holds them");
        }
        s
    }

    /// A runner for `job` in `session`.
    pub fn new(session: Session, job: JobFile) -> Self {
        JobRunner { session, job }
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The job.
    pub fn job(&self) -> &JobFile {
        &self.job
    }

    /// Split `t`'s options by role. A sink table is also the source of later queries that read
    /// it, so it may carry both kinds; an option no role knows is an error that names the table
    /// and the nearest known option.
    fn options_of(&self, t: &TableDecl) -> Result<RoleOptions, JobError> {
        let connectors = self.session.connectors();
        let is_sink = self.job.is_sink(&t.name);
        let mut source_groups: Vec<&[OptionDecl]> = vec![TABLE_OPTIONS, READ_OPTIONS];
        let source = connectors.source(&t.format);
        if let Ok(c) = &source {
            source_groups.extend_from_slice(c.options());
        }
        if !is_sink {
            // A source table's format must be a source format.
            source?;
        }
        let mut sink_groups: Vec<&[OptionDecl]> = vec![QUERY_OPTIONS];
        let sink = if is_sink {
            Some(connectors.sink(&t.format)?)
        } else {
            None
        };
        if let Some(c) = &sink {
            sink_groups.extend_from_slice(c.options());
        }
        let owner = format!("table '{}' (format '{}')", t.name, t.format);
        let sources = OptionScope {
            owner: &owner,
            groups: &source_groups,
        };
        let sinks = OptionScope {
            owner: &owner,
            groups: &sink_groups,
        };
        let mut out = RoleOptions::default();
        for (k, v) in &t.options {
            if sink.is_some() && sinks.find(k).is_some() {
                out.sink.insert(k.clone(), v.clone());
            } else if sources.find(k).is_some() {
                out.source.insert(k.clone(), v.clone());
            } else {
                let mut all = source_groups.clone();
                if sink.is_some() {
                    all.extend_from_slice(&sink_groups);
                }
                let scope = OptionScope {
                    owner: &owner,
                    groups: &all,
                };
                return Err(JobError::from(scope.unknown(k)));
            }
            // The value's type is checked by the reader or writer that takes it.
        }
        Ok(out)
    }

    async fn register_sources(
        &self,
        mode: &Mode,
        overrides: &HashMap<String, String>,
    ) -> Result<(), JobError> {
        for t in &self.job.tables {
            if self.job.is_sink(&t.name) {
                // Checked now, so that a misspelled option stops the job before it starts.
                self.options_of(t)?;
                continue;
            }
            let mut options = self.options_of(t)?.source;
            let watermark = Self::watermark_of(&t.name, &mut options)?;
            if options.contains_key("bad_records_path") {
                if let Some(dir) = overrides.get("bad_records_root") {
                    options.insert("bad_records_path".into(), format!("{dir}/{}", t.name));
                }
            }
            let df = match (mode, t.unbounded) {
                (Mode::Stream, true) => {
                    let mut r = self
                        .session
                        .read_stream()
                        .format(&t.format)
                        .options(options.iter());
                    if !t.schema.fields().is_empty() {
                        r = r.schema(t.schema.clone());
                    }
                    r.load(&t.location).await?
                }
                _ => {
                    if t.format == "rate" {
                        return Err(JobError::Invalid(format!(
                            "table '{}' is a rate source, which only exists as a stream: `batch` and `verify` cannot read it",
                            t.name
                        )));
                    }
                    let mut r = self
                        .session
                        .read()
                        .format(&t.format)
                        .options(options.iter());
                    if !t.schema.fields().is_empty() && t.format != "delta" {
                        r = r.schema(t.schema.clone());
                    }
                    r.load(&t.location).await?
                }
            };
            let df = match watermark {
                Some((column, delay)) => df.with_watermark(&column, &delay)?,
                None => df,
            };
            self.session.register(&t.name, df)?;
        }
        Ok(())
    }

    /// The Delta sinks of earlier INSERTs that INSERT `i` reads: the links of a chain of
    /// queries (bronze -> silver -> gold) in one job.
    fn upstream_of(&self, i: usize) -> Result<Vec<&TableDecl>, JobError> {
        let tokens: Vec<String> = self.job.inserts[i]
            .query
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .collect();
        let words: std::collections::HashSet<&str> = tokens.iter().map(String::as_str).collect();
        // Read as a table: right after FROM or JOIN (not a column, alias or literal of that name).
        let read_as_table = |name: &str| {
            tokens
                .windows(2)
                .any(|w| (w[0] == "from" || w[0] == "join") && w[1] == name)
        };
        let mut out: Vec<&TableDecl> = Vec::new();
        for earlier in &self.job.inserts[..i] {
            if let Some(t) = self.job.table(&earlier.target) {
                let name = t.name.to_lowercase();
                if !words.contains(name.as_str()) || out.iter().any(|o| o.name == t.name) {
                    continue;
                }
                if t.format != "delta" && read_as_table(&name) {
                    // Only a Delta table is read back as its writer commits (a stream of its
                    // versions); anything else would fail later as a table that does not exist.
                    return Err(JobError::Invalid(format!(
                        "INSERT INTO {} reads {}, which an earlier INSERT of this job writes as {}: \
                         a query reads another's output through a Delta table; declare {} \
                         STORED AS DELTA",
                        self.job.inserts[i].target,
                        t.name,
                        t.format.to_uppercase(),
                        t.name
                    )));
                }
                if t.format == "delta" {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    /// Register an upstream sink table as a source of the queries after it.
    async fn register_upstream(
        &self,
        table: &TableDecl,
        location: &str,
        stream: bool,
    ) -> Result<(), JobError> {
        let mut options = self.options_of(table)?.source;
        let watermark = Self::watermark_of(&table.name, &mut options)?;
        let df = if stream {
            self.session
                .read_stream()
                .format("delta")
                .options(options.iter())
                .load(location)
                .await?
        } else {
            self.session
                .read()
                .format("delta")
                .options(options.iter())
                .load(location)
                .await?
        };
        let df = match watermark {
            Some((column, delay)) => df.with_watermark(&column, &delay)?,
            None => df,
        };
        let _ = self.session.context().deregister_table(table.name.as_str());
        self.session.register(&table.name, df)?;
        Ok(())
    }

    /// The tables of the job that can be read at rest (Delta, Parquet, JSON, CSV, PostgreSQL),
    /// each with the options a batch read of it takes: what `tributary serve` serves. A sink
    /// table's own write options (output mode, merge keys, ...) are left out.
    pub fn readable_tables(&self) -> Result<Vec<ReadableTable>, JobError> {
        const READABLE: &[&str] = &["delta", "parquet", "json", "csv", "postgres"];
        let connectors = self.session.connectors();
        let mut out = Vec::new();
        for t in &self.job.tables {
            if !READABLE.contains(&t.format.as_str()) {
                continue;
            }
            // Checks every option of the table, as `run` does.
            self.options_of(t)?;
            let Ok(source) = connectors.source(&t.format) else {
                continue;
            };
            let mut groups: Vec<&[OptionDecl]> = vec![READ_OPTIONS];
            groups.extend_from_slice(source.options());
            let owner = format!("table '{}'", t.name);
            let scope = OptionScope {
                owner: &owner,
                groups: &groups,
            };
            let options = t
                .options
                .iter()
                .filter(|(k, _)| scope.find(k).is_some())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.push((t.clone(), options));
        }
        Ok(out)
    }

    /// The table options `watermark_column` and `watermark_delay` (taken out of `options`).
    fn watermark_of(
        table: &str,
        options: &mut HashMap<String, String>,
    ) -> Result<Option<(String, String)>, JobError> {
        match (
            options.remove("watermark_column"),
            options.remove("watermark_delay"),
        ) {
            (None, None) => Ok(None),
            (Some(c), Some(d)) => Ok(Some((c, d))),
            (Some(c), None) => Err(JobError::Invalid(format!(
                "table '{table}' sets 'watermark_column' '{c}' without 'watermark_delay': add \
                 e.g. 'watermark_delay' '10 minutes' (how late a row may arrive)"
            ))),
            (None, Some(_)) => Err(JobError::Invalid(format!(
                "table '{table}' sets 'watermark_delay' without 'watermark_column': name the \
                 event-time column, e.g. 'watermark_column' 'event_time'"
            ))),
        }
    }

    /// The DataFrame of an INSERT, with the sink's column names and types.
    async fn insert_df(&self, ins: &InsertStmt) -> Result<DataFrame, JobError> {
        // The types its rows will have (a union of BIGINT and DOUBLE is DOUBLE).
        let df = self.session.sql(&ins.query).await?.with_resolved_types()?;
        let sink = self.job.table(&ins.target).expect("checked at parse time");
        // A CDC apply sink takes the change rows as they are: the operation column (or
        // Debezium's envelope) is not a column of the table.
        if sink.schema.fields().is_empty() || sink.options.contains_key("cdc_keys") {
            return Ok(df);
        }
        let out_cols = df.schema().columns();
        let targets: Vec<&str> = if ins.columns.is_empty() {
            sink.schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect()
        } else {
            ins.columns.iter().map(String::as_str).collect()
        };
        if out_cols.len() != targets.len() {
            return Err(JobError::Invalid(format!(
                "INSERT INTO {}: the SELECT gives {} columns ({}) but the table takes {} ({})",
                ins.target,
                out_cols.len(),
                out_cols
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                targets.len(),
                targets.join(", ")
            )));
        }
        let mut given: HashMap<String, Expr> = HashMap::new();
        for (c, name) in out_cols.into_iter().zip(targets) {
            let field = sink.schema.field_with_name(name).map_err(|_| {
                JobError::Invalid(format!(
                    "INSERT INTO {}: the table has no column '{name}'",
                    ins.target
                ))
            })?;
            let from = df
                .schema()
                .qualified_field_from_column(&c)
                .map(|(_, f)| f.data_type().clone());
            if let Ok(from) = &from {
                if !store_assignment::can_assign(from, field.data_type()) {
                    let (from, to) = (sql_type(from), sql_type(field.data_type()));
                    return Err(JobError::Invalid(format!(
                        "INSERT INTO {}: column '{name}' is {to} in the table but the SELECT \
                         gives {from} ('{}'), which is not cast implicitly (a value that does \
                         not convert would stop the query at that row; Spark's store assignment \
                         refuses it too): cast it in the SELECT, CAST({} AS {to}), or TRY_CAST \
                         to write NULL where a value does not convert",
                        ins.target, c.name, c.name
                    )));
                }
            }
            if given
                .insert(
                    name.to_string(),
                    match &from {
                        // A narrowing cast stops the query naming the column, as Spark's.
                        Ok(from) => {
                            store_assignment::assign(Expr::Column(c), from, field.data_type(), name)
                        }
                        Err(_) => cast(Expr::Column(c), field.data_type().clone()),
                    }
                    .alias(name),
                )
                .is_some()
            {
                return Err(JobError::Invalid(format!(
                    "INSERT INTO {} names column '{name}' twice",
                    ins.target
                )));
            }
        }
        // The table's columns in its declared order; one the INSERT does not name is NULL (as
        // in Spark, whose default for a column without one is NULL).
        let exprs: Vec<Expr> = sink
            .schema
            .fields()
            .iter()
            .map(|f| {
                given.remove(f.name()).unwrap_or_else(|| {
                    cast(
                        datafusion::logical_expr::lit(datafusion::common::ScalarValue::Null),
                        f.data_type().clone(),
                    )
                    .alias(f.name())
                })
            })
            .collect();
        df.select(exprs).map_err(|e| JobError::Sql(e.to_string()))
    }

    fn sink_format(t: &TableDecl) -> String {
        t.format.clone()
    }

    /// Each query's name and checkpoint: under `root`, or where its sink table's
    /// `checkpoint_location` option puts it.
    pub fn checkpoints(&self, root: &std::path::Path) -> Result<Vec<(String, String)>, JobError> {
        let mut out = Vec::new();
        for (ins, name) in self.job.inserts.iter().zip(self.job.query_names()) {
            let sink = self.job.table(&ins.target).expect("checked");
            let at = self
                .own_checkpoint(sink)?
                .unwrap_or_else(|| root.join(&name).display().to_string());
            out.push((name, at));
        }
        Ok(out)
    }

    /// The checkpoint a sink table's own options name (`checkpoint_location` or an alias).
    fn own_checkpoint(&self, sink: &TableDecl) -> Result<Option<String>, JobError> {
        let query = OptionScope {
            owner: &sink.name,
            groups: &[QUERY_OPTIONS],
        };
        Ok(self.options_of(sink)?.sink.into_iter().find_map(|(k, v)| {
            query
                .find(&k)
                .is_some_and(|d| d.name == "checkpoint_location")
                .then_some(v)
        }))
    }

    /// `run`: start one streaming query per INSERT, all in this process.
    pub async fn start(&self, opts: &JobOptions) -> Result<Vec<StreamingQuery>, JobError> {
        self.start_with(opts, &HashMap::new(), None, None).await
    }

    /// `plan`: compare each INSERT's query with the one that wrote its checkpoint, without
    /// starting it: per query, the verdict on each stateful operator's state (None: the
    /// checkpoint is new).
    pub async fn plan(
        &self,
        opts: &JobOptions,
    ) -> Result<Vec<(String, Option<EvolutionReport>)>, JobError> {
        let mut reports = Vec::new();
        self.start_with(opts, &HashMap::new(), None, Some(&mut reports))
            .await?;
        Ok(reports)
    }

    async fn start_with(
        &self,
        opts: &JobOptions,
        overrides: &HashMap<String, String>,
        output_root: Option<&PathBuf>,
        mut check: Option<&mut Vec<(String, Option<EvolutionReport>)>>,
    ) -> Result<Vec<StreamingQuery>, JobError> {
        self.register_sources(&Mode::Stream, overrides).await?;
        let mut queries: Vec<StreamingQuery> = Vec::new();
        // Sink table -> (location, index of its query, schema written).
        let mut written: HashMap<String, (String, usize, arrow::datatypes::SchemaRef)> =
            HashMap::new();
        // A run that ends by itself (available-now, once) runs a chain link by link: the
        // next query starts when the one it reads from has read everything.
        let sequential = matches!(opts.trigger, Trigger::AvailableNow | Trigger::Once);
        for (i, (ins, name)) in self
            .job
            .inserts
            .iter()
            .zip(self.job.query_names())
            .enumerate()
        {
            let sink = self.job.table(&ins.target).expect("checked");
            for up in self.upstream_of(i)? {
                let (location, j, schema) = written[&up.name].clone();
                if sequential && check.is_none() {
                    queries[j].await_termination().await?;
                }
                let table = self.session.location(
                    &location,
                    &tributary::storage::StorageOptions::from_pairs(&up.options)?,
                )?;
                tributary::sink::create_table_if_missing(&table, schema, &up.options).await?;
                self.register_upstream(up, &location, true).await?;
            }
            let df = self.insert_df(ins).await?;
            let location = match output_root {
                Some(root) => root.join(&name).display().to_string(),
                None => sink.location.clone(),
            };
            if !df.is_streaming() {
                return Err(JobError::Invalid(format!(
                    "INSERT INTO {}: the query reads no UNBOUNDED table, so it has nothing to \
                     stream; declare its source with CREATE UNBOUNDED EXTERNAL TABLE, or run the \
                     job once with `tributary batch`",
                    ins.target
                )));
            }
            let df_schema = df.schema().as_arrow().clone();
            let mut w = df
                .write_stream()
                .format(&Self::sink_format(sink))
                .trigger(opts.trigger)
                .query_name(&name);
            // Under the job's checkpoint root, unless the sink table places its own.
            if self.own_checkpoint(sink)?.is_none() {
                w = w.option(
                    "checkpoint_location",
                    opts.checkpoint_root.join(&name).display(),
                );
            }
            let query_options = OptionScope {
                owner: &sink.name,
                groups: &[QUERY_OPTIONS],
            };
            for (k, v) in &self.options_of(sink)?.sink {
                // Under any of its spellings: a bounded run (available-now, once; `verify`)
                // keeps its own trigger, and an override of `flush_at_end` wins.
                let name = query_options.find(k).map(|d| d.name);
                if name == Some("trigger") && sequential {
                    // Replaced for this run, but still the table's: a bad one is an error now,
                    // not when the job is next run with its own trigger.
                    v.parse::<Trigger>().map_err(|e| {
                        JobError::Invalid(format!("table {}: option '{k}': {e}", sink.name))
                    })?;
                }
                if (name == Some("trigger") && sequential)
                    || (name == Some("flush_at_end") && overrides.contains_key("flush_at_end"))
                {
                    continue;
                }
                w = w.option(k, v);
            }
            if let Some(flush) = overrides.get("flush_at_end") {
                w = w.option("flush_at_end", flush);
            }
            if !sink.partition_by.is_empty() {
                w = w.option("partition_by", sink.partition_by.join(","));
            }
            let schema = if sink.schema.fields().is_empty() || sink.options.contains_key("cdc_keys")
            {
                std::sync::Arc::new(df_schema)
            } else {
                sink.schema.clone()
            };
            written.insert(sink.name.clone(), (location.clone(), i, schema));
            match check.as_mut() {
                Some(reports) => reports.push((name.clone(), w.check_state(&location).await?)),
                None => queries.push(w.start(&location).await?),
            }
        }
        Ok(queries)
    }

    /// `batch`: run every INSERT once over the tables as they are.
    pub async fn batch(&self) -> Result<Vec<(String, WriteSummary)>, JobError> {
        self.batch_with(&HashMap::new(), None).await
    }

    async fn batch_with(
        &self,
        overrides: &HashMap<String, String>,
        output_root: Option<&PathBuf>,
    ) -> Result<Vec<(String, WriteSummary)>, JobError> {
        self.register_sources(&Mode::Batch, overrides).await?;
        let mut out = Vec::new();
        let mut written: HashMap<String, String> = HashMap::new();
        for (i, (ins, name)) in self
            .job
            .inserts
            .iter()
            .zip(self.job.query_names())
            .enumerate()
        {
            let sink = self.job.table(&ins.target).expect("checked");
            for up in self.upstream_of(i)? {
                self.register_upstream(up, &written[&up.name], false)
                    .await?;
            }
            let df = self.insert_df(ins).await?;
            let location = match output_root {
                Some(root) => root.join(&name).display().to_string(),
                None => sink.location.clone(),
            };
            written.insert(sink.name.clone(), location.clone());
            if sink.format == "delta" && sink.options.contains_key("cdc_keys") {
                out.push((
                    name.clone(),
                    self.apply_changes_once(sink, &name, &location, df).await?,
                ));
                continue;
            }
            let mut writer = df
                .write()
                .format(&Self::sink_format(sink))
                .mode(SaveMode::Append)
                .partition_by(sink.partition_by.clone());
            for (k, v) in self.batch_sink_options(sink)? {
                writer = writer.option(&k, v);
            }
            let summary = writer.save(&location).await?;
            out.push((name, summary));
        }
        Ok(out)
    }

    /// The options of sink `sink` that a batch write takes: the format's own
    /// (`max_records_per_file`, a Delta table's properties, ...). The streaming query's options
    /// (trigger, output mode, checkpoint) do not apply to a batch, but their values are checked
    /// as `run` checks them: a job file wrong in one mode is wrong in both.
    fn batch_sink_options(&self, sink: &TableDecl) -> Result<Vec<(String, String)>, JobError> {
        let given = self.options_of(sink)?.sink;
        let owner = format!("table '{}' (format '{}')", sink.name, sink.format);
        let query = OptionScope {
            owner: &owner,
            groups: &[QUERY_OPTIONS],
        };
        let (of_query, of_format): (Vec<_>, Vec<_>) = given
            .into_iter()
            .partition(|(k, _)| query.find(k).is_some());
        let resolved = query.resolve(of_query.iter().map(|(k, v)| (k, v)))?;
        if let Some(t) = resolved.given("trigger") {
            t.parse::<Trigger>().map_err(|e| {
                JobError::Invalid(format!("table {}: option 'trigger': {e}", sink.name))
            })?;
        }
        Ok(of_format)
    }

    /// A CDC apply sink in a batch: the whole change set applied as one epoch, with the same
    /// code as the stream (latest change per key by sequence, deletes applied).
    async fn apply_changes_once(
        &self,
        sink: &TableDecl,
        name: &str,
        location: &str,
        df: DataFrame,
    ) -> Result<WriteSummary, JobError> {
        use tributary::sink::{DeltaSink, DeltaSinkOptions, EpochOutput, Sink, SinkContext};
        let mut options = sink.options.clone();
        if !sink.partition_by.is_empty() {
            options.insert("partition_by".into(), sink.partition_by.join(","));
        }
        let delta = DeltaSink::new(
            self.session.location(
                location,
                &tributary::storage::StorageOptions::from_pairs(&options)?,
            )?,
            DeltaSinkOptions::parse(&options)?,
        );
        let scratch =
            std::env::temp_dir().join(format!("tributary-batch-cdc-{}-{name}", std::process::id()));
        delta
            .open(&SinkContext {
                query_id: format!("batch-{name}-{}", std::process::id()),
                query_name: Some(name.to_string()),
                output_mode: OutputMode::Append,
                dir: tributary::location::Location::resolve(&scratch.display().to_string())?,
                committed_epoch: None,
                rerun_epoch: None,
                real_time: false,
            })
            .await?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let state = df.clone().into_parts().0;
        let batches = df
            .collect()
            .await
            .map_err(|e| JobError::Sql(format!("running {name}: {e}")))?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        delta
            .add_batch(
                tributary::checkpoint::Epoch(0),
                EpochOutput {
                    schema,
                    batches,
                    state,
                },
            )
            .await?;
        let _ = std::fs::remove_dir_all(&scratch);
        Ok(WriteSummary {
            rows,
            ..WriteSummary::default()
        })
    }

    /// `verify`: run the job as a batch and as a stream (AvailableNow) into temporary outputs
    /// under `workdir`, and compare what each sink got.
    pub async fn verify(&self, workdir: &std::path::Path) -> Result<VerifyOutcome, JobError> {
        for ins in &self.job.inserts {
            let sink = self.job.table(&ins.target).expect("checked");
            if !matches!(sink.format.as_str(), "delta" | "parquet" | "json") {
                return Err(JobError::Invalid(format!(
                    "verify compares outputs it can read back: sink '{}' is {}, use delta, parquet or json",
                    sink.name, sink.format
                )));
            }
        }
        let batch_root = workdir.join("batch");
        let stream_root = workdir.join("stream");
        let batch_overrides = HashMap::from([(
            "bad_records_root".to_string(),
            workdir.join("bad/batch").display().to_string(),
        )]);
        // The stream ends with the input: a final watermark closes every open window, as the
        // batch sees all of them.
        let stream_overrides = HashMap::from([
            (
                "bad_records_root".to_string(),
                workdir.join("bad/stream").display().to_string(),
            ),
            ("flush_at_end".to_string(), "true".to_string()),
        ]);
        let batch_runner = JobRunner::new(self.sibling_session(), self.job.clone());
        batch_runner
            .batch_with(&batch_overrides, Some(&batch_root))
            .await?;
        let stream_runner = JobRunner::new(self.sibling_session(), self.job.clone());
        let opts = JobOptions {
            checkpoint_root: workdir.join("checkpoints"),
            trigger: Trigger::AvailableNow,
        };
        for q in stream_runner
            .start_with(&opts, &stream_overrides, Some(&stream_root), None)
            .await?
        {
            q.await_termination().await?;
        }
        let mut rows = Vec::new();
        let reader = self.sibling_session();
        for (ins, name) in self.job.inserts.iter().zip(self.job.query_names()) {
            let sink = self.job.table(&ins.target).expect("checked");
            let read = |root: PathBuf| {
                let reader = reader.clone();
                let format = sink.format.clone();
                let path = root.join(&name).display().to_string();
                async move {
                    // A file sink that got no rows wrote no data file: nothing to read back.
                    if format != "delta" && !has_data_files(std::path::Path::new(&path)) {
                        return Ok(Vec::new());
                    }
                    let df = reader.read().format(&format).load(&path).await?;
                    df.collect()
                        .await
                        .map_err(|e| JobError::Sql(format!("reading back {path}: {e}")))
                }
            };
            let b: Vec<RecordBatch> = read(batch_root.clone()).await?;
            let s: Vec<RecordBatch> = read(stream_root.clone()).await?;
            match compare_batches(&b, &s)? {
                Comparison::Identical { rows: n } => rows.push((name.clone(), n)),
                comparison => {
                    return Ok(VerifyOutcome::Different {
                        sink: name.clone(),
                        comparison,
                    })
                }
            }
        }
        Ok(VerifyOutcome::Identical { rows })
    }
}

/// Whether the folder `dir` (a local file sink's output) holds a data file, in it or in a
/// partition folder below: not its logs (`_...`) or hidden files (`.`...).
fn has_data_files(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('_') || name.starts_with('.') {
            return false;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => has_data_files(&e.path()),
            Ok(_) => true,
            Err(_) => false,
        }
    })
}
