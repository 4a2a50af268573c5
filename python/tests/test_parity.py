"""Parity with PySpark itself: every program in parity/ (written for `pyspark.sql`) runs under
PySpark and, with the import swapped to `tributary.sql`, under Tributary; the rows must be the
same. Batch and streaming (availableNow) programs: the ETL and visitors examples, windows,
watermarks, joins, deduplication, foreachBatch, UDFs, aggregates and functions.

Differences by design are said in the programs: Spark refuses distinct counts on streams (the
streaming visitors program counts events), and Spark judges a JSON record malformed only by the
columns a query reads (the programs read the column that makes a record malformed).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "examples" / "etl" / "data"
PROGRAMS = sorted(p.stem for p in (HERE / "parity").glob("p*.py"))


def run_all(engine: str, tmp: Path) -> dict:
    out = tmp / f"{engine}.json"
    proc = subprocess.run(
        [sys.executable, str(HERE / "parity" / "run_all.py"), engine, str(DATA), str(tmp / engine), str(out)],
        capture_output=True, text=True, timeout=600, cwd=str(tmp),
    )
    assert proc.returncode == 0 and out.exists(), f"{engine} runner failed:\n{proc.stderr[-4000:]}"
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.fail("pyspark is not installed: run `bash scripts/python_env.sh` (it installs pyspark from PyPI)")
    assert shutil.which("java") or os.environ.get("JAVA_HOME"), "PySpark needs Java 17+: install a JDK (java on PATH)"
    tmp = tmp_path_factory.mktemp("parity")
    return run_all("pyspark", tmp), run_all("tributary", tmp)


def test_there_are_enough_programs():
    assert len(PROGRAMS) >= 10, PROGRAMS


@pytest.mark.parametrize("program", PROGRAMS)
def test_tributary_gives_pysparks_rows(results, program):
    spark, tributary = results
    for engine, r in (("pyspark", spark), ("tributary", tributary)):
        assert not isinstance(r[program], dict), f"{program} failed on {engine}:\n{r[program]['error']}"
    assert len(spark[program]) > 0, f"{program} gives no rows: it compares nothing"
    assert tributary[program] == spark[program]
