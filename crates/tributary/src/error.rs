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
    /// The disk (or quota) under a location is full.
    #[error(
        "the disk under '{location}' is full ({message}): the epoch was not committed, and \
         the files it began are in no commit; free space and start the query again: the epoch \
         runs again with the same input"
    )]
    DiskFull {
        /// The location written to.
        location: String,
        /// The storage error, as the system said it.
        message: String,
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
    /// A value a row cannot produce, as Spark's ANSI mode raises it: an overflow, a division by
    /// zero, text a cast cannot read, an index out of an array. `condition` is Spark's error
    /// condition (`ARITHMETIC_OVERFLOW`, `DIVIDE_BY_ZERO`, `REMAINDER_BY_ZERO`,
    /// `CAST_INVALID_INPUT`, `CAST_OVERFLOW`, `INVALID_ARRAY_INDEX`, ...).
    #[error("[{condition}] {message}")]
    Runtime {
        /// Spark's error condition.
        condition: &'static str,
        /// The value or operation, and how to avoid the error.
        message: String,
    },
    /// A bug.
    #[error("internal error (please report): {0}")]
    Internal(String),
    /// User code called by the engine (a foreachBatch function, a Python UDF) failed.
    #[error("{what} raised an error: {message}")]
    UserCode {
        /// Which user code, e.g. `the foreachBatch function`.
        what: String,
        /// The error as the user's language reported it (a Python traceback).
        message: String,
    },
}

impl TributaryError {
    /// Who has to act on this error.
    pub fn domain(&self) -> ErrorDomain {
        match self {
            TributaryError::Storage { .. } | TributaryError::DiskFull { .. } => {
                ErrorDomain::External
            }
            TributaryError::Internal(_) => ErrorDomain::Internal,
            TributaryError::DataFusion { source, .. } if df_is_transient(source) => {
                ErrorDomain::External
            }
            TributaryError::Arrow { source, .. } if arrow_is_transient(source) => {
                ErrorDomain::External
            }
            TributaryError::Delta { source, .. }
                if matches!(
                    **source,
                    deltalake::DeltaTableError::ObjectStore { .. }
                        | deltalake::DeltaTableError::Io { .. }
                ) =>
            {
                ErrorDomain::External
            }
            _ => ErrorDomain::User,
        }
    }

    /// A [`TributaryError::Runtime`] with where it happened after its message (the condition
    /// stays in front, where Spark has it); any other error as it is.
    fn within(self, context: &str) -> Self {
        match self {
            TributaryError::Runtime { condition, message } if !context.is_empty() => {
                TributaryError::Runtime {
                    condition,
                    message: format!("{message} ({context})"),
                }
            }
            other => other,
        }
    }

    pub(crate) fn df(
        context: impl Into<String>,
    ) -> impl FnOnce(datafusion::error::DataFusionError) -> Self {
        let context = context.into();
        move |source| match crate::functions::arithmetic_error(&source) {
            Some(runtime) => runtime.within(&context),
            None => TributaryError::DataFusion {
                context,
                source: Box::new(source),
            },
        }
    }

    pub(crate) fn arrow(
        context: impl Into<String>,
    ) -> impl FnOnce(arrow::error::ArrowError) -> Self {
        let context = context.into();
        move |source| match crate::functions::arrow_arithmetic_error(&source) {
            Some(runtime) => runtime.within(&context),
            None => TributaryError::Arrow { context, source },
        }
    }

    pub(crate) fn delta(
        table: impl Into<String>,
    ) -> impl FnOnce(deltalake::DeltaTableError) -> Self {
        let table = table.into();
        move |source| {
            let text = source.to_string();
            match disk_full(&text) {
                Some(message) => TributaryError::DiskFull {
                    location: table,
                    message,
                },
                None => TributaryError::Delta {
                    table,
                    source: Box::new(source),
                },
            }
        }
    }

    /// A store error at `location` (a full disk named as such).
    pub(crate) fn storage(location: impl Into<String>) -> impl FnOnce(object_store::Error) -> Self {
        let location = location.into();
        move |e| Self::at(location, e.to_string())
    }

    /// An I/O error at `location` (a full disk named as such).
    pub(crate) fn io(location: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let location = location.into();
        move |e| Self::at(location, e.to_string())
    }

    /// A storage failure at `location`: [`TributaryError::DiskFull`] when the message says the
    /// disk is full, else [`TributaryError::Storage`].
    fn at(location: String, message: String) -> Self {
        match disk_full(&message) {
            Some(message) => TributaryError::DiskFull { location, message },
            None => TributaryError::Storage { location, message },
        }
    }

    pub(crate) fn option(option: &str, message: impl Into<String>) -> Self {
        TributaryError::Option {
            option: option.to_string(),
            message: message.into(),
        }
    }
}

/// The system's words when an error's text says the disk or quota is full (ENOSPC, EDQUOT),
/// however deep in a chain of wrapping errors (deltalake reports it as "Failed to parse
/// parquet: ... No space left on device").
fn disk_full(text: &str) -> Option<String> {
    ["No space left on device", "Disk quota exceeded"]
        .iter()
        .find(|m| text.contains(*m))
        .map(|m| m.to_string())
}

/// Whether a DataFusion error comes from storage (an object store or the file system).
fn df_is_transient(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as D;
    match e {
        D::ObjectStore(_) | D::IoError(_) => true,
        D::ArrowError(a, _) => arrow_is_transient(a),
        D::Context(_, inner) => df_is_transient(inner),
        D::Shared(inner) => df_is_transient(inner),
        D::External(b) => {
            b.downcast_ref::<object_store::Error>().is_some()
                || b.downcast_ref::<std::io::Error>().is_some()
                || b.downcast_ref::<TributaryError>()
                    .is_some_and(|t| t.domain() == ErrorDomain::External)
        }
        _ => false,
    }
}

fn arrow_is_transient(e: &arrow::error::ArrowError) -> bool {
    match e {
        arrow::error::ArrowError::IoError(..) => true,
        arrow::error::ArrowError::ExternalError(b) => {
            b.downcast_ref::<object_store::Error>().is_some()
                || b.downcast_ref::<std::io::Error>().is_some()
        }
        _ => false,
    }
}

/// Carry a Tributary error through DataFusion (e.g. out of a table scan), and back.
pub(crate) fn to_df_error(e: TributaryError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}

/// Unwrap a Tributary error that travelled through DataFusion: the error itself, with its
/// class (a storage error stays retryable, a bad record stays a bad record). Any other
/// DataFusion error is wrapped with `context`.
pub(crate) fn from_df_error(
    context: &str,
    e: datafusion::error::DataFusionError,
) -> TributaryError {
    match take_tributary(e) {
        Ok(t) => t,
        Err(e) => match crate::functions::arithmetic_error(&e) {
            Some(t) => t.within(context),
            None => TributaryError::DataFusion {
                context: context.to_string(),
                source: Box::new(e),
            },
        },
    }
}

/// The Tributary error inside a DataFusion error (through `Context` and `Shared` wrappers).
fn take_tributary(
    e: datafusion::error::DataFusionError,
) -> std::result::Result<TributaryError, datafusion::error::DataFusionError> {
    use datafusion::error::DataFusionError as D;
    match e {
        D::External(b) => b
            .downcast::<TributaryError>()
            .map(|t| *t)
            .map_err(D::External),
        D::Context(c, inner) => take_tributary(*inner).map_err(|i| D::Context(c, Box::new(i))),
        D::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
            Ok(inner) => take_tributary(inner).map_err(|i| D::Shared(std::sync::Arc::new(i))),
            Err(shared) => match find_tributary(&shared) {
                Some(t) => Ok(t.same_class()),
                None => Err(D::Shared(shared)),
            },
        },
        other => Err(other),
    }
}

fn find_tributary(e: &datafusion::error::DataFusionError) -> Option<&TributaryError> {
    use datafusion::error::DataFusionError as D;
    match e {
        D::External(b) => b.downcast_ref::<TributaryError>(),
        D::Context(_, inner) => find_tributary(inner),
        D::Shared(inner) => find_tributary(inner),
        _ => None,
    }
}

impl TributaryError {
    /// An error of the same class and message (for an error shared by several readers, which
    /// cannot be moved out).
    fn same_class(&self) -> TributaryError {
        use TributaryError as T;
        match self {
            T::Plan(m) => T::Plan(m.clone()),
            T::UnsupportedOperation {
                operator,
                advice,
                node,
            } => T::UnsupportedOperation {
                operator: operator.clone(),
                advice: advice.clone(),
                node: node.clone(),
            },
            T::Option { option, message } => T::Option {
                option: option.clone(),
                message: message.clone(),
            },
            T::BadRecord { location, reason } => T::BadRecord {
                location: location.clone(),
                reason: reason.clone(),
            },
            T::SchemaMismatch { sink, details } => T::SchemaMismatch {
                sink: sink.clone(),
                details: details.clone(),
            },
            T::Storage { location, message } => T::Storage {
                location: location.clone(),
                message: message.clone(),
            },
            T::QueryFailed { query, message } => T::QueryFailed {
                query: query.clone(),
                message: message.clone(),
            },
            T::State { location, message } => T::State {
                location: location.clone(),
                message: message.clone(),
            },
            T::Runtime { condition, message } => T::Runtime {
                condition,
                message: message.clone(),
            },
            T::Internal(m) => T::Internal(m.clone()),
            other if other.domain() == ErrorDomain::External => T::Storage {
                location: String::new(),
                message: other.to_string(),
            },
            other => T::Plan(other.to_string()),
        }
    }
}

/// Lets user functions over DataFrames use `?` on DataFusion calls.
impl From<datafusion::error::DataFusionError> for TributaryError {
    fn from(source: datafusion::error::DataFusionError) -> Self {
        match crate::functions::arithmetic_error(&source) {
            Some(runtime) => runtime,
            None => from_df_error("DataFusion", source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::error::DataFusionError as D;

    fn storage() -> TributaryError {
        TributaryError::Storage {
            location: "s3://bucket/events".into(),
            message: "connection reset".into(),
        }
    }

    #[test]
    fn an_error_raised_inside_a_scan_keeps_its_class() {
        let wrapped = D::Context("scanning".into(), Box::new(to_df_error(storage())));
        let e = from_df_error("running epoch 3", wrapped);
        assert!(matches!(e, TributaryError::Storage { .. }), "{e:?}");
        assert_eq!(e.domain(), ErrorDomain::External);
        // Shared by several partitions of a plan: the class is kept by copy.
        let shared = std::sync::Arc::new(to_df_error(storage()));
        let _other_reader = shared.clone();
        let e = from_df_error("running", D::Shared(shared));
        assert!(matches!(e, TributaryError::Storage { .. }), "{e:?}");
        let bad = to_df_error(TributaryError::BadRecord {
            location: "f.json:3".into(),
            reason: "not JSON".into(),
        });
        let e = from_df_error("running", D::Context("x".into(), Box::new(bad)));
        assert!(matches!(e, TributaryError::BadRecord { .. }), "{e:?}");
        assert_eq!(e.domain(), ErrorDomain::User);
    }

    #[test]
    fn storage_failures_reported_by_datafusion_or_arrow_are_transient() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let e = from_df_error("reading", D::IoError(io()));
        assert_eq!(e.domain(), ErrorDomain::External);
        let e = from_df_error("reading", D::External(Box::new(io())));
        assert_eq!(e.domain(), ErrorDomain::External);
        let e = from_df_error(
            "reading",
            D::ArrowError(
                Box::new(arrow::error::ArrowError::IoError("eof".into(), io())),
                None,
            ),
        );
        assert_eq!(e.domain(), ErrorDomain::External);
        let e = from_df_error("planning", D::Plan("no column x".into()));
        assert_eq!(e.domain(), ErrorDomain::User);
    }
}
