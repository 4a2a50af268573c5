//! Parsing a job file into table declarations and INSERT statements.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use crate::error::JobError;

/// A `CREATE [UNBOUNDED] EXTERNAL TABLE`.
#[derive(Debug, Clone)]
pub struct TableDecl {
    /// Table name.
    pub name: String,
    /// Declared columns (may be empty for batch reads that infer them).
    pub schema: SchemaRef,
    /// `STORED AS` (lower case): json, csv, parquet, delta, rate, console, memory.
    pub format: String,
    /// `LOCATION`.
    pub location: String,
    /// `OPTIONS`, keys in lower case without a `format.` prefix.
    pub options: HashMap<String, String>,
    /// `UNBOUNDED`: read as a stream by `run`.
    pub unbounded: bool,
    /// `PARTITIONED BY`.
    pub partition_by: Vec<String>,
}

/// An `INSERT INTO target SELECT ...`.
#[derive(Debug, Clone)]
pub struct InsertStmt {
    /// The target table.
    pub target: String,
    /// Explicit target columns, if given.
    pub columns: Vec<String>,
    /// The SELECT, as SQL.
    pub query: String,
}

/// A parsed job file.
#[derive(Debug, Clone, Default)]
pub struct JobFile {
    /// Table declarations, in file order.
    pub tables: Vec<TableDecl>,
    /// INSERT statements, in file order.
    pub inserts: Vec<InsertStmt>,
}

impl JobFile {
    /// Parse a job file whose variables are already substituted.
    pub async fn parse(sql: &str) -> Result<JobFile, JobError> {
        let statements = DFParser::parse_sql(sql).map_err(|e| JobError::Sql(e.to_string()))?;
        // Types as every Tributary session plans them (a bare TIMESTAMP in microseconds).
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_type_planner(Arc::new(tributary::SparkTypePlanner))
            .build();
        let mut job = JobFile::default();
        for stmt in statements {
            match stmt {
                DfStatement::CreateExternalTable(_) => {
                    let plan = state
                        .statement_to_plan(stmt.clone())
                        .await
                        .map_err(|e| JobError::Sql(format!("{e} in `{stmt}`")))?;
                    let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) = plan else {
                        return Err(JobError::Sql(format!("unexpected plan for `{stmt}`")));
                    };
                    let options = cmd
                        .options
                        .iter()
                        .map(|(k, v)| {
                            let k = k.to_ascii_lowercase();
                            (k.strip_prefix("format.").unwrap_or(&k).to_string(), v.clone())
                        })
                        .collect();
                    let name = cmd.name.table().to_string();
                    if job.tables.iter().any(|t| t.name == name) {
                        return Err(JobError::Invalid(format!("table '{name}' is declared twice")));
                    }
                    job.tables.push(TableDecl {
                        name,
                        schema: Arc::new(cmd.schema.as_arrow().clone()),
                        format: cmd.file_type.to_ascii_lowercase(),
                        location: cmd.locations.first().cloned().unwrap_or_default(),
                        options,
                        unbounded: cmd.unbounded,
                        partition_by: cmd.table_partition_cols.clone(),
                    });
                }
                DfStatement::Statement(s) => match *s {
                    SqlStatement::Insert(insert) => {
                        // The table's name as CREATE declared it: unquoted names lower-cased,
                        // quoted ones ("Silver") kept as written.
                        let target = datafusion::common::TableReference::parse_str(
                            &insert.table.to_string(),
                        )
                        .table()
                        .to_string();
                        let query = insert.source.ok_or_else(|| {
                            JobError::Invalid(format!("INSERT INTO {target} needs a SELECT"))
                        })?;
                        job.inserts.push(InsertStmt {
                            target,
                            columns: insert.columns.iter().map(|c| c.to_string()).collect(),
                            query: query.to_string(),
                        });
                    }
                    other => {
                        return Err(JobError::Invalid(format!(
                            "a job file holds CREATE EXTERNAL TABLE and INSERT INTO statements; found `{other}`"
                        )))
                    }
                },
                other => {
                    return Err(JobError::Invalid(format!(
                        "a job file holds CREATE EXTERNAL TABLE and INSERT INTO statements; found `{other}`"
                    )))
                }
            }
        }
        if job.inserts.is_empty() {
            return Err(JobError::Invalid(
                "the job file has no INSERT INTO ... SELECT: nothing to run".into(),
            ));
        }
        for i in &job.inserts {
            if !job.tables.iter().any(|t| t.name == i.target) {
                return Err(JobError::Invalid(format!(
                    "INSERT INTO {}: the table is not declared; add CREATE EXTERNAL TABLE {} (...) STORED AS DELTA LOCATION '...'",
                    i.target, i.target
                )));
            }
        }
        Ok(job)
    }

    /// The declaration of a table.
    pub fn table(&self, name: &str) -> Option<&TableDecl> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Whether a table is the target of an INSERT.
    pub fn is_sink(&self, name: &str) -> bool {
        self.inserts.iter().any(|i| i.target == name)
    }

    /// The query name of each INSERT: the target's name, numbered when a target repeats.
    pub fn query_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, ins) in self.inserts.iter().enumerate() {
            let dup = self
                .inserts
                .iter()
                .filter(|o| o.target == ins.target)
                .count()
                > 1;
            out.push(if dup {
                format!("{}_{i}", ins.target)
            } else {
                ins.target.clone()
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insert_targets_are_found_by_their_declared_names() {
        let job = JobFile::parse(
            "CREATE EXTERNAL TABLE events (id BIGINT) STORED AS JSON LOCATION '/tmp/in';
             CREATE EXTERNAL TABLE \"Silver\" (id BIGINT) STORED AS PARQUET LOCATION '/tmp/a';
             CREATE EXTERNAL TABLE gold (id BIGINT) STORED AS PARQUET LOCATION '/tmp/b';
             INSERT INTO \"Silver\" SELECT id FROM events;
             INSERT INTO GOLD SELECT id FROM events;",
        )
        .await
        .unwrap();
        let targets: Vec<&str> = job.inserts.iter().map(|i| i.target.as_str()).collect();
        assert_eq!(targets, vec!["Silver", "gold"]);
        let err = JobFile::parse(
            "CREATE EXTERNAL TABLE \"Silver\" (id BIGINT) STORED AS PARQUET LOCATION '/tmp/a';
             INSERT INTO silver SELECT 1;",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("not declared"), "{err}");
    }
}
