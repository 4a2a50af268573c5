//! Real-time mode: an epoch's state changes arrive in several parts (one per arrival of rows),
//! each applied to the store at once; at the epoch's end they are written as one change, in
//! which each key's last part wins.
//!
//! ```text
//!  arrival 1: upsert a, upsert b      ─┐
//!  arrival 2: remove a, upsert c       ├─► epoch change: upsert b, upsert c, remove a, upsert d
//!  arrival 3: upsert d                ─┘
//! ```
//!
//! Within a part, removals come before upserts (as a store applies them), so a key both
//! removed and upserted in one part is upserted.

use std::collections::HashMap;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::interleave;

use super::keys::KeyRows;
use super::store::StateChange;
use crate::error::{Result, TributaryError};

/// The one change equal to applying `parts` in order (empty `parts`: `None`).
pub(crate) fn merge_changes(parts: &[StateChange], key_len: usize) -> Result<Option<StateChange>> {
    match parts {
        [] => return Ok(None),
        [one] => {
            // One part: as it is, without what the operator knew at the time (the store has
            // applied it since).
            return Ok(Some(StateChange::new(
                one.upserts.clone(),
                one.removed.clone(),
            )));
        }
        _ => {}
    }
    // key -> (part, removed, row)
    let mut last: HashMap<Vec<u8>, (usize, bool, usize)> = HashMap::new();
    for (p, c) in parts.iter().enumerate() {
        let rm = KeyRows::new(&c.removed, key_len)?;
        for i in 0..rm.len() {
            last.insert(rm.key(i).to_vec(), (p, true, i));
        }
        let up = KeyRows::new(&c.upserts, key_len)?;
        for i in 0..up.len() {
            last.insert(up.key(i).to_vec(), (p, false, i));
        }
    }
    let mut ups: Vec<(usize, usize)> = Vec::new();
    let mut rms: Vec<(usize, usize)> = Vec::new();
    for (p, removed, i) in last.into_values() {
        if removed {
            rms.push((p, i));
        } else {
            ups.push((p, i));
        }
    }
    // In the order the rows came: the same file for the same parts.
    ups.sort_unstable();
    rms.sort_unstable();
    let upserts = pick(parts.iter().map(|c| &c.upserts).collect(), &ups)?;
    let removed = pick(parts.iter().map(|c| &c.removed).collect(), &rms)?;
    Ok(Some(StateChange::new(upserts, removed)))
}

/// Rows `at` (batch, row) of `batches`, which share one schema, in the schema of the first.
fn pick(batches: Vec<&RecordBatch>, at: &[(usize, usize)]) -> Result<RecordBatch> {
    let schema = batches[0].schema();
    let columns = (0..schema.fields().len())
        .map(|c| {
            let arrays: Vec<&dyn arrow::array::Array> =
                batches.iter().map(|b| b.column(c).as_ref()).collect();
            interleave(&arrays, at)
        })
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()
        .map_err(TributaryError::arrow("merging an epoch's state changes"))?;
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(at.len())),
    )
    .map_err(TributaryError::arrow("merging an epoch's state changes"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]))
    }

    fn rows(r: &[(&str, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(r.iter().map(|x| x.0))),
                Arc::new(Int64Array::from_iter_values(r.iter().map(|x| x.1))),
            ],
        )
        .unwrap()
    }

    fn part(up: &[(&str, i64)], rm: &[&str]) -> StateChange {
        let rm: Vec<(&str, i64)> = rm.iter().map(|k| (*k, 0)).collect();
        StateChange::new(rows(up), rows(&rm))
    }

    fn apply(state: &mut BTreeMap<String, i64>, c: &StateChange) {
        let keys = |b: &RecordBatch| -> Vec<String> {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_string())
                .collect()
        };
        for k in keys(&c.removed) {
            state.remove(&k);
        }
        let vals = c.upserts.column(1).as_primitive::<Int64Type>();
        for (i, k) in keys(&c.upserts).into_iter().enumerate() {
            state.insert(k, vals.value(i));
        }
    }

    #[test]
    fn the_merged_change_equals_the_parts_applied_in_order() {
        let parts = vec![
            part(&[("a", 1), ("b", 1)], &[]),
            part(&[("c", 2)], &["a", "z"]),
            part(&[("a", 3), ("b", 3)], &["c"]),
            part(&[("d", 4)], &["b"]),
        ];
        let mut start = BTreeMap::from([("z".to_string(), 9), ("b".to_string(), 0)]);
        let mut stepwise = start.clone();
        for p in &parts {
            apply(&mut stepwise, p);
        }
        let merged = merge_changes(&parts, 1).unwrap().unwrap();
        apply(&mut start, &merged);
        assert_eq!(start, stepwise);
        // Each key once, in one of the two.
        assert_eq!(merged.upserts.num_rows(), 2, "a and d");
        assert_eq!(merged.removed.num_rows(), 3, "z, c and b");
        assert!(merged.known.is_none());
    }

    #[test]
    fn no_parts_is_no_change_and_one_part_is_itself() {
        assert!(merge_changes(&[], 1).unwrap().is_none());
        let one = part(&[("a", 1)], &["b"]);
        let merged = merge_changes(std::slice::from_ref(&one), 1)
            .unwrap()
            .unwrap();
        assert_eq!(merged.upserts, one.upserts);
        assert_eq!(merged.removed, one.removed);
    }
}
