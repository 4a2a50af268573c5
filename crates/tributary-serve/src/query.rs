//! A read-only query over the served tables: what both endpoints run for a statement that is
//! neither a session command nor a client's catalog query.

use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SQLOptions;

use crate::catalog::Catalog;

/// Why a query was refused.
#[derive(Debug)]
pub(crate) enum QueryError {
    /// It would write: the endpoints only read.
    ReadOnly,
    /// A table it names is not served.
    UnknownTable(String),
    /// It does not parse or plan.
    Invalid(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::ReadOnly => {
                f.write_str("this endpoint is read only: it answers queries over the served tables")
            }
            QueryError::UnknownTable(m) | QueryError::Invalid(m) => f.write_str(m),
        }
    }
}

/// Plan `sql` over the tables as they are now (each Delta table at its latest committed
/// version), refusing anything that writes.
pub(crate) async fn plan(catalog: &Catalog, sql: &str) -> Result<DataFrame, QueryError> {
    let (ctx, sql) = catalog
        .context(sql)
        .await
        .map_err(|e| classify(e.to_string()))?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    ctx.sql_with_options(&sql, options).await.map_err(|e| {
        let message = e.to_string();
        if message.contains("not supported") && (message.contains("DML") || message.contains("DDL"))
        {
            QueryError::ReadOnly
        } else {
            classify(message)
        }
    })
}

fn classify(message: String) -> QueryError {
    if message.contains("not found") || message.contains("not served") {
        QueryError::UnknownTable(message)
    } else {
        QueryError::Invalid(message)
    }
}
