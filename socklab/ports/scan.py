"""The loopback-only scan, one port's probe, and "find a free port".

How the scan works (and why it does not fool itself)
----------------------------------------------------
For each port the scan first tries to ``bind`` a fresh socket to it.  If the
bind succeeds, nothing owns the port on that address, so nothing can be
listening there: the port is *free* and no connection is needed.  Only when
the bind fails (the port is in use, or needs privileges) does it ``connect``
to see whether a listener answers.  That finds exactly what a plain
``connect_ex`` loop finds, answers "free to bind?" as well, and costs one
local syscall instead of a loopback handshake for almost every port.

Most ports need not even that: one dump of the kernel's own socket table
(`occupied.occupied_ports`, what ``ss`` reads) lists every port some socket
holds, and a port nobody holds binds, so it is free.  A full scan therefore
probes only the few ports in that table (and the privileged ones, when this
process may not bind them), with the same bind-then-connect test: a listener
is still found by a real connect.  Where the table cannot be read or does not
list bound-only sockets (a kernel before 6.9), every port is probed, in two
threads for a long range.

Two ways a connect can "succeed" with no listener, both discarded:

* a socket connects to itself when the kernel picks the target port as its
  own ephemeral port (TCP simultaneous open): ``getsockname() == getpeername()``;
* with several scanning threads, two of our own sockets can connect to each
  other the same way; every listener found in parallel is therefore confirmed
  once more, alone, after the threads finish.

Two hosts (issue 14)
--------------------
In two-hosts mode the Ports tab scans from inside host A or host B (a thread
that entered its namespace; the scan's own threads are born there too, and
each checks it).  Besides loopback, such a scan may aim at the two hosts'
cable addresses, and only when the caller asks for it *and* the thread really
is inside one of socklab's hosts: the same address from this machine's own
namespace could be a real machine on a real 192.168.0.x network.  The other
host's address cannot be tried with ``bind`` (it is not this host's), so such
a port is either listening or refused: bound or free cannot be seen from here.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..hosts.cleanup import socklab_namespaces
from ..hosts.netns import MACHINE_NAMESPACE, namespace_path, thread_namespace
from ..hosts.pair import HOSTS
from ..inputs import LOOPBACK, MAX_PORT, InputError, host_scope, parse_host, parse_port
from .occupied import occupied_ports
from .system import bind_privilege, unprivileged_port_start

# Per-port results of a scan.
LISTENING = "listening"  # connect() was accepted by a listener
QUEUE_FULL = "listening (queue full)"  # bound, SYN unanswered: a full accept queue
IN_USE = "in use"  # bound by some socket that is not listening (a client, TIME_WAIT…)
NO_PERMISSION = "needs privileges"  # nothing listens, and this process may not bind it
FREE = "free"  # bind() succeeded: nothing owns this port on this address
REFUSED = "refused"  # another host's port: connect() refused, nothing listens there

#: Connect timeout during a scan.  On loopback a closed port refuses at once;
#: only a listener whose accept queue is full leaves a SYN unanswered.
SCAN_CONNECT_TIMEOUT = 0.25
#: Below this many ports a scan uses one thread.
_PARALLEL_FROM = 4096

#: Names that mean this machine (resolved from /etc/hosts, never DNS).
LOCAL_NAMES = frozenset({"localhost"})
#: The two hosts' addresses on their cable: scanned only from inside a host.
CABLE_ADDRESSES = frozenset(host.address for host in HOSTS)


def inside_a_socklab_host() -> bool:
    """True when the calling thread is inside one of the namespaces socklab made
    for its two hosts (not the process's own, not anybody else's)."""
    here = thread_namespace()
    if here == MACHINE_NAMESPACE:
        return False
    for name in socklab_namespaces():
        try:
            if namespace_path(name).stat().st_ino == here:
                return True
        except OSError:  # removed meanwhile
            continue
    return False


def resolve_scan_host(host: str, *, across_cable: bool = False) -> tuple[int, str]:
    """(family, numeric address) for a scan target on THIS machine only.

    Accepts 127.0.0.1, ::1 and anything that resolves to loopback (127.1,
    0x7f.1, ::ffff:127.0.0.1, localhost); refuses everything else with one
    sentence, because scanning other machines is not this lab's business.
    With ``across_cable`` (the Ports tab in two-hosts mode), the two hosts'
    cable addresses too, but only from a thread inside one of the hosts.
    """
    shown = host if len(host) <= 40 else host[:40] + "…"
    refusal = (
        f"refusing to scan {shown!r}: socklab scans this machine only, "
        "over loopback (127.0.0.1 or ::1)"
    )
    try:
        parse_host(host)
    except InputError as exc:
        raise InputError(f"{refusal} ({exc})") from None
    if host_scope(host) == "all":
        raise InputError(
            f"{refusal}; {shown!r} means every interface, which is not an address to connect to"
        )
    # Only numeric addresses and this machine's own names are resolved: asking
    # DNS about any other name would itself send traffic off this machine.
    flags = 0 if host.lower().rstrip(".") in LOCAL_NAMES else socket.AI_NUMERICHOST
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, flags)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        if flags:
            raise InputError(
                f"{refusal}; names other than localhost are not looked up for a scan"
            ) from None
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"{refusal}; {shown!r} does not resolve ({reason})") from None
    addresses = [(info[0], str(info[4][0]).split("%")[0]) for info in infos]
    if across_cable and addresses and all(a in CABLE_ADDRESSES for _f, a in addresses):
        if not inside_a_socklab_host():
            raise InputError(
                f"refusing to scan {shown!r} from this machine's own network: a two-hosts "
                "address is scanned only from inside host A or host B, where it cannot be "
                "a real machine on a real network")
        return int(addresses[0][0]), addresses[0][1]
    if not addresses or any(host_scope(addr) != "loopback" for _fam, addr in addresses):
        elsewhere = next((a for _f, a in addresses if host_scope(a) != "loopback"), "?")
        raise InputError(f"{refusal}; {shown!r} is {elsewhere}, not a loopback address")
    family, address = addresses[0]
    if family == socket.AF_INET6 and address.lower().startswith("::ffff:"):
        family, address = socket.AF_INET, address[7:]  # ::ffff:127.0.0.1 is 127.0.0.1
    return int(family), address


def connected_to_itself(sock: socket.socket) -> bool:
    """True when a connected socket's peer is itself: a connect into the
    ephemeral range can pick the target port as its own source port, and TCP
    simultaneous open then "connects" with no listener anywhere."""
    try:
        return bool(sock.getsockname() == sock.getpeername())
    except OSError:
        return True  # not connected after all


def _connect_finds_listener(family: int, address: str, port: int) -> str | None:
    """LISTENING, QUEUE_FULL or None (refused, or connected to ourselves)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(SCAN_CONNECT_TIMEOUT)
        code = s.connect_ex((address, port))
        if code == 0:
            return None if connected_to_itself(s) else LISTENING
        if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ETIMEDOUT):
            return QUEUE_FULL  # a SYN left unanswered on loopback: the accept queue is full
        return None


def _check(family: int, address: str, port: int, remote: bool = False) -> str:
    """bind first: success proves nothing owns (or listens on) the port.
    ``remote``: another host's address, which cannot be bound: connect only."""
    if remote:
        return _connect_finds_listener(family, address, port) or REFUSED
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
            return FREE
        except OSError as exc:
            refused = exc.errno in (errno.EACCES, errno.EPERM)
    found = _connect_finds_listener(family, address, port)
    if found is not None:
        return found
    return NO_PERMISSION if refused else IN_USE


def is_remote(family: int, address: str) -> bool:
    """True when ``address`` is not one of this host's own (bind says so): another
    host's, across the cable."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
        except OSError as exc:
            return exc.errno == errno.EADDRNOTAVAIL
    return False


def probe(port: int, host: str = "127.0.0.1", *, across_cable: bool = False) -> str:
    """One port's state on this machine (loopback only): listening, in use,
    needs privileges or free (refused, for another host's port).  The same
    test the scan makes."""
    family, address = resolve_scan_host(host, across_cable=across_cable)
    if port == 0:
        return FREE
    return _check(family, address, parse_port(port), is_remote(family, address))


@dataclass
class ScanResult:
    """Every port that is not simply free, and the totals."""

    host: str
    family: int
    scanned: int
    seconds: float
    #: port → LISTENING / QUEUE_FULL / IN_USE / NO_PERMISSION; absent ports are free
    states: dict[int, str]
    #: connects that succeeded without a listener (a socket connected to itself,
    #: or two of the scan's own sockets to each other), found and thrown away
    discarded: int = 0
    threads: int = 1
    #: another host's address (across the cable): absent ports were refused, not free
    remote: bool = False
    #: where the scan ran from, when not this machine ("host B")
    origin: str = ""

    def status(self, port: int) -> str:
        return self.states.get(port, REFUSED if self.remote else FREE)

    @property
    def listening(self) -> list[int]:
        return sorted(p for p, s in self.states.items() if s in (LISTENING, QUEUE_FULL))

    @property
    def in_use(self) -> list[int]:
        return sorted(p for p, s in self.states.items() if s == IN_USE)

    @property
    def no_permission(self) -> list[int]:
        return sorted(p for p, s in self.states.items() if s == NO_PERMISSION)

    @property
    def free(self) -> int:
        return 0 if self.remote else self.scanned - len(self.states)

    def summary(self) -> str:
        origin = f" from {self.origin}" if self.origin else ""
        head = (f"scanned {self.scanned} port{'s' if self.scanned != 1 else ''} on "
                f"{self.host}{origin} in {self.seconds:.2f} s: {len(self.listening)} listening, ")
        if self.remote:
            return (head + f"{self.scanned - len(self.states)} refused (another host's "
                    "ports: only a listener answers)")
        return (head + f"{len(self.in_use)} in use (bound, not listening), "
                f"{len(self.no_permission)} need privileges to bind, {self.free} free")


def _scan_chunk(family: int, address: str, ports: Sequence[int], out: dict[int, str],
                remote: bool = False) -> None:
    states: dict[int, str] = {}
    if remote:  # another host's ports: only a connect can tell
        for port in ports:
            found = _connect_finds_listener(family, address, port)
            if found is not None:
                states[port] = found
        out.update(states)
        return
    sock = socket.socket
    stream = socket.SOCK_STREAM
    for port in ports:
        s = sock(family, stream)
        try:
            s.bind((address, port))
            continue  # free: nothing owns it, nothing listens
        except OSError as exc:
            refused = exc.errno in (errno.EACCES, errno.EPERM)
        finally:
            s.close()
        found = _connect_finds_listener(family, address, port)
        states[port] = found if found is not None else (NO_PERMISSION if refused else IN_USE)
    out.update(states)  # one update per chunk: atomic under the GIL


def default_threads(count: int) -> int:
    """Two threads: measured fastest on 2 cores (the calls release the GIL,
    but more threads only contend for it)."""
    if count < _PARALLEL_FROM:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _scan_threads(family: int, address: str, chunks: list[Sequence[int]],
                  states: dict[int, str], remote: bool) -> None:
    """Scan the chunks in parallel threads, each checked to be in the caller's
    network namespace (a new thread shares its creator's: on a host, they are
    all on that host) before it makes a single socket."""
    home = thread_namespace()
    strays: list[str] = []

    def scan_chunk(ports: Sequence[int]) -> None:
        if thread_namespace() != home:
            strays.append(threading.current_thread().name)
            return
        _scan_chunk(family, address, ports, states, remote)

    workers = [threading.Thread(target=scan_chunk, name=f"socklab-scan-{i}", daemon=True,
                                args=(chunk,)) for i, chunk in enumerate(chunks)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if strays:
        raise OSError(f"scan stopped: {', '.join(strays)} started outside the scan's "
                      "network namespace")


def _scan_each(family: int, address: str, wanted: list[int], threads: int | None,
               remote: bool) -> tuple[dict[int, str], int, int]:
    """Probe every port (bind first, connect when bind fails), in parallel
    threads for a long range: (states, threads, connects discarded)."""
    n = threads if threads is not None else default_threads(len(wanted))
    n = max(1, min(n, len(wanted) or 1))
    states: dict[int, str] = {}
    if n == 1:
        _scan_chunk(family, address, wanted, states, remote)
        return states, 1, 0
    size = -(-len(wanted) // n)
    _scan_threads(family, address, [wanted[i * size:(i + 1) * size] for i in range(n)],
                  states, remote)
    return states, n, _confirm_alone(family, address, states, remote)


def _confirm_alone(family: int, address: str, states: dict[int, str], remote: bool) -> int:
    """Our own threads' sockets occupy ports for a moment: confirm every finding
    alone, now that they are all closed.  Returns the listeners discarded."""
    discarded = 0
    for port in sorted(states):
        again = _check(family, address, port, remote)
        if again in (FREE, REFUSED):
            del states[port]
            continue
        if states[port] in (LISTENING, QUEUE_FULL) and again not in (LISTENING, QUEUE_FULL):
            discarded += 1
        states[port] = again
    return discarded


def _scan_from_table(family: int, address: str, wanted: list[int],
                     occupied: frozenset[int]) -> dict[int, str]:
    """Probe only the ports the kernel's table shows held (a port nobody holds
    binds, so it is free), and the privileged ones when this process may not
    bind them (bind says "needs privileges" there whoever holds them)."""
    low = 0 if bind_privilege() else unprivileged_port_start()
    states: dict[int, str] = {}
    _scan_chunk(family, address, [p for p in wanted if p in occupied or p < low], states)
    return states


def scan(host: str, ports: Iterable[int], *, threads: int | None = None,
         across_cable: bool = False) -> ScanResult:
    """Check each port on this machine: listening (TCP connect accepted), in
    use, needing privileges, or free to bind.  Loopback only (`InputError`
    otherwise; ``across_cable``: see `resolve_scan_host`).  Port 0 is
    skipped: it is not a port one can connect to.

    By default only the ports the kernel's socket table shows held are probed
    (`occupied_ports`); with ``threads``, or where that table cannot be read,
    or on another host's address, every port is probed (``threads`` of them
    at a time)."""
    family, address = resolve_scan_host(host, across_cable=across_cable)
    remote = is_remote(family, address)
    wanted = sorted({parse_port(p) for p in ports} - {0})
    started = time.perf_counter()
    occupied = None if remote or threads is not None else occupied_ports(family, address)
    if occupied is not None:
        states, n, discarded = _scan_from_table(family, address, wanted, occupied), 1, 0
    else:
        states, n, discarded = _scan_each(family, address, wanted, threads, remote)
    seconds = time.perf_counter() - started
    return ScanResult(host, family, len(wanted), seconds, states, discarded, n, remote)


def find_free_port(host: str = "127.0.0.1", start: int | None = None) -> int:
    """A TCP port that is free to bind on ``host``.

    Without ``start``, the kernel chooses (bind port 0 and read it back: the
    port comes from the ephemeral range).  With ``start``, the first port from
    there upward that binds and has no listener.  Free *now*: another program
    may take it before you bind it, so bind soon.
    """
    parse_host(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if start is None:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host or LOOPBACK[family], 0))
            except OSError as exc:
                raise InputError(f"cannot bind {host!r}: {exc.strerror}") from None
            return int(s.getsockname()[1])
    first = parse_port(start)
    for port in range(max(first, 1), MAX_PORT + 1):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise InputError(f"cannot bind {host!r}: {exc.strerror}") from None
                continue
            return port
    raise InputError(f"no free port from {first} to {MAX_PORT} on {host}")
