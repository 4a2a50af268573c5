//! Where data lives: a path or URL resolved to an object store and a prefix in it.
//!
//! Local paths and `file://` URLs use the local file system; `s3://`, `az://`, `abfs[s]://`,
//! `gs://` and `memory://` URLs use the object store [`crate::storage`] builds for them. Every
//! other component reads and writes through a [`Location`], so all of them work on every store.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use url::Url;

use crate::error::{Result, TributaryError};
use crate::storage::{self, StorageOptions, StoreKind};

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

/// Whether `name` is a staging file that object_store's local store leaves behind when a process
/// dies mid-write (`<name>#<digits>`): never data, and a name object_store refuses to read or
/// delete, so listings that act on every file skip it.
pub(crate) fn is_staging_leftover(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Location {
    /// Resolve a local path, a `file://` URL or an object-store URL, configured by the
    /// environment alone.
    pub fn resolve(location: &str) -> Result<Location> {
        Self::resolve_with(location, &StorageOptions::new())
    }

    /// Resolve a local path, a `file://` URL or an object-store URL (`s3://`, `s3a://`, `az://`,
    /// `abfs[s]://`, `gs://`, `memory://`), its store configured by the environment and `options`.
    pub fn resolve_with(location: &str, options: &StorageOptions) -> Result<Location> {
        if location.trim().is_empty() {
            return Err(TributaryError::Plan(
                "an empty location was given: pass a directory path or a URL such as \
                 file:///data/events or s3://bucket/events"
                    .into(),
            ));
        }
        let local = if let Some(rest) = location.strip_prefix("file://") {
            std::path::PathBuf::from(rest)
        } else if location.contains("://") {
            return Self::remote(location, options);
        } else {
            std::path::PathBuf::from(location)
        };
        let abs = normalize(
            &std::path::absolute(&local).map_err(|e| TributaryError::Storage {
                location: location.to_string(),
                message: format!("cannot make the path absolute: {e}"),
            })?,
        );
        let url = directory_url(&abs).ok_or_else(|| TributaryError::Storage {
            location: location.to_string(),
            message: "not a valid directory path".into(),
        })?;
        // The store's path keeps each component as it is on disk: object_store's local store
        // maps a path's parts to file names literally (building it from a URL would decode
        // `%41` into `A`).
        let prefix = Path::parse(abs.to_string_lossy().trim_start_matches('/')).map_err(|e| {
            TributaryError::Storage {
                location: location.to_string(),
                message: format!(
                    "{e}: a location cannot hold control characters such as a newline"
                ),
            }
        })?;
        Ok(Location {
            display: location.to_string(),
            url,
            store: Arc::new(LocalFileSystem::new()),
            prefix,
            local: Some(abs),
        })
    }

    /// A location in an object store.
    fn remote(location: &str, options: &StorageOptions) -> Result<Location> {
        let mut url = Url::parse(location.trim()).map_err(|e| {
            TributaryError::Plan(format!(
                "location '{location}' is not a valid URL ({e}): write it as \
                 SCHEME://BUCKET/PATH, e.g. s3://lake/raw/events"
            ))
        })?;
        let kind = StoreKind::of_scheme(url.scheme());
        if kind.is_some_and(|k| k != StoreKind::Memory) && url.host_str().is_none_or(str::is_empty)
        {
            return Err(TributaryError::Plan(format!(
                "location '{location}' names no bucket or container: write it as \
                 {}://BUCKET/PATH",
                url.scheme()
            )));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url.set_query(None);
        url.set_fragment(None);
        let store = storage::store_for(&url, options, location)?;
        let prefix = Path::from_url_path(url.path()).map_err(|e| TributaryError::Storage {
            location: location.to_string(),
            message: format!("not a valid object path: {e}"),
        })?;
        Ok(Location {
            display: location.to_string(),
            url,
            store,
            prefix,
            local: None,
        })
    }

    /// Whether the location is in an object store (not the local file system).
    pub fn is_remote(&self) -> bool {
        self.local.is_none()
    }

    /// The local file system path, when the location is local.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        self.local.clone()
    }

    /// Create the folder (object stores without folders need nothing).
    pub fn ensure_dir(&self) -> Result<()> {
        if let Some(p) = self.local_path() {
            std::fs::create_dir_all(&p).map_err(TributaryError::io(format!(
                "{} (creating the directory)",
                self.display
            )))?;
        }
        Ok(())
    }

    /// A location inside this one.
    pub fn child(&self, rel: &str) -> Location {
        let mut url = self.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            segments.extend(rel.split('/').filter(|s| !s.is_empty()));
            segments.push("");
        }
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
            // Parts are keys literally, as listings give them back and as other writers (Spark's
            // `col=a%2Fb/` partition folders) name them; only a part object_store cannot hold
            // as it is (a control character) is escaped its way.
            p = match PathPart::parse(part) {
                Ok(literal) => p.join(literal),
                Err(_) => p.join(part),
            };
        }
        p
    }

    fn err(&self, rel: &str) -> impl FnOnce(object_store::Error) -> TributaryError {
        TributaryError::storage(format!("{}/{}", self.display.trim_end_matches('/'), rel))
    }

    /// Read an object whole; `None` when it does not exist.
    pub async fn read(&self, rel: &str) -> Result<Option<Bytes>> {
        if let Some(file) = self.local_file(rel) {
            // Local files are read by their names on disk, whatever characters they hold.
            let path = file.clone();
            let read = tokio::task::spawn_blocking(move || crate::read_buffers::read(&path))
                .await
                .map_err(|e| TributaryError::Internal(format!("a reading thread failed: {e}")))?;
            return match read {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(TributaryError::Storage {
                    location: file.display().to_string(),
                    message: format!("cannot read the file: {e}"),
                }),
            };
        }
        match self.store.get(&self.path(rel)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(self.err(rel))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// The size and time of an object (`""` names the location itself); `None` when it does not
    /// exist.
    pub async fn head(&self, rel: &str) -> Result<Option<Entry>> {
        let path = self.path(rel);
        if path.as_ref().is_empty() {
            return Ok(None);
        }
        match self.store.head(&path).await {
            Ok(m) => Ok(Some(Entry {
                name: rel.to_string(),
                size: m.size,
                modified_ms: m.last_modified.timestamp_millis(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// The local file of an object inside this location, when the location is local.
    fn local_file(&self, rel: &str) -> Option<std::path::PathBuf> {
        let mut p = self.local.clone()?;
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p.push(part);
        }
        Some(p)
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

    /// Make a written object durable: on local disk, fsync the file and its folder (a rename
    /// alone makes it visible atomically but may be lost with the page cache); object stores
    /// are durable once a write returns.
    pub async fn sync(&self, rel: &str) -> Result<()> {
        let Some(file) = self.local_file(rel) else {
            return Ok(());
        };
        let display = file.display().to_string();
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(&file)?.sync_all()?;
            if let Some(dir) = file.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|e| TributaryError::Internal(format!("syncing a file: {e}")))?
        .map_err(TributaryError::io(format!(
            "{display} (syncing it to disk)"
        )))
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
        if let Some(dir) = self.local_file(rel) {
            let display = self.display.clone();
            let mut out = tokio::task::spawn_blocking(move || list_local(&dir, &display))
                .await
                .map_err(|e| TributaryError::Internal(format!("listing a folder: {e}")))??;
            if !rel.trim_matches('/').is_empty() {
                let base = format!("{}/", rel.trim_matches('/'));
                for e in &mut out {
                    e.name = format!("{base}{}", e.name);
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(out);
        }
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

impl Location {
    /// Every object under this location whose name sorts after `after`, sorted. In an object
    /// store the listing starts at that key (one short request for a folder of any size); on
    /// local disk the folder is walked and filtered.
    pub async fn list_after(&self, after: &str) -> Result<Vec<Entry>> {
        if self.local.is_some() {
            let mut all = self.list("").await?;
            all.retain(|e| e.name.as_str() > after);
            return Ok(all);
        }
        let prefix_len = self.prefix.as_ref().len();
        let offset = self.path(after);
        let listed: Vec<_> = match self
            .store
            .list_with_offset(Some(&self.prefix), &offset)
            .try_collect()
            .await
        {
            Ok(v) => v,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.err(after)(e)),
        };
        let mut out: Vec<Entry> = listed
            .into_iter()
            .map(|m| {
                let full = m.location.as_ref();
                Entry {
                    name: full[prefix_len.min(full.len())..]
                        .trim_start_matches('/')
                        .to_string(),
                    size: m.size,
                    modified_ms: m.last_modified.timestamp_millis(),
                }
            })
            .filter(|e| e.name.as_str() > after)
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// A `file://` URL of a directory whose every character survives: `%` is escaped too, so that
/// a folder named `out%41` is not read back as `outA`.
fn directory_url(abs: &std::path::Path) -> Option<Url> {
    let mut url = Url::parse("file:///").ok()?;
    {
        let mut segments = url.path_segments_mut().ok()?;
        segments.clear();
        for c in abs.components() {
            if let std::path::Component::Normal(part) = c {
                segments.push(part.to_str()?);
            }
        }
        segments.push("");
    }
    Some(url)
}

/// Every file under `dir` (recursively, following links), named relative to it with `/`.
/// A missing folder is empty; a name that is not UTF-8 is an error naming it.
fn list_local(dir: &std::path::Path, display: &str) -> Result<Vec<Entry>> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        display: &str,
        out: &mut Vec<Entry>,
    ) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(TributaryError::Storage {
                    location: dir.display().to_string(),
                    message: format!("cannot list the folder: {e}"),
                })
            }
        };
        for entry in entries {
            let entry = entry.map_err(|e| TributaryError::Storage {
                location: dir.display().to_string(),
                message: format!("cannot list the folder: {e}"),
            })?;
            let path = entry.path();
            // A file deleted while the folder is listed is simply not there.
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(TributaryError::Storage {
                        location: path.display().to_string(),
                        message: format!("cannot read the file's metadata: {e}"),
                    })
                }
            };
            if meta.is_dir() {
                walk(root, &path, display, out)?;
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_str())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| TributaryError::Storage {
                    location: format!("{display} ({})", path.display()),
                    message: "the file's name is not UTF-8: rename it".into(),
                })?
                .join("/");
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            out.push(Entry {
                name,
                size: meta.len(),
                modified_ms,
            });
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, display, &mut out)?;
    Ok(out)
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

#[cfg(test)]
mod staging_tests {
    use super::is_staging_leftover;

    #[test]
    fn only_names_ending_in_hash_digits_are_staging_leftovers() {
        assert!(is_staging_leftover(
            "state/0/0/00000000000000000000.delta#1"
        ));
        assert!(is_staging_leftover("part-0.parquet#23"));
        assert!(!is_staging_leftover("part-0.parquet"));
        assert!(!is_staging_leftover("a#b.json"));
        assert!(!is_staging_leftover("x#"));
    }
}
