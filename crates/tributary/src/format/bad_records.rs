//! Bad input records: counted, and either routed to a dead-letter location or fatal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Result, TributaryError};
use crate::location::Location;

/// One rejected input record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    /// The raw record, as text (lossy UTF-8).
    pub record: String,
    /// Where it came from: a file path, or topic/partition.
    pub source: String,
    /// The 1-based line in the file (or the offset in a partition).
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// What to do with bad records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BadRecordMode {
    /// Route them to the dead-letter location (the default) and go on.
    #[default]
    DeadLetter,
    /// Stop at the first one (option `mode 'FAILFAST'`).
    FailFast,
}

impl BadRecordMode {
    /// Parse the `mode` option (Spark's names; `PERMISSIVE` and `DROPMALFORMED` both route
    /// records to the dead-letter location, so nothing is lost).
    pub fn parse(v: Option<&String>) -> Result<BadRecordMode> {
        match v.map(|s| s.to_ascii_uppercase()) {
            None => Ok(BadRecordMode::DeadLetter),
            Some(m) if m == "FAILFAST" => Ok(BadRecordMode::FailFast),
            Some(m) if m == "PERMISSIVE" || m == "DROPMALFORMED" || m == "DEADLETTER" => {
                Ok(BadRecordMode::DeadLetter)
            }
            Some(m) => Err(TributaryError::option(
                "mode",
                format!("'{m}' is not a mode: use FAILFAST, or leave it out to route bad records to 'bad_records_path'"),
            )),
        }
    }
}

/// The longest reason kept, in characters.
pub(super) const MAX_REASON_CHARS: usize = 300;

fn capped(reason: String) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        None => reason,
        // Capped already: a piece's records are reported again into the whole read's collector.
        Some((cut, _))
            if reason[cut..].starts_with("... (") && reason.ends_with(" more bytes)") =>
        {
            reason
        }
        Some((cut, _)) => format!("{}... ({} more bytes)", &reason[..cut], reason.len() - cut),
    }
}

/// Collects the bad records of one read (a batch read, or one epoch of a stream).
#[derive(Debug, Default)]
pub struct BadRecords {
    mode: BadRecordMode,
    count: AtomicU64,
    pending: Mutex<Vec<BadRecord>>,
}

impl BadRecords {
    /// A collector with the given mode.
    pub fn new(mode: BadRecordMode) -> Self {
        BadRecords {
            mode,
            ..Default::default()
        }
    }

    /// Report one bad record: an error in FAILFAST mode, otherwise kept for the dead letters.
    /// The reason is capped (a decoder's message may quote the whole bad value, which the
    /// record already holds once).
    pub fn report(&self, mut record: BadRecord) -> Result<()> {
        record.reason = capped(record.reason);
        if self.mode == BadRecordMode::FailFast {
            return Err(TributaryError::BadRecord {
                location: format!("{} line {}", record.source, record.line),
                reason: record.reason,
            });
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().expect("bad record list").push(record);
        Ok(())
    }

    /// An empty collector with the same mode (for one piece of a read decoded apart).
    pub(crate) fn sibling(&self) -> BadRecords {
        BadRecords::new(self.mode.clone())
    }

    /// How many were reported since the collector was made.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Take the records reported so far.
    pub fn take(&self) -> Vec<BadRecord> {
        std::mem::take(&mut *self.pending.lock().expect("bad record list"))
    }

    /// Write the records reported so far as JSON lines to `dir/name` (replacing the file, so a
    /// re-run epoch writes the same file again). Nothing is written when there are none.
    pub async fn flush_to(&self, dir: &Location, name: &str) -> Result<usize> {
        let records = self.take();
        if records.is_empty() {
            return Ok(0);
        }
        let mut out = Vec::with_capacity(records.len() * 128);
        for r in &records {
            serde_json::to_writer(&mut out, r)
                .map_err(|e| TributaryError::Internal(e.to_string()))?;
            out.push(b'\n');
        }
        dir.write(name, out).await?;
        Ok(records.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reason_is_capped_and_the_record_kept_whole() {
        let bad = BadRecords::new(BadRecordMode::DeadLetter);
        let value = "é".repeat(5000);
        bad.report(BadRecord {
            record: value.clone(),
            source: "f.json".into(),
            line: 1,
            reason: format!("cannot parse '{value}' as BIGINT"),
        })
        .unwrap();
        let kept = bad.take();
        assert_eq!(kept[0].record, value);
        assert!(kept[0].reason.chars().count() < MAX_REASON_CHARS + 40);
        assert!(
            kept[0].reason.starts_with("cannot parse '") && kept[0].reason.contains("more bytes")
        );
        assert_eq!(capped("short".into()), "short");
        // Reported again (a piece's records into the read's collector), it stays as it was.
        assert_eq!(capped(kept[0].reason.clone()), kept[0].reason);
    }
}
