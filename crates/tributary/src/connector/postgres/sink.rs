//! The PostgreSQL sink: each epoch in one transaction that also records the epoch, so a
//! replayed epoch is skipped and the target holds every epoch exactly once.
//!
//! ```text
//!  epoch e ──► BEGIN
//!              SELECT epoch FROM tributary_epochs WHERE query_id, target  FOR UPDATE
//!              ├─ already >= e: ROLLBACK (written before a crash)
//!              └─ else:  append    COPY target FROM STDIN
//!                        complete  DELETE FROM target; COPY target FROM STDIN
//!                        update    COPY a temporary stage; INSERT .. ON CONFLICT (keys) DO UPDATE
//!                        cdc       COPY a stage; seq-guarded DELETE and upsert, tombstones
//!                        UPDATE tributary_epochs SET epoch = e
//!              COMMIT
//! ```
//!
//! Readers of the target see an epoch whole or not at all (one transaction; complete mode's
//! DELETE and COPY included). The target is created from the query's schema when missing, with
//! a `UNIQUE NULLS NOT DISTINCT` constraint on the keys in update and CDC modes.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use bytes::Bytes;
use futures::SinkExt;
use tokio::sync::Mutex;
use tokio_postgres::{Client, GenericClient, Transaction};
use tributary_checkpoint::{compare_sink, Epoch, SinkAgreement};

use super::copy;
use super::server::{quote_ident, Server, TableName};
use crate::error::{Result, TributaryError};
use crate::sink::{EpochOutput, Sink, SinkContext};

/// Bytes of COPY data sent per message.
const COPY_CHUNK: usize = 1 << 20;

/// How each epoch's rows change the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresWrite {
    /// Insert the rows.
    Append,
    /// Replace the table's rows with the epoch's.
    Replace,
    /// Insert or update on the key columns (`INSERT .. ON CONFLICT DO UPDATE`).
    Upsert(Vec<String>),
    /// Apply a change stream by key.
    Cdc(PostgresCdc),
}

/// A change stream applied by key: the operation column says insert, update or delete; the
/// sequence column orders the changes of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresCdc {
    /// Key columns (`cdc_keys`).
    pub keys: Vec<String>,
    /// The column that orders the changes of a key (`cdc_sequence`).
    pub sequence: String,
    /// The operation column (`cdc_operation`): `d`/`delete` deletes, anything else upserts.
    pub operation: String,
}

/// The PostgreSQL sink of one streaming query.
pub struct PostgresSink {
    server: Server,
    table: TableName,
    /// The table as the user wrote it, for messages.
    display: String,
    epochs: TableName,
    write: PostgresWrite,
    schema: SchemaRef,
    open: Mutex<Option<OpenSink>>,
}

/// What the sink holds between epochs.
struct OpenSink {
    client: Option<Client>,
    query_id: String,
    last_epoch: Option<u64>,
}

impl fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.description())
    }
}

impl PostgresSink {
    /// A sink into `table` at `url` (a libpq connection string or URI), writing the query's
    /// `schema` as `write` says, with the epochs recorded in `epochs_table`.
    pub fn try_new(
        url: &str,
        table: &str,
        epochs_table: &str,
        schema: SchemaRef,
        write: PostgresWrite,
    ) -> Result<Self> {
        copy::check_types(&schema, table)?;
        Ok(PostgresSink {
            server: Server::parse(url)?,
            table: TableName::parse(table)?,
            display: table.to_string(),
            epochs: TableName::parse(epochs_table)?,
            write,
            schema,
            open: Mutex::new(None),
        })
    }

    fn error(&self, what: &str, e: &tokio_postgres::Error) -> TributaryError {
        TributaryError::Plan(format!(
            "PostgreSQL sink into '{}' at {}: {what} failed: {}",
            self.display,
            self.server.name,
            super::server::pg_message(e)
        ))
    }

    /// The epoch this query last committed to the target, creating the epochs table and the
    /// query's row in it when missing.
    async fn recorded_epoch(&self, client: &Client, query_id: &str) -> Result<Option<u64>> {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {} (query_id text NOT NULL, target text NOT NULL, \
             epoch bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(), \
             PRIMARY KEY (query_id, target))",
            self.epochs.quoted
        );
        if let Err(e) = client.batch_execute(&create).await {
            // Two queries creating it at once: one wins, the other finds it made.
            if !is_duplicate(&e) {
                return Err(self.error("creating the epochs table", &e));
            }
        }
        client
            .execute(
                format!(
                    "INSERT INTO {} (query_id, target, epoch) VALUES ($1, $2, -1) \
                     ON CONFLICT DO NOTHING",
                    self.epochs.quoted
                )
                .as_str(),
                &[&query_id, &self.table.quoted],
            )
            .await
            .map_err(|e| self.error("recording the query in the epochs table", &e))?;
        let row = client
            .query_one(
                format!(
                    "SELECT epoch FROM {} WHERE query_id = $1 AND target = $2",
                    self.epochs.quoted
                )
                .as_str(),
                &[&query_id, &self.table.quoted],
            )
            .await
            .map_err(|e| self.error("reading the epochs table", &e))?;
        let epoch: i64 = row.get(0);
        Ok(u64::try_from(epoch).ok())
    }

    /// Create the target from the query's schema when it is missing; check its columns when
    /// it is there.
    async fn ensure_target<C: GenericClient>(&self, client: &C) -> Result<()> {
        let columns = &self.schema;
        let (schema, name) = self.table.schema_and_name();
        let existing: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema::text = coalesce($1::text, current_schema()::text) \
                   AND table_name::text = $2::text",
                &[&schema, &name],
            )
            .await
            .map_err(|e| self.error("reading the target's columns", &e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let written = write_columns(&self.schema, &self.write);
        if existing.is_empty() {
            let mut defs: Vec<String> = columns
                .fields()
                .iter()
                .filter(|f| written.contains(f.name()))
                .map(|f| {
                    format!(
                        "{} {}",
                        quote_ident(f.name()),
                        copy::pg_type(f.data_type()).expect("checked by check_types")
                    )
                })
                .collect();
            if let Some(keys) = self.keys() {
                if !keys.is_empty() {
                    defs.push(format!("UNIQUE NULLS NOT DISTINCT ({})", ident_list(keys)));
                }
            }
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {} ({})",
                self.table.quoted,
                defs.join(", ")
            );
            if let Err(e) = client.batch_execute(&create).await {
                if !is_duplicate(&e) {
                    return Err(self.error("creating the target table", &e));
                }
            }
            return Ok(());
        }
        let missing: Vec<&String> = written.iter().filter(|c| !existing.contains(c)).collect();
        if !missing.is_empty() {
            return Err(TributaryError::Plan(format!(
                "PostgreSQL table '{}' at {} has no column {} that the query writes (its columns: \
                 {}): add the columns (ALTER TABLE .. ADD COLUMN), or select only the table's \
                 columns",
                self.display,
                self.server.name,
                missing
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                existing.join(", ")
            )));
        }
        Ok(())
    }

    fn keys(&self) -> Option<&[String]> {
        match &self.write {
            PostgresWrite::Upsert(keys) => Some(keys),
            PostgresWrite::Cdc(c) => Some(&c.keys),
            _ => None,
        }
    }

    /// Write one epoch's rows inside `tx`.
    async fn write_rows(&self, tx: &Transaction<'_>, batches: &[RecordBatch]) -> Result<()> {
        let written = write_columns(&self.schema, &self.write);
        let list = ident_list(&written);
        match &self.write {
            PostgresWrite::Append => {
                self.copy_in(tx, &self.table.quoted, &list, batches).await?;
            }
            PostgresWrite::Replace => {
                tx.batch_execute(&format!("DELETE FROM {}", self.table.quoted))
                    .await
                    .map_err(|e| self.error("replacing the table's rows", &e))?;
                self.copy_in(tx, &self.table.quoted, &list, batches).await?;
            }
            PostgresWrite::Upsert(keys) if keys.is_empty() => {
                // An aggregation without GROUP BY: its one row replaces the table's.
                if batches.iter().any(|b| b.num_rows() > 0) {
                    tx.batch_execute(&format!("DELETE FROM {}", self.table.quoted))
                        .await
                        .map_err(|e| self.error("replacing the table's row", &e))?;
                    self.copy_in(tx, &self.table.quoted, &list, batches).await?;
                }
            }
            PostgresWrite::Upsert(keys) => {
                let stage = self.stage(tx, &list).await?;
                self.copy_in(tx, &stage, &list, batches).await?;
                let sql = upsert_sql(&self.table.quoted, &stage, &written, keys, None);
                tx.batch_execute(&sql)
                    .await
                    .map_err(|e| self.upsert_error(&e))?;
            }
            PostgresWrite::Cdc(cdc) => {
                let stage_list = ident_list(
                    &self
                        .schema
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect::<Vec<_>>(),
                );
                let stage = self.cdc_stage(tx, cdc).await?;
                self.copy_in(tx, &stage, &stage_list, batches).await?;
                for sql in cdc_sql(
                    &self.table.quoted,
                    &self.tombstones(),
                    &stage,
                    &written,
                    cdc,
                ) {
                    tx.batch_execute(&sql)
                        .await
                        .map_err(|e| self.upsert_error(&e))?;
                }
            }
        }
        Ok(())
    }

    /// A temporary table with the target's columns, dropped at commit.
    async fn stage(&self, tx: &Transaction<'_>, list: &str) -> Result<String> {
        let stage = "tributary_stage".to_string();
        tx.batch_execute(&format!(
            "CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {list} FROM {} WITH NO DATA",
            self.table.quoted
        ))
        .await
        .map_err(|e| self.error("creating the stage", &e))?;
        Ok(stage)
    }

    /// The tombstones table of CDC apply: the sequence of each key's last delete.
    fn tombstones(&self) -> String {
        let (schema, name) = self.table.schema_and_name();
        let tomb = quote_ident(&format!("{name}__tombstones"));
        match schema {
            Some(s) => format!("{}.{tomb}", quote_ident(s)),
            None => tomb,
        }
    }

    async fn cdc_stage(&self, tx: &Transaction<'_>, cdc: &PostgresCdc) -> Result<String> {
        let written = write_columns(&self.schema, &self.write);
        let stage = self.stage(tx, &ident_list(&written)).await?;
        tx.batch_execute(&format!(
            "ALTER TABLE {stage} ADD COLUMN {} text; \
             CREATE TABLE IF NOT EXISTS {tomb} AS SELECT {keys}, {seq} FROM {target} WITH NO DATA; \
             CREATE UNIQUE INDEX IF NOT EXISTS {tomb_index} ON {tomb} ({keys}) NULLS NOT DISTINCT",
            quote_ident(&cdc.operation),
            tomb = self.tombstones(),
            tomb_index = quote_ident(&format!(
                "{}__tombstones_key",
                self.table.schema_and_name().1
            )),
            keys = ident_list(&cdc.keys),
            seq = quote_ident(&cdc.sequence),
            target = self.table.quoted,
        ))
        .await
        .map_err(|e| self.error("creating the CDC stage and tombstones", &e))?;
        Ok(stage)
    }

    /// `COPY table (list) FROM STDIN` with the rows of `batches`.
    async fn copy_in(
        &self,
        tx: &Transaction<'_>,
        table: &str,
        list: &str,
        batches: &[RecordBatch],
    ) -> Result<()> {
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(());
        }
        let mut copy = CopyIn::start(self, tx, table, list).await?;
        for batch in batches {
            copy.push(batch).await?;
        }
        copy.finish().await.map(|_| ())
    }

    fn upsert_error(&self, e: &tokio_postgres::Error) -> TributaryError {
        let message = super::server::pg_message(e);
        let hint = if message.contains("ON CONFLICT") {
            format!(
                ": the table needs a unique constraint on the key columns ({}), e.g. ALTER TABLE \
                 {} ADD UNIQUE NULLS NOT DISTINCT ({})",
                self.keys().unwrap_or_default().join(", "),
                self.table.quoted,
                ident_list(self.keys().unwrap_or_default())
            )
        } else {
            String::new()
        };
        TributaryError::Plan(format!(
            "PostgreSQL sink into '{}' at {}: applying the epoch's rows by key failed: {message}{hint}",
            self.display, self.server.name
        ))
    }

    /// The open connection, connecting again after a failure.
    async fn client<'a>(&self, open: &'a mut OpenSink) -> Result<&'a mut Client> {
        if open.client.as_ref().is_none_or(|c| c.is_closed()) {
            open.client = Some(self.server.connect().await?);
        }
        Ok(open.client.as_mut().expect("connected above"))
    }
}

#[async_trait]
impl Sink for PostgresSink {
    fn description(&self) -> String {
        format!(
            "PostgresSink[{} at {}]",
            self.table.quoted, self.server.name
        )
    }

    async fn open(&self, ctx: &SinkContext) -> Result<()> {
        let client = self.server.connect().await?;
        self.ensure_target(&client).await?;
        let last_epoch = self.recorded_epoch(&client, &ctx.query_id).await?;
        let checkpoint = ctx.dir.display.trim_end_matches("/sink").to_string();
        let id = &ctx.query_id;
        match compare_sink(last_epoch, ctx.committed_epoch, ctx.rerun_epoch) {
            SinkAgreement::Agrees => {}
            SinkAgreement::Ahead {
                sink,
                checkpoint: c,
            } => {
                return Err(TributaryError::Plan(format!(
                    "PostgreSQL table '{}' already holds epoch {sink} of query {id} (in {}), but \
                     its checkpoint '{checkpoint}' has committed {}: the checkpoint is older than \
                     the table. Running on would skip epochs as already written. Put back the \
                     checkpoint that goes with the table, or start over with a new checkpoint \
                     location",
                    self.display,
                    self.epochs.quoted,
                    c.map_or("no epoch".to_string(), |c| format!(
                        "only up to epoch {}",
                        c.0
                    ))
                )))
            }
            SinkAgreement::Behind {
                sink,
                checkpoint: c,
            } => {
                return Err(TributaryError::Plan(format!(
                    "PostgreSQL table '{}' {} of query {id} (in {}), but its checkpoint \
                     '{checkpoint}' has committed up to epoch {}: the epochs table was emptied or \
                     the table replaced. Running on would leave out the lost epochs' rows. \
                     Rebuild it: an empty table and a new checkpoint location read all the input \
                     again",
                    self.display,
                    sink.map_or("holds no epoch".to_string(), |s| format!(
                        "holds epochs only up to {s}"
                    )),
                    self.epochs.quoted,
                    c.0
                )))
            }
        }
        *self.open.lock().await = Some(OpenSink {
            client: Some(client),
            query_id: ctx.query_id.clone(),
            last_epoch,
        });
        Ok(())
    }

    async fn holds_epoch(&self, epoch: Epoch) -> Result<bool> {
        let guard = self.open.lock().await;
        Ok(guard
            .as_ref()
            .is_some_and(|o| o.last_epoch >= Some(epoch.0)))
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        let mut guard = self.open.lock().await;
        let open = guard
            .as_mut()
            .ok_or_else(|| TributaryError::Internal("PostgreSQL sink used before open()".into()))?;
        let query_id = open.query_id.clone();
        let batches = match &self.write {
            // A real-time epoch may emit a key more than once: its last row counts.
            PostgresWrite::Upsert(keys) => {
                crate::sink::last_per_key(&output.schema, output.batches, keys)?
            }
            _ => output.batches,
        };
        let client = self.client(open).await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.error("BEGIN", &e))?;
        let row = tx
            .query_one(
                format!(
                    "SELECT epoch FROM {} WHERE query_id = $1 AND target = $2 FOR UPDATE",
                    self.epochs.quoted
                )
                .as_str(),
                &[&query_id, &self.table.quoted],
            )
            .await
            .map_err(|e| self.error("reading the epochs table", &e))?;
        let recorded: i64 = row.get(0);
        if recorded >= epoch.0 as i64 {
            tracing::info!(
                epoch = epoch.0,
                "PostgreSQL sink: epoch already committed, skipped"
            );
            drop(tx);
            open.last_epoch = Some(recorded as u64);
            return Ok(());
        }
        self.write_rows(&tx, &batches).await?;
        tx.execute(
            format!(
                "UPDATE {} SET epoch = $3, committed_at = now() WHERE query_id = $1 AND target = $2",
                self.epochs.quoted
            )
            .as_str(),
            &[&query_id, &self.table.quoted, &(epoch.0 as i64)],
        )
        .await
        .map_err(|e| self.error("recording the epoch", &e))?;
        tx.commit().await.map_err(|e| self.error("COMMIT", &e))?;
        open.last_epoch = Some(epoch.0);
        Ok(())
    }
}

/// A batch write (`df.write().format("postgres")`): the rows of `batches` into `table`, in
/// one transaction; `replace` deletes the table's rows first.
pub(crate) async fn write_batch(
    url: &str,
    table: &str,
    mode: crate::SaveMode,
    df: crate::DataFrame,
) -> Result<u64> {
    use futures::StreamExt;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let sink = PostgresSink::try_new(
        url,
        table,
        "tributary_epochs",
        schema,
        PostgresWrite::Append,
    )?;
    let mut client = sink.server.connect().await?;
    let exists = !client
        .query(
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema::text = coalesce($1::text, current_schema()::text) \
               AND table_name::text = $2::text",
            &[
                &sink.table.schema_and_name().0,
                &sink.table.schema_and_name().1,
            ],
        )
        .await
        .map_err(|e| sink.error("looking for the table", &e))?
        .is_empty();
    if exists {
        match mode {
            crate::SaveMode::ErrorIfExists => {
                return Err(TributaryError::Plan(format!(
                    "PostgreSQL table '{table}' already exists at {}: choose mode Append or \
                     Overwrite, or write elsewhere",
                    sink.server.name
                )))
            }
            crate::SaveMode::Ignore => return Ok(0),
            _ => {}
        }
    }
    let tx = client
        .transaction()
        .await
        .map_err(|e| sink.error("BEGIN", &e))?;
    sink.ensure_target(&tx).await?;
    if exists && mode == crate::SaveMode::Overwrite {
        tx.batch_execute(&format!("DELETE FROM {}", sink.table.quoted))
            .await
            .map_err(|e| sink.error("replacing the table's rows", &e))?;
    }
    let list = ident_list(&write_columns(&sink.schema, &sink.write));
    let run = |e| crate::error::from_df_error("running the batch query", e);
    let mut rows = df.execute_stream().await.map_err(run)?;
    let mut copy = CopyIn::start(&sink, &tx, &sink.table.quoted, &list).await?;
    while let Some(batch) = rows.next().await {
        copy.push(&batch.map_err(run)?).await?;
    }
    let written = copy.finish().await?;
    tx.commit().await.map_err(|e| sink.error("COMMIT", &e))?;
    Ok(written)
}

/// A COPY in progress: rows encoded into a buffer, sent a chunk at a time.
struct CopyIn<'a> {
    owner: &'a PostgresSink,
    sink: std::pin::Pin<Box<tokio_postgres::CopyInSink<Bytes>>>,
    buf: Vec<u8>,
    rows: u64,
}

impl<'a> CopyIn<'a> {
    async fn start(
        owner: &'a PostgresSink,
        tx: &Transaction<'_>,
        table: &str,
        list: &str,
    ) -> Result<Self> {
        let sink = tx
            .copy_in::<_, Bytes>(format!("COPY {table} ({list}) FROM STDIN").as_str())
            .await
            .map_err(|e| owner.error("COPY", &e))?;
        Ok(CopyIn {
            owner,
            sink: Box::pin(sink),
            buf: Vec::with_capacity(COPY_CHUNK),
            rows: 0,
        })
    }

    async fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        copy::encode(batch, &mut self.buf)?;
        self.rows += batch.num_rows() as u64;
        if self.buf.len() >= COPY_CHUNK {
            let chunk = Bytes::from(std::mem::replace(
                &mut self.buf,
                Vec::with_capacity(COPY_CHUNK),
            ));
            self.sink
                .send(chunk)
                .await
                .map_err(|e| self.owner.error("COPY", &e))?;
        }
        Ok(())
    }

    /// The rows copied.
    async fn finish(mut self) -> Result<u64> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.sink
                .send(chunk)
                .await
                .map_err(|e| self.owner.error("COPY", &e))?;
        }
        self.sink
            .as_mut()
            .finish()
            .await
            .map_err(|e| self.owner.error("COPY", &e))?;
        Ok(self.rows)
    }
}

/// The target's columns the sink writes: the output's, without CDC's operation column.
fn write_columns(schema: &SchemaRef, write: &PostgresWrite) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !matches!(write, PostgresWrite::Cdc(c) if *n == c.operation))
        .collect()
}

fn ident_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO target (cols) SELECT cols FROM stage [WHERE ..] ON CONFLICT (keys) DO UPDATE
/// SET each other column` (`DO NOTHING` when every column is a key).
fn upsert_sql(
    target: &str,
    stage: &str,
    columns: &[String],
    keys: &[String],
    filter: Option<&str>,
) -> String {
    let list = ident_list(columns);
    let others: Vec<String> = columns
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
        .collect();
    let action = if others.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", others.join(", "))
    };
    format!(
        "INSERT INTO {target} AS t ({list}) SELECT {list} FROM {stage}{} ON CONFLICT ({}) {action}",
        filter.map(|f| format!(" s WHERE {f}")).unwrap_or_default(),
        ident_list(keys)
    )
}

/// The statements of CDC apply, in order: keep only each key's newest change; record and
/// apply the deletes that are newer than the row; upsert the rest where newer than both the
/// row and the key's last delete.
fn cdc_sql(
    target: &str,
    tombstones: &str,
    stage: &str,
    columns: &[String],
    cdc: &PostgresCdc,
) -> Vec<String> {
    let key_match = |a: &str, b: &str| {
        cdc.keys
            .iter()
            .map(|k| format!("{a}.{0} IS NOT DISTINCT FROM {b}.{0}", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let seq = quote_ident(&cdc.sequence);
    let op = quote_ident(&cdc.operation);
    let is_delete = format!("lower(s.{op}) IN ('d', 'delete')");
    let keys = ident_list(&cdc.keys);
    // `a` is older than `b`: a smaller sequence, or none where `b` has one (a change without a
    // sequence is older than every change with one).
    let older = |a: &str, b: &str| format!("({a} < {b} OR ({a} IS NULL AND {b} IS NOT NULL))");
    // The row (or tombstone) `t` gives way to the change `c`: an older sequence, or none.
    let gives_way = |t: &str, c: &str| format!("({t} < {c} OR {t} IS NULL)");
    let s_seq = format!("s.{seq}");
    vec![
        // The newest change of each key in this epoch.
        format!(
            "DELETE FROM {stage} s USING {stage} n WHERE {} \
             AND ({} OR (n.{seq} IS NOT DISTINCT FROM s.{seq} AND n.ctid > s.ctid))",
            key_match("s", "n"),
            older(&s_seq, &format!("n.{seq}"))
        ),
        // Deletes: remembered (newest wins), then applied where newer than the row.
        format!(
            "INSERT INTO {tombstones} AS t ({keys}, {seq}) SELECT {keys}, {seq} FROM {stage} s \
             WHERE {is_delete} ON CONFLICT ({keys}) DO UPDATE SET {seq} = EXCLUDED.{seq} \
             WHERE {}",
            gives_way(&format!("t.{seq}"), &format!("EXCLUDED.{seq}"))
        ),
        format!(
            "DELETE FROM {target} t USING {stage} s WHERE {is_delete} AND {} \
             AND (t.{seq} <= s.{seq} OR t.{seq} IS NULL)",
            key_match("t", "s")
        ),
        // Inserts and updates newer than the key's last delete, and than the row.
        {
            let newer_than_delete = format!(
                "NOT ({is_delete}) AND NOT EXISTS (SELECT 1 FROM {tombstones} d WHERE {} \
                 AND (d.{seq} >= s.{seq} OR (s.{seq} IS NULL AND d.{seq} IS NOT NULL)))",
                key_match("d", "s")
            );
            let mut sql = upsert_sql(target, stage, columns, &cdc.keys, Some(&newer_than_delete));
            if sql.contains("DO UPDATE SET") {
                sql.push_str(&format!(
                    " WHERE {}",
                    gives_way(&format!("t.{seq}"), &format!("EXCLUDED.{seq}"))
                ));
            }
            sql
        },
    ]
}

/// A unique violation or an existing relation: the object was created at the same moment.
fn is_duplicate(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code()
        .is_some_and(|c| *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_TABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_update_every_column_but_the_keys() {
        let cols = vec!["id".to_string(), "n".to_string()];
        assert_eq!(
            upsert_sql("\"t\"", "s", &cols, &["id".to_string()], None),
            "INSERT INTO \"t\" AS t (\"id\", \"n\") SELECT \"id\", \"n\" FROM s \
             ON CONFLICT (\"id\") DO UPDATE SET \"n\" = EXCLUDED.\"n\""
        );
        assert!(upsert_sql("\"t\"", "s", &cols, &cols, None).ends_with("DO NOTHING"));
    }

    #[test]
    fn cdc_guards_every_change_by_its_sequence() {
        let cdc = PostgresCdc {
            keys: vec!["id".into()],
            sequence: "v".into(),
            operation: "op".into(),
        };
        let sql = cdc_sql(
            "\"t\"",
            "\"t__tombstones\"",
            "s",
            &["id".into(), "n".into(), "v".into()],
            &cdc,
        );
        assert_eq!(sql.len(), 4);
        assert!(sql[2].contains("t.\"v\" <= s.\"v\""), "{}", sql[2]);
        assert!(
            sql[3].ends_with("WHERE (t.\"v\" < EXCLUDED.\"v\" OR t.\"v\" IS NULL)"),
            "{}",
            sql[3]
        );
        assert!(sql[3].contains("d.\"v\" >= s.\"v\""), "{}", sql[3]);
        // A change without a sequence is the oldest: never newer than a sequenced one.
        assert!(
            sql[0].contains("s.\"v\" IS NULL AND n.\"v\" IS NOT NULL"),
            "{}",
            sql[0]
        );
    }
}
