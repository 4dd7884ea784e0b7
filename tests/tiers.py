"""The test tiers: every test is ``unit``, ``engine``, ``ui`` or ``system``.

A test is put in its tier by what it does, read from the test itself (its
fixtures, whether it is a coroutine, the names its body uses) unless it, its
class or its module is marked with a tier already:

- ``ui``: drives a Textual app (a Pilot, an async test, a snapshot);
- ``system``: starts other programs (socklab commands, tmux, tcpdump, a
  browser) or network namespaces;
- ``engine``: real sockets and threads in this process (a Lab, a session, a
  socket, a scan of the loopback's ports);
- ``unit``: everything else: pure functions and data, quick.

``pytest -m unit`` is the quick check while editing; ``pytest -m "not system"``
leaves out the other programs.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import pytest

TIERS = {
    "unit": "pure functions and data: no socket, no thread, no other program (quick)",
    "engine": "real sockets and lab threads in the test's own process",
    "ui": "a Textual app driven by a Pilot (or a snapshot of one)",
    "system": "other programs: socklab commands, tmux, tcpdump, a browser, namespaces",
}

#: Fixtures that make each tier.
_UI_FIXTURES = {"snap_compare"}
_SYSTEM_FIXTURES = {"terminal", "browser", "page"}
_ENGINE_FIXTURES = {"lab", "rec", "session", "busy_cores", "ipv6"}
#: Names in a test's body that start another program, or make a socket here.
_SYSTEM_WORDS = ("subprocess", "Popen", "run_cli", "start_cli", "run_in(", "tcpdump",
                 "as_nobody", "quiet_lo", "unshare", "tmux", "chromium", "playwright",
                 "two_hosts(", "TwoHosts(", "needs_hosts", "main([", "entry(",
                 "LabOnTerminal", "_start(", "start_server", "socklab(", "_serve_once(")
_ENGINE_WORDS = ("Lab(", "LabSession(", "socket.socket(", "socket(", "listening(",
                 "stream_pair(", "closed_port(", "create_connection", "scan", "Thread(",
                 "run_demo", "KernelView", "watch_packets", "Capture(", "serve(",
                 "connect(", "bind(", "capture_or_skip", "welcome_capture", "run_app(",
                 "SocklabApp(")


#: The folder of the tests: helpers defined here are read with the tests that call them.
_TESTS = Path(__file__).resolve().parent
#: How deep helpers calling helpers are followed.
_HELPER_DEPTH = 3


@functools.cache
def _text(function: object) -> str:
    """The source of a test, fixture or helper.  Read once: the same helpers are
    named by every test of a module, and a class's source is found by parsing its
    whole file again (Python 3.11's inspect), which made marking ~20% of collecting."""
    try:
        return inspect.getsource(function)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def _is_test_helper(value: object) -> bool:
    """A function (or class) written in the tests' folder, conftest.py apart (its
    fixtures are named in the sets above)."""
    if not (inspect.isfunction(value) or inspect.isclass(value)):
        return False
    try:
        path = Path(inspect.getfile(value)).resolve()  # type: ignore[arg-type]
    except (OSError, TypeError):
        return False
    return path.parent == _TESTS and path.name != "conftest.py"


@functools.cache
def _helpers(function: object) -> tuple[object, ...]:
    """The tests' own helpers ``function`` names (a subprocess may hide in one)."""
    code = getattr(function, "__code__", None)
    module = getattr(function, "__globals__", {})
    names = set(code.co_names) if code is not None else set()
    return tuple(module[name] for name in sorted(names)
                 if name in module and _is_test_helper(module[name]))


def _own_fixtures(item: pytest.Item) -> list[object]:
    """The functions of the fixtures ``item`` uses that its own module defines."""
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", {}) if info is not None else {}
    module = getattr(item, "module", None)
    return [fixture.func for chain in defs.values() for fixture in chain
            if module is not None and getattr(fixture.func, "__module__", None)
            == module.__name__]


def _source(item: pytest.Item) -> str:
    """The text of the test, of its module's fixtures it uses, and of the helpers
    (from the tests' folder) they call, followed a few calls deep."""
    function = getattr(item, "function", None)
    todo = ([function] if function is not None else []) + _own_fixtures(item)
    seen: list[object] = []
    for _ in range(_HELPER_DEPTH + 1):
        todo = [f for f in todo if f not in seen]
        seen.extend(todo)
        todo = [helper for f in todo for helper in _helpers(f)]
    return "\n".join(_text(f) for f in seen)


def tier_of(item: pytest.Item) -> str:
    """The tier ``item`` belongs in (its own marker first)."""
    for tier in TIERS:
        if item.get_closest_marker(tier) is not None:
            return tier
    if item.get_closest_marker("benchmark") is not None:
        return "engine"  # outside the default run, and never a quick check
    fixtures = set(getattr(item, "fixturenames", ()))
    function = getattr(item, "function", None)
    if fixtures & _UI_FIXTURES or inspect.iscoroutinefunction(function):
        return "ui"
    body = _source(item)
    if fixtures & _SYSTEM_FIXTURES or any(word in body for word in _SYSTEM_WORDS):
        return "system"
    if fixtures & _ENGINE_FIXTURES or any(word in body for word in _ENGINE_WORDS):
        return "engine"
    return "unit"


def mark(item: pytest.Item) -> None:
    """Add ``item``'s tier marker (one only)."""
    tier = tier_of(item)
    if item.get_closest_marker(tier) is None:
        item.add_marker(getattr(pytest.mark, tier))
