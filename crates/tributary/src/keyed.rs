//! `df.group_by_key(cols)`: user-defined state per key, typed with serde
//! (Spark's `groupByKey(...).mapGroupsWithState` / `flatMapGroupsWithState`).
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tributary::prelude::*;
//! use tributary::state::{GroupState, GroupStateTimeout};
//!
//! #[derive(Deserialize)]
//! struct Movement { product_id: i64, qty: i64 }
//! #[derive(Serialize, Deserialize, Default)]
//! struct Stock { units: i64 }
//! #[derive(Serialize)]
//! struct Level { product_id: i64, units: i64 }
//!
//! # fn run(movements: DataFrame, schema: SchemaRef) -> tributary::Result<DataFrame> {
//! movements.group_by_key(&["product_id"])?.map_groups_with_state(
//!     schema,
//!     GroupStateTimeout::NoTimeout,
//!     |product_id: i64, rows: Vec<Movement>, state: &mut GroupState<Stock>| {
//!         let mut stock = state.get()?.unwrap_or_default();
//!         stock.units += rows.iter().map(|r| r.qty).sum::<i64>();
//!         state.update(&stock)?;
//!         Ok(Level { product_id, units: stock.units })
//!     },
//! )
//! # }
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, TributaryError};
use crate::plan::{FlatMapGroupsWithState, GroupFunction};
use crate::state::{GroupState, GroupStateTimeout, RawGroupState};
use crate::DataFrame;

/// A DataFrame grouped by key columns, for user-defined state.
#[derive(Debug)]
pub struct KeyedDataFrame {
    pub(crate) df: DataFrame,
    pub(crate) keys: Vec<String>,
}

/// The types a typed group function reads and writes.
type Types<K, I, S, O> = PhantomData<fn() -> (K, I, S, O)>;

struct Typed<F, K, I, S, O> {
    f: F,
    _types: Types<K, I, S, O>,
}

impl<F, K, I, S, O> GroupFunction for Typed<F, K, I, S, O>
where
    F: Fn(K, Vec<I>, &mut GroupState<S>) -> Result<Vec<O>> + Send + Sync,
    K: DeserializeOwned,
    I: DeserializeOwned,
    S: Serialize + DeserializeOwned,
    O: Serialize,
{
    fn call(&self, key: Value, rows: Vec<Value>, raw: &mut RawGroupState) -> Result<Vec<Value>> {
        let shown = key.to_string();
        let k: K = serde_json::from_value(key).map_err(|e| {
            TributaryError::Plan(format!(
                "the key {shown} does not read as the key type: {e}"
            ))
        })?;
        let rows: Vec<I> = rows
            .into_iter()
            .map(|r| {
                let shown = r.to_string();
                serde_json::from_value(r).map_err(|e| {
                    TributaryError::Plan(format!(
                        "the row {shown} does not read as the row type: {e}"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let mut state = GroupState::new(raw);
        let out = (self.f)(k, rows, &mut state)?;
        out.iter()
            .map(|o| {
                serde_json::to_value(o).map_err(|e| {
                    TributaryError::Plan(format!("an output row does not serialize: {e}"))
                })
            })
            .collect()
    }
}

impl KeyedDataFrame {
    /// Call `f` per key with the key, the key's new rows and its state; the rows it returns
    /// (any serde type whose fields match `output`) form the result.
    pub fn flat_map_groups_with_state<K, I, S, O, F>(
        self,
        output: SchemaRef,
        timeout: GroupStateTimeout,
        f: F,
    ) -> Result<DataFrame>
    where
        F: Fn(K, Vec<I>, &mut GroupState<S>) -> Result<Vec<O>> + Send + Sync + 'static,
        K: DeserializeOwned + 'static,
        I: DeserializeOwned + 'static,
        S: Serialize + DeserializeOwned + 'static,
        O: Serialize + 'static,
    {
        let func: Arc<dyn GroupFunction> = Arc::new(Typed {
            f,
            _types: PhantomData,
        });
        let (state, plan) = self.df.into_parts();
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        let node = FlatMapGroupsWithState::try_new(plan, &keys, func, output, timeout)
            .map_err(TributaryError::df("flat_map_groups_with_state"))?;
        Ok(DataFrame::new(state, node.into_plan()))
    }

    /// Like [`Self::flat_map_groups_with_state`], with exactly one output row per call.
    pub fn map_groups_with_state<K, I, S, O, F>(
        self,
        output: SchemaRef,
        timeout: GroupStateTimeout,
        f: F,
    ) -> Result<DataFrame>
    where
        F: Fn(K, Vec<I>, &mut GroupState<S>) -> Result<O> + Send + Sync + 'static,
        K: DeserializeOwned + 'static,
        I: DeserializeOwned + 'static,
        S: Serialize + DeserializeOwned + 'static,
        O: Serialize + 'static,
    {
        self.flat_map_groups_with_state(output, timeout, move |k, rows, state| {
            Ok(vec![f(k, rows, state)?])
        })
    }
}
