//! Object storage: which store a location names, and with which settings.
//!
//! ```text
//!  "s3a://lake/raw/"                      scheme ─► store kind (S3, Azure, GCS, memory, local)
//!        │
//!        ▼
//!  Builder::from_env()                    AWS_* / AZURE_* / GOOGLE_* variables, as object_store reads them
//!        │ + session options              Session::set_storage_option, `--storage-option KEY=VALUE`
//!        │ + the table's OPTIONS          aws_region, azure_storage_account_name, ... (checked here)
//!        ▼
//!  Arc<dyn ObjectStore>, cached per (store, bucket, options): every Location, the checkpoint,
//!  and deltalake's log store (registered in `delta`) share its connections.
//! ```
//!
//! Exactly-once rests on one primitive every store gives: a conditional put (create if absent).
//! The checkpoint's write-ahead files and Delta's commit files are written with it, so two
//! writers can never both create the same epoch or the same table version.

mod delta;
mod options;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::memory::InMemory;
use object_store::{ObjectStore, RetryConfig};
use url::Url;

pub(crate) use self::delta::{open_or_new, table_builder};
pub use self::options::{StorageOptions, STORAGE_OPTIONS};
use crate::error::{Result, TributaryError};

/// The kind of store a URL scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Amazon S3 or an S3-compatible server: `s3://`, `s3a://`.
    S3,
    /// Azure Blob Storage or ADLS Gen2: `az://`, `azure://`, `abfs://`, `abfss://`, `adl://`.
    Azure,
    /// Google Cloud Storage: `gs://`.
    Gcs,
    /// A store in this process's memory, shared by every location naming it: `memory://`.
    Memory,
}

impl StoreKind {
    /// The kind of a URL scheme, or `None` when the scheme names no object store.
    pub fn of_scheme(scheme: &str) -> Option<StoreKind> {
        match scheme.to_ascii_lowercase().as_str() {
            "s3" | "s3a" => Some(StoreKind::S3),
            "az" | "azure" | "abfs" | "abfss" | "adl" => Some(StoreKind::Azure),
            "gs" => Some(StoreKind::Gcs),
            "memory" => Some(StoreKind::Memory),
            _ => None,
        }
    }

    /// Every URL scheme of the object stores Tributary builds in.
    pub const SCHEMES: &'static [&'static str] = &[
        "s3", "s3a", "az", "azure", "abfs", "abfss", "adl", "gs", "memory",
    ];

    /// The store's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::S3 => "S3",
            StoreKind::Azure => "Azure",
            StoreKind::Gcs => "Google Cloud Storage",
            StoreKind::Memory => "memory",
        }
    }
}

/// How long one request to a store is retried before its error reaches the query (whose epoch
/// is then retried whole by the driver).
pub const RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

type Cache = Mutex<HashMap<String, Arc<dyn ObjectStore>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// The store of an object-store URL (its bucket or container), built from the environment and
/// `options`, and shared with every other location of the same bucket and options.
pub(crate) fn store_for(
    url: &Url,
    options: &StorageOptions,
    display: &str,
) -> Result<Arc<dyn ObjectStore>> {
    let kind = StoreKind::of_scheme(url.scheme()).ok_or_else(|| {
        TributaryError::Plan(format!(
            "location '{display}': '{}://' is not a store Tributary knows; use a local path, \
             file://, {}",
            url.scheme(),
            StoreKind::SCHEMES
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let applied = options.for_store(kind)?;
    let key = format!(
        "{}://{}{}|{}",
        url.scheme(),
        url.username(),
        url.host_str().unwrap_or_default(),
        applied.cache_key()
    );
    if let Some(store) = cache().lock().expect("store cache").get(&key) {
        return Ok(store.clone());
    }
    let failed = |e: object_store::Error| TributaryError::Storage {
        location: display.to_string(),
        message: format!(
            "cannot set up the {} store: {}",
            kind.name(),
            options.redact(&e.to_string())
        ),
    };
    let bucket_url = url.as_str();
    // A request that fails for a transient reason (connection refused or cut, timeout, 5xx,
    // throttling) is retried with backoff for up to three minutes; the count alone would give
    // up within seconds when the store refuses connections at once.
    let retry = RetryConfig {
        max_retries: 1000,
        retry_timeout: RETRY_TIMEOUT,
        ..RetryConfig::default()
    };
    // Each store's builder reads its environment variables, then takes the options by their
    // own parser (a name it does not know is an error here, though `set` checked it already).
    macro_rules! build {
        ($builder:ty) => {{
            let mut b = <$builder>::from_env()
                .with_url(bucket_url)
                .with_retry(retry);
            for (k, v) in applied.iter() {
                b = b.with_config(k.parse().map_err(failed)?, v);
            }
            Arc::new(b.build().map_err(failed)?)
        }};
    }
    let store: Arc<dyn ObjectStore> = match kind {
        StoreKind::Memory => Arc::new(InMemory::new()),
        StoreKind::S3 => build!(AmazonS3Builder),
        StoreKind::Azure => build!(MicrosoftAzureBuilder),
        StoreKind::Gcs => build!(GoogleCloudStorageBuilder),
    };
    Ok(cache()
        .lock()
        .expect("store cache")
        .entry(key)
        .or_insert(store)
        .clone())
}
