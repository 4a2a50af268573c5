"""The exceptions Tributary raises, with PySpark's names (``pyspark.errors``)."""

import re
from typing import Optional

from tributary._native import (
    AnalysisException,
    ArithmeticException,
    ArrayIndexOutOfBoundsException,
    IllegalArgumentException,
    NumberFormatException,
    StreamingQueryException,
    TributaryException,
)


def _condition(self: BaseException) -> Optional[str]:
    """Spark's error condition of the message (``[DIVIDE_BY_ZERO] ...`` gives ``DIVIDE_BY_ZERO``)."""
    m = re.search(r"\[([A-Z][A-Z0-9_.]*)\]", str(self))
    return m.group(1) if m else None


# PySpark's accessors of an error's condition and text, on every Tributary exception.
TributaryException.getCondition = _condition  # type: ignore[attr-defined]
TributaryException.getErrorClass = _condition  # type: ignore[attr-defined]
TributaryException.getMessage = lambda self: str(self)  # type: ignore[attr-defined]


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
    "ArithmeticException",
    "ArrayIndexOutOfBoundsException",
    "NumberFormatException",
    "IllegalArgumentException",
    "StreamingQueryException",
    "TributaryException",
    "PySparkNotImplementedError",
    "PySparkTypeError",
    "PySparkValueError",
]
