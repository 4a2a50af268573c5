use crate::types::Epoch;

/// The one place that names every object of a checkpoint. Paths are relative to the
/// checkpoint root and use `/` as separator.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointPaths;

impl CheckpointPaths {
    /// The query's identity.
    pub fn metadata() -> String {
        "metadata".to_string()
    }
    /// The folder of the offsets log.
    pub fn offsets_dir() -> String {
        "offsets".to_string()
    }
    /// The write-ahead offsets of one epoch.
    pub fn offsets(epoch: Epoch) -> String {
        format!("offsets/{epoch}")
    }
    /// The folder of the commit log.
    pub fn commits_dir() -> String {
        "commits".to_string()
    }
    /// The commit marker of one epoch.
    pub fn commits(epoch: Epoch) -> String {
        format!("commits/{epoch}")
    }
    /// The folder of one source's own data.
    pub fn source_dir(source: usize) -> String {
        format!("sources/{source}")
    }
    /// One source's data for one epoch.
    pub fn source(source: usize, epoch: Epoch) -> String {
        format!("sources/{source}/{epoch}")
    }
    /// The folder of one partition of one stateful operator.
    pub fn state(operator: usize, partition: usize) -> String {
        format!("state/{operator}/{partition}")
    }
    /// The folder of the query's recorded shapes (its stateful operators, per run).
    pub fn shapes_dir() -> String {
        "shapes".to_string()
    }
    /// The shape of the query as of the first epoch of a run.
    pub fn shape(epoch: Epoch) -> String {
        format!("shapes/{epoch}")
    }
    /// Parse the epoch out of a log file name (`offsets/17` gives 17). Temporary files and
    /// other names give `None`.
    pub fn epoch_of(name: &str) -> Option<Epoch> {
        let last = name.rsplit('/').next()?;
        if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        last.parse::<u64>().ok().map(Epoch)
    }
}
