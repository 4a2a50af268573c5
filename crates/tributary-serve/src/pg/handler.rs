//! One client connection: its statements answered over the served tables.
//!
//! ```text
//!  simple Query ──split──► each statement ─┐
//!  Parse/Bind/Describe/Execute ──bind $n──┴─► classify: BEGIN/COMMIT/SET/SHOW answered here
//!                                              ├─ a client's catalog query ─► client_catalog
//!                                              └─ a query ─► query::plan ─► DataFusion (read only)
//! ```
//!
//! The extended protocol describes a portal before it runs it, so the answer computed for the
//! Describe is kept and handed to the Execute that follows.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use futures::{stream, Sink};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::encode;
use crate::catalog::Catalog;
use crate::client_catalog::{self, TableInfo};
use crate::query::{self, QueryError};
use crate::statement::{self, Statement};

/// What one statement gives.
#[derive(Debug, Clone)]
enum Answer {
    Rows(SchemaRef, Vec<RecordBatch>),
    Begin,
    Commit,
    Rollback,
    Command(String),
}

/// The handler of one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    catalog: Arc<Catalog>,
    user: String,
    /// The answer of the portal last described (its bound SQL), for the Execute after it.
    described: Mutex<Option<(String, Answer)>>,
    parser: Arc<Parser>,
}

impl Connection {
    pub(crate) fn new(catalog: Arc<Catalog>, user: String) -> Self {
        Connection {
            catalog,
            user,
            described: Mutex::new(None),
            parser: Arc::new(Parser),
        }
    }

    async fn answer(&self, stmt: &str) -> PgWireResult<Answer> {
        match statement::classify(stmt) {
            Statement::Begin => Ok(Answer::Begin),
            Statement::Commit => Ok(Answer::Commit),
            Statement::Rollback => Ok(Answer::Rollback),
            Statement::Command(tag) => Ok(Answer::Command(tag)),
            Statement::Show(name) => {
                let value = statement::setting(&name).ok_or_else(|| {
                    user_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                let field = name.replace(' ', "_");
                let batch = RecordBatch::try_from_iter(vec![(
                    field.as_str(),
                    Arc::new(arrow::array::StringArray::from(vec![value])) as _,
                )])
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
                Ok(Answer::Rows(batch.schema(), vec![batch]))
            }
            Statement::Query(sql) => self.query(&sql).await,
        }
    }

    async fn query(&self, sql: &str) -> PgWireResult<Answer> {
        if looks_like_catalog(sql) {
            let tables: Vec<TableInfo> = self
                .catalog
                .schemas()
                .await
                .into_iter()
                .map(|(name, schema)| TableInfo { name, schema })
                .collect();
            if let Some(batch) = client_catalog::answer(sql, &tables, &self.user) {
                return Ok(Answer::Rows(batch.schema(), vec![batch]));
            }
        }
        let df = self.plan(sql).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df
            .collect()
            .await
            .map_err(|e| user_error("XX000", e.to_string()))?;
        Ok(Answer::Rows(schema, batches))
    }

    async fn plan(&self, sql: &str) -> PgWireResult<datafusion::dataframe::DataFrame> {
        query::plan(&self.catalog, sql).await.map_err(|e| {
            let code = match e {
                QueryError::ReadOnly => "25006",
                QueryError::UnknownTable(_) => "42P01",
                QueryError::Invalid(_) => "42601",
            };
            user_error(code, e.to_string())
        })
    }

    /// The columns `stmt` answers: a query is planned, not run (a client's catalog query and
    /// a session command are answered, which is cheap).
    async fn columns(&self, stmt: &str) -> PgWireResult<Vec<FieldInfo>> {
        match statement::classify(stmt) {
            Statement::Query(sql) if !looks_like_catalog(&sql) => {
                let df = self.plan(&sql).await?;
                let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
                Ok(encode::fields(&schema, None))
            }
            _ => Ok(answer_fields(&self.answer(stmt).await?, None)),
        }
    }

    /// The answer of a bound statement: the one computed for its Describe, or a new one.
    async fn answer_bound(&self, sql: &str) -> PgWireResult<Answer> {
        let cached = self
            .described
            .lock()
            .expect("described")
            .take()
            .filter(|(s, _)| s == sql);
        match cached {
            Some((_, a)) => Ok(a),
            None => self.answer(sql).await,
        }
    }
}

fn response(answer: Answer, format: Option<&Format>) -> PgWireResult<Response> {
    Ok(match answer {
        Answer::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Answer::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        Answer::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
        Answer::Command(tag) => Response::Execution(Tag::new(&tag)),
        Answer::Rows(schema, batches) => {
            let fields = Arc::new(encode::fields(&schema, format));
            let rows = encode::rows(&batches, &fields)?;
            Response::Query(QueryResponse::new(fields, stream::iter(rows)))
        }
    })
}

fn answer_fields(answer: &Answer, format: Option<&Format>) -> Vec<FieldInfo> {
    match answer {
        Answer::Rows(schema, _) => encode::fields(schema, format),
        _ => Vec::new(),
    }
}

/// Whether `sql` may be one of the catalog queries clients send on their own (answered from
/// the served tables' schemas by `client_catalog`).
fn looks_like_catalog(sql: &str) -> bool {
    let l = sql.to_ascii_lowercase();
    l.contains("pg_")
        || l.contains("version()")
        || l.contains("current_")
        || l.contains("to_regtype")
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut out = Vec::new();
        for stmt in statement::split(query) {
            match self.answer(&stmt).await.and_then(|a| response(a, None)) {
                Ok(r) => out.push(r),
                Err(PgWireError::UserError(info)) => {
                    // The statements after a failed one are not run, as in PostgreSQL.
                    out.push(Response::Error(info));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if out.is_empty() {
            out.push(Response::EmptyQuery);
        }
        Ok(out)
    }
}

/// Statements are kept as their SQL; parameters are bound as literals at Describe or Execute.
#[derive(Debug, Default)]
pub(crate) struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = String;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<String>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(Some(sql.to_string()))
    }

    fn get_parameter_types(&self, stmt: &String) -> PgWireResult<Vec<Type>> {
        Ok(vec![Type::UNKNOWN; statement::parameter_count(stmt)])
    }

    fn get_result_schema(
        &self,
        _stmt: &String,
        _column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

/// The parameters of `portal` as SQL literals.
fn literals(portal: &Portal<String>) -> PgWireResult<Vec<String>> {
    (0..portal.parameter_len())
        .map(|i| {
            if portal.parameters.get(i).is_none_or(|p| p.is_none()) {
                return Ok("NULL".to_string());
            }
            let ty = portal
                .statement
                .parameter_types
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or(Type::UNKNOWN);
            let get_text = || -> PgWireResult<String> {
                let t = if ty == Type::UNKNOWN || portal.parameter_format.format_for(i)
                    == pgwire::api::results::FieldFormat::Text
                {
                    // Text parameters of any type arrive as their text.
                    portal.parameter::<String>(i, &Type::TEXT)?
                } else {
                    portal.parameter::<String>(i, &ty)?
                };
                Ok(t.unwrap_or_default())
            };
            let binary = portal.parameter_format.is_binary(i);
            Ok(match ty {
                Type::INT2 if binary => opt(portal.parameter::<i16>(i, &ty)?),
                Type::INT4 if binary => opt(portal.parameter::<i32>(i, &ty)?),
                Type::INT8 if binary => opt(portal.parameter::<i64>(i, &ty)?),
                Type::FLOAT4 if binary => opt(portal.parameter::<f32>(i, &ty)?),
                Type::FLOAT8 if binary => opt(portal.parameter::<f64>(i, &ty)?),
                Type::BOOL if binary => opt(portal.parameter::<bool>(i, &ty)?),
                Type::DATE if binary => portal
                    .parameter::<NaiveDate>(i, &ty)?
                    .map_or("NULL".into(), |d| format!("DATE '{d}'")),
                Type::TIMESTAMP if binary => portal
                    .parameter::<NaiveDateTime>(i, &ty)?
                    .map_or("NULL".into(), |t| format!("TIMESTAMP '{t}'")),
                Type::TIMESTAMPTZ if binary => portal
                    .parameter::<DateTime<chrono::FixedOffset>>(i, &ty)?
                    .map_or("NULL".into(), |t| format!("TIMESTAMP '{}'", t.naive_utc())),
                Type::INT2 | Type::INT4 | Type::INT8 | Type::FLOAT4 | Type::FLOAT8
                | Type::NUMERIC => {
                    let t = get_text()?;
                    if t.parse::<f64>().is_ok() {
                        t
                    } else {
                        statement::quote(&t)
                    }
                }
                _ if binary && ty != Type::TEXT && ty != Type::VARCHAR && ty != Type::BPCHAR => {
                    return Err(user_error(
                        "0A000",
                        format!(
                            "parameter ${} of type {} in binary format is not supported: send it as text",
                            i + 1,
                            ty.name()
                        ),
                    ))
                }
                _ => statement::quote(&get_text()?),
            })
        })
        .collect()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("NULL".to_string(), |v| v.to_string())
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = String;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<String>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = statement::bind(&portal.statement.statement, &literals(portal)?);
        let answer = self.answer_bound(sql.trim().trim_end_matches(';')).await?;
        response(answer, Some(&portal.result_column_format))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<String>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = statement::bind(&portal.statement.statement, &literals(portal)?);
        let sql = sql.trim().trim_end_matches(';').to_string();
        let answer = self.answer(&sql).await?;
        let fields = answer_fields(&answer, Some(&portal.result_column_format));
        *self.described.lock().expect("described") = Some((sql, answer));
        Ok(if fields.is_empty() {
            DescribePortalResponse::no_data()
        } else {
            DescribePortalResponse::new(fields)
        })
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        stmt: &StoredStatement<String>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let count = statement::parameter_count(&stmt.statement);
        let types: Vec<Type> = (0..count)
            .map(|i| {
                stmt.parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or(Type::UNKNOWN)
            })
            .collect();
        // The result's columns with every parameter NULL (their types do not change them).
        let nulls = vec!["NULL".to_string(); count];
        let sql = statement::bind(&stmt.statement, &nulls);
        let fields = self
            .columns(sql.trim().trim_end_matches(';'))
            .await
            .unwrap_or_default();
        Ok(DescribeStatementResponse::new(types, fields))
    }
}
