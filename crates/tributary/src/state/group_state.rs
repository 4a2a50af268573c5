//! User-defined state per key: what `map_groups_with_state` and `flat_map_groups_with_state`
//! hand to the user's function (Spark's `GroupState`), typed through serde.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, TributaryError};

/// When a key's state times out when no rows come for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupStateTimeout {
    /// Never.
    NoTimeout,
    /// A processing-time duration after the last call (`set_timeout_duration`), measured with
    /// the epoch's planned time, so a re-run epoch times out the same keys.
    ProcessingTime,
    /// An event-time timestamp (`set_timeout_timestamp`), reached when the watermark passes it.
    EventTime,
}

/// The untyped state of one key during one call (JSON), as the operators keep it.
#[derive(Debug, Clone, Default)]
pub struct RawGroupState {
    pub(crate) value: Option<Value>,
    pub(crate) removed: bool,
    pub(crate) timeout_ms: Option<i64>,
    pub(crate) timed_out: bool,
    pub(crate) watermark_ms: Option<i64>,
    pub(crate) now_ms: i64,
    pub(crate) timeout: Option<GroupStateTimeout>,
}

/// The state of one key, typed: `S` is any serde type.
pub struct GroupState<'a, S> {
    raw: &'a mut RawGroupState,
    _s: PhantomData<S>,
}

impl<'a, S: Serialize + DeserializeOwned> GroupState<'a, S> {
    pub(crate) fn new(raw: &'a mut RawGroupState) -> Self {
        GroupState {
            raw,
            _s: PhantomData,
        }
    }

    /// Whether the key has state.
    pub fn exists(&self) -> bool {
        self.raw.value.is_some() && !self.raw.removed
    }

    /// The state, if any.
    pub fn get(&self) -> Result<Option<S>> {
        match (&self.raw.value, self.raw.removed) {
            (Some(v), false) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
                TributaryError::Plan(format!(
                    "the stored state of this key does not read back as the state type: {e}; \
                     a changed state type needs a new checkpoint"
                ))
            }),
            _ => Ok(None),
        }
    }

    /// Replace the state.
    pub fn update(&mut self, state: &S) -> Result<()> {
        self.raw.value = Some(
            serde_json::to_value(state)
                .map_err(|e| TributaryError::Plan(format!("the state does not serialize: {e}")))?,
        );
        self.raw.removed = false;
        Ok(())
    }

    /// Remove the key's state (and its timeout).
    pub fn remove(&mut self) {
        self.raw.removed = true;
        self.raw.timeout_ms = None;
    }

    /// Whether this call is for a timeout (no rows).
    pub fn has_timed_out(&self) -> bool {
        self.raw.timed_out
    }

    /// Time out after `d` of processing time without rows for this key (processing-time
    /// timeout). Set it on every call; a call that does not set it clears it.
    pub fn set_timeout_duration(&mut self, d: Duration) -> Result<()> {
        if self.raw.timeout != Some(GroupStateTimeout::ProcessingTime) {
            return Err(TributaryError::Plan(
                "set_timeout_duration needs GroupStateTimeout::ProcessingTime".into(),
            ));
        }
        self.raw.timeout_ms = Some(self.raw.now_ms.saturating_add(d.as_millis() as i64));
        Ok(())
    }

    /// Time out when the watermark passes `ms` (event-time timeout). Set it on every call.
    pub fn set_timeout_timestamp(&mut self, ms: i64) -> Result<()> {
        if self.raw.timeout != Some(GroupStateTimeout::EventTime) {
            return Err(TributaryError::Plan(
                "set_timeout_timestamp needs GroupStateTimeout::EventTime".into(),
            ));
        }
        if let Some(w) = self.raw.watermark_ms {
            if ms <= w {
                return Err(TributaryError::Plan(format!(
                    "set_timeout_timestamp({ms}) is not after the watermark ({w})"
                )));
            }
        }
        self.raw.timeout_ms = Some(ms);
        Ok(())
    }

    /// The watermark of the epoch, in milliseconds.
    pub fn current_watermark_ms(&self) -> Option<i64> {
        self.raw.watermark_ms
    }

    /// The epoch's processing time, in milliseconds.
    pub fn current_processing_time_ms(&self) -> i64 {
        self.raw.now_ms
    }
}
