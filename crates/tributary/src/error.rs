//! The one error type of the engine.

use thiserror::Error;

/// Result with [`TributaryError`].
pub type Result<T, E = TributaryError> = std::result::Result<T, E>;

/// Who has to act on an error: the user (fix the query or input), or nobody (retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorDomain {
    /// The query, its options or its input are wrong; retrying will not help.
    User,
    /// Storage or a remote service failed; retrying may help.
    External,
    /// A bug in Tributary.
    Internal,
}

/// Everything that can go wrong in Tributary. Messages name the problem and the fix.
#[derive(Debug, Error)]
pub enum TributaryError {
    /// A query or option the engine cannot run as written.
    #[error("{0}")]
    Plan(String),
    /// An operation a streaming query cannot run (yet).
    #[error(
        "{operator} is not supported on a streaming DataFrame: {advice}. \
         (The plan node was: {node})"
    )]
    UnsupportedOperation {
        /// Spark-style operator name, e.g. `Sort`.
        operator: String,
        /// What to do instead.
        advice: String,
        /// The logical plan node, as displayed by DataFusion.
        node: String,
    },
    /// An option was missing or had a bad value.
    #[error("option '{option}': {message}")]
    Option {
        /// The option key.
        option: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A bad input record in FAILFAST mode.
    #[error("bad record at {location}: {reason} (mode 'FAILFAST' stops at the first bad record; remove the option to route bad records to 'bad_records_path' instead)")]
    BadRecord {
        /// File and line, or topic/partition/offset.
        location: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The output does not match the sink's table.
    #[error("schema mismatch at sink {sink}: {details}")]
    SchemaMismatch {
        /// The sink.
        sink: String,
        /// The offending columns.
        details: String,
    },
    /// The checkpoint cannot be used.
    #[error("checkpoint at '{location}': {source}")]
    Checkpoint {
        /// The checkpoint root.
        location: String,
        /// The protocol's verdict.
        #[source]
        source: Box<tributary_checkpoint::ProtocolError>,
    },
    /// An error of DataFusion (planning or execution).
    #[error("{context}: {source}")]
    DataFusion {
        /// What we were doing.
        context: String,
        /// The cause.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// An error of Arrow.
    #[error("{context}: {source}")]
    Arrow {
        /// What we were doing.
        context: String,
        /// The cause.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// An error of delta-rs.
    #[error("Delta table '{table}': {source}")]
    Delta {
        /// The table location.
        table: String,
        /// The cause.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// Storage (object store or file system) failed.
    #[error("storage at '{location}': {message}")]
    Storage {
        /// The location.
        location: String,
        /// The cause.
        message: String,
    },
    /// The query was stopped with an error; the message of that error.
    #[error("query {query} terminated with an error: {message}")]
    QueryFailed {
        /// The query name or id.
        query: String,
        /// The error.
        message: String,
    },
    /// The state of a stateful operator cannot be read back.
    #[error("state store at '{location}': {message}")]
    State {
        /// The state folder.
        location: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A bug.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl TributaryError {
    /// Who has to act on this error.
    pub fn domain(&self) -> ErrorDomain {
        match self {
            TributaryError::Storage { .. } => ErrorDomain::External,
            TributaryError::Internal(_) => ErrorDomain::Internal,
            TributaryError::DataFusion { source, .. }
                if matches!(
                    **source,
                    datafusion::error::DataFusionError::ObjectStore(_)
                        | datafusion::error::DataFusionError::IoError(_)
                ) =>
            {
                ErrorDomain::External
            }
            _ => ErrorDomain::User,
        }
    }

    pub(crate) fn df(
        context: impl Into<String>,
    ) -> impl FnOnce(datafusion::error::DataFusionError) -> Self {
        let context = context.into();
        move |source| TributaryError::DataFusion {
            context,
            source: Box::new(source),
        }
    }

    pub(crate) fn arrow(
        context: impl Into<String>,
    ) -> impl FnOnce(arrow::error::ArrowError) -> Self {
        let context = context.into();
        move |source| TributaryError::Arrow { context, source }
    }

    pub(crate) fn delta(
        table: impl Into<String>,
    ) -> impl FnOnce(deltalake::DeltaTableError) -> Self {
        let table = table.into();
        move |source| TributaryError::Delta {
            table,
            source: Box::new(source),
        }
    }

    pub(crate) fn storage(location: impl Into<String>) -> impl FnOnce(object_store::Error) -> Self {
        let location = location.into();
        move |e| TributaryError::Storage {
            location,
            message: e.to_string(),
        }
    }

    pub(crate) fn option(option: &str, message: impl Into<String>) -> Self {
        TributaryError::Option {
            option: option.to_string(),
            message: message.into(),
        }
    }
}

/// Carry a Tributary error through DataFusion (e.g. out of a table scan), and back.
pub(crate) fn to_df_error(e: TributaryError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}

/// Unwrap a Tributary error that travelled through DataFusion.
pub(crate) fn from_df_error(
    context: &str,
    e: datafusion::error::DataFusionError,
) -> TributaryError {
    let mut inner: &datafusion::error::DataFusionError = &e;
    loop {
        match inner {
            datafusion::error::DataFusionError::External(b) => {
                if let Some(t) = b.downcast_ref::<TributaryError>() {
                    return match t {
                        TributaryError::BadRecord { location, reason } => {
                            TributaryError::BadRecord {
                                location: location.clone(),
                                reason: reason.clone(),
                            }
                        }
                        other => TributaryError::Plan(other.to_string()),
                    };
                }
                break;
            }
            datafusion::error::DataFusionError::Context(_, b) => inner = b,
            datafusion::error::DataFusionError::Shared(s) => inner = s,
            _ => break,
        }
    }
    TributaryError::DataFusion {
        context: context.to_string(),
        source: Box::new(e),
    }
}

/// Lets user functions over DataFrames use `?` on DataFusion calls.
impl From<datafusion::error::DataFusionError> for TributaryError {
    fn from(source: datafusion::error::DataFusionError) -> Self {
        from_df_error("DataFusion", source)
    }
}
