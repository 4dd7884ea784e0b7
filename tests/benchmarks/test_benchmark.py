"""The benchmark as a pytest run: ``pytest -m benchmark -s tests/benchmarks``.

Deselected by default (pyproject's addopts).  Each figure is its own test, so
one that misses its target says which; the documented command is
``python -m tests.benchmarks``, which prints the whole table.
"""

from __future__ import annotations

import pytest

from .report import table
from .run import FIGURES

pytestmark = pytest.mark.benchmark


@pytest.mark.parametrize("number", sorted(FIGURES))
def test_figure_meets_its_target(number: int) -> None:
    figures = FIGURES[number](False)
    print("\n" + table(figures))
    failed = [f.name for f in figures if not f.passed]
    assert not failed, f"below target: {failed}"
