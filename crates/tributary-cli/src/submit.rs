//! `tributary submit JOB.py`: the generic launcher of Python job files.
//!
//! The job runs in a Python interpreter (`TRIBUTARY_PYTHON`, default `python3`) that has the
//! `tributary` package (`pip install ./python`). It gets:
//! - `tributary.conf`: the `--set NAME=VALUE` variables, as for SQL job files (passed as JSON in
//!   `TRIBUTARY_CONF`);
//! - the `--storage-option` settings (as JSON in `TRIBUTARY_STORAGE_OPTIONS`) and the
//!   `--memory-limit` (in `TRIBUTARY_MEMORY_LIMIT`), applied to every `SparkSession`;
//! - the job's own folder and the current folder on `sys.path`, so the project's modules import;
//! - the arguments after the job file in `sys.argv[1:]`.
//!
//! The job's exit status is the command's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use tributary::memory::MemoryLimit;
use tributary::storage::StorageOptions;

/// The environment and command line of the Python process (pure: tested without running it).
pub(crate) fn command(
    python: &str,
    job: &Path,
    sets: &[String],
    args: &[String],
    storage: &StorageOptions,
    memory: Option<MemoryLimit>,
    pythonpath: Option<&str>,
) -> anyhow::Result<std::process::Command> {
    if job.extension().and_then(|e| e.to_str()) != Some("py") {
        bail!(
            "{} is not a Python job file: `tributary submit` runs .py files; run SQL job files \
             with `tributary run` or `tributary batch`",
            job.display()
        );
    }
    if !job.is_file() {
        bail!("the job file {} does not exist", job.display());
    }
    let mut conf = BTreeMap::new();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {s}: expected NAME=VALUE"))?;
        conf.insert(k.trim().to_string(), v.to_string());
    }
    let storage: BTreeMap<&str, &str> = storage.iter().collect();
    let folder = job
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
    let mut path = vec![folder.display().to_string(), ".".to_string()];
    if let Some(p) = pythonpath.filter(|p| !p.is_empty()) {
        path.push(p.to_string());
    }
    let mut cmd = std::process::Command::new(python);
    cmd.arg(job)
        .args(args)
        .env("TRIBUTARY_CONF", serde_json::to_string(&conf)?)
        .env(
            "TRIBUTARY_STORAGE_OPTIONS",
            serde_json::to_string(&storage)?,
        )
        .env("PYTHONPATH", path.join(":"));
    if let Some(limit) = memory {
        cmd.env("TRIBUTARY_MEMORY_LIMIT", limit.to_string());
    }
    Ok(cmd)
}

/// Run the job and return its exit status.
pub(crate) fn submit(
    job: &Path,
    sets: &[String],
    args: &[String],
    storage: &StorageOptions,
    memory: Option<MemoryLimit>,
) -> anyhow::Result<ExitCode> {
    let python = std::env::var("TRIBUTARY_PYTHON").unwrap_or_else(|_| "python3".into());
    let pythonpath = std::env::var("PYTHONPATH").ok();
    let mut cmd = command(
        &python,
        job,
        sets,
        args,
        storage,
        memory,
        pythonpath.as_deref(),
    )?;
    let status = cmd.status().with_context(|| {
        format!(
            "cannot start '{python}': set TRIBUTARY_PYTHON to a Python 3.10+ that has the \
             tributary package (pip install ./python)"
        )
    })?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1), // killed by a signal
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(cmd: &std::process::Command, key: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn variables_storage_options_and_the_job_folder_reach_python() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.py");
        std::fs::write(&job, "print(1)").unwrap();
        let mut storage = StorageOptions::new();
        storage.set("aws_region", "eu-west-1").unwrap();
        let cmd = command(
            "python3",
            &job,
            &["input=/data/x=y".into(), "n=3".into()],
            &["--flag".into()],
            &storage,
            Some(MemoryLimit::Bytes(3 << 30)),
            Some("/extra"),
        )
        .unwrap();
        assert_eq!(
            env_of(&cmd, "TRIBUTARY_CONF").unwrap(),
            r#"{"input":"/data/x=y","n":"3"}"#
        );
        assert_eq!(
            env_of(&cmd, "TRIBUTARY_STORAGE_OPTIONS").unwrap(),
            r#"{"aws_region":"eu-west-1"}"#
        );
        assert_eq!(env_of(&cmd, "TRIBUTARY_MEMORY_LIMIT").unwrap(), "3g");
        let path = env_of(&cmd, "PYTHONPATH").unwrap();
        let folder = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(path, format!("{}:.:/extra", folder.display()));
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, vec![job.display().to_string(), "--flag".into()]);
    }

    #[test]
    fn sql_files_missing_files_and_bad_variables_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sql = dir.path().join("job.sql");
        std::fs::write(&sql, "").unwrap();
        let none = StorageOptions::new();
        let e = command("python3", &sql, &[], &[], &none, None, None).unwrap_err();
        assert!(e.to_string().contains("tributary run"), "{e}");
        let missing = dir.path().join("nope.py");
        let e = command("python3", &missing, &[], &[], &none, None, None).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let job = dir.path().join("job.py");
        std::fs::write(&job, "").unwrap();
        let e = command("python3", &job, &["novalue".into()], &[], &none, None, None).unwrap_err();
        assert!(e.to_string().contains("NAME=VALUE"), "{e}");
    }
}
