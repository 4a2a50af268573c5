//! Options of the Delta streaming source, named as in Delta's Spark connector (snake case;
//! the camel-case spellings are accepted too).

use std::collections::HashMap;

use crate::error::{Result, TributaryError};
use crate::format::parse_bool;

/// Where a new query starts reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartingPosition {
    /// The table's snapshot at the latest version, then each new commit (the default).
    Snapshot,
    /// Only commits after the latest version (`starting_version = latest`).
    Latest,
    /// The changes of this version and every later one (`starting_version`).
    Version(u64),
    /// The changes of the first commit at or after this time, in ms (`starting_timestamp`).
    Timestamp(i64),
}

/// Options of the Delta streaming source.
#[derive(Debug, Clone)]
pub struct DeltaSourceOptions {
    /// Where to start.
    pub starting: StartingPosition,
    /// At most this many files per epoch (default 1000, as in Delta's connector).
    pub max_files_per_trigger: Option<usize>,
    /// About this many bytes per epoch (a soft limit: at least one file is read).
    pub max_bytes_per_trigger: Option<u64>,
    /// Commits that only remove whole files do not stop the stream.
    pub ignore_deletes: bool,
    /// Commits that rewrite files (update, merge, delete) emit the rewritten files again.
    pub ignore_changes: bool,
    /// Commits that remove data are skipped entirely.
    pub skip_change_commits: bool,
    /// Stream the change data feed (`_change_type`, `_commit_version`, `_commit_timestamp`).
    pub read_change_feed: bool,
}

impl Default for DeltaSourceOptions {
    fn default() -> Self {
        DeltaSourceOptions {
            starting: StartingPosition::Snapshot,
            max_files_per_trigger: Some(1000),
            max_bytes_per_trigger: None,
            ignore_deletes: false,
            ignore_changes: false,
            skip_change_commits: false,
            read_change_feed: false,
        }
    }
}

fn get<'a>(options: &'a HashMap<String, String>, key: &str) -> Option<&'a String> {
    options
        .get(key)
        .or_else(|| options.get(&key.replace('_', "")))
        .or_else(|| {
            options
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key.replace('_', "")))
                .map(|(_, v)| v)
        })
}

fn flag(options: &HashMap<String, String>, key: &str) -> Result<bool> {
    get(options, key).map_or(Ok(false), |v| parse_bool(key, v))
}

impl DeltaSourceOptions {
    /// Parse the options of a Delta stream.
    pub fn parse(options: &HashMap<String, String>) -> Result<Self> {
        let version = get(options, "starting_version");
        let timestamp = get(options, "starting_timestamp");
        let starting = match (version, timestamp) {
            (Some(_), Some(_)) => {
                return Err(TributaryError::option(
                    "starting_version",
                    "give starting_version or starting_timestamp, not both",
                ))
            }
            (Some(v), None) if v.eq_ignore_ascii_case("latest") => StartingPosition::Latest,
            (Some(v), None) => StartingPosition::Version(v.parse().map_err(|_| {
                TributaryError::option(
                    "starting_version",
                    format!("'{v}' is not a table version: give a number, or 'latest'"),
                )
            })?),
            (None, Some(t)) => {
                StartingPosition::Timestamp(parse_timestamp_ms("starting_timestamp", t)?)
            }
            (None, None) => StartingPosition::Snapshot,
        };
        let max_files_per_trigger = match get(options, "max_files_per_trigger") {
            None => Some(1000),
            Some(v) => Some(v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                TributaryError::option(
                    "max_files_per_trigger",
                    format!("'{v}' is not a positive integer"),
                )
            })?),
        };
        let max_bytes_per_trigger = match get(options, "max_bytes_per_trigger") {
            None => None,
            Some(v) => Some(parse_bytes(v).ok_or_else(|| {
                TributaryError::option(
                    "max_bytes_per_trigger",
                    format!("'{v}' is not a size: give bytes, or a number with k, m or g"),
                )
            })?),
        };
        Ok(DeltaSourceOptions {
            starting,
            max_files_per_trigger,
            max_bytes_per_trigger,
            ignore_deletes: flag(options, "ignore_deletes")?,
            ignore_changes: flag(options, "ignore_changes")?,
            skip_change_commits: flag(options, "skip_change_commits")?,
            read_change_feed: flag(options, "read_change_feed")?,
        })
    }
}

/// A positive size: `1048576`, `512k`, `64m`, `1g` (binary units).
fn parse_bytes(v: &str) -> Option<u64> {
    crate::connector::options::parse_bytes(v).filter(|n| *n > 0)
}

/// A time given as RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` (UTC) or `YYYY-MM-DD`, in ms.
pub(crate) fn parse_timestamp_ms(option: &str, v: &str) -> Result<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let v = v.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis());
    }
    Err(TributaryError::option(
        option,
        format!("'{v}' is not a time: give e.g. 2024-05-01, 2024-05-01 12:00:00 or 2024-05-01T12:00:00Z"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_spark_and_snake_spellings() {
        let o = DeltaSourceOptions::parse(&opts(&[
            ("startingVersion", "3"),
            ("max_bytes_per_trigger", "64m"),
            ("ignoreChanges", "true"),
        ]))
        .unwrap();
        assert_eq!(o.starting, StartingPosition::Version(3));
        assert_eq!(o.max_bytes_per_trigger, Some(64 << 20));
        assert!(o.ignore_changes && !o.ignore_deletes);
        assert_eq!(o.max_files_per_trigger, Some(1000));
    }

    #[test]
    fn bad_values_name_the_option() {
        let e = DeltaSourceOptions::parse(&opts(&[("starting_version", "x")])).unwrap_err();
        assert!(e.to_string().contains("starting_version"), "{e}");
        let e = DeltaSourceOptions::parse(&opts(&[("starting_timestamp", "soon")])).unwrap_err();
        assert!(e.to_string().contains("starting_timestamp"), "{e}");
        assert_eq!(parse_timestamp_ms("t", "1970-01-02").unwrap(), 86_400_000);
    }
}
