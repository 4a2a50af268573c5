//! The storage side of the checkpoint lease (the decision is `tributary_checkpoint::lease`):
//! take it at start, renew it while the query runs, give it back when the query ends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tributary_checkpoint::{codec, decide_lease, Lease, LeaseDecision, LEASE_FILE};

use crate::clock::Clock;
use crate::error::{Result, TributaryError};
use crate::location::Location;

/// How often the owner renews its lease.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long a lease holds without a heartbeat.
const EXPIRY_MS: i64 = 60_000;

/// A lease this run holds on a checkpoint.
#[derive(Debug)]
pub(crate) struct CheckpointLease {
    root: Location,
    lease: Mutex<Lease>,
    /// Set by the heartbeat when another run took the lease.
    lost: Arc<Mutex<Option<String>>>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// When process `pid` started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn alive(pid: u32, start: Option<u64>) -> bool {
    match process_start(pid) {
        None => !std::path::Path::new("/proc").exists(),
        Some(now) => start.is_none_or(|s| s == now),
    }
}

impl CheckpointLease {
    /// Take the lease on the checkpoint at `root` for `run_id`, or refuse naming its owner.
    pub(crate) async fn acquire(
        root: &Location,
        run_id: &str,
        clock: &Arc<dyn Clock>,
    ) -> Result<Arc<CheckpointLease>> {
        root.ensure_dir()?;
        let now = clock.now_ms();
        let pid = std::process::id();
        let mine = Lease {
            host: host(),
            pid,
            process_start: process_start(pid),
            run_id: run_id.to_string(),
            acquired_ms: now,
            heartbeat_ms: now,
            expires_ms: now + EXPIRY_MS,
        };
        let refuse = |holder: &Lease| {
            TributaryError::Plan(format!(
                "the checkpoint '{}' is in use by another run of the query: {holder}. Stop that \
                 run first (or wait for its lease to expire), or give this query its own \
                 checkpoint location",
                root.display
            ))
        };
        let existing = read(root).await?;
        match decide_lease(existing.as_ref(), &mine.host, now, &alive) {
            LeaseDecision::Refuse => {
                return Err(refuse(existing.as_ref().expect("a lease to refuse")))
            }
            LeaseDecision::TakeOver { why } => {
                tracing::warn!(
                    "taking over the checkpoint lease of {}: {why}",
                    existing.as_ref().expect("a stale lease")
                );
                root.delete(LEASE_FILE).await?;
            }
            LeaseDecision::Take => {}
        }
        if !root.write_new(LEASE_FILE, codec::encode(&mine)).await? {
            // Another run took it between our read and our write.
            return Err(match read(root).await? {
                Some(holder) => refuse(&holder),
                None => TributaryError::Plan(format!(
                    "the checkpoint '{}' is being taken by another run of the query at the same time",
                    root.display
                )),
            });
        }
        let lease = Arc::new(CheckpointLease {
            root: root.clone(),
            lease: Mutex::new(mine),
            lost: Arc::default(),
            heartbeat: Mutex::new(None),
        });
        let beat = lease.clone();
        let clock = clock.clone();
        *lease.heartbeat.lock().expect("lease") = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                if let Err(e) = beat.renew(clock.now_ms()).await {
                    tracing::warn!("renewing the checkpoint lease: {e}");
                }
                if beat.lost.lock().expect("lease").is_some() {
                    return;
                }
            }
        }));
        Ok(lease)
    }

    /// Renew the lease, or note that another run took it.
    async fn renew(&self, now: i64) -> Result<()> {
        let current = read(&self.root).await?;
        let mine = self.lease.lock().expect("lease").clone();
        match current {
            Some(c) if c.run_id == mine.run_id => {
                let renewed = Lease {
                    heartbeat_ms: now,
                    expires_ms: now + EXPIRY_MS,
                    ..mine
                };
                self.root.write(LEASE_FILE, codec::encode(&renewed)).await?;
                *self.lease.lock().expect("lease") = renewed;
            }
            other => {
                *self.lost.lock().expect("lease") = Some(match other {
                    Some(holder) => format!("another run took the checkpoint's lease: {holder}"),
                    None => "the checkpoint's lease file was deleted".to_string(),
                });
            }
        }
        Ok(())
    }

    /// An error when the lease was lost: the epoch must not commit.
    pub(crate) fn check(&self) -> Result<()> {
        match self.lost.lock().expect("lease").clone() {
            None => Ok(()),
            Some(why) => Err(TributaryError::Plan(format!(
                "the query stopped without committing: {why}. Two runs must never write one \
                 checkpoint; stop the other run and restart this one"
            ))),
        }
    }

    /// Give the lease back (when the query ends).
    pub(crate) async fn release(&self) {
        if let Some(h) = self.heartbeat.lock().expect("lease").take() {
            h.abort();
        }
        let run_id = self.lease.lock().expect("lease").run_id.clone();
        if let Ok(Some(current)) = read(&self.root).await {
            if current.run_id == run_id {
                if let Err(e) = self.root.delete(LEASE_FILE).await {
                    tracing::warn!("giving back the checkpoint lease: {e}");
                }
            }
        }
    }
}

async fn read(root: &Location) -> Result<Option<Lease>> {
    match root.read(LEASE_FILE).await? {
        None => Ok(None),
        Some(bytes) => codec::decode(&format!("{}/{LEASE_FILE}", root.display), &bytes)
            .map(Some)
            .map_err(|e| TributaryError::Checkpoint {
                location: root.display.clone(),
                source: Box::new(e),
            }),
    }
}
