//! The Kafka source: offsets kept in the checkpoint, not in consumer groups (as Spark).
//!
//! ```text
//!  open:          sources/<i>/initial   the starting offsets, resolved once (earliest/latest/JSON/time)
//!  latest_offset: partitions now (new ones join at their earliest offset, with an empty range
//!                 first), high watermarks, capped by max_offsets_per_trigger (split by lag)
//!  get_batch:     assign [start, end) of every partition and read exactly those records
//! ```
//! An offset is `{"topic": {"partition": next offset}}`; a re-run epoch reads the same records.
//!
//! In real-time mode a reader stays assigned and fetches ahead (`prefetch.rs`): an arrival's end
//! offsets are what it has fetched and its records are taken from memory; the broker is asked
//! for partitions and offsets once per [`PROBE_EVERY`] in the background (`probe.rs`): new
//! partitions, lost records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type, SchemaRef};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use rdkafka::consumer::BaseConsumer;
use serde_json::Value;
use tributary_checkpoint::Epoch;

use super::client::{consumer, fetch, partitions, raw_schema, resolve_start, watermarks};
use super::options::{KafkaOptions, Offsets, ValueFormat};
use super::prefetch::Prefetcher;
use super::probe::{judge, probe, BackgroundProbe, Judged};
use crate::error::{Result, TributaryError};
use crate::format::{decode_json_values, BadRecordMode, BadRecords};
use crate::location::Location;
use crate::source::{EpochInput, SourceContext, StreamSource};

const INITIAL: &str = "initial";
/// Real-time mode asks the broker for the partitions and their offsets this often; in between,
/// an arrival ends where the reader that fetches ahead is.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Reads Kafka topics.
pub struct KafkaSource {
    opts: Arc<KafkaOptions>,
    schema: SchemaRef,
    bad_mode: BadRecordMode,
    bad_records_path: Option<Location>,
    state: Mutex<State>,
    client: Arc<Mutex<Option<BaseConsumer>>>,
    /// Real-time mode: read ahead by a consumer that stays assigned.
    real_time: AtomicBool,
    prefetch: Mutex<Option<Arc<Prefetcher>>>,
    /// Real-time mode asks the broker for partitions and offsets in the background.
    probe: BackgroundProbe,
    /// Told by the reader when records come.
    arrived: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct State {
    initial: Option<Offsets>,
    /// AvailableNow: the end fixed at start.
    cap: Option<Offsets>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.opts.describe())
    }
}

fn to_json(o: &Offsets) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

fn from_json(v: &Value) -> Result<Offsets> {
    serde_json::from_value(v.clone())
        .map_err(|e| TributaryError::Internal(format!("a Kafka offset in the checkpoint: {e}")))
}

impl KafkaSource {
    /// A source with `opts`; `schema` is the declared schema for `value_format = json`.
    pub fn new(
        opts: KafkaOptions,
        schema: Option<SchemaRef>,
        bad_mode: BadRecordMode,
        bad_records_path: Option<Location>,
    ) -> Result<Self> {
        let schema = match (opts.value_format, schema) {
            (ValueFormat::Raw, _) => raw_schema(opts.include_headers),
            (_, Some(s)) => s,
            (_, None) => {
                return Err(TributaryError::option(
                    "value_format",
                    "json and avro values are decoded into the columns you declare: pass \
                     .schema(..) (or declare the columns in the job file)",
                ))
            }
        };
        Ok(KafkaSource {
            opts: Arc::new(opts),
            schema,
            bad_mode,
            bad_records_path,
            state: Mutex::new(State::default()),
            client: Arc::new(Mutex::new(None)),
            real_time: AtomicBool::new(false),
            prefetch: Mutex::new(None),
            probe: BackgroundProbe::new(PROBE_EVERY),
            arrived: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Run `f` with the source's consumer, off the async runtime.
    async fn with_consumer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&BaseConsumer, &KafkaOptions) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let client = self.client.clone();
        let opts = self.opts.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = client.lock().expect("kafka consumer");
            if guard.is_none() {
                *guard = Some(consumer(&opts)?);
            }
            let r = f(guard.as_ref().expect("created"), &opts);
            if r.is_err() {
                // A fresh consumer next time: this one may be stuck on a broker that went away.
                *guard = None;
            }
            r
        })
        .await
        .map_err(|e| TributaryError::Internal(format!("a Kafka task failed: {e}")))?
    }

    fn initial(&self) -> Result<Offsets> {
        self.state
            .lock()
            .expect("kafka state")
            .initial
            .clone()
            .ok_or_else(|| TributaryError::Internal("the Kafka source was not opened".into()))
    }

    /// The records `[start, end)` decoded into the source's schema.
    pub(crate) async fn read_range(
        &self,
        start: Offsets,
        end: Offsets,
    ) -> Result<(Vec<RecordBatch>, Arc<BadRecords>)> {
        let timeout = self.opts.fetch_timeout;
        let headers = self.opts.include_headers;
        let tasks = split_ranges(&start, &end, self.opts.min_partitions.unwrap_or(1));
        let fetched = if tasks.len() <= 1 {
            self.with_consumer(move |c, _| fetch(c, &start, &end, headers, timeout))
                .await?
        } else {
            // min_partitions: sub-ranges read in parallel, each by its own consumer, and put
            // back in order.
            let mut handles = Vec::new();
            for (s, e) in tasks {
                let opts = self.opts.clone();
                handles.push(tokio::task::spawn_blocking(move || {
                    fetch(&consumer(&opts)?, &s, &e, headers, timeout)
                }));
            }
            let mut parts = Vec::new();
            for h in handles {
                parts.push(
                    h.await
                        .map_err(|e| {
                            TributaryError::Internal(format!("a Kafka task failed: {e}"))
                        })??
                        .raw,
                );
            }
            let raw = arrow::compute::concat_batches(&raw_schema(headers), &parts)
                .map_err(TributaryError::arrow("joining Kafka reads"))?;
            super::client::Fetched { raw }
        };
        self.decode(fetched.raw)
    }

    /// Raw records decoded into the source's schema (bad records counted and set aside).
    fn decode(&self, raw: RecordBatch) -> Result<(Vec<RecordBatch>, Arc<BadRecords>)> {
        let bad = Arc::new(BadRecords::new(self.bad_mode.clone()));
        let batches = match self.opts.value_format {
            ValueFormat::Raw => vec![raw],
            format => {
                let raw = &raw;
                let values = raw.column(1).as_binary::<i32>();
                let topics = raw.column(2).as_string::<i32>();
                let parts = raw.column(3).as_primitive::<Int32Type>();
                let offsets = raw.column(4).as_primitive::<Int64Type>();
                let vals: Vec<&[u8]> = (0..raw.num_rows())
                    .map(|i| {
                        if values.is_null(i) {
                            &b""[..]
                        } else {
                            values.value(i)
                        }
                    })
                    .collect();
                let origin = |i: usize| {
                    (
                        format!("{}/{}", topics.value(i), parts.value(i)),
                        offsets.value(i) as u64,
                    )
                };
                if format == ValueFormat::Json {
                    decode_json_values(&self.schema, &vals, &origin, &bad)?
                } else {
                    // Avro datums become JSON objects, then the same vectorised decoder; a datum
                    // that does not read is a bad record like a malformed JSON value.
                    let avro = super::avro::AvroValues::new(&self.opts)?;
                    let mut json: Vec<Vec<u8>> = Vec::with_capacity(vals.len());
                    let mut kept: Vec<usize> = Vec::with_capacity(vals.len());
                    for (i, v) in vals.iter().enumerate() {
                        match avro.to_json(v) {
                            Ok(j) => {
                                json.push(j);
                                kept.push(i);
                            }
                            Err(reason) => {
                                let (source, line) = origin(i);
                                bad.report(crate::format::BadRecord {
                                    record: String::from_utf8_lossy(v).into_owned(),
                                    source,
                                    line,
                                    reason,
                                })?;
                            }
                        }
                    }
                    let refs: Vec<&[u8]> = json.iter().map(Vec::as_slice).collect();
                    decode_json_values(&self.schema, &refs, &|j| origin(kept[j]), &bad)?
                }
            }
        };
        Ok((batches, bad))
    }

    /// Real-time mode: where the reader that fetches ahead is, starting it (or moving it to
    /// `start`) when needed. `None` when there is no reader yet: the broker is to be asked.
    fn prefetched_end(&self, start: &Offsets) -> Option<Offsets> {
        let mut reader = self.prefetch.lock().expect("kafka reader");
        let Some(r) = reader.as_ref() else {
            match Prefetcher::start(self.opts.clone(), start, self.arrived.clone()) {
                Ok(r) => *reader = Some(Arc::new(r)),
                Err(e) => {
                    tracing::warn!(error = %e, "the Kafka reader that fetches ahead did not start")
                }
            }
            return None;
        };
        match r.ends_after(start) {
            Ok(end) => Some(end),
            Err(e) => {
                // Asking the broker tells whether records were lost; the next call starts a
                // new reader.
                tracing::warn!(error = %e, "the Kafka reader that fetches ahead stopped");
                *reader = None;
                None
            }
        }
    }

    /// Real-time mode: the records of `[start, end)` from the reader that fetches ahead, when it
    /// is there.
    async fn take_prefetched(&self, start: &Offsets, end: &Offsets) -> Result<Option<RecordBatch>> {
        let Some(r) = self.prefetch.lock().expect("kafka reader").clone() else {
            return Ok(None);
        };
        let (start, end) = (start.clone(), end.clone());
        let (headers, timeout) = (self.opts.include_headers, self.opts.fetch_timeout);
        tokio::task::spawn_blocking(move || r.take(&start, &end, headers, timeout))
            .await
            .map_err(|e| TributaryError::Internal(format!("a Kafka task failed: {e}")))?
    }

    /// Resolve the partitions and offsets of a batch read: `(start, end)`.
    pub(crate) async fn batch_range(&self) -> Result<(Offsets, Offsets)> {
        self.with_consumer(|c, opts| {
            let parts = partitions(c, opts)?;
            let marks = watermarks(c, &parts)?;
            let start = resolve_start(c, opts, &parts, &marks)?;
            let mut end = Offsets::new();
            for ((t, p), (_, high)) in &marks {
                let e = opts
                    .end
                    .as_ref()
                    .and_then(|m| m.get(t))
                    .and_then(|m| m.get(p))
                    .copied()
                    .filter(|o| *o >= 0)
                    .unwrap_or(*high);
                end.entry(t.clone()).or_default().insert(*p, e);
            }
            Ok((start, end))
        })
        .await
    }
}

/// `start` with `new_parts` added: new partitions first join with an empty range at their
/// earliest offset.
fn with_new_parts(start: &Offsets, new_parts: Offsets) -> Offsets {
    let mut end = start.clone();
    for (t, ps) in new_parts {
        end.entry(t).or_default().extend(ps);
    }
    end
}

fn lost_error(lost: &[String]) -> TributaryError {
    TributaryError::Plan(format!(
        "Kafka records this query has not read yet are gone ({}): the broker deleted them \
         (retention) or the topic was recreated. Set fail_on_data_loss = false to skip what is \
         lost and go on",
        lost.join("; ")
    ))
}

/// Split the epoch's ranges into at least `tasks` groups (each a set of partition sub-ranges),
/// cutting the largest ranges; fewer when there are too few records.
fn split_ranges(start: &Offsets, end: &Offsets, tasks: usize) -> Vec<(Offsets, Offsets)> {
    let mut ranges: Vec<(String, i32, i64, i64)> = Vec::new();
    for (t, ps) in end {
        for (p, e) in ps {
            let s = start.get(t).and_then(|m| m.get(p)).copied().unwrap_or(*e);
            if *e > s {
                ranges.push((t.clone(), *p, s, *e));
            }
        }
    }
    if tasks <= 1 || ranges.is_empty() {
        return vec![(start.clone(), end.clone())];
    }
    while ranges.len() < tasks {
        // Cut the largest range in two.
        let (i, _) = ranges
            .iter()
            .enumerate()
            .max_by_key(|(_, r)| r.3 - r.2)
            .expect("not empty");
        let (t, p, s, e) = ranges[i].clone();
        if e - s < 2 {
            break;
        }
        let mid = s + (e - s) / 2;
        ranges[i] = (t.clone(), p, s, mid);
        ranges.insert(i + 1, (t, p, mid, e));
    }
    ranges
        .into_iter()
        .map(|(t, p, s, e)| {
            (
                [(t.clone(), [(p, s)].into())].into(),
                [(t, [(p, e)].into())].into(),
            )
        })
        .collect()
}

/// Split `budget` records over partitions in proportion to their lag (at least one each that
/// has any), never past the latest offset.
fn limit(start: &Offsets, latest: &Offsets, budget: u64) -> Offsets {
    let lags: Vec<((String, i32), i64)> = latest
        .iter()
        .flat_map(|(t, ps)| {
            ps.iter().map(move |(p, hi)| {
                let s = start.get(t).and_then(|m| m.get(p)).copied().unwrap_or(*hi);
                ((t.clone(), *p), (hi - s).max(0))
            })
        })
        .collect();
    let total: i64 = lags.iter().map(|(_, l)| l).sum();
    let mut out = latest.clone();
    if total as u64 <= budget {
        return out;
    }
    for ((t, p), lag) in lags {
        let s = start.get(&t).and_then(|m| m.get(&p)).copied().unwrap_or(0);
        let share = if lag == 0 {
            0
        } else {
            ((lag as f64 / total as f64) * budget as f64)
                .floor()
                .max(1.0) as i64
        };
        out.entry(t).or_default().insert(p, s + share.min(lag));
    }
    out
}

#[async_trait]
impl StreamSource for KafkaSource {
    fn description(&self) -> String {
        self.opts.describe()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn fork(&self) -> Arc<dyn StreamSource> {
        Arc::new(KafkaSource {
            opts: self.opts.clone(),
            schema: self.schema.clone(),
            bad_mode: self.bad_mode.clone(),
            bad_records_path: self.bad_records_path.clone(),
            state: Mutex::new(State::default()),
            client: Arc::new(Mutex::new(None)),
            real_time: AtomicBool::new(false),
            prefetch: Mutex::new(None),
            probe: BackgroundProbe::new(PROBE_EVERY),
            arrived: Arc::new(tokio::sync::Notify::new()),
        })
    }

    async fn open(&self, ctx: &SourceContext) -> Result<()> {
        self.real_time.store(ctx.real_time, Ordering::Relaxed);
        let initial = match ctx.dir.read(INITIAL).await? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| TributaryError::State {
                location: ctx.dir.display.clone(),
                message: format!("'{INITIAL}' (the starting Kafka offsets) is damaged: {e}"),
            })?,
            None => {
                let start = self
                    .with_consumer(|c, opts| {
                        let parts = partitions(c, opts)?;
                        let marks = watermarks(c, &parts)?;
                        resolve_start(c, opts, &parts, &marks)
                    })
                    .await?;
                ctx.dir.ensure_dir()?;
                ctx.dir
                    .write(INITIAL, serde_json::to_vec(&start).unwrap_or_default())
                    .await?;
                start
            }
        };
        self.state.lock().expect("kafka state").initial = Some(initial);
        Ok(())
    }

    async fn prepare_available_now(&self, recorded: Option<&Value>) -> Result<Value> {
        if let Some(v) = recorded {
            let cap: Offsets =
                serde_json::from_value(v.clone()).map_err(|e| TributaryError::State {
                    location: self.description(),
                    message: format!(
                    "the recorded end offsets of {} do not read as topic/partition offsets: {e}",
                    self.description()
                ),
                })?;
            self.state.lock().expect("kafka state").cap = Some(cap);
            return Ok(v.clone());
        }
        let cap = self.with_consumer(probe).await?.into_iter().fold(
            Offsets::new(),
            |mut out, ((t, p), (_, high))| {
                out.entry(t).or_default().insert(p, high);
                out
            },
        );
        let bound = serde_json::to_value(&cap)
            .map_err(|e| TributaryError::Internal(format!("Kafka end offsets as JSON: {e}")))?;
        self.state.lock().expect("kafka state").cap = Some(cap);
        Ok(bound)
    }

    async fn latest_offset(
        &self,
        start: &Value,
        limited: bool,
        _epoch: Epoch,
    ) -> Result<Option<Value>> {
        let start = if start.is_null() {
            self.initial()?
        } else {
            from_json(start)?
        };
        let cap = self.state.lock().expect("kafka state").cap.clone();
        let fail_on_loss = self.opts.fail_on_data_loss;
        if cap.is_none() && self.real_time.load(Ordering::Relaxed) {
            // What a probe in the background found: records lost, partitions added.
            if let Some(marks) = self.probe.take_found() {
                let judged = judge(&start, &marks);
                if !judged.lost.is_empty() && fail_on_loss {
                    return Err(lost_error(&judged.lost));
                }
                if !judged.new_parts.is_empty() {
                    return Ok(Some(to_json(&with_new_parts(&start, judged.new_parts))));
                }
            }
            if let Some(end) = self.prefetched_end(&start) {
                self.probe.begin_if_due(&self.opts, Instant::now());
                let end = match (limited, self.opts.max_offsets_per_trigger) {
                    (true, Some(budget)) => limit(&start, &end, budget),
                    _ => end,
                };
                return Ok((end != start).then(|| to_json(&end)));
            }
        }
        self.probe.probed_inline(Instant::now());
        let marks = self.with_consumer(probe).await?;
        let Judged {
            latest,
            new_parts,
            lost,
        } = judge(&start, &marks);
        if !lost.is_empty() && fail_on_loss {
            return Err(lost_error(&lost));
        }
        // New partitions first join with an empty range at their earliest offset.
        if !new_parts.is_empty() {
            return Ok(Some(to_json(&with_new_parts(&start, new_parts))));
        }
        let mut latest = latest;
        if let Some(cap) = cap {
            for (t, ps) in latest.iter_mut() {
                for (p, hi) in ps.iter_mut() {
                    if let Some(c) = cap.get(t).and_then(|m| m.get(p)) {
                        *hi = (*hi).min(*c);
                    }
                }
            }
        }
        // Never go back (a lost range is skipped forward; a partition cannot shrink).
        let mut end = Offsets::new();
        for (t, ps) in &latest {
            for (p, hi) in ps {
                let s = start.get(t).and_then(|m| m.get(p)).copied().unwrap_or(*hi);
                end.entry(t.clone()).or_default().insert(*p, (*hi).max(s));
            }
        }
        if let (true, Some(budget)) = (limited, self.opts.max_offsets_per_trigger) {
            end = limit(&start, &end, budget);
        }
        let moved = end.iter().any(|(t, ps)| {
            ps.iter()
                .any(|(p, e)| start.get(t).and_then(|m| m.get(p)) != Some(e))
        });
        Ok(moved.then(|| to_json(&end)))
    }

    async fn get_batch(&self, start: &Value, end: &Value, _epoch: Epoch) -> Result<EpochInput> {
        let start = if start.is_null() {
            self.initial()?
        } else {
            from_json(start)?
        };
        let end = from_json(end)?;
        let (batches, bad) = match self.take_prefetched(&start, &end).await? {
            Some(raw) => self.decode(raw)?,
            None => self.read_range(start, end).await?,
        };
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let table = MemTable::try_new(self.schema.clone(), vec![batches])
            .map_err(TributaryError::df("the epoch's Kafka records"))?;
        Ok(EpochInput {
            table: Arc::new(table),
            bad_records: Some(bad),
            rows: Arc::new(rows.into()),
        })
    }

    fn bad_records_path(&self) -> Option<Location> {
        self.bad_records_path.clone()
    }

    fn arrivals(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.real_time
            .load(Ordering::Relaxed)
            .then(|| self.arrived.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn min_partitions_cuts_the_largest_ranges_and_covers_every_offset_once() {
        let start: Offsets = [("t".to_string(), BTreeMap::from([(0, 0), (1, 10)]))].into();
        let end: Offsets = [("t".to_string(), BTreeMap::from([(0, 100), (1, 12)]))].into();
        let tasks = split_ranges(&start, &end, 5);
        assert_eq!(tasks.len(), 5);
        let mut covered: Vec<(i32, i64)> = Vec::new();
        for (s, e) in &tasks {
            for (p, from) in &s["t"] {
                covered.extend((*from..e["t"][p]).map(|o| (*p, o)));
            }
        }
        covered.sort();
        let mut want: Vec<(i32, i64)> = (0..100).map(|o| (0, o)).collect();
        want.extend((10..12).map(|o| (1, o)));
        assert_eq!(covered, want);
    }

    #[test]
    fn the_rate_limit_splits_by_lag_and_never_passes_the_latest() {
        let start: Offsets = [("t".to_string(), BTreeMap::from([(0, 0), (1, 100), (2, 5)]))].into();
        let latest: Offsets = [(
            "t".to_string(),
            BTreeMap::from([(0, 300), (1, 200), (2, 5)]),
        )]
        .into();
        let end = limit(&start, &latest, 40);
        let e = &end["t"];
        assert_eq!(e[&2], 5);
        assert!(e[&0] > 0 && e[&1] > 100);
        assert_eq!(e[&0] + (e[&1] - 100), 40);
        assert_eq!(limit(&start, &latest, 1000), latest);
    }
}
