//! Who may write a checkpoint: the lease decision.
//!
//! A running query holds a lease on its checkpoint: a `lease` file naming its owner (host,
//! process and its start time, run id) with a heartbeat and an expiry that the owner renews.
//! A second run on the same checkpoint is refused with the owner named. A lease whose
//! heartbeat expired, or whose process is gone from this host (a killed run), is taken over.
//! The write-ahead offsets are created only if absent, so even two runs that both believe
//! they hold the lease cannot both plan an epoch.

use serde::{Deserialize, Serialize};

/// The name of the lease file in a checkpoint.
pub const LEASE_FILE: &str = "lease";

/// The content of the lease file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The owner's host name.
    pub host: String,
    /// The owner's process id.
    pub pid: u32,
    /// When the owner's process started (clock ticks since boot, Linux), to tell a reused
    /// process id from the owner.
    pub process_start: Option<u64>,
    /// The owner's run id (a new one at every start of a query).
    pub run_id: String,
    /// When the lease was taken, milliseconds since the Unix epoch.
    pub acquired_ms: i64,
    /// The owner's last heartbeat.
    pub heartbeat_ms: i64,
    /// After this time the lease is free, unless renewed.
    pub expires_ms: i64,
}

impl std::fmt::Display for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} of process {} on host '{}' (holding it since {} ms, last heartbeat at {} ms, expiring at {} ms since 1970)",
            self.run_id, self.pid, self.host, self.acquired_ms, self.heartbeat_ms, self.expires_ms
        )
    }
}

/// What a starting run does about the checkpoint's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// No lease: take it (create the file only if absent).
    Take,
    /// The lease is stale: replace it.
    TakeOver {
        /// Why it is stale.
        why: &'static str,
    },
    /// Another run holds it.
    Refuse,
}

/// Decide about `existing`, for a run on `host` at `now_ms`; `alive(pid, process_start)` says
/// whether a process of this host is still the one that took the lease.
pub fn decide_lease(
    existing: Option<&Lease>,
    host: &str,
    now_ms: i64,
    alive: &dyn Fn(u32, Option<u64>) -> bool,
) -> LeaseDecision {
    match existing {
        None => LeaseDecision::Take,
        Some(l) if l.expires_ms <= now_ms => LeaseDecision::TakeOver {
            why: "its heartbeat expired",
        },
        Some(l) if l.host == host && !alive(l.pid, l.process_start) => LeaseDecision::TakeOver {
            why: "its process is gone",
        },
        Some(_) => LeaseDecision::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(host: &str, pid: u32, expires_ms: i64) -> Lease {
        Lease {
            host: host.into(),
            pid,
            process_start: Some(7),
            run_id: "r1".into(),
            acquired_ms: 0,
            heartbeat_ms: 0,
            expires_ms,
        }
    }

    #[test]
    fn a_live_owner_keeps_the_lease_a_dead_or_silent_one_loses_it() {
        let alive = |pid: u32, start: Option<u64>| pid == 10 && start == Some(7);
        assert_eq!(decide_lease(None, "h", 0, &alive), LeaseDecision::Take);
        assert_eq!(
            decide_lease(Some(&lease("h", 10, 1000)), "h", 500, &alive),
            LeaseDecision::Refuse
        );
        assert_eq!(
            decide_lease(Some(&lease("h", 11, 1000)), "h", 500, &alive),
            LeaseDecision::TakeOver {
                why: "its process is gone"
            }
        );
        assert_eq!(
            decide_lease(Some(&lease("other", 11, 1000)), "h", 500, &alive),
            LeaseDecision::Refuse,
            "a process of another host cannot be checked: its lease holds until it expires"
        );
        assert_eq!(
            decide_lease(Some(&lease("other", 11, 1000)), "h", 1000, &alive),
            LeaseDecision::TakeOver {
                why: "its heartbeat expired"
            }
        );
    }
}
