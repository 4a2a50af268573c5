//! The types a DataFrame's rows will have, before it runs.
//!
//! DataFusion's builders (and its SQL planner) make a plan whose schema takes each operator's
//! type from its first input: `SELECT 1 UNION ALL SELECT 2.5`, or `CASE WHEN .. THEN 1 ELSE 2.5
//! END`, says BIGINT. Type coercion, an analyzer rule run when the plan executes, then makes
//! the rows DOUBLE. Whatever reads the schema before the run (a sink creating its table, the
//! memory sink, Python's `collect()` and `schema`) must read the coerced one, or it declares
//! one type for values of another.
//!
//! ```text
//!  DataFrame (as built) ─► TypeCoercion ─► DataFrame (schema = the rows' types) ─► write / collect
//! ```

use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::optimizer::AnalyzerRule;

use crate::error::{Result, TributaryError};
use crate::DataFrame;

/// `df` with its types coerced as running it coerces them; nothing else of the plan changes.
pub(crate) fn coerced(df: DataFrame) -> Result<DataFrame> {
    let (state, plan) = df.into_parts();
    let plan = TypeCoercion::new()
        .analyze(plan, state.config_options())
        .map_err(TributaryError::df("resolving the query's types"))?;
    Ok(DataFrame::new(state, plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    #[tokio::test]
    async fn a_union_and_a_case_of_mixed_types_say_the_type_of_their_rows() {
        let ctx = datafusion::prelude::SessionContext::new();
        for sql in [
            "SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2.5)",
            "SELECT CASE WHEN v = 1 THEN 1 ELSE 2.5 END AS x FROM (VALUES (1), (2)) AS t(v)",
        ] {
            let df = ctx.sql(sql).await.unwrap();
            let df = coerced(df).unwrap();
            assert_eq!(
                df.schema().field(0).data_type(),
                &DataType::Float64,
                "{sql}"
            );
            let rows = df.collect().await.unwrap();
            assert_eq!(rows[0].schema().field(0).data_type(), &DataType::Float64);
        }
    }
}
