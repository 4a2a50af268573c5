//! Output modes, save modes and triggers.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::TributaryError;

/// Which rows of the result a streaming query writes each epoch (Spark's output modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Only new rows, each once (the default).
    #[default]
    Append,
    /// The rows that changed in the epoch.
    Update,
    /// The whole result, every epoch.
    Complete,
}

impl FromStr for OutputMode {
    type Err = TributaryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "append" => Ok(OutputMode::Append),
            "update" => Ok(OutputMode::Update),
            "complete" => Ok(OutputMode::Complete),
            other => Err(TributaryError::option(
                "output_mode",
                format!("'{other}' is not an output mode: use append, update or complete"),
            )),
        }
    }
}

impl fmt::Display for OutputMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputMode::Append => "append",
            OutputMode::Update => "update",
            OutputMode::Complete => "complete",
        })
    }
}

/// What a batch write does when the target has data (Spark's `SaveMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveMode {
    /// Add the rows.
    Append,
    /// Replace the data.
    Overwrite,
    /// Fail if the target has data (the default, as in Spark).
    #[default]
    ErrorIfExists,
    /// Do nothing if the target has data.
    Ignore,
}

impl FromStr for SaveMode {
    type Err = TributaryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "append" => Ok(SaveMode::Append),
            "overwrite" => Ok(SaveMode::Overwrite),
            "errorifexists" | "error" => Ok(SaveMode::ErrorIfExists),
            "ignore" => Ok(SaveMode::Ignore),
            other => Err(TributaryError::option(
                "mode",
                format!("'{other}' is not a save mode: use append, overwrite, error_if_exists or ignore"),
            )),
        }
    }
}

/// When epochs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An epoch every interval when there is new data; at once when the previous epoch took
    /// longer than the interval. `ProcessingTime(Duration::ZERO)` runs epochs back to back.
    ProcessingTime(Duration),
    /// All the data there at start, in epochs that honour the sources' rate limits, then stop.
    AvailableNow,
    /// One epoch with all the data there at start (rate limits ignored), then stop.
    Once,
    /// Real-time mode (Spark's `trigger(realTime=...)`): an epoch lasts this checkpoint
    /// interval; within it, rows are processed and delivered as they arrive, and the offsets,
    /// state and commit are written at its end. See `docs/real-time.md`.
    RealTime(Duration),
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger::ProcessingTime(Duration::ZERO)
    }
}

impl FromStr for Trigger {
    type Err = TributaryError;
    /// `available-now`, `once`, an interval such as `500ms`, `1s`, `1m`, `2h`, or
    /// `realtime:<checkpoint interval>` such as `realtime:5s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "available-now" | "availablenow" | "available_now" => return Ok(Trigger::AvailableNow),
            "once" => return Ok(Trigger::Once),
            _ => {}
        }
        let bad = || {
            TributaryError::option(
                "trigger",
                format!(
                    "'{s}' is not a trigger: use available-now, once, an interval like 500ms, 1s, \
                     1m, or realtime:<checkpoint interval> like realtime:5s"
                ),
            )
        };
        for prefix in ["realtime:", "real-time:", "real_time:"] {
            if let Some(rest) = t.strip_prefix(prefix) {
                return match parse_duration(rest) {
                    Some(d) if !d.is_zero() => Ok(Trigger::RealTime(d)),
                    Some(_) => Err(TributaryError::option(
                        "trigger",
                        format!("'{s}': a real-time epoch needs a checkpoint interval above zero, like realtime:5s"),
                    )),
                    None => Err(bad()),
                };
            }
        }
        parse_duration(&t)
            .map(Trigger::ProcessingTime)
            .ok_or_else(bad)
    }
}

/// Parse `500ms`, `10s`, `1m`, `2h`, `1 minute`, `10 seconds`.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "ms" | "millisecond" | "milliseconds" => n,
        "s" | "sec" | "second" | "seconds" => n * 1000.0,
        "m" | "min" | "minute" | "minutes" => n * 60_000.0,
        "h" | "hour" | "hours" => n * 3_600_000.0,
        "d" | "day" | "days" => n * 86_400_000.0,
        "w" | "week" | "weeks" => n * 604_800_000.0,
        _ => return None,
    };
    Some(Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse() {
        assert_eq!(
            "available-now".parse::<Trigger>().unwrap(),
            Trigger::AvailableNow
        );
        assert_eq!("once".parse::<Trigger>().unwrap(), Trigger::Once);
        assert_eq!(
            "500ms".parse::<Trigger>().unwrap(),
            Trigger::ProcessingTime(Duration::from_millis(500))
        );
        assert_eq!(
            "1s".parse::<Trigger>().unwrap(),
            Trigger::ProcessingTime(Duration::from_secs(1))
        );
        assert_eq!(
            "1m".parse::<Trigger>().unwrap(),
            Trigger::ProcessingTime(Duration::from_secs(60))
        );
        assert_eq!(
            "realtime:5s".parse::<Trigger>().unwrap(),
            Trigger::RealTime(Duration::from_secs(5))
        );
        assert_eq!(
            "Real-Time: 500 ms".parse::<Trigger>().unwrap(),
            Trigger::RealTime(Duration::from_millis(500))
        );
        assert!("realtime:0s"
            .parse::<Trigger>()
            .unwrap_err()
            .to_string()
            .contains("above zero"));
        assert!("realtime:soon"
            .parse::<Trigger>()
            .unwrap_err()
            .to_string()
            .contains("realtime:5s"));
        assert!("soon"
            .parse::<Trigger>()
            .unwrap_err()
            .to_string()
            .contains("available-now"));
    }
}
