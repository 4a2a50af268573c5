//! The streaming operator of user-defined state (`flat_map_groups_with_state`).
//!
//! State per key: the user's state as JSON and its timeout, in the state store
//! (`key columns, __state, __timeout_ms`). Per epoch: the function is called for each key with
//! rows (in order of first appearance), then for each key whose timeout passed — processing time
//! measured with the epoch's planned time, event time with the watermark — with no rows.
//!
//! The state lives in a [`KeyedStore`] per partition, with the timeout as each row's close
//! time: an epoch reads the keys it has rows for and the keys whose timeout passed (through the
//! store's time index), so it costs those keys, not the whole state, and keys beyond
//! `state_memory_limit` move to local disk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionState;
use serde_json::{json, Value};
use tributary_checkpoint::Epoch;

use super::operator_inputs::OperatorInputs;
use super::stateful::{
    dyn_stores, dyn_stores_mut, open_keyed_stores, EpochWatermarks, OperatorEpoch, OperatorMetrics,
    StatefulOperator,
};
use crate::error::{from_df_error, Result, TributaryError};
use crate::location::Location;
use crate::plan::{
    call_user, group_rows, json_to_batch, key_of, rows_to_json, FlatMapGroupsWithState, SplitPlan,
};
use crate::state::{
    CloseTime, GroupStateTimeout, KeyRows, KeySet, KeyedStore, KnownKeys, LiveChange, LiveState,
    PartitionHash, RawGroupState, StateChange, StateSize, StateStore,
};

pub(crate) struct MapGroupsOperator {
    id: usize,
    split: SplitPlan,
    node: FlatMapGroupsWithState,
    keys: Vec<usize>,
    key_names: Vec<String>,
    partitions: usize,
    /// How keys are assigned to partitions (the checkpoint's choice).
    hash: PartitionHash,
    stores: Vec<KeyedStore>,
    live: Option<Arc<LiveState>>,
}

fn arrow_err(what: &'static str) -> impl FnOnce(arrow::error::ArrowError) -> TributaryError {
    TributaryError::arrow(what)
}

impl MapGroupsOperator {
    pub(crate) async fn open(
        id: usize,
        split: SplitPlan,
        (partitions, hash): (usize, PartitionHash),
        checkpoint: &Location,
        restore_to: Option<Epoch>,
        memory_limit: Option<usize>,
        live: Option<String>,
    ) -> Result<Self> {
        let node = FlatMapGroupsWithState::of(&split.node)
            .ok_or_else(|| {
                TributaryError::Internal("a group-state operator over another node".into())
            })?
            .clone();
        let input = node.input.schema().as_arrow().clone();
        let keys: Vec<usize> = node
            .keys
            .iter()
            .map(|k| node.input.schema().index_of_column(k))
            .collect::<datafusion::common::Result<_>>()
            .map_err(TributaryError::df("group_by_key"))?;
        let mut fields: Vec<Field> = keys
            .iter()
            .map(|k| input.field(*k).clone().with_nullable(true))
            .collect();
        fields.push(Field::new("__state", DataType::Utf8, false));
        fields.push(Field::new("__timeout_ms", DataType::Int64, true));
        let schema = Arc::new(Schema::new(fields));
        // A key's timeout is its row's close time (NULL: none): due keys are found through the
        // store's time index, at the epoch's time or its watermark.
        let stores = open_keyed_stores(
            checkpoint,
            id,
            partitions,
            schema,
            keys.len(),
            Some(CloseTime::Millis(keys.len() + 1)),
            None,
            restore_to,
            memory_limit,
        )
        .await?;
        let key_names: Vec<String> = node.keys.iter().map(|c| c.name.clone()).collect();
        let live = match live {
            Some(name) => Some(open_live_view(name, &key_names, &stores, restore_to)?),
            None => None,
        };
        Ok(MapGroupsOperator {
            id,
            live,
            key_names,
            split,
            node,
            keys,
            partitions,
            hash,
            stores,
        })
    }

    fn state_schema(&self) -> SchemaRef {
        self.stores[0].schema()
    }
}

/// One key's result: where its key columns come from, and its new state.
struct Outcome {
    /// (from the input batch?, row index)
    key_row: (bool, usize),
    /// Whether the key had state before the epoch.
    stored: bool,
    state: Option<(String, Option<i64>)>,
}

#[async_trait]
impl StatefulOperator for MapGroupsOperator {
    fn partition_columns(&self) -> Vec<Option<Vec<usize>>> {
        vec![Some((0..self.keys.len()).collect())]
    }

    fn split(&self) -> &SplitPlan {
        &self.split
    }

    fn stores(&self) -> Vec<&dyn StateStore> {
        dyn_stores(&self.stores)
    }

    fn stores_mut(&mut self) -> Vec<&mut dyn StateStore> {
        dyn_stores_mut(&mut self.stores)
    }

    fn live_state(&self) -> Option<&Arc<LiveState>> {
        self.live.as_ref()
    }

    fn has_due_timeouts(&self, now_ms: i64) -> bool {
        // A store that cannot tell says yes: the epoch then reads it and reports the error.
        self.node.timeout == GroupStateTimeout::ProcessingTime
            && self
                .stores
                .iter()
                .any(|s| s.any_closed(now_ms).unwrap_or(true))
    }

    async fn process(
        &self,
        state: &SessionState,
        inputs: &OperatorInputs<'_>,
        watermarks: EpochWatermarks,
    ) -> Result<OperatorEpoch> {
        let now_ms = inputs.now_ms();
        let input = inputs
            .collect(state, 0, "the group function's input")
            .await?;
        let json = rows_to_json(&input)?;
        let groups = group_rows(&input, &self.keys)?;
        let k = self.keys.len();
        let mut outputs: Vec<Value> = Vec::new();
        let mut changes = Vec::with_capacity(self.partitions);
        let (mut calls, mut timeouts, mut updated, mut removed_n) =
            (0usize, 0usize, 0usize, 0usize);
        let mut by_partition: Vec<Vec<usize>> = vec![Vec::new(); self.partitions];
        // A group's partition is its first row's.
        let row_parts = KeyRows::of(&input, &self.keys)?.partitions(self.partitions, self.hash)?;
        for (g, (_, rows)) in groups.iter().enumerate() {
            by_partition[row_parts[rows[0]]].push(g);
        }
        let mut size = StateSize::default();
        let due_at = match self.node.timeout {
            GroupStateTimeout::ProcessingTime => Some(now_ms),
            GroupStateTimeout::EventTime => watermarks.evict,
            GroupStateTimeout::NoTimeout => None,
        };
        for (p, groups_of_p) in by_partition.iter().enumerate() {
            let store = &self.stores[p];
            // The stored rows of the keys with rows, then those of the keys whose timeout
            // passed (the others).
            let with_rows = store.lookup(groups_of_p.iter().map(|g| groups[*g].0.as_slice()))?;
            let due = match due_at {
                Some(t) => {
                    let skip: KeySet = groups_of_p
                        .iter()
                        .map(|g| groups[*g].0.as_slice())
                        .collect();
                    store.closed(t, &skip)?
                }
                None => RecordBatch::new_empty(self.state_schema()),
            };
            let first_due = with_rows.num_rows();
            let stored = concat_batches(&self.state_schema(), [&with_rows, &due])
                .map_err(arrow_err("state"))?;
            let stored = &stored;
            let stored_keys = KeyRows::new(stored, k)?;
            let index: HashMap<&[u8], usize> = (0..stored_keys.len())
                .map(|i| (stored_keys.key(i), i))
                .collect();
            let stored_state = stored.column(k).as_string::<i32>();
            let stored_timeout = stored.column(k + 1).as_primitive::<Int64Type>();
            let stored_json = if due.num_rows() == 0 {
                Vec::new()
            } else {
                rows_to_json(
                    &due.project(&(0..k).collect::<Vec<_>>())
                        .map_err(arrow_err("state keys"))?,
                )?
            };
            let raw_for = |i: Option<usize>, timed_out: bool| RawGroupState {
                value: i
                    .map(|i| serde_json::from_str(stored_state.value(i)).unwrap_or(Value::Null)),
                removed: false,
                timeout_ms: None,
                timed_out,
                watermark_ms: watermarks.evict,
                now_ms,
                timeout: Some(self.node.timeout),
            };
            let mut outcomes: Vec<Outcome> = Vec::new();
            let mut touched: HashSet<usize> = HashSet::new();
            // Keys with rows.
            for g in groups_of_p {
                let (key, rows) = &groups[*g];
                let at = index.get(key.as_slice()).copied();
                if let Some(i) = at {
                    touched.insert(i);
                }
                let mut raw = raw_for(at, false);
                let group: Vec<Value> = rows.iter().map(|i| json[*i].clone()).collect();
                let key_value = key_of(&group[0], &self.key_names);
                outputs.extend(call_user(&self.node.func, key_value, group, &mut raw)?);
                calls += 1;
                outcomes.push(Outcome {
                    key_row: (true, rows[0]),
                    stored: at.is_some(),
                    state: settle(&raw),
                });
            }
            // Keys whose timeout passed (the store found them by their timeout).
            for (j, stored_key) in stored_json.iter().enumerate() {
                let i = first_due + j;
                if touched.contains(&i) || stored_timeout.is_null(i) {
                    continue;
                }
                touched.insert(i);
                let mut raw = raw_for(Some(i), true);
                let key_value = key_of(stored_key, &self.key_names);
                outputs.extend(call_user(&self.node.func, key_value, Vec::new(), &mut raw)?);
                timeouts += 1;
                outcomes.push(Outcome {
                    key_row: (false, i),
                    stored: true,
                    state: settle(&raw),
                });
            }
            // The partition's change.
            let key_batch = input.project(&self.keys).map_err(arrow_err("group keys"))?;
            let stored_key_batch = stored
                .project(&(0..k).collect::<Vec<_>>())
                .map_err(arrow_err("state keys"))?;
            let mut up_parts = Vec::new();
            let mut rm_parts = Vec::new();
            // Each key once, and whether it was stored: the store need not look them up.
            let (mut new, mut stored) = (Vec::new(), Vec::new());
            for o in &outcomes {
                let src = if o.key_row.0 {
                    &key_batch
                } else {
                    &stored_key_batch
                };
                let one = take_record_batch(src, &UInt32Array::from(vec![o.key_row.1 as u32]))
                    .map_err(arrow_err("state keys"))?;
                let mut cols = one.columns().to_vec();
                match &o.state {
                    Some((s, t)) => {
                        cols.push(Arc::new(StringArray::from(vec![s.clone()])));
                        cols.push(Arc::new(Int64Array::from(vec![*t])));
                        new.push(!o.stored);
                        up_parts.push(
                            RecordBatch::try_new(self.state_schema(), cols)
                                .map_err(arrow_err("state"))?,
                        );
                    }
                    None => {
                        cols.push(Arc::new(StringArray::from(vec![String::new()])));
                        cols.push(Arc::new(Int64Array::from(vec![None::<i64>])));
                        stored.push(o.stored);
                        rm_parts.push(
                            RecordBatch::try_new(self.state_schema(), cols)
                                .map_err(arrow_err("state"))?,
                        );
                    }
                }
            }
            let upserts =
                concat_batches(&self.state_schema(), &up_parts).map_err(arrow_err("state"))?;
            let removed =
                concat_batches(&self.state_schema(), &rm_parts).map_err(arrow_err("state"))?;
            updated += upserts.num_rows();
            removed_n += removed.num_rows();
            let known = KnownKeys {
                new: BooleanArray::from(new),
                stored: BooleanArray::from(stored),
            };
            let change = StateChange::known(upserts, removed, known);
            size = size + store.size_after(&change)?;
            changes.push(change);
        }
        let out_schema = self.split.output_schema.clone();
        let produced = json_to_batch(&Arc::new(self.node.output.as_arrow().clone()), &outputs)?;
        let produced = RecordBatch::try_new(out_schema.clone(), produced.columns().to_vec())
            .map_err(arrow_err("group function output"))?;
        let output = Arc::new(
            MemTable::try_new(out_schema, vec![vec![produced]])
                .map_err(|e| from_df_error("the group function's output", e))?,
        );
        let progress = OperatorMetrics {
            name: "flatMapGroupsWithState",
            id: self.id,
            state: size,
            partitions: changes.len(),
            updated,
            removed: removed_n,
            dropped_by_watermark: 0,
            custom: json!({"numGroupCalls": calls, "numTimedOutKeys": timeouts}),
        }
        .progress();
        let live = match &self.live {
            Some(_) => Some(live_change(&self.state_schema(), &changes)?),
            None => None,
        };
        Ok(OperatorEpoch {
            output,
            changes,
            late_rows: Vec::new(),
            progress,
            live,
        })
    }
}

/// The live view of the keys' state: the key columns, `state` (the JSON the function set) and
/// `timeout_ms` (when the key times out, if it does), started from the restored state.
fn open_live_view(
    name: String,
    key_names: &[String],
    stores: &[KeyedStore],
    restored: Option<Epoch>,
) -> Result<Arc<LiveState>> {
    let stored = stores[0].schema();
    let mut fields: Vec<Field> = key_names
        .iter()
        .zip(stored.fields())
        .map(|(n, f)| Field::new(n, f.data_type().clone(), true))
        .collect();
    fields.push(Field::new("state", DataType::Utf8, true));
    fields.push(Field::new("timeout_ms", DataType::Int64, true));
    let view = LiveState::new(
        name,
        "map_groups_with_state",
        Arc::new(Schema::new(fields)),
        key_names.len(),
    );
    let all: Vec<RecordBatch> = stores
        .iter()
        .map(|s| s.all_except(&KeySet::default()))
        .collect::<Result<_>>()?;
    view.reset(
        restored,
        concat_batches(&stored, &all).map_err(arrow_err("live state"))?,
    )?;
    Ok(view)
}

/// An epoch's state changes as the live view's change.
fn live_change(stored: &SchemaRef, changes: &[StateChange]) -> Result<LiveChange> {
    Ok(LiveChange {
        upserts: concat_batches(stored, changes.iter().map(|c| &c.upserts))
            .map_err(arrow_err("live state"))?,
        removed: concat_batches(stored, changes.iter().map(|c| &c.removed))
            .map_err(arrow_err("live state"))?,
    })
}

/// The state a call leaves: `None` when removed or never set.
fn settle(raw: &RawGroupState) -> Option<(String, Option<i64>)> {
    match (&raw.value, raw.removed) {
        (Some(v), false) => Some((v.to_string(), raw.timeout_ms)),
        _ => None,
    }
}
