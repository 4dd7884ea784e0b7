"""CPU seconds per test (issue 21): where the suite's CPU goes, not its wall time.

Off by default.  ``SOCKLAB_CPU_TABLE=cpu.tsv pytest ...`` turns it on (tests/conftest.py
registers it): each test's CPU (user + system of the process running it, its own
threads and the programs it started and reaped: ``getrusage`` SELF + CHILDREN) is
measured from its set-up to its teardown, in whichever xdist worker runs it, and the
controller writes one tab-separated row a test (cpu, wall, test id), most CPU first,
then the same summed per file, then each process's CPU outside the tests (start-up,
collection): ``head -30 cpu.tsv`` names the costliest tests.

A thread a test leaves running charges its CPU to whichever test its process runs
next: a busy leftover shows as a neighbour's cost (compare a test run alone).
"""

from __future__ import annotations

import os
import resource
import time
from collections import defaultdict
from pathlib import Path

import pytest

#: The environment variable that turns the table on; its value is where it is written.
ENV = "SOCKLAB_CPU_TABLE"


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class CpuTable:
    """The plugin: measures in whichever process runs a test, tabulates in the one
    that reports (the controller under xdist, the only process without it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._start: dict[str, tuple[float, float]] = {}
        self._in_tests = 0.0
        self.rows: list[tuple[float, float, str]] = []
        self.outside: dict[str, float] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._start[item.nodeid] = (cpu_seconds(), time.perf_counter())

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        outcome = yield
        if call.when != "teardown" or item.nodeid not in self._start:
            return
        cpu0, wall0 = self._start.pop(item.nodeid)
        cpu = cpu_seconds() - cpu0
        self._in_tests += cpu
        report = outcome.get_result()
        report.user_properties.append(("cpu_s", (cpu, time.perf_counter() - wall0)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == "cpu_s" and report.when == "teardown":
                cpu, wall = value
                self.rows.append((float(cpu), float(wall), report.nodeid))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        output = getattr(session.config, "workeroutput", None)
        if output is not None:  # an xdist worker: tell the controller its own overhead
            output["cpu_outside_tests"] = cpu_seconds() - self._in_tests
            return
        if self.outside:  # the controller: its workers' CPU is in its RUSAGE_CHILDREN
            own = resource.getrusage(resource.RUSAGE_SELF)
            self.outside["controller"] = own.ru_utime + own.ru_stime
        else:
            self.outside["pytest"] = cpu_seconds() - self._in_tests
        self._write()

    def pytest_testnodedown(self, node, error) -> None:  # xdist's hook, controller side
        out = getattr(node, "workeroutput", {}) or {}
        if "cpu_outside_tests" in out:
            self.outside[str(out.get("workerid", node.gateway.id))] = out["cpu_outside_tests"]

    def _write(self) -> None:
        rows = sorted(self.rows, reverse=True)
        files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        for cpu, wall, nodeid in rows:
            total = files[nodeid.split("::")[0]]
            total[0] += cpu
            total[1] += wall
            total[2] += 1
        lines = ["# cpu_s\twall_s\ttest"]
        lines += [f"{cpu:.2f}\t{wall:.2f}\t{nodeid}" for cpu, wall, nodeid in rows]
        lines.append("# cpu_s\twall_s\tfile (tests)")
        for name, (cpu, wall, count) in sorted(files.items(), key=lambda kv: -kv[1][0]):
            lines.append(f"{cpu:.2f}\t{wall:.2f}\t{name} ({count})")
        lines.append("# cpu_s\t\tprocess, outside its tests (start-up, collection)")
        lines += [f"{cpu:.2f}\t\t{name}" for name, cpu in sorted(self.outside.items())]
        in_tests = sum(r[0] for r in rows)
        lines.append(f"# {len(rows)} tests, {in_tests:.1f} CPU s in tests, "
                     f"{sum(self.outside.values()):.1f} outside")
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def register(config: pytest.Config) -> None:
    """Turn the table on where the environment asks for it."""
    where = os.environ.get(ENV)
    if where:
        path = Path(where)
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        config.pluginmanager.register(CpuTable(path), "socklab_cputime")
