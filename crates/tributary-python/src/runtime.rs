//! One Tokio runtime for the process, and the one way Python waits on it: with the GIL released.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::errors::to_py;

/// The runtime every query and every blocking call of the package runs on.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("tributary")
            .build()
            .expect("the Tokio runtime of the tributary package")
    })
}

/// Run `fut` to completion with the GIL released, so other Python threads (a listener, a
/// foreachBatch function called by the running query) go on meanwhile.
pub(crate) fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = tributary::Result<T>> + Send,
    T: Send,
{
    py.detach(|| runtime().block_on(fut)).map_err(to_py)
}
