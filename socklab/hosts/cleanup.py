"""Nothing left behind: the namespaces of this run, and of runs that died.

A lab removes its namespaces on Reset and on exit (`TwoHosts.down`).  What
could still leave them behind is handled here:

* a normal exit that skipped the lab's own close (an exception, ``sys.exit``):
  an ``atexit`` hook removes every namespace still registered;
* SIGTERM / SIGHUP: `remove_on_signals` puts a handler in front of whatever
  handled them (socklab's own stop, or the default death) that removes the
  namespaces first and then lets that handler run;
* SIGKILL, which nothing can catch: the namespace names carry the pid that
  made them, so the next two-hosts start and ``socklab cleanup`` remove every
  ``socklab-<pid>-…`` namespace whose process is gone (`remove_stale`).
Deleting a namespace also deletes the cable's end inside it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from .netns import NETNS_DIR
from .tools import HostsError, ip

if TYPE_CHECKING:
    from .pair import TwoHosts

#: ``socklab-<pid>-<n>-<host letter>``: the namespaces this package makes.
NAME = re.compile(r"^socklab-(\d+)-\d+-[a-z]$")
SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_live: dict[int, TwoHosts] = {}
_live_lock = threading.Lock()
_atexit_done = False


def register(hosts: TwoHosts) -> None:
    """``hosts`` is coming up: remove its namespaces at exit if nothing else does."""
    global _atexit_done
    with _live_lock:
        _live[id(hosts)] = hosts
        if not _atexit_done:
            atexit.register(remove_live)
            _atexit_done = True


def unregister(hosts: TwoHosts) -> None:
    with _live_lock:
        _live.pop(id(hosts), None)


def remove_live() -> None:
    """Remove every namespace of this process's labs (exit, a stop signal)."""
    with _live_lock:
        names = [name for hosts in _live.values() for name in hosts.names.values()]
    for name in names:
        delete_namespace(name)


def delete_namespace(name: str) -> bool:
    """``ip netns del NAME``; False when it was not there (or could not go)."""
    if not (NETNS_DIR / name).exists():
        return False
    try:
        ip("netns", "del", name)
    except HostsError:
        return False
    return True


def socklab_namespaces() -> list[str]:
    """The namespaces with socklab's names, as ``ip netns list`` would show them."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if NAME.match(p.name))
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Remove the namespaces of socklab runs that are gone (killed): their names."""
    removed = []
    for name in socklab_namespaces():
        match = NAME.match(name)
        if match and not _alive(int(match.group(1))) and delete_namespace(name):
            removed.append(name)
    return removed


def in_use() -> list[str]:
    """socklab namespaces whose run is still going (left alone by cleanup)."""
    return [name for name in socklab_namespaces()
            if (m := NAME.match(name)) and _alive(int(m.group(1)))]


def remove_on_signals() -> None:
    """SIGTERM/SIGHUP first remove this run's namespaces, then do what they did.

    Call from the main thread (where Python runs signal handlers), once the
    other handlers (the lab's clean stop) are in place.
    """
    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        if getattr(previous, "_socklab_hosts", False):
            continue

        def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
            remove_live()
            if callable(previous):
                previous(number, frame)
            elif previous != signal.SIG_IGN:  # the default: die of this signal
                signal.signal(number, signal.SIG_DFL)
                os.kill(os.getpid(), number)

        handler._socklab_hosts = True  # type: ignore[attr-defined]
        with contextlib.suppress(ValueError):  # not the main thread: the lab's own stop
            signal.signal(signum, handler)
