"""Fixtures of the Python package's tests: one session per test, files in a temporary folder."""

import json
from pathlib import Path

import pytest

from tributary.sql import SparkSession


@pytest.fixture
def spark():
    s = SparkSession.builder.appName("tests").getOrCreate()
    yield s
    s.stop()


def write_events(folder: Path, name: str, start: int, n: int) -> None:
    """`n` events with ids from `start`; event `i` happens `i` seconds after midnight."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": i, "user": f"u{i % 3}", "amount": float(i), "ts": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"})
        for i in range(start, start + n)
    ]
    tmp = folder / f".{name}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(folder / name)


EVENTS = "id BIGINT, user STRING, amount DOUBLE, ts TIMESTAMP"
