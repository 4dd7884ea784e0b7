"""The cable itself: a TUN device in each host and a relay that carries IP packets.

This kernel has no ``netem`` (and many containers have none), so the cable's
conditions are applied here, in socklab: host A and host B each get a TUN
device (``open_tun``, opened by a thread that entered the host's namespace),
and `Relay` — one thread with a selector — reads each IP packet one host's
kernel sends into its TUN and writes it into the other's, after the
`Conditions` say whether (loss), when (delay, jitter, reordering, the rate's
queue) and how many times (duplication).  A perfect cable is the same relay
with every condition at zero: one mechanism, whatever the cable.

Bounded: at most `MAX_QUEUED` packets wait in the relay (more are dropped, as a
full router queue drops them, and counted), at most `BATCH` are read per
turn, and `stop` ends the thread and closes every descriptor.  The random
choices come from a seeded generator, so a test with the same seed and the
same packets sees the same losses.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import itertools
import os
import random
import selectors
import struct
import threading
import time
from dataclasses import dataclass

from .cable import PERFECT, Conditions

#: From <linux/if_tun.h>.
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
TUN_PATH = "/dev/net/tun"
#: Largest packet read from a TUN (its MTU is 1500; room to spare).
READ_SIZE = 65536
#: Packets read from one TUN per turn before the other gets its turn.
BATCH = 64
#: Packets waiting in the relay at most (delayed or queued behind the rate).
MAX_QUEUED = 4096
#: How long a reordered packet is held back (s): the packets sent right after it
#: overtake it.
REORDER_HOLD = 0.010
#: The longest the relay sleeps with nothing due (s): how soon `stop` is seen at worst.
IDLE = 0.2
#: The default seed: the same packets meet the same fate every run.
SEED = 26


def open_tun(name: str) -> int:
    """A TUN device named ``name`` in the calling thread's namespace: its descriptor
    (non-blocking, close-on-exec).  IP packets without a header of tun's own
    (IFF_NO_PI); the device goes away when the descriptor is closed."""
    fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    # The cable carries the lab's IPv4 only: no IPv6 chatter of the kernel's own
    # (router solicitations, MLD) among the packets the relay counts.
    with contextlib.suppress(OSError), open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6",
                                            "w") as knob:
        knob.write("1")
    return fd


@dataclass
class Direction:
    """One way along the cable: where its packets go, and what befell them."""

    name: str
    out_fd: int
    carried: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    #: Dropped because the relay's queue was full (a slow rate's backlog).
    overflowed: int = 0
    #: The rate's clock: when the cable finishes sending what is already queued.
    busy_until: float = 0.0

    def counts(self) -> dict[str, int]:
        return {"carried": self.carried, "lost": self.lost, "duplicated": self.duplicated,
                "reordered": self.reordered, "overflowed": self.overflowed}


class Relay:
    """Carries packets between two TUN descriptors under `Conditions`; `stop` ends it.

    ``fd_a`` / ``fd_b``: host A's and host B's TUN.  The relay owns them from
    here on and closes them on `stop`.
    """

    def __init__(self, fd_a: int, fd_b: int, conditions: Conditions = PERFECT,
                 seed: int = SEED) -> None:
        self.conditions = conditions
        self._rng = random.Random(seed)
        #: Read from A's TUN → written to B's ("A→B"), and the other way.
        self._ways = {fd_a: Direction("A→B", fd_b), fd_b: Direction("B→A", fd_a)}
        self._fds = (fd_a, fd_b)
        #: (when, order, direction's out fd, packet): packets waiting for their time.
        self._due: list[tuple[float, int, int, bytes]] = []
        self._order = itertools.count()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        for fd in (*self._fds, self._wake_r):
            self._selector.register(fd, selectors.EVENT_READ)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="socklab-cable", daemon=True)
        self._thread.start()

    # -- what the lab sees -------------------------------------------------------------

    def set_conditions(self, conditions: Conditions) -> None:
        """The cable changes now: packets already on it keep the fate they were given."""
        self.conditions = conditions
        self._wake()

    def counts(self) -> dict[str, dict[str, int]]:
        """Per direction (``"A→B"``, ``"B→A"``): packets carried, lost, duplicated,
        reordered, and dropped for a full queue."""
        return {way.name: way.counts() for way in self._ways.values()}

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """End the thread (packets still on the cable are lost) and close every fd."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake()
        self._thread.join(5.0)
        self._selector.close()
        for fd in (*self._fds, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: it is awake already
            os.write(self._wake_w, b"x")

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            timeout = min(IDLE, max(0.0, self._due[0][0] - now)) if self._due else IDLE
            try:
                ready = self._selector.select(timeout)
            except (OSError, ValueError):
                return
            for key, _mask in ready:
                if key.fd == self._wake_r:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                else:
                    self._read(key.fd)
            self._deliver(time.monotonic())

    def _read(self, fd: int) -> None:
        """Take up to `BATCH` packets from one TUN and give each its fate."""
        way = self._ways[fd]
        for _ in range(BATCH):
            try:
                packet = os.read(fd, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the device is going away with its host
            self._admit(way, packet, time.monotonic())

    def _admit(self, way: Direction, packet: bytes, now: float) -> None:
        """Lose it, or queue it (once or twice) for when the conditions say."""
        c, rng = self.conditions, self._rng
        if c.loss and rng.random() * 100 < c.loss:
            way.lost += 1
            return
        copies = 2 if c.duplicate and rng.random() * 100 < c.duplicate else 1
        if len(self._due) + copies > MAX_QUEUED:
            way.overflowed += 1
            return
        sent = now
        if c.rate_bps:  # a token bucket one packet deep: the cable sends one at a time
            sent = max(now, way.busy_until) + len(packet) * 8 / c.rate_bps
            way.busy_until = sent
        when = sent + c.delay_ms / 1000
        if c.jitter_ms:
            when += rng.uniform(-c.jitter_ms, c.jitter_ms) / 1000
        if c.reorder and rng.random() * 100 < c.reorder:
            when += REORDER_HOLD
            way.reordered += 1
        way.duplicated += copies - 1
        for _ in range(copies):
            heapq.heappush(self._due, (max(when, now), next(self._order), way.out_fd, packet))

    def _deliver(self, now: float) -> None:
        """Write every packet whose time has come into the other host's TUN."""
        while self._due and self._due[0][0] <= now:
            _when, _order, out_fd, packet = heapq.heappop(self._due)
            way = self._ways[self._fds[1] if out_fd == self._fds[0] else self._fds[0]]
            try:
                os.write(out_fd, packet)
                way.carried += 1
            except OSError:  # the host's queue is full, or it is going away: lost
                way.overflowed += 1
