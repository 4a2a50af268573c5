"""Tributary from Python: PySpark's Structured Streaming API on a Rust engine, with no JVM.

    from tributary.sql import SparkSession, functions as F

A PySpark program runs on Tributary when ``from pyspark.sql import ...`` becomes
``from tributary.sql import ...``. ``tributary.conf`` holds the variables a job file was given
with ``tributary submit JOB.py --set NAME=VALUE``.
"""

from __future__ import annotations

import json as _json
import os as _os

from tributary._native import __version__

__all__ = ["__version__", "conf"]


def _load_conf() -> dict[str, str]:
    raw = _os.environ.get("TRIBUTARY_CONF")
    if not raw:
        return {}
    try:
        value = _json.loads(raw)
    except ValueError as e:  # set by `tributary submit`: a bad value is a bug, say so
        raise RuntimeError(f"TRIBUTARY_CONF is not JSON: {e}") from e
    return {str(k): str(v) for k, v in value.items()}


#: The job's variables (``tributary submit JOB.py --set NAME=VALUE``), as strings.
conf: dict[str, str] = _load_conf()
