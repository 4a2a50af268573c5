//! Where data lives: a path or URL resolved to an object store and a prefix in it.
//!
//! Local paths and `file://` URLs use the local file system; every other component reads and
//! writes through [`object_store`], so another store plugs in here.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use url::Url;

use crate::error::{Result, TributaryError};

/// A resolved location: an object store and a folder in it.
#[derive(Debug, Clone)]
pub struct Location {
    /// The location as the user wrote it.
    pub display: String,
    /// The location as a URL (a directory URL, ending in `/`).
    pub url: Url,
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The folder inside the store.
    pub prefix: Path,
    local: Option<std::path::PathBuf>,
}

/// One object found by [`Location::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the location, with `/` separators.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: i64,
}

impl Location {
    /// Resolve a local path, `file://` URL or `memory://` URL.
    pub fn resolve(location: &str) -> Result<Location> {
        if location.trim().is_empty() {
            return Err(TributaryError::Plan(
                "an empty location was given: pass a directory path or a file:// URL".into(),
            ));
        }
        let local = if let Some(rest) = location.strip_prefix("file://") {
            std::path::PathBuf::from(rest)
        } else if location.contains("://") {
            let scheme = location.split("://").next().unwrap_or_default();
            return Err(TributaryError::Plan(format!(
                "location '{location}': the '{scheme}://' store is not built into this binary; \
                 use a local path or file:// URL"
            )));
        } else {
            std::path::PathBuf::from(location)
        };
        let abs = normalize(
            &std::path::absolute(&local).map_err(|e| TributaryError::Storage {
                location: location.to_string(),
                message: format!("cannot make the path absolute: {e}"),
            })?,
        );
        let url = Url::from_directory_path(&abs).map_err(|_| TributaryError::Storage {
            location: location.to_string(),
            message: "not a valid directory path".into(),
        })?;
        let prefix = Path::from_absolute_path(&abs).map_err(|e| TributaryError::Storage {
            location: location.to_string(),
            message: e.to_string(),
        })?;
        Ok(Location {
            display: location.to_string(),
            url,
            store: Arc::new(LocalFileSystem::new()),
            prefix,
            local: Some(abs),
        })
    }

    /// The local file system path, when the location is local.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        self.local.clone()
    }

    /// Create the folder (object stores without folders need nothing).
    pub fn ensure_dir(&self) -> Result<()> {
        if let Some(p) = self.local_path() {
            std::fs::create_dir_all(&p).map_err(|e| TributaryError::Storage {
                location: self.display.clone(),
                message: format!("cannot create the directory: {e}"),
            })?;
        }
        Ok(())
    }

    /// A location inside this one.
    pub fn child(&self, rel: &str) -> Location {
        let mut url = self.url.clone();
        let joined = format!("{}{}/", url.path(), rel.trim_matches('/'));
        url.set_path(&joined);
        Location {
            display: format!("{}/{}", self.display.trim_end_matches('/'), rel),
            url,
            store: self.store.clone(),
            prefix: self.path(rel),
            local: self.local.as_ref().map(|l| l.join(rel.trim_matches('/'))),
        }
    }

    /// The store path of an object inside this location.
    pub fn path(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    fn err(&self, rel: &str) -> impl FnOnce(object_store::Error) -> TributaryError {
        TributaryError::storage(format!("{}/{}", self.display.trim_end_matches('/'), rel))
    }

    /// Read an object whole; `None` when it does not exist.
    pub async fn read(&self, rel: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.path(rel)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(self.err(rel))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// Write an object atomically, replacing what was there.
    pub async fn write(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<()> {
        self.store
            .put(&self.path(rel), PutPayload::from(bytes.into()))
            .await
            .map_err(self.err(rel))?;
        Ok(())
    }

    /// Write an object atomically only if it does not exist yet. Returns `false` when it did.
    pub async fn write_new(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.path(rel), PutPayload::from(bytes.into()), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// Delete an object; a missing one is fine.
    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self.store.delete(&self.path(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// List every object under `rel` (recursively), sorted by name. A missing folder is empty.
    pub async fn list(&self, rel: &str) -> Result<Vec<Entry>> {
        let base = self.path(rel);
        let prefix_len = self.prefix.as_ref().len();
        let listed: Vec<_> = match self.store.list(Some(&base)).try_collect().await {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.err(rel)(e)),
        };
        let mut out: Vec<Entry> = listed
            .into_iter()
            .map(|m| {
                let full = m.location.as_ref();
                let name = full[prefix_len.min(full.len())..]
                    .trim_start_matches('/')
                    .to_string();
                Entry {
                    name,
                    size: m.size,
                    modified_ms: m.last_modified.timestamp_millis(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// Remove `.` and `..` components without touching the file system.
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}
