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

import inspect

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


def _source(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    try:
        return inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        return ""


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
