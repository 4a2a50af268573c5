//! The `tributary` command line: run a SQL job file as streaming queries, as a batch, or both
//! with a comparison.
//!
//! ```text
//! tributary run    JOB.sql [--set NAME=VALUE].. [--checkpoint DIR] [--trigger available-now|once|500ms|1s|1m|realtime:5s] [--ui [ADDR]] [--ui-token T]
//! tributary batch  JOB.sql [--set NAME=VALUE]..
//! tributary verify JOB.sql [--set NAME=VALUE].. [--workdir DIR]
//! tributary table  history|describe|optimize|vacuum|checkpoint PATH
//! tributary options [FORMAT]
//! ```

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod serve;
mod state;
mod submit;
mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::{Args, Parser, Subcommand};
use tributary::memory::MemoryLimit;
use tributary::storage::StorageOptions;
use tributary::{
    Comparison, QueryProgressEvent, QueryTerminatedEvent, Session, StreamingQueryListener, Trigger,
};
use tributary_sql::{substitute, JobFile, JobOptions, JobRunner, VerifyOutcome};

#[derive(Parser)]
#[command(
    name = "tributary",
    version,
    about = "One SQL job, as a batch or as an exactly-once stream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// A storage option for every location of the job or table (object_store's names, e.g.
    /// aws_region=eu-west-1, aws_endpoint_url=http://127.0.0.1:9000; repeatable). The AWS_*,
    /// AZURE_* and GOOGLE_* environment variables are read too; a table's OPTIONS win.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", global = true)]
    storage_option: Vec<String>,
    /// The memory the job's plans may hold, e.g. 512m, 4g, 60% (of the machine's), unbounded;
    /// past it, aggregations, sorts and sort-merge joins spill to the temporary folder.
    /// Default: half the machine's memory.
    #[arg(long = "memory-limit", value_name = "SIZE", global = true)]
    memory_limit: Option<String>,
}

/// What every session of this command is made with.
struct Settings {
    storage: StorageOptions,
    memory: Option<MemoryLimit>,
}

impl Settings {
    fn of(cli: &Cli) -> anyhow::Result<Self> {
        Ok(Settings {
            storage: storage_options(&cli.storage_option)?,
            memory: cli.memory_limit.as_deref().map(str::parse).transpose()?,
        })
    }
}

/// The `--storage-option KEY=VALUE` settings, checked.
fn storage_options(given: &[String]) -> anyhow::Result<StorageOptions> {
    let mut out = StorageOptions::new();
    for s in given {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--storage-option {s}: expected KEY=VALUE"))?;
        out.set(k.trim(), v)?;
    }
    Ok(out)
}

/// A session whose locations use the storage options, held to the memory limit.
fn new_session(settings: &Settings) -> anyhow::Result<Session> {
    let session = Session::new();
    for (k, v) in settings.storage.iter() {
        session.set_storage_option(k, v)?;
    }
    if let Some(limit) = settings.memory {
        session.set_memory_limit(limit)?;
    }
    Ok(session)
}

#[derive(Subcommand)]
enum Command {
    /// Start every INSERT of the job as a streaming query; Ctrl-C stops after the current epoch.
    Run {
        #[command(flatten)]
        job: JobArgs,
        /// Checkpoint folder; each query uses DIR/<query name>. Default: ./checkpoints/<job name>.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// available-now, once, an interval such as 500ms, 1s, 1m (default: back to back), or
        /// realtime:<checkpoint interval> such as realtime:5s (rows processed as they arrive).
        #[arg(long)]
        trigger: Option<String>,
        /// Serve the monitoring UI (pages, JSON, /metrics) on ADDR, e.g. 127.0.0.1:4040;
        /// give 0.0.0.0:4040 to expose it.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:4040")]
        ui: Option<String>,
        /// Require `Authorization: Bearer TOKEN` (or ?token=TOKEN) on every UI request.
        #[arg(long, value_name = "TOKEN")]
        ui_token: Option<String>,
        /// Serve the job's tables and memory sinks over the PostgreSQL wire protocol on ADDR
        /// while it runs (psql, psycopg, SQLAlchemy, BI tools).
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:5433")]
        serve: Option<String>,
        #[command(flatten)]
        serve_args: serve::ServeArgs,
    },
    /// Serve the job's tables (Delta at their latest version, files, PostgreSQL) over the
    /// PostgreSQL wire protocol, without running its queries; Ctrl-C stops.
    Serve {
        #[command(flatten)]
        job: JobArgs,
        /// The address to listen on; give 0.0.0.0:5433 to expose it.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5433")]
        listen: String,
        #[command(flatten)]
        serve_args: serve::ServeArgs,
    },
    /// Compare each query of the job with the one that wrote its checkpoint, without starting
    /// it: per stateful operator, reuse, extend, rebuild or incompatible, with what changed
    /// and the options. Exit status 0 when every state is reused as it is, 1 otherwise.
    Plan {
        #[command(flatten)]
        job: JobArgs,
        /// Checkpoint folder, as given to `run` (default: ./checkpoints/<job name>).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read the state of a query's checkpoint: describe its operators, show their rows, or
    /// repartition it.
    State {
        #[command(subcommand)]
        command: state::StateCommand,
    },
    /// Run every INSERT of the job once, as a batch over the tables as they are.
    Batch {
        #[command(flatten)]
        job: JobArgs,
        /// Draw the progress bar even when stderr is not a terminal.
        #[arg(long)]
        progress: bool,
    },
    /// Run the job as a batch and as a stream into temporary outputs and compare the rows.
    Verify {
        #[command(flatten)]
        job: JobArgs,
        /// Where the outputs of both runs go, kept for inspection (default: a new temporary folder, removed after)
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Delta table maintenance: history, describe, optimize, vacuum, checkpoint.
    Table {
        #[command(subcommand)]
        command: table::TableCommand,
    },
    /// Run a Python job file (PySpark's API through the `tributary` package: pip install
    /// ./python). Its variables are in `tributary.conf`; its folder and the current folder are
    /// importable; ARGS after the file are its sys.argv[1:]. The interpreter is
    /// $TRIBUTARY_PYTHON (default python3).
    Submit {
        /// The Python job file.
        file: PathBuf,
        /// A variable of the job, in `tributary.conf["NAME"]` (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Arguments of the job.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The options of a format (json, csv, parquet, delta, kafka, rate, console, memory, ...),
    /// with types, defaults and what they do; without FORMAT, every format's.
    Options {
        /// The format.
        format: Option<String>,
    },
}

#[derive(Args)]
struct JobArgs {
    /// The job file.
    file: PathBuf,
    /// Replace ${NAME} in the job file with VALUE (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
}

impl JobArgs {
    async fn load(&self) -> anyhow::Result<JobFile> {
        let text = std::fs::read_to_string(&self.file)
            .with_context(|| format!("cannot read the job file {}", self.file.display()))?;
        let mut vars = HashMap::new();
        for s in &self.set {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| anyhow!("--set {s}: expected NAME=VALUE"))?;
            vars.insert(k.trim().to_string(), v.to_string());
        }
        // A --set the job never uses is a typo (or the wrong job): said, never ignored, since a
        // `${NAME:-DEFAULT}` would otherwise quietly take its default.
        let used = tributary_sql::variables(&text);
        let mut unused: Vec<&String> = vars.keys().filter(|k| !used.contains(k)).collect();
        unused.sort();
        if let Some(k) = unused.first() {
            let nearest = used
                .iter()
                .map(|u| (tributary::connector::options::edit_distance(k, u), u))
                .filter(|(d, u)| *d <= (u.len() / 3).max(2))
                .min_by_key(|(d, _)| *d)
                .map(|(_, u)| format!("; did you mean '{u}'?"))
                .unwrap_or_default();
            return Err(anyhow!(
                "--set {k}: {} uses no ${{{k}}}{nearest} (its variables: {})",
                self.file.display(),
                if used.is_empty() {
                    "none".to_string()
                } else {
                    used.join(", ")
                }
            ));
        }
        let sql = substitute(&text, &vars)?;
        Ok(JobFile::parse(&sql).await?)
    }

    fn stem(&self) -> String {
        self.file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "job".into())
    }
}

struct StderrProgress;

impl StreamingQueryListener for StderrProgress {
    fn on_query_progress(&self, event: &QueryProgressEvent) {
        eprintln!("{}", event.progress.summary());
    }
    fn on_query_terminated(&self, event: &QueryTerminatedEvent) {
        if let Some(e) = &event.exception {
            eprintln!("query {} failed: {e}", event.id);
        }
    }
}

async fn serve_job(
    job: JobArgs,
    listen: &str,
    args: &serve::ServeArgs,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let file = job.load().await?;
    let session = new_session(settings)?;
    let runner = JobRunner::new(session.clone(), file);
    let catalog = serve::job_catalog(&runner, &session)?;
    let _endpoint = serve::start(listen, catalog, args).await?;
    let signal = shutdown_signal().await;
    eprintln!("{signal}: stopping");
    Ok(ExitCode::SUCCESS)
}

async fn run(
    job: JobArgs,
    checkpoint: Option<PathBuf>,
    trigger: Option<String>,
    (ui, ui_token): (Option<String>, Option<String>),
    serving: Option<(String, serve::ServeArgs)>,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let file = job.load().await?;
    let trigger: Trigger = match trigger {
        Some(t) => t.parse()?,
        None => Trigger::default(),
    };
    let checkpoint_root = checkpoint.unwrap_or_else(|| Path::new("checkpoints").join(job.stem()));
    let session = new_session(settings)?;
    session.streams().add_listener(Arc::new(StderrProgress));
    let _ui = match ui {
        Some(addr) => {
            let server = tributary_ui::serve(&session, &addr, ui_token)
                .await
                .with_context(|| format!("cannot serve the UI on {addr}"))?;
            eprintln!("monitoring UI: http://{}/", server.addr);
            Some(server)
        }
        None => None,
    };
    let runner = JobRunner::new(session.clone(), file);
    if serving.is_some() {
        // The stateful queries keep live views of their state, to be served.
        session.set_conf(tributary::state::LIVE_STATE_CONF, "true");
    }
    let queries = runner
        .start(&JobOptions {
            checkpoint_root: checkpoint_root.clone(),
            trigger,
        })
        .await?;
    let _endpoint = match &serving {
        Some((addr, args)) => {
            let catalog = serve::job_catalog(&runner, &session)?;
            serve::add_memory_sinks(&catalog, &runner, &session).await;
            serve::add_live_state(&catalog, &queries);
            Some(serve::start(addr, catalog, args).await?)
        }
        None => None,
    };
    let checkpoints = runner.checkpoints(&checkpoint_root)?;
    let under_root = checkpoints
        .iter()
        .all(|(name, at)| *at == checkpoint_root.join(name).display().to_string());
    eprintln!(
        "started {} quer{} ({}), checkpoints in {}",
        queries.len(),
        if queries.len() == 1 { "y" } else { "ies" },
        queries
            .iter()
            .filter_map(|q| q.name())
            .collect::<Vec<_>>()
            .join(", "),
        if under_root {
            checkpoint_root.display().to_string()
        } else {
            checkpoints
                .iter()
                .map(|(name, at)| format!("{at} ({name})"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let all_done = async {
        for q in &queries {
            let _ = q.await_termination().await;
        }
    };
    tokio::select! {
        _ = all_done => {}
        signal = shutdown_signal() => {
            eprintln!("{signal}: stopping after the current epoch ...");
            for q in &queries {
                q.stop().await?;
            }
        }
    }
    let mut failed = false;
    for q in &queries {
        if let Some(e) = q.exception() {
            eprintln!("error: query {}: {e}", q.name().unwrap_or(q.id()));
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn plan(
    job: JobArgs,
    checkpoint: Option<PathBuf>,
    json: bool,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let file = job.load().await?;
    let checkpoint_root = checkpoint.unwrap_or_else(|| Path::new("checkpoints").join(job.stem()));
    let runner = JobRunner::new(new_session(settings)?, file);
    let reports = runner
        .plan(&JobOptions {
            checkpoint_root: checkpoint_root.clone(),
            trigger: Trigger::default(),
        })
        .await?;
    let reused = reports.iter().all(|(_, r)| {
        r.as_ref()
            .is_none_or(|r| r.worst() == tributary::evolution::Verdict::Reuse)
    });
    if json {
        let out: Vec<serde_json::Value> = reports
            .iter()
            .map(|(name, r)| serde_json::json!({"query": name, "checkpoint": checkpoint_root.join(name), "report": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (name, r) in &reports {
            println!(
                "query {name} (checkpoint {}):",
                checkpoint_root.join(name).display()
            );
            match r {
                None => println!("  a new checkpoint: every operator starts with empty state"),
                Some(r)
                    if r.operators.is_empty() && r.query.is_empty() && r.partitions.is_none() =>
                {
                    println!("  no stateful operator, nothing changed")
                }
                Some(r) => {
                    for line in r.to_string().lines() {
                        println!("  {line}");
                    }
                }
            }
        }
    }
    Ok(if reused {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM (what containers and service managers send) and says
/// which arrived.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "interrupted"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

/// The progress bar of a batch: files and bytes read so far.
fn bar(done_files: u64, files: u64, done_bytes: u64, bytes: u64) -> String {
    const WIDTH: usize = 30;
    let frac = if bytes > 0 {
        done_bytes as f64 / bytes as f64
    } else if files > 0 {
        done_files as f64 / files as f64
    } else {
        0.0
    };
    let filled = ((frac * WIDTH as f64).round() as usize).min(WIDTH);
    format!(
        "[{}{}] {:>3.0}%  {done_files}/{files} files, {:.1}/{:.1} MB",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled),
        frac * 100.0,
        done_bytes as f64 / 1e6,
        bytes as f64 / 1e6
    )
}

async fn batch(job: JobArgs, progress: bool, settings: &Settings) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let file = job.load().await?;
    let session = new_session(settings)?;
    let runner = JobRunner::new(session.clone(), file);
    // A progress bar on a terminal (or when asked with --progress), redrawn in place.
    let draw = progress || std::io::stderr().is_terminal();
    let ticker = draw.then(|| {
        let s = session.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let (df, f, db, b) = s.scan_progress();
                if f > 0 {
                    eprint!("\r{}", bar(df, f, db, b));
                }
            }
        })
    });
    let results = runner.batch().await;
    if let Some(t) = ticker {
        t.abort();
        let (df, f, db, b) = session.scan_progress();
        if f > 0 {
            eprintln!("\r{}", bar(df, f, db, b));
        }
    }
    for (name, summary) in results? {
        eprintln!(
            "{name}: wrote {} rows{}",
            summary.rows,
            match &summary.bad_records_path {
                Some(p) => format!(", {} bad records to {p}", summary.bad_records),
                None => String::new(),
            }
        );
    }
    if let Some(usage) = session.memory_usage() {
        eprintln!("memory: {usage}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(
    job: JobArgs,
    workdir: Option<PathBuf>,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let file = job.load().await?;
    // A folder the user names is kept; the default temporary one is removed (unless
    // TRIBUTARY_KEEP_VERIFY is set).
    let keep = workdir.is_some() || std::env::var_os("TRIBUTARY_KEEP_VERIFY").is_some();
    let dir = match workdir {
        Some(d) => d,
        None => tempfile_dir()?,
    };
    let runner = JobRunner::new(new_session(settings)?, file);
    let outcome = runner.verify(&dir).await;
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match outcome? {
        VerifyOutcome::Identical { rows } => {
            for (sink, n) in rows {
                eprintln!("{sink}: {n} rows, batch and stream agree");
            }
            println!("identical");
            Ok(ExitCode::SUCCESS)
        }
        VerifyOutcome::Different { sink, comparison } => {
            println!("different: sink {sink}");
            if let Comparison::Different {
                only_left,
                only_right,
                counts,
            } = comparison
            {
                println!("batch has {} rows, stream has {} rows", counts.0, counts.1);
                for r in only_left {
                    println!("only in batch:  {r}");
                }
                for r in only_right {
                    println!("only in stream: {r}");
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tributary-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `tributary options [FORMAT]`: the declarations, as Markdown.
fn options(format: Option<&str>) -> anyhow::Result<ExitCode> {
    let text = match format {
        Some(f) => {
            tributary::connector::describe_format(&tributary::connector::Connectors::builtin(), f)?
        }
        None => tributary::connector::options_reference(),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIBUTARY_LOG").unwrap_or_else(|_| {
                "warn,buoyant_kernel=off,deltalake_core::kernel::schema::cast=error".into()
            }),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log redirected to a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match Settings::of(&cli) {
        Err(e) => Err(e),
        Ok(settings) => match cli.command {
            Command::Run {
                job,
                checkpoint,
                trigger,
                ui,
                ui_token,
                serve,
                serve_args,
            } => {
                let serving = serve.map(|addr| (addr, serve_args));
                run(job, checkpoint, trigger, (ui, ui_token), serving, &settings).await
            }
            Command::Serve {
                job,
                listen,
                serve_args,
            } => serve_job(job, &listen, &serve_args, &settings).await,
            Command::Plan {
                job,
                checkpoint,
                json,
            } => plan(job, checkpoint, json, &settings).await,
            Command::State { command } => state::state(command, &settings.storage).await,
            Command::Batch { job, progress } => batch(job, progress, &settings).await,
            Command::Verify { job, workdir } => verify(job, workdir, &settings).await,
            Command::Table { command } => table::table(command, &settings.storage).await,
            Command::Options { format } => options(format.as_deref()),
            Command::Submit { file, set, args } => {
                submit::submit(&file, &set, &args, &settings.storage, settings.memory)
            }
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each said once: our errors and DataFusion's already show their
/// causes in their own text, so a cause whose text is already there is not repeated.
fn report(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::report;

    #[derive(Debug)]
    struct Wrapped(&'static str, Option<Box<Wrapped>>);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match &self.1 {
                Some(inner) => write!(f, "{}: {inner}", self.0),
                None => f.write_str(self.0),
            }
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|w| w as _)
        }
    }

    #[test]
    fn an_error_chain_is_reported_with_each_cause_once() {
        let leaf = Wrapped("No field named valu. Did you mean 'r.value'?", None);
        let mid = Wrapped("Error during planning", Some(Box::new(leaf)));
        let top = Wrapped("planning epoch 0", Some(Box::new(mid)));
        let text = report(&anyhow::Error::new(top));
        assert_eq!(
            text,
            "planning epoch 0: Error during planning: No field named valu. Did you mean 'r.value'?"
        );
        let plain = anyhow::anyhow!("outer").context("context");
        assert_eq!(report(&plain), "context: outer");
    }
}
