//! Real-time mode's reader: one consumer stays assigned to every partition and fetches ahead on
//! its own thread, so that an arrival's records are in memory when the driver asks for them.
//!
//! ```text
//!  reader thread: poll ─► a record at or past its partition's position ─► queue, position = offset + 1
//!                 end of a partition ─► position = the consumer's (past transaction markers)
//!  ends_after(start):  start == taken ? every partition's position : move the reader to start
//!  take(start, end):   start == taken ? wait until every position >= end, hand over the records
//!                      below end, taken = end : None (the source reads the range itself)
//! ```
//!
//! An arrival's end offsets are what the reader had fetched when the driver asked, and they go
//! into the offsets log like any epoch's: a replay reads exactly those ranges again, from the
//! broker. The reader is an optimisation only: whenever it is not where the driver is (a replay,
//! a failure, a new partition), the source falls back to reading the range itself.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use super::client::{consumer_waiting, kafka_err, positions, RawBuilder};
use super::options::{KafkaOptions, Offsets};
use crate::error::{Result, TributaryError};

/// The reader stops fetching while it holds this many records (or bytes) not yet taken.
const MAX_RECORDS: usize = 200_000;
const MAX_BYTES: usize = 64 << 20;
/// How long one poll of the reader's consumer waits for a record.
const POLL: Duration = Duration::from_millis(5);
/// A fetch that finds nothing new waits at most this long at the broker before the next: the
/// latency a record can wait for the reader (the options' `fetch.wait.max.ms` overrides it).
const FETCH_WAIT_MS: u32 = 1;

type Partition = (String, i32);

fn flatten(o: &Offsets) -> BTreeMap<Partition, i64> {
    o.iter()
        .flat_map(|(t, ps)| ps.iter().map(move |(p, off)| ((t.clone(), *p), *off)))
        .collect()
}

/// Whether `o` holds the same offsets as `flat` (both iterate by topic, then partition), without
/// building a map: asked at every arrival.
fn same(o: &Offsets, flat: &BTreeMap<Partition, i64>) -> bool {
    o.iter()
        .flat_map(|(t, ps)| ps.iter().map(move |(p, e)| (t.as_str(), *p, *e)))
        .eq(flat.iter().map(|((t, p), e)| (t.as_str(), *p, *e)))
}

#[derive(Default)]
struct Buffer {
    /// Per partition, where the next take starts (the end of the last range taken).
    taken: BTreeMap<Partition, i64>,
    /// Per partition, the reader's position: every offset below it was queued, taken, or is
    /// not a record.
    position: BTreeMap<Partition, i64>,
    queue: BTreeMap<Partition, VecDeque<OwnedMessage>>,
    records: usize,
    bytes: usize,
    /// Where the reader is asked to start again (with a new consumer).
    reposition: Option<BTreeMap<Partition, i64>>,
    /// Why the reader stopped.
    failed: Option<String>,
}

struct Shared {
    buf: Mutex<Buffer>,
    changed: Condvar,
    stop: AtomicBool,
    /// Told when records come (the driver's real-time epoch waits on it).
    arrived: Arc<tokio::sync::Notify>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A consumer that keeps every partition assigned and reads ahead of the driver.
pub(crate) struct Prefetcher {
    shared: Arc<Shared>,
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // The thread sees the flag within one poll and closes its consumer on its own.
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
    }
}

impl Prefetcher {
    /// A reader of every partition of `start`, from those offsets.
    pub(crate) fn start(
        opts: Arc<KafkaOptions>,
        start: &Offsets,
        arrived: Arc<tokio::sync::Notify>,
    ) -> Result<Prefetcher> {
        let shared = Arc::new(Shared {
            buf: Mutex::new(Buffer {
                reposition: Some(flatten(start)),
                ..Buffer::default()
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            arrived,
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("kafka-prefetch".into())
            .spawn(move || read_ahead(&thread_shared, &opts))
            .map_err(|e| TributaryError::Internal(format!("starting a Kafka reader: {e}")))?;
        Ok(Prefetcher { shared })
    }

    /// The end offsets of what the reader has fetched past `start` (equal to `start` when
    /// nothing is new). When the reader is elsewhere it is moved to `start`, and nothing is new
    /// yet. An error when the reader stopped (the source then asks the broker itself).
    pub(crate) fn ends_after(&self, start: &Offsets) -> Result<Offsets> {
        let mut b = self.shared.lock();
        if let Some(why) = &b.failed {
            return Err(TributaryError::Storage {
                location: "Kafka".into(),
                message: why.clone(),
            });
        }
        if b.reposition.is_some() || !same(start, &b.taken) {
            b.reposition = Some(flatten(start));
            self.shared.changed.notify_all();
            return Ok(start.clone());
        }
        let mut ends = start.clone();
        for ((t, p), e) in ends
            .iter_mut()
            .flat_map(|(t, ps)| ps.iter_mut().map(move |(p, e)| ((t.clone(), *p), e)))
        {
            if let Some(pos) = b.position.get(&(t, p)) {
                *e = (*e).max(*pos);
            }
        }
        Ok(ends)
    }

    /// The records of `[start, end)` as raw columns, waiting up to `timeout` for the reader to
    /// reach `end`; `None` when the reader is not at `start`, has stopped, or does not get there
    /// in time (the source then reads the range itself).
    pub(crate) fn take(
        &self,
        start: &Offsets,
        end: &Offsets,
        include_headers: bool,
        timeout: Duration,
    ) -> Result<Option<RecordBatch>> {
        let (from, to) = (flatten(start), flatten(end));
        let deadline = Instant::now() + timeout;
        let mut b = self.shared.lock();
        loop {
            if b.failed.is_some()
                || b.reposition.is_some()
                || to
                    .keys()
                    .any(|k| b.taken.get(k) != from.get(k).or(to.get(k)))
            {
                return Ok(None);
            }
            let reached = to
                .iter()
                .all(|(k, e)| b.position.get(k).is_some_and(|pos| pos >= e));
            if reached {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            b = self
                .shared
                .changed
                .wait_timeout(b, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let mut raw = RawBuilder::new(include_headers);
        let buf = &mut *b;
        for (k, e) in &to {
            if let Some(q) = buf.queue.get_mut(k) {
                while q.front().is_some_and(|m| m.offset() < *e) {
                    let m = q.pop_front().expect("a front record");
                    buf.records -= 1;
                    buf.bytes -= size(&m);
                    raw.push(&m);
                }
            }
            buf.taken.insert(k.clone(), *e);
        }
        drop(b);
        self.shared.changed.notify_all();
        raw.finish().map(Some)
    }
}

fn size(m: &OwnedMessage) -> usize {
    m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len)
}

fn assigned(opts: &KafkaOptions, at: &BTreeMap<Partition, i64>) -> Result<BaseConsumer> {
    let c = consumer_waiting(opts, FETCH_WAIT_MS)?;
    let mut tpl = TopicPartitionList::new();
    for ((t, p), o) in at {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))
            .map_err(kafka_err("assigning partitions"))?;
    }
    c.assign(&tpl).map_err(kafka_err("assigning partitions"))?;
    Ok(c)
}

/// The reader thread: fetch ahead until the prefetcher is dropped.
fn read_ahead(shared: &Shared, opts: &KafkaOptions) {
    let mut consumer: Option<BaseConsumer> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        {
            let mut b = shared.lock();
            if let Some(at) = b.reposition.clone() {
                // A new consumer: nothing fetched for an old position can reach the new one.
                consumer = None;
                match assigned(opts, &at) {
                    Ok(c) => consumer = Some(c),
                    Err(e) => b.failed = Some(e.to_string()),
                }
                b.queue.clear();
                (b.records, b.bytes) = (0, 0);
                b.position = at.clone();
                b.taken = at;
                b.reposition = None;
                shared.changed.notify_all();
            }
            if b.failed.is_some() {
                return;
            }
            if b.records >= MAX_RECORDS || b.bytes >= MAX_BYTES {
                drop(shared.changed.wait_timeout(b, POLL));
                continue;
            }
        }
        let Some(c) = consumer.as_ref() else {
            return;
        };
        match c.poll(POLL) {
            None => {}
            Some(Ok(m)) => {
                let k = (m.topic().to_string(), m.partition());
                let mut b = shared.lock();
                if b.position.get(&k).is_some_and(|pos| m.offset() >= *pos) {
                    let m = m.detach();
                    b.position.insert(k.clone(), m.offset() + 1);
                    b.records += 1;
                    b.bytes += size(&m);
                    b.queue.entry(k).or_default().push_back(m);
                    shared.changed.notify_all();
                    shared.arrived.notify_one();
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                // Offsets below the end that hold no record (transaction markers, compaction)
                // are passed.
                let at = positions(c);
                let mut b = shared.lock();
                for (k, o) in at {
                    if let Some(pos) = b.position.get_mut(&k) {
                        *pos = (*pos).max(o);
                    }
                }
                shared.changed.notify_all();
            }
            Some(Err(e)) => {
                shared.lock().failed = Some(format!("reading records ahead: {e}"));
                shared.changed.notify_all();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_compared_with_the_flat_map_without_building_one() {
        let mut o = Offsets::new();
        o.entry("a".into()).or_default().insert(0, 5);
        o.entry("a".into()).or_default().insert(1, 7);
        o.entry("b".into()).or_default().insert(0, 1);
        let flat = flatten(&o);
        assert!(same(&o, &flat));
        let mut moved = o.clone();
        moved.get_mut("a").unwrap().insert(1, 8);
        assert!(!same(&moved, &flat));
        let mut more = o.clone();
        more.entry("c".into()).or_default().insert(0, 0);
        assert!(!same(&more, &flat));
        assert!(!same(&Offsets::new(), &flat));
    }
}
