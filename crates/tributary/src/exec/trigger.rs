//! The trigger policy: what the driver does next, decided from the trigger, the clock and
//! what the sources and the stateful operator report. Pure: no I/O, no sleeping; the driver
//! reads the clock, asks, and carries the answer out.
//!
//! ```text
//!  sources polled ──► new data? ── yes ─────────────────────────────► RunEpoch
//!                        │ no
//!                        ├─ stateful: watermark move (final flush, idle timeout) ─► applied by the driver
//!                        ├─ watermark moved or timeouts due ────────► RunNoDataEpoch
//!                        ├─ AvailableNow / Once ────────────────────► Stop
//!                        └─ ProcessingTime(d) ──────────────────────► Wait { until, idle }
//!  epoch done ──► Once: Stop · AvailableNow: poll again · ProcessingTime(d): Wait until start + d
//!
//!  RealTime(d): an epoch lasts d ([`RealTimeEpoch`]); within it
//!  poll ──► rows? ── yes ──► process the arrival, poll again at once
//!             │ no ──► wait 1 ms, doubling while idle up to 16 ms (never past the end)
//!  end of d ──► Close: offsets, state, sink commit, commit log
//! ```

use std::time::Duration;

use crate::modes::Trigger;

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Run an epoch over the new offsets.
    RunEpoch,
    /// Run an epoch without new input: the watermark moved or state timeouts are due, so
    /// windows close and timeouts fire without waiting for rows.
    RunNoDataEpoch,
    /// Poll the sources again now.
    Poll,
    /// Wait until this time (ms since 1970), then poll; `idle` when it is because no data came.
    Wait {
        /// When to poll again.
        until_ms: i64,
        /// Whether the query is idle (listeners hear `on_query_idle`).
        idle: bool,
    },
    /// The query is done.
    Stop,
}

/// How the watermark moves when no data came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatermarkMove {
    /// It stays.
    Stay,
    /// The input of a bounded run is exhausted: move it to the end (`flush_at_end`).
    Finish,
    /// The source has been idle: move it with the clock to this value.
    AdvanceTo(i64),
}

/// The shortest wait between two polls of an idle query.
const MIN_IDLE_POLL_MS: i64 = 100;

/// The trigger policy of one query, with the little it remembers (when data last came).
#[derive(Debug, Clone)]
pub(crate) struct TriggerPolicy {
    trigger: Trigger,
    flush_at_end: bool,
    idle_timeout: Option<Duration>,
    /// When the last epoch with data ended, and the watermark after it.
    last_data: Option<(i64, Option<i64>)>,
    /// When the watermark last moved because the source was idle.
    idle_moved_ms: i64,
}

impl TriggerPolicy {
    /// The policy of `trigger`, starting at `now_ms`.
    pub(crate) fn new(
        trigger: Trigger,
        flush_at_end: bool,
        idle_timeout: Option<Duration>,
        now_ms: i64,
    ) -> Self {
        TriggerPolicy {
            trigger,
            flush_at_end,
            idle_timeout,
            last_data: Some((now_ms, None)),
            idle_moved_ms: now_ms,
        }
    }

    /// The checkpoint interval, in real-time mode.
    pub(crate) fn real_time(&self) -> Option<Duration> {
        match self.trigger {
            Trigger::RealTime(d) => Some(d),
            _ => None,
        }
    }

    /// Whether sources may cap an epoch at their rate limits (`Once` reads everything).
    pub(crate) fn rate_limited(&self) -> bool {
        self.trigger != Trigger::Once
    }

    /// After the epoch planned before a restart ran again.
    pub(crate) fn after_rerun(&self) -> Next {
        // The re-run epoch is the one epoch of `Once`, as in Spark.
        if self.trigger == Trigger::Once {
            Next::Stop
        } else {
            Next::Poll
        }
    }

    /// How the watermark of a stateful query moves when the sources have nothing new.
    pub(crate) fn idle_watermark(&mut self, now_ms: i64, watermark_final: bool) -> WatermarkMove {
        let bounded = matches!(self.trigger, Trigger::AvailableNow | Trigger::Once);
        if bounded && self.flush_at_end && !watermark_final {
            return WatermarkMove::Finish;
        }
        // Beyond Spark: a quiet source lets event time move with the clock, so windows close
        // when the stream goes idle.
        if let (
            Some(timeout),
            Trigger::ProcessingTime(_) | Trigger::RealTime(_),
            Some((at, Some(base))),
        ) = (self.idle_timeout, self.trigger, self.last_data)
        {
            let timeout = timeout.as_millis() as i64;
            let idle = now_ms - at;
            if idle >= timeout && now_ms - self.idle_moved_ms >= timeout {
                self.idle_moved_ms = now_ms;
                return WatermarkMove::AdvanceTo(base.saturating_add(idle));
            }
        }
        WatermarkMove::Stay
    }

    /// What to do after polling the sources: `new_data` when any has new offsets,
    /// `no_data_work` when a no-data epoch would change something (the watermark moved past
    /// the last epoch's, or state timeouts are due). `trigger_start_ms` is when this poll began.
    pub(crate) fn after_poll(
        &self,
        now_ms: i64,
        trigger_start_ms: i64,
        new_data: bool,
        no_data_work: bool,
    ) -> Next {
        if new_data {
            return Next::RunEpoch;
        }
        if no_data_work {
            return Next::RunNoDataEpoch;
        }
        match self.trigger {
            Trigger::AvailableNow | Trigger::Once => Next::Stop,
            Trigger::ProcessingTime(d) => Next::Wait {
                until_ms: trigger_start_ms + (d.as_millis() as i64).max(MIN_IDLE_POLL_MS),
                idle: true,
            }
            .at_least(now_ms),
            // The driver runs real-time epochs by [`RealTimeEpoch`]; between them, it polls.
            Trigger::RealTime(_) => Next::Poll,
        }
    }

    /// After an epoch ran (`had_data`: over new input, not a no-data epoch).
    pub(crate) fn after_epoch(
        &mut self,
        now_ms: i64,
        trigger_start_ms: i64,
        had_data: bool,
        watermark: Option<i64>,
    ) -> Next {
        if !had_data {
            return Next::Poll;
        }
        self.last_data = Some((now_ms, watermark));
        self.idle_moved_ms = now_ms;
        match self.trigger {
            Trigger::Once => Next::Stop,
            Trigger::AvailableNow | Trigger::RealTime(_) => Next::Poll,
            // Start at once when behind; otherwise wait for the next interval.
            Trigger::ProcessingTime(d) => {
                let until_ms = trigger_start_ms + d.as_millis() as i64;
                if until_ms <= now_ms {
                    Next::Poll
                } else {
                    Next::Wait {
                        until_ms,
                        idle: false,
                    }
                }
            }
        }
    }
}

/// The first wait between two polls of a real-time epoch that found nothing.
const REAL_TIME_FIRST_WAIT_MS: i64 = 1;
/// The longest wait between two polls of a real-time epoch.
const REAL_TIME_MAX_WAIT_MS: i64 = 16;

/// What a real-time epoch does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Poll the sources now.
    Poll,
    /// Nothing came: wait until this time, then poll.
    Wait(i64),
    /// The checkpoint interval is over: close the epoch.
    Close,
}

/// One epoch of real-time mode: it lasts the checkpoint interval, and polls its sources
/// at once after rows came and at growing intervals while none come (1 ms doubling to 16 ms:
/// a busy stream is read without pause, an idle one does not spin).
#[derive(Debug, Clone)]
pub(crate) struct RealTimeEpoch {
    /// When the epoch closes.
    pub end_ms: i64,
    wait_ms: i64,
}

impl RealTimeEpoch {
    /// An epoch starting at `now_ms`, lasting `interval`.
    pub(crate) fn start(now_ms: i64, interval: Duration) -> Self {
        RealTimeEpoch {
            end_ms: now_ms.saturating_add(interval.as_millis() as i64),
            wait_ms: REAL_TIME_FIRST_WAIT_MS,
        }
    }

    /// After a poll at `now_ms` that found rows (`had_rows`) or not.
    pub(crate) fn after_poll(&mut self, now_ms: i64, had_rows: bool) -> Arrival {
        if now_ms >= self.end_ms {
            return Arrival::Close;
        }
        if had_rows {
            self.wait_ms = REAL_TIME_FIRST_WAIT_MS;
            return Arrival::Poll;
        }
        let until = (now_ms + self.wait_ms).min(self.end_ms);
        self.wait_ms = (self.wait_ms * 2).min(REAL_TIME_MAX_WAIT_MS);
        Arrival::Wait(until)
    }

    /// Whether the epoch is over at `now_ms`.
    pub(crate) fn over(&self, now_ms: i64) -> bool {
        now_ms >= self.end_ms
    }
}

impl Next {
    /// A wait that ended already is a poll now.
    fn at_least(self, now_ms: i64) -> Next {
        match self {
            Next::Wait { until_ms, idle } if until_ms <= now_ms && !idle => Next::Poll,
            Next::Wait { until_ms, idle } => Next::Wait {
                until_ms: until_ms.max(now_ms),
                idle,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn every(ms: u64) -> Trigger {
        Trigger::ProcessingTime(Duration::from_millis(ms))
    }

    #[test]
    fn new_data_runs_an_epoch_whatever_the_trigger() {
        for t in [Trigger::AvailableNow, Trigger::Once, every(1000)] {
            let p = TriggerPolicy::new(t, false, None, T0);
            assert_eq!(p.after_poll(T0, T0, true, false), Next::RunEpoch, "{t:?}");
            assert_eq!(
                p.after_poll(T0, T0, false, true),
                Next::RunNoDataEpoch,
                "{t:?}"
            );
        }
    }

    #[test]
    fn bounded_triggers_stop_when_nothing_is_left() {
        for t in [Trigger::AvailableNow, Trigger::Once] {
            let p = TriggerPolicy::new(t, false, None, T0);
            assert_eq!(p.after_poll(T0, T0, false, false), Next::Stop);
        }
    }

    #[test]
    fn once_runs_one_epoch_and_available_now_runs_until_exhausted() {
        let mut once = TriggerPolicy::new(Trigger::Once, false, None, T0);
        assert!(!once.rate_limited());
        assert_eq!(once.after_epoch(T0 + 5, T0, true, None), Next::Stop);
        assert_eq!(
            once.after_rerun(),
            Next::Stop,
            "a re-run epoch is Once's epoch"
        );
        let mut now = TriggerPolicy::new(Trigger::AvailableNow, false, None, T0);
        assert!(now.rate_limited());
        assert_eq!(now.after_epoch(T0 + 5, T0, true, None), Next::Poll);
        assert_eq!(now.after_rerun(), Next::Poll);
    }

    #[test]
    fn processing_time_waits_for_the_rest_of_the_interval_or_starts_at_once_when_behind() {
        let mut p = TriggerPolicy::new(every(1000), false, None, T0);
        assert_eq!(
            p.after_epoch(T0 + 300, T0, true, None),
            Next::Wait {
                until_ms: T0 + 1000,
                idle: false
            }
        );
        assert_eq!(
            p.after_epoch(T0 + 1500, T0, true, None),
            Next::Poll,
            "behind"
        );
        assert_eq!(
            p.after_epoch(T0 + 1500, T0, false, None),
            Next::Poll,
            "no-data epoch"
        );
    }

    #[test]
    fn an_idle_processing_time_query_waits_a_whole_interval_and_at_least_the_minimum() {
        let p = TriggerPolicy::new(every(1000), false, None, T0);
        assert_eq!(
            p.after_poll(T0 + 20, T0, false, false),
            Next::Wait {
                until_ms: T0 + 1000,
                idle: true
            }
        );
        let fast = TriggerPolicy::new(every(0), false, None, T0);
        assert_eq!(
            fast.after_poll(T0 + 20, T0, false, false),
            Next::Wait {
                until_ms: T0 + MIN_IDLE_POLL_MS,
                idle: true
            },
            "a zero interval does not spin"
        );
        assert_eq!(
            fast.after_poll(T0 + 500, T0, false, false),
            Next::Wait {
                until_ms: T0 + 500,
                idle: true
            },
            "a late poll waits no more"
        );
    }

    #[test]
    fn a_real_time_epoch_polls_at_once_after_rows_and_backs_off_while_idle() {
        let mut e = RealTimeEpoch::start(T0, Duration::from_millis(100));
        assert_eq!(e.after_poll(T0, true), Arrival::Poll);
        assert_eq!(e.after_poll(T0, false), Arrival::Wait(T0 + 1));
        assert_eq!(e.after_poll(T0 + 1, false), Arrival::Wait(T0 + 3));
        assert_eq!(e.after_poll(T0 + 3, false), Arrival::Wait(T0 + 7));
        assert_eq!(e.after_poll(T0 + 7, false), Arrival::Wait(T0 + 15));
        assert_eq!(e.after_poll(T0 + 15, false), Arrival::Wait(T0 + 31));
        assert_eq!(
            e.after_poll(T0 + 31, false),
            Arrival::Wait(T0 + 47),
            "at most 16 ms"
        );
        assert_eq!(
            e.after_poll(T0 + 47, true),
            Arrival::Poll,
            "rows: at once again"
        );
        assert_eq!(e.after_poll(T0 + 48, false), Arrival::Wait(T0 + 49));
        assert_eq!(
            e.after_poll(T0 + 95, false),
            Arrival::Wait(T0 + 97),
            "the wait grows again from 1 ms"
        );
        let mut late = RealTimeEpoch::start(T0, Duration::from_millis(100));
        for _ in 0..10 {
            late.after_poll(T0, false);
        }
        assert_eq!(
            late.after_poll(T0 + 90, false),
            Arrival::Wait(T0 + 100),
            "never past the end"
        );
        assert!(!late.over(T0 + 99));
        assert!(late.over(T0 + 100));
        assert_eq!(late.after_poll(T0 + 100, true), Arrival::Close);
    }

    #[test]
    fn a_real_time_query_moves_an_idle_watermark_as_an_interval_one_does() {
        let timeout = Some(Duration::from_secs(10));
        let rt = Trigger::RealTime(Duration::from_secs(5));
        let mut p = TriggerPolicy::new(rt, false, timeout, T0);
        assert!(p.rate_limited());
        assert_eq!(p.after_epoch(T0, T0, true, Some(5_000)), Next::Poll);
        assert_eq!(
            p.idle_watermark(T0 + 10_000, false),
            WatermarkMove::AdvanceTo(15_000)
        );
    }

    #[test]
    fn a_bounded_run_flushes_the_watermark_once_when_asked() {
        let mut p = TriggerPolicy::new(Trigger::AvailableNow, true, None, T0);
        assert_eq!(p.idle_watermark(T0, false), WatermarkMove::Finish);
        assert_eq!(p.idle_watermark(T0, true), WatermarkMove::Stay);
        let mut p = TriggerPolicy::new(Trigger::AvailableNow, false, None, T0);
        assert_eq!(p.idle_watermark(T0, false), WatermarkMove::Stay);
        let mut p = TriggerPolicy::new(every(100), true, None, T0);
        assert_eq!(
            p.idle_watermark(T0, false),
            WatermarkMove::Stay,
            "streams never end"
        );
    }

    #[test]
    fn an_idle_source_moves_the_watermark_with_the_clock_once_per_timeout() {
        let timeout = Some(Duration::from_secs(10));
        let mut p = TriggerPolicy::new(every(1000), false, timeout, T0);
        assert_eq!(
            p.idle_watermark(T0 + 60_000, false),
            WatermarkMove::Stay,
            "no watermark yet: nothing to move"
        );
        p.after_epoch(T0, T0, true, Some(5_000));
        assert_eq!(p.idle_watermark(T0 + 9_999, false), WatermarkMove::Stay);
        assert_eq!(
            p.idle_watermark(T0 + 10_000, false),
            WatermarkMove::AdvanceTo(15_000)
        );
        assert_eq!(
            p.idle_watermark(T0 + 15_000, false),
            WatermarkMove::Stay,
            "at most once per timeout"
        );
        assert_eq!(
            p.idle_watermark(T0 + 20_000, false),
            WatermarkMove::AdvanceTo(25_000)
        );
        // Data again: the idle clock starts over.
        p.after_epoch(T0 + 21_000, T0 + 20_500, true, Some(30_000));
        assert_eq!(p.idle_watermark(T0 + 25_000, false), WatermarkMove::Stay);
        let mut bounded = TriggerPolicy::new(Trigger::AvailableNow, false, timeout, T0);
        bounded.after_epoch(T0, T0, true, Some(5_000));
        assert_eq!(
            bounded.idle_watermark(T0 + 60_000, false),
            WatermarkMove::Stay,
            "only streams with an interval go idle"
        );
    }
}
