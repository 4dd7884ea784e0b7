"""One figure of the benchmark, and the table that shows them all."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Figure:
    """A measured figure: socklab's value, the baseline's, and the target ratio.

    ``higher_is_better`` says which way the ratio must go: a rate must reach at
    least ``target`` times the baseline (``ratio >= target``); a time or a
    delay must stay at most ``target`` (``ratio <= target``).  A figure with
    no baseline (``baseline is None``) is compared with ``target`` directly.
    """

    name: str
    value: float
    baseline: float | None
    unit: str
    target: float
    higher_is_better: bool
    notes: list[str] = field(default_factory=list)
    ok: bool = True  # False when a correctness check behind the figure failed
    #: What the figure is for, in words; printed beside its target of record.
    goal: str = ""

    @property
    def ratio(self) -> float:
        if self.baseline is None:
            return self.value
        return self.value / self.baseline if self.baseline else float("inf")

    @property
    def passed(self) -> bool:
        if not self.ok:
            return False
        if self.higher_is_better:
            return self.ratio >= self.target
        return self.ratio <= self.target

    def target_text(self) -> str:
        sign = "≥" if self.higher_is_better else "≤"
        what = "" if self.baseline is not None else f" {self.unit}"
        return f"{sign} {_number(self.target)}{what}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    """The benchmark's table, as plain text (one row per figure, then notes)."""
    header = ("figure", "socklab", "baseline", "ratio", "target", "result")
    rows = [header]
    for f in figures:
        rows.append((
            f.name,
            f"{_number(f.value)} {f.unit}",
            "—" if f.baseline is None else f"{_number(f.baseline)} {f.unit}",
            "—" if f.baseline is None else f"{f.ratio:.2f}",
            f.target_text(),
            "PASS" if f.passed else "FAIL",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    goals = [f"  {f.name}: {f.goal}; target of record {f.target_text()}"
             for f in figures if f.goal]
    if goals:
        lines += ["", "goals and targets of record:", *goals]
    notes = [f"  {f.name}: {note}" for f in figures for note in f.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)
