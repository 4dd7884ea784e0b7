"""Ports: range classes, service names, privileges, the ephemeral range, and a
loopback-only scan.  No textual, no rich: the CLI, the lab's port-info label
and the Ports screen all read from here.

The facts come from this machine, not from a table in the code: service names
from the system services database (``/etc/services``, parsed once, with
``socket.getservbyport`` as the fallback), the privileged-port boundary from
``ip_unprivileged_port_start`` and the ephemeral range from
``ip_local_port_range`` (Linux; the IANA range elsewhere).

How the scan works (and why it does not fool itself)
----------------------------------------------------
For each port the scan first tries to ``bind`` a fresh socket to it.  If the
bind succeeds, nothing owns the port on that address, so nothing can be
listening there: the port is *free* and no connection is needed.  Only when
the bind fails (the port is in use, or needs privileges) does it ``connect``
to see whether a listener answers.  That finds exactly what a plain
``connect_ex`` loop finds, answers "free to bind?" as well, and costs one
local syscall instead of a loopback handshake for almost every port.

Two ways a connect can "succeed" with no listener, both discarded:

* a socket connects to itself when the kernel picks the target port as its
  own ephemeral port (TCP simultaneous open): ``getsockname() == getpeername()``;
* with several scanning threads, two of our own sockets can connect to each
  other the same way; every listener found in parallel is therefore confirmed
  once more, alone, after the threads finish.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from .inputs import LOOPBACK, InputError, host_scope, parse_host

WELL_KNOWN, REGISTERED, DYNAMIC = "well-known", "registered", "dynamic"
#: IANA's classes (RFC 6335): well-known 0–1023, registered 1024–49151, dynamic 49152–65535.
CLASS_BOUNDS = {WELL_KNOWN: (0, 1023), REGISTERED: (1024, 49151), DYNAMIC: (49152, 65535)}
IANA_EPHEMERAL = (49152, 65535)
MAX_PORT = 65535

SERVICES_FILE = "/etc/services"
LOCAL_PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
CAP_NET_BIND_SERVICE = 10

# Per-port results of a scan.
LISTENING = "listening"  # connect() was accepted by a listener
QUEUE_FULL = "listening (queue full)"  # bound, SYN unanswered: a full accept queue
IN_USE = "in use"  # bound by some socket that is not listening (a client, TIME_WAIT…)
NO_PERMISSION = "needs privileges"  # nothing listens, and this process may not bind it
FREE = "free"  # bind() succeeded: nothing owns this port on this address

#: Connect timeout during a scan.  On loopback a closed port refuses at once;
#: only a listener whose accept queue is full leaves a SYN unanswered.
SCAN_CONNECT_TIMEOUT = 0.25
#: Below this many ports a scan uses one thread.
_PARALLEL_FROM = 4096

#: Names that mean this machine (resolved from /etc/hosts, never DNS).
LOCAL_NAMES = frozenset({"localhost"})


# --------------------------------------------------------------------------
# Ranges
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive range of ports, as typed: ``80``, ``1-1024`` or ``http``."""

    first: int
    last: int
    service: str | None = None  # set when the learner typed a service name

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first, self.last + 1))

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        if self.service:
            return f"{self.service} ({self.first})"
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


_NUMBER = r"\s*(\d{1,6})\s*"
_RANGE = re.compile(rf"^{_NUMBER}(?:[-–:]{_NUMBER})?$", re.ASCII)
_SERVICE = re.compile(r"^[A-Za-z][A-Za-z0-9._+/-]{0,63}$", re.ASCII)


def parse_range(text: str) -> PortRange:
    """``80``, ``1-1024`` or a service name such as ``http`` (TCP, then UDP).

    Returns a `PortRange` or raises `InputError` with one sentence; nothing
    else escapes (property-tested).
    """
    raw = str(text).strip()
    if not raw:
        raise InputError("the range is empty: give a port (80), a range (1-1024) or a name (http)")
    match = _RANGE.match(raw)
    if match:
        first = _bounded(match.group(1))
        last = _bounded(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise InputError(f"range {raw!r} runs backwards: write the smaller port first")
        return PortRange(first, last)
    if _SERVICE.match(raw):
        name = raw.lower()
        port = service_port(name)
        if port is None:
            raise InputError(
                f"{raw!r} is not a port, a range or a service name this system knows "
                "(see /etc/services): try 80, 1-1024 or http"
            )
        return PortRange(port, port, service=name)
    shown = raw if len(raw) <= 24 else raw[:24] + "…"
    raise InputError(
        f"{shown!r} is not a port, a range or a service name: try 80, 1-1024 or http"
    )


def _bounded(digits: str) -> int:
    value = int(digits)
    if value > MAX_PORT:
        raise InputError(f"port {value} is out of range: ports go from 0 to 65535")
    return value


def range_class(port: int) -> str:
    """IANA's class for a port: well-known, registered or dynamic."""
    if not 0 <= port <= MAX_PORT:
        raise InputError(f"port {port} is out of range: ports go from 0 to 65535")
    if port <= 1023:
        return WELL_KNOWN
    if port <= 49151:
        return REGISTERED
    return DYNAMIC


# --------------------------------------------------------------------------
# The services database
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    """The system's port ⇄ name table for TCP and UDP."""

    tcp: dict[int, str] = field(default_factory=dict)
    udp: dict[int, str] = field(default_factory=dict)
    #: (name or alias, protocol) → port
    by_name: dict[tuple[str, str], int] = field(default_factory=dict)
    source: str = "getservbyport"


def read_services(path: str = SERVICES_FILE) -> Services | None:
    """Parse a services(5) file; None if it cannot be read.

    The first line for a port wins, as with ``getservbyport``.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    tables: dict[str, dict[int, str]] = {"tcp": {}, "udp": {}}
    by_name: dict[tuple[str, str], int] = {}
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or "/" not in words[1]:
            continue
        number, _, proto = words[1].partition("/")
        if proto not in tables or not number.isdigit() or int(number) > MAX_PORT:
            continue
        port = int(number)
        tables[proto].setdefault(port, words[0])
        for name in words[:1] + words[2:]:
            by_name.setdefault((name.lower(), proto), port)
    return Services(tables["tcp"], tables["udp"], by_name, source=path)


@lru_cache(maxsize=1)
def services() -> Services:
    """The services table, read once (an empty table means: ask the resolver)."""
    return read_services() or Services()


def _getservbyport(port: int, proto: str) -> str | None:
    try:
        return socket.getservbyport(port, proto)
    except (OSError, OverflowError):
        return None


def service_names(port: int) -> tuple[str | None, str | None]:
    """(TCP name, UDP name) for a port, None where the system has none."""
    table = services()
    if table.source == "getservbyport":
        return _getservbyport(port, "tcp"), _getservbyport(port, "udp")
    return table.tcp.get(port), table.udp.get(port)


def service_port(name: str) -> int | None:
    """The port of a service name (TCP first, then UDP), or None."""
    table = services()
    key = name.lower()
    for proto in ("tcp", "udp"):
        port = table.by_name.get((key, proto))
        if port is not None:
            return port
    for proto in ("tcp", "udp"):
        try:
            return socket.getservbyname(key, proto)
        except (OSError, ValueError, UnicodeError):
            continue
    return None


# --------------------------------------------------------------------------
# Privileges and the ephemeral range
# --------------------------------------------------------------------------


def _read_ints(path: str) -> list[int] | None:
    try:
        with open(path, encoding="ascii") as f:
            return [int(word) for word in f.read().split()]
    except (OSError, ValueError):
        return None


@lru_cache(maxsize=1)
def unprivileged_port_start() -> int:
    """Ports below this need root or CAP_NET_BIND_SERVICE to bind (default 1024)."""
    values = _read_ints(UNPRIVILEGED_PORT_START)
    return values[0] if values else 1024


def is_privileged(port: int) -> bool:
    """Whether binding this port needs privileges.  Port 0 never does: the
    kernel picks an ephemeral port for it."""
    return 0 < port < unprivileged_port_start()


@lru_cache(maxsize=1)
def bind_privilege() -> str | None:
    """Why this process may bind privileged ports ("root",
    "CAP_NET_BIND_SERVICE"), or None if it may not."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    if caps >> CAP_NET_BIND_SERVICE & 1:
                        return "root" if os.geteuid() == 0 else "CAP_NET_BIND_SERVICE"
                    return None
    except (OSError, ValueError, IndexError):
        pass
    geteuid = getattr(os, "geteuid", None)
    return "root" if geteuid is not None and geteuid() == 0 else None


@dataclass(frozen=True, slots=True)
class EphemeralRange:
    """The ports this OS hands out for connect() and bind(port 0)."""

    first: int
    last: int
    source: str

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}–{self.last}"


@lru_cache(maxsize=1)
def ephemeral_range() -> EphemeralRange:
    """This OS's real ephemeral range (Linux: ``ip_local_port_range``,
    usually 32768–60999); IANA's 49152–65535 where it cannot be read."""
    values = _read_ints(LOCAL_PORT_RANGE)
    if values and len(values) == 2 and 0 < values[0] <= values[1] <= MAX_PORT:
        return EphemeralRange(values[0], values[1], LOCAL_PORT_RANGE)
    return EphemeralRange(*IANA_EPHEMERAL, source="IANA (RFC 6335)")


# --------------------------------------------------------------------------
# Port info
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortInfo:
    """What this machine says about one port."""

    port: int
    range_class: str
    tcp: str | None
    udp: str | None
    privileged: bool
    ephemeral: bool

    @property
    def service(self) -> str:
        """The names in one phrase: "http", "tcp ftp / udp fsp" or "no service"."""
        if self.tcp and self.udp:
            return self.tcp if self.tcp == self.udp else f"tcp {self.tcp} / udp {self.udp}"
        if self.tcp:
            return f"{self.tcp} (tcp)"
        if self.udp:
            return f"{self.udp} (udp)"
        return "no service"


def port_info(port: int) -> PortInfo:
    klass = range_class(port)
    tcp, udp = service_names(port)
    return PortInfo(port, klass, tcp, udp, is_privileged(port), port in ephemeral_range())


def port_infos(ports: Iterable[int]) -> list[PortInfo]:
    """`port_info` for many ports; fast enough for all 65,536."""
    table = services()
    ephemeral = ephemeral_range()
    start = unprivileged_port_start()
    lookup = service_names if table.source == "getservbyport" else (
        lambda p: (table.tcp.get(p), table.udp.get(p))
    )
    infos = []
    for port in ports:
        tcp, udp = lookup(port)
        infos.append(PortInfo(port, range_class(port), tcp, udp, 0 < port < start,
                              ephemeral.first <= port <= ephemeral.last))
    return infos


def probe(port: int, host: str = "127.0.0.1") -> str:
    """One port's state on this machine (loopback only): listening, in use,
    needs privileges or free.  The same test the scan makes."""
    family, address = resolve_scan_host(host)
    if port == 0:
        return FREE
    return _check(family, address, parse_port_number(port))


def parse_port_number(port: int) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= MAX_PORT:
        raise InputError(f"port {port!r} is out of range: ports go from 0 to 65535")
    return port


def describe_port(port: int, *, host: str = "127.0.0.1", check: bool = True) -> str:
    """One short line for the lab's port-info label, e.g.
    ``registered · no service · free · ephemeral 32768–60999``.

    With ``check`` it also says whether something on this machine listens
    there (a loopback probe: one bind, and a connect only if the bind fails).
    """
    port = parse_port_number(port)
    ephemeral = ephemeral_range()
    if port == 0:
        return f"port 0 · the kernel picks a free port · ephemeral {ephemeral}"
    info = port_info(port)
    parts = [info.range_class, info.service]
    if info.privileged:
        who = bind_privilege()
        parts.append(f"privileged (you may: {who})" if who else
                     "privileged: needs root or CAP_NET_BIND_SERVICE")
    if check:
        try:
            parts.append(probe(port, host))
        except (InputError, OSError):
            pass
    if info.ephemeral:
        parts.append(f"ephemeral {ephemeral}")
    return " · ".join(parts)


# --------------------------------------------------------------------------
# The lecture's common ports, corrected
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommonPort:
    port: int
    protocol: str
    name: str
    modules: str
    use: str
    note: str = ""


COMMON_PORTS: tuple[CommonPort, ...] = (
    CommonPort(20, "FTP data", "File Transfer Protocol, data channel", "ftplib",
               "file contents in active mode",
               "the lecture lists 20 for FTP; 20 is only active-mode data, control is 21"),
    CommonPort(21, "FTP", "File Transfer Protocol, control channel", "ftplib, urllib.request",
               "file transfers: commands and replies",
               "passive mode (ftplib's default) opens data connections on ports the server picks"),
    CommonPort(23, "Telnet", "Telnet", "telnetlib (removed in Python 3.13)",
               "remote command lines, unencrypted",
               "telnetlib was deprecated in 3.11 and removed in 3.13; use SSH (port 22)"),
    CommonPort(25, "SMTP", "Simple Mail Transfer Protocol", "smtplib", "sending mail"),
    CommonPort(70, "Gopher", "Gopher", "none today (gopherlib was removed in Python 2.6)",
               "menus of documents, before the Web"),
    CommonPort(80, "HTTP", "Hypertext Transfer Protocol", "http.client, urllib.request",
               "web pages",
               "the lecture's httplib, urllib, xmlrpclib are the Python 2 names "
               "of http.client, urllib.request, xmlrpc.client"),
    CommonPort(110, "POP3", "Post Office Protocol 3", "poplib", "fetching mail"),
    CommonPort(119, "NNTP", "Network News Transfer Protocol",
               "nntplib (removed in Python 3.13)", "Usenet news",
               "the lecture says 'unsent news': NNTP carries Usenet news; "
               "nntplib was removed in 3.13"),
    CommonPort(443, "HTTPS", "HTTP over TLS", "http.client, urllib.request, ssl",
               "web pages, encrypted"),
)


# --------------------------------------------------------------------------
# The loopback scan
# --------------------------------------------------------------------------


def resolve_scan_host(host: str) -> tuple[int, str]:
    """(family, numeric address) for a scan target on THIS machine only.

    Accepts 127.0.0.1, ::1 and anything that resolves to loopback (127.1,
    0x7f.1, ::ffff:127.0.0.1, localhost); refuses everything else with one
    sentence, because scanning other machines is not this lab's business.
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


def _check(family: int, address: str, port: int) -> str:
    """bind first: success proves nothing owns (or listens on) the port."""
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

    def status(self, port: int) -> str:
        return self.states.get(port, FREE)

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
        return self.scanned - len(self.states)

    def summary(self) -> str:
        return (
            f"scanned {self.scanned} port{'s' if self.scanned != 1 else ''} on {self.host} "
            f"in {self.seconds:.2f} s: {len(self.listening)} listening, "
            f"{len(self.in_use)} in use (bound, not listening), "
            f"{len(self.no_permission)} need privileges to bind, {self.free} free"
        )


def _scan_chunk(family: int, address: str, ports: Sequence[int], out: dict[int, str]) -> None:
    states: dict[int, str] = {}
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


def scan(host: str, ports: Iterable[int], *, threads: int | None = None) -> ScanResult:
    """Check each port on this machine: listening (TCP connect accepted), in
    use, needing privileges, or free to bind.  Loopback only (`InputError`
    otherwise).  Port 0 is skipped: it is not a port one can connect to."""
    family, address = resolve_scan_host(host)
    wanted = sorted({parse_port_number(p) for p in ports} - {0})
    n = threads if threads is not None else default_threads(len(wanted))
    n = max(1, min(n, len(wanted) or 1))
    states: dict[int, str] = {}
    started = time.perf_counter()
    if n == 1:
        _scan_chunk(family, address, wanted, states)
    else:
        size = -(-len(wanted) // n)
        workers = [
            threading.Thread(target=_scan_chunk, name=f"socklab-scan-{i}", daemon=True,
                             args=(family, address, wanted[i * size:(i + 1) * size], states))
            for i in range(n)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    discarded = 0
    if n > 1:
        # Our own threads' sockets occupy ports for a moment: confirm every
        # finding alone, now that they are all closed.
        for port in sorted(states):
            again = _check(family, address, port)
            if again == FREE:
                del states[port]
            else:
                if states[port] in (LISTENING, QUEUE_FULL) and again not in (LISTENING, QUEUE_FULL):
                    discarded += 1
                states[port] = again
    seconds = time.perf_counter() - started
    return ScanResult(host, family, len(wanted), seconds, states, discarded, n)


def naive_scan(host: str, ports: Iterable[int]) -> list[int]:
    """The plain sequential blocking ``connect_ex`` loop, for comparison
    (benchmarks and tests): the listening ports, self-connects discarded."""
    family, address = resolve_scan_host(host)
    found = []
    for port in ports:
        if port == 0:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as s:
            if s.connect_ex((address, port)) == 0 and not connected_to_itself(s):
                found.append(port)
    return found


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
    first = parse_port_number(start)
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
