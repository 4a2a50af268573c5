//! The retry policy: which errors are worth another attempt, and how long to wait first.
//! Pure; the driver sleeps.

use std::time::Duration;

use crate::error::{ErrorDomain, TributaryError};

/// Exponential backoff for transient errors (storage and remote services, [`ErrorDomain::External`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles.
    pub first_backoff: Duration,
    /// No wait is longer than this.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Five attempts, waiting 0.4 s, 0.8 s, 1.6 s and 3.2 s between them.
    pub(crate) const DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        first_backoff: Duration::from_millis(400),
        max_backoff: Duration::from_secs(30),
    };

    /// How long to wait before attempt `attempt + 1` after `error` ended attempt `attempt`
    /// (counted from 1); `None`: give up and report the error.
    pub(crate) fn backoff(&self, attempt: u32, error: &TributaryError) -> Option<Duration> {
        if error.domain() != ErrorDomain::External || attempt >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        Some(
            self.first_backoff
                .saturating_mul(factor)
                .min(self.max_backoff),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage() -> TributaryError {
        TributaryError::Storage {
            location: "s3://b/t".into(),
            message: "connection reset".into(),
        }
    }

    #[test]
    fn transient_errors_are_retried_with_doubling_waits_until_the_last_attempt() {
        let p = RetryPolicy::DEFAULT;
        let waits: Vec<Option<Duration>> = (1..=5).map(|a| p.backoff(a, &storage())).collect();
        assert_eq!(
            waits,
            vec![
                Some(Duration::from_millis(400)),
                Some(Duration::from_millis(800)),
                Some(Duration::from_millis(1600)),
                Some(Duration::from_millis(3200)),
                None
            ]
        );
        let capped = RetryPolicy {
            max_attempts: 40,
            ..p
        };
        assert_eq!(
            capped.backoff(30, &storage()),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn errors_of_the_user_or_of_tributary_are_not_retried() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(
            p.backoff(1, &TributaryError::Plan("bad query".into())),
            None
        );
        assert_eq!(p.backoff(1, &TributaryError::Internal("bug".into())), None);
        let bad = TributaryError::BadRecord {
            location: "f:1".into(),
            reason: "not JSON".into(),
        };
        assert_eq!(p.backoff(1, &bad), None);
    }
}
