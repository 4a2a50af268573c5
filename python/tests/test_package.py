"""The package itself: the job variables of `tributary submit`, the version, the error classes."""

import json
import os
import subprocess
import sys

import tributary
from tributary import errors


def test_conf_comes_from_the_launcher_environment():
    env = dict(os.environ, TRIBUTARY_CONF=json.dumps({"input": "/data/in", "n": 3}))
    out = subprocess.run(
        [sys.executable, "-c", "import tributary; print(tributary.conf['input'], tributary.conf['n'])"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert out.stdout.split() == ["/data/in", "3"]
    assert isinstance(tributary.conf, dict)


def test_the_launchers_memory_limit_reaches_every_session():
    env = dict(os.environ, TRIBUTARY_MEMORY_LIMIT="3g")
    code = "from tributary.sql import SparkSession; print(SparkSession.builder.getOrCreate().conf.get('memory_limit'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3g"


def test_version_and_error_classes():
    assert tributary.__version__
    assert issubclass(errors.AnalysisException, errors.TributaryException)
    assert issubclass(errors.StreamingQueryException, Exception)
