use thiserror::Error;

/// Errors of job files.
#[derive(Debug, Error)]
pub enum JobError {
    /// `${NAME}` without a value.
    #[error("the job file uses ${{{names}}} but no value was given: pass --set {first}=VALUE", names = .0.join("}, ${"), first = .0[0])]
    MissingVariables(Vec<String>),
    /// The SQL could not be parsed or planned.
    #[error("job file: {0}")]
    Sql(String),
    /// Something the job file says is not possible.
    #[error("job file: {0}")]
    Invalid(String),
    /// The engine failed.
    #[error(transparent)]
    Engine(Box<tributary::TributaryError>),
}

impl From<tributary::TributaryError> for JobError {
    fn from(e: tributary::TributaryError) -> Self {
        JobError::Engine(Box::new(e))
    }
}
