"""Two hosts on one machine: two network namespaces joined by a virtual cable.

Host A (the server's) and host B (the client's) are each a fresh network
namespace with its own loopback and one end of the cable, addressed in the
lecture's picture (192.168.0.x; the lecture's client was 192.168.0.105).  The
cable is a TUN device in each host, opened from inside it, and socklab's
relay carrying each IP packet from one to the other under the cable's
conditions (`cable_relay`; perfect until told otherwise).  Nothing — no
interface, address or route — ever appears in the machine's own namespace,
and the only route either host has is the cable's own subnet: traffic cannot
leave the two namespaces.

Namespaces are named ``socklab-<pid>-<n>-a`` / ``-b``: `ip netns list` shows
them (a learner can look inside with ``ip netns exec NAME ss -tln``), and the
pid lets a later run or ``socklab cleanup`` tell a crashed run's leftovers from
a running lab's (`socklab.hosts.cleanup`).
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..events import CLIENT, SERVER
from . import cleanup, teach
from .cable import PERFECT, Conditions
from .cable_relay import Relay, open_tun
from .netns import namespace_inode, run_in, socket_namespace
from .tools import HostsError, ip

T = TypeVar("T")

#: Every namespace (and interface) this package makes starts with this.
PREFIX = "socklab-"
SUBNET_BITS = 24


@dataclass(frozen=True)
class Host:
    """One of the two hosts: its letter, the side that lives on it, its address."""

    letter: str
    side: str
    address: str
    #: Its end of the cable (inside its own namespace).
    interface: str

    @property
    def label(self) -> str:
        return f"host {self.letter} ({self.address})"


HOST_A = Host("A", SERVER, "192.168.0.1", "socklab-a")
HOST_B = Host("B", CLIENT, "192.168.0.105", "socklab-b")
HOSTS = (HOST_A, HOST_B)
HOST_OF_SIDE = {host.side: host for host in HOSTS}

#: The bounds of TCP's retransmission timer, per namespace: a host's kernel may be
#: given its own (`TwoHosts.set_timers`).  Linux 6.11 (the minimum) and 6.15 (the
#: maximum) made them settings; an older kernel has neither file.
RTO_MIN = Path("/proc/sys/net/ipv4/tcp_rto_min_us")
RTO_MAX = Path("/proc/sys/net/ipv4/tcp_rto_max_ms")

_numbers = itertools.count(1)


class TwoHosts:
    """The two namespaces of one lab: made when first needed, removed by `down`.

    Thread-safe: sockets are asked for from the lab's threads.  `down` (Reset,
    exit) removes both namespaces; the next socket brings them up again.
    """

    def __init__(self, announce: Callable[[dict[str, str] | None], None] | None = None) -> None:
        """``announce``: told the namespaces' names once they are up, and None just
        before they are removed (outside this object's lock: a listener may wait
        for the lab's bus lock, which a kernel-view read holds while it asks for
        the hosts)."""
        self._announce = announce
        number = next(_numbers)
        self.names = {host.letter: f"{PREFIX}{os.getpid()}-{number}-{host.letter.lower()}"
                      for host in HOSTS}
        self._lock = threading.Lock()
        self._up = False
        #: The cable's conditions: kept when the hosts go and come back (Reset).
        self.conditions: Conditions = PERFECT
        self.relay: Relay | None = None
        #: The lab's TCP_INFO watch (`cable_info.TcpInfoWatch`), set by `mode.enable`.
        self.info: Any = None
        #: Kernel settings given to both hosts (a /proc/sys file → its value), kept
        #: when the hosts go and come back.
        self.settings: dict[Path, int] = {}

    @property
    def is_up(self) -> bool:
        return self._up

    def namespace(self, side: str) -> str:
        """The namespace name of the host ``side`` lives on."""
        return self.names[HOST_OF_SIDE[side].letter]

    def up(self) -> None:
        """Make both hosts and the cable, if they are not there (HostsError if they
        cannot be: no privilege, no ``ip``)."""
        with self._lock:
            if self._up:
                return
            cleanup.remove_stale()
            cleanup.register(self)
            try:
                self._make()
            except BaseException:
                self._remove()
                cleanup.unregister(self)
                raise
            self._up = True
        if self._announce is not None:
            self._announce(dict(self.names))

    def _make(self) -> None:
        fds: list[int] = []
        try:
            for host in HOSTS:
                name = self.names[host.letter]
                ip("netns", "add", name)
                # Opened from inside the host: the device is born there, never here.
                fds.append(run_in(name, lambda i=host.interface: open_tun(i)))
                ip("-n", name, "addr", "add", f"{host.address}/{SUBNET_BITS}",
                   "dev", host.interface)
                ip("-n", name, "link", "set", "lo", "up")
                ip("-n", name, "link", "set", host.interface, "up")
                run_in(name, lambda: _write_settings(self.settings))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self.relay = Relay(fds[0], fds[1], self.conditions)

    def set_cable(self, conditions: Conditions) -> None:
        """The cable's conditions from now on (and after the hosts come back)."""
        with self._lock:
            self.conditions = conditions
            if self.relay is not None:
                self.relay.set_conditions(conditions)

    def set_timers(self, rto_min_ms: int, rto_max_ms: int) -> tuple[float, int] | None:
        """Bound TCP's retransmission timer in both hosts' kernels (from now on, and
        after the hosts come back): each loss in a row doubles the wait before the
        next try, from ``rto_min_ms`` up to ``rto_max_ms`` (Linux's defaults: 200 ms
        and 120 s; 1000 is the least maximum it takes).  Returns the bounds host B's
        kernel reads back, in ms, or None where this kernel has no such settings."""
        if not (RTO_MIN.exists() and RTO_MAX.exists()):
            return None
        with self._lock:
            self.settings = {RTO_MIN: rto_min_ms * 1000, RTO_MAX: rto_max_ms}
            if self._up:
                for name in self.names.values():
                    run_in(name, lambda: _write_settings(self.settings))
        return self.run(CLIENT, lambda: (int(RTO_MIN.read_text()) / 1000,
                                         int(RTO_MAX.read_text())))

    def cable_counts(self) -> dict[str, dict[str, int]]:
        """What the cable did to the packets so far, each way (empty: hosts down)."""
        relay = self.relay
        return relay.counts() if relay is not None else {}

    def down(self) -> None:
        """Remove both namespaces (the cable goes with them).  Sockets still open
        keep their namespace alive, unnamed, until they are closed."""
        if self._up and self._announce is not None:
            self._announce(None)
        with self._lock:
            if self._up:
                self._remove()
                self._up = False
            cleanup.unregister(self)

    def _remove(self) -> None:
        if self.relay is not None:  # its TUN descriptors would keep the hosts alive
            self.relay.stop()
            self.relay = None
        for name in self.names.values():
            cleanup.delete_namespace(name)

    def run(self, side: str, job: Callable[[], T]) -> T:
        """Run ``job`` on the host ``side`` lives on (in a thread inside its namespace)."""
        self.up()
        return run_in(self.namespace(side), job)

    def run_on(self, letter: str, job: Callable[[], T]) -> T:
        """Run ``job`` on the host named ``letter`` (in a thread inside its namespace)."""
        self.up()
        return run_in(self.names[letter], job)

    def socket(self, side: str, family: int, kind: int) -> socket.socket:
        """A new socket made on ``side``'s host: it stays in that namespace for life."""
        return self.run(side, lambda: socket.socket(family, kind))

    def socket_for(self, endpoint: Any, family: int, kind: int) -> socket.socket:
        """A new socket for a lab endpoint, on the host it lives on (its side's, or
        the one it names in ``on_host``: a client placed on host A)."""
        return self.socket(host_of(endpoint).side, family, kind)

    def host_of_socket(self, sock: socket.socket) -> str | None:
        """The letter of the host ``sock`` lives in, read from the socket's own
        namespace (None: this machine's, or unknown)."""
        inode = socket_namespace(sock)
        if inode is None:
            return None
        for letter, name in self.names.items():
            if namespace_inode(name) == inode:
                return letter
        return None

    def lesson(self, endpoint: Any, op: str, args: tuple, error: str) -> str | None:
        """A failure's lesson told in hosts (connect refused at 127.0.0.1 from B…)."""
        host = host_of(endpoint)
        target = args[0][0] if args and isinstance(args[0], tuple) and args[0] else None
        other = next(h for h in HOSTS if h is not host)
        return teach.hosts_failure(error, op, target, host.letter,
                                     ("127.0.0.1", host.address), other.label)


def _write_settings(settings: dict[Path, int]) -> None:
    """Write kernel settings from a thread inside a host: /proc/sys/net is the
    namespace's own there."""
    for path, value in settings.items():
        path.write_text(f"{value}\n")


def host_of(endpoint: Any) -> Host:
    """The host a lab endpoint lives on: the one it names, else its side's."""
    letter = getattr(endpoint, "on_host", None)
    if letter is not None:
        return next(h for h in HOSTS if h.letter == letter)
    return HOST_OF_SIDE[endpoint.side]


__all__ = ["HOSTS", "HOST_A", "HOST_B", "HOST_OF_SIDE", "Host", "HostsError", "TwoHosts"]
