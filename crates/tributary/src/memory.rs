//! The memory a session's plans may hold: one pool, shared by every batch and every epoch's plan,
//! with a limit; past it, the operators that can spill (aggregations, sorts, the sort-merge
//! join) write sorted runs to the temporary folder and merge them back, so a backfill of any
//! size runs in bounded memory.
//!
//! ```text
//!  Session ── RuntimeEnv ── SessionPool (limit: memory_limit, default half the machine)
//!                              │ try_grow(consumer, n)
//!                 ┌────────────┴──────────────┐
//!         spillable (hash aggregation,   unspillable (a hash join's build side,
//!         sort, ...): each gets an       a scan's buffers): first come, first
//!         equal share of what the        served; past the limit the query fails
//!         unspillable leave; past it     with the limit and how to raise it
//!         it spills
//! ```
//! The limit covers what DataFusion's operators account for (their hash tables, sort buffers
//! and aggregation states), not the files being decoded or written, so a process uses somewhat
//! more than its limit. The streaming operators' state stores have their own bounds
//! (`state_memory_limit`, see `docs/stateful.md`).
//!
//! Set it with `Session::set_memory_limit`, the CLI's `--memory-limit`, or `memory_limit`
//! (also `spark.driver.memory`) in Python's `spark.conf`.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::common::{resources_datafusion_err, Result as DfResult};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit as PoolLimit, MemoryPool, MemoryReservation,
};

use crate::error::{Result, TributaryError};

/// How much memory a session's plans may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryLimit {
    /// A number of bytes.
    Bytes(u64),
    /// A share of the machine's memory (of the container's limit, when it has one), in (0, 1].
    Fraction(f64),
    /// No limit: nothing spills, and a plan holds what it needs.
    Unbounded,
}

impl Default for MemoryLimit {
    /// Half the machine's memory.
    fn default() -> Self {
        MemoryLimit::Fraction(0.5)
    }
}

impl MemoryLimit {
    /// The limit in bytes on this machine; `None` when unbounded (or the machine's memory
    /// cannot be read, for a fraction).
    pub fn bytes(&self) -> Option<usize> {
        match *self {
            MemoryLimit::Bytes(b) => Some(usize::try_from(b).unwrap_or(usize::MAX)),
            MemoryLimit::Fraction(f) => machine_memory().map(|m| (m as f64 * f) as usize),
            MemoryLimit::Unbounded => None,
        }
    }
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            // Exact, so that the text reads back as the same limit.
            MemoryLimit::Bytes(b) => match [(40, "t"), (30, "g"), (20, "m"), (10, "k")]
                .into_iter()
                .find(|(shift, _)| b % (1u64 << shift) == 0)
            {
                Some((shift, unit)) => write!(f, "{}{unit}", b >> shift),
                None => write!(f, "{b}"),
            },
            MemoryLimit::Fraction(x) => write!(f, "{}%", x * 100.0),
            MemoryLimit::Unbounded => f.write_str("unbounded"),
        }
    }
}

impl FromStr for MemoryLimit {
    type Err = TributaryError;

    /// `512m`, `512MB`, `512MiB`, `4g`, `1.5GiB`, `2147483648` (bytes), `60%`, `unbounded`.
    /// Units are powers of 1024, as Spark's `spark.driver.memory` reads them.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| TributaryError::Option {
            option: "memory_limit".into(),
            message: format!(
                "'{s}' {why}; give a size such as 512m, 4g or 1.5GiB, a share of the \
                 machine's memory such as 60%, or 'unbounded'"
            ),
        };
        let t = s.trim();
        if t.eq_ignore_ascii_case("unbounded") {
            return Ok(MemoryLimit::Unbounded);
        }
        if let Some(p) = t.strip_suffix('%') {
            let x: f64 = p.trim().parse().map_err(|_| bad("is not a percentage"))?;
            if !(x > 0.0 && x <= 100.0) {
                return Err(bad("is not a share between 0% and 100%"));
            }
            return Ok(MemoryLimit::Fraction(x / 100.0));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: f64 = number.parse().map_err(|_| bad("is not a size"))?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(bad("has a unit that is not one of b, k, m, g, t")),
        };
        let bytes = n * scale as f64;
        if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(bad("is not a positive size"));
        }
        Ok(MemoryLimit::Bytes(bytes as u64))
    }
}

/// The memory this process may use: the container's limit (cgroup v2 `memory.max`) when there
/// is one, else the machine's (`MemTotal`); `None` where neither can be read.
pub fn machine_memory() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_total(&s));
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn human(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The session's pool: DataFusion's fair spilling policy (every spilling operator may hold an
/// equal share of what the others cannot give back), with a limit that can be changed while
/// the session lives (a Python session is configured after it is made).
#[derive(Debug)]
pub(crate) struct SessionPool {
    /// Bytes; `usize::MAX` when unbounded.
    limit: AtomicUsize,
    state: Mutex<PoolState>,
    /// The most the plans held at once, in bytes.
    peak: AtomicUsize,
    /// Requests of spilling operators refused (each makes the operator spill).
    spills: AtomicUsize,
}

/// What a session's plans held: see [`crate::Session::memory_usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryUsage {
    /// The most the plans held at once, in bytes (what the operators account for).
    pub peak_bytes: usize,
    /// The limit in bytes, `None` when unbounded.
    pub limit_bytes: Option<usize>,
    /// How many times an operator spilled to the temporary folder to stay within the limit.
    pub spills: usize,
}

impl fmt::Display for MemoryUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the plans held at most {}", human(self.peak_bytes))?;
        if let Some(l) = self.limit_bytes {
            write!(f, " of the {} memory limit", human(l))?;
        }
        if self.spills > 0 {
            write!(
                f,
                " and spilled {} times to the temporary folder to stay within it (a higher \
                 --memory-limit avoids the disk)",
                self.spills
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct PoolState {
    spillers: usize,
    spillable: usize,
    unspillable: usize,
    /// Per spilling consumer (by id), what it asked to hold in all when it was last refused.
    refused: std::collections::HashMap<usize, usize>,
}

impl SessionPool {
    pub(crate) fn new(limit: MemoryLimit) -> Self {
        SessionPool {
            limit: AtomicUsize::new(limit.bytes().unwrap_or(usize::MAX)),
            state: Mutex::new(PoolState::default()),
            peak: AtomicUsize::new(0),
            spills: AtomicUsize::new(0),
        }
    }

    pub(crate) fn usage(&self) -> MemoryUsage {
        MemoryUsage {
            peak_bytes: self.peak.load(Ordering::Relaxed),
            limit_bytes: self.limit(),
            spills: self.spills.load(Ordering::Relaxed),
        }
    }

    fn held(&self, s: &PoolState, r: &MemoryReservation, additional: usize) {
        let total = s.spillable + s.unspillable;
        if self.peak.fetch_max(total, Ordering::Relaxed) < total {
            // `TRIBUTARY_LOG=tributary::memory=debug` shows who raised the peak.
            tracing::debug!(
                consumer = r.consumer().name(),
                held = r.size() + additional,
                spills = r.consumer().can_spill(),
                total,
                "new peak of the session's plans"
            );
        }
    }

    /// Plans started from now on are held to `limit`; running plans keep what they hold.
    pub(crate) fn set_limit(&self, limit: MemoryLimit) {
        self.limit
            .store(limit.bytes().unwrap_or(usize::MAX), Ordering::Relaxed);
    }

    /// The limit in bytes, `None` when unbounded.
    pub(crate) fn limit(&self) -> Option<usize> {
        Some(self.limit.load(Ordering::Relaxed)).filter(|&l| l != usize::MAX)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `held + more` fits: a spilling consumer gets an equal share of what the unspillable
/// leave; another gets what is left of the limit. `Err` carries what was available.
///
/// A spilling consumer may also come back to what it asked for when it was last refused
/// (`refused_at`): DataFusion's aggregations account for memory after allocating it, and some
/// accumulators keep their tables' capacity when they spill (the exact `count(DISTINCT)` of an
/// integer keeps its hash set's), so after spilling they report what they held before. That
/// memory is already in use; refusing it again would fail the query instead of letting it go
/// on spilling runs of that size. A consumer can overshoot its share by one batch's growth.
fn admit(
    limit: usize,
    s: &PoolState,
    can_spill: bool,
    held: usize,
    more: usize,
    refused_at: Option<usize>,
) -> Result<(), usize> {
    if can_spill {
        let share = limit.saturating_sub(s.unspillable) / s.spillers.max(1);
        let total = held.saturating_add(more);
        if total > share && refused_at.is_none_or(|r| total > r) {
            return Err(share.saturating_sub(held));
        }
    } else {
        let left = limit.saturating_sub(s.unspillable + s.spillable);
        if more > left {
            return Err(left);
        }
    }
    Ok(())
}

impl MemoryPool for SessionPool {
    fn name(&self) -> &str {
        "tributary"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            self.state().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut s = self.state();
            s.spillers = s.spillers.saturating_sub(1);
            s.refused.remove(&consumer.id());
        }
    }

    fn grow(&self, r: &MemoryReservation, additional: usize) {
        let mut s = self.state();
        if r.consumer().can_spill() {
            s.spillable += additional;
        } else {
            s.unspillable += additional;
        }
        self.held(&s, r, additional);
    }

    fn shrink(&self, r: &MemoryReservation, shrink: usize) {
        let mut s = self.state();
        if r.consumer().can_spill() {
            s.spillable = s.spillable.saturating_sub(shrink);
        } else {
            s.unspillable = s.unspillable.saturating_sub(shrink);
        }
    }

    fn try_grow(&self, r: &MemoryReservation, additional: usize) -> DfResult<()> {
        let limit = self.limit.load(Ordering::Relaxed);
        let mut s = self.state();
        let can_spill = r.consumer().can_spill();
        let id = r.consumer().id();
        let refused_at = s.refused.get(&id).copied();
        if let Err(available) = admit(limit, &s, can_spill, r.size(), additional, refused_at) {
            if can_spill {
                self.spills.fetch_add(1, Ordering::Relaxed);
                s.refused.insert(id, r.size().saturating_add(additional));
            }
            return Err(resources_datafusion_err!(
                "{} needs {} more than the {} it holds, and {} of the session's memory limit \
                 of {} is available to it{}; raise the limit (`--memory-limit`, \
                 `memory_limit` in spark.conf, `Session::set_memory_limit`)",
                r.consumer().name(),
                human(additional),
                human(r.size()),
                human(available),
                human(limit),
                if can_spill { "" } else { " (it cannot spill)" }
            ));
        }
        if can_spill {
            s.spillable += additional;
        } else {
            s.unspillable += additional;
        }
        self.held(&s, r, additional);
        Ok(())
    }

    fn reserved(&self) -> usize {
        let s = self.state();
        s.spillable + s.unspillable
    }

    fn memory_limit(&self) -> PoolLimit {
        match self.limit() {
            Some(l) => PoolLimit::Finite(l),
            None => PoolLimit::Infinite,
        }
    }
}

impl fmt::Display for SessionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.limit() {
            Some(l) => write!(f, "tributary(limit: {})", human(l)),
            None => f.write_str("tributary(unbounded)"),
        }
    }
}

/// A runtime whose plans draw from `pool` and spill to the system's temporary folder.
pub(crate) fn runtime(
    pool: Arc<SessionPool>,
) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_pool(pool)
        .build_arc()
        .map_err(TributaryError::df("making the session's runtime"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_spark_reads_them() {
        let b = |s: &str| match s.parse::<MemoryLimit>().unwrap() {
            MemoryLimit::Bytes(b) => b,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(b("512m"), 512 << 20);
        assert_eq!(b("512MB"), 512 << 20);
        assert_eq!(b(" 4GiB "), 4 << 30);
        assert_eq!(b("1.5g"), 3 << 29);
        assert_eq!(b("2048"), 2048);
        assert_eq!(b("64 kb"), 64 << 10);
        assert_eq!(
            "60%".parse::<MemoryLimit>().unwrap(),
            MemoryLimit::Fraction(0.6)
        );
        assert_eq!(
            "Unbounded".parse::<MemoryLimit>().unwrap(),
            MemoryLimit::Unbounded
        );
        for text in ["512m", "3g", "1000", "1025k", "60%", "unbounded"] {
            let limit: MemoryLimit = text.parse().unwrap();
            assert_eq!(limit.to_string(), text);
            assert_eq!(limit.to_string().parse::<MemoryLimit>().unwrap(), limit);
        }
        for bad in ["", "12q", "0", "-1g", "150%", "0%", "g", "1.2.3m"] {
            let e = bad.parse::<MemoryLimit>().unwrap_err().to_string();
            assert!(
                e.contains("memory_limit") && e.contains("512m"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn meminfo_total_is_read_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:  100 kB\n";
        assert_eq!(mem_total(text), Some(24_576_000 * 1024));
        assert_eq!(mem_total("nothing here"), None);
    }

    #[test]
    fn spillers_share_what_the_unspillable_leave() {
        let s = PoolState {
            spillers: 2,
            spillable: 0,
            unspillable: 40,
            ..PoolState::default()
        };
        // (100 - 40) / 2 = 30 each.
        assert_eq!(admit(100, &s, true, 0, 30, None), Ok(()));
        assert_eq!(admit(100, &s, true, 10, 21, None), Err(20));
        // Refused at 31, it spills and may come back to 31 (what it already holds), not beyond.
        assert_eq!(admit(100, &s, true, 0, 31, Some(31)), Ok(()));
        assert_eq!(admit(100, &s, true, 31, 1, Some(31)), Err(0));
        // An unspillable consumer gets what is left of the limit, first come first served.
        let s = PoolState {
            spillers: 1,
            spillable: 50,
            unspillable: 40,
            ..PoolState::default()
        };
        assert_eq!(admit(100, &s, false, 0, 10, None), Ok(()));
        assert_eq!(admit(100, &s, false, 0, 11, None), Err(10));
        // Unbounded admits anything.
        assert_eq!(admit(usize::MAX, &s, false, 0, 1 << 40, None), Ok(()));
    }

    fn spills(plan: &dyn datafusion::physical_plan::ExecutionPlan) -> usize {
        plan.metrics().and_then(|m| m.spill_count()).unwrap_or(0)
            + plan
                .children()
                .into_iter()
                .map(|c| spills(c.as_ref()))
                .sum::<usize>()
    }

    #[test]
    fn a_spilling_aggregation_stays_within_the_limit_and_gives_the_same_answer() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let sql = "SELECT k % 20000 AS g, count(DISTINCT k) AS d, sum(k) AS s \
                       FROM (SELECT (value * 7919) % 1000003 AS k FROM generate_series(1, 1000000)) GROUP BY g ORDER BY g";
            let unbounded = crate::Session::new();
            unbounded.set_memory_limit(MemoryLimit::Unbounded).unwrap();
            let want = unbounded.sql(sql).await.unwrap().collect().await.unwrap();
            let limited = crate::Session::new();
            limited
                .set_memory_limit(MemoryLimit::Bytes(24 << 20))
                .unwrap();
            let plan = limited
                .sql(sql)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap();
            let got =
                datafusion::physical_plan::collect(plan.clone(), limited.context().task_ctx())
                    .await
                    .unwrap();
            assert_eq!(
                arrow::util::pretty::pretty_format_batches(&want)
                    .unwrap()
                    .to_string(),
                arrow::util::pretty::pretty_format_batches(&got)
                    .unwrap()
                    .to_string()
            );
            let usage = limited.memory_usage().unwrap();
            assert!(usage.spills > 0 && usage.peak_bytes <= 24 << 20, "{usage:?}");
            assert!(usage.to_string().contains("spilled"), "{usage}");
            assert!(
                spills(plan.as_ref()) > 0,
                "the limited plan did not spill: {}",
                datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
            );
        });
    }
}
