//! Asking the broker where its partitions are: which partitions exist and their low and high
//! offsets, judged against where the query is.
//!
//! ```text
//!  micro-batch:  latest_offset ─► probe (metadata + watermarks) ─► judge(start) ─► end
//!  real-time:    latest_offset ─► a finished background probe? judge(start): loss / new partitions
//!                              ─► a probe due? start one in the background (PROBE_EVERY)
//!                              ─► end = where the reader that fetches ahead is
//! ```
//!
//! In real-time mode a probe costs a round trip per partition; made in the driver's path it held
//! every record that came meanwhile. In the background, what it finds (records lost to retention,
//! partitions added) is acted on at the next arrival after it returns.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;

use super::client::{consumer, partitions, watermarks};
use super::options::{KafkaOptions, Offsets};

/// Per partition, its low and high offsets.
pub(crate) type Marks = BTreeMap<(String, i32), (i64, i64)>;

/// What a probe tells about a query at `start`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Judged {
    /// Every partition's high offset.
    pub latest: Offsets,
    /// Partitions `start` does not have, at their low offset.
    pub new_parts: Offsets,
    /// Ranges not read yet that the broker no longer has, described for the error.
    pub lost: Vec<String>,
}

/// Judge a probe's `marks` against the query's `start` offsets.
pub(crate) fn judge(start: &Offsets, marks: &Marks) -> Judged {
    let mut out = Judged::default();
    for ((t, p), (low, high)) in marks {
        match start.get(t).and_then(|m| m.get(p)) {
            None => {
                out.new_parts.entry(t.clone()).or_default().insert(*p, *low);
            }
            Some(s) if s < low => out.lost.push(format!("{t}/{p}: offsets {s}..{low}")),
            _ => {}
        }
        out.latest.entry(t.clone()).or_default().insert(*p, *high);
    }
    for (t, ps) in start {
        for p in ps.keys() {
            if !marks.contains_key(&(t.clone(), *p)) {
                out.lost.push(format!("{t}/{p}: the partition is gone"));
            }
        }
    }
    out
}

/// The partitions and offsets the broker has now.
pub(crate) fn probe(c: &BaseConsumer, opts: &KafkaOptions) -> crate::error::Result<Marks> {
    let parts = partitions(c, opts)?;
    watermarks(c, &parts)
}

/// Real-time mode's probe, made once per interval on a blocking thread with its own consumer.
pub(crate) struct BackgroundProbe {
    every: Duration,
    state: Arc<Mutex<ProbeState>>,
}

#[derive(Default)]
struct ProbeState {
    /// When the last probe (in the background or not) began.
    began: Option<Instant>,
    running: bool,
    /// Bumped by a probe in the driver's path: a background probe begun before it is stale.
    generation: u64,
    found: Option<Marks>,
    client: Option<BaseConsumer>,
}

impl ProbeState {
    /// Whether a probe is due at `now`: none has begun within the interval.
    fn due(&self, every: Duration, now: Instant) -> bool {
        self.began.is_none_or(|t| now.duration_since(t) >= every)
    }
}

impl BackgroundProbe {
    pub(crate) fn new(every: Duration) -> Self {
        BackgroundProbe {
            every,
            state: Arc::new(Mutex::new(ProbeState::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A probe in the driver's path begins at `now`: what the background found before is stale.
    pub(crate) fn probed_inline(&self, now: Instant) {
        let mut s = self.lock();
        s.began = Some(now);
        s.generation += 1;
        s.found = None;
    }

    /// What the last background probe found, once.
    pub(crate) fn take_found(&self) -> Option<Marks> {
        self.lock().found.take()
    }

    /// Begin a probe in the background when one is due and none runs. A failed probe is logged
    /// and dropped: the reader that fetches ahead fails on its own when the broker is away, and
    /// the source then probes in the driver's path, where the error is the query's.
    pub(crate) fn begin_if_due(&self, opts: &Arc<KafkaOptions>, now: Instant) {
        let generation = {
            let mut s = self.lock();
            if s.running || !s.due(self.every, now) {
                return;
            }
            s.began = Some(now);
            s.running = true;
            s.generation
        };
        let (state, opts) = (self.state.clone(), opts.clone());
        tokio::task::spawn_blocking(move || {
            let client = state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .client
                .take();
            let found = client
                .map_or_else(|| consumer(&opts), Ok)
                .and_then(|c| probe(&c, &opts).map(|m| (m, c)));
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.running = false;
            match found {
                Ok((marks, c)) => {
                    s.client = Some(c);
                    if s.generation == generation {
                        s.found = Some(marks);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "a Kafka probe in the background failed"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(v: &[(&str, i32, i64)]) -> Offsets {
        let mut o = Offsets::new();
        for (t, p, e) in v {
            o.entry(t.to_string()).or_default().insert(*p, *e);
        }
        o
    }

    fn marks(v: &[(&str, i32, i64, i64)]) -> Marks {
        v.iter()
            .map(|(t, p, l, h)| ((t.to_string(), *p), (*l, *h)))
            .collect()
    }

    #[test]
    fn a_query_behind_the_low_offset_has_lost_records() {
        let j = judge(
            &offsets(&[("t", 0, 5), ("t", 1, 20)]),
            &marks(&[("t", 0, 10, 30), ("t", 1, 0, 40)]),
        );
        assert_eq!(j.lost, vec!["t/0: offsets 5..10".to_string()]);
        assert_eq!(j.latest, offsets(&[("t", 0, 30), ("t", 1, 40)]));
        assert!(j.new_parts.is_empty());
    }

    #[test]
    fn new_and_gone_partitions_are_told_apart() {
        let j = judge(
            &offsets(&[("t", 0, 5), ("u", 0, 1)]),
            &marks(&[("t", 0, 0, 9), ("t", 1, 3, 7)]),
        );
        assert_eq!(j.new_parts, offsets(&[("t", 1, 3)]));
        assert_eq!(j.lost, vec!["u/0: the partition is gone".to_string()]);
    }

    #[test]
    fn probes_are_due_once_per_interval_and_an_inline_probe_makes_a_background_one_stale() {
        let p = BackgroundProbe::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let every = Duration::from_secs(1);
        assert!(p.lock().due(every, t0));
        p.probed_inline(t0);
        assert!(!p.lock().due(every, t0 + Duration::from_millis(999)));
        assert!(p.lock().due(every, t0 + every));
        // A result of an earlier generation is not handed out.
        {
            let mut s = p.lock();
            s.found = Some(marks(&[("t", 0, 0, 1)]));
        }
        p.probed_inline(t0 + Duration::from_secs(1));
        assert_eq!(p.take_found(), None);
    }
}
