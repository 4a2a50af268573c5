//! Whether a changed query can keep the state of the one that wrote its checkpoint: the
//! verdict per stateful operator, from the two queries' shapes ([`super::shape`]). Pure: the
//! driver and `tributary plan` read the shapes and act on the verdicts.
//!
//! ```text
//!   old shape (shapes/<e>.json) ┐
//!                               ├─► compare ─► per operator: reuse | extend | rebuild | incompatible
//!   new query's shape ──────────┘              + what changed, why, and the options
//! ```
//! *reuse*: the state means the same thing (a change above the operator, a filter or
//! projection below it that only the rows still to come see, a new watermark delay or output
//! mode). *extend*: the same keys with aggregates added or removed: the stored aggregates are
//! kept, new ones start from the committed epoch. *rebuild*: the state must be recomputed from
//! the rows already read (changed keys, window, join condition, kept columns). *incompatible*:
//! the state cannot be matched to the query at all (another kind of operator in its place).

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::shape::{OperatorKind, OperatorShape, QueryShape};

/// What happens to one operator's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The state is used as it is.
    Reuse,
    /// The state is reused; aggregates added start from the committed epoch, removed ones are
    /// dropped.
    Extend,
    /// The state must be recomputed from the rows the query has already read.
    Rebuild,
    /// The state cannot serve the new query.
    Incompatible,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Reuse => "reuse",
            Verdict::Extend => "extend",
            Verdict::Rebuild => "rebuild",
            Verdict::Incompatible => "incompatible",
        })
    }
}

/// The verdict on one operator, with what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorVerdict {
    /// The operator's number (its state folder).
    pub id: usize,
    /// Its kind in the new query (the old one's when it is gone).
    pub kind: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What changed, one line each; empty when nothing did.
    pub changes: Vec<String>,
}

/// The verdicts on a changed query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvolutionReport {
    /// Per operator of either query, by number.
    pub operators: Vec<OperatorVerdict>,
    /// Changes of the whole query (watermarks, output mode, partitions), one line each.
    pub query: Vec<String>,
    /// Set when the state partitions asked for differ from the checkpoint's.
    pub partitions: Option<(usize, usize)>,
}

impl EvolutionReport {
    /// The worst verdict (reuse when nothing is stateful).
    pub fn worst(&self) -> Verdict {
        let parts = if self.partitions.is_some() {
            Verdict::Incompatible
        } else {
            Verdict::Reuse
        };
        self.operators
            .iter()
            .map(|o| o.verdict)
            .max()
            .unwrap_or(Verdict::Reuse)
            .max(parts)
    }

    /// The operators that cannot simply reuse their state.
    pub fn changed(&self) -> impl Iterator<Item = &OperatorVerdict> {
        self.operators
            .iter()
            .filter(|o| o.verdict != Verdict::Reuse)
    }
}

impl fmt::Display for EvolutionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.operators {
            writeln!(f, "operator {} ({}): {}", o.id, o.kind, o.verdict)?;
            for c in &o.changes {
                writeln!(f, "  - {c}")?;
            }
        }
        for q in &self.query {
            writeln!(f, "query: {q}")?;
        }
        if let Some((had, asked)) = self.partitions {
            writeln!(
                f,
                "query: incompatible: the checkpoint's state has {had} partitions and \
                 state_partitions asks for {asked}; repartition it offline with \
                 `tributary state repartition CHECKPOINT --partitions {asked}` (with the query \
                 stopped), or leave state_partitions at {had}"
            )?;
        }
        Ok(())
    }
}

fn set(v: &[String]) -> BTreeSet<&String> {
    v.iter().collect()
}

fn list(items: &BTreeSet<&String>) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn duration(ms: i64) -> String {
    if ms % 60_000 == 0 && ms != 0 {
        format!("{} min", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// Compare the query that wrote the state (`old`) with the new one. `asked_partitions`: the
/// `state_partitions` the new run gives explicitly, if any.
pub fn compare(
    old: &QueryShape,
    new: &QueryShape,
    asked_partitions: Option<usize>,
) -> EvolutionReport {
    let mut operators = Vec::new();
    let ids: BTreeSet<usize> = old
        .operators
        .iter()
        .chain(&new.operators)
        .map(|o| o.id)
        .collect();
    for id in ids {
        let o = old.operators.iter().find(|o| o.id == id);
        let n = new.operators.iter().find(|o| o.id == id);
        operators.push(match (o, n) {
            (Some(o), Some(n)) => compare_operator(o, n, old.state_partitions),
            (None, Some(n)) => OperatorVerdict {
                id,
                kind: n.kind.to_string(),
                verdict: Verdict::Rebuild,
                changes: vec![format!(
                    "a new {} with no state in the checkpoint: its state holds nothing of the \
                     rows already read",
                    n.kind
                )],
            },
            (Some(o), None) => OperatorVerdict {
                id,
                kind: o.kind.to_string(),
                verdict: Verdict::Reuse,
                changes: vec![format!(
                    "the {} is gone from the query: its state is left in the checkpoint, unread",
                    o.kind
                )],
            },
            (None, None) => unreachable!("an id of one of the two"),
        });
    }
    let mut query = Vec::new();
    for w in &new.watermarks {
        match old.watermarks.iter().find(|o| o.column == w.column) {
            Some(o) if o.delay_ms != w.delay_ms => query.push(format!(
                "reuse: the watermark delay on {} changes from {} to {}: the watermark never \
                 moves back, so {}",
                w.column,
                duration(o.delay_ms),
                duration(w.delay_ms),
                if w.delay_ms > o.delay_ms {
                    "windows already closed stay closed, and the longer delay applies once \
                     event time has moved past the old watermark"
                } else {
                    "windows close sooner from now on"
                }
            )),
            Some(_) => {}
            None => query.push(format!(
                "reuse: a new watermark on {} ({} delay), from the committed epoch on",
                w.column,
                duration(w.delay_ms)
            )),
        }
    }
    for o in &old.watermarks {
        if !new.watermarks.iter().any(|w| w.column == o.column) {
            query.push(format!("reuse: the watermark on {} is gone", o.column));
        }
    }
    if old.output_mode != new.output_mode {
        query.push(format!(
            "reuse: the output mode changes from {} to {}, from the committed epoch on",
            old.output_mode, new.output_mode
        ));
    }
    let partitions = asked_partitions
        .filter(|asked| *asked != old.state_partitions)
        .map(|asked| (old.state_partitions, asked));
    EvolutionReport {
        operators,
        query,
        partitions,
    }
}

/// An aggregate's text without the NULLS FIRST / NULLS LAST of the orderings inside it.
fn without_null_order(text: &str) -> String {
    text.replace(" NULLS FIRST", "").replace(" NULLS LAST", "")
}

/// `shape` with its timestamps spelled in one unit: state written when SQL's `TIMESTAMP` was
/// nanoseconds is read on in microseconds (the state files convert it), so the unit alone is
/// no change, but for keys spread over several partitions (see [`compare_operator`]).
fn in_one_time_unit(shape: &OperatorShape) -> OperatorShape {
    let text = |s: &String| s.replace("Timestamp(ns", "Timestamp(µs");
    let mut s = shape.clone();
    for list in [&mut s.keys, &mut s.values, &mut s.rows] {
        *list = list.iter().map(text).collect();
    }
    s.event_time = s.event_time.as_ref().map(text);
    s.condition = s.condition.as_ref().map(text);
    s.below = text(&s.below);
    for store in &mut s.state {
        store.columns = store.columns.iter().map(text).collect();
    }
    s
}

fn compare_operator(o: &OperatorShape, n: &OperatorShape, partitions: usize) -> OperatorVerdict {
    let unit_only_keys = o.keys != n.keys;
    let (o, n) = (&in_one_time_unit(o), &in_one_time_unit(n));
    let unit_only_keys = unit_only_keys && o.keys == n.keys;
    let mut verdict = Verdict::Reuse;
    let mut changes = Vec::new();
    let mut raise = |v: Verdict, change: String, changes: &mut Vec<String>| {
        verdict = verdict.max(v);
        changes.push(format!("{v}: {change}"));
    };
    if unit_only_keys && partitions > 1 {
        // The keys' partitions were chosen by their nanosecond values: the same keys in
        // microseconds belong to other partitions.
        raise(
            Verdict::Rebuild,
            format!(
                "the keys' timestamps are now microseconds (SQL's TIMESTAMP is Spark's unit \
                 since this version) and the state's {partitions} partitions were chosen by \
                 their nanosecond values: move the state to one partition first (`tributary \
                 state repartition CHECKPOINT --partitions 1`, which keeps every row; a later \
                 repartition can spread it again), or rebuild it"
            ),
            &mut changes,
        );
    }
    if o.kind != n.kind {
        raise(
            Verdict::Incompatible,
            format!(
                "its state was written by a {} and the query now has a {} in its place \
                 (operators are numbered from the sources up: adding or removing a stateful \
                 operator below renumbers those above it)",
                o.kind, n.kind
            ),
            &mut changes,
        );
        return OperatorVerdict {
            id: n.id,
            kind: n.kind.to_string(),
            verdict,
            changes,
        };
    }
    if o.keys != n.keys {
        raise(
            Verdict::Rebuild,
            format!(
                "the keys change from [{}] to [{}]: every key's state is different",
                o.keys.join(", "),
                n.keys.join(", ")
            ),
            &mut changes,
        );
    }
    if o.event_time != n.event_time {
        raise(
            Verdict::Rebuild,
            format!(
                "the window changes from {} to {}: the rows already read fall into other windows",
                o.event_time.as_deref().unwrap_or("none"),
                n.event_time.as_deref().unwrap_or("none")
            ),
            &mut changes,
        );
    }
    if o.layout != n.layout {
        raise(
            Verdict::Rebuild,
            format!(
                "the state's layout changes from '{}' to '{}'",
                if o.layout.is_empty() {
                    "plain"
                } else {
                    &o.layout
                },
                if n.layout.is_empty() {
                    "plain"
                } else {
                    &n.layout
                }
            ),
            &mut changes,
        );
    }
    if o.condition != n.condition {
        raise(
            Verdict::Rebuild,
            format!(
                "the join condition changes from {} to {}: rows kept and evicted differ",
                o.condition.as_deref().unwrap_or("none"),
                n.condition.as_deref().unwrap_or("none")
            ),
            &mut changes,
        );
    }
    if o.rows != n.rows {
        let (was, now) = (set(&o.rows), set(&n.rows));
        let gone: BTreeSet<&String> = was.difference(&now).copied().collect();
        let added: BTreeSet<&String> = now.difference(&was).copied().collect();
        raise(
            Verdict::Rebuild,
            format!(
                "the rows the state keeps change (added: [{}]; gone: [{}])",
                list(&added),
                list(&gone)
            ),
            &mut changes,
        );
    }
    // An aggregate spelled with another NULL ordering inside (`first_value(v ORDER BY ts ASC
    // NULLS LAST)` recorded before SQL took Spark's NULL order) keeps the same state: the
    // ordering applies when the values are read out, not to what is stored.
    let same_but_null_order = n.kind == OperatorKind::Aggregation
        && o.values.len() == n.values.len()
        && o.values
            .iter()
            .zip(&n.values)
            .all(|(a, b)| without_null_order(a) == without_null_order(b));
    if o.values != n.values && !same_but_null_order {
        let (was, now) = (set(&o.values), set(&n.values));
        let gone: BTreeSet<&String> = was.difference(&now).copied().collect();
        let added: BTreeSet<&String> = now.difference(&was).copied().collect();
        if n.kind == OperatorKind::Aggregation {
            if !added.is_empty() {
                raise(
                    Verdict::Extend,
                    format!(
                        "new aggregates [{}]: the stored groups are kept, the new aggregates \
                         count only the rows from the committed epoch on (a rebuild counts \
                         the rows already read too)",
                        list(&added)
                    ),
                    &mut changes,
                );
            }
            if !gone.is_empty() {
                raise(
                    Verdict::Extend,
                    format!(
                        "aggregates removed [{}]: their state is dropped",
                        list(&gone)
                    ),
                    &mut changes,
                );
            }
            if added.is_empty() && gone.is_empty() {
                raise(
                    Verdict::Extend,
                    "the aggregates are reordered: the state's columns are reordered".into(),
                    &mut changes,
                );
            }
        } else {
            raise(
                Verdict::Rebuild,
                format!(
                    "what the state keeps per key changes from [{}] to [{}]",
                    o.values.join(", "),
                    n.values.join(", ")
                ),
                &mut changes,
            );
        }
    }
    if o.children != n.children {
        raise(
            Verdict::Incompatible,
            format!(
                "it read the output of operators {:?} and now reads {:?}",
                o.children, n.children
            ),
            &mut changes,
        );
    }
    if o.below != n.below && changes.is_empty() {
        changes.push(
            "reuse: the plan below it changes (a filter, a projection, a watermark): the rows \
             already in the state keep the old plan's effect, the new one applies to the rows \
             still to come"
                .into(),
        );
    }
    OperatorVerdict {
        id: n.id,
        kind: n.kind.to_string(),
        verdict,
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::super::shape::{WatermarkShape, SHAPE_VERSION};
    use super::*;

    fn agg(keys: &[&str], window: Option<&str>, values: &[&str], below: &str) -> OperatorShape {
        OperatorShape {
            id: 0,
            kind: OperatorKind::Aggregation,
            keys: keys.iter().map(|s| s.to_string()).collect(),
            event_time: window.map(str::to_string),
            values: values.iter().map(|s| s.to_string()).collect(),
            condition: None,
            rows: vec![],
            layout: String::new(),
            below: below.into(),
            children: vec![],
            state: vec![],
        }
    }

    fn query(ops: Vec<OperatorShape>, delay: i64) -> QueryShape {
        QueryShape {
            version: SHAPE_VERSION,
            epoch: 0,
            output_mode: "append".into(),
            state_partitions: 4,
            watermarks: vec![WatermarkShape {
                column: "ts".into(),
                delay_ms: delay,
            }],
            operators: ops,
        }
    }

    const W: Option<&str> = Some("window(ts, 1 min): Struct");

    #[test]
    fn the_same_query_or_a_change_below_reuses_the_state() {
        let old = query(
            vec![agg(
                &["region: Utf8"],
                W,
                &["count(*): Int64"],
                "Filter: a > 1",
            )],
            600_000,
        );
        let r = compare(&old, &old, None);
        assert_eq!(r.worst(), Verdict::Reuse);
        assert!(r.operators[0].changes.is_empty() && r.query.is_empty());
        let new = query(
            vec![agg(
                &["region: Utf8"],
                W,
                &["count(*): Int64"],
                "Filter: a > 2",
            )],
            900_000,
        );
        let r = compare(&old, &new, Some(4));
        assert_eq!(r.worst(), Verdict::Reuse);
        assert!(r.operators[0].changes[0].contains("plan below"), "{r}");
        assert!(r.query[0].contains("from 10 min to 15 min"), "{r}");
    }

    #[test]
    fn timestamps_now_in_microseconds_reuse_the_state_unless_keys_are_spread_by_them() {
        let old = query(
            vec![agg(
                &["w: Struct(\"start\": Timestamp(ns), \"end\": Timestamp(ns))"],
                W,
                &["max(ts): Timestamp(ns)"],
                "Filter: ts > CAST(x AS Timestamp(ns))",
            )],
            0,
        );
        let new = query(
            vec![agg(
                &["w: Struct(\"start\": Timestamp(µs), \"end\": Timestamp(µs))"],
                W,
                &["max(ts): Timestamp(µs)"],
                "Filter: ts > CAST(x AS Timestamp(µs))",
            )],
            0,
        );
        // Four partitions chosen by the nanosecond keys: the keys would be looked up elsewhere.
        let r = compare(&old, &new, None);
        assert_eq!(r.worst(), Verdict::Rebuild, "{r}");
        assert!(r.operators[0].changes[0].contains("--partitions 1"), "{r}");
        // One partition: nothing else changed.
        let (mut old1, mut new1) = (old.clone(), new.clone());
        old1.state_partitions = 1;
        new1.state_partitions = 1;
        let r = compare(&old1, &new1, None);
        assert_eq!(r.worst(), Verdict::Reuse, "{r}");
        assert!(r.operators[0].changes.is_empty(), "{r}");
        // Values alone in another unit never matter.
        let mut values_only = new.clone();
        values_only.operators[0].keys = old.operators[0].keys.clone();
        assert_eq!(compare(&old, &values_only, None).worst(), Verdict::Reuse);
    }

    #[test]
    fn aggregates_added_or_removed_extend_and_keys_or_windows_rebuild() {
        let old = query(vec![agg(&["region: Utf8"], W, &["count(*): Int64"], "")], 0);
        let more = query(
            vec![agg(
                &["region: Utf8"],
                W,
                &["count(*): Int64", "sum(x): Int64"],
                "",
            )],
            0,
        );
        let r = compare(&old, &more, None);
        assert_eq!(r.worst(), Verdict::Extend);
        assert!(r.operators[0].changes[0].contains("sum(x)"), "{r}");
        assert_eq!(compare(&more, &old, None).worst(), Verdict::Extend);
        let keys = query(
            vec![agg(
                &["region: Utf8", "user: Utf8"],
                W,
                &["count(*): Int64"],
                "",
            )],
            0,
        );
        assert_eq!(compare(&old, &keys, None).worst(), Verdict::Rebuild);
        let window = query(
            vec![agg(
                &["region: Utf8"],
                Some("window(ts, 5 min): Struct"),
                &["count(*): Int64"],
                "",
            )],
            0,
        );
        let r = compare(&old, &window, None);
        assert_eq!(r.worst(), Verdict::Rebuild);
        assert!(r.operators[0].changes[0].contains("window changes"), "{r}");
    }

    #[test]
    fn an_aggregate_spelled_with_another_null_order_reuses_its_state() {
        let was = query(
            vec![agg(
                &["k: Int64"],
                None,
                &["first_value(v) ORDER BY [t.ts ASC NULLS LAST]: Int64"],
                "",
            )],
            0,
        );
        let now = query(
            vec![agg(
                &["k: Int64"],
                None,
                &["first_value(v) ORDER BY [t.ts ASC NULLS FIRST]: Int64"],
                "",
            )],
            0,
        );
        assert_eq!(compare(&was, &now, None).worst(), Verdict::Reuse);
        let other = query(
            vec![agg(
                &["k: Int64"],
                None,
                &["first_value(v) ORDER BY [t.id ASC NULLS FIRST]: Int64"],
                "",
            )],
            0,
        );
        assert_eq!(compare(&was, &other, None).worst(), Verdict::Extend);
    }

    #[test]
    fn another_kind_in_place_is_incompatible_and_new_operators_rebuild() {
        let old = query(vec![agg(&["k: Int64"], None, &["count(*): Int64"], "")], 0);
        let mut dedup = agg(&["k: Int64"], None, &[], "");
        dedup.kind = OperatorKind::Deduplication;
        let r = compare(&old, &query(vec![dedup.clone()], 0), None);
        assert_eq!(r.worst(), Verdict::Incompatible);
        let mut above = agg(&["k: Int64"], None, &["count(*): Int64"], "");
        above.id = 1;
        above.children = vec![0];
        let r = compare(
            &query(vec![dedup.clone()], 0),
            &query(vec![dedup.clone(), above], 0),
            None,
        );
        assert_eq!(r.operators[0].verdict, Verdict::Reuse);
        assert_eq!(r.operators[1].verdict, Verdict::Rebuild);
        let r = compare(&query(vec![dedup], 0), &query(vec![], 0), None);
        assert_eq!(r.worst(), Verdict::Reuse);
        assert!(r.operators[0].changes[0].contains("gone"), "{r}");
    }

    #[test]
    fn kept_rows_and_join_conditions_rebuild_and_partitions_are_incompatible() {
        let mut j = agg(&["l.k = r.k"], None, &[], "");
        j.kind = OperatorKind::StreamStreamJoin;
        j.condition = Some("l.t > r.t".into());
        j.rows = vec!["left k: Int64".into()];
        let mut cond = j.clone();
        cond.condition = Some("l.t >= r.t".into());
        assert_eq!(
            compare(&query(vec![j.clone()], 0), &query(vec![cond], 0), None).worst(),
            Verdict::Rebuild
        );
        let mut rows = j.clone();
        rows.rows.push("left v: Utf8".into());
        let r = compare(&query(vec![j.clone()], 0), &query(vec![rows], 0), None);
        assert!(
            r.operators[0].changes[0].contains("added: [left v: Utf8]"),
            "{r}"
        );
        let r = compare(&query(vec![j.clone()], 0), &query(vec![j], 0), Some(8));
        assert_eq!(r.worst(), Verdict::Incompatible);
        assert!(r.to_string().contains("repartition"), "{r}");
    }
}
