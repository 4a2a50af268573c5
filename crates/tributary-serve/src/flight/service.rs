//! The Flight SQL service: statements and prepared statements planned over the catalog,
//! results streamed by DoGet, and the metadata commands clients list tables with.
//!
//! A statement is planned when the client asks for its FlightInfo, so the schema it announces
//! is the schema DoGet streams and the tables are read as of that moment (a Delta table at its
//! latest committed version: whole epochs). The plan waits for its DoGet under a one-use ticket
//! for at most [`TICKET_TTL`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{
    GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder,
};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use futures::{stream, Stream, TryStreamExt};
use prost::bytes::Bytes;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::auth::Auth;
use super::params;
use crate::catalog::Catalog;
use crate::credentials::{random_secret, Credentials};
use crate::query::{self, QueryError};

/// How long a planned statement waits for its DoGet.
const TICKET_TTL: Duration = Duration::from_secs(300);

/// The catalog and schema names clients see (the PostgreSQL endpoint's too).
const CATALOG: &str = "tributary";
const SCHEMA: &str = "public";

type BoxedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A statement planned for its DoGet.
struct Planned {
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    made: Instant,
}

/// A prepared statement: its SQL (parameters as `$n`) and the values last bound.
#[derive(Clone)]
struct Prepared {
    sql: String,
    params: Vec<String>,
}

/// The service behind the endpoint.
pub(crate) struct FlightSql {
    catalog: Arc<Catalog>,
    auth: Auth,
    planned: Mutex<HashMap<Vec<u8>, Planned>>,
    prepared: Mutex<HashMap<Vec<u8>, Prepared>>,
    info: SqlInfoData,
}

impl FlightSql {
    pub(crate) fn new(catalog: Arc<Catalog>, credentials: Credentials) -> Self {
        let mut info = SqlInfoDataBuilder::new();
        info.append(SqlInfo::FlightSqlServerName, "Tributary");
        info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        info.append(SqlInfo::FlightSqlServerArrowVersion, "59.3.0");
        info.append(SqlInfo::FlightSqlServerReadOnly, true);
        info.append(SqlInfo::FlightSqlServerSql, true);
        info.append(SqlInfo::FlightSqlServerSubstrait, false);
        // 0: no transactions (every query reads whole committed epochs on its own).
        info.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        info.append(SqlInfo::FlightSqlServerCancel, false);
        FlightSql {
            catalog,
            auth: Auth::new(credentials),
            planned: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            info: info.build().expect("the server's SQL info"),
        }
    }

    /// Plan `sql` now and answer where its result is: one endpoint, one ticket.
    async fn plan_statement(
        &self,
        sql: &str,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let df = query::plan(&self.catalog, sql).await.map_err(refusal)?;
        let task = Arc::new(df.task_ctx());
        let plan = df
            .create_physical_plan()
            .await
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let schema = plan.schema();
        let handle = random_secret().into_bytes();
        {
            let mut planned = self.planned.lock().expect("planned");
            planned.retain(|_, p| p.made.elapsed() < TICKET_TTL);
            planned.insert(
                handle.clone(),
                Planned {
                    plan,
                    task,
                    made: Instant::now(),
                },
            );
        }
        let ticket = TicketStatementQuery {
            statement_handle: handle.into(),
        }
        .as_any()
        .encode_to_vec();
        info_with_ticket(&schema, ticket, descriptor)
    }

    /// The schema of `sql`'s result, planned with its parameters as NULL.
    async fn result_schema(&self, sql: &str) -> Result<Schema, Status> {
        let nulls = vec!["NULL".to_string(); crate::statement::parameter_count(sql)];
        let bound = crate::statement::bind(sql, &nulls);
        let df = query::plan(&self.catalog, &bound).await.map_err(refusal)?;
        Ok(df.schema().as_arrow().clone())
    }

    async fn tables(&self, query: CommandGetTables) -> Result<RecordBatch, Status> {
        let mut builder: GetTablesBuilder = query.into_builder();
        for (name, schema) in self.catalog.schemas().await {
            builder
                .append(CATALOG, SCHEMA, name, "TABLE", &schema)
                .map_err(arrow_status)?;
        }
        builder.build().map_err(arrow_status)
    }
}

/// A FlightInfo of `schema` whose one endpoint is `ticket`.
fn info_with_ticket(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(arrow_status)?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

/// A FlightInfo for a metadata command: its ticket is the command itself.
fn info_for_command<T: ProstMessageExt>(
    command: T,
    schema: &Schema,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    info_with_ticket(schema, command.as_any().encode_to_vec(), descriptor)
}

/// One batch as a DoGet stream.
fn batch_stream(batch: RecordBatch) -> BoxedStream<arrow_flight::FlightData> {
    let schema = batch.schema();
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(stream::iter([Ok(batch)]))
            .map_err(Status::from),
    )
}

fn refusal(e: QueryError) -> Status {
    match e {
        QueryError::ReadOnly => Status::permission_denied(e.to_string()),
        QueryError::UnknownTable(m) => Status::not_found(m),
        QueryError::Invalid(m) => Status::invalid_argument(m),
    }
}

fn arrow_status(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<BoxedStream<HandshakeResponse>>, Status> {
        let headers = request.metadata().clone();
        let mut messages = request.into_inner();
        let payload = match headers.get("authorization") {
            Some(_) => Bytes::new(),
            None => match messages.message().await? {
                Some(m) => m.payload,
                None => Bytes::new(),
            },
        };
        let token = self.auth.handshake(&headers, &payload)?;
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut response: Response<BoxedStream<HandshakeResponse>> =
            Response::new(Box::pin(stream::iter([Ok(answer)])));
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("a token that is not a header value"))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.auth.check(request.metadata())?;
        let sql = params::number_markers(&query.query);
        if crate::statement::parameter_count(&sql) > 0 {
            return Err(Status::invalid_argument(
                "the statement has parameters: prepare it and bind their values",
            ));
        }
        self.plan_statement(&sql, request.into_inner()).await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.auth.check(request.metadata())?;
        let planned = self
            .planned
            .lock()
            .expect("planned")
            .remove(ticket.statement_handle.as_ref())
            .ok_or_else(|| {
                Status::not_found(
                    "this ticket is not known: it was used already or expired; ask for the \
                     statement's FlightInfo again",
                )
            })?;
        let schema: SchemaRef = planned.plan.schema();
        let batches = datafusion::physical_plan::execute_stream(planned.plan, planned.task)
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| FlightError::ExternalError(Box::new(e)));
        let data = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(data)))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        self.auth.check(request.metadata())?;
        let sql = params::number_markers(&query.query);
        let schema = self.result_schema(&sql).await?;
        let IpcMessage(dataset_schema) = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(arrow_status)?;
        let handle = random_secret().into_bytes();
        self.prepared.lock().expect("prepared").insert(
            handle.clone(),
            Prepared {
                sql,
                params: Vec::new(),
            },
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema,
            parameter_schema: Bytes::new(),
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.auth.check(request.metadata())?;
        let handle = query.prepared_statement_handle.to_vec();
        // The peeked first message (the descriptor and the parameters' schema) is kept.
        let data = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(data)
            .try_collect()
            .await
            .map_err(Status::from)?;
        let rows: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
        let values = match rows.as_slice() {
            [] => Vec::new(),
            [b] if b.num_rows() == 1 => params::literals(b, 0).map_err(Status::invalid_argument)?,
            _ => {
                return Err(Status::invalid_argument(
                    "bind one row of parameters to a query (several rows are for updates, and \
                     this endpoint is read only)",
                ))
            }
        };
        let mut prepared = self.prepared.lock().expect("prepared");
        let p = prepared
            .get_mut(&handle)
            .ok_or_else(|| Status::not_found("this prepared statement is not known (closed?)"))?;
        p.params = values;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.into()),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.auth.check(request.metadata())?;
        let prepared = self
            .prepared
            .lock()
            .expect("prepared")
            .get(query.prepared_statement_handle.as_ref())
            .cloned()
            .ok_or_else(|| Status::not_found("this prepared statement is not known (closed?)"))?;
        let needed = crate::statement::parameter_count(&prepared.sql);
        if prepared.params.len() < needed {
            return Err(Status::invalid_argument(format!(
                "the statement has {needed} parameter(s) and {} are bound",
                prepared.params.len()
            )));
        }
        let sql = crate::statement::bind(&prepared.sql, &prepared.params);
        self.plan_statement(&sql, request.into_inner()).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.auth.check(request.metadata())?;
        self.prepared
            .lock()
            .expect("prepared")
            .remove(query.prepared_statement_handle.as_ref());
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.auth.check(request.metadata())?;
        let schema = query.into_builder().schema();
        info_for_command(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.auth.check(request.metadata())?;
        let mut builder: GetCatalogsBuilder = query.into_builder();
        builder.append(CATALOG);
        Ok(Response::new(batch_stream(
            builder.build().map_err(arrow_status)?,
        )))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.auth.check(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        info_for_command(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.auth.check(request.metadata())?;
        let mut builder: GetDbSchemasBuilder = query.into_builder();
        builder.append(CATALOG, SCHEMA);
        Ok(Response::new(batch_stream(
            builder.build().map_err(arrow_status)?,
        )))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.auth.check(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        info_for_command(query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.auth.check(request.metadata())?;
        Ok(Response::new(batch_stream(self.tables(query).await?)))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.auth.check(request.metadata())?;
        let schema = query.into_builder().schema();
        info_for_command(query, &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.auth.check(request.metadata())?;
        let mut builder = query.into_builder();
        builder.append("TABLE");
        Ok(Response::new(batch_stream(
            builder.build().map_err(arrow_status)?,
        )))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.auth.check(request.metadata())?;
        let schema = query.clone().into_builder(&self.info).schema();
        info_for_command(query, &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.auth.check(request.metadata())?;
        let batch = query
            .into_builder(&self.info)
            .build()
            .map_err(arrow_status)?;
        Ok(Response::new(batch_stream(batch)))
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.auth.check(request.metadata())?;
        Err(Status::unimplemented(format!(
            "this endpoint does not answer {}: it answers queries (statements and prepared \
             statements) and the catalog commands",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
