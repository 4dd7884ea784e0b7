"""Real events for the log figures: what the engine reports for real calls on loopback.

The lecture's demos (calls, waits, errors with lessons) and an echo exchange
logged call by call (coalescing off, so each send and recv is its own event
with its payload) give a few hundred varied events; the figures cycle
through them, renumbered, to reach the counts they need.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from socklab.demos import DEMOS, ipv6_available
from socklab.engine import Lab
from socklab.events import Event
from socklab.modes import Service


@functools.cache
def real_events() -> tuple[Event, ...]:
    events: list[Event] = []
    for name, demo in DEMOS.items():
        if name == "ipv6" and not ipv6_available():
            continue
        with Lab() as lab:
            lab.subscribe(events.append)
            demo(lab)
    with Lab(coalesce=False) as lab:
        lab.subscribe(events.append)
        server = lab.server()
        server.socket()
        server.bind("127.0.0.1", 0)
        server.listen(5)
        service = Service(lab, server, "echo", count=1).start()
        client = lab.client()
        client.socket()
        client.connect("127.0.0.1", server.local[1])
        for i in range(100):
            client.send(f"line {i}: But soft what light through yonder window breaks\r\n".encode())
            client.recv(1024)
        client.close()
        service.wait(10)
    return tuple(events)


def events(n: int) -> list[Event]:
    """``n`` real events, cycled from the corpus and numbered 1..n in order."""
    corpus = real_events()
    return [replace(corpus[i % len(corpus)], seq=i + 1) for i in range(n)]


def event_fields(n: int) -> list[dict]:
    """Keyword arguments for ``EventBus.emit`` that reproduce ``n`` real events."""
    corpus = real_events()
    fields = []
    for event in corpus:
        d = {name: getattr(event, name) for name in Event.__slots__
             if name not in ("seq", "t", "__weakref__")}
        fields.append(d)
    return [fields[i % len(fields)] for i in range(n)]
