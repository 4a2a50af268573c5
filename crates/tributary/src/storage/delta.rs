//! Delta tables in object storage: deltalake's log store over Tributary's own stores.
//!
//! deltalake finds a log store by the URL's scheme. Tributary registers its default log store
//! (commits written with a conditional put, `PutMode::Create`) for every object-store scheme, and
//! hands each table the store its [`crate::location::Location`] resolved, so a table and the
//! checkpoint beside it share one configuration and one connection pool. On S3 the conditional
//! put is S3's `If-None-Match: *`, so no DynamoDB lock is needed.

use std::sync::{Arc, Once};

use deltalake::logstore::{
    default_logstore, logstore_factories, LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use super::StoreKind;
use crate::location::Location;

#[derive(Debug, Default)]
struct ConditionalPutLogStore;

impl LogStoreFactory for ConditionalPutLogStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Register the log store for every object-store scheme (once per process).
pub(crate) fn register_delta_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let registry = logstore_factories();
        for scheme in StoreKind::SCHEMES {
            let url = Url::parse(&format!("{scheme}://")).expect("a scheme URL");
            if !registry.contains_key(&url) {
                registry.insert(url, Arc::new(ConditionalPutLogStore));
            }
        }
    });
}

/// A builder for the Delta table at `location`, over the store the location resolved.
pub(crate) fn table_builder(location: &Location) -> DeltaResult<DeltaTableBuilder> {
    register_delta_stores();
    let builder = DeltaTableBuilder::from_url(location.url.clone())?;
    Ok(if location.is_remote() {
        builder.with_storage_backend(location.store.clone(), location.url.clone())
    } else {
        builder
    })
}

/// The Delta table at `location`, loaded; not yet loaded (to be created) when there is none.
pub(crate) async fn open_or_new(location: &Location) -> DeltaResult<DeltaTable> {
    let mut table = table_builder(location)?.build()?;
    match table.load().await {
        Ok(()) | Err(DeltaTableError::NotATable(_)) => Ok(table),
        Err(e) => Err(e),
    }
}
