//! Which files make up a folder of data.
//!
//! A folder written by Tributary's file sink has a manifest log in `_tributary_log/`: then only
//! the files listed by committed epochs are data, and files of an epoch that crashed before its
//! manifest was written are ignored. Other folders: every file whose path has no part starting
//! with `.`, nor with `_` unless it holds `=` (Spark's rule for hidden files).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::location::Location;

/// The folder of the file sink's manifest log.
pub(crate) const MANIFEST_DIR: &str = "_tributary_log";

/// A file of data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct DataFile {
    /// Path relative to the table folder.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: i64,
}

/// The manifest of one committed epoch of the file sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The files the epoch wrote, relative to the table folder.
    pub files: Vec<String>,
}

/// A manifest naming `files`.
pub(crate) fn listing_manifest(files: Vec<String>) -> Manifest {
    Manifest { files }
}

fn is_hidden(name: &str) -> bool {
    // A `_` part that holds `=` is a partition folder (`_source=web/`), as in Spark.
    name.split('/').any(|p| {
        (p.starts_with('_') && !p.contains('=')) || p.starts_with('.') || p.ends_with(".crc")
    })
}

/// The data files of a folder whose names sort after `after` (hidden files and the file sink's
/// manifest log left out): in an object store one listing that starts at that key.
pub(crate) async fn list_data_files_after(
    location: &Location,
    after: &str,
) -> Result<Vec<DataFile>> {
    Ok(location
        .list_after(after)
        .await?
        .into_iter()
        .filter(|e| !is_hidden(&e.name))
        .map(|e| DataFile {
            name: e.name,
            size: e.size,
            modified_ms: e.modified_ms,
        })
        .collect())
}

/// List the data files of a location: a folder, or a single file.
pub(crate) async fn list_data_files(location: &Location) -> Result<Vec<DataFile>> {
    if let Some(p) = location.local_path() {
        if p.is_file() {
            let meta = std::fs::metadata(&p).map_err(|e| crate::TributaryError::Storage {
                location: location.display.clone(),
                message: e.to_string(),
            })?;
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default();
            return Ok(vec![DataFile {
                name: String::new(),
                size: meta.len(),
                modified_ms,
            }]);
        }
    }
    let entries = location.list("").await?;
    if entries.is_empty() && location.is_remote() {
        // In an object store a single file is a key with nothing under it.
        if let Some(meta) = location.head("").await? {
            return Ok(vec![DataFile {
                name: String::new(),
                size: meta.size,
                modified_ms: meta.modified_ms,
            }]);
        }
    }
    let manifests: Vec<_> = entries
        .iter()
        .filter(|e| e.name.starts_with(&format!("{MANIFEST_DIR}/")))
        // A manifest whose writer died mid-write leaves object_store's staging file (`name#n`):
        // never committed, never read.
        .filter(|e| !crate::location::is_staging_leftover(&e.name))
        .filter(|e| {
            !e.name
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .starts_with('.')
        })
        .collect();
    let committed: Option<HashSet<String>> = if manifests.is_empty() {
        None
    } else {
        let mut set = HashSet::new();
        for m in manifests {
            if let Some(bytes) = location.read(&m.name).await? {
                let manifest: Manifest = tributary_checkpoint::codec::decode(
                    &format!("{}/{}", location.display, m.name),
                    &bytes,
                )
                .map_err(|e| crate::TributaryError::Plan(e.to_string()))?;
                set.extend(manifest.files);
            }
        }
        Some(set)
    };
    Ok(entries
        .into_iter()
        .filter(|e| !is_hidden(&e.name))
        .filter(|e| committed.as_ref().is_none_or(|c| c.contains(&e.name)))
        .map(|e| DataFile {
            name: e.name,
            size: e.size,
            modified_ms: e.modified_ms,
        })
        .collect())
}
