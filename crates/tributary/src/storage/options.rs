//! Storage options: the settings of a store by the names object_store and delta-rs use
//! (`aws_region`, `azure_storage_account_name`, `google_service_account`, ...), checked when they
//! are given and never printed with their values when they may be secret.

use std::collections::BTreeMap;
use std::fmt;

use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::gcp::GoogleConfigKey;

use super::StoreKind;
use crate::connector::{OptionDecl, OptionType, Options};
use crate::error::{Result, TributaryError};

/// The storage options every connector with a location takes (in its `OPTIONS` or `.option`):
/// three families of pass-through keys, checked against the store the location names.
pub const STORAGE_OPTIONS: &[OptionDecl] = &[
    OptionDecl::new(
        "aws_",
        OptionType::Prefix,
        "S3 settings by object_store's names: aws_access_key_id, aws_secret_access_key, \
         aws_region, aws_endpoint_url, aws_allow_http, aws_session_token, ...",
    ),
    OptionDecl::new(
        "azure_",
        OptionType::Prefix,
        "Azure settings: azure_storage_account_name, azure_storage_account_key, \
         azure_storage_use_emulator, azure_storage_endpoint, azure_storage_sas_key, ...",
    ),
    OptionDecl::new(
        "google_",
        OptionType::Prefix,
        "Google Cloud Storage settings: google_service_account (a key file), \
         google_service_account_key (its JSON), google_application_credentials, ...",
    ),
];

/// delta-rs settings that have no meaning here, with the reason.
const NOT_NEEDED: &[(&str, &str)] = &[
    (
        "aws_s3_locking_provider",
        "Tributary commits to S3 with conditional writes (If-None-Match), which S3 has had since \
         2024: no DynamoDB lock is needed; remove the option",
    ),
    (
        "aws_s3_allow_unsafe_rename",
        "Tributary never commits by rename on S3: it uses conditional writes; remove the option",
    ),
];

/// Storage settings by their lower-case names; later settings override earlier ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StorageOptions {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(k, v)| {
                let shown = if is_secret(k) { "***" } else { v.as_str() };
                (k, shown)
            }))
            .finish()
    }
}

/// Whether the value of an option may be a secret (never printed).
pub(crate) fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "key",
        "token",
        "password",
        "sas",
        "credential",
        "signature",
    ]
    .iter()
    .any(|w| k.contains(w))
}

fn known(kind: StoreKind, key: &str) -> bool {
    match kind {
        StoreKind::S3 => key.parse::<AmazonS3ConfigKey>().is_ok(),
        StoreKind::Azure => key.parse::<AzureConfigKey>().is_ok(),
        StoreKind::Gcs => key.parse::<GoogleConfigKey>().is_ok(),
        StoreKind::Memory => false,
    }
}

fn family(key: &str) -> Option<StoreKind> {
    if key.starts_with("aws_") {
        Some(StoreKind::S3)
    } else if key.starts_with("azure_") {
        Some(StoreKind::Azure)
    } else if key.starts_with("google_") {
        Some(StoreKind::Gcs)
    } else {
        None
    }
}

impl StorageOptions {
    /// No options: the environment alone configures the stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a setting, checking its name: a name no store knows is an error naming it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let k = key.trim().to_ascii_lowercase();
        if let Some((_, why)) = NOT_NEEDED.iter().find(|(n, _)| *n == k) {
            return Err(TributaryError::option(key, format!("'{key}': {why}")));
        }
        let stores = [StoreKind::S3, StoreKind::Azure, StoreKind::Gcs];
        let ok = match family(&k) {
            Some(kind) => known(kind, &k),
            None => stores.iter().any(|s| known(*s, &k)),
        };
        if !ok {
            return Err(TributaryError::option(
                key,
                format!(
                    "unknown storage option '{key}': storage options are object_store's names, \
                     such as aws_region, aws_endpoint_url, aws_allow_http, \
                     azure_storage_account_name, azure_storage_account_key, \
                     google_service_account (see docs/storage.md)"
                ),
            ));
        }
        self.values.insert(k, value.to_string());
        Ok(())
    }

    /// These options with `other`'s on top.
    pub fn merged(&self, other: &StorageOptions) -> StorageOptions {
        let mut values = self.values.clone();
        values.extend(other.values.clone());
        StorageOptions { values }
    }

    /// The storage settings among a connector's checked options.
    pub fn from_options(options: &Options) -> Result<StorageOptions> {
        let mut out = StorageOptions::new();
        for (k, v) in options.iter() {
            if family(k).is_some() {
                out.set(k, v)?;
            }
        }
        Ok(out)
    }

    /// The storage settings among options given as pairs (other keys are left out).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<StorageOptions> {
        let mut out = StorageOptions::new();
        for (k, v) in pairs {
            if family(&k.to_ascii_lowercase()).is_some() {
                out.set(k, v)?;
            }
        }
        Ok(out)
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The settings, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The settings that apply to a store of `kind`: those of its family, and the unprefixed
    /// ones it knows. Settings of another store's family are for other locations.
    pub(crate) fn for_store(&self, kind: StoreKind) -> Result<StorageOptions> {
        let mut values = BTreeMap::new();
        for (k, v) in &self.values {
            let applies = match family(k) {
                Some(f) => f == kind,
                None => known(kind, k),
            };
            if applies {
                values.insert(k.clone(), v.clone());
            }
        }
        Ok(StorageOptions { values })
    }

    /// A key telling stores with different settings apart (secrets hashed, never kept as text).
    pub(crate) fn cache_key(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.values.hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// `text` with every secret value of these options replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.values {
            if is_secret(k) && v.len() >= 4 {
                out = out.replace(v.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_families_kept_apart() {
        let mut o = StorageOptions::new();
        o.set("AWS_ENDPOINT_URL", "http://127.0.0.1:9000").unwrap();
        o.set("aws_allow_http", "true").unwrap();
        o.set("azure_storage_account_name", "devstoreaccount1")
            .unwrap();
        o.set("google_service_account_key", "{}").unwrap();
        let err = o.set("aws_endpont_url", "x").unwrap_err().to_string();
        assert!(
            err.contains("unknown storage option 'aws_endpont_url'"),
            "{err}"
        );
        let err = o.set("aws_s3_locking_provider", "dynamodb").unwrap_err();
        assert!(err.to_string().contains("conditional writes"), "{err}");
        let s3 = o.for_store(StoreKind::S3).unwrap();
        let keys: Vec<_> = s3.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["aws_allow_http", "aws_endpoint_url"]);
        let az: Vec<_> = o
            .for_store(StoreKind::Azure)
            .unwrap()
            .iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(az, ["azure_storage_account_name"]);
    }

    #[test]
    fn secrets_are_never_shown() {
        let mut o = StorageOptions::new();
        o.set("aws_secret_access_key", "s3cr3t-value").unwrap();
        o.set("aws_region", "eu-west-1").unwrap();
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("s3cr3t-value") && shown.contains("eu-west-1"),
            "{shown}"
        );
        assert_eq!(
            o.redact("signature of s3cr3t-value failed"),
            "signature of *** failed"
        );
    }
}
