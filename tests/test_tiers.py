"""The tiers (tests/tiers.py) as a reader runs them: ``pytest -m engine`` is the
engine's tests, not the benchmark (which is in no default run: only named)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import LIMIT

pytestmark = pytest.mark.system

TESTS = Path(__file__).resolve().parent


def _collected(*options: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-n", "0", *options, str(TESTS / "benchmarks"), str(TESTS / "test_fast_path.py")],
        capture_output=True, text=True, timeout=20 * LIMIT, cwd=TESTS.parent)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_a_tier_leaves_the_benchmark_out_unless_it_is_named() -> None:
    engine = _collected("-m", "engine")
    assert any("test_fast_path.py::" in line for line in engine), engine
    assert not any("benchmarks/" in line for line in engine), engine
    named = _collected("-m", "benchmark")
    assert named and all("benchmarks/" in line for line in named), named
