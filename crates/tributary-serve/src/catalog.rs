//! What the endpoints serve: named tables, each read as of the moment a query starts.
//!
//! ```text
//!  Catalog ── Stored { format, location, options } ── read anew per query: a Delta table at its
//!          │                                           latest committed version (every epoch is one
//!          │                                           commit, so a reader never sees half of one)
//!          └─ Live(TableProvider) ───────────────────── in the process: a memory sink's table
//! ```
//!
//! `name VERSION AS OF 3` and `name TIMESTAMP AS OF '2026-12-01T10:00:00Z'` (Delta tables) are
//! rewritten to a table read at that version before DataFusion plans the query.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

use arrow::datatypes::SchemaRef;
use datafusion::datasource::TableProvider;
use datafusion::prelude::{SessionConfig, SessionContext};
use regex::Regex;
use tributary::{Result, Session, TributaryError};

/// Where a served table's rows come from.
#[derive(Clone)]
pub enum ServedTable {
    /// Rows at rest, read anew by each query: a Delta table at its latest committed version,
    /// Parquet/JSON/CSV files, a PostgreSQL table.
    Stored {
        /// The format (`delta`, `parquet`, ...).
        format: String,
        /// Its path or URL.
        location: String,
        /// Its read options.
        options: HashMap<String, String>,
        /// The declared schema, if any.
        schema: Option<SchemaRef>,
    },
    /// A table that lives in the process, read as it is when the query runs (a memory sink).
    Live(Arc<dyn TableProvider>),
}

impl std::fmt::Debug for ServedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServedTable::Stored {
                format, location, ..
            } => write!(f, "Stored[{format} at {location}]"),
            ServedTable::Live(_) => write!(f, "Live"),
        }
    }
}

/// The served tables, by name (lower case, as SQL folds unquoted names).
#[derive(Debug)]
pub struct Catalog {
    session: Session,
    tables: RwLock<BTreeMap<String, ServedTable>>,
}

impl Catalog {
    /// An empty catalog reading through `session` (its storage settings and object stores).
    pub fn new(session: Session) -> Self {
        Catalog {
            session,
            tables: RwLock::new(BTreeMap::new()),
        }
    }

    /// Serve `table` as `name` (replacing a table of that name).
    pub fn add(&self, name: &str, table: ServedTable) {
        self.tables
            .write()
            .expect("catalog")
            .insert(name.to_ascii_lowercase(), table);
    }

    /// The names of the served tables, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tables
            .read()
            .expect("catalog")
            .keys()
            .cloned()
            .collect()
    }

    fn get(&self, name: &str) -> Option<ServedTable> {
        self.tables.read().expect("catalog").get(name).cloned()
    }

    /// The provider of `table` as of now (`version`: a Delta version or timestamp).
    async fn provider(
        &self,
        name: &str,
        table: &ServedTable,
        version: Option<&AsOf>,
    ) -> Result<Arc<dyn TableProvider>> {
        match table {
            ServedTable::Live(p) => match version {
                None => Ok(p.clone()),
                Some(_) => Err(TributaryError::Plan(format!(
                    "'{name}' is a live table of this process: it has no versions; VERSION AS OF \
                     reads Delta tables"
                ))),
            },
            ServedTable::Stored {
                format,
                location,
                options,
                schema,
            } => {
                let mut reader = self.session.read().format(format).options(options.iter());
                if let Some(s) = schema {
                    if !s.fields().is_empty() {
                        reader = reader.schema(s.clone());
                    }
                }
                match version {
                    None => {}
                    Some(_) if format != "delta" => {
                        return Err(TributaryError::Plan(format!(
                            "'{name}' is a {format} table: VERSION AS OF and TIMESTAMP AS OF read \
                             Delta tables"
                        )))
                    }
                    Some(AsOf::Version(v)) => reader = reader.option("version_as_of", v),
                    Some(AsOf::Timestamp(t)) => reader = reader.option("timestamp_as_of", t),
                }
                Ok(reader.load(location).await?.into_view())
            }
        }
    }

    /// Each served table's columns, as of now (a table that cannot be read is left out).
    pub async fn schemas(&self) -> Vec<(String, SchemaRef)> {
        let mut out = Vec::new();
        for name in self.names() {
            let Some(table) = self.get(&name) else {
                continue;
            };
            match self.provider(&name, &table, None).await {
                Ok(p) => out.push((name, p.schema())),
                Err(e) => tracing::warn!("served table '{name}' cannot be read: {e}"),
            }
        }
        out
    }

    /// A context in which `sql` runs over the tables as of now, and `sql` with its
    /// `VERSION AS OF` clauses rewritten to the tables they read.
    pub async fn context(&self, sql: &str) -> Result<(SessionContext, String)> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("tributary", "public");
        // SQL read as the engine reads it (TIMESTAMP and now() in microseconds, ...).
        let ctx =
            tributary::Session::sql_context(config, self.session.context().runtime_env().clone());
        let (sql, versions) = rewrite_as_of(sql);
        let register = |name: &str, p: Arc<dyn TableProvider>| {
            ctx.register_table(name, p)
                .map(|_| ())
                .map_err(|e| TributaryError::Plan(format!("serving table '{name}': {e}")))
        };
        let lowered = sql.to_ascii_lowercase();
        for name in self.names() {
            // Only the tables the query may name are read (a Delta log read each).
            if !lowered.contains(name.as_str()) && !lowered.contains("information_schema") {
                continue;
            }
            let table = self.get(&name).expect("listed above");
            register(&name, self.provider(&name, &table, None).await?)?;
        }
        for (alias, name, as_of) in versions {
            let table = self.get(&name).ok_or_else(|| {
                TributaryError::Plan(format!(
                    "table '{name}' is not served: the tables are {}",
                    self.names().join(", ")
                ))
            })?;
            register(&alias, self.provider(&name, &table, Some(&as_of)).await?)?;
        }
        Ok((ctx, sql))
    }
}

/// A version of a Delta table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AsOf {
    Version(u64),
    Timestamp(String),
}

/// `sql` with each `name VERSION AS OF n` / `name TIMESTAMP AS OF 'ts'` replaced by a table
/// alias (`"name@v3"`), and the (alias, name, version) of each.
fn rewrite_as_of(sql: &str) -> (String, Vec<(String, String, AsOf)>) {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"(?i)\b([A-Za-z_][A-Za-z0-9_]*)\s+(VERSION|TIMESTAMP)\s+AS\s+OF\s+('(?:[^']|'')*'|\d+)"#)
            .expect("a valid pattern")
    });
    let mut found = Vec::new();
    let out = re.replace_all(sql, |c: &regex::Captures<'_>| {
        let name = c[1].to_ascii_lowercase();
        let value = c[3].trim_matches('\'').replace("''", "'");
        let (alias, as_of) = if c[2].eq_ignore_ascii_case("version") {
            match value.parse::<u64>() {
                Ok(v) => (format!("{name}@v{v}"), AsOf::Version(v)),
                Err(_) => return c[0].to_string(),
            }
        } else {
            (format!("{name}@{value}"), AsOf::Timestamp(value))
        };
        found.push((alias.clone(), name, as_of));
        format!("\"{}\"", alias.replace('"', "\"\""))
    });
    (out.into_owned(), found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_become_aliases_of_the_table_read_at_that_version() {
        let (sql, v) = rewrite_as_of(
            "SELECT * FROM Sales VERSION AS OF 3 s JOIN sales TIMESTAMP AS OF '2026-12-01' t ON true",
        );
        assert_eq!(
            sql,
            "SELECT * FROM \"sales@v3\" s JOIN \"sales@2026-12-01\" t ON true"
        );
        assert_eq!(
            v,
            vec![
                ("sales@v3".into(), "sales".into(), AsOf::Version(3)),
                (
                    "sales@2026-12-01".into(),
                    "sales".into(),
                    AsOf::Timestamp("2026-12-01".into())
                ),
            ]
        );
        assert_eq!(rewrite_as_of("SELECT 1").1, vec![]);
    }
}
