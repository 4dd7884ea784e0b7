"""Fixtures for the whole suite: a lab, IPv6 skipping, a socket-leak check, the tiers.

- ``lab``: a fresh `socklab.engine.Lab`, closed after the test.
- ``rec``: a `helpers.Recorder` subscribed to ``lab``.
- ``@pytest.mark.requires_ipv6`` (or the ``ipv6`` fixture): skip, saying why,
  where this machine cannot bind ``("::1", 0)``.
- every test: the set of open *socket* descriptors (from /proc/self/fd) must be
  no larger after the test than before.  Only sockets are compared, so files
  that pytest or a library opens lazily never trip it.  A test that must keep a
  socket open across tests can opt out with ``@pytest.mark.keeps_sockets``.
- every test is in one tier (`tiers.tier_of`): ``unit``, ``engine``, ``ui`` or
  ``system``; ``pytest -m unit`` runs the quick ones.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cputime  # noqa: E402
import hermetic  # noqa: E402
import tiers  # noqa: E402

# First, before anything opens a socket or starts a thread: this process's own loopback.
hermetic.enter_own_network()

from helpers import IPV6_MISSING, LIMIT, Recorder, socket_fds  # noqa: E402

from socklab.engine import Lab  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    # The commands the tests start are foreground commands: Ctrl-C (SIGINT) reaches
    # them.  A suite started in the background by a script (`scripts/soak-tests &`,
    # no job control) inherits SIGINT ignored, and so would every `socklab serve` it
    # starts: its Ctrl-C tests would then wait for a stop that never comes.  A
    # handler here (not SIG_IGN) is reset to the default by exec in each child.
    # (A serve started that way on purpose is tests/test_stop.py's.)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line(
        "markers", "requires_ipv6: skip (with the reason) where ('::1', 0) cannot be bound"
    )
    config.addinivalue_line(
        "markers", "keeps_sockets: do not check this test for socket descriptor growth"
    )
    for tier, meaning in tiers.TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {meaning}")
    cputime.register(config)  # off unless SOCKLAB_CPU_TABLE names a file


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tiers.mark(item)
    if "benchmark" not in config.getoption("markexpr", ""):
        # A tier's ``-m engine`` replaces the default ``-m 'not benchmark'``: the
        # benchmark (minutes, timing the machine) runs only when named.
        benchmark = [item for item in items if item.get_closest_marker("benchmark")]
        if benchmark:
            config.hook.pytest_deselected(items=benchmark)
            items[:] = [item for item in items if item not in set(benchmark)]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers a core (``--maxprocesses`` still caps it).  The suite
    waits about half its time (programs starting, terminals, browsers, timeouts), so
    one worker a core leaves the cores idle; each worker has a loopback of its own.
    ``-m unit`` waits on nothing: one worker a core (each collects the whole suite)."""
    per_core = 1 if config.getoption("markexpr", "").strip() == "unit" else 2
    return per_core * len(os.sched_getaffinity(0))


def pytest_report_header(config: pytest.Config) -> str:
    network = ("a network namespace of its own" if hermetic.reason is None
               else f"the machine's ({hermetic.reason})")
    return (f"socklab: IPv6 loopback {'available' if IPV6_MISSING is None else 'MISSING'}; "
            f"loopback: {network}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if IPV6_MISSING is not None and item.get_closest_marker("requires_ipv6"):
        pytest.skip(f"no IPv6 loopback on this machine: {IPV6_MISSING}")


@pytest.fixture
def ipv6() -> str:
    """The IPv6 loopback address, or a skip saying why there is none."""
    if IPV6_MISSING is not None:
        pytest.skip(f"no IPv6 loopback on this machine: {IPV6_MISSING}")
    return "::1"


def _settled_sockets(before: set[int]) -> set[int]:
    """Socket fds opened since ``before`` that are still open after collection.

    Another thread may be finishing a close as the test ends, so the check is
    retried briefly (a bounded number of times) before it counts as a leak.
    """
    import threading

    grown: set[int] = set()
    settle = threading.Event()
    for _ in range(int(LIMIT / 0.05)):
        gc.collect()
        grown = socket_fds() - before
        if not grown:
            return grown
        settle.wait(0.05)
    return grown


def _collect_and_freeze() -> None:
    """Collect the garbage, then freeze what outlived the tests so far (modules,
    Textual's and Rich's caches, the collected tests) into the collector's permanent
    generation: each ``gc.collect()`` of the leak check then walks only what this test
    made, not the ~10^5 objects of the whole suite (0.1-0.3 s each, twice a test).
    Only what is alive when a test starts is frozen; whatever the test makes is
    collected (and any unclosed socket warned about) as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _no_socket_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("keeps_sockets"):
        yield
        return
    _collect_and_freeze()
    before = socket_fds()
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        grown = _settled_sockets(before)
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    if unclosed:
        pytest.fail("sockets were garbage-collected unclosed:\n" + "\n".join(unclosed))
    if grown:
        pytest.fail(f"this test left {len(grown)} socket(s) open: fds {sorted(grown)}")


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A lab with a short connect timeout, closed (every socket, every thread) after."""
    the_lab = Lab(connect_timeout=LIMIT)
    try:
        yield the_lab
    finally:
        the_lab.close_all()
        assert the_lab.open_sockets == 0


@pytest.fixture
def rec(lab: Lab) -> Recorder:
    """Every event of ``lab``, recorded."""
    recorder = Recorder()
    lab.subscribe(recorder)
    return recorder


@pytest.fixture
def busy_cores() -> Iterator[int]:
    """Two busy-loop processes loading both cores while the test runs.

    Races between the lab's threads hide on an idle machine; this is how the
    order tests make them show.  Yields how many loops run; they are killed
    (and reaped) when the test ends, whatever happened.
    """
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield len(loops)
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait(LIMIT)
