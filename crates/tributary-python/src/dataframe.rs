//! A DataFrame for Python: the engine's DataFrame plus the calls that SQL cannot express.
//!
//! Most of PySpark's DataFrame API is planned by the Python layer as SQL over views of its
//! inputs (`tributary/sql/dataframe.py`); what is here is what needs the engine itself: the
//! schema, running a batch, watermarks, deduplication and the writers.

use std::collections::HashMap;
use std::sync::Arc;

use futures::FutureExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tributary::{DataFrame, DataFrameExt, OutputMode, SaveMode, TributaryError, Trigger};

use crate::arrow_io::{ArrowSchema, ArrowStream};
use crate::errors::{to_py, traceback_of};
use crate::query::PyStreamingQuery;
use crate::runtime::block;

/// The engine's DataFrame (a logical plan; nothing runs until an action).
#[pyclass(name = "DataFrame", module = "tributary._native", frozen)]
pub(crate) struct PyDataFrame {
    pub(crate) df: DataFrame,
}

impl PyDataFrame {
    pub(crate) fn new(df: DataFrame) -> Self {
        PyDataFrame { df }
    }
}

/// A failure of running a plan: an error with a class (an overflow, a bad record, storage) keeps
/// it; any other reads as `context: error`.
fn run_err(context: &'static str) -> impl Fn(datafusion::error::DataFusionError) -> TributaryError {
    move |e| match TributaryError::from(e) {
        TributaryError::DataFusion { source, .. } => {
            TributaryError::Plan(format!("{context}: {source}"))
        }
        classed => classed,
    }
}

fn df_err(context: &str) -> impl Fn(datafusion::error::DataFusionError) -> PyErr + '_ {
    move |e| crate::errors::AnalysisException::new_err(format!("{context}: {e}"))
}

#[pymethods]
impl PyDataFrame {
    /// The Arrow schema (`pyarrow.schema(x)` reads it): the types the rows will have.
    fn schema(&self) -> PyResult<ArrowSchema> {
        let df = self.df.clone().with_resolved_types().map_err(to_py)?;
        Ok(ArrowSchema {
            schema: Arc::new(df.schema().as_arrow().clone()),
        })
    }

    /// Run the batch and hand over its record batches (`pyarrow.table(x)` reads them).
    fn collect(&self, py: Python<'_>) -> PyResult<ArrowStream> {
        self.refuse_stream("collect")?;
        let df = self.df.clone().with_resolved_types().map_err(to_py)?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = block(py, async move {
            df.collect().await.map_err(run_err("running the query"))
        })?;
        ArrowStream::new(schema, batches)
    }

    /// The number of rows of the batch.
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        self.refuse_stream("count")?;
        let df = self.df.clone();
        block(py, async move {
            df.count().await.map_err(run_err("counting rows"))
        })
    }

    /// Whether the DataFrame reads a stream.
    fn is_streaming(&self) -> bool {
        self.df.is_streaming()
    }

    /// The logical plan (and with `extended`, the optimized and physical plans) as text.
    #[pyo3(signature = (extended=false))]
    fn explain(&self, py: Python<'_>, extended: bool) -> PyResult<String> {
        if !extended || self.df.is_streaming() {
            let plan = if extended {
                format!("{}", self.df.logical_plan().display_indent_schema())
            } else {
                format!("{}", self.df.logical_plan().display_indent())
            };
            return Ok(plan);
        }
        let df = self.df.clone();
        let batches = block(py, async move {
            df.explain(true, false)?
                .collect()
                .await
                .map_err(|e| TributaryError::Plan(format!("explaining the query: {e}")))
        })?;
        Ok(arrow::util::pretty::pretty_format_batches(&batches)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .to_string())
    }

    /// The first `n` rows, keeping the order of a sorted plan (a LIMIT over a view of it would
    /// not).
    fn limit(&self, n: usize) -> PyResult<PyDataFrame> {
        let df = self.df.clone().limit(0, Some(n)).map_err(df_err("limit"))?;
        Ok(PyDataFrame::new(df))
    }

    /// Spark's `withWatermark(column, delay)`.
    fn with_watermark(&self, column: &str, delay: &str) -> PyResult<PyDataFrame> {
        let df = self
            .df
            .clone()
            .with_watermark(column, delay)
            .map_err(to_py)?;
        Ok(PyDataFrame::new(df))
    }

    /// Spark's `dropDuplicates(columns)` (all columns when empty).
    fn drop_duplicates(&self, columns: Vec<String>) -> PyResult<PyDataFrame> {
        let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
        let df = self.df.clone().drop_duplicates(&cols).map_err(to_py)?;
        Ok(PyDataFrame::new(df))
    }

    /// Spark's `dropDuplicatesWithinWatermark(columns)`.
    fn drop_duplicates_within_watermark(&self, columns: Vec<String>) -> PyResult<PyDataFrame> {
        let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
        let df = self
            .df
            .clone()
            .drop_duplicates_within_watermark(&cols)
            .map_err(to_py)?;
        Ok(PyDataFrame::new(df))
    }

    /// Spark's `unionByName(other, allowMissingColumns)`.
    #[pyo3(signature = (other, allow_missing=false))]
    fn union_by_name(&self, other: &PyDataFrame, allow_missing: bool) -> PyResult<PyDataFrame> {
        let mine: Vec<String> = self.columns();
        let theirs: Vec<String> = other.columns();
        if !allow_missing {
            let missing: Vec<&String> = mine.iter().filter(|c| !theirs.contains(c)).collect();
            let extra: Vec<&String> = theirs.iter().filter(|c| !mine.contains(c)).collect();
            if !missing.is_empty() || !extra.is_empty() {
                return Err(crate::errors::AnalysisException::new_err(format!(
                    "unionByName: the columns differ (missing on the right: {missing:?}, extra on \
                     the right: {extra:?}); pass allowMissingColumns=True to fill them with nulls"
                )));
            }
        }
        let df = self
            .df
            .clone()
            .union_by_name(other.df.clone())
            .map_err(df_err("unionByName"))?;
        Ok(PyDataFrame::new(df))
    }

    /// The column names.
    fn columns(&self) -> Vec<String> {
        self.df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Write the batch: `df.write.format(..).mode(..).save(path)`. Returns the rows written.
    fn write(
        &self,
        py: Python<'_>,
        format: &str,
        mode: &str,
        options: HashMap<String, String>,
        partition_by: Vec<String>,
        path: &str,
    ) -> PyResult<u64> {
        let mode: SaveMode = mode.parse().map_err(to_py)?;
        let w = self
            .df
            .clone()
            .write()
            .format(format)
            .mode(mode)
            .partition_by(partition_by);
        let w = options.into_iter().fold(w, |w, (k, v)| w.option(&k, v));
        let path = path.to_string();
        Ok(block(py, async move { w.save(&path).await })?.rows)
    }

    /// Start a streaming query: `df.writeStream....start(path)`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (format, output_mode, trigger, options, query_name, foreach_batch, path))]
    fn write_stream(
        &self,
        py: Python<'_>,
        format: &str,
        output_mode: Option<String>,
        trigger: Option<String>,
        options: HashMap<String, String>,
        query_name: Option<String>,
        foreach_batch: Option<Py<PyAny>>,
        path: &str,
    ) -> PyResult<PyStreamingQuery> {
        let mut w = self.df.clone().write_stream().format(format);
        if let Some(m) = output_mode {
            w = w.output_mode(m.parse::<OutputMode>().map_err(to_py)?);
        }
        if let Some(t) = trigger {
            w = w.trigger(t.parse::<Trigger>().map_err(to_py)?);
        }
        if let Some(n) = query_name {
            w = w.query_name(&n);
        }
        for (k, v) in options {
            w = w.option(&k, v);
        }
        if let Some(f) = foreach_batch {
            let f = Arc::new(f);
            w = w.foreach_batch(move |df: DataFrame, epoch: u64| {
                let f = f.clone();
                async move {
                    // On a blocking thread: the function may itself run queries (toPandas,
                    // write), which wait on the runtime.
                    tokio::task::spawn_blocking(move || {
                        Python::attach(|py| {
                            f.call1(py, (PyDataFrame::new(df), epoch))
                                .map(|_| ())
                                .map_err(|e| TributaryError::UserCode {
                                    what: "the foreachBatch function".into(),
                                    message: traceback_of(py, &e),
                                })
                        })
                    })
                    .await
                    .map_err(|e| TributaryError::Internal(format!("foreachBatch: {e}")))?
                }
                .boxed()
            });
        }
        let path = path.to_string();
        let q = block(py, async move { w.start(&path).await })?;
        Ok(PyStreamingQuery::new(q))
    }
}

impl PyDataFrame {
    fn refuse_stream(&self, call: &str) -> PyResult<()> {
        if self.df.is_streaming() {
            return Err(crate::errors::AnalysisException::new_err(format!(
                "{call}() is not supported on a streaming DataFrame: start it with \
                 writeStream...start(), e.g. to the memory sink (format('memory').queryName(..)) \
                 and read that table, or use foreachBatch"
            )));
        }
        Ok(())
    }
}
