//! Encoding of checkpoint files: a version line (`v1`) and one JSON document, like Spark's logs.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ProtocolError;

const VERSION_LINE: &str = "v1";

/// Encode a checkpoint record.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(VERSION_LINE.as_bytes());
    out.push(b'\n');
    // Serialising plain structs of strings, numbers and JSON values cannot fail.
    out.extend_from_slice(&serde_json::to_vec(value).unwrap_or_default());
    out.push(b'\n');
    out
}

/// Decode a checkpoint record read from `file` (the name is used in errors only).
pub fn decode<T: DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, ProtocolError> {
    let damaged = |reason: String| ProtocolError::Damaged {
        file: file.to_string(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| damaged(format!("not UTF-8 ({e})")))?;
    let (version, body) = text
        .split_once('\n')
        .ok_or_else(|| damaged("missing version line (expected 'v1')".to_string()))?;
    let version = version.trim();
    if version != VERSION_LINE {
        return Err(damaged(format!(
            "unsupported log version '{version}' (this build reads '{VERSION_LINE}')"
        )));
    }
    serde_json::from_str(body.trim()).map_err(|e| damaged(format!("invalid JSON ({e})")))
}
