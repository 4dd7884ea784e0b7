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
  ``socklab-<pid>-…`` namespace whose process is gone (`remove_stale`).  A live
  run is known by its command line, or by the note it left in `RUNS_DIR` (a test
  worker's command line does not say socklab: without the note, two workers'
  starts removed each other's live hosts).
Deleting a namespace also deletes the cable's end inside it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import threading
from pathlib import Path
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


#: Each run that makes hosts leaves a file here named by its pid, holding its start
#: time: a run whose command line does not say socklab (a test worker, a script) is
#: still known for a live one by every other run's `remove_stale`.
RUNS_DIR = Path("/run/socklab-hosts")


def note_run() -> None:
    """Leave (or renew) this run's note, whole at every instant: written aside, then
    renamed over the old one.  Written in place, the note was empty for a moment at
    each hosts' start, and another run's `remove_stale` reading it then took this
    live run for a dead one and removed the note, then its hosts (seen: a test
    worker's reliability demo's host A removed by ``socklab cleanup``)."""
    pid = os.getpid()
    with contextlib.suppress(OSError):
        RUNS_DIR.mkdir(mode=0o700, exist_ok=True)
        draft = RUNS_DIR / f".{pid}-{threading.get_ident()}"  # not a note: no digits only
        draft.write_text(str(_started(pid)))
        os.replace(draft, RUNS_DIR / str(pid))


def _noted_run(pid: int) -> bool:
    """``pid`` is a run that made hosts (its note's start time is this process's)."""
    try:
        return (RUNS_DIR / str(pid)).read_text() == str(_started(pid))
    except OSError:
        return False


def register(hosts: TwoHosts) -> None:
    """``hosts`` is coming up: remove its namespaces at exit if nothing else does."""
    global _atexit_done
    note_run()
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
    (RUNS_DIR / str(os.getpid())).unlink(missing_ok=True)


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


def _started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def owner_alive(name: str) -> bool:
    """The run that made namespace ``name`` is still going: the pid field of its
    name, exactly (``socklab-0123-…`` or pid 0 is no run of ours), is a live
    socklab process (a shell or init with that number is not) that started
    before the namespace did (not a later process given the same number)."""
    match = NAME.match(name)
    if match is None:
        return False
    field = match.group(1)
    if field != str(int(field)) or not 0 < int(field) < 2**22 or not _alive(int(field)):
        return False
    with contextlib.suppress(OSError):  # a live process that is no socklab run
        if b"socklab" not in Path(f"/proc/{field}/cmdline").read_bytes() \
                and not _noted_run(int(field)):
            return False
    started = _started(int(field))
    try:
        made = (NETNS_DIR / name).lstat().st_mtime
    except OSError:
        return True  # cannot tell: keep it, as a live run's
    return started is None or started <= made + 2.0  # start times are in clock ticks


def remove_stale() -> list[str]:
    """Remove the namespaces of socklab runs that are gone (killed): their names."""
    with contextlib.suppress(OSError):
        for note in RUNS_DIR.iterdir():
            if note.name.isdigit() and not _noted_run(int(note.name)):
                note.unlink(missing_ok=True)
    return [name for name in socklab_namespaces()
            if not owner_alive(name) and delete_namespace(name)]


def in_use() -> list[str]:
    """socklab namespaces whose run is still going (left alone by cleanup)."""
    return [name for name in socklab_namespaces() if owner_alive(name)]


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
