"""The exceptions Tributary raises, with PySpark's names (``pyspark.errors``)."""

from tributary._native import (
    AnalysisException,
    IllegalArgumentException,
    StreamingQueryException,
    TributaryException,
)


class PySparkNotImplementedError(TributaryException, NotImplementedError):
    """A PySpark call that Tributary does not support (yet); the message names the alternative."""


class PySparkTypeError(TributaryException, TypeError):
    """An argument of the wrong type."""


class PySparkValueError(TributaryException, ValueError):
    """An argument with a bad value."""


def not_supported(call: str, alternative: str) -> PySparkNotImplementedError:
    """The error for a PySpark call Tributary does not run: never a silent difference."""
    return PySparkNotImplementedError(f"{call} is not supported by Tributary: {alternative}")


__all__ = [
    "AnalysisException",
    "IllegalArgumentException",
    "StreamingQueryException",
    "TributaryException",
    "PySparkNotImplementedError",
    "PySparkTypeError",
    "PySparkValueError",
]
