//! Avro values: plain datums of a given writer schema, or Confluent's wire format (a zero byte,
//! a big-endian 4-byte schema id, then the datum).

use apache_avro::Schema;

use super::options::{KafkaOptions, ValueFormat};
use crate::error::{Result, TributaryError};

/// The most items (of an array or map) or bytes (of a string or bytes value) one length prefix
/// of a datum may declare: 8 MiB, eight times Kafka's default largest message. The Avro library
/// reserves room for a declared length before reading the items, so without this bound a
/// damaged length of a few bytes asks for tens of gigabytes and aborts the process; with it,
/// such a record is a bad record ("Unable to allocate ...").
const MAX_DECLARED_LEN: usize = 8 << 20;

/// Bound the Avro library's allocations for the whole process (it keeps one limit, set once,
/// before the first datum is read).
fn bound_allocations() {
    apache_avro::max_allocation_bytes(MAX_DECLARED_LEN);
}

/// Decodes the Avro values of one source.
pub(crate) struct AvroValues {
    schema: Schema,
    confluent: bool,
    schema_id: Option<u32>,
}

impl AvroValues {
    pub(super) fn new(opts: &KafkaOptions) -> Result<Self> {
        bound_allocations();
        let text = opts
            .avro_schema
            .as_deref()
            .ok_or_else(|| TributaryError::option("avro_schema", "missing"))?;
        let schema = Schema::parse_str(text)
            .map_err(|e| TributaryError::option("avro_schema", e.to_string()))?;
        Ok(AvroValues {
            schema,
            confluent: opts.value_format == ValueFormat::AvroConfluent,
            schema_id: opts.avro_schema_id,
        })
    }

    /// Values of the writer schema `text` (Confluent's framing when `confluent`).
    pub(crate) fn from_schema(text: &str, confluent: bool) -> Result<Self> {
        bound_allocations();
        let schema = Schema::parse_str(text)
            .map_err(|e| TributaryError::option("avro_schema", e.to_string()))?;
        Ok(AvroValues {
            schema,
            confluent,
            schema_id: None,
        })
    }

    /// One value as a JSON object's bytes, or why it does not read.
    pub(super) fn to_json(&self, value: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let mut body = value;
        if self.confluent {
            if value.len() < 5 || value[0] != 0 {
                return Err(
                    "not in Confluent's wire format (a zero byte and a schema id first)".into(),
                );
            }
            let id = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
            if let Some(want) = self.schema_id {
                if id != want {
                    return Err(format!(
                        "schema id {id}, but the query reads schema id {want}"
                    ));
                }
            }
            body = &value[5..];
        }
        let datum = apache_avro::from_avro_datum(&self.schema, &mut &body[..], None)
            .map_err(|e| format!("not an Avro datum of the schema: {e}"))?;
        let json = serde_json::Value::try_from(datum).map_err(|e| e.to_string())?;
        serde_json::to_vec(&json).map_err(|e| e.to_string())
    }
}
