//! A PostgreSQL table as a DataFusion table: the dimension side of a stream-static join, or a
//! batch read (`session.read().format("postgres").option("table", "public.cities").load(url)`).
//!
//! ```text
//!  stream ──► epoch plan ──► Join ◄── MemTable: the rows, read once when the query starts
//!                                       ▲   (materialize_static: scan + collect)
//!                                       │
//!                                 PostgresTable::scan
//!                                       │   SELECT "id"::int8, "name"::text
//!                                       │   FROM "public"."cities"
//!                                       ▼
//!                                  PostgreSQL   (tokio-postgres, no TLS)
//! ```
//!
//! Every scan reads the table anew with one SELECT, so it suits tables that fit in memory.
//! Each column is cast in the SELECT to the Postgres type that matches its Arrow type, so a
//! declared schema always decodes; without one the schema comes from
//! `information_schema.columns`, with `numeric` read as `float8` and unknown types as text.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, LargeStringArray, RecordBatch, RecordBatchOptions, StringArray, StringViewArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::Session as DfSession;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Row};

use super::server::{quote_ident, Server, TableName};

use crate::error::{to_df_error, Result, TributaryError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The columns of a table, in order, with their Postgres type names.
const COLUMNS_SQL: &str = "SELECT column_name::text, udt_name::text \
     FROM information_schema.columns \
     WHERE table_schema::text = coalesce($1::text, current_schema()::text) \
       AND table_name::text = $2::text \
     ORDER BY ordinal_position";

/// A PostgreSQL table (or view), read with one SELECT at each scan.
pub struct PostgresTable {
    server: Server,
    /// The table as the user wrote it, for messages.
    table: String,
    /// The quoted, qualified name for the FROM clause.
    from: String,
    schema: SchemaRef,
    /// The SELECT expression of each field, e.g. `"id"::int8`.
    columns: Vec<String>,
}

impl fmt::Debug for PostgresTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresTable[{} at {}]", self.table, self.server.name)
    }
}

impl PostgresTable {
    /// The table `table` (`name` or `schema.name`, unquoted parts folded to lower case as in
    /// SQL) of the server at `url`: a libpq connection string (`host=.. port=.. user=..
    /// dbname=..`) or a `postgresql://user@host:port/db` URI. Without `schema`, the columns and
    /// types are read from the server.
    pub async fn try_new(url: &str, table: &str, schema: Option<SchemaRef>) -> Result<Self> {
        let server = Server::parse(url)?;
        let name = TableName::parse(table)?;
        let client = server.connect().await?;
        let declared = schema.is_some();
        let schema = match schema {
            Some(s) => s,
            None => {
                let (namespace, bare) = name.schema_and_name();
                let fields = infer_fields(&client, namespace, bare)
                    .await
                    .map_err(|e| server.error(table, &e))?;
                if fields.is_empty() {
                    return Err(TributaryError::Plan(format!(
                        "PostgreSQL table '{table}' not found at {}: check the name (schema.table; \
                         unquoted names are lower-cased, as in SQL) and that the user may read it",
                        server.name
                    )));
                }
                Arc::new(Schema::new(fields))
            }
        };
        let columns = schema
            .fields()
            .iter()
            .map(|f| select_expr(table, f))
            .collect::<Result<Vec<_>>>()?;
        let t = PostgresTable {
            server,
            table: table.to_string(),
            from: name.quoted,
            schema,
            columns,
        };
        if declared {
            // Fail now, not at the first scan, if the table or a declared column is missing.
            client
                .query(t.select(None, Some(0)).as_str(), &[])
                .await
                .map_err(|e| t.server.error(&t.table, &e))?;
        }
        Ok(t)
    }

    /// The SELECT of the fields at `projection` (all when `None`).
    fn select(&self, projection: Option<&[usize]>, limit: Option<usize>) -> String {
        let list: Vec<&str> = match projection {
            Some(p) => p.iter().map(|&i| self.columns[i].as_str()).collect(),
            None => self.columns.iter().map(String::as_str).collect(),
        };
        // An empty list (`SELECT FROM t`, for count(*)) still returns the rows, without columns.
        let mut sql = format!("SELECT {} FROM {}", list.join(", "), self.from);
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        sql
    }

    /// Read the table (the fields at `projection`) into one batch.
    async fn read(
        &self,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> Result<RecordBatch> {
        let schema = match projection {
            Some(p) => Arc::new(
                self.schema
                    .project(p)
                    .map_err(TributaryError::arrow("projecting a PostgreSQL table"))?,
            ),
            None => self.schema.clone(),
        };
        let sql = self.select(projection.map(Vec::as_slice), limit);
        let client = self.server.connect().await?;
        let rows = client
            .query(sql.as_str(), &[])
            .await
            .map_err(|e| self.server.error(&self.table, &e))?;
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                decode(&rows, i, f.data_type()).map_err(|e| {
                    TributaryError::Plan(format!(
                        "PostgreSQL table '{}' at {}: cannot read column '{}' as {}: {e}",
                        self.table,
                        self.server.name,
                        f.name(),
                        f.data_type()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        RecordBatch::try_new_with_options(schema, columns, &options).map_err(TributaryError::arrow(
            format!("PostgreSQL table '{}'", self.table),
        ))
    }
}

#[async_trait]
impl TableProvider for PostgresTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = self.read(projection, limit).await.map_err(to_df_error)?;
        let schema = batch.schema();
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            schema,
            None,
        )?)
    }
}

/// The fields of `namespace.name` (the current schema when `None`); none if there is no such
/// table.
async fn infer_fields(
    client: &Client,
    namespace: Option<&str>,
    name: &str,
) -> std::result::Result<Vec<Field>, tokio_postgres::Error> {
    let rows = client.query(COLUMNS_SQL, &[&namespace, &name]).await?;
    rows.iter()
        .map(|row| {
            let column: String = row.try_get(0)?;
            let udt: String = row.try_get(1)?;
            Ok(Field::new(column, arrow_type(&udt), true))
        })
        .collect()
}

/// The Arrow type a Postgres column of type `udt` (`udt_name`) is read as.
fn arrow_type(udt: &str) -> DataType {
    match udt {
        "int2" => DataType::Int16,
        "int4" => DataType::Int32,
        "int8" => DataType::Int64,
        "float4" => DataType::Float32,
        "float8" | "numeric" => DataType::Float64,
        "bool" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        // text, varchar, bpchar, name, and anything else, cast to text.
        _ => DataType::Utf8,
    }
}

/// The Postgres type a column of Arrow type `dt` is cast to in the SELECT, if it can be read.
fn pg_cast(dt: &DataType) -> Option<&'static str> {
    Some(match dt {
        DataType::Int16 => "int2",
        DataType::Int32 => "int4",
        DataType::Int64 => "int8",
        DataType::Float32 => "float4",
        DataType::Float64 => "float8",
        DataType::Boolean => "bool",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Date32 => "date",
        DataType::Timestamp(_, None) => "timestamp",
        DataType::Timestamp(_, Some(_)) => "timestamptz",
        _ => return None,
    })
}

/// The SELECT expression of `field`, e.g. `"id"::int8`.
fn select_expr(table: &str, field: &Field) -> Result<String> {
    let cast = pg_cast(field.data_type()).ok_or_else(|| {
        TributaryError::Plan(format!(
            "column '{}' of PostgreSQL table '{table}' is declared as {}, which cannot be read \
             from PostgreSQL: declare it as Int16, Int32, Int64, Float32, Float64, Boolean, \
             Utf8, Date32 or Timestamp",
            field.name(),
            field.data_type()
        ))
    })?;
    Ok(format!("{}::{cast}", quote_ident(field.name())))
}

/// Column `i` of `rows` as an array of `dt` (the type its SELECT expression casts to).
fn decode(rows: &[Row], i: usize, dt: &DataType) -> std::result::Result<ArrayRef, BoxError> {
    let array: ArrayRef = match dt {
        DataType::Int16 => Arc::new(Int16Array::from(values::<i16>(rows, i)?)),
        DataType::Int32 => Arc::new(Int32Array::from(values::<i32>(rows, i)?)),
        DataType::Int64 => Arc::new(Int64Array::from(values::<i64>(rows, i)?)),
        DataType::Float32 => Arc::new(Float32Array::from(values::<f32>(rows, i)?)),
        DataType::Float64 => Arc::new(Float64Array::from(values::<f64>(rows, i)?)),
        DataType::Boolean => Arc::new(BooleanArray::from(values::<bool>(rows, i)?)),
        DataType::Utf8 => Arc::new(StringArray::from(values::<&str>(rows, i)?)),
        DataType::LargeUtf8 => Arc::new(LargeStringArray::from(values::<&str>(rows, i)?)),
        DataType::Utf8View => Arc::new(StringViewArray::from(values::<&str>(rows, i)?)),
        DataType::Date32 => Arc::new(Date32Array::from_iter(
            values::<Days>(rows, i)?.into_iter().map(|d| d.map(|d| d.0)),
        )),
        DataType::Timestamp(unit, tz) => {
            let micros = TimestampMicrosecondArray::from_iter(
                values::<Micros>(rows, i)?
                    .into_iter()
                    .map(|t| t.map(|t| t.0)),
            )
            .with_timezone_opt(tz.clone());
            match unit {
                TimeUnit::Microsecond => Arc::new(micros),
                _ => arrow::compute::cast(&micros, dt)?,
            }
        }
        other => return Err(format!("{other} is not supported").into()),
    };
    Ok(array)
}

/// The values of column `i`, NULL as `None`.
fn values<'a, T: FromSql<'a>>(
    rows: &'a [Row],
    i: usize,
) -> std::result::Result<Vec<Option<T>>, tokio_postgres::Error> {
    rows.iter().map(|row| row.try_get(i)).collect()
}

/// Days from 2000-01-01 (Postgres' epoch) to 1970-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// A `date`, as days since 1970-01-01 (Postgres sends days since 2000-01-01).
struct Days(i32);

impl<'a> FromSql<'a> for Days {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(Days(
            i32::from_be_bytes(raw.try_into()?).saturating_add(PG_EPOCH_DAYS),
        ))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// A `timestamp` or `timestamptz`, as microseconds since 1970-01-01 00:00 (UTC for
/// `timestamptz`; Postgres sends microseconds since 2000-01-01).
struct Micros(i64);

impl<'a> FromSql<'a> for Micros {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        let since_2000 = i64::from_be_bytes(raw.try_into()?);
        Ok(Micros(
            since_2000.saturating_add(i64::from(PG_EPOCH_DAYS) * 86_400_000_000),
        ))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_readable_arrow_type_has_a_cast() {
        for udt in [
            "int2",
            "int4",
            "int8",
            "float4",
            "numeric",
            "bool",
            "date",
            "timestamp",
        ] {
            assert!(pg_cast(&arrow_type(udt)).is_some(), "{udt}");
        }
        assert_eq!(pg_cast(&arrow_type("timestamptz")), Some("timestamptz"));
        assert_eq!(pg_cast(&arrow_type("inet")), Some("text"));
        assert_eq!(pg_cast(&DataType::UInt64), None);
    }
}
