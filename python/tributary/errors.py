"""The exceptions Tributary raises, with PySpark's names (``pyspark.errors``)."""

import re
from typing import Optional

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


class ArithmeticException(TributaryException, ArithmeticError):
    """A query's arithmetic failed as Spark's ANSI mode fails it (DIVIDE_BY_ZERO,
    REMAINDER_BY_ZERO, ARITHMETIC_OVERFLOW)."""


class ArrayIndexOutOfBoundsException(TributaryException, IndexError):
    """An index out of an array (INVALID_ARRAY_INDEX, INVALID_ARRAY_INDEX_IN_ELEMENT_AT)."""


_RUNTIME_ERRORS = [
    (re.compile(r"\[(DIVIDE_BY_ZERO|REMAINDER_BY_ZERO|ARITHMETIC_OVERFLOW)\].*", re.S), ArithmeticException),
    (re.compile(r"\[INVALID_ARRAY_INDEX(_IN_ELEMENT_AT)?\].*", re.S), ArrayIndexOutOfBoundsException),
]


def spark_runtime_error(e: Exception) -> Optional[Exception]:
    """The exception PySpark raises for the engine's error `e` of a running query, if `e` is one
    that Spark raises as its own kind (ArithmeticException for DIVIDE_BY_ZERO, ...); None if not."""
    for pattern, kind in _RUNTIME_ERRORS:
        m = pattern.search(str(e))
        if m:
            return kind(m.group(0))
    return None


def not_supported(call: str, alternative: str) -> PySparkNotImplementedError:
    """The error for a PySpark call Tributary does not run: never a silent difference."""
    return PySparkNotImplementedError(f"{call} is not supported by Tributary: {alternative}")


__all__ = [
    "AnalysisException",
    "IllegalArgumentException",
    "StreamingQueryException",
    "TributaryException",
    "ArithmeticException",
    "ArrayIndexOutOfBoundsException",
    "PySparkNotImplementedError",
    "PySparkTypeError",
    "PySparkValueError",
]
