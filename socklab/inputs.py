"""Parsing and checking what a learner types: ports, hosts, backlogs, escapes.

Every parser returns a value or raises `InputError` with one clear sentence;
nothing else escapes (property-tested).  Shared by the headless commands and
the lab's input fields, so both reject the same garbage the same way.
"""

from __future__ import annotations

import ipaddress
import re
import socket

FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}
TYPES = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}
LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}
ALL_INTERFACES = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}
#: The highest port number: a port is 16 bits in the TCP and UDP headers.
MAX_PORT = 65535
#: The listen() backlog is clamped by the kernel to net.core.somaxconn.
MAX_BACKLOG = 65535
MAX_HOST_LENGTH = 253


class InputError(ValueError):
    """Bad input from the user: the message is the whole explanation."""


def family_name(family: int) -> str:
    return "AF_INET6" if family == socket.AF_INET6 else "AF_INET"


def type_name(kind: int) -> str:
    return "SOCK_DGRAM" if kind == socket.SOCK_DGRAM else "SOCK_STREAM"


def parse_family(text: str | int) -> int:
    """An address family: ``inet``/``inet6`` as typed (``AF_INET6``, ``ipv6``,
    ``6``…) or the socket module's constant itself."""
    return _constant(text, FAMILIES, "af_", {"ipv4": "inet", "4": "inet", "ipv6": "inet6",
                                            "6": "inet6"}, "family", "inet (IPv4) or inet6 (IPv6)")


def parse_type(text: str | int) -> int:
    """A socket type: ``stream``/``dgram`` as typed (``SOCK_DGRAM``, ``udp``…)
    or the socket module's constant itself."""
    return _constant(text, TYPES, "sock_", {"tcp": "stream", "udp": "dgram"},
                     "socket type", "stream (TCP) or dgram (UDP)")


def _constant(text: str | int, names: dict[str, int], prefix: str, aliases: dict[str, str],
              what: str, choices: str) -> int:
    """One of the socket module's constants, given by name (any case, with or
    without its prefix, or an alias) or as the constant itself."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text in names.values():
            return int(text)
    else:
        key = str(text).strip().lower().removeprefix(prefix)
        key = aliases.get(key, key)
        if key in names:
            return names[key]
    raise InputError(f"unknown {what} {text!r}: use {choices}")


def parse_port(text: str | int, *, allow_zero: bool = True) -> int:
    """A port number 0–65535 (0 asks the kernel to choose)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        raw = str(text).strip()
        if not raw:
            raise InputError("port is empty: give a number from 0 to 65535")
        if raw.startswith("-") and raw[1:].isascii() and raw[1:].isdigit():
            raise InputError(f"port {raw[:12]} is out of range: ports go from 0 to 65535")
        if not raw.isascii() or not raw.isdigit():
            raise InputError(
                f"port {raw!r} is not a whole number: give a number from 0 to 65535"
            )
        if len(raw) > 6:
            raise InputError(f"port {raw[:12]}… is too large: ports go from 0 to 65535")
        value = int(raw)
    if not 0 <= value <= MAX_PORT:
        raise InputError(f"port {value} is out of range: ports go from 0 to 65535")
    if value == 0 and not allow_zero:
        raise InputError("port 0 means 'any port' and cannot be connected to")
    return value


def parse_backlog(text: str | int) -> int:
    """A listen() backlog: 0 or more.  Large values are legal and clamped."""
    raw = str(text).strip()
    if not raw or not raw.lstrip("-").isascii() or not raw.lstrip("-").isdigit():
        raise InputError(f"backlog {raw!r} is not a whole number: try 5")
    if raw.startswith("-"):
        raise InputError(
            f"backlog {raw} is negative: it is the length of the accept queue, 0 or more"
        )
    if len(raw) > 10:
        raise InputError(f"backlog {raw[:12]}… is too large: the kernel caps it at somaxconn")
    return int(raw)


_HOST_CHARS = re.compile(r"^[A-Za-z0-9.:_%-]*$")
#: Hosts Python's socket module itself understands for AF_INET.
PYTHON_HOSTS = frozenset({"<broadcast>", "<any>"})


def parse_host(text: str) -> str:
    """A host as typed: a name, an IPv4 or IPv6 literal, or '' for all interfaces.

    Names are resolved later by the real call (so a name that does not resolve
    shows the real gaierror); here we only refuse what no call could use.
    """
    if "\x00" in text:
        raise InputError("host contains a NUL character")
    if text != text.strip():
        raise InputError(f"host {text!r} has spaces around it")
    if len(text) > MAX_HOST_LENGTH:
        raise InputError("host is too long (at most 253 characters)")
    if text in PYTHON_HOSTS:
        return text  # Python's own names: INADDR_BROADCAST, INADDR_ANY (AF_INET)
    if not _HOST_CHARS.match(text):
        raise InputError(
            f"host {text!r} has characters no address or name can have"
        )
    if text.startswith("[") or text.endswith("]"):
        raise InputError("write an IPv6 address without brackets, such as ::1")
    return text


def host_scope(host: str, family: int | None = None) -> str:
    """Where binding to ``host`` would listen: "loopback", "all" or "other".

    Decided on the resolved numeric address, so 127.1, 2130706433, 0x7f.1 and
    ::ffff:127.0.0.1 count as loopback, and '', 0 and :: as all interfaces.
    Names are resolved numerically only (no DNS): "localhost" is special-cased.
    """
    if host in ("", "<any>"):
        return "all"
    if "\x00" in host:
        # getaddrinfo would read only up to the NUL ("127.0.0.1\0.evil" → 127.0.0.1):
        # never call a malformed host loopback.
        return "other"
    if host.lower() in ("localhost", "localhost.", "ip6-localhost", "ip6-loopback"):
        return "loopback"
    for address in _numeric_addresses(host, family):
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_unspecified:
            return "all"
        if ip.is_loopback:
            return "loopback"
        return "other"
    return "other"


def _numeric_addresses(host: str, family: int | None) -> list[str]:
    try:
        infos = socket.getaddrinfo(
            host, None, family or socket.AF_UNSPEC, 0, 0, socket.AI_NUMERICHOST
        )
    except (socket.gaierror, UnicodeError, ValueError):
        return []
    return [str(info[4][0]) for info in infos]


def is_loopback(host: str, family: int | None = None) -> bool:
    return host_scope(host, family) == "loopback"


_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[\\nrt0abfve'\"]|.|$)", re.DOTALL)
_SIMPLE = {
    "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "0": "\0", "a": "\a", "b": "\b",
    "f": "\f", "v": "\v", "e": "\x1b", "'": "'", '"': '"',
}


def decode_escapes(text: str) -> bytes:
    """``--send`` text to bytes: ``\\r\\n``, ``\\t``, ``\\xNN``, ``\\\\`` …

    Other characters are sent as UTF-8.  An unknown or cut-off escape is an
    error rather than a guess.
    """
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        out += _encode(text[pos : match.start()])
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            out.append(int(code[1:], 16))
        elif code in _SIMPLE:
            out += _SIMPLE[code].encode()
        elif code == "":
            raise InputError("the text ends with a lone backslash: write \\\\ for a backslash")
        else:
            raise InputError(
                f"unknown escape \\{code!s}: use \\r \\n \\t \\\\ or \\xNN"
            )
        pos = match.end()
    out += _encode(text[pos:])
    return bytes(out)


def _encode(text: str) -> bytes:
    # Undecodable bytes from argv arrive as surrogate escapes: send them as the
    # original bytes; any other lone surrogate is encoded as-is.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


#: The largest recv()/recvfrom() buffer the lab offers (a datagram is at most 64 KiB).
MAX_RECV_SIZE = 1 << 20


def parse_recv_size(text: str | int) -> int:
    """recv(n)'s n: up to n bytes of the stream, or of one datagram (the rest is lost)."""
    raw = str(text).strip()
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_RECV_SIZE:
        raise InputError(f"recv size must be a whole number of bytes from 1 to {MAX_RECV_SIZE} "
                         "(the lecture uses 1024)")
    return int(raw)
