"""The wire: the lab's TCP segments on loopback, under the calls that caused them.

`watch_packets` starts a `Capture` (an AF_PACKET socket on ``lo``; needs
CAP_NET_RAW) or, without the privilege, falls back to what the kernel's
TCP_INFO counters prove (`Inferred`), whose ``reason`` is the one line saying
what is missing and how to get it.  UI-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import Lab
    from .capture import Capture
    from .inferred import Inferred
    from .sniffer import NoCapture, how_to_capture

#: Loaded when first asked for (PEP 562): a command without ``--packets``, or
#: one that only formats packet rows (socklab.capture.text), does not import
#: the capture's machinery (its ring, its flows, the hosts' namespaces) at start.
_LAZY = {"Capture": "capture", "Inferred": "inferred", "NoCapture": "sniffer",
         "how_to_capture": "sniffer"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["Capture", "Inferred", "NoCapture", "how_to_capture", "watch_packets",
           "watching"]


def watch_packets(lab: Lab, ports: Iterable[int] = ()) -> Capture | Inferred:
    """Capture the lab's segments, or infer them from counters where capture is not
    allowed.  ``ports``: ports the lab will connect to (see `Capture`)."""
    from .capture import Capture
    from .inferred import Inferred
    from .sniffer import NoCapture
    try:
        return Capture(lab, ports)
    except NoCapture as exc:
        return Inferred(lab, str(exc))


@contextmanager
def watching(lab: Lab, on: bool, say: Callable[[str], None],
             ports: Iterable[int] = ()) -> Iterator[Capture | Inferred | None]:
    """``--packets``: segments shown while the block runs (and its closes: enter
    this before the block that closes the lab).  ``say`` gets the one line on
    why capture is not possible, and any segments the kernel dropped."""
    if not on:
        yield None
        return
    watcher = watch_packets(lab, ports)
    if not watcher.captured:
        say(watcher.reason)
    try:
        yield watcher
    finally:
        watcher.stop()
        if watcher.dropped:
            say(f"{watcher.dropped} segment(s) not captured: the capture buffer was full")
